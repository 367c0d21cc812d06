"""Domain events in the CloudEvents 1.0 envelope (structured JSON mode).

`type` is `be.hub.<resource>.<verb>.v1`; extension attributes `purpose` and
`policyversion`; `subject` is the record id, which is also the partition key. The `data`
in the outbox is the record's fields (never an encrypted identity); every consumer sees it
only projected through its own policy (hub/events/projection.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import inspect as sa_inspect

from hub.models.base import new_id

SOURCE = "urn:be:hub"

# Event type -> the resource its data is a record of.
EVENT_TYPES: dict[str, str] = {
    "be.hub.sex_worker.registered.v1": "SexWorker",
    "be.hub.sex_worker.identity_erased.v1": "SexWorker",
    "be.hub.rental.recorded.v1": "RentalAgreement",
    "be.hub.rental.confirmed.v1": "RentalAgreement",
    "be.hub.shift.registered.v1": "ShiftRegistration",
    "be.hub.shift.cancelled.v1": "ShiftRegistration",
    "be.hub.shift.validated.v1": "ShiftRegistration",
    "be.hub.certificate.status_changed.v1": "Certificate",
    "be.hub.inspection.recorded.v1": "Inspection",
    "be.hub.measure.opened.v1": "Measure",
    "be.hub.measure.decided.v1": "Measure",
    "be.hub.measure.advanced.v1": "Measure",
    "be.hub.report.filed.v1": "Report",
    "be.hub.report.replied.v1": "Report",
    "be.hub.alert.issued.v1": "Alert",
    "be.hub.care_contact.recorded.v1": "CareContact",
    "be.hub.referral.made.v1": "Referral",
    "be.hub.consent.granted.v1": "Consent",
    "be.hub.consent.revoked.v1": "Consent",
    "be.hub.policy.activated.v1": "PolicyChange",
    "be.hub.employer.recognition_changed.v1": "Organisation",
    "be.hub.employment.recorded.v1": "EmploymentRelation",
    "be.hub.employment.ended.v1": "EmploymentRelation",
}

# Columns that never enter an event: ciphertext, and links that only serve the hub (an
# anonymous report's follow-up code hash is for its holder alone).
# Never in any event, internal or a partner's: the identity ciphertext, secrets, a sealed
# name, and the gender a worker declared (shown to the worker alone: guardrail
# gender-only-to-the-worker).
NEVER_IN_EVENTS = frozenset(
    {"identity", "follow_up_hash", "target_name", "target_name_key", "gender"}
)


def _json_value(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def snapshot(row: Any) -> dict[str, Any]:
    """The record's column values, JSON-ready, without what never leaves the hub."""
    out: dict[str, Any] = {}
    for column in sa_inspect(type(row)).columns:
        if column.key in NEVER_IN_EVENTS:
            continue
        out[column.key] = _json_value(getattr(row, column.key))
    return out


def make_event(
    type_: str,
    *,
    subject: str,
    data: dict[str, Any],
    time: datetime,
    purpose: str = "",
    policy_version: str = "",
    event_id: str | None = None,
) -> dict[str, Any]:
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_}")
    event = {
        "specversion": "1.0",
        "id": event_id or new_id(),
        "source": SOURCE,
        "type": type_,
        "subject": subject,
        "time": time.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
    if purpose:
        event["purpose"] = purpose
    if policy_version:
        event["policyversion"] = policy_version
    return event


def encode(event: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (as `json.dumps(..., separators=(",", ":"), ensure_ascii=False)`)."""
    return orjson.dumps(event)
