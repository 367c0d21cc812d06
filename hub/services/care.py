"""NGO care contacts (hulpverlening, in the minimum format) and referrals
(doorverwijzingen). Care data never leaves the NGO that recorded it."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import CareContact, Organisation, Referral
from hub.models.enums import Branch, CareKind, CareLocation, OrganisationKind, ReferralReason
from hub.services.actor import Actor
from hub.services.base import Command, Id, authorize_new, clean_text, emit

# A hub record id must never serve as a client reference: that would link care to identity.
# Refused in any spelling (braced, urn:uuid:, prefixed, without hyphens), not only bare.
_HUB_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


_SEALED_ID = re.compile(r"[A-Za-z0-9_-]{22}")


# What an NGO's client reference looks like unless the NGO has its own pattern (Settings
# client_ref_patterns): a case number, 3 to 40 letters, digits and . _ / : # -, with at
# least one digit; so never a name ("Eline Van Damme", "EVD") and never with spaces.
DEFAULT_CLIENT_REF = re.compile(r"(?=[^\d]*\d)[A-Za-z0-9][A-Za-z0-9._/:#-]{2,39}")
CLIENT_REF_SHAPE = (
    "must be the NGO's case reference: 3 to 40 letters, digits and . _ / : # - with at least "
    "one digit (never a name)"
)


def _client_ref(value: str, info: ValidationInfo) -> str:
    ref = clean_text(value, max_len=80)
    pattern: re.Pattern[str] | None = (info.context or {}).get("client_ref_pattern")
    if pattern is not None:
        if not pattern.fullmatch(ref):
            raise ValueError("does not match your organisation's client reference pattern")
    elif not DEFAULT_CLIENT_REF.fullmatch(ref):
        raise ValueError(CLIENT_REF_SHAPE)
    if _HUB_ID.search(ref):
        raise ValueError("is the NGO's own reference, never a hub record id")
    # Nor a record id as the NGO holds it: sealed for the NGO (hub/ids.py).
    unseal = (info.context or {}).get("unseal")
    if unseal is not None:
        for token in _SEALED_ID.findall(ref):
            try:
                unseal(token)
            except HubError:
                continue
            raise ValueError("is the NGO's own reference, never a hub record id")
    return ref


ClientRef = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_client_ref)]


class RecordCareContact(Command):
    client_ref: ClientRef
    contact_date: date
    kind: CareKind
    location: CareLocation
    branch: Branch


class ReferClient(Command):
    to_organisation_id: Id
    client_ref: ClientRef
    reason: ReferralReason
    consent: bool


async def record_care_contact(
    *, session: AsyncSession, actor: Actor, command: RecordCareContact
) -> CareContact:
    """For the GraphQL mutation and for each contact of an NGO system's batch on its Kafka
    inbox alike."""
    city = actor.city()
    if command.contact_date > actor.now.date():
        raise HubError(Code.BAD_USER_INPUT, "contactDate lies in the future")
    row = CareContact(
        ngo_id=actor.principal.org_id,
        client_ref=command.client_ref,
        contact_date=command.contact_date,
        kind=command.kind.value,
        location=command.location.value,
        branch=command.branch.value,
        city=city,
        recorded_at=actor.now,
    )
    await authorize_new(
        session, actor, "CareContact", "record", row, "you may not record care contacts"
    )
    await emit(session, actor, "be.hub.care_contact.recorded.v1", row)
    return row


async def refer_client(*, session: AsyncSession, actor: Actor, command: ReferClient) -> Referral:
    if not command.consent:
        raise HubError(Code.BAD_USER_INPUT, "a referral needs the client's consent")
    if command.to_organisation_id == actor.principal.org_id:
        raise HubError(Code.BAD_USER_INPUT, "a referral goes to another organisation")
    kind = (
        await session.execute(
            select(col(Organisation.kind)).where(col(Organisation.id) == command.to_organisation_id)
        )
    ).scalar_one_or_none()
    if kind != OrganisationKind.NGO.value:
        raise HubError(Code.BAD_USER_INPUT, "toOrganisationId names no NGO")
    row = Referral(
        from_org_id=actor.principal.org_id,
        to_org_id=command.to_organisation_id,
        client_ref=command.client_ref,
        reason=command.reason.value,
        consent=True,
        created_at=actor.now,
    )
    await authorize_new(session, actor, "Referral", "refer", row, "you may not refer clients")
    await emit(session, actor, "be.hub.referral.made.v1", row)
    return row
