"""Premises, suitability certificates, rental agreements and the pandkalender (shifts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.models import Certificate, Premises, RentalAgreement, SexWorker, ShiftRegistration
from hub.models.enums import CertificateStatus, ShiftStatus
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
from hub.schema.types import CERTIFICATE, PREMISES, RENTAL_AGREEMENT, SHIFT

MAX_SHIFT = timedelta(hours=24)
REGISTRATION_GRACE = timedelta(hours=1)  # the pandkalender is filled in before the shift
LIVE_SHIFT = (ShiftStatus.REGISTERED.value, ShiftStatus.VALIDATED.value)


async def list_premises(info: Info, city: str | None, first: int | None, after: str | None) -> Any:
    conditions = [Premises.city == city] if city else []
    return await fetch_page(
        info,
        PREMISES,
        conditions=conditions,
        order=[("city", False), ("address", False)],
        first=first,
        after=after,
    )


async def list_shifts(
    info: Info,
    premises_id: str | None,
    start: datetime | None,
    end: datetime | None,
    first: int | None,
    after: str | None,
) -> Any:
    conditions: list[Any] = []
    if premises_id:
        conditions.append(ShiftRegistration.premises_id == premises_id)
    if start:
        conditions.append(col(ShiftRegistration.ends_at) > aware(start, "from"))
    if end:
        conditions.append(col(ShiftRegistration.starts_at) < aware(end, "to"))
    return await fetch_page(
        info, SHIFT, conditions=conditions, order=[("starts_at", False)], first=first, after=after
    )


async def list_rental_agreements(
    info: Info, premises_id: str | None, first: int | None, after: str | None
) -> Any:
    conditions = [RentalAgreement.premises_id == premises_id] if premises_id else []
    return await fetch_page(
        info,
        RENTAL_AGREEMENT,
        conditions=conditions,
        order=[("starts_at", False)],
        first=first,
        after=after,
    )


def _period(starts_at: datetime, ends_at: datetime) -> tuple[datetime, datetime]:
    start, end = aware(starts_at, "startsAt"), aware(ends_at, "endsAt")
    if end <= start:
        raise HubError(Code.BAD_USER_INPUT, "endsAt must be after startsAt")
    return start, end


async def _premises(session: Any, premises_id: str, *, lock: bool = False) -> Premises:
    stmt = select(Premises).where(col(Premises.id) == premises_id)
    if lock:
        # Serialises registrations per premises, so two cannot overlap on PostgreSQL.
        stmt = stmt.with_for_update()
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise HubError(Code.NOT_FOUND, f"no premises {premises_id}")
    return found


def _window(premises: Premises, window: int) -> None:
    if not 1 <= window <= premises.windows:
        raise HubError(
            Code.BAD_USER_INPUT,
            f"window must be between 1 and {premises.windows} on these premises",
        )


async def _sex_worker_exists(session: Any, sex_worker_id: str) -> None:
    stmt = select(col(SexWorker.id)).where(col(SexWorker.id) == sex_worker_id)
    if (await session.execute(stmt)).first() is None:
        raise HubError(Code.NOT_FOUND, f"no sex worker {sex_worker_id}")


async def record_rental_agreement(info: Info, data: inputs.RentalAgreementInput) -> Any:
    ctx: Context = info.context
    start, end = _period(data.starts_at, data.ends_at)
    async with transaction(ctx) as session:
        premises = await _premises(session, data.premises_id)
        await _sex_worker_exists(session, data.sex_worker_id)
        row = RentalAgreement(
            premises_id=premises.id,
            window=data.window,
            sex_worker_id=data.sex_worker_id,
            starts_at=start,
            ends_at=end,
            recorded_by_id=ctx.principal.org_id,
        )
        await authorize_new(
            session,
            ctx,
            "RentalAgreement",
            "record",
            row,
            "these premises are not operated by your organisation",
        )
        _window(premises, data.window)
        await emit(session, ctx, "be.hub.rental.recorded.v1", row)
    return await read_back(info, RENTAL_AGREEMENT, row.id, "record")


async def confirm_rental_agreement(info: Info, agreement_id: str) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await authorize_existing(session, ctx, "RentalAgreement", "confirm", agreement_id)
        if row.confirmed:
            raise HubError(Code.CONFLICT, "this rental agreement is already confirmed")
        row.confirmed = True
        row.confirmed_at = ctx.now
        await emit(session, ctx, "be.hub.rental.confirmed.v1", row)
    return await read_back(info, RENTAL_AGREEMENT, agreement_id, "confirm")


async def register_shift(info: Info, data: inputs.ShiftInput) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await apply_shift(ctx, session, data)
    return await read_back(info, SHIFT, row.id, "register")


async def apply_shift(ctx: Context, session: Any, data: inputs.ShiftInput) -> ShiftRegistration:
    """The workflow of registering a shift, inside the caller's transaction: for the
    GraphQL mutation and for an operator's tool on its Kafka inbox alike."""
    ctx.require_grant("ShiftRegistration", "register")
    start, end = _period(data.starts_at, data.ends_at)
    if end - start > MAX_SHIFT:
        raise HubError(Code.BAD_USER_INPUT, "a shift lasts at most 24 hours")
    if start < ctx.now - REGISTRATION_GRACE:
        raise HubError(Code.BAD_USER_INPUT, "shifts are registered in advance, not afterwards")
    premises = await _premises(session, data.premises_id, lock=True)
    await _sex_worker_exists(session, data.sex_worker_id)
    row = ShiftRegistration(
        premises_id=premises.id,
        window=data.window,
        sex_worker_id=data.sex_worker_id,
        starts_at=start,
        ends_at=end,
        status=ShiftStatus.REGISTERED.value,
        registered_by_id=ctx.principal.org_id,
    )
    await authorize_new(
        session,
        ctx,
        "ShiftRegistration",
        "register",
        row,
        "these premises are not operated by your organisation",
    )
    _window(premises, data.window)
    await _certificate_allows(session, premises.id, start, end)
    row.rental_agreement_id = await _confirmed_rental(session, row)
    overlap = await session.execute(
        select(col(ShiftRegistration.id)).where(
            col(ShiftRegistration.premises_id) == premises.id,
            col(ShiftRegistration.window) == data.window,
            col(ShiftRegistration.id) != row.id,
            col(ShiftRegistration.status).in_(LIVE_SHIFT),
            col(ShiftRegistration.starts_at) < end,
            col(ShiftRegistration.ends_at) > start,
        )
    )
    if overlap.first() is not None:
        raise HubError(Code.CONFLICT, "another shift is registered on this window in that period")
    await emit(session, ctx, "be.hub.shift.registered.v1", row)
    return row


async def _certificate_allows(
    session: Any, premises_id: str, start: datetime, end: datetime
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


async def _confirmed_rental(session: Any, shift: ShiftRegistration) -> str:
    covering = (
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


async def cancel_shift(info: Info, shift_id: str) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await authorize_existing(session, ctx, "ShiftRegistration", "cancel", shift_id)
        if row.status not in LIVE_SHIFT:
            raise HubError(Code.CONFLICT, f"a {row.status} shift cannot be cancelled")
        if row.ends_at <= ctx.now:
            raise HubError(Code.CONFLICT, "this shift has already ended")
        row.status = ShiftStatus.CANCELLED.value
        await emit(session, ctx, "be.hub.shift.cancelled.v1", row)
    return await read_back(info, SHIFT, shift_id, "cancel")


async def validate_shift(info: Info, shift_id: str, data: inputs.ValidationInput) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await authorize_existing(session, ctx, "ShiftRegistration", "validate", shift_id)
        if row.status != ShiftStatus.REGISTERED.value:
            raise HubError(Code.CONFLICT, f"a {row.status} shift cannot be validated")
        ok = data.identity_checked and data.adult_verified
        row.status = (ShiftStatus.VALIDATED if ok else ShiftStatus.REFUSED).value
        row.validated_at = ctx.now
        row.validated_by_id = ctx.principal.org_id
        row.adult_verified_on_site = data.adult_verified
        if ok:
            worker = await session.get(SexWorker, row.sex_worker_id)
            assert worker is not None
            worker.adult_verified = True
        await emit(session, ctx, "be.hub.shift.validated.v1", row)
    return await read_back(info, SHIFT, shift_id, "validate")


async def set_certificate_status(
    info: Info,
    premises_id: str,
    status: CertificateStatus,
    reason: str,
    valid_until: date | None,
) -> Any:
    ctx: Context = info.context
    reason = text(reason, "reason", max_len=1000)
    today = ctx.now.date()
    status_value = CertificateStatus(status).value
    async with transaction(ctx) as session:
        premises = await _premises(session, premises_id)
        existing = (
            await session.execute(
                select(col(Certificate.id)).where(col(Certificate.premises_id) == premises.id)
            )
        ).scalar_one_or_none()
        if existing is None:
            if status_value != CertificateStatus.GRANTED.value:
                raise HubError(Code.CONFLICT, "these premises hold no certificate to change")
            cert = Certificate(
                premises_id=premises.id,
                status=status_value,
                valid_from=today,
                valid_until=today,
                decision=reason,
                decided_by_id=ctx.principal.org_id,
            )
            await authorize_new(
                session,
                ctx,
                "Certificate",
                "set_status",
                cert,
                "these premises are outside your organisation's remit",
            )
        else:
            cert = await authorize_existing(session, ctx, "Certificate", "set_status", existing)
            if cert.status == status_value:
                raise HubError(Code.CONFLICT, f"the certificate is already {status_value}")
        if status_value == CertificateStatus.GRANTED.value:
            until = valid_until or today + timedelta(days=365)
            if until <= today:
                raise HubError(Code.BAD_USER_INPUT, "validUntil must be in the future")
            cert.valid_from, cert.valid_until = today, until
        elif valid_until is not None:
            raise HubError(Code.BAD_USER_INPUT, "validUntil is only given when granting")
        if status_value == CertificateStatus.EXPIRED.value:
            cert.valid_until = min(cert.valid_until, today)
        cert.status = status_value
        cert.decision = reason
        cert.decided_at = ctx.now
        cert.decided_by_id = ctx.principal.org_id
        cert_id = cert.id
        await emit(session, ctx, "be.hub.certificate.status_changed.v1", cert)
    return await read_back(info, CERTIFICATE, cert_id, "set_status")
