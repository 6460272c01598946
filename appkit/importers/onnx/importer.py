"""Importing an ONNX model as Vespa ranking expressions (`onnx_vespa(...)`, and `onnx(...)` with
appkit's converter), the facts of a model for the onnx-model form, and feature-to-expression resolution.

`import_onnx_model` never raises: every problem of a run is a diagnostic of the returned model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from onnx import defs, numpy_helper

from appkit.diagnostics import Diagnostic, rule
from appkit.importers import lower
from appkit.importers.lower import ConversionError
from appkit.importers.lower_builder import ImportBuilder
from appkit.importers.model import ImportedModel
from appkit.importers.naming import name_part
from appkit.importers.onnx import ops  # noqa: F401  (registers the converters)
from appkit.importers.onnx.context import ONNX, Expansion, NodeContext
from appkit.importers.onnx.expand import function_body
from appkit.importers.onnx.load import LoadedModel, load_onnx
from appkit.importers.onnx.types import TensorInfo, UnsupportedType, cell_type, numpy_dtype, tensor_info
from appkit.source import Span

AK447 = rule("AK447", "ONNX tensor type cannot be converted",
             example="a model input of type string (e.g. a Keras StringLookup layer)",
             fix="feed the model numbers: move string processing out of the model")
AK448 = rule("AK448", "model output cannot be selected",
             example="onnx_vespa(\"mnist_softmax.onnx\", \"y\") where the model's output is named add",
             fix="name an output the model has: the message lists the available expressions")
AK449 = rule("AK449", "model feature has too many arguments",
             example="onnx_vespa(\"m.onnx\", \"default\", \"out\", \"extra\")",
             fix="give the model path and at most a signature and an output")

SIGNATURE = "default"


def _display_path(path: Path, package_root: Path | None) -> str:
    if package_root is not None:
        try:
            return path.resolve().relative_to(Path(package_root).resolve()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def _models_relative(display: str) -> str:
    return display[len("models/"):] if display.startswith("models/") else display


def import_onnx_model(path: Path, name: str, package_root: Path | None = None) -> ImportedModel:
    """Convert the ONNX file at `path` into ranking expressions named `default.<output>`."""
    path = Path(path)
    display = _display_path(path, package_root)
    builder = ImportBuilder(name, _models_relative(display), "onnx", source_path=display, framework="ONNX")
    loaded, problems = load_onnx(path, package_root, display)
    if loaded is None:
        builder.model.diagnostics.extend(problems)
        return builder.model
    try:
        _convert_graph(builder, loaded, display)
    except Exception as e:  # a bug in a converter must not escape to the user as a traceback
        if os.environ.get("APPKIT_DEBUG"):
            raise
        from appkit.importers.discovery import AK446

        builder.model.diagnostics.append(Diagnostic(
            AK446, f"Could not import model '{name}': {type(e).__name__}: {e}", Span(display, 1, 1),
            hint="this is a bug in appkit; rerun with APPKIT_DEBUG=1 and report it"))
        return builder.model
    return builder.finish()


def _convert_graph(builder: ImportBuilder, loaded: LoadedModel, display: str) -> None:
    graph = loaded.proto.graph
    span = Span(display, 1, 1)
    initializers = {t.name for t in graph.initializer}
    for init in graph.initializer:
        try:
            value = numpy_helper.to_array(init)
            builder.add_variable(init.name, value, cell_type(init.data_type))
        except (UnsupportedType, ValueError) as e:
            builder.model.diagnostics.append(Diagnostic(AK447, f"Initializer '{init.name}': {e}", span))
    for vi in graph.input:
        if vi.name in initializers:  # an initializer with an input's name is its default: a constant
            continue
        info = tensor_info(vi)
        try:
            builder.add_input(vi.name, None if info.sizes is None else info.converted_shape(), cell_type(info.elem_type))
        except UnsupportedType as e:
            builder.model.diagnostics.append(Diagnostic(
                AK447, f"Input '{vi.name}': {e}", span,
                hint="the converted expressions take numeric tensors only"))
        except ConversionError as e:
            builder.model.diagnostics.append(Diagnostic(AK447, str(e), span))
    builder.count_uses(n for node in graph.node for n in node.input)
    builder.count_uses(o.name for o in graph.output)
    for node in graph.node:
        _convert_node(builder, loaded, node, loaded.opset)
    for out in graph.output:
        if builder.has(out.name):
            builder.add_output(SIGNATURE, name_part(out.name), builder.get(out.name))


def _convert_node(builder: ImportBuilder, loaded: LoadedModel, node, opset: int, depth: int = 0) -> None:
    node_name = node.name or (node.output[0] if node.output else node.op_type)
    domain = node.domain if node.domain not in ("", "ai.onnx") else ""
    op_label = f"{domain}.{node.op_type}" if domain else node.op_type
    registration = None if domain else ONNX.lookup(node.op_type, opset)
    if registration is None:
        if not domain and depth < 4 and _expand(builder, loaded, node, opset, depth):
            return
        if not domain and _fold_with_reference(builder, node, opset, node_name):
            return
        builder.unsupported(op_label, node_name, list(node.output))
        return
    if builder.missing_inputs(node_name, node.op_type, list(node.input), list(node.output)):
        return
    inputs = [builder.get(n) if n else None for n in node.input]
    ctx = NodeContext(node, opset, inputs, loaded.value_types)
    expansions: list[Expansion] = []

    def convert():
        result = registration.converter(ctx, *inputs)
        if isinstance(result, Expansion):
            expansions.append(result)
            return []
        return result

    builder.run(node_name, node.op_type, list(node.output), convert)
    for expansion in expansions:
        builder.count_uses(n for inner in expansion.nodes for n in inner.input)
        for inner in expansion.nodes:
            _convert_node(builder, loaded, inner, opset, depth + 1)


_RANDOM_OPS = ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial")


def _fold_with_reference(builder: ImportBuilder, node, opset: int, node_name: str) -> bool:
    """An op without a converter whose inputs are all constants is computed at import time by ONNX's
    reference implementation (shape arithmetic with NonZero, Unique, ... in exported graphs)."""
    if node.op_type in _RANDOM_OPS or any(n and not builder.has(n) for n in node.input):
        return False
    inputs = [builder.get(n) if n else None for n in node.input]
    if any(op is not None and not op.is_constant for op in inputs):
        return False
    try:
        from onnx import helper
        from onnx.reference import ReferenceEvaluator

        names = [f"in{i}" if n else "" for i, n in enumerate(node.input)]
        values = {name: np.asarray(op.value) for name, op in zip(names, inputs) if name and op is not None}
        single = helper.make_node(node.op_type, names, [f"out{i}" for i in range(len(node.output))],
                                  domain=node.domain)
        single.attribute.extend(node.attribute)
        graph = helper.make_graph([single], "fold", [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(
            v.dtype), list(v.shape)) for n, v in values.items()], [helper.make_empty_tensor_value_info(
                f"out{i}") for i in range(len(node.output))])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
        results = ReferenceEvaluator(model).run(None, values)
    except Exception:  # the reference cannot run it either: the op stays unsupported
        return False
    constants = [lower.constant(np.asarray(r)) if isinstance(r, np.ndarray) or np.isscalar(r) else None
                 for r in results]
    if any(c is None for c in constants):
        return False
    builder.run(node_name, node.op_type, list(node.output), lambda: constants)
    return True


def _expand(builder: ImportBuilder, loaded: LoadedModel, node, opset: int, depth: int) -> bool:
    """Convert an op through its ONNX function body when every op of the body can be converted."""
    if any(n and not builder.has(n) for n in node.input):
        return builder.missing_inputs(node.name or node.op_type, node.op_type, list(node.input), list(node.output))
    body = function_body(node, opset, [loaded.value_types.get(n) for n in node.input],
                         [builder.values.get(n) if n else None for n in node.input])
    if body is None:
        return False
    nodes, body_opset = body
    if not all(_convertible(n, body_opset, depth + 1) for n in nodes):
        return False
    builder.count_uses(n for inner in nodes for n in inner.input)
    for inner in nodes:
        _convert_node(builder, loaded, inner, body_opset, depth + 1)
    return True


def _convertible(node, opset: int, depth: int) -> bool:
    if node.domain not in ("", "ai.onnx"):
        return False
    if ONNX.lookup(node.op_type, opset) is not None:
        return True
    if depth >= 4:
        return False
    try:
        schema = defs.get_schema(node.op_type, opset, "")
    except Exception:
        return False
    return bool(schema.has_function or schema.has_context_dependent_function)


# --- model facts for the onnx-model form -----------------------------------------------------------


@dataclass
class OnnxModelInfo:
    """The graph inputs and outputs of an ONNX file, with symbolic sizes kept by name."""

    path: str
    opset: int = 0
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]


def onnx_model_info(path: Path, package_root: Path | None = None) -> OnnxModelInfo:
    path = Path(path)
    display = _display_path(path, package_root)
    info = OnnxModelInfo(display)
    loaded, problems = load_onnx(path, package_root, display)
    if loaded is None:
        info.diagnostics.extend(problems)
        return info
    graph = loaded.proto.graph
    initializers = {t.name for t in graph.initializer}
    info.opset = loaded.opset
    info.inputs = [tensor_info(vi) for vi in graph.input if vi.name not in initializers]
    info.outputs = [tensor_info(vi) for vi in graph.output]
    for t in info.inputs + info.outputs:
        try:
            numpy_dtype(t.elem_type)
        except UnsupportedType as e:
            info.diagnostics.append(Diagnostic(AK447, f"'{t.name}': {e}", Span(display, 1, 1)))
    return info


# --- feature arguments -> expression name (reference §3.2) ----------------------------------------


def resolve_expression(model: ImportedModel, feature_args: Sequence[str],
                       feature_text: str | None = None) -> tuple[str | None, Diagnostic | None]:
    """The expression `onnx("path", sig?, out?)` / `onnx_vespa(...)` selects, or Vespa's error
    (reference §3.2, through the shared `select_expression`). `feature_args` are the feature's string
    arguments, the model path first."""
    from appkit.importers.interface import select_expression

    prefix = f"Could not use Onnx model from {feature_text}: " if feature_text else ""
    if len(feature_args) > 3:
        return None, Diagnostic(AK449, prefix + "An onnx feature can have at most 2 arguments",
                                hint="write onnx_vespa(\"model.onnx\", \"output\")")
    name, error = select_expression(model, tuple(feature_args))  # type: ignore[arg-type]  (same fields)
    if error is None:
        return name, None
    return None, Diagnostic(AK448, prefix + error, hint=f"use one of: {', '.join(sorted(model.expressions))}"
                            if model.expressions else "the model imported no outputs; see its import diagnostics")


__all__ = ["import_onnx_model", "onnx_model_info", "resolve_expression", "OnnxModelInfo", "TensorInfo"]
