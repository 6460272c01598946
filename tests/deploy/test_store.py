"""The local version store: publish, list, activate, rollback, retention, leftovers, the lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from appkit.bundle.write import MANIFEST, bundle_entries, write_bundle
from appkit.deploy.store import ACTIVE, VERSION_JSON, StoreError, VersionStore, default_store_root, publish_bundle


def entries(n: int) -> dict[str, bytes]:
    return {"schemas/a.sd": f"schema a {{ # v{n}\n}}\n".encode(), "constants/w.npy": bytes([n % 256]) * 64}


@pytest.fixture
def store(tmp_path) -> VersionStore:
    return VersionStore(tmp_path / "deployments", lock_timeout=2.0)


def test_publish_numbers_versions_and_activates_the_new_one(store):
    assert store.list_versions() == [] and store.active() is None
    assert [store.publish(entries(i), {"models": ["mnist"]}) for i in range(3)] == [1, 2, 3]
    assert store.active() == 3
    infos = store.list_versions()
    assert [(v.version, v.status, v.active) for v in infos] == [(1, "ok", False), (2, "ok", False), (3, "ok", True)]
    meta = json.loads((store.version_path(3) / VERSION_JSON).read_text())
    assert meta["version"] == 3 and meta["models"] == ["mnist"] and meta["source_hash"].startswith("sha256:")
    assert meta["created"].endswith("Z") and infos[2].models == ("mnist",)
    assert (store.version_path(3) / "schemas/a.sd").read_bytes() == entries(2)["schemas/a.sd"]
    assert (store.root / ACTIVE).read_text() == "3\n"
    assert (store.root / ACTIVE).stat().st_mtime > 1e9  # the activation time, for pollers (not 1980)


def test_publish_without_activation_and_from_a_bundle_directory(store, tmp_path):
    store.publish(entries(1))
    bundle = write_bundle(bundle_entries(entries(2), "sha256:given", {"models": {"m1": {}, "m0": {}}}), tmp_path / "b")
    assert store.publish(bundle, activate=False) == 2
    assert store.active() == 1
    info = store.info(2)
    assert info.ok and info.source_hash == "sha256:given" and info.models == ("m0", "m1")
    assert json.loads((store.version_path(2) / MANIFEST).read_text())["source_hash"] == "sha256:given"


def test_publish_from_a_bundle_zip(store, tmp_path):
    zipped = write_bundle(bundle_entries(entries(4), "sha256:z"), tmp_path / "b.zip")
    assert store.publish(zipped) == 1
    assert store.info(1).ok and store.info(1).source_hash == "sha256:z" and store.info(2) is None
    with pytest.raises(StoreError) as info:
        store.publish(tmp_path / "missing.zip")
    assert info.value.code == "AK500"
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(StoreError) as info:
        store.publish(tmp_path / "bad.zip")
    assert info.value.code == "AK500" and "bad.zip" in str(info.value)
    with pytest.raises(StoreError) as info:
        store.publish({"a": b"1", MANIFEST: b"{cut"})
    assert info.value.code == "AK515"


def test_a_tampered_bundle_directory_is_not_published(store, tmp_path):
    bundle = write_bundle(bundle_entries(entries(1)), tmp_path / "b")
    (bundle / "constants/w.npy").write_bytes(b"\xff" * 64)
    with pytest.raises(StoreError) as info:
        store.publish(bundle)
    assert info.value.code == "AK512" and store.list_versions() == []


def test_corrupt_and_incomplete_versions_are_reported_and_never_activated(store):
    for i in range(3):
        store.publish(entries(i))
    (store.version_path(1) / "constants/w.npy").write_bytes(b"\x07" * 64)  # same size, other bytes
    (store.version_path(2) / VERSION_JSON).unlink()
    statuses = {v.version: v.status for v in store.list_versions()}
    assert statuses == {1: "corrupt", 2: "incomplete", 3: "ok"}
    for version, code in ((1, "AK503"), (2, "AK504"), (7, "AK502")):
        with pytest.raises(StoreError) as info:
            store.activate(version)
        assert info.value.code == code
        assert str(version) in str(info.value)
    assert store.active() == 3
    # a missing file is caught by the quick (size-only) listing too
    (store.version_path(3) / "schemas/a.sd").unlink()
    assert store.list_versions(verify=False)[2].status == "corrupt"


def test_rollback_goes_to_the_previous_good_version_and_says_when_there_is_none(store):
    for i in range(4):
        store.publish(entries(i))
    (store.version_path(3) / MANIFEST).unlink()  # corrupt: skipped by rollback
    assert store.rollback() == (4, 2)
    assert store.active() == 2
    assert store.rollback() == (2, 1)
    with pytest.raises(StoreError) as info:
        store.rollback()
    assert info.value.code == "AK505" and "version 1" in str(info.value)
    store.activate(4)
    assert store.active() == 4


def test_rollback_without_an_active_version(store):
    store.publish(entries(1), activate=False)
    with pytest.raises(StoreError) as info:
        store.rollback()
    assert info.value.code == "AK506"


def test_keep_removes_the_oldest_but_never_the_active_nor_the_rollback_target(store):
    for i in range(3):
        store.publish(entries(i))
    store.activate(1)
    for i in range(3, 6):
        store.publish(entries(i), activate=False, keep=2)
    # newest two (5, 6) stay; 1 is active; nothing older than 1 to roll back to
    assert [v.version for v in store.list_versions()] == [1, 5, 6]
    store.activate(5)
    assert store.prune(1) == []
    assert [v.version for v in store.list_versions()] == [1, 5, 6]  # 5 active, 1 its rollback target
    store.publish(entries(9), keep=1)  # 7 active now; 6 its rollback target
    assert [v.version for v in store.list_versions()] == [6, 7]
    assert store.rollback() == (7, 6)
    with pytest.raises(StoreError):
        store.prune(0)


def test_versions_are_never_renumbered_after_pruning(store):
    for i in range(3):
        store.publish(entries(i), keep=1)
    assert store.publish(entries(3), keep=1) == 4


def test_leftovers_are_not_versions_and_are_cleaned_by_the_next_publish(store):
    store.publish(entries(1))
    dead = store.root / ".publish-999999999-abcd"  # no such pid: a killed publish
    (dead / "schemas").mkdir(parents=True)
    (dead / "schemas/a.sd").write_text("half")
    (store.root / ".trash-1-999999999-ab").mkdir()
    (store.root / ".ACTIVE-999999999-ab").write_text("2")
    assert [v.version for v in store.list_versions()] == [1]
    leftovers = store.leftovers()
    assert [(x.kind, x.pid, x.in_progress) for x in leftovers] == [("publish", 999999999, False),
                                                                     ("trash", 999999999, False)]
    assert any(d.code == "AK508" for d in store.problems())
    assert store.publish(entries(2)) == 2
    assert store.leftovers() == [] and sorted(p.name for p in store.root.iterdir()) == [".lock", "1", "2", ACTIVE]


def test_non_version_directories_and_a_bad_active_file_are_reported(store):
    store.publish(entries(1))
    (store.root / "v2").mkdir()
    (store.root / "007").mkdir()
    codes = [d.code for d in store.problems()]
    assert codes.count("AK509") == 2
    assert [v.version for v in store.list_versions()] == [1]
    (store.root / ACTIVE).write_text("latest\n")
    assert store.active() is None and "AK507" in [d.code for d in store.problems()]
    (store.root / ACTIVE).write_text("5\n")
    assert "AK502" in [d.code for d in store.problems()]


def test_reserved_and_unclean_entries_are_refused(store):
    with pytest.raises(StoreError):
        store.publish({VERSION_JSON: b"{}"})
    with pytest.raises(StoreError) as info:
        store.publish({"../escape": b"x"})
    assert info.value.code == "AK510"
    assert not (store.root.parent / "escape").exists()


def test_a_store_path_that_is_a_file_is_a_clear_error(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(StoreError) as info:
        VersionStore(target).list_versions()
    assert info.value.code == "AK500"
    with pytest.raises(StoreError):
        publish_bundle(target, entries(1))


def test_publish_bundle_and_default_root(tmp_path):
    root = default_store_root(tmp_path / "pkg")
    assert root == tmp_path / "pkg" / ".appkit" / "deployments"
    seen: list[tuple[str, int, int]] = []
    assert publish_bundle(root, entries(1), {"source_hash": "sha256:x"}, keep=3,
                          progress=lambda *a: seen.append(a)) == 1
    assert [p for p, _, _ in seen] == ["constants/w.npy", "manifest.json", "schemas/a.sd", "version.json"]
    assert seen[-1][1] == seen[-1][2] and all(a[1] <= a[2] for a in seen)
    assert VersionStore(root).info(1).source_hash == "sha256:x"


def test_the_lock_file_names_no_holder_after_release(store):
    store.publish(entries(1))
    assert (store.root / ".lock").read_text() == ""
    assert os.path.exists(store.root / ".lock")


def test_manifest_entries_are_checked_against_their_files(store):
    good = bundle_entries(entries(1))
    bad = dict(good, **{"constants/w.npy": b"other"})
    with pytest.raises(StoreError) as info:
        store.publish(bad)
    assert info.value.code == "AK512"
    assert store.publish(good) == 1
    assert Path(store.version_path(1) / MANIFEST).read_bytes() == good[MANIFEST]


def test_a_failed_write_leaves_the_active_version_and_no_temporary(store, monkeypatch):
    store.publish(entries(1))
    import appkit.deploy.store as store_module

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module, "write_tree", disk_full)
    with pytest.raises(StoreError) as info:
        store.publish(entries(2))
    assert info.value.code == "AK500" and "No space left on device" in str(info.value)
    assert store.active() == 1 and store.leftovers() == [] and [v.version for v in store.list_versions()] == [1]
