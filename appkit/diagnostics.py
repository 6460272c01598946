"""Diagnostics: what is wrong, where, and the fix; every stage reports through these.

Codes are stable (`AKnnn`) and registered with a title, an example and its fix, from which
`docs/diagnostics.md` is generated. Ranges: AK0xx general/IO, AK1xx services.xml, AK2xx schemas,
AK3xx ranking expressions and types, AK4xx models and import, AK5xx bundle and deploy, AK6xx serve.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from appkit.source import Span


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Rule:
    code: str
    title: str
    severity: Severity = Severity.ERROR
    example: str = ""
    fix: str = ""


RULES: dict[str, Rule] = {}


def rule(code: str, title: str, severity: Severity = Severity.ERROR, example: str = "", fix: str = "") -> str:
    """Register a diagnostic code once (at import of the module that emits it); returns the code."""
    existing = RULES.get(code)
    if existing is not None and existing.title != title:
        raise ValueError(f"diagnostic code {code} registered twice: {existing.title!r} and {title!r}")
    RULES[code] = Rule(code, title, severity, example, fix)
    return code


# General codes used across stages.
AK001 = rule("AK001", "file cannot be read", example="a schema file that is not UTF-8 or not readable",
             fix="make the file readable text (UTF-8)")
AK002 = rule("AK002", "path is not an application package",
             example="`appkit validate dir` where dir has no services.xml and no schemas/",
             fix="point appkit at the directory holding services.xml and schemas/")
AK003 = rule("AK003", "internal error", example="a bug in appkit", fix="report it with the file that triggers it")


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    hint: str | None = None
    severity: Severity | None = None  # None: the rule's own severity

    @property
    def level(self) -> Severity:
        if self.severity is not None:
            return self.severity
        registered = RULES.get(self.code)
        return registered.severity if registered else Severity.ERROR

    @property
    def path(self) -> str | None:
        return self.span.path if self.span else None

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        text = f"{where}{self.level.value}[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.level.value,
            "message": self.message,
            "path": self.path,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
            "end_line": self.span.end_line if self.span else None,
            "end_column": self.span.end_column if self.span else None,
            "hint": self.hint,
        }


@dataclass
class DiagnosticBag:
    """Collects diagnostics over a run, so that everything wrong is reported at once."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    def error(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
        d = Diagnostic(code, message, span, hint)
        self.items.append(d)
        return d

    def warning(self, code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
        d = Diagnostic(code, message, span, hint, Severity.WARNING)
        self.items.append(d)
        return d

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.level is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.level is Severity.WARNING]

    def has_errors(self) -> bool:
        return any(d.level is Severity.ERROR for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic) -> tuple[str, int, int, str]:
            s = d.span
            return (s.path if s else "", s.line if s else 0, s.column if s else 0, d.code)

        return sorted(self.items, key=key)


class AppkitError(Exception):
    """An error that carries diagnostics; raised only where a stage cannot go on at all."""

    def __init__(self, diagnostics: Diagnostic | Iterable[Diagnostic]):
        items = [diagnostics] if isinstance(diagnostics, Diagnostic) else list(diagnostics)
        self.diagnostics = items
        super().__init__("\n".join(str(d) for d in items))
