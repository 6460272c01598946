"""Repeated expressions are parsed once: a cached tree moved to its place has exactly the spans a
direct parse at that place gives, for every corpus expression and several places."""

from __future__ import annotations

import json

from appkit.diagnostics import AppkitError
from appkit.expr import ir
from appkit.expr.parse import parse_expression
from appkit.source import Span
from appkit.validate.expressions import parse_expression_source
from tests.conftest import shared_path

ORIGINS = (Span("a.sd", 1, 1), Span("a.sd", 12, 25), Span("b.profile", 40, 3))


def test_cached_parses_are_placed_like_direct_parses():
    cases = json.loads(shared_path("corpus", "expressions", "java_test_expressions.json").read_text())
    checked = 0
    for case in cases:
        text = case["expression"]
        for origin in ORIGINS + ORIGINS:  # the second round comes from the cache
            got, problems = parse_expression_source(text, origin)
            try:
                want, want_problems = parse_expression(text, origin=origin, path=origin.path), []
            except AppkitError as e:
                want, want_problems = None, list(e.diagnostics)
            assert got == want and problems == want_problems, text
            if want is not None:
                assert [n.span for n in ir.walk(got)] == [n.span for n in ir.walk(want)], text
                checked += 1
    assert checked >= 6 * 340
