"""Importing a 10M-parameter ONNX MLP with appkit, beside creating an onnxruntime.InferenceSession for it.

Each side runs as a fresh process (interpreter start and imports included), three times; the median
wall time and the peak resident memory are printed with appkit's ratio to onnxruntime.

    python benchmarks/import_onnx.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parent.parent
LAYERS = [784, 2048, 2560, 1536, 10]  # 10.0M weights


def build_mlp(path: Path) -> int:
    rng = np.random.default_rng(0)
    inits, nodes, current, params = [], [], "x", 0
    for i, (n_in, n_out) in enumerate(zip(LAYERS, LAYERS[1:])):
        w = rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)).astype(np.float32)
        b = rng.normal(0, 0.1, n_out).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        params += w.size + b.size
        nodes.append(helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"], name=f"dense{i}/MatMul"))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"], name=f"dense{i}/add"))
        current = f"a{i}"
        if i < len(LAYERS) - 2:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"], name=f"dense{i}/Relu"))
            current = f"r{i}"
    nodes.append(helper.make_node("Softmax", [current], ["y"], axis=-1, name="softmax"))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 784])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))
    return params


APPKIT = """
import sys
from pathlib import Path
from appkit.importers.onnx.importer import import_onnx_model
m = import_onnx_model(Path(sys.argv[1]), "mlp", Path(sys.argv[1]).parent)
assert m.ok, m.diagnostics
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""

ORT = """
import sys
import onnxruntime
onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
print(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
"""


def measure(code: str, model: Path) -> tuple[float, float]:
    """(seconds, peak MB) of one fresh process running `code`; the peak is the process's own VmHWM
    (ru_maxrss would carry over the benchmark's own memory across fork and exec)."""
    env = dict(os.environ, ORT_DISABLE_TELEMETRY="1", PYTHONPATH=str(REPO))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, str(model)], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark process failed:\n{done.stderr}")
    return elapsed, int(done.stdout.split()[-1]) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "mlp.onnx"
        params = build_mlp(model)
        print(f"model: MLP {'-'.join(map(str, LAYERS))}, {params / 1e6:.1f}M parameters, "
              f"{model.stat().st_size / 1e6:.0f} MB")
        runs = {"appkit import_onnx_model": [], "onnxruntime.InferenceSession": []}
        for _ in range(3):
            runs["appkit import_onnx_model"].append(measure(APPKIT, model))
            runs["onnxruntime.InferenceSession"].append(measure(ORT, model))
        results = {name: (statistics.median(t for t, _ in r), max(m for _, m in r)) for name, r in runs.items()}
        for name, (seconds, mb) in results.items():
            print(f"{name:<30} {seconds:6.2f} s  {mb:7.1f} MB peak")
        (ours_t, ours_m), (ort_t, ort_m) = results.values()
        print(f"{'ratio appkit / onnxruntime':<30} {ours_t / ort_t:6.2f} x time  {ours_m / ort_m:5.2f} x memory")


if __name__ == "__main__":
    main()
