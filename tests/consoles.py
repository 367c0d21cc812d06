"""Helpers for tests of the consoles: a logged-in person as an HTTP client of the app.

`login(hub, username, password)` drives the real flow step by step through the app (the
consoles' /login, the embedded issuer's login form, the callback) and returns a
ConsoleClient holding the session cookie. `session_client(hub, client_id)` opens a session
for a demo API client's token directly (for pages whose tests do not need a person).
Each ConsoleClient sends its own cookie, so several people can act in one test on the
one app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from hub.consoles.session import COOKIE, Sessions
from tests.conftest import Hub

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleClient:
    hub: Hub
    cookie: str
    locale: str = "en"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {
            "Cookie": f"{COOKIE}={self.cookie}",
            "Accept-Language": self.locale,
        }
        headers.update(extra or {})
        return headers

    def get(self, path: str, **kw: Any) -> httpx.Response:
        self.hub.client.cookies.clear()
        return self.hub.client.get(
            path, headers=self._headers(kw.pop("headers", None)), follow_redirects=False, **kw
        )

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kw: Any
    ) -> httpx.Response:
        """A form POST; with `csrf`, the page's CSRF token is fetched and sent along."""
        form = dict(data or {})
        if csrf and "csrf_token" not in form:
            form["csrf_token"] = self.csrf_token()
        self.hub.client.cookies.clear()
        return self.hub.client.post(
            path,
            data=form,
            headers=self._headers(kw.pop("headers", None)),
            follow_redirects=False,
            **kw,
        )

    def csrf_token(self, path: str = "/account") -> str:
        """The session's CSRF token, as a page's forms carry it (the logout form has it)."""
        r = self.get(path)
        if r.status_code == 303:
            r = self.get(r.headers["location"])
        match = CSRF.search(r.text)
        assert match, f"no CSRF token on {path}: {r.status_code}"
        return match.group(1)


def session_client(hub: Hub, client_id: str, *, fresh: bool = True) -> ConsoleClient:
    """A session holding a token minted for the demo API client `client_id`."""
    token = hub.token(client_id)
    sessions: Sessions = hub.app.state.consoles.sessions
    now = datetime.now(UTC)
    cookie, _ = hub.run(
        sessions.create(
            token,
            subject=client_id,
            authenticated_at=now if fresh else now - timedelta(hours=1),
            expires_at=now + timedelta(hours=1),
        )
    )
    return ConsoleClient(hub, cookie)


class _Form(HTMLParser):
    """The first form of a page: its action and its inputs' names and values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done and a.get("method", "get").lower() == "post":
            if "logout" in a.get("action", ""):
                return
            self._in_form = True
            self.action = a.get("action", "")
        elif tag == "input" and self._in_form and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def callback_url(
    hub: Hub, username: str, password: str, *, return_to: str = "/", locale: str = "en"
) -> str:
    """The first legs of a login: the consoles' /login, then the issuer's form with the
    person's password; returns the callback URL the issuer sends the browser to. The
    login's state cookie stays in the test client's jar (as in the browser that started
    it)."""
    client = hub.client
    client.cookies.clear()
    headers = {"Accept-Language": locale}
    r = client.get(f"/login?return_to={return_to}", headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text
    authorize = r.headers["location"]
    r = client.get(authorize, headers=headers, follow_redirects=False)
    assert r.status_code == 200, r.text
    form = _Form()
    form.feed(r.text)
    assert form.action is not None, "the issuer's login page has no form"
    fields = dict(form.fields)
    fields["username"] = username
    fields["password"] = password
    action = urljoin(authorize, form.action) if form.action else authorize
    r = client.post(action, data=fields, headers=headers, follow_redirects=False)
    assert r.status_code in (302, 303), r.text
    callback = r.headers["location"]
    assert "code=" in callback, callback
    return str(callback)


def login(
    hub: Hub, username: str, password: str, *, return_to: str = "/", locale: str = "en"
) -> ConsoleClient:
    """Log in as a person through the real flow: consoles -> issuer -> callback."""
    callback = urlsplit(callback_url(hub, username, password, return_to=return_to, locale=locale))
    client = hub.client
    r = client.get(
        f"{callback.path}?{callback.query}",
        headers={"Accept-Language": locale},
        follow_redirects=False,
    )
    assert r.status_code == 200, r.text
    cookie = r.cookies.get(COOKIE) or client.cookies.get(COOKIE)
    assert cookie, "the callback set no session cookie"
    client.cookies.clear()
    return ConsoleClient(hub, cookie, locale)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
