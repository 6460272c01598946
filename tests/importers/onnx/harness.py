"""Evaluating imported ONNX models with appkit's evaluator, onnxruntime and the ONNX reference
evaluator, so tests compare all three on the same inputs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import onnx

from appkit.expr.evaluate import EvalContext, evaluate
from appkit.importers.model import ImportedModel
from appkit.importers.onnx.importer import import_onnx_model
from appkit.tensor.type import CellType, Dimension, TensorType
from appkit.tensor.value import Tensor

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def to_tensor(array: np.ndarray) -> Tensor:
    arr = np.asarray(array)
    cell = CellType.DOUBLE if arr.dtype == np.float64 else CellType.FLOAT
    if arr.ndim == 0:
        return Tensor.scalar(float(arr))
    names = [f"d{i}" for i in range(arr.ndim)]
    order = sorted(range(arr.ndim), key=lambda i: names[i])
    type_ = TensorType([Dimension(n, s) for n, s in zip(names, arr.shape)], cell)
    return Tensor.from_numpy(type_, np.transpose(arr.astype(cell.numpy_dtype), order))


def evaluate_model(model: ImportedModel, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output expression of `model`, evaluated with inputs keyed by graph-input name."""
    values: dict[str, Tensor] = {}
    by_framework = {i.framework_name: i.name for i in model.inputs.values()}
    for name, arr in inputs.items():
        if name in by_framework:
            values[by_framework[name]] = to_tensor(arr)
    for cname, tensor in model.constants.items():
        values[f"constant({cname})"] = tensor
    # like Vespa's test harness: every generated function is evaluated once, dependencies first, and
    # bound as a value (the evaluator would otherwise recompute a function at each reference)
    for name in _dependency_order(model.functions):
        values[name] = evaluate(model.functions[name], EvalContext(values))
    ctx = EvalContext(values)
    out: dict[str, np.ndarray] = {}
    for name, expr in model.expressions.items():
        result = evaluate(expr, ctx)
        rank = model.outputs[name].type.rank
        arr = result.to_numpy()
        names = [f"d{i}" for i in range(rank)]
        order = sorted(range(rank), key=lambda i: names[i])
        out[name.split(".", 1)[1]] = np.transpose(arr, np.argsort(order)) if rank else np.asarray(arr).reshape(())
    return out


def _dependency_order(functions: Mapping[str, Any]) -> list[str]:
    from appkit.expr import ir

    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        state[name] = 1
        for node in ir.walk(functions[name]):
            if isinstance(node, ir.Ref) and node.name in functions and state.get(node.name) != 2:
                visit(node.name)
        state[name] = 2
        order.append(name)

    for name in functions:
        visit(name)
    return order


def run_onnxruntime(path: Path, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(inputs))))


def run_reference(model: onnx.ModelProto, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    ref = ReferenceEvaluator(model)
    names = [o.name for o in model.graph.output]
    return dict(zip(names, ref.run(None, dict(inputs))))


def import_proto(model: onnx.ModelProto, tmp: Path, name: str = "m") -> tuple[ImportedModel, Path]:
    path = tmp / f"{name}.onnx"
    onnx.save(model, str(path))
    return import_onnx_model(path, name, tmp), path


def assert_close(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-5, atol: float = 1e-6,
                 what: str = "") -> None:
    expected = np.asarray(expected)
    actual = np.asarray(actual, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected.astype(np.float64), rtol=rtol, atol=atol, err_msg=what)
