"""GraphQL enums: the domain vocabularies of hub/models/enums.py, registered with strawberry.

`strawberry.enum` marks the classes in place, so the schema and the models share them.
"""

from enum import EnumMeta

import strawberry

from hub.models.enums import (
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

# Enum values are the domain's own words and carry no description of their own (see
# tests/test_schema_docs.py); what is not self-evident about a value is said here.
DESCRIPTIONS: dict[EnumMeta, str] = {
    AlertAudience: "Who a warning is for. `sex_workers`: the workers, and the NGOs and police "
    "who pass warnings on to them; `all_partners`: every partner organisation.",
    AlertSeverity: "How urgent a warning is: `info`, `warning` or `danger`.",
    Branch: "The branches of sex work the action plan counts: window prostitution, street, "
    "strip clubs, escort, private or home-based work, massage salons, other.",
    CareKind: "The kind of a care contact (hulpverlening): medical, psychosocial, outreach, "
    "online, or a referral.",
    CareLocation: "Where a care contact took place: at a fixed office, a mobile unit, on "
    "outreach, or online.",
    CertificateStatus: "The status of a suitability certificate (geschiktheidsverklaring).",
    InspectionOutcome: "What a police check (controle) ended in: nothing, a warning, an "
    "official report (`pv`, proces-verbaal) or an information report (`rir`).",
    MeasureKind: "The kinds of administrative measure (bestuurlijke maatregel) a city takes.",
    MeasureStatus: "The steps of a measure's procedure: opened, hearing, decided, appealed "
    "(back to decided), executed.",
    OrganisationKind: "What kind of organisation a partner is. Roles belong to kinds: police "
    "roles to police, city roles to cities, NGO roles to NGOs and the union.",
    PremisesKind: "Window premises, club, massage salon, a private home (shown only as its "
    "zone to most callers), other.",
    ReferralReason: "Why an NGO referred a client: medical, psychosocial, legal, housing, "
    "support for victims of trafficking, support for leaving sex work, other.",
    ReportCategory: "What a worker's report (melding) is about.",
    ReportStatus: "Where a report stands: filed, answered, closed.",
    ShiftStatus: "A shift's state: registered by the operator; validated or `refused` by the "
    "police on site (`refused`: identity or adulthood could not be validated); cancelled.",
}
for _enum, _description in DESCRIPTIONS.items():
    strawberry.enum(_enum, description=_description)

__all__ = [
    "AlertAudience",
    "AlertSeverity",
    "Branch",
    "CareKind",
    "CareLocation",
    "CertificateStatus",
    "InspectionOutcome",
    "MeasureKind",
    "MeasureStatus",
    "OrganisationKind",
    "PremisesKind",
    "ReferralReason",
    "ReportCategory",
    "ReportStatus",
    "ShiftStatus",
]
