"""A large package validated over two processes reports exactly what one process reports."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import appkit.package.loader as loader
import appkit.validate as validate
from appkit import workers
from appkit.package.loader import load_package
from appkit.validate import validate_package
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="validation is shared only where os.fork exists")

# Each schema has profiles that are fine and some with one problem each; every fifth one uses the
# sample app's TensorFlow model, once well and once with a model path that does not exist.
_SCHEMA = """schema doc{i} {{
    document doc{i} {{
        field title type string {{
            indexing: index | summary
        }}
        field popularity type double {{
            indexing: attribute
        }}
    }}
    rank-profile good {{
        first-phase {{
            expression: attribute(popularity) + bm25(title)
        }}
    }}
    rank-profile wrong_arity {{
        function twice(x) {{
            expression: 2 * x
        }}
        first-phase {{
            expression: twice(1, 2)
        }}
    }}
    rank-profile tensor_phase {{
        first-phase {{
            expression: attribute(nosuchfield)
        }}
    }}
{models}}}
"""
_MODELS = """    rank-profile model_missing {
        first-phase {
            expression: sum(tensorflow("no_such_model/saved"))
        }
    }
"""


def _package(root: Path, schemas: int) -> Path:
    shutil.copytree(REPO / "sample_app", root, ignore=shutil.ignore_patterns(".appkit"))
    services = (root / "services.xml").read_text()
    docs = "".join(f'<document type="doc{i}" mode="index"/>' for i in range(schemas))
    (root / "services.xml").write_text(re.sub(r"(<documents>)", r"\1" + docs, services, count=1))
    for i in range(schemas):
        (root / "schemas" / f"doc{i}.sd").write_text(_SCHEMA.format(i=i, models=_MODELS if i % 5 == 0 else ""))
    return root


def _validate(root: Path) -> list[tuple]:
    package, diagnostics = load_package(root)
    diagnostics += validate_package(package)
    return sorted((d.code, d.path, d.span.line if d.span else 0, d.span.column if d.span else 0, d.message)
                  for d in diagnostics)


def test_two_processes_report_what_one_reports(tmp_path, monkeypatch):
    root = _package(tmp_path / "app", 30)
    monkeypatch.setenv("APPKIT_NO_PARSE_CACHE", "1")
    monkeypatch.setenv("APPKIT_JOBS", "1")
    alone = _validate(root)
    monkeypatch.delenv("APPKIT_JOBS")
    forks: list[int] = []
    real_fork = os.fork
    monkeypatch.setattr(workers.os, "fork", lambda: forks.append(1) or real_fork())
    monkeypatch.setattr(loader, "_FORK_FROM_BYTES", 1)
    monkeypatch.setattr(validate, "_FORK_FROM_PROFILES", 1)
    shared = _validate(root)
    assert len(forks) == 2  # schemas parsed, then validated, over two processes
    assert shared == alone
    codes = {code for code, *_ in alone}
    assert len(codes) >= 3 and "AK480" in codes
    assert len([d for d in alone if "/schemas/doc" in d[1]]) >= 60
