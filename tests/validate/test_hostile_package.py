"""Hostile and broken packages: links out of the package are never read, unreadable model files
are reported even when nothing uses them, and single files get their expressions checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BASE = REPO / "tests" / "cases" / "valid" / "base"


def validate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "appkit", "validate", *args], capture_output=True, text=True,
                          cwd=REPO)


def test_a_schema_linking_out_of_the_package_is_never_read(tmp_path: Path):
    secret = tmp_path / "secret.txt"
    secret.write_text("topsecretword and more\n")
    app = tmp_path / "app"
    shutil.copytree(BASE, app)
    (app / "schemas" / "evil.sd").symlink_to(secret)
    r = validate(str(app))
    assert r.returncode == 1
    assert "AK013" in r.stdout and "links outside the package" in r.stdout
    assert "topsecretword" not in r.stdout + r.stderr


def test_unreadable_models_are_reported_even_when_unused(tmp_path: Path):
    app = tmp_path / "app"
    shutil.copytree(BASE, app)
    (app / "models" / "tf" / "saved").mkdir(parents=True)
    (app / "models" / "tf" / "saved" / "saved_model.pb").write_bytes(b"\x08garbage\xff")
    (app / "models" / "broken.onnx").write_bytes(b"not an onnx file")
    r = validate(str(app))
    assert r.returncode == 1, r.stdout
    assert "AK400" in r.stdout and "models/tf/saved" in r.stdout
    assert "AK442" in r.stdout and "broken.onnx" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr


def test_binary_schema_is_a_located_error(tmp_path: Path):
    app = tmp_path / "app"
    shutil.copytree(BASE, app)
    (app / "schemas" / "bin.sd").write_bytes(b"schema bin {\x00\xff\xfe}")
    r = validate(str(app))
    assert r.returncode == 1 and "AK001" in r.stdout and "bin.sd:1:" in r.stdout


def test_single_schema_file_gets_its_expressions_checked(tmp_path: Path):
    sd = tmp_path / "z.sd"
    sd.write_text("schema z {\n  document z {}\n  rank-profile p {\n    first-phase { expression: sum(\n }\n }\n}\n")
    r = validate(str(sd))
    assert r.returncode == 1 and "AK301" in r.stdout and "z.sd:4:" in r.stdout
