"""Decoding the JSON that requests and document files carry.

Decoding dominates the cost of serving: a document of 784 floats takes the standard library about
250 µs, ten times what evaluating a small model takes. orjson (part of the `serve` extra) decodes
the same text ten times faster and to the same values, bit for bit. Whatever orjson refuses
(NaN and Infinity literals, numbers beyond double range, lone surrogates, a byte order mark) is
decoded again by the standard library, so what is accepted and what an error says never depend
on whether orjson is installed.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # the serve extra is not installed: the standard library does it all
    orjson = None  # type: ignore[assignment]


def loads(data: bytes | str) -> Any:
    """The value of a JSON text, as `json.loads` gives it; raises what `json.loads` raises.

    One difference: with orjson an integer beyond 64 bits is the nearest double, which is what a
    number field or a tensor cell makes of it anyway."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard library decides, and words the error
    return json.loads(data)
