"""Demo data: a plausible fortnight of sex-work policy data in Antwerp and Ghent.

Each city follows its regime (policies/regimes.yaml): Antwerp's compulsory window regime
registers workers' identities with the police and keeps a pandkalender of shifts; Ghent's
voluntary regime has neither, so its workers have no identity in the hub and its rentals no
shifts.

Only the names of public organisations are real. Operators, addresses' house numbers,
working names, identities, reports, warnings and care contacts are invented. Identities are
encrypted exactly as in production (a data key per person, wrapped by the master key).

The same `seed` and `now` give the same rows with the same ids; only ciphertexts differ,
because every encryption draws a fresh nonce.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from hub.crypto import Identity, Keyring
from hub.models import (
    Alert,
    CareContact,
    Certificate,
    Consent,
    DataKey,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    InvestigationSubject,
    Measure,
    MeasureTransition,
    Organisation,
    Pairing,
    Participation,
    Premises,
    Referral,
    RentalAgreement,
    Report,
    ReportReply,
    ReportShare,
    SexWorker,
    ShiftRegistration,
    TraffickingSuspicion,
)
from hub.models.base import utcnow
from hub.models.enums import (
    AlertAudience,
    AlertSeverity,
    Branch,
    CareFollowUp,
    CareKind,
    CareLocation,
    CertificateStatus,
    ContractKind,
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
)

# The care kinds the demo's contact profiles weigh (the later kinds are added on their own).
_FIRST_CARE_KINDS = (
    CareKind.MEDICAL,
    CareKind.PSYCHOSOCIAL,
    CareKind.OUTREACH,
    CareKind.ONLINE,
    CareKind.REFERRAL,
)
ANTWERP = "Antwerpen"
GHENT = "Gent"
# The cities whose regime has advance registration and police validation (as in
# policies/regimes.yaml): only there do workers have an identity and rentals shifts.
_PANDKALENDER_CITIES = frozenset({ANTWERP})

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class DemoData:
    """What the demo seeded: enough for the CLI to mint one token per role.

    `organisation_ids` maps a stable key ("antwerp_police", "ghapro", "operator_vitrine_beheer",
    ...) to the organisation's id. `sex_worker_ids[0]` is an adult-verified worker in Antwerp
    with shifts, a report of their own and a live consent, named by the open case DEMO_CASE.
    `counts` maps table name to rows.
    """

    organisation_ids: dict[str, str]
    operator_keys: tuple[str, ...]
    sex_worker_ids: list[str]
    counts: dict[str, int]


class _Org(NamedTuple):
    key: str
    name: str
    kind: OrganisationKind
    city: str | None


# Real public bodies (names only) and invented operators (uitbaters).
_K = OrganisationKind
_ORGANISATIONS: tuple[_Org, ...] = (
    _Org("antwerp_city_licensing", "Stad Antwerpen – Prostitutiebeleid", _K.CITY, ANTWERP),
    _Org("antwerp_city_enforcement", "Stad Antwerpen – Bestuurlijke handhaving", _K.CITY, ANTWERP),
    _Org("antwerp_study_service", "Stad Antwerpen – Studiedienst", _K.CITY, ANTWERP),
    _Org("antwerp_dpo", "Stad Antwerpen – DPO", _K.CITY, ANTWERP),
    _Org("ghent_city", "Stad Gent", _K.CITY, GHENT),
    _Org("antwerp_police", "Lokale Politie Antwerpen", _K.POLICE, ANTWERP),
    _Org("ghent_police", "Politiezone Gent", _K.POLICE, GHENT),
    _Org("federal_police", "Federale Gerechtelijke Politie Antwerpen", _K.POLICE, ANTWERP),
    _Org("antwerp_prosecutor", "Parket Antwerpen", _K.JUDICIARY, ANTWERP),
    _Org("ghapro", "Ghapro", _K.NGO, ANTWERP),
    _Org("violett", "Violett", _K.NGO, GHENT),
    _Org("boysproject", "Boysproject", _K.NGO, ANTWERP),
    _Org("free_clinic", "Free Clinic", _K.NGO, ANTWERP),
    _Org("payoke", "Payoke", _K.NGO, ANTWERP),
    _Org("espace_p", "Espace P", _K.NGO, ANTWERP),
    _Org("utsopi", "Utsopi", _K.UNION, ANTWERP),
    _Org("operator_vitrine_beheer", "Vitrine Beheer BV", _K.OPERATOR, ANTWERP),
    _Org("operator_scheldevitrines", "Scheldevitrines Verhuur BV", _K.OPERATOR, ANTWERP),
    _Org("operator_club_maanlicht", "Club Maanlicht Exploitatie BV", _K.OPERATOR, ANTWERP),
    _Org("operator_gentse_vensters", "Gentse Vensters Beheer BV", _K.OPERATOR, GHENT),
    _Org("operator_heuvelpoort", "Heuvelpoort Kamerverhuur BV", _K.OPERATOR, GHENT),
    _Org("operator_lotusblad", "Lotusblad Wellness BV", _K.OPERATOR, GHENT),
)  # fmt: skip

# The labour inspection (a real federal service, name only) and an invented employer
# (labour law of 2024), added after everything else (build_employers); the employer last.
_EMPLOYMENT_ORGANISATIONS: tuple[_Org, ...] = (
    _Org("labour_inspection", "FOD WASO – Toezicht op de Sociale Wetten",
         _K.LABOUR_INSPECTION, None),
    _Org("employer_noorderlicht", "Noorderlicht Werkgever BV", _K.EMPLOYER, ANTWERP),
)  # fmt: skip
DEMO_RECOGNITION_NUMBER = "SW-2025-0017"

_POLICE_OF = {ANTWERP: "antwerp_police", GHENT: "ghent_police"}
# The demo's open case (an invented notice number of the Antwerp prosecutor's office).
DEMO_CASE = "AN.37.L1.004217/26"
_ENFORCEMENT_OF = {ANTWERP: "antwerp_city_enforcement", GHENT: "ghent_city"}
_LICENSING_OF = {ANTWERP: "antwerp_city_licensing", GHENT: "ghent_city"}


class _Site(NamedTuple):
    """A premises template; `scale` repeats it in the same street with other house numbers."""

    street: str
    number: int
    city: str
    zone: str | None
    kind: PremisesKind
    windows: int
    operator: str
    certificate: CertificateStatus


_SITES: tuple[_Site, ...] = (
    _Site("Vingerlingstraat", 14, ANTWERP, "Schipperskwartier", PremisesKind.WINDOW, 8,
          "operator_vitrine_beheer", CertificateStatus.GRANTED),
    _Site("Vingerlingstraat", 31, ANTWERP, "Schipperskwartier", PremisesKind.WINDOW, 7,
          "operator_vitrine_beheer", CertificateStatus.GRANTED),
    _Site("Verversrui", 22, ANTWERP, "Schipperskwartier", PremisesKind.WINDOW, 6,
          "operator_scheldevitrines", CertificateStatus.GRANTED),
    _Site("Oudemanstraat", 7, ANTWERP, "Schipperskwartier", PremisesKind.WINDOW, 6,
          "operator_scheldevitrines", CertificateStatus.GRANTED),
    _Site("Verversrui", 9, ANTWERP, "Schipperskwartier", PremisesKind.WINDOW, 5,
          "operator_vitrine_beheer", CertificateStatus.SUSPENDED),
    _Site("Oudemanstraat", 18, ANTWERP, "Schipperskwartier", PremisesKind.WINDOW, 4,
          "operator_scheldevitrines", CertificateStatus.EXPIRED),
    _Site("Brouwersvliet", 40, ANTWERP, None, PremisesKind.CLUB, 0,
          "operator_club_maanlicht", CertificateStatus.GRANTED),
    _Site("Glasstraat", 12, GHENT, "Glasstraat", PremisesKind.WINDOW, 6,
          "operator_gentse_vensters", CertificateStatus.GRANTED),
    _Site("Glasstraat", 27, GHENT, "Glasstraat", PremisesKind.WINDOW, 5,
          "operator_gentse_vensters", CertificateStatus.GRANTED),
    _Site("Overzet", 3, GHENT, "Glasstraat", PremisesKind.WINDOW, 4,
          "operator_gentse_vensters", CertificateStatus.GRANTED),
    _Site("Zwijnaardsesteenweg", 8, GHENT, "Zwijnaardsesteenweg", PremisesKind.WINDOW, 4,
          "operator_heuvelpoort", CertificateStatus.REVOKED),
    _Site("Kortrijksesteenweg", 152, GHENT, None, PremisesKind.MASSAGE_SALON, 0,
          "operator_lotusblad", CertificateStatus.GRANTED),
)  # fmt: skip

# Sex workers at scale=1, two in three in Antwerp. Both cities keep more windows with a
# valid certificate than workers, so every rental finds a free window.
_WORKERS = 30
# Self-declared genders of the demo's workers, by share of 1000: most state none (NULL).
# Drawn from a hash of each worker's id, not from the demo's random sequence, so every
# other row stays as it was.
_GENDER_SHARES: tuple[tuple[str | None, int], ...] = (
    (None, 550),
    ("woman", 280),
    ("man", 60),
    ("trans_woman", 60),
    ("trans_man", 25),
    ("non_binary", 25),
)

_WORKING_NAMES = (
    "Amber", "Bella", "Candy", "Chloé", "Daisy", "Destiny", "Diamond", "Ebony", "Eva", "Gigi",
    "Honey", "Ivy", "Jade", "Jasmine", "Kiki", "Lara", "Lexi", "Lola", "Luna", "Maya", "Mia",
    "Milou", "Nina", "Nova", "Paloma", "Pearl", "Raven", "Roxy", "Ruby", "Sasha", "Scarlett",
    "Sky", "Stella", "Tara", "Tiffany", "Vera", "Yara", "Zoë", "Zara", "Kai", "Rio", "Dario",
)  # fmt: skip

_NATIONALITIES = ("RO", "BG", "HU", "NL", "BE", "NG", "DO", "TH")
_NATIONALITY_WEIGHTS = (7, 5, 3, 3, 5, 3, 2, 2)
_FIRST_NAMES = {
    "BE": ("Sanne", "Lotte", "Femke", "Eline", "Inge", "Jens", "Amélie", "Manon"),
    "NL": ("Anouk", "Fleur", "Lieke", "Iris", "Bram", "Noor"),
    "RO": ("Ioana", "Andreea", "Elena", "Bianca", "Roxana", "Alina", "Mihaela", "Cristina"),
    "BG": ("Desislava", "Petya", "Gergana", "Mariya", "Svetla", "Yana"),
    "HU": ("Eszter", "Zsófia", "Katalin", "Réka", "Anikó", "Boglárka"),
    "NG": ("Blessing", "Chioma", "Ngozi", "Adaeze", "Funmilayo", "Omolara"),
    "DO": ("Yokasta", "Marisol", "Yudelka", "Carolina", "Rosanna", "Yaritza"),
    "TH": ("Siriporn", "Nattaya", "Kanya", "Malee", "Pranee", "Ratana"),
}
# Surnames are built from two nonsense syllables and a national ending, so that no
# combination is a real person's name by design.
_SYLLABLES = ("bal", "cor", "dal", "fen", "gar", "hal", "kel", "lom", "mor", "nov", "pel",
              "ros", "sel", "tor", "vel", "zan", "bri", "dun", "tsa", "wim")  # fmt: skip
_SURNAME_ENDINGS = {
    "BE": ("aert", "hove", "beke", "mans"),
    "NL": ("ink", "stra", "hof", "kamp"),
    "RO": ("escu", "eanu", "aru"),
    "BG": ("ova", "eva", "ska"),
    "HU": ("ényi", "ossy", "ai"),
    "NG": ("ike", "adi", "ola"),
    "DO": ("ez", "ano", "era"),
    "TH": ("sawat", "porn", "chai"),
}
_NATIVE_LANGUAGES = {
    "BE": ("nl", "fr"),
    "NL": ("nl",),
    "RO": ("ro",),
    "BG": ("bg",),
    "HU": ("hu",),
    "NG": ("en",),
    "DO": ("es",),
    "TH": ("th",),
}

_SHIFT_START_HOURS = (7, 9, 10, 12, 14, 16, 18, 20, 22)


class _ReportPlan(NamedTuple):
    city: str
    category: ReportCategory
    anonymous: bool
    shared_with: tuple[str, ...]  # "police" (of the city) and/or "ngo"
    status: ReportStatus
    text: str


_POLICE, _NGO = "police", "ngo"
_REPORTS: tuple[_ReportPlan, ...] = (
    _ReportPlan(ANTWERP, ReportCategory.NON_PAYMENT_THEFT, False, (_POLICE,),
                ReportStatus.ANSWERED,
                "A client left without paying and took cash from the window's drawer."),
    _ReportPlan(ANTWERP, ReportCategory.VIOLENCE, True, (_POLICE, _NGO), ReportStatus.ANSWERED,
                "Een klant werd agressief toen ik weigerde; hij sloeg tegen het raam."),
    _ReportPlan(ANTWERP, ReportCategory.STALKING, False, (_NGO,), ReportStatus.ANSWERED,
                "Same man waits at the end of the street after my shift, several nights."),
    _ReportPlan(ANTWERP, ReportCategory.OUTING_THREAT, True, (_NGO,), ReportStatus.FILED,
                "Iemand dreigt foto's door te sturen naar mijn familie als ik niet betaal."),
    _ReportPlan(ANTWERP, ReportCategory.NUISANCE, False, (_POLICE,), ReportStatus.CLOSED,
                "Groups of drunk visitors block the street and film the windows at night."),
    _ReportPlan(ANTWERP, ReportCategory.EXPLOITATION_SUSPICION, True, (_POLICE, _NGO),
                ReportStatus.FILED,
                "A new colleague two windows down never keeps their own money, always escorted."),
    _ReportPlan(ANTWERP, ReportCategory.DISCRIMINATION, False, (), ReportStatus.FILED,
                "Refused at a bank counter once they saw where I work."),
    _ReportPlan(GHENT, ReportCategory.NON_PAYMENT_THEFT, True, (_POLICE,), ReportStatus.ANSWERED,
                "Klant betaalde met vals geld; ik heb het biljet bijgehouden."),
    _ReportPlan(GHENT, ReportCategory.VIOLENCE, False, (_POLICE, _NGO), ReportStatus.ANSWERED,
                "Client removed the condom without consent and pushed me."),
    _ReportPlan(GHENT, ReportCategory.STALKING, True, (_NGO,), ReportStatus.FILED,
                "Someone keeps messaging my work number from new accounts."),
    _ReportPlan(GHENT, ReportCategory.OTHER, False, (_POLICE,), ReportStatus.FILED,
                "Streetlight in front of the windows has been broken for two weeks."),
    _ReportPlan(GHENT, ReportCategory.NUISANCE, True, (_NGO,), ReportStatus.ANSWERED,
                "Loud music from the flat above, every night until 4."),
)  # fmt: skip

_POLICE_REPLY = (
    "Bedankt voor uw melding. Een inspecteur van het prostitutieteam neemt contact op via "
    "de hub; de patrouilles in de straat worden opgevoerd."
)
_NGO_REPLY = (
    "Thank you for telling us. Our outreach worker can meet you this week, in the window "
    "or at our office, whichever you prefer."
)


class _MeasurePlan(NamedTuple):
    """A measure and the procedure it went through; `certificate` picks its premises."""

    city: str
    kind: MeasureKind
    certificate: CertificateStatus | None  # None: against a person, not premises
    path: tuple[MeasureStatus, ...]


_OPENED, _HEARING, _DECIDED = MeasureStatus.OPENED, MeasureStatus.HEARING, MeasureStatus.DECIDED
_APPEALED, _EXECUTED = MeasureStatus.APPEALED, MeasureStatus.EXECUTED
_GRANTED = CertificateStatus.GRANTED

# Every status, and the paths opened -> hearing -> decided -> appealed | executed, with one
# appeal that went back to decided and was then executed.
_MEASURES: tuple[_MeasurePlan, ...] = (
    _MeasurePlan(ANTWERP, MeasureKind.FINE, _GRANTED, (_OPENED,)),
    _MeasurePlan(ANTWERP, MeasureKind.FINE, _GRANTED, (_OPENED, _HEARING, _DECIDED)),
    _MeasurePlan(ANTWERP, MeasureKind.FINE, _GRANTED, (_OPENED, _HEARING, _DECIDED, _APPEALED)),
    _MeasurePlan(ANTWERP, MeasureKind.FINE, _GRANTED, (_OPENED, _HEARING, _DECIDED, _EXECUTED)),
    _MeasurePlan(ANTWERP, MeasureKind.CERTIFICATE_SUSPENSION, CertificateStatus.SUSPENDED,
                 (_OPENED, _HEARING, _DECIDED, _EXECUTED)),
    _MeasurePlan(ANTWERP, MeasureKind.TEMPORARY_CLOSURE, CertificateStatus.EXPIRED,
                 (_OPENED, _HEARING)),
    _MeasurePlan(ANTWERP, MeasureKind.STREET_BAN, None, (_OPENED, _HEARING, _DECIDED)),
    _MeasurePlan(ANTWERP, MeasureKind.TRAFFICKING_CLOSURE, _GRANTED,
                 (_OPENED, _HEARING, _DECIDED, _APPEALED, _DECIDED, _EXECUTED)),
    _MeasurePlan(GHENT, MeasureKind.CERTIFICATE_REVOCATION, CertificateStatus.REVOKED,
                 (_OPENED, _HEARING, _DECIDED, _EXECUTED)),
    _MeasurePlan(GHENT, MeasureKind.FINE, _GRANTED, (_OPENED, _HEARING)),
    _MeasurePlan(GHENT, MeasureKind.FINE, _GRANTED, (_OPENED, _HEARING, _DECIDED, _APPEALED)),
    _MeasurePlan(GHENT, MeasureKind.PERMANENT_CLOSURE, CertificateStatus.REVOKED, (_OPENED,)),
)  # fmt: skip

_MEASURE_NOTES = {
    MeasureStatus.OPENED: "Dossier geopend na proces-verbaal.",
    MeasureStatus.HEARING: "Hoorzitting gepland; betrokkene uitgenodigd.",
    MeasureStatus.DECIDED: "Beslissing genomen door het bevoegde bestuursorgaan.",
    MeasureStatus.APPEALED: "Beroep ingesteld door betrokkene.",
    MeasureStatus.EXECUTED: "Maatregel uitgevoerd.",
}


class _AlertPlan(NamedTuple):
    audience: AlertAudience
    city: str
    zone: str | None
    branch: Branch | None
    severity: AlertSeverity
    issuer: str
    valid_days: int  # from now; negative: already expired
    nl: str
    fr: str
    en: str


# Generic safety warnings; like real ones, they carry nothing about who reported what.
_ALERTS: tuple[_AlertPlan, ...] = (
    _AlertPlan(
        AlertAudience.SEX_WORKERS, ANTWERP, "Schipperskwartier", Branch.WINDOW,
        AlertSeverity.WARNING, "antwerp_police", 7,
        "Een man die zich voordoet als politie vraagt naar identiteitsdocumenten. "
        "Politie toont altijd een dienstkaart; vraag ernaar.",
        "Un homme se faisant passer pour un policier demande des papiers d'identité. "
        "La police montre toujours sa carte de service ; demandez-la.",
        "A man posing as a police officer asks for identity papers. "
        "Police always show a warrant card; ask for it.",
    ),
    _AlertPlan(
        AlertAudience.ALL_PARTNERS, ANTWERP, None, None, AlertSeverity.DANGER, "ghapro", 10,
        "Meerdere meldingen van een klant die geweld gebruikt na het weigeren van "
        "onveilige seks. Werk niet alleen en deel de alarmknop-procedure.",
        "Plusieurs signalements d'un client violent après un refus de rapports non "
        "protégés. Ne travaillez pas seule et partagez la procédure d'alarme.",
        "Several reports of a client turning violent after unsafe sex was refused. "
        "Do not work alone and share the panic-button procedure.",
    ),
    _AlertPlan(
        AlertAudience.NGOS, GHENT, "Glasstraat", Branch.WINDOW, AlertSeverity.INFO, "violett", 14,
        "Sms-berichten die zich voordoen als de stad vragen om registratiegegevens. "
        "De stad vraagt nooit wachtwoorden of documenten per sms.",
        "Des SMS se faisant passer pour la ville demandent des données d'enregistrement. "
        "La ville ne demande jamais de mots de passe ni de documents par SMS.",
        "Text messages posing as the city ask for registration details. "
        "The city never asks for passwords or documents by text message.",
    ),
    _AlertPlan(
        AlertAudience.POLICE, GHENT, None, Branch.ESCORT, AlertSeverity.WARNING,
        "ghent_police", -3,
        "Valse boekingen via advertentiesites: een 'voorschot' dat nooit aankomt, "
        "gevolgd door bedreigingen.",
        "Fausses réservations via des sites d'annonces : un « acompte » jamais versé, "
        "puis des menaces.",
        "Fake bookings via ad sites: a 'deposit' that never arrives, followed by threats.",
    ),
    _AlertPlan(
        AlertAudience.SEX_WORKERS, GHENT, None, Branch.PRIVATE_HOME, AlertSeverity.DANGER,
        "ghent_police", 5,
        "Let op bij afspraken aan huis met onbekende klanten: laat iemand weten waar u "
        "bent en wanneer u terug bent.",
        "Prudence lors des rendez-vous à domicile avec des clients inconnus : dites à "
        "quelqu'un où vous êtes et quand vous rentrez.",
        "Take care with home visits to unknown clients: tell someone where you are and "
        "when you will be back.",
    ),
    _AlertPlan(
        AlertAudience.SEX_WORKERS, ANTWERP, None, Branch.STREET, AlertSeverity.WARNING,
        "boysproject", -6,
        "Meldingen van beroving na afspraken via een datingapp. Spreek eerst af op een "
        "openbare plaats en geef het nummer van de klant aan iemand die u vertrouwt.",
        "Signalements de vols après des rendez-vous pris via une application de rencontre. "
        "Rencontrez d'abord le client dans un lieu public et confiez son numéro à une "
        "personne de confiance.",
        "Reports of robberies after meetings arranged through a dating app. Meet in a "
        "public place first and give the client's number to someone you trust.",
    ),
)  # fmt: skip


class _Window(NamedTuple):
    premises: Premises
    window: int


class _Interval(NamedTuple):
    start: datetime
    end: datetime


def _overlaps(a: _Interval, others: Sequence[_Interval]) -> bool:
    return any(a.start < b.end and b.start < a.end for b in others)


def _demo_gender(worker_id: str) -> str | None:
    """A demo worker's declared gender (mostly none), from a hash of the worker's id."""
    share = int.from_bytes(hashlib.sha256(worker_id.encode()).digest()[:4], "big") % 1000
    for gender, width in _GENDER_SHARES:
        if share < width:
            return gender
        share -= width
    return None


class _Demo:
    """Builds the rows in memory; `seed` writes them in a few bulk flushes."""

    def __init__(self, keyring: Keyring, rng: random.Random, now: datetime, scale: int) -> None:
        self.keyring = keyring
        self.rng = rng
        self.now = now
        self.scale = scale
        self.today = now.date()
        self.midnight = datetime.combine(self.today, time(0), tzinfo=UTC)
        self.org: dict[str, str] = {}
        self.organisations: list[Organisation] = []
        self.premises: list[Premises] = []
        self.certificates: list[Certificate] = []
        self.workers: list[SexWorker] = []
        self.data_keys: list[DataKey] = []
        self.rentals: list[RentalAgreement] = []
        self.shifts: list[ShiftRegistration] = []
        self.inspections: list[Inspection] = []
        self.measures: list[Measure] = []
        self.transitions: list[MeasureTransition] = []
        self.reports: list[Report] = []
        self.report_shares: list[ReportShare] = []
        self.report_replies: list[ReportReply] = []
        self.alerts: list[Alert] = []
        self.care_contacts: list[CareContact] = []
        self.referrals: list[Referral] = []
        self.consents: list[Consent] = []
        self.investigations: list[Investigation] = []
        self.investigation_subjects: list[InvestigationSubject] = []
        self.participations: list[Participation] = []
        self.pairings: list[Pairing] = []
        self.suspicions: list[TraffickingSuspicion] = []
        self.helpdesk: list[HelpdeskRequest] = []
        self.employments: list[EmploymentRelation] = []
        self.client_refs: dict[str, list[str]] = {}
        self.certificate_of: dict[str, Certificate] = {}

    # -- helpers ---------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hashed_id(self, name: str) -> str:
        """A version-4 id (sealed ids are uuid4) from a hash of `name` and the seed's first
        organisation, not from a draw: rows added this way leave the rest of the data set as
        it was, and other seeds give other ids."""
        digest = uuid.uuid5(uuid.NAMESPACE_OID, f"{self.organisations[0].id}:{name}")
        return str(uuid.UUID(bytes=digest.bytes, version=4))

    def ago(self, lo: timedelta, hi: timedelta) -> datetime:
        """A whole-minute moment between `hi` and `lo` before now."""
        minutes = self.rng.randint(int(lo / timedelta(minutes=1)), int(hi / timedelta(minutes=1)))
        return self.now - timedelta(minutes=minutes)

    def granted(self, premises: Premises) -> bool:
        cert = self.certificate_of[premises.id]
        return (
            cert.status == CertificateStatus.GRANTED.value
            and cert.valid_from <= self.today <= cert.valid_until
        )

    def tables(self) -> list[tuple[str, Sequence[SQLModel]]]:
        """Rows per table, parents before children."""
        return [
            ("organisation", self.organisations),
            ("premises", self.premises),
            ("certificate", self.certificates),
            ("sex_worker", self.workers),
            ("data_key", self.data_keys),
            ("rental_agreement", self.rentals),
            ("shift_registration", self.shifts),
            ("inspection", self.inspections),
            ("measure", self.measures),
            ("measure_transition", self.transitions),
            ("report", self.reports),
            ("report_share", self.report_shares),
            ("report_reply", self.report_replies),
            ("alert", self.alerts),
            ("care_contact", self.care_contacts),
            ("referral", self.referrals),
            ("consent", self.consents),
            ("investigation", self.investigations),
            ("investigation_subject", self.investigation_subjects),
            ("participation", self.participations),
            ("pairing", self.pairings),
            ("trafficking_suspicion", self.suspicions),
            ("helpdesk_request", self.helpdesk),
            ("employment_relation", self.employments),
        ]

    # -- partners and premises -------------------------------------------------------------

    def build_organisations(self) -> None:
        created = self.now - timedelta(days=400)
        for o in _ORGANISATIONS:
            row = Organisation(
                id=self.new_id(), name=o.name, kind=o.kind.value, city=o.city, created_at=created
            )
            self.org[o.key] = row.id
            self.organisations.append(row)

    def build_premises(self) -> None:
        used = {(s.street, s.number) for s in _SITES}
        for replica in range(self.scale):
            for site in _SITES:
                number = site.number
                if replica:
                    while (site.street, number) in used:
                        number = self.rng.randint(1, 160)
                    used.add((site.street, number))
                premises = Premises(
                    id=self.new_id(),
                    address=f"{site.street} {number}",
                    city=site.city,
                    zone=site.zone,
                    kind=site.kind.value,
                    windows=site.windows,
                    operator_id=self.org[site.operator],
                    created_at=self.now - timedelta(days=self.rng.randint(700, 2500)),
                )
                self.premises.append(premises)
                cert = self.certificate(premises, site.certificate)
                self.certificates.append(cert)
                self.certificate_of[premises.id] = cert

    def certificate(self, premises: Premises, status: CertificateStatus) -> Certificate:
        # Certificates run a year; an expired one ended before today.
        if status is CertificateStatus.EXPIRED:
            valid_until = self.today - timedelta(days=self.rng.randint(10, 60))
        else:
            valid_until = self.today + timedelta(days=self.rng.randint(30, 330))
        valid_from = valid_until - timedelta(days=365)
        decided_at = datetime.combine(valid_from, time(9), tzinfo=UTC) - DAY * 14
        decision = "Geschiktheidsverklaring toegekend na plaatsbezoek."
        if status is CertificateStatus.SUSPENDED:
            decided_at = self.ago(DAY * 5, DAY * 20)
            decision = "Geschorst na vaststellingen bij controle; hoorzitting gehouden."
        elif status is CertificateStatus.REVOKED:
            decided_at = self.ago(DAY * 10, DAY * 40)
            decision = "Ingetrokken: herhaalde inbreuken op de brandveiligheidsvoorschriften."
        elif status is CertificateStatus.EXPIRED:
            decided_at = datetime.combine(valid_until, time(23), tzinfo=UTC)
            decision = "Verlopen; geen aanvraag tot hernieuwing ontvangen."
        return Certificate(
            id=self.new_id(),
            premises_id=premises.id,
            status=status.value,
            valid_from=valid_from,
            valid_until=valid_until,
            decision=decision,
            decided_at=min(decided_at, self.now),
            decided_by_id=self.org[_LICENSING_OF[premises.city]],
        )

    # -- sex workers -----------------------------------------------------------------------

    def build_workers(self) -> None:
        n = _WORKERS * self.scale
        # Worker 0 (Antwerp) is the demo's sex-worker login; keep the worker adult-verified.
        unverified = set(self.rng.sample(range(1, n), max(1, n // 10)))
        names = self.working_names(n)
        for i in range(n):
            city = ANTWERP if i % 3 != 2 else GHENT
            worker = SexWorker(
                id=self.new_id(),
                working_name=names[i],
                adult_verified=i not in unverified,
                city=city,
                registered_by_id=(
                    self.org[_POLICE_OF[city]] if city in _PANDKALENDER_CITIES else None
                ),
                created_at=self.ago(DAY * 20, DAY * 700),
            )
            # Worker 0 (the demo's login) states none: the worker declares it on /me.
            worker.gender = _demo_gender(worker.id) if i else None
            nationality = self.rng.choices(_NATIONALITIES, weights=_NATIONALITY_WEIGHTS)[0]
            worker.languages = self.languages(nationality)
            identity = self.identity(nationality)  # drawn everywhere: the same data elsewhere
            self.workers.append(worker)
            if city not in _PANDKALENDER_CITIES:
                worker.adult_verified = False  # nobody checked it: registration is voluntary
                continue
            data_key = self.keyring.new_data_key()
            worker.identity = self.keyring.encrypt(worker.id, data_key, identity)
            self.data_keys.append(
                DataKey(sex_worker_id=worker.id, wrapped_key=self.keyring.wrap(worker.id, data_key))
            )

    def working_names(self, n: int) -> list[str]:
        names: list[str] = []
        round_ = 0
        while len(names) < n:
            batch = list(_WORKING_NAMES)
            self.rng.shuffle(batch)
            suffix = f" {chr(ord('A') + round_ - 1)}." if round_ else ""
            names.extend(name + suffix for name in batch)
            round_ += 1
        return names[:n]

    def identity(self, nationality: str) -> Identity:
        surname = (
            self.rng.choice(_SYLLABLES).capitalize()
            + self.rng.choice(_SYLLABLES)
            + self.rng.choice(_SURNAME_ENDINGS[nationality])
        )
        if nationality in ("BE", "NL") and self.rng.random() < 0.5:
            surname = "Van " + surname
        # Adults aged 19 to 54 today.
        birth = self.today - timedelta(days=self.rng.randint(19 * 366, 55 * 365 - 10))
        return Identity(
            legal_name=f"{self.rng.choice(_FIRST_NAMES[nationality])} {surname}",
            birth_date=birth.isoformat(),
            nationality=nationality,
            document_number=f"XX{self.rng.randint(0, 9_999_999):07d}",
        )

    def languages(self, nationality: str) -> list[str]:
        languages = [self.rng.choice(_NATIVE_LANGUAGES[nationality])]
        for extra, p in (("en", 0.7), ("nl", 0.35), ("fr", 0.2), ("de", 0.05)):
            if extra not in languages and self.rng.random() < p:
                languages.append(extra)
        return languages

    # -- the pandkalender: rentals and shifts ----------------------------------------------

    def build_calendar(self) -> None:
        """Each worker rents windows for stretches of days and works one shift a day in them.

        A rental holds its window exclusively, so shifts on one window cannot overlap.
        """
        horizon = _Interval(self.now - DAY * 7, self.now + DAY * 7)
        free: dict[str, list[_Window]] = {ANTWERP: [], GHENT: []}
        for p in self.premises:
            if p.kind == PremisesKind.WINDOW.value and self.granted(p):
                free[p.city].extend(_Window(p, w) for w in range(1, p.windows + 1))
        booked: dict[tuple[str, int], list[_Interval]] = {}
        for worker in self.workers:
            windows = free[worker.city]
            start_hour = self.rng.choice(_SHIFT_START_HOURS)
            day = -7
            current: _Window | None = None
            while day <= 7:
                stretch = self.rng.randint(3, 6)
                shifts = self.plan_shifts(day, min(day + stretch, 8), start_hour, horizon)
                day += stretch + self.rng.choice((0, 0, 0, 0, 1, 2))
                if not shifts:
                    continue
                period = _Interval(
                    max(shifts[0].start - 2 * HOUR, horizon.start),
                    min(shifts[-1].end + 2 * HOUR, horizon.end),
                )
                # Stay in the same window when it is free; otherwise take another.
                candidates = ([current] if current else []) + self.rng.sample(windows, len(windows))
                for window in candidates:
                    if not _overlaps(period, booked.get((window.premises.id, window.window), [])):
                        break
                else:
                    continue
                current = window
                booked.setdefault((window.premises.id, window.window), []).append(period)
                rental = self.rental(worker, window, period, confirmed=True)
                self.shifts.extend(self.shift(rental, worker, s) for s in shifts)
            if self.rng.random() < 0.15:
                self.unconfirmed_rental(worker, windows, booked)
        # Planned everywhere, kept only where the regime has a pandkalender.
        city = {w.id: w.city for w in self.workers}
        self.shifts = [s for s in self.shifts if city[s.sex_worker_id] in _PANDKALENDER_CITIES]
        self.ensure_shift_in_progress(free[ANTWERP], booked)

    def ensure_shift_in_progress(
        self, windows: list[_Window], booked: dict[tuple[str, int], list[_Interval]]
    ) -> None:
        """The demo's worker (`workers[0]`) is at work in Antwerp now, and for hours yet,
        whatever the time of day: the police see an identity only for a shift in progress
        (from an hour before its start to its end), and the demo's story (a police check the
        worker then finds in their access log) needs one. The worker's own rentals around
        now give way to it. Adds no random draw, so the rest of the data set stays as it was."""
        worker = self.workers[0]
        live = (ShiftStatus.REGISTERED.value, ShiftStatus.VALIDATED.value)
        if any(
            s.sex_worker_id == worker.id
            and s.status in live
            and s.starts_at - HOUR <= self.now
            and self.now + 4 * HOUR <= s.ends_at
            for s in self.shifts
        ):
            return
        start = self.now.replace(minute=0, second=0, microsecond=0) - HOUR
        when = _Interval(start, start + 7 * HOUR)
        period = _Interval(start - 2 * HOUR, when.end + 2 * HOUR)
        self.make_room(worker, period, booked)
        for window in windows:
            key = (window.premises.id, window.window)
            if _overlaps(period, booked.get(key, [])):
                continue
            booked.setdefault(key, []).append(period)
            rental = RentalAgreement(
                id=self.hashed_id(f"demo-rental-now:{worker.id}"),
                premises_id=window.premises.id,
                window=window.window,
                sex_worker_id=worker.id,
                starts_at=period.start,
                ends_at=period.end,
                confirmed=True,
                confirmed_at=period.start - DAY,
                recorded_by_id=window.premises.operator_id,
                created_at=period.start - 2 * DAY,
            )
            self.rent_terms(rental, window.premises)
            self.rentals.append(rental)
            self.shifts.append(
                ShiftRegistration(
                    id=self.hashed_id(f"demo-shift-now:{worker.id}"),
                    premises_id=rental.premises_id,
                    window=rental.window,
                    sex_worker_id=worker.id,
                    rental_agreement_id=rental.id,
                    starts_at=when.start,
                    ends_at=when.end,
                    status=ShiftStatus.REGISTERED.value,
                    registered_by_id=rental.recorded_by_id,
                    created_at=when.start - DAY,
                )
            )
            return
        raise RuntimeError("demo: no free window in Antwerp for the worker at work now")

    def make_room(
        self,
        worker: SexWorker,
        period: _Interval,
        booked: dict[tuple[str, int], list[_Interval]],
    ) -> None:
        """Cut `period` out of the worker's rentals: a rental across it is split in the part
        before and the part after (each with the shifts that lie in it, under an id hashed
        from the rental's), and the shifts within `period` go. The worker's other days of
        work stay as they were."""
        for rental in [
            r
            for r in self.rentals
            if r.sex_worker_id == worker.id
            and _overlaps(period, [_Interval(r.starts_at, r.ends_at)])
        ]:
            key = (rental.premises_id, rental.window)
            booked[key].remove(_Interval(rental.starts_at, rental.ends_at))
            self.rentals.remove(rental)
            shifts = [s for s in self.shifts if s.rental_agreement_id == rental.id]
            parts = (
                _Interval(rental.starts_at, period.start),
                _Interval(period.end, rental.ends_at),
            )
            for n, part in enumerate(parts):
                inside = [s for s in shifts if part.start <= s.starts_at and s.ends_at <= part.end]
                if part.end <= part.start or not inside:
                    continue
                piece = RentalAgreement(
                    **rental.model_dump(exclude={"id", "starts_at", "ends_at"}),
                    id=self.hashed_id(f"demo-rental-part:{rental.id}:{n}"),
                    starts_at=part.start,
                    ends_at=part.end,
                )
                self.rentals.append(piece)
                booked[key].append(part)
                for s in inside:
                    s.rental_agreement_id = piece.id
            self.shifts = [s for s in self.shifts if s.rental_agreement_id != rental.id]

    def plan_shifts(
        self, first_day: int, end_day: int, start_hour: int, horizon: _Interval
    ) -> list[_Interval]:
        shifts: list[_Interval] = []
        for d in range(first_day, end_day):
            if self.rng.random() < 0.04:
                continue  # a day off inside the rental
            start = self.midnight + DAY * d + HOUR * (start_hour + self.rng.choice((-1, 0, 0, 1)))
            end = start + HOUR * self.rng.randint(6, 10)
            if start < horizon.start or end > horizon.end:
                continue
            if shifts and start < shifts[-1].end + HOUR * 4:
                continue  # keep a rest between two shifts
            shifts.append(_Interval(start, end))
        return shifts

    def rental(
        self, worker: SexWorker, window: _Window, period: _Interval, *, confirmed: bool
    ) -> RentalAgreement:
        created = min(period.start - HOUR * self.rng.randint(24, 96), self.now - HOUR)
        confirmed_at = (
            min(created + HOUR * self.rng.randint(1, 20), self.now - timedelta(minutes=30))
            if confirmed
            else None
        )
        rental = RentalAgreement(
            id=self.new_id(),
            premises_id=window.premises.id,
            window=window.window,
            sex_worker_id=worker.id,
            starts_at=period.start,
            ends_at=period.end,
            confirmed=confirmed,
            confirmed_at=confirmed_at,
            recorded_by_id=window.premises.operator_id,
            created_at=created,
        )
        self.rent_terms(rental, window.premises)
        self.rentals.append(rental)
        return rental

    @staticmethod
    def rent_terms(rental: RentalAgreement, premises: Premises) -> None:
        """A day rent per window (invented, no random draw): dearer in Antwerp's
        Schipperskwartier; a deposit of two days' rent."""
        day = 9_500 if premises.city == ANTWERP else 7_500
        rental.rent_cents, rental.rent_period = day, RentPeriod.DAY.value
        rental.deposit_cents, rental.currency = 2 * day, "EUR"

    def unconfirmed_rental(
        self,
        worker: SexWorker,
        windows: list[_Window],
        booked: dict[tuple[str, int], list[_Interval]],
    ) -> None:
        """An operator's upcoming rental the worker has not confirmed yet (so no shifts)."""
        start = self.midnight + DAY * self.rng.randint(3, 5) + HOUR * self.rng.choice((8, 12, 18))
        period = _Interval(start, start + DAY * self.rng.randint(1, 2))
        for window in self.rng.sample(windows, len(windows)):
            key = (window.premises.id, window.window)
            if not _overlaps(period, booked.get(key, [])):
                booked.setdefault(key, []).append(period)
                self.rental(worker, window, period, confirmed=False)
                return

    def shift(
        self, rental: RentalAgreement, worker: SexWorker, when: _Interval
    ) -> ShiftRegistration:
        assert rental.confirmed_at is not None
        shift = ShiftRegistration(
            id=self.new_id(),
            premises_id=rental.premises_id,
            window=rental.window,
            sex_worker_id=worker.id,
            rental_agreement_id=rental.id,
            starts_at=when.start,
            ends_at=when.end,
            status=ShiftStatus.REGISTERED.value,
            registered_by_id=rental.recorded_by_id,
            created_at=max(rental.confirmed_at, min(when.start - DAY, self.now)),
        )
        # Cancelled before it began: a shift in progress (from an hour before its start, when
        # the police may read the identity) stays live, so the demo's answers are steady.
        in_progress = when.start - HOUR <= self.now <= when.end
        if self.rng.random() < 0.06 and not in_progress:
            shift.status = ShiftStatus.CANCELLED.value
            return shift
        police_came_by = self.now - when.start >= timedelta(minutes=20) and self.rng.random() < 0.8
        if not police_came_by:
            return shift
        # On site the police validate the worker, or refuse when adulthood cannot be established;
        # workers not yet verified are mostly still waiting for that visit.
        if worker.adult_verified:
            shift.status = ShiftStatus.VALIDATED.value
            shift.adult_verified_on_site = True
        elif self.rng.random() < 0.5:
            shift.status = ShiftStatus.REFUSED.value
            shift.adult_verified_on_site = False
        else:
            return shift
        minutes_in = int((min(when.end, self.now) - when.start) / timedelta(minutes=1))
        shift.validated_at = when.start + timedelta(minutes=self.rng.randint(15, minutes_in))
        shift.validated_by_id = self.org[_POLICE_OF[worker.city]]
        return shift

    # -- employers and work (labour law of 2024) -------------------------------------------

    def build_employers(self) -> None:
        """The federal labour inspection, one recognised employer in Antwerp with window
        premises (certificate granted) and one invented employee, employed open-ended, with
        a shift a day registered by the employer and no rental (Antwerp's regime:
        `employment`). Ids from `hashed_id`, no random draw, so the rest stays as it was."""

        def uid(name: str) -> str:
            return self.hashed_id(f"demo-employer:{name}")

        created = self.now - timedelta(days=400)
        for key, name, kind, city in _EMPLOYMENT_ORGANISATIONS:
            org = Organisation(
                id=uid(key), name=name, kind=kind.value, city=city, created_at=created
            )
            self.org[key] = org.id
            self.organisations.append(org)
        employer = self.organisations[-1]
        employer.recognition_status = RecognitionStatus.RECOGNISED.value
        employer.recognition_number = DEMO_RECOGNITION_NUMBER
        employer.recognition_decided_at = self.now - timedelta(days=180)
        employer.recognition_decided_by_id = self.org["labour_inspection"]
        premises = Premises(
            id=uid("premises"),
            address="Schippersstraat 12",
            city=ANTWERP,
            zone="Schipperskwartier",
            kind=PremisesKind.WINDOW.value,
            windows=3,
            operator_id=employer.id,
            created_at=self.now - timedelta(days=900),
        )
        self.premises.append(premises)
        cert = Certificate(
            id=uid("certificate"),
            premises_id=premises.id,
            status=CertificateStatus.GRANTED.value,
            valid_from=self.today - timedelta(days=120),
            valid_until=self.today + timedelta(days=245),
            decision="Geschiktheidsverklaring toegekend na plaatsbezoek.",
            decided_at=self.now - timedelta(days=134),
            decided_by_id=self.org[_LICENSING_OF[ANTWERP]],
        )
        self.certificates.append(cert)
        self.certificate_of[premises.id] = cert
        worker = SexWorker(
            id=uid("employee"),
            working_name="Noor",
            adult_verified=True,
            languages=["nl", "en"],
            city=ANTWERP,
            registered_by_id=self.org[_POLICE_OF[ANTWERP]],
            created_at=self.now - timedelta(days=75),
        )
        data_key = self.keyring.new_data_key()
        worker.identity = self.keyring.encrypt(
            worker.id,
            data_key,
            Identity(
                legal_name="Noor Van Damme",
                birth_date=(self.today - timedelta(days=31 * 365)).isoformat(),
                nationality="BE",
                document_number="XX7000001",
            ),
        )
        self.workers.append(worker)
        self.data_keys.append(
            DataKey(sex_worker_id=worker.id, wrapped_key=self.keyring.wrap(worker.id, data_key))
        )
        self.employments.append(
            EmploymentRelation(
                id=uid("employment"),
                employer_id=employer.id,
                sex_worker_id=worker.id,
                contract_kind=ContractKind.OPEN_ENDED.value,
                starts_on=self.today - timedelta(days=60),
                recorded_by_id=employer.id,
                created_at=self.now - timedelta(days=62),
            )
        )
        # Day shifts from 10:00 to 17:00 UTC, a week back and a week ahead, on window 1.
        for d in range(-7, 8):
            start = self.midnight + DAY * d + HOUR * 10
            self.shifts.append(
                ShiftRegistration(
                    id=uid(f"shift:{d}"),
                    premises_id=premises.id,
                    window=1,
                    sex_worker_id=worker.id,
                    starts_at=start,
                    ends_at=start + HOUR * 7,
                    status=ShiftStatus.REGISTERED.value,
                    registered_by_id=employer.id,
                    created_at=min(start - DAY, self.now),
                )
            )

    # -- safety: inspections and measures --------------------------------------------------

    def build_inspections(self) -> None:
        outcomes = list(InspectionOutcome)
        for city, count in ((ANTWERP, 30), (GHENT, 16)):
            police = self.org[_POLICE_OF[city]]
            for i in range(count * self.scale):
                # The first rounds cover every branch and every outcome in both cities.
                branch = list(Branch)[i] if i < len(Branch) else self.rng.choice(list(Branch))
                if i < len(outcomes):
                    outcome = outcomes[i]
                else:
                    outcome = self.rng.choices(outcomes, weights=(50, 25, 10, 15))[0]
                self.inspections.append(self.inspection(city, police, branch, outcome, i))

    def inspection(
        self, city: str, police: str, branch: Branch, outcome: InspectionOutcome, i: int
    ) -> Inspection:
        kind = {
            Branch.WINDOW: PremisesKind.WINDOW,
            Branch.STRIP_CLUB: PremisesKind.CLUB,
            Branch.MASSAGE_SALON: PremisesKind.MASSAGE_SALON,
        }.get(branch)
        places = [p for p in self.premises if p.city == city and kind and p.kind == kind.value]
        place = self.rng.choice(places) if places else None
        persons = self.rng.randint(1, 8)
        if outcome is InspectionOutcome.NONE and self.rng.random() < 0.2:
            persons = 0
        judicial = administrative = 0
        if outcome is InspectionOutcome.PV and (i == 2 or self.rng.random() < 0.3):
            judicial = self.rng.randint(1, min(2, persons))
        if outcome in (InspectionOutcome.WARNING, InspectionOutcome.PV) and (
            i == 1 or self.rng.random() < 0.1
        ):
            administrative = 1
        hidden = branch in (Branch.ESCORT, Branch.PRIVATE_HOME, Branch.MASSAGE_SALON, Branch.OTHER)
        occurred = self.ago(HOUR, DAY * 60)
        return Inspection(
            id=self.new_id(),
            city=city,
            zone=place.zone if place else None,
            branch=branch.value,
            premises_id=place.id if place else None,
            occurred_at=occurred,
            persons_checked=persons,
            outcome=outcome.value,
            administrative_arrests=administrative,
            judicial_arrests=judicial,
            hidden_form=hidden and (i < len(Branch) or self.rng.random() < 0.7),
            proactive=i != 1 and (i == 0 or self.rng.random() < 0.7),
            police_org_id=police,
            recorded_at=min(occurred + HOUR * self.rng.randint(1, 12), self.now),
        )

    def build_measures(self) -> None:
        for replica in range(self.scale):
            # Each replica's measures target that replica's premises.
            batch = self.premises[replica * len(_SITES) : (replica + 1) * len(_SITES)]
            for plan in _MEASURES:
                target = None
                if plan.certificate is not None:
                    target = next(
                        p
                        for p in batch
                        if p.city == plan.city
                        and p.kind == PremisesKind.WINDOW.value
                        and self.certificate_of[p.id].status == plan.certificate.value
                    )
                self.measure(plan, target)

    def measure(self, plan: _MeasurePlan, premises: Premises | None) -> None:
        org = self.org[_ENFORCEMENT_OF[plan.city]]
        at = self.now - DAY * (10 * len(plan.path) + self.rng.randint(0, 30))
        measure = Measure(
            id=self.new_id(),
            kind=plan.kind.value,
            city=plan.city,
            premises_id=premises.id if premises else None,
            target_kind=(
                MeasureTargetKind.PREMISES.value if premises else MeasureTargetKind.CLIENT.value
            ),
            status=plan.path[-1].value,
            amount_cents=(
                self.rng.choice((250, 500, 750, 1500, 3500)) * 100
                if plan.kind is MeasureKind.FINE
                else None
            ),
            org_id=org,
            opened_at=at,
        )
        if premises is None:
            # A street ban against a client, named under a data key of its own (fictitious).
            measure.target_name_key, measure.target_name = self.keyring.seal_name(
                measure.id, "J. Janssens"
            )
        previous: MeasureStatus | None = None
        for status in plan.path:
            if previous is not None:
                at += DAY * self.rng.randint(3, 9)
            note = _MEASURE_NOTES[status]
            if previous is MeasureStatus.APPEALED:
                note = "Beslissing na beroep bevestigd."
            self.transitions.append(
                MeasureTransition(
                    id=self.new_id(),
                    measure_id=measure.id,
                    from_status=previous.value if previous else None,
                    to_status=status.value,
                    note=note,
                    at=at,
                    by_org_id=org,
                )
            )
            previous = status
        measure.updated_at = at
        self.measures.append(measure)

    # -- reports and warnings --------------------------------------------------------------

    def build_reports(self) -> None:
        by_city = {city: [w for w in self.workers if w.city == city] for city in (ANTWERP, GHENT)}
        for replica in range(self.scale):
            for i, plan in enumerate(_REPORTS):
                author: SexWorker | None = None
                if not plan.anonymous:
                    # The very first report is by the demo's sex-worker login, worker 0.
                    first = replica == 0 and i == 0
                    author = self.workers[0] if first else self.rng.choice(by_city[plan.city])
                ngo = "violett" if plan.city == GHENT or self.rng.random() < 0.4 else "ghapro"
                self.report(plan, author, ngo)

    def report(self, plan: _ReportPlan, author: SexWorker | None, ngo: str) -> None:
        filed = self.ago(HOUR * 3, DAY * 30)
        report = Report(
            id=self.new_id(),
            category=plan.category.value,
            text=plan.text,
            anonymous=plan.anonymous,
            author_id=author.id if author else None,
            city=plan.city,
            status=plan.status.value,
            filed_at=filed,
        )
        self.reports.append(report)
        police = _POLICE_OF[plan.city]
        shared_with = [police if to == "police" else ngo for to in plan.shared_with]
        self.report_shares.extend(
            ReportShare(report_id=report.id, organisation_id=self.org[key]) for key in shared_with
        )
        if plan.status is ReportStatus.FILED:
            return
        # Answered by the first organisation the author shared it with.
        answered = min(filed + HOUR * self.rng.randint(1, 48), self.now - HOUR)
        self.report_replies.append(
            ReportReply(
                id=self.new_id(),
                report_id=report.id,
                author_org_id=self.org[shared_with[0]],
                text=_POLICE_REPLY if shared_with[0] == police else _NGO_REPLY,
                created_at=answered,
            )
        )
        if plan.status is ReportStatus.CLOSED:
            self.report_replies.append(
                ReportReply(
                    id=self.new_id(),
                    report_id=report.id,
                    by_reporter=True,
                    text="Thanks, it is calmer now. You can close this.",
                    created_at=min(answered + DAY, self.now - timedelta(minutes=30)),
                )
            )

    def build_alerts(self) -> None:
        for plan in _ALERTS:
            if plan.valid_days > 0:
                issued = self.ago(HOUR * 6, DAY * 4)
            else:
                issued = self.ago(DAY * 10, DAY * 20)
            self.alerts.append(
                Alert(
                    id=self.new_id(),
                    audience=plan.audience.value,
                    city=plan.city,
                    zone=plan.zone,
                    branch=plan.branch.value if plan.branch else None,
                    severity=plan.severity.value,
                    text_nl=plan.nl,
                    text_fr=plan.fr,
                    text_en=plan.en,
                    valid_until=self.now + DAY * plan.valid_days,
                    issued_by_id=self.org[plan.issuer],
                    issued_at=issued,
                )
            )

    # -- care: contacts, referrals, consents -----------------------------------------------

    def build_care(self) -> None:
        profiles: dict[str, tuple[str, tuple[str, ...], tuple[int, ...], tuple[Branch, ...]]] = {
            # ngo: (client prefix, cities, kind weights, branches)
            "ghapro": ("GH", (ANTWERP,), (45, 25, 20, 5, 5),
                       (Branch.WINDOW, Branch.PRIVATE_HOME, Branch.MASSAGE_SALON,
                        Branch.STRIP_CLUB, Branch.STREET)),
            "violett": ("VI", (GHENT, GHENT, ANTWERP), (20, 35, 30, 10, 5),
                        (Branch.WINDOW, Branch.PRIVATE_HOME, Branch.ESCORT, Branch.OTHER)),
            "boysproject": ("BP", (ANTWERP,), (15, 30, 30, 20, 5),
                            (Branch.STREET, Branch.ESCORT, Branch.PRIVATE_HOME, Branch.OTHER)),
        }  # fmt: skip
        locations = {
            CareKind.MEDICAL: (CareLocation.FIXED, CareLocation.MOBILE),
            CareKind.PSYCHOSOCIAL: (CareLocation.FIXED, CareLocation.OUTREACH),
            CareKind.OUTREACH: (CareLocation.OUTREACH, CareLocation.MOBILE),
            CareKind.ONLINE: (CareLocation.ONLINE,),
            CareKind.REFERRAL: (CareLocation.FIXED, CareLocation.OUTREACH),
        }
        for ngo, (prefix, cities, weights, branches) in profiles.items():
            numbers = self.rng.sample(range(1, 10_000), 25 * self.scale)
            clients = [f"{prefix}-{n:04d}" for n in sorted(numbers)]
            self.client_refs[ngo] = clients
            for _ in range(60 * self.scale):
                kind = self.rng.choices(_FIRST_CARE_KINDS, weights=weights)[0]
                day = self.today - timedelta(days=self.rng.randint(0, 89))
                recorded = datetime.combine(day, time(16), tzinfo=UTC) + HOUR * self.rng.randint(
                    0, 40
                )
                self.care_contacts.append(
                    CareContact(
                        id=self.new_id(),
                        ngo_id=self.org[ngo],
                        client_ref=self.rng.choice(clients),
                        contact_date=day,
                        kind=kind.value,
                        location=self.rng.choice(locations[kind]).value,
                        branch=(
                            Branch.OTHER if kind is CareKind.ONLINE else self.rng.choice(branches)
                        ).value,
                        city=self.rng.choice(cities),
                        recorded_at=min(recorded, self.now),
                    )
                )

    def build_referrals(self) -> None:
        plans = [
            ("ghapro", "payoke", ReferralReason.TRAFFICKING_SUPPORT),
            ("violett", "payoke", ReferralReason.TRAFFICKING_SUPPORT),
            ("boysproject", "free_clinic", ReferralReason.MEDICAL),
            ("ghapro", "free_clinic", ReferralReason.MEDICAL),
            ("violett", "espace_p", ReferralReason.LEGAL),
        ]
        for _ in range(self.scale):
            for source, target, reason in plans:
                self.referrals.append(
                    Referral(
                        id=self.new_id(),
                        from_org_id=self.org[source],
                        to_org_id=self.org[target],
                        client_ref=self.rng.choice(self.client_refs[source]),
                        reason=reason.value,
                        consent=True,
                        created_at=self.ago(HOUR * 2, DAY * 90),
                    )
                )

    # -- the minimum format, referrals outside, trafficking, the helpdesk ------------------
    # Drawn after everything else, so that the data above stays as it was.

    def build_care_format(self) -> None:
        asked = {
            CareKind.MEDICAL: (HelpRequest.HEALTH, HelpRequest.STI_TEST),
            CareKind.PSYCHOSOCIAL: (HelpRequest.PSYCHOSOCIAL, HelpRequest.VIOLENCE),
            CareKind.OUTREACH: (HelpRequest.INFORMATION, HelpRequest.HEALTH),
            CareKind.ONLINE: (HelpRequest.INFORMATION, HelpRequest.LEGAL),
            CareKind.REFERRAL: (HelpRequest.HOUSING, HelpRequest.ADMINISTRATIVE),
        }
        for c in self.care_contacts:
            c.request = self.rng.choice(asked[CareKind(c.kind)]).value
            follow = self.rng.choice(list(CareFollowUp))
            c.follow_up = follow.value
            if follow is CareFollowUp.PLANNED:
                c.follow_up_date = c.contact_date + timedelta(days=self.rng.randint(7, 28))
            elif follow is CareFollowUp.DONE:
                c.follow_up_date = min(
                    c.contact_date + timedelta(days=self.rng.randint(1, 14)), self.today
                )
        extra = {
            CareKind.DROP_IN: (CareLocation.FIXED, HelpRequest.INFORMATION),
            CareKind.STI_TEST: (CareLocation.MOBILE, HelpRequest.STI_TEST),
            CareKind.SOCIAL_RECOVERY: (CareLocation.FIXED, HelpRequest.FINANCIAL),
        }
        for ngo, city in (("ghapro", ANTWERP), ("violett", GHENT)):
            for kind, (location, request) in extra.items():
                for _ in range(6 * self.scale):
                    day = self.today - timedelta(days=self.rng.randint(0, 89))
                    self.care_contacts.append(
                        CareContact(
                            id=self.new_id(),
                            ngo_id=self.org[ngo],
                            client_ref=self.rng.choice(self.client_refs[ngo]),
                            contact_date=day,
                            kind=kind.value,
                            location=location.value,
                            branch=self.rng.choice((Branch.WINDOW, Branch.PRIVATE_HOME)).value,
                            city=city,
                            recorded_at=min(datetime.combine(day, time(17), tzinfo=UTC), self.now),
                            request=request.value,
                            follow_up=CareFollowUp.NONE_NEEDED.value,
                        )
                    )

    def build_outside_referrals(self) -> None:
        # source, case reference, target organisation or destination, consent, protection
        plans: list[tuple[str, str, str | None, ReferralDestination | None, bool,
                          ProtectionBasis | None]] = [
            ("antwerp_police", "PV-AN-2026-0412", "payoke", None, False,
             ProtectionBasis.TRAFFICKING_VICTIM_PROCEDURE),
            ("federal_police", "FGP-AN-2026-118", None, ReferralDestination.PAG_ASA, True, None),
            ("ghapro", self.client_refs["ghapro"][0], None, ReferralDestination.CAW, True, None),
            ("violett", self.client_refs["violett"][0], None, ReferralDestination.SURYA, True,
             None),
        ]  # fmt: skip
        for _ in range(self.scale):
            for source, ref, target, destination, consent, basis in plans:
                self.referrals.append(
                    Referral(
                        id=self.new_id(),
                        from_org_id=self.org[source],
                        to_org_id=self.org[target] if target else None,
                        destination=destination.value if destination else None,
                        client_ref=ref,
                        reason=ReferralReason.TRAFFICKING_SUPPORT.value,
                        consent=consent,
                        victim_protection=basis is not None,
                        protection_basis=basis.value if basis else None,
                        created_at=self.ago(HOUR * 2, DAY * 60),
                    )
                )

    def build_suspicions(self) -> None:
        antwerp = [w for w in self.workers if w.city == ANTWERP]
        ind = TraffickingIndicator
        plans: list[tuple[str, tuple[TraffickingIndicator, ...], SexWorker | None, str | None,
                          TraffickingStatus]] = [
            ("antwerp_police", (ind.DOCUMENTS_WITHHELD, ind.NO_CONTROL_OF_EARNINGS), antwerp[2],
             None, TraffickingStatus.REFERRED),
            ("antwerp_police", (ind.SIGNS_OF_VIOLENCE, ind.HOUSING_CONTROLLED), None,
             "PV-AN-2026-0413", TraffickingStatus.NOTED),
            ("antwerp_police", (ind.APPEARS_MINOR,), None, "PV-AN-2026-0398",
             TraffickingStatus.CLOSED),
            ("federal_police", (ind.DEBT_BONDAGE, ind.DECEPTION_AT_RECRUITMENT), None,
             "FGP-AN-2026-118", TraffickingStatus.REFERRED),
            ("ghent_police", (ind.RESTRICTED_MOVEMENT,), None, "PV-GE-2026-0077",
             TraffickingStatus.NOTED),
            ("ghapro", (ind.DEBT_BONDAGE, ind.THREATS), None, self.client_refs["ghapro"][1],
             TraffickingStatus.NOTED),
            ("violett", (ind.ISOLATION, ind.EXCESSIVE_HOURS), None,
             self.client_refs["violett"][1], TraffickingStatus.REFERRED),
        ]  # fmt: skip
        for _ in range(self.scale):
            for org, indicators, worker, ref, status in plans:
                recorded = self.ago(DAY * 3, DAY * 80)
                self.suspicions.append(
                    TraffickingSuspicion(
                        id=self.new_id(),
                        org_id=self.org[org],
                        indicators=[i.value for i in indicators],
                        sex_worker_id=worker.id if worker else None,
                        client_ref=ref,
                        status=status.value,
                        city=next(o.city for o in _ORGANISATIONS if o.key == org),
                        recorded_at=recorded,
                        updated_at=recorded + DAY * self.rng.randint(0, 2),
                    )
                )

    def build_helpdesk(self) -> None:
        # Invented requests, in the helpdesk's words; no names, nobody identifiable.
        texts = {
            HelpdeskTopic.PROFESSIONALISATION: "Vraag over het zelfstandigenstatuut en een "
            "btw-nummer voor escortwerk.",
            HelpdeskTopic.VIOLENCE: "Klant werd agressief na afloop; wil weten welke stappen "
            "mogelijk zijn zonder aangifte.",
            HelpdeskTopic.RIGHTS: "Question sur le contrat de travail prévu par la loi de 2024 "
            "et le droit de refuser un client.",
            HelpdeskTopic.DISCRIMINATION: "Bank sloot de rekening zonder uitleg na vermelding "
            "van het beroep.",
            HelpdeskTopic.OTHER: "Question about travelling to a workshop of the union.",
        }
        channels = list(HelpdeskChannel)
        statuses = list(HelpdeskStatus)
        for n in range(12 * self.scale):
            topic = list(HelpdeskTopic)[n % len(HelpdeskTopic)]
            day = self.today - timedelta(days=self.rng.randint(0, 120))
            recorded = min(datetime.combine(day, time(11), tzinfo=UTC), self.now)
            self.helpdesk.append(
                HelpdeskRequest(
                    id=self.new_id(),
                    union_id=self.org["utsopi"],
                    received_on=day,
                    topic=topic.value,
                    channel=channels[n % len(channels)].value,
                    status=statuses[n % len(statuses)].value,
                    text=texts[topic],
                    recorded_at=recorded,
                    updated_at=recorded,
                )
            )

    def build_consents(self) -> None:
        antwerp = [w for w in self.workers if w.city == ANTWERP]
        ghent = [w for w in self.workers if w.city == GHENT]
        plans = [
            (antwerp[0], "ghapro", "*", False),
            (ghent[0], "violett", "report", False),
            (antwerp[1], "boysproject", "*", True),
        ]
        for worker, ngo, scope, revoked in plans:
            granted = self.ago(DAY * 10, DAY * 80)
            self.consents.append(
                Consent(
                    id=self.new_id(),
                    sex_worker_id=worker.id,
                    grantee_id=self.org[ngo],
                    purpose="care",
                    scope=scope,
                    granted_at=granted,
                    revoked_at=granted + DAY * self.rng.randint(2, 8) if revoked else None,
                )
            )

    def build_investigations(self) -> None:
        """One open case of the federal judicial police in Antwerp (DEMO_CASE), for the
        Antwerp prosecutor's office, naming one invented worker: the demo's sex worker, so
        that /me shows reads made under it as restricted until it closes."""
        opened = self.now - DAY * 30
        case = Investigation(
            id=self.new_id(),
            reference=DEMO_CASE,
            prosecutor_org_id=self.org["antwerp_prosecutor"],
            police_org_id=self.org["federal_police"],
            opened_at=opened,
            expires_at=self.now + DAY * 90,
            updated_at=opened,
        )
        self.investigations.append(case)
        self.investigation_subjects.append(
            InvestigationSubject(investigation_id=case.id, sex_worker_id=self.workers[0].id)
        )

    # -- one person across cities ----------------------------------------------------------

    def build_participations(self) -> None:
        """Each worker takes part in the city of the record: registered by the police in
        Antwerp (compulsory), by themself in Ghent (voluntary, no identity). One Antwerp
        worker also works in Ghent, without a second registration."""
        for worker in self.workers:
            police = worker.city in _PANDKALENDER_CITIES
            self.participations.append(
                Participation(
                    id=self.new_id(),
                    sex_worker_id=worker.id,
                    city=worker.city,
                    regime="compulsory" if police else "voluntary",
                    how="police" if police else "self",
                    status="active",
                    started_at=worker.created_at,
                )
            )
        antwerp = [w for w in self.workers if w.city == ANTWERP]
        self.participations.append(
            Participation(
                id=self.new_id(),
                sex_worker_id=antwerp[2].id,
                city=GHENT,
                regime="voluntary",
                how="self",
                status="active",
                started_at=self.ago(DAY * 5, DAY * 30),
            )
        )

    def build_pairings(self) -> None:
        """The first self-registered worker of Ghent paired with a Ghent operator (and a
        pairing the worker revoked with another); the demo login (Antwerp) revoked one.
        Codes are never stored, only pairings."""
        ghent = [w for w in self.workers if w.city == GHENT]
        antwerp = [w for w in self.workers if w.city == ANTWERP]
        plans = [
            (ghent[0], "operator_gentse_vensters", False),
            (ghent[0], "operator_heuvelpoort", True),
            (antwerp[0], "operator_scheldevitrines", True),  # the demo login's, revoked
        ]
        for worker, operator, revoked in plans:
            made = self.ago(DAY * 10, DAY * 40)
            self.pairings.append(
                Pairing(
                    id=self.new_id(),
                    sex_worker_id=worker.id,
                    organisation_id=self.org[operator],
                    code_hash=None,
                    status="revoked" if revoked else "active",
                    created_at=made,
                    expires_at=made + DAY,
                    redeemed_at=made + HOUR,
                    revoked_at=made + DAY * 3 if revoked else None,
                )
            )


async def seed(
    session: AsyncSession,
    keyring: Keyring,
    *,
    scale: int = 1,
    seed: int = 7,
    now: datetime | None = None,
) -> DemoData:
    """Insert a demo data set and commit it. `scale` multiplies premises, workers and activity.

    Meant for an empty database: organisations are created, not looked up.
    """
    if scale < 1:
        raise ValueError("scale must be at least 1")
    if now is None:
        now = utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    demo = _Demo(keyring, random.Random(seed), now.astimezone(UTC), scale)  # noqa: S311 (no secrets)
    demo.build_organisations()
    demo.build_premises()
    demo.build_workers()
    demo.build_calendar()
    demo.build_inspections()
    demo.build_measures()
    demo.build_reports()
    demo.build_alerts()
    demo.build_care()
    demo.build_referrals()
    demo.build_consents()
    demo.build_investigations()
    demo.build_participations()
    demo.build_pairings()
    demo.build_care_format()
    demo.build_outside_referrals()
    demo.build_suspicions()
    demo.build_helpdesk()
    demo.build_employers()

    counts: dict[str, int] = {}
    for table, rows in demo.tables():
        session.add_all(rows)
        await session.flush()
        counts[table] = len(rows)
    await session.commit()
    return DemoData(
        organisation_ids=dict(demo.org),
        operator_keys=tuple(o.key for o in _ORGANISATIONS if o.kind is OrganisationKind.OPERATOR),
        sex_worker_ids=[w.id for w in demo.workers],
        counts=counts,
    )
