"""Parse every ranking expression of a package (phases, functions, features lists, .expression files)."""

from __future__ import annotations

from typing import Any

from appkit.diagnostics import Diagnostic, rule
from appkit.expr.ir import Feature, Node, remember_features
from appkit.package.app import ApplicationPackage
from appkit.source import Span, new_span


AK390 = rule("AK390", "expression file not found",
             example="expression: file:ranking where schemas/ranking.expression does not exist",
             fix="add the .expression file beside the schema, or write the expression inline")


# Parses by text, placed at 1:1. Packages repeat expressions (inherited profiles, generated
# schemas); a repeat costs a re-placement of spans instead of a parse, about ten times less.
_PARSED: dict[str, Any] = {}
_MAX_CACHED = 20000


def parse_expression_source(text: str, origin: Span):
    """Parse expression text that starts at `origin`; returns (expr | None, diagnostics)."""
    cached = _PARSED.get(text)
    if cached is None:
        cached = _parse_at_start(text)  # None on errors: messages may quote positions, so parse
        if cached is not None and len(_PARSED) < _MAX_CACHED:  # again where the text really is
            _PARSED[text] = cached
    if cached is not None:
        mover = _SpanMover(origin)
        placed = mover.node(cached)
        remember_features(placed, mover.features)  # found while moving: no second walk
        return placed, []
    from appkit.diagnostics import AppkitError
    from appkit.expr.parse import parse_expression

    try:
        return parse_expression(text, origin=origin, path=origin.path), []
    except AppkitError as e:
        return None, list(e.diagnostics)


_LISTS: dict[str, Any] = {}


def parse_feature_list_source(text: str, origin: Span):
    """A match-/summary-/rank-features list at `origin`: (features | None, diagnostics); cached by
    text like expressions."""
    from appkit.package.user_cache import cached

    features = _LISTS.get(text)
    if features is None:
        features = cached("features", text, lambda: _feature_list_at_start(text))
        if features is not None and len(_LISTS) < _MAX_CACHED:
            _LISTS[text] = features
    if features is not None:
        mover = _SpanMover(origin)
        return tuple(mover.node(f) for f in features), []
    from appkit.diagnostics import AppkitError
    from appkit.expr.parse import parse_feature_list

    try:
        return parse_feature_list(text, origin=origin, path=origin.path), []
    except AppkitError as e:
        return None, list(e.diagnostics)


def _feature_list_at_start(text: str) -> Any:
    from appkit.diagnostics import AppkitError
    from appkit.expr.parse import parse_feature_list

    try:
        return parse_feature_list(text, origin=Span("", 1, 1), path="")
    except AppkitError:
        return None


def _parse_at_start(text: str) -> Any:
    from appkit.diagnostics import AppkitError
    from appkit.expr.parse import parse_expression

    try:
        return parse_expression(text, origin=Span("", 1, 1), path="")
    except AppkitError:
        return None


def _remember(texts: list[str]) -> None:
    """Parse the texts not seen yet in one go, through the user's parse cache (a warm run of an
    unchanged package loads no parser at all)."""
    from appkit.package.user_cache import cached

    missing = sorted({t for t in texts if t not in _PARSED})
    if not missing:
        return
    parsed = cached("expressions", "\0".join(missing), lambda: {t: _parse_at_start(t) for t in missing})
    for text, expr in parsed.items():
        if expr is not None and len(_PARSED) < _MAX_CACHED:
            _PARSED[text] = expr


class _SpanMover:
    """Moves spans of a tree parsed at 1:1 to where its text starts (as the parser's origin does)."""

    def __init__(self, origin: Span):
        self.path = origin.path
        self.lines = origin.line - 1
        self.columns = origin.column - 1
        self.features: list[Any] = []

    def span(self, s: Span | None) -> Span | None:
        if s is None:
            return None
        end_column = s.end_column
        if end_column is not None and s.end_line == 1:
            end_column += self.columns
        return new_span(self.path, s.line + self.lines, s.column + (self.columns if s.line == 1 else 0),
                        None if s.end_line is None else s.end_line + self.lines, end_column)

    def node(self, node: Any) -> Any:
        moved = object.__new__(type(node))
        if type(node) is Feature:
            self.features.append(moved)  # before its children: the order walk() gives
        fields = moved.__dict__
        for key, value in node.__dict__.items():
            if key == "span":
                fields[key] = self.span(value)
            elif isinstance(value, Node):
                fields[key] = self.node(value)
            elif type(value) is tuple and value and _holds_nodes(value):
                fields[key] = self.items(value)
            else:
                fields[key] = value  # names, numbers, types, tuples of strings: shared as they are
        return moved

    def items(self, values: tuple) -> tuple:
        return tuple(self.node(v) if isinstance(v, Node) else self.items(v) if type(v) is tuple else v
                     for v in values)


def _holds_nodes(values: tuple) -> bool:
    for v in values:
        if isinstance(v, Node) or (type(v) is tuple and _holds_nodes(v)):
            return True
    return False


class ParsedExpressions:
    """Every ExpressionText of a package → its IR, placed where its text is, made on first use.

    Syntax errors are found up front (each distinct text is parsed once, or comes from the user's
    cache); placing a tree's spans is most of the remaining cost and is left to whoever looks the
    expression up, so work split over processes (validating schemas) splits this too.
    """

    def __init__(self, package: ApplicationPackage):
        self.diagnostics: list[Diagnostic] = []
        self._sources: dict[Any, tuple[str, Span]] = {}
        self._placed: dict[Any, Any] = {}
        resolved = [(e, *_resolve_file_reference(package, e)) for e in _expression_texts(package)]
        _remember([text for _, text, _, problem in resolved if problem is None])
        for expression_text, text, origin, problem in resolved:
            if problem is not None:
                self.diagnostics.append(problem)
            elif text in _PARSED:
                self._sources[expression_text] = (text, origin)
            else:  # a syntax error: parsed where it is, for messages at the right place
                expr, found = parse_expression_source(text, origin)
                self.diagnostics.extend(found)
                if expr is not None:
                    self._placed[expression_text] = expr

    def __contains__(self, expression_text: Any) -> bool:
        return expression_text in self._sources or expression_text in self._placed

    def __getitem__(self, expression_text: Any) -> Any:
        expr = self._placed.get(expression_text)
        if expr is None:
            text, origin = self._sources[expression_text]
            expr = self._placed[expression_text] = parse_expression_source(text, origin)[0]
        return expr

    def unplaced(self) -> "UnplacedExpressions":
        return UnplacedExpressions(self)


class UnplacedExpressions:
    """The same expressions as trees shared by every place their text occurs, with spans from 1:1.

    Checks give the same verdicts on these as on placed trees, at no placing cost; only the places in
    their diagnostics are wrong, so a check that finds anything is run again on placed trees.
    """

    def __init__(self, parsed: ParsedExpressions):
        self._parsed = parsed

    def __contains__(self, expression_text: Any) -> bool:
        return expression_text in self._parsed

    def __getitem__(self, expression_text: Any) -> Any:
        source = self._parsed._sources.get(expression_text)
        return _PARSED[source[0]] if source is not None else self._parsed[expression_text]


def parse_package_expressions(package: ApplicationPackage) -> tuple[ParsedExpressions, list[Diagnostic]]:
    """Every ExpressionText in the package → its IR (keyed by the ExpressionText), plus syntax errors."""
    parsed = ParsedExpressions(package)
    return parsed, list(parsed.diagnostics)


def _resolve_file_reference(package: ApplicationPackage, expression_text: Any):
    """`expression: file:NAME` reads NAME.expression beside the schema; otherwise the text itself."""
    if "file" not in expression_text.text:  # nearly every expression: nothing more to look at
        return expression_text.text, expression_text.span, None
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
    """Every expression body: functions and phases of every profile (nested ones too)."""
    stack = [p for schema in package.schemas for p in schema.rank_profiles]
    stack += [pf.profile for pf in package.profile_files]
    while stack:
        profile = stack.pop()
        for f in profile.functions:
            yield f.expression
        for phase in (profile.first_phase, profile.second_phase, profile.global_phase):
            if phase is not None and phase.expression is not None:
                yield phase.expression
        stack.extend(profile.profiles)
