"""Hypothesis strategies for tensor types and values (small: 0-3 dimensions, sizes 1-3, few labels)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from appkit.tensor.type import CellType, Dimension, TensorType
from appkit.tensor.value import Tensor

LABELS = ["a", "b", "foo", "0", "12", "x-y", "with space", "it's", "q\"uote", "{x:1}", "é", ""]


@st.composite
def tensor_types(draw, max_dims: int = 3) -> TensorType:
    names = draw(st.lists(st.sampled_from(["x", "y", "z", "d0", "d10", "cat"]), max_size=max_dims, unique=True))
    dims = []
    for name in names:
        if draw(st.booleans()):
            dims.append(Dimension(name, None, True))
        else:
            dims.append(Dimension(name, draw(st.integers(1, 3)), False))
    return TensorType(dims, draw(st.sampled_from(list(CellType))))


def _cell_values(draw, n: int, cell_type: CellType) -> np.ndarray:
    if cell_type is CellType.INT8:
        return np.asarray(draw(st.lists(st.integers(-128, 127), min_size=n, max_size=n)), dtype=np.float64)
    width = 64 if cell_type is CellType.DOUBLE else 32
    values = draw(st.lists(st.floats(allow_nan=False, width=width), min_size=n, max_size=n))
    return np.asarray(values, dtype=np.float64)


@st.composite
def tensors(draw, types=None) -> Tensor:
    type_ = draw(types if types is not None else tensor_types())
    shape = [d.size for d in type_.indexed_dimensions]
    mapped = type_.mapped_dimensions
    if mapped:
        labels = draw(st.lists(st.tuples(*[st.sampled_from(LABELS) for _ in mapped]), max_size=4, unique=True))
    else:
        labels = [()]
    n = len(labels) * int(np.prod(shape, dtype=np.int64))
    cells = _cell_values(draw, n, type_.cell_type).reshape((len(labels), *shape))
    return Tensor.from_subspaces(type_, labels, cells)
