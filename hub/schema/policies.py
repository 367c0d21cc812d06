"""GraphQL of the policy workflow: `policies`, `policyChanges` and the change mutations."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Annotated, Any

import strawberry
import yaml
from strawberry.types import Info

from hub.models import PolicyApproval as ApprovalRow
from hub.models import PolicyChange as ChangeRow
from hub.models import PolicyVersion as VersionRow
from hub.policy.document import PolicyError, parse_document
from hub.policy.partner_document import PARTNERS_RESOURCE
from hub.policy.preview import PreviewEntry
from hub.policy.regimes import REGIME_RESOURCE
from hub.policy.yamlsource import Issue
from hub.schema.context import Context
from hub.schema.enums import describe_values
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


describe_values(
    PolicyChangeStatus,
    {
        "PROPOSED": "Awaiting its approvals.",
        "ACTIVE": "Approved and in force.",
        "REJECTED": "Rejected by an approver.",
    },
)


@strawberry.type(description="One version of one resource's policy document.")
class Policy:
    resource: str = strawberry.field(description="The resource it governs, e.g. ShiftRegistration.")
    version: int = strawberry.field(description="Its version number, from 1.")
    active: bool = strawberry.field(description="Whether this version is in force.")
    document: str = strawberry.field(description="The policy document (YAML).")
    activated_at: datetime = strawberry.field(description="When this version came into force.")

    @strawberry.field(
        description="The document's rules as data: who, why, on which rows, which fields "
        "and how (empty for the city regimes, which have no rules)."
    )
    def rules(self) -> list[PolicyRule]:
        return _rules(self.resource, self.document)

    @strawberry.field(description="The document's description, if it has one.")
    def description(self) -> str | None:
        return _meta(self.document).get("description")

    @strawberry.field(
        description="How long a record is kept (ISO 8601 duration), if the document says."
    )
    def retention(self) -> str | None:
        value = _meta(self.document).get("retention")
        return str(value) if value is not None else None

    @strawberry.field(
        description="Who may count the resource for statistics, and the smallest cell shown; "
        "null if nobody may."
    )
    def aggregate(self) -> PolicyAggregate | None:
        doc = _parsed(self.resource, self.document)
        if doc is None or doc.aggregate is None:
            return None
        a = doc.aggregate
        return PolicyAggregate(
            roles=sorted(a.roles),
            purposes=sorted(a.purposes),
            min_cell=a.min_cell,
            where=flow.where_text(a.where),
        )


@strawberry.type(description="The effect a rule gives one field.")
class PolicyFieldEffect:
    field: str = strawberry.field(description="The field, as the policy names it (snake_case).")
    effect: str = strawberry.field(
        description="allow, deny, pseudonym, generalize or mask (see docs/policy.md)."
    )


@strawberry.type(description="One rule of a policy document, as data.")
class PolicyRule:
    name: str = strawberry.field(description="The rule's name, unique in its document.")
    roles: list[str] = strawberry.field(description="The roles it applies to.")
    purposes: list[str] = strawberry.field(description="The purposes it applies to.")
    actions: list[str] = strawberry.field(description="The actions it allows (read, ...).")
    legal_basis: str = strawberry.field(description="Why the access is lawful, in words.")
    where: str | None = strawberry.field(
        description="Which rows it reaches, as one line of text (e.g. `premises.city = "
        "$principal.city`); null when it reaches every row."
    )
    requires_consent: bool = strawberry.field(
        description="Whether it reaches only records whose worker consented to the caller."
    )
    fields: list[PolicyFieldEffect] = strawberry.field(
        description="Every field of the resource with the effect this rule gives it "
        "(`*` expanded; `id` is always allowed)."
    )


@strawberry.type(description="Who may count a resource, and the smallest cell they see.")
class PolicyAggregate:
    roles: list[str] = strawberry.field(description="The roles that may count.")
    purposes: list[str] = strawberry.field(description="For these purposes.")
    min_cell: int = strawberry.field(description="Counts under this are suppressed.")
    where: str | None = strawberry.field(
        default=None,
        description="Which rows the roles may count, as one line of text (e.g. `city = "
        "$principal.city`: only their own city); null when every row.",
    )


@lru_cache(maxsize=256)
def _parsed(resource: str, document: str) -> Any:
    if resource in (REGIME_RESOURCE, PARTNERS_RESOURCE):
        return None
    try:
        return parse_document(document, origin=resource)
    except PolicyError:  # stored versions compiled once; never fail a listing over one
        return None


@lru_cache(maxsize=256)
def _meta(document: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(document)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _rules(resource: str, document: str) -> list[PolicyRule]:
    doc = _parsed(resource, document)
    if doc is None:
        return []
    return [
        PolicyRule(
            name=r.name,
            roles=sorted(r.roles),
            purposes=sorted(r.purposes),
            actions=sorted(r.actions),
            legal_basis=r.legal_basis,
            where=flow.where_text(r.where),
            requires_consent=r.requires_consent,
            fields=[PolicyFieldEffect(field=f, effect=e) for f, e in r.fields.items()],
        )
        for r in doc.rules
    ]


@strawberry.type(description="One problem of a policy document, at its place.")
class PolicyProblem:
    line: int | None = strawberry.field(description="The line (from 1), where known.")
    column: int | None = strawberry.field(description="The column (from 1), where known.")
    path: str = strawberry.field(
        description="The place inside the document, e.g. `rules[2].fields.identty`."
    )
    message: str = strawberry.field(description="What is wrong.")
    suggestion: str | None = strawberry.field(
        description="The closest known name, for an unknown one."
    )


def _problem(i: Issue) -> PolicyProblem:
    return PolicyProblem(
        line=i.line, column=i.column, path=i.path, message=i.message, suggestion=i.suggestion
    )


@strawberry.type(description="A field whose effect a change alters, for one role and purpose.")
class PolicyFieldChange:
    field: str = strawberry.field(description="The field (snake_case, as in the policy).")
    before: str = strawberry.field(
        description="Its effect under the version in force (deny when not shown)."
    )
    after: str = strawberry.field(description="Its effect under the proposed version.")


@strawberry.type(
    description="What a change alters for one role and purpose, read off the rules: the "
    "rows (as the rules' `where` texts), fields and actions gained or lost."
)
class PolicyDiffEntry:
    role: str = strawberry.field(description="The role.")
    purpose: str = strawberry.field(description="The purpose.")
    rows_gained: list[str] = strawberry.field(
        description="Row conditions (`where` texts) that reach rows only under the proposed "
        "version; `every row` for a rule without one."
    )
    rows_lost: list[str] = strawberry.field(
        description="Row conditions that reach rows only under the version in force."
    )
    fields: list[PolicyFieldChange] = strawberry.field(
        description="Fields whose effect changes (gained, lost or changed)."
    )
    actions_gained: list[str] = strawberry.field(
        description="Actions allowed only under the proposed version."
    )
    actions_lost: list[str] = strawberry.field(
        description="Actions allowed only under the version in force."
    )


def _diff(e: flow.DiffEntry) -> PolicyDiffEntry:
    return PolicyDiffEntry(
        role=e.role,
        purpose=e.purpose,
        rows_gained=e.rows_gained,
        rows_lost=e.rows_lost,
        fields=[PolicyFieldChange(field=f.field, before=f.before, after=f.after) for f in e.fields],
        actions_gained=e.actions_gained,
        actions_lost=e.actions_lost,
    )


@strawberry.type(
    description="A draft policy document checked as a proposal would be, without storing "
    "it: its problems at their lines, or what it would change."
)
class PolicyCheck:
    resource: str = strawberry.field(description="The resource the draft is for.")
    ok: bool = strawberry.field(description="Whether the draft compiles, guardrails included.")
    problems: list[PolicyProblem] = strawberry.field(
        description="Every problem, with its line and column where known; empty when ok."
    )
    diff: list[PolicyDiffEntry] = strawberry.field(
        description="Per role and purpose, what it would change (empty when not ok)."
    )


@strawberry.type(description="One approval of a policy change.")
class PolicyApproval:
    approver: str = strawberry.field(description="The approver's token subject.")
    role: str = strawberry.field(
        description="The role the approval was given in: privacy_officer or worker_representative."
    )
    at: datetime = strawberry.field(description="When it was given.")
    organisation: str | None = strawberry.field(
        default=None, description="The approver's organisation, by its registered name."
    )


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
    rejected_by_organisation: str | None = strawberry.field(
        default=None, description="The organisation, by its registered name, that rejected it."
    )
    rejected_by_role: str | None = strawberry.field(
        default=None,
        description="The role it was rejected in: privacy_officer or worker_representative.",
    )
    activated_version: int | None = strawberry.field(
        description="The version it became, once active."
    )
    proposed_by_organisation: str | None = strawberry.field(
        default=None, description="The proposer's organisation, by its registered name."
    )
    key: strawberry.Private[str] = ""  # the change's record id, for its approvals
    base_document: strawberry.Private[str | None] = None

    @strawberry.field(
        description="A unified diff of the proposed document against the version it was "
        "proposed against."
    )
    async def text_diff(self, info: Info) -> str:
        base = self.base_document
        if base is None:
            ctx: Context = info.context
            async with ctx.hub.db.sessions() as session:
                base = await flow.version_document(
                    session=session, resource=self.resource, version=self.base_version
                )
        return flow.text_diff(base, self.document, old=f"v{self.base_version}", new="proposed")

    @strawberry.field(
        description="Per role and purpose, what the change would alter against the version "
        "in force now (empty once it no longer compiles against it)."
    )
    async def diff(self, info: Info) -> list[PolicyDiffEntry]:
        ctx: Context = info.context
        async with ctx.hub.db.sessions() as session:
            row = ChangeRow(
                resource=self.resource,
                document=self.document,
                reason="",
                base_version=self.base_version,
                proposed_by="",
                proposed_by_org="",
            )
            return [_diff(e) for e in await flow.change_diff(session=session, change=row)]

    @strawberry.field(
        description="Approvals so far; activation needs a privacy officer other "
        "than the proposer, and a worker representative for sex-worker data."
    )
    async def approvals(self, info: Info) -> list[PolicyApproval]:
        # One batched query for every change of the response, not one per change.
        loader = list_loader(info.context, "approvals", ApprovalRow, "change_id", ApprovalRow.at)
        rows = await loader.load(self.key)
        names = await _org_names(info, {r.approver_org for r in rows})
        return [
            PolicyApproval(
                approver=r.approver, role=r.role, at=r.at, organisation=names.get(r.approver_org)
            )
            for r in rows
        ]


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
    diff: list[PolicyDiffEntry] = strawberry.field(
        description="Per role and purpose, the rows (as `where` texts), fields and actions "
        "gained or lost, read off the rules."
    )


@strawberry.enum(
    description="Where a step of a resource's policy stands: proposed (waiting for "
    "approval), active (in force), superseded (was in force) or rejected."
)
class PolicyVersionStatus(Enum):
    PROPOSED = "proposed"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"


describe_values(
    PolicyVersionStatus,
    {
        "PROPOSED": "A change waiting for its approvals.",
        "ACTIVE": "The version in force.",
        "SUPERSEDED": "A version that was in force and was replaced.",
        "REJECTED": "A change that was refused and never came into force.",
    },
)


@strawberry.type(
    description="One step of a resource's policy history: a version (in force or "
    "superseded) or a change (proposed or rejected)."
)
class PolicyHistoryEntry:
    resource: str = strawberry.field(description="The resource.")
    status: PolicyVersionStatus = strawberry.field(
        description="Proposed, active, superseded or rejected."
    )
    version: int | None = strawberry.field(
        description="The version number; null for a change not (yet) in force."
    )
    base_version: int | None = strawberry.field(
        description="The version it was proposed against (or follows)."
    )
    kind: str | None = strawberry.field(
        description="`change` or `rollback`; null for a version loaded from the policy files."
    )
    reason: str | None = strawberry.field(description="Why it was proposed.")
    document: str = strawberry.field(description="The policy document (YAML).")
    diff: str = strawberry.field(
        description="A unified diff against the version before it (or the version it was "
        "proposed against); empty for a first version."
    )
    at: datetime = strawberry.field(
        description="When it came into force, or was rejected, or was proposed."
    )
    change: PolicyChange | None = strawberry.field(
        description="The change that made it, with who proposed and approved it; null for a "
        "version loaded from the policy files."
    )


async def _org_names(info: Info, ids: set[str]) -> dict[str, str]:
    """Organisation names, cached for the request."""
    ctx: Context = info.context
    cache: dict[str, str] = ctx.loaders.get(("policy-org-names",), dict)
    missing = {i for i in ids if i and i not in cache}
    if missing:
        async with ctx.hub.db.sessions() as session:
            cache.update(await flow.organisation_names(session, missing))
    return {i: cache[i] for i in ids if i in cache}


def _change(info: Info, row: ChangeRow, names: dict[str, str] | None = None) -> PolicyChange:
    return PolicyChange(
        id=strawberry.ID(info.context.seal.seal(row.id)),
        key=row.id,
        proposed_by_organisation=(names or {}).get(row.proposed_by_org),
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
        rejected_by_organisation=(names or {}).get(row.rejected_by_org or ""),
        rejected_by_role=row.rejected_by_role,
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
    async def policies(
        self,
        info: Info,
        resource: Annotated[
            str | None,
            strawberry.argument(
                description="Only this resource's versions, e.g. ShiftRegistration."
            ),
        ] = None,
        active_only: Annotated[
            bool, strawberry.argument(description="Only the versions in force.")
        ] = False,
    ) -> list[Policy]:
        ctx: Context = info.context
        async with ctx.hub.db.sessions() as session:
            rows = await flow.list_policies(session=session, actor=ctx.actor)
        return [
            _policy(r)
            for r in rows
            if (resource is None or r.resource == resource) and (r.active or not active_only)
        ]

    @strawberry.field(
        description="Every version and change of one resource's policy, newest first: "
        "status, who proposed and approved, and the text diff to the version before."
    )
    async def policy_history(
        self,
        info: Info,
        resource: Annotated[
            str, strawberry.argument(description="The resource, e.g. ShiftRegistration.")
        ],
    ) -> list[PolicyHistoryEntry]:
        ctx: Context = info.context
        async with ctx.hub.db.sessions() as session:
            entries = await flow.history(session=session, actor=ctx.actor, resource=resource)
            orgs = {e.change.proposed_by_org for e in entries if e.change}
            orgs |= {
                e.change.rejected_by_org for e in entries if e.change and e.change.rejected_by_org
            }
            orgs |= {a.approver_org for e in entries for a in e.approvals}
            names = await flow.organisation_names(session, orgs)
        return [
            PolicyHistoryEntry(
                resource=e.resource,
                status=PolicyVersionStatus(e.status),
                version=e.version,
                base_version=e.base_version,
                kind=e.change.kind if e.change else None,
                reason=e.change.reason if e.change else None,
                document=e.document,
                diff=e.diff,
                at=e.at,
                change=_change(info, e.change, names) if e.change else None,
            )
            for e in entries
        ]

    @strawberry.field(
        description="Checks a draft document as proposePolicyChange would, without storing "
        "it: every problem at its line and column, or per role and purpose what it would "
        "change. For those who may propose."
    )
    async def check_policy_document(
        self,
        info: Info,
        resource: Annotated[str, strawberry.argument(description="The resource the draft is for.")],
        document: Annotated[str, strawberry.argument(description="The whole draft (YAML).")],
    ) -> PolicyCheck:
        ctx: Context = info.context
        async with ctx.hub.db.sessions() as session:
            found = await flow.check_document(
                session=session, actor=ctx.actor, resource=resource, document=document
            )
        return PolicyCheck(
            resource=found.resource,
            ok=not found.problems,
            problems=[_problem(i) for i in found.problems],
            diff=[_diff(e) for e in found.diff],
        )

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
            names = await flow.organisation_names(session, {r.proposed_by_org for r in rows})
        return [_change(info, r, names) for r in rows]


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
        resource, entries, diff = await run(
            info, flow.preview_change, change_id=info.context.unseal(id)
        )
        return PolicyPreview(
            change_id=id,
            resource=resource,
            entries=[_entry(e) for e in entries],
            diff=[_diff(e) for e in diff],
        )

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
