"""Cellwise math of Vespa's expression language as vectorised numpy functions (the evaluator's kernels).

Kept apart from `appkit.expr.functions` (names, arities, type rules) so type checking, and with it
`appkit validate`, never imports numpy. Semantics follow Vespa's C++ `operation.cpp`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

Array = np.ndarray
Unary = Callable[[Array], Array]
Binary = Callable[[Array, Array], Array]


def _bool(mask: Array, like: Array) -> Array:
    """1.0/0.0 in the dtype of the operands (float32 stays float32)."""
    like = np.asarray(like)  # a Python float when one side is a lambda's number constant
    dtype = like.dtype if like.dtype.kind == "f" else np.float64
    return np.asarray(mask).astype(dtype)


def _common(a: Array, b: Array) -> Array:
    return a if np.asarray(a).dtype.itemsize >= np.asarray(b).dtype.itemsize else b


def _erf() -> Unary:
    try:  # scipy is optional; it gives a vectorised erf, math.erf is the exact fallback
        from scipy.special import erf as scipy_erf  # type: ignore[import-untyped]

        return lambda a: scipy_erf(a)
    except ImportError:  # pragma: no cover - depends on the environment
        scalar = np.frompyfunc(math.erf, 1, 1)
        return lambda a: scalar(a).astype(np.asarray(a).dtype if np.asarray(a).dtype.kind == "f" else np.float64)


def _int8(x: Array) -> Array:
    """C's (int8_t) conversion of a double: truncate, then wrap to 8 bits (NaN/inf count as 0)."""
    x = np.asarray(x, dtype=np.float64)
    clean = np.where(np.isfinite(x), x, 0.0)
    return np.trunc(clean).astype(np.int64).astype(np.int8)


def _bit(a: Array, b: Array) -> Array:
    value = _int8(a).astype(np.int64) & 0xFF
    n = np.asarray(b, dtype=np.float64)
    n = np.where(np.isfinite(n) & (n >= 0) & (n < 8), np.trunc(n), 8).astype(np.int64)
    hit = (n < 8) & (((value >> np.minimum(n, 7)) & 1) == 1)
    return _bool(hit, _common(np.asarray(a), np.asarray(b)))


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.float64)


def _hamming(a: Array, b: Array) -> Array:
    x = (_int8(a).astype(np.int64) ^ _int8(b).astype(np.int64)) & 0xFF
    out = _POPCOUNT8[x]
    return out.astype(_common(np.asarray(a), np.asarray(b)).dtype) if np.asarray(a).dtype.kind == "f" else out


def _ldexp(a: Array, b: Array) -> Array:
    # std::ldexp(a, (int) b): the exponent truncates toward zero; a NaN exponent acts as INT_MIN (x86)
    b = np.asarray(b, dtype=np.float64)
    exponent = np.where(np.isnan(b), -4096, np.clip(np.trunc(np.nan_to_num(b)), -4096, 4096)).astype(np.int32)
    a = np.asarray(a)
    out = np.ldexp(a.astype(np.float64), exponent)
    return out.astype(a.dtype) if a.dtype == np.float32 else out


def approx_equal(a: Array, b: Array) -> Array:
    """Vespa's `approx_equal` (`~=`): equal to about 23 bits, computed as vespalib does."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(all="ignore"):
        big = (a > 1.0) | (a < -1.0)
        frac = np.where(big, b / np.where(big, a, 1.0), 0.0).astype(np.float32)
        near_one = np.nextafter(frac, np.float32(1.0)) == np.float32(1.0)
        aa = a.astype(np.float32)
        small = aa == np.nextafter(b.astype(np.float32), aa)
    return (a == b) | np.where(big, near_one, small)


def _approx(a: Array, b: Array) -> Array:
    return _bool(approx_equal(a, b), _common(np.asarray(a), np.asarray(b)))


def _round(a: Array) -> Array:
    return np.floor(a + 0.5)  # Java's Math.round: half rounds up


def _sign(a: Array) -> Array:
    return np.where(a >= 0, 1.0, -1.0).astype(a.dtype)  # Java's Function.sign: NaN counts as negative


# Unary math functions by name (Vespa semantics; NaN handling as std::max/std::min etc.).
UNARY: dict[str, Unary] = {
    "abs": np.abs, "fabs": np.abs, "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan,
    "ceil": np.ceil, "floor": np.floor, "cos": np.cos, "cosh": np.cosh, "sin": np.sin, "sinh": np.sinh,
    "tan": np.tan, "tanh": np.tanh, "exp": np.exp, "log": np.log, "log10": np.log10, "sqrt": np.sqrt,
    "square": lambda a: a * a,
    "relu": lambda a: np.where(a < 0, np.zeros((), a.dtype), a),
    "sigmoid": lambda a: 1.0 / (1.0 + np.exp(-a)),
    "elu": lambda a: np.where(a < 0, np.exp(a) - 1, a),
    "isNan": lambda a: _bool(np.isnan(a), a),
    "erf": _erf(),
    "round": _round,
    "sign": _sign,
}

# Binary math functions by name.
BINARY: dict[str, Binary] = {
    "atan2": np.arctan2,
    "fmod": np.fmod,
    "ldexp": _ldexp,
    "pow": np.power,
    "max": lambda a, b: np.where(a < b, b, a),  # std::max: a NaN `a` wins, a NaN `b` loses
    "min": lambda a, b: np.where(b < a, b, a),  # std::min
    "bit": _bit,
    "hamming": _hamming,
}

# Binary operators (join semantics; comparisons and logic give 1.0/0.0).
OPERATORS: dict[str, Binary] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "%": np.fmod, "^": np.power,
    "==": lambda a, b: _bool(a == b, _common(a, b)),
    "!=": lambda a, b: _bool(a != b, _common(a, b)),
    "~=": _approx,
    "<": lambda a, b: _bool(a < b, _common(a, b)),
    "<=": lambda a, b: _bool(a <= b, _common(a, b)),
    ">": lambda a, b: _bool(a > b, _common(a, b)),
    ">=": lambda a, b: _bool(a >= b, _common(a, b)),
    "&&": lambda a, b: _bool((a != 0) & (b != 0), _common(a, b)),
    "||": lambda a, b: _bool((a != 0) | (b != 0), _common(a, b)),
}


def negate(a: Array) -> Array:
    return -a


def logical_not(a: Array) -> Array:
    return _bool(a == 0, a)  # Vespa: (a != 0) ? 0 : 1, so NaN gives 0
