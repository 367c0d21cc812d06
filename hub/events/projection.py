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
from hub.events.plans import custom_plans
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
        if len(events) > 1:
            seal = _Memo(seal)  # type: ignore[assignment]  # ids recur within a batch
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
                if len(subjects) > 1:
                    await custom_plans(session)  # an IN list: hub/events/plans.py
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
        raw: dict[str, Any] = event.get("data") or {}
        data: dict[str, Any] = {}
        for f, name, kind, effect, seal_it, key, key_name in _plan(resource_name, mask):
            if f in raw:
                value = raw[f]
                if effect != "allow" and value is not None:
                    value = _out(
                        apply(
                            effect,
                            kind,
                            _parse(kind, value),
                            pseudonyms=self.pseudonyms,
                            org_id=principal.org_id,
                            scope=_scope(resource_name, f),
                            row=_Row(raw),
                        )
                    )
                elif seal_it and value is not None:
                    value = seal.seal(value)
                data[name] = value
            elif key is not None and key in raw and key_name not in data:
                data[key_name] = seal.seal_optional(raw[key])
        return _sealed_envelope(event, data, seal)


# What a mask shows of a resource, field by field, worked out once per (resource, mask):
# (field, its camelCase name, kind, effect, whether its value is an id to seal, and for a
# relation its key column in the data and the name it is shown under).
_Step = tuple[str, str, str, str, bool, str | None, str]
_PLANS: dict[tuple[str, FieldMask], tuple[_Step, ...]] = {}


def _plan(resource_name: str, mask: FieldMask) -> tuple[_Step, ...]:
    plan = _PLANS.get((resource_name, mask))
    if plan is None:
        resource = RESOURCES[resource_name]
        steps: list[_Step] = []
        for f in resource.fields:
            if f not in mask.shown:
                continue
            effect = mask.effect(f)
            key: str | None = RELATION_KEYS.get((resource_name, f), f"{f}_id")
            if key in resource.fields:
                key = None
            steps.append(
                (
                    f,
                    _camel(f),
                    field_kind(resource, f),
                    effect,
                    effect == "allow" and _is_id(f),
                    key,
                    _camel(f) + "Id",
                )
            )
        plan = _PLANS[(resource_name, mask)] = tuple(steps)
        if len(_PLANS) > 4096:  # policies come and go: a bound, never a leak
            _PLANS.clear()
    return plan


class _Memo:
    """An audience's seal that remembers what it sealed, for one batch (a record's id is
    both the event's subject and its data's `id`; an organisation's id recurs)."""

    __slots__ = ("_seal", "_done")

    def __init__(self, seal: AudienceSeal) -> None:
        self._seal = seal
        self._done: dict[str | int, str] = {}

    def seal(self, raw: str | int) -> str:
        sealed = self._done.get(raw)
        if sealed is None:
            sealed = self._done[raw] = self._seal.seal(raw)
        return sealed

    def seal_optional(self, raw: str | None) -> str | None:
        return None if raw is None else self.seal(raw)


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
