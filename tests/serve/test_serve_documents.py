"""Vespa document JSON → field values: the forms Vespa accepts, and errors that name the document
(line and id) and the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from appkit.serve.documents import read_document, read_documents, stack_values
from appkit.serve.errors import RankingError
from appkit.tensor.type import TensorType

FIELDS = {"embedding": TensorType.parse("tensor<float>(x[4])"), "popularity": TensorType.scalar()}


def test_put_operation_and_bare_field_map_give_the_same_values():
    fields = {"embedding": [1, 2, 3, 4], "popularity": 2}
    put = read_document({"put": "id:ns:item::1", "fields": fields}, 0, FIELDS)
    bare = read_document(fields, 1, FIELDS)
    assert put.id == "id:ns:item::1" and bare.id is None
    for d in (put, bare):
        np.testing.assert_array_equal(d.values["embedding"], np.array([1, 2, 3, 4], dtype=np.float32))
        assert d.values["embedding"].dtype == np.float32
        assert float(d.values["popularity"]) == 2.0


@pytest.mark.parametrize("value", [
    [1, 2, 3, 4],
    {"values": [1, 2, 3, 4]},
    {"values": "3f80000040000000404000004080000000"[:32]},  # hex cells, float: 1, 2, 3, 4
    {"cells": [{"address": {"x": "0"}, "value": 1}, {"address": {"x": "1"}, "value": 2},
               {"address": {"x": "2"}, "value": 3}, {"address": {"x": "3"}, "value": 4}]},
    {"type": "tensor<float>(x[4])", "values": [1, 2, 3, 4]},
])
def test_dense_tensor_in_every_document_json_form(value):
    doc = read_document({"embedding": value, "popularity": 0}, 0, FIELDS)
    np.testing.assert_array_equal(doc.values["embedding"], [1, 2, 3, 4])


def test_mapped_and_mixed_fields_become_tensors():
    types = {"tags": TensorType.parse("tensor(t{})"), "m": TensorType.parse("tensor<float>(k{},x[2])")}
    doc = read_document({"tags": {"cells": {"a": 1.5, "b": 2}}, "m": {"blocks": {"u": [1, 2]}}}, 0, types)
    assert doc.values["tags"].get({"t": "b"}) == 2.0
    assert doc.values["m"].get({"k": "u", "x": 1}) == 2.0
    stacked = stack_values([doc, doc], types)
    assert isinstance(stacked["tags"], list) and len(stacked["tags"]) == 2


def _error(data, fields=FIELDS) -> RankingError:
    with pytest.raises(RankingError) as info:
        read_document(data, 3, fields, line=4)
    return info.value


def test_missing_field_names_line_id_and_field_with_a_hint():
    e = _error({"put": "id:ns:item::7", "fields": {"popularity": 1}})
    assert e.code == "AK602" and e.field == "embedding" and e.document_id == "id:ns:item::7"
    assert "line 4 (id:ns:item::7)" in e.message and "attribute(embedding)" in e.message
    assert '"embedding": {"values": [0.0, 0.0, 0.0, 0.0]}' in e.hint


def test_field_names_are_case_sensitive_and_the_hint_says_so():
    e = _error({"Embedding": [1, 2, 3, 4], "popularity": 1})
    assert e.code == "AK602" and "'Embedding'" in e.hint and "case-sensitive" in e.hint


@pytest.mark.parametrize("value, words", [
    ([1, 2, 3], "shape [3]"),
    ({"values": [1, "x", 3, 4]}, "not a number"),
    ({"cells": [{"address": {"y": "0"}, "value": 1}]}, "y"),
    ("abc", "hex"),
])
def test_wrong_tensor_value_names_field_and_type(value, words):
    e = _error({"put": "id:ns:item::7", "fields": {"embedding": value, "popularity": 1}})
    assert e.code == "AK603" and e.field == "embedding" and "tensor<float>(x[4])" in e.message
    assert words in e.message and e.hint


def test_scalar_field_given_a_list_or_text():
    assert _error({"embedding": [1, 2, 3, 4], "popularity": [1]}).code == "AK603"
    e = _error({"embedding": [1, 2, 3, 4], "popularity": "high"})
    assert e.field == "popularity" and "not a number" in e.message


def test_update_and_remove_operations_are_not_documents():
    for op in ("update", "remove"):
        e = _error({op: "id:ns:item::1", "fields": {}})
        assert e.code == "AK601" and op in e.message
    assert _error({"put": "id:ns:item::1", "fields": [1]}).code == "AK601"
    assert _error([1, 2]).code == "AK601"


def test_jsonl_collects_every_error_with_its_line():
    lines = [json.dumps({"put": "id:a:t::1", "fields": {"embedding": [1, 2, 3, 4], "popularity": 1}}),
             "",
             '{"put": "id:a:t::2", "fields": {',
             json.dumps({"put": "id:a:t::3", "fields": {"embedding": [1, 2, 3, 4]}}),
             json.dumps({"embedding": [0, 0, 0, 0], "popularity": 0})]
    docs, errors = read_documents(lines, FIELDS)
    assert [d.line for d in docs] == [1, 5]
    assert [(e.code, e.line) for e in errors] == [("AK600", 3), ("AK602", 4)]
    assert errors[1].to_diagnostic("docs.jsonl").span.line == 4


@pytest.mark.parametrize("cell", ["float", "double", "bfloat16", "int8"])
def test_columnwise_reading_equals_document_by_document(cell):
    from appkit.serve.documents import read_batch

    fields = {"v": TensorType.parse(f"tensor<{cell}>(x[2],y[3])"), "s": TensorType.scalar(),
              "m": TensorType.parse("tensor(t{})")}
    rng = np.random.default_rng(5)
    items = [{"put": f"id:a:t::{i}", "fields": {"v": (rng.standard_normal((2, 3)) * 50).tolist(),
                                                "s": [1, 2.5, True][i % 3], "m": {"cells": {"a": i}}}}
             for i in range(5)]
    items[1]["fields"]["v"] = {"values": items[1]["fields"]["v"]}  # one in another form: that column goes slow
    docs, columns = read_batch(items, fields)
    one_by_one = stack_values([read_document(d, i, fields) for i, d in enumerate(items)], fields)
    assert [d.id for d in docs] == [f"id:a:t::{i}" for i in range(5)]
    for name in ("v", "s"):
        assert columns[name].dtype == one_by_one[name].dtype
        np.testing.assert_array_equal(columns[name], one_by_one[name])
    assert columns["m"] == one_by_one["m"]
    plain = [{"v": (rng.standard_normal((2, 3)) * 50).tolist(), "s": 1, "m": {}} for _ in range(3)]
    fast = read_batch(plain, fields)[1]
    np.testing.assert_array_equal(fast["v"], stack_values([read_document(d, i, fields) for i, d in enumerate(plain)],
                                                          fields)["v"])


def test_columnwise_errors_name_the_document():
    from appkit.serve.documents import read_batch

    items = [{"embedding": [1, 2, 3, 4], "popularity": 1}, {"put": "id:a:t::9", "fields": {"embedding": [1, 2],
                                                                                          "popularity": 1}}]
    with pytest.raises(RankingError) as info:
        read_batch(items, FIELDS)
    assert info.value.code == "AK603" and info.value.document == 1 and info.value.document_id == "id:a:t::9"
    with pytest.raises(RankingError) as info:
        read_batch([items[0], {"popularity": 2}], FIELDS)
    assert info.value.code == "AK602" and info.value.document == 1 and info.value.field == "embedding"
