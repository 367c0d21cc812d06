"""Running a workflow for a GraphQL mutation: the caller's actor, one unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strawberry.types import Info

from hub.schema.context import Context
from hub.services.base import unit_of_work

R = TypeVar("R")


async def run(info: Info, workflow: Callable[..., Awaitable[R]], **arguments: Any) -> R:
    """`workflow(session=, actor=, **arguments)` in one transaction of the caller's."""
    ctx: Context = info.context
    async with unit_of_work(ctx.hub.db, ctx.actor, on_commit=ctx.hub.notify_committed) as s:
        return await workflow(session=s, actor=ctx.actor, **arguments)
