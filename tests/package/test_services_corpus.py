"""Every services/hosts/deployment/validation-overrides file of the corpus against its recorded verdict.

INDEX.tsv's `rnc_validation(jing==lxml)` column is what Vespa's RNC (run by Jing and by lxml) says of
the raw file, or of the file with deploy:/preprocess: stripped. appkit must agree: valid files give no
error, invalid and not-well-formed ones are rejected with a line number.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from appkit.diagnostics import Severity
from appkit.package.services import check_xml_file, parse_services
from appkit.package.xmlcheck import check_structure
from appkit.package.xmlsafe import parse_xml
from tests.conftest import shared_path

KINDS = ("services.xml", "hosts.xml", "deployment.xml", "validation-overrides.xml")
VALID = ("valid", "valid-after-strip-deploy/preprocess")
REJECTED = ("invalid", "not-well-formed")

# The one file where appkit and the index part ways, on purpose. The index strips deploy: attributes
# and keeps every variant, which leaves complex-app with 4+ <nodes> per cluster; Vespa instead keeps
# one variant per zone (OverrideProcessor). test_complex_app_* below show both halves of this.
VESPA_ACCEPTS_AFTER_OVERRIDES = {
    "vespa/config-application-package/src/test/resources/complex-app/services.xml",
}


# Files whose preprocess:include Vespa's IncludeProcessor cannot follow. The index judges the XML
# schema only; preprocessing fails these in Vespa (its own tests expect that for the three
# multienvapp_fail* packages), and appkit reports the include instead.
INCLUDE_FAILS = {
    "vespa/config-application-package/src/test/resources/multienvapp_fail_parent/services.xml":
        ("AK127", "includes ../multienvapp/services.xml, outside the package"),
    "vespa/config-application-package/src/test/resources/multienvapp_fail_parent2/services.xml":
        ("AK127", "includes /absolute/path"),
    "vespa/config-application-package/src/test/resources/multienvapp_failrequired/services.xml":
        ("AK122", "a required include of doesnotexist.xml"),
    "vespa/configserver/src/main/resources/configserver-app/services.xml":
        ("AK122", "includes model-integration.xml, which the corpus does not hold"),
}


def _rows() -> list[list[str]]:
    index = shared_path("corpus", "INDEX.tsv")
    with open(index, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))[1:]
    return [r for r in rows if r[1].removeprefix("xml:") in KINDS]


def _check(row: list[str]):
    kind = row[1].removeprefix("xml:")
    path = shared_path("corpus", row[0])
    if kind == "services.xml":
        return parse_services(path, row[0])[1]
    return check_xml_file(path, row[0], kind)


def test_corpus_xml_verdicts():
    rows = _rows()
    counts: Counter[str] = Counter()
    wrong = []
    for row in rows:
        verdict = row[5]
        errors = [d for d in _check(row) if d.level is Severity.ERROR]
        if row[0] in INCLUDE_FAILS:
            code, why = INCLUDE_FAILS[row[0]]
            if [d.code for d in errors] != [code]:
                wrong.append(f"{row[0]}: expected only {code} ({why}), got {[str(d) for d in errors][:2]}")
            counts["include Vespa cannot follow: reported"] += [d.code for d in errors] == [code]
            continue
        if verdict in VALID:
            if errors and row[0] not in VESPA_ACCEPTS_AFTER_OVERRIDES:
                wrong.append(f"{row[0]} ({verdict}) rejected: {errors[0]}")
            counts[f"{verdict}: accepted"] += not errors
        elif verdict in REJECTED:
            if row[0] in VESPA_ACCEPTS_AFTER_OVERRIDES:
                counts["invalid by the index, valid in every Vespa zone: accepted"] += not errors
                continue
            located = [d for d in errors if d.span is not None and d.span.line >= 1]
            if not located:
                wrong.append(f"{row[0]} ({verdict}) accepted, or rejected without a line")
            counts[f"{verdict}: rejected with a line"] += bool(located)
        else:
            wrong.append(f"{row[0]}: unknown verdict {verdict!r}")
    print("\ncorpus XML verdicts:", dict(sorted(counts.items())), f"of {len(rows)} files")
    assert not wrong, "\n".join(wrong)
    assert sum(counts.values()) == len(rows)
    assert len(rows) >= 240  # the corpus has 244 such files; a shrinking index should be noticed


def test_complex_app_invalid_when_variants_are_merely_stripped():
    """The index's method: drop deploy: attributes, keep all variants -> several <nodes> per cluster."""
    from lxml import etree

    from appkit.package import variants

    path = shared_path("corpus", "vespa/config-application-package/src/test/resources/complex-app/services.xml")
    doc, diags = parse_xml(path, "services.xml")
    assert doc is not None and not diags
    tree = etree.ElementTree(etree.fromstring(etree.tostring(doc.root)))
    variants._strip(tree.getroot())
    found = check_structure(doc, tree, "services.rng")
    assert any(d.code == "AK115" and "<nodes>" in d.message for d in found), found


def test_complex_app_valid_in_every_zone_it_names():
    """Vespa's method: one variant per zone; every zone complex-app names gives a valid services.xml."""
    from appkit.package import variants

    path = shared_path("corpus", "vespa/config-application-package/src/test/resources/complex-app/services.xml")
    doc, _ = parse_xml(path, "services.xml")
    zones = variants.zones_of(doc.root)
    assert len(zones) > 10
    for zone in zones:
        tree, _ = variants.preprocess(doc, zone, Path(path).parent)
        assert check_structure(doc, tree, "services.rng") == [], zone
        for cluster in tree.getroot():
            if isinstance(cluster.tag, str):
                assert len(cluster.findall("nodes")) <= 1, (zone, cluster.get("id"))


@pytest.mark.parametrize("name, valid", [
    ("services.xml", True), ("standalone-container.xml", True), ("services-hosted.xml", True),
    ("services-hosted-infrastructure.xml", True), ("services-bad-vespamalloc.xml", False),
])
def test_vespa_schema_fixtures(name, valid):
    """Vespa's own SchemaValidatorTest fixtures: the kitchen-sink services.xml and friends."""
    path = shared_path("corpus", "vespa/config-model/src/test/schema-test-files", name)
    errors = [d for d in parse_services(path, name)[1] if d.level is Severity.ERROR]
    assert (not errors) == valid, errors
    if not valid:
        assert errors[0].code == "AK114" and "no-vespamalloc" in errors[0].message
        assert errors[0].span.line == 10


@pytest.mark.parametrize("name, kind", [
    ("deployment.xml", "deployment.xml"), ("deployment-with-instances.xml", "deployment.xml"),
    ("hosts.xml", "hosts.xml"), ("validation-overrides.xml", "validation-overrides.xml"),
])
def test_vespa_schema_fixtures_other_files(name, kind):
    path = shared_path("corpus", "vespa/config-model/src/test/schema-test-files", name)
    errors = [d for d in check_xml_file(path, name, kind) if d.level is Severity.ERROR]
    assert errors == []


def test_invalid_files_name_the_reason():
    """The messages say what Vespa objects to, on the line where it is."""
    expectations = {
        "vespa/configserver/src/test/apps/legacy-flag/services.xml": ("AK110", 7, "<foo-bar> is not allowed in <legacy>"),
        "vespa/configserver/src/test/apps/app_sdbundles/services.xml": ("AK117", 18, "<nodes> cannot contain text"),
        "vespa/configserver/src/test/apps/legalApp/services.xml": ("AK113", 4, "needs the attribute 'hostalias'"),
        "vespa/configserver/src/test/resources/deploy/advancedapp/services.xml":
            ("AK112", 16, "attribute 'baseport' is not allowed on <node>"),
        "vespa/cloud/vespa-maven-plugin/src/test/resources/effective-services/services.xml":
            ("AK113", 3, "<container> needs the attribute 'version'"),
        "vespa/config-application-package/src/test/resources/multienvapp/services.xml":
            ("AK110", 25, "<thread> is not allowed in <content>"),
        "vespa/config-model/src/test/cfg/application/invalid-services-syntax/services.xml":
            ("AK100", 7, "<config> opened on line 3 is not closed"),
    }
    for rel, (code, line, text) in expectations.items():
        found = parse_services(shared_path("corpus", rel), rel)[1]
        assert any(d.code == code and d.span.line == line and text in d.message for d in found), (rel, found)
    deployment = "vespa/config-model/src/test/cfg/application/invalid_parallel_deployment_xml/deployment.xml"
    found = check_xml_file(shared_path("corpus", deployment), deployment, "deployment.xml")
    assert [(d.code, d.span.line) for d in found] == [("AK110", 7)]
    assert "<instance> is not allowed in <parallel>" in found[0].message


def test_explanations_never_flag_a_valid_file():
    """The explanation table (derived from our .rng) finds nothing wrong in any valid corpus file, so
    walking a whole invalid file with it reports every problem without inventing any."""
    from appkit.package import variants
    from appkit.package.xmlcheck import explain_element, grammar_table

    schemas = {"services.xml": "services.rng", "hosts.xml": "hosts.rng", "deployment.xml": "deployment.rng",
               "validation-overrides.xml": "validation-overrides.rng"}
    checked = 0
    for row in _rows():
        if row[5] not in VALID:
            continue
        doc, _ = parse_xml(shared_path("corpus", row[0]), row[0])
        tree, _ = variants.preprocess(doc, variants.Zone(), None)
        table = grammar_table(schemas[row[1].removeprefix("xml:")])
        flagged = [d for e in tree.getroot().iter() for d in explain_element(doc, e, table)]
        assert flagged == [], (row[0], flagged)
        checked += 1
    assert checked >= 220
