"""One framework-neutral node graph from the three TensorFlow forms a SavedModel comes in.

TF1 (`Placeholder`, `VariableV2` read through `Identity`), TF1 with resource variables (`VarHandleOp`
+ `ReadVariableOp`) and TF2/Keras 3 (`StatefulPartitionedCall` into the function library, variables
named through the checkpoint's object graph) all become `Node`s whose inputs are `(node, output
index)` pairs, calls inlined and variables tagged with their checkpoint key. Only what lies between
a signature's inputs and outputs is kept (`Graph.between`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from appkit.importers.tensorflow import protos
from appkit.importers.tensorflow.checkpoint import NUMPY_DTYPES
from appkit.importers.tensorflow.savedmodel import SavedModelFile, shape_of

Tensor = tuple[str, int]  # (node name, output index)

CALL_OPS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
IF_OPS = frozenset({"If", "StatelessIf"})  # TF2's tf.cond: a call of then_branch or else_branch
VARIABLE_OPS = frozenset({"Variable", "VariableV2", "VarHandleOp"})


@dataclass
class Node:
    """A graph node; `attrs` is decoded on first use (Const payloads can be large)."""

    name: str
    op: str
    inputs: list[Tensor]
    raw_attrs: Any  # protobuf map<string, AttrValue>
    control: list[str] = field(default_factory=list)  # control inputs: only deadness flows along them
    variable: str | None = None  # checkpoint key, for variable nodes
    _attrs: dict[str, Any] | None = field(default=None, repr=False)

    def attr(self, name: str, default: Any = None) -> Any:
        if self._attrs is None:
            self._attrs = {}
        if name not in self._attrs:
            self._attrs[name] = decode_attr(self.raw_attrs[name]) if name in self.raw_attrs else default
        return self._attrs[name]

    def has_attr(self, name: str) -> bool:
        return name in self.raw_attrs


def tensor_to_numpy(proto: Any) -> np.ndarray:
    """A TensorProto's value; repeated-field forms repeat their last value to fill the shape (TF's rule)."""
    shape = tuple(int(d.size) for d in proto.tensor_shape.dim)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    dtype = int(proto.dtype)
    if dtype == 7:  # DT_STRING: kept as an object array; no converter can use it as cells
        values = list(proto.string_val) or [b""]
        return np.array((values * count)[:count], dtype=object).reshape(shape)
    if dtype not in NUMPY_DTYPES:
        raise ValueError(f"a constant of type {protos.DATA_TYPE_NAMES.get(dtype, dtype)} cannot be a tensor value")
    np_dtype = np.dtype(NUMPY_DTYPES[dtype])
    if proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=np_dtype)
        if dtype == 14:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(shape)
    if dtype in (19, 14):  # half / bfloat16 travel as int32 holding the 16 bits
        bits = np.array(proto.half_val, dtype=np.uint16)
        values = bits.view(np.float16) if dtype == 19 else (bits.astype(np.uint32) << 16).view(np.float32)
    else:
        source = {1: proto.float_val, 2: proto.double_val, 9: proto.int64_val, 10: proto.bool_val,
                  22: proto.uint32_val, 23: proto.uint64_val}.get(dtype, proto.int_val)
        values = np.array(source, dtype=np_dtype)
    if values.size == count:
        return values.reshape(shape)
    filled = np.zeros(count, dtype=values.dtype)
    if values.size:
        filled[: values.size] = values
        filled[values.size:] = values[-1]
    return filled.reshape(shape)


def decode_attr(value: Any) -> Any:
    """An AttrValue as a Python value: str, int, float, bool, dtype int, shape tuple, ndarray, list."""
    kind = None  # the `value` oneof is declared as plain proto2 fields: the one that is present
    for candidate in ("list", "s", "i", "f", "b", "type", "shape", "tensor", "func", "placeholder"):
        if value.HasField(candidate):
            kind = candidate
            break
    if kind is None:
        return None
    if kind == "s":
        return value.s.decode("utf-8", errors="replace")
    if kind == "shape":
        return shape_of(value.shape)
    if kind == "tensor":
        return tensor_to_numpy(value.tensor)
    if kind == "func":
        return value.func.name
    if kind == "list":
        items = value.list
        for name in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
            field_values = getattr(items, name)
            if len(field_values):
                if name == "s":
                    return [v.decode("utf-8", errors="replace") for v in field_values]
                if name == "shape":
                    return [shape_of(v) for v in field_values]
                if name == "tensor":
                    return [tensor_to_numpy(v) for v in field_values]
                if name == "func":
                    return [v.name for v in field_values]
                return list(field_values)
        return []
    return getattr(value, kind)


class _OpSignatures:
    """Output-argument layouts of ops and functions, to turn `node:arg:i` refs into flat indexes."""

    def __init__(self, meta_graph: Any):
        self.ops = {op.name: op for op in meta_graph.meta_info_def.stripped_op_list.op}
        self.functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}

    def flat_index(self, node_def: Any, arg_name: str, index: int) -> int:
        definition = self.ops.get(node_def.op)
        if definition is None and node_def.op in self.functions:
            definition = self.functions[node_def.op].signature
        if definition is None:
            return index
        offset = 0
        for arg in definition.output_arg:
            if arg.name == arg_name:
                return offset + index
            if arg.number_attr:
                offset += node_def.attr[arg.number_attr].i
            elif arg.type_list_attr:
                offset += len(node_def.attr[arg.type_list_attr].list.type)
            else:
                offset += 1
        return index


def _graph_ref(text: str) -> Tensor:
    name, _, index = text.partition(":")
    return name, int(index) if index else 0


@dataclass
class Graph:
    """All nodes of the serving graph with calls inlined; `aliases` redirect call outputs to their bodies."""

    nodes: dict[str, Node] = field(default_factory=dict)
    aliases: dict[Tensor, Tensor] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    output_counts: dict[str, int] = field(default_factory=dict)  # node -> highest used output index + 1

    def resolve(self, tensor: Tensor) -> Tensor:
        seen = 0
        while tensor in self.aliases and seen < 10_000:
            tensor = self.aliases[tensor]
            seen += 1
        return tensor

    def producer(self, tensor: Tensor) -> Node | None:
        return self.nodes.get(self.resolve(tensor)[0])

    def between(self, inputs: Iterable[Tensor], outputs: Iterable[Tensor]) -> set[str]:
        """Names of the nodes the outputs depend on, walking back no further than the inputs."""
        stop = {self.resolve(t)[0] for t in inputs}
        keep: set[str] = set()
        stack = [self.resolve(t)[0] for t in outputs]
        while stack:
            name = stack.pop()
            if name in keep or name not in self.nodes:
                continue
            keep.add(name)
            if name in stop:
                continue
            stack.extend(self.resolve(t)[0] for t in self.nodes[name].inputs)
        return keep


class _Builder:
    def __init__(self, model: SavedModelFile):
        self.model = model
        self.signatures = _OpSignatures(model.meta_graph)
        self.graph = Graph()
        self._top_level: dict[str, Any] = {}
        self.reserved: set[str] = set()

    def build(self) -> Graph:
        # Top-level names win: inlined function bodies are renamed around them, never the reverse.
        self._top_level = {node_def.name: node_def for node_def in self.model.meta_graph.graph_def.node}
        self.reserved = set(self._top_level)
        for node_def in self.model.meta_graph.graph_def.node:
            inputs = [_graph_ref(i) for i in node_def.input if not i.startswith("^")]
            control = [i[1:] for i in node_def.input if i.startswith("^")]
            self._add(node_def, node_def.name, inputs, control)
        self._tag_variables()
        counts = self.graph.output_counts
        for node in self.graph.nodes.values():
            for tensor in node.inputs:
                name, index = self.graph.resolve(tensor)
                counts[name] = max(counts.get(name, 1), index + 1)
        return self.graph

    def _add(self, node_def: Any, name: str, inputs: list[Tensor], control: list[str], depth: int = 0) -> None:
        function_name = None
        if node_def.op in CALL_OPS:
            function_name = node_def.attr["f"].func.name
        elif node_def.op in self.signatures.functions:
            function_name = node_def.op
        elif node_def.op in IF_OPS and inputs:
            predicate = self._constant_value(inputs[0])
            if predicate is not None:  # a constant condition picks its branch at import time
                branch = "then_branch" if bool(np.asarray(predicate).reshape(-1)[0]) else "else_branch"
                function_name = node_def.attr[branch].func.name
                inputs = inputs[1:]
        if function_name is not None:
            self._inline(name, function_name, inputs, depth)
            return
        self.graph.nodes[name] = Node(name, node_def.op, inputs, node_def.attr, control)

    def _constant_value(self, tensor: Tensor) -> Any:
        """The value of a tensor that a Const (through Identity/PlaceholderWithDefault) produces, if any."""
        for _ in range(100):
            name = self.graph.resolve(tensor)[0]
            node = self.graph.nodes.get(name)
            if node is not None:
                op, first = node.op, (node.inputs[0] if node.inputs else None)
                value = node.attr("value") if op == "Const" else None
            else:  # a top-level node not added yet (graph_def order is not topological)
                raw = self._top_level.get(name)
                if raw is None:
                    return None
                op = raw.op
                data = [i for i in raw.input if not i.startswith("^")]
                first = _graph_ref(data[0]) if data else None
                value = decode_attr(raw.attr["value"]) if op == "Const" else None
            if op == "Const":
                return value
            if op not in ("Identity", "PlaceholderWithDefault") or first is None:
                return None
            tensor = first
        return None

    def _unique(self, name: str, prefix: str) -> str:
        """Keep inner node names (they name constants and functions) unless they clash."""
        if name not in self.graph.nodes and name not in self.reserved:
            return name
        candidate = f"{prefix}/{name}"
        n = 1
        while candidate in self.graph.nodes or candidate in self.reserved:
            candidate = f"{prefix}/{name}_{n}"
            n += 1
        return candidate

    def _inline(self, call_name: str, function_name: str, call_inputs: list[Tensor], depth: int) -> None:
        function = self.signatures.functions.get(function_name)
        if function is None or depth > 50:
            self.graph.problems.append(f"call '{call_name}' refers to function '{function_name}', "
                                       "which the function library does not hold")
            self.graph.nodes[call_name] = Node(call_name, "MissingFunction", call_inputs, {})
            return
        # The call itself stays reserved (as a marker) so no inlined node takes its name.
        self.graph.nodes[call_name] = Node(call_name, "FunctionCall", list(call_inputs), {})
        args = {arg.name: call_inputs[i] for i, arg in enumerate(function.signature.input_arg)
                if i < len(call_inputs)}
        renamed = {node_def.name: self._unique(node_def.name, call_name) for node_def in function.node_def}
        # Reserve the names first so nested calls do not take them.
        for new_name in renamed.values():
            self.graph.nodes.setdefault(new_name, Node(new_name, "NoOp", [], {}))
        by_name = {node_def.name: node_def for node_def in function.node_def}

        def inner(ref: str) -> Tensor:
            parts = ref.split(":")
            if len(parts) == 1:
                return args.get(parts[0], (renamed.get(parts[0], parts[0]), 0))
            source = by_name.get(parts[0])
            index = int(parts[2]) if len(parts) > 2 else int(parts[1])
            flat = self.signatures.flat_index(source, parts[1], index) if source is not None and len(parts) > 2 \
                else index
            return renamed.get(parts[0], parts[0]), flat

        for node_def in function.node_def:
            inputs = [inner(i) for i in node_def.input if not i.startswith("^")]
            control = [renamed.get(i[1:], i[1:]) for i in node_def.input if i.startswith("^")]
            self._add(node_def, renamed[node_def.name], inputs, control, depth + 1)
        for i, arg in enumerate(function.signature.output_arg):
            ret = function.ret.get(arg.name)
            if ret is not None:
                self.graph.aliases[(call_name, i)] = inner(ret)

    def _tag_variables(self) -> None:
        checkpoint = self.model.checkpoint
        if checkpoint is None:
            return
        restored = self._restored_keys()
        by_full_name: dict[str, str] = {}
        if self.model.object_graph is not None:
            for obj in self.model.object_graph.nodes:
                for attribute in obj.attributes:
                    if attribute.name == "VARIABLE_VALUE":
                        by_full_name.setdefault(attribute.full_name, attribute.checkpoint_key)
        for node in self.graph.nodes.values():
            if node.op not in VARIABLE_OPS:
                continue
            shared = node.attr("shared_name") or ""
            for candidate in (restored.get(node.name), shared, node.name, by_full_name.get(shared),
                              by_full_name.get(node.name)):
                if candidate and candidate in checkpoint:
                    node.variable = candidate
                    break

    def _restored_keys(self) -> dict[str, str]:
        """Variable node -> checkpoint key, read off the model's own restore graph (RestoreV2 feeding
        Assign/AssignVariableOp): what TensorFlow itself runs to load the variables."""
        graph = self.graph
        keys: dict[str, str] = {}
        for node in graph.nodes.values():
            if node.op not in ("Assign", "AssignVariableOp") or len(node.inputs) < 2:
                continue
            target = self._through_identities(node.inputs[0])
            source = self._through_identities(node.inputs[1])
            restore = graph.nodes.get(source[0])
            if target is None or source is None or restore is None or restore.op not in ("RestoreV2", "Restore"):
                continue
            names_node = graph.producer(restore.inputs[1]) if len(restore.inputs) > 1 else None
            names = names_node.attr("value") if names_node is not None and names_node.op == "Const" else None
            if names is not None and source[1] < names.size:
                raw = names.reshape(-1)[source[1]]
                keys[target[0]] = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        return keys

    def _through_identities(self, tensor: Tensor) -> Tensor | None:
        for _ in range(100):
            tensor = self.graph.resolve(tensor)
            node = self.graph.nodes.get(tensor[0])
            if node is None:
                return None
            if node.op not in ("Identity", "IdentityN") or not node.inputs:
                return tensor
            tensor = node.inputs[tensor[1] if node.op == "IdentityN" else 0]
        return None


def build_graph(model: SavedModelFile) -> Graph:
    """The serving graph of a SavedModel in one form, whatever form it was saved in."""
    return _Builder(model).build()
