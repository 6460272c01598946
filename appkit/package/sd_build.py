"""Turns the Lark tree of a .sd/.profile file into the typed model of appkit/package/schema.py.

Also runs the checks Vespa makes in its parser actions (reserved names, duplicate functions, values
out of range, '..' in paths), reporting them as diagnostics with the place they refer to.
"""

from __future__ import annotations

import bisect
import re
from typing import Iterator, Union

from lark import Token, Tree

from appkit.diagnostics import Diagnostic
from appkit.package.sd_codes import AK210, AK211, AK213, AK214, AK216, AK218
from appkit.package import schema as m
from appkit.package.sd_indexing import parse_indexing
from appkit.source import Span, new_span
from appkit.tensor.type import TensorType, TensorTypeError

Node = Union[Tree, Token]


RESERVED_FIELD_NAMES = frozenset({"index", "index_url", "summary", "attribute", "select_input", "host", "documentid",
                                  "position", "split_foreach", "tokenize", "if", "else", "switch", "case",
                                  "sddocname", "relevancy"})
UNIT_INTERVAL_SETTINGS = frozenset({"filter-threshold", "stopword-limit", "adjust-target"})
# Settings where Vespa's grammar takes a DOUBLE token (floatValue()), not an integer.
DECIMAL_SETTINGS = frozenset({"termwise-limit", "post-filter-threshold", "approximate-threshold",
                              "target-hits-max-adjustment-factor", "rank-score-drop-limit", "max-filter-coverage",
                              "evaluation-point", "pre-post-filter-tipping-point", "cutoff-factor",
                              "dense-posting-list-threshold", "filter-first-threshold", "filter-first-exploration",
                              "exploration-slack"})
# Settings where Vespa's grammar takes an INTEGER token (integer()).
INTEGER_SETTINGS = frozenset({"num-threads-per-search", "min-hits-per-thread", "num-search-partitions",
                              "keep-rank-count", "total-keep-rank-count", "rerank-count", "total-rerank-count",
                              "max-hits", "total-max-hits", "min-groups"})
STEMMING = frozenset({"none", "shortest", "best", "multiple", "all-stems"})
_PUNCTUATION = frozenset({"_NL", "LBRACE", "RBRACE", "COLON", "COMMA", "LPAR", "RPAR", "LESSTHAN", "MORETHAN"})
_SPACE_PREFIX = re.compile(r"\s*")
_NEWLINE = re.compile(r"\n")


class Builder:
    """Builds model objects from one file's tree; collects diagnostics in `diagnostics`."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.diagnostics: list[Diagnostic] = []
        self._line_starts: list[int] | None = None

    # ------------------------------------------------------------------ positions
    def span_at(self, offset: int) -> Span:
        if self._line_starts is None:
            self._line_starts = [0] + [match.end() for match in _NEWLINE.finditer(self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return new_span(self.path, line, offset - self._line_starts[line - 1] + 1)

    def span(self, node: Node | None) -> Span:
        if isinstance(node, Token):
            return new_span(self.path, node.line or 1, node.column or 1, node.end_line, node.end_column)
        if isinstance(node, Tree) and getattr(node.meta, "line", None) is not None:
            meta = node.meta
            return new_span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)
        return Span(self.path, 1, 1)

    def error(self, code: str, message: str, node: Node | Span | None, hint: str | None = None) -> None:
        where = node if isinstance(node, Span) else self.span(node)
        self.diagnostics.append(Diagnostic(code, message, where, hint))

    # ------------------------------------------------------------------ atoms
    def name(self, node: Node | None) -> str:
        if node is None:
            return ""
        if isinstance(node, Token):
            return str(node)
        children = node.children
        if len(children) == 1 and isinstance(children[0], Token):  # most names: one token
            return str(children[0])
        return "".join(self.name(c) for c in children)

    def names(self, nodes: list[Node]) -> tuple[str, ...]:
        return tuple(self.name(n) for n in nodes if isinstance(n, Tree) and n.data in ("name", "name_dash"))

    @staticmethod
    def number(node: Node) -> int | float:
        text = str(node.children[0] if isinstance(node, Tree) else node)
        if text.endswith("L"):
            text = text[:-1]
        try:
            return int(text)
        except ValueError:
            return float(text)

    def value(self, node: Node) -> m.SettingValue:
        if isinstance(node, Tree):
            if node.data == "number":
                return self.number(node)
            if node.data == "bool":
                return str(node.children[0]) in ("true", "on")
            return self.name(node)
        if node.type in ("INT_NUM", "LONG_NUM", "DEC_NUM"):
            return self.number(node)
        if node.type == "QSTRING":
            return str(node)[1:-1]
        return str(node)

    def setting(self, node: Tree) -> m.Setting:
        """A `!`-rule setting: its first token is the key, the rest (less punctuation) the value."""
        parts = [c for c in node.children
                 if c is not None and not (isinstance(c, Token) and c.type in _PUNCTUATION)]
        key = self.name(parts[0])
        values = parts[1:]
        if not values:
            value: m.SettingValue = True
        elif len(values) == 1:
            value = self.value(values[0])
        else:
            value = " ".join(str(self.value(v)) for v in values)
        setting = m.Setting(key, value, self.span(parts[0]))
        self._check_setting(setting, values)
        return setting

    def _check_setting(self, setting: m.Setting, values: list[Node]) -> None:
        if setting.name in UNIT_INTERVAL_SETTINGS and isinstance(setting.value, (int, float)) \
                and not 0.0 <= setting.value <= 1.0:
            self.error(AK213, f"{setting.name} must be in [0, 1], got {setting.value}", setting.span,
                       hint=f"set {setting.name} to a value between 0.0 and 1.0")
        if setting.name in INTEGER_SETTINGS and isinstance(setting.value, float):
            self.error(AK216, f"{setting.name} takes an integer, got '{setting.value}'", values[0],
                       hint=f"write {setting.name}: {int(setting.value)}")
        if setting.name in DECIMAL_SETTINGS and isinstance(setting.value, int) and not isinstance(setting.value, bool):
            self.error(AK216, f"{setting.name} takes a decimal number, got '{setting.value}'", values[0],
                       hint=f"write {setting.name}: {setting.value}.0")

    def settings(self, nodes: list[Node], rule_name: str) -> tuple[m.Setting, ...]:
        return tuple(self.setting(n) for n in nodes if isinstance(n, Tree) and n.data == rule_name)

    def tensor_type(self, token: Token) -> TensorType | None:
        try:
            return TensorType.parse(str(token))
        except TensorTypeError as e:
            self.error(AK210, f"invalid tensor type '{token}': {e}", token,
                       hint="e.g. tensor<float>(x[3]) (indexed) or tensor(key{}) (mapped)")
            return None

    def path_value(self, node: Tree, kind: str) -> str:
        value = self.name(node.children[-1])
        if ".." in value.split("/"):
            self.error(AK214, f"'..' is not allowed in {kind} path '{value}'", node.children[-1],
                       hint="refer to files inside the application package, relative to its root")
        return value

    def raw_text(self, token: Token, start: int) -> tuple[str, Span]:
        """The text of a capture token from index `start` of its image, trimmed, with the span of its start."""
        image = str(token)
        body = image[start:]
        lead = len(_SPACE_PREFIX.match(body).group(0))  # type: ignore[union-attr]
        return body.strip(), self.span_at((token.start_pos or 0) + start + lead)

    # ------------------------------------------------------------------ types
    def data_type(self, node: Tree) -> m.DataType:
        span = self.span(node)
        kind = node.data
        kids = node.children
        if kind == "tensor_type":
            return m.DataType("tensor", str(kids[0]), span, (), self.tensor_type(kids[0]))
        if kind == "named_type":
            return m.DataType("named", self.name(kids[0]), span)
        if kind == "old_array_type":
            element = m.DataType("named", self.name(kids[0]), span)
            return m.DataType("array", "array", span, (element,))
        if kind in ("reference_type", "annotationreference_type"):
            return m.DataType(kind[: -len("_type")], self.name(kids[0]), span)
        args = tuple(self.data_type(k) for k in kids if isinstance(k, Tree))
        return m.DataType(kind[: -len("_type")], kind[: -len("_type")], span, args)

    # ------------------------------------------------------------------ fields
    def field(self, node: Tree, struct_field: bool = False) -> m.Field:
        kids = node.children
        name = self.name(kids[0])
        if name.lower() in RESERVED_FIELD_NAMES:
            self.error(AK211, f"reserved name '{name}' can not be used as a field name", kids[0],
                       hint=f"rename the field, e.g. '{name}_value'")
        data_type = None if struct_field else self.data_type(kids[1])
        body = kids[1:] if struct_field else kids[2:]
        return self.field_body(name, data_type, self.span(node), body)

    def field_body(self, name: str, data_type: m.DataType | None, span: Span, body: list[Node]) -> m.Field:
        parts: dict[str, list] = {k: [] for k in ("attributes", "indexes", "match", "rank", "summaries",
                                                  "struct_fields", "aliases", "sorting", "dictionary",
                                                  "weightedset", "query_commands", "rank_types", "settings")}
        indexing = None
        for item in body:
            if isinstance(item, Token):
                if item.type == "INDEXING_SCRIPT":
                    indexing = self.indexing(item)
                continue
            self._field_item(item, name, parts)
        return m.Field(name, data_type, span, indexing, **{k: tuple(v) for k, v in parts.items()})

    def _field_item(self, item: Tree, field_name: str, parts: dict[str, list]) -> None:
        kind, kids = item.data, item.children
        if kind == "attribute":
            attr_name = self.name(kids[0]) if kids[0] is not None else field_name
            settings = [s for s in kids[1:] if isinstance(s, Tree)]
            flat = tuple(self.setting(s) for s in settings if not self._is_sorting(s))
            sorting = tuple(x for s in settings if self._is_sorting(s) for x in self.sorting(s.children[0]))
            parts["attributes"].append(m.AttributeSettings(attr_name, flat, self.span(item), sorting))
        elif kind == "index":
            parts["indexes"].append(self.index(item, field_name))
        elif kind == "match":
            parts["match"].extend(self.match(item))
        elif kind in ("rank", "dictionary", "weightedset_setting"):
            key = {"rank": "rank", "dictionary": "dictionary", "weightedset_setting": "weightedset"}[kind]
            parts[key].extend(str(t) for t in kids if isinstance(t, Token) and t.type not in _PUNCTUATION)
        elif kind in ("summary_short", "summary_long"):
            parts["summaries"].append(self.summary(item, in_field=True))
        elif kind == "struct_field":
            parts["struct_fields"].append(self.field(item, struct_field=True))
        elif kind == "alias":
            aliased = self.name(kids[0]) if kids[0] is not None else field_name
            parts["aliases"].append(m.Setting(aliased, self.name(kids[1]), self.span(item)))
        elif kind == "sorting":
            parts["sorting"].extend(self.sorting(item))
        elif kind == "query_command":
            parts["query_commands"].append(str(self.value(kids[0])))
        elif kind == "rank_type":
            index_name = self.name(kids[0]) if kids[0] is not None else ""
            parts["rank_types"].append(m.Setting(index_name, self.name(kids[1]), self.span(item)))
        elif kind == "summary_to":
            summary_name = self.name(kids[0]) if kids[0] is not None else None
            parts["summaries"].append(m.SummaryField(summary_name, self.span(item),
                                                     destinations=self.names(kids[1:])))
        else:
            parts["settings"].append(self.simple_field_setting(item))

    @staticmethod
    def _is_sorting(node: Tree) -> bool:
        return bool(node.children) and isinstance(node.children[0], Tree) and node.children[0].data == "sorting"

    def simple_field_setting(self, item: Tree) -> m.Setting:
        kind, kids = item.data, item.children
        key = kind.replace("_setting", "").replace("_", "-")
        if kind == "linguistics":
            value = " ".join(f"{self.name(p)}" for k in kids if isinstance(k, Tree) for p in k.scan_values(
                lambda v: isinstance(v, Token)))
            return m.Setting(key, value, self.span(item))
        if kind == "map_setting":
            return m.Setting("map", "fast-search", self.span(item))
        value = self.value(kids[0]) if kids else True
        if kind == "stemming" and isinstance(value, str) and value.lower() not in STEMMING:
            self.error(AK218, f"unknown stemming setting '{value}'", kids[0],
                       hint="use one of: none, shortest, best, multiple")
        return m.Setting(key, value, self.span(item))

    def sorting(self, node: Tree) -> list[m.Setting]:
        return [self.setting(s) for s in node.children if isinstance(s, Tree)]

    def index(self, node: Tree, default_name: str) -> m.IndexSettings:
        kids = node.children
        name = self.name(kids[0]) if kids[0] is not None else default_name
        settings, hnsw = [], None
        for item in kids[1:]:
            if not isinstance(item, Tree):
                continue
            first = item.children[0]
            if isinstance(first, Token) and str(first) == "hnsw":
                hnsw = tuple(self.setting(h) for h in item.children if isinstance(h, Tree))
                continue
            settings.append(self.setting(item))
        return m.IndexSettings(name, tuple(settings), self.span(node), hnsw)

    def match(self, node: Tree) -> list[m.Setting]:
        out = []
        for item in node.children:
            if isinstance(item, Token) and item.type not in _PUNCTUATION:
                out.append(m.Setting(str(item), True, self.span(item)))
            elif isinstance(item, Tree):
                out.append(self.setting(item))
        return out

    def summary(self, node: Tree, in_field: bool) -> m.SummaryField:
        kids = node.children
        name = self.name(kids[0]) if kids and kids[0] is not None else None
        data_type = None
        transform = None
        items = kids[1:]
        if node.data == "summary_short":
            transform = str(kids[1])
            items = []
        elif len(kids) > 1 and isinstance(kids[1], Tree) and kids[1].data.endswith("_type"):
            data_type = self.data_type(kids[1])
            items = kids[2:]
        elif len(kids) > 1 and kids[1] is None:
            items = kids[2:]
        sources: list[str] = []
        destinations: list[str] = []
        bolding = select = None
        for item in items:
            if not isinstance(item, Tree):
                continue
            first = str(item.children[0])
            rest = [c for c in item.children[1:] if not (isinstance(c, Token) and c.type in _PUNCTUATION)]
            if first == "source":
                sources.extend(self.name(r) for r in rest if not (isinstance(r, Token) and str(r) == "source"))
            elif first == "to":
                destinations.extend(self.name(r) for r in rest)
            elif first == "bolding":
                bolding = self.value(rest[0]) is True
            elif first.startswith("select-elements-by"):
                select = first[first.index(":") + 1:].strip()
            else:
                transform = first
        return m.SummaryField(name, self.span(node), data_type, transform, tuple(sources), tuple(destinations),
                              bolding, select)

    def indexing(self, token: Token) -> m.IndexingScript | None:
        image = str(token)
        colon = image.find(":")
        brace = image.find("{")
        multiline = colon < 0 or (0 <= brace < colon)
        start = brace if multiline else colon + 1
        text, _ = self.raw_text(token, start)
        lead = len(image[start:]) - len(image[start:].lstrip())
        offset = (token.start_pos or 0) + start + lead
        script, found = parse_indexing(text, offset, multiline, self.span_at)
        self.diagnostics.extend(found)
        return script

    # ------------------------------------------------------------------ iteration helpers
    @staticmethod
    def trees(nodes: list[Node], *kinds: str) -> Iterator[Tree]:
        for n in nodes:
            if isinstance(n, Tree) and (not kinds or n.data in kinds):
                yield n
