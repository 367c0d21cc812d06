"""Guardrails: what no policy version may do, whoever approved it.

The approval workflow decides who may change the policy; the guardrails decide what no
change may ever reach. They are checked whenever a policy set is compiled: by `hub policy
check` (which lists them), by a proposal, again at activation, and when a replica installs
the active set (a set that breaks one is never installed). Each is a structural check of
the rules, read conservatively: a rule the check cannot prove safe is refused, so a
guardrail can only be met by writing the restriction out in the rule itself, where the
reviewers see it.

1. `identity`: a worker's identity (legal name, birth date, nationality, document number;
   masked or generalised included) is shown only to the worker, and to the local police
   validating identities for a shift in progress in their city (from one hour before its
   start to its end). A named case (an investigation record) cannot be expressed yet, so
   investigators get no identity.
2. `care-stays-with-the-ngo`: care contacts and referrals (and helpdesk records once they
   exist) are only ever seen by the NGO that holds them (the referring or receiving one for
   a referral); police, city roles and partners get them only as suppressed aggregates
   (`min_cell` at least 5).
3. `private-address-as-zone`: the address of a private (home-based) workplace is shown to
   nobody but the worker who works there; everyone else gets at most its zone
   (`generalize`) or a pseudonym. A rule that shows addresses must exclude private premises
   (`kind: {ne: private}`).
4. `reports-only-when-shared`: a report reaches an organisation only if its author shared
   it with that organisation (`shares.organisation_id: {eq: $principal.org_id}`), and the
   police only for `safety_alerting`; a worker reads only their own reports.
5. `no-residence-status`: the hub holds no residence or immigration status: no resource
   has such a field, so no rule can show one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import inspect as sa_inspect

from hub.policy.document import PolicyDocument, Rule
from hub.policy.resources import RESOURCES
from hub.policy.where import now_offset
from hub.policy.yamlsource import Issue, Path, PolicyError, load, render

POLICE_ROLES = frozenset({"police_officer", "police_investigator"})
CITY_ROLES = frozenset({"city_officer", "city_enforcement", "city_analyst"})
# Resources of care held by one NGO (helpdesk records join them once they exist).
CARE_RESOURCES: dict[str, tuple[str, ...]] = {
    "CareContact": ("ngo_id",),
    "Referral": ("from_org_id", "to_org_id"),
}
MIN_AGGREGATE_CELL = 5
# How far around a shift the police may read the identity of the worker on it.
SHIFT_EARLY = timedelta(hours=1)  # before the start
SHIFT_LATE = timedelta(0)  # after the end
_RESIDENCE = re.compile(r"residen|immigra|migration|visa|asylum|sojourn|verblijf|permit", re.I)
_SELF = "$principal.sex_worker_id"
_ORG = "$principal.org_id"
_CITY = "$principal.city"


@dataclass(frozen=True)
class Breach:
    resource: str
    path: Path  # inside the document: ("rules", 2, "fields", "identity")
    message: str


@dataclass(frozen=True)
class Guardrail:
    key: str
    text: str  # what it guarantees, as `hub policy check` lists it
    check: Callable[[Mapping[str, PolicyDocument]], Iterator[Breach]]


# --- reading `where` expressions conservatively -----------------------------------------


def conjuncts(expr: Any) -> list[tuple[str, Any]]:
    """The (key, argument) pairs every matching row meets: the top-level comparisons and
    those of nested `and`s. `or` and `not` are kept whole, as one pair each."""
    if not isinstance(expr, dict):
        return []
    out: list[tuple[str, Any]] = []
    for key, arg in expr.items():
        if key == "and" and isinstance(arg, list):
            for part in arg:
                out += conjuncts(part)
        else:
            out.append((str(key), arg))
    return out


def pinned(expr: Any, path: str, value: str, ops: tuple[str, ...] = ("eq",)) -> bool:
    """Whether every row the expression matches has `path` compared with `value`."""
    for key, arg in conjuncts(expr):
        if key == path and isinstance(arg, dict) and any(arg.get(op) == value for op in ops):
            return True
        if (
            key == "or"
            and isinstance(arg, list)
            and arg
            and all(pinned(branch, path, value, ops) for branch in arg)
        ):
            return True
    return False


def binds_self(expr: Any) -> bool:
    """Whether every matching row is tied to the asking worker by an equality with
    `$principal.sex_worker_id` (through any path)."""
    comparisons = {"eq", "ne", "in", "lt", "lte", "gt", "gte", "is_null"}
    for key, arg in conjuncts(expr):
        if key == "or":
            if isinstance(arg, list) and arg and all(binds_self(b) for b in arg):
                return True
        elif key != "not" and isinstance(arg, dict):
            if arg.get("eq") == _SELF:
                return True
            # A whole condition on one related row (`shifts: {...}`).
            if "." not in key and not set(arg) & comparisons and binds_self(arg):
                return True
    return False


def _offset(value: Any) -> timedelta | None:
    return now_offset(value) if isinstance(value, str) else None


def shift_in_progress(expr: Any) -> bool:
    """Whether the expression asks for ONE shift of the worker, in the asker's city, not
    cancelled, with start - SHIFT_EARLY <= $now <= end + SHIFT_LATE."""
    for key, arg in conjuncts(expr):
        if key != "shifts" or not isinstance(arg, dict):
            continue
        start = end = False
        for k, a in conjuncts(arg):
            if not isinstance(a, dict):
                continue
            if k == "starts_at":
                bound = _offset(a.get("lte", a.get("lt")))
                start = start or (bound is not None and bound <= SHIFT_EARLY)
            elif k == "ends_at":
                bound = _offset(a.get("gte", a.get("gt")))
                end = end or (bound is not None and -bound <= SHIFT_LATE)
        live = pinned(arg, "status", "cancelled", ("ne",)) or any(
            k == "status"
            and isinstance(a, dict)
            and isinstance(a.get("in"), list)
            and "cancelled" not in a["in"]
            for k, a in conjuncts(arg)
        )
        if start and end and live and pinned(arg, "premises.city", _CITY):
            return True
    return False


def _excludes_private(expr: Any) -> bool:
    for key, arg in conjuncts(expr):
        if key != "kind" or not isinstance(arg, dict):
            continue
        if arg.get("ne") == "private":
            return True
        if isinstance(arg.get("eq"), str) and arg["eq"] != "private":
            return True
        if isinstance(arg.get("in"), list) and "private" not in arg["in"]:
            return True
    return False


def _rules(docs: Mapping[str, PolicyDocument], resource: str) -> Iterator[tuple[int, Rule]]:
    doc = docs.get(resource)
    yield from enumerate(doc.rules if doc is not None else ())


def _shown(rule: Rule, field: str) -> bool:
    return rule.fields.get(field, "deny") != "deny"


# --- the guardrails -----------------------------------------------------------------------


def _identity(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for i, rule in _rules(docs, "SexWorker"):
        if not _shown(rule, "identity"):
            continue
        at: Path = ("rules", i, "fields", "identity")
        if rule.roles == {"sex_worker"}:
            if rule.purposes <= {"self_service"} and pinned(rule.where, "id", _SELF):
                continue
            yield Breach(
                "SexWorker",
                at,
                "a worker sees only their own identity: self_service, where "
                "{id: {eq: $principal.sex_worker_id}}",
            )
        elif rule.roles <= {"police_officer"}:
            if rule.purposes <= {"identity_validation"} and shift_in_progress(rule.where):
                continue
            yield Breach(
                "SexWorker",
                at,
                "the police see an identity only for identity_validation, for a worker with a "
                "shift in progress in their city: where {shifts: {and: [{premises.city: {eq: "
                "$principal.city}}, {status: {ne: cancelled}}, {starts_at: {lte: $now+PT1H}}, "
                "{ends_at: {gte: $now}}]}}",
            )
        elif rule.roles <= POLICE_ROLES:
            yield Breach(
                "SexWorker",
                at,
                "investigators see an identity only for a named case, which no rule can "
                "express yet: deny identity",
            )
        else:
            others = sorted(rule.roles - POLICE_ROLES - {"sex_worker"})
            yield Breach(
                "SexWorker",
                at,
                f"identity is shown only to the police and the worker, not to {', '.join(others)}"
                if others
                else "identity: write one rule for the worker and one for the police",
            )


def _care(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for resource, org_columns in CARE_RESOURCES.items():
        for i, rule in _rules(docs, resource):
            if rule.roles != {"ngo_worker"}:
                others = ", ".join(sorted(rule.roles - {"ngo_worker"}))
                yield Breach(
                    resource,
                    ("rules", i, "roles"),
                    f"{resource} records stay with the NGO that holds them, never to {others}"
                    " (aggregates only)",
                )
            elif not any(pinned(rule.where, c, _ORG) for c in org_columns):
                yield Breach(
                    resource,
                    ("rules", i, "where"),
                    f"{resource} records stay with the NGO that holds them: where "
                    + " or ".join(f"{{{c}: {{eq: $principal.org_id}}}}" for c in org_columns),
                )
        doc = docs.get(resource)
        if doc is not None and doc.aggregate and doc.aggregate.min_cell < MIN_AGGREGATE_CELL:
            yield Breach(
                resource,
                ("aggregate", "min_cell"),
                f"{resource} leaves the NGO only as aggregates suppressed under at least "
                f"{MIN_AGGREGATE_CELL}",
            )


def _private_address(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for i, rule in _rules(docs, "Premises"):
        if rule.fields.get("address", "deny") in ("deny", "generalize", "pseudonym"):
            continue
        if _excludes_private(rule.where):
            continue
        if rule.roles == {"sex_worker"} and binds_self(rule.where):
            continue
        yield Breach(
            "Premises",
            ("rules", i, "fields", "address"),
            "the address of a private workplace is shown only to the worker who works there:"
            " exclude private premises ({kind: {ne: private}}) or give address: generalize",
        )


def _reports(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for i, rule in _rules(docs, "Report"):
        if rule.roles == {"sex_worker"}:
            if rule.actions <= {"file"} or pinned(rule.where, "author_id", _SELF):
                continue
            yield Breach(
                "Report",
                ("rules", i, "where"),
                "a worker reads only their own reports: where "
                "{author_id: {eq: $principal.sex_worker_id}}",
            )
            continue
        if rule.roles & POLICE_ROLES and not rule.purposes <= {"safety_alerting"}:
            yield Breach(
                "Report",
                ("rules", i, "purposes"),
                "reports reach the police only for safety_alerting",
            )
        if not pinned(rule.where, "shares.organisation_id", _ORG):
            yield Breach(
                "Report",
                ("rules", i, "where"),
                "a report reaches an organisation only if its author shared it with that "
                "organisation: where {shares.organisation_id: {eq: $principal.org_id}}",
            )


def _residence(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    names = {r.name for r in RESOURCES.values()} | set(docs)
    for name in sorted(names):
        resource = RESOURCES[name]
        columns = list(sa_inspect(resource.model).columns.keys())
        for field in sorted({*resource.fields, *columns}):
            if _RESIDENCE.search(field):
                yield Breach(name, (), f"{name}.{field} looks like a residence status")


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "identity",
        "a worker's identity is shown only to the worker, and to the local police validating"
        " identities for a shift in progress in their city (start - 1 h to end); no"
        " investigator sees one until named cases exist",
        _identity,
    ),
    Guardrail(
        "care-stays-with-the-ngo",
        "care contacts and referrals are seen only by the NGO holding them; police, city"
        f" and partners get only aggregates suppressed under {MIN_AGGREGATE_CELL}",
        _care,
    ),
    Guardrail(
        "private-address-as-zone",
        "the address of a private workplace is shown only to the worker; others get its zone",
        _private_address,
    ),
    Guardrail(
        "reports-only-when-shared",
        "a report reaches an organisation only when its author shared it with it, the police"
        " only for safety_alerting",
        _reports,
    ),
    Guardrail(
        "no-residence-status",
        "no resource holds a residence or immigration status",
        _residence,
    ),
)


def breaches(docs: Mapping[str, PolicyDocument]) -> list[tuple[Guardrail, Breach]]:
    """Every breach of every guardrail by a set of documents ({resource: document})."""
    return [(g, b) for g in GUARDRAILS for b in g.check(docs)]


def issues(documents: Mapping[str, tuple[str, PolicyDocument]]) -> list[Issue]:
    """The breaches as issues at their file and line; `documents` is {resource: (origin,
    document)}."""
    out: list[Issue] = []
    sources: dict[str, Any] = {}
    for guardrail, breach in breaches({r: d for r, (_, d) in documents.items()}):
        origin, doc = documents.get(breach.resource, (breach.resource, None))
        line = column = None
        if doc is not None and doc.source:
            if origin not in sources:
                try:
                    sources[origin] = load(doc.source, origin)
                except PolicyError:
                    sources[origin] = None
            if sources[origin] is not None:
                line, column = sources[origin].locate(breach.path)
        out.append(
            Issue(
                file=origin,
                line=line,
                column=column,
                path=render(breach.path),
                message=f"guardrail {guardrail.key}: {breach.message}",
            )
        )
    return out
