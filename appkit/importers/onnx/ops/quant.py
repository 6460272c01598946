"""ONNX linear (de)quantisation, per tensor or per axis: quantised weights fold into float constants."""

from __future__ import annotations

import numpy as np

from appkit.importers import lower
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.onnx.context import ONNX, NodeContext


def _along(ctx: NodeContext, x: Operand, p: Operand) -> Operand:
    """A per-axis scale or zero point ([C]) shaped to broadcast along the node's axis."""
    if p.rank == 0 or (p.rank == 1 and p.shape[0] == 1):
        return p
    if ctx.attr("block_size", 0):
        raise ConversionError("blocked quantisation (block_size) is not supported")
    axis = lower.normalize_axis(int(ctx.attr("axis", 1)), x.rank)
    return lower.unsqueeze(p, list(range(1, x.rank - axis)))


@ONNX.register("DequantizeLinear", since_version=10, note="per tensor and per axis (not blocked)")
def dequantize(ctx: NodeContext, x: Operand, scale: Operand, zero_point: Operand | None = None) -> Operand:
    if ctx.input_dtype(0) is not None and ctx.input_dtype(0).kind not in "iu":
        raise ConversionError(f"DequantizeLinear of {ctx.input_dtype(0)} values is not supported")
    if zero_point is not None:
        x = lower.binary(lower.constant(np.asarray(x.value, np.float32)) if x.is_constant else x,
                         _along(ctx, x, zero_point), "sub")
    elif x.is_constant:
        x = lower.constant(np.asarray(x.value, np.float32))
    result = lower.binary(x, _along(ctx, x, scale), "mul")
    dtype = ctx.output_dtype()
    if result.is_constant and dtype is not None and dtype.kind == "f":
        return lower.constant(np.asarray(result.value).astype(dtype))
    return result


_RANGES = {np.dtype(np.uint8): (0, 255), np.dtype(np.int8): (-128, 127), np.dtype(np.uint16): (0, 65535),
           np.dtype(np.int16): (-32768, 32767), np.dtype(np.int32): (-2**31, 2**31 - 1)}


@ONNX.register("QuantizeLinear", since_version=10, note="per tensor and per axis (not blocked), integer outputs")
def quantize(ctx: NodeContext, x: Operand, scale: Operand, zero_point: Operand | None = None) -> Operand:
    dtype = ctx.output_dtype() or (np.dtype(np.uint8) if zero_point is None or zero_point.value is None
                                   else np.asarray(zero_point.value).dtype)
    if dtype not in _RANGES:
        raise ConversionError(f"QuantizeLinear to {dtype} is not supported")
    y = lower.unary(lower.binary(x, _along(ctx, x, scale), "div"), "round")
    if zero_point is not None:
        zp = zero_point if not zero_point.is_constant else lower.constant(np.asarray(zero_point.value, np.float32))
        y = lower.binary(y, _along(ctx, x, zp), "add")
    lo, hi = _RANGES[dtype]
    y = lower.unary(y, "clip", lo=float(lo), hi=float(hi))
    return lower.constant(np.asarray(y.value).astype(dtype)) if y.is_constant else y


def _minus_zero_point(x: Operand, zero_point: Operand | None, along: int | None = None) -> Operand:
    as_float = lower.constant(np.asarray(x.value, np.float32)) if x.is_constant else x
    if zero_point is None:
        return as_float
    zp = zero_point if not zero_point.is_constant else lower.constant(np.asarray(zero_point.value, np.float32))
    if along is not None and zp.rank == 1 and zp.shape[0] != 1:
        zp = lower.unsqueeze(zp, list(range(1, along)))
    return lower.binary(as_float, zp, "sub")


@ONNX.register("MatMulInteger", since_version=10)
def matmul_integer(ctx: NodeContext, a: Operand, b: Operand, a_zero: Operand | None = None,
                   b_zero: Operand | None = None) -> Operand:
    # a's zero point is per row (its second-to-last axis), b's per column: both broadcast as written
    a_centered = _minus_zero_point(a, lower.unsqueeze(a_zero, [1]) if a_zero is not None and a_zero.rank == 1
                                   and a_zero.shape[0] != 1 else a_zero)
    return lower.matmul(a_centered, _minus_zero_point(b, b_zero))


@ONNX.register("QLinearMatMul", since_version=10)
def qlinear_matmul(ctx: NodeContext, a: Operand, a_scale: Operand, a_zero: Operand, b: Operand, b_scale: Operand,
                   b_zero: Operand, y_scale: Operand, y_zero: Operand) -> Operand:
    real_a = lower.binary(_minus_zero_point(a, lower.unsqueeze(a_zero, [1]) if a_zero.rank == 1 and
                                            a_zero.shape[0] != 1 else a_zero),
                          lower.unsqueeze(a_scale, [1]) if a_scale.rank == 1 and a_scale.shape[0] != 1 else a_scale,
                          "mul")
    real_b = lower.binary(_minus_zero_point(b, b_zero), b_scale, "mul")
    product = lower.matmul(real_a, real_b)
    dtype = ctx.output_dtype() or np.asarray(y_zero.value).dtype
    low, high = _RANGES[np.dtype(dtype)]
    y = lower.unary(lower.binary(product, y_scale, "div"), "round")
    y = lower.unary(lower.binary(y, _minus_zero_point(y_zero, None), "add"), "clip", lo=float(low), hi=float(high))
    return lower.constant(np.asarray(y.value).astype(dtype)) if y.is_constant else y
