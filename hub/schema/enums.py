"""GraphQL enums, the domain vocabularies of hub/models/enums.py."""

import strawberry

from hub.models import enums as e

OrganisationKind = strawberry.enum(e.OrganisationKind)
PremisesKind = strawberry.enum(e.PremisesKind)
CertificateStatus = strawberry.enum(e.CertificateStatus)
ShiftStatus = strawberry.enum(e.ShiftStatus)
Branch = strawberry.enum(e.Branch)
InspectionOutcome = strawberry.enum(e.InspectionOutcome)
MeasureKind = strawberry.enum(e.MeasureKind)
MeasureStatus = strawberry.enum(e.MeasureStatus)
ReportCategory = strawberry.enum(e.ReportCategory)
ReportStatus = strawberry.enum(e.ReportStatus)
AlertAudience = strawberry.enum(e.AlertAudience)
AlertSeverity = strawberry.enum(e.AlertSeverity)
CareKind = strawberry.enum(e.CareKind)
CareLocation = strawberry.enum(e.CareLocation)
ReferralReason = strawberry.enum(e.ReferralReason)
