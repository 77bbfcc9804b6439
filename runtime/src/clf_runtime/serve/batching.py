"""Dynamic batching: the inputs of concurrent requests go to the model together, off the event loop.

One worker task owns the model. It takes queued requests in arrival order, up to `max_batch` inputs
(a request is never split: one larger than `max_batch` runs alone), runs them in one call on a
dedicated thread, and hands each request its own slice of the results, in its input order.

A batch that is not full waits at most `max_wait_s` for batch-mates, and only while other requests
have arrived and are still being read or checked: a lone client never waits for company that is not
coming, so at one client the latency is that of `TextClassifier.predict`. While the model is busy,
new requests queue up and form the next batch by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

RunBatch = Callable[[list[Any]], Sequence[Any]]
OnBatch = Callable[[int, float], None]


@dataclass
class _Job:
    items: list[Any]
    future: asyncio.Future


class Batcher:
    """Gathers items from concurrent `submit` calls into model calls of at most `max_batch` items."""

    def __init__(self, run: RunBatch, max_batch: int, max_wait_s: float, on_batch: OnBatch | None = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._run = run
        self._max_batch = max_batch
        self._max_wait = max(0.0, max_wait_s)
        self._on_batch = on_batch
        self._jobs: deque[_Job] = deque()
        self.queued = 0  # items waiting in _jobs
        self._coming = 0  # requests announced with expect() that have not submitted or given up
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clf-model")
        self._task = asyncio.get_running_loop().create_task(self._work(), name="clf-batcher")

    async def stop(self) -> None:
        """Stop taking work; requests still queued get an error; a running model call finishes."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._jobs:
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(RuntimeError("the server is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- called by request handlers, on the event loop ---------------------------------------------

    def expect(self) -> None:
        """A request has arrived and will submit soon: a batch being gathered may wait for it."""
        self._coming += 1

    def give_up(self) -> None:
        """An expected request will not submit (it was refused)."""
        self._coming -= 1
        self._nudge()

    async def submit(self, items: list[Any], expected: bool = True) -> list[Any]:
        """One result per item, in order. Raises what the model call raised."""
        if not self.running:
            raise RuntimeError("the batcher is not running")
        if expected:
            self._coming -= 1
        future = asyncio.get_running_loop().create_future()
        self._jobs.append(_Job(items, future))
        self.queued += len(items)
        self._nudge()
        return await future

    def _nudge(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # --- the worker ----------------------------------------------------------------------------

    async def _work(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self._jobs:
                self._wake.clear()
                await self._wake.wait()
            deadline = loop.time() + self._max_wait
            while self.queued < self._max_batch and self._coming > 0:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            await self._run_jobs(self._take())

    def _take(self) -> list[_Job]:
        jobs = [self._jobs.popleft()]
        count = len(jobs[0].items)
        while self._jobs and count + len(self._jobs[0].items) <= self._max_batch:
            job = self._jobs.popleft()
            jobs.append(job)
            count += len(job.items)
        self.queued -= count
        return jobs

    async def _run_jobs(self, jobs: list[_Job]) -> None:
        items = [item for job in jobs for item in job.items]
        start = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, items)
        except (Exception, asyncio.CancelledError) as exc:  # the model failed, or stop() came
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(
                        exc if isinstance(exc, Exception) else RuntimeError("the server is shutting down")
                    )
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if self._on_batch is not None:
            self._on_batch(len(items), time.perf_counter() - start)
        offset = 0
        for job in jobs:
            n = len(job.items)
            if not job.future.done():  # done: its client went away
                job.future.set_result(list(results[offset : offset + n]))
            offset += n
