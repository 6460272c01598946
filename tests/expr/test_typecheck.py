"""Type inference: the type of every construct and tensor function, located errors, per-call function types."""

from __future__ import annotations

import json

import pytest

from appkit.expr.parse import parse_expression
from appkit.expr.typecheck import ExpressionTypeError, FunctionDef, TypeContext, check_types, infer_type
from appkit.tensor.type import TensorType
from tests.conftest import shared_path

T = TensorType.parse

FEATURES = {
    "query(q)": T("tensor<float>(x[3])"),
    "attribute(a)": T("tensor<float>(x[3])"),
    "attribute(m)": T("tensor(x[3],y[4])"),
    "attribute(s)": T("tensor(k{})"),
    "attribute(mixed)": T("tensor<float>(k{},x[3])"),
    "attribute(bits)": T("tensor<int8>(x[2])"),
    "constant(W)": T("tensor<float>(d1[10],d2[784])"),
    "Placeholder": T("tensor<float>(d0[1],d1[784])"),
    "x4": T("tensor(x[4])"),
}


def typeof(text: str, **functions: tuple[tuple[str, ...], str]) -> TensorType:
    defs = {name: FunctionDef(params, parse_expression(body)) for name, (params, body) in functions.items()}
    return infer_type(parse_expression(text), TypeContext(features=FEATURES, functions=defs))


def errors(text: str, **functions: tuple[tuple[str, ...], str]):
    defs = {name: FunctionDef(params, parse_expression(body, path="f.expr")) for name, (params, body)
            in functions.items()}
    result, found = check_types(parse_expression(text, path="e.expr"), TypeContext(features=FEATURES, functions=defs))
    assert result is None
    return found


@pytest.mark.parametrize("text, expected", [
    ("1 + 2", "tensor()"),
    ('"a" == "b"', "tensor()"),
    ("query(q) * 2", "tensor<float>(x[3])"),
    ("query(q) * attribute(m)", "tensor(x[3],y[4])"),
    ("query(q) + attribute(a)", "tensor<float>(x[3])"),
    ("-query(q)", "tensor<float>(x[3])"),
    ("!attribute(bits)", "tensor<float>(x[2])"),
    ("sum(attribute(m), y)", "tensor(x[3])"),
    ("reduce(attribute(m), max)", "tensor()"),
    ("reduce(attribute(mixed), count, x)", "tensor<float>(k{})"),
    ("max(attribute(m), y)", "tensor(x[3])"),
    ("max(query(q), 1)", "tensor<float>(x[3])"),
    ("rename(attribute(m), (x, y), (y, z))", "tensor(y[3],z[4])"),
    ("concat(query(q), x4, x)", "tensor(x[7])"),
    ("concat(query(q), 1, y)", "tensor<float>(x[3],y[2])"),
    ("tensor<float>(x[2],y[3])(x + y)", "tensor<float>(x[2],y[3])"),
    ("tensor(x[2]):[1, 2]", "tensor(x[2])"),
    ("tensor(k{}):{a: 1, b: 2}", "tensor(k{})"),
    ("attribute(m){x: 1}", "tensor(y[4])"),
    ("attribute(m){x: 1, y: 2}", "tensor()"),
    ("attribute(s){k: a}", "tensor()"),
    ("query(q)[1]", "tensor()"),
    ("cell_cast(attribute(m), float)", "tensor<float>(x[3],y[4])"),
    ("cell_cast(query(q), bfloat16) * 2", "tensor<float>(x[3])"),
    ("map(attribute(bits), f(a)(a * 2))", "tensor<float>(x[2])"),
    ("join(query(q), attribute(m), f(a,b)(a * b))", "tensor(x[3],y[4])"),
    ("merge(attribute(s), attribute(s), f(a,b)(a + b))", "tensor(k{})"),
    ("if(1 > 0, query(q), attribute(a))", "tensor<float>(x[3])"),
    ("if(1 > 0, query(q), x4)", "tensor(x[])"),
    ("switch(2) { case 1: 5, case 2: 6, default: 7 }", "tensor()"),
    ("3 in [1, 2, 3]", "tensor()"),
    ("bm25(title) + fieldMatch(title).completeness", "tensor()"),
    ("map_subspaces(attribute(mixed), f(t)(sum(t)))", "tensor<float>(k{})"),
    ("filter_subspaces(attribute(mixed), f(t)(sum(t) > 0))", "tensor<float>(k{},x[3])"),
    ("join(reduce(join(rename(Placeholder, (d0, d1), (d0, d2)), constant(W), f(a,b)(a * b)), sum, d2), "
     "tensor<float>(d1[10])(1), f(a,b)(a + b))", "tensor<float>(d0[1],d1[10])"),
])
def test_types_of_constructs(text: str, expected: str) -> None:
    assert typeof(text) == T(expected)


@pytest.mark.parametrize("text, expected", [
    ("softmax(attribute(m), y)", "tensor(x[3],y[4])"),
    ("l1_normalize(query(q), x)", "tensor<float>(x[3])"),
    ("l2_normalize(attribute(m), x)", "tensor(x[3],y[4])"),
    ("matmul(query(q), attribute(m), x)", "tensor(y[4])"),
    ("xw_plus_b(query(q), attribute(m), tensor(y[4])(1), x)", "tensor(y[4])"),
    ("euclidean_distance(query(q), attribute(a), x)", "tensor()"),
    ("cosine_similarity(query(q), attribute(a), x)", "tensor()"),
    ("argmax(attribute(m), y)", "tensor(x[3],y[4])"),
    ("argmin(query(q))", "tensor<float>(x[3])"),
    ("expand(query(q), z)", "tensor<float>(x[3],z[1])"),
    ("range(x[4])", "tensor(x[4])"),
    ("diag(x[3],y[3])", "tensor(x[3],y[3])"),
    ("random(x[2])", "tensor(x[2])"),
    ("cell_order(attribute(s), max)", "tensor(k{})"),
    ("top(2, attribute(s))", "tensor(k{})"),
    ("unpack_bits(attribute(bits))", "tensor<float>(x[16])"),
    ("unpack_bits(attribute(bits), int8, little)", "tensor<int8>(x[16])"),
    ("exp(query(q)) + pow(attribute(a), 2)", "tensor<float>(x[3])"),
    ("hamming(attribute(bits), attribute(bits))", "tensor<float>(x[2])"),
])
def test_types_of_tensor_functions(text: str, expected: str) -> None:
    assert typeof(text) == T(expected)


def test_function_types_are_inferred_per_call() -> None:
    double = {"twice": (("t",), "t * 2")}
    assert typeof("twice(query(q))", **double) == T("tensor<float>(x[3])")
    assert typeof("twice(attribute(m))", **double) == T("tensor(x[3],y[4])")
    assert typeof("twice(3)", **double) == T("tensor()")
    assert typeof("sum(inner)", inner=((), "attribute(m) * 2")) == T("tensor()")


def _one(found, code: str):
    matching = [d for d in found if d.code == code]
    assert matching, [str(d) for d in found]
    return matching[0]


def test_reduce_over_a_missing_dimension_is_located() -> None:
    d = _one(errors("1 + reduce(query(q), sum, y)"), "AK341")
    assert "no such dimension" in d.message and "'y'" in d.message
    assert (d.span.path, d.span.line, d.span.column) == ("e.expr", 1, 5)
    assert d.hint and "x" in d.hint


def test_join_of_mismatched_sizes() -> None:
    d = _one(errors("query(q) * x4"), "AK340")
    assert "tensor<float>(x[3])" in d.message and "tensor(x[4])" in d.message and "size" in d.message


def test_every_error_is_reported_at_once() -> None:
    found = errors("reduce(query(q), sum, y) + rename(attribute(m), z, w) + (query(q) * x4)")
    assert sorted(d.code for d in found) == ["AK340", "AK341", "AK341"]
    assert len({(d.span.line, d.span.column) for d in found}) == 3


@pytest.mark.parametrize("text, code", [
    ("if(query(q), 1, 2)", "AK345"),
    ("if(1, tensor(x[2]):[1,2], tensor(y[2]):[1,2])", "AK346"),
    ("map(query(q), f(a,b)(a + b))", "AK344"),
    ("constant(missing) + 1", "AK348"),
    ("softmax(query(q))", "AK342"),
    ("softmax(query(q), 1)", "AK343"),
    ("unpack_bits(query(q))", "AK350"),
    ("top(2, query(q))", "AK350"),
    ("tensor(x[2]):{{x:5}:1}", "AK349"),
    ("concat(attribute(s), attribute(s), k)", "AK340"),
    ("query(q){y: 1}", "AK341"),
])
def test_errors_have_codes(text: str, code: str) -> None:
    try:
        found = errors(text)
    except ExpressionTypeError as e:  # pragma: no cover - check_types never raises
        found = e.diagnostics
    except Exception as e:  # the parser may reject some of these first; that is also a located error
        assert getattr(e, "diagnostics", None), e
        return
    d = _one(found, code)
    assert d.span is not None and d.hint is not None or d.span is not None


def test_recursion_is_reported_not_followed() -> None:
    d = _one(errors("f(1)", f=(("x",), "g(x) + 1"), g=(("y",), "f(y)")), "AK347")
    assert "f -> g -> f" in d.message


def test_function_argument_count() -> None:
    d = _one(errors("f(1, 2)", f=(("x",), "x + 1")), "AK352")
    assert "takes 1" in d.message


def test_errors_inside_a_function_body_point_into_the_body() -> None:
    d = _one(errors("f(query(q))", f=(("t",), "reduce(t, sum, z)")), "AK341")
    assert d.span.path == "f.expr"


def test_types_match_vespa_conformance_results() -> None:
    """For every conformance case, the inferred type is the type Vespa's result has (cell type too)."""
    from appkit.tensor.binary import decode_tensor

    checked = 0
    for line in shared_path("corpus", "tensor_conformance.jsonl").read_text().splitlines():
        case = json.loads(line)
        if "expression" not in case:
            continue
        inputs = {k: decode_tensor(v).type for k, v in case["inputs"].items()}
        expected = decode_tensor(case["result"]["expect"]).type
        got = infer_type(parse_expression(case["expression"]), TypeContext(features=inputs))
        assert got == expected, (case["expression"], {k: str(v) for k, v in inputs.items()})
        checked += 1
    assert checked == 1987
