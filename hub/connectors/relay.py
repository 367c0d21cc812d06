"""The outbox relay: committed events to `hub.events` and, projected, to partner topics.

One pass reads the oldest unsent outbox rows (in sequence order), produces each to
`hub.events` keyed by its record id (one record's events stay in order), and to the topic
of every partner that takes its type, projected through that partner's policy exactly as a
GraphQL read would be: an event the partner may not see is never produced. The pass is
projected per partner and purpose in one query per resource (not one per event), and the
messages are handed to the producer together, which batches them per partition. Every
message follows the CloudEvents Kafka binding in structured mode (the event is the value,
`content-type: application/cloudevents+json`). After the
broker has acknowledged every message of the pass, the partner deliveries are written to
the access log and the rows are marked sent. A failure marks nothing: the next pass
(after a bounded backoff) sends the same rows again, so after a crash or a broker outage
the relay resumes where it stopped. Delivery is at least once; consumers are idempotent
on the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlmodel import col

from hub.audit.log import AuditRecord
from hub.config import Settings
from hub.connectors import kafka
from hub.connectors.partners import Directory, Partner
from hub.events.envelope import EVENT_TYPES, encode
from hub.models import OutboxEvent
from hub.models.base import utcnow
from hub.policy.engine import PolicySet
from hub.policy.principal import Principal
from hub.policy.resources import RESOURCES
from hub.retry import Backoff, supervise, wait_event
from hub.state import HubState

log = logging.getLogger("hub.connectors.relay")


def headers(event: dict[str, Any], **extra: str) -> list[tuple[str, bytes]]:
    """Structured content mode: the content type, and the hub's own headers (`purpose` on a
    partner's topic). No `ce_` header: with one, a CloudEvents reader takes the binary
    mode."""
    return list(kafka.CONTENT_TYPE) + [(k, v.encode()) for k, v in extra.items()]


class Relay:
    def __init__(
        self,
        settings: Settings,
        hub: HubState,
        directory: Directory,
        *,
        poll_s: float = 0.2,
        idle_poll_s: float = 5.0,
        batch: int = 200,
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
        async with self.hub.db.session() as session:
            rows = (
                (
                    await session.execute(
                        select(OutboxEvent)
                        .where(col(OutboxEvent.published_at).is_(None))
                        .order_by(col(OutboxEvent.seq))
                        .limit(self.batch)
                    )
                )
                .scalars()
                .all()
            )
        if not rows:
            return 0
        producer = await self._connect()
        acks: list[asyncio.Future[Any]] = []
        deliveries: list[AuditRecord] = []
        for row in rows:
            event = row.envelope
            acks.append(
                await producer.send(
                    kafka.HUB_EVENTS,
                    encode(event),
                    key=row.record_id.encode(),
                    headers=headers(event),
                )
            )
        for partner in self.directory.partners:
            events = [row.envelope for row in rows if row.type in partner.events]
            if not events:
                continue
            for seen, purpose, record in await self._project_all(events, partner):
                # Keyed by the record's id as the partner knows it: sealed for the partner.
                acks.append(
                    await producer.send(
                        partner.topic,
                        encode(seen),
                        key=str(seen["subject"]).encode(),
                        headers=headers(seen, purpose=purpose),
                    )
                )
                deliveries.append(record)
        await asyncio.gather(*acks)  # every message acknowledged, or this pass fails
        if deliveries:
            await self.hub.audit.append(deliveries)
        seqs = [row.seq for row in rows]
        async with self.hub.db.session() as session, session.begin():
            await session.execute(
                update(OutboxEvent)
                .where(col(OutboxEvent.seq).in_(seqs), col(OutboxEvent.published_at).is_(None))
                .values(published_at=utcnow())
            )
        self.published += len(rows)
        return len(rows)

    async def _project_all(
        self, events: list[dict[str, Any]], partner: Partner
    ) -> list[tuple[dict[str, Any], str, AuditRecord]]:
        """The events the partner may see, each under the first of its purposes that shows
        it, in their order, with the access-log entry of each delivery; one query per
        purpose and resource for the whole list."""
        principal = await self.directory.principal(partner)
        projector = self.hub.projector
        if principal is None or projector is None:
            return []
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
        for i in sorted(found):
            projected, purpose = found[i]
            out.append(
                (
                    projected,
                    purpose,
                    self._delivery(events[i], projected, purpose, partner, principal, policies),
                )
            )
        return out

    @staticmethod
    def _delivery(
        event: dict[str, Any],
        seen: dict[str, Any],
        purpose: str,
        partner: Partner,
        principal: Principal,
        policies: PolicySet,
    ) -> AuditRecord:
        resource = EVENT_TYPES[event["type"]]
        res = RESOURCES.get(resource)
        subject = None
        if res is not None and res.personal and res.subject_column:
            subject = (event.get("data") or {}).get(res.subject_column)
        return AuditRecord(
            at=utcnow(),
            action="event",
            resource=resource,
            organisation_id=principal.org_id,
            roles=partner.role,
            subject=principal.subject,
            purpose=purpose,
            operation=f"kafka:{partner.topic}",
            record_ids=[str(event["subject"])],
            fields=sorted(seen["data"]),
            subjects=[subject] if subject else [],
            policy_version=policies.resource_version(resource),
        )
