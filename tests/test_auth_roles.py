"""Roles are bound to organisation kinds, and the privacy officer to a data controller named
in policy: at `hub client add`, at token issue, and on every token the hub is shown.

The two attacks found from outside run here and must fail closed: an NGO client with the
police role (decrypted identities), and a privacy officer at a brothel operator (the whole
access log, and a four-eyes approver).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from sqlalchemy import select
from sqlmodel import col

from hub.auth.clients import hash_secret, register_client
from hub.auth.controllers import ControllersError, DataControllers
from hub.cli import main
from hub.errors import Code, HubError
from hub.models import ApiClient, Organisation
from hub.models.enums import OrganisationKind
from hub.policy.vocabulary import (
    PLANNED_ORGANISATION_KINDS,
    ROLE_ORGANISATION_KINDS,
    ROLES,
    role_binding_errors,
)
from tests.conftest import ROOT
from tests.registry_looks import refused_after_next_look

DPO = "demo-dpo-antwerp"
ME = "{ me { roles organisationKind } }"
ACCESS_LOG = "{ accessLog(first: 5) { edges { node { id } } } }"

# The oracle, written out: which roles each kind of organisation may hold (a privacy officer
# needs a named data controller besides).
MAY_HOLD: dict[str, set[str]] = {
    "police": {"police_officer", "police_investigator", "privacy_officer"},
    "city": {"city_officer", "city_enforcement", "city_analyst", "sex_worker", "privacy_officer"},
    "judiciary": set(),
    "ngo": {"ngo_worker"},
    "union": {"ngo_worker", "worker_representative"},
    "operator": {"operator"},
    "employer": {"operator"},
    "labour_inspection": {"labour_inspector"},
}


def test_every_role_is_bound_to_known_organisation_kinds() -> None:
    assert set(ROLE_ORGANISATION_KINDS) == ROLES
    kinds = {k.value for k in OrganisationKind}
    for role, allowed in ROLE_ORGANISATION_KINDS.items():
        assert allowed <= kinds | PLANNED_ORGANISATION_KINDS, role
    assert set(MAY_HOLD) == kinds  # the oracle covers every kind in use


@pytest.mark.parametrize("kind", sorted(MAY_HOLD))
def test_role_binding_matches_the_oracle(kind: str) -> None:
    for role in sorted(ROLES):
        allowed = not role_binding_errors({role}, kind, data_controller=True)
        assert allowed == (role in MAY_HOLD[kind]), (role, kind)
    # Without being a named data controller, no kind holds a privacy officer.
    assert role_binding_errors({"privacy_officer"}, kind, data_controller=False)
    assert role_binding_errors({"operator"}, "employer", data_controller=False) == []


def test_controllers_file_is_validated_at_load(tmp_path: Path) -> None:
    shipped = DataControllers.from_directory(ROOT / "policies")
    assert shipped.names("Stad Antwerpen – DPO", "city")
    assert not shipped.names("Stad Antwerpen – DPO", "operator")
    bad = [
        "version: 2\ncontrollers: []\n",
        "version: 1\ncontrollers:\n  - {organisation: Vitrine Beheer BV, kind: operator}\n",
        "version: 1\ncontrollers:\n  - {organisation: X, kind: city, city: Gent}\n",
        "version: 1\ncontrollers:\n  - {organisation: '', kind: city}\n",
        "version: 1\ncontrollers:\n  - {organisation: A, kind: city}\n  - {organisation: A, kind: city}\n",
        "version: 1\n[",
    ]
    for text in bad:
        with pytest.raises(ControllersError):
            DataControllers.parse(text)
    assert DataControllers.from_directory(tmp_path).named == frozenset()  # no file: nobody
    (tmp_path / "controllers.yaml").write_text(bad[1])
    assert main(["policy", "check", "--dir", str(tmp_path)]) == 1  # no documents either
    assert main(["policy", "check", "--dir", str(ROOT / "policies")]) == 0


# --- hub client add ---------------------------------------------------------------------


@pytest.fixture
def cli_env(demo_hub: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUB_DATABASE_URL", demo_hub.url)
    monkeypatch.setenv("HUB_POLICY_DIR", str(ROOT / "policies"))
    return demo_hub


def _client_row(hub: Any, client_id: str) -> ApiClient | None:
    async def get() -> ApiClient | None:
        async with hub.db.session() as s:
            return await s.get(ApiClient, client_id)

    return hub.run(get())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("org", "roles", "purposes", "reason"),
    [
        # The attack: an NGO that would read decrypted identities.
        (
            "ghapro",
            "police_officer",
            "identity_validation",
            "not held at organisations of kind ngo",
        ),
        # The attack: a brothel operator reading the access log, approving policy changes.
        (
            "operator_vitrine_beheer",
            "privacy_officer",
            "policy_administration",
            "not held at organisations of kind operator",
        ),
        # A city service that is not the data controller named in policy.
        (
            "antwerp_city_licensing",
            "privacy_officer",
            "policy_administration",
            "named as data controller",
        ),
        ("antwerp_police", "city_officer", "licensing", "not held at organisations of kind police"),
        ("ghapro", "worker_representative", "policy_administration", "kind ngo"),
        ("antwerp_prosecutor", "police_investigator", "investigation", "kind judiciary"),
    ],
)
def test_client_add_refuses_roles_the_organisation_kind_may_not_hold(
    cli_env: Any,
    capsys: pytest.CaptureFixture[str],
    org: str,
    roles: str,
    purposes: str,
    reason: str,
) -> None:
    client_id = f"attack-{uuid.uuid4().hex[:8]}"
    org_id = cli_env.demo.organisation_ids[org]
    code = main(
        ["client", "add", "--id", client_id, "--org", org_id, "--roles", roles,
         "--purposes", purposes]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 1
    assert reason in err
    assert "client_secret" not in out
    assert _client_row(cli_env, client_id) is None


def test_client_add_accepts_allowed_roles_and_prints_the_secret_once(
    cli_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    org_id = cli_env.demo.organisation_ids["antwerp_dpo"]
    client_id = f"dpo-{uuid.uuid4().hex[:8]}"
    code = main(
        ["client", "add", "--id", client_id, "--org", org_id, "--roles", "privacy_officer",
         "--purposes", "policy_administration"]
    )  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    secret = out.split("client_secret=")[1].split()[0]
    assert main(["client", "list"]) == 0
    listing, _ = capsys.readouterr()
    assert client_id in listing and secret not in listing and "scrypt$" not in listing
    r = cli_env.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert cli_env.ok(ME, token=token, purpose="policy_administration")["me"]["roles"] == [
        "privacy_officer"
    ]


def test_register_client_refuses_with_forbidden(demo_hub: Any) -> None:
    async def add() -> str:
        async with demo_hub.db.session() as s:
            return await register_client(
                s,
                client_id="ngo-police",
                organisation_id=demo_hub.demo.organisation_ids["payoke"],
                roles=["ngo_worker", "police_officer"],
                purposes=["care"],
            )

    with pytest.raises(HubError) as info:
        demo_hub.run(add())
    assert info.value.code == Code.FORBIDDEN


# --- clients registered before the check (legacy rows) ----------------------------------

LEGACY = {
    # client id: (organisation key, roles, purposes)
    "legacy-ngo-police": ("ghapro", ["police_officer"], ["identity_validation"]),
    "legacy-operator-dpo": (
        "operator_vitrine_beheer",
        ["privacy_officer"],
        ["policy_administration"],
    ),
}
LEGACY_SECRET = "legacy-secret-legacy-secret-legacy-secret"


def _add_legacy_clients(hub: Any) -> None:
    """Rows as a hub without the check could have stored them."""

    async def add() -> None:
        async with hub.db.session() as s:
            for client_id, (org, roles, purposes) in LEGACY.items():
                if await s.get(ApiClient, client_id) is None:
                    s.add(
                        ApiClient(
                            client_id=client_id,
                            secret_hash=hash_secret(LEGACY_SECRET),
                            organisation_id=hub.demo.organisation_ids[org],
                            roles=roles,
                            purposes=purposes,
                        )
                    )
            await s.commit()

    hub.run(add())


def _legacy_token(hub: Any, client_id: str) -> str:
    """A token as the issuer signed it before the check existed."""
    org, roles, purposes = LEGACY[client_id]
    org_id = hub.demo.organisation_ids[org]
    kind = {"ghapro": "ngo", "operator_vitrine_beheer": "operator"}[org]
    now = int(time.time())
    claims = {
        "iss": hub.app.state.settings.issuer_url,
        "aud": "hub",
        "sub": client_id,
        "client_id": client_id,
        "exp": now + 600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "org": org_id,
        "org_kind": kind,
        "city": "Antwerpen",
        "roles": roles,
        "purposes": purposes,
    }
    key = hub.app.state.issuer.signing_key
    return jwt.encode(
        {"alg": "RS256", "typ": "at+jwt", "kid": key.kid}, claims, key.private_key_set()
    )


@pytest.mark.parametrize("client_id", sorted(LEGACY))
def test_legacy_clients_get_no_token(demo_hub: Any, client_id: str) -> None:
    _add_legacy_clients(demo_hub)
    r = demo_hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, LEGACY_SECRET)
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unauthorized_client"
    assert "is not held at organisations of kind" in r.json()["error_description"]
    assert "access_token" not in r.json()
    with pytest.raises(HubError) as info:
        demo_hub.run(demo_hub.app.state.issuer.mint(client_id))
    assert info.value.code == Code.FORBIDDEN


def test_legacy_ngo_police_token_reads_no_identity(demo_hub: Any) -> None:
    _add_legacy_clients(demo_hub)
    token = _legacy_token(demo_hub, "legacy-ngo-police")
    query = "{ shifts(first: 5) { edges { node { sexWorker { identity { legalName } } } } } }"
    body = demo_hub.gql(query, token=token, purpose="identity_validation", status=403)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "role police_officer is not held at organisations of kind ngo" in json.dumps(body)
    assert body.get("data") is None


def test_legacy_operator_privacy_officer_reads_no_log_and_approves_nothing(demo_hub: Any) -> None:
    _add_legacy_clients(demo_hub)
    token = _legacy_token(demo_hub, "legacy-operator-dpo")
    body = demo_hub.gql(ACCESS_LOG, token=token, purpose="policy_administration", status=403)
    assert "kind operator" in body["errors"][0]["message"]
    doc = (ROOT / "policies" / "inspection.yaml").read_text()
    propose = """mutation($r: String!, $d: String!) {
      proposePolicyChange(resource: $r, document: $d, reason: "test") { id } }"""
    change = demo_hub.ok(propose, {"r": "Inspection", "d": doc}, as_=DPO)["proposePolicyChange"]
    approve = "mutation($id: ID!) { approvePolicyChange(id: $id) { status approvals { role } } }"
    body = demo_hub.gql(
        approve, {"id": change["id"]}, token=token, purpose="policy_administration", status=403
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    changes = demo_hub.ok("{ policyChanges { id approvals { approver } } }", as_=DPO)
    mine = next(c for c in changes["policyChanges"] if c["id"] == change["id"])
    assert mine["approvals"] == []


def test_client_list_flags_legacy_clients(cli_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _add_legacy_clients(cli_env)
    assert main(["client", "list"]) == 0
    out, _ = capsys.readouterr()
    line = next(li for li in out.splitlines() if li.startswith("legacy-ngo-police\t"))
    assert "\tREFUSED\t" in line
    assert "refused: role police_officer is not held at organisations of kind ngo" in out
    assert LEGACY_SECRET not in out and "scrypt$" not in out


def _status(hub: Any, token: str) -> int:
    r = hub.client.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": "policy_administration"},
    )
    return int(r.status_code)


# --- the data controller must be unambiguous ----------------------------------------------


def test_a_namesake_makes_the_data_controller_ambiguous(hub: Any) -> None:
    """A second organisation registered under the controller's name (and kind) names
    neither: the privacy officer's tokens are refused from the registry's next look, and no new one is
    registered there."""
    token = hub.token(DPO)
    assert hub.ok(ME, token=token, purpose="policy_administration")["me"]["roles"] == [
        "privacy_officer"
    ]

    async def namesake() -> None:
        async with hub.db.session() as s:
            dpo = (
                await s.execute(
                    select(Organisation).where(col(Organisation.name) == "Stad Antwerpen – DPO")
                )
            ).scalar_one()
            s.add(Organisation(name=dpo.name, kind=dpo.kind, city="Gent"))
            await s.commit()

    hub.run(namesake())
    refused_after_next_look(hub, lambda: _status(hub, token))
    body = hub.gql(ME, token=token, purpose="policy_administration", status=403)
    assert "named as data controller" in body["errors"][0]["message"]
