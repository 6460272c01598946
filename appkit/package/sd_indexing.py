"""Parses indexing scripts (`indexing: input a | attribute`) into IndexingNode trees with file spans.

The schema tokenizer cuts the script text out of the .sd file; this module parses it with
grammars/indexing.lark and reports errors at their place in the file.
"""

from __future__ import annotations

import functools
import re

from typing import Callable

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from appkit.diagnostics import Diagnostic
from appkit.package.sd_codes import AK201, AK215
from appkit.package.schema import IndexingNode, IndexingScript
from appkit.package.sd_grammar import load_parser
from appkit.source import Span


_parser: Lark | None = None
_words: dict[str, str] | None = None

# What a token type means to a user, for "expected ..." messages.
_TOKEN_WORDS = {"IDENTIFIER": "a name", "FIELD_PATH": "a field path", "STRING": "a quoted string",
                "INTEGER": "an integer", "DECIMAL": "a number", "$END": "the end of the script",
                "COMPARE": "a comparison (==, !=, <, >, <=, >=)", "MATH_OP": "an arithmetic operator (+ - * / %)"}


def _indexing_parser() -> Lark:
    global _parser
    if _parser is None:
        _parser = load_parser("indexing.lark", start="start", lexer="basic")
    return _parser


@functools.lru_cache(maxsize=4096)
def _parse_body(body: str) -> Tree:
    """Parse one script body (memoised: the same few scripts recur across fields and files)."""
    return _indexing_parser().parse(body)


def single_line_extent(body: str) -> int:
    """How much of a single-line `indexing:` text Vespa's IndexingParser takes.

    It stops at the first token it cannot use when the statement could end there, and the schema
    parser goes on from that token: `indexing: attribute  attribute: fast-search` on one line is an
    indexing statement and an attribute setting. Elsewhere the whole text is the statement.
    """
    try:
        _parse_body(body)
    except UnexpectedToken as e:
        start = e.token.start_pos
        if e.token.type != "$END" and "$END" in e.expected and start and body[:start].strip():
            return start
    except LarkError:
        pass
    return len(body)


def parse_indexing(text: str, offset: int, multiline: bool,
                   span_at: Callable[[int], Span]) -> tuple[IndexingScript | None, list[Diagnostic]]:
    """Parse script `text` found at file offset `offset`; `span_at(file_offset)` makes spans."""
    body = text
    if multiline:
        # `{ a; b }`: the braces delimit the statement list
        body = " " + text[1:-1] + " " if text.endswith("}") else " " + text[1:]
    try:
        tree = _parse_body(body)
    except UnexpectedInput as e:
        return None, [_error(e, body, offset, span_at)]
    except LarkError as e:  # a grammar-level failure must still come out as a diagnostic
        return None, [Diagnostic(AK215, f"invalid indexing statement: {e}", span_at(offset))]
    statements = tuple(_node(child, offset, span_at) for child in tree.children if child is not None)
    return IndexingScript(text, span_at(offset), statements, multiline), []


def _error(e: UnexpectedInput, body: str, offset: int, span_at: Callable[[int], Span]) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        where = e.pos_in_stream
        if where >= len(body):
            return Diagnostic(AK215, "indexing statement ends too early", span_at(offset + len(body)))
        from appkit.package.sd_lexer import unexpected_character  # sd_lexer imports this module

        lexical = unexpected_character(body, where)
        return Diagnostic(AK201, f"{lexical.message} in indexing statement", span_at(offset + where),
                          lexical.hint)
    if isinstance(e, UnexpectedToken) and not isinstance(e, UnexpectedEOF):
        token = e.token
        if token.type == "$END":
            where = span_at(offset + max(len(body.rstrip()) - 1, 0))
            if body.rstrip().endswith("|"):
                return Diagnostic(AK215, "indexing statement ends with '|'", where,
                                  hint="add the expression the value goes to, e.g. '| summary', or remove the '|'")
            return Diagnostic(AK215, "indexing statement ends too early", where, hint=_expected_hint(e.expected))
        word = str(token)
        where = span_at(offset + (token.start_pos or 0))
        if token.type == "IDENTIFIER":
            return Diagnostic(AK215, f"'{word}' is not an indexing expression", where,
                              hint="use indexing expressions such as 'input NAME', 'attribute', 'index', 'summary', "
                                   "'lowercase', 'tokenize', 'to_array' joined by '|'")
        return Diagnostic(AK215, f"unexpected '{word}' in indexing statement", where, hint=_expected_hint(e.expected))
    return Diagnostic(AK215, "indexing statement ends too early", span_at(offset + len(body.rstrip())),
                      hint="complete the statement, e.g. 'input title | index'")


def _expected_hint(expected: set[str] | frozenset[str]) -> str:
    shown_as = _terminal_words()
    words = sorted({shown_as.get(t, _TOKEN_WORDS.get(t, t.lower())) for t in expected})
    if not words:
        return "indexing statements are expressions joined by '|', e.g. 'input title | summary | index'"
    shown = ", ".join(words[:8]) + (", ..." if len(words) > 8 else "")
    return f"expected one of: {shown}"


def _terminal_words() -> dict[str, str]:
    global _words
    if _words is None:
        _words = {}
        for t in _indexing_parser().terminals:
            if t.pattern.type == "str":
                _words[t.name] = f"'{t.pattern.value}'"
            elif t.name not in _TOKEN_WORDS:
                found = re.findall(r"[a-z][a-z_0-9\\-]*", t.pattern.value)
                _words[t.name] = " ".join(w.replace("\\", "") for w in found[:6]) if found else t.name.lower()
    return _words


def _node(item: Tree | Token, offset: int, span_at: Callable[[int], Span]) -> IndexingNode:
    if isinstance(item, Token):
        return IndexingNode("token", span_at(offset + (item.start_pos or 0)), str(item))
    start = _first_offset(item)
    span = span_at(offset + start)
    data = str(item.data)  # a Token("RULE", ...) in a freshly built parser, a str in a loaded one
    tokens = [c for c in item.children if isinstance(c, Token)]
    trees = [c for c in item.children if isinstance(c, Tree)]
    children = tuple(_node(t, offset, span_at) for t in trees)
    if data == "field_op":
        op = str(tokens[0])
        name = str(tokens[1]) if len(tokens) > 1 else None
        return IndexingNode(op, span, name)
    if data in ("word_op", "var_op", "tokenize"):
        op = str(tokens[0])
        arg = str(tokens[1]) if len(tokens) > 1 else None
        return IndexingNode(op, span, arg, children)
    if data == "model_op":
        arg = next((str(t) for t in tokens[1:2] if t.type == "IDENTIFIER"), None)
        return IndexingNode(str(tokens[0]), span, arg, children)
    if data in ("string", "boolean", "number"):
        return IndexingNode("literal", span, str(tokens[0]) if tokens else _text(item))
    if data == "math":
        ops = " ".join(str(t) for t in tokens)
        return IndexingNode("math", span, ops, children)
    if data in ("get_field", "documentid", "ngram", "substring", "split", "join", "random", "binarize",
                "get_value", "to_wset"):
        arg = " ".join(str(t) for t in tokens if t.type != "DOLLAR") or None
        return IndexingNode(data, span, arg, children)
    if data in ("if_then",):
        compare = next((str(t) for t in tokens if t.type == "COMPARE"), None)
        return IndexingNode("if", span, compare, children)
    if data in ("switch_case", "select_case"):
        return IndexingNode(data, span, str(tokens[0]) if tokens else None, children)
    return IndexingNode(data, span, None, children)


def _first_offset(tree: Tree) -> int:
    for child in tree.children:
        if isinstance(child, Token):
            return child.start_pos or 0
        if isinstance(child, Tree):
            return _first_offset(child)
    return 0


def _text(tree: Tree) -> str:
    return " ".join(str(t) for t in tree.scan_values(lambda v: isinstance(v, Token)))
