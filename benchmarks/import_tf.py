"""Importing a SavedModel with 10M float weights: appkit (no TensorFlow) beside tf.saved_model.load.

Each side runs as a whole fresh process (interpreter start, imports, reading, converting), timed by
wall clock and measured by peak resident memory (the child's ru_maxrss). Prints both and the ratios;
the target is at most 0.25x TensorFlow's time and memory. The model is built once (with TensorFlow)
under --work (default: a temporary directory) and reused.

    python benchmarks/import_tf.py [--weights 10000000] [--repeat 3] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILDER = REPO / "tests" / "importers" / "tensorflow" / "build_models.py"

APPKIT = """
import sys
from pathlib import Path
from appkit.importers.tensorflow.importer import import_tensorflow_model
model = import_tensorflow_model(Path(sys.argv[1]), "big")
assert model.ok, [str(d) for d in model.diagnostics]
assert sum(t.size for t in model.constants.values()) >= int(sys.argv[2])
"""

TENSORFLOW = """
import sys
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
assert sum(int(v.shape.num_elements()) for v in loaded.variables) >= int(sys.argv[2])
"""


def measure(code: str, model: Path, weights: int) -> tuple[float, float]:
    """(seconds, peak MB) of one fresh process running `code`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code, str(model), str(weights)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark process failed:\n{stderr[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def build(work: Path, weights: int) -> Path:
    model = work / "big"
    if not (model / "saved_model.pb").exists():
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_HOME=str(work / "keras"))
        subprocess.run([sys.executable, str(BUILDER), str(work), "--big", str(weights)], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="appkit_bench_tf_"))
    model = build(work, args.weights)
    results = {}
    for label, code in (("appkit import", APPKIT), ("tf.saved_model.load", TENSORFLOW)):
        runs = [measure(code, model, args.weights) for _ in range(args.repeat)]
        results[label] = (statistics.median(t for t, _ in runs), max(m for _, m in runs))
    ours, theirs = results["appkit import"], results["tf.saved_model.load"]
    print(f"SavedModel with {args.weights:,} float weights ({model}), {args.repeat} fresh processes each")
    print(f"{'':22}{'time (median)':>16}{'peak memory':>16}")
    for label, (seconds, mb) in results.items():
        print(f"{label:22}{seconds:>14.2f} s{mb:>13.0f} MB")
    time_ratio, memory_ratio = ours[0] / theirs[0], ours[1] / theirs[1]
    print(f"{'ratio appkit/TF':22}{time_ratio:>15.2f}x{memory_ratio:>15.2f}x   (target: <= 0.25x both)")
    return 0 if time_ratio <= 0.25 and memory_ratio <= 0.25 else 1


if __name__ == "__main__":
    sys.exit(main())
