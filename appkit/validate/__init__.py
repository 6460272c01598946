"""Validation: every reference and every type in a loaded package, reported as diagnostics.

`validate_package(package)` runs each concern in turn: expressions parse, services.xml ↔ schemas,
fields and imported fields, rank-profile inheritance, features and constants, types of every
expression, and models (features resolve, inputs have fitting functions). It returns everything.
"""

from __future__ import annotations

from appkit.diagnostics import Diagnostic
from appkit.expr import ir
from appkit.expr.typecheck import FunctionDef, TypeContext, check_types
from appkit.package.app import ApplicationPackage
from appkit.validate.expressions import parse_expression_source, parse_package_expressions
from appkit.validate.fields import check_fields, check_services_and_schemas, index_schemas
from appkit.validate.models import ModelResolver, check_model_inputs, model_feature_nodes
from appkit.validate.onnx_models import OnnxDeclarations, check_bindings, unknown_model_features
from appkit.validate.profiles import resolve_profiles, schema_profiles
from appkit.validate.ranking import check_constants, check_profile, profile_features
from appkit.workers import fork_map

# Below this many rank profiles, a second process costs more than it saves.
_FORK_FROM_PROFILES = 300


def validate_package(package: ApplicationPackage, use_cache: bool = True) -> list[Diagnostic]:
    parsed, diagnostics = parse_package_expressions(package)
    unplaced = parsed.unplaced()
    indexes = index_schemas(package)
    diagnostics += check_services_and_schemas(package, indexes)
    diagnostics += check_fields(package, indexes)
    resolver = ModelResolver(package, use_cache)
    weights = [len(s.rank_profiles) + 1 for s in package.schemas]
    if sum(weights) >= _FORK_FROM_PROFILES:
        resolver.preload()  # each model imported once, before the work is shared

    def check_schema(schema) -> tuple[list[Diagnostic], dict]:
        found = check_constants(package, schema.constants)
        resolved, problems = resolved_profiles(package, schema)
        found += problems
        for profile in resolved.values():
            found += check_constants(package, profile.profile.constants)
            problems = _check_profile(package, profile, indexes[schema.name], unplaced, resolver)
            if problems:  # found on trees placed at 1:1: again where the expressions are, for the places
                problems = _check_profile(package, profile, indexes[schema.name], parsed, resolver)
            found += problems
        return found, resolver.uses()

    for found, uses in fork_map(check_schema, package.schemas, weights, _FORK_FROM_PROFILES):
        diagnostics += found
        resolver.adopt(uses)
    resolver.import_unused()  # Vespa imports every model under models/: a broken one fails the deploy
    diagnostics += resolver.diagnostics
    return diagnostics


def resolved_profiles(package: ApplicationPackage, schema):
    """The schema's profiles (own, from .profile files, and its parent schema's) with inheritance folded in."""
    extra = [pf.profile for pf in package.profile_files if pf.schema == schema.name]
    profiles, diagnostics = schema_profiles(schema, extra)
    parent_profiles: dict = {}
    for parent_name in schema.inherits:
        parent = package.schema(parent_name)
        if parent is not None:
            parent_extra = [pf.profile for pf in package.profile_files if pf.schema == parent_name]
            parent_profiles.update(schema_profiles(parent, parent_extra)[0])
    resolved, found = resolve_profiles(schema, profiles, parent_profiles)
    return resolved, diagnostics + found


def _check_profile(package, profile, index, parsed, resolver) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    expressions = [(f.expression, parsed[f.expression]) for f in profile.functions.values() if f.expression in parsed]
    for phase in (profile.first_phase, profile.second_phase, profile.global_phase):
        if phase is not None and phase.expression in parsed:
            expressions.append((phase.expression, parsed[phase.expression]))
    model_types, uses = {}, []
    for text, expr in expressions:
        for node in model_feature_nodes([expr]):
            key, output_type, model, found = resolver.resolve(node, text.span)
            out += found
            if output_type is not None:
                model_types[key] = output_type
                uses.append((model, node, text.span))
    schema_constants = {c.name: c for c in profile.schema.constants}
    features = profile_features(profile, index, package.query_features, schema_constants, model_types)
    functions = {n: FunctionDef(tuple(f.params), parsed[f.expression])
                 for n, f in profile.functions.items() if f.expression in parsed}
    out += _check_onnx_models(package, profile, functions, features, expressions)
    out += check_profile(profile, index, features, functions, parsed, package.query_features)
    if uses:
        context = TypeContext(features=features, functions=functions)
        types = {n: check_types(d.body, context)[0] for n, d in functions.items() if not d.params}
        for model, node, where in uses:
            out += check_model_inputs(model, node, where, profile.name, types, set(profile.functions))
    return out


def _check_onnx_models(package, profile, functions, features, expressions) -> list[Diagnostic]:
    """onnx-model declarations of the profile and its schema; adds their outputs to `features`."""
    declarations = {d.name: d for d in profile.schema.onnx_models}
    declarations.update(profile.onnx_models)
    out = unknown_model_features(expressions, set(declarations), profile.name)
    if not declarations:
        return out
    decls = OnnxDeclarations(package, declarations)
    out += decls.diagnostics
    # bindings are resolved where a model is used (or declared), as Vespa resolves them per profile
    used = {n.args[0].name for _, e in expressions for n in ir.features_of(e)
            if n.name in ("onnx", "onnxModel") and len(n.args) == 1 and isinstance(n.args[0], ir.Ref)}
    own = {d.name for d in profile.profile.onnx_models}
    decls.infos = {name: info for name, info in decls.infos.items() if name in used | own}
    context = TypeContext(features=features, functions=functions)

    def source_type(text, span):
        expr, problems = parse_expression_source(text, span)
        if expr is None:
            out.extend(problems)
            return None
        result, problems = check_types(expr, context)
        out.extend(problems)
        return result

    problems, symbols = check_bindings(decls, profile.name, set(profile.functions), source_type)
    out += problems
    features.update(decls.feature_types(symbols))
    return out
