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


# The child sends its results in frames of this many, so this process can read them in between its
# own items instead of all at the end; and it takes a little less of the work, since reading the
# child's results back is work too.
_FRAME_ITEMS = 8
_READ_BACK_SHARE = 1.15


def fork_map(function: Callable[[T], R], items: Sequence[T], weights: Sequence[int], min_weight: int) -> list[R]:
    """`[function(x) for x in items]`, split over two processes when the weights add up to `min_weight`.

    `weights` estimates each item's cost (a file's size). Results must pickle.
    """
    if len(items) < 2 or sum(weights) < min_weight or not _can_fork():
        return [function(x) for x in items]
    mine: list[int] = []
    theirs: list[int] = []
    load = [0.0, 0.0]
    for i in sorted(range(len(items)), key=lambda i: -weights[i]):
        side = 0 if load[0] * _READ_BACK_SHARE <= load[1] else 1
        (mine if side == 0 else theirs).append(i)
        load[side] += weights[i]
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return [function(x) for x in items]
    if pid == 0:  # the child: its share, in pickled frames down the pipe, then gone without cleanup
        status = 1
        try:
            os.close(read_end)
            with os.fdopen(write_end, "wb") as out:
                for start in range(0, len(theirs), _FRAME_ITEMS):
                    frame = [(i, function(items[i])) for i in theirs[start:start + _FRAME_ITEMS]]
                    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
                    out.write(len(data).to_bytes(8, "little") + data)
                    out.flush()
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    results: list = [None] * len(items)
    done = [False] * len(items)
    frames = _Frames(read_end)
    try:
        for i in mine:
            results[i] = function(items[i])
            done[i] = True
            frames.take(results, done, wait=False)
        frames.take(results, done, wait=True)
    finally:
        frames.close()  # first: a child still writing gets EPIPE instead of waiting for us forever
        os.waitpid(pid, 0)
    for i in theirs:  # whatever the child did not deliver (it crashed, or sent something unreadable)
        if not done[i]:
            results[i] = function(items[i])
    return results


class _Frames:
    """Length-prefixed pickled frames from the child, read as they arrive."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()
        self.ended = False
        os.set_blocking(fd, False)

    def take(self, results: list, done: list[bool], wait: bool) -> None:
        """Store every complete frame received; with `wait`, until the child closes the pipe."""
        if wait:
            os.set_blocking(self.fd, True)
        while not self.ended:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                self.ended = True
            self.buffer += chunk
            self._unpack(results, done)

    def _unpack(self, results: list, done: list[bool]) -> None:
        while len(self.buffer) >= 8:
            size = int.from_bytes(self.buffer[:8], "little")
            if len(self.buffer) < 8 + size:
                return
            data = bytes(self.buffer[8:8 + size])
            del self.buffer[:8 + size]
            try:
                frame = pickle.loads(data)
            except Exception:  # unreadable: those items are done here instead
                continue
            for i, value in frame:
                results[i] = value
                done[i] = True

    def close(self) -> None:
        os.close(self.fd)


__all__ = ["detach", "fork_is_safe", "fork_map"]
