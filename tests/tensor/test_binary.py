"""Vespa's typed binary tensor format: the corpus cases, the conformance files' tensors, round trips, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings

from appkit.tensor.binary import decode_tensor, encode_hex, encode_tensor
from appkit.tensor.type import CellType, TensorType
from appkit.tensor.value import AK325, Tensor, TensorValueError
from tests.conftest import shared_path
from tests.tensor.strategies import tensors


def _binary_cases() -> list[dict]:
    with open(shared_path("corpus", "tensor_binary_format.jsonl")) as f:
        return [c for c in map(json.loads, f) if "tensor" in c]


def test_every_binary_format_case_decodes_and_encodes():
    cases = _binary_cases()
    assert len(cases) == 22
    for case in cases:
        spec = case["tensor"]
        expected = Tensor.from_cells(TensorType.parse(spec["type"]),
                                     [(c["address"], c["value"]) for c in spec["cells"]])
        for blob in case["binary"]:
            assert decode_tensor(blob) == expected, f"{blob} should decode to {expected}"
        listed = {b[2:].upper() for b in case["binary"]}
        assert encode_tensor(expected).hex().upper() in listed, f"{expected} encodes to none of {listed}"


def test_conformance_tensors_reencode_to_the_same_bytes():
    path = shared_path("corpus", "tensor_conformance.jsonl")
    seen = 0
    with open(path) as f:
        for line in f:
            case = json.loads(line)
            if "inputs" not in case:
                continue
            for blob in [*case["inputs"].values(), case["result"]["expect"]]:
                t = decode_tensor(blob)
                assert encode_hex(t) == "0x" + blob[2:].upper(), f"{t} re-encodes differently from {blob}"
                seen += 1
            if seen >= 400:
                break
    assert seen >= 400


@settings(max_examples=150, deadline=None)
@given(tensors())
def test_round_trip(t):
    assert decode_tensor(encode_tensor(t)) == t


def test_cell_type_layouts():
    t = Tensor.from_numpy(TensorType.parse("tensor<bfloat16>(x[2])"), [1.0, -2.0])
    assert encode_tensor(t).hex() == "0602" + "01" + "0178" + "02" + "3f80" + "c000"
    i8 = Tensor.from_numpy(TensorType.parse("tensor<int8>(x[3])"), [-1, 0, 127])
    assert encode_tensor(i8).hex() == "0603" + "01" + "0178" + "03" + "ff007f"
    assert decode_tensor(encode_tensor(i8)).cells_array.dtype == np.int8


def test_large_counts_use_four_byte_integers():
    t = Tensor.from_numpy(TensorType.parse("tensor<int8>(x[200])"), np.zeros(200))
    data = encode_tensor(t)
    assert data[:9].hex() == "0603010178" + "800000c8"  # 200 >= 0x80: four bytes with the top bit set
    assert decode_tensor(data) == t


@pytest.mark.parametrize("blob, words", [
    ("0x02010178033FF0", "ends early"),
    ("0x09", "unknown binary tensor format 9"),
    ("0x0609", "unknown cell type code 9"),
    ("0x02004045000000000000FF", "left over"),
    ("0xZZ", "not hex"),
    ("0x0101017803016140", "ends early"),  # sparse: three cells announced, the first one cut short
    ("0x010101780301FF3FF0000000000000", "not UTF-8"),
])
def test_malformed_bytes_are_reported(blob, words):
    with pytest.raises(TensorValueError) as e:
        decode_tensor(blob)
    assert e.value.code == AK325 and words in e.value.message


def test_scalar_cell_type_is_double():
    t = decode_tensor("0x07010000" + "40490FDB")  # a float-typed scalar 3.1415927
    assert t.type == TensorType.scalar() and t.cells_array.dtype == np.float64
    assert abs(t.as_float() - 3.1415927) < 1e-6
    assert t.type.cell_type is CellType.DOUBLE
