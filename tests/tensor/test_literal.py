"""Tensor literal form: every form parses, printing matches Vespa's Java forms, round trips, located errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings

from appkit.tensor.literal import format_number, format_tensor, parse_tensor_literal
from appkit.tensor.type import TensorType
from appkit.tensor.value import AK320, AK321, AK322, AK323, AK324, AK327, Tensor, TensorValueError
from tests.tensor.strategies import tensors

T = TensorType.parse


@pytest.mark.parametrize("text, type_, cells", [
    ("tensor(x{},y[2]):{{x:a,y:0}:1.0,{x:a,y:1}:2,{x:b,y:0}:3}", "tensor(x{},y[2])",
     {("a", 0): 1, ("a", 1): 2, ("b", 0): 3, ("b", 1): 0}),
    ("{{x:0,y:1}:2.0}", "tensor(x{},y{})", {("0", "1"): 2.0}),
    ("tensor(x[2],y[3]):[[1,2,3],[4,5,6]]", "tensor(x[2],y[3])",
     {(0, 0): 1, (0, 1): 2, (0, 2): 3, (1, 0): 4, (1, 1): 5, (1, 2): 6}),
    ("tensor(x[2],y[2]):[1,2,3,4]", "tensor(x[2],y[2])", {(0, 0): 1, (0, 1): 2, (1, 0): 3, (1, 1): 4}),
    ("tensor(x{}):{a:1,b:2}", "tensor(x{})", {("a",): 1, ("b",): 2}),
    ("tensor(x{},y[2]):{a:[1,2],b:[3,4]}", "tensor(x{},y[2])",
     {("a", 0): 1, ("a", 1): 2, ("b", 0): 3, ("b", 1): 4}),
    ("tensor(x{},y{}):{a:{b:1,c:2}}", "tensor(x{},y{})", {("a", "b"): 1, ("a", "c"): 2}),
    ("tensor(x{}):{'a b':1, \"c,d\":2}", "tensor(x{})", {("a b",): 1, ("c,d",): 2}),
    ("tensor(x[]):[1, 2, 3]", "tensor(x[3])", {(0,): 1, (1,): 2, (2,): 3}),
    ("tensor<float>(x[2]):[0.1, -1e10]", "tensor<float>(x[2])", {(0,): np.float32(0.1), (1,): -1e10}),
    ("  5.5 ", "tensor()", {(): 5.5}),
    ("tensor():{-2}", "tensor()", {(): -2}),
])
def test_forms(text, type_, cells):
    t = parse_tensor_literal(text)
    assert t.type == T(type_)
    names = t.type.dimension_names
    for labels, value in cells.items():
        assert t.get(dict(zip(names, labels))) == pytest.approx(float(value))
    assert t.size == len(cells) or t.type.is_scalar


def test_special_numbers():
    t = parse_tensor_literal("tensor(x[3]):[nan, Infinity, -inf]")
    v = t.to_numpy()
    assert math.isnan(v[0]) and v[1] == math.inf and v[2] == -math.inf
    assert format_tensor(t) == "tensor(x[3]):[NaN, Infinity, -Infinity]"


@pytest.mark.parametrize("text, printed", [
    ("tensor(x[2],y[3]):[[1,2,3],[4,5,6]]", "tensor(x[2],y[3]):[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]"),
    ("tensor(x{}):{b:2,a:1}", "tensor(x{}):{a:1.0, b:2.0}"),
    ("tensor(x{},y[2]):{b:[3,4],a:[1,2]}", "tensor(x{},y[2]):{a:[1.0, 2.0], b:[3.0, 4.0]}"),
    ("tensor(x{},y{}):{{x:b,y:c}:1,{x:a,y:d}:2}", "tensor(x{},y{}):{{x:a,y:d}:2.0, {x:b,y:c}:1.0}"),
    ("3", "tensor():{3.0}"),
    ("tensor(x{}):{}", "tensor(x{}):{}"),
    ("tensor<float>(x[1]):[0.1]", "tensor<float>(x[1]):[0.1]"),
    ("tensor(x{}):{'a b':1}", "tensor(x{}):{'a b':1.0}"),
])
def test_printing(text, printed):
    assert format_tensor(parse_tensor_literal(text)) == printed


def test_verbose_printing():
    t = parse_tensor_literal("tensor(x{},y[2]):{a:[1,2]}")
    assert format_tensor(t, short=False) == "tensor(x{},y[2]):{{x:a,y:0}:1.0, {x:a,y:1}:2.0}"
    assert format_tensor(t, with_type=False) == "{a:[1.0, 2.0]}"


@pytest.mark.parametrize("value, text", [
    (1.0, "1.0"), (0.001, "0.001"), (1e7, "1.0E7"), (1234567.0, "1234567.0"), (1e-4, "1.0E-4"),
    (123.456, "123.456"), (-0.5, "-0.5"), (0.0, "0.0"), (-0.0, "-0.0"), (2.5e-7, "2.5E-7"),
])
def test_numbers_print_like_java(value, text):
    assert format_number(value) == text


def test_type_of_the_field_is_used_and_checked():
    t = parse_tensor_literal("[1,2]", T("tensor<float>(x[2])"))
    assert t.type == T("tensor<float>(x[2])") and t.cells_array.dtype == np.float32
    with pytest.raises(TensorValueError) as e:
        parse_tensor_literal("tensor(y[2]):[1,2]", T("tensor(x[2])"))
    assert e.value.code == AK327 and "tensor(x[2])" in e.value.message


@pytest.mark.parametrize("text, code, words, column", [
    ("tensor(x[2]):[1,2", AK320, "expected ']'", 18),
    ("tensor(x[3]):[1,2]", AK324, "needs [3]", 14),
    ("tensor(x[2]):{{x:a}:1}", AK322, "is not an integer", 15),
    ("tensor(x[2]):{{x:2}:1}", AK323, "out of range", 15),
    ("tensor(x{}):{a:b}", AK321, "'b' is not a number", 16),
    ("{a:1}", AK327, "need a type", 1),
    ("[1,2]", AK327, "needs a type", 1),
    ("tensor(x[2],y[2]):[[1,2],[3]]", AK324, "different lengths", 19),
    ("tensor(x{}):{a:1} extra", AK320, "unexpected text", 19),
    ("tensor(x{}):{{y:a}:1}", AK322, "has no dimension y", 14),
    ("tensor(x{}):{'a:1}", AK320, "not closed", 14),
])
def test_errors_are_located(text, code, words, column):
    with pytest.raises(TensorValueError) as e:
        parse_tensor_literal(text)
    assert e.value.code == code
    assert words in e.value.message
    assert (e.value.line, e.value.column) == (1, column)


def test_error_becomes_a_diagnostic_in_the_file():
    with pytest.raises(TensorValueError) as e:
        parse_tensor_literal("tensor(x[2]):\n  [1,x]")
    d = e.value.to_diagnostic("schemas/a.sd", line_offset=9, column_offset=4)
    assert (d.span.line, d.span.column, d.code) == (11, 6, AK321)


@settings(max_examples=200, deadline=None)
@given(tensors())
def test_round_trip(t: Tensor):
    for short in (True, False):
        text = format_tensor(t, short=short)
        assert parse_tensor_literal(text) == t, text
        assert parse_tensor_literal(format_tensor(t, short=short, with_type=False), t.type) == t


def test_dense_values_follow_the_written_dimension_order():
    # Vespa's Java parser nests dense values (and mapped labels) in the order the type is written
    t = parse_tensor_literal("tensor(y[2],x[3]):[[1,2,3],[4,5,6]]")
    assert t.type == T("tensor(x[3],y[2])")
    assert t.get({"y": 0, "x": 2}) == 3 and t.get({"y": 1, "x": 0}) == 4
    m = parse_tensor_literal("tensor(k{},y[2],x[1]):{a:[[1],[2]]}")
    assert m.get({"k": "a", "y": 1, "x": 0}) == 2
    s = parse_tensor_literal("tensor(y{},x{}):{a:{b:1}}")
    assert s.get({"y": "a", "x": "b"}) == 1
    assert parse_tensor_literal(format_tensor(t)) == t  # printing is canonical, and reads back
