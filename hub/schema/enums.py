"""GraphQL enums: the domain vocabularies of hub/models/enums.py, registered with strawberry.

`strawberry.enum` marks the classes in place, so the schema and the models share them.
"""

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

for _enum in (
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
):
    strawberry.enum(_enum)

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
