"""Vocabularies of the domain. Stored as their string values."""

from __future__ import annotations

from enum import Enum


class OrganisationKind(str, Enum):
    CITY = "city"
    POLICE = "police"
    JUDICIARY = "judiciary"
    NGO = "ngo"
    UNION = "union"
    OPERATOR = "operator"


class PremisesKind(str, Enum):
    WINDOW = "window"
    CLUB = "club"
    MASSAGE_SALON = "massage_salon"
    PRIVATE = "private"
    OTHER = "other"


class CertificateStatus(str, Enum):
    """Geschiktheidsverklaring status."""

    GRANTED = "granted"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ShiftStatus(str, Enum):
    REGISTERED = "registered"
    VALIDATED = "validated"
    REFUSED = "refused"  # police could not validate identity or adulthood on site
    CANCELLED = "cancelled"


class Branch(str, Enum):
    WINDOW = "window"
    STREET = "street"
    STRIP_CLUB = "strip_club"
    ESCORT = "escort"
    PRIVATE_HOME = "private_home"
    MASSAGE_SALON = "massage_salon"
    OTHER = "other"


class InspectionOutcome(str, Enum):
    NONE = "none"
    WARNING = "warning"
    PV = "pv"  # proces-verbaal, official report
    RIR = "rir"  # information report


class MeasureKind(str, Enum):
    FINE = "fine"
    CERTIFICATE_SUSPENSION = "certificate_suspension"
    CERTIFICATE_REVOCATION = "certificate_revocation"
    TEMPORARY_CLOSURE = "temporary_closure"
    PERMANENT_CLOSURE = "permanent_closure"
    STREET_BAN = "street_ban"
    TRAFFICKING_CLOSURE = "trafficking_closure"


class MeasureStatus(str, Enum):
    OPENED = "opened"
    HEARING = "hearing"
    DECIDED = "decided"
    APPEALED = "appealed"
    EXECUTED = "executed"


class ReportCategory(str, Enum):
    VIOLENCE = "violence"
    NON_PAYMENT_THEFT = "non_payment_theft"
    STALKING = "stalking"
    OUTING_THREAT = "outing_threat"
    EXPLOITATION_SUSPICION = "exploitation_suspicion"
    DISCRIMINATION = "discrimination"
    NUISANCE = "nuisance"
    OTHER = "other"


class ReportStatus(str, Enum):
    FILED = "filed"
    ANSWERED = "answered"
    CLOSED = "closed"


class AlertAudience(str, Enum):
    SEX_WORKERS = "sex_workers"  # and the NGOs and police who pass warnings on
    NGOS = "ngos"
    POLICE = "police"
    ALL_PARTNERS = "all_partners"


class AlertSeverity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    DANGER = "danger"


class CareKind(str, Enum):
    MEDICAL = "medical"
    PSYCHOSOCIAL = "psychosocial"
    OUTREACH = "outreach"
    ONLINE = "online"
    REFERRAL = "referral"


class CareLocation(str, Enum):
    FIXED = "fixed"
    MOBILE = "mobile"
    OUTREACH = "outreach"
    ONLINE = "online"


class ReferralReason(str, Enum):
    MEDICAL = "medical"
    PSYCHOSOCIAL = "psychosocial"
    LEGAL = "legal"
    HOUSING = "housing"
    TRAFFICKING_SUPPORT = "trafficking_support"
    EXIT_SUPPORT = "exit_support"
    OTHER = "other"
