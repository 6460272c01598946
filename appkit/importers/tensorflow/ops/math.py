"""Elementwise math: unary maps, broadcasting binary joins, comparisons, logic, AddN, Select, Cast."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from appkit.importers import lower
from appkit.importers.lower_nn import cast, where
from appkit.importers.model import Operand
from appkit.importers.tensorflow.ops import TF

UNARY = {
    "Abs": "abs", "Acos": "acos", "Asin": "asin", "Atan": "atan", "Ceil": "ceil", "Cos": "cos", "Cosh": "cosh",
    "Exp": "exp", "Floor": "floor", "Log": "log", "Neg": "neg", "Reciprocal": "reciprocal", "Inv": "reciprocal",
    "Rsqrt": "rsqrt", "Sigmoid": "sigmoid", "Sin": "sin", "Sinh": "sinh", "Square": "square", "Sqrt": "sqrt",
    "Tan": "tan", "Tanh": "tanh", "Erf": "erf", "Log1p": "log1p", "Expm1": "expm1", "Sign": "sign",
    "Round": "round", "Rint": "round", "LogicalNot": "not", "IsNan": "is_nan",
}
BINARY = {
    "Add": "add", "AddV2": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "RealDiv": "div",
    "Maximum": "max", "Minimum": "min", "Pow": "pow", "SquaredDifference": "squared_difference",
    "Equal": "equal", "NotEqual": "not_equal", "Greater": "greater", "GreaterEqual": "greater_equal",
    "Less": "less", "LessEqual": "less_equal", "LogicalAnd": "and", "LogicalOr": "or", "FloorMod": "mod",
    "Atan2": "atan2",
}
# TF DataType -> numpy dtype, for Cast and typed constants
NUMPY_OF = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
            10: np.bool_, 17: np.uint16, 19: np.float16, 14: np.float32, 22: np.uint32, 23: np.uint64}


@TF.register(*UNARY)
def unary(node: Any, inputs: Sequence[Operand]) -> Operand:
    return lower.unary(inputs[0], UNARY[node.op])


@TF.register(*BINARY)
def binary(node: Any, inputs: Sequence[Operand]) -> Operand:
    return lower.binary(inputs[0], inputs[1], BINARY[node.op])


@TF.register("FloorDiv")
def floor_div(node: Any, inputs: Sequence[Operand]) -> Operand:
    a, b = inputs
    if a.is_constant and b.is_constant:
        return lower.folded(np.floor_divide(np.asarray(a.value), np.asarray(b.value)))
    return lower.unary(lower.binary(a, b, "div"), "floor")


@TF.register("AddN")
def add_n(node: Any, inputs: Sequence[Operand]) -> Operand:
    return lower.nary(list(inputs), "add")


@TF.register("Select", "SelectV2")
def select(node: Any, inputs: Sequence[Operand]) -> Operand:
    condition, x, y = inputs
    if node.op == "Select" and condition.rank == 1 and x.rank > 1:
        # v1 Select with a vector condition picks whole rows of x and y
        condition = lower.unsqueeze(condition, list(range(1, x.rank)))
    return where(condition, x, y)


@TF.register("Cast")
def cast_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    target = int(node.attr("DstT", 1))
    if target not in NUMPY_OF:
        raise lower.ConversionError(f"Cast in {node.name}: casting to this type is not supported")
    return cast(inputs[0], np.dtype(NUMPY_OF[target]))


@TF.register("Erfc")
def erfc(node: Any, inputs: Sequence[Operand]) -> Operand:
    # 1 - erf(x): Keras' exact gelu writes it
    return lower.binary(lower.constant(np.float32(1.0)), lower.unary(inputs[0], "erf"), "sub")


@TF.register("ClipByValue")
def clip_by_value(node: Any, inputs: Sequence[Operand]) -> Operand:
    x, low, high = inputs
    return lower.binary(lower.binary(x, low, "max"), high, "min")


@TF.register("DivNoNan")
def div_no_nan(node: Any, inputs: Sequence[Operand]) -> Operand:
    a, b = inputs
    zero = lower.binary(b, lower.constant(np.float32(0)), "equal")
    return where(zero, lower.constant(np.float32(0)), lower.binary(a, b, "div"))
