"""The database side of the event connectors, on SQLite and PostgreSQL: quiet when idle (on
PostgreSQL a commit on one replica wakes the outbox readers of the others through
LISTEN/NOTIFY, hub/notify.py, so they need not poll fast), and the local dead-letter
table as its migration makes it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.events import hub as event_hub
from tests.test_subscriptions import _inspect


def _wait(predicate: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_another_replicas_commit_wakes_this_one_on_postgresql(hub):
    replica = create_app(hub.app.state.settings)
    with TestClient(replica):
        events = replica.state.hub.events
        if hub.backend != "postgresql":
            assert not events.listening  # SQLite has no channel: the tail polls
            return
        _wait(lambda: events.listening, 10, "the replica to listen")
        wakeup = events._wakeup
        assert wakeup is not None
        before, position = wakeup.notifications, events.position
        started = time.monotonic()
        _inspect(hub)  # a commit on the first replica
        _wait(lambda: wakeup.notifications > before, 5, "the notification")
        # Woken, the replica's tail reads the event long before its idle poll would.
        _wait(lambda: events.position > position, 5, "the tail")
        assert time.monotonic() - started < event_hub.IDLE_POLL_S


@pytest.mark.parametrize("url", ["postgresql+asyncpg://u:p@h/db", "sqlite+aiosqlite:///x.db"])
def test_only_postgresql_has_the_channel(url: str) -> None:
    from hub.notify import supported

    assert supported(url) is url.startswith("postgresql")


def test_the_dead_letter_table_matches_its_model(hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with hub.db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    mine = [d for d in hub.run(diffs()) if "dead_letter" in repr(d)]
    assert mine == []


def test_the_relay_projects_a_batch_for_a_partner_in_one_query_per_resource(hub):
    """Projecting a pass of the outbox for a partner costs the same statements for 3 events
    as for 12: one query per resource and purpose, never one per event."""
    from pathlib import Path

    from sqlalchemy import select
    from sqlmodel import col

    from hub.connectors.partners import Directory, load_partners
    from hub.models import OutboxEvent

    made = [_inspect(hub) for _ in range(12)]
    state = hub.app.state.hub
    partners = load_partners(Path(__file__).resolve().parent.parent / "policies")
    city = next(p for p in partners if p.key == "antwerp_city_enforcement")
    directory = Directory(hub.db, partners)
    principal = hub.run(directory.principal(city))
    assert principal is not None

    async def events() -> list[Any]:
        async with hub.db.session() as s:
            rows = (
                await s.execute(
                    select(col(OutboxEvent.envelope)).where(col(OutboxEvent.record_id).in_(made))
                )
            ).all()
        return [r[0] for r in rows]

    batch = hub.run(events())
    assert len(batch) == 12
    seal = state.ids.for_audience(principal.audience)
    counts, seen = {}, {}
    for n in (3, 12):
        hub.count_statements()
        projected = hub.run(
            state.projector.project_many(batch[:n], principal, "enforcement", state.policies, seal)
        )
        counts[n] = len(hub.statements)
        seen[n] = [p for p in projected if p is not None]
    # One query; on PostgreSQL after switching to custom plans for the batch's IN list
    # (hub/events/plans.py).
    assert counts[3] == counts[12] == (2 if hub.backend == "postgresql" else 1), hub.statements
    assert len(seen[12]) == 12  # Antwerp's inspections: the city may see each of them
    assert {seal.unseal(p["subject"]) for p in seen[12]} == set(made)


def test_a_partition_batch_is_one_transaction_one_log_append_and_the_bad_event_alone(hub):
    """InboundConsumer.process on one partition's batch (as Kafka hands it over): every good
    event applied once in one committed transaction (the bad event set aside), one
    access-log append, and only the bad event dead-lettered."""
    import json
    import uuid
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from aiokafka.structs import ConsumerRecord
    from sqlalchemy import func, select
    from sqlmodel import col

    from hub.connectors.inbound import InboundConsumer
    from hub.connectors.partners import Directory, load_partners
    from hub.models import InboxEvent

    state = hub.app.state.hub
    partners = load_partners(Path(__file__).resolve().parent.parent / "policies")
    police = next(p for p in partners if p.key == "antwerp_police")
    parked: list[bytes] = []

    class Parking:
        async def send_and_wait(self, topic: str, value: bytes, **_: Any) -> None:
            parked.append(value)

    async def dlq() -> Any:
        return Parking()

    consumer = InboundConsumer(
        hub.app.state.settings, state, Directory(hub.db, partners), police, dlq
    )

    def event(**extra: Any) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "urn:police:antwerp:rms",
            "type": "be.hub.inspection.recorded.v1",
            "data": {
                "branch": "window",
                "occurredAt": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
                "outcome": "none",
                "personsChecked": 1,
            },
            **extra,
        }

    good = [event() for _ in range(6)]
    bad = event(purpose="care")  # not the police partner's purpose: refused in the batch
    batch = [*good[:3], bad, *good[3:], good[0]]
    records = [
        ConsumerRecord(
            topic=str(police.inbox),
            partition=0,
            offset=i,
            timestamp=0,
            timestamp_type=0,
            key=b"k",
            value=json.dumps(e).encode(),
            checksum=None,
            serialized_key_size=1,
            serialized_value_size=0,
            headers=[],
        )
        for i, e in enumerate(batch)
    ]
    appends: list[int] = []
    append = state.audit.append

    async def counted(entries: list[Any]) -> None:
        appends.append(len(entries))
        await append(entries)

    state.audit.append = counted
    try:
        outcomes = hub.run(consumer.process(records))
    finally:
        state.audit.append = append
    assert outcomes == ["applied"] * 3 + ["forbidden"] + ["applied"] * 3 + ["duplicate"]
    assert parked == [records[3].value]  # the bad one alone
    assert consumer.batches == 1
    assert len(appends) == 1 and appends[0] >= 6  # one append: the writes and the refusal

    async def applied() -> int:
        ids = [f"antwerp_police/{e['id']}" for e in good]
        async with hub.db.session() as s:
            stmt = select(func.count()).select_from(InboxEvent)
            return int(
                (await s.execute(stmt.where(col(InboxEvent.event_id).in_(ids)))).scalar_one()
            )

    assert hub.run(applied()) == 6
    # Again, whole (a partner's retry): nothing new applied, the bad one parked again.
    again = hub.run(consumer.process(records))
    assert again == ["duplicate"] * 3 + ["forbidden"] + ["duplicate"] * 4
    assert hub.run(applied()) == 6


def test_an_ngo_inbox_checks_client_refs_against_the_ngo_own_pattern():
    """A care contact through Kafka meets the same client reference rule as through
    GraphQL: the NGO's own pattern when it has one (HUB_CLIENT_REF_PATTERNS), else the
    default that refuses anything shaped like a name."""
    import re

    from hub.connectors.inbound import INBOUND, Envelope, Rejected, parse_data

    kind = INBOUND["be.hub.care_contact.batch_recorded.v1"]

    def envelope(ref: str) -> Envelope:
        contact = {
            "client_ref": ref,
            "contact_date": "2026-11-30",
            "kind": "medical",
            "location": "fixed",
            "branch": "window",
        }
        return Envelope.model_validate(
            {
                "specversion": "1.0",
                "id": "e-1",
                "source": "urn:ngo:test:crm",
                "type": "be.hub.care_contact.batch_recorded.v1",
                "time": "2026-11-30T10:00:00Z",
                "purpose": "care",
                "data": {"contacts": [contact]},
            }
        )

    own = re.compile(r"GH-\d{4}")
    assert parse_data(envelope("GH-0042"), kind, None, own)
    with pytest.raises(Rejected) as refused:
        parse_data(envelope("CASE-2026-17"), kind, None, own)
    assert refused.value.reason == "invalid_data"
    assert parse_data(envelope("CASE-2026-17"), kind, None)  # the default takes it
    with pytest.raises(Rejected):
        parse_data(envelope("Eline Vandamme"), kind, None)  # a name, by default


def _police_inbox(hub: Any) -> tuple[Any, list[bytes]]:
    """The Antwerp police's InboundConsumer on this hub, its dead letters parked in a list."""
    from pathlib import Path

    from hub.connectors.inbound import InboundConsumer
    from hub.connectors.partners import Directory, load_partners

    partners = load_partners(Path(__file__).resolve().parent.parent / "policies")
    police = next(p for p in partners if p.key == "antwerp_police")
    parked: list[bytes] = []

    class Parking:
        async def send_and_wait(self, topic: str, value: bytes, **_: Any) -> None:
            parked.append(value)

    async def dlq() -> Any:
        return Parking()

    state = hub.app.state.hub
    return InboundConsumer(
        hub.app.state.settings, state, Directory(hub.db, partners), police, dlq
    ), parked


def _inspection_records(
    events: list[dict[str, Any]],
    *,
    first_offset: int = 0,
    topic: str = "partner.antwerp_police.inbox",
) -> list[Any]:
    import json

    from aiokafka.structs import ConsumerRecord

    return [
        ConsumerRecord(
            topic=topic,
            partition=0,
            offset=first_offset + i,
            timestamp=0,
            timestamp_type=0,
            key=b"k",
            value=json.dumps(e).encode(),
            checksum=None,
            serialized_key_size=1,
            serialized_value_size=0,
            headers=[],
        )
        for i, e in enumerate(events)
    ]


def _police_event(minutes_ago: float = 5, **data: Any) -> dict[str, Any]:
    import uuid
    from datetime import UTC, datetime, timedelta

    body = {
        "branch": "window",
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "outcome": "pv",
        "personsChecked": 3,
        "administrativeArrests": 1,
        **data,
    }
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:police:antwerp:rms",
        "type": "be.hub.inspection.recorded.v1",
        "data": body,
    }


def test_a_batch_of_valid_inbound_events_costs_the_same_statements_for_3_as_for_60(hub):
    """The fast path: a partition batch of valid inspections is applied with a fixed number
    of statements (one look-up of applied event ids, one INSERT of the inspections, one
    policy check, one INSERT into the outbox, one into the inbox, and the access-log
    append), not a number growing with the batch."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from hub.models import AccessLogEntry, Inspection, OutboxEvent

    consumer, parked = _police_inbox(hub)
    counts = {}
    # A first batch looks up the partner's organisation (then cached): not counted.
    assert hub.run(consumer.process(_inspection_records([_police_event()]))) == ["applied"]
    offset = 1
    for n in (3, 60):
        records = _inspection_records([_police_event() for _ in range(n)], first_offset=offset)
        offset += n
        hub.count_statements()
        outcomes = hub.run(consumer.process(records))
        counts[n] = len(hub.statements)
        assert outcomes == ["applied"] * n
    assert counts[3] == counts[60] <= 12, hub.statements
    assert parked == []
    assert consumer.applied == 64 and consumer.batches == 3

    async def facts() -> tuple[int, list[Any], int]:
        async with hub.db.session() as s:
            inspections = (
                await s.execute(select(func.count()).select_from(Inspection))
            ).scalar_one()
            events = (
                await s.execute(
                    select(col(OutboxEvent.envelope))
                    .where(col(OutboxEvent.type) == "be.hub.inspection.recorded.v1")
                    .order_by(col(OutboxEvent.seq))
                )
            ).all()
            logged = (
                await s.execute(
                    select(col(AccessLogEntry.record_ids)).where(
                        col(AccessLogEntry.operation) == "kafka:partner.antwerp_police.inbox",
                        col(AccessLogEntry.action) == "write:record",
                    )
                )
            ).all()
        return int(inspections), [r[0] for r in events], sum(len(r[0]) for r in logged)

    before, _, _ = hub.run(facts())
    one = _inspect(hub)  # through GraphQL, one at a time: the reference
    inspections, events, logged = hub.run(facts())
    assert inspections == before + 1
    assert logged == 64  # every write in the access log, under the partner's organisation
    reference = next(e for e in events if e["subject"] == one)
    batch = [e for e in events[-65:] if e["subject"] != one]
    assert len(batch) == 64
    # The same event as the workflow makes one at a time: same attributes, same fields.
    for e in batch:
        assert set(e) == set(reference) and set(e["data"]) == set(reference["data"])
        assert e["data"]["city"] == reference["data"]["city"]
        assert e["data"]["police_org_id"] == reference["data"]["police_org_id"]
        assert e["purpose"] == reference["purpose"] and e["id"] != e["subject"]


def test_a_batch_with_a_refused_event_falls_back_to_one_at_a_time_with_the_same_reasons(hub):
    """When the fast path refuses a batch (one inspection dated in the future, another naming
    premises outside the police's city), nothing of it is kept and the batch is applied one
    event at a time: the two get the workflow's reason (`rejected`), the others are applied
    exactly once; events applied before are duplicates, on the fast path as on the slow."""
    from sqlalchemy import func, select

    from hub.models import Inspection, Premises

    consumer, parked = _police_inbox(hub)
    seen_before = [_police_event() for _ in range(4)]
    assert hub.run(consumer.process(_inspection_records(seen_before))) == ["applied"] * 4

    async def inspections() -> int:
        async with hub.db.session() as s:
            return int((await s.execute(select(func.count()).select_from(Inspection))).scalar_one())

    start = hub.run(inspections())
    # Seen before, mixed with new ones: the fast path, the old ones skipped.
    fresh = [_police_event() for _ in range(3)]
    outcomes = hub.run(
        consumer.process(_inspection_records([*seen_before[:2], *fresh], first_offset=4))
    )
    assert outcomes == ["duplicate"] * 2 + ["applied"] * 3
    assert consumer.batches == 2 and hub.run(inspections()) == start + 3

    future = _police_event(minutes_ago=-60)
    city = hub.run(consumer.directory.principal(consumer.partner)).city

    async def premises_elsewhere() -> str:
        async with hub.db.session() as s:
            stmt = select(Premises.id).where(Premises.city != city).limit(1)
            return str((await s.execute(stmt)).scalar_one())

    # Sealed for the police, as the police would have been given it.
    audience = hub.run(consumer.directory.principal(consumer.partner)).audience
    other = hub.app.state.hub.ids.for_audience(audience).seal(hub.run(premises_elsewhere()))
    elsewhere = _police_event(premisesId=other)
    offset = 9
    for bad in (future, elsewhere):  # each alone in its batch
        good = [_police_event() for _ in range(4)]
        batch = [good[0], bad, *good[1:], fresh[0]]
        outcomes = hub.run(consumer.process(_inspection_records(batch, first_offset=offset)))
        offset += len(batch)
        assert outcomes == ["applied", "rejected", "applied", "applied", "applied", "duplicate"]
    assert len(parked) == 2
    assert hub.run(inspections()) == start + 3 + 8
