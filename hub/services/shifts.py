"""Rental agreements (afspraken) and the pandkalender: shift registrations by the operator,
confirmed rentals, cancellation and on-site validation by the police.

Each city's regime (hub/policy/regimes.py) decides what applies there: shifts are
registered in advance only where advance registration applies; a suitability certificate
is required only for the kinds of premises the regime lists; the police validate on site
only where police validation applies, and only during the shift (within the regime's
tolerance). A city without a regime has none of these workflows.

Late registration: a shift is registered before it starts (within REGISTRATION_GRACE).
After an outage of the hub, recorded by an operator of the hub (`hub outage add`: start,
end, reason), a shift whose start falls within the outage may be registered late, citing
the outage (`lateAfterOutage`), until LATE_AFTER_OUTAGE after the outage ended; the shift
keeps the outage it cites. Every other rule applies as for a shift registered in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import (
    Certificate,
    Outage,
    Premises,
    RentalAgreement,
    SexWorker,
    ShiftRegistration,
)
from hub.models.enums import CertificateStatus, OrganisationKind, RentPeriod, ShiftStatus
from hub.policy.regimes import Regime
from hub.services import employment
from hub.services.actor import Actor
from hub.services.base import Command, Id, Moment, authorize_existing, authorize_new, emit

MAX_SHIFT = timedelta(hours=24)
REGISTRATION_GRACE = timedelta(hours=1)  # the pandkalender is filled in before the shift
# How long after a recorded outage ended the shifts that started during it may be registered.
LATE_AFTER_OUTAGE = timedelta(days=3)
LIVE_SHIFT = (ShiftStatus.REGISTERED.value, ShiftStatus.VALIDATED.value)


class _Period(Command):
    premises_id: Id
    window: int = Field(ge=1, le=1000)
    sex_worker_id: Id
    starts_at: Moment
    ends_at: Moment

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.ends_at <= self.starts_at:
            raise ValueError("endsAt must be after startsAt")
        return self


MAX_RENT_CENTS = 100_000_000  # EUR 1 000 000: anything above is a typing error


class RecordRental(_Period):
    """An operator records that a worker rents a window for a period, with its rent terms
    (euro cents; EUR is the only currency): the rent per period and the deposit."""

    rent_cents: int | None = Field(default=None, ge=0, le=MAX_RENT_CENTS)
    rent_period: RentPeriod | None = None
    deposit_cents: int | None = Field(default=None, ge=0, le=MAX_RENT_CENTS)
    currency: Literal["EUR"] | None = None

    @model_validator(mode="after")
    def _rent_terms(self) -> RecordRental:
        if (self.rent_cents is None) != (self.rent_period is None):
            raise ValueError("rentCents and rentPeriod are given together")
        if self.deposit_cents is not None and self.rent_cents is None:
            raise ValueError("a deposit is given with the rent")
        return self


class RegisterShift(_Period):
    """An operator registers, in advance, who works in which window when; or late, for a
    shift that started during a recorded outage of the hub (`late_after_outage`)."""

    late_after_outage: bool = False


class ValidateShift(Command):
    """What the police established on site."""

    identity_checked: bool
    adult_verified: bool


async def _premises(session: AsyncSession, premises_id: str, *, lock: bool = False) -> Premises:
    stmt = select(Premises).where(col(Premises.id) == premises_id)
    if lock:
        # Serialises registrations per premises, so two cannot overlap on PostgreSQL.
        stmt = stmt.with_for_update()
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise HubError(Code.NOT_FOUND, "no such premises")
    return found


def regime_of(actor: Actor, city: str | None) -> Regime:
    """The regime of `city`, or CONFLICT: the hub imposes no regime on a city."""
    regime = actor.policies.regimes.of(city)
    if regime is None:
        raise HubError(Code.CONFLICT, f"{city or 'this city'} has no regime in the hub")
    return regime


def _window(premises: Premises, window: int) -> None:
    if not 1 <= window <= premises.windows:
        raise HubError(
            Code.BAD_USER_INPUT,
            f"window must be between 1 and {premises.windows} on these premises",
        )


NOT_YOURS = "these premises are not operated by your organisation, or an id is unknown"


async def _operated(
    session: AsyncSession, actor: Actor, resource: str, action: str, command: _Period
) -> Premises:
    """The premises of a new rental or shift, once the caller is known to be allowed: no
    grant is FORBIDDEN before any id is looked at, and unknown premises or an unknown
    worker are refused exactly like premises of another operator (no id oracle)."""
    actor.require_grant(resource, action)
    stmt = select(Premises).where(col(Premises.id) == command.premises_id).with_for_update()
    premises = (await session.execute(stmt)).scalar_one_or_none()
    worker = select(col(SexWorker.id)).where(col(SexWorker.id) == command.sex_worker_id)
    if premises is None or (await session.execute(worker)).first() is None:
        raise actor.deny(action, resource, Code.FORBIDDEN, NOT_YOURS)
    return premises


async def record_rental_agreement(
    *, session: AsyncSession, actor: Actor, command: RecordRental
) -> RentalAgreement:
    premises = await _operated(session, actor, "RentalAgreement", "record", command)
    row = RentalAgreement(
        premises_id=premises.id,
        window=command.window,
        sex_worker_id=command.sex_worker_id,
        starts_at=command.starts_at,
        ends_at=command.ends_at,
        recorded_by_id=actor.principal.org_id,
        rent_cents=command.rent_cents,
        rent_period=command.rent_period.value if command.rent_period else None,
        deposit_cents=command.deposit_cents,
        currency="EUR" if command.rent_cents is not None else None,
    )
    await authorize_new(
        session,
        actor,
        "RentalAgreement",
        "record",
        row,
        NOT_YOURS,
    )
    _window(premises, command.window)
    # A rental holds its window exclusively (serialised by the premises lock).
    overlap = await session.execute(
        select(col(RentalAgreement.id)).where(
            col(RentalAgreement.premises_id) == premises.id,
            col(RentalAgreement.window) == command.window,
            col(RentalAgreement.id) != row.id,
            col(RentalAgreement.starts_at) < command.ends_at,
            col(RentalAgreement.ends_at) > command.starts_at,
        )
    )
    if overlap.first() is not None:
        raise HubError(Code.CONFLICT, "this window is already rented in that period")
    await emit(session, actor, "be.hub.rental.recorded.v1", row)
    return row


async def confirm_rental_agreement(
    *, session: AsyncSession, actor: Actor, agreement_id: str
) -> RentalAgreement:
    row: RentalAgreement = await authorize_existing(
        session, actor, "RentalAgreement", "confirm", agreement_id
    )
    if row.confirmed:
        raise HubError(Code.CONFLICT, "this rental agreement is already confirmed")
    row.confirmed = True
    row.confirmed_at = actor.now
    await emit(session, actor, "be.hub.rental.confirmed.v1", row)
    return row


async def register_shift(
    *, session: AsyncSession, actor: Actor, command: RegisterShift
) -> ShiftRegistration:
    """For the GraphQL mutation and for an operator's tool on its Kafka inbox alike."""
    actor.require_grant("ShiftRegistration", "register")
    start, end = command.starts_at, command.ends_at
    if end - start > MAX_SHIFT:
        raise HubError(Code.BAD_USER_INPUT, "a shift lasts at most 24 hours")
    outage_id = None
    if start < actor.now - REGISTRATION_GRACE:
        if not command.late_after_outage:
            raise HubError(Code.BAD_USER_INPUT, "shifts are registered in advance, not afterwards")
        outage_id = await _outage_covering(session, start, actor.now)
    premises = await _operated(session, actor, "ShiftRegistration", "register", command)
    regime = regime_of(actor, premises.city)
    if not regime.advance_registration:
        raise HubError(
            Code.CONFLICT,
            f"{regime.city} registers no shifts in advance ({regime.registration_basis})",
        )
    row = ShiftRegistration(
        premises_id=premises.id,
        window=command.window,
        sex_worker_id=command.sex_worker_id,
        starts_at=start,
        ends_at=end,
        status=ShiftStatus.REGISTERED.value,
        registered_by_id=actor.principal.org_id,
        outage_id=outage_id,
    )
    await authorize_new(
        session,
        actor,
        "ShiftRegistration",
        "register",
        row,
        NOT_YOURS,
    )
    _window(premises, command.window)
    if await _employee_shift(session, actor, row):
        await _employee_rules(session, regime, premises, row)
    else:
        if regime.needs_certificate(premises.kind):
            await _certificate_allows(session, premises.id, start, end)
        row.rental_agreement_id = await _confirmed_rental(session, row)
    overlap = await session.execute(
        select(col(ShiftRegistration.id)).where(
            col(ShiftRegistration.premises_id) == premises.id,
            col(ShiftRegistration.window) == command.window,
            col(ShiftRegistration.id) != row.id,
            col(ShiftRegistration.status).in_(LIVE_SHIFT),
            col(ShiftRegistration.starts_at) < end,
            col(ShiftRegistration.ends_at) > start,
        )
    )
    if overlap.first() is not None:
        raise HubError(Code.CONFLICT, "another shift is registered on this window in that period")
    await emit(session, actor, "be.hub.shift.registered.v1", row)
    return row


async def _outage_covering(session: AsyncSession, start: datetime, now: datetime) -> str:
    """The recorded outage during which `start` falls and that ended at most
    LATE_AFTER_OUTAGE ago, or BAD_USER_INPUT: late registration needs one."""
    found = (
        await session.execute(
            select(col(Outage.id))
            .where(
                col(Outage.starts_at) <= start,
                col(Outage.ends_at) > start,
                col(Outage.ends_at) >= now - LATE_AFTER_OUTAGE,
            )
            .order_by(col(Outage.starts_at))
            .limit(1)
        )
    ).scalar_one_or_none()
    if found is None:
        raise HubError(
            Code.BAD_USER_INPUT,
            "no recorded outage of the hub covers the start of this shift (or it ended more"
            f" than {LATE_AFTER_OUTAGE.days} days ago): shifts are registered in advance",
        )
    return str(found)


async def _employee_shift(session: AsyncSession, actor: Actor, shift: ShiftRegistration) -> bool:
    """Whether the shift is an employer's for its own employee (labour law of 2024): the
    caller's organisation is an employer, recognised now, employing the worker on every day
    of the shift. An employer whose recognition is missing, suspended or withdrawn
    registers no shift at all (FORBIDDEN)."""
    if actor.principal.org_kind != OrganisationKind.EMPLOYER.value:
        return False
    await employment.require_recognised(session, actor, "register", "ShiftRegistration")
    first, last = shift.starts_at.astimezone(UTC).date(), shift.ends_at.astimezone(UTC).date()
    return await employment.employs(
        session, actor.principal.org_id, shift.sex_worker_id, first, last
    )


async def _employee_rules(
    session: AsyncSession, regime: Regime, premises: Premises, shift: ShiftRegistration
) -> None:
    """An employee's shift, under the regime's `employment` rules: a certificate only for
    the kinds of premises it lists, a confirmed rental only where employees need one."""
    if regime.employee_needs_certificate(premises.kind):
        await _certificate_allows(session, premises.id, shift.starts_at, shift.ends_at)
    if regime.employees_need_rental:
        shift.rental_agreement_id = await _confirmed_rental(session, shift)


async def _certificate_allows(
    session: AsyncSession, premises_id: str, start: datetime, end: datetime
) -> None:
    cert = (
        await session.execute(
            select(Certificate).where(col(Certificate.premises_id) == premises_id)
        )
    ).scalar_one_or_none()
    if cert is None:
        raise HubError(Code.CONFLICT, "these premises hold no suitability certificate")
    if cert.status != CertificateStatus.GRANTED.value:
        raise HubError(Code.CONFLICT, f"the suitability certificate is {cert.status}")
    first_day, last_day = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    if not (cert.valid_from <= first_day and last_day <= cert.valid_until):
        raise HubError(
            Code.CONFLICT, "the suitability certificate is expired or not valid for that period"
        )


async def _confirmed_rental(session: AsyncSession, shift: ShiftRegistration) -> str:
    covering: Any = (
        await session.execute(
            select(col(RentalAgreement.id), col(RentalAgreement.confirmed))
            .where(
                col(RentalAgreement.premises_id) == shift.premises_id,
                col(RentalAgreement.window) == shift.window,
                col(RentalAgreement.sex_worker_id) == shift.sex_worker_id,
                col(RentalAgreement.starts_at) <= shift.starts_at,
                col(RentalAgreement.ends_at) >= shift.ends_at,
            )
            .order_by(col(RentalAgreement.confirmed).desc())
        )
    ).first()
    if covering is None:
        raise HubError(
            Code.CONFLICT, "no rental agreement with this worker covers this window and period"
        )
    if not covering.confirmed:
        raise HubError(Code.CONFLICT, "the worker has not confirmed the rental agreement yet")
    return str(covering.id)


async def cancel_shift(*, session: AsyncSession, actor: Actor, shift_id: str) -> ShiftRegistration:
    row: ShiftRegistration = await authorize_existing(
        session, actor, "ShiftRegistration", "cancel", shift_id
    )
    if row.status not in LIVE_SHIFT:
        raise HubError(Code.CONFLICT, f"a {row.status} shift cannot be cancelled")
    if row.ends_at <= actor.now:
        raise HubError(Code.CONFLICT, "this shift has already ended")
    row.status = ShiftStatus.CANCELLED.value
    await emit(session, actor, "be.hub.shift.cancelled.v1", row)
    return row


async def validate_shift(
    *, session: AsyncSession, actor: Actor, shift_id: str, command: ValidateShift
) -> ShiftRegistration:
    row: ShiftRegistration = await authorize_existing(
        session, actor, "ShiftRegistration", "validate", shift_id
    )
    if row.status != ShiftStatus.REGISTERED.value:
        raise HubError(Code.CONFLICT, f"a {row.status} shift cannot be validated")
    premises = await _premises(session, row.premises_id)
    regime = regime_of(actor, premises.city)
    if not regime.police_validation:
        raise HubError(
            Code.CONFLICT, f"{regime.city} has no police validation ({regime.validation_basis})"
        )
    tolerance = regime.validation_tolerance
    if not row.starts_at - tolerance <= actor.now <= row.ends_at + tolerance:
        raise HubError(
            Code.CONFLICT,
            "a shift is validated on site while it takes place"
            f" (from {int(tolerance.total_seconds() // 60)} minutes before its start"
            " to as long after its end)",
        )
    ok = command.identity_checked and command.adult_verified
    row.status = (ShiftStatus.VALIDATED if ok else ShiftStatus.REFUSED).value
    row.validated_at = actor.now
    row.validated_by_id = actor.principal.org_id
    row.adult_verified_on_site = command.adult_verified
    if ok:
        worker = await session.get(SexWorker, row.sex_worker_id)
        assert worker is not None
        worker.adult_verified = True
    await emit(session, actor, "be.hub.shift.validated.v1", row)
    return row
