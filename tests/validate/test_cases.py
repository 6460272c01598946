"""Golden packages: every tests/cases/invalid/<name>/ gives exactly its expected diagnostics
(code, file, line, column); every tests/cases/valid/<name>/ and sample_app/ come out clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appkit.diagnostics import Severity
from appkit.package.loader import load_package
from appkit.validate import validate_package

CASES = Path(__file__).resolve().parent.parent / "cases"
REPO = CASES.parent.parent


def _diagnostics(root: Path):
    package, diagnostics = load_package(root)
    diagnostics = diagnostics + validate_package(package, use_cache=False)
    found = set()
    for d in diagnostics:
        if d.level is Severity.INFO:
            continue
        rel = Path(d.path).resolve().relative_to(root.resolve()).as_posix() if d.path else None
        found.add((d.code, rel, d.span.line if d.span else None, d.span.column if d.span else None))
    return found, diagnostics


def _case_dirs(kind: str) -> list[Path]:
    return sorted(p for p in (CASES / kind).iterdir() if p.is_dir())


def test_there_are_enough_distinct_invalid_cases():
    cases = _case_dirs("invalid")
    codes = set()
    for case in cases:
        expected = json.loads((case / "expected.json").read_text())["diagnostics"]
        codes.update(e["code"] for e in expected)
    assert len(cases) >= 40
    assert len(codes) >= 35, sorted(codes)


@pytest.mark.parametrize("case", _case_dirs("invalid"), ids=lambda p: p.name)
def test_invalid_case(case: Path):
    expected = {(e["code"], e["path"], e["line"], e["column"])
                for e in json.loads((case / "expected.json").read_text())["diagnostics"]}
    found, diagnostics = _diagnostics(case)
    assert found == expected, "\n".join(str(d) for d in diagnostics)


@pytest.mark.parametrize("case", _case_dirs("valid") + [REPO / "sample_app"], ids=lambda p: p.name)
def test_valid_case(case: Path):
    found, diagnostics = _diagnostics(case)
    assert not found, "\n".join(str(d) for d in diagnostics)


def test_many_problems_are_reported_in_one_run(tmp_path):
    """Several cases' mutations at once: each problem is still reported."""
    import shutil

    root = tmp_path / "many"
    shutil.copytree(CASES / "valid" / "base", root)
    item = root / "schemas" / "item.sd"
    text = item.read_text()
    text = text.replace("similarity + attribute(popularity)", "similarity + attribute(popular) + constant(nope)")
    text = text.replace("rank-profile weighted inherits base", "rank-profile weighted inherits basic")
    text = text.replace("import field shared_ref.weights as weights {}",
                        "import field shared_ref.weights as weights {}\n    import field title.x as y {}")
    item.write_text(text)
    (root / "services.xml").write_text((root / "services.xml").read_text().replace(' global="true"', ""))
    found, _ = _diagnostics(root)
    codes = {c for c, *_ in found}
    assert {"AK383", "AK348", "AK380", "AK153", "AK152"} <= codes
