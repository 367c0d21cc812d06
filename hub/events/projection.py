"""Projecting an event for one receiver, through the same policy as a GraphQL read.

The receiver's read grant for the event's resource decides: the record must be among the
rows its rules reach *now* (so a revoked consent or a changed policy applies from the next
event), and the event's data shows only the fields its mask shows, with the same effects
(pseudonym per receiving organisation, generalize, mask). An event nobody may see is
dropped for that receiver, never sent with empty data. Its ids (the event's own, its
subject, and the ids inside its data) leave sealed for the receiver (hub/ids.py), as in a
GraphQL answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from hub.db import Database
from hub.events.envelope import EVENT_TYPES
from hub.ids import AudienceSeal
from hub.models.base import utcnow
from hub.policy.effects import Pseudonymizer, apply
from hub.policy.engine import FieldMask, PolicySet, request_vars
from hub.policy.principal import Principal
from hub.policy.resources import RESOURCES, field_kind

# Relation fields whose key column is not `<field>_id`.
RELATION_KEYS: dict[tuple[str, str], str] = {
    ("Measure", "organisation"): "org_id",
    ("Referral", "from_organisation"): "from_org_id",
    ("Referral", "to_organisation"): "to_org_id",
}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _parse(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _out(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


class Projector:
    def __init__(self, db: Database, pseudonyms: Pseudonymizer) -> None:
        self.db = db
        self.pseudonyms = pseudonyms

    async def project(
        self,
        event: dict[str, Any],
        principal: Principal,
        purpose: str,
        policies: PolicySet,
        seal: AudienceSeal,
    ) -> dict[str, Any] | None:
        """The event as `principal` may see it for `purpose`, or None."""
        (seen,) = await self.project_many([event], principal, purpose, policies, seal)
        return seen

    async def project_many(
        self,
        events: list[dict[str, Any]],
        principal: Principal,
        purpose: str,
        policies: PolicySet,
        seal: AudienceSeal,
    ) -> list[dict[str, Any] | None]:
        """Each event as `principal` may see it for `purpose`, or None; one query per
        resource for the whole list (the relay projects a batch per partner)."""
        out: list[dict[str, Any] | None] = [None] * len(events)
        by_resource: dict[str, list[int]] = {}
        for i, event in enumerate(events):
            resource_name = EVENT_TYPES.get(event.get("type", ""))
            if resource_name is None:
                continue
            if resource_name == "PolicyChange":
                # Names a resource and a version: no personal data.
                notice = dict(event.get("data") or {})
                if notice.get("change_id"):
                    notice["change_id"] = seal.seal(notice["change_id"])
                out[i] = _sealed_envelope(event, notice, seal)
                continue
            by_resource.setdefault(resource_name, []).append(i)
        now = utcnow()
        for resource_name, indexes in by_resource.items():
            grant = policies.grant(principal.roles, purpose, resource_name, "read")
            if grant is None:
                continue
            model = RESOURCES[resource_name].model
            v = request_vars(principal, now)
            match = grant.match_columns(v)
            subjects = sorted({str(events[i]["subject"]) for i in indexes})
            stmt = select(model.id, *match).where(model.id.in_(subjects), grant.row_filter(v))
            async with self.db.sessions() as session:
                rows = {str(row[0]): row for row in (await session.execute(stmt)).all()}
            for i in indexes:
                row = rows.get(str(events[i]["subject"]))
                if row is None:
                    continue
                mask = grant.mask(tuple(bool(x) for x in row[1:]) if match else None)
                out[i] = self._shape(events[i], resource_name, mask, principal, seal)
        return out

    def _shape(
        self,
        event: dict[str, Any],
        resource_name: str,
        mask: FieldMask,
        principal: Principal,
        seal: AudienceSeal,
    ) -> dict[str, Any]:
        resource = RESOURCES[resource_name]
        raw: dict[str, Any] = event.get("data") or {}
        data: dict[str, Any] = {}
        for f in resource.fields:
            if f not in mask.shown:
                continue
            if f in raw:
                kind = field_kind(resource, f)
                value = _parse(kind, raw[f])
                effect = mask.effect(f)
                if effect != "allow" and value is not None:
                    value = apply(
                        effect,
                        kind,
                        value,
                        pseudonyms=self.pseudonyms,
                        org_id=principal.org_id,
                        scope=_scope(resource_name, f),
                        row=_Row(raw),
                    )
                if value is not None and _is_id(f) and mask.effect(f) == "allow":
                    value = seal.seal(value)
                data[_camel(f)] = _out(value)
            else:
                key = RELATION_KEYS.get((resource_name, f), f"{f}_id")
                name = _camel(f) + "Id"
                if key in raw and key not in resource.fields and name not in data:
                    data[name] = seal.seal_optional(raw[key])
        return _sealed_envelope(event, data, seal)


def _is_id(field: str) -> bool:
    return field == "id" or field.endswith("_id")


def _sealed_envelope(
    event: dict[str, Any], data: dict[str, Any], seal: AudienceSeal
) -> dict[str, Any]:
    projected = dict(event)
    projected["id"] = seal.seal(event["id"])
    projected["subject"] = seal.seal(event["subject"])
    projected["data"] = data
    return projected


def _scope(resource: str, field: str) -> str:
    if field == "sex_worker_id":
        return "SexWorker.id"  # one pseudonym per worker for one partner, across views
    return f"{resource}.{field}"


class _Row:
    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        return self._data.get(name)
