"""Structure checks of XML files against appkit's RelaxNG, with messages that name the element and the fix.

lxml/libxml2 decides valid or invalid; when a file is invalid, the failing elements are explained
from a table derived from the same .rng files (allowed children, attributes and values per context).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from lxml import etree

from appkit.diagnostics import Diagnostic, rule
from appkit.package.xmlsafe import XmlDocument, local_name, parse_own_file, relaxng

AK110 = rule("AK110", "element not allowed here",
             example="<content version='1.0'>\n  <thread count='2'/>\n</content>",
             fix="remove the element, or move it to where it belongs; the hint lists what is allowed")
AK111 = rule("AK111", "required element missing",
             example="<documents>  (no <document type=... mode=.../> inside)",
             fix="add the element named in the message")
AK112 = rule("AK112", "attribute not allowed here",
             example="<document type='music' mode='index' globl='true'/>",
             fix="remove the attribute or correct its name; the hint lists the attributes allowed")
AK113 = rule("AK113", "required attribute missing",
             example="<container id='default'>  (no version='1.0')",
             fix="add the attribute named in the message")
AK114 = rule("AK114", "invalid value",
             example="<document type='music' mode='indexed'/>",
             fix="use one of the values the message lists")
AK115 = rule("AK115", "element given more often than allowed",
             example="<services>\n  <admin version='2.0'>...</admin>\n  <admin version='2.0'>...</admin>",
             fix="keep one; for per-environment variants mark them with deploy:environment/deploy:region")
AK116 = rule("AK116", "XML structure does not match Vespa's",
             example="<nodes/> in a content cluster with neither count= nor <node> children",
             fix="compare the element with the Vespa services.xml reference")
AK117 = rule("AK117", "text not allowed in element",
             example="<nodes>>\n  <node hostalias='node1' distribution-key='0'/>",
             fix="remove the stray text")
AK118 = rule("AK118", "wrong root element",
             example="<service version='1.0'> at the top of services.xml",
             fix="the root of services.xml is <services> (or a single <container>, <content> or <admin>)")

RNG_NS = "http://relaxng.org/ns/structure/1.0"
ANY = "*"


@dataclass(frozen=True)
class ValueRule:
    """What text an attribute or element accepts: alternatives of ('value', v), ('data', type, params), ('text',)."""

    alternatives: tuple[tuple[Any, ...], ...]

    def accepts(self, text: str) -> bool:
        return not self.alternatives or any(_accepts(alt, text) for alt in self.alternatives)

    def describe(self) -> str:
        values = [alt[1] for alt in self.alternatives if alt[0] == "value"]
        datas = [_describe_data(alt[1], alt[2]) for alt in self.alternatives if alt[0] == "data"]
        parts = []
        if values:
            parts.append(("one of " if len(values) > 1 else "") + ", ".join(f"'{v}'" for v in values))
        parts.extend(datas)
        return " or ".join(parts) or "any text"


@dataclass
class ElementRule:
    """What one element, in one parent context, may contain (merged over the grammar's alternatives)."""

    name: str
    attributes: dict[str, ValueRule] = field(default_factory=dict)
    required_attributes: set[str] | None = None
    any_attributes: bool = False
    children: dict[str, bool] = field(default_factory=dict)  # name -> may repeat
    required_children: set[str] | None = None
    any_children: bool = False
    text: ValueRule | None = None  # None: no text allowed

    def merge_required(self, attrs: set[str], kids: set[str]) -> None:
        self.required_attributes = attrs if self.required_attributes is None else self.required_attributes & attrs
        self.required_children = kids if self.required_children is None else self.required_children & kids


# ---------------------------------------------------------------- the table from the grammar

class _GrammarTable:
    def __init__(self, filename: str) -> None:
        from appkit.resources import schema_path

        self.defines: dict[str, list[Any]] = {}
        self.start: list[Any] = []
        self._load(schema_path(filename))
        self.rules: dict[tuple[str | None, str], ElementRule] = {}  # (parent, name)
        self.rules3: dict[tuple[str | None, str | None, str], ElementRule] = {}  # (grandparent, parent, name)
        self._done: set[tuple[str | None, str | None, int]] = set()
        pending: list[tuple[str | None, str | None, Any]] = []
        for node in self.start:
            self._find_elements(node, (None, None), pending, set())
        while pending:
            grandparent, parent, element = pending.pop()
            self._element(grandparent, parent, element, pending)

    def _load(self, path: Any) -> None:
        root = parse_own_file(path).getroot()
        for node in root:
            tag = local_name(node.tag)
            if tag == "include":
                self._load(path.parent / node.get("href"))
                for override in node:
                    if local_name(override.tag) == "start":
                        self.start = list(override)
            elif tag == "start":
                self.start = list(node)
            elif tag == "define":
                self.defines.setdefault(node.get("name"), []).extend(list(node))

    def _find_elements(self, node: Any, context: tuple[str | None, str | None], out: list, seen: set[str]) -> None:
        tag = local_name(node.tag)
        if tag == "element":
            out.append((context[0], context[1], node))
        elif tag == "ref":
            name = node.get("name")
            if name not in seen:
                for n in self.defines.get(name, []):
                    self._find_elements(n, context, out, seen | {name})
        elif tag not in ("attribute",):
            for child in node:
                self._find_elements(child, context, out, seen)

    def _element(self, grandparent: str | None, parent: str | None, element: Any, pending: list) -> None:
        key_id = (grandparent, parent, id(element))
        if key_id in self._done:
            return
        self._done.add(key_id)
        name = element.get("name") or ANY
        rule_ = ElementRule(name)
        req_attrs: set[str] = set()
        req_kids: set[str] = set()
        body = [c for c in element if local_name(c.tag) not in ("name", "anyName", "nsName")]
        found: list[Any] = []
        for child in body:
            self._content(child, rule_, found, repeat=False, optional=False, seen=set(),
                          req=(req_attrs, req_kids))
        rule_.merge_required(req_attrs, req_kids)
        pending.extend((parent, name, node) for node in found)
        _merge_rule(self.rules, (parent, name), rule_)
        _merge_rule(self.rules3, (grandparent, parent, name), rule_)

    def _content(self, node: Any, rule_: ElementRule, pending: list, repeat: bool, optional: bool,
                 seen: set[str], req: tuple[set[str], set[str]]) -> None:
        tag = local_name(node.tag)
        if tag == "element":
            name = node.get("name") or ANY
            if name == ANY:
                rule_.any_children = True
            rule_.children[name] = rule_.children.get(name, False) or repeat
            if not optional:
                req[1].add(name)
            pending.append(node)
        elif tag == "attribute":
            name = node.get("name")
            if name is None:
                rule_.any_attributes = True
                return
            rule_.attributes[name] = _merge_values(rule_.attributes.get(name), _value_rule(list(node)))
            if not optional:
                req[0].add(name)
        elif tag in ("optional", "zeroOrMore", "oneOrMore", "choice", "group", "interleave", "mixed"):
            rep = repeat or tag in ("zeroOrMore", "oneOrMore")
            opt = optional or tag in ("optional", "zeroOrMore", "choice")
            if tag == "mixed":
                rule_.text = ValueRule(())
            for child in node:
                self._content(child, rule_, pending, rep, opt, seen, req)
        elif tag == "ref":
            name = node.get("name")
            if name in seen:
                return
            for child in self.defines.get(name, []):
                self._content(child, rule_, pending, repeat, optional, seen | {name}, req)
        elif tag == "text":
            rule_.text = ValueRule(())
        elif tag in ("data", "value"):
            rule_.text = _merge_values(rule_.text, _value_rule([node]))


def _merge_rule(table: dict, key: tuple, new: ElementRule) -> None:
    old = table.get(key)
    if old is None:
        table[key] = ElementRule(new.name, dict(new.attributes), set(new.required_attributes or ()),
                                 new.any_attributes, dict(new.children), set(new.required_children or ()),
                                 new.any_children, new.text)
        return
    for attr, values in new.attributes.items():
        old.attributes[attr] = _merge_values(old.attributes.get(attr), values)
    old.merge_required(set(new.required_attributes or ()), set(new.required_children or ()))
    old.any_attributes |= new.any_attributes
    for child, repeat in new.children.items():
        old.children[child] = old.children.get(child, False) or repeat
    old.any_children |= new.any_children
    if new.text is not None:
        old.text = new.text if old.text is None else _merge_values(old.text, new.text)


def _value_rule(nodes: list[Any]) -> ValueRule:
    alts: list[tuple[Any, ...]] = []
    for node in nodes:
        tag = local_name(node.tag)
        if tag == "value":
            alts.append(("value", (node.text or "").strip()))
        elif tag == "data":
            params = {p.get("name"): (p.text or "").strip() for p in node if local_name(p.tag) == "param"}
            alts.append(("data", node.get("type"), tuple(sorted(params.items()))))
        elif tag == "choice":
            alts.extend(_value_rule(list(node)).alternatives)
        elif tag == "text":
            return ValueRule(())
    return ValueRule(tuple(alts))


def _merge_values(a: ValueRule | None, b: ValueRule) -> ValueRule:
    if a is None:
        return b
    if not a.alternatives or not b.alternatives:
        return ValueRule(())
    return ValueRule(tuple(dict.fromkeys(a.alternatives + b.alternatives)))


_INTEGER_TYPES = {"integer": None, "int": None, "long": None, "positiveInteger": 1, "nonNegativeInteger": 0,
                  "unsignedShort": 0}


def _accepts(alt: tuple[Any, ...], text: str) -> bool:
    if alt[0] == "value":
        return text.strip() == alt[1]
    if alt[0] != "data":
        return True
    kind, params = alt[1], dict(alt[2])
    value = text.strip()
    if kind == "boolean":
        return value in ("true", "false", "1", "0")
    if kind in _INTEGER_TYPES:
        if not re.fullmatch(r"[+-]?\d+", value):
            return False
        number, low = int(value), _INTEGER_TYPES[kind]
        high = 65535 if kind == "unsignedShort" else None
        low = int(params.get("minInclusive", low if low is not None else number))
        high = int(params.get("maxInclusive", high if high is not None else number))
        return low <= number <= high
    if kind == "double":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if kind == "NCName":
        return re.fullmatch(r"[A-Za-z_][\w.\-]*", value) is not None
    if kind == "NMTOKENS":
        return re.fullmatch(r"[\w.:\-]+(\s+[\w.:\-]+)*", value) is not None
    return True


def _describe_data(kind: str, params: tuple[tuple[str, str], ...]) -> str:
    p = dict(params)
    if kind == "boolean":
        return "true or false"
    if kind in _INTEGER_TYPES:
        low, high = p.get("minInclusive"), p.get("maxInclusive")
        base = {"positiveInteger": "a positive integer", "nonNegativeInteger": "a non-negative integer",
                "unsignedShort": "a port number (0-65535)"}.get(kind, "an integer")
        if low and high:
            return f"an integer from {low} to {high}"
        return base + (f" at most {high}" if high else "")
    return {"double": "a number", "NCName": "a name (letters, digits, '_', '-', '.'; no spaces)",
            "NMTOKENS": "space-separated names"}.get(kind, "text")


@lru_cache(maxsize=None)
def grammar_table(filename: str) -> _GrammarTable:
    return _GrammarTable(filename)


# ---------------------------------------------------------------- validation and explanation

def check_structure(doc: XmlDocument, tree: Any, schema: str, context: str = "") -> list[Diagnostic]:
    """Validate `tree` (the document, maybe preprocessed) against schemas/`schema`; explain each failure."""
    validator = relaxng(schema)
    if validator.validate(tree):
        return []
    entries = [e for e in validator.error_log]
    found = _explain(doc, tree, entries, grammar_table(schema), schema.replace(".rng", ".xml"))
    if context:
        found = [Diagnostic(d.code, f"{d.message} ({context})", d.span, d.hint, d.severity) for d in found]
    return found


def _explain(doc: XmlDocument, tree: Any, entries: list[Any], table: _GrammarTable,
             label: str) -> list[Diagnostic]:
    root = tree.getroot()
    root_rule = table.rules.get((None, local_name(root.tag)))
    if root_rule is None:
        roots = sorted(name for (parent, name) in table.rules if parent is None)
        return [Diagnostic(AK118, f"<{local_name(root.tag)}> cannot be the root element here", doc.span(root),
                           hint="the root element must be " + " or ".join(f"<{r}>" for r in roots)
                           + _did_you_mean(local_name(root.tag), roots, "<", ">"))]
    # libxml2 stops at the first failure inside an interleave; the table is at least as permissive as
    # the grammar, so walking every element reports all problems without inventing any
    found: dict[tuple[str, str, int, int], Diagnostic] = {}
    for element in root.iter():
        for d in explain_element(doc, element, table):
            key = (d.code, d.message, d.span.line if d.span else 0, d.span.column if d.span else 0)
            found.setdefault(key, d)
    if found:
        return list(found.values())
    return [_fallback(doc, tree, entries, label)]


def _failing_elements(tree: Any, entries: list[Any]) -> list[Any]:
    out: list[Any] = []
    for entry in entries:
        path = getattr(entry, "path", None)
        if not path:
            continue
        try:
            hits = tree.xpath(path)
        except etree.XPathError:
            continue
        out.extend(h for h in hits if isinstance(h, etree._Element) and h not in out)
    return out or [tree.getroot()]


def _rule_for(table: _GrammarTable, element: Any) -> ElementRule | None:
    parent = element.getparent()
    parent_name = local_name(parent.tag) if parent is not None else None
    grand = parent.getparent() if parent is not None else None
    grand_name = local_name(grand.tag) if grand is not None else None
    name = local_name(element.tag)
    return table.rules3.get((grand_name, parent_name, name)) or table.rules.get((parent_name, name))


def explain_element(doc: XmlDocument, element: Any, table: _GrammarTable) -> Iterable[Diagnostic]:
    """Everything wrong with one element's own attributes, text and children, per the table."""
    if not isinstance(element.tag, str):
        return []
    name = local_name(element.tag)
    namespace = etree.QName(element.tag).namespace
    parent = element.getparent()
    if namespace and (parent is None or etree.QName(parent.tag).namespace != namespace):
        return [Diagnostic(AK116, f"<{name}> is in the XML namespace '{namespace}', but Vespa's elements have "
                           "no namespace", doc.span(element),
                           hint=f"remove xmlns=\"{namespace}\" (deploy: and preprocess: prefixes are fine)")]
    rule_ = _rule_for(table, element)
    if rule_ is None:
        return []
    found = list(_check_attributes(doc, element, rule_, name))
    if name == "nodes" and element.get("count") is not None and _children_named(element, "node"):
        found.append(Diagnostic(AK116, "<nodes> has both count= and <node> children", doc.span(element),
                                hint="use count= (Vespa provisions the nodes) or list <node hostalias=...> "
                                "elements, not both"))
    found.extend(_check_children(doc, element, rule_, name, table))
    found.extend(_check_text(doc, element, rule_, name))
    return found


def _children_named(element: Any, name: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and local_name(c.tag) == name]


def _check_attributes(doc: XmlDocument, element: Any, rule_: ElementRule, name: str) -> Iterable[Diagnostic]:
    if rule_.any_attributes:
        return
    allowed = sorted(rule_.attributes)
    for attr, value in element.attrib.items():
        if attr.startswith("{"):
            continue
        value_rule = rule_.attributes.get(attr)
        if value_rule is None:
            listing = ", ".join(allowed) if allowed else "none"
            yield Diagnostic(AK112, f"attribute '{attr}' is not allowed on <{name}>", doc.span(element, attr),
                             hint=f"attributes of <{name}>: {listing}" + _did_you_mean(attr, allowed))
        elif not value_rule.accepts(value):
            yield Diagnostic(AK114, f"'{value}' is not a valid value for {attr} on <{name}>: expected "
                             f"{value_rule.describe()}", doc.span(element, attr),
                             hint=_value_hint(value, value_rule, f"{attr}=\"{{}}\""))
    for attr in sorted(rule_.required_attributes or ()):
        if attr not in element.attrib:
            example = rule_.attributes.get(attr)
            value = example.alternatives[0][1] if example and example.alternatives and \
                example.alternatives[0][0] == "value" else "..."
            yield Diagnostic(AK113, f"<{name}> needs the attribute '{attr}'", doc.span(element),
                             hint=f"add {attr}=\"{value}\" to <{name}>")


def _check_children(doc: XmlDocument, element: Any, rule_: ElementRule, name: str,
                    table: _GrammarTable) -> Iterable[Diagnostic]:
    allowed = sorted(n for n in rule_.children if n != ANY)
    seen: dict[str, int] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        child_name = local_name(child.tag)
        if child_name not in rule_.children and not rule_.any_children:
            listing = ", ".join(f"<{n}>" for n in allowed) if allowed else "no elements"
            yield Diagnostic(AK110, f"<{child_name}> is not allowed in <{name}>", doc.span(child),
                             hint=f"<{name}> may contain {listing}" + _did_you_mean(child_name, allowed, "<", ">"))
            continue
        seen[child_name] = seen.get(child_name, 0) + 1
        if seen[child_name] == 2 and not rule_.children.get(child_name, True):
            yield Diagnostic(AK115, f"<{name}> may contain only one <{child_name}>", doc.span(child),
                             hint=f"remove this <{child_name}>, or mark the variants with deploy:environment / "
                             f"deploy:region (xmlns:deploy=\"vespa\")")
    for child_name in sorted(rule_.required_children or ()):
        if child_name != ANY and child_name not in seen:
            yield Diagnostic(AK111, f"<{name}> must contain <{child_name}>", doc.span(element),
                             hint=f"add <{child_name}> inside <{name}>")


def _check_text(doc: XmlDocument, element: Any, rule_: ElementRule, name: str) -> Iterable[Diagnostic]:
    pieces = [element.text or ""] + [(c.tail or "") for c in element]
    text = "".join(pieces).strip()
    if not text:
        return
    if rule_.text is None:
        shown = text if len(text) <= 30 else text[:27] + "..."
        yield Diagnostic(AK117, f"<{name}> cannot contain text, but has '{shown}'", doc.span(element),
                         hint=f"remove the text from <{name}>")
    elif len(element) == 0 and not rule_.text.accepts(text):
        yield Diagnostic(AK114, f"'{text}' is not a valid value for <{name}>: expected {rule_.text.describe()}",
                         doc.span(element), hint=_value_hint(text, rule_.text, f"<{name}>{{}}</{name}>"))


def _value_hint(value: str, value_rule: ValueRule, template: str) -> str:
    """The fix as text to write: the closest allowed value when the values are a fixed list."""
    import difflib

    choices = [alt[1] for alt in value_rule.alternatives if alt[0] == "value"]
    close = difflib.get_close_matches(value.strip(), choices, n=1, cutoff=0.5)
    if close:
        return "write " + template.format(close[0]) + (f" (or {value_rule.describe()})" if len(choices) > 1 else "")
    return f"write {value_rule.describe()}: " + template.format("...")


def _did_you_mean(word: str, choices: list[str], before: str = "", after: str = "") -> str:
    import difflib  # only when something is wrong: keeps a clean run's imports small

    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.75)
    return f"; did you mean {before}{close[0]}{after}?" if close else ""


_LIBXML_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Expecting element (\S+), got (\S+)"), r"<\2> is not what Vespa expects here"),
    (re.compile(r"Expecting an element (\S+), got nothing"),
     r"it needs <\1> children or one of the settings Vespa accepts instead (such as count=)"),
    (re.compile(r"Expecting no namespace for element (\S+)"), r"<\1> must not be in an XML namespace"),
    (re.compile(r"Element (\S+) failed to validate content"), r"the content of <\1> does not match Vespa's structure"),
    (re.compile(r"Element (\S+) failed to validate attributes"), r"the attributes of <\1> do not match"),
    (re.compile(r"Invalid sequence in interleave"), "elements are combined in a way Vespa does not accept"),
    (re.compile(r"Extra element (\S+) in interleave"), r"<\1> is not allowed here or given too often"),
)


def _resolves_to(tree: Any, path: str | None, element: Any) -> bool:
    try:
        return bool(path) and tree.xpath(path) == [element]
    except etree.XPathError:
        return False


def _fallback(doc: XmlDocument, tree: Any, entries: list[Any], label: str) -> Diagnostic:
    """No rule of the table explains the failure (e.g. count= and <node> mixed): report the deepest error."""
    elements = _failing_elements(tree, entries)
    deepest = max(elements, key=lambda e: sum(1 for _ in e.iterancestors()))
    entry = next((e for e in entries if _resolves_to(tree, getattr(e, "path", None), deepest)), None)
    raw = entry.message if entry is not None else (entries[0].message if entries else "invalid")
    message = raw
    for pattern, replacement in _LIBXML_REWRITES:
        if pattern.search(raw):
            message = pattern.sub(replacement, raw)
            break
    name = local_name(deepest.tag)
    return Diagnostic(AK116, f"<{name}> does not match Vespa's {label} structure: {message}",
                      doc.span(deepest), hint=f"compare <{name}> with the Vespa {label} reference")
