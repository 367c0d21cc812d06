"""Employers and work (labour law of 2024): an employer's recognition by the labour
inspection, and the employment relations an employer records for its employees.

- The labour inspector (role `labour_inspector`, purpose `labour_inspection`) records the
  inspection's decision on an employer's recognition: `recognised` (with its recognition
  number), `suspended`, or `withdrawn` (final). Only organisations of kind `employer`.
- A recognised employer (an operator role at an organisation of kind `employer`) records
  that it employs a worker: contract kind, first and last day. The worker sees it in
  self-service; the labour inspection sees it with the worker as a pseudonym.
- `recognised_employer` is what shift registration asks before it registers an employee's
  shift (hub/services/shifts.py).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import EmploymentRelation, Organisation, SexWorker
from hub.models.enums import ContractKind, OrganisationKind, RecognitionStatus
from hub.services.actor import Actor
from hub.services.base import Command, Id, authorize_existing, authorize_new, emit

# The labour inspection's recognition number: SW, the year of the decision, a sequence
# number (e.g. SW-2025-0042).
RECOGNITION_NUMBER = re.compile(r"^SW-20\d{2}-\d{4}$")
MAX_CONTRACT_DAYS = 366 * 50  # an end date further off is a typing error


def _recognition_number(value: str) -> str:
    value = value.strip().upper()
    if not RECOGNITION_NUMBER.match(value):
        raise ValueError("must look like SW-2025-0042 (SW, the year, four digits)")
    return value


class SetRecognition(Command):
    """The labour inspection's decision on an employer's recognition."""

    organisation_id: Id
    status: RecognitionStatus
    recognition_number: Annotated[str, AfterValidator(_recognition_number)] | None = Field(
        default=None, max_length=20
    )

    @model_validator(mode="after")
    def _number_when_recognising(self) -> SetRecognition:
        if self.status is RecognitionStatus.RECOGNISED and self.recognition_number is None:
            raise ValueError("recognitionNumber is given when recognising")
        if self.status is not RecognitionStatus.RECOGNISED and self.recognition_number:
            raise ValueError("recognitionNumber is given only when recognising")
        return self


class RecordEmployment(Command):
    """An employer records that it employs a worker."""

    sex_worker_id: Id
    contract_kind: ContractKind
    starts_on: date
    ends_on: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RecordEmployment:
        if self.ends_on is not None:
            if self.ends_on < self.starts_on:
                raise ValueError("endsOn must not be before startsOn")
            if (self.ends_on - self.starts_on).days > MAX_CONTRACT_DAYS:
                raise ValueError("endsOn lies more than 50 years after startsOn")
        if self.contract_kind is ContractKind.OPEN_ENDED and self.ends_on is not None:
            raise ValueError("an open-ended contract has no endsOn (end it when it ends)")
        if self.contract_kind is not ContractKind.OPEN_ENDED and self.ends_on is None:
            raise ValueError("a contract that is not open-ended has an endsOn")
        return self


class EndEmployment(Command):
    """The employment's last day."""

    ends_on: date


NOT_AN_EMPLOYER = "no such employer, or your organisation may not decide on it"
NOT_YOURS = "your organisation is not a recognised employer, or the worker is unknown"


async def set_recognition(
    *, session: AsyncSession, actor: Actor, command: SetRecognition
) -> Organisation:
    org: Organisation = await authorize_existing(
        session, actor, "Organisation", "set_recognition", command.organisation_id
    )
    if org.kind != OrganisationKind.EMPLOYER.value:  # the policy's `where` says so too
        raise actor.deny("set_recognition", "Organisation", Code.FORBIDDEN, NOT_AN_EMPLOYER)
    status = command.status.value
    if org.recognition_status == RecognitionStatus.WITHDRAWN.value:
        raise HubError(Code.CONFLICT, "a withdrawn recognition is final: the employer applies anew")
    if org.recognition_status == status:
        raise HubError(Code.CONFLICT, f"the employer is already {status}")
    if status == RecognitionStatus.RECOGNISED.value:
        number = command.recognition_number
        if org.recognition_number is not None and number != org.recognition_number:
            raise HubError(
                Code.CONFLICT,
                f"the employer keeps its recognition number once given ({org.recognition_number})",
            )
        taken = await session.execute(
            select(col(Organisation.id)).where(
                col(Organisation.recognition_number) == number, col(Organisation.id) != org.id
            )
        )
        if taken.first() is not None:
            raise HubError(Code.CONFLICT, "another employer holds this recognition number")
        org.recognition_number = number
    elif org.recognition_status is None:
        raise HubError(Code.CONFLICT, f"an employer never recognised cannot be {status}")
    org.recognition_status = status
    org.recognition_decided_at = actor.now
    org.recognition_decided_by_id = actor.principal.org_id
    await emit(session, actor, "be.hub.employer.recognition_changed.v1", org)
    return org


async def recognised_employer(session: AsyncSession, org_id: str) -> Organisation | None:
    """The caller's organisation if it is an employer whose recognition holds now (read in
    the transaction, locked, so a suspension decided meanwhile is seen), else None."""
    org = (
        await session.execute(
            select(Organisation).where(col(Organisation.id) == org_id).with_for_update()
        )
    ).scalar_one_or_none()
    if (
        org is None
        or org.kind != OrganisationKind.EMPLOYER.value
        or org.recognition_status != RecognitionStatus.RECOGNISED.value
    ):
        return None
    return org


async def require_recognised(
    session: AsyncSession, actor: Actor, action: str, resource: str
) -> None:
    if await recognised_employer(session, actor.principal.org_id) is None:
        raise actor.deny(
            action,
            resource,
            Code.FORBIDDEN,
            "only an employer recognised by the labour inspection may do this"
            " (the recognition is missing, suspended or withdrawn)",
        )


async def record_employment(
    *, session: AsyncSession, actor: Actor, command: RecordEmployment
) -> EmploymentRelation:
    actor.require_grant("EmploymentRelation", "record")
    await require_recognised(session, actor, "record", "EmploymentRelation")
    worker = select(col(SexWorker.id)).where(col(SexWorker.id) == command.sex_worker_id)
    if (await session.execute(worker)).first() is None:
        raise actor.deny("record", "EmploymentRelation", Code.FORBIDDEN, NOT_YOURS)
    row = EmploymentRelation(
        employer_id=actor.principal.org_id,
        sex_worker_id=command.sex_worker_id,
        contract_kind=command.contract_kind.value,
        starts_on=command.starts_on,
        ends_on=command.ends_on,
        recorded_by_id=actor.principal.org_id,
    )
    await authorize_new(session, actor, "EmploymentRelation", "record", row, NOT_YOURS)
    overlap = await session.execute(
        select(col(EmploymentRelation.id)).where(
            col(EmploymentRelation.employer_id) == row.employer_id,
            col(EmploymentRelation.sex_worker_id) == row.sex_worker_id,
            col(EmploymentRelation.id) != row.id,
            (col(EmploymentRelation.ends_on).is_(None))
            | (col(EmploymentRelation.ends_on) >= row.starts_on),
            *(
                [col(EmploymentRelation.starts_on) <= row.ends_on]
                if row.ends_on is not None
                else []
            ),
        )
    )
    if overlap.first() is not None:
        raise HubError(
            Code.CONFLICT, "the worker is already employed by your organisation in that period"
        )
    await emit(session, actor, "be.hub.employment.recorded.v1", row)
    return row


async def end_employment(
    *, session: AsyncSession, actor: Actor, relation_id: str, command: EndEmployment
) -> EmploymentRelation:
    row: EmploymentRelation = await authorize_existing(
        session, actor, "EmploymentRelation", "end", relation_id
    )
    if row.ended_at is not None:
        raise HubError(Code.CONFLICT, "this employment has already been ended")
    if command.ends_on < row.starts_on:
        raise HubError(Code.BAD_USER_INPUT, "endsOn must not be before the employment starts")
    if row.ends_on is not None and command.ends_on > row.ends_on:
        raise HubError(Code.BAD_USER_INPUT, "endsOn may shorten the contract, not extend it")
    row.ends_on = command.ends_on
    row.ended_at = actor.now
    await emit(session, actor, "be.hub.employment.ended.v1", row)
    return row


async def employs(
    session: AsyncSession, employer_id: str, sex_worker_id: str, first: date, last: date
) -> bool:
    """Whether the employer employs the worker on every day from `first` to `last`."""
    found = await session.execute(
        select(col(EmploymentRelation.id)).where(
            col(EmploymentRelation.employer_id) == employer_id,
            col(EmploymentRelation.sex_worker_id) == sex_worker_id,
            col(EmploymentRelation.starts_on) <= first,
            (col(EmploymentRelation.ends_on).is_(None)) | (col(EmploymentRelation.ends_on) >= last),
        )
    )
    return found.first() is not None
