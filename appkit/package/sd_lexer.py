"""The .sd/.profile tokenizer: JavaCC-style longest-match lexing of Vespa schema files for the Lark parser.

It reproduces SchemaParser.jj's tokens, including those that swallow raw text (expressions, feature
lists, tensor types, onnx input/output lines) and the indexing script that Vespa hands to another parser.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable, Collection, Iterator

from lark import Token

from appkit.package.sd_indexing import single_line_extent


class LexicalError(Exception):
    """A character no schema token can start with; carries the 0-based offset."""

    def __init__(self, offset: int, message: str, hint: str | None = None):
        super().__init__(message)
        self.offset = offset
        self.message = message
        self.hint = hint


def _braces(content: str, levels: int = 3) -> str:
    """A regex for the body of a `{`…`}` group after its `{`, nesting `levels` deep (as the .jj does)."""
    inner = f"{content}*+\\}}"
    for _ in range(levels - 1):
        inner = f"(?:\\{{{inner}|{content}++)*+\\}}"
    return inner


_SL = "[^{}\\n]"  # single-line capture content
_ML = "[^{}]"  # multi-line capture content
_EXPRESSION_SL = re.compile(f"expression *:(?:\\{{{_braces(_SL)}|{_SL}++)*+")
_EXPRESSION_ML = re.compile(f"expression\\s*\\{{(?:\\{{{_braces(_ML)}|{_ML}++)*+\\}}")
_FEATURES_SL = re.compile(r"(match|summary|rank)-features *:[^}\n]*")
_FEATURES_ML = re.compile(r"(match|summary|rank)-features\s*\{[^}]*\}")
_FEATURES_INHERITS = re.compile(r"(match|summary)-features +inherits +[A-Za-z_][\w-]*(?:, *[A-Za-z_][\w-]*)*\s*\{[^}]*\}")
_SELECT_ELEMENTS_BY = re.compile(r"select-elements-by *:[^}\n]*")
_TENSOR_TYPE = re.compile(r"tensor(?:<[^<>]+>)?\([^()]*\)")
_TENSOR_VALUE_SL = re.compile(f"value *: *\\{{{_braces(_SL)}")
_TENSOR_VALUE_ML = re.compile(f"value\\s*\\{{\\s*\\{{{_braces(_ML)}\\s*\\}}")
_ONNX_IO = re.compile(r'(input|output) *(?:[A-Za-z_]\w*|"[^"]*") *:[^\n]*')
_INDEXING_HEAD = re.compile(r"indexing[ \t\r\f]*(:|\n*[ \t\r\f\n]*\{)")

_IDENTIFIER = re.compile(r"[A-Za-z_]\w*", re.ASCII)
_IDDASH = re.compile(r"[A-Za-z_][\w-]*", re.ASCII)
_STRING = re.compile(r"[\w.]+", re.ASCII)
_FILE_PATH = re.compile(r"[A-Za-z_][\w\-/.]+", re.ASCII)
_URI_PATH = re.compile(r"[hH][tT][tT][pP][sS]?:(?://)?[\w\-/.:]+", re.ASCII)
_DOUBLE = re.compile(r"-?\d+\.\d+", re.ASCII)
_LONG = re.compile(r"-?\d+L", re.ASCII)
_INTEGER = re.compile(r"-?\d+", re.ASCII)
_VARIABLE = re.compile(r"\$[A-Za-z_]\w*", re.ASCII)
_QSTRING = re.compile(r"\"[^\"]*\"|'[^']*'")
_SPACE = re.compile(r"(?:[ \t\r\f]+|#[^\n\r]*)+")
_NAME_EXTENDERS = frozenset("-./:")  # characters that let IDDASH, DOTTED, FILE_PATH or URI_PATH match longer

_PUNCTUATION = ("+=", "-=", "[]", "{", "}", ":", ".", ",", "<", ">", "(", ")", "[", "]", "=", "$", "?")
_ITEM_START = frozenset({"_NL", "LBRACE", "RBRACE", None})

# Word-like tokens in JavaCC declaration order, which breaks ties between equally long matches.
_WORD_KINDS = (("IDENTIFIER", _IDENTIFIER), ("IDDASH", _IDDASH), ("DEC_NUM", _DOUBLE), ("INT_NUM", _INTEGER),
               ("LONG_NUM", _LONG), ("DOTTED", _STRING), ("FILE_PATH", _FILE_PATH), ("URI_PATH", _URI_PATH))


@dataclass
class _Capture:
    """A raw-text token found at a position: its terminal type and end offset."""

    kind: str
    end: int


class SchemaTokenizer:
    """Turns schema text into Lark tokens; `keywords` maps keyword and punctuation text to terminal names."""

    def __init__(self, keywords: dict[str, str]):
        self.keywords = keywords
        punctuation = {p: keywords[p] for p in _PUNCTUATION if p in keywords}
        self.two_char = {p: kind for p, kind in punctuation.items() if len(p) == 2}
        self.one_char = {p: kind for p, kind in punctuation.items() if len(p) == 1}
        # marks that start no longer token (no word, number, string or two-character mark)
        self.lone_punctuation = {p: kind for p, kind in self.one_char.items()
                                 if p not in "-.$[+" and not any(q.startswith(p) for q in self.two_char)}
        self.word_keywords = frozenset(name for value, name in keywords.items() if value[:1].isalpha())

    def tokens(self, text: str, acceptable: Callable[[], Collection[str]] | None = None) -> Iterator[Token]:
        """The token stream, with newline runs collapsed and NLs next to `{` dropped.

        `acceptable()` gives the terminals the parser can take now; a keyword it cannot take becomes a
        name where a name fits (Vespa's keywords are names too: `field document type string`).
        """
        # One loop for scanning and newline folding: a schema is mostly short tokens, and a second
        # generator layer or a Token for every newline would cost as much as the scanning itself.
        new = Token._future_new
        space = _SPACE.match
        word_keywords = self.word_keywords
        lone = self.lone_punctuation
        pos, line, line_start, n = 0, 1, 0, len(text)
        scanned: str | None = None  # the kind of the last token scanned, newlines included
        given: str | None = None  # the type of the last token given to the parser
        newline: tuple[int, int, int] | None = None  # the first newline of a run not yet given
        while pos < n:
            m = space(text, pos)
            if m:
                pos = m.end()
                if pos >= n:
                    break
            if text[pos] == "\n":
                if newline is None and given is not None and given != "LBRACE":
                    newline = (pos, line, pos - line_start + 1)
                pos += 1
                line += 1
                line_start = pos
                scanned = "_NL"
                continue
            kind = lone.get(text[pos])
            if kind is not None:
                end = pos + 1
            else:
                kind, end = self._match(text, pos, scanned)
            if newline is not None:
                if kind != "LBRACE":
                    at, at_line, at_column = newline
                    yield new("_NL", "\n", at, at_line, at_column, at_line, at_column + 1, at + 1)
                    given = "_NL"
                newline = None
            value = text[pos:end]
            newlines = value.count("\n")
            if newlines:
                last_nl = pos + value.rfind("\n")
                tok = new(kind, value, pos, line, pos - line_start + 1, line + newlines, end - last_nl, end)
                line += newlines
                line_start = last_nl + 1
            else:
                tok = new(kind, value, pos, line, pos - line_start + 1, line, end - line_start + 1, end)
            if acceptable is not None and kind in word_keywords:
                tok = self._keyword_or_name(tok, acceptable())
            yield tok
            given = tok.type
            scanned = kind
            pos = end

    @staticmethod
    def _keyword_or_name(tok: Token, accepts: Collection[str]) -> Token:
        if tok.type in accepts:
            return tok
        kind = "IDDASH" if "-" in tok or "IDENTIFIER" not in accepts else "IDENTIFIER"
        return Token.new_borrow_pos(kind, str(tok), tok) if kind in accepts else tok

    def _match(self, text: str, pos: int, prev: str | None) -> tuple[str, int]:
        ch = text[pos]
        if ch.isascii() and (ch.isalnum() or ch in "_.-"):
            capture = self._capture(text, pos, prev) if ch.isalpha() else None
            kind, end = self._word(text, pos)
            if capture is not None and capture.end >= end:
                return capture.kind, capture.end
            if kind != "":
                return kind, end
        if ch in "\"'":
            m = _QSTRING.match(text, pos)
            if m:
                return "QSTRING", m.end()
        if ch == "$":
            m = _VARIABLE.match(text, pos)
            if m:
                return "VARIABLE", m.end()
        kind = self.two_char.get(text[pos:pos + 2])
        if kind is not None:
            return kind, pos + 2
        kind = self.one_char.get(ch)
        if kind is not None:
            return kind, pos + 1
        raise unexpected_character(text, pos)

    def _word(self, text: str, pos: int) -> tuple[str, int]:
        # Fast path: a name not followed by a character some longer token could take is an IDENTIFIER
        # (or a keyword): every other word token would match the same text or less, and IDENTIFIER is
        # declared first. Most tokens of a schema are such names.
        m = _IDENTIFIER.match(text, pos)
        if m is not None:
            end = m.end()
            if end == len(text) or text[end] not in _NAME_EXTENDERS:
                return self.keywords.get(m.group(), "IDENTIFIER"), end
        best_kind, best_end = "", pos
        for kind, pattern in _WORD_KINDS:
            m = pattern.match(text, pos)
            if m and m.end() > best_end:
                best_kind, best_end = kind, m.end()
        if best_kind == "DOTTED" and best_end == pos + 1 and text[pos] == ".":
            return "", pos  # a lone '.' is DOT, declared before STRING
        if best_kind in ("IDENTIFIER", "IDDASH"):
            keyword = self.keywords.get(text[pos:best_end])
            if keyword is not None:
                return keyword, best_end
        return best_kind, best_end

    def _capture(self, text: str, pos: int, prev: str | None) -> _Capture | None:
        """The raw-text tokens (declared before IDENTIFIER in the .jj, so they win ties)."""
        ch = text[pos]
        if ch == "e" and text.startswith("expression", pos):
            m = _EXPRESSION_SL.match(text, pos) or _EXPRESSION_ML.match(text, pos)
            return _Capture("EXPRESSION", m.end()) if m else None
        if ch in "msr" and text.startswith("-features", text.find("-", pos, pos + 8)):
            m = _FEATURES_INHERITS.match(text, pos) or _FEATURES_SL.match(text, pos) or _FEATURES_ML.match(text, pos)
            return _Capture("FEATURES", m.end()) if m else None
        if ch == "t" and text.startswith("tensor", pos):
            m = _TENSOR_TYPE.match(text, pos)
            return _Capture("TENSOR_TYPE", m.end()) if m else None
        if ch == "s" and text.startswith("select-elements-by", pos):
            m = _SELECT_ELEMENTS_BY.match(text, pos)
            return _Capture("SELECT_ELEMENTS_BY", m.end()) if m else None
        if ch == "v" and text.startswith("value", pos):
            m = _TENSOR_VALUE_SL.match(text, pos) or _TENSOR_VALUE_ML.match(text, pos)
            return _Capture("TENSOR_VALUE", m.end()) if m else None
        if prev in _ITEM_START and ch in "io":
            if text.startswith("indexing", pos):
                m = _INDEXING_HEAD.match(text, pos)
                if m:
                    single_line = m.group(1) == ":"
                    end = indexing_script_end(text, m.end() - 1, single_line)
                    if single_line:
                        end = m.end() + single_line_extent(text[m.end():end])
                    return _Capture("INDEXING_SCRIPT", end)
            m = _ONNX_IO.match(text, pos)
            if m:
                return _Capture("ONNX_INPUT" if ch == "i" else "ONNX_OUTPUT", m.end())
        return None


def indexing_script_end(text: str, start: int, single_line: bool) -> int:
    """Where an indexing script ends, as IndexingParser would stop consuming characters.

    `start` is the ':' (single-line) or the '{' (multi-line). A single-line statement runs to the end of
    the line, continuing past a newline when the line ends with '|' or a bracket is open, and stops
    before an unbalanced '}' (so `{ indexing: summary }` works). A multi-line script ends at its '}'.
    """
    depth = 0
    pos = start + 1
    n = len(text)
    last_significant = ""
    if not single_line:
        depth = 1
    while pos < n:
        ch = text[pos]
        if ch == '"' or ch == "'":
            pos = _skip_string(text, pos)
            last_significant = ch
            continue
        if ch == "#":
            nl = text.find("\n", pos)
            pos = n if nl < 0 else nl
            continue
        if ch in "{(":
            depth += 1
        elif ch in "})":
            if depth == 0:
                return pos
            depth -= 1
            if depth == 0 and not single_line:
                return pos + 1
        elif ch == "\n" and single_line and depth == 0 and last_significant != "|":
            return pos
        if not ch.isspace():
            last_significant = ch
        pos += 1
    return n


def _skip_string(text: str, pos: int) -> int:
    quote = text[pos]
    pos += 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\":
            pos += 2
            continue
        if ch == quote or ch == "\n":
            return pos + 1
        pos += 1
    return pos


def unexpected_character(text: str, pos: int) -> LexicalError:
    ch = text[pos]
    name = unicodedata.name(ch, "")
    shown = f"U+{ord(ch):04X}" + (f" {name}" if name else "")
    if ch == "/" and text.startswith("//", pos):
        return LexicalError(pos, "'//' does not start a comment in a schema file",
                            "use '#' for comments: '# ...'")
    if ch == "/" and text.startswith("/*", pos):
        return LexicalError(pos, "'/*' does not start a comment in a schema file",
                            "use '#' at the start of each comment line")
    if ch == "\ufeff":
        return LexicalError(pos, "the file starts with a byte-order mark (U+FEFF)",
                            "save the file as UTF-8 without a byte-order mark")
    if ch.isspace() or unicodedata.category(ch) == "Zs":
        return LexicalError(pos, f"unexpected whitespace character {shown}",
                            "replace it with a plain space (often pasted from a web page or word processor)")
    if ch.isprintable() and ch.isascii():
        return LexicalError(pos, f"unexpected character '{ch}'")
    return LexicalError(pos, f"unexpected character {shown}")
