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
