"""Generate docs/diagnostics.md from the rule registry: every code, its title, an example and the fix.

    python -m appkit.diagnostics_doc > docs/diagnostics.md
"""

from __future__ import annotations

import importlib
import pkgutil

import appkit
from appkit.diagnostics import RULES, Rule

_RANGES = [("AK0", "General and I/O"), ("AK1", "services.xml and other XML files"), ("AK2", "Schemas (.sd, .profile)"),
           ("AK3", "Ranking expressions and types"), ("AK4", "Models and model import"),
           ("AK5", "Bundles and deployment"), ("AK6", "Serving")]
_SKIP = ("appkit.__main__", "appkit.cli.main")


def all_rules() -> list[Rule]:
    """Import every appkit module (each registers the codes it emits) and return the registry."""
    for info in pkgutil.walk_packages(appkit.__path__, "appkit."):
        if info.name in _SKIP:
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:
            continue  # an optional dependency (e.g. a server stack) is not installed
    return [RULES[c] for c in sorted(RULES)]


def markdown() -> str:
    rules = all_rules()
    lines = ["# Diagnostics", "",
             "Every problem appkit reports has a stable code. This page is generated from the rule registry",
             "(`python -m appkit.diagnostics_doc > docs/diagnostics.md`); a test fails when it is stale.", ""]
    for prefix, title in _RANGES:
        group = [r for r in rules if r.code.startswith(prefix)]
        if not group:
            continue
        lines += [f"## {title}", ""]
        for r in group:
            lines += [f"### {r.code}: {r.title}", "", f"Severity: {r.severity.value}.", ""]
            if r.example:
                lines += [f"Example: {r.example}", ""]
            if r.fix:
                lines += [f"Fix: {r.fix}", ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
