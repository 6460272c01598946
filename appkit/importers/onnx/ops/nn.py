"""ONNX neural-network ops built from reductions and selectors: global pooling, instance and Lp
normalisation, Hardmax, GatherElements, EyeLike."""

from __future__ import annotations

import numpy as np

from appkit.expr import ir
from appkit.importers import lower, lower_nn
from appkit.importers.lower import UNIT, A, B, ConversionError, Operand, fresh_name, lam, num
from appkit.importers.lower_shape import PICK, materialize_axis
from appkit.importers.onnx.context import ONNX, NodeContext
from appkit.tensor.type import CellType, Dimension, TensorType, decay


@ONNX.register("GlobalAveragePool", "GlobalMaxPool", since_version=1)
def global_pool(ctx: NodeContext, x: Operand) -> Operand:
    return lower.reduce(x, list(range(2, x.rank)), "avg" if ctx.op_type == "GlobalAveragePool" else "max", True)


def _per_channel(p: Operand, rank: int) -> Operand:
    return lower.unsqueeze(p, list(range(1, rank - 1))) if rank > 2 else p


@ONNX.register("InstanceNormalization", since_version=6)
def instance_norm(ctx: NodeContext, x: Operand, scale: Operand, bias: Operand) -> Operand:
    eps = float(ctx.attr("epsilon", 1e-5))
    axes = list(range(2, x.rank))
    x = lower.share(x)
    centered = lower.share(lower.binary(x, lower.reduce(x, axes, "avg", True), "sub"))
    var = lower.reduce(lower.binary(centered, centered, "mul"), axes, "avg", True)
    inv_std = lower.unary(lower.scalar_op(var, "add", eps), "rsqrt")
    y = lower.binary(lower.binary(centered, inv_std, "mul"), _per_channel(scale, x.rank), "mul")
    return lower.binary(y, _per_channel(bias, x.rank), "add")


@ONNX.register("LpNormalization", since_version=1)
def lp_normalization(ctx: NodeContext, x: Operand) -> Operand:
    axis, p = int(ctx.attr("axis", -1)), int(ctx.attr("p", 2))
    if p not in (1, 2):
        raise ConversionError(f"LpNormalization with p={p} (only 1 and 2 are defined)")
    x = lower.share(x)
    if p == 1:
        norm = lower.reduce(lower.unary(x, "abs"), [axis], "sum", True)
    else:
        norm = lower.unary(lower.reduce(lower.unary(x, "square"), [axis], "sum", True), "sqrt")
    return lower.binary(x, norm, "div_or_zero")  # a zero vector stays zero


@ONNX.register("Hardmax", since_version=13)
def hardmax(ctx: NodeContext, x: Operand) -> Operand:
    """1 at the first largest value along the axis, 0 elsewhere."""
    axis = lower.normalize_axis(int(ctx.attr("axis", -1)), x.rank)
    if x.is_constant:
        arr = np.asarray(x.value)
        idx = np.expand_dims(np.argmax(arr, axis=axis), axis)
        out = np.zeros_like(arr)
        np.put_along_axis(out, idx, 1, axis=axis)
        return lower.constant(out)
    x = materialize_axis(lower.share(x), axis)
    index = lower_nn.argmax(x, axis, keepdims=True)
    d, n = x.dims[axis], x.shape[axis]
    positions = lower.Operand(ir.Generate(TensorType([Dimension(d, n)], CellType.FLOAT), ir.Ref(d)),
                              tuple(d if i == axis else UNIT for i in range(x.rank)),
                              tuple(n if i == axis else 1 for i in range(x.rank)), CellType.FLOAT)
    return lower.binary(index, positions, "equal")


@ONNX.register("GatherElements", since_version=11)
def gather_elements(ctx: NodeContext, data: Operand, indices: Operand) -> Operand:
    """out[..., i, ...] = data[..., indices[..., i, ...], ...] along one axis."""
    axis = lower.normalize_axis(int(ctx.attr("axis", 0)), data.rank)
    if data.is_constant and indices.is_constant:
        idx = np.asarray(indices.value).astype(np.int64)
        n = np.asarray(data.value).shape[axis]
        return lower.constant(np.take_along_axis(np.asarray(data.value), np.where(idx < 0, idx + n, idx), axis=axis))
    n = data.shape[axis]
    if n is None:
        raise ConversionError("GatherElements along an axis of unknown size")
    for i, (s, t) in enumerate(zip(data.shape, indices.shape)):
        if i != axis and s != t:
            raise ConversionError("GatherElements with indices smaller than the data is not supported")
    data = materialize_axis(data, axis)
    # data's gathered axis gets its own name; the other axes take the indices' names
    k = fresh_name(set(data.dims) | set(indices.dims))
    names = [k if i == axis else (indices.dims[i] if indices.dims[i] != UNIT else data.dims[i])
             for i in range(data.rank)]
    data = lower.rename_to(data, names)
    positive = ir.Map(indices.expr, lam("a", ir.If(ir.BinaryOp("<", A, num(0)), ir.BinaryOp("+", A, num(n)), A)))
    onehot = ir.Join(positive, ir.Generate(TensorType([Dimension(k, n)], CellType.FLOAT), ir.Ref(k)),
                     lam("ab", ir.BinaryOp("==", A, B)))
    expr = ir.Reduce(ir.Join(data.expr, onehot, PICK), "sum", (k,))
    dims = tuple(indices.dims[i] if indices.dims[i] != UNIT or i == axis else data.dims[i] for i in range(data.rank))
    if indices.dims[axis] == UNIT:
        dims = tuple(UNIT if i == axis else d for i, d in enumerate(dims))
    return Operand(expr, dims, indices.shape, decay(data.cell_type))


@ONNX.register("EyeLike", since_version=9)
def eye_like(ctx: NodeContext, x: Operand) -> Operand:
    if x.rank != 2 or any(s is None for s in x.shape):
        raise ConversionError("EyeLike needs a 2-D input of known size")
    dtype = ctx.output_dtype() or np.dtype(np.float32)
    return lower.constant(np.eye(int(x.shape[0]), int(x.shape[1]), int(ctx.attr("k", 0)), dtype=dtype))  # type: ignore[arg-type]


def _flatten_leading(x: Operand, k: int) -> Operand:
    """x with its first k axes merged into one (row-major)."""
    from appkit.importers.lower_shape import reshape

    sizes = [int(s) for s in x.shape[:k]]  # type: ignore[arg-type]
    return reshape(x, [int(np.prod(sizes))] + list(x.shape[k:]))


@ONNX.register("GatherND", since_version=11, note="batch_dims 0")
def gather_nd(ctx: NodeContext, data: Operand, indices: Operand) -> Operand:
    """out[i...] = data[indices[i..., 0], ..., indices[i..., k-1], ...]: a take along the first k axes
    of data merged into one, at the row-major position of each index tuple."""
    from appkit.importers.lower_shape import take, take_range

    if int(ctx.attr("batch_dims", 0)):
        raise ConversionError("GatherND with batch_dims is not supported")
    k = indices.shape[-1]
    if k is None or any(s is None for s in data.shape[:k]):
        raise ConversionError("GatherND needs known index and data sizes")
    sizes = [int(s) for s in data.shape[:k]]  # type: ignore[arg-type]
    position: Operand | None = None
    for j in range(k):
        component = lower.squeeze(take_range(indices, indices.rank - 1, j, 1), [indices.rank - 1])
        component = lower.binary(component, lower.constant(np.array(sizes[j], np.int64)), "mod")  # negatives wrap
        stride = int(np.prod(sizes[j + 1:]))
        term = lower.scalar_op(component, "mul", float(stride)) if stride != 1 else component
        position = term if position is None else lower.binary(position, term, "add")
    assert position is not None
    if position.is_constant:
        position = lower.constant(np.asarray(position.value).astype(np.int64))
    return take(_flatten_leading(data, k), position, 0)


def _scatter(data: Operand, positions: np.ndarray, updates: Operand, reduction: str) -> Operand:
    """data (first axis = flat positions) with updates[u, ...] written to data[positions[u], ...]."""
    count = int(data.shape[0])  # type: ignore[arg-type]
    hits = (positions[None, :] == np.arange(count)[:, None]).astype(np.float32)  # [P, U]
    if reduction == "none":  # the last update of a position wins, as ONNX Runtime does
        last = np.zeros_like(hits)
        for p, u in {int(p): u for u, p in enumerate(positions)}.items():
            last[p, u] = 1
        hits = last
    touched = hits.any(axis=1)
    rest = "abcdefghijklmno"[:updates.rank - 1]
    if reduction in ("none", "add"):
        placed = lower_nn.einsum(f"pu,u{rest}->p{rest}", [lower.constant(hits), updates])
        if reduction == "add":
            return lower.binary(data, placed, "add")
        keep = lower.constant(np.where(touched, 0, 1).astype(np.float32).reshape([-1] + [1] * (data.rank - 1)))
        return lower.binary(lower.binary(data, keep, "mul"), placed, "add")
    pick, aggregator, combine = {"mul": ("pick_or_one", "prod", "mul"), "max": ("pick_or_low", "max", "max"),
                                 "min": ("pick_or_high", "min", "min")}.get(reduction, (None, None, None))
    if pick is None:
        raise ConversionError(f"scatter with reduction '{reduction}' is not supported")
    spread = lower.binary(lower.constant(hits.reshape(list(hits.shape) + [1] * (updates.rank - 1))),
                          lower.unsqueeze(updates, [0]), pick)  # [P, U, rest...]
    return lower.binary(data, lower.reduce(spread, [1], aggregator, keepdims=False), combine)


@ONNX.register("ScatterND", since_version=11, note="constant indices; every reduction")
def scatter_nd(ctx: NodeContext, data: Operand, indices: Operand, updates: Operand) -> Operand:
    from appkit.importers.lower_shape import reshape

    idx = ctx.constant_input(1, "ScatterND indices")
    assert idx is not None
    k = idx.shape[-1]
    if any(s is None for s in data.shape):
        raise ConversionError("ScatterND needs known data sizes")
    sizes = [int(s) for s in data.shape]  # type: ignore[arg-type]
    flat_idx = np.ravel_multi_index(tuple(np.mod(idx.reshape(-1, k), sizes[:k]).T), sizes[:k]) if idx.size else \
        np.zeros(0, np.int64)
    rest = sizes[k:]
    flat_updates = reshape(updates, [int(flat_idx.size)] + rest) if updates.rank != 1 + len(rest) else updates
    merged = _flatten_leading(data, k)
    out = _scatter(merged, flat_idx, flat_updates, ctx.attr("reduction", "none"))
    return reshape(out, sizes)


@ONNX.register("ScatterElements", since_version=11, note="constant indices; every reduction")
def scatter_elements(ctx: NodeContext, data: Operand, indices: Operand, updates: Operand) -> Operand:
    from appkit.importers.lower_shape import reshape

    idx = ctx.constant_input(1, "ScatterElements indices")
    assert idx is not None
    if any(s is None for s in data.shape):
        raise ConversionError("ScatterElements needs known data sizes")
    axis = lower.normalize_axis(int(ctx.attr("axis", 0)), data.rank)
    sizes = [int(s) for s in data.shape]  # type: ignore[arg-type]
    grid = list(np.indices(idx.shape))
    grid[axis] = np.mod(idx, sizes[axis])
    flat_idx = np.ravel_multi_index(tuple(g.reshape(-1) for g in grid), sizes)
    merged = reshape(data, [int(np.prod(sizes)), 1])
    flat_updates = reshape(updates, [int(flat_idx.size), 1])
    out = _scatter(merged, flat_idx, flat_updates, ctx.attr("reduction", "none"))
    return reshape(out, sizes)
