"""Crash safety and concurrency of the version store, with real processes killed with SIGKILL.

A publish is killed after each of its steps in turn (and at random times); every time the
previously active version must still be active (or the new one fully active) and verify, no broken
directory may be listed as a good version, and the next publish must work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appkit.deploy.store import VersionStore

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("_publisher.py")
pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")


def child(root: Path, **options) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(CHILD), str(root), json.dumps(options)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_child(root: Path, **options) -> tuple[int, str]:
    proc = child(root, **options)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    return proc.returncode, out


def assert_store_sound(store: VersionStore, allowed_active: set[int]) -> int:
    active = store.active()
    assert active in allowed_active, (active, allowed_active)
    versions = {v.version: v for v in store.list_versions()}
    assert versions[active].ok, versions[active].problems
    bad = [v for v in versions.values() if not v.ok]
    assert not bad, [(v.version, v.status, [d.message for d in v.problems]) for v in bad]
    return active


def prepared_store(tmp_path: Path) -> VersionStore:
    store = VersionStore(tmp_path / "deployments")
    for seed in (1, 2):  # versions 1 and 2, 2 active: a publish with keep=1 then prunes version 1
        assert run_child(store.root, seed=seed)[0] == 0
    return store


def test_killed_after_every_step_the_active_version_survives(tmp_path):
    probe = prepared_store(tmp_path / "probe")
    code, out = run_child(probe.root, seed=3, keep=1, count_steps=True)
    assert code == 0
    total = int(out.split("STEPS")[1])
    assert total >= 12  # lock, cleanup, every file, rename, ACTIVE swap, pruning
    for k in range(1, total + 1):
        store = prepared_store(tmp_path / f"k{k}")
        proc = child(store.root, seed=3, keep=1, kill_at=k)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL, k
        active = assert_store_sound(store, {2, 3})
        if active == 3:  # the switch happened: the old one is still there to roll back to
            assert store.info(2).ok
        # the store is usable: the next publish works and leaves no temporary directory
        code, out = run_child(store.root, seed=4, keep=1)
        assert code == 0 and store.active() == int(out.split()[0])
        assert store.leftovers() == []
        assert not [p for p in store.root.iterdir() if p.name.startswith((".publish-", ".trash-", ".ACTIVE-"))]


def test_killed_at_random_times_during_repeated_publishes(tmp_path):
    rng = random.Random(7)
    store = VersionStore(tmp_path / "deployments")
    assert run_child(store.root, seed=0)[0] == 0
    landed_inside = 0
    for _ in range(6):
        before = store.active()
        proc = child(store.root, loop=True, files=30, size=200_000, keep=2, seed=rng.randrange(1000))
        proc.stdout.readline()  # it has published once: it is in its publish loop now, whatever the load
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        landed_inside += bool(store.leftovers())
        active = assert_store_sound(store, set(range(before, before + 1000)))
        assert active >= before
    assert landed_inside >= 1, "no kill landed inside a publish: the test did not test anything"
    code, _ = run_child(store.root, seed=999)
    assert code == 0 and store.leftovers() == []


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_a_second_publisher_waits_for_the_lock_then_gets_its_own_version(tmp_path):
    root = tmp_path / "deployments"
    marker, release = tmp_path / "holding", tmp_path / "release"
    first = child(root, seed=1, pause_at="locked", marker=str(marker), release=str(release))
    wait_for(marker)
    second = child(root, seed=2, lock_timeout=30)
    time.sleep(0.4)  # the second is now waiting on the lock
    assert second.poll() is None
    release.write_text("go")
    out1, _ = first.communicate(timeout=60)
    out2, _ = second.communicate(timeout=60)
    assert first.returncode == 0 and second.returncode == 0
    assert sorted([int(out1), int(out2)]) == [1, 2]
    assert [v.status for v in VersionStore(root).list_versions()] == ["ok", "ok"]


def test_a_second_publisher_gives_up_after_the_timeout_naming_the_holder(tmp_path):
    root = tmp_path / "deployments"
    marker, release = tmp_path / "holding", tmp_path / "release"
    first = child(root, seed=1, pause_at="locked", marker=str(marker), release=str(release))
    try:
        wait_for(marker)
        started = time.monotonic()
        code, out = run_child(root, seed=2, lock_timeout=0.5)
        waited = time.monotonic() - started
        assert code == 1 and out.startswith("ERROR AK501")
        assert f"pid {first.pid}" in out and "publishing" in out and "0.5 s" in out
        assert waited >= 0.5
    finally:
        release.write_text("go")
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert [v.version for v in VersionStore(root).list_versions()] == [1]
