"""What a request carries through the resolvers: who asks, for which purpose, and the hub."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.auth.principal import Principal
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.policy.engine import Grant, PolicySet, request_vars
from hub.policy.vocabulary import PURPOSES

if TYPE_CHECKING:
    from hub.crypto import Keyring
    from hub.db import Database
    from hub.schema.cursors import CursorCodec


@dataclass
class HubState:
    """The app-wide parts a request needs. `policies` is swapped whole on activation."""

    db: Database
    keyring: Keyring
    cursors: CursorCodec
    policies: PolicySet
    page_cap: int = 100


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
    _vars: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        # One policy version per request, even if a new one is activated meanwhile.
        self.policies = self.hub.policies

    @property
    def purpose(self) -> str:
        """The request's purpose: the Hub-Purpose header, or the token's only purpose."""
        header = self.purpose_header
        if header:
            if header not in PURPOSES:
                raise HubError(Code.BAD_USER_INPUT, f"unknown purpose {header!r}")
            if header not in self.principal.purposes:
                raise HubError(Code.FORBIDDEN, f"this token does not allow purpose {header!r}")
            return header
        if len(self.principal.purposes) == 1:
            return next(iter(self.principal.purposes))
        raise HubError(
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
            raise HubError(
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
