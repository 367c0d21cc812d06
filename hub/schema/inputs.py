"""GraphQL input types of the mutations."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from hub.schema.enums import (
    AlertAudience,
    AlertSeverity,
    Branch,
    CareFollowUp,
    CareKind,
    CareLocation,
    ContractKind,
    HelpdeskChannel,
    HelpdeskTopic,
    HelpRequest,
    InspectionOutcome,
    MeasureKind,
    MeasureTargetKind,
    ProtectionBasis,
    ReferralDestination,
    ReferralReason,
    RentPeriod,
    ReportCategory,
    TraffickingIndicator,
    WarningTemplate,
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
    pairing_code: str | None = strawberry.field(
        default=None,
        description="A pairing code the worker gave you, if the worker registered themself "
        "in a city without police validation: the identity is then registered on the "
        "worker's own record (which keeps the worker's working name and moves to your city), "
        "not on a new one. A wrong, expired or used code is NOT_FOUND; after 5 wrong codes in "
        "15 minutes every try is RATE_LIMITED.",
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
    rent_cents: int | None = strawberry.field(
        default=None,
        description="The rent per `rentPeriod`, in euro cents (0 or more; given with "
        "`rentPeriod`).",
    )
    rent_period: RentPeriod | None = strawberry.field(
        default=None, description="What one rent amount pays for: a day, a week or a month."
    )
    deposit_cents: int | None = strawberry.field(
        default=None, description="The deposit, in euro cents (0 or more; given with the rent)."
    )
    currency: str | None = strawberry.field(
        default=None, description="The currency of the amounts: EUR, the only one (default)."
    )


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
    late_after_outage: bool = strawberry.field(
        default=False,
        description="Register a shift that has already started, because it started during a "
        "recorded outage of the hub (at most 3 days after the outage ended); refused when no "
        "recorded outage covers its start.",
    )


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


@strawberry.input(
    description="Whom or what a measure is against: exactly one of premisesId, sexWorkerId "
    "and personName."
)
class MeasureTargetInput:
    premises_id: strawberry.ID | None = strawberry.field(
        default=None, description="Premises in your city, by the id you hold for them."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="A worker, by the id you hold for them."
    )
    person_name: str | None = strawberry.field(
        default=None,
        description="A client or third party's name; stored encrypted under a key of its own, "
        "shown only to the roles the measure policy allows.",
    )
    person_role: MeasureTargetKind | None = strawberry.field(
        default=None,
        description="With personName, and only then: CLIENT or OTHER_PERSON (a third party "
        "who is neither a worker nor a client). Counted, without the name, in the fines "
        "indicator.",
    )


@strawberry.input(description="An administrative measure (bestuurlijke maatregel) a city opens.")
class MeasureInput:
    kind: MeasureKind = strawberry.field(description="What the measure is.")
    target: MeasureTargetInput = strawberry.field(
        description="Whom or what it is against: one kind of target only."
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
    valid_until: datetime = strawberry.field(description="When it expires (at most 90 days ahead).")
    template: WarningTemplate | None = strawberry.field(
        default=None,
        description="A common kind of warning: its text is shown in each reader's language. "
        "Either a template or a Dutch text (or both).",
    )
    text_nl: str | None = strawberry.field(
        default=None,
        description="The text in Dutch: the whole warning, or free text added to the template.",
    )
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
    request: HelpRequest | None = strawberry.field(
        default=None, description="What the person asked for (the request for help)."
    )
    follow_up: CareFollowUp | None = strawberry.field(
        default=None, description="The follow-up: planned, done, or none needed."
    )
    follow_up_date: date | None = strawberry.field(
        default=None,
        description="The day of the follow-up, planned or done (needed with those two; not "
        "before the contact).",
    )


@strawberry.input(
    description="A referral (doorverwijzing) of a person to another organisation, a "
    "specialised centre or an outside body, by an NGO or the police."
)
class ReferralInput:
    to_organisation_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The organisation on the hub referred to, by the id you hold for it "
        "(an NGO); or give `destination` instead.",
    )
    client_ref: str = strawberry.field(
        description="Your own case reference: never a hub id nor a name; unless your "
        "organisation has its own pattern, 3 to 40 letters, digits and . _ / : # - with at "
        "least one digit."
    )
    reason: ReferralReason = strawberry.field(description="Why, as a category.")
    consent: bool = strawberry.field(description="The person consented to this referral.")
    destination: ReferralDestination | None = strawberry.field(
        default=None,
        description="Where the referral goes when not to an organisation on the hub (a "
        "specialised centre, an outside body); or give `toOrganisationId` instead.",
    )
    victim_protection: bool = strawberry.field(
        default=False,
        description="The person is a victim under protection: the referral may then be made "
        "without the person's consent, on the `protectionBasis` given.",
    )
    protection_basis: ProtectionBasis | None = strawberry.field(
        default=None, description="The legal basis of the protection (with victimProtection)."
    )


@strawberry.input(
    description="A suspicion of trafficking, recorded explicitly by the police or an NGO; "
    "it stays with your organisation."
)
class TraffickingSuspicionInput:
    indicators: list[TraffickingIndicator] = strawberry.field(
        description="The indicators observed, each at most once (at least one)."
    )
    sex_worker_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The person concerned, when a worker on the hub (the id you hold for the "
        "worker).",
    )
    client_ref: str | None = strawberry.field(
        default=None,
        description="Your own case reference for the person, when you have one: never a hub "
        "id nor a name.",
    )


@strawberry.input(description="A request to the union's helpdesk, as the union received it.")
class HelpdeskRequestInput:
    received_on: date = strawberry.field(description="The day it was received.")
    topic: HelpdeskTopic = strawberry.field(description="What it is about.")
    channel: HelpdeskChannel = strawberry.field(description="How it reached the helpdesk.")
    text: str = strawberry.field(
        description="What was asked, in the helpdesk's words: 1 to 2000 characters, line "
        "breaks allowed, no control characters."
    )


@strawberry.input(description="A sex worker's consent to one organisation, for one purpose.")
class ConsentInput:
    grantee_id: strawberry.ID = strawberry.field(
        description="The organisation the consent is for, by the id you hold for it."
    )
    purpose: str = strawberry.field(description="The one purpose it allows, e.g. care.")
    scope: str | None = strawberry.field(
        default=None, description="A resource name such as Report, or * (the default) for all"
    )


@strawberry.input(description="A named case, as the police investigator opens it in the hub.")
class InvestigationInput:
    reference: str = strawberry.field(
        description="The case reference of the prosecutor's office, e.g. AN.37.L1.012345/26: "
        "an office code of 2 to 4 capitals, then 1 to 6 parts of capitals and digits after "
        "'.', '/' or '-'; at most 40 characters. Once in the hub."
    )
    subject_ids: list[strawberry.ID] = strawberry.field(
        description="The workers the case names (1 to 50), by the ids you hold for them."
    )
    expires_at: datetime = strawberry.field(
        description="When the case expires unless extended: in the future, at most 12 months ahead."
    )
    prosecutor_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The prosecutor's office, an organisation of kind judiciary, by the id you "
        "hold for it; or give prosecutorOffice.",
    )
    prosecutor_office: str | None = strawberry.field(
        default=None,
        description="The prosecutor's office by name (3 to 120 characters), when it is not a "
        "registered organisation.",
    )


@strawberry.input(
    description="An employer records that it employs a worker under an employment contract "
    "(labour law of 2024); the worker sees it in self-service."
)
class EmploymentInput:
    sex_worker_id: strawberry.ID = strawberry.field(
        description="The employee, by the id you hold for the worker."
    )
    contract_kind: ContractKind = strawberry.field(description="The kind of contract.")
    starts_on: date = strawberry.field(description="The employment's first day.")
    ends_on: date | None = strawberry.field(
        default=None,
        description="Its last day: given for a contract that is not open-ended, null for one "
        "that is.",
    )
