"""services.xml (and hosts/deployment/validation-overrides.xml): hardened parse, structure, typed model.

The structure is checked against appkit's RelaxNG after Vespa's preprocessing, in the default zone
and in every zone the file's deploy: variants name; the model is read from the default zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from appkit.diagnostics import Diagnostic, Severity, rule
from appkit.package.xmlsafe import XmlDocument, local_name, parse_xml
from appkit.source import SourceFile, Span

if TYPE_CHECKING:
    import datetime as _dt

AK119 = rule("AK119", "two clusters with the same id",
             example="<container id='search' version='1.0'/> and <content id='search' version='1.0'/>",
             fix="give every container and content cluster its own id")
AK124 = rule("AK124", "document type listed twice in a content cluster",
             example="<documents>\n  <document type='music' mode='index'/>\n  <document type='music' mode='index'/>",
             fix="list each document type once per content cluster")
AK125 = rule("AK125", "hostalias not defined in hosts.xml",
             example="<node hostalias='node3' distribution-key='0'/> with hosts.xml defining node1 and node2",
             fix="add <alias>node3</alias> to a <host> in hosts.xml, or use an alias hosts.xml defines")
AK126 = rule("AK126", "host alias defined twice in hosts.xml",
             example="<host name='a.example.com'><alias>node1</alias></host>\n"
                     "<host name='b.example.com'><alias>node1</alias></host>",
             fix="give every alias to one host only")
AK130 = rule("AK130", "validation override date is not a date",
             example="<allow until='next week'>field-type-change</allow>",
             fix="write until='YYYY-MM-DD', at most 30 days ahead")
AK131 = rule("AK131", "validation override has expired", Severity.WARNING,
             example="<allow until='2017-01-01'>field-type-change</allow>",
             fix="remove the override, or move its date forward if the change still needs it")
AK132 = rule("AK132", "validation override more than 30 days ahead", Severity.WARNING,
             example="<allow until='2099-01-01'>field-type-change</allow>",
             fix="Vespa refuses overrides more than 30 days ahead: use a nearer date")
AK133 = rule("AK133", "validation override names no validation",
             example="<allow until='2026-02-01'/>",
             fix="put the validation id inside, e.g. <allow until='2026-02-01'>field-type-change</allow>")

DOCUMENT_MODES = ("index", "streaming", "store-only")
_SCHEMA_OF = {"services.xml": "services.rng", "hosts.xml": "hosts.rng", "deployment.xml": "deployment.rng",
              "validation-overrides.xml": "validation-overrides.rng"}


@dataclass(frozen=True)
class DocumentRef:
    """A document type a content cluster holds: <document type= mode= global= selection=/>."""

    type: str
    mode: str
    global_: bool
    selection: str | None
    span: Span


@dataclass(frozen=True)
class NodeSpec:
    """<nodes>: either a count (hosted/provisioned) or explicit nodes on host aliases."""

    count: str | None
    groups: str | None
    hostaliases: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class ContentCluster:
    id: str
    redundancy: int | None
    min_redundancy: int | None
    documents: tuple[DocumentRef, ...]
    nodes: NodeSpec | None
    span: Span

    def document(self, type_name: str) -> DocumentRef | None:
        return next((d for d in self.documents if d.type == type_name), None)


@dataclass(frozen=True)
class Component:
    id: str
    class_: str | None
    bundle: str | None
    type: str | None
    span: Span


@dataclass(frozen=True)
class ContainerCluster:
    id: str
    search: bool
    document_api: bool
    document_processing: bool
    model_evaluation: bool
    components: tuple[Component, ...]
    nodes: NodeSpec | None
    span: Span


@dataclass(frozen=True)
class HostAlias:
    """A hostalias= in services.xml: the name of a host in hosts.xml."""

    alias: str
    span: Span


@dataclass(frozen=True)
class Services:
    version: str | None
    containers: tuple[ContainerCluster, ...]
    content_clusters: tuple[ContentCluster, ...]
    span: Span
    path: str
    uses_variants: bool = False  # deploy:/preprocess: present; the model is the default zone's
    hostaliases: tuple[HostAlias, ...] = ()  # every hostalias= in the file (admin, clusters, nodes)
    included: tuple[SourceFile, ...] = ()  # files merged in by preprocess:include

    def document_types(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.type for c in self.content_clusters for d in c.documents))

    def documents_of(self, type_name: str) -> tuple[tuple[ContentCluster, DocumentRef], ...]:
        return tuple((c, d) for c in self.content_clusters for d in c.documents if d.type == type_name)


@dataclass(frozen=True)
class Host:
    name: str
    aliases: tuple[str, ...]
    span: Span


@dataclass(frozen=True)
class Hosts:
    """hosts.xml: the machines of a self-hosted deployment and the aliases services.xml uses."""

    hosts: tuple[Host, ...]
    path: str

    def host_of(self, alias: str) -> Host | None:
        return next((h for h in self.hosts if alias in h.aliases), None)


# ---------------------------------------------------------------- public API

def parse_services(path: Path, display_path: str) -> tuple[Services | None, list[Diagnostic]]:
    """Parse, preprocess, structure-check and model services.xml; never raises for bad content."""
    doc, diags = parse_xml(path, display_path)
    if doc is None:
        return None, diags
    tree, found = checked_tree(doc, "services.rng", Path(path).parent)
    diags.extend(found)
    services = build_model(doc, tree)
    if services is not None:
        diags.extend(_duplicates(services))
    return services, diags


def check_xml_file(path: Path, display_path: str, kind: str) -> list[Diagnostic]:
    """Check hosts.xml, deployment.xml or validation-overrides.xml (or services.xml) for well-formedness
    and structure; validation-overrides dates are read too."""
    name = kind if kind in _SCHEMA_OF else Path(kind).name
    if name == "services.xml":
        return parse_services(path, display_path)[1]
    if name == "hosts.xml":
        return parse_hosts(path, display_path)[1]
    doc, diags = parse_xml(path, display_path)
    if doc is None or name not in _SCHEMA_OF:
        return diags
    tree, found = checked_tree(doc, _SCHEMA_OF[name], Path(path).parent)
    diags.extend(found)
    if name == "validation-overrides.xml":
        diags.extend(check_validation_overrides(doc, tree))
    return diags


def parse_hosts(path: Path, display_path: str) -> tuple[Hosts | None, list[Diagnostic]]:
    """hosts.xml after preprocessing (it may use deploy: variants and properties too)."""
    doc, diags = parse_xml(path, display_path)
    if doc is None:
        return None, diags
    tree, found = checked_tree(doc, "hosts.rng", Path(path).parent)
    diags.extend(found)
    hosts = []
    owner: dict[str, Host] = {}
    for element in tree.getroot().iter("host"):
        aliases = tuple((a.text or "").strip() for a in element.iter("alias"))
        host = Host(element.get("name", ""), aliases, doc.span(element))
        for alias in aliases:
            first = owner.setdefault(alias, host)
            if first is not host:
                diags.append(Diagnostic(AK126, f"alias '{alias}' is given to {first.name} (line {first.span.line}) "
                                        f"and to {host.name}", host.span,
                                        hint=f"remove <alias>{alias}</alias> from one of the hosts"))
        hosts.append(host)
    return Hosts(tuple(hosts), doc.source.path), diags


def check_host_aliases(services: Services, hosts: Hosts) -> list[Diagnostic]:
    """Every hostalias= in services.xml names an alias of hosts.xml (for self-hosted packages)."""
    known = sorted({a for h in hosts.hosts for a in h.aliases})
    found = []
    for used in services.hostaliases:
        if hosts.host_of(used.alias) is None:
            listing = ", ".join(known) if known else "none"
            found.append(Diagnostic(AK125, f"hostalias '{used.alias}' is not defined in {hosts.path}", used.span,
                                    hint=f"add <alias>{used.alias}</alias> to a <host> in {hosts.path} "
                                    f"(aliases there: {listing})"))
    return found


def checked_tree(doc: XmlDocument, schema: str, package_root: Path | None) -> tuple[Any, list[Diagnostic]]:
    """The default-zone tree and every problem found in any zone (each reported once)."""
    from appkit.package import variants
    from appkit.package.xmlcheck import check_structure

    if not variants.uses_preprocessing(doc.root):
        return doc.tree, check_structure(doc, doc.tree, schema)
    found = variants.check_names(doc)
    doc, merged = variants.expand_includes(doc, package_root)  # spans still resolve: doc.included is shared
    found += merged + variants.consistency_warnings(doc)
    seen: set[tuple[str, int, int, str]] = set()
    default_tree = None
    for index, zone in enumerate(variants.zones_of(doc.root)):
        tree, pre = variants.preprocess(doc, zone, package_root)
        if index == 0:
            default_tree = tree
            found.extend(pre)
        for d in check_structure(doc, tree, schema):
            key = (d.code, d.span.line if d.span else 0, d.span.column if d.span else 0, d.message)
            if key in seen:
                continue
            seen.add(key)
            if index:
                d = Diagnostic(d.code, f"{d.message} ({zone.describe()})", d.span, d.hint, d.severity)
            found.append(d)
    return default_tree, found


# ---------------------------------------------------------------- the model

def build_model(doc: XmlDocument, tree: Any) -> Services | None:
    root = tree.getroot()
    name = local_name(root.tag)
    if name not in ("services", "container", "content"):
        return None
    from appkit.package.variants import uses_preprocessing

    clusters = [root] if name != "services" else [c for c in root if isinstance(c.tag, str)]
    containers = tuple(_container(doc, c) for c in clusters if local_name(c.tag) == "container")
    contents = tuple(_content(doc, c) for c in clusters if local_name(c.tag) == "content")
    aliases = tuple(HostAlias(e.get("hostalias"), doc.span(e, "hostalias"))
                    for e in root.iter() if isinstance(e.tag, str) and e.get("hostalias") is not None)
    return Services(root.get("version"), containers, contents, doc.span(root), doc.source.path,
                    uses_preprocessing(doc.root), aliases, tuple(doc.included.values()))


def _children(element: Any, name: str) -> list[Any]:
    return [c for c in element if isinstance(c.tag, str) and local_name(c.tag) == name]


def _int(element: Any | None) -> int | None:
    if element is None:
        return None
    try:
        return int((element.text or "").strip())
    except ValueError:
        return None


def _nodes(doc: XmlDocument, cluster: Any) -> NodeSpec | None:
    found = _children(cluster, "nodes")
    if not found:
        groups = _children(cluster, "group")
        if not groups:
            return None
        # a content cluster laid out in groups: the nodes are the leaves of the group tree
        leaves = [g for g in groups[0].iter("group") if not _children(g, "group")]
        aliases = tuple(n.get("hostalias", "") for n in groups[0].iter("node"))
        return NodeSpec(None, str(len(leaves)), aliases, doc.span(groups[0]))
    nodes = found[0]
    aliases = tuple(n.get("hostalias", "") for n in _children(nodes, "node"))
    return NodeSpec(nodes.get("count"), nodes.get("groups"), aliases, doc.span(nodes))


def _content(doc: XmlDocument, element: Any) -> ContentCluster:
    documents: list[DocumentRef] = []
    for docs in _children(element, "documents"):
        for d in _children(docs, "document"):
            documents.append(DocumentRef(
                type=d.get("type", ""), mode=d.get("mode", ""),
                global_=(d.get("global") or "false").strip() in ("true", "1"),
                selection=d.get("selection"), span=doc.span(d)))
    redundancy = _children(element, "redundancy")
    min_redundancy = _children(element, "min-redundancy")
    return ContentCluster(
        id=element.get("id") or "content",
        redundancy=_int(redundancy[0]) if redundancy else None,
        min_redundancy=_int(min_redundancy[0]) if min_redundancy else None,
        documents=tuple(documents), nodes=_nodes(doc, element), span=doc.span(element))


def _container(doc: XmlDocument, element: Any) -> ContainerCluster:
    components = tuple(
        Component(c.get("id") or c.get("idref") or c.get("ident") or "", c.get("class"), c.get("bundle"),
                  c.get("type"), doc.span(c))
        for c in _children(element, "component"))
    return ContainerCluster(
        id=element.get("id") or "container",
        search=bool(_children(element, "search")),
        document_api=bool(_children(element, "document-api")),
        document_processing=bool(_children(element, "document-processing")),
        model_evaluation=bool(_children(element, "model-evaluation")),
        components=components, nodes=_nodes(doc, element), span=doc.span(element))


def _duplicates(services: Services) -> Iterable[Diagnostic]:
    seen: dict[str, Span] = {}
    for cluster in (*services.containers, *services.content_clusters):
        first = seen.get(cluster.id)
        if first is not None:
            yield Diagnostic(AK119, f"cluster id '{cluster.id}' is already used by the cluster on line {first.line}",
                             cluster.span, hint=f"rename this cluster: id=\"{cluster.id}-2\" or another unique id")
        else:
            seen[cluster.id] = cluster.span
    for content in services.content_clusters:
        types: set[str] = set()
        for d in content.documents:
            if d.type in types:
                yield Diagnostic(AK124, f"document type '{d.type}' is listed twice in content cluster "
                                 f"'{content.id}'", d.span, hint="remove one of the <document> elements")
            types.add(d.type)


# ---------------------------------------------------------------- validation-overrides.xml

def check_validation_overrides(doc: XmlDocument, tree: Any, today: _dt.date | None = None) -> list[Diagnostic]:
    """Each <allow>: a validation id, and an until date that is a date, not past, at most 30 days ahead."""
    import datetime as _dt  # only needed when the package has validation-overrides.xml

    today = today or _dt.date.today()
    found = []
    for allow in tree.getroot().iter("allow"):
        validation_id = (allow.text or "").strip()
        if not validation_id:
            found.append(Diagnostic(AK133, "<allow> names no validation to override", doc.span(allow),
                                    hint="write the validation id inside, e.g. <allow until=\"...\">"
                                    "field-type-change</allow>"))
        until = (allow.get("until") or "").strip()
        try:
            date = _dt.date.fromisoformat(until)
        except ValueError:
            found.append(Diagnostic(AK130, f"until='{until}' is not a date", doc.span(allow, "until"),
                                    hint=f"write until=\"{(today + _dt.timedelta(days=7)).isoformat()}\" "
                                    "(YYYY-MM-DD, at most 30 days ahead)"))
            continue
        what = validation_id or "the override"
        if date < today:
            found.append(Diagnostic(AK131, f"the override of {what} expired on {date.isoformat()}, so it no "
                                    "longer applies", doc.span(allow, "until"),
                                    hint="remove this <allow>, or set a new until date if the change still needs it"))
        elif (date - today).days > 30:
            found.append(Diagnostic(AK132, f"the override of {what} runs until {date.isoformat()}, more than "
                                    "30 days ahead; Vespa refuses that", doc.span(allow, "until"),
                                    hint=f"use a date no later than {(today + _dt.timedelta(days=30)).isoformat()}"))
    return found
