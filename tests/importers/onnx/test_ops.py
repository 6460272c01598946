"""Per-op tests: one-node ONNX models (seeded random inputs, several shapes and attribute values),
imported and evaluated by appkit, compared with onnxruntime and with onnx.reference.ReferenceEvaluator.

Data inputs are graph inputs (so the converted expression, not constant folding, is tested); shape-like
inputs (axes, shapes, pads...) are initializers, as Vespa needs them at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from .harness import assert_close, evaluate_model, import_proto, run_onnxruntime, run_reference

F = np.float32


@dataclass
class Case:
    op: str
    inputs: list[Any]  # np arrays (graph inputs) or ("const", array) (initializers) or None (absent)
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 18
    outputs: int = 1
    id: str = ""
    reference: bool = True  # False where onnx.reference disagrees with the spec and onnxruntime

    def __str__(self) -> str:
        return self.id or self.op


def rnd(*shape: int, seed: int = 0, dtype=F, low: float = -2, high: float = 2) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).uniform(low, high, shape).astype(dtype)


def const(value) -> tuple[str, np.ndarray]:
    return ("const", np.asarray(value))


def ints(*values: int) -> tuple[str, np.ndarray]:
    return const(np.array(values, dtype=np.int64))


CASES: list[Case] = []


def case(op: str, *inputs: Any, opset: int = 18, outputs: int = 1, id: str = "", reference: bool = True,
         **attrs: Any) -> None:
    CASES.append(Case(op, list(inputs), attrs, opset, outputs, id or f"{op}-{len(CASES)}", reference))


# --- elementwise -----------------------------------------------------------------------------------
for name in ("Abs", "Ceil", "Exp", "Floor", "Neg", "Relu", "Sigmoid", "Tanh", "Sin", "Cos", "Atan", "Erf",
             "Softplus", "Softsign", "Sign", "Round", "Sinh", "Cosh"):
    case(name, rnd(2, 3, 4))
case("Log", rnd(3, 4, low=0.1, high=3))
case("Sqrt", rnd(5, low=0.0, high=4))
case("Reciprocal", rnd(2, 3, low=0.5, high=2))
case("Asin", rnd(7, low=-0.99, high=0.99))
case("Acos", rnd(7, low=-0.99, high=0.99))
case("Tan", rnd(7, low=-1.2, high=1.2))
case("Round", np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6], dtype=F), id="Round-half-even")
for alpha in (0.5, 1.0):
    case("Elu", rnd(3, 4), alpha=alpha)
    case("LeakyRelu", rnd(3, 4), alpha=alpha / 10)
    case("Celu", rnd(3, 4), alpha=alpha)
case("Selu", rnd(3, 4))
case("Selu", rnd(3, 4), alpha=2.0, gamma=3.0)
case("HardSigmoid", rnd(3, 4, low=-5, high=5))
case("HardSigmoid", rnd(3, 4, low=-5, high=5), alpha=0.3, beta=0.4)
case("HardSwish", rnd(3, 4, low=-5, high=5))
case("Gelu", rnd(3, 4), opset=20)
case("Gelu", rnd(3, 4), opset=20, approximate="tanh")
case("ThresholdedRelu", rnd(3, 4), alpha=0.5)
case("Clip", rnd(3, 4), const(F(-0.5)), const(F(0.7)), opset=13)
case("Clip", rnd(3, 4), None, const(F(0.7)), opset=13, id="Clip-max-only")
case("Clip", rnd(3, 4), min=-1.0, max=1.0, opset=6)
for op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
    case(op, rnd(2, 3, 4), rnd(4, seed=1))
    case(op, rnd(2, 1, 4), rnd(3, 1, seed=1), id=f"{op}-two-way-broadcast")
case("Add", rnd(2, 3), const(rnd(2, 3, seed=3)), id="Add-constant")
case("Mul", rnd(1, 4), rnd(3, 1, seed=2), id="Mul-outer")
case("Pow", rnd(3, 4, low=0.5, high=2), rnd(4, seed=1, low=-1, high=2))
case("PRelu", rnd(2, 3, 4), const(rnd(3, 1, seed=4)))
for op in ("Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"):
    case(op, rnd(3, 4).round(), rnd(4, seed=1).round())
for op in ("And", "Or", "Xor"):
    case(op, rnd(3, 4) > 0, rnd(3, 4, seed=5) > 0)
case("Not", rnd(3, 4) > 0)
_ints = np.random.default_rng(9).integers(-100, 100, (3, 4)).astype(np.int32)
for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
    case(op, _ints, _ints[::-1].copy(), opset=18)
case("BitwiseNot", _ints, opset=18)
case("BitShift", np.array([16, 4, 255], dtype=np.uint8), np.array([1, 2, 3], dtype=np.uint8), direction="LEFT",
     opset=11)
case("BitShift", np.array([16, 4, 255], dtype=np.uint32), np.array([1, 2, 3], dtype=np.uint32), direction="RIGHT",
     opset=11, id="BitShift-right")
for op in ("Sum", "Mean", "Max", "Min"):
    case(op, rnd(2, 3), rnd(3, seed=1), rnd(2, 1, seed=2), id=f"{op}-variadic")
case("Where", rnd(3, 4) > 0, rnd(3, 4, seed=1), rnd(4, seed=2))
case("Mod", rnd(3, 4, low=-5, high=5).round(), const(np.array([3, -2, 2, 4], dtype=F)), fmod=1)
case("Mod", np.array([[5, -5, 7, -7]], dtype=np.int64), const(np.array([3, 3, -2, -2], dtype=np.int64)), id="Mod-int")
case("Cast", rnd(3, 4), to=TensorProto.INT64, id="Cast-to-int64")
case("Cast", rnd(3, 4), to=TensorProto.DOUBLE, id="Cast-to-double")
case("Cast", rnd(3, 4), to=TensorProto.BOOL, id="Cast-to-bool")
case("Identity", rnd(2, 3))
case("Dropout", rnd(2, 3), opset=13)
case("Div", np.array([7, -7, 9], dtype=np.int64), np.array([2, 2, -4], dtype=np.int64), id="Div-int-truncates")

# --- matrix products and normalisation -------------------------------------------------------------
case("MatMul", rnd(3, 4), rnd(4, 5, seed=1))
case("MatMul", rnd(3, 4), const(rnd(4, 5, seed=1)), id="MatMul-constant-weights")
case("MatMul", rnd(2, 3, 4), rnd(4, 5, seed=1), id="MatMul-batch-by-2d")
case("MatMul", rnd(2, 1, 3, 4), rnd(5, 4, 6, seed=1), id="MatMul-broadcast-batch")
case("MatMul", rnd(4), rnd(4, 5, seed=1), id="MatMul-vector-left")
case("MatMul", rnd(3, 4), rnd(4, seed=1), id="MatMul-vector-right")
case("MatMul", rnd(4), rnd(4, seed=1), id="MatMul-dot")
case("MatMul", const(rnd(3, 4)), rnd(2, 4, 5, seed=1), id="MatMul-constant-left")
for ta, tb in ((0, 0), (1, 0), (0, 1), (1, 1)):
    a = rnd(4, 3) if ta else rnd(3, 4)
    b = rnd(5, 4, seed=1) if tb else rnd(4, 5, seed=1)
    case("Gemm", a, const(b), const(rnd(5, seed=2)), transA=ta, transB=tb, alpha=0.5, beta=2.0, id=f"Gemm-{ta}{tb}")
case("Gemm", rnd(3, 4), rnd(4, 5, seed=1), id="Gemm-no-bias")
case("Einsum", rnd(2, 3, 4), rnd(2, 4, 5, seed=1), equation="bij,bjk->bik", opset=12)
case("Einsum", rnd(3, 4), rnd(5, 4, seed=1), equation="ij,kj->ik", opset=12)
case("Einsum", rnd(3, 4), equation="ij->ji", opset=12)
case("Einsum", rnd(3, 4, 5), equation="ijk->j", opset=12)
case("Einsum", rnd(3), rnd(4, seed=1), equation="i,j->ij", opset=12)
case("Einsum", rnd(2, 3, 4, 5), rnd(2, 3, 5, 6, seed=1), equation="...ij,...jk->...ik", opset=12)
case("Einsum", rnd(3, 4, 5), rnd(5, 2, seed=1), equation="...ij,jk", opset=12)  # implicit output
case("Einsum", rnd(2, 3, 4), rnd(2, 3, 4, seed=1), equation="...j,...j->...", opset=12)
case("Einsum", rnd(2, 3, 4), equation="i...->...i", opset=12)
case("BatchNormalization", rnd(2, 3, 4, 5), const(rnd(3, seed=1)), const(rnd(3, seed=2)), const(rnd(3, seed=3)),
     const(rnd(3, seed=4, low=0.1, high=2)), epsilon=1e-3, opset=15)
case("BatchNormalization", rnd(4, 3), const(rnd(3, seed=1)), const(rnd(3, seed=2)), const(rnd(3, seed=3)),
     const(rnd(3, seed=4, low=0.1, high=2)), opset=15, id="BatchNormalization-2d")
case("LayerNormalization", rnd(2, 3, 4), const(rnd(4, seed=1)), const(rnd(4, seed=2)), opset=17)
case("LayerNormalization", rnd(2, 3, 4), const(rnd(3, 4, seed=1)), axis=1, epsilon=1e-3, opset=17, id="LayerNorm-axis1")

# --- reductions, softmax ---------------------------------------------------------------------------
for op in ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceSumSquare", "ReduceLogSumExp"):
    case(op, rnd(2, 3, 4, low=0.1), ints(1), keepdims=1, id=f"{op}-axis1")
    case(op, rnd(2, 3, 4, low=0.1), ints(-1, 0), keepdims=0, id=f"{op}-two-axes")
    case(op, rnd(2, 3, 4, low=0.1), keepdims=0, id=f"{op}-all")
case("ReduceLogSum", rnd(2, 3, low=0.1), ints(0))
case("ReduceSum", rnd(2, 3), ints(1), opset=13, id="ReduceSum-13")
case("ReduceMean", rnd(2, 3, 4), axes=[2], keepdims=0, opset=13, id="ReduceMean-attribute")
for axis in (0, 1, -1):
    case("ArgMax", rnd(3, 4, 5), axis=axis, keepdims=1)
    case("ArgMin", rnd(3, 4, 5), axis=axis, keepdims=0)
case("ArgMax", np.array([[1, 3, 3], [2, 2, 1]], dtype=F), axis=1, select_last_index=1, id="ArgMax-last")
for axis in (0, 1, -1):
    case("Softmax", rnd(2, 3, 4), axis=axis, opset=13)
    case("LogSoftmax", rnd(2, 3, 4), axis=axis, opset=13)
# before opset 13 softmax normalises over all axes from `axis` on; onnx.reference (1.23) normalises over
# `axis` alone, so this case is compared with onnxruntime only
case("Softmax", rnd(2, 3, 4), axis=1, opset=11, id="Softmax-11-coerced", reference=False)
case("CumSum", rnd(3, 4), const(np.array(1, dtype=np.int64)), opset=14)
case("CumSum", rnd(3, 4), const(np.array(0, dtype=np.int64)), exclusive=1, reverse=1, opset=14, id="CumSum-exclusive-reverse")

# --- shape ops -------------------------------------------------------------------------------------
case("Reshape", rnd(2, 3, 4), ints(4, 6))
case("Reshape", rnd(2, 3, 4), ints(0, -1), id="Reshape-copy-infer")
case("Reshape", rnd(2, 3, 4), ints(2, 1, 12), id="Reshape-unit-axis")
case("Reshape", rnd(2, 3, 1), ints(3, 2), id="Reshape-relayout")
case("Flatten", rnd(2, 3, 4), axis=1)
case("Flatten", rnd(2, 3, 4), axis=0, id="Flatten-0")
case("Flatten", rnd(2, 3, 4), axis=2, id="Flatten-2")
case("Transpose", rnd(2, 3, 4), perm=[2, 0, 1])
case("Transpose", rnd(2, 3), id="Transpose-default")
case("Squeeze", rnd(2, 1, 4, 1), ints(1, 3))
case("Squeeze", rnd(2, 1, 4, 1), axes=[1], opset=11, id="Squeeze-attribute")
case("Unsqueeze", rnd(2, 4), ints(0, 3))
case("Concat", rnd(2, 3), rnd(2, 5, seed=1), axis=1)
case("Concat", rnd(2, 3), const(rnd(1, 3, seed=1)), rnd(3, 3, seed=2), axis=0, id="Concat-three")
case("Split", rnd(6, 4), ints(2, 4), axis=0, outputs=2)
case("Split", rnd(4, 6), axis=1, outputs=3, opset=13, id="Split-equal")
case("Split", rnd(4, 7), axis=1, num_outputs=3, outputs=3, id="Split-num-outputs")
case("Slice", rnd(5, 6), ints(1, 0), ints(4, 6), ints(0, 1), ints(1, 2))
case("Slice", rnd(5, 6), ints(-1), ints(-6), ints(1), ints(-2), id="Slice-negative-step")
case("Slice", rnd(5, 6), ints(2), ints(100), id="Slice-clamped")
case("Gather", rnd(5, 3), ints(0, 2, 4, -1), axis=0)
case("Gather", rnd(3, 5), const(np.array([[1, 2], [4, 0]], dtype=np.int64)), axis=1, id="Gather-2d-indices")
case("Gather", rnd(5, 3), np.array([[3, 1], [0, -1]], dtype=np.int64), axis=0, id="Gather-runtime-indices")
case("Tile", rnd(2, 3), ints(2, 3))
case("Expand", rnd(3, 1), ints(2, 3, 4))
case("Pad", rnd(3, 4), ints(1, 0, 2, 1), const(F(1.5)), id="Pad-constant")
# onnx.reference pads with numpy.pad, which rejects negative (cropping) pads: onnxruntime only
case("Pad", rnd(3, 4), ints(0, -1, 0, 2), id="Pad-crop", reference=False)
for mode in ("edge", "reflect", "wrap"):
    case("Pad", rnd(3, 4), ints(1, 2, 2, 1), mode=mode, id=f"Pad-{mode}", opset=19)
case("Trilu", rnd(4, 5), upper=1, opset=14)
case("Trilu", rnd(2, 4, 5), ints(-1), upper=0, opset=14, id="Trilu-lower-k")
case("OneHot", np.array([0, 2, -1, 1], dtype=np.int64), const(np.array(3, dtype=np.int64)), const(np.array([0, 5], dtype=F)),
     axis=-1, opset=11)
case("OneHot", np.array([[0, 2], [1, 1]], dtype=np.int64), const(np.array(4, dtype=np.int64)), const(np.array([-1, 1], dtype=F)), axis=0,
     opset=11, id="OneHot-axis0")

# --- convolution and pooling -----------------------------------------------------------------------
case("Conv", rnd(1, 2, 6, 7), const(rnd(3, 2, 3, 3, seed=1)), const(rnd(3, seed=2)), id="Conv-2d")
case("Conv", rnd(2, 2, 7, 7), const(rnd(4, 2, 3, 2, seed=1)), strides=[2, 1], pads=[1, 0, 1, 1], dilations=[1, 2],
     id="Conv-strides-pads-dilations")
case("Conv", rnd(1, 3, 9), const(rnd(2, 3, 3, seed=1)), auto_pad="SAME_UPPER", strides=[2], id="Conv-1d-same")
case("Conv", rnd(1, 3, 5, 5), const(rnd(3, 1, 3, 3, seed=1)), group=3, pads=[1, 1, 1, 1], id="Conv-depthwise")
case("Conv", rnd(1, 2, 5, 5), rnd(2, 2, 3, 3, seed=1), id="Conv-runtime-weights")
case("Conv", rnd(1, 4, 5, 5), const(rnd(6, 2, 3, 3, seed=1)), const(rnd(6, seed=2)), group=2, id="Conv-grouped")
case("ConvTranspose", rnd(1, 2, 4, 5), const(rnd(2, 3, 3, 3, seed=1)), const(rnd(3, seed=2)), strides=[2, 2],
     pads=[1, 0, 1, 1], output_padding=[1, 0], id="ConvTranspose-strides")
# onnx.reference (1.23) cannot run a grouped 1-D ConvTranspose: onnxruntime only
case("ConvTranspose", rnd(1, 4, 3), const(rnd(4, 1, 2, seed=1)), group=2, dilations=[2], id="ConvTranspose-grouped-1d",
     reference=False)
case("MaxPool", rnd(1, 2, 6, 6), kernel_shape=[2, 2], strides=[2, 2])
case("MaxPool", rnd(1, 2, 5, 6), kernel_shape=[3, 2], pads=[1, 1, 1, 0], dilations=[1, 2], id="MaxPool-pads-dilations")
case("MaxPool", rnd(1, 1, 7, 7), kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, id="MaxPool-ceil")
case("AveragePool", rnd(1, 2, 6, 6), kernel_shape=[3, 3], pads=[1, 1, 1, 1], id="AveragePool-exclude-pad")
case("AveragePool", rnd(1, 2, 6, 6), kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1,
     id="AveragePool-include-pad")
case("AveragePool", rnd(1, 2, 8), kernel_shape=[3], strides=[2], auto_pad="SAME_LOWER", id="AveragePool-1d-same")
case("LpPool", rnd(1, 2, 6, 6), kernel_shape=[2, 3], strides=[2, 1], p=3, opset=18)
# onnx.reference (1.23) sums a different channel window than the spec and onnxruntime (and numpy by hand)
case("LRN", rnd(2, 5, 3, 3), size=3, alpha=0.01, beta=0.5, bias=2.0, opset=13, reference=False)
case("GlobalAveragePool", rnd(2, 3, 4, 5))
case("GlobalMaxPool", rnd(2, 3, 4, 5))
case("InstanceNormalization", rnd(2, 3, 4, 5), const(rnd(3, seed=1)), const(rnd(3, seed=2)), epsilon=1e-3)
# onnx.reference (1.23) computes the L1 norm without abs(): compared with onnxruntime only
case("LpNormalization", rnd(3, 4), axis=1, p=1, reference=False)
case("LpNormalization", rnd(3, 4), axis=0, p=2, id="LpNormalization-l2")
case("Hardmax", rnd(3, 4, 5), axis=1, opset=13)
case("GatherElements", rnd(3, 4), np.array([[0, 2, 1, 2], [2, 0, -1, 1], [1, 1, 0, 0]], dtype=np.int64), axis=0)
case("GatherElements", rnd(3, 4), const(np.array([[3, 0], [1, 1], [0, 2]], dtype=np.int64)), axis=1,
     id="GatherElements-fewer-constant")
case("GatherND", rnd(3, 4, 2), np.array([[0, 1], [2, -1]], dtype=np.int64), opset=13, id="GatherND-runtime-indices")
case("GatherND", rnd(3, 4), const(np.array([[[1]], [[2]]], dtype=np.int64)), opset=13, id="GatherND-rows")
case("ScatterND", rnd(4, 3), const(np.array([[1], [3]], dtype=np.int64)), rnd(2, 3, seed=1), opset=13)
case("ScatterND", rnd(4, 3), const(np.array([[1, 2], [1, 2]], dtype=np.int64)), rnd(2, seed=1), reduction="add",
     opset=16, id="ScatterND-add-duplicates")
case("ScatterElements", rnd(3, 3), const(np.array([[1, 0, 2], [0, 2, 1]], dtype=np.int64)), rnd(2, 3, seed=1),
     axis=0, opset=13)
for reduction in ("mul", "max", "min"):
    case("ScatterElements", rnd(1, 5), const(np.array([[1, 3, 1]], dtype=np.int64)), rnd(1, 3, seed=2), axis=1,
         reduction=reduction, opset=18, id=f"ScatterElements-{reduction}")
case("IsInf", np.array([1, np.inf, -np.inf, np.nan, 0], dtype=F), opset=10)
case("IsInf", np.array([1, np.inf, -np.inf, np.nan, 0], dtype=F), detect_negative=0, opset=10, id="IsInf-positive")
for name in ("Acosh",):
    case(name, rnd(6, low=1.1, high=3), opset=9)
case("Asinh", rnd(6), opset=9)
case("Atanh", rnd(6, low=-0.9, high=0.9), opset=9)

case("TopK", rnd(3, 6), ints(3), axis=1, outputs=2, opset=11)
case("TopK", rnd(5, 3), ints(2), axis=0, largest=0, outputs=2, opset=11, id="TopK-smallest")
case("TopK", np.array([[1, 3, 3, 2, 3]], dtype=F), ints(2), outputs=2, opset=11, id="TopK-ties")
case("TopK", rnd(2, 4), ints(1), outputs=2, opset=11, id="TopK-1")

case("Resize", rnd(1, 2, 3, 4), None, const(np.array([1, 1, 2, 1.5], dtype=F)), mode="nearest", id="Resize-nearest")
case("Resize", rnd(1, 2, 3, 4), None, None, ints(1, 2, 5, 7), mode="linear", id="Resize-linear-sizes")
case("Resize", rnd(1, 2, 4, 6), None, None, ints(2, 9), mode="linear", axes=[2, 3], keep_aspect_ratio_policy="not_larger",
     opset=18, id="Resize-keep-aspect-not-larger")  # scale min(2/4, 9/6) = 0.5: 2 x 3
case("Resize", rnd(1, 2, 4, 6), None, None, ints(8, 9), mode="nearest", axes=[2, 3],
     keep_aspect_ratio_policy="not_smaller", opset=18, id="Resize-keep-aspect-not-smaller")  # scale 2: 8 x 12
case("Resize", rnd(1, 1, 4, 4), None, const(np.array([1, 1, 0.5, 0.75], dtype=F)), mode="cubic",
     coordinate_transformation_mode="align_corners", id="Resize-cubic-down")
case("Upsample", rnd(1, 2, 3, 3), const(np.array([1, 1, 2, 2], dtype=F)), mode="nearest", opset=9)

# --- recurrent (unrolled): X [T, B, I], W [dirs, gates*H, I], R [dirs, gates*H, H], B [dirs, 2*gates*H]
def _recurrent(op: str, gates: int, dirs: int = 1, hidden: int = 3, reference: bool = True, **attrs: Any) -> None:
    t, b, i = 4, 2, 5
    direction = "bidirectional" if dirs == 2 else attrs.pop("direction", "forward")
    case(op, rnd(t, b, i), const(rnd(dirs, gates * hidden, i, seed=1, low=-0.5, high=0.5)),
         const(rnd(dirs, gates * hidden, hidden, seed=2, low=-0.5, high=0.5)),
         const(rnd(dirs, 2 * gates * hidden, seed=3, low=-0.5, high=0.5)), None, rnd(dirs, b, hidden, seed=4),
         hidden_size=hidden, direction=direction, outputs=2, opset=14, reference=reference,
         id=f"{op}-{direction}" + "".join(f"-{k}" for k in attrs), **attrs)


_recurrent("RNN", 1)
_recurrent("RNN", 1, dirs=2)
_recurrent("GRU", 3)
_recurrent("GRU", 3, linear_before_reset=1)
_recurrent("GRU", 3, dirs=2)
_recurrent("LSTM", 4)
_recurrent("LSTM", 4, direction="reverse")
# onnx.reference (1.23) differs from onnxruntime for a bidirectional LSTM with clip: onnxruntime only
_recurrent("LSTM", 4, dirs=2, clip=0.5, reference=False)


def build(c: Case):
    graph_inputs, initializers, node_inputs, feed = [], [], [], {}
    for i, value in enumerate(c.inputs):
        name = f"in{i}"
        if value is None:
            node_inputs.append("")
            continue
        node_inputs.append(name)
        if isinstance(value, tuple) and value[0] == "const":
            initializers.append(numpy_helper.from_array(np.asarray(value[1]), name))
            continue
        arr = np.asarray(value)
        elem = helper.np_dtype_to_tensor_dtype(arr.dtype)
        graph_inputs.append(helper.make_tensor_value_info(name, elem, list(arr.shape)))
        feed[name] = arr
    outputs = [f"out{k}" for k in range(c.outputs)]
    node = helper.make_node(c.op, node_inputs, outputs, name="node", **c.attrs)
    graph = helper.make_graph([node], "g", graph_inputs, [helper.make_empty_tensor_value_info(o) for o in outputs],
                              initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", c.opset)], ir_version=8)
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    del model.graph.output[:]
    model.graph.output.extend(inferred.graph.output)
    return model, feed


@pytest.mark.parametrize("c", CASES, ids=str)
def test_op_matches_onnxruntime_and_reference(c: Case, tmp_path):
    model, feed = build(c)
    imported, path = import_proto(model, tmp_path)
    errors = [str(d) for d in imported.diagnostics]
    assert not errors, errors
    ours = evaluate_model(imported, feed)
    runtime = run_onnxruntime(path, feed)
    reference = run_reference(model, feed) if c.reference else runtime
    for name in runtime:
        expected = np.asarray(reference[name])
        tol = 1e-5 if expected.dtype != np.float64 else 1e-9
        if c.reference:
            assert_close(ours[name], expected, rtol=tol, atol=1e-5, what=f"{c} vs ReferenceEvaluator")
        assert_close(ours[name], runtime[name], rtol=tol, atol=1e-5, what=f"{c} vs onnxruntime")
