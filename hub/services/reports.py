"""Reports (meldingen) by sex workers, replies to them, and warnings (waarschuwingen,
`Alert`) by police and NGOs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import Alert, Organisation, Report, ReportReply, ReportShare
from hub.models.enums import (
    AlertAudience,
    AlertSeverity,
    Branch,
    OrganisationKind,
    ReportCategory,
    ReportStatus,
)
from hub.services.actor import Actor
from hub.services.base import (
    Command,
    Id,
    Moment,
    authorize_existing,
    authorize_new,
    emit,
    text_rule,
)

MAX_ALERT = timedelta(days=90)
# Who a worker may share a report with: never a city service or an operator.
SHAREABLE = (OrganisationKind.POLICE.value, OrganisationKind.NGO.value)

LongText = Annotated[str, text_rule(4000, multiline=True)]
AlertText = Annotated[str, text_rule(2000, multiline=True)]


class FileReport(Command):
    category: ReportCategory
    text: LongText
    anonymous: bool = False
    shared_with: list[Id] = Field(default_factory=list, max_length=10)


class ReplyToReport(Command):
    text: LongText


class IssueAlert(Command):
    audience: AlertAudience
    severity: AlertSeverity
    text_nl: AlertText
    valid_until: Moment
    text_fr: AlertText | None = None
    text_en: AlertText | None = None
    zone: Annotated[str, text_rule(80)] | None = None
    branch: Branch | None = None


async def file_report(*, session: AsyncSession, actor: Actor, command: FileReport) -> Report:
    actor.require_grant("Report", "file")
    if command.anonymous:
        actor.anonymous = True
    city = actor.city()
    if not command.anonymous and actor.principal.sex_worker_id is None:
        raise HubError(Code.FORBIDDEN, "only a sex worker files a report in their own name")
    share_ids = sorted(set(command.shared_with))
    if share_ids:
        kinds: dict[str, str] = dict(
            (
                await session.execute(
                    select(col(Organisation.id), col(Organisation.kind)).where(
                        col(Organisation.id).in_(share_ids)
                    )
                )
            ).all()
        )
        bad = [i for i in share_ids if kinds.get(i) not in SHAREABLE]
        if bad:
            raise HubError(
                Code.BAD_USER_INPUT,
                f"a report is shared only with police or NGOs ({len(bad)} other named)",
            )
    row = Report(
        category=command.category.value,
        text=command.text,
        anonymous=command.anonymous,
        # An anonymous report keeps no link to its author, not even here.
        author_id=None if command.anonymous else actor.principal.sex_worker_id,
        city=city,
        status=ReportStatus.FILED.value,
        filed_at=actor.now,
    )
    await authorize_new(session, actor, "Report", "file", row, "you may not file reports")
    session.add_all([ReportShare(report_id=row.id, organisation_id=i) for i in share_ids])
    await emit(session, actor, "be.hub.report.filed.v1", row)
    return row


async def reply_to_report(
    *, session: AsyncSession, actor: Actor, report_id: str, command: ReplyToReport
) -> Report:
    row: Report = await authorize_existing(session, actor, "Report", "reply", report_id)
    if row.status == ReportStatus.CLOSED.value:
        raise HubError(Code.CONFLICT, "this report is closed")
    me = actor.principal.sex_worker_id
    by_reporter = row.author_id is not None and row.author_id == me
    session.add(
        ReportReply(
            report_id=row.id,
            author_org_id=None if by_reporter else actor.principal.org_id,
            by_reporter=by_reporter,
            text=command.text,
            created_at=actor.now,
        )
    )
    if not by_reporter:
        row.status = ReportStatus.ANSWERED.value
    await emit(session, actor, "be.hub.report.replied.v1", row)
    return row


async def issue_alert(*, session: AsyncSession, actor: Actor, command: IssueAlert) -> Alert:
    actor.require_grant("Alert", "issue")
    city = actor.city()
    if not actor.now < command.valid_until <= actor.now + MAX_ALERT:
        raise HubError(Code.BAD_USER_INPUT, "validUntil must lie within the next 90 days")
    row = Alert(
        audience=command.audience.value,
        city=city,
        zone=command.zone,
        branch=command.branch.value if command.branch else None,
        severity=command.severity.value,
        text_nl=command.text_nl,
        text_fr=command.text_fr,
        text_en=command.text_en,
        valid_until=command.valid_until,
        issued_by_id=actor.principal.org_id,
        issued_at=actor.now,
    )
    await authorize_new(
        session, actor, "Alert", "issue", row, "you may not issue this warning to that audience"
    )
    await emit(session, actor, "be.hub.alert.issued.v1", row)
    return row
