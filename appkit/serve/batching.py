"""Batching for the server: concurrent ranking requests are evaluated together, one vectorised
evaluation per phase and profile, TensorFlow Serving style (`max_batch` documents, `max_wait` seconds).

A batch closes early when no other request is being received, so a lone request is never held back
waiting for company; under load the requests that arrive while one batch is evaluated make up the next.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass
from typing import Any

from appkit.serve.errors import AK611, RankingError

log = logging.getLogger("appkit.serve")
QUIET_TURNS = 2  # turns of the loop without a new request after which a batch closes


@dataclass
class _Pending:
    profile: Any  # ProfileRuntime (the version's object: a switch never moves a request in flight)
    request: Any  # RankRequest
    future: asyncio.Future


class Batcher:
    def __init__(self, max_batch: int = 64, max_wait: float = 0.002):
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self.arriving = 0  # requests being read and parsed: they will be submitted soon
        self.batches = 0
        self.batched_requests = 0
        self._queue: collections.deque[_Pending] = collections.deque()
        self._wakeup = asyncio.Event()

    def submit(self, profile: Any, request: Any) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(profile, request, future))
        self._wakeup.set()
        return future

    async def run(self) -> None:
        """The worker: forever take a batch and evaluate it (cancel the task to stop)."""
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = await self._collect(loop.time() + self.max_wait)
            self.batches += 1
            self.batched_requests += len(batch)
            evaluate_batch(batch)
            await asyncio.sleep(0)  # let handlers run between batches

    async def _collect(self, deadline: float) -> list[_Pending]:
        """Queued requests up to max_batch documents; while others are being received, a few turns
        of the loop until max_wait has passed (never an idle timed wait: waiting for bodies still
        in transit costs more than batching them saves)."""
        loop = asyncio.get_running_loop()
        batch = [self._queue.popleft()]
        documents = batch[0].request.n
        quiet_turns = 0
        while documents < self.max_batch:
            if self._queue:
                if documents + self._queue[0].request.n > self.max_batch:
                    break  # it starts the next batch
                batch.append(self._queue.popleft())
                documents += batch[-1].request.n
                quiet_turns = 0
                continue
            if self.arriving <= 0 or quiet_turns >= QUIET_TURNS or loop.time() >= deadline:
                break
            await asyncio.sleep(0)  # one turn: handlers whose bodies are in read, parse and submit
            quiet_turns += 1
        return batch


def evaluate_batch(batch: list[_Pending]) -> None:
    """Rank each profile's requests together; when that fails, each request alone, so a problem in
    one request never fails the others."""
    groups: dict[int, list[_Pending]] = {}
    for item in batch:
        groups.setdefault(id(item.profile), []).append(item)
    for items in groups.values():
        try:
            results = items[0].profile.rank_many([i.request for i in items])
        except Exception:  # noqa: BLE001 - isolated below, request by request
            if len(items) == 1:
                _fail(items[0])
                continue
            for item in items:
                try:
                    _resolve(item, item.profile.rank_many([item.request])[0])
                except Exception:  # noqa: BLE001
                    _fail(item)
            continue
        for item, hits in zip(items, results):
            _resolve(item, hits)


def _resolve(item: _Pending, hits: Any) -> None:
    if not item.future.done():
        item.future.set_result(hits)


def _fail(item: _Pending) -> None:
    import sys

    error = sys.exc_info()[1]
    if not isinstance(error, RankingError):
        log.exception("internal error while ranking with %s", getattr(item.profile, "key", "?"))
        error = RankingError(AK611, f"internal error while ranking: {type(error).__name__}",
                             "this is a bug in appkit; the server log has the details", status=500)
    if not item.future.done():
        item.future.set_exception(error)
