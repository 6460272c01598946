"""Load an application package: find its files, parse each once, collect every problem.

Syntax and structure only; cross-references and types are the validator's job. Heavy modules
(numpy, onnx, tensorflow) are never imported here: `appkit validate` must start fast.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from appkit.diagnostics import AK001, AK002, Diagnostic, rule
from appkit.package.app import ApplicationPackage, ProfileFile, display_path
from appkit.source import SourceFile, Span

AK010 = rule("AK010", "file is not part of an application package",
             example="`appkit validate notes.txt`",
             fix="pass a package directory, or .sd, .profile, .expression or services.xml files")
AK011 = rule("AK011", "both schemas/ and searchdefinitions/ exist",
             example="a package with schemas/a.sd and searchdefinitions/b.sd",
             fix="move every .sd file into schemas/ (searchdefinitions/ is the legacy name)")
AK012 = rule("AK012", "schema directory holds no .sd file",
             example="schemas/ with only README.md", fix="add a schema file NAME.sd, or remove the directory")
AK013 = rule("AK013", "symbolic link leaves the package",
             example="schemas/x.sd -> /etc/passwd", fix="copy the file into the package instead of linking outside it")

SCHEMA_DIRS = ("schemas", "searchdefinitions")
XML_TOLERATED = ("hosts.xml", "deployment.xml", "validation-overrides.xml")
_SKIP_DIRS = {".appkit", ".git", "__pycache__", ".venv", "node_modules"}


def _read(path: Path, diags: list[Diagnostic]) -> SourceFile | None:
    shown = display_path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        diags.append(Diagnostic(AK001, f"cannot read {shown}: {e.strerror or e}", Span(shown, 1, 1),
                                hint="check that the file exists and is readable"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        diags.append(Diagnostic(AK001, f"{shown} is not UTF-8 text (byte 0x{data[e.start]:02x})",
                                Span(shown, line, col), hint="save the file as UTF-8"))
        return None
    return SourceFile(shown, text)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def _files_under(directory: Path, root: Path, diags: list[Diagnostic]) -> list[Path]:
    """Files below a directory, sorted, refusing links that lead out of the package."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() and not _inside(p, root):
                diags.append(Diagnostic(AK013, f"{display_path(p)} links outside the package",
                                        Span(display_path(p), 1, 1), hint="copy the file into the package"))
                continue
            found.append(p)
    return found


def _parse_file(path: Path, kind: str, diags: list[Diagnostic], sources: dict[str, SourceFile]):
    source = _read(path, diags)
    if source is None:
        return None
    sources[source.path] = source
    parsed, found = _parse_sources([(kind, source)])[0]
    diags.extend(found)
    return parsed


# Below this much uncached schema text, a second process costs more than it saves.
_FORK_FROM_BYTES = 128 * 1024


def _parse_sources(jobs: list[tuple[str, SourceFile]]) -> list[tuple]:
    """(model or None, diagnostics) for each (kind, source): from the user's cache where it holds
    the same text at the same displayed path, else parsed (a large package over two processes)."""
    from appkit.package.user_cache import MISSING, recall, remember_all
    from appkit.workers import fork_map

    results = [recall(kind, _cache_key(source)) for kind, source in jobs]
    missing = [i for i, r in enumerate(results) if r is MISSING]
    if missing:
        texts = [len(jobs[i][1].text) for i in missing]
        parsed = fork_map(_parse, [jobs[i] for i in missing], texts, _FORK_FROM_BYTES)
        for i, value in zip(missing, parsed):
            results[i] = value
        remember_all([(jobs[i][0], _cache_key(jobs[i][1]), results[i]) for i in missing])
    return results


def _cache_key(source: SourceFile) -> str:
    return f"{source.path}\0{source.text}"


def _parse(job: tuple[str, SourceFile]) -> tuple:
    from appkit.package.sdparse import parse_profile, parse_schema

    kind, source = job
    return (parse_schema if kind == "schema" else parse_profile)(source)


def parse_schema_file(path: Path, diags: list[Diagnostic], sources: dict[str, SourceFile]):
    return _parse_file(path, "schema", diags, sources)


def parse_profile_file(path: Path, diags: list[Diagnostic], sources: dict[str, SourceFile]):
    return _parse_file(path, "profile", diags, sources)


def load_package(root: Path) -> tuple[ApplicationPackage, list[Diagnostic]]:
    """Parse everything in the package at `root`; never raises for bad content."""
    diags: list[Diagnostic] = []
    sources: dict[str, SourceFile] = {}
    root = Path(root)
    shown_root = display_path(root)
    services_path = root / "services.xml"
    schema_dirs = [root / d for d in SCHEMA_DIRS if (root / d).is_dir()]
    if not services_path.is_file() and not schema_dirs:
        diags.append(Diagnostic(AK002, f"{shown_root} is not an application package: it has no services.xml "
                                "and no schemas/ directory", None,
                                hint="run appkit in the directory holding services.xml, or pass that directory"))
        return ApplicationPackage(root), diags
    if len(schema_dirs) == 2:
        diags.append(Diagnostic(AK011, "both schemas/ and searchdefinitions/ exist; Vespa reads schemas/ only "
                                "when both are present", Span(display_path(schema_dirs[1]), 1, 1),
                                hint="move the files from searchdefinitions/ into schemas/"))

    services = None
    if services_path.is_file():
        from appkit.package.services import parse_services

        services, found = parse_services(services_path, display_path(services_path))
        diags.extend(found)
        _remember(services_path, sources)
        for included in services.included if services is not None else ():
            sources[included.path] = included
    for name in XML_TOLERATED:
        p = root / name
        if p.is_file():
            from appkit.package.services import check_xml_file

            diags.extend(check_xml_file(p, display_path(p), name))

    schemas, profiles, expressions, unparsed = _load_schemas(root, schema_dirs[:1], diags, sources)

    query_features: dict = {}
    types_dir = root / "search" / "query-profiles" / "types"
    if types_dir.is_dir():
        from appkit.package.query_profiles import parse_query_profile_types

        query_features, found = parse_query_profile_types(types_dir, root)
        diags.extend(found)

    models: tuple = ()
    if (root / "models").is_dir() or (root / "files").is_dir():
        from appkit.importers.discovery import discover_models

        found_models, found = discover_models(root)
        models = tuple(found_models)
        diags.extend(found)

    files = tuple(
        p.relative_to(root).as_posix()
        for d in ("files", "constants", "models") if (root / d).is_dir()
        for p in _files_under(root / d, root, diags)
    )
    package = ApplicationPackage(root, services, tuple(schemas), tuple(profiles), expressions,
                                 query_features, models, files, sources, tuple(unparsed))
    return package, diags


def _remember(path: Path, sources: dict[str, SourceFile]) -> None:
    try:
        sources[display_path(path)] = SourceFile.read(path, display_path(path))
    except OSError:
        pass


def _load_schemas(root: Path, schema_dirs: list[Path], diags: list[Diagnostic],
                  sources: dict[str, SourceFile]):
    schemas, profiles, expressions, unparsed = [], [], {}, []
    for directory in schema_dirs:
        # a schema that links out of the package is never read (reported by _files_under below)
        sd_files = sorted(p for p in directory.glob("*.sd") if p.is_file() and (not p.is_symlink() or _inside(p, root)))
        if not sd_files:
            diags.append(Diagnostic(AK012, f"{display_path(directory)} holds no .sd schema file",
                                    Span(display_path(directory), 1, 1), hint="add a schema NAME.sd"))
        jobs: list[tuple[str, SourceFile]] = []
        for path in sd_files:
            source = _read(path, diags)
            if source is None:
                unparsed.append(path.stem)
                continue
            sources[source.path] = source
            jobs.append(("schema", source))
        profile_schema: dict[str, str] = {}  # a .profile file's displayed path -> its schema
        for path in _files_under(directory, root, diags):
            if path.suffix == ".profile" and path.parent != directory:
                source = _read(path, diags)
                if source is not None:
                    sources[source.path] = source
                    jobs.append(("profile", source))
                    profile_schema[source.path] = path.relative_to(directory).parts[0]
            elif path.suffix in (".expression", ".expr"):
                source = _read(path, diags)
                if source is not None:
                    expressions[source.path] = source
                    sources[source.path] = source
        for (kind, source), (model, found) in zip(jobs, _parse_sources(jobs)):
            diags.extend(found)
            if kind == "profile":
                if model is not None:
                    profiles.append(ProfileFile(profile_schema[source.path], model))
            elif model is not None:
                schemas.append(model)
            else:
                unparsed.append(PurePath(source.path).stem)
    return schemas, profiles, expressions, unparsed
