"""The lowered Vespa package inside a bundle (`vespa/`): the user's package, with `tensorflow(...)`
and `onnx_vespa(...)` replaced by the imported expressions, the generated functions added to the
profiles that use them, and the model constants declared with their files, so it deploys on
Vespa 8, which no longer imports TensorFlow. Edits are made in the original text, so comments and
layout stay as the user wrote them.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from appkit.expr import ir
from appkit.package.app import ApplicationPackage
from appkit.source import SourceFile

PREFIX = "vespa/"


def _line_starts(text: str) -> list[int]:
    """Offset of the first character of every line (computed once per file, not per edit)."""
    starts = [0]
    starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    return starts


def lowered_package_entries(package: ApplicationPackage, replacements: dict[Any, ir.Expr], models: Any,
                            bundle_entries: dict[str, bytes]) -> dict[str, bytes]:
    from appkit.bundle.write import directory_entries
    from appkit.expr.printer import print_expression

    # Vespa 8 cannot use TensorFlow models, and a model appkit lowered lives on in the generated
    # functions and constants: neither is shipped again, unless an onnx-model declaration (which
    # Vespa runs in ONNX Runtime) reads the file.
    declared = {PurePosixPath(d.file).as_posix() for d in _onnx_declarations(package) if d.file}
    left_out = [s.relative_to(package.root) for s in package.models
                if (s.format == "tensorflow" or s.name in models.imported) and s.relative_to(package.root) not in declared]
    entries: dict[str, bytes] = {}
    for rel, data in directory_entries(package.root).items():
        if any(rel == m or rel.startswith(m + "/") for m in left_out):
            continue
        entries[PREFIX + rel] = data
    by_file: dict[str, list[tuple[Any, ir.Expr]]] = {}
    for text, expr in replacements.items():
        by_file.setdefault(text.span.path, []).append((text, expr))
    for schema in package.schemas:
        source = package.sources.get(schema.source_path) or package.sources.get(schema.span.path)
        if source is None:
            continue
        edits = _schema_edits(schema, source, by_file.get(source.path, []), models, print_expression)
        if not edits:
            continue
        text = source.text
        for start, end, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
            text = text[:start] + new + text[end:]
        rel = _package_relative(package, source.path)
        entries[PREFIX + rel] = text.encode()
    return entries


def _onnx_declarations(package: ApplicationPackage):
    profiles = [p for s in package.schemas for p in s.rank_profiles] + [pf.profile for pf in package.profile_files]
    for schema in package.schemas:
        yield from schema.onnx_models
    while profiles:
        profile = profiles.pop()
        yield from profile.onnx_models
        profiles.extend(profile.profiles)


def _package_relative(package: ApplicationPackage, display: str) -> str:
    from pathlib import Path

    p = Path(display).resolve()
    return p.relative_to(package.root.resolve()).as_posix()


def _schema_edits(schema: Any, source: SourceFile, replaced: list[tuple[Any, ir.Expr]], models: Any,
                  print_expression: Any) -> list[tuple[int, int, str]]:
    edits: list[tuple[int, int, str]] = []
    starts = _line_starts(source.text)

    def at(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    needs_functions: dict[Any, dict[str, ir.Expr]] = {}
    for text, expr in replaced:
        start = at(text.span.line, text.span.column)
        if source.text[start:start + len(text.text)] != text.text:
            continue  # the parser normalised this text; leave it (validation of the result will say)
        edits.append((start, start + len(text.text), print_expression(expr)))
        profile = _profile_defining(schema, text)
        if profile is not None:
            needs_functions.setdefault(profile, {}).update(_generated_for(expr, models))
    for profile, functions in needs_functions.items():
        user = {f.name for f in profile.functions}
        brace = source.text.index("{", at(profile.span.line, profile.span.column))
        block = "".join(f"\n        function {name}() {{\n            expression: {print_expression(body)}\n        }}"
                        for name, body in sorted(functions.items()) if name not in user)
        if block:
            edits.append((brace + 1, brace + 1, block + "\n"))
    if replaced and models.constants:
        declared = {c.name for c in schema.constants}
        brace = source.text.index("{", at(schema.span.line, schema.span.column))
        block = "".join(f"\n    constant {name} {{\n        file: constants/{name}.json\n        type: {t}\n    }}"
                        for name, t in sorted(models.constant_types.items()) if name not in declared)
        if block:
            edits.append((brace + 1, brace + 1, block + "\n"))
    return edits


def _profile_defining(schema: Any, text: Any) -> Any:
    def contains(profile: Any) -> bool:
        for f in profile.functions:
            if f.expression is text:
                return True
        return any(p is not None and p.expression is text
                   for p in (profile.first_phase, profile.second_phase, profile.global_phase))

    stack = list(schema.rank_profiles)
    while stack:
        p = stack.pop()
        if contains(p):
            return p
        stack.extend(p.profiles)
    return None


def _generated_for(expr: ir.Expr, models: Any) -> dict[str, ir.Expr]:
    functions: dict[str, ir.Expr] = {}
    for model in models.imported.values():
        functions.update(model.functions)
    used: dict[str, ir.Expr] = {}
    stack = [expr]
    while stack:
        for node in ir.walk(stack.pop()):
            name = node.name if isinstance(node, (ir.Ref, ir.Feature)) else None
            if name in functions and name not in used:
                used[name] = functions[name]
                stack.append(functions[name])
    return used
