"""Batch evaluation: compile an expression once, evaluate it for N documents with no loop per document.

Document inputs arrive stacked along a leading batch axis; everything that does not depend on them
(constants, query tensors, their transformations) is computed once, by the reference evaluator, and
baked into the program. What remains is a short list of numpy steps over (N, ...) arrays whose dense
dimensions are in canonical (sorted) order, so joins broadcast by reshaping alone. A sum-reduce over a
product join becomes one matrix product (BLAS), float32 stays float32, elementwise steps write into
temporaries they own, and large batches run in blocks of documents so temporaries stay small.
Expressions the compiler cannot vectorise (mapped dimensions on the document side, tensor-building
lambdas) fall back to the reference evaluator per document, and say so in `Plan.vectorised`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from appkit.expr import ir
from appkit.expr.evaluate import EvalContext, evaluate
from appkit.expr.program import Program, Unsupported, run_program
from appkit.expr.program_builder import ProgramBuilder
from appkit.expr.typecheck import ExpressionTypeError, TypeContext, check_types, deep_recursion
from appkit.tensor.type import Dimension, TensorType
from appkit.tensor.value import Tensor

Array = np.ndarray


_PROGRAM_CACHE = 8  # programs kept per plan (one per input shapes and set of constant objects)
_BLOCK = 2048  # documents per block of a large batch


@dataclass
class Plan:
    """A compiled expression; `evaluate(batch, constants)` gives the results of N documents."""

    expr: ir.Expr
    input_types: dict[str, TensorType]
    functions: Mapping[str, Any]
    result_type: TensorType | None
    seed: int | None = None
    vectorised: bool = True
    reason: str = ""
    _programs: dict[tuple[Any, ...], Program] = field(default_factory=dict, repr=False)
    _last_key: tuple[Any, ...] | None = field(default=None, repr=False)

    def evaluate(self, batch: Mapping[str, Array], constants: Mapping[str, Tensor | Array | float] | None = None
                 ) -> Array:
        """Results stacked along the batch axis: shape (N, *dense sizes of the result, canonical order)."""
        constants = constants or {}
        arrays = [np.asarray(batch[name]) for name in self.input_types]
        key = (tuple([(a.shape[1:], a.dtype.str) for a in arrays]), tuple(constants), tuple(map(id, constants.values())))
        programs = self._programs
        if key == self._last_key:  # the common case of serving: same shapes, same constants
            program = programs[key]
        else:
            program = programs.pop(key, None) if key in programs else None
            if program is None:
                program = self._build(arrays, constants)
                if len(programs) >= _PROGRAM_CACHE:  # e.g. a new query tensor per request: keep the recent
                    del programs[next(iter(programs))]
            programs[key] = program  # most recently used last
            self._last_key = key
        if program is None or not self.vectorised:
            return self._per_document(arrays, constants)
        root = program.root
        n = arrays[0].shape[0] if arrays else 1
        if not root.batched:
            return np.broadcast_to(np.asarray(root.const, dtype=root.dtype), (n, *np.shape(root.const))).copy()
        if n <= 2 * _BLOCK:
            return run_program(program, arrays)
        # Documents are independent: large batches run in blocks, so temporaries stay a block's size
        # (in cache, and out of the process's peak memory) whatever the batch size.
        first = run_program(program, [a[:_BLOCK] for a in arrays])
        out = np.empty((n, *first.shape[1:]), dtype=first.dtype)
        out[:_BLOCK] = first
        for lo in range(_BLOCK, n, _BLOCK):
            out[lo:lo + _BLOCK] = run_program(program, [a[lo:lo + _BLOCK] for a in arrays])
        return out

    def _context(self, constants: Mapping[str, Any]) -> EvalContext:
        values: dict[str, Tensor | float] = {}
        for k, v in constants.items():
            if isinstance(v, np.ndarray):
                t = self.input_types.get(k) or self._constant_types.get(k)
                if t is None:
                    raise ValueError(f"constant {k} is a numpy array, but its tensor type is not known")
                v = Tensor.from_numpy(t, v)
            values[k] = v
        return EvalContext(values, self.functions, self.seed)

    _constant_types: dict[str, TensorType] = field(default_factory=dict, repr=False)

    def _bound_types(self, arrays: Sequence[Array]) -> dict[str, TensorType]:
        bound = {}
        for (name, t), a in zip(self.input_types.items(), arrays):
            sizes = iter(a.shape[1:])
            dims = [Dimension(d.name, next(sizes, 1), False) for d in t.dimensions]
            if len(a.shape) - 1 != len(t.dimensions):
                raise ValueError(f"batch input {name} has per-document shape {a.shape[1:]}, but its type {t} "
                                 f"has {len(t.dimensions)} dimensions")
            for d, want in zip(dims, t.dimensions):
                if want.size is not None and want.size != d.size:
                    raise ValueError(f"batch input {name}: dimension '{d.name}' of {t} has size {want.size}, "
                                     f"but the array has {d.size}")
            bound[name] = TensorType(dims, t.cell_type)
        return bound

    def _build(self, arrays: Sequence[Array], constants: Mapping[str, Any]) -> Program | None:
        context = self._context(constants)
        if not self.vectorised:
            return None
        builder = ProgramBuilder(self, self._bound_types(arrays), context)
        try:
            with deep_recursion():
                root = builder.compile(self.expr, {})
        except RecursionError:
            self.vectorised, self.reason = False, "expression nested too deeply to compile"
            return None
        except Unsupported as e:
            self.vectorised, self.reason = False, str(e)
            return None
        dtypes = tuple(np.dtype(t.cell_type.numpy_dtype) for t in self.input_types.values())
        return Program(builder.program(root), builder.slots, root, tuple(constants.values()), dtypes)

    def _per_document(self, arrays: Sequence[Array], constants: Mapping[str, Any]) -> Array:
        context = self._context(constants)
        bound = self._bound_types(arrays)
        results = []
        n = arrays[0].shape[0] if arrays else 1
        for i in range(n):
            values = dict(context.values)
            values.update({name: Tensor.from_numpy(bound[name], a[i]) for name, a in zip(self.input_types, arrays)})
            t = evaluate(self.expr, EvalContext(values, self.functions, self.seed))
            if t.type.mapped_dimensions:
                raise ValueError(f"the result type {t.type} has mapped dimensions: it cannot be stacked")
            results.append(t.cells_array[0])
        return np.stack(results)


def compile_expression(expr: ir.Expr, context_types: TypeContext | Mapping[str, TensorType],
                       batch_inputs: set[str] | Sequence[str], seed: int | None = None) -> Plan:
    """Compile `expr` for batches: `batch_inputs` name the per-document inputs (as the expression
    refers to them: `attribute(x)`, `query(q)`, a bare name); their types come from `context_types`.
    Type errors raise ExpressionTypeError with every located diagnostic."""
    context = context_types if isinstance(context_types, TypeContext) else TypeContext(features=dict(context_types))
    result_type, errors = check_types(expr, context)
    if errors:
        raise ExpressionTypeError(errors)
    input_types: dict[str, TensorType] = {}
    for name in batch_inputs:
        t = context.feature_type(name)
        if t is None:
            raise ValueError(f"no type for batch input {name}: add it to the context types")
        if t.mapped_dimensions:
            raise ValueError(f"batch input {name} has mapped dimensions ({t}); batches hold dense inputs")
        input_types[name] = t
    plan = Plan(expr, input_types, context.functions, result_type, seed)
    plan._constant_types = {k: v for k, v in context.features.items() if k not in input_types}
    return plan


__all__ = ["Plan", "compile_expression"]
