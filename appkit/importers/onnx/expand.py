"""Ops without a converter of their own, expanded into their ONNX function body (Swish, RMSNormalization,
Attention, MeanVarianceNormalization, ...), whose nodes are then converted one by one.

The body comes from the op's schema for the model's opset; context-dependent bodies are built from
the node's input types. Internal tensors are renamed under the node's name so they never collide.
"""

from __future__ import annotations

from typing import Sequence

import onnx
from onnx import defs, helper

from appkit.importers.model import Operand
from appkit.tensor.type import CellType


def function_body(node: onnx.NodeProto, opset: int, input_types: Sequence[int | None],
                  inputs: Sequence[Operand | None]) -> tuple[list[onnx.NodeProto], int] | None:
    """The nodes the op stands for, renamed into the graph, and the opset they use; None if no body."""
    try:
        schema = defs.get_schema(node.op_type, opset, node.domain or "")
    except Exception:  # SchemaError: not an op of this opset
        return None
    proto: onnx.FunctionProto | None = None
    try:
        if schema.has_function and schema.function_opset_versions:
            proto = _parse(schema.get_function_with_opset_version(_best(schema.function_opset_versions, opset)))
        elif schema.has_context_dependent_function and schema.context_dependent_function_opset_versions:
            types = [_type_proto(t, o).SerializeToString() for t, o in zip(input_types, inputs)]
            version = _best(schema.context_dependent_function_opset_versions, opset)
            proto = _parse(schema.get_context_dependent_function_with_opset_version(
                version, node.SerializeToString(), types))
    except Exception:  # a body that cannot be built for these inputs: the op stays unsupported
        return None
    if proto is None:
        return None
    body_opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset)
    return _instantiate(proto, node, schema), body_opset


def rename_outer_references(graph: onnx.GraphProto, rename: dict[str, str]) -> None:
    """A subgraph (If branch) may use the function's tensors by name: follow their renaming."""
    local = {t.name for t in graph.initializer} | {i.name for i in graph.input} | \
        {o for n in graph.node for o in n.output}
    outer = {k: v for k, v in rename.items() if k not in local and k}
    for node in graph.node:
        node.input[:] = [outer.get(i, i) for i in node.input]
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                rename_outer_references(a.g, outer)
    for out in graph.output:
        if out.name in outer:
            out.name = outer[out.name]


def _best(versions: Sequence[int], opset: int) -> int:
    usable = [v for v in versions if v <= opset]
    return max(usable) if usable else min(versions)


def _parse(data: bytes | onnx.FunctionProto | None) -> onnx.FunctionProto | None:
    if data is None or isinstance(data, onnx.FunctionProto):
        return data
    if not data:
        return None
    proto = onnx.FunctionProto()
    proto.ParseFromString(data)
    return proto


def _type_proto(elem_type: int | None, op: Operand | None) -> onnx.TypeProto:
    if elem_type is None:
        elem_type = onnx.TensorProto.DOUBLE if op is not None and op.cell_type is CellType.DOUBLE else onnx.TensorProto.FLOAT
    shape = None if op is None else [s if s is not None else "unk" for s in op.shape]
    return helper.make_tensor_type_proto(elem_type, shape)


def _instantiate(proto: onnx.FunctionProto, node: onnx.NodeProto, schema) -> list[onnx.NodeProto]:
    prefix = (node.name or node.output[0]) + "/"
    rename: dict[str, str] = {"": ""}
    for formal, actual in zip(proto.input, node.input):
        rename[formal] = actual
    for formal in proto.input[len(node.input):]:
        rename[formal] = ""  # an optional input the node leaves out
    for formal, actual in zip(proto.output, node.output):
        rename[formal] = actual
    attrs = {a.name: a for a in node.attribute}
    defaults = {a.name: a for a in proto.attribute_proto}
    for name, attr in schema.attributes.items():
        if name not in defaults and attr.default_value is not None and attr.default_value.name:
            defaults[name] = attr.default_value
    out: list[onnx.NodeProto] = []
    for inner in proto.node:
        n = onnx.NodeProto()
        n.CopyFrom(inner)
        n.name = prefix + (inner.name or (inner.output[0] if inner.output else inner.op_type))
        n.input[:] = [rename.setdefault(i, prefix + i) for i in inner.input]
        n.output[:] = [rename.setdefault(o, prefix + o) for o in inner.output]
        kept = []
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                rename_outer_references(a.g, rename)
            if a.ref_attr_name:
                source = attrs.get(a.ref_attr_name) or defaults.get(a.ref_attr_name)
                if source is None:
                    continue
                resolved = onnx.AttributeProto()
                resolved.CopyFrom(source)
                resolved.name = a.name
                kept.append(resolved)
            else:
                kept.append(a)
        del n.attribute[:]
        n.attribute.extend(kept)
        out.append(n)
    return out


def _body_op_types(schema) -> list[str] | None:
    """The op types of an op's newest function body (a context-dependent one built for float inputs)."""
    try:
        if schema.has_function:
            proto = _parse(schema.get_function_with_opset_version(max(schema.function_opset_versions)))
        else:
            node = helper.make_node(schema.name, [f"i{k}" for k in range(schema.min_input)],
                                    [f"o{k}" for k in range(max(1, schema.min_output))])
            types = [helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, [2, 3, 4, 5]).SerializeToString()
                     for _ in range(schema.min_input)]
            proto = _parse(schema.get_context_dependent_function_with_opset_version(
                max(schema.context_dependent_function_opset_versions), node.SerializeToString(), types))
    except Exception:  # a body that needs attributes or graphs we cannot make up
        return None
    return None if proto is None else [n.op_type for n in proto.node]


def expandable_ops(registry) -> list[str]:
    """Default-domain ops without a converter whose function body converts (recursively)."""
    schemas = {s.name: s for s in defs.get_all_schemas()
               if s.domain in ("", "ai.onnx") and not s.deprecated and s.name not in registry and
               (s.has_function or s.has_context_dependent_function)}
    memo: dict[str, bool] = {}

    def converts(op: str, depth: int) -> bool:
        if op in registry:
            return True
        if op not in schemas or depth > 4:
            return False
        if op not in memo:
            memo[op] = False  # breaks cycles
            body = _body_op_types(schemas[op])
            memo[op] = body is not None and all(converts(o, depth + 1) for o in body)
        return memo[op]

    return sorted(op for op in schemas if converts(op, 0))
