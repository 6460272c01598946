"""The on-disk parser cache: a cold build and a cached load parse alike, and foreign caches are ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
PROBE = """
from appkit.package.sdparse import parse_schema
from appkit.source import SourceFile
text = 'schema s {\\n document s {\\n  field f type string {\\n   indexing: input f | summary\\n  }\\n }\\n' \\
       ' rank-profile p { first-phase { expression: attribute(f) } }\\n}\\n'
schema, diagnostics = parse_schema(SourceFile('s.sd', text))
bad, bad_diagnostics = parse_schema(SourceFile('s.sd', 'schema s {\\n document s {\\n'))
print(repr(schema), [str(d) for d in diagnostics], [str(d) for d in bad_diagnostics])
"""


def _run(cache: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), TMPDIR=str(cache))
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_cold_and_cached_parsers_agree(tmp_path):
    cold = _run(tmp_path)
    assert list((tmp_path / "appkit").glob("schema-*.pickle")), "the parser was not cached"
    warm = _run(tmp_path)
    assert cold == warm
    assert "rank_profiles=(RankProfile(name='p'" in cold


def test_cache_writable_by_others_is_not_loaded(tmp_path):
    _run(tmp_path)
    cache_dir = tmp_path / "appkit"
    cache_dir.chmod(0o777)
    for f in cache_dir.glob("schema-*.pickle"):
        f.write_bytes(b"Pnot a pickle")  # would fail to load; must not even be tried
    try:
        assert "rank_profiles=(RankProfile(name='p'" in _run(tmp_path)
    finally:
        cache_dir.chmod(0o700)
