"""ONNX reductions (axes as attribute, or as input from opset 13/18), ArgMax/ArgMin, Softmax,
LogSoftmax and CumSum."""

from __future__ import annotations

from appkit.importers import lower, lower_nn
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.onnx.context import ONNX, NodeContext

# op -> (map before, aggregator, map after)
_REDUCE = {
    "ReduceSum": (None, "sum", None), "ReduceMean": (None, "avg", None), "ReduceMax": (None, "max", None),
    "ReduceMin": (None, "min", None), "ReduceProd": (None, "prod", None), "ReduceL1": ("abs", "sum", None),
    "ReduceL2": ("square", "sum", "sqrt"), "ReduceLogSum": (None, "sum", "log"),
    "ReduceLogSumExp": ("exp", "sum", "log"), "ReduceSumSquare": ("square", "sum", None),
}
_ALL_REDUCE = tuple(_REDUCE)


def _reduce(ctx: NodeContext, x: Operand, axes: list[int] | None) -> Operand:
    before, aggregator, after = _REDUCE[ctx.op_type]
    keepdims = bool(ctx.attr("keepdims", 1))
    if not axes:
        if axes is not None and ctx.attr("noop_with_empty_axes", 0):
            return x
        axes = None
    if ctx.op_type == "ReduceLogSumExp" and not x.is_constant:
        return _log_sum_exp(x, axes, keepdims)
    if before:
        x = lower.unary(x, before)
    result = lower.reduce(x, axes, aggregator, keepdims)
    return lower.unary(result, after) if after else result


def _log_sum_exp(x: Operand, axes: list[int] | None, keepdims: bool) -> Operand:
    """log(sum(exp(x - max))) + max: the stable form, exact where exp would overflow."""
    x = lower.share(x)
    peak = lower.share(lower.reduce(x, axes, "max", keepdims=True))
    total = lower.reduce(lower.unary(lower.binary(x, peak, "sub"), "exp"), axes, "sum", keepdims=True)
    result = lower.binary(lower.unary(total, "log"), peak, "add")
    if not keepdims:
        squeeze = list(range(x.rank)) if axes is None else axes
        result = lower.squeeze(result, squeeze)
    return result


@ONNX.register(*_ALL_REDUCE, since_version=1)
def reduce_with_attribute(ctx: NodeContext, x: Operand) -> Operand:
    axes = ctx.attr("axes")
    return _reduce(ctx, x, None if axes is None else list(axes))


@ONNX.register("ReduceSum", since_version=13)
@ONNX.register(*(op for op in _ALL_REDUCE if op != "ReduceSum"), since_version=18)
def reduce_with_input(ctx: NodeContext, x: Operand, *_: Operand | None) -> Operand:
    axes = ctx.ints(1, f"{ctx.op_type} axes")
    return _reduce(ctx, x, [] if axes is not None and not axes else axes)


@ONNX.register("ArgMax", "ArgMin", since_version=1)
def arg_max(ctx: NodeContext, x: Operand) -> Operand:
    return lower_nn.argmax(x, int(ctx.attr("axis", 0)), bool(ctx.attr("keepdims", 1)),
                           bool(ctx.attr("select_last_index", 0)), minimum=ctx.op_type == "ArgMin")


@ONNX.register("Softmax", "LogSoftmax", since_version=1)
def softmax_coerced(ctx: NodeContext, x: Operand) -> Operand:
    """Before opset 13 softmax runs over all axes from `axis` on (the input seen as 2-D)."""
    axis = lower.normalize_axis(int(ctx.attr("axis", 1)), x.rank)
    log = ctx.op_type == "LogSoftmax"
    if x.is_constant:
        return _fold_coerced(x, axis, log)
    return lower_nn.softmax_over(x, list(range(axis, x.rank)), log)


def _prod(sizes) -> int:
    out = 1
    for s in sizes:
        out *= int(s)
    return out


def _fold_coerced(x: Operand, axis: int, log: bool) -> Operand:
    import numpy as np

    arr = np.asarray(x.value)
    flat = arr.reshape(_prod(arr.shape[:axis]), -1)
    result = lower_nn.softmax(lower.constant(flat), 1, log)
    return lower.constant(np.asarray(result.value).reshape(arr.shape))


@ONNX.register("Softmax", "LogSoftmax", since_version=13)
def softmax(ctx: NodeContext, x: Operand) -> Operand:
    return lower_nn.softmax(x, int(ctx.attr("axis", -1)), ctx.op_type == "LogSoftmax")


@ONNX.register("CumSum", since_version=11)
@ONNX.register("CumProd", since_version=26)
def cumulative(ctx: NodeContext, x: Operand, axis: Operand) -> Operand:
    axes = ctx.ints(1, f"{ctx.op_type} axis")
    if not axes:
        raise ConversionError(f"{ctx.op_type} needs an axis")
    return lower_nn.cumulative(x, axes[0], bool(ctx.attr("exclusive", 0)), bool(ctx.attr("reverse", 0)),
                               product=ctx.op_type == "CumProd")


@ONNX.register("TopK", since_version=10, note="k from a constant; returned sorted")
def top_k(ctx: NodeContext, x: Operand, k: Operand) -> list[Operand]:
    ks = ctx.ints(1, "TopK K")
    if not ks:
        raise ConversionError("TopK needs K")
    return list(lower_nn.top_k(x, ks[0], int(ctx.attr("axis", -1)), bool(ctx.attr("largest", 1))))


@ONNX.register("TopK", since_version=1, note="k from a constant; returned sorted")
def top_k1(ctx: NodeContext, x: Operand) -> list[Operand]:
    return list(lower_nn.top_k(x, int(ctx.attr("k")), int(ctx.attr("axis", -1)), True))
