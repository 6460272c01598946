"""Parse every ranking expression of a package (phases, functions, features lists, .expression files)."""

from __future__ import annotations

from typing import Any

from appkit.diagnostics import Diagnostic
from appkit.package.app import ApplicationPackage
from appkit.source import Span


def parse_expression_source(text: str, origin: Span):
    """Parse expression text that starts at `origin`; returns (expr | None, diagnostics)."""
    from appkit.diagnostics import AppkitError
    from appkit.expr.parse import parse_expression

    try:
        return parse_expression(text, origin=origin, path=origin.path), []
    except AppkitError as e:
        return None, list(e.diagnostics)


def parse_package_expressions(package: ApplicationPackage) -> tuple[dict[Any, Any], list[Diagnostic]]:
    """Every ExpressionText in the package → its IR (keyed by the ExpressionText), plus syntax errors."""
    parsed: dict[Any, Any] = {}
    diagnostics: list[Diagnostic] = []
    for expression_text in _expression_texts(package):
        expr, found = parse_expression_source(expression_text.text, expression_text.span)
        diagnostics.extend(found)
        if expr is not None:
            parsed[expression_text] = expr
    return parsed, diagnostics


def _expression_texts(package: ApplicationPackage):
    from appkit.package.schema import ExpressionText

    def visit(obj: Any, depth: int = 0):
        if depth > 50:
            return
        if isinstance(obj, ExpressionText):
            yield obj
        elif isinstance(obj, tuple):
            for item in obj:
                yield from visit(item, depth + 1)
        elif hasattr(obj, "__dataclass_fields__"):
            for name in obj.__dataclass_fields__:
                if name != "span":
                    yield from visit(getattr(obj, name), depth + 1)

    for schema in package.schemas:
        yield from visit(schema)
    for profile_file in package.profile_files:
        yield from visit(profile_file.profile)
