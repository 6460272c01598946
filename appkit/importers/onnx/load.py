"""Reading an ONNX file: the protobuf, external data (only from inside the package), shape inference.

A path that leaves the package is reported and never opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnx
import onnx.inliner
from onnx import external_data_helper

from appkit.diagnostics import Diagnostic, rule
from appkit.source import Span

AK442 = rule("AK442", "ONNX model cannot be read", example="models/m.onnx truncated by a failed copy",
             fix="re-export the model, or copy the complete file")
AK443 = rule("AK443", "ONNX external data outside the package",
             example="an initializer stored in ../weights.bin",
             fix="keep external data files beside the model inside the application package")


@dataclass
class LoadedModel:
    proto: onnx.ModelProto
    opset: int  # the default-domain opset the model imports
    value_types: dict[str, int] = field(default_factory=dict)  # tensor name -> ONNX element type


def load_onnx(path: Path, package_root: Path | None, display: str) -> tuple[LoadedModel | None, list[Diagnostic]]:
    span = Span(display, 1, 1)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises DecodeError and friends
        return None, [Diagnostic(AK442, f"Could not read ONNX model '{display}': {e}", span,
                                 hint="the file is not a valid ONNX model: re-export it")]
    problems = _check_external_data(proto, path, package_root, span)
    if problems:
        return None, problems
    try:
        if any(external_data_helper.uses_external_data(t) for t in _all_tensors(proto)):
            external_data_helper.load_external_data_for_model(proto, str(path.parent))
    except (OSError, ValueError) as e:
        return None, [Diagnostic(AK442, f"Could not read the external data of ONNX model '{display}': {e}", span,
                                 hint="copy the external data files beside the model")]
    if proto.functions:  # model-local functions (e.g. exporters' custom domains) become plain nodes
        try:
            proto = onnx.inliner.inline_local_functions(proto)
        except Exception:  # leave them: their ops are then reported as unsupported
            pass
    try:
        inferred = onnx.shape_inference.infer_shapes(_without_large_values(proto)) if _inferable(proto) else proto
    except Exception:  # shape inference is a help, not a requirement
        inferred = proto
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 1)
    types: dict[str, int] = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in proto.graph.initializer:
        types[init.name] = init.data_type
    return LoadedModel(proto, int(opset), types), []


def _inferable(proto: onnx.ModelProto) -> bool:
    """False for a graph that would send ONNX's shape inference into an endless loop: an Einsum
    equation with a term holding more than one ellipsis or stray dots ('....i->i'). The importer
    reports such an equation itself."""
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.HasField("g") else [])
                graphs.extend(attr.graphs)
                if node.op_type == "Einsum" and attr.name == "equation":
                    terms = attr.s.decode("utf-8", "replace").replace("->", ",").split(",")
                    if any(t.count("...") > 1 or "." in t.replace("...", "", 1) for t in terms):
                        return False
    return True


def _without_large_values(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy for shape inference whose large initializers are typed inputs instead: inference needs
    their types and shapes, not their values (small ones stay, they may be shapes), and copying the
    weights is most of its cost."""
    light = onnx.ModelProto()
    for field_ in ("ir_version", "opset_import", "functions", "producer_name", "domain", "model_version"):
        if field_ in ("opset_import", "functions"):
            getattr(light, field_).extend(getattr(proto, field_))
        else:
            setattr(light, field_, getattr(proto, field_))
    graph = light.graph
    source = proto.graph
    graph.name = source.name
    graph.node.extend(source.node)
    graph.input.extend(source.input)
    graph.output.extend(source.output)
    graph.value_info.extend(source.value_info)
    declared = {vi.name for vi in source.input}
    for init in source.initializer:
        if _element_count(init) <= 1024:
            graph.initializer.append(init)
        elif init.name not in declared:
            graph.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    return light


def _element_count(tensor: onnx.TensorProto) -> int:
    count = 1
    for d in tensor.dims:
        count *= d
    return count


def _all_tensors(proto: onnx.ModelProto):
    yield from proto.graph.initializer
    for node in proto.graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t


def _check_external_data(proto: onnx.ModelProto, path: Path, package_root: Path | None,
                         span: Span) -> list[Diagnostic]:
    root = (package_root or path.parent).resolve()
    problems: list[Diagnostic] = []
    for tensor in _all_tensors(proto):
        if not external_data_helper.uses_external_data(tensor):
            continue
        location = external_data_helper.ExternalDataInfo(tensor).location
        target = (path.parent / location).resolve()
        try:
            target.relative_to(root)
        except ValueError:
            problems.append(Diagnostic(
                AK443, f"ONNX model '{span.path}' stores tensor '{tensor.name}' in '{location}', which is outside "
                       f"the application package; it was not read", span,
                hint="move the external data file beside the model inside the package and re-save the model"))
    return problems
