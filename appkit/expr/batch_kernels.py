"""The numpy kernels of batch plans: cellwise functions with in-place forms, aggregations, and the
matrix product that a sum over a product join becomes (see compile.py, which builds plans from these).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from appkit.expr import functions as fn
from appkit.expr import ir
from appkit.tensor.type import CellType, TensorType
from appkit.tensor.value import to_cell_dtype

Array = np.ndarray

# A product with few output columns (a classifier's last layer) is computed in row blocks small enough
# that OpenBLAS runs each on the calling thread: its own threads spin while they wait, and on a shared,
# loaded machine that costs several times the product itself (measured: 18 ms instead of 48 ms for
# 10,000 x 784 x 10 at a load of 6 on 2 cores).
SKINNY_COLUMNS = 16
_BLAS_SINGLE_THREAD_WORK = 262144  # OpenBLAS multithreads a GEMM above m*n*k of about this


def skinny_matmul(x: Array, w: Array) -> Array:
    m = x.shape[0]
    if m <= 32:
        return np.matmul(x, w)
    k, n = w.shape
    rows = max(32, _BLAS_SINGLE_THREAD_WORK // max(1, n * k))
    if m <= rows:
        return np.matmul(x, w)
    out = np.empty((m, n), dtype=np.result_type(x.dtype, w.dtype))
    for i in range(0, m, rows):
        np.matmul(x[i:i + rows], w, out=out[i:i + rows])
    return out


def truth(c: Any) -> Any:
    return (np.asarray(c) != 0) & ~np.isnan(c)


def storage(t: TensorType) -> Callable[[Array], Array] | None:
    """The rounding to apply when a result is stored as bfloat16 or int8 (None for float and double)."""
    if t.cell_type in (CellType.BFLOAT16, CellType.INT8):
        return lambda a: to_cell_dtype(a, t.cell_type)
    return None


def _sigmoid_inplace(a: Array) -> Array:
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    return np.reciprocal(a, out=a)


UFUNCS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
INPLACE_UNARY: dict[str, Callable[[Array], Array]] = {
    "exp": lambda a: np.exp(a, out=a), "tanh": lambda a: np.tanh(a, out=a), "sqrt": lambda a: np.sqrt(a, out=a),
    "log": lambda a: np.log(a, out=a), "abs": lambda a: np.abs(a, out=a), "fabs": lambda a: np.abs(a, out=a),
    "relu": lambda a: np.maximum(a, 0, out=a), "sigmoid": _sigmoid_inplace, "square": lambda a: np.square(a, out=a),
}
AGGREGATE: dict[str, Callable[[Array, tuple[int, ...]], Array]] = {
    "sum": lambda a, axes: a.sum(axis=axes), "avg": lambda a, axes: a.mean(axis=axes),
    "prod": lambda a, axes: a.prod(axis=axes), "max": lambda a, axes: a.max(axis=axes),
    "min": lambda a, axes: a.min(axis=axes), "median": lambda a, axes: np.median(a, axis=axes),
    "count": lambda a, axes: np.full([s for i, s in enumerate(a.shape) if i not in axes],
                                     float(np.prod([a.shape[i] for i in axes])), dtype=a.dtype),
}


def simple_binary(lam: ir.Lambda) -> str | None:
    """'+' for f(a,b)(a + b) and the like: a lambda that is one operator applied to its parameters."""
    body = lam.body
    if len(lam.params) == 2 and isinstance(body, ir.BinaryOp) and isinstance(body.left, ir.Ref) and \
            isinstance(body.right, ir.Ref):
        if (body.left.name, body.right.name) == lam.params:
            return body.op
        if (body.right.name, body.left.name) == lam.params and body.op in ("+", "*"):
            return body.op
    return None


def simple_unary(lam: ir.Lambda) -> tuple[Callable[[Array], Array], Callable[[Array], Array] | None] | None:
    """For f(a)(relu(a)) and the like: the cellwise function and an in-place version."""
    body = lam.body
    if len(lam.params) == 1 and isinstance(body, ir.Call) and len(body.args) == 1 and \
            isinstance(body.args[0], ir.Ref) and body.args[0].name == lam.params[0] and body.name in fn.UNARY:
        return fn.UNARY[body.name], INPLACE_UNARY.get(body.name)
    return None


def product_operands(node: ir.Expr) -> tuple[ir.Expr, ir.Expr] | None:
    """(a, b) when node is a * b or join(a, b, f(x,y)(x * y))."""
    if isinstance(node, ir.BinaryOp) and node.op == "*":
        return node.left, node.right
    if isinstance(node, ir.Join) and simple_binary(node.fn) == "*":
        return node.left, node.right
    return None
