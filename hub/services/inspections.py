"""Police inspections (controles) and the city's suitability certificates
(geschiktheidsverklaringen) of premises: granted only to the kinds of premises the city's
regime certifies (hub/policy/regimes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import Certificate, Inspection, Premises
from hub.models.enums import Branch, CertificateStatus, InspectionOutcome
from hub.services.actor import Actor
from hub.services.base import (
    Command,
    Id,
    Moment,
    authorize_existing,
    authorize_new,
    authorize_new_many,
    emit,
    emit_many,
    new_rows,
    text_rule,
)

Count = Field(default=0, ge=0, le=1000)


class RecordInspection(Command):
    branch: Branch
    occurred_at: Moment
    outcome: InspectionOutcome
    persons_checked: int = Count
    administrative_arrests: int = Count
    judicial_arrests: int = Count
    hidden_form: bool = False
    proactive: bool = True
    zone: Annotated[str, text_rule(80)] | None = None
    premises_id: Id | None = None

    @model_validator(mode="after")
    def _arrests(self) -> RecordInspection:
        if self.administrative_arrests + self.judicial_arrests > self.persons_checked:
            raise ValueError("more arrests than persons checked")
        return self


class SetCertificateStatus(Command):
    premises_id: Id
    status: CertificateStatus
    reason: Annotated[str, text_rule(1000, multiline=True)]
    valid_until: date | None = None


async def premises_in_city(session: AsyncSession, premises_id: str | None, city: str) -> str | None:
    """`premises_id` if it names premises in `city`; refused otherwise."""
    if premises_id is None:
        return None
    found = (
        await session.execute(select(col(Premises.city)).where(col(Premises.id) == premises_id))
    ).scalar_one_or_none()
    if found is None or found != city:
        raise HubError(Code.BAD_USER_INPUT, "premisesId names no premises in your city")
    return premises_id


async def record_inspection(
    *, session: AsyncSession, actor: Actor, command: RecordInspection
) -> Inspection:
    """For the GraphQL mutation and for a police system's event on its Kafka inbox alike."""
    city = actor.city()
    if command.occurred_at > actor.now:
        raise HubError(Code.BAD_USER_INPUT, "occurredAt lies in the future")
    premises_id = await premises_in_city(session, command.premises_id, city)
    row = _inspection(actor, command, city, premises_id)
    await authorize_new(session, actor, "Inspection", "record", row, NOT_HERE)
    await emit(session, actor, "be.hub.inspection.recorded.v1", row)
    return row


NOT_HERE = "you may not record inspections here"


def _inspection(
    actor: Actor, command: RecordInspection, city: str, premises_id: str | None
) -> Inspection:
    return Inspection(**_values(actor, command, city, premises_id))


def _values(
    actor: Actor, command: RecordInspection, city: str, premises_id: str | None
) -> dict[str, Any]:
    return {
        "city": city,
        "zone": command.zone,
        "branch": command.branch.value,
        "premises_id": premises_id,
        "occurred_at": command.occurred_at,
        "persons_checked": command.persons_checked,
        "outcome": command.outcome.value,
        "administrative_arrests": command.administrative_arrests,
        "judicial_arrests": command.judicial_arrests,
        "hidden_form": command.hidden_form,
        "proactive": command.proactive,
        "police_org_id": actor.principal.org_id,
    }


async def record_inspections(
    *, session: AsyncSession, actor: Actor, commands: Sequence[RecordInspection]
) -> list[Any]:
    """Several inspections of one police system (a batch of its inbound events), all or
    none: the rules of `record_inspection`, each checked once for the whole batch (one
    SELECT for the premises, one INSERT, one SELECT for the policy check, one INSERT into
    the outbox). A HubError refuses them all; the caller may then try them one by one."""
    city = actor.city()
    if any(c.occurred_at > actor.now for c in commands):
        raise HubError(Code.BAD_USER_INPUT, "occurredAt lies in the future")
    wanted = {c.premises_id for c in commands if c.premises_id is not None}
    if wanted:
        stmt = select(col(Premises.id)).where(
            col(Premises.id).in_(sorted(wanted)), col(Premises.city) == city
        )
        if len(set((await session.execute(stmt)).scalars())) != len(wanted):
            raise HubError(Code.BAD_USER_INPUT, "premisesId names no premises in your city")
    rows = new_rows(Inspection, [_values(actor, c, city, c.premises_id) for c in commands])
    await authorize_new_many(session, actor, "Inspection", "record", rows, NOT_HERE)
    await emit_many(session, actor, "be.hub.inspection.recorded.v1", rows)
    return rows


OUTSIDE_REMIT = "these premises are outside your organisation's remit"


async def set_certificate_status(
    *, session: AsyncSession, actor: Actor, command: SetCertificateStatus
) -> Certificate:
    today = actor.now.date()
    status = command.status.value
    # Authorisation before existence: no grant, or unknown premises, is refused like
    # premises outside the caller's remit (no id oracle).
    actor.require_grant("Certificate", "set_status")
    premises = (
        await session.execute(select(Premises).where(col(Premises.id) == command.premises_id))
    ).scalar_one_or_none()
    if premises is None:
        raise actor.deny("set_status", "Certificate", Code.FORBIDDEN, OUTSIDE_REMIT)
    existing = (
        await session.execute(
            select(col(Certificate.id)).where(col(Certificate.premises_id) == premises.id)
        )
    ).scalar_one_or_none()
    cert: Certificate
    if existing is None:
        cert = Certificate(
            premises_id=premises.id,
            status=status,
            valid_from=today,
            valid_until=today,
            decision=command.reason,
            decided_by_id=actor.principal.org_id,
        )
        await authorize_new(session, actor, "Certificate", "set_status", cert, OUTSIDE_REMIT)
        if status != CertificateStatus.GRANTED.value:  # rolled back with the refusal
            raise HubError(Code.CONFLICT, "these premises hold no certificate to change")
        regime = actor.policies.regimes.of(premises.city)
        if regime is None or not regime.needs_certificate(premises.kind):
            kinds = ", ".join(sorted(regime.certificate_premises)) if regime else "no"
            raise HubError(
                Code.CONFLICT,
                f"{premises.city} certifies {kinds} premises, not {premises.kind} premises"
                + (f" ({regime.certificate_basis})" if regime else ""),
            )
    else:
        cert = await authorize_existing(session, actor, "Certificate", "set_status", existing)
        if cert.status == status:
            raise HubError(Code.CONFLICT, f"the certificate is already {status}")
    if status == CertificateStatus.GRANTED.value:
        until = command.valid_until or today + timedelta(days=365)
        if until <= today:
            raise HubError(Code.BAD_USER_INPUT, "validUntil must be in the future")
        cert.valid_from, cert.valid_until = today, until
    elif command.valid_until is not None:
        raise HubError(Code.BAD_USER_INPUT, "validUntil is only given when granting")
    if status == CertificateStatus.EXPIRED.value:
        cert.valid_until = min(cert.valid_until, today)
    cert.status = status
    cert.decision = command.reason
    cert.decided_at = actor.now
    cert.decided_by_id = actor.principal.org_id
    await emit(session, actor, "be.hub.certificate.status_changed.v1", cert)
    return cert
