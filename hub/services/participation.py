"""One person across cities: a worker registers themself where the city's regime allows it,
and takes part in further cities without registering again.

Self-registration (`register_myself`) is for a person of the consoles who holds the
`sex_worker` role but no worker record yet: it creates the record under a working name
only (no identity, no legal name; adulthood declared, not verified) and the worker's
participation in the chosen city, and ties the record to the person, who then logs in
again to act as that worker. It is open only where the city's regime is voluntary and has
no police validation (Ghent); where the police validate identities (Antwerp) a worker is
registered by the police at identity validation (`registerSexWorker`), which records the
worker's participation there. An NGO cannot register a worker on the worker's behalf:
it would hold a link to a record the worker never saw, and a worker who has no record can
give no consent to it.

`join_city` adds a participation in another city for a worker who has a record (voluntary
regimes only; a compulsory regime is joined through the police there); `leave_city` ends
one. Each city's police see only the participations their city's policy lets them see
(policies/participation.yaml).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import Participation, SexWorker
from hub.models.enums import ParticipationStatus
from hub.models.people import Person
from hub.policy.regimes import Participation as RegimeKind
from hub.policy.regimes import Regime
from hub.services.actor import Actor
from hub.services.base import (
    Command,
    authorize_existing,
    authorize_new,
    emit,
    text_rule,
)
from hub.services.registration import LANGUAGE, record_participation

City = Annotated[str, text_rule(80)]


class RegisterMyself(Command):
    """A worker's own registration: a working name, never an identity."""

    working_name: Annotated[str, text_rule(80)]
    city: City
    confirms_adult: bool
    languages: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        languages = [lang.strip().lower() for lang in value]
        if not all(LANGUAGE.match(lang) for lang in languages):
            raise ValueError("are ISO 639 codes such as nl, fr, ro")
        return languages


class JoinCity(Command):
    city: City


def open_to_self_service(regime: Regime) -> bool:
    """Whether a worker takes part in this regime by themself: a voluntary regime without
    police validation."""
    return regime.participation is RegimeKind.VOLUNTARY and not regime.police_validation


def self_service_regime(actor: Actor, city: str) -> Regime:
    """The regime of `city` if a worker may take part in it by themself; else CONFLICT,
    saying where to go instead."""
    regime = actor.policies.regimes.of(city)
    if regime is None:
        raise HubError(Code.CONFLICT, f"{city} has no regime in the hub")
    if not open_to_self_service(regime):
        raise HubError(
            Code.CONFLICT,
            f"in {city} the police register workers at identity validation"
            f" ({regime.validation_basis}): register there, not here",
        )
    return regime


async def register_myself(
    *, session: AsyncSession, actor: Actor, command: RegisterMyself
) -> SexWorker:
    actor.require_grant("SexWorker", "register")
    p = actor.principal
    if p.sex_worker_id is not None:
        raise HubError(Code.CONFLICT, "you are registered already")
    if not command.confirms_adult:
        # A minor is never registered as a sex worker.
        raise HubError(Code.BAD_USER_INPUT, "confirmsAdult: only an adult registers")
    person = (
        await session.execute(
            select(Person)
            .where(
                col(Person.id) == p.subject,
                col(Person.organisation_id) == p.org_id,
                col(Person.disabled).is_(False),
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if person is None or "sex_worker" not in person.roles:
        raise actor.deny(
            "register",
            "SexWorker",
            Code.FORBIDDEN,
            "only a person of the hub's consoles registers themself",
        )
    if person.sex_worker_id is not None:
        raise HubError(Code.CONFLICT, "you are registered already: log in again")
    regime = self_service_regime(actor, command.city)
    worker = SexWorker(
        working_name=command.working_name,
        identity=None,
        adult_verified=False,
        languages=command.languages,
        city=regime.city,
        registered_by_id=p.org_id,
        created_at=actor.now,
    )
    await authorize_new(
        session, actor, "SexWorker", "register", worker, "you may not register yourself here"
    )
    record_participation(session, worker, regime, "self", actor)
    # The person acts as this worker from their next login: the token they hold names no
    # worker and is refused from now on (its epoch is behind), like after a new password.
    person.sex_worker_id = worker.id
    person.token_epoch += 1
    await emit(session, actor, "be.hub.sex_worker.registered.v1", worker)
    return worker


async def join_city(*, session: AsyncSession, actor: Actor, command: JoinCity) -> Participation:
    """Take part in another city's (voluntary) regime, or again in one the worker left."""
    worker = actor.principal.sex_worker_id
    actor.require_grant("Participation", "register")
    if worker is None:
        raise actor.deny("register", "Participation", Code.FORBIDDEN, "register yourself first")
    regime = self_service_regime(actor, command.city)
    found = (
        await session.execute(
            select(col(Participation.id), col(Participation.status)).where(
                col(Participation.sex_worker_id) == worker, col(Participation.city) == regime.city
            )
        )
    ).first()
    if found is not None:
        if found.status == ParticipationStatus.ACTIVE.value:
            raise HubError(Code.CONFLICT, f"you take part in {regime.city} already")
        row: Participation = await authorize_existing(
            session, actor, "Participation", "register", found.id
        )
        row.status = ParticipationStatus.ACTIVE.value
        row.regime = regime.participation.value
        row.started_at, row.ended_at = actor.now, None
        return row
    row = Participation(
        sex_worker_id=worker,
        city=regime.city,
        regime=regime.participation.value,
        how="self",
        status=ParticipationStatus.ACTIVE.value,
        started_at=actor.now,
    )
    await authorize_new(
        session, actor, "Participation", "register", row, "you may not take part here"
    )
    return row


async def leave_city(
    *, session: AsyncSession, actor: Actor, participation_id: str
) -> Participation:
    row: Participation = await authorize_existing(
        session, actor, "Participation", "end", participation_id
    )
    if row.status != ParticipationStatus.ACTIVE.value:
        raise HubError(Code.CONFLICT, "this participation has ended already")
    row.status = ParticipationStatus.ENDED.value
    row.ended_at = actor.now
    return row


async def takes_part(session: AsyncSession, sex_worker_id: str, city: str) -> bool:
    """Whether the worker takes part in `city`'s regime now."""
    found = await session.execute(
        select(col(Participation.id)).where(
            col(Participation.sex_worker_id) == sex_worker_id,
            col(Participation.city) == city,
            col(Participation.status) == ParticipationStatus.ACTIVE.value,
        )
    )
    return found.first() is not None
