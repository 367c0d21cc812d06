"""The policy change workflow, as privacy officers drive it through GraphQL:

propose (validated and compiled whole, or refused with every reason) → preview (rows and
fields gained or lost, per role and purpose, on the current data) → approval by a privacy
officer other than the proposer, and also by a worker representative when the resource is
about workers (every resource but those in NOT_ABOUT_WORKERS: care contacts, premises,
measures and the access log included) → activation as a new version, compiled again with
the guardrails and installed on every replica within a second → roll back to any earlier
version the same way. Every step is in the access log. The workflow's own permissions come
from the `PolicyChange` policy like everything else. City regimes (resource CityRegime) go
through the same workflow.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import PolicyApproval, PolicyChange, PolicyState, PolicyVersion
from hub.policy.document import PolicyError
from hub.policy.engine import PolicySet, document_resource
from hub.policy.preview import PreviewEntry, preview
from hub.policy.regimes import REGIME_RESOURCE
from hub.policy.resources import RESOURCES
from hub.policy.store import active_documents, compile_set
from hub.services.actor import Actor
from hub.services.base import authorize_existing, authorize_new, clean_text, emit_data

MAX_DOCUMENT = 100_000


def _about_workers(resource: str) -> bool:
    # The regimes decide where identities are registered: about workers too.
    return resource == REGIME_RESOURCE or RESOURCES[resource].about_workers


def _candidate(active: dict[str, tuple[int, str]], resource: str, document: str) -> PolicySet:
    """The whole set as it would be with `document`, guardrails checked; refuses with every
    reason."""
    try:
        named = document_resource(document, f"{resource} (proposed)")
    except PolicyError as exc:
        raise HubError(Code.BAD_USER_INPUT, "policy refused: " + "; ".join(exc.errors)) from None
    if named != resource:
        raise HubError(Code.BAD_USER_INPUT, f"the document is for {named}, not {resource}")
    merged = dict(active)
    merged[resource] = (merged.get(resource, (0, ""))[0] + 1, document)
    try:
        return compile_set(merged, -1)
    except PolicyError as exc:
        raise HubError(Code.BAD_USER_INPUT, "policy refused: " + "; ".join(exc.errors)) from None


def _reason(reason: str) -> str:
    try:
        return clean_text(reason, max_len=2000, multiline=True)
    except ValueError as exc:
        raise HubError(Code.BAD_USER_INPUT, f"reason {exc}") from None


async def propose(
    *, session: AsyncSession, actor: Actor, resource: str, document: str, reason: str
) -> PolicyChange:
    if resource not in RESOURCES and resource != REGIME_RESOURCE:
        raise HubError(Code.BAD_USER_INPUT, f"unknown resource {resource!r}")
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
) -> tuple[str, list[PreviewEntry]]:
    change = await authorize_existing(session, actor, "PolicyChange", "read", change_id)
    active = await active_documents(session)
    current = compile_set(active, -1)
    proposed = _candidate(active, change.resource, change.document)
    entries = (
        []  # a regime changes workflows, not who reads what
        if change.resource == REGIME_RESOURCE
        else await preview(session, current, proposed, change.resource, actor.now)
    )
    actor.record("policy:preview", change.resource, record_ids=[change.id])
    return change.resource, entries


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
