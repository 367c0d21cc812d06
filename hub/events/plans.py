"""Custom plans for the batch statements of the event connectors, on PostgreSQL.

The hub's connections plan each prepared statement once (`plan_cache_mode =
force_generic_plan`, HUB_PG_PLAN_CACHE_MODE): right for its fixed, small statements. It is
wrong for a batch's `id IN ($1, ..., $1000)`: the generic plan is made at the statement's
first use on a connection, often while the table is nearly empty, and it checks each row
against the list one value after another (a list of parameters is never hashed). The
inbound policy check and the relay's projection then read every row of the city's
inspections and compare each with a thousand ids: 0.15 s at 4,000 rows, 0.5 s at 10,000,
growing with the table. A custom plan sees the values, hashes the list and takes 1–2 ms.
So each connector transaction that runs such statements switches to custom plans for
itself alone (SET LOCAL: it ends with the transaction); a statement or two of planning per
batch is nothing beside a thousand events.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

_CUSTOM = text("SET LOCAL plan_cache_mode = force_custom_plan")


async def custom_plans(session: Any) -> None:
    """For the rest of `session`'s transaction (which this begins if none is open), on
    PostgreSQL: plan each statement for its own values. Nothing on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_CUSTOM)
