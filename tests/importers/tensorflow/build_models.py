"""Builds the TensorFlow test models and records TensorFlow's own outputs for them, in one process.

Run as `python build_models.py OUT_DIR [--big N]` (the tests do it once per session, so TensorFlow's
~3 s import is paid once and never in the test process). For each model it writes the SavedModel
under OUT_DIR/<name>/ and OUT_DIR/<name>.npz with the inputs fed and TensorFlow's outputs, on the
deterministic input of Vespa's harness (x[i][j] = j / d1, batch 1) and on a seeded random batch.
OUT_DIR/manifest.json lists the models with their signature input and output keys.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

v1 = tf.compat.v1
OUT = Path(sys.argv[1])
MANIFEST: dict[str, dict] = {}
RNG = np.random.default_rng(7)


def feeds_for(placeholders: dict[str, tuple[tf.Tensor, str]]) -> list[dict[str, np.ndarray]]:
    """Deterministic (batch 1, x[i][j] = j/d1) and random (batch 3) values for each input."""
    cases = []
    for batch, random in ((1, False), (3, True)):
        case = {}
        for key, (tensor, kind) in placeholders.items():
            shape = [batch if d is None else d for d in tensor.shape.as_list()]
            dtype = tensor.dtype.as_numpy_dtype
            if kind == "int":
                value = RNG.integers(0, 4, size=shape) if random else np.arange(int(np.prod(shape))).reshape(shape) % 4
            elif kind == "bool":
                value = RNG.integers(0, 2, size=shape).astype(bool) if random else (np.arange(int(np.prod(shape))) % 2 == 0).reshape(shape)
            elif random:
                value = RNG.normal(size=shape) if kind == "float" else RNG.uniform(0.05, 0.95, size=shape) \
                    if kind == "unit" else RNG.uniform(0.1, 2.0, size=shape)
            else:
                last = shape[-1] if shape else 1
                value = np.broadcast_to(np.arange(last) / last, shape) if shape else np.array(0.5)
                if kind == "unit":
                    value = value * 0.9 + 0.05
                elif kind == "positive":
                    value = value + 0.1
            case[key] = np.asarray(value).astype(dtype)
        cases.append(case)
    return cases


def save_tf1(name: str, build, as_text: bool = False, frozen: bool = False) -> None:
    """Build a TF1 graph, save it with SavedModelBuilder + predict_signature_def, record outputs."""
    graph = tf.Graph()
    with graph.as_default():
        v1.set_random_seed(1)
        inputs, outputs = build()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            directory = OUT / name
            builder = v1.saved_model.Builder(str(directory))
            signature = v1.saved_model.predict_signature_def(
                {k: t for k, (t, _) in inputs.items()}, outputs)
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
            builder.save(as_text=as_text)
            if frozen:
                shutil.rmtree(directory / "variables", ignore_errors=True)
            record(name, "serving_default", inputs, outputs,
                   lambda feed: session.run(outputs, {inputs[k][0]: v for k, v in feed.items()}))


def record(name: str, signature: str, inputs, outputs, run) -> None:
    arrays = {}
    for i, feed in enumerate(feeds_for(inputs)):
        result = run(feed)
        for key, value in feed.items():
            arrays[f"{i}/in/{key}"] = value
        for key, value in result.items():
            arrays[f"{i}/out/{key}"] = np.asarray(value)
    np.savez(OUT / f"{name}.npz", **arrays)
    MANIFEST[name] = {"signature": signature, "inputs": sorted(inputs), "outputs": sorted(outputs)}


def placeholder(shape, name, kind="float", dtype=tf.float32):
    return v1.placeholder(dtype, shape=shape, name=name), kind


def softmax_regression():
    x = placeholder([None, 784], "Placeholder")
    w = v1.Variable(v1.random_normal([784, 10], stddev=0.1, seed=1), name="Variable")
    b = v1.Variable(v1.random_normal([10], stddev=0.1, seed=2), name="Variable_1")
    y = tf.matmul(x[0], w) + b
    return {"x": x}, {"y": y}


def dense(h, size, name, seed):
    w = v1.get_variable(f"{name}_w", [h.shape[-1], size], initializer=v1.random_normal_initializer(0, 0.3, seed=seed))
    b = v1.get_variable(f"{name}_b", [size], initializer=v1.random_normal_initializer(0, 0.1, seed=seed + 1))
    return tf.matmul(h, w) + b


def deep_net():
    x = placeholder([None, 20], "input")
    with v1.variable_scope("dnn"):
        with v1.variable_scope("hidden1"):
            z = dense(x[0], 16, "l", 3)
            h1 = tf.maximum(0.01 * z, z, name="leaky_relu")
        with v1.variable_scope("hidden2"):
            h2 = tf.nn.selu(dense(h1, 8, "l", 5))
        with v1.variable_scope("outputs"):
            out = dense(h2, 4, "l", 7)
    return {"x": x}, {"y": out}


def batch_norm():
    x = placeholder([None, 10], "X")
    training = v1.placeholder_with_default(False, shape=(), name="training")
    with v1.variable_scope("dnn"):
        z = dense(x[0], 6, "hidden", 11)
        moving_mean = v1.get_variable("moving_mean", [6], initializer=v1.random_normal_initializer(0, 0.2, seed=13))
        moving_var = v1.get_variable("moving_variance", [6], initializer=v1.random_uniform_initializer(0.5, 1.5, seed=14))
        gamma = v1.get_variable("gamma", [6], initializer=v1.random_uniform_initializer(0.5, 1.5, seed=15))
        beta = v1.get_variable("beta", [6], initializer=v1.random_normal_initializer(0, 0.1, seed=16))

        def train():
            mean, var = tf.nn.moments(z, [0])
            return tf.nn.batch_normalization(z, mean, var, beta, gamma, 0.001)

        def infer():
            return tf.nn.batch_normalization(z, moving_mean, moving_var, beta, gamma, 0.001)

        h = v1.cond(training, train, infer)
        out = dense(tf.nn.elu(h), 3, "out", 17)
    return {"x": x}, {"y": out}


def dropout():
    x = placeholder([None, 10], "X")
    training = v1.placeholder_with_default(False, shape=(), name="training")
    dropped = v1.cond(training, lambda: tf.nn.dropout(x[0], rate=0.5, seed=3), lambda: x[0])
    with v1.variable_scope("outputs"):
        z = dense(dropped, 4, "dense", 21)
        out = tf.maximum(tf.constant([0.01]) * z, z, name="Maximum")
    return {"x": x}, {"y": out}


def frozen():
    x = placeholder([None, 12], "input", dtype=tf.float64)
    w = tf.constant(RNG.normal(size=(12, 5)), name="weights")
    b = tf.constant(RNG.normal(size=(5,)), name="bias")
    return {"input": x}, {"output": tf.identity(tf.add(tf.matmul(x[0], w), b), name="predict")}


def resource_variables():
    x = placeholder([None, 6], "input")
    w = v1.get_variable("w", [6, 3], use_resource=True, initializer=v1.random_normal_initializer(0, 0.5, seed=31))
    b = v1.get_variable("b", [3], use_resource=True, initializer=v1.random_normal_initializer(0, 0.5, seed=32))
    return {"input": x}, {"y": tf.sigmoid(tf.matmul(x[0], w) + b)}


def keras3() -> None:
    import keras

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    tf.saved_model.save(model, str(OUT / "keras3"))
    record_tf2("keras3")


def keras_export() -> None:
    """Keras 3 `model.export`: exact gelu (Erf/Erfc), batch norm, dropout and layer norm in inference."""
    import keras

    keras.utils.set_random_seed(6)
    inputs = keras.Input((6,), name="features")
    h = keras.layers.Dense(5, activation="gelu")(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(0.3)(h)
    h = keras.layers.LayerNormalization()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="sigmoid")(h))
    model.export(str(OUT / "keras_export"))
    record_tf2("keras_export")


def keras_cnn() -> None:
    """A small Keras 3 CNN: Conv2D (same and strided), MaxPooling2D, Flatten (Shape/Pack/Reshape), Dense."""
    import keras

    keras.utils.set_random_seed(8)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu", padding="same"),
                              keras.layers.MaxPooling2D(2), keras.layers.Conv2D(3, 3, strides=2),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    tf.saved_model.save(model, str(OUT / "keras_cnn"))
    record_tf2("keras_cnn")


def tf_module() -> None:
    """A tf.Module whose function has a tf.cond with a constant condition (TF2 `StatelessIf`)."""

    class Scorer(tf.Module):
        def __init__(self):
            self.w = tf.Variable(RNG.normal(size=(4, 3)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def __call__(self, x):
            y = tf.matmul(x, self.w)
            return {"y": tf.cond(tf.constant(True), lambda: tf.nn.relu(y), lambda: y * 2),
                    "z": tf.reduce_sum(y, axis=1)}

    module = Scorer()
    tf.saved_model.save(module, str(OUT / "tf_module"), signatures={"serving_default": module.__call__})
    record_tf2("tf_module")


def record_tf2(name: str) -> None:
    """Record the serving_default signature of a TF2 SavedModel as TensorFlow runs it."""
    fn = tf.saved_model.load(str(OUT / name)).signatures["serving_default"]
    inputs = {key: (_Spec(spec.shape), "float") for key, spec in fn.structured_input_signature[1].items()}
    record(name, "serving_default", inputs, fn.structured_outputs,
           lambda feed: {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feed.items()}).items()})


class _Spec:
    """Shape and dtype of an input that is not a graph placeholder (eager signatures)."""

    def __init__(self, shape):
        self.shape = shape
        self.dtype = tf.float32


def big(weights: int) -> None:
    """A SavedModel with `weights` float weights (for benchmarks/import_tf.py)."""
    def build():
        x = placeholder([None, 1000], "x")
        w = v1.Variable(v1.random_normal([1000, weights // 1000], seed=1), name="w")
        return {"x": x}, {"y": tf.matmul(x[0], w)}

    graph = tf.Graph()
    with graph.as_default(), v1.Session(graph=graph) as session:
        inputs, outputs = build()
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(OUT / "big"))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.predict_signature_def({k: t for k, (t, _) in inputs.items()}, outputs)})
        builder.save()


def checkpoint_dtypes() -> None:
    """Variables of every dtype the reader supports, and their values as TensorFlow reads them."""
    graph = tf.Graph()
    values = {}
    with graph.as_default(), v1.Session(graph=graph) as session:
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        total = x
        for dtype in (tf.float32, tf.float64, tf.float16, tf.bfloat16, tf.int8, tf.int16, tf.int32, tf.int64,
                      tf.uint8, tf.uint16, tf.bool):
            start = RNG.normal(size=(2, 3)) * 50
            variable = v1.Variable(tf.cast(start, dtype), name=f"v_{dtype.name}")
            total = total + tf.reduce_sum(tf.cast(variable, tf.float32))
        session.run(v1.global_variables_initializer())
        for variable in v1.global_variables():
            values[variable.op.name] = session.run(tf.cast(variable, tf.float64) if variable.dtype.base_dtype
                                                   in (tf.bfloat16,) else variable)
        builder = v1.saved_model.Builder(str(OUT / "dtypes"))
        builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
            "serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": total})})
        builder.save()
    np.savez(OUT / "dtypes_values.npz", **values)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if "--big" in sys.argv:
        big(int(sys.argv[sys.argv.index("--big") + 1]))
        return
    v1.disable_control_flow_v2()  # Switch/Merge, as TF1 models have them
    v1.disable_resource_variables()  # VariableV2 read through Identity, as TF1 models have them
    save_tf1("softmax_pb", softmax_regression)
    save_tf1("softmax_pbtxt", softmax_regression, as_text=True)
    save_tf1("deep", deep_net)
    save_tf1("batch_norm", batch_norm)
    save_tf1("dropout", dropout)
    save_tf1("frozen", frozen, frozen=True)
    save_tf1("resource", resource_variables)
    from one_node import ONE_NODE_CASES  # the per-converter models

    for name, build in ONE_NODE_CASES.items():
        save_tf1(f"op_{name}", build)
    checkpoint_dtypes()
    keras3()
    keras_export()
    keras_cnn()
    tf_module()
    (OUT / "manifest.json").write_text(json.dumps(MANIFEST, indent=1))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
