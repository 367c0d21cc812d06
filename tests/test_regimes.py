"""City regimes as data (policies/regimes.yaml, hub/policy/regimes.py) and time in policy:
Ghent's voluntary regime works without identities or a pandkalender, Antwerp's window
regime is unchanged; the police read an identity only during a shift (on both read paths);
rentals of one window never overlap; validateShift only during the shift."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from hub.models import Certificate, Premises, RentalAgreement, SexWorker, ShiftRegistration
from hub.policy.document import PolicyError
from hub.policy.regimes import parse_regimes
from hub.policy.where import WhereError, compile_where, now_offset
from tests.conftest import BACKENDS, Hub, Templates, _start
from tests.test_compiled_reads import both
from tests.test_workflows import (
    CONFIRM_RENTAL,
    OPERATOR,
    POLICE,
    POLICE_GHENT,
    RECORD_RENTAL,
    REGISTER_SHIFT,
    REGISTER_WORKER,
    SET_CERTIFICATE,
    VALIDATE_SHIFT,
    VALIDATED,
    ensure_client,
    get,
    insert,
    iso,
    make_site,
    marker,
    new_id,
    org,
    refused,
    scalars,
    worker_client,
)

ROOT = Path(__file__).resolve().parent.parent
GHENT_OPERATOR = "test-operator-ghent"
CITY_GHENT = "test-city-ghent"


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    yield from _start(templates, request.param, tmp_path_factory.mktemp("regimes"), seeded=True)


def now() -> datetime:
    return datetime.now(UTC)


def hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


# --- the regime document --------------------------------------------------------------------


def test_the_shipped_regimes():
    regimes = parse_regimes((ROOT / "policies" / "regimes.yaml").read_text())
    antwerp, ghent = regimes.of("Antwerpen"), regimes.of("Gent")
    assert antwerp is not None and ghent is not None
    assert (antwerp.participation.value, ghent.participation.value) == ("compulsory", "voluntary")
    assert antwerp.advance_registration and antwerp.police_validation
    assert not ghent.advance_registration and not ghent.police_validation
    assert antwerp.certificate_premises == ghent.certificate_premises == {"window"}
    assert "Antwerp" in antwerp.validation_basis and "Ghent" in ghent.registration_basis
    assert regimes.of("Brugge") is None


def test_a_regime_document_with_problems_is_refused_whole_with_lines():
    text = (ROOT / "policies" / "regimes.yaml").read_text()
    bad = text.replace("premises: [window]", "premises: [windw]", 1).replace(
        "participation: voluntary", "participation: volunteer"
    )
    with pytest.raises(PolicyError) as exc:
        parse_regimes(bad)
    errors = exc.value.errors
    assert any("unknown premises kind 'windw'; did you mean 'window'?" in e for e in errors)
    assert any("unknown participation 'volunteer'" in e for e in errors)
    assert all(e.startswith("regimes.yaml:") for e in errors)


def test_police_validation_needs_advance_registration():
    text = (ROOT / "policies" / "regimes.yaml").read_text()
    ghent = text.index("city: Gent")
    bad = text[:ghent] + text[ghent:].replace("applies: false", "applies: true", 2).replace(
        "applies: true", "applies: false", 1
    )
    with pytest.raises(PolicyError) as exc:
        parse_regimes(bad)
    assert any("police validation checks registered shifts" in e for e in exc.value.errors)


# --- $now and durations in `where` ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("$now", timedelta(0)),
        ("$now+PT1H", timedelta(hours=1)),
        ("$now-PT1H30M", -timedelta(hours=1, minutes=30)),
        ("$now+P2D", timedelta(days=2)),
        ("$now-P1W", -timedelta(weeks=1)),
        ("$now+P1DT12H", timedelta(days=1, hours=12)),
        ("$now+PT45S", timedelta(seconds=45)),
    ],
)
def test_now_and_durations(text, offset):
    assert now_offset(text) == offset


@pytest.mark.parametrize(
    "text",
    ["$now+", "$now+P", "$now+PT", "$now+P1M", "$now+P1Y", "$now+1H", "$now*PT1H", "$nowPT1H"],
)
def test_durations_of_varying_length_or_malformed_are_refused(text):
    assert now_offset(text) is None
    with pytest.raises(WhereError):
        compile_where(ShiftRegistration, {"starts_at": {"lte": text}})


def test_a_shifted_now_compares_only_with_times():
    with pytest.raises(WhereError, match="not a time"):
        compile_where(Certificate, {"valid_until": {"gte": "$now+P1D"}})
    compile_where(Certificate, {"valid_until": {"gte": "$now"}})  # a date with $now, as before


# --- identities only during a shift, on both read paths -------------------------------------

IDENTITY = "query($id: ID!) { sexWorker(id: $id) { id workingName identity { legalName } } }"


def _worker_with_shift(
    hub: Hub, start: datetime, end: datetime, *, status: str = "registered", city: str = "Antwerpen"
) -> str:
    from hub.crypto import Identity

    keyring = hub.app.state.hub.keyring
    worker = SexWorker(id=new_id(), working_name=marker("Shift"), city=city, adult_verified=True)
    key = keyring.new_data_key()
    worker.identity = keyring.encrypt(
        worker.id,
        key,
        Identity(
            legal_name="Test Person",
            birth_date="1990-01-01",
            nationality="BE",
            document_number="TEST1234",
        ),
    )
    from hub.models import DataKey

    premises = scalars(
        hub,
        select(col(Premises.id)).where(col(Premises.city) == city, col(Premises.kind) == "window"),
    )[0]
    insert(hub, worker)
    insert(hub, DataKey(sex_worker_id=worker.id, wrapped_key=keyring.wrap(worker.id, key)))
    insert(
        hub,
        ShiftRegistration(
            premises_id=premises,
            window=1,
            sex_worker_id=worker.id,
            starts_at=start,
            ends_at=end,
            status=status,
        ),
    )
    return worker.id


def _identity_shown(hub: Hub, worker_id: str, *, name: str | None = "Test Person") -> bool:
    compiled, generic = both(
        hub, IDENTITY, {"id": worker_id}, as_=POLICE, purpose="identity_validation"
    )
    assert compiled == generic
    node = compiled["data"]["sexWorker"]
    assert node is not None and node["id"] == worker_id
    if node["identity"] is None:
        assert "identity" in compiled["extensions"]["withheld"]["SexWorker"]
        return False
    assert node["identity"]["legalName"] == name if name else node["identity"]["legalName"]
    return True


def test_identity_inside_the_shift_window_is_shown(hub):
    t = now()
    assert _identity_shown(
        hub, _worker_with_shift(hub, t - timedelta(hours=2), t + timedelta(hours=4))
    )
    # From an hour before the start.
    assert _identity_shown(
        hub, _worker_with_shift(hub, t + timedelta(minutes=40), t + timedelta(hours=6))
    )
    validated = _worker_with_shift(
        hub, t - timedelta(hours=1), t + timedelta(hours=1), status="validated"
    )
    assert _identity_shown(hub, validated)


@pytest.mark.parametrize(
    ("start_h", "end_h", "status"),
    [
        (2, 8, "registered"),  # starts in two hours
        (-8, -0.25, "validated"),  # ended a quarter of an hour ago
        (-1, 5, "cancelled"),  # in progress, but cancelled
        (24 * 3, 24 * 3 + 8, "registered"),  # in three days
    ],
)
def test_identity_outside_the_shift_window_is_withheld(hub, start_h, end_h, status):
    t = now()
    worker = _worker_with_shift(
        hub, t + timedelta(hours=start_h), t + timedelta(hours=end_h), status=status
    )
    assert not _identity_shown(hub, worker)


def test_identity_during_a_shift_is_not_shown_at_inspection(hub):
    t = now()
    worker = _worker_with_shift(hub, t - timedelta(hours=1), t + timedelta(hours=4))
    compiled, _ = both(hub, IDENTITY, {"id": worker}, as_=POLICE, purpose="inspection")
    assert compiled["data"]["sexWorker"]["identity"] is None


def test_the_demo_has_a_worker_at_work_in_antwerp(hub):
    t = now()
    at_work = scalars(
        hub,
        select(col(ShiftRegistration.sex_worker_id))
        .join(Premises, col(Premises.id) == col(ShiftRegistration.premises_id))
        .where(
            col(Premises.city) == "Antwerpen",
            col(ShiftRegistration.status).in_(["registered", "validated"]),
            col(ShiftRegistration.starts_at) <= t + timedelta(hours=1),
            col(ShiftRegistration.ends_at) >= t,
        ),
    )
    demo = set(hub.demo.sex_worker_ids)
    at_work = [w for w in at_work if w in demo]
    assert at_work
    assert _identity_shown(hub, at_work[0], name=None)


# --- Ghent: voluntary, no identities, no pandkalender ---------------------------------------


def _ghent_operator(hub: Hub) -> str:
    return ensure_client(
        hub,
        GHENT_OPERATOR,
        org(hub, "operator_gentse_vensters"),
        roles=["operator"],
        purposes=["self_service"],
    )


def _ghent_premises(hub: Hub, kind: str = "window") -> Any:
    stmt = select(Premises).where(col(Premises.city) == "Gent", col(Premises.kind) == kind)
    return scalars(hub, stmt)[0]


def test_the_ghent_demo_has_no_identities_and_no_shifts(hub):
    ghent = scalars(hub, select(SexWorker).where(col(SexWorker.city) == "Gent"))
    assert ghent and all(w.identity is None and w.registered_by_id is None for w in ghent)
    shifts = scalars(
        hub,
        select(col(ShiftRegistration.id))
        .join(Premises, col(Premises.id) == col(ShiftRegistration.premises_id))
        .where(col(Premises.city) == "Gent"),
    )
    assert shifts == []
    rentals = scalars(
        hub,
        select(col(RentalAgreement.id))
        .join(Premises, col(Premises.id) == col(RentalAgreement.premises_id))
        .where(col(Premises.city) == "Gent"),
    )
    assert rentals  # rentals are contracts between operator and worker: they stay


def test_ghent_police_register_no_identities(hub):
    variables = {
        "input": {
            "workingName": marker("Gent"),
            "legalName": "Test Person",
            "birthDate": "1990-01-01",
            "nationality": "BE",
            "documentNumber": "TEST1234",
        }
    }
    message = refused(
        hub, REGISTER_WORKER, variables, "CONFLICT", as_=POLICE_GHENT, purpose="identity_validation"
    )
    assert "Gent registers no identities" in message
    assert (
        scalars(
            hub,
            select(SexWorker).where(
                col(SexWorker.city) == "Gent", col(SexWorker.identity).is_not(None)
            ),
        )
        == []
    )


def test_ghent_works_without_identities_rental_yes_pandkalender_no(hub):
    """A worker with no identity in the hub rents a Ghent window and confirms it; the
    operator cannot put the worker in a pandkalender Ghent does not keep."""
    operator = _ghent_operator(hub)
    premises = _ghent_premises(hub)
    worker = SexWorker(id=new_id(), working_name=marker("Gent"), city="Gent")
    insert(hub, worker)
    start = hour(now()) + timedelta(days=12)
    period = {
        "premisesId": premises.id,
        "window": 1,
        "sexWorkerId": worker.id,
        "startsAt": iso(start),
        "endsAt": iso(start + timedelta(hours=30)),
    }
    rental = hub.ok(RECORD_RENTAL, {"input": period}, as_=operator)["recordRentalAgreement"]
    confirmed = hub.ok(CONFIRM_RENTAL, {"id": rental["id"]}, as_=worker_client(hub, worker.id))
    assert confirmed["confirmRentalAgreement"]["confirmed"] is True
    shift = {**period, "endsAt": iso(start + timedelta(hours=8))}
    message = refused(hub, REGISTER_SHIFT, {"input": shift}, "CONFLICT", as_=operator)
    assert "Gent registers no shifts in advance" in message
    assert get(hub, SexWorker, worker.id).identity is None


def test_ghent_certifies_window_premises_only(hub):
    city = ensure_client(
        hub, CITY_GHENT, org(hub, "ghent_city"), roles=["city_officer"], purposes=["licensing"]
    )
    salon = Premises(
        id=new_id(),
        address=marker("Salonstraat"),
        city="Gent",
        kind="massage_salon",
        windows=0,
    )
    insert(hub, salon)
    variables = {"premisesId": salon.id, "status": "GRANTED", "reason": "test"}
    message = refused(hub, SET_CERTIFICATE, variables, "CONFLICT", as_=city, purpose="licensing")
    assert "Gent certifies window premises, not massage_salon premises" in message


# --- Antwerp: the window regime, unchanged --------------------------------------------------


def test_antwerp_club_shift_needs_no_certificate(hub):
    """The certificate belongs to window premises: a club's shift is registered without."""
    premises = Premises(
        id=new_id(),
        address=marker("Clubstraat"),
        city="Antwerpen",
        kind="club",
        windows=2,
        operator_id=org(hub, "operator_vitrine_beheer"),
    )
    worker = SexWorker(id=new_id(), working_name=marker("Club"), city="Antwerpen")
    insert(hub, premises, worker)
    start = hour(now()) + timedelta(days=11)
    insert(
        hub,
        RentalAgreement(
            premises_id=premises.id,
            window=1,
            sex_worker_id=worker.id,
            starts_at=start,
            ends_at=start + timedelta(hours=24),
            confirmed=True,
            confirmed_at=now(),
        ),
    )
    shift = {
        "premisesId": premises.id,
        "window": 1,
        "sexWorkerId": worker.id,
        "startsAt": iso(start + timedelta(hours=2)),
        "endsAt": iso(start + timedelta(hours=10)),
    }
    done = hub.ok(REGISTER_SHIFT, {"input": shift}, as_=OPERATOR)["registerShift"]
    assert done["status"] == "REGISTERED"


def test_antwerp_window_shift_still_needs_a_certificate(hub):
    site = make_site(hub, certificate=None)
    message = refused(hub, REGISTER_SHIFT, {"input": site.shift(2, 10)}, "CONFLICT", as_=OPERATOR)
    assert "hold no suitability certificate" in message


# --- small workflow rules --------------------------------------------------------------------


def _rental(site: Any, start_h: float, end_h: float, window: int = 1) -> dict[str, Any]:
    return {
        "input": {
            "premisesId": site.premises_id,
            "window": window,
            "sexWorkerId": site.worker_id,
            "startsAt": iso(site.at(start_h)),
            "endsAt": iso(site.at(end_h)),
        }
    }


def test_overlapping_rentals_on_one_window_are_refused(hub):
    site = make_site(hub)
    hub.ok(RECORD_RENTAL, _rental(site, 0, 48), as_=OPERATOR)
    message = refused(hub, RECORD_RENTAL, _rental(site, 24, 72), "CONFLICT", as_=OPERATOR)
    assert "already rented" in message
    refused(hub, RECORD_RENTAL, _rental(site, -4, 1), "CONFLICT", as_=OPERATOR)
    # Back to back, or on another window: no overlap.
    hub.ok(RECORD_RENTAL, _rental(site, 48, 72), as_=OPERATOR)
    hub.ok(RECORD_RENTAL, _rental(site, 24, 72, window=2), as_=OPERATOR)
    n = scalars(
        hub,
        select(col(RentalAgreement.id)).where(col(RentalAgreement.premises_id) == site.premises_id),
    )
    assert len(n) == 3


def _shift_at(hub: Hub, start: datetime, end: datetime) -> str:
    site = make_site(hub)
    row = ShiftRegistration(
        premises_id=site.premises_id,
        window=1,
        sex_worker_id=site.worker_id,
        starts_at=start,
        ends_at=end,
        status="registered",
    )
    insert(hub, row)
    return row.id


@pytest.mark.parametrize(
    ("start_m", "end_m", "allowed"),
    [
        (-60, 300, True),  # in progress
        (20, 480, True),  # starts within the tolerance (PT30M in Antwerp)
        (-480, -20, True),  # ended within the tolerance
        (120, 600, False),  # starts in two hours
        (-600, -60, False),  # ended an hour ago
        (60 * 24 * 10, 60 * 24 * 10 + 480, False),  # in ten days
    ],
)
def test_validate_shift_only_during_the_shift(hub, start_m, end_m, allowed):
    t = now()
    shift_id = _shift_at(hub, t + timedelta(minutes=start_m), t + timedelta(minutes=end_m))
    variables = {"id": shift_id, "input": VALIDATED}
    if allowed:
        done = hub.ok(VALIDATE_SHIFT, variables, as_=POLICE, purpose="identity_validation")
        assert done["validateShift"]["status"] == "VALIDATED"
    else:
        message = refused(
            hub, VALIDATE_SHIFT, variables, "CONFLICT", as_=POLICE, purpose="identity_validation"
        )
        assert "while it takes place" in message
        assert get(hub, ShiftRegistration, shift_id).status == "registered"


def test_rules_citing_the_antwerp_police_code_reach_antwerp_only():
    """The Ghent police never read under the Antwerp police code: every rule that cites it
    names Antwerp in its `where` (a conjunct every matching row meets)."""
    from hub.policy.engine import PolicySet
    from hub.policy.guardrails import pinned

    policies = PolicySet.from_directory(ROOT / "policies")
    citing = [
        (name, rule)
        for name, doc in policies.documents.items()
        for rule in doc.rules
        if "Antwerp" in rule.legal_basis
    ]
    assert citing
    for name, rule in citing:
        assert pinned(rule.where, "city", "Antwerpen") or pinned(
            rule.where, "premises.city", "Antwerpen"
        ), (name, rule.name)
