"""What `name(args)` means in a ranking expression: a built-in (if, map, join, reduce, sum, max, rename,
concat, cell_cast, range, exp, softmax, ...) turned into its IR node with its arguments checked, or a
rank feature. A mixin of the parser's node builder (appkit/expr/parse_nodes.py).

`max(a, b)` and `min(a, b)` with two arguments are the binary math functions here (`Call`), as in
Vespa's parser; when `b` names a dimension of tensor `a` they mean `reduce(a, max, b)`, which only the
type checker can tell (Vespa's TensorMaxMinTransformer does the same later). One argument, or three
and more, is always a reduce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from appkit.expr import ir
from appkit.expr.parse_errors import (AK304, AK306, AK310, AK311, AK312, AK313, AK314,
                                      ExpressionSyntaxError)
from appkit.source import Span
from appkit.tensor.type import CellType, Dimension, TensorType, TensorTypeError


@dataclass(frozen=True)
class Outputs:
    """`.out.out2` after a feature: the text after the first dot."""

    text: str
    span: Span


@dataclass(frozen=True)
class TupleArg:
    """`(a, b)` in an argument list: rename's dimension lists."""

    items: tuple[ir.Node, ...]
    span: Span


# name: (least args, most args (None: any), index of the first dimension-name argument or None, usage)
TENSOR_CALLS: dict[str, tuple[int, int | None, int | None, str]] = {
    "l1_normalize": (2, 2, 1, "l1_normalize(t, x)"),
    "l2_normalize": (2, 2, 1, "l2_normalize(t, x)"),
    "softmax": (2, 2, 1, "softmax(t, x)"),
    "expand": (2, 2, 1, "expand(t, x)"),
    "euclidean_distance": (3, 3, 2, "euclidean_distance(a, b, x)"),
    "cosine_similarity": (3, 3, 2, "cosine_similarity(a, b, x)"),
    "matmul": (3, 3, 2, "matmul(a, b, x)"),
    "xw_plus_b": (4, 4, 3, "xw_plus_b(x, w, b, d)"),
    "argmax": (1, None, 1, "argmax(t, x)"),
    "argmin": (1, None, 1, "argmin(t, x)"),
    "cell_order": (2, 2, 1, "cell_order(t, max)"),
    "top": (2, 2, None, "top(n, t)"),
    "unpack_bits": (1, 3, 1, "unpack_bits(t, int8, big)"),
}

USAGE = {
    "if": "if(condition, then, else)", "map": "map(t, f(x)(x * 2))", "map_subspaces": "map_subspaces(t, f(s)(s * 2))",
    "filter_subspaces": "filter_subspaces(t, f(s)(s > 0))", "join": "join(a, b, f(x,y)(x * y))",
    "merge": "merge(a, b, f(x,y)(x + y))", "reduce": "reduce(t, sum, x)", "rename": "rename(t, (a, b), (c, d))",
    "concat": "concat(a, b, x)", "cell_cast": "cell_cast(t, float)",
}
LAMBDA_PARENTS = (ir.Map, ir.MapSubspaces, ir.FilterSubspaces, ir.Join, ir.Merge)
_ALL_BUILTIN_NAMES = ir.UNARY_FUNCTIONS | ir.BINARY_FUNCTIONS | ir.TENSOR_FUNCTIONS


def dimension_argument_start(call: ir.Call) -> int | None:
    """Where the dimension-name arguments of a tensor function call begin (None: it has none)."""
    entry = TENSOR_CALLS.get(call.name)
    return entry[2] if entry else None


class CallBuilder:
    """Mixin: needs `span(first, last)` and `is_parenthesized(node)` from the node builder."""

    span: Callable[..., Span]
    is_parenthesized: Callable[[ir.Node], bool]

    def build_call(self, name: str, args: list[Any], outputs: Outputs | None, span: Span) -> ir.Node:
        handler = _HANDLERS.get(name)
        if handler is None and name not in _ALL_BUILTIN_NAMES:
            return self.feature(name, args, outputs, span)
        if outputs is not None:
            raise ExpressionSyntaxError(AK314, f"'{name}(...)' is a built-in function and has no output '.{outputs.text}'",
                                        outputs.span, f"remove '.{outputs.text}'; outputs belong to rank features")
        for a in args:
            if isinstance(a, ir.NamedArg):
                raise ExpressionSyntaxError(AK313, f"{name}() takes no named arguments", a.span,
                                            "named arguments (name: value) belong to rank features such as bm25")
            if isinstance(a, TupleArg) and name != "rename":
                raise ExpressionSyntaxError(AK313, "a parenthesised list of names is only an argument of rename()",
                                            a.span, "remove the parentheses, or use rename(t, (a, b), (c, d))")
        if handler is not None:
            return handler(self, name, args, span)
        return self._function(name, args, span)

    def feature(self, name: str, args: list[Any], outputs: Outputs | None, span: Span) -> ir.Node:
        for a in args:
            if isinstance(a, TupleArg):
                raise ExpressionSyntaxError(AK313, "a parenthesised list of names is only an argument of rename()",
                                            a.span, "pass a single expression per argument")
        return ir.Feature(name, tuple(args), outputs.text if outputs else None, span=span)

    # ---- helpers ----------------------------------------------------------------------------------

    def _arity(self, name: str, args: list[Any], least: int, most: int | None, span: Span, usage: str) -> None:
        if len(args) >= least and (most is None or len(args) <= most):
            return
        if most == least:
            wanted = f"{least} argument{'s' if least != 1 else ''}"
        elif most is None:
            wanted = f"at least {least} argument{'s' if least != 1 else ''}"
        else:
            wanted = f"{least} to {most} arguments"
        raise ExpressionSyntaxError(AK304, f"{name}() takes {wanted}, got {len(args)}", span, f"call it as {usage}")

    def _dimension(self, arg: Any, what: str = "a dimension name") -> str:
        """A dimension argument: a plain name, or a whole number (Vespa's `tag`)."""
        if isinstance(arg, ir.Ref) and "." not in arg.name and not self.is_parenthesized(arg):
            return arg.name
        if isinstance(arg, ir.Number) and arg.value >= 0 and arg.value.is_integer() and not self.is_parenthesized(arg):
            return str(int(arg.value))
        raise ExpressionSyntaxError(AK310, f"expected {what} here, found an expression", arg.span,
                                    "name the dimension, e.g. x or d0")

    def _lambda(self, name: str, arg: Any, params: int, usage: str) -> ir.Lambda:
        if not isinstance(arg, ir.Lambda) or len(arg.params) != params:
            got = f"a lambda with {len(arg.params)} parameter(s)" if isinstance(arg, ir.Lambda) else "no lambda"
            raise ExpressionSyntaxError(AK304, f"the last argument of {name}() must be a lambda with {params} "
                                        f"parameter{'s' if params != 1 else ''}; found {got}", arg.span, f"call it as {usage}")
        return arg

    def _type_argument(self, args: list[Any]) -> TensorType | None:
        """`diag(x[3],y[3])` parses its arguments as slices `x[3]`; read them back as a tensor type."""
        dims = []
        for a in args:
            if not (isinstance(a, ir.Slice) and a.bracket and isinstance(a.arg, ir.Ref) and "." not in a.arg.name
                    and isinstance(a.address[0][1], ir.Number) and a.address[0][1].value.is_integer()
                    and a.address[0][1].value >= 1 and not self.is_parenthesized(a)):
                return None
            dims.append(Dimension.indexed(a.arg.name, int(a.address[0][1].value)))
        try:
            return TensorType(dims) if dims else None
        except TensorTypeError:
            return None

    # ---- built-ins --------------------------------------------------------------------------------

    def _if(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 3, 4, span, USAGE["if"])
        probability = None
        if len(args) == 4:
            p = args[3]
            if not isinstance(p, ir.Number):
                raise ExpressionSyntaxError(AK304, "the fourth argument of if() is the probability that the condition "
                                            "is true, a number", p.span, "write e.g. if(a > b, 1, 0, 0.3), or drop it")
            probability = p.value
        return ir.If(args[0], args[1], args[2], probability, span=span)

    def _map(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 2, 2, span, USAGE[name])
        fn = self._lambda(name, args[1], 1, USAGE[name])
        node = {"map": ir.Map, "map_subspaces": ir.MapSubspaces, "filter_subspaces": ir.FilterSubspaces}[name]
        return node(args[0], fn, span=span)

    def _join(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 3, 3, span, USAGE[name])
        fn = self._lambda(name, args[2], 2, USAGE[name])
        return (ir.Join if name == "join" else ir.Merge)(args[0], args[1], fn, span=span)

    def _reduce(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 2, None, span, USAGE["reduce"])
        agg = args[1]
        if not (isinstance(agg, ir.Ref) and agg.name in ir.AGGREGATORS):
            raise ExpressionSyntaxError(AK311, "the second argument of reduce() is the aggregator: "
                                        + ", ".join(ir.AGGREGATORS), agg.span, "write e.g. reduce(t, sum, x)")
        return ir.Reduce(args[0], agg.name, tuple(self._dimension(a) for a in args[2:]), span=span)

    def _aggregate(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 1, None, span, f"{name}(t) or {name}(t, x)")
        if name in ("max", "min") and len(args) == 2:
            return ir.Call(name, tuple(args), span=span)  # binary max/min; see the module docstring
        return ir.Reduce(args[0], name, tuple(self._dimension(a) for a in args[1:]), span=span)

    def _rename(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 3, 3, span, USAGE["rename"])
        lists = []
        for a in args[1:]:
            items = a.items if isinstance(a, TupleArg) else (a,)
            lists.append(tuple(self._dimension(i) for i in items))
        if len(lists[0]) != len(lists[1]):
            raise ExpressionSyntaxError(AK304, f"rename() renames {len(lists[0])} dimension(s) to {len(lists[1])} name(s)",
                                        span, "give as many new names as old ones: rename(t, (a, b), (c, d))")
        return ir.Rename(args[0], lists[0], lists[1], span=span)

    def _concat(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 3, 3, span, USAGE["concat"])
        return ir.Concat(args[0], args[1], self._dimension(args[2]), span=span)

    def _cell_cast(self, name: str, args: list[Any], span: Span) -> ir.Node:
        self._arity(name, args, 2, 2, span, USAGE["cell_cast"])
        cell = args[1]
        try:
            if not isinstance(cell, ir.Ref):
                raise TensorTypeError("not a name")
            return ir.CellCast(args[0], CellType.parse(cell.name), span=span)
        except TensorTypeError:
            raise ExpressionSyntaxError(AK312, "the second argument of cell_cast() is a cell type", cell.span,
                                        "use one of double, float, bfloat16, int8") from None

    def _type_function(self, name: str, args: list[Any], span: Span) -> ir.Node:
        ttype = self._type_argument(args)
        if ttype is None:
            # Not dimensions: Vespa's parser then reads it as a rank feature (`random(1)` is one).
            return self.feature(name, args, None, span)
        return ir.Call(name, (), ttype, span=span)

    def _function(self, name: str, args: list[Any], span: Span) -> ir.Node:
        if name in ir.UNARY_FUNCTIONS:
            self._arity(name, args, 1, 1, span, f"{name}(x)")
        elif name in ir.BINARY_FUNCTIONS:
            self._arity(name, args, 2, 2, span, f"{name}(x, y)")
        else:
            least, most, dims_from, usage = TENSOR_CALLS[name]
            self._arity(name, args, least, most, span, usage)
            if dims_from is not None:
                for a in args[dims_from:]:
                    self._dimension(a, "a name")
        return ir.Call(name, tuple(args), span=span)


_HANDLERS: dict[str, Callable[[Any, str, list[Any], Span], ir.Node]] = {
    "if": CallBuilder._if,
    "map": CallBuilder._map, "map_subspaces": CallBuilder._map, "filter_subspaces": CallBuilder._map,
    "join": CallBuilder._join, "merge": CallBuilder._join,
    "reduce": CallBuilder._reduce,
    **{agg: CallBuilder._aggregate for agg in ir.AGGREGATORS},
    "rename": CallBuilder._rename,
    "concat": CallBuilder._concat,
    "cell_cast": CallBuilder._cell_cast,
    "range": CallBuilder._type_function, "diag": CallBuilder._type_function, "random": CallBuilder._type_function,
}


def check_lambda_scope(fn: ir.Lambda) -> None:
    """Vespa's rule (LambdaFunctionNode): a lambda body refers only to its parameters, and inside a
    generate to the generated dimensions; features and outer functions are out of its reach."""
    params = set(fn.params)
    stack: list[tuple[ir.Node, frozenset[str]]] = [(fn.body, frozenset())]
    while stack:
        node, local = stack.pop()
        if isinstance(node, ir.Lambda):
            continue  # checked when it was built
        if isinstance(node, ir.Ref):
            if node.name not in params and node.name not in local:
                raise ExpressionSyntaxError(
                    AK306, f"the lambda f({','.join(fn.params)}) uses '{node.name}', which is not one of its parameters",
                    node.span, "a lambda sees only its parameters; bring other values in as a join argument, "
                    "e.g. join(t, other, f(x,y)(x + y))")
            continue
        if isinstance(node, ir.Feature):
            raise ExpressionSyntaxError(
                AK306, f"the lambda f({','.join(fn.params)}) uses the feature '{node.name}(...)'", node.span,
                "a lambda sees only its parameters; join the feature in: join(t, feature, f(x,y)(x * y))")
        kids = ir.children(node)
        if isinstance(node, ir.Generate):
            local = local | {d.name for d in node.type.dimensions}
        elif isinstance(node, ir.Call) and dimension_argument_start(node) is not None:
            kids = node.args[: dimension_argument_start(node)]
        stack.extend((k, local) for k in kids)

