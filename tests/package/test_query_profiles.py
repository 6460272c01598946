"""Query profile types: query(x) tensor types keyed by feature name, with located type errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from appkit.package.query_profiles import parse_query_profile_types, query_feature_name
from appkit.tensor.type import TensorType
from tests.conftest import shared_path


def _package(tmp_path: Path, types: dict[str, str], profiles: dict[str, str] | None = None) -> Path:
    types_dir = tmp_path / "search" / "query-profiles" / "types"
    types_dir.mkdir(parents=True)
    for name, text in types.items():
        (types_dir / name).write_text(text)
    for name, text in (profiles or {}).items():
        (types_dir.parent / name).write_text(text)
    return types_dir


ROOT = """<query-profile-type id="root" inherits="native">
  <field name="ranking.features.query(q)" type="tensor&lt;float&gt;(x[3])"/>
  <field name="query(user)" type="tensor(user{},d[2])" mandatory="false"/>
  <field name="input.query(weight)" type="double"/>
  <field name="ranking.features.query(tokens)"
         type="tensor&lt;bfloat16&gt;(t[])"/>
  <field name="ranking.listFeatures" type="boolean"/>
  <field name="language" type="string"/>
</query-profile-type>
"""


@pytest.mark.parametrize("field, name", [
    ("ranking.features.query(q)", "q"), ("query(q)", "q"), ("input.query(q_vec)", "q_vec"),
    ("rankfeature.query(x)", "x"), ("ranking.features.attribute(x)", None), ("hits", None),
])
def test_query_feature_names(field, name):
    assert query_feature_name(field) == name


def test_query_features_keyed_by_name(tmp_path):
    features, diags = parse_query_profile_types(_package(tmp_path, {"root.xml": ROOT}), tmp_path)
    assert diags == []
    assert sorted(features) == ["q", "tokens", "user", "weight"]
    assert features["q"].type == TensorType.parse("tensor<float>(x[3])")
    assert str(features["user"].type) == "tensor(d[2],user{})"
    assert features["weight"].type.is_scalar
    assert str(features["tokens"].type) == "tensor<bfloat16>(t[])"
    q = features["q"]
    assert (q.span.line, q.span.column) == (2, 43) and q.span.path.endswith("root.xml")
    assert features["tokens"].span.line == 6  # the type attribute, on the second line of the tag
    assert q.profile_type == "root"


@pytest.mark.parametrize("type_text, words", [
    ("tensor&lt;float&gt;(x[3]", "not a tensor type"),
    ("tensor&lt;float16&gt;(x[3])", "unknown cell type 'float16'"),
    ("tensor(x[3],y)", "'y'"),
])
def test_bad_tensor_types_are_located(tmp_path, type_text, words):
    text = f'<query-profile-type id="root">\n  <field name="query(q)" type="{type_text}"/>\n</query-profile-type>'
    features, diags = parse_query_profile_types(_package(tmp_path, {"root.xml": text}), tmp_path)
    assert features == {}
    assert [(d.code, d.span.line, d.span.column) for d in diags] == [("AK140", 2, 26)]
    assert words in diags[0].message and "tensor&lt;float&gt;(x[3])" in diags[0].hint


def test_conflicting_declarations_across_files(tmp_path):
    other = '<query-profile-type id="other">\n  <field name="query(q)" type="tensor(x[4])"/>\n</query-profile-type>'
    same = '<query-profile-type id="same">\n  <field name="query(q)" type="tensor&lt;float&gt;(x[3])"/>\n' \
           '</query-profile-type>'
    features, diags = parse_query_profile_types(
        _package(tmp_path, {"a.xml": ROOT, "b.xml": same, "c.xml": other}), tmp_path)
    assert [(d.code, d.span.path.rsplit("/", 1)[-1], d.span.line) for d in diags] == [("AK141", "c.xml", 2)]
    assert features["q"].type == TensorType.parse("tensor<float>(x[3])")


def test_structure_and_well_formedness(tmp_path):
    broken = '<query-profile-type id="root">\n  <field name="query(q)" type="tensor(x[3])">\n</query-profile-type>'
    unknown = '<query-profile-type id="r">\n  <feild name="query(q)" type="tensor(x[3])"/>\n</query-profile-type>'
    features, diags = parse_query_profile_types(_package(tmp_path, {"a.xml": broken, "b.xml": unknown}), tmp_path)
    assert [(d.code, d.span.line) for d in diags] == [("AK100", 3), ("AK110", 2)]
    assert "did you mean <field>?" in diags[1].hint


def test_query_profiles_beside_the_types_are_checked(tmp_path):
    profiles = {"default.xml": '<query-profile id="default" type="root">\n  <field name="hits">5</field>\n'
                               '</query-profile>',
                "broken.xml": '<query-profile id="b">\n  <field name="hits">5</feld>\n</query-profile>',
                "misplaced.xml": '<query-profile-type id="t"/>'}
    _, diags = parse_query_profile_types(_package(tmp_path, {"root.xml": ROOT}, profiles), tmp_path)
    assert [(d.code, d.span.path.rsplit("/", 1)[-1], d.span.line) for d in diags] == [
        ("AK100", "broken.xml", 2), ("AK142", "misplaced.xml", 1)]


def test_corpus_query_profile_types():
    """Every query profile type in the corpus parses, with the tensor types Vespa's tests use."""
    corpus = shared_path("corpus", "vespa")
    dirs = sorted({p.parent for p in corpus.rglob("query-profiles/types/*.xml")})
    assert len(dirs) >= 4
    found = {}
    for d in dirs:
        features, diags = parse_query_profile_types(d, d.parent.parent)
        assert diags == [], diags
        found.update({k: str(v.type) for k, v in features.items()})
    assert found["q_vec"] == "tensor<float>(x[5])"
    assert found["W_0"] == "tensor(hidden[9],x[9])"
    assert found["myTensor"] == "tensor<float>(key{})"
    assert found["tensor"] == "tensor(x{},y[3])"
