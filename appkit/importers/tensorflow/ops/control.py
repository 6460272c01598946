"""Pass-through, placeholder and control-flow ops: Identity and friends, PlaceholderWithDefault, Switch/Merge.

Switch and Merge are resolved at import time by their constant predicate (the importer converts only
the live branch), so dropout's and batch norm's `training` branches vanish.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from appkit.importers import lower
from appkit.importers.lower import ConversionError
from appkit.importers.model import Operand
from appkit.importers.tensorflow.ops import TF, constant_input


@TF.register("Identity", "StopGradient", "Snapshot", "PreventGradient", "ReadVariableOp", "EnsureShape",
             "CheckNumerics", "PlaceholderWithDefault")
def identity(node: Any, inputs: Sequence[Operand]) -> Operand:
    # PlaceholderWithDefault that is not a signature input is its constant default (Vespa's rule).
    return inputs[0]


@TF.register("IdentityN")
def identity_n(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    return list(inputs)


@TF.register("Placeholder")
def placeholder(node: Any, inputs: Sequence[Operand]) -> Operand:
    raise ConversionError(f"Placeholder '{node.name}' is needed by an output but is not an input of its "
                          "signature; add it to the signature's inputs")


@TF.register("Switch", "RefSwitch")
def switch(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    constant_input(node, inputs, 1, "predicate")  # Vespa: "Switch in <n>: predicate must be a constant"
    return [inputs[0], inputs[0]]


@TF.register("Merge", "RefMerge")
def merge(node: Any, inputs: Sequence[Operand]) -> list[Operand]:
    # The importer passes only the live input; the second output is its index (unused in practice).
    return [inputs[0], lower.constant(np.array(0, dtype=np.int32))]


@TF.register("Const", "HostConst", "VariableV2", "Variable", "VarHandleOp",
             note="values: Const from the graph, variables from the checkpoint (the importer reads them)")
def value_node(node: Any, inputs: Sequence[Operand]) -> Operand:
    # The importer turns these into constants itself (it names them and records variables); listed
    # here so the registry, `appkit ops` and the docs show them as supported.
    raise ConversionError(f"{node.op} node '{node.name}' is read by the importer, not converted")
