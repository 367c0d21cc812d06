"""People log in to the consoles through a real external OpenID Connect provider.

panva's oidc-provider (tests/peers/oidc.py) knows the consoles' public client and two
people; the hub (HUB_OIDC_ISSUER) is its relying party: the authorization code flow with
PKCE, the provider's own login and consent pages driven over HTTP, the ID token checked
(signature, issuer, audience, nonce) and the access token checked as the API checks it
(signature, audience, the organisation registry). Then the person's pages work, and what
the provider does not vouch for is refused.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from joserfc.jwk import RSAKey
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.consoles.session import COOKIE
from hub.crypto import Keyring
from hub.db import Database
from hub.demo import seed
from tests.conftest import BACKENDS, ROOT, Templates, require_backend
from tests.peers.oidc import OidcProvider

HUB_RESOURCE = "urn:hub:graphql"
HUB_URL = "http://127.0.0.1:8000"
CONSOLE = "hub-console"


def _key() -> RSAKey:
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
    key.ensure_kid()
    return key


@dataclass
class World:
    provider: OidcProvider
    client: TestClient


async def _seed(url: str, secret_dir: Path) -> dict[str, str]:
    db = Database(url)
    try:
        async with db.session() as s:
            demo = await seed(s, Keyring.from_secret_dir(secret_dir))
            await s.commit()
        return dict(demo.organisation_ids)
    finally:
        await db.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    require_backend(request.param)
    tmp = tmp_path_factory.mktemp("console-oidc")
    url = templates.new_url(request.param)
    provider = None
    try:
        orgs = asyncio.run(_seed(url, tmp / "secrets"))
        officer = {"org": orgs["antwerp_dpo"], "org_kind": "city"}
        config = {
            "clients": [],
            "resources": [HUB_RESOURCE],
            "default_resource": HUB_RESOURCE,
            "keys": [_key().as_dict(private=True)],
            "console": {"client_id": CONSOLE, "redirect_uri": f"{HUB_URL}/login/callback"},
            "people": {
                "an.officer": {
                    "name": "An Officer",
                    "claims": {
                        **officer,
                        "roles": ["privacy_officer"],
                        "purposes": ["policy_administration"],
                    },
                },
                # The provider says police, but the organisation is the city's DPO office:
                # the hub's registry refuses a role the organisation's kind cannot hold.
                "claims.police": {
                    "name": "Claims Police",
                    "claims": {**officer, "roles": ["police_officer"], "purposes": ["inspection"]},
                },
            },
        }
        provider = OidcProvider(config, tmp / "provider")
        settings = Settings(
            database_url=url,
            secret_dir=tmp / "secrets",
            policy_dir=ROOT / "policies",
            oidc_issuer=provider.issuer,
            oidc_audience=HUB_RESOURCE,
            oidc_jwks_refresh_s=0.0,
            public_url=HUB_URL,
            console_client_id=CONSOLE,
            console_scope="openid profile hub",
            console_resource=HUB_RESOURCE,
        )
        with TestClient(create_app(settings)) as client:
            yield World(provider, client)
    finally:
        if provider is not None:
            provider.stop()
        templates.drop(url)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1][a["name"]] = a.get("value", "")


def _provider_login(world: World, login: str) -> str:
    """From the hub's /login to the callback URL the provider sends the browser to, by
    the provider's own pages (its login form, then its consent form)."""
    world.client.cookies.clear()
    r = world.client.get("/login?return_to=/account", follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith(world.provider.issuer)
    with httpx.Client(timeout=10) as browser:
        for _ in range(12):  # login page, consent page, and the redirects between them
            if location.startswith(f"{HUB_URL}/login/callback"):
                return location
            r = browser.get(location)
            if r.status_code in (302, 303):
                location = urljoin(location, r.headers["location"])
                continue
            assert r.status_code == 200, r.text[:500]
            parser = _Forms()
            parser.feed(r.text)
            action, fields = parser.forms[0]
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any")  # noqa: S105 (development login)
            r = browser.post(urljoin(location, action), data=fields)
            assert r.status_code in (302, 303), r.text[:500]
            location = urljoin(location, r.headers["location"])
    raise AssertionError("the provider never sent the browser back")


def _callback(world: World, location: str) -> httpx.Response:
    parts = urlsplit(location)
    return world.client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def test_a_person_logs_in_through_the_external_provider(world: World) -> None:
    r = _callback(world, _provider_login(world, "an.officer"))
    assert r.status_code == 200, r.text
    cookie = r.cookies.get(COOKIE)
    assert cookie
    world.client.cookies.clear()
    page = world.client.get(
        "/account", headers={"Cookie": f"{COOKIE}={cookie}", "Accept-Language": "en"}
    )
    assert page.status_code == 200
    assert "privacy officer" in page.text and "policy administration" in page.text


def test_the_callback_works_once(world: World) -> None:
    location = _provider_login(world, "an.officer")
    assert _callback(world, location).status_code == 200
    again = _callback(world, location)
    assert again.status_code == 400
    assert COOKIE not in again.headers.get("set-cookie", "")


def test_a_code_with_another_logins_state_is_refused(world: World) -> None:
    first = urlsplit(_provider_login(world, "an.officer"))
    second = urlsplit(_provider_login(world, "an.officer"))
    code = dict(p.split("=", 1) for p in first.query.split("&"))["code"]
    state = dict(p.split("=", 1) for p in second.query.split("&"))["state"]
    # The code was bound to the first login's PKCE challenge: the second's verifier fails.
    r = world.client.get(f"/login/callback?code={code}&state={state}", follow_redirects=False)
    assert r.status_code == 400
    assert COOKIE not in r.headers.get("set-cookie", "")


def test_a_role_the_organisation_cannot_hold_gets_no_session(world: World) -> None:
    r = _callback(world, _provider_login(world, "claims.police"))
    assert r.status_code == 400
    assert COOKIE not in r.headers.get("set-cookie", "")


def test_a_forged_state_never_reaches_the_token_endpoint(world: World) -> None:
    r = world.client.get(
        f"/login/callback?code={secrets.token_urlsafe(16)}&state=forged", follow_redirects=False
    )
    assert r.status_code == 400
