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
   start to its end), and to an investigator, for the purpose investigation, only for a
   request that states an open case of the investigator's own organisation naming the
   worker: the rule's `where` asks for ONE investigation of the worker with
   `reference: {eq: $request.case}`, `police_org_id: {eq: $principal.org_id}`,
   `closed_at: {is_null: true}` and `expires_at: {gt: $now}` (or `gte`, or a later
   `$now`, never an earlier one: no grace after expiry).
2. `care-stays-with-the-ngo`: care contacts, referrals and the union's helpdesk requests
   are only ever seen by the NGO (or union) that holds them (the referring or receiving
   one for a referral); the police see only the referrals they made themselves
   (`from_org_id`); city roles and partners get them only as suppressed aggregates
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
6. `trafficking-suspicion-stays-with-its-recorder`: a trafficking suspicion is seen only by
   the organisation that recorded it (`org_id: {eq: $principal.org_id}`), and only by the
   police or an NGO: never by a city role, an operator, a worker or anyone else, not even as
   aggregates to a city role or an operator.
7. `statistics-own-city`: whoever counts a resource counts only their own city: every
   `aggregate` section has a `where` pinning a city column (`city`, or a path ending in
   `.city`) to `$principal.city` (hub/services/statistics.py refuses a report whose rows
   that `where` does not all admit), and a `min_cell` of at least 5.
8. `labour-inspection-sees-no-persons`: the labour inspector checks employers'
   recognition and employment relations, and nothing else: a rule for the role reaches
   only the partner directory (`Organisation`) and `EmploymentRelation`, and shows neither
   the worker's record (`sex_worker`) nor a worker's id other than as a pseudonym. So no
   policy can give a labour inspector identities, care, reports, residence data or a
   worker's whereabouts (shifts, rentals, premises).
9. `gender-only-to-the-worker`: a worker's self-declared gender is shown (in any form:
   allowed, masked, generalised or as a pseudonym) only by a rule for the role sex_worker
   alone, for self_service, on the worker's own record (`{id: {eq:
   $principal.sex_worker_id}}`); every other rule says `gender: deny` (a `"*": allow`
   without it shows it, and is refused). No `where` of a rule for anyone else, and no
   `aggregate` `where`, may test a gender (`gender`, or a path ending in `.gender`): a row
   filter on it would tell who has which gender without showing the field. Others meet it
   only as the suppressed `gender` indicator (hub/services/statistics.py), whose section
   needs a `min_cell` of at least 5 like any other (`statistics-own-city`).
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
LABOUR_INSPECTOR = "labour_inspector"
# What a labour inspector's rules may reach, and the fields of them it may never be shown
# as stored (the worker's record; the worker's id only as a pseudonym).
LABOUR_INSPECTION_RESOURCES = frozenset({"Organisation", "EmploymentRelation"})
LABOUR_INSPECTION_HIDDEN: dict[str, tuple[str, ...]] = {
    "EmploymentRelation": ("sex_worker", "sex_worker_id"),
}
CITY_ROLES = frozenset({"city_officer", "city_enforcement", "city_analyst"})
# Resources of care held by one NGO (or the union): the columns naming the holder.
CARE_RESOURCES: dict[str, tuple[str, ...]] = {
    "CareContact": ("ngo_id",),
    "Referral": ("from_org_id", "to_org_id"),
    "HelpdeskRequest": ("union_id",),
}
# Care resources the police may read, but only their own records: the column naming them.
POLICE_OWN_CARE: dict[str, str] = {"Referral": "from_org_id"}
# Who may ever hold a trafficking suspicion, each only the ones their organisation recorded.
SUSPICION_ROLES = POLICE_ROLES | {"ngo_worker"}
MIN_AGGREGATE_CELL = 5
# How far around a shift the police may read the identity of the worker on it.
SHIFT_EARLY = timedelta(hours=1)  # before the start
SHIFT_LATE = timedelta(0)  # after the end
_RESIDENCE = re.compile(r"residen|immigra|migration|visa|asylum|sojourn|verblijf|permit", re.I)
_SELF = "$principal.sex_worker_id"
_ORG = "$principal.org_id"
_CITY = "$principal.city"
_CASE = "$request.case"


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


def open_case(expr: Any) -> bool:
    """Whether the expression asks for ONE investigation naming the worker that is the
    case the request states, held by the asker's organisation, not closed, not expired."""
    for key, arg in conjuncts(expr):
        if key != "investigations" or not isinstance(arg, dict):
            continue
        expires = False
        for k, a in conjuncts(arg):
            if k == "expires_at" and isinstance(a, dict):
                # expires_at after $now, or after a later moment: never a grace period.
                for op in ("gt", "gte"):
                    bound = _offset(a.get(op))
                    expires = expires or (bound is not None and bound >= timedelta(0))
        closed = any(
            k == "closed_at" and isinstance(a, dict) and a.get("is_null") is True
            for k, a in conjuncts(arg)
        )
        if (
            expires
            and closed
            and pinned(arg, "reference", _CASE)
            and pinned(arg, "police_org_id", _ORG)
        ):
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
        elif rule.roles <= {"police_investigator"}:
            if rule.purposes <= {"investigation"} and open_case(rule.where):
                continue
            yield Breach(
                "SexWorker",
                at,
                "an investigator sees an identity only for investigation, under an open case "
                "of its organisation that names the worker and that the request states: where "
                "{investigations: {and: [{reference: {eq: $request.case}}, {police_org_id: "
                "{eq: $principal.org_id}}, {closed_at: {is_null: true}}, {expires_at: "
                "{gt: $now}}]}}",
            )
        elif rule.roles <= POLICE_ROLES:
            yield Breach(
                "SexWorker",
                at,
                "the police see an identity in one rule per role: one for police_officer "
                "(identity_validation), one for police_investigator (investigation)",
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
            police_column = POLICE_OWN_CARE.get(resource)
            if police_column is not None and rule.roles and rule.roles <= POLICE_ROLES:
                if not pinned(rule.where, police_column, _ORG):
                    yield Breach(
                        resource,
                        ("rules", i, "where"),
                        f"the police see only the {resource} records they made themselves: "
                        f"where {{{police_column}: {{eq: $principal.org_id}}}}",
                    )
                continue
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


def _suspicion(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    resource = "TraffickingSuspicion"
    for i, rule in _rules(docs, resource):
        others = rule.roles - SUSPICION_ROLES
        if others or not rule.roles:
            yield Breach(
                resource,
                ("rules", i, "roles"),
                "a trafficking suspicion stays with the police force or NGO that recorded it,"
                f" never to {', '.join(sorted(others)) or 'these roles'}",
            )
        elif not pinned(rule.where, "org_id", _ORG):
            yield Breach(
                resource,
                ("rules", i, "where"),
                "a trafficking suspicion stays with the organisation that recorded it: where "
                "{org_id: {eq: $principal.org_id}}",
            )
    doc = docs.get(resource)
    if doc is not None and doc.aggregate:
        banned = doc.aggregate.roles & (CITY_ROLES | {"operator", "sex_worker"})
        if banned:
            yield Breach(
                resource,
                ("aggregate", "roles"),
                "trafficking suspicions reach no city role or operator, not even as aggregates"
                f": not {', '.join(sorted(banned))}",
            )
        if doc.aggregate.min_cell < MIN_AGGREGATE_CELL:
            yield Breach(
                resource,
                ("aggregate", "min_cell"),
                f"aggregates of trafficking suspicions are suppressed under at least "
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


def _mentions(expr: Any, field: str) -> bool:
    """Whether an expression tests `field` (or a path ending in `.field`) anywhere, inside
    `and`, `or`, `not` and whole conditions on related rows alike."""
    if isinstance(expr, list):
        return any(_mentions(part, field) for part in expr)
    if not isinstance(expr, dict):
        return False
    return any(
        str(key) == field or str(key).endswith(f".{field}") or _mentions(arg, field)
        for key, arg in expr.items()
    )


def _own_record(rule: Rule) -> bool:
    """A rule for the worker alone, for self_service, on the worker's own record."""
    return (
        rule.roles == {"sex_worker"}
        and rule.purposes <= {"self_service"}
        and pinned(rule.where, "id", _SELF)
    )


def _gender(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for i, rule in _rules(docs, "SexWorker"):
        if _shown(rule, "gender") and not _own_record(rule):
            yield Breach(
                "SexWorker",
                ("rules", i, "fields", "gender"),
                "a worker's gender is shown only to the worker: gender: deny (a rule for "
                "the worker alone shows it only for self_service, where {id: {eq: "
                "$principal.sex_worker_id}})",
            )
    for resource in sorted(docs):
        for i, rule in _rules(docs, resource):
            if resource == "SexWorker" and _own_record(rule):
                continue
            if _mentions(rule.where, "gender"):
                yield Breach(
                    resource,
                    ("rules", i, "where"),
                    "no rule but the worker's own may select rows by a worker's gender",
                )
        agg = docs[resource].aggregate
        if agg is not None and _mentions(agg.where, "gender"):
            yield Breach(
                resource,
                ("aggregate", "where"),
                "an aggregate may not select rows by a worker's gender: the gender "
                "indicator counts every gender, suppressed",
            )


def _residence(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    names = {r.name for r in RESOURCES.values()} | set(docs)
    for name in sorted(names):
        resource = RESOURCES[name]
        columns = list(sa_inspect(resource.model).columns.keys())
        for field in sorted({*resource.fields, *columns}):
            if _RESIDENCE.search(field):
                yield Breach(name, (), f"{name}.{field} looks like a residence status")


def _city_pinned(expr: Any) -> bool:
    """Whether every row the expression matches has a city column (`city`, or a path
    ending in `.city`) equal to `$principal.city`."""
    paths = {key for key, _ in conjuncts(expr) if key == "city" or key.endswith(".city")}
    return any(pinned(expr, path, _CITY) for path in paths)


def _statistics(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for resource, doc in sorted(docs.items()):
        agg = doc.aggregate
        if agg is None:
            continue
        if not _city_pinned(agg.where):
            yield Breach(
                resource,
                ("aggregate", "where") if agg.where is not None else ("aggregate",),
                f"{resource} is counted only in the counter's own city: aggregate where "
                "{city: {eq: $principal.city}} (or premises.city, from_org.city, ...)",
            )
        if agg.min_cell < MIN_AGGREGATE_CELL:
            yield Breach(
                resource,
                ("aggregate", "min_cell"),
                f"every count of {resource} is suppressed under at least {MIN_AGGREGATE_CELL}",
            )


def _labour_inspection(docs: Mapping[str, PolicyDocument]) -> Iterator[Breach]:
    for resource in sorted(docs):
        for i, rule in _rules(docs, resource):
            if LABOUR_INSPECTOR not in rule.roles:
                continue
            if resource not in LABOUR_INSPECTION_RESOURCES:
                yield Breach(
                    resource,
                    ("rules", i, "roles"),
                    f"the labour inspector checks employers and employment only: no {resource}"
                    " (allowed: " + ", ".join(sorted(LABOUR_INSPECTION_RESOURCES)) + ")",
                )
                continue
            for field in LABOUR_INSPECTION_HIDDEN.get(resource, ()):
                effect = rule.fields.get(field, "deny")
                if field == "sex_worker_id" and effect in ("deny", "pseudonym"):
                    continue
                if field != "sex_worker_id" and effect == "deny":
                    continue
                yield Breach(
                    resource,
                    ("rules", i, "fields", field),
                    f"the labour inspector sees no worker's record or id: {field}: "
                    + ("pseudonym (or deny)" if field == "sex_worker_id" else "deny"),
                )


GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        "identity",
        "a worker's identity is shown only to the worker, to the local police validating"
        " identities for a shift in progress in their city (start - 1 h to end), and to an"
        " investigator for a request stating an open case of its organisation naming the"
        " worker",
        _identity,
    ),
    Guardrail(
        "care-stays-with-the-ngo",
        "care contacts, referrals and helpdesk requests are seen only by the NGO or union"
        " holding them (the police: only referrals they made); city and partners get only"
        f" aggregates suppressed under {MIN_AGGREGATE_CELL}",
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
    Guardrail(
        "trafficking-suspicion-stays-with-its-recorder",
        "a trafficking suspicion is seen only by the police force or NGO that recorded it;"
        " never by city roles, operators or anyone else",
        _suspicion,
    ),
    Guardrail(
        "statistics-own-city",
        "counts are made only of the counter's own city ($principal.city), every cell"
        f" under {MIN_AGGREGATE_CELL} suppressed",
        _statistics,
    ),
    Guardrail(
        "labour-inspection-sees-no-persons",
        "the labour inspector sees employers' recognition and employment relations only: no"
        " identity, care, report, residence data or workplace, the worker only as a pseudonym",
        _labour_inspection,
    ),
    Guardrail(
        "gender-only-to-the-worker",
        "a worker's self-declared gender is shown only to the worker (self_service, own"
        " record); no other rule shows it or selects rows by it; others get only the"
        f" gender indicator, suppressed under {MIN_AGGREGATE_CELL}",
        _gender,
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
