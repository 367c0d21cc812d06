"""Running the connectors: inside `hub serve` (HUB_CONNECTORS=inline) or on their own
(`hub connectors run`).

- the relay: outbox → `hub.events` and partner topics (hub/connectors/relay.py)
- one inbound consumer per partner with an inbox (hub/connectors/inbound.py)
- this replica's feed of `hub.events` for its subscribers (hub/connectors/feed.py)

Nothing here waits for the broker: each task connects in the background and retries with
a bounded backoff, so the hub starts, and its mutations succeed, while Kafka is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer

from hub.config import Settings
from hub.connectors import kafka
from hub.connectors.feed import Feed
from hub.connectors.inbound import InboundConsumer
from hub.connectors.partners import Directory, active_partners
from hub.connectors.relay import Relay
from hub.state import HubState

log = logging.getLogger("hub.connectors")
MODES = ("inline", "off")


class Connectors:
    def __init__(self, settings: Settings, hub: HubState, *, relay: bool, feed: bool) -> None:
        if settings.connectors not in MODES:
            raise ValueError(f"HUB_CONNECTORS must be one of {', '.join(MODES)}")
        self.settings = settings
        self.hub = hub
        # The partner directory in force (PartnerDirectory, approved like a policy), read at
        # each use; the file only when the policy set has none (it seeds version 1).
        self.directory = Directory(hub.db, active_partners(hub, settings.policy_dir))
        self.relay = Relay(settings, hub, self.directory) if relay else None
        self.inbound = (
            [
                InboundConsumer(
                    settings,
                    hub,
                    self.directory,
                    p,
                    self._dlq_producer,
                    dlq_reset=self._reset_dlq,
                )
                for p in self.directory.partners
                if p.inbox
            ]
            if relay
            else []
        )
        self.feed = Feed(settings, hub.events) if feed and hub.events is not None else None
        self._tasks: list[asyncio.Task[None]] = []
        self._dlq: AIOKafkaProducer | None = None
        self._dlq_lock = asyncio.Lock()

    async def _reset_dlq(self) -> None:
        """Drop a dead-letter producer that just failed; the next use starts a new one."""
        async with self._dlq_lock:
            producer, self._dlq = self._dlq, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _dlq_producer(self) -> AIOKafkaProducer:
        """The dead-letter producer shared by the inbound consumers."""
        async with self._dlq_lock:
            if self._dlq is None:
                producer = kafka.producer(self.settings)
                try:
                    await producer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._dlq = producer
            return self._dlq

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.relay is not None:
            if self.hub.events is not None:
                self.hub.events.on_commit(self.relay.notify)
            self._tasks.append(loop.create_task(self.relay.run(), name="hub-relay"))
        for c in self.inbound:
            self._tasks.append(loop.create_task(c.run(), name=f"hub-inbound-{c.partner.key}"))
        if self.feed is not None:
            if self.hub.events is not None:
                # Woken by every commit of events (PostgreSQL NOTIFY: any replica's), the
                # feed rests in between instead of fetching all the time.
                self.hub.events.on_commit(self.feed.notify)
            self._tasks.append(loop.create_task(self.feed.run(), name="hub-feed"))

    def lag(self) -> dict[str, int | None]:
        """Each consumer's lag in messages (None before its first fetch), by name."""
        out: dict[str, int | None] = {}
        if self.feed is not None:
            out["feed"] = self.feed.lag
        for c in self.inbound:
            out[f"inbound.{c.partner.key}"] = c.lag
        return out

    async def wait_ready(self, timeout_s: float) -> None:
        """Until the feed is positioned and every inbox consumer has joined its group."""
        waits = [c.ready.wait() for c in self.inbound]
        if self.feed is not None:
            waits.append(self.feed.ready.wait())
        await asyncio.wait_for(asyncio.gather(*waits), timeout_s)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.relay is not None:
            await self.relay.close()
        if self._dlq is not None:
            with contextlib.suppress(Exception):
                await self._dlq.stop()
            self._dlq = None
