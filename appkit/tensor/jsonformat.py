"""Vespa's document JSON tensor forms, read and written: `cells` (list or mapped short dict), `blocks`
(list or mixed short dict), `values` (nested lists or a hex string), bare short forms, `type` wrappers.

Reading needs the field's TensorType (or a `"type"` in the JSON); errors name the JSON path of the
problem (`cells[2].address.x`) and say what fits instead.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np

from appkit.tensor.type import CellType, Dimension, TensorType, TensorTypeError
from appkit.tensor.value import (AK321, AK322, AK323, AK324, AK326, AK327, AK328, Tensor, TensorValueError,
                                 build_from_addresses, cell_number, label_string)

_FORM_KEYS = ("cells", "blocks", "values")
_HEX_WIDTH = {CellType.DOUBLE: 16, CellType.FLOAT: 8, CellType.BFLOAT16: 4, CellType.INT8: 2}
_HEX_DTYPE = {CellType.DOUBLE: ">f8", CellType.FLOAT: ">f4", CellType.BFLOAT16: ">u2", CellType.INT8: "i1"}


def parse_tensor_json(text: str, type: TensorType | None = None) -> Tensor:  # noqa: A002
    """A tensor from JSON text in any of Vespa's document JSON tensor forms."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise TensorValueError(AK326, f"not valid JSON: {e.msg}", "check the brackets, commas and quotes",
                               text, e.pos) from None
    return tensor_from_json(data, type)


def tensor_from_json(data: Any, type: TensorType | None = None) -> Tensor:  # noqa: A002
    """A tensor from decoded JSON (dicts, lists, numbers, strings) for a field of `type`."""
    type_ = _wrapped_type(data, type)
    if type_ is None:
        raise TensorValueError(AK327, "the tensor's type is not known",
                               'give the field type, or add "type": "tensor(x[3])" to the JSON')
    if isinstance(data, str):
        return _from_hex(data, type_, "the value")
    if isinstance(data, list):
        return _dense(data, type_, "the value")
    if isinstance(data, bool) or not isinstance(data, (int, float, Mapping)):
        raise TensorValueError(AK326, f"a tensor is written as a JSON object, list or hex string, not {data!r}")
    if not isinstance(data, Mapping):
        if not type_.is_scalar:
            raise TensorValueError(AK327, f"the number {data} is not a value of {type_}")
        return Tensor.scalar(cell_number(data))
    forms = [k for k in _FORM_KEYS if k in data]
    if len(forms) > 1:
        raise TensorValueError(AK326, f"the tensor JSON has both {forms[0]!r} and {forms[1]!r}", "keep one of them")
    if not forms:
        if "type" in data or "address" in data:
            raise TensorValueError(AK326, f"the tensor JSON has none of {', '.join(_FORM_KEYS)}",
                                   'put the cells under "cells", "blocks" or "values"')
        return _short_mapped(data, type_, "the value")
    form = forms[0]
    body = data[form]
    if form == "values":
        return _from_hex(body, type_, "values") if isinstance(body, str) else _dense(body, type_, "values")
    if form == "cells":
        if isinstance(body, Mapping):
            return _short_mapped(body, type_, "cells")
        return _verbose_cells(body, type_)
    return _blocks(body, type_)


def _wrapped_type(data: Any, type_: TensorType | None) -> TensorType | None:
    if not isinstance(data, Mapping) or "type" not in data:
        return type_
    try:
        declared = TensorType.parse(str(data["type"]))
    except TensorTypeError as e:
        raise TensorValueError(AK326, f'"type" is not a tensor type: {e}') from None
    if type_ is not None and not declared.is_assignable_to(type_, check_cell_type=False):
        raise TensorValueError(AK327, f'the JSON says "type": "{declared}", but the field is {type_}',
                               f'write "type": "{type_}" or leave "type" out')
    return type_ if type_ is not None else declared


def _dense(values: Any, type_: TensorType, where: str) -> Tensor:
    if type_.mapped_dimensions:
        raise TensorValueError(AK327, f"{where}: a list of values only fits an indexed type, but the type is "
                               f"{type_}", 'use "cells" or "blocks" for mapped dimensions')
    return Tensor.from_numpy(type_, dense_block(values, type_.indexed_dimensions, type_, where))


def dense_block(values: Any, dims: tuple[Dimension, ...], type_: TensorType, where: str) -> np.ndarray:
    """Nested lists (one level per indexed dimension) or a flat list, as a float64 array."""
    if not isinstance(values, list):
        raise TensorValueError(AK326, f"{where}: expected a list of numbers, not {values!r}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError):
        arr = None
    if arr is None:
        flat = _flatten(values, where)
        try:
            arr = np.asarray(flat, dtype=np.float64)
        except (ValueError, TypeError):
            arr = np.asarray([_number(v, where) for v in flat], dtype=np.float64)
        if _nesting(values) > 1:  # ragged nesting
            raise TensorValueError(AK324, f"{where}: the nested lists have different lengths",
                                   "make every inner list the same length")
    want = [d.size for d in dims]
    if arr.ndim == len(want) and all(w is None or w == s for w, s in zip(want, arr.shape)):
        if all(s > 0 for s in arr.shape):
            return arr
    if arr.ndim == 1 and all(w is not None for w in want) and arr.size == int(np.prod(want)) and want:
        return arr.reshape(want)
    shape = "x".join(str(s) for s in arr.shape)
    need = "x".join("?" if w is None else str(w) for w in want)
    raise TensorValueError(AK324, f"{where}: the values have shape [{shape}], but {type_} needs [{need}]",
                           "give one nested list per indexed dimension, with the dimension's size")


def _nesting(values: Any) -> int:
    return 1 + max((_nesting(v) for v in values), default=0) if isinstance(values, list) else 0


def _flatten(values: Any, where: str) -> list[Any]:
    out: list[Any] = []
    stack = [values]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        else:
            if isinstance(v, (dict, bool)) or v is None:
                raise TensorValueError(AK321, f"{where}: cell value {v!r} is not a number",
                                       "give every cell a number")
            out.append(v)
    return out


def _from_hex(text: str, type_: TensorType, where: str) -> Tensor:
    if type_.mapped_dimensions:
        raise TensorValueError(AK327, f"{where}: a hex string only fits an indexed type, not {type_}")
    return Tensor.from_numpy(type_, hex_block(text, type_.indexed_dimensions, type_, where))


def hex_block(text: str, dims: tuple[Dimension, ...], type_: TensorType, where: str) -> np.ndarray:
    """Cells written as hex, each the big-endian bits of the cell type (16 digits for a double)."""
    width = _HEX_WIDTH[type_.cell_type]
    body = text.strip()
    if body[:2] in ("0x", "0X"):
        body = body[2:]
    sizes = [d.size for d in dims]
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raise TensorValueError(AK328, f"{where}: '{text[:30]}' is not hex", "use only 0-9 and A-F") from None
    if len(body) % width:
        raise TensorValueError(AK328, f"{where}: {len(body)} hex digits do not make whole {type_.cell_type.value} "
                               f"cells of {width} digits each", f"write {width} hex digits per cell")
    n = len(body) // width
    if all(s is not None for s in sizes) and n != int(np.prod(sizes)):
        raise TensorValueError(AK328, f"{where}: the hex string has {n} cells, but {type_} has "
                               f"{int(np.prod(sizes))}", f"give {int(np.prod(sizes)) * width} hex digits")
    if len(sizes) > 1 and any(s is None for s in sizes):
        raise TensorValueError(AK327, f"{where}: hex values need bound sizes, but {type_} has unbound dimensions")
    wire = np.frombuffer(raw, dtype=_HEX_DTYPE[type_.cell_type])
    if type_.cell_type is CellType.BFLOAT16:
        arr = (wire.astype(np.uint32) << np.uint32(16)).view(np.float32).astype(np.float64)
    else:
        arr = wire.astype(np.float64)
    return arr.reshape([s if s is not None else n for s in sizes])


def _short_mapped(body: Mapping[str, Any], type_: TensorType, where: str) -> Tensor:
    """{"a": 1, "b": 2} for one mapped dimension, or {"a": [..]} for one mapped plus indexed ones."""
    mapped = type_.mapped_dimensions
    if not mapped:
        raise TensorValueError(AK326, f"{where}: an object for a {type_} needs \"values\" (or \"cells\"), "
                               f"but has {', '.join(repr(k) for k in body) or 'no keys'}",
                               '"values": [...] holds the cells of an indexed tensor')
    if len(mapped) != 1:
        raise TensorValueError(AK327, f"{where}: the short form {{label: value}} needs exactly one mapped "
                               f"dimension, but the type is {type_}",
                               'use "cells": [{"address": {...}, "value": ...}] instead')
    if type_.indexed_dimensions:
        return _blocks(body, type_)
    cells = [({mapped[0].name: label}, _number(v, f"{where}.{label}")) for label, v in body.items()]
    return build_from_addresses(type_, cells)


def _number(value: Any, where: str) -> float:
    try:
        return cell_number(value)
    except TensorValueError:
        raise TensorValueError(AK321, f"{where}: cell value {value!r} is not a number",
                               "give the cell a number, like 1.5") from None


def _verbose_cells(body: Any, type_: TensorType) -> Tensor:
    if not isinstance(body, list):
        raise TensorValueError(AK326, f'"cells" is a list of {{"address": ..., "value": ...}}, not {body!r}')
    fast = _verbose_cells_columns(body, type_)
    if fast is not None:
        return fast
    cells = []
    for i, cell in enumerate(body):
        where = f"cells[{i}]"
        if not isinstance(cell, Mapping) or "address" not in cell or "value" not in cell:
            raise TensorValueError(AK326, f'{where} needs "address" and "value"',
                                   'write {"address": {"x": "a"}, "value": 1.0}')
        address = cell["address"]
        if not isinstance(address, Mapping):
            raise TensorValueError(AK326, f'{where}.address is an object {{dimension: label}}, not {address!r}')
        cells.append((_address(address, type_, where), _number(cell["value"], f"{where}.value")))
    return build_from_addresses(type_, cells)


def _verbose_cells_columns(body: list[Any], type_: TensorType) -> Tensor | None:
    """Well-formed cells read column by column with numpy (large constant files); None sends the
    caller to the cell-by-cell path, which names the first bad cell."""
    names = type_.dimension_names
    try:
        addresses = [c["address"] for c in body]
        values = np.asarray([c["value"] for c in body], dtype=np.float64)
        if any(len(a) != len(names) for a in addresses):
            return None
        columns = {n: [a[n] for a in addresses] for n in names}
    except (TypeError, KeyError, ValueError):
        return None
    indexes, sizes = [], []
    for d in type_.indexed_dimensions:
        col = columns[d.name]
        if not all(type(x) is int for x in col):
            if not all(type(x) is str and x.isdigit() for x in col):
                return None
        idx = np.asarray(col, dtype=np.int64) if col else np.zeros(0, dtype=np.int64)
        size = d.size if d.size is not None else int(idx.max(initial=0)) + 1
        if idx.size and (idx.min() < 0 or idx.max() >= size):
            return None
        indexes.append(idx)
        sizes.append(size)
    mapped = type_.mapped_dimensions
    if mapped:
        if not all(type(x) is str for d in mapped for x in columns[d.name]):
            return None
        keys = list(zip(*(columns[d.name] for d in mapped))) if body else []
        unique = sorted(set(keys))
        row_of = {k: i for i, k in enumerate(unique)}
        rows = np.fromiter((row_of[k] for k in keys), dtype=np.intp, count=len(keys))
    else:
        unique, rows = [()], np.zeros(len(body), dtype=np.intp)
    block = np.zeros((len(unique), *sizes), dtype=np.float64)
    block[(rows, *indexes)] = values
    return Tensor.from_subspaces(type_, unique, block, copy=False)


def _address(address: Mapping[str, Any], type_: TensorType, where: str) -> Mapping[str, Any]:
    for dim, label in address.items():
        d = type_.dimension(dim)
        if d is None:
            raise TensorValueError(AK322, f"{where}.address: {type_} has no dimension '{dim}'",
                                   f"use the dimensions {', '.join(type_.dimension_names) or '(none)'}")
        if d.mapped:
            continue
        ok = isinstance(label, int) and not isinstance(label, bool) or \
            isinstance(label, str) and label.strip().isdigit()
        if not ok:
            raise TensorValueError(AK322, f"{where}.address.{dim}: label {label!r} of indexed dimension "
                                   f"'{dim}' is not an integer", f'use an index like "{dim}": 0')
        i = int(label)
        if d.size is not None and i >= d.size:
            raise TensorValueError(AK323, f"{where}.address.{dim}: index {i} is out of range for '{d}' "
                                   f"(valid: 0..{d.size - 1})")
    return address


def _blocks(body: Any, type_: TensorType) -> Tensor:
    mapped, indexed = type_.mapped_dimensions, type_.indexed_dimensions
    if not mapped:
        raise TensorValueError(AK327, f'"blocks" needs mapped dimensions, but the type is {type_}',
                               'use "values" for an indexed tensor')
    labels: list[tuple[str, ...]] = []
    blocks: list[np.ndarray] = []
    if isinstance(body, Mapping):
        if len(mapped) != 1:
            raise TensorValueError(AK327, f'"blocks": {{label: [...]}} needs one mapped dimension, but the type '
                                   f"is {type_}", 'use "blocks": [{"address": {...}, "values": [...]}]')
        items = [((label,), values, f"blocks.{label}") for label, values in body.items()]
    elif isinstance(body, list):
        items = []
        for i, block in enumerate(body):
            where = f"blocks[{i}]"
            if not isinstance(block, Mapping) or "address" not in block or "values" not in block:
                raise TensorValueError(AK326, f'{where} needs "address" and "values"',
                                       'write {"address": {"x": "a"}, "values": [1.0, 2.0]}')
            address = block["address"]
            names = {d.name for d in mapped}
            if not isinstance(address, Mapping) or set(address) != names:
                raise TensorValueError(AK322, f"{where}.address must name exactly the mapped dimensions "
                                       f"{', '.join(sorted(names))}, not {address!r}")
            items.append((tuple(label_string(address[d.name]) for d in mapped), block["values"], where))
    else:
        raise TensorValueError(AK326, f'"blocks" is a list or an object, not {body!r}')
    for key, values, where in items:
        labels.append(key)
        if isinstance(values, str):
            blocks.append(hex_block(values, indexed, type_, where))
        else:
            blocks.append(dense_block(values, indexed, type_, where))
    if len({b.shape for b in blocks}) > 1:
        raise TensorValueError(AK324, "the blocks have different shapes", "give every block the same shape")
    cells = np.stack(blocks) if blocks else np.zeros((0, *[d.size or 1 for d in indexed]))
    return Tensor.from_subspaces(type_, labels, cells)


# --- writing ----------------------------------------------------------------------------------------

def tensor_to_json(t: Tensor, short: bool = True, with_type: bool = True) -> dict[str, Any]:
    """The tensor as Vespa writes it in document JSON: short forms where they apply, or verbose cells."""
    type_ = t.type
    out: dict[str, Any] = {"type": str(type_)} if with_type else {}
    mapped = type_.mapped_dimensions
    cells = t.cells_array.astype(np.float64)
    if short and not mapped and not type_.is_scalar:
        out["values"] = cells[0].tolist()
    elif short and len(mapped) == 1 and not type_.indexed_dimensions:
        out["cells"] = {lab[0]: v for lab, v in zip(t.labels, cells.tolist())}
    elif short and len(mapped) == 1:
        out["blocks"] = {lab[0]: block for lab, block in zip(t.labels, cells.tolist())}
    else:
        out["cells"] = [{"address": {k: str(v) for k, v in address.items()}, "value": value}
                        for address, value in t.cells()]
    return out


def format_tensor_json(t: Tensor, short: bool = True, with_type: bool = True, indent: int | None = None) -> str:
    return json.dumps(tensor_to_json(t, short, with_type), indent=indent)
