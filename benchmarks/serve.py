"""`appkit serve` beside a plain onnxruntime server on the same HTTP stack, over loopback.

Run: python benchmarks/serve.py [--seconds 8] [--clients 2] [--threads 4] [--memory-requests 100000]
The MNIST softmax regression (784->10, built with onnx.helper, seeded) is deployed as a package and
served by `appkit serve`; the peer is the same Starlette+uvicorn app shape with an onnxruntime session
in place of appkit's evaluator (same request and response JSON), written as a plain server is: the body
decoded with the standard library's json. appkit decodes with orjson (its serve extra); a breakdown
printed first shows, in-process, what decoding and what the rest of a request cost in each. For 1-document and 100-document
requests it prints requests/s, p50 and p99 latency of both, side by side with the ratios and their
targets (throughput >= 1x, p99 <= 1.2x); the two servers take turns (A B B A A B B A) so that the
noise of a shared machine falls on both. Then a fresh appkit server's RSS after its first 1,000
1-document requests and after --memory-requests (target: within 10%). Exit status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

TARGET_THROUGHPUT, TARGET_P99, TARGET_MEMORY = 1.0, 1.2, 0.10
PROFILE_PATH = "/v1/rank/digit/confidence"

SCHEMA = """schema digit {
    document digit {
        field image type tensor<float>(d0[784]) {
            indexing: attribute
        }
    }
    rank-profile confidence {
        function image() {
            expression: attribute(image)
        }
        first-phase {
            expression: reduce(onnx_vespa("mnist.onnx"), max)
        }
    }
}
"""
SERVICES = """<?xml version="1.0" encoding="utf-8" ?>
<services version="1.0">
    <container id="default" version="1.0">
        <search/>
    </container>
    <content id="main" version="1.0">
        <redundancy>1</redundancy>
        <documents>
            <document type="digit" mode="index"/>
        </documents>
        <nodes>
            <node hostalias="node1" distribution-key="0"/>
        </nodes>
    </content>
</services>
"""

ORT_SERVER = '''
"""The peer: the same Starlette+uvicorn app shape, an onnxruntime session in place of appkit's evaluator."""
import json, sys
import numpy as np
import onnxruntime as ort
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

options = ort.SessionOptions()
options.intra_op_num_threads = 1
session = ort.InferenceSession(sys.argv[1], options, providers=["CPUExecutionProvider"])

async def rank(request: Request):
    try:
        data = json.loads(await request.body())
        docs = data["documents"]
        images = np.asarray([d["image"] for d in docs], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as e:
        return JSONResponse({"error": {"code": "bad", "message": str(e)}}, status_code=400)
    scores = session.run(None, {"image": images})[0].max(axis=1).astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    hits = [{"id": None, "index": int(i), "relevance": float(scores[i]), "first-phase": float(scores[i])}
            for i in order]
    return JSONResponse({"version": 1, "profile": "digit/confidence", "hits": hits})

app = Starlette(routes=[Route("/v1/rank/{schema}/{profile}", rank, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
'''


def mnist_model(batch: bool) -> Any:
    """Softmax regression 784->10 with seeded weights; input [784] (one document) or [N, 784]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = (rng.standard_normal((784, 10)) / 28).astype(np.float32)
    b = rng.standard_normal(10).astype(np.float32)
    shape = ["N", 784] if batch else [784]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["image", "W"], ["logits"]), helper.make_node("Add", ["logits", "b"], ["z"]),
         helper.make_node("Softmax", ["z"], ["probabilities"], axis=-1)],
        "mnist_softmax",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10] if batch else [10])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by every onnxruntime still in use
    return model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no server on port {port} after {timeout} s")


def body(n: int) -> bytes:
    images = np.random.default_rng(11).random((n, 784), dtype=np.float32).round(4)
    return json.dumps({"documents": [{"image": row.tolist()} for row in images]}).encode()


def _client_thread(port: int, payload: bytes, deadline: float, limit: int, out: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"content-type": "application/json"}
    count = 0
    while time.perf_counter() < deadline and count < limit:
        start = time.perf_counter()
        try:
            conn.request("POST", PROFILE_PATH, payload, headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                errors.append(f"{response.status}: {data[:200]!r}")
        except (OSError, http.client.HTTPException) as e:
            errors.append(repr(e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out.append(time.perf_counter() - start)
        count += 1
    conn.close()


def _client_process(args: tuple[int, bytes, float, int, int]) -> tuple[list[float], list[str]]:
    port, payload, seconds, threads, limit = args
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    errors: list[str] = []
    workers = [threading.Thread(target=_client_thread, args=(port, payload, deadline, limit, latencies, errors))
               for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, errors


def load(pool: Any, port: int, payload: bytes, seconds: float, clients: int, threads: int,
         limit: int = 10**9) -> dict[str, float]:
    """Requests from clients x threads keep-alive connections for `seconds` (or `limit` per thread)."""
    started = time.perf_counter()
    results = pool.map(_client_process, [(port, payload, seconds, threads, limit)] * clients)
    elapsed = time.perf_counter() - started
    latencies = np.array([x for lat, _ in results for x in lat])
    errors = [e for _, errs in results for e in errs]
    if errors:
        print(f"  {len(errors)} failed requests, first: {errors[0]}")
    return _summary(latencies, elapsed, len(errors))


def _summary(latencies: np.ndarray, elapsed: float, failed: int) -> dict[str, Any]:
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "failed": failed, "elapsed": elapsed,
            "latencies": latencies,
            "p50": float(np.percentile(latencies, 50)) * 1000, "p99": float(np.percentile(latencies, 99)) * 1000}


def alternating(pool: Any, ports: tuple[int, int], payload: bytes, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Both servers in turns A B B A A B B A, a quarter of the time each turn, merged: machine noise
    (2 cores shared with other work) hits both alike."""
    runs: list[list[dict[str, Any]]] = [[], []]
    for which in (0, 1, 1, 0, 0, 1, 1, 0):
        runs[which].append(load(pool, ports[which], payload, args.seconds / 4, args.clients, args.threads))
    return [_summary(np.concatenate([r["latencies"] for r in rs]), sum(r["elapsed"] for r in rs),
                     sum(r["failed"] for r in rs)) for rs in runs]


def start_servers(work: Path, started: list[subprocess.Popen], serve_args: tuple[str, ...] = ()
                  ) -> tuple[subprocess.Popen, int, subprocess.Popen, int]:
    import onnx

    from appkit.bundle.build import build_bundle
    from appkit.deploy.store import publish_bundle

    package = work / "package"
    (package / "schemas").mkdir(parents=True)
    (package / "models").mkdir()
    (package / "services.xml").write_text(SERVICES)
    (package / "schemas" / "digit.sd").write_text(SCHEMA)
    onnx.save(mnist_model(batch=False), package / "models" / "mnist.onnx")
    onnx.save(mnist_model(batch=True), work / "mnist_batched.onnx")
    built = build_bundle(package)
    if built.failed:
        raise SystemExit("the benchmark package does not build:\n" + "\n".join(str(d) for d in built.diagnostics))
    publish_bundle(work / "store", built.entries)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    appkit_port, ort_port = free_port(), free_port()
    appkit = subprocess.Popen([sys.executable, "-m", "appkit", "serve", "--target", str(work / "store"),
                               "--port", str(appkit_port), "--log-level", "warning", *serve_args], env=env)
    started.append(appkit)
    (work / "ort_server.py").write_text(ORT_SERVER)
    peer = subprocess.Popen([sys.executable, str(work / "ort_server.py"), str(work / "mnist_batched.onnx"),
                             str(ort_port)], env=env)
    started.append(peer)
    wait_listening(appkit_port, appkit)
    wait_listening(ort_port, peer)
    return appkit, appkit_port, peer, ort_port


def breakdown(work: Path) -> None:
    """Where a request's time goes, in this process (best of several timings, per request): decoding
    its JSON, and turning the decoded documents into hits (appkit: reading fields, phases, hits; the
    peer: np.asarray, the session, argsort, hits). Neither includes HTTP, which both share."""
    import timeit

    import onnxruntime as ort

    from appkit.serve import json_body
    from appkit.serve.documents import read_batch
    from appkit.serve.runtime import RankingBundle

    version = sorted(p for p in (work / "store").iterdir() if p.name.isdigit())[0]
    profile = RankingBundle.load(version, int(version.name)).profile(PROFILE_PATH.split("/rank/")[1])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(work / "mnist_batched.onnx"), options, providers=["CPUExecutionProvider"])

    def ours(docs: list[Any]) -> Any:
        read, columns = read_batch(docs, profile.fields)
        return profile.rank_many([profile.request(read, {}, columns)])

    def theirs(docs: list[Any]) -> Any:  # what the peer's handler does between decoding and responding
        images = np.asarray([d["image"] for d in docs], dtype=np.float32)
        scores = session.run(None, {"image": images})[0].max(axis=1).astype(np.float64)
        return [{"id": None, "index": int(i), "relevance": float(scores[i]), "first-phase": float(scores[i])}
                for i in np.argsort(-scores, kind="stable")]

    decoder = "orjson" if json_body.orjson is not None else "json, orjson not installed"
    print(f"\nper request, in-process (us){'appkit':>22}{'onnxruntime':>28}{'ratio':>18}")
    for n in (1, 100):
        payload = body(n)
        docs = json.loads(payload)["documents"]
        number = max(1, 2000 // n)
        for label, a, b in ((f"{n} doc: decode JSON", lambda: json_body.loads(payload), lambda: json.loads(payload)),
                            (f"{n} doc: documents to hits", lambda: ours(docs), lambda: theirs(docs))):
            t = [min(timeit.repeat(f, number=number, repeat=5)) / number * 1e6 for f in (a, b)]
            print(f"  {label:<26}{t[0]:>22.1f}{t[1]:>28.1f}{t[0] / t[1]:>17.2f}x")
    print(f"  (appkit decodes with {decoder}; the plain server with the standard library's json)")


def check_same_scores(appkit_port: int, ort_port: int) -> float:
    payload = body(100)
    answers = []
    for port in (appkit_port, ort_port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", PROFILE_PATH, payload, {"content-type": "application/json"})
        answers.append(json.loads(conn.getresponse().read())["hits"])
        conn.close()
    ours = np.array([h["relevance"] for h in sorted(answers[0], key=lambda h: h["index"])])
    theirs = np.array([h["relevance"] for h in sorted(answers[1], key=lambda h: h["index"])])
    return float(np.max(np.abs(ours - theirs)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=16.0, help="time per server and request size")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="keep-alive connections per client process")
    parser.add_argument("--memory-requests", type=int, default=100_000, help="requests before the last RSS reading")
    args = parser.parse_args()
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="appkit-serve-bench-"))
    servers: list[subprocess.Popen] = []
    ok = True
    try:
        appkit, appkit_port, peer, ort_port = start_servers(work, servers)
        print(f"MNIST softmax 784->10 over loopback; {args.clients} client processes x {args.threads} connections, "
              f"{args.seconds:g} s per run, {os.cpu_count()} CPUs")
        difference = check_same_scores(appkit_port, ort_port)
        print(f"largest score difference appkit vs onnxruntime (100 documents): {difference:.2e}")
        breakdown(work)
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(args.clients) as pool:
            for port in (appkit_port, ort_port):  # warm both: first requests compile and fill caches
                load(pool, port, body(1), 60, 1, 1, limit=200)
            print(f"\n{'':22}{'appkit':>28}{'onnxruntime':>28}{'ratio':>18}")
            for n in (1, 100):
                payload = body(n)
                ours, theirs = alternating(pool, (appkit_port, ort_port), payload, args)
                ok &= _print_run(n, ours, theirs)
            print(f"\nRSS after these runs: appkit {rss_kb(appkit.pid) / 1024:.1f} MiB, "
                  f"onnxruntime {rss_kb(peer.pid) / 1024:.1f} MiB")
            ok &= memory_run(pool, work, servers, args)
    finally:
        for proc in servers:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    print(f"benchmark took {time.perf_counter() - began:.0f} s")
    return 0 if ok else 1


def memory_run(pool: Any, work: Path, servers: list[subprocess.Popen], args: argparse.Namespace) -> bool:
    """A fresh appkit server: RSS after its first 1,000 1-document requests and after --memory-requests."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "-m", "appkit", "serve", "--target", str(work / "store"),
                               "--port", str(port), "--log-level", "warning"], env=env)
    servers.append(server)
    wait_listening(port, server)
    payload = body(1)
    first = load(pool, port, payload, 600, 1, 1, limit=1000)
    rss_first = rss_kb(server.pid)
    started = time.perf_counter()
    rest = max(0, args.memory_requests - first["requests"])
    per_thread = -(-rest // (args.clients * args.threads))
    more = load(pool, port, payload, 3600, args.clients, args.threads, limit=per_thread) if rest else {"requests": 0}
    rss_last = rss_kb(server.pid)
    served = first["requests"] + more["requests"]
    growth = (rss_last - rss_first) / rss_first
    met = abs(growth) <= TARGET_MEMORY
    print(f"\nfresh appkit server, 1-document requests: RSS {rss_first / 1024:.1f} MiB after the first "
          f"{first['requests']:,}, {rss_last / 1024:.1f} MiB after {served:,} ({growth:+.1%}; target within "
          f"{TARGET_MEMORY:.0%}: {'ok' if met else 'MISSED'}; {served - first['requests']:,} requests in "
          f"{time.perf_counter() - started:.0f} s)")
    return met and not more.get("failed")


def _print_run(n: int, ours: dict[str, float], theirs: dict[str, float]) -> bool:
    rows = [("requests/s", "rps", "{:.0f}", ours["rps"] / theirs["rps"], TARGET_THROUGHPUT, ">="),
            ("p50 latency (ms)", "p50", "{:.2f}", ours["p50"] / theirs["p50"], None, ""),
            ("p99 latency (ms)", "p99", "{:.2f}", ours["p99"] / theirs["p99"], TARGET_P99, "<=")]
    ok = not ours["failed"] and not theirs["failed"]
    print(f"{n} document{'s' if n > 1 else ''} per request ({ours['requests']:,} and {theirs['requests']:,} requests)")
    for label, key, fmt, ratio, target, sense in rows:
        verdict = ""
        if target is not None:
            met = ratio >= target if sense == ">=" else ratio <= target
            ok &= met
            verdict = f"  (target {sense} {target:g}x: {'ok' if met else 'MISSED'})"
        print(f"  {label:<20}{fmt.format(ours[key]):>28}{fmt.format(theirs[key]):>28}{ratio:>17.2f}x{verdict}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
