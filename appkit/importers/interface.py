"""A model's interface (inputs, outputs, variables, import problems) as plain data, and the
resolution of `tensorflow(...)`/`onnx(...)`/`onnx_vespa(...)` features against it (Vespa's rules).

The interface is what validation needs; it is cached as JSON so a warm `appkit validate` neither
re-imports models nor loads numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.source import Span
from appkit.tensor.type import TensorType

AK480 = rule("AK480", "model feature names no model of the package",
             example='tensorflow("nosuch/saved") with no models/nosuch/saved',
             fix="name a model directory under models/ (the path below models/), e.g. tensorflow(\"my_model/saved\")")
AK481 = rule("AK481", "model feature names no signature or output of the model",
             example='tensorflow("m/saved", "serving_default", "x") where the output is y',
             fix="use one of the available expressions the message lists")
AK482 = rule("AK482", "model feature has bad arguments",
             example="tensorflow(m, a, b, c)", fix='pass the model path as a quoted string, then signature and output')


@dataclass(frozen=True)
class InterfaceInput:
    name: str
    framework_name: str
    type: TensorType


@dataclass(frozen=True)
class InterfaceVariable:
    framework_name: str
    vespa_name: str
    type: TensorType
    ordered_type: str
    size: int


@dataclass
class ModelInterface:
    name: str
    path: str
    format: str
    signatures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    inputs: dict[str, InterfaceInput] = field(default_factory=dict)
    outputs: dict[str, TensorType] = field(default_factory=dict)  # "sig.key" -> type
    variables: list[InterfaceVariable] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @staticmethod
    def of(model: Any) -> "ModelInterface":
        """From an ImportedModel."""
        return ModelInterface(
            model.name, model.path, model.format, {k: tuple(v) for k, v in model.signatures.items()},
            {n: InterfaceInput(i.name, i.framework_name, i.type) for n, i in model.inputs.items()},
            {n: o.type for n, o in model.outputs.items()},
            [InterfaceVariable(v.framework_name, v.vespa_name, v.type, v.ordered_type, v.size) for v in model.variables],
            list(model.diagnostics))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "path": self.path, "format": self.format,
            "signatures": {k: list(v) for k, v in self.signatures.items()},
            "inputs": {n: [i.framework_name, str(i.type)] for n, i in self.inputs.items()},
            "outputs": {n: str(t) for n, t in self.outputs.items()},
            "variables": [[v.framework_name, v.vespa_name, str(v.type), v.ordered_type, v.size] for v in self.variables],
            "diagnostics": [_diag_json(d) for d in self.diagnostics],
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> "ModelInterface":
        return ModelInterface(
            data["name"], data["path"], data["format"],
            {k: tuple(v) for k, v in data["signatures"].items()},
            {n: InterfaceInput(n, fw, TensorType.parse(t)) for n, (fw, t) in data["inputs"].items()},
            {n: TensorType.parse(t) for n, t in data["outputs"].items()},
            [InterfaceVariable(fw, vn, TensorType.parse(t), ot, int(sz)) for fw, vn, t, ot, sz in data["variables"]],
            [_diag_from_json(d) for d in data["diagnostics"]])


def _diag_json(d: Diagnostic) -> dict[str, Any]:
    s = d.span
    return {"code": d.code, "message": d.message, "hint": d.hint, "severity": d.level.value,
            "span": [s.path, s.line, s.column, s.end_line, s.end_column] if s else None}


def _diag_from_json(d: dict[str, Any]) -> Diagnostic:
    span = Span(*d["span"]) if d.get("span") else None
    return Diagnostic(d["code"], d["message"], span, d.get("hint"), Severity(d["severity"]))


def feature_text(name: str, args: tuple[str, ...]) -> str:
    return f"{name}(" + ",".join(f"'{a}'" for a in args) + ")"


def select_expression(model: ModelInterface, args: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(expression name, None) or (None, Vespa's error text) for a model feature's arguments.

    args[0] is the model path; args[1] is taken as the signature and args[2] as the output, so
    `onnx("m.onnx", "add")` works through the `default.` fallback, as in Vespa.
    """
    from appkit.importers.tensorflow.resolve import resolve_output

    name, problem = resolve_output(model, args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None,
                                   label=model.path)
    return name, None if problem is None else problem.message
