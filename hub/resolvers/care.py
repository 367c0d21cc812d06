"""NGO care contacts and referrals. Care data never leaves the NGO that recorded it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.models import CareContact, Organisation, Referral
from hub.models.enums import Branch, CareKind, CareLocation, OrganisationKind, ReferralReason
from hub.resolvers.reads import fetch_page
from hub.resolvers.writes import authorize_new, emit, read_back, text, transaction
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.types import CARE_CONTACT, REFERRAL

# A hub record id must never serve as a client reference: that would link care to identity.
# Refused in any spelling (braced, urn:uuid:, prefixed, without hyphens), not only bare.
_HUB_ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def _client_ref(value: str) -> str:
    ref = text(value, "clientRef", max_len=80)
    if _HUB_ID.search(ref):
        raise HubError(
            Code.BAD_USER_INPUT, "clientRef is the NGO's own reference, never a hub record id"
        )
    return ref


async def list_care_contacts(
    info: Info, start: date | None, end: date | None, first: int | None, after: str | None
) -> Any:
    conditions: list[Any] = []
    if start:
        conditions.append(col(CareContact.contact_date) >= start)
    if end:
        conditions.append(col(CareContact.contact_date) <= end)
    return await fetch_page(
        info,
        CARE_CONTACT,
        conditions=conditions,
        order=[("contact_date", True)],
        first=first,
        after=after,
    )


async def record_care_contact(info: Info, data: inputs.CareContactInput) -> Any:
    ctx: Context = info.context
    async with transaction(ctx) as session:
        row = await apply_care_contact(ctx, session, data)
    return await read_back(info, CARE_CONTACT, row.id, "record")


async def apply_care_contact(
    ctx: Context, session: Any, data: inputs.CareContactInput
) -> CareContact:
    """The workflow of recording a care contact, inside the caller's transaction: for the
    GraphQL mutation and for each contact of an NGO system's batch on its Kafka inbox."""
    if ctx.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city")
    if data.contact_date > ctx.now.date():
        raise HubError(Code.BAD_USER_INPUT, "contactDate lies in the future")
    row = CareContact(
        ngo_id=ctx.principal.org_id,
        client_ref=_client_ref(data.client_ref),
        contact_date=data.contact_date,
        kind=CareKind(data.kind).value,
        location=CareLocation(data.location).value,
        branch=Branch(data.branch).value,
        city=ctx.principal.city,
        recorded_at=ctx.now,
    )
    await authorize_new(
        session, ctx, "CareContact", "record", row, "you may not record care contacts"
    )
    await emit(session, ctx, "be.hub.care_contact.recorded.v1", row)
    return row


async def refer_client(info: Info, data: inputs.ReferralInput) -> Any:
    ctx: Context = info.context
    if not data.consent:
        raise HubError(Code.BAD_USER_INPUT, "a referral needs the client's consent")
    if data.to_organisation_id == ctx.principal.org_id:
        raise HubError(Code.BAD_USER_INPUT, "a referral goes to another organisation")
    async with transaction(ctx) as session:
        kind = (
            await session.execute(
                select(col(Organisation.kind)).where(
                    col(Organisation.id) == data.to_organisation_id
                )
            )
        ).scalar_one_or_none()
        if kind != OrganisationKind.NGO.value:
            raise HubError(Code.BAD_USER_INPUT, "toOrganisationId names no NGO")
        row = Referral(
            from_org_id=ctx.principal.org_id,
            to_org_id=data.to_organisation_id,
            client_ref=_client_ref(data.client_ref),
            reason=ReferralReason(data.reason).value,
            consent=True,
            created_at=ctx.now,
        )
        await authorize_new(session, ctx, "Referral", "refer", row, "you may not refer clients")
        await emit(session, ctx, "be.hub.referral.made.v1", row)
    return await read_back(info, REFERRAL, row.id, "refer")
