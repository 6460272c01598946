"""services.xml: the typed model, located structure errors with useful wording, and duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from appkit.diagnostics import Severity
from appkit.package.services import Services, parse_services

SERVICES = """<?xml version="1.0" encoding="UTF-8"?>
<services version="1.0">
  <container id="default" version="1.0">
    <search/>
    <document-api/>
    <component id="embedder" type="hugging-face-embedder">
      <transformer-model path="models/e5.onnx"/>
    </component>
    <component id="com.example.Thing" class="com.example.Thing" bundle="thing"/>
    <nodes count="2"/>
  </container>
  <content id="music" version="1.0">
    <redundancy>2</redundancy>
    <min-redundancy>2</min-redundancy>
    <documents garbage-collection="true">
      <document type="music" mode="index" selection="music.year &gt; 1990"/>
      <document type="artist"
                mode="store-only" global="true"/>
      <document type="log" mode="streaming" global="false"/>
    </documents>
    <nodes>
      <node hostalias="node1" distribution-key="0"/>
      <node hostalias="node2" distribution-key="1"/>
    </nodes>
  </content>
</services>
"""


def _parse(tmp_path: Path, text: str, name: str = "services.xml") -> tuple[Services | None, list]:
    path = tmp_path / name
    path.write_text(text)
    return parse_services(path, name)


def _errors(diags):
    return [d for d in diags if d.level is Severity.ERROR]


def test_model_of_a_full_file(tmp_path):
    services, diags = _parse(tmp_path, SERVICES)
    assert diags == []
    assert services.version == "1.0" and services.path == "services.xml"
    assert (services.span.line, services.span.column) == (2, 1)
    (container,) = services.containers
    assert container.id == "default" and container.search and container.document_api
    assert not container.document_processing and not container.model_evaluation
    assert [(c.id, c.class_, c.bundle, c.type) for c in container.components] == [
        ("embedder", None, None, "hugging-face-embedder"),
        ("com.example.Thing", "com.example.Thing", "thing", None)]
    assert container.nodes.count == "2" and container.nodes.hostaliases == ()
    (content,) = services.content_clusters
    assert (content.id, content.redundancy, content.min_redundancy) == ("music", 2, 2)
    assert content.nodes.hostaliases == ("node1", "node2") and content.nodes.count is None
    assert [(d.type, d.mode, d.global_, d.selection) for d in content.documents] == [
        ("music", "index", False, "music.year > 1990"),
        ("artist", "store-only", True, None),
        ("log", "streaming", False, None)]
    assert services.document_types() == ("music", "artist", "log")
    assert services.documents_of("artist")[0][0] is content
    assert content.document("log").mode == "streaming" and content.document("nope") is None


def test_spans_point_at_the_start_tag(tmp_path):
    services, _ = _parse(tmp_path, SERVICES)
    music, artist, log = services.content_clusters[0].documents
    assert (music.span.line, music.span.column) == (16, 7)
    # a start tag over two lines: libxml2 records the line where it ends, the span where it starts
    assert (artist.span.line, artist.span.column) == (17, 7)
    assert (log.span.line, log.span.column) == (19, 7)
    assert services.content_clusters[0].span.line == 12
    assert services.containers[0].components[1].span.line == 9


def test_spans_of_same_named_elements_on_one_line(tmp_path):
    text = ('<services version="1.0"><content id="c" version="1.0"><documents>'
            '<document type="a" mode="index"/><document type="b" mode="index"/></documents></content></services>')
    services, diags = _parse(tmp_path, text)
    assert diags == []
    a, b = services.content_clusters[0].documents
    assert a.span.line == b.span.line == 1
    assert text[a.span.column - 1:].startswith('<document type="a"')
    assert text[b.span.column - 1:].startswith('<document type="b"')


def test_bare_container_root_and_default_ids(tmp_path):
    services, diags = _parse(tmp_path, '<container version="1.0"><search/></container>')
    assert diags == [] and services.containers[0].id == "container" and services.content_clusters == ()
    services, diags = _parse(tmp_path, '<services version="1.0"><content version="1.0"/></services>')
    assert diags == [] and services.content_clusters[0].id == "content"


BASE = """<services version="1.0">
  <container id="c" version="1.0">
    <search/>
  </container>
  <content id="music" version="1.0">
    <redundancy>2</redundancy>
    <documents>
      <document type="music" mode="index"/>
    </documents>
    <nodes count="2"/>
  </content>
</services>
"""


@pytest.mark.parametrize("old, new, code, line, column, words, hint_words", [
    ('<redundancy>2</redundancy>', '<redundancy>2</redundancy><thread count="1"/>', "AK110", 6, 31,
     "<thread> is not allowed in <content>", "<documents>"),
    ('<services version="1.0">', '<services version="1.0">\n  <simple version="1.0"/>', "AK110", 2, 3,
     "<simple> is not allowed in <services>", "<container>"),
    ('mode="index"', 'mode="indexed"', "AK114", 8, 30, "'indexed' is not a valid value for mode on <document>",
     "write mode=\"index\" (or one of 'index', 'streaming', 'store-only')"),
    (' mode="index"', '', "AK113", 8, 7, "<document> needs the attribute 'mode'", 'mode="index"'),
    ('mode="index"', 'mode="index" globl="true"', "AK112", 8, 43, "attribute 'globl' is not allowed on <document>",
     "did you mean global?"),
    ('mode="index"', 'mode="index" global="yes"', "AK114", 8, 43, "'yes' is not a valid value for global",
     "true or false"),
    ('<redundancy>2<', '<redundancy>0<', "AK114", 6, 5, "'0' is not a valid value for <redundancy>",
     "from 1 to 65534"),
    ('<container id="c" version="1.0">', '<container id="c">', "AK113", 2, 3,
     "<container> needs the attribute 'version'", 'version="1.0"'),
    ('<search/>', '<search/><config><a>1</a></config>', "AK113", 3, 14, "<config> needs the attribute 'name'",
     'name="..."'),
    ('<nodes count="2"/>', '<nodes count="2">></nodes>', "AK117", 10, 5, "<nodes> cannot contain text", "remove"),
    ('<document type="music" mode="index"/>', '', "AK111", 7, 5, "<documents> must contain <document>",
     "add <document>"),
    ('<services version="1.0">', '<services version="1.0">\n<admin version="2.0"><adminserver hostalias="a"/>'
     '</admin>\n<admin version="2.0"><adminserver hostalias="a"/></admin>', "AK115", 3, 1,
     "<services> may contain only one <admin>", "deploy:environment"),
    ('<search/>', '<search/><documents/>', "AK110", 3, 14, "<documents> is not allowed in <container>",
     "did you mean <document>?"),
    ('<search/>', '<search/><nodes><node hostalias="a" baseport="80"/></nodes>', "AK112", 3, 41,
     "attribute 'baseport' is not allowed on <node>", "cpu-socket, hostalias"),
    ('<services version="1.0">', '<services version="2.0">', "AK114", 1, 11, "'2.0' is not a valid value for version",
     'write version="1.0"'),
])
def test_structure_errors_are_located_and_explained(tmp_path, old, new, code, line, column, words, hint_words):
    assert old in BASE
    services, diags = _parse(tmp_path, BASE.replace(old, new, 1))
    errors = _errors(diags)
    assert errors, "expected an error"
    match = [d for d in errors if d.code == code and words in d.message]
    assert match, errors
    d = match[0]
    assert (d.span.line, d.span.column) == (line, column), d
    assert hint_words in d.hint
    assert services is not None  # the model is still built, for the checks that follow


def test_wrong_root_element(tmp_path):
    services, diags = _parse(tmp_path, '<servces version="1.0"/>')
    assert services is None
    assert [(d.code, d.span.line) for d in diags] == [("AK118", 1)]
    assert "did you mean <services>?" in diags[0].hint


def test_count_and_node_children_together(tmp_path):
    services, diags = _parse(tmp_path, BASE.replace('<nodes count="2"/>',
                                                    '<nodes count="2"><node hostalias="a" distribution-key="0"/>'
                                                    '</nodes>'))
    assert [(d.code, d.span.line) for d in _errors(diags)] == [("AK116", 10)]
    assert "both count= and <node> children" in diags[0].message and "not both" in diags[0].hint


def test_foreign_namespace(tmp_path):
    _, diags = _parse(tmp_path, '<services version="1.0" xmlns="urn:other">\n  <container version="1.0"/>\n'
                                '</services>')
    assert [(d.code, d.span.line) for d in diags] == [("AK116", 1)]
    assert "namespace 'urn:other'" in diags[0].message and 'remove xmlns="urn:other"' in diags[0].hint


def test_fallback_when_no_rule_explains(tmp_path):
    """A choice the table does not model (container <nodes> with neither count=, type=, of= nor <node>)."""
    _, diags = _parse(tmp_path, BASE.replace('<search/>', '<search/><nodes jvm-options="-Xmx1g"/>'))
    assert [(d.code, d.span.line) for d in diags] == [("AK116", 3)]
    assert "<nodes>" in diags[0].message


def test_every_problem_reported_in_one_run(tmp_path):
    text = BASE.replace('mode="index"', 'mode="bad"').replace('<search/>', '<search/><bogus/>')
    _, diags = _parse(tmp_path, text)
    assert sorted(d.code for d in _errors(diags)) == ["AK110", "AK114"]


def test_duplicate_cluster_ids_and_document_types(tmp_path):
    text = BASE.replace('<container id="c"', '<container id="music"').replace(
        '<document type="music" mode="index"/>',
        '<document type="music" mode="index"/>\n      <document type="music" mode="streaming"/>')
    _, diags = _parse(tmp_path, text)
    assert [(d.code, d.span.line) for d in diags] == [("AK119", 5), ("AK124", 9)]
    assert "line 2" in diags[0].message


def test_tuning_and_container_internals_are_open(tmp_path):
    """Parts appkit does not model accept whatever Vespa may add there."""
    text = BASE.replace('<search/>', '<search><chain id="x" inherits="vespa"><searcher id="s"/></chain>'
                        '<future-feature level="3"/></search>').replace(
        '<nodes count="2"/>', '<nodes count="2"/><tuning><anything><deeper a="b"/></anything></tuning>')
    _, diags = _parse(tmp_path, text)
    assert diags == []


GROUPED = """<services version="1.0">
  <admin version="2.0"><adminserver hostalias="node1"/></admin>
  <content id="c" version="1.0">
    <redundancy>2</redundancy>
    <documents><document type="d" mode="index"/></documents>
    <group>
      <distribution partitions="1|*"/>
      <group name="g0" distribution-key="0"><node hostalias="node1" distribution-key="0"/></group>
      <group name="g1" distribution-key="1"><node hostalias="node3" distribution-key="1"/></group>
    </group>
  </content>
</services>
"""


def test_groups_and_host_aliases(tmp_path):
    from appkit.package.services import check_host_aliases, parse_hosts

    services, diags = _parse(tmp_path, GROUPED)
    assert diags == []
    nodes = services.content_clusters[0].nodes
    assert (nodes.count, nodes.groups, nodes.hostaliases, nodes.span.line) == (None, "2", ("node1", "node3"), 6)
    assert [(a.alias, a.span.line, a.span.column) for a in services.hostaliases] == [
        ("node1", 2, 37), ("node1", 8, 51), ("node3", 9, 51)]
    lines = GROUPED.splitlines()
    assert all(lines[a.span.line - 1][a.span.column - 1:].startswith("hostalias=") for a in services.hostaliases)
    hosts_xml = tmp_path / "hosts.xml"
    hosts_xml.write_text('<hosts>\n  <host name="a.example.com"><alias>node1</alias></host>\n'
                         '  <host name="b.example.com"><alias>node2</alias><alias>node1</alias></host>\n</hosts>')
    hosts, found = parse_hosts(hosts_xml, "hosts.xml")
    assert [(d.code, d.span.line) for d in found] == [("AK126", 3)]
    assert hosts.host_of("node2").name == "b.example.com"
    missing = check_host_aliases(services, hosts)
    assert [(d.code, d.span.line, d.span.column) for d in missing] == [("AK125", 9, 51)]
    assert "<alias>node3</alias>" in missing[0].hint and "node1, node2" in missing[0].hint
