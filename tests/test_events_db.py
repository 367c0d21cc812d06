"""The database side of the event connectors, on SQLite and PostgreSQL: quiet when idle (on
PostgreSQL a commit on one replica wakes the outbox readers of the others through
LISTEN/NOTIFY, hub/events/wakeup.py, so they need not poll fast), and the local dead-letter
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
    from hub.events.wakeup import supported

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
    assert counts[3] == counts[12] == 1
    assert len(seen[12]) == 12  # Antwerp's inspections: the city may see each of them
    assert {seal.unseal(p["subject"]) for p in seen[12]} == set(made)
