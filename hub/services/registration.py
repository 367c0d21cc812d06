"""Registration of a sex worker (sekswerker) by the police at identity validation, where the
city's regime has police validation (hub/policy/regimes.py). The identity is encrypted with
a data key of the worker's own (hub/crypto.py)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from hub.crypto import Identity, Keyring
from hub.errors import Code, HubError
from hub.models import DataKey, SexWorker
from hub.services.actor import Actor
from hub.services.base import Command, authorize_new, emit, text_rule

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DOCUMENT = re.compile(r"^[A-Z0-9-]{4,30}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _upper(value: str) -> str:
    return value.strip().upper()


class RegisterSexWorker(Command):
    working_name: Annotated[str, text_rule(80)]
    legal_name: Annotated[str, text_rule(200)]
    birth_date: date
    nationality: Annotated[str, AfterValidator(_upper)] = Field(max_length=8)
    document_number: Annotated[str, AfterValidator(_upper)] = Field(max_length=40)
    languages: list[str] = Field(default_factory=list, max_length=10)

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
        if not all(_LANGUAGE.match(lang) for lang in languages):
            raise ValueError("are ISO 639 codes such as nl, fr, ro")
        return languages


def _age(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


async def register_sex_worker(
    *, session: AsyncSession, actor: Actor, command: RegisterSexWorker, keyring: Keyring
) -> SexWorker:
    if actor.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city to register in")
    actor.require_grant("SexWorker", "register")
    regime = actor.policies.regimes.of(actor.principal.city)
    if regime is None or not regime.police_validation:
        basis = f" ({regime.validation_basis})" if regime else ""
        raise HubError(
            Code.CONFLICT, f"{actor.principal.city} registers no identities with the police{basis}"
        )
    today = actor.now.date()
    if command.birth_date > today:
        raise HubError(Code.BAD_USER_INPUT, "birthDate lies in the future")
    if _age(command.birth_date, today) < 18:
        # A minor is never registered as a sex worker; the police follow the minors' procedure.
        raise HubError(Code.BAD_USER_INPUT, "a person under 18 cannot be registered")
    identity = Identity(
        legal_name=command.legal_name,
        birth_date=command.birth_date.isoformat(),
        nationality=command.nationality,
        document_number=command.document_number,
    )
    worker = SexWorker(
        working_name=command.working_name,
        adult_verified=True,
        languages=command.languages,
        city=actor.principal.city,
        registered_by_id=actor.principal.org_id,
    )
    data_key = keyring.new_data_key()
    worker.identity = keyring.encrypt(worker.id, data_key, identity)
    await authorize_new(
        session, actor, "SexWorker", "register", worker, "you may not register sex workers here"
    )
    session.add(DataKey(sex_worker_id=worker.id, wrapped_key=keyring.wrap(worker.id, data_key)))
    await emit(session, actor, "be.hub.sex_worker.registered.v1", worker)
    return worker
