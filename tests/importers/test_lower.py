"""The framework-neutral lowering core: naming of dimensions, folding, functions, model names, discovery."""

from __future__ import annotations

import numpy as np
import pytest

from appkit.expr import ir
from appkit.expr.evaluate import EvalContext, evaluate
from appkit.expr.printer import print_expression
from appkit.importers import lower, lower_nn, lower_shape
from appkit.importers.discovery import discover_models
from appkit.importers.lower import UNIT, ConversionError
from appkit.importers.lower_builder import ImportBuilder
from appkit.importers.naming import check_model_name, model_name, vespa_name
from appkit.tensor.type import CellType, Dimension, TensorType
from appkit.tensor.value import Tensor


def tensor(arr: np.ndarray) -> Tensor:
    names = [f"d{i}" for i in range(arr.ndim)]
    return Tensor.from_numpy(TensorType([Dimension(n, s) for n, s in zip(names, arr.shape)], CellType.FLOAT),
                             arr.astype(np.float32))


def run(builder: ImportBuilder, op: lower.Operand, **inputs: np.ndarray) -> np.ndarray:
    """Evaluate an operand the way a model output is evaluated (standard dimensions d0..dn)."""
    builder.add_output("default", "out", op)
    model = builder.finish()
    values = {n: tensor(a) for n, a in inputs.items()}
    values.update({f"constant({c})": t for c, t in model.constants.items()})
    ctx = EvalContext(values, {n: ((), e) for n, e in model.functions.items()})
    return evaluate(model.expressions["default.out"], ctx).to_numpy()


def test_broadcast_keeps_the_input_names_and_renames_the_constant():
    b = ImportBuilder("m", "m.onnx", "onnx")
    x = b.add_input("x", [2, 3], CellType.FLOAT)
    c = b.add_variable("c", np.arange(3, dtype=np.float32))
    out = lower.binary(x, c, "add")
    assert out.dims == ("d0", "d1") and isinstance(out.expr, ir.Join)
    arr = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_allclose(run(b, out, x=arr), arr + np.arange(3))
    assert str(b.model.constants["m_c"].type) == "tensor<float>(d1[3])"  # stored under the name its use wants


def test_keepdims_axes_are_free_unit_axes():
    b = ImportBuilder("m", "m.onnx", "onnx")
    x = b.add_input("x", [2, 3], CellType.FLOAT)
    mean = lower.reduce(x, [1], "avg", keepdims=True)
    assert mean.dims == ("d0", UNIT) and mean.shape == (2, 1)
    centered = lower.binary(x, mean, "sub")
    assert print_expression(centered.expr) == "join(x, reduce(x, avg, d1), f(a,b)(a - b))"
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(run(b, centered, x=arr), arr - arr.mean(axis=1, keepdims=True))


def test_matmul_is_join_and_sum_with_few_renames():
    b = ImportBuilder("m", "m.onnx", "onnx")
    x = b.add_input("x", [None, 4], CellType.FLOAT)
    w = b.add_variable("w", np.arange(12, dtype=np.float32).reshape(4, 3))
    y = lower.matmul(x, w)
    assert print_expression(y.expr) == "reduce(join(x, rename(constant(m_w), (d0, d1), (d1, d2)), f(a,b)(a * b)), sum, d1)"
    arr = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(run(b, y, x=arr), arr @ np.arange(12).reshape(4, 3))
    # after the import the constant is stored as tensor(d1[4],d2[3]) and the rename is gone
    assert "rename(constant" not in print_expression(b.model.expressions["default.out"])


def test_constant_subgraphs_fold_to_the_top_most_constant():
    b = ImportBuilder("m", "m.onnx", "onnx")
    x = b.add_input("x", [3], CellType.FLOAT)
    b.add_variable("w", np.array([1, 2, 3], dtype=np.float32))
    b.run("scaled", "Mul", ["scaled"], lambda: lower.scalar_op(b.get("w"), "mul", 2.0))
    assert b.get("scaled").is_constant
    b.run("out", "Add", ["out"], lambda: lower.binary(b.get("x"), b.get("scaled"), "add"))
    b.add_output("default", "out", b.get("out"))
    model = b.finish()
    assert list(model.constants) == ["m_scaled"]  # not m_w: only the constant next to the input is stored
    assert model.variables == []
    np.testing.assert_allclose(model.constants["m_scaled"].to_numpy(), [2, 4, 6])
    del x


def test_output_used_twice_becomes_a_function():
    b = ImportBuilder("m", "m.onnx", "onnx")
    b.add_input("x", [3], CellType.FLOAT)
    b.count_uses(["h", "h"])
    b.run("hidden/h", "Exp", ["h"], lambda: lower.unary(b.get("x"), "exp"))
    assert b.get("h").expr == ir.Ref("imported_ml_function_m_hidden_h")
    b.run("o", "Add", ["o"], lambda: lower.binary(b.get("h"), b.get("h"), "add"))
    b.add_output("default", "o", b.get("o"))
    model = b.finish()
    assert list(model.functions) == ["imported_ml_function_m_hidden_h"]
    assert str(model.function_types["imported_ml_function_m_hidden_h"]) == "tensor<float>(d0[3])"


def test_errors_and_unsupported_ops_are_collected():
    b = ImportBuilder("m", "m.onnx", "onnx")
    b.add_input("x", [None, 3], CellType.FLOAT)
    b.unsupported("Conv", "conv1")
    b.unsupported("Conv", "conv2")
    b.unsupported("MaxPool", "pool")
    assert not b.run("r", "Reshape", ["r"], lambda: lower_shape.reshape(b.get("x"), [3, None]))
    model = b.finish()
    messages = [d.message for d in model.diagnostics]
    assert "Operation 'Conv' is currently not implemented (used by 'conv1', 'conv2')" in messages
    assert "Operation 'MaxPool' is currently not implemented (used by 'pool')" in messages
    assert any(m.startswith("Reshape node 'r': ") for m in messages)
    assert not model.ok


@pytest.mark.parametrize("shape,target", [((2, 3, 4), (6, 4)), ((2, 3, 4), (4, 6)), ((6,), (2, 1, 3)),
                                          ((2, 3), (3, 2))])
def test_reshape_relayouts_row_major(shape, target):
    b = ImportBuilder("m", "m.onnx", "onnx")
    x = b.add_input("x", list(shape), CellType.FLOAT)
    arr = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(run(b, lower_shape.reshape(x, list(target)), x=arr), arr.reshape(target))


def test_reshape_beside_an_unbound_batch_axis():
    b = ImportBuilder("m", "m.onnx", "onnx")
    x = b.add_input("x", [None, 2, 3], CellType.FLOAT)
    flat = lower_shape.reshape(x, [None, 6])
    assert flat.shape == (None, 6)
    arr = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    np.testing.assert_allclose(run(b, flat, x=arr), arr.reshape(2, 6))


def test_where_is_exact_with_infinities():
    b = ImportBuilder("m", "m.onnx", "onnx")
    c = b.add_input("c", [3], CellType.FLOAT)
    x = b.add_input("x", [3], CellType.FLOAT)
    y = b.add_variable("y", np.array([-np.inf, 1, np.inf], dtype=np.float32))
    b.run("w", "Where", ["w"], lambda: lower_nn.where(c, x, y))
    out = run(b, b.get("w"), c=np.array([1, 0, 1]), x=np.array([np.inf, 2, 3]))
    np.testing.assert_array_equal(out, [np.inf, 1, 3])


def test_matmul_rejects_mismatched_inner_sizes():
    a = lower.input_operand("a", [2, 3], CellType.FLOAT)
    bb = lower.input_operand("b", [4, 5], CellType.FLOAT)
    with pytest.raises(ConversionError, match="inner sizes 3 and 4"):
        lower.matmul(a, bb)


def test_model_names_follow_vespa():
    assert model_name("models/mnist_softmax/saved", is_file=False) == "mnist_softmax_saved"
    assert model_name("models/mnist_softmax.onnx", is_file=True) == "mnist_softmax"
    assert model_name("models/a/b.c/m.onnx", is_file=True) == "a_b_c_m"
    bad = check_model_name("my-model")
    assert bad is not None and bad.message == "An imported model name can only contain [A-Za-z0-9_], but is 'my-model'"
    assert vespa_name("Placeholder:0") == "Placeholder"
    assert vespa_name("dnn/hidden1.w:0") == "dnn_hidden1_w"
    assert vespa_name("input-ids") == "input_ids"


def test_discovery_finds_models_and_reports_collisions(tmp_path):
    (tmp_path / "models" / "a").mkdir(parents=True)
    (tmp_path / "models" / "a" / "b.onnx").write_bytes(b"")
    (tmp_path / "models" / "a_b.onnx").write_bytes(b"")
    saved = tmp_path / "models" / "tf" / "saved"
    saved.mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"")
    (tmp_path / "models" / "bad-name.onnx").write_bytes(b"")
    sources, diagnostics = discover_models(tmp_path)
    assert sorted((s.name, s.format) for s in sources) == [("a_b", "onnx"), ("tf_saved", "tensorflow")]
    messages = sorted(d.message for d in diagnostics)
    assert messages == [
        "An imported model name can only contain [A-Za-z0-9_], but is 'bad-name'",
        "The models in models/a/b.onnx and models/a_b.onnx both resolve to the model name 'a_b'"]


def _random_case(rng: np.random.Generator) -> tuple[list[int], list[int], list[int], list[int]]:
    """Shapes of a and b (numpy matmul-compatible, with broadcast batch axes) and the permutations
    under which they are stored (so names arrive in every order)."""
    batch = [int(s) for s in rng.integers(1, 4, size=rng.integers(0, 3))]
    m, k, n = (int(s) for s in rng.integers(1, 5, size=3))
    a_batch = [s if rng.random() < 0.7 else 1 for s in batch]
    b_batch = [s if rng.random() < 0.7 else 1 for s in batch][int(rng.integers(0, len(batch) + 1)):] if batch else []
    a_shape, b_shape = a_batch + [m, k], b_batch + [k, n]
    return a_shape, b_shape, list(rng.permutation(len(a_shape))), list(rng.permutation(len(b_shape)))


@pytest.mark.parametrize("seed", range(25))
def test_matmul_and_broadcast_under_any_axis_order(seed):
    """Operands whose framework axes are permutations of their stored dimensions (as after
    Transpose) still multiply and add like numpy."""
    rng = np.random.default_rng(seed)
    a_shape, b_shape, pa, pb = _random_case(rng)
    a_arr = rng.normal(size=[a_shape[i] for i in np.argsort(pa)]).astype(np.float32)  # stored layout
    b_arr = rng.normal(size=[b_shape[i] for i in np.argsort(pb)]).astype(np.float32)
    b = ImportBuilder("m", "m.onnx", "onnx")
    a_in = b.add_input("a", list(a_arr.shape), CellType.FLOAT)
    b_in = b.add_input("b", list(b_arr.shape), CellType.FLOAT)
    inv_a, inv_b = list(np.argsort(np.argsort(pa))), list(np.argsort(np.argsort(pb)))
    b.run("y", "MatMul", ["y"], lambda: lower.matmul(lower.transpose(a_in, inv_a), lower.transpose(b_in, inv_b)))
    expected = np.matmul(np.transpose(a_arr, inv_a), np.transpose(b_arr, inv_b))
    np.testing.assert_allclose(run(b, b.get("y"), a=a_arr, b=b_arr), expected, rtol=1e-5, atol=1e-5)
