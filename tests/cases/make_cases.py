"""Materialise tests/cases/{valid,invalid}/<name>/ from one base package and one mutation each.

Run: python tests/cases/make_cases.py tests/cases tests/cases/models

Expected diagnostics are written by hand as (code, file, marker): the marker's first occurrence in
the final file gives line and column, so expectations never come from appkit's own output.
"""
import json, shutil, sys
from pathlib import Path

OUT = Path(sys.argv[1])

SERVICES = """<?xml version="1.0" encoding="utf-8" ?>
<services version="1.0">
    <container id="default" version="1.0">
        <search/>
        <document-api/>
    </container>
    <content id="main" version="1.0">
        <redundancy>1</redundancy>
        <documents>
            <document type="item" mode="index"/>
            <document type="shared" mode="index" global="true"/>
        </documents>
        <nodes>
            <node hostalias="node1" distribution-key="0"/>
        </nodes>
    </content>
</services>
"""

SHARED = """schema shared {
    document shared {
        field weights type tensor<float>(x[4]) {
            indexing: attribute
        }
        field note type string {
            indexing: summary
        }
    }
}
"""

ITEM = """schema item {
    document item {
        field title type string {
            indexing: index | summary
        }
        field popularity type double {
            indexing: attribute | summary
        }
        field embedding type tensor<float>(x[4]) {
            indexing: attribute
        }
        field shared_ref type reference<shared> {
            indexing: attribute
        }
    }
    import field shared_ref.weights as weights {}

    constant bias {
        file: constants/bias.json
        type: tensor<float>(x[4])
    }

    rank-profile base {
        inputs {
            query(q) tensor<float>(x[4])
        }
        function similarity() {
            expression: sum(query(q) * attribute(embedding))
        }
        first-phase {
            expression: similarity + attribute(popularity)
        }
    }

    rank-profile weighted inherits base {
        function boost(a) {
            expression: a * 2
        }
        second-phase {
            expression: boost(sum((attribute(weights) + constant(bias)) * attribute(embedding)))
        }
    }
}
"""

BIAS = '{"cells": [{"address": {"x": "0"}, "value": 0.5}, {"address": {"x": "1"}, "value": 0.25}, {"address": {"x": "2"}, "value": 0.0}, {"address": {"x": "3"}, "value": -0.5}]}\n'

BASE = {"services.xml": SERVICES, "schemas/shared.sd": SHARED, "schemas/item.sd": ITEM, "constants/bias.json": BIAS}

ONNX_PROFILE = """
    rank-profile scored inherits base {
        function input() {
            expression: rename(attribute(embedding), x, d0)
        }
        first-phase {
            expression: sum(onnx_vespa("scorer.onnx"))
        }
    }
}
"""


ORT_PROFILE = """
    onnx-model scorer {
        file: models/scorer.onnx
        input "input": rename(attribute(embedding), x, d0)
        output "score": relevance
    }

    rank-profile ort inherits base {
        first-phase {
            expression: sum(onnx(scorer).relevance)
        }
    }
}
"""


def with_ort(old=None, new=None):
    profile = ORT_PROFILE if old is None else ORT_PROFILE.replace(old, new, 1)
    return {"schemas/item.sd": ITEM.rstrip()[:-1] + profile, "models/scorer.onnx": "@scorer.onnx"}


def with_onnx(item=ITEM, profile=ONNX_PROFILE):
    return {"schemas/item.sd": item.rstrip()[:-1] + profile, "models/scorer.onnx": "@scorer.onnx"}


def sub(old, new, text=ITEM):
    assert old in text, old
    return text.replace(old, new, 1)


I = "schemas/item.sd"
S = "schemas/shared.sd"
X = "services.xml"

# name -> (file overrides, [(code, file, marker)]); a marker None means line 1, column 1 of the file
INVALID = {
    "match_features_unknown_attribute": ({I: sub("        first-phase {\n            expression: similarity + attribute(popularity)\n        }",
                                                "        first-phase {\n            expression: similarity + attribute(popularity)\n        }\n        match-features: similarity attribute(nosuch)")},
                                         [("AK383", I, "attribute(nosuch)")]),
    "onnx_model_file_missing": ({**with_ort("models/scorer.onnx", "models/scorer2.onnx")}, [("AK490", I, "onnx-model scorer")]),
    "onnx_model_unknown_input": ({**with_ort('input "input"', 'input "inputs"')},
                                 [("AK491", I, 'input "inputs"'), ("AK491", I, "onnx-model scorer")]),
    "onnx_model_input_wrong_size": ({**with_ort("rename(attribute(embedding), x, d0)", "rename(query(q), x, d0) * tensor(d1[2])(1)")},
                                    [("AK493", I, "rename(query(q), x, d0) * tensor")]),
    "onnx_model_unknown_output": ({**with_ort('output "score"', 'output "scores"')}, [("AK492", I, 'output "scores"')]),
    "onnx_model_not_declared": ({**with_ort("onnx(scorer).relevance", "onnx(scorer2).relevance")}, [("AK494", I, "onnx(scorer2)")]),
    "schema_missing_brace": ({I: sub("        field popularity type double {\n", "        field popularity type double\n")},
                             [("AK200", I, "indexing: attribute | summary")]),
    "schema_name_not_file_name": ({I: sub("schema item {", "schema items {")}, [("AK202", I, None)]),
    "expression_syntax_error": ({I: sub("similarity + attribute(popularity)", "similarity + (attribute(popularity)")},
                                [("AK301", I, "\n        }\n    }\n\n    rank-profile weighted")]),
    "services_not_well_formed": ({X: sub("</content>", "</contents>", SERVICES)}, [("AK100", X, "</contents>")]),
    "services_unknown_element": ({X: sub("<search/>", "<searcher/>", SERVICES)}, [("AK110", X, "<searcher/>")]),
    "services_bad_document_mode": ({X: sub('<document type="item" mode="index"/>', '<document type="item" mode="indexed"/>', SERVICES)},
                                   [("AK114", X, 'mode="indexed"')]),
    "query_profile_type_bad_tensor": ({"search/query-profiles/types/root.xml": '<query-profile-type id="root">\n    <field name="ranking.features.query(q)" type="tensor&lt;float&gt;(x[four])"/>\n</query-profile-type>\n'},
                                      [("AK140", "search/query-profiles/types/root.xml", 'type="tensor')]),
    "model_unsupported_op": ({**with_onnx(), "models/scorer.onnx": "@unsupported.onnx"}, [("AK440", "models/scorer.onnx", None)]),
    "schemas_and_searchdefinitions": ({"searchdefinitions/extra.sd": "schema extra {\n    document extra {\n    }\n}\n"},
                                      [("AK011", "searchdefinitions", None)]),
    "services_unknown_document": ({X: sub('<document type="item" mode="index"/>', '<document type="item" mode="index"/>\n            <document type="nosuch" mode="index"/>', SERVICES)},
                                  [("AK150", X, '<document type="nosuch"')]),
    "schema_not_deployed": ({X: sub('\n            <document type="shared" mode="index" global="true"/>', '', SERVICES)},
                            [("AK151", S, "schema shared")]),
    "reference_not_global": ({X: sub(' global="true"', '', SERVICES)}, [("AK152", I, "field shared_ref")]),
    "import_through_non_reference": ({I: sub("import field shared_ref.weights as weights {}", "import field shared_ref.weights as weights {}\n    import field title.weights as tweights {}")},
                                     [("AK153", I, "import field title")]),
    "import_target_not_attribute": ({I: sub("import field shared_ref.weights as weights {}", "import field shared_ref.weights as weights {}\n    import field shared_ref.note as note {}")},
                                    [("AK153", I, "import field shared_ref.note")]),
    "import_target_missing": ({I: sub("import field shared_ref.weights as weights {}", "import field shared_ref.weights as weights {}\n    import field shared_ref.nosuch as nosuch {}")},
                              [("AK153", I, "import field shared_ref.nosuch")]),
    "reference_unknown_document": ({I: sub("        field shared_ref type", "        field other_ref type reference<nosuch> {\n            indexing: attribute\n        }\n        field shared_ref type")},
                                   [("AK250", I, "reference<nosuch>")]),
    "distance_metric_on_string": ({I: sub("            indexing: attribute | summary\n", "            indexing: attribute | summary\n            attribute {\n                distance-metric: euclidean\n            }\n")},
                                  [("AK251", I, "distance-metric")]),
    "tensor_attribute_unbound": ({I: sub("        field shared_ref type", "        field vec type tensor<float>(x[]) {\n            indexing: attribute\n        }\n        field shared_ref type")},
                                 [("AK252", I, "tensor<float>(x[])")]),
    "indexing_unknown_field": ({I: sub("        field shared_ref type", "        field title_copy type string {\n            indexing: input nosuch | summary\n        }\n        field shared_ref type")},
                               [("AK253", I, "input nosuch")]),
    "hnsw_on_mapped_tensor": ({I: sub("        field shared_ref type", "        field tags type tensor<float>(t{}) {\n            indexing: attribute | index\n            index {\n                hnsw\n            }\n        }\n        field shared_ref type")},
                              [("AK255", I, "index {")]),
    "inherits_unknown_profile": ({I: sub("rank-profile weighted inherits base", "rank-profile weighted inherits basic")},
                                 [("AK380", I, "rank-profile weighted")]),
    "inherits_cycle": ({I: sub("rank-profile base {", "rank-profile base inherits weighted {")},
                       [("AK381", I, "rank-profile base"), ("AK381", I, "rank-profile weighted")]),
    "duplicate_profile": ({I: sub("    rank-profile weighted inherits base {", "    rank-profile base {\n        first-phase {\n            expression: 1\n        }\n    }\n\n    rank-profile weighted inherits base {")},
                          [("AK382", I, "rank-profile base {\n        first-phase {\n            expression: 1")]),
    "attribute_not_attribute": ({I: sub("similarity + attribute(popularity)", "similarity + attribute(title)")},
                                [("AK383", I, "attribute(title)")]),
    "attribute_unknown": ({I: sub("similarity + attribute(popularity)", "similarity + attribute(popular)")},
                          [("AK383", I, "attribute(popular)")]),
    "query_not_declared": ({I: sub("similarity + attribute(popularity)", "similarity + attribute(popularity) * query(boost)")},
                           [("AK384", I, "query(boost)")]),
    "phase_gives_tensor": ({I: sub("expression: similarity + attribute(popularity)", "expression: query(q) * attribute(embedding)")},
                           [("AK385", I, "query(q) * attribute(embedding)\n")]),
    "constant_file_missing": ({"constants/bias.json": None}, [("AK386", I, "constant bias")]),
    "constant_file_wrong_type": ({"constants/bias.json": '{"cells": [{"address": {"x": "0"}, "value": 0.5}, {"address": {"y": "1"}, "value": 1.0}]}\n'},
                                 [("AK387", I, "constant bias")]),
    "expression_file_missing": ({I: sub("expression: similarity + attribute(popularity)", "expression: file:first_phase")},
                                [("AK390", I, "file:first_phase")]),
    "join_size_mismatch": ({I: sub("query(q) tensor<float>(x[4])", "query(q) tensor<float>(x[3])")},
                           [("AK340", I, "query(q) * attribute(embedding)")]),
    "reduce_unknown_dimension": ({I: sub("sum(query(q) * attribute(embedding))", "reduce(query(q) * attribute(embedding), sum, y)")},
                                 [("AK341", I, "reduce(query(q)")]),
    "softmax_missing_dimension": ({I: sub("sum(query(q) * attribute(embedding))", "sum(softmax(query(q) * attribute(embedding)))")},
                                  [("AK304", I, "softmax(")]),
    "lambda_arity": ({I: sub("sum(query(q) * attribute(embedding))", "sum(map(attribute(embedding), f(a,b)(a + b)))")},
                     [("AK304", I, "f(a,b)(a + b)")]),
    "tensor_condition": ({I: sub("expression: similarity + attribute(popularity)", "expression: if(attribute(embedding) > 0, 1, 2)")},
                         [("AK345", I, "attribute(embedding) > 0")]),
    "recursive_function": ({I: sub("expression: sum(query(q) * attribute(embedding))", "expression: similarity + 1")},
                           [("AK347", I, "similarity + 1")]),
    "constant_not_declared": ({I: sub("constant(bias)", "constant(bias2)")}, [("AK348", I, "constant(bias2)")]),
    "function_argument_count": ({I: sub("boost(sum(", "boost(2, sum(")}, [("AK352", I, "boost(2")]),
    "model_not_found": ({I: sub("first-phase {\n            expression: similarity", "first-phase {\n            expression: sum(onnx_vespa(\"nosuch.onnx\")) + similarity")},
                        [("AK480", I, 'onnx_vespa("nosuch.onnx")')]),
    "model_output_unknown": (with_onnx(profile=ONNX_PROFILE.replace('onnx_vespa("scorer.onnx")', 'onnx_vespa("scorer.onnx", "nosuch")')),
                             [("AK481", I, 'onnx_vespa("scorer.onnx", "nosuch")')]),
    "model_input_missing": (with_onnx(profile=ONNX_PROFILE.replace("function input()", "function inputs()")),
                            [("AK483", I, 'onnx_vespa("scorer.onnx")')]),
    "model_input_wrong_type": (with_onnx(profile=ONNX_PROFILE.replace("expression: rename(attribute(embedding), x, d0)\n", "expression: query(q) * attribute(popularity)\n").replace("inherits base", "inherits base")),
                               [("AK484", I, 'onnx_vespa("scorer.onnx")')]),
    "model_variable_override_wrong_type": (with_onnx(profile=ONNX_PROFILE.replace("        first-phase {", "        function scorer_W() {\n            expression: attribute(embedding)\n        }\n        first-phase {")),
                                           [("AK485", I, 'onnx_vespa("scorer.onnx")')]),
    "model_feature_bad_arguments": ({I: sub("first-phase {\n            expression: similarity", "first-phase {\n            expression: sum(onnx_vespa(\"a.onnx\", \"b\", \"c\", \"d\")) + similarity")},
                                    [("AK482", I, 'onnx_vespa("a.onnx"')]),
}

def write_case(directory, overrides, models_dir):
    files = dict(BASE)
    files.update(overrides)
    for rel, text in files.items():
        if text is None:
            continue
        p = directory / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if text.startswith("@"):
            shutil.copy(models_dir / text[1:], p)
        else:
            p.write_text(text)
    return {rel: t for rel, t in files.items() if t is not None}


def locate(text, marker):
    i = text.index(marker)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


def main():
    models_dir = Path(sys.argv[2])
    for kind in ("valid", "invalid"):
        shutil.rmtree(OUT / kind, ignore_errors=True)
    write_case(OUT / "valid" / "base", {}, models_dir)
    write_case(OUT / "valid" / "with_onnx_model", with_onnx(), models_dir)
    write_case(OUT / "valid" / "with_onnx_model_declaration", with_ort(), models_dir)
    for name, (overrides, expected) in INVALID.items():
        files = write_case(OUT / "invalid" / name, overrides, models_dir)
        out = []
        for code, rel, marker in expected:
            line, col = (1, 1) if marker is None else locate(files[rel], marker)
            out.append({"code": code, "path": rel, "line": line, "column": col})
        (OUT / "invalid" / name / "expected.json").write_text(json.dumps({"diagnostics": out}, indent=2) + "\n")
    print(len(INVALID), "invalid cases")


main()
