"""Views of the access log: the privacy officers' search and the data subject's own view.

Both go through the `AccessLog` policy like any other read."""

from __future__ import annotations

from typing import Any

from sqlmodel import col
from strawberry.types import Info

from hub.errors import Code
from hub.models import AccessLogEntry, AccessLogSubject
from hub.resolvers.reads import fetch_page
from hub.schema.context import Context
from hub.schema.types import ACCESS_LOG

ORDER = [("at", True)]


async def list_access_log(
    info: Info,
    first: int | None,
    after: str | None,
    subject_id: str | None,
    organisation_id: str | None,
) -> Any:
    conditions: list[Any] = []
    if subject_id:
        conditions.append(
            col(AccessLogEntry.subjects).any(col(AccessLogSubject.sex_worker_id) == subject_id)
        )
    if organisation_id:
        conditions.append(col(AccessLogEntry.organisation_id) == organisation_id)
    return await fetch_page(
        info, ACCESS_LOG, conditions=conditions, order=ORDER, first=first, after=after
    )


async def list_my_access_log(info: Info, first: int | None, after: str | None) -> Any:
    ctx: Context = info.context
    me = ctx.principal.sex_worker_id
    if me is None:
        raise ctx.deny("read", "AccessLog", Code.FORBIDDEN, "myAccessLog is for sex workers")
    mine = col(AccessLogEntry.subjects).any(col(AccessLogSubject.sex_worker_id) == me)
    return await fetch_page(
        info, ACCESS_LOG, conditions=[mine], order=ORDER, first=first, after=after
    )
