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
    working_name: str = strawberry.field(description="The name the worker works under (werknaam).")
    legal_name: str = strawberry.field(
        description="The legal name, as on the identity document (stored encrypted)."
    )
    birth_date: date = strawberry.field(
        description="The date of birth (stored encrypted); a minor is never registered."
    )
    nationality: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. BE")
    document_number: str = strawberry.field(
        description="The identity document's number (stored encrypted)."
    )
    languages: list[str] = strawberry.field(
        default_factory=list, description="Languages the worker speaks, as the worker gives them."
    )


@strawberry.input(
    description="A rental of one window of the operator's own premises to a worker for a "
    "period; the worker confirms it."
)
class RentalAgreementInput:
    premises_id: strawberry.ID = strawberry.field(
        description="The premises, by the id you hold for it."
    )
    window: int = strawberry.field(
        description="The window rented (numbered from 1, at most the premises' windows)."
    )
    sex_worker_id: strawberry.ID = strawberry.field(
        description="The tenant, by the id you hold for the worker."
    )
    starts_at: datetime = strawberry.field(description="When the rental starts.")
    ends_at: datetime = strawberry.field(description="When the rental ends (after it starts).")


@strawberry.input(
    description="Who works in which window when (pandkalender), under a confirmed rental "
    "agreement covering it."
)
class ShiftInput:
    premises_id: strawberry.ID = strawberry.field(
        description="The premises, by the id you hold for it."
    )
    window: int = strawberry.field(description="The window worked (numbered from 1).")
    sex_worker_id: strawberry.ID = strawberry.field(
        description="Who works, by the id you hold for the worker."
    )
    starts_at: datetime = strawberry.field(description="When the shift starts.")
    ends_at: datetime = strawberry.field(description="When the shift ends (after it starts).")


@strawberry.input(description="What the police established on site.")
class ValidationInput:
    identity_checked: bool = strawberry.field(
        description="The police checked the worker's identity document on site."
    )
    adult_verified: bool = strawberry.field(
        description="The police verified on site that the worker is an adult."
    )


@strawberry.input(
    description="A police check (controle): counts and outcome, never who was checked."
)
class InspectionInput:
    branch: Branch = strawberry.field(description="The branch checked.")
    occurred_at: datetime = strawberry.field(description="When the check took place.")
    outcome: InspectionOutcome = strawberry.field(
        description="None, a warning, an official report (PV) or an information report (RIR)."
    )
    persons_checked: int = strawberry.field(default=0, description="How many persons were checked.")
    administrative_arrests: int = strawberry.field(
        default=0, description="Administrative arrests made."
    )
    judicial_arrests: int = strawberry.field(default=0, description="Judicial arrests made.")
    hidden_form: bool = strawberry.field(
        default=False, description="Whether it checked a hidden form of prostitution."
    )
    proactive: bool = strawberry.field(
        default=True, description="Proactive (planned) rather than reactive to a complaint."
    )
    zone: str | None = strawberry.field(default=None, description="The zone, if known.")
    premises_id: strawberry.ID | None = strawberry.field(
        default=None, description="The premises checked, if any, by the id you hold for it."
    )


@strawberry.input(description="An administrative measure (bestuurlijke maatregel) a city opens.")
class MeasureInput:
    kind: MeasureKind = strawberry.field(description="What the measure is.")
    target: str = strawberry.field(
        description="Whom or what it is against (an operator, premises), as the city names it."
    )
    premises_id: strawberry.ID | None = strawberry.field(
        default=None, description="The premises concerned, if any, by the id you hold for it."
    )
    amount_cents: int | None = strawberry.field(
        default=None, description="A fine's amount, in euro cents."
    )


@strawberry.input(description="A report (melding) by a sex worker.")
class ReportInput:
    category: ReportCategory = strawberry.field(description="What the report is about.")
    text: str = strawberry.field(description="What happened, in the worker's words.")
    anonymous: bool = strawberry.field(
        default=False, description="File it without any link to its author."
    )
    shared_with: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Organisations (police, NGOs) that may read it."
    )


@strawberry.input(description="A warning (waarschuwing) for an audience in the caller's city.")
class AlertInput:
    audience: AlertAudience = strawberry.field(description="Who it is for.")
    severity: AlertSeverity = strawberry.field(description="How urgent it is.")
    text_nl: str = strawberry.field(description="The text in Dutch.")
    valid_until: datetime = strawberry.field(description="When it expires (at most 90 days ahead).")
    text_fr: str | None = strawberry.field(default=None, description="The text in French.")
    text_en: str | None = strawberry.field(default=None, description="The text in English.")
    zone: str | None = strawberry.field(default=None, description="Only this zone of the city.")
    branch: Branch | None = strawberry.field(default=None, description="Only this branch.")


@strawberry.input(description="A care contact (hulpverlening) in the minimum format.")
class CareContactInput:
    client_ref: str = strawberry.field(
        description="The NGO's own case reference: never a hub id nor a name; unless the NGO "
        "has its own pattern, 3 to 40 letters, digits and . _ / : # - with at least one digit."
    )
    contact_date: date = strawberry.field(description="The day of the contact.")
    kind: CareKind = strawberry.field(description="What kind of care.")
    location: CareLocation = strawberry.field(description="Where the contact took place.")
    branch: Branch = strawberry.field(description="The branch the client works in.")


@strawberry.input(description="A referral (doorverwijzing) of a client to another organisation.")
class ReferralInput:
    to_organisation_id: strawberry.ID = strawberry.field(
        description="The organisation referred to, by the id you hold for it."
    )
    client_ref: str = strawberry.field(
        description="The NGO's own case reference: never a hub id nor a name; unless the NGO "
        "has its own pattern, 3 to 40 letters, digits and . _ / : # - with at least one digit."
    )
    reason: ReferralReason = strawberry.field(description="Why, as a category.")
    consent: bool = strawberry.field(description="The client consented to this referral.")


@strawberry.input(description="A sex worker's consent to one organisation, for one purpose.")
class ConsentInput:
    grantee_id: strawberry.ID = strawberry.field(
        description="The organisation the consent is for, by the id you hold for it."
    )
    purpose: str = strawberry.field(description="The one purpose it allows, e.g. care.")
    scope: str | None = strawberry.field(
        default=None, description="A resource name such as Report, or * (the default) for all"
    )
