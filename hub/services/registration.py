"""Registration of a sex worker (sekswerker) by the police at identity validation, where the
city's regime has police validation (hub/policy/regimes.py). The identity is encrypted with
a data key of the worker's own (hub/crypto.py).

One person, one record: a worker who registered themself where the regime is voluntary
(Ghent) and comes to work where the police validate identities (Antwerp) gives the police a
pairing code of the worker's own (hub/services/pairing.py); the police then register the
identity on that record (`register_with_pairing_code`) instead of making a second one. The
code is the worker's consent to the link: without it the police learn nothing of the
worker's earlier registration, and with it they learn only that the worker has a record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.crypto import Identity, Keyring
from hub.db import Database
from hub.errors import Code, HubError
from hub.models import DataKey, Pairing, Participation, SexWorker
from hub.models.enums import PairingStatus, ParticipationStatus
from hub.policy.regimes import Regime
from hub.services import codes
from hub.services.actor import Actor
from hub.services.base import (
    Command,
    authorize_new,
    emit,
    recorded_writes,
    text_rule,
    unit_of_work,
)

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DOCUMENT = re.compile(r"^[A-Z0-9-]{4,30}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _upper(value: str) -> str:
    return value.strip().upper()


class RegisterSexWorker(Command):
    working_name: Annotated[str, text_rule(80)]
    legal_name: Annotated[str, text_rule(200)]
    birth_date: date
    nationality: Annotated[str, AfterValidator(_upper)] = Field(max_length=8)
    document_number: Annotated[str, AfterValidator(_upper)] = Field(max_length=40)
    languages: list[str] = Field(default_factory=list, max_length=10)
    # A pairing code the worker gave: register on the worker's own record (below).
    pairing_code: str | None = Field(default=None, max_length=64)

    @field_validator("nationality")
    @classmethod
    def _nationality(cls, value: str) -> str:
        if not _COUNTRY.match(value):
            raise ValueError("must be an ISO 3166 alpha-2 code")
        return value

    @field_validator("document_number")
    @classmethod
    def _document(cls, value: str) -> str:
        if not _DOCUMENT.match(value):
            raise ValueError("must be 4-30 letters or digits")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        languages = [lang.strip().lower() for lang in value]
        if not all(LANGUAGE.match(lang) for lang in languages):
            raise ValueError("are ISO 639 codes such as nl, fr, ro")
        return languages


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _police_regime(actor: Actor) -> Regime:
    """The regime of the caller's city, which must have police validation."""
    if actor.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city to register in")
    actor.require_grant("SexWorker", "register")
    regime = actor.policies.regimes.of(actor.principal.city)
    if regime is None or not regime.police_validation:
        basis = f" ({regime.validation_basis})" if regime else ""
        raise HubError(
            Code.CONFLICT, f"{actor.principal.city} registers no identities with the police{basis}"
        )
    return regime


def _identity(actor: Actor, command: RegisterSexWorker) -> Identity:
    today = actor.now.date()
    if command.birth_date > today:
        raise HubError(Code.BAD_USER_INPUT, "birthDate lies in the future")
    if _age(command.birth_date, today) < 18:
        # A minor is never registered as a sex worker; the police follow the minors' procedure.
        raise HubError(Code.BAD_USER_INPUT, "a person under 18 cannot be registered")
    return Identity(
        legal_name=command.legal_name,
        birth_date=command.birth_date.isoformat(),
        nationality=command.nationality,
        document_number=command.document_number,
    )


async def register_sex_worker(
    *, session: AsyncSession, actor: Actor, command: RegisterSexWorker, keyring: Keyring
) -> SexWorker:
    regime = _police_regime(actor)
    identity = _identity(actor, command)
    worker = SexWorker(
        working_name=command.working_name,
        adult_verified=True,
        languages=command.languages,
        city=regime.city,
        registered_by_id=actor.principal.org_id,
    )
    data_key = keyring.new_data_key()
    worker.identity = keyring.encrypt(worker.id, data_key, identity)
    await authorize_new(
        session, actor, "SexWorker", "register", worker, "you may not register sex workers here"
    )
    session.add(DataKey(sex_worker_id=worker.id, wrapped_key=keyring.wrap(worker.id, data_key)))
    record_participation(session, worker, regime, "police", actor)
    await emit(session, actor, "be.hub.sex_worker.registered.v1", worker)
    return worker


WRONG_CODE = (
    "this pairing code is not valid (wrong, expired or used): ask the worker for a new one, "
    "or register the worker without one"
)


async def register_with_pairing_code(
    *,
    db: Database,
    actor: Actor,
    command: RegisterSexWorker,
    code: str,
    keyring: Keyring,
    on_commit: Callable[[], None] | None = None,
) -> SexWorker:
    """Register the identity on the record of the worker whose pairing code this is (a
    worker who registered themself under a voluntary regime), not on a new one.

    The worker keeps the working name the worker chose; the record moves to the police's
    city and gains the participation there. A wrong, expired or used code gets one answer
    (NOT_FOUND) and counts against the caller's tries, as when an operator redeems one; the
    guess is counted in a transaction of its own, and the code is checked again under a
    lock and consumed (deleted) with the registration. A record with an identity already
    is refused (CONFLICT): the police registered that worker before."""
    regime = _police_regime(actor)
    identity = _identity(actor, command)
    caller = codes.caller_digest(actor.principal, "registration")
    try:
        found = await codes.pending_pairing(db, caller, code, actor.now)
    except codes.GuessesExhausted:
        raise actor.deny(
            "register",
            "SexWorker",
            Code.RATE_LIMITED,
            "too many wrong pairing codes: try again in 15 minutes",
        ) from None
    if found is None:
        raise actor.deny("register", "SexWorker", Code.NOT_FOUND, WRONG_CODE)
    async with unit_of_work(db, actor, on_commit=on_commit) as session:
        pairing = (
            await session.execute(select(Pairing).where(col(Pairing.id) == found).with_for_update())
        ).scalar_one_or_none()
        if pairing is None or pairing.status != PairingStatus.PENDING.value:
            raise actor.deny("register", "SexWorker", Code.NOT_FOUND, WRONG_CODE)
        worker = (
            await session.execute(
                select(SexWorker)
                .where(col(SexWorker.id) == pairing.sex_worker_id)
                .with_for_update()
            )
        ).scalar_one()
        has_key = await session.get(DataKey, worker.id)
        if worker.identity is not None or has_key is not None:
            raise HubError(Code.CONFLICT, "this worker's identity is registered already")
        await session.delete(pairing)  # the code is used: it links nothing else, ever
        data_key = keyring.new_data_key()
        worker.identity = keyring.encrypt(worker.id, data_key, identity)
        worker.adult_verified = True
        worker.city = regime.city
        worker.languages = list(dict.fromkeys([*worker.languages, *command.languages]))
        await authorize_new(
            session, actor, "SexWorker", "register", worker, "you may not register sex workers here"
        )
        session.add(DataKey(sex_worker_id=worker.id, wrapped_key=keyring.wrap(worker.id, data_key)))
        here = (
            await session.execute(
                select(Participation).where(
                    col(Participation.sex_worker_id) == worker.id,
                    col(Participation.city) == regime.city,
                )
            )
        ).scalar_one_or_none()
        if here is None:
            record_participation(session, worker, regime, "police", actor)
        elif here.status != ParticipationStatus.ACTIVE.value:
            here.status, here.regime = ParticipationStatus.ACTIVE.value, regime.participation.value
            here.how, here.started_at, here.ended_at = "police", actor.now, None
            recorded_writes(session).append(
                ("write:register", "Participation", [here.id], [worker.id])
            )
        await emit(session, actor, "be.hub.sex_worker.registered.v1", worker)
    return worker


def record_participation(
    session: AsyncSession, worker: SexWorker, regime: Regime, how: str, actor: Actor
) -> Participation:
    """The participation that comes with a new worker record: written as part of the
    registration the policy allowed, and logged as a write of its own."""
    row = Participation(
        sex_worker_id=worker.id,
        city=regime.city,
        regime=regime.participation.value,
        how=how,
        status=ParticipationStatus.ACTIVE.value,
        started_at=actor.now,
    )
    session.add(row)
    recorded_writes(session).append(("write:register", "Participation", [row.id], [worker.id]))
    return row
