"""TensorFlow import against TensorFlow itself: every model built by build_models.py (TF1 softmax
regression as .pb and .pbtxt, deep net, batch norm, dropout, frozen graph, resource variables, Keras 3,
one model per converter) must evaluate like TensorFlow did, within 1e-5 relative, on Vespa's
deterministic input and on a random batch. TensorFlow runs only in the builder subprocess."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from appkit.cli.main import main
from appkit.cli.verify import errors, evaluate_imported, signature_input_functions
from appkit.expr import ir
from appkit.importers.tensorflow import protos
from appkit.importers.tensorflow.checkpoint import Checkpoint
from appkit.importers.tensorflow.importer import import_tensorflow_model
from appkit.importers.tensorflow.ops import TF
from appkit.importers.tensorflow.resolve import resolve_output
from appkit.tensor.type import TensorType

HERE = Path(__file__).parent
TOLERANCE = 1e-5
needs_tf = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow installed")



@pytest.fixture(scope="session")
def models(tmp_path_factory) -> Path:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("needs tensorflow installed to build the test models")
    out = tmp_path_factory.mktemp("tf_models")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_HOME=str(out / "keras"), CUDA_VISIBLE_DEVICES="")
    run = subprocess.run([sys.executable, str(HERE / "build_models.py"), str(out)], capture_output=True, text=True,
                         env=env, cwd=HERE, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def manifest(models: Path) -> dict:
    return json.loads((models / "manifest.json").read_text())


def check_against_tensorflow(models: Path, name: str) -> None:
    info = manifest(models)[name]
    model = import_tensorflow_model(models / name, name)
    assert model.ok, [str(d) for d in model.diagnostics]
    data = np.load(models / f"{name}.npz")
    for case in (0, 1):  # Vespa's deterministic input, then a random batch
        functions = signature_input_functions(str(models / name))[info["signature"]]
        inputs = {functions[key]: data[f"{case}/in/{key}"] for key in info["inputs"]}
        for key in info["outputs"]:
            actual = evaluate_imported(model, f"{info['signature']}.{key}", inputs)
            expected = data[f"{case}/out/{key}"]
            abs_err, rel_err = errors(actual, expected)
            assert rel_err <= TOLERANCE, f"{name} case {case} output {key}: abs {abs_err} rel {rel_err}"


@needs_tf
@pytest.mark.parametrize("name", ["softmax_pb", "softmax_pbtxt", "deep", "batch_norm", "dropout", "frozen",
                                  "resource", "keras3", "keras_export", "keras_cnn", "tf_module"])
def test_model_equals_tensorflow(models, name):
    check_against_tensorflow(models, name)


def _one_node_case_names() -> list[str]:
    """The CASES keys of one_node.py, read without importing it (it imports TensorFlow)."""
    import ast

    tree = ast.parse((HERE / "one_node.py").read_text())
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and getattr(statement.targets[0], "id", "") == "CASES":
            return [k.value for k in statement.value.keys]  # type: ignore[attr-defined]
    return []


ONE_NODE = _one_node_case_names()


@needs_tf
@pytest.mark.parametrize("op", ONE_NODE)
def test_converter_equals_tensorflow(models, op):
    """One single-op model per converter (all built in the one builder run)."""
    check_against_tensorflow(models, f"op_{op}")


def test_one_model_per_converter_family():
    assert len(ONE_NODE) >= 80


@needs_tf
def test_every_required_op_is_registered(models):
    required = ("Abs Acos Asin Atan Ceil Cos Exp Floor Log Neg Reciprocal Rsqrt Sigmoid Sin Square Sqrt Tan Tanh "
                "Add AddN Div RealDiv Maximum Mul SquaredDifference Sub MatMul Mean Sum Select SelectV2 BiasAdd Elu "
                "Relu Selu Softmax ConcatV2 Const ExpandDims Identity Placeholder PlaceholderWithDefault Reshape Shape "
                "Squeeze Merge Switch VariableV2 VarHandleOp ReadVariableOp StopGradient AddV2 LeakyRelu Relu6 "
                "Softplus Softsign Erf Pow Minimum Log1p Cast Fill Tile Slice StridedSlice Pack Unpack Transpose "
                "GatherV2 ResourceGather Equal NotEqual Greater GreaterEqual Less LessEqual LogicalAnd LogicalOr "
                "LogicalNot Prod Max Min ArgMax ArgMin FusedBatchNorm FusedBatchNormV3 Einsum BatchMatMulV2 "
                "LogSoftmax Size Rank OneHot").split()
    missing = [op for op in required if op not in TF]
    assert not missing


def test_reading_does_not_import_tensorflow(models):
    code = ("import sys; from pathlib import Path; "
            "from appkit.importers.tensorflow.importer import import_tensorflow_model; "
            f"m = import_tensorflow_model(Path({str(models / 'keras3')!r}), 'k'); "
            f"n = import_tensorflow_model(Path({str(models / 'softmax_pbtxt')!r}), 's'); "
            "assert m.ok and n.ok and m.expressions and n.expressions; "
            "assert 'tensorflow' not in sys.modules and 'tensorboard' not in sys.modules, 'tensorflow was imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=HERE.parents[2])
    assert run.returncode == 0, run.stderr[-2000:]


@needs_tf
def test_naming_and_types_follow_vespa(models):
    model = import_tensorflow_model(models / "softmax_pb", "mnist_softmax_saved")
    assert list(model.inputs) == ["Placeholder"]  # named after the placeholder, not the signature key 'x'
    assert model.inputs["Placeholder"].type == TensorType.parse("tensor<float>(d0[],d1[784])")
    assert model.outputs["serving_default.y"].type == TensorType.parse("tensor<float>(d0[],d1[10])")
    assert set(model.constants) == {"mnist_softmax_saved_Variable", "mnist_softmax_saved_Variable_1"}
    deep = import_tensorflow_model(models / "deep", "deep")
    assert any(name.startswith("deep_dnn_hidden1_") for name in deep.constants)  # name scopes: '/' -> '_'


@needs_tf
def test_variable_log_line_names_the_overridable_constant(models, caplog):
    with caplog.at_level(logging.INFO, logger="appkit.import"):
        model = import_tensorflow_model(models / "softmax_pb", "mnist_softmax_saved")
    lines = [r.getMessage() for r in caplog.records if r.name == "appkit.import"]
    bias = next(v for v in model.variables if v.framework_name == "Variable_1")
    assert bias.log_line() in lines
    assert lines == [v.log_line() for v in model.variables]
    assert bias.log_line().startswith("Importing TensorFlow variable Variable_1 as mnist_softmax_saved_Variable_1 "
                                      "of type tensor(")
    # The override works: a function with the logged name replaces the constant in evaluation.
    zero = ir.Generate(bias.type, ir.Number(0.0))
    x = np.random.default_rng(3).normal(size=(2, 784)).astype(np.float32)
    with_bias = evaluate_imported(model, "serving_default.y", {"Placeholder": x})
    without = evaluate_imported(model, "serving_default.y", {"Placeholder": x}, {bias.vespa_name: zero})
    stored = Checkpoint(models / "softmax_pb" / "variables" / "variables").read("Variable_1")
    assert np.allclose(with_bias - without, stored[None, :], atol=1e-5)


def test_resolve_output_texts():
    from appkit.importers.model import ImportedModel, ModelOutput
    from appkit.tensor.type import TensorType

    model = ImportedModel("mnist", "mnist/saved", "tensorflow")
    model.expressions = {"serving_default.y": ir.Number(1.0)}
    model.outputs = {"serving_default.y": ModelOutput("serving_default", "y", TensorType.scalar())}
    assert resolve_output(model) == ("serving_default.y", None)
    assert resolve_output(model, "serving_default") == ("serving_default.y", None)
    assert resolve_output(model, "serving_default", "y")[0] == "serving_default.y"
    _, d = resolve_output(model, "serving_defaultz", label="mnist_softmax/saved")
    assert d.message == ("No expressions named 'serving_defaultz' in model 'mnist_softmax/saved'. "
                         "Available expressions: serving_default.y")
    _, d = resolve_output(model, "serving_default", "x", label="mnist_softmax/saved")
    assert d.message == ("No expression 'serving_default.x' in model 'mnist_softmax/saved'. "
                         "Available expressions: serving_default.y")
    model.expressions["serving_default.z"] = ir.Number(2.0)
    model.outputs["serving_default.z"] = ModelOutput("serving_default", "z", TensorType.scalar())
    _, d = resolve_output(model)
    assert "Multiple candidate expressions" in d.message and "serving_default.z" in d.message


def _graph_model(tmp_path: Path, nodes: list[tuple[str, str, list[str]]]) -> Path:
    """A SavedModel written with appkit's own protos: x (Placeholder [None, 3]) into `nodes`."""
    saved = protos.SavedModel()
    meta = saved.meta_graphs.add()
    meta.meta_info_def.tags.append("serve")
    x = meta.graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    for name, op, inputs in nodes:
        meta.graph_def.node.add(name=name, op=op, input=inputs)
    signature = meta.signature_def["serving_default"]
    signature.inputs["x"].name = "x:0"
    signature.inputs["x"].dtype = 1
    for size in (-1, 3):
        signature.inputs["x"].tensor_shape.dim.add(size=size)
    signature.outputs["y"].name = f"{nodes[-1][0]}:0"
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "saved_model.pb").write_bytes(saved.SerializeToString())
    return tmp_path


def test_unsupported_ops_are_reported_once_per_op_type_with_every_node(tmp_path):
    path = _graph_model(tmp_path / "m", [("c1", "Conv3D", ["x"]), ("c2", "Conv3D", ["c1"]),
                                         ("t", "TopKV2", ["c2"]), ("r", "Reshape", ["x", "x"]),
                                         ("y", "AddV2", ["t", "r"])])
    model = import_tensorflow_model(path, "m")
    assert not model.ok
    messages = [d.message for d in model.diagnostics]
    conv = [m for m in messages if "'Conv3D'" in m]
    assert len(conv) == 1 and "'c1'" in conv[0] and "'c2'" in conv[0]
    assert any("'TopKV2'" in m for m in messages)
    # the converter error of the same run, in Vespa's words
    assert any("Reshape" in m and "'r'" in m and "Shape input must be a constant" in m for m in messages)


def test_diagnostics_in_a_pbtxt_point_at_the_node(tmp_path):
    from google.protobuf import text_format

    binary = _graph_model(tmp_path / "b", [("c1", "Conv3D", ["x"]), ("y", "Relu", ["c1"])])
    saved = protos.parse_binary(protos.SavedModel, (binary / "saved_model.pb").read_bytes())
    (tmp_path / "t").mkdir()
    graph_file = tmp_path / "t" / "saved_model.pbtxt"
    graph_file.write_text(text_format.MessageToString(saved))
    (diagnostic,) = import_tensorflow_model(tmp_path / "t", "t").diagnostics
    line = graph_file.read_text().splitlines()[diagnostic.span.line - 1]
    assert line.strip() == 'name: "c1"' and diagnostic.span.path == str(graph_file)


def test_unreadable_model_is_a_diagnostic_not_an_exception(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"\x0a\xff\xff garbage")
    model = import_tensorflow_model(tmp_path, "broken")
    assert not model.ok and model.diagnostics[0].code == "AK400"
    assert "Could not import TensorFlow model from directory" in model.diagnostics[0].message


@needs_tf
def test_models_command_lists_inputs_outputs_and_variables(models, tmp_path, capsys):
    package = tmp_path / "app"
    (package / "models" / "mnist").mkdir(parents=True)
    os.symlink(models / "softmax_pb", package / "models" / "mnist" / "saved")
    assert main(["models", str(package), "--format", "json"]) == 0
    (summary,) = json.loads(capsys.readouterr().out)["models"]
    assert summary["name"] == "mnist_saved"
    assert summary["inputs"] == [{"function": "Placeholder", "framework_name": "Placeholder",
                                  "type": "tensor<float>(d0[],d1[784])"}]
    assert summary["outputs"] == [{"expression": "serving_default.y", "type": "tensor<float>(d0[],d1[10])"}]
    assert {v["framework_name"]: v["vespa_name"] for v in summary["variables"]} == {
        "Variable": "mnist_saved_Variable", "Variable_1": "mnist_saved_Variable_1"}
    assert main(["models", str(package)]) == 0
    assert "Placeholder" in capsys.readouterr().out
    assert main(["models", str(models / "deep"), "--format", "json"]) == 0  # one SavedModel directory
    assert [m["name"] for m in json.loads(capsys.readouterr().out)["models"]] == ["deep"]


@needs_tf
def test_convert_variable_keeps_the_written_dimension_order(models, capsys):
    directory = str(models / "softmax_pb")
    weights = Checkpoint(models / "softmax_pb" / "variables" / "variables").read("Variable")
    assert main(["convert-variable", directory, "Variable", "tensor(d2[784],d1[10])"]) == 0
    cells = json.loads(capsys.readouterr().out)["cells"]
    assert len(cells) == 7840
    # written order (d2, d1) is TF's axis order: cell {d1: j, d2: i} holds weights[i][j]
    by_address = {(c["address"]["d2"], c["address"]["d1"]): c["value"] for c in cells}
    assert by_address[("5", "3")] == float(weights[5, 3])
    assert list(cells[0]["address"]) == ["d1", "d2"]  # addresses in Vespa's sorted order
    assert main(["convert-variable", directory, "Variable_1", "tensor(d0[10],d1[1])"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"][0]["address"] == {"d0": "0", "d1": "0"}
    assert main(["convert-variable", directory, "Variable_1", "tensor<float>(x[10])", "--short"]) == 0
    assert len(json.loads(capsys.readouterr().out)["values"]) == 10
    assert main(["convert-variable", directory, "Nope", "tensor(d0[10])"]) == 1
    assert "Available variables: Variable, Variable_1" in capsys.readouterr().err
    assert main(["convert-variable", directory, "Variable", "tensor(d0[10],d1[784])"]) == 1
    assert "does not fit" in capsys.readouterr().err


@needs_tf
def test_verify_command_compares_with_tensorflow(models, tmp_path, capsys):
    package = tmp_path / "app"
    (package / "models").mkdir(parents=True)
    os.symlink(models / "deep", package / "models" / "deep")
    os.symlink(models / "keras3", package / "models" / "keras3")
    assert main(["verify", str(package), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and {r["model"] for r in report["results"]} == {"deep", "keras3"}
    assert all(r["max_rel"] <= 1e-5 for r in report["results"])
    given = tmp_path / "inputs.json"
    given.write_text(json.dumps({"input": [[i / 20 for i in range(20)]], "serving_default_inputs": [[0.5] * 8]}))
    assert main(["verify", str(package), "--inputs", str(given), "--format", "json"]) == 0
    assert {r["case"] for r in json.loads(capsys.readouterr().out)["results"]} == {0, 1, 2}


@needs_tf
def test_verify_says_when_tensorflow_is_missing(models, tmp_path, capsys, monkeypatch):
    package = tmp_path / "app"
    (package / "models").mkdir(parents=True)
    os.symlink(models / "deep", package / "models" / "deep")
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` now raises ImportError
    assert main(["verify", str(package)]) == 1
    err = capsys.readouterr().err
    assert "AK421" in err and "tensorflow is not installed" in err and "pip install tensorflow" in err


@needs_tf
def test_discovery_names_models_by_path_and_reports_collisions(models, tmp_path):
    from appkit.importers.discovery import discover_models

    package = tmp_path / "app"
    (package / "models" / "mnist_softmax").mkdir(parents=True)
    (package / "models" / "a").mkdir(parents=True)
    os.symlink(models / "softmax_pbtxt", package / "models" / "mnist_softmax" / "saved")
    os.symlink(models / "frozen", package / "models" / "a_b")
    os.symlink(models / "deep", package / "models" / "a" / "b")
    sources, diagnostics = discover_models(package)
    assert {(s.name, s.format) for s in sources} >= {("mnist_softmax_saved", "tensorflow"), ("a_b", "tensorflow")}
    (collision,) = diagnostics
    assert "models/a/b" in collision.message and "models/a_b" in collision.message
    assert "both resolve to the model name 'a_b'" in collision.message


@needs_tf
def test_checkpoint_reads_every_dtype_bit_for_bit(models):
    checkpoint = Checkpoint(models / "dtypes" / "variables" / "variables")
    expected = np.load(models / "dtypes_values.npz")
    assert len(expected.files) == 11
    for name in expected.files:
        value = checkpoint.read(name)
        assert value.shape == expected[name].shape, name
        assert np.array_equal(value.astype(np.float64), expected[name].astype(np.float64)), name


def test_a_value_used_twice_becomes_a_function(tmp_path):
    path = _graph_model(tmp_path / "m", [("e", "Exp", ["x"]), ("shared", "Identity", ["e"]),
                                         ("a", "AddV2", ["shared", "shared"]), ("y", "Mul", ["a", "shared"])])
    model = import_tensorflow_model(path, "m")
    assert model.ok, [str(d) for d in model.diagnostics]
    assert "imported_ml_function_m_shared" in model.functions
    x = np.array([[0.5, -1.0, 2.0]], dtype=np.float32)
    result = evaluate_imported(model, "serving_default.y", {"x": x})
    assert np.allclose(result, 2 * np.exp(x) * np.exp(x), rtol=1e-6)


@needs_tf
@pytest.mark.parametrize("name, ops", [
    ("softmax_pb", {"Placeholder", "VariableV2", "MatMul"}),
    ("batch_norm", {"PlaceholderWithDefault", "Switch", "Merge"}),
    ("dropout", {"PlaceholderWithDefault", "Switch", "Merge", "RandomUniform"}),
    ("resource", {"VarHandleOp", "ReadVariableOp"}),
    ("keras3", {"StatefulPartitionedCall", "VarHandleOp"}),
    ("tf_module", {"StatelessIf"}),
])
def test_models_have_the_graph_form_they_stand_for(models, name, ops):
    """Guards the fixtures: each model really has the TensorFlow form its test is about."""
    from appkit.importers.tensorflow.savedmodel import read_saved_model

    meta_graph = read_saved_model(models / name).meta_graph
    present = {n.op for n in meta_graph.graph_def.node}
    present |= {n.op for f in meta_graph.graph_def.library.function for n in f.node_def}
    assert ops <= present, ops - present
    assert not (models / "frozen" / "variables").exists()  # the frozen graph keeps weights as Const


def test_a_graph_too_deep_for_an_expression_is_a_diagnostic(tmp_path):
    chain = [(f"n{i}", "Tanh" if i % 2 else "Neg", [f"n{i - 1}" if i else "x"]) for i in range(8000)]
    model = import_tensorflow_model(_graph_model(tmp_path / "deep", chain), "deep")
    (diagnostic,) = model.diagnostics
    assert diagnostic.code == "AK401" and "too deep" in diagnostic.message
    shallow = import_tensorflow_model(_graph_model(tmp_path / "ok", chain[:1500]), "ok")
    assert shallow.ok and "serving_default.y" in shallow.expressions
