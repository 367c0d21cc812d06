"""The city's administrative measures (bestuurlijke maatregelen) and their procedure."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.crypto import Keyring
from hub.errors import Code, HubError
from hub.models import Measure, MeasureTransition, SexWorker
from hub.models.enums import MeasureKind, MeasureStatus, MeasureTargetKind
from hub.services.actor import Actor
from hub.services.base import Command, Id, authorize_existing, authorize_new, emit, text_rule
from hub.services.inspections import premises_in_city

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


class OpenMeasure(Command):
    """Exactly one target: the premises, a worker, or a client or third party by name, who
    is then said to be a client or another third party (`person_role`)."""

    kind: MeasureKind
    premises_id: Id | None = None
    sex_worker_id: Id | None = None
    person_name: Annotated[str, text_rule(200)] | None = None
    person_role: MeasureTargetKind | None = None
    amount_cents: int | None = Field(default=None, gt=0, le=100_000_000)

    @model_validator(mode="after")
    def _amount(self) -> OpenMeasure:
        targets = (self.premises_id, self.sex_worker_id, self.person_name)
        if sum(t is not None for t in targets) != 1:
            raise ValueError(
                "a measure has exactly one target: premisesId, sexWorkerId or personName"
            )
        people = (MeasureTargetKind.CLIENT, MeasureTargetKind.OTHER_PERSON)
        if self.person_name is not None and self.person_role not in people:
            raise ValueError(
                "a measure against a named person says who the person is: personRole "
                "CLIENT or OTHER_PERSON"
            )
        if self.person_name is None and self.person_role is not None:
            raise ValueError("personRole goes with personName only")
        if self.kind is MeasureKind.FINE and self.amount_cents is None:
            raise ValueError("a fine needs a positive amountCents")
        if self.kind is not MeasureKind.FINE and self.amount_cents is not None:
            raise ValueError("only a fine has an amount")
        return self

    @property
    def target_kind(self) -> MeasureTargetKind:
        if self.premises_id is not None:
            return MeasureTargetKind.PREMISES
        if self.sex_worker_id is not None:
            return MeasureTargetKind.SEX_WORKER
        assert self.person_role is not None  # checked above
        return self.person_role


class AdvanceMeasure(Command):
    status: MeasureStatus
    note: Annotated[str, text_rule(1000, multiline=True)] | None = None


async def _sex_worker(session: AsyncSession, sex_worker_id: str | None) -> str | None:
    if sex_worker_id is None:
        return None
    found = await session.scalar(
        select(col(SexWorker.id)).where(col(SexWorker.id) == sex_worker_id)
    )
    if found is None:
        raise HubError(Code.BAD_USER_INPUT, "sexWorkerId names no worker")
    return sex_worker_id


async def open_measure(
    *, session: AsyncSession, actor: Actor, command: OpenMeasure, keyring: Keyring
) -> Measure:
    city = actor.city()
    row = Measure(
        kind=command.kind.value,
        city=city,
        premises_id=await premises_in_city(session, command.premises_id, city),
        target_sex_worker_id=await _sex_worker(session, command.sex_worker_id),
        target_kind=command.target_kind.value,
        status=MeasureStatus.OPENED.value,
        amount_cents=command.amount_cents,
        org_id=actor.principal.org_id,
        opened_at=actor.now,
        updated_at=actor.now,
    )
    if command.person_name is not None:
        # Sealed under a data key of its own, like an identity; never stored in clear.
        row.target_name_key, row.target_name = keyring.seal_name(row.id, command.person_name)
    await authorize_new(session, actor, "Measure", "open", row, "you may not open measures here")
    session.add(
        MeasureTransition(
            measure_id=row.id, to_status=row.status, at=actor.now, by_org_id=actor.principal.org_id
        )
    )
    await emit(session, actor, "be.hub.measure.opened.v1", row)
    return row


async def advance_measure(
    *, session: AsyncSession, actor: Actor, measure_id: str, command: AdvanceMeasure
) -> Measure:
    target = command.status.value
    row: Measure = await authorize_existing(session, actor, "Measure", "advance", measure_id)
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
            note=command.note,
            at=actor.now,
            by_org_id=actor.principal.org_id,
        )
    )
    row.status = target
    row.updated_at = actor.now
    decided = target == MeasureStatus.DECIDED.value
    await emit(
        session,
        actor,
        "be.hub.measure.decided.v1" if decided else "be.hub.measure.advanced.v1",
        row,
    )
    return row
