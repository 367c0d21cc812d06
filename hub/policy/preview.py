"""Preview of a policy change on the current data: for every role and purpose, the rows
and fields each registered client of that role gains or loses, and the actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, false, func, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.models import ApiClient, Organisation
from hub.policy.engine import Grant, PolicySet, request_vars
from hub.policy.principal import Principal
from hub.policy.resources import RESOURCES
from hub.policy.vocabulary import PURPOSES, ROLES

MAX_CLIENTS_PER_ROLE = 20


@dataclass
class PreviewEntry:
    role: str
    purpose: str
    client: str  # the registered client whose view this is, or "(any)"
    rows_before: int
    rows_after: int
    rows_gained: int
    rows_lost: int
    fields_gained: list[str] = field(default_factory=list)
    fields_lost: list[str] = field(default_factory=list)
    actions_gained: list[str] = field(default_factory=list)
    actions_lost: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.rows_gained
            or self.rows_lost
            or self.fields_gained
            or self.fields_lost
            or self.actions_gained
            or self.actions_lost
        )


async def _principals(session: AsyncSession) -> dict[str, list[tuple[str, Principal]]]:
    """The registered clients as principals, per role: whose views a change would alter."""
    rows = (
        await session.execute(
            select(ApiClient, Organisation)
            .join(Organisation, col(Organisation.id) == col(ApiClient.organisation_id))
            .order_by(col(ApiClient.client_id))
        )
    ).all()
    out: dict[str, list[tuple[str, Principal]]] = {r: [] for r in ROLES}
    for client, org in rows:
        for role in client.roles:
            if role in out and len(out[role]) < MAX_CLIENTS_PER_ROLE:
                out[role].append(
                    (
                        client.client_id,
                        Principal(
                            subject=client.client_id,
                            org_id=org.id,
                            org_kind=org.kind,
                            city=org.city,
                            roles=frozenset({role}),
                            purposes=frozenset(client.purposes),
                            sex_worker_id=client.sex_worker_id,
                        ),
                    )
                )
    for role, found in out.items():
        if not found:  # nobody holds the role yet: show what a rule without variables gives
            out[role] = [("(any)", Principal("(any)", "", "", None, frozenset({role}), PURPOSES))]
    return out


def _shown(grant: Grant | None) -> dict[str, str]:
    if grant is None:
        return {}
    mask = grant.mask(tuple(True for _ in grant.rules)) if grant.uniform is None else grant.uniform
    return {f: mask.effect(f) for f in mask.shown}


async def preview(
    session: AsyncSession, current: PolicySet, proposed: PolicySet, resource: str, now: datetime
) -> list[PreviewEntry]:
    res = RESOURCES[resource]
    model = res.model
    entries: list[PreviewEntry] = []
    for role, principals in (await _principals(session)).items():
        roles = frozenset({role})
        for purpose in sorted(PURPOSES):
            old = current.grant(roles, purpose, resource, "read")
            new = proposed.grant(roles, purpose, resource, "read")
            acts_old = {a for a in res.actions if current.grant(roles, purpose, resource, a)}
            acts_new = {a for a in res.actions if proposed.grant(roles, purpose, resource, a)}
            if old is None and new is None and not acts_old and not acts_new:
                continue
            before, after = _shown(old), _shown(new)
            for client, principal in principals:
                if purpose not in principal.purposes:
                    continue
                v = request_vars(principal, now)
                old_f = old.row_filter(v) if old else false()
                new_f = new.row_filter(v) if new else false()
                counts = (
                    await session.execute(
                        select(
                            func.coalesce(func.sum(case((old_f, 1), else_=0)), 0),
                            func.coalesce(func.sum(case((new_f, 1), else_=0)), 0),
                            func.coalesce(
                                func.sum(case((and_(new_f, not_(old_f)), 1), else_=0)), 0
                            ),
                            func.coalesce(
                                func.sum(case((and_(old_f, not_(new_f)), 1), else_=0)), 0
                            ),
                        ).select_from(model)
                    )
                ).one()
                entry = PreviewEntry(
                    role=role,
                    purpose=purpose,
                    client=client,
                    rows_before=int(counts[0]),
                    rows_after=int(counts[1]),
                    rows_gained=int(counts[2]),
                    rows_lost=int(counts[3]),
                    fields_gained=sorted(
                        f if after[f] == "allow" else f"{f}({after[f]})"
                        for f in after
                        if before.get(f) != after[f]
                    ),
                    fields_lost=sorted(
                        f if before[f] == "allow" else f"{f}({before[f]})"
                        for f in before
                        if after.get(f) != before[f]
                    ),
                    actions_gained=sorted(acts_new - acts_old),
                    actions_lost=sorted(acts_old - acts_new),
                )
                if entry.changed:
                    entries.append(entry)
    return entries
