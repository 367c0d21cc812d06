"""The consoles' data: the hub's own GraphQL schema, executed in process with the logged-in
person's principal and the page's purpose.

Nothing on a page reads a table: every page asks the schema, so the one policy decides what
it shows and every read of personal data lands in the access log exactly as a partner's
request would (the schema's extensions write it). Errors come back normalised as on the
API (a code and a message, never an internal detail).
"""

from __future__ import annotations

from typing import Any

from strawberry import Schema

from hub.policy.principal import Principal
from hub.schema.context import Context
from hub.schema.root import normalise_error
from hub.services.actor import Actor
from hub.state import HubState


class ConsoleGraphQLError(Exception):
    """The schema refused (part of) a page's query: its errors, as the API gives them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.errors = errors

    @property
    def codes(self) -> set[str]:
        return {str((e.get("extensions") or {}).get("code")) for e in self.errors}


async def execute(
    schema: Schema,
    hub: HubState,
    principal: Principal,
    document: str,
    variables: dict[str, Any] | None = None,
    *,
    purpose: str,
    anonymous: bool = False,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(data, errors) of one operation, run as `principal` for `purpose`. `anonymous`:
    its access-log entries are written without the principal's subject (the actor's flag,
    set before anything is read or refused), as for an anonymous report."""
    actor = Actor(principal, hub.policies, purpose_header=purpose, anonymous=anonymous)
    context = Context(hub=hub, actor=actor)
    result = await schema.execute(document, variable_values=variables, context_value=context)
    errors = [dict(normalise_error(e).formatted) for e in result.errors or []]
    return result.data, errors
