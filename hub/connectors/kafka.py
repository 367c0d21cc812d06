"""Kafka clients from settings, the hub's topic names, topic creation, and the watch that
keeps a consumer on a log that was reset under it and lets it rest while nothing comes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import IllegalStateError

from hub.config import Settings
from hub.retry import wait_event

log = logging.getLogger("hub.connectors")
T = TypeVar("T")

HUB_EVENTS = "hub.events"
DEADLETTER = "hub.deadletter"
PARTITIONS = 3
REQUEST_TIMEOUT_MS = 5_000  # a produce fails (and is retried by the caller) after this
LAG_TIMEOUT_S = 1.0
FETCH_TIMEOUT_S = 3.0  # a consumer's getmany(200 ms) that has not returned by then hangs
# A consumer that has received nothing for ACTIVE_S rests: its partitions are paused (no
# fetch requests at all) until it is woken, or for REST_S, a safety look; then it fetches
# again, for ACTIVE_S. Some brokers (the Tansu test broker) answer a fetch only at its
# maximum wait, not when a message arrives, so a live consumer must ask often; resting is
# what keeps an idle replica quiet.
ACTIVE_S = 5.0
REST_S = 5.0
RESTING_CHECK_S = 30.0  # while resting, the log is checked at a safety look this often
CONSUMER_TIMEOUT_MS = 5_000
METADATA_MAX_AGE_MS = 60_000  # the watch asks for fresh metadata itself when it looks
STOP_TIMEOUT_S = 5.0
# The CloudEvents Kafka binding, structured content mode: the whole event is the value.
CONTENT_TYPE = [("content-type", b"application/cloudevents+json")]


def bootstrap(settings: Settings) -> str:
    if not settings.kafka_bootstrap:
        raise RuntimeError("HUB_KAFKA_BOOTSTRAP is not set")
    return settings.kafka_bootstrap


def producer(settings: Settings) -> AIOKafkaProducer:
    """acks from all in-sync replicas; idempotent (no duplicates or reordering from its own
    retries) unless HUB_KAFKA_IDEMPOTENCE=0; messages sent together are batched per
    partition (HUB_KAFKA_LINGER_MS, up to 256 KiB a batch)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap(settings),
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        retry_backoff_ms=200,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=256 * 1024,
    )


def consumer(settings: Settings, *topics: str, group_id: str | None, **kw: Any) -> AIOKafkaConsumer:
    """Offsets are committed by the caller (after its own commit), never automatically."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap(settings),
        group_id=group_id,
        enable_auto_commit=False,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=max(100, settings.kafka_session_timeout_ms // 4),
        request_timeout_ms=max(REQUEST_TIMEOUT_MS, settings.kafka_session_timeout_ms + 1000),
        retry_backoff_ms=200,
        metadata_max_age_ms=METADATA_MAX_AGE_MS,
        # The fetcher's own loop wakes at least this often; it is woken at once by what it
        # waits for (a fetch answered, a partition resumed or unassigned), so a short one
        # only costs wake-ups while the consumer rests.
        consumer_timeout_ms=CONSUMER_TIMEOUT_MS,
        **kw,
    )


async def bounded(awaitable: Awaitable[T], timeout_s: float) -> T:
    """`awaitable` within `timeout_s`, else TimeoutError. Run as a task left behind
    (cancelled, not awaited) when it is late: aiokafka may hold on to a cancellation while
    it reconnects, and the caller's loop must go on."""
    task = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except asyncio.CancelledError:  # our caller is cancelled: so is the work
        task.cancel()
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_consume)
        raise TimeoutError
    if task.cancelled():
        # Cancelled inside the client (a connection closed under it), not by our caller:
        # a failure like any other, never a CancelledError that would end the caller.
        raise ConnectionError("the Kafka client cancelled the request")
    return task.result()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning


async def lag(consumer: AIOKafkaConsumer) -> int | None:
    """Messages on the consumer's assigned partitions that it has not read yet (from the
    high-water marks of its latest fetches); None before the first fetch."""

    async def count() -> int | None:
        total, known = 0, False
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            total += max(0, high - await consumer.position(tp))
            known = True
        return total if known else None

    try:
        # A position being reset waits for the broker: never hold the consumer's loop.
        return await bounded(count(), LAG_TIMEOUT_S)
    except (TimeoutError, IllegalStateError):
        return None


class BrokerLost(RuntimeError):
    """The broker has not answered a consumer's offset requests for a while: reconnect."""


class Watch:
    """Keeps an assigned consumer on its log, and lets it rest while nothing comes.

    Every `every_s` without a message, it asks the broker for the end of each partition; a
    position past the end means the log was reset under the consumer (the topic was
    recreated, or the broker restarted empty), where a consumer would otherwise wait forever
    without a word. It then moves the consumer to the end (`to_end`: live readers, logging
    the gap) or to the beginning of the new log, and carries on. A topic that is gone, or
    `failures` unanswered checks in a row, raise BrokerLost, for the caller's supervisor to
    reconnect (and create the topics again).

    After `active_s` without a message or a wake-up (`wake`: someone knows a message is on
    its way), and while `quiet()` allows it, `check` rests: it pauses the consumer's
    partitions, so that no fetch is sent, and returns when woken or after `rest_s` (a safety
    look: the first fetch then finds whatever came meanwhile; the log is checked as above
    at most every `resting_check_s` while it rests). `active_s=None` never rests."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        *,
        what: str,
        log: logging.Logger,
        to_end: bool = False,
        every_s: float = 1.0,
        failures: int = 2,
        timeout_s: float = 2.0,
        active_s: float | None = ACTIVE_S,
        rest_s: float = REST_S,
        resting_check_s: float = RESTING_CHECK_S,
        wake: asyncio.Event | None = None,
        quiet: Callable[[], bool] = lambda: True,
    ) -> None:
        self.consumer = consumer
        self.what = what
        self.log = log
        self.to_end = to_end
        self.every_s = every_s
        self.max_failures = failures
        self.timeout_s = timeout_s
        self.active_s = active_s
        self.rest_s = rest_s
        self.resting_check_s = resting_check_s
        self.wake = wake
        self.quiet = quiet
        self.failures = 0
        self.repositioned = 0
        self.rests = 0  # times it paused its partitions (for tests and /metrics)
        self.resting = False
        self._last = time.monotonic()
        self._active = self._last

    async def check(self, *, received: bool) -> None:
        now = time.monotonic()
        if self.wake is not None and self.wake.is_set():
            self.wake.clear()
            self._active = now
        if received:
            self._last = self._active = now
            self.failures = 0
            return
        every = self.every_s
        if (
            self.active_s is not None
            and now - self._active >= self.active_s
            and self.consumer.assignment()
            and self.quiet()
        ):
            if await self._rest():
                self._active = time.monotonic()
                return  # woken: fetch at once; the log is checked later if nothing comes
            now, every = time.monotonic(), self.resting_check_s
        if now - self._last < every:
            return
        self._last = now
        tps = sorted(self.consumer.assignment())
        if not tps:
            return

        async def ask() -> tuple[list[str], dict[Any, int], dict[Any, int]]:
            topics = await self.consumer.topics()  # fresh metadata
            gone = sorted({tp.topic for tp in tps} - set(topics))
            if gone:
                return gone, {}, {}
            ends = await self.consumer.end_offsets(tps)
            return [], ends, {tp: await self.consumer.position(tp) for tp in tps}

        try:
            gone, ends, positions = await bounded(ask(), self.timeout_s)
        except Exception as exc:
            self.failures += 1
            if self.failures >= self.max_failures:
                raise BrokerLost(f"{self.what}: no answer ({type(exc).__name__})") from None
            return
        if gone:  # deleted, or the broker restarted empty: reconnect, creating it again
            raise BrokerLost(f"{self.what}: topic {', '.join(gone)} is gone")
        self.failures = 0
        for tp in tps:
            # The end is the larger of what the broker lists and the high-water mark of the
            # latest fetch: some brokers (the Tansu test broker) list the base offset of
            # the last batch plus one, short of the real end; the high-water mark is right,
            # and after a reset it comes from a fetch of the new log.
            listed, high = ends.get(tp), self.consumer.highwater(tp)
            known = [x for x in (listed, high) if x is not None]
            if not known:
                continue
            end, position = max(known), positions[tp]
            if position <= end:
                continue
            self.repositioned += 1
            if self.to_end:
                self.log.warning(
                    "%s: %s[%d] was reset under it (at %d, its end is now %d); "
                    "going on from the end: events in between are not delivered",
                    self.what,
                    tp.topic,
                    tp.partition,
                    position,
                    end,
                )
                self.consumer.seek(tp, end)
            else:
                self.log.warning(
                    "%s: %s[%d] was reset under it (at %d, its end is now %d); "
                    "reading the new log from its beginning",
                    self.what,
                    tp.topic,
                    tp.partition,
                    position,
                    end,
                )
                await self.consumer.seek_to_beginning(tp)

    async def _rest(self) -> bool:
        """Pause every assigned partition until woken (True) or `rest_s` passed (False)."""
        tps = self.consumer.assignment()
        self.consumer.pause(*tps)
        self.rests += 1
        self.resting = True
        try:
            if self.wake is None:
                await asyncio.sleep(self.rest_s)  # a safety look, not a synchronisation
                return False
            woken = await wait_event(self.wake, self.rest_s)
            self.wake.clear()
            return woken
        finally:
            self.resting = False
            # Only what is still assigned: a rebalance meanwhile assigns fresh partitions.
            with contextlib.suppress(IllegalStateError):
                self.consumer.resume(*self.consumer.paused())


async def ensure_topics(settings: Settings, names: Iterable[str]) -> None:
    """Create the topics that do not exist yet (the broker may not auto-create them)."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap(settings), request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = sorted(set(names) - existing)
        if missing:
            response = await admin.create_topics(
                [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in missing]
            )
            for topic, code, *_ in getattr(response, "topic_errors", []):
                if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (another replica won)
                    raise RuntimeError(f"cannot create topic {topic}: error {code}")
    finally:
        await admin.close()
