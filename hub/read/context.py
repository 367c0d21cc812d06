"""What the read path is given for one request: the hub, the actor, and the request's own
loaders and caches (DataLoaders, parsed selections, the fields withheld so far)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.ids import AudienceSeal
from hub.services.actor import Actor
from hub.state import HubState


@dataclass
class Loaders:
    """Per-request state of the read path; never shared between requests."""

    loaders: dict[Any, Any] = field(default_factory=dict)
    selections: dict[Any, frozenset[str]] = field(default_factory=dict)
    # GraphQL type → field names withheld by policy in this response (for `extensions`).
    withheld: dict[str, set[str]] = field(default_factory=dict)

    def get(self, key: Any, factory: Callable[[], Any]) -> Any:
        found = self.loaders.get(key)
        if found is None:
            found = self.loaders[key] = factory()
        return found

    def withhold(self, type_name: str, fields: frozenset[str]) -> None:
        if fields:
            self.withheld.setdefault(type_name, set()).update(fields)


class ReadContext(Protocol):
    hub: HubState
    actor: Actor
    loaders: Loaders

    @property
    def seal(self) -> AudienceSeal:
        """The caller's id seal: every id in an answer passes through it."""
        ...
