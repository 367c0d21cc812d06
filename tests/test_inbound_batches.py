"""The event connectors' batch transactions on PostgreSQL: planned for their own values
(hub/events/plans.py), without changing the pooled connection for anyone else."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from hub.db import Database, PoolLimits
from hub.events.plans import custom_plans
from tests.conftest import Templates, require_backend


async def _modes(url: str) -> list[str]:
    # One connection, as the hub's connections are set up (plan each statement once).
    db = Database(url, limits=PoolLimits(size=1, overflow=0, plan_cache_mode="force_generic_plan"))
    show = text("SHOW plan_cache_mode")
    seen = []
    try:
        async with db.sessions() as session, session.begin():
            await custom_plans(session)
            seen.append((await session.execute(show)).scalar_one())
        async with db.sessions() as session:  # the same connection, back in the pool
            seen.append((await session.execute(show)).scalar_one())
        with pytest.raises(RuntimeError):
            async with db.sessions() as session, session.begin():
                await custom_plans(session)
                seen.append((await session.execute(show)).scalar_one())
                raise RuntimeError("rolled back")
        async with db.sessions() as session:
            seen.append((await session.execute(show)).scalar_one())
    finally:
        await db.dispose()
    return seen


def test_a_batch_transaction_plans_for_its_values_and_leaves_the_connection_as_it_was(
    templates: Templates,
) -> None:
    require_backend("postgresql")
    url = templates.new_url("postgresql")
    try:
        modes = asyncio.run(_modes(url))
    finally:
        templates.drop(url)
    assert modes == ["force_custom_plan", "force_generic_plan"] * 2
