"""Type inference for ranking expressions: the TensorType of every node, nothing evaluated.

`check_types(expr, context)` returns the type and every located error at once (what `appkit validate`
reports); `infer_type` raises on the first. Rank-profile functions are typed per call, from the types
of the arguments of that call, with recursion reported instead of followed.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence

from appkit.diagnostics import AppkitError, Diagnostic, rule
from appkit.expr import functions as fn
from appkit.expr import ir
from appkit.source import Span
from appkit.tensor.type import Dimension, TensorType, TensorTypeError

AK340 = rule("AK340", "tensor types do not fit the operation",
             example="attribute(a) * query(q) with tensor(x[3]) and tensor(x[4])",
             fix="make the shared dimensions agree in kind and size (rename or slice one side)")
AK341 = rule("AK341", "dimension not in the tensor",
             example="reduce(query(q), sum, y) where query(q) is tensor(x[3])",
             fix="name a dimension the tensor has, e.g. reduce(query(q), sum, x)")
AK342 = rule("AK342", "wrong number of arguments",
             example="softmax(t)", fix="pass the arguments the function takes: softmax(t, x)")
AK343 = rule("AK343", "argument must be a dimension name",
             example="reduce(t, sum, 1)", fix="write the dimension's name: reduce(t, sum, x)")
AK344 = rule("AK344", "lambda does not fit its use",
             example="map(t, f(a,b)(a+b))", fix="map takes f(a)(...), join and merge take f(a,b)(...)")
AK345 = rule("AK345", "a number is needed here, but the value is a tensor",
             example="if(query(q) > 0, 1, 2) with query(q) a tensor(x[3])",
             fix="reduce the tensor to a number first, e.g. if(sum(query(q)) > 0, 1, 2)")
AK346 = rule("AK346", "branches have incompatible types",
             example="if(a > 0, tensor(x[2]):[1,2], tensor(y[2]):[1,2])",
             fix="make both branches produce the same dimensions")
AK347 = rule("AK347", "function calls itself", example="function f() { expression: f + 1 }",
             fix="remove the recursion: Vespa evaluates functions by inlining them")
AK348 = rule("AK348", "feature or constant is not declared",
             example="constant(W) with no constant W in the schema",
             fix="declare it: constant W { file: constants/W.json type: tensor<float>(x[784],y[10]) }")
AK349 = rule("AK349", "tensor literal does not fit its type",
             example="tensor(x[2]):[1,2,3]", fix="give one cell per address of the type")
AK350 = rule("AK350", "invalid argument to a tensor function",
             example="unpack_bits(t) where t has float cells", fix="pass an argument of the type the function takes")
AK351 = rule("AK351", "tensor type cannot be generated",
             example="tensor(x{})(1)", fix="generate only bound indexed dimensions: tensor(x[3])(x)")
AK352 = rule("AK352", "function argument count does not match its parameters",
             example="myfunction(1) for function myfunction(a, b)", fix="pass one argument per parameter")

AK353 = rule("AK353", "expression nested too deeply to type-check",
             example="an imported model expression with thousands of nested joins",
             fix="split it into rank-profile functions that call each other")

_MAX_CALL_DEPTH = 64  # deeper function-call chains than this are reported, not followed


class FunctionDef(NamedTuple):
    """A rank-profile function: parameter names and body (a plain (params, body) tuple works too)."""

    params: tuple[str, ...]
    body: ir.Expr


@dataclass
class TypeContext:
    """What an expression's names mean, as types.

    `features` maps feature names as written (`attribute(a)`, `query(q)`, `constant(W)`, `onnx(m).out`)
    and bare names (declared inputs and constants) to their types. `functions` holds the rank
    profile's functions; their types are inferred per call. `bindings` are names bound around the
    expression (lambda or function parameters). Other features are double, as Vespa's rank features
    are; `strict_attributes` makes an unknown `attribute(x)` an error (set it when the schema is known).
    """

    features: Mapping[str, TensorType] = field(default_factory=dict)
    functions: Mapping[str, FunctionDef | tuple[Sequence[str], ir.Expr]] = field(default_factory=dict)
    bindings: Mapping[str, TensorType] = field(default_factory=dict)
    strict_attributes: bool = False

    def feature_type(self, key: str) -> TensorType | None:
        return self.features.get(key)


class ExpressionTypeError(AppkitError):
    """An expression whose types do not fit; `diagnostics` holds every error found."""


@contextmanager
def deep_recursion(limit: int = 20_000) -> Iterator[None]:
    """Room for expressions nested thousands deep (imported models nest one level per op); the
    limit is the TensorFlow importer's, so what it can build, the checker and evaluator can walk."""
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        if old < limit:
            sys.setrecursionlimit(old)


def check_types(expr: ir.Expr, context: TypeContext | None = None,
                path: str | None = None) -> tuple[TensorType | None, list[Diagnostic]]:
    """The type of `expr` and all type errors in it (the type is None when there are errors)."""
    checker = _Checker(context or TypeContext(), path)
    try:
        with deep_recursion():
            result = checker.infer(expr, dict((context or TypeContext()).bindings), None)
    except RecursionError:
        span = expr.span or (Span(path, 1, 1) if path else None)
        checker.diagnostics.append(Diagnostic(AK353, "expression is nested too deeply to check", span,
                                              "split it into rank-profile functions"))
        result = None
    errors = checker.diagnostics
    return (result if not errors else None), errors


def infer_type(expr: ir.Expr, context: TypeContext | None = None) -> TensorType:
    """The type of `expr`; raises ExpressionTypeError with every error when it has none."""
    result, errors = check_types(expr, context)
    if errors or result is None:
        raise ExpressionTypeError(errors)
    return result


def feature_key(node: ir.Feature) -> str:
    """The name a feature is looked up by: `attribute(a)`, `query(q)`, `onnx(m).out`, `fieldMatch(t).x`."""
    text = node.name
    if node.args:
        text += "(" + ",".join(_arg_text(a) for a in node.args) + ")"
    if node.output:
        text += "." + node.output
    return text


def _arg_text(arg: ir.Expr) -> str:
    if isinstance(arg, ir.Ref):
        return arg.name
    if isinstance(arg, ir.String):
        return arg.value
    if isinstance(arg, ir.Number):
        v = arg.value
        return str(int(v)) if float(v).is_integer() else repr(v)
    if isinstance(arg, ir.Neg) and isinstance(arg.arg, ir.Number):
        return "-" + _arg_text(arg.arg)
    return "<expression>"


def function_def(entry: FunctionDef | tuple[Sequence[str], ir.Expr]) -> FunctionDef:
    params, body = entry
    return FunctionDef(tuple(params), body)


Scope = dict[str, TensorType]
_SCALAR = TensorType.scalar()


class _Checker:
    def __init__(self, context: TypeContext, path: str | None):
        self.context = context
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[tuple[str, str, Span | None]] = set()
        self._call_stack: list[str] = []
        self._function_types: dict[tuple[str, tuple[TensorType, ...]], TensorType | None] = {}

    # --- reporting ----------------------------------------------------------------------------------

    def error(self, code: str, message: str, node: ir.Node | None, where: Span | None, hint: str | None = None) -> None:
        span = (node.span if node is not None and node.span is not None else where)
        if span is None and self.path:
            span = Span(self.path, 1, 1)
        key = (code, message, span)
        if key not in self._seen:  # a function body typed for several calls reports its errors once
            self._seen.add(key)
            self.diagnostics.append(Diagnostic(code, message, span, hint))

    # --- dispatch -----------------------------------------------------------------------------------

    def infer(self, node: ir.Expr, scope: Scope, where: Span | None) -> TensorType | None:
        where = node.span or where
        method = getattr(self, "_" + type(node).__name__)
        return method(node, scope, where)

    def _all(self, nodes: Iterable[ir.Expr], scope: Scope, where: Span | None) -> list[TensorType | None]:
        return [self.infer(n, scope, where) for n in nodes]

    def scalar(self, node: ir.Expr, scope: Scope, where: Span | None, what: str) -> bool:
        t = self.infer(node, scope, where)
        if t is None:
            return False
        if not t.is_scalar:
            self.error(AK345, f"{what} must be a number, but it is a {t}", node, where,
                       "reduce it to a number first, e.g. with sum(...)")
            return False
        return True

    # --- leaves -------------------------------------------------------------------------------------

    def _Number(self, node: ir.Number, scope: Scope, where: Span | None) -> TensorType | None:
        return _SCALAR

    def _String(self, node: ir.String, scope: Scope, where: Span | None) -> TensorType | None:
        return _SCALAR

    def _Ref(self, node: ir.Ref, scope: Scope, where: Span | None) -> TensorType | None:
        name = node.name
        if name in scope:
            return scope[name]
        if name in self.context.functions:
            return self.call_function(name, node, (), scope, where)
        for key in (name, f"constant({name})", f"query({name})"):
            t = self.context.feature_type(key)
            if t is not None:
                return t
        return _SCALAR  # a rank feature such as `bm25` or `nativeRank` (all rank features are numbers)

    def _Feature(self, node: ir.Feature, scope: Scope, where: Span | None) -> TensorType | None:
        if node.output is None and node.name in self.context.functions:
            return self.call_function(node.name, node, node.args, scope, where)
        if node.name in ir.AGGREGATORS and node.args and node.output is None:
            dims = tuple(a.name for a in node.args[1:] if isinstance(a, ir.Ref))
            if len(dims) == len(node.args) - 1:
                return self._Reduce(ir.Reduce(node.args[0], node.name, dims, span=node.span), scope, where)
        key = feature_key(node)
        t = self.context.feature_type(key)
        if t is not None:
            return t
        if node.name == "constant":
            self.error(AK348, f"{key} is not declared", node, where,
                       f"declare constant {_arg_text(node.args[0]) if node.args else '...'} in the rank profile "
                       "or schema, with its type")
            return None
        if node.name == "attribute" and self.context.strict_attributes:
            self.error(AK348, f"{key} is not an attribute of this schema", node, where,
                       "add `indexing: attribute` to the field, or fix the name")
            return None
        return _SCALAR

    def call_function(self, name: str, node: ir.Node, args: Sequence[ir.Expr], scope: Scope,
                      where: Span | None) -> TensorType | None:
        definition = function_def(self.context.functions[name])
        arg_types = self._all(args, scope, where)
        if any(t is None for t in arg_types):
            return None
        if len(args) != len(definition.params):
            self.error(AK352, f"function '{name}' takes {len(definition.params)} argument(s) "
                       f"({', '.join(definition.params)}), but is called with {len(args)}", node, where,
                       f"call it as {name}({', '.join(definition.params)})")
            return None
        if name in self._call_stack or len(self._call_stack) >= _MAX_CALL_DEPTH:
            chain = " -> ".join(self._call_stack + [name])
            self.error(AK347, f"function '{name}' calls itself ({chain})", node, where,
                       "Vespa inlines functions, so recursion cannot be evaluated; rewrite without it")
            return None
        key = (name, tuple(t for t in arg_types if t is not None))
        if key in self._function_types:
            return self._function_types[key]
        self._call_stack.append(name)
        try:
            body_scope: Scope = dict(zip(definition.params, key[1]))
            result = self.infer(definition.body, body_scope, where)
        finally:
            self._call_stack.pop()
        self._function_types[key] = result
        return result

    # --- operators ----------------------------------------------------------------------------------

    def _Neg(self, node: ir.Neg, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        return None if t is None else t.map()

    _Not = _Neg

    def _BinaryOp(self, node: ir.BinaryOp, scope: Scope, where: Span | None) -> TensorType | None:
        left, right = self.infer(node.left, scope, where), self.infer(node.right, scope, where)
        return self.join_types(left, right, node, where, f"'{node.op}'")

    def join_types(self, a: TensorType | None, b: TensorType | None, node: ir.Node, where: Span | None,
                   what: str) -> TensorType | None:
        if a is None or b is None:
            return None
        try:
            return TensorType.join(a, b)
        except TensorTypeError as e:
            self.error(AK340, f"cannot apply {what} to {a} and {b}: {e}", node, where,
                       "make shared dimensions agree (rename one side, or slice/reduce it first)")
            return None

    def _In(self, node: ir.In, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)  # a tensor is tested cell by cell
        items = [self.scalar(i, scope, where, "each item of 'in [...]'") for i in node.items]
        return t.map() if t is not None and all(items) else None

    def _If(self, node: ir.If, scope: Scope, where: Span | None) -> TensorType | None:
        ok = self.scalar(node.condition, scope, where, "the condition of if")
        a, b = self.infer(node.if_true, scope, where), self.infer(node.if_false, scope, where)
        if not ok or a is None or b is None:
            return None
        return self.generalize(a, b, node, where, "the two branches of if")

    def _Switch(self, node: ir.Switch, scope: Scope, where: Span | None) -> TensorType | None:
        ok = self.scalar(node.subject, scope, where, "the value of switch")
        result: TensorType | None = None
        failed = not ok
        for case, value in node.cases:
            failed |= not self.scalar(case, scope, where, "a case of switch")
            t = self.infer(value, scope, where)
            if t is None:
                failed = True
            elif result is not None and not failed:
                result = self.generalize(result, t, value, where, "the cases of switch")
                failed |= result is None
            else:
                result = result or t
        t = self.infer(node.default, scope, where)
        if failed or t is None or result is None:
            return None
        return self.generalize(result, t, node.default, where, "the cases of switch")

    def generalize(self, a: TensorType, b: TensorType, node: ir.Node, where: Span | None,
                   what: str) -> TensorType | None:
        """Vespa's `dimensionwiseGeneralizationWith`: same dimensions; differing sizes become unbound."""
        if a == b:
            return a
        if a.dimension_names != b.dimension_names:
            self.error(AK346, f"{what} have incompatible types {a} and {b}", node, where,
                       "make every branch produce the same dimensions")
            return None
        dims = []
        for da, db in zip(a.dimensions, b.dimensions):
            if da.mapped != db.mapped:
                self.error(AK346, f"{what} have incompatible types {a} and {b}: dimension '{da.name}' is "
                           "mapped in one and indexed in the other", node, where,
                           f"declare '{da.name}' the same way in both branches")
                return None
            dims.append(da if da.size == db.size else Dimension(da.name, None, da.mapped))
        return TensorType(dims, max(a.cell_type, b.cell_type))

    # --- tensor primitives --------------------------------------------------------------------------

    def lambda_type(self, fn_node: ir.Lambda, arity: int, what: str, scope: Scope, where: Span | None,
                    param_types: Sequence[TensorType] | None = None) -> TensorType | None:
        if len(fn_node.params) != arity:
            want = "f(a)(...)" if arity == 1 else "f(a,b)(...)"
            self.error(AK344, f"{what} takes a lambda of {arity} parameter{'s' if arity > 1 else ''}, but this "
                       f"one has {len(fn_node.params)}", fn_node, where, f"write {want}")
            return None
        inner = dict(scope)
        inner.update(zip(fn_node.params, param_types or [_SCALAR] * arity))
        t = self.infer(fn_node.body, inner, fn_node.span or where)
        if t is not None and param_types is None and not t.is_scalar:
            self.error(AK344, f"the lambda of {what} must compute a number per cell, but computes a {t}",
                       fn_node.body, where, "reduce inside the lambda, or move the tensor math outside it")
            return None
        return t

    def _Lambda(self, node: ir.Lambda, scope: Scope, where: Span | None) -> TensorType | None:
        self.error(AK344, "a lambda f(...)(...) may only be used inside map, join, merge, map_subspaces or "
                   "filter_subspaces", node, where, "pass it to one of those: map(t, f(x)(x * 2))")
        return None

    def _Map(self, node: ir.Map, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        body = self.lambda_type(node.fn, 1, "map", scope, where)
        return None if t is None or body is None else t.map()

    def _Join(self, node: ir.Join, scope: Scope, where: Span | None) -> TensorType | None:
        a, b = self.infer(node.left, scope, where), self.infer(node.right, scope, where)
        body = self.lambda_type(node.fn, 2, "join", scope, where)
        return None if body is None else self.join_types(a, b, node, where, "join")

    def _Merge(self, node: ir.Merge, scope: Scope, where: Span | None) -> TensorType | None:
        a, b = self.infer(node.left, scope, where), self.infer(node.right, scope, where)
        body = self.lambda_type(node.fn, 2, "merge", scope, where)
        if a is None or b is None or body is None:
            return None
        try:
            return TensorType.merge(a, b)
        except TensorTypeError as e:
            self.error(AK340, f"cannot merge {a} and {b}: {e}", node, where,
                       "merge needs both tensors to have the same dimensions")
            return None

    def _MapSubspaces(self, node: ir.MapSubspaces, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        if t is None:
            return None
        dense = TensorType(t.indexed_dimensions, t.cell_type)
        d = self.lambda_type(node.fn, 1, "map_subspaces", scope, where, [dense])
        if d is None:
            return None
        if d.mapped_dimensions:
            self.error(AK344, f"the lambda of map_subspaces must return a dense tensor, but returns {d}",
                       node.fn, where, "reduce or slice away the mapped dimensions inside the lambda")
            return None
        mapped = t.mapped_dimensions
        if not mapped:
            return d
        if d.is_scalar:
            return TensorType(mapped, t.cell_type).map()
        clash = {m.name for m in mapped} & set(d.dimension_names)
        if clash:
            self.error(AK340, f"map_subspaces result dimension {sorted(clash)[0]} collides with a mapped "
                       f"dimension of {t}", node.fn, where, "rename the dimension the lambda produces")
            return None
        return TensorType(mapped + d.dimensions, d.cell_type)

    def _FilterSubspaces(self, node: ir.FilterSubspaces, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        if t is None:
            return None
        dense = TensorType(t.indexed_dimensions, t.cell_type)
        if self.lambda_type(node.fn, 1, "filter_subspaces", scope, where, [dense]) is None:
            return None
        if not t.mapped_dimensions:
            self.error(AK350, f"filter_subspaces needs a tensor with a mapped dimension, but got {t}", node.arg, where,
                       "filter_subspaces selects subspaces by their mapped labels; use a tensor with one")
            return None
        return t

    def _Reduce(self, node: ir.Reduce, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        if t is None:
            return None
        missing = [d for d in node.dims if not t.has(d)]
        if missing:
            self.error(AK341, f"cannot reduce {t} over '{missing[0]}': it has no such dimension", node, where,
                       _dimension_hint(t))
            return None
        return t.reduce(node.dims)

    def _Rename(self, node: ir.Rename, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        if t is None:
            return None
        try:
            return t.rename(node.from_dims, node.to_dims)
        except TensorTypeError as e:
            code = AK341 if any(not t.has(d) for d in node.from_dims) else AK340
            self.error(code, str(e), node, where, _dimension_hint(t) if code == AK341 else None)
            return None

    def _Concat(self, node: ir.Concat, scope: Scope, where: Span | None) -> TensorType | None:
        a, b = self.infer(node.left, scope, where), self.infer(node.right, scope, where)
        if a is None or b is None:
            return None
        try:
            return TensorType.concat(a, b, node.dim)
        except TensorTypeError as e:
            self.error(AK340, f"cannot concat {a} and {b} along '{node.dim}': {e}", node, where,
                       "the other dimensions must agree; concat along an indexed dimension")
            return None

    def _Generate(self, node: ir.Generate, scope: Scope, where: Span | None) -> TensorType | None:
        try:
            type_ = TensorType.generate(node.type)
        except TensorTypeError as e:
            self.error(AK351, str(e), node, where, "give every dimension a size, e.g. tensor(x[3])(x)")
            return None
        inner = dict(scope)
        inner.update({d.name: _SCALAR for d in type_.dimensions})
        if not self.scalar(node.body, inner, where, "the cell expression of a generated tensor"):
            return None
        return type_

    def _TensorLiteral(self, node: ir.TensorLiteral, scope: Scope, where: Span | None) -> TensorType | None:
        ok = all([self.scalar(v, scope, where, "a tensor cell value") for _, v in node.cells])
        type_ = node.type if node.type is not None else _untyped_literal_type(node)
        for address, value in node.cells:
            problem = _address_problem(type_, address)
            if problem:
                self.error(AK349, f"cell {_address_text(address)} does not fit {type_}: {problem}", value, where,
                           f"give each cell a label for every dimension of {type_}")
                ok = False
        return type_ if ok else None

    def _Slice(self, node: ir.Slice, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        label_ok = all([self.scalar(e, scope, where, "a slice label") for _, e in node.address
                        if not isinstance(e, ir.String)])
        if t is None or not label_ok:
            return None
        dims: list[str] = []
        for name, _ in node.address:
            if name == "":
                pick = t.indexed_dimensions if node.bracket else t.mapped_dimensions
                if len(pick) != 1 and t.rank != 1:
                    kind = "indexed" if node.bracket else "mapped"
                    self.error(AK341, f"the short slice form needs a tensor with one {kind} dimension, but got {t}",
                               node, where, "name the dimension: t{x:label}")
                    return None
                name = (pick[0] if len(pick) == 1 else t.dimensions[0]).name
            if not t.has(name):
                self.error(AK341, f"cannot slice {t} at '{name}': it has no such dimension", node, where,
                           _dimension_hint(t))
                return None
            dims.append(name)
        return t.peek(dims)

    def _CellCast(self, node: ir.CellCast, scope: Scope, where: Span | None) -> TensorType | None:
        t = self.infer(node.arg, scope, where)
        if t is None:
            return None
        if t.is_scalar:
            return t  # a number stays a double, whatever it is cast to
        return t.cell_cast(node.cell_type)

    def _Call(self, node: ir.Call, scope: Scope, where: Span | None) -> TensorType | None:
        arity = fn.math_arity(node.name)
        if arity is not None:
            return self.math_call(node, arity, scope, where)
        spec = fn.TENSOR_FUNCTIONS.get(node.name)
        if spec is None:
            self.error(AK350, f"unknown function '{node.name}'", node, where,
                       f"the tensor functions are {', '.join(sorted(fn.TENSOR_FUNCTIONS))}")
            return None
        try:
            if node.name == "top" and not self.top_arguments_fit(node, scope, where):
                return None
            lowered = fn.lower_call(node)
            if lowered is not None:
                return self.infer(lowered, scope, where)
            dims = fn.dimension_arguments(node, spec)
            types = self._all(node.args[:spec.tensors], scope, where)
            if any(t is None for t in types):
                return None
            assert spec.type_rule is not None
            return spec.type_rule(node, [t for t in types if t is not None], dims)
        except fn.FunctionUsageError as e:
            code = AK343 if "dimension name" in str(e) else AK342 if "takes" in str(e) else AK350
            self.error(code, str(e), e.node, where, e.hint)
            return None

    def top_arguments_fit(self, node: ir.Call, scope: Scope, where: Span | None) -> bool:
        """Vespa's Top: n is a number and the input a sparse tensor (checked before lowering, so the
        error speaks of top and not of the primitives it becomes)."""
        if len(node.args) != 2:
            return True  # the argument count is reported by the lowering
        n_ok = self.scalar(node.args[0], scope, where, "the n of top(n, t)")
        t = self.infer(node.args[1], scope, where)
        if t is not None and not t.is_sparse:
            self.error(AK350, f"top(n, t) needs a sparse tensor (mapped dimensions only), but t has type {t}",
                       node.args[1], where, "top picks cells of mapped tensors; use argmax for indexed ones")
            return False
        return n_ok and t is not None

    def math_call(self, node: ir.Call, arity: int, scope: Scope, where: Span | None) -> TensorType | None:
        if arity == 2 and len(node.args) == 2 and node.name in ("max", "min"):
            first = self.infer(node.args[0], scope, where)
            if first is None:
                return None
            reduce = fn.reduce_if_dimension(node, first)
            if reduce is not None and not (isinstance(node.args[1], ir.Ref) and node.args[1].name in scope):
                return first.reduce(reduce.dims)
        if len(node.args) != arity:
            usage = f"{node.name}(a)" if arity == 1 else f"{node.name}(a, b)"
            self.error(AK342, f"{node.name} takes {arity} argument{'s' if arity > 1 else ''}, but got "
                       f"{len(node.args)}", node, where, f"write {usage}")
            return None
        types = self._all(node.args, scope, where)
        if any(t is None for t in types):
            return None
        if arity == 1:
            return types[0].map()  # type: ignore[union-attr]
        return self.join_types(types[0], types[1], node, where, node.name)


def _dimension_hint(t: TensorType) -> str:
    if t.is_scalar:
        return "the value is a number; it has no dimensions"
    return f"its dimensions are {', '.join(t.dimension_names)}"


def _untyped_literal_type(node: ir.TensorLiteral) -> TensorType:
    names = sorted({d for address, _ in node.cells for d, _ in address})
    return TensorType([Dimension.mapped_dim(n) for n in names])


def _address_text(address: ir.Address) -> str:
    return "{" + ",".join(f"{d}:{label}" for d, label in address) + "}"


def _address_problem(type_: TensorType, address: ir.Address) -> str | None:
    names = [d for d, _ in address]
    if sorted(names) != list(type_.dimension_names):
        return f"it names {', '.join(names) or 'no dimension'}, the type has {', '.join(type_.dimension_names) or 'none'}"
    for dim_name, label in address:
        d = type_.dimension(dim_name)
        assert d is not None
        if d.mapped:
            continue
        if not label.lstrip("-").isdigit():
            return f"label '{label}' of indexed dimension '{dim_name}' is not an integer"
        if int(label) < 0 or (d.size is not None and int(label) >= d.size):
            return f"index {label} is outside '{d}'"
    return None


__all__ = ["TypeContext", "FunctionDef", "check_types", "infer_type", "ExpressionTypeError", "feature_key",
           "function_def"]
