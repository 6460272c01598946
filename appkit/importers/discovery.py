"""Finding the models of an application package, and importing one by its format.

TensorFlow: a directory under models/ holding saved_model.pb or saved_model.pbtxt. ONNX: a .onnx
file under models/, or under files/ when a schema refers to it. Two models with one name are an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.importers.model import ImportedModel
from appkit.importers.naming import check_model_name, model_name
from appkit.source import Span

AK445 = rule("AK445", "two models resolve to one model name",
             example="models/a_b.onnx and models/a/b.onnx are both named 'a_b'",
             fix="rename one of the files or directories")
AK446 = rule("AK446", "model import failed unexpectedly", example="a converter bug on an unusual model",
             fix="report the model that triggers it; meanwhile evaluate it with onnxruntime (onnx-model)")

_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


@dataclass(frozen=True)
class ModelSource:
    name: str  # the Vespa model name, e.g. mnist_softmax_saved
    path: Path  # the model file (ONNX) or SavedModel directory (TensorFlow)
    format: str  # "tensorflow" | "onnx"

    def relative_to(self, package_root: Path) -> str:
        try:
            return self.path.relative_to(package_root).as_posix()
        except ValueError:
            return self.path.as_posix()


def discover_models(package_root: Path, referenced_files: Iterable[str] = ()) -> tuple[list[ModelSource], list[Diagnostic]]:
    """Every model of a package, in path order, with diagnostics for bad and colliding names."""
    root = Path(package_root)
    found: list[ModelSource] = []
    diagnostics: list[Diagnostic] = []
    models_dir = root / "models"
    if models_dir.is_dir():
        _walk(models_dir, root, found, diagnostics)
    for ref in referenced_files:
        path = root / ref
        if path.suffix == ".onnx" and path.is_file() and not _under(path, models_dir):
            rel = path.relative_to(root).as_posix()
            found.append(ModelSource(model_name(rel, True), path, "onnx"))
    by_name: dict[str, ModelSource] = {}
    for source in found:
        other = by_name.get(source.name)
        if other is not None:
            diagnostics.append(Diagnostic(
                AK445, f"The models in {other.relative_to(root)} and {source.relative_to(root)} both resolve to "
                       f"the model name '{source.name}'",
                Span(source.relative_to(root), 1, 1),
                hint="rename one of them: the model name is its path under models/ with '/' and '.' as '_'"))
            continue
        by_name[source.name] = source
    return list(by_name.values()), diagnostics


def _under(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


def _walk(directory: Path, root: Path, found: list[ModelSource], diagnostics: list[Diagnostic]) -> None:
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        rel = entry.relative_to(root).as_posix()
        if entry.is_dir():
            if any((entry / f).is_file() for f in _SAVED_MODEL_FILES):
                _add(ModelSource(model_name(rel, False), entry, "tensorflow"), rel, found, diagnostics)
            else:
                _walk(entry, root, found, diagnostics)
        elif entry.suffix == ".onnx":
            _add(ModelSource(model_name(rel, True), entry, "onnx"), rel, found, diagnostics)


def _add(source: ModelSource, rel: str, found: list[ModelSource], diagnostics: list[Diagnostic]) -> None:
    bad = check_model_name(source.name)
    if bad is not None:
        diagnostics.append(Diagnostic(bad.code, bad.message, Span(rel, 1, 1), bad.hint))
        return
    found.append(source)


def import_model(source: ModelSource, package_root: Path) -> ImportedModel:
    """Import one model by its format; never raises (problems are the model's diagnostics)."""
    try:
        if source.format == "onnx":
            from appkit.importers.onnx.importer import import_onnx_model

            return import_onnx_model(source.path, source.name, Path(package_root))
        from appkit.importers.tensorflow.importer import import_tensorflow_model

        return import_tensorflow_model(source.path, source.name)
    except Exception as e:  # a converter bug must not take the whole validation down
        model = ImportedModel(source.name, source.relative_to(Path(package_root)), source.format)
        model.diagnostics.append(Diagnostic(
            AK446, f"Could not import model '{source.name}': {type(e).__name__}: {e}",
            Span(source.relative_to(Path(package_root)), 1, 1), severity=Severity.ERROR,
            hint="this is a bug in appkit; rerun with APPKIT_DEBUG=1 and report it"))
        return model
