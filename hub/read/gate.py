"""Backpressure: a bounded number of requests, and of rows asked for, in flight per
replica. A request past either bound is refused at once (503, Retry-After, RATE_LIMITED)
rather than admitted to time out midway with fields left null."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Overloaded(Exception):
    """Refused, or failed for lack of capacity: the caller answers 503."""


class ReadGate:
    def __init__(self, max_requests: int, max_rows: int) -> None:
        self.max_requests = max_requests
        self.max_rows = max_rows
        self.requests = 0
        self.rows = 0
        self.refused = 0

    @contextmanager
    def admit(self, rows: int) -> Iterator[None]:
        """Hold a place for a request asking for about `rows` rows, or raise Overloaded.
        A request larger than the whole budget runs only alone."""
        rows = max(1, min(rows, self.max_rows))
        if self.requests >= self.max_requests or self.rows + rows > self.max_rows:
            self.refused += 1
            raise Overloaded
        self.requests += 1
        self.rows += rows
        try:
            yield
        finally:
            self.requests -= 1
            self.rows -= rows
