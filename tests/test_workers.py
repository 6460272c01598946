"""fork_map: the same results as a plain loop, in order, whatever happens to the forked child."""

from __future__ import annotations

import os
import threading
import time

import pytest

from appkit import workers
from appkit.workers import fork_map

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork_map only forks where os.fork exists")


def _forks(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = os.fork

    def counting_fork() -> int:
        calls.append(1)
        return real()

    monkeypatch.setattr(workers.os, "fork", counting_fork)
    monkeypatch.delenv("APPKIT_JOBS", raising=False)
    return calls


def test_results_in_order_with_the_work_shared(monkeypatch):
    forks = _forks(monkeypatch)
    parent = os.getpid()
    items = list(range(40))
    results = fork_map(lambda x: (x * x, os.getpid() == parent), items, [1] * 40, 10)
    assert [r[0] for r in results] == [x * x for x in items]
    assert forks == [1]
    done_here = sum(1 for _, here in results if here)
    assert 0 < done_here < 40  # both processes did part of it


def test_a_crashing_child_leaves_its_share_to_this_process(monkeypatch):
    forks = _forks(monkeypatch)
    parent = os.getpid()

    def square_or_die(x: int) -> int:
        if os.getpid() != parent:
            os._exit(7)  # the child dies without sending anything
        return x * x

    assert fork_map(square_or_die, list(range(20)), [1] * 20, 5) == [x * x for x in range(20)]
    assert forks == [1]


def test_a_child_that_dies_halfway_leaves_only_the_rest_to_this_process(monkeypatch):
    forks = _forks(monkeypatch)
    parent = os.getpid()
    done_here: list[int] = []

    def square(x: int) -> int:
        if os.getpid() != parent and x >= 60:
            os._exit(3)  # after sending its first frames
        if os.getpid() == parent:
            done_here.append(x)
        return x * x

    items = list(range(100))
    assert fork_map(square, items, [1] * 100, 5) == [x * x for x in items]
    assert forks == [1]
    assert len(done_here) < 100  # what the child delivered before dying was not done again


def test_an_error_in_this_process_still_reaps_the_child(monkeypatch):
    _forks(monkeypatch)
    parent = os.getpid()

    def fail_here(x: int) -> int:
        if os.getpid() == parent:
            raise ValueError("bad item")
        return x

    with pytest.raises(ValueError, match="bad item"):
        fork_map(fail_here, list(range(20)), [1] * 20, 5)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def test_small_work_threads_or_jobs_1_stay_in_this_process(monkeypatch):
    forks = _forks(monkeypatch)
    assert fork_map(str, [1, 2, 3], [1, 1, 1], 100) == ["1", "2", "3"]  # below the threshold
    monkeypatch.setenv("APPKIT_JOBS", "1")
    assert fork_map(str, [1, 2, 3], [1, 1, 1], 1) == ["1", "2", "3"]
    monkeypatch.delenv("APPKIT_JOBS")
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert fork_map(str, [1, 2, 3], [1, 1, 1], 1) == ["1", "2", "3"]  # a fork would copy held locks
    finally:
        stop.set()
        thread.join()
    assert forks == []


def test_detached_work_runs_in_another_process_that_is_not_waited_for(tmp_path, monkeypatch):
    monkeypatch.delenv("APPKIT_JOBS", raising=False)
    done = tmp_path / "done"

    def work() -> None:
        time.sleep(0.4)
        (tmp_path / "partial").write_text(str(os.getpid()))
        os.replace(tmp_path / "partial", done)  # whole, or not there yet

    start = time.perf_counter()
    workers.detach(work)
    assert time.perf_counter() - start < 0.3  # the caller went on
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and has no child left to reap
    deadline = time.monotonic() + 10
    while not done.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done.exists() and int(done.read_text()) != os.getpid()


def test_detach_works_here_when_forking_is_not_safe(tmp_path, monkeypatch):
    monkeypatch.setenv("APPKIT_JOBS", "1")
    done = tmp_path / "done"
    workers.detach(lambda: done.write_text(str(os.getpid())))
    assert int(done.read_text()) == os.getpid()
