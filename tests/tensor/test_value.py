"""Tensor values: constructors, storage per cell type, accessors, equality."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appkit.tensor.type import CellType, TensorType
from appkit.tensor.value import AK321, AK322, AK324, AK327, Tensor, TensorValueError

T = TensorType.parse


def test_dense_from_numpy_binds_unbound_sizes_and_copies():
    arr = np.arange(6.0).reshape(2, 3)
    t = Tensor.from_numpy(T("tensor(x[],y[3])"), arr)
    assert t.type == T("tensor(x[2],y[3])") and t.labels == ((),)
    arr[0, 0] = 99
    assert t.to_numpy()[0, 0] == 0
    with pytest.raises(ValueError):
        t.cells_array[0, 0, 0] = 1  # immutable


def test_storage_per_cell_type():
    values = [1.1, -2.9, 300.0]
    assert Tensor.from_numpy(T("tensor(x[3])"), values).cells_array.dtype == np.float64
    assert Tensor.from_numpy(T("tensor<float>(x[3])"), values).cells_array.dtype == np.float32
    bf = Tensor.from_numpy(T("tensor<bfloat16>(x[3])"), values)
    assert bf.cells_array.dtype == np.float32
    assert (bf.cells_array.view(np.uint32) & 0xFFFF).max() == 0  # only bfloat16-representable values
    i8 = Tensor.from_numpy(T("tensor<int8>(x[3])"), values)
    assert i8.cells_array.dtype == np.int8 and i8.to_numpy().tolist() == [1, -2, 44]


def test_from_cells_and_subspaces_sort_labels():
    t = Tensor.from_cells(T("tensor(k{},x[2])"), {(("k", "b"), ("x", 1)): 4, (("k", "a"), ("x", 0)): 1})
    assert t.labels == (("a",), ("b",))
    assert t.cells_array.tolist() == [[1, 0], [0, 4]]
    s = Tensor.from_subspaces(T("tensor(k{},x[2])"), [("b",), ("a",)], [[3, 4], [1, 2]])
    assert s.labels == (("a",), ("b",)) and s.cells_array.tolist() == [[1, 2], [3, 4]]
    assert s.get({"k": "b", "x": 1}) == 4 and s.get({"k": "c", "x": 0}) is None


def test_cells_iterates_addresses_in_type_order():
    t = Tensor.from_subspaces(T("tensor(a[2],k{})"), [("p",)], [[5, 6]])
    assert list(t.cells()) == [({"a": 0, "k": "p"}, 5.0), ({"a": 1, "k": "p"}, 6.0)]


def test_scalar():
    s = Tensor.scalar(2.5)
    assert s.as_float() == 2.5 and float(s) == 2.5 and s.type.is_scalar and s.cells_array.shape == (1,)
    with pytest.raises(TensorValueError) as e:
        Tensor.from_numpy(T("tensor(x[2])"), [1, 2]).as_float()
    assert e.value.code == AK327


def test_equality_is_exact_and_missing_sparse_cells_are_absent():
    a = Tensor.from_cells(T("tensor(k{})"), {(("k", "a"),): 0.0})
    b = Tensor.empty(T("tensor(k{})"))
    assert a != b  # a zero cell is not an absent cell
    f = Tensor.from_numpy(T("tensor<float>(x[1])"), [1])
    d = Tensor.from_numpy(T("tensor(x[1])"), [1])
    assert f != d and f.equals(d, check_cell_type=False)
    n = Tensor.from_numpy(T("tensor(x[1])"), [math.nan])
    assert n == Tensor.from_numpy(T("tensor(x[1])"), [math.nan])
    near = Tensor.from_numpy(T("tensor(x[1])"), [1 + 1e-12])
    assert near != d and near.equals(d, rel_tol=1e-9)


@pytest.mark.parametrize("make, code", [
    (lambda: Tensor.from_numpy(T("tensor(x[3])"), [1, 2]), AK324),
    (lambda: Tensor.from_numpy(T("tensor(k{})"), [1]), AK327),
    (lambda: Tensor.from_numpy(T("tensor(x[2])"), ["a", "b"]), AK321),
    (lambda: Tensor.from_subspaces(T("tensor(k{})"), [("a",), ("a",)], [1, 2]), AK322),
    (lambda: Tensor.from_cells(T("tensor(x[2])"), {(("y", 0),): 1}), AK322),
])
def test_construction_errors(make, code):
    with pytest.raises(TensorValueError) as e:
        make()
    assert e.value.code == code


def test_empty_values():
    assert Tensor.empty(T("tensor(k{},x[2])")).cells_array.shape == (0, 2)
    z = Tensor.empty(T("tensor<float>(x[2])"))
    assert z.to_numpy().tolist() == [0, 0] and z.cell_type is CellType.FLOAT
