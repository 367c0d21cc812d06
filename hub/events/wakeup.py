"""Waking the outbox's readers on PostgreSQL: LISTEN/NOTIFY instead of fast polling.

A statement trigger on `outbox` (migration 0008) sends `NOTIFY hub_outbox` with every
transaction that wrote events, delivered when it commits, to every replica. Each replica
listens on one connection of its own (not a pool slot) and wakes its outbox tail and its
relay; they then poll only as a safety net, so an idle replica does almost nothing. While
the listening connection is down (it is reopened with a bounded backoff) `listening` is
False and the readers poll at their fast interval again. Other databases (SQLite) have no
such channel: there the readers poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import make_url

from hub.retry import Backoff, wait_event

log = logging.getLogger("hub.events")
CHANNEL = "hub_outbox"
PING_S = 30.0  # a silent network failure shows at the latest after this


def supported(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


class OutboxWakeup:
    def __init__(self, url: str, on_notify: Callable[[], None]) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_notify = on_notify
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        self.notifications = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hub-wakeup")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.listening = False

    def _notified(self, *_args: Any) -> None:
        self.notifications += 1
        self._on_notify()

    async def _run(self) -> None:
        import asyncpg

        backoff = Backoff(0.2, 5.0)
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _c, closed=closed: closed.set())
                await conn.add_listener(CHANNEL, self._notified)
                self.listening = True
                backoff.reset()
                self._on_notify()  # catch up with what committed before the LISTEN
                while not closed.is_set():
                    await wait_event(closed, PING_S)
                    if not closed.is_set():
                        async with asyncio.timeout(5):
                            await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox wake-up connection failed (%s)", type(exc).__name__)
            finally:
                was = self.listening
                self.listening = False
                if was:
                    self._on_notify()  # the readers poll again, from now
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)
            await asyncio.sleep(backoff.next_delay())
