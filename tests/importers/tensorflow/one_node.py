"""One small TF1 graph per converter: each case returns ({key: (placeholder, kind)}, {key: output}).

Kinds say what values the input takes: float (any), positive, unit (in (0, 1)), int, bool.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
RNG = np.random.default_rng(11)


def ph(shape, kind="float", dtype=tf.float32, name="x"):
    return v1.placeholder(dtype, shape=shape, name=name), kind


def unary(fn, kind="float", shape=(None, 5)):
    def build():
        x = ph(list(shape), kind)
        return {"x": x}, {"y": fn(x[0])}
    return build


def binary(fn, shape_a=(None, 4), shape_b=(4,), kind="float", const_b=False):
    def build():
        a = ph(list(shape_a), kind, name="a")
        if const_b:
            return {"a": a}, {"y": fn(a[0], tf.constant(RNG.uniform(0.5, 1.5, size=shape_b).astype(np.float32)))}
        b = ph(list(shape_b), kind, name="b")
        return {"a": a, "b": b}, {"y": fn(a[0], b[0])}
    return build


def with_x(fn, shape=(None, 3, 4), kind="float", dtype=tf.float32):
    def build():
        x = ph(list(shape), kind, dtype)
        return {"x": x}, {"y": fn(x[0])}
    return build


W = RNG.normal(size=(4, 3)).astype(np.float32)
FILTER = RNG.normal(size=(3, 2, 2, 4)).astype(np.float32)
DEPTHWISE = RNG.normal(size=(3, 3, 2, 3)).astype(np.float32)
CASES = {
    # Vespa's list (reference §1.2), by real op names
    "Abs": unary(tf.abs), "Acos": unary(tf.acos, "unit"), "Asin": unary(tf.asin, "unit"), "Atan": unary(tf.atan),
    "Ceil": unary(tf.math.ceil), "Cos": unary(tf.cos), "Exp": unary(tf.exp), "Floor": unary(tf.floor),
    "Log": unary(tf.math.log, "positive"), "Neg": unary(tf.negative), "Reciprocal": unary(tf.math.reciprocal, "positive"),
    "Rsqrt": unary(tf.math.rsqrt, "positive"), "Sigmoid": unary(tf.sigmoid), "Sin": unary(tf.sin),
    "Square": unary(tf.square), "Sqrt": unary(tf.sqrt, "positive"), "Tan": unary(tf.tan, "unit"), "Tanh": unary(tf.tanh),
    "Elu": unary(tf.nn.elu), "Relu": unary(tf.nn.relu), "Selu": unary(tf.nn.selu), "Softmax": unary(tf.nn.softmax),
    "Add": binary(lambda a, b: tf.raw_ops.Add(x=a, y=b)), "AddN": binary(lambda a, b: tf.add_n([a, b, a]), (None, 4), (None, 4)),
    "RealDiv": binary(tf.divide, kind="positive"), "Div": binary(lambda a, b: tf.raw_ops.Div(x=a, y=b), kind="positive"),
    "Maximum": binary(tf.maximum), "Mul": binary(tf.multiply), "SquaredDifference": binary(tf.math.squared_difference),
    "Sub": binary(tf.subtract), "MatMul": binary(tf.matmul, (None, 4), (4, 3)),
    "MatMul_transposed": binary(lambda a, b: tf.matmul(a, b, transpose_b=True), (None, 4), (3, 4)),
    "Mean": with_x(lambda x: tf.reduce_mean(x, axis=1)), "Sum": with_x(lambda x: tf.reduce_sum(x, axis=[1, 2], keepdims=True)),
    "Select": lambda: _select(), "ConcatV2": binary(lambda a, b: tf.concat([a, b], axis=1), (None, 4), (None, 3)),
    "ExpandDims": with_x(lambda x: tf.expand_dims(x, 1)), "Identity": unary(tf.identity),
    "Reshape": with_x(lambda x: tf.reshape(x, [-1, 12])), "Reshape_split": with_x(lambda x: tf.reshape(x, [-1, 2, 6])),
    "Shape": with_x(lambda x: tf.cast(tf.shape(x)[1:], tf.float32) * x[:, 0, :2], (2, 3, 4)),
    "Squeeze": with_x(lambda x: tf.squeeze(x, [1]), (None, 1, 4)), "StopGradient": unary(tf.stop_gradient),
    "BiasAdd": binary(tf.nn.bias_add, (None, 4), (4,)),
    # the list
    "AddV2": binary(tf.add), "LeakyRelu": unary(lambda x: tf.nn.leaky_relu(x, 0.1)), "Relu6": unary(lambda x: tf.nn.relu6(3 * x)),
    "Softplus": unary(tf.nn.softplus), "Softsign": unary(tf.nn.softsign), "Erf": unary(tf.math.erf),
    "Pow": binary(tf.pow, kind="positive"), "Minimum": binary(tf.minimum), "Log1p": unary(tf.math.log1p, "positive"),
    "Cast": unary(lambda x: tf.cast(tf.cast(x * 3, tf.int32), tf.float32)), "Cast_double": unary(lambda x: tf.cast(x, tf.float64)),
    "Fill": unary(lambda x: x + tf.fill([5], 2.5)), "Tile": with_x(lambda x: tf.tile(x, [1, 2, 1])),
    "Slice": with_x(lambda x: tf.slice(x, [0, 1, 1], [-1, 2, 3])),
    "StridedSlice": with_x(lambda x: x[:, 1:, ::2]), "StridedSlice_shrink": with_x(lambda x: x[:, 1, 1:3]),
    "StridedSlice_newaxis": with_x(lambda x: x[:, tf.newaxis, :2, -1]), "StridedSlice_ellipsis": with_x(lambda x: x[..., 1]),
    "Pack": binary(lambda a, b: tf.stack([a, b], axis=1), (None, 4), (None, 4)),
    "Unpack": with_x(lambda x: tf.unstack(x, axis=1)[2]), "Transpose": with_x(lambda x: tf.transpose(x, [0, 2, 1])),
    "GatherV2": with_x(lambda x: tf.gather(x, [2, 0, 2], axis=2)),
    "GatherV2_input": lambda: _gather_input(),
    "Equal": binary(lambda a, b: tf.cast(tf.equal(tf.round(a), tf.round(b)), tf.float32)),
    "NotEqual": binary(lambda a, b: tf.cast(tf.not_equal(tf.round(a), tf.round(b)), tf.float32)),
    "Greater": binary(lambda a, b: tf.cast(a > b, tf.float32)), "GreaterEqual": binary(lambda a, b: tf.cast(a >= b, tf.float32)),
    "Less": binary(lambda a, b: tf.cast(a < b, tf.float32)), "LessEqual": binary(lambda a, b: tf.cast(a <= b, tf.float32)),
    "LogicalAnd": binary(lambda a, b: tf.cast(tf.logical_and(a > 0, b > 0), tf.float32)),
    "LogicalOr": binary(lambda a, b: tf.cast(tf.logical_or(a > 0, b > 0), tf.float32)),
    "LogicalNot": unary(lambda x: tf.cast(tf.logical_not(x > 0), tf.float32)),
    "SelectV2": binary(lambda a, b: tf.where(a > b, a, b * 2)),
    "Prod": with_x(lambda x: tf.reduce_prod(x, axis=2)), "Max": with_x(lambda x: tf.reduce_max(x, axis=1)),
    "Min": with_x(lambda x: tf.reduce_min(x, axis=[1, 2])),
    "ArgMax": with_x(lambda x: tf.cast(tf.argmax(x, axis=2), tf.float32)),
    "ArgMin": with_x(lambda x: tf.cast(tf.argmin(x, axis=1), tf.float32)),
    "FusedBatchNormV3": lambda: _fused_batch_norm(),
    "Einsum_1": with_x(lambda x: tf.einsum("bij->bji", x)),
    "Einsum_2": binary(lambda a, b: tf.einsum("bi,ij->bj", a, b), (None, 4), (4, 3)),
    "BatchMatMulV2": binary(tf.matmul, (None, 3, 4), (4, 2)),
    "LogSoftmax": unary(tf.nn.log_softmax), "Size": with_x(lambda x: x * tf.cast(tf.size(x), tf.float32), (2, 3, 4)),
    "Rank": with_x(lambda x: x * tf.cast(tf.rank(x), tf.float32)),
    "OneHot": lambda: _one_hot(),
    # more ops TensorFlow writes for common models
    "Erfc": unary(tf.math.erfc), "ClipByValue": unary(lambda x: tf.clip_by_value(x, -0.5, 0.7)),
    "DivNoNan": binary(lambda a, b: tf.math.divide_no_nan(a, tf.nn.relu(b))),
    "All": with_x(lambda x: tf.cast(tf.reduce_all(x > -0.5, axis=2), tf.float32)),
    "Any": with_x(lambda x: tf.cast(tf.reduce_any(x > 0.8, axis=1, keepdims=True), tf.float32)),
    "Cumsum": with_x(lambda x: tf.cumsum(x, axis=2, exclusive=True)),
    "BroadcastTo": with_x(lambda x: tf.broadcast_to(x, [2, 3, 4]) * 2, (1, 3, 1)),
    "Pad": with_x(lambda x: tf.pad(x, [[0, 0], [1, 2], [0, 1]])),
    "PadV2": with_x(lambda x: tf.pad(x, [[0, 0], [0, 1], [2, 0]], constant_values=1.5)),
    "MirrorPad": with_x(lambda x: tf.pad(x, [[0, 0], [1, 1], [2, 1]], mode="REFLECT")),
    # convolution and pooling (NHWC), which Vespa never had
    "Conv2D": with_x(lambda x: tf.nn.conv2d(x, FILTER, 1, "VALID"), (None, 6, 5, 2)),
    "Conv2D_same_strided": with_x(lambda x: tf.nn.conv2d(x, FILTER, [1, 2, 2, 1], "SAME"), (None, 6, 5, 2)),
    "Conv2D_dilated": with_x(lambda x: tf.nn.conv2d(x, FILTER, 1, "SAME", dilations=2), (None, 6, 5, 2)),
    "MaxPool": with_x(lambda x: tf.nn.max_pool2d(x, 3, 2, "SAME"), (None, 6, 5, 2)),
    "AvgPool": with_x(lambda x: tf.nn.avg_pool2d(x, [2, 3], [1, 2], "SAME"), (None, 6, 5, 2)),
    "DepthwiseConv2dNative": with_x(lambda x: tf.nn.depthwise_conv2d(x, DEPTHWISE, [1, 1, 1, 1], "SAME"),
                                    (None, 6, 5, 2)),
    "MaxPool_valid": with_x(lambda x: tf.nn.max_pool2d(x - 3.0, 2, 2, "VALID"), (None, 6, 5, 2)),
}


def _select():
    c = ph([None, 4], "float", name="c")
    a = ph([None, 4], name="a")
    return {"c": c, "a": a}, {"y": tf.raw_ops.Select(condition=c[0] > 0, x=a[0], y=-a[0])}


def _gather_input():
    x = ph([None, 3], "int", tf.int32, name="ids")
    table = tf.constant(RNG.normal(size=(4, 5)).astype(np.float32))
    return {"ids": x}, {"y": tf.gather(table, x[0])}


def _fused_batch_norm():
    x = ph([None, 2, 2, 3], name="x")
    scale, offset = tf.constant([1.0, 0.5, 2.0]), tf.constant([0.1, -0.2, 0.3])
    mean, var = tf.constant([0.2, -0.1, 0.0]), tf.constant([1.5, 0.5, 2.0])
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(x[0], scale, offset, mean, var, epsilon=0.001, is_training=False)
    return {"x": x}, {"y": y}


def _one_hot():
    x = ph([None, 3], "int", tf.int32, name="ids")
    return {"ids": x}, {"y": tf.one_hot(x[0], 4, on_value=2.0, off_value=-1.0)}


ONE_NODE_CASES = CASES
