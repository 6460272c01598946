"""Hostile XML: entity bombs, local-file entities, remote DTDs, XInclude, runaway nesting.

Each is refused with a located diagnostic, nothing is expanded and nothing is fetched. Besides the
public API, the hardened parser itself is tested with the DOCTYPE guard bypassed (defence in depth).
"""

from __future__ import annotations

import http.server
import threading
import time
from pathlib import Path

import pytest
from lxml import etree

from appkit.package.services import check_xml_file, parse_services
from appkit.package.xmlsafe import hardened_parser, parse_xml

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE services [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<services version="1.0"><config name="x"><a>&lol9;</a></config></services>
"""

SECRET = "appkit-secret-marker-7f3a9c"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET + "\n")
    return path


class _CountingServer:
    """A local HTTP server that records every request, to prove nothing is fetched."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                outer.requests.append(self.path)
                body = b'<!ENTITY x "' + SECRET.encode() + b'">'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_CountingServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _write(tmp_path: Path, text: str, name: str = "services.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _all_text(diags) -> str:
    return "\n".join(f"{d.message} {d.hint}" for d in diags)


def test_billion_laughs_refused_fast(tmp_path):
    path = _write(tmp_path, BILLION_LAUGHS)
    start = time.perf_counter()
    services, diags = parse_services(path, "services.xml")
    assert time.perf_counter() - start < 1.0
    assert services is None
    assert [d.code for d in diags] == ["AK101"]
    assert "declares entities" in diags[0].message
    assert (diags[0].span.line, diags[0].span.column) == (2, 1)
    assert "lollol" not in _all_text(diags)


def test_billion_laughs_not_expanded_by_the_parser_itself():
    """Even past the DOCTYPE guard, libxml2 with our settings never expands the entities."""
    try:
        root = etree.fromstring(BILLION_LAUGHS.encode(), hardened_parser())
    except etree.XMLSyntaxError:
        return  # refusing outright is fine too
    assert len(etree.tostring(root)) < 10_000
    assert "lollol" not in etree.tostring(root, encoding="unicode")


def test_external_entity_to_local_file_refused(tmp_path, secret_file):
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE services [ <!ENTITY xxe SYSTEM "file://{secret_file}"> ]>\n'
            '<services version="1.0"><config name="&xxe;"><a>&xxe;</a></config></services>\n')
    path = _write(tmp_path, text)
    services, diags = parse_services(path, "services.xml")
    assert services is None and [d.code for d in diags] == ["AK101"]
    assert SECRET not in _all_text(diags)
    # the parser alone: the entity stays a reference, the file is never read into the tree
    try:
        root = etree.fromstring(text.encode(), hardened_parser())
    except etree.XMLSyntaxError:
        return
    assert SECRET not in etree.tostring(root, encoding="unicode")


def test_remote_dtd_and_remote_entity_never_fetched(tmp_path):
    with _CountingServer() as server:
        documents = [
            f'<?xml version="1.0"?>\n<!DOCTYPE services SYSTEM "{server.url}/evil.dtd">\n<services version="1.0"/>\n',
            f'<?xml version="1.0"?>\n<!DOCTYPE services [ <!ENTITY % remote SYSTEM "{server.url}/p.dtd"> %remote; ]>\n'
            '<services version="1.0"/>\n',
            f'<?xml version="1.0"?>\n<!DOCTYPE services [ <!ENTITY x SYSTEM "{server.url}/x"> ]>\n'
            '<services version="1.0"><config name="a"><b>&x;</b></config></services>\n',
        ]
        for i, text in enumerate(documents):
            path = _write(tmp_path, text, f"case{i}.xml")
            for diags in (parse_services(path, path.name)[1], check_xml_file(path, path.name, "hosts.xml")):
                assert [d.code for d in diags] == ["AK101"], diags
                assert SECRET not in _all_text(diags)
            try:  # the parser alone, past the guard
                root = etree.fromstring(text.encode(), hardened_parser())
                assert SECRET not in etree.tostring(root, encoding="unicode")
            except etree.XMLSyntaxError:
                pass
            # whatever libxml2 asks for, the hardened parser answers with nothing
            refused: list[str] = []
            try:
                etree.fromstring(text.encode(), hardened_parser(refused))
            except etree.XMLSyntaxError:
                pass
            assert all(url.startswith(server.url) for url in refused)
        time.sleep(0.05)
        assert server.requests == []
    assert "external DTD" in parse_services(_write(tmp_path, documents[0]), "services.xml")[1][0].message


def test_local_external_dtd_never_read_by_the_parser(tmp_path, secret_file):
    """libxml2 can read a DOCTYPE's external subset even with DTD loading off (lxml's collect_ids=False
    is enough); the hardened parser answers any such request with nothing, so the DTD is never read."""
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY sec SYSTEM "file://{secret_file}">\n<!ATTLIST services leak CDATA "{SECRET}">\n')
    text = f'<?xml version="1.0"?>\n<!DOCTYPE services SYSTEM "file://{dtd}">\n<services><a>&sec;</a></services>'
    plain = etree.fromstring(text.encode(), etree.XMLParser(resolve_entities=False, no_network=True,
                                                            collect_ids=False))
    assert [e.name for e in plain.getroottree().docinfo.externalDTD.iterentities()] == ["sec"]  # control
    refused: list[str] = []
    root = etree.fromstring(text.encode(), hardened_parser(refused))
    external = root.getroottree().docinfo.externalDTD
    assert external is None or list(external.iterentities()) == []
    assert refused in ([], [f"file://{dtd}"])
    assert SECRET not in etree.tostring(root, encoding="unicode")
    services, diags = parse_services(_write(tmp_path, text), "services.xml")
    assert services is None and [d.code for d in diags] == ["AK101"]


def test_utf16_doctype_refused(tmp_path, secret_file):
    text = (f'<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE s [ <!ENTITY x SYSTEM "file://{secret_file}"> ]>\n'
            '<services version="1.0"><config name="a"><b>&x;</b></config></services>\n')
    path = tmp_path / "services.xml"
    path.write_bytes(text.encode("utf-16"))
    services, diags = parse_services(path, "services.xml")
    assert services is None
    assert [d.code for d in diags] == ["AK101"]
    assert SECRET not in _all_text(diags)


def test_xinclude_reported_and_not_processed(tmp_path, secret_file):
    text = ('<services version="1.0" xmlns:xi="http://www.w3.org/2001/XInclude">\n'
            f'  <xi:include href="{secret_file}" parse="text"/>\n</services>\n')
    path = _write(tmp_path, text)
    services, diags = parse_services(path, "services.xml")
    assert "AK102" in [d.code for d in diags]
    ak102 = next(d for d in diags if d.code == "AK102")
    assert (ak102.span.line, ak102.span.column) == (2, 3)
    assert SECRET not in _all_text(diags)


def test_not_well_formed_has_line_and_column(tmp_path):
    path = _write(tmp_path, '<services version="1.0">\n  <admin version="2.0">\n    <adminserver hostalias="a">\n'
                            '  </admin>\n</services>\n')
    services, diags = parse_services(path, "services.xml")
    assert services is None
    assert [d.code for d in diags] == ["AK100"]
    d = diags[0]
    assert (d.span.line, d.span.column) == (4, 3)
    assert "<adminserver> opened on line 3 is not closed before </admin>" in d.message


@pytest.mark.parametrize("text, line, words", [
    ('<services version="1.0">\n  <content version=1.0 id="x"/>\n</services>', 2, "in quotes"),
    ('<services version="1.0">\n  <content version="1.0" version="1.0"/>\n</services>', 2, "given twice"),
    ('<services version="1.0">\n  <nodes deploy:environment="dev"/>\n</services>', 2, "Namespace prefix deploy"),
    ('', 1, "no XML element"),
    ('<services version="1.0">\n  <admin version="2.0">\n', 2, "before <admin> from line 2 is closed"),
])
def test_syntax_errors_located(tmp_path, text, line, words):
    services, diags = parse_services(_write(tmp_path, text), "services.xml")
    assert services is None and len(diags) == 1 and diags[0].code == "AK100"
    assert diags[0].span.line == line and words in diags[0].message, diags[0]
    if "deploy" in text:
        assert 'xmlns:deploy="vespa"' in diags[0].hint


def test_runaway_nesting_refused_without_crash(tmp_path):
    depth = 5000
    text = '<services version="1.0">' + "<a>" * depth + "</a>" * depth + "</services>"
    services, diags = parse_services(_write(tmp_path, text), "services.xml")
    assert diags and diags[0].code in ("AK100", "AK110")
    assert all(d.span is not None and d.span.line >= 1 for d in diags)


def test_unreadable_file_is_a_diagnostic(tmp_path):
    doc, diags = parse_xml(tmp_path / "missing.xml", "missing.xml")
    assert doc is None and [d.code for d in diags] == ["AK001"]
