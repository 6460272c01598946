"""Vespa's typed binary tensor format (sparse 1, dense 2, mixed 3; with a cell type 5, 6, 7), both ways.

Layout (Vespa's eval/.../serialization/format.txt): a 1-or-4-byte integer format tag, the cell type if
bit 4 is set, mapped dimension names if bit 1, indexed names and sizes if bit 2, the subspace count when
there are mapped dimensions (or the tensor is only 'sparse'), then per subspace its labels and cells.
All numbers are big-endian.
"""

from __future__ import annotations

import math

import numpy as np

from appkit.tensor.type import CellType, Dimension, TensorType
from appkit.tensor.value import AK325, Tensor, TensorValueError

_CELL_CODE = {CellType.DOUBLE: 0, CellType.FLOAT: 1, CellType.BFLOAT16: 2, CellType.INT8: 3}
_CODE_CELL = {v: k for k, v in _CELL_CODE.items()}
_WIRE_DTYPE = {CellType.DOUBLE: np.dtype(">f8"), CellType.FLOAT: np.dtype(">f4"),
               CellType.BFLOAT16: np.dtype(">u2"), CellType.INT8: np.dtype("i1")}


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def _fail(self, what: str) -> TensorValueError:
        return TensorValueError(AK325, f"binary tensor ends early at byte {self.pos} of {len(self.data)} "
                                f"while reading {what}", "pass the complete serialized tensor")

    def int1_4(self, what: str) -> int:
        # values below 0x80 take one byte; larger ones four bytes with the top bit set
        data, pos = self.data, self.pos
        if pos >= len(data):
            raise self._fail(what)
        first = data[pos]
        if first < 0x80:
            self.pos = pos + 1
            return first
        if pos + 4 > len(data):
            raise self._fail(what)
        self.pos = pos + 4
        return int.from_bytes(data[pos:pos + 4], "big") & 0x7FFFFFFF

    def string(self, what: str) -> str:
        n = self.int1_4(what)
        end = self.pos + n
        if end > len(self.data):
            raise self._fail(what)
        raw = self.data[self.pos:end]
        self.pos = end
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TensorValueError(AK325, f"{what} is not UTF-8 text: {raw!r}") from None

    def cells(self, dtype: np.dtype, count: int) -> np.ndarray:
        end = self.pos + dtype.itemsize * count
        if end > len(self.data):
            raise self._fail(f"{count} cells")
        arr = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos = end
        return arr


def _to_storage(wire: np.ndarray, cell_type: CellType) -> np.ndarray:
    if cell_type is CellType.BFLOAT16:
        return (wire.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return wire.astype(cell_type.numpy_dtype)


def decode_tensor(data: bytes | bytearray | memoryview | str) -> Tensor:
    """A tensor from Vespa's typed binary format; a str is read as hex (an optional 0x prefix)."""
    if isinstance(data, str):
        data = hex_to_bytes(data)
    r = _Reader(bytes(data))
    tag = r.int1_4("the format tag")
    if tag not in (1, 2, 3, 5, 6, 7):
        raise TensorValueError(AK325, f"unknown binary tensor format {tag}: expected 1, 2, 3, 5, 6 or 7")
    cell_type = CellType.DOUBLE
    if tag & 4:
        code = r.int1_4("the cell type")
        if code not in _CODE_CELL:
            raise TensorValueError(AK325, f"unknown cell type code {code}: expected 0 (double), 1 (float), "
                                   "2 (bfloat16) or 3 (int8)")
        cell_type = _CODE_CELL[code]
    sparse, dense = bool(tag & 1), bool(tag & 2)
    mapped = [r.string("a mapped dimension name") for _ in range(r.int1_4("the mapped dimension count"))] \
        if sparse else []
    indexed: list[tuple[str, int]] = []
    if dense:
        for _ in range(r.int1_4("the indexed dimension count")):
            name = r.string("an indexed dimension name")
            indexed.append((name, r.int1_4(f"the size of '{name}'")))
    type_ = _decoded_type(mapped, indexed, cell_type)
    shape = tuple(size for _, size in indexed)
    block = math.prod(shape)  # exact: corrupt sizes must not wrap around
    wire = _WIRE_DTYPE[cell_type]
    n_blocks = r.int1_4("the subspace count") if (mapped or not dense) else 1
    if not mapped:
        if n_blocks > 1:
            raise TensorValueError(AK325, f"a tensor without mapped dimensions has {n_blocks} subspaces")
        cells = _to_storage(r.cells(wire, block * n_blocks), cell_type).reshape((n_blocks, *shape))
        if n_blocks == 0:  # an empty 'sparse' scalar reads as 0
            cells = np.zeros((1, *shape), dtype=cells.dtype)
        tensor = Tensor(type_, ((),), _storage_dtype(cells, type_))
    else:
        tensor = _decode_subspaces(r, type_, len(mapped), n_blocks, shape, block, wire)
    if r.pos != len(r.data):
        raise TensorValueError(AK325, f"{len(r.data) - r.pos} bytes left over after the tensor ({type_})")
    return tensor


def _decoded_type(mapped: list[str], indexed: list[tuple[str, int]], cell_type: CellType) -> TensorType:
    for name, size in indexed:
        if size < 1:
            raise TensorValueError(AK325, f"indexed dimension '{name}' has size {size}; sizes are at least 1")
    try:
        dims = [Dimension(n, None, True) for n in mapped] + [Dimension(n, s, False) for n, s in indexed]
        return TensorType(dims, cell_type)
    except ValueError as e:
        raise TensorValueError(AK325, f"binary tensor has an invalid type: {e}") from None


def _storage_dtype(cells: np.ndarray, type_: TensorType) -> np.ndarray:
    # a scalar's type is always double, whatever cell type the bytes carried
    return cells.astype(type_.cell_type.numpy_dtype, copy=False)


def _decode_subspaces(r: _Reader, type_: TensorType, n_mapped: int, n_blocks: int,
                      shape: tuple[int, ...], block: int, wire: np.dtype) -> Tensor:
    labels: list[tuple[str, ...]] = []
    chunks: list[bytes] = []
    data, pos, width = r.data, r.pos, block * wire.itemsize
    try:
        # the hot loop of large sparse tensors: the reader's checks are folded into one at the end
        for _ in range(n_blocks):
            lab = []
            for _ in range(n_mapped):
                n = data[pos]
                if n < 0x80:
                    pos += 1
                else:
                    n = int.from_bytes(data[pos:pos + 4], "big") & 0x7FFFFFFF
                    pos += 4
                lab.append(data[pos:pos + n].decode("utf-8"))
                pos += n
            labels.append(tuple(lab))
            chunks.append(data[pos:pos + width])
            pos += width
    except IndexError:
        r.pos = len(data)
        raise r._fail("subspace labels") from None
    except UnicodeDecodeError:
        raise TensorValueError(AK325, "a cell label is not UTF-8 text") from None
    if pos > len(data):
        r.pos = len(data)
        raise r._fail("subspace cells")
    r.pos = pos
    raw = np.frombuffer(b"".join(chunks), dtype=wire)
    cells = _to_storage(raw, type_.cell_type).reshape((n_blocks, *shape))
    if len(set(labels)) != len(labels):
        raise TensorValueError(AK325, "binary tensor has two subspaces with the same labels")
    order = sorted(range(n_blocks), key=labels.__getitem__)
    if order != list(range(n_blocks)):
        cells = cells[order]
        labels = [labels[i] for i in order]
    return Tensor(type_, tuple(labels), np.ascontiguousarray(cells))


def _int1_4(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    if value > 0x7FFFFFFF:
        raise TensorValueError(AK325, f"{value} is too large for the binary tensor format")
    return (value | 0x80000000).to_bytes(4, "big")


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return _int1_4(len(raw)) + raw


def _wire_cells(cells: np.ndarray, cell_type: CellType) -> bytes:
    if cell_type is CellType.BFLOAT16:
        bits = np.ascontiguousarray(cells, dtype=np.float32).view(np.uint32) >> np.uint32(16)
        return bits.astype(">u2").tobytes()
    return cells.astype(_WIRE_DTYPE[cell_type], copy=False).tobytes()


def encode_tensor(tensor: Tensor) -> bytes:
    """The tensor in Vespa's typed binary format, as Vespa's C++ encoder writes it (labels sorted)."""
    type_ = tensor.type
    mapped, indexed = type_.mapped_dimensions, type_.indexed_dimensions
    sparse = bool(mapped)
    dense = bool(indexed) or not sparse
    with_cell_type = type_.cell_type is not CellType.DOUBLE
    tag = (1 if sparse else 0) | (2 if dense else 0) | (4 if with_cell_type else 0)
    out = [_int1_4(tag)]
    if with_cell_type:
        out.append(_int1_4(_CELL_CODE[type_.cell_type]))
    if sparse:
        out.append(_int1_4(len(mapped)))
        out.extend(_string(d.name) for d in mapped)
    if dense:
        out.append(_int1_4(len(indexed)))
        for d in indexed:
            out.append(_string(d.name))
            out.append(_int1_4(d.size or 0))
    if not sparse:
        out.append(_wire_cells(tensor.cells_array, type_.cell_type))
        return b"".join(out)
    out.append(_int1_4(len(tensor.labels)))
    raw = _wire_cells(tensor.cells_array, type_.cell_type)
    step = len(raw) // len(tensor.labels) if tensor.labels else 0
    for i, lab in enumerate(tensor.labels):
        out.extend(_string(x) for x in lab)
        out.append(raw[i * step:(i + 1) * step])
    return b"".join(out)


def hex_to_bytes(text: str) -> bytes:
    """Hex text (optionally 0x-prefixed, as the conformance files write it) to bytes."""
    body = text.strip()
    if body[:2] in ("0x", "0X"):
        body = body[2:]
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise TensorValueError(AK325, f"'{text[:40]}' is not hex-encoded bytes",
                               "write two hex digits per byte, like 0x0200...") from None


def encode_hex(tensor: Tensor) -> str:
    """The binary format as 0x-prefixed upper-case hex, the conformance files' spelling."""
    return "0x" + encode_tensor(tensor).hex().upper()
