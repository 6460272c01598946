"""The cell functions of imported ops: each is a lambda body for Vespa (map/join) and the numpy function
that folds it at import time; lower.binary and lower.unary look them up by name."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from appkit.expr import ir


def num(x: float) -> ir.Number:
    return ir.Number(float(x))


def call(name: str, *args: ir.Expr) -> ir.Call:
    return ir.Call(name, tuple(args))


def _bin(op: str) -> Callable[[ir.Expr, ir.Expr], ir.Expr]:
    return lambda a, b: ir.BinaryOp(op, a, b)


def _fn(name: str) -> Callable[..., ir.Expr]:
    return lambda *args: ir.Call(name, tuple(args))


def _int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return np.trunc(np.divide(a, b)).astype(np.result_type(a, b))
    return np.divide(a, b)


def _xor_body(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.BinaryOp("!=", ir.BinaryOp("!=", a, num(0)), ir.BinaryOp("!=", b, num(0)))


def _mod_body(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    """Python's % (the sign of the divisor): fmod, moved by one divisor when the signs differ."""
    r = call("fmod", a, b)
    differ = ir.BinaryOp("&&", ir.BinaryOp("!=", r, num(0)),
                         ir.BinaryOp("!=", ir.BinaryOp("<", r, num(0)), ir.BinaryOp("<", b, num(0))))
    return ir.If(differ, ir.BinaryOp("+", r, b), r)


def _prelu_body(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.If(ir.BinaryOp("<", a, num(0)), ir.BinaryOp("*", a, b), a)


# name -> (lambda body from two parameter expressions, numpy function)
BINARY: dict[str, tuple[Callable[[ir.Expr, ir.Expr], ir.Expr], Callable[[Any, Any], Any]]] = {
    "add": (_bin("+"), np.add),
    "sub": (_bin("-"), np.subtract),
    "mul": (_bin("*"), np.multiply),
    "div": (_bin("/"), _int_div),
    "pow": (_fn("pow"), lambda a, b: np.power(a, b) if a.dtype.kind == "f" else np.power(a.astype(np.float64), b).astype(a.dtype)),
    "max": (_fn("max"), np.maximum),
    "min": (_fn("min"), np.minimum),
    "fmod": (_fn("fmod"), np.fmod),
    # scatter reductions: an update where the 0/1 hit matrix says so, else the reduction's identity
    # (+-1e308 becomes +-inf in float cells, and exceeds every double a model holds)
    "pick_or_one": (lambda a, b: ir.If(ir.BinaryOp("!=", a, num(0)), b, num(1)), lambda a, b: np.where(a != 0, b, 1)),
    "pick_or_low": (lambda a, b: ir.If(ir.BinaryOp("!=", a, num(0)), b, num(-1e308)),
                    lambda a, b: np.where(a != 0, b, -np.inf)),
    "pick_or_high": (lambda a, b: ir.If(ir.BinaryOp("!=", a, num(0)), b, num(1e308)),
                     lambda a, b: np.where(a != 0, b, np.inf)),
    "div_or_zero": (lambda a, b: ir.If(ir.BinaryOp("==", b, num(0)), num(0), ir.BinaryOp("/", a, b)),
                    lambda a, b: np.divide(a, np.where(b == 0, 1, b)) * (b != 0)),
    "mod": (_mod_body, np.mod),
    "atan2": (_fn("atan2"), np.arctan2),
    "squared_difference": (lambda a, b: ir.BinaryOp("*", ir.BinaryOp("-", a, b), ir.BinaryOp("-", a, b)),
                           lambda a, b: np.square(a - b)),
    "equal": (_bin("=="), np.equal),
    "not_equal": (_bin("!="), np.not_equal),
    "greater": (_bin(">"), np.greater),
    "greater_equal": (_bin(">="), np.greater_equal),
    "less": (_bin("<"), np.less),
    "less_equal": (_bin("<="), np.less_equal),
    "and": (_bin("&&"), np.logical_and),
    "or": (_bin("||"), np.logical_or),
    "xor": (_xor_body, np.logical_xor),
    "prelu": (_prelu_body, lambda a, b: np.where(a < 0, a * b, a)),
    # where(): if(c, x, 0) + if(c, 0, y) stays exact when the unpicked side is inf or nan
    "select_true": (lambda a, b: ir.If(ir.BinaryOp("!=", a, num(0)), b, num(0)), lambda a, b: np.where(a != 0, b, 0)),
    "select_false": (lambda a, b: ir.If(ir.BinaryOp("!=", a, num(0)), num(0), b), lambda a, b: np.where(a != 0, 0, b)),
}


def _if(cond: ir.Expr, t: ir.Expr, f: ir.Expr) -> ir.Expr:
    return ir.If(cond, t, f)


def _round_half_even(a: ir.Expr) -> ir.Expr:
    return _if(ir.BinaryOp("==", ir.BinaryOp("-", a, call("floor", a)), num(0.5)),
               ir.BinaryOp("*", num(2), call("round", ir.BinaryOp("/", a, num(2)))), call("round", a))


def _trunc(a: ir.Expr) -> ir.Expr:
    return _if(ir.BinaryOp("<", a, num(0)), call("ceil", a), call("floor", a))


def _sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _erf_np(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def _unary_table() -> dict[str, tuple[Callable[..., ir.Expr], Callable[..., Any]]]:
    t: dict[str, tuple[Callable[..., ir.Expr], Callable[..., Any]]] = {}
    simple = {"abs": np.abs, "acos": np.arccos, "asin": np.arcsin, "atan": np.arctan, "ceil": np.ceil,
              "cos": np.cos, "cosh": np.cosh, "exp": np.exp, "floor": np.floor, "log": np.log, "sin": np.sin,
              "sinh": np.sinh, "sqrt": np.sqrt, "tan": np.tan, "tanh": np.tanh, "erf": _erf_np,
              "sigmoid": _sigmoid_np, "relu": lambda x: np.maximum(x, 0), "square": np.square,
              }
    for name, f in simple.items():
        t[name] = (lambda a, _n=name: call(_n, a), f)
    t["neg"] = (lambda a: ir.Neg(a), np.negative)
    t["sign"] = (lambda a: _if(ir.BinaryOp(">", a, num(0)), num(1), _if(ir.BinaryOp("<", a, num(0)), num(-1), a)), np.sign)
    t["reciprocal"] = (lambda a: ir.BinaryOp("/", num(1), a), lambda x: 1 / x)
    t["rsqrt"] = (lambda a: ir.BinaryOp("/", num(1), call("sqrt", a)), lambda x: 1 / np.sqrt(x))
    t["acosh"] = (lambda a: call("log", ir.BinaryOp("+", a, call("sqrt", ir.BinaryOp("-", ir.BinaryOp("*", a, a), num(1))))),
                  np.arccosh)
    t["asinh"] = (lambda a: call("log", ir.BinaryOp("+", a, call("sqrt", ir.BinaryOp("+", ir.BinaryOp("*", a, a), num(1))))),
                  np.arcsinh)
    t["atanh"] = (lambda a: ir.BinaryOp("*", num(0.5), call("log", ir.BinaryOp(
        "/", ir.BinaryOp("+", num(1), a), ir.BinaryOp("-", num(1), a)))), np.arctanh)
    # inf - inf is nan while nan == nan is false: no infinity literal needed
    t["is_inf"] = (lambda a, positive=1.0, negative=1.0: _is_inf_body(a, positive, negative),
                   lambda x, positive=1.0, negative=1.0: np.isinf(x) & (((x > 0) & bool(positive)) | ((x < 0) & bool(negative))))
    t["log1p"] = (lambda a: call("log", ir.BinaryOp("+", num(1), a)), np.log1p)
    t["expm1"] = (lambda a: ir.BinaryOp("-", call("exp", a), num(1)), np.expm1)
    t["not"] = (lambda a: ir.BinaryOp("==", a, num(0)), np.logical_not)
    t["round"] = (_round_half_even, np.round)
    t["trunc"] = (_trunc, np.trunc)
    t["is_nan"] = (lambda a: call("isNan", a), np.isnan)
    t["softplus"] = (lambda a: call("log", ir.BinaryOp("+", num(1), call("exp", a))), lambda x: np.log1p(np.exp(x)))
    t["softsign"] = (lambda a: ir.BinaryOp("/", a, ir.BinaryOp("+", num(1), call("abs", a))), lambda x: x / (1 + np.abs(x)))
    t["elu"] = (lambda a, alpha=1.0: _if(ir.BinaryOp("<", a, num(0)),
                                          ir.BinaryOp("*", num(alpha), ir.BinaryOp("-", call("exp", a), num(1))), a),
                lambda x, alpha=1.0: np.where(x < 0, alpha * (np.exp(x) - 1), x))
    t["selu"] = (lambda a, alpha=1.6732632423543772, gamma=1.0507009873554805: ir.BinaryOp(
        "*", num(gamma), _if(ir.BinaryOp("<=", a, num(0)),
                             ir.BinaryOp("*", num(alpha), ir.BinaryOp("-", call("exp", a), num(1))), a)),
        lambda x, alpha=1.6732632423543772, gamma=1.0507009873554805: gamma * np.where(x <= 0, alpha * (np.exp(x) - 1), x))
    t["leaky_relu"] = (lambda a, alpha=0.01: _if(ir.BinaryOp("<", a, num(0)), ir.BinaryOp("*", num(alpha), a), a),
                       lambda x, alpha=0.01: np.where(x < 0, alpha * x, x))
    t["relu6"] = (lambda a: call("min", call("max", a, num(0)), num(6)), lambda x: np.clip(x, 0, 6))
    t["hard_sigmoid"] = (lambda a, alpha=0.2, beta=0.5: call("max", num(0), call("min", num(1), ir.BinaryOp(
        "+", ir.BinaryOp("*", num(alpha), a), num(beta)))),
        lambda x, alpha=0.2, beta=0.5: np.clip(alpha * x + beta, 0, 1))
    t["hard_swish"] = (lambda a: ir.BinaryOp("*", a, call("max", num(0), call("min", num(1), ir.BinaryOp(
        "+", ir.BinaryOp("/", a, num(6)), num(0.5))))), lambda x: x * np.clip(x / 6 + 0.5, 0, 1))
    t["gelu"] = (lambda a: ir.BinaryOp("*", ir.BinaryOp("*", num(0.5), a), ir.BinaryOp(
        "+", num(1), call("erf", ir.BinaryOp("/", a, num(math.sqrt(2)))))),
        lambda x: 0.5 * x * (1 + _erf_np(x / math.sqrt(2))))
    t["gelu_tanh"] = (_gelu_tanh_body, lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))))
    t["clip"] = (lambda a, lo=-math.inf, hi=math.inf: _clip_body(a, lo, hi),
                 lambda x, lo=-math.inf, hi=math.inf: np.clip(x, lo, hi))
    t["thresholded_relu"] = (lambda a, alpha=1.0: _if(ir.BinaryOp(">", a, num(alpha)), a, num(0)),
                             lambda x, alpha=1.0: np.where(x > alpha, x, 0))
    t["celu"] = (lambda a, alpha=1.0: ir.BinaryOp("+", call("max", num(0), a), call("min", num(0), ir.BinaryOp(
        "*", num(alpha), ir.BinaryOp("-", call("exp", ir.BinaryOp("/", a, num(alpha))), num(1))))),
        lambda x, alpha=1.0: np.maximum(0, x) + np.minimum(0, alpha * (np.exp(x / alpha) - 1)))
    t["mish"] = (lambda a: ir.BinaryOp("*", a, call("tanh", call("log", ir.BinaryOp("+", num(1), call("exp", a))))),
                 lambda x: x * np.tanh(np.log1p(np.exp(x))))
    t["affine"] = (lambda a, alpha=1.0, beta=0.0: ir.BinaryOp("+", ir.BinaryOp("*", num(alpha), a), num(beta)),
                   lambda x, alpha=1.0, beta=0.0: alpha * x + beta)
    return t


def _is_inf_body(a: ir.Expr, positive: float, negative: float) -> ir.Expr:
    infinite = ir.BinaryOp("&&", ir.BinaryOp("!=", ir.BinaryOp("-", a, a), ir.BinaryOp("-", a, a)), ir.BinaryOp("==", a, a))
    if positive and negative:
        return infinite
    if not positive and not negative:
        return ir.BinaryOp("*", a, num(0))
    return ir.BinaryOp("&&", infinite, ir.BinaryOp(">" if positive else "<", a, num(0)))


def _gelu_tanh_body(a: ir.Expr) -> ir.Expr:
    cube = ir.BinaryOp("*", a, ir.BinaryOp("*", a, a))
    inner = ir.BinaryOp("*", num(math.sqrt(2 / math.pi)), ir.BinaryOp("+", a, ir.BinaryOp("*", num(0.044715), cube)))
    return ir.BinaryOp("*", ir.BinaryOp("*", num(0.5), a), ir.BinaryOp("+", num(1), call("tanh", inner)))


def _clip_body(a: ir.Expr, lo: float, hi: float) -> ir.Expr:
    body = a  # min(max(a, lo), hi): when lo > hi the result is hi, as numpy.clip and ONNX give
    if lo != -math.inf:
        body = call("max", body, num(lo))
    if hi != math.inf:
        body = call("min", body, num(hi))
    return body


UNARY = _unary_table()
