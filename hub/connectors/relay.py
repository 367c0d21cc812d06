"""The outbox relay: committed events to `hub.events` and, projected, to partner topics.

One pass reads the oldest unsent outbox rows (in sequence order), produces each to
`hub.events` keyed by its record id (one record's events stay in order), and to the topic
of every partner that takes its type, projected through that partner's policy exactly as a
GraphQL read would be: an event the partner may not see is never produced. The pass is
projected per partner and purpose in one query per resource (not one per event), and the
messages are handed to the producer together, which batches them per partition. Every
message follows the CloudEvents Kafka binding in structured mode (the event is the value,
`content-type: application/cloudevents+json`). After the broker has acknowledged every
message of the pass, the partner deliveries are written to the access log (one entry per
partner, resource, purpose and set of fields shown, naming every record and worker
delivered) and the rows are marked sent. A failure marks nothing: the next pass (after a
bounded backoff) sends the same rows again, so after a crash or a broker outage the relay
resumes where it stopped. Delivery is at least once; consumers are idempotent
on the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import Any, NamedTuple

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from sqlalchemy import Text, cast, select, update
from sqlmodel import col

from hub.audit.log import AuditRecord
from hub.config import Settings
from hub.connectors import kafka
from hub.connectors.partners import Directory, Partner
from hub.events.envelope import EVENT_TYPES, encode
from hub.events.plans import custom_plans
from hub.models import OutboxEvent
from hub.models.base import utcnow
from hub.policy.resources import RESOURCES
from hub.retry import Backoff, supervise, wait_event
from hub.state import HubState

log = logging.getLogger("hub.connectors.relay")


def headers(event: dict[str, Any], **extra: str) -> list[tuple[str, bytes]]:
    """Structured content mode: the content type, and the hub's own headers (`purpose` on a
    partner's topic). No `ce_` header: with one, a CloudEvents reader takes the binary
    mode."""
    return list(kafka.CONTENT_TYPE) + [(k, v.encode()) for k, v in extra.items()]


class _Row(NamedTuple):
    seq: int
    type: str
    record_id: str
    envelope: dict[str, Any]


class _Outgoing:
    """A pass's messages, handed to the producer in batches the relay builds itself (one
    open batch per topic and partition; `send` per message costs more than the rest of the
    relay's work on it). A message goes to the partition the producer's default
    partitioner picks for its key (murmur2), so one record's events stay in one partition,
    in order."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self._partitions: dict[str, list[int]] = {}
        self._open: dict[tuple[str, int], Any] = {}
        self._acks: list[asyncio.Future[Any]] = []

    async def add(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = sorted(await self.producer.partitions_for(topic))
            self._partitions[topic] = partitions
        partition = partition_for(key, partitions)
        batch = self._open.get((topic, partition))
        if batch is None:
            batch = self._open[(topic, partition)] = self.producer.create_batch()
        if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
            await self._send(topic, partition)  # full: on its way, and a new one
            batch = self._open[(topic, partition)] = self.producer.create_batch()
            if batch.append(timestamp=None, key=key, value=value, headers=headers) is None:
                raise MessageSizeTooLargeError(f"a message of {len(value)} bytes")

    async def _send(self, topic: str, partition: int) -> None:
        batch = self._open.pop((topic, partition))
        batch.close()  # nothing else goes into it
        self._acks.append(await self.producer.send_batch(batch, topic, partition=partition))

    async def acknowledged(self) -> None:
        """Send the open batches; returns once the broker acknowledged every one."""
        for topic, partition in list(self._open):
            await self._send(topic, partition)
        for ack in self._acks:
            await ack


_M = 0x5BD1E995
_M32 = 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}


def murmur2(data: bytes) -> int:
    """The Java client's murmur2 (org.apache.kafka.common.utils.Utils), as aiokafka's
    DefaultPartitioner computes it, with the same result for every input; about twice as
    fast (its little-endian words unpacked at once, not byte by byte): the relay hashes
    three keys per event, and aiokafka's hashing was about a tenth of its CPU."""
    length = len(data)
    h = 0x9747B28C ^ length
    n = length >> 2
    words = _WORDS.get(n)
    if words is None:
        words = _WORDS[n] = struct.Struct(f"<{n}I")
    for k in words.unpack_from(data):
        k = (k * _M) & _M32
        k = ((k ^ (k >> 24)) * _M) & _M32
        h = ((h * _M) & _M32) ^ k
    tail = length & 3
    if tail:
        base = length & ~3
        if tail == 3:
            h ^= data[base + 2] << 16
        if tail >= 2:
            h ^= data[base + 1] << 8
        h = ((h ^ data[base]) * _M) & _M32
    h ^= h >> 13
    h = (h * _M) & _M32
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: list[int]) -> int:
    """The partition aiokafka's DefaultPartitioner picks for `key` (`partitions` sorted)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


class Relay:
    def __init__(
        self,
        settings: Settings,
        hub: HubState,
        directory: Directory,
        *,
        poll_s: float = 0.2,
        idle_poll_s: float = 5.0,
        batch: int = 1000,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.directory = directory
        self.poll_s = poll_s
        self.idle_poll_s = idle_poll_s  # while NOTIFY wakes the relay (PostgreSQL)
        self.batch = batch
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.published = 0  # outbox rows marked sent by this relay
        self.failures = 0
        self._producer: AIOKafkaProducer | None = None
        self._wake = asyncio.Event()

    def notify(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Forever: publish what is pending, then wait for a wake-up or the next poll."""
        await supervise(
            self._session,
            what="relay",
            log=log,
            backoff=Backoff(self.backoff_min_s, self.backoff_max_s),
            on_failure=self._failed,
        )

    async def _session(self, backoff: Backoff) -> None:
        while True:
            sent = await self.publish_pending()
            backoff.reset()
            if sent >= self.batch:
                continue  # more are waiting
            events = self.hub.events
            wait = self.idle_poll_s if events is not None and events.listening else self.poll_s
            await wait_event(self._wake, wait)
            self._wake.clear()

    async def _failed(self, _exc: BaseException) -> None:
        self.failures += 1
        await self._close_producer()

    async def close(self) -> None:
        await self._close_producer()

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _connect(self) -> AIOKafkaProducer:
        if self._producer is None:
            await kafka.ensure_topics(
                self.settings, [kafka.HUB_EVENTS, kafka.DEADLETTER, *self.directory.topics()]
            )
            producer = kafka.producer(self.settings)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def publish_pending(self) -> int:
        """One pass; returns the number of rows marked sent. Raises if the broker fails."""
        outbox = OutboxEvent.__table__.c  # type: ignore[attr-defined]
        async with self.hub.db.session() as session:
            # The table's columns, the envelope as its JSON text: no ORM row loading, and
            # the envelope parsed here with orjson.
            found = (
                await session.execute(
                    select(outbox.seq, outbox.type, outbox.record_id, cast(outbox.envelope, Text))
                    .where(outbox.published_at.is_(None))
                    .order_by(outbox.seq)
                    .limit(self.batch)
                )
            ).all()
        if not found:
            return 0
        rows = [_Row(seq, type_, rid, orjson.loads(text)) for seq, type_, rid, text in found]
        out = _Outgoing(await self._connect())
        deliveries: list[AuditRecord] = []
        plain = headers({})
        for row in rows:
            await out.add(kafka.HUB_EVENTS, row.record_id.encode(), encode(row.envelope), plain)
        for partner in self.directory.partners:
            events = [row.envelope for row in rows if row.type in partner.events]
            if not events:
                continue
            projected, records = await self._project_all(events, partner)
            by_purpose = {purpose: headers({}, purpose=purpose) for purpose in partner.purposes}
            for seen, purpose in projected:
                # Keyed by the record's id as the partner knows it: sealed for the partner.
                key = str(seen["subject"]).encode()
                await out.add(partner.topic, key, encode(seen), by_purpose[purpose])
            deliveries += records
        await out.acknowledged()  # every message acknowledged, or this pass fails
        if deliveries:
            await self.hub.audit.append(deliveries)
        seqs = [row.seq for row in rows]
        async with self.hub.db.session() as session, session.begin():
            await custom_plans(session)
            await session.execute(
                update(OutboxEvent)
                .where(col(OutboxEvent.seq).in_(seqs), col(OutboxEvent.published_at).is_(None))
                .values(published_at=utcnow())
            )
        self.published += len(rows)
        return len(rows)

    async def _project_all(
        self, events: list[dict[str, Any]], partner: Partner
    ) -> tuple[list[tuple[dict[str, Any], str]], list[AuditRecord]]:
        """The events the partner may see, each under the first of its purposes that shows
        it, in their order, and the access-log entries of their delivery (one per resource,
        purpose and set of fields shown, naming every record and worker it concerns); one
        query per purpose and resource for the whole list."""
        principal = await self.directory.principal(partner)
        projector = self.hub.projector
        if principal is None or projector is None:
            return [], []
        policies = self.hub.policies  # the policy in force now, as for a subscriber
        seal = self.hub.ids.for_audience(principal.audience)
        found: dict[int, tuple[dict[str, Any], str]] = {}
        for purpose in partner.purposes:
            todo = [i for i in range(len(events)) if i not in found]
            if not todo:
                break
            seen = await projector.project_many(
                [events[i] for i in todo], principal, purpose, policies, seal
            )
            for i, projected in zip(todo, seen, strict=True):
                if projected is not None:
                    found[i] = (projected, purpose)
        out = []
        records: dict[tuple[str, str, tuple[str, ...]], AuditRecord] = {}
        workers: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
        now = utcnow()
        for i in sorted(found):
            projected, purpose = found[i]
            out.append((projected, purpose))
            event = events[i]
            resource = EVENT_TYPES[event["type"]]
            fields = tuple(sorted(projected["data"]))
            key = (resource, purpose, fields)
            record = records.get(key)
            if record is None:
                workers[key] = set()
                record = records[key] = AuditRecord(
                    at=now,
                    action="event",
                    resource=resource,
                    organisation_id=principal.org_id,
                    roles=partner.role,
                    subject=principal.subject,
                    purpose=purpose,
                    operation=f"kafka:{partner.topic}",
                    fields=list(fields),
                    policy_version=policies.resource_version(resource),
                )
            record.record_ids.append(str(event["subject"]))
            res = RESOURCES.get(resource)
            if res is not None and res.personal and res.subject_column:
                subject = (event.get("data") or {}).get(res.subject_column)
                if subject and subject not in workers[key]:
                    workers[key].add(subject)
                    record.subjects.append(subject)
        return out, list(records.values())
