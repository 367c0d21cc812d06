"""SQLModel tables, one module per domain area. Importing this package registers them all."""

from hub.models.audit import (
    AccessLogEntry,
    AccessLogSubject,
    AuditCheckpoint,
    AuditHead,
    AuditTreeHash,
)
from hub.models.care import CareContact, HelpdeskRequest, Referral, TraffickingSuspicion
from hub.models.consent import Consent
from hub.models.employment import EmploymentRelation
from hub.models.events import DeadLetter, InboxEvent, OutboxEvent
from hub.models.investigation import Investigation, InvestigationSubject
from hub.models.organisation import ApiClient, Organisation
from hub.models.outage import Outage
from hub.models.participation import Pairing, Participation
from hub.models.people import AuthorizationCode, ConsoleLogin, ConsoleSession, Person
from hub.models.policy import PolicyApproval, PolicyChange, PolicyState, PolicyVersion
from hub.models.premises import Certificate, Premises, RentalAgreement, ShiftRegistration
from hub.models.reports import Alert, FollowUpAttempt, Report, ReportReply, ReportShare
from hub.models.safety import Inspection, Measure, MeasureTransition
from hub.models.sex_worker import DataKey, SexWorker
from hub.models.statistics import PublishedReport

__all__ = [
    "AccessLogEntry",
    "AccessLogSubject",
    "AuditCheckpoint",
    "AuditHead",
    "AuditTreeHash",
    "Alert",
    "ApiClient",
    "AuthorizationCode",
    "CareContact",
    "Certificate",
    "Consent",
    "ConsoleLogin",
    "ConsoleSession",
    "DataKey",
    "DeadLetter",
    "HelpdeskRequest",
    "EmploymentRelation",
    "InboxEvent",
    "Inspection",
    "Investigation",
    "InvestigationSubject",
    "Measure",
    "MeasureTransition",
    "Organisation",
    "OutboxEvent",
    "Outage",
    "Pairing",
    "Participation",
    "Person",
    "PolicyApproval",
    "PolicyChange",
    "PolicyState",
    "PolicyVersion",
    "PublishedReport",
    "Premises",
    "Referral",
    "RentalAgreement",
    "FollowUpAttempt",
    "Report",
    "ReportReply",
    "ReportShare",
    "SexWorker",
    "ShiftRegistration",
    "TraffickingSuspicion",
]
