"""Shape and layout ops lowered to Vespa primitives: reshape, concat, gather, slice, tile, expand, pad.

Re-layouts are a join with a 0/1 selector tensor (generated from index arithmetic, or a constant for
arbitrary indices) followed by a sum over the old axis, so they work beside unbound batch axes too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from appkit.expr import ir
from appkit.importers.lower import (
    UNIT, A, B, ConversionError, constant, drop_axis_to_unit, folded, fresh_name, lam, num, normalize_axis,
    real_dims, rename_to, share, unsqueeze,
)
from appkit.importers.model import Operand
from appkit.tensor.type import CellType, Dimension, TensorType, decay, unify_cell_types


def _mul(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.BinaryOp("*", a, b)


def _add(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.BinaryOp("+", a, b)


# x joined with a 0/1 selector: if(b, a, 0) rather than a*b, so inf and nan cells stay exact (inf*0 is nan)
PICK = lam("ab", ir.If(ir.BinaryOp("!=", B, num(0)), A, num(0)))


def materialize_axis(x: Operand, axis: int, name: str | None = None) -> Operand:
    """Give a unit axis a real dimension of size 1."""
    if x.dims[axis] != UNIT:
        return x
    dims = list(x.dims)
    dims[axis] = name or fresh_name(x.dims)
    cell = x.cell_type if real_dims(x) else CellType.FLOAT
    ones = ir.Generate(TensorType([Dimension(dims[axis], 1)], cell), num(1.0))
    expr = ir.Join(x.expr, ones, lam("ab", _mul(A, B)))
    return replace(x, expr=expr, dims=tuple(dims), cell_type=cell, value=None)


def _flat(names: Sequence[str], sizes: Sequence[int]) -> ir.Expr:
    """Row-major flat index of the generate variables `names`."""
    expr: ir.Expr | None = None
    stride = 1
    for n, s in reversed(list(zip(names, sizes))):
        term: ir.Expr = ir.Ref(n) if stride == 1 else _mul(ir.Ref(n), num(stride))
        expr = term if expr is None else _add(term, expr)
        stride *= s
    return expr if expr is not None else num(0)


def _relayout(x: Operand, old_axes: Sequence[int], new_names: Sequence[str], new_sizes: Sequence[int],
              condition: ir.Expr) -> ir.Expr:
    """reduce(join(x, tensor(old, new)(condition), mul), sum, old): a 0/1 selector re-layout."""
    old_dims = [Dimension(x.dims[a], x.shape[a]) for a in old_axes]
    selector_type = TensorType(old_dims + [Dimension(n, s) for n, s in zip(new_names, new_sizes)],
                               x.cell_type if x.cell_type is not CellType.DOUBLE else CellType.DOUBLE)
    selector = ir.Generate(selector_type, condition)
    joined = ir.Join(x.expr, selector, PICK)
    return ir.Reduce(joined, "sum", tuple(x.dims[a] for a in old_axes))


# --- reshape ---------------------------------------------------------------------------------------


def resolve_shape(in_shape: Sequence[int | None], shape: Sequence[int], allow_zero_copy: bool = True) -> list[int | None]:
    """A target shape with ONNX/TF conventions resolved: 0 copies the input size, -1 is inferred."""
    out: list[int | None] = []
    for i, s in enumerate(shape):
        out.append(in_shape[i] if s == 0 and allow_zero_copy and i < len(in_shape) else int(s))
    if sum(1 for s in out if s == -1) > 1:
        raise ConversionError(f"reshape to {list(shape)}: at most one size may be -1")
    if -1 in out:
        known = [s for s in in_shape]
        if any(s is None for s in known) or any(s is None for s in out):
            if sum(1 for s in in_shape if s is None) == 1:
                return [None if s == -1 else s for s in out]
            raise ConversionError(f"reshape to {list(shape)} needs the input's sizes, but some are unknown")
        total = int(np.prod(known))
        rest = int(np.prod([s for s in out if s != -1]))
        if rest == 0 or total % rest:
            raise ConversionError(f"cannot reshape {list(in_shape)} to {list(shape)}")
        out = [total // rest if s == -1 else s for s in out]
    return out


def reshape(x: Operand, shape: Sequence[int | None]) -> Operand:
    """Row-major reshape to a fully resolved shape (one None allowed where an unbound axis carries over)."""
    if x.is_constant:
        return folded(np.asarray(x.value).reshape([-1 if s is None else s for s in shape]), x.cell_type)
    shape = list(shape)
    relabelled = _reshape_by_relabel(x, shape)
    if relabelled is not None:
        return relabelled
    if all(s is not None for s in x.shape) and all(s is not None for s in shape):
        return _reshape_by_generate(x, [int(s) for s in shape])  # type: ignore[arg-type]
    # keep the common leading axes (often an unbound batch axis); re-lay out the rest
    lead = 0
    while lead < min(x.rank, len(shape)) and x.shape[lead] == shape[lead]:
        lead += 1
    old_axes = [a for a in range(lead, x.rank)]
    if any(x.shape[a] is None for a in old_axes) or any(s is None for s in shape[lead:]):
        raise ConversionError(f"reshape of {list(x.shape)} to {shape} needs sizes that are only known at run time")
    for a in old_axes:
        x = materialize_axis(x, a) if x.dims[a] == UNIT else x
    used = set(x.dims)
    new_names: list[str] = []
    for _ in shape[lead:]:
        n = fresh_name(used)
        used.add(n)
        new_names.append(n)
    old_names = [x.dims[a] for a in old_axes]
    old_sizes = [int(x.shape[a]) for a in old_axes]  # type: ignore[arg-type]
    new_sizes = [int(s) for s in shape[lead:]]  # type: ignore[arg-type]
    cond = ir.BinaryOp("==", _flat(old_names, old_sizes), _flat(new_names, new_sizes))
    expr = _relayout(x, old_axes, new_names, new_sizes, cond)
    dims = list(x.dims[:lead]) + new_names
    out = Operand(expr, tuple(dims), tuple(list(x.shape[:lead]) + new_sizes), decay(x.cell_type))
    for i in range(lead, out.rank):  # size-1 axes of the result need not exist in Vespa
        if out.shape[i] == 1:
            out = drop_axis_to_unit(out, i)
    return out


def _reshape_by_generate(x: Operand, shape: list[int]) -> Operand:
    """tensor(new axes)(x{old axis: position of the cell's row-major index}): one gather per cell."""
    x = share(x)  # the peeked tensor is computed once, not once per generated cell
    used = set(x.dims)
    new_names: list[str] = []
    for size in shape:
        name = UNIT if size == 1 else fresh_name(used)
        used.add(name)
        new_names.append(name)
    flat = _flat([n for n in new_names if n != UNIT], [s for n, s in zip(new_names, shape) if n != UNIT])
    address: list[tuple[str, ir.Expr]] = []
    stride = 1
    for d, size in reversed(list(zip(x.dims, x.shape))):
        size = int(size)  # type: ignore[arg-type]
        if d != UNIT:
            position: ir.Expr = ir.BinaryOp("%", _floor_div(flat, stride), num(size)) if size > 1 else num(0)
            address.append((d, position))
        stride *= size
    gen_type = TensorType([Dimension(n, s) for n, s in zip(new_names, shape) if n != UNIT], x.cell_type)
    if not gen_type.dimensions:
        return replace(x, dims=tuple(UNIT for _ in shape), shape=tuple(shape))
    body = ir.Slice(x.expr, tuple(reversed(address)))
    return Operand(ir.Generate(gen_type, body), tuple(new_names), tuple(shape), x.cell_type)


def _floor_div(expr: ir.Expr, divisor: int) -> ir.Expr:
    return expr if divisor == 1 else call_floor(ir.BinaryOp("/", expr, num(divisor)))


def call_floor(expr: ir.Expr) -> ir.Expr:
    return ir.Call("floor", (expr,))


def _reshape_by_relabel(x: Operand, shape: list[int | None]) -> Operand | None:
    """When only size-1 axes are added or removed the reshape is a relabelling."""
    old = [(i, s) for i, s in enumerate(x.shape) if s != 1]
    new = [(i, s) for i, s in enumerate(shape) if s != 1]
    if [s for _, s in old] != [s for _, s in new]:
        return None
    for i, s in enumerate(x.shape):
        if s == 1:
            x = drop_axis_to_unit(x, i)
    dims = [UNIT] * len(shape)
    for (oi, _), (ni, _) in zip(old, new):
        dims[ni] = x.dims[oi]
    return replace(x, dims=tuple(dims), shape=tuple(shape))


def flatten(x: Operand, axis: int) -> Operand:
    axis = normalize_axis(axis, x.rank + 1) if axis != x.rank else axis
    def prod(sizes: Sequence[int | None]) -> int | None:
        return None if any(s is None for s in sizes) else int(np.prod(sizes))  # type: ignore[arg-type]
    return reshape(x, [prod(x.shape[:axis]), prod(x.shape[axis:])])


# --- concat ----------------------------------------------------------------------------------------


def concat(ops: Sequence[Operand], axis: int) -> Operand:
    rank = ops[0].rank
    axis = normalize_axis(axis, rank)
    if all(o.is_constant for o in ops):
        cell = ops[0].cell_type
        for o in ops[1:]:
            cell = unify_cell_types(cell, o.cell_type)
        return folded(np.concatenate([np.asarray(o.value) for o in ops], axis=axis), cell)
    ops = [o for o in ops if o.shape[axis] != 0]
    primary = next(o for o in ops if not o.is_constant)
    names = list(primary.dims)
    used = {n for n in names if n != UNIT}
    for i in range(rank):
        if names[i] == UNIT:
            real = [o.dims[i] for o in ops if o.dims[i] != UNIT]
            if i == axis or real:
                names[i] = real[0] if real and real[0] not in used else fresh_name(used | set(real))
                used.add(names[i])
    result: Operand | None = None
    total: int | None = 0
    for o in ops:
        o = rename_to(o, names)
        size = o.shape[axis]
        total = None if total is None or size is None else total + size
        if result is None:
            result = o
            continue
        cell = decay(unify_cell_types(result.cell_type, o.cell_type))
        dims = [n if (result.dims[i] != UNIT or o.dims[i] != UNIT or i == axis) else UNIT for i, n in enumerate(names)]
        expr = ir.Concat(result.expr, o.expr, names[axis])
        shape = [total if i == axis else (result.shape[i] if result.shape[i] not in (None, 1) else o.shape[i])
                 for i in range(rank)]
        result = Operand(expr, tuple(dims), tuple(shape), cell)
    assert result is not None
    return result


# --- gather, slice, tile, expand, pad --------------------------------------------------------------


def take(x: Operand, indices: Operand, axis: int) -> Operand:
    """numpy.take / ONNX Gather: the axis is replaced by the indices' axes (negative indices count back)."""
    axis = normalize_axis(axis, x.rank)
    n = x.shape[axis]
    if x.is_constant and indices.is_constant:
        idx = np.asarray(indices.value).astype(np.int64)
        return folded(np.take(np.asarray(x.value), idx, axis=axis), x.cell_type)
    if n is None:
        raise ConversionError("gather along an axis of unknown size")
    if x.dims[axis] == UNIT:
        x = materialize_axis(x, axis)
    old = x.dims[axis]
    used = set(x.dims)
    idx_names = []
    for d in indices.dims:
        if d == UNIT:
            idx_names.append(UNIT)
        else:
            name = d if d not in used else fresh_name(used | set(indices.dims))
            used.add(name)
            idx_names.append(name)
    if indices.is_constant:
        idx = np.asarray(indices.value).astype(np.int64)
        idx = np.where(idx < 0, idx + n, idx)
        onehot_value = (idx[..., None] == np.arange(n)).astype(np.float32)
        onehot = constant(onehot_value)
        onehot = rename_to(onehot, [nm if nm != UNIT else fresh_name(used) for nm in idx_names] + [old])
        onehot_expr, onehot_dims = onehot.expr, onehot.dims
    else:
        ind = rename_to(indices, idx_names)
        positive = ir.Map(ind.expr, lam("a", ir.If(ir.BinaryOp("<", A, num(0)), _add(A, num(n)), A)))
        rng = ir.Generate(TensorType([Dimension(old, n)], CellType.FLOAT), ir.Ref(old))
        onehot_expr = ir.Join(positive, rng, lam("ab", ir.BinaryOp("==", A, B)))
        onehot_dims = tuple(idx_names) + (old,)
    expr = ir.Reduce(ir.Join(x.expr, onehot_expr, PICK), "sum", (old,))
    dims = list(x.dims[:axis]) + [d for d in onehot_dims[:-1]] + list(x.dims[axis + 1:])
    shape = list(x.shape[:axis]) + list(indices.shape) + list(x.shape[axis + 1:])
    return Operand(expr, tuple(dims), tuple(shape), decay(x.cell_type))


def take_range(x: Operand, axis: int, start: int, count: int, step: int = 1) -> Operand:
    """x[..., start:start+count*step:step, ...] along one axis (a constant-parameter slice)."""
    n = x.shape[axis]
    if x.is_constant:
        idx = start + step * np.arange(count)
        return folded(np.take(np.asarray(x.value), idx, axis=axis), x.cell_type)
    if step == 1 and start == 0 and count == n:
        return x
    if count == 0 and all(s is not None for s in x.shape):
        return constant(np.zeros([0 if i == axis else int(s) for i, s in enumerate(x.shape)], dtype=np.float32))  # type: ignore[arg-type]
    if n is None:
        raise ConversionError("slicing an axis of unknown size")
    if x.dims[axis] == UNIT:
        return replace(x, shape=x.shape[:axis] + (count,) + x.shape[axis + 1:]) if count == 1 else x
    old = x.dims[axis]
    new = fresh_name(x.dims)
    cond = ir.BinaryOp("==", ir.Ref(old), _add(num(start), _mul(ir.Ref(new), num(step))))
    out = Operand(_relayout(x, [axis], [new], [count], cond),
                  x.dims[:axis] + (new,) + x.dims[axis + 1:], x.shape[:axis] + (count,) + x.shape[axis + 1:],
                  decay(x.cell_type))
    return drop_axis_to_unit(out, axis) if count == 1 else out


def slice_axes(x: Operand, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int],
               steps: Sequence[int]) -> Operand:
    """ONNX Slice / numpy basic slicing with clamped starts and ends."""
    if x.is_constant:
        index = [slice(None)] * x.rank
        for start, end, axis, step in zip(starts, ends, axes, steps):
            index[normalize_axis(axis, x.rank)] = slice(int(start), int(end), int(step))
        return folded(np.asarray(x.value)[tuple(index)], x.cell_type)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = normalize_axis(axis, x.rank)
        n = x.shape[axis]
        if n is None:
            if (start, step) == (0, 1) and end >= 2**31 - 1:
                continue
            raise ConversionError("slicing an axis of unknown size")
        idx = range(n)[slice(int(start), int(end), int(step))]
        x = take_range(x, axis, idx.start if len(idx) else 0, len(idx), idx.step)
    return x


def tile(x: Operand, repeats: Sequence[int]) -> Operand:
    if x.is_constant:
        return folded(np.tile(np.asarray(x.value), list(repeats)), x.cell_type)
    for axis, r in enumerate(repeats):
        if r == 1:
            continue
        n = x.shape[axis]
        if n is None:
            raise ConversionError("tiling an axis of unknown size")
        if x.dims[axis] == UNIT:
            x = expand_axis(x, axis, r)
            continue
        old, new = x.dims[axis], fresh_name(x.dims)
        cond = ir.BinaryOp("==", ir.Ref(old), ir.BinaryOp("%", ir.Ref(new), num(n)))
        x = Operand(_relayout(x, [axis], [new], [n * r], cond), x.dims[:axis] + (new,) + x.dims[axis + 1:],
                    x.shape[:axis] + (n * r,) + x.shape[axis + 1:], decay(x.cell_type))
    return x


def expand_axis(x: Operand, axis: int, size: int) -> Operand:
    """Broadcast a unit axis to `size` by joining with a tensor of ones."""
    name = fresh_name(x.dims)
    cell = x.cell_type if real_dims(x) else CellType.FLOAT
    ones = ir.Generate(TensorType([Dimension(name, size)], cell), num(1.0))
    dims = list(x.dims)
    dims[axis] = name
    shape = list(x.shape)
    shape[axis] = size
    return Operand(ir.Join(x.expr, ones, lam("ab", _mul(A, B))), tuple(dims), tuple(shape), decay(cell), None)


def expand(x: Operand, shape: Sequence[int]) -> Operand:
    """ONNX Expand / numpy broadcast_to (two-way broadcasting)."""
    if x.is_constant:
        target = np.broadcast_shapes(np.asarray(x.value).shape, tuple(int(s) for s in shape))
        return folded(np.broadcast_to(np.asarray(x.value), target).copy(), x.cell_type)
    rank = max(x.rank, len(shape))
    x = unsqueeze(x, list(range(rank - x.rank)))
    target = [1] * (rank - len(shape)) + [int(s) for s in shape]
    for axis in range(rank):
        if target[axis] != 1 and x.shape[axis] == 1:
            x = drop_axis_to_unit(x, axis)
            x = expand_axis(x, axis, target[axis])
    return x


def pad_indices(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each output position along a padded axis, the input position it copies (-1: the pad value)."""
    pos = np.arange(-before, n + after)
    if mode == "constant":
        return np.where((pos >= 0) & (pos < n), pos, -1)
    if mode == "edge":
        return np.clip(pos, 0, n - 1)
    if mode == "wrap":
        return np.mod(pos, n)
    if mode == "reflect":
        if n == 1:
            return np.zeros_like(pos)
        period = 2 * (n - 1)
        m = np.mod(pos, period)
        return np.where(m < n, m, period - m)
    raise ConversionError(f"pad mode '{mode}' is not supported (constant, edge, reflect, wrap are)")


def pad(x: Operand, before: Sequence[int], after: Sequence[int], value: float = 0.0, mode: str = "constant") -> Operand:
    """Padding (negative pads crop) as a re-layout through the positions each output cell copies."""
    for axis, (b, a) in enumerate(zip(before, after)):
        if b == 0 and a == 0:
            continue
        n = x.shape[axis]
        if n is None:
            raise ConversionError("padding an axis of unknown size")
        idx = pad_indices(int(n), int(b), int(a), mode)
        if idx.size == 0:
            raise ConversionError("padding that leaves no elements")
        if x.is_constant:
            arr = np.asarray(x.value)
            taken = np.take(arr, np.where(idx < 0, 0, idx), axis=axis)
            shape = [1] * arr.ndim
            shape[axis] = idx.size
            x = folded(np.where((idx < 0).reshape(shape), np.asarray(value, dtype=arr.dtype), taken), x.cell_type)
            continue
        x = _select_positions(x, axis, idx, value)
    return x


def _select_positions(x: Operand, axis: int, idx: np.ndarray, fill: float) -> Operand:
    """out[..., j, ...] = x[..., idx[j], ...], or `fill` where idx[j] < 0 (a constant 0/1 selector)."""
    x = materialize_axis(x, axis)
    n = int(x.shape[axis])  # type: ignore[arg-type]
    old, new = x.dims[axis], fresh_name(x.dims)
    selector = (idx[:, None] == np.arange(n)[None, :]).astype(np.float32)
    sel = constant(selector)
    sel = rename_to(sel, [new if idx.size > 1 else UNIT, old if n > 1 else UNIT])
    expr: ir.Expr = ir.Reduce(ir.Join(x.expr, sel.expr, PICK), "sum", (old,))
    if fill != 0 and np.any(idx < 0):
        outside = constant(np.where(idx < 0, np.float32(fill), np.float32(0)))  # not 0 * fill: fill may be inf
        outside = rename_to(outside, [new])
        expr = ir.Join(expr, outside.expr, lam("ab", _add(A, B)))
    dims = x.dims[:axis] + ((new if idx.size > 1 else UNIT),) + x.dims[axis + 1:]
    return Operand(expr, dims, x.shape[:axis] + (int(idx.size),) + x.shape[axis + 1:], decay(x.cell_type))


def split(x: Operand, axis: int, sizes: Sequence[int]) -> list[Operand]:
    axis = normalize_axis(axis, x.rank)
    out, start = [], 0
    for s in sizes:
        out.append(take_range(x, axis, start, int(s)))
        start += int(s)
    return out


__all__ = ["PICK", "concat", "expand", "flatten", "materialize_axis", "pad", "reshape", "resolve_shape",
           "slice_axes", "split", "take", "take_range", "tile"]
