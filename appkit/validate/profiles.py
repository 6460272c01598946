"""Rank-profile resolution: inheritance flattened into what a profile really has.

Used by validation (references and types) and by the bundle compiler (compiled profiles), so a
profile means the same thing everywhere. Every schema implicitly has `default` and `unranked`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from appkit.diagnostics import Diagnostic, rule
from appkit.package.schema import ConstantDecl, Function, Input, OnnxModelDecl, Phase, RankProfile, Schema
from appkit.source import Span

AK380 = rule("AK380", "rank profile inherits an unknown profile",
             example="rank-profile b inherits a { } with no profile a",
             fix="inherit a profile defined in this schema (or its parent schema), or remove the inherits")
AK381 = rule("AK381", "rank profiles inherit in a cycle",
             example="rank-profile a inherits b { }  rank-profile b inherits a { }",
             fix="break the cycle: one of the profiles must not inherit the other")
AK382 = rule("AK382", "rank profile defined twice",
             example="two `rank-profile p` blocks in one schema (or a .profile file with the same name)",
             fix="rename one of them or merge them")

IMPLICIT_PROFILES = ("default", "unranked")


@dataclass
class ResolvedProfile:
    """A profile with everything it inherits folded in (own definitions win)."""

    schema: Schema
    profile: RankProfile
    chain: tuple[str, ...]  # this profile, then the ones it inherits, nearest first
    functions: dict[str, Function] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=dict)  # by query feature name
    constants: dict[str, ConstantDecl] = field(default_factory=dict)  # profile-level constants
    onnx_models: dict[str, OnnxModelDecl] = field(default_factory=dict)
    first_phase: Phase | None = None
    second_phase: Phase | None = None
    global_phase: Phase | None = None
    strict: bool = False

    @property
    def name(self) -> str:
        return self.profile.name


def _implicit(schema: Schema, name: str) -> RankProfile:
    return RankProfile(name=name, span=schema.span)


def schema_profiles(schema: Schema, extra: Iterable[RankProfile] = ()) -> tuple[dict[str, RankProfile], list[Diagnostic]]:
    """All profiles of a schema by name (nested ones as outer.inner), reporting duplicates."""
    diagnostics: list[Diagnostic] = []
    found: dict[str, RankProfile] = {}

    def add(profile: RankProfile, prefix: str = "") -> None:
        name = prefix + profile.name
        if name in found and found[name].span != profile.span and name not in IMPLICIT_PROFILES:
            first = found[name].span
            diagnostics.append(Diagnostic(AK382, f"rank profile '{name}' is defined twice in schema "
                                          f"'{schema.name}' (first at {first})", profile.span,
                                          hint=f"rename this profile or merge it into the one at {first}"))
        found[name] = profile
        for inner in profile.profiles:
            add(inner, name + ".")

    for name in IMPLICIT_PROFILES:
        found[name] = _implicit(schema, name)
    for p in tuple(schema.rank_profiles) + tuple(extra):
        add(p)
    return found, diagnostics


def resolve_profiles(schema: Schema, profiles: dict[str, RankProfile],
                     parent_profiles: dict[str, RankProfile] | None = None) -> tuple[dict[str, ResolvedProfile], list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    resolved: dict[str, ResolvedProfile] = {}
    parent_profiles = parent_profiles or {}

    def lookup(name: str) -> RankProfile | None:
        return profiles.get(name) or parent_profiles.get(name)

    def chain_of(profile: RankProfile) -> tuple[str, ...] | None:
        chain: list[str] = []
        order: list[RankProfile] = []
        stack: list[tuple[RankProfile, tuple[str, ...]]] = [(profile, ())]
        while stack:
            current, path = stack.pop(0)
            if current.name in path:
                cycle = " -> ".join(path + (current.name,))
                diagnostics.append(Diagnostic(AK381, f"rank profiles inherit in a cycle: {cycle}", profile.span,
                                              hint=f"remove 'inherits' from one of: {', '.join(path)}"))
                return None
            if current.name in chain:
                continue
            chain.append(current.name)
            order.append(current)
            for parent_name in current.inherits:
                parent = lookup(parent_name)
                if parent is None:
                    if current is profile:
                        known = sorted(n for n in profiles if n != profile.name)
                        diagnostics.append(Diagnostic(
                            AK380, f"rank profile '{profile.name}' inherits '{parent_name}', which is not a "
                            f"rank profile of schema '{schema.name}'", profile.span,
                            hint=f"inherit one of: {', '.join(known)}" if known else "remove the inherits"))
                    continue
                stack.append((parent, path + (current.name,)))
        return tuple(chain)

    for name, profile in profiles.items():
        chain = chain_of(profile)
        if chain is None:
            chain = (name,)
        r = ResolvedProfile(schema, profile, chain)
        members = [profile] + [lookup(n) for n in chain[1:]]
        for member in reversed([m for m in members if m is not None]):
            _fold(r, member)
        resolved[name] = r
    return resolved, diagnostics


def _fold(r: ResolvedProfile, p: RankProfile) -> None:
    for f in p.functions:
        r.functions[f.name] = f
    for i in p.inputs:
        r.inputs[i.name] = i
    for c in p.constants:
        r.constants[c.name] = c
    for m in p.onnx_models:
        r.onnx_models[m.name] = m
    r.first_phase = _phase(p.first_phase, r.first_phase)
    r.second_phase = _phase(p.second_phase, r.second_phase)
    r.global_phase = _phase(p.global_phase, r.global_phase)
    strict = p.setting("strict")
    if strict is not None:
        r.strict = str(strict).lower() == "true"


def _phase(own: Phase | None, inherited: Phase | None) -> Phase | None:
    if own is None:
        return inherited
    if own.expression is None and inherited is not None:
        # a phase that only changes settings keeps the inherited expression
        return Phase(inherited.expression, own.span, inherited.settings + own.settings)
    return own


def span_of(node_span: Span | None, fallback: Span) -> Span:
    return node_span if node_span is not None else fallback
