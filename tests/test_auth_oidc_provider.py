"""The hub behind a real external OpenID Connect provider (HUB_OIDC_ISSUER).

panva's oidc-provider on Node 22 (tests/peers/oidc.py) issues RFC 9068 JWT access tokens by
the client credentials grant, for the hub's audience by resource indicator (RFC 8707), with
the claims the hub maps. The hub runs as an ASGI app on SQLite and PostgreSQL, fetches the
provider's discovery document and JWKS over HTTP, and checks each token against its
organisation registry.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import update
from sqlmodel import col
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.crypto import Keyring
from hub.db import Database
from hub.demo import seed
from hub.models import Organisation
from tests.conftest import BACKENDS, ROOT, Templates, require_backend
from tests.peers.oidc import OidcProvider

HUB_RESOURCE = "urn:hub:graphql"
OTHER_RESOURCE = "urn:another:service"
# Organisations made for this module, with ids the provider's clients name.
KIND_CHANGE_ORG = str(uuid.UUID(int=1, version=4))
LATE_ORG = str(uuid.UUID(int=2, version=4))
ME = "{ me { subject organisationId organisationKind city roles purposes } }"
# Within this much a registry change must be honoured (the brief: 1 s).
HONOURED_WITHIN_S = 1.0

# client id -> (demo organisation key or organisation id, claims besides `org`)
CLIENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "rms-police": (
        "antwerp_police",
        {
            "org_kind": "police",
            "city": "Antwerpen",
            "roles": ["police_officer"],
            "purposes": ["inspection", "identity_validation"],
        },
    ),
    # No org_kind nor city: the hub takes both from its registry.
    "violett-system": ("violett", {"roles": ["ngo_worker"], "purposes": ["care"]}),
    "ngo-as-police": (
        "ghapro",
        {
            "org_kind": "ngo",
            "city": "Antwerpen",
            "roles": ["police_officer"],
            "purposes": ["identity_validation"],
        },
    ),
    "ngo-claims-police-kind": (
        "ghapro",
        {
            "org_kind": "police",
            "city": "Antwerpen",
            "roles": ["police_officer"],
            "purposes": ["identity_validation"],
        },
    ),
    "police-claims-ghent": (
        "antwerp_police",
        {
            "org_kind": "police",
            "city": "Gent",
            "roles": ["police_officer"],
            "purposes": ["inspection"],
        },
    ),
    "operator-dpo": (
        "operator_vitrine_beheer",
        {
            "org_kind": "operator",
            "roles": ["privacy_officer"],
            "purposes": ["policy_administration"],
        },
    ),
    "dpo-antwerp": (
        "antwerp_dpo",
        {"org_kind": "city", "roles": ["privacy_officer"], "purposes": ["policy_administration"]},
    ),
    "kind-change": (
        KIND_CHANGE_ORG,
        {"org_kind": "police", "roles": ["police_officer"], "purposes": ["inspection"]},
    ),
    "late-org": (
        LATE_ORG,
        {"org_kind": "police", "roles": ["police_officer"], "purposes": ["inspection"]},
    ),
}


def new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    key.ensure_kid()
    return key


def header(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


@dataclass
class World:
    backend: str
    url: str
    provider: OidcProvider
    client: TestClient
    secrets: dict[str, str]
    org_ids: dict[str, str]
    keys: list[RSAKey]

    def token_response(self, client_id: str, **form: str) -> httpx.Response:
        discovery = httpx.get(f"{self.provider.issuer}/.well-known/openid-configuration")
        return httpx.post(
            discovery.json()["token_endpoint"],
            data={"grant_type": "client_credentials", **form},
            auth=(client_id, self.secrets[client_id]),
            timeout=10,
        )

    def token(self, client_id: str, **form: str) -> str:
        r = self.token_response(client_id, **form)
        assert r.status_code == 200, r.text
        return r.json()["access_token"]  # type: ignore[no-any-return]

    def gql(
        self, token: str, query: str = ME, purpose: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        if purpose:
            headers["Hub-Purpose"] = purpose
        r = self.client.post("/graphql", json={"query": query}, headers=headers)
        return r.status_code, r.json()

    def run_sql(self, statement: Any) -> None:
        async def go() -> None:
            db = Database(self.url)
            try:
                async with db.session() as s:
                    await s.execute(statement)
                    await s.commit()
            finally:
                await db.dispose()

        asyncio.run(go())


async def _seed(url: str, secret_dir: Path) -> dict[str, str]:
    db = Database(url)
    try:
        async with db.session() as s:
            demo = await seed(s, Keyring.from_secret_dir(secret_dir))
            s.add(
                Organisation(
                    id=KIND_CHANGE_ORG, name="Politiezone Test", kind="police", city="Antwerpen"
                )
            )
            await s.commit()
        return dict(demo.organisation_ids)
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    backend = request.param
    require_backend(backend)
    tmp = tmp_path_factory.mktemp("oidc")
    url = templates.new_url(backend)
    provider = None
    try:
        org_ids = asyncio.run(_seed(url, tmp / "secrets"))
        client_secrets = {cid: secrets.token_urlsafe(32) for cid in CLIENTS}
        keys = [new_key()]
        config = {
            "clients": [
                {
                    "client_id": cid,
                    "client_secret": client_secrets[cid],
                    "claims": {"org": org_ids.get(org, org), **claims},
                }
                for cid, (org, claims) in CLIENTS.items()
            ],
            "resources": [HUB_RESOURCE, OTHER_RESOURCE],
            "default_resource": HUB_RESOURCE,
            "keys": [keys[0].as_dict(private=True)],
        }
        provider = OidcProvider(config, tmp / "provider")
        settings = Settings(
            database_url=url,
            secret_dir=tmp / "secrets",
            policy_dir=ROOT / "policies",
            oidc_issuer=provider.issuer,
            oidc_audience=HUB_RESOURCE,
            # Fetch the JWKS again at once for an unknown kid (the interval is tested alone).
            oidc_jwks_refresh_s=0.0,
        )
        with TestClient(create_app(settings)) as client:
            yield World(backend, url, provider, client, client_secrets, org_ids, keys)
    finally:
        if provider is not None:
            provider.stop()
        templates.drop(url)


def wait_for(condition: Any, within: float) -> float:
    """Seconds until `condition()` held; fails if it did not within `within` seconds."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"not within {within} s")


def test_discovery_and_no_hub_issuer_routes(world: World) -> None:
    doc = httpx.get(f"{world.provider.issuer}/.well-known/openid-configuration").json()
    assert doc["issuer"] == world.provider.issuer
    assert "client_credentials" in doc["grant_types_supported"]
    assert doc["jwks_uri"].startswith(world.provider.issuer)
    # The hub is no issuer here: it serves neither metadata nor a token endpoint.
    assert world.client.get("/.well-known/openid-configuration").status_code == 404
    assert world.client.post("/oauth/token").status_code == 404


def test_client_credentials_token_queries_graphql_with_mapped_claims(world: World) -> None:
    token = world.token("rms-police")
    assert header(token)["typ"] == "at+jwt"
    status, body = world.gql(token)
    assert status == 200, body
    assert body["data"]["me"] == {
        "subject": "rms-police",
        # Sealed for the organisation (hub/ids.py), like every id that leaves the hub.
        "organisationId": world.client.app.state.hub.ids.for_audience(  # type: ignore[attr-defined]
            f"org:{world.org_ids['antwerp_police']}"
        ).seal(world.org_ids["antwerp_police"]),
        "organisationKind": "police",
        "city": "Antwerpen",
        "roles": ["police_officer"],
        "purposes": ["identity_validation", "inspection"],
    }
    status, body = world.gql(
        token,
        "{ inspections(first: 5) { edges { node { city branch } } } }",
        purpose="inspection",
    )
    assert status == 200 and "errors" not in body, body
    cities = {e["node"]["city"] for e in body["data"]["inspections"]["edges"]}
    assert cities == {"Antwerpen"}


def test_kind_and_city_the_token_omits_come_from_the_registry(world: World) -> None:
    status, body = world.gql(world.token("violett-system"))
    assert status == 200, body
    me = body["data"]["me"]
    assert (me["organisationKind"], me["city"]) == ("ngo", "Gent")


def test_a_token_for_another_audience_is_refused(world: World) -> None:
    token = world.token("rms-police", resource=OTHER_RESOURCE)
    status, body = world.gql(token)
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["message"] == "wrong audience"


@pytest.mark.parametrize(
    ("client_id", "status", "reason"),
    [
        ("ngo-as-police", 403, "role police_officer is not held at organisations of kind ngo"),
        ("ngo-claims-police-kind", 403, "org_kind is not its organisation's registered kind"),
        ("police-claims-ghent", 403, "city is not its organisation's registered city"),
        ("operator-dpo", 403, "role privacy_officer is not held at organisations of kind operator"),
        ("late-org", 401, "organisation is not registered"),
    ],
)
def test_tokens_the_registry_does_not_back_are_refused(
    world: World, client_id: str, status: int, reason: str
) -> None:
    token = world.token(client_id)
    got, body = world.gql(token, "{ accessLog(first: 1) { edges { node { id } } } }")
    assert got == status, body
    error = body["errors"][0]
    assert error["extensions"]["code"] == ("FORBIDDEN" if status == 403 else "UNAUTHENTICATED")
    assert reason in error["message"]
    assert token not in json.dumps(body)
    assert body.get("data") is None


def test_a_privacy_officer_of_a_named_data_controller_is_admitted(world: World) -> None:
    status, body = world.gql(world.token("dpo-antwerp"), purpose="policy_administration")
    assert status == 200, body
    assert body["data"]["me"]["roles"] == ["privacy_officer"]


def test_a_change_of_the_organisation_kind_is_honoured_within_a_second(world: World) -> None:
    token = world.token("kind-change")
    assert world.gql(token)[0] == 200
    world.run_sql(
        update(Organisation).where(col(Organisation.id) == KIND_CHANGE_ORG).values(kind="ngo")
    )
    took = wait_for(lambda: world.gql(token)[0] == 403, HONOURED_WITHIN_S)
    print(f"organisation kind change honoured after {took * 1000:.0f} ms ({world.backend})")
    status, body = world.gql(token)
    # The token still says police; the registry now says otherwise.
    assert "org_kind is not its organisation's registered kind" in body["errors"][0]["message"]


def test_an_organisation_registered_later_is_admitted_within_a_second(world: World) -> None:
    token = world.token("late-org")
    assert world.gql(token)[0] == 401

    async def register() -> None:
        db = Database(world.url)
        try:
            async with db.session() as s:
                s.add(Organisation(id=LATE_ORG, name="Politie Laat", kind="police", city="Gent"))
                await s.commit()
        finally:
            await db.dispose()

    asyncio.run(register())
    took = wait_for(lambda: world.gql(token)[0] == 200, HONOURED_WITHIN_S)
    print(f"new organisation admitted after {took * 1000:.0f} ms ({world.backend})")
    assert world.gql(token)[1]["data"]["me"]["city"] == "Gent"


def test_key_rotation_at_the_provider(world: World) -> None:
    before = world.token("rms-police")
    assert header(before)["kid"] == world.keys[0].kid
    assert world.gql(before)[0] == 200
    fetches = world.provider.jwks_requests()

    rotated = new_key()
    world.provider.rotate([rotated.as_dict(private=True), world.keys[0].as_dict(private=True)])
    after = world.token("rms-police")
    assert header(after)["kid"] == rotated.kid
    # The unknown kid makes the hub fetch the provider's JWKS once more, then it verifies.
    status, body = world.gql(after)
    assert status == 200, body
    assert world.provider.jwks_requests() == fetches + 1
    # A token signed with the old key stays valid while the provider publishes that key.
    assert world.gql(before)[0] == 200
    assert world.provider.jwks_requests() == fetches + 1
    world.keys.insert(0, rotated)
