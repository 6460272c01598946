"""appkit's LALR loop builds exactly Lark's trees, positions included, and rejects what Lark rejects.

Every .sd/.profile of the shared corpus, the golden cases and sample_app are parsed both ways.
"""

from __future__ import annotations

from pathlib import Path

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from appkit.package import sdparse
from appkit.package.sd_lalr import Rejected, TableParser
from appkit.package.sd_lexer import LexicalError
from tests.conftest import REPO, shared_path

_PLACE = ("line", "column", "start_pos", "end_line", "end_column", "end_pos")


def _shape(node):
    """A tree as nested tuples with every node's position: equal shapes mean equal trees."""
    if isinstance(node, Tree):
        meta = node.meta
        place = None if meta.empty else tuple(getattr(meta, a) for a in _PLACE)
        return ("tree", node.data, place, tuple(_shape(c) for c in node.children))
    if isinstance(node, Token):
        return ("token", node.type, str(node), tuple(getattr(node, a) for a in _PLACE))
    return node


def _both(text: str, start: str):
    parser, tokenizer = sdparse._schema_parser()
    try:
        theirs = parser.parse(lambda state: tokenizer.tokens(text, sdparse._acceptor(state)), start=start)
    except (UnexpectedInput, LexicalError):
        theirs = "rejected"
    try:
        ours = TableParser(parser).parse(lambda acceptable: tokenizer.tokens(text, acceptable), start)
    except (Rejected, LexicalError):
        ours = "rejected"
    return theirs, ours


def _schema_files(*roots: Path) -> list[Path]:
    return [p for root in roots for p in sorted(root.rglob("*")) if p.suffix in (".sd", ".profile") and p.is_file()]


def _compare(paths: list[Path]) -> tuple[int, int]:
    compared = rejected = 0
    different: list[str] = []
    for path in paths:
        text = path.read_text(encoding="utf-8", errors="replace")
        start = "profile_file" if path.suffix == ".profile" else "schema_file"
        theirs, ours = _both(text, start)
        if theirs == "rejected" or ours == "rejected":
            rejected += theirs == ours
            if theirs != ours:
                different.append(f"{path}: Lark {'rejects' if theirs == 'rejected' else 'accepts'}, appkit does not")
            continue
        compared += 1
        if _shape(theirs) != _shape(ours):
            different.append(f"{path}: a different tree")
    assert not different, "\n".join(different[:10])
    return compared, rejected


def test_same_trees_as_lark_on_the_golden_cases_and_sample_app():
    compared, rejected = _compare(_schema_files(REPO / "tests" / "cases", REPO / "sample_app"))
    assert compared > 100 and rejected >= 1


def test_same_trees_as_lark_on_every_corpus_schema():
    compared, rejected = _compare(_schema_files(shared_path("corpus")))
    assert compared > 400 and rejected >= 10


def test_placeholders_inlined_rules_and_positions_on_a_small_schema():
    text = ("schema s {\n  document s {\n    field f type tensor<float>(x[2]) {\n      indexing: attribute\n"
            "    }\n  }\n  rank-profile p inherits default {\n    first-phase { expression: sum(attribute(f)) }\n"
            "  }\n}\n")
    theirs, ours = _both(text, "schema_file")
    assert isinstance(ours, Tree)
    assert _shape(theirs) == _shape(ours)
    assert (ours.meta.line, ours.meta.end_line) == (1, 10)


def test_a_syntax_error_is_still_reported_by_larks_parser_with_its_context():
    source = sdparse.SourceFile("schemas/s.sd", "schema s {\n  document s {\n    field f type string {\n"
                                "      indexing: summary\n    }\n  }\n  rank-profile p {\n    first-phase }\n}\n")
    schema, diagnostics = sdparse.parse_schema(source)
    assert schema is None
    assert [(d.code, d.span.line) for d in diagnostics] == [("AK200", 8)]
    assert "expected '{'" in diagnostics[0].message
