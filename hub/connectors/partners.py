"""The partner connectors of `policies/partners.yaml`, validated at load.

Each entry names a partner system: the organisation it belongs to (by its registered
name), the one role and the purposes it acts under, the event types it receives on its
topic `partner.<key>.events`, and whether it sends events to `partner.<key>.inbox`. A
partner acts as a principal built from its organisation's row, so the same policy rules
decide what it sees and does as for that organisation's users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlmodel import col

from hub.db import Database
from hub.events.envelope import EVENT_TYPES
from hub.models import Organisation
from hub.policy.principal import Principal
from hub.policy.vocabulary import PURPOSES, ROLES

KEY = re.compile(r"^[a-z][a-z0-9_]{1,60}$")
FIELDS = {"organisation", "role", "purposes", "events", "topic", "inbox"}


class PartnerError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Partner:
    key: str
    organisation: str  # the organisation's registered name
    role: str
    purposes: tuple[str, ...]  # in order of preference for projecting an event
    events: frozenset[str]
    topic: str  # partner.<key>.events
    inbox: str | None  # partner.<key>.inbox, if the partner sends events

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
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PartnerError([f"{origin}: not YAML: {exc}"]) from None
    entries = doc.get("partners") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise PartnerError([f"{origin}: needs a `partners:` mapping"])
    errors: list[str] = []
    partners: list[Partner] = []
    for key, spec in entries.items():
        where = f"{origin}: partner {key}"
        if not isinstance(key, str) or not KEY.match(key):
            errors.append(f"{where}: key must be lower_snake_case")
            continue
        if not isinstance(spec, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        unknown = set(spec) - FIELDS
        if unknown:
            errors.append(f"{where}: unknown fields {sorted(unknown)}")
        org = spec.get("organisation")
        role = spec.get("role")
        purposes = spec.get("purposes") or []
        events = spec.get("events") or []
        topic = spec.get("topic", f"partner.{key}.events")
        inbox = spec.get("inbox", False)
        if not isinstance(org, str) or not org.strip():
            errors.append(f"{where}: needs an organisation name")
        if role not in ROLES:
            errors.append(f"{where}: unknown role {role!r}")
        if not isinstance(purposes, list) or not purposes:
            errors.append(f"{where}: needs a list of purposes")
            purposes = []
        for p in purposes:
            if p not in PURPOSES:
                errors.append(f"{where}: unknown purpose {p!r}")
        if not isinstance(events, list):
            errors.append(f"{where}: events must be a list")
            events = []
        for t in events:
            if t not in EVENT_TYPES:
                errors.append(f"{where}: unknown event type {t!r}")
        if topic != f"partner.{key}.events":
            errors.append(f"{where}: topic must be partner.{key}.events")
        if not isinstance(inbox, bool):
            errors.append(f"{where}: inbox must be true or false")
        partners.append(
            Partner(
                key=key,
                organisation=str(org),
                role=str(role),
                purposes=tuple(purposes),
                events=frozenset(events),
                topic=str(topic),
                inbox=f"partner.{key}.inbox" if inbox is True else None,
            )
        )
    if errors:
        raise PartnerError(errors)
    return partners


def load_partners(policy_dir: Path) -> list[Partner]:
    path = policy_dir / "partners.yaml"
    if not path.exists():
        return []
    return parse_partners(path.read_text(), origin=path.name)


class Directory:
    """Partners with their organisation's row, looked up by name when first needed (the
    organisation may be registered after the hub starts). An unknown or ambiguous name
    resolves to nothing: that partner receives nothing and may do nothing."""

    def __init__(self, db: Database, partners: list[Partner]) -> None:
        self.db = db
        self.partners = partners
        self._orgs: dict[str, Organisation] = {}

    async def principal(self, partner: Partner) -> Principal | None:
        org = self._orgs.get(partner.organisation)
        if org is None:
            async with self.db.session() as session:
                rows = (
                    (
                        await session.execute(
                            select(Organisation).where(
                                col(Organisation.name) == partner.organisation
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
            if len(rows) != 1:
                return None
            org = self._orgs[partner.organisation] = rows[0]
        return partner.principal(org)

    def receiving(self, event_type: str) -> list[Partner]:
        return [p for p in self.partners if event_type in p.events]

    def topics(self) -> list[str]:
        out = []
        for p in self.partners:
            out.append(p.topic)
            if p.inbox:
                out.append(p.inbox)
        return out
