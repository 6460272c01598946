"""`appkit models [PATH]`: what each model of a package asks of the package and gives back.

Per model: name, format, signatures, inputs (the function the rank profile must define, and its
type), outputs and types, variables (framework name -> the Vespa name that overrides it, type, size).
PATH is a package (its models/ are listed) or one SavedModel directory / .onnx file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from appkit.importers.model import ImportedModel

HELP = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", help="application package or model (default: .)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def load_models(path: Path) -> tuple[list[ImportedModel], list[Any]]:
    """The imported models of a package, or of a single model path, and the discovery diagnostics."""
    from appkit.importers.discovery import ModelSource, discover_models, import_model
    from appkit.importers.naming import model_name

    if path.is_file() and path.suffix == ".onnx":
        sources, diagnostics = [ModelSource(model_name(path.name, True), path, "onnx")], []
        root = path.parent
    elif path.is_dir() and any((path / f).is_file() for f in ("saved_model.pb", "saved_model.pbtxt")):
        sources, diagnostics = [ModelSource(model_name(path.name, False), path, "tensorflow")], []
        root = path.parent
    else:
        sources, diagnostics = discover_models(path)
        root = path
    return [import_model(source, root) for source in sources], diagnostics


def model_summary(model: ImportedModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "format": model.format,
        "path": model.path,
        "ok": model.ok,
        "signatures": {sig: list(outputs) for sig, outputs in model.signatures.items()},
        "inputs": [{"function": i.name, "framework_name": i.framework_name, "type": str(i.type)}
                   for i in model.inputs.values()],
        "outputs": [{"expression": name, "type": str(o.type)} for name, o in model.outputs.items()],
        "variables": [{"framework_name": v.framework_name, "vespa_name": v.vespa_name, "type": str(v.type),
                       "ordered_type": v.ordered_type, "size": v.size} for v in model.variables],
        "diagnostics": [d.to_json() for d in model.diagnostics],
    }


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        sys.stderr.write(f"appkit models: error: {path} does not exist\n")
        return 2
    models, diagnostics = load_models(path)
    failed = bool(diagnostics) or any(not m.ok for m in models)
    if args.format == "json":
        print(json.dumps({"models": [model_summary(m) for m in models],
                          "diagnostics": [d.to_json() for d in diagnostics]}, indent=1))
        return 1 if failed else 0
    _print_text(models, diagnostics)
    return 1 if failed else 0


def _print_text(models: list[ImportedModel], diagnostics: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console() if sys.stdout.isatty() else Console(width=160)  # pipes and CI logs: no truncation
    if not models:
        console.print("no models found (TensorFlow SavedModel directories or .onnx files under models/)")
    for model in models:
        table = Table(title=f"{model.name} ({model.format}) - {model.path}", show_lines=False, title_justify="left")
        table.add_column("kind")
        table.add_column("name")
        table.add_column("type")
        table.add_column("details")
        for sig, outputs in model.signatures.items():
            table.add_row("signature", sig, "", ", ".join(outputs))
        for i in model.inputs.values():
            table.add_row("input", i.name, str(i.type), f"function the rank profile must define ({i.framework_name})")
        for name, o in model.outputs.items():
            table.add_row("output", name, str(o.type), "")
        for v in model.variables:
            table.add_row("variable", f"{v.framework_name} -> {v.vespa_name}", v.ordered_type, f"{v.size} cells")
        console.print(table)
        for d in model.diagnostics:
            console.print(str(d), markup=False, highlight=False)
    for d in diagnostics:
        console.print(str(d), markup=False, highlight=False)
