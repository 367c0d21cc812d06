"""Policy documents: parse and validate one YAML document per resource.

Everything unknown is an error: a role, purpose, action, field, effect, operator, path or
key. A document with any error is refused whole; the errors name the rule and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import yaml

from hub.policy.effects import EFFECTS, EFFECTS_FOR_KIND
from hub.policy.resources import RESOURCES, Resource, field_kind
from hub.policy.vocabulary import PURPOSES, ROLES
from hub.policy.where import Filter, WhereError, compile_where

_RULE_KEYS = frozenset(
    {"name", "roles", "purposes", "legal_basis", "actions", "where", "fields", "requires_consent"}
)
_DOC_KEYS = frozenset({"resource", "retention", "rules", "aggregate", "description"})
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


class PolicyError(ValueError):
    """A policy that cannot be compiled completely. `errors` lists every reason."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Rule:
    name: str
    roles: frozenset[str]
    purposes: frozenset[str]
    actions: frozenset[str]
    legal_basis: str
    where: Any
    where_filter: Filter
    fields: dict[str, str]  # field → effect, "*" expanded
    requires_consent: bool = False


@dataclass(frozen=True)
class Aggregate:
    roles: frozenset[str]
    purposes: frozenset[str]
    min_cell: int


@dataclass(frozen=True)
class PolicyDocument:
    resource: Resource
    retention: timedelta | None
    rules: tuple[Rule, ...]
    aggregate: Aggregate | None
    source: str = field(repr=False, default="")


def parse_duration(text: str) -> timedelta:
    """ISO 8601 durations of whole days, weeks, months (30 d) and years (365 d)."""
    m = _DURATION.match(text)
    if not m or not any(m.groups()):
        raise ValueError(f"retention {text!r} is not an ISO 8601 duration like P180D")
    y, mo, w, d = (int(g) if g else 0 for g in m.groups())
    return timedelta(days=365 * y + 30 * mo + 7 * w + d)


def _names(
    value: Any, allowed: frozenset[str], what: str, where: str, errs: list[str]
) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errs.append(f"{where}: {what} must be a non-empty list of names")
        return frozenset()
    unknown = sorted(set(value) - allowed)
    if unknown:
        errs.append(f"{where}: unknown {what} {', '.join(unknown)}")
    return frozenset(value) & allowed


def _fields(value: Any, resource: Resource, where: str, errs: list[str]) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        errs.append(f"{where}: fields must map field names (or *) to an effect")
        return {}
    default = "deny"
    explicit: dict[str, str] = {}
    for name, effect in value.items():
        if effect not in EFFECTS:
            errs.append(
                f"{where}: unknown effect {effect!r} for {name} (known: {', '.join(EFFECTS)})"
            )
            continue
        if name == "*":
            if effect not in ("allow", "deny"):
                errs.append(f"{where}: * takes allow or deny; name the fields for {effect}")
                continue
            default = effect
        elif name in resource.fields:
            kind = field_kind(resource, name)
            if effect not in EFFECTS_FOR_KIND[kind]:
                errs.append(f"{where}: {effect} does not apply to {name} (a {kind} field)")
                continue
            explicit[name] = effect
        else:
            errs.append(f"{where}: unknown field {name!r} of {resource.name}")
    out = {f: explicit.get(f, default) for f in resource.fields}
    # A visible row is always identified by its id; hiding it would hide the row itself.
    out["id"] = "allow"
    return out


def parse_document(text: str, *, origin: str = "<document>") -> PolicyDocument:
    errs: list[str] = []
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError([f"{origin}: not valid YAML ({exc.__class__.__name__})"]) from None
    if not isinstance(raw, dict):
        raise PolicyError([f"{origin}: a policy document is a mapping"])
    for key in sorted(set(raw) - _DOC_KEYS):
        errs.append(f"{origin}: unknown key {key!r}")
    resource = RESOURCES.get(str(raw.get("resource")))
    if resource is None:
        raise PolicyError(errs + [f"{origin}: unknown resource {raw.get('resource')!r}"])
    origin = f"{origin} ({resource.name})"

    retention = None
    if raw.get("retention") is not None:
        try:
            retention = parse_duration(str(raw["retention"]))
        except ValueError as exc:
            errs.append(f"{origin}: {exc}")

    rules: list[Rule] = []
    seen: set[str] = set()
    raw_rules = raw.get("rules") or []
    if not isinstance(raw_rules, list):
        errs.append(f"{origin}: rules must be a list")
        raw_rules = []
    for i, r in enumerate(raw_rules):
        where = f"{origin} rule {i + 1}"
        if not isinstance(r, dict):
            errs.append(f"{where}: a rule is a mapping")
            continue
        name = r.get("name")
        if not isinstance(name, str) or not name:
            errs.append(f"{where}: every rule needs a name")
            name = f"#{i + 1}"
        where = f"{origin} rule {name!r}"
        if name in seen:
            errs.append(f"{where}: duplicate rule name")
        seen.add(name)
        for key in sorted(set(r) - _RULE_KEYS):
            errs.append(f"{where}: unknown key {key!r}")
        legal_basis = r.get("legal_basis")
        if not isinstance(legal_basis, str) or not legal_basis.strip():
            errs.append(f"{where}: every rule states its legal_basis")
            legal_basis = ""
        roles = _names(r.get("roles"), ROLES, "roles", where, errs)
        purposes = _names(r.get("purposes"), PURPOSES, "purposes", where, errs)
        actions = _names(r.get("actions", ["read"]), resource.actions, "actions", where, errs)
        fields = _fields(r.get("fields", {"*": "allow"}), resource, where, errs)
        consent = r.get("requires_consent", False)
        if not isinstance(consent, bool):
            errs.append(f"{where}: requires_consent is true or false")
            consent = False
        if consent and resource.subject_column is None:
            errs.append(f"{where}: requires_consent on {resource.name}, which has no data subject")
        try:
            where_filter = compile_where(resource.model, r.get("where"), where)
        except WhereError as exc:
            errs.append(str(exc))
            continue
        rules.append(
            Rule(
                name=name,
                roles=roles,
                purposes=purposes,
                actions=actions,
                legal_basis=legal_basis,
                where=r.get("where"),
                where_filter=where_filter,
                fields=fields,
                requires_consent=consent,
            )
        )

    aggregate = None
    agg = raw.get("aggregate")
    if agg is not None:
        where = f"{origin} aggregate"
        if not isinstance(agg, dict):
            errs.append(f"{where}: must be a mapping")
        else:
            for key in sorted(set(agg) - {"roles", "purposes", "min_cell"}):
                errs.append(f"{where}: unknown key {key!r}")
            min_cell = agg.get("min_cell")
            if not isinstance(min_cell, int) or isinstance(min_cell, bool) or min_cell < 1:
                errs.append(f"{where}: min_cell must be a whole number of at least 1")
                min_cell = 1
            aggregate = Aggregate(
                roles=_names(agg.get("roles"), ROLES, "roles", where, errs),
                purposes=_names(agg.get("purposes"), PURPOSES, "purposes", where, errs),
                min_cell=min_cell,
            )
    if errs:
        raise PolicyError(errs)
    return PolicyDocument(resource, retention, tuple(rules), aggregate, source=text)
