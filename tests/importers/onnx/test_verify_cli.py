"""`appkit verify` on a package of ONNX models: appkit's conversion against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from appkit.cli.main import main

from .test_models import mlp, mnist_softmax


def embedding_model() -> onnx.ModelProto:
    table = numpy_helper.from_array(np.random.default_rng(4).normal(size=(6, 3)).astype(np.float32), "table")
    nodes = [helper.make_node("Gather", ["table", "ids"], ["vectors"]),
             helper.make_node("ReduceMean", ["vectors"], ["pooled"], axes=[1], keepdims=0)]
    graph = helper.make_graph(nodes, "embed", [helper.make_tensor_value_info("ids", TensorProto.INT32, [2, 4])],
                              [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [2, 3])], [table])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_verify_passes_on_onnx_models(tmp_path, capsys):
    models = tmp_path / "models"
    models.mkdir()
    onnx.save(mnist_softmax(), str(models / "mnist_softmax.onnx"))
    onnx.save(mlp(), str(models / "mlp.onnx"))
    onnx.save(embedding_model(), str(models / "embed.onnx"))
    assert main(["verify", str(tmp_path), "--format", "json"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist_softmax", "mlp", "embed"):
        assert name in out
