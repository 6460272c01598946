"""The user's parse cache changes nothing a user can see: a warm run reports exactly what a run
without the cache reports; a cache others could write is never loaded; stale code misses."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

from appkit.package import user_cache

REPO = Path(__file__).resolve().parent.parent.parent
CASES = REPO / "tests" / "cases" / "invalid"


def _validate(case: Path, env: dict) -> str:
    r = subprocess.run([sys.executable, "-m", "appkit", "validate", "--format", "json", str(case)],
                       capture_output=True, text=True, cwd=REPO, env=env)
    return r.stdout


def test_warm_runs_report_what_uncached_runs_report(tmp_path: Path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    for name in ("expression_syntax_error", "attribute_unknown", "schema_missing_brace", "match_features_unknown_attribute"):
        uncached = _validate(CASES / name, dict(env, APPKIT_NO_PARSE_CACHE="1"))
        cold = _validate(CASES / name, env)
        warm = _validate(CASES / name, env)
        assert uncached == cold == warm, name
    assert list((tmp_path / "cache" / "appkit").glob("schema-*.pickle"))


def test_a_cache_others_can_write_is_not_loaded(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    calls = []
    assert user_cache.cached("t", "key", lambda: calls.append(1) or "fresh") == "fresh"
    (entry,) = (tmp_path / "appkit").glob("t-*.pickle")
    entry.write_bytes(pickle.dumps("planted"))
    os.chmod(tmp_path / "appkit", 0o777)
    assert user_cache.cached("t", "key", lambda: calls.append(1) or "fresh") == "fresh"
    assert len(calls) == 2
    os.chmod(tmp_path / "appkit", 0o700)
    entry.write_bytes(pickle.dumps("planted"))
    assert user_cache.cached("t", "key", lambda: "fresh") == "planted"  # trusted again: read back


def test_corrupt_entries_are_recomputed(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    user_cache.cached("t", "k2", lambda: 1)
    (entry,) = (tmp_path / "appkit").glob("t-*.pickle")
    entry.write_bytes(b"\x80\x05not a pickle")
    assert user_cache.cached("t", "k2", lambda: 2) == 2
