"""A regular (non-editable) install works: the wheel carries grammars/ and schemas/, and
`appkit validate sample_app` runs from a fresh virtual environment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_validates_the_sample(tmp_path: Path):
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("appkit-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "appkit/_data/grammars/expression.lark" in names and "appkit/_data/schemas/services.rng" in names
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    installed = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(wheel)],
                               capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr
    app = tmp_path / "sample_app"
    shutil.copytree(REPO / "sample_app", app, ignore=shutil.ignore_patterns(".appkit"))
    clean_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run([str(bindir / "appkit"), "validate", str(app)], capture_output=True, text=True,
                       cwd=tmp_path, env=clean_env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no problems" in r.stdout
    broken = app / "schemas" / "product.sd"
    broken.write_text(broken.read_text().replace("rank-profile default {", "rank-profile default {{"))
    r = subprocess.run([str(bindir / "appkit"), "validate", str(app)], capture_output=True, text=True,
                       cwd=tmp_path, env=clean_env, timeout=300)
    assert r.returncode == 1 and "product.sd:" in r.stdout
