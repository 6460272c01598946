"""Batch plans give what the reference evaluator gives per document, without a loop per document."""

from __future__ import annotations

import numpy as np
import pytest

from appkit.expr import compile as compile_module
from appkit.expr import program_builder as program_module
from appkit.expr.compile import compile_expression
from appkit.expr.evaluate import EvalContext, evaluate
from appkit.expr.parse import parse_expression
from appkit.expr.typecheck import FunctionDef, TypeContext
from appkit.tensor.type import TensorType
from appkit.tensor.value import Tensor

T = TensorType.parse
TYPES = {
    "attribute(a)": T("tensor<float>(x[3],y[4])"),
    "attribute(b)": T("tensor(y[4])"),
    "constant(c)": T("tensor<float>(y[4],z[2])"),
    "query(k)": T("tensor()"),
}
BATCH = {"attribute(a)", "attribute(b)"}


def inputs(n: int, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Tensor]]:
    rng = np.random.default_rng(seed)
    batch = {"attribute(a)": rng.standard_normal((n, 3, 4)).astype(np.float32),
             "attribute(b)": rng.standard_normal((n, 4))}
    constants = {"constant(c)": Tensor.from_numpy(TYPES["constant(c)"], rng.standard_normal((4, 2))),
                 "query(k)": Tensor.scalar(float(rng.standard_normal()))}
    return batch, constants


def per_document(text: str, batch: dict[str, np.ndarray], constants: dict[str, Tensor],
                 functions: dict[str, FunctionDef] | None = None) -> list[Tensor]:
    expr = parse_expression(text)
    out = []
    for i in range(len(next(iter(batch.values())))):
        values: dict[str, Tensor | float] = dict(constants)
        values.update({k: Tensor.from_numpy(TYPES[k], v[i]) for k, v in batch.items()})
        out.append(evaluate(expr, EvalContext(values, functions or {})))
    return out


def assert_same(text: str, n: int = 7, seed: int = 0, vectorised: bool = True,
                functions: dict[str, FunctionDef] | None = None) -> np.ndarray:
    batch, constants = inputs(n, seed)
    plan = compile_expression(parse_expression(text), TypeContext(features=TYPES, functions=functions or {}), BATCH)
    got = plan.evaluate(batch, constants)
    assert plan.vectorised is vectorised, plan.reason
    expected = per_document(text, batch, constants, functions)
    assert plan.result_type == expected[0].type, text  # type inference agrees with evaluation
    assert got.shape == (n, *expected[0].cells_array.shape[1:]), text
    for i, t in enumerate(expected):
        np.testing.assert_allclose(got[i], t.cells_array[0], rtol=2e-5, atol=2e-5, equal_nan=True, err_msg=text)
    assert got.dtype == np.dtype(plan.result_type.cell_type.numpy_dtype if plan.result_type.dimensions
                                 else np.float64) or got.dtype == np.float32, text
    return got


# --- a generator of random dense expressions, with their dimensions ---------------------------------------

LEAVES = [("attribute(a)", {"x": 3, "y": 4}), ("attribute(b)", {"y": 4}), ("constant(c)", {"y": 4, "z": 2}),
          ("query(k)", {}), ("0.5", {})]


def random_expression(rng: np.random.Generator, depth: int) -> tuple[str, dict[str, int]]:
    if depth == 0 or rng.random() < 0.1:
        return LEAVES[rng.integers(len(LEAVES))]
    kind = rng.integers(9)
    text, dims = random_expression(rng, depth - 1)
    if kind == 0:
        fn = ["relu(v)", "tanh(v)", "-v", "v * v + 1", "sigmoid(v)", "fabs(v)", "if(v > 0, v, 0.1 * v)"]
        return f"map({text}, f(v)({fn[rng.integers(len(fn))]}))", dims
    if kind in (1, 2):
        other, odims = random_expression(rng, depth - 1)
        if any(d in dims and dims[d] != s for d, s in odims.items()):
            return text, dims
        op = ["+", "-", "*", "max", "min", "join"][rng.integers(6)]
        merged = {**dims, **odims}
        if op in ("max", "min"):
            return f"{op}({text}, {other})", merged
        if op == "join":
            return f"join({text}, {other}, f(p,q)(p * q - q))", merged
        return f"({text} {op} {other})", merged
    if kind == 3 and dims:
        d = list(dims)[rng.integers(len(dims))]
        agg = ["sum", "max", "min", "avg", "count"][rng.integers(5)]
        return f"reduce({text}, {agg}, {d})", {k: v for k, v in dims.items() if k != d}
    if kind == 4:
        other, odims = random_expression(rng, depth - 1)
        shared = [d for d in dims if d in odims and dims[d] == odims[d]]
        if shared and all(dims[d] == odims[d] for d in dims if d in odims):
            d = shared[rng.integers(len(shared))]
            return f"sum({text} * {other}, {d})", {k: v for k, v in {**dims, **odims}.items() if k != d}
        return text, dims
    if kind == 5 and dims and "w" not in dims:
        d = list(dims)[rng.integers(len(dims))]
        return f"rename({text}, {d}, w)", {("w" if k == d else k): v for k, v in dims.items()}
    if kind == 6 and dims:
        d = list(dims)[rng.integers(len(dims))]
        return f"softmax({text}, {d})", dims
    if kind == 7 and "y" in dims:
        return f"{text}{{y: 2}}", {k: v for k, v in dims.items() if k != "y"}
    if kind == 8 and "x" in dims:
        return f"concat({text}, {text}, x)", {**dims, "x": dims["x"] * 2}
    return text, dims


@pytest.mark.parametrize("seed", range(60))
def test_random_expressions_batch_equals_per_document(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    text, _ = random_expression(rng, 5)
    if "attribute(" not in text:
        text = f"({text}) + attribute(a)"  # something per document
    assert_same(text, seed=seed)


def test_mnist_expression_is_one_product_in_float32() -> None:
    types = {"Placeholder": T("tensor<float>(d0[1],d1[784])"), "constant(W)": T("tensor<float>(d1[10],d2[784])"),
             "constant(b)": T("tensor<float>(d1[10])")}
    text = ("join(reduce(join(rename(Placeholder, (d0, d1), (d0, d2)), constant(W), f(a,b)(a * b)), sum, d2), "
            "constant(b), f(a,b)(a + b))")
    rng = np.random.default_rng(5)
    w, b = rng.standard_normal((784, 10)).astype(np.float32), rng.standard_normal(10).astype(np.float32)
    x = rng.random((300, 1, 784), dtype=np.float32)
    constants = {"constant(W)": Tensor.from_numpy(types["constant(W)"], w.T),
                 "constant(b)": Tensor.from_numpy(types["constant(b)"], b)}
    plan = compile_expression(parse_expression(text), types, {"Placeholder"})
    got = plan.evaluate({"Placeholder": x}, constants)
    assert plan.vectorised and got.dtype == np.float32 and got.shape == (300, 1, 10)
    np.testing.assert_allclose(got[:, 0], x[:, 0] @ w + b, rtol=1e-4, atol=1e-4)
    one = evaluate(parse_expression(text), EvalContext({**constants, "Placeholder": Tensor.from_numpy(
        types["Placeholder"], x[17])}))
    np.testing.assert_allclose(got[17], one.cells_array[0], rtol=1e-4, atol=1e-4)  # float32 sums of 784


def test_no_loop_per_document_and_constants_folded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "sum(attribute(a) * l2_normalize(constant(c) * 2, z), y) + query(k)"
    batch, constants = inputs(1000, 3)
    plan = compile_expression(parse_expression(text), TYPES, BATCH)
    first = plan.evaluate(batch, constants)
    assert plan.vectorised

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference evaluator ran again")
    monkeypatch.setattr(compile_module, "evaluate", forbidden)
    monkeypatch.setattr(program_module, "evaluate", forbidden)
    again = plan.evaluate(batch, constants)  # same constants: the folded values are reused
    np.testing.assert_array_equal(first, again)


def test_functions_with_arguments_are_inlined() -> None:
    functions = {"layer": FunctionDef(("t", "w"), parse_expression("map(sum(t * w, y), f(v)(relu(v)))")),
                 "score": FunctionDef((), parse_expression("sum(layer(attribute(a), constant(c)))"))}
    assert_same("score + sum(attribute(b))", functions=functions)


def test_inputs_are_never_overwritten() -> None:
    batch, constants = inputs(5, 9)
    before = {k: v.copy() for k, v in batch.items()}
    for text in ("attribute(a) + 1", "map(attribute(a), f(v)(relu(v)))", "-attribute(b)",
                 "rename(attribute(a), x, w) * 2", "attribute(a){y: 1} + 3"):
        plan = compile_expression(parse_expression(text), TYPES, BATCH)
        plan.evaluate(batch, constants)
    for k in batch:
        np.testing.assert_array_equal(batch[k], before[k])


def test_decision_trees_run_vectorised() -> None:
    # the shape of converted GBDT models: nested ifs on per-document numbers, 'in' and switch
    assert_same("if(sum(attribute(b)) < 0.3, if(reduce(attribute(a), max) in [1, 2], 0.5, -1), "
                "switch(sum(attribute(b)) > 1) { case 1: sum(attribute(a)), case 0: 2, default: 3 })")


def test_what_cannot_be_vectorised_falls_back_per_document() -> None:
    got = assert_same("map(attribute(b), f(v)(sum(tensor(i[3])(v * i))))", vectorised=False)
    assert got.shape == (7, 4)


def test_type_errors_are_reported_before_anything_runs() -> None:
    from appkit.expr.typecheck import ExpressionTypeError

    with pytest.raises(ExpressionTypeError) as info:
        compile_expression(parse_expression("reduce(attribute(a), sum, q)"), TYPES, BATCH)
    assert info.value.diagnostics[0].code == "AK341"


def test_generated_tensors_reading_documents_run_vectorised() -> None:
    # the form model importers give a reshape: a generate whose cells peek at computed indexes
    assert_same("tensor<float>(i[12])(attribute(a){x: (i / 4 - (i % 4) / 4), y: (i % 4)} * 2 + sum(attribute(b)))")
    assert_same("tensor(w[4],x[3])(attribute(a){x: (x), y: (3 - w)} + attribute(b){y: (w + 1)})")


def test_imported_onnx_model_batch_matches_onnxruntime(tmp_path) -> None:
    """An ONNX graph (MatMul, Add, Relu, Reshape, Softmax) imported by appkit and run as one batch plan
    gives what onnxruntime gives row by row."""
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper

    from appkit.importers.onnx.importer import import_onnx_model

    rng = np.random.default_rng(0)
    weights = {"W1": rng.standard_normal((12, 8)), "b1": rng.standard_normal(8), "W2": rng.standard_normal((8, 6))}
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["r1"]), helper.make_node("MatMul", ["r1", "W2"], ["m2"]),
             helper.make_node("Reshape", ["m2", "shape"], ["rs"]), helper.make_node("Softmax", ["rs"], ["y"], axis=-1)]
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    inits.append(numpy_helper.from_array(np.array([1, 2, 3], np.int64), "shape"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    imported = import_onnx_model(tmp_path / "m.onnx", "m")
    assert not imported.diagnostics
    types = {name: i.type for name, i in imported.inputs.items()}
    types.update({f"constant({k})": v.type for k, v in imported.constants.items()})
    functions = {k: FunctionDef((), e) for k, e in imported.functions.items()}
    plan = compile_expression(imported.expressions["default.y"], TypeContext(features=types, functions=functions),
                              set(imported.inputs))
    x = rng.standard_normal((40, 12)).astype(np.float32)
    got = plan.evaluate({"x": x.reshape(40, 1, 12)}, {f"constant({k})": v for k, v in imported.constants.items()})
    assert plan.vectorised, plan.reason
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = np.stack([session.run(None, {"x": x[i:i + 1]})[0] for i in range(40)])
    np.testing.assert_allclose(got.reshape(40, -1), expected.reshape(40, -1), rtol=1e-5, atol=1e-6)


def test_shared_values_are_not_overwritten_in_place() -> None:
    # the condition and a branch share sum(attribute(a)); the branch's "+ 1" must not write into it
    assert_same("if(sum(attribute(a)) > 0, sum(attribute(a)) + 1, sum(attribute(a)) - 1) * sum(attribute(a))")
    assert_same("map(sum(attribute(a), y), f(v)(relu(v))) + sum(attribute(a), y)")


def test_large_batches_run_in_blocks_with_the_same_results() -> None:
    text = "map(sum(attribute(a) * constant(c), y), f(v)(relu(v))) + sum(attribute(b))"
    batch, constants = inputs(5000, 21)
    plan = compile_expression(parse_expression(text), TYPES, BATCH)
    whole = plan.evaluate(batch, constants)
    assert whole.shape == (5000, 3, 2)
    for lo in range(0, 5000, 1000):
        part = plan.evaluate({k: v[lo:lo + 1000] for k, v in batch.items()}, constants)
        np.testing.assert_array_equal(whole[lo:lo + 1000], part)


def test_functions_of_constants_are_folded() -> None:
    functions = {"scaled": FunctionDef((), parse_expression("constant(c) * 2")),
                 "norm": FunctionDef(("t",), parse_expression("l2_normalize(t, z)"))}
    assert_same("sum(attribute(a) * norm(scaled), y) + sum(scaled * scaled)", functions=functions)
    assert_same("sum(norm(scaled) * norm(scaled)) * attribute(b)", functions=functions)


def test_expressions_thousands_deep() -> None:
    """Imported models nest one level per op: checking, evaluating and compiling stay linear and do not
    run out of Python's recursion limit."""
    import sys

    from appkit.expr import ir
    from appkit.expr.typecheck import check_types

    expr: ir.Expr = ir.Feature("attribute", (ir.Ref("b"),))
    plus = ir.Lambda(("p", "q"), ir.BinaryOp("+", ir.Ref("p"), ir.Ref("q")))
    for _ in range(2500):
        expr = ir.Join(expr, ir.Number(1.0), plus)
    limit = sys.getrecursionlimit()
    assert check_types(expr, TypeContext(features=TYPES)) == (T("tensor(y[4])"), [])
    batch, constants = inputs(3, 1)
    plan = compile_expression(expr, TYPES, BATCH)
    got = plan.evaluate(batch, constants)
    assert plan.vectorised
    np.testing.assert_allclose(got, batch["attribute(b)"] + 2500)
    first = Tensor.from_numpy(TYPES["attribute(b)"], batch["attribute(b)"][0])
    one = evaluate(expr, EvalContext({"attribute(b)": first}))
    np.testing.assert_allclose(one.to_numpy(), batch["attribute(b)"][0] + 2500)
    assert sys.getrecursionlimit() == limit
