"""Framework-neutral lowering: numpy-style tensor ops on `Operand`s turned into Vespa tensor primitives.

Shared by the TensorFlow and ONNX converters. Every helper folds at import time when all its inputs
are constant (numpy), so only the top-most constant of a constant subgraph becomes a ranking constant.

Dimension naming: `Operand.dims[i]` is the Vespa dimension of framework axis i, or `UNIT` ("") for an
axis of size 1 that is absent from the expression (keepdims results, unsqueezed axes, size-1 axes of
constants); such axes broadcast for free. Helpers keep the names of the non-constant operand and
rename the other, so a join needs no rename on the expensive side; renames of constants are removed
when the import finishes (the constant is stored under the names its uses want).
"""

from __future__ import annotations

import contextvars
from dataclasses import replace
from typing import Any, Iterable, Sequence

import numpy as np

from appkit.expr import ir
from appkit.importers.lower_cells import BINARY, UNARY, num
from appkit.importers.model import Operand
from appkit.tensor.type import CellType, Dimension, TensorType, decay, unify_cell_types

UNIT = ""  # an axis of size 1 that the Vespa expression does not have
EMPTY_CONSTANT = "empty_tensor"  # what an empty constant is called if it reaches an expression


class ConversionError(ValueError):
    """An op that cannot be lowered (non-constant shape input, unbound size where one is needed...)."""


# --- the import context: constants and shared subexpressions of the node being converted ----------


class LoweringContext:
    """Where helpers put constants and shared subexpressions; the import builder provides one."""

    def __init__(self, model_name: str = "model"):
        self.model_name = model_name
        self.node = "const"  # vespa name of the node being converted
        self.constants: dict[str, tuple[np.ndarray, tuple[str, ...], CellType]] = {}
        self.functions: dict[str, tuple[ir.Expr, TensorType]] = {}

    def add_constant(self, value: np.ndarray, dims: tuple[str, ...], cell_type: CellType,
                     name: str | None = None) -> str:
        base = name or f"{self.model_name}_{self.node}"
        unique, k = base, 1
        while unique in self.constants:
            unique, k = f"{base}_{k}", k + 1
        self.constants[unique] = (value, dims, cell_type)
        return unique

    def add_function(self, expr: ir.Expr, type_: TensorType, name: str | None = None) -> str:
        base = name or f"imported_ml_function_{self.model_name}_{self.node}"
        unique, k = base, 1
        while unique in self.functions:
            unique, k = f"{base}_{k}", k + 1
        self.functions[unique] = (expr, type_)
        return unique


_CONTEXT: contextvars.ContextVar[LoweringContext | None] = contextvars.ContextVar("lowering", default=None)


def current_context() -> LoweringContext:
    ctx = _CONTEXT.get()
    if ctx is None:  # helpers used outside an import (unit tests): a throwaway context
        ctx = LoweringContext()
        _CONTEXT.set(ctx)
    return ctx


def use_context(ctx: LoweringContext) -> contextvars.Token:
    return _CONTEXT.set(ctx)


def reset_context(token: contextvars.Token) -> None:
    _CONTEXT.reset(token)


# --- small pieces ----------------------------------------------------------------------------------


def real_dims(op: Operand) -> tuple[str, ...]:
    return tuple(d for d in op.dims if d != UNIT)


def vespa_type(op: Operand) -> TensorType:
    """The Vespa type of the operand's expression (unit axes are not in it)."""
    dims = [Dimension(n, s) for n, s in zip(op.dims, op.shape) if n != UNIT]
    return TensorType(dims, op.cell_type if dims else CellType.DOUBLE)


def fresh_name(used: Iterable[str]) -> str:
    """The first standard name d0, d1, ... not in `used`."""
    taken = set(used)
    k = 0
    while f"d{k}" in taken:
        k += 1
    return f"d{k}"


def lam(params: Sequence[str], body: ir.Expr) -> ir.Lambda:
    return ir.Lambda(tuple(params), body)


A, B = ir.Ref("a"), ir.Ref("b")


def cell_type_of(dtype: Any) -> CellType:
    """Vespa's cell type for a numpy dtype: double stays double, everything else computes as float."""
    return CellType.DOUBLE if np.dtype(dtype) == np.float64 else CellType.FLOAT


def constant(value: Any, cell_type: CellType | None = None, name: str | None = None) -> Operand:
    """A constant operand; size-1 axes become unit axes, unnamed scalars are inlined as numbers."""
    arr = np.asarray(value)
    cell = cell_type or cell_type_of(arr.dtype)
    dims: list[str] = []
    for size in arr.shape:
        dims.append(UNIT if size == 1 else fresh_name(dims))
    shape = tuple(int(s) for s in arr.shape)
    if arr.size == 0:  # an empty value may feed shape arithmetic, but has no Vespa tensor type
        dims = [fresh_name(dims[:i]) if s != 1 else UNIT for i, s in enumerate(arr.shape)]
        return Operand(ir.Feature("constant", (ir.Ref(EMPTY_CONSTANT),)), tuple(dims), shape, cell, arr)
    if arr.size == 1 and name is None:  # a named variable stays a constant, so a function can override it
        return Operand(num(float(arr.reshape(()))), tuple(dims), shape, cell, arr)
    ctx = current_context()
    cname = ctx.add_constant(arr, tuple(dims), cell, name)
    return Operand(ir.Feature("constant", (ir.Ref(cname),)), tuple(dims), shape, cell, arr)


def folded(value: Any, like_cell: CellType | None = None) -> Operand:
    arr = np.asarray(value)
    cell = like_cell if like_cell is not None and arr.dtype.kind == "f" and arr.dtype != np.float64 else None
    return constant(arr, cell)


def input_operand(name: str, shape: Sequence[int | None], cell_type: CellType) -> Operand:
    """An input function (`Ref(name)`) in standard dimensions d0..dn."""
    dims = tuple(f"d{i}" for i in range(len(shape)))
    return Operand(ir.Ref(name), dims, tuple(shape), cell_type)


def share(op: Operand) -> Operand:
    """Make an operand safe to use more than once: bind a non-trivial expression to a function."""
    if op.is_constant or isinstance(op.expr, (ir.Ref, ir.Number, ir.Feature)):
        return op
    ctx = current_context()
    name = ctx.add_function(op.expr, vespa_type(op))
    return replace(op, expr=ir.Ref(name))


# --- renaming and unit axes ------------------------------------------------------------------------


def rename_to(op: Operand, names: Sequence[str]) -> Operand:
    """Give each real axis i the name names[i] (unit axes stay unit)."""
    src, dst = [], []
    new_dims = []
    for d, n in zip(op.dims, names):
        if d == UNIT:
            new_dims.append(UNIT)
            continue
        new_dims.append(n)
        if d != n:
            src.append(d)
            dst.append(n)
    if not src:
        return replace(op, dims=tuple(new_dims))
    return replace(op, expr=ir.Rename(op.expr, tuple(src), tuple(dst)), dims=tuple(new_dims))


def drop_axis_to_unit(op: Operand, axis: int) -> Operand:
    """A real axis of size 1 becomes a unit axis (summing over one cell is the identity)."""
    d = op.dims[axis]
    if d == UNIT:
        return op
    if op.shape[axis] != 1:
        raise ConversionError(f"axis {axis} has size {op.shape[axis]}, not 1")
    dims = list(op.dims)
    dims[axis] = UNIT
    return replace(op, expr=ir.Reduce(op.expr, "sum", (d,)), dims=tuple(dims),
                   cell_type=decay(op.cell_type) if len(real_dims(op)) > 1 else CellType.DOUBLE)


def materialize_units(op: Operand, names: Sequence[str] | None = None) -> Operand:
    """Give every unit axis a real dimension of size 1 (outputs must have all their axes)."""
    units = [i for i, d in enumerate(op.dims) if d == UNIT]
    if not units:
        return op
    dims = list(op.dims)
    new_dims: list[Dimension] = []
    for i in units:
        name = names[i] if names is not None and names[i] not in dims else fresh_name(dims)
        dims[i] = name
        new_dims.append(Dimension(name, 1))
    cell = op.cell_type if real_dims(op) else CellType.FLOAT
    ones = ir.Generate(TensorType(new_dims, cell), num(1.0))
    expr = ir.Join(op.expr, ones, lam("ab", ir.BinaryOp("*", A, B)))
    return replace(op, expr=expr, dims=tuple(dims), cell_type=cell, value=None)


def to_standard(op: Operand) -> Operand:
    """The operand in standard dimensions d0..dn, every axis real (for model outputs)."""
    std = [f"d{i}" for i in range(op.rank)]
    op = materialize_units(op, std)
    out = rename_to(op, std)
    return out


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ConversionError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


# --- elementwise -----------------------------------------------------------------------------------


def _broadcast_names(a: Operand, b: Operand) -> tuple[Operand, Operand, list[str], list[int | None]]:
    """Right-aligned numpy broadcasting expressed with names: the returned operands share the names
    of aligned axes; real size-1 axes broadcast against larger ones are turned into unit axes."""
    primary_is_a = not a.is_constant or b.is_constant
    if a.is_constant == b.is_constant:
        primary_is_a = a.rank >= b.rank
    p, s = (a, b) if primary_is_a else (b, a)
    rank = max(a.rank, b.rank)
    pad_p, pad_s = rank - p.rank, rank - s.rank
    out_names: list[str] = [UNIT] * rank
    out_shape: list[int | None] = [1] * rank
    p_names = list(UNIT if i < pad_p else p.dims[i - pad_p] for i in range(rank))
    s_names = list(UNIT if i < pad_s else s.dims[i - pad_s] for i in range(rank))
    p_sizes = [1 if i < pad_p else p.shape[i - pad_p] for i in range(rank)]
    s_sizes = [1 if i < pad_s else s.shape[i - pad_s] for i in range(rank)]
    for i in range(rank):
        ps, ss = p_sizes[i], s_sizes[i]
        if p_names[i] != UNIT and ps == 1 and ss != 1 and s_names[i] != UNIT:
            p = drop_axis_to_unit(p, i - pad_p)
            p_names[i] = UNIT
        if s_names[i] != UNIT and ss == 1 and ps != 1 and p_names[i] != UNIT:
            s = drop_axis_to_unit(s, i - pad_s)
            s_names[i] = UNIT
        if ps is not None and ss is not None and ps != 1 and ss != 1 and ps != ss:
            raise ConversionError(f"shapes {list(a.shape)} and {list(b.shape)} cannot be broadcast together")
        out_shape[i] = _broadcast_size(ps if p_names[i] != UNIT else 1, ss if s_names[i] != UNIT else 1)
    used = {n for n in p_names if n != UNIT}
    for i in range(rank):
        if p_names[i] != UNIT:
            out_names[i] = p_names[i]
        elif s_names[i] != UNIT:
            name = s_names[i] if s_names[i] not in used else fresh_name(used | set(s_names))
            used.add(name)
            out_names[i] = name
    p = rename_to(p, out_names[pad_p:])
    s = rename_to(s, out_names[pad_s:])
    a2, b2 = (p, s) if primary_is_a else (s, p)
    return a2, b2, out_names, out_shape


def _broadcast_size(x: int | None, y: int | None) -> int | None:
    if x == 1:
        return y
    if y == 1:
        return x
    return x if x is not None else y


def binary(a: Operand, b: Operand, fn: str) -> Operand:
    """Elementwise `fn` of a and b with numpy broadcasting."""
    body, np_fn = BINARY[fn]
    if a.is_constant and b.is_constant:
        result = np_fn(np.asarray(a.value), np.asarray(b.value))
        return folded(result, unify_cell_types(a.cell_type, b.cell_type))
    a2, b2, names, shape = _broadcast_names(a, b)
    cell = decay(unify_cell_types(a.cell_type, b.cell_type))
    if isinstance(b2.expr, ir.Number):
        expr: ir.Expr = ir.Map(a2.expr, lam("a", body(A, b2.expr)))
    elif isinstance(a2.expr, ir.Number):
        expr = ir.Map(b2.expr, lam("a", body(a2.expr, A)))
    else:
        expr = ir.Join(a2.expr, b2.expr, lam("ab", body(A, B)))
    if not any(n != UNIT for n in names):
        cell = CellType.DOUBLE
    return Operand(expr, tuple(names), tuple(shape), cell)


def nary(ops: Sequence[Operand], fn: str) -> Operand:
    """A variadic elementwise op (Sum, Max, Min) as a chain of binary ones."""
    result = ops[0]
    for other in ops[1:]:
        result = binary(result, other, fn)
    return result


def scalar_op(x: Operand, fn: str, value: float, reverse: bool = False) -> Operand:
    """x fn value (or value fn x)."""
    c = constant(np.array(value, dtype=np.float32 if x.cell_type is not CellType.DOUBLE else np.float64))
    return binary(c, x, fn) if reverse else binary(x, c, fn)


# --- unary -----------------------------------------------------------------------------------------




def unary(x: Operand, fn: str, **params: float) -> Operand:
    """map(x, f(a)(fn(a))); params are the function's attributes (alpha, beta, ...)."""
    body, np_fn = UNARY[fn]
    if x.is_constant:
        arr = np.asarray(x.value)
        result = np_fn(arr, **params)
        if fn in ("not",) or arr.dtype.kind == "b":
            return folded(result)
        if arr.dtype.kind == "f":
            result = np.asarray(result).astype(arr.dtype)
        return folded(result, x.cell_type)
    expr = ir.Map(x.expr, lam("a", body(A, **params)))
    cell = decay(x.cell_type) if real_dims(x) else CellType.DOUBLE
    return replace(x, expr=expr, cell_type=cell, value=None)


# --- reductions, permutations, unit axes -----------------------------------------------------------


def reduce(x: Operand, axes: Sequence[int] | None, aggregator: str, keepdims: bool = True) -> Operand:
    """Reduce over framework axes (None: all) with a Vespa aggregator (sum avg max min prod)."""
    axes_n = sorted({normalize_axis(a, x.rank) for a in (range(x.rank) if axes is None else axes)})
    if x.is_constant:
        np_fn = {"sum": np.sum, "avg": np.mean, "max": np.max, "min": np.min, "prod": np.prod}[aggregator]
        arr = np.asarray(x.value)
        result = np_fn(arr, axis=tuple(axes_n), keepdims=keepdims)  # max/min of nothing raise: reported
        return folded(np.asarray(result).astype(arr.dtype) if arr.dtype.kind == "f" else result, x.cell_type)
    names = [x.dims[a] for a in axes_n if x.dims[a] != UNIT]
    for a in axes_n:
        if x.shape[a] == 0:
            raise ConversionError("reduction over an empty axis")
    dims, shape = [], []
    for i, (d, s) in enumerate(zip(x.dims, x.shape)):
        if i in axes_n:
            if keepdims:
                dims.append(UNIT)
                shape.append(1)
        else:
            dims.append(d)
            shape.append(s)
    if not names:
        return replace(x, dims=tuple(dims), shape=tuple(shape))
    all_real = len(names) == len(real_dims(x))
    expr = ir.Reduce(x.expr, aggregator, tuple(names))
    cell = CellType.DOUBLE if all_real else decay(x.cell_type)
    return Operand(expr, tuple(dims), tuple(shape), cell)


def transpose(x: Operand, perm: Sequence[int] | None = None) -> Operand:
    """A permutation of framework axes is only a relabelling: no Vespa op at all."""
    perm = list(reversed(range(x.rank))) if perm is None else [normalize_axis(p, x.rank) for p in perm]
    if sorted(perm) != list(range(x.rank)):
        raise ConversionError(f"{perm} is not a permutation of the {x.rank} axes")
    value = None if x.value is None else np.transpose(np.asarray(x.value), perm)
    return replace(x, dims=tuple(x.dims[p] for p in perm), shape=tuple(x.shape[p] for p in perm), value=value)


def squeeze(x: Operand, axes: Sequence[int] | None = None) -> Operand:
    if axes is None:
        axes_n = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        axes_n = sorted({normalize_axis(a, x.rank) for a in axes})
    for a in axes_n:
        if x.shape[a] not in (1, None):
            raise ConversionError(f"cannot squeeze axis {a} of size {x.shape[a]}")
        x = drop_axis_to_unit(x, a) if x.shape[a] == 1 else x
    keep = [i for i in range(x.rank) if i not in axes_n]
    value = None if x.value is None else np.asarray(x.value).reshape([x.shape[i] for i in keep])
    return replace(x, dims=tuple(x.dims[i] for i in keep), shape=tuple(x.shape[i] for i in keep), value=value)


def unsqueeze(x: Operand, axes: Sequence[int]) -> Operand:
    rank = x.rank + len(axes)
    axes_n = sorted({normalize_axis(a, rank) for a in axes})
    dims, shape = list(x.dims), list(x.shape)
    for a in axes_n:
        dims.insert(a, UNIT)
        shape.insert(a, 1)
    value = None if x.value is None else np.asarray(x.value).reshape(shape)
    return replace(x, dims=tuple(dims), shape=tuple(shape), value=value)


# --- matrix product --------------------------------------------------------------------------------


def matmul(a: Operand, b: Operand) -> Operand:
    """numpy matmul semantics (1-D operands, broadcast batch axes) as join(a*b) + reduce(sum)."""
    if a.rank < 1 or b.rank < 1:
        raise ConversionError("tensors in matmul must have rank of at least 1")
    if a.is_constant and b.is_constant:
        return folded(np.matmul(np.asarray(a.value), np.asarray(b.value)), unify_cell_types(a.cell_type, b.cell_type))
    a_vec, b_vec = a.rank == 1, b.rank == 1
    a = unsqueeze(a, [0]) if a_vec else a
    b = unsqueeze(b, [1]) if b_vec else b
    ka, kb = a.shape[-1], b.shape[-2]
    if ka is not None and kb is not None and ka != kb:
        raise ConversionError(f"matmul of shapes {list(a.shape)} and {list(b.shape)}: inner sizes {ka} and {kb} differ")
    rank = max(a.rank, b.rank)
    a = unsqueeze(a, list(range(rank - a.rank)))
    b = unsqueeze(b, list(range(rank - b.rank)))
    for i in range(rank - 2):  # broadcast batch axes: a real size-1 axis facing a larger one goes
        if a.shape[i] == 1 and b.shape[i] != 1:
            a = drop_axis_to_unit(a, i)
        if b.shape[i] == 1 and a.shape[i] != 1:
            b = drop_axis_to_unit(b, i)
    if ka == 1 and kb == 1:
        a, b = drop_axis_to_unit(a, rank - 1), drop_axis_to_unit(b, rank - 2)
    used: set[str] = set()
    names_a: list[str] = [UNIT] * rank
    names_b: list[str] = [UNIT] * rank
    a_first = not a.is_constant or b.is_constant
    for i in range(rank - 2):
        pair = (a.dims[i], b.dims[i]) if a_first else (b.dims[i], a.dims[i])
        names_a[i] = names_b[i] = _choose(pair, used)
    order = ("m", "k", "n") if a_first else ("n", "k", "m")
    for axis in order:
        if axis == "m":
            names_a[-2] = _choose((a.dims[-2],), used)
        elif axis == "n":
            names_b[-1] = _choose((b.dims[-1],), used)
        else:
            pair = (a.dims[-1], b.dims[-2]) if a_first else (b.dims[-2], a.dims[-1])
            names_a[-1] = names_b[-2] = _choose(pair, used)
    a, b = rename_to(a, names_a), rename_to(b, names_b)
    expr: ir.Expr = ir.Join(a.expr, b.expr, lam("ab", ir.BinaryOp("*", A, B)))
    if names_a[-1] != UNIT:
        expr = ir.Reduce(expr, "sum", (names_a[-1],))
    dims = [n if (a.dims[i] != UNIT or b.dims[i] != UNIT) else UNIT for i, n in enumerate(names_a[:-2])]
    shape = [_broadcast_size(a.shape[i], b.shape[i]) for i in range(rank - 2)]
    dims += [a.dims[-2], b.dims[-1]]
    shape += [a.shape[-2], b.shape[-1]]
    out = Operand(expr, tuple(dims), tuple(shape), decay(unify_cell_types(a.cell_type, b.cell_type)))
    if b_vec:
        out = squeeze(out, [out.rank - 1])
    if a_vec:
        out = squeeze(out, [out.rank - 1 if b_vec else out.rank - 2])
    if not real_dims(out):
        out = replace(out, cell_type=CellType.DOUBLE)
    return out


def _choose(candidates: Sequence[str], used: set[str]) -> str:
    """The first candidate name that is real and free, else a fresh one; UNIT when all are unit."""
    real = [c for c in candidates if c != UNIT]
    if not real:
        return UNIT
    for c in real:
        if c not in used:
            used.add(c)
            return c
    name = fresh_name(used | set(real))
    used.add(name)
    return name
