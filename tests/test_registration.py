"""Self-registration, participation per city and pairing codes (issue 11, part 5), on
SQLite and PostgreSQL, through the GraphQL API.

One seeded hub per backend for the module (as tests/test_workflows.py); each test makes the
people, workers and premises it changes and asserts only on those.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlmodel import col

from hub.auth.people import load_person
from hub.demo_clients import SELF_SERVICE_ORG
from hub.models import (
    Certificate,
    DataKey,
    FollowUpAttempt,
    Organisation,
    Pairing,
    Participation,
    Person,
    Premises,
    SexWorker,
    ShiftRegistration,
)
from hub.services import codes
from tests.conftest import BACKENDS, Hub, Templates, _start
from tests.registry_looks import admitted_until_next_look
from tests.test_workflows import (
    count,
    ensure_client,
    get,
    insert,
    marker,
    new_id,
    now,
    org,
    scalars,
    worker_client,
)

GHENT = "Gent"
ANTWERP = "Antwerpen"
OPERATOR_GHENT = "test-operator-gentse-vensters"
OTHER_OPERATOR_GHENT = "test-operator-heuvelpoort"
POLICE_ANTWERP = "demo-police-antwerp"
POLICE_GHENT = "demo-police-ghent"


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    yield from _start(
        templates, request.param, tmp_path_factory.mktemp("registration"), seeded=True
    )


REGISTER = """mutation($input: SelfRegistrationInput!) {
  registerMyself(input: $input) { id workingName city adultVerified identity { legalName } } }"""
CREATE_CODE = "mutation { createPairingCode { code pairing { id status expiresAt } } }"
REDEEM = "mutation($code: String!) { redeemPairingCode(code: $code) { id status sexWorkerId } }"
REVOKE = "mutation($id: ID!) { revokePairing(id: $id) { id status revokedAt } }"
PAIRED_SHIFT = """mutation($input: ShiftInput!) {
  registerPairedShift(input: $input) { id status startsAt sexWorker { workingName } } }"""
JOIN = "mutation($city: String!) { joinCity(city: $city) { id city regime how status } }"
PARTICIPATIONS = "{ participations { id city regime how status sexWorkerId } }"


# --- helpers --------------------------------------------------------------------------------


def self_service_org(hub: Hub) -> str:
    found = scalars(
        hub, select(col(Organisation.id)).where(col(Organisation.name) == SELF_SERVICE_ORG)
    )
    return str(found[0])


def new_person(hub: Hub) -> str:
    """A person of the consoles with the sex_worker role and no worker record yet."""
    person = Person(
        username=marker("applicant").lower(),
        password_hash="not-used-here",
        display_name="Applicant",
        organisation_id=self_service_org(hub),
        roles=["sex_worker"],
        purposes=["self_service"],
    )
    insert(hub, person)
    return person.id


def person_token(hub: Hub, person_id: str) -> str:
    """The access token the consoles' login would give the person now."""

    async def go() -> str:
        async with hub.db.session() as session:
            found = await load_person(session, person_id=person_id)
        assert found is not None
        person, organisation = found
        tokens = hub.app.state.issuer.person_tokens(
            person, organisation, auth_time=datetime.now(UTC), scope="openid", nonce=None
        )
        return str(tokens["access_token"])

    return hub.run(go())  # type: ignore[no-any-return]


def raw(hub: Hub, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    """A request with a person's token, ids left sealed as sent and received."""
    r = hub.client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": "self_service"},
    )
    assert r.status_code in (200, 401), r.text
    return r.json()


def code_of(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


def ghent_site(hub: Hub, operator: str = "operator_gentse_vensters") -> str:
    """A Ghent club (no certificate needed under Ghent's regime) of `operator`."""
    premises = Premises(
        id=new_id(),
        address=marker("Testlaan"),
        city=GHENT,
        zone="Brugse Poort",
        kind="club",
        windows=3,
        operator_id=org(hub, operator),
    )
    insert(hub, premises)
    return premises.id


def operator_ghent(
    hub: Hub, client_id: str = OPERATOR_GHENT, key: str = "operator_gentse_vensters"
):
    return ensure_client(
        hub, client_id, org(hub, key), roles=["operator"], purposes=["self_service"]
    )


def ghent_worker(hub: Hub) -> str:
    """A self-registered worker in Ghent, through the API; returns the worker's id."""
    person = new_person(hub)
    body = raw(
        hub,
        person_token(hub, person),
        REGISTER,
        {"input": {"workingName": marker("Lila"), "city": GHENT, "confirmsAdult": True}},
    )
    assert "errors" not in body, body
    return str(get(hub, Person, person).sex_worker_id)


def pair(hub: Hub, worker: str, operator: str = OPERATOR_GHENT) -> str:
    me = worker_client(hub, worker)
    code = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]["code"]
    redeemed = hub.ok(REDEEM, {"code": code}, as_=operator, purpose="self_service")
    return str(redeemed["redeemPairingCode"]["id"])


def shift_input(premises: str, worker: str, *, days: int = 3, window: int = 1) -> dict[str, Any]:
    start = (now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return {
        "input": {
            "premisesId": premises,
            "window": window,
            "sexWorkerId": worker,
            "startsAt": start.isoformat(),
            "endsAt": (start + timedelta(hours=6)).isoformat(),
        }
    }


# --- self-registration --------------------------------------------------------------------


def test_a_person_registers_themself_in_ghent_without_identity(hub: Hub) -> None:
    person = new_person(hub)
    token = person_token(hub, person)
    name = marker("Lila")
    body = raw(
        hub,
        token,
        REGISTER,
        {"input": {"workingName": name, "city": GHENT, "confirmsAdult": True, "languages": ["ro"]}},
    )
    assert "errors" not in body, body
    answer = body["data"]["registerMyself"]
    assert (answer["workingName"], answer["city"], answer["identity"]) == (name, GHENT, None)
    assert answer["adultVerified"] is False  # declared, never verified
    worker_id = get(hub, Person, person).sex_worker_id
    worker = get(hub, SexWorker, worker_id)
    assert (worker.working_name, worker.city, worker.identity) == (name, GHENT, None)
    assert worker.registered_by_id == self_service_org(hub)
    assert count(hub, DataKey, col(DataKey.sex_worker_id) == worker_id) == 0
    parts = scalars(hub, select(Participation).where(col(Participation.sex_worker_id) == worker_id))
    assert [(p.city, p.regime, p.how, p.status) for p in parts] == [
        (GHENT, "voluntary", "self", "active")
    ]
    # The token from before names no worker: it is refused; a new login acts as the worker.
    admitted_until_next_look(
        hub.app.state.registry, lambda: "errors" not in raw(hub, token, "{ me { subject } }")
    )
    assert code_of(raw(hub, token, "{ me { subject } }")) == "UNAUTHENTICATED"
    fresh = person_token(hub, person)
    mine = raw(hub, fresh, PARTICIPATIONS)
    assert "errors" not in mine, mine
    assert [p["city"] for p in mine["data"]["participations"]] == [GHENT]
    # Registered once: a second registration is refused.
    again = raw(
        hub, fresh, REGISTER, {"input": {"workingName": name, "city": GHENT, "confirmsAdult": True}}
    )
    assert code_of(again) == "CONFLICT"


def test_self_registration_is_refused_where_the_police_register_workers(hub: Hub) -> None:
    person = new_person(hub)
    token = person_token(hub, person)
    body = raw(
        hub,
        token,
        REGISTER,
        {"input": {"workingName": marker("Nova"), "city": ANTWERP, "confirmsAdult": True}},
    )
    assert code_of(body) == "CONFLICT"
    assert "police register workers" in body["errors"][0]["message"]
    for city, adult in (("Brugge", True), (GHENT, False)):
        other = raw(
            hub,
            token,
            REGISTER,
            {"input": {"workingName": marker("Nova"), "city": city, "confirmsAdult": adult}},
        )
        assert code_of(other) in ("CONFLICT", "BAD_USER_INPUT")
    assert get(hub, Person, person).sex_worker_id is None


def test_only_a_person_without_a_record_registers_themself(hub: Hub) -> None:
    variables = {"input": {"workingName": marker("X"), "city": GHENT, "confirmsAdult": True}}
    # A worker's API client (has a record), an operator and the police: refused.
    worker = worker_client(hub, hub.demo.sex_worker_ids[0])  # type: ignore[union-attr]
    assert hub.error_code(REGISTER, variables, as_=worker) == "CONFLICT"
    assert hub.error_code(REGISTER, variables, as_=operator_ghent(hub)) == "FORBIDDEN"
    police = hub.error_code(REGISTER, variables, as_=POLICE_GHENT, purpose="identity_validation")
    assert police == "FORBIDDEN"


# --- pairing codes ------------------------------------------------------------------------


def test_a_pairing_code_is_shown_once_stored_hashed_and_works_once(hub: Hub) -> None:
    worker = ghent_worker(hub)
    me = worker_client(hub, worker)
    made = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]
    code, pairing_id = made["code"], made["pairing"]["id"]
    assert made["pairing"]["status"] == "pending"
    assert codes.code_hash(code) is not None
    row = get(hub, Pairing, pairing_id)
    assert row.code_hash == codes.code_hash(code) and code not in repr(row.__dict__)
    expires = datetime.fromisoformat(made["pairing"]["expiresAt"])
    assert timedelta(hours=23) < expires - now() <= timedelta(hours=24)
    # Nowhere to read it again: the pairing has no code field, the worker's list shows none.
    listed = hub.ok("{ pairings { id status } }", as_=me)["pairings"]
    assert {p["id"] for p in listed} >= {pairing_id} and code not in repr(listed)

    operator = operator_ghent(hub)
    # Typed as a person may type it: lower case, spaces.
    typed = code.lower().replace("-", " ")
    redeemed = hub.ok(REDEEM, {"code": typed}, as_=operator, purpose="self_service")
    assert redeemed["redeemPairingCode"]["status"] == "active"
    assert redeemed["redeemPairingCode"]["sexWorkerId"] == worker
    row = get(hub, Pairing, pairing_id)
    assert (row.organisation_id, row.code_hash) == (org(hub, "operator_gentse_vensters"), None)
    # Single use: the same code again, by another operator too, is refused.
    other = operator_ghent(hub, OTHER_OPERATOR_GHENT, "operator_heuvelpoort")
    for caller in (operator, other):
        body = hub.gql(REDEEM, {"code": code}, as_=caller, purpose="self_service")
        assert code_of(body) == "NOT_FOUND"


def test_wrong_expired_and_used_codes_get_the_same_answer_and_guesses_are_limited(
    hub: Hub,
) -> None:
    worker = ghent_worker(hub)
    me = worker_client(hub, worker)
    expired = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]
    used = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]

    async def expire() -> None:
        async with hub.db.session() as session:
            await session.execute(
                update(Pairing)
                .where(col(Pairing.id) == expired["pairing"]["id"])
                .values(expires_at=now() - timedelta(minutes=1))
            )
            await session.commit()

    hub.run(expire())
    guesser = ensure_client(
        hub,
        marker("test-guesser"),
        org(hub, "operator_lotusblad"),
        roles=["operator"],
        purposes=["self_service"],
    )
    first = hub.ok(REDEEM, {"code": used["code"]}, as_=operator_ghent(hub), purpose="self_service")
    assert first["redeemPairingCode"]["status"] == "active"
    messages = set()
    for code in (codes.new_code(), expired["code"], used["code"], "not a code"):
        body = hub.gql(REDEEM, {"code": code}, as_=guesser, purpose="self_service")
        assert code_of(body) == "NOT_FOUND", body
        messages.add(body["errors"][0]["message"])
    assert len(messages) == 1  # which part was wrong is never said
    # The fifth wrong try in 15 minutes, then every try is refused, a right code too.
    assert (
        code_of(hub.gql(REDEEM, {"code": codes.new_code()}, as_=guesser, purpose="self_service"))
        == "NOT_FOUND"
    )
    valid = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]["code"]
    body = hub.gql(REDEEM, {"code": valid}, as_=guesser, purpose="self_service")
    assert code_of(body) == "RATE_LIMITED"
    assert (
        get(
            hub,
            Pairing,
            scalars(
                hub, select(col(Pairing.id)).where(col(Pairing.code_hash) == codes.code_hash(valid))
            )[0],
        ).status
        == "pending"
    )
    # Wrong tries are kept as digests of the caller, never the code or the subject.
    kept = scalars(hub, select(col(FollowUpAttempt.caller_hash)))
    assert all(len(h) == 64 and guesser not in h for h in kept)


def test_at_most_three_codes_wait_at_once(hub: Hub) -> None:
    me = worker_client(hub, ghent_worker(hub))
    for _ in range(3):
        hub.ok(CREATE_CODE, as_=me)
    assert hub.error_code(CREATE_CODE, as_=me) == "CONFLICT"


# --- shifts by a paired operator ----------------------------------------------------------


def test_a_paired_operator_registers_a_shift_in_advance_without_police(hub: Hub) -> None:
    worker = ghent_worker(hub)
    operator = operator_ghent(hub)
    premises = ghent_site(hub)
    # Not paired yet: refused like an unknown worker.
    body = hub.gql(
        PAIRED_SHIFT, shift_input(premises, worker), as_=operator, purpose="self_service"
    )
    assert code_of(body) == "FORBIDDEN"
    pair(hub, worker)
    shift = hub.ok(
        PAIRED_SHIFT, shift_input(premises, worker), as_=operator, purpose="self_service"
    )
    shift = shift["registerPairedShift"]
    assert shift["status"] == "REGISTERED"
    assert shift["sexWorker"]["workingName"]  # the paired operator knows the working name
    row = get(hub, ShiftRegistration, shift["id"])
    assert (row.rental_agreement_id, row.validated_at, row.sex_worker_id) == (None, None, worker)
    # No police step, and no police view: Ghent's police read no shift, the worker does.
    ghent = hub.gql(
        "{ shifts(first: 100) { edges { node { id } } } }", as_=POLICE_GHENT, purpose="inspection"
    )
    assert shift["id"] not in repr(ghent)
    mine = hub.ok(
        "{ shifts(first: 100) { edges { node { id } } } }", as_=worker_client(hub, worker)
    )
    assert shift["id"] in {e["node"]["id"] for e in mine["shifts"]["edges"]}


def test_a_revoked_pairing_stops_the_operator(hub: Hub) -> None:
    worker = ghent_worker(hub)
    operator = operator_ghent(hub)
    premises = ghent_site(hub)
    pairing_id = pair(hub, worker)
    me = worker_client(hub, worker)
    revoked = hub.ok(REVOKE, {"id": pairing_id}, as_=me)["revokePairing"]
    assert revoked["status"] == "revoked" and revoked["revokedAt"]
    body = hub.gql(
        PAIRED_SHIFT, shift_input(premises, worker), as_=operator, purpose="self_service"
    )
    assert code_of(body) == "FORBIDDEN"
    assert count(hub, ShiftRegistration, col(ShiftRegistration.sex_worker_id) == worker) == 0
    # Nor does the operator see the worker's working name any more.
    seen = hub.gql(
        "query($id: ID!) { sexWorker(id: $id) { workingName } }",
        {"id": worker},
        as_=operator,
        purpose="self_service",
    )
    assert (seen.get("data") or {}).get("sexWorker") is None
    # The operator cannot revoke for the worker, nor the worker's pairing of another.
    assert hub.error_code(REVOKE, {"id": pairing_id}, as_=operator, purpose="self_service") in (
        "FORBIDDEN",
        "NOT_FOUND",
    )


def test_paired_shifts_are_refused_where_the_police_validate(hub: Hub) -> None:
    """Antwerp has police validation: a pairing there opens no path around it."""
    worker = ghent_worker(hub)
    antwerp_operator = "demo-operator"
    premises = Premises(
        id=new_id(),
        address=marker("Testlei"),
        city=ANTWERP,
        zone="Schipperskwartier",
        kind="window",
        windows=2,
        operator_id=org(hub, "operator_vitrine_beheer"),
    )
    today = date.today()
    cert = Certificate(
        premises_id=premises.id,
        status="granted",
        valid_from=today - timedelta(days=1),
        valid_until=today + timedelta(days=90),
        decision="test",
    )
    insert(hub, premises)
    insert(hub, cert)
    pair(hub, worker, antwerp_operator)
    body = hub.gql(
        PAIRED_SHIFT, shift_input(premises.id, worker), as_=antwerp_operator, purpose="self_service"
    )
    assert code_of(body) == "CONFLICT"
    assert "police validation" in body["errors"][0]["message"]


# --- one person across cities -------------------------------------------------------------


def test_a_police_registered_worker_takes_part_in_a_second_city_without_registering_again(
    hub: Hub,
) -> None:
    name = marker("Mira")
    registered = hub.ok(
        """mutation($input: RegisterSexWorkerInput!) { registerSexWorker(input: $input) { id } }""",
        {
            "input": {
                "workingName": name,
                "legalName": "Test Persoon",
                "birthDate": "1990-05-01",
                "nationality": "BE",
                "documentNumber": "BE-1234-XY",
            }
        },
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )["registerSexWorker"]
    worker = registered["id"]
    me = worker_client(hub, worker)
    first = hub.ok(PARTICIPATIONS, as_=me)["participations"]
    assert [(p["city"], p["how"], p["regime"]) for p in first] == [
        (ANTWERP, "police", "compulsory")
    ]
    joined = hub.ok(JOIN, {"city": GHENT}, as_=me)["joinCity"]
    assert (joined["city"], joined["how"], joined["regime"], joined["status"]) == (
        GHENT,
        "self",
        "voluntary",
        "active",
    )
    assert count(hub, SexWorker, col(SexWorker.working_name) == name) == 1  # one record
    assert hub.error_code(JOIN, {"city": GHENT}, as_=me) == "CONFLICT"  # once
    # Leaving ends the participation; joining again reopens the same one.
    left = hub.ok(
        "mutation($id: ID!) { leaveCity(id: $id) { status endedAt } }", {"id": joined["id"]}, as_=me
    )["leaveCity"]
    assert left["status"] == "ended" and left["endedAt"]
    again = hub.ok(JOIN, {"city": GHENT}, as_=me)["joinCity"]
    assert (again["id"], again["status"]) == (joined["id"], "active")
    # Each city's police see what their city's policy allows: Antwerp its own participation,
    # never the Ghent one; Ghent's police none at all.
    antwerp = hub.ok(PARTICIPATIONS, as_=POLICE_ANTWERP, purpose="inspection")["participations"]
    theirs = [p for p in antwerp if p["sexWorkerId"] == worker]
    assert [p["city"] for p in theirs] == [ANTWERP]
    assert all(p["city"] == ANTWERP for p in antwerp)
    ghent = hub.gql(PARTICIPATIONS, as_=POLICE_GHENT, purpose="inspection")
    assert not (ghent.get("data") or {}).get("participations")
    # A worker of Ghent joins no compulsory regime by themself: the police register there.
    self_registered = worker_client(hub, ghent_worker(hub))
    assert hub.error_code(JOIN, {"city": ANTWERP}, as_=self_registered) == "CONFLICT"


# --- the pages: /me/register and /me/pairing ----------------------------------------------


def test_a_worker_registers_on_the_pages_then_makes_and_revokes_a_pairing_code(hub: Hub) -> None:
    import html
    import re

    from hub.auth.clients import hash_secret
    from tests.consoles import login

    password = "a long enough password"
    username = marker("pages").lower()
    person = Person(
        username=username,
        password_hash=hash_secret(password),
        display_name="Applicant",
        organisation_id=self_service_org(hub),
        roles=["sex_worker"],
        purposes=["self_service"],
    )
    insert(hub, person)
    browser = login(hub, username, password, return_to="/me", locale="nl")
    # No record yet: /me sends the person to the registration, offering Ghent, not Antwerp.
    r = browser.get("/me")
    assert (r.status_code, r.headers["location"]) == (303, "/me/register")
    form = browser.get("/me/register")
    assert form.status_code == 200
    assert 'value="Gent"' in form.text and 'value="Antwerpen"' not in form.text
    assert "Uzelf inschrijven" in form.text  # Dutch
    csrf = browser.csrf_token("/me/register")
    missing = browser.post(
        "/me/register", {"working_name": "Lila", "city": "Gent", "csrf_token": csrf}
    )
    assert missing.status_code == 400 and 'role="alert"' in missing.text  # no adult tick
    assert get(hub, Person, person.id).sex_worker_id is None
    name = marker("Lila")
    done = browser.post(
        "/me/register",
        {"working_name": name, "city": "Gent", "adult": "yes", "languages": "ro, nl"},
    )
    assert done.status_code == 200, done.text
    assert name in html.unescape(done.text) and "/login?return_to=/me" in done.text
    worker_id = get(hub, Person, person.id).sex_worker_id
    assert worker_id is not None and get(hub, SexWorker, worker_id).identity is None
    # The old session ends once the registry has looked; a new login acts as the worker.
    admitted_until_next_look(
        hub.app.state.registry, lambda: browser.get("/me/pairing").status_code == 200
    )
    browser = login(hub, username, password, return_to="/me", locale="en")
    assert browser.get("/me").status_code == 200
    page = browser.get("/me/pairing")
    assert page.status_code == 200 and "Ghent" in page.text
    made = browser.post("/me/pairing/code")
    assert made.status_code == 200
    code = re.search(r'<strong class="code">([0-9A-Z-]{19})</strong>', made.text)
    assert code is not None
    again = browser.get("/me/pairing")
    assert code.group(1) not in again.text  # shown once
    row = scalars(hub, select(Pairing).where(col(Pairing.sex_worker_id) == worker_id))[0]
    assert row.code_hash == codes.code_hash(code.group(1))
    ended = browser.post("/me/pairing/revoke", {"pairing": _pairing_field(again.text)})
    assert ended.status_code == 303
    assert get(hub, Pairing, row.id).status == "revoked"


def _pairing_field(page: str) -> str:
    import re

    found = re.search(r'name="pairing" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_the_demo_has_a_self_registered_worker_in_ghent_and_a_person_yet_to_register(
    hub: Hub,
) -> None:
    import html

    from hub.demo_clients import DEMO_PEOPLE
    from tests.consoles import login

    people = {p.username: p for p in DEMO_PEOPLE}
    ghent = people["werker-gent"]
    browser = login(hub, ghent.username, ghent.password, return_to="/me/pairing")
    page = html.unescape(browser.get("/me/pairing").text)
    assert "Gentse Vensters Beheer BV" in page and "registered by you" in page
    worker = get(hub, SexWorker, hub.demo.sex_worker_ids[ghent.worker_index])  # type: ignore[union-attr]
    assert (worker.city, worker.identity) == (GHENT, None)
    new = people["nieuw"]
    browser = login(hub, new.username, new.password, return_to="/me")
    r = browser.get("/me")
    assert (r.status_code, r.headers["location"]) == (303, "/me/register")


# --- one person across a voluntary and a compulsory regime ---------------------------------

POLICE_REGISTER = """mutation($input: RegisterSexWorkerInput!) {
  registerSexWorker(input: $input) { id workingName city adultVerified } }"""
MY_LOG = "{ myAccessLog(first: 100) { edges { node { action resource organisation { name } } } } }"


def _identity(name: str, code: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "workingName": name,
        "legalName": "Test Persoon",
        "birthDate": "1991-03-02",
        "nationality": "RO",
        "documentNumber": "RO-55501",
        "languages": ["ro"],
    }
    if code is not None:
        out["pairingCode"] = code
    return out


def test_a_self_registered_worker_of_ghent_is_registered_in_antwerp_on_the_same_record(
    hub: Hub,
) -> None:
    """The worker gives the Antwerp police a pairing code: the identity goes on the worker's
    own record (no second record), which keeps the worker's working name, moves to Antwerp
    and takes part there too; the code is used up, and the worker sees the registration in
    their access log."""
    worker = ghent_worker(hub)
    chosen = get(hub, SexWorker, worker).working_name
    me = worker_client(hub, worker)
    code = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]["code"]
    records = count(hub, SexWorker)
    body = hub.ok(
        POLICE_REGISTER,
        {"input": _identity(marker("Other"), code)},
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )["registerSexWorker"]
    assert body["id"] == worker
    assert (body["workingName"], body["city"], body["adultVerified"]) == (chosen, ANTWERP, True)
    assert count(hub, SexWorker) == records  # no second record
    row = get(hub, SexWorker, worker)
    assert row.identity is not None and b"Persoon" not in row.identity
    assert get(hub, DataKey, worker) is not None
    keyring = hub.app.state.hub.keyring
    wrapped = get(hub, DataKey, worker).wrapped_key
    assert keyring.decrypt(worker, wrapped, row.identity).legal_name == "Test Persoon"
    assert count(hub, Pairing, col(Pairing.sex_worker_id) == worker) == 0  # used up
    mine = hub.ok(PARTICIPATIONS, as_=me)["participations"]
    assert sorted((p["city"], p["how"], p["status"]) for p in mine) == [
        (ANTWERP, "police", "active"),
        (GHENT, "self", "active"),
    ]
    log = [e["node"] for e in hub.ok(MY_LOG, as_=me)["myAccessLog"]["edges"]]
    assert any(
        e["resource"] == "SexWorker"
        and "register" in e["action"]
        and e["organisation"]["name"] == "Lokale Politie Antwerpen"
        for e in log
    ), log
    # The code worked once.
    again = hub.gql(
        POLICE_REGISTER,
        {"input": _identity(marker("Again"), code)},
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )
    assert code_of(again) == "NOT_FOUND"
    assert count(hub, SexWorker) == records


def test_a_worker_registered_by_the_police_already_is_not_registered_twice(hub: Hub) -> None:
    first = hub.ok(
        POLICE_REGISTER,
        {"input": _identity(marker("Once"), None)},
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )["registerSexWorker"]["id"]
    code = hub.ok(CREATE_CODE, as_=worker_client(hub, first))["createPairingCode"]["code"]
    records = count(hub, SexWorker)
    body = hub.gql(
        POLICE_REGISTER,
        {"input": _identity(marker("Twice"), code)},
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )
    assert code_of(body) == "CONFLICT"
    assert count(hub, SexWorker) == records
    # Refused, nothing changed: the code still waits, for an operator.
    assert count(hub, Pairing, col(Pairing.sex_worker_id) == first) == 1


def test_a_pairing_code_links_nothing_for_the_ghent_police_or_with_a_wrong_code(hub: Hub) -> None:
    worker = ghent_worker(hub)
    code = hub.ok(CREATE_CODE, as_=worker_client(hub, worker))["createPairingCode"]["code"]
    records = count(hub, SexWorker)
    # Ghent's police register no identities, with or without a code.
    ghent = hub.gql(
        POLICE_REGISTER,
        {"input": _identity(marker("Gent"), code)},
        as_=POLICE_GHENT,
        purpose="identity_validation",
    )
    assert code_of(ghent) in ("CONFLICT", "FORBIDDEN")
    wrong = hub.gql(
        POLICE_REGISTER,
        {"input": _identity(marker("Wrong"), "AAAA-BBBB-CCCC-DDDD")},
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )
    assert code_of(wrong) == "NOT_FOUND"
    assert count(hub, SexWorker) == records
    assert get(hub, SexWorker, worker).identity is None
    assert count(hub, Pairing, col(Pairing.sex_worker_id) == worker) == 1


def test_the_gender_a_worker_declared_is_in_no_event_of_the_registration(hub: Hub) -> None:
    """The police register a self-registered worker who declared a gender: the event of the
    registration (internal topic and partners' views alike) carries no gender."""
    from hub.models import OutboxEvent

    worker = ghent_worker(hub)
    me = worker_client(hub, worker)
    hub.ok("mutation { setMyGender(gender: NON_BINARY) { id } }", as_=me)
    assert get(hub, SexWorker, worker).gender == "non_binary"
    code = hub.ok(CREATE_CODE, as_=me)["createPairingCode"]["code"]
    hub.ok(
        POLICE_REGISTER,
        {"input": _identity(marker("Gendered"), code)},
        as_=POLICE_ANTWERP,
        purpose="identity_validation",
    )
    envelopes = scalars(
        hub, select(col(OutboxEvent.envelope)).where(col(OutboxEvent.record_id) == worker)
    )
    assert envelopes
    for envelope in envelopes:
        assert "gender" not in envelope["data"] and "non_binary" not in str(envelope)
