"""The typed model of a whole application package: what the loader returns and later stages read.

Later stages never go back to the files: everything they need (parsed schemas, profiles from
.profile files, .expression files, query-profile types, discovered models, sources for snippets)
is here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appkit.source import SourceFile


@dataclass(frozen=True)
class ProfileFile:
    """A rank profile defined in its own `.profile` file under `schemas/<schema>/`."""

    schema: str
    profile: Any  # appkit.package.schema.RankProfile


@dataclass(frozen=True)
class ApplicationPackage:
    root: Path
    services: Any | None = None  # appkit.package.services.Services
    schemas: tuple[Any, ...] = ()  # appkit.package.schema.Schema
    profile_files: tuple[ProfileFile, ...] = ()
    expression_files: dict[str, SourceFile] = field(default_factory=dict)  # display path -> file
    query_features: dict[str, Any] = field(default_factory=dict)  # name in query(name) -> QueryFeature
    models: tuple[Any, ...] = ()  # appkit.importers.discovery.ModelSource (discovered, not imported)
    files: tuple[str, ...] = ()  # package-relative paths under files/, constants/ and models/
    sources: dict[str, SourceFile] = field(default_factory=dict)  # display path -> text, for snippets
    unparsed_schemas: tuple[str, ...] = ()  # names (file stems) of .sd files that did not parse

    def schema(self, name: str) -> Any | None:
        for s in self.schemas:
            if s.name == name:
                return s
        return None

    def display(self, path: Path) -> str:
        """The path users see in diagnostics: relative to the current directory when it can be."""
        return display_path(path)


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
