"""Print appkit.expr.ir trees as Vespa ranking-expression text, with only the parentheses needed.

`parse_expression(print_expression(e)) == e` for every tree the parser can produce (see
tests/expr/test_parse_roundtrip.py). Trees built by hand can hold what no text means: a NaN `Number` prints
as `(0/0)` (the same value, not the same tree), and a `Ref` or `Feature` named like a built-in or
`true`/`false` reads back as that built-in.
"""

from __future__ import annotations

import math
import re
from typing import Callable

from appkit.expr import ir
from appkit.tensor.type import TensorType

__all__ = ["print_expression", "format_number", "quote"]

# Binding levels, loosest first: where a node may stand without parentheses.
_TOP = 0        # anywhere an expression stands: arguments, brackets, cells
_CHAIN = 1      # the left of `in`: operators but no `in`
_UNARY = 2      # an operand of a binary operator: - and ! allowed
_PRIMARY = 3    # before a slice, after - or !: names, numbers, calls, literals

# The IDENT and NUMBER tokens of grammars/expression.lark (kept in step with it).
NAME_TOKEN = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9_@$]*")
NUMBER_TOKEN = re.compile(r"[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?[fFdD]?|[0-9]+[eE][+-][0-9]+[fFdD]?|"
                          r"(?:0[xX][0-9a-fA-F]+[lL]?|[0-9]+[lL]|[0-9]+(?:[eE][0-9]+)?[fFdD]?)")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\f": "\\f", "\b": "\\b"}


def print_expression(e: ir.Node) -> str:
    """Vespa syntax for `e`; parses back to an equal tree."""
    return _p(e, _TOP)


def format_number(value: float) -> str:
    """Shortest text that reads back as exactly `value` (`3`, `0.5`, `-2`, `1e+20`)."""
    value = float(value)
    if math.isnan(value):
        return "(0/0)"
    if math.isinf(value):
        return "1e999" if value > 0 else "-1e999"  # overflows to infinity, in appkit and in Vespa
    if value.is_integer() and abs(value) < 1e16:
        text = str(int(value))
        return "-0" if text == "0" and math.copysign(1.0, value) < 0 else text
    return repr(value)


def quote(text: str) -> str:
    """A double-quoted string literal for `text`."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _is_name(text: str) -> bool:
    """True when `text` lexes as one name token (not a number, not true/false)."""
    return bool(NAME_TOKEN.fullmatch(text)) and not NUMBER_TOKEN.fullmatch(text) and text not in ("true", "false")


def _label(text: str) -> str:
    """A label in a literal address or short map (or a named argument's value): bare when it lexes as
    one token (or a minus and a number), else quoted."""
    if NAME_TOKEN.fullmatch(text) or NUMBER_TOKEN.fullmatch(text) or (text[:1] == "-" and NUMBER_TOKEN.fullmatch(text[1:])):
        return text
    return quote(text)


def _level(node: ir.Node) -> int:
    if isinstance(node, ir.In):
        return _TOP
    if isinstance(node, ir.BinaryOp):
        return _CHAIN
    if isinstance(node, (ir.Neg, ir.Not)):
        return _UNARY
    if isinstance(node, ir.Number) and not math.isnan(node.value) and math.copysign(1.0, node.value) < 0:
        return _UNARY  # -2 reads as a negation where only a primary may stand
    return _PRIMARY


def _p(node: ir.Node, level: int) -> str:
    text = _PRINTERS[type(node)](node)
    return f"({text})" if _level(node) < level else text


def _args(*items: ir.Node) -> str:
    return ", ".join(_p(i, _TOP) for i in items)


# ---- operators -------------------------------------------------------------------------------------

def _binary(node: ir.BinaryOp) -> str:
    op = node.op
    rights: list[ir.Node] = []
    left: ir.Node = node
    # A left-associative chain a + b + c + ... is printed in a loop, never recursively.
    while isinstance(left, ir.BinaryOp) and left.op == op and (op != "^" or left is node):
        rights.append(left.right)
        left = left.left
    parts = [_operand(left, op, right_side=False)]
    for right in reversed(rights):
        parts.append(f" {op} {_operand(right, op, right_side=True)}")
    return "".join(parts)


def _operand(child: ir.Node, op: str, right_side: bool) -> str:
    if isinstance(child, ir.BinaryOp):
        mine, theirs = ir.PRECEDENCE[op], ir.PRECEDENCE[child.op]
        same_needs = (op != "^") if right_side else (op == "^")
        text = _binary(child)
        return f"({text})" if theirs < mine or (theirs == mine and same_needs) else text
    return _p(child, _UNARY)


def _neg(node: ir.Neg) -> str:
    arg = node.arg
    if isinstance(arg, ir.Number) and _level(arg) == _PRIMARY:
        return f"-({format_number(arg.value)})"  # `-2` would read back as the number -2
    return "-" + _p(arg, _PRIMARY)  # Vespa takes one - or ! before a primary: -(-x), -(!x)


def _not(node: ir.Not) -> str:
    return "!" + _p(node.arg, _PRIMARY)


def _in(node: ir.In) -> str:
    return f"{_p(node.arg, _CHAIN)} in [{_args(*node.items)}]"


# ---- values and calls ------------------------------------------------------------------------------

def _feature(node: ir.Feature) -> str:
    out = f".{node.output}" if node.output is not None else ""
    return f"{node.name}({_args(*node.args)}){out}"


def _named_arg(node: ir.NamedArg) -> str:
    return f"{node.name}: {_label(node.value)}"  # the value is written like a literal's label


def _if(node: ir.If) -> str:
    prob = "" if node.true_probability is None else f", {format_number(node.true_probability)}"
    return f"if({_args(node.condition, node.if_true, node.if_false)}{prob})"


def _switch(node: ir.Switch) -> str:
    cases = "".join(f"case {_p(v, _TOP)}: {_p(r, _TOP)}, " for v, r in node.cases)
    return f"switch({_p(node.subject, _TOP)}) {{{cases}default: {_p(node.default, _TOP)}}}"


def _lambda(node: ir.Lambda) -> str:
    return f"f({','.join(node.params)})({_p(node.body, _TOP)})"


def _dims(names: tuple[str, ...]) -> str:
    return "".join(f", {d}" for d in names)


def _rename_list(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def _call(node: ir.Call) -> str:
    if node.type_arg is not None:
        cell = "" if node.type_arg.cell_type.value == "double" else f"<{node.type_arg.cell_type.value}>"
        return f"{node.name}{cell}({','.join(str(d) for d in node.type_arg.dimensions)})"
    return f"{node.name}({_args(*node.args)})"


def _slice(node: ir.Slice) -> str:
    base = _p(node.arg, _PRIMARY)
    if isinstance(node.arg, ir.Slice):
        base = f"({base})"  # Vespa reads one slice per value: (t{x:1}){y:2}
    if node.bracket:
        return f"{base}[{_p(node.address[0][1], _TOP)}]"
    if len(node.address) == 1 and node.address[0][0] == "":
        return f"{base}{{{_slice_value(node.address[0][1])}}}"
    return base + "{" + ", ".join(f"{d}:{_slice_value(v)}" for d, v in node.address) + "}"


def _slice_value(value: ir.Node) -> str:
    """In braces a bare name is a label, so a label is printed bare and a name reference parenthesised."""
    if isinstance(value, ir.String):
        return value.value if _is_name(value.value) else quote(value.value)
    if isinstance(value, ir.Ref) and "." not in value.name:
        return f"({value.name})"
    return _p(value, _TOP)


# ---- tensor literals -------------------------------------------------------------------------------

def _literal(node: ir.TensorLiteral) -> str:
    if node.type is None:
        return _verbose(node)
    prefix = f"{node.type}:"
    return prefix + (_dense(node.type, node.cells) or _short(node.type, node.cells) or _verbose(node))


def _verbose(node: ir.TensorLiteral) -> str:
    cells = ", ".join("{" + ",".join(f"{d}:{_label(l)}" for d, l in address) + "}:" + _p(v, _TOP)
                      for address, v in node.cells)
    return "{" + cells + "}"


def _row_major(dims: tuple, count: int) -> list[tuple[tuple[str, str], ...]]:
    """The addresses of a dense block in canonical (row-major, dimensions sorted) order."""
    out = []
    for flat in range(count):
        labels = []
        for d in reversed(dims):
            flat, i = divmod(flat, d.size)
            labels.append((d.name, str(i)))
        out.append(tuple(reversed(labels)))
    return out


def _nested(values: list[str], dims: tuple) -> str:
    if not dims:
        return values[0]
    step = len(values) // dims[0].size
    return "[" + ", ".join(_nested(values[i * step:(i + 1) * step], dims[1:]) for i in range(dims[0].size)) + "]"


def _dense_block(dims: tuple, cells: tuple, prefix: tuple[tuple[str, str], ...]) -> str | None:
    count = math.prod(d.size for d in dims)
    if len(cells) != count:
        return None
    expected = _row_major(dims, count)
    for (address, _), want in zip(cells, expected):
        if address != tuple(sorted(prefix + want)):
            return None
    return _nested([_p(v, _TOP) for _, v in cells], dims)


def _dense(ttype: TensorType, cells: tuple) -> str | None:
    dims = ttype.dimensions
    if not dims or not cells or any(not d.is_bound for d in dims):
        return None
    return _dense_block(dims, cells, ())


def _short(ttype: TensorType, cells: tuple) -> str | None:
    """`{a:1, b:2}` for one mapped dimension; `{a:[1,2], b:[3,4]}` when dense subspaces hang off it."""
    mapped = [d for d in ttype.dimensions if d.mapped]
    indexed = tuple(d for d in ttype.dimensions if not d.mapped)
    if len(mapped) != 1 or not cells or any(not d.is_bound for d in indexed):
        return None
    name = mapped[0].name
    if not indexed:
        return "{" + ", ".join(f"{_label(dict(a)[name])}:{_p(v, _TOP)}" for a, v in cells) + "}"
    block = math.prod(d.size for d in indexed)
    if len(cells) % block:
        return None
    parts = []
    for start in range(0, len(cells), block):
        group = cells[start:start + block]
        label = dict(group[0][0])[name]
        text = _dense_block(indexed, group, ((name, label),))
        if text is None:
            return None
        parts.append(f"{_label(label)}:{text}")
    return "{" + ", ".join(parts) + "}"


_PRINTERS: dict[type, Callable[..., str]] = {
    ir.Number: lambda n: format_number(n.value),
    ir.String: lambda n: quote(n.value),
    ir.Ref: lambda n: n.name,
    ir.Feature: _feature,
    ir.NamedArg: _named_arg,
    ir.Neg: _neg,
    ir.Not: _not,
    ir.BinaryOp: _binary,
    ir.In: _in,
    ir.If: _if,
    ir.Switch: _switch,
    ir.Lambda: _lambda,
    ir.Map: lambda n: f"map({_args(n.arg)}, {_lambda(n.fn)})",
    ir.MapSubspaces: lambda n: f"map_subspaces({_args(n.arg)}, {_lambda(n.fn)})",
    ir.FilterSubspaces: lambda n: f"filter_subspaces({_args(n.arg)}, {_lambda(n.fn)})",
    ir.Join: lambda n: f"join({_args(n.left, n.right)}, {_lambda(n.fn)})",
    ir.Merge: lambda n: f"merge({_args(n.left, n.right)}, {_lambda(n.fn)})",
    ir.Reduce: lambda n: f"reduce({_args(n.arg)}, {n.aggregator}{_dims(n.dims)})",
    ir.Rename: lambda n: f"rename({_args(n.arg)}, {_rename_list(n.from_dims)}, {_rename_list(n.to_dims)})",
    ir.Concat: lambda n: f"concat({_args(n.left, n.right)}, {n.dim})",
    ir.Generate: lambda n: f"{n.type}({_p(n.body, _TOP)})",
    ir.TensorLiteral: _literal,
    ir.Slice: _slice,
    ir.CellCast: lambda n: f"cell_cast({_args(n.arg)}, {n.cell_type.value})",
    ir.Call: _call,
}
