"""What an expression means inside one rank profile of a package: its functions (model features
lowered to the imported expressions), constants with their values, and the declared types of its
inputs and attributes. `appkit eval --app` evaluates in this context."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.expr import ir

AK560 = rule("AK560", "rank profile not found in the package",
             example="appkit eval --app app --profile nosuch 'x'",
             fix="name a profile as SCHEMA/PROFILE (or PROFILE when only one schema has it); appkit lists them")


@dataclass
class ProfileContext:
    functions: dict[str, tuple[tuple[str, ...], ir.Expr]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # feature key -> Tensor
    types: dict[str, Any] = field(default_factory=dict)  # feature key -> TensorType
    diagnostics: list[Diagnostic] = field(default_factory=list)
    models: Any = None  # appkit.bundle.models.ModelSet
    onnx_models: dict[str, Any] = field(default_factory=dict)  # onnx-model declarations in scope
    runtime_models: set[str] = field(default_factory=set)  # declared models run by ONNX Runtime
    package: Any = None

    def lower(self, expr: ir.Expr) -> ir.Expr:
        """Model features of an expression typed by the user, lowered like the profile's own.

        onnx(NAME) of a declared onnx-model is left for ONNX Runtime when it is installed (see
        `before_evaluation`), as Vespa runs it; otherwise it is lowered to the converted expressions.
        """
        from appkit.bundle import onnx_runtime
        from appkit.bundle.models import lower_model_features

        declared = self.onnx_models
        if onnx_runtime.available():
            self.runtime_models = onnx_runtime.declared_uses(expr, self.onnx_models)
            declared = {}
            self.types.update(self._runtime_types())
        lowered, generated = lower_model_features(expr, self.models, set(self.functions), declared)
        for name, body in generated.items():
            self.functions.setdefault(name, ((), body))
        self.add_model_constants()
        return lowered

    def _runtime_types(self) -> dict[str, Any]:
        from appkit.validate.onnx_models import OnnxDeclarations

        used = {n: d for n, d in self.onnx_models.items() if n in self.runtime_models}
        return OnnxDeclarations(self.package, used).feature_types() if used else {}

    def before_evaluation(self, values: dict[str, Any]) -> None:
        """Run the declared ONNX models the expression uses in ONNX Runtime; their outputs become values."""
        from appkit.bundle import onnx_runtime

        for name in sorted(self.runtime_models):
            values.update(onnx_runtime.run_declared(name, self.onnx_models[name], self.package.root, values,
                                                    self.functions))

    def add_model_constants(self) -> None:
        for name, tensor in self.models.constants.items():
            self.values.setdefault(f"constant({name})", tensor)


def profile_context(root: Path, profile: str | None) -> ProfileContext:
    from appkit.bundle.models import ModelSet, lower_model_features
    from appkit.package.loader import load_package
    from appkit.validate.expressions import parse_package_expressions
    from appkit.validate.fields import index_schemas

    ctx = ProfileContext()
    package, found = load_package(root)
    ctx.diagnostics += [d for d in found if d.level is Severity.ERROR]
    ctx.models = ModelSet(package, lambda _m: None)
    ctx.package = package
    if ctx.diagnostics:
        return ctx
    chosen = _choose(package, profile, ctx)
    if chosen is None:
        return ctx
    schema, resolved = chosen
    parsed, problems = parse_package_expressions(package)
    ctx.diagnostics += problems
    index = index_schemas(package)[schema.name]
    user = set(resolved.functions)
    ctx.onnx_models = {d.name: d for d in schema.onnx_models}
    ctx.onnx_models.update(resolved.onnx_models)
    for name, f in resolved.functions.items():
        if f.expression in parsed:
            body, generated = lower_model_features(parsed[f.expression], ctx.models, user, ctx.onnx_models)
            ctx.functions[name] = (tuple(f.params), body)
            for g, e in generated.items():
                ctx.functions.setdefault(g, ((), e))
    for name, t in list(index.attributes.items()) + list(index.imported.items()):
        ctx.types[f"attribute({name})"] = t
    for name, inp in resolved.inputs.items():
        if inp.type is not None:
            ctx.types[f"query({name})"] = inp.type
        if inp.default_value_text is not None:
            ctx.values[f"query({name})"] = _literal(inp.default_value_text, inp.type)
    for c in tuple(schema.constants) + tuple(resolved.constants.values()):
        value = _constant_value(package.root, c)
        if value is not None:
            ctx.values[f"constant({c.name})"] = value
    ctx.add_model_constants()
    ctx.diagnostics += ctx.models.diagnostics
    return ctx


def _choose(package: Any, wanted: str | None, ctx: ProfileContext):
    from appkit.validate import resolved_profiles

    candidates = []
    for schema in package.schemas:
        resolved, _ = resolved_profiles(package, schema)
        for name, r in resolved.items():
            candidates.append((f"{schema.name}/{name}", schema, r))
    wanted = wanted or "default"
    matches = [(s, r) for full, s, r in candidates if full == wanted or full.split("/", 1)[1] == wanted]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(sorted(full for full, *_ in candidates if not full.endswith(("/default", "/unranked"))))
    why = "is ambiguous" if matches else "is not a rank profile of the package"
    ctx.diagnostics.append(Diagnostic(AK560, f"'{wanted}' {why}", None,
                                      hint=f"use --profile SCHEMA/PROFILE, one of: {names}"))
    return None


def _literal(text: str, type_: Any) -> Any:
    from appkit.tensor.literal import parse_tensor_literal
    from appkit.tensor.value import Tensor

    if type_ is None:
        return Tensor.scalar(float(text))
    return parse_tensor_literal(text, type_)


def _constant_value(root: Path, c: Any) -> Any:
    from appkit.tensor.jsonformat import tensor_from_json

    if c.value_text is not None:
        return _literal(c.value_text, c.type)
    if c.file and (root / c.file).is_file() and c.file.endswith(".json"):
        return tensor_from_json(json.loads((root / c.file).read_text()), c.type)
    return None
