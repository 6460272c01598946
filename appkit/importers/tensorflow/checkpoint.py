"""The tensor-bundle reader: a SavedModel's `variables/` (an index table plus raw data shards), no TensorFlow.

`variables.index` is a LevelDB-format table (prefix-compressed keys in blocks, a block index and a
48-byte footer) mapping each checkpoint key to a `BundleEntryProto` (dtype, shape, shard, offset,
size); the key "" holds the `BundleHeaderProto`. `variables.data-0000N-of-0000M` hold the values as
raw little-endian bytes, read here straight into numpy without a copy of the whole shard.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appkit.importers.tensorflow import protos

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # one compression-type byte and a crc32c after every block

# TensorFlow dtype enum -> numpy dtype of the stored bytes (little-endian)
NUMPY_DTYPES: dict[int, str] = {
    1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 17: "<u2",
    19: "<f2", 22: "<u4", 23: "<u8", 14: "<u2",  # bfloat16 is read as its 16 bits, widened below
}
DT_BFLOAT16 = 14


class CheckpointError(ValueError):
    """A bundle that cannot be read (missing shard, unsupported format); the message says which."""


@dataclass(frozen=True)
class BundleEntry:
    key: str
    dtype: int  # TensorFlow DataType enum value
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    sliced: bool


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """Decode one table block: entries of (shared, unshared, value length, key suffix, value)."""
    (num_restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 - 4 * num_restarts
    entries: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + value_len]))
        pos += value_len
    return entries


def _read_block(data: bytes, offset: int, size: int, path: Path) -> bytes:
    if offset + size + _BLOCK_TRAILER > len(data):
        raise CheckpointError(f"{path}: a block runs past the end of the file (truncated index?)")
    if data[offset + size] != 0:
        raise CheckpointError(f"{path}: compressed table blocks are not supported (TensorFlow writes none)")
    return data[offset:offset + size]


def read_table(path: Path) -> list[tuple[bytes, bytes]]:
    """All (key, value) pairs of a LevelDB-format table, in key order."""
    data = path.read_bytes()
    if len(data) < _FOOTER_SIZE:
        raise CheckpointError(f"{path}: too short to be a tensor-bundle index ({len(data)} bytes)")
    footer = data[-_FOOTER_SIZE:]
    (magic,) = struct.unpack_from("<Q", footer, _FOOTER_SIZE - 8)
    if magic != _TABLE_MAGIC:
        raise CheckpointError(f"{path}: not a tensor-bundle index (bad table magic)")
    _, pos = _varint(footer, 0)  # metaindex handle (unused: no filters in bundles)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    entries: list[tuple[bytes, bytes]] = []
    for _, handle in _block_entries(_read_block(data, index_offset, index_size, path)):
        block_offset, p = _varint(handle, 0)
        block_size, _ = _varint(handle, p)
        entries.extend(_block_entries(_read_block(data, block_offset, block_size, path)))
    return entries


class Checkpoint:
    """The variables of a SavedModel: `entries` by checkpoint key, values read on demand."""

    def __init__(self, prefix: Path):
        self.prefix = prefix  # e.g. <model>/variables/variables
        index = prefix.with_name(prefix.name + ".index")
        if not index.exists():
            raise CheckpointError(f"{index} does not exist")
        self.num_shards = 1
        self.entries: dict[str, BundleEntry] = {}
        self.raw: dict[str, bytes] = {}
        for key_bytes, value in read_table(index):
            key = key_bytes.decode("utf-8", errors="replace")
            if key == "":
                header = protos.parse_binary(protos.BundleHeaderProto, value)
                self.num_shards = max(header.num_shards, 1)
                if header.endianness != 0:
                    raise CheckpointError(f"{index}: big-endian bundles are not supported")
                continue
            self.raw[key] = value
            entry = protos.parse_binary(protos.BundleEntryProto, value)
            shape = tuple(max(int(d.size), 0) for d in entry.shape.dim)
            self.entries[key] = BundleEntry(key, int(entry.dtype), shape, int(entry.shard_id),
                                            int(entry.offset), int(entry.size), len(entry.slices) > 0)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def keys(self) -> list[str]:
        return list(self.entries)

    def shard_path(self, shard_id: int) -> Path:
        return self.prefix.with_name(f"{self.prefix.name}.data-{shard_id:05d}-of-{self.num_shards:05d}")

    def read(self, key: str) -> np.ndarray:
        """The value stored under `key`, as a numpy array in TensorFlow's axis order."""
        entry = self.entries.get(key)
        if entry is None:
            raise CheckpointError(f"no variable '{key}' in {self.prefix}.index")
        if entry.sliced:
            raise CheckpointError(f"variable '{key}' is stored partitioned (sliced); that is not supported")
        if entry.dtype not in NUMPY_DTYPES:
            name = protos.DATA_TYPE_NAMES.get(entry.dtype, str(entry.dtype))
            raise CheckpointError(f"variable '{key}' has type {name}, which cannot be a tensor value")
        dtype = np.dtype(NUMPY_DTYPES[entry.dtype])
        count = int(np.prod(entry.shape, dtype=np.int64)) if entry.shape else 1
        if count * dtype.itemsize != entry.size:
            raise CheckpointError(f"variable '{key}': {entry.size} bytes stored for shape {list(entry.shape)}")
        shard = self.shard_path(entry.shard_id)
        if not shard.exists():
            raise CheckpointError(f"variable '{key}' is in {shard.name}, which does not exist")
        with open(shard, "rb") as f:
            f.seek(entry.offset)
            array = np.empty(count, dtype)
            if f.readinto(memoryview(array).cast("B")) != entry.size:
                raise CheckpointError(f"variable '{key}': {shard.name} is shorter than its index says")
        if entry.dtype == DT_BFLOAT16:  # bfloat16 is the upper half of a float32
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array.reshape(entry.shape)

    def read_proto(self, key: str, cls: Any) -> Any:
        """A string-typed scalar entry parsed as a message (e.g. `_CHECKPOINTABLE_OBJECT_GRAPH`)."""
        entry = self.entries[key]
        with open(self.shard_path(entry.shard_id), "rb") as f:
            f.seek(entry.offset)
            data = f.read(entry.size)
        # A DT_STRING scalar is stored as varint length(s), a crc32c, then the bytes.
        length, pos = _varint(data, 0)
        return protos.parse_binary(cls, data[pos + 4:pos + 4 + length])
