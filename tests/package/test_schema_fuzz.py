"""Bad input is normal input: mutated corpus schemas give appkit diagnostics, never an exception or a hang."""

from __future__ import annotations

import re
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appkit.diagnostics import Diagnostic
from appkit.package.sdparse import parse_profile, parse_schema
from appkit.source import SourceFile
from tests.conftest import shared_path

_TOKEN = re.compile(r"\s+|[A-Za-z0-9_.\-]+|.", re.S)
_SEEDS: list[str] = []


def _seeds() -> list[str]:
    if not _SEEDS:
        root = shared_path("corpus", "vespa", "config-model", "src", "test")
        files = sorted(root.rglob("*.sd"))[::9] + sorted(root.rglob("*.profile"))
        _SEEDS.extend(p.read_text(encoding="utf-8", errors="replace") for p in files)
    return _SEEDS


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(_seeds()))
    kind = draw(st.sampled_from(["bytes", "delete", "duplicate", "truncate", "nest", "splice"]))
    if kind == "bytes":
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 8))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return data.decode("utf-8", errors="replace")
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if kind == "nest":
        depth = draw(st.integers(1, 3000))
        at = draw(st.integers(0, len(text)))
        opener = draw(st.sampled_from(["{", "array<", "(", "{\n", "indexing { ", "expression { ", "tensor(", "[", "<"]))
        return text[:at] + opener * depth + text[at:]
    tokens = _TOKEN.findall(text)
    if not tokens:
        return text
    i = draw(st.integers(0, len(tokens) - 1))
    if kind == "delete":
        del tokens[i: i + draw(st.integers(1, 3))]
    elif kind == "duplicate":
        tokens.insert(i, tokens[i])
    else:
        j = draw(st.integers(0, len(tokens) - 1))
        tokens.insert(i, tokens[j])
    return "".join(tokens)


@settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=mutated(), as_profile=st.booleans())
def test_mutated_schemas_give_diagnostics_not_exceptions(text, as_profile):
    parse = parse_profile if as_profile else parse_schema
    started = time.perf_counter()
    model, diagnostics = parse(SourceFile("fuzz.profile" if as_profile else "fuzz.sd", text))
    assert time.perf_counter() - started < 2.0
    assert all(isinstance(d, Diagnostic) and d.span is not None for d in diagnostics)
    assert not [d for d in diagnostics if d.code == "AK003"], [str(d) for d in diagnostics]
    for d in diagnostics:
        assert 1 <= d.span.line <= text.count("\n") + 2, str(d)
    if model is None:
        assert diagnostics, "rejected without saying why"


def test_deep_nesting_is_a_diagnostic():
    text = "schema s {\n document s {\n  field f type " + "array<" * 5000 + "int" + ">" * 5000 + " {}\n }\n}\n"
    model, diagnostics = parse_schema(SourceFile("s.sd", text))
    assert model is not None or diagnostics
    assert not [d for d in diagnostics if d.code == "AK003"]


def test_seed_files_exist():
    assert len(_seeds()) > 20
    assert Path(shared_path("corpus")).is_dir()
