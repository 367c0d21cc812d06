"""The consoles' shared machinery through HTTP on the app, on SQLite and PostgreSQL: the
start page, the relying party's first leg (PKCE, state, nonce), sessions and their cookie,
CSRF, languages, security headers, static files, and console actions in the access log."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from sqlmodel import col

from hub.auth.clients import secure_cookies
from hub.config import Rate
from hub.consoles.login import STATE_COOKIE
from hub.consoles.pages import CSP, safe_return_to
from hub.consoles.session import COOKIE, digest
from hub.demo_clients import DEMO_PEOPLE
from hub.models import AccessLogEntry, ConsoleLogin
from hub.policy.principal import Principal
from hub.schema.quotas import ClientQuotas, client_key
from tests.conftest import Hub
from tests.consoles import callback_url, query_of, session_client


def test_start_page_offers_login_in_the_browsers_language(demo_hub: Hub) -> None:
    demo_hub.client.cookies.clear()
    r = demo_hub.client.get("/", headers={"Accept-Language": "fr-BE,fr;q=0.9"})
    assert r.status_code == 200
    assert '<html lang="fr">' in r.text
    assert 'href="/login"' in r.text
    assert r.headers["content-security-policy"] == CSP
    assert "frame-ancestors 'none'" in CSP and "unsafe-inline" not in CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    nl = demo_hub.client.get("/", headers={"Accept-Language": "de-DE, nl;q=0.5"})
    assert '<html lang="nl">' in nl.text


def test_login_sends_the_browser_to_the_issuer_with_pkce_state_and_nonce(demo_hub: Hub) -> None:
    r = demo_hub.client.get("/login?return_to=/me", follow_redirects=False)
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("http://127.0.0.1:8000/oauth/authorize?")
    q = query_of(location)
    assert q["response_type"] == "code" and q["client_id"] == "hub-console"
    assert q["redirect_uri"] == "http://127.0.0.1:8000/login/callback"
    assert q["code_challenge_method"] == "S256" and "openid" in q["scope"].split()
    assert len(q["state"]) >= 40 and len(q["nonce"]) >= 30

    async def pending() -> ConsoleLogin | None:
        async with demo_hub.db.session() as s:
            return await s.get(ConsoleLogin, digest(q["state"]))

    row = demo_hub.run(pending())
    assert row is not None and row.return_to == "/me"
    # The challenge is S256 of the verifier kept server-side; the verifier never left.
    expected = base64.urlsafe_b64encode(hashlib.sha256(row.code_verifier.encode()).digest())
    assert q["code_challenge"] == expected.rstrip(b"=").decode()
    assert row.code_verifier not in location


def test_a_callback_with_an_unknown_state_is_refused(demo_hub: Hub) -> None:
    r = demo_hub.client.get("/login/callback?code=abc&state=forged", follow_redirects=False)
    assert r.status_code == 400
    assert COOKIE not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/me", "/me"),
        ("/console/policies?x=1", "/console/policies?x=1"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_return_to_stays_on_the_hub(value: str | None, expected: str) -> None:
    assert safe_return_to(value) == expected


def test_a_page_without_a_session_sends_to_login(demo_hub: Hub) -> None:
    demo_hub.client.cookies.clear()
    r = demo_hub.client.get("/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?return_to=/account"
    forged = demo_hub.client.get(
        "/account", headers={"Cookie": f"{COOKIE}=not-a-session"}, follow_redirects=False
    )
    assert forged.status_code == 303


def test_a_session_shows_the_persons_roles_and_is_audited(demo_hub: Hub) -> None:
    person = session_client(demo_hub, "demo-dpo-antwerp")
    r = person.get("/account")
    assert r.status_code == 200, r.text
    assert "privacy officer" in r.text and "policy administration" in r.text
    dutch = person.get("/account", headers={"Accept-Language": "nl"})
    assert (
        '<html lang="nl">' in dutch.text and "functionaris voor gegevensbescherming" in dutch.text
    )

    async def console_actions() -> list[AccessLogEntry]:
        async with demo_hub.db.session() as s:
            rows = await s.execute(
                select(AccessLogEntry).where(col(AccessLogEntry.resource) == "Console")
            )
            return list(rows.scalars())

    actions = [e for e in demo_hub.run(console_actions()) if e.action == "console:account"]
    assert len(actions) >= 2
    assert actions[-1].operation == "GET /account" and actions[-1].outcome == "allowed"
    assert "privacy_officer" in actions[-1].roles


def test_logout_needs_the_csrf_token_and_ends_the_session(demo_hub: Hub) -> None:
    person = session_client(demo_hub, "demo-worker")
    assert person.get("/account").status_code == 200
    refused = person.post("/logout", {"csrf_token": "wrong"}, csrf=False)
    assert refused.status_code == 403
    assert person.get("/account").status_code == 200  # still logged in
    out = person.post("/logout")
    assert out.status_code == 303
    assert f"{COOKIE}=" in out.headers["set-cookie"]
    assert person.get("/account").status_code == 303  # the session is gone


def test_the_language_picker_sets_a_cookie_and_returns(demo_hub: Hub) -> None:
    demo_hub.client.cookies.clear()
    r = demo_hub.client.get("/language/fr?return_to=/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert "hub_lang=fr" in r.headers["set-cookie"]
    away = demo_hub.client.get("/language/fr?return_to=//evil.example", follow_redirects=False)
    assert away.headers["location"] == "/"
    person = session_client(demo_hub, "demo-worker")
    page = person.get("/account", headers={"Cookie": f"{COOKIE}={person.cookie}; hub_lang=fr"})
    assert '<html lang="fr">' in page.text


def test_static_files_are_served_with_cache_headers_and_no_traversal(demo_hub: Hub) -> None:
    css = demo_hub.client.get("/static/hub.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    assert "max-age" in css.headers["cache-control"]
    assert demo_hub.client.get("/static/me-warnings.js").status_code == 200
    assert demo_hub.client.get("/static/../config.py").status_code == 404
    assert demo_hub.client.get("/static/%2e%2e/config.py").status_code == 404


def test_each_person_has_their_own_request_rate(demo_hub: Hub) -> None:
    consoles = demo_hub.app.state.consoles
    before = consoles.quotas
    # A slow refill (one a minute): the burst of 2 is all the test can spend.
    consoles.quotas = ClientQuotas(Rate(per_s=1 / 60, burst=2))
    try:
        officer = session_client(demo_hub, "demo-dpo-antwerp")
        worker = session_client(demo_hub, "demo-worker")
        assert [officer.get("/account").status_code for _ in range(3)] == [200, 200, 429]
        refused = officer.get("/account")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert worker.get("/account").status_code == 200  # another person, another bucket
    finally:
        consoles.quotas = before


def test_people_logged_in_through_the_console_client_have_a_bucket_each() -> None:
    def person(sub: str, client: str | None = "hub-console") -> Principal:
        return Principal(
            subject=sub,
            org_id="o",
            org_kind="city",
            city=None,
            roles=frozenset(),
            purposes=frozenset(),
            client_id=client,
        )

    assert client_key(person("a")) != client_key(person("b"))
    # An API client's tokens share its bucket, whoever the token's subject.
    assert client_key(person("a", "rms")) == client_key(person("b", "rms")) == "rms"


def test_a_callback_url_opened_by_another_browser_logs_no_one_in(demo_hub: Hub) -> None:
    """Login CSRF: an attacker logs in as themself, stops before the callback and hands
    the callback URL to someone else. Only the browser that started the login holds its
    state cookie; any other gets no session (and the attacker's state is not spent)."""
    worker = next(p for p in DEMO_PEOPLE if p.username == "worker")
    url = urlsplit(callback_url(demo_hub, worker.username, worker.password))
    started = demo_hub.client.cookies.get(STATE_COOKIE)
    assert started
    demo_hub.client.cookies.clear()  # the victim's browser: no state cookie
    victim = demo_hub.client.get(f"{url.path}?{url.query}", follow_redirects=False)
    assert victim.status_code == 400
    assert COOKIE not in victim.headers.get("set-cookie", "")
    other = demo_hub.client.get(
        f"{url.path}?{url.query}",
        headers={"Cookie": f"{STATE_COOKIE}=another-state"},
        follow_redirects=False,
    )
    assert other.status_code == 400
    # The browser that started it completes the login.
    own = demo_hub.client.get(
        f"{url.path}?{url.query}",
        headers={"Cookie": f"{STATE_COOKIE}={started}"},
        follow_redirects=False,
    )
    assert own.status_code == 200 and own.cookies.get(COOKIE)
    demo_hub.client.cookies.clear()


def test_a_head_request_with_a_form_is_held_to_the_csrf_check(demo_hub: Hub) -> None:
    person = session_client(demo_hub, "demo-dpo-antwerp")
    demo_hub.client.cookies.clear()
    r = demo_hub.client.request(
        "HEAD",
        "/account",
        content=b"reason=no+csrf+token",
        headers={
            "Cookie": f"{COOKIE}={person.cookie}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "url, secure",
    [
        ("https://hub.example.be", True),
        ("http://127.0.0.1:8000", False),
        ("http://localhost:8000", False),
        ("http://[::1]:8000", False),
        # A name that merely starts like a loopback address is another host.
        ("http://localhost.example.be", None),
        ("http://127.0.0.1.nip.io:8000", None),
        ("http://hub.example.be", None),
    ],
)
def test_cookies_are_secure_except_over_plain_http_on_loopback(
    url: str, secure: bool | None
) -> None:
    assert secure_cookies(url) is secure
