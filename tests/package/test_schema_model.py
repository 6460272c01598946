"""The typed schema model: spans, settings, expressions, indexing references, and the parser-action checks."""

from __future__ import annotations

import re

import pytest

from appkit.package.sdparse import parse_profile, parse_schema
from appkit.resources import grammar_path
from appkit.source import SourceFile
from appkit.tensor.type import TensorType

MUSIC = """\
schema music {
    document music {
        field title type string {
            indexing: input title | lowercase | summary | index
            index: enable-bm25
            match { gram gram-size: 3 }
        }
        field emb type tensor<float>(x[4]) {
            indexing: attribute | index
            attribute { distance-metric: angular }
            index { hnsw { max-links-per-node: 16 } }
        }
        field artist_ref type reference<artist> { indexing: attribute }
        field tags type map<string, array<int>> { }
        field old type string[] { }
    }
    import field artist_ref.name as artist_name {}
    onnx-model ranker {
        file: models/ranker.onnx
        input "input:0": query(q)
        output out: score
    }
    rank-profile base inherits default, other {
        inputs {
            query(q) tensor<float>(x[4])
            query(w) double: 0.5
        }
        constants {
            c tensor(x[2]): [1, 2]
        }
        function inline f(a, b) {
            expression: a + b
        }
        first-phase {
            expression {
                closeness(field, emb) *
                  f(1, 2)
            }
            keep-rank-count: 100
        }
        match-features: attribute(x) f(1, 2)
        summary-features inherits base2 {
            a b
        }
        rank-properties {
            fieldMatch(title).maxOccurrences: 10
        }
        termwise-limit: 0.5
        num-threads-per-search: 2
        rank-profile inner { first-phase { expression: 1 } }
    }
}
"""


def _schema(text: str, path: str = "music.sd"):
    schema, diagnostics = parse_schema(SourceFile(path, text))
    return schema, diagnostics


def test_fields_types_and_settings():
    schema, diagnostics = _schema(MUSIC)
    assert diagnostics == []
    title, emb, ref, tags, old = schema.document.fields
    assert (title.span.line, title.span.column) == (3, 9)
    assert str(emb.type) == "tensor<float>(x[4])" and emb.type.tensor_type == TensorType.parse("tensor<float>(x[4])")
    assert emb.attribute is not None and emb.attribute.settings[0].name == "distance-metric"
    assert emb.attribute.settings[0].value == "angular"
    assert emb.indexes[0].hnsw[0].name == "max-links-per-node" and emb.indexes[0].hnsw[0].value == 16
    assert str(ref.type) == "reference<artist>"
    assert str(tags.type) == "map<string, array<int>>"
    assert str(old.type) == "array<string>"
    assert [(s.name, s.value) for s in title.match] == [("gram", True), ("gram-size", 3)]
    assert title.indexes[0].settings[0].name == "enable-bm25"
    assert schema.imported_fields[0].reference_field == "artist_ref"
    assert schema.imported_fields[0].target_field == "name" and schema.imported_fields[0].name == "artist_name"


def test_indexing_script_references_with_spans():
    schema, _ = _schema(MUSIC)
    script = schema.document.fields[0].indexing
    refs = [(r.kind, r.name, r.span.line, r.span.column) for r in script.field_references]
    assert refs == [("input", "title", 4, 23), ("summary", None, 4, 49), ("index", None, 4, 59)]
    assert MUSIC.splitlines()[3][22:33] == "input title"


def test_rank_profile_contents():
    schema, _ = _schema(MUSIC)
    profile = schema.rank_profile("base")
    assert profile.inherits == ("default", "other")
    f = profile.function("f")
    assert f.inline and f.params == ("a", "b") and f.expression.text == "a + b"
    line = MUSIC.splitlines()[f.expression.span.line - 1]
    assert line[f.expression.span.column - 1:] == "a + b"
    first = profile.first_phase.expression
    assert first.text.startswith("closeness(field, emb) *") and first.text.endswith("f(1, 2)")
    assert MUSIC.splitlines()[first.span.line - 1][first.span.column - 1:].startswith("closeness")
    assert profile.first_phase.settings[0].name == "keep-rank-count"
    assert [i.name for i in profile.inputs] == ["q", "w"]
    assert profile.inputs[0].type == TensorType.parse("tensor<float>(x[4])")
    assert profile.inputs[1].type_name == "double" and profile.inputs[1].default_value_text == "0.5"
    assert profile.constants[0].value_text == "[1, 2]"
    assert profile.match_features[0].features == ("attribute(x)", "f(1, 2)")
    assert profile.summary_features[0].inherits == ("base2",) and profile.summary_features[0].text == "a b"
    assert profile.rank_properties[0].name == "fieldMatch(title).maxOccurrences"
    assert profile.setting("termwise-limit") == 0.5 and profile.setting("num-threads-per-search") == 2
    assert profile.profiles[0].name == "inner" and profile.profiles[0].first_phase.expression.text == "1"


def test_onnx_model_bindings_split_at_last_colon():
    schema, _ = _schema(MUSIC)
    model = schema.onnx_models[0]
    assert model.file == "models/ranker.onnx"
    assert [(b.name, b.source_text) for b in model.inputs] == [("input:0", "query(q)")]
    assert [(b.name, b.source_text) for b in model.outputs] == [("out", "score")]


def test_profile_file_and_file_reference():
    text = "rank-profile p inherits q {\n  first-phase {\n    expression: file:ranking\n  }\n}\n"
    profile, diagnostics = parse_profile(SourceFile("p.profile", text))
    assert diagnostics == []
    assert profile.first_phase.expression.file_reference == "ranking"


def test_one_liners_and_keywords_as_names():
    text = ("schema foo { document foo { field index_like type string { indexing: summary } "
            "field document type int {} } rank-profile rp { filter-threshold: 0.05 } }")
    schema, diagnostics = _schema(text, "foo.sd")
    assert diagnostics == []
    assert [f.name for f in schema.document.fields] == ["index_like", "document"]
    assert schema.rank_profiles[0].setting("filter-threshold") == 0.05


@pytest.mark.parametrize("text,code,line", [
    ("schema s {\n document s {\n  field index type string {}\n }\n}\n", "AK211", 3),
    ("schema s {\n rank-profile p {\n  function f() { expression: 1 }\n  function f() { expression: 2 }\n }\n}\n",
     "AK212", 4),
    ("schema s {\n rank-profile p {\n  filter-threshold: 1.5\n }\n}\n", "AK213", 3),
    ("schema s {\n constant c {\n  file: models/../c.json\n  type: tensor(x[2])\n }\n}\n", "AK214", 3),
    ("schema s {\n rank-profile p {\n  first-phase {\n   expression: file:../x\n  }\n }\n}\n", "AK214", 4),
    ("schema s {\n document s {}\n document t {}\n}\n", "AK203", 3),
    ("schema s {\n document s {\n  field f type tensor(x[2.5]) {}\n }\n}\n", "AK210", 3),
    ("schema s {\n rank-profile p {\n  termwise-limit: 1\n }\n}\n", "AK216", 3),
    ("schema s {\n rank-profile p {\n  num-threads-per-search: 2.5\n }\n}\n", "AK216", 3),
    ("schema s {\n stemming: sometimes\n}\n", "AK218", 2),
])
def test_parser_action_checks(text, code, line):
    _, diagnostics = _schema(text, "s.sd")
    assert [(d.code, d.span.line) for d in diagnostics] == [(code, line)]


def test_file_name_must_match_in_schemas_dir():
    _, diagnostics = _schema("schema music {\n}\n", "app/schemas/notmusic.sd")
    assert [d.code for d in diagnostics] == ["AK202"]
    assert "must be named 'music.sd'" in diagnostics[0].message


@pytest.mark.parametrize("text,line,column,words", [
    ("schema s {\n  rank-profile p\n  first-phase { }\n}\n", 3, 3, "'{' after 'rank-profile p', found 'first-phase'"),
    ("schema s {\n document s {\n  field f type string {\n   indexing: summary | foo\n  }\n }\n}\n", 4, 24,
     "'foo' is not an indexing expression"),
    ("schema s {\n document s {\n  field f type string {\n   attribute: fast-serch\n  }\n }\n}\n", 4, 15,
     "found 'fast-serch'"),
    ("schema s {\n document s {\n", 3, 1, "found the end of the file"),
    ("schema s {\n rank-profile p {\n  first-phase {\n   expresion: 1\n  }\n }\n}\n", 4, 4, "found 'expresion'"),
    ("schema s {\n document s {\n  field f type tensor (x[3]) {}\n }\n}\n", 3, 23, "found '('"),
])
def test_syntax_errors_are_located_and_worded(text, line, column, words):
    schema, diagnostics = _schema(text, "s.sd")
    (d,) = diagnostics
    assert d.code in ("AK200", "AK215")
    assert (d.span.line, d.span.column) == (line, column), str(d)
    assert words in d.message, str(d)


@pytest.mark.parametrize("text,hint", [
    ("schema s {\n rank-profile p {\n  first-phase {\n   expresion: 1\n  }\n }\n}\n", "did you mean 'expression'?"),
    ("schema s {\n document s {\n  field f type tensor (x[3]) {}\n }\n}\n", "without spaces"),
    ("schema s {\n document s {\n  field f type string {\n   indexing: input f |\n  }\n }\n}\n", "'| summary'"),
    ("schema s {\n document s {\n  field f type string {}\n }\n", "innermost open block is 'schema s', line 1"),
    ("search invalid-name {\n}\n", "cannot contain '-'"),
])
def test_syntax_errors_carry_the_fix(text, hint):
    _, diagnostics = _schema(text, "s.sd")
    assert hint in (diagnostics[0].hint or ""), str(diagnostics[0])


def test_every_keyword_is_a_name():
    # Vespa lets keywords be names (identifier() / identifierWithDash() list them): a field, a struct
    # field, a function parameter and a rank profile may be called after any keyword.
    from appkit.package.sd_build import RESERVED_FIELD_NAMES

    grammar = grammar_path("schema.lark").read_text()
    keywords = sorted(set(re.findall(r'"([a-z][a-z0-9_-]*)"', grammar)))
    plain = [k for k in keywords if "-" not in k and k not in RESERVED_FIELD_NAMES]
    fields = "\n".join(f"  field {k} type string {{ }}" for k in plain)
    functions = "\n".join(f"  function f_{i}({k}) {{ expression: {k} }}" for i, k in enumerate(plain))
    profiles = "\n".join(f" rank-profile {k} {{ }}" for k in keywords)
    text = f"schema s {{\n document s {{\n{fields}\n }}\n rank-profile p {{\n{functions}\n }}\n{profiles}\n}}\n"
    schema, diagnostics = _schema(text, "s.sd")
    assert diagnostics == []
    assert [f.name for f in schema.document.fields] == plain
    assert [p.name for p in schema.rank_profiles[1:]] == keywords
    assert [f.params[0] for f in schema.rank_profiles[0].functions] == plain


def test_indexing_keywords_are_field_names():
    grammar = grammar_path("indexing.lark").read_text()
    body, names = grammar.split("!_name_keyword:", 1)
    words = set(re.findall(r'"([a-z][a-z0-9_-]*)"', body))
    structural = {"attribute", "index", "summary", "input", "passthrough", "case", "default", "else"}
    assert words - structural == set(re.findall(r'"([a-z][a-z0-9_-]*)"', names))
    text = "schema s {\n document s {\n  field f type string {\n   indexing: input chunk | attribute embed\n  }\n }\n}\n"
    schema, diagnostics = _schema(text, "s.sd")
    assert diagnostics == []
    refs = schema.document.fields[0].indexing.field_references
    assert [(r.kind, r.name) for r in refs] == [("input", "chunk"), ("attribute", "embed")]


def test_single_line_indexing_ends_where_vespa_stops():
    text = ("schema s {\n document s {\n  struct p { field x type int {} }\n  field f type p {\n"
            "   struct-field x { indexing: attribute  attribute: fast-search }\n  }\n }\n}\n")
    schema, diagnostics = _schema(text, "s.sd")
    assert diagnostics == []
    x = schema.document.fields[0].struct_fields[0]
    assert x.indexing.text == "attribute" and x.attributes[0].has("fast-search")


def test_deprecated_constant_forms():
    text = ("schema s {\n rank-profile p {\n  constants {\n   a {\n    value: { {x:a}:1 }\n    type: tensor(x{})\n   }\n"
            "   b {\n    value {\n     { {x:b}:2 }\n    }\n   }\n   k: 2.5\n   constant(m) tensor(x[2]): file: m.json\n"
            "  }\n }\n}\n")
    schema, diagnostics = _schema(text, "s.sd")
    assert diagnostics == []
    a, b, k, m = schema.rank_profiles[0].constants
    assert (a.value_text, a.type) == ("{ {x:a}:1 }", TensorType.parse("tensor(x{})"))
    assert b.value_text == "{ {x:b}:2 }"
    assert (k.name, k.value_text, k.type) == ("k", "2.5", None)
    assert (m.name, m.file, m.type) == ("m", "m.json", TensorType.parse("tensor(x[2])"))
