"""Model rules: every model feature resolves to a model, signature and output of the package, every
model input has a function of the required name and a fitting type, and variable overrides fit."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from appkit.diagnostics import Diagnostic, rule
from appkit.expr import ir
from appkit.importers.interface import AK480, AK481, AK482, ModelInterface, feature_text, select_expression
from appkit.package.app import ApplicationPackage
from appkit.source import Span
from appkit.tensor.type import TensorType

AK483 = rule("AK483", "model input has no function",
             example='tensorflow("m/saved") whose placeholder is x, with no function x in the profile',
             fix="add `function x() { expression: attribute(my_field) }` to the rank profile")
AK484 = rule("AK484", "model input function has the wrong type",
             example="function Placeholder returns tensor(d0[2],d5[10]) where tensor(d0[],d1[784]) is required",
             fix="make the function return the required type (rename dimensions to d0, d1...)")
AK485 = rule("AK485", "function overriding a model variable has the wrong type",
             example="function m_W_read returns tensor(x[3]) for a variable of type tensor(d1[10],d2[784])",
             fix="return the variable's type, as `appkit models` lists it")

MODEL_FEATURES = {"tensorflow": "tensorflow", "onnx": "Onnx", "onnx_vespa": "Onnx", "onnxModel": "Onnx"}


def model_feature_args(node: ir.Feature) -> tuple[str, ...] | None:
    """The string arguments of a model feature, or None when it is not one (e.g. onnx(NAME) of an
    onnx-model declaration, handled with the declarations)."""
    if node.name not in MODEL_FEATURES or not node.args:
        return None
    if not isinstance(node.args[0], ir.String):
        return None
    out = []
    for a in node.args:
        if isinstance(a, ir.String):
            out.append(a.value)
        elif isinstance(a, ir.Ref):
            out.append(a.name)
        else:
            return ()
    return tuple(out)


def find_model_source(package: ApplicationPackage, path_arg: str):
    """The discovered model a feature's path argument names (`"m/saved"`, `"m.onnx"`, `"models/m.onnx"`)."""
    from appkit.importers.naming import model_name

    wanted = model_name(path_arg.strip("/"), path_arg.endswith(".onnx"))
    return next((source for source in package.models if source.name == wanted), None)


class ModelResolver:
    """Resolves model features of one package, importing (or reading from cache) each model once."""

    def __init__(self, package: ApplicationPackage, use_cache: bool = True):
        self.package = package
        self.use_cache = use_cache
        self._interfaces: dict[str, ModelInterface] = {}
        self._used: dict[str, list[Diagnostic]] = {}  # model → its problems, reported once it is used
        self.diagnostics: list[Diagnostic] = []

    def _load(self, source) -> ModelInterface:
        iface = self._interfaces.get(source.name)
        if iface is None:
            from appkit.validate.model_cache import load_interface

            iface = self._interfaces[source.name] = load_interface(source, self.package.root, self.use_cache)
        return iface

    def preload(self) -> None:
        """Load every model under models/ now (before validation is shared over processes, so each
        is imported once, here)."""
        for source in self.package.models:
            self._load(source)

    def interface(self, path_arg: str) -> ModelInterface | None:
        source = find_model_source(self.package, path_arg)
        if source is None:
            return None
        iface = self._load(source)
        if source.name not in self._used:
            self.adopt({source.name: [_displayed(d, self.package.root) for d in iface.diagnostics]})
        return iface

    def uses(self) -> dict[str, list[Diagnostic]]:
        """The models used so far with their problems, for `adopt` in another process."""
        return dict(self._used)

    def adopt(self, uses: dict[str, list[Diagnostic]]) -> None:
        """Count models as used, with their problems (each model's reported once)."""
        for name, problems in uses.items():
            if name not in self._used:
                self._used[name] = problems
                self.diagnostics.extend(problems)

    def import_unused(self) -> None:
        """Models no feature refers to are imported too (from the cache when unchanged), because a
        Vespa deployment imports every model under models/ and fails on one it cannot read."""
        for source in self.package.models:
            if source.name in self._used:
                continue
            iface = self._load(source)
            self.diagnostics.extend(_displayed(d, self.package.root) for d in iface.diagnostics
                                    if d.level.value == "error" and _is_read_problem(d))

    def available(self) -> str:
        names = sorted(getattr(s, "relative_to", lambda r: s.name)(self.package.root) for s in self.package.models)
        return ", ".join(names) if names else "none (the package has no models/ directory entries)"

    def resolve(self, node: ir.Feature, where: Span) -> tuple[str, TensorType | None, ModelInterface | None, list[Diagnostic]]:
        """(feature key, output type, model, problems) for one model feature."""
        from appkit.expr.typecheck import feature_key

        key = feature_key(node)
        args = model_feature_args(node)
        span = node.span or where
        framework = MODEL_FEATURES[node.name]
        shown = feature_text(node.name, args or ())
        if not args or len(args) > 3:
            return key, None, None, [Diagnostic(AK482, f"Could not use {framework.lower()} model from {key}: a model "
                                                "feature takes a quoted model path, then an optional signature and "
                                                "output (at most 3 arguments)", span,
                                                hint=f'write {node.name}("my_model/saved")')]
        model = self.interface(args[0])
        if model is None:
            return key, None, None, [Diagnostic(AK480, f"Could not use {framework} model from {shown}: No model "
                                                f"'{args[0]}' is available. Available models: {self.available()}",
                                                span, hint="put the model under models/ and name its path below models/")]
        if not model.outputs and any(d.level.value == "error" for d in model.diagnostics):
            return key, None, None, []  # the import problems are reported; no output to resolve
        name, error = select_expression(model, args)
        if error:
            return key, None, model, [Diagnostic(AK481, f"Could not use {framework} model from {shown}: {error}", span,
                                                 hint=f"use one of: {', '.join(sorted(model.outputs))}")]
        return key, model.outputs[name], model, []


def model_feature_nodes(exprs: Iterable[ir.Expr]):
    for expr in exprs:
        for node in ir.features_of(expr):
            if node.name in MODEL_FEATURES and model_feature_args(node) is not None:
                yield node


def check_model_inputs(model: ModelInterface, node: ir.Feature, where: Span, profile_name: str,
                       function_types: dict[str, TensorType | None], functions_present: set[str]) -> list[Diagnostic]:
    """Vespa's verifyInputs: each required input has a function of that name and an assignable type."""
    out: list[Diagnostic] = []
    framework = MODEL_FEATURES[node.name]
    shown = feature_text(node.name, model_feature_args(node) or ())
    span = node.span or where
    for name, inp in sorted(model.inputs.items()):
        if name not in functions_present:
            out.append(Diagnostic(AK483, f"Could not use {framework} model from {shown}: Model refers input '{name}' "
                                  f"of type {inp.type} but this function is not present in rank profile "
                                  f"'{profile_name}'", span,
                                  hint=f"add to rank-profile '{profile_name}': function {name}() "
                                       f"{{ expression: attribute(FIELD) }} returning {inp.type}"))
            continue
        actual = function_types.get(name)
        if actual is not None and not actual.is_assignable_to(inp.type, check_cell_type=False):
            extra = (". This is often due to missing declaration of query tensor features in query profile "
                     "types - see the documentation.") if actual.is_scalar else ""
            out.append(Diagnostic(AK484, f"Could not use {framework} model from {shown}: Model refers input '{name}'. "
                                  f"The required type of this is {inp.type}, but this function returns {actual}{extra}",
                                  span, hint=f"make function '{name}' return {inp.type}"))
    for v in model.variables:
        if v.vespa_name in functions_present:
            actual = function_types.get(v.vespa_name)
            if actual is not None and not actual.is_assignable_to(v.type, check_cell_type=False):
                out.append(Diagnostic(AK485, f"Function '{v.vespa_name}' replaces the constant with this name. The "
                                      f"required type of this is {v.type}, but this function returns {actual}", span,
                                      hint=f"make function '{v.vespa_name}' return {v.type} (TensorFlow variable "
                                           f"{v.framework_name})"))
    return out


def _is_read_problem(d: Diagnostic) -> bool:
    """A model that cannot be read at all (not one with an op appkit cannot convert: Vespa runs
    unreferenced ONNX files in ONNX Runtime, and appkit's converter coverage is not Vespa's)."""
    return d.code != "AK440"  # the unsupported-op code, by value: its module would import numpy here


def _displayed(d: Diagnostic, root: Path) -> Diagnostic:
    """An import diagnostic's package-relative path as the user sees it (relative to the working directory)."""
    from dataclasses import replace

    from appkit.package.app import display_path

    if d.span is None or Path(d.span.path).is_absolute() or (root / d.span.path).exists() is False:
        return d
    if Path(d.span.path).resolve() == (root / d.span.path).resolve():
        return d
    return replace(d, span=replace(d.span, path=display_path(root / d.span.path)))
