"""ONNX Conv, MaxPool, AveragePool, LpPool and LRN (any number of spatial axes), through lower_conv's windows."""

from __future__ import annotations

import numpy as np

from appkit.importers import lower
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.lower_conv import Window, conv, conv_transpose, patches, pool, same_padding, window_axis
from appkit.importers.onnx.context import ONNX, NodeContext


def _windows(ctx: NodeContext, x: Operand, kernel: list[int]) -> list[Window]:
    spatial = len(kernel)
    strides = list(ctx.attr("strides", [1] * spatial))
    dilations = list(ctx.attr("dilations", [1] * spatial))
    pads = list(ctx.attr("pads", [0] * (2 * spatial)))
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    windows = []
    for i in range(spatial):
        n = x.shape[2 + i]
        if n is None:
            raise ConversionError("a window over a spatial axis of unknown size")
        before, after = pads[i], pads[i + spatial]
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            before, after = same_padding(int(n), kernel[i], strides[i], dilations[i], auto_pad == "SAME_UPPER")
        elif auto_pad == "VALID":
            before = after = 0
        windows.append(Window(kernel[i], strides[i], dilations[i], before, after, ceil_mode))
    return windows


@ONNX.register("Conv", since_version=1)
def conv_(ctx: NodeContext, x: Operand, w: Operand, b: Operand | None = None) -> Operand:
    kernel = list(ctx.attr("kernel_shape", [s for s in w.shape[2:]]))
    if any(k is None for k in kernel):
        raise ConversionError("Conv weights of unknown size")
    return conv(x, w, b, _windows(ctx, x, [int(k) for k in kernel]), int(ctx.attr("group", 1)))


@ONNX.register("MaxPool", since_version=1, note="without the Indices output")
def max_pool(ctx: NodeContext, x: Operand) -> Operand:
    if ctx.output_count > 1 and ctx.node.output[1]:
        raise ConversionError("MaxPool's Indices output is not supported")
    return pool(x, _windows(ctx, x, list(ctx.attr("kernel_shape"))), "max")


@ONNX.register("AveragePool", since_version=1)
def average_pool(ctx: NodeContext, x: Operand) -> Operand:
    return pool(x, _windows(ctx, x, list(ctx.attr("kernel_shape"))), "avg", bool(ctx.attr("count_include_pad", 0)))


@ONNX.register("LpPool", since_version=2)
def lp_pool(ctx: NodeContext, x: Operand) -> Operand:
    p = float(ctx.attr("p", 2))
    windows = _windows(ctx, x, list(ctx.attr("kernel_shape")))
    spatial = x.rank - 2
    powered = lower.binary(lower.unary(x, "abs"), lower.constant(np.array(p, dtype=np.float32)), "pow")
    total = lower.reduce(patches(powered, 2, windows), [3 + 2 * i for i in range(spatial)], "sum", keepdims=False)
    return lower.binary(total, lower.constant(np.array(1.0 / p, dtype=np.float32)), "pow")


@ONNX.register("LRN", since_version=1)
def lrn(ctx: NodeContext, x: Operand) -> Operand:
    """x / (bias + alpha / size * (sum of squares over the `size` neighbouring channels)) ^ beta."""
    size = int(ctx.attr("size"))
    alpha, beta, bias = float(ctx.attr("alpha", 1e-4)), float(ctx.attr("beta", 0.75)), float(ctx.attr("bias", 1.0))
    channels = x.shape[1]
    if channels is None:
        raise ConversionError("LRN over an unknown number of channels")
    x = lower.share(x)
    window = Window(size, 1, 1, (size - 1) // 2, size - 1 - (size - 1) // 2)
    neighbours = window_axis(lower.unary(x, "square"), 1, window)  # [N, C, size, ...]
    total = lower.reduce(neighbours, [2], "sum", keepdims=False)
    scaled = lower.unary(total, "affine", alpha=alpha / size, beta=bias)
    return lower.binary(x, lower.binary(scaled, lower.constant(np.array(beta, dtype=np.float32)), "pow"), "div")


@ONNX.register("ConvTranspose", since_version=1)
def conv_transpose_(ctx: NodeContext, x: Operand, w: Operand, b: Operand | None = None) -> Operand:
    kernel = [int(k) for k in ctx.attr("kernel_shape", w.shape[2:])]  # type: ignore[arg-type]
    spatial = len(kernel)
    strides = list(ctx.attr("strides", [1] * spatial))
    dilations = list(ctx.attr("dilations", [1] * spatial))
    extra = list(ctx.attr("output_padding", [0] * spatial))
    pads = list(ctx.attr("pads", [0] * (2 * spatial)))
    wanted = ctx.attr("output_shape")
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    windows, sizes = [], []
    for i in range(spatial):
        n = x.shape[2 + i]
        if n is None:
            raise ConversionError("ConvTranspose over an axis of unknown size")
        full = strides[i] * (int(n) - 1) + extra[i] + (kernel[i] - 1) * dilations[i] + 1
        target = None
        if wanted is not None:
            target = int(list(wanted)[-spatial + i])
        elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            target = int(n) * strides[i]
        if target is not None:  # the spec's split of the total padding
            total = full - target
            half = total // 2
            before, after = (half, total - half) if auto_pad == "SAME_UPPER" else (total - half, half)
        else:
            before, after = pads[i], pads[i + spatial]
        windows.append(Window(kernel[i], strides[i], dilations[i], before, after))
        sizes.append(full - before - after)
    return conv_transpose(x, w, b, windows, sizes, int(ctx.attr("group", 1)))
