"""Rank-profile rules: every feature an expression names exists, every expression is well typed,
and every phase gives a number. Types come from the tensor engine; nothing is evaluated."""

from __future__ import annotations

from typing import Any, Iterable

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.expr import ir
from appkit.package.app import ApplicationPackage
from appkit.expr.typecheck import TypeContext, check_types
from appkit.package.schema import FILE_REFERENCE, ExpressionText
from appkit.source import Span
from appkit.tensor.type import TensorType, TensorTypeError
from appkit.validate.fields import SchemaIndex
from appkit.validate.expressions import parse_feature_list_source
from appkit.validate.profiles import ResolvedProfile
from appkit.validate.rank_features import BACKEND_FEATURES, KNOWN_FEATURES

AK383 = rule("AK383", "attribute(x) names no attribute",
             example="attribute(price) where price has `indexing: summary` only",
             fix="add `attribute` to the field's indexing, or name an attribute")
AK384 = rule("AK384", "query(x) is not declared", Severity.WARNING,
             example="sum(query(q) * attribute(e)) with no input query(q)",
             fix="declare it: inputs { query(q) tensor<float>(x[16]) } (or in a query profile type)")
AK385 = rule("AK385", "phase expression gives a tensor, not a number",
             example="first-phase { expression: attribute(embedding) * query(q) }",
             fix="reduce it to a number: sum(attribute(embedding) * query(q))")
AK389 = rule("AK389", "unknown function or rank feature",
             example="first-phase { expression: nativRank(title) }",
             fix="correct the name (nativeRank), or define the function in the profile")
AK386 = rule("AK386", "constant file is missing",
             example="constant W { file: constants/W.json type: tensor(x[3]) } with no such file",
             fix="add the file to the package, or correct the path")
AK387 = rule("AK387", "constant file does not hold the declared type",
             example="constant W declared tensor(x[3]) whose file holds 4 cells",
             fix="make the file and the declared type agree")
AK388 = rule("AK388", "input or constant has an invalid default value",
             example="query(q) tensor(x[2]): [1,2,3]", fix="give one value per cell of the declared type")


def profile_features(profile: ResolvedProfile, index: SchemaIndex, query_features: dict[str, Any],
                     schema_constants: dict[str, Any], model_types: dict[str, TensorType]) -> dict[str, TensorType]:
    """The feature name → type table an expression of this profile is typed with."""
    features: dict[str, TensorType] = {}
    for name, t in list(index.attributes.items()) + list(index.imported.items()):
        features[f"attribute({name})"] = t
    for name, qf in query_features.items():
        t = getattr(qf, "type", None)
        if isinstance(t, TensorType):
            features[f"query({name})"] = t
    for name, inp in profile.inputs.items():
        t = inp.type if inp.type is not None else TensorType.scalar()
        features[f"query({name})"] = t
        if not inp.is_query_form:
            features[name] = t
    for name, c in list(schema_constants.items()) + list(profile.constants.items()):
        t = c.type if c.type is not None else TensorType.scalar()
        features[f"constant({name})"] = t
        features[name] = t
    features.update(model_types)
    return features


def profile_expressions(profile: ResolvedProfile, parsed: dict[ExpressionText, ir.Expr]):
    """(what, expression text, IR) for everything the profile itself defines (not what it inherits)."""
    p = profile.profile
    for f in p.functions:
        if f.expression in parsed:
            yield f"function '{f.name}'", f.expression, parsed[f.expression]
    for label, phase in (("first-phase", p.first_phase), ("second-phase", p.second_phase),
                         ("global-phase", p.global_phase)):
        if phase is not None and phase.expression is not None and phase.expression in parsed:
            yield label, phase.expression, parsed[phase.expression]


def check_profile(profile: ResolvedProfile, index: SchemaIndex, features: dict[str, TensorType],
                  functions: dict[str, Any], parsed: dict[ExpressionText, ir.Expr],
                  query_features: dict[str, Any]) -> list[Diagnostic]:
    """References, types and phase results of what the profile itself defines (`functions`: the
    resolved profile's functions as typecheck FunctionDefs)."""
    out: list[Diagnostic] = []
    context = TypeContext(features=features, functions=functions)
    context_key = (tuple(sorted(features.items())),
                   tuple(sorted((n, tuple(f.params), f.expression.text) for n, f in profile.functions.items())))
    # a number per distinct context: hashed once here, not again with every expression's key
    context_key = _CONTEXTS.setdefault(context_key, len(_CONTEXTS))
    declared_queries = set(profile.inputs) | set(query_features)
    for what, text, expr in profile_expressions(profile, parsed):
        out.extend(_reference_rules(expr, profile, index, declared_queries, text.span))
        function = profile.functions.get(what.split("'")[1]) if what.startswith("function") else None
        if function is not None and function.params:
            # parameters are typed per call; checked through the calls instead
            continue
        result, found = _typed(expr, text, context, context_key)
        out.extend(found)
        if what.endswith("phase") and result is not None and not result.is_scalar:
            out.append(Diagnostic(AK385, f"{what} of rank profile '{profile.name}' gives {result}; a phase "
                                  "must give a number", _span(expr, text.span),
                                  hint=f"reduce it to a number: sum({text.text.strip()})"))
    out.extend(_check_feature_lists(profile, index, context, declared_queries))
    return out


# Types of expressions already checked, by (text, context): the type of an expression depends only
# on its text, the feature types and the function definitions, and profiles of one layout repeat
# across schemas. Only results without diagnostics are kept (diagnostics carry their own place).
_TYPED: dict[tuple[str, Any], TensorType | None] = {}
_CONTEXTS: dict[Any, int] = {}


def _typed(expr: ir.Expr, text: ExpressionText, context: Any, context_key: Any):
    if FILE_REFERENCE.match(text.text.strip()):  # the same text may name different files
        return check_types(expr, context, path=text.span.path)
    key = (text.text, context_key)
    if key in _TYPED:
        return _TYPED[key], []
    result, found = check_types(expr, context, path=text.span.path)
    if not found and len(_TYPED) < 100_000:
        _TYPED[key] = result
    return result, found


def _check_feature_lists(profile: ResolvedProfile, index: SchemaIndex, context: Any,
                         declared_queries: set[str]) -> list[Diagnostic]:
    """match-, summary- and rank-features: each feature parses, names what exists, and is well typed
    (tensors are fine here: these are returned, not ranked by)."""
    out: list[Diagnostic] = []
    p = profile.profile
    for feature_list in p.match_features + p.summary_features + p.rank_features:
        features, problems = parse_feature_list_source(feature_list.text, feature_list.span)
        out.extend(problems)
        if features is None:
            continue
        for feature in features:
            out.extend(_reference_rules(feature, profile, index, declared_queries, feature_list.span))
            out.extend(check_types(feature, context, path=feature_list.span.path)[1])
    return out


def _span(expr: ir.Node, fallback: Span) -> Span:
    return expr.span if expr.span is not None else fallback


def _reference_rules(expr: ir.Expr, profile: ResolvedProfile, index: SchemaIndex, declared_queries: set[str],
                     where: Span) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in ir.features_of(expr):
        if node.name not in KNOWN_FEATURES and node.name not in profile.functions:
            out.append(_unknown_feature(node, profile, where))
            continue
        if len(node.args) != 1 or node.output is not None and node.name != "attribute":
            continue
        arg = node.args[0]
        name = arg.name if isinstance(arg, ir.Ref) else arg.value if isinstance(arg, ir.String) else None
        if name is None:
            continue
        if node.name == "attribute" and index.attribute_type(name) is None:
            field = index.fields.get(name)
            if field is not None:
                msg = f"attribute({name}): field '{name}' of schema '{index.schema.name}' is not an attribute"
                hint = f"add `attribute` to its indexing: indexing: {field.indexing.text.strip() + ' | ' if field.indexing else ''}attribute"
            else:
                attrs = sorted(set(index.attributes) | set(index.imported))
                msg = f"attribute({name}): schema '{index.schema.name}' has no attribute '{name}'"
                hint = f"use one of: {', '.join(attrs)}" if attrs else "add a field with `indexing: attribute`"
            out.append(Diagnostic(AK383, msg, _span(node, where), hint=hint))
        elif node.name == "query" and name not in declared_queries:
            severity = Severity.ERROR if profile.strict else Severity.WARNING
            out.append(Diagnostic(AK384, f"query({name}) is not declared in rank profile '{profile.name}' or a "
                                  "query profile type, so it is taken as a number", _span(node, where),
                                  hint=f"declare it in the profile: inputs {{ query({name}) double }} "
                                       f"(or a tensor type such as tensor<float>(x[16]))", severity=severity))
    return out


def _unknown_feature(node: ir.Feature, profile: ResolvedProfile, where: Span) -> Diagnostic:
    import difflib

    near = difflib.get_close_matches(node.name, sorted(set(profile.functions) | BACKEND_FEATURES), n=1, cutoff=0.75)
    params = ", ".join(f"x{i}" for i in range(len(node.args))) if node.args else ""
    hint = (f"did you mean '{near[0]}'?" if near else
            f"define it in the profile: function {node.name}({params}) {{ expression: ... }}")
    return Diagnostic(AK389, f"'{node.name}' is neither a function of rank profile '{profile.name}' nor a Vespa "
                      "rank feature", _span(node, where), hint=hint)


def check_constants(package: ApplicationPackage, decls: Iterable[Any]) -> list[Diagnostic]:
    """Constant files exist and hold the declared type; literal values fit their type."""
    out: list[Diagnostic] = []
    for c in decls:
        if c.file:
            path = package.root / c.file
            if not path.is_file():
                out.append(Diagnostic(AK386, f"constant '{c.name}' reads {c.file}, which is not in the package",
                                      c.span, hint=f"add {c.file} (Vespa tensor JSON), or correct the path"))
                continue
            out.extend(_check_constant_file(c, path))
        elif c.value_text is not None and c.type is not None and not c.type.is_scalar:
            out.extend(_check_literal(c.name, c.type, c.value_text, c.span))
    return out


def _check_constant_file(c: Any, path) -> list[Diagnostic]:
    if c.type is None or path.suffix not in (".json",):
        return []
    import json

    from appkit.tensor.jsonformat import tensor_from_json

    try:
        tensor = tensor_from_json(json.loads(path.read_text()), c.type)
    except (ValueError, TensorTypeError, KeyError, TypeError) as e:
        return [Diagnostic(AK387, f"constant '{c.name}': {c.file} does not hold a {c.type}: {e}", c.span,
                           hint=f"write the file as Vespa tensor JSON of type {c.type}")]
    if not tensor.type.is_assignable_to(c.type, check_cell_type=False):
        return [Diagnostic(AK387, f"constant '{c.name}': {c.file} holds a {tensor.type}, but it is declared "
                           f"{c.type}", c.span, hint=f"declare it as type: {tensor.type}")]
    return []


def _check_literal(name: str, type_: TensorType, text: str, span: Span) -> list[Diagnostic]:
    from appkit.tensor.literal import parse_tensor_literal

    try:
        parse_tensor_literal(text, type_)
    except (ValueError, TensorTypeError) as e:
        return [Diagnostic(AK388, f"the value of '{name}' is not a {type_}: {e}", span,
                           hint=f"write a literal of type {type_}, e.g. {_example(type_)}")]
    return []


def _example(t: TensorType) -> str:
    if t.is_dense and all(d.size for d in t.dimensions) and t.rank == 1:
        return "[" + ", ".join("0" for _ in range(min(t.dimensions[0].size or 1, 4))) + "]"
    return "{}"
