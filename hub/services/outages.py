"""Outages of the hub, as an operator of the hub records them (`hub outage add`).

A recorded outage lets the shifts that started during it be registered late
(hub/services/shifts.py). An outage is validated (a period of at most OUTAGE_MAX that has
ended, a reason of plain text) and its recording is written to the access log; it holds no
personal data.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from hub.audit.log import AuditLog, AuditRecord
from hub.db import Database
from hub.models import Outage
from hub.services.base import clean_text

# An outage longer than this is not an outage the hub can vouch for: record it in parts.
OUTAGE_MAX = timedelta(days=7)


class OutageRefused(ValueError):
    """An outage that cannot be recorded, with the reason."""


def check_outage(starts_at: datetime, ends_at: datetime, reason: str, now: datetime) -> str:
    """The cleaned reason, or OutageRefused."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise OutageRefused("give the start and the end with their time zone (e.g. +01:00 or Z)")
    if ends_at <= starts_at:
        raise OutageRefused("the end must be after the start")
    if ends_at - starts_at > OUTAGE_MAX:
        raise OutageRefused(f"an outage lasts at most {OUTAGE_MAX.days} days: record it in parts")
    if ends_at > now:
        raise OutageRefused("record an outage once it has ended")
    try:
        return clean_text(reason, max_len=300)
    except ValueError as exc:
        raise OutageRefused(f"reason {exc}") from None


async def record_outage(
    db: Database,
    audit: AuditLog,
    *,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    recorded_by: str,
    now: datetime,
) -> Outage:
    """Record an outage (OutageRefused if invalid or overlapping a recorded one)."""
    reason = check_outage(starts_at, ends_at, reason, now)
    async with db.session() as session, session.begin():
        overlap = await session.execute(
            select(col(Outage.id)).where(
                col(Outage.starts_at) < ends_at, col(Outage.ends_at) > starts_at
            )
        )
        if overlap.first() is not None:
            raise OutageRefused("a recorded outage overlaps this period")
        row = Outage(
            starts_at=starts_at,
            ends_at=ends_at,
            reason=reason,
            recorded_by=recorded_by[:200],
            recorded_at=now,
        )
        session.add(row)
    await audit.append(
        [
            AuditRecord(
                at=now,
                action="outage:record",
                resource="Outage",
                subject=recorded_by[:200],
                operation="outageAdd",
                record_ids=[row.id],
                outcome="allowed",
                reason=f"{starts_at.isoformat()} to {ends_at.isoformat()}",
            )
        ]
    )
    return row


async def list_outages(db: Database) -> list[Outage]:
    async with db.session() as session:
        rows = await session.execute(select(Outage).order_by(col(Outage.starts_at).desc()))
        return list(rows.scalars().all())
