"""NGO care contacts (hulpverlening, in the minimum format), referrals (doorverwijzingen)
by NGOs and the police, trafficking suspicions and the union's helpdesk requests. Care
data never leaves the organisation that recorded it."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Self

from pydantic import AfterValidator, Field, ValidationInfo, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import (
    CareContact,
    HelpdeskRequest,
    Organisation,
    Referral,
    SexWorker,
    TraffickingSuspicion,
)
from hub.models.enums import (
    Branch,
    CareFollowUp,
    CareKind,
    CareLocation,
    HelpdeskChannel,
    HelpdeskStatus,
    HelpdeskTopic,
    HelpRequest,
    OrganisationKind,
    ProtectionBasis,
    ReferralDestination,
    ReferralReason,
    TraffickingIndicator,
    TraffickingStatus,
)
from hub.services.actor import Actor
from hub.services.base import (
    Command,
    Id,
    authorize_existing,
    authorize_new,
    clean_text,
    emit,
    text_rule,
)

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
    # The minimum format's request for help and follow-up (optional for older NGO systems).
    request: HelpRequest | None = None
    follow_up: CareFollowUp | None = None
    follow_up_date: date | None = None

    @model_validator(mode="after")
    def _follow_up(self) -> Self:
        if self.follow_up_date is not None and self.follow_up in (None, CareFollowUp.NONE_NEEDED):
            raise ValueError("followUpDate goes with a followUp that is planned or done")
        if (
            self.follow_up in (CareFollowUp.PLANNED, CareFollowUp.DONE)
            and self.follow_up_date is None
        ):
            raise ValueError("a followUp that is planned or done needs its followUpDate")
        if self.follow_up_date is not None and self.follow_up_date < self.contact_date:
            raise ValueError("followUpDate lies before the contact")
        return self


class ReferClient(Command):
    # Exactly one: an organisation on the hub, or a destination outside it.
    to_organisation_id: Id | None = None
    destination: ReferralDestination | None = None
    client_ref: ClientRef
    reason: ReferralReason
    consent: bool
    # Without consent only for a victim under protection, on its legal basis.
    victim_protection: bool = False
    protection_basis: ProtectionBasis | None = None

    @model_validator(mode="after")
    def _target_and_basis(self) -> Self:
        if (self.to_organisation_id is None) == (self.destination is None):
            raise ValueError("give either toOrganisationId or destination, not both")
        if self.victim_protection and self.protection_basis is None:
            raise ValueError("victimProtection needs its protectionBasis")
        if self.protection_basis is not None and not self.victim_protection:
            raise ValueError("protectionBasis goes with victimProtection")
        return self


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
        request=command.request.value if command.request else None,
        follow_up=command.follow_up.value if command.follow_up else None,
        follow_up_date=command.follow_up_date,
    )
    await authorize_new(
        session, actor, "CareContact", "record", row, "you may not record care contacts"
    )
    await emit(session, actor, "be.hub.care_contact.recorded.v1", row)
    return row


async def refer_client(*, session: AsyncSession, actor: Actor, command: ReferClient) -> Referral:
    """By an NGO or the police: to an NGO on the hub (a specialised centre such as Payoke
    among them) or to a destination outside it. Refused without the person's consent unless
    the person is a victim under protection, on a recorded legal basis."""
    if not command.consent and not command.victim_protection:
        raise HubError(
            Code.BAD_USER_INPUT,
            "a referral needs the person's consent, or a victim under protection with its "
            "legal basis",
        )
    if command.to_organisation_id is not None:
        if command.to_organisation_id == actor.principal.org_id:
            raise HubError(Code.BAD_USER_INPUT, "a referral goes to another organisation")
        kind = (
            await session.execute(
                select(col(Organisation.kind)).where(
                    col(Organisation.id) == command.to_organisation_id
                )
            )
        ).scalar_one_or_none()
        if kind != OrganisationKind.NGO.value:
            raise HubError(Code.BAD_USER_INPUT, "toOrganisationId names no NGO")
    row = Referral(
        from_org_id=actor.principal.org_id,
        to_org_id=command.to_organisation_id,
        destination=command.destination.value if command.destination else None,
        client_ref=command.client_ref,
        reason=command.reason.value,
        consent=command.consent,
        victim_protection=command.victim_protection,
        protection_basis=command.protection_basis.value if command.protection_basis else None,
        created_at=actor.now,
    )
    await authorize_new(session, actor, "Referral", "refer", row, "you may not refer clients")
    await emit(session, actor, "be.hub.referral.made.v1", row)
    return row


# --- trafficking suspicions ---------------------------------------------------------------


def _distinct(values: list[TraffickingIndicator]) -> list[TraffickingIndicator]:
    if len(set(values)) != len(values):
        raise ValueError("names an indicator twice")
    return values


class RecordTraffickingSuspicion(Command):
    indicators: Annotated[
        list[TraffickingIndicator],
        Field(min_length=1, max_length=len(TraffickingIndicator)),
        AfterValidator(_distinct),
    ]
    sex_worker_id: Id | None = None
    client_ref: ClientRef | None = None


class SetTraffickingSuspicionStatus(Command):
    status: TraffickingStatus


# Where a suspicion may go from each status; closed is final.
SUSPICION_STEPS: dict[str, frozenset[str]] = {
    TraffickingStatus.NOTED.value: frozenset({"referred", "closed"}),
    TraffickingStatus.REFERRED.value: frozenset({"closed"}),
    TraffickingStatus.CLOSED.value: frozenset(),
}


async def record_trafficking_suspicion(
    *, session: AsyncSession, actor: Actor, command: RecordTraffickingSuspicion
) -> TraffickingSuspicion:
    """By the police or an NGO, explicitly: the hub never infers a suspicion from any other
    record. It stays with the recording organisation (policies/trafficking_suspicion.yaml)."""
    if command.sex_worker_id is not None:
        found = (
            await session.execute(
                select(col(SexWorker.id)).where(col(SexWorker.id) == command.sex_worker_id)
            )
        ).first()
        if found is None:
            raise HubError(Code.NOT_FOUND, "no such sex worker")
    row = TraffickingSuspicion(
        org_id=actor.principal.org_id,
        indicators=[i.value for i in command.indicators],
        sex_worker_id=command.sex_worker_id,
        client_ref=command.client_ref,
        status=TraffickingStatus.NOTED.value,
        city=actor.principal.city,
        recorded_at=actor.now,
        updated_at=actor.now,
    )
    await authorize_new(
        session,
        actor,
        "TraffickingSuspicion",
        "record",
        row,
        "you may not record trafficking suspicions",
    )
    return row


async def set_trafficking_suspicion_status(
    *,
    session: AsyncSession,
    actor: Actor,
    suspicion_id: str,
    command: SetTraffickingSuspicionStatus,
) -> TraffickingSuspicion:
    row: TraffickingSuspicion = await authorize_existing(
        session, actor, "TraffickingSuspicion", "set_status", suspicion_id
    )
    if command.status.value not in SUSPICION_STEPS[row.status]:
        raise HubError(
            Code.BAD_USER_INPUT, f"a {row.status} suspicion cannot become {command.status.value}"
        )
    row.status = command.status.value
    row.updated_at = actor.now
    return row


# --- the union's helpdesk -----------------------------------------------------------------

HELPDESK_TEXT_MAX = 2000


class RecordHelpdeskRequest(Command):
    received_on: date
    topic: HelpdeskTopic
    channel: HelpdeskChannel
    text: Annotated[str, text_rule(HELPDESK_TEXT_MAX, multiline=True)]


class SetHelpdeskRequestStatus(Command):
    status: HelpdeskStatus


async def record_helpdesk_request(
    *, session: AsyncSession, actor: Actor, command: RecordHelpdeskRequest
) -> HelpdeskRequest:
    """The union's own record (policies/helpdesk_request.yaml): only a union keeps one."""
    if actor.principal.org_kind != OrganisationKind.UNION.value:
        raise actor.deny(
            "record", "HelpdeskRequest", Code.FORBIDDEN, "only the union keeps a helpdesk"
        )
    if command.received_on > actor.now.date():
        raise HubError(Code.BAD_USER_INPUT, "receivedOn lies in the future")
    row = HelpdeskRequest(
        union_id=actor.principal.org_id,
        received_on=command.received_on,
        topic=command.topic.value,
        channel=command.channel.value,
        status=HelpdeskStatus.OPEN.value,
        text=command.text,
        recorded_at=actor.now,
        updated_at=actor.now,
    )
    await authorize_new(
        session, actor, "HelpdeskRequest", "record", row, "you may not record helpdesk requests"
    )
    return row


async def set_helpdesk_request_status(
    *,
    session: AsyncSession,
    actor: Actor,
    request_id: str,
    command: SetHelpdeskRequestStatus,
) -> HelpdeskRequest:
    row: HelpdeskRequest = await authorize_existing(
        session, actor, "HelpdeskRequest", "set_status", request_id
    )
    if row.status == HelpdeskStatus.CLOSED.value or row.status == command.status.value:
        raise HubError(
            Code.BAD_USER_INPUT, f"a {row.status} request cannot become {command.status.value}"
        )
    row.status = command.status.value
    row.updated_at = actor.now
    return row
