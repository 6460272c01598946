"""What an import produces (`ImportedModel`) and what flows between op converters (`Operand`).

Shared by the TensorFlow and ONNX importers, the validator (required inputs and their types), the
bundle compiler (functions and constants) and `appkit models`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appkit.diagnostics import Diagnostic
from appkit.expr import ir
from appkit.tensor.type import CellType, Dimension, TensorType


@dataclass(frozen=True)
class Operand:
    """A value between converted ops: an expression plus its framework-ordered shape.

    `dims[i]` is the Vespa dimension name of framework axis i, so the framework's positional
    semantics (broadcasting, axes attributes) can be lowered to Vespa's named ones. `value` is the
    numpy array when the operand is known at import time; ops on known operands are folded.
    """

    expr: ir.Expr
    dims: tuple[str, ...]
    shape: tuple[int | None, ...]
    cell_type: CellType = CellType.FLOAT
    value: Any = None  # numpy.ndarray in framework axis order, or None

    @property
    def rank(self) -> int:
        return len(self.dims)

    @property
    def is_constant(self) -> bool:
        return self.value is not None

    @property
    def type(self) -> TensorType:
        # an empty name is a size-1 axis the expression does not have (lower.UNIT)
        return TensorType([Dimension(n, s) for n, s in zip(self.dims, self.shape) if n], self.cell_type)


@dataclass(frozen=True)
class ModelInput:
    """An input the package must feed: a function named `name` returning a value assignable to `type`."""

    name: str  # the function the rank profile must define (sanitised placeholder / graph input name)
    framework_name: str
    type: TensorType


@dataclass(frozen=True)
class ModelOutput:
    signature: str
    key: str  # the signature's output key (TF) or the graph output name (ONNX)
    type: TensorType

    @property
    def expression_name(self) -> str:
        return f"{self.signature}.{self.key}"


@dataclass(frozen=True)
class VariableMapping:
    """A model variable (TF Variable / ONNX initializer) stored as a constant, and the function name
    that overrides it (the name in the `Importing TensorFlow variable` log line)."""

    framework_name: str
    vespa_name: str
    type: TensorType
    ordered_type: str  # the type with dimensions in framework order, e.g. tensor(d2[784],d1[10])
    size: int

    def log_line(self, framework: str = "TensorFlow") -> str:
        return f"Importing {framework} variable {self.framework_name} as {self.vespa_name} of type {self.ordered_type}"


@dataclass
class ImportedModel:
    name: str  # e.g. mnist_softmax_saved
    path: str  # relative to the package's models/ directory
    format: str  # "tensorflow" | "onnx"
    signatures: dict[str, tuple[str, ...]] = field(default_factory=dict)  # signature -> output keys
    inputs: dict[str, ModelInput] = field(default_factory=dict)  # required function name -> input
    outputs: dict[str, ModelOutput] = field(default_factory=dict)  # "sig.key" -> output
    expressions: dict[str, ir.Expr] = field(default_factory=dict)  # "sig.key" -> expression
    functions: dict[str, ir.Expr] = field(default_factory=dict)  # imported_ml_function_* -> expression
    function_types: dict[str, TensorType] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)  # constant name -> appkit.tensor.value.Tensor
    variables: list[VariableMapping] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        from appkit.diagnostics import Severity

        return not any(d.level is Severity.ERROR for d in self.diagnostics)
