"""The tensor primitives on Tensor values: map, join, merge, reduce, rename, concat, peek, cell_cast, generate.

Dense blocks are computed with numpy broadcasting; Python loops run only over subspaces, and only where
mapped dimensions must be matched. Result types always come from TensorType's rules. A function argument
is a vectorised numpy callable. Arithmetic runs in float64 when an operand or the result is double, and
in float32 otherwise (float, bfloat16 and int8 all compute as float, as in Vespa).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from appkit.tensor.type import CellType, TensorType, TensorTypeError
from appkit.tensor.value import AK322, Tensor, TensorValueError, to_cell_dtype

UnaryFn = Callable[[np.ndarray], Any]
BinaryFn = Callable[[np.ndarray, np.ndarray], Any]

AGGREGATORS = ("avg", "count", "max", "median", "min", "prod", "sum")


def _compute_dtype(result: TensorType, *operands: Tensor) -> type:
    return _dtype_for(result, *(t.type for t in operands))


def _dtype_for(result: TensorType, *operands: TensorType) -> type:
    if result.cell_type is CellType.DOUBLE or any(t.cell_type is CellType.DOUBLE for t in operands):
        return np.float64
    return np.float32


_STORE_DTYPE = {c: np.dtype(c.numpy_dtype) for c in CellType}


def _finish(rtype: TensorType, labels: tuple[tuple[str, ...], ...], out: Any, shape: tuple[int, ...]) -> Tensor:
    """Wrap a computed block: broadcast a constant result, store in the result's cell type."""
    arr = out if type(out) is np.ndarray else np.asarray(out)
    if arr.shape != shape:
        arr = np.broadcast_to(arr, shape)
    cell_type = rtype.cell_type
    if arr.dtype != _STORE_DTYPE[cell_type] or cell_type is CellType.BFLOAT16 or arr.base is not None:
        arr = np.ascontiguousarray(to_cell_dtype(arr, cell_type))
    return Tensor(rtype, labels, arr)


def _expanded(t: Tensor, rtype: TensorType, dtype: type) -> np.ndarray:
    """t's cells as (n, ...) with size-1 axes for the result's indexed dimensions t lacks."""
    return t.cells_array.astype(dtype, copy=False).reshape(_broadcast_shape(t.type, rtype))


def _result_shape(rtype: TensorType) -> tuple[int, ...]:
    return tuple(d.size or 1 for d in rtype.indexed_dimensions)


def _pairs(a: Tensor, b: Tensor, rtype: TensorType) -> tuple[Any, Any, tuple[tuple[str, ...], ...], bool]:
    """Which subspaces of a and b meet in a join: row indices into each, the result labels, and
    whether the labels are already sorted. A slice(None) index means 'all rows, in order'."""
    am = [d.name for d in a.type.mapped_dimensions]
    bm = [d.name for d in b.type.mapped_dimensions]
    if not bm:
        return slice(None), np.zeros(len(a.labels), dtype=np.intp), a.labels, True
    if not am:
        return np.zeros(len(b.labels), dtype=np.intp), slice(None), b.labels, True
    rm = [d.name for d in rtype.mapped_dimensions]
    shared = [n for n in am if n in bm]
    a_key = [am.index(n) for n in shared]
    b_key = [bm.index(n) for n in shared]
    # each result label position takes the label from a (if a has the dimension) or from b
    pick = [(0, am.index(n)) if n in am else (1, bm.index(n)) for n in rm]
    table: dict[tuple[str, ...], list[int]] = {}
    for j, lab in enumerate(b.labels):
        table.setdefault(tuple(lab[p] for p in b_key), []).append(j)
    ia: list[int] = []
    ib: list[int] = []
    labels: list[tuple[str, ...]] = []
    for i, lab in enumerate(a.labels):
        for j in table.get(tuple(lab[p] for p in a_key), ()):
            ia.append(i)
            ib.append(j)
            both = (lab, b.labels[j])
            labels.append(tuple(both[s][p] for s, p in pick))
    return np.asarray(ia, dtype=np.intp), np.asarray(ib, dtype=np.intp), tuple(labels), rm == am


def _sorted(labels: tuple[tuple[str, ...], ...], cells: np.ndarray) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    order = sorted(range(len(labels)), key=labels.__getitem__)
    if order == list(range(len(labels))):
        return labels, cells
    return tuple(labels[i] for i in order), cells[order]


def _rows(cells: np.ndarray, index: Any) -> np.ndarray:
    return cells if isinstance(index, slice) else cells[index]


# --- map, join, merge ---------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _map_plan(ta: TensorType) -> tuple[TensorType, type]:
    rtype = ta.map()
    return rtype, _dtype_for(rtype, ta)


def map(a: Tensor, fn: UnaryFn) -> Tensor:  # noqa: A001 - the primitive's own name
    rtype, dtype = _map_plan(a.type)
    return _finish(rtype, a.labels, fn(a.cells_array.astype(dtype, copy=False)), a.cells_array.shape)


@lru_cache(maxsize=4096)
def _join_plan(ta: TensorType, tb: TensorType) -> tuple[TensorType, type, tuple[int, ...], tuple[int, ...],
                                                         tuple[int, ...], bool]:
    """The result type, compute dtype, both operands' broadcast shapes, the result's dense shape and
    whether it has mapped dimensions."""
    rtype = TensorType.join(ta, tb)
    return rtype, _dtype_for(rtype, ta, tb), _broadcast_shape(ta, rtype), _broadcast_shape(tb, rtype), \
        _result_shape(rtype), bool(rtype.mapped_dimensions)


def _broadcast_shape(t: TensorType, rtype: TensorType) -> tuple[int, ...]:
    have = {d.name: d.size or 1 for d in t.indexed_dimensions}
    return (-1, *[have.get(d.name, 1) for d in rtype.indexed_dimensions])


def join(a: Tensor, b: Tensor, fn: BinaryFn) -> Tensor:
    rtype, dtype, shape_a, shape_b, shape, mapped = _join_plan(a.type, b.type)
    x = a.cells_array.astype(dtype, copy=False).reshape(shape_a)
    y = b.cells_array.astype(dtype, copy=False).reshape(shape_b)
    if not mapped:
        return _finish(rtype, ((),), fn(x, y), (1, *shape))
    ia, ib, labels, in_order = _pairs(a, b, rtype)
    out = np.asarray(fn(_rows(x, ia), _rows(y, ib)))
    full = (len(labels), *shape)
    if out.shape != full:
        out = np.broadcast_to(out, full)
    if not in_order:
        labels, out = _sorted(labels, out)
    return _finish(rtype, labels, out, full)


def merge(a: Tensor, b: Tensor, fn: BinaryFn) -> Tensor:
    """Cells in both get fn(a, b); cells in one only are kept as they are."""
    rtype = TensorType.merge(a.type, b.type)
    dtype = _compute_dtype(rtype, a, b)
    x = a.cells_array.astype(dtype, copy=False)
    y = b.cells_array.astype(dtype, copy=False)
    shape = _result_shape(rtype)
    if not rtype.mapped_dimensions:
        return _finish(rtype, ((),), fn(x, y), (1, *shape))
    b_index = b.subspace_index()
    ia, ib, a_only = [], [], []
    for i, lab in enumerate(a.labels):
        j = b_index.get(lab)
        if j is None:
            a_only.append(i)
        else:
            ia.append(i)
            ib.append(j)
    a_index = a.subspace_index()
    b_only = [j for j, lab in enumerate(b.labels) if lab not in a_index]
    both = np.broadcast_to(np.asarray(fn(x[ia], y[ib])), (len(ia), *shape))
    labels = tuple(a.labels[i] for i in ia) + tuple(a.labels[i] for i in a_only) + \
        tuple(b.labels[j] for j in b_only)
    out = np.concatenate([both, x[a_only], y[b_only]], axis=0)
    labels, out = _sorted(labels, out)
    return _finish(rtype, labels, out, out.shape)


# --- reduce -------------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _reduce_plan(ta: TensorType, dims: tuple[str, ...]) -> tuple[TensorType, tuple[int, ...], tuple[int, ...],
                                                                 tuple[int, ...], type]:
    """Result type, reduced cell axes, kept dense shape, kept mapped positions, compute dtype."""
    rtype = ta.reduce(dims)
    names = set(dims) if dims else set(ta.dimension_names)
    indexed = ta.indexed_dimensions
    axes = tuple(1 + i for i, d in enumerate(indexed) if d.name in names)
    kept_shape = tuple(d.size or 1 for d in indexed if d.name not in names)
    kept_pos = tuple(i for i, d in enumerate(ta.mapped_dimensions) if d.name not in names)
    return rtype, axes, kept_shape, kept_pos, _dtype_for(rtype, ta)


def reduce(a: Tensor, aggregator: str, dims: Sequence[str] = ()) -> Tensor:
    """reduce(a, aggregator, dims...); no dims reduces every dimension. An empty input gives 0."""
    if aggregator not in AGGREGATORS:
        raise TensorTypeError(f"unknown aggregator '{aggregator}': expected one of {', '.join(AGGREGATORS)}")
    rtype, axes, kept_shape, kept_pos, dtype = _reduce_plan(a.type, tuple(dims))
    x = a.cells_array.astype(dtype, copy=False)
    if len(kept_pos) == len(a.type.mapped_dimensions):  # only indexed dimensions reduced: per subspace
        if axes:
            out = _aggregate(x, aggregator, axes)
        else:  # nothing to aggregate over: each cell is its own group of one
            out = np.ones_like(x) if aggregator == "count" else x
        return _finish(rtype, a.labels, out, (len(a.labels), *kept_shape))
    # move reduced indexed axes last and flatten them: (n, *kept, r)
    keep_axes = [i for i in range(1, x.ndim) if i not in axes]
    r = int(np.prod([x.shape[i] for i in axes], dtype=np.int64))
    x = np.transpose(x, (0, *keep_axes, *axes)).reshape((x.shape[0], *kept_shape, r))
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, lab in enumerate(a.labels):
        groups.setdefault(tuple(lab[p] for p in kept_pos), []).append(i)
    keys = sorted(groups)
    if not keys:
        if rtype.mapped_dimensions:
            return _finish(rtype, (), np.zeros((0, *kept_shape)), (0, *kept_shape))
        return _finish(rtype, ((),), np.zeros((1, *kept_shape)), (1, *kept_shape))
    out = _aggregate_groups(x, aggregator, [groups[k] for k in keys])
    labels = tuple(keys) if rtype.mapped_dimensions else ((),)
    return _finish(rtype, labels, out, (len(labels), *kept_shape))


def _aggregate(x: np.ndarray, aggregator: str, axes: tuple[int, ...]) -> np.ndarray:
    if aggregator == "sum":
        return x.sum(axis=axes)
    if aggregator == "avg":
        return x.mean(axis=axes)
    if aggregator == "prod":
        return x.prod(axis=axes)
    if aggregator == "max":
        return x.max(axis=axes)
    if aggregator == "min":
        return x.min(axis=axes)
    if aggregator == "count":
        n = int(np.prod([x.shape[i] for i in axes]))
        return np.full([s for i, s in enumerate(x.shape) if i not in axes], float(n), dtype=x.dtype)
    return np.median(x, axis=axes)


def _aggregate_groups(x: np.ndarray, aggregator: str, members: list[list[int]]) -> np.ndarray:
    """Aggregate (n, *kept, r) over r and over the subspaces of each group; one row per group."""
    order = np.fromiter((i for m in members for i in m), dtype=np.intp)
    counts = np.array([len(m) for m in members], dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    r = x.shape[-1]
    per_group = counts.reshape((-1,) + (1,) * (x.ndim - 2)).astype(x.dtype) * r
    if aggregator == "median":
        return np.stack([np.median(np.moveaxis(x[m], 0, -2).reshape((*x.shape[1:-1], -1)), axis=-1)
                         for m in members])
    if aggregator == "count":
        return np.broadcast_to(per_group, (len(members), *x.shape[1:-1]))
    ufunc = {"sum": np.add, "avg": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}[aggregator]
    inner = ufunc.reduce(x, axis=-1)[order]
    out = ufunc.reduceat(inner, starts, axis=0)
    return out / per_group if aggregator == "avg" else out


# --- fused: reduce(join(a, b, f(x,y)(x*y)), sum, dims) -------------------------------------------------

@lru_cache(maxsize=4096)
def _product_sum_plan(ta: TensorType, tb: TensorType, dims: tuple[str, ...]) -> Any:
    """How to compute a sum of products as one batched matrix product, or None when mapped
    dimensions are summed over (then the general join and reduce run)."""
    jtype = TensorType.join(ta, tb)
    rtype = jtype.reduce(dims)
    summed = set(dims) if dims else set(jtype.dimension_names)
    if any(d.name in summed for d in jtype.mapped_dimensions):
        return None
    names_a = [d.name for d in ta.indexed_dimensions]
    names_b = [d.name for d in tb.indexed_dimensions]
    size = {d.name: d.size or 1 for d in jtype.indexed_dimensions}
    only_a = [n for n in names_a if n not in names_b]
    only_b = [n for n in names_b if n not in names_a]
    pre_a = tuple(1 + names_a.index(n) for n in only_a if n in summed)  # summed before the product
    pre_b = tuple(1 + names_b.index(n) for n in only_b if n in summed)
    kept_a = ["#"] + [n for n in names_a if 1 + names_a.index(n) not in pre_a]
    kept_b = ["#"] + [n for n in names_b if 1 + names_b.index(n) not in pre_b]
    batch = ["#"] + [n for n in names_a if n in names_b and n not in summed]
    contract = [n for n in names_a if n in names_b and n in summed]
    free_a = [n for n in kept_a[1:] if n not in names_b]
    free_b = [n for n in kept_b[1:] if n not in names_a]
    perm_a = tuple(kept_a.index(n) for n in batch + free_a + contract)
    perm_b = tuple(kept_b.index(n) for n in batch + contract + free_b)
    order = batch + free_a + free_b
    out_names = ["#"] + [d.name for d in rtype.indexed_dimensions]
    perm_out = tuple(order.index(n) for n in out_names)
    prod = lambda names: int(np.prod([size[n] for n in names], dtype=np.int64))  # noqa: E731
    shapes = (prod(free_a), prod(contract), prod(free_b), [size[n] for n in order[1:]])
    return jtype, rtype, pre_a, pre_b, perm_a, perm_b, perm_out, shapes, _dtype_for(rtype, ta, tb)


def product_sum(a: Tensor, b: Tensor, dims: Sequence[str] = ()) -> Tensor:
    """reduce(join(a, b, f(x,y)(x*y)), sum, dims...) without the joined intermediate: a batched matrix
    product (BLAS), like Vespa's dense dot-product and matmul optimisations."""
    plan = _product_sum_plan(a.type, b.type, tuple(dims))
    if plan is None:
        return reduce(join(a, b, np.multiply), "sum", dims)
    jtype, rtype, pre_a, pre_b, perm_a, perm_b, perm_out, (m, k, n_, sizes), dtype = plan
    x = a.cells_array.astype(dtype, copy=False)
    y = b.cells_array.astype(dtype, copy=False)
    if pre_a:
        x = x.sum(axis=pre_a)
    if pre_b:
        y = y.sum(axis=pre_b)
    if jtype.mapped_dimensions:
        ia, ib, labels, in_order = _pairs(a, b, jtype)
        x, y = _rows(x, ia), _rows(y, ib)
    else:
        labels, in_order = ((),), True
    rows = len(labels)
    xm = np.transpose(x, perm_a).reshape((rows, -1, m, k)) if rows else np.zeros((0, 1, m, k), dtype)
    ym = np.transpose(y, perm_b).reshape((rows, -1, k, n_)) if rows else np.zeros((0, 1, k, n_), dtype)
    z = np.matmul(xm, ym)
    out = np.transpose(z.reshape((rows, *sizes)), perm_out)
    if not in_order:
        labels, out = _sorted(labels, out)
    shape = (len(labels), *_result_shape(rtype)) if rtype.mapped_dimensions else (1, *_result_shape(rtype))
    return _finish(rtype, labels if rtype.mapped_dimensions else ((),), out.reshape(shape), shape)


# --- rename, concat, peek -----------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _rename_plan(ta: TensorType, from_dims: tuple[str, ...], to_dims: tuple[str, ...]
                 ) -> tuple[TensorType, tuple[int, ...] | None, tuple[int, ...] | None]:
    """Result type, the cell-axis transposition and the label permutation (None where unchanged)."""
    rtype = ta.rename(from_dims, to_dims)
    new_name = dict(zip(from_dims, to_dims))
    old_indexed = [new_name.get(d.name, d.name) for d in ta.indexed_dimensions]
    perm = [old_indexed.index(d.name) for d in rtype.indexed_dimensions]
    old_mapped = [new_name.get(d.name, d.name) for d in ta.mapped_dimensions]
    mperm = [old_mapped.index(d.name) for d in rtype.mapped_dimensions]
    axes = (0, *(1 + p for p in perm)) if perm != sorted(perm) else None
    return rtype, axes, (tuple(mperm) if mperm != sorted(mperm) else None)


def rename(a: Tensor, from_dims: Sequence[str], to_dims: Sequence[str]) -> Tensor:
    rtype, axes, mperm = _rename_plan(a.type, tuple(from_dims), tuple(to_dims))
    cells = a.cells_array if axes is None else np.transpose(a.cells_array, axes)
    labels = a.labels
    if mperm is not None:
        labels, cells = _sorted(tuple(tuple(lab[p] for p in mperm) for lab in labels), cells)
    return Tensor(rtype, labels, cells)


def concat(a: Tensor, b: Tensor, dim: str) -> Tensor:
    """Concatenate along indexed `dim` (an operand without it counts as size 1); other dims join."""
    rtype = TensorType.concat(a.type, b.type, dim)
    dtype = _compute_dtype(rtype, a, b)
    axis = 1 + [d.name for d in rtype.indexed_dimensions].index(dim)
    parts = []
    for t in (a, b):
        parts.append(_expanded(t, rtype, dtype))
    shape = list(_result_shape(rtype))
    if not rtype.mapped_dimensions:
        ia, ib, labels, in_order = slice(None), slice(None), ((),), True
    else:
        ia, ib, labels, in_order = _pairs(a, b, rtype)
    xa, xb = _rows(parts[0], ia), _rows(parts[1], ib)
    n = len(labels)
    shape_a = [n, *shape]
    shape_a[axis] = xa.shape[axis]
    shape_b = [n, *shape]
    shape_b[axis] = xb.shape[axis]
    out = np.concatenate([np.broadcast_to(xa, shape_a), np.broadcast_to(xb, shape_b)], axis=axis)
    if not in_order:
        labels, out = _sorted(labels, out)
    return _finish(rtype, labels, out, out.shape)


def peek(a: Tensor, address: Mapping[str, str | int]) -> Tensor:
    """The slice of `a` at the given labels (mapped) or indexes (indexed); absent cells are left out
    (a result without mapped dimensions is then all zeros)."""
    rtype = a.type.peek(tuple(address))
    mapped = a.type.mapped_dimensions
    fixed = [(i, str(address[d.name])) for i, d in enumerate(mapped) if d.name in address]
    kept_pos = [i for i, d in enumerate(mapped) if d.name not in address]
    index: list[Any] = [slice(None)]
    in_range = True
    for d in a.type.indexed_dimensions:
        if d.name in address:
            i = _index_label(address[d.name], d.name)
            in_range = in_range and 0 <= i < (d.size or 0)
            index.append(i if in_range else 0)
        else:
            index.append(slice(None))
    if fixed:
        rows = [r for r, lab in enumerate(a.labels) if all(lab[p] == v for p, v in fixed)]
    else:
        rows = list(range(len(a.labels)))
    if not in_range:
        rows = []
    shape = tuple(d.size or 1 for d in rtype.indexed_dimensions)
    if not rtype.mapped_dimensions:
        if not rows:
            return Tensor.empty(rtype)
        block = a.cells_array[rows[:1]][tuple(index)]
        return _finish(rtype, ((),), block, (1, *shape))
    block = a.cells_array[rows][tuple(index)]
    labels = tuple(tuple(a.labels[r][p] for p in kept_pos) for r in rows)
    return _finish(rtype, labels, block, (len(rows), *shape))


def _index_label(label: str | int, name: str) -> int:
    try:
        return int(label)
    except (TypeError, ValueError):
        raise TensorValueError(AK322, f"label '{label}' of indexed dimension '{name}' is not an integer") from None


# --- cell_cast, generate, subspace functions ----------------------------------------------------------

def cell_cast(a: Tensor, cell_type: CellType) -> Tensor:
    rtype = a.type.cell_cast(cell_type)
    if rtype.cell_type is a.type.cell_type:
        return a
    src = a.cells_array
    if cell_type in (CellType.BFLOAT16, CellType.INT8) and src.dtype == np.float64:
        src = src.astype(np.float32) if cell_type is CellType.BFLOAT16 else src
    return Tensor(rtype, a.labels, np.ascontiguousarray(to_cell_dtype(src, cell_type)))


def generate(type_: TensorType, fn: Callable[..., Any]) -> Tensor:
    """A dense tensor whose cell at index (i, j, ...) is fn(i, j, ...); fn gets one float64 index
    array per dimension, in canonical order, and may return a constant."""
    rtype = TensorType.generate(type_)
    shape = _result_shape(rtype)
    grids = np.indices(shape, dtype=np.float64) if shape else []
    out = np.asarray(fn(*grids), dtype=np.float64)
    return _finish(rtype, ((),), np.broadcast_to(out, shape)[np.newaxis], (1, *shape))


def map_subspaces(a: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """fn applied to each dense subspace (a dense Tensor); the results must share one dense type."""
    dense_type = TensorType(a.type.indexed_dimensions, a.type.cell_type)
    results = [fn(Tensor(dense_type, ((),), block[np.newaxis])) for block in a.cells_array]
    if results:
        out_dense = results[0].type
    else:
        out_dense = fn(Tensor.empty(dense_type)).type
    for r in results:
        if r.type != out_dense or r.type.mapped_dimensions:
            raise TensorTypeError(f"map_subspaces: the lambda gave {r.type} and {out_dense}; "
                                  "every subspace must give the same dense type")
    rtype = TensorType(a.type.mapped_dimensions + out_dense.dimensions, out_dense.cell_type)
    shape = _result_shape(rtype)
    cells = np.stack([r.cells_array[0] for r in results]) if results else \
        np.zeros((0, *shape), dtype=rtype.cell_type.numpy_dtype)
    if not a.type.mapped_dimensions:
        return _finish(rtype, ((),), cells, (1, *shape))
    return _finish(rtype, a.labels, cells, (len(a.labels), *shape))


def filter_subspaces(a: Tensor, predicate: Callable[[Tensor], Any]) -> Tensor:
    """Keep the subspaces for which predicate(dense subspace) is true (non-zero)."""
    if not a.type.mapped_dimensions:
        raise TensorTypeError(f"filter_subspaces needs mapped dimensions, but {a.type} has none")
    dense_type = TensorType(a.type.indexed_dimensions, a.type.cell_type)
    keep = [i for i, block in enumerate(a.cells_array)
            if _truth(predicate(Tensor(dense_type, ((),), block[np.newaxis])))]
    return Tensor(a.type, tuple(a.labels[i] for i in keep), a.cells_array[keep])


def _truth(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.as_float() != 0.0
    return bool(value)
