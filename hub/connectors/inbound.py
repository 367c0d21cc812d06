"""Inbound events from partner systems, on `partner.<key>.inbox`.

Each message goes through the same steps, in order; the first that fails sends it to
`hub.deadletter` (headers: reason, detail, source topic, partition and offset; the payload
is kept there but never logged) and the consumer goes on with the next message:

1. `malformed`        the value is not a JSON object
2. `invalid_envelope` not a CloudEvents 1.0 envelope (id, source, type, data object)
3. `unknown_type`     not an event type the hub accepts from partners
4. `invalid_data`     the data does not match that type's schema
5. `unknown_partner`  the partner's organisation is not registered (or ambiguous)
6. `forbidden`        the partner's role may not perform the action (the policy grant, as
                      for a GraphQL mutation; also the purpose it states)
7. `rejected`         a workflow rule refused it (the same code as the GraphQL mutation)
8. `error`            the database failed, after bounded retries

Applying runs the mutation's own workflow (hub/resolvers/) in one transaction, with the
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
from datetime import date
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from hub.config import Settings
from hub.connectors import kafka
from hub.connectors.partners import Directory, Partner
from hub.errors import Code, HubError
from hub.models import InboxEvent
from hub.models.enums import Branch, CareKind, CareLocation, InspectionOutcome
from hub.resolvers.care import apply_care_contact
from hub.resolvers.premises import apply_shift
from hub.resolvers.safety import apply_inspection
from hub.resolvers.writes import transaction
from hub.schema import inputs
from hub.schema.context import Context, HubState

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


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, strict=False)


class InspectionData(_Data):
    branch: Branch
    occurred_at: AwareDatetime
    outcome: InspectionOutcome
    persons_checked: int = Field(default=0, ge=0, le=1000)
    administrative_arrests: int = Field(default=0, ge=0, le=1000)
    judicial_arrests: int = Field(default=0, ge=0, le=1000)
    hidden_form: bool = False
    proactive: bool = True
    zone: str | None = Field(default=None, max_length=80)
    premises_id: str | None = Field(default=None, max_length=36)


class ShiftData(_Data):
    premises_id: str = Field(max_length=36)
    window: int = Field(ge=1, le=1000)
    sex_worker_id: str = Field(max_length=36)
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class CareContactData(_Data):
    client_ref: str = Field(min_length=1, max_length=80)
    contact_date: date
    kind: CareKind
    location: CareLocation
    branch: Branch


class CareContactBatch(_Data):
    contacts: list[CareContactData] = Field(min_length=1, max_length=500)


async def _inspection(ctx: Context, session: Any, data: Any) -> list[str]:
    d: InspectionData = data
    row = await apply_inspection(
        ctx,
        session,
        inputs.InspectionInput(
            branch=d.branch,
            occurred_at=d.occurred_at,
            outcome=d.outcome,
            persons_checked=d.persons_checked,
            administrative_arrests=d.administrative_arrests,
            judicial_arrests=d.judicial_arrests,
            hidden_form=d.hidden_form,
            proactive=d.proactive,
            zone=d.zone,
            premises_id=d.premises_id,  # type: ignore[arg-type]
        ),
    )
    return [row.id]


async def _shift(ctx: Context, session: Any, data: Any) -> list[str]:
    d: ShiftData = data
    row = await apply_shift(
        ctx,
        session,
        inputs.ShiftInput(
            premises_id=d.premises_id,  # type: ignore[arg-type]
            window=d.window,
            sex_worker_id=d.sex_worker_id,  # type: ignore[arg-type]
            starts_at=d.starts_at,
            ends_at=d.ends_at,
        ),
    )
    return [row.id]


async def _care_batch(ctx: Context, session: Any, data: Any) -> list[str]:
    d: CareContactBatch = data
    ids = []
    for c in d.contacts:  # all or none: one transaction
        row = await apply_care_contact(
            ctx,
            session,
            inputs.CareContactInput(
                client_ref=c.client_ref,
                contact_date=c.contact_date,
                kind=c.kind,
                location=c.location,
                branch=c.branch,
            ),
        )
        ids.append(row.id)
    return ids


@dataclass(frozen=True)
class Inbound:
    resource: str
    action: str
    schema: type[_Data]
    apply: Callable[[Context, Any, Any], Awaitable[list[str]]]


# The event types partner systems may send, and the mutation each one is.
INBOUND: dict[str, Inbound] = {
    "be.hub.inspection.recorded.v1": Inbound("Inspection", "record", InspectionData, _inspection),
    "be.hub.shift.registered.v1": Inbound("ShiftRegistration", "register", ShiftData, _shift),
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


def parse(value: bytes | None) -> tuple[Envelope, Inbound, _Data]:
    """Steps 1 to 4: the envelope and the data, or Rejected."""
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
    try:
        data = kind.schema.model_validate(envelope.data)
    except ValidationError as exc:
        raise Rejected("invalid_data", _schema_detail(exc)) from None
    return envelope, kind, data


_REFUSALS = {Code.FORBIDDEN, Code.UNAUTHENTICATED, Code.PURPOSE_REQUIRED}


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
        backoff = self.backoff_min_s
        while True:
            consumer: AIOKafkaConsumer | None = None
            try:
                await kafka.ensure_topics(self.settings, [self.topic, kafka.DEADLETTER])
                consumer = kafka.consumer(
                    self.settings,
                    self.topic,
                    group_id=self.group_id,
                    auto_offset_reset="earliest",
                    fetch_max_wait_ms=100,
                )
                await consumer.start()  # joins the group
                backoff = self.backoff_min_s
                while True:
                    if consumer.assignment():
                        self.ready.set()
                    batches = await consumer.getmany(timeout_ms=200, max_records=100)
                    for tp, messages in batches.items():
                        for message in messages:
                            await self.handle(message)
                            await consumer.commit({tp: message.offset + 1})
                    self.lag = await kafka.lag(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.ready.clear()
                log.warning(
                    "inbound %s failed (%s); reconnecting in %.1fs",
                    self.topic,
                    type(exc).__name__,
                    backoff,
                )
                await asyncio.sleep(backoff)  # a backoff, not a synchronisation
                backoff = min(backoff * 2, self.backoff_max_s)
            finally:
                if consumer is not None:
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
        envelope, kind, data = parse(value)
        principal = await self.directory.principal(self.partner)
        if principal is None:
            raise Rejected("unknown_partner", self.partner.key)
        event_id = f"{self.partner.key}/{envelope.id}"
        for attempt in range(DB_ATTEMPTS):
            ctx = Context(self.hub, principal, purpose_header=envelope.purpose)
            try:
                try:
                    ctx.require_grant(kind.resource, kind.action)  # authorise first
                    return await self._transaction(ctx, envelope, kind, data, event_id)
                finally:
                    await ctx.flush_audit(f"kafka:{self.topic}")
            except HubError as e:
                reason = "forbidden" if e.code in _REFUSALS else "rejected"
                raise Rejected(reason, f"{e.code.value}: {e}") from None
            except IntegrityError:
                return "duplicate"  # another consumer applied it just now
            except Exception as exc:
                if attempt == DB_ATTEMPTS - 1:
                    raise Rejected("error", type(exc).__name__) from None
                await asyncio.sleep(self.backoff_min_s * 2**attempt)
        raise AssertionError("unreachable")

    async def _transaction(
        self, ctx: Context, envelope: Envelope, kind: Inbound, data: _Data, event_id: str
    ) -> str:
        async with transaction(ctx) as session:
            done = await session.execute(
                select(col(InboxEvent.event_id)).where(col(InboxEvent.event_id) == event_id)
            )
            if done.first() is not None:
                return "duplicate"
            await kind.apply(ctx, session, data)
            session.add(
                InboxEvent(
                    event_id=event_id,
                    source=envelope.source,
                    type=envelope.type,
                    topic=self.topic,
                    processed_at=ctx.now,
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
