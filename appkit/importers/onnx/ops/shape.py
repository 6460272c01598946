"""ONNX shape and layout ops: Reshape, Flatten, (Un)Squeeze, Transpose, Concat, Split, Slice, Gather,
Tile, Expand, Pad, Trilu, OneHot, and the import-time ones (Constant, Shape, Size, ConstantOfShape, Range)."""

from __future__ import annotations

import numpy as np

from appkit.importers import lower, lower_nn, lower_shape
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.onnx.context import ONNX, NodeContext


@ONNX.register("Reshape", since_version=1)
def reshape1(ctx: NodeContext, x: Operand) -> Operand:
    target = [int(s) for s in ctx.attr("shape", [])]
    return lower_shape.reshape(x, lower_shape.resolve_shape(x.shape, target))


@ONNX.register("Reshape", since_version=5)
def reshape(ctx: NodeContext, x: Operand, shape: Operand) -> Operand:
    target = ctx.ints(1, f"Reshape {ctx.node.name}: Shape")
    assert target is not None
    allow_zero = int(ctx.attr("allowzero", 0))
    resolved = lower_shape.resolve_shape(x.shape, target, allow_zero_copy=not allow_zero)
    if any(s == 0 for s in resolved):
        raise ConversionError("reshape to an empty tensor")
    return lower_shape.reshape(x, resolved)


@ONNX.register("Flatten", since_version=1)
def flatten(ctx: NodeContext, x: Operand) -> Operand:
    axis = int(ctx.attr("axis", 1))
    return lower_shape.flatten(x, axis + x.rank if axis < 0 else axis)


@ONNX.register("Squeeze", since_version=1)
def squeeze1(ctx: NodeContext, x: Operand) -> Operand:
    axes = ctx.attr("axes")
    return lower.squeeze(x, None if axes is None else list(axes))


@ONNX.register("Squeeze", since_version=13)
def squeeze13(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    return lower.squeeze(x, ctx.ints(1, "Squeeze axes"))


@ONNX.register("Unsqueeze", since_version=1)
def unsqueeze1(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unsqueeze(x, list(ctx.attr("axes", [])))


@ONNX.register("Unsqueeze", since_version=13)
def unsqueeze13(ctx: NodeContext, x: Operand, axes: Operand) -> Operand:
    return lower.unsqueeze(x, ctx.ints(1, "Unsqueeze axes") or [])


@ONNX.register("Transpose", since_version=1)
def transpose(ctx: NodeContext, x: Operand) -> Operand:
    perm = ctx.attr("perm")
    return lower.transpose(x, None if perm is None else list(perm))


@ONNX.register("Concat", since_version=1)
def concat(ctx: NodeContext, *ops: Operand) -> Operand:
    return lower_shape.concat([o for o in ops if o is not None], int(ctx.attr("axis", 1)))


def _split_sizes(ctx: NodeContext, x: Operand, axis: int, split: list[int] | None) -> list[int]:
    if split:
        return split
    n = x.shape[axis]
    if n is None:
        raise ConversionError("Split of an axis of unknown size")
    parts = int(ctx.attr("num_outputs", ctx.output_count))
    size = -(-n // parts)  # ceil: the last part is smaller (opset 18)
    return [size] * (parts - 1) + [n - size * (parts - 1)]


@ONNX.register("Split", since_version=2)
def split2(ctx: NodeContext, x: Operand) -> list[Operand]:
    axis = lower.normalize_axis(int(ctx.attr("axis", 0)), x.rank)
    split = ctx.attr("split")
    return lower_shape.split(x, axis, _split_sizes(ctx, x, axis, None if split is None else list(split)))


@ONNX.register("Split", since_version=13)
def split13(ctx: NodeContext, x: Operand, *_: Operand | None) -> list[Operand]:
    axis = lower.normalize_axis(int(ctx.attr("axis", 0)), x.rank)
    return lower_shape.split(x, axis, _split_sizes(ctx, x, axis, ctx.ints(1, "Split split")))


@ONNX.register("Slice", since_version=1)
def slice1(ctx: NodeContext, x: Operand) -> Operand:
    starts, ends = list(ctx.attr("starts")), list(ctx.attr("ends"))
    axes = list(ctx.attr("axes", range(len(starts))))
    return lower_shape.slice_axes(x, starts, ends, axes, [1] * len(starts))


@ONNX.register("Slice", since_version=10)
def slice10(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    starts = ctx.ints(1, "Slice starts") or []
    ends = ctx.ints(2, "Slice ends") or []
    axes = ctx.ints(3, "Slice axes") or list(range(len(starts)))
    steps = ctx.ints(4, "Slice steps") or [1] * len(starts)
    return lower_shape.slice_axes(x, starts, ends, axes, steps)


@ONNX.register("Gather", since_version=1)
def gather(ctx: NodeContext, x: Operand, indices: Operand) -> Operand:
    return lower_shape.take(x, indices, int(ctx.attr("axis", 0)))


@ONNX.register("Tile", since_version=6)
def tile(ctx: NodeContext, x: Operand, repeats: Operand) -> Operand:
    reps = ctx.ints(1, "Tile repeats")
    return lower_shape.tile(x, reps or [])


@ONNX.register("Expand", since_version=8)
def expand(ctx: NodeContext, x: Operand, shape: Operand) -> Operand:
    return lower_shape.expand(x, ctx.ints(1, f"Expand {ctx.node.name}: shape") or [])


def _pad(ctx: NodeContext, x: Operand, pads: list[int], value: float, axes: list[int] | None) -> Operand:
    mode = ctx.attr("mode", "constant")
    axes = [lower.normalize_axis(a, x.rank) for a in (axes if axes is not None else range(x.rank))]
    before, after = [0] * x.rank, [0] * x.rank
    for k, a in enumerate(axes):
        before[a], after[a] = pads[k], pads[k + len(axes)]
    return lower_shape.pad(x, before, after, value, mode)


@ONNX.register("Pad", since_version=2, note="constant, edge, reflect and wrap modes")
def pad2(ctx: NodeContext, x: Operand) -> Operand:
    return _pad(ctx, x, list(ctx.attr("pads")), float(ctx.attr("value", 0.0)), None)


@ONNX.register("Pad", since_version=11, note="constant, edge, reflect and wrap modes")
def pad11(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    pads = ctx.ints(1, "Pad pads") or []
    value = ctx.constant_input(2, "Pad constant_value")
    axes = ctx.ints(3, "Pad axes")
    return _pad(ctx, x, pads, 0.0 if value is None or value.size == 0 else float(value.reshape(-1)[0]), axes)


@ONNX.register("Trilu", since_version=14)
def trilu(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    k = ctx.ints(1, "Trilu k")
    return lower_nn.trilu(x, k[0] if k else 0, bool(ctx.attr("upper", 1)))


@ONNX.register("OneHot", since_version=9)
def one_hot(ctx: NodeContext, indices: Operand, depth: Operand, values: Operand) -> Operand:
    d = ctx.constant_input(1, "OneHot depth")
    v = ctx.constant_input(2, "OneHot values")
    assert d is not None and v is not None
    result = lower_nn.one_hot(indices, int(np.asarray(d).reshape(-1)[0]), float(v[0]), float(v[1]),
                              int(ctx.attr("axis", -1)))
    dtype = ctx.output_dtype()
    if result.is_constant and dtype is not None:
        return lower.constant(np.asarray(result.value).astype(dtype))
    return result


# --- evaluated at import time ----------------------------------------------------------------------


@ONNX.register("Constant", since_version=1)
def constant(ctx: NodeContext) -> Operand:
    for name, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)):
        if ctx.has_attr(name):
            value = ctx.attr(name)
            return lower.constant(np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype))
    raise ConversionError("Constant without a numeric value (sparse and string constants are not supported)")


@ONNX.register("Shape", since_version=1)
def shape(ctx: NodeContext, x: Operand) -> Operand:
    if any(s is None for s in x.shape):
        raise ConversionError("Shape of a tensor whose sizes are only known at run time")
    sizes = np.array([int(s) for s in x.shape], dtype=np.int64)  # type: ignore[arg-type]
    start, end = ctx.attr("start", 0), ctx.attr("end", None)
    return lower.constant(sizes[start:end])


@ONNX.register("Size", since_version=1)
def size(ctx: NodeContext, x: Operand) -> Operand:
    if any(s is None for s in x.shape):
        raise ConversionError("Size of a tensor whose sizes are only known at run time")
    return lower.constant(np.array(int(np.prod([int(s) for s in x.shape])), dtype=np.int64))  # type: ignore[arg-type]


@ONNX.register("ConstantOfShape", since_version=9)
def constant_of_shape(ctx: NodeContext, shape: Operand) -> Operand:
    sizes = ctx.ints(0, "ConstantOfShape: 'shape'")
    value = ctx.attr("value")
    fill = np.zeros(1, dtype=np.float32) if value is None else np.asarray(value).reshape(-1)
    return lower.constant(np.full(sizes or [], fill[0], dtype=fill.dtype))


@ONNX.register("Range", since_version=11)
def range_(ctx: NodeContext, start: Operand, limit: Operand, delta: Operand) -> Operand:
    s, l, d = (ctx.constant_input(i, f"Range: {n}") for i, n in enumerate(("start", "limit", "delta")))
    assert s is not None and l is not None and d is not None
    return lower.constant(np.arange(s.reshape(()), l.reshape(()), d.reshape(())).astype(s.dtype))



@ONNX.register("Compress", since_version=9, note="constant condition")
def compress(ctx: NodeContext, x: Operand, condition: Operand) -> Operand:
    keep = ctx.constant_input(1, "Compress condition")
    assert keep is not None
    picked = np.nonzero(np.asarray(keep).reshape(-1).astype(bool))[0].astype(np.int64)
    axis = ctx.attr("axis")
    if axis is None:  # over the flattened input
        if any(s is None for s in x.shape):
            raise ConversionError("Compress without an axis needs known sizes")
        x = lower_shape.reshape(x, [int(np.prod([int(s) for s in x.shape]))])  # type: ignore[arg-type]
        axis = 0
    n = x.shape[lower.normalize_axis(int(axis), x.rank)]
    picked = picked[picked < (n if n is not None else len(picked))]
    return lower_shape.take(x, lower.constant(picked), int(axis))


@ONNX.register("ReverseSequence", since_version=10, note="constant sequence_lens")
def reverse_sequence(ctx: NodeContext, x: Operand, lens: Operand) -> Operand:
    """Each batch entry's first len items in reverse: a constant [batch, time, time] selector."""
    lengths = ctx.constant_input(1, "ReverseSequence sequence_lens")
    assert lengths is not None
    batch_axis, time_axis = int(ctx.attr("batch_axis", 1)), int(ctx.attr("time_axis", 0))
    steps, batch = x.shape[time_axis], x.shape[batch_axis]
    if steps is None or batch is None:
        raise ConversionError("ReverseSequence needs known batch and time sizes")
    source = np.tile(np.arange(steps), (batch, 1))
    for b, length in enumerate(np.asarray(lengths).reshape(-1)):
        source[b, :length] = np.arange(length)[::-1]
    selector = (source[:, :, None] == np.arange(steps)[None, None, :]).astype(np.float32)  # [B, T_out, T_in]
    letters = "abcdefgh"[:x.rank]
    out_letters = letters.replace(letters[time_axis], "z")
    equation = f"{letters},{letters[batch_axis]}z{letters[time_axis]}->{out_letters}"
    return lower_nn.einsum(equation, [x, lower.constant(selector)])
