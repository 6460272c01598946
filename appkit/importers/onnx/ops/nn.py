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
