"""ONNX matrix products and normalisation: MatMul, Gemm, Einsum, BatchNormalization (inference),
LayerNormalization. Products lower to join(a*b) + reduce(sum), which the evaluator fuses."""

from __future__ import annotations

import numpy as np

from appkit.importers import lower, lower_nn
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.onnx.context import ONNX, NodeContext
from appkit.tensor.type import CellType


@ONNX.register("MatMul", since_version=1)
def matmul(ctx: NodeContext, a: Operand, b: Operand) -> Operand:
    return lower.matmul(a, b)


@ONNX.register("Gemm", since_version=1)
def gemm(ctx: NodeContext, a: Operand, b: Operand, c: Operand | None = None) -> Operand:
    if a.rank != 2 or b.rank != 2:
        raise ConversionError("Tensors in Gemm must have rank of exactly 2")
    if ctx.attr("transA", 0):
        a = lower.transpose(a)
    if ctx.attr("transB", 0):
        b = lower.transpose(b)
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    if alpha != 1.0:  # scale the constant side when there is one, so the scaling folds away
        if b.is_constant:
            b = lower.scalar_op(b, "mul", alpha)
        else:
            a = lower.scalar_op(a, "mul", alpha)
    product = lower.matmul(a, b)
    if c is None or beta == 0.0:
        return product
    if beta != 1.0:
        c = lower.scalar_op(c, "mul", beta)
    return lower.binary(product, c, "add")


@ONNX.register("Einsum", since_version=12, note="one or two operands; no repeated letter within an operand")
def einsum(ctx: NodeContext, *operands: Operand) -> Operand:
    return lower_nn.einsum(str(ctx.attr("equation")), operands)


def _scalar_like(x: Operand, value: float) -> Operand:
    dtype = np.float64 if x.cell_type is CellType.DOUBLE else np.float32
    return lower.constant(np.array(value, dtype=dtype))


@ONNX.register("BatchNormalization", since_version=1, note="inference mode")
def batch_norm(ctx: NodeContext, x: Operand, scale: Operand, bias: Operand, mean: Operand,
               var: Operand) -> list[Operand]:
    if ctx.attr("training_mode", 0):
        raise ConversionError("BatchNormalization in training mode is not supported (export for inference)")
    eps = float(ctx.attr("epsilon", 1e-5))

    def per_channel(p: Operand) -> Operand:  # [C] -> [C, 1, ...] so it broadcasts along axis 1
        return lower.unsqueeze(p, list(range(1, x.rank - 1))) if x.rank > 2 else p

    inv_std = lower.unary(lower.binary(var, _scalar_like(var, eps), "add"), "rsqrt")
    a = lower.binary(scale, inv_std, "mul")
    b = lower.binary(bias, lower.binary(mean, a, "mul"), "sub")
    y = lower.binary(lower.binary(x, per_channel(a), "mul"), per_channel(b), "add")
    return [y] + [mean, var][: max(0, ctx.output_count - 1)]


@ONNX.register("LayerNormalization", since_version=17)
def layer_norm(ctx: NodeContext, x: Operand, scale: Operand, bias: Operand | None = None) -> list[Operand]:
    axis = lower.normalize_axis(int(ctx.attr("axis", -1)), x.rank)
    eps = float(ctx.attr("epsilon", 1e-5))
    axes = list(range(axis, x.rank))
    x = lower.share(x)
    mean = lower.share(lower.reduce(x, axes, "avg", keepdims=True))
    centered = lower.share(lower.binary(x, mean, "sub"))
    var = lower.reduce(lower.binary(centered, centered, "mul"), axes, "avg", keepdims=True)
    inv_std = lower.share(lower.unary(lower.binary(var, _scalar_like(x, eps), "add"), "rsqrt"))
    y = lower.binary(lower.binary(centered, inv_std, "mul"), scale, "mul")
    if bias is not None:
        y = lower.binary(y, bias, "add")
    return [y, mean, inv_std][: max(1, ctx.output_count)]
