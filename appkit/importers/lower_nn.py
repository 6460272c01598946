"""Composite ops lowered to Vespa primitives: softmax, where, cast, argmax, cumsum, trilu, one-hot, einsum.

Each is built from the core helpers of lower.py (so constant folding and dimension naming come
for free) and, where a value is used twice, binds it to a function first with `share`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from appkit.expr import ir
from appkit.importers.lower import (
    UNIT, A, B, ConversionError, binary, drop_axis_to_unit, folded, fresh_name, lam, normalize_axis, num, real_dims,
    reduce, share, transpose, unary, unsqueeze,
)
from appkit.importers.lower_shape import _relayout, materialize_axis
from appkit.importers.model import Operand
from appkit.tensor.type import CellType, Dimension, TensorType, decay


def softmax(x: Operand, axis: int, log: bool = False) -> Operand:
    """exp(x - max) / sum(exp(x - max)) over one axis (log: x - max - log(sum(exp(x - max))))."""
    axis = normalize_axis(axis, x.rank)
    if x.is_constant:
        arr = np.asarray(x.value)
        shifted = arr - arr.max(axis=axis, keepdims=True)
        e = np.exp(shifted)
        out = shifted - np.log(e.sum(axis=axis, keepdims=True)) if log else e / e.sum(axis=axis, keepdims=True)
        return folded(out.astype(arr.dtype), x.cell_type)
    return softmax_over(x, [axis], log)


def softmax_over(x: Operand, axes: Sequence[int], log: bool = False) -> Operand:
    x = share(x)
    shifted = share(binary(x, reduce(x, axes, "max", keepdims=True), "sub"))
    e = share(unary(shifted, "exp"))
    total = reduce(e, axes, "sum", keepdims=True)
    if log:
        return binary(shifted, unary(total, "log"), "sub")
    return binary(e, total, "div")


def where(condition: Operand, x: Operand, y: Operand) -> Operand:
    """condition ? x : y, as if(c, x, 0) + if(c, 0, y), which stays exact for inf and nan."""
    if condition.is_constant and x.is_constant and y.is_constant:
        return folded(np.where(np.asarray(condition.value).astype(bool), np.asarray(x.value), np.asarray(y.value)),
                      x.cell_type)
    if condition.is_constant and np.all(np.asarray(condition.value)) and _covers(x, condition, y):
        return x
    condition = share(condition)
    picked_x = _select(condition, x, True)
    picked_y = _select(condition, y, False)
    return binary(picked_x, picked_y, "add")


def _covers(x: Operand, *others: Operand) -> bool:
    return all(o.rank <= x.rank and all(s in (1, t) for s, t in zip(o.shape[::-1], x.shape[::-1])) for o in others)


def _select(condition: Operand, value: Operand, keep_when_true: bool) -> Operand:
    return binary(condition, value, "select_true" if keep_when_true else "select_false")


# framework dtype name -> (Vespa cell type after the cast, numpy dtype)
def cast(x: Operand, dtype: np.dtype) -> Operand:
    """A cast to a numpy dtype: integer targets truncate, bool compares with zero, floats re-type cells."""
    dtype = np.dtype(dtype)
    if x.is_constant:
        arr = np.asarray(x.value)
        if dtype.kind in "iu" and arr.dtype.kind == "f":
            arr = np.trunc(arr)
        out = arr.astype(dtype)
        return folded(out, CellType.DOUBLE if dtype == np.float64 else CellType.FLOAT)
    if dtype.kind == "b":
        return unary_body(x, ir.BinaryOp("!=", A, num(0)))
    if dtype.kind in "iu":
        x = unary(x, "trunc")
        return x
    target = CellType.DOUBLE if dtype == np.float64 else CellType.FLOAT
    if target is x.cell_type or not real_dims(x):
        return x
    return replace(x, expr=ir.CellCast(x.expr, target), cell_type=target)


def unary_body(x: Operand, body: ir.Expr) -> Operand:
    return replace(x, expr=ir.Map(x.expr, lam("a", body)), cell_type=decay(x.cell_type) if real_dims(x) else
                   CellType.DOUBLE, value=None)


def argmax(x: Operand, axis: int, keepdims: bool, select_last: bool = False, minimum: bool = False) -> Operand:
    """The index of the largest (smallest) value along an axis; the first one unless select_last."""
    axis = normalize_axis(axis, x.rank)
    if x.is_constant:
        arr = np.asarray(x.value)
        src = np.flip(arr, axis) if select_last else arr
        idx = np.argmin(src, axis=axis) if minimum else np.argmax(src, axis=axis)
        if select_last:
            idx = arr.shape[axis] - 1 - idx
        return folded(np.expand_dims(idx, axis) if keepdims else idx)
    n = x.shape[axis]
    if n is None:
        raise ConversionError("argmax along an axis of unknown size")
    if x.dims[axis] == UNIT:
        zeros = reduce(binary(x, x, "sub"), [axis], "sum", keepdims)
        return zeros
    x = share(x)
    best = reduce(x, [axis], "min" if minimum else "max", keepdims=True)
    hit = share(binary(x, best, "equal"))
    d = x.dims[axis]
    positions = ir.Generate(TensorType([Dimension(d, n)], CellType.FLOAT), ir.Ref(d))
    miss = num(-1) if select_last else num(n)
    indexed = Operand(ir.Join(hit.expr, positions, lam("ab", ir.If(ir.BinaryOp("!=", A, num(0)), B, miss))),
                      hit.dims, hit.shape, decay(hit.cell_type))
    return reduce(indexed, [axis], "max" if select_last else "min", keepdims)


def cumsum(x: Operand, axis: int, exclusive: bool = False, reverse: bool = False) -> Operand:
    return cumulative(x, axis, exclusive, reverse, product=False)


def cumulative(x: Operand, axis: int, exclusive: bool = False, reverse: bool = False,
               product: bool = False) -> Operand:
    """Running sum (product) along an axis: each position combines the positions before it (after it
    when reversed), itself included unless exclusive."""
    axis = normalize_axis(axis, x.rank)
    if x.is_constant:
        arr = np.asarray(x.value)
        a = np.flip(arr, axis) if reverse else arr
        out = (np.cumprod if product else np.cumsum)(a, axis=axis, dtype=arr.dtype)
        if exclusive:  # shift by one, starting from the identity
            identity = np.ones_like(np.take(out, [0], axis=axis)) if product else np.zeros_like(np.take(out, [0], axis=axis))
            out = np.concatenate([identity, np.take(out, np.arange(out.shape[axis] - 1), axis=axis)], axis=axis)
        return folded(np.flip(out, axis) if reverse else out, x.cell_type)
    n = x.shape[axis]
    if n is None:
        raise ConversionError("a cumulative op along an axis of unknown size")
    x = materialize_axis(x, axis)
    old, new = x.dims[axis], fresh_name(x.dims)
    op = (">" if exclusive else ">=") if reverse else ("<" if exclusive else "<=")
    cond = ir.BinaryOp(op, ir.Ref(old), ir.Ref(new))
    if not product:
        expr = _relayout(x, [axis], [new], [n], cond)
    else:  # positions outside the running range contribute the identity 1 to the product
        mask = ir.Generate(TensorType([Dimension(old, n), Dimension(new, n)], CellType.FLOAT), cond)
        expr = ir.Reduce(ir.Join(x.expr, mask, lam("ab", ir.If(ir.BinaryOp("!=", B, num(0)), A, num(1)))),
                         "prod", (old,))
    dims = x.dims[:axis] + ((new if n > 1 else UNIT),) + x.dims[axis + 1:]
    out = Operand(expr, x.dims[:axis] + (new,) + x.dims[axis + 1:], x.shape, decay(x.cell_type))
    return drop_axis_to_unit(out, axis) if n == 1 else replace(out, dims=dims)


def trilu(x: Operand, k: int, upper: bool) -> Operand:
    """Keep the upper (lower) triangle of the last two axes, from diagonal k."""
    if x.is_constant:
        arr = np.asarray(x.value)
        return folded(np.triu(arr, k) if upper else np.tril(arr, k), x.cell_type)
    rows, cols = x.shape[-2], x.shape[-1]
    if rows is None or cols is None:
        raise ConversionError("trilu of a matrix of unknown size")
    x = materialize_axis(materialize_axis(x, x.rank - 2), x.rank - 1)
    r, c = x.dims[-2], x.dims[-1]
    diff = ir.BinaryOp("-", ir.Ref(c), ir.Ref(r))
    keep = ir.BinaryOp(">=", diff, num(k)) if upper else ir.BinaryOp("<=", diff, num(k))
    mask = ir.Generate(TensorType([Dimension(r, rows), Dimension(c, cols)], CellType.FLOAT), keep)
    expr = ir.Join(x.expr, mask, lam("ab", ir.If(ir.BinaryOp("!=", B, num(0)), A, num(0))))
    return replace(x, expr=expr, cell_type=decay(x.cell_type))


def one_hot(indices: Operand, depth: int, off: float, on: float, axis: int) -> Operand:
    """ONNX OneHot: a new axis of size depth, `on` where it equals the (wrapped) index."""
    rank = indices.rank + 1
    axis = normalize_axis(axis, rank)
    if indices.is_constant:
        idx = np.asarray(indices.value).astype(np.int64)
        idx = np.where(idx < 0, idx + depth, idx)
        hot = np.moveaxis(idx[..., None] == np.arange(depth), -1, axis)
        return folded(np.where(hot, on, off).astype(np.float32))
    new = fresh_name(indices.dims)
    positive = ir.Map(indices.expr, lam("a", ir.If(ir.BinaryOp("<", A, num(0)), ir.BinaryOp("+", A, num(depth)), A)))
    positions = ir.Generate(TensorType([Dimension(new, depth)], CellType.FLOAT), ir.Ref(new))
    expr = ir.Join(positive, positions, lam("ab", ir.If(ir.BinaryOp("==", A, B), num(on), num(off))))
    dims = list(indices.dims)
    dims.insert(axis, new)
    shape = list(indices.shape)
    shape.insert(axis, depth)
    return Operand(expr, tuple(dims), tuple(shape), CellType.FLOAT)


def einsum(equation: str, operands: Sequence[Operand]) -> Operand:
    """Einsum with one or two operands (no repeated letter within one operand); an ellipsis stands
    for letters of its own, right-aligned across operands as numpy broadcasts them."""
    eq = equation.replace(" ", "")
    if "..." in eq:
        eq = _spell_out_ellipsis(eq, operands)
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands) or len(terms) not in (1, 2):
        raise ConversionError(f"einsum '{equation}' needs one or two operands")
    for t, o in zip(terms, operands):
        if len(t) != o.rank:
            raise ConversionError(f"einsum term '{t}' does not match an operand of rank {o.rank}")
        if len(set(t)) != len(t):
            raise ConversionError(f"einsum term '{t}' repeats a letter (diagonals are not supported)")
    if "->" not in eq:
        rhs = "".join(sorted(c for c in set("".join(terms)) if "".join(terms).count(c) == 1))
    if all(o.is_constant for o in operands):
        return folded(np.einsum(eq if "->" in eq else f"{lhs}->{rhs}", *[np.asarray(o.value) for o in operands]),
                      operands[0].cell_type)
    if len(operands) == 1:
        product = operands[0]
        letters = terms[0]
    else:
        a, b = operands
        letters = terms[0] + "".join(c for c in terms[1] if c not in terms[0])
        # line both operands up on the union of letters, so a broadcasting multiply is the join
        a_full = _to_letters(a, terms[0], letters)
        b_full = _to_letters(b, terms[1], letters)
        product = binary(a_full, b_full, "mul")
    summed = [i for i, c in enumerate(letters) if c not in rhs]
    reduced = reduce(product, summed, "sum", keepdims=False) if summed else product
    remaining = [c for c in letters if c in rhs]
    return transpose(reduced, [remaining.index(c) for c in rhs])


def _spell_out_ellipsis(eq: str, operands: Sequence[Operand]) -> str:
    """The equation with each '...' replaced by letters it does not use (explicit output form)."""
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ConversionError(f"einsum '{eq}' needs {len(terms)} operands, got {len(operands)}")
    spans = []
    for t, o in zip(terms, operands):
        if t.count("...") > 1 or "." in t.replace("...", ""):
            raise ConversionError(f"einsum term '{t}' has a malformed ellipsis")
        span = o.rank - (len(t) - 3) if "..." in t else 0
        if span < 0:
            raise ConversionError(f"einsum term '{t}' has more letters than its operand has dimensions ({o.rank})")
        spans.append(span)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    width = max(spans)
    ellipsis = "".join(free[:width])
    terms = [t.replace("...", ellipsis[width - s:]) for t, s in zip(terms, spans)]
    if arrow:
        rhs = rhs.replace("...", ellipsis)
    else:  # numpy's implicit output: the ellipsis, then the letters used once, in order
        letters = "".join(t.replace("...", "") for t in lhs.split(","))
        rhs = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ",".join(terms) + "->" + rhs


def _to_letters(x: Operand, term: str, letters: str) -> Operand:
    """x with its axes reordered and unit axes inserted to follow `letters`."""
    present = [c for c in letters if c in term]
    x = transpose(x, [term.index(c) for c in present])
    missing = [i for i, c in enumerate(letters) if c not in term]
    return unsqueeze(x, missing) if missing else x


__all__ = ["argmax", "cast", "cumsum", "einsum", "one_hot", "softmax", "softmax_over", "top_k", "trilu", "where"]


def top_k(x: Operand, k: int, axis: int, largest: bool = True) -> tuple[Operand, Operand]:
    """The k largest (smallest) values along an axis and their indices, in order; ties keep index order.

    Each cell's rank is the number of cells that beat it (a join of the axis with itself), and output
    position r takes the cell whose rank is r.
    """
    axis = normalize_axis(axis, x.rank)
    n = x.shape[axis]
    if x.is_constant:
        arr = np.asarray(x.value)
        if largest:  # descending with ties in index order, without negating (unsigned values wrap)
            size = arr.shape[axis]
            order = size - 1 - np.flip(np.argsort(np.flip(arr, axis), axis=axis, kind="stable"), axis)
        else:
            order = np.argsort(arr, axis=axis, kind="stable")
        idx = np.take(order, np.arange(k), axis=axis)
        return folded(np.take_along_axis(arr, idx, axis=axis), x.cell_type), folded(idx.astype(np.int64))
    if n is None:
        raise ConversionError("TopK along an axis of unknown size")
    if not 0 < k <= n:
        raise ConversionError(f"TopK with k={k} on an axis of size {n}")
    x = share(materialize_axis(x, axis))
    d = x.dims[axis]
    j = fresh_name(x.dims)
    r = fresh_name(set(x.dims) | {j})
    other = ir.Rename(x.expr, (d,), (j,))
    beats_op = ">" if largest else "<"
    strictly = ir.Join(x.expr, other, lam("ab", ir.BinaryOp(beats_op, B, A)))
    tied = ir.Join(x.expr, other, lam("ab", ir.BinaryOp("==", B, A)))
    earlier = ir.Generate(TensorType([Dimension(d, n), Dimension(j, n)], CellType.FLOAT),
                          ir.BinaryOp("<", ir.Ref(j), ir.Ref(d)))
    beaten = ir.Join(strictly, ir.Join(tied, earlier, lam("ab", ir.BinaryOp("*", A, B))),
                     lam("ab", ir.BinaryOp("+", A, B)))
    rank = ir.Reduce(beaten, "sum", (j,))
    positions = ir.Generate(TensorType([Dimension(r, k)], CellType.FLOAT), ir.Ref(r))
    chosen = share(Operand(ir.Join(rank, positions, lam("ab", ir.BinaryOp("==", A, B))),
                           x.dims + (r,), x.shape + (k,), CellType.FLOAT))
    values = ir.Reduce(ir.Join(chosen.expr, x.expr, lam("ab", ir.If(ir.BinaryOp("!=", A, num(0)), B, num(0)))),
                       "sum", (d,))
    index = ir.Generate(TensorType([Dimension(d, n)], CellType.FLOAT), ir.Ref(d))
    indices = ir.Reduce(ir.Join(chosen.expr, index, lam("ab", ir.BinaryOp("*", A, B))), "sum", (d,))
    dims = x.dims[:axis] + (r if k > 1 else UNIT,) + x.dims[axis + 1:]
    shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    if k == 1:  # the size-1 output axis is summed away so that it becomes a unit axis
        values, indices = ir.Reduce(values, "sum", (r,)), ir.Reduce(indices, "sum", (r,))
    cell = decay(x.cell_type)
    return Operand(values, dims, shape, cell), Operand(indices, dims, shape, CellType.FLOAT)
