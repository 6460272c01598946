"""Reporters: render diagnostics as text (with source snippets), JSON, SARIF or GitHub annotations.

Kept free of heavy imports (no rich, no numpy): `appkit validate` runs as a pre-commit hook and its
start-up time is part of the product.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Iterable, TextIO

from appkit import __version__
from appkit.diagnostics import RULES, Diagnostic, Severity
from appkit.source import SourceFile, snippet

FORMATS = ("text", "json", "sarif", "github")

_COLORS = {Severity.ERROR: "\033[1;31m", Severity.WARNING: "\033[1;33m", Severity.INFO: "\033[1;36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def _use_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def render_text(diagnostics: list[Diagnostic], sources: dict[str, SourceFile], stream: TextIO,
                checked: int | None = None) -> None:
    color = _use_color(stream)
    for d in diagnostics:
        where = f"{d.span}: " if d.span else ""
        level = d.level.value
        head = f"{level}[{d.code}]"
        if color:
            head = f"{_COLORS[d.level]}{head}{_RESET}"
            where = f"{_BOLD}{where}{_RESET}"
        stream.write(f"{where}{head}: {d.message}\n")
        shown = snippet(sources.get(d.path or ""), d.span)
        if shown:
            stream.write((f"{_DIM}{shown}{_RESET}" if color else shown) + "\n")
        if d.hint:
            stream.write(f"  = hint: {d.hint}\n")
    errors = sum(1 for d in diagnostics if d.level is Severity.ERROR)
    warnings = sum(1 for d in diagnostics if d.level is Severity.WARNING)
    what = f" in {checked} file{'s' if checked != 1 else ''}" if checked is not None else ""
    if errors or warnings:
        stream.write(f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''}{what}\n")
    else:
        stream.write(f"ok: no problems found{what}\n")


def render_json(diagnostics: list[Diagnostic], stream: TextIO, files: Iterable[str] = ()) -> None:
    by_file: dict[str, list[dict[str, object]]] = {f: [] for f in files}
    for d in diagnostics:
        by_file.setdefault(d.path or "", []).append(d.to_json())
    out = {
        "version": __version__,
        "files": [{"path": p, "diagnostics": ds} for p, ds in sorted(by_file.items())],
        "errors": sum(1 for d in diagnostics if d.level is Severity.ERROR),
        "warnings": sum(1 for d in diagnostics if d.level is Severity.WARNING),
    }
    json.dump(out, stream, indent=2, sort_keys=True)
    stream.write("\n")


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render_sarif(diagnostics: list[Diagnostic], stream: TextIO) -> None:
    used = sorted({d.code for d in diagnostics})
    rules = [{"id": c, "shortDescription": {"text": RULES[c].title if c in RULES else c},
              "help": {"text": RULES[c].fix if c in RULES else ""}} for c in used]
    results = []
    for d in diagnostics:
        result: dict[str, object] = {
            "ruleId": d.code,
            "level": _SARIF_LEVEL[d.level],
            "message": {"text": d.message + (f" (hint: {d.hint})" if d.hint else "")},
        }
        if d.span:
            region: dict[str, int] = {"startLine": d.span.line, "startColumn": d.span.column}
            if d.span.end_line:
                region["endLine"] = d.span.end_line
            if d.span.end_column:
                region["endColumn"] = d.span.end_column
            result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": d.span.path},
                                                         "region": region}}]
        results.append(result)
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "appkit", "version": __version__, "rules": rules}},
                  "results": results}],
    }
    json.dump(sarif, stream, indent=2, sort_keys=True)
    stream.write("\n")


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(diagnostics: list[Diagnostic], stream: TextIO) -> None:
    for d in diagnostics:
        kind = {"error": "error", "warning": "warning"}.get(d.level.value, "notice")
        props = [f"title={_gh_escape(d.code, True)}"]
        if d.span:
            props = [f"file={_gh_escape(d.span.path, True)}", f"line={d.span.line}",
                     f"col={d.span.column}"] + props
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        stream.write(f"::{kind} {','.join(props)}::{_gh_escape(message)}\n")


def report(diagnostics: list[Diagnostic], fmt: str, sources: dict[str, SourceFile] | None = None,
           files: Iterable[str] = (), stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    files = list(files)
    renderers: dict[str, Callable[[], None]] = {
        "text": lambda: render_text(diagnostics, sources or {}, stream, len(files) or None),
        "json": lambda: render_json(diagnostics, stream, files),
        "sarif": lambda: render_sarif(diagnostics, stream),
        "github": lambda: render_github(diagnostics, stream),
    }
    renderers[fmt]()
