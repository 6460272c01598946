"""The kernels: hand-computed cases for mapped, mixed and dense tensors, and a cell-by-cell reference
implementation of join, merge and reduce that hypothesis compares them with."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appkit.tensor import ops
from appkit.tensor.literal import parse_tensor_literal as lit
from appkit.tensor.type import CellType, TensorType, TensorTypeError
from appkit.tensor.value import Tensor
from tests.tensor.strategies import tensor_types, tensors

T = TensorType.parse


def test_join_mixed_with_sparse_matches_on_shared_mapped_dims():
    a = lit("tensor(x{},y[2]):{a:[1,2],b:[3,4]}")
    b = lit("tensor(x{},z{}):{{x:a,z:p}:10,{x:b,z:q}:30,{x:c,z:q}:20}")
    got = ops.join(a, b, np.multiply)
    assert got == lit("tensor(x{},y[2],z{}):{{x:a,y:0,z:p}:10,{x:a,y:1,z:p}:20,{x:b,y:0,z:q}:90,{x:b,y:1,z:q}:120}")


def test_join_dense_broadcasts_by_dimension_name():
    a = Tensor.from_numpy(T("tensor(x[2])"), [1, 2])
    b = Tensor.from_numpy(T("tensor(y[3])"), [10, 20, 30])
    got = ops.join(a, b, np.add)
    assert got.type == T("tensor(x[2],y[3])")
    np.testing.assert_array_equal(got.to_numpy(), [[11, 21, 31], [12, 22, 32]])


def test_join_with_dense_keeps_every_subspace():
    a = lit("tensor(x{},y[2]):{a:[1,2],b:[3,4]}")
    got = ops.join(a, Tensor.from_numpy(T("tensor(y[2])"), [10, 100]), np.multiply)
    assert got == lit("tensor(x{},y[2]):{a:[10,200],b:[30,400]}")
    assert ops.join(Tensor.scalar(2), a, np.multiply) == lit("tensor(x{},y[2]):{a:[2,4],b:[6,8]}")


def test_join_cell_types_follow_the_type_rules():
    f = Tensor.from_numpy(T("tensor<float>(x[2])"), [1, 2])
    assert ops.join(f, f, np.add).type == T("tensor<float>(x[2])")
    assert ops.join(f, Tensor.scalar(0.5), np.add).cells_array.dtype == np.float32
    i8 = Tensor.from_numpy(T("tensor<int8>(x[2])"), [100, 100])
    got = ops.join(i8, i8, np.add)  # int8 cells compute as float: no wrap-around
    assert got.type == T("tensor<float>(x[2])") and got.to_numpy().tolist() == [200, 200]


def test_join_of_different_sizes_is_a_type_error():
    with pytest.raises(TensorTypeError):
        ops.join(Tensor.from_numpy(T("tensor(x[2])"), [1, 2]), Tensor.from_numpy(T("tensor(x[3])"), [1, 2, 3]),
                 np.add)


def test_merge_keeps_cells_of_either_side():
    a = lit("tensor(x{}):{a:1,b:2}")
    b = lit("tensor(x{}):{b:10,c:20}")
    assert ops.merge(a, b, np.add) == lit("tensor(x{}):{a:1,b:12,c:20}")
    assert ops.merge(a, b, lambda x, y: y) == lit("tensor(x{}):{a:1,b:10,c:20}")
    d = Tensor.from_numpy(T("tensor(x[2])"), [1, 2])
    assert ops.merge(d, d, np.multiply).to_numpy().tolist() == [1, 4]


@pytest.mark.parametrize("agg, over_x, over_all", [
    ("sum", [[4, 6]], 10), ("avg", [[2, 3]], 2.5), ("count", [[2, 2]], 4), ("max", [[3, 4]], 4),
    ("min", [[1, 2]], 1), ("prod", [[3, 8]], 24), ("median", [[2, 3]], 2.5),
])
def test_reduce_mixed(agg, over_x, over_all):
    a = lit("tensor(x{},y[2]):{a:[1,2],b:[3,4]}")
    by_x = ops.reduce(a, agg, ["x"])
    assert by_x.type == T("tensor(y[2])") and by_x.cells_array.tolist() == over_x
    assert ops.reduce(a, agg).as_float() == over_all
    assert ops.reduce(a, agg, ["x", "y"]).as_float() == over_all


def test_reduce_keeps_mapped_groups():
    a = lit("tensor(x{},y{}):{{x:a,y:p}:1,{x:a,y:q}:2,{x:b,y:p}:5}")
    assert ops.reduce(a, "sum", ["y"]) == lit("tensor(x{}):{a:3,b:5}")
    assert ops.reduce(a, "count", ["x"]) == lit("tensor(y{}):{p:2,q:1}")
    assert ops.reduce(a, "median", ["x"]) == lit("tensor(y{}):{p:3,q:2}")
    m = lit("tensor(x{},y[3]):{a:[1,5,3]}")
    assert ops.reduce(m, "max", ["y"]) == lit("tensor(x{}):{a:5}")


def test_reduce_of_empty_tensors():
    empty = Tensor.empty(T("tensor(x{})"))
    for agg in ("sum", "count", "max", "avg", "prod", "median", "min"):
        assert ops.reduce(empty, agg).as_float() == 0.0
    mixed = Tensor.empty(T("tensor(x{},y[2])"))
    assert ops.reduce(mixed, "sum", ["x"]) == Tensor.from_numpy(T("tensor(y[2])"), [0, 0])
    assert ops.reduce(mixed, "sum", ["y"]) == Tensor.empty(T("tensor(x{})"))


def test_reduce_float_keeps_float_unless_scalar():
    f = Tensor.from_numpy(T("tensor<float>(x[2],y[2])"), [[1, 2], [3, 4]])
    assert ops.reduce(f, "sum", ["x"]).type == T("tensor<float>(y[2])")
    assert ops.reduce(f, "sum").type == TensorType.scalar()


def test_rename_transposes_and_resorts():
    d = Tensor.from_numpy(T("tensor(x[2],y[3])"), np.arange(6).reshape(2, 3))
    swapped = ops.rename(d, ["x", "y"], ["y", "x"])
    assert swapped.type == T("tensor(x[3],y[2])")
    np.testing.assert_array_equal(swapped.to_numpy(), np.arange(6).reshape(2, 3).T)
    s = lit("tensor(a{},b{}):{{a:1,b:z}:1,{a:2,b:y}:2}")
    got = ops.rename(s, ["a"], ["c"])  # c sorts after b: labels reorder
    assert got.labels == (("y", "2"), ("z", "1"))
    assert got == lit("tensor(b{},c{}):{{b:z,c:1}:1,{b:y,c:2}:2}")


def test_concat():
    a = Tensor.from_numpy(T("tensor(x[2])"), [1, 2])
    b = Tensor.from_numpy(T("tensor(x[3])"), [3, 4, 5])
    assert ops.concat(a, b, "x").to_numpy().tolist() == [1, 2, 3, 4, 5]
    assert ops.concat(a, Tensor.scalar(9), "x").to_numpy().tolist() == [1, 2, 9]
    got = ops.concat(a, a, "y")
    assert got.type == T("tensor(x[2],y[2])") and got.to_numpy().tolist() == [[1, 1], [2, 2]]
    m = lit("tensor(k{},x[2]):{p:[1,2],q:[3,4]}")
    assert ops.concat(m, Tensor.from_numpy(T("tensor(x[1])"), [0]), "x") == \
        lit("tensor(k{},x[3]):{p:[1,2,0],q:[3,4,0]}")


def test_peek():
    m = lit("tensor(k{},x[2],y[2]):{p:[[1,2],[3,4]],q:[[5,6],[7,8]]}")
    assert ops.peek(m, {"k": "q"}) == Tensor.from_numpy(T("tensor(x[2],y[2])"), [[5, 6], [7, 8]])
    assert ops.peek(m, {"x": 1}) == lit("tensor(k{},y[2]):{p:[3,4],q:[7,8]}")
    assert ops.peek(m, {"k": "p", "x": 0, "y": 1}).as_float() == 2
    assert ops.peek(m, {"k": "nope", "x": 0, "y": 1}).as_float() == 0
    assert ops.peek(m, {"x": "1", "y": 0}) == lit("tensor(k{}):{p:3,q:7}")
    assert ops.peek(m, {"x": 5, "y": 0}) == Tensor.empty(T("tensor(k{})"))


def test_cell_cast_rounds_like_vespa():
    d = Tensor.from_numpy(T("tensor(x[3])"), [1.1, -2.7, 300.0])
    bf = ops.cell_cast(d, CellType.BFLOAT16)
    assert bf.type == T("tensor<bfloat16>(x[3])")
    assert bf.to_numpy().tolist() == [1.09375, -2.6875, 300.0]  # low 16 bits of the float dropped
    i8 = ops.cell_cast(d, CellType.INT8)
    assert i8.to_numpy().tolist() == [1, -2, 44]  # truncated toward zero, wrapped
    assert ops.cell_cast(bf, CellType.DOUBLE).cells_array.dtype == np.float64


def test_generate_and_map():
    g = ops.generate(T("tensor(x[2],y[3])"), lambda x, y: x * 10 + y)
    assert g.to_numpy().tolist() == [[0, 1, 2], [10, 11, 12]]
    assert ops.generate(T("tensor<float>(x[2])"), lambda x: 7).cells_array.tolist() == [[7, 7]]
    assert ops.map(g, np.negative).to_numpy().tolist() == [[0, -1, -2], [-10, -11, -12]]
    f = Tensor.from_numpy(T("tensor<bfloat16>(x[1])"), [2])
    assert ops.map(f, np.sqrt).type == T("tensor<float>(x[1])")


def test_subspace_functions():
    m = lit("tensor(k{},x[2]):{p:[1,2],q:[3,4]}")
    doubled = ops.map_subspaces(m, lambda s: ops.reduce(s, "sum"))
    assert doubled == lit("tensor(k{}):{p:3,q:7}")
    kept = ops.filter_subspaces(m, lambda s: ops.reduce(s, "sum").as_float() > 4)
    assert kept == lit("tensor(k{},x[2]):{q:[3,4]}")


# --- a cell-by-cell reference for join, merge and reduce -------------------------------------------

def _cells(t: Tensor) -> dict[tuple, float]:
    return {tuple(sorted((k, str(v)) for k, v in a.items())): v for a, v in t.cells()}


def _as_tensor(rtype: TensorType, cells: dict[tuple, float]) -> Tensor:
    return Tensor.from_cells(rtype, {k: v for k, v in cells.items()})


def _join_ref(a: Tensor, b: Tensor, fn) -> Tensor:
    rtype = TensorType.join(a.type, b.type)
    out = {}
    for ka, va in _cells(a).items():
        for kb, vb in _cells(b).items():
            da, db = dict(ka), dict(kb)
            if all(da[n] == db[n] for n in da.keys() & db.keys()):
                out[tuple(sorted({**da, **db}.items()))] = fn(va, vb)
    if not rtype.mapped_dimensions and not out:
        return Tensor.empty(rtype)
    return _as_tensor(rtype, out)


def _reduce_ref(a: Tensor, agg: str, dims: list[str]) -> Tensor:
    rtype = a.type.reduce(dims)
    names = set(dims or a.type.dimension_names)
    groups: dict[tuple, list[float]] = {}
    for k, v in _cells(a).items():
        groups.setdefault(tuple((n, x) for n, x in k if n not in names), []).append(v)
    f = {"sum": math.fsum, "avg": statistics.fmean, "count": len, "max": max, "min": min,
         "prod": math.prod, "median": statistics.median}[agg]
    if not groups and not rtype.mapped_dimensions:
        return Tensor.empty(rtype)
    return _as_tensor(rtype, {k: f(v) for k, v in groups.items()})


@st.composite
def _joinable(draw):
    a = draw(tensors(tensor_types()))
    # b shares some of a's dimensions (same kind and size) and may add its own
    shared = [d for d in a.type.dimensions if draw(st.booleans())]
    own = [d for d in draw(tensor_types(2)).dimensions if not a.type.has(d.name)]
    b = draw(tensors(st.just(TensorType(shared + own, draw(st.sampled_from(list(CellType)))))))
    return a, b


@settings(max_examples=150, deadline=None)
@given(_joinable())
def test_join_matches_reference(pair):
    a, b = pair
    for fn in (lambda x, y: x - y, lambda x, y: x * 2 + y):
        got = ops.join(a, b, fn)
        ref = _join_ref(a, b, fn)
        assert got.labels == ref.labels and got.type.dimensions == ref.type.dimensions
        assert got.equals(ref, rel_tol=1e-5, abs_tol=1e-30, check_cell_type=False) or \
            not np.all(np.isfinite(got.cells_array))


@settings(max_examples=150, deadline=None)
@given(tensors(tensor_types()), st.sampled_from(["sum", "avg", "count", "max", "min", "prod", "median"]),
       st.data())
def test_reduce_matches_reference(t, agg, data):
    names = list(t.type.dimension_names)
    dims = data.draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    x = np.asarray(t.cells_array, dtype=np.float64)
    if not np.all(np.isfinite(x)) or (x.size and np.abs(x).max() > 1e30):
        return  # overflowing sums and products are not what this compares
    got = ops.reduce(t, agg, dims)
    ref = _reduce_ref(t, agg, dims)
    assert got.labels == ref.labels and got.type.dimensions == ref.type.dimensions
    assert got.equals(ref, rel_tol=1e-4, abs_tol=1e-30, check_cell_type=False), (got, ref)


@settings(max_examples=100, deadline=None)
@given(tensors(tensor_types()), st.data())
def test_merge_matches_reference(a, data):
    b = data.draw(tensors(st.just(a.type)))
    got = ops.merge(a, b, lambda x, y: x - y)
    ca, cb = _cells(a), _cells(b)
    ref = {k: ca[k] - cb[k] if k in ca and k in cb else ca.get(k, cb.get(k)) for k in ca.keys() | cb.keys()}
    assert _cells(got).keys() == ref.keys()
    for k, v in _cells(got).items():
        assert v == pytest.approx(ref[k], rel=1e-5, nan_ok=True) or not math.isfinite(ref[k])


@settings(max_examples=150, deadline=None)
@given(_joinable(), st.data())
def test_product_sum_is_reduce_of_join(pair, data):
    a, b = pair
    jtype = TensorType.join(a.type, b.type)
    names = list(jtype.dimension_names)
    dims = data.draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    if not (np.all(np.isfinite(a.cells_array)) and np.all(np.isfinite(b.cells_array))):
        return
    if max(np.abs(a.cells_array.astype(float)).max(initial=0), np.abs(b.cells_array.astype(float)).max(initial=0)) > 1e15:
        return  # products that overflow are not what this compares
    got = ops.product_sum(a, b, dims)
    ref = ops.reduce(ops.join(a, b, np.multiply), "sum", dims)
    assert got.type == ref.type and got.labels == ref.labels
    assert got.equals(ref, rel_tol=1e-4, abs_tol=1e-6), (got, ref)


def test_product_sum_is_a_matrix_product():
    x = Tensor.from_numpy(T("tensor<float>(d0[3],d2[4])"), np.arange(12).reshape(3, 4))
    w = Tensor.from_numpy(T("tensor<float>(d2[4],d3[2])"), np.arange(8).reshape(4, 2))
    got = ops.product_sum(x, w, ["d2"])
    assert got.type == T("tensor<float>(d0[3],d3[2])")
    np.testing.assert_array_equal(got.to_numpy(), np.arange(12).reshape(3, 4) @ np.arange(8).reshape(4, 2))
