"""Workflow rules of the hub's mutations (issue #2, point 4), on SQLite and PostgreSQL.

For every rule: a test of the refusal (the exact `extensions.code`, and nothing written to
the database) and a test of the allowed path (the returned data and the database state).

Speed: this module overrides the per-test `hub` fixture with one seeded hub per backend for
the whole module; a fresh database per test would cost ~1.4 s x 2 backends x every test.
Tests stay independent and order-free because each one builds what it changes (its own
premises, certificate and worker via `make_site`, unique text markers for reports, alerts,
measures, inspections and care contacts) and only asserts on those rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from hub.auth.clients import register_client
from hub.demo_clients import SELF_SERVICE_ORG
from hub.models import (
    Alert,
    ApiClient,
    CareContact,
    Certificate,
    DataKey,
    Inspection,
    Measure,
    MeasureTransition,
    Organisation,
    Premises,
    Referral,
    RentalAgreement,
    Report,
    ReportReply,
    ReportShare,
    SexWorker,
    ShiftRegistration,
)
from tests.conftest import BACKENDS, Hub, Templates, _start

ANTWERP = "Antwerpen"
GHENT = "Gent"
OPERATOR = "demo-operator"  # Vitrine Beheer BV, Antwerp
POLICE = "demo-police-antwerp"
POLICE_GHENT = "demo-police-ghent"
CITY = "demo-city-antwerp"
ENFORCEMENT = "demo-enforcement-antwerp"
WORKER = "demo-worker"  # hub.demo.sex_worker_ids[0], Antwerp
GHAPRO = "demo-ngo-ghapro"  # Antwerp NGO
VIOLETT = "demo-ngo-violett"  # Ghent NGO
ENFORCEMENT_GHENT = "test-enforcement-ghent"  # registered on demand: the demo has none


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    """One seeded hub per backend for this module (see the module docstring)."""
    yield from _start(templates, request.param, tmp_path_factory.mktemp("workflows"), seeded=True)


# --- helpers: database ---------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def marker(prefix: str) -> str:
    """A unique text, so that a test finds (or does not find) exactly its own rows."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | date) -> str:
    return value.isoformat()


def insert(hub: Hub, *rows: Any) -> None:
    async def go() -> None:
        async with hub.db.session() as session:
            session.add_all(rows)
            await session.commit()

    hub.run(go())


def scalars(hub: Hub, stmt: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with hub.db.session() as session:
            return list((await session.execute(stmt)).scalars().all())

    return hub.run(go())  # type: ignore[no-any-return]


def rows(hub: Hub, stmt: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with hub.db.session() as session:
            return list((await session.execute(stmt)).all())

    return hub.run(go())  # type: ignore[no-any-return]


def count(hub: Hub, model: Any, *where: Any) -> int:
    return scalars(hub, select(func.count()).select_from(model).where(*where))[0]  # type: ignore[no-any-return]


def get(hub: Hub, model: Any, row_id: str) -> Any:
    async def go() -> Any:
        async with hub.db.session() as session:
            return await session.get(model, row_id)

    return hub.run(go())


def org(hub: Hub, key: str) -> str:
    assert hub.demo is not None
    return hub.demo.organisation_ids[key]


def ensure_client(hub: Hub, client_id: str, organisation_id: str, **kw: Any) -> str:
    """Register an API client once per hub (the hub is shared by this module's tests)."""

    async def go() -> None:
        async with hub.db.session() as session:
            if await session.get(ApiClient, client_id) is None:
                await register_client(
                    session, client_id=client_id, organisation_id=organisation_id, **kw
                )

    hub.run(go())
    return client_id


def worker_client(hub: Hub, sex_worker_id: str) -> str:
    """A sex worker's own client, on the city's self-service organisation (Antwerp)."""
    self_org = scalars(
        hub, select(col(Organisation.id)).where(col(Organisation.name) == SELF_SERVICE_ORG)
    )
    return ensure_client(
        hub,
        f"test-worker-{sex_worker_id[:8]}",
        self_org[0],
        roles=["sex_worker"],
        purposes=["self_service"],
        sex_worker_id=sex_worker_id,
    )


def enforcement_ghent(hub: Hub) -> str:
    return ensure_client(
        hub,
        ENFORCEMENT_GHENT,
        org(hub, "ghent_city"),
        roles=["city_enforcement"],
        purposes=["enforcement"],
    )


# --- helpers: GraphQL ----------------------------------------------------------------------


def refused(hub: Hub, query: str, variables: dict[str, Any], code: str, **kw: Any) -> str:
    """Assert that the request is refused with `code`; return the error message."""
    body = hub.gql(query, variables, **kw)
    assert body.get("errors"), body
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert body.get("data") is None, body
    return str(error["message"])


def nodes(hub: Hub, field: str, selection: str, **kw: Any) -> list[dict[str, Any]]:
    """Every node of a connection, page by page."""
    query = (
        f"query($after: String) {{ {field}(first: 100, after: $after) {{ "
        f"edges {{ node {{ {selection} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
    found: list[dict[str, Any]] = []
    after = None
    while True:
        page = hub.ok(query, {"after": after}, **kw)[field]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {i["id"] for i in items}


# --- helpers: premises, workers, rentals -----------------------------------------------------


@dataclass
class Site:
    """Premises of this test only, with a certificate and a worker who rents there."""

    premises_id: str
    windows: int
    worker_id: str
    # Hour-aligned, 10 days ahead: clear of the demo calendar (within 7 days of now).
    base: datetime

    def at(self, hours: float) -> datetime:
        return self.base + timedelta(hours=hours)

    def shift(self, start_h: float, end_h: float, *, window: int = 1) -> dict[str, Any]:
        return {
            "premisesId": self.premises_id,
            "window": window,
            "sexWorkerId": self.worker_id,
            "startsAt": iso(self.at(start_h)),
            "endsAt": iso(self.at(end_h)),
        }


def make_site(
    hub: Hub,
    *,
    operator: str = "operator_vitrine_beheer",
    certificate: str | None = "granted",
    valid_until: date | None = None,
    windows: int = 4,
    base: datetime | None = None,
) -> Site:
    """`base`: the hour 0 of the site's rentals and shifts (default: 10 days ahead); a shift
    the police validate must be in progress (`soon()`)."""
    today = now().date()
    premises = Premises(
        id=new_id(),
        address=marker("Teststraat"),
        city=ANTWERP,
        zone="Schipperskwartier",
        kind="window",
        windows=windows,
        operator_id=org(hub, operator),
    )
    cert = Certificate(
        premises_id=premises.id,
        status=certificate or "granted",
        valid_from=today - timedelta(days=30),
        valid_until=valid_until or today + timedelta(days=180),
        decision="test",
    )
    worker = SexWorker(
        id=new_id(),
        working_name=marker("Test"),
        city=ANTWERP,
        adult_verified=False,
        languages=["nl"],
    )
    insert(hub, premises, worker)
    if certificate is not None:
        insert(hub, cert)
    if base is None:
        base = (now() + timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
    return Site(premises.id, windows, worker.id, base)


def soon() -> datetime:
    """A site's hour 0 for a shift the police validate: it starts within the tolerance
    of Antwerp's regime (PT30M), so it counts as taking place."""
    return (now() + timedelta(minutes=10)).replace(microsecond=0)


def set_status(hub: Hub, shift_id: str, status: str) -> None:
    """Set-up, not under test: a shift's status written straight to the database."""

    async def go() -> None:
        async with hub.db.session() as session:
            row = await session.get(ShiftRegistration, shift_id)
            assert row is not None
            row.status = status
            await session.commit()

    hub.run(go())


def add_rental(
    hub: Hub, site: Site, start_h: float, end_h: float, *, window: int = 1, confirmed: bool = True
) -> str:
    """A rental agreement written straight to the database (set-up, not under test)."""
    row = RentalAgreement(
        id=new_id(),
        premises_id=site.premises_id,
        window=window,
        sex_worker_id=site.worker_id,
        starts_at=site.at(start_h),
        ends_at=site.at(end_h),
        confirmed=confirmed,
        confirmed_at=now() if confirmed else None,
    )
    insert(hub, row)
    return row.id


def add_shift(hub: Hub, site: Site, start: datetime, end: datetime, status: str) -> str:
    row = ShiftRegistration(
        id=new_id(),
        premises_id=site.premises_id,
        window=1,
        sex_worker_id=site.worker_id,
        starts_at=start,
        ends_at=end,
        status=status,
    )
    insert(hub, row)
    return row.id


def certificate_of(hub: Hub, site: Site) -> Any:
    stmt = select(Certificate).where(col(Certificate.premises_id) == site.premises_id)
    return scalars(hub, stmt)[0]


def shifts_on(hub: Hub, site: Site) -> int:
    return count(hub, ShiftRegistration, ShiftRegistration.premises_id == site.premises_id)


# --- queries -------------------------------------------------------------------------------

RECORD_RENTAL = """
mutation($input: RentalAgreementInput!) {
  recordRentalAgreement(input: $input) {
    id window startsAt endsAt confirmed confirmedAt premises { id } sexWorker { id workingName }
  }
}"""
CONFIRM_RENTAL = """
mutation($id: ID!) { confirmRentalAgreement(id: $id) { id confirmed confirmedAt } }"""
REGISTER_SHIFT = """
mutation($input: ShiftInput!) {
  registerShift(input: $input) {
    id window startsAt endsAt status rentalAgreementId premises { id } sexWorker { id }
  }
}"""
VALIDATE_SHIFT = """
mutation($id: ID!, $input: ValidationInput!) {
  validateShift(id: $id, input: $input) { id status validatedAt adultVerifiedOnSite }
}"""
CANCEL_SHIFT = "mutation($id: ID!) { cancelShift(id: $id) { id status } }"
VALIDATED = {"identityChecked": True, "adultVerified": True}

REGISTER_WORKER = """
mutation($input: RegisterSexWorkerInput!) {
  registerSexWorker(input: $input) {
    id workingName adultVerified languages city
    identity { legalName birthDate nationality documentNumber }
  }
}"""

OPEN_MEASURE = """
mutation($input: MeasureInput!) {
  openMeasure(input: $input) {
    id kind city targetName status amountCents transitions { fromStatus toStatus note }
  }
}"""
ADVANCE_MEASURE = """
mutation($id: ID!, $status: MeasureStatus!, $note: String) {
  advanceMeasure(id: $id, status: $status, note: $note) {
    id status transitions { fromStatus toStatus note at }
  }
}"""

SET_CERTIFICATE = """
mutation($premisesId: ID!, $status: CertificateStatus!, $reason: String!) {
  setCertificateStatus(premisesId: $premisesId, status: $status, reason: $reason) {
    id status decision validFrom validUntil premises { id }
  }
}"""

FILE_REPORT = """
mutation($input: ReportInput!) {
  fileReport(input: $input) { id anonymous status city text author { id } sharedWith { id } }
}"""
REPLY_REPORT = """
mutation($id: ID!, $text: String!) {
  replyToReport(id: $id, text: $text) {
    id status replies { text byReporter organisation { id } }
  }
}"""
REPORT_FIELDS = "id anonymous status text author { id }"

ISSUE_ALERT = """
mutation($input: AlertInput!) {
  issueAlert(input: $input) { id audience city severity textNl validUntil issuedBy { id } }
}"""
ALERTS = """
query($city: String, $activeOnly: Boolean!) {
  alerts(city: $city, activeOnly: $activeOnly) { id audience city textNl validUntil }
}"""

RECORD_CARE = """
mutation($input: CareContactInput!) {
  recordCareContact(input: $input) {
    id clientRef contactDate kind location branch city ngo { id }
  }
}"""
REFER_CLIENT = """
mutation($input: ReferralInput!) {
  referClient(input: $input) {
    id clientRef reason consent fromOrganisation { id } toOrganisation { id }
  }
}"""

RECORD_INSPECTION = """
mutation($input: InspectionInput!) {
  recordInspection(input: $input) {
    id city zone branch occurredAt personsChecked outcome
    administrativeArrests judicialArrests policeOrg { id }
  }
}"""


# === pandkalender: rentals and shifts ======================================================


def test_shift_happy_path_rental_confirmation_registration_validation_cancellation(hub):
    site = make_site(hub, base=soon())
    # The operator records a rental of window 2 for three days.
    rental = hub.ok(
        RECORD_RENTAL,
        {
            "input": {
                "premisesId": site.premises_id,
                "window": 2,
                "sexWorkerId": site.worker_id,
                "startsAt": iso(site.at(0)),
                "endsAt": iso(site.at(72)),
            }
        },
        as_=OPERATOR,
    )["recordRentalAgreement"]
    assert rental["confirmed"] is False
    assert rental["confirmedAt"] is None
    assert rental["window"] == 2
    assert rental["premises"]["id"] == site.premises_id
    assert rental["sexWorker"]["id"] == site.worker_id
    assert datetime.fromisoformat(rental["startsAt"]) == site.at(0)
    stored = get(hub, RentalAgreement, rental["id"])
    assert (stored.premises_id, stored.window, stored.confirmed) == (site.premises_id, 2, False)

    # Not confirmed yet: no shift.
    refused(hub, REGISTER_SHIFT, {"input": site.shift(0, 8, window=2)}, "CONFLICT", as_=OPERATOR)

    # The worker confirms it.
    confirmed = hub.ok(CONFIRM_RENTAL, {"id": rental["id"]}, as_=worker_client(hub, site.worker_id))
    assert confirmed["confirmRentalAgreement"]["confirmed"] is True
    assert confirmed["confirmRentalAgreement"]["confirmedAt"] is not None
    stored = get(hub, RentalAgreement, rental["id"])
    assert stored.confirmed is True and stored.confirmed_at is not None

    # The operator registers a shift inside the rental.
    shift = hub.ok(REGISTER_SHIFT, {"input": site.shift(0, 8, window=2)}, as_=OPERATOR)[
        "registerShift"
    ]
    assert shift["status"] == "REGISTERED"
    assert shift["window"] == 2
    assert shift["rentalAgreementId"] == rental["id"]
    assert shift["premises"]["id"] == site.premises_id
    assert shift["sexWorker"]["id"] == site.worker_id
    assert datetime.fromisoformat(shift["startsAt"]) == site.at(0)
    assert datetime.fromisoformat(shift["endsAt"]) == site.at(8)
    row = get(hub, ShiftRegistration, shift["id"])
    assert row.status == "registered"
    assert row.rental_agreement_id == rental["id"]
    assert row.registered_by_id == org(hub, "operator_vitrine_beheer")

    # The police validate it on site; the worker is now adult-verified.
    validated = hub.ok(
        VALIDATE_SHIFT,
        {"id": shift["id"], "input": VALIDATED},
        as_=POLICE,
        purpose="identity_validation",
    )["validateShift"]
    assert validated["status"] == "VALIDATED"
    assert validated["adultVerifiedOnSite"] is True
    assert validated["validatedAt"] is not None
    row = get(hub, ShiftRegistration, shift["id"])
    assert row.status == "validated"
    assert row.validated_by_id == org(hub, "antwerp_police")
    assert get(hub, SexWorker, site.worker_id).adult_verified is True

    # A validated shift that has not ended can still be cancelled.
    cancelled = hub.ok(CANCEL_SHIFT, {"id": shift["id"]}, as_=OPERATOR)["cancelShift"]
    assert cancelled == {"id": shift["id"], "status": "CANCELLED"}
    assert get(hub, ShiftRegistration, shift["id"]).status == "cancelled"


def test_operator_cannot_record_rental_on_other_operators_premises(hub):
    site = make_site(hub, operator="operator_scheldevitrines")
    variables = {
        "input": {
            "premisesId": site.premises_id,
            "window": 1,
            "sexWorkerId": site.worker_id,
            "startsAt": iso(site.at(0)),
            "endsAt": iso(site.at(24)),
        }
    }
    refused(hub, RECORD_RENTAL, variables, "FORBIDDEN", as_=OPERATOR)
    assert count(hub, RentalAgreement, RentalAgreement.premises_id == site.premises_id) == 0


def test_operator_cannot_register_shift_on_other_operators_premises(hub):
    # Everything else is in order: a confirmed rental on granted premises.
    site = make_site(hub, operator="operator_scheldevitrines")
    add_rental(hub, site, 0, 48)
    refused(hub, REGISTER_SHIFT, {"input": site.shift(2, 10)}, "FORBIDDEN", as_=OPERATOR)
    assert shifts_on(hub, site) == 0


@pytest.mark.parametrize(
    ("window", "start_h", "end_h"),
    [
        pytest.param(0, 0, 24, id="window-zero"),
        pytest.param(5, 0, 24, id="window-above-count"),
        pytest.param(1, 24, 0, id="end-before-start"),
    ],
)
def test_rental_window_and_period_must_be_valid(hub, window, start_h, end_h):
    site = make_site(hub, windows=4)
    variables = {
        "input": {
            "premisesId": site.premises_id,
            "window": window,
            "sexWorkerId": site.worker_id,
            "startsAt": iso(site.at(start_h)),
            "endsAt": iso(site.at(end_h)),
        }
    }
    refused(hub, RECORD_RENTAL, variables, "BAD_USER_INPUT", as_=OPERATOR)
    assert count(hub, RentalAgreement, RentalAgreement.premises_id == site.premises_id) == 0


def test_operator_registers_shift_on_own_premises_with_confirmed_rental(hub):
    site = make_site(hub)
    rental_id = add_rental(hub, site, 0, 48)
    shift = hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)["registerShift"]
    assert shift["status"] == "REGISTERED"
    assert shift["rentalAgreementId"] == rental_id
    assert shifts_on(hub, site) == 1


def test_worker_confirms_only_their_own_rental(hub):
    site = make_site(hub)
    rental_id = add_rental(hub, site, 0, 48, confirmed=False)
    # Another worker (the demo worker) cannot confirm it, nor learn that it exists.
    refused(hub, CONFIRM_RENTAL, {"id": rental_id}, "NOT_FOUND", as_=WORKER)
    assert get(hub, RentalAgreement, rental_id).confirmed is False

    own = worker_client(hub, site.worker_id)
    assert hub.ok(CONFIRM_RENTAL, {"id": rental_id}, as_=own)["confirmRentalAgreement"]["confirmed"]
    first = get(hub, RentalAgreement, rental_id).confirmed_at
    # Confirming twice is a conflict and changes nothing.
    refused(hub, CONFIRM_RENTAL, {"id": rental_id}, "CONFLICT", as_=own)
    assert get(hub, RentalAgreement, rental_id).confirmed_at == first


@pytest.mark.parametrize(
    ("rental", "why"),
    [
        pytest.param(None, "no rental agreement", id="no-rental"),
        pytest.param({"confirmed": False}, "not confirmed", id="not-confirmed"),
        pytest.param({"window": 2}, "no rental agreement", id="rental-of-other-window"),
        pytest.param({"start_h": 4}, "no rental agreement", id="rental-starts-after-shift"),
        pytest.param({"end_h": 8}, "no rental agreement", id="rental-ends-before-shift"),
    ],
)
def test_shift_needs_confirmed_rental_covering_window_and_period(hub, rental, why):
    site = make_site(hub)
    if rental is not None:
        span = {"start_h": 0, "end_h": 48} | rental
        add_rental(hub, site, **span)
    message = refused(hub, REGISTER_SHIFT, {"input": site.shift(2, 10)}, "CONFLICT", as_=OPERATOR)
    assert why in message
    assert shifts_on(hub, site) == 0


def test_shift_never_overlaps_a_live_shift_on_the_same_window(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 72)
    add_rental(hub, site, 0, 72, window=2)
    first = hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)["registerShift"]

    for start_h, end_h in ((8, 16), (0, 4), (3, 9), (0, 12)):
        message = refused(
            hub, REGISTER_SHIFT, {"input": site.shift(start_h, end_h)}, "CONFLICT", as_=OPERATOR
        )
        assert "another shift" in message
    assert shifts_on(hub, site) == 1

    # A validated shift is live too.
    set_status(hub, first["id"], "validated")
    refused(hub, REGISTER_SHIFT, {"input": site.shift(8, 16)}, "CONFLICT", as_=OPERATOR)
    assert shifts_on(hub, site) == 1


def test_overlap_is_found_whatever_the_utc_offset(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 72)
    hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)
    brussels = timezone(timedelta(hours=2))
    variables = {
        "input": site.shift(0, 0)
        | {
            "startsAt": iso(site.at(9).astimezone(brussels)),
            "endsAt": iso(site.at(15).astimezone(brussels)),
        }
    }
    refused(hub, REGISTER_SHIFT, variables, "CONFLICT", as_=OPERATOR)
    assert shifts_on(hub, site) == 1


def test_shift_may_follow_a_shift_or_replace_a_cancelled_one(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 72)
    add_rental(hub, site, 0, 72, window=2)
    first = hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)["registerShift"]
    # Back to back on the same window, and the same time on another window.
    hub.ok(REGISTER_SHIFT, {"input": site.shift(10, 18)}, as_=OPERATOR)
    hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10, window=2)}, as_=OPERATOR)
    # Once cancelled, the first shift no longer holds its window.
    hub.ok(CANCEL_SHIFT, {"id": first["id"]}, as_=OPERATOR)
    hub.ok(REGISTER_SHIFT, {"input": site.shift(3, 9)}, as_=OPERATOR)
    statuses = scalars(
        hub,
        select(col(ShiftRegistration.status)).where(
            col(ShiftRegistration.premises_id) == site.premises_id,
            col(ShiftRegistration.window) == 1,
        ),
    )
    assert sorted(statuses) == ["cancelled", "registered", "registered"]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        ("suspended", "suspended"),
        ("revoked", "revoked"),
        ("expired", "expired"),
        (None, "no suitability certificate"),
    ],
)
def test_no_shift_on_premises_whose_certificate_is_not_granted(hub, status, why):
    today = now().date()
    until = today - timedelta(days=5) if status == "expired" else None
    site = make_site(hub, certificate=status, valid_until=until)
    add_rental(hub, site, 0, 48)
    message = refused(hub, REGISTER_SHIFT, {"input": site.shift(2, 10)}, "CONFLICT", as_=OPERATOR)
    assert why in message
    assert shifts_on(hub, site) == 0


def test_no_shift_beyond_the_validity_of_a_granted_certificate(hub):
    # Granted, but it runs out before the shift (10 days ahead).
    site = make_site(hub, valid_until=now().date() + timedelta(days=5))
    add_rental(hub, site, 0, 48)
    message = refused(hub, REGISTER_SHIFT, {"input": site.shift(2, 10)}, "CONFLICT", as_=OPERATOR)
    assert "expired or not valid" in message
    assert shifts_on(hub, site) == 0


@pytest.mark.parametrize(
    ("window", "start_h", "end_h"),
    [
        pytest.param(0, 2, 10, id="window-zero"),
        pytest.param(5, 2, 10, id="window-above-count"),
        pytest.param(1, 10, 2, id="end-before-start"),
        pytest.param(1, 10, 10, id="end-equals-start"),
        pytest.param(1, 2, 26.5, id="longer-than-24h"),
    ],
)
def test_shift_window_and_period_must_be_valid(hub, window, start_h, end_h):
    site = make_site(hub, windows=4)
    for w in range(1, 5):
        add_rental(hub, site, 0, 72, window=w)
    variables = {"input": site.shift(start_h, end_h, window=window)}
    refused(hub, REGISTER_SHIFT, variables, "BAD_USER_INPUT", as_=OPERATOR)
    assert shifts_on(hub, site) == 0


def test_shift_of_exactly_24_hours_in_the_last_window_is_accepted(hub):
    site = make_site(hub, windows=4)
    add_rental(hub, site, 0, 72, window=4)
    shift = hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 26, window=4)}, as_=OPERATOR)
    assert shift["registerShift"]["window"] == 4
    assert shifts_on(hub, site) == 1


def test_shift_times_need_a_utc_offset(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 48)
    variables = {
        "input": site.shift(2, 10) | {"startsAt": site.at(2).replace(tzinfo=None).isoformat()}
    }
    refused(hub, REGISTER_SHIFT, variables, "BAD_USER_INPUT", as_=OPERATOR)
    assert shifts_on(hub, site) == 0


def test_validating_a_shift_twice_is_a_conflict(hub):
    site = make_site(hub, base=soon())
    add_rental(hub, site, 0, 48)
    shift_id = hub.ok(REGISTER_SHIFT, {"input": site.shift(0, 8)}, as_=OPERATOR)["registerShift"][
        "id"
    ]
    hub.ok(VALIDATE_SHIFT, {"id": shift_id, "input": VALIDATED}, as_=POLICE, purpose="inspection")
    first = get(hub, ShiftRegistration, shift_id).validated_at
    variables = {"id": shift_id, "input": {"identityChecked": False, "adultVerified": False}}
    refused(hub, VALIDATE_SHIFT, variables, "CONFLICT", as_=POLICE, purpose="inspection")
    row = get(hub, ShiftRegistration, shift_id)
    assert (row.status, row.validated_at, row.adult_verified_on_site) == ("validated", first, True)


def test_police_of_another_city_cannot_validate_a_shift(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 48)
    shift_id = hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)["registerShift"][
        "id"
    ]
    variables = {"id": shift_id, "input": VALIDATED}
    refused(hub, VALIDATE_SHIFT, variables, "NOT_FOUND", as_=POLICE_GHENT, purpose="inspection")
    row = get(hub, ShiftRegistration, shift_id)
    assert (row.status, row.validated_at, row.validated_by_id) == ("registered", None, None)
    assert get(hub, SexWorker, site.worker_id).adult_verified is False


def test_police_refuse_a_shift_when_adulthood_is_not_established(hub):
    site = make_site(hub, base=soon())
    add_rental(hub, site, 0, 48)
    shift_id = hub.ok(REGISTER_SHIFT, {"input": site.shift(0, 8)}, as_=OPERATOR)["registerShift"][
        "id"
    ]
    variables = {"id": shift_id, "input": {"identityChecked": True, "adultVerified": False}}
    shift = hub.ok(VALIDATE_SHIFT, variables, as_=POLICE, purpose="identity_validation")
    assert shift["validateShift"]["status"] == "REFUSED"
    assert shift["validateShift"]["adultVerifiedOnSite"] is False
    assert get(hub, ShiftRegistration, shift_id).status == "refused"
    assert get(hub, SexWorker, site.worker_id).adult_verified is False


def test_worker_cancels_their_own_upcoming_shift(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 48)
    shift_id = hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)["registerShift"][
        "id"
    ]
    # Another worker cannot.
    refused(hub, CANCEL_SHIFT, {"id": shift_id}, "NOT_FOUND", as_=WORKER)
    assert get(hub, ShiftRegistration, shift_id).status == "registered"
    own = worker_client(hub, site.worker_id)
    assert hub.ok(CANCEL_SHIFT, {"id": shift_id}, as_=own)["cancelShift"]["status"] == "CANCELLED"
    assert get(hub, ShiftRegistration, shift_id).status == "cancelled"


def test_cancelling_a_cancelled_shift_is_a_conflict(hub):
    site = make_site(hub)
    shift_id = add_shift(hub, site, site.at(2), site.at(10), "cancelled")
    message = refused(hub, CANCEL_SHIFT, {"id": shift_id}, "CONFLICT", as_=OPERATOR)
    assert "cancelled" in message
    assert get(hub, ShiftRegistration, shift_id).status == "cancelled"


@pytest.mark.parametrize("status", ["registered", "validated"])
def test_cancelling_an_ended_shift_is_a_conflict(hub, status):
    site = make_site(hub)
    ended = now().replace(microsecond=0) - timedelta(hours=1)
    shift_id = add_shift(hub, site, ended - timedelta(hours=8), ended, status)
    message = refused(hub, CANCEL_SHIFT, {"id": shift_id}, "CONFLICT", as_=OPERATOR)
    assert "ended" in message
    assert get(hub, ShiftRegistration, shift_id).status == status


# === registerSexWorker =====================================================================


def _registration(working_name: str, birth: date) -> dict[str, Any]:
    return {
        "input": {
            "workingName": working_name,
            "legalName": "Ioana Testescu",
            "birthDate": iso(birth),
            "nationality": "ro",
            "documentNumber": "rx-7731-qz",
            "languages": ["RO", "nl"],
        }
    }


def test_police_register_a_sex_worker_with_encrypted_identity(hub):
    name = marker("Nova")
    birth = date(1998, 3, 14)
    worker = hub.ok(
        REGISTER_WORKER, _registration(name, birth), as_=POLICE, purpose="identity_validation"
    )["registerSexWorker"]
    assert worker["workingName"] == name
    assert worker["adultVerified"] is True
    assert worker["city"] == ANTWERP
    assert worker["languages"] == ["ro", "nl"]
    # No standing identity register: the answer shows the identity only once the worker
    # has a shift in progress; what was stored is the identity given.
    assert worker["identity"] is None
    row = get(hub, SexWorker, worker["id"])
    wrapped = scalars(hub, select(DataKey.wrapped_key).where(DataKey.sex_worker_id == row.id))[0]
    identity = hub.app.state.hub.keyring.decrypt(row.id, wrapped, row.identity)
    assert (
        identity.legal_name,
        identity.birth_date,
        identity.nationality,
        identity.document_number,
    ) == ("Ioana Testescu", "1998-03-14", "RO", "RX-7731-QZ")
    assert (row.working_name, row.city, row.adult_verified) == (name, ANTWERP, True)
    assert row.registered_by_id == org(hub, "antwerp_police")
    # The raw column holds ciphertext only; the person's data key is stored wrapped.
    raw = scalars(hub, text("SELECT identity FROM sex_worker WHERE id = :id").bindparams(id=row.id))
    stored = bytes(raw[0])
    for secret in ("Ioana Testescu", "Testescu", "RX-7731-QZ", "1998-03-14"):
        assert secret.encode() not in stored
    assert count(hub, DataKey, DataKey.sex_worker_id == row.id) == 1


def _born(years: int, before: date) -> date:
    """The birth date of someone who turns `years` on `before` (1 March for 29 February)."""
    try:
        return before.replace(year=before.year - years)
    except ValueError:
        return date(before.year - years, 3, 1)


@pytest.mark.parametrize(
    ("client", "purpose", "age", "code"),
    [
        pytest.param(POLICE, "identity_validation", 17, "BAD_USER_INPUT", id="minor"),
        pytest.param(POLICE, "identity_validation", None, "BAD_USER_INPUT", id="18-tomorrow"),
        pytest.param(CITY, "licensing", 30, "FORBIDDEN", id="city-officer"),
        pytest.param(POLICE, "inspection", 30, "FORBIDDEN", id="police-inspection"),
    ],
)
def test_register_sex_worker_refusals(hub, client, purpose, age, code):
    today = now().date()
    birth = _born(18, today + timedelta(days=1)) if age is None else _born(age, today)
    name = marker("Refused")
    refused(hub, REGISTER_WORKER, _registration(name, birth), code, as_=client, purpose=purpose)
    assert count(hub, SexWorker, SexWorker.working_name == name) == 0


# === administrative measures ===============================================================


def _open_fine(hub: Hub, target: str) -> dict[str, Any]:
    """A fine against a client named `target`."""
    variables = {
        "input": {
            "kind": "FINE",
            "target": {"personName": target, "personRole": "CLIENT"},
            "amountCents": 35000,
        }
    }
    return hub.ok(OPEN_MEASURE, variables, as_=ENFORCEMENT)["openMeasure"]  # type: ignore[no-any-return]


def _advance(hub: Hub, measure_id: str, status: str, note: str | None = None) -> dict[str, Any]:
    variables = {"id": measure_id, "status": status, "note": note}
    return hub.ok(ADVANCE_MEASURE, variables, as_=ENFORCEMENT)["advanceMeasure"]  # type: ignore[no-any-return]


def _history(hub: Hub, measure_id: str) -> list[tuple[str | None, str]]:
    rows = scalars(
        hub,
        select(MeasureTransition)
        .where(col(MeasureTransition.measure_id) == measure_id)
        .order_by(col(MeasureTransition.at)),
    )
    return [(r.from_status, r.to_status) for r in rows]


def test_measure_walks_the_procedure_with_its_history(hub):
    target = marker("client")
    measure = _open_fine(hub, target)
    assert measure["status"] == "OPENED" and measure["targetName"] == target
    assert (measure["kind"], measure["city"], measure["amountCents"]) == ("FINE", ANTWERP, 35000)
    assert measure["transitions"] == [{"fromStatus": None, "toStatus": "OPENED", "note": None}]

    path = [
        ("HEARING", "hearing on the 12th"),
        ("DECIDED", "fine confirmed"),
        ("APPEALED", None),
        ("DECIDED", "appeal rejected"),
        ("EXECUTED", "paid"),
    ]
    for status, note in path:
        measure = _advance(hub, measure["id"], status, note)
        assert measure["status"] == status
    expected = [{"fromStatus": None, "toStatus": "OPENED", "note": None}]
    previous = "OPENED"
    for status, note in path:
        expected.append({"fromStatus": previous, "toStatus": status, "note": note})
        previous = status
    assert [
        {k: t[k] for k in ("fromStatus", "toStatus", "note")} for t in measure["transitions"]
    ] == expected
    times = [datetime.fromisoformat(t["at"]) for t in measure["transitions"]]
    assert times == sorted(times)

    row = get(hub, Measure, measure["id"])
    assert (row.status, row.org_id) == ("executed", org(hub, "antwerp_city_enforcement"))
    keyring = hub.app.state.hub.keyring
    assert keyring.open_name(row.id, row.target_name_key, row.target_name) == target
    assert _history(hub, measure["id"]) == [
        (None, "opened"),
        ("opened", "hearing"),
        ("hearing", "decided"),
        ("decided", "appealed"),
        ("appealed", "decided"),
        ("decided", "executed"),
    ]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        pytest.param([], "DECIDED", id="opened-to-decided"),
        pytest.param([], "EXECUTED", id="opened-to-executed"),
        pytest.param([], "OPENED", id="opened-to-opened"),
        pytest.param(["HEARING"], "APPEALED", id="hearing-to-appealed"),
        pytest.param(["HEARING", "DECIDED"], "HEARING", id="decided-to-hearing"),
        pytest.param(["HEARING", "DECIDED", "APPEALED"], "EXECUTED", id="appealed-to-executed"),
    ],
)
def test_measure_refuses_transitions_outside_the_procedure(hub, path, target):
    measure = _open_fine(hub, marker("client"))
    for status in path:
        _advance(hub, measure["id"], status)
    before = _history(hub, measure["id"])
    variables = {"id": measure["id"], "status": target, "note": "skip"}
    refused(hub, ADVANCE_MEASURE, variables, "CONFLICT", as_=ENFORCEMENT)
    assert get(hub, Measure, measure["id"]).status == (path[-1] if path else "OPENED").lower()
    assert _history(hub, measure["id"]) == before
    assert len(before) == len(path) + 1


def test_executed_measure_is_closed(hub):
    measure = _open_fine(hub, marker("client"))
    for status in ("HEARING", "DECIDED", "EXECUTED"):
        _advance(hub, measure["id"], status)
    for status in ("OPENED", "HEARING", "DECIDED", "APPEALED", "EXECUTED"):
        variables = {"id": measure["id"], "status": status, "note": None}
        refused(hub, ADVANCE_MEASURE, variables, "CONFLICT", as_=ENFORCEMENT)
    assert get(hub, Measure, measure["id"]).status == "executed"
    assert len(_history(hub, measure["id"])) == 4


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        pytest.param("FINE", None, id="fine-without-amount"),
        pytest.param("FINE", 0, id="fine-of-zero"),
        pytest.param("TEMPORARY_CLOSURE", 5000, id="closure-with-amount"),
    ],
)
def test_measure_amount_belongs_to_fines_only(hub, kind, amount):
    target = {"personName": marker("client"), "personRole": "CLIENT"}
    variables = {"input": {"kind": kind, "target": target, "amountCents": amount}}
    before = count(hub, Measure)
    refused(hub, OPEN_MEASURE, variables, "BAD_USER_INPUT", as_=ENFORCEMENT)
    assert count(hub, Measure) == before


def test_closure_opens_without_amount(hub):
    target = {"personName": marker("client"), "personRole": "CLIENT"}
    variables = {"input": {"kind": "TEMPORARY_CLOSURE", "target": target}}
    measure = hub.ok(OPEN_MEASURE, variables, as_=ENFORCEMENT)["openMeasure"]
    assert (measure["kind"], measure["status"], measure["amountCents"]) == (
        "TEMPORARY_CLOSURE",
        "OPENED",
        None,
    )
    assert count(hub, Measure, Measure.id == measure["id"]) == 1


def test_enforcement_of_another_city_cannot_advance_a_measure(hub):
    measure = _open_fine(hub, marker("client"))
    variables = {"id": measure["id"], "status": "HEARING", "note": None}
    refused(hub, ADVANCE_MEASURE, variables, "NOT_FOUND", as_=enforcement_ghent(hub))
    assert get(hub, Measure, measure["id"]).status == "opened"
    assert _history(hub, measure["id"]) == [(None, "opened")]
    # Ghent's enforcement does run measures in Ghent.
    target = {"personName": marker("client"), "personRole": "CLIENT"}
    ghent = hub.ok(
        OPEN_MEASURE,
        {"input": {"kind": "STREET_BAN", "target": target}},
        as_=enforcement_ghent(hub),
    )["openMeasure"]
    assert ghent["city"] == GHENT
    assert get(hub, Measure, ghent["id"]).city == GHENT


# === suitability certificates ==============================================================


def test_city_officer_suspends_a_certificate_which_then_blocks_shifts(hub):
    site = make_site(hub)
    add_rental(hub, site, 0, 72)
    reason = marker("hygiene")
    cert = hub.ok(
        SET_CERTIFICATE,
        {"premisesId": site.premises_id, "status": "SUSPENDED", "reason": reason},
        as_=CITY,
    )["setCertificateStatus"]
    assert cert["status"] == "SUSPENDED"
    assert cert["decision"] == reason
    assert cert["premises"]["id"] == site.premises_id
    row = certificate_of(hub, site)
    assert (row.status, row.decision) == ("suspended", reason)
    assert row.decided_by_id == org(hub, "antwerp_city_licensing")

    message = refused(hub, REGISTER_SHIFT, {"input": site.shift(2, 10)}, "CONFLICT", as_=OPERATOR)
    assert "suspended" in message
    assert shifts_on(hub, site) == 0

    # Granted again, the premises take shifts again.
    hub.ok(
        SET_CERTIFICATE,
        {"premisesId": site.premises_id, "status": "GRANTED", "reason": "fixed"},
        as_=CITY,
    )
    hub.ok(REGISTER_SHIFT, {"input": site.shift(2, 10)}, as_=OPERATOR)
    assert shifts_on(hub, site) == 1


def test_setting_the_same_certificate_status_is_a_conflict(hub):
    site = make_site(hub)
    before = certificate_of(hub, site)
    variables = {"premisesId": site.premises_id, "status": "GRANTED", "reason": "again"}
    refused(hub, SET_CERTIFICATE, variables, "CONFLICT", as_=CITY)
    after = certificate_of(hub, site)
    assert (after.status, after.decision, after.valid_until, after.decided_at) == (
        "granted",
        before.decision,
        before.valid_until,
        before.decided_at,
    )


# === reports ===============================================================================


def _file(
    hub: Hub, *, anonymous: bool, shared_with: list[str], as_: str = WORKER
) -> dict[str, Any]:
    variables = {
        "input": {
            "category": "STALKING",
            "text": marker("followed home"),
            "anonymous": anonymous,
            "sharedWith": shared_with,
        }
    }
    return hub.ok(FILE_REPORT, variables, as_=as_)["fileReport"]  # type: ignore[no-any-return]


def test_anonymous_report_keeps_no_link_to_its_author(hub):
    police = org(hub, "antwerp_police")
    report = _file(hub, anonymous=True, shared_with=[police])
    assert report["anonymous"] is True
    assert report["author"] is None
    assert report["status"] == "FILED"
    assert report["city"] == ANTWERP
    assert ids(report["sharedWith"]) == {police}

    row = get(hub, Report, report["id"])
    assert row.author_id is None and row.anonymous is True
    # Not even the worker who filed it finds it among their reports.
    mine = nodes(hub, "reports", REPORT_FIELDS, as_=WORKER)
    assert report["id"] not in ids(mine)
    # The police it was shared with see it, without an author.
    seen = {
        r["id"]: r
        for r in nodes(hub, "reports", REPORT_FIELDS, as_=POLICE, purpose="safety_alerting")
    }
    assert seen[report["id"]]["author"] is None
    assert seen[report["id"]]["text"] == report["text"]


def test_anonymous_report_leaves_no_author_in_the_access_log(hub):
    report = _file(hub, anonymous=True, shared_with=[org(hub, "antwerp_police")])
    entries = rows(hub, text("SELECT subject, record_ids FROM access_log"))
    linked = [subject for subject, record_ids in entries if report["id"] in str(record_ids)]
    assert linked, "the filing itself is logged"
    assert WORKER not in linked, linked


def test_named_report_is_followed_by_its_author(hub):
    assert hub.demo is not None
    report = _file(hub, anonymous=False, shared_with=[org(hub, "antwerp_police")])
    author = hub.demo.sex_worker_ids[0]
    assert report["author"] == {"id": author}
    assert get(hub, Report, report["id"]).author_id == author
    mine = {r["id"]: r for r in nodes(hub, "reports", REPORT_FIELDS, as_=WORKER)}
    assert mine[report["id"]]["author"] == {"id": author}


def test_report_reaches_only_the_organisations_it_was_shared_with(hub):
    to_police = _file(hub, anonymous=True, shared_with=[org(hub, "antwerp_police")])
    to_ngo = _file(hub, anonymous=False, shared_with=[org(hub, "ghapro")])

    police_sees = ids(nodes(hub, "reports", "id", as_=POLICE, purpose="safety_alerting"))
    assert to_police["id"] in police_sees
    assert to_ngo["id"] not in police_sees
    ghapro_sees = ids(nodes(hub, "reports", "id", as_=GHAPRO, purpose="care"))
    assert to_ngo["id"] in ghapro_sees
    assert to_police["id"] not in ghapro_sees
    for other, purpose in ((POLICE_GHENT, "safety_alerting"), (VIOLETT, "safety_alerting")):
        seen = ids(nodes(hub, "reports", "id", as_=other, purpose=purpose))
        assert not {to_police["id"], to_ngo["id"]} & seen

    # Organisations it was not shared with cannot reply either.
    for report, client, purpose in (
        (to_ngo, POLICE, "safety_alerting"),
        (to_police, GHAPRO, "care"),
        (to_police, POLICE_GHENT, "safety_alerting"),
    ):
        variables = {"id": report["id"], "text": "we saw this"}
        refused(hub, REPLY_REPORT, variables, "NOT_FOUND", as_=client, purpose=purpose)
        row = get(hub, Report, report["id"])
        assert row.status == "filed"
        assert count(hub, ReportReply, ReportReply.report_id == report["id"]) == 0


def test_ngo_it_was_shared_with_answers_a_report(hub):
    report = _file(hub, anonymous=True, shared_with=[org(hub, "ghapro")])
    answered = hub.ok(
        REPLY_REPORT,
        {"id": report["id"], "text": "  Come by our office, we can help.  "},
        as_=GHAPRO,
        purpose="care",
    )["replyToReport"]
    assert answered["status"] == "ANSWERED"
    assert answered["replies"] == [
        {
            "text": "Come by our office, we can help.",
            "byReporter": False,
            "organisation": {"id": org(hub, "ghapro")},
        }
    ]
    assert get(hub, Report, report["id"]).status == "answered"
    replies = scalars(hub, select(ReportReply).where(ReportReply.report_id == report["id"]))
    assert [(r.author_org_id, r.by_reporter) for r in replies] == [(org(hub, "ghapro"), False)]


@pytest.mark.parametrize(
    "org_key", ["antwerp_city_licensing", "operator_vitrine_beheer", "antwerp_prosecutor"]
)
def test_report_is_never_shared_with_city_operator_or_others(hub, org_key):
    text_marker = marker("report")
    variables = {
        "input": {
            "category": "VIOLENCE",
            "text": text_marker,
            "anonymous": False,
            "sharedWith": [org(hub, "antwerp_police"), org(hub, org_key)],
        }
    }
    refused(hub, FILE_REPORT, variables, "BAD_USER_INPUT", as_=WORKER)
    assert count(hub, Report, Report.text == text_marker) == 0
    assert count(hub, ReportShare, ReportShare.organisation_id == org(hub, org_key)) == 0


# === warnings (alerts) =====================================================================


def _alert_input(audience: str, text_nl: str, valid_until: datetime) -> dict[str, Any]:
    return {
        "input": {
            "audience": audience,
            "severity": "WARNING",
            "textNl": text_nl,
            "validUntil": iso(valid_until),
        }
    }


def test_police_issue_a_warning_for_their_own_city(hub):
    text_nl = marker("Opgelet")
    until = now().replace(microsecond=0) + timedelta(days=3)
    alert = hub.ok(
        ISSUE_ALERT,
        _alert_input("SEX_WORKERS", text_nl, until),
        as_=POLICE,
        purpose="safety_alerting",
    )["issueAlert"]
    assert alert["city"] == ANTWERP
    assert alert["audience"] == "SEX_WORKERS"
    assert alert["textNl"] == text_nl
    assert datetime.fromisoformat(alert["validUntil"]) == until
    assert alert["issuedBy"] == {"id": org(hub, "antwerp_police")}
    row = get(hub, Alert, alert["id"])
    assert (row.city, row.audience, row.issued_by_id) == (
        ANTWERP,
        "sex_workers",
        org(hub, "antwerp_police"),
    )


def test_worker_sees_live_warnings_for_sex_workers_of_their_city_only(hub):
    soon = now() + timedelta(days=2)
    live = hub.ok(
        ISSUE_ALERT,
        _alert_input("SEX_WORKERS", marker("live"), soon),
        as_=POLICE,
        purpose="safety_alerting",
    )["issueAlert"]
    for_police = hub.ok(
        ISSUE_ALERT,
        _alert_input("POLICE", marker("police-only"), soon),
        as_=POLICE,
        purpose="safety_alerting",
    )["issueAlert"]
    ghent = hub.ok(
        ISSUE_ALERT,
        _alert_input("SEX_WORKERS", marker("ghent"), soon),
        as_=POLICE_GHENT,
        purpose="safety_alerting",
    )["issueAlert"]
    assert ghent["city"] == GHENT
    expired = Alert(
        id=new_id(),
        audience="sex_workers",
        city=ANTWERP,
        severity="danger",
        text_nl=marker("expired"),
        valid_until=now() - timedelta(hours=1),
        issued_by_id=org(hub, "antwerp_police"),
        issued_at=now() - timedelta(days=2),
    )
    insert(hub, expired)

    checked = now()
    for city in (None, ANTWERP, GHENT):
        for active_only in (True, False):
            alerts = hub.ok(ALERTS, {"city": city, "activeOnly": active_only}, as_=WORKER)["alerts"]
            seen = ids(alerts)
            assert live["id"] in seen or city == GHENT
            assert not {for_police["id"], ghent["id"], expired.id} & seen
            for a in alerts:
                assert a["city"] == ANTWERP
                assert a["audience"] == "SEX_WORKERS"
                assert datetime.fromisoformat(a["validUntil"]) > checked
    # The police of Antwerp do see the expired one when they ask for it.
    police_all = hub.ok(
        ALERTS, {"city": None, "activeOnly": False}, as_=POLICE, purpose="safety_alerting"
    )["alerts"]
    assert {live["id"], for_police["id"], expired.id} <= ids(police_all)
    assert ghent["id"] not in ids(police_all)


@pytest.mark.parametrize(
    "offset",
    [
        pytest.param(timedelta(minutes=-5), id="in-the-past"),
        pytest.param(timedelta(days=90, hours=1), id="beyond-90-days"),
    ],
)
def test_warning_validity_is_bounded(hub, offset):
    text_nl = marker("bounded")
    variables = _alert_input("SEX_WORKERS", text_nl, now() + offset)
    refused(hub, ISSUE_ALERT, variables, "BAD_USER_INPUT", as_=POLICE, purpose="safety_alerting")
    assert count(hub, Alert, Alert.text_nl == text_nl) == 0


def test_city_officer_cannot_issue_a_warning(hub):
    text_nl = marker("city")
    variables = _alert_input("ALL_PARTNERS", text_nl, now() + timedelta(days=1))
    refused(hub, ISSUE_ALERT, variables, "FORBIDDEN", as_=CITY)
    assert count(hub, Alert, Alert.text_nl == text_nl) == 0


# === care contacts and referrals ===========================================================


def _care_input(client_ref: str) -> dict[str, Any]:
    return {
        "input": {
            "clientRef": client_ref,
            "contactDate": iso(now().date()),
            "kind": "MEDICAL",
            "location": "MOBILE",
            "branch": "WINDOW",
        }
    }


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param("{}", id="hub-id"),
        pytest.param("{}", id="upper-case"),
        pytest.param("{{{}}}", id="braced"),
        pytest.param("urn:uuid:{}", id="urn"),
        pytest.param("sw-{}", id="prefixed"),
        pytest.param("{} ", id="padded"),
        pytest.param("hex", id="without-hyphens"),
        pytest.param("sealed", id="sealed-for-the-ngo"),
    ],
)
def test_care_contact_client_ref_is_never_a_hub_id(hub, request, shape):
    """Not a hub id in any spelling, nor the id as the NGO holds it (sealed for it): it
    would link care data to a registered identity."""
    assert hub.demo is not None
    worker_id = hub.demo.sex_worker_ids[1]
    hub_id = worker_id.upper() if "upper" in request.node.name else worker_id
    if shape == "sealed":
        client_ref = hub.seal(worker_id, as_=GHAPRO)
    else:
        client_ref = uuid.UUID(hub_id).hex if shape == "hex" else shape.format(hub_id)
    refused(
        hub,
        RECORD_CARE,
        _care_input(client_ref),
        "BAD_USER_INPUT",
        as_=GHAPRO,
        purpose="care",
        sealed=True,  # exactly as written: a raw id must not be translated into a sealed one
    )
    assert count(hub, CareContact, CareContact.client_ref == client_ref.strip()) == 0
    # The same rule holds for the reference carried by a referral.
    variables = {
        "input": {
            "toOrganisationId": hub.seal(org(hub, "payoke"), as_=GHAPRO),
            "clientRef": client_ref,
            "reason": "MEDICAL",
            "consent": True,
        }
    }
    refused(hub, REFER_CLIENT, variables, "BAD_USER_INPUT", as_=GHAPRO, purpose="care", sealed=True)
    assert count(hub, Referral, Referral.client_ref == client_ref.strip()) == 0


def test_ngo_records_and_sees_only_its_own_care_contacts(hub):
    client_ref = marker("GH")
    contact = hub.ok(RECORD_CARE, _care_input(client_ref), as_=GHAPRO, purpose="care")[
        "recordCareContact"
    ]
    assert contact["clientRef"] == client_ref
    assert (contact["kind"], contact["location"], contact["branch"]) == (
        "MEDICAL",
        "MOBILE",
        "WINDOW",
    )
    assert contact["city"] == ANTWERP
    assert contact["ngo"] == {"id": org(hub, "ghapro")}
    row = get(hub, CareContact, contact["id"])
    assert (row.ngo_id, row.client_ref) == (org(hub, "ghapro"), client_ref)

    fields = "id clientRef ngo { id }"
    own = nodes(hub, "careContacts", fields, as_=GHAPRO, purpose="care")
    assert contact["id"] in ids(own)
    assert {c["ngo"]["id"] for c in own} == {org(hub, "ghapro")}
    others = nodes(hub, "careContacts", fields, as_=VIOLETT, purpose="care")
    assert contact["id"] not in ids(others)
    assert {c["ngo"]["id"] for c in others} <= {org(hub, "violett")}
    assert len(others) == count(hub, CareContact, CareContact.ngo_id == org(hub, "violett"))


@pytest.mark.parametrize(
    ("to_key", "consent"),
    [
        pytest.param("violett", False, id="without-consent"),
        pytest.param("antwerp_police", True, id="to-police"),
        pytest.param("antwerp_city_licensing", True, id="to-city"),
        pytest.param("ghapro", True, id="to-itself"),
    ],
)
def test_referral_needs_consent_and_another_ngo(hub, to_key, consent):
    client_ref = marker("GH")
    variables = {
        "input": {
            "toOrganisationId": org(hub, to_key),
            "clientRef": client_ref,
            "reason": "TRAFFICKING_SUPPORT",
            "consent": consent,
        }
    }
    refused(hub, REFER_CLIENT, variables, "BAD_USER_INPUT", as_=GHAPRO, purpose="care")
    assert count(hub, Referral, Referral.client_ref == client_ref) == 0


def test_receiving_ngo_sees_referral_without_client_ref(hub):
    client_ref = marker("GH")
    variables = {
        "input": {
            "toOrganisationId": org(hub, "violett"),
            "clientRef": client_ref,
            "reason": "LEGAL",
            "consent": True,
        }
    }
    referral = hub.ok(REFER_CLIENT, variables, as_=GHAPRO, purpose="care")["referClient"]
    assert referral["clientRef"] == client_ref
    assert referral["consent"] is True
    assert referral["reason"] == "LEGAL"
    assert referral["fromOrganisation"] == {"id": org(hub, "ghapro")}
    assert referral["toOrganisation"] == {"id": org(hub, "violett")}
    row = get(hub, Referral, referral["id"])
    assert (row.from_org_id, row.to_org_id, row.client_ref, row.consent) == (
        org(hub, "ghapro"),
        org(hub, "violett"),
        client_ref,
        True,
    )

    body = hub.gql(
        "{ referrals(first: 100) { edges { node { id clientRef reason "
        "fromOrganisation { id } } } } }",
        as_=VIOLETT,
        purpose="care",
    )
    assert "errors" not in body, body
    received = {e["node"]["id"]: e["node"] for e in body["data"]["referrals"]["edges"]}
    assert received[referral["id"]] == {
        "id": referral["id"],
        "clientRef": None,
        "reason": "LEGAL",
        "fromOrganisation": {"id": org(hub, "ghapro")},
    }
    assert "clientRef" in body["extensions"]["withheld"]["Referral"]


# === inspections ===========================================================================


def _inspection(zone: str, occurred: datetime, persons: int, adm: int, jud: int) -> dict[str, Any]:
    return {
        "input": {
            "branch": "WINDOW",
            "occurredAt": iso(occurred),
            "outcome": "PV",
            "personsChecked": persons,
            "administrativeArrests": adm,
            "judicialArrests": jud,
            "zone": zone,
        }
    }


def test_police_record_an_inspection(hub):
    zone = marker("zone")
    occurred = now().replace(microsecond=0) - timedelta(hours=1)
    inspection = hub.ok(
        RECORD_INSPECTION, _inspection(zone, occurred, 5, 1, 1), as_=POLICE, purpose="inspection"
    )["recordInspection"]
    assert inspection["city"] == ANTWERP
    assert inspection["zone"] == zone
    assert datetime.fromisoformat(inspection["occurredAt"]) == occurred
    assert (inspection["personsChecked"], inspection["outcome"]) == (5, "PV")
    assert (inspection["administrativeArrests"], inspection["judicialArrests"]) == (1, 1)
    assert inspection["policeOrg"] == {"id": org(hub, "antwerp_police")}
    row = get(hub, Inspection, inspection["id"])
    assert (row.city, row.zone, row.persons_checked, row.police_org_id) == (
        ANTWERP,
        zone,
        5,
        org(hub, "antwerp_police"),
    )


@pytest.mark.parametrize(
    ("client", "purpose", "hours", "counts", "code"),
    [
        pytest.param(POLICE, "inspection", -1, (2, 2, 1), "BAD_USER_INPUT", id="more-arrests"),
        pytest.param(POLICE, "inspection", +1, (2, 0, 0), "BAD_USER_INPUT", id="future"),
        pytest.param(GHAPRO, "care", -1, (2, 0, 0), "FORBIDDEN", id="ngo"),
    ],
)
def test_inspection_refusals(hub, client, purpose, hours, counts, code):
    zone = marker("zone")
    variables = _inspection(zone, now() + timedelta(hours=hours), *counts)
    refused(hub, RECORD_INSPECTION, variables, code, as_=client, purpose=purpose)
    assert count(hub, Inspection, Inspection.zone == zone) == 0
