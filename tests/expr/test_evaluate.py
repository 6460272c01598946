"""The reference evaluator: Vespa's results for scalar expressions, tensor functions against numpy,
vectorised lambdas, functions with arguments, and located evaluation errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appkit.expr import evaluate as evaluate_module
from appkit.expr.evaluate import EvalContext, ExpressionEvaluationError, evaluate
from appkit.expr.functions import string_hash
from appkit.expr.parse import parse_expression
from appkit.expr.typecheck import FunctionDef
from appkit.tensor.literal import parse_tensor_literal
from appkit.tensor.type import TensorType
from appkit.tensor.value import Tensor

T = TensorType.parse


def ev(text: str, functions: dict[str, tuple[tuple[str, ...], str]] | None = None, seed: int | None = None,
       **values: Tensor | float) -> Tensor:
    defs = {k: FunctionDef(p, parse_expression(b)) for k, (p, b) in (functions or {}).items()}
    return evaluate(parse_expression(text), EvalContext(values, defs, seed))


def num(text: str, **values: Tensor | float) -> float:
    return ev(text, **values).as_float()


def lit(text: str) -> Tensor:
    return parse_tensor_literal(text)


# Expected values from Vespa's EvaluationTestCase (searchlib), for the same expressions.
@pytest.mark.parametrize("text, expected", [
    ("1 + -2 + -3", -4), ("1 - (2 - 3)", 2), ("(1 - 2) - 3", -4), ("1 - 2 - 3", -4), ("3 ^ 2", 9),
    ("2*3+4*5", 26), ("2/6+4/6", 1), ("2*3*4+3*4*5-4*200/10", 4), ("1 + 10 % 6 / 2", 3), ("3 ^ 2 + 1", 10),
    ("2 * 3 ^ 2", 18), ("4^3^2", 262144), ("2*(3*4+3)*(4*5-4*200)/10", -2340),
    ("if(2<3, 0.5, 0.25)", 0.5), ("if(2>3, 0.5, 0.25)", 0.25), ("if(1<=1.1, 0.5, 0.25)", 0.5),
    ("if(0.33333333333333333333~=1/3, 0.5, 0.25)", 0.5), ("if(0.33333333333333333333~=1/35, 0.5, 0.25)", 0.25),
    ("if(1 in [1,2 , 3], 0.5, 0.25)", 0.5), ("if(1 in [2,3,4], 0.5, 0.25)", 0.25),
    ('if("foo" in ["foo","bar"], 0.5, 0.25)', 0.5), ('if("foo" in ["baz","boz"], 0.5, 0.25)', 0.25),
    ('if("a"=="a",1,0)', 1), ("if(1.0-1.1, 2.5, 3.5)", 2.5), ("if(1.0-1.0, 2.5, 3.5, 0.3)", 3.5),
    ("switch(2) { case 1: 0.5, case 2: 0.25, default: 0 }", 0.25),
    ("switch(3) { case 1: 0.5, case 2: 0.25, default: 0 }", 0),
    ('switch("bar") { case "foo": 1, case "bar": 2, default: 0 }', 2),
    ("2<3", 1), ("2>3", 0), ("if (3>2, 2>3, 5.0)", 0), ("2>3<1", 1), ("if(1+1>3<1+0, 2.5, 3.5)", 2.5),
    ("sin(0)", 0), ("cos(0)", 1), ("pow(4/2,min(cos(0)*3,5))", 8),
    ("5*if(1>=1.1, 0.5, if(min(1,2)<max(1,2),if (\"foo\" in [\"foo\",\"bar\"],0.25,3000), 0.57345347))", 1.25),
    ("false", 0), ("true", 1), ("0 && 1", 0), ("1 && 2", 1), ("1 && 0.1", 1), ("0 || 0", 0), ("0 || 0.1", 1),
    ("!0", 1), ("!2", 0), ("!0 && 1", 1), ("2 * (0 && 1)", 0), ("2 * (1 && 1)", 2), ("2 + 0 && 1", 1),
    ("1 && 0 + 2", 1), ("relu(-2) + relu(3)", 3), ("sigmoid(0)", 0.5), ("elu(-1)", math.exp(-1) - 1),
    ("fmod(7, 3)", 1), ("ldexp(3, 2)", 12), ("atan2(1, 1)", math.pi / 4), ("isNan(0/0)", 1),
    ("bit(5, 0) + bit(5, 1) * 10 + bit(5, 2) * 100", 101), ("hamming(3, 5)", 2), ("hamming(-1, 0)", 8),
    ("sign(-3) + sign(2)", 0), ("round(2.5) + round(-2.5)", 1), ("erf(0.5)", math.erf(0.5)),
    ("square(3) + abs(-2) + log10(100) + exp(0) + floor(2.7) + ceil(2.1)", 9 + 2 + 2 + 1 + 2 + 3),
])
def test_scalar_expressions_match_vespa(text: str, expected: float) -> None:
    assert num(text) == pytest.approx(expected, rel=1e-12)


def test_strings_are_hashed_like_java() -> None:
    assert string_hash("foo") == 101574.0  # "foo".hashCode() in Java
    assert string_hash("") == 0.0
    assert num("attribute(foo) == \"BAR\"", **{"attribute(foo)": string_hash("BAR")}) == 1.0


def test_operators_join_by_dimension_name() -> None:
    a, b = lit("tensor(x[2]):[1,2]"), lit("tensor(y[3]):[10,20,30]")
    r = ev("a * b + 1", a=a, b=b)
    assert r.type == T("tensor(x[2],y[3])")
    np.testing.assert_array_equal(r.to_numpy(), np.outer([1, 2], [10, 20, 30]) + 1)
    assert ev("a < 2", a=a).to_numpy().tolist() == [1.0, 0.0]


def test_reductions_and_composites() -> None:
    m = Tensor.from_numpy(T("tensor(x[2],y[3])"), np.arange(6.0).reshape(2, 3))
    for agg, f in [("sum", np.sum), ("max", np.max), ("min", np.min), ("prod", np.prod), ("avg", np.mean),
                   ("median", np.median)]:
        np.testing.assert_allclose(ev(f"reduce(m, {agg}, y)", m=m).to_numpy(), f(m.to_numpy(), axis=1))
    assert num("reduce(m, count)", m=m) == 6
    np.testing.assert_array_equal(ev("sum(m, x)", m=m).to_numpy(), [3, 5, 7])
    np.testing.assert_array_equal(ev("max(m, x)", m=m).to_numpy(), [3, 4, 5])
    np.testing.assert_array_equal(ev("max(m, 2)", m=m).to_numpy(), np.maximum(m.to_numpy(), 2))


def test_tensor_functions_against_numpy() -> None:
    rng = np.random.default_rng(3)
    am, bm = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    a = Tensor.from_numpy(T("tensor(x[3],y[4])"), am)
    b = Tensor.from_numpy(T("tensor(y[4],z[5])"), bm)
    v = Tensor.from_numpy(T("tensor(y[4])"), am[0])
    w = Tensor.from_numpy(T("tensor(y[4])"), am[1])
    np.testing.assert_allclose(ev("matmul(a, b, y)", a=a, b=b).to_numpy(), am @ bm)
    e = np.exp(am - am.max(axis=1, keepdims=True))
    np.testing.assert_allclose(ev("softmax(a, y)", a=a).to_numpy(), e / e.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(ev("l1_normalize(a, y)", a=a).to_numpy(), am / am.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(ev("l2_normalize(a, y)", a=a).to_numpy(),
                               am / np.sqrt((am ** 2).sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(num("euclidean_distance(v, w, y)", v=v, w=w), np.linalg.norm(am[0] - am[1]))
    np.testing.assert_allclose(num("cosine_similarity(v, w, y)", v=v, w=w),
                               am[0] @ am[1] / np.linalg.norm(am[0]) / np.linalg.norm(am[1]))
    bias = Tensor.from_numpy(T("tensor(z[5])"), np.arange(5.0))
    np.testing.assert_allclose(ev("xw_plus_b(a, b, bias, y)", a=a, b=b, bias=bias).to_numpy(), am @ bm + np.arange(5))
    argmax = ev("argmax(a, y)", a=a).to_numpy()
    np.testing.assert_array_equal(argmax, (am == am.max(axis=1, keepdims=True)).astype(float))
    assert ev("expand(v, d)", v=v).type == T("tensor(d[1],y[4])")


def test_generators() -> None:
    np.testing.assert_array_equal(ev("range(x[4])").to_numpy(), [0, 1, 2, 3])
    np.testing.assert_array_equal(ev("diag(x[3],y[3])").to_numpy(), np.eye(3))
    r1, r2 = ev("random(x[5])", seed=4), ev("random(x[5])", seed=4)
    assert r1 == r2 and np.all((r1.to_numpy() >= 0) & (r1.to_numpy() < 1))
    np.testing.assert_array_equal(ev("tensor(x[5],y[4])(x*4+(y+1))").to_numpy(),
                                  np.add.outer(np.arange(5) * 4, np.arange(4) + 1))


def test_cell_order_and_top() -> None:
    s = lit("tensor(k{}):{a:3, b:1, c:2, d:3}")
    order = ev("cell_order(s, max)", s=s)
    assert dict((a["k"], v) for a, v in order.cells()) == {"a": 0, "b": 3, "c": 2, "d": 1}
    top = ev("top(2, s)", s=s)
    assert dict((a["k"], v) for a, v in top.cells()) == {"a": 3, "d": 3}


def test_unpack_bits_matches_numpy() -> None:
    t = Tensor.from_numpy(T("tensor<int8>(x[2])"), np.array([-1, 5], dtype=np.int8))
    big = ev("unpack_bits(t)", t=t)
    assert big.type == T("tensor<float>(x[16])")
    np.testing.assert_array_equal(big.to_numpy(), np.unpackbits(np.array([255, 5], np.uint8)))
    little = ev("unpack_bits(t, int8, little)", t=t)
    np.testing.assert_array_equal(little.to_numpy(), np.unpackbits(np.array([255, 5], np.uint8), bitorder="little"))


def test_literals_with_computed_cells_and_slices() -> None:
    t = ev("tensor(x{}):{ {x:a}:1+2+3, {x:b}:if(1>2,3,4) }")
    assert dict((a["x"], v) for a, v in t.cells()) == {"a": 6, "b": 4}
    m = lit("tensor(x[2],y[3]):[[1,2,3],[4,5,6]]")
    np.testing.assert_array_equal(ev("m{x:1}", m=m).to_numpy(), [4, 5, 6])
    assert num("m{x:1, y:2}", m=m) == 6
    assert num("m{x:5, y:0}", m=m) == 0  # a missing cell peeks as 0
    assert num("t{x:b}", t=t) == 4
    assert ev("cell_cast(m, bfloat16)", m=m).type == T("tensor<bfloat16>(x[2],y[3])")


def test_lambdas_run_vectorised(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loop(*args: object) -> None:
        raise AssertionError("a cellwise lambda was evaluated cell by cell")
    monkeypatch.setattr(evaluate_module._Evaluator, "cell_by_cell", no_loop)
    big = ev("tensor(x[300],y[200])(if(x > y, x * y, -(x % 7)))")
    xs, ys = np.meshgrid(np.arange(300.0), np.arange(200.0), indexing="ij")
    np.testing.assert_array_equal(big.to_numpy(), np.where(xs > ys, xs * ys, -(xs % 7)))
    v = Tensor.from_numpy(T("tensor(x[4])"), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(ev("tensor(y[3])(v{x:(y+1)} * 2)", v=v).to_numpy(), [4, 6, 8])
    np.testing.assert_array_equal(ev("map(v, f(a)(relu(a - 2)))", v=v).to_numpy(), [0, 0, 1, 2])


def test_lambda_that_builds_tensors_falls_back_to_cells() -> None:
    t = Tensor.from_numpy(T("tensor(x[3])"), np.array([1.0, 2.0, 3.0]))
    r = ev("map(t, f(a)(sum(tensor(y[4])(a * y))))", t=t)
    np.testing.assert_array_equal(r.to_numpy(), [6, 12, 18])


def test_functions_with_arguments() -> None:
    functions = {"square_sum": (("a", "b"), "a * a + b * b"), "scaled": (("t",), "t * factor"),
                 "factor": ((), "10")}
    assert ev("square_sum(3, 4)", functions).as_float() == 25
    t = Tensor.from_numpy(T("tensor(x[2])"), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(ev("scaled(t)", functions, t=t).to_numpy(), [10, 20])


def test_features_from_context() -> None:
    q = lit("tensor(x[2]):[1,2]")
    values = {"query(q)": q, "attribute(a)": lit("tensor(x[2]):[3,4]"), "constant(c)": Tensor.scalar(2.0)}
    assert num("sum(query(q) * attribute(a)) * constant(c)", **values) == 22
    assert num("sum(q) + c", **values) == 5  # bare names find query(q) and constant(c)


def test_missing_value_is_a_located_error() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        evaluate(parse_expression("1 + query(nope)", path="e.expr"))
    d = info.value.diagnostics[0]
    assert d.code == "AK360" and "query(nope)" in d.message
    assert (d.span.line, d.span.column) == (1, 5)


def test_recursion_is_an_error_not_a_crash() -> None:
    f = {"f": (("x",), "f(x) + 1")}
    with pytest.raises(ExpressionEvaluationError) as info:
        ev("f(1)", f)
    assert info.value.diagnostics[0].code == "AK347"


def test_tensor_condition_is_an_error() -> None:
    with pytest.raises(ExpressionEvaluationError) as info:
        ev("if(t, 1, 0)", t=lit("tensor(x[2]):[1,2]"))
    assert info.value.diagnostics[0].code == "AK362"
