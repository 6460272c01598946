"""Every command meets broken input with a message and an exit code (1 problems, 2 usage/IO),
never a Python traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TF_MODEL = "sample_app/models/product_ranker/saved"

CASES = [
    (["validate", "/nonexistent/app"], 2, "no such file"),
    (["eval", "sum("], 1, "AK301"),
    (["eval", "a * 2", "a"], 1, "AK370"),
    (["eval", "--app", "/nonexistent/app", "1"], 2, "not a directory"),
    (["eval", "--profile", "p", "1"], 2, "--profile goes with --app"),
    (["eval", "--app", "tests/cases/valid/base", "--profile", "nosuch", "1"], 1, "AK560"),
    (["models", "/nonexistent/app"], 2, "does not exist"),
    (["verify", "/nonexistent/app"], 2, "not a directory"),
    (["convert-variable", "/nonexistent/model", "v", "tensor(x[1])"], 2, "not a directory"),
    (["convert-variable", TF_MODEL, "nosuch", "tensor(x[1])"], 1, "AK430"),
    (["convert-variable", TF_MODEL, "hidden/bias", "tensor(x[99])"], 1, "AK431"),
    (["ops", "--format", "yaml"], 2, "invalid choice"),
    (["deploy", "/nonexistent/app"], 2, "not a directory"),
    (["deploy", "tests/cases/invalid/attribute_unknown", "--dry-run"], 1, "AK383"),
    (["activate", "99", "--target", "/nonexistent/store"], 1, "does not exist"),
    (["rollback", "--target", "/nonexistent/store"], 1, "nothing to roll back"),
    (["rank", "/nonexistent/app", "--profile", "a/b", "--docs", "/dev/null"], 2, "not a package"),
    (["frobnicate"], 2, "unknown command"),
]


@pytest.mark.parametrize("args,code,message", CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_bad_input_gives_a_message_and_an_exit_code(args: list[str], code: int, message: str):
    r = subprocess.run([sys.executable, "-m", "appkit", *args], capture_output=True, text=True, cwd=REPO)
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    assert message in out
    assert "Traceback" not in out
