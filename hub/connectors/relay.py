"""The outbox relay: committed events to `hub.events` and, projected, to partner topics.

One pass reads the oldest unsent outbox rows (in sequence order), produces each to
`hub.events` keyed by its record id (one record's events stay in order), and to the topic
of every partner that takes its type, projected through that partner's policy exactly as a
GraphQL read would be: an event the partner may not see is never produced. After the
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
from hub.policy.resources import RESOURCES
from hub.retry import Backoff, supervise
from hub.state import HubState

log = logging.getLogger("hub.connectors.relay")


def headers(event: dict[str, Any], **extra: str) -> list[tuple[str, bytes]]:
    out = [("ce_id", str(event["id"]).encode()), ("ce_type", str(event["type"]).encode())]
    out += [(k, v.encode()) for k, v in extra.items()]
    return out


class Relay:
    def __init__(
        self,
        settings: Settings,
        hub: HubState,
        directory: Directory,
        *,
        poll_s: float = 0.2,
        batch: int = 200,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.directory = directory
        self.poll_s = poll_s
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
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
            key = row.record_id.encode()
            event = row.envelope
            acks.append(
                await producer.send(
                    kafka.HUB_EVENTS, encode(event), key=key, headers=headers(event)
                )
            )
            for partner in self.directory.receiving(row.type):
                projected = await self._project(event, partner)
                if projected is None:
                    continue  # the partner may not see it: it never reaches its topic
                seen, purpose, record = projected
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

    async def _project(
        self, event: dict[str, Any], partner: Partner
    ) -> tuple[dict[str, Any], str, AuditRecord] | None:
        """The event as the partner may see it, under the first of its purposes that shows
        it, with the access-log entry of its delivery; or None."""
        principal = await self.directory.principal(partner)
        projector = self.hub.projector
        if principal is None or projector is None:
            return None
        policies = self.hub.policies  # the policy in force now, as for a subscriber
        for purpose in partner.purposes:
            seal = self.hub.ids.for_audience(principal.audience)
            seen = await projector.project(event, principal, purpose, policies, seal)
            if seen is None:
                continue
            resource = EVENT_TYPES[event["type"]]
            res = RESOURCES.get(resource)
            subject = None
            if res is not None and res.personal and res.subject_column:
                subject = (event.get("data") or {}).get(res.subject_column)
            record = AuditRecord(
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
            return seen, purpose, record
        return None
