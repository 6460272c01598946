"""Work in forked processes: CPU-bound work shared with one child when there is enough of it to pay
(`fork_map`), and best-effort work nobody waits for run detached (`detach`).

Parsing a large package's schemas is pure Python, so threads cannot help and a process pool costs
more to start than the work: `fork_map` forks once (the child has every module and the data
already), lets the child do part of the list while this process does the rest, and reads the
child's results back through a pipe. Whatever goes wrong in the child (it crashes, is killed, or
sends something unreadable), this process does the child's share itself: the result is the same,
only slower. Without fork (Windows, macOS spawn) or with threads running (a fork would copy their
held locks), or with APPKIT_JOBS=1, everything runs here.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fork_is_safe() -> bool:
    """This process may fork: Linux, no other thread running, and not turned off (APPKIT_JOBS=1)."""
    return (hasattr(os, "fork") and sys.platform.startswith("linux") and threading.active_count() == 1
            and os.environ.get("APPKIT_JOBS", "") != "1")


def _can_fork() -> bool:
    return fork_is_safe() and (os.cpu_count() or 1) > 1


def detach(work: Callable[[], None]) -> None:
    """Run `work` in a process of its own that this one does not wait for (a double fork, so no
    zombie is left), with no terminal output; or here, when forking is not safe. For best-effort
    work whose result nobody waits on, such as writing caches."""
    if not fork_is_safe():
        work()
        return
    try:
        pid = os.fork()
    except OSError:
        work()
        return
    if pid == 0:
        try:
            if os.fork() == 0:  # the grandchild, adopted by init once its parent exits below
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # nobody reading our output waits for this process to end
                    os.dup2(devnull, fd)
                work()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def fork_map(function: Callable[[T], R], items: Sequence[T], weights: Sequence[int], min_weight: int) -> list[R]:
    """`[function(x) for x in items]`, split over two processes when the weights add up to `min_weight`.

    `weights` estimates each item's cost (a file's size); each process gets about half of it.
    Results must pickle.
    """
    if len(items) < 2 or sum(weights) < min_weight or not _can_fork():
        return [function(x) for x in items]
    mine: list[int] = []
    theirs: list[int] = []
    load = [0, 0]
    for i in sorted(range(len(items)), key=lambda i: -weights[i]):
        side = 0 if load[0] <= load[1] else 1
        (mine if side == 0 else theirs).append(i)
        load[side] += weights[i]
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return [function(x) for x in items]
    if pid == 0:  # the child: its share, pickled down the pipe, then gone without cleanup
        status = 1
        try:
            os.close(read_end)
            data = pickle.dumps([function(items[i]) for i in theirs], protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    results: list = [None] * len(items)
    pipe = os.fdopen(read_end, "rb")
    try:
        for i in mine:
            results[i] = function(items[i])
        data = pipe.read()
    finally:
        pipe.close()  # first: a child still writing gets EPIPE instead of waiting for us forever
        _, status = os.waitpid(pid, 0)
    received = None
    if status == 0:
        try:
            received = pickle.loads(data)
        except Exception:  # unreadable: done here instead
            received = None
    if not isinstance(received, list) or len(received) != len(theirs):
        received = [function(items[i]) for i in theirs]
    for i, value in zip(theirs, received):
        results[i] = value
    return results


__all__ = ["detach", "fork_is_safe", "fork_map"]
