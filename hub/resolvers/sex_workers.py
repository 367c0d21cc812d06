"""Sex workers: registration by the police at identity validation, and look-up by id."""

from __future__ import annotations

import re
from typing import Any

from strawberry.types import Info

from hub.crypto import Identity
from hub.errors import Code, HubError
from hub.models import DataKey, SexWorker
from hub.resolvers.reads import node_loader, selected
from hub.resolvers.writes import (
    authorize_existing,
    authorize_new,
    emit,
    read_back,
    text,
    transaction,
)
from hub.retention import Requester, UnknownSexWorker, erase_identity
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.types import SEX_WORKER

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DOCUMENT = re.compile(r"^[A-Z0-9-]{4,30}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


async def get_sex_worker(info: Info, sex_worker_id: str) -> Any:
    ctx: Context = info.context
    ctx.require_grant("SexWorker", "read")
    return await node_loader(ctx, SEX_WORKER, "id", selected(info)).load(sex_worker_id)


def _age(birth: Any, today: Any) -> int:
    return int(today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day)))


async def register_sex_worker(info: Info, data: inputs.RegisterSexWorkerInput) -> Any:
    ctx: Context = info.context
    if ctx.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city to register in")
    working_name = text(data.working_name, "workingName", max_len=80)
    legal_name = text(data.legal_name, "legalName", max_len=200)
    nationality = data.nationality.strip().upper()
    document = data.document_number.strip().upper()
    if not _COUNTRY.match(nationality):
        raise HubError(Code.BAD_USER_INPUT, "nationality must be an ISO 3166 alpha-2 code")
    if not _DOCUMENT.match(document):
        raise HubError(Code.BAD_USER_INPUT, "documentNumber must be 4-30 letters or digits")
    languages = [lang.strip().lower() for lang in data.languages]
    if len(languages) > 10 or not all(_LANGUAGE.match(lang) for lang in languages):
        raise HubError(Code.BAD_USER_INPUT, "languages are ISO 639 codes such as nl, fr, ro")
    today = ctx.now.date()
    if data.birth_date > today:
        raise HubError(Code.BAD_USER_INPUT, "birthDate lies in the future")
    if _age(data.birth_date, today) < 18:
        # A minor is never registered as a sex worker; the police follow the minors' procedure.
        raise HubError(Code.BAD_USER_INPUT, "a person under 18 cannot be registered")
    identity = Identity(
        legal_name=legal_name,
        birth_date=data.birth_date.isoformat(),
        nationality=nationality,
        document_number=document,
    )
    keyring = ctx.hub.keyring
    async with transaction(ctx) as session:
        worker = SexWorker(
            working_name=working_name,
            adult_verified=True,
            languages=languages,
            city=ctx.principal.city,
            registered_by_id=ctx.principal.org_id,
        )
        data_key = keyring.new_data_key()
        worker.identity = keyring.encrypt(worker.id, data_key, identity)
        await authorize_new(
            session, ctx, "SexWorker", "register", worker, "you may not register sex workers here"
        )
        session.add(DataKey(sex_worker_id=worker.id, wrapped_key=keyring.wrap(worker.id, data_key)))
        await emit(session, ctx, "be.hub.sex_worker.registered.v1", worker)
    return await read_back(info, SEX_WORKER, worker.id, "register")


async def erase(info: Info, sex_worker_id: str) -> bool:
    """Destroy her data key: her identity becomes unreadable everywhere, for good; working
    name and history stay as anonymous history. True if erased now, false if already."""
    ctx: Context = info.context
    async with transaction(ctx) as session:
        await authorize_existing(session, ctx, "SexWorker", "erase", sex_worker_id)
    try:
        return await erase_identity(
            ctx.hub.db,
            ctx.hub.audit,
            sex_worker_id=sex_worker_id,
            requested_by=Requester.from_principal(
                ctx.principal,
                purpose=ctx.purpose,
                operation="eraseIdentity",
                reason="GDPR art. 17 request",
            ),
            now=ctx.now,
            policy_version=ctx.policies.resource_version("SexWorker"),
        )
    except UnknownSexWorker:
        raise HubError(Code.NOT_FOUND, f"no sex worker {sex_worker_id}") from None
