"""Regenerates models/product_ranker/saved, the sample's learned ranker (needs tensorflow-cpu).

A TF1-style SavedModel: features[None, 8] → dense(4, relu) → dense(1) + output_bias. The output
bias is kept in a global document (schemas/ranking_weights.sd) so it can be updated without a
redeploy; `appkit models sample_app` shows the Vespa name a function must have to override it.
Run: python sample_app/models/make_model.py
"""

import shutil
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
EXPORT = HERE / "product_ranker" / "saved"


def main() -> None:
    tf.compat.v1.disable_eager_execution()
    rng = np.random.default_rng(2024)
    graph = tf.Graph()
    with graph.as_default():
        features = tf.compat.v1.placeholder(tf.float32, [None, 8], name="features")
        with tf.compat.v1.variable_scope("hidden"):
            w1 = tf.Variable(rng.normal(0, 0.5, (8, 4)).astype(np.float32), name="weights")
            b1 = tf.Variable(rng.normal(0, 0.1, (4,)).astype(np.float32), name="bias")
            hidden = tf.nn.relu(tf.matmul(features, w1) + b1)
        w2 = tf.Variable(rng.normal(0, 0.5, (4, 1)).astype(np.float32), name="output_weights")
        bias = tf.Variable(np.array([0.1], dtype=np.float32), name="output_bias")
        score = tf.add(tf.matmul(hidden, w2), bias, name="score")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            shutil.rmtree(EXPORT, ignore_errors=True)
            builder = tf.compat.v1.saved_model.builder.SavedModelBuilder(str(EXPORT))
            signature = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"x": features}, outputs={"score": score})
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"serving_default": signature})
            builder.save(as_text=False)
    print("wrote", EXPORT)


if __name__ == "__main__":
    main()
