"""`appkit verify [PATH]`: evaluate every imported model beside its framework and report the error.

For each model of the package (TensorFlow SavedModels, ONNX files), inputs of the input types go
through appkit's conversion and through TensorFlow / ONNX Runtime: Vespa's harness input (case 0,
x[i][j] = j/d1), a seeded random batch (case 1) and `--inputs FILE` (case 2). The max absolute and
relative error per output is printed; exit 1 when one is above `--tolerance`, or when a framework
is missing. TensorFlow is imported here only, lazily.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from appkit.diagnostics import rule
from appkit.expr import ir
from appkit.importers.model import ImportedModel

HELP = __doc__

AK420 = rule("AK420", "imported model differs from its framework",
             example="appkit verify: serving_default.y max rel error 3e-2 above tolerance 1e-5",
             fix="report the model: a converter is wrong; meanwhile use onnx-model (ONNX Runtime)")
AK421 = rule("AK421", "reference framework not installed",
             example="appkit verify on a TensorFlow model without tensorflow installed",
             fix="pip install 'appkit[tensorflow]' (or onnxruntime for ONNX models)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", help="application package (default: .)")
    parser.add_argument("--inputs", type=Path, help="JSON file: {input name: nested list} evaluated too")
    parser.add_argument("--tolerance", type=float, default=1e-5, help="max relative error (default 1e-5)")
    parser.add_argument("--batch", type=int, default=2, help="size given to unbound dimensions (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("text", "json"), default="text")


# --- evaluating an imported model ---------------------------------------------------------------------


def replace_overridden_constants(expr: ir.Expr, names: set[str]) -> ir.Expr:
    """`constant(c)` becomes `c` where a function named c exists (Vespa's override rule)."""
    from dataclasses import replace

    if isinstance(expr, ir.Feature) and expr.name == "constant" and len(expr.args) == 1 and \
            isinstance(expr.args[0], ir.Ref) and expr.args[0].name in names:
        return ir.Ref(expr.args[0].name)
    changes: dict[str, Any] = {}
    for field in expr.__dataclass_fields__:
        value = getattr(expr, field)
        if isinstance(value, ir.Node):
            new = replace_overridden_constants(value, names)
            if new is not value:
                changes[field] = new
        elif isinstance(value, tuple) and value and any(isinstance(v, (ir.Node, tuple)) for v in value):
            items = tuple(_replace_item(v, names) for v in value)
            if any(a is not b for a, b in zip(items, value)):
                changes[field] = items
    return replace(expr, **changes) if changes else expr


def _replace_item(value: Any, names: set[str]) -> Any:
    if isinstance(value, ir.Node):
        return replace_overridden_constants(value, names)
    if isinstance(value, tuple):
        return tuple(_replace_item(v, names) for v in value)
    return value


def evaluate_imported(model: ImportedModel, expression: str, inputs: Mapping[str, np.ndarray],
                      overrides: Mapping[str, ir.Expr] | None = None) -> np.ndarray:
    """Evaluate one output of an imported model with numpy inputs (framework axis order), as numpy.

    `overrides` are rank-profile functions; one named like a constant replaces that constant.
    """
    from appkit.expr.evaluate import EvalContext, evaluate
    from appkit.tensor.type import Dimension, TensorType
    from appkit.tensor.value import Tensor

    values: dict[str, Any] = {f"constant({n})": t for n, t in model.constants.items()}
    for name, model_input in model.inputs.items():
        if name not in inputs:  # another signature's input: this output does not need it
            continue
        array = np.asarray(inputs[name])
        dims = [Dimension(f"d{i}", int(s)) for i, s in enumerate(array.shape)]
        type_ = TensorType(dims, model_input.type.cell_type)
        values[name] = Tensor.from_numpy(type_, _canonical(array, [d.name for d in dims]))
    functions: dict[str, Any] = {n: ((), e) for n, e in model.functions.items()}
    for name, expr in (overrides or {}).items():
        functions[name] = ((), expr)
    names = set(overrides or {})
    expr = model.expressions[expression]
    if names:
        expr = replace_overridden_constants(expr, names)
        functions = {n: (p, replace_overridden_constants(e, names) if n not in names else e)
                     for n, (p, e) in functions.items()}
    result = evaluate(expr, EvalContext(values, functions))
    order = [d.name for d in result.type.dimensions]
    array = result.to_numpy()
    framework = sorted(order, key=lambda d: int(d[1:]) if d[1:].isdigit() else 0)
    return np.transpose(array, [order.index(d) for d in framework]) if order != framework else array


def _canonical(array: np.ndarray, names: list[str]) -> np.ndarray:
    order = sorted(range(len(names)), key=lambda i: names[i])  # Vespa orders d10 before d2
    return np.ascontiguousarray(np.transpose(array, order)) if order != list(range(len(names))) else array


def errors(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(max absolute, max relative) error; relative to the largest expected magnitude (norm-wise), so
    cells near zero, where float32 summation order alone differs, do not dominate."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        if actual.size != expected.size:
            return float("inf"), float("inf")
        actual = actual.reshape(expected.shape)
    if expected.size == 0:
        return 0.0, 0.0
    if not np.array_equal(np.isnan(actual), np.isnan(expected)):
        return float("nan"), float("inf")
    finite = ~np.isnan(expected)
    diff = np.abs(actual[finite] - expected[finite])
    if diff.size == 0:
        return 0.0, 0.0
    scale = float(np.abs(expected[finite]).max())
    worst = float(diff.max())
    return worst, (worst / scale if scale > 0 else worst)


# --- references ----------------------------------------------------------------------------------------


def random_inputs(model: ImportedModel, batch: int, seed: int,
                  kinds: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Random values of each input's type: normal floats; 0/1 for integer (index) and bool inputs."""
    rng = np.random.default_rng(seed)
    result = {}
    for name, model_input in model.inputs.items():
        shape = sorted_to_framework([batch if d.size is None else d.size for d in model_input.type.dimensions],
                                    model_input.type)
        dtype = np.float64 if model_input.type.cell_type.value == "double" else np.float32
        kind = (kinds or {}).get(name, "float")
        values = rng.integers(0, 2, size=shape) if kind in ("int", "bool") else rng.normal(size=shape)
        result[name] = values.astype(dtype)
    return result


def harness_inputs(model: ImportedModel, kinds: Mapping[str, str] | None = None) -> dict[str, np.ndarray]:
    """Vespa's test-harness input: batch 1, x[i][j] = j / (size of the last axis); 0/1 for indexes."""
    result = {}
    for name, model_input in model.inputs.items():
        shape = sorted_to_framework([1 if d.size is None else d.size for d in model_input.type.dimensions],
                                    model_input.type)
        dtype = np.float64 if model_input.type.cell_type.value == "double" else np.float32
        last = shape[-1] if shape else 1
        positions = np.broadcast_to(np.arange(last), shape) if shape else np.array(0)
        integral = (kinds or {}).get(name, "float") != "float"
        result[name] = (positions % 2 if integral else positions / last).astype(dtype)
    return result


def tensorflow_input_kinds(model_dir: str) -> dict[str, str]:
    """Input function -> "int", "bool" or "float", from the SavedModel's signature dtypes."""
    from appkit.importers.tensorflow.savedmodel import read_saved_model

    integer = {3, 4, 5, 6, 9, 17, 22, 23}
    kinds = {}
    for signature, functions in signature_input_functions(model_dir).items():
        specs = read_saved_model(Path(model_dir)).signatures[signature].inputs
        for key, function in functions.items():
            dtype = specs[key].dtype
            kinds[function] = "int" if dtype in integer else "bool" if dtype == 10 else "float"
    return kinds


def sorted_to_framework(shape: list[int], type_: Any) -> list[int]:
    names = [d.name for d in type_.dimensions]
    by_name = dict(zip(names, shape))
    ordered = sorted(names, key=lambda d: int(d[1:]) if d[1:].isdigit() else 0)
    return [by_name[n] for n in ordered]


def signature_input_functions(model_dir: str) -> dict[str, dict[str, str]]:
    """signature -> {input key: the input function appkit named after that input's placeholder}."""
    from appkit.importers.naming import vespa_name
    from appkit.importers.tensorflow.graph import build_graph
    from appkit.importers.tensorflow.savedmodel import read_saved_model, tensor_node

    saved = read_saved_model(Path(model_dir))
    graph = build_graph(saved)
    return {sig.key: {key: vespa_name(graph.resolve((tensor_node(spec.tensor), 0))[0])
                      for key, spec in sig.inputs.items()} for sig in saved.signatures.values()}


def tensorflow_reference(model: ImportedModel) -> Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Run the SavedModel's signatures with TensorFlow (imported here, lazily)."""
    functions = signature_input_functions(model.path)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # noqa: PLC0415 - only verify needs TensorFlow

    loaded = tf.saved_model.load(model.path, tags=["serve"])

    def run(signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        fn = loaded.signatures[signature]
        specs = fn.structured_input_signature[1]
        feed = {key: tf.constant(np.asarray(inputs[functions[signature][key]]).astype(spec.dtype.as_numpy_dtype))
                for key, spec in specs.items()}
        return {k: v.numpy() for k, v in fn(**feed).items()}

    return run


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8, "tensor(uint8)": np.uint8,
              "tensor(bool)": np.bool_, "tensor(float16)": np.float16}


def onnx_input_kinds(path: str) -> dict[str, str]:
    """input function -> "int" / "bool" / "float", from the ONNX graph inputs' element types."""
    from appkit.importers.naming import vespa_name
    from appkit.importers.onnx.importer import onnx_model_info

    kinds = {}
    for graph_input in onnx_model_info(Path(path)).inputs:
        kind = np.dtype(helper_dtype(graph_input.elem_type)).kind
        kinds[vespa_name(graph_input.name)] = "bool" if kind == "b" else "int" if kind in "iu" else "float"
    return kinds


def helper_dtype(elem_type: int) -> Any:
    from onnx import helper

    try:
        return helper.tensor_dtype_to_np_dtype(elem_type)
    except (KeyError, ValueError):
        return np.float32


def onnx_reference(model: ImportedModel) -> Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime  # noqa: PLC0415

    session = onnxruntime.InferenceSession(model.path, providers=["CPUExecutionProvider"])
    by_framework = {i.framework_name: i.name for i in model.inputs.values()}

    def run(signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # each input in the element type the model declares (int32 token ids, bool masks...)
        feed = {i.name: np.asarray(inputs[by_framework.get(i.name, i.name)]).astype(_ORT_TYPES.get(i.type, np.float32))
                for i in session.get_inputs() if by_framework.get(i.name, i.name) in inputs}
        names = [o.name for o in session.get_outputs()]
        from appkit.importers.naming import vespa_name

        return {vespa_name(n): v for n, v in zip(names, session.run(names, feed))} | dict(zip(names, session.run(names, feed)))

    return run


# --- the command ----------------------------------------------------------------------------------------


def _load_inputs(path: Path) -> dict[str, np.ndarray]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: np.asarray(v) for k, v in data.items()}


def verify_model(model: ImportedModel, reference: Callable[..., dict[str, np.ndarray]],
                 cases: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """One row per (case, output): max abs and rel error of appkit against the reference."""
    rows = []
    for case_index, case in enumerate(cases):
        case = {k: np.asarray(v, dtype=np.float64 if model.inputs[k].type.cell_type.value == "double" else np.float32)
                for k, v in case.items() if k in model.inputs}
        by_signature: dict[str, dict[str, np.ndarray]] = {}
        for name, output in model.outputs.items():
            if output.signature not in by_signature:
                by_signature[output.signature] = reference(output.signature, case)
            expected = by_signature[output.signature].get(output.key)
            actual = evaluate_imported(model, name, case)
            abs_err, rel_err = errors(actual, expected) if expected is not None else (float("inf"),) * 2
            rows.append({"model": model.name, "case": case_index, "output": name, "max_abs": abs_err,
                         "max_rel": rel_err})
    return rows


def run(args: argparse.Namespace) -> int:
    from appkit.importers.discovery import discover_models, import_model

    root = Path(args.path)
    if not root.is_dir():
        sys.stderr.write(f"appkit verify: error: {root} is not a directory\n")
        return 2
    sources, diagnostics = discover_models(root)
    for d in diagnostics:
        sys.stderr.write(f"{d}\n")
    extra = _load_inputs(args.inputs) if args.inputs else None
    rows: list[dict[str, Any]] = []
    failed = bool(diagnostics)
    for source in sources:
        model = import_model(source, root)
        model.path = str(source.path)
        if not model.ok:
            for d in model.diagnostics:
                sys.stderr.write(f"{d}\n")
            failed = True
            continue
        try:
            reference = tensorflow_reference(model) if model.format == "tensorflow" else onnx_reference(model)
        except ImportError:
            package = "tensorflow" if model.format == "tensorflow" else "onnxruntime"
            sys.stderr.write(f"appkit verify: error[{AK421}]: cannot verify {model.name}: {package} is not "
                             f"installed\n  hint: pip install {package} (appkit itself imports models without it)\n")
            failed = True
            continue
        kinds = tensorflow_input_kinds(model.path) if model.format == "tensorflow" else onnx_input_kinds(model.path)
        cases = [harness_inputs(model, kinds), random_inputs(model, args.batch, args.seed, kinds)]
        cases += [extra] if extra else []
        rows.extend(verify_model(model, reference, cases))
    failed |= _print(rows, args.tolerance, args.format)
    return 1 if failed else 0


def _print(rows: list[dict[str, Any]], tolerance: float, output_format: str) -> bool:
    failed = any(r["max_rel"] > tolerance for r in rows)
    if output_format == "json":
        print(json.dumps({"tolerance": tolerance, "ok": not failed, "results": rows}, indent=1))
        return failed
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"appkit vs framework (tolerance {tolerance:g} relative)")
    for column in ("model", "case", "output", "max abs error", "max rel error", ""):
        table.add_column(column)
    for r in rows:
        bad = r["max_rel"] > tolerance
        table.add_row(r["model"], str(r["case"]), r["output"], f"{r['max_abs']:.3g}", f"{r['max_rel']:.3g}",
                      f"[red]FAIL[{AK420}][/red]" if bad else "[green]ok[/green]")
    (Console() if sys.stdout.isatty() else Console(width=160)).print(table)  # no truncation in pipes and CI
    return failed
