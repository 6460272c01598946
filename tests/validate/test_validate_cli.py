"""`appkit validate` as users run it: formats, exit codes, single files, --strict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
CASES = REPO / "tests" / "cases"
BAD = CASES / "invalid" / "attribute_unknown"
WARN = CASES / "invalid" / "query_not_declared"


def validate(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appkit", "validate", *args], capture_output=True, text=True, cwd=cwd)


def test_text_shows_place_snippet_caret_and_hint():
    r = validate(str(BAD))
    assert r.returncode == 1
    first = r.stdout.splitlines()[0]
    assert first.startswith("tests/cases/invalid/attribute_unknown/schemas/item.sd:31:")
    assert "error[AK383]" in first
    assert "attribute(popular)" in r.stdout and "^" in r.stdout and "hint:" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_json_gives_diagnostics_per_file():
    r = validate(str(BAD), "--format", "json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    (entry,) = [f for f in out["files"] if f["diagnostics"]]
    (d,) = entry["diagnostics"]
    assert entry["path"].endswith("schemas/item.sd")
    assert (d["code"], d["severity"], d["line"]) == ("AK383", "error", 31) and d["column"] > 1


def test_sarif_and_github_formats():
    sarif = json.loads(validate(str(BAD), "--format", "sarif").stdout)
    result = sarif["runs"][0]["results"][0]
    assert sarif["version"] == "2.1.0" and result["ruleId"] == "AK383"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 31
    gh = validate(str(BAD), "--format", "github").stdout
    assert gh.startswith("::error file=") and ",line=31," in gh and "title=AK383" in gh


def test_warnings_fail_only_with_strict():
    assert validate(str(WARN)).returncode == 0
    assert validate(str(WARN), "--strict").returncode == 1


def test_single_files_as_pre_commit_passes_them():
    ok = validate(str(CASES / "valid" / "base" / "schemas" / "item.sd"), str(CASES / "valid" / "base" / "services.xml"))
    assert ok.returncode == 0, ok.stdout
    bad = validate(str(CASES / "invalid" / "schema_missing_brace" / "schemas" / "item.sd"))
    assert bad.returncode == 1 and "AK200" in bad.stdout
    other = validate(str(REPO / "README.md"))
    assert other.returncode == 1 and "AK010" in other.stdout


def test_usage_and_io_errors_exit_2(tmp_path: Path):
    assert validate(str(tmp_path / "missing")).returncode == 2
    assert validate(str(BAD), str(WARN)).returncode == 2  # two packages at once
    assert validate("--format", "yaml", str(BAD)).returncode == 2


def test_a_directory_that_is_no_package(tmp_path: Path):
    r = validate(str(tmp_path))
    assert r.returncode == 1 and "AK002" in r.stdout and "not an application package" in r.stdout
