"""The app-wide parts every entry point hands down: database, keys, policy in force, the
access log and the event side. Built once by the app factory (hub/app.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hub.audit.log import AuditLog
from hub.crypto import Keyring
from hub.cursors import CursorCodec
from hub.db import Database
from hub.ids import IdSealer
from hub.policy.effects import Pseudonymizer
from hub.policy.engine import PolicySet

if TYPE_CHECKING:
    from hub.events.hub import EventHub
    from hub.events.projection import Projector
    from hub.policy.store import PolicyStore


@dataclass
class HubState:
    """`policies` is swapped whole when a new version is activated."""

    db: Database
    keyring: Keyring
    cursors: CursorCodec
    policies: PolicySet
    audit: AuditLog
    pseudonyms: Pseudonymizer
    ids: IdSealer
    page_cap: int = 100
    # Organisation id -> the pattern its client references must match (NGOs; Settings).
    client_ref_patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)
    store: PolicyStore | None = None
    events: EventHub | None = None
    projector: Projector | None = None

    def install_policies(self, policies: PolicySet) -> None:
        self.policies = policies

    async def reload_policies(self) -> None:
        """Install the database's active policy now (after this replica activated one)."""
        if self.store is not None:
            await self.store.reload(force=True)

    def notify_committed(self) -> None:
        """A transaction wrote events to the outbox: the local relay need not wait for its
        next poll."""
        if self.events is not None:
            self.events.notify()
