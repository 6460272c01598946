"""Tensor literals in expressions, normalised to cells: `tensor(x{}):{a:1}`, `tensor(x[2],y[3]):[[..],[..]]`,
mixed `tensor(x{},y[2]):{a:[1,2]}`, verbose `{{x:a,y:0}:1}` (typed or not), with Vespa's checks.

Nested forms follow the dimensions in the order they are *written* in the type (Vespa's rule:
`tensor(y[2],x[3]):[[...3 values...],[...]]` has y outermost), mapped dimensions before indexed ones.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence, Union

from appkit.expr import ir
from appkit.expr.parse_errors import AK308, AK309, ExpressionSyntaxError
from appkit.source import Span
from appkit.tensor.type import Dimension, TensorType

_WHOLE_NUMBER = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class LiteralLabel:
    """A label as written in a literal: `a`, `0`, `-2`, `'key2.[]'` (text without quotes)."""

    text: str
    span: Span


@dataclass(frozen=True)
class DenseArray:
    items: tuple[Union[ir.Node, "DenseArray"], ...]
    span: Span


@dataclass(frozen=True)
class ShortMap:
    cells: tuple[tuple[LiteralLabel, Union[ir.Node, DenseArray, "ShortMap"]], ...]
    span: Span


@dataclass(frozen=True)
class Address:
    pairs: tuple[tuple[str, LiteralLabel], ...]
    span: Span


@dataclass(frozen=True)
class VerboseBody:
    cells: tuple[tuple[Address, ir.Node], ...]
    span: Span


Body = Union[DenseArray, ShortMap, VerboseBody]
Cells = list[tuple[ir.Address, ir.Node]]


def build_literal(ttype: TensorType, written: Sequence[Dimension], body: Body, span: Span) -> ir.TensorLiteral:
    """The literal `ttype:body`; `written` holds the type's dimensions in the order the user wrote them."""
    mapped = [d for d in written if d.mapped]
    indexed = [d for d in written if not d.mapped]
    if isinstance(body, VerboseBody):
        cells = _verbose_cells(ttype, body)
    elif isinstance(body, DenseArray):
        if mapped:
            raise ExpressionSyntaxError(
                AK308, f"{ttype} has mapped dimension {mapped[0]}, which a dense [...] literal cannot label",
                body.span, f"label the cells: {ttype}:{{a:..., b:...}} or {{{{{mapped[0].name}:a}}:...}}")
        cells = _dense_cells(ttype, indexed, (), body, None)
    else:
        cells = _short_cells(ttype, mapped, indexed, (), body)
    return ir.TensorLiteral(ttype, tuple(cells), span=span)


def build_untyped_literal(body: VerboseBody, span: Span) -> ir.TensorLiteral:
    """`{{x:a,y:0}:1, ...}`: every cell must name the same dimensions; labels are kept as written."""
    cells: Cells = []
    names: set[str] | None = None
    for address, value in body.cells:
        seen = _address_labels(address, None)
        if names is None:
            names = set(seen)
        elif set(seen) != names:
            raise ExpressionSyntaxError(
                AK309, f"this cell names dimensions {_names(seen)} but the first cell names {_names(names)}",
                address.span, "give every cell of the tensor the same dimensions")
        cells.append((tuple(sorted(seen.items())), value))
    return ir.TensorLiteral(None, tuple(cells), span=span)


def _names(names) -> str:
    return "{" + ",".join(sorted(names)) + "}"


def _address_labels(address: Address, ttype: TensorType | None) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name, label in address.pairs:
        if name in seen:
            raise ExpressionSyntaxError(AK309, f"dimension '{name}' appears twice in this address", label.span,
                                        f"give '{name}' one label")
        if ttype is None:
            seen[name] = label.text
            continue
        dim = ttype.dimension(name)
        if dim is None:
            raise ExpressionSyntaxError(AK309, f"{ttype} has no dimension '{name}'", label.span,
                                        f"use the type's dimensions: {', '.join(ttype.dimension_names) or 'none'}")
        seen[name] = normalise_label(dim, label)
    return seen


def _verbose_cells(ttype: TensorType, body: VerboseBody) -> Cells:
    cells: Cells = []
    for address, value in body.cells:
        seen = _address_labels(address, ttype)
        missing = [n for n in ttype.dimension_names if n not in seen]
        if missing:
            raise ExpressionSyntaxError(AK309, f"this address gives no label for dimension '{missing[0]}' of {ttype}",
                                        address.span, f"name every dimension: {{{','.join(n + ':...' for n in ttype.dimension_names)}}}")
        cells.append((tuple(sorted(seen.items())), value))
    return cells


def normalise_label(dim: Dimension, label: LiteralLabel) -> str:
    """Mapped labels as written; indexed labels as decimal strings within the dimension's size."""
    if dim.mapped:
        return label.text
    if not _WHOLE_NUMBER.fullmatch(label.text):
        raise ExpressionSyntaxError(AK309, f"indexed dimension {dim} takes whole-number labels, not '{label.text}'",
                                    label.span, f"use 0 to {dim.size - 1 if dim.size else 'its size - 1'}, or make the dimension mapped: {dim.name}{{}}")
    index = int(label.text)
    if dim.size is not None and index >= dim.size:
        raise ExpressionSyntaxError(AK309, f"label {index} is outside dimension {dim} (labels 0 to {dim.size - 1})",
                                    label.span, f"use a label below {dim.size}")
    return str(index)


def flatten(array: DenseArray) -> list[ir.Node]:
    """The values of a dense array in written order, nesting ignored (as Vespa counts them); iterative."""
    out: list[ir.Node] = []
    stack = [iter(array.items)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, DenseArray):
                stack.append(iter(item.items))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _dense_cells(ttype: TensorType, dims: Sequence[Dimension], prefix: tuple[tuple[str, str], ...],
                 array: DenseArray, where: LiteralLabel | None) -> Cells:
    unbound = [d for d in dims if d.size is None]
    if unbound:
        raise ExpressionSyntaxError(AK308, f"dimension {unbound[0]} of {ttype} has no size, so [...] cannot fill it",
                                    array.span, f"give it a size, e.g. {unbound[0].name}[3], or list cells in the {{...}} form")
    values = flatten(array)
    need = math.prod(d.size or 0 for d in dims)
    if len(values) != need:
        at = f"the dense subspace at '{where.text}' of " if where is not None else ""
        raise ExpressionSyntaxError(AK308, f"{at}{ttype} needs {need} values, got {len(values)}", array.span,
                                    f"give {need} values, in the order of the dimensions as written ({', '.join(map(str, dims))})")
    cells: Cells = []
    for flat, value in enumerate(values):
        labels = []
        for d in reversed(dims):  # row-major: the last written dimension varies fastest
            flat, index = divmod(flat, d.size or 1)
            labels.append((d.name, str(index)))
        cells.append((tuple(sorted(prefix + tuple(labels))), value))
    return cells


def _short_cells(ttype: TensorType, mapped: Sequence[Dimension], indexed: Sequence[Dimension],
                 prefix: tuple[tuple[str, str], ...], smap: ShortMap) -> Cells:
    if mapped:
        dim, mapped, rest_indexed = mapped[0], mapped[1:], indexed
    elif indexed:
        dim, rest_indexed = indexed[0], indexed[1:]  # {0:1, 1:2} labels an indexed dimension too
    else:
        raise ExpressionSyntaxError(AK308, f"{ttype} has no dimension left for this {{...}} level", smap.span,
                                    "remove a level of braces")
    cells: Cells = []
    for label, value in smap.cells:
        here = prefix + ((dim.name, normalise_label(dim, label)),)
        if isinstance(value, ShortMap):
            cells.extend(_short_cells(ttype, mapped, rest_indexed, here, value))
        elif isinstance(value, DenseArray):
            if mapped:
                raise ExpressionSyntaxError(AK308, f"the cell at '{label.text}' needs labels for {mapped[0]} before dense values",
                                            value.span, f"nest a map: {label.text}:{{label:[...]}}")
            cells.extend(_dense_cells(ttype, rest_indexed, here, value, label))
        else:
            remaining = list(mapped) + list(rest_indexed)
            if remaining:
                raise ExpressionSyntaxError(AK308, f"the cell at '{label.text}' needs values along {', '.join(map(str, remaining))} of {ttype}",
                                            label.span, "give a nested {...} for mapped or [...] for indexed dimensions")
            cells.append((tuple(sorted(here)), value))
    return cells
