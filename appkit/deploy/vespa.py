"""Vespa config-server client: deploy a zipped application package over the deploy API (v2).

`prepareandactivate` in one call, or create a session + prepare (activate later with the saved
session id); retries while the server starts; errors become located diagnostics. Standard library only.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import socket
import ssl
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import quote, urlsplit

from appkit.bundle.write import canonical_json
from appkit.diagnostics import AppkitError, Diagnostic, rule
from appkit.source import Span

DEFAULT_PORT = 19071
SESSIONS_FILE = "vespa-sessions.json"

AK520 = rule("AK520", "config server not reachable",
             example="`appkit deploy --target http://cfg:19071` while the config server is down or starting",
             fix="start the config server (or wait longer with --wait); check host, port and firewall")
AK521 = rule("AK521", "config server rejected the deployment",
             example='HTTP 400 {"error-code": "INVALID_APPLICATION_PACKAGE", "message": "... schemas/a.sd ..."}',
             fix="fix what the message names (the hint explains the error code) and deploy again")
AK522 = rule("AK522", "TLS connection to the config server failed",
             example="a client certificate the server does not trust, or a CA file that does not sign the server",
             fix="check --cert, --key and --ca-cert; the files must be PEM and match the server's CA")
AK523 = rule("AK523", "unexpected answer from the config server",
             example="an HTML page from a proxy instead of the deploy API's JSON",
             fix="check that --target points at the config server (port 19071), not a container or a proxy")
AK524 = rule("AK524", "no prepared session to activate",
             example="`appkit activate --target URL` without a previous `appkit deploy --no-activate`",
             fix="prepare first with `appkit deploy --target URL --no-activate`, or pass --session ID")
AK525 = rule("AK525", "the config server did not answer in time",
             example="a prepare of a large package taking longer than --timeout",
             fix="raise --timeout; a large model makes prepare slow")
AK526 = rule("AK526", "not authorized by the config server", example="HTTP 403 without a client certificate",
             fix="pass the client certificate the server expects with --cert and --key")
AK527 = rule("AK527", "deploy target is not a config server URL", example="--target ftp://host",
             fix="use http://HOST:19071 or https://HOST:19071")

# What each error-code of the deploy API means for the user, and what to do (HttpErrorResponse.java).
ERROR_CODES: dict[str, tuple[str, str]] = {
    "INVALID_APPLICATION_PACKAGE": ("the package itself is invalid",
                                    "fix the file named in the message; `appkit validate` finds most of these "
                                    "before a deploy"),
    "OUT_OF_CAPACITY": ("the cluster has not enough nodes or resources for what services.xml asks",
                        "lower the node count or resources in services.xml, or add hosts"),
    "NODE_ALLOCATION_FAILURE": ("nodes could not be allocated for a cluster",
                                "check the node counts and resources in services.xml against the hosts"),
    "ACTIVATION_CONFLICT": ("another deployment was activated while this one was being prepared",
                            "deploy again (appkit already retried until --wait ran out)"),
    "PARENT_SESSION_NOT_LATEST": ("the session was made from an application version that is no longer active",
                                  "prepare again with `appkit deploy --no-activate` and activate the new session"),
    "APPLICATION_LOCK_FAILURE": ("another deployment holds the application lock",
                                 "wait for it to finish and deploy again"),
    "BAD_REQUEST": ("the request was malformed", "check --tenant and the package zip"),
    "METHOD_NOT_ALLOWED": ("the server does not accept this call on that path",
                           "check that --target is a config server (port 19071)"),
    "NOT_FOUND": ("the tenant or session does not exist",
                  "check --tenant; a prepared session expires after an hour unless activated"),
    "REQUEST_TIMEOUT": ("the server gave up on the request", "deploy again with a larger --timeout"),
    "UNKNOWN_VESPA_VERSION": ("the requested Vespa version is not available", "use an installed Vespa version"),
    "PARENT_HOST_NOT_READY": ("the hosts are not ready yet", "wait and deploy again"),
    "CERTIFICATE_NOT_READY": ("the endpoint certificate is not ready yet", "wait and deploy again"),
    "LOAD_BALANCER_NOT_READY": ("the load balancer is not ready yet", "wait and deploy again"),
    "REQUESTED_NODES_MISSING": ("nodes the package asks for are missing", "check hosts.xml and services.xml"),
    "CONFIG_NOT_CONVERGED": ("the previous config has not reached every node yet", "wait and deploy again"),
    "QUOTA_EXCEEDED": ("the deployment would exceed the tenant's quota", "lower the resources or raise the quota"),
    "PRECONDITION_FAILED": ("a precondition of the deployment failed", "read the message; then deploy again"),
    "INTERNAL_SERVER_ERROR": ("the config server failed internally",
                              "see the config server's log (vespa.log); this is not the package's fault"),
}
# The server could not have acted on these: safe to repeat the very same request.
_RETRYABLE_STATUS = {503}
_RETRYABLE_CODES_ON_UPLOAD = {"ACTIVATION_CONFLICT", "APPLICATION_LOCK_FAILURE"}
_RETRYABLE_ERRORS = (ConnectionRefusedError, ConnectionResetError, BrokenPipeError,
                     http.client.RemoteDisconnected, ConnectionAbortedError)

Log = Callable[[str, str], None]  # (level, text): progress and warnings for the CLI to show


@dataclass(frozen=True)
class TLSFiles:
    """PEM files for TLS: a client certificate and key, and the CA that signs the server."""

    cert: str | None = None
    key: str | None = None
    ca_cert: str | None = None


@dataclass(frozen=True)
class LogEntry:
    level: str
    message: str
    time: int | None = None


@dataclass
class DeployResult:
    """What the config server said: the session, its prepare log and the config change actions."""

    url: str
    tenant: str
    session_id: str | None
    activated: bool
    message: str = ""
    log: list[LogEntry] = field(default_factory=list)
    change_actions: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    raw: dict[str, object] = field(default_factory=dict)

    def change_action_lines(self) -> list[str]:
        """One line per config change action: what must be restarted, refed or reindexed."""
        lines = []
        for kind in ("restart", "refeed", "reindex"):
            for action in self.change_actions.get(kind, []):
                lines.extend(f"{kind}: {_action_subject(action)}: {m}" for m in _messages(action))
        return lines

    @property
    def needs_refeed_or_reindex(self) -> bool:
        """True when documents must be fed again or reindexed: worth a confirmation before activating."""
        return any(self.change_actions.get(kind) for kind in ("refeed", "reindex"))

    def to_json(self) -> dict[str, object]:
        return {"url": self.url, "tenant": self.tenant, "session_id": self.session_id, "activated": self.activated,
                "message": self.message, "log": [e.__dict__ for e in self.log],
                "change_actions": self.change_action_lines()}


class VespaDeployError(AppkitError):
    """A deploy that failed; carries the HTTP status and the server's error-code when there was one."""

    def __init__(self, diagnostic: Diagnostic, status: int | None = None, error_code: str | None = None):
        super().__init__(diagnostic)
        self.status = status
        self.error_code = error_code


class ConfigServerClient:
    """Calls the deploy API of one config server for one tenant, retrying while it starts."""

    def __init__(self, url: str, tenant: str = "default", tls: TLSFiles | None = None, timeout: float = 360.0,
                 wait: float = 60.0, retry_base: float = 0.5, log: Log | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise VespaDeployError(Diagnostic(AK527, f"{url!r} is not an http(s) URL of a config server",
                                              hint=f"use http://HOST:{DEFAULT_PORT} or https://HOST:{DEFAULT_PORT}"))
        self.url = url.rstrip("/")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or DEFAULT_PORT
        self.tenant = tenant
        self.tls = tls or TLSFiles()
        self.timeout, self.wait, self.retry_base = timeout, wait, retry_base
        self.log: Log = log or (lambda level, text: None)
        self.sleep = sleep
        self._context = self._ssl_context() if self.scheme == "https" else None
        self.package_files: tuple[str, ...] = ()  # the uploaded zip's names, to place server errors

    # -- the deploy API -------------------------------------------------------------------------

    def prepare_and_activate(self, zip_bytes: bytes) -> DeployResult:
        body = self._request("POST", self._tenant_path("prepareandactivate") + self._server_timeout(), zip_bytes,
                             retry_conflict=True)
        return self._result(body, activated=True)

    def create_session(self, zip_bytes: bytes) -> str:
        body = self._request("POST", self._tenant_path("session"), zip_bytes)
        session = body.get("session-id")
        if session is None:
            raise self._unexpected(200, json.dumps(body)[:200], "no session-id in the answer to POST /session")
        return str(session)

    def prepare(self, session_id: str) -> DeployResult:
        body = self._request("PUT", self._tenant_path(f"session/{quote(session_id)}/prepared") + self._server_timeout())
        result = self._result(body, activated=False)
        result.session_id = result.session_id or session_id
        return result

    def activate(self, session_id: str) -> DeployResult:
        body = self._request("PUT", self._tenant_path(f"session/{quote(session_id)}/active") + self._server_timeout())
        result = self._result(body, activated=True)
        result.session_id = result.session_id or session_id
        return result

    # -- transport ------------------------------------------------------------------------------

    def _server_timeout(self) -> str:
        # The server's own deadline, a little under ours, so it answers with its error before we give up.
        return f"?timeout={max(1, int(self.timeout * 0.9))}s"

    def _tenant_path(self, rest: str) -> str:
        return f"/application/v2/tenant/{quote(self.tenant, safe='')}/{rest}"

    def _request(self, method: str, path: str, body: bytes | None = None,
                 retry_conflict: bool = False) -> dict[str, object]:
        """One API call: retried with exponential backoff while the server cannot take it yet."""
        deadline = time.monotonic() + self.wait
        delay = self.retry_base
        while True:
            headers: Mapping[str, str] = {}
            try:
                status, headers, data = self._send(method, path, body)
            except _RETRYABLE_ERRORS as e:
                why_retry = f"cannot connect to {self.host}:{self.port} ({_describe_os_error(e)})"
                last: VespaDeployError = VespaDeployError(Diagnostic(
                    AK520, f"config server {self.url} not reachable: {_describe_os_error(e)}; gave up after "
                    f"{self.wait:g} s", hint="is the config server running? `--wait SECONDS` waits longer"
                    + ("; if it requires a client certificate, pass --cert and --key"
                       if self.scheme == "https" and not self.tls.cert else "")))
            else:
                if 200 <= status < 300:
                    return self._json(status, data)
                error = self._http_error(status, data)
                retryable = status in _RETRYABLE_STATUS or (retry_conflict and error.error_code in
                                                             _RETRYABLE_CODES_ON_UPLOAD)
                if not retryable:
                    raise error
                why_retry = f"config server answered {status}" + (f" {error.error_code}" if error.error_code else "")
                last = error if status != 503 else VespaDeployError(Diagnostic(
                    AK520, f"config server {self.url} still not ready (HTTP 503) after {self.wait:g} s",
                    hint="the config server is starting; wait longer with --wait SECONDS"), 503)
            retry_after = _retry_after(headers)
            pause = min(max(delay, retry_after or 0.0), 10.0)
            if time.monotonic() + pause > deadline:
                raise last
            self.log("info", f"{why_retry}; retrying in {pause:.1f} s")
            self.sleep(pause)
            delay *= 2

    def _send(self, method: str, path: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        if self.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self._context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Accept": "application/json", "User-Agent": "appkit"}
        if body is not None:
            headers["Content-Type"] = "application/zip"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        except ssl.SSLError as e:
            raise VespaDeployError(_tls_diagnostic(e, f"{self.host}:{self.port}", self.tls)) from None
        except (socket.timeout, TimeoutError):
            raise VespaDeployError(Diagnostic(AK525, f"{method} {path}: no answer from {self.url} within "
                                              f"{self.timeout:g} s", hint="raise --timeout")) from None
        except socket.gaierror as e:
            raise VespaDeployError(Diagnostic(AK520, f"cannot resolve host {self.host!r}: {e.strerror}",
                                              hint="check the host name in --target")) from None
        finally:
            conn.close()

    def _ssl_context(self) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cafile=self.tls.ca_cert)
            if self.tls.cert:
                context.load_cert_chain(self.tls.cert, self.tls.key)
        except (OSError, ssl.SSLError) as e:
            what = getattr(e, "strerror", None) or getattr(e, "reason", None) or str(e)
            raise VespaDeployError(Diagnostic(AK522, f"cannot load the TLS files: {what}",
                                              hint=_tls_hint(self.tls))) from None
        return context

    # -- answers --------------------------------------------------------------------------------

    def _json(self, status: int, data: bytes) -> dict[str, object]:
        try:
            value = json.loads(data or b"{}")
        except ValueError:
            raise self._unexpected(status, data.decode("utf-8", "replace")[:200], "the answer is not JSON") from None
        if not isinstance(value, dict):
            raise self._unexpected(status, str(value)[:200], "the answer is not a JSON object")
        return value

    def _unexpected(self, status: int, excerpt: str, why: str) -> VespaDeployError:
        return VespaDeployError(Diagnostic(AK523, f"{self.url} (HTTP {status}): {why}: {excerpt!r}",
                                           hint=f"check that --target is a config server (port {DEFAULT_PORT})"),
                                status)

    def _http_error(self, status: int, data: bytes) -> VespaDeployError:
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if not isinstance(body, dict) or "error-code" not in body:
            if status in (401, 403):
                return VespaDeployError(Diagnostic(AK526, f"{self.url} refused access (HTTP {status})",
                                                   hint="pass the client certificate it expects: --cert and --key"),
                                        status)
            return self._unexpected(status, data.decode("utf-8", "replace")[:200], "the request failed")
        code, message = str(body.get("error-code")), str(body.get("message", ""))
        return VespaDeployError(server_error_diagnostic(code, message, status, self.package_files), status, code)

    def _result(self, body: Mapping[str, object], activated: bool) -> DeployResult:
        log = [LogEntry(str(e.get("level", "INFO")).upper(), str(e.get("message", "")), _int_or_none(e.get("time")))
               for e in body.get("log") or [] if isinstance(e, dict)]  # type: ignore[union-attr]
        actions = body.get("configChangeActions") or {}
        session = body.get("session-id")
        return DeployResult(url=self.url, tenant=self.tenant, session_id=None if session is None else str(session),
                            activated=activated, message=str(body.get("message", "")), log=log,
                            change_actions={k: list(v) for k, v in actions.items() if isinstance(v, list)}
                            if isinstance(actions, dict) else {}, raw=dict(body))


def server_error_diagnostic(code: str, message: str, status: int | None = None,
                            package_files: Iterable[str] = ()) -> Diagnostic:
    """The deploy API's {"error-code", "message"} as a diagnostic located at the file it names."""
    meaning, fix = ERROR_CODES.get(code, ("", "read the message above"))
    text = tidy_server_message(message)
    head = f"the config server rejected the deployment ({code}{f', HTTP {status}' if status else ''})"
    if meaning:
        head += f": {meaning}"
    return Diagnostic(AK521, f"{head}\n  {text}" if text else head, locate(message, package_files), hint=fix)


def tidy_server_message(message: str) -> str:
    """The server's message without repeated segments ("a: a: b" -> "a: b") and trailing noise."""
    parts = [p.strip() for p in re.split(r":\s+", message.strip()) if p.strip()]
    kept: list[str] = []
    for part in parts:
        if not kept or kept[-1] != part:
            kept.append(part)
    return ": ".join(kept).removesuffix(", input:").removesuffix(" input:")


_FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:sd|profile|expression|xml|json|onnx|pb|constant|tsv)~?)(?![\w~])")
_LINE_COL = [re.compile(r"\bline (\d+), column (\d+)"), re.compile(r"\[(\d+):(\d+)\]"),
             re.compile(r"\bat line (\d+)()"), re.compile(r"\bline (\d+)()")]


def locate(message: str, package_files: Iterable[str] = ()) -> Span | None:
    """The file (and line, column) a server message names, e.g. "schemas/a.sd ... at line 7, column 9".

    The server sometimes names a file by its base name ('music.sd'); given the package's files, the
    span gets the path in the package (schemas/music.sd).
    """
    found = _FILE.search(message)
    if not found:
        return None
    path = found.group(1).strip("'\"")
    files = list(package_files)
    if files and path not in files:
        matches = [f for f in files if f.endswith("/" + path)]
        if len(matches) == 1:
            path = matches[0]
    for pattern in _LINE_COL:
        match = pattern.search(message, found.end()) or pattern.search(message)
        if match:
            return Span(path, int(match.group(1)), int(match.group(2) or 1))
    return Span(path, 1, 1)


def _zip_names(zip_bytes: bytes) -> tuple[str, ...]:
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            return tuple(archive.namelist())
    except zipfile.BadZipFile:  # the server will say what is wrong with it
        return ()


def deploy_to_vespa(url: str, zip_bytes: bytes, tenant: str = "default", activate: bool = True,
                    cert: str | None = None, key: str | None = None, ca_cert: str | None = None,
                    timeout: float = 360.0, wait: float = 60.0, log: Log | None = None,
                    state_dir: Path | str | None = None) -> DeployResult:
    """Deploy a zipped application package: prepare and activate, or (activate=False) prepare only.

    A prepared-only session id is saved under `state_dir` (when given) for `appkit activate`.
    Raises VespaDeployError with a located diagnostic when the server refuses.
    """
    client = ConfigServerClient(url, tenant, TLSFiles(cert, key, ca_cert), timeout=timeout, wait=wait, log=log)
    client.package_files = _zip_names(zip_bytes)
    if log:
        log("info", f"uploading {len(zip_bytes) / 1e6:.1f} MB to {client.url} (tenant {tenant})")
    if activate:
        return client.prepare_and_activate(zip_bytes)
    session = client.create_session(zip_bytes)
    result = client.prepare(session)
    if state_dir is not None:
        save_session(state_dir, client.url, tenant, result.session_id or session)
    return result


def activate_session(url: str, session_id: str | None = None, tenant: str = "default",
                     state_dir: Path | str | None = None, cert: str | None = None, key: str | None = None,
                     ca_cert: str | None = None, timeout: float = 360.0, wait: float = 60.0,
                     log: Log | None = None) -> DeployResult:
    """Activate a prepared session: the given id, or the one saved by a prepare-only deploy."""
    client = ConfigServerClient(url, tenant, TLSFiles(cert, key, ca_cert), timeout=timeout, wait=wait, log=log)
    if session_id is None:
        session_id = load_session(state_dir, client.url, tenant) if state_dir is not None else None
    if session_id is None:
        raise VespaDeployError(Diagnostic(AK524, f"no prepared session for {client.url} (tenant {tenant})",
                                          hint="run `appkit deploy --target URL --no-activate` first, "
                                          "or pass --session ID"))
    result = client.activate(session_id)
    if state_dir is not None:
        forget_session(state_dir, client.url, tenant)
    return result


def _sessions(state_dir: Path | str) -> dict[str, str]:
    try:
        value = json.loads((Path(state_dir) / SESSIONS_FILE).read_bytes())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _write_sessions(state_dir: Path | str, sessions: dict[str, str]) -> None:
    path = Path(state_dir) / SESSIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SESSIONS_FILE}.{os.getpid()}")
    tmp.write_bytes(canonical_json(sessions))
    os.replace(tmp, path)


def save_session(state_dir: Path | str, url: str, tenant: str, session_id: str) -> None:
    """Remember the prepared session of (url, tenant) for a later `appkit activate --target URL`."""
    sessions = _sessions(state_dir)
    sessions[f"{url.rstrip('/')} {tenant}"] = session_id
    _write_sessions(state_dir, sessions)


def load_session(state_dir: Path | str, url: str, tenant: str) -> str | None:
    return _sessions(state_dir).get(f"{url.rstrip('/')} {tenant}")


def forget_session(state_dir: Path | str, url: str, tenant: str) -> None:
    sessions = _sessions(state_dir)
    if sessions.pop(f"{url.rstrip('/')} {tenant}", None) is not None:
        _write_sessions(state_dir, sessions)


def render_result(result: DeployResult, console) -> None:  # console: rich.console.Console
    """Print a deploy result as the Vespa CLI does: the prepare log coloured by level, then the actions."""
    from rich.text import Text

    styles = {"ERROR": "bold red", "WARNING": "yellow", "INFO": "", "DEBUG": "dim"}
    for entry in result.log:
        console.print(Text(f"{entry.level:<7} ", style=styles.get(entry.level, "") or "cyan") + Text(entry.message))
    lines = result.change_action_lines()
    if lines:
        console.print(Text("config change actions:", style="bold"))
        for line in lines:
            console.print(Text(f"  {line}", style="yellow"))
    what = "prepared and activated" if result.activated else "prepared (not active yet)"
    session = f" session {result.session_id}" if result.session_id else ""
    console.print(Text(f"{what}:{session} on {result.url} (tenant {result.tenant})", style="green"))
    if not result.activated and result.session_id:
        console.print(f"activate it with: appkit activate --target {result.url} --session {result.session_id}")


def _action_subject(action: Mapping[str, object]) -> str:
    cluster = action.get("clusterName")
    if action.get("documentType"):
        where = f" in cluster '{cluster}'" if cluster else ""
        return f"document type '{action['documentType']}'{where}"
    service = action.get("serviceType")
    kind = action.get("clusterType")
    subject = f"{kind + ' ' if kind else ''}cluster '{cluster}'" if cluster else "services"
    return f"{subject}{f' ({service})' if service else ''}"


def _messages(action: Mapping[str, object]) -> list[str]:
    messages = action.get("messages")
    if isinstance(messages, list) and messages:
        return [str(m) for m in messages]
    return [str(action.get("name", "change"))]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def _describe_os_error(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection"
    return getattr(error, "strerror", None) or type(error).__name__


def _tls_diagnostic(error: ssl.SSLError, where: str, tls: TLSFiles) -> Diagnostic:
    """Say which side of the TLS handshake was unhappy, in words, and which flag fixes it."""
    reason = str(error.reason or error)
    if isinstance(error, ssl.SSLCertVerificationError):
        return Diagnostic(AK522, f"TLS with {where}: the server's certificate is not trusted "
                          f"({error.verify_message or reason})",
                          hint="pass --ca-cert with the CA certificate that signs the config server's certificate")
    if "CERTIFICATE_REQUIRED" in reason or "HANDSHAKE_FAILURE" in reason or "UNKNOWN_CA" in reason \
            or "BAD_CERTIFICATE" in reason:
        return Diagnostic(AK522, f"TLS with {where}: the server did not accept our client certificate ({reason})",
                          hint="pass the client certificate and key the server trusts: --cert and --key"
                          + ("" if tls.cert else " (none given)"))
    if isinstance(error, ssl.SSLEOFError) and not tls.cert:
        return Diagnostic(AK522, f"TLS with {where}: the server closed the connection during the handshake; "
                          "it most likely requires a client certificate, and none was given",
                          hint="pass the client certificate and key the server trusts: --cert and --key")
    return Diagnostic(AK522, f"TLS with {where} failed: {reason}", hint=_tls_hint(tls))


def _tls_hint(tls: TLSFiles) -> str:
    given = ", ".join(f"{k}={v}" for k, v in tls.__dict__.items() if v) or "no TLS files given"
    return f"check --cert, --key and --ca-cert ({given}); they must be PEM files of the server's CA"
