"""Query profile types (search/query-profiles/types/*.xml): the tensor types of query(x) features.

A field named `ranking.features.query(q)` (or `query(q)`, `input.query(q)`, `rankfeature.query(q)`)
declares the type of the query feature `q`. Query profiles themselves are only checked to be XML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appkit.diagnostics import Diagnostic, rule
from appkit.package.xmlsafe import XmlDocument, parse_xml
from appkit.source import Span
from appkit.tensor.type import TensorType, TensorTypeError

AK140 = rule("AK140", "query feature type is not a tensor type",
             example='<field name="ranking.features.query(q)" type="tensor<float>(x[3"/>',
             fix="write the type as tensor<CELL>(dim[N],...), with < and > escaped as &lt; &gt; in XML")
AK141 = rule("AK141", "query feature declared twice with different types",
             example='query(q) as tensor(x[3]) in root.xml and as tensor(x[4]) in other.xml',
             fix="declare each query feature once, or give both declarations the same type")
AK142 = rule("AK142", "query profile root element is wrong",
             example="<query-profile-type> in search/query-profiles/default.xml",
             fix="query profiles have <query-profile> (or <query-profile-variants>) as root; types live in types/")

_FEATURE = re.compile(r"^(?:ranking\.features\.|rankfeature\.|input\.)?query\((.+)\)$")
_NUMERIC = {"double", "float", "integer", "long", "int", "byte", "short", "number"}
_PROFILE_ROOTS = ("query-profile", "query-profile-variants")


@dataclass(frozen=True)
class QueryFeature:
    """A query(name) input declared in a query profile type, with its tensor type."""

    name: str
    type: TensorType
    span: Span
    profile_type: str = ""  # id of the query profile type that declares it


def query_feature_name(field_name: str) -> str | None:
    """'q' for 'ranking.features.query(q)' (and its aliases); None for other fields."""
    m = _FEATURE.match(field_name.strip())
    if m is None:
        return None
    return m.group(1).strip().strip("'\"")


def parse_query_profile_types(dir: Path, root: Path) -> tuple[dict[str, QueryFeature], list[Diagnostic]]:
    """Every query feature declared in `dir`/*.xml, keyed by its name; the query profiles beside
    `dir` (search/query-profiles/*.xml) are checked to be well-formed too."""
    from appkit.package.xmlcheck import check_structure

    features: dict[str, QueryFeature] = {}
    diags: list[Diagnostic] = []
    for path in sorted(p for p in Path(dir).glob("*.xml") if p.is_file()):
        doc, found = parse_xml(path, _display(path))
        diags.extend(found)
        if doc is None:
            continue
        diags.extend(check_structure(doc, doc.tree, "query-profile-type.rng"))
        for feature, problem in _features(doc):
            if problem is not None:
                diags.append(problem)
                continue
            diags.extend(_remember(features, feature))
    if Path(dir).name == "types":
        diags.extend(check_query_profiles(Path(dir).parent, root))
    return features, diags


def _features(doc: XmlDocument) -> list[tuple[Any, Diagnostic | None]]:
    out: list[tuple[Any, Diagnostic | None]] = []
    type_id = doc.root.get("id", "")
    for field in doc.root.iter("field"):
        name = query_feature_name(field.get("name", ""))
        type_text = field.get("type")
        if name is None or type_text is None:
            continue
        span = doc.span(field, "type")
        stripped = type_text.strip()
        if stripped in _NUMERIC:
            out.append((QueryFeature(name, TensorType.scalar(), span, type_id), None))
            continue
        if not stripped.startswith("tensor"):
            continue  # e.g. a string query property: not a ranking feature type appkit checks
        try:
            out.append((QueryFeature(name, TensorType.parse(stripped), span, type_id), None))
        except TensorTypeError as e:
            out.append((None, Diagnostic(AK140, f"query({name}) has type '{type_text}', which is not a tensor "
                                         f"type: {e}", span,
                                         hint="write e.g. type=\"tensor&lt;float&gt;(x[3])\" (cell type double, "
                                         "float, bfloat16 or int8; dimensions name[N], name[] or name{})")))
    return out


def _remember(features: dict[str, QueryFeature], feature: QueryFeature) -> list[Diagnostic]:
    known = features.get(feature.name)
    if known is None:
        features[feature.name] = feature
        return []
    if known.type == feature.type:
        return []
    return [Diagnostic(AK141, f"query({feature.name}) is declared as {feature.type} here but as {known.type} at "
                       f"{known.span}", feature.span,
                       hint=f"use one type for query({feature.name}), e.g. type=\"{_xml_escape(str(known.type))}\"")]


def check_query_profiles(dir: Path, root: Path) -> list[Diagnostic]:
    """Query profiles (search/query-profiles/*.xml): well-formed, with a query-profile root."""
    diags: list[Diagnostic] = []
    for path in sorted(p for p in Path(dir).glob("*.xml") if p.is_file()):
        doc, found = parse_xml(path, _display(path))
        diags.extend(found)
        if doc is None:
            continue
        tag = doc.root.tag if isinstance(doc.root.tag, str) else ""
        if tag not in _PROFILE_ROOTS:
            diags.append(Diagnostic(AK142, f"<{tag}> is not a query profile: the root must be <query-profile>",
                                    doc.span(doc.root),
                                    hint="query profile types go in search/query-profiles/types/"
                                    if tag == "query-profile-type" else "use <query-profile id=\"...\">"))
    return diags


def _display(path: Path) -> str:
    from appkit.package.app import display_path

    return display_path(path)


def _xml_escape(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")
