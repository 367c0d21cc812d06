"""Privacy officers change policy: propose, preview, four-eyes approval (and the worker
representative for sex-worker data), activation on every replica, roll back, reject."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from hub.app import create_app
from hub.auth.clients import register_client

ROOT = Path(__file__).resolve().parent.parent
DPO, DPO2, UTSOPI = "demo-dpo-antwerp", "test-dpo-2", "demo-utsopi"
CHANGE = "id status resource baseVersion activatedVersion approvals { approver role }"
PROPOSE = f"""mutation($r: String!, $d: String!) {{
  proposePolicyChange(resource: $r, document: $d, reason: "test") {{ {CHANGE} }} }}"""
APPROVE = f"mutation($id: ID!) {{ approvePolicyChange(id: $id) {{ {CHANGE} }} }}"
REJECT = f'mutation($id: ID!) {{ rejectPolicyChange(id: $id, reason: "no") {{ {CHANGE} }} }}'
ROLLBACK = f"""mutation($r: String!, $v: Int!) {{ rollbackPolicy(resource: $r, version: $v)
  {{ {CHANGE} }} }}"""
PREVIEW = """mutation($id: ID!) { previewPolicyChange(id: $id) { resource entries {
  role purpose client rowsBefore rowsAfter rowsGained rowsLost fieldsGained fieldsLost
  actionsGained actionsLost } } }"""
CITY_SHIFTS = "{ shifts(first: 5) { edges { node { sexWorkerId } } } }"


def _second_dpo(hub) -> None:
    async def add() -> None:
        async with hub.db.session() as s:
            await register_client(
                s,
                client_id=DPO2,
                organisation_id=hub.demo.organisation_ids["antwerp_dpo"],
                roles=["privacy_officer"],
                purposes=["policy_administration"],
            )

    hub.run(add())


def _shift_doc(city_sees_worker_as: str) -> str:
    text = (ROOT / "policies" / "shift_registration.yaml").read_text()
    return text.replace("sex_worker_id: pseudonym,", f"sex_worker_id: {city_sees_worker_as},")


def _inspection_doc() -> str:
    text = (ROOT / "policies" / "inspection.yaml").read_text()
    return text.replace("roles: [city_enforcement, city_officer]", "roles: [city_enforcement]")


def test_uncompilable_document_is_refused_with_reasons_and_nothing_changes(hub):
    before = hub.app.state.hub.policies.version
    bad = _shift_doc("pseudonym").replace("premises.city", "premises.town")
    body = hub.gql(PROPOSE, {"r": "ShiftRegistration", "d": bad}, as_=DPO)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "unknown path 'town'" in err["message"] or "premises.town" in err["message"]
    assert hub.app.state.hub.policies.version == before
    assert hub.ok("{ policyChanges { id } }", as_=DPO)["policyChanges"] == []
    body = hub.gql(PROPOSE, {"r": "Inspection", "d": _shift_doc("deny")}, as_=DPO)
    assert "not Inspection" in body["errors"][0]["message"]


def test_four_eyes_and_the_worker_representative(hub):
    _second_dpo(hub)
    assert hub.ok(CITY_SHIFTS, as_="demo-city-antwerp")["shifts"]["edges"][0]["node"][
        "sexWorkerId"
    ].startswith("psn_")
    change = hub.ok(PROPOSE, {"r": "ShiftRegistration", "d": _shift_doc("deny")}, as_=DPO)[
        "proposePolicyChange"
    ]
    assert change["status"] == "PROPOSED" and change["baseVersion"] == 1

    # The proposer cannot approve.
    assert hub.error_code(APPROVE, {"id": change["id"]}, as_=DPO) == "FORBIDDEN"
    # A second privacy officer approves: sex-worker data, so it still waits for Utsopi.
    after_dpo2 = hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)["approvePolicyChange"]
    assert after_dpo2["status"] == "PROPOSED"
    assert hub.error_code(APPROVE, {"id": change["id"]}, as_=DPO2) == "CONFLICT"
    still = hub.ok(CITY_SHIFTS, as_="demo-city-antwerp")["shifts"]["edges"][0]["node"]
    assert still["sexWorkerId"].startswith("psn_")

    done = hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)["approvePolicyChange"]
    assert done["status"] == "ACTIVE" and done["activatedVersion"] == 2
    assert {a["role"] for a in done["approvals"]} == {"privacy_officer", "worker_representative"}
    # Effective on the very next request of this replica.
    body = hub.gql(CITY_SHIFTS, as_="demo-city-antwerp")
    assert body["data"]["shifts"]["edges"][0]["node"]["sexWorkerId"] is None
    assert "sexWorkerId" in body["extensions"]["withheld"]["Shift"]
    versions = {
        (p["resource"], p["version"]): p["active"]
        for p in hub.ok("{ policies { resource version active } }", as_=DPO)["policies"]
    }
    assert versions[("ShiftRegistration", 1)] is False
    assert versions[("ShiftRegistration", 2)] is True


def _organisation_doc() -> str:
    text = (ROOT / "policies" / "organisation.yaml").read_text()
    return text.replace(" city_analyst,", "", 1)


def test_change_not_about_workers_needs_no_worker_representative(hub):
    _second_dpo(hub)
    change = hub.ok(PROPOSE, {"r": "Organisation", "d": _organisation_doc()}, as_=DPO)[
        "proposePolicyChange"
    ]
    # Utsopi co-decides on everything about workers; the partner directory is not.
    assert hub.error_code(APPROVE, {"id": change["id"]}, as_=UTSOPI) == "NOT_FOUND"
    assert hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)["approvePolicyChange"]["status"] == (
        "ACTIVE"
    )
    q = "{ organisations { name } }"
    assert hub.error_code(q, as_="demo-analyst-antwerp") == "FORBIDDEN"


def test_a_change_of_inspections_waits_for_the_worker_representative(hub):
    """Inspections check workers: about workers, so Utsopi co-approves."""
    _second_dpo(hub)
    change = hub.ok(PROPOSE, {"r": "Inspection", "d": _inspection_doc()}, as_=DPO)[
        "proposePolicyChange"
    ]
    assert hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)["approvePolicyChange"]["status"] == (
        "PROPOSED"
    )
    q = "{ inspections(first: 1) { edges { node { id } } } }"
    hub.ok(q, as_="demo-city-antwerp")
    done = hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)["approvePolicyChange"]
    assert done["status"] == "ACTIVE"
    assert hub.error_code(q, as_="demo-city-antwerp") == "FORBIDDEN"


def test_preview_shows_rows_and_fields_gained_and_lost(hub):
    change = hub.ok(PROPOSE, {"r": "ShiftRegistration", "d": _shift_doc("allow")}, as_=DPO)[
        "proposePolicyChange"
    ]
    preview = hub.ok(PREVIEW, {"id": change["id"]}, as_=DPO)["previewPolicyChange"]
    assert preview["resource"] == "ShiftRegistration"
    entries = preview["entries"]
    assert [(e["role"], e["purpose"]) for e in entries] == [("city_officer", "licensing")]
    e = entries[0]
    assert e["client"] == "demo-city-antwerp"
    assert e["fieldsGained"] == ["sex_worker_id"]
    assert e["fieldsLost"] == ["sex_worker_id(pseudonym)"]
    assert e["rowsGained"] == 0 and e["rowsLost"] == 0 and e["rowsBefore"] == e["rowsAfter"] > 0

    narrower = (
        (ROOT / "policies" / "shift_registration.yaml")
        .read_text()
        .replace(
            "    actions: [read, validate]\n    where: {and: [{premises.city: {eq: $principal.city}}",
            "    actions: [read]\n    where: {and: [{status: {ne: cancelled}}, "
            "{premises.city: {eq: $principal.city}}",
        )
    )
    change = hub.ok(PROPOSE, {"r": "ShiftRegistration", "d": narrower}, as_=DPO)[
        "proposePolicyChange"
    ]
    entries = hub.ok(PREVIEW, {"id": change["id"]}, as_=DPO)["previewPolicyChange"]["entries"]
    police = [e for e in entries if e["role"] == "police_officer"]
    # Ghent keeps no pandkalender: its police have no rows to lose.
    ghent = [e for e in police if e["client"] == "demo-police-ghent"]
    assert ghent and all(e["rowsBefore"] == e["rowsAfter"] == 0 for e in ghent)
    antwerp = [e for e in police if e not in ghent]
    assert antwerp and all(e["rowsLost"] > 0 and e["rowsGained"] == 0 for e in antwerp)
    assert all(e["actionsLost"] == ["validate"] for e in police)


def test_rollback_and_reject(hub):
    _second_dpo(hub)
    change = hub.ok(PROPOSE, {"r": "ShiftRegistration", "d": _shift_doc("deny")}, as_=DPO)[
        "proposePolicyChange"
    ]
    hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)
    hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)
    assert (
        hub.ok(CITY_SHIFTS, as_="demo-city-antwerp")["shifts"]["edges"][0]["node"]["sexWorkerId"]
        is None
    )

    back = hub.ok(ROLLBACK, {"r": "ShiftRegistration", "v": 1}, as_=DPO)["rollbackPolicy"]
    assert back["status"] == "PROPOSED"
    hub.ok(APPROVE, {"id": back["id"]}, as_=DPO2)
    done = hub.ok(APPROVE, {"id": back["id"]}, as_=UTSOPI)["approvePolicyChange"]
    assert done["status"] == "ACTIVE" and done["activatedVersion"] == 3
    assert hub.ok(CITY_SHIFTS, as_="demo-city-antwerp")["shifts"]["edges"][0]["node"][
        "sexWorkerId"
    ].startswith("psn_")
    assert hub.error_code(ROLLBACK, {"r": "ShiftRegistration", "v": 3}, as_=DPO) == "CONFLICT"
    assert hub.error_code(ROLLBACK, {"r": "ShiftRegistration", "v": 9}, as_=DPO) == "NOT_FOUND"

    other = hub.ok(PROPOSE, {"r": "ShiftRegistration", "d": _shift_doc("deny")}, as_=DPO)[
        "proposePolicyChange"
    ]
    rejected = hub.ok(REJECT, {"id": other["id"]}, as_=UTSOPI)["rejectPolicyChange"]
    assert rejected["status"] == "REJECTED"
    assert hub.error_code(APPROVE, {"id": other["id"]}, as_=DPO2) == "CONFLICT"


def test_a_change_proposed_against_an_older_version_cannot_activate(hub):
    _second_dpo(hub)
    first = hub.ok(PROPOSE, {"r": "Inspection", "d": _inspection_doc()}, as_=DPO)[
        "proposePolicyChange"
    ]
    second = hub.ok(PROPOSE, {"r": "Inspection", "d": _inspection_doc()}, as_=DPO)[
        "proposePolicyChange"
    ]
    hub.ok(APPROVE, {"id": first["id"]}, as_=DPO2)
    hub.ok(APPROVE, {"id": first["id"]}, as_=UTSOPI)
    hub.ok(APPROVE, {"id": second["id"]}, as_=DPO2)
    assert hub.error_code(APPROVE, {"id": second["id"]}, as_=UTSOPI) == "CONFLICT"


def test_only_privacy_officers_drive_changes(hub):
    doc = _inspection_doc()
    code = hub.error_code(
        PROPOSE, {"r": "Inspection", "d": doc}, as_="demo-police-antwerp", purpose="inspection"
    )
    assert code == "FORBIDDEN"
    assert hub.error_code(PROPOSE, {"r": "Inspection", "d": doc}, as_=UTSOPI) == "FORBIDDEN"


def test_every_step_is_in_the_access_log(hub):
    _second_dpo(hub)
    change = hub.ok(PROPOSE, {"r": "Inspection", "d": _inspection_doc()}, as_=DPO)[
        "proposePolicyChange"
    ]
    hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)
    hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)
    q = """{ accessLog(first: 50) { edges { node { action resource recordIds subject } } } }"""
    nodes = [e["node"] for e in hub.ok(q, as_=DPO)["accessLog"]["edges"]]
    steps = {(n["action"], n["subject"]) for n in nodes if n["recordIds"] == [change["id"]]}
    assert ("write:propose", DPO) in steps
    assert ("write:approve", DPO2) in steps
    assert ("write:approve", UTSOPI) in steps
    assert ("policy:activate", UTSOPI) in steps
    hub.ok(PREVIEW, {"id": change["id"]}, as_=DPO)
    nodes = [e["node"] for e in hub.ok(q, as_=DPO)["accessLog"]["edges"]]
    assert ("policy:preview", DPO) in {
        (n["action"], n["subject"]) for n in nodes if n["recordIds"] == [change["id"]]
    }


def test_a_second_replica_applies_an_activation_within_a_second(hub):
    _second_dpo(hub)
    replica = create_app(hub.app.state.settings)
    with TestClient(replica) as second:
        before = replica.state.hub.policies.version
        change = hub.ok(PROPOSE, {"r": "Inspection", "d": _inspection_doc()}, as_=DPO)[
            "proposePolicyChange"
        ]
        hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)
        hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)
        activated = time.monotonic()
        deadline = activated + 1.0
        while replica.state.hub.policies.version == before and time.monotonic() < deadline + 1:
            second.get("/health")  # gives the replica's event loop a turn; bounded by deadline
        took = time.monotonic() - activated
        assert replica.state.hub.policies.version != before
        assert took < 1.0, took
        token = hub.token("demo-city-antwerp")
        r = second.post(
            "/graphql",
            json={"query": "{ inspections(first: 1) { edges { node { id } } } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_policy_export_writes_the_active_versions_back(hub, tmp_path):
    import os
    import shutil
    import subprocess
    import sys

    _second_dpo(hub)
    doc = _inspection_doc()
    change = hub.ok(PROPOSE, {"r": "Inspection", "d": doc}, as_=DPO)["proposePolicyChange"]
    hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)
    hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)
    target = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", target)
    env = {**os.environ, "HUB_DATABASE_URL": hub.url}
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "policy", "export", "--dir", str(target)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "Inspection version 2" in out.stdout
    assert (target / "inspection.yaml").read_text() == doc
    assert (target / "shift_registration.yaml").read_text() == (
        ROOT / "policies" / "shift_registration.yaml"
    ).read_text()
