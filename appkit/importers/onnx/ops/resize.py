"""ONNX Resize and Upsample as one interpolation matrix per resized axis (out = M · x along that axis).

Resize is separable and linear in its input, so each axis's matrix is exactly what ONNX's reference
implementation makes of an identity matrix; every mode (nearest, linear, cubic, antialias) and every
coordinate transformation then matches the spec without re-deriving its formulas.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from appkit.expr import ir
from appkit.importers import lower
from appkit.importers.lower import UNIT, ConversionError, Operand, fresh_name
from appkit.importers.lower_shape import materialize_axis
from appkit.importers.onnx.context import ONNX, NodeContext
from appkit.tensor.type import decay

_ATTRIBUTES = ("mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a", "exclude_outside",
               "extrapolation_value", "antialias")


def _axis_matrix(n: int, attrs: dict, scale: float | None, size: int | None, roi: tuple[float, float] | None) -> np.ndarray:
    """[out, n]: the weights Resize gives each input position for each output position along one axis."""
    from onnx.reference import ReferenceEvaluator

    inputs = ["x", "roi" if roi is not None else "", "scales" if size is None else "", "sizes" if size is not None else ""]
    while inputs and inputs[-1] == "":
        inputs.pop()
    node = helper.make_node("Resize", inputs, ["y"], **attrs)
    inits = []
    if roi is not None:
        inits.append(numpy_helper.from_array(np.array([roi[0], 0, roi[1], 1], dtype=np.float32), "roi"))
    if size is None:
        inits.append(numpy_helper.from_array(np.array([scale, 1], dtype=np.float32), "scales"))
    else:
        inits.append(numpy_helper.from_array(np.array([size, n], dtype=np.int64), "sizes"))
    graph = helper.make_graph([node], "axis", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9)
    ref = ReferenceEvaluator(model)
    identity = ref.run(None, {"x": np.eye(n)})[0]
    offset = ref.run(None, {"x": np.zeros((n, n))})[0]
    if np.any(offset != 0):
        raise ConversionError("Resize with an extrapolation value outside the crop is not supported")
    return np.asarray(identity)


def resize(x: Operand, attrs: dict, scales: list[float] | None, sizes: list[int] | None,
           roi: list[float] | None) -> Operand:
    rank = x.rank
    for axis in range(rank):
        n = x.shape[axis]
        scale = None if scales is None else float(scales[axis])
        size = None if sizes is None else int(sizes[axis])
        if (size is not None and size == n) or (scale is not None and scale == 1.0 and roi is None):
            continue
        if n is None:
            raise ConversionError("Resize of an axis of unknown size")
        axis_roi = None if roi is None else (float(roi[axis]), float(roi[axis + rank]))
        matrix = _axis_matrix(int(n), attrs, scale, size, axis_roi).astype(np.float32)
        x = _apply(x, axis, matrix)
    return x


def _apply(x: Operand, axis: int, matrix: np.ndarray) -> Operand:
    if x.is_constant:
        arr = np.moveaxis(np.tensordot(matrix, np.moveaxis(np.asarray(x.value), axis, 0), axes=1), 0, axis)
        return lower.constant(arr.astype(np.asarray(x.value).dtype))
    x = materialize_axis(x, axis)
    old, new = x.dims[axis], fresh_name(x.dims)
    m = lower.rename_to(lower.constant(matrix), [new if matrix.shape[0] > 1 else UNIT, old])
    expr = ir.Reduce(ir.Join(x.expr, m.expr, lower.lam("ab", ir.BinaryOp("*", lower.A, lower.B))), "sum", (old,))
    dims = x.dims[:axis] + ((new if matrix.shape[0] > 1 else UNIT),) + x.dims[axis + 1:]
    return Operand(expr, dims, x.shape[:axis] + (matrix.shape[0],) + x.shape[axis + 1:], decay(x.cell_type))


def _attrs(ctx: NodeContext) -> dict:
    attrs = {name: ctx.attr(name) for name in _ATTRIBUTES if ctx.has_attr(name)}
    if ctx.opset < 11:  # Resize-10 and Upsample: asymmetric coordinates, nearest rounds down
        attrs.setdefault("coordinate_transformation_mode", "asymmetric")
        attrs.setdefault("nearest_mode", "floor")
    if attrs.get("mode") == "bilinear":
        attrs["mode"] = "linear"
    return attrs


@ONNX.register("Resize", since_version=10, note="every mode, via per-axis interpolation matrices; keep_aspect_ratio_policy when sizes do not round up; not extrapolation outside a crop")
def resize_(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    if ctx.opset < 11:
        scales, sizes, roi = ctx.constant_input(1, "Resize scales"), None, None
    else:
        roi = ctx.constant_input(1, "Resize roi")
        scales = ctx.constant_input(2, "Resize scales")
        sizes = ctx.constant_input(3, "Resize sizes")
    policy = ctx.attr("keep_aspect_ratio_policy", "stretch")
    axes = ctx.attr("axes")
    scale_list = None if scales is None or scales.size == 0 else [float(s) for s in scales.reshape(-1)]
    size_list = None if sizes is None or sizes.size == 0 else [int(s) for s in sizes.reshape(-1)]
    roi_list = None if roi is None or roi.size == 0 else [float(r) for r in roi.reshape(-1)]
    if ctx.attr("coordinate_transformation_mode", "half_pixel") != "tf_crop_and_resize":
        roi_list = None
    if axes is not None:  # expand per-axis parameters to every axis
        axes = [lower.normalize_axis(a, x.rank) for a in axes]
        if scale_list is not None:
            full = [1.0] * x.rank
            for a, s in zip(axes, scale_list):
                full[a] = s
            scale_list = full
        if size_list is not None:
            full_sizes = [int(s) for s in x.shape]  # type: ignore[arg-type]
            for a, s in zip(axes, size_list):
                full_sizes[a] = s
            size_list = full_sizes
        if roi_list is not None:
            starts, ends = [0.0] * x.rank, [1.0] * x.rank
            for k, a in enumerate(axes):
                starts[a], ends[a] = roi_list[k], roi_list[k + len(axes)]
            roi_list = starts + ends
    if policy != "stretch" and size_list is not None:
        scale_list, size_list = _keep_aspect_ratio(x, policy, size_list, axes)
    return resize(x, _attrs(ctx), scale_list, size_list, roi_list)


def _keep_aspect_ratio(x: Operand, policy: str, sizes: list[int], axes: list[int] | None
                       ) -> tuple[list[float], None]:
    """One scale for every resized axis (the smallest or largest of sizes/input), as the spec says;
    each axis then resizes by that scale to round(scale * size) cells."""
    resized = axes if axes is not None else list(range(x.rank))
    ratios = [sizes[a] / x.shape[a] for a in resized]  # type: ignore[operator]
    if policy not in ("not_larger", "not_smaller"):
        raise ConversionError(f"Resize keep_aspect_ratio_policy '{policy}' is not one of stretch, not_larger, "
                              "not_smaller")
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    scales = [scale if a in resized else 1.0 for a in range(x.rank)]
    for a in resized:
        n = int(x.shape[a])  # type: ignore[arg-type]
        if int(scale * n + 0.5) != int(scale * n):
            # the per-axis matrices take the size from the scale by flooring, the policy rounds
            raise ConversionError("Resize keep_aspect_ratio_policy whose sizes round up is not supported")
    return scales, None


@ONNX.register("Upsample", since_version=7, note="deprecated op; as Resize with asymmetric coordinates")
def upsample(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    scales = ctx.attr("scales") if ctx.opset < 9 else ctx.constant_input(1, "Upsample scales")
    attrs = _attrs(ctx)
    attrs.setdefault("coordinate_transformation_mode", "asymmetric")
    attrs.setdefault("nearest_mode", "floor")
    return resize(x, attrs, [float(s) for s in np.asarray(scales).reshape(-1)], None, None)
