"""Trafficking suspicions, referrals to specialised centres, the NGO minimum format and the
union's helpdesk (issue 11, parts 7 and 8), on SQLite and PostgreSQL, through GraphQL.

Each rule has its refusal (the exact code, nothing written) and its allowed path; who sees
what is checked for every demo client and every purpose its token holds. One seeded hub per
backend for the module; each test works on rows it made (unique case references, texts).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hub.auth.clients import register_client
from hub.demo_clients import DEMO_CLIENTS
from hub.models import (
    AccessLogEntry,
    ApiClient,
    CareContact,
    HelpdeskRequest,
    Referral,
    TraffickingSuspicion,
)
from tests.conftest import BACKENDS, Hub, Templates, _start

POLICE = "demo-police-antwerp"
POLICE_GHENT = "demo-police-ghent"
INVESTIGATOR = "demo-investigator"  # federal police
GHAPRO = "demo-ngo-ghapro"
VIOLETT = "demo-ngo-violett"
HELPDESK = "test-utsopi-helpdesk"  # the union's helpdesk: ngo_worker at Utsopi
PAYOKE = "test-payoke"
PURPOSES = {c.client_id: c.purposes for c in DEMO_CLIENTS}
ORGS = {c.client_id: c.organisation for c in DEMO_CLIENTS}


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    for h in _start(templates, request.param, tmp_path_factory.mktemp("care"), seeded=True):
        _client(h, HELPDESK, "utsopi")
        _client(h, PAYOKE, "payoke")
        yield h


def _client(hub: Hub, client_id: str, org_key: str) -> None:
    assert hub.demo is not None

    async def go() -> None:
        async with hub.db.session() as session:
            if await session.get(ApiClient, client_id) is None:
                await register_client(
                    session,
                    client_id=client_id,
                    organisation_id=hub.demo.organisation_ids[org_key],  # type: ignore[union-attr]
                    roles=["ngo_worker"],
                    purposes=["care"],
                )

    hub.run(go())


def org(hub: Hub, key: str) -> str:
    assert hub.demo is not None
    return hub.demo.organisation_ids[key]


def ref(prefix: str = "CASE") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}1"


def count(hub: Hub, model: Any, *where: Any) -> int:
    async def go() -> int:
        async with hub.db.session() as session:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await session.execute(stmt)).scalar_one())

    return hub.run(go())  # type: ignore[no-any-return]


def get(hub: Hub, model: Any, row_id: str) -> Any:
    async def go() -> Any:
        async with hub.db.session() as session:
            return await session.get(model, row_id)

    return hub.run(go())


def refused(hub: Hub, query: str, variables: dict[str, Any], code: str, **kw: Any) -> str:
    body = hub.gql(query, variables, **kw)
    assert body.get("errors"), body
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert body.get("data") is None, body
    return str(error["message"])


def listed(hub: Hub, field: str, selection: str, **kw: Any) -> list[dict[str, Any]] | str:
    """Every node of a connection, or the error code of the refusal."""
    query = (
        f"query($after: String) {{ {field}(first: 100, after: $after) {{ "
        f"edges {{ node {{ {selection} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
    found: list[dict[str, Any]] = []
    after = None
    while True:
        body = hub.gql(query, {"after": after}, **kw)
        if body.get("errors"):
            return str(body["errors"][0]["extensions"]["code"])
        page = body["data"][field]
        found += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


# === referrals: consent, or a victim under protection ========================================

REFER = """mutation($input: ReferralInput!) {
  referClient(input: $input) {
    id clientRef reason consent destination victimProtection protectionBasis
    fromOrganisation { id } toOrganisation { id }
  }
}"""


def _referral(client_ref: str, **over: Any) -> dict[str, Any]:
    return {
        "input": {
            "destination": "PAG_ASA",
            "clientRef": client_ref,
            "reason": "TRAFFICKING_SUPPORT",
            "consent": False,
            **over,
        }
    }


@pytest.mark.parametrize(
    ("client", "purpose", "over", "says"),
    [
        pytest.param(GHAPRO, "care", {}, "needs the person's consent", id="ngo-neither"),
        pytest.param(POLICE, "inspection", {}, "needs the person's consent", id="police-neither"),
        pytest.param(
            INVESTIGATOR, "investigation", {}, "needs the person's consent", id="investigator"
        ),
        pytest.param(
            POLICE,
            "inspection",
            {"victimProtection": True},
            "needs its protectionBasis",
            id="protection-without-basis",
        ),
        pytest.param(
            GHAPRO,
            "care",
            {"consent": True, "protectionBasis": "JUDICIAL_ORDER"},
            "goes with victimProtection",
            id="basis-without-protection",
        ),
        pytest.param(
            GHAPRO,
            "care",
            {"consent": True, "destination": None},
            "either toOrganisationId or destination",
            id="nowhere",
        ),
    ],
)
def test_a_referral_is_refused_without_consent_or_protection(hub, client, purpose, over, says):
    client_ref = ref()
    message = refused(
        hub, REFER, _referral(client_ref, **over), "BAD_USER_INPUT", as_=client, purpose=purpose
    )
    assert says in message
    assert count(hub, Referral, Referral.client_ref == client_ref) == 0


def test_a_referral_names_one_target_not_two(hub):
    client_ref = ref()
    variables = _referral(client_ref, consent=True, toOrganisationId=org(hub, "payoke"))
    refused(hub, REFER, variables, "BAD_USER_INPUT", as_=GHAPRO, purpose="care")
    assert count(hub, Referral, Referral.client_ref == client_ref) == 0


def test_police_refer_a_victim_under_protection_without_consent(hub):
    """The police refer a presumed victim to Payoke (on the hub) without the person's consent,
    on the trafficking victim procedure: Payoke sees the referral without the police's case
    reference; the police see their own; no city role, and no other NGO, sees it."""
    client_ref = ref("PV")
    variables = _referral(
        client_ref,
        destination=None,
        toOrganisationId=org(hub, "payoke"),
        victimProtection=True,
        protectionBasis="TRAFFICKING_VICTIM_PROCEDURE",
    )
    made = hub.ok(REFER, variables, as_=POLICE, purpose="inspection")["referClient"]
    assert made["consent"] is False
    assert made["victimProtection"] is True
    assert made["protectionBasis"] == "TRAFFICKING_VICTIM_PROCEDURE"
    assert made["fromOrganisation"] == {"id": org(hub, "antwerp_police")}
    assert made["toOrganisation"] == {"id": org(hub, "payoke")}
    row = get(hub, Referral, made["id"])
    assert (row.consent, row.victim_protection, row.destination) == (False, True, None)

    selection = "id clientRef victimProtection"
    own = listed(hub, "referrals", selection, as_=POLICE, purpose="inspection")
    assert isinstance(own, list)
    assert {n["id"]: n["clientRef"] for n in own}[made["id"]] == client_ref
    assert {n["id"] for n in own} == {
        r.id
        for r in _all(hub, Referral)
        if r.from_org_id == org(hub, "antwerp_police")  # only what this force referred
    }
    received = listed(hub, "referrals", selection, as_=PAYOKE, purpose="care")
    assert isinstance(received, list)
    assert {n["id"]: n["clientRef"] for n in received}[made["id"]] is None
    for client in (GHAPRO, VIOLETT, POLICE_GHENT, INVESTIGATOR):
        for purpose in PURPOSES[client]:
            seen = listed(hub, "referrals", "id", as_=client, purpose=purpose)
            assert isinstance(seen, str) or made["id"] not in {n["id"] for n in seen}


def test_an_ngo_refers_with_consent_to_a_centre_outside_the_hub(hub):
    client_ref = ref("GH")
    made = hub.ok(
        REFER, _referral(client_ref, consent=True, destination="SURYA"), as_=GHAPRO, purpose="care"
    )["referClient"]
    assert (made["destination"], made["toOrganisation"], made["consent"]) == ("SURYA", None, True)
    assert get(hub, Referral, made["id"]).to_org_id is None


def _all(hub: Hub, model: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with hub.db.session() as session:
            return list((await session.execute(select(model))).scalars().all())

    return hub.run(go())  # type: ignore[no-any-return]


# === trafficking suspicions ===================================================================

RECORD_SUSPICION = """mutation($input: TraffickingSuspicionInput!) {
  recordTraffickingSuspicion(input: $input) {
    id indicators sexWorkerId clientRef status city organisation { id }
  }
}"""
SET_SUSPICION = """mutation($id: ID!, $status: TraffickingStatus!) {
  setTraffickingSuspicionStatus(id: $id, status: $status) { id status }
}"""
SUSPICION_READERS = {POLICE, POLICE_GHENT, INVESTIGATOR, GHAPRO, VIOLETT}


def test_a_trafficking_suspicion_is_seen_only_by_its_recorder(hub):
    """Recorded explicitly by the Antwerp police (about a worker) and by Ghapro: each sees its
    own and nothing else; city roles, operators, the worker, the privacy officer and the
    union's representative are refused whatever their purpose."""
    assert hub.demo is not None
    worker = hub.demo.sex_worker_ids[3]
    by_police = hub.ok(
        RECORD_SUSPICION,
        {"input": {"indicators": ["DEBT_BONDAGE", "DOCUMENTS_WITHHELD"], "sexWorkerId": worker}},
        as_=POLICE,
        purpose="inspection",
    )["recordTraffickingSuspicion"]
    assert by_police["indicators"] == ["DEBT_BONDAGE", "DOCUMENTS_WITHHELD"]
    assert (by_police["sexWorkerId"], by_police["status"]) == (worker, "NOTED")
    assert by_police["organisation"] == {"id": org(hub, "antwerp_police")}
    client_ref = ref("GH")
    by_ngo = hub.ok(
        RECORD_SUSPICION,
        {"input": {"indicators": ["THREATS"], "clientRef": client_ref}},
        as_=GHAPRO,
        purpose="care",
    )["recordTraffickingSuspicion"]
    assert (by_ngo["clientRef"], by_ngo["sexWorkerId"]) == (client_ref, None)

    rows = _all(hub, TraffickingSuspicion)
    for client in PURPOSES:
        for purpose in PURPOSES[client]:
            seen = listed(hub, "traffickingSuspicions", "id", as_=client, purpose=purpose)
            if client not in SUSPICION_READERS:
                assert seen == "FORBIDDEN", (client, purpose, seen)
                continue
            if isinstance(seen, str):  # a reader, but not for this purpose
                assert seen == "FORBIDDEN", (client, purpose, seen)
                continue
            org_id = org(hub, ORGS[client])
            assert {n["id"] for n in seen} == {r.id for r in rows if r.org_id == org_id}
    police = listed(hub, "traffickingSuspicions", "id", as_=POLICE, purpose="inspection")
    assert isinstance(police, list) and by_police["id"] in {n["id"] for n in police}
    assert by_ngo["id"] not in {n["id"] for n in police}
    # The worker named is the subject of the read, in the access log.
    entries = _all(hub, AccessLogEntry)
    assert any(e.resource == "TraffickingSuspicion" and e.action == "read" for e in entries)


@pytest.mark.parametrize(
    ("client", "purpose"),
    [
        ("demo-city-antwerp", "licensing"),
        ("demo-enforcement-antwerp", "enforcement"),
        ("demo-operator", "self_service"),
        ("demo-worker", "self_service"),
        ("demo-utsopi", "policy_administration"),
    ],
)
def test_nobody_else_records_a_trafficking_suspicion(hub, client, purpose):
    before = count(hub, TraffickingSuspicion)
    refused(
        hub,
        RECORD_SUSPICION,
        {"input": {"indicators": ["OTHER"]}},
        "FORBIDDEN",
        as_=client,
        purpose=purpose,
    )
    assert count(hub, TraffickingSuspicion) == before


@pytest.mark.parametrize(
    "indicators",
    [pytest.param([], id="none"), pytest.param(["THREATS", "THREATS"], id="twice")],
)
def test_a_suspicion_names_its_indicators_once_each(hub, indicators):
    client_ref = ref("GH")
    variables = {"input": {"indicators": indicators, "clientRef": client_ref}}
    refused(hub, RECORD_SUSPICION, variables, "BAD_USER_INPUT", as_=GHAPRO, purpose="care")
    assert count(hub, TraffickingSuspicion, TraffickingSuspicion.client_ref == client_ref) == 0


def test_a_suspicion_moves_on_and_closed_is_final(hub):
    made = hub.ok(
        RECORD_SUSPICION,
        {"input": {"indicators": ["SIGNS_OF_VIOLENCE"], "clientRef": ref("VI")}},
        as_=VIOLETT,
        purpose="care",
    )["recordTraffickingSuspicion"]
    sid = made["id"]
    # Another organisation cannot even find it.
    refused(
        hub, SET_SUSPICION, {"id": sid, "status": "CLOSED"}, "NOT_FOUND", as_=GHAPRO,
        purpose="care",
    )  # fmt: skip
    refused(
        hub, SET_SUSPICION, {"id": sid, "status": "CLOSED"}, "NOT_FOUND", as_=POLICE_GHENT,
        purpose="inspection",
    )  # fmt: skip
    assert get(hub, TraffickingSuspicion, sid).status == "noted"
    for status in ("REFERRED", "CLOSED"):
        moved = hub.ok(SET_SUSPICION, {"id": sid, "status": status}, as_=VIOLETT, purpose="care")
        assert moved["setTraffickingSuspicionStatus"]["status"] == status
    refused(
        hub, SET_SUSPICION, {"id": sid, "status": "NOTED"}, "BAD_USER_INPUT", as_=VIOLETT,
        purpose="care",
    )  # fmt: skip
    assert get(hub, TraffickingSuspicion, sid).status == "closed"


# === the NGO minimum format ===================================================================

RECORD_CARE = """mutation($input: CareContactInput!) {
  recordCareContact(input: $input) { id kind request followUp followUpDate }
}"""


def _contact(client_ref: str, **over: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return {
        "input": {
            "clientRef": client_ref,
            "contactDate": today.isoformat(),
            "kind": "STI_TEST",
            "location": "FIXED",
            "branch": "WINDOW",
            **over,
        }
    }


def test_a_care_contact_in_the_full_minimum_format(hub):
    client_ref = ref("GH")
    later = (datetime.now(UTC).date() + timedelta(days=14)).isoformat()
    made = hub.ok(
        RECORD_CARE,
        _contact(client_ref, request="STI_TEST", followUp="PLANNED", followUpDate=later),
        as_=GHAPRO,
        purpose="care",
    )["recordCareContact"]
    assert (made["kind"], made["request"], made["followUp"]) == ("STI_TEST", "STI_TEST", "PLANNED")
    row = get(hub, CareContact, made["id"])
    assert (row.kind, row.request, row.follow_up, row.follow_up_date.isoformat()) == (
        "sti_test",
        "sti_test",
        "planned",
        later,
    )
    # Kinds added (drop-in, social recovery) and the format left out, as older systems send.
    for kind in ("DROP_IN", "SOCIAL_RECOVERY", "MEDICAL"):
        hub.ok(RECORD_CARE, _contact(ref("GH"), kind=kind), as_=GHAPRO, purpose="care")


@pytest.mark.parametrize(
    "over",
    [
        pytest.param({"followUp": "PLANNED"}, id="planned-without-date"),
        pytest.param({"followUp": "DONE"}, id="done-without-date"),
        pytest.param({"followUp": "NONE_NEEDED", "followUpDate": "2026-01-01"}, id="none-dated"),
        pytest.param({"followUpDate": "2026-01-01"}, id="date-alone"),
        pytest.param({"followUp": "DONE", "followUpDate": "2000-01-01"}, id="before-contact"),
    ],
)
def test_a_follow_up_is_dated_when_planned_or_done(hub, over):
    client_ref = ref("GH")
    refused(
        hub, RECORD_CARE, _contact(client_ref, **over), "BAD_USER_INPUT", as_=GHAPRO,
        purpose="care",
    )  # fmt: skip
    assert count(hub, CareContact, CareContact.client_ref == client_ref) == 0


# === the union's helpdesk =====================================================================

RECORD_HELPDESK = """mutation($input: HelpdeskRequestInput!) {
  recordHelpdeskRequest(input: $input) { id topic channel status text union { id } }
}"""
SET_HELPDESK = """mutation($id: ID!, $status: HelpdeskStatus!) {
  setHelpdeskRequestStatus(id: $id, status: $status) { id status }
}"""


def _helpdesk(text: str, **over: Any) -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    return {
        "input": {"receivedOn": today, "topic": "RIGHTS", "channel": "PHONE", "text": text, **over}
    }


def test_the_helpdesk_is_the_unions_own(hub):
    """The union records and reads its requests; the police, city roles, NGOs, operators,
    the worker and the privacy officer never read one, whatever their purpose."""
    text = f"Vraag over het arbeidscontract {uuid.uuid4().hex}\nen opzegtermijn."
    made = hub.ok(RECORD_HELPDESK, _helpdesk(text), as_=HELPDESK, purpose="care")[
        "recordHelpdeskRequest"
    ]
    assert (made["status"], made["text"], made["union"]) == (
        "OPEN",
        text,
        {"id": org(hub, "utsopi")},
    )
    own = listed(hub, "helpdeskRequests", "id text", as_=HELPDESK, purpose="care")
    assert isinstance(own, list)
    assert {n["id"] for n in own} == {
        r.id for r in _all(hub, HelpdeskRequest) if r.union_id == org(hub, "utsopi")
    }
    for client in PURPOSES:
        for purpose in PURPOSES[client]:
            seen = listed(hub, "helpdeskRequests", "id", as_=client, purpose=purpose)
            # An NGO's care grant reaches only its own (none); everyone else is refused.
            assert (
                seen == []
                if client in (GHAPRO, VIOLETT) and purpose == "care"
                else (seen == "FORBIDDEN")
            ), (client, purpose, seen)
    answered = hub.ok(SET_HELPDESK, {"id": made["id"], "status": "ANSWERED"}, as_=HELPDESK,
                      purpose="care")  # fmt: skip
    assert answered["setHelpdeskRequestStatus"]["status"] == "ANSWERED"
    refused(
        hub, SET_HELPDESK, {"id": made["id"], "status": "CLOSED"}, "NOT_FOUND", as_=GHAPRO,
        purpose="care",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("client", "purpose", "text", "code"),
    [
        pytest.param(GHAPRO, "care", "Een vraag.", "FORBIDDEN", id="an-ngo"),
        pytest.param(POLICE, "safety_alerting", "Een vraag.", "FORBIDDEN", id="the-police"),
        pytest.param(HELPDESK, "care", "x" * 2001, "BAD_USER_INPUT", id="too-long"),
        pytest.param(HELPDESK, "care", "   ", "BAD_USER_INPUT", id="blank"),
        pytest.param(HELPDESK, "care", "vraag\u202e", "BAD_USER_INPUT", id="bidi-override"),
    ],
)
def test_only_the_union_records_helpdesk_requests_and_the_text_is_checked(
    hub, client, purpose, text, code
):
    before = count(hub, HelpdeskRequest)
    refused(hub, RECORD_HELPDESK, _helpdesk(text), code, as_=client, purpose=purpose)
    assert count(hub, HelpdeskRequest) == before


def test_the_worker_named_in_an_open_suspicion_sees_its_entries_only_as_restricted(hub):
    """Whoever controls the worker's phone must not learn from the worker's own access log
    that trafficking is suspected: while the suspicion is open, its recording and reads are
    shown with their time only; closed, they are shown whole."""
    from tests.test_investigations import MY_LOG, _worker_client

    assert hub.demo is not None
    worker = hub.demo.sex_worker_ids[5]
    client = _worker_client(hub, worker)

    def mine() -> dict[str, dict[str, Any]]:
        edges = hub.ok(MY_LOG, as_=client)["myAccessLog"]["edges"]
        return {e["node"]["id"]: e["node"] for e in edges if e["node"]["roles"] != ["sex_worker"]}

    before = set(mine())
    made = hub.ok(
        RECORD_SUSPICION,
        {"input": {"indicators": ["DEBT_BONDAGE"], "sexWorkerId": worker}},
        as_=POLICE,
        purpose="inspection",
    )["recordTraffickingSuspicion"]
    listed(hub, "traffickingSuspicions", "id", as_=POLICE, purpose="inspection")
    new = {k: v for k, v in mine().items() if k not in before}
    assert new, "the recording and the read name the worker"
    for entry in new.values():
        assert entry["restricted"] is True and entry["at"]
        for name in ("organisation", "roles", "purpose", "operation", "action", "resource"):
            assert entry[name] is None, (name, entry)
        assert entry["fields"] is None and entry["legalBasis"] is None

    hub.ok(SET_SUSPICION, {"id": made["id"], "status": "CLOSED"}, as_=POLICE, purpose="inspection")
    shown = mine()
    for entry_id in new:
        entry = shown[entry_id]
        assert entry["restricted"] is False
        assert entry["resource"] == "TraffickingSuspicion"
        assert entry["organisation"]["name"] == "Lokale Politie Antwerpen"
