"""The reference evaluator of ranking expressions: one expression, one set of values, one Tensor.

Tensor structure is handled by the kernels of `appkit.tensor.ops`; the lambdas of map, join, merge and
generate are run once over whole numpy arrays of cells (not once per cell) whenever their body is
cellwise math, and cell by cell only when a body builds tensors of its own. Features, bare names and
rank-profile functions come from an `EvalContext`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from appkit.diagnostics import AppkitError, Diagnostic, rule
from appkit.expr import functions as fn
from appkit.expr import ir
from appkit.expr.typecheck import AK347, FunctionDef, deep_recursion, feature_key, function_def
from appkit.source import Span
from appkit.tensor import ops
from appkit.tensor.type import CellType, Dimension, TensorType, TensorTypeError
from appkit.tensor.value import Tensor, TensorValueError

AK360 = rule("AK360", "no value for a feature or name", example="appkit eval 'query(q) * 2' without query(q)=...",
             fix="give the value: appkit eval 'query(q) * 2' 'query(q)=tensor(x[2]):[1,2]'")
AK361 = rule("AK361", "expression cannot be evaluated with these values",
             example="a + b with a: tensor(x[2]) and b: tensor(x[3])",
             fix="pass values whose types fit the expression (appkit validate reports the types)")
AK362 = rule("AK362", "a number is needed, but the value is a tensor",
             example="if(t, 1, 0) with t a tensor(x[2])", fix="reduce the tensor first: if(sum(t) > 0, 1, 0)")

_MAX_DEPTH = 64


@dataclass
class EvalContext:
    """Values and functions an expression is evaluated with.

    `values` maps feature names as written (`query(q)`, `attribute(a)`, `constant(W)`) and bare names
    to Tensors (numbers are accepted and become scalars). `functions` are the rank profile's
    functions. `seed` makes `random(...)` reproducible.
    """

    values: Mapping[str, Tensor | float] = field(default_factory=dict)
    functions: Mapping[str, FunctionDef | tuple[Sequence[str], ir.Expr]] = field(default_factory=dict)
    seed: int | None = None

    def value(self, key: str) -> Tensor | None:
        v = self.values.get(key)
        if v is None or isinstance(v, Tensor):
            return v
        return Tensor.scalar(float(v))


class ExpressionEvaluationError(AppkitError):
    """An expression that cannot be evaluated with the given values (located where possible)."""


def evaluate(expr: ir.Expr, context: EvalContext | None = None, **values: Tensor | float) -> Tensor:
    """The value of `expr`; keyword values are bound as bare names (`evaluate(e, a=t)`)."""
    ctx = context or EvalContext()
    if values:
        ctx = EvalContext({**ctx.values, **values}, ctx.functions, ctx.seed)
    return _Evaluator(ctx).eval(expr, {}, None)


class _Error(Exception):
    def __init__(self, code: str, message: str, node: ir.Node | None, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.node, self.hint = code, message, node, hint


class _NotCellwise(Exception):
    """A lambda body that builds tensors from its parameters: evaluate it cell by cell instead."""


Scope = dict[str, Tensor]
CellValue = Any  # a numpy array of cells, or a Python float


class _Evaluator:
    def __init__(self, context: EvalContext):
        self.context = context
        self.rng = np.random.default_rng(context.seed)
        self.stack: list[str] = []
        self.cache: dict[str, Tensor] = {}  # zero-argument functions, computed once per evaluation

    # --- entry and errors ---------------------------------------------------------------------------

    def eval(self, node: ir.Expr, scope: Scope, where: Span | None) -> Tensor:
        try:
            with np.errstate(all="ignore"), deep_recursion():  # NaN and inf are values in Vespa, not warnings
                return self.value(node, scope)
        except _Error as e:
            span = e.node.span if e.node is not None and e.node.span is not None else where
            raise ExpressionEvaluationError(Diagnostic(e.code, e.message, span, e.hint)) from None
        except RecursionError:
            raise ExpressionEvaluationError(Diagnostic(AK361, "expression is nested too deeply to evaluate",
                                                       node.span or where)) from None

    def value(self, node: ir.Expr, scope: Scope) -> Tensor:
        method = getattr(self, "_" + type(node).__name__)
        try:
            return method(node, scope)
        except (TensorTypeError, TensorValueError) as e:
            raise _Error(AK361, str(getattr(e, "message", e)), node) from None
        except fn.FunctionUsageError as e:
            raise _Error(AK361, str(e), e.node, e.hint) from None

    def number(self, node: ir.Expr, scope: Scope, what: str) -> float:
        t = self.value(node, scope)
        if not t.type.is_scalar:
            raise _Error(AK362, f"{what} must be a number, but it is a {t.type}", node,
                         "reduce it to a number first, e.g. with sum(...)")
        return float(t.cells_array[0])

    # --- leaves -------------------------------------------------------------------------------------

    def _Number(self, node: ir.Number, scope: Scope) -> Tensor:
        return Tensor.scalar(node.value)

    def _String(self, node: ir.String, scope: Scope) -> Tensor:
        return Tensor.scalar(fn.string_hash(node.value))

    def _Ref(self, node: ir.Ref, scope: Scope) -> Tensor:
        name = node.name
        if name in scope:
            return scope[name]
        if name in self.context.functions:
            return self.call(name, node, (), scope)
        for key in (name, f"constant({name})", f"query({name})"):
            v = self.context.value(key)
            if v is not None:
                return v
        raise _Error(AK360, f"no value for '{name}'", node, f"give it a value: {name}=VALUE")

    def _Feature(self, node: ir.Feature, scope: Scope) -> Tensor:
        if node.output is None and node.name in self.context.functions:
            return self.call(node.name, node, node.args, scope)
        if node.name in ir.AGGREGATORS and node.args and node.output is None and \
                all(isinstance(a, ir.Ref) for a in node.args[1:]):
            dims = tuple(a.name for a in node.args[1:] if isinstance(a, ir.Ref))
            return self._Reduce(ir.Reduce(node.args[0], node.name, dims, span=node.span), scope)
        key = feature_key(node)
        v = self.context.value(key)
        if v is None:
            raise _Error(AK360, f"no value for {key}", node, f"give it a value: '{key}=VALUE'")
        return v

    def call(self, name: str, node: ir.Node, args: Sequence[ir.Expr], scope: Scope) -> Tensor:
        definition = function_def(self.context.functions[name])
        if len(args) != len(definition.params):
            raise _Error(AK361, f"function '{name}' takes {len(definition.params)} argument(s), but is called "
                         f"with {len(args)}", node, f"call it as {name}({', '.join(definition.params)})")
        if not args and name in self.cache:
            return self.cache[name]
        if name in self.stack or len(self.stack) >= _MAX_DEPTH:
            raise _Error(AK347, f"function '{name}' calls itself ({' -> '.join(self.stack + [name])})", node,
                         "Vespa inlines functions, so recursion cannot be evaluated; rewrite without it")
        bound = {p: self.value(a, scope) for p, a in zip(definition.params, args)}
        self.stack.append(name)
        try:
            result = self.value(definition.body, bound)
        finally:
            self.stack.pop()
        if not args:
            self.cache[name] = result
        return result

    # --- operators ----------------------------------------------------------------------------------

    def _Neg(self, node: ir.Neg, scope: Scope) -> Tensor:
        return ops.map(self.value(node.arg, scope), fn.negate)

    def _Not(self, node: ir.Not, scope: Scope) -> Tensor:
        return ops.map(self.value(node.arg, scope), _in_double(fn.logical_not))

    def _BinaryOp(self, node: ir.BinaryOp, scope: Scope) -> Tensor:
        return ops.join(self.value(node.left, scope), self.value(node.right, scope), _in_double(fn.OPERATORS[node.op]))

    def _In(self, node: ir.In, scope: Scope) -> Tensor:
        items = np.array([self.number(i, scope, "an item of 'in [...]'") for i in node.items])
        return ops.map(self.value(node.arg, scope), lambda x: (x[..., None] == items).any(axis=-1).astype(x.dtype))

    def _If(self, node: ir.If, scope: Scope) -> Tensor:
        condition = self.number(node.condition, scope, "the condition of if")
        return self.value(node.if_true if condition != 0 and not np.isnan(condition) else node.if_false, scope)

    def _Switch(self, node: ir.Switch, scope: Scope) -> Tensor:
        subject = self.number(node.subject, scope, "the value of switch")
        for case, result in node.cases:
            if self.number(case, scope, "a case of switch") == subject:
                return self.value(result, scope)
        return self.value(node.default, scope)

    # --- lambdas: vectorised where the body allows --------------------------------------------------

    def cellwise(self, lam: ir.Lambda, scope: Scope) -> Callable[..., Any]:
        """A numpy callable computing the lambda over arrays of cells (one array per parameter)."""
        params = lam.params

        def run(*arrays: np.ndarray) -> Any:
            arrays = tuple(np.asarray(a, dtype=np.float64) for a in arrays)  # Vespa's cell math is double
            env = dict(zip(params, arrays))
            shape = np.broadcast_shapes(*(np.shape(a) for a in arrays)) if arrays else ()
            try:
                return self.cell(lam.body, env, scope, shape)
            except _NotCellwise:
                return self.cell_by_cell(lam, arrays, shape, scope)
        return run

    def cell_by_cell(self, lam: ir.Lambda, arrays: Sequence[np.ndarray], shape: tuple[int, ...],
                     scope: Scope) -> np.ndarray:
        out = np.empty(shape, dtype=np.float64)
        full = [np.broadcast_to(a, shape) for a in arrays]
        for idx in np.ndindex(*shape):
            inner = dict(scope)
            inner.update({p: Tensor.scalar(float(a[idx])) for p, a in zip(lam.params, full)})
            out[idx] = self.number(lam.body, inner, "the lambda's result")
        return out

    def cell(self, node: ir.Expr, env: dict[str, Any], scope: Scope, shape: tuple[int, ...]) -> CellValue:
        """Evaluate cellwise math over arrays; anything not depending on the parameters is evaluated as
        a normal expression (it must be a number)."""
        if not _uses(node, env):
            return self.number(node, scope, "a value inside a lambda")
        if isinstance(node, ir.Ref):
            return env[node.name]
        if isinstance(node, ir.BinaryOp):
            return fn.OPERATORS[node.op](*self._two(node.left, node.right, env, scope, shape))
        if isinstance(node, ir.Neg):
            return fn.negate(np.asarray(self.cell(node.arg, env, scope, shape)))
        if isinstance(node, ir.Not):
            return fn.logical_not(np.asarray(self.cell(node.arg, env, scope, shape)))
        if isinstance(node, ir.Call) and fn.math_arity(node.name) == len(node.args):
            if len(node.args) == 1:
                return fn.UNARY[node.name](np.asarray(self.cell(node.args[0], env, scope, shape)))
            return fn.BINARY[node.name](*self._two(node.args[0], node.args[1], env, scope, shape))
        if isinstance(node, ir.If):
            c = np.asarray(self.cell(node.condition, env, scope, shape))
            a, b = self._two(node.if_true, node.if_false, env, scope, shape)
            return np.where((c != 0) & ~np.isnan(c), a, b)
        if isinstance(node, ir.In):
            x = np.asarray(self.cell(node.arg, env, scope, shape))
            hit = np.zeros(np.shape(x), dtype=bool)
            for item in node.items:
                hit = hit | (x == self.cell(item, env, scope, shape))
            return hit.astype(x.dtype if x.dtype.kind == "f" else np.float64)
        if isinstance(node, ir.Slice):
            return self.cell_peek(node, env, scope, shape)
        raise _NotCellwise()

    def _two(self, a: ir.Expr, b: ir.Expr, env: dict[str, Any], scope: Scope,
             shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.cell(a, env, scope, shape), self.cell(b, env, scope, shape)
        # a Python float next to an array keeps the array's precision (numpy's weak scalars)
        return (x if isinstance(x, float) else np.asarray(x)), (y if isinstance(y, float) else np.asarray(y))

    def cell_peek(self, node: ir.Slice, env: dict[str, Any], scope: Scope, shape: tuple[int, ...]) -> np.ndarray:
        """A full peek into a dense tensor at computed indexes (generate bodies): one gather."""
        if _uses(node.arg, env):
            raise _NotCellwise()
        t = self.value(node.arg, scope)
        names = _slice_dims(node, t.type)
        if t.type.mapped_dimensions or sorted(names) != list(t.type.dimension_names):
            raise _NotCellwise()
        labels = dict(zip(names, (e for _, e in node.address)))
        index = []
        valid: Any = True
        for d in t.type.indexed_dimensions:
            raw = np.asarray(self.cell(labels[d.name], env, scope, shape), dtype=np.float64)
            i = np.trunc(np.nan_to_num(raw, nan=-1.0)).astype(np.int64)
            valid = valid & (i >= 0) & (i < (d.size or 0))
            index.append(np.where((i >= 0) & (i < (d.size or 0)), i, 0))
        cells = t.cells_array[0]
        out = cells[tuple(index)] if index else cells
        return np.where(valid, out, 0).astype(np.float64 if cells.dtype == np.float64 else np.float32)

    def _Lambda(self, node: ir.Lambda, scope: Scope) -> Tensor:
        raise _Error(AK361, "a lambda can only be used inside map, join, merge, map_subspaces or filter_subspaces",
                     node)

    # --- tensor primitives --------------------------------------------------------------------------

    def _Map(self, node: ir.Map, scope: Scope) -> Tensor:
        return ops.map(self.value(node.arg, scope), self.cellwise(node.fn, scope))

    def _Join(self, node: ir.Join, scope: Scope) -> Tensor:
        return ops.join(self.value(node.left, scope), self.value(node.right, scope), self.cellwise(node.fn, scope))

    def _Merge(self, node: ir.Merge, scope: Scope) -> Tensor:
        return ops.merge(self.value(node.left, scope), self.value(node.right, scope), self.cellwise(node.fn, scope))

    def _MapSubspaces(self, node: ir.MapSubspaces, scope: Scope) -> Tensor:
        param = node.fn.params[0]
        return ops.map_subspaces(self.value(node.arg, scope), lambda t: self.value(node.fn.body, {**scope, param: t}))

    def _FilterSubspaces(self, node: ir.FilterSubspaces, scope: Scope) -> Tensor:
        param = node.fn.params[0]

        def keep(t: Tensor) -> bool:
            result = ops.reduce(self.value(node.fn.body, {**scope, param: t}), "sum")
            return float(result.cells_array[0]) != 0
        return ops.filter_subspaces(self.value(node.arg, scope), keep)

    def _Reduce(self, node: ir.Reduce, scope: Scope) -> Tensor:
        t = self.value(node.arg, scope)
        for d in node.dims:
            if not t.type.has(d):
                raise _Error(AK361, f"cannot reduce {t.type} over '{d}': it has no such dimension", node)
        return ops.reduce(t, node.aggregator, node.dims)

    def _Rename(self, node: ir.Rename, scope: Scope) -> Tensor:
        return ops.rename(self.value(node.arg, scope), node.from_dims, node.to_dims)

    def _Concat(self, node: ir.Concat, scope: Scope) -> Tensor:
        return ops.concat(self.value(node.left, scope), self.value(node.right, scope), node.dim)

    def _Generate(self, node: ir.Generate, scope: Scope) -> Tensor:
        names = node.type.dimension_names
        return ops.generate(node.type, self.cellwise(ir.Lambda(names, node.body, span=node.span), scope))

    def _TensorLiteral(self, node: ir.TensorLiteral, scope: Scope) -> Tensor:
        type_ = node.type
        if type_ is None:
            names = sorted({d for address, _ in node.cells for d, _ in address})
            type_ = TensorType([Dimension.mapped_dim(n) for n in names])
        if type_.is_dense and all(d.size is not None for d in type_.dimensions) and \
                len(node.cells) == int(np.prod(type_.dense_shape)) and \
                all(isinstance(v, ir.Number) for _, v in node.cells):
            return self.dense_literal(type_, node)
        cells = [(dict(address), self.number(v, scope, "a tensor cell value")) for address, v in node.cells]
        return Tensor.from_cells(type_, cells)

    def dense_literal(self, type_: TensorType, node: ir.TensorLiteral) -> Tensor:
        # the common case of a dense literal of numbers (model weights): no per-cell dictionaries
        shape = tuple(d.size or 1 for d in type_.dimensions)
        block = np.zeros(shape, dtype=np.float64)
        names = type_.dimension_names
        for address, v in node.cells:
            labels = dict(address)
            block[tuple(int(labels[n]) for n in names)] = v.value  # type: ignore[union-attr]
        return Tensor.from_numpy(type_, block)

    def _Slice(self, node: ir.Slice, scope: Scope) -> Tensor:
        t = self.value(node.arg, scope)
        names = _slice_dims(node, t.type)
        address: dict[str, str | int] = {}
        for name, (_, label) in zip(names, node.address):
            d = t.type.dimension(name)
            if d is None:
                raise _Error(AK361, f"cannot slice {t.type} at '{name}': it has no such dimension", node)
            if isinstance(label, ir.String):
                address[name] = label.value
            else:
                v = self.number(label, scope, "a slice label")
                address[name] = int(v) if not d.mapped else str(int(v)) if float(v).is_integer() else str(v)
        return ops.peek(t, address)

    def _CellCast(self, node: ir.CellCast, scope: Scope) -> Tensor:
        t = self.value(node.arg, scope)
        return t if t.type.is_scalar else ops.cell_cast(t, node.cell_type)

    def _Call(self, node: ir.Call, scope: Scope) -> Tensor:
        arity = fn.math_arity(node.name)
        if arity is not None:
            return self.math(node, arity, scope)
        lowered = fn.lower_call(node)
        if lowered is not None:
            return self.value(lowered, scope)
        spec = fn.TENSOR_FUNCTIONS.get(node.name)
        if spec is None:
            raise _Error(AK361, f"unknown function '{node.name}'", node)
        dims = fn.dimension_arguments(node, spec)
        if node.name == "random":
            return Tensor.scalar(float(self.rng.random()))
        t = self.value(node.args[0], scope)
        spec.type_rule(node, [t.type], dims)  # type: ignore[misc]  # argument checks, located
        if node.name == "cell_order":
            return cell_order(t, dims[0])
        return unpack_bits(t, *fn.unpack_bits_options(node))

    def math(self, node: ir.Call, arity: int, scope: Scope) -> Tensor:
        if len(node.args) == 2 and node.name in ("max", "min") and isinstance(node.args[1], ir.Ref) and \
                node.args[1].name not in scope:
            first = self.value(node.args[0], scope)
            reduce = fn.reduce_if_dimension(node, first.type)
            if reduce is not None:
                return ops.reduce(first, node.name, reduce.dims)
        if len(node.args) != arity:
            raise _Error(AK361, f"{node.name} takes {arity} argument(s), but got {len(node.args)}", node)
        if arity == 1:
            return ops.map(self.value(node.args[0], scope), _in_double(fn.UNARY[node.name]))
        return ops.join(self.value(node.args[0], scope), self.value(node.args[1], scope),
                        _in_double(fn.BINARY[node.name]))


def _in_double(f: Callable[..., Any]) -> Callable[..., Any]:
    """f computed in double precision, as Vespa computes every cell (the result is then stored in the
    result's cell type), so float tensors round exactly as Vespa's do."""
    return lambda *arrays: f(*(np.asarray(a, dtype=np.float64) for a in arrays))


def _uses(node: ir.Node, env: Mapping[str, Any]) -> bool:
    """Whether the expression refers to any of the lambda's parameters."""
    if not env:
        return False
    return any(isinstance(n, ir.Ref) and n.name in env for n in ir.walk(node))


def _slice_dims(node: ir.Slice, type_: TensorType) -> list[str]:
    names = []
    for name, _ in node.address:
        if name == "":
            pick = type_.indexed_dimensions if node.bracket else type_.mapped_dimensions
            if len(pick) != 1 and type_.rank == 1:
                pick = type_.dimensions
            if len(pick) != 1:
                raise _Error(AK361, f"the short slice form needs a tensor with one such dimension, not {type_}", node,
                             "name the dimension: t{x:label}")
            name = pick[0].name
        names.append(name)
    return names


def cell_order(t: Tensor, order: str) -> Tensor:
    """Each cell's rank among all cells (0 = largest for max, smallest for min; NaN ranks last)."""
    values = t.cells_array.astype(np.float64).reshape(-1)
    nan = np.isnan(values)
    key = np.where(nan, 0.0, -values if order == "max" else values)
    ranking = np.lexsort((key, nan))  # stable: ties keep cell order, as Vespa's sort does
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[ranking] = np.arange(len(values))
    rtype = t.type.map()
    return Tensor(rtype, t.labels, ranks.reshape(t.cells_array.shape).astype(rtype.cell_type.numpy_dtype))


def unpack_bits(t: Tensor, cell_type: CellType, endian: str) -> Tensor:
    """Each int8 of the last indexed dimension becomes 8 cells of 0/1 (most significant first for big)."""
    bits = np.unpackbits(t.cells_array.view(np.uint8), axis=-1, bitorder=endian)
    dims = [Dimension.indexed(d.name, d.size * 8) if d is t.type.indexed_dimensions[-1] else d  # type: ignore[operator]
            for d in t.type.dimensions]
    rtype = TensorType(dims, cell_type)
    return Tensor(rtype, t.labels, np.ascontiguousarray(bits.astype(cell_type.numpy_dtype)))


def tensors_match(actual: Tensor, expected: Tensor) -> bool:
    """Vespa's conformance equality: same type (cell type included), same cells, values equal to about
    23 bits (`approx_equal`), NaN matching NaN."""
    if actual.type != expected.type or actual.labels != expected.labels:
        return False
    a = actual.cells_array.astype(np.float64)
    b = expected.cells_array.astype(np.float64)
    if a.shape != b.shape:
        return False
    return bool(np.all(fn.approx_equal(a, b) | (np.isnan(a) & np.isnan(b))))


@dataclass
class ConformanceResult:
    """One case of a conformance file: whether it passed, and what was expected and computed."""

    expression: str
    passed: bool
    expected: Tensor | None = None
    actual: Tensor | None = None
    error: str | None = None


def run_conformance_case(case: Mapping[str, Any]) -> ConformanceResult:
    """Evaluate one case of Vespa's tensor conformance format: `expression`, `inputs` (name -> binary
    tensor, hex) and `result.expect` (binary tensor, hex)."""
    from appkit.expr.parse import parse_expression
    from appkit.tensor.binary import decode_tensor

    text = str(case.get("expression", ""))
    try:
        expected = decode_tensor(case["result"]["expect"])
        inputs = {name: decode_tensor(value) for name, value in (case.get("inputs") or {}).items()}
        actual = evaluate(parse_expression(text), EvalContext(inputs))
    except AppkitError as e:
        return ConformanceResult(text, False, error="; ".join(d.message for d in e.diagnostics))
    except (TensorValueError, KeyError, TypeError, ValueError) as e:
        return ConformanceResult(text, False, error=f"{type(e).__name__}: {e}")
    return ConformanceResult(text, tensors_match(actual, expected), expected, actual)


__all__ = ["EvalContext", "evaluate", "tensors_match", "run_conformance_case", "ConformanceResult", "ExpressionEvaluationError", "cell_order", "unpack_bits", "AK360", "AK361",
           "AK362"]
