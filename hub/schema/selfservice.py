"""What a sex worker needs to act for themself, in the API: the legal basis of each access
to the worker's data (read from the policy version the access log recorded), the reads made
under a case that is still open or about an open trafficking suspicion naming the worker,
deferred (`defer_open_cases`), the parties the worker may
consent to with what each would see (generated from the compiled policy), and the replies
to an anonymous report by its follow-up code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from sqlalchemy import select
from sqlmodel import col
from strawberry.types import Info

from hub.models import Investigation, InvestigationSubject, PolicyVersion, TraffickingSuspicion
from hub.models import Organisation as OrganisationRow
from hub.models.enums import Gender, TraffickingStatus
from hub.policy.document import PolicyDocument, PolicyError, Rule, parse_document
from hub.policy.vocabulary import ROLE_ORGANISATION_KINDS
from hub.read.nodes import read_back, select_nodes
from hub.schema.context import Context
from hub.schema.enums import ReportCategory, ReportStatus
from hub.schema.run import run
from hub.schema.types import (
    ORGANISATION,
    SEX_WORKER,
    AccessLogEntry,
    Organisation,
    ReportReply,
    SexWorker,
)
from hub.services import gender as gender_service
from hub.services import reports
from hub.services.actor import CASE_REASON
from hub.services.base import command
from hub.services.consent import GRANTEE_KINDS

# An access-log action -> the policy action whose rule allowed it.
_RULE_ACTION = {"event": "read"}


async def _document(ctx: Context, version: str) -> PolicyDocument | None:
    """The policy document an access-log entry's `policy_version` names (`Resource@N`),
    from the set in force when it is still active, else from the stored versions; cached
    for the request."""
    policies = ctx.actor.policies
    resource, _, number = version.partition("@")
    if not number:
        # A set read from files (`files:<hash>`) or a whole generation: only the one in force.
        return None if version != policies.version else policies.documents.get(resource)
    if not number.isdigit():
        return None
    if policies.versions.get(resource) == int(number):
        return policies.documents.get(resource)
    cache: dict[str, PolicyDocument | None] = ctx.loaders.get(("policy-documents",), dict)
    if version not in cache:
        async with ctx.hub.db.sessions() as session:
            text = (
                await session.execute(
                    select(col(PolicyVersion.document)).where(
                        col(PolicyVersion.resource) == resource,
                        col(PolicyVersion.version) == int(number),
                    )
                )
            ).scalar_one_or_none()
        doc = None
        if text is not None:
            try:
                doc = parse_document(text, origin=version)
            except PolicyError:
                doc = None
        cache[version] = doc
    return cache[version]


def _restricted(node: AccessLogEntry) -> AccessLogEntry:
    """The entry reduced to its time: its proof opens only `at`, so the worker can still
    check that the entry is in the log."""
    return AccessLogEntry(
        id=node.id,
        at=node.at,
        restricted=True,
        leaf_index=node.leaf_index,
        row=node.row,
        leaf_open=frozenset({"at"}) & node.leaf_open,
    )


SUSPICION = "TraffickingSuspicion"


async def defer_open_cases(
    ctx: Context, me: str, page: list[tuple[str, Any]]
) -> list[tuple[str, Any]]:
    """The worker's own access log with every entry made under a case that names the worker
    and is still open (not closed, not expired) reduced to its time: `restricted`, without
    organisation, role, purpose, operation, fields or case. Once the case closes or
    expires, the entry is shown whole. A case that does not name the worker, is another
    organisation's, or is not in the hub defers nothing (docs/threat-model.md says why the
    existence of such a read is shown at once and its content deferred).

    Likewise every entry about a trafficking suspicion that names the worker and is not
    closed (its recording, reads, changes): whoever controls the worker's phone must not
    learn from the log that the police or an NGO suspect trafficking around the worker.
    Closed, the entries are shown whole."""
    cases: dict[str, str | None] = {}
    suspicions: set[str] = set()
    for _cursor, node in page:
        reason = getattr(node.row, "reason", None) or ""
        if reason.startswith(CASE_REASON):
            cases[reason.removeprefix(CASE_REASON)] = node.row.organisation_id
        if getattr(node.row, "resource", None) == SUSPICION:
            suspicions.update(node.row.record_ids or ())
    if not cases and not suspicions:
        return page
    open_cases: set[tuple[str, str]] = set()
    open_suspicions: set[str] = set()
    async with ctx.hub.db.sessions() as session:
        if cases:
            found = await session.execute(
                select(col(Investigation.reference), col(Investigation.police_org_id)).where(
                    col(Investigation.reference).in_(sorted(cases)),
                    col(Investigation.closed_at).is_(None),
                    col(Investigation.expires_at) > ctx.actor.now,
                    col(Investigation.id).in_(
                        select(col(InvestigationSubject.investigation_id)).where(
                            col(InvestigationSubject.sex_worker_id) == me
                        )
                    ),
                )
            )
            open_cases = {(ref, org) for ref, org in found.all()}
        if suspicions:
            found_ids = await session.execute(
                select(col(TraffickingSuspicion.id)).where(
                    col(TraffickingSuspicion.id).in_(sorted(suspicions)),
                    col(TraffickingSuspicion.sex_worker_id) == me,
                    col(TraffickingSuspicion.status) != TraffickingStatus.CLOSED.value,
                )
            )
            open_suspicions = set(found_ids.scalars().all())
    out: list[tuple[str, Any]] = []
    for cursor, node in page:
        reason = node.row.reason or ""
        held = (reason.removeprefix(CASE_REASON), node.row.organisation_id)
        if (reason.startswith(CASE_REASON) and held in open_cases) or (
            node.row.resource == SUSPICION and open_suspicions & set(node.row.record_ids or ())
        ):
            node = _restricted(node)
        out.append((cursor, node))
    return out


def _shows(rule: Rule, fields: list[str]) -> bool:
    names = [f.split("(", 1)[0] for f in fields]
    return all(rule.fields.get(n, "deny") != "deny" for n in names)


async def legal_bases(
    ctx: Context,
    *,
    policy_version: str | None,
    roles: list[str] | None,
    purpose: str | None,
    action: str | None,
    fields: list[str] | None,
    outcome: str | None,
) -> list[str] | None:
    """The legal bases of the rules that allowed an access, in the policy version that
    decided it: the rules for the entry's roles, purpose and action, narrowed to those
    that show every field it names when some do. None when the entry does not say (a
    field withheld from the reader) or the version is unknown; [] for a refusal."""
    if None in (policy_version, roles, purpose, action, outcome):
        return None
    assert policy_version is not None and roles is not None and action is not None
    if outcome != "allowed":
        return []
    doc = await _document(ctx, policy_version)
    if doc is None:
        return None
    # A write is logged as `write:<action>`, a delivery as `event`.
    verb = action.removeprefix("write:")
    wanted = _RULE_ACTION.get(verb, verb)
    rules = [
        r
        for r in doc.rules
        if wanted in r.actions and purpose in r.purposes and r.roles & set(roles)
    ]
    narrow = [r for r in rules if _shows(r, fields or [])]
    out: list[str] = []
    for r in narrow or rules:
        if r.legal_basis not in out:
            out.append(r.legal_basis)
    return out


@strawberry.type(description="What one policy rule would let a party do with the worker's data.")
class ConsentOfferItem:
    resource: str = strawberry.field(description="The kind of record, e.g. SexWorker.")
    actions: list[str] = strawberry.field(description="What the party may do, e.g. read.")
    fields: list[str] = strawberry.field(
        description="The fields it would see: `name`, or `name(effect)` where the policy "
        "transforms it (e.g. `birth_date(generalize)`). Fields it would not see are absent."
    )
    legal_basis: str = strawberry.field(description="The rule's legal basis, as the policy says.")
    rule: str = strawberry.field(description="The policy rule's name.")


@strawberry.type(
    description="A party the worker may consent to, for one purpose, with what the consent "
    "would let it see: generated from the policy in force, rule by rule."
)
class ConsentOffer:
    grantee: Organisation = strawberry.field(description="The organisation.")
    purpose: str = strawberry.field(description="The purpose the consent would be for.")
    items: list[ConsentOfferItem] = strawberry.field(
        description="The records and fields the party would see with the consent (scope `*`)."
    )


def _items(rules: list[tuple[Rule, str]]) -> list[ConsentOfferItem]:
    out = []
    for r, resource in rules:
        shown = [
            name if effect == "allow" else f"{name}({effect})"
            for name, effect in sorted(r.fields.items())
            if effect != "deny"
        ]
        out.append(
            ConsentOfferItem(
                resource=resource,
                actions=sorted(r.actions),
                fields=shown,
                legal_basis=r.legal_basis,
                rule=r.name,
            )
        )
    return out


@strawberry.type(
    description="An anonymous report as its follow-up code shows it: what it is about, its "
    "status and the replies. Never the author."
)
class FollowUp:
    category: ReportCategory = strawberry.field(description="What the report is about.")
    status: ReportStatus = strawberry.field(description="Filed, answered or closed.")
    filed_at: datetime = strawberry.field(description="When it was filed.")
    replies: list[ReportReply] = strawberry.field(
        description="The answers of the organisations it was shared with, oldest first."
    )


@strawberry.type
class SelfServiceQuery:
    @strawberry.field(
        description="For a sex worker: each party in the worker's city the worker may "
        "consent to (per policy rule that requires consent), with what it would see, for "
        "which purpose and under which legal basis."
    )
    async def consent_offers(self, info: Info) -> list[ConsentOffer]:
        ctx: Context = info.context
        ctx.actor.require_grant("Consent", "grant")
        policies = ctx.actor.policies
        # (kind, purpose) -> [(rule, resource)] of every rule that needs a worker's consent.
        offered: dict[tuple[str, str], list[tuple[Rule, str]]] = {}
        for name, doc in sorted(policies.documents.items()):
            for rule in doc.rules:
                if not rule.requires_consent:
                    continue
                kinds = set().union(*(ROLE_ORGANISATION_KINDS.get(r, set()) for r in rule.roles))
                for kind in sorted(kinds & set(GRANTEE_KINDS)):
                    for purpose in sorted(rule.purposes):
                        offered.setdefault((kind, purpose), []).append((rule, name))
        if not offered:
            return []
        city = ctx.actor.city()
        grant = ctx.actor.require_grant("Organisation", "read")
        pairs = await select_nodes(
            ctx,
            ORGANISATION,
            grant,
            frozenset({"id", "name", "kind", "city"}),
            col(OrganisationRow.city) == city,
            col(OrganisationRow.kind).in_(sorted({k for k, _ in offered})),
            order=[OrganisationRow.name, OrganisationRow.id],
            limit=200,
        )
        out = []
        for row, node in pairs:
            for (kind, purpose), rules in sorted(offered.items()):
                if kind == row.kind:
                    out.append(ConsentOffer(grantee=node, purpose=purpose, items=_items(rules)))
        return out

    @strawberry.field(
        description="For the author of an anonymous report: the report and its replies, by "
        "the follow-up code shown when it was filed. A wrong code is NOT_FOUND; after 5 "
        "wrong codes in 15 minutes every try is RATE_LIMITED."
    )
    async def report_by_follow_up_code(
        self,
        info: Info,
        code: Annotated[
            str,
            strawberry.argument(
                description="The follow-up code, e.g. 7KQ2-M9XD-4TBW-HR3N (case, spaces and "
                "dashes do not matter)."
            ),
        ],
    ) -> FollowUp:
        ctx: Context = info.context
        row, replies = await reports.follow_up(db=ctx.hub.db, actor=ctx.actor, code=code[:100])
        return FollowUp(
            category=ReportCategory(row.category),
            status=ReportStatus(row.status),
            filed_at=row.filed_at,
            replies=[
                ReportReply(
                    id=strawberry.ID(ctx.seal.seal(r.id)),
                    text=r.text,
                    by_reporter=r.by_reporter,
                    created_at=r.created_at,
                    organisation_id=r.author_org_id,
                )
                for r in replies
            ],
        )


@strawberry.type
class SelfServiceMutation:
    @strawberry.mutation(
        description="For a sex worker: declare your own gender, or clear it (null: not "
        "stated). Optional; only you see it (nobody else, not the police, the city, NGOs or "
        "operators); statistics count it only as suppressed aggregates. Logged like every "
        "write, without the value."
    )
    async def set_my_gender(
        self,
        info: Info,
        gender: Annotated[
            Gender | None,
            strawberry.argument(description="Your gender as you declare it; null clears it."),
        ] = None,
    ) -> SexWorker:
        row = await run(
            info,
            gender_service.set_my_gender,
            command=command(gender_service.SetGender, {"gender": gender}),
        )
        return await read_back(info, SEX_WORKER, row.id, "set_gender")  # type: ignore[no-any-return]
