"""`appkit versions`, `appkit activate N` and `appkit rollback` on a local store: output and exit codes."""

from __future__ import annotations

import json

import pytest

from appkit.cli.main import main
from appkit.deploy.store import VersionStore


@pytest.fixture
def store(tmp_path) -> VersionStore:
    store = VersionStore(tmp_path / "pkg" / ".appkit" / "deployments")
    for i in range(3):
        store.publish({"schemas/a.sd": f"schema a {{ }} # {i}\n".encode()}, {"models": ["mnist", "tf"]})
    return store


def test_versions_table_shows_every_version_and_the_active_one(store, capsys):
    (store.version_path(2) / "schemas/a.sd").write_text("tampered!!!!!!!!!!\n")
    assert main(["versions", "--target", str(store.root)]) == 0
    out = capsys.readouterr().out
    for word in ("version", "created", "source hash", "models", "status", "mnist, tf", "corrupt", "ok",
                 "active: version 3"):
        assert word in out, word
    assert "*" in out
    (store.version_path(3) / "manifest.json").unlink()  # now the active one is broken: exit 1, and said
    assert main(["versions", "--target", str(store.root)]) == 1
    assert "the active version (3) cannot be served" in capsys.readouterr().err


def test_versions_defaults_to_the_package_store_and_has_json(store, capsys, monkeypatch):
    monkeypatch.chdir(store.root.parent.parent)
    (store.root / ".publish-999999999-ab").mkdir()
    assert main(["versions", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["active"] == 3 and [v["version"] for v in data["versions"]] == [1, 2, 3]
    assert all(v["status"] == "ok" and v["models"] == ["mnist", "tf"] for v in data["versions"])
    assert data["leftovers"][0]["status"] == "incomplete"
    assert data["problems"][0]["code"] == "AK508"


def test_versions_of_an_empty_store(tmp_path, capsys):
    assert main(["versions", "--target", str(tmp_path / "none")]) == 0
    assert "no versions" in capsys.readouterr().out


def test_activate_and_its_refusals(store, capsys):
    assert main(["activate", "1", "--target", str(store.root)]) == 0
    assert "version 1 is active (was 3)" in capsys.readouterr().out
    (store.version_path(2) / "manifest.json").unlink()
    assert main(["activate", "2", "--target", str(store.root)]) == 1
    err = capsys.readouterr().err
    assert "AK503" in err and "corrupt" in err and "Traceback" not in err
    assert main(["activate", "9", "--target", str(store.root)]) == 1
    assert "AK502" in capsys.readouterr().err
    assert main(["activate", "--target", str(store.root)]) == 2
    assert store.active() == 1


def test_rollback_then_nothing_left(store, capsys):
    (store.version_path(2) / "manifest.json").unlink()
    assert main(["rollback", "--target", str(store.root)]) == 0
    out = capsys.readouterr()
    assert "version 1 is active (was 3)" in out.out and "skipped version 2: corrupt" in out.err
    assert main(["rollback", "--target", str(store.root)]) == 1
    assert "AK505" in capsys.readouterr().err
    assert store.active() == 1


def test_a_store_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["versions", "--target", str(tmp_path / "f")]) == 2
    assert main(["rollback", "--target", str(tmp_path / "f")]) == 2
    assert main(["activate", "1", "--target", str(tmp_path / "f")]) == 2
    assert "AK500" in capsys.readouterr().err


def test_remote_rollback_and_version_on_a_url_are_usage_errors(capsys):
    assert main(["rollback", "--target", "http://cfg:19071"]) == 2
    assert main(["activate", "3", "--target", "http://cfg:19071"]) == 2
    assert "--session" in capsys.readouterr().err
