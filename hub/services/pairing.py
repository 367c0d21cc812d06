"""Pairing codes: a worker links an operator (or a recognised employer) of the worker's own
choosing, so that it may register shifts in advance for the worker without any police
step where the city's regime has none (no police validation: Ghent).

1. The worker makes a code (`create_pairing_code`): a one-time code of hub/services/codes.py
   (80 bits, shown once, stored as its SHA-256), valid for CODE_LIFETIME and at most
   MAX_PENDING waiting at once.
2. The worker gives it to the organisation, which redeems it (`redeem_pairing_code`) once:
   the pairing then links that organisation to the worker. A wrong, expired or used code
   gets one and the same answer, and each caller has codes.TRIES wrong tries per
   codes.WINDOW (then RATE_LIMITED, a right code too).
3. The paired organisation registers shifts for the worker on its own premises
   (`register_paired_shift`): no rental agreement to confirm and no police validation,
   only where the premises' city regime has no police validation and the worker takes part
   in that city; the certificate rule of the regime still holds.
4. The worker sees every pairing and revokes it (`revoke_pairing`): from the next request
   the organisation registers nothing more for the worker and no longer sees the worker's
   working name through the pairing.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.db import Database
from hub.errors import Code, HubError
from hub.models import Pairing, ShiftRegistration
from hub.models.enums import PairingStatus, ShiftStatus
from hub.services import codes
from hub.services.actor import Actor
from hub.services.base import authorize_existing, authorize_new, emit, unit_of_work
from hub.services.participation import takes_part
from hub.services.shifts import (
    LIVE_SHIFT,
    MAX_SHIFT,
    NOT_YOURS,
    REGISTRATION_GRACE,
    RegisterShift,
    _certificate_allows,
    _operated,
    _window,
    regime_of,
)

CODE_LIFETIME = timedelta(hours=24)
MAX_PENDING = 3
TOO_MANY_GUESSES = "too many wrong pairing codes: try again in 15 minutes"
WRONG_CODE = "this pairing code is not valid (wrong, expired or used): ask the worker for a new one"


async def create_pairing_code(*, session: AsyncSession, actor: Actor) -> tuple[Pairing, str]:
    """A new pairing code for the worker; the code is returned to be shown once."""
    worker = actor.principal.sex_worker_id
    actor.require_grant("Pairing", "create")
    if worker is None:
        raise actor.deny("create", "Pairing", Code.FORBIDDEN, "only a sex worker makes a code")
    waiting = (
        await session.execute(
            select(func.count())
            .select_from(Pairing)
            .where(
                col(Pairing.sex_worker_id) == worker,
                col(Pairing.status) == PairingStatus.PENDING.value,
                col(Pairing.expires_at) > actor.now,
            )
        )
    ).scalar_one()
    if waiting >= MAX_PENDING:
        raise HubError(
            Code.CONFLICT,
            f"{MAX_PENDING} codes are waiting already: withdraw one or let it expire",
        )
    code = codes.new_code()
    row = Pairing(
        sex_worker_id=worker,
        code_hash=codes.code_hash(code),
        status=PairingStatus.PENDING.value,
        created_at=actor.now,
        expires_at=actor.now + CODE_LIFETIME,
    )
    await authorize_new(session, actor, "Pairing", "create", row, "you may not make a code")
    return row, code


async def redeem_pairing_code(*, db: Database, actor: Actor, code: str) -> Pairing:
    """Link the caller's organisation to the worker whose code this is.

    The guess is counted in a transaction of its own, committed even when the code is
    refused; the link is made in a second one that checks the code again under a lock, so
    two organisations racing for one code cannot both have it."""
    actor.require_grant("Pairing", "redeem")
    caller = codes.caller_digest(actor.principal, "pairing")
    digest = codes.code_hash(code)
    try:
        found = await codes.pending_pairing(db, caller, code, actor.now)
    except codes.GuessesExhausted:
        raise actor.deny("redeem", "Pairing", Code.RATE_LIMITED, TOO_MANY_GUESSES) from None
    if found is None:
        raise actor.deny("redeem", "Pairing", Code.NOT_FOUND, WRONG_CODE)
    async with unit_of_work(db, actor) as session:
        row = (
            await session.execute(select(Pairing).where(col(Pairing.id) == found).with_for_update())
        ).scalar_one()
        if row.status != PairingStatus.PENDING.value or row.code_hash != digest:
            raise actor.deny("redeem", "Pairing", Code.NOT_FOUND, WRONG_CODE)
        org = actor.principal.org_id
        if await _paired(session, row.sex_worker_id, org):
            raise HubError(Code.CONFLICT, "your organisation is paired with this worker already")
        row.organisation_id = org
        row.status = PairingStatus.ACTIVE.value
        row.redeemed_at = actor.now
        row.code_hash = None  # single use, whatever happens next
        await authorize_new(session, actor, "Pairing", "redeem", row, "you may not redeem codes")
    return row


async def revoke_pairing(*, session: AsyncSession, actor: Actor, pairing_id: str) -> Pairing:
    """The worker ends a pairing (or withdraws a code not redeemed yet)."""
    row: Pairing = await authorize_existing(session, actor, "Pairing", "revoke", pairing_id)
    if row.status == PairingStatus.REVOKED.value:
        raise HubError(Code.CONFLICT, "this pairing is revoked already")
    row.status = PairingStatus.REVOKED.value
    row.revoked_at = actor.now
    row.code_hash = None
    return row


async def _paired(session: AsyncSession, sex_worker_id: str, org_id: str) -> bool:
    found = await session.execute(
        select(col(Pairing.id)).where(
            col(Pairing.sex_worker_id) == sex_worker_id,
            col(Pairing.organisation_id) == org_id,
            col(Pairing.status) == PairingStatus.ACTIVE.value,
        )
    )
    return found.first() is not None


async def register_paired_shift(
    *, session: AsyncSession, actor: Actor, command: RegisterShift
) -> ShiftRegistration:
    """A paired organisation registers, in advance, a shift of the worker on its own
    premises: no rental to confirm and no police step, where the regime has none."""
    actor.require_grant("ShiftRegistration", "register")
    start, end = command.starts_at, command.ends_at
    if end - start > MAX_SHIFT:
        raise HubError(Code.BAD_USER_INPUT, "a shift lasts at most 24 hours")
    if start < actor.now - REGISTRATION_GRACE:
        raise HubError(Code.BAD_USER_INPUT, "shifts are registered in advance, not afterwards")
    premises = await _operated(session, actor, "ShiftRegistration", "register", command)
    # An unpaired (or revoked) worker is refused exactly like an unknown one.
    if not await _paired(session, command.sex_worker_id, actor.principal.org_id):
        raise actor.deny("register", "ShiftRegistration", Code.FORBIDDEN, NOT_YOURS)
    regime = regime_of(actor, premises.city)
    if regime.police_validation:
        raise HubError(
            Code.CONFLICT,
            f"{regime.city} has police validation ({regime.validation_basis}): register the"
            " shift with registerShift, under a rental the worker confirmed",
        )
    if not await takes_part(session, command.sex_worker_id, regime.city):
        raise HubError(Code.CONFLICT, f"the worker does not take part in {regime.city}")
    row = ShiftRegistration(
        premises_id=premises.id,
        window=command.window,
        sex_worker_id=command.sex_worker_id,
        starts_at=start,
        ends_at=end,
        status=ShiftStatus.REGISTERED.value,
        registered_by_id=actor.principal.org_id,
    )
    await authorize_new(session, actor, "ShiftRegistration", "register", row, NOT_YOURS)
    _window(premises, command.window)
    if regime.needs_certificate(premises.kind):
        await _certificate_allows(session, premises.id, start, end)
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
