"""The arguments of the list fields, as SQL conditions and sort orders.

These narrow what the caller asks for; the policy's row filter is added by the read path
whatever the arguments say, so an argument can never widen a view.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import col

from hub.errors import Code, HubError
from hub.models import (
    AccessLogEntry,
    AccessLogSubject,
    Alert,
    CareContact,
    Inspection,
    Measure,
    Premises,
    RentalAgreement,
    Report,
    ShiftRegistration,
)
from hub.models.enums import Branch, MeasureStatus, ReportStatus

# (column, descending) per list; the id is added last as the tie-breaker.
Order = list[tuple[str, bool]]
PREMISES_ORDER: Order = [("city", False), ("address", False)]
SHIFTS_ORDER: Order = [("starts_at", False)]
RENTALS_ORDER: Order = [("starts_at", False)]
INSPECTIONS_ORDER: Order = [("occurred_at", True)]
MEASURES_ORDER: Order = [("opened_at", True)]
REPORTS_ORDER: Order = [("filed_at", True)]
CARE_ORDER: Order = [("contact_date", True)]
REFERRALS_ORDER: Order = [("created_at", True)]
ACCESS_LOG_ORDER: Order = [("at", True)]


def moment(value: datetime, name: str) -> datetime:
    """An argument that is a moment: it must carry a UTC offset and exist in UTC."""
    if value.tzinfo is None:
        raise HubError(Code.BAD_USER_INPUT, f"{name} needs a UTC offset, e.g. 2026-01-01T20:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise HubError(
            Code.BAD_USER_INPUT, f"{name} lies outside the years 1 to 9999 in UTC"
        ) from None


def premises(city: str | None) -> list[Any]:
    return [col(Premises.city) == city] if city else []


def shifts(premises_id: str | None, start: datetime | None, end: datetime | None) -> list[Any]:
    out: list[Any] = []
    if premises_id:
        out.append(col(ShiftRegistration.premises_id) == premises_id)
    if start:
        out.append(col(ShiftRegistration.ends_at) > moment(start, "from"))
    if end:
        out.append(col(ShiftRegistration.starts_at) < moment(end, "to"))
    return out


def rental_agreements(premises_id: str | None) -> list[Any]:
    return [col(RentalAgreement.premises_id) == premises_id] if premises_id else []


def inspections(
    city: str | None, branch: Branch | None, start: datetime | None, end: datetime | None
) -> list[Any]:
    out: list[Any] = []
    if city:
        out.append(col(Inspection.city) == city)
    if branch:
        out.append(col(Inspection.branch) == Branch(branch).value)
    if start:
        out.append(col(Inspection.occurred_at) >= moment(start, "from"))
    if end:
        out.append(col(Inspection.occurred_at) < moment(end, "to"))
    return out


def measures(city: str | None, status: MeasureStatus | None) -> list[Any]:
    out: list[Any] = []
    if city:
        out.append(col(Measure.city) == city)
    if status:
        out.append(col(Measure.status) == MeasureStatus(status).value)
    return out


def reports(status: ReportStatus | None) -> list[Any]:
    return [col(Report.status) == ReportStatus(status).value] if status else []


def alerts(city: str | None, active_only: bool, now: datetime) -> list[Any]:
    out: list[Any] = []
    if city:
        out.append(col(Alert.city) == city)
    if active_only:
        out.append(col(Alert.valid_until) > now)
    return out


def care_contacts(start: date | None, end: date | None) -> list[Any]:
    out: list[Any] = []
    if start:
        out.append(col(CareContact.contact_date) >= start)
    if end:
        out.append(col(CareContact.contact_date) <= end)
    return out


def _concerns(sex_worker_id: str) -> Any:
    return col(AccessLogEntry.subjects).any(col(AccessLogSubject.sex_worker_id) == sex_worker_id)


def access_log(subject_id: str | None, organisation_id: str | None) -> list[Any]:
    out: list[Any] = []
    if subject_id:
        out.append(_concerns(subject_id))
    if organisation_id:
        out.append(col(AccessLogEntry.organisation_id) == organisation_id)
    return out


def my_access_log(sex_worker_id: str) -> list[Any]:
    """A data subject's own view: the entries that concern the worker."""
    return [_concerns(sex_worker_id)]
