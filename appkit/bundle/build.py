"""From a package directory to bundle entries: load, validate, compile, add the manifest.

Shared by `appkit deploy` and anything else that needs a bundle (rank, tests, benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from appkit.diagnostics import Diagnostic, Severity
from appkit.source import SourceFile


@dataclass
class BuiltBundle:
    entries: dict[str, bytes] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)
    profile_names: list[str] = field(default_factory=list)
    source_hash: str = ""

    @property
    def failed(self) -> bool:
        return any(d.level is Severity.ERROR for d in self.diagnostics)


def build_bundle(root: Path, progress: Callable[[str], None] | None = None) -> BuiltBundle:
    from appkit.bundle.compile import compile_package
    from appkit.bundle.write import bundle_entries, directory_entries, source_hash
    from appkit.package.loader import load_package
    from appkit.validate import validate_package

    say = progress or (lambda _m: None)
    say("validating")
    package, diagnostics = load_package(root)
    diagnostics = diagnostics + validate_package(package)
    built = BuiltBundle(diagnostics=diagnostics, sources=package.sources)
    if built.failed:
        return built
    say("compiling")
    compilation = compile_package(package, say)
    built.diagnostics += compilation.diagnostics
    if built.failed:
        return built
    built.source_hash = source_hash(directory_entries(root))
    built.models = compilation.models
    built.profile_names = [f"{p.schema}/{p.name}" for p in compilation.profiles]
    extra = {"models": {name: _model_manifest(m) for name, m in sorted(compilation.models.items())},
             "profiles": built.profile_names}
    built.entries = bundle_entries(compilation.entries, built.source_hash, extra)
    return built


def _model_manifest(model: Any) -> dict[str, Any]:
    return {
        "path": model.path, "format": model.format,
        "inputs": {n: str(i.type) for n, i in sorted(model.inputs.items())},
        "outputs": {n: str(o.type) for n, o in sorted(model.outputs.items())},
        "variables": [{"framework_name": v.framework_name, "vespa_name": v.vespa_name, "type": str(v.type)}
                      for v in model.variables],
    }
