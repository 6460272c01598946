"""2-D convolution and pooling (NHWC): Conv2D, MaxPool, AvgPool, lowered to joins with 0/1 selectors.

Each spatial axis is re-laid out into (output position, kernel offset) by a constant selector
S[h, i, a] = (h == i*stride + a*dilation - pad_before), summed over h; the patches then meet the
kernel in one join and a sum (Conv2D) or are reduced with max / avg (pooling). Vespa never had these;
the expressions are plain tensor primitives, so they evaluate anywhere the rest does.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from appkit.importers import lower
from appkit.importers.lower import ConversionError
from appkit.importers.model import Operand
from appkit.importers.tensorflow.ops import TF

_LOWEST = -3.0e38  # stands in for -inf at padded positions of a max pool (-inf * 0 would be NaN)


def _geometry(node: Any, size: int | None, kernel: int, stride: int, dilation: int, axis: int) -> tuple[int, int]:
    """(output size, padding before) of one spatial axis under the node's padding attribute."""
    if size is None:
        raise ConversionError(f"{node.op} in {node.name}: spatial size must be known at import")
    effective = (kernel - 1) * dilation + 1
    padding = str(node.attr("padding", "VALID"))
    if padding == "VALID":
        return (size - effective) // stride + 1, 0
    if padding == "SAME":
        out = math.ceil(size / stride)
        return out, max((out - 1) * stride + effective - size, 0) // 2
    if padding == "EXPLICIT":
        pads = list(node.attr("explicit_paddings") or [])
        before, after = pads[2 * axis], pads[2 * axis + 1]
        return (size + before + after - effective) // stride + 1, before
    raise ConversionError(f"{node.op} in {node.name}: padding {padding} is not supported")


def _selector(size: int, out: int, kernel: int, stride: int, dilation: int, pad: int) -> np.ndarray:
    h = np.arange(size)[:, None, None]
    source = np.arange(out)[None, :, None] * stride + np.arange(kernel)[None, None, :] * dilation - pad
    return (h == source).astype(np.float32)


def _patches(node: Any, x: Operand, kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> tuple[Operand, list[np.ndarray]]:
    """x [b, H, W, C] -> patches [b, oh, ow, kh, kw, C], and the per-axis validity masks [o, k]."""
    if str(node.attr("data_format", "NHWC")) != "NHWC" or x.rank != 4:
        raise ConversionError(f"{node.op} in {node.name}: only 4-D NHWC input is supported")
    masks = []
    for axis in (1, 2):  # H, then W: each becomes (output position, kernel offset)
        size = x.shape[axis] if axis == 1 else x.shape[3]
        k, s, d = kernel[axis - 1], strides[axis], dilations[axis]
        out, pad = _geometry(node, size, k, s, d, axis)
        selector = _selector(int(size), out, k, s, d, pad)  # type: ignore[arg-type]
        masks.append(selector.sum(axis=0))
        # x axes: [b, oh?, kh?, H or W, ..., C]; contract the spatial axis at position `at`
        at = 1 if axis == 1 else 3
        expanded = lower.unsqueeze(x, [at + 1, at + 2])  # [..., S, 1, 1, rest]
        shape = [1] * expanded.rank
        shape[at:at + 3] = list(selector.shape)
        joined = lower.binary(expanded, lower.constant(selector.reshape(shape)), "mul")
        x = lower.reduce(joined, [at], "sum", keepdims=False)
    # now [b, oh, kh, ow, kw, C] -> [b, oh, ow, kh, kw, C]
    return lower.transpose(x, [0, 1, 3, 2, 4, 5]), masks


@TF.register("Conv2D")
def conv2d(node: Any, inputs: Sequence[Operand]) -> Operand:
    x, kernel = inputs
    if kernel.rank != 4:
        raise ConversionError(f"Conv2D in {node.name}: the filter must be 4-D [kh, kw, in, out]")
    kh, kw = kernel.shape[0], kernel.shape[1]
    patches, _ = _patches(node, x, [kh, kw], node.attr("strides") or [1, 1, 1, 1],
                          node.attr("dilations") or [1, 1, 1, 1])
    product = lower.binary(lower.unsqueeze(patches, [6]), lower.unsqueeze(kernel, [0, 1, 2]), "mul")
    return lower.reduce(product, [3, 4, 5], "sum", keepdims=False)


@TF.register("MaxPool", "AvgPool")
def pool(node: Any, inputs: Sequence[Operand]) -> Operand:
    size = node.attr("ksize") or [1, 1, 1, 1]
    if size[0] != 1 or size[3] != 1:
        raise ConversionError(f"{node.op} in {node.name}: pooling over batch or channels is not supported")
    patches, (mask_h, mask_w) = _patches(node, inputs[0], [size[1], size[2]], node.attr("strides") or [1, 1, 1, 1],
                                         [1, 1, 1, 1])
    valid = (mask_h[:, None, :, None] * mask_w[None, :, None, :]).astype(np.float32)  # [oh, ow, kh, kw]
    if node.op == "MaxPool":
        if not valid.all():
            penalty = ((1 - valid) * _LOWEST)[None, :, :, :, :, None]
            patches = lower.binary(patches, lower.constant(penalty.astype(np.float32)), "add")
        return lower.reduce(patches, [3, 4], "max", keepdims=False)
    total = lower.reduce(patches, [3, 4], "sum", keepdims=False)
    counts = valid.sum(axis=(2, 3))[None, :, :, None]  # TF averages over the valid cells only
    return lower.binary(total, lower.constant(counts.astype(np.float32)), "div")


@TF.register("DepthwiseConv2dNative")
def depthwise_conv2d(node: Any, inputs: Sequence[Operand]) -> Operand:
    from appkit.importers.lower_shape import reshape

    x, kernel = inputs  # kernel [kh, kw, C, multiplier]; output channel c * multiplier + q
    if kernel.rank != 4:
        raise ConversionError(f"DepthwiseConv2dNative in {node.name}: the filter must be 4-D")
    patches, _ = _patches(node, x, [kernel.shape[0], kernel.shape[1]], node.attr("strides") or [1, 1, 1, 1],
                          node.attr("dilations") or [1, 1, 1, 1])
    product = lower.binary(lower.unsqueeze(patches, [6]), lower.unsqueeze(kernel, [0, 1, 2]), "mul")
    per_channel = lower.reduce(product, [3, 4], "sum", keepdims=False)  # [b, oh, ow, C, multiplier]
    b, oh, ow, c, m = per_channel.shape
    return reshape(per_channel, [b, oh, ow, c * m])  # type: ignore[operator]
