"""Builds the Lark LALR parsers for schemas and indexing scripts once per process, cached on disk.

Grammar analysis costs far more than loading the pickled tables, so the tables are cached next to the
user's other caches (keyed by grammar text and Lark version) and `appkit validate` starts fast.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import lark
from lark import Lark
from lark.lexer import Lexer, LexerState

from appkit.resources import grammar_path


class TokenStreamLexer(Lexer):
    """A Lark lexer that replays tokens made beforehand (by appkit/package/sd_lexer.py)."""

    __future_interface__ = 2

    def __init__(self, lexer_conf: Any) -> None:
        self.lexer_conf = lexer_conf

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[lark.Token]:
        yield from lexer_state.text  # the "text" given to parse() is an iterator of tokens


def _cache_paths(filename: str, key: str) -> list[Path]:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    name = f"{Path(filename).stem}-{key}.lark.pickle"
    return [Path(base) / "appkit" / name, Path(tempfile.gettempdir()) / f"appkit-{uid}" / name]


def load_parser(filename: str, **options: Any) -> Lark:
    """A Lark LALR parser for grammars/<filename>, from the on-disk cache when it is current."""
    text = grammar_path(filename).read_text(encoding="utf-8")
    options.setdefault("parser", "lalr")
    key_src = text + repr(sorted((k, repr(v)) for k, v in options.items())) + lark.__version__ + sys.version
    paths = _cache_paths(filename, hashlib.sha256(key_src.encode()).hexdigest()[:20])
    for path in paths:
        if path.is_file():
            try:
                with open(path, "rb") as f:
                    return Lark.load(f)
            except Exception:  # a stale or corrupt cache is rebuilt below
                pass
    parser = Lark(text, **options)
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                parser.save(f)
            os.replace(tmp, path)  # atomic: concurrent processes never read a half-written cache
            break
        except OSError:
            continue
    return parser


__all__ = ["TokenStreamLexer", "load_parser"]
