"""Property tests: random IR trees print and parse back to themselves; mangled corpus expressions never
raise anything but ExpressionSyntaxError (and what does parse still prints back to itself)."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appkit.expr import ir
from appkit.expr.parse import ExpressionSyntaxError, parse_expression
from appkit.expr.printer import print_expression
from appkit.tensor.type import CellType, Dimension, TensorType
from tests.conftest import shared_path

_RESERVED = (ir.UNARY_FUNCTIONS | ir.BINARY_FUNCTIONS | ir.TENSOR_FUNCTIONS | set(ir.AGGREGATORS)
             | {"if", "map", "join", "merge", "reduce", "rename", "concat", "cell_cast", "map_subspaces",
                "filter_subspaces", "true", "false", "f", "tensor", "switch"})
KEYWORDISH = ["tensor", "switch", "in", "case", "default", "if", "f", "random", "sum", "max", "range", "x", "GENDER$"]
names = st.one_of(st.from_regex(r"[a-zA-Z_@][a-zA-Z0-9_@$]{0,5}", fullmatch=True),
                  st.sampled_from(KEYWORDISH)).filter(lambda n: n not in ("true", "false"))
feature_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in _RESERVED)
dim_names = st.sampled_from(["x", "y", "z", "d0", "d10", "cat"])
numbers = st.floats(allow_nan=False).map(ir.Number)  # infinity prints as 1e999
strings = st.text(max_size=8).map(ir.String)
labels = st.one_of(st.sampled_from(["a", "b", "0", "12", "-2", "1.5", "x-y", "with space", "it's", 'q"uote', "", "é",
                                    "tensor", "in"]), st.text(max_size=5))
dotted = st.builds(lambda a, b: f"{a}.{b}", names, st.one_of(names, st.integers(0, 99).map(str)))
refs = st.one_of(names, dotted).map(ir.Ref)
leaves = st.one_of(numbers, strings, refs)


@st.composite
def tensor_types(draw, bound_only: bool = False, max_dims: int = 3) -> TensorType:
    dims = []
    for name in draw(st.lists(dim_names, max_size=max_dims, unique=True)):
        if not bound_only and draw(st.booleans()):
            dims.append(Dimension.mapped_dim(name))
        else:
            dims.append(Dimension.indexed(name, draw(st.integers(1, 3))))
    return TensorType(dims, draw(st.sampled_from(list(CellType))))


@st.composite
def literals(draw, values) -> ir.TensorLiteral:
    if draw(st.booleans()):  # untyped: mapped dimensions only, the same ones in every cell
        dims = draw(st.lists(dim_names, min_size=1, max_size=2, unique=True))
        cells = draw(st.lists(st.tuples(st.tuples(*[labels] * len(dims)), values), max_size=3))
        return ir.TensorLiteral(None, tuple((tuple(sorted(zip(dims, ls))), v) for ls, v in cells))
    ttype = draw(tensor_types())
    dims = ttype.dimensions
    if dims and all(d.is_bound for d in dims) and draw(st.booleans()):  # complete, in canonical order
        count = math.prod(d.size for d in dims)
        cells = []
        for flat in range(count):
            address = []
            for d in reversed(dims):
                flat, i = divmod(flat, d.size)
                address.append((d.name, str(i)))
            cells.append((tuple(sorted(address)), draw(values)))
        return ir.TensorLiteral(ttype, tuple(cells))
    label = {d.name: (labels if d.mapped else st.integers(0, d.size - 1).map(str)) for d in dims}
    cells = draw(st.lists(st.tuples(st.tuples(*[label[d.name] for d in dims]), values), max_size=4))
    return ir.TensorLiteral(ttype, tuple((tuple(zip([d.name for d in dims], ls)), v) for ls, v in cells))


def lambda_bodies(params: tuple[str, ...]):
    """Lambda bodies only see their parameters (Vespa's rule)."""
    base = st.one_of(numbers, st.sampled_from(params).map(ir.Ref))
    return st.recursive(base, lambda inner: st.one_of(
        st.builds(ir.BinaryOp, st.sampled_from(ir.BINARY_OPERATORS), inner, inner),
        st.builds(ir.Neg, inner), st.builds(ir.Not, inner),
        st.builds(ir.If, inner, inner, inner),
        st.builds(lambda a: ir.Call("exp", (a,)), inner)), max_leaves=6)


@st.composite
def lambdas(draw, arity: int) -> ir.Lambda:
    params = tuple(draw(st.lists(st.sampled_from(["a", "b", "x", "y", "s"]), min_size=arity, max_size=arity, unique=True)))
    return ir.Lambda(params, draw(lambda_bodies(params)))


def slices(inner):
    short = st.one_of(labels.map(ir.String), numbers, refs, inner)
    long_form = st.dictionaries(dim_names, short, min_size=1, max_size=2).map(lambda d: tuple(d.items()))
    return st.one_of(
        st.builds(lambda t, e: ir.Slice(t, (("", e),), True), inner, inner),
        st.builds(lambda t, e: ir.Slice(t, (("", e),)), inner, short),
        st.builds(lambda t, a: ir.Slice(t, a), inner, long_form))


def tensor_calls(inner):
    dim_ref = dim_names.map(ir.Ref)
    return st.one_of(
        st.builds(lambda n, a: ir.Call(n, (a,)), st.sampled_from(sorted(ir.UNARY_FUNCTIONS)), inner),
        st.builds(lambda n, a, b: ir.Call(n, (a, b)), st.sampled_from(sorted(ir.BINARY_FUNCTIONS)), inner, inner),
        st.builds(lambda n, a, d: ir.Call(n, (a, d)), st.sampled_from(["softmax", "l1_normalize", "expand", "argmax"]),
                  inner, dim_ref),
        st.builds(lambda a, b, d: ir.Call("matmul", (a, b, d)), inner, inner, dim_ref),
        st.builds(lambda n, t: ir.Call(n, (), t), st.sampled_from(["diag", "range", "random"]),
                  tensor_types(bound_only=True, max_dims=2).filter(lambda t: t.rank > 0)),
        st.builds(lambda n, t: ir.Call("top", (n, t)), inner, inner))


def composites(inner):
    dims = st.lists(dim_names, max_size=2, unique=True).map(tuple)
    return st.one_of(
        st.builds(ir.BinaryOp, st.sampled_from(ir.BINARY_OPERATORS), inner, inner),
        st.builds(ir.Neg, inner), st.builds(ir.Not, inner),
        st.builds(ir.In, inner, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(ir.If, inner, inner, inner, st.none() | st.floats(-1, 2)),
        st.builds(ir.Switch, inner, st.lists(st.tuples(inner, inner), max_size=2).map(tuple), inner),
        st.builds(ir.Feature, feature_names, st.lists(st.one_of(inner, st.builds(ir.NamedArg, names, labels)),
                                                      max_size=3).map(tuple), st.none() | dotted | names),
        st.builds(ir.Map, inner, lambdas(1)), st.builds(ir.MapSubspaces, inner, lambdas(1)),
        st.builds(ir.FilterSubspaces, inner, lambdas(1)),
        st.builds(ir.Join, inner, inner, lambdas(2)), st.builds(ir.Merge, inner, inner, lambdas(2)),
        st.builds(ir.Reduce, inner, st.sampled_from(ir.AGGREGATORS), dims),
        st.builds(lambda t, ds: ir.Rename(t, tuple(a for a, _ in ds), tuple(b for _, b in ds)), inner,
                  st.lists(st.tuples(dim_names, dim_names), min_size=1, max_size=2)),
        st.builds(ir.Concat, inner, inner, dim_names),
        st.builds(ir.Generate, tensor_types(bound_only=True).filter(lambda t: t.rank > 0), inner),
        literals(inner), slices(inner), tensor_calls(inner),
        st.builds(ir.CellCast, inner, st.sampled_from(list(CellType))))


trees = st.recursive(leaves, composites, max_leaves=15)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(trees)
def test_printed_trees_parse_back_to_themselves(tree: ir.Node) -> None:
    text = print_expression(tree)
    assert parse_expression(text) == tree, text


# ---- mangled input ----------------------------------------------------------------------------------

_NOISE = list("()[]{}<>,:.$#'\"!-+*/%^=&|~ \n\t") + ["\u00a0", "\x00", "é", "in", "tensor", "f(x)", "1e", "0x",
                                                       "switch", "case", "default:", "{x:", "[1,", "--"]


def _corpus() -> list[str]:
    return [c["expression"] for c in json.loads(shared_path("corpus", "expressions", "java_test_expressions.json").read_text())]


@st.composite
def mangled(draw) -> str:
    text = draw(st.sampled_from(_corpus()))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["delete", "insert", "truncate", "duplicate", "nest", "swap"]))
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "insert":
            text = text[:i] + draw(st.sampled_from(_NOISE)) + text[i:]
        elif kind == "truncate":
            text = text[:i]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "swap" and j > i:
            text = text[:i] + text[j - 1] + text[i + 1:j - 1] + text[i] + text[j:]
        else:
            depth = draw(st.sampled_from([10, 250, 3000]))
            opener = draw(st.sampled_from(["(", "-(", "exp(", "!", "-", "[", "{x:"]))
            closer = {"(": ")", "-(": ")", "exp(": ")", "!": "", "-": "", "[": "]", "{x:": "}"}[opener]
            text = opener * depth + text + closer * draw(st.sampled_from([depth, depth - 1, 0]))
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mangled())
def test_mangled_expressions_fail_only_with_diagnostics(text: str) -> None:
    try:
        tree = parse_expression(text)
    except ExpressionSyntaxError as e:
        d = e.diagnostic
        assert d.code.startswith("AK3") and d.span is not None and d.span.line >= 1 and d.span.column >= 1
        assert d.message and d.hint
        return
    assert parse_expression(print_expression(tree)) == tree
