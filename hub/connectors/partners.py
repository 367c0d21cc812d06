"""The partner connectors' directory: the partners of the active `PartnerDirectory`
version (hub/events/partners.py parses and validates it), with their organisations.

The relay reads the directory at every pass and an inbound consumer at every batch, so
an activated version applies to what partners receive, their role, purposes and accepted
sources at once; a partner whose inbox is added or removed gets (or loses) its inbound
consumer when the connectors next start (`hub connectors run`, or the replicas with
`HUB_CONNECTORS=inline`). A partner removed from the directory receives nothing more and
its inbox is refused (`unknown_partner`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from hub.db import Database
from hub.events.partners import Partner, PartnerError, PartnersFile, PartnerSpec, parse_partners
from hub.models import Organisation
from hub.policy.principal import Principal
from hub.state import HubState

__all__ = [
    "Directory",
    "Partner",
    "PartnerError",
    "PartnerSpec",
    "PartnersFile",
    "active_partners",
    "load_partners",
    "parse_partners",
]


def load_partners(policy_dir: Path) -> list[Partner]:
    path = policy_dir / "partners.yaml"
    if not path.exists():
        return []
    return parse_partners(path.read_text(), origin=path.name)


def active_partners(hub: HubState, policy_dir: Path) -> Callable[[], list[Partner]]:
    """The partners of the active PartnerDirectory version of `hub.policies`, parsed once
    per version (a version that does not parse was refused before activation; should one
    be stored anyway, the error is raised, as for a bad file). Without a version in the
    policy set: policies/partners.yaml."""
    cache: dict[str, list[Partner]] = {}

    def partners() -> list[Partner]:
        text = hub.policies.partners
        if text is None:
            if "" not in cache:
                cache[""] = load_partners(policy_dir)
            return cache[""]
        if text not in cache:
            cache.clear()
            cache[text] = parse_partners(text, origin="PartnerDirectory (active)")
        return cache[text]

    return partners


class Directory:
    """Partners with their organisation's row, looked up by name when first needed (the
    organisation may be registered after the hub starts). An unknown or ambiguous name
    resolves to nothing: that partner receives nothing and may do nothing.

    `partners` is a list, or a callable returning the partners in force (read at each use:
    the active PartnerDirectory version)."""

    def __init__(self, db: Database, partners: list[Partner] | Callable[[], list[Partner]]) -> None:
        self.db = db
        self._partners = partners
        self._orgs: dict[str, Organisation] = {}

    @property
    def partners(self) -> list[Partner]:
        return self._partners() if callable(self._partners) else self._partners

    def current(self, key: str) -> Partner | None:
        """The partner `key` as the directory in force has it (None: removed)."""
        return next((p for p in self.partners if p.key == key), None)

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
