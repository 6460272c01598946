"""The errors of ranking and serving (AK600-AK614): one exception that knows its code, the field or
document it is about, a hint, and the HTTP status a server answers with.

`appkit rank` renders them as located diagnostics; `appkit serve` as {"error": {...}} JSON bodies.
"""

from __future__ import annotations

from typing import Any

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.source import Span

AK600 = rule("AK600", "document line is not JSON", example='{"put": "id:ns:item::1", "fields": {',
             fix="write one complete JSON object per line (JSON Lines)")
AK601 = rule("AK601", "not a Vespa document", example='{"remove": "id:ns:item::1"} or a JSON list',
             fix='give a put operation {"put": "id:ns:item::1", "fields": {...}} or a bare field map {...}')
AK602 = rule("AK602", "document lacks a field the rank profile reads",
             example="a document without 'embedding' for a profile using attribute(embedding)",
             fix='add the field to the document: "embedding": {"values": [0.1, 0.2, 0.3, 0.4]}')
AK603 = rule("AK603", "document field value does not fit the field's type",
             example='"embedding": [1, 2] for a tensor<float>(x[4]) field',
             fix="write the value with the field's type, e.g. {\"values\": [1, 2, 3, 4]} for tensor<float>(x[4])")
AK604 = rule("AK604", "query value cannot be read or has the wrong type",
             example="--query 'query(q)=[1,2]' for an input declared tensor<float>(x[4])",
             fix="give a value of the declared type: --query 'query(q)=[1,2,3,4]'")
AK605 = rule("AK605", "query value names no input of the rank profile",
             example="--query 'query(qq)=[1,2,3,4]' where the profile declares query(q)",
             fix="use a name the profile declares in inputs { }, e.g. query(q)")
AK606 = rule("AK606", "rank profile not in the bundle", example="--profile item/missing",
             fix="pick one of the profiles the bundle lists, written SCHEMA/PROFILE (e.g. item/base)")
AK607 = rule("AK607", "rank profile cannot be evaluated by appkit",
             example="a first-phase using bm25(title), which needs Vespa's index",
             fix="rank with a profile whose phases use attributes, query inputs, constants and functions only")
AK608 = rule("AK608", "bundle cannot be loaded for ranking",
             example="a version whose constants/W.npy is missing or unreadable",
             fix="deploy again (appkit deploy), or activate another version")
AK609 = rule("AK609", "no deployed version to rank with", example="appkit rank --version 7 in a store holding 1..3",
             fix="deploy first (appkit deploy), or pick a version `appkit versions` lists")
AK610 = rule("AK610", "ranking request is not valid", example='POST /v1/rank/item/base with {"docs": []}',
             fix='send {"documents": [...], "query": {"query(q)": [...]}}')
AK611 = rule("AK611", "internal error while serving a request",
             example="a bug in appkit met while ranking", fix="report it with the server log line that names it")
AK612 = rule("AK612", "document lacks the value of a rank feature appkit cannot compute",
             example="a document without a value for bm25(title), which needs Vespa's index",
             fix='give the value beside the fields: '
                 '{"put": ..., "fields": {...}, "rankfeatures": {"bm25(title)": 1.5}}')


class RankingError(Exception):
    """A problem with ranking input or a bundle, in the user's words, with where it is."""

    def __init__(self, code: str, message: str, hint: str | None = None, *, field: str | None = None,
                 document: int | None = None, document_id: str | None = None, line: int | None = None,
                 status: int = 400, severity: Severity = Severity.ERROR):
        super().__init__(message)
        self.code, self.message, self.hint, self.field = code, message, hint, field
        self.document, self.document_id, self.line, self.status = document, document_id, line, status
        self.severity = severity

    def to_diagnostic(self, path: str | None = None) -> Diagnostic:
        span = Span(path, self.line or 1, 1) if path else None
        return Diagnostic(self.code, self.message, span, self.hint, self.severity)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        for key in ("field", "document", "document_id", "hint"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body


def document_label(index: int, doc_id: str | None, line: int | None = None) -> str:
    """'document 3 (id:ns:item::x)' or 'line 3 (id:...)': how messages name a document."""
    where = f"line {line}" if line is not None else f"document {index}"
    return f"{where} ({doc_id})" if doc_id else where
