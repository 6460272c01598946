"""`import_tensorflow_model`: a SavedModel directory to ranking expressions, functions and constants.

Reads the model (no TensorFlow), normalises its graph form, converts what lies between each
signature's inputs and outputs, op by op through the registry, and collects every problem of the
run (unsupported ops, one diagnostic per op type; converter errors with their node) as diagnostics.
Never raises: an ImportedModel always comes back, `.ok` says whether it can be used.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.importers import lower
from appkit.importers.lower_builder import ImportBuilder
from appkit.importers.model import ImportedModel, Operand
from appkit.importers.naming import vespa_name
from appkit.importers.tensorflow import protos
from appkit.importers.tensorflow.checkpoint import CheckpointError
from appkit.importers.tensorflow.graph import VARIABLE_OPS, Graph, Node, Tensor, build_graph
from appkit.importers.tensorflow.savedmodel import SavedModelError, SavedModelFile, read_saved_model
from appkit.source import Span
from appkit.tensor.type import CellType

LOG = logging.getLogger("appkit.import")

AK400 = rule("AK400", "TensorFlow model cannot be read",
             example="models/m/saved_model.pb is truncated or is not a SavedModel",
             fix="export the model again with tf.saved_model.save (or SavedModelBuilder)")
AK401 = rule("AK401", "TensorFlow import failed unexpectedly",
             example="a graph form appkit does not expect trips a bug in the importer",
             fix="report the model that triggers it (APPKIT_DEBUG=1 shows the traceback); meanwhile convert "
             "it to ONNX and use onnx-model")
AK402 = rule("AK402", "TensorFlow variable missing from the checkpoint",
             example="a VariableV2 node with no entry in variables/variables.index",
             fix="save the model after the variables are initialised (variables/ must hold them)")
AK403 = rule("AK403", "TensorFlow signature tensor unusable",
             example="a signature input of unknown rank, or an output that names no node",
             fix="give the signature's tensors a known rank (shape=[None, 784])")

# TF dtypes that are floating point in the model; everything else computes as float cells
_DOUBLE_TYPES = {2}
CONSTANT_OPS = frozenset({"Const", "HostConst"})
_NOT_NUMERIC = frozenset({7, 8, 18, 20, 21})  # string, complex, resource, variant


def cell_type_of_dtype(dtype: int) -> CellType:
    return CellType.DOUBLE if dtype in _DOUBLE_TYPES else CellType.FLOAT


def _diagnostic(code: str, message: str, path: Path, hint: str | None = None,
                severity: Severity | None = None) -> Diagnostic:
    return Diagnostic(code, message, Span(str(path), 1, 1), hint, severity)


class _Status:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


OK, FAILED, DEAD = _Status("ok"), _Status("failed"), _Status("dead")
# Ops that only pass their input on: aliased without a converter, so a variable read through
# `Variable/read` stays the variable's own constant (its log-line name is the one to override).
PASS_THROUGH = frozenset({"Identity", "ReadVariableOp", "StopGradient", "Snapshot", "PreventGradient",
                          "PlaceholderWithDefault", "EnsureShape", "CheckNumerics"})


def _name(tensor: Tensor) -> str:
    return f"{tensor[0]}:{tensor[1]}"


class _Conversion:
    """Converts what signature outputs need, demand-driven and memoised, through an ImportBuilder.

    Switch/Merge: a Switch's untaken output is dead, and so is everything depending on it; a Merge
    converts only its live input, so training-only branches are never looked at.
    """

    def __init__(self, builder: ImportBuilder, saved: SavedModelFile, graph: Graph):
        from appkit.importers.tensorflow.ops import TF

        self.registry = TF
        self.builder = builder
        self.saved = saved
        self.graph = graph
        self.status: dict[str, _Status] = {}
        self.live: dict[str, bool | None] = {}
        self.variables_read: list[str] = []

    def bind_input(self, tensor: Tensor, dtype: int, shape: tuple[int | None, ...]) -> None:
        operand = self.builder.add_input(tensor[0], shape, cell_type_of_dtype(dtype))
        self.builder.values[_name(tensor)] = operand
        self.status[tensor[0]] = OK

    def output(self, tensor: Tensor) -> Operand | _Status:
        tensor = self.graph.resolve(tensor)
        status = self.node_status(tensor[0])
        if status is not OK:
            return status
        if not self.builder.has(_name(tensor)):
            self.builder.error(tensor[0], self.graph.nodes[tensor[0]].op, f"has no output {tensor[1]}")
            return FAILED
        return self.builder.get(_name(tensor))

    def node_status(self, name: str) -> _Status:
        if name in self.status:
            return self.status[name]
        node = self.graph.nodes.get(name)
        if node is None:
            self.builder.error(name, "?", "is referred to but is not in the graph")
            self.status[name] = FAILED
            return FAILED
        self.status[name] = FAILED  # a cycle (TF1 while loop) must not recurse forever
        self.status[name] = self._convert(node)
        return self.status[name]

    def _inputs(self, node: Node) -> list[Operand] | _Status:
        if node.op in ("Merge", "RefMerge"):
            for tensor in node.inputs:
                if self.is_live(self.graph.resolve(tensor)):
                    value = self.output(tensor)
                    return [value] if isinstance(value, Operand) else value
            return DEAD
        values = [self.output(t) for t in node.inputs]
        if any(v is DEAD for v in values):
            return DEAD
        if any(v is FAILED for v in values):
            return FAILED
        return values  # type: ignore[return-value]

    def _convert(self, node: Node) -> _Status:
        if not self.is_live((node.name, -1)):
            return DEAD
        if node.op in CONSTANT_OPS:
            return self._constant(node)
        if node.op in VARIABLE_OPS:
            return self._variable(node)
        inputs = self._inputs(node)
        registration = self.registry.lookup(node.op)
        if registration is None:
            self.builder.unsupported(node.op, node.name)
            return FAILED
        if not isinstance(inputs, list):
            return inputs
        if node.op in PASS_THROUGH and inputs and inputs[0].is_constant:
            self.builder.values[_name((node.name, 0))] = inputs[0]  # keeps the variable's own name
            return OK
        outputs = [_name((node.name, i)) for i in range(_output_count(node, self.graph))]
        ok = self.builder.run(node.name, node.op, outputs, lambda: registration.converter(node, inputs))
        return OK if ok else FAILED

    def _store(self, node: Node, make: Any) -> _Status:
        token = lower.use_context(self.builder.ctx)
        try:
            self.builder.values[_name((node.name, 0))] = make()
        except (ValueError, lower.ConversionError) as e:
            self.builder.error(node.name, node.op, str(e))
            return FAILED
        finally:
            lower.reset_context(token)
        return OK

    def _constant(self, node: Node) -> _Status:
        value = node.attr("value")
        if value is None or value.dtype == object:
            self.builder.error(node.name, node.op, "has no numeric value (string constants cannot be tensors)")
            return FAILED
        self.builder.ctx.node = vespa_name(node.name)
        return self._store(node, lambda: lower.constant(value, name=f"{self.builder.model.name}_{vespa_name(node.name)}"))

    def _variable(self, node: Node) -> _Status:
        checkpoint = self.saved.checkpoint
        if node.variable is None or checkpoint is None:
            where = "the model has no variables/ directory" if checkpoint is None else \
                "no checkpoint entry matches it"
            self.builder.model.diagnostics.append(Diagnostic(
                AK402, f"variable '{node.name}' has no value ({where})", Span(str(self.saved.graph_file), 1, 1),
                "save the model after its variables are initialised"))
            return FAILED
        try:
            value = checkpoint.read(node.variable)
        except CheckpointError as e:
            self.builder.error(node.name, node.op, str(e))
            return FAILED
        self.builder.ctx.node = vespa_name(node.name)
        self.variables_read.append(node.name)
        operand = self.builder.add_variable(node.name, value)
        self.builder.values[_name((node.name, 0))] = operand
        return OK

    def is_live(self, tensor: Tensor) -> bool:
        """False for a Switch's untaken output and what depends on it; index -1 asks about the node."""
        key = _name(tensor)
        if key in self.live:
            return self.live[key] is not False
        self.live[key] = None  # cycles count as live
        node = self.graph.nodes.get(tensor[0])
        result = True
        if node is not None:
            if node.op in ("Merge", "RefMerge"):
                result = any(self.is_live(self.graph.resolve(t)) for t in node.inputs) if node.inputs else True
            else:
                sources = [self.graph.resolve(t) for t in node.inputs] + [(c, -1) for c in node.control]
                result = all(self.is_live(t) for t in sources)
                if result and node.op in ("Switch", "RefSwitch") and tensor[1] >= 0 and len(node.inputs) > 1:
                    predicate = self.output(node.inputs[1])
                    if isinstance(predicate, Operand) and predicate.is_constant:
                        result = int(bool(np.asarray(predicate.value).reshape(-1)[0])) == tensor[1]
        self.live[key] = result
        return result


def _output_count(node: Node, graph: Graph) -> int:
    """How many outputs a node has, as far as anything uses them (at least one)."""
    return max(graph.output_counts.get(node.name, 1), 1)


def import_tensorflow_model(model_dir: Path, name: str) -> ImportedModel:
    """Import the SavedModel in `model_dir` as model `name` (its name under models/, see naming)."""
    builder = ImportBuilder(name, str(model_dir), "tensorflow", framework="TensorFlow")
    model = builder.model
    try:
        saved = read_saved_model(Path(model_dir))
        graph = build_graph(saved)
    except (SavedModelError, ValueError) as e:
        model.diagnostics.append(_diagnostic(AK400, f"Could not import TensorFlow model from directory "
                                             f"'{model_dir}': {e}", Path(model_dir)))
        return model
    builder.source_path = str(saved.graph_file)
    variables_read: list[str] = []
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # conversion and finishing recurse along the graph's depth
    try:
        variables_read = _convert_signatures(builder, saved, graph).variables_read
        for problem in graph.problems:
            model.diagnostics.append(_diagnostic(AK400, problem, saved.graph_file))
        builder.finish()
    except RecursionError:
        model.expressions.clear()
        model.diagnostics.append(_diagnostic(
            AK401, f"Could not import TensorFlow model from directory '{model_dir}': the graph is too deep (a "
            "path of thousands of ops) to become a ranking expression", saved.graph_file,
            "ranking expressions nest one level per op; use onnx-model (ONNX Runtime) for a model this deep"))
    except Exception as e:  # never raise: the package's other checks must still run
        if os.environ.get("APPKIT_DEBUG"):
            raise
        model.diagnostics.append(_diagnostic(AK401, f"Could not import TensorFlow model from directory "
                                             f"'{model_dir}': {type(e).__name__}: {e}", saved.graph_file,
                                             "this is a bug in appkit; rerun with APPKIT_DEBUG=1 and report it"))
    finally:
        sys.setrecursionlimit(limit)
    if saved.graph_file.suffix == ".pbtxt":
        model.diagnostics[:] = _locate_in_text(model.diagnostics, saved.graph_file)
    for variable in model.variables:
        LOG.info(variable.log_line())
    kept = {v.framework_name for v in model.variables}
    for name in variables_read:
        if name not in kept:  # e.g. batch-norm statistics, combined with others into one constant
            LOG.info("TensorFlow variable %s is folded into other constants at import, so no function can "
                     "override it alone", name)
    return model


def _convert_signatures(builder: ImportBuilder, saved: SavedModelFile, graph: Graph) -> _Conversion:
    conversion = _Conversion(builder, saved, graph)
    specs_in = [s for sig in saved.signatures.values() for s in sig.inputs.values()]
    specs_out = [s for sig in saved.signatures.values() for s in sig.outputs.values()]
    needed = graph.between([_tensor(s.tensor) for s in specs_in], [_tensor(s.tensor) for s in specs_out])
    for spec in specs_out:  # a signature may use a later output of a multi-output node (Unpack:1)
        node, index = graph.resolve(_tensor(spec.tensor))
        graph.output_counts[node] = max(graph.output_counts.get(node, 1), index + 1)
    builder.count_uses(_name(graph.resolve(t)) for n in needed for t in graph.nodes[n].inputs)
    for signature in saved.signatures.values():
        for key, spec in signature.inputs.items():
            tensor = graph.resolve(_tensor(spec.tensor))
            problem = None
            if tensor[0] not in graph.nodes:
                problem = f"names '{spec.tensor}', which is not in the graph"
            elif spec.shape is None:
                problem = "has unknown rank; a ranking input needs a known rank (e.g. shape=[None, 784])"
            elif spec.dtype in _NOT_NUMERIC:
                problem = f"has type {data_type_name(spec.dtype)}, which cannot be a Vespa tensor"
            if problem:
                builder.model.diagnostics.append(_diagnostic(
                    AK403, f"signature '{signature.key}' input '{key}' {problem}", saved.graph_file))
            elif graph.nodes[tensor[0]].op == "PlaceholderWithDefault":
                continue  # taken as its constant default, as Vespa does: `training` flags fold away
            elif tensor[0] not in conversion.status:
                conversion.bind_input(tensor, spec.dtype, spec.shape)  # type: ignore[arg-type]
    for signature in saved.signatures.values():
        for key, spec in signature.outputs.items():
            result = conversion.output(_tensor(spec.tensor))
            if isinstance(result, Operand):
                builder.add_output(signature.key, key, result)
            elif result is DEAD:
                builder.model.diagnostics.append(_diagnostic(
                    AK403, f"signature '{signature.key}' output '{key}' is never computed: it lies in a "
                    "branch that a constant predicate switches off", saved.graph_file))
        builder.model.signatures.setdefault(signature.key, tuple(signature.outputs))
    return conversion


def _tensor(text: str) -> Tensor:
    name, _, index = text.partition(":")
    return name, int(index) if index.isdigit() else 0


def _locate_in_text(diagnostics: list[Diagnostic], graph_file: Path) -> list[Diagnostic]:
    """Point diagnostics about a node at the line defining it in a .pbtxt (`name: "<node>"`)."""
    lines: dict[str, int] = {}
    try:
        text = graph_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return diagnostics
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith('name: "'):
            lines.setdefault(stripped[7:-1], number)
    located = []
    for d in diagnostics:
        span = d.span
        if span is not None and span.line == 1 and span.path == str(graph_file):
            for quoted in re.findall(r"'([^']+)'", d.message):
                if quoted in lines:
                    column = text.splitlines()[lines[quoted] - 1].index("name:") + 1
                    d = Diagnostic(d.code, d.message, Span(span.path, lines[quoted], column), d.hint, d.severity)
                    break
        located.append(d)
    return located


def data_type_name(dtype: int) -> str:
    return protos.DATA_TYPE_NAMES.get(dtype, str(dtype))
