"""SQLModel tables, one module per domain area. Importing this package registers them all."""

from hub.models.audit import (
    AccessLogEntry,
    AccessLogSubject,
    AuditCheckpoint,
    AuditHead,
    AuditTreeHash,
)
from hub.models.care import CareContact, Referral
from hub.models.consent import Consent
from hub.models.events import DeadLetter, InboxEvent, OutboxEvent
from hub.models.organisation import ApiClient, Organisation
from hub.models.policy import PolicyApproval, PolicyChange, PolicyState, PolicyVersion
from hub.models.premises import Certificate, Premises, RentalAgreement, ShiftRegistration
from hub.models.reports import Alert, Report, ReportReply, ReportShare
from hub.models.safety import Inspection, Measure, MeasureTransition
from hub.models.sex_worker import DataKey, SexWorker

__all__ = [
    "AccessLogEntry",
    "AccessLogSubject",
    "AuditCheckpoint",
    "AuditHead",
    "AuditTreeHash",
    "Alert",
    "ApiClient",
    "CareContact",
    "Certificate",
    "Consent",
    "DataKey",
    "DeadLetter",
    "InboxEvent",
    "Inspection",
    "Measure",
    "MeasureTransition",
    "Organisation",
    "OutboxEvent",
    "PolicyApproval",
    "PolicyChange",
    "PolicyState",
    "PolicyVersion",
    "Premises",
    "Referral",
    "RentalAgreement",
    "Report",
    "ReportReply",
    "ReportShare",
    "SexWorker",
    "ShiftRegistration",
]
