"""GraphQL of the policy workflow: `policies`, `policyChanges` and the change mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from hub.models import PolicyApproval as ApprovalRow
from hub.models import PolicyChange as ChangeRow
from hub.models import PolicyVersion as VersionRow
from hub.policy.preview import PreviewEntry
from hub.schema.context import Context
from hub.schema.run import run
from hub.schema.types import list_loader
from hub.services import policy_changes as flow


@strawberry.enum
class PolicyChangeStatus(Enum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"


@strawberry.type(description="One version of one resource's policy document.")
class Policy:
    resource: str
    version: int
    active: bool
    document: str
    activated_at: datetime


@strawberry.type
class PolicyApproval:
    approver: str
    role: str
    at: datetime


@strawberry.type(description="A proposed change or roll-back of a resource's policy.")
class PolicyChange:
    id: strawberry.ID
    resource: str
    kind: str
    document: str
    reason: str
    base_version: int
    status: PolicyChangeStatus
    touches_sex_worker_data: bool
    proposed_by: str
    proposed_at: datetime
    decided_at: datetime | None
    rejection_reason: str | None
    activated_version: int | None
    key: strawberry.Private[str] = ""  # the change's record id, for its approvals

    @strawberry.field(
        description="Approvals so far; activation needs a privacy officer other "
        "than the proposer, and a worker representative for sex-worker data."
    )
    async def approvals(self, info: Info) -> list[PolicyApproval]:
        # One batched query for every change of the response, not one per change.
        loader = list_loader(info.context, "approvals", ApprovalRow, "change_id", ApprovalRow.at)
        rows = await loader.load(self.key)
        return [PolicyApproval(approver=r.approver, role=r.role, at=r.at) for r in rows]


@strawberry.type
class PolicyPreviewEntry:
    role: str
    purpose: str
    client: str
    rows_before: int
    rows_after: int
    rows_gained: int
    rows_lost: int
    fields_gained: list[str]
    fields_lost: list[str]
    actions_gained: list[str]
    actions_lost: list[str]


@strawberry.type(description="What the change would alter, on the current data.")
class PolicyPreview:
    change_id: strawberry.ID
    resource: str
    entries: list[PolicyPreviewEntry]


def _change(info: Info, row: ChangeRow) -> PolicyChange:
    return PolicyChange(
        id=strawberry.ID(info.context.seal.seal(row.id)),
        key=row.id,
        resource=row.resource,
        kind=row.kind,
        document=row.document,
        reason=row.reason,
        base_version=row.base_version,
        status=PolicyChangeStatus(row.status),
        touches_sex_worker_data=row.touches_sex_worker_data,
        proposed_by=row.proposed_by,
        proposed_at=row.proposed_at,
        decided_at=row.decided_at,
        rejection_reason=row.rejection_reason,
        activated_version=row.activated_version,
    )


def _policy(row: VersionRow) -> Policy:
    return Policy(
        resource=row.resource,
        version=row.version,
        active=row.active,
        document=row.document,
        activated_at=row.activated_at,
    )


def _entry(e: PreviewEntry) -> PolicyPreviewEntry:
    return PolicyPreviewEntry(**e.__dict__)


@strawberry.type
class PolicyQuery:
    @strawberry.field(
        description="Every version of every policy document; `active` marks the one in force."
    )
    async def policies(self, info: Info) -> list[Policy]:
        ctx: Context = info.context
        async with ctx.hub.db.sessions() as session:
            rows = await flow.list_policies(session=session, actor=ctx.actor)
        return [_policy(r) for r in rows]

    @strawberry.field
    async def policy_changes(
        self, info: Info, status: PolicyChangeStatus | None = None
    ) -> list[PolicyChange]:
        ctx: Context = info.context
        async with ctx.hub.db.sessions() as session:
            rows = await flow.list_changes(
                session=session, actor=ctx.actor, status=status.value if status else None
            )
        return [_change(info, r) for r in rows]


@strawberry.type
class PolicyMutation:
    @strawberry.mutation(
        description="Privacy officer. Refused whole, with every reason, if "
        "the document does not compile."
    )
    async def propose_policy_change(
        self, info: Info, resource: str, document: str, reason: str
    ) -> PolicyChange:
        return _change(
            info, await run(info, flow.propose, resource=resource, document=document, reason=reason)
        )

    @strawberry.mutation
    async def preview_policy_change(self, info: Info, id: strawberry.ID) -> PolicyPreview:
        resource, entries = await run(info, flow.preview_change, change_id=info.context.unseal(id))
        return PolicyPreview(change_id=id, resource=resource, entries=[_entry(e) for e in entries])

    @strawberry.mutation(
        description="A privacy officer other than the proposer; and a worker "
        "representative for resources holding sex-worker data."
    )
    async def approve_policy_change(self, info: Info, id: strawberry.ID) -> PolicyChange:
        change, activated = await run(info, flow.approve, change_id=info.context.unseal(id))
        if activated:
            await info.context.hub.reload_policies()
        return _change(info, change)

    @strawberry.mutation
    async def reject_policy_change(
        self, info: Info, id: strawberry.ID, reason: str
    ) -> PolicyChange:
        change = await run(info, flow.reject, change_id=info.context.unseal(id), reason=reason)
        return _change(info, change)

    @strawberry.mutation(description="Proposes the earlier version again; approved the same way.")
    async def rollback_policy(self, info: Info, resource: str, version: int) -> PolicyChange:
        return _change(info, await run(info, flow.rollback, resource=resource, version=version))
