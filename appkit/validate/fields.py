"""What a schema's fields are (attributes, their types, imported fields), and the rules about them:
services.xml ↔ schemas, references to global documents, imported fields, field settings, indexing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.package.app import ApplicationPackage
from appkit.package.schema import DataType, Field, Schema
from appkit.source import Span
from appkit.tensor.type import TensorType

AK150 = rule("AK150", "document type in services.xml has no schema",
             example='<document type="music" mode="index"/> with no schemas/music.sd',
             fix="add schemas/music.sd, or correct the type name in services.xml")
AK151 = rule("AK151", "schema is not deployed to any content cluster", Severity.WARNING,
             example="schemas/extra.sd that no <document type=...> in services.xml names",
             fix='add <document type="extra" mode="index"/> to a content cluster, or remove the schema')
AK152 = rule("AK152", "referenced document type is not global",
             example='field r type reference<ads> where services.xml has <document type="ads" mode="index"/>',
             fix='mark it global in services.xml: <document type="ads" mode="index" global="true"/>')
AK153 = rule("AK153", "imported field does not resolve",
             example="import field ref.price as p {} where ref is not a reference field",
             fix="import through a field of type reference<T>, and name an attribute of T")
AK250 = rule("AK250", "reference to an unknown document type",
             example="field r type reference<nosuchdoc>", fix="reference a document type defined by a schema")
AK251 = rule("AK251", "setting not legal for the field's type",
             example="distance-metric on a string field", fix="remove the setting or change the field's type")
AK252 = rule("AK252", "tensor attribute with an unbound dimension",
             example="field e type tensor(x[]) { indexing: attribute }",
             fix="give the indexed dimension a size: tensor(x[384])")
AK253 = rule("AK253", "indexing refers to an unknown field",
             example="indexing: input nosuch | attribute", fix="name a field of the document")
AK254 = rule("AK254", "field defined twice", example="two `field title` in one document",
             fix="remove or rename one of them")
AK255 = rule("AK255", "hnsw index on a field that cannot have one",
             example="index: hnsw on a tensor(x{}) or a non-tensor field",
             fix="hnsw needs a tensor attribute with one indexed dimension, e.g. tensor<float>(x[384])")

PRIMITIVE_ATTRIBUTE_TYPES = {"bool", "byte", "int", "long", "float", "double", "float16", "string",
                             "predicate", "raw", "uri", "position"}


@dataclass
class SchemaIndex:
    """The fields of one schema as rank features see them."""

    schema: Schema
    fields: dict[str, Field] = field(default_factory=dict)
    attributes: dict[str, TensorType] = field(default_factory=dict)  # attribute(x) -> type
    imported: dict[str, TensorType] = field(default_factory=dict)  # imported attribute -> type
    references: dict[str, str] = field(default_factory=dict)  # reference field -> target document

    def attribute_type(self, name: str) -> TensorType | None:
        return self.attributes.get(name) or self.imported.get(name)


def is_attribute(f: Field) -> bool:
    return f.indexing is not None and any(r.name in (None, f.name) for r in f.indexing.outputs("attribute"))


def attribute_value_type(t: DataType | None) -> TensorType:
    if t is not None and t.kind == "tensor" and t.tensor_type is not None:
        return t.tensor_type
    return TensorType.scalar()  # numeric, string (hashed), reference: a number as a rank feature


def index_schemas(package: ApplicationPackage) -> dict[str, SchemaIndex]:
    indexes: dict[str, SchemaIndex] = {}
    for schema in package.schemas:
        ix = SchemaIndex(schema)
        for f in schema.all_fields:
            ix.fields.setdefault(f.name, f)
            if is_attribute(f):
                ix.attributes[f.name] = attribute_value_type(f.type)
            if f.type is not None and f.type.kind == "reference":
                ix.references[f.name] = f.type.name
        indexes[schema.name] = ix
        if schema.document and schema.document.name != schema.name:
            indexes.setdefault(schema.document.name, ix)
    for ix in list(indexes.values()):  # imported fields need every schema indexed first
        for imp in ix.schema.imported_fields:
            target = indexes.get(ix.references.get(imp.reference_field, ""))
            if target is not None and imp.target_field in target.attributes:
                ix.imported[imp.name] = target.attributes[imp.target_field]
    return indexes


def check_services_and_schemas(package: ApplicationPackage, indexes: dict[str, SchemaIndex]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    services = package.services
    if services is None:
        return out
    deployed: dict[str, object] = {}
    for cluster in getattr(services, "content_clusters", ()):
        for doc in cluster.documents:
            deployed[doc.type] = doc
            if doc.type not in indexes and doc.type not in package.unparsed_schemas:
                known = ", ".join(sorted(indexes)) or "none"
                out.append(Diagnostic(AK150, f"content cluster '{cluster.id}' deploys document type '{doc.type}', "
                                      f"but no schema defines it (schemas: {known})", doc.span,
                                      hint=f"add schemas/{doc.type}.sd with `schema {doc.type} {{ document {doc.type} {{ }} }}`"))
    if not getattr(services, "content_clusters", ()):
        return out
    for schema in package.schemas:
        misnamed = Path(schema.source_path).stem != schema.name  # reported by the parser already
        if schema.document is not None and schema.name not in deployed and not schema.document_only and not misnamed:
            out.append(Diagnostic(AK151, f"schema '{schema.name}' is not deployed: no content cluster in "
                                  "services.xml lists it", schema.span,
                                  hint=f'add <document type="{schema.name}" mode="index"/> to <documents>'))
    for name, ix in indexes.items():
        if ix.schema.name != name:
            continue
        for field_name, target in ix.references.items():
            doc = deployed.get(target)
            f = ix.fields[field_name]
            if doc is not None and not getattr(doc, "global_", False):
                out.append(Diagnostic(AK152, f"field '{field_name}' references document type '{target}', which "
                                      "is not global in services.xml", f.span,
                                      hint=f'set global="true": <document type="{target}" mode="{doc.mode}" global="true"/>'))
    return out


def check_fields(package: ApplicationPackage, indexes: dict[str, SchemaIndex]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for schema in package.schemas:
        ix = indexes[schema.name]
        seen: dict[str, Span] = {}
        for f in schema.all_fields:
            if f.name in seen:
                out.append(Diagnostic(AK254, f"field '{f.name}' is defined twice (first at {seen[f.name]})", f.span,
                                      hint="remove or rename one of the two"))
            seen.setdefault(f.name, f.span)
            out.extend(_field_rules(f, ix, indexes))
        out.extend(_import_rules(schema, ix, indexes))
    return out


def _field_rules(f: Field, ix: SchemaIndex, indexes: dict[str, SchemaIndex]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    t = f.type
    tensor = t.tensor_type if t is not None and t.kind == "tensor" else None
    if t is not None and t.kind == "reference" and t.name not in indexes:
        out.append(Diagnostic(AK250, f"field '{f.name}' references document type '{t.name}', which no schema defines",
                              t.span, hint=f"define schema {t.name}, or reference one of: {', '.join(sorted(indexes))}"))
    for attr in f.attributes:
        for s in attr.settings:
            if s.name == "distance-metric" and tensor is None:
                out.append(Diagnostic(AK251, f"distance-metric is set on field '{f.name}' of type {t}, but only "
                                      "tensor fields have a distance metric", s.span,
                                      hint="remove the distance-metric line"))
    if tensor is not None and is_attribute(f):
        unbound = [d.name for d in tensor.indexed_dimensions if d.size is None]
        if unbound:
            out.append(Diagnostic(AK252, f"tensor attribute '{f.name}' has unbound dimension '{unbound[0]}' in "
                                  f"{tensor}; attributes need sizes", t.span if t else f.span,
                                  hint=f"give it a size, e.g. {unbound[0]}[384]"))
    for index in f.indexes:
        if index.hnsw is not None:
            ok = tensor is not None and len(tensor.indexed_dimensions) == 1 and is_attribute(f)
            if not ok:
                out.append(Diagnostic(AK255, f"field '{f.name}' of type {t} has an hnsw index; hnsw needs a tensor "
                                      "attribute with exactly one indexed dimension", index.span,
                                      hint="use a tensor type like tensor<float>(x[384]) with indexing: attribute | index"))
    if f.indexing is not None:
        for ref in f.indexing.field_references:
            if ref.kind in ("input", "get_field") and ref.name and ref.name not in ix.fields:
                out.append(Diagnostic(AK253, f"indexing of field '{f.name}' reads field '{ref.name}', which the "
                                      "document does not have", ref.span,
                                      hint=f"use one of: {', '.join(sorted(ix.fields)[:8])}"))
    return out


def _import_rules(schema: Schema, ix: SchemaIndex, indexes: dict[str, SchemaIndex]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for imp in schema.imported_fields:
        ref_field = ix.fields.get(imp.reference_field)
        if ref_field is None or ref_field.type is None or ref_field.type.kind != "reference":
            what = (f"schema '{schema.name}' has no field '{imp.reference_field}'" if ref_field is None else
                    f"field '{imp.reference_field}' is a {ref_field.type}, not a reference to another document")
            out.append(Diagnostic(AK153, f"import field {imp.reference_field}.{imp.target_field}: {what}", imp.span,
                                  hint=f"add `field {imp.reference_field} type reference<TARGET> {{ indexing: attribute }}` to the document"))
            continue
        target = indexes.get(ref_field.type.name)
        if target is None:
            continue  # reported as AK250 on the reference field
        if imp.target_field not in target.attributes:
            exists = imp.target_field in target.fields
            why = "is not an attribute" if exists else "does not exist"
            out.append(Diagnostic(AK153, f"import field {imp.reference_field}.{imp.target_field}: field "
                                  f"'{imp.target_field}' of '{ref_field.type.name}' {why}", imp.span,
                                  hint=(f"add `indexing: attribute` to field '{imp.target_field}' of '{ref_field.type.name}'"
                                        if exists else f"import one of: {', '.join(sorted(target.attributes)) or 'no attributes'}")))
    return out
