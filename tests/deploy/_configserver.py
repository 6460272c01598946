"""A local stand-in for a Vespa config server's deploy API (v2), for the client tests (not a test module).

It answers from a script of responses, one per request, and records each request.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    method: str
    target: str  # path and query
    content_type: str | None
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass
class FakeConfigServer:
    """Serve scripted (status, JSON-or-bytes) answers on 127.0.0.1; the last answer repeats."""

    answers: list[tuple[int, object]]
    port: int = 0
    tls: ssl.SSLContext | None = None
    requests: list[Recorded] = field(default_factory=list)

    def __enter__(self) -> "FakeConfigServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(Recorded(self.command, self.path, self.headers.get("Content-Type"), body))
                status, payload = server.answers[min(len(server.requests), len(server.answers)) - 1]
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_PUT = do_GET = _answer

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"


PREPARE_LOG = [{"time": 1700000000000, "level": "WARNING",
                "message": "Rank profile 'default' of schema 'music' uses a deprecated feature"},
               {"time": 1700000000001, "level": "INFO", "message": "Prepared in 120 ms"}]
CHANGE_ACTIONS = {
    "restart": [{"clusterName": "music", "clusterType": "content", "serviceType": "searchnode",
                 "messages": ["Document type 'music': Field 'year' changed: add attribute aspect"],
                 "services": [{"serviceName": "searchnode", "configId": "music/search/0"}]}],
    "refeed": [],
    "reindex": [{"name": "indexing-change", "allowed": True, "documentType": "music", "clusterName": "music",
                 "messages": ["Field 'title' changed: add index aspect"], "services": []}],
}


def success(session: str = "3", activated: bool = True) -> dict[str, object]:
    verb = "prepared and activated" if activated else "prepared"
    return {"log": PREPARE_LOG, "tenant": "default", "session-id": session,
            "url": f"http://cfg:19071/application/v2/tenant/default/application/default/environment/prod/"
                   f"region/default/instance/default",
            "message": f"Session {session} for tenant 'default' {verb}.", "configChangeActions": CHANGE_ACTIONS}
