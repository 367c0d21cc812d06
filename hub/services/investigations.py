"""Investigations (named cases): opened, extended and closed by the police investigators of
the organisation that holds them. An open case (not closed, not expired) is what lets an
investigator read the identity of a worker it names, for requests that state it (Hub-Case
header; policies/sex_worker.yaml, guardrail `identity`).

The rules: a case reference of the prosecutor's office in its format, once in the hub; the
office is an organisation of kind judiciary or its name, not both; one to 50 named workers,
each one the investigator may read; an expiry in the future and at most MAX_TERM ahead
(extending sets a later one, bounded the same way, only while the case is open); closing is
final, and an expired case is never extended: the worker's access log shows the reads made
under a case once it has closed or expired (deferred transparency), and nothing may hide
them again. No event is emitted: a case is never broadcast.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import Investigation, InvestigationSubject, Organisation, SexWorker
from hub.models.enums import OrganisationKind
from hub.models.investigation import is_case_reference
from hub.services.actor import Actor
from hub.services.base import Command, Id, Moment, authorize_existing, authorize_new, text_rule

# How far ahead a case may expire, at its opening and at each extension (12 months).
MAX_TERM = timedelta(days=365)
MAX_SUBJECTS = 50


def _reference(value: str) -> str:
    value = value.strip()
    if not is_case_reference(value):
        raise ValueError(
            "a case reference of the prosecutor's office, e.g. AN.37.L1.012345/26: an office"
            " code of 2 to 4 capitals, then 1 to 6 parts of capitals and digits after '.', '/'"
            " or '-'; at most 40 characters"
        )
    return value


CaseReference = Annotated[str, Field(max_length=100), AfterValidator(_reference)]


class OpenInvestigation(Command):
    reference: CaseReference
    prosecutor_id: Id | None = None
    prosecutor_office: Annotated[str, text_rule(120, min_len=3)] | None = None
    subject_ids: list[Id] = Field(min_length=1, max_length=MAX_SUBJECTS)
    expires_at: Moment

    @model_validator(mode="after")
    def _office(self) -> OpenInvestigation:
        if (self.prosecutor_id is None) == (self.prosecutor_office is None):
            raise ValueError("name the prosecutor's office: prosecutorId or prosecutorOffice")
        if len(set(self.subject_ids)) != len(self.subject_ids):
            raise ValueError("subjectIds: a worker is named once")
        return self


class ExtendInvestigation(Command):
    expires_at: Moment


def _term(actor: Actor, expires_at: datetime) -> None:
    if expires_at <= actor.now:
        raise HubError(Code.BAD_USER_INPUT, "expiresAt: must be in the future")
    if expires_at > actor.now + MAX_TERM:
        raise HubError(
            Code.BAD_USER_INPUT,
            f"expiresAt: at most {MAX_TERM.days} days ahead; extend the case when it is renewed",
        )


async def open_investigation(
    *, session: AsyncSession, actor: Actor, command: OpenInvestigation
) -> Investigation:
    _term(actor, command.expires_at)
    if command.prosecutor_id is not None:
        kind = (
            await session.execute(
                select(col(Organisation.kind)).where(col(Organisation.id) == command.prosecutor_id)
            )
        ).scalar_one_or_none()
        if kind != OrganisationKind.JUDICIARY.value:
            raise HubError(
                Code.BAD_USER_INPUT, "prosecutorId: not an organisation of kind judiciary"
            )
    taken = await session.execute(
        select(col(Investigation.id)).where(col(Investigation.reference) == command.reference)
    )
    if taken.first() is not None:
        raise HubError(Code.CONFLICT, "reference: this case is already in the hub")
    # Only workers the investigator may read are named (their ids are sealed for the
    # caller anyway; this keeps a case from reaching past the investigator's own grant).
    read = actor.require_grant("SexWorker", "read")
    reachable = set(
        (
            await session.execute(
                select(col(SexWorker.id)).where(
                    col(SexWorker.id).in_(command.subject_ids), read.row_filter(actor.vars)
                )
            )
        )
        .scalars()
        .all()
    )
    if reachable != set(command.subject_ids):
        raise actor.deny("open", "Investigation", Code.NOT_FOUND, "subjectIds: no such worker")
    row = Investigation(
        reference=command.reference,
        prosecutor_org_id=command.prosecutor_id,
        prosecutor_office=command.prosecutor_office,
        police_org_id=actor.principal.org_id,
        opened_at=actor.now,
        expires_at=command.expires_at,
        updated_at=actor.now,
    )
    await authorize_new(
        session, actor, "Investigation", "open", row, "you may not open investigations"
    )
    for worker in command.subject_ids:
        session.add(InvestigationSubject(investigation_id=row.id, sex_worker_id=worker))
    await session.flush()
    return row


def _still_open(actor: Actor, row: Investigation, step: str) -> None:
    if row.closed_at is not None:
        raise HubError(Code.CONFLICT, f"this case is closed; closing is final ({step} refused)")
    if step == "extend" and row.expires_at <= actor.now:
        raise HubError(
            Code.CONFLICT, "this case has expired and its reads are shown: open a new case"
        )


async def extend_investigation(
    *, session: AsyncSession, actor: Actor, investigation_id: str, command: ExtendInvestigation
) -> Investigation:
    row: Investigation = await authorize_existing(
        session, actor, "Investigation", "extend", investigation_id
    )
    _still_open(actor, row, "extend")
    _term(actor, command.expires_at)
    if command.expires_at <= row.expires_at:
        raise HubError(Code.BAD_USER_INPUT, "expiresAt: later than the case's present expiry")
    row.expires_at = command.expires_at
    row.updated_at = actor.now
    return row


async def close_investigation(
    *, session: AsyncSession, actor: Actor, investigation_id: str
) -> Investigation:
    row: Investigation = await authorize_existing(
        session, actor, "Investigation", "close", investigation_id
    )
    _still_open(actor, row, "close")
    row.closed_at = actor.now
    row.updated_at = actor.now
    return row
