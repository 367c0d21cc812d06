"""Backpressure: a bounded number of requests, and of rows asked for, in flight per
replica. A request past either bound waits for a place, briefly and in a bounded queue;
when none comes in time (or the queue is full) it is refused (503, Retry-After,
RATE_LIMITED) rather than admitted to time out midway with fields left null."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Overloaded(Exception):
    """Refused, or failed for lack of capacity: the caller answers 503."""


class ReadGate:
    def __init__(
        self, max_requests: int, max_rows: int, *, max_waiting: int = 0, max_wait_s: float = 0.0
    ) -> None:
        self.max_requests = max_requests
        self.max_rows = max_rows
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self.requests = 0
        self.rows = 0
        self.waiting = 0
        self.refused = 0
        self._changed: asyncio.Condition | None = None

    def _fits(self, rows: int) -> bool:
        return self.requests < self.max_requests and self.rows + rows <= self.max_rows

    @asynccontextmanager
    async def admit(self, rows: int) -> AsyncIterator[None]:
        """Hold a place for a request asking for about `rows` rows, or raise Overloaded.
        A request larger than the whole budget runs only alone. Waiting requests are let in
        as places free up, whichever fits first: a small read is not held behind a huge
        one, and a huge one that never fits is refused when its wait is over."""
        rows = max(1, min(rows, self.max_rows))
        if not self._fits(rows):
            await self._wait(rows)
        self.requests += 1
        self.rows += rows
        try:
            yield
        finally:
            self.requests -= 1
            self.rows -= rows
            if self.waiting and self._changed is not None:
                async with self._changed:
                    self._changed.notify_all()

    async def _wait(self, rows: int) -> None:
        if self.waiting >= self.max_waiting or self.max_wait_s <= 0:
            self.refused += 1
            raise Overloaded
        if self._changed is None:
            self._changed = asyncio.Condition()
        self.waiting += 1
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._fits(rows)), self.max_wait_s
                )
        except TimeoutError:
            self.refused += 1
            raise Overloaded from None
        finally:
            self.waiting -= 1
