"""The resources policies speak about: their table, actions, fields and data subject.

This registry is the one place that names a resource's fields; the loader validates policy
documents against it and the GraphQL types expose exactly these fields (in camelCase).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum
from typing import Any

from hub.models import (
    AccessLogEntry,
    Alert,
    CareContact,
    Certificate,
    Consent,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    Measure,
    Organisation,
    Pairing,
    Participation,
    PolicyChange,
    Premises,
    Referral,
    RentalAgreement,
    Report,
    SexWorker,
    ShiftRegistration,
    TraffickingSuspicion,
)
from hub.models import enums as e


@dataclass(frozen=True)
class Resource:
    name: str  # the policy's `resource:` value
    model: Any  # the SQLModel table class
    actions: frozenset[str]
    fields: tuple[str, ...]  # policy field names; relations are fields too
    # Column holding the sex-worker id this record is about, if any (consent, self-service).
    subject_column: str | None = None
    holds_sex_worker_data: bool = False
    # Personal data: every read of it is written to the access log.
    personal: bool = False
    # For a resource that is personal for some rows only: which rows (read in Python off
    # the rows already fetched; no extra query).
    personal_rows: Callable[[Any], bool] | None = None
    # About workers, directly or not (their care, workplaces, measures, who read their data,
    # the policy governing all that): every policy change of it needs the co-approval of a
    # worker representative. Set below for every resource not in NOT_ABOUT_WORKERS.
    about_workers: bool = True

    def is_personal(self, row: Any) -> bool:
        return self.personal or (self.personal_rows is not None and self.personal_rows(row))


def _r(
    name: str,
    model: Any,
    actions: str,
    fields: str,
    subject_column: str | None = None,
    holds_sex_worker_data: bool = False,
    personal: bool | None = None,
) -> Resource:
    return Resource(
        name,
        model,
        frozenset(("read " + actions).split()),
        tuple(fields.split()),
        subject_column,
        holds_sex_worker_data,
        holds_sex_worker_data if personal is None else personal,
    )


RESOURCES: dict[str, Resource] = {
    r.name: r
    for r in (
        _r(
            "Organisation",
            Organisation,
            "set_recognition",
            "id name kind city recognition_status recognition_number recognition_decided_at",
        ),
        _r(
            "SexWorker",
            SexWorker,
            "register erase set_gender",
            "id working_name identity adult_verified languages city created_at gender",
            subject_column="id",
            holds_sex_worker_data=True,
        ),
        _r(
            "Premises",
            Premises,
            "",
            "id address city zone kind windows operator certificate",
        ),
        _r(
            "Certificate",
            Certificate,
            "set_status",
            "id premises status valid_from valid_until decision decided_at",
        ),
        _r(
            "RentalAgreement",
            RentalAgreement,
            "record confirm",
            "id premises window sex_worker sex_worker_id starts_at ends_at confirmed confirmed_at "
            "created_at rent_cents rent_period deposit_cents currency",
            subject_column="sex_worker_id",
            holds_sex_worker_data=True,
        ),
        _r(
            "ShiftRegistration",
            ShiftRegistration,
            "register cancel validate",
            "id premises window sex_worker sex_worker_id rental_agreement_id starts_at ends_at "
            "status created_at validated_at adult_verified_on_site",
            subject_column="sex_worker_id",
            holds_sex_worker_data=True,
        ),
        _r(
            "EmploymentRelation",
            EmploymentRelation,
            "record end",
            "id employer sex_worker sex_worker_id contract_kind starts_on ends_on created_at "
            "ended_at",
            subject_column="sex_worker_id",
            holds_sex_worker_data=True,
        ),
        _r(
            "Inspection",
            Inspection,
            "record",
            "id city zone branch premises occurred_at persons_checked outcome "
            "administrative_arrests judicial_arrests hidden_form proactive police_org",
        ),
        _r(
            "Measure",
            Measure,
            "open advance",
            "id kind city premises target_sex_worker_id target_name target_kind status "
            "amount_cents opened_at updated_at organisation transitions",
            # A measure may target a person (street ban, fine); a worker it names sees its
            # reads in the worker's access log.
            subject_column="target_sex_worker_id",
            personal=True,
        ),
        _r(
            "Report",
            Report,
            "file reply",
            "id category text anonymous author city status filed_at shared_with replies",
            subject_column="author_id",
            holds_sex_worker_data=True,
        ),
        _r(
            "Alert",
            Alert,
            "issue",
            "id audience city zone branch severity template text_nl text_fr text_en valid_until "
            "issued_by issued_at",
        ),
        _r(
            "CareContact",
            CareContact,
            "record",
            "id ngo client_ref contact_date kind location branch city recorded_at request "
            "follow_up follow_up_date",
            personal=True,
        ),
        _r(
            "Referral",
            Referral,
            "refer",
            "id from_organisation to_organisation client_ref reason consent created_at "
            "destination victim_protection protection_basis",
            personal=True,
        ),
        # Recorded by the police or an NGO, explicitly; about a worker when one is named.
        _r(
            "TraffickingSuspicion",
            TraffickingSuspicion,
            "record set_status",
            "id organisation indicators sex_worker_id client_ref status city recorded_at "
            "updated_at",
            subject_column="sex_worker_id",
            personal=True,
        ),
        # The union's helpdesk: its own records, free text included.
        _r(
            "HelpdeskRequest",
            HelpdeskRequest,
            "record set_status",
            "id union received_on topic channel status text recorded_at updated_at",
            personal=True,
        ),
        _r(
            "Consent",
            Consent,
            "grant revoke",
            "id sex_worker grantee purpose scope granted_at revoked_at",
            subject_column="sex_worker_id",
            holds_sex_worker_data=True,
        ),
        _r(
            "PolicyChange",
            PolicyChange,
            "propose approve reject rollback",
            "id resource kind document reason base_version status touches_sex_worker_data "
            "proposed_by proposed_by_org proposed_at decided_at rejection_reason "
            "rejected_by rejected_by_org rejected_by_role activated_version",
        ),
        # Reading the log is itself logged, but names no data subject: a worker reading their
        # own access log does not fill it with their own reads.
        _r(
            "AccessLog",
            AccessLogEntry,
            "",
            "id at organisation roles subject purpose operation action resource record_ids "
            "fields policy_version outcome reason case",
            personal=True,
        ),
        # A named case. Reading one is logged, but names no data subject: the workers it
        # names learn of it through their access log's deferred entries, once it closes.
        _r(
            "Investigation",
            Investigation,
            "open extend close",
            "id reference prosecutor prosecutor_office police_org subjects opened_at "
            "expires_at closed_at updated_at",
            personal=True,
        ),
    )
}

# One person across cities (hub/services/participation.py, pairing.py): a worker's
# participation per city, and the pairings that link a worker to an operator or employer.
for _resource in (
    _r(
        "Participation",
        Participation,
        "register end",
        "id sex_worker sex_worker_id city regime how status started_at ended_at",
        subject_column="sex_worker_id",
        holds_sex_worker_data=True,
    ),
    _r(
        "Pairing",
        Pairing,
        "create redeem revoke",
        "id sex_worker sex_worker_id organisation status created_at expires_at redeemed_at "
        "revoked_at",
        subject_column="sex_worker_id",
        holds_sex_worker_data=True,
    ),
):
    RESOURCES[_resource.name] = _resource

# Resources a policy change of which does not need the workers' representative: the partner
# directory and the suitability certificates of premises. Every other resource, including
# one added later, is about workers until it is listed here (deny by default).
NOT_ABOUT_WORKERS: frozenset[str] = frozenset({"Organisation", "Certificate"})
for _name in NOT_ABOUT_WORKERS:
    RESOURCES[_name] = replace(RESOURCES[_name], about_workers=False)

# A private (home-based) workplace's address is where someone lives: its reads are logged
# like any personal data. Window premises and clubs are businesses.
RESOURCES["Premises"] = replace(
    RESOURCES["Premises"], personal_rows=lambda row: row.kind == "private"
)

# Fields whose kind is not read off their column: a composite, an address, a reference.
SPECIAL_KINDS: dict[tuple[str, str], str] = {
    ("SexWorker", "identity"): "identity",
    ("Premises", "address"): "address",
    ("ShiftRegistration", "sex_worker_id"): "reference",
    ("RentalAgreement", "sex_worker_id"): "reference",
    ("Participation", "sex_worker_id"): "reference",
    ("Pairing", "sex_worker_id"): "reference",
    ("TraffickingSuspicion", "sex_worker_id"): "reference",
    ("Measure", "target_sex_worker_id"): "reference",
    ("EmploymentRelation", "sex_worker_id"): "reference",
}


def field_kind(resource: Resource, field: str) -> str:
    """The kind of a policy field, which decides the effects that fit it."""
    special = SPECIAL_KINDS.get((resource.name, field))
    if special is not None:
        return special
    if field == "id":
        return "other"
    from sqlalchemy import inspect as sa_inspect

    columns = sa_inspect(resource.model).columns
    if field not in columns:
        return "other"  # relations and computed lists: allow or deny
    column = columns[field]
    for candidate in (column.type, getattr(column.type, "impl", None)):
        try:
            py = candidate.python_type if candidate is not None else object
        except NotImplementedError:
            continue
        if py is datetime:
            return "datetime"
        if py is date:
            return "date"
        if py is str:
            return "string"
    return "other"


# Vocabularies of string columns, so that a policy comparing `status` to "grnted" is a
# load error rather than a rule that silently matches nothing.
COLUMN_VOCABULARIES: dict[tuple[str, str], type[Enum]] = {
    ("organisation", "kind"): e.OrganisationKind,
    ("organisation", "recognition_status"): e.RecognitionStatus,
    ("employment_relation", "contract_kind"): e.ContractKind,
    ("rental_agreement", "rent_period"): e.RentPeriod,
    ("premises", "kind"): e.PremisesKind,
    ("certificate", "status"): e.CertificateStatus,
    ("shift_registration", "status"): e.ShiftStatus,
    ("inspection", "branch"): e.Branch,
    ("inspection", "outcome"): e.InspectionOutcome,
    ("measure", "kind"): e.MeasureKind,
    ("measure", "status"): e.MeasureStatus,
    ("report", "category"): e.ReportCategory,
    ("report", "status"): e.ReportStatus,
    ("alert", "audience"): e.AlertAudience,
    ("alert", "severity"): e.AlertSeverity,
    ("alert", "branch"): e.Branch,
    ("alert", "template"): e.WarningTemplate,
    ("care_contact", "kind"): e.CareKind,
    ("care_contact", "location"): e.CareLocation,
    ("care_contact", "branch"): e.Branch,
    ("referral", "reason"): e.ReferralReason,
    ("participation", "status"): e.ParticipationStatus,
    ("pairing", "status"): e.PairingStatus,
    ("care_contact", "request"): e.HelpRequest,
    ("care_contact", "follow_up"): e.CareFollowUp,
    ("referral", "destination"): e.ReferralDestination,
    ("referral", "protection_basis"): e.ProtectionBasis,
    ("trafficking_suspicion", "status"): e.TraffickingStatus,
    ("helpdesk_request", "topic"): e.HelpdeskTopic,
    ("helpdesk_request", "channel"): e.HelpdeskChannel,
    ("helpdesk_request", "status"): e.HelpdeskStatus,
}
