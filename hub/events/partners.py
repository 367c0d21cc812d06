"""The partner directory (`policies/partners.yaml`, resource `PartnerDirectory`), validated
whole.

Each entry names a partner system: the organisation it belongs to (by its registered
name), the one role and the purposes it acts under, the event types it receives on its
topic `partner.<key>.events`, and whether it sends events to `partner.<key>.inbox`, with
the CloudEvents `source` values its systems may claim there (`sources`). A
partner acts as a principal built from its organisation's row, so the same policy rules
decide what it sees and does as for that organisation's users.

The directory is versioned and approved like a policy (hub/services/policy_changes.py):
four eyes and the workers' representative, who co-approves every change of it. The file
seeds version 1; from then on the connectors use the active version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from hub.events.envelope import EVENT_TYPES
from hub.models import Organisation
from hub.policy.document import Purpose, Role, Text
from hub.policy.principal import Principal
from hub.policy.yamlsource import PolicyError, Problem, Strict, known_name, load

KEY = re.compile(r"^[a-z][a-z0-9_]{1,60}$")


def _key(value: str) -> str:
    if not KEY.match(value):
        raise PydanticCustomError("partner_key", "a partner key is lower_snake_case", {})
    return value


class PartnerError(PolicyError):
    """A `partners.yaml` that cannot be used whole."""


class PartnerSpec(Strict):
    organisation: Text
    role: Role
    purposes: Annotated[list[Purpose], Field(min_length=1)]
    events: list[Annotated[str, known_name("event type", EVENT_TYPES)]] = []
    topic: str | None = None
    inbox: bool = False
    # The `source` attributes the partner's systems may send on its inbox; any other is
    # dead-lettered as forbidden_source. Required with `inbox: true`.
    sources: list[Annotated[str, Field(min_length=1, max_length=200)]] = []


class PartnersFile(Strict):
    resource: Literal["PartnerDirectory"] = "PartnerDirectory"
    version: Literal[1] = 1
    partners: dict[Annotated[str, AfterValidator(_key)], PartnerSpec]


def _topics(data: Any) -> list[Problem]:
    """A topic other than partner.<key>.events (the model of an entry does not see its key),
    and an inbox without the sources it accepts."""
    entries = data.get("partners") if isinstance(data, dict) else None
    problems: list[Problem] = []
    for key, spec in entries.items() if isinstance(entries, dict) else ():
        if not isinstance(spec, dict):
            continue
        if spec.get("topic", f"partner.{key}.events") != f"partner.{key}.events":
            problems.append(
                (("partners", key, "topic"), f"topic must be partner.{key}.events", None)
            )
        if spec.get("inbox") is True and not spec.get("sources"):
            problems.append(
                (("partners", key, "sources"), "an inbox needs the sources it accepts", None)
            )
    return problems


@dataclass(frozen=True)
class Partner:
    key: str
    organisation: str  # the organisation's registered name
    role: str
    purposes: tuple[str, ...]  # in order of preference for projecting an event
    events: frozenset[str]
    topic: str  # partner.<key>.events
    inbox: str | None  # partner.<key>.inbox, if the partner sends events
    sources: frozenset[str] = frozenset()  # the `source` values accepted on the inbox

    def principal(self, org: Organisation) -> Principal:
        return Principal(
            subject=f"connector:{self.key}",
            org_id=org.id,
            org_kind=org.kind,
            city=org.city,
            roles=frozenset({self.role}),
            purposes=frozenset(self.purposes),
            client_id=f"connector:{self.key}",
        )


def parse_partners(text: str, origin: str = "partners.yaml") -> list[Partner]:
    """Every error at once; a file with any error is refused whole."""
    try:
        source = load(text, origin)
        spec = source.validate(PartnersFile, more=_topics(source.data))
    except PolicyError as exc:
        raise PartnerError(exc.issues) from None
    return [
        Partner(
            key=key,
            organisation=p.organisation,
            role=p.role,
            purposes=tuple(p.purposes),
            events=frozenset(p.events),
            topic=f"partner.{key}.events",
            inbox=f"partner.{key}.inbox" if p.inbox else None,
            sources=frozenset(p.sources),
        )
        for key, p in spec.partners.items()
    ]
