"""Expression texts captured from corpus schemas parse with appkit's ranking-expression parser, and
errors in them are reported inside the expression's place in the .sd file (the spans line up)."""

from __future__ import annotations

from pathlib import Path

from appkit.diagnostics import AppkitError
from appkit.expr.parse import parse_expression, parse_feature_list
from appkit.package.sdparse import parse_profile, parse_schema
from appkit.source import SourceFile
from tests.conftest import shared_path


def _profiles(profiles):
    for p in profiles:
        yield p
        yield from _profiles(p.profiles)


def _texts(root: Path):
    for path in sorted(list(root.rglob("*.sd")) + list(root.rglob("*.profile"))):
        source = SourceFile.read(path, str(path.relative_to(root)))
        model, _ = (parse_profile if path.suffix == ".profile" else parse_schema)(source)
        if model is None:
            continue
        for profile in _profiles([model] if path.suffix == ".profile" else model.rank_profiles):
            for f in profile.functions:
                yield parse_expression, f.expression
            for phase in (profile.first_phase, profile.second_phase, profile.global_phase):
                if phase is not None and phase.expression is not None:
                    yield parse_expression, phase.expression
            for features in profile.match_features + profile.summary_features + profile.rank_features:
                yield parse_feature_list, features


def test_captured_expressions_parse_and_errors_land_inside_them():
    root = shared_path("corpus", "vespa")
    parsed, failed = 0, []
    for parse, captured in _texts(root):
        if getattr(captured, "file_reference", None):
            continue
        try:
            parse(captured.text, captured.span)
            parsed += 1
        except AppkitError as e:
            span = e.diagnostics[0].span
            first, last = captured.span.line, captured.span.line + captured.text.count("\n")
            assert span.path == captured.span.path and first <= span.line <= last, str(e)
            failed.append(str(e.diagnostics[0]))
    print(f"\ncorpus expressions and feature lists: {parsed} parse, {len(failed)} rejected: {failed}")
    assert parsed >= 600
    assert len(failed) <= 2
