"""Vespa's tensor literal form for values, read and written: verbose `{{x:a,y:0}:1.0}`, indexed short
`[[1,2],[3,4]]`, mapped short `{a:1,b:2}`, mixed short `{a:[1,2]}` (nestable per mapped dimension), scalars.

Printing follows Vespa's Java `toString(withType, shortForms)`: short forms where Java uses them, numbers
like Java's `Double.toString`, labels quoted only when they are not plain words.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import numpy as np

from appkit.tensor.type import CellType, Dimension, TensorType, TensorTypeError
from appkit.tensor.value import (AK320, AK321, AK324, AK327, Tensor, TensorValueError,
                                 build_from_addresses, to_cell_dtype)

_NUMBER = re.compile(r"([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|NaN|Infinity|infinity|inf))([fFdD]?)(?![A-Za-z0-9_])")
_WORD = re.compile(r"[A-Za-z0-9_@$-][A-Za-z0-9_@$.-]*")
_PLAIN_LABEL = re.compile(r"^[A-Za-z0-9_@$-]+$")
_BRACKET = re.compile(r"[\[\]]")
_NOT_NUMBERS = re.compile(r"true|false|null|\"")
_WRITTEN_DIM = re.compile(r"([A-Za-z_@$][A-Za-z0-9_@$]*)\s*[\[{]")
_TYPE_PREFIX = re.compile(r"\s*tensor\s*(?:<[^>]*>)?\s*\([^)]*\)\s*")


class _Parser:
    """Recursive descent over the literal text; every error names its offset."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0
        self.order: list[str] | None = None  # dimension names in the order the literal's type wrote them

    def fail(self, message: str, hint: str | None = None, code: str = AK320, at: int | None = None) -> None:
        raise TensorValueError(code, message, hint, self.text, self.pos if at is None else at)

    def ws(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        self.pos = pos

    def peek(self) -> str:
        self.ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            found = f"'{self.text[self.pos]}'" if self.pos < len(self.text) else "the end of the text"
            self.fail(f"expected '{char}' {what}, but found {found}")
        self.pos += 1

    def number(self) -> float:
        self.ws()
        start = self.pos
        m = _NUMBER.match(self.text, self.pos)
        if not m:
            word = _WORD.match(self.text, self.pos)
            shown = word.group(0) if word else self.text[self.pos:self.pos + 1] or "the end of the text"
            self.fail(f"cell value '{shown}' is not a number", "give each cell a number, like 1.5", AK321)
        self.pos = m.end()
        body = m.group(1)
        low = body.lower().lstrip("+")
        if low in ("nan", "-nan"):
            return math.nan
        if low in ("inf", "infinity"):
            return math.inf
        if low in ("-inf", "-infinity"):
            return -math.inf
        try:
            return float(body)
        except ValueError:
            self.fail(f"cell value '{body}' is not a number", None, AK321, start)
        return 0.0

    def _dense_as_json(self) -> tuple[list[float], list[int], int] | None:
        """Large blocks of plain numbers in one go (a JSON array); None leaves them to the checking path."""
        text, start = self.text, self.pos
        depth, end = 0, -1
        for m in _BRACKET.finditer(text, start):
            depth += 1 if m.group(0) == "[" else -1
            if depth == 0:
                end = m.end()
                break
        if end < 0 or end - start < 64 or _NOT_NUMBERS.search(text, start, end):
            return None
        try:
            arr = np.asarray(json.loads(text[start:end]), dtype=np.float64)
        except (ValueError, TypeError):
            return None
        if arr.dtype != np.float64 or arr.size == 0:
            return None
        self.pos = end
        return arr.reshape(-1).tolist(), list(arr.shape), start

    def label(self) -> str:
        c = self.peek()
        if c in ("'", '"'):
            return self.quoted(c)
        m = _WORD.match(self.text, self.pos)
        if not m:
            self.fail("expected a label (a word, a number or a quoted string)")
        self.pos = m.end()
        return m.group(0)

    def quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        out = []
        text = self.text
        while self.pos < len(text):
            c = text[self.pos]
            if c == "\\" and self.pos + 1 < len(text):
                out.append(text[self.pos + 1])
                self.pos += 2
                continue
            if c == quote:
                self.pos += 1
                return "".join(out)
            out.append(c)
            self.pos += 1
        self.fail("a quoted label is not closed", f"end the label with {quote}", AK320, start)
        return ""

    def dense(self) -> tuple[list[float], list[int], int]:
        """A nested `[...]` list: its values (flattened), its nesting shape and start offset."""
        self.ws()
        start = self.pos
        fast = self._dense_as_json()
        if fast is not None:
            return fast
        self.expect("[", "to start a list of cell values")
        if self.peek() == "]":
            self.pos += 1
            return [], [0], start
        values: list[float] = []
        shapes: list[list[int]] = []
        while True:
            if self.peek() == "[":
                sub, shape, _ = self.dense()
                values.extend(sub)
                shapes.append(shape)
            else:
                values.append(self.number())
                shapes.append([])
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("]", "to close the list of cell values")
            break
        if any(s != shapes[0] for s in shapes):
            self.fail("the nested lists have different lengths", "make every inner list the same length",
                      AK324, start)
        return values, [len(shapes)] + shapes[0], start


def parse_tensor_literal(text: str, type: TensorType | None = None) -> Tensor:  # noqa: A002
    """A tensor value from its literal form. `type` is the expected type (needed for untyped short
    forms); a literal that names its own type must fit it. Raises TensorValueError with the offset."""
    p = _Parser(text)
    declared = _leading_type(p)
    if declared is not None and type is not None and declared != type:
        if not _fits(declared, type):
            p.fail(f"the literal has type {declared}, but {type} is expected", f"write it as {type}:...",
                   AK327, 0)
    given = declared or type
    c = p.peek()
    if c == "[":
        tensor = _parse_dense(p, given)
    elif c == "{":
        tensor = _parse_braces(p, given)
    elif c == "":
        p.fail("expected a tensor value, but the text ends", "write e.g. {{x:a}:1.0} or [1,2,3]")
        raise AssertionError
    else:
        value = p.number()
        if given is not None and not given.is_scalar:
            p.fail(f"a number is not a value of {given}", "write the cells in braces or brackets", AK327, 0)
        tensor = Tensor.scalar(value)
    if p.peek():
        p.fail(f"unexpected text after the tensor value: '{text[p.pos:p.pos + 20]}'")
    if type is not None and tensor.type.cell_type is not type.cell_type and not type.is_scalar:
        tensor = Tensor(tensor.type.with_cell_type(type.cell_type), tensor.labels,
                        to_cell_dtype(tensor.cells_array, type.cell_type))
    return tensor


def _fits(declared: TensorType, expected: TensorType) -> bool:
    return declared.is_assignable_to(expected, check_cell_type=False)


def _leading_type(p: _Parser) -> TensorType | None:
    m = _TYPE_PREFIX.match(p.text, 0)
    if not m or p.text[m.end():m.end() + 1] != ":":
        return None
    try:
        t = TensorType.parse(m.group(0))
    except TensorTypeError as e:
        p.fail(str(e), None, AK320, 0)
        raise AssertionError from e
    p.pos = m.end() + 1
    p.order = _WRITTEN_DIM.findall(m.group(0)[m.group(0).index("(") + 1:])
    return t


def _written(p: _Parser, type_: TensorType, mapped: bool) -> tuple[Dimension, ...]:
    """The mapped or indexed dimensions in the order the literal's type wrote them: Vespa reads
    nested dense lists and nested mapped labels in that order, not the canonical one."""
    dims = type_.mapped_dimensions if mapped else type_.indexed_dimensions
    if not p.order:
        return dims
    rank = {n: i for i, n in enumerate(p.order)}
    return tuple(sorted(dims, key=lambda d: rank.get(d.name, len(rank))))


def _to_canonical(block: np.ndarray, written: tuple[Dimension, ...], type_: TensorType) -> np.ndarray:
    names = [d.name for d in written]
    axes = [names.index(d.name) for d in type_.indexed_dimensions]
    return block if axes == sorted(axes) else np.transpose(block, axes)


def _parse_dense(p: _Parser, type_: TensorType | None) -> Tensor:
    values, shape, start = p.dense()
    if type_ is None:
        p.fail("a list of values needs a type to say its dimensions", "write it as tensor(x[3]):[1,2,3]",
               AK327, start)
        raise AssertionError
    if type_.mapped_dimensions:
        p.fail(f"{type_} has mapped dimensions; a plain list of values only fits an indexed type",
               "write the cells as {label:[...], ...}", AK327, start)
    written = _written(p, type_, mapped=False)
    block = _shape_values(p, type_, values, shape, start, written)
    return Tensor.from_numpy(type_, _to_canonical(block, written, type_))


def _shape_values(p: _Parser, type_: TensorType, values: list[float], shape: list[int], start: int,
                  dims: tuple[Dimension, ...]) -> np.ndarray:
    """The values as an array of the dims' sizes: nested to the type's rank, or flat (Vespa reads both)."""
    want = [d.size for d in dims]
    if len(shape) == len(want) and all(w is None or w == s for w, s in zip(want, shape)):
        return np.asarray(values, dtype=np.float64).reshape(shape)
    if all(w is not None for w in want) and len(values) == int(np.prod(want)) and len(shape) == 1:
        return np.asarray(values, dtype=np.float64).reshape(want)
    described = "x".join(str(s) for s in shape)
    p.fail(f"the values have shape [{described}], but {type_} needs "
           f"[{'x'.join('?' if w is None else str(w) for w in want)}]",
           "give one nested list per indexed dimension, with the dimension's size", AK324, start)
    raise AssertionError


def _parse_braces(p: _Parser, type_: TensorType | None) -> Tensor:
    start = p.pos
    p.expect("{", "to start the cells")
    if p.peek() == "}":
        p.pos += 1
        return Tensor.empty(type_) if type_ is not None else Tensor.scalar(0.0)
    if p.peek() == "{":
        return _parse_verbose(p, type_, start)
    if type_ is None or type_.is_scalar:
        value = p.number() if type_ is not None or _NUMBER.match(p.text, p.pos) else None
        if value is None:
            p.fail("short forms like {a:1} need a type", "write it as tensor(x{}):{a:1}", AK327, start)
        p.expect("}", "after the scalar value")
        return Tensor.scalar(value or 0.0)
    if not type_.mapped_dimensions:
        p.fail(f"{type_} has no mapped dimension for the label", "write dense values as [...]", AK327, start)
    entries: list[tuple[tuple[str, ...], Any, int]] = []
    _parse_mapped_level(p, type_, (), entries)
    return _assemble_short(p, type_, entries)


def _parse_mapped_level(p: _Parser, type_: TensorType, prefix: tuple[str, ...],
                        entries: list[tuple[tuple[str, ...], Any, int]]) -> None:
    """`label: value, ...}` for the next mapped dimension; a value is a number, a dense list, or
    (for the next mapped dimension) a nested `{...}`. The opening brace is already read."""
    n_mapped = len(type_.mapped_dimensions)
    while True:
        at = p.pos
        lab = p.label()
        p.expect(":", f"after label '{lab}'")
        key = prefix + (lab,)
        c = p.peek()
        if c == "{" and len(key) < n_mapped:
            p.pos += 1
            _parse_mapped_level(p, type_, key, entries)
        elif c == "[":
            if len(key) != n_mapped:
                p.fail(f"'{lab}' needs labels for {n_mapped - len(key)} more mapped dimensions", None, AK327, at)
            values, shape, start = p.dense()
            entries.append((key, (values, shape, start), at))
        else:
            if len(key) != n_mapped:
                p.fail(f"'{lab}' needs labels for {n_mapped - len(key)} more mapped dimensions", None, AK327, at)
            entries.append((key, p.number(), at))
        if p.peek() == ",":
            p.pos += 1
            if p.peek() == "}":  # a trailing comma
                p.pos += 1
                return
            continue
        p.expect("}", "to close the cells")
        return


def _assemble_short(p: _Parser, type_: TensorType, entries: list[tuple[tuple[str, ...], Any, int]]) -> Tensor:
    indexed = _written(p, type_, mapped=False)
    mapped_names = [d.name for d in _written(p, type_, mapped=True)]
    label_order = [mapped_names.index(d.name) for d in type_.mapped_dimensions]
    blocks: list[np.ndarray] = []
    keys = []
    seen: set[tuple[str, ...]] = set()
    for key, value, at in entries:
        if key in seen:
            p.fail(f"the address {key} is given twice", None, AK320, at)
        seen.add(key)
        keys.append(tuple(key[i] for i in label_order))
        if isinstance(value, tuple):
            values, shape, start = value
            blocks.append(_to_canonical(_shape_values(p, type_, values, shape, start, indexed), indexed, type_))
        elif indexed and any(d.size != 1 for d in indexed):
            p.fail(f"'{key[-1]}' needs a list of {type_.dense_shape} values for the indexed dimensions",
                   "write e.g. a:[1,2]", AK324, at)
        else:
            blocks.append(np.full([1] * len(indexed), value))
    shapes = {b.shape for b in blocks}
    if len(shapes) > 1:
        p.fail("the dense blocks have different shapes", None, AK324)
    cells = np.stack(blocks) if blocks else np.zeros((0, *[d.size or 1 for d in indexed]))
    return Tensor.from_subspaces(type_, keys, cells)


def _parse_verbose(p: _Parser, type_: TensorType | None, start: int) -> Tensor:
    """`{{x:a,y:0}:1.0, ...}` (the first brace already read)."""
    cells: list[tuple[dict[str, str], float, int]] = []
    while True:
        at = p.pos
        p.expect("{", "to start a cell address")
        address: dict[str, str] = {}
        if p.peek() != "}":
            while True:
                dim_at = p.pos
                dim = p.label()
                p.expect(":", f"after dimension '{dim}'")
                if dim in address:
                    p.fail(f"dimension '{dim}' appears twice in the address", None, AK320, dim_at)
                address[dim] = p.label()
                if p.peek() == ",":
                    p.pos += 1
                    continue
                break
        p.expect("}", "to close the cell address")
        p.expect(":", "between the cell address and its value")
        cells.append((address, p.number(), at))
        if p.peek() == ",":
            p.pos += 1
            if p.peek() == "}":
                p.pos += 1
                break
            continue
        p.expect("}", "to close the cells")
        break
    if type_ is None:
        # untyped: the dimensions of the first address, all mapped (as Vespa's Java parser infers)
        names = list(cells[0][0])
        try:
            type_ = TensorType([Dimension(n, None, True) for n in names])
        except TensorTypeError as e:
            p.fail(str(e), None, AK320, start)
            raise AssertionError from e
    if type_.is_scalar and len(cells) == 1 and not cells[0][0]:
        return Tensor.scalar(cells[0][1])
    return build_from_addresses(type_, cells, p.text)


# --- printing ---------------------------------------------------------------------------------------

def format_number(value: float, cell_type: CellType = CellType.DOUBLE) -> str:
    """A cell value as Java's Double.toString writes it (shortest digits that read back exactly)."""
    if value != value:
        return "NaN"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        # Python's shortest repr is positional in this range, exactly Java's layout
        if cell_type is CellType.DOUBLE:
            return repr(float(value))
        return np.format_float_positional(np.float32(value), unique=True, trim="0")
    if magnitude == math.inf:
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    digits = repr(float(value)) if cell_type is CellType.DOUBLE else \
        np.format_float_scientific(np.float32(value), unique=True, trim="-")
    sign, ds, exp = Decimal(digits).as_tuple()
    assert isinstance(exp, int)
    mantissa = "".join(map(str, ds)).rstrip("0") or "0"
    e10 = len(ds) + exp - 1  # decimal exponent of the first digit
    return f"{'-' if sign else ''}{mantissa[0]}.{mantissa[1:] or '0'}E{e10}"


def format_label(label: str) -> str:
    if _PLAIN_LABEL.match(label):
        return label
    escaped = label.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def cell_strings(block: np.ndarray, cell_type: CellType) -> np.ndarray:
    """format_number over a whole array: numpy's shortest repr where it is already Java's layout."""
    values = block.astype(np.float64 if cell_type is CellType.DOUBLE else np.float32)
    out = values.astype(str)
    magnitude = np.abs(values)
    odd = ~((magnitude >= 1e-3) & (magnitude < 1e7)) | (np.char.find(out, "e") >= 0)
    if odd.any():
        out = out.astype(object)
        for i in zip(*np.nonzero(odd)):
            out[i] = format_number(float(values[i]), cell_type)
    return out


def _dense_text(block: np.ndarray, cell_type: CellType) -> str:
    return _nested_text(cell_strings(block, cell_type).tolist())


def _nested_text(strings: Any) -> str:
    if isinstance(strings, str):
        return strings
    if strings and isinstance(strings[0], list):
        return "[" + ", ".join(_nested_text(sub) for sub in strings) + "]"
    return "[" + ", ".join(strings) + "]"


def format_tensor(t: Tensor, short: bool = True, with_type: bool = True) -> str:
    """The tensor in literal form, as Vespa's Java `Tensor.toString(withType, shortForms)` prints it."""
    type_ = t.type
    prefix = f"{type_}:" if with_type else ""
    ct = type_.cell_type
    mapped = type_.mapped_dimensions
    if type_.is_scalar:
        return prefix + "{" + format_number(float(t.cells_array[0]), ct) + "}"
    if short and not mapped:
        return prefix + _dense_text(t.cells_array[0], ct)
    if short and len(mapped) == 1:
        if not type_.indexed_dimensions:
            body = ", ".join(f"{format_label(lab[0])}:{v}"
                             for lab, v in zip(t.labels, cell_strings(t.cells_array, ct).tolist()))
        else:
            body = ", ".join(f"{format_label(lab[0])}:{_subspace_text(block, ct)}"
                             for lab, block in zip(t.labels, t.cells_array))
        return prefix + "{" + body + "}"
    return prefix + "{" + ", ".join(
        "{" + ",".join(f"{k}:{format_label(str(v))}" for k, v in address.items()) + "}:" +
        format_number(value, ct) for address, value in t.cells()) + "}"


def _subspace_text(block: np.ndarray, cell_type: CellType) -> str:
    # Java prints a one-cell dense subspace as the bare number
    if block.size == 1:
        return format_number(float(block.reshape(-1)[0]), cell_type)
    return _dense_text(block, cell_type)
