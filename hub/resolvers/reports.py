"""Reports (meldingen) by sex workers and warnings (waarschuwingen, `Alert`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from strawberry.types import Info

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
from hub.resolvers.reads import fetch_page, select_nodes, selected
from hub.resolvers.writes import (
    authorize_existing,
    authorize_new,
    aware,
    emit,
    read_back,
    text,
    transaction,
)
from hub.schema import inputs
from hub.schema.context import Context
from hub.schema.types import ALERT, REPORT

MAX_ALERT = timedelta(days=90)
# Who a worker may share a report with: never a city service or an operator.
SHAREABLE = (OrganisationKind.POLICE.value, OrganisationKind.NGO.value)


async def list_reports(
    info: Info, status: ReportStatus | None, first: int | None, after: str | None
) -> Any:
    conditions = [Report.status == ReportStatus(status).value] if status else []
    return await fetch_page(
        info, REPORT, conditions=conditions, order=[("filed_at", True)], first=first, after=after
    )


async def file_report(info: Info, data: inputs.ReportInput) -> Any:
    ctx: Context = info.context
    ctx.require_grant("Report", "file")
    if data.anonymous:
        ctx.anonymous_actor = True
    if ctx.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city")
    if not data.anonymous and ctx.principal.sex_worker_id is None:
        raise HubError(Code.FORBIDDEN, "only a sex worker files a report in her own name")
    share_ids = sorted(set(data.shared_with))
    if len(share_ids) > 10:
        raise HubError(Code.BAD_USER_INPUT, "share a report with at most 10 organisations")
    async with transaction(ctx) as session:
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
                    "a report is shared only with police or NGOs: " + ", ".join(bad),
                )
        row = Report(
            category=ReportCategory(data.category).value,
            text=text(data.text, "text", max_len=4000),
            anonymous=data.anonymous,
            # An anonymous report keeps no link to its author, not even here.
            author_id=None if data.anonymous else ctx.principal.sex_worker_id,
            city=ctx.principal.city,
            status=ReportStatus.FILED.value,
            filed_at=ctx.now,
        )
        await authorize_new(session, ctx, "Report", "file", row, "you may not file reports")
        session.add_all([ReportShare(report_id=row.id, organisation_id=i) for i in share_ids])
        await emit(session, ctx, "be.hub.report.filed.v1", row)
    return await read_back(info, REPORT, row.id, "file")


async def reply_to_report(info: Info, report_id: str, body: str) -> Any:
    ctx: Context = info.context
    body = text(body, "text", max_len=4000)
    async with transaction(ctx) as session:
        row = await authorize_existing(session, ctx, "Report", "reply", report_id)
        if row.status == ReportStatus.CLOSED.value:
            raise HubError(Code.CONFLICT, "this report is closed")
        by_reporter = row.author_id is not None and row.author_id == ctx.principal.sex_worker_id
        session.add(
            ReportReply(
                report_id=row.id,
                author_org_id=None if by_reporter else ctx.principal.org_id,
                by_reporter=by_reporter,
                text=body,
                created_at=ctx.now,
            )
        )
        if not by_reporter:
            row.status = ReportStatus.ANSWERED.value
        await emit(session, ctx, "be.hub.report.replied.v1", row)
    return await read_back(info, REPORT, report_id, "reply")


async def list_alerts(info: Info, city: str | None, active_only: bool) -> Any:
    ctx: Context = info.context
    grant = ctx.require_grant("Alert", "read")
    conditions: list[Any] = []
    if city:
        conditions.append(Alert.city == city)
    if active_only:
        conditions.append(col(Alert.valid_until) > ctx.now)
    pairs = await select_nodes(
        ctx,
        ALERT,
        grant,
        selected(info),
        *conditions,
        order=[col(Alert.issued_at).desc(), col(Alert.id)],
        limit=ctx.hub.page_cap,
    )
    return [node for _row, node in pairs]


async def issue_alert(info: Info, data: inputs.AlertInput) -> Any:
    ctx: Context = info.context
    ctx.require_grant("Alert", "issue")
    if ctx.principal.city is None:
        raise HubError(Code.FORBIDDEN, "your token names no city")
    valid_until = aware(data.valid_until, "validUntil")
    if not ctx.now < valid_until <= ctx.now + MAX_ALERT:
        raise HubError(Code.BAD_USER_INPUT, "validUntil must lie within the next 90 days")
    async with transaction(ctx) as session:
        row = Alert(
            audience=AlertAudience(data.audience).value,
            city=ctx.principal.city,
            zone=text(data.zone, "zone", max_len=80) if data.zone else None,
            branch=Branch(data.branch).value if data.branch else None,
            severity=AlertSeverity(data.severity).value,
            text_nl=text(data.text_nl, "textNl", max_len=2000),
            text_fr=text(data.text_fr, "textFr", max_len=2000) if data.text_fr else None,
            text_en=text(data.text_en, "textEn", max_len=2000) if data.text_en else None,
            valid_until=valid_until,
            issued_by_id=ctx.principal.org_id,
            issued_at=ctx.now,
        )
        await authorize_new(
            session, ctx, "Alert", "issue", row, "you may not issue this warning to that audience"
        )
        await emit(session, ctx, "be.hub.alert.issued.v1", row)
    return await read_back(info, ALERT, row.id, "issue")
