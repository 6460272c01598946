"""Tensor: Vespa's tensor value (dense, mapped and mixed) as sorted subspace labels plus one numpy block.

Kernels (ops.py) and formats (literal.py, jsonformat.py, binary.py) build and read these; nothing else
holds tensor cells. Cell storage follows `CellType.numpy_dtype`: double as float64, float as float32,
bfloat16 as float32 holding only bfloat16-representable values (truncated, as Vespa does), int8 as int8.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from appkit.diagnostics import Diagnostic, rule
from appkit.source import Span
from appkit.tensor.type import CellType, Dimension, TensorType

AK320 = rule("AK320", "tensor value cannot be parsed",
             example="tensor(x[2]):[1,2", fix="close every bracket and brace: tensor(x[2]):[1,2]")
AK321 = rule("AK321", "tensor cell value is not a number",
             example='{"values": [1, "two"]}', fix='give every cell a number: {"values": [1, 2]}')
AK322 = rule("AK322", "tensor cell address does not fit the type",
             example="tensor(x[2]):{{x:a}:1}", fix="use integer labels for indexed dimensions: {{x:0}:1}")
AK323 = rule("AK323", "tensor cell index out of range",
             example="tensor(x[2]):{{x:2}:1}", fix="use an index below the dimension size: {{x:1}:1}")
AK324 = rule("AK324", "dense tensor values have the wrong shape",
             example="tensor(x[3]):[1,2]", fix="give exactly as many values as the type has cells: [1,2,3]")
AK325 = rule("AK325", "binary tensor cannot be decoded",
             example="0x0201", fix="pass the complete bytes of Vespa's typed binary tensor format")
AK326 = rule("AK326", "tensor JSON is not in a known form",
             example='{"cell": []}', fix='use "cells", "blocks" or "values" (Vespa document JSON)')
AK327 = rule("AK327", "tensor value does not have the expected type",
             example="tensor(y[2]):[1,2] given for a tensor(x[2]) field", fix="write the value with the field's type")
AK328 = rule("AK328", "hex-encoded tensor cells are malformed",
             example='{"values": "3F80"} for tensor<float>(x[2])',
             fix="give two hex digits per byte and exactly one cell-width per cell")


class TensorValueError(ValueError):
    """A tensor value that cannot be read or built; carries a code, a hint and where in the text it is."""

    def __init__(self, code: str, message: str, hint: str | None = None,
                 text: str | None = None, offset: int | None = None):
        self.code, self.message, self.hint, self.text, self.offset = code, message, hint, text, offset
        super().__init__(f"{message} (at {self.line}:{self.column})" if offset is not None else message)

    @property
    def line(self) -> int:
        if self.text is None or self.offset is None:
            return 1
        return self.text.count("\n", 0, self.offset) + 1

    @property
    def column(self) -> int:
        if self.text is None or self.offset is None:
            return 1
        return self.offset - (self.text.rfind("\n", 0, self.offset) + 1) + 1

    def to_diagnostic(self, path: str = "<tensor>", line_offset: int = 0, column_offset: int = 0) -> Diagnostic:
        """This error as a Diagnostic, its place shifted to where the text sits in a file."""
        span = Span(path, self.line, self.column).shifted(line_offset, column_offset)
        return Diagnostic(self.code, self.message, span, self.hint)


def to_cell_dtype(values: Any, cell_type: CellType) -> np.ndarray:
    """Values converted to the storage of `cell_type`, rounded as Vespa stores them."""
    arr = np.asarray(values)
    if cell_type is CellType.DOUBLE:
        return arr.astype(np.float64, copy=False)
    if cell_type is CellType.FLOAT:
        return arr.astype(np.float32, copy=False)
    if cell_type is CellType.BFLOAT16:
        # bfloat16 is the top half of a float32: truncate the low 16 bits (Vespa's conversion)
        f = np.ascontiguousarray(arr, dtype=np.float32)
        return (f.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    # int8: truncate toward zero and wrap, like a C cast through a wider integer
    f = np.asarray(arr, dtype=np.float64)
    f = np.where(np.isfinite(f), np.trunc(f), 0.0)
    return f.astype(np.int64).astype(np.int8)


def _bind(type_: TensorType, dense_shape: Sequence[int]) -> TensorType:
    """The type with unbound indexed dimensions given the sizes of an actual value."""
    if all(d.size is not None for d in type_.indexed_dimensions):
        return type_
    sizes = iter(dense_shape)
    dims = [d if d.mapped else Dimension(d.name, next(sizes), False) for d in type_.dimensions]
    return TensorType(dims, type_.cell_type)


class Tensor:
    """An immutable Vespa tensor value.

    `labels` is a sorted tuple with one entry per subspace: the labels (strings) of the mapped
    dimensions in canonical order. `cells` has shape (len(labels), *indexed sizes in canonical order).
    A dense tensor has the single subspace `()`; a scalar has `cells.shape == (1,)`. The type is always
    bound (unbound indexed dimensions take the value's sizes), as Vespa's values are.
    """

    __slots__ = ("type", "labels", "cells_array", "_index")

    type: TensorType
    labels: tuple[tuple[str, ...], ...]
    cells_array: np.ndarray

    def __init__(self, type_: TensorType, labels: tuple[tuple[str, ...], ...], cells: np.ndarray):
        # Trusted constructor: callers pass sorted labels, a bound type and cells of the right dtype.
        object.__setattr__(self, "type", type_)
        object.__setattr__(self, "labels", labels)
        if cells.flags.writeable:
            cells.flags.writeable = False
        object.__setattr__(self, "cells_array", cells)
        object.__setattr__(self, "_index", None)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Tensor is immutable")

    # --- construction -------------------------------------------------------------------------------

    @staticmethod
    def scalar(value: float) -> "Tensor":
        return Tensor(TensorType.scalar(), ((),), np.array([value], dtype=np.float64))

    @staticmethod
    def from_numpy(type_: TensorType, array: Any, copy: bool = True) -> "Tensor":
        """A dense tensor; `array` has the indexed sizes in canonical (sorted-name) order.

        With copy=False an array already in the cell type's dtype is shared, not copied (batch inputs);
        the caller must not change it afterwards."""
        if not type_.is_dense:
            raise TensorValueError(AK327, f"from_numpy needs a dense type, but {type_} has mapped dimensions",
                                   "use Tensor.from_subspaces or Tensor.from_cells for mapped dimensions")
        arr = np.asarray(array)
        if arr.dtype.kind not in "biuf":
            raise TensorValueError(AK321, f"tensor cells must be numbers, not {arr.dtype}")
        return Tensor.from_subspaces(type_, [()], arr[np.newaxis, ...], copy)

    @staticmethod
    def from_subspaces(type_: TensorType, labels: Sequence[Sequence[Any]], cells: Any,
                       copy: bool = True) -> "Tensor":
        """A tensor from one label tuple per subspace and cells shaped (n_subspaces, *indexed sizes)."""
        n_mapped = len(type_.mapped_dimensions)
        keys = [tuple(str(x) for x in lab) for lab in labels]
        for key in keys:
            if len(key) != n_mapped:
                raise TensorValueError(AK322, f"subspace address {key} has {len(key)} labels, but {type_} "
                                       f"has {n_mapped} mapped dimensions")
        arr = np.asarray(cells)
        if arr.dtype.kind not in "biuf":
            raise TensorValueError(AK321, f"tensor cells must be numbers, not {arr.dtype}")
        shape = type_.dense_shape
        if arr.ndim != len(shape) + 1 or arr.shape[0] != len(keys):
            raise TensorValueError(AK324, f"cells of shape {arr.shape} do not fit {len(keys)} subspaces of {type_}")
        for dim, want, got in zip(type_.indexed_dimensions, shape, arr.shape[1:]):
            if want is not None and want != got:
                raise TensorValueError(AK324, f"dimension '{dim.name}' of {type_} has size {want}, "
                                       f"but the values have {got}")
            if got < 1:
                raise TensorValueError(AK324, f"dimension '{dim.name}' needs at least one value")
        type_ = _bind(type_, arr.shape[1:])
        cells_ = to_cell_dtype(arr, type_.cell_type)
        if len(set(keys)) != len(keys):
            raise TensorValueError(AK322, "two subspaces have the same address")
        if n_mapped == 0 and len(keys) != 1:
            raise TensorValueError(AK324, f"a tensor of type {type_} has exactly one dense subspace")
        order = sorted(range(len(keys)), key=keys.__getitem__)
        if order != list(range(len(keys))):
            cells_ = cells_[order]
            keys = [keys[i] for i in order]
        if copy and (cells_ is arr or cells_.base is not None):
            cells_ = cells_.copy()  # never share memory with the caller's array
        return Tensor(type_, tuple(keys), cells_)

    @staticmethod
    def from_cells(type_: TensorType, cells: Mapping[Any, float] | Sequence[tuple[Any, float]]) -> "Tensor":
        """A tensor from `{address: value}`; an address is a dict {dim: label} or a tuple of
        (dim, label) pairs. Missing dense cells are 0; unbound indexed sizes are the largest index + 1."""
        items = cells.items() if isinstance(cells, Mapping) else cells
        return build_from_addresses(type_, ((_as_dict(a), v) for a, v in items))

    @staticmethod
    def empty(type_: TensorType) -> "Tensor":
        """The empty value of a type: no subspaces if it has mapped dimensions, else all zeros."""
        if type_.mapped_dimensions:
            shape = tuple(1 if s is None else s for s in type_.dense_shape)
            return Tensor(_bind(type_, shape), (), np.zeros((0, *shape), dtype=type_.cell_type.numpy_dtype))
        shape = tuple(1 if s is None else s for s in type_.dense_shape)
        return Tensor(_bind(type_, shape), ((),), np.zeros((1, *shape), dtype=type_.cell_type.numpy_dtype))

    # --- accessors ----------------------------------------------------------------------------------

    @property
    def cell_type(self) -> CellType:
        return self.type.cell_type

    @property
    def is_scalar(self) -> bool:
        return self.type.is_scalar

    @property
    def subspace_count(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> int:
        """Number of cells."""
        return int(self.cells_array.size)

    def as_float(self) -> float:
        if not self.type.is_scalar:
            raise TensorValueError(AK327, f"a {self.type} is not a number")
        return float(self.cells_array[0])

    def __float__(self) -> float:
        return self.as_float()

    def to_numpy(self) -> np.ndarray:
        """The dense block (indexed sizes in canonical order); a 0-d array for a scalar."""
        if self.type.mapped_dimensions:
            raise TensorValueError(AK327, f"{self.type} has mapped dimensions; it has no single dense array",
                                   "iterate .subspaces() or .cells() instead")
        return self.cells_array[0]

    def subspace_index(self) -> dict[tuple[str, ...], int]:
        """Mapped labels -> row in `cells_array` (built once, on first use)."""
        idx = self._index
        if idx is None:
            idx = {lab: i for i, lab in enumerate(self.labels)}
            object.__setattr__(self, "_index", idx)
        return idx

    def subspaces(self) -> Iterator[tuple[dict[str, str], np.ndarray]]:
        names = [d.name for d in self.type.mapped_dimensions]
        for lab, block in zip(self.labels, self.cells_array):
            yield dict(zip(names, lab)), block

    def cells(self) -> Iterator[tuple[dict[str, str | int], float]]:
        """Every cell as (address, value), subspaces in label order, dense cells row-major."""
        mapped = [d.name for d in self.type.mapped_dimensions]
        indexed = [d.name for d in self.type.indexed_dimensions]
        order = self.type.dimension_names
        shape = self.cells_array.shape[1:]
        for lab, block in zip(self.labels, self.cells_array):
            flat = block.reshape(-1).tolist()
            for k, idx in enumerate(np.ndindex(*shape)):
                addr: dict[str, str | int] = dict(zip(mapped, lab))
                addr.update(zip(indexed, idx))
                yield {n: addr[n] for n in order}, float(flat[k])

    def get(self, address: Mapping[str, str | int]) -> float | None:
        """The value at a full address, or None where a sparse cell is absent."""
        mapped = tuple(str(address[d.name]) for d in self.type.mapped_dimensions)
        row = self.subspace_index().get(mapped)
        if row is None:
            return None
        idx = tuple(int(address[d.name]) for d in self.type.indexed_dimensions)
        for i, d in zip(idx, self.type.indexed_dimensions):
            if not 0 <= i < (d.size or 0):
                return None
        return float(self.cells_array[(row, *idx)])

    # --- equality -----------------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tensor):
            return NotImplemented
        a, b = self.cells_array, other.cells_array
        # exact cell equality; NaN cells equal NaN cells, so a value always equals itself
        return self.type == other.type and self.labels == other.labels and \
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f" and b.dtype.kind == "f")

    def __hash__(self) -> int:
        return hash((self.type, self.labels, self.cells_array.shape))

    def equals(self, other: "Tensor", rel_tol: float = 1e-9, abs_tol: float = 0.0,
               check_cell_type: bool = True, nan_equal: bool = True) -> bool:
        """Same dimensions, same set of cells, values within tolerance (NaN equals NaN by default)."""
        if check_cell_type and self.type != other.type:
            return False
        if self.type.dimensions != other.type.dimensions or self.labels != other.labels:
            return False
        a = self.cells_array.astype(np.float64)
        b = other.cells_array.astype(np.float64)
        return bool(np.allclose(a, b, rtol=rel_tol, atol=abs_tol, equal_nan=nan_equal)) if a.size else True

    def __repr__(self) -> str:
        from appkit.tensor.literal import format_tensor
        if self.size > 64:  # keep assertion messages and logs readable
            head = ", ".join(f"{v:g}" for v in self.cells_array.reshape(-1)[:8].tolist())
            return f"Tensor({self.type}: {len(self.labels)} subspaces, {self.size} cells [{head}, ...])"
        return f"Tensor({format_tensor(self)})"

    def __str__(self) -> str:
        from appkit.tensor.literal import format_tensor
        return format_tensor(self)


def _as_dict(address: Any) -> Mapping[str, Any]:
    if isinstance(address, Mapping):
        return address
    return dict(address)


def build_from_addresses(type_: TensorType, cells: Any, text: str | None = None) -> Tensor:
    """A tensor from (address dict, value) pairs, checked against the type (shared by the formats).

    `cells` may also yield (address, value, offset) triples; the offset locates errors in `text`.
    """
    mapped = type_.mapped_dimensions
    indexed = type_.indexed_dimensions
    names = set(type_.dimension_names)
    entries: list[tuple[tuple[str, ...], tuple[int, ...], float]] = []
    for item in cells:
        address, value = item[0], item[1]
        offset = item[2] if len(item) > 2 else None
        keys = set(address)
        if keys != names:
            missing, extra = sorted(names - keys), sorted(keys - names)
            what = f"has no dimension {', '.join(extra)}" if extra else f"needs {', '.join(missing)} too"
            raise TensorValueError(AK322, f"cell address {dict(address)} does not fit {type_}: it {what}",
                                   f"give a label for each of {', '.join(type_.dimension_names) or 'no dimension'}",
                                   text, offset)
        lab = tuple(label_string(address[d.name]) for d in mapped)
        idx = tuple(index_of(address[d.name], d, text, offset) for d in indexed)
        entries.append((lab, idx, cell_number(value, text, offset)))
    sizes = []
    for i, d in enumerate(indexed):
        if d.size is not None:
            sizes.append(d.size)
        else:
            sizes.append(max((e[1][i] for e in entries), default=0) + 1)
    keys = sorted({e[0] for e in entries}) if mapped else [()]
    row = {k: i for i, k in enumerate(keys)}
    block = np.zeros((len(keys), *sizes), dtype=np.float64)
    for lab, idx, v in entries:
        block[(row[lab], *idx)] = v
    bound = _bind(type_, sizes)
    return Tensor(bound, tuple(keys), to_cell_dtype(block, bound.cell_type))


def label_string(label: Any) -> str:
    if isinstance(label, bool):
        return str(label).lower()
    if isinstance(label, float) and label.is_integer():
        return str(int(label))
    return str(label)


def index_of(label: Any, dim: Dimension, text: str | None = None, offset: int | None = None) -> int:
    """An indexed dimension's label as an int, checked against the size."""
    if isinstance(label, bool) or not isinstance(label, (int, str, float, np.integer)):
        raise TensorValueError(AK322, f"label {label!r} of indexed dimension '{dim.name}' is not an integer",
                               None, text, offset)
    try:
        i = int(label) if not isinstance(label, float) or label.is_integer() else None
    except ValueError:
        i = None
    if i is None or (isinstance(label, str) and not label.strip().lstrip("-").isdigit()):
        raise TensorValueError(AK322, f"label '{label}' of indexed dimension '{dim.name}' is not an integer",
                               f"indexed dimensions take 0-based integer labels, like {{{dim.name}:0}}",
                               text, offset)
    if i < 0 or (dim.size is not None and i >= dim.size):
        bound = f"0..{dim.size - 1}" if dim.size else "0 or more"
        raise TensorValueError(AK323, f"index {i} is out of range for dimension '{dim}' (valid: {bound})",
                               None, text, offset)
    return i


def cell_number(value: Any, text: str | None = None, offset: int | None = None) -> float:
    """A cell value as a float; JSON-style strings for the non-finite values are accepted."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    if isinstance(value, str):
        special = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf,
                   "-inf": -math.inf, "+infinity": math.inf}
        if value.strip().lower() in special:
            return special[value.strip().lower()]
        try:
            return float(value)
        except ValueError:
            pass
    raise TensorValueError(AK321, f"cell value {value!r} is not a number", "give the cell a number, like 1.5",
                           text, offset)
