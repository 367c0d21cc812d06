"""This replica's feed of `hub.events`: every event, from any replica, to local subscribers.

Each replica reads every partition of `hub.events` from the end as it starts (a broadcast,
not a share of a consumer group: no group join, no committed offsets, since a subscriber
only ever wants live events) and hands each event to its EventHub, which projects it for
each subscriber. Delivery is at least once, so events already delivered are recognised by
their id and skipped.

It heals itself: when the log is reset under it (the topic recreated, or the broker
restarted empty), its positions lie past the new end, where a consumer would wait forever
in silence; a watch (hub/connectors/kafka.py) notices within a second, logs the gap and
moves it to the end. A broker that stops answering makes it reconnect, with a short
backoff, so subscribers are served again within seconds of the broker's return.

It is quiet when nothing happens. On PostgreSQL every commit of events, on any replica,
wakes it (the outbox's NOTIFY, through the EventHub's commit listeners): it then fetches
often (every FETCH_WAIT_MS, for a low latency even where the broker answers a fetch only
at its maximum wait) until nothing has come for kafka.ACTIVE_S, and then rests, sending no
fetch at all, until the next wake-up or a safety look every kafka.REST_S (which also
catches what the relay sends late, after a broker outage). On SQLite, with no NOTIFY, and
while the notification connection is down, it never rests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from hub.config import Settings
from hub.connectors import kafka
from hub.events.hub import EventHub
from hub.retry import Backoff, supervise

log = logging.getLogger("hub.connectors.feed")
SEEN = 10_000  # ids remembered for de-duplication
FETCH_WAIT_MS = 20  # the longest a fetch waits at the broker while the feed is active


class Feed:
    def __init__(
        self,
        settings: Settings,
        events: EventHub,
        *,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 1.0,
    ) -> None:
        self.settings = settings
        self.events = events
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.ready = asyncio.Event()  # positioned at the end of every partition
        self.delivered = 0
        self.duplicates = 0
        self.repositioned = 0  # partitions moved to the end after a reset under the feed
        self.connects = 0  # sessions started: the first, then one per reconnection
        self.lag: int | None = None  # for /metrics
        self._consumer: AIOKafkaConsumer | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._wake = asyncio.Event()
        self.watch: kafka.Watch | None = None  # this session's (for tests)

    def notify(self) -> None:
        """Events were committed (on this replica, or on any with PostgreSQL's NOTIFY):
        the relay is about to publish them, so fetch often for a while."""
        self._wake.set()

    def _quiet(self) -> bool:
        """Rest only while commits wake the feed (PostgreSQL NOTIFY is listening)."""
        return self.events.listening

    async def run(self) -> None:
        await supervise(
            self._session,
            what="feed",
            log=log,
            backoff=Backoff(self.backoff_min_s, self.backoff_max_s),
        )

    async def _session(self, backoff: Backoff) -> None:
        consumer = await self._connect()
        self._consumer = consumer
        watch = self.watch = kafka.Watch(
            consumer, what="feed", log=log, to_end=True, wake=self._wake, quiet=self._quiet
        )
        try:
            backoff.reset()
            while True:
                # Bounded from outside: aiokafka's own timeout does not hold while it
                # reconnects to a restarted broker; a fetch that hangs reconnects the feed.
                batches = await kafka.bounded(
                    consumer.getmany(timeout_ms=100, max_records=500), kafka.FETCH_TIMEOUT_S
                )
                for messages in batches.values():
                    for message in messages:
                        self._deliver(message.value)
                self.lag = await kafka.lag(consumer)
                before = watch.repositioned
                await watch.check(received=any(batches.values()))
                self.repositioned += watch.repositioned - before
        finally:
            self.ready.clear()
            self._consumer = None
            with contextlib.suppress(Exception):
                await kafka.bounded(consumer.stop(), kafka.STOP_TIMEOUT_S)

    async def broker_answers(self, timeout_s: float) -> bool:
        """Whether the broker answers this feed now (one metadata request): for /ready, since
        a consumer whose broker is gone keeps polling without raising."""
        consumer = self._consumer
        if consumer is None or not self.ready.is_set():
            return False
        try:
            await kafka.bounded(consumer.topics(), timeout_s)
        except Exception:
            return False
        return True

    async def _connect(self) -> AIOKafkaConsumer:
        await kafka.ensure_topics(self.settings, [kafka.HUB_EVENTS])
        # After a broker restart an offset may be out of range: read the new log whole.
        consumer = kafka.consumer(
            self.settings,
            group_id=None,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        try:
            await consumer.start()
            await consumer.topics()  # fetch metadata
            partitions = consumer.partitions_for_topic(kafka.HUB_EVENTS)
            if not partitions:
                raise RuntimeError(f"no partitions for {kafka.HUB_EVENTS}")
            tps = [TopicPartition(kafka.HUB_EVENTS, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            for tp in tps:
                await consumer.position(tp)  # resolve now: live events from this point on
        except BaseException:
            with contextlib.suppress(Exception):
                await consumer.stop()
            raise
        self.connects += 1
        self.ready.set()
        return consumer

    def _deliver(self, value: bytes | None) -> None:
        try:
            event: Any = orjson.loads(value or b"")
        except ValueError:
            log.warning("feed: an undecodable message on %s was skipped", kafka.HUB_EVENTS)
            return
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            return
        if event["id"] in self._seen:
            self.duplicates += 1
            return
        self._seen[event["id"]] = None
        if len(self._seen) > SEEN:
            self._seen.popitem(last=False)
        self.delivered += 1
        self.events.deliver(event)
