"""Rewrite expression trees bottom-up (frozen dataclasses are rebuilt only where something changed)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from appkit.expr import ir


def transform(node: ir.Node, fn: Callable[[ir.Node], ir.Node | None]) -> ir.Node:
    """Apply `fn` to every node, children first; `fn` returns a replacement or None to keep the node."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        new = _transform_value(value, fn)
        if new is not value:
            changes[f.name] = new
    rebuilt = dataclasses.replace(node, **changes) if changes else node
    replaced = fn(rebuilt)
    return rebuilt if replaced is None else replaced


def _transform_value(value: Any, fn: Callable[[ir.Node], ir.Node | None]) -> Any:
    if isinstance(value, ir.Node):
        return transform(value, fn)
    if isinstance(value, tuple):
        items = [_transform_value(v, fn) for v in value]
        if any(a is not b for a, b in zip(items, value)):
            return tuple(items)
    return value
