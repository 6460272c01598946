"""Parse Vespa ranking expressions (and match/summary-feature lists) into appkit.expr.ir trees.

`parse_expression(text, origin)` returns the tree or raises ExpressionSyntaxError with one located
diagnostic (AK300-AK319). The grammar is grammars/expression.lark; the parser is built once, lazily.
Built-ins become their own nodes (appkit/expr/parse_calls.py; note there that `max(a, b)`/`min(a, b)`
are binary `Call`s, left to the type checker when `b` is a dimension); other `name(args)` are features.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lark import Lark
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput

from appkit.expr import ir
from appkit.expr.parse_calls import LAMBDA_PARENTS
from appkit.expr.parse_errors import (AK300, AK301, AK302, AK303, AK305, AK315, AK316,
                                      ExpressionSyntaxError)
from appkit.expr.parse_nodes import NodeBuilder
from appkit.resources import grammar_path
from appkit.source import Span, offset_to_line_col

__all__ = ["ExpressionSyntaxError", "parse_expression", "parse_feature_list", "MAX_NESTING"]

# Deeper trees are refused: every later stage (printer, type checker, evaluator) walks them recursively.
# Long operator chains (a + b + c + ... ) do not count: they are one level, however long.
MAX_NESTING = 200

_GRAMMAR = "expression.lark"
_build_lock = threading.Lock()
_parse_lock = threading.Lock()
_parser: tuple[Lark, NodeBuilder] | None = None


def parse_expression(text: str, origin: Span | None = None, path: str = "<expression>") -> ir.Expr:
    """The IR of one ranking expression. `origin` is where the text starts in its file (spans point
    there); without it spans are relative to the text, in `path`."""
    return _parse(text, "start", origin, path)


def parse_feature_list(text: str, origin: Span | None = None, path: str = "<features>") -> tuple[ir.Expr, ...]:
    """The features of a match-features/summary-features/rank-features list (separated by whitespace):
    `Ref` for bare names (`match.totalWeight`), `Feature` for `name(args).output`."""
    return _parse(text, "feature_list", origin, path)


def parser() -> Lark:
    """The process-wide Lark parser (built on first use; the grammar analysis is cached on disk)."""
    return _get_parser()[0]


def _get_parser() -> tuple[Lark, NodeBuilder]:
    global _parser
    if _parser is None:
        with _build_lock:
            if _parser is None:
                builder = NodeBuilder()
                source = grammar_path(_GRAMMAR).read_text(encoding="utf-8")
                lark = Lark(source, parser="lalr", lexer="contextual", start=["start", "feature_list"],
                            keep_all_tokens=True, maybe_placeholders=True, transformer=builder,
                            cache=_cache_file())
                _parser = (lark, builder)
    return _parser


def _cache_file() -> str | bool:
    """Lark's cache of the grammar analysis, in a private per-user directory (never a shared /tmp name:
    the cache is a pickle). Lark keys it on the grammar's hash, so a changed grammar rebuilds it."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = Path(base) / "appkit"
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK) or (hasattr(os, "getuid") and directory.stat().st_uid != os.getuid()):
            return False
    except OSError:
        return False
    return str(directory / "expression-grammar.lark-cache")


def _parse(text: str, start: str, origin: Span | None, path: str) -> Any:
    path = origin.path if origin is not None else path
    lark, builder = _get_parser()
    with _parse_lock:
        builder.reset(path, origin)
        try:
            result = lark.parse(text, start=start)
        except UnexpectedInput as e:
            raise _translate(e, text, start, builder) from None
        except LarkError as e:  # pragma: no cover - lark raises UnexpectedInput for every input error
            raise ExpressionSyntaxError(AK300, f"cannot parse the expression: {e}", _at(builder, 1, 1)) from None
        except RecursionError:
            raise ExpressionSyntaxError(AK303, "the expression is nested too deeply to parse", _at(builder, 1, 1),
                                        "split it into rank-profile functions") from None
        finally:
            builder.parenthesized = {}
    for root in result if isinstance(result, tuple) else (result,):
        _check_tree(root)
    return result


def _check_tree(root: ir.Node) -> None:
    """Nesting depth and lambda placement, in one iterative walk (no recursion on deep input)."""
    stack: list[tuple[ir.Node, int, ir.Node | None]] = [(root, 1, None)]
    while stack:
        node, depth, parent = stack.pop()
        if depth > MAX_NESTING:
            raise ExpressionSyntaxError(AK303, f"the expression nests more than {MAX_NESTING} levels deep here",
                                        node.span, "split it into rank-profile functions and call them by name")
        if isinstance(node, ir.Lambda) and not (isinstance(parent, LAMBDA_PARENTS) and parent.fn is node):
            raise ExpressionSyntaxError(AK305, "a lambda f(...)(...) can only be the function argument of map, join, "
                                        "merge, map_subspaces or filter_subspaces", node.span,
                                        "pass it to one of them, e.g. map(t, f(x)(x * 2))")
        for child in ir.children(node):
            chained = isinstance(node, ir.BinaryOp) and child is node.left and isinstance(child, ir.BinaryOp) \
                and child.op == node.op
            stack.append((child, depth if chained else depth + 1, node))


# ---- turning Lark's errors into diagnostics ---------------------------------------------------------

_SCAN = re.compile(r"""("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(\#[^\n]*)|([A-Za-z0-9_@][A-Za-z0-9_@$]*)|([(\[{])|([)\]}])|(\s+)|(.)""",
                   re.S)
_CLOSER = {"(": ")", "[": "]", "{": "}"}
_OPENER = {v: k for k, v in _CLOSER.items()}
_OPERATORS = frozenset("OR AND GE GT LE LT APPROX NE EQ PLUS MINUS STAR SLASH PERCENT CARET IN".split())
_VALUE_START = frozenset("NUMBER STRING IDENT LPAR DOLLAR TENSOR SWITCH RANGE DIAG RANDOM LBRACE BANG".split())
_PUNCTUATION_WORDS = {"RPAR": "')'", "RSQB": "']'", "RBRACE": "'}'", "COMMA": "','", "COLON": "':'", "DOT": "'.'",
                      "LSQB": "'['", "LBRACE": "'{'", "CASE": "'case'", "DEFAULT": "'default'", "CELL_TYPE": "'<type>'"}


@dataclass(frozen=True)
class _Open:
    char: str
    offset: int
    label: str


def _scan(text: str, upto: int) -> tuple[list[_Open], int]:
    """The brackets still open at `upto`, and where the last real token before it ends."""
    stack: list[_Open] = []
    word, word_start, last_end = "", 0, 0
    for m in _SCAN.finditer(text, 0, upto):
        string, comment, name, opener, closer, space, _ = m.groups()
        if space or comment:
            continue
        if opener:
            labelled = opener == "(" and word
            stack.append(_Open(opener, word_start if labelled else m.start(), word + opener if labelled else opener))
        elif closer and stack and _CLOSER[stack[-1].char] == closer:
            stack.pop()
        word, word_start = name or "", m.start()
        last_end = m.end()
    return stack, last_end


def _at(builder: NodeBuilder, line: int, column: int, width: int = 1) -> Span:
    shift = builder.column_offset if line == 1 else 0
    return Span(builder.path, line + builder.line_offset, column + shift, line + builder.line_offset,
                column + shift + width)


def _where(builder: NodeBuilder, text: str, offset: int) -> str:
    span = _at(builder, *offset_to_line_col(text, offset))
    return f"{span.line}:{span.column}"


def _translate(e: UnexpectedInput, text: str, start: str, builder: NodeBuilder) -> ExpressionSyntaxError:
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(e, text, builder)
    token = getattr(e, "token", None)
    at_end = token is None or token.type == "$END"
    offset = len(text) if at_end else token.start_pos
    stack, last_end = _scan(text, offset)
    if at_end:
        offset = last_end
        if not text[:last_end].strip():
            what = "feature list" if start == "feature_list" else "expression"
            return ExpressionSyntaxError(AK316, f"the {what} is empty", _at(builder, *offset_to_line_col(text, 0)),
                                         "write the expression, e.g. attribute(popularity) * 2")
    span = _at(builder, *offset_to_line_col(text, offset), width=1 if at_end else max(len(token), 1))
    found = "end of expression" if at_end else _describe(token)
    expected = getattr(e, "expected", None) or getattr(e, "accepts", None) or set()
    if stack and (at_end or token.type in ("RPAR", "RSQB", "RBRACE")):
        top = stack[-1]
        closer = _CLOSER[top.char]
        if at_end or str(token) != closer:
            more = f" (and {len(stack) - 1} more bracket(s) still open)" if len(stack) > 1 else ""
            if at_end:
                hint = f"add '{closer}'{more}"
            elif any(_CLOSER[o.char] == str(token) for o in stack[:-1]):
                hint = f"add '{closer}' before {found}"
            else:
                hint = f"replace {found} with '{closer}'"
            return ExpressionSyntaxError(
                AK301, f"expected '{closer}' to close '{top.label}' opened at {_where(builder, text, top.offset)}, "
                       f"found {found}", span, hint)
    if not at_end and token.type in ("RPAR", "RSQB", "RBRACE") and not stack:
        return ExpressionSyntaxError(AK301, f"'{token}' closes nothing", span,
                                     f"remove it, or add the '{_OPENER[str(token)]}' it should close")
    wanted = _expected_words(expected, stack)
    message = f"expected {wanted}, found {found}" if wanted else f"unexpected {found}"
    if start == "feature_list" and not at_end and (token.type in _OPERATORS or token.type in ("LSQB", "LBRACE")):
        return ExpressionSyntaxError(AK315, f"{message}: a feature list holds rank features separated by spaces",
                                     span, "compute expressions in a rank-profile function and list the function")
    return ExpressionSyntaxError(AK300, message, span, _hint(token, at_end, expected, text))


def _hint(token: Any, at_end: bool, expected: set[str], text: str) -> str:
    if at_end:
        return "complete the expression: a value must follow the last operator or ','"
    if token.type == "DOT" and text[token.end_pos:token.end_pos + 1].isdigit():
        return "write a number with a digit before the point: 0.5"
    if token.type == "LPAR" and expected & _OPERATORS and re.search(r"[\w@$]\s*$", text[:token.start_pos]):
        return "arguments follow the name directly and outputs come after them: fieldMatch(title).completeness"
    if token.type in _VALUE_START and expected & _OPERATORS:
        return "put an operator such as '+' or '*' between the two values, or ',' between arguments"
    if expected & _VALUE_START and token.type in ("RPAR", "RSQB", "RBRACE", "COMMA"):
        return f"a value is missing before '{token}': add it, or remove the ',' or operator before it"
    if token.type in _OPERATORS and expected & _VALUE_START:
        return "a value (a number, name, feature or parenthesised expression) must come first"
    if token.type == "LSQB" and expected & _VALUE_START:
        return "[...] follows 'in' (x in [1, 2]) or a tensor type (tensor(x[2]):[1, 2])"
    if token.type == "COMMA" and "$END" in expected:
        return "',' separates arguments inside parentheses: a '(' is missing, or a ')' comes too early"
    if expected & {"CASE", "DEFAULT"}:
        return "write the switch body as {case value: result, ..., default: result}"
    if expected <= {"LBRACE", "RBRACE"}:
        return "write the cells of an untyped tensor literal as {{x:a}:1, {x:b}:2}"
    return "check the expression against Vespa's ranking-expression syntax"


def _describe(token: Any) -> str:
    if token.type == "IDENT":
        return f"name '{token}'"
    if token.type == "NUMBER":
        return f"number {token}"
    if token.type == "STRING":
        return f"string {token}"
    return f"'{token}'"


def _expected_words(expected: set[str], stack: list[_Open]) -> str:
    """What could have come here, in words; LALR's expected sets are broad, so only the likely few."""
    closer = _CLOSER[stack[-1].char] if stack else None
    words: list[str] = []
    if expected & _OPERATORS and not expected & {"NUMBER", "STRING"}:
        words.append("an operator")
        if closer and f"'{closer}'" in (_PUNCTUATION_WORDS.get(n) for n in expected):
            words.append(f"'{closer}'")
        if closer and "COMMA" in expected and stack[-1].char != "{":
            words.append("','")
    elif expected & {"NUMBER", "STRING"}:
        words.append("a value")
    else:
        if "IDENT" in expected:
            words.append("a name")
        words.extend(w for name, w in _PUNCTUATION_WORDS.items() if name in expected)
    if "$END" in expected and not stack:
        words.append("end of expression")
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else ""


def _bad_character(e: UnexpectedCharacters, text: str, builder: NodeBuilder) -> ExpressionSyntaxError:
    ch = e.char
    span = _at(builder, e.line, e.column)
    if ch in "\"'":
        return ExpressionSyntaxError(AK302, "this string is never closed", span, f"add the closing {ch}")
    if ch == "=":
        return ExpressionSyntaxError(AK302, "'=' is not an operator", span, "compare with '=='")
    if ch in "&|":
        return ExpressionSyntaxError(AK302, f"'{ch}' alone is not an operator", span, f"use '{ch * 2}'")
    if ch == "\ufeff":
        return ExpressionSyntaxError(AK302, "byte-order mark (U+FEFF) in the expression", span,
                                     "save the file as UTF-8 without a byte-order mark")
    if ch.isspace():
        return ExpressionSyntaxError(AK302, f"invalid whitespace character U+{ord(ch):04X}", span,
                                     "replace it with a plain space")
    shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
    return ExpressionSyntaxError(AK302, f"unexpected character '{shown}'", span,
                                 "ranking expressions are made of names, numbers, strings, brackets and the operators "
                                 "+ - * / % ^ == != < <= > >= ~= && || !")
