"""Run a command as a fresh process and measure its wall time and peak memory (shared by benchmarks)."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def bench_env() -> dict[str, str]:
    """The environment of a normal install: bytecode caches used (this machine may switch them off)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_once(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float, int, float]:
    """(wall seconds, peak RSS in MB, exit code, CPU seconds) of one run; `env` adds variables."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**bench_env(), **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def measure(cmd: list[str], runs: int = 7, cwd: Path | None = None) -> tuple[float, float]:
    """Fastest wall seconds and median peak RSS (MB) over `runs` fresh processes.

    The minimum, not the median: on a shared machine other load only ever adds time, so the fastest
    run is the best estimate of the command's own cost.
    """
    results = [run_once(cmd, cwd) for _ in range(runs)]
    return min(r[0] for r in results), statistics.median(r[1] for r in results)


def measure_cpu(cmd: list[str], runs: int = 7, cwd: Path | None = None) -> float:
    """Fastest CPU seconds (user + system) over `runs`: steadier than wall time under load."""
    return min(run_once(cmd, cwd)[3] for _ in range(runs))


def row(label: str, ours: float, peer: float, target: float | None, unit: str = "s") -> str:
    """One figure beside the peer's; `target` None for a figure shown for reference only."""
    ratio = ours / peer if peer else float("inf")
    verdict = "(for reference)" if target is None else (
        f"(target <= {target}x) " + ("ok" if ratio <= target else "MISSES"))
    return f"{label:<58} {ours:9.3f} {unit:<3} vs {peer:9.3f} {unit:<3} ratio {ratio:5.2f}x {verdict}"
