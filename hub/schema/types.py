"""GraphQL output types. Every field but `id` may be null: a field the policy withholds
resolves to null and is named in the response's `extensions.withheld`.

Each type has a NodeSpec (hub/read/nodes.py) that builds it from a row and the row's
field mask in one pass; relations resolve through DataLoaders and the related resource's
own policy.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from sqlalchemy import select
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from hub.audit.leaf import LEAF_FIELDS, disclose
from hub.audit.leaf import values as leaf_values
from hub.audit.proofs import load_entry_proofs
from hub.crypto import Keyring
from hub.models import DataKey, ReportShare
from hub.models import InvestigationSubject as InvestigationSubjectRow
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
    CareFollowUp,
    CareKind,
    CareLocation,
    CertificateStatus,
    ContractKind,
    Gender,
    HelpdeskChannel,
    HelpdeskStatus,
    HelpdeskTopic,
    HelpRequest,
    InspectionOutcome,
    MeasureKind,
    MeasureStatus,
    MeasureTargetKind,
    OrganisationKind,
    PremisesKind,
    ProtectionBasis,
    RecognitionStatus,
    ReferralDestination,
    ReferralReason,
    RentPeriod,
    ReportCategory,
    ReportStatus,
    ShiftStatus,
    TraffickingIndicator,
    TraffickingStatus,
    WarningTemplate,
)
from hub.services.actor import CASE_REASON

T = TypeVar("T")

SEALED_ID = (
    "The record's id, sealed for you (your organisation; a worker acting for themself: the "
    "worker): another organisation holds a different id for the same record."
)


@strawberry.type(description="Where a page of a list ends, and whether another follows.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether a further page follows this one.")
    end_cursor: str | None = strawberry.field(
        description="The cursor of this page's last edge: pass it as `after` for the next "
        "page. Null on an empty page."
    )


@strawberry.type(description="One record of a page, with the cursor that points after it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="An opaque position: pass it as `after` to continue after this record."
    )
    node: T = strawberry.field(description="The record.")


@strawberry.type(
    description="One page of a list (Relay connection), capped at the hub's page size."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(
        description="The records of this page, in the list's order."
    )
    page_info: PageInfo = strawberry.field(
        description="Whether another page follows, and the cursor to ask for it."
    )


def connection(page: list[tuple[str, Any]], has_next: bool) -> Any:
    edges = [Edge(cursor=c, node=n) for c, n in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None),
    )


@strawberry.type(description="The caller, as its access token says.")
class Principal:
    subject: str = strawberry.field(
        description="The token's subject: the client or person it was issued to."
    )
    organisation_id: strawberry.ID = strawberry.field(
        description="Your organisation's id, sealed for your organisation."
    )
    organisation_kind: str = strawberry.field(
        description="Your organisation's kind: city, police, judiciary, ngo, union or operator."
    )
    city: str | None = strawberry.field(
        description="The city your organisation works in, if it is bound to one."
    )
    roles: list[str] = strawberry.field(description="The roles your token holds.")
    purposes: list[str] = strawberry.field(
        description="The purposes your token allows; each request states one (Hub-Purpose header)."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        description="For a sex worker's own client: the worker's record id. Null otherwise."
    )


# --- builders ---------------------------------------------------------------------------

Special = Callable[
    [dict[str, Any], ReadContext, Any, FieldMask, frozenset[str], tuple[Any, ...]], None
]

# Pseudonym scopes shared between fields, so one partner sees one pseudonym per worker.
PSEUDONYM_SCOPES = {
    ("ShiftRegistration", "sex_worker_id"): "SexWorker.id",
    ("RentalAgreement", "sex_worker_id"): "SexWorker.id",
    ("EmploymentRelation", "sex_worker_id"): "SexWorker.id",
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


@strawberry.type(
    description="A partner organisation: a city service, police zone, "
    "judiciary, NGO, union, operator, employer or the labour inspection."
)
class Organisation:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    name: str | None = strawberry.field(default=None, description="The registered name.")
    kind: OrganisationKind | None = strawberry.field(
        default=None, description="What kind of organisation it is."
    )
    city: str | None = strawberry.field(
        default=None, description="The city it works in, if it is bound to one."
    )
    recognition_status: RecognitionStatus | None = strawberry.field(
        default=None,
        description="An employer's recognition by the labour inspection (labour law of "
        "2024); null for any other organisation and for an employer never recognised.",
    )
    recognition_number: str | None = strawberry.field(
        default=None,
        description="An employer's recognition number from the labour inspection "
        "(e.g. SW-2025-0042).",
    )
    recognition_decided_at: datetime | None = strawberry.field(
        default=None, description="When the labour inspection last decided on it."
    )


@strawberry.type(
    description="Legal identity, as validated by the police. Encrypted at rest. A policy may "
    "show it generalised (nationality and age band) or masked (initials, last characters)."
)
class SexWorkerIdentity:
    legal_name: str | None = strawberry.field(
        description="The legal name (or its initials, where the policy masks it)."
    )
    birth_date: date | None = strawberry.field(description="The date of birth.")
    nationality: str | None = strawberry.field(
        description="The nationality, ISO 3166-1 alpha-2 (e.g. BE)."
    )
    document_number: str | None = strawberry.field(
        description="The identity document's number (or its last characters, where the policy "
        "masks it)."
    )
    age_band: str | None = strawberry.field(
        description="The age band on the day of the request (e.g. 25-34), for views that may "
        "not see the birth date."
    )


@strawberry.type(description="A sex worker (sekswerker).")
class SexWorker:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    working_name: str | None = strawberry.field(
        default=None, description="The name the worker works under (werknaam)."
    )
    identity: SexWorkerIdentity | None = strawberry.field(
        default=None,
        description="The legal identity; shown only to whom the policy allows it, for a "
        "validation or a named case.",
    )
    adult_verified: bool | None = strawberry.field(
        default=None, description="Whether the police verified on site that the worker is an adult."
    )
    languages: list[str] | None = strawberry.field(
        default=None, description="Languages the worker speaks, as the worker gave them."
    )
    city: str | None = strawberry.field(
        default=None, description="The city the worker is registered in."
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="When the record was made."
    )
    gender: Gender | None = strawberry.field(
        default=None,
        description="The worker's gender as the worker declared it (setMyGender); null when "
        "not stated. Shown to the worker alone: for anyone else it is null and withheld.",
    )


def _target_name(
    kw: dict[str, Any],
    ctx: ReadContext,
    row: Any,
    mask: FieldMask,
    sel: frozenset[str],
    _extra: tuple[Any, ...],
) -> None:
    kw["target_name"] = None
    # Decrypted only when shown and asked for; a destroyed key leaves it unreadable.
    if "target_name" not in mask.shown or "target_name" not in sel:
        return
    if not row.target_name or not row.target_name_key:
        return
    keyring: Keyring = ctx.hub.keyring
    kw["target_name"] = keyring.open_name(row.id, row.target_name_key, row.target_name)


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
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    status: CertificateStatus | None = strawberry.field(
        default=None, description="Granted, suspended, revoked or expired."
    )
    valid_from: date | None = strawberry.field(
        default=None, description="The first day it is valid."
    )
    valid_until: date | None = strawberry.field(
        default=None, description="The last day it is valid, if it has an end."
    )
    decision: str | None = strawberry.field(
        default=None, description="The reference or summary of the city's decision."
    )
    decided_at: datetime | None = strawberry.field(
        default=None, description="When the city decided its current status."
    )
    premises_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The premises it is for.")
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Certificate", PREMISES, self.premises_id)


@strawberry.type(description="Premises (pand): window premises, club, salon...")
class Premises:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    address: str | None = strawberry.field(
        default=None,
        description="The street address (a private home shows only its zone to most callers).",
    )
    city: str | None = strawberry.field(default=None, description="The city.")
    zone: str | None = strawberry.field(
        default=None,
        description="The zone (e.g. a tolerance zone, gedoogzone) the premises lie in.",
    )
    kind: PremisesKind | None = strawberry.field(
        default=None, description="Window premises, club, massage salon, private home or other."
    )
    windows: int | None = strawberry.field(
        default=None, description="How many windows the premises have (window premises)."
    )
    operator_id: strawberry.Private[str | None] = None
    certificate_key: strawberry.Private[str | None] = None
    shifts_key: strawberry.Private[str | None] = None

    @strawberry.field(description="The operator (uitbater) that runs the premises.")
    async def operator(self, info: Info) -> Organisation | None:
        return await related(info, "Premises", ORGANISATION, self.operator_id)

    @strawberry.field(description="Its suitability certificate (geschiktheidsverklaring), if any.")
    async def certificate(self, info: Info) -> Certificate | None:
        return await related(info, "Premises", CERTIFICATE, self.certificate_key, "premises_id")

    @strawberry.field(
        description="Shifts at these premises, earliest first: those the caller may read, "
        "each under the shift policy (null and withheld without one)."
    )
    async def shifts(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(
                description="At most this many shifts (capped at the hub's page size)."
            ),
        ] = None,
    ) -> list[Shift] | None:
        return await related_many(
            info, "Premises", SHIFT, self.shifts_key, "premises_id", filters.SHIFTS_ORDER, first
        )


@strawberry.type(description="A rental agreement (afspraak) of a window, confirmed by the worker.")
class RentalAgreement:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    window: int | None = strawberry.field(
        default=None, description="The window rented (numbered from 1)."
    )
    starts_at: datetime | None = strawberry.field(
        default=None, description="When the rental starts."
    )
    ends_at: datetime | None = strawberry.field(default=None, description="When the rental ends.")
    confirmed: bool | None = strawberry.field(
        default=None, description="Whether the worker confirmed the agreement."
    )
    confirmed_at: datetime | None = strawberry.field(
        default=None, description="When the worker confirmed it."
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="When the operator recorded it."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The worker's id, or a pseudonym where the policy says so."
    )
    rent_cents: int | None = strawberry.field(
        default=None, description="The rent per `rentPeriod`, in euro cents."
    )
    rent_period: RentPeriod | None = strawberry.field(
        default=None, description="What one rent amount pays for: a day, a week or a month."
    )
    deposit_cents: int | None = strawberry.field(
        default=None, description="The deposit, in euro cents."
    )
    currency: str | None = strawberry.field(
        default=None, description="The currency of the amounts (EUR); null without rent terms."
    )
    premises_id: strawberry.Private[str | None] = None
    sex_worker_key: strawberry.Private[str | None] = None

    @strawberry.field(description="The premises the window belongs to.")
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "RentalAgreement", PREMISES, self.premises_id)

    @strawberry.field(description="The tenant, where the policy shows the worker's record.")
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "RentalAgreement", SEX_WORKER, self.sex_worker_key)


@strawberry.type(description="A shift registration in the pandkalender.")
class Shift:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    window: int | None = strawberry.field(
        default=None, description="The window worked (numbered from 1)."
    )
    rental_agreement_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The confirmed rental agreement covering the shift, sealed for your "
        "organisation.",
    )
    starts_at: datetime | None = strawberry.field(
        default=None, description="When the shift starts."
    )
    ends_at: datetime | None = strawberry.field(default=None, description="When the shift ends.")
    status: ShiftStatus | None = strawberry.field(
        default=None,
        description="Registered, validated or refused by the police on site, or cancelled.",
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="When the operator registered it."
    )
    validated_at: datetime | None = strawberry.field(
        default=None, description="When the police checked it on site."
    )
    adult_verified_on_site: bool | None = strawberry.field(
        default=None, description="What the police established on site; null until checked."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The worker's id, or a pseudonym where the policy says so."
    )
    premises_id: strawberry.Private[str | None] = None
    sex_worker_key: strawberry.Private[str | None] = None

    @strawberry.field(description="The premises the window belongs to.")
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Shift", PREMISES, self.premises_id)

    @strawberry.field(
        description="Who works the shift, where the policy shows the worker's record."
    )
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "Shift", SEX_WORKER, self.sex_worker_key)


@strawberry.type(
    description="A worker's employment by an employer under an employment contract (labour "
    "law of 2024), recorded by the employer."
)
class EmploymentRelation:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    contract_kind: ContractKind | None = strawberry.field(
        default=None, description="The kind of contract."
    )
    starts_on: date | None = strawberry.field(
        default=None, description="The employment's first day."
    )
    ends_on: date | None = strawberry.field(
        default=None, description="Its last day; null for an open-ended contract still running."
    )
    created_at: datetime | None = strawberry.field(
        default=None, description="When the employer recorded it."
    )
    ended_at: datetime | None = strawberry.field(
        default=None, description="When the employer ended it early; null otherwise."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The employee's id, or a pseudonym where the policy says so."
    )
    employer_id: strawberry.Private[str | None] = None
    sex_worker_key: strawberry.Private[str | None] = None

    @strawberry.field(description="The employer.")
    async def employer(self, info: Info) -> Organisation | None:
        return await related(info, "EmploymentRelation", ORGANISATION, self.employer_id)

    @strawberry.field(description="The employee, where the policy shows the worker's record.")
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "EmploymentRelation", SEX_WORKER, self.sex_worker_key)


@strawberry.type(description="A police check (controle). Counts and outcome, no identities.")
class Inspection:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    city: str | None = strawberry.field(
        default=None, description="The city where the check took place."
    )
    zone: str | None = strawberry.field(default=None, description="The zone, if it was recorded.")
    branch: Branch | None = strawberry.field(
        default=None,
        description="The branch checked: window, street, strip club, escort, private or home, "
        "massage salon, other.",
    )
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When the check took place."
    )
    persons_checked: int | None = strawberry.field(
        default=None, description="How many persons were checked (a count, never who)."
    )
    outcome: InspectionOutcome | None = strawberry.field(
        default=None,
        description="None, a warning, an official report (PV) or an information report (RIR).",
    )
    administrative_arrests: int | None = strawberry.field(
        default=None, description="Administrative arrests made."
    )
    judicial_arrests: int | None = strawberry.field(
        default=None, description="Judicial arrests made."
    )
    hidden_form: bool | None = strawberry.field(
        default=None, description="Whether it checked a hidden form of prostitution."
    )
    proactive: bool | None = strawberry.field(
        default=None, description="Proactive (planned) rather than reactive to a complaint."
    )
    premises_id: strawberry.Private[str | None] = None
    police_org_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The premises checked, if any.")
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Inspection", PREMISES, self.premises_id)

    @strawberry.field(description="The police organisation that checked.")
    async def police_org(self, info: Info) -> Organisation | None:
        return await related(info, "Inspection", ORGANISATION, self.police_org_id)


@strawberry.type(description="One step of a measure's procedure.")
class MeasureTransition:
    from_status: MeasureStatus | None = strawberry.field(
        description="The status before the step (null for the opening)."
    )
    to_status: MeasureStatus = strawberry.field(description="The status after the step.")
    note: str | None = strawberry.field(description="What the city noted with the step.")
    at: datetime = strawberry.field(description="When the step was taken.")


@strawberry.type(description="An administrative measure (bestuurlijke maatregel).")
class Measure:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    kind: MeasureKind | None = strawberry.field(
        default=None,
        description="A fine, a certificate suspension or revocation, a temporary or "
        "permanent closure, a street ban, a closure for trafficking.",
    )
    city: str | None = strawberry.field(default=None, description="The city that imposes it.")
    target_sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The worker the measure is against, by a sealed id; null for another kind "
        "of target, or once the worker's identity is erased.",
    )
    target_kind: MeasureTargetKind | None = strawberry.field(
        default=None,
        description="What the measure is against: premises, a worker, a client or another "
        "third party (never a name; kept when the worker's reference is erased).",
    )
    target_name: str | None = strawberry.field(
        default=None,
        description="The client or third party the measure is against, decrypted; withheld "
        "from roles the measure policy does not allow it.",
    )
    status: MeasureStatus | None = strawberry.field(
        default=None, description="Opened, hearing, decided, appealed or executed."
    )
    amount_cents: int | None = strawberry.field(
        default=None, description="A fine's amount, in euro cents."
    )
    opened_at: datetime | None = strawberry.field(
        default=None, description="When the city opened it."
    )
    updated_at: datetime | None = strawberry.field(
        default=None, description="When its status last changed."
    )
    premises_id: strawberry.Private[str | None] = None
    org_id: strawberry.Private[str | None] = None
    transitions_key: strawberry.Private[str | None] = None

    @strawberry.field(description="The premises the measure is against, if it is.")
    async def premises(self, info: Info) -> Premises | None:
        return await related(info, "Measure", PREMISES, self.premises_id)

    @strawberry.field(description="The city organisation that handles it.")
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Measure", ORGANISATION, self.org_id)

    @strawberry.field(description="Its procedure so far, oldest step first.")
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


@strawberry.type(
    description="An answer to a report, by an organisation it was shared with or by its author."
)
class ReportReply:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    text: str = strawberry.field(description="The answer's text.")
    by_reporter: bool = strawberry.field(description="Whether the report's author wrote it.")
    created_at: datetime = strawberry.field(description="When it was written.")
    organisation_id: strawberry.Private[str | None] = None

    @strawberry.field(
        description="The organisation that answered (null for the author's own replies)."
    )
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "ReportReply", ORGANISATION, self.organisation_id)


@strawberry.type(description="A report (melding) filed by a sex worker.")
class Report:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    category: ReportCategory | None = strawberry.field(
        default=None,
        description="Violence, non-payment or theft, stalking, an outing threat, suspected "
        "exploitation, discrimination, nuisance, a boundary violation, images shared without "
        "consent, a raid, a bank's refusal, other.",
    )
    text: str | None = strawberry.field(default=None, description="What the worker wrote.")
    anonymous: bool | None = strawberry.field(
        default=None, description="Filed anonymously: no link to its author is kept."
    )
    city: str | None = strawberry.field(default=None, description="The city it concerns.")
    status: ReportStatus | None = strawberry.field(
        default=None, description="Filed, answered or closed."
    )
    filed_at: datetime | None = strawberry.field(default=None, description="When it was filed.")
    follow_up_code: str | None = strawberry.field(
        default=None,
        description="Only in the answer to `fileReport` of an anonymous report: the code "
        "that reads its replies (`reportByFollowUpCode`). Shown this once; the hub keeps "
        "only its hash. Null everywhere else.",
    )
    author_id: strawberry.Private[str | None] = None
    shares_key: strawberry.Private[str | None] = None
    replies_key: strawberry.Private[str | None] = None

    @strawberry.field(
        description="The worker who filed it: null when anonymous, and for anyone the policy "
        "does not let see it."
    )
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

    @strawberry.field(
        description="Answers, oldest first: the author sees every answer, an organisation its "
        "own and the author's."
    )
    async def replies(self, info: Info) -> list[ReportReply] | None:
        if self.replies_key is None:
            return None
        ctx: Context = info.context
        rows = await list_loader(ctx, "replies", ReplyRow, "report_id", ReplyRow.created_at).load(
            self.replies_key
        )
        # The author sees every answer; an organisation sees the author's and its own, never another
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
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    audience: AlertAudience | None = strawberry.field(
        default=None,
        description="Who it is for: sex workers (and the NGOs and police who pass it "
        "on), NGOs, police, or all partners.",
    )
    city: str | None = strawberry.field(default=None, description="The city it applies to.")
    zone: str | None = strawberry.field(
        default=None, description="The zone it applies to, if narrower than the city."
    )
    branch: Branch | None = strawberry.field(
        default=None, description="The branch it applies to, if one."
    )
    severity: AlertSeverity | None = strawberry.field(default=None, description="How urgent it is.")
    template: WarningTemplate | None = strawberry.field(
        default=None,
        description="The common kind of warning it was issued from, if any: its text in each "
        "language is the hub's (the consoles show it in the reader's language).",
    )
    text_nl: str | None = strawberry.field(
        default=None, description="The text in Dutch (free text added to a template, if any)."
    )
    text_fr: str | None = strawberry.field(default=None, description="The text in French.")
    text_en: str | None = strawberry.field(default=None, description="The text in English.")
    valid_until: datetime | None = strawberry.field(
        default=None, description="When it expires (at most 90 days after it was issued)."
    )
    issued_at: datetime | None = strawberry.field(default=None, description="When it was issued.")
    issued_by_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The organisation that issued it.")
    async def issued_by(self, info: Info) -> Organisation | None:
        return await related(info, "Alert", ORGANISATION, self.issued_by_id)


@strawberry.type(description="A care contact (hulpverlening) in the minimum format.")
class CareContact:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    client_ref: str | None = strawberry.field(
        default=None, description="The NGO's own client reference (never a hub id)."
    )
    contact_date: date | None = strawberry.field(
        default=None, description="The day of the contact."
    )
    kind: CareKind | None = strawberry.field(
        default=None,
        description="Medical, psychosocial, outreach, online, referral, drop-in, STI test or "
        "social recovery.",
    )
    location: CareLocation | None = strawberry.field(
        default=None, description="Fixed, mobile, outreach or online."
    )
    branch: Branch | None = strawberry.field(
        default=None, description="The branch the client works in."
    )
    city: str | None = strawberry.field(default=None, description="The city of the NGO.")
    recorded_at: datetime | None = strawberry.field(
        default=None, description="When it was recorded."
    )
    request: HelpRequest | None = strawberry.field(
        default=None, description="What the person asked for (null on older contacts)."
    )
    follow_up: CareFollowUp | None = strawberry.field(
        default=None, description="The follow-up: planned, done, or none needed."
    )
    follow_up_date: date | None = strawberry.field(
        default=None, description="The day of the follow-up, planned or done."
    )
    ngo_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The NGO that recorded it.")
    async def ngo(self, info: Info) -> Organisation | None:
        return await related(info, "CareContact", ORGANISATION, self.ngo_id)


@strawberry.type(
    description="A referral (doorverwijzing) by an NGO or the police, to an organisation on "
    "the hub or a destination outside it; with the person's consent, or for a victim under "
    "protection."
)
class Referral:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    client_ref: str | None = strawberry.field(
        default=None, description="The referring NGO's own client reference."
    )
    reason: ReferralReason | None = strawberry.field(
        default=None, description="Why the client was referred, as a category."
    )
    consent: bool | None = strawberry.field(
        default=None, description="Whether the client consented (a referral needs it)."
    )
    created_at: datetime | None = strawberry.field(default=None, description="When it was made.")
    destination: ReferralDestination | None = strawberry.field(
        default=None,
        description="Where it went when not to an organisation on the hub (e.g. PAG-ASA).",
    )
    victim_protection: bool | None = strawberry.field(
        default=None,
        description="Made for a victim under protection (then possibly without consent).",
    )
    protection_basis: ProtectionBasis | None = strawberry.field(
        default=None, description="The legal basis of that protection."
    )
    from_org_id: strawberry.Private[str | None] = None
    to_org_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The NGO or police service that referred.")
    async def from_organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Referral", ORGANISATION, self.from_org_id)

    @strawberry.field(
        description="The organisation on the hub referred to (e.g. Payoke); null for a "
        "destination outside the hub."
    )
    async def to_organisation(self, info: Info) -> Organisation | None:
        return await related(info, "Referral", ORGANISATION, self.to_org_id)


@strawberry.type(
    description="A suspicion of trafficking, recorded explicitly by the police or an NGO; "
    "only the organisation that recorded it sees it."
)
class TraffickingSuspicion:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    indicators: list[TraffickingIndicator] | None = strawberry.field(
        default=None, description="The indicators observed."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The person concerned, when a worker on the hub (sealed)."
    )
    client_ref: str | None = strawberry.field(
        default=None, description="The recording organisation's own case reference."
    )
    status: TraffickingStatus | None = strawberry.field(
        default=None, description="Noted, referred or closed."
    )
    city: str | None = strawberry.field(
        default=None, description="The city of the recording organisation."
    )
    recorded_at: datetime | None = strawberry.field(
        default=None, description="When it was recorded."
    )
    updated_at: datetime | None = strawberry.field(
        default=None, description="When its status last changed."
    )
    org_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The police service or NGO that recorded it.")
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "TraffickingSuspicion", ORGANISATION, self.org_id)


@strawberry.type(
    description="A request to the union's helpdesk: the union's own record, seen by the union only."
)
class HelpdeskRequest:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    received_on: date | None = strawberry.field(default=None, description="The day received.")
    topic: HelpdeskTopic | None = strawberry.field(default=None, description="What it is about.")
    channel: HelpdeskChannel | None = strawberry.field(
        default=None, description="How it reached the helpdesk."
    )
    status: HelpdeskStatus | None = strawberry.field(
        default=None, description="Open, answered or closed."
    )
    text: str | None = strawberry.field(default=None, description="What was asked.")
    recorded_at: datetime | None = strawberry.field(
        default=None, description="When it was recorded."
    )
    updated_at: datetime | None = strawberry.field(
        default=None, description="When its status last changed."
    )
    union_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The union that received it.")
    async def union(self, info: Info) -> Organisation | None:
        return await related(info, "HelpdeskRequest", ORGANISATION, self.union_id)


@strawberry.type(description="A consent (toestemming) given by a sex worker.")
class Consent:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    purpose: str | None = strawberry.field(
        default=None, description="The purpose it allows, e.g. care."
    )
    scope: str | None = strawberry.field(
        default=None, description="The resource it covers (e.g. Report), or * for all."
    )
    granted_at: datetime | None = strawberry.field(
        default=None, description="When the worker granted it."
    )
    revoked_at: datetime | None = strawberry.field(
        default=None, description="When the worker revoked it; null while it holds."
    )
    sex_worker_key: strawberry.Private[str | None] = None
    grantee_id: strawberry.Private[str | None] = None

    @strawberry.field(description="The organisation it was granted to.")
    async def grantee(self, info: Info) -> Organisation | None:
        return await related(info, "Consent", ORGANISATION, self.grantee_id)

    @strawberry.field(description="The worker who granted it.")
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await related(info, "Consent", SEX_WORKER, self.sex_worker_key)


@strawberry.type(
    description="A named case (investigation) of the police organisation that holds it: "
    "while it is open (not closed, not expired), its investigators read the identity of the "
    "workers it names, in requests that state it (Hub-Case header)."
)
class Investigation:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    reference: str | None = strawberry.field(
        default=None,
        description="The case reference of the prosecutor's office (e.g. AN.37.L1.012345/26): "
        "what a request states in its Hub-Case header.",
    )
    prosecutor_office: str | None = strawberry.field(
        default=None,
        description="The prosecutor's office by name, when it is not a registered organisation.",
    )
    opened_at: datetime | None = strawberry.field(
        default=None, description="When the case was opened in the hub."
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When it expires unless extended (at most 12 months ahead at each step).",
    )
    closed_at: datetime | None = strawberry.field(
        default=None, description="When it was closed (final); null while it is not."
    )
    updated_at: datetime | None = strawberry.field(
        default=None, description="When it last changed (opened, extended or closed)."
    )
    prosecutor_org_id: strawberry.Private[str | None] = None
    police_org_id: strawberry.Private[str | None] = None
    subjects_key: strawberry.Private[str | None] = None

    @strawberry.field(
        description="The prosecutor's office, when it is a registered organisation (kind "
        "judiciary)."
    )
    async def prosecutor(self, info: Info) -> Organisation | None:
        return await related(info, "Investigation", ORGANISATION, self.prosecutor_org_id)

    @strawberry.field(description="The police organisation that holds the case.")
    async def police_org(self, info: Info) -> Organisation | None:
        return await related(info, "Investigation", ORGANISATION, self.police_org_id)

    @strawberry.field(
        description="The workers the case names, each as the SexWorker policy shows the worker "
        "to you: the identity only in a request that states this case while it is open."
    )
    async def subjects(self, info: Info) -> list[SexWorker] | None:
        if self.subjects_key is None:
            return None
        ctx: Context = info.context
        if ctx.actor.grant("SexWorker", "read") is None:
            ctx.loaders.withhold("Investigation", frozenset({"subjects"}))
            return None
        loader = list_loader(
            info.context,
            "investigation-subjects",
            InvestigationSubjectRow,
            "investigation_id",
            InvestigationSubjectRow.sex_worker_id,
        )
        links = await loader.load(self.subjects_key)
        found = await asyncio.gather(
            *(related(info, "Investigation", SEX_WORKER, r.sex_worker_id) for r in links)
        )
        return [w for w in found if w is not None]


@strawberry.type(
    description="One entry of the access log: who, for which purpose, which records and "
    "fields. Never the values."
)
class AccessLogEntry:
    id: strawberry.ID = strawberry.field(description=SEALED_ID)
    at: datetime | None = strawberry.field(default=None, description="When the access happened.")
    roles: list[str] | None = strawberry.field(default=None, description="The roles of the caller.")
    subject: str | None = strawberry.field(
        default=None, description="The caller's token subject: the client or person that acted."
    )
    purpose: str | None = strawberry.field(
        default=None, description="The purpose the caller stated."
    )
    operation: str | None = strawberry.field(
        default=None, description="The GraphQL operation, event delivery or command."
    )
    action: str | None = strawberry.field(
        default=None,
        description="What was done: `read`, `event` (a delivery), a write action such as "
        "`register`, or the step refused.",
    )
    resource: str | None = strawberry.field(
        default=None, description="The resource accessed, e.g. SexWorker."
    )
    record_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The records accessed, sealed for your organisation."
    )
    fields: list[str] | None = strawberry.field(
        default=None,
        description="The fields returned: `name`, or `name(effect)` where the policy "
        "transformed it (e.g. `identity(mask)`).",
    )
    policy_version: str | None = strawberry.field(
        default=None, description="The policy version that decided."
    )
    outcome: str | None = strawberry.field(
        default=None, description="`allowed`, `denied`, `refused` or `error`."
    )
    reason: str | None = strawberry.field(
        default=None, description="The reason given for the access or the refusal."
    )
    case: str | None = strawberry.field(
        default=None,
        description="The case reference the access was made under (an investigator's request "
        "stating a case, Hub-Case header); null for any other access.",
    )
    restricted: bool | None = strawberry.field(
        default=False,
        description="In your own access log (myAccessLog): true for a read made under an "
        "investigation that names you and is still open. Such an entry says only when it "
        "happened; who read, why and under which case are shown once the case closes or "
        "expires.",
    )
    leaf_index: int | None = strawberry.field(
        default=None, description="The entry's leaf in the log's Merkle tree (from 0)."
    )
    organisation_id: strawberry.Private[str | None] = None
    # The row and the leaf fields this reader sees unchanged, for `proof`.
    row: strawberry.Private[Any] = None
    leaf_open: strawberry.Private[frozenset[str]] = frozenset()

    @strawberry.field(description="The caller's organisation.")
    async def organisation(self, info: Info) -> Organisation | None:
        return await related(info, "AccessLogEntry", ORGANISATION, self.organisation_id)

    @strawberry.field(
        description="The legal basis of the policy rules that allowed this access, as the "
        "policy version that decided it states them: the rules for the entry's roles, "
        "purpose and action (those that show its fields, when some do). Empty for a "
        "refusal; null where this view withholds roles, purpose, action, outcome or policy "
        "version, or the version is unknown."
    )
    async def legal_basis(self, info: Info) -> list[str] | None:
        from hub.schema.selfservice import legal_bases

        return await legal_bases(
            info.context,
            policy_version=self.policy_version,
            roles=self.roles,
            purpose=self.purpose,
            action=self.action,
            fields=self.fields,
            outcome=self.outcome,
        )

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
    name: str = strawberry.field(description="The field's name.")
    value: str | None = strawberry.field(
        description="Its value as canonical JSON, where this view shows the field."
    )
    salt: str | None = strawberry.field(
        description="Its salt (base64), where this view shows the field."
    )
    digest: str | None = strawberry.field(
        description="Its digest (base64), where this view does not show the field."
    )


@strawberry.type(description="An inclusion proof (RFC 9162) against a signed checkpoint.")
class AccessLogProof:
    tree_size: int = strawberry.field(
        description="The size of the tree the proof is for (the checkpoint's)."
    )
    root_hash: str = strawberry.field(description="base64")
    hashes: list[str] = strawberry.field(description="The audit path, base64, leaf side first")
    checkpoint: str = strawberry.field(description="The signed checkpoint (C2SP signed note)")
    leaf: list[AccessLogLeafField] = strawberry.field(
        description="The entry's leaf: each field opened or only its digest."
    )


def _roles(kw: dict[str, Any], _c: ReadContext, row: Any, mask: FieldMask, *_: Any) -> None:
    kw["roles"] = [r for r in row.roles.split(",") if r] if "roles" in mask.shown else None


def _leaf(kw: dict[str, Any], _c: ReadContext, row: Any, mask: FieldMask, *_: Any) -> None:
    kw["leaf_index"] = row.id - 1
    kw["row"] = row
    kw["leaf_open"] = frozenset(
        f for f in LEAF_FIELDS if f in mask.shown and mask.effect(f) == "allow"
    )


def _case(kw: dict[str, Any], _c: ReadContext, row: Any, mask: FieldMask, *_: Any) -> None:
    reason = row.reason or ""
    shown = "case" in mask.shown and reason.startswith(CASE_REASON)
    kw["case"] = reason.removeprefix(CASE_REASON) if shown else None


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
EMPLOYMENT = spec(
    "EmploymentRelation",
    "EmploymentRelation",
    builder(
        EmploymentRelation,
        "EmploymentRelation",
        relations={
            "employer": ("employer_id", "employer_id"),
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
        special={
            "transitions": _key_if("transitions", "transitions_key"),
            "target_name": _target_name,
        },
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
TRAFFICKING_SUSPICION = spec(
    "TraffickingSuspicion",
    "TraffickingSuspicion",
    builder(
        TraffickingSuspicion,
        "TraffickingSuspicion",
        relations={"organisation": ("org_id", "org_id")},
    ),
)
HELPDESK_REQUEST = spec(
    "HelpdeskRequest",
    "HelpdeskRequest",
    builder(HelpdeskRequest, "HelpdeskRequest", relations={"union": ("union_id", "union_id")}),
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

INVESTIGATION = spec(
    "Investigation",
    "Investigation",
    builder(
        Investigation,
        "Investigation",
        relations={
            "prosecutor": ("prosecutor_org_id", "prosecutor_org_id"),
            "police_org": ("police_org_id", "police_org_id"),
        },
        special={"subjects": _key_if("subjects", "subjects_key")},
    ),
)
ACCESS_LOG = spec(
    "AccessLogEntry",
    "AccessLog",
    builder(
        AccessLogEntry,
        "AccessLog",
        relations={"organisation": ("organisation_id", "organisation_id")},
        special={"roles": _roles, "leaf": _leaf, "case": _case},
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
        EMPLOYMENT,
        INSPECTION,
        MEASURE,
        REPORT,
        ALERT,
        CARE_CONTACT,
        REFERRAL,
        CONSENT,
        INVESTIGATION,
        ACCESS_LOG,
        TRAFFICKING_SUSPICION,
        HELPDESK_REQUEST,
    )
}

__all__ = ["NODES", "camel"]
