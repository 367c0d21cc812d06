"""Changing data through the policy. A mutation runs in one transaction and is allowed
only where a rule for its action reaches the row: an existing row must match the rule's
filter; a new row is inserted, checked against the filter inside the transaction, and
rolled back if no rule reaches it. The same compiled SQL filters as for reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.events.envelope import EVENT_TYPES, make_event, snapshot
from hub.models import OutboxEvent
from hub.policy.engine import FieldMask
from hub.policy.resources import RESOURCES
from hub.resolvers.reads import NodeSpec, select_nodes, selected
from hub.schema.context import Context


@asynccontextmanager
async def transaction(ctx: Context) -> AsyncIterator[AsyncSession]:
    """One mutation's transaction. Its writes enter the access log once committed, or as
    refused (with the error code) if the transaction is rolled back."""
    ctx.pending_writes = []
    emitted = ctx.emitted
    try:
        async with ctx.hub.db.sessions() as session, session.begin():
            yield session
    except HubError as error:
        for action, resource, ids, subjects in ctx.pending_writes:
            ctx.record(
                action,
                resource,
                record_ids=ids,
                subjects=subjects,
                outcome="refused",
                reason=error.code.value,
            )
        raise
    finally:
        pending, ctx.pending_writes = ctx.pending_writes, []
    for action, resource, ids, subjects in pending:
        ctx.record(action, resource, record_ids=ids, subjects=subjects)
    if ctx.emitted > emitted and ctx.hub.events is not None:
        ctx.hub.events.notify()  # the local relay need not wait for its next poll


async def emit(session: AsyncSession, ctx: Context, type_: str, row: Any) -> None:
    """Write the change's event into the outbox, in the change's own transaction."""
    await session.flush()
    await emit_data(session, ctx, type_, subject=str(row.id), data=snapshot(row))


async def emit_data(
    session: AsyncSession, ctx: Context, type_: str, *, subject: str, data: dict[str, Any]
) -> None:
    event = make_event(
        type_,
        subject=subject,
        data=data,
        time=ctx.now,
        purpose=ctx.purpose,
        policy_version=ctx.policies.resource_version(EVENT_TYPES[type_]),
    )
    session.add(
        OutboxEvent(
            event_id=event["id"],
            type=type_,
            resource=EVENT_TYPES[type_],
            record_id=subject,
            envelope=event,
            created_at=ctx.now,
        )
    )
    ctx.emitted += 1


async def authorize_existing(
    session: AsyncSession, ctx: Context, resource: str, action: str, row_id: str
) -> Any:
    """Load `row_id` for `action`, locked for update, or refuse.

    A row the caller can neither act on nor read is NOT_FOUND, so that refusals do not
    reveal which records exist.
    """
    grant = ctx.require_grant(resource, action)
    model = RESOURCES[resource].model
    stmt = select(model).where(model.id == row_id, grant.row_filter(ctx.vars)).with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is not None:
        if action != "read":  # loading a row to look at it (a preview) changes nothing
            _record_write(ctx, resource, action, row)
        return row
    read = ctx.grant(resource, "read")
    if read is not None:
        visible = select(model.id).where(model.id == row_id, read.row_filter(ctx.vars))
        if (await session.execute(visible)).first() is not None:
            raise ctx.deny(
                action,
                resource,
                Code.FORBIDDEN,
                f"your organisation may not {action} this {resource}",
            )
    raise ctx.deny(action, resource, Code.NOT_FOUND, f"no {resource} {row_id}")


def _record_write(ctx: Context, resource: str, action: str, row: Any) -> None:
    subject_column = RESOURCES[resource].subject_column
    subject = getattr(row, subject_column) if subject_column else None
    ctx.pending_writes.append(
        (f"write:{action}", resource, [str(row.id)], [subject] if subject else [])
    )


async def authorize_new(
    session: AsyncSession, ctx: Context, resource: str, action: str, row: Any, why: str
) -> None:
    """Insert `row` and check that a rule for `action` reaches it; refuse with `why`."""
    grant = ctx.require_grant(resource, action)
    session.add(row)
    await session.flush()
    model = RESOURCES[resource].model
    stmt = select(model.id).where(model.id == row.id, grant.row_filter(ctx.vars))
    if (await session.execute(stmt)).first() is None:
        raise ctx.deny(action, resource, Code.FORBIDDEN, why)
    _record_write(ctx, resource, action, row)


async def read_back(info: Info, node: NodeSpec, row_id: str, action: str) -> Any:
    """The mutation's result, as the caller may see it: through the read rules, or else
    through the rules of the action just performed (a worker filing an anonymous report
    may see what she filed, though nothing links it to her afterwards)."""
    ctx: Context = info.context
    model = node.resource.model
    sel = selected(info)
    for act in ("read", action):
        grant = ctx.grant(node.resource.name, act)
        if grant is None:
            continue
        pairs = await select_nodes(ctx, node, grant, sel, model.id == row_id)
        if pairs:
            return pairs[0][1]
    ctx.withhold(node.type_name, frozenset(f for f in sel if f != "id"))
    return node.build(ctx, _IdOnly(row_id), FieldMask(frozenset({"id"})), frozenset(), (None,))


class _IdOnly:
    """A row of which the caller may see nothing but the id."""

    def __init__(self, row_id: str) -> None:
        self.id = row_id

    def __getattr__(self, name: str) -> None:
        return None


def aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise HubError(Code.BAD_USER_INPUT, f"{name} needs a UTC offset, e.g. 2026-01-01T20:00Z")
    return value


def text(value: str, name: str, *, max_len: int, min_len: int = 1) -> str:
    value = value.strip()
    if not min_len <= len(value) <= max_len:
        raise HubError(
            Code.BAD_USER_INPUT, f"{name} must be {min_len} to {max_len} characters long"
        )
    return value
