"""Schema parsing speed: all corpus .sd files in one process, against the 200 files/s target.

Also prints the cost of getting the parser (cold: grammar analysis; warm: the on-disk cache), which is
what every `appkit validate` process pays before it parses anything.
Run: python benchmarks/parse.py [CORPUS_DIR]
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGET_FILES_PER_SECOND = 200.0


def _grammar_load_seconds(cold: bool) -> float:
    """CPU time to build the schema and indexing parsers in a fresh process (cold: with an empty cache)."""
    code = ("import time\n"
            "from appkit.package import sdparse, sd_indexing\n"
            "t0 = time.process_time()\n"
            "sdparse._schema_parser(); sd_indexing._indexing_parser()\n"
            "print(time.process_time() - t0)\n")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as empty:
        if cold:
            env["XDG_CACHE_HOME"] = env["TMPDIR"] = empty
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                             check=True)
    return float(out.stdout.strip())


def _process_cpu_seconds(code: str, runs: int = 5) -> float:
    """Best-of-`runs` user+system CPU of `python -c code` (CPU, not wall time: the machine may be busy)."""
    best = float("inf")
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best


def main() -> int:
    from appkit.package.sdparse import _schema_parser, parse_schema
    from appkit.source import SourceFile

    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "corpus"
    files = sorted(corpus.rglob("*.sd"))
    if not files:
        print(f"no .sd files under {corpus}")
        return 2
    sources = [SourceFile.read(p, str(p.relative_to(corpus))) for p in files]
    _schema_parser()  # grammar load measured separately below
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        accepted = sum(1 for s in sources if parse_schema(s)[0] is not None)
        best = min(best, time.perf_counter() - started)
    rate = len(sources) / best
    cold = _grammar_load_seconds(cold=True)
    warm = _grammar_load_seconds(cold=False)
    print(f"files parsed:        {len(sources)} ({accepted} accepted, {len(sources) - accepted} rejected)")
    print(f"appkit:              {rate:8.1f} files/s   ({best * 1000:.0f} ms for all, best of 3)")
    print(f"target:              {TARGET_FILES_PER_SECOND:8.1f} files/s   ratio {rate / TARGET_FILES_PER_SECOND:.2f}x")
    print(f"grammar load, cold:  {cold * 1000:8.1f} ms (Lark LALR analysis of schema + indexing grammars)")
    print(f"grammar load, warm:  {warm * 1000:8.1f} ms (from the on-disk cache, what each process pays)")
    floor = _process_cpu_seconds("import lark, lxml.etree")
    ours = _process_cpu_seconds(
        "import lxml.etree, pathlib\nfrom appkit.package.sdparse import parse_schema\nfrom appkit.source import SourceFile\n"
        "for p in sorted(pathlib.Path('sample_app/schemas').glob('*.sd')): parse_schema(SourceFile.read(p))\n")
    print(f"process, floor:      {floor * 1000:8.1f} ms CPU  python -c 'import lark, lxml.etree'")
    print(f"process, schemas:    {ours * 1000:8.1f} ms CPU  import appkit's schema parser and parse sample_app/schemas "
          f"({ours / floor:.2f}x the floor; `appkit validate` must stay under 2x)")
    return 0 if rate >= TARGET_FILES_PER_SECOND else 1


if __name__ == "__main__":
    sys.exit(main())
