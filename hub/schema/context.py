"""What a request carries through the resolvers: who asks, for which purpose, and the hub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.audit.log import AuditRecord
from hub.auth.principal import Principal
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.policy.effects import Pseudonymizer
from hub.policy.engine import Grant, PolicySet, request_vars
from hub.policy.vocabulary import PURPOSES

if TYPE_CHECKING:
    from hub.audit.log import AuditLog
    from hub.crypto import Keyring
    from hub.db import Database
    from hub.events.hub import EventHub
    from hub.events.projection import Projector
    from hub.policy.store import PolicyStore
    from hub.schema.cursors import CursorCodec


@dataclass
class HubState:
    """The app-wide parts a request needs. `policies` is swapped whole on activation."""

    db: Database
    keyring: Keyring
    cursors: CursorCodec
    policies: PolicySet
    audit: AuditLog
    pseudonyms: Pseudonymizer
    page_cap: int = 100
    store: PolicyStore | None = None
    events: EventHub | None = None
    projector: Projector | None = None

    def install_policies(self, policies: PolicySet) -> None:
        self.policies = policies

    async def reload_policies(self) -> None:
        """Install the database's active policy now (after this replica activated one)."""
        if self.store is not None:
            await self.store.reload(force=True)


@dataclass
class Context:
    hub: HubState
    principal: Principal
    purpose_header: str | None = None
    now: datetime = field(default_factory=utcnow)
    # GraphQL type → field names withheld by policy in this response (for `extensions`).
    withheld: dict[str, set[str]] = field(default_factory=dict)
    loaders: dict[Any, Any] = field(default_factory=dict)
    selections: dict[int, frozenset[str]] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    _denials: set[tuple[str, str, str]] = field(default_factory=set)
    # Set by an anonymous act (an anonymous report): the access log then names the role and
    # the shared self-service organisation, never the token's subject.
    anonymous_actor: bool = False
    # Writes of the open transaction: (action, resource, record ids, subjects).
    pending_writes: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)
    emitted: int = 0  # events written to the outbox by this request
    # A WebSocket context exists before `connection_init`; nothing runs until it is set.
    authenticated: bool = True
    connection_params: dict[str, Any] | None = None
    expires_at: float | None = None  # the token's expiry, for live connections
    active_subscriptions: int = 0
    _vars: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # One policy version per request, even if a new one is activated meanwhile.
        self.policies = self.hub.policies

    def refresh(self) -> None:
        """For a live subscription, before each event: the policy in force and the clock now,
        so a policy or consent change applies from the next event."""
        self.policies = self.hub.policies
        self.now = utcnow()
        self._vars = None

    @property
    def purpose(self) -> str:
        """The request's purpose: the Hub-Purpose header, or the token's only purpose."""
        header = self.purpose_header
        if header:
            if header not in PURPOSES:
                raise self.deny("purpose", "", Code.BAD_USER_INPUT, f"unknown purpose {header!r}")
            if header not in self.principal.purposes:
                raise self.deny(
                    "purpose", "", Code.FORBIDDEN, f"this token does not allow purpose {header!r}"
                )
            return header
        if len(self.principal.purposes) == 1:
            return next(iter(self.principal.purposes))
        raise self.deny(
            "purpose",
            "",
            Code.PURPOSE_REQUIRED,
            "state the purpose of this request in the Hub-Purpose header; this token allows "
            + ", ".join(sorted(self.principal.purposes)),
        )

    @property
    def vars(self) -> dict[str, Any]:
        if self._vars is None:
            self._vars = request_vars(self.principal, self.now)
        return self._vars

    def grant(self, resource: str, action: str) -> Grant | None:
        return self.policies.grant(self.principal.roles, self.purpose, resource, action)

    def require_grant(self, resource: str, action: str) -> Grant:
        grant = self.grant(resource, action)
        if grant is None:
            roles = ", ".join(sorted(self.principal.roles))
            raise self.deny(
                action,
                resource,
                Code.FORBIDDEN,
                f"no policy rule lets {roles} {action} {resource} for purpose {self.purpose}",
            )
        return grant

    def loader(self, key: Any, factory: Callable[[], Any]) -> Any:
        found = self.loaders.get(key)
        if found is None:
            found = self.loaders[key] = factory()
        return found

    def withhold(self, type_name: str, fields: frozenset[str]) -> None:
        if fields:
            self.withheld.setdefault(type_name, set()).update(fields)

    # --- audit ---------------------------------------------------------------------------

    def record(
        self,
        action: str,
        resource: str,
        *,
        record_ids: list[str] | None = None,
        fields: list[str] | None = None,
        subjects: list[str] | None = None,
        outcome: str = "allowed",
        reason: str | None = None,
    ) -> None:
        """Note an access for the audit log; written before the response leaves."""
        p = self.principal
        self.audit.append(
            AuditRecord(
                at=self.now,
                action=action,
                resource=resource,
                organisation_id=p.org_id,
                roles=",".join(sorted(p.roles)),
                subject="" if self.anonymous_actor else p.subject,
                purpose=self._purpose_for_audit(),
                record_ids=record_ids or [],
                fields=fields or [],
                subjects=subjects or [],
                policy_version=self.policies.resource_version(resource),
                outcome=outcome,
                reason=reason,
            )
        )

    def deny(self, action: str, resource: str, code: Code, message: str) -> HubError:
        """Record a refusal (once per request and kind) and return the error to raise."""
        key = (action, resource, code.value)
        if key not in self._denials:
            self._denials.add(key)
            self.record(action, resource, outcome="denied", reason=code.value)
        return HubError(code, message)

    def _purpose_for_audit(self) -> str:
        header = self.purpose_header
        if header:
            return header[:40]
        if len(self.principal.purposes) == 1:
            return next(iter(self.principal.purposes))
        return ""

    async def flush_audit(self, operation: str) -> None:
        records, self.audit = self.audit, []
        for r in records:
            r.operation = operation
        await self.hub.audit.append(records)
