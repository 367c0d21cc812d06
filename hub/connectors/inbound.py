"""Inbound events from partner systems, on `partner.<key>.inbox`.

Each message goes through the same steps, in order; the first that fails sends it to
`hub.deadletter` (headers: reason, detail, source topic, partition and offset, size and
sha256; the payload is kept there, except for `too_large`, but never logged) and the
consumer goes on with the next message:

1. `too_large`        bigger than HUB_KAFKA_INBOUND_MAX_BYTES (value, key and headers),
                      checked before anything is parsed; its payload is left out
2. `malformed`        not a CloudEvent in the Kafka binding: the value is not a JSON object
                      (structured mode), or its data is not JSON (binary mode)
3. `invalid_envelope` not a CloudEvents 1.0 envelope (id, source, type, data object)
4. `unknown_type`     not an event type the hub accepts from partners
5. `forbidden_source` a `source` that partners.yaml does not list for this partner
6. `invalid_data`     the data does not match that type's schema
7. `unknown_partner`  the partner's organisation is not registered (or ambiguous)
8. `forbidden`        the partner's role may not perform the action (the policy grant, as
                      for a GraphQL mutation; also the purpose it states)
   `invalid_data`     (again) the data names an id that was not sealed for this partner
                      (ids come and go sealed per organisation, hub/ids.py)
9. `rejected`         a workflow rule refused it (the same code as the GraphQL mutation)
10. `error`           the database failed, after bounded retries

The messages of one partition fetched together are applied as a batch: one transaction
(each event's own workflow, hub/services/, with its id written to the inbox table, so an
event already applied is skipped), one access-log append, then one offset commit after the
database commit (and after the dead letters are written). On PostgreSQL the batches of
the partitions fetched together are applied side by side, each in its own transaction (a
partition still one batch at a time, in order); on SQLite, with its single writer, one
after another. For the types with a bulk workflow (inspections) the batch first takes the
fast path: the events already applied found with one SELECT, per type and purpose one
grant check and one bulk workflow call
(the same rules as one by one, each checked once for the batch: one INSERT of the records,
one SELECT for the policy check, one INSERT into the outbox), one INSERT into the inbox,
and one access-log entry naming every record written. If any of it fails, nothing of it
is kept and the batch is applied one event at a time: an event that fails rolls that
transaction back and is set aside; the others are applied again without it, so one bad
event never fails its neighbours and each is applied exactly once. A crash before the
offset commit applies the batch at most once more, which the inbox table turns into skips.

A dead letter the broker does not take (down, or refusing it) is written to the local
`dead_letter` table instead, and the offset is committed all the same: no message can
hold its partition up. `hub deadletter list|replay` reads that table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import RecordTooLargeError
from aiokafka.structs import ConsumerRecord
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import col

from hub.audit.log import AuditRecord
from hub.config import Settings
from hub.connectors import deadletters, kafka
from hub.connectors.partners import Directory, Partner
from hub.errors import Code, HubError
from hub.events.plans import custom_plans
from hub.ids import UnknownId
from hub.models import InboxEvent
from hub.models.base import utcnow
from hub.policy.principal import Principal
from hub.retry import Backoff, retry, supervise
from hub.services import care, inspections, shifts
from hub.services.actor import Actor
from hub.services.base import Command, emitted_events, recorded_writes, validation_message
from hub.state import HubState

log = logging.getLogger("hub.connectors.inbound")
DB_ATTEMPTS = 3
DLQ_TIMEOUT_S = 10.0  # a dead letter the broker has not taken by then goes to the table
STRUCTURED = "application/cloudevents+json"
BATCH = 1000  # messages fetched (and applied) together per partition at most


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


async def _inspections(actor: Actor, session: Any, commands: list[Any]) -> list[str]:
    rows = await inspections.record_inspections(session=session, actor=actor, commands=commands)
    return [row.id for row in rows]


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
    # The same workflow for several events of one batch at once, all or none (the fast
    # path); None: this type is applied one event at a time.
    bulk: Callable[[Actor, Any, list[Any]], Awaitable[list[str]]] | None = None


# The event types partner systems may send, and the workflow each one runs.
INBOUND: dict[str, Inbound] = {
    "be.hub.inspection.recorded.v1": Inbound(
        "Inspection", "record", inspections.RecordInspection, _inspection, _inspections
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


Headers = Sequence[tuple[str, bytes]]


def message_size(value: bytes | None, key: bytes | None, headers: Headers | None) -> int:
    """The bytes a message carries: its value, key and headers."""
    return (
        len(value or b"") + len(key or b"") + sum(len(k) + len(v or b"") for k, v in headers or ())
    )


def _schema_detail(exc: ValidationError) -> str:
    return "; ".join(
        ".".join(str(p) for p in e["loc"]) + ": " + e["type"] for e in exc.errors()[:10]
    )


def _media_type(value: bytes) -> str:
    return value.decode("latin-1").split(";")[0].strip().lower()


def _binary_attributes(value: bytes | None, headers: Headers) -> dict[str, Any]:
    """Binary content mode: attributes from the `ce_` headers, `datacontenttype` from
    `content-type`, the value is the data (JSON)."""
    raw: dict[str, Any] = {}
    for name, header in headers:
        lower = name.lower()
        try:
            text = (header or b"").decode()
        except UnicodeDecodeError:
            raise Rejected("malformed", f"header {lower[:40]}: not UTF-8") from None
        if lower.startswith("ce_"):
            raw[lower[3:]] = text
        elif lower == "content-type":
            raw["datacontenttype"] = _media_type(header or b"")
    try:
        raw["data"] = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        raise Rejected("malformed", "data: not JSON") from None
    return raw


def parse_envelope(value: bytes | None, headers: Headers | None = None) -> tuple[Envelope, Inbound]:
    """Steps 2 to 4, in either content mode of the CloudEvents Kafka binding: binary when a
    `ce_` header is present, else structured (`content-type: application/cloudevents+json`,
    or no content type at all)."""
    headers = list(headers or ())
    if not headers or (
        len(headers) == 1
        and headers[0][0].lower() == "content-type"
        and _media_type(headers[0][1] or b"") == STRUCTURED
    ):
        # Structured mode, the common case: parsed and validated in one go. Whatever this
        # refuses is parsed again below, step by step, for its reason.
        with contextlib.suppress(ValidationError):
            envelope = Envelope.model_validate_json(value or b"")
            kind = INBOUND.get(envelope.type)
            if kind is None:
                raise Rejected("unknown_type", envelope.type[:120])
            return envelope, kind
    if any(name.lower().startswith("ce_") for name, _ in headers):
        raw: Any = _binary_attributes(value, headers)
    else:
        for name, header in headers:
            if name.lower() == "content-type" and _media_type(header or b"") != STRUCTURED:
                raise Rejected("malformed", "content-type: neither structured nor binary mode")
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


def parse_data(
    envelope: Envelope,
    kind: Inbound,
    unseal: Callable[[str], str] | None,
    client_ref_pattern: re.Pattern[str] | None = None,
) -> Command:
    """The data, its ids unsealed with the partner's seal, or Rejected. A care contact's
    client reference is checked against the partner organisation's own pattern, if it has
    one (HUB_CLIENT_REF_PATTERNS), as through GraphQL."""
    context = {"unseal": unseal, "client_ref_pattern": client_ref_pattern}
    try:
        return kind.schema.model_validate(envelope.data, context=context)
    except ValidationError as exc:
        raise Rejected("invalid_data", validation_message(exc, limit=10)) from None
    except UnknownId:
        raise Rejected("invalid_data", "an id that was not sealed for this partner") from None


_REFUSALS = {Code.FORBIDDEN, Code.UNAUTHENTICATED, Code.PURPOSE_REQUIRED}
# Failures worth another attempt: the database was busy or the connection dropped.
_TRANSIENT = (OperationalError, InterfaceError, OSError, TimeoutError)


@dataclass(eq=False)
class _Item:
    """One message of a batch, and what became of it."""

    message: ConsumerRecord[Any, Any]
    envelope: Envelope | None = None
    kind: Inbound | None = None
    event_id: str = ""
    outcome: str | None = None  # applied, duplicate, or the dead-letter reason
    rejection: Rejected | None = None
    actor: Actor | None = None
    writes: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)
    # The data, validated in step 6, if it names no id (then unsealing changes nothing).
    command: Command | None = None


class _SetAside(Exception):
    """Rolls the batch's transaction back: `item` failed, the others are applied again."""

    def __init__(self, item: _Item) -> None:
        super().__init__("set aside")
        self.item = item


class InboundConsumer:
    """One partner's inbox: a consumer group member, one batch at a time per partition, each
    partition in order (the partitions side by side on PostgreSQL)."""

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
        self.stored_locally = 0  # dead letters the broker did not take, in the table
        self.batches = 0  # transactions that applied at least one event
        # True after a fetch that found nothing, every message fetched before it being
        # applied or dead-lettered and its offset committed (for tests and shutdown).
        self.idle = False
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
            # One partition's batch is bounded by count and bytes; a message bigger than
            # this still arrives (alone), to be dead-lettered as too_large.
            max_partition_fetch_bytes=max(4 << 20, 4 * self.settings.kafka_inbound_max_bytes),
        )
        try:
            await consumer.start()  # joins the group
            backoff.reset()
            watch = kafka.Watch(consumer, what=f"inbound {self.topic}", log=log)
            while True:
                if consumer.assignment():
                    self.ready.set()
                try:
                    # Up to BATCH messages of each assigned partition (getmany's bound is
                    # for all of them together).
                    most = BATCH * max(1, len(consumer.assignment()))
                    batches = await kafka.bounded(
                        consumer.getmany(timeout_ms=200, max_records=most),
                        kafka.FETCH_TIMEOUT_S,
                    )
                except RecordTooLargeError as exc:
                    # A broker that cuts a message at the fetch size (no KIP-74): the
                    # consumer has stepped over it; dead-letter it as too large, unread.
                    await self._unreadable(consumer, exc)
                    continue
                received = any(batches.values())
                if received:
                    self.idle = False
                await self._apply_partitions(
                    consumer, [(tp, messages) for tp, messages in batches.items() if messages]
                )
                self.lag = await kafka.lag(consumer)
                if not received:
                    self.idle = True
                await watch.check(received=received)
        finally:
            self.ready.clear()
            self.idle = False
            with contextlib.suppress(Exception):
                await kafka.bounded(consumer.stop(), kafka.STOP_TIMEOUT_S)

    async def _apply_partitions(
        self, consumer: Any, batches: list[tuple[Any, Sequence[ConsumerRecord[Any, Any]]]]
    ) -> None:
        """Each partition's batch, then that partition's offset commit, after the database
        commit. On PostgreSQL the partitions' batches are applied side by side, each in its
        own transaction, so one batch's commit wait overlaps the others' work; a partition
        still has one batch at a time, in order (the next fetch waits for all of them). A
        batch that fails does not stop the others: they finish and commit their offsets,
        then the failure is raised (its messages are fetched again). SQLite has a single
        writer: one partition after another."""
        if len(batches) < 2 or not self.hub.db.url.startswith("postgresql"):
            for tp, messages in batches:
                await self.process(messages)
                await consumer.commit({tp: messages[-1].offset + 1})
            return

        async def one(tp: Any, messages: Sequence[ConsumerRecord[Any, Any]]) -> None:
            await self.process(messages)
            await consumer.commit({tp: messages[-1].offset + 1})

        results = await asyncio.gather(
            *(one(tp, messages) for tp, messages in batches), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _unreadable(self, consumer: Any, exc: RecordTooLargeError) -> None:
        tp, offset, fetch_size = exc.args[1:4]
        record: ConsumerRecord[Any, Any] = ConsumerRecord(
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=None,
            value=None,
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=-1,
            headers=(),
        )
        reason = Rejected("too_large", f"larger than the fetch size {fetch_size}; not read")
        await self._dead_letter(record, reason, unread=True)
        self.dead_lettered += 1
        self.dead_letters["too_large"] += 1
        await consumer.commit({tp: offset + 1})

    async def handle(self, message: ConsumerRecord[Any, Any]) -> str:
        """Apply one message or dead-letter it; returns the outcome."""
        (outcome,) = await self.process([message])
        return outcome

    async def process(self, messages: Sequence[ConsumerRecord[Any, Any]]) -> list[str]:
        """Apply a batch of messages (one partition's, in offset order) or dead-letter the
        ones that fail; the outcome of each, in order. Raises only if a dead letter can be
        written neither to the broker nor to the database (then no offset is committed)."""
        items = [_Item(m) for m in messages]
        # The partner as the directory in force has it (role, organisation, sources): a
        # version activated since this consumer started applies from this batch on.
        current = self.directory.current(self.partner.key)
        todo = []
        for item in items:
            try:
                item.envelope, item.kind = self._check(item.message, current)
                self._shape(item)
            except Rejected as r:
                item.rejection = r
            else:
                todo.append(item)
        principal = await self.directory.principal(current) if todo and current else None
        candidates, ids = [], set()
        for item in todo:
            assert item.envelope is not None
            if principal is None:
                item.rejection = Rejected("unknown_partner", self.partner.key)
                continue
            item.event_id = f"{self.partner.key}/{item.envelope.id}"
            if item.event_id in ids:
                item.outcome = "duplicate"  # the same event twice in one batch
                continue
            ids.add(item.event_id)
            candidates.append(item)
        if candidates:
            assert principal is not None
            records = await self._apply_bulk(principal, candidates)
            if records is None:  # one event at a time, each failure set aside
                records = await self._apply_all(principal, candidates)
            if records:
                for record in records:
                    record.operation = f"kafka:{self.topic}"
                await self.hub.audit.append(records)
        for item in items:
            if item.rejection is not None:
                await self._dead_letter(item.message, item.rejection)
                item.outcome = item.rejection.reason
                self.dead_lettered += 1
                self.dead_letters[item.rejection.reason] += 1
            elif item.outcome == "applied":
                self.applied += 1
            else:
                item.outcome = "duplicate"
                self.duplicates += 1
        return [str(item.outcome) for item in items]

    def _check(
        self, message: ConsumerRecord[Any, Any], current: Partner | None
    ) -> tuple[Envelope, Inbound]:
        """Steps 1 to 5, which need neither the database nor the partner's seal; `current`:
        the partner as the directory in force has it."""
        size = message_size(message.value, message.key, message.headers)
        limit = self.settings.kafka_inbound_max_bytes
        if size > limit:
            raise Rejected("too_large", f"{size} bytes; the limit is {limit}")
        envelope, kind = parse_envelope(message.value, message.headers)
        if current is None:
            raise Rejected("unknown_partner", f"{self.partner.key}: no longer in the directory")
        if envelope.source not in current.sources:
            raise Rejected("forbidden_source", "source: not one of this partner's sources")
        return envelope, kind

    @staticmethod
    def _shape(item: _Item) -> None:
        """Step 6: the data's shape, before the partner's seal is known; kept if it names
        no id, so the batch need not validate it again."""
        assert item.envelope is not None and item.kind is not None
        named: list[str] = []

        def note(value: str) -> str:
            named.append(value)
            return value

        command = parse_data(item.envelope, item.kind, note)
        item.command = None if named else command

    async def _apply_bulk(
        self, principal: Principal, candidates: list[_Item]
    ) -> list[AuditRecord] | None:
        """The fast path for a batch of events of types with a bulk workflow: one
        transaction with one SELECT for the events already applied, per type and purpose
        one grant check and one bulk workflow call (the same rules as one by one, all or
        none), one INSERT into the inbox. None if any of it fails, with nothing kept: the
        caller then applies the events one at a time, which finds and sets aside the
        culprit (and gives every event its own reason)."""
        if any(item.kind is None or item.kind.bulk is None for item in candidates):
            return None
        seal = self.hub.ids.for_audience(principal.audience)
        pattern = self.hub.client_ref_patterns.get(principal.org_id)
        now = utcnow()
        actors: list[tuple[Actor, int, int]] = []  # each group's, and its writes
        try:
            async with self.hub.db.sessions() as session, session.begin():
                await custom_plans(session)  # the batch's IN lists (hub/events/plans.py)
                done = set(
                    (
                        await session.execute(
                            select(col(InboxEvent.event_id)).where(
                                col(InboxEvent.event_id).in_([i.event_id for i in candidates])
                            )
                        )
                    ).scalars()
                )
                fresh = [i for i in candidates if i.event_id not in done]
                groups: dict[tuple[str, str | None], list[_Item]] = {}
                for item in fresh:
                    assert item.envelope is not None
                    groups.setdefault((item.envelope.type, item.envelope.purpose), []).append(item)
                for (_type, purpose), items in groups.items():
                    kind = items[0].kind
                    assert kind is not None and kind.bulk is not None
                    actor = Actor(principal, self.hub.policies, purpose_header=purpose, now=now)
                    actor.require_grant(kind.resource, kind.action)  # authorise first
                    commands = [
                        i.command
                        if i.command is not None and pattern is None
                        else parse_data(i.envelope, kind, seal.unseal, pattern)  # type: ignore[arg-type]
                        for i in items
                    ]
                    start = len(recorded_writes(session))
                    await kind.bulk(actor, session, commands)
                    actors.append((actor, start, len(recorded_writes(session))))
                if fresh:
                    await session.execute(
                        insert(InboxEvent.__table__),  # type: ignore[attr-defined]
                        [
                            {
                                "event_id": i.event_id,
                                "source": i.envelope.source,  # type: ignore[union-attr]
                                "type": i.envelope.type,  # type: ignore[union-attr]
                                "topic": self.topic,
                                "processed_at": now,
                            }
                            for i in fresh
                        ],
                    )
                writes = list(recorded_writes(session))
                emitted = emitted_events(session)
        except Exception as exc:  # a refusal, a conflict, the database: one at a time
            expected = isinstance(exc, (HubError, Rejected, IntegrityError, *_TRANSIENT))
            (log.debug if expected else log.warning)(
                "inbound fast path failed (%s): the batch of %d one at a time",
                type(exc).__name__,
                len(candidates),
            )
            return None
        for item in candidates:
            item.outcome = "duplicate" if item.event_id in done else "applied"
        records: list[AuditRecord] = []
        for actor, start, end in actors:
            for action, resource, rids, subjects in writes[start:end]:
                actor.record(action, resource, record_ids=rids, subjects=subjects)
            records += actor.audit.records
        if fresh:
            self.batches += 1
        if emitted:
            self.hub.notify_committed()
        return records

    async def _apply_all(self, principal: Principal, candidates: list[_Item]) -> list[AuditRecord]:
        """Steps 7 to 10 for the batch: one transaction for all that can be applied; each
        one that fails is set aside (dead-lettered, or a duplicate) and the rest applied
        again, so at most one transaction more per bad event. The access-log records."""
        records: list[AuditRecord] = []
        remaining = list(candidates)
        backoff = Backoff(self.backoff_min_s, self.backoff_max_s)
        while remaining:
            batch = remaining
            try:
                await retry(
                    functools.partial(self._transaction, principal, batch),
                    attempts=DB_ATTEMPTS,
                    retry_on=_TRANSIENT,
                    backoff=backoff,
                )
            except _SetAside as aside:
                failed = aside.item
                if failed.actor is not None and failed.rejection is not None:
                    records += failed.actor.audit.records  # its refusal
                remaining = [i for i in remaining if i is not failed]
                continue
            except Exception as exc:  # no one event to blame (the commit failed)
                if len(remaining) > 1 and not isinstance(exc, _TRANSIENT):
                    for item in remaining:  # one at a time, to find the culprit
                        records += await self._apply_all(principal, [item])
                    return records
                for item in remaining:
                    item.rejection = Rejected("error", type(exc).__name__)
                return records
            for item in remaining:
                if item.outcome == "applied" and item.actor is not None:
                    for action, resource, rids, subjects in item.writes:
                        item.actor.record(action, resource, record_ids=rids, subjects=subjects)
                if item.actor is not None:
                    records += item.actor.audit.records
            return records
        return records

    async def _transaction(self, principal: Principal, items: list[_Item]) -> None:
        """One attempt at the batch; raises _SetAside naming the first event that failed."""
        seal = self.hub.ids.for_audience(principal.audience)
        emitted = 0
        async with self.hub.db.sessions() as session, session.begin():
            await custom_plans(session)
            done = set(
                (
                    await session.execute(
                        select(col(InboxEvent.event_id)).where(
                            col(InboxEvent.event_id).in_([i.event_id for i in items])
                        )
                    )
                ).scalars()
            )
            for item in items:
                self._attempt_item(item, principal, done)
                if item.outcome == "duplicate":
                    continue
                await self._apply_item(session, item, seal.unseal)
            emitted = emitted_events(session)
        if any(i.outcome == "applied" for i in items):
            self.batches += 1
        if emitted:
            self.hub.notify_committed()

    def _attempt_item(self, item: _Item, principal: Principal, done: set[str]) -> None:
        assert item.envelope is not None
        item.rejection, item.writes = None, []
        item.actor = Actor(principal, self.hub.policies, purpose_header=item.envelope.purpose)
        item.outcome = "duplicate" if item.event_id in done else None

    async def _apply_item(self, session: Any, item: _Item, unseal: Callable[[str], str]) -> None:
        assert item.envelope is not None and item.kind is not None and item.actor is not None
        actor, kind = item.actor, item.kind
        start = len(recorded_writes(session))
        try:
            actor.require_grant(kind.resource, kind.action)  # authorise first
            # Ids in the data are the partner's own: sealed for it, as it received them.
            pattern = self.hub.client_ref_patterns.get(actor.principal.org_id)
            data = parse_data(item.envelope, kind, unseal, pattern)
            await kind.apply(actor, session, data)
            session.add(
                InboxEvent(
                    event_id=item.event_id,
                    source=item.envelope.source,
                    type=item.envelope.type,
                    topic=self.topic,
                    processed_at=actor.now,
                )
            )
            await session.flush()  # a conflict shows here, on this event
        except Rejected as r:
            item.rejection = r
        except HubError as e:
            for action, resource, rids, subjects in recorded_writes(session)[start:]:
                actor.record(
                    action,
                    resource,
                    record_ids=rids,
                    subjects=subjects,
                    outcome="refused",
                    reason=e.code.value,
                )
            reason = "forbidden" if e.code in _REFUSALS else "rejected"
            item.rejection = Rejected(reason, f"{e.code.value}: {e}")
        except IntegrityError:
            item.outcome = "duplicate"  # another consumer applied it just now
        except _TRANSIENT:
            raise
        except Exception as exc:
            item.rejection = Rejected("error", type(exc).__name__)
        else:
            item.outcome = "applied"
            item.writes = list(recorded_writes(session)[start:])
            return
        raise _SetAside(item)

    async def _dead_letter(
        self, message: ConsumerRecord[Any, Any], r: Rejected, *, unread: bool = False
    ) -> None:
        """To the dead-letter topic; if the broker does not take it within DLQ_TIMEOUT_S, to
        the local table. Never retried forever: the caller commits the offset either way.
        `unread`: the message could not be fetched at all, so its size and hash are unknown
        (empty headers)."""
        value = message.value or b""
        size = message_size(message.value, message.key, message.headers)
        digest = hashlib.sha256(value).hexdigest()
        if unread:
            size, digest = 0, ""
        keep = r.reason != "too_large"  # a too large message is left out, headers and all
        headers = [
            (k, v) for k, v in (message.headers or ()) if keep and not k.startswith("hub.dlq.")
        ]
        headers += [
            ("hub.dlq.reason", r.reason.encode()),
            ("hub.dlq.detail", r.detail.encode()),
            ("hub.dlq.partner", self.partner.key.encode()),
            ("hub.dlq.topic", message.topic.encode()),
            ("hub.dlq.partition", str(message.partition).encode()),
            ("hub.dlq.offset", str(message.offset).encode()),
            ("hub.dlq.size", str(size).encode() if not unread else b""),
            ("hub.dlq.sha256", digest.encode()),
        ]
        try:
            async with asyncio.timeout(DLQ_TIMEOUT_S):
                producer = await self._dlq()
                await producer.send_and_wait(
                    kafka.DEADLETTER, value if keep else b"", key=message.key, headers=headers
                )
            where = kafka.DEADLETTER
        except Exception as exc:
            if self._dlq_reset is not None:
                with contextlib.suppress(Exception):
                    await self._dlq_reset()  # a fresh producer for the next one
            log.warning("dead-letter topic refused a message (%s)", type(exc).__name__)
            await self._store(message, r, size, digest, value if keep else None)
            where = "the dead_letter table"
        # Never the payload: it may hold personal data.
        log.warning(
            "dead-lettered %s[%d]@%d to %s: %s",
            message.topic,
            message.partition,
            message.offset,
            where,
            r.reason,
        )

    async def _store(
        self,
        message: ConsumerRecord[Any, Any],
        r: Rejected,
        size: int,
        digest: str,
        payload: bytes | None,
    ) -> None:
        letter = deadletters.Letter(
            partner=self.partner.key,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            reason=r.reason,
            detail=r.detail,
            size=size,
            sha256=digest,
            key=message.key,
            headers=list(message.headers or ()),
            payload=payload,
        )
        await retry(
            functools.partial(deadletters.store, self.hub.db, letter),
            attempts=DB_ATTEMPTS,
            retry_on=_TRANSIENT,
            backoff=Backoff(self.backoff_min_s, self.backoff_max_s),
        )
        self.stored_locally += 1
