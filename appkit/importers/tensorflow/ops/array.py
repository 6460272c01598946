"""Shape and layout ops: Reshape, ExpandDims, Squeeze, ConcatV2, Pack/Unpack, Transpose, Tile, Fill,
Slice, StridedSlice, GatherV2/ResourceGather, Split, static Shape/Size/Rank, ZerosLike/OnesLike."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from appkit.importers import lower
from appkit.importers.lower import ConversionError
from appkit.importers.lower_shape import concat, expand, reshape, resolve_shape, split, take, take_range, tile
from appkit.importers.model import Operand
from appkit.importers.tensorflow.ops import TF, constant_input
from appkit.importers.tensorflow.ops.math import NUMPY_OF


def _ints(node: Any, inputs: Sequence[Operand], index: int, what: str) -> list[int]:
    return [int(v) for v in constant_input(node, inputs, index, what).reshape(-1)]


@TF.register("Reshape")
def reshape_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    shape = _ints(node, inputs, 1, "Shape input")
    x = inputs[0]
    return reshape(x, resolve_shape(x.shape, shape, allow_zero_copy=False))


@TF.register("ExpandDims")
def expand_dims(node: Any, inputs: Sequence[Operand]) -> Operand:
    axis = _ints(node, inputs, 1, "Axis")[0]
    return lower.unsqueeze(inputs[0], [axis])


@TF.register("Squeeze")
def squeeze(node: Any, inputs: Sequence[Operand]) -> Operand:
    axes = node.attr("squeeze_dims") or None
    return lower.squeeze(inputs[0], axes)


@TF.register("ConcatV2")
def concat_v2(node: Any, inputs: Sequence[Operand]) -> Operand:
    axis = _ints(node, inputs, len(inputs) - 1, "Concat dimension")[0]
    return concat(list(inputs[:-1]), lower.normalize_axis(axis, inputs[0].rank))


@TF.register("Concat")
def concat_v1(node: Any, inputs: Sequence[Operand]) -> Operand:
    axis = _ints(node, inputs, 0, "Concat dimension")[0]
    return concat(list(inputs[1:]), lower.normalize_axis(axis, inputs[1].rank))


@TF.register("Pack")
def pack(node: Any, inputs: Sequence[Operand]) -> Operand:
    axis = int(node.attr("axis", 0))
    rank = inputs[0].rank + 1
    axis = axis + rank if axis < 0 else axis
    if all(i.is_constant for i in inputs):
        return lower.folded(np.stack([np.asarray(i.value) for i in inputs], axis=axis))
    return concat([lower.unsqueeze(i, [axis]) for i in inputs], axis)


@TF.register("Unpack")
def unpack(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    x = inputs[0]
    axis = lower.normalize_axis(int(node.attr("axis", 0)), x.rank)
    count = int(node.attr("num", x.shape[axis] or 0))
    return [lower.squeeze(take_range(x, axis, i, 1), [axis]) for i in range(count)]


@TF.register("Transpose")
def transpose(node: Any, inputs: Sequence[Operand]) -> Operand:
    return lower.transpose(inputs[0], _ints(node, inputs, 1, "perm"))


@TF.register("Tile")
def tile_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    return tile(inputs[0], _ints(node, inputs, 1, "multiples"))


@TF.register("Fill")
def fill(node: Any, inputs: Sequence[Operand]) -> Operand:
    dims = _ints(node, inputs, 0, "dims")
    value = inputs[1]
    if value.is_constant:
        return lower.folded(np.full(dims, np.asarray(value.value)), value.cell_type)
    return expand(value, dims)


@TF.register("ZerosLike", "OnesLike")
def zeros_like(node: Any, inputs: Sequence[Operand]) -> Operand:
    x = inputs[0]
    if any(s is None for s in x.shape):
        raise ConversionError(f"{node.op} in {node.name}: the input's shape must be known at import")
    dtype = np.float64 if x.cell_type.value == "double" else np.float32
    return lower.folded(np.full(x.shape, 0 if node.op == "ZerosLike" else 1, dtype=dtype))


@TF.register("Shape", "Size", "Rank", note="from the static shape; in Shape an unknown size (the batch) is -1, which Reshape infers")
def shape(node: Any, inputs: Sequence[Operand]) -> Operand:
    x = inputs[0]
    out = NUMPY_OF.get(int(node.attr("out_type", 3)), np.int32)
    if node.op == "Shape":
        # Keras' Flatten reshapes to Pack(Shape(x)[:1], -1): an unknown batch size as -1 is exactly
        # what Reshape needs (it infers it); Size of an unknown shape stays an error
        return lower.folded(np.array([-1 if s is None else s for s in x.shape], dtype=out))
    if node.op == "Size":
        if any(s is None for s in x.shape):
            raise ConversionError(f"Size in {node.name}: the shape {list(x.shape)} is only known at run time")
        return lower.folded(np.array(int(np.prod(x.shape, dtype=np.int64)), dtype=out))
    return lower.folded(np.array(x.rank, dtype=np.int32))


@TF.register("Slice")
def slice_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    x = inputs[0]
    begin, size = _ints(node, inputs, 1, "begin"), _ints(node, inputs, 2, "size")
    for axis, (b, s) in enumerate(zip(begin, size)):
        n = x.shape[axis]
        count = (n - b if n is not None else None) if s == -1 else s
        if count is None:
            if b == 0:
                continue
            raise ConversionError(f"Slice in {node.name}: axis {axis} has unknown size")
        x = take_range(x, axis, b, count)
    return x


def _strided_spec(node: Any, begin: list[int], end: list[int], strides: list[int], rank: int) -> list[Any]:
    """The StridedSlice masks turned into a numpy-style index: slices, ints, None (new axis), Ellipsis."""
    masks = {k: int(node.attr(k, 0)) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                                "shrink_axis_mask")}
    spec: list[Any] = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if masks["ellipsis_mask"] & bit:
            spec.append(Ellipsis)
        elif masks["new_axis_mask"] & bit:
            spec.append(None)
        elif masks["shrink_axis_mask"] & bit:
            spec.append(b)
        else:
            spec.append(slice(None if masks["begin_mask"] & bit else b, None if masks["end_mask"] & bit else e, s))
    return spec


@TF.register("StridedSlice")
def strided_slice(node: Any, inputs: Sequence[Operand]) -> Operand:
    x = inputs[0]
    begin, end = _ints(node, inputs, 1, "begin"), _ints(node, inputs, 2, "end")
    strides = _ints(node, inputs, 3, "strides")
    spec = _strided_spec(node, begin, end, strides, x.rank)
    if x.is_constant:
        return lower.folded(np.asarray(x.value)[tuple(spec)], x.cell_type)
    if Ellipsis in spec:
        at = spec.index(Ellipsis)
        used = sum(1 for s in spec if s is not None and s is not Ellipsis)
        spec = spec[:at] + [slice(None)] * (x.rank - used) + spec[at + 1:]
    spec += [slice(None)] * (x.rank - sum(1 for s in spec if s is not None))
    axis = 0
    shrink: list[int] = []
    new_axes: list[int] = []
    out_axis = 0
    for item in spec:
        if item is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        n = x.shape[axis]
        if isinstance(item, int):
            if n is None:
                raise ConversionError(f"StridedSlice in {node.name}: axis {axis} has unknown size")
            x = take_range(x, axis, item + n if item < 0 else item, 1)
            shrink.append(axis)
        elif n is not None:
            rng = range(n)[item]
            if len(rng) == 0:
                raise ConversionError(f"StridedSlice in {node.name}: the slice of axis {axis} is empty")
            x = take_range(x, axis, rng.start, len(rng), rng.step)
            out_axis += 1
        elif item != slice(None) and (item.start, item.stop, item.step) not in ((0, None, 1), (None, None, 1)):
            raise ConversionError(f"StridedSlice in {node.name}: axis {axis} has unknown size")
        else:
            out_axis += 1
        axis += 1
    if shrink:
        x = lower.squeeze(x, shrink)
    return lower.unsqueeze(x, new_axes) if new_axes else x


@TF.register("GatherV2", "Gather", "ResourceGather")
def gather(node: Any, inputs: Sequence[Operand]) -> Operand:
    if int(node.attr("batch_dims", 0)) != 0:
        raise ConversionError(f"{node.op} in {node.name}: batch_dims other than 0 is not supported")
    axis = _ints(node, inputs, 2, "axis")[0] if node.op == "GatherV2" else 0
    return take(inputs[0], inputs[1], lower.normalize_axis(axis, inputs[0].rank))


@TF.register("Split")
def split_op(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    x = inputs[1]
    axis = lower.normalize_axis(_ints(node, inputs, 0, "axis")[0], x.rank)
    parts = int(node.attr("num_split", 1))
    n = x.shape[axis]
    if n is None:
        raise ConversionError(f"Split in {node.name}: axis {axis} has unknown size")
    return split(x, axis, [n // parts] * parts)


@TF.register("SplitV")
def split_v(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    x = inputs[0]
    sizes = _ints(node, inputs, 1, "size_splits")
    axis = lower.normalize_axis(_ints(node, inputs, 2, "axis")[0], x.rank)
    if -1 in sizes:
        n = x.shape[axis]
        if n is None:
            raise ConversionError(f"SplitV in {node.name}: axis {axis} has unknown size")
        sizes[sizes.index(-1)] = n - sum(s for s in sizes if s != -1)
    return split(x, axis, sizes)


@TF.register("Range")
def range_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    start, limit, delta = (constant_input(node, inputs, i, n) for i, n in enumerate(("start", "limit", "delta")))
    return lower.folded(np.arange(start, limit, delta))


@TF.register("BroadcastTo")
def broadcast_to(node: Any, inputs: Sequence[Operand]) -> Operand:
    return expand(inputs[0], _ints(node, inputs, 1, "shape"))


@TF.register("Pad", "PadV2", "MirrorPad")
def pad_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    from appkit.importers.lower_shape import pad

    paddings = constant_input(node, inputs, 1, "paddings").astype(int).reshape(-1, 2)
    value = float(constant_input(node, inputs, 2, "constant_values").reshape(-1)[0]) if node.op == "PadV2" else 0.0
    mode = "constant"
    if node.op == "MirrorPad":
        mode = {"REFLECT": "reflect", "SYMMETRIC": "symmetric"}.get(str(node.attr("mode", "REFLECT")), "reflect")
    return pad(inputs[0], paddings[:, 0].tolist(), paddings[:, 1].tolist(), value, mode)
