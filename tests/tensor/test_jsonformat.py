"""Document JSON tensor forms: each read form, writing short and verbose, round trips, errors by JSON path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings

from appkit.tensor.jsonformat import format_tensor_json, parse_tensor_json, tensor_from_json, tensor_to_json
from appkit.tensor.literal import parse_tensor_literal
from appkit.tensor.type import TensorType
from appkit.tensor.value import AK321, AK322, AK323, AK324, AK326, AK327, AK328, Tensor, TensorValueError
from tests.tensor.strategies import tensors

T = TensorType.parse
MIXED = "tensor(x{},y[2]):{a:[1,2],b:[3,4]}"


@pytest.mark.parametrize("type_, data, literal", [
    ("tensor(x{},y[2])", {"cells": [{"address": {"x": "a", "y": "0"}, "value": 1},
                                    {"address": {"x": "a", "y": 1}, "value": 2},
                                    {"address": {"x": "b", "y": 0}, "value": 3},
                                    {"address": {"x": "b", "y": 1}, "value": 4}]}, MIXED),
    ("tensor(x{})", {"cells": {"a": 1, "b": 2}}, "tensor(x{}):{a:1,b:2}"),
    ("tensor(x{},y[2])", {"blocks": [{"address": {"x": "a"}, "values": [1, 2]},
                                     {"address": {"x": "b"}, "values": [3, 4]}]}, MIXED),
    ("tensor(x{},y[2])", {"blocks": {"a": [1, 2], "b": [3, 4]}}, MIXED),
    ("tensor(x{},y[2])", {"a": [1, 2], "b": [3, 4]}, MIXED),
    ("tensor(x[2],y[2])", {"values": [[1, 2], [3, 4]]}, "tensor(x[2],y[2]):[[1,2],[3,4]]"),
    ("tensor(x[2],y[2])", {"values": [1, 2, 3, 4]}, "tensor(x[2],y[2]):[[1,2],[3,4]]"),
    ("tensor(x[2],y[2])", [[1, 2], [3, 4]], "tensor(x[2],y[2]):[[1,2],[3,4]]"),
    ("tensor<float>(x[2])", {"values": "3F80000040000000"}, "tensor<float>(x[2]):[1,2]"),
    ("tensor<int8>(x[4])", "FF00017F", "tensor<int8>(x[4]):[-1,0,1,127]"),
    ("tensor<bfloat16>(x[2])", "3F80C000", "tensor<bfloat16>(x[2]):[1,-2]"),
    ("tensor(x[2])", "3FF00000000000004000000000000000", "tensor(x[2]):[1,2]"),
    ("tensor(x[2])", {"type": "tensor(x[2])", "values": [1, 2]}, "tensor(x[2]):[1,2]"),
    ("tensor(x{})", {"a": 1.5, "b": "NaN"}, "tensor(x{}):{a:1.5,b:nan}"),
    ("tensor(x{},y[2])", {"blocks": {"a": "3FF00000000000004000000000000000"}}, "tensor(x{},y[2]):{a:[1,2]}"),
])
def test_read_forms(type_, data, literal):
    got = tensor_from_json(data, T(type_))
    assert got.equals(parse_tensor_literal(literal, T(type_)))


def test_type_from_the_json_itself():
    t = parse_tensor_json('{"type": "tensor(x{},y{})", "cells": [{"address": {"x": "a", "y": "b"}, "value": 3}]}')
    assert t == parse_tensor_literal("tensor(x{},y{}):{{x:a,y:b}:3}")


def test_write_forms():
    assert tensor_to_json(parse_tensor_literal(MIXED)) == {"type": "tensor(x{},y[2])",
                                                           "blocks": {"a": [1.0, 2.0], "b": [3.0, 4.0]}}
    assert tensor_to_json(parse_tensor_literal("tensor(x{}):{a:1}")) == {"type": "tensor(x{})", "cells": {"a": 1.0}}
    assert tensor_to_json(parse_tensor_literal("tensor(x[2]):[1,2]"), with_type=False) == {"values": [1.0, 2.0]}
    verbose = tensor_to_json(parse_tensor_literal("tensor(x{},y[1]):{a:[5]}"), short=False)
    assert verbose["cells"] == [{"address": {"x": "a", "y": "0"}, "value": 5.0}]


@pytest.mark.parametrize("type_, data, code, words", [
    ("tensor(x[3])", {"values": [1, 2]}, AK324, "values: the values have shape [2]"),
    ("tensor(x[2])", {"cells": [{"address": {"x": "a"}, "value": 1}]}, AK322, "cells[0].address.x"),
    ("tensor(x[2])", {"cells": [{"address": {"x": 5}, "value": 1}]}, AK323, "out of range"),
    ("tensor(x[2])", {"values": [1, "b"]}, AK321, "'b' is not a number"),
    ("tensor(x{})", {"cells": {"a": "zz"}}, AK321, "cells.a"),
    ("tensor(x[2])", {"type": "tensor(y[2])", "values": [1, 2]}, AK327, "but the field is tensor(x[2])"),
    ("tensor<float>(x[2])", "3F80", AK328, "do not make whole float cells"),
    ("tensor(x[2],y[2])", {"values": [[1, 2], [3]]}, AK324, "different lengths"),
    ("tensor(x[2])", {"cell": []}, AK326, "needs \"values\""),
    ("tensor(x[2])", {"cells": [{"address": {"z": 0}, "value": 1}]}, AK322, "has no dimension 'z'"),
    ("tensor(x{},y{})", {"a": 1}, AK327, "exactly one mapped dimension"),
    ("tensor(x[2])", {"cells": [], "values": []}, AK326, "both"),
])
def test_errors_name_the_problem(type_, data, code, words):
    with pytest.raises(TensorValueError) as e:
        tensor_from_json(data, T(type_))
    assert e.value.code == code and words in e.value.message


def test_bad_json_text_is_located():
    with pytest.raises(TensorValueError) as e:
        parse_tensor_json('{"values": [1,2,}', T("tensor(x[2])"))
    assert e.value.code == AK326 and e.value.column == 17


@settings(max_examples=150, deadline=None)
@given(tensors())
def test_round_trip(t: Tensor):
    for short in (True, False):
        text = format_tensor_json(t, short=short)
        assert parse_tensor_json(text) == t, text
        assert tensor_from_json(json.loads(format_tensor_json(t, short, with_type=False)), t.type) == t
