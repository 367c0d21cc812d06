"""Employers and work (labour law of 2024), on SQLite and PostgreSQL, through GraphQL:

- an employer's recognition, decided by the labour inspector (number validated, a
  withdrawal final, only organisations of kind `employer`);
- employment relations, recorded by a recognised employer, seen by the worker in
  self-service and by the labour inspection with the worker as a pseudonym only;
- employees' shifts: no rental where Antwerp's regime says so (`employment`), a
  certificate only for the kinds of premises it lists; a self-employed worker's shift
  without a rental is refused as before; an employer whose recognition is suspended or
  withdrawn registers no shift;
- the labour inspector never sees an identity, a workplace, care or reports, and no policy
  can give it one (guardrail `labour-inspection-sees-no-persons`);
- rent terms on rental agreements (EUR cents, non-negative, validated).

Each test builds its own employer, premises and workers (`make_employer`), so the tests of
this module share one seeded hub per backend and stay independent.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from hub.cli import main
from hub.models import (
    Certificate,
    EmploymentRelation,
    Organisation,
    Premises,
    RentalAgreement,
    SexWorker,
    ShiftRegistration,
)
from hub.policy.regimes import parse_regimes
from tests.conftest import BACKENDS, Hub, Templates, _start
from tests.test_workflows import (
    CONFIRM_RENTAL,
    OPERATOR,
    REGISTER_SHIFT,
    ensure_client,
    get,
    insert,
    iso,
    marker,
    new_id,
    org,
    refused,
    scalars,
    worker_client,
)

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR = "demo-labour-inspector"
CITY = "demo-city-antwerp"
POLICE = "demo-police-antwerp"

SET_RECOGNITION = """
mutation($org: ID!, $status: RecognitionStatus!, $number: String) {
  setEmployerRecognition(organisationId: $org, status: $status, recognitionNumber: $number) {
    id kind recognitionStatus recognitionNumber recognitionDecidedAt
  }
}"""
RECORD_EMPLOYMENT = """
mutation($input: EmploymentInput!) {
  recordEmployment(input: $input) {
    id contractKind startsOn endsOn sexWorkerId employer { id name } sexWorker { workingName }
  }
}"""
END_EMPLOYMENT = """
mutation($id: ID!, $endsOn: Date!) { endEmployment(id: $id, endsOn: $endsOn) { id endsOn endedAt } }"""
EMPLOYMENTS = """
{ employmentRelations(first: 100) { edges { node {
    id contractKind startsOn endsOn sexWorkerId employer { id name recognitionStatus }
    sexWorker { workingName identity { legalName } } } } } }"""


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    yield from _start(templates, request.param, tmp_path_factory.mktemp("employment"), seeded=True)


def now() -> datetime:
    return datetime.now(UTC)


def number() -> str:
    """A fresh recognition number: SW, a year, four digits."""
    return f"SW-2026-{int(new_id().replace('-', '')[:8], 16) % 10_000:04d}"


@dataclass
class Employer:
    org_id: str
    client: str
    premises_id: str  # window premises, certificate granted
    club_id: str  # a club with rooms, no certificate
    uncertified_id: str  # window premises without a certificate
    employee_id: str
    self_employed_id: str

    def shift(self, premises_id: str, hours_ahead: int, window: int = 1) -> dict[str, Any]:
        start = now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours_ahead)
        return {
            "premisesId": premises_id,
            "window": window,
            "sexWorkerId": self.employee_id,
            "startsAt": iso(start),
            "endsAt": iso(start + timedelta(hours=6)),
        }


def make_employer(hub: Hub, *, recognised: bool = True, employed: bool = True) -> Employer:
    """A new employer in Antwerp with its own client (operator role), three premises, an
    employee (employed open-ended from 30 days ago unless `employed` is false) and a
    self-employed worker; recognised by the labour inspector through GraphQL."""
    today = now().date()
    employer = Organisation(
        id=new_id(), name=marker("Werkgever"), kind="employer", city="Antwerpen"
    )
    premises = [
        Premises(
            id=new_id(),
            address=marker("Werkstraat"),
            city="Antwerpen",
            zone="Schipperskwartier",
            kind=kind,
            windows=3,
            operator_id=employer.id,
        )
        for kind in ("window", "club", "window")
    ]
    cert = Certificate(
        premises_id=premises[0].id,
        status="granted",
        valid_from=today - timedelta(days=30),
        valid_until=today + timedelta(days=180),
        decision="test",
    )
    workers = [
        SexWorker(id=new_id(), working_name=marker("Werknemer"), city="Antwerpen"),
        SexWorker(id=new_id(), working_name=marker("Zelfstandig"), city="Antwerpen"),
    ]
    insert(hub, employer)
    insert(hub, *premises, cert, *workers)
    client = ensure_client(
        hub,
        f"test-employer-{employer.id[:8]}",
        employer.id,
        roles=["operator"],
        purposes=["self_service"],
    )
    found = Employer(
        employer.id, client, premises[0].id, premises[1].id, premises[2].id,
        workers[0].id, workers[1].id,
    )  # fmt: skip
    if recognised:
        recognise(hub, found.org_id, number())
    if employed:
        insert(
            hub,
            EmploymentRelation(
                employer_id=employer.id,
                sex_worker_id=workers[0].id,
                contract_kind="open_ended",
                starts_on=today - timedelta(days=30),
                recorded_by_id=employer.id,
            ),
        )
    return found


def recognise(
    hub: Hub, org_id: str, recognition_number: str | None, status: str = "RECOGNISED"
) -> dict[str, Any]:
    variables = {"org": org_id, "status": status, "number": recognition_number}
    return hub.ok(SET_RECOGNITION, variables, as_=INSPECTOR)["setEmployerRecognition"]  # type: ignore[no-any-return]


# --- employees' shifts ---------------------------------------------------------------------


def test_an_employees_shift_needs_no_rental_in_antwerp(hub):
    e = make_employer(hub)
    shift = hub.ok(REGISTER_SHIFT, {"input": e.shift(e.premises_id, 48)}, as_=e.client)[
        "registerShift"
    ]
    assert shift["status"] == "REGISTERED"
    assert shift["rentalAgreementId"] is None
    assert shift["sexWorker"]["id"] == e.employee_id
    stored = get(hub, ShiftRegistration, shift["id"])
    assert (stored.rental_agreement_id, stored.registered_by_id) == (None, e.org_id)
    # The police see it in the pandkalender like any other shift.
    police = scalars(
        hub,
        select(col(ShiftRegistration.id)).where(
            col(ShiftRegistration.premises_id) == e.premises_id
        ),
    )
    assert police == [shift["id"]]


def test_a_self_employed_workers_shift_without_rental_is_refused_in_antwerp_as_before(hub):
    e = make_employer(hub)
    # The employer, for a worker it does not employ: the self-employed rules apply.
    variables = {"input": {**e.shift(e.premises_id, 48), "sexWorkerId": e.self_employed_id}}
    message = refused(hub, REGISTER_SHIFT, variables, "CONFLICT", as_=e.client)
    assert "no rental agreement" in message
    # An operator of premises (not an employer) for its tenant, unchanged.
    site = scalars(
        hub,
        select(col(Premises.id)).where(
            col(Premises.operator_id) == org(hub, "operator_vitrine_beheer"),
            col(Premises.kind) == "window",
        ),
    )[0]
    worker = e.self_employed_id
    variables = {"input": {**e.shift(site, 60), "sexWorkerId": worker}}
    assert "no rental agreement" in refused(
        hub, REGISTER_SHIFT, variables, "CONFLICT", as_=OPERATOR
    )
    assert (
        scalars(
            hub,
            select(col(ShiftRegistration.id)).where(col(ShiftRegistration.sex_worker_id) == worker),
        )
        == []
    )


def test_an_employee_needs_the_employment_on_every_day_of_the_shift(hub):
    e = make_employer(hub, employed=False)
    today = now().date()
    insert(
        hub,
        EmploymentRelation(
            employer_id=e.org_id,
            sex_worker_id=e.employee_id,
            contract_kind="fixed_term",
            starts_on=today - timedelta(days=10),
            ends_on=today + timedelta(days=1),
            recorded_by_id=e.org_id,
        ),
    )
    # Within the contract: no rental needed; after its last day: the self-employed rules.
    hub.ok(REGISTER_SHIFT, {"input": e.shift(e.premises_id, 2)}, as_=e.client)
    message = refused(
        hub, REGISTER_SHIFT, {"input": e.shift(e.premises_id, 24 * 5)}, "CONFLICT", as_=e.client
    )
    assert "no rental agreement" in message


def test_certificates_for_employees_follow_the_regime(hub):
    e = make_employer(hub)
    # Antwerp: `certificate_for_employers: [window]`. A club needs none...
    hub.ok(REGISTER_SHIFT, {"input": e.shift(e.club_id, 30)}, as_=e.client)
    # ...window premises without a certificate are refused, employee or not.
    message = refused(
        hub, REGISTER_SHIFT, {"input": e.shift(e.uncertified_id, 30)}, "CONFLICT", as_=e.client
    )
    assert "no suitability certificate" in message


def test_the_regime_format_for_employees():
    shipped = parse_regimes((ROOT / "policies" / "regimes.yaml").read_text())
    antwerp, ghent = shipped.of("Antwerpen"), shipped.of("Gent")
    assert antwerp is not None and ghent is not None
    # Antwerp's window regime for the self-employed is unchanged; employees need no rental.
    assert antwerp.certificate_premises == {"window"} and antwerp.advance_registration
    assert antwerp.employees_need_rental is False
    assert antwerp.employee_needs_certificate("window") and not antwerp.employee_needs_certificate(
        "club"
    )
    # Without `employment`, employees' shifts follow the self-employed rules (fail closed).
    assert ghent.employees_need_rental is True
    assert ghent.employee_needs_certificate("window") == ghent.needs_certificate("window")
    text = (
        (ROOT / "policies" / "regimes.yaml")
        .read_text()
        .replace("certificate_for_employers: [window]", "certificate_for_employers: []")
    )
    assert parse_regimes(text).of("Antwerpen").employee_needs_certificate("window") is False  # type: ignore[union-attr]
    bad = text.replace("certificate_for_employers: []", "certificate_for_employers: [windw]")
    with pytest.raises(Exception, match="windw"):
        parse_regimes(bad)


def test_an_employer_without_recognition_registers_no_shift_and_records_no_employment(hub):
    e = make_employer(hub)
    recognised = get(hub, Organisation, e.org_id)
    suspended = recognise(hub, e.org_id, None, "SUSPENDED")
    assert suspended["recognitionStatus"] == "SUSPENDED"
    assert suspended["recognitionNumber"] == recognised.recognition_number  # kept
    refused(hub, REGISTER_SHIFT, {"input": e.shift(e.premises_id, 48)}, "FORBIDDEN", as_=e.client)
    employment = {
        "input": {
            "sexWorkerId": e.self_employed_id,
            "contractKind": "OPEN_ENDED",
            "startsOn": iso(now().date()),
        }
    }
    refused(hub, RECORD_EMPLOYMENT, employment, "FORBIDDEN", as_=e.client)
    # Recognised again (its number is kept), the employer works again.
    recognise(hub, e.org_id, recognised.recognition_number)
    hub.ok(REGISTER_SHIFT, {"input": e.shift(e.premises_id, 48)}, as_=e.client)
    # A withdrawal is final.
    recognise(hub, e.org_id, None, "WITHDRAWN")
    refused(hub, REGISTER_SHIFT, {"input": e.shift(e.premises_id, 72)}, "FORBIDDEN", as_=e.client)
    variables = {"org": e.org_id, "status": "RECOGNISED", "number": recognised.recognition_number}
    refused(hub, SET_RECOGNITION, variables, "CONFLICT", as_=INSPECTOR)
    # Never recognised at all: no shift either.
    never = make_employer(hub, recognised=False)
    refused(
        hub,
        REGISTER_SHIFT,
        {"input": never.shift(never.premises_id, 48)},
        "FORBIDDEN",
        as_=never.client,
    )
    assert (
        scalars(
            hub,
            select(col(ShiftRegistration.id)).where(
                col(ShiftRegistration.premises_id) == never.premises_id
            ),
        )
        == []
    )


# --- recognition ---------------------------------------------------------------------------


def test_recognition_is_the_labour_inspectors_and_only_of_employers(hub):
    e = make_employer(hub, recognised=False)
    for bad in ("SW-26-0001", "2026-0001", "SW-2026-00012", "SW-1999-0001"):
        variables = {"org": e.org_id, "status": "RECOGNISED", "number": bad}
        refused(hub, SET_RECOGNITION, variables, "BAD_USER_INPUT", as_=INSPECTOR)
    refused(
        hub,
        SET_RECOGNITION,
        {"org": e.org_id, "status": "RECOGNISED"},
        "BAD_USER_INPUT",
        as_=INSPECTOR,
    )
    # Suspending an employer never recognised is no decision.
    refused(
        hub, SET_RECOGNITION, {"org": e.org_id, "status": "SUSPENDED"}, "CONFLICT", as_=INSPECTOR
    )
    given = number()
    done = recognise(hub, e.org_id, given.lower())  # normalised to upper case
    assert (done["kind"], done["recognitionStatus"], done["recognitionNumber"]) == (
        "EMPLOYER", "RECOGNISED", given,
    )  # fmt: skip
    stored = get(hub, Organisation, e.org_id)
    assert stored.recognition_decided_by_id == org(hub, "labour_inspection")
    # A number is one employer's.
    other = make_employer(hub, recognised=False)
    variables = {"org": other.org_id, "status": "RECOGNISED", "number": given}
    refused(hub, SET_RECOGNITION, variables, "CONFLICT", as_=INSPECTOR)
    # Not an employer: an operator of premises is out of the inspector's remit.
    variables = {
        "org": org(hub, "operator_vitrine_beheer"),
        "status": "RECOGNISED",
        "number": number(),
    }
    refused(hub, SET_RECOGNITION, variables, "FORBIDDEN", as_=INSPECTOR)
    # Nobody else decides: the city, the employer itself.
    variables = {"org": other.org_id, "status": "RECOGNISED", "number": number()}
    refused(hub, SET_RECOGNITION, variables, "FORBIDDEN", as_=CITY)
    refused(hub, SET_RECOGNITION, variables, "FORBIDDEN", as_=other.client)
    assert get(hub, Organisation, other.org_id).recognition_status is None


# --- employment relations ------------------------------------------------------------------


def test_an_employer_records_employment_which_the_worker_sees(hub):
    e = make_employer(hub, employed=False)
    today = now().date()
    variables = {
        "input": {
            "sexWorkerId": e.employee_id,
            "contractKind": "FIXED_TERM",
            "startsOn": iso(today),
            "endsOn": iso(today + timedelta(days=180)),
        }
    }
    made = hub.ok(RECORD_EMPLOYMENT, variables, as_=e.client)["recordEmployment"]
    assert (made["contractKind"], made["employer"]["id"], made["sexWorkerId"]) == (
        "FIXED_TERM", e.org_id, e.employee_id,
    )  # fmt: skip
    assert made["sexWorker"]["workingName"]  # the working name, never the identity
    # A second, overlapping employment by the same employer: refused.
    refused(hub, RECORD_EMPLOYMENT, variables, "CONFLICT", as_=e.client)
    # The worker sees it in self-service, with the employer.
    mine = hub.ok(EMPLOYMENTS, as_=worker_client(hub, e.employee_id), purpose="self_service")
    edges = mine["employmentRelations"]["edges"]
    assert [x["node"]["id"] for x in edges] == [made["id"]]
    assert edges[0]["node"]["employer"]["recognitionStatus"] == "RECOGNISED"
    # Another worker does not.
    other = hub.ok(EMPLOYMENTS, as_=worker_client(hub, e.self_employed_id), purpose="self_service")
    assert other["employmentRelations"]["edges"] == []
    # The employer ends it early; later than agreed is not an end.
    late = {"id": made["id"], "endsOn": iso(today + timedelta(days=400))}
    refused(hub, END_EMPLOYMENT, late, "BAD_USER_INPUT", as_=e.client)
    ended = hub.ok(
        END_EMPLOYMENT, {"id": made["id"], "endsOn": iso(today + timedelta(days=20))}, as_=e.client
    )
    assert ended["endEmployment"]["endsOn"] == iso(today + timedelta(days=20))
    assert get(hub, EmploymentRelation, made["id"]).ended_at is not None
    # Another employer neither reads nor ends it.
    stranger = make_employer(hub)
    seen = hub.ok(EMPLOYMENTS, as_=stranger.client)["employmentRelations"]["edges"]
    assert made["id"] not in {x["node"]["id"] for x in seen}
    refused(
        hub,
        END_EMPLOYMENT,
        {"id": made["id"], "endsOn": iso(today)},
        "NOT_FOUND",
        as_=stranger.client,
    )


def test_employment_input_is_validated(hub):
    e = make_employer(hub, employed=False)
    today = now().date()
    base = {"sexWorkerId": e.employee_id, "contractKind": "FIXED_TERM", "startsOn": iso(today)}
    for extra in (
        {},  # a fixed term has an end
        {"endsOn": iso(today - timedelta(days=1))},  # not before its start
        {"contractKind": "OPEN_ENDED", "endsOn": iso(today + timedelta(days=9))},
    ):
        refused(
            hub, RECORD_EMPLOYMENT, {"input": {**base, **extra}}, "BAD_USER_INPUT", as_=e.client
        )
    # An operator of premises is no employer.
    variables = {"input": {**base, "contractKind": "OPEN_ENDED"}}
    refused(hub, RECORD_EMPLOYMENT, variables, "FORBIDDEN", as_=OPERATOR)
    assert (
        scalars(
            hub,
            select(col(EmploymentRelation.id)).where(
                col(EmploymentRelation.sex_worker_id) == e.employee_id
            ),
        )
        == []
    )


# --- the labour inspector ------------------------------------------------------------------


def test_the_labour_inspector_sees_recognition_and_employment_never_identities(hub):
    e = make_employer(hub)
    directory = hub.ok(
        "{ organisations { id kind recognitionStatus recognitionNumber } }", as_=INSPECTOR
    )["organisations"]
    mine = next(o for o in directory if o["id"] == e.org_id)
    assert (mine["kind"], mine["recognitionStatus"]) == ("EMPLOYER", "RECOGNISED")
    body = hub.gql(EMPLOYMENTS, as_=INSPECTOR)
    relations = [x["node"] for x in body["data"]["employmentRelations"]["edges"]]
    ours = [r for r in relations if r["employer"]["id"] == e.org_id]
    assert len(ours) == 1
    assert ours[0]["sexWorkerId"].startswith("psn_")  # a pseudonym, not the worker's id
    assert ours[0]["sexWorker"] is None
    assert body["extensions"]["withheld"] == {"EmploymentRelation": ["sexWorker"]}
    assert all(r["sexWorker"] is None for r in relations)
    # No worker record, identity, workplace, care or report.
    sealed = hub.seal(e.employee_id, as_=INSPECTOR)
    for query in (
        f'{{ sexWorker(id: "{sealed}") {{ workingName identity {{ legalName }} }} }}',
        "{ shifts(first: 1) { edges { node { id } } } }",
        "{ rentalAgreements(first: 1) { edges { node { id } } } }",
        "{ premises(first: 1) { edges { node { id } } } }",
        "{ careContacts(first: 1) { edges { node { id } } } }",
        "{ referrals(first: 1) { edges { node { id } } } }",
        "{ reports(first: 1) { edges { node { id } } } }",
        "{ myAccessLog(first: 1) { edges { node { id } } } }",
    ):
        body = hub.gql(query, as_=INSPECTOR, sealed=True)
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], query
        assert not any((body.get("data") or {}).values()), query


def _check(tmp_path: Path, capsys: Any, file: str, text: str) -> str:
    target = tmp_path / "policies"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "policies", target)
    (target / file).write_text(text)
    assert main(["policy", "check", "--dir", str(target)]) == 1
    return capsys.readouterr().err  # type: ignore[no-any-return]


_INSPECTOR_IDENTITY = """  - name: labour-inspection-reads-employees
    roles: [labour_inspector]
    purposes: [labour_inspection]
    legal_basis: "A breach"
    actions: [read]
    where: {employments.employer_id: {is_null: false}}
    fields: {"*": allow}
"""
_INSPECTOR_REPORTS = """  - name: labour-inspection-reads-reports
    roles: [labour_inspector]
    purposes: [labour_inspection]
    legal_basis: "A breach"
    actions: [read]
    where: {shares.organisation_id: {eq: $principal.org_id}}
    fields: {"*": allow}
"""


def test_no_policy_gives_the_labour_inspector_identities_or_reports(tmp_path, capsys):
    text = (ROOT / "policies" / "sex_worker.yaml").read_text()
    text = text.replace(
        "  - name: worker-sees-own-record", _INSPECTOR_IDENTITY + "  - name: worker-sees-own-record"
    )
    err = _check(tmp_path, capsys, "sex_worker.yaml", text)
    assert (
        "guardrail labour-inspection-sees-no-persons: the labour inspector checks employers" in err
    )
    assert "guardrail identity: identity is shown only to the police and the worker" in err
    # Even without the identity, no worker record at all.
    err = _check(
        tmp_path,
        capsys,
        "sex_worker.yaml",
        text.replace(
            'fields: {"*": allow}\n  - name: worker-sees',
            'fields: {"*": allow, identity: deny}\n  - name: worker-sees',
        ),
    )
    assert "guardrail labour-inspection-sees-no-persons" in err
    reports = (ROOT / "policies" / "report.yaml").read_text()
    marker_line = "rules:\n"
    err = _check(
        tmp_path / "r",
        capsys,
        "report.yaml",
        reports.replace(marker_line, marker_line + _INSPECTOR_REPORTS, 1),
    )
    assert (
        "guardrail labour-inspection-sees-no-persons: the labour inspector checks employers" in err
    )
    # The employee's record through the employment: refused too.
    employment = (ROOT / "policies" / "employment_relation.yaml").read_text()
    err = _check(
        tmp_path / "e",
        capsys,
        "employment_relation.yaml",
        employment.replace("sex_worker: deny, sex_worker_id", "sex_worker: allow, sex_worker_id"),
    )
    assert "the labour inspector sees no worker's record or id: sex_worker: deny" in err


# --- rent terms ----------------------------------------------------------------------------

RENTAL = """
mutation($input: RentalAgreementInput!) {
  recordRentalAgreement(input: $input) { id rentCents rentPeriod depositCents currency }
}"""
RENT_OF = "{ rentalAgreements(first: 100) { edges { node { id rentCents rentPeriod depositCents currency sexWorkerId } } } }"


def test_rent_terms_are_validated_and_shown_to_operator_worker_and_city(hub):
    site = scalars(
        hub,
        select(col(Premises.id)).where(
            col(Premises.operator_id) == org(hub, "operator_vitrine_beheer"),
            col(Premises.kind) == "window",
        ),
    )
    worker = SexWorker(id=new_id(), working_name=marker("Huurder"), city="Antwerpen")
    insert(hub, worker)
    # A window and period nobody rents: the premises' last window, a year ahead.
    premises = get(hub, Premises, site[0])
    start = now().replace(minute=0, second=0, microsecond=0) + timedelta(days=365)
    base = {
        "premisesId": premises.id,
        "window": premises.windows,
        "sexWorkerId": worker.id,
        "startsAt": iso(start),
        "endsAt": iso(start + timedelta(days=7)),
    }
    for bad in (
        {"rentCents": -1, "rentPeriod": "WEEK"},
        {"rentCents": 50000},  # without its period
        {"rentPeriod": "WEEK"},  # without the amount
        {"rentCents": 50000, "rentPeriod": "WEEK", "depositCents": -5},
        {"depositCents": 1000},  # a deposit without rent
        {"rentCents": 50000, "rentPeriod": "WEEK", "currency": "USD"},
        {"rentCents": 10**12, "rentPeriod": "WEEK"},
    ):
        refused(hub, RENTAL, {"input": {**base, **bad}}, "BAD_USER_INPUT", as_=OPERATOR)
    terms = {"rentCents": 52500, "rentPeriod": "WEEK", "depositCents": 0, "currency": "EUR"}
    made = hub.ok(RENTAL, {"input": {**base, **terms}}, as_=OPERATOR)["recordRentalAgreement"]
    assert {k: made[k] for k in terms} == terms
    stored = get(hub, RentalAgreement, made["id"])
    assert (stored.rent_cents, stored.rent_period, stored.deposit_cents, stored.currency) == (
        52500, "week", 0, "EUR",
    )  # fmt: skip
    # The worker and the city's licensing officer see the terms (the city without the worker).
    for client, purpose in ((worker_client(hub, worker.id), "self_service"), (CITY, "licensing")):
        seen = hub.ok(RENT_OF, as_=client, purpose=purpose)["rentalAgreements"]["edges"]
        node = next(x["node"] for x in seen if x["node"]["id"] == made["id"])
        assert {k: node[k] for k in terms} == terms
    # Confirmed by the worker as before; no terms at all stays allowed (null).
    hub.ok(CONFIRM_RENTAL, {"id": made["id"]}, as_=worker_client(hub, worker.id))
    plain = {
        **base,
        "startsAt": iso(start + timedelta(days=8)),
        "endsAt": iso(start + timedelta(days=9)),
    }
    bare = hub.ok(RENTAL, {"input": plain}, as_=OPERATOR)["recordRentalAgreement"]
    assert (bare["rentCents"], bare["currency"]) == (None, None)


def test_the_employment_tables_match_their_models(hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with hub.db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    tables = ("employment_relation", "organisation", "rental_agreement")
    mine = [d for d in hub.run(diffs()) if any(t in repr(d) for t in tables)]
    assert mine == []


# --- the worker's own page -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ("My employment", "open-ended contract", "Rent:", "per day")),
        ("nl", ("Mijn tewerkstelling", "contract van onbepaalde duur", "Huur:", "per dag")),
        ("fr", ("Mon emploi", "contrat à durée indéterminée", "Loyer", "par jour")),
    ],
)
def test_the_worker_sees_the_employment_and_rent_on_their_own_page(hub, locale, words):
    from tests.consoles import session_client

    e = make_employer(hub)
    employer = get(hub, Organisation, e.org_id)
    page = session_client(hub, worker_client(hub, e.employee_id))
    page.locale = locale
    text = html.unescape(page.get("/me").text)
    assert employer.name in text
    assert words[0] in text and words[1] in text
    # Another worker's page names no employer; the demo worker's rentals show their rent.
    other = session_client(hub, worker_client(hub, e.self_employed_id))
    other.locale = locale
    assert employer.name not in other.get("/me").text
    demo = session_client(hub, "demo-worker")
    demo.locale = locale
    mine = html.unescape(demo.get("/me").text)
    assert words[2] in mine and words[3] in mine and "95" in mine
