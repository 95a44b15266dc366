"""Gather single calls made close together into one call on the list.

Concurrent deliveries each want one small write (a finished attempt, a send slot, a
queue job); one statement or pipeline for many costs about what one costs for one. A
``Batcher`` collects the calls of one event-loop turn (or of ``window`` seconds), runs
them together in a task of its own, and answers each caller with its own result or the
batch's error. Since the batch runs in its own task, a caller that is cancelled while it
waits does not cancel the write of the others (nor its own).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """``await batcher(item)`` runs ``run([..., item, ...])`` and returns that item's result."""

    def __init__(
        self, run: Callable[[list[T]], Awaitable[list[R]]], *, window: float = 0.0, max_size: int = 100
    ) -> None:
        self.run, self.window, self.max_size = run, window, max_size
        self._items: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.Handle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        return await self.submit(item)

    def submit(self, item: T) -> asyncio.Future[R]:
        """Add ``item`` to the batch; its result arrives on the future (``run`` must not fail if
        nobody awaits it)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[R] = loop.create_future()
        self._items.append((item, answer))
        if len(self._items) >= self.max_size:
            self.flush()
        elif self._timer is None:  # the first call schedules the batch after the others of this turn
            self._timer = loop.call_later(self.window, self.flush) if self.window else loop.call_soon(self.flush)
        return answer

    def flush(self) -> None:
        """Start the batch gathered so far."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._items:
            return
        batch, self._items = self._items, []
        # a context of its own: the batch is every caller's, so it carries none of their log ids
        task = asyncio.get_running_loop().create_task(self._run(batch), context=contextvars.Context())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results: list[R | BaseException] = list(await self.run([item for item, _ in batch]))
        except Exception as exc:
            results = [exc] * len(batch)
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its caller gave up waiting
                continue
            if isinstance(result, BaseException):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    async def drain(self) -> None:
        """Run what is gathered and wait for every batch under way (at shutdown)."""
        self.flush()
        await asyncio.gather(*self._running, return_exceptions=True)
