"""The hub's one way to retry: exponential backoff with jitter, bounded attempts for a
single operation (`retry`), and a supervisor that keeps a connection-like task alive
(`supervise`). Every wait is a backoff after a failure, never a synchronisation."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """Delays that double from `min_s` up to `max_s`; `reset` after a success."""

    min_s: float = 0.2
    max_s: float = 5.0
    _next: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._next = self.min_s

    def reset(self) -> None:
        self._next = self.min_s

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.max_s)
        # Jitter, so replicas that failed together do not retry in lockstep.
        return delay * random.uniform(0.75, 1.0)  # noqa: S311 (not a secret)


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until `event` is set or `timeout_s` passed; whether it was set. A cancellation
    always propagates: `asyncio.wait_for` on Python 3.11 can swallow one that arrives as the
    event is set (a watcher woken during shutdown then never stops)."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, timeout_s)):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def retry(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    retry_on: tuple[type[BaseException], ...],
    backoff: Backoff | None = None,
) -> T:
    """`operation()`, tried up to `attempts` times while it raises one of `retry_on`; the
    last failure is raised."""
    wait = backoff or Backoff(min_s=0.01, max_s=1.0)
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except retry_on:
            if attempt == attempts:
                raise
            await asyncio.sleep(wait.next_delay())
    raise AssertionError("unreachable")


async def supervise(
    session: Callable[[Backoff], Awaitable[None]],
    *,
    what: str,
    log: logging.Logger,
    backoff: Backoff | None = None,
    on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
) -> NoReturn:
    """Run `session(backoff)` again after every failure, forever (until cancelled).

    A session connects and then serves until something fails; it calls `backoff.reset()`
    once it is healthy, so a long healthy run starts the next retry from the shortest
    delay. The failure is logged by type only: messages may quote data.
    """
    wait = backoff or Backoff()
    while True:
        try:
            await session(wait)
        except asyncio.CancelledError as cancelled:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                raise  # we are being stopped
            exc: BaseException = cancelled  # a library's own cancellation: a failure
            if on_failure is not None:
                await on_failure(exc)
            delay = wait.next_delay()
            log.warning("%s failed (%s); again in %.1fs", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
        except Exception as exc:
            if on_failure is not None:
                await on_failure(exc)
            delay = wait.next_delay()
            log.warning("%s failed (%s); again in %.1fs", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
        else:
            wait.reset()
