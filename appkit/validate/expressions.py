"""Parse every ranking expression of a package (phases, functions, features lists, .expression files)."""

from __future__ import annotations

from typing import Any

from appkit.diagnostics import Diagnostic, rule
from appkit.package.app import ApplicationPackage
from appkit.source import Span


AK390 = rule("AK390", "expression file not found",
             example="expression: file:ranking where schemas/ranking.expression does not exist",
             fix="add the .expression file beside the schema, or write the expression inline")


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
        text, origin, problem = _resolve_file_reference(package, expression_text)
        if problem is not None:
            diagnostics.append(problem)
            continue
        expr, found = parse_expression_source(text, origin)
        diagnostics.extend(found)
        if expr is not None:
            parsed[expression_text] = expr
    return parsed, diagnostics


def _resolve_file_reference(package: ApplicationPackage, expression_text: Any):
    """`expression: file:NAME` reads NAME.expression beside the schema; otherwise the text itself."""
    from pathlib import PurePosixPath

    from appkit.package.schema import FILE_REFERENCE

    m = FILE_REFERENCE.match(expression_text.text.strip())
    if not m:
        return expression_text.text, expression_text.span, None
    name = m.group(1)
    if not name.endswith(".expression"):
        name += ".expression"
    if "/" in name or ".." in name:
        return "", expression_text.span, Diagnostic(
            AK390, f"expression file '{m.group(1)}' must be a plain name in the schema's directory",
            expression_text.span, hint=f"move the file beside the schema and write file:{PurePosixPath(name).stem}")
    wanted = str(PurePosixPath(expression_text.span.path).parent / name)
    source = package.expression_files.get(wanted)
    if source is None:
        return "", expression_text.span, Diagnostic(
            AK390, f"expression file {wanted} does not exist", expression_text.span,
            hint=f"add {wanted} holding the expression, or write the expression inline")
    return source.text, Span(source.path, 1, 1), None


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
