"""GraphQL of the policy workflow: `policies`, `policyChanges` and the change mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

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


@strawberry.enum(
    description="Where a policy change stands: proposed, active (approved and in force) or "
    "rejected."
)
class PolicyChangeStatus(Enum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    REJECTED = "rejected"


@strawberry.type(description="One version of one resource's policy document.")
class Policy:
    resource: str = strawberry.field(description="The resource it governs, e.g. ShiftRegistration.")
    version: int = strawberry.field(description="Its version number, from 1.")
    active: bool = strawberry.field(description="Whether this version is in force.")
    document: str = strawberry.field(description="The policy document (YAML).")
    activated_at: datetime = strawberry.field(description="When this version came into force.")


@strawberry.type(description="One approval of a policy change.")
class PolicyApproval:
    approver: str = strawberry.field(description="The approver's token subject.")
    role: str = strawberry.field(
        description="The role the approval was given in: privacy_officer or worker_representative."
    )
    at: datetime = strawberry.field(description="When it was given.")


@strawberry.type(description="A proposed change or roll-back of a resource's policy.")
class PolicyChange:
    id: strawberry.ID = strawberry.field(
        description="The change's id, sealed for your organisation."
    )
    resource: str = strawberry.field(description="The resource whose policy it changes.")
    kind: str = strawberry.field(description="A proposal or a roll-back.")
    document: str = strawberry.field(description="The proposed policy document (YAML).")
    reason: str = strawberry.field(description="Why the change is proposed.")
    base_version: int = strawberry.field(description="The version in force when it was proposed.")
    status: PolicyChangeStatus = strawberry.field(description="Proposed, active or rejected.")
    touches_sex_worker_data: bool = strawberry.field(
        description="Whether the resource is about workers (every resource but the partner "
        "directory and certificates), so that a worker representative must approve too."
    )
    proposed_by: str = strawberry.field(description="The proposer's token subject.")
    proposed_at: datetime = strawberry.field(description="When it was proposed.")
    decided_at: datetime | None = strawberry.field(description="When it was activated or rejected.")
    rejection_reason: str | None = strawberry.field(description="Why it was rejected.")
    activated_version: int | None = strawberry.field(
        description="The version it became, once active."
    )
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


@strawberry.type(
    description="What the change alters for one role and purpose, or one registered "
    "client of that role."
)
class PolicyPreviewEntry:
    role: str = strawberry.field(description="The role.")
    purpose: str = strawberry.field(description="The purpose.")
    client: str = strawberry.field(
        description="The registered client, or * for the role in general."
    )
    rows_before: int = strawberry.field(description="Records readable under the version in force.")
    rows_after: int = strawberry.field(description="Records readable under the proposed version.")
    rows_gained: int = strawberry.field(
        description="Records readable only under the proposed version."
    )
    rows_lost: int = strawberry.field(
        description="Records readable only under the version in force."
    )
    fields_gained: list[str] = strawberry.field(
        description="Fields shown (or shown more openly) only under the proposed version."
    )
    fields_lost: list[str] = strawberry.field(
        description="Fields shown (or shown more openly) only under the version in force."
    )
    actions_gained: list[str] = strawberry.field(
        description="Actions allowed only under the proposed version."
    )
    actions_lost: list[str] = strawberry.field(
        description="Actions allowed only under the version in force."
    )


@strawberry.type(description="What the change would alter, on the current data.")
class PolicyPreview:
    change_id: strawberry.ID = strawberry.field(
        description="The change previewed (its id, sealed for your organisation)."
    )
    resource: str = strawberry.field(description="The resource whose policy it changes.")
    entries: list[PolicyPreviewEntry] = strawberry.field(
        description="One entry per role and purpose, and per registered client."
    )


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

    @strawberry.field(description="Proposed, active and rejected policy changes, newest first.")
    async def policy_changes(
        self,
        info: Info,
        status: Annotated[
            PolicyChangeStatus | None,
            strawberry.argument(description="Only changes with this status."),
        ] = None,
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
        self,
        info: Info,
        resource: Annotated[
            str,
            strawberry.argument(
                description="The resource whose policy to change, e.g. ShiftRegistration."
            ),
        ],
        document: Annotated[
            str, strawberry.argument(description="The whole new policy document (YAML).")
        ],
        reason: Annotated[
            str, strawberry.argument(description="Why, for the approvers and the record.")
        ],
    ) -> PolicyChange:
        return _change(
            info, await run(info, flow.propose, resource=resource, document=document, reason=reason)
        )

    @strawberry.mutation(
        description="What a proposed change would alter, on the current data: rows, fields "
        "and actions gained or lost per role, purpose and client."
    )
    async def preview_policy_change(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The change.")],
    ) -> PolicyPreview:
        resource, entries = await run(info, flow.preview_change, change_id=info.context.unseal(id))
        return PolicyPreview(change_id=id, resource=resource, entries=[_entry(e) for e in entries])

    @strawberry.mutation(
        description="A privacy officer other than the proposer; and a worker "
        "representative for resources holding sex-worker data."
    )
    async def approve_policy_change(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The change.")],
    ) -> PolicyChange:
        change, activated = await run(info, flow.approve, change_id=info.context.unseal(id))
        if activated:
            await info.context.hub.reload_policies()
        return _change(info, change)

    @strawberry.mutation(
        description="A privacy officer or worker representative refuses a proposed change."
    )
    async def reject_policy_change(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The change.")],
        reason: Annotated[
            str, strawberry.argument(description="Why, for the proposer and the record.")
        ],
    ) -> PolicyChange:
        change = await run(info, flow.reject, change_id=info.context.unseal(id), reason=reason)
        return _change(info, change)

    @strawberry.mutation(description="Proposes the earlier version again; approved the same way.")
    async def rollback_policy(
        self,
        info: Info,
        resource: Annotated[
            str, strawberry.argument(description="The resource whose policy to roll back.")
        ],
        version: Annotated[
            int, strawberry.argument(description="The earlier version to propose again.")
        ],
    ) -> PolicyChange:
        return _change(info, await run(info, flow.rollback, resource=resource, version=version))
