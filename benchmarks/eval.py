"""Speed and memory of appkit's batch evaluator beside onnxruntime, on the same models and batches.

Run: python benchmarks/eval.py [--docs 10000] [--repeat 15]
Prints, for the MNIST softmax regression (784->10) and a 784->300->100->10 relu MLP: the time for a
batch of documents and for one document at a time, each beside onnxruntime and with the ratio and its
target; then the peak memory (RSS) of a process evaluating the whole batch. Every measurement runs in
a process of its own, one engine per process, engines alternating; exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

MNIST = ("join(reduce(join(rename(Placeholder, (d0, d1), (d0, d2)), constant(W), f(a,b)(a * b)), sum, d2), "
         "constant(b), f(a,b)(a + b))")
LAYERS = {"mnist": [784, 10], "mlp": [784, 300, 100, 10]}
TARGET_BATCH, TARGET_SINGLE, TARGET_MEMORY = 1.5, 2.0, 1.5


def expression(model: str) -> str:
    """The expression Vespa's TensorFlow import generates, layer by layer (relu between layers)."""
    if model == "mnist":
        return MNIST
    text = "Placeholder"
    n = len(LAYERS[model]) - 1
    for i in range(1, n + 1):
        text = (f"join(reduce(join(rename({text}, (d0, d1), (d0, d2)), constant(W{i}), f(a,b)(a * b)), sum, d2), "
                f"constant(b{i}), f(a,b)(a + b))")
        if i < n:
            text = f"map({text}, f(a)(relu(a)))"
    return text


def weights(model: str) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    sizes = LAYERS[model]
    return [((rng.standard_normal((m, k)) / np.sqrt(m)).astype(np.float32), rng.standard_normal(k).astype(np.float32))
            for m, k in zip(sizes, sizes[1:])]


def documents(n: int) -> np.ndarray:
    return np.random.default_rng(11).random((n, 784), dtype=np.float32)


def appkit_runner(model: str) -> Callable[[np.ndarray], np.ndarray]:
    from appkit.expr.compile import compile_expression
    from appkit.expr.parse import parse_expression
    from appkit.tensor.type import TensorType
    from appkit.tensor.value import Tensor

    layers = weights(model)
    suffix = [""] if model == "mnist" else [str(i) for i in range(1, len(layers) + 1)]
    types: dict[str, TensorType] = {"Placeholder": TensorType.parse("tensor<float>(d0[1],d1[784])")}
    constants: dict[str, Tensor] = {}
    for s, (w, b) in zip(suffix, layers):
        m, k = w.shape
        wt = TensorType.parse(f"tensor<float>(d1[{k}],d2[{m}])")  # canonical order: d1 (out), d2 (in)
        bt = TensorType.parse(f"tensor<float>(d1[{k}])")
        types[f"constant(W{s})"], types[f"constant(b{s})"] = wt, bt
        constants[f"constant(W{s})"] = Tensor.from_numpy(wt, w.T)
        constants[f"constant(b{s})"] = Tensor.from_numpy(bt, b)
    plan = compile_expression(parse_expression(expression(model)), types, {"Placeholder"})
    if not plan.vectorised:
        raise SystemExit(f"the {model} plan is not vectorised: {plan.reason}")
    return lambda x: plan.evaluate({"Placeholder": x.reshape(-1, 1, 784)}, constants)


def ort_runner(model: str) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, last = [], [], "x"
    layers = weights(model)
    for i, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("MatMul", [last, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"y{i}"])]
        last = f"y{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [last], [f"r{i}"]))
            last = f"r{i}"
    graph = helper.make_graph(nodes, model, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 784])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, [None, LAYERS[model][-1]])],
                              inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx_model.ir_version = 8
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def timed(run: Callable[[], Any], repeat: int) -> float:
    """Median seconds of `repeat` runs (the machine is shared: the median resists the others' bursts)."""
    run()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def speed_child(engine: str, model: str, docs: int, repeat: int) -> None:
    """One engine in its own process, so that neither sees the other's threads (onnxruntime's pool
    keeps spinning for a while after each run) and memory and caches are its own."""
    x = documents(docs)
    runner = appkit_runner(model) if engine == "appkit" else ort_runner(model)
    rows = 200

    def one_at_a_time() -> None:
        for i in range(rows):
            runner(x[i:i + 1])
    print(timed(lambda: runner(x), repeat), timed(one_at_a_time, max(3, repeat // 2)) / rows)


def _child(*args: str) -> list[float]:
    result = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"benchmark child {' '.join(args)} failed:\n{result.stderr}")
    return [float(v) for v in result.stdout.split()]


def check_same_results(model: str) -> None:
    x = documents(256)
    np.testing.assert_allclose(appkit_runner(model)(x).reshape(256, -1), ort_runner(model)(x), rtol=1e-3, atol=1e-3)


def speed(model: str, docs: int, repeat: int, rounds: int) -> list[tuple[str, float, float, float]]:
    """Engines alternate, one process each, `rounds` times; the median of the rounds is reported, so a
    burst of load from the machine's other users lands on both engines alike."""
    check_same_results(model)
    results: dict[str, list[list[float]]] = {"appkit": [], "ort": []}
    for _ in range(rounds):
        for engine in results:
            results[engine].append(_child("--speed-child", engine, "--model", model, "--docs", str(docs),
                                          "--repeat", str(repeat)))
    ours = [statistics.median(r[i] for r in results["appkit"]) for i in (0, 1)]
    theirs = [statistics.median(r[i] for r in results["ort"]) for i in (0, 1)]
    return [(f"{model} batch of {docs}", ours[0] * 1e3, theirs[0] * 1e3, TARGET_BATCH),
            (f"{model} one document", ours[1] * 1e6, theirs[1] * 1e6, TARGET_SINGLE)]


def _peak_rss_kb() -> int:
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would report its parent's peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory_child(engine: str, model: str, docs: int) -> None:
    x = documents(docs)
    runner = appkit_runner(model) if engine == "appkit" else ort_runner(model)
    runner(x[:1])
    before = _peak_rss_kb()
    runner(x)
    print(before, _peak_rss_kb())


def peak_memory(model: str, docs: int) -> tuple[float, float, float, float]:
    out = {}
    for engine in ("appkit", "ort"):
        before, after = _child("--memory-child", engine, "--model", model, "--docs", str(docs))
        out[engine] = (after / 1024, (after - before) / 1024)
    return out["appkit"][0], out["ort"][0], out["appkit"][1], out["ort"][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory-child", choices=("appkit", "ort"), help=argparse.SUPPRESS)
    parser.add_argument("--speed-child", choices=("appkit", "ort"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        peak_memory_child(args.memory_child, args.model, args.docs)
        return 0
    if args.speed_child:
        speed_child(args.speed_child, args.model, args.docs, args.repeat)
        return 0
    print(f"{'case':<28} {'appkit':>12} {'onnxruntime':>12} {'ratio':>7} {'target':>7}")
    failed = 0
    for model in ("mnist", "mlp"):
        for name, ours, theirs, target in speed(model, args.docs, args.repeat, args.rounds):
            unit = "ms" if "batch" in name else "us"
            ratio = ours / theirs
            failed += ratio > target
            print(f"{name:<28} {ours:>9.3f} {unit} {theirs:>9.3f} {unit} {ratio:>6.2f}x {target:>6.1f}x"
                  f"{'' if ratio <= target else '  MISSED'}")
    for model in ("mnist", "mlp"):
        ours_peak, ort_peak, ours_delta, ort_delta = peak_memory(model, args.docs)
        ratio = ours_peak / ort_peak
        failed += ratio > TARGET_MEMORY
        print(f"{model + ' peak RSS, batch':<28} {ours_peak:>9.1f} MB {ort_peak:>9.1f} MB {ratio:>6.2f}x "
              f"{TARGET_MEMORY:>6.1f}x   (growth during the run: {ours_delta:.1f} MB vs {ort_delta:.1f} MB)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
