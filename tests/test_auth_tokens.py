"""The embedded token issuer, token verification (embedded and external OIDC) and the keys."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import os
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from hub.auth.clients import check_secret, hash_secret, register_client
from hub.auth.issuer import EmbeddedIssuer
from hub.auth.keys import KEY_FILE, SigningKey
from hub.auth.routes import auth_routes
from hub.auth.verify import JWKS_MAX_AGE_S, TokenVerifier, principal_for_request
from hub.config import Settings
from hub.db import Database, upgrade
from hub.errors import Code, HubError
from hub.models.organisation import Organisation
from hub.models.sex_worker import SexWorker
from hub.policy.principal import Principal

T = TypeVar("T")

CLIENT_ID = "police-antwerp"
ROLES = ["police_investigator", "police_officer"]
PURPOSES = ["inspection", "investigation"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64_json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, read without checking anything (for assertions)."""
    header, payload, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (
        json.loads(base64.urlsafe_b64decode(pad(header))),
        json.loads(base64.urlsafe_b64decode(pad(payload))),
    )


def private_rsa(key: SigningKey) -> RSAKey:
    rsa = key.private_key_set().keys[0]
    assert isinstance(rsa, RSAKey)
    return rsa


def sign(claims: dict[str, Any], key: RSAKey | ECKey, *, kid: str | None, **header: Any) -> str:
    hdr: dict[str, Any] = {"alg": "RS256", "typ": "at+jwt", **header}
    if kid is not None:
        hdr["kid"] = kid
    return jwt.encode(hdr, claims, key, algorithms=[hdr["alg"]])


def token_claims(issuer: str, **changes: Any) -> dict[str, Any]:
    """A valid claim set; a change to None removes that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": CLIENT_ID,
        "aud": "hub",
        "exp": now + 300,
        "iat": now,
        "jti": "j-1",
        "client_id": CLIENT_ID,
        "scope": "hub",
        "org": "org-1",
        "org_kind": "police",
        "city": "Antwerpen",
        "roles": ROLES,
        "purposes": PURPOSES,
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def refused(fn: Callable[..., object], *args: Any, code: Code = Code.UNAUTHENTICATED) -> HubError:
    with pytest.raises(HubError) as info:
        fn(*args)
    assert info.value.code == code
    return info.value


# --- the embedded issuer, through HTTP -------------------------------------------------------


@dataclass
class Hub:
    client: TestClient
    settings: Settings
    db: Database
    key: SigningKey
    issuer: EmbeddedIssuer
    verifier: TokenVerifier
    org_id: str = ""
    secret: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        # Everything async runs on the TestClient's loop, the one the app's requests use.
        assert self.client.portal is not None
        return self.client.portal.call(fn, *args)

    def verify(self, token: str) -> Principal:
        return self.run(self.verifier.verify, token)

    def token(self, **form: str) -> httpx.Response:
        return self.client.post("/oauth/token", data=form)


async def _seed(db: Database) -> tuple[str, str]:
    async with db.session() as s:
        org = Organisation(name="Politiezone Antwerpen", kind="police", city="Antwerpen")
        s.add(org)
        await s.commit()
        secret = await register_client(
            s, client_id=CLIENT_ID, organisation_id=org.id, roles=ROLES, purposes=PURPOSES
        )
    return org.id, secret


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "t.db")
    upgrade(url)
    settings = Settings(database_url=url, secret_dir=tmp_path / "secrets")
    db = Database(url)
    key = SigningKey.from_secret_dir(settings.secret_dir)
    issuer = EmbeddedIssuer(settings, db, key)
    app = Starlette(routes=auth_routes(issuer, key))
    with TestClient(app) as client:
        h = Hub(client, settings, db, key, issuer, TokenVerifier(settings, key))
        h.org_id, h.secret = h.run(_seed, db)
        yield h
        h.run(db.dispose)


def test_client_credentials_basic_auth_issues_a_verifiable_rfc9068_token(hub: Hub) -> None:
    r = hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, hub.secret)
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == hub.settings.token_lifetime_s
    assert body["scope"] == "hub"
    assert "refresh_token" not in body

    header, claims = unverified(body["access_token"])
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": hub.key.kid}
    assert claims["iss"] == hub.settings.issuer_url
    assert claims["sub"] == claims["client_id"] == CLIENT_ID
    assert claims["aud"] == "hub"
    assert claims["exp"] - claims["iat"] == hub.settings.token_lifetime_s
    assert claims["jti"]
    assert claims["scope"] == "hub"
    assert claims["org"] == hub.org_id
    assert claims["org_kind"] == "police"
    assert claims["city"] == "Antwerpen"
    assert claims["roles"] == ROLES
    assert claims["purposes"] == PURPOSES
    assert "sex_worker_id" not in claims

    principal = hub.verify(body["access_token"])
    assert principal == Principal(
        subject=CLIENT_ID,
        org_id=hub.org_id,
        org_kind="police",
        city="Antwerpen",
        roles=frozenset(ROLES),
        purposes=frozenset(PURPOSES),
        sex_worker_id=None,
        client_id=CLIENT_ID,
    )


def test_client_credentials_post_auth_with_scope(hub: Hub) -> None:
    r = hub.token(
        grant_type="client_credentials", client_id=CLIENT_ID, client_secret=hub.secret, scope="hub"
    )
    assert r.status_code == 200, r.text
    assert hub.verify(r.json()["access_token"]).org_id == hub.org_id


@pytest.mark.parametrize("how", ["basic", "post"])
def test_wrong_secret_is_invalid_client_401(hub: Hub, how: str) -> None:
    if how == "basic":
        r = hub.client.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "nope")
        )
    else:
        r = hub.token(grant_type="client_credentials", client_id=CLIENT_ID, client_secret="nope")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["www-authenticate"].startswith("Basic ")
    assert "access_token" not in r.json()


def test_unknown_client_gets_the_same_answer_as_a_wrong_secret(hub: Hub) -> None:
    unknown = hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "nope")
    )
    wrong = hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "nope")
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.json()["error"] == "invalid_client"


def test_no_credentials_is_invalid_client(hub: Hub) -> None:
    r = hub.token(grant_type="client_credentials")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


# (authorization_code is the consoles' public client's: tests/test_auth_people.py)
@pytest.mark.parametrize("grant_type", ["password", "implicit", ""])
def test_other_grant_types_are_unsupported(hub: Hub, grant_type: str) -> None:
    r = hub.client.post(
        "/oauth/token", data={"grant_type": grant_type}, auth=(CLIENT_ID, hub.secret)
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"
    assert r.headers["cache-control"] == "no-store"


def test_a_scope_other_than_hub_is_invalid_scope(hub: Hub) -> None:
    r = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "hub admin"},
        auth=(CLIENT_ID, hub.secret),
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"


def test_malformed_token_requests_are_invalid_request(hub: Hub) -> None:
    as_json = hub.client.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=(CLIENT_ID, hub.secret)
    )
    repeated = hub.client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=(CLIENT_ID, hub.secret),
    )
    two_methods = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": hub.secret},
        auth=(CLIENT_ID, hub.secret),
    )
    for r in (as_json, repeated, two_methods):
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
    assert hub.client.get("/oauth/token").status_code == 405


def test_jwks_and_metadata(hub: Hub) -> None:
    jwks = hub.client.get("/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [hub.key.kid]
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "RSA" and jwk["alg"] == "RS256" and jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys()

    meta = hub.client.get("/.well-known/oauth-authorization-server").json()
    base = hub.settings.issuer_url
    assert meta["issuer"] == base
    assert meta["token_endpoint"] == base + "/oauth/token"
    assert meta["jwks_uri"] == base + "/.well-known/jwks.json"
    assert meta["grant_types_supported"] == ["client_credentials", "authorization_code"]
    # "none": the consoles' public client, which proves itself with PKCE instead.
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "none",
    }
    assert meta["authorization_endpoint"] == base + "/oauth/authorize"


def test_no_auth_routes_without_the_embedded_issuer() -> None:
    assert auth_routes(None, None) == []


def test_mint_makes_the_same_token_without_a_secret(hub: Hub) -> None:
    token = hub.run(hub.issuer.mint, CLIENT_ID)
    header, claims = unverified(token)
    assert header["typ"] == "at+jwt"
    assert claims["exp"] - claims["iat"] == hub.settings.token_lifetime_s
    assert hub.verify(token).roles == frozenset(ROLES)

    async def short() -> str:
        return await hub.issuer.mint(CLIENT_ID, lifetime_s=60)

    _, claims = unverified(hub.run(short))
    assert claims["exp"] - claims["iat"] == 60

    with pytest.raises(HubError) as info:
        hub.run(hub.issuer.mint, "nobody")
    assert info.value.code == Code.NOT_FOUND


async def _city_org(db: Database, name: str = "Stad Antwerpen – zelfbediening") -> str:
    async with db.session() as s:
        org = Organisation(name=name, kind="city", city="Antwerpen")
        s.add(org)
        await s.commit()
        return org.id


def test_a_sex_workers_own_client_carries_the_workers_id(hub: Hub) -> None:
    async def setup() -> str:
        self_service = await _city_org(hub.db)
        async with hub.db.session() as s:
            worker = SexWorker(working_name="Mira", city="Antwerpen")
            s.add(worker)
            await s.commit()
            await register_client(
                s,
                client_id="mira",
                organisation_id=self_service,
                roles=["sex_worker"],
                purposes=["self_service"],
                sex_worker_id=worker.id,
            )
            return worker.id

    worker_id = hub.run(setup)
    principal = hub.verify(hub.run(hub.issuer.mint, "mira"))
    assert principal.sex_worker_id == worker_id
    assert principal.roles == frozenset({"sex_worker"})


def test_register_client_validates_its_input(hub: Hub) -> None:
    city = hub.run(_city_org, hub.db, "Stad Gent")

    async def register(**changes: Any) -> str:
        args: dict[str, Any] = {
            "client_id": "city-gent",
            "organisation_id": city,
            "roles": ["city_officer"],
            "purposes": ["licensing"],
        }
        args.update(changes)
        async with hub.db.session() as s:
            return await register_client(s, **args)

    cases: list[tuple[dict[str, Any], Code]] = [
        ({"roles": ["city_officer", "mayor"]}, Code.BAD_USER_INPUT),
        ({"purposes": ["curiosity"]}, Code.BAD_USER_INPUT),
        ({"roles": []}, Code.BAD_USER_INPUT),
        ({"client_id": "has space"}, Code.BAD_USER_INPUT),
        ({"roles": ["sex_worker"], "purposes": ["self_service"]}, Code.BAD_USER_INPUT),
        ({"organisation_id": "no-such-org"}, Code.NOT_FOUND),
        ({"organisation_id": hub.org_id}, Code.FORBIDDEN),  # a city role at the police
        ({"client_id": CLIENT_ID}, Code.CONFLICT),
    ]
    for changes, code in cases:
        with pytest.raises(HubError) as info:
            hub.run(functools.partial(register, **changes))
        assert info.value.code == code, changes

    secret = hub.run(register)
    r = hub.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("city-gent", secret)
    )
    assert r.status_code == 200


def test_secret_hashing() -> None:
    h1, h2 = hash_secret("s3cret"), hash_secret("s3cret")
    assert h1 != h2  # salted
    assert "s3cret" not in h1
    assert check_secret("s3cret", h1) and check_secret("s3cret", h2)
    assert not check_secret("s3cret!", h1)
    for broken in ["", "plain", "scrypt$1$2$3", "bcrypt$16384$8$1$AA$AA", "scrypt$x$8$1$AA$AA"]:
        assert not check_secret("s3cret", broken)


# --- the verifier's refusals (embedded mode) ------------------------------------------------


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def settings() -> Settings:
    return Settings()


def verifier_for(settings: Settings, key: SigningKey) -> Callable[[str], Principal]:
    verifier = TokenVerifier(settings, key)
    return lambda token: asyncio.run(verifier.verify(token))


def test_a_good_hand_made_token_verifies(settings: Settings, key: SigningKey) -> None:
    verify = verifier_for(settings, key)
    token = sign(token_claims(settings.issuer_url), private_rsa(key), kid=key.kid)
    assert verify(token).subject == CLIENT_ID
    # aud may be a list that contains the hub
    token = sign(
        token_claims(settings.issuer_url, aud=["other", "hub"]), private_rsa(key), kid=key.kid
    )
    assert verify(token).org_id == "org-1"


def test_expiry_with_leeway(settings: Settings, key: SigningKey) -> None:
    verify = verifier_for(settings, key)
    now = int(time.time())
    late = sign(token_claims(settings.issuer_url, exp=now - 120), private_rsa(key), kid=key.kid)
    err = refused(verify, late)
    assert err.message == "token expired"
    assert late not in err.message
    within_leeway = sign(
        token_claims(settings.issuer_url, exp=now - 5), private_rsa(key), kid=key.kid
    )
    assert verify(within_leeway).subject == CLIENT_ID
    early = sign(token_claims(settings.issuer_url, nbf=now + 600), private_rsa(key), kid=key.kid)
    refused(verify, early)


def test_wrong_issuer_or_audience(settings: Settings, key: SigningKey) -> None:
    verify = verifier_for(settings, key)
    wrong_iss = sign(token_claims("https://evil.example"), private_rsa(key), kid=key.kid)
    assert refused(verify, wrong_iss).message == "wrong issuer"
    for aud in ["other", ["other", "more"]]:
        wrong_aud = sign(token_claims(settings.issuer_url, aud=aud), private_rsa(key), kid=key.kid)
        assert refused(verify, wrong_aud).message == "wrong audience"


def test_alg_none_is_refused(settings: Settings, key: SigningKey) -> None:
    verify = verifier_for(settings, key)
    header = {"alg": "none", "typ": "at+jwt", "kid": key.kid}
    token = f"{b64_json(header)}.{b64_json(token_claims(settings.issuer_url))}."
    refused(verify, token)


def test_a_signature_by_another_key_with_the_same_kid_is_refused(
    settings: Settings, key: SigningKey
) -> None:
    verify = verifier_for(settings, key)
    other = RSAKey.generate_key(2048)
    token = sign(token_claims(settings.issuer_url), other, kid=key.kid)
    assert "bad_signature" in refused(verify, token).message


def test_hs256_signed_with_the_public_key_is_refused(settings: Settings, key: SigningKey) -> None:
    """Algorithm confusion: an HMAC 'signed' with the public key anyone can download."""
    verify = verifier_for(settings, key)
    public_pem = RSAKey.import_key(key.public_jwk()).as_pem(private=False)  # type: ignore[arg-type]
    for secret in (public_pem, json.dumps(key.public_jwk()).encode()):
        header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
        signing_input = f"{b64_json(header)}.{b64_json(token_claims(settings.issuer_url))}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64(mac)}"
        refused(verify, token)


@pytest.mark.parametrize("claim", ["sub", "org", "roles", "purposes", "exp", "iss", "aud"])
def test_missing_claims_are_refused(settings: Settings, key: SigningKey, claim: str) -> None:
    verify = verifier_for(settings, key)
    token = sign(token_claims(settings.issuer_url, **{claim: None}), private_rsa(key), kid=key.kid)
    assert claim in refused(verify, token).message


def test_malformed_claims_and_tokens_are_refused(settings: Settings, key: SigningKey) -> None:
    verify = verifier_for(settings, key)
    bad: list[dict[str, Any]] = [
        {"roles": "police_officer"},
        {"purposes": [1]},
        {"city": 3},
        {"exp": "soon"},
    ]
    for changes in bad:
        token = sign(token_claims(settings.issuer_url, **changes), private_rsa(key), kid=key.kid)
        refused(verify, token)
    for garbage in ["", "abc", "a.b.c", "a.b", "x" * 200_000]:
        refused(verify, garbage)
    not_an_access_token = sign(
        token_claims(settings.issuer_url), private_rsa(key), kid=key.kid, typ="JWT"
    )
    refused(verify, not_an_access_token)


def test_roles_and_purposes_outside_the_vocabulary_are_forbidden(
    settings: Settings, key: SigningKey
) -> None:
    verify = verifier_for(settings, key)
    cases: list[dict[str, Any]] = [
        {"roles": ["police_officer", "superuser"]},
        {"purposes": ["inspection", "curiosity"]},
        {"roles": ["sex_worker"]},  # without a sex_worker_id
    ]
    for changes in cases:
        token = sign(token_claims(settings.issuer_url, **changes), private_rsa(key), kid=key.kid)
        refused(verify, token, code=Code.FORBIDDEN)


def test_hub_role_header_narrows_the_roles(settings: Settings, key: SigningKey) -> None:
    verify = verifier_for(settings, key)
    principal = verify(sign(token_claims(settings.issuer_url), private_rsa(key), kid=key.kid))
    assert principal_for_request(principal, None) is principal
    narrowed = principal_for_request(principal, "police_officer")
    assert narrowed.roles == frozenset({"police_officer"})
    assert narrowed.purposes == principal.purposes
    assert narrowed.org_id == principal.org_id
    for role in ["city_officer", "superuser", ""]:
        refused(principal_for_request, principal, role, code=Code.FORBIDDEN)


# --- the signing key on disk ----------------------------------------------------------------


def test_signing_key_persists_across_restarts_with_mode_0600(tmp_path: Path) -> None:
    secret_dir = tmp_path / "secrets"
    first = SigningKey.from_secret_dir(secret_dir)
    path = secret_dir / KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(secret_dir) == [KEY_FILE]  # no temporary file left behind

    second = SigningKey.from_secret_dir(secret_dir)  # a restart
    assert second.kid == first.kid
    assert second.public_jwks() == first.public_jwks()

    settings = Settings(secret_dir=secret_dir)
    token = sign(token_claims(settings.issuer_url), private_rsa(first), kid=first.kid)
    assert asyncio.run(TokenVerifier(settings, second).verify(token)).subject == CLIENT_ID


def test_a_corrupt_key_file_is_an_error_that_does_not_show_its_content(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text('{"kty": "RSA", "n": "secret-looking"}')
    with pytest.raises(RuntimeError) as info:
        SigningKey.load_or_create(path)
    assert "secret-looking" not in str(info.value)


# --- external OpenID Connect provider -------------------------------------------------------

PROVIDER = "http://idp.test/realms/hub"


class Provider:
    """A stand-in OIDC provider: discovery document and JWKS, counting JWKS fetches."""

    def __init__(self) -> None:
        self.keys: list[RSAKey | ECKey] = [
            RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
        ]
        self.jwks_fetches = 0
        self.issuer = PROVIDER

    async def discovery(self, request: Request) -> JSONResponse:
        return JSONResponse({"issuer": self.issuer, "jwks_uri": PROVIDER + "/certs"})

    async def certs(self, request: Request) -> JSONResponse:
        self.jwks_fetches += 1
        return JSONResponse(KeySet(list(self.keys)).as_dict(private=False))

    def http(self) -> httpx.AsyncClient:
        app = Starlette(
            routes=[
                Route("/realms/hub/.well-known/openid-configuration", self.discovery),
                Route("/realms/hub/certs", self.certs),
            ]
        )
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def external_settings() -> Settings:
    return Settings(oidc_issuer=PROVIDER, oidc_audience="hub")


def test_external_provider_tokens_verify_and_unknown_keys_do_not() -> None:
    provider = Provider()
    ec = ECKey.generate_key("P-256", parameters={"kid": "k-ec", "use": "sig", "alg": "ES256"})
    provider.keys.append(ec)
    ps = RSAKey.generate_key(2048, parameters={"kid": "k-ps", "use": "sig"})
    provider.keys.append(ps)
    verifier = TokenVerifier(external_settings(), http=provider.http())
    k1 = provider.keys[0]

    async def scenario() -> None:
        # Keycloak says typ "JWT" and azp rather than client_id.
        claims = token_claims(PROVIDER, client_id=None, azp="partner-app")
        principal = await verifier.verify(sign(claims, k1, kid="k1", typ="JWT"))
        assert principal.client_id == "partner-app"
        assert principal.roles == frozenset(ROLES)
        assert (await verifier.verify(sign(claims, ec, kid="k-ec", alg="ES256"))).subject
        provider_ps = sign(token_claims(PROVIDER), ps, kid="k-ps", alg="PS256")
        assert (await verifier.verify(provider_ps)).subject == CLIENT_ID

        stranger = RSAKey.generate_key(2048)
        for kid in ["k1", "unknown"]:  # a forged key under a known kid, and an unknown kid
            with pytest.raises(HubError) as info:
                await verifier.verify(sign(token_claims(PROVIDER), stranger, kid=kid))
            assert info.value.code == Code.UNAUTHENTICATED

        # the hub's own issuer URL is not the provider
        with pytest.raises(HubError):
            await verifier.verify(sign(token_claims("http://127.0.0.1:8000"), k1, kid="k1"))
        await verifier.aclose()

    asyncio.run(scenario())


def test_jwks_is_fetched_again_for_a_new_kid_at_most_once_per_interval() -> None:
    provider = Provider()
    clock = Clock()
    settings = external_settings()
    interval = settings.oidc_jwks_refresh_s
    verifier = TokenVerifier(settings, http=provider.http(), clock=clock)
    k1 = provider.keys[0]
    k2 = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})
    claims = token_claims(PROVIDER)

    async def scenario() -> None:
        await verifier.verify(sign(claims, k1, kid="k1"))
        await verifier.verify(sign(claims, k1, kid="k1"))
        assert provider.jwks_fetches == 1  # cached

        provider.keys.append(k2)  # the provider rotates in a new key
        clock.now += interval / 2
        with pytest.raises(HubError):  # too soon to ask again
            await verifier.verify(sign(claims, k2, kid="k2"))
        assert provider.jwks_fetches == 1

        clock.now += interval / 2 + 1  # just past the interval since the first fetch
        assert (await verifier.verify(sign(claims, k2, kid="k2"))).subject == CLIENT_ID
        assert provider.jwks_fetches == 2

        clock.now += 1  # unknown kids right after a fetch do not cause another
        for kid in ["k3", "k4", "k5"]:
            with pytest.raises(HubError):
                await verifier.verify(sign(claims, k2, kid=kid))
        assert provider.jwks_fetches == 2
        await verifier.verify(sign(claims, k1, kid="k1"))
        assert provider.jwks_fetches == 2

    asyncio.run(scenario())


def test_keys_the_provider_withdrew_stop_verifying_once_the_jwks_is_old() -> None:
    provider = Provider()
    clock = Clock()
    verifier = TokenVerifier(external_settings(), http=provider.http(), clock=clock)
    k1 = provider.keys[0]
    k2 = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})
    claims = token_claims(PROVIDER)

    async def scenario() -> None:
        await verifier.verify(sign(claims, k1, kid="k1"))
        provider.keys[:] = [k2]  # k1 withdrawn (say, compromised)
        clock.now += JWKS_MAX_AGE_S + 1
        # Still verifies while the held keys are fetched again in the background ...
        await verifier.verify(sign(claims, k1, kid="k1"))
        background = verifier._background
        assert background is not None
        await asyncio.wait_for(background, 5)
        assert provider.jwks_fetches == 2
        # ... and no longer once they are.
        with pytest.raises(HubError):
            await verifier.verify(sign(claims, k1, kid="k1"))
        assert (await verifier.verify(sign(claims, k2, kid="k2"))).subject == CLIENT_ID
        await verifier.aclose()

    asyncio.run(scenario())


def test_a_discovery_document_for_another_issuer_is_not_trusted() -> None:
    provider = Provider()
    provider.issuer = "http://elsewhere.test"
    verifier = TokenVerifier(external_settings(), http=provider.http(), clock=Clock())
    token = sign(token_claims(PROVIDER), provider.keys[0], kid="k1")
    with pytest.raises(HubError) as info:
        asyncio.run(verifier.verify(token))
    assert info.value.code == Code.UNAUTHENTICATED
    assert provider.jwks_fetches == 0
