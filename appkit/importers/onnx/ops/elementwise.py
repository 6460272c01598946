"""ONNX elementwise ops: math functions and activations (map), arithmetic and comparisons (join),
variadic Sum/Max/Min/Mean, logic, Clip, Cast, Where, Identity and Dropout."""

from __future__ import annotations

import math

import numpy as np

from appkit.importers import lower, lower_nn
from appkit.importers.lower import ConversionError, Operand
from appkit.importers.onnx.context import ONNX, NodeContext
from appkit.importers.onnx.types import numpy_dtype

_MAPS = {
    "Abs": "abs", "Acos": "acos", "Asin": "asin", "Atan": "atan", "Ceil": "ceil", "Cos": "cos", "Cosh": "cosh",
    "Erf": "erf", "Exp": "exp", "Floor": "floor", "Log": "log", "Neg": "neg", "Reciprocal": "reciprocal",
    "Relu": "relu", "Sigmoid": "sigmoid", "Sin": "sin", "Sinh": "sinh", "Sqrt": "sqrt", "Tan": "tan",
    "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign", "Sign": "sign", "Round": "round",
    "Not": "not", "IsNaN": "is_nan", "Mish": "mish", "Acosh": "acosh", "Asinh": "asinh", "Atanh": "atanh",
}


@ONNX.register("Abs", "Ceil", "Exp", "Floor", "Log", "Neg", "Reciprocal", "Relu", "Sigmoid", "Sqrt", "Tanh",
               since_version=1)
@ONNX.register("Acos", "Asin", "Atan", "Cos", "Sin", "Tan", since_version=7)
@ONNX.register("Erf", "Sign", "Cosh", "Sinh", "IsNaN", "Acosh", "Asinh", "Atanh", since_version=9)
@ONNX.register("Round", since_version=11)
@ONNX.register("Softplus", "Softsign", "Not", since_version=1)
@ONNX.register("Mish", since_version=18)
def unary(ctx: NodeContext, x: Operand, *_: Operand) -> Operand:
    fn = _MAPS[ctx.op_type]
    if ctx.op_type == "Abs" and x.is_constant and np.asarray(x.value).dtype.kind == "u":
        return x
    return lower.unary(x, fn)


@ONNX.register("IsInf", since_version=10)
def is_inf(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "is_inf", positive=float(ctx.attr("detect_positive", 1)),
                       negative=float(ctx.attr("detect_negative", 1)))


@ONNX.register("Square", since_version=1, note="not an ONNX standard op; accepted for converted TF graphs")
def square(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "square")


@ONNX.register("Elu", since_version=1)
def elu(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "elu", alpha=float(ctx.attr("alpha", 1.0)))


@ONNX.register("Selu", since_version=1)
def selu(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "selu", alpha=float(ctx.attr("alpha", 1.67326319217681884765625)),
                       gamma=float(ctx.attr("gamma", 1.05070102214813232421875)))


@ONNX.register("LeakyRelu", since_version=1)
def leaky_relu(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "leaky_relu", alpha=float(ctx.attr("alpha", 0.01)))


@ONNX.register("ThresholdedRelu", since_version=10)
def thresholded_relu(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "thresholded_relu", alpha=float(ctx.attr("alpha", 1.0)))


@ONNX.register("Celu", since_version=12)
def celu(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "celu", alpha=float(ctx.attr("alpha", 1.0)))


@ONNX.register("HardSigmoid", since_version=6)
def hard_sigmoid(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "hard_sigmoid", alpha=float(ctx.attr("alpha", 0.2)), beta=float(ctx.attr("beta", 0.5)))


@ONNX.register("HardSwish", since_version=14)
def hard_swish(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "hard_swish")


@ONNX.register("Gelu", since_version=20)
def gelu(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "gelu_tanh" if ctx.attr("approximate", "none") == "tanh" else "gelu")


@ONNX.register("PRelu", since_version=7)
def prelu(ctx: NodeContext, x: Operand, slope: Operand) -> Operand:
    return lower.binary(x, slope, "prelu")


_JOINS = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Equal": "equal",
          "Greater": "greater", "Less": "less", "GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal",
          "And": "and", "Or": "or", "Xor": "xor"}


@ONNX.register("Add", "Sub", "Mul", "Div", "Equal", "Greater", "Less", "And", "Or", "Xor", since_version=1,
               note="before opset 7 only the default (trailing) broadcast")
@ONNX.register("Pow", since_version=7)
@ONNX.register("GreaterOrEqual", "LessOrEqual", since_version=12)
def join(ctx: NodeContext, a: Operand, b: Operand) -> Operand:
    if ctx.has_attr("axis") and ctx.opset < 7:
        raise ConversionError("legacy broadcasting with an 'axis' attribute is not supported")
    result = lower.binary(a, b, _JOINS[ctx.op_type])
    if ctx.op_type in ("Div", "Pow") and ctx.is_integer_output() and not result.is_constant:
        result = lower.unary(result, "trunc")  # integer division truncates
    return result


@ONNX.register("Mod", since_version=10)
def mod(ctx: NodeContext, a: Operand, b: Operand) -> Operand:
    fmod = int(ctx.attr("fmod", 0))
    return lower.binary(a, b, "fmod" if fmod else "mod")


_VARIADIC = {"Sum": "add", "Max": "max", "Min": "min", "Mean": "add"}


@ONNX.register("Sum", "Max", "Min", "Mean", since_version=6)
def variadic(ctx: NodeContext, *ops: Operand) -> Operand:
    present = [o for o in ops if o is not None]
    result = lower.nary(present, _VARIADIC[ctx.op_type])
    if ctx.op_type == "Mean" and len(present) > 1:
        result = lower.scalar_op(result, "div", float(len(present)))
    return result


@ONNX.register("Clip", since_version=1)
def clip6(ctx: NodeContext, x: Operand) -> Operand:
    return lower.unary(x, "clip", lo=float(ctx.attr("min", -3.4028234663852886e38)),
                       hi=float(ctx.attr("max", 3.4028234663852886e38)))


@ONNX.register("Clip", since_version=11)
def clip11(ctx: NodeContext, x: Operand, *bounds: Operand | None) -> Operand:
    lo = ctx.constant_input(1, "Clip min")
    hi = ctx.constant_input(2, "Clip max")
    return lower.unary(x, "clip", lo=-math.inf if lo is None else float(lo), hi=math.inf if hi is None else float(hi))


@ONNX.register("Cast", since_version=1)
def cast(ctx: NodeContext, x: Operand) -> Operand:
    to = int(ctx.attr("to"))
    if to == 8:  # STRING
        raise ConversionError(f"OnnxCast in {ctx.node.name}: Casting to string is not implemented.")
    return lower_nn.cast(x, numpy_dtype(to))


@ONNX.register("CastLike", since_version=15)
def cast_like(ctx: NodeContext, x: Operand, like: Operand) -> Operand:
    dtype = ctx.input_dtype(1)
    return lower_nn.cast(x, dtype if dtype is not None else np.dtype(np.float32))


@ONNX.register("Where", since_version=9)
def where(ctx: NodeContext, condition: Operand, x: Operand, y: Operand) -> Operand:
    return lower_nn.where(condition, x, y)


@ONNX.register("Identity", since_version=1)
def identity(ctx: NodeContext, x: Operand) -> Operand:
    return x


@ONNX.register("Dropout", since_version=1, note="inference: the identity; the mask output is all true")
def dropout(ctx: NodeContext, x: Operand, *_: Operand | None) -> list[Operand]:
    training = ctx.constant_input(2, "Dropout training_mode")
    if (training is not None and bool(np.asarray(training).reshape(-1)[0])) or ctx.attr("is_test", 1) == 0 and ctx.opset < 7:
        raise ConversionError("Dropout in training mode is random; export the model for inference")
    if ctx.output_count < 2:
        return [x]
    if any(s is None for s in x.shape):
        raise ConversionError("the Dropout mask output needs known sizes")
    return [x, lower.constant(np.ones([int(s) for s in x.shape], dtype=bool))]  # type: ignore[arg-type]
