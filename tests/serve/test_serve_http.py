"""The server's request handling in process (Starlette's TestClient): scores, listings, and every
bad request answered with a 4xx JSON error naming the problem; internal errors a 500 without traceback."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from _bundles import onnx_bundle, weighted_scores  # noqa: E402
from appkit.deploy.store import publish_bundle  # noqa: E402
from appkit.serve.server import create_app  # noqa: E402

DOC = {"put": "id:shop:item::1", "fields": {"embedding": [1, 2, 3, 4], "popularity": 0.5, "weights": [1, 0, 1, 0]}}


@pytest.fixture
def client(tmp_path, tmp_path_factory):
    publish_bundle(tmp_path / "store", onnx_bundle(tmp_path_factory))
    with TestClient(create_app(tmp_path / "store", poll_interval=0.05), raise_server_exceptions=False) as c:
        yield c


def test_rank_returns_hits_with_phase_scores(client):
    r = client.post("/v1/rank/item/weighted", json={"documents": [DOC, DOC["fields"]], "query": {"query(q)": [1, 0, 0, 1]}})
    assert r.status_code == 200
    body = r.json()
    assert body["version"] == 1 and body["profile"] == "item/weighted"
    first, second = weighted_scores(DOC["fields"])
    assert [h["id"] for h in body["hits"]] == ["id:shop:item::1", None]
    for hit in body["hits"]:
        assert hit["first-phase"] == pytest.approx(first) and hit["relevance"] == pytest.approx(second)


def test_versions_and_status(client):
    versions = client.get("/v1/versions").json()
    assert versions["active"] == versions["serving"] == 1
    assert versions["versions"][0]["status"] == "ok" and versions["versions"][0]["load"] == "ok"
    status = client.get("/v1/status").json()
    assert status["serving"] == 1 and status["loads"][0]["state"] == "ok"
    assert "item/weighted" in status["loads"][0]["profiles"]
    assert "item/default" in status["loads"][0]["unavailable"]


def _post(client, body, path="/v1/rank/item/weighted"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, content=data, headers={"content-type": "application/json"})


@pytest.mark.parametrize("body, status, code, field", [
    (b"{not json", 400, "AK610", None),
    ([1, 2], 400, "AK610", None),
    ({"docs": []}, 400, "AK610", "docs"),
    ({"documents": {"a": 1}}, 400, "AK610", "documents"),
    ({"documents": [], "query": [1]}, 400, "AK610", "query"),
    ({"documents": [DOC, {"put": "id:shop:item::2", "fields": {"popularity": 1, "weights": [0] * 4}}]},
     400, "AK602", "embedding"),
    ({"documents": [{"embedding": [1, 2], "popularity": 1, "weights": [0] * 4}]}, 400, "AK603", "embedding"),
    ({"documents": [{"update": "id:shop:item::1", "fields": {}}]}, 400, "AK601", None),
    ({"documents": [DOC], "query": {"query(q)": [1, 2]}}, 400, "AK604", "query(q)"),
    ({"documents": [DOC], "query": {"query(qq)": [1, 2, 3, 4]}}, 400, "AK605", "query(qq)"),
])
def test_bad_requests_get_4xx_json_naming_the_problem(client, body, status, code, field):
    r = _post(client, body)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    assert error.get("field") == field
    if code == "AK602":
        assert error["document"] == 1 and error["document_id"] == "id:shop:item::2" and error["hint"]


def test_unknown_and_unevaluable_profiles_and_endpoints(client):
    r = _post(client, {"documents": [DOC]}, "/v1/rank/item/nothere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "AK606"
    r = _post(client, {"documents": [DOC]}, "/v1/rank/item/default")
    assert r.status_code == 422 and "first-phase" in r.json()["error"]["message"]
    assert client.get("/v1/nothing").json()["error"]["code"] == "AK610"
    r = client.get("/v1/rank/item/base")
    assert r.status_code == 405 and r.json()["error"]["code"] == "AK610"


def test_internal_error_is_a_500_json_without_traceback(client, monkeypatch, caplog):
    bundle = client.app.state.serving.current
    profile = bundle.profile("item/weighted")
    monkeypatch.setattr(profile, "rank_many", lambda requests: 1 / 0)
    r = _post(client, {"documents": [DOC]})
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "AK611" and "Traceback" not in r.text and "ZeroDivision" in r.text
    assert any("ZeroDivisionError" in (rec.exc_text or "") or rec.exc_info for rec in caplog.records)


def test_no_version_yet_is_503(tmp_path):
    with TestClient(create_app(tmp_path / "empty"), raise_server_exceptions=False) as c:
        r = _post(c, {"documents": [DOC]})
        assert r.status_code == 503 and r.json()["error"]["code"] == "AK609"
        assert c.get("/v1/status").json()["serving"] is None


def _asgi_rank(app, messages):
    """POST /v1/rank/item/weighted straight through the ASGI app, the body given as receive() messages;
    returns what the app sent."""
    import asyncio

    async def run():
        queue = list(messages)
        sent = []

        async def receive():
            return queue.pop(0) if queue else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/rank/item/weighted", "raw_path": b"/v1/rank/item/weighted",
                 "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
        return sent

    return asyncio.run(run())


def test_a_body_in_many_chunks_is_read_whole_and_a_hostile_one_is_a_400(tmp_path, tmp_path_factory):
    publish_bundle(tmp_path / "store", onnx_bundle(tmp_path_factory))
    app = create_app(tmp_path / "store")
    data = json.dumps({"documents": [DOC], "query": {"query(q)": [1, 0, 0, 1]}}).encode()
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    sent = _asgi_rank(app, [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                            for i, c in enumerate(chunks)])
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["hits"][0]["id"] == "id:shop:item::1"
    # bytes that are not UTF-8, and a body cut off by the client leaving: a JSON error, or no answer
    sent = _asgi_rank(app, [{"type": "http.request", "body": b'{"documents": ["\xff\xfe"]}', "more_body": False}])
    assert sent[0]["status"] == 400 and json.loads(sent[1]["body"])["error"]["code"] == "AK610"
    assert dict(sent[0]["headers"])[b"content-type"] == b"application/json"
    assert _asgi_rank(app, [{"type": "http.request", "body": data[:10], "more_body": True}]) == []
