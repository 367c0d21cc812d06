"""GraphQL output types. Every field but `id` may be null: a field the policy withholds
resolves to null and is named in the response's `extensions.withheld`.

Each type has a NodeSpec (hub/read/nodes.py) that builds it from a row and the row's
field mask in one pass; relations resolve through DataLoaders and the related resource's
own policy.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import strawberry
from sqlalchemy import select
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from hub.audit.leaf import LEAF_FIELDS, disclose
from hub.audit.leaf import values as leaf_values
from hub.audit.proofs import load_entry_proofs
from hub.crypto import Keyring
from hub.models import DataKey, ReportShare
from hub.models import MeasureTransition as MeasureTransitionRow
from hub.models import ReportReply as ReplyRow
from hub.models import SexWorker as SexWorkerRow
from hub.policy.effects import age_band, apply, mask_text
from hub.policy.engine import FieldMask
from hub.policy.resources import RESOURCES, field_kind
from hub.read import filters
from hub.read.context import ReadContext
from hub.read.nodes import (
    NodeSpec,
    camel,
    node_loader,
    related,
    related_many,
    selected,
    spec,
)
from hub.schema.context import Context
from hub.schema.enums import (
    AlertAudience,
    AlertSeverity,
    Branch,
    CareKind,
    CareLocation,
    CertificateStatus,
    InspectionOutcome,
    MeasureKind,
    MeasureStatus,
    OrganisationKind,
    PremisesKind,
    ReferralReason,
    ReportCategory,
    ReportStatus,
    ShiftStatus,
)

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def connection(page: list[tuple[str, Any]], has_next: bool) -> Any:
    edges = [Edge(cursor=c, node=n) for c, n in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
    )


@strawberry.type(description="The caller, as its access token says.")
class Principal:
    subject: str
    organisation_id: strawberry.ID
    organisation_kind: str
    city: str | None
    roles: list[str]
    purposes: list[str]
    sex_worker_id: strawberry.ID | None


# --- builders ---------------------------------------------------------------------------

Special = Callable[
    [dict[str, Any], ReadContext, Any, FieldMask, frozenset[str], tuple[Any, ...]], None
]

# Pseudonym scopes shared between fields, so one partner sees one pseudonym per worker.
PSEUDONYM_SCOPES = {
    ("ShiftRegistration", "sex_worker_id"): "SexWorker.id",
    ("RentalAgreement", "sex_worker_id"): "SexWorker.id",
}


def builder(
    cls: type,
    resource: str,
    relations: dict[str, tuple[str, str]] | None = None,
    special: dict[str, Special] | None = None,
) -> Callable[..., Any]:
    """Build `cls` from a row: allowed scalars copied, denied ones null, relation keys kept
    (privately) only when the relation field is allowed."""
    relations = relations or {}
    special = special or {}
    res = RESOURCES[resource]
    scalars = [f for f in res.fields if f not in relations and f not in special and f != "id"]
    missing = [f for f in scalars if f not in cls.__dataclass_fields__]  # type: ignore[attr-defined]
    if missing:
        raise RuntimeError(f"{cls.__name__} lacks policy fields {missing} of {resource}")

    kinds = {f: field_kind(res, f) for f in scalars}
    scopes = {f: PSEUDONYM_SCOPES.get((resource, f), f"{resource}.{f}") for f in scalars}
    # References to other records leave sealed for the caller, like the record's own id.
    id_fields = [f for f in scalars if f.endswith("_id")]
    id_lists = [f for f in scalars if f.endswith("_ids")]

    def build(
        ctx: ReadContext, row: Any, mask: FieldMask, sel: frozenset[str], extra: tuple[Any, ...]
    ) -> Any:
        shown = mask.shown
        seal = ctx.seal
        kw: dict[str, Any] = {"id": seal.seal(row.id)}
        for f in scalars:
            kw[f] = getattr(row, f) if f in shown else None
        transformed = {f for f, _ in mask.transforms}
        for f in id_fields:
            if kw[f] is not None and f not in transformed:
                kw[f] = seal.seal(kw[f])
        for f in id_lists:
            if kw[f] is not None:
                kw[f] = [seal.seal(v) for v in kw[f]]
        for f, effect in mask.transforms:
            if f in kinds and kw[f] is not None:
                kw[f] = apply(
                    effect,
                    kinds[f],
                    kw[f],
                    pseudonyms=ctx.hub.pseudonyms,
                    org_id=ctx.actor.principal.org_id,
                    scope=scopes[f],
                    row=row,
                )
        for f, (attr, column) in relations.items():
            kw[attr] = getattr(row, column) if f in shown else None
        for fn in special.values():
            fn(kw, ctx, row, mask, sel, extra)
        return cls(**kw)

    return build


def list_loader(ctx: ReadContext, name: str, model: Any, key_column: str, order: Any) -> Any:
    async def batch(keys: list[str]) -> list[list[Any]]:
        column = getattr(model, key_column)
        stmt = select(model).where(column.in_(set(keys))).order_by(order)
        async with ctx.hub.db.sessions() as s:
            rows = (await s.execute(stmt)).scalars().all()
        grouped: dict[str, list[Any]] = {k: [] for k in keys}
        for r in rows:
            grouped[getattr(r, key_column)].append(r)
        return [grouped[k] for k in keys]

    return ctx.loaders.get(("list", name), lambda: DataLoader(batch))


# --- types ------------------------------------------------------------------------------


@strawberry.type
class Organisation:
    id: strawberry.ID
    name: str | None = None
    kind: OrganisationKind | None = None
    city: str | None = None


@strawberry.type(
    description="Legal identity, as validated by the police. Encrypted at rest. A policy may "
    "show it generalised (nationality and age band) or masked (initials, last characters)."
)
class SexWorkerIdentity:
    legal_name: str | None
    birth_date: date | None
    nationality: str | None
    document_number: str | None
    age_band: str | None


@strawberry.type(description="A sex worker (sekswerker).")
class SexWorker:
    id: strawberry.ID
    working_name: str | None = None
    identity: SexWorkerIdentity | None = None
    adult_verified: bool | None = None
    languages: list[str] | None = None
    city: str | None = None
    created_at: datetime | None = None


def _identity(
    kw: dict[str, Any],
    ctx: ReadContext,
    row: Any,
    mask: FieldMask,
    sel: frozenset[str],
    extra: tuple[Any, ...],
) -> None:
    kw["identity"] = None
    # Decrypt only what is both shown and asked for; an erased key leaves it unreadable.
    if "identity" not in mask.shown or "identity" not in sel or not row.identity or not extra[0]:
        return
    keyring: Keyring = ctx.hub.keyring
    ident = keyring.decrypt(row.id, extra[0], row.identity)
    birth = date.fromisoformat(ident.birth_date)
    band = age_band(birth, ctx.actor.now.date())
    effect = mask.effect("identity")
    if effect == "allow":
        kw["identity"] = SexWorkerIdentity(
            legal_name=ident.legal_name,
            birth_date=birth,
            nationality=ident.nationality,
            document_number=ident.document_number,
            age_band=band,
        )
    elif effect == "mask":
        initials = " ".join(part[0] + "." for part in ident.legal_name.split() if part)
        kw["identity"] = SexWorkerIdentity(
            legal_name=initials,
            birth_date=None,
            nationality=ident.nationality,
            document_number=mask_text(ident.document_number),
            age_band=band,
        )
    else:  # generalize
        kw["identity"] = SexWorkerIdentity(
            legal_name=None,
            birth_date=None,
            nationality=ident.nationality,
            document_number=None,
            age_band=band,
        )


@strawberry.type(description="A suitability certificate (geschiktheidsverklaring).")
class Certificate:
    id: strawberry.ID
    status: CertificateStatus | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    decision: str | None = None
    decided_at: datetime | None = None
    premises_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Certificate", PREMISES, self.premises_id)


@strawberry.type(description="Premises (pand): window premises, club, salon...")
class Premises:
    id: strawberry.ID
    address: str | None = None
    city: str | None = None
    zone: str | None = None
    kind: PremisesKind | None = None
    windows: int | None = None
    operator_id: strawberry.Private[str | None] = None
    certificate_key: strawberry.Private[str | None] = None
    shifts_key: strawberry.Private[str | None] = None

    @strawberry.field
    async def operator(self, info: Info) -> Organisation | None:
        return await related(info, "Premises", ORGANISATION, self.operator_id)

    @strawberry.field
    async def certificate(self, info: Info) -> Certificate | None:
        return await related(info, "Premises", CERTIFICATE, self.certificate_key, "premises_id")

    @strawberry.field(
        description="Shifts at these premises, earliest first: those the caller may read, "
        "each under the shift policy (null and withheld without one)."
    )
    async def shifts(self, info: Info, first: int | None = None) -> list[Shift] | None:
        return await related_many(
            info, "Premises", SHIFT, self.shifts_key, "premises_id", filters.SHIFTS_ORDER, first
        )


@strawberry.type(description="A rental agreement (afspraak) of a window, confirmed by the worker.")
class RentalAgreement:
    id: strawberry.ID
    window: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    confirmed: bool | None = None
    confirmed_at: datetime | None = None
    created_at: datetime | None = None
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The worker's id, or a pseudonym where the policy says so."
    )
    premises_id: strawberry.Private[str | None] = None
    sex_worker_key: strawberry.Private[str | None] = None

    @strawberry.field
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "RentalAgreement", PREMISES, self.premises_id)

    @strawberry.field
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "RentalAgreement", SEX_WORKER, self.sex_worker_key)


@strawberry.type(description="A shift registration in the pandkalender.")
class Shift:
    id: strawberry.ID
    window: int | None = None
    rental_agreement_id: strawberry.ID | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: ShiftStatus | None = None
    created_at: datetime | None = None
    validated_at: datetime | None = None
    adult_verified_on_site: bool | None = None
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The worker's id, or a pseudonym where the policy says so."
    )
    premises_id: strawberry.Private[str | None] = None
    sex_worker_key: strawberry.Private[str | None] = None

    @strawberry.field
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Shift", PREMISES, self.premises_id)

    @strawberry.field
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "Shift", SEX_WORKER, self.sex_worker_key)


@strawberry.type(description="A police check (controle). Counts and outcome, no identities.")
class Inspection:
    id: strawberry.ID
    city: str | None = None
    zone: str | None = None
    branch: Branch | None = None
    occurred_at: datetime | None = None
    persons_checked: int | None = None
    outcome: InspectionOutcome | None = None
    administrative_arrests: int | None = None
    judicial_arrests: int | None = None
    hidden_form: bool | None = None
    proactive: bool | None = None
    premises_id: strawberry.Private[str | None] = None
    police_org_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Inspection", PREMISES, self.premises_id)

    @strawberry.field
    async def police_org(self, info: Info) -> Organisation | None:
        return await related(info, "Inspection", ORGANISATION, self.police_org_id)


@strawberry.type
class MeasureTransition:
    from_status: MeasureStatus | None
    to_status: MeasureStatus
    note: str | None
    at: datetime


@strawberry.type(description="An administrative measure (bestuurlijke maatregel).")
class Measure:
    id: strawberry.ID
    kind: MeasureKind | None = None
    city: str | None = None
    target: str | None = None
    status: MeasureStatus | None = None
    amount_cents: int | None = None
    opened_at: datetime | None = None
    updated_at: datetime | None = None
    premises_id: strawberry.Private[str | None] = None
    org_id: strawberry.Private[str | None] = None
    transitions_key: strawberry.Private[str | None] = None

    @strawberry.field
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Measure", PREMISES, self.premises_id)

    @strawberry.field
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Measure", ORGANISATION, self.org_id)

    @strawberry.field
    async def transitions(self, info: Info) -> list[MeasureTransition] | None:
        if self.transitions_key is None:
            return None
        loader = list_loader(
            info.context, "transitions", MeasureTransitionRow, "measure_id", MeasureTransitionRow.at
        )
        rows = await loader.load(self.transitions_key)
        return [
            MeasureTransition(
                from_status=r.from_status, to_status=r.to_status, note=r.note, at=r.at
            )
            for r in rows
        ]


@strawberry.type
class ReportReply:
    id: strawberry.ID
    text: str
    by_reporter: bool
    created_at: datetime
    organisation_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "ReportReply", ORGANISATION, self.organisation_id)


@strawberry.type(description="A report (melding) filed by a sex worker.")
class Report:
    id: strawberry.ID
    category: ReportCategory | None = None
    text: str | None = None
    anonymous: bool | None = None
    city: str | None = None
    status: ReportStatus | None = None
    filed_at: datetime | None = None
    author_id: strawberry.Private[str | None] = None
    shares_key: strawberry.Private[str | None] = None
    replies_key: strawberry.Private[str | None] = None

    @strawberry.field
    async def author(self, info: Info) -> SexWorker | None:
        return await related(info, "Report", SEX_WORKER, self.author_id)

    @strawberry.field(description="The organisations its author shared it with.")
    async def shared_with(self, info: Info) -> list[Organisation] | None:
        if self.shares_key is None:
            return None
        ctx: Context = info.context
        shares = await list_loader(
            ctx, "shares", ReportShare, "report_id", ReportShare.organisation_id
        ).load(self.shares_key)
        orgs = node_loader(ctx, ORGANISATION, "id", selected(info))
        found = await orgs.load_many([s.organisation_id for s in shares])
        return [o for o in found if o is not None]

    @strawberry.field
    async def replies(self, info: Info) -> list[ReportReply] | None:
        if self.replies_key is None:
            return None
        ctx: Context = info.context
        rows = await list_loader(ctx, "replies", ReplyRow, "report_id", ReplyRow.created_at).load(
            self.replies_key
        )
        # The author sees every answer; an organisation sees hers and its own, never another
        # organisation's (an NGO's answer is not a case note for the police).
        if not (self.author_id and self.author_id == ctx.actor.principal.sex_worker_id):
            rows = [
                r for r in rows if r.by_reporter or r.author_org_id == ctx.actor.principal.org_id
            ]
        return [
            ReportReply(
                id=strawberry.ID(ctx.seal.seal(r.id)),
                text=r.text,
                by_reporter=r.by_reporter,
                created_at=r.created_at,
                organisation_id=r.author_org_id,
            )
            for r in rows
        ]


@strawberry.type(description="A warning (waarschuwing) for an audience in a city.")
class Alert:
    id: strawberry.ID
    audience: AlertAudience | None = None
    city: str | None = None
    zone: str | None = None
    branch: Branch | None = None
    severity: AlertSeverity | None = None
    text_nl: str | None = None
    text_fr: str | None = None
    text_en: str | None = None
    valid_until: datetime | None = None
    issued_at: datetime | None = None
    issued_by_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def issued_by(self, info: Info) -> Organisation | None:
        return await related(info, "Alert", ORGANISATION, self.issued_by_id)


@strawberry.type(description="A care contact (hulpverlening) in the minimum format.")
class CareContact:
    id: strawberry.ID
    client_ref: str | None = None
    contact_date: date | None = None
    kind: CareKind | None = None
    location: CareLocation | None = None
    branch: Branch | None = None
    city: str | None = None
    recorded_at: datetime | None = None
    ngo_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def ngo(self, info: Info) -> Organisation | None:
        return await related(info, "CareContact", ORGANISATION, self.ngo_id)


@strawberry.type(description="A referral (doorverwijzing) between NGOs, with consent.")
class Referral:
    id: strawberry.ID
    client_ref: str | None = None
    reason: ReferralReason | None = None
    consent: bool | None = None
    created_at: datetime | None = None
    from_org_id: strawberry.Private[str | None] = None
    to_org_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def from_organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Referral", ORGANISATION, self.from_org_id)

    @strawberry.field
    async def to_organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Referral", ORGANISATION, self.to_org_id)


@strawberry.type(description="A consent (toestemming) given by a sex worker.")
class Consent:
    id: strawberry.ID
    purpose: str | None = None
    scope: str | None = None
    granted_at: datetime | None = None
    revoked_at: datetime | None = None
    sex_worker_key: strawberry.Private[str | None] = None
    grantee_id: strawberry.Private[str | None] = None

    @strawberry.field
    async def grantee(self, info: Info) -> Organisation | None:
        return await related(info, "Consent", ORGANISATION, self.grantee_id)

    @strawberry.field
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "Consent", SEX_WORKER, self.sex_worker_key)


@strawberry.type(
    description="One entry of the access log: who, for which purpose, which records and "
    "fields. Never the values."
)
class AccessLogEntry:
    id: strawberry.ID
    at: datetime | None = None
    roles: list[str] | None = None
    subject: str | None = None
    purpose: str | None = None
    operation: str | None = None
    action: str | None = None
    resource: str | None = None
    record_ids: list[strawberry.ID] | None = None
    fields: list[str] | None = None
    policy_version: str | None = None
    outcome: str | None = None
    reason: str | None = None
    leaf_index: int | None = strawberry.field(
        default=None, description="The entry's leaf in the log's Merkle tree (from 0)."
    )
    organisation_id: strawberry.Private[str | None] = None
    # The row and the leaf fields this reader sees unchanged, for `proof`.
    row: strawberry.Private[Any] = None
    leaf_open: strawberry.Private[frozenset[str]] = frozenset()

    @strawberry.field
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "AccessLogEntry", ORGANISATION, self.organisation_id)

    @strawberry.field(
        description="Proof that this entry, as shown, is in the log under the latest signed "
        "checkpoint (null until a checkpoint covers it). `hub audit prove` checks it."
    )
    async def proof(self, info: Info) -> AccessLogProof | None:
        ctx: Context = info.context
        if self.row is None:
            return None
        loader = ctx.loaders.get(
            ("audit-proof",),
            lambda: DataLoader(lambda ids: load_entry_proofs(ctx.hub.db, ids)),
        )
        found = await loader.load(int(self.row.id))
        if found is None:
            return None
        opened = disclose(leaf_values(self.row, found.subjects), self.row.salt, self.leaf_open)
        return AccessLogProof(
            tree_size=found.tree_size,
            root_hash=base64.b64encode(found.root).decode(),
            hashes=[base64.b64encode(h).decode() for h in found.hashes],
            checkpoint=found.note,
            leaf=[
                AccessLogLeafField(name=d.name, value=d.value, salt=d.salt, digest=d.digest)
                for d in opened
            ],
        )


@strawberry.type(
    description="One field of an access-log leaf: value (canonical JSON) and salt where "
    "this view shows the field, only its digest where it does not."
)
class AccessLogLeafField:
    name: str
    value: str | None
    salt: str | None
    digest: str | None


@strawberry.type(description="An inclusion proof (RFC 9162) against a signed checkpoint.")
class AccessLogProof:
    tree_size: int
    root_hash: str = strawberry.field(description="base64")
    hashes: list[str] = strawberry.field(description="The audit path, base64, leaf side first")
    checkpoint: str = strawberry.field(description="The signed checkpoint (C2SP signed note)")
    leaf: list[AccessLogLeafField]


def _roles(kw: dict[str, Any], _c: ReadContext, row: Any, mask: FieldMask, *_: Any) -> None:
    kw["roles"] = [r for r in row.roles.split(",") if r] if "roles" in mask.shown else None


def _leaf(kw: dict[str, Any], _c: ReadContext, row: Any, mask: FieldMask, *_: Any) -> None:
    kw["leaf_index"] = row.id - 1
    kw["row"] = row
    kw["leaf_open"] = frozenset(
        f for f in LEAF_FIELDS if f in mask.shown and mask.effect(f) == "allow"
    )


def _key_if(field: str, attr: str) -> Special:
    """Keep the row id as the key of a to-many relation when that field is allowed."""

    def fill(kw: dict[str, Any], _c: ReadContext, row: Any, mask: FieldMask, *_: Any) -> None:
        kw[attr] = row.id if field in mask.shown else None

    return fill


def _own_key(attr: str) -> Special:
    """Keep the row id as the key of a to-many relation that has a policy of its own."""

    def fill(kw: dict[str, Any], _c: ReadContext, row: Any, *_: Any) -> None:
        kw[attr] = row.id

    return fill


def _sex_worker_join(stmt: Any) -> Any:
    return stmt.outerjoin(DataKey, DataKey.sex_worker_id == SexWorkerRow.id)


ORGANISATION = spec("Organisation", "Organisation", builder(Organisation, "Organisation"))
SEX_WORKER = spec(
    "SexWorker",
    "SexWorker",
    builder(SexWorker, "SexWorker", special={"identity": _identity}),
    extra_columns=(DataKey.wrapped_key,),
    join=_sex_worker_join,
)
PREMISES = spec(
    "Premises",
    "Premises",
    builder(
        Premises,
        "Premises",
        relations={
            "operator": ("operator_id", "operator_id"),
            "certificate": ("certificate_key", "id"),
        },
        special={"shifts": _own_key("shifts_key")},
    ),
)
CERTIFICATE = spec(
    "Certificate",
    "Certificate",
    builder(Certificate, "Certificate", relations={"premises": ("premises_id", "premises_id")}),
)
RENTAL_AGREEMENT = spec(
    "RentalAgreement",
    "RentalAgreement",
    builder(
        RentalAgreement,
        "RentalAgreement",
        relations={
            "premises": ("premises_id", "premises_id"),
            "sex_worker": ("sex_worker_key", "sex_worker_id"),
        },
    ),
)
SHIFT = spec(
    "Shift",
    "ShiftRegistration",
    builder(
        Shift,
        "ShiftRegistration",
        relations={
            "premises": ("premises_id", "premises_id"),
            "sex_worker": ("sex_worker_key", "sex_worker_id"),
        },
    ),
)
INSPECTION = spec(
    "Inspection",
    "Inspection",
    builder(
        Inspection,
        "Inspection",
        relations={
            "premises": ("premises_id", "premises_id"),
            "police_org": ("police_org_id", "police_org_id"),
        },
    ),
)
MEASURE = spec(
    "Measure",
    "Measure",
    builder(
        Measure,
        "Measure",
        relations={
            "premises": ("premises_id", "premises_id"),
            "organisation": ("org_id", "org_id"),
        },
        special={"transitions": _key_if("transitions", "transitions_key")},
    ),
)
REPORT = spec(
    "Report",
    "Report",
    builder(
        Report,
        "Report",
        relations={"author": ("author_id", "author_id")},
        special={
            "shared_with": _key_if("shared_with", "shares_key"),
            "replies": _key_if("replies", "replies_key"),
        },
    ),
)
ALERT = spec(
    "Alert",
    "Alert",
    builder(Alert, "Alert", relations={"issued_by": ("issued_by_id", "issued_by_id")}),
)
CARE_CONTACT = spec(
    "CareContact",
    "CareContact",
    builder(CareContact, "CareContact", relations={"ngo": ("ngo_id", "ngo_id")}),
)
REFERRAL = spec(
    "Referral",
    "Referral",
    builder(
        Referral,
        "Referral",
        relations={
            "from_organisation": ("from_org_id", "from_org_id"),
            "to_organisation": ("to_org_id", "to_org_id"),
        },
    ),
)

CONSENT = spec(
    "Consent",
    "Consent",
    builder(
        Consent,
        "Consent",
        relations={
            "grantee": ("grantee_id", "grantee_id"),
            "sex_worker": ("sex_worker_key", "sex_worker_id"),
        },
    ),
)

ACCESS_LOG = spec(
    "AccessLogEntry",
    "AccessLog",
    builder(
        AccessLogEntry,
        "AccessLog",
        relations={"organisation": ("organisation_id", "organisation_id")},
        special={"roles": _roles, "leaf": _leaf},
    ),
)

NODES: dict[str, NodeSpec] = {
    n.type_name: n
    for n in (
        ORGANISATION,
        SEX_WORKER,
        PREMISES,
        CERTIFICATE,
        RENTAL_AGREEMENT,
        SHIFT,
        INSPECTION,
        MEASURE,
        REPORT,
        ALERT,
        CARE_CONTACT,
        REFERRAL,
        CONSENT,
        ACCESS_LOG,
    )
}

__all__ = ["NODES", "camel"]
