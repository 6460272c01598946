"""Bad input is normal input: any text, JSON or bytes gives a tensor or a TensorValueError, never a crash."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appkit.tensor.binary import decode_tensor, encode_tensor
from appkit.tensor.jsonformat import tensor_from_json
from appkit.tensor.literal import parse_tensor_literal
from appkit.tensor.type import TensorType
from appkit.tensor.value import TensorValueError
from tests.tensor.strategies import tensor_types, tensors

_PIECES = st.sampled_from(["tensor(x[2]):", "tensor(x{},y[2]):", "tensor<float>(x{}):", "{", "}", "[", "]", ":",
                           ",", "x", "y", "a", "0", "1", "2", "-1.5e3", "nan", "'q'", "\"", " ", "{x:0}", "tensor("])
_JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.sampled_from(
    ["a", "0", "x", "NaN", "3F80", "cells", "values"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["cells", "blocks", "values", "type", "address", "value", "x", "y", "a"]), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join), st.one_of(st.none(), tensor_types()))
def test_any_literal_text(text, type_):
    try:
        parse_tensor_literal(text, type_)
    except TensorValueError as e:
        assert e.code.startswith("AK32") and e.message


@settings(max_examples=300, deadline=None)
@given(_JSON, tensor_types())
def test_any_json(data, type_):
    try:
        tensor_from_json(data, type_)
    except TensorValueError as e:
        assert e.code.startswith("AK32") and e.message


@settings(max_examples=200, deadline=None)
@given(tensors(), st.data())
def test_any_corrupted_bytes(t, data):
    blob = bytearray(encode_tensor(t))
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if action == "flip" and blob:
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] = data.draw(st.integers(0, 255))
        elif action == "cut" and blob:
            del blob[data.draw(st.integers(0, len(blob) - 1)):]
        else:
            blob += bytes([data.draw(st.integers(0, 255))])
    try:
        decode_tensor(bytes(blob))
    except TensorValueError as e:
        assert e.code == "AK325"


def test_type_of_scalar_literal_given_for_a_tensor_field():
    try:
        parse_tensor_literal("5", TensorType.parse("tensor(x[2])"))
    except TensorValueError as e:
        assert "is not a value of tensor(x[2])" in e.message
    else:
        raise AssertionError("a number is not a tensor(x[2])")
