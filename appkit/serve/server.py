"""The ASGI app of `appkit serve`: ranking over the store's active version, version listing and status.

It serves one loaded version at a time and polls ACTIVE; a newly activated version is loaded (in a
thread) beside the old one, then swapped in: requests already running finish on the version they
started with. A version that fails to load is reported in /v1/status while the old one keeps serving.
Every error is a JSON body {"error": {"code", "message", ...}}; internal errors are logged, not shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appkit.deploy.store import ACTIVE, VersionStore
from appkit.serve import json_body
from appkit.serve.batching import Batcher
from appkit.serve.documents import read_batch
from appkit.serve.errors import AK608, AK609, AK610, AK611, RankingError
from appkit.serve.runtime import RankingBundle

log = logging.getLogger("appkit.serve")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ServingState:
    """Which version serves, how every version this server tried loaded, and the ACTIVE poller."""

    def __init__(self, store_root: Path | str, poll_interval: float = 0.25):
        self.store = VersionStore(store_root)
        self.poll_interval = poll_interval
        self.current: RankingBundle | None = None
        self.since: str | None = None
        self.loads: dict[int, dict[str, Any]] = {}
        self._seen: tuple[int, str] | None = None

    def _active_marker(self) -> tuple[int, str] | None:
        try:
            path = self.store.root / ACTIVE
            return os.stat(path).st_mtime_ns, path.read_text(encoding="utf-8").strip()
        except OSError:
            return None

    def load(self, version: int) -> bool:
        """Load `version` (blocking; run it in a thread) and swap it in when it loads; True if it did."""
        started = time.perf_counter()
        self.loads[version] = {"version": version, "state": "loading", "started": _now()}
        try:
            info = self.store.info(version, verify=True)
            if info is None:
                raise RankingError(AK609, f"version {version} does not exist in {self.store.root}")
            if not info.ok:
                why = "; ".join(d.message for d in info.problems[:3])
                raise RankingError(AK608, f"version {version} is {info.status}: {why}")
            bundle = RankingBundle.load(self.store.version_path(version), version)
        except RankingError as e:
            self.loads[version].update(state="failed", error=e.to_json(), seconds=_since(started))
            log.warning("version %s failed to load: %s", version, e.message)
            return False
        except Exception as e:  # noqa: BLE001 - a bug while loading must not stop the server
            log.exception("version %s failed to load", version)
            self.loads[version].update(state="failed", seconds=_since(started),
                                       error={"code": AK611, "message": f"internal error: {type(e).__name__}: {e}"})
            return False
        self.loads[version].update(state="ok", seconds=_since(started), loaded=_now(), **bundle.status())
        self.current, self.since = bundle, _now()  # one assignment: requests see the old or the new
        log.info("serving version %s", version)
        return True

    def changed_version(self) -> int | None:
        """The newly activated version to load, when ACTIVE changed since the last look."""
        marker = self._active_marker()
        if marker == self._seen:
            return None
        self._seen = marker
        version = self.store.active() if marker else None
        if version is None or (self.current is not None and self.current.version == version):
            return None
        return version

    async def watch(self) -> None:
        while True:
            try:
                version = self.changed_version()
                if version is not None:
                    await asyncio.to_thread(self.load, version)
            except Exception:  # noqa: BLE001 - keep polling whatever happens
                log.exception("while polling %s", self.store.root / ACTIVE)
            await asyncio.sleep(self.poll_interval)

    def status(self) -> dict[str, Any]:
        active = self.store.active()
        serving = self.current.version if self.current is not None else None
        out: dict[str, Any] = {"store": str(self.store.root), "active": active, "serving": serving,
                               "serving_since": self.since,
                               "loads": [self.loads[v] for v in sorted(self.loads)]}
        if active is not None and active != serving:
            state = self.loads.get(active, {}).get("state")
            if state == "failed":
                out["message"] = (f"version {active} is active but failed to load; "
                                  + (f"still serving version {serving}" if serving is not None else "nothing serves"))
            else:
                out["message"] = f"version {active} is active and is being loaded"
        return out


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _error(e: RankingError) -> JSONResponse:
    return JSONResponse({"error": e.to_json()}, status_code=e.status)


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Errors become JSON: RankingError with its status, anything else a logged 500 without traceback."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except RankingError as e:
            return _error(e)
        except Exception:  # noqa: BLE001
            log.exception("internal error serving %s %s", request.method, request.url.path)
            return _error(_internal_error())
    return wrapped


def _internal_error() -> RankingError:
    """What a client is told of a bug: no traceback (the server log has it)."""
    return RankingError(AK611, "internal error while serving the request",
                        "this is a bug in appkit; the server log has the details", status=500)


def _json_bytes(content: Any) -> bytes:
    """The bytes Starlette's JSONResponse writes for `content`."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode("utf-8")


class _RankApp:
    """POST /v1/rank/{schema}/{profile} as a plain ASGI app: the one endpoint on every request's path
    reads its body and writes its JSON without Starlette's Request and Response objects, which cost
    about as much per request as evaluating a small model. Errors are JSON as everywhere else."""

    def __init__(self, endpoints: "_Endpoints"):
        self.endpoints = endpoints

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        params = scope["path_params"]
        try:
            status = 200
            body = _json_bytes(await self.endpoints.rank(b"".join(chunks), params["schema"], params["profile"]))
        except RankingError as e:
            status, body = e.status, _json_bytes({"error": e.to_json()})
        except Exception:  # noqa: BLE001
            log.exception("internal error serving POST %s", scope.get("path"))
            status, body = 500, _json_bytes({"error": _internal_error().to_json()})
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode("latin-1")),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def _rank_body(data: Any) -> tuple[list[Any], dict[str, Any]]:
    if not isinstance(data, dict):
        raise RankingError(AK610, "the body must be a JSON object", 'send {"documents": [...], "query": {...}}')
    unknown = sorted(set(data) - {"documents", "query"})
    if unknown:
        raise RankingError(AK610, f"unknown key '{unknown[0]}' in the body", 'the body has "documents" and "query"',
                           field=unknown[0])
    documents = data.get("documents")
    if not isinstance(documents, list):
        raise RankingError(AK610, '"documents" must be a list of Vespa documents', field="documents",
                           hint='send "documents": [{"put": "id:ns:type::1", "fields": {...}}]')
    query = data.get("query", {})
    if not isinstance(query, dict):
        raise RankingError(AK610, '"query" must be an object of query values', field="query",
                           hint='send "query": {"query(q)": [1, 2, 3]}')
    return documents, query


def create_app(store_root: Path | str, max_batch: int = 64, max_wait_ms: float = 2.0,
               poll_interval: float = 0.25) -> Starlette:
    endpoints = _Endpoints(ServingState(store_root, poll_interval), max_batch, max_wait_ms / 1000.0)
    routes = [Route("/v1/rank/{schema}/{profile}", _RankApp(endpoints), methods=["POST"]),
              Route("/v1/versions", _guarded(endpoints.versions), methods=["GET"]),
              Route("/v1/status", _guarded(endpoints.status), methods=["GET"])]
    app = Starlette(routes=routes, lifespan=endpoints.lifespan, exception_handlers={HTTPException: _not_found})
    app.state.serving = endpoints.state
    return app


class _Endpoints:
    """The server's handlers over one serving state and, while the app runs, one batcher."""

    def __init__(self, state: ServingState, max_batch: int, max_wait: float):
        self.state = state
        self.max_batch, self.max_wait = max_batch, max_wait
        self.batcher: Batcher | None = None

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.batcher = Batcher(self.max_batch, self.max_wait)
        version = self.state.changed_version()
        if version is not None:
            await asyncio.to_thread(self.state.load, version)
        tasks = [asyncio.create_task(self.batcher.run()), asyncio.create_task(self.state.watch())]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    async def rank(self, body: bytes, schema: str, profile_name: str) -> dict[str, Any]:
        """The answer to POST /v1/rank/{schema}/{profile} with `body`; RankingError says what is wrong."""
        batcher = self.batcher
        assert batcher is not None
        batcher.arriving += 1
        try:
            try:
                data = json_body.loads(body)
            except (ValueError, UnicodeDecodeError) as e:
                raise RankingError(AK610, f"the body is not JSON: {e}", 'send {"documents": [...]}') from None
            documents, query = _rank_body(data)
            bundle = self.state.current  # this request stays on this version, whatever is activated meanwhile
            if bundle is None:
                why = self.state.status().get("message") or "none is active"
                raise RankingError(AK609, f"no version is serving ({why})",
                                   "deploy a version (appkit deploy) or activate one", status=503)
            key = f"{schema}/{profile_name}"
            profile = bundle.profile(key)
            docs, columns = read_batch(documents, profile.fields)
            future = batcher.submit(profile, profile.request(docs, query, columns))
        finally:
            batcher.arriving -= 1
        hits = await future
        return {"version": bundle.version, "profile": key, "hits": hits}

    async def versions(self, request: Request) -> Response:
        state = self.state
        listing = await asyncio.to_thread(state.store.list_versions, False)
        serving = state.current.version if state.current is not None else None
        items = []
        for info in listing:
            item = info.to_json()
            item["serving"] = info.version == serving
            if info.version in state.loads:
                item["load"] = state.loads[info.version]["state"]
            items.append(item)
        return JSONResponse({"active": state.store.active(), "serving": serving, "versions": items})

    async def status(self, request: Request) -> Response:
        body = self.state.status()
        batcher = self.batcher
        if batcher is not None:
            body["batching"] = {"max_batch": batcher.max_batch, "max_wait_ms": batcher.max_wait * 1000,
                                "batches": batcher.batches, "requests": batcher.batched_requests}
        return JSONResponse(body)


async def _not_found(request: Request, exc: Exception) -> Response:
    code = getattr(exc, "status_code", 500)
    message = {404: f"no such endpoint: {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(code, "request failed")
    return _error(RankingError(AK610, message, "the endpoints are POST /v1/rank/SCHEMA/PROFILE, "
                               "GET /v1/versions and GET /v1/status", status=code))
