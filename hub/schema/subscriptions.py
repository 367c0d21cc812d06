"""Subscriptions over graphql-transport-ws: `events(types)` and `alerts(city)`.

Every event is projected through the subscriber's policy as it stands when the event
arrives (hub/events/projection.py), and every delivery of personal data is written to the
access log before it is sent.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from hub.errors import Code, HubError
from hub.events.envelope import EVENT_TYPES
from hub.models import Alert as AlertRow
from hub.policy.resources import RESOURCES
from hub.read.nodes import select_nodes, selected
from hub.schema.context import Context
from hub.schema.quotas import client_key
from hub.schema.types import ALERT, Alert

MAX_SUBSCRIPTIONS = 10


@strawberry.type(description="A domain event (CloudEvents 1.0), projected for the subscriber.")
class HubEvent:
    id: strawberry.ID = strawberry.field(
        description="The event's id: de-duplicate on it (delivery is at least once)."
    )
    type: str = strawberry.field(
        description="`be.hub.<resource>.<verb>.v1`; docs/events.md lists them."
    )
    source: str = strawberry.field(description="`urn:be:hub`.")
    subject: str = strawberry.field(
        description="The id of the record the event is about, sealed for your organisation."
    )
    time: datetime = strawberry.field(description="When the change was committed.")
    purpose: str | None = strawberry.field(description="The purpose the change was made for.")
    policy_version: str | None = strawberry.field(
        description="The version of the resource's policy in force when it was made."
    )
    data: JSON = strawberry.field(
        description="The record after the change, projected through your policy: withheld "
        "fields are absent, ids sealed for your organisation."
    )


def _begin(ctx: Context) -> str:
    """Admit one more subscription on this connection, or refuse it: at most
    MAX_SUBSCRIPTIONS on one connection and the client's quota across its connections.
    `_end` gives the places back."""
    if not ctx.authenticated:
        raise HubError(Code.UNAUTHENTICATED, "authenticate in connection_init first")
    if ctx.active_subscriptions >= MAX_SUBSCRIPTIONS:
        raise HubError(
            Code.RATE_LIMITED, f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection"
        )
    purpose = ctx.actor.purpose
    if ctx.quotas is not None and not ctx.quotas.subscribe(client_key(ctx.actor.principal)):
        raise HubError(
            Code.RATE_LIMITED,
            f"at most {ctx.quotas.max_subscriptions} subscriptions per client",
        )
    ctx.active_subscriptions += 1
    return purpose


def _end(ctx: Context) -> None:
    ctx.active_subscriptions -= 1
    if ctx.quotas is not None:
        ctx.quotas.unsubscribe(client_key(ctx.actor.principal))


async def _audit(ctx: Context, event: dict[str, Any], fields: list[str]) -> None:
    resource = EVENT_TYPES[event["type"]]
    res = RESOURCES.get(resource)
    if res is not None and res.personal:
        subject = (event.get("data") or {}).get(res.subject_column or "", None)
        ctx.actor.record(
            "event",
            resource,
            record_ids=[event["subject"]],
            fields=fields,
            subjects=[subject] if subject else [],
        )
    await ctx.flush_audit("subscription")


@strawberry.type(
    description="Live events over graphql-transport-ws. The connection authenticates in "
    '`connection_init` (`{"authorization": "Bearer …", "purpose": "…"}`) '
    "before anything runs; at most 10 subscriptions per connection."
)
class Subscription:
    @strawberry.subscription(description="Domain events, projected through your policy.")
    async def events(
        self,
        info: Info,
        types: Annotated[
            list[str] | None,
            strawberry.argument(
                description="Only these event types (default: every type you may see)."
            ),
        ] = None,
    ) -> AsyncGenerator[HubEvent, None]:
        ctx: Context = info.context
        unknown = sorted(set(types or []) - set(EVENT_TYPES))
        if unknown:
            raise HubError(Code.BAD_USER_INPUT, f"unknown event types: {', '.join(unknown)}")
        purpose = _begin(ctx)
        assert ctx.hub.events is not None and ctx.hub.projector is not None
        feed = ctx.hub.events.subscribe()
        try:
            async for event in feed:
                if types and event["type"] not in types:
                    continue
                ctx.refresh()
                principal, policies, projector = (
                    ctx.actor.principal,
                    ctx.actor.policies,
                    ctx.hub.projector,
                )
                # Subscribers with the same principal, purpose and policy see the same
                # projection: one query for all of them (hub/events/hub.py).
                seen = await ctx.hub.events.shared(
                    ("project", event["id"], principal, purpose, policies.version),
                    functools.partial(
                        projector.project, event, principal, purpose, policies, ctx.seal
                    ),
                )
                if seen is None:
                    continue
                await _audit(ctx, event, sorted(seen["data"]))
                yield HubEvent(
                    id=strawberry.ID(seen["id"]),
                    type=seen["type"],
                    source=seen["source"],
                    subject=seen["subject"],
                    time=datetime.fromisoformat(seen["time"]),
                    purpose=seen.get("purpose"),
                    policy_version=seen.get("policyversion"),
                    data=seen["data"],
                )
        finally:
            feed.close()
            _end(ctx)

    @strawberry.subscription(description="Warnings as they are issued, as your policy shows them.")
    async def alerts(
        self,
        info: Info,
        city: Annotated[
            str | None, strawberry.argument(description="Only warnings for this city.")
        ] = None,
    ) -> AsyncGenerator[Alert, None]:
        ctx: Context = info.context
        _begin(ctx)
        assert ctx.hub.events is not None
        feed = ctx.hub.events.subscribe()
        sel = selected(info)
        try:
            async for event in feed:
                if event["type"] != "be.hub.alert.issued.v1":
                    continue
                if city and (event.get("data") or {}).get("city") != city:
                    continue
                ctx.refresh()
                grant = ctx.actor.grant("Alert", "read")
                if grant is None:
                    continue
                pairs = await select_nodes(ctx, ALERT, grant, sel, AlertRow.id == event["subject"])
                await ctx.flush_audit("subscription")
                for _row, node in pairs:
                    yield node
        finally:
            feed.close()
            _end(ctx)
