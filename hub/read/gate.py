"""Backpressure: a bounded number of requests, and of rows asked for, in flight per
replica. A request past either bound waits for a place, briefly and in a bounded queue;
when none comes in time (or the queue is full) it is refused (503, Retry-After,
RATE_LIMITED) rather than admitted to time out midway with fields left null."""

from __future__ import annotations

import asyncio
from collections import deque
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
        self.refused = 0
        # Waiting requests in arrival order: (rows, resolved once a place is held for it).
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _fits(self, rows: int) -> bool:
        return self.requests < self.max_requests and self.rows + rows <= self.max_rows

    def _take(self, rows: int) -> None:
        self.requests += 1
        self.rows += rows

    @asynccontextmanager
    async def admit(self, rows: int) -> AsyncIterator[None]:
        """Hold a place for a request asking for about `rows` rows, or raise Overloaded.
        A request larger than the whole budget runs only alone. Requests that must wait
        are let in by arrival, except that one that fits goes ahead of one that does not
        (a small read is not held behind a huge one); newcomers never pass the queue."""
        rows = max(1, min(rows, self.max_rows))
        if not self._waiters and self._fits(rows):
            self._take(rows)
        else:
            await self._wait(rows)
        try:
            yield
        finally:
            self._release(rows)

    async def _wait(self, rows: int) -> None:
        if len(self._waiters) >= self.max_waiting or self.max_wait_s <= 0:
            self.refused += 1
            raise Overloaded
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (rows, place)
        self._waiters.append(entry)
        self._wake()  # it may fit now, where those ahead of it do not
        if place.done():
            return
        try:
            await asyncio.wait({place}, timeout=self.max_wait_s)
        except BaseException:  # cancelled while waiting: give back a place held for it
            if place.done() and not place.cancelled():
                self._release(rows)
            else:
                self._waiters.remove(entry)
                place.cancel()
            raise
        if not place.done():
            self._waiters.remove(entry)
            place.cancel()
            self.refused += 1
            raise Overloaded

    def _release(self, rows: int) -> None:
        self.requests -= 1
        self.rows -= rows
        self._wake()

    def _wake(self) -> None:
        """Hold places for the waiting requests that fit now, in arrival order."""
        for entry in list(self._waiters):
            rows, place = entry
            if self._fits(rows):
                self._waiters.remove(entry)
                self._take(rows)
                place.set_result(None)
