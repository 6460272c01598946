"""TensorFlow op converters, one module per op family, in one registry keyed by TensorFlow op type.

A converter is `fn(node, inputs) -> Operand | list[Operand]`: `node` gives the op's attributes
(`node.attr("T")`), `inputs` the converted data inputs; multi-output ops return one Operand per output.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from appkit.importers.lower import ConversionError
from appkit.importers.model import Operand
from appkit.importers.registry import OpRegistry

TF = OpRegistry("tensorflow")


def constant_input(node: Any, inputs: Sequence[Operand], index: int, what: str) -> np.ndarray:
    """The import-time value of an input that must be known (shapes, axes...), or a ConversionError."""
    if index >= len(inputs):
        raise ConversionError(f"{node.op} in {node.name}: missing input {index} ({what})")
    value = inputs[index].value
    if value is None:
        raise ConversionError(f"{node.op} in {node.name}: {what} must be a constant.")
    return np.asarray(value)


def _load() -> None:
    # Importing the family modules registers their converters.
    from appkit.importers.tensorflow.ops import array, control, conv, math, nn, reduction  # noqa: F401


_load()
