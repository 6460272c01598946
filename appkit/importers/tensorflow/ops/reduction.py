"""Reductions over constant axes (Sum, Mean, Prod, Max, Min) and ArgMax/ArgMin."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from appkit.importers import lower
from appkit.importers.lower_nn import argmax
from appkit.importers.model import Operand
from appkit.importers.tensorflow.ops import TF, constant_input

AGGREGATORS = {"Sum": "sum", "Mean": "avg", "Prod": "prod", "Max": "max", "Min": "min"}


@TF.register(*AGGREGATORS)
def reduce(node: Any, inputs: Sequence[Operand]) -> Operand:
    axes = constant_input(node, inputs, 1, "Reduction indices").reshape(-1).astype(int).tolist()
    x = inputs[0]
    if not axes:
        return x
    return lower.reduce(x, axes, AGGREGATORS[node.op], keepdims=bool(node.attr("keep_dims", False)))


@TF.register("ArgMax", "ArgMin")
def arg_max(node: Any, inputs: Sequence[Operand]) -> Operand:
    axis = int(np.asarray(constant_input(node, inputs, 1, "dimension")).reshape(-1)[0])
    return argmax(inputs[0], axis, keepdims=False, minimum=node.op == "ArgMin")


@TF.register("All", "Any")
def all_any(node: Any, inputs: Sequence[Operand]) -> Operand:
    # booleans are 1/0: All is the minimum, Any the maximum
    axes = constant_input(node, inputs, 1, "Reduction indices").reshape(-1).astype(int).tolist()
    truth = lower.binary(inputs[0], lower.constant(np.float32(0)), "not_equal")
    return lower.reduce(truth, axes, "min" if node.op == "All" else "max",
                        keepdims=bool(node.attr("keep_dims", False)))


@TF.register("Cumsum")
def cumsum_op(node: Any, inputs: Sequence[Operand]) -> Operand:
    from appkit.importers.lower_nn import cumsum

    axis = int(constant_input(node, inputs, 1, "axis").reshape(-1)[0])
    return cumsum(inputs[0], axis, exclusive=bool(node.attr("exclusive", False)),
                  reverse=bool(node.attr("reverse", False)))
