"""What a GraphQL request carries through the schema: the hub, the actor (who asks, under
which policy, for which purpose, and the access-log entries of the request), the read
path's per-request loaders, and for a WebSocket the connection's own state."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hub.ids import AudienceSeal, UnknownId
from hub.read.context import Loaders
from hub.schema.quotas import ClientQuotas
from hub.services.actor import Actor
from hub.state import HubState


@dataclass
class Context:
    hub: HubState
    actor: Actor
    loaders: Loaders = field(default_factory=Loaders)
    # A WebSocket context exists before `connection_init`; nothing runs until it is set.
    authenticated: bool = True
    connection_params: dict[str, Any] | None = None
    expires_at: float | None = None  # the token's expiry, for live connections
    active_subscriptions: int = 0
    # The per-client quotas (hub/schema/quotas.py); for a WebSocket, the client whose
    # connection is counted, and the close code and reason to give if it is refused.
    quotas: ClientQuotas | None = None
    counted_client: str | None = None
    close: tuple[int, str] | None = None

    @property
    def seal(self) -> AudienceSeal:
        """The caller's id seal (hub/ids.py): ids leave sealed and come back unsealed."""
        return self.hub.ids.for_audience(self.actor.principal.audience)

    @property
    def client_ref_pattern(self) -> re.Pattern[str] | None:
        """The caller's organisation's own client reference pattern, if it has one."""
        return self.hub.client_ref_patterns.get(self.actor.principal.org_id)

    def unseal(self, token: str) -> str:
        """The record id behind an id the caller sent, or NOT_FOUND (recorded)."""
        try:
            return self.seal.unseal(token)
        except UnknownId as error:
            self.actor.deny("unseal", "", error.code, error.message)
            raise

    def unseal_optional(self, token: str | None) -> str | None:
        return None if token is None else self.unseal(token)

    def refresh(self) -> None:
        """For a live subscription, before each event: the policy in force now."""
        self.actor.refresh(self.hub.policies)

    async def flush_audit(self, operation: str) -> None:
        await self.actor.audit.flush(self.hub.audit, operation)
