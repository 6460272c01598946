"""Regenerates the small ONNX models used by the validation cases (run: python make_models.py).

scorer.onnx: input[4] · W[4,2] → score[2], seeded weights. unsupported.onnx: the same graph behind
an op appkit does not convert (Det), to check that unsupported ops are reported.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def scorer(extra_op: str | None = None) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.random.default_rng(7).normal(size=(4, 2)).astype(np.float32), "W")
    nodes = [helper.make_node("MatMul", ["input", "W"], ["mm"], name="matmul")]
    if extra_op == "Det":
        nodes.append(helper.make_node("Reshape", ["mm", "shape"], ["sq"], name="to_square"))
        nodes.append(helper.make_node("Det", ["sq"], ["score"], name="determinant"))
        out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [])
        inits = [w, numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "shape")]
    else:
        nodes.append(helper.make_node("Identity", ["mm"], ["score"], name="score"))
        out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [2])
        inits = [w]
    graph = helper.make_graph(nodes, "scorer", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [4])],
                              [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="appkit-tests")
    model.ir_version = 8
    return model


if __name__ == "__main__":
    onnx.save(scorer(), HERE / "scorer.onnx")
    onnx.save(scorer("Det"), HERE / "unsupported.onnx")
    print("wrote", HERE / "scorer.onnx", HERE / "unsupported.onnx")
