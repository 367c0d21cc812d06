"""The policy change workflow, as privacy officers drive it through GraphQL:

propose (validated and compiled whole, or refused with every reason) → preview (rows and
fields gained or lost, per role and purpose, on the current data) → approval by a privacy
officer other than the proposer, and also by a worker representative when the resource is
about workers (every resource but those in NOT_ABOUT_WORKERS: care contacts, premises,
measures and the access log included) → activation as a new version, compiled again with
the guardrails and installed on every replica within a second → roll back to any earlier
version the same way. Every step is in the access log. The workflow's own permissions come
from the `PolicyChange` policy like everything else. City regimes (resource CityRegime) and
the partner directory (resource PartnerDirectory, policies/partners.yaml: which partner
systems act for which organisation, receive which events and send from which sources) go
through the same workflow, and the workers' representative co-approves every change of
either.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.events.partners import PartnerError, parse_partners
from hub.models import Organisation, PolicyApproval, PolicyChange, PolicyState, PolicyVersion
from hub.policy.document import PolicyError
from hub.policy.engine import Grant, PolicySet, document_resource
from hub.policy.partner_document import PARTNERS_RESOURCE
from hub.policy.preview import PreviewEntry, preview
from hub.policy.regimes import REGIME_RESOURCE
from hub.policy.resources import RESOURCES
from hub.policy.store import active_documents, compile_set
from hub.policy.vocabulary import PURPOSES, ROLES
from hub.policy.where import OPERATORS
from hub.policy.yamlsource import Issue
from hub.services.actor import Actor
from hub.services.base import authorize_existing, authorize_new, clean_text, emit_data

MAX_DOCUMENT = 100_000


# Documents of the store that are not access policies of a resource.
DATA_DOCUMENTS = (REGIME_RESOURCE, PARTNERS_RESOURCE)


def _about_workers(resource: str) -> bool:
    # The regimes decide where identities are registered, the partner directory which
    # systems act on (and receive events about) workers: about workers too.
    return resource in DATA_DOCUMENTS or RESOURCES[resource].about_workers


def _known(resource: str) -> None:
    if resource not in RESOURCES and resource not in DATA_DOCUMENTS:
        raise HubError(Code.BAD_USER_INPUT, f"unknown resource {resource!r}")


def _candidate(active: dict[str, tuple[int, str]], resource: str, document: str) -> PolicySet:
    """The whole set as it would be with `document`, guardrails checked; refuses with every
    reason."""
    try:
        named = document_resource(document, f"{resource} (proposed)")
    except PolicyError as exc:
        raise PolicyRefused(exc.issues) from None
    if named != resource:
        raise HubError(Code.BAD_USER_INPUT, f"the document is for {named}, not {resource}")
    if resource == PARTNERS_RESOURCE:
        try:
            parse_partners(document, origin=f"{resource} (proposed)")
        except PartnerError as exc:
            raise PolicyRefused(exc.issues) from None
    merged = dict(active)
    version = merged.get(resource, (0, ""))[0] + 1
    merged[resource] = (version, document)
    try:
        return compile_set(merged, -1)
    except PolicyError as exc:
        raise PolicyRefused(_own_issues(exc, f"{resource}@{version}")) from None


def _reason(reason: str) -> str:
    try:
        return clean_text(reason, max_len=2000, multiline=True)
    except ValueError as exc:
        raise HubError(Code.BAD_USER_INPUT, f"reason {exc}") from None


async def propose(
    *, session: AsyncSession, actor: Actor, resource: str, document: str, reason: str
) -> PolicyChange:
    _known(resource)
    if len(document) > MAX_DOCUMENT:
        raise HubError(Code.BAD_USER_INPUT, "the document is too long")
    reason = _reason(reason)
    active = await active_documents(session)
    _candidate(active, resource, document)
    row = PolicyChange(
        resource=resource,
        kind="change",
        document=document,
        reason=reason,
        base_version=active.get(resource, (0, ""))[0],
        touches_sex_worker_data=_about_workers(resource),
        proposed_by=actor.principal.subject,
        proposed_by_org=actor.principal.org_id,
        proposed_at=actor.now,
    )
    await authorize_new(
        session, actor, "PolicyChange", "propose", row, "you may not propose policy changes"
    )
    return row


async def rollback(
    *, session: AsyncSession, actor: Actor, resource: str, version: int
) -> PolicyChange:
    target = (
        await session.execute(
            select(PolicyVersion).where(
                col(PolicyVersion.resource) == resource, col(PolicyVersion.version) == version
            )
        )
    ).scalar_one_or_none()
    if target is None:
        raise HubError(Code.NOT_FOUND, f"no version {version} of {resource}")
    if target.active:
        raise HubError(Code.CONFLICT, f"version {version} of {resource} is already active")
    active = await active_documents(session)
    _candidate(active, resource, target.document)
    row = PolicyChange(
        resource=resource,
        kind="rollback",
        document=target.document,
        reason=f"roll back to version {version}",
        base_version=active[resource][0],
        touches_sex_worker_data=_about_workers(resource),
        proposed_by=actor.principal.subject,
        proposed_by_org=actor.principal.org_id,
        proposed_at=actor.now,
    )
    await authorize_new(
        session, actor, "PolicyChange", "rollback", row, "you may not roll back policies"
    )
    return row


async def preview_change(
    *, session: AsyncSession, actor: Actor, change_id: str
) -> tuple[str, list[PreviewEntry], list[DiffEntry]]:
    change = await authorize_existing(session, actor, "PolicyChange", "read", change_id)
    active = await active_documents(session)
    current = compile_set(active, -1)
    proposed = _candidate(active, change.resource, change.document)
    entries = (
        []  # a regime or the partner directory changes workflows, not who reads what
        if change.resource in DATA_DOCUMENTS
        else await preview(session, current, proposed, change.resource, actor.now)
    )
    actor.record("policy:preview", change.resource, record_ids=[change.id])
    return change.resource, entries, diff_sets(current, proposed, change.resource)


async def approve(
    *, session: AsyncSession, actor: Actor, change_id: str
) -> tuple[PolicyChange, bool]:
    """Record an approval; activate when the approvals are complete. -> (change, activated)

    After an activation the caller installs the new policy on its replica at once
    (`HubState.reload_policies`); the others follow within a second."""
    p = actor.principal
    change = await authorize_existing(session, actor, "PolicyChange", "approve", change_id)
    if change.status != "proposed":
        raise HubError(Code.CONFLICT, f"this change is {change.status}")
    if change.proposed_by == p.subject:
        raise actor.deny(
            "approve",
            "PolicyChange",
            Code.FORBIDDEN,
            "four eyes: the proposer cannot approve their own change",
        )
    approvals = (
        (
            await session.execute(
                select(PolicyApproval).where(col(PolicyApproval.change_id) == change.id)
            )
        )
        .scalars()
        .all()
    )
    if any(a.approver == p.subject for a in approvals):
        raise HubError(Code.CONFLICT, "you already approved this change")
    have = {a.role for a in approvals}
    # What the resource is now, not only what it was when proposed: a change proposed before
    # a resource counted as about workers still waits for the workers' representative.
    about_workers = change.touches_sex_worker_data or _about_workers(change.resource)
    if "privacy_officer" in p.roles and "privacy_officer" not in have:
        role = "privacy_officer"
    elif "worker_representative" in p.roles and about_workers:
        role = "worker_representative"
    else:
        raise HubError(Code.CONFLICT, "this change already has the approval your role gives")
    session.add(
        PolicyApproval(
            change_id=change.id,
            approver=p.subject,
            approver_org=p.org_id,
            role=role,
            at=actor.now,
        )
    )
    have.add(role)
    needed = {"privacy_officer"} | ({"worker_representative"} if about_workers else set())
    activated = needed <= have
    if activated:
        await _activate(session, actor, change)
    return change, activated


async def _activate(session: Any, actor: Actor, change: PolicyChange) -> None:
    active = (
        await session.execute(
            select(PolicyVersion)
            .where(col(PolicyVersion.resource) == change.resource, col(PolicyVersion.active))
            .with_for_update()
        )
    ).scalar_one_or_none()
    current_version = active.version if active else 0
    if current_version != change.base_version:
        raise HubError(
            Code.CONFLICT,
            f"{change.resource} changed since this was proposed (now version {current_version});"
            " propose again against the active version",
        )
    # Compile once more against what is active now, guardrails included: never install a
    # set that fails, whoever approved it.
    _candidate(await active_documents(session), change.resource, change.document)
    latest = (
        await session.execute(
            select(func.max(PolicyVersion.version)).where(
                col(PolicyVersion.resource) == change.resource
            )
        )
    ).scalar_one()
    if active is not None:
        active.active = False
        await session.flush()
    version = int(latest or 0) + 1
    session.add(
        PolicyVersion(
            resource=change.resource,
            version=version,
            document=change.document,
            active=True,
            change_id=change.id,
            activated_at=actor.now,
        )
    )
    state = (
        await session.execute(select(PolicyState).where(col(PolicyState.id) == 1).with_for_update())
    ).scalar_one_or_none()
    if state is None:
        session.add(PolicyState(id=1, generation=1))
    else:
        await session.execute(
            update(PolicyState)
            .where(col(PolicyState.id) == 1)
            .values(generation=state.generation + 1)
        )
    change.status = "active"
    change.decided_at = actor.now
    change.activated_version = version
    actor.record(
        "policy:activate", change.resource, record_ids=[change.id], fields=[f"version={version}"]
    )
    # Names the resource and version only: never the document or who proposed it.
    await emit_data(
        session,
        actor,
        "be.hub.policy.activated.v1",
        subject=change.id,
        data={"resource": change.resource, "version": version, "change_id": change.id},
    )


async def reject(
    *, session: AsyncSession, actor: Actor, change_id: str, reason: str
) -> PolicyChange:
    reason = _reason(reason)
    change = await authorize_existing(session, actor, "PolicyChange", "reject", change_id)
    if change.status != "proposed":
        raise HubError(Code.CONFLICT, f"this change is {change.status}")
    change.status = "rejected"
    change.rejection_reason = reason
    change.decided_at = actor.now
    p = actor.principal
    change.rejected_by = p.subject
    change.rejected_by_org = p.org_id
    # the role the rejection is given in, as for an approval
    change.rejected_by_role = (
        "privacy_officer" if "privacy_officer" in p.roles else "worker_representative"
    )
    return change


async def list_changes(
    *, session: AsyncSession, actor: Actor, status: str | None
) -> list[PolicyChange]:
    grant = actor.require_grant("PolicyChange", "read")
    stmt = select(PolicyChange).where(grant.row_filter(actor.vars))
    if status:
        stmt = stmt.where(col(PolicyChange.status) == status)
    rows = (await session.execute(stmt.order_by(col(PolicyChange.proposed_at).desc()))).scalars()
    return list(rows)


async def list_policies(*, session: AsyncSession, actor: Actor) -> list[PolicyVersion]:
    actor.require_grant("PolicyChange", "read")
    rows = (
        await session.execute(
            select(PolicyVersion).order_by(col(PolicyVersion.resource), col(PolicyVersion.version))
        )
    ).scalars()
    return list(rows)


# --- for the consoles and partners' tools: problems at their lines, structured diffs,
# readable rules and the version history ------------------------------------------------


class PolicyRefused(HubError):
    """A document that does not compile: every problem with its line and column, as text
    (the message, for existing clients) and as data (`extensions.problems`)."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(Code.BAD_USER_INPUT, "policy refused: " + "; ".join(map(str, issues)))
        self.issues = issues

    @property
    def extensions(self) -> dict[str, Any]:  # type: ignore[override]
        return {
            "code": self.code.value,
            "problems": [
                {
                    "line": i.line,
                    "column": i.column,
                    "path": i.path,
                    "message": i.message,
                    "suggestion": i.suggestion,
                }
                for i in self.issues
            ],
        }


def _own_issues(exc: PolicyError, origin: str) -> list[Issue]:
    """The problems of the proposed document (placed at its lines), and any of the rest
    of the set without a place: a guardrail across documents names the other one."""
    out = []
    for issue in exc.issues:
        if issue.file == origin:
            out.append(issue)
        else:
            out.append(Issue(file="", line=None, column=None, message=str(issue)))
    return out


_OPERATOR_TEXT = {
    "eq": "=",
    "ne": "≠",
    "in": "in",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
}


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def where_text(expr: Any) -> str | None:
    """A rule's `where` as one line of text (None: every row), e.g.
    `premises.city = $principal.city and status ≠ cancelled`."""
    if not expr:
        return None
    return _where(expr, top=True)


def _where(expr: Any, *, top: bool = False) -> str:
    if not isinstance(expr, dict):
        return _value_text(expr)
    parts: list[str] = []
    for key, arg in expr.items():
        if key in ("and", "or") and isinstance(arg, list):
            inner = f" {key} ".join(_where(a) for a in arg)
            parts.append(inner if top and len(expr) == 1 else f"({inner})")
        elif key == "not":
            parts.append(f"not ({_where(arg, top=True)})")
        elif isinstance(arg, dict) and arg and all(k in OPERATORS for k in arg):
            for op, value in arg.items():
                if op == "is_null":
                    parts.append(f"{key} is {'' if value else 'not '}empty")
                else:
                    parts.append(f"{key} {_OPERATOR_TEXT.get(op, op)} {_value_text(value)}")
        else:  # a relation: at least one related row (to-many) or the related row
            parts.append(f"{key} has ({_where(arg, top=True)})")
    return " and ".join(parts)


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: str  # the effect under the version in force (deny when not shown)
    after: str


@dataclass
class DiffEntry:
    """What a change alters for one role and purpose, read off the rules (no data)."""

    role: str
    purpose: str
    rows_gained: list[str] = dc_field(default_factory=list)  # `where` texts now reaching
    rows_lost: list[str] = dc_field(default_factory=list)
    fields: list[FieldChange] = dc_field(default_factory=list)
    actions_gained: list[str] = dc_field(default_factory=list)
    actions_lost: list[str] = dc_field(default_factory=list)


def _rows(grant: Grant | None) -> set[str]:
    if grant is None:
        return set()
    out = set()
    for rule in grant.rules:
        text = where_text(rule.where) or "every row"
        out.add(text + (" (with the worker's consent)" if rule.requires_consent else ""))
    return out


def _effects(grant: Grant | None) -> dict[str, str]:
    if grant is None:
        return {}
    mask = grant.mask(tuple(True for _ in grant.rules)) if grant.uniform is None else grant.uniform
    return {f: mask.effect(f) for f in mask.shown}


def diff_sets(current: PolicySet, proposed: PolicySet, resource: str) -> list[DiffEntry]:
    """Per role and purpose: rows (as `where` texts), fields and actions gained or lost."""
    res = RESOURCES.get(resource)
    if res is None:  # the regimes: no rows or fields
        return []
    out: list[DiffEntry] = []
    for role in sorted(ROLES):
        roles = frozenset({role})
        for purpose in sorted(PURPOSES):
            old = current.grant(roles, purpose, resource, "read")
            new = proposed.grant(roles, purpose, resource, "read")
            acts_old = {a for a in res.actions if current.grant(roles, purpose, resource, a)}
            acts_new = {a for a in res.actions if proposed.grant(roles, purpose, resource, a)}
            rows_old, rows_new = _rows(old), _rows(new)
            before, after = _effects(old), _effects(new)
            fields = [
                FieldChange(f, before.get(f, "deny"), after.get(f, "deny"))
                for f in sorted(set(before) | set(after))
                if before.get(f, "deny") != after.get(f, "deny")
            ]
            entry = DiffEntry(
                role=role,
                purpose=purpose,
                rows_gained=sorted(rows_new - rows_old),
                rows_lost=sorted(rows_old - rows_new),
                fields=fields,
                actions_gained=sorted(acts_new - acts_old),
                actions_lost=sorted(acts_old - acts_new),
            )
            if (
                entry.rows_gained
                or entry.rows_lost
                or fields
                or entry.actions_gained
                or (entry.actions_lost)
            ):
                out.append(entry)
    return out


@dataclass(frozen=True)
class Check:
    """A draft document checked against the active set: its problems, or what it alters."""

    resource: str
    problems: list[Issue]
    diff: list[DiffEntry]


async def check_document(
    *, session: AsyncSession, actor: Actor, resource: str, document: str
) -> Check:
    """Validate a draft as `propose` would and diff it against the version in force,
    without storing anything; for the proposers (the `propose` action)."""
    actor.require_grant("PolicyChange", "propose")
    _known(resource)
    if len(document) > MAX_DOCUMENT:
        raise HubError(Code.BAD_USER_INPUT, "the document is too long")
    active = await active_documents(session)
    actor.record("policy:check", resource)
    try:
        proposed = _candidate(active, resource, document)
    except PolicyRefused as refused:
        return Check(resource, refused.issues, [])
    except HubError as exc:
        return Check(resource, [Issue(message=exc.message)], [])
    return Check(resource, [], diff_sets(compile_set(active, -1), proposed, resource))


async def change_diff(*, session: AsyncSession, change: PolicyChange) -> list[DiffEntry]:
    active = await active_documents(session)
    try:
        proposed = _candidate(active, change.resource, change.document)
    except HubError:  # no longer compiles against what is active now
        return []
    return diff_sets(compile_set(active, -1), proposed, change.resource)


def text_diff(before: str, after: str, *, old: str, new: str) -> str:
    """A unified diff of two documents (empty when equal)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), old, new
        )
    )


@dataclass
class HistoryEntry:
    """One step of a resource's policy: a version in force or superseded, or a change
    proposed or rejected."""

    resource: str
    status: str  # proposed | active | superseded | rejected
    version: int | None  # the version it is (or became); None while proposed or rejected
    base_version: int | None
    document: str
    diff: str  # against the version before it (or its base version)
    at: datetime  # activation, proposal or rejection time
    change: PolicyChange | None
    approvals: list[PolicyApproval]


async def history(*, session: AsyncSession, actor: Actor, resource: str) -> list[HistoryEntry]:
    """Every version and every change of one resource's policy, newest first."""
    grant = actor.require_grant("PolicyChange", "read")
    versions = (
        (
            await session.execute(
                select(PolicyVersion)
                .where(col(PolicyVersion.resource) == resource)
                .order_by(col(PolicyVersion.version))
            )
        )
        .scalars()
        .all()
    )
    changes = (
        (
            await session.execute(
                select(PolicyChange).where(
                    col(PolicyChange.resource) == resource, grant.row_filter(actor.vars)
                )
            )
        )
        .scalars()
        .all()
    )
    if not versions and not changes:
        return []
    ids = [c.id for c in changes]
    approvals: dict[str, list[PolicyApproval]] = {i: [] for i in ids}
    if ids:
        for a in (
            await session.execute(
                select(PolicyApproval)
                .where(col(PolicyApproval.change_id).in_(ids))
                .order_by(col(PolicyApproval.at))
            )
        ).scalars():
            approvals[a.change_id].append(a)
    by_id = {c.id: c for c in changes}
    text = {v.version: v.document for v in versions}
    out: list[HistoryEntry] = []
    for v in versions:
        change = by_id.get(v.change_id or "")
        prev = text.get(v.version - 1, "")
        out.append(
            HistoryEntry(
                resource=resource,
                status="active" if v.active else "superseded",
                version=v.version,
                base_version=v.version - 1 if v.version > 1 else None,
                document=v.document,
                diff=text_diff(prev, v.document, old=f"v{v.version - 1}", new=f"v{v.version}")
                if prev
                else "",
                at=v.activated_at,
                change=change,
                approvals=approvals.get(v.change_id or "", []),
            )
        )
    for c in changes:
        if c.status == "active":
            continue  # shown as its version
        base = text.get(c.base_version, "")
        out.append(
            HistoryEntry(
                resource=resource,
                status=c.status,
                version=None,
                base_version=c.base_version,
                document=c.document,
                diff=text_diff(base, c.document, old=f"v{c.base_version}", new="proposed"),
                at=c.decided_at or c.proposed_at,
                change=c,
                approvals=approvals[c.id],
            )
        )
    actor.record("policy:history", resource, record_ids=ids)
    return sorted(out, key=lambda e: e.at, reverse=True)


async def organisation_names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """The registered names of the organisations of proposers and approvers (the partner
    directory's names, not people)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(col(Organisation.id), col(Organisation.name)).where(
            col(Organisation.id).in_(sorted(ids))
        )
    )
    return {i: n for i, n in rows.all()}


async def version_document(*, session: AsyncSession, resource: str, version: int) -> str:
    """The text of one version of a resource's policy ("" if there is none)."""
    found = (
        await session.execute(
            select(col(PolicyVersion.document)).where(
                col(PolicyVersion.resource) == resource, col(PolicyVersion.version) == version
            )
        )
    ).scalar_one_or_none()
    return found or ""
