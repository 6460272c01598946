"""Builds the Lark LALR parsers for schemas and indexing scripts once per process, cached on disk.

Grammar analysis costs far more than loading the pickled tables, so the tables are cached next to the
user's other caches (keyed by grammar text and Lark version) and `appkit validate` starts fast.
"""

from __future__ import annotations

import hashlib
import copyreg
import io
import pickle
import importlib
import types
import sys
from pathlib import Path
from typing import Any, Iterator

import lark
from lark import Lark
from lark.lexer import Lexer, LexerState
from lark.parsers.lalr_analysis import Action

from appkit.package.user_cache import cache_paths, store_first, trusted
from appkit.resources import grammar_path


class TokenStreamLexer(Lexer):
    """A Lark lexer that replays tokens made beforehand (by appkit/package/sd_lexer.py)."""

    __future_interface__ = 2

    def __init__(self, lexer_conf: Any) -> None:
        self.lexer_conf = lexer_conf

    def lex(self, lexer_state: LexerState, parser_state: Any) -> Iterator[lark.Token]:
        # the "text" given to parse() is a function from the parser state to the token stream, so that
        # the tokenizer can ask which terminals the parser can take (keywords double as names)
        yield from lexer_state.text(parser_state)


def _cache_paths(filename: str, key: str) -> list[Path]:
    return cache_paths(f"{Path(filename).stem}-{key}.pickle")


def load_parser(filename: str, **options: Any) -> Lark:
    """A Lark LALR parser for grammars/<filename>, from the on-disk cache when it is current.

    The cache is a plain pickle of the built parser: loading it costs a third of Lark.load().
    """
    text = grammar_path(filename).read_text(encoding="utf-8")
    options.setdefault("parser", "lalr")
    key_src = text + repr(sorted((k, repr(v)) for k, v in options.items())) + lark.__version__ + sys.version
    paths = _cache_paths(filename, hashlib.sha256(key_src.encode()).hexdigest()[:20])
    for path in paths:
        if path.is_file() and trusted(path):
            try:
                with open(path, "rb") as f:
                    parser = pickle.load(f)
                if isinstance(parser, Lark):
                    return parser
            except Exception:  # a stale or corrupt cache is rebuilt below
                pass
    parser = Lark(text, **options)
    _save(parser, paths, Path(filename).stem)
    return parser


def _save(parser: Lark, paths: list[Path], stem: str) -> None:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    # The LALR driver tests `action is Shift`: pickle Lark's Shift/Reduce by reference, not by value;
    # modules (Lark keeps `re` in its lexer configuration) are pickled by name.
    pickler.dispatch_table = {**copyreg.dispatch_table, Action: lambda action: action.name,
                              types.ModuleType: lambda module: (importlib.import_module, (module.__name__,))}
    # the unanalysed grammar and the tree-builder factory are not used once the parser exists
    kept = {name: getattr(parser, name, None) for name in ("grammar", "_parse_tree_builder")}
    try:
        for name in kept:
            setattr(parser, name, None)
        pickler.dump(parser)
    finally:
        for name, value in kept.items():
            setattr(parser, name, value)
    written = store_first(paths, buffer.getvalue())
    if written is not None:  # tables of older grammars are of no further use
        for stale in written.parent.glob(f"{stem}-*.pickle"):
            if stale != written:
                stale.unlink(missing_ok=True)


__all__ = ["TokenStreamLexer", "load_parser"]
