"""`appkit serve` as a process: it serves the store's active version on the port given, stops cleanly
on SIGINT (exit 0), and a taken port or bad option is a usage error (exit 2) without a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from _bundles import onnx_bundle  # noqa: E402
from appkit.deploy.store import publish_bundle  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _serve(store: Path, port: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "appkit", "serve", "--target", str(store), "--port", str(port),
                             "--log-level", "warning", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_serve_process_answers_and_stops_cleanly(tmp_path, tmp_path_factory):
    publish_bundle(tmp_path / "store", onnx_bundle(tmp_path_factory))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _serve(tmp_path / "store", port)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else ""
                time.sleep(0.1)
        assert status["serving"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err


def test_taken_port_and_bad_options_are_usage_errors(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _serve(tmp_path / "store", taken.getsockname()[1])
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "cannot listen" in err and "Traceback" not in err
    proc = _serve(tmp_path / "store", 1, "--max-batch", "0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--max-batch" in err
