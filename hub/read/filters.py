"""The arguments of the list fields, as SQL conditions and sort orders.

These narrow what the caller asks for; the policy's row filter is added by the read path
whatever the arguments say, so an argument can never widen a view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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
from hub.policy.vocabulary import PURPOSES, ROLES
from hub.services.base import clean_text

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
SUSPICIONS_ORDER: Order = [("updated_at", True)]
HELPDESK_ORDER: Order = [("received_on", True)]
EMPLOYMENT_ORDER: Order = [("starts_on", True)]
ACCESS_LOG_ORDER: Order = [("at", True)]
INVESTIGATIONS_ORDER: Order = [("opened_at", True)]


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


@dataclass(frozen=True)
class Arg:
    """One filtering argument of a list field: its GraphQL name, how its value is checked
    and normalised, and the SQL condition it adds when given (a false-y value adds none).

    The condition takes either the value itself (the generic path) or a bound parameter
    standing for it (the compiled path), so both paths filter alike."""

    name: str
    condition: Callable[[Any], Any]
    convert: Callable[[Any], Any] = lambda value: value
    sealed: bool = False  # an id, sealed for the caller: unsealed before use


def conditions(args: Sequence[Arg], values: Mapping[str, Any]) -> list[Any]:
    return [a.condition(a.convert(values[a.name])) for a in args if values.get(a.name)]


def _moment(name: str) -> Callable[[Any], Any]:
    return lambda value: moment(value, name)


def place(value: str, name: str = "city") -> str:
    """A city or zone named in a filter: free text like any other (NFC, no control or
    text-direction characters, at most 80 characters), or BAD_USER_INPUT."""
    try:
        return clean_text(value, max_len=80)
    except ValueError as error:
        raise HubError(Code.BAD_USER_INPUT, f"{name} {error}") from None


PREMISES_ARGS = (Arg("city", lambda v: col(Premises.city) == v, place),)
SHIFTS_ARGS = (
    Arg("premisesId", lambda v: col(ShiftRegistration.premises_id) == v, sealed=True),
    Arg("from", lambda v: col(ShiftRegistration.ends_at) > v, _moment("from")),
    Arg("to", lambda v: col(ShiftRegistration.starts_at) < v, _moment("to")),
)
RENTALS_ARGS = (Arg("premisesId", lambda v: col(RentalAgreement.premises_id) == v, sealed=True),)
INSPECTIONS_ARGS = (
    Arg("city", lambda v: col(Inspection.city) == v, place),
    Arg("branch", lambda v: col(Inspection.branch) == v, lambda b: Branch(b).value),
    Arg("from", lambda v: col(Inspection.occurred_at) >= v, _moment("from")),
    Arg("to", lambda v: col(Inspection.occurred_at) < v, _moment("to")),
)
MEASURES_ARGS = (
    Arg("city", lambda v: col(Measure.city) == v, place),
    Arg("status", lambda v: col(Measure.status) == v, lambda s: MeasureStatus(s).value),
)
REPORTS_ARGS = (Arg("status", lambda v: col(Report.status) == v, lambda s: ReportStatus(s).value),)
# `activeOnly` compares with the request's clock, which the caller passes as its value.
ALERTS_ARGS = (
    Arg("city", lambda v: col(Alert.city) == v, place),
    Arg("activeOnly", lambda now: col(Alert.valid_until) > now),
)
CARE_ARGS = (
    Arg("from", lambda v: col(CareContact.contact_date) >= v),
    Arg("to", lambda v: col(CareContact.contact_date) <= v),
)


def premises(city: str | None) -> list[Any]:
    return conditions(PREMISES_ARGS, {"city": city})


def shifts(premises_id: str | None, start: datetime | None, end: datetime | None) -> list[Any]:
    return conditions(SHIFTS_ARGS, {"premisesId": premises_id, "from": start, "to": end})


def rental_agreements(premises_id: str | None) -> list[Any]:
    return conditions(RENTALS_ARGS, {"premisesId": premises_id})


def inspections(
    city: str | None, branch: Branch | None, start: datetime | None, end: datetime | None
) -> list[Any]:
    return conditions(INSPECTIONS_ARGS, {"city": city, "branch": branch, "from": start, "to": end})


def measures(city: str | None, status: MeasureStatus | None) -> list[Any]:
    return conditions(MEASURES_ARGS, {"city": city, "status": status})


def reports(status: ReportStatus | None) -> list[Any]:
    return conditions(REPORTS_ARGS, {"status": status})


def alerts(city: str | None, active_only: bool, now: datetime) -> list[Any]:
    return conditions(ALERTS_ARGS, {"city": city, "activeOnly": now if active_only else None})


def care_contacts(start: date | None, end: date | None) -> list[Any]:
    return conditions(CARE_ARGS, {"from": start, "to": end})


def _concerns(sex_worker_id: str) -> Any:
    return col(AccessLogEntry.subjects).any(col(AccessLogSubject.sex_worker_id) == sex_worker_id)


def access_log(
    subject_id: str | None,
    organisation_id: str | None,
    *,
    role: str | None = None,
    purpose: str | None = None,
    resource: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Any]:
    """The privacy officers' search: every filter given must hold; `end` is exclusive."""
    out: list[Any] = []
    if subject_id:
        out.append(_concerns(subject_id))
    if organisation_id:
        out.append(col(AccessLogEntry.organisation_id) == organisation_id)
    if role:
        # roles are stored comma-joined; match one whole role
        joined = "," + col(AccessLogEntry.roles) + ","
        out.append(joined.contains("," + role + ",", autoescape=True))
    if purpose:
        out.append(col(AccessLogEntry.purpose) == purpose)
    if resource:
        out.append(col(AccessLogEntry.resource) == resource)
    if start is not None:
        out.append(col(AccessLogEntry.at) >= start)
    if end is not None:
        out.append(col(AccessLogEntry.at) < end)
    return out


def my_access_log(sex_worker_id: str) -> list[Any]:
    """A data subject's own view: the entries that concern the worker."""
    return [_concerns(sex_worker_id)]


MAX_RESOURCE_NAME = 80


def access_log_search(
    role: str | None,
    purpose: str | None,
    resource: str | None,
    start: datetime | None,
    end: datetime | None,
) -> dict[str, Any]:
    """The access-log search's arguments, checked: known roles and purposes, a resource
    name of letters, a period with its end after its start."""
    if role is not None and role not in ROLES:
        raise HubError(Code.BAD_USER_INPUT, "role: not a known role")
    if purpose is not None and purpose not in PURPOSES:
        raise HubError(Code.BAD_USER_INPUT, "purpose: not a known purpose")
    if resource is not None and (
        not resource.isascii() or not resource.isalpha() or len(resource) > MAX_RESOURCE_NAME
    ):
        raise HubError(Code.BAD_USER_INPUT, "resource: a resource name such as SexWorker")
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise HubError(Code.BAD_USER_INPUT, f"{name}: give a time zone")
    if start is not None and end is not None and end <= start:
        raise HubError(Code.BAD_USER_INPUT, "to: must be after from")
    return {"role": role, "purpose": purpose, "resource": resource, "start": start, "end": end}
