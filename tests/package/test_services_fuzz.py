"""Mutated corpus XML: nothing but appkit's own diagnostics comes out (no exception, no hang)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appkit.diagnostics import RULES
from appkit.package.query_profiles import parse_query_profile_types
from appkit.package.services import check_xml_file, parse_services
from tests.conftest import shared_path

_SNIPPETS = [b"<", b">", b"</content>", b"<documents>", b'<document type="x" mode="index"/>', b"&amp;", b"&bogus;",
             b'deploy:environment="dev"', b"<![CDATA[x]]>", b"<!-- c -->", b"<?pi x?>", b"${x}", b'"', b"\x00",
             b"\xff\xfe", b'<preprocess:include file="x.xml"/>', b"<nodes count=\"1\"><node/></nodes>",
             b'xmlns="urn:other"', b'xmlns:deploy="vespa"', b"<a>" * 50]


def _corpus_files() -> list[Path]:
    with open(shared_path("corpus", "INDEX.tsv"), newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    wanted = [r[0] for r in rows if r[1] in ("xml:services.xml", "xml:hosts.xml", "xml:deployment.xml")]
    return [shared_path("corpus", p) for p in wanted[::6]]


@st.composite
def mutated(draw):
    files = _corpus_files()
    path = draw(st.sampled_from(files))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(_SNIPPETS))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
    return path.name, bytes(data)


def _assert_clean(diags) -> None:
    for d in diags:
        assert d.code in RULES, d
        assert d.span is None or d.span.line >= 1 and d.span.column >= 1, d


@settings(max_examples=120, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(case=mutated())
def test_mutated_xml_gives_only_diagnostics(tmp_path, case):
    name, data = case
    path = tmp_path / name
    path.write_bytes(data)
    if name == "services.xml":
        _, diags = parse_services(path, name)
    else:
        diags = check_xml_file(path, name, name)
    _assert_clean(diags)


@pytest.mark.parametrize("body", [
    b'<query-profile-type id="t"><field name="query(q)" type="tensor(x[3]"/></query-profile-type>',
    b'<query-profile-type id="t"><field name="query()" type="tensor&lt;&gt;()"/></query-profile-type>',
    b'<query-profile-type id="t"><field name="query(q)"/><field type="tensor(x[1])"/></query-profile-type>',
    b"<query-profile-type",
    b"\xff\xfe\x00<",
])
def test_hostile_query_profile_types(tmp_path, body):
    types = tmp_path / "search" / "query-profiles" / "types"
    types.mkdir(parents=True)
    (types / "t.xml").write_bytes(body)
    _, diags = parse_query_profile_types(types, tmp_path)
    _assert_clean(diags)
