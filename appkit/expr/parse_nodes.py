"""Builds appkit.expr.ir nodes from the rules of grammars/expression.lark (Lark's inline transformer).

Vespa decides what `name(args)` means from the name: built-ins (if, map, join, reduce, sum, exp, ...)
become their IR nodes in appkit/expr/parse_calls.py, anything else is a rank feature. Every node gets
its span, already shifted into the file the expression came from.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from lark import Token, Transformer

from appkit.expr import ir
from appkit.expr.parse_calls import CallBuilder, Outputs, TupleArg, check_lambda_scope
from appkit.expr.parse_errors import AK300, AK307, AK312, ExpressionSyntaxError
from appkit.expr.parse_literal import (Address, DenseArray, LiteralLabel, ShortMap, VerboseBody, build_literal,
                                       build_untyped_literal)
from appkit.expr.printer import NUMBER_TOKEN
from appkit.source import Span
from appkit.tensor.type import CellType, Dimension, TensorType, TensorTypeError

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "b": "\b"}


def number_value(text: str) -> float:
    """The value of a NUMBER token. Leading zeros read as decimal (`08` is 8), as Vespa's Java does."""
    if text[:2] in ("0x", "0X"):
        return float(int(text[2:].rstrip("lL"), 16))
    text = text.rstrip("lL")
    if text[-1] in "fFdD":
        text = text[:-1]
    return float(text)


def unquote(token: str) -> str:
    """The text of a STRING token: quotes removed, `\\"`, `\\'`, `\\\\`, `\\n`, `\\t`, `\\uXXXX`... resolved."""
    def replace(m: re.Match[str]) -> str:
        esc = m.group(1)
        if len(esc) == 5:
            return chr(int(esc[1:], 16))
        return _ESCAPES.get(esc, esc)
    return _ESCAPE.sub(replace, token[1:-1])


@dataclass(frozen=True)
class _Case:
    value: ir.Node
    result: ir.Node


@dataclass(frozen=True)
class _TypeDims:
    """`(x[3],y{})` of a tensor type, dimensions in written order with their spans."""

    dims: list[tuple[Dimension, Span]]
    span: Span


@dataclass(frozen=True)
class _SliceSpec:
    address: tuple[tuple[str, ir.Node], ...]
    bracket: bool
    span: Span


def _is(item: Any, kind: str) -> bool:
    return isinstance(item, Token) and item.type == kind


def _items(children: list[Any]) -> list[Any]:
    """The children that are values, not punctuation (keep_all_tokens keeps every token)."""
    return [c for c in children if c is not None and not (isinstance(c, Token) and c.type in _PUNCTUATION)]


_PUNCTUATION = frozenset("LPAR RPAR LSQB RSQB LBRACE RBRACE COMMA COLON DOT DOLLAR IN CASE DEFAULT".split())


class NodeBuilder(Transformer, CallBuilder):
    """One instance per parser; `reset` before each parse (the parser holds a lock around both)."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)
        self.reset("<expression>", None)

    def reset(self, path: str, origin: Span | None) -> None:
        self.path = path
        self.line_offset = origin.line - 1 if origin else 0
        self.column_offset = origin.column - 1 if origin else 0
        self.parenthesized: dict[int, ir.Node] = {}  # id -> node (kept alive so ids stay unique)

    # ---- spans ------------------------------------------------------------------------------------

    def _start(self, item: Any) -> tuple[int, int]:
        if isinstance(item, Token):
            col = item.column + (self.column_offset if item.line == 1 else 0)
            return item.line + self.line_offset, col
        return item.span.line, item.span.column

    def _end(self, item: Any) -> tuple[int, int]:
        if isinstance(item, Token):
            col = item.end_column + (self.column_offset if item.end_line == 1 else 0)
            return item.end_line + self.line_offset, col
        return item.span.end_line, item.span.end_column

    def span(self, first: Any, last: Any = None) -> Span:
        line, column = self._start(first)
        end_line, end_column = self._end(first if last is None else last)
        return Span(self.path, line, column, end_line, end_column)

    def name(self, token: Token) -> str:
        """A name token where no number may stand. The contextual lexer reads `1` as a name there;
        Vespa's lexer reads a number, and so refuses it: so do we."""
        text = str(token)
        if NUMBER_TOKEN.fullmatch(text):
            raise ExpressionSyntaxError(AK300, f"expected a name, found number {text}", self.span(token),
                                        "names start with a letter or '_', e.g. x or d0")
        return text

    def is_parenthesized(self, node: ir.Node) -> bool:
        return id(node) in self.parenthesized

    # ---- roots and operators ---------------------------------------------------------------------

    def start(self, c: list[Any]) -> ir.Node:
        return c[0]

    def feature_list(self, c: list[Any]) -> tuple[ir.Node, ...]:
        return tuple(c)

    def chain(self, c: list[Any]) -> ir.Node:
        """Vespa's precedence over a flat `a op b op c ...` (OperationNode): every operator its own
        level, all left-associative except `^`. Iterative, so long sums never recurse."""
        operands: list[ir.Node] = [c[0]]
        ops: list[str] = []

        def reduce_top() -> None:
            right, left = operands.pop(), operands.pop()
            operands.append(ir.BinaryOp(ops.pop(), left, right, span=self.span(left, right)))

        for i in range(1, len(c), 2):
            op = str(c[i])
            level = ir.PRECEDENCE[op]
            while ops and (ir.PRECEDENCE[ops[-1]] > level or (ops[-1] == op and op != "^")):
                reduce_top()
            ops.append(op)
            operands.append(c[i + 1])
        while ops:
            reduce_top()
        return operands[0]

    def in_list(self, c: list[Any]) -> ir.Node:
        items = _items(c[3:])
        return ir.In(c[0], tuple(items), span=self.span(c[0], c[-1]))

    def neg(self, c: list[Any]) -> ir.Node:
        arg = c[1]
        span = self.span(c[0], arg)
        # `-2` is the number -2 (as Vespa's constantPrimitive reads it); `-(2)` and `- -2` stay negations.
        if isinstance(arg, ir.Number) and not self.is_parenthesized(arg) and math.copysign(1.0, arg.value) > 0:
            return ir.Number(-arg.value, span=span)
        return ir.Neg(arg, span=span)

    def not_(self, c: list[Any]) -> ir.Node:
        arg, span = c[1], self.span(c[0], c[1])
        # Vespa reads `!-x` as -(!x): its value() applies ! first, then the minus (and `!-2` as -(!2)).
        if not self.is_parenthesized(arg):
            if isinstance(arg, ir.Neg):
                return ir.Neg(ir.Not(arg.arg, span=span), span=span)
            if isinstance(arg, ir.Number) and math.copysign(1.0, arg.value) < 0:  # a folded -NUMBER
                return ir.Neg(ir.Not(ir.Number(-arg.value, span=arg.span), span=span), span=span)
        return ir.Not(arg, span=span)

    # ---- slices -----------------------------------------------------------------------------------

    def sliced(self, c: list[Any]) -> ir.Node:
        base, spec = c
        return ir.Slice(base, spec.address, spec.bracket, span=self.span(base, spec))

    def slice_bracket(self, c: list[Any]) -> _SliceSpec:
        return _SliceSpec((("", c[1]),), True, self.span(c[0], c[-1]))

    def slice_short(self, c: list[Any]) -> _SliceSpec:
        return _SliceSpec((("", self._label_or_expression(c[1])),), False, self.span(c[0], c[-1]))

    def slice_long(self, c: list[Any]) -> _SliceSpec:
        pairs = _items(c)
        names = [name for name, _ in pairs]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ExpressionSyntaxError(AK300, f"dimension '{name}' appears twice in this slice",
                                            self.span(c[0], c[-1]), f"give '{name}' one label")
        return _SliceSpec(tuple(pairs), False, self.span(c[0], c[-1]))

    def slice_pair(self, c: list[Any]) -> tuple[str, ir.Node]:
        return (self.name(c[0]), self._label_or_expression(c[2]))

    def _label_or_expression(self, e: ir.Node) -> ir.Node:
        """In `t{x:a}` a bare name is the label "a" (Vespa's rule); `t{x:(a)}` and `t{x:a+1}` compute it."""
        if isinstance(e, ir.Ref) and "." not in e.name and not self.is_parenthesized(e):
            return ir.String(e.name, span=e.span)
        return e

    # ---- primaries --------------------------------------------------------------------------------

    def number(self, c: list[Any]) -> ir.Node:
        return ir.Number(number_value(str(c[0])), span=self.span(c[0]))

    def string(self, c: list[Any]) -> ir.Node:
        return ir.String(unquote(str(c[0])), span=self.span(c[0]))

    def paren(self, c: list[Any]) -> ir.Node:
        inner = c[1]
        self.parenthesized[id(inner)] = inner
        return inner

    def dollar(self, c: list[Any]) -> ir.Node:
        name = ir.Ref(self.name(c[1]), span=self.span(c[1]))
        return ir.Feature("query", (name,), span=self.span(c[0], c[1]))

    def bare(self, c: list[Any]) -> ir.Node:
        name = str(c[0])
        if len(c) == 1:
            if name in ("true", "false"):
                return ir.Number(1.0 if name == "true" else 0.0, span=self.span(c[0]))
            return ir.Ref(name, span=self.span(c[0]))
        return ir.Ref(f"{name}.{c[1].text}", span=self.span(c[0], c[1]))

    def keyword_ref(self, c: list[Any]) -> ir.Node:
        return self.bare(c)

    def outputs(self, c: list[Any]) -> Outputs:
        return Outputs(".".join(str(t) for t in _items(c)), self.span(c[0], c[-1]))

    def output(self, c: list[Any]) -> Token:
        return c[0]

    def call(self, c: list[Any]) -> ir.Node:
        outputs = c[4] if len(c) > 4 else None
        args = c[2] if c[2] is not None else []
        return self.build_call(str(c[0]), args, outputs, self.span(c[0], c[-1]))

    def applied(self, c: list[Any]) -> ir.Node:
        name, args, body = str(c[0]), c[2] if c[2] is not None else [], c[5]
        span = self.span(c[0], c[-1])
        if name != "f":
            raise ExpressionSyntaxError(AK300, f"unexpected '(' after '{name}(...)'", self.span(c[4]),
                                        "only a lambda takes a second pair of parentheses: f(a,b)(a * b)")
        params: list[str] = []
        for arg in args:
            if not isinstance(arg, ir.Ref) or "." in arg.name or self.is_parenthesized(arg):
                raise ExpressionSyntaxError(AK300, "lambda parameters must be plain names", arg.span,
                                            "write the lambda as f(a,b)(expression)")
            if arg.name in params:
                raise ExpressionSyntaxError(AK300, f"lambda parameter '{arg.name}' appears twice", arg.span,
                                            "give each parameter its own name")
            params.append(arg.name)
        fn = ir.Lambda(tuple(params), body, span=span)
        check_lambda_scope(fn)  # as soon as the lambda is read, as Vespa's parser does
        return fn

    def args(self, c: list[Any]) -> list[Any]:
        return _items(c)

    def named_arg(self, c: list[Any]) -> ir.Node:
        value = c[-1]
        text = unquote(str(value)) if value.type == "STRING" else ("-" if len(c) == 4 else "") + str(value)
        return ir.NamedArg(self.name(c[0]), text, span=self.span(c[0], value))

    def tuple_arg(self, c: list[Any]) -> TupleArg:
        return TupleArg(tuple(_items(c)), self.span(c[0], c[-1]))

    def switch(self, c: list[Any]) -> ir.Node:
        cases = tuple((k.value, k.result) for k in c if isinstance(k, _Case))
        return ir.Switch(c[2], cases, c[-2], span=self.span(c[0], c[-1]))

    def case(self, c: list[Any]) -> _Case:
        return _Case(c[1], c[3])

    # ---- tensor types, generate, literals ---------------------------------------------------------

    def cell_type(self, token: Token | None) -> CellType:
        if token is None:
            return CellType.DOUBLE
        name = str(token)[1:-1].strip()
        try:
            return CellType.parse(name)
        except TensorTypeError:
            raise ExpressionSyntaxError(AK312, f"unknown cell type '{name}'", self.span(token),
                                        "use one of double, float, bfloat16, int8") from None

    def tensor_type(self, dims: list[tuple[Dimension, Span]], cell: CellType, span: Span) -> TensorType:
        try:
            return TensorType([d for d, _ in dims], cell)
        except TensorTypeError as e:
            raise ExpressionSyntaxError(AK307, str(e), span, "dimension names are unique names such as x, y, d0") from None

    def type_dims(self, c: list[Any]) -> _TypeDims:
        return _TypeDims(_items(c), self.span(c[0], c[-1]))

    def mapped_dim(self, c: list[Any]) -> tuple[Dimension, Span]:
        return Dimension.mapped_dim(str(c[0])), self.span(c[0], c[-1])

    def indexed_dim(self, c: list[Any]) -> tuple[Dimension, Span]:
        size = c[2]
        if size is not None and not str(size).isdigit():
            raise ExpressionSyntaxError(AK307, f"the size of dimension '{c[0]}' must be a whole number, not {size}",
                                        self.span(size), f"write e.g. {c[0]}[3]")
        return Dimension.indexed(str(c[0]), int(str(size)) if size is not None else None), self.span(c[0], c[-1])

    def typed_call(self, c: list[Any]) -> ir.Node:
        span = self.span(c[0], c[-1])
        ttype = self.tensor_type(c[2].dims, self.cell_type(c[1]), span)
        self.require_bound(c[2].dims, str(c[0]))
        return ir.Call(str(c[0]), (), ttype, span=span)

    def require_bound(self, dims: list[tuple[Dimension, Span]], what: str) -> None:
        for d, dspan in dims:
            if not d.is_bound:
                raise ExpressionSyntaxError(AK307, f"{what} needs indexed dimensions with a size; {d} has none",
                                            dspan, f"give it a size, e.g. {d.name}[3]")

    def generate(self, c: list[Any]) -> ir.Node:
        span = self.span(c[0], c[-1])
        ttype = self.tensor_type(c[2].dims, self.cell_type(c[1]), span)
        self.require_bound(c[2].dims, "a generated tensor")
        return ir.Generate(ttype, c[4], span=span)

    def literal(self, c: list[Any]) -> ir.Node:
        span = self.span(c[0], c[-1])
        ttype = self.tensor_type(c[2].dims, self.cell_type(c[1]), span)
        return build_literal(ttype, [d for d, _ in c[2].dims], c[4], span)

    def untyped_literal(self, c: list[Any]) -> ir.Node:
        span = self.span(c[0], c[-1])
        return build_untyped_literal(VerboseBody(tuple(_items(c)), span), span)

    def literal_body(self, c: list[Any]) -> Any:
        return c[0]

    def empty_body(self, c: list[Any]) -> VerboseBody:
        return VerboseBody((), self.span(c[0], c[-1]))

    def verbose_body(self, c: list[Any]) -> VerboseBody:
        return VerboseBody(tuple(_items(c)), self.span(c[0], c[-1]))

    def dense_array(self, c: list[Any]) -> DenseArray:
        return DenseArray(tuple(_items(c)), self.span(c[0], c[-1]))

    def short_map(self, c: list[Any]) -> ShortMap:
        return ShortMap(tuple(_items(c)), self.span(c[0], c[-1]))

    def short_cell(self, c: list[Any]) -> tuple[LiteralLabel, Any]:
        return (c[0], c[2])

    def verbose_cell(self, c: list[Any]) -> tuple[Address, ir.Node]:
        return (c[0], c[2])

    def address(self, c: list[Any]) -> Address:
        return Address(tuple(_items(c)), self.span(c[0], c[-1]))

    def address_pair(self, c: list[Any]) -> tuple[str, LiteralLabel]:
        return (self.name(c[0]), c[2])

    def label(self, c: list[Any]) -> LiteralLabel:
        if len(c) == 2:  # MINUS NUMBER
            return LiteralLabel("-" + str(c[1]), self.span(c[0], c[1]))
        token = c[0]
        text = unquote(str(token)) if token.type == "STRING" else str(token)
        return LiteralLabel(text, self.span(token))

    # ---- feature lists ----------------------------------------------------------------------------

    def list_feature(self, c: list[Any]) -> ir.Node:
        name = self.name(c[0])
        if len(c) <= 2:  # name or name.output
            return self.bare(c)
        args = c[2] if c[2] is not None else []
        outputs = c[4] if len(c) > 4 else None
        return self.feature(name, args, outputs, self.span(c[0], c[-1]))

