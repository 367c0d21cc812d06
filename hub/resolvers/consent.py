"""Consents (toestemmingen): a sex worker grants an organisation access for one purpose,
and revokes it; a revocation applies to the very next request (rules with
`requires_consent: true` test for a live consent inside their SQL filter)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.models import Consent, Organisation
from hub.models.enums import OrganisationKind
from hub.policy.resources import RESOURCES
from hub.policy.vocabulary import PURPOSES
from hub.resolvers.reads import select_nodes, selected
from hub.resolvers.writes import authorize_existing, authorize_new, emit, read_back, transaction
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.types import CONSENT

# Consent is given to public bodies and NGOs, never to an operator.
GRANTEE_KINDS = (
    OrganisationKind.POLICE.value,
    OrganisationKind.NGO.value,
    OrganisationKind.CITY.value,
)


async def my_consents(info: Info) -> list[Any]:
    ctx: Context = info.context
    grant = ctx.require_grant("Consent", "read")
    pairs = await select_nodes(
        ctx, CONSENT, grant, selected(info), order=[col(Consent.granted_at).desc()], limit=500
    )
    return [n for _r, n in pairs]


async def grant_consent(info: Info, data: inputs.ConsentInput) -> Any:
    ctx: Context = info.context
    worker = ctx.principal.sex_worker_id
    if worker is None:
        raise ctx.deny("grant", "Consent", Code.FORBIDDEN, "only a sex worker grants consent")
    if data.purpose not in PURPOSES:
        raise HubError(Code.BAD_USER_INPUT, f"unknown purpose {data.purpose!r}")
    scope = data.scope or "*"
    if scope != "*" and (scope not in RESOURCES or not RESOURCES[scope].holds_sex_worker_data):
        raise HubError(Code.BAD_USER_INPUT, "scope is * or a resource that holds your data")
    async with transaction(ctx) as session:
        kind = (
            await session.execute(
                select(col(Organisation.kind)).where(col(Organisation.id) == data.grantee_id)
            )
        ).scalar_one_or_none()
        if kind not in GRANTEE_KINDS:
            raise HubError(Code.BAD_USER_INPUT, "granteeId names no police, city or NGO")
        live = await session.execute(
            select(col(Consent.id)).where(
                col(Consent.sex_worker_id) == worker,
                col(Consent.grantee_id) == data.grantee_id,
                col(Consent.purpose) == data.purpose,
                col(Consent.scope) == scope,
                col(Consent.revoked_at).is_(None),
            )
        )
        if live.first() is not None:
            raise HubError(Code.CONFLICT, "this consent is already live")
        row = Consent(
            sex_worker_id=worker,
            grantee_id=data.grantee_id,
            purpose=data.purpose,
            scope=scope,
            granted_at=ctx.now,
        )
        await authorize_new(session, ctx, "Consent", "grant", row, "you may not grant consent")
        await emit(session, ctx, "be.hub.consent.granted.v1", row)
    return await read_back(info, CONSENT, row.id, "grant")


async def revoke_consent(info: Info, consent_id: str) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await authorize_existing(session, ctx, "Consent", "revoke", consent_id)
        if row.revoked_at is not None:
            raise HubError(Code.CONFLICT, "this consent is already revoked")
        row.revoked_at = ctx.now
        await emit(session, ctx, "be.hub.consent.revoked.v1", row)
    return await read_back(info, CONSENT, consent_id, "revoke")
