"""The kernels against Vespa's own results: the conformance cases whose expression is one primitive.

The expression evaluator runs the whole file; here each case of a single primitive (reduce, rename,
concat, map, join, a binary operator, generate) is mapped straight onto ops.py, so a kernel bug shows
up here with the primitive's name, independent of the expression parser.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from appkit.tensor import ops
from appkit.tensor.binary import decode_tensor
from appkit.tensor.type import TensorType
from tests.conftest import shared_path

UNARY = {
    "exp": np.exp, "cos": np.cos, "sin": np.sin, "tan": np.tan, "tanh": np.tanh, "cosh": np.cosh,
    "sinh": np.sinh, "sqrt": np.sqrt, "fabs": np.abs, "floor": np.floor, "ceil": np.ceil, "log": np.log,
    "log10": np.log10, "atan": np.arctan, "-a": np.negative, "(a+1)*2": lambda a: (a + 1) * 2,
    "relu": lambda a: np.maximum(a, 0), "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
}
BINARY = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "min": np.minimum, "max": np.maximum,
    "<": lambda a, b: a < b, ">": lambda a, b: a > b, "==": lambda a, b: a == b, "atan2": np.arctan2,
    "(a+b)/(a*b)": lambda a, b: (a + b) / (a * b),
}


def _kernel_for(expr: str):
    """A function of the inputs that computes `expr` with ops.py, or None if it is not one primitive."""
    if m := re.fullmatch(r"reduce\(a,(\w+)((?:,\w+)*)\)", expr):
        dims = [d for d in m.group(2).split(",") if d]
        return lambda t: ops.reduce(t["a"], m.group(1), dims)
    if m := re.fullmatch(r"reduce\(a\*b,(\w+)((?:,\w+)*)\)", expr):
        dims = [d for d in m.group(2).split(",") if d]
        return lambda t: ops.reduce(ops.join(t["a"], t["b"], np.multiply), m.group(1), dims)
    if m := re.fullmatch(r"rename\(a,\(?([\w,]+?)\)?,\(?([\w,]+?)\)?\)", expr):
        return lambda t: ops.rename(t["a"], m.group(1).split(","), m.group(2).split(","))
    if m := re.fullmatch(r"concat\(a,b,(\w+)\)", expr):
        return lambda t: ops.concat(t["a"], t["b"], m.group(1))
    if expr == "concat(concat(a,b,x),concat(c,d,x),y)":
        return lambda t: ops.concat(ops.concat(t["a"], t["b"], "x"), ops.concat(t["c"], t["d"], "x"), "y")
    if m := re.fullmatch(r"map\(a,f\(a\)\((\w+)\(a\)\)\)|map\(a,f\(a\)\((-a|\(a\+1\)\*2)\)\)", expr):
        fn = UNARY.get(m.group(1) or m.group(2))
        return fn and (lambda t: ops.map(t["a"], fn))
    if m := re.fullmatch(r"join\(a,b,f\(a,b\)\(a(.{1,2})b\)\)|a(.{1,2})b", expr):
        fn = BINARY.get(m.group(1) or m.group(2))
        return fn and (lambda t: ops.join(t["a"], t["b"], fn))
    if m := re.fullmatch(r"join\(a,b,f\(a,b\)\((\w+)\(a,b\)\)\)|join\(a,b,f\(a,b\)\((\(a\+b\)/\(a\*b\))\)\)", expr):
        fn = BINARY.get(m.group(1) or m.group(2))
        return fn and (lambda t: ops.join(t["a"], t["b"], fn))
    if m := re.fullmatch(r"(tensor(?:<\w+>)?\([^)]*\))\((.*)\)", expr):
        body = {"x+1": lambda x: x + 1, "x*4+(y+1)": lambda x, y: x * 4 + (y + 1),
                "x==y": lambda x, y: x == y}.get(m.group(2))
        return body and (lambda t: ops.generate(TensorType.parse(m.group(1)), body))
    return None


def _cases():
    path = shared_path("corpus", "tensor_conformance.jsonl")
    cases = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            case = json.loads(line)
            if "expression" in case and _kernel_for(case["expression"]) is not None:
                cases.append((n, case))
    return cases


def test_kernels_match_vespa_results():
    cases = _cases()
    assert len(cases) > 900, f"only {len(cases)} single-primitive cases found"
    failures = []
    for n, case in cases:
        inputs = {k: decode_tensor(v) for k, v in case["inputs"].items()}
        expected = decode_tensor(case["result"]["expect"])
        got = _kernel_for(case["expression"])(inputs)
        if not got.equals(expected, rel_tol=1e-6, abs_tol=1e-12):
            failures.append(f"line {n}: {case['expression']}: got {got}, expected {expected}")
    assert not failures, f"{len(failures)} of {len(cases)} cases differ:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("expr", ["reduce(a,sum,x)", "rename(a,(x,y),(y,x))", "concat(a,b,y)",
                                  "map(a,f(a)(exp(a)))", "a*b", "join(a,b,f(a,b)(atan2(a,b)))"])
def test_kernel_table_understands(expr):
    assert _kernel_for(expr) is not None
