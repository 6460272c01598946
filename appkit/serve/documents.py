"""Vespa document JSON → the feature values a rank profile reads: put operations or bare field maps,
tensors in any document-JSON form, typed by the profile's attribute types.

Dense values become numpy blocks in canonical dimension order (what batch plans stack); mapped and
mixed ones become Tensors. Errors name the document (line and id) and the field, with a hint.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from appkit.serve import json_body
from appkit.serve.errors import AK600, AK601, AK602, AK603, AK612, RankingError, document_label
from appkit.tensor.type import CellType, TensorType
from appkit.tensor.value import Tensor, TensorValueError, to_cell_dtype

RANK_FEATURES = "rankfeatures"  # per-document values of features that need Vespa's index (bm25(title), ...)
MAX_ERRORS = 20  # collect, then fail: but a file of a million bad lines should not print a million errors


@dataclass
class Document:
    """One document's id (when it has one) and the values of the fields the profile reads."""

    index: int
    id: str | None
    line: int | None
    values: dict[str, Any] = field(default_factory=dict)  # field -> np.ndarray (dense) or Tensor

    @property
    def label(self) -> str:
        return document_label(self.index, self.id, self.line)


def is_rank_feature(name: str) -> bool:
    """Whether a document value name is a rank feature (`bm25(title)`) rather than a field name."""
    return "(" in name


def is_batchable(t: TensorType) -> bool:
    """Values of this type stack into one array along a batch axis (no mapped or unbound dimensions)."""
    return not t.mapped_dimensions and all(d.size is not None for d in t.dimensions)


def convert_value(value: Any, type_: TensorType) -> Any:
    """A document-JSON value of `type_` as a numpy block (dense types) or a Tensor (mapped/mixed);
    raises TensorValueError saying what does not fit."""
    if type_.is_scalar:
        return np.asarray(_scalar(value), dtype=type_.cell_type.numpy_dtype)
    if is_batchable(type_):
        fast = _fast_dense(value, type_)
        if fast is not None:
            return fast
    from appkit.tensor.jsonformat import tensor_from_json

    tensor = tensor_from_json(value, type_)
    return tensor.cells_array[0] if is_batchable(type_) else tensor


def field_value(value: Any, type_: TensorType, name: str, label: str) -> Any:
    """The value of field `name` of the document `label`; RankingError (AK603) when it does not fit."""
    try:
        return convert_value(value, type_)
    except TensorValueError as e:
        message = e.message.removeprefix("the value: ")
        raise RankingError(AK603, f"{label}: field '{name}' ({_kind(type_)}): {message}",
                           e.hint or f"write the value as a {type_}", field=name) from None


def _kind(t: TensorType) -> str:
    return "a number" if t.is_scalar else f"a {t}"


def _scalar(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise TensorValueError(AK603, f"{json.dumps(value)[:60]} is not a number", "give a number, e.g. 1.5")


def _fast_dense(value: Any, type_: TensorType) -> np.ndarray | None:
    """Plain nested lists (or {"values": lists}) of the right shape, converted in one numpy call.
    None when the value is in another form or irregular: the general reader then explains."""
    if type(value) is dict and len(value) == 1 and type(value.get("values")) is list:
        value = value["values"]
    if type(value) is not list:  # exact types: this runs once per field of every document served
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        return None
    want = tuple(d.size for d in type_.dimensions)
    if arr.shape != want:
        if arr.ndim != 1 or arr.size != int(np.prod(want)):
            return None
        arr = arr.reshape(want)
    return to_cell_dtype(arr, type_.cell_type)


# keys that make a JSON object more than a bare field map
_OPERATION_KEYS = frozenset({"put", "id", "fields", "update", "remove", "condition", "create", RANK_FEATURES})


def _document_parts(data: Any, index: int, line: int | None = None) -> tuple[str | None, Mapping[str, Any]]:
    """(id, fields) of a put operation, a document as Vespa returns it, or a bare field map."""
    if type(data) is dict:  # the common cases first: this runs once per document served
        if len(data) == 2 and type(data.get("fields")) is dict and "put" in data:
            return str(data["put"]), data["fields"]
        if _OPERATION_KEYS.isdisjoint(data):
            return None, data  # a bare field map
    label = document_label(index, None, line)
    if not isinstance(data, dict):
        raise RankingError(AK601, f"{label}: a document is a JSON object, not {type(data).__name__}",
                           'write {"put": "id:ns:type::1", "fields": {...}} or a field map {"field": value}')
    for op in ("update", "remove"):
        if isinstance(data.get(op), str) and data[op].startswith("id:"):
            raise RankingError(AK601, f"{label}: this is a document {op} operation, not a document",
                               'rank documents given as puts: {"put": "id:ns:type::1", "fields": {...}}',
                               document_id=data[op])
    features = data.get(RANK_FEATURES, {})
    if not isinstance(features, dict):
        raise RankingError(AK601, f'{label}: "{RANK_FEATURES}" must be an object of feature values',
                           f'write "{RANK_FEATURES}": {{"bm25(title)": 1.5}}')
    if "fields" in data and isinstance(data.get("fields"), dict) and set(data) <= {"put", "id", "fields", "condition",
                                                                                   "create", RANK_FEATURES}:
        doc_id = data.get("put", data.get("id"))
        return (str(doc_id) if doc_id is not None else None), {**data["fields"], **features}
    if "put" in data:
        raise RankingError(AK601, f"{label}: a put operation needs \"fields\" holding an object",
                           f'write {{"put": "{data["put"]}", "fields": {{...}}}}', document_id=str(data["put"]))
    return None, ({**{k: v for k, v in data.items() if k != RANK_FEATURES}, **features} if features else data)


def read_document(data: Any, index: int, fields: Mapping[str, TensorType], line: int | None = None) -> Document:
    """The document `data` (decoded JSON) with the values of `fields` (name -> type) read."""
    doc_id, values = _document_parts(data, index, line)
    doc = Document(index, doc_id, line)
    label = doc.label
    for name, type_ in fields.items():
        if name not in values and is_rank_feature(name):
            raise RankingError(AK612, f"{label}: no value for {name}, which appkit cannot compute (it needs "
                               "Vespa's index)", f'give it beside the fields: "{RANK_FEATURES}": {{"{name}": 1.0}}',
                               field=name, document_id=doc_id)
        if name not in values:
            near = [k for k in values if k.lower() == name.lower()]
            hint = (f"the document has '{near[0]}': field names are case-sensitive" if near else
                    f'add "{name}": {_example(type_)} to the document\'s fields')
            raise RankingError(AK602, f"{label}: field '{name}' is missing (the rank profile reads "
                               f"attribute({name}), {_kind(type_)})", hint, field=name, document_id=doc_id)
        try:
            doc.values[name] = field_value(values[name], type_, name, label)
        except RankingError as e:
            e.document_id = doc_id
            raise
    return doc


def read_batch(items: list[Any], fields: Mapping[str, TensorType]) -> tuple[list[Document], dict[str, Any]]:
    """Documents (decoded JSON) and their field values stacked per field, as `stack_values` gives them.

    Column by column: a dense field whose values are all plain lists of the right shape is converted
    in one numpy call; anything else goes through `read_document`, which says what is wrong and where."""
    docs: list[Document] = []
    raw: list[Mapping[str, Any]] = []
    names = fields.keys()
    for i, data in enumerate(items):
        try:
            doc_id, values = _document_parts(data, i)
            if not names <= values.keys():
                missing = next(name for name in fields if name not in values)
                read_document(data, i, {missing: fields[missing]})  # raises the located error
        except RankingError as e:
            e.document = i
            raise
        docs.append(Document(i, doc_id, None))
        raw.append(values)
    columns: dict[str, Any] = {}
    for name, type_ in fields.items():
        spec = _column_spec(type_)
        column = _fast_column([v[name] for v in raw], spec) if spec is not None else None
        if column is None:
            for doc, values in zip(docs, raw):
                try:
                    doc.values[name] = field_value(values[name], type_, name, doc.label)
                except RankingError as e:
                    e.document, e.document_id = doc.index, doc.id
                    raise
            column = stack_values(docs, {name: type_})[name]
        columns[name] = column
    return docs, columns


@functools.lru_cache(maxsize=256)
def _column_spec(type_: TensorType) -> tuple[tuple[int, ...], bool, Any, bool, CellType] | None:
    """For a batchable type: (dense sizes, scalar?, the dtype numpy reads lists into, whether that is
    already the cells' storage, the cell type); None for types that do not stack. Cached: it is
    asked once per field of every request."""
    if not is_batchable(type_):
        return None
    cell = type_.cell_type
    direct = np.dtype(cell.numpy_dtype if cell in (CellType.FLOAT, CellType.DOUBLE) else np.float64)
    return tuple(d.size for d in type_.dimensions), type_.is_scalar, direct, direct == cell.numpy_dtype, cell


def _fast_column(values: list[Any], spec: tuple[tuple[int, ...], bool, Any, bool, CellType]) -> np.ndarray | None:
    sizes, scalar, direct, stored, cell = spec
    if scalar:
        if not all(type(v) in (int, float) for v in values):
            return None
    elif not all(type(v) is list for v in values):
        return None
    try:
        arr = np.asarray(values, dtype=direct)  # float cells: rounded from double once, as Vespa stores them
    except (ValueError, TypeError):
        return None
    if arr.shape[1:] != sizes or arr.shape[0] != len(values):
        return None
    return arr if stored else to_cell_dtype(arr, cell)


def _example(t: TensorType) -> str:
    if t.is_scalar:
        return "1.0"
    if is_batchable(t):
        sizes = [d.size or 1 for d in t.dimensions]
        inner = "[" + ", ".join(["0.0"] * min(sizes[-1], 4)) + (", ..." if sizes[-1] > 4 else "") + "]"
        return '{"values": ' + (inner if len(sizes) == 1 else "[" + inner + ", ...]") + "}"
    return '{"cells": {"label": 1.0}}' if len(t.dimensions) == 1 else '{"blocks": {...}}'


def read_documents(lines: Iterable[str], fields: Mapping[str, TensorType]) -> tuple[list[Document], list[RankingError]]:
    """Every document of a JSON Lines text (blank lines skipped) and every error, up to MAX_ERRORS."""
    docs: list[Document] = []
    errors: list[RankingError] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            data = json_body.loads(text)
        except json.JSONDecodeError as e:
            errors.append(RankingError(AK600, f"line {number}: not JSON: {e.msg} (column {e.colno})",
                                       "write one complete JSON object per line", line=number))
        else:
            try:
                docs.append(read_document(data, len(docs) + len(errors), fields, number))
            except RankingError as err:
                err.line = number
                errors.append(err)
        if len(errors) >= MAX_ERRORS:
            break
    return docs, errors


def stack_values(docs: list[Document], fields: Mapping[str, TensorType]) -> dict[str, Any]:
    """Per field: the dense values stacked along a leading batch axis, or the list of Tensors."""
    out: dict[str, Any] = {}
    for name, type_ in fields.items():
        column = [d.values[name] for d in docs]
        if is_batchable(type_):
            out[name] = np.stack(column) if column else np.zeros((0, *[d.size for d in type_.dimensions]),
                                                                 dtype=type_.cell_type.numpy_dtype)
        else:
            out[name] = column
    return out


def as_tensor(value: Any, type_: TensorType) -> Tensor:
    """A document value (numpy block or Tensor) as a Tensor, for the reference evaluator."""
    if isinstance(value, Tensor):
        return value
    if type_.is_scalar:
        return Tensor.scalar(float(value))
    return Tensor.from_numpy(type_, value, copy=False)
