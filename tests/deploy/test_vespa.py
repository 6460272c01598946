"""The Vespa config-server client against a local server that answers as the deploy API does."""

from __future__ import annotations

import io
import socket

import pytest
from rich.console import Console

from _configserver import FakeConfigServer, success
from appkit.bundle.write import bundle_entries, zip_bytes
from appkit.cli.main import main
from appkit.deploy.vespa import (
    ConfigServerClient,
    VespaDeployError,
    activate_session,
    deploy_to_vespa,
    load_session,
    locate,
    render_result,
    tidy_server_message,
)

ZIP = zip_bytes(bundle_entries({"services.xml": b"<services version='1.0'/>", "schemas/music.sd": b"schema music {}"}))
TENANT_PATH = "/application/v2/tenant/default"


def client(url: str, **kw) -> ConfigServerClient:
    kw.setdefault("retry_base", 0.01)
    return ConfigServerClient(url, **kw)


def test_prepare_and_activate_posts_the_zip_and_reads_log_and_change_actions():
    with FakeConfigServer([(200, success())]) as server:
        result = client(server.url).prepare_and_activate(ZIP)
    [request] = server.requests
    assert (request.method, request.path) == ("POST", f"{TENANT_PATH}/prepareandactivate")
    assert request.content_type == "application/zip" and request.body == ZIP
    assert request.query == "timeout=324s"  # the server's deadline: 90% of the client's default 360 s
    assert result.activated and result.session_id == "3" and "prepared and activated" in result.message
    assert [(e.level, e.time) for e in result.log] == [("WARNING", 1700000000000), ("INFO", 1700000000001)]
    assert result.change_action_lines() == [
        "restart: content cluster 'music' (searchnode): Document type 'music': Field 'year' changed: add attribute aspect",
        "reindex: document type 'music' in cluster 'music': Field 'title' changed: add index aspect",
    ]


def test_the_result_is_printed_with_the_log_coloured_by_level():
    with FakeConfigServer([(200, success())]) as server:
        result = deploy_to_vespa(server.url, ZIP)
    out = io.StringIO()
    render_result(result, Console(file=out, force_terminal=True, color_system="standard", width=200))
    text = out.getvalue()
    assert "\x1b[33mWARNING" in text  # yellow, as the Vespa CLI shows warnings
    assert "deprecated feature" in text and "config change actions:" in text
    assert "reindex: document type 'music'" in text and "session 3" in text


def test_error_code_json_becomes_a_located_diagnostic_and_is_not_retried():
    message = ("Invalid application package: default.default: Error loading default.default: "
               "Failed parsing schema from 'schemas/music.sd': Encountered \" <IDENTIFIER> \"fieldd \"\" "
               "at line 7, column 9.")
    with FakeConfigServer([(400, {"error-code": "INVALID_APPLICATION_PACKAGE", "message": message})]) as server:
        with pytest.raises(VespaDeployError) as info:
            client(server.url).prepare_and_activate(ZIP)
    assert len(server.requests) == 1
    error = info.value
    assert (error.status, error.error_code) == (400, "INVALID_APPLICATION_PACKAGE")
    [d] = error.diagnostics
    assert d.code == "AK521" and (d.span.path, d.span.line, d.span.column) == ("schemas/music.sd", 7, 9)
    assert "INVALID_APPLICATION_PACKAGE, HTTP 400" in d.message and "the package itself is invalid" in d.message
    assert "default.default: Error loading" in d.message and "appkit validate" in d.hint


@pytest.mark.parametrize("code, words", [("OUT_OF_CAPACITY", "nodes or resources"),
                                         ("PARENT_SESSION_NOT_LATEST", "no longer active"),
                                         ("NOT_FOUND", "tenant or session"),
                                         ("SOMETHING_NEW", "")])
def test_every_error_code_gets_an_explanation(code, words):
    with FakeConfigServer([(400, {"error-code": code, "message": "it failed"})]) as server:
        with pytest.raises(VespaDeployError) as info:
            client(server.url).prepare_and_activate(ZIP)
    d = info.value.diagnostics[0]
    assert code in d.message and words in d.message and "it failed" in d.message and d.hint


def test_503_twice_then_success_is_retried_with_backoff():
    pauses: list[float] = []
    said: list[str] = []
    with FakeConfigServer([(503, {"error-code": "INTERNAL_SERVER_ERROR", "message": "starting"}),
                           (503, b"<html>starting</html>"), (200, success())]) as server:
        result = client(server.url, sleep=pauses.append, log=lambda level, text: said.append(text)).prepare_and_activate(ZIP)
    assert result.activated and len(server.requests) == 3
    assert pauses == [0.01, 0.02]  # exponential
    assert all("503" in s and "retrying" in s for s in said)


def test_503_until_the_deadline_gives_a_clear_error():
    with FakeConfigServer([(503, b"starting")]) as server:
        with pytest.raises(VespaDeployError) as info:
            client(server.url, wait=0.3).prepare_and_activate(ZIP)
    d = info.value.diagnostics[0]
    assert d.code == "AK520" and "still not ready (HTTP 503)" in d.message and "--wait" in d.hint
    assert len(server.requests) >= 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_then_success():
    port = free_port()
    server = FakeConfigServer([(200, success())], port=port)
    started: list[FakeConfigServer] = []

    def sleep(seconds: float) -> None:  # the config server comes up while the client waits
        if not started:
            started.append(server.__enter__())

    try:
        result = client(f"http://127.0.0.1:{port}", sleep=sleep).prepare_and_activate(ZIP)
    finally:
        if started:
            server.__exit__(None, None, None)
    assert result.activated and len(started) == 1 and len(server.requests) == 1


def test_connection_refused_until_the_deadline():
    with pytest.raises(VespaDeployError) as info:
        client(f"http://127.0.0.1:{free_port()}", wait=0.2).prepare_and_activate(ZIP)
    d = info.value.diagnostics[0]
    assert d.code == "AK520" and "connection refused" in d.message


def test_activation_conflict_is_retried_on_upload_but_not_on_activate():
    conflict = (409, {"error-code": "ACTIVATION_CONFLICT", "message": "Cannot activate session 4"})
    with FakeConfigServer([conflict, (200, success("5"))]) as server:
        assert client(server.url).prepare_and_activate(ZIP).session_id == "5"
    with FakeConfigServer([conflict]) as server:
        with pytest.raises(VespaDeployError) as info:
            client(server.url).activate("4")
    assert info.value.error_code == "ACTIVATION_CONFLICT" and len(server.requests) == 1


def test_prepare_only_saves_the_session_and_activate_uses_it(tmp_path):
    state = tmp_path / ".appkit"
    answers = [(200, {"session-id": "7", "prepared": "x", "content": "y"}), (200, success("7", activated=False)),
               (200, {"message": "Session 7 for tenant 'music' activated."})]
    with FakeConfigServer(answers) as server:
        result = deploy_to_vespa(server.url, ZIP, tenant="music", activate=False, state_dir=state)
        assert not result.activated and result.session_id == "7"
        assert load_session(state, server.url, "music") == "7"
        with pytest.raises(VespaDeployError) as info:  # saved per config server and tenant
            activate_session(server.url, None, "default", state)
        assert info.value.diagnostics[0].code == "AK524"
        activated = activate_session(server.url, None, "music", state)
    assert activated.activated and activated.session_id == "7"
    assert [(r.method, r.path) for r in server.requests] == [
        ("POST", "/application/v2/tenant/music/session"), ("PUT", "/application/v2/tenant/music/session/7/prepared"),
        ("PUT", "/application/v2/tenant/music/session/7/active")]
    assert server.requests[0].content_type == "application/zip" and server.requests[0].body == ZIP
    assert server.requests[1].body == b""
    assert load_session(state, server.url, "music") is None


def test_appkit_activate_on_a_config_server(tmp_path, capsys):
    state = tmp_path / ".appkit"
    with FakeConfigServer([(200, {"session-id": "7"}), (200, success("7", activated=False)),
                           (200, {"message": "Session 7 for tenant 'default' activated.", "session-id": "7"})]) as server:
        deploy_to_vespa(server.url, ZIP, activate=False, state_dir=state)
        code = main(["activate", "--target", server.url, "--package", str(tmp_path)])
    assert code == 0, capsys.readouterr()
    assert (server.requests[-1].method, server.requests[-1].path) == ("PUT", f"{TENANT_PATH}/session/7/active")
    assert "activated" in capsys.readouterr().out
    assert load_session(state, server.url, "default") is None  # used up
    assert main(["activate", "--target", server.url, "--package", str(tmp_path)]) == 1
    assert "AK524" in capsys.readouterr().err


def test_appkit_activate_reports_a_refusal_without_a_traceback(tmp_path, capsys):
    answer = (400, {"error-code": "PARENT_SESSION_NOT_LATEST", "message": "session 7 is not based on the latest"})
    with FakeConfigServer([answer]) as server:
        code = main(["activate", "--target", server.url, "--session", "7", "--package", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "PARENT_SESSION_NOT_LATEST" in err and "Traceback" not in err


def test_a_page_that_is_not_the_deploy_api_is_named():
    with FakeConfigServer([(502, b"<html>Bad Gateway</html>")]) as server:
        with pytest.raises(VespaDeployError) as info:
            client(server.url).prepare_and_activate(ZIP)
    d = info.value.diagnostics[0]
    assert d.code == "AK523" and "502" in d.message and "Bad Gateway" in d.message and "19071" in d.hint


def test_403_without_error_code_says_unauthorized():
    with FakeConfigServer([(403, b"Forbidden")]) as server:
        with pytest.raises(VespaDeployError) as info:
            client(server.url).prepare_and_activate(ZIP)
    assert info.value.diagnostics[0].code == "AK526" and "--cert" in info.value.diagnostics[0].hint


def test_a_target_that_is_not_http_is_refused():
    with pytest.raises(VespaDeployError) as info:
        ConfigServerClient("ftp://cfg:19071")
    assert info.value.diagnostics[0].code == "AK527"


@pytest.mark.parametrize("message, where", [
    ("Failed parsing schema from 'schemas/music.sd': Encountered \"x\" at line 7, column 9.", ("schemas/music.sd", 7, 9)),
    ("Invalid XML according to XML schema, error in services.xml: element \"foo\" not allowed here [12:31], input:",
     ("services.xml", 12, 31)),
    ("File in application package with unknown extension: schemas/doc.sd~", ("schemas/doc.sd~", 1, 1)),
    ("Could not find type for output 'y' in models/m.onnx", ("models/m.onnx", 1, 1)),
    ("Something failed without a file", None),
])
def test_locate_finds_the_file_and_line_a_server_message_names(message, where):
    span = locate(message)
    assert (None if span is None else (span.path, span.line, span.column)) == where


def test_a_base_name_in_a_server_message_is_placed_at_the_package_path():
    message = "Invalid application: Failed parsing schema from 'music.sd': Encountered \"{\" at line 4, column 2."
    with FakeConfigServer([(400, {"error-code": "INVALID_APPLICATION_PACKAGE", "message": message})]) as server:
        with pytest.raises(VespaDeployError) as info:
            deploy_to_vespa(server.url, ZIP, wait=0)
    span = info.value.diagnostics[0].span
    assert (span.path, span.line, span.column) == ("schemas/music.sd", 4, 2)
    assert locate(message, ["schemas/music.sd", "other/music.sd"]).path == "music.sd"  # ambiguous: as said


def test_tidy_drops_repeated_segments():
    assert tidy_server_message("error in services.xml: bad [1:2], input:") == "error in services.xml: bad [1:2]"
    assert tidy_server_message("Error in x: Error in x: bad") == "Error in x: bad"
