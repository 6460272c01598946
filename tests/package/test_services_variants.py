"""deploy: variants and preprocess: directives, as Vespa's preprocessor applies them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from appkit.diagnostics import Severity
from appkit.package import variants
from appkit.package.services import check_validation_overrides, check_xml_file, parse_services
from appkit.package.xmlsafe import parse_xml

# The shape of Vespa's deployment-variants documentation: one <nodes> per zone.
MULTI_ZONE = """<services version="1.0" xmlns:deploy="vespa" xmlns:preprocess="properties">
  <preprocess:properties>
    <copies>2</copies>
    <doc.type>music</doc.type>
  </preprocess:properties>
  <container id="default" version="1.0">
    <search/>
    <nodes deploy:environment="dev" count="1"/>
    <nodes count="4"/>
  </container>
  <content id="music" version="1.0">
    <redundancy>${copies}</redundancy>
    <documents>
      <document type="${doc.type}" mode="index"/>
    </documents>
    <nodes deploy:environment="dev" count="1"/>
    <nodes deploy:environment="prod" deploy:region="aws-us-east-1c" count="20"/>
    <nodes deploy:cloud="gcp" count="10"/>
    <nodes deploy:environment="prod" deploy:region="aws-us-west-2a" count="40"/>
    <nodes count="3"/>
  </content>
</services>
"""


def _write(tmp_path: Path, text: str, name: str = "services.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_variants_are_not_errors_and_the_model_is_the_default_zone(tmp_path):
    services, diags = parse_services(_write(tmp_path, MULTI_ZONE), "services.xml")
    assert diags == []
    assert services.uses_variants
    assert services.containers[0].nodes.count == "4"
    content = services.content_clusters[0]
    assert content.redundancy == 2 and content.documents[0].type == "music"
    assert content.nodes.count == "3"
    assert content.documents[0].span.line == 14  # spans stay those of the file as written


def test_one_variant_is_kept_per_zone(tmp_path):
    doc, _ = parse_xml(_write(tmp_path, MULTI_ZONE), "services.xml")
    chosen = {}
    for zone in variants.zones_of(doc.root):
        tree, _ = variants.preprocess(doc, zone, tmp_path)
        content = tree.getroot().find("content")
        (nodes,) = content.findall("nodes")
        chosen[(zone.environment, zone.region, zone.cloud)] = (nodes.get("count"), nodes.get("required"))
    assert chosen == {
        ("prod", "default", "default"): ("3", None),
        ("dev", "default", "default"): ("1", "true"),  # chosen for the zone: Vespa makes it required
        ("prod", "aws-us-east-1c", "default"): ("20", "true"),
        ("prod", "default", "gcp"): ("10", "true"),
        ("prod", "aws-us-west-2a", "default"): ("40", "true"),
    }


def test_error_only_in_a_variant_names_the_zone(tmp_path):
    text = MULTI_ZONE.replace('<nodes deploy:environment="dev" count="1"/>\n  </container>',
                              '<nodes deploy:environment="dev" count="1"/>\n  </container>', 1).replace(
        '<search/>', '<search/>\n    <threads deploy:environment="staging" count="2"/>')
    _, diags = parse_services(_write(tmp_path, text), "services.xml")
    assert [(d.code, d.span.line) for d in diags] == [("AK110", 8)]
    assert "(in the variant for environment staging, region default)" in diags[0].message


def test_unknown_deploy_directive_and_undefined_property(tmp_path):
    text = MULTI_ZONE.replace('<nodes count="4"/>', '<nodes deploy:enviroment="perf" count="4"/>').replace(
        "${copies}", "${copiez}")
    _, diags = parse_services(_write(tmp_path, text), "services.xml")
    codes = {(d.code, d.span.line) for d in diags}
    assert ("AK120", 9) in codes and ("AK123", 12) in codes
    typo = next(d for d in diags if d.code == "AK120")
    assert "deploy:environment" in typo.hint
    assert typo.span.column == 12  # the attribute itself
    assert next(d for d in diags if d.code == "AK123").level is Severity.WARNING


def test_nested_variant_outside_its_parent_warns(tmp_path):
    text = """<services version="1.0" xmlns:deploy="vespa">
  <container id="c" version="1.0" deploy:environment="prod">
    <nodes deploy:environment="dev" count="1"/>
  </container>
</services>"""
    _, diags = parse_services(_write(tmp_path, text), "services.xml")
    assert [(d.code, d.level, d.span.line) for d in diags] == [("AK121", Severity.WARNING, 3)]


def test_preprocess_include(tmp_path):
    text = """<services version="1.0" xmlns:preprocess="properties">
  <preprocess:include file="jdisc.xml"/>
  <preprocess:include file="optional.xml" required="false"/>
  <container id="c" version="1.0"/>
</services>"""
    _, diags = parse_services(_write(tmp_path, text), "services.xml")
    # Vespa's IncludeProcessor fails the deployment on a required file that is missing
    assert [(d.code, d.span.line, d.level) for d in diags] == [("AK122", 2, Severity.ERROR)]
    (tmp_path / "jdisc.xml").write_text("<container id='search' version='1.0'/>")
    services, diags = parse_services(tmp_path / "services.xml", "services.xml")
    assert diags == []
    assert [c.id for c in services.containers] == ["c", "search"]  # appended, as Vespa does


INCLUDING = """<services version="1.0" xmlns:preprocess="properties">
  <container id="default" version="1.0">
    <search/>
  </container>
  <content id="main" version="1.0">
    <redundancy>1</redundancy>
    <preprocess:include file="content/documents.xml"/>
    <nodes count="1"/>
  </content>
</services>"""


def test_included_content_is_merged_and_reported_at_its_own_file_and_line(tmp_path):
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "documents.xml").write_text(
        "<!-- the documents of main -->\n<documents>\n  <document type='music' mode='index'/>\n"
        "  <preprocess:include file='more.xml'/>\n</documents>\n")
    (tmp_path / "content" / "more.xml").write_text("\n\n<document type='album' mode='index'/>\n")
    services, diags = parse_services(_write(tmp_path, INCLUDING), "services.xml")
    assert diags == []
    (content,) = services.content_clusters
    assert [(d.type, d.span.path.rsplit("/", 1)[-1], d.span.line) for d in content.documents] == [
        ("music", "documents.xml", 3), ("album", "more.xml", 3)]
    # a problem inside an included file is reported there, not in services.xml
    (tmp_path / "content" / "more.xml").write_text("\n<document type='album' mode='sometimes'/>\n")
    _, diags = parse_services(tmp_path / "services.xml", "services.xml")
    assert [(d.span.path.rsplit("/", 1)[-1], d.span.line) for d in diags] == [("more.xml", 2)]


def test_an_included_file_that_is_not_well_formed_is_located_in_it(tmp_path):
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "documents.xml").write_text("<documents>\n  <document type='music'>\n</documents>\n")
    _, diags = parse_services(_write(tmp_path, INCLUDING), "services.xml")
    assert [(d.code, d.span.path.rsplit("/", 1)[-1], d.span.line) for d in diags][:1] == [
        ("AK100", "documents.xml", 3)]


def test_an_xml_declaration_in_an_included_file_is_explained(tmp_path):
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "documents.xml").write_text(
        '<?xml version="1.0"?>\n<documents><document type="music" mode="index"/></documents>\n')
    _, diags = parse_services(_write(tmp_path, INCLUDING), "services.xml")
    assert [(d.code, d.span.path.rsplit("/", 1)[-1], d.span.line) for d in diags] == [("AK100", "documents.xml", 1)]
    assert "remove the <?xml ...?> line" in diags[0].hint


def test_includes_outside_the_package_or_in_a_cycle_are_refused(tmp_path):
    (tmp_path / "secret.xml").write_text("<documents><document type='x' mode='index'/></documents>")
    app = tmp_path / "app"
    app.mkdir()
    (app / "content").mkdir()
    for name in ("../../secret.xml", "/etc/passwd"):
        (app / "content" / "documents.xml").write_text(f"<preprocess:include file='{name}'/>")
        _, diags = parse_services(_write(app, INCLUDING), "services.xml")
        assert [d.code for d in diags] == ["AK127"], name
    (app / "content" / "documents.xml").write_text("<preprocess:include file='again.xml'/>")
    (app / "content" / "again.xml").write_text("<preprocess:include file='documents.xml'/>")
    _, diags = parse_services(app / "services.xml", "services.xml")
    assert [d.code for d in diags if d.level is Severity.ERROR][:1] == ["AK128"]
    assert "documents.xml -> again.xml -> documents.xml" in diags[0].message
    # a file that includes itself, at the top
    text = '<services version="1.0" xmlns:preprocess="properties"><preprocess:include file="services.xml"/></services>'
    _, diags = parse_services(_write(app, text), str(app / "services.xml"))
    assert [d.code for d in diags] == ["AK128"]


def test_hosts_with_variants_and_deployment_checked(tmp_path):
    hosts = """<hosts xmlns:deploy="vespa" xmlns:preprocess="properties">
  <preprocess:properties>
    <node1.hostname>default.example.com</node1.hostname>
    <node1.hostname deploy:environment="dev">dev.example.com</node1.hostname>
  </preprocess:properties>
  <host name="${node1.hostname}"><alias>node1</alias></host>
</hosts>"""
    assert check_xml_file(_write(tmp_path, hosts, "hosts.xml"), "hosts.xml", "hosts.xml") == []
    bad_hosts = "<hosts>\n  <host><alias>node1</alias></host>\n</hosts>"
    diags = check_xml_file(_write(tmp_path, bad_hosts, "hosts.xml"), "hosts.xml", "hosts.xml")
    assert [(d.code, d.span.line) for d in diags] == [("AK113", 2)]
    deployment = '<deployment version="1.0">\n  <prod>\n    <region>us-east-3</region>\n    <regoin>x</regoin>\n' \
                 '  </prod>\n</deployment>'
    diags = check_xml_file(_write(tmp_path, deployment, "deployment.xml"), "deployment.xml", "deployment.xml")
    assert [(d.code, d.span.line) for d in diags] == [("AK110", 4)]
    assert "did you mean <region>?" in diags[0].hint


def test_validation_overrides_dates(tmp_path):
    text = """<validation-overrides>
  <allow until="2026-11-25" comment="reindexing">field-type-change</allow>
  <allow until="2026-01-01">cluster-size-reduction</allow>
  <allow until="2027-06-01">content-cluster-removal</allow>
  <allow until="next week">indexing-change</allow>
  <allow until="2026-11-30"/>
</validation-overrides>"""
    path = _write(tmp_path, text, "validation-overrides.xml")
    doc, _ = parse_xml(path, "validation-overrides.xml")
    diags = check_validation_overrides(doc, doc.tree, today=dt.date(2026, 11, 21))
    assert [(d.code, d.level, d.span.line) for d in diags] == [
        ("AK131", Severity.WARNING, 3), ("AK132", Severity.WARNING, 4), ("AK130", Severity.ERROR, 5),
        ("AK133", Severity.ERROR, 6)]
    assert "cluster-size-reduction expired on 2026-01-01" in diags[0].message
    assert diags[2].span.column == 10  # the until attribute
    # through the public entry point (today's date): structure is fine, the bad date is an error
    codes = [d.code for d in check_xml_file(path, "validation-overrides.xml", "validation-overrides.xml")]
    assert "AK130" in codes and "AK133" in codes
