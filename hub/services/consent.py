"""Consents (toestemmingen): a sex worker grants an organisation access for one purpose,
and revokes it; a revocation applies to the very next request (rules with
`requires_consent: true` test for a live consent inside their SQL filter)."""

from __future__ import annotations

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import Consent, Organisation
from hub.models.enums import OrganisationKind
from hub.policy.resources import RESOURCES
from hub.policy.vocabulary import PURPOSES
from hub.services.actor import Actor
from hub.services.base import Command, Id, authorize_existing, authorize_new, emit

# Consent is given to public bodies and NGOs, never to an operator.
GRANTEE_KINDS = (
    OrganisationKind.POLICE.value,
    OrganisationKind.NGO.value,
    OrganisationKind.CITY.value,
)


class GrantConsent(Command):
    grantee_id: Id
    purpose: str = Field(max_length=40)
    scope: str | None = Field(default=None, max_length=80)

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        if value not in PURPOSES:
            raise ValueError(f"unknown purpose {value!r}")
        return value

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str | None) -> str | None:
        if value in (None, "*"):
            return value
        if value not in RESOURCES or not RESOURCES[value].holds_sex_worker_data:
            raise ValueError("is * or a resource that holds your data")
        return value


async def grant_consent(*, session: AsyncSession, actor: Actor, command: GrantConsent) -> Consent:
    worker = actor.principal.sex_worker_id
    if worker is None:
        raise actor.deny("grant", "Consent", Code.FORBIDDEN, "only a sex worker grants consent")
    scope = command.scope or "*"
    kind = (
        await session.execute(
            select(col(Organisation.kind)).where(col(Organisation.id) == command.grantee_id)
        )
    ).scalar_one_or_none()
    if kind not in GRANTEE_KINDS:
        raise HubError(Code.BAD_USER_INPUT, "granteeId names no police, city or NGO")
    live = await session.execute(
        select(col(Consent.id)).where(
            col(Consent.sex_worker_id) == worker,
            col(Consent.grantee_id) == command.grantee_id,
            col(Consent.purpose) == command.purpose,
            col(Consent.scope) == scope,
            col(Consent.revoked_at).is_(None),
        )
    )
    if live.first() is not None:
        raise HubError(Code.CONFLICT, "this consent is already live")
    row = Consent(
        sex_worker_id=worker,
        grantee_id=command.grantee_id,
        purpose=command.purpose,
        scope=scope,
        granted_at=actor.now,
    )
    await authorize_new(session, actor, "Consent", "grant", row, "you may not grant consent")
    await emit(session, actor, "be.hub.consent.granted.v1", row)
    return row


async def revoke_consent(*, session: AsyncSession, actor: Actor, consent_id: str) -> Consent:
    row: Consent = await authorize_existing(session, actor, "Consent", "revoke", consent_id)
    if row.revoked_at is not None:
        raise HubError(Code.CONFLICT, "this consent is already revoked")
    row.revoked_at = actor.now
    await emit(session, actor, "be.hub.consent.revoked.v1", row)
    return row
