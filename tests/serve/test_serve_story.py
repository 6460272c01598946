"""The whole story over loopback: deploy v1, serve (uvicorn on 127.0.0.1, a free port), rank;
deploy v2 under a steady load of requests and see the switch with no failed request; roll back and
see it switch back; activate a version that cannot load and see v1 keep serving, with status saying why."""

from __future__ import annotations

import socket
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from _bundles import onnx_bundle, weighted_scores  # noqa: E402
from appkit.deploy.store import VersionStore, publish_bundle  # noqa: E402
from appkit.serve.server import create_app  # noqa: E402

BIAS_V2 = [2.0, 2.0, 2.0, 2.0]
DOC = {"put": "id:shop:item::1", "fields": {"embedding": [1, 2, 3, 4], "popularity": 0.5, "weights": [1, 0, 1, 0]}}
BODY = {"documents": [DOC], "query": {"query(q)": [1, 0, 0, 1]}}
EXPECTED = {1: weighted_scores(DOC["fields"])[1], 2: weighted_scores(DOC["fields"], BIAS_V2)[1]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Load(threading.Thread):
    """A bounded loop of ranking requests; records (status, version, relevance) of each."""

    def __init__(self, url: str, limit: int = 20000):
        super().__init__(daemon=True)
        self.url, self.limit = url, limit
        self.stop = threading.Event()
        self.results: list[tuple[int, int | None, float | None]] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set() and len(self.results) < self.limit:
                try:
                    r = client.post(self.url, json=BODY)
                    body = r.json()
                    hit = body["hits"][0] if r.status_code == 200 else {}
                    self.results.append((r.status_code, body.get("version"), hit.get("relevance")))
                except Exception as e:  # noqa: BLE001 - a dropped connection is a failed request
                    self.results.append((-1, None, repr(e)))

    def versions_seen(self) -> list[int | None]:
        return [v for _, v, _ in self.results]

    def wait_for(self, version: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        start = len(self.results)
        while time.monotonic() < deadline:
            if version in self.versions_seen()[start:]:
                return
            time.sleep(0.02)
        raise AssertionError(f"version {version} never served; status codes {set(r[0] for r in self.results)}")


@pytest.fixture
def served(tmp_path, tmp_path_factory):
    store = tmp_path / "store"
    publish_bundle(store, onnx_bundle(tmp_path_factory))
    port = _free_port()
    app = create_app(store, max_batch=16, max_wait_ms=2, poll_interval=0.05)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield store, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_deploy_switch_under_load_and_roll_back(served, tmp_path_factory):
    store, base = served
    url = f"{base}/v1/rank/item/weighted"
    first = httpx.post(url, json=BODY).json()
    assert first["version"] == 1 and first["hits"][0]["relevance"] == pytest.approx(EXPECTED[1])

    load = _Load(url)
    load.start()
    try:
        time.sleep(0.3)
        publish_bundle(store, onnx_bundle(tmp_path_factory, BIAS_V2))  # v2, activated
        load.wait_for(2)
        time.sleep(0.2)
        assert VersionStore(store).rollback() == (2, 1)
        load.wait_for(1)
        time.sleep(0.2)
    finally:
        load.stop.set()
        load.join(timeout=20)
    assert len(load.results) > 20, "the load loop hardly ran"
    failed = [r for r in load.results if r[0] != 200]
    assert not failed, f"{len(failed)} of {len(load.results)} requests failed: {failed[:3]}"
    seen = load.versions_seen()
    # one switch to 2, then one back to 1: each response scored by the version it names
    changes = [v for i, v in enumerate(seen) if i == 0 or v != seen[i - 1]]
    assert changes == [1, 2, 1], changes
    for _, version, relevance in load.results:
        assert relevance == pytest.approx(EXPECTED[version])
    status = httpx.get(f"{base}/v1/status").json()
    assert status["serving"] == 1 and [x["state"] for x in status["loads"]] == ["ok", "ok"]


def test_a_version_that_cannot_load_leaves_the_old_one_serving(served, tmp_path_factory):
    store, base = served
    entries = {k: v for k, v in onnx_bundle(tmp_path_factory).items()
               if not k.startswith("profiles/") and k != "manifest.json"}
    publish_bundle(store, entries)  # v2: a bundle without rank profiles
    deadline = time.monotonic() + 20
    while True:
        status = httpx.get(f"{base}/v1/status").json()
        if any(x["version"] == 2 and x["state"] == "failed" for x in status["loads"]):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["active"] == 2 and status["serving"] == 1
    assert "failed to load" in status["message"] and "still serving version 1" in status["message"]
    assert status["loads"][-1]["error"]["code"] == "AK608"
    r = httpx.post(f"{base}/v1/rank/item/weighted", json=BODY)
    assert r.status_code == 200 and r.json()["version"] == 1
    versions = httpx.get(f"{base}/v1/versions").json()
    assert versions["active"] == 2 and versions["serving"] == 1


def test_concurrent_requests_are_batched_and_each_gets_its_own_scores(served):
    from concurrent.futures import ThreadPoolExecutor

    _, base = served
    url = f"{base}/v1/rank/item/base"

    def one(i: int) -> tuple[int, float]:
        body = {"documents": [DOC] * (1 + i % 3), "query": {"query(q)": [i, 0, 0, 0]}}
        with httpx.Client(timeout=10) as c:
            hits = c.post(url, json=body).json()["hits"]
        return len(hits), hits[0]["relevance"]

    before = httpx.get(f"{base}/v1/status").json()["batching"]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(64)))
    for i, (count, relevance) in enumerate(results):
        assert count == 1 + i % 3 and relevance == pytest.approx(i * 1 + 0.5)  # q . embedding + popularity
    after = httpx.get(f"{base}/v1/status").json()["batching"]
    assert after["requests"] - before["requests"] == 64
    assert after["batches"] - before["batches"] < 64, "no two concurrent requests were evaluated together"
