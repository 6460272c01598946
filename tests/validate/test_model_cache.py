"""Model imports are cached by content hash: an unchanged package is not re-imported, a changed
model file is, and a corrupt cache entry is ignored and rebuilt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from appkit.package.loader import load_package
from appkit.validate import validate_package

CASE = Path(__file__).resolve().parent.parent / "cases" / "valid" / "with_onnx_model"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    dest = tmp_path / "pkg"
    shutil.copytree(CASE, dest, ignore=shutil.ignore_patterns(".appkit"))  # a cache left by a manual run
    return dest


@pytest.fixture
def imports(monkeypatch) -> list[str]:
    import appkit.importers.discovery as discovery

    calls: list[str] = []
    real = discovery.import_model

    def counting(source, root):
        calls.append(source.name)
        return real(source, root)

    monkeypatch.setattr(discovery, "import_model", counting)
    return calls


def _validate(root: Path) -> list:
    package, diagnostics = load_package(root)
    return [d for d in diagnostics + validate_package(package) if d.level.value == "error"]


def test_unchanged_package_is_not_reimported(package: Path, imports: list[str]):
    assert _validate(package) == []
    assert imports == ["scorer"]
    assert list((package / ".appkit" / "cache" / "models").glob("*.json"))
    assert _validate(package) == []
    assert imports == ["scorer"]


def test_changed_model_is_reimported(package: Path, imports: list[str]):
    import onnx

    _validate(package)
    model = onnx.load(package / "models" / "scorer.onnx")
    model.graph.initializer[0].float_data[:] = []
    model.graph.initializer[0].raw_data = bytes(len(model.graph.initializer[0].raw_data))
    onnx.save(model, package / "models" / "scorer.onnx")
    assert _validate(package) == []
    assert imports == ["scorer", "scorer"]


def test_corrupt_entry_is_ignored_and_rebuilt(package: Path, imports: list[str]):
    _validate(package)
    (entry,) = (package / ".appkit" / "cache" / "models").glob("*.json")
    entry.write_text('{"name": "scorer", "trunc')
    assert _validate(package) == []
    assert imports == ["scorer", "scorer"]
    assert entry.read_text().startswith("{") and '"outputs"' in entry.read_text()


def test_cached_problems_are_still_reported(tmp_path: Path, imports: list[str]):
    bad = tmp_path / "bad"
    shutil.copytree(CASE.parent.parent / "invalid" / "model_unsupported_op", bad)
    first = {d.code for d in _validate(bad)}
    second = {d.code for d in _validate(bad)}
    assert "AK440" in first and first == second
    assert imports == ["scorer"]
