"""The ONNX importer's contract: diagnostics instead of exceptions, external data only from inside the
package, feature resolution with Vespa's error texts, model facts for the onnx-model form."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from appkit.importers.discovery import ModelSource, import_model
from appkit.importers.onnx.importer import import_onnx_model, onnx_model_info, resolve_expression

from .harness import evaluate_model, import_proto
from .test_models import mnist_softmax


def test_unreadable_file_is_a_diagnostic(tmp_path):
    path = tmp_path / "models" / "broken.onnx"
    path.parent.mkdir()
    path.write_bytes(b"\x08\x07 this is not protobuf")
    model = import_onnx_model(path, "broken", tmp_path)
    assert not model.ok
    assert model.diagnostics[0].code == "AK442"
    assert model.diagnostics[0].span.path == "models/broken.onnx"


def test_all_unsupported_ops_reported_in_one_run(tmp_path):
    nodes = [helper.make_node("Det", ["x"], ["d1"], name="det1"),
             helper.make_node("Det", ["x"], ["d2"], name="det2"),
             helper.make_node("NonZero", ["x"], ["nz"], name="nonzero"),
             helper.make_node("Reshape", ["x", "shape_from_input"], ["r"], name="reshape"),
             helper.make_node("Add", ["d1", "d2"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3]),
                                           helper.make_tensor_value_info("shape_from_input", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("r", TensorProto.FLOAT, None)])
    model, _ = import_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), tmp_path)
    assert [d.message for d in model.diagnostics] == [
        "Operation 'Det' is currently not implemented (used by 'det1', 'det2')",
        "Operation 'NonZero' is currently not implemented (used by 'nonzero')",
        "Reshape node 'reshape': Reshape reshape: Shape input must be a constant"]
    assert [d.code for d in model.diagnostics] == ["AK440", "AK440", "AK441"]


def test_string_input_is_reported_with_vespa_text(tmp_path):
    graph = helper.make_graph([helper.make_node("Identity", ["s"], ["y"])], "g",
                              [helper.make_tensor_value_info("s", TensorProto.STRING, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.STRING, [1])])
    model, _ = import_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), tmp_path)
    assert "A ONNX tensor with data type STRING cannot be converted to a Vespa tensor type" in model.diagnostics[0].message


def _external_model(tmp_path, location: str) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_external_data_inside_the_package_is_read(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "weights.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    onnx.save(_external_model(tmp_path, "weights.bin"), str(models / "m.onnx"))
    model = import_onnx_model(models / "m.onnx", "m", tmp_path)
    assert model.ok, model.diagnostics
    out = evaluate_model(model, {"x": np.ones(4, np.float32)})["y"]
    np.testing.assert_allclose(out, [1, 2, 3, 4])


def test_external_data_outside_the_package_is_never_read(tmp_path):
    package = tmp_path / "app"
    (package / "models").mkdir(parents=True)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    onnx.save(_external_model(tmp_path, "../../secret.bin"), str(package / "models" / "m.onnx"))
    model = import_onnx_model(package / "models" / "m.onnx", "m", package)
    assert [d.code for d in model.diagnostics] == ["AK443"]
    assert "outside the application package" in model.diagnostics[0].message
    assert not model.expressions


def test_feature_resolution_texts(tmp_path):
    model, _ = import_proto(mnist_softmax(), tmp_path, "mnist_softmax")
    assert resolve_expression(model, ("mnist_softmax.onnx",)) == ("default.add", None)
    assert resolve_expression(model, ("mnist_softmax.onnx", "add")) == ("default.add", None)
    assert resolve_expression(model, ("mnist_softmax.onnx", "default")) == ("default.add", None)
    assert resolve_expression(model, ("mnist_softmax.onnx", "default", "add")) == ("default.add", None)
    name, problem = resolve_expression(model, ("mnist_softmax.onnx", "y"), feature_text='onnx("mnist_softmax.onnx","y")')
    assert name is None and problem.message == (
        'Could not use Onnx model from onnx("mnist_softmax.onnx","y"): No expressions named \'y\' in model '
        "'mnist_softmax.onnx'. Available expressions: default.add")
    _, problem = resolve_expression(model, ("mnist_softmax.onnx", "default", "x"))
    assert problem.message == "No expression 'default.x' in model 'mnist_softmax.onnx'. Available expressions: default.add"
    _, problem = resolve_expression(model, ("m.onnx", "a", "b", "c"))
    assert problem.code == "AK449"


def test_model_info_keeps_symbolic_sizes(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(mnist_softmax("batch"), str(path))
    info = onnx_model_info(path, tmp_path)
    assert info.input_names() == ["Placeholder:0"] and info.output_names() == ["add:0"]
    assert info.inputs[0].sizes == ("batch", 784)
    assert info.inputs[0].describe() == "float[batch,784]"
    assert str(info.inputs[0].vespa_type(runtime=True)) == "tensor<float>(d0[],d1[784])"
    assert str(info.inputs[0].vespa_type()) == "tensor<float>(d0[1],d1[784])"


def test_import_model_dispatches_by_format(tmp_path):
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "mnist.onnx"
    onnx.save(mnist_softmax(), str(path))
    model = import_model(ModelSource("mnist", path, "onnx"), tmp_path)
    assert model.ok and model.path == "mnist.onnx" and model.format == "onnx"


def test_if_with_a_constant_condition_inlines_the_branch_taken(tmp_path):
    def branch(op: str) -> onnx.GraphProto:
        w = numpy_helper.from_array(np.array([1, 2, 3], np.float32), "w")
        return helper.make_graph([helper.make_node(op, ["x", "w"], ["out"])], op, [],
                                 [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3])], [w])

    for training, expected in ((True, [2, 3, 4]), (False, [0, -1, -2])):
        nodes = [helper.make_node("If", ["training"], ["y"], name="if", then_branch=branch("Add"),
                                  else_branch=branch("Sub"))]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
                                  [numpy_helper.from_array(np.array(training), "training")])
        model, path = import_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                                     ir_version=8), tmp_path, f"if{int(training)}")
        assert model.ok, model.diagnostics
        ours = evaluate_model(model, {"x": np.ones(3, np.float32)})["y"]
        np.testing.assert_allclose(ours, expected)
        from .harness import run_onnxruntime

        np.testing.assert_allclose(ours, run_onnxruntime(path, {"x": np.ones(3, np.float32)})["y"])


def test_ops_without_converter_fold_when_their_inputs_are_constant(tmp_path):
    """NonZero has no converter (its size depends on the values), but of a constant it is computed at
    import time by ONNX's reference implementation."""
    mask = numpy_helper.from_array(np.array([0, 3, 0, 5], np.float32), "mask")
    nodes = [helper.make_node("NonZero", ["mask"], ["where"]),
             helper.make_node("Squeeze", ["where", "zero"], ["positions"]),
             helper.make_node("Gather", ["x", "positions"], ["y"])]
    zero = numpy_helper.from_array(np.array([0], np.int64), "zero")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [mask, zero])
    model, _ = import_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), tmp_path)
    assert model.ok, model.diagnostics
    out = evaluate_model(model, {"x": np.array([10, 20, 30, 40], np.float32)})["y"]
    np.testing.assert_allclose(out, [20, 40])


def test_loop_with_a_constant_trip_count_is_unrolled(tmp_path):
    from .harness import run_onnxruntime

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["i_float"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["x", "i_float"], ["scaled"]),
         helper.make_node("Add", ["total_in", "scaled"], ["total_out"]),
         helper.make_node("Identity", ["total_out"], ["seen"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("total_in", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("total_out", TensorProto.FLOAT, [3]),
         helper.make_tensor_value_info("seen", TensorProto.FLOAT, [3])])
    inits = [numpy_helper.from_array(np.array(4, np.int64), "m"), numpy_helper.from_array(np.array(True), "go"),
             numpy_helper.from_array(np.zeros(3, np.float32), "zero")]
    graph = helper.make_graph([helper.make_node("Loop", ["m", "go", "zero"], ["total", "history"], body=body)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("total", TensorProto.FLOAT, [3]),
                               helper.make_tensor_value_info("history", TensorProto.FLOAT, [4, 3])], inits)
    model, path = import_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
                               tmp_path)
    assert model.ok, model.diagnostics
    x = np.array([1, 2, 3], np.float32)
    ours, theirs = evaluate_model(model, {"x": x}), run_onnxruntime(path, {"x": x})
    np.testing.assert_allclose(ours["total"], 6 * x)
    np.testing.assert_allclose(ours["history"], theirs["history"])


def _one_node_model(node, inputs, opset: int):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def test_malformed_einsum_ellipsis_and_resize_policy_are_located_diagnostics(tmp_path):
    # both equations once sent ONNX's own shape inference into an endless loop
    for equation in ("....i->i", "...i...->i"):
        bad_einsum = helper.make_node("Einsum", ["a"], ["y"], name="ein", equation=equation)
        model, _ = import_proto(_one_node_model(bad_einsum, [("a", [2, 3])], 12), tmp_path)
        assert [d.code for d in model.diagnostics] == ["AK441"], equation
        assert "Einsum node 'ein'" in model.diagnostics[0].message and "ellipsis" in model.diagnostics[0].message
    too_many = helper.make_node("Einsum", ["a"], ["y"], name="ein", equation="...ijk->i")
    model, _ = import_proto(_one_node_model(too_many, [("a", [2, 3])], 12), tmp_path)
    assert [d.code for d in model.diagnostics] == ["AK441"]
    assert "more letters than its operand has dimensions" in model.diagnostics[0].message
    sizes = numpy_helper.from_array(np.array([3, 3], dtype=np.int64), "sizes")
    resize = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name="rs", axes=[0, 1],
                              keep_aspect_ratio_policy="sideways")
    graph = helper.make_graph([resize], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [sizes])
    model, _ = import_proto(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), tmp_path)
    assert [d.code for d in model.diagnostics] == ["AK441"]
    assert "keep_aspect_ratio_policy 'sideways'" in model.diagnostics[0].message
