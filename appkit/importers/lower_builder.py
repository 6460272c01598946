"""ImportBuilder: what a framework importer drives node by node to produce an ImportedModel.

It names inputs, constants and shared subexpressions as Vespa does (reference §2), collects every
unsupported op and converter error of a run, and at the end stores each constant under the
dimension names its uses want, so imported expressions carry no renames of constants.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import replace
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from appkit.diagnostics import Diagnostic, rule
from appkit.expr import ir
from appkit.importers import lower
from appkit.importers.lower import UNIT, ConversionError, LoweringContext, Operand, vespa_type
from appkit.importers.model import ImportedModel, ModelInput, ModelOutput, VariableMapping
from appkit.importers.naming import FUNCTION_PREFIX, vespa_name
from appkit.source import Span
from appkit.tensor.type import CellType, Dimension, TensorType

AK440 = rule("AK440", "unsupported operation in a model",
             example="an ONNX model using Conv, or a TensorFlow graph using Conv2D",
             fix="rewrite the model without the operation, or evaluate it with onnxruntime (onnx-model)")
AK441 = rule("AK441", "operation cannot be converted",
             example="Reshape whose shape input is computed at run time",
             fix="make the input a constant (export with constant folding), or use onnx-model")


class ImportBuilder:
    def __init__(self, model_name: str, path: str, format: str, source_path: str | None = None,
                 framework: str = "ONNX"):
        self.model = ImportedModel(model_name, path, format)
        self.ctx = LoweringContext(model_name)
        self.values: dict[str, Operand] = {}  # framework tensor name -> operand
        self.uses: Counter[str] = Counter()  # framework tensor name -> number of consumers
        self.framework = framework
        self.source_path = source_path or path
        self._unsupported: dict[str, list[str]] = {}
        self._errors: list[Diagnostic] = []
        self._variables: dict[str, str] = {}  # constant name -> framework variable name
        self._unknown_shapes: set[str] = set()  # inputs declared without a shape
        self.failed: set[str] = set()  # tensors whose producer failed or is unsupported (already reported)

    # --- graph boundary ----------------------------------------------------------------------------

    def add_input(self, framework_name: str, shape: Sequence[int | None] | None, cell_type: CellType) -> Operand:
        """Raises ConversionError for a shape Vespa cannot represent (a size-0 dimension)."""
        if shape is None:  # no declared shape: an error only if an expression ends up using it
            self._unknown_shapes.add(vespa_name(framework_name))
            shape = ()
        if any(s == 0 for s in shape):
            raise ConversionError(f"input '{framework_name}' has a dimension of size 0, which Vespa cannot represent")
        name = vespa_name(framework_name)
        op = lower.input_operand(name, shape, cell_type)
        self.model.inputs[name] = ModelInput(name, framework_name, vespa_type(op))
        self.values[framework_name] = op
        return op

    def add_variable(self, framework_name: str, value: np.ndarray, cell_type: CellType | None = None,
                     name: str | None = None) -> Operand:
        """A model variable (initializer): a constant named `<model>_<name>`."""
        cname = name or f"{self.model.name}_{vespa_name(framework_name)}"
        token = lower.use_context(self.ctx)
        try:
            op = lower.constant(value, cell_type, cname)
        finally:
            lower.reset_context(token)
        if isinstance(op.expr, ir.Feature):
            self._variables[_constant_ref(op.expr) or cname] = framework_name
        self.values[framework_name] = op
        return op

    def count_uses(self, names: Iterable[str]) -> None:
        self.uses.update(n for n in names if n)

    # --- nodes -------------------------------------------------------------------------------------

    def unsupported(self, op_type: str, node_name: str, outputs: Sequence[str] = ()) -> None:
        self._unsupported.setdefault(op_type, []).append(node_name)
        self.failed.update(outputs)

    def missing_inputs(self, node_name: str, op_type: str, inputs: Sequence[str], outputs: Sequence[str]) -> bool:
        """True when an input is not available; an input no node produces (rather than one whose
        producer failed, which is reported already) is an error of its own."""
        missing = [n for n in inputs if n and n not in self.values]
        if not missing:
            return False
        unknown = [n for n in missing if n not in self.failed]
        if unknown:
            self.error(node_name, op_type, f"uses '{unknown[0]}', which no node or graph input produces")
        self.failed.update(outputs)
        return True

    def error(self, node_name: str, op_type: str, message: str) -> None:
        self._errors.append(Diagnostic(
            AK441, f"{op_type} node '{node_name}': {message}", Span(self.source_path, 1, 1),
            hint="use onnx-model (ONNX Runtime) for this model, or export it so this input is a constant"))

    def run(self, node_name: str, op_type: str, output_names: Sequence[str],
            convert: Callable[[], Sequence[Operand] | Operand]) -> bool:
        """Run one converter with this node's naming context; store its outputs. False on error."""
        node = vespa_name(node_name)
        self.ctx.node = node
        token = lower.use_context(self.ctx)
        try:
            result = convert()
            outputs = [result] if isinstance(result, Operand) else list(result)
            for i, (name, op) in enumerate(zip(output_names, outputs)):
                if not name:
                    continue
                suffix = "" if len(output_names) == 1 or i == 0 else f"_{i}"
                self.values[name] = self._finish_output(op, node + suffix, name)
        except ConversionError as e:
            self.error(node_name, op_type, str(e))
            self.failed.update(output_names)
            return False
        except Exception as e:  # a converter bug: reported against its node; the other nodes go on
            if os.environ.get("APPKIT_DEBUG"):
                raise
            self.error(node_name, op_type, f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
            self.failed.update(output_names)
            return False
        finally:
            lower.reset_context(token)
        return True

    def _finish_output(self, op: Operand, node: str, tensor_name: str) -> Operand:
        if op.is_constant and isinstance(op.expr, (ir.Feature, ir.Rename)):
            # the top-most constant of a subgraph is named after its node
            target = f"{self.model.name}_{node}"
            if _constant_ref(op.expr) == target:
                return op
            if target in self.ctx.constants and target not in self._variables:
                # an intermediate constant of this node holds the name; only the output is ever used
                self.ctx.add_constant(*self.ctx.constants.pop(target), name=target + "_part")
            return lower.constant(op.value, op.cell_type, target)
        if not op.is_constant and self.uses[tensor_name] > 1 and not isinstance(op.expr, (ir.Ref, ir.Number)):
            fname = self.ctx.add_function(op.expr, vespa_type(op), f"{FUNCTION_PREFIX}{self.model.name}_{node}")
            return replace(op, expr=ir.Ref(fname))
        return op

    def get(self, name: str) -> Operand:
        if name not in self.values:
            raise ConversionError(f"input '{name}' is not available (its producer failed or is unsupported)")
        return self.values[name]

    def has(self, name: str) -> bool:
        return name in self.values

    # --- outputs and the result --------------------------------------------------------------------

    def add_output(self, signature: str, key: str, op: Operand) -> None:
        if any(s == 0 for s in op.shape):
            self._errors.append(Diagnostic(
                AK441, f"output '{key}' is an empty tensor (a dimension of size 0), which Vespa cannot represent",
                Span(self.source_path, 1, 1), hint="export the model so that its outputs have no size-0 dimension"))
            return
        std = lower.to_standard(op)
        expr = std.expr
        if isinstance(expr, ir.Number):  # a scalar output still needs a tensor expression
            expr = ir.Number(expr.value)
        name = f"{signature}.{key}"
        self.model.expressions[name] = expr
        self.model.outputs[name] = ModelOutput(signature, key, vespa_type(std))
        keys = self.model.signatures.get(signature, ())
        self.model.signatures[signature] = keys + (key,)

    def finish(self) -> ImportedModel:
        m = self.model
        for op_type, nodes in sorted(self._unsupported.items()):
            shown = ", ".join(f"'{n}'" for n in nodes[:20]) + (f" and {len(nodes) - 20} more" if len(nodes) > 20 else "")
            m.diagnostics.append(Diagnostic(
                AK440, f"Operation '{op_type}' is currently not implemented (used by {shown})",
                Span(self.source_path, 1, 1),
                hint="run 'appkit ops' for the supported operations; use onnx-model (ONNX Runtime) for this model"))
        m.diagnostics.extend(self._errors)
        functions = {n: e for n, (e, _) in self.ctx.functions.items()}
        used_functions = _reachable_functions(m.expressions.values(), functions)
        m.functions = {n: functions[n] for n in self.ctx.functions if n in used_functions}
        m.function_types = {n: self.ctx.functions[n][1] for n in m.functions}
        self._store_constants()
        self._prune_inputs()
        if lower.EMPTY_CONSTANT in m.constants or any(_references_empty(e) for e in list(m.expressions.values()) + list(m.functions.values())):
            m.diagnostics.append(Diagnostic(
                AK441, "the model computes an empty tensor (a dimension of size 0), which Vespa cannot represent",
                Span(self.source_path, 1, 1), hint="export the model so that no tensor has a size-0 dimension"))
        return m

    def _prune_inputs(self) -> None:
        """Only inputs the expressions use are required of the package (Vespa verifies the same)."""
        m = self.model
        used = {n.name for e in list(m.expressions.values()) + list(m.functions.values())
                for n in ir.walk(e) if isinstance(n, ir.Ref)}
        m.inputs = {k: v for k, v in m.inputs.items() if k in used}
        for name in sorted(self._unknown_shapes & used):
            m.diagnostics.append(Diagnostic(
                AK441, f"input '{name}' has no declared shape, so its tensor type is unknown",
                Span(self.source_path, 1, 1), hint="export the model with input shapes (dynamic sizes may stay symbolic)"))

    def _store_constants(self) -> None:
        m = self.model
        everything = list(m.expressions.items()) + list(m.functions.items())
        uses = _constant_uses([e for _, e in everything])
        stored: dict[str, tuple[str, ...]] = {}
        for cname, (value, dims, cell) in self.ctx.constants.items():
            if cname not in uses:
                continue
            mappings = {u for u in uses[cname]}
            final = dims
            if len(mappings) == 1:
                (mapping,) = mappings
                final = tuple(mapping.get(d, d) if d != UNIT else UNIT for d in dims)
            stored[cname] = final if len(mappings) == 1 else dims
            m.constants[cname] = _tensor(value, stored[cname], cell)
            framework = self._variables.get(cname)
            if framework is not None:
                ordered = ",".join(f"{d}[{s}]" for d, s in zip(stored[cname], value.shape) if d != UNIT)
                m.variables.append(VariableMapping(framework, cname, _type_of(value, stored[cname], cell),
                                                   f"tensor({ordered})", int(value.size)))
        strip = {c for c, maps in uses.items() if len(set(maps)) == 1 and c in stored}
        m.expressions = {n: _strip_renames(e, strip) for n, e in m.expressions.items()}
        m.functions = {n: _strip_renames(e, strip) for n, e in m.functions.items()}


def _references_empty(expr: ir.Expr) -> bool:
    return any(_constant_ref(n) == lower.EMPTY_CONSTANT for n in ir.walk(expr) if isinstance(n, ir.Feature))


def _constant_ref(expr: ir.Expr) -> str | None:
    if isinstance(expr, ir.Feature) and expr.name == "constant" and len(expr.args) == 1 and \
            isinstance(expr.args[0], ir.Ref):
        return expr.args[0].name
    return None


def _reachable_functions(roots: Iterable[ir.Expr], functions: dict[str, ir.Expr]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for node in ir.walk(stack.pop()):
            if isinstance(node, ir.Ref) and node.name in functions and node.name not in seen:
                seen.add(node.name)
                stack.append(functions[node.name])
    return seen


def _constant_uses(exprs: Iterable[ir.Expr]) -> dict[str, list[Any]]:
    """For each constant, the renaming each use applies to it ({} for a bare use)."""
    uses: dict[str, list[Any]] = {}
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Rename):
            c = _constant_ref(node.arg)
            if c is not None:
                uses.setdefault(c, []).append(_Mapping(zip(node.from_dims, node.to_dims)))
                continue
        c = _constant_ref(node) if isinstance(node, ir.Feature) else None
        if c is not None:
            uses.setdefault(c, []).append(_Mapping(()))
            continue
        stack.extend(ir.children(node))
    return uses


class _Mapping(dict):  # hashable so that identical renamings collapse in a set
    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


def _strip_renames(expr: ir.Expr, constants: set[str]) -> ir.Expr:
    if isinstance(expr, ir.Rename) and _constant_ref(expr.arg) in constants:
        return expr.arg
    changes: dict[str, Any] = {}
    for fname in expr.__dataclass_fields__:
        if fname == "span":
            continue
        value = getattr(expr, fname)
        if isinstance(value, ir.Node):
            new = _strip_renames(value, constants)
            if new is not value:
                changes[fname] = new
        elif isinstance(value, tuple) and any(isinstance(v, (ir.Node, tuple)) for v in value):
            new_t = tuple(_strip_item(v, constants) for v in value)
            if any(a is not b for a, b in zip(new_t, value)):
                changes[fname] = new_t
    return replace(expr, **changes) if changes else expr


def _strip_item(value: Any, constants: set[str]) -> Any:
    if isinstance(value, ir.Node):
        return _strip_renames(value, constants)
    if isinstance(value, tuple):
        new = tuple(_strip_item(v, constants) for v in value)
        return new if any(a is not b for a, b in zip(new, value)) else value
    return value


def _type_of(value: np.ndarray, dims: Sequence[str], cell: CellType) -> TensorType:
    return TensorType([Dimension(d, int(s)) for d, s in zip(dims, value.shape) if d != UNIT], cell)


def _tensor(value: np.ndarray, dims: Sequence[str], cell: CellType) -> Any:
    """The constant as an appkit Tensor (cells in the type's dimension order)."""
    type_ = _type_of(value, dims, cell)
    real = [i for i, d in enumerate(dims) if d != UNIT]
    arr = np.asarray(value).reshape([value.shape[i] for i in real]) if len(real) != value.ndim else np.asarray(value)
    order = sorted(range(len(real)), key=lambda k: dims[real[k]])
    # no copies: a 10M-weight model must import in a fraction of TensorFlow's memory (benchmarks/import_tf.py)
    arr = np.transpose(arr, order).astype(cell.numpy_dtype if arr.dtype != bool else np.float32, copy=False)
    try:
        from appkit.tensor.value import Tensor
    except ImportError:  # the value class is not there yet: keep the dense array in type order
        return arr
    return Tensor.from_numpy(type_, arr, copy=False)


__all__ = ["ImportBuilder", "AK440", "AK441"]
