"""The pre-commit hook from .pre-commit-hooks.yaml, installed by pre-commit itself and run in a
temporary git repository: once on a clean package (passes), once on a broken one (fails)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
CASES = REPO / "tests" / "cases"


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_hook_passes_clean_package_and_fails_broken_one(tmp_path: Path):
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed (it is in the 'test' extra)")
    if not (REPO / ".git").exists():
        pytest.skip("needs appkit as a git checkout: pre-commit installs hooks from a repository")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    app = tmp_path / "app"
    shutil.copytree(CASES / "valid" / "base", app)
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        assert _run(cmd, app, env).returncode == 0
    # try-repo installs the hook from appkit's repository (with uncommitted changes) as a user would
    clean = _run([pre_commit, "try-repo", str(REPO), "appkit-validate", "--all-files"], app, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "appkit validate" in clean.stdout and "Passed" in clean.stdout

    item = app / "schemas" / "item.sd"
    item.write_text(item.read_text().replace("attribute(popularity)", "attribute(popular)"))
    broken = _run([pre_commit, "try-repo", str(REPO), "appkit-validate", "--all-files"], app, env)
    assert broken.returncode == 1
    assert "Failed" in broken.stdout and "AK383" in broken.stdout and "item.sd:" in broken.stdout
