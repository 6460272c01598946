"""Neural-network ops: activations, BiasAdd, Softmax/LogSoftmax, FusedBatchNorm (inference), MatMul
family and Einsum."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from appkit.importers import lower
from appkit.importers.lower_nn import einsum, softmax
from appkit.importers.model import Operand
from appkit.importers.tensorflow.ops import TF, constant_input

ACTIVATIONS = {"Relu": "relu", "Relu6": "relu6", "Elu": "elu", "Selu": "selu", "Softplus": "softplus",
               "Softsign": "softsign"}


@TF.register(*ACTIVATIONS)
def activation(node: Any, inputs: Sequence[Operand]) -> Operand:
    return lower.unary(inputs[0], ACTIVATIONS[node.op])


@TF.register("LeakyRelu")
def leaky_relu(node: Any, inputs: Sequence[Operand]) -> Operand:
    return lower.unary(inputs[0], "leaky_relu", alpha=float(node.attr("alpha", 0.2)))


def _channel_operand(node: Any, values: Operand, rank: int) -> Operand:
    """A per-channel vector shaped to broadcast along the data format's channel axis."""
    if str(node.attr("data_format", "NHWC")).startswith("NC") and rank > 2:
        return lower.unsqueeze(values, list(range(1, rank - 1)))
    return values


@TF.register("BiasAdd", "BiasAddV1")
def bias_add(node: Any, inputs: Sequence[Operand]) -> Operand:
    x, bias = inputs
    return lower.binary(x, _channel_operand(node, bias, x.rank), "add")


@TF.register("Softmax", "LogSoftmax")
def softmax_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    return softmax(inputs[0], -1, log=node.op == "LogSoftmax")


@TF.register("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3")
def fused_batch_norm(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    x, scale, offset, mean, variance = inputs[:5]
    if node.attr("is_training", True) and not (mean.is_constant and mean.value is not None and
                                               np.asarray(mean.value).size):
        raise lower.ConversionError(f"{node.op} in {node.name}: only inference (is_training=false) is supported")
    epsilon = float(node.attr("epsilon", 0.0001))
    # y = (x - mean) * scale / sqrt(var + eps) + offset, with the per-channel factors folded at import
    factor = lower.binary(scale, lower.unary(lower.binary(variance, lower.constant(np.float32(epsilon)), "add"),
                                             "rsqrt"), "mul")
    shift = lower.binary(offset, lower.binary(mean, factor, "mul"), "sub")
    y = lower.binary(lower.binary(x, _channel_operand(node, factor, x.rank), "mul"),
                     _channel_operand(node, shift, x.rank), "add")
    return [y, mean, variance, mean, variance, mean]


def _swap_last(x: Operand, swap: bool) -> Operand:
    if not swap or x.rank < 2:
        return x
    perm = list(range(x.rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return lower.transpose(x, perm)


@TF.register("MatMul")
def matmul(node: Any, inputs: Sequence[Operand]) -> Operand:
    a = _swap_last(inputs[0], bool(node.attr("transpose_a", False)))
    b = _swap_last(inputs[1], bool(node.attr("transpose_b", False)))
    return lower.matmul(a, b)


@TF.register("BatchMatMul", "BatchMatMulV2", "BatchMatMulV3")
def batch_matmul(node: Any, inputs: Sequence[Operand]) -> Operand:
    a = _swap_last(inputs[0], bool(node.attr("adj_x", False)))
    b = _swap_last(inputs[1], bool(node.attr("adj_y", False)))
    return lower.matmul(a, b)


@TF.register("Einsum")
def einsum_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    if len(inputs) not in (1, 2):
        raise lower.ConversionError(f"Einsum in {node.name}: only one or two operands are supported")
    return einsum(str(node.attr("equation")), list(inputs))


@TF.register("OneHot")
def one_hot(node: Any, inputs: Sequence[Operand]) -> Operand:
    from appkit.importers.lower_nn import one_hot as lower_one_hot

    depth = int(constant_input(node, inputs, 1, "depth"))
    on = float(constant_input(node, inputs, 2, "on_value"))
    off = float(constant_input(node, inputs, 3, "off_value"))
    return lower_one_hot(inputs[0], depth, off, on, int(node.attr("axis", -1)))
