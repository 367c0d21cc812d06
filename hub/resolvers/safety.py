"""Police inspections (controles) and the city's administrative measures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.models import Inspection, Measure, MeasureTransition, Premises
from hub.models.enums import Branch, InspectionOutcome, MeasureKind, MeasureStatus
from hub.resolvers.reads import fetch_page
from hub.resolvers.writes import (
    authorize_existing,
    authorize_new,
    aware,
    emit,
    read_back,
    text,
    transaction,
)
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.types import INSPECTION, MEASURE

# The procedure of an administrative measure; anything else is refused.
TRANSITIONS: dict[str, frozenset[str]] = {
    MeasureStatus.OPENED.value: frozenset({MeasureStatus.HEARING.value}),
    MeasureStatus.HEARING.value: frozenset({MeasureStatus.DECIDED.value}),
    MeasureStatus.DECIDED.value: frozenset(
        {MeasureStatus.APPEALED.value, MeasureStatus.EXECUTED.value}
    ),
    MeasureStatus.APPEALED.value: frozenset({MeasureStatus.DECIDED.value}),
    MeasureStatus.EXECUTED.value: frozenset(),
}


async def list_inspections(
    info: Info,
    city: str | None,
    branch: Branch | None,
    start: datetime | None,
    end: datetime | None,
    first: int | None,
    after: str | None,
) -> Any:
    conditions: list[Any] = []
    if city:
        conditions.append(Inspection.city == city)
    if branch:
        conditions.append(Inspection.branch == Branch(branch).value)
    if start:
        conditions.append(col(Inspection.occurred_at) >= aware(start, "from"))
    if end:
        conditions.append(col(Inspection.occurred_at) < aware(end, "to"))
    return await fetch_page(
        info,
        INSPECTION,
        conditions=conditions,
        order=[("occurred_at", True)],
        first=first,
        after=after,
    )


async def list_measures(
    info: Info, city: str | None, status: MeasureStatus | None, first: int | None, after: str | None
) -> Any:
    conditions: list[Any] = []
    if city:
        conditions.append(Measure.city == city)
    if status:
        conditions.append(Measure.status == MeasureStatus(status).value)
    return await fetch_page(
        info, MEASURE, conditions=conditions, order=[("opened_at", True)], first=first, after=after
    )


async def _premises_in_city(session: Any, premises_id: str | None, city: str) -> str | None:
    if premises_id is None:
        return None
    found = (
        await session.execute(select(col(Premises.city)).where(col(Premises.id) == premises_id))
    ).scalar_one_or_none()
    if found is None or found != city:
        raise HubError(Code.BAD_USER_INPUT, "premisesId names no premises in your city")
    return premises_id


def _city(ctx: Context) -> str:
    if ctx.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city")
    return ctx.principal.city


async def record_inspection(info: Info, data: inputs.InspectionInput) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await apply_inspection(ctx, session, data)
    return await read_back(info, INSPECTION, row.id, "record")


async def apply_inspection(ctx: Context, session: Any, data: inputs.InspectionInput) -> Inspection:
    """The workflow of recording an inspection, inside the caller's transaction: for the
    GraphQL mutation and for a police system's event on its Kafka inbox alike."""
    city = _city(ctx)
    occurred = aware(data.occurred_at, "occurredAt")
    if occurred > ctx.now:
        raise HubError(Code.BAD_USER_INPUT, "occurredAt lies in the future")
    counts = (data.persons_checked, data.administrative_arrests, data.judicial_arrests)
    if min(counts) < 0 or max(counts) > 1000:
        raise HubError(Code.BAD_USER_INPUT, "counts must be between 0 and 1000")
    if data.administrative_arrests + data.judicial_arrests > data.persons_checked:
        raise HubError(Code.BAD_USER_INPUT, "more arrests than persons checked")
    row = Inspection(
        city=city,
        zone=text(data.zone, "zone", max_len=80) if data.zone else None,
        branch=Branch(data.branch).value,
        premises_id=await _premises_in_city(session, data.premises_id, city),
        occurred_at=occurred,
        persons_checked=data.persons_checked,
        outcome=InspectionOutcome(data.outcome).value,
        administrative_arrests=data.administrative_arrests,
        judicial_arrests=data.judicial_arrests,
        hidden_form=data.hidden_form,
        proactive=data.proactive,
        police_org_id=ctx.principal.org_id,
    )
    await authorize_new(
        session, ctx, "Inspection", "record", row, "you may not record inspections here"
    )
    await emit(session, ctx, "be.hub.inspection.recorded.v1", row)
    return row


async def open_measure(info: Info, data: inputs.MeasureInput) -> Any:
    ctx: Context = info.context
    city = _city(ctx)
    kind = MeasureKind(data.kind).value
    if kind == MeasureKind.FINE.value:
        if data.amount_cents is None or not 0 < data.amount_cents <= 100_000_000:
            raise HubError(Code.BAD_USER_INPUT, "a fine needs a positive amountCents")
    elif data.amount_cents is not None:
        raise HubError(Code.BAD_USER_INPUT, "only a fine has an amount")
    async with transaction(ctx) as session:
        row = Measure(
            kind=kind,
            city=city,
            premises_id=await _premises_in_city(session, data.premises_id, city),
            target=text(data.target, "target", max_len=200),
            status=MeasureStatus.OPENED.value,
            amount_cents=data.amount_cents,
            org_id=ctx.principal.org_id,
            opened_at=ctx.now,
            updated_at=ctx.now,
        )
        await authorize_new(session, ctx, "Measure", "open", row, "you may not open measures here")
        session.add(
            MeasureTransition(
                measure_id=row.id, to_status=row.status, at=ctx.now, by_org_id=ctx.principal.org_id
            )
        )
        await emit(session, ctx, "be.hub.measure.opened.v1", row)
    return await read_back(info, MEASURE, row.id, "open")


async def advance_measure(
    info: Info, measure_id: str, status: MeasureStatus, note: str | None
) -> Any:
    ctx: Context = info.context
    target = MeasureStatus(status).value
    async with transaction(ctx) as session:
        row = await authorize_existing(session, ctx, "Measure", "advance", measure_id)
        allowed = TRANSITIONS[row.status]
        if target not in allowed:
            options = ", ".join(sorted(allowed)) or "none: the procedure is closed"
            raise HubError(
                Code.CONFLICT, f"a measure cannot go from {row.status} to {target}; next: {options}"
            )
        session.add(
            MeasureTransition(
                measure_id=row.id,
                from_status=row.status,
                to_status=target,
                note=text(note, "note", max_len=1000) if note else None,
                at=ctx.now,
                by_org_id=ctx.principal.org_id,
            )
        )
        row.status = target
        row.updated_at = ctx.now
        await emit(
            session,
            ctx,
            "be.hub.measure.decided.v1" if target == "decided" else "be.hub.measure.advanced.v1",
            row,
        )
    return await read_back(info, MEASURE, measure_id, "advance")
