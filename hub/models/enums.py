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
    # A recognised employer of sex workers (erkende werkgever, labour law of 2024).
    EMPLOYER = "employer"
    # The federal labour inspection (FOD WASO - Toezicht op de Sociale Wetten).
    LABOUR_INSPECTION = "labour_inspection"


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


class MeasureTargetKind(str, Enum):
    """What a measure is against, kept apart from who: not personal data, and it outlives
    the worker's erasure (the fines indicator splits fines by it)."""

    PREMISES = "premises"
    SEX_WORKER = "sex_worker"
    CLIENT = "client"
    OTHER_PERSON = "other_person"  # a third party who is neither a worker nor a client


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
    BOUNDARY_VIOLATION = "boundary_violation"  # a client crossed an agreed limit
    IMAGE_SHARING = "image_sharing"  # images shared without consent
    RAID = "raid"  # a police or other raid on the workplace
    BANK_REFUSAL = "bank_refusal"  # a bank refused or closed an account
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
    DROP_IN = "drop_in"  # a visit to the NGO's open drop-in (inloop)
    STI_TEST = "sti_test"  # an STI/HIV test or its result
    SOCIAL_RECOVERY = "social_recovery"  # social recovery support (sociaal herstel)


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


class WarningTemplate(str, Enum):
    """The common kinds of warning, each with a text in every warning language (hub/i18n.py)."""

    DANGEROUS_CLIENT = "dangerous_client"
    ROBBERY = "robbery"
    POLICE_CHECKS = "police_checks"
    FAKE_POLICE = "fake_police"
    HEALTH_ALERT = "health_alert"
    SCAM = "scam"


class ParticipationStatus(str, Enum):
    """A worker's participation in one city's regime."""

    ACTIVE = "active"
    ENDED = "ended"


class PairingStatus(str, Enum):
    """A pairing code's link between a worker and an organisation."""

    PENDING = "pending"  # a code was made and not redeemed yet
    ACTIVE = "active"  # an organisation redeemed it
    REVOKED = "revoked"  # the worker ended it (or withdrew the code)


# --- care: the NGO minimum format, trafficking, referral destinations, the union's helpdesk


class HelpRequest(str, Enum):
    """What a person asked an NGO for (the minimum format's request for help)."""

    INFORMATION = "information"
    HEALTH = "health"
    STI_TEST = "sti_test"
    PSYCHOSOCIAL = "psychosocial"
    HOUSING = "housing"
    LEGAL = "legal"
    ADMINISTRATIVE = "administrative"
    FINANCIAL = "financial"
    VIOLENCE = "violence"
    EXIT = "exit"
    OTHER = "other"


class CareFollowUp(str, Enum):
    PLANNED = "planned"
    DONE = "done"
    NONE_NEEDED = "none_needed"


class TraffickingIndicator(str, Enum):
    """Indicators of trafficking for sexual exploitation, after the EU's and Belgium's
    indicator lists (the multidisciplinary circular's annex)."""

    DOCUMENTS_WITHHELD = "documents_withheld"  # someone else holds the identity documents
    DEBT_BONDAGE = "debt_bondage"
    NO_CONTROL_OF_EARNINGS = "no_control_of_earnings"
    SIGNS_OF_VIOLENCE = "signs_of_violence"
    THREATS = "threats"  # to the person or their family
    RESTRICTED_MOVEMENT = "restricted_movement"
    DECEPTION_AT_RECRUITMENT = "deception_at_recruitment"
    EXCESSIVE_HOURS = "excessive_hours"
    HOUSING_CONTROLLED = "housing_controlled"  # lodged by the exploiter, often at the workplace
    ISOLATION = "isolation"  # no contacts, no language spoken, moved around
    APPEARS_MINOR = "appears_minor"
    OTHER = "other"


class TraffickingStatus(str, Enum):
    NOTED = "noted"
    REFERRED = "referred"
    CLOSED = "closed"


class ReferralDestination(str, Enum):
    """Where a referral goes when not to an organisation on the hub: Belgium's recognised
    centres for victims of trafficking and outside bodies."""

    PAYOKE = "payoke"  # Antwerp
    PAG_ASA = "pag_asa"  # Brussels
    SURYA = "surya"  # Liège
    CAW = "caw"  # a general welfare centre (CAW / CAPS)
    OCMW = "ocmw"  # a public social welfare centre (OCMW / CPAS)
    LEGAL_AID = "legal_aid"  # first-line legal aid, a lawyer
    HOSPITAL = "hospital"
    SEXUAL_VIOLENCE_CENTRE = "sexual_violence_centre"  # a ZSG / CPVS
    VICTIM_SUPPORT = "victim_support"  # slachtofferhulp / police victim assistance
    OTHER = "other"


class ProtectionBasis(str, Enum):
    """The legal basis under which a person is a victim under protection, so that a
    referral needs no consent of their own."""

    TRAFFICKING_VICTIM_PROCEDURE = "trafficking_victim_procedure"  # circular of 23 Dec 2016
    YOUTH_PROTECTION = "youth_protection"  # a minor, under youth protection law
    JUDICIAL_ORDER = "judicial_order"  # a magistrate's protection order


class HelpdeskTopic(str, Enum):
    PROFESSIONALISATION = "professionalisation"
    VIOLENCE = "violence"
    RIGHTS = "rights"
    DISCRIMINATION = "discrimination"
    OTHER = "other"


class HelpdeskChannel(str, Enum):
    PHONE = "phone"
    EMAIL = "email"
    MESSAGE = "message"  # chat or messaging app
    IN_PERSON = "in_person"


class HelpdeskStatus(str, Enum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class RecognitionStatus(str, Enum):
    """An employer's recognition by the labour inspection (labour law of 2024)."""

    RECOGNISED = "recognised"
    SUSPENDED = "suspended"
    WITHDRAWN = "withdrawn"


class ContractKind(str, Enum):
    """The kind of an employment contract (arbeidsovereenkomst)."""

    OPEN_ENDED = "open_ended"  # onbepaalde duur
    FIXED_TERM = "fixed_term"  # bepaalde duur
    SPECIFIC_WORK = "specific_work"  # duidelijk omschreven werk
    REPLACEMENT = "replacement"  # vervanging


class RentPeriod(str, Enum):
    """What one rent amount of a rental agreement pays for."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Gender(str, Enum):
    """A worker's gender as the worker declares it, and only the worker (issue 11). Not
    stated is NULL: nobody else records, infers or reads it; statistics count it only as
    suppressed aggregates."""

    WOMAN = "woman"
    MAN = "man"
    TRANS_WOMAN = "trans_woman"
    TRANS_MAN = "trans_man"
    NON_BINARY = "non_binary"
