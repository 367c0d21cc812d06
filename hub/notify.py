"""PostgreSQL's LISTEN/NOTIFY: wake-ups instead of fast polling.

Triggers send `NOTIFY hub_outbox` with every transaction that wrote events (migration
0008: the outbox tail and the relay wake), `NOTIFY hub_auth` when the registry's generation
moves (any change to organisations or API clients) and `NOTIFY hub_policy` when a policy is
activated (migration 0009), delivered on commit to every replica. A listener holds one
connection of its own (not a pool slot) and calls the channel's callback; the watchers
then poll only as a safety net.
While the connection is down (reopened with a bounded backoff) `listening` is False and the
watchers poll at their fast interval again; on every (re)connection each callback is called
once, to catch up with what committed while nobody listened. SQLite has no such channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import make_url

from hub.retry import Backoff, wait_event

log = logging.getLogger("hub.notify")
PING_S = 30.0  # a silent network failure shows at the latest after this


def supported(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


class Notifications:
    def __init__(self, url: str, callbacks: Mapping[str, Callable[[], None]]) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._callbacks = dict(callbacks)
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        self.notifications = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hub-notify")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.listening = False

    def _all(self) -> None:
        for callback in self._callbacks.values():
            callback()

    def _notified(self, _conn: Any, _pid: int, channel: str, _payload: str) -> None:
        self.notifications += 1
        callback = self._callbacks.get(channel)
        if callback is not None:
            callback()

    async def _run(self) -> None:
        import asyncpg

        backoff = Backoff(0.2, 5.0)
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=10)
                closed = asyncio.Event()
                conn.add_termination_listener(lambda _c, closed=closed: closed.set())
                for channel in self._callbacks:
                    await conn.add_listener(channel, self._notified)
                self.listening = True
                backoff.reset()
                self._all()  # catch up with what committed before the LISTEN
                while not closed.is_set():
                    await wait_event(closed, PING_S)
                    if not closed.is_set():
                        async with asyncio.timeout(5):
                            await conn.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notification connection failed (%s)", type(exc).__name__)
            finally:
                was = self.listening
                self.listening = False
                if was:
                    self._all()  # the watchers poll again, from now
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 5)
            await asyncio.sleep(backoff.next_delay())
