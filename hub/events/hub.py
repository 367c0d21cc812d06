"""This replica's event hub: it feeds live subscribers with committed events.

Embedded mode reads the outbox itself (a tail on the table, woken at once by a local
commit and, for other replicas' commits, by PostgreSQL's NOTIFY on hub_outbox (hub/notify.py) or
else by polling), so several replicas on one database serve their subscribers without a
broker. With Kafka, the relay publishes the outbox and each replica's consumer of
`hub.events` calls `deliver` instead (hub/connectors/).

Subscribers get their own bounded queue; one that cannot keep up is closed rather than
slowing everyone (it reconnects and resumes from live events). Subscribers that would
compute the same thing for one event (the same projection: one receiver, purpose and
policy) share one computation (`shared`), so a hundred subscriptions of one client cost
one query per event, not a hundred.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlmodel import col

from hub.db import Database
from hub.models import OutboxEvent
from hub.notify import Notifications, supported
from hub.retry import wait_event

log = logging.getLogger("hub.events")
OUTBOX_CHANNEL = "hub_outbox"  # a trigger (migration 0008) notifies on outbox commits
POLL_S = 0.1
IDLE_POLL_S = 5.0  # while NOTIFY wakes the tail: a safety net only
GAP_GRACE_S = 5.0  # a sequence gap older than this is a rolled-back insert, not a slow commit
QUEUE_SIZE = 1000
SHARED = 4096  # computations remembered for `shared` (the latest events' projections)
T = TypeVar("T")


class Subscription:
    def __init__(self, hub: EventHub) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_SIZE)
        self._hub = hub
        self.overflowed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                event = await self.queue.get()
                if event is None:
                    return
                yield event
        finally:
            self.close()

    def close(self) -> None:
        self._hub._subscribers.discard(self)


class EventHub:
    def __init__(self, db: Database, *, tail_outbox: bool = True) -> None:
        self.db = db
        self.tail_outbox = tail_outbox
        self._subscribers: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._cursor = 0
        self._seen_above: set[int] = set()
        self._gap_since: dict[int, float] = {}
        self._wakeup: Notifications | None = None
        self._started = False
        self.delivered = 0
        self._commit_listeners: list[Callable[[], None]] = []
        self._shared: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self.shared_hits = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def position(self) -> int:
        """The outbox sequence number up to which the tail has delivered (embedded mode)."""
        return self._cursor

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subscribers.add(sub)
        return sub

    def deliver(self, event: dict[str, Any]) -> None:
        """Hand one committed event to every live subscriber of this replica."""
        self.delivered += 1
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.overflowed = True
                self._subscribers.discard(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    sub.queue.get_nowait()
                    sub.queue.put_nowait(None)

    async def shared(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        """`compute()`, once for every caller with the same `key` while it is remembered
        (the key must name everything the result depends on). A failure is not
        remembered; a caller that is cancelled does not cancel it for the others."""
        future = self._shared.get(key)
        if future is None:
            future = asyncio.ensure_future(compute())
            self._shared[key] = future
            future.add_done_callback(lambda f: self._forget_failed(key, f))
            while len(self._shared) > SHARED:
                self._shared.popitem(last=False)
        else:
            self.shared_hits += 1
        result: T = await asyncio.shield(future)
        return result

    def _forget_failed(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        failed = future.cancelled() or future.exception() is not None
        if failed and self._shared.get(key) is future:
            del self._shared[key]

    def notify(self) -> None:
        """A transaction of this replica committed events to the outbox."""
        self._wake.set()
        for listener in self._commit_listeners:
            listener()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` on every commit: this replica's (the Kafka relay: no wait for its
        poll), and on PostgreSQL every other replica's too."""
        self._commit_listeners.append(listener)
        self._listen()

    @property
    def listening(self) -> bool:
        """Whether other replicas' commits wake this one (PostgreSQL NOTIFY): its readers
        of the outbox (the tail, the relay) need not poll fast."""
        return self._wakeup is not None and self._wakeup.listening

    def _listen(self) -> None:
        """Listen for other replicas' commits, once someone reads the outbox here."""
        if self._wakeup is None and self._started and supported(self.db.url):
            self._wakeup = Notifications(self.db.url, {OUTBOX_CHANNEL: self.notify})
            self._wakeup.start()

    async def start(self) -> None:
        self._started = True
        if self.tail_outbox or self._commit_listeners:
            self._listen()
        if not self.tail_outbox or self._task is not None:
            return
        async with self.db.session() as session:
            top = (await session.execute(select(func.max(col(OutboxEvent.seq))))).scalar_one()
        self._cursor = int(top or 0)  # live events from now on
        self._task = asyncio.get_running_loop().create_task(self._tail())

    async def stop(self) -> None:
        self._started = False
        if self._wakeup is not None:
            await self._wakeup.stop()
            self._wakeup = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                sub.queue.put_nowait(None)

    async def _tail(self) -> None:
        while True:
            # A sequence gap waiting for its commit is looked at again soon in any case.
            fast = not self.listening or bool(self._seen_above)
            await wait_event(self._wake, POLL_S if fast else IDLE_POLL_S)
            self._wake.clear()
            try:
                await self._read_new()
            except Exception as exc:  # keep serving: the next poll tries again
                log.warning("outbox tail failed: %s", type(exc).__name__)

    async def _read_new(self) -> None:
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(col(OutboxEvent.seq), col(OutboxEvent.envelope))
                    .where(col(OutboxEvent.seq) > self._cursor)
                    .order_by(col(OutboxEvent.seq))
                    .limit(500)
                )
            ).all()
        for seq, envelope in rows:
            if seq in self._seen_above:
                continue
            self._seen_above.add(seq)
            self.deliver(envelope)
        self._advance()

    def _advance(self) -> None:
        """Move the cursor over contiguous seen sequence numbers. A gap may be a transaction
        that has not committed yet (PostgreSQL hands out numbers before commit): wait for it,
        for a while, before skipping it."""
        now = time.monotonic()
        while self._seen_above:
            nxt = self._cursor + 1
            if nxt in self._seen_above:
                self._seen_above.discard(nxt)
                self._gap_since.pop(nxt, None)
                self._cursor = nxt
                continue
            first = self._gap_since.setdefault(nxt, now)
            if now - first < GAP_GRACE_S:
                break
            self._gap_since.pop(nxt, None)
            self._cursor = nxt  # never committed: skip
