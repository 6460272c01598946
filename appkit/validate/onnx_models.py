"""The modern ONNX form: `onnx-model NAME { file: ... input "x": SOURCE output "y": NAME }` used as
`onnx(NAME).out`, evaluated by ONNX Runtime in Vespa. The file exists and loads; every model input
is bound (explicitly, or by its normalized name) to a source whose type fits position by position
with consistent symbolic sizes; every named output exists; features name declared models."""

from __future__ import annotations

import re
from typing import Any

from appkit.diagnostics import Diagnostic, rule
from appkit.expr import ir
from appkit.tensor.type import Dimension, TensorType

AK490 = rule("AK490", "onnx-model file is missing",
             example="onnx-model m { file: files/m.onnx } with no files/m.onnx",
             fix="add the file to the package, or correct the path")
AK491 = rule("AK491", "onnx-model input does not exist or is not bound",
             example='input "nosuch": attribute(x) for a model whose inputs are "ids" and "mask"',
             fix='bind each model input: input "ids": attribute(ids)  (or define a function named after it)')
AK492 = rule("AK492", "onnx-model output does not exist",
             example='output "logitz": score for a model whose output is "logits"',
             fix="name one of the model's outputs")
AK493 = rule("AK493", "onnx-model input source has the wrong type",
             example="input tensor<float>(d0[1],d1[8]) bound to attribute(v) of type tensor(x[4])",
             fix="bind a source whose dimensions have the model's sizes, in order")
AK494 = rule("AK494", "onnx(NAME) names no onnx-model",
             example="onnx(ranker).score with no onnx-model ranker declared",
             fix="declare it: onnx-model ranker { file: models/ranker.onnx }")

_NON_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")


def normalized(name: str) -> str:
    return _NON_IDENTIFIER.sub("_", name)


class OnnxDeclarations:
    """Loaded onnx-model declarations of one profile (schema-level ones included)."""

    def __init__(self, package: Any, declarations: dict[str, Any]):
        from appkit.importers.onnx.importer import onnx_model_info

        self.declarations = declarations
        self.infos: dict[str, Any] = {}
        self.diagnostics: list[Diagnostic] = []
        for name, decl in declarations.items():
            if decl.uri and not decl.file:
                continue  # fetched by Vespa at deploy time; nothing to check here
            path = package.root / (decl.file or "")
            if not decl.file or not path.is_file():
                self.diagnostics.append(Diagnostic(AK490, f"onnx-model '{name}' reads {decl.file}, which is not in the "
                                                   "package", decl.span, hint="add the .onnx file, or correct file:"))
                continue
            info = onnx_model_info(path, package.root)
            self.diagnostics.extend(info.diagnostics)
            if not info.diagnostics:
                self.infos[name] = info

    def feature_types(self, bindings: dict[str, dict[str, int]] | None = None) -> dict[str, TensorType]:
        types: dict[str, TensorType] = {}
        for name, info in self.infos.items():
            decl = self.declarations[name]
            renamed = {b.name: b.source_text.strip() for b in decl.outputs}
            symbols = (bindings or {}).get(name, {})
            for i, out in enumerate(info.outputs):
                t = _output_type(out, symbols)
                for key in {out.name, normalized(out.name), renamed.get(out.name, out.name)}:
                    for feature in ("onnx", "onnxModel"):
                        types[f"{feature}({name}).{key}"] = t
                if i == 0:
                    types[f"onnx({name})"] = types[f"onnxModel({name})"] = t
        return types


def _output_type(out: Any, symbols: dict[str, int]) -> TensorType:
    dims = []
    for i, s in enumerate(out.sizes or ()):
        size = s if isinstance(s, int) and s > 0 else symbols.get(s) if isinstance(s, str) else None
        dims.append(Dimension(f"d{i}", size))
    return TensorType(dims, out.vespa_type(runtime=True).cell_type)


def check_bindings(decls: OnnxDeclarations, profile_name: str, functions: set[str],
                   source_type: Any) -> tuple[list[Diagnostic], dict[str, dict[str, int]]]:
    """Inputs bound and typed, outputs named right. `source_type(text, span)` types a source expression."""
    out: list[Diagnostic] = []
    symbols_by_model: dict[str, dict[str, int]] = {}
    for name, info in decls.infos.items():
        decl = decls.declarations[name]
        model_inputs = {i.name: i for i in info.inputs}
        explicit = {b.name: b for b in decl.inputs}
        for b in decl.inputs:
            if b.name not in model_inputs:
                out.append(Diagnostic(AK491, f"invalid input for ONNX model {name}: the model has no input '{b.name}' "
                                      f"(inputs: {', '.join(model_inputs)})", b.span,
                                      hint=f"bind one of: {', '.join(model_inputs)}"))
        symbols: dict[str, int] = {}
        for input_name, port in model_inputs.items():
            binding = explicit.get(input_name)
            if binding is None:
                default = normalized(input_name)
                if default not in functions:
                    out.append(Diagnostic(AK491, f"onnx-model '{name}': input '{input_name}' is not bound, and rank "
                                          f"profile '{profile_name}' has no function '{default}'", decl.span,
                                          hint=f'add input "{input_name}": attribute(FIELD) to onnx-model {name}, '
                                               f"or a function {default}()"))
                    continue
                actual = source_type(default, decl.span)
                where = decl.span
            else:
                actual = source_type(binding.source_text, binding.source_span or binding.span)
                where = binding.source_span or binding.span
            if actual is not None:
                problem = _fits(port, actual, symbols)
                if problem:
                    out.append(Diagnostic(AK493, f"incompatible type for input ({input_name} -> {name}): {actual} -> "
                                          f"{port.vespa_type(runtime=True)}: {problem}", where,
                                          hint=f"bind a source of type {port.vespa_type(runtime=True)} "
                                               "(sizes compared position by position)"))
        symbols_by_model[name] = symbols
        outputs = {o.name for o in info.outputs}
        for b in decl.outputs:
            if b.name not in outputs:
                out.append(Diagnostic(AK492, f"onnx-model '{name}' has no output '{b.name}' (outputs: "
                                      f"{', '.join(sorted(outputs))})", b.span, hint=f"use one of: {', '.join(sorted(outputs))}"))
    return out, symbols_by_model


def _fits(port: Any, actual: TensorType, symbols: dict[str, int]) -> str | None:
    sizes = port.sizes
    if sizes is None:
        return None
    if actual.rank != len(sizes):
        return f"the model takes {len(sizes)} dimension(s), the source has {actual.rank}"
    for i, (want, dim) in enumerate(zip(sizes, actual.dimensions)):
        if dim.mapped:
            return f"dimension '{dim.name}' is mapped; ONNX inputs are dense"
        if isinstance(want, int) and want > 0 and dim.size != want:
            return f"dimension {i} ('{dim.name}') has size {dim.size if dim.size else 'unbound'}, the model needs {want}"
        if isinstance(want, str) and dim.size is not None:
            if symbols.setdefault(want, dim.size) != dim.size:
                return (f"Found conflicting sizes for symbolic dimension '{want}' for input '{port.name}' "
                        f"({symbols[want]} and {dim.size})")
    return None


def unknown_model_features(exprs: list[tuple[Any, ir.Expr]], declared: set[str], profile_name: str) -> list[Diagnostic]:
    out = []
    for text, expr in exprs:
        for node in ir.features_of(expr):
            if node.name in ("onnx", "onnxModel") and len(node.args) == 1 \
                    and isinstance(node.args[0], ir.Ref) and node.args[0].name not in declared:
                known = ", ".join(sorted(declared)) or "none"
                out.append(Diagnostic(AK494, f"{node.name}({node.args[0].name}): no onnx-model named "
                                      f"'{node.args[0].name}' in rank profile '{profile_name}' or its schema "
                                      f"(declared: {known})", node.span or text.span,
                                      hint=f"declare onnx-model {node.args[0].name} {{ file: models/NAME.onnx }}"))
    return out
