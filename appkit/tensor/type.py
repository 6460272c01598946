"""TensorType: Vespa's tensor type, immutable and hashable, with the type rules of the tensor primitives.

Dimensions are kept sorted by name (Vespa's canonical order, plain string order, so `d10 < d2`).
Cell-type rules follow Vespa's C++ `CellMeta`: unify (double wins, otherwise float when types differ),
decay (bfloat16/int8 become float where arithmetic happens), and scalars are always double.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Iterable, Sequence


class TensorTypeError(ValueError):
    """A type that cannot be parsed, or an operation whose operand types do not fit."""


@total_ordering
class CellType(enum.Enum):
    # value: (name, rank in precision order); larger rank holds more precision
    INT8 = "int8"
    BFLOAT16 = "bfloat16"
    FLOAT = "float"
    DOUBLE = "double"

    @property
    def rank(self) -> int:
        return _CELL_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CellType):
            return NotImplemented
        return self.rank < other.rank

    @property
    def numpy_dtype(self) -> str:
        """The numpy dtype appkit computes with for this cell type (bfloat16 is stored as float32)."""
        return _NUMPY_DTYPE[self]

    @staticmethod
    def parse(text: str) -> "CellType":
        try:
            return CellType(text.strip())
        except ValueError:
            raise TensorTypeError(
                f"unknown cell type '{text.strip()}': expected one of double, float, bfloat16, int8"
            ) from None


_CELL_RANK = {CellType.INT8: 0, CellType.BFLOAT16: 1, CellType.FLOAT: 2, CellType.DOUBLE: 3}
_NUMPY_DTYPE = {CellType.INT8: "int8", CellType.BFLOAT16: "float32", CellType.FLOAT: "float32",
                CellType.DOUBLE: "float64"}


def unify_cell_types(a: CellType, b: CellType) -> CellType:
    if a is b:
        return a
    if CellType.DOUBLE in (a, b):
        return CellType.DOUBLE
    return CellType.FLOAT


def decay(cell_type: CellType) -> CellType:
    """The cell type arithmetic produces: bfloat16 and int8 compute as float."""
    return cell_type if cell_type in (CellType.DOUBLE, CellType.FLOAT) else CellType.FLOAT


@dataclass(frozen=True, order=True)
class Dimension:
    """One dimension: mapped (`x{}`), indexed bound (`x[3]`) or indexed unbound (`x[]`)."""

    name: str
    size: int | None = None  # indexed size; None for unbound indexed and for mapped
    mapped: bool = False

    @staticmethod
    def indexed(name: str, size: int | None = None) -> "Dimension":
        return Dimension(name, size, False)

    @staticmethod
    def mapped_dim(name: str) -> "Dimension":
        return Dimension(name, None, True)

    @property
    def is_indexed(self) -> bool:
        return not self.mapped

    @property
    def is_bound(self) -> bool:
        return not self.mapped and self.size is not None

    def renamed(self, name: str) -> "Dimension":
        return Dimension(name, self.size, self.mapped)

    def __str__(self) -> str:
        if self.mapped:
            return f"{self.name}{{}}"
        return f"{self.name}[{'' if self.size is None else self.size}]"


_TYPE_RE = re.compile(r"^\s*tensor\s*(?:<\s*([A-Za-z0-9_]+)\s*>)?\s*\((.*)\)\s*$", re.S)
_DIM_RE = re.compile(r"^\s*([A-Za-z_@$][A-Za-z0-9_@$]*)\s*(?:\[\s*(\d*)\s*\]|\{\s*\})\s*$")
_NAME_RE = re.compile(r"^[A-Za-z_@$][A-Za-z0-9_@$]*$")


class TensorType:
    """A Vespa tensor type; `TensorType.parse(str(t)) == t`."""

    __slots__ = ("cell_type", "dimensions", "_index", "_hash")

    def __init__(self, dimensions: Iterable[Dimension] = (), cell_type: CellType = CellType.DOUBLE):
        dims = tuple(sorted(dimensions, key=lambda d: d.name))
        index: dict[str, int] = {}
        for i, d in enumerate(dims):
            if d.name in index:
                raise TensorTypeError(f"dimension '{d.name}' appears twice")
            if not _NAME_RE.match(d.name):
                raise TensorTypeError(f"'{d.name}' is not a valid dimension name")
            if d.size is not None and d.size < 1:
                raise TensorTypeError(f"dimension '{d.name}' has size {d.size}; an indexed size is at least 1")
            index[d.name] = i
        if not dims:
            cell_type = CellType.DOUBLE  # a scalar is always a double
        object.__setattr__(self, "cell_type", cell_type)
        object.__setattr__(self, "dimensions", dims)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_hash", hash((cell_type, dims)))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("TensorType is immutable")

    def __reduce__(self) -> tuple:  # pickle through the constructor (the slots are immutable)
        return (TensorType, (self.dimensions, self.cell_type))

    # --- construction -------------------------------------------------------------------------------

    @staticmethod
    def scalar() -> "TensorType":
        return _SCALAR

    @staticmethod
    def parse(text: str) -> "TensorType":
        """Parse `tensor<cell>(x[3],y[],z{})`; also `double`/`float` as the scalar type."""
        stripped = text.strip()
        if stripped in ("double", "float", "tensor", "tensor()", "number"):
            return _SCALAR
        m = _TYPE_RE.match(stripped)
        if not m:
            raise TensorTypeError(f"'{text}' is not a tensor type: expected e.g. tensor<float>(x[3],y{{}})")
        cell = CellType.parse(m.group(1)) if m.group(1) else CellType.DOUBLE
        body = m.group(2).strip()
        dims: list[Dimension] = []
        if body:
            for part in body.split(","):
                dm = _DIM_RE.match(part)
                if not dm:
                    raise TensorTypeError(
                        f"'{part.strip()}' in '{text}' is not a dimension: expected name[N], name[] or name{{}}"
                    )
                name, size = dm.group(1), dm.group(2)
                if "{" in part:
                    dims.append(Dimension(name, None, True))
                else:
                    dims.append(Dimension(name, int(size) if size else None, False))
        return TensorType(dims, cell)

    # --- queries ------------------------------------------------------------------------------------

    @property
    def rank(self) -> int:
        return len(self.dimensions)

    @property
    def is_scalar(self) -> bool:
        return not self.dimensions

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    @property
    def mapped_dimensions(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dimensions if d.mapped)

    @property
    def indexed_dimensions(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dimensions if not d.mapped)

    @property
    def is_dense(self) -> bool:
        return all(not d.mapped for d in self.dimensions)

    @property
    def is_mixed(self) -> bool:
        return bool(self.mapped_dimensions) and bool(self.indexed_dimensions)

    @property
    def is_sparse(self) -> bool:
        return bool(self.dimensions) and all(d.mapped for d in self.dimensions)

    @property
    def dense_shape(self) -> tuple[int | None, ...]:
        """Sizes of the indexed dimensions in canonical order (None where unbound)."""
        return tuple(d.size for d in self.dimensions if not d.mapped)

    def has(self, name: str) -> bool:
        return name in self._index

    def dimension(self, name: str) -> Dimension | None:
        i = self._index.get(name)
        return None if i is None else self.dimensions[i]

    # --- equality, printing -------------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TensorType) and self.cell_type is other.cell_type and \
            self.dimensions == other.dimensions

    def __hash__(self) -> int:
        return self._hash

    def __str__(self) -> str:
        cell = "" if self.cell_type is CellType.DOUBLE else f"<{self.cell_type.value}>"
        return f"tensor{cell}({','.join(str(d) for d in self.dimensions)})"

    def __repr__(self) -> str:
        return f"TensorType.parse({str(self)!r})"

    # --- assignability ------------------------------------------------------------------------------

    def is_assignable_to(self, general: "TensorType", check_cell_type: bool = True) -> bool:
        """Vespa's `isAssignableTo`: a value of this type may be used where `general` is required.

        Same dimension names and kinds; a bound size fits an equal bound size or an unbound one; an
        unbound size does not fit a bound one; the cell type may not be more precise than required.
        """
        if check_cell_type and self.cell_type > general.cell_type and not self.is_scalar:
            return False
        if len(self.dimensions) != len(general.dimensions):
            return False
        for mine, theirs in zip(self.dimensions, general.dimensions):
            if mine.name != theirs.name or mine.mapped != theirs.mapped:
                return False
            if theirs.size is not None and mine.size != theirs.size:
                return False
        return True

    def is_convertible_to(self, general: "TensorType") -> bool:
        """Like assignability, but a smaller bound size fits a larger one (Vespa's `isConvertibleTo`)."""
        if len(self.dimensions) != len(general.dimensions):
            return False
        for mine, theirs in zip(self.dimensions, general.dimensions):
            if mine.name != theirs.name or mine.mapped != theirs.mapped:
                return False
            if theirs.size is not None and (mine.size is None or mine.size > theirs.size):
                return False
        return True

    # --- type rules of the tensor primitives --------------------------------------------------------

    def map(self) -> "TensorType":
        return self.with_cell_type(decay(self.cell_type))

    def with_cell_type(self, cell_type: CellType) -> "TensorType":
        return TensorType(self.dimensions, cell_type)

    def cell_cast(self, cell_type: CellType) -> "TensorType":
        if self.is_scalar and cell_type is not CellType.DOUBLE:
            raise TensorTypeError(f"cell_cast of a scalar to {cell_type.value}: a scalar is always a double")
        return TensorType(self.dimensions, cell_type)

    @staticmethod
    def join(a: "TensorType", b: "TensorType") -> "TensorType":
        """The type of join(a, b, f): the union of dimensions; shared ones must agree."""
        known = _JOINS.get((a, b))  # types are immutable: a package joins the same pairs over and over
        if known is None:
            known = TensorType._join(a, b)
            if len(_JOINS) < 10_000:
                _JOINS[(a, b)] = known
        return known

    @staticmethod
    def _join(a: "TensorType", b: "TensorType") -> "TensorType":
        dims = {d.name: d for d in a.dimensions}
        for d in b.dimensions:
            mine = dims.get(d.name)
            if mine is None:
                dims[d.name] = d
                continue
            if mine.mapped != d.mapped:
                raise TensorTypeError(
                    f"dimension '{d.name}' is {_kind(mine)} in {a} but {_kind(d)} in {b}"
                )
            if mine.size is not None and d.size is not None and mine.size != d.size:
                raise TensorTypeError(
                    f"dimension '{d.name}' has size {mine.size} in {a} but {d.size} in {b}"
                )
            if mine.size is None and d.size is not None:
                dims[d.name] = d
        return TensorType(dims.values(), _join_cells(a, b))

    @staticmethod
    def merge(a: "TensorType", b: "TensorType") -> "TensorType":
        if a.dimension_names != b.dimension_names:
            raise TensorTypeError(f"merge needs the same dimensions, but got {a} and {b}")
        return TensorType.join(a, b)

    def reduce(self, dims: Sequence[str] = ()) -> "TensorType":
        """The type of reduce(t, agg, dims...); no dims reduces all, giving a scalar."""
        for name in dims:
            if not self.has(name):
                raise TensorTypeError(f"cannot reduce {self} over '{name}': it has no such dimension")
        if not dims:
            return _SCALAR
        kept = [d for d in self.dimensions if d.name not in dims]
        if not kept:
            return _SCALAR
        return TensorType(kept, decay(self.cell_type))

    def rename(self, from_dims: Sequence[str], to_dims: Sequence[str]) -> "TensorType":
        if len(from_dims) != len(to_dims):
            raise TensorTypeError(f"rename needs as many new names as old: {list(from_dims)} to {list(to_dims)}")
        mapping = dict(zip(from_dims, to_dims))
        for name in from_dims:
            if not self.has(name):
                raise TensorTypeError(f"cannot rename '{name}' in {self}: it has no such dimension")
        renamed = [d.renamed(mapping.get(d.name, d.name)) for d in self.dimensions]
        names = [d.name for d in renamed]
        if len(set(names)) != len(names):
            raise TensorTypeError(f"rename of {self} from {list(from_dims)} to {list(to_dims)} makes two dimensions one")
        return TensorType(renamed, self.cell_type)

    @staticmethod
    def concat(a: "TensorType", b: "TensorType", dim: str) -> "TensorType":
        """The type of concat(a, b, dim): a missing concat dimension counts as size 1."""
        da, db = a.dimension(dim), b.dimension(dim)
        for d, t in ((da, a), (db, b)):
            if d is not None and d.mapped:
                raise TensorTypeError(f"cannot concat along mapped dimension '{dim}' of {t}")
        others_a = TensorType([d for d in a.dimensions if d.name != dim], a.cell_type)
        others_b = TensorType([d for d in b.dimensions if d.name != dim], b.cell_type)
        rest = TensorType.join(others_a, others_b)
        size_a = 1 if da is None else da.size
        size_b = 1 if db is None else db.size
        size = None if size_a is None or size_b is None else size_a + size_b
        cell = unify_cell_types(a.cell_type, b.cell_type) if not (a.is_scalar or b.is_scalar) else \
            (b.cell_type if a.is_scalar else a.cell_type)
        return TensorType(rest.dimensions + (Dimension(dim, size, False),), cell)

    def peek(self, dims: Sequence[str]) -> "TensorType":
        """The type after a peek (slice) that fixes `dims`."""
        for name in dims:
            if not self.has(name):
                raise TensorTypeError(f"cannot slice {self} at '{name}': it has no such dimension")
        kept = [d for d in self.dimensions if d.name not in dims]
        return TensorType(kept, self.cell_type) if kept else _SCALAR

    @staticmethod
    def generate(type_: "TensorType") -> "TensorType":
        for d in type_.dimensions:
            if d.mapped or d.size is None:
                raise TensorTypeError(f"generate needs bound indexed dimensions, but {type_} has '{d}'")
        return type_


def _kind(d: Dimension) -> str:
    return "mapped" if d.mapped else "indexed"


def _join_cells(a: TensorType, b: TensorType) -> CellType:
    if a.is_scalar and b.is_scalar:
        return CellType.DOUBLE
    if a.is_scalar:
        return decay(b.cell_type)
    if b.is_scalar:
        return decay(a.cell_type)
    return decay(unify_cell_types(a.cell_type, b.cell_type))


_SCALAR = TensorType()
_JOINS: dict[tuple[TensorType, TensorType], TensorType] = {}
