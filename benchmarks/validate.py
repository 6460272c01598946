"""`appkit validate` as a whole process, beside the floor `python -c "import lark, lxml.etree"`.

Prints: the sample package cold (no model cache) and warm, and a generated package of 200 schemas
with 20 rank profiles each, the first run (appkit used before, but nothing of this package cached:
every file parsed, and its parse cached) and again (as a pre-commit hook runs it); times and peak memory as ratios to the floor. Both large-package runs
are held to the issue's 10x. A large package is parsed and validated over two processes (see
appkit/workers.py), so the first run is also shown in one process and in CPU time; its parse cache
is written by a detached process, whose time is in neither figure.
Run: python benchmarks/validate.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import REPO, bench_env, measure, measure_cpu, row, run_once  # noqa: E402

PY = sys.executable
FLOOR = [PY, "-c", "import lark, lxml.etree"]


def generated_package(root: Path, schemas: int = 200, profiles: int = 20) -> Path:
    (root / "schemas").mkdir(parents=True)
    docs = "\n".join(f'            <document type="doc{i}" mode="index"/>' for i in range(schemas))
    (root / "services.xml").write_text(f"""<services version="1.0">
    <container id="default" version="1.0"><search/></container>
    <content id="main" version="1.0">
        <redundancy>1</redundancy>
        <documents>
{docs}
        </documents>
        <nodes><node hostalias="node1" distribution-key="0"/></nodes>
    </content>
</services>
""")
    for i in range(schemas):
        ps = "\n".join(f"""    rank-profile p{j} inherits base {{
        function f{j}() {{
            expression: sum(query(q) * attribute(embedding)) * {j + 1} + attribute(popularity)
        }}
        first-phase {{
            expression: f{j} + bm25(title)
        }}
    }}""" for j in range(profiles - 1))
        (root / "schemas" / f"doc{i}.sd").write_text(f"""schema doc{i} {{
    document doc{i} {{
        field title type string {{
            indexing: index | summary
            index: enable-bm25
        }}
        field popularity type double {{
            indexing: attribute
        }}
        field embedding type tensor<float>(x[16]) {{
            indexing: attribute
        }}
    }}
    rank-profile base {{
        inputs {{
            query(q) tensor<float>(x[16])
        }}
        first-phase {{
            expression: attribute(popularity)
        }}
    }}
{ps}
}}
""")
    return root


def main() -> None:
    subprocess.run([PY, "-m", "compileall", "-q", str(REPO / "appkit")], env=bench_env(), check=False)
    floor_t, floor_m = measure(FLOOR)
    print(f"floor (python -c 'import lark, lxml.etree'): {floor_t:.3f} s, {floor_m:.1f} MB peak\n")
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample_app"
        shutil.copytree(REPO / "sample_app", sample, ignore=shutil.ignore_patterns(".appkit"))
        validate = [PY, "-m", "appkit", "validate", str(sample)]
        colds = []
        for _ in range(3):
            shutil.rmtree(sample / ".appkit", ignore_errors=True)
            colds.append(run_once(validate))
        cold_t = min(c[0] for c in colds)
        warm_t, warm_m = measure(validate)
        big = generated_package(Path(tmp) / "big")
        big_cmd = [PY, "-m", "appkit", "validate", str(big)]
        # A first run as a user has it: appkit used before (its grammar tables cached, from validating
        # another package) but nothing of this package parsed; its parse results are written as it goes.
        # (Restored to the same path each time: Lark keys its expression-grammar cache by its path.)
        cache, used = Path(tmp) / "user-cache", Path(tmp) / "used-cache"
        run_once(validate, env={"XDG_CACHE_HOME": str(cache)})
        shutil.copytree(cache, used)

        def first_run(extra: dict[str, str]) -> tuple[float, float, int, float]:
            shutil.rmtree(cache)
            shutil.copytree(used, cache)
            return run_once(big_cmd, env={"XDG_CACHE_HOME": str(cache), **extra})

        firsts = [first_run({}) for _ in range(3)]
        first_t, first_cpu = min(f[0] for f in firsts), min(f[3] for f in firsts)
        alone_t = min(first_run({"APPKIT_JOBS": "1"})[0] for _ in range(2))
        big_t, big_m = measure(big_cmd, runs=3)
        print(row("appkit validate sample_app, cold (imports the model)", cold_t, floor_t, 10))
        print(row("appkit validate sample_app, warm (model cache)", warm_t, floor_t, 2))
        print(row("  the same in CPU time", measure_cpu(validate), measure_cpu(FLOOR), 2))
        print(row("  peak memory, warm", warm_m, floor_m, 1.5, "MB"))
        print(row("appkit validate: 200 schemas x 20 rank profiles, first run", first_t, floor_t, 10))
        print(row("  the same in one process (APPKIT_JOBS=1)", alone_t, floor_t, None))
        print(row("  the same in CPU time, both processes", first_cpu, measure_cpu(FLOOR), None))
        print(row("appkit validate: 200 schemas x 20 rank profiles, again", big_t, floor_t, 10))
        print(row("  peak memory", big_m, floor_m, 10, "MB"))


if __name__ == "__main__":
    main()
