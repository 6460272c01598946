"""The models a bundle needs: imported once each, their features lowered into rank profiles.

`tensorflow(...)`, `onnx_vespa(...)` and file-path `onnx(...)` features become the imported output
expression; the model's generated functions join the profile; its constants become bundle files.
A user function named like a model constant overrides it, as in Vespa (the variable-update
workflow of the seed).
"""

from __future__ import annotations

from typing import Any, Callable

from appkit.diagnostics import Diagnostic
from appkit.expr import ir
from appkit.expr.rewrite import transform
from appkit.importers.interface import ModelInterface, select_expression
from appkit.package.app import ApplicationPackage
from appkit.tensor.type import TensorType
from appkit.validate.models import MODEL_FEATURES, model_feature_args


class ModelSet:
    def __init__(self, package: ApplicationPackage, progress: Callable[[str], None]):
        self.package = package
        self.say = progress
        self.imported: dict[str, Any] = {}  # model name -> ImportedModel
        self.constants: dict[str, Any] = {}  # constant name -> Tensor
        self.constant_types: dict[str, TensorType] = {}
        self.diagnostics: list[Diagnostic] = []

    def model_for(self, path_arg: str) -> Any | None:
        from appkit.importers.discovery import import_model
        from appkit.validate.models import ModelResolver

        source = ModelResolver(self.package)._source_for(path_arg)
        if source is None:
            return None
        if source.name not in self.imported:
            self.say(f"importing model {source.name}")
            model = import_model(source, self.package.root)
            self.imported[source.name] = model
            self.diagnostics.extend(model.diagnostics)
            for name, tensor in model.constants.items():
                self.constants[name] = tensor
                self.constant_types[name] = tensor.type
        return self.imported[source.name]


def lower_model_features(expr: ir.Expr, models: ModelSet, user_functions: set[str]) -> tuple[ir.Expr, dict[str, ir.Expr]]:
    """(expression with model features replaced, generated functions it now needs)."""
    generated: dict[str, ir.Expr] = {}

    def replace(node: ir.Node) -> ir.Node | None:
        if not isinstance(node, ir.Feature) or node.name not in MODEL_FEATURES:
            return None
        args = model_feature_args(node)
        if not args:
            return None
        model = models.model_for(args[0])
        if model is None:
            return None
        name, error = select_expression(ModelInterface.of(model), args)
        if error or name not in model.expressions:
            return None
        needed = _functions_used(model.expressions[name], model.functions)
        for fname in needed:
            generated[fname] = _override_constants(model.functions[fname], user_functions)
        return _override_constants(model.expressions[name], user_functions)

    lowered = transform(expr, replace)
    return lowered, generated


def _functions_used(expr: ir.Expr, functions: dict[str, ir.Expr]) -> list[str]:
    seen: list[str] = []
    stack = [expr]
    while stack:
        for node in ir.walk(stack.pop()):
            name = node.name if isinstance(node, (ir.Ref, ir.Feature)) else None
            if name in functions and name not in seen:
                seen.append(name)
                stack.append(functions[name])
    return sorted(seen)


def _override_constants(expr: ir.Expr, user_functions: set[str]) -> ir.Expr:
    def swap(node: ir.Node) -> ir.Node | None:
        if isinstance(node, ir.Feature) and node.name == "constant" and len(node.args) == 1:
            arg = node.args[0]
            name = arg.name if isinstance(arg, ir.Ref) else arg.value if isinstance(arg, ir.String) else None
            if name in user_functions:
                return ir.Ref(name, span=node.span)
        return None

    return transform(expr, swap)
