"""GraphQL input types of the mutations."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from hub.schema.enums import (
    AlertAudience,
    AlertSeverity,
    Branch,
    CareKind,
    CareLocation,
    InspectionOutcome,
    MeasureKind,
    ReferralReason,
    ReportCategory,
)


@strawberry.input(description="Registration by the police at identity validation.")
class RegisterSexWorkerInput:
    working_name: str
    legal_name: str
    birth_date: date
    nationality: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. BE")
    document_number: str
    languages: list[str] = strawberry.field(default_factory=list)


@strawberry.input
class RentalAgreementInput:
    premises_id: strawberry.ID
    window: int
    sex_worker_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime


@strawberry.input
class ShiftInput:
    premises_id: strawberry.ID
    window: int
    sex_worker_id: strawberry.ID
    starts_at: datetime
    ends_at: datetime


@strawberry.input(description="What the police established on site.")
class ValidationInput:
    identity_checked: bool
    adult_verified: bool


@strawberry.input
class InspectionInput:
    branch: Branch
    occurred_at: datetime
    outcome: InspectionOutcome
    persons_checked: int = 0
    administrative_arrests: int = 0
    judicial_arrests: int = 0
    hidden_form: bool = False
    proactive: bool = True
    zone: str | None = None
    premises_id: strawberry.ID | None = None


@strawberry.input
class MeasureInput:
    kind: MeasureKind
    target: str
    premises_id: strawberry.ID | None = None
    amount_cents: int | None = None


@strawberry.input
class ReportInput:
    category: ReportCategory
    text: str
    anonymous: bool = False
    shared_with: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Organisations (police, NGOs) that may read it."
    )


@strawberry.input
class AlertInput:
    audience: AlertAudience
    severity: AlertSeverity
    text_nl: str
    valid_until: datetime
    text_fr: str | None = None
    text_en: str | None = None
    zone: str | None = None
    branch: Branch | None = None


@strawberry.input
class CareContactInput:
    client_ref: str = strawberry.field(description="The NGO's own client reference.")
    contact_date: date
    kind: CareKind
    location: CareLocation
    branch: Branch


@strawberry.input
class ReferralInput:
    to_organisation_id: strawberry.ID
    client_ref: str
    reason: ReferralReason
    consent: bool = strawberry.field(description="The client consented to this referral.")


@strawberry.input(description="A sex worker's consent to one organisation, for one purpose.")
class ConsentInput:
    grantee_id: strawberry.ID
    purpose: str
    scope: str | None = strawberry.field(
        default=None, description="A resource name such as Report, or * (the default) for all"
    )
