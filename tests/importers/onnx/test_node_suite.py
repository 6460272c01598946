"""ONNX's own node test suite (the cases the onnx wheel generates in onnx.backend.test.case.node):
every case whose ops are all in appkit's registry is imported, evaluated and compared.

ONNX feeds shape-like arguments (axes, shapes, pads, k...) as graph inputs; converted Vespa expressions
need them at import time. When the importer says an input must be a constant, the case is run again
with its integer, boolean and scalar inputs given as initializers (then every input but the first).
Every converted expression must also print and re-parse to the same tree. A case is left out only
for a reason written below; the ops the suite uses that appkit lacks are derived from the registry
and printed.
"""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from appkit.expr.parse import parse_expression
from appkit.expr.printer import print_expression
from appkit.importers.onnx.importer import import_onnx_model

from .harness import evaluate_model

# Documented limitations: a case whose import fails with one of these messages is left out, for this reason.
SKIP_REASONS = {
    "cannot be converted to a Vespa tensor type": "an element type Vespa cells cannot hold (float8, int4, string...)",
    "which Vespa cannot represent": "an empty tensor: Vespa dimensions have at least one element",
    "reshape to an empty tensor": "an empty tensor: Vespa dimensions have at least one element",
    "training mode": "training mode is random or uses batch statistics; appkit imports models for inference",
    "repeats a letter": "einsum diagonals (a letter repeated within one operand) are not converted (documented)",
    "Indices output is not supported": "MaxPool's argmax Indices output is not converted (documented in docs/operators.md)",
    "sizes round up": "Resize keeping the aspect ratio where a size rounds up is not converted (documented)",
    "extrapolation value outside the crop": "Resize extrapolating outside a crop is not converted (documented)",
    "blocked quantisation": "blocked (block_size) quantisation is not converted (documented in docs/operators.md)",
    "GatherND with batch_dims": "GatherND with batch_dims is not converted (documented in docs/operators.md)",
    "not exact in double cells": "64-bit bitwise ops are not exact in the double cells Vespa computes with",
    "BitShift of signed integers": "BitShift is defined for unsigned integers; signed overflow is not converted",
    "has no identity": "a reduction of an empty tensor: Vespa dimensions have at least one element",
}

# Single cases left out, each for its reason.
SKIP_CASES = {
    "test_dynamicquantizelinear": "x / scale lands on .5 in float32 but not in the double cell math Vespa "
                                  "uses, so rounding to the quantised integer differs by one",
    "test_dynamicquantizelinear_expanded": "x / scale lands on .5 in float32 but not in the double cell math Vespa "
                                           "uses, so rounding to the quantised integer differs by one",
}


def _tolerance(case, elem_type: int) -> tuple[float, float]:
    # the case's own tolerance (ONNX's default is rtol 1e-3: some expected values are written with four
    # decimals); float16 and bfloat16 results are computed in float cells (as Vespa does), so they
    # differ in the last bits of the 16-bit reference
    wider = {onnx.TensorProto.FLOAT16: (2e-3, 2e-3), onnx.TensorProto.BFLOAT16: (1e-2, 1e-2)}.get(elem_type, (0, 0))
    return max(case.rtol, wider[0]), max(case.atol, wider[1])


def _array(a) -> np.ndarray:
    return numpy_helper.to_array(a) if isinstance(a, onnx.TensorProto) else np.asarray(a)


@pytest.fixture(scope="module")
def node_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return collect_testcases(None)


def _supported(model: onnx.ModelProto) -> tuple[bool, set[str]]:
    """Whether the registry converts every op (directly, or through the op's ONNX function body)."""
    from appkit.importers.onnx.importer import _convertible

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    missing = set()
    for vi in list(model.graph.input) + list(model.graph.output):
        if not vi.type.HasField("tensor_type"):
            missing.add("(sequence and optional values)")
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            missing.add(f"{node.domain}.{node.op_type}")
        elif not _convertible(node, opset, 0):
            missing.add(node.op_type)
    return not missing, missing


def _import(model: onnx.ModelProto, path: Path, frozen: dict[str, np.ndarray]):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for name, value in frozen.items():
        m.graph.initializer.append(numpy_helper.from_array(value, name))
    path.write_bytes(m.SerializeToString())
    imported = import_onnx_model(path, "m", path.parent)
    return imported, [d.message for d in imported.diagnostics if d.level.value == "error"]


def _run_case(case, tmp: Path) -> tuple[str, str]:
    """('pass' | 'skip' | 'fail', detail)."""
    model = case.model
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i.name for i in model.graph.input if i.name not in initializers]
    inputs0 = [_array(a) for a in case.data_sets[0][0]]
    path = tmp / f"{case.name}.onnx"
    imported, errors = _import(model, path, {})
    frozen: dict[str, np.ndarray] = {}
    for policy in ("small", "all_but_first"):
        if not any("must be a constant" in e for e in errors) or len(case.data_sets) != 1:
            break
        for i, (name, value) in enumerate(zip(graph_inputs, inputs0)):
            if policy == "small" and (value.dtype.kind in "iub" or value.ndim == 0):
                frozen[name] = value
            elif policy == "all_but_first" and i > 0:
                frozen[name] = value
        imported, errors = _import(model, path, frozen)
    if errors:
        unsupported = [e for e in errors if "is currently not implemented" in e]
        if unsupported:  # an op whose function body uses ops appkit lacks
            return "left out", unsupported[0]
        for text, reason in SKIP_REASONS.items():
            if text in errors[0]:
                return "skip", reason
        return "fail", f"import: {errors[0]}"
    for name, expr in list(imported.expressions.items()) + list(imported.functions.items()):
        if parse_expression(print_expression(expr)) != expr:  # what a bundle writes must read back the same
            return "fail", f"{name} does not print and re-parse to the same expression"
    for inputs, outputs in case.data_sets:
        feed = {n: _array(a) for n, a in zip(graph_inputs, inputs) if n not in frozen}
        if any(v.size == 0 for v in feed.values()):
            return "skip", "an empty tensor: Vespa dimensions have at least one element"
        with np.errstate(all="ignore"):
            ours = evaluate_model(imported, feed)
        for vi, expected in zip(model.graph.output, outputs):
            key = vi.name.split(":")[0]
            expected = _array(expected)
            got = ours.get(key)
            if got is None:
                return "fail", f"output {key} missing"
            rtol, atol = _tolerance(case, vi.type.tensor_type.elem_type)
            if got.shape != expected.shape or not np.allclose(got.astype(np.float64), expected.astype(np.float64),
                                                              rtol=rtol, atol=atol, equal_nan=True):
                return "fail", f"output {key} differs: max abs error {_max_error(got, expected)}"
    return "pass", ""


def _max_error(got: np.ndarray, expected: np.ndarray) -> str:
    if got.shape != expected.shape:
        return f"(shape {got.shape} != {expected.shape})"
    return str(np.nanmax(np.abs(got.astype(np.float64) - expected.astype(np.float64))))


def test_onnx_node_suite(node_cases, tmp_path, capsys):
    counts: collections.Counter[str] = collections.Counter()
    left_out: collections.Counter[str] = collections.Counter()
    skipped: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    for case in node_cases:
        ok, missing = _supported(case.model)
        if not ok:
            counts["unsupported op"] += 1
            left_out.update(missing)
            continue
        if case.name in SKIP_CASES:
            counts["skip"] += 1
            skipped[SKIP_CASES[case.name]] += 1
            continue
        outcome, detail = _run_case(case, tmp_path)
        if outcome == "left out":
            counts["unsupported op"] += 1
            left_out[detail.split("'")[1]] += 1
            continue
        counts[outcome] += 1
        if outcome == "skip":
            skipped[detail] += 1
        elif outcome == "fail":
            failures.append(f"{case.name}: {detail}")
    with capsys.disabled():
        print(f"\nONNX node suite: {len(node_cases)} cases; ran {counts['pass'] + counts['fail']}, "
              f"passed {counts['pass']}, skipped {counts['skip']}, left out {counts['unsupported op']} "
              f"(ops not in the registry)")
        for reason, n in skipped.most_common():
            print(f"  skipped {n}: {reason}")
        print(f"  ops left out ({len(left_out)}): {', '.join(sorted(left_out))}")
    assert counts["pass"] > 800
    assert not failures, "\n".join(failures)
