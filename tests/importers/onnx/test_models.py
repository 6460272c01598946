"""Small real models: the seed's MNIST softmax regression (built with onnx.helper, and exported from
TensorFlow with tf2onnx) and an MLP, imported and compared with onnxruntime; Vespa's naming contract."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from appkit.expr.printer import print_expression

from .harness import assert_close, evaluate_model, import_proto, run_onnxruntime


def vespa_input(rows: int = 1, cols: int = 784) -> np.ndarray:
    """Vespa's test harness input: x[i][j] = j / cols."""
    return np.tile(np.arange(cols, dtype=np.float32) / cols, (rows, 1))


def mnist_softmax(batch: int | str = -1) -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.1, (784, 10)).astype(np.float32)
    b = rng.normal(0, 0.1, 10).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["Placeholder:0", "Variable"], ["MatMul:0"], name="MatMul"),
             helper.make_node("Add", ["MatMul:0", "Variable_1"], ["add:0"], name="add")]
    x = helper.make_tensor_value_info("Placeholder:0", TensorProto.FLOAT, [batch, 784])
    y = helper.make_tensor_value_info("add:0", TensorProto.FLOAT, [batch, 10])
    graph = helper.make_graph(nodes, "mnist_softmax", [x], [y],
                              [numpy_helper.from_array(w, "Variable"), numpy_helper.from_array(b, "Variable_1")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=8)


def test_mnist_softmax_naming_and_values(tmp_path):
    model, path = import_proto(mnist_softmax(), tmp_path, "test")
    assert model.ok, model.diagnostics
    assert list(model.expressions) == ["default.add"]
    assert model.signatures == {"default": ("add",)}
    assert {n: str(i.type) for n, i in model.inputs.items()} == {"Placeholder": "tensor<float>(d0[],d1[784])"}
    assert str(model.outputs["default.add"].type) == "tensor<float>(d0[],d1[10])"
    assert sorted(model.constants) == ["test_Variable", "test_Variable_1"]
    text = print_expression(model.expressions["default.add"])
    # one join + sum over the shared dimension, constants used without renames, output back to d0, d1
    assert "reduce(join(Placeholder, constant(test_Variable), f(a,b)(a * b)), sum, d1)" in text, text
    assert "rename(constant" not in text and text.count("rename(") == 1, text
    assert [v.log_line("ONNX") for v in model.variables] == [
        "Importing ONNX variable Variable as test_Variable of type tensor(d1[784],d2[10])",
        "Importing ONNX variable Variable_1 as test_Variable_1 of type tensor(d2[10])"]
    x = vespa_input()
    assert_close(evaluate_model(model, {"Placeholder:0": x})["add"], run_onnxruntime(path, {"Placeholder:0": x})["add:0"])


def test_symbolic_batch_is_size_one(tmp_path):
    model, _ = import_proto(mnist_softmax("batch"), tmp_path, "sym")
    assert str(model.inputs["Placeholder"].type) == "tensor<float>(d0[1],d1[784])"


def mlp(seed: int = 3) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, 0.2, shape).astype(np.float32), name)

    inits = [init("w1", 64, 784), init("b1", 64), init("w2", 64, 32), init("b2", 32), init("w3", 32, 10),
             init("b3", 10), init("scale", 64), init("bias", 64), init("mean", 64),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 64).astype(np.float32), "var")]
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("BatchNormalization", ["h1", "scale", "bias", "mean", "var"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["h2"]),
        helper.make_node("Tanh", ["h2"], ["r2"]),
        helper.make_node("Gemm", ["r2", "w3", "b3"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [2, 1, 28, 28])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [2, 10]),
                               helper.make_tensor_value_info("label", TensorProto.INT64, [2])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)], ir_version=8)


def test_mlp_matches_onnxruntime(tmp_path):
    model, path = import_proto(mlp(), tmp_path, "mlp")
    assert model.ok, model.diagnostics
    assert sorted(model.expressions) == ["default.label", "default.probabilities"]
    # logits feed two outputs: a shared function, not a duplicated subtree
    assert any(name.startswith("imported_ml_function_mlp_") for name in model.functions)
    image = np.random.default_rng(7).uniform(0, 1, (2, 1, 28, 28)).astype(np.float32)
    ours = evaluate_model(model, {"image": image})
    theirs = run_onnxruntime(path, {"image": image})
    assert_close(ours["probabilities"], theirs["probabilities"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours["label"], theirs["label"])


@pytest.fixture(scope="module")
def tf2onnx_mnist(tmp_path_factory):
    """The seed's softmax regression written in TensorFlow and exported with tf2onnx (seeded)."""
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    tf.random.set_seed(5)
    w = tf.Variable(tf.random.normal([784, 10], stddev=0.1), name="Variable")
    b = tf.Variable(tf.random.normal([10], stddev=0.1), name="Variable_1")

    @tf.function(input_signature=[tf.TensorSpec([None, 784], tf.float32, name="Placeholder")])
    def predict(x):
        return {"y": tf.nn.softmax(tf.matmul(x, w) + b)}

    path = tmp_path_factory.mktemp("tf2onnx") / "mnist_softmax.onnx"
    tf2onnx.convert.from_function(predict, input_signature=predict.input_signature, opset=13, output_path=str(path))
    x = vespa_input(1)
    return path, x, predict(tf.constant(x))["y"].numpy()


def test_tf2onnx_mnist_softmax(tf2onnx_mnist, tmp_path):
    from appkit.importers.onnx.importer import import_onnx_model

    path, x, expected = tf2onnx_mnist
    model = import_onnx_model(path, "mnist_softmax", path.parent)
    assert model.ok, model.diagnostics
    (name,) = model.expressions
    (required,) = model.inputs.values()
    # tf2onnx writes the None batch as a symbolic size, which becomes 1 (reference §2.7)
    assert required.name == "Placeholder" and str(required.type) == "tensor<float>(d0[1],d1[784])"
    onnx_input = required.framework_name
    ours = evaluate_model(model, {onnx_input: x})[name.split(".", 1)[1]]
    assert_close(ours, expected, rtol=1e-5, atol=1e-6)
    runtime = run_onnxruntime(path, {onnx_input: x})
    assert_close(ours, next(iter(runtime.values())), rtol=1e-5, atol=1e-6)


def _keras_cnn(tf):
    inp = tf.keras.Input((28, 28, 1), name="image")
    x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.MaxPooling2D()(x)
    x = tf.keras.layers.Conv2D(16, 3, strides=2, activation="elu")(x)
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dropout(0.3)(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(10, activation="softmax")(x))


def _keras_text(tf):
    inp = tf.keras.Input((12,), dtype="int32", name="tokens")
    x = tf.keras.layers.Embedding(50, 16)(inp)
    x = tf.keras.layers.LayerNormalization()(x)
    x = tf.keras.layers.Add()([x, tf.keras.layers.MultiHeadAttention(2, 8)(x, x)])
    x = tf.keras.layers.Conv1D(8, 3, padding="causal")(x)
    x = tf.keras.layers.GlobalMaxPooling1D()(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="tanh")(x))


@pytest.mark.parametrize("build,feed", [
    (_keras_cnn, lambda rng: {"image": rng.uniform(0, 1, (2, 28, 28, 1)).astype(np.float32)}),
    (_keras_text, lambda rng: {"tokens": rng.integers(0, 50, (2, 12)).astype(np.int32)}),
], ids=["cnn", "embedding-attention"])
def test_keras_models_exported_with_tf2onnx(tf2onnx_mnist, build, feed, tmp_path):
    """A CNN (Conv2D, BatchNorm, MaxPool, DepthwiseConv, global pooling) and a text model (Embedding,
    LayerNorm, MultiHeadAttention, causal Conv1D), as tf2onnx writes them; compared with onnxruntime."""
    import tensorflow as tf
    import tf2onnx

    from appkit.importers.onnx.importer import import_onnx_model

    tf.random.set_seed(2)
    keras_model = build(tf)
    spec = [tf.TensorSpec((2,) + tuple(i.shape[1:]), i.dtype, name=i.name) for i in keras_model.inputs]
    path = tmp_path / "keras.onnx"
    tf2onnx.convert.from_keras(keras_model, input_signature=spec, opset=17, output_path=str(path))
    model = import_onnx_model(path, "keras", tmp_path)
    assert model.ok, [str(d) for d in model.diagnostics]
    inputs = feed(np.random.default_rng(3))
    ours = evaluate_model(model, inputs)
    for name, expected in run_onnxruntime(path, inputs).items():
        assert_close(ours[name.split(":")[0]], expected, rtol=1e-5, atol=1e-6)
