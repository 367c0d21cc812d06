"""People login at the embedded issuer: the authorization code grant with PKCE, the ID
token, the refusals, `hub user`, and the login page in nl, fr and en, through HTTP on the
ASGI app on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import update

from hub.auth.authorize import LoginLimits
from hub.auth.clients import register_client
from hub.auth.people import set_password, set_person_disabled
from hub.cli import main
from hub.demo_clients import DEMO_PEOPLE
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.models.people import AuthorizationCode, Person
from tests.conftest import ROOT
from tests.registry_looks import refused_after_next_look

ISSUER = "http://127.0.0.1:8000"  # the tests' issuer_url (tests/conftest.py)
CALLBACK = ISSUER + "/login/callback"
ME = "{ me { subject roles } }"
PEOPLE = {p.username: p for p in DEMO_PEOPLE}


# --- the flow, step by step, as a relying party would drive it --------------------------


class _Inputs(HTMLParser):
    """The <input>s of a page, by name, and its <html lang>."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.lang: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "input" and a.get("name"):
            self.inputs[str(a["name"])] = a.get("value") or ""


def parse(html: str) -> _Inputs:
    parser = _Inputs()
    parser.feed(html)
    return parser


def pkce() -> tuple[str, str]:
    """A verifier and its S256 challenge (RFC 7636 §4.1-4.2), computed here, not by the hub."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def request_params(challenge: str, **changes: str | None) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "hub-console",
        "redirect_uri": CALLBACK,
        "scope": "openid hub",
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(changes)  # type: ignore[arg-type]
    return {k: v for k, v in params.items() if v is not None}


def login_page(hub: Any, params: dict[str, str], **headers: str) -> Any:
    return hub.client.get(
        "/oauth/authorize", params=params, headers=headers, follow_redirects=False
    )


def submit(hub: Any, page: Any, username: str, password: str) -> Any:
    form = parse(page.text).inputs
    form.update(username=username, password=password)
    return hub.client.post("/oauth/authorize", data=form, follow_redirects=False)


def log_in(hub: Any, username: str, password: str, **changes: str | None) -> tuple[Any, str]:
    """The login page, then the password: (the answer to the POST, the PKCE verifier)."""
    verifier, challenge = pkce()
    page = login_page(hub, request_params(challenge, **changes))
    assert page.status_code == 200, page.text
    return submit(hub, page, username, password), verifier


def redirected(response: Any) -> dict[str, str]:
    """The query of a redirect to the callback (it must be one)."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def code_for(hub: Any, username: str, password: str | None = None) -> tuple[str, str]:
    """(code, verifier) of a successful login."""
    response, verifier = log_in(hub, username, password or PEOPLE[username].password)
    return redirected(response)["code"], verifier


def exchange(hub: Any, code: str, verifier: str, **changes: str | None) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": "hub-console",
        "code_verifier": verifier,
    }
    form.update(changes)  # type: ignore[arg-type]
    return hub.client.post("/oauth/token", data={k: v for k, v in form.items() if v is not None})


def tokens_of(hub: Any, username: str) -> dict[str, Any]:
    code, verifier = code_for(hub, username)
    r = exchange(hub, code, verifier)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def verified(hub: Any, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token whose signature holds under the hub's published JWKS."""
    keys = KeySet.import_key_set(hub.client.get("/.well-known/jwks.json").json())
    decoded = jwt.decode(token, keys)
    return dict(decoded.header), dict(decoded.claims)


def status_of(hub: Any, token: str, purpose: str) -> int:
    r = hub.client.post(
        "/graphql",
        json={"query": ME},
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": purpose},
    )
    return int(r.status_code)


def person_row(hub: Any, username: str) -> Person:
    async def get() -> Person:
        from hub.auth.people import find_person

        async with hub.db.session() as s:
            person = await find_person(s, username)
            assert person is not None
            return person

    return hub.run(get())  # type: ignore[no-any-return]


def error_text(page: Any) -> str:
    found = re.search(r'role="alert"[^>]*>\s*<p>(.*?)</p>', page.text, re.S)
    assert found, page.text
    return html.unescape(found.group(1).strip())


# --- the flow -----------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["dpo-antwerpen", "worker"])
def test_code_flow_with_pkce_gives_signed_tokens_that_work(hub: Any, username: str) -> None:
    person = PEOPLE[username]
    verifier, challenge = pkce()
    params = request_params(challenge)
    page = login_page(hub, params)
    assert page.status_code == 200
    response = submit(hub, page, username, person.password)
    back = redirected(response)
    assert back["state"] == params["state"]
    assert back["iss"] == ISSUER
    r = exchange(hub, back["code"], verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == hub.app.state.settings.console_token_lifetime_s == 8 * 3600
    assert set(body["scope"].split()) == {"openid", "hub"}

    row = person_row(hub, username)
    header, access = verified(hub, body["access_token"])
    assert header["typ"] == "at+jwt"
    assert access["iss"] == ISSUER and access["aud"] == "hub"
    assert access["sub"] == row.id
    assert access["client_id"] == "hub-console"
    assert access["org"] == row.organisation_id
    assert access["roles"] == list(person.roles)
    assert access["purposes"] == list(person.purposes)
    assert access["client_epoch"] == row.token_epoch == 0
    assert access["exp"] - access["iat"] == 8 * 3600
    assert abs(access["auth_time"] - time.time()) < 60
    assert "name" not in access and "nonce" not in access
    assert access["org_kind"] == "city" and access["city"] == "Antwerpen"
    if person.sex_worker:
        assert access["sex_worker_id"] == hub.demo.sex_worker_ids[0]
    else:
        assert "sex_worker_id" not in access

    id_header, id_claims = verified(hub, body["id_token"])
    assert id_header["typ"] == "JWT" and id_header["kid"] == header["kid"]
    assert id_claims["iss"] == ISSUER
    assert id_claims["sub"] == row.id
    assert id_claims["aud"] == "hub-console"
    assert id_claims["nonce"] == params["nonce"]
    assert id_claims["name"] == row.display_name and row.display_name
    assert id_claims["auth_time"] == access["auth_time"]
    assert id_claims["exp"] > time.time()

    # The access token works at /graphql as the person; the ID token does not.
    r = hub.client.post(
        "/graphql",
        json={"query": ME},
        headers={
            "Authorization": f"Bearer {body['access_token']}",
            "Hub-Purpose": person.purposes[0],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["me"]["roles"] == list(person.roles)
    assert status_of(hub, body["id_token"], person.purposes[0]) == 401


def test_discovery_names_the_authorization_endpoint(demo_hub: Any) -> None:
    doc = demo_hub.client.get("/.well-known/openid-configuration").json()
    assert doc["authorization_endpoint"] == ISSUER + "/oauth/authorize"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {"client_credentials", "authorization_code"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["subject_types_supported"] == ["public"]


def test_login_page_is_neither_cached_nor_framed(demo_hub: Any) -> None:
    page = login_page(demo_hub, request_params(pkce()[1]))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert 'type="password"' in page.text and 'autocomplete="current-password"' in page.text


# --- refusals -----------------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_the_same_answer(hub: Any) -> None:
    wrong, _ = log_in(hub, "dpo-antwerpen", "not-the-password-at-all", ui_locales="en")
    unknown, _ = log_in(hub, "nobody-here", "not-the-password-at-all", ui_locales="en")
    assert wrong.status_code == unknown.status_code == 400
    assert "location" not in wrong.headers and "location" not in unknown.headers
    assert error_text(wrong) == error_text(unknown) == "Wrong username or password."
    assert parse(wrong.text).inputs["username"] == "dpo-antwerpen"
    assert parse(wrong.text).inputs.get("password", "") == ""  # never sent back

    async def codes() -> int:
        from sqlalchemy import func, select

        async with hub.db.session() as s:
            return int(
                (await s.execute(select(func.count()).select_from(AuthorizationCode))).scalar_one()
            )

    assert hub.run(codes()) == 0


def test_a_disabled_person_gets_no_code_and_their_live_token_is_refused(hub: Any) -> None:
    token = tokens_of(hub, "ngo")["access_token"]
    assert status_of(hub, token, "care") == 200

    async def disable() -> bool:
        async with hub.db.session() as s:
            return await set_person_disabled(s, "ngo", disabled=True)

    assert hub.run(disable())
    refused_after_next_look(hub, lambda: status_of(hub, token, "care"))
    assert status_of(hub, token, "care") == 401
    assert person_row(hub, "ngo").token_epoch == 1

    response, _ = log_in(hub, "ngo", PEOPLE["ngo"].password, ui_locales="en")
    assert response.status_code == 403 and "location" not in response.headers
    assert "disabled" in error_text(response)


def test_a_new_password_refuses_the_old_one_and_earlier_tokens(hub: Any) -> None:
    token = tokens_of(hub, "stad")["access_token"]
    assert status_of(hub, token, "licensing") == 200

    async def change() -> None:
        async with hub.db.session() as s:
            await set_password(s, "stad", "a brand new passphrase")

    hub.run(change())
    refused_after_next_look(hub, lambda: status_of(hub, token, "licensing"))
    old, _ = log_in(hub, "stad", PEOPLE["stad"].password)
    assert old.status_code == 400
    code, verifier = code_for(hub, "stad", "a brand new passphrase")
    assert exchange(hub, code, verifier).status_code == 200


@pytest.mark.parametrize(
    "changes",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge": "too-short"},
        {"response_type": "token"},
        {"scope": "hub"},
        {"scope": "openid admin"},
    ],
)
def test_requests_without_s256_pkce_or_openid_are_sent_back_with_an_error(
    demo_hub: Any, changes: dict[str, str | None]
) -> None:
    _, challenge = pkce()
    params = request_params(challenge, **changes)
    back = redirected(login_page(demo_hub, params))
    assert back["error"] in {"invalid_request", "unsupported_response_type", "invalid_scope"}
    assert back["state"] == params["state"]
    assert "code" not in back


@pytest.mark.parametrize(
    "changes",
    [
        {"redirect_uri": "https://evil.example/login/callback"},
        {"redirect_uri": CALLBACK + "?next=/x"},
        {"redirect_uri": None},
        {"client_id": "demo-police-antwerp"},
        {"client_id": None},
    ],
)
def test_a_bad_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
    demo_hub: Any, changes: dict[str, str | None]
) -> None:
    page = login_page(demo_hub, request_params(pkce()[1], **changes))
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "evil.example" not in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert 'name="password"' not in page.text


def test_a_wrong_verifier_fails_and_burns_the_code(hub: Any) -> None:
    code, verifier = code_for(hub, "utsopi")
    other, _ = pkce()
    r = exchange(hub, code, other)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = exchange(hub, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_code_works_once(hub: Any) -> None:
    code, verifier = code_for(hub, "utsopi")
    assert exchange(hub, code, verifier).status_code == 200
    again = exchange(hub, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_an_expired_code_fails(hub: Any) -> None:
    code, verifier = code_for(hub, "utsopi")

    async def age() -> None:
        async with hub.db.session() as s:
            await s.execute(
                update(AuthorizationCode).values(expires_at=utcnow() - timedelta(seconds=1))
            )
            await s.commit()

    hub.run(age())
    r = exchange(hub, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"redirect_uri": "http://127.0.0.1:8000/other"}, 400, "invalid_grant"),
        ({"client_id": "demo-police-antwerp"}, 401, "invalid_client"),
        ({"client_secret": "anything"}, 401, "invalid_client"),
        ({"code_verifier": None}, 400, "invalid_request"),
    ],
)
def test_the_exchange_checks_client_redirect_uri_and_verifier(
    hub: Any, changes: dict[str, str | None], status: int, error: str
) -> None:
    code, verifier = code_for(hub, "dpo-politie")
    r = exchange(hub, code, verifier, **changes)
    assert r.status_code == status and r.json()["error"] == error
    assert "access_token" not in r.json()


def test_an_api_clients_credentials_get_no_token_for_a_code(hub: Any) -> None:
    code, verifier = code_for(hub, "dpo-politie")
    secret = hub.run(_new_client_secret(hub))
    r = hub.client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=("people-test-client", secret),
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


async def _new_client_secret(hub: Any) -> str:
    async with hub.db.session() as s:
        return await register_client(
            s,
            client_id="people-test-client",
            organisation_id=hub.demo.organisation_ids["ghapro"],
            roles=["ngo_worker"],
            purposes=["care"],
        )


def test_the_login_form_needs_its_signed_token_and_the_browsers_cookie(hub: Any) -> None:
    _, challenge = pkce()
    params = request_params(challenge, ui_locales="en")
    page = login_page(hub, params)
    form = parse(page.text).inputs
    form.update(username="dpo-antwerpen", password=PEOPLE["dpo-antwerpen"].password)
    # Another request's parameters under this page's token (a changed state, say).
    tampered = {**form, "state": "attacker-state"}
    r = hub.client.post("/oauth/authorize", data=tampered, follow_redirects=False)
    assert r.status_code == 400 and "expired" in error_text(r)
    # The form without the browser's cookie (a cross-site post, or login CSRF).
    hub.client.cookies.clear()
    r = hub.client.post("/oauth/authorize", data=form, follow_redirects=False)
    assert r.status_code == 400 and "location" not in r.headers


def test_failed_logins_are_slowed_per_username_with_a_clear_wait(hub: Any) -> None:
    now = [1000.0]
    hub.app.state.issuer.authorization.limits = LoginLimits(clock=lambda: now[0])
    for _ in range(5):
        r, _ = log_in(hub, "politie", "wrong-password-guess", ui_locales="en")
        assert r.status_code == 400
    # Now even the right password waits, and the page says how long.
    r, _ = log_in(hub, "politie", PEOPLE["politie"].password, ui_locales="en")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "60"
    assert error_text(r) == "Too many failed attempts. Try again in 60 seconds."
    # Another person from the same address is not held up by it.
    code, _ = code_for(hub, "stad")
    assert code
    now[0] += 60
    code, verifier = code_for(hub, "politie")
    assert exchange(hub, code, verifier).status_code == 200


def test_concurrent_guesses_are_counted_before_any_is_checked(hub: Any) -> None:
    """Twenty guesses at once with one form: each is charged before its password is
    checked, so no more than the burst of five get an answer; the rest wait."""
    now = [1000.0]
    hub.app.state.issuer.authorization.limits = LoginLimits(clock=lambda: now[0])
    _, challenge = pkce()
    page = login_page(hub, request_params(challenge, ui_locales="en"))
    form = parse(page.text).inputs
    cookie = "; ".join(f"{k}={v}" for k, v in hub.client.cookies.items())

    async def guesses() -> list[int]:
        transport = httpx.ASGITransport(app=hub.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:

            async def one(i: int) -> int:
                data = {**form, "username": "politie", "password": f"guess-number-{i}"}
                r = await c.post("/oauth/authorize", data=data, headers={"Cookie": cookie})
                return r.status_code

            return list(await asyncio.gather(*(one(i) for i in range(20))))

    statuses = hub.run(guesses())
    assert statuses.count(400) == 5, statuses
    assert statuses.count(429) == 15, statuses


def test_failed_logins_are_slowed_per_address(hub: Any) -> None:
    now = [1000.0]
    hub.app.state.issuer.authorization.limits = LoginLimits(clock=lambda: now[0])
    for i in range(30):
        r, _ = log_in(hub, f"guess-{i}", "wrong-password-guess")
        assert r.status_code == 400
    r, _ = log_in(hub, "stad", PEOPLE["stad"].password)
    assert r.status_code == 429 and r.headers["retry-after"] == "10"


@pytest.mark.parametrize("username", ["dpo-\u202eantwerpen", "dpo-antwerpen\x00"])
def test_hidden_characters_in_a_username_get_the_common_answer(hub: Any, username: str) -> None:
    r, _ = log_in(hub, username, PEOPLE["dpo-antwerpen"].password, ui_locales="en")
    assert r.status_code == 400 and error_text(r) == "Wrong username or password."


def test_no_api_client_may_take_the_console_clients_id(demo_hub: Any) -> None:
    async def add() -> str:
        async with demo_hub.db.session() as s:
            return await register_client(
                s,
                client_id="hub-console",
                organisation_id=demo_hub.demo.organisation_ids["ghapro"],
                roles=["ngo_worker"],
                purposes=["care"],
            )

    with pytest.raises(HubError) as info:
        demo_hub.run(add())
    assert info.value.code == Code.CONFLICT


# --- the login page's languages ---------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "ui_locales", "lang", "label"),
    [
        ("nl-BE,nl;q=0.9", None, "nl", "Gebruikersnaam"),
        ("fr-BE,fr;q=0.9", None, "fr", "Nom d’utilisateur"),
        ("en-GB,en;q=0.9", None, "en", "Username"),
        ("nl-BE", "fr", "fr", "Nom d’utilisateur"),
    ],
)
def test_the_login_page_speaks_the_persons_language(
    demo_hub: Any, accept: str, ui_locales: str | None, lang: str, label: str
) -> None:
    page = login_page(
        demo_hub,
        request_params(pkce()[1], ui_locales=ui_locales),
        **{"Accept-Language": accept},
    )
    assert page.status_code == 200
    assert parse(page.text).lang == lang
    assert f">{label}</label>" in page.text.replace("&#39;", "’").replace("'", "’")


def test_refusals_are_translated(hub: Any) -> None:
    r, _ = log_in(hub, "dpo-antwerpen", "wrong-password-guess", ui_locales="nl")
    assert error_text(r) == "Verkeerde gebruikersnaam of wachtwoord."
    r, _ = log_in(hub, "dpo-antwerpen", "wrong-password-guess", ui_locales="fr")
    assert error_text(r) == "Nom d’utilisateur ou mot de passe incorrect."


# --- hub user -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(hub: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HUB_DATABASE_URL", hub.url)
    monkeypatch.setenv("HUB_POLICY_DIR", str(ROOT / "policies"))
    return hub


def _hub_cli(
    env_hub: Any, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": env_hub.url,
        "HUB_POLICY_DIR": str(ROOT / "policies"),
    }
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hub_user_add_reads_the_password_from_stdin_and_the_person_logs_in(hub: Any) -> None:
    org = hub.demo.organisation_ids["payoke"]
    out = _hub_cli(
        hub, "user", "add", "--username", "An.Peeters", "--name", "An Peeters", "--org", org,
        "--roles", "ngo_worker", "--purposes", "care", "--password-stdin",
        stdin="correct horse battery staple\n",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "correct horse" not in out.stdout + out.stderr
    listed = _hub_cli(hub, "user", "list")
    assert "an.peeters\tenabled\tAn Peeters\tPayoke (ngo)" in listed.stdout
    assert "scrypt$" not in listed.stdout and "correct horse" not in listed.stdout
    code, verifier = code_for(hub, "an.peeters", "correct horse battery staple")
    assert exchange(hub, code, verifier).status_code == 200


def test_hub_user_add_generates_and_prints_a_password_once(
    cli_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    org = cli_env.demo.organisation_ids["antwerp_police"]
    args = ["user", "add", "--username", "agent-7", "--name", "Agent Zeven", "--org", org,
            "--roles", "police_officer", "--purposes", "inspection"]  # fmt: skip
    assert main(args) == 0
    out, _ = capsys.readouterr()
    password = out.split("password=")[1].split()[0]
    assert len(password) >= 12
    code, verifier = code_for(cli_env, "agent-7", password)
    assert exchange(cli_env, code, verifier).status_code == 200
    assert main(["user", "disable", "--username", "agent-7"]) == 0
    assert main(["user", "list"]) == 0
    out, _ = capsys.readouterr()
    assert "agent-7\tdisabled" in out and password not in out


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["--roles", "ngo_worker", "--purposes", "care"], "short-pass\n", 2, "at least 12"),
        (["--roles", "ngo_worker", "--purposes", "care"], "long enough\u202epassword\n", 2,
         "invisible"),
        (["--roles", "ngo_worker", "--purposes", "care"], "\n", 2, "no password"),
        (["--roles", "ngo_worker", "--purposes", "care", "--sex-worker-id", "x"],
         "long enough password\n", 2, "goes with the sex_worker role"),
        (["--roles", "wizard", "--purposes", "care"], "long enough password\n", 2,
         "unknown roles"),
        (["--roles", "privacy_officer", "--purposes", "policy_administration"],
         "long enough password\n", 1, "not held at organisations of kind ngo"),
    ],
)  # fmt: skip
def test_hub_user_add_refuses_bad_input_clearly(
    cli_env: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    stdin: str,
    code: int,
    message: str,
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    org = cli_env.demo.organisation_ids["ghapro"]
    base = ["user", "add", "--username", "someone", "--name", "Some One", "--org", org]
    assert main([*base, *args, "--password-stdin"]) == code
    out, err = capsys.readouterr()
    assert message in err
    assert "password=" not in out
    if stdin.strip():
        assert stdin.strip() not in out + err
    assert main(["user", "list"]) == 0
    assert "someone" not in capsys.readouterr()[0]


def test_hub_user_password_moves_the_token_epoch(
    cli_env: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("another long passphrase\n"))
    assert main(["user", "password", "--username", "utsopi", "--password-stdin"]) == 0
    assert "another long" not in capsys.readouterr()[0]
    assert person_row(cli_env, "utsopi").token_epoch == 1
    code, verifier = code_for(cli_env, "utsopi", "another long passphrase")
    assert exchange(cli_env, code, verifier).status_code == 200
    assert main(["user", "password", "--username", "nobody"]) == 1


# --- the demo's people in use -----------------------------------------------------------


def test_the_demo_people_complete_four_eyes_approval(hub: Any) -> None:
    from tests.test_policy_workflow import APPROVE, PROPOSE, _shift_doc

    token = {
        u: tokens_of(hub, u)["access_token"] for u in ("dpo-antwerpen", "dpo-politie", "utsopi")
    }

    def call(username: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        return hub.ok(
            query, variables, token=token[username], purpose="policy_administration", sealed=True
        )

    doc = _shift_doc("deny")
    call("dpo-antwerpen", PROPOSE, {"r": "ShiftRegistration", "d": doc})

    def proposed(username: str) -> str:
        # Ids are sealed per organisation: each finds the change under its own id for it.
        changes = call(username, "{ policyChanges { id status } }", {})["policyChanges"]
        (change,) = [c for c in changes if c["status"] == "PROPOSED"]
        return str(change["id"])

    second = call("dpo-politie", APPROVE, {"id": proposed("dpo-politie")})
    assert second["approvePolicyChange"]["status"] == "PROPOSED"
    done = call("utsopi", APPROVE, {"id": proposed("utsopi")})["approvePolicyChange"]
    assert done["status"] == "ACTIVE"
    assert {a["role"] for a in done["approvals"]} == {"privacy_officer", "worker_representative"}


@pytest.mark.parametrize(
    ("username", "console"), [("dpo-antwerpen", "/console"), ("worker", "/me")]
)
def test_a_demo_person_logs_in_to_the_consoles(hub: Any, username: str, console: str) -> None:
    from tests.consoles import login

    person = PEOPLE[username]
    assert person.console == console
    browser = login(hub, username, person.password)
    account = browser.get("/account")
    assert account.status_code == 200 and "<h1>Your account</h1>" in account.text


def test_the_demo_prints_each_persons_login_and_the_consoles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hub.commands.serve import _print_consoles

    _print_consoles("http://127.0.0.1:8000")
    out = capsys.readouterr().out
    for path in ("/console", "/me", "/care", "/graphql"):
        assert f"http://127.0.0.1:8000{path} " in out
    lines = out.splitlines()
    for person in DEMO_PEOPLE:
        (line,) = [ln for ln in lines if ln.split()[:1] == [person.username]]
        assert line.split()[1:3] == [person.password, person.console]
    usernames = [p.username for p in DEMO_PEOPLE]
    assert {
        "dpo-antwerpen",
        "dpo-politie",
        "utsopi",
        "worker",
        "politie",
        "stad",
        "ngo",
        "werker-gent",
        "nieuw",
        "inspectie",
    } == set(usernames)


def test_a_person_whose_roles_no_longer_fit_their_organisation_gets_no_code(hub: Any) -> None:
    """A row stored before the check (or an organisation named data controller no more):
    the right password gets a refusal with no code."""
    from hub.auth.clients import hash_secret

    async def add_legacy() -> None:
        async with hub.db.session() as s:
            s.add(
                Person(
                    username="legacy-ngo-police",
                    password_hash=hash_secret("legacy password 123"),
                    display_name="Legacy",
                    organisation_id=hub.demo.organisation_ids["ghapro"],
                    roles=["police_officer"],
                    purposes=["identity_validation"],
                )
            )
            await s.commit()

    hub.run(add_legacy())
    r, _ = log_in(hub, "legacy-ngo-police", "legacy password 123", ui_locales="en")
    assert r.status_code == 403 and "location" not in r.headers
    assert error_text(r) == "This account may not log in now. Ask the hub's operator."
