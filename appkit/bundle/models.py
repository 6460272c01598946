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
        from appkit.validate.models import find_model_source

        source = find_model_source(self.package, path_arg)
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


def lower_model_features(expr: ir.Expr, models: ModelSet, user_functions: set[str],
                         onnx_models: dict[str, Any] | None = None) -> tuple[ir.Expr, dict[str, ir.Expr]]:
    """(expression with model features replaced, generated functions it now needs).

    `onnx_models` are the onnx-model declarations in scope: `onnx(NAME).out` of one of them is
    lowered to the converted expressions too (for appkit's own evaluation; Vespa runs it in ONNX
    Runtime), with the declaration's input bindings in place of the model's input functions.
    """
    generated: dict[str, ir.Expr] = {}

    def replace(node: ir.Node) -> ir.Node | None:
        if not isinstance(node, ir.Feature) or node.name not in MODEL_FEATURES:
            return None
        args = model_feature_args(node)
        if args is None and onnx_models and len(node.args) == 1 and isinstance(node.args[0], ir.Ref):
            return _lower_declared(node, onnx_models.get(node.args[0].name), models, user_functions, generated)
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


def _lower_declared(node: ir.Feature, decl: Any, models: ModelSet, user_functions: set[str],
                    generated: dict[str, ir.Expr]) -> ir.Expr | None:
    """onnx(NAME).out of an onnx-model declaration, as converted expressions with its bindings."""
    from appkit.validate.expressions import parse_expression_source
    from appkit.validate.onnx_models import normalized

    if decl is None or not decl.file:
        return None
    model = models.model_for(decl.file)
    if model is None or not model.expressions:
        return None
    aliases = {b.source_text.strip(): b.name for b in decl.outputs}  # vespa name -> ONNX output
    wanted = node.output
    by_key = {normalized(o.key): n for n, o in model.outputs.items()}
    if wanted is None:
        name = sorted(model.outputs, key=lambda n: list(model.signatures.get("default", ())).index(
            model.outputs[n].key) if model.outputs[n].key in model.signatures.get("default", ()) else 0)[0]
    else:
        name = by_key.get(normalized(aliases.get(wanted, wanted)))
    if name is None or name not in model.expressions:
        return None
    bound: dict[str, ir.Expr] = {}
    for b in decl.inputs:
        source, _ = parse_expression_source(b.source_text, b.source_span or b.span)
        if source is not None:
            bound[normalized(b.name)] = source
    suffix = f"_{decl.name}" if bound else ""
    needed = _functions_used(model.expressions[name], model.functions)
    renamed = {f: f + suffix for f in needed}

    def bind(e: ir.Expr) -> ir.Expr:
        def swap(n: ir.Node) -> ir.Node | None:
            if isinstance(n, ir.Ref) and n.name in bound:
                return bound[n.name]
            if isinstance(n, ir.Ref) and n.name in renamed:
                return ir.Ref(renamed[n.name], span=n.span)
            return None
        return _override_constants(transform(e, swap), user_functions)

    for fname in needed:
        generated[renamed[fname]] = bind(model.functions[fname])
    return bind(model.expressions[name])


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
