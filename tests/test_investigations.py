"""Investigations (named cases) and what they admit: an investigator reads a worker's
identity only in a request that states (Hub-Case header) an open case of the
investigator's own organisation naming the worker; the read is logged with the case; the
worker's access log shows it as restricted until the case closes or expires, then whole.
The workflow's rules (expiry bounded, closing final) and the `identity` guardrail's
refusal of anything wider, whoever approved it."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from hub.auth.clients import register_client
from hub.cli import main
from hub.demo import DEMO_CASE
from hub.models import ApiClient, Investigation, PolicyChange, SexWorker

INVESTIGATOR = "demo-investigator"  # federal judicial police, Antwerp
DPO = "demo-dpo-antwerp"
POLICE = "demo-police-antwerp"
ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"

IDENTITY = "query($id: ID!) { sexWorker(id: $id) { workingName identity { legalName } } }"
OPEN = """mutation($input: InvestigationInput!) { openInvestigation(input: $input) {
  id reference expiresAt closedAt prosecutorOffice prosecutor { kind } policeOrg { name }
  subjects { id } } }"""
CLOSE = "mutation($id: ID!) { closeInvestigation(id: $id) { id closedAt } }"
EXTEND = """mutation($id: ID!, $at: DateTime!) {
  extendInvestigation(id: $id, expiresAt: $at) { id expiresAt } }"""
MY_LOG = """{ myAccessLog(first: 100) { edges { node { id at organisation { name } roles
  purpose operation action resource fields case restricted legalBasis
  proof { leaf { name value digest } } } } } }"""
SEARCH = """query($s: ID) { accessLog(first: 100, subjectId: $s, resource: "SexWorker") {
  edges { node { at purpose reason case fields roles } } } }"""

_numbers = itertools.count(1)


def _reference() -> str:
    return f"AN.37.L1.{next(_numbers):06d}/26"


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def _antwerp_workers(hub: Any) -> list[str]:
    """Workers of Antwerp with an identity, not the demo worker (the demo case names it)."""

    async def find() -> list[str]:
        async with hub.db.session() as s:
            rows = await s.execute(
                select(SexWorker.id).where(
                    SexWorker.city == "Antwerpen", SexWorker.identity.is_not(None)
                )
            )
            return [str(r) for r in rows.scalars()]

    return [w for w in hub.run(find()) if w != hub.demo.sex_worker_ids[0]]


def _ghent_worker(hub: Any) -> str:
    async def find() -> str:
        async with hub.db.session() as s:
            found = await s.execute(select(SexWorker.id).where(SexWorker.city == "Gent"))
            return str(found.scalars().first())

    return hub.run(find())  # type: ignore[no-any-return]


_CLIENTS: dict[tuple[str, str], str] = {}


def _worker_client(hub: Any, worker: str) -> str:
    """A client of the worker's own (the sex_worker role), registered once per hub."""
    key = (hub.backend, worker)
    if key not in _CLIENTS:
        client_id = f"test-worker-{next(_numbers)}"

        async def add() -> None:
            async with hub.db.session() as s:
                own = await s.get(ApiClient, "demo-worker")
                assert own is not None
                await register_client(
                    s,
                    client_id=client_id,
                    organisation_id=own.organisation_id,
                    roles=["sex_worker"],
                    purposes=["self_service"],
                    sex_worker_id=worker,
                )

        hub.run(add())
        _CLIENTS[key] = client_id
    return _CLIENTS[key]


def _open(hub: Any, subjects: list[str], **over: Any) -> dict[str, Any]:
    data = {
        "reference": _reference(),
        "subjectIds": subjects,
        "expiresAt": _later(60),
        "prosecutorId": hub.demo.organisation_ids["antwerp_prosecutor"],
        **over,
    }
    return hub.ok(OPEN, {"input": data}, as_=INVESTIGATOR)["openInvestigation"]  # type: ignore[no-any-return]


def _identity(hub: Any, worker: str, case: str | None) -> Any:
    body = hub.gql(IDENTITY, {"id": worker}, as_=INVESTIGATOR, case=case)
    assert "errors" not in body, body
    return body["data"]["sexWorker"]["identity"]


def _expire(hub: Any, investigation_id: str) -> None:
    """Set-up: the case's expiry has passed (as if its time had run out)."""

    async def past() -> None:
        async with hub.db.session() as s:
            await s.execute(
                update(Investigation)
                .where(Investigation.id == investigation_id)
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
            await s.commit()

    hub.run(past())


# --- what a case admits ---------------------------------------------------------------------


def test_identity_only_under_a_stated_open_case_naming_the_worker(demo_hub):
    hub = demo_hub
    named, other = _antwerp_workers(hub)[:2]
    case = _open(hub, [named])
    ref = case["reference"]
    assert case["prosecutor"]["kind"] == "JUDICIARY" and case["closedAt"] is None
    assert case["policeOrg"]["name"] == "Federale Gerechtelijke Politie Antwerpen"
    assert [s["id"] for s in case["subjects"]] == [named]

    assert _identity(hub, named, None) is None  # no case stated
    assert _identity(hub, named, ref)["legalName"]  # the case, naming the worker
    assert _identity(hub, other, ref) is None  # the case does not name this worker
    assert _identity(hub, named, "AN.37.L1.999999/99") is None  # no such case
    assert _identity(hub, named, DEMO_CASE) is None  # an open case naming someone else

    # The read under the case is logged with the case; the others carry none.
    found = hub.ok(SEARCH, {"s": named}, as_=DPO)["accessLog"]["edges"]
    with_identity = [e["node"] for e in found if "identity" in (e["node"]["fields"] or [])]
    assert [(e["reason"], e["case"]) for e in with_identity] == [(f"case {ref}", ref)]
    assert with_identity[0]["purpose"] == "investigation"
    assert with_identity[0]["roles"] == ["police_investigator"]

    _expire(hub, case["id"])
    assert _identity(hub, named, ref) is None  # expired


def test_a_closed_case_admits_nothing_and_closing_is_final(demo_hub):
    hub = demo_hub
    named = _antwerp_workers(hub)[2]
    case = _open(hub, [named])
    assert _identity(hub, named, case["reference"])["legalName"]
    closed = hub.ok(CLOSE, {"id": case["id"]}, as_=INVESTIGATOR)["closeInvestigation"]
    assert closed["closedAt"] is not None
    assert _identity(hub, named, case["reference"]) is None
    assert hub.error_code(CLOSE, {"id": case["id"]}, as_=INVESTIGATOR) == "CONFLICT"
    assert (
        hub.error_code(EXTEND, {"id": case["id"], "at": _later(90)}, as_=INVESTIGATOR) == "CONFLICT"
    )


def test_only_an_investigator_states_a_case_and_only_a_case_reference(demo_hub):
    hub = demo_hub
    worker = hub.demo.sex_worker_ids[0]
    body = hub.gql(IDENTITY, {"id": worker}, as_=POLICE, purpose="inspection", case=DEMO_CASE)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = hub.gql(IDENTITY, {"id": worker}, as_=INVESTIGATOR, case="AN 37' or 1=1")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# --- deferred transparency ------------------------------------------------------------------


def _mine(hub: Any, client: str) -> list[dict[str, Any]]:
    edges = hub.ok(MY_LOG, as_=client)["myAccessLog"]["edges"]
    return [e["node"] for e in edges if e["node"]["roles"] != ["sex_worker"]]


@pytest.mark.parametrize("ending", ["closed", "expired"])
def test_the_worker_sees_a_read_under_a_case_as_restricted_until_it_ends(demo_hub, ending):
    hub = demo_hub
    named = _antwerp_workers(hub)[3 if ending == "closed" else 4]
    client = _worker_client(hub, named)
    case = _open(hub, [named])
    ref = case["reference"]
    before = {e["id"] for e in _mine(hub, client)}
    assert _identity(hub, named, ref)["legalName"]
    hub.run(hub.app.state.checkpoints.run_once())  # a checkpoint covers the read

    new = [e for e in _mine(hub, client) if e["id"] not in before]
    assert len(new) == 1, new
    restricted = new[0]
    assert restricted["restricted"] is True and restricted["at"]
    for name in ("organisation", "roles", "purpose", "operation", "action", "resource"):
        assert restricted[name] is None, name
    assert restricted["fields"] is None and restricted["case"] is None
    assert restricted["legalBasis"] is None
    # Its proof still shows the entry is in the log, opening nothing but the time.
    leaf = restricted["proof"]["leaf"]
    assert {f["name"] for f in leaf if f["value"] is not None} == {"at"}
    assert all(f["digest"] for f in leaf if f["name"] != "at")

    if ending == "closed":
        hub.ok(CLOSE, {"id": case["id"]}, as_=INVESTIGATOR)
    else:
        _expire(hub, case["id"])
    shown = [e for e in _mine(hub, client) if e["id"] == restricted["id"]]
    assert len(shown) == 1
    entry = shown[0]
    assert entry["restricted"] is False
    assert entry["organisation"]["name"] == "Federale Gerechtelijke Politie Antwerpen"
    assert entry["roles"] == ["police_investigator"]
    assert entry["purpose"] == "investigation" and entry["case"] == ref
    assert "identity" in entry["fields"]
    assert entry["legalBasis"]


def test_a_case_that_does_not_name_the_worker_defers_nothing(demo_hub):
    hub = demo_hub
    named, outsider = _antwerp_workers(hub)[5:7]
    client = _worker_client(hub, outsider)
    case = _open(hub, [named])
    before = {e["id"] for e in _mine(hub, client)}
    assert _identity(hub, outsider, case["reference"]) is None
    new = [e for e in _mine(hub, client) if e["id"] not in before]
    assert len(new) == 1
    assert new[0]["restricted"] is False
    assert new[0]["purpose"] == "investigation" and new[0]["case"] == case["reference"]


def test_the_me_page_shows_a_restricted_read_without_who_or_why(demo_hub):
    from tests.consoles import session_client

    hub = demo_hub
    # The demo's open case names the demo worker, whose /me pages these are.
    assert _identity(hub, hub.demo.sex_worker_ids[0], DEMO_CASE)["legalName"]
    worker = session_client(hub, "demo-worker")
    worker.locale = "nl"
    page = worker.get("/me/access")
    assert page.status_code == 200
    assert "Afgeschermd tot het onderzoek is afgesloten" in page.text
    assert DEMO_CASE not in page.text
    assert "Federale Gerechtelijke Politie" not in page.text


# --- the workflow's rules -------------------------------------------------------------------


def test_the_workflow_refuses_what_its_rules_do_not_allow(demo_hub):
    hub = demo_hub
    worker = _antwerp_workers(hub)[7]
    judiciary = hub.demo.organisation_ids["antwerp_prosecutor"]
    ngo = hub.demo.organisation_ids["payoke"]

    def code(**over: Any) -> str:
        data = {
            "reference": _reference(),
            "subjectIds": [worker],
            "expiresAt": _later(60),
            "prosecutorId": judiciary,
            **over,
        }
        return hub.error_code(OPEN, {"input": data}, as_=INVESTIGATOR)

    assert code(expiresAt=_later(366)) == "BAD_USER_INPUT"  # beyond 12 months
    assert code(expiresAt=_later(-1)) == "BAD_USER_INPUT"  # in the past
    assert code(reference="case 12") == "BAD_USER_INPUT"
    assert code(reference=DEMO_CASE) == "CONFLICT"  # once in the hub
    assert code(prosecutorId=ngo) == "BAD_USER_INPUT"  # not a judiciary
    assert code(prosecutorId=None) == "BAD_USER_INPUT"  # no office
    assert code(prosecutorOffice="Parket Antwerpen") == "BAD_USER_INPUT"  # both
    assert code(subjectIds=[]) == "BAD_USER_INPUT"
    assert code(subjectIds=[worker, worker]) == "BAD_USER_INPUT"
    assert code(subjectIds=[_ghent_worker(hub)]) == "NOT_FOUND"  # beyond its reach

    # By name, and extended within the bounds; local police may neither open nor see one.
    case = _open(hub, [worker], prosecutorId=None, prosecutorOffice="Parket Limburg")
    assert case["prosecutorOffice"] == "Parket Limburg" and case["prosecutor"] is None
    assert (
        hub.error_code(EXTEND, {"id": case["id"], "at": _later(400)}, as_=INVESTIGATOR)
        == "BAD_USER_INPUT"
    )
    assert (
        hub.error_code(EXTEND, {"id": case["id"], "at": _later(30)}, as_=INVESTIGATOR)
        == "BAD_USER_INPUT"
    )  # not later than now
    extended = hub.ok(EXTEND, {"id": case["id"], "at": _later(300)}, as_=INVESTIGATOR)
    assert extended["extendInvestigation"]["expiresAt"] > case["expiresAt"]
    data = {"reference": _reference(), "subjectIds": [worker], "expiresAt": _later(9)}
    data["prosecutorId"] = judiciary
    assert hub.error_code(OPEN, {"input": data}, as_=POLICE, purpose="inspection") == "FORBIDDEN"
    _expire(hub, case["id"])
    assert (
        hub.error_code(EXTEND, {"id": case["id"], "at": _later(30)}, as_=INVESTIGATOR) == "CONFLICT"
    )  # an expired case is never extended: its reads are shown already


def test_police_privacy_officers_oversee_the_cases_without_the_workers(demo_hub):
    hub = demo_hub
    q = "{ investigations(first: 100) { edges { node { reference subjects { id } } } } }"
    body = hub.gql(q, as_="demo-dpo-police")
    refs = [e["node"]["reference"] for e in body["data"]["investigations"]["edges"]]
    assert DEMO_CASE in refs
    assert all(e["node"]["subjects"] is None for e in body["data"]["investigations"]["edges"])
    assert body["extensions"]["withheld"] == {"Investigation": ["subjects"]}
    # The city's DPO is a privacy officer too, but of a city: it reads no judicial case.
    city = hub.gql(q, as_=DPO)
    assert "errors" not in city, city
    assert city["data"]["investigations"]["edges"] == []


# --- the guardrail --------------------------------------------------------------------------

_CASE_RULE = """        - investigations:
            and:
              - {reference: {eq: $request.case}}  # the case the request states (Hub-Case)
              - {police_org_id: {eq: $principal.org_id}}
              - {closed_at: {is_null: true}}
              - {expires_at: {gt: $now}}
"""


def _wider(old: str, new: str) -> str:
    text = (POLICIES / "sex_worker.yaml").read_text()
    assert old in text, old
    return text.replace(old, new, 1)


# What no approval may give investigators: identity without the case, or with a case
# that needs not be stated, open, current or their organisation's.
WIDER = {
    "without-a-case": _wider(
        "    where: {city: {eq: $principal.city}}\n"
        '    fields: {"*": allow, identity: deny, gender: deny}\n'
        "  - name: investigator-reads-identity",
        '    where: {city: {eq: $principal.city}}\n    fields: {"*": allow, gender: deny}\n'
        "  - name: investigator-reads-identity",
    ),
    "any-case-of-the-hub": _wider("              - {police_org_id: {eq: $principal.org_id}}\n", ""),
    "a-standing-case": _wider(
        "{reference: {eq: $request.case}}", "{reference: {eq: AN.37.L1.004217/26}}"
    ),
    "closed-cases-too": _wider("              - {closed_at: {is_null: true}}\n", ""),
    "a-grace-after-expiry": _wider("{expires_at: {gt: $now}}", "{expires_at: {gt: $now-P30D}}"),
    "named-by-another-row": _wider(
        _CASE_RULE,
        "        - {investigations.reference: {eq: $request.case}}\n"
        "        - {investigations.police_org_id: {eq: $principal.org_id}}\n"
        "        - {investigations.closed_at: {is_null: true}}\n"
        "        - {investigations.expires_at: {gt: $now}}\n",
    ),
}


@pytest.mark.parametrize("name", list(WIDER))
def test_policy_check_refuses_identity_to_investigators_beyond_an_open_case(name, tmp_path, capsys):
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    (target / "sex_worker.yaml").write_text(WIDER[name])
    assert main(["policy", "check", "--dir", str(target)]) == 1
    err = capsys.readouterr().err
    assert "guardrail identity: an investigator sees an identity only for investigation" in err


def test_a_wider_investigator_rule_is_refused_at_proposal_and_activation(hub):
    from tests.test_guardrails import APPROVE, DPO2, PROPOSE, UTSOPI, _second_dpo

    text = WIDER["without-a-case"]
    body = hub.gql(PROPOSE, {"r": "SexWorker", "d": text}, as_=DPO)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "guardrail identity:" in body["errors"][0]["message"]
    # A change that reached the approvals anyway is refused when the last one comes in.
    _second_dpo(hub)
    change = PolicyChange(
        resource="SexWorker",
        kind="change",
        document=text,
        reason="proposed before the guardrail",
        base_version=1,
        touches_sex_worker_data=True,
        proposed_by=DPO,
        proposed_by_org=hub.demo.organisation_ids["antwerp_dpo"],
    )

    async def add() -> None:
        async with hub.db.session() as s:
            s.add(change)
            await s.commit()

    hub.run(add())
    before = hub.app.state.hub.policies.version
    assert hub.ok(APPROVE, {"id": change.id}, as_=DPO2)["approvePolicyChange"]["status"] == (
        "PROPOSED"
    )
    body = hub.gql(APPROVE, {"id": change.id}, as_=UTSOPI)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "guardrail identity:" in body["errors"][0]["message"]
    assert hub.app.state.hub.policies.version == before


def test_the_investigation_tables_match_their_models(demo_hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with demo_hub.db.engine.connect() as conn:
            return await conn.run_sync(  # type: ignore[no-any-return]
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    mine = [d for d in demo_hub.run(diffs()) if "investigation" in repr(d)]
    assert mine == []


def test_a_cases_subjects_show_their_identity_only_under_that_case(demo_hub):
    """The README's example: the case's own subjects, read through the case."""
    query = """{ investigations { edges { node { reference
      subjects { workingName identity { legalName } } } } } }"""

    def subjects(case: str | None) -> list[Any]:
        body = demo_hub.gql(query, as_=INVESTIGATOR, purpose="investigation", case=case)
        assert "errors" not in body, body
        edges = body["data"]["investigations"]["edges"]
        return [
            s for e in edges if e["node"]["reference"] == DEMO_CASE for s in e["node"]["subjects"]
        ]

    assert [s["identity"] for s in subjects(None)] == [None]
    (named,) = subjects(DEMO_CASE)
    assert named["workingName"] and named["identity"]["legalName"]
