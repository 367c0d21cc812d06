"""The GraphQL API the officers' console reads (and partners' tools too): rules as data,
problems at their lines, a structured preview, the version history, the access-log search,
the audit status."""

from __future__ import annotations

from pathlib import Path

from hub.auth.clients import register_client

ROOT = Path(__file__).resolve().parent.parent
DPO, DPO2, UTSOPI, CITY = "demo-dpo-antwerp", "test-dpo-2", "demo-utsopi", "demo-city-antwerp"
SHIFTS = (ROOT / "policies" / "shift_registration.yaml").read_text()
NO_WINDOW = SHIFTS.replace(
    'fields: {"*": allow, sex_worker: deny, sex_worker_id: pseudonym, rental_agreement_id: deny}',
    'fields: {"*": allow, window: deny, sex_worker: deny, sex_worker_id: pseudonym,\n'
    "             rental_agreement_id: deny}",
)
CHECK = """query($r: String!, $d: String!) { checkPolicyDocument(resource: $r, document: $d) {
  ok problems { line column path message suggestion }
  diff { role purpose rowsGained rowsLost fields { field before after } actionsGained actionsLost }
} }"""
PROPOSE = """mutation($r: String!, $d: String!) {
  proposePolicyChange(resource: $r, document: $d, reason: "drop window") { id status } }"""
APPROVE = "mutation($id: ID!) { approvePolicyChange(id: $id) { status activatedVersion } }"


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


def test_rules_are_data_with_where_text_and_field_effects(hub):
    body = hub.gql(
        """{ policies(resource: "ShiftRegistration", activeOnly: true) { version document
        description retention aggregate { roles minCell }
        rules { name roles purposes actions legalBasis where requiresConsent
                fields { field effect } } } }""",
        as_=DPO,
    )
    assert "errors" not in body, body
    (policy,) = body["data"]["policies"]
    assert policy["document"] == SHIFTS
    assert policy["retention"] == "P180D"
    assert policy["aggregate"]["minCell"] == 5
    city = next(r for r in policy["rules"] if r["name"] == "city-sees-occupancy-without-identities")
    assert city["roles"] == ["city_officer"] and city["purposes"] == ["licensing"]
    assert city["where"] == "premises.city = $principal.city"
    effects = {f["field"]: f["effect"] for f in city["fields"]}
    assert effects["window"] == "allow"
    assert effects["sex_worker_id"] == "pseudonym" and effects["sex_worker"] == "deny"
    ngo = next(
        r for r in policy["rules"] if r["name"] == "ngo-follows-shifts-of-consenting-clients"
    )
    assert ngo["where"] is None and ngo["requiresConsent"] is True


def test_check_gives_problems_at_their_lines_and_a_diff_per_role_and_purpose(hub):
    bad = NO_WINDOW.replace("window: deny", "windw: deny")
    line = next(i for i, t in enumerate(bad.splitlines(), 1) if "windw" in t)
    body = hub.gql(CHECK, {"r": "ShiftRegistration", "d": bad}, as_=DPO)
    check = body["data"]["checkPolicyDocument"]
    assert check["ok"] is False and check["diff"] == []
    (problem,) = check["problems"]
    assert problem["line"] == line and problem["suggestion"] == "window"
    assert "windw" in problem["message"]

    body = hub.gql(CHECK, {"r": "ShiftRegistration", "d": NO_WINDOW}, as_=DPO)
    check = body["data"]["checkPolicyDocument"]
    assert check["ok"] is True and check["problems"] == []
    (entry,) = check["diff"]
    assert (entry["role"], entry["purpose"]) == ("city_officer", "licensing")
    assert entry["fields"] == [{"field": "window", "before": "allow", "after": "deny"}]
    assert entry["rowsGained"] == entry["rowsLost"] == []


def test_a_refused_proposal_lists_problems_with_lines_beside_the_old_message(hub):
    bad = NO_WINDOW.replace("window: deny", "windw: deny")
    body = hub.gql(PROPOSE, {"r": "ShiftRegistration", "d": bad}, as_=DPO)
    (err,) = body["errors"]
    assert err["message"].startswith("policy refused: ")
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    (problem,) = err["extensions"]["problems"]
    assert problem["line"] == next(i for i, t in enumerate(bad.splitlines(), 1) if "windw" in t)


def test_history_preview_diff_and_organisation_names(hub):
    _second_dpo(hub)
    change = hub.gql(PROPOSE, {"r": "ShiftRegistration", "d": NO_WINDOW}, as_=DPO)
    cid = change["data"]["proposePolicyChange"]["id"]
    preview = hub.gql(
        """mutation($id: ID!) { previewPolicyChange(id: $id) {
        diff { role purpose fields { field before after } } } }""",
        {"id": cid},
        as_=DPO,
    )["data"]["previewPolicyChange"]
    assert preview["diff"] == [
        {
            "role": "city_officer",
            "purpose": "licensing",
            "fields": [{"field": "window", "before": "allow", "after": "deny"}],
        }
    ]
    pending = hub.gql(
        """{ policyChanges(status: PROPOSED) { proposedByOrganisation textDiff
        diff { role } } }""",
        as_=UTSOPI,
    )["data"]["policyChanges"]
    (p,) = pending
    assert p["proposedByOrganisation"]  # a registered name, never a token
    assert "+" in p["textDiff"] and "window: deny" in p["textDiff"]
    assert [d["role"] for d in p["diff"]] == ["city_officer"]
    assert hub.gql(APPROVE, {"id": cid}, as_=DPO2)["data"]["approvePolicyChange"]["status"] == (
        "PROPOSED"
    )
    done = hub.gql(APPROVE, {"id": cid}, as_=UTSOPI)["data"]["approvePolicyChange"]
    assert done == {"status": "ACTIVE", "activatedVersion": 2}
    history = hub.gql(
        """{ policyHistory(resource: "ShiftRegistration") { status version diff
        change { proposedBy proposedByOrganisation approvals { role organisation } } } }""",
        as_=DPO,
    )["data"]["policyHistory"]
    assert [(h["status"], h["version"]) for h in history] == [
        ("ACTIVE", 2),
        ("SUPERSEDED", 1),
    ]
    assert "+" in history[0]["diff"] and history[1]["change"] is None
    approvals = history[0]["change"]["approvals"]
    assert sorted(a["role"] for a in approvals) == ["privacy_officer", "worker_representative"]
    assert all(a["organisation"] for a in approvals)


def test_access_log_search_by_role_purpose_resource_and_period(hub):
    hub.gql("{ shifts(first: 2) { edges { node { window } } } }", as_=CITY)
    q = """query($role: String, $purpose: String, $resource: String, $from: DateTime,
      $to: DateTime) { accessLog(first: 50, role: $role, purpose: $purpose,
      resource: $resource, from: $from, to: $to) { edges { node { roles purpose resource at } } } }"""
    body = hub.gql(q, {"role": "city_officer", "resource": "ShiftRegistration"}, as_=DPO)
    nodes = [e["node"] for e in body["data"]["accessLog"]["edges"]]
    assert nodes and all(
        "city_officer" in n["roles"] and n["resource"] == "ShiftRegistration" for n in nodes
    )
    body = hub.gql(q, {"purpose": "licensing", "to": "2000-01-01T00:00:00Z"}, as_=DPO)
    assert body["data"]["accessLog"]["edges"] == []
    body = hub.gql(q, {"role": "police"}, as_=DPO)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_audit_status_for_privacy_officers_only(hub):
    hub.gql("{ shifts(first: 1) { edges { node { window } } } }", as_=CITY)
    q = """{ auditStatus { treeSize rootHash verification { ok entries at }
      latestCheckpoint { treeSize signers witnessCosignatures } } }"""
    body = hub.gql(q, as_=DPO)
    status = body["data"]["auditStatus"]
    assert status["treeSize"] >= 1 and status["verification"]["ok"] is True
    assert status["verification"]["entries"] >= 1
    body = hub.gql(q, as_=CITY)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
