"""GraphQL enums: the domain vocabularies of hub/models/enums.py, registered with strawberry.

`strawberry.enum` marks the classes in place, so the schema and the models share them.
"""

from collections.abc import Mapping
from enum import EnumMeta

import strawberry

from hub.models.enums import (
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

# What each enum is; each value's own meaning is in VALUES below.
DESCRIPTIONS: dict[EnumMeta, str] = {
    AlertAudience: "Who a warning is for. `sex_workers`: the workers, and the NGOs and police "
    "who pass warnings on to them; `all_partners`: every partner organisation.",
    AlertSeverity: "How urgent a warning is: `info`, `warning` or `danger`.",
    Branch: "The branches of sex work the action plan counts: window prostitution, street, "
    "strip clubs, escort, private or home-based work, massage salons, other.",
    CareKind: "The kind of a care contact (hulpverlening): medical, psychosocial, outreach, "
    "online, a referral, a drop-in visit, an STI test, or social recovery support.",
    CareLocation: "Where a care contact took place: at a fixed office, a mobile unit, on "
    "outreach, or online.",
    CertificateStatus: "The status of a suitability certificate (geschiktheidsverklaring).",
    InspectionOutcome: "What a police check (controle) ended in: nothing, a warning, an "
    "official report (`pv`, proces-verbaal) or an information report (`rir`).",
    MeasureKind: "The kinds of administrative measure (bestuurlijke maatregel) a city takes.",
    MeasureTargetKind: "What a measure is against: premises, a worker, a client, or another "
    "third party. Not personal data: it stays when the worker's reference is erased.",
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
    RecognitionStatus: "An employer's recognition by the labour inspection (labour law of "
    "2024): recognised, suspended or withdrawn.",
    ContractKind: "The kind of an employment contract (arbeidsovereenkomst).",
    RentPeriod: "What one rent amount pays for: a day, a week or a month.",
    ShiftStatus: "A shift's state: registered by the operator; validated or `refused` by the "
    "police on site (`refused`: identity or adulthood could not be validated); cancelled.",
    WarningTemplate: "A common kind of warning, whose text the hub shows in the reader's "
    "language (Dutch, French, English, Romanian, Bulgarian, Spanish, Portuguese, Hungarian).",
    HelpRequest: "What a person asked an NGO for (the minimum format's request for help).",
    CareFollowUp: "A care contact's follow-up: planned, done, or none needed.",
    TraffickingIndicator: "An indicator of trafficking for sexual exploitation, after the EU's "
    "and Belgium's indicator lists.",
    TraffickingStatus: "Where a trafficking suspicion stands: noted, referred (to a "
    "specialised centre or the police), closed.",
    ReferralDestination: "Where a referral goes when not to an organisation on the hub: "
    "Belgium's recognised centres for victims of trafficking (Payoke, PAG-ASA, Sürya) and "
    "outside bodies.",
    ProtectionBasis: "The legal basis on which a person is a victim under protection, so "
    "that a referral needs no consent of the person's own.",
    HelpdeskTopic: "What a request to the union's helpdesk is about.",
    HelpdeskChannel: "How a request reached the union's helpdesk.",
    HelpdeskStatus: "Where a helpdesk request stands: open, answered, closed.",
}

# Each value, in a few words (tests/test_schema_docs.py fails on a value without one).
VALUES: dict[EnumMeta, dict[str, str]] = {
    AlertAudience: {
        "SEX_WORKERS": "Sex workers in the city, and the NGOs and police who pass warnings on "
        "to them.",
        "NGOS": "NGOs and the union's helpdesk in the city.",
        "POLICE": "The police of the city.",
        "ALL_PARTNERS": "Every partner organisation in the city.",
    },
    AlertSeverity: {
        "INFO": "For information: nothing to act on at once.",
        "WARNING": "Be careful: a risk has been reported.",
        "DANGER": "Immediate danger: act now.",
    },
    Branch: {
        "WINDOW": "Window prostitution.",
        "STREET": "Street-based sex work.",
        "STRIP_CLUB": "Strip clubs and bars.",
        "ESCORT": "Escort work.",
        "PRIVATE_HOME": "Private or home-based work.",
        "MASSAGE_SALON": "Massage salons.",
        "OTHER": "Any other branch.",
    },
    CareKind: {
        "MEDICAL": "Medical care, such as sexual health checks.",
        "PSYCHOSOCIAL": "Psychosocial support.",
        "OUTREACH": "A contact made by outreach workers where sex work takes place.",
        "ONLINE": "A contact made online.",
        "REFERRAL": "A referral to another service.",
        "DROP_IN": "A visit to the organisation's open drop-in (inloop).",
        "STI_TEST": "A test for sexually transmitted infections (HIV included), or its result.",
        "SOCIAL_RECOVERY": "Social recovery support (sociaal herstel): income, housing, "
        "papers, health insurance.",
    },
    CareLocation: {
        "FIXED": "At the organisation's own office.",
        "MOBILE": "In a mobile unit.",
        "OUTREACH": "On outreach, where sex work takes place.",
        "ONLINE": "Online.",
    },
    CertificateStatus: {
        "GRANTED": "Granted and valid.",
        "SUSPENDED": "Suspended for a time by the city.",
        "REVOKED": "Withdrawn by the city.",
        "EXPIRED": "Its validity ran out.",
    },
    InspectionOutcome: {
        "NONE": "Nothing was found to act on.",
        "WARNING": "A warning was given.",
        "PV": "An official report (proces-verbaal) was drawn up.",
        "RIR": "An information report (RIR) was written.",
    },
    MeasureKind: {
        "FINE": "An administrative fine.",
        "CERTIFICATE_SUSPENSION": "Suspension of a suitability certificate.",
        "CERTIFICATE_REVOCATION": "Revocation of a suitability certificate.",
        "TEMPORARY_CLOSURE": "Temporary closure of a premises.",
        "PERMANENT_CLOSURE": "Permanent closure of a premises.",
        "STREET_BAN": "A ban from an area of the city (straatverbod).",
        "TRAFFICKING_CLOSURE": "Closure of a premises over human trafficking.",
    },
    MeasureTargetKind: {
        "PREMISES": "The premises (its operator).",
        "SEX_WORKER": "A sex worker.",
        "CLIENT": "A client, named by the city.",
        "OTHER_PERSON": "A third party who is neither a worker nor a client, named by the city.",
    },
    MeasureStatus: {
        "OPENED": "The procedure has been opened.",
        "HEARING": "The person concerned is being heard.",
        "DECIDED": "The city has decided.",
        "APPEALED": "The decision has been appealed; it goes back to decided.",
        "EXECUTED": "The measure has been carried out.",
    },
    OrganisationKind: {
        "CITY": "A city administration.",
        "POLICE": "A police zone or service.",
        "JUDICIARY": "The public prosecutor's office or another judicial body.",
        "NGO": "A non-governmental organisation that gives care or support.",
        "UNION": "The sex workers' union.",
        "OPERATOR": "An operator that rents out premises.",
        "EMPLOYER": "An employer of sex workers under an employment contract (labour law of "
        "2024), recognised by the labour inspection.",
        "LABOUR_INSPECTION": "The federal labour inspection (FOD WASO - Toezicht op de "
        "Sociale Wetten).",
    },
    RecognitionStatus: {
        "RECOGNISED": "Recognised: the employer may employ sex workers.",
        "SUSPENDED": "Suspended for a time: the employer may not register employees' shifts.",
        "WITHDRAWN": "Withdrawn for good.",
    },
    ContractKind: {
        "OPEN_ENDED": "An employment contract of indefinite duration.",
        "FIXED_TERM": "An employment contract for a fixed term.",
        "SPECIFIC_WORK": "An employment contract for a clearly defined piece of work.",
        "REPLACEMENT": "An employment contract to replace another employee.",
    },
    RentPeriod: {
        "DAY": "The rent is per day.",
        "WEEK": "The rent is per week.",
        "MONTH": "The rent is per month.",
    },
    PremisesKind: {
        "WINDOW": "Window premises.",
        "CLUB": "A club or bar.",
        "MASSAGE_SALON": "A massage salon.",
        "PRIVATE": "A private home; most callers see only its zone.",
        "OTHER": "Any other kind.",
    },
    ReferralReason: {
        "MEDICAL": "Medical care.",
        "PSYCHOSOCIAL": "Psychosocial support.",
        "LEGAL": "Legal advice or help.",
        "HOUSING": "Housing.",
        "TRAFFICKING_SUPPORT": "Support for victims of human trafficking.",
        "EXIT_SUPPORT": "Support for leaving sex work.",
        "OTHER": "Any other reason.",
    },
    ReportCategory: {
        "VIOLENCE": "Violence, or a threat of violence.",
        "NON_PAYMENT_THEFT": "A client who did not pay, or theft.",
        "STALKING": "Stalking or harassment.",
        "OUTING_THREAT": "A threat to reveal someone's sex work.",
        "EXPLOITATION_SUSPICION": "A suspicion of exploitation or trafficking.",
        "DISCRIMINATION": "Discrimination.",
        "NUISANCE": "Nuisance.",
        "BOUNDARY_VIOLATION": "A client crossed a limit the worker had set (e.g. no condom).",
        "IMAGE_SHARING": "Photos or videos of the worker shared without the worker's consent.",
        "RAID": "A raid on the worker's workplace, by the police or others.",
        "BANK_REFUSAL": "A bank refused or closed the worker's account.",
        "OTHER": "Anything else.",
    },
    ReportStatus: {
        "FILED": "Filed; no organisation has replied yet.",
        "ANSWERED": "An organisation has replied.",
        "CLOSED": "Closed: no more replies.",
    },
    ShiftStatus: {
        "REGISTERED": "Registered by the operator.",
        "VALIDATED": "Validated by the police on site.",
        "REFUSED": "Refused by the police on site: identity or adulthood could not be validated.",
        "CANCELLED": "Cancelled.",
    },
    WarningTemplate: {
        "DANGEROUS_CLIENT": "A client who was violent or dangerous.",
        "ROBBERY": "Robberies or thefts at workplaces.",
        "POLICE_CHECKS": "Police checks announced or under way.",
        "FAKE_POLICE": "People posing as police officers.",
        "HEALTH_ALERT": "A health alert, for example an infection going round.",
        "SCAM": "Scams, fake bookings or fake payments.",
    },
    HelpRequest: {
        "INFORMATION": "Information or advice.",
        "HEALTH": "Health care.",
        "STI_TEST": "A test for sexually transmitted infections.",
        "PSYCHOSOCIAL": "Someone to talk to; psychosocial support.",
        "HOUSING": "A place to live or to stay.",
        "LEGAL": "Legal advice or help.",
        "ADMINISTRATIVE": "Help with papers, registration or insurance.",
        "FINANCIAL": "Help with money or debts.",
        "VIOLENCE": "Help after violence or a threat.",
        "EXIT": "Help to leave sex work.",
        "OTHER": "Anything else.",
    },
    CareFollowUp: {
        "PLANNED": "A follow-up is planned, on the date given.",
        "DONE": "The follow-up took place, on the date given.",
        "NONE_NEEDED": "No follow-up is needed.",
    },
    TraffickingIndicator: {
        "DOCUMENTS_WITHHELD": "Someone else holds the person's identity or travel documents.",
        "DEBT_BONDAGE": "A debt to pay off that keeps the person working.",
        "NO_CONTROL_OF_EARNINGS": "The person does not keep or control their earnings.",
        "SIGNS_OF_VIOLENCE": "Signs of violence.",
        "THREATS": "Threats to the person or their family.",
        "RESTRICTED_MOVEMENT": "The person cannot come and go freely.",
        "DECEPTION_AT_RECRUITMENT": "The person was deceived about the work or its terms.",
        "EXCESSIVE_HOURS": "Excessive working hours, no say over clients or hours.",
        "HOUSING_CONTROLLED": "Lodged by someone who profits, often at the workplace.",
        "ISOLATION": "Isolated: no contacts, moved around, no language in common.",
        "APPEARS_MINOR": "The person appears to be under 18.",
        "OTHER": "Another indicator.",
    },
    TraffickingStatus: {
        "NOTED": "Noted by the organisation that recorded it.",
        "REFERRED": "The person was referred (to a specialised centre or the police).",
        "CLOSED": "Closed; no further step.",
    },
    ReferralDestination: {
        "PAYOKE": "Payoke, Antwerp: recognised centre for victims of trafficking.",
        "PAG_ASA": "PAG-ASA, Brussels: recognised centre for victims of trafficking.",
        "SURYA": "Sürya, Liège: recognised centre for victims of trafficking.",
        "CAW": "A general welfare centre (CAW, CAPS).",
        "OCMW": "A public social welfare centre (OCMW, CPAS).",
        "LEGAL_AID": "First-line legal aid or a lawyer.",
        "HOSPITAL": "A hospital.",
        "SEXUAL_VIOLENCE_CENTRE": "A sexual assault centre (ZSG, CPVS).",
        "VICTIM_SUPPORT": "Victim support (slachtofferhulp) or police victim assistance.",
        "OTHER": "Another outside body.",
    },
    ProtectionBasis: {
        "TRAFFICKING_VICTIM_PROCEDURE": "The procedure for victims of trafficking of the "
        "circular of 23 December 2016 on multidisciplinary cooperation.",
        "YOUTH_PROTECTION": "A minor, under youth protection law.",
        "JUDICIAL_ORDER": "A magistrate's protection order.",
    },
    HelpdeskTopic: {
        "PROFESSIONALISATION": "Working as a professional: contracts, status, taxes, safety.",
        "VIOLENCE": "Violence or a threat.",
        "RIGHTS": "Rights: labour law, social security, the law on sex work.",
        "DISCRIMINATION": "Discrimination (by a bank, a landlord, a service).",
        "OTHER": "Anything else.",
    },
    HelpdeskChannel: {
        "PHONE": "By phone.",
        "EMAIL": "By e-mail.",
        "MESSAGE": "By chat or a messaging app.",
        "IN_PERSON": "In person.",
    },
    HelpdeskStatus: {
        "OPEN": "Received, not yet answered.",
        "ANSWERED": "The helpdesk answered.",
        "CLOSED": "Closed.",
    },
}


def describe_values(enum: EnumMeta, descriptions: Mapping[str, str]) -> None:
    """Give the values of an enum already registered with strawberry their descriptions.

    The enums of hub/models/enums.py are shared with the tables, so their values stay plain
    strings there and are described here instead of with `strawberry.enum_value`.
    """
    definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    names = {value.name for value in definition.values}
    unknown = set(descriptions) - names
    assert not unknown, f"{enum.__name__} has no value {sorted(unknown)}"
    for value in definition.values:
        if value.name in descriptions:
            value.description = descriptions[value.name]


for _enum, _description in DESCRIPTIONS.items():
    strawberry.enum(_enum, description=_description)
    describe_values(_enum, VALUES.get(_enum, {}))

# A worker's self-declared gender (issue 11): only the worker sets and reads it.
strawberry.enum(
    Gender,
    description="A worker's gender as the worker declares it (optional; null is not stated). "
    "Only the worker sets and reads it; statistics count it only as suppressed aggregates.",
)
describe_values(
    Gender,
    {
        "WOMAN": "A woman.",
        "MAN": "A man.",
        "TRANS_WOMAN": "A trans woman.",
        "TRANS_MAN": "A trans man.",
        "NON_BINARY": "Non-binary.",
    },
)

__all__ = [
    "AlertAudience",
    "AlertSeverity",
    "Branch",
    "CareKind",
    "CareLocation",
    "CertificateStatus",
    "CareFollowUp",
    "HelpRequest",
    "HelpdeskChannel",
    "HelpdeskStatus",
    "HelpdeskTopic",
    "ContractKind",
    "InspectionOutcome",
    "MeasureKind",
    "MeasureStatus",
    "MeasureTargetKind",
    "OrganisationKind",
    "PremisesKind",
    "ProtectionBasis",
    "ReferralDestination",
    "RecognitionStatus",
    "ReferralReason",
    "RentPeriod",
    "ReportCategory",
    "ReportStatus",
    "ShiftStatus",
    "WarningTemplate",
    "TraffickingIndicator",
    "TraffickingStatus",
    "describe_values",
    "Gender",
]
