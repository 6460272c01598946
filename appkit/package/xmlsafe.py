"""Hardened XML reading for the package's XML files: no DTDs, no entities, no network, located errors.

Every XML file appkit reads goes through `parse_xml`; a DOCTYPE is refused before libxml2 sees the
document, and the parser itself is configured so that nothing is expanded or fetched even if it did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from appkit.diagnostics import AK001, Diagnostic, rule
from appkit.source import SourceFile, Span

AK100 = rule("AK100", "XML is not well-formed",
             example="<services>\n  <admin version='2.0'>\n</services>   (admin is never closed)",
             fix="close every element and quote every attribute value; the message names the tag")
AK101 = rule("AK101", "DOCTYPE declarations are refused",
             example='<!DOCTYPE services [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
             fix="remove the DOCTYPE; Vespa's XML files never use a DTD or entities")
AK102 = rule("AK102", "XInclude is not supported",
             example='<xi:include href="more.xml" xmlns:xi="http://www.w3.org/2001/XInclude"/>',
             fix="use <preprocess:include file=...> (xmlns:preprocess=\"properties\") or copy the content in")

XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
_DOCTYPE = re.compile(r"<!DOCTYPE\b", re.IGNORECASE)
_ENTITY_DECL = re.compile(r"<!ENTITY\b", re.IGNORECASE)
_EXTERNAL_ID = re.compile(r"<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b", re.IGNORECASE)


class _RefuseExternal(etree.Resolver):
    """Answers every request for an external DTD or entity with nothing, so no file or URL is read.

    libxml2 can still ask for a DOCTYPE's external subset with DTD loading off (e.g. lxml's
    collect_ids=False does that); this makes any such request come back empty instead of reading.
    """

    def __init__(self, refused: list[str]) -> None:
        super().__init__()
        self.refused = refused

    def resolve(self, url: str, pubid: str, context: Any) -> Any:
        self.refused.append(url)
        return self.resolve_string("", context)


def hardened_parser(refused: list[str] | None = None) -> etree.XMLParser:
    """A parser that never loads a DTD, never expands an entity and never touches the network.

    `refused`, when given, collects the URLs libxml2 asked for and was refused (for tests).
    """
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    parser.resolvers.add(_RefuseExternal(refused if refused is not None else []))
    return parser


# Elements merged in from a preprocess:include file carry, as their first child, a processing
# instruction naming that file (validation and the model ignore processing instructions).
SOURCE_MARK = "appkit-source"


@dataclass(frozen=True)
class XmlDocument:
    """A parsed XML file with its text, so that elements and attributes can be given exact spans."""

    tree: Any  # lxml.etree._ElementTree
    source: SourceFile
    included: dict[str, SourceFile] = field(default_factory=dict)  # files merged in, by displayed path

    @property
    def root(self) -> Any:
        return self.tree.getroot()

    def span(self, element: Any, attribute: str | None = None) -> Span:
        return element_span(self.source_of(element), element, attribute)

    def source_of(self, element: Any) -> SourceFile:
        """The file an element was written in: this one, or the included file it came from."""
        if self.included:
            node = element
            while node is not None:
                first = node[0] if len(node) else None
                if first is not None and first.tag is etree.PI and first.target == SOURCE_MARK:
                    return self.included.get(first.text or "", self.source)
                node = node.getparent()
        return self.source


def read_source(path: Path, display_path: str) -> tuple[bytes | None, SourceFile | None, list[Diagnostic]]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        reason = e.strerror or str(e)
        return None, None, [Diagnostic(AK001, f"cannot read {display_path}: {reason}", Span(display_path, 1, 1),
                                       hint="check that the file exists and is readable")]
    return data, SourceFile(display_path, data.decode("utf-8", errors="replace")), []


def parse_xml(path: Path, display_path: str) -> tuple[XmlDocument | None, list[Diagnostic]]:
    """Parse one XML file safely; returns the document, or None with the diagnostics that say why."""
    data, source, diags = read_source(path, display_path)
    if data is None or source is None:
        return None, diags
    return parse_xml_bytes(data, source)


def parse_xml_bytes(data: bytes, source: SourceFile) -> tuple[XmlDocument | None, list[Diagnostic]]:
    refused = _refuse_doctype(source)
    if refused:
        return None, refused
    parser = hardened_parser()
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as e:
        # the parser's own log: lxml's global log may still hold an earlier file's validation errors
        return None, [_syntax_diagnostic(e, list(parser.error_log), source)]
    except (ValueError, MemoryError) as e:  # e.g. an encoding declaration lxml cannot honour
        return None, [Diagnostic(AK100, f"{source.path} cannot be read as XML: {e}", Span(source.path, 1, 1),
                                 hint="save the file as UTF-8 with <?xml version=\"1.0\" encoding=\"UTF-8\"?>")]
    doc = XmlDocument(tree, source)
    found = [Diagnostic(AK102, f"<{_local(e.tag)}> from XInclude is not supported by Vespa", doc.span(e),
                        hint="use <preprocess:include file=\"...\"/> with xmlns:preprocess=\"properties\"")
             for e in doc.root.iter(f"{{{XINCLUDE_NS}}}*")]
    return doc, found


def _refuse_doctype(source: SourceFile) -> list[Diagnostic]:
    """A DOCTYPE is where entity bombs, local-file entities and remote DTDs live: refuse it outright."""
    text = source.text.replace("\x00", "")  # UTF-16 text decoded as UTF-8 keeps its ASCII letters
    match = _DOCTYPE.search(text)
    if match is None:
        return []
    line = text.count("\n", 0, match.start()) + 1
    column = match.start() - text.rfind("\n", 0, match.start())
    span = Span(source.path, line, column, line, column + len("<!DOCTYPE"))
    rest = text[match.start():]
    if _ENTITY_DECL.search(rest):
        what = "declares entities; they are never expanded"
    elif _EXTERNAL_ID.match(rest):
        what = "refers to an external DTD; it is never loaded"
    else:
        what = "is not allowed"
    return [Diagnostic(AK101, f"the DOCTYPE declaration {what}, and the file is refused", span,
                       hint="remove the <!DOCTYPE ...> declaration; Vespa's XML files use no DTD or entities")]


_SYNTAX_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and (\S+)"),
     r"<\1> opened on line \2 is not closed before </\3>"),
    (re.compile(r"Premature end of data in tag (\S+) line (\d+)"), r"the file ends before <\1> from line \2 is closed"),
    (re.compile(r"EndTag: '</' not found"), "the file ends before every element is closed"),
    (re.compile(r"Specification mandates? value for attribute (\S+)"), r"attribute \1 has no value"),
    (re.compile(r"AttValue: \" or ' expected"), "an attribute value must be in quotes"),
    (re.compile(r"Attribute (\S+) redefined"), r"attribute \1 is given twice"),
    (re.compile(r"Extra content at the end of the document"), "there is content after the root element ends"),
    (re.compile(r"Document is empty"), "the file holds no XML element"),
    (re.compile(r"Start tag expected, '<' not found"), "the file holds no XML element"),
)


def _syntax_diagnostic(error: etree.XMLSyntaxError, log: list[Any], source: SourceFile) -> Diagnostic:
    entries = [e for e in log if e.level_name in ("FATAL", "ERROR")] or log
    first = entries[0] if entries else None
    raw = (first.message if first is not None else str(error.msg or error)).strip()
    line = first.line if first is not None and first.line > 0 else (error.lineno or 1)
    column = first.column if first is not None and first.column > 0 else (error.offset or 1)
    message = raw
    for pattern, replacement in _SYNTAX_REWRITES:
        if pattern.search(raw):
            message = pattern.sub(replacement, raw)
            break
    message = re.sub(r", line \d+, column \d+$", "", message)
    lines = source.text.splitlines()
    line = min(max(line, 1), max(len(lines), 1))
    if "tag mismatch" in raw and line <= len(lines):
        # libxml2 points after the end tag; point at its '</' instead
        start = lines[line - 1].rfind("</", 0, max(column - 1, 0))
        column = start + 1 if start >= 0 else column
    unclosed = re.search(r"Premature end of data in tag (\S+) line (\d+)", raw)
    if unclosed and int(unclosed.group(2)) <= len(lines):
        # point at the element that is never closed rather than at the end of the file
        line = int(unclosed.group(2))
        column = lines[line - 1].find("<" + unclosed.group(1)) + 1 or 1
    hint = "fix the XML syntax here (libxml2: " + raw + ")"
    for prefix, uri in (("deploy", "vespa"), ("preprocess", "properties")):
        if f"Namespace prefix {prefix} " in raw:
            hint = f"declare the namespace on the root element: xmlns:{prefix}=\"{uri}\""
    return Diagnostic(AK100, f"not well-formed XML: {message}", Span(source.path, line, max(column, 1)),
                      hint=hint)


@lru_cache(maxsize=None)
def relaxng(filename: str) -> etree.RelaxNG:
    """Our RelaxNG schema `filename` from schemas/, compiled once per process on first use."""
    from appkit.resources import schema_path

    return etree.RelaxNG(parse_own_file(schema_path(filename)))


def parse_own_file(path: Path) -> Any:
    """One of appkit's own XML files (schemas/*.rng): read by path so that includes resolve."""
    return etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else str(tag)


def local_name(tag: Any) -> str:
    return _local(tag)


def element_span(source: SourceFile, element: Any, attribute: str | None = None) -> Span:
    """Where an element's start tag (or one of its attributes) is in the text.

    libxml2 records the line where the start tag *ends*; the tag may start lines earlier, and several
    elements of the same name may sit on one line, so the text is searched for the right occurrence.
    """
    end_line = element.sourceline or 1
    qname = _qualified_name(element)
    occurrence = _same_line_index(element)
    lines = source.text.splitlines() or [""]
    tag_re = re.compile(r"<" + re.escape(qname) + r"(?=[\s/>])")
    for line_no in range(min(end_line, len(lines)), max(end_line - 40, 0), -1):
        hits = list(tag_re.finditer(lines[line_no - 1]))
        if not hits:
            continue
        hit = hits[min(occurrence, len(hits) - 1)] if line_no == end_line else hits[-1]
        start = Span(source.path, line_no, hit.start() + 1, line_no, hit.end() + 1)
        if attribute is None:
            return start
        return _attribute_span(source, lines, start, attribute, end_line) or start
    return Span(source.path, end_line, 1)


def _attribute_span(source: SourceFile, lines: list[str], start: Span, attribute: str, end_line: int) -> Span | None:
    attr_re = re.compile(r"(?<![\w:.-])" + re.escape(attribute) + r"\s*=")
    for line_no in range(start.line, min(end_line, len(lines)) + 1):
        text = lines[line_no - 1]
        offset = start.column if line_no == start.line else 0
        m = attr_re.search(text, offset)
        if m:
            return Span(source.path, line_no, m.start() + 1, line_no, m.start() + 1 + len(attribute))
    return None


def _qualified_name(element: Any) -> str:
    qname = etree.QName(element.tag)
    if qname.namespace and element.prefix:
        return f"{element.prefix}:{qname.localname}"
    return qname.localname


def _same_line_index(element: Any) -> int:
    """How many elements with the same tag precede this one on its source line."""
    count = 0
    prev = element.getprevious()
    while prev is not None and prev.sourceline == element.sourceline:
        if prev.tag == element.tag:
            count += 1
        prev = prev.getprevious()
    parent = element.getparent()
    if parent is not None and parent.tag == element.tag and parent.sourceline == element.sourceline:
        count += 1
    return count
