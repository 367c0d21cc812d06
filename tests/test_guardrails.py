"""Guardrails (hub/policy/guardrails.py): a policy version that breaks one is refused
whoever approved it: by `hub policy check`, by a proposal through GraphQL, and by the
activation itself (for a change that reached the approvals before the guardrail held).
One breaking change per guardrail, each also proven to be refused for that guardrail only."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from hub.cli import main
from hub.models import PolicyChange
from hub.policy import guardrails
from hub.policy.engine import PolicySet
from hub.policy.resources import RESOURCES

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
DPO, DPO2, UTSOPI = "demo-dpo-antwerp", "test-dpo-2", "demo-utsopi"
CHANGE = "id status resource activatedVersion approvals { role }"
PROPOSE = f"""mutation($r: String!, $d: String!) {{
  proposePolicyChange(resource: $r, document: $d, reason: "test") {{ {CHANGE} }} }}"""
APPROVE = f"mutation($id: ID!) {{ approvePolicyChange(id: $id) {{ {CHANGE} }} }}"


def _doc(name: str) -> str:
    return (POLICIES / name).read_text()


def _replace(name: str, old: str, new: str) -> str:
    text = _doc(name)
    assert old in text, (name, old)
    return text.replace(old, new, 1)


_CITY_OFFICER_IDENTITY = """  - name: city-officer-masks-identity
    roles: [city_officer]
    purposes: [licensing]
    legal_basis: "A breach"
    actions: [read]
    where: {city: {eq: $principal.city}}
    fields: {"*": deny, identity: mask}
"""
_POLICE_CARE = """  - name: police-read-care-contacts
    roles: [police_officer]
    purposes: [inspection]
    legal_basis: "A breach"
    actions: [read]
    fields: {"*": allow}
"""

_CITY_SUSPICIONS = """  - name: city-reads-trafficking-suspicions
    roles: [city_officer]
    purposes: [licensing]
    legal_basis: "A breach"
    actions: [read]
    where: {city: {eq: $principal.city}}
    fields: {"*": allow}
"""

# guardrail -> (resource, file, a breaking version of the shipped document)
BREACHES: dict[str, tuple[str, str, str]] = {
    # The police see identities at any time, not only during a shift (a standing register).
    "identity": (
        "SexWorker",
        "sex_worker.yaml",
        _replace(
            "sex_worker.yaml",
            '    fields: {"*": allow, identity: deny, gender: deny}\n  - name: investigator',
            '    fields: {"*": allow, gender: deny}\n  - name: investigator',
        ),
    ),
    # The back door: care contacts to the police.
    "care-stays-with-the-ngo": (
        "CareContact",
        "care_contact.yaml",
        _replace("care_contact.yaml", "aggregate:\n", _POLICE_CARE + "aggregate:\n"),
    ),
    # A licensing officer sees the address of a home-based workplace.
    "private-address-as-zone": (
        "Premises",
        "premises.yaml",
        _replace(
            "premises.yaml",
            "    where: {and: [{city: {eq: $principal.city}}, {kind: {eq: private}}]}\n"
            '    fields: {"*": allow, address: generalize}\n'
            "  - name: enforcement",
            "    where: {and: [{city: {eq: $principal.city}}, {kind: {eq: private}}]}\n"
            '    fields: {"*": allow}\n'
            "  - name: enforcement",
        ),
    ),
    # A report shared with the police for safety, read under inspection.
    "reports-only-when-shared": (
        "Report",
        "report.yaml",
        _replace(
            "report.yaml",
            "    purposes: [safety_alerting]\n",
            "    purposes: [safety_alerting, inspection]\n",
        ),
    ),
    # A licensing officer reads the trafficking suspicions of the city (a back door from
    # the police and the NGOs to the licensing desk).
    "trafficking-suspicion-stays-with-its-recorder": (
        "TraffickingSuspicion",
        "trafficking_suspicion.yaml",
        _doc("trafficking_suspicion.yaml") + _CITY_SUSPICIONS,
    ),
    # An analyst (or anyone the aggregate admits) counts every city's inspections.
    "statistics-own-city": (
        "Inspection",
        "inspection.yaml",
        _replace(
            "inspection.yaml",
            "  min_cell: 5\n  # Each counts only its own city: the city in the counter's token,"
            " bound in SQL.\n  where: {city: {eq: $principal.city}}\n",
            "  min_cell: 5\n",
        ),
    ),
    # The labour inspection learns which worker an employment is about.
    "labour-inspection-sees-no-persons": (
        "EmploymentRelation",
        "employment_relation.yaml",
        _replace(
            "employment_relation.yaml",
            "sex_worker: deny, sex_worker_id: pseudonym}",
            "sex_worker: deny, sex_worker_id: allow}",
        ),
    ),
    # The police learn, at inspection, the gender a worker declared for the worker alone
    # (`"*": allow` without `gender: deny`).
    "gender-only-to-the-worker": (
        "SexWorker",
        "sex_worker.yaml",
        _replace(
            "sex_worker.yaml",
            '    fields: {"*": allow, identity: deny, gender: deny}\n  - name: investigator',
            '    fields: {"*": allow, identity: deny}\n  - name: investigator',
        ),
    ),
}


def test_the_shipped_policy_keeps_every_guardrail():
    docs = PolicySet.from_directory(POLICIES).documents
    assert guardrails.breaches(docs) == []
    assert [g.key for g in guardrails.GUARDRAILS] == [
        "identity",
        "care-stays-with-the-ngo",
        "private-address-as-zone",
        "reports-only-when-shared",
        "no-residence-status",
        "trafficking-suspicion-stays-with-its-recorder",
        "statistics-own-city",
        "labour-inspection-sees-no-persons",
        "gender-only-to-the-worker",
    ]


def test_policy_check_lists_the_guardrails(capsys):
    assert main(["policy", "check", "--dir", str(POLICIES)]) == 0
    out = capsys.readouterr().out
    for g in guardrails.GUARDRAILS:
        assert f"  {g.key}: {g.text}" in out


def _check(tmp_path: Path, capsys, file: str, text: str) -> str:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    (target / file).write_text(text)
    assert main(["policy", "check", "--dir", str(target)]) == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("key", list(BREACHES))
def test_policy_check_refuses_a_breach_naming_its_guardrail_and_line(key, tmp_path, capsys):
    _resource, file, text = BREACHES[key]
    err = _check(tmp_path, capsys, file, text)
    breached = {line.split("guardrail ", 1)[1].split(":", 1)[0] for line in err.splitlines()}
    assert breached == {key}, err
    assert f"error: {file}:" in err


def test_policy_check_refuses_a_residence_status_field(tmp_path, capsys, monkeypatch):
    worker = RESOURCES["SexWorker"]
    monkeypatch.setitem(
        RESOURCES, "SexWorker", replace(worker, fields=(*worker.fields, "residence_status"))
    )
    err = _check(tmp_path, capsys, "sex_worker.yaml", _doc("sex_worker.yaml"))
    assert "guardrail no-residence-status: SexWorker.residence_status" in err


def test_investigators_get_no_identity_without_a_named_case(tmp_path, capsys):
    text = _replace(
        "sex_worker.yaml",
        '    fields: {"*": allow, identity: deny, gender: deny}\n'
        "  - name: investigator-reads-identity",
        '    fields: {"*": allow, gender: deny}\n  - name: investigator-reads-identity',
    )
    err = _check(tmp_path, capsys, "sex_worker.yaml", text)
    assert "guardrail identity: an investigator sees an identity only for investigation" in err


def test_a_masked_identity_is_an_identity(tmp_path, capsys):
    text = _replace(
        "sex_worker.yaml", "  - name: operator", _CITY_OFFICER_IDENTITY + "  - name: operator"
    )
    err = _check(tmp_path, capsys, "sex_worker.yaml", text)
    assert "guardrail identity: identity is shown only to the police and the worker" in err


def test_a_shift_window_wider_than_an_hour_is_refused(tmp_path, capsys):
    text = _replace("sex_worker.yaml", "$now+PT1H", "$now+PT3H")
    err = _check(tmp_path, capsys, "sex_worker.yaml", text)
    assert "guardrail identity: the police see an identity only for identity_validation" in err


def _second_dpo(hub) -> None:
    from hub.auth.clients import register_client

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


@pytest.mark.parametrize("key", list(BREACHES))
def test_a_proposal_breaking_a_guardrail_is_refused(hub, key):
    resource, _file, text = BREACHES[key]
    before = hub.app.state.hub.policies.version
    body = hub.gql(PROPOSE, {"r": resource, "d": text}, as_=DPO)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"guardrail {key}:" in err["message"]
    assert hub.ok("{ policyChanges { id } }", as_=DPO)["policyChanges"] == []
    assert hub.app.state.hub.policies.version == before


@pytest.mark.parametrize("key", list(BREACHES))
def test_a_breaking_change_is_refused_at_activation_even_with_every_approval(hub, key):
    """A change that reached the approvals (proposed before the guardrail held: written to
    the table as the workflow would have) is compiled again at activation and refused."""
    resource, _file, text = BREACHES[key]
    _second_dpo(hub)
    change = PolicyChange(
        resource=resource,
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
    first = hub.ok(APPROVE, {"id": change.id}, as_=DPO2)["approvePolicyChange"]
    assert first["status"] == "PROPOSED"
    body = hub.gql(APPROVE, {"id": change.id}, as_=UTSOPI)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"guardrail {key}:" in err["message"]
    assert hub.app.state.hub.policies.version == before
    status = hub.ok("{ policyChanges { id status } }", as_=DPO)["policyChanges"]
    assert [c["status"] for c in status] == ["PROPOSED"]


@pytest.mark.parametrize(
    ("resource", "file"),
    [
        ("CareContact", "care_contact.yaml"),
        ("Referral", "referral.yaml"),
        ("Premises", "premises.yaml"),
        ("Measure", "measure.yaml"),
        ("AccessLog", "access_log.yaml"),
        ("Inspection", "inspection.yaml"),
        ("PolicyChange", "policy_change.yaml"),
        ("CityRegime", "regimes.yaml"),
    ],
)
def test_the_workers_representative_co_approves_every_change_about_workers(hub, resource, file):
    _second_dpo(hub)
    text = _doc(file) + "# reworded\n"
    change = hub.ok(PROPOSE, {"r": resource, "d": text}, as_=DPO)["proposePolicyChange"]
    after_dpo2 = hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)["approvePolicyChange"]
    assert after_dpo2["status"] == "PROPOSED"  # two privacy officers are not enough
    done = hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)["approvePolicyChange"]
    assert done["status"] == "ACTIVE"
    assert {a["role"] for a in done["approvals"]} == {"privacy_officer", "worker_representative"}


def test_a_change_of_the_partner_directory_needs_no_workers_representative(hub):
    _second_dpo(hub)
    text = _doc("organisation.yaml") + "# reworded\n"
    change = hub.ok(PROPOSE, {"r": "Organisation", "d": text}, as_=DPO)["proposePolicyChange"]
    assert hub.error_code(APPROVE, {"id": change["id"]}, as_=UTSOPI) == "NOT_FOUND"
    done = hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)["approvePolicyChange"]
    assert done["status"] == "ACTIVE"


REGISTER_SHIFT = """mutation($input: ShiftInput!) { registerShift(input: $input) { id status } }"""


def test_a_regime_change_is_approved_like_a_policy_and_then_applies(hub):
    """Antwerp extends certificates to clubs: once the privacy officer and the workers'
    representative approve, a club's shift needs a certificate too."""
    from datetime import UTC, datetime, timedelta

    from hub.models import Premises, RentalAgreement, SexWorker

    premises = Premises(
        address="Clubstraat 1",
        city="Antwerpen",
        kind="club",
        windows=2,
        operator_id=hub.demo.organisation_ids["operator_vitrine_beheer"],
    )
    worker = SexWorker(working_name="Club test", city="Antwerpen")
    start = (datetime.now(UTC) + timedelta(days=11)).replace(minute=0, second=0, microsecond=0)
    rental = RentalAgreement(
        premises_id=premises.id,
        window=1,
        sex_worker_id=worker.id,
        starts_at=start,
        ends_at=start + timedelta(hours=24),
        confirmed=True,
        confirmed_at=datetime.now(UTC),
    )

    async def add() -> None:
        async with hub.db.session() as s:
            s.add_all([premises, worker])
            await s.flush()
            s.add(rental)
            await s.commit()

    hub.run(add())

    def shift(h: int) -> dict[str, object]:
        return {
            "input": {
                "premisesId": premises.id,
                "window": 1,
                "sexWorkerId": worker.id,
                "startsAt": (start + timedelta(hours=h)).isoformat(),
                "endsAt": (start + timedelta(hours=h + 6)).isoformat(),
            }
        }

    assert hub.ok(REGISTER_SHIFT, shift(0), as_="demo-operator")["registerShift"]["status"] == (
        "REGISTERED"
    )
    _second_dpo(hub)
    text = _replace("regimes.yaml", "premises: [window]", "premises: [window, club]")
    change = hub.ok(PROPOSE, {"r": "CityRegime", "d": text}, as_=DPO)["proposePolicyChange"]
    hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)
    # Not yet: the workers' representative has not approved.
    hub.ok(REGISTER_SHIFT, shift(7), as_="demo-operator")
    done = hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)["approvePolicyChange"]
    assert done["status"] == "ACTIVE"
    body = hub.gql(REGISTER_SHIFT, shift(14), as_="demo-operator")
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "hold no suitability certificate" in body["errors"][0]["message"]


def test_a_regime_document_that_does_not_validate_is_refused(hub):
    text = _replace("regimes.yaml", "participation: compulsory", "participation: sometimes")
    body = hub.gql(PROPOSE, {"r": "CityRegime", "d": text}, as_=DPO)
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    assert "unknown participation 'sometimes'" in err["message"]


_POLICE_HELPDESK = """  - name: police-read-the-helpdesk
    roles: [police_officer]
    purposes: [safety_alerting]
    legal_basis: "A breach"
    actions: [read]
    where: {union_id: {eq: $principal.org_id}}
    fields: {"*": allow}
"""


def test_the_unions_helpdesk_never_reaches_the_police(tmp_path, capsys):
    """Even written as the union's own rule, a police role on the helpdesk is refused."""
    text = _doc("helpdesk_request.yaml") + _POLICE_HELPDESK
    err = _check(tmp_path, capsys, "helpdesk_request.yaml", text)
    assert "guardrail care-stays-with-the-ngo: HelpdeskRequest records stay with" in err
    assert "never to police_officer" in err


def test_the_police_see_only_the_referrals_they_made(tmp_path, capsys):
    text = _replace(
        "referral.yaml",
        "    actions: [read, refer]\n    where: {from_org_id: {eq: $principal.org_id}}\n"
        '    fields: {"*": allow}\naggregate:',
        "    actions: [read, refer]\n    where: {to_org_id: {eq: $principal.org_id}}\n"
        '    fields: {"*": allow}\naggregate:',
    )
    err = _check(tmp_path, capsys, "referral.yaml", text)
    assert "guardrail care-stays-with-the-ngo: the police see only the Referral records" in err


@pytest.mark.parametrize(
    "breach",
    [
        pytest.param(("org_id", "city"), id="not-pinned-to-the-recorder"),
        pytest.param(("[ngo_worker]", "[ngo_worker, operator]"), id="to-an-operator"),
        pytest.param(("[ngo_worker]", "[sex_worker]"), id="to-a-worker"),
    ],
)
def test_a_trafficking_suspicion_stays_with_its_recorder(tmp_path, capsys, breach):
    old, new = breach
    text = _doc("trafficking_suspicion.yaml")
    if old == "org_id":
        text = text.replace("{org_id: {eq: $principal.org_id}}", "{city: {eq: $principal.city}}", 1)
    else:
        text = text.replace(f"roles: {old}", f"roles: {new}", 1)
    assert text != _doc("trafficking_suspicion.yaml")
    err = _check(tmp_path, capsys, "trafficking_suspicion.yaml", text)
    assert "guardrail trafficking-suspicion-stays-with-its-recorder:" in err


def test_trafficking_suspicions_give_city_roles_no_aggregate(tmp_path, capsys):
    text = _doc("trafficking_suspicion.yaml") + (
        "aggregate:\n  roles: [city_analyst]\n  purposes: [statistics]\n  min_cell: 5\n"
    )
    err = _check(tmp_path, capsys, "trafficking_suspicion.yaml", text)
    assert "reach no city role or operator, not even as aggregates: not city_analyst" in err
