"""Reports (meldingen) by sex workers, replies to them, and warnings (waarschuwingen,
`Alert`) by police and NGOs."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.db import Database
from hub.errors import Code, HubError
from hub.models import Alert, Organisation, Report, ReportReply, ReportShare
from hub.models.enums import (
    AlertAudience,
    AlertSeverity,
    Branch,
    OrganisationKind,
    ReportCategory,
    ReportStatus,
    WarningTemplate,
)
from hub.services import codes
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

# An anonymous report's follow-up code: a one-time code of hub/services/codes.py (80 bits,
# stored hashed); guessing is bounded per caller: FOLLOW_UP_TRIES wrong codes in
# FOLLOW_UP_WINDOW, then RATE_LIMITED until the oldest wrong try is older than the window.
FOLLOW_UP_ALPHABET = codes.ALPHABET
FOLLOW_UP_LENGTH = codes.LENGTH
FOLLOW_UP_TRIES = codes.TRIES
FOLLOW_UP_WINDOW = codes.WINDOW

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
    """A warning: from a template (a common kind, shown in the reader's language), with
    optional free text, or free text alone (Dutch at least)."""

    audience: AlertAudience
    severity: AlertSeverity
    valid_until: Moment
    template: WarningTemplate | None = None
    text_nl: AlertText | None = None
    text_fr: AlertText | None = None
    text_en: AlertText | None = None
    zone: Annotated[str, text_rule(80)] | None = None
    branch: Branch | None = None

    @model_validator(mode="after")
    def _something_to_say(self) -> IssueAlert:
        if self.template is None and self.text_nl is None:
            raise ValueError("a warning needs a template or a text in Dutch (textNl)")
        if self.text_nl is None and (self.text_fr is not None or self.text_en is not None):
            raise ValueError("free text is given in Dutch first (textNl)")
        return self


new_follow_up_code = codes.new_code
follow_up_hash = codes.code_hash


async def file_report(
    *,
    session: AsyncSession,
    actor: Actor,
    command: FileReport,
    follow_up_code: str | None = None,
) -> Report:
    """File a report. An anonymous one keeps `follow_up_code`'s hash (the caller shows the
    code to the reporter once), so its holder can read the replies."""
    if command.anonymous:
        # From the first entry on, a refusal included: nothing logged names the author.
        actor.anonymous = True
    actor.require_grant("Report", "file")
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
        follow_up_hash=follow_up_hash(follow_up_code)
        if command.anonymous and follow_up_code
        else None,
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
        template=command.template.value if command.template else None,
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


async def follow_up(*, db: Database, actor: Actor, code: str) -> tuple[Report, list[ReportReply]]:
    """The report a follow-up code belongs to, and its replies (oldest first).

    Only a caller who may file reports asks. A wrong code is kept (as a digest of the
    caller, in its own committed transaction) and refused as NOT_FOUND; after
    FOLLOW_UP_TRIES wrong codes within FOLLOW_UP_WINDOW every try is refused as
    RATE_LIMITED, a right code too. Every try, right, wrong or refused, is logged like the
    anonymous filing: without the caller's subject, so the log does not link the report,
    or a guess at its code, to its author.
    """
    actor.anonymous = True
    actor.require_grant("Report", "file")
    caller = codes.caller_digest(actor.principal)
    async with db.session() as session, session.begin():
        if await codes.guesses_exhausted(session, caller, actor.now):
            raise actor.deny(
                "follow_up",
                "Report",
                Code.RATE_LIMITED,
                "too many wrong follow-up codes: try again in 15 minutes",
            )
        digest = follow_up_hash(code)
        row = None
        if digest is not None:
            row = (
                await session.execute(select(Report).where(col(Report.follow_up_hash) == digest))
            ).scalar_one_or_none()
        if row is None:
            codes.note_wrong_guess(session, caller, actor.now)
    if row is None:
        raise actor.deny("follow_up", "Report", Code.NOT_FOUND, "no report has this follow-up code")
    async with db.sessions() as session:
        replies = list(
            (
                await session.execute(
                    select(ReportReply)
                    .where(col(ReportReply.report_id) == row.id)
                    .order_by(col(ReportReply.created_at), col(ReportReply.id))
                )
            ).scalars()
        )
    actor.record(
        "read",
        "Report",
        record_ids=[row.id],
        fields=["category", "status", "filed_at", "replies"],
        reason="by follow-up code",
    )
    return row, replies
