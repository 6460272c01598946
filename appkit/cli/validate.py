"""`appkit validate [PATH | FILE...]`: load a package (or check single files) and report every problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appkit.cli.report import FORMATS, report
from appkit.diagnostics import AK001, Diagnostic, Severity
from appkit.source import SourceFile, Span

HELP = """Check an application package, or individual files, and report every problem in one run.

  appkit validate                 the package in the current directory
  appkit validate PATH            the package at PATH
  appkit validate a.sd b.profile  single files (.sd, .profile, .expression, services.xml), as pre-commit passes them

exit codes: 0 no problems (warnings allowed unless --strict), 1 problems found, 2 usage or I/O error"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="a package directory, or files (default: .)")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--strict", action="store_true", help="warnings fail the run too")
    parser.add_argument("--no-cache", action="store_true", help="re-import every model (ignore .appkit/cache)")


def run(args: argparse.Namespace) -> int:
    import gc

    # A short run over trees without cycles: the cyclic collector would only re-scan the whole
    # package model again and again (half the time of a large package), and frees nothing.
    gc.disable()
    from appkit.package import user_cache

    user_cache.DETACHED_WRITES = True  # the answer need not wait for the parse cache to be written
    paths = [Path(p) for p in (args.paths or ["."])]
    missing = [p for p in paths if not p.exists()]
    if missing:
        for p in missing:
            sys.stderr.write(f"appkit validate: error: {p}: no such file or directory\n")
        return 2
    dirs = [p for p in paths if p.is_dir()]
    if dirs and len(paths) > 1:
        sys.stderr.write("appkit validate: error: give one package directory, or files, not both\n")
        return 2
    if dirs:
        diagnostics, sources, files = _validate_package(dirs[0], use_cache=not args.no_cache)
    else:
        diagnostics, sources, files = _validate_files(paths)
    diagnostics = _dedupe(diagnostics)
    report(diagnostics, args.format, sources, files)
    failing = [d for d in diagnostics if d.level is Severity.ERROR or (args.strict and d.level is Severity.WARNING)]
    if any(d.code in (AK001,) and d.span is None for d in diagnostics):
        return 2
    return 1 if failing else 0


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    out = []
    for d in diagnostics:
        key = (d.code, d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return sorted(out, key=lambda d: (d.path or "", d.span.line if d.span else 0, d.span.column if d.span else 0))


def _validate_package(root: Path, use_cache: bool):
    from appkit.package.loader import load_package
    from appkit.validate import validate_package

    package, diagnostics = load_package(root)
    diagnostics = diagnostics + validate_package(package, use_cache=use_cache)
    return diagnostics, package.sources, sorted(package.sources)


def _validate_files(paths: list[Path]):
    from appkit.package.app import display_path
    from appkit.package.loader import AK010, parse_profile_file, parse_schema_file

    diagnostics: list[Diagnostic] = []
    sources: dict[str, SourceFile] = {}
    for path in paths:
        shown = display_path(path)
        if path.suffix in (".sd", ".profile"):
            parse = parse_schema_file if path.suffix == ".sd" else parse_profile_file
            parsed = parse(path, diagnostics, sources)
            if parsed is not None:
                diagnostics.extend(_expression_syntax(parsed))
        elif path.suffix in (".expression", ".expr"):
            _check_expression_file(path, diagnostics, sources)
        elif path.name == "services.xml":
            from appkit.package.services import parse_services

            _, found = parse_services(path, shown)
            diagnostics.extend(found)
            try:
                sources[shown] = SourceFile.read(path, shown)
            except OSError:
                pass
        elif path.suffix == ".xml":
            from appkit.package.services import check_xml_file

            diagnostics.extend(check_xml_file(path, shown, path.name))
        else:
            diagnostics.append(Diagnostic(AK010, f"{shown} is not a file appkit checks", Span(shown, 1, 1),
                                          hint="pass .sd, .profile, .expression or services.xml files, "
                                               "or the package directory"))
    return diagnostics, sources, [display_path(p) for p in paths]


def _expression_syntax(parsed) -> list[Diagnostic]:
    """The expressions of one schema or profile file parse (references need the whole package)."""
    from appkit.package.app import ApplicationPackage, ProfileFile
    from appkit.validate.expressions import parse_package_expressions

    if hasattr(parsed, "document_summaries"):  # a Schema
        package = ApplicationPackage(Path("."), schemas=(parsed,))
    else:
        package = ApplicationPackage(Path("."), profile_files=(ProfileFile("", parsed),))
    _, found = parse_package_expressions(package)
    return [d for d in found if d.code != "AK390"]  # expression files are resolved with the package


def _check_expression_file(path: Path, diagnostics: list[Diagnostic], sources: dict[str, SourceFile]) -> None:
    from appkit.package.app import display_path
    from appkit.validate.expressions import parse_expression_source

    try:
        source = SourceFile.read(path, display_path(path))
    except OSError as e:
        diagnostics.append(Diagnostic(AK001, f"cannot read {display_path(path)}: {e.strerror}"))
        return
    sources[source.path] = source
    _, found = parse_expression_source(source.text, Span(source.path, 1, 1))
    diagnostics.extend(found)
