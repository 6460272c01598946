"""What an ONNX converter sees of its node: attributes with the spec's defaults, constant inputs, types.

Also the registry every ONNX converter registers in (`ONNX`), keyed by op type and since_version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from appkit.importers.lower import ConversionError
from appkit.importers.model import Operand
from appkit.importers.onnx.types import numpy_dtype
from appkit.importers.registry import OpRegistry

ONNX = OpRegistry("onnx")


@dataclass
class Expansion:
    """What a converter returns when its node stands for other nodes (an If with a constant
    condition): the importer converts these in its place; they write the node's outputs."""

    nodes: list[onnx.NodeProto]


class NodeContext:
    def __init__(self, node: onnx.NodeProto, opset: int, inputs: Sequence[Operand | None],
                 value_types: dict[str, int]):
        self.node = node
        self.opset = opset
        self.inputs = list(inputs)
        self._types = value_types
        self._attrs = {a.name: a for a in node.attribute}

    @property
    def op_type(self) -> str:
        return self.node.op_type

    def attr(self, name: str, default: Any = None) -> Any:
        a = self._attrs.get(name)
        if a is None:
            return default
        value = helper.get_attribute_value(a)
        if isinstance(value, bytes):
            return value.decode("utf-8")
        if isinstance(value, onnx.TensorProto):
            return numpy_helper.to_array(value)
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            return [v.decode("utf-8") for v in value]
        return value

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def input(self, i: int) -> Operand | None:
        """The i'th input, or None when it is absent or given as the empty name (optional inputs)."""
        if i >= len(self.inputs):
            return None
        return self.inputs[i]

    def required(self, i: int) -> Operand:
        op = self.input(i)
        if op is None:
            raise ConversionError(f"input {i} is missing")
        return op

    def constant_input(self, i: int, what: str) -> np.ndarray | None:
        """The value of an input that must be known at import time (shapes, axes...); None if absent."""
        op = self.input(i)
        if op is None:
            return None
        if not op.is_constant:
            raise ConversionError(f"{what} input must be a constant")
        return np.asarray(op.value)

    def ints(self, i: int, what: str) -> list[int] | None:
        value = self.constant_input(i, what)
        return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]

    def input_dtype(self, i: int) -> np.dtype | None:
        if i >= len(self.node.input) or not self.node.input[i]:
            return None
        t = self._types.get(self.node.input[i])
        if t is None:
            op = self.input(i)
            return None if op is None or op.value is None else np.asarray(op.value).dtype
        return numpy_dtype(t)

    def output_dtype(self, i: int = 0) -> np.dtype | None:
        t = self._types.get(self.node.output[i]) if i < len(self.node.output) else None
        return None if t is None else numpy_dtype(t)

    def is_integer_output(self, i: int = 0) -> bool:
        dtype = self.output_dtype(i)
        return dtype is not None and dtype.kind in "iu"

    @property
    def output_count(self) -> int:
        return len(self.node.output)
