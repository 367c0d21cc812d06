"""policies/partners.yaml is versioned and approved like a policy (resource
PartnerDirectory): four eyes and the workers' representative, who co-approves every change;
the connectors use the active version; `hub policy check` still validates the file."""

from __future__ import annotations

import argparse
import shutil

from hub.connectors.partners import Directory, active_partners
from tests.test_policy_workflow import APPROVE, DPO, DPO2, PROPOSE, ROOT, UTSOPI, _second_dpo

PARTNERS = ROOT / "policies" / "partners.yaml"
REFERRAL = "be.hub.referral.made.v1"


def _without_referrals() -> str:
    text = PARTNERS.read_text()
    changed = text.replace(
        f"events: [be.hub.care_contact.recorded.v1, {REFERRAL}]",
        "events: [be.hub.care_contact.recorded.v1]",
    )
    assert changed != text
    return changed


def test_a_partner_directory_change_needs_the_workers_representative(hub):
    _second_dpo(hub)
    state = hub.app.state.hub
    directory = Directory(hub.db, active_partners(state, ROOT / "policies"))
    assert "ghapro" in {p.key for p in directory.receiving(REFERRAL)}

    change = hub.ok(PROPOSE, {"r": "PartnerDirectory", "d": _without_referrals()}, as_=DPO)[
        "proposePolicyChange"
    ]
    assert change["status"] == "PROPOSED" and change["baseVersion"] == 1
    assert hub.error_code(APPROVE, {"id": change["id"]}, as_=DPO) == "FORBIDDEN"  # four eyes
    second = hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)["approvePolicyChange"]
    assert second["status"] == "PROPOSED"  # still waits for the workers' representative
    assert "ghapro" in {p.key for p in directory.receiving(REFERRAL)}

    done = hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)["approvePolicyChange"]
    assert done["status"] == "ACTIVE" and done["activatedVersion"] == 2
    assert {a["role"] for a in done["approvals"]} == {"privacy_officer", "worker_representative"}
    # The running hub's directory is the active version from now on.
    assert state.policies.partners == _without_referrals()
    assert directory.receiving(REFERRAL) == []
    assert directory.current("ghapro") is not None


def test_a_partner_directory_that_does_not_validate_is_refused(hub):
    broken = PARTNERS.read_text().replace(REFERRAL, "be.hub.referral.invented.v1", 1)
    body = hub.gql(PROPOSE, {"r": "PartnerDirectory", "d": broken}, as_=DPO)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert any("event type" in p["message"] for p in error["extensions"]["problems"])
    # A policy document is not a partner directory, nor the reverse.
    other = (ROOT / "policies" / "measure.yaml").read_text()
    assert hub.error_code(PROPOSE, {"r": "PartnerDirectory", "d": other}, as_=DPO) == (
        "BAD_USER_INPUT"
    )


def test_hub_policy_check_validates_partners_yaml(tmp_path, capsys):
    from hub.commands.policy import check

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    assert check(argparse.Namespace(dir=str(policies))) == 0
    assert "4 partners: " in capsys.readouterr().out
    (policies / "partners.yaml").write_text(
        PARTNERS.read_text().replace("role: ngo_worker", "role: ngo_boss", 1)
    )
    assert check(argparse.Namespace(dir=str(policies))) == 1
    assert "ngo_boss" in capsys.readouterr().err
    (policies / "partners.yaml").write_text(
        PARTNERS.read_text().replace("resource: PartnerDirectory\n", "", 1)
    )
    assert check(argparse.Namespace(dir=str(policies))) == 1
    assert "resource: PartnerDirectory" in capsys.readouterr().err
