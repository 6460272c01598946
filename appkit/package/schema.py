"""The typed model of a Vespa schema (.sd) and rank profile (.profile): frozen dataclasses with spans.

Built by appkit/package/sdparse.py. Ranking expressions and feature lists stay raw text (with the span of
their first character) for appkit/expr/parse.py; indexing scripts are parsed (appkit/package/sd_indexing.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from appkit.source import Span
from appkit.tensor.type import TensorType

PRIMITIVE_TYPES = frozenset({"bool", "byte", "int", "long", "string", "float", "double", "uri", "predicate",
                             "raw", "tag", "position", "float16"})
SettingValue = Union[str, int, float, bool, None]
# `expression: file:NAME` (group 1: NAME); the loader appends `.expression` when missing
FILE_REFERENCE = re.compile(r"^file\s*:\s*(\S+)$")


@dataclass(frozen=True)
class Setting:
    """One `key: value` (or bare flag, value True) setting, as written."""

    name: str
    value: SettingValue
    span: Span


def settings_map(settings: tuple[Setting, ...]) -> dict[str, SettingValue]:
    """The settings as a dict (the last one wins, as in Vespa)."""
    return {s.name: s.value for s in settings}


@dataclass(frozen=True)
class ExpressionText:
    """A ranking expression as written; `span` is the position of its first character."""

    text: str
    span: Span

    @property
    def file_reference(self) -> str | None:
        """NAME of `expression: file:NAME` (the loader appends `.expression` when missing)."""
        match = FILE_REFERENCE.match(self.text.strip())
        return match.group(1) if match else None


@dataclass(frozen=True)
class FeatureList:
    """match-features / summary-features / rank-features: the raw list text and what it inherits."""

    kind: str  # "match-features" | "summary-features" | "rank-features"
    text: str
    span: Span
    inherits: tuple[str, ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        """The whitespace-separated features, keeping `f(a, b)` together."""
        return split_features(self.text)


def split_features(text: str) -> tuple[str, ...]:
    features: list[str] = []
    depth, current = 0, ""
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch.isspace() and depth <= 0:
            if current:
                features.append(current)
            current = ""
            continue
        current += ch
    if current:
        features.append(current)
    return tuple(features)


@dataclass(frozen=True)
class DataType:
    """A field type. kind: named (primitive, struct or document name), array, weightedset, map,
    reference, annotationreference, tensor. `args` are element/key/value types."""

    kind: str
    name: str
    span: Span
    args: tuple["DataType", ...] = ()
    tensor_type: TensorType | None = None

    @property
    def is_primitive(self) -> bool:
        return self.kind == "named" and self.name in PRIMITIVE_TYPES

    def __str__(self) -> str:
        if self.kind == "named":
            return self.name
        if self.kind == "tensor":
            return str(self.tensor_type) if self.tensor_type is not None else self.name
        if self.kind in ("reference", "annotationreference"):
            return f"{self.kind}<{self.name}>"
        return f"{self.kind}<{', '.join(str(a) for a in self.args)}>"


@dataclass(frozen=True)
class IndexingFieldRef:
    """A field an indexing script reads (`input`, `get_field`) or writes (`attribute`, `index`, `summary`)."""

    kind: str  # attribute | index | summary | input | passthrough | get_field
    name: str | None  # None: the enclosing field's own name
    span: Span


@dataclass(frozen=True)
class IndexingNode:
    """One indexing-language expression: `op` is the keyword (or literal, statement, script, cat, math,
    choice, if, switch, select_input, paren); `argument` its word/number/string; `children` sub-expressions."""

    op: str
    span: Span
    argument: str | None = None
    children: tuple["IndexingNode", ...] = ()

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class IndexingScript:
    """`indexing: ...` or `indexing { ... }`: the statements and the field references in them."""

    text: str
    span: Span  # position of the first character of `text`
    statements: tuple[IndexingNode, ...]
    multiline: bool = False

    @property
    def field_references(self) -> tuple[IndexingFieldRef, ...]:
        refs = []
        for statement in self.statements:
            for node in statement.walk():
                if node.op in ("attribute", "index", "summary", "input", "passthrough", "get_field"):
                    refs.append(IndexingFieldRef(node.op, node.argument, node.span))
        return tuple(refs)

    def outputs(self, kind: str) -> tuple[IndexingFieldRef, ...]:
        return tuple(r for r in self.field_references if r.kind == kind)


@dataclass(frozen=True)
class AttributeSettings:
    name: str  # the field's name unless `attribute NAME` gives another (deprecated)
    settings: tuple[Setting, ...]
    span: Span
    sorting: tuple[Setting, ...] = ()

    def has(self, flag: str) -> bool:
        return any(s.name == flag for s in self.settings)


@dataclass(frozen=True)
class IndexSettings:
    name: str
    settings: tuple[Setting, ...]
    span: Span
    hnsw: tuple[Setting, ...] | None = None  # None: no hnsw index


@dataclass(frozen=True)
class SummaryField:
    """A summary field, in a field (`summary [NAME] ...`) or in a document-summary."""

    name: str | None  # None in a field: the field's own name
    span: Span
    type: DataType | None = None
    transform: str | None = None  # dynamic | matched-elements-only | full | static | tokens
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    bolding: bool | None = None
    select_elements_by: str | None = None


@dataclass(frozen=True)
class Field:
    name: str
    type: DataType | None  # None for a struct-field (its type comes from the struct)
    span: Span
    indexing: IndexingScript | None = None
    attributes: tuple[AttributeSettings, ...] = ()
    indexes: tuple[IndexSettings, ...] = ()
    match: tuple[Setting, ...] = ()
    rank: tuple[str, ...] = ()
    summaries: tuple[SummaryField, ...] = ()
    struct_fields: tuple["Field", ...] = ()
    aliases: tuple[Setting, ...] = ()  # name: the aliased name (or the field), value: the alias
    sorting: tuple[Setting, ...] = ()
    dictionary: tuple[str, ...] = ()
    weightedset: tuple[str, ...] = ()
    query_commands: tuple[str, ...] = ()
    rank_types: tuple[Setting, ...] = ()
    settings: tuple[Setting, ...] = ()  # stemming, normalizing, bolding, id, weight, linguistics, map

    @property
    def attribute(self) -> AttributeSettings | None:
        """The attribute named like the field (what `attribute: ...` declares)."""
        for a in self.attributes:
            if a.name == self.name:
                return a
        return self.attributes[0] if self.attributes else None

    def setting(self, name: str) -> SettingValue:
        return settings_map(self.settings).get(name)


@dataclass(frozen=True)
class Struct:
    name: str
    span: Span
    inherits: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Annotation:
    name: str
    span: Span
    inherits: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Document:
    name: str
    span: Span
    inherits: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    structs: tuple[Struct, ...] = ()
    annotations: tuple[Annotation, ...] = ()


@dataclass(frozen=True)
class FieldSet:
    name: str
    span: Span
    fields: tuple[str, ...] = ()
    query_commands: tuple[str, ...] = ()
    match: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class DocumentSummary:
    name: str
    span: Span
    inherits: tuple[str, ...] = ()
    fields: tuple[SummaryField, ...] = ()
    from_disk: bool = False
    omit_summary_features: bool = False


@dataclass(frozen=True)
class IndexDecl:
    """`index NAME ...` outside any field (settings for an index, e.g. of a fieldset)."""

    name: str
    span: Span
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class ImportField:
    """`import field REF.TARGET as NAME {}`."""

    reference_field: str
    target_field: str
    name: str
    span: Span


@dataclass(frozen=True)
class ConstantDecl:
    """A constant: schema-level `constant NAME { file/uri/type }` or in a profile's `constants { }`."""

    name: str
    span: Span
    type: TensorType | None = None  # None: a scalar double (or not given, in the deprecated forms)
    value_text: str | None = None  # a literal value, as written
    file: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class OnnxBinding:
    """`input NAME: SOURCE` / `output NAME: AS` of an onnx-model, split at the last ':' as Vespa does."""

    name: str
    source_text: str
    span: Span
    source_span: Span | None = None


@dataclass(frozen=True)
class OnnxModelDecl:
    name: str
    span: Span
    file: str | None = None
    uri: str | None = None
    inputs: tuple[OnnxBinding, ...] = ()
    outputs: tuple[OnnxBinding, ...] = ()
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class Input:
    """A rank-profile input: `query(NAME) TYPE: DEFAULT` or `NAME TYPE: DEFAULT`."""

    name: str
    is_query_form: bool
    span: Span
    type: TensorType | None = None  # None when a scalar (see `type_name`)
    type_name: str | None = None  # double | float | long | string, or None when a tensor type / not given
    default_value_text: str | None = None


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[str, ...]
    expression: ExpressionText
    span: Span
    inline: bool = False


@dataclass(frozen=True)
class Phase:
    """first-phase / second-phase / global-phase."""

    expression: ExpressionText | None
    span: Span
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class MutateOperation:
    phase: str  # on-match | on-first-phase | on-second-phase | on-summary
    attribute: str
    operation: str  # += | -= | =
    value: int | float | None
    span: Span


@dataclass(frozen=True)
class FieldRankSetting:
    """Per-field settings in a profile: `rank F: filter`, `rank F { ... }`, `weight F: N`, `rank-type F: T`."""

    kind: str  # rank | weight | rank-type
    field: str
    span: Span
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class RankProfile:
    name: str
    span: Span
    inherits: tuple[str, ...] = ()
    functions: tuple[Function, ...] = ()
    first_phase: Phase | None = None
    second_phase: Phase | None = None
    global_phase: Phase | None = None
    inputs: tuple[Input, ...] = ()
    constants: tuple[ConstantDecl, ...] = ()
    match_features: tuple[FeatureList, ...] = ()
    summary_features: tuple[FeatureList, ...] = ()
    rank_features: tuple[FeatureList, ...] = ()
    rank_properties: tuple[Setting, ...] = ()
    onnx_models: tuple[OnnxModelDecl, ...] = ()
    settings: tuple[Setting, ...] = ()  # the simple `key: value` settings and flags
    match_phase: tuple[Setting, ...] | None = None
    diversity: tuple[Setting, ...] | None = None
    mutate: tuple[MutateOperation, ...] = ()
    field_settings: tuple[FieldRankSetting, ...] = ()
    profiles: tuple["RankProfile", ...] = ()  # nested profiles (full name outer.inner)
    is_model: bool = False  # declared with `model` instead of `rank-profile`

    def function(self, name: str) -> Function | None:
        for f in self.functions:
            if f.name == name:
                return f
        return None

    def setting(self, name: str) -> SettingValue:
        return settings_map(self.settings).get(name)


@dataclass(frozen=True)
class Schema:
    name: str
    span: Span
    source_path: str
    inherits: tuple[str, ...] = ()
    document: Document | None = None
    fields_outside_document: tuple[Field, ...] = ()
    structs: tuple[Struct, ...] = ()
    annotations: tuple[Annotation, ...] = ()
    fieldsets: tuple[FieldSet, ...] = ()
    document_summaries: tuple[DocumentSummary, ...] = ()
    rank_profiles: tuple[RankProfile, ...] = ()
    constants: tuple[ConstantDecl, ...] = ()
    onnx_models: tuple[OnnxModelDecl, ...] = ()
    imported_fields: tuple[ImportField, ...] = ()
    indexes: tuple[IndexDecl, ...] = ()
    stemming: str | None = None
    raw_as_base64: bool | None = None
    documentid: str | None = None
    document_only: bool = False  # a file of `document` blocks only, no `schema`

    def rank_profile(self, name: str) -> RankProfile | None:
        for p in self.rank_profiles:
            if p.name == name:
                return p
        return None

    @property
    def all_fields(self) -> tuple[Field, ...]:
        doc_fields = self.document.fields if self.document else ()
        return doc_fields + self.fields_outside_document


