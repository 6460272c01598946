"""Convolution and pooling lowered to Vespa primitives, for any number of spatial axes.

Each spatial axis of size n is replaced by an output-position axis and a kernel-offset axis through a
constant 0/1 selector S[o, k, i] = (i == o*stride + k*dilation - pad_before); convolution is then a
join with the weights and a sum (the product form the evaluator fuses), pooling a reduce over offsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from appkit.expr import ir
from appkit.importers import lower, lower_nn
from appkit.importers.lower import UNIT, ConversionError, Operand, constant, fresh_name, rename_to
from appkit.importers.lower_shape import PICK, materialize_axis
from appkit.tensor.type import decay


@dataclass(frozen=True)
class Window:
    """The sliding window along one spatial axis."""

    kernel: int
    stride: int = 1
    dilation: int = 1
    pad_before: int = 0
    pad_after: int = 0
    ceil_mode: bool = False

    def output_size(self, n: int) -> int:
        span = (self.kernel - 1) * self.dilation + 1
        room = n + self.pad_before + self.pad_after - span
        if room < 0:
            raise ConversionError(f"a window of {span} does not fit an axis of size {n} with its padding")
        steps = math.ceil(room / self.stride) if self.ceil_mode else room // self.stride
        if self.ceil_mode and steps * self.stride >= n + self.pad_before:  # the last window must start inside
            steps -= 1
        return steps + 1

    def positions(self, n: int) -> np.ndarray:
        """[out, kernel] input positions (may lie outside 0..n-1, i.e. in the padding)."""
        o = np.arange(self.output_size(n))[:, None]
        k = np.arange(self.kernel)[None, :]
        return o * self.stride + k * self.dilation - self.pad_before


def same_padding(n: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """ONNX/TF 'SAME' padding: the output has ceil(n / stride) positions."""
    out = -(-n // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - n, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def window_axis(x: Operand, axis: int, window: Window, fill: float = 0.0) -> Operand:
    """x with `axis` replaced by (output position, kernel offset); cells in the padding are `fill`."""
    n = x.shape[axis]
    if n is None:
        raise ConversionError("a window over an axis of unknown size")
    pos = window.positions(int(n))
    inside = (pos >= 0) & (pos < n)
    selector = (pos[:, :, None] == np.arange(n)[None, None, :]).astype(np.float32)
    return select_axis(x, axis, selector, fill, inside)


def select_axis(x: Operand, axis: int, selector: np.ndarray, fill: float = 0.0,
                inside: np.ndarray | None = None) -> Operand:
    """x with `axis` (size n) replaced by two axes (a, b): out[a, b] = x[i] where selector[a, b, i] is 1,
    or `fill` where the selector row is empty (`inside` false)."""
    n = int(selector.shape[2])
    if inside is None:
        inside = selector.any(axis=2)
    if x.is_constant:
        arr = np.moveaxis(np.asarray(x.value), axis, -1)
        taken = np.tensordot(arr, selector, axes=([arr.ndim - 1], [2]))  # [..., a, b]
        taken = np.where(inside, taken, np.asarray(fill, dtype=taken.dtype))
        return lower.constant(np.moveaxis(np.moveaxis(taken, -1, axis), -1, axis).astype(np.asarray(x.value).dtype))
    x = materialize_axis(x, axis)
    old = x.dims[axis]
    o_name = fresh_name(x.dims)
    k_name = fresh_name(set(x.dims) | {o_name})
    names = [o_name if selector.shape[0] > 1 else UNIT, k_name if selector.shape[1] > 1 else UNIT,
             old if n > 1 else UNIT]
    sel = rename_to(constant(selector), names)
    expr: ir.Expr = ir.Reduce(ir.Join(x.expr, sel.expr, PICK), "sum", (old,))
    if fill != 0.0 and not inside.all():
        outside = rename_to(constant(np.where(inside, np.float32(0), np.float32(fill))), names[:2])
        expr = ir.Join(expr, outside.expr, lower.lam("ab", ir.BinaryOp("+", lower.A, lower.B)))
    dims = x.dims[:axis] + tuple(names[:2]) + x.dims[axis + 1:]
    shape = x.shape[:axis] + tuple(int(s) for s in selector.shape[:2]) + x.shape[axis + 1:]
    return Operand(expr, dims, shape, decay(x.cell_type))


def patches(x: Operand, first_spatial: int, windows: Sequence[Window], fill: float = 0.0) -> Operand:
    """Every spatial axis (from `first_spatial` on) split into (output position, kernel offset)."""
    for i in reversed(range(len(windows))):  # last axis first, so earlier axis positions stay put
        x = window_axis(x, first_spatial + i, windows[i], fill)
    return x


_LETTERS = "opqrstuvwxyz"
_KERNEL = "abefghijkl"


def conv(x: Operand, weights: Operand, bias: Operand | None, windows: Sequence[Window], group: int) -> Operand:
    """ONNX Conv (NC + spatial layout): weights [M, C/group, k...]; group 1 or depthwise (group == C == M)."""
    spatial = x.rank - 2
    if weights.rank != x.rank:
        raise ConversionError("Conv weights must have the rank of the input")
    p = patches(x, 2, windows)  # [N, C, o1, k1, o2, k2, ...]
    outs = _LETTERS[:spatial]
    ks = _KERNEL[:spatial]
    patch_term = "nc" + "".join(o + k for o, k in zip(outs, ks))
    if group == 1:
        equation = f"{patch_term},mc{ks}->nm{outs}"
        y = lower_nn.einsum(equation, [p, weights])
    elif group == x.shape[1] and weights.shape[0] == group and weights.shape[1] == 1:
        w = lower.squeeze(weights, [1])
        y = lower_nn.einsum(f"{patch_term},c{ks}->nc{outs}", [p, w])
    else:
        return _grouped(x, weights, bias, group, lambda xi, wi: conv(xi, wi, None, windows, 1), 0)
    if bias is not None:
        y = lower.binary(y, lower.unsqueeze(bias, list(range(1, spatial + 1))), "add")
    return y


def pool(x: Operand, windows: Sequence[Window], kind: str, count_include_pad: bool = False) -> Operand:
    """Max or average pooling over the spatial axes of an NC + spatial tensor."""
    spatial = x.rank - 2
    if kind == "max":
        p = patches(x, 2, windows, fill=-math.inf)
        return lower.reduce(p, [3 + 2 * i for i in range(spatial)], "max", keepdims=False)
    p = patches(x, 2, windows)
    total = lower.reduce(p, [3 + 2 * i for i in range(spatial)], "sum", keepdims=False)
    counts = np.ones([1, 1], dtype=np.float32)
    for w, n in zip(windows, x.shape[2:]):
        pos = w.positions(int(n))  # type: ignore[arg-type]
        lo, hi = (-w.pad_before, n + w.pad_after) if count_include_pad else (0, n)
        per_axis = ((pos >= lo) & (pos < hi)).sum(axis=1).astype(np.float32)
        counts = _outer(counts, per_axis)
    divisor = constant(counts)
    return lower.binary(total, divisor, "div")


def _outer(counts: np.ndarray, per_axis: np.ndarray) -> np.ndarray:
    """Append one spatial axis of window counts to a [1, 1, ...] count array."""
    return counts[..., None] * per_axis.reshape((1,) * counts.ndim + per_axis.shape)


def conv_transpose(x: Operand, weights: Operand, bias: Operand | None, windows: Sequence[Window],
                   output_sizes: Sequence[int], group: int = 1) -> Operand:
    """ONNX ConvTranspose: weights [C, M/group, k...]; input position i with kernel offset k lands on
    output position i*stride + k*dilation - pad_before."""
    spatial = x.rank - 2
    if any(s is None for s in x.shape[2:]):
        raise ConversionError("ConvTranspose over an axis of unknown size")
    if group > 1:
        return _grouped(x, weights, bias, group, lambda xi, wi: conv_transpose(xi, wi, None, windows, output_sizes), 0)
    for i in reversed(range(spatial)):
        w, n, out = windows[i], x.shape[2 + i], output_sizes[i]
        o = np.arange(out)[:, None, None]
        k = np.arange(w.kernel)[None, :, None]
        src = np.arange(int(n))[None, None, :]
        selector = (o == src * w.stride + k * w.dilation - w.pad_before).astype(np.float32)
        x = select_axis(x, 2 + i, selector, 0.0, np.ones(selector.shape[:2], dtype=bool))
    outs, ks = _LETTERS[:spatial], _KERNEL[:spatial]
    patch_term = "nc" + "".join(o + k for o, k in zip(outs, ks))
    y = lower_nn.einsum(f"{patch_term},cm{ks}->nm{outs}", [x, weights])
    if bias is not None:
        y = lower.binary(y, lower.unsqueeze(bias, list(range(1, spatial + 1))), "add")
    return y


def _grouped(x: Operand, weights: Operand, bias: Operand | None, group: int, one, weight_axis: int) -> Operand:
    """A grouped convolution: the channels and the weights split into `group` parts, convolved part by
    part, and the results concatenated along the channel axis."""
    from appkit.importers.lower_shape import concat, split

    channels, filters = x.shape[1], weights.shape[weight_axis]
    if channels is None or filters is None or channels % group or filters % group:
        raise ConversionError(f"group={group} does not divide the channels")
    xs = split(x, 1, [channels // group] * group)
    ws = split(weights, weight_axis, [filters // group] * group)
    y = concat([one(xi, wi) for xi, wi in zip(xs, ws)], 1)
    if bias is not None:
        y = lower.binary(y, lower.unsqueeze(bias, list(range(1, x.rank - 1))), "add")
    return y
