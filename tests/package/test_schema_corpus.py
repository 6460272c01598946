"""Every .sd/.profile file of the shared Vespa corpus, against the outcome Vespa's own tests expect.

INDEX.tsv gives parse_ok / semantic_error / parse_error / parser_action_error / parse_error_unreferenced
(or nothing, for files no Vespa test names); appkit must accept and reject exactly as Vespa does.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from appkit.diagnostics import Severity
from appkit.package.sdparse import parse_profile, parse_schema
from appkit.source import SourceFile
from tests.conftest import shared_path

ACCEPT = {"parse_ok", "semantic_error", ""}
REJECT = {"parse_error", "parser_action_error", "parse_error_unreferenced"}

# Files no Vespa test parses (expected column empty) that Vespa's current grammar rejects too, each
# checked against SchemaParser.jj: appkit must reject them as well, so they are listed, with why.
NOT_VESPA_SYNTAX = {
    "vespa/document/src/test/java/com/yahoo/document/datatypes/documentmanager.blog.sd":
        "a document-manager config dump (`doctype[2]`), not a schema",
    "vespa/storage/src/tests/text/text_html.sd": "`schema text/html`: '/' cannot be in a name",
    "vespa/storage/src/tests/text/text_plain.sd": "`schema text/plain`: '/' cannot be in a name",
    "vespa/model-evaluation/src/test/resources/config/smallconstant/smallconstant.sd":
        "constant `my_tensor` lacks its '{' (constant() needs ':' or '{'; the file has one '}' more than '{')",
    "vespa/config-model/src/test/examples/stemmingresolver.sd":
        "`stemming: all` is refused by Stemming.get() in the parser action",
    "vespa/config-model/src/test/cfg/application/validation/testjars/ok/searchdefinitions/book.sd":
        "`attribute : no-update` (removed setting) and `collapse` in indexing",
    "vespa/config-model/src/test/cfg/application/validation/testjars/ok/searchdefinitions/video.sd":
        "`attribute : no-update` (removed setting) and `collapse` in indexing",
    "vespa/config-model/src/test/cfg/application/validation/testjars/nomanifest/searchdefinitions/book.sd":
        "`attribute : no-update` (removed setting) and `collapse` in indexing",
    "vespa/config-model/src/test/cfg/application/validation/testjars/nomanifest/searchdefinitions/video.sd":
        "`attribute : no-update` (removed setting) and `collapse` in indexing",
}

# Vespa's tests give the offending line (and column) for some of the rejected files.
EXPECTED_PLACE = {
    "invalid_sd_construct.sd": (5, 36),
    # Vespa reports column 27 (JavaCC counts one past the bad character); the U+00A0 itself is at 26
    "invalid_sd_lexical_error.sd": (7, 26),
    "indexing_invalid_expression.sd": (5, 57),
    # Vespa: "Lexical error at line 3, column 6", again one past the first '/', which is at column 5
    "invalid_comment.profile": (3, 5),
    "invalid_sd_junk_at_end.sd": (10, 1),
    "invalid_sd_no_closing_bracket.sd": (8, 1),
    "invalid-name.sd": (3, 8),
    "badparse.sd": (4, 5),
    "documents.sd": (15, 1),
    "importing.sd": (9, 3),  # use-document: (removed in 2022)
}

# Checks Vespa makes after parsing that appkit makes while parsing (semantic_error rows).
SEMANTIC_CODES = {"notmusic.sd": {"AK202"}}


def _rows() -> list[tuple[str, str]]:
    index = shared_path("corpus", "INDEX.tsv")
    with open(index, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    return [(r[0], r[3]) for r in rows if r[0].endswith((".sd", ".profile"))]


def _parse(root: Path, rel: str):
    source = SourceFile.read(root / rel, rel)
    parse = parse_profile if rel.endswith(".profile") else parse_schema
    model, diagnostics = parse(source)
    return model, [d for d in diagnostics if d.level is Severity.ERROR]


def test_corpus_schemas_parse_as_vespa_expects():
    root = shared_path("corpus")
    counts = {"accepted": 0, "rejected": 0, "known not Vespa syntax": 0}
    wrong: list[str] = []
    for rel, expected in _rows():
        model, errors = _parse(root, rel)
        name = Path(rel).name
        if rel in NOT_VESPA_SYNTAX:
            counts["known not Vespa syntax"] += 1
            if not errors:
                wrong.append(f"{rel}: accepted, but Vespa rejects it ({NOT_VESPA_SYNTAX[rel]})")
        elif expected in ACCEPT:
            allowed = SEMANTIC_CODES.get(name, set()) if expected == "semantic_error" else set()
            unexpected = [e for e in errors if e.code not in allowed]
            if model is None or unexpected:
                wrong.append(f"{rel} ({expected or 'no expectation'}): {[str(e) for e in unexpected][:2]}")
            else:
                counts["accepted"] += 1
        elif expected in REJECT:
            if not errors:
                wrong.append(f"{rel} ({expected}): accepted")
                continue
            counts["rejected"] += 1
            place = EXPECTED_PLACE.get(name)
            if place and (errors[0].span.line, errors[0].span.column) != place:
                wrong.append(f"{rel}: reported at {errors[0].span.line}:{errors[0].span.column}, expected {place}: "
                             f"{errors[0]}")
        else:
            wrong.append(f"{rel}: unknown expectation {expected!r}")
    print(f"\n.sd/.profile corpus: {counts}")
    assert not wrong, "\n".join(wrong)
    assert counts == {"accepted": 418, "rejected": 10, "known not Vespa syntax": 9}


@pytest.mark.parametrize("name,code", [("notmusic.sd", "AK202")])
def test_semantic_rows_report_vespa_reason(name, code):
    root = shared_path("corpus")
    rel = next(r for r, _ in _rows() if r.endswith("/" + name))
    model, errors = _parse(root, rel)
    assert model is not None
    assert [e.code for e in errors] == [code]


def _profiles(profiles):
    for p in profiles:
        yield p
        yield from _profiles(p.profiles)


def test_models_hold_every_declaration():
    # Count declarations with plain regexes over each accepted file and compare with the model,
    # so that nothing the grammar accepts is silently left out of the typed model.
    root = shared_path("corpus")
    checked = 0
    for rel, expected in _rows():
        if rel in NOT_VESPA_SYNTAX or expected not in ACCEPT or not rel.endswith(".sd"):
            continue
        source = SourceFile.read(root / rel, rel)
        schema, _ = parse_schema(source)
        if schema is None:
            continue
        text = re.sub(r"#[^\n]*", "", source.text)
        profiles = list(_profiles(schema.rank_profiles))
        structs = schema.structs + schema.annotations + (
            schema.document.structs + schema.document.annotations if schema.document else ())
        found = {
            "functions": sum(len(p.functions) for p in profiles),
            "profiles": len(profiles),
            "first-phase": sum(1 for p in profiles if p.first_phase),
            "fields": len(schema.all_fields) + sum(len(s.fields) for s in structs),
        }
        counted = {
            "functions": len(re.findall(r"(?m)^\s*(?:function|macro)\s+(?:inline\s+)?\w+\s*\$?\s*\(", text)),
            "profiles": len(re.findall(r"(?m)^\s*(?:rank-profile|model)\s+[\w-]+", text)),
            "first-phase": len(re.findall(r"(?<![\w-])first-phase\s*\{", text)),
            "fields": len(re.findall(r"(?<![\w-])field\s+\w+\s+type\b", text)),
        }
        assert found == counted, rel
        checked += 1
    assert checked > 400
