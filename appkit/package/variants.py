"""Vespa's XML preprocessing for services.xml and hosts.xml: deploy: variants and preprocess: properties.

Follows Vespa's OverrideProcessor (one variant kept per zone: the most specific match) and
PropertiesProcessor (${key} replaced), after IncludeProcessor (preprocess:include files merged in,
each element still reported at its own file and line).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.package.xmlsafe import XmlDocument, local_name
from appkit.source import SourceFile, Span

AK120 = rule("AK120", "unknown deploy: or preprocess: name",
             example='<nodes deploy:enviroment="prod" count="2"/>',
             fix="use deploy:environment, region, instance, cloud, tags or application; "
                 "preprocess:include or preprocess:properties")
AK121 = rule("AK121", "deploy variant not within its parent's variants", Severity.WARNING,
             example='<container deploy:environment="prod">\n  <nodes deploy:environment="dev" count="1"/>',
             fix="a nested variant may only narrow its parent's: use a subset of the parent's values")
AK122 = rule("AK122", "preprocess:include names a file that does not exist",
             example='<preprocess:include file="jdisc.xml"/> with no jdisc.xml in the package',
             fix="add the file, correct the path, or mark the include required=\"false\"")
AK127 = rule("AK127", "preprocess:include names a file outside the package",
             example='<preprocess:include file="../../etc/passwd"/>',
             fix="include a file inside the application package, by a path relative to the including file")
AK128 = rule("AK128", "preprocess:include files include each other",
             example="a.xml includes b.xml, which includes a.xml",
             fix="remove the include that closes the cycle")
AK123 = rule("AK123", "${property} used but not defined", Severity.WARNING,
             example='<server port="${qrs.port}"/> with no <qrs.port> in <preprocess:properties>',
             fix="define the property in <preprocess:properties>")

DEPLOY_NS = "vespa"
PREPROCESS_NS = "properties"
DEPLOY_ATTRIBUTES = ("environment", "region", "instance", "cloud", "tags", "application")
_SELECTORS = ("instance", "environment", "region", "cloud", "tags")
# Environments that span several regions: a region variant only applies in these (Vespa's Environment).
MULTI_REGION = frozenset({"prod", "dev", "perf"})
_PROPERTY = re.compile(r"\$\{([^}]+)\}")
# Each zone is a full copy and validation of the file; real files name a few dozen at most.
MAX_ZONES = 64


@dataclass(frozen=True)
class Zone:
    """Where a deployment goes; the default is Vespa's default zone."""

    environment: str = "prod"
    region: str = "default"
    instance: str = "default"
    cloud: str = "default"
    tags: frozenset[str] = field(default_factory=frozenset)

    def describe(self) -> str:
        parts = [f"environment {self.environment}", f"region {self.region}"]
        if self.instance != "default":
            parts.append(f"instance {self.instance}")
        if self.cloud != "default":
            parts.append(f"cloud {self.cloud}")
        if self.tags:
            parts.append("tags " + " ".join(sorted(self.tags)))
        return "in the variant for " + ", ".join(parts)

    def value(self, selector: str) -> str:
        return str(getattr(self, selector))


def uses_preprocessing(root: Any) -> bool:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith(f"{{{PREPROCESS_NS}}}"):
            return True
        if any(a.startswith(f"{{{DEPLOY_NS}}}") or a.startswith(f"{{{PREPROCESS_NS}}}") for a in element.attrib):
            return True
    return False


def _selectors(element: Any) -> dict[str, frozenset[str]]:
    out = {}
    for name in _SELECTORS:
        value = element.get(f"{{{DEPLOY_NS}}}{name}")
        if value is not None and value.strip():
            out[name] = frozenset(value.split())
    return out


def zones_of(root: Any) -> list[Zone]:
    """The default zone, then one zone per distinct combination of variants the file names."""
    zones = [Zone()]
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        inherited: dict[str, frozenset[str]] = {}
        for ancestor in reversed([element, *element.iterancestors()]):
            for key, values in _selectors(ancestor).items():
                inherited[key] = values
        if not _selectors(element):
            continue
        region = sorted(inherited.get("region", {"default"}))[0]
        zone = Zone(environment=sorted(inherited.get("environment", {"prod"}))[0], region=region,
                    instance=sorted(inherited.get("instance", {"default"}))[0],
                    cloud=sorted(inherited.get("cloud", {"default"}))[0],
                    tags=frozenset(sorted(inherited.get("tags", frozenset()))[:1]))
        if zone not in zones:
            zones.append(zone)
            if len(zones) == MAX_ZONES:
                break
    return zones


def check_names(doc: XmlDocument) -> list[Diagnostic]:
    """deploy:/preprocess: names Vespa does not know (a typo silently changes what is deployed)."""
    import difflib

    found = []
    for element in doc.root.iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith(f"{{{PREPROCESS_NS}}}") and local_name(element.tag) not in ("include", "properties"):
            found.append(Diagnostic(AK120, f"<preprocess:{local_name(element.tag)}> is not a preprocessing "
                                    "directive", doc.span(element),
                                    hint="use <preprocess:include file=...> or <preprocess:properties>"))
        for attr in element.attrib:
            if not attr.startswith(f"{{{DEPLOY_NS}}}"):
                continue
            name = local_name(attr)
            if name not in DEPLOY_ATTRIBUTES:
                close = difflib.get_close_matches(name, DEPLOY_ATTRIBUTES, n=1)
                found.append(Diagnostic(AK120, f"deploy:{name} is not a deploy directive",
                                        doc.span(element, f"{_prefix(element, DEPLOY_NS)}:{name}"),
                                        hint="use deploy:" + (close[0] if close else "environment")
                                        + "; the directives are " + ", ".join(DEPLOY_ATTRIBUTES)))
    return found


def preprocess(doc: XmlDocument, zone: Zone, package_root: Path | None) -> tuple[Any, list[Diagnostic]]:
    """A copy of the document as Vespa would see it when deployed to `zone` (includes already
    merged in by `expand_includes`)."""
    tree = copy.deepcopy(doc.tree)
    root = tree.getroot()
    for element in list(root.iter(f"{{{PREPROCESS_NS}}}include")):  # a file checked on its own
        element.getparent().remove(element)
    select_variants(root, zone)
    found = _apply_properties(doc, root)
    _strip(root)
    return tree, found


# ---------------------------------------------------------------- includes (Vespa's IncludeProcessor)

MAX_INCLUDE_DEPTH = 16


def expand_includes(doc: XmlDocument, package_root: Path | None) -> tuple[XmlDocument, list[Diagnostic]]:
    """The document with every preprocess:include merged in, as Vespa's IncludeProcessor does: the
    included file's content is read as children of the including element and appended to it, after
    its own includes (relative to its folder) are merged in. Files merged in are recorded in
    `doc.included`, so that their elements are reported at their own file and line."""
    if package_root is None or not any(True for _ in doc.root.iter(f"{{{PREPROCESS_NS}}}include")):
        return doc, []
    tree = copy.deepcopy(doc.tree)
    expanded = XmlDocument(tree, doc.source, doc.included)
    found: list[Diagnostic] = []
    own = Path(doc.source.path).resolve()  # the file itself, so that including it is a cycle too
    _Includes(expanded, Path(package_root), found).merge(tree.getroot(), Path(package_root), (own,))
    return expanded, found


class _Includes:
    def __init__(self, doc: XmlDocument, root: Path, found: list[Diagnostic]):
        self.doc, self.root, self.found = doc, root, found

    def merge(self, element: Any, folder: Path, chain: tuple[Path, ...]) -> None:
        while True:
            include = next(element.iter(f"{{{PREPROCESS_NS}}}include"), None)
            if include is None:
                return
            parent = include.getparent()
            children = self._read(include, parent, folder, chain)
            for child in children:
                parent.append(child)
            parent.remove(include)

    def _read(self, include: Any, parent: Any, folder: Path, chain: tuple[Path, ...]) -> list[Any]:
        from appkit.package.app import display_path
        from appkit.package.xmlsafe import SOURCE_MARK, parse_xml_bytes, read_source

        name = include.get("file") or ""
        required = (include.get("required") or "true").strip().lower() != "false"
        where = self.doc.span(include, "file")
        path = folder / name
        try:
            resolved = path.resolve()
            resolved.relative_to(self.root.resolve())
        except (OSError, ValueError):
            self.found.append(Diagnostic(AK127, f"<preprocess:include> names '{name}', which is outside the "
                                         "application package; it is not read", where,
                                         hint="include a file inside the package, relative to the including file"))
            return []
        if not name or not path.is_file():
            if required:
                self.found.append(Diagnostic(AK122, f"<preprocess:include> names '{name}', which is not in the "
                                             "package", where,
                                             hint=f"add {name or 'the file'} to the package, or add required=\"false\""))
            return []
        if resolved in chain or len(chain) >= MAX_INCLUDE_DEPTH:
            self.found.append(Diagnostic(AK128, f"<preprocess:include> of '{name}' closes a cycle of includes "
                                         f"({' -> '.join(p.name for p in (*chain, resolved))})", where,
                                         hint="remove this include"))
            return []
        shown = display_path(path)
        data, source, problems = read_source(path, shown)
        self.found.extend(problems)
        if data is None or source is None:
            return []
        # Vespa reads the file as the content of an element named like the including one
        tag = parent.prefix + ":" + etree.QName(parent).localname if parent.prefix else etree.QName(parent).localname
        start = f"<{tag} xmlns:deploy='{DEPLOY_NS}' xmlns:preprocess='{PREPROCESS_NS}'>"
        wrapped = SourceFile(shown, start + source.text + f"</{tag}>")
        self.doc.included[shown] = source  # its lines are quoted in reports
        fragment, problems = parse_xml_bytes(wrapped.text.encode("utf-8"), wrapped)
        for d in problems:  # placed in the file itself: the wrapper sits before its first line
            span = d.span
            if span is not None and span.line == 1:
                span = Span(span.path, 1, max(span.column - len(start), 1))
            hint = d.hint
            if "XML declaration allowed only at the start" in d.message:
                hint = ("remove the <?xml ...?> line: an included file is read as the content of the "
                        f"element that includes it, <{etree.QName(parent).localname}>")
            self.found.append(Diagnostic(d.code, d.message, span, hint, d.severity))
        if fragment is None:
            return []
        merged = fragment.root
        self.merge(merged, path.parent, (*chain, resolved))
        children = [c for c in merged if isinstance(c.tag, str)]
        for child in children:
            child.insert(0, etree.ProcessingInstruction(SOURCE_MARK, shown))
        return children


# ---------------------------------------------------------------- overrides (Vespa's OverrideProcessor)

def select_variants(root: Any, zone: Zone) -> None:
    """Keep, among same-named siblings that carry variants, the ones that fit `zone` best (in place)."""
    _Overrides(zone).apply(root, {})


class _Overrides:
    def __init__(self, zone: Zone) -> None:
        self.zone = zone

    def apply(self, parent: Any, context: dict[str, frozenset[str]]) -> None:
        context = {**_selectors(parent), **context}  # an outer variant wins over an inner one (Vespa)
        groups: dict[str, list[Any]] = {}
        for child in parent:
            if isinstance(child.tag, str):
                key = child.tag + (child.get("id") or "")
                groups.setdefault(key, []).append(child)
        for children in groups.values():
            if any(_selectors(c) for c in children):
                self._prune(parent, children, context)
        for child in parent:
            if isinstance(child.tag, str):
                self.apply(child, context)

    def _matches(self, element: Any) -> bool:
        sel = _selectors(element)
        z = self.zone
        if "instance" in sel and z.instance not in sel["instance"]:
            return False
        if "environment" in sel and z.environment not in sel["environment"]:
            return False
        if "region" in sel:
            if z.environment in MULTI_REGION and z.region not in sel["region"]:
                return False
            if z.environment not in MULTI_REGION and "environment" not in sel:
                return False
        if "cloud" in sel and z.cloud not in sel["cloud"]:
            return False
        if "tags" in sel and not (z.tags & sel["tags"]):
            return False
        return True

    def _specificity(self, element: Any, context: dict[str, frozenset[str]]) -> int:
        own = _selectors(element)
        count = 0
        for name in _SELECTORS:
            values = own.get(name, context.get(name, frozenset()))
            if name == "tags":
                count += bool(values & self.zone.tags)
            elif self.zone.value(name) in values:
                count += 1
        return count

    def _prune(self, parent: Any, children: list[Any], context: dict[str, frozenset[str]]) -> None:
        kept = []
        for child in children:
            if self._matches(child):
                kept.append(child)
            else:
                parent.remove(child)
        if not kept:
            return
        scores = [self._specificity(c, context) for c in kept]
        best = max(scores)
        if best == 0:
            return
        for child, score in zip(kept, scores):
            if score < best:
                parent.remove(child)
            elif local_name(child.tag) == "nodes" and len(child) == 0 and not (child.text or "").strip():
                child.set("required", "true")  # Vespa: a capacity chosen for a zone is required there


def consistency_warnings(doc: XmlDocument) -> list[Diagnostic]:
    """Nested variants must narrow their parent's (Vespa refuses the file otherwise)."""
    found = []
    for element in doc.root.iter():
        if not isinstance(element.tag, str):
            continue
        own = _selectors(element)
        for ancestor in element.iterancestors():
            outer = _selectors(ancestor)
            for name, values in own.items():
                if name in outer and not values <= outer[name]:
                    found.append(Diagnostic(
                        AK121, f"deploy:{name}=\"{' '.join(sorted(values))}\" on <{local_name(element.tag)}> is not "
                        f"within <{local_name(ancestor.tag)}>'s \"{' '.join(sorted(outer[name]))}\"",
                        doc.span(element, f"{_prefix(element, DEPLOY_NS)}:{name}"),
                        hint=f"use values from \"{' '.join(sorted(outer[name]))}\", or remove deploy:{name} here"))
            if outer:
                break
    return found


# ---------------------------------------------------------------- properties and stripping

def _apply_properties(doc: XmlDocument, root: Any) -> list[Diagnostic]:
    blocks = list(root.iter(f"{{{PREPROCESS_NS}}}properties"))
    if not blocks:
        return []
    values: dict[str, str] = {}
    for block in blocks:
        for prop in block:
            if isinstance(prop.tag, str):
                values[local_name(prop.tag)] = (prop.text or "").strip()
        block.getparent().remove(block)
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attr, value in element.attrib.items():
            element.set(attr, _substitute(value, values, doc, element, found))
        if element.text:
            element.text = _substitute(element.text, values, doc, element, found)
    return found


def _substitute(text: str, values: dict[str, str], doc: XmlDocument, element: Any, found: list) -> str:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in values:
            return values[key]
        found.append(Diagnostic(AK123, f"property ${{{key}}} is not defined in <preprocess:properties>",
                                doc.span(element), hint=f"add <{key}>VALUE</{key}> to <preprocess:properties>"))
        return match.group(0)

    return _PROPERTY.sub(replace, text)


def _strip(root: Any) -> None:
    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            continue
        if element.tag.startswith(f"{{{PREPROCESS_NS}}}") and element.getparent() is not None:
            element.getparent().remove(element)
            continue
        for attr in list(element.attrib):
            if attr.startswith(f"{{{DEPLOY_NS}}}") or attr.startswith(f"{{{PREPROCESS_NS}}}"):
                del element.attrib[attr]
    etree.cleanup_namespaces(root)


def _prefix(element: Any, namespace: str) -> str:
    """The prefix the file uses for `namespace` (normally deploy: or preprocess:)."""
    for prefix, uri in element.nsmap.items():
        if uri == namespace and prefix:
            return prefix
    return "deploy" if namespace == DEPLOY_NS else "preprocess"
