"""Inbound events from partner systems, on `partner.<key>.inbox`.

Each message goes through the same steps, in order; the first that fails sends it to
`hub.deadletter` (headers: reason, detail, source topic, partition and offset; the payload
is kept there but never logged) and the consumer goes on with the next message:

1. `malformed`        the value is not a JSON object
2. `invalid_envelope` not a CloudEvents 1.0 envelope (id, source, type, data object)
3. `unknown_type`     not an event type the hub accepts from partners
4. `invalid_data`     the data does not match that type's schema, or (checked once the
                      partner is known) names an id that was not sealed for this partner
                      (ids come and go sealed per organisation, hub/ids.py)
5. `unknown_partner`  the partner's organisation is not registered (or ambiguous)
6. `forbidden`        the partner's role may not perform the action (the policy grant, as
                      for a GraphQL mutation; also the purpose it states)
7. `rejected`         a workflow rule refused it (the same code as the GraphQL mutation)
8. `error`            the database failed, after bounded retries

Applying runs the mutation's own workflow (hub/services/) in one transaction, with the
event id written to the inbox table in that same transaction: an event already applied is
skipped. The offset is committed only after the database commit (or after the dead letter
is acknowledged), so a crash in between applies the event at most once more, which the
inbox table turns into a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import col

from hub.config import Settings
from hub.connectors import kafka
from hub.connectors.partners import Directory, Partner
from hub.errors import Code, HubError
from hub.ids import UnknownId
from hub.models import InboxEvent
from hub.retry import Backoff, retry, supervise
from hub.services import care, inspections, shifts
from hub.services.actor import Actor
from hub.services.base import Command, unit_of_work, validation_message
from hub.state import HubState

log = logging.getLogger("hub.connectors.inbound")
DB_ATTEMPTS = 3


# --- schemas -------------------------------------------------------------------------------


class Envelope(BaseModel):
    """CloudEvents 1.0, structured JSON mode; extension attributes are allowed."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=150)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=120)
    subject: str | None = Field(default=None, max_length=200)
    time: AwareDatetime | None = None
    datacontenttype: Literal["application/json"] | None = None
    purpose: str | None = Field(default=None, max_length=40)
    data: dict[str, Any]


class CareContactBatch(Command):
    """Several care contacts of one NGO system, applied all or none."""

    contacts: list[care.RecordCareContact] = Field(min_length=1, max_length=500)


async def _inspection(actor: Actor, session: Any, data: Any) -> list[str]:
    row = await inspections.record_inspection(session=session, actor=actor, command=data)
    return [row.id]


async def _shift(actor: Actor, session: Any, data: Any) -> list[str]:
    row = await shifts.register_shift(session=session, actor=actor, command=data)
    return [row.id]


async def _care_batch(actor: Actor, session: Any, data: Any) -> list[str]:
    batch: CareContactBatch = data
    ids = []
    for c in batch.contacts:  # all or none: one transaction
        row = await care.record_care_contact(session=session, actor=actor, command=c)
        ids.append(row.id)
    return ids


@dataclass(frozen=True)
class Inbound:
    resource: str
    action: str
    schema: type[Command]  # the workflow's own command: one validation for every entry
    apply: Callable[[Actor, Any, Any], Awaitable[list[str]]]


# The event types partner systems may send, and the workflow each one runs.
INBOUND: dict[str, Inbound] = {
    "be.hub.inspection.recorded.v1": Inbound(
        "Inspection", "record", inspections.RecordInspection, _inspection
    ),
    "be.hub.shift.registered.v1": Inbound(
        "ShiftRegistration", "register", shifts.RegisterShift, _shift
    ),
    "be.hub.care_contact.batch_recorded.v1": Inbound(
        "CareContact", "record", CareContactBatch, _care_batch
    ),
}


# --- the steps -----------------------------------------------------------------------------


class Rejected(Exception):
    """A message that goes to the dead-letter topic. `detail` names fields and codes, never
    values."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail[:500]


def _schema_detail(exc: ValidationError) -> str:
    return "; ".join(
        ".".join(str(p) for p in e["loc"]) + ": " + e["type"] for e in exc.errors()[:10]
    )


def parse_envelope(value: bytes | None) -> tuple[Envelope, Inbound]:
    """Steps 1 to 3: the envelope and its type, or Rejected."""
    try:
        raw = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        raise Rejected("malformed", "not JSON") from None
    if not isinstance(raw, dict):
        raise Rejected("malformed", "not a JSON object")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise Rejected("invalid_envelope", _schema_detail(exc)) from None
    kind = INBOUND.get(envelope.type)
    if kind is None:
        raise Rejected("unknown_type", envelope.type[:120])
    return envelope, kind


def parse_data(envelope: Envelope, kind: Inbound, unseal: Callable[[str], str] | None) -> Command:
    """Step 5: the data, its ids unsealed with the partner's seal, or Rejected."""
    try:
        return kind.schema.model_validate(envelope.data, context={"unseal": unseal})
    except ValidationError as exc:
        raise Rejected("invalid_data", validation_message(exc, limit=10)) from None
    except UnknownId:
        raise Rejected("invalid_data", "an id that was not sealed for this partner") from None


_REFUSALS = {Code.FORBIDDEN, Code.UNAUTHENTICATED, Code.PURPOSE_REQUIRED}
# Failures worth another attempt: the database was busy or the connection dropped.
_TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError)


class InboundConsumer:
    """One partner's inbox: a consumer group member, one message at a time, in order."""

    def __init__(
        self,
        settings: Settings,
        hub: HubState,
        directory: Directory,
        partner: Partner,
        dlq: Callable[[], Awaitable[AIOKafkaProducer]],
        *,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
        dlq_reset: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        assert partner.inbox is not None
        self.settings = settings
        self.hub = hub
        self.directory = directory
        self.partner = partner
        self.topic = partner.inbox
        self.group_id = f"hub.inbound.{partner.key}"
        self._dlq = dlq
        self._dlq_reset = dlq_reset
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.ready = asyncio.Event()  # partitions assigned
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        self.dead_letters: Counter[str] = Counter()  # by reason, for /metrics
        self.lag: int | None = None

    async def run(self) -> None:
        await supervise(
            self._session,
            what=f"inbound {self.topic}",
            log=log,
            backoff=Backoff(self.backoff_min_s, self.backoff_max_s),
        )

    async def _session(self, backoff: Backoff) -> None:
        await kafka.ensure_topics(self.settings, [self.topic, kafka.DEADLETTER])
        consumer = kafka.consumer(
            self.settings,
            self.topic,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        try:
            await consumer.start()  # joins the group
            backoff.reset()
            while True:
                if consumer.assignment():
                    self.ready.set()
                batches = await consumer.getmany(timeout_ms=200, max_records=100)
                for tp, messages in batches.items():
                    for message in messages:
                        await self.handle(message)
                        await consumer.commit({tp: message.offset + 1})
                self.lag = await kafka.lag(consumer)
        finally:
            self.ready.clear()
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def handle(self, message: ConsumerRecord[Any, Any]) -> str:
        """Apply one message or dead-letter it; returns the outcome. Raises only if the
        dead-letter topic cannot be written (then the offset is not committed)."""
        try:
            outcome = await self._apply(message.value)
        except Rejected as r:
            await self._dead_letter(message, r)
            self.dead_lettered += 1
            self.dead_letters[r.reason] += 1
            return r.reason
        if outcome == "applied":
            self.applied += 1
        else:
            self.duplicates += 1
        return outcome

    async def _apply(self, value: bytes | None) -> str:
        envelope, kind = parse_envelope(value)
        parse_data(envelope, kind, None)  # its shape first, as the steps are numbered
        principal = await self.directory.principal(self.partner)
        if principal is None:
            raise Rejected("unknown_partner", self.partner.key)
        # Ids in the data are the partner's own: sealed for it, as it received them.
        data = parse_data(envelope, kind, self.hub.ids.for_audience(principal.audience).unseal)
        event_id = f"{self.partner.key}/{envelope.id}"

        async def attempt() -> str:
            actor = Actor(principal, self.hub.policies, purpose_header=envelope.purpose)
            try:
                actor.require_grant(kind.resource, kind.action)  # authorise first
                return await self._transaction(actor, envelope, kind, data, event_id)
            finally:
                await actor.audit.flush(self.hub.audit, f"kafka:{self.topic}")

        try:
            return await retry(
                attempt,
                attempts=DB_ATTEMPTS,
                retry_on=_TRANSIENT,
                backoff=Backoff(self.backoff_min_s, self.backoff_max_s),
            )
        except HubError as e:
            reason = "forbidden" if e.code in _REFUSALS else "rejected"
            raise Rejected(reason, f"{e.code.value}: {e}") from None
        except IntegrityError:
            return "duplicate"  # another consumer applied it just now
        except Exception as exc:
            raise Rejected("error", type(exc).__name__) from None

    async def _transaction(
        self, actor: Actor, envelope: Envelope, kind: Inbound, data: Command, event_id: str
    ) -> str:
        async with unit_of_work(self.hub.db, actor, on_commit=self.hub.notify_committed) as session:
            done = await session.execute(
                select(col(InboxEvent.event_id)).where(col(InboxEvent.event_id) == event_id)
            )
            if done.first() is not None:
                return "duplicate"
            await kind.apply(actor, session, data)
            session.add(
                InboxEvent(
                    event_id=event_id,
                    source=envelope.source,
                    type=envelope.type,
                    topic=self.topic,
                    processed_at=actor.now,
                )
            )
        return "applied"

    async def _dead_letter(self, message: ConsumerRecord[Any, Any], r: Rejected) -> None:
        headers = [
            ("hub.dlq.reason", r.reason.encode()),
            ("hub.dlq.detail", r.detail.encode()),
            ("hub.dlq.partner", self.partner.key.encode()),
            ("hub.dlq.topic", message.topic.encode()),
            ("hub.dlq.partition", str(message.partition).encode()),
            ("hub.dlq.offset", str(message.offset).encode()),
        ]
        producer = await self._dlq()
        try:
            await producer.send_and_wait(
                kafka.DEADLETTER, message.value, key=message.key, headers=headers
            )
        except Exception:
            if self._dlq_reset is not None:
                await self._dlq_reset()  # a fresh producer for the retry (offset not committed)
            raise
        # Never the payload: it may hold personal data.
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            r.reason,
        )
