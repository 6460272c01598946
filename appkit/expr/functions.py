"""The one table of the named functions of Vespa's expression language: math and tensor functions.

The type checker and the evaluator both look functions up here, so a function's arity, its meaning
and its type are written once. Cellwise math follows Vespa's C++ `operation.cpp` (and the Java
`Function` enum for the functions C++ lacks), vectorised over numpy arrays. Tensor functions that
Vespa defines as compositions (softmax, matmul, argmax, ...) are rewritten into the core primitives
by `lower`, exactly as Vespa's `CompositeTensorFunction.toPrimitive` does; the rest are primitives
of their own with a type rule here and a kernel in the evaluator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from appkit.expr import ir
from appkit.tensor.type import CellType, Dimension, TensorType

# The numpy kernels (UNARY, BINARY, OPERATORS, negate, logical_not, approx_equal) live in
# appkit/expr/math_kernels.py and are reached through this module lazily (see __getattr__ below).
_KERNEL_NAMES = frozenset({"UNARY", "BINARY", "OPERATORS", "negate", "logical_not", "approx_equal",
                           "Array", "Unary", "Binary"})


def __getattr__(name: str):  # PEP 562: only the evaluator pays for numpy
    if name in _KERNEL_NAMES:
        from appkit.expr import math_kernels

        return getattr(math_kernels, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def string_hash(text: str) -> float:
    """The number a string constant evaluates to: Java's `String.hashCode` (Vespa's Java evaluator)."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return float(h - (1 << 32) if h >= 1 << 31 else h)


# --- tensor functions -------------------------------------------------------------------------------


class FunctionUsageError(ValueError):
    """A named function called with the wrong arguments; `node` is the offending argument or call."""

    def __init__(self, message: str, node: ir.Node, hint: str | None = None):
        super().__init__(message)
        self.node = node
        self.hint = hint


@dataclass(frozen=True)
class TensorFunction:
    """One tensor function: its usage line and how many tensor and dimension arguments it takes.

    `tensors` expression arguments come first, then `dims` dimension names (a range: min, max; max
    None for "any number"). A composite function has `lower`, which rewrites the call into core
    primitives; the others are evaluated by a kernel of the evaluator and typed by `type_rule`.
    """

    name: str
    usage: str
    tensors: int
    dims: tuple[int, int | None] = (0, 0)
    type_arg: bool = False
    lower: Callable[[ir.Call, tuple[str, ...]], ir.Expr] | None = None
    type_rule: Callable[[ir.Call, Sequence[TensorType], tuple[str, ...]], TensorType] | None = None


def _lam2(op: str, span: object) -> ir.Lambda:
    a, b = ir.Ref("a", span=span), ir.Ref("b", span=span)
    return ir.Lambda(("a", "b"), ir.BinaryOp(op, a, b, span=span), span=span)


def _lam1(fn: str, span: object) -> ir.Lambda:
    return ir.Lambda(("a",), ir.Call(fn, (ir.Ref("a", span=span),), span=span), span=span)


def _join(a: ir.Expr, b: ir.Expr, op: str, span: object) -> ir.Join:
    return ir.Join(a, b, _lam2(op, span), span=span)


def _map(a: ir.Expr, fn: str, span: object) -> ir.Map:
    return ir.Map(a, _lam1(fn, span), span=span)


def _sum(a: ir.Expr, dims: tuple[str, ...], span: object) -> ir.Reduce:
    return ir.Reduce(a, "sum", dims, span=span)


def _lower_normalize(call: ir.Call, dims: tuple[str, ...]) -> ir.Expr:
    s, t = call.span, call.args[0]
    if call.name == "l1_normalize":
        return _join(t, _sum(t, dims, s), "/", s)
    if call.name == "l2_normalize":
        norm = _map(_sum(_map(t, "square", s), dims, s), "sqrt", s)
        return _join(t, norm, "/", s)
    # softmax; shifted by the maximum so large inputs do not overflow (same value as Vespa's
    # exp(t)/sum(exp(t)) wherever that one is finite)
    shifted = _join(t, ir.Reduce(t, "max", dims, span=s), "-", s)
    e = _map(shifted, "exp", s)
    return _join(e, _sum(e, dims, s), "/", s)


def _lower_pairwise(call: ir.Call, dims: tuple[str, ...]) -> ir.Expr:
    s = call.span
    a, b = call.args[0], call.args[1]
    if call.name == "matmul":
        return _sum(_join(a, b, "*", s), dims, s)
    if call.name == "xw_plus_b":
        return _join(_sum(_join(a, b, "*", s), dims, s), call.args[2], "+", s)
    if call.name == "euclidean_distance":
        return _map(_sum(_map(_join(a, b, "-", s), "square", s), dims, s), "sqrt", s)
    # cosine_similarity
    ab, aa, bb = (_sum(_join(x, y, "*", s), dims, s) for x, y in ((a, b), (a, a), (b, b)))
    return _join(ab, _map(_join(aa, bb, "*", s), "sqrt", s), "/", s)


def _lower_arg(call: ir.Call, dims: tuple[str, ...]) -> ir.Expr:
    s, t = call.span, call.args[0]
    aggregator = "max" if call.name == "argmax" else "min"
    return _join(t, ir.Reduce(t, aggregator, dims, span=s), "==", s)


def _lower_expand(call: ir.Call, dims: tuple[str, ...]) -> ir.Expr:
    s = call.span
    unit = ir.Generate(TensorType([Dimension.indexed(dims[0], 1)], CellType.INT8), ir.Number(1.0, span=s), span=s)
    return _join(unit, call.args[0], "*", s)


def _lower_generator(call: ir.Call, dims: tuple[str, ...]) -> ir.Expr:
    s, type_ = call.span, call.type_arg
    assert type_ is not None
    names = [ir.Ref(d.name, span=s) for d in type_.dimensions]
    if call.name == "range":  # each cell is the sum of its indexes
        body: ir.Expr = ir.Number(0.0, span=s)
        for i, ref in enumerate(names):
            body = ref if i == 0 else ir.BinaryOp("+", body, ref, span=s)
    elif call.name == "diag":  # 1 where all indexes are equal
        body = ir.Number(1.0, span=s)
        for left, right in zip(names, names[1:]):
            eq = ir.BinaryOp("==", left, right, span=s)
            body = eq if isinstance(body, ir.Number) else ir.BinaryOp("&&", body, eq, span=s)
    else:  # random: one uniform draw per cell
        body = ir.Call("random", (), span=s)
    return ir.Generate(type_, body, span=s)


def _lower_top(call: ir.Call, dims: tuple[str, ...]) -> ir.Expr:
    # Vespa's Top: keep the cells whose rank (cell_order max) is below n
    s = call.span
    n, t = call.args
    ranks = ir.Call("cell_order", (t, ir.Ref("max", span=s)), span=s)
    keep = _join(ranks, n, "<", s)
    kept = ir.FilterSubspaces(keep, ir.Lambda(("s",), ir.Ref("s", span=s), span=s), span=s)
    return _join(t, kept, "*", s)


def _cell_order_type(call: ir.Call, types: Sequence[TensorType], dims: tuple[str, ...]) -> TensorType:
    order = dims[0] if dims else ""
    if order not in ("max", "min"):
        raise FunctionUsageError(f"cell_order needs 'max' or 'min' as its order, not '{order}'",
                                 call.args[1] if len(call.args) > 1 else call, "write cell_order(t, max)")
    return types[0].map()


def unpack_bits_options(call: ir.Call) -> tuple[CellType, str]:
    """The target cell type and bit order of unpack_bits(t [, cell type [, big|little]])."""
    names = [a.name if isinstance(a, ir.Ref) else None for a in call.args[1:]]
    cell = CellType.FLOAT
    endian = "big"
    if names:
        if names[0] is None or names[0] not in {c.value for c in CellType}:
            raise FunctionUsageError(f"unpack_bits needs a cell type as its second argument, not {names[0]!r}",
                                     call.args[1], "write e.g. unpack_bits(t, float, big)")
        cell = CellType(names[0])
    if len(names) > 1:
        if names[1] not in ("big", "little"):
            raise FunctionUsageError(f"unpack_bits bit order must be 'big' or 'little', not {names[1]!r}",
                                     call.args[2], "write unpack_bits(t, float, big) or (t, float, little)")
        endian = names[1]
    return cell, endian


def _unpack_bits_type(call: ir.Call, types: Sequence[TensorType], dims: tuple[str, ...]) -> TensorType:
    t = types[0]
    cell, _ = unpack_bits_options(call)
    if t.cell_type is not CellType.INT8:
        raise FunctionUsageError(f"unpack_bits needs int8 cells, but its argument has type {t}", call.args[0],
                                 "cell_cast the argument to int8 first")
    indexed = t.indexed_dimensions
    if not indexed or indexed[-1].size is None:
        raise FunctionUsageError(f"unpack_bits needs a bound last indexed dimension, but its argument has type {t}",
                                 call.args[0])
    last = indexed[-1]
    dims_out = [Dimension.indexed(d.name, d.size * 8) if d.name == last.name else d  # type: ignore[operator]
                for d in t.dimensions]
    return TensorType(dims_out, cell)


def _random_type(call: ir.Call, types: Sequence[TensorType], dims: tuple[str, ...]) -> TensorType:
    return TensorType.scalar()  # random() without a type: the `random` rank feature, one number


TENSOR_FUNCTIONS: dict[str, TensorFunction] = {f.name: f for f in [
    TensorFunction("l1_normalize", "l1_normalize(t, dim)", 1, (1, 1), lower=_lower_normalize),
    TensorFunction("l2_normalize", "l2_normalize(t, dim)", 1, (1, 1), lower=_lower_normalize),
    TensorFunction("softmax", "softmax(t, dim)", 1, (1, 1), lower=_lower_normalize),
    TensorFunction("matmul", "matmul(a, b, dim)", 2, (1, 1), lower=_lower_pairwise),
    TensorFunction("euclidean_distance", "euclidean_distance(a, b, dim)", 2, (1, 1), lower=_lower_pairwise),
    TensorFunction("cosine_similarity", "cosine_similarity(a, b, dim)", 2, (1, 1), lower=_lower_pairwise),
    TensorFunction("xw_plus_b", "xw_plus_b(x, w, b, dim)", 3, (1, 1), lower=_lower_pairwise),
    TensorFunction("argmax", "argmax(t [, dim...])", 1, (0, None), lower=_lower_arg),
    TensorFunction("argmin", "argmin(t [, dim...])", 1, (0, None), lower=_lower_arg),
    TensorFunction("expand", "expand(t, dim)", 1, (1, 1), lower=_lower_expand),
    TensorFunction("range", "range(tensor type)", 0, type_arg=True, lower=_lower_generator),
    TensorFunction("diag", "diag(tensor type)", 0, type_arg=True, lower=_lower_generator),
    TensorFunction("random", "random(tensor type)", 0, type_arg=True, lower=_lower_generator,
                   type_rule=_random_type),
    TensorFunction("top", "top(n, t)", 2, lower=_lower_top),
    TensorFunction("cell_order", "cell_order(t, max|min)", 1, (1, 1), type_rule=_cell_order_type),
    TensorFunction("unpack_bits", "unpack_bits(t [, cell type [, big|little]])", 1, (0, 2),
                   type_rule=_unpack_bits_type),
]}


def dimension_arguments(call: ir.Call, spec: TensorFunction) -> tuple[str, ...]:
    """Check a tensor function's argument count and return its dimension-name arguments."""
    if spec.type_arg and call.type_arg is None and spec.type_rule is None:
        raise FunctionUsageError(f"{spec.name} needs a tensor type, as in {spec.usage}", call,
                                 f"write e.g. {spec.name}(x[3])")
    if spec.type_arg:
        if call.args:
            raise FunctionUsageError(f"{spec.name} takes only a tensor type, as in {spec.usage}", call.args[0])
        return ()
    lo, hi = spec.dims
    n = len(call.args)
    if n < spec.tensors + lo or (hi is not None and n > spec.tensors + hi):
        raise FunctionUsageError(f"{spec.name} takes {_count(spec)}, but got {n}", call, f"write {spec.usage}")
    names: list[str] = []
    for arg in call.args[spec.tensors:]:
        if not isinstance(arg, ir.Ref):
            raise FunctionUsageError(f"argument {len(names) + spec.tensors + 1} of {spec.name} must be a dimension "
                                     "name", arg, f"write {spec.usage}")
        names.append(arg.name)
    return tuple(names)


def _count(spec: TensorFunction) -> str:
    lo, hi = spec.dims
    total_lo = spec.tensors + lo
    if hi is None:
        return f"at least {total_lo} arguments"
    total_hi = spec.tensors + hi
    return f"{total_lo} argument{'s' if total_lo != 1 else ''}" if total_lo == total_hi else \
        f"{total_lo} to {total_hi} arguments"


def lower_call(call: ir.Call) -> ir.Expr | None:
    """The core-primitive expression a composite tensor function stands for (None if it is a primitive)."""
    spec = TENSOR_FUNCTIONS.get(call.name)
    if spec is None or spec.lower is None:
        return None
    if spec.name == "random" and call.type_arg is None:
        return None
    dims = dimension_arguments(call, spec)
    return spec.lower(call, dims)


def reduce_if_dimension(call: ir.Call, first_type: TensorType) -> ir.Reduce | None:
    """`max(t, x)`/`min(t, x)` mean reduce(t, max, x) when x names a dimension of t (Vespa's
    TensorMaxMinTransformer); otherwise they are the binary math functions."""
    if call.name not in ("max", "min") or len(call.args) != 2:
        return None
    dim = call.args[1]
    if isinstance(dim, ir.Ref) and first_type.has(dim.name):
        return ir.Reduce(call.args[0], call.name, (dim.name,), span=call.span)
    return None


def math_arity(name: str) -> int | None:
    """1 or 2 for a math function, None for a name that is not one."""
    if name in ir.UNARY_FUNCTIONS:
        return 1
    if name in ir.BINARY_FUNCTIONS:
        return 2
    return None


__all__ = [
    "UNARY", "BINARY", "OPERATORS", "TENSOR_FUNCTIONS", "TensorFunction", "FunctionUsageError", "approx_equal",
    "string_hash", "negate", "logical_not", "lower_call", "reduce_if_dimension", "dimension_arguments",
    "unpack_bits_options", "math_arity",
]
