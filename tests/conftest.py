"""Shared fixtures: where the repository and the shared corpus are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("APPKIT_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test saying why (the project may be cloned alone)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path}: the shared corpus is not beside this checkout (set APPKIT_SHARED)")
    return path


@pytest.fixture(autouse=True)
def _quiet_side_effects(tmp_path_factory, monkeypatch):
    # onnxruntime telemetry and Keras config writes go to a temporary home, never the user's.
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.getbasetemp() / "keras"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def repo() -> Path:
    return REPO
