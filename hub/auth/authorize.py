"""People login at the embedded issuer: the authorization code grant with PKCE (RFC 6749
§4.1, RFC 7636) and OpenID Connect's ID token, for one public client, the consoles'
`hub-console`, whose only redirect URI is the hub's own `/login/callback`.

GET /oauth/authorize checks the request and shows the login page; POST checks the
password and answers with a redirect carrying a single-use code, kept in the database by
its SHA-256 for 60 s. POST /oauth/token with grant_type=authorization_code (exchange_code
here, called by hub/auth/issuer.py) trades it, with the PKCE verifier, for an access token
(the same RFC 9068 JWT as a client's, `sub` the person) and an ID token.

Hand-written rather than authlib's AuthorizationCodeGrant: there is one client, one
redirect URI and one challenge method, and the database work is asynchronous.

Defences: a wrong password and an unknown username get the same answer after the same
work (a dummy scrypt check); failed attempts spend a per-username and a per-address
bucket, so guessing is slow; the form carries a token signed with a key of the secret dir,
bound both to the request's parameters and to a cookie of the browser (CSRF and login
CSRF); the pages are never cached nor framed. Nothing here logs a username or password.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import delete, select
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from hub.auth.clients import (
    CALLBACK_PATH,
    CONSOLE_CLIENT_ID,
    binding_errors,
    browser_url,
    check_secret,
    hash_secret,
    secure_cookies,
)
from hub.auth.people import MAX_PASSWORD, load_person, normalise_username, username_problem
from hub.crypto import load_or_create_key
from hub.i18n import LOCALES, N_, environment, gettext, negotiate
from hub.models.base import utcnow
from hub.models.organisation import Organisation
from hub.models.people import AuthorizationCode, Person
from hub.text import hidden

if TYPE_CHECKING:
    from hub.auth.issuer import EmbeddedIssuer

log = logging.getLogger(__name__)

AUTHORIZE_PATH = "/oauth/authorize"
CODE_LIFETIME = timedelta(seconds=60)
FORM_LIFETIME_S = 30 * 60  # how long a login page may stay open before it is sent
SCOPES = frozenset({"openid", "hub"})
TEMPLATES = Path(__file__).resolve().parent / "templates"
COOKIE = "hub_login"
# The language a person picked on any page (hub/consoles/session.py's LANGUAGE_COOKIE).
LANGUAGE_COOKIE = "hub_lang"
FORM_KEY_FILE = "login-form.key"
AUTH_CODE_GRANT = "authorization_code"

# Failed logins: a username may fail 5 times in a row, then once a minute; an address 30
# times, then once every 10 s (one office's people may share one address).
USERNAME_LIMIT = (5, 1 / 60)
ADDRESS_LIMIT = (30, 1 / 10)
_MAX_TRACKED = 10_000
_MAX_BODY = 8192
_FORM_TYPE = "application/x-www-form-urlencoded"

# RFC 7636 §4.1: 43-128 unreserved characters; an S256 challenge is 43 of them.
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
# The request parameters the login form carries and its token is bound to.
PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "ui_locales",
    "prompt",
)
_MAX_PARAM = {"state": 500, "nonce": 200, "scope": 200, "ui_locales": 50, "prompt": 50}


@cache
def _dummy_hash() -> str:
    # Checked for an unknown username, so that it costs as much as a wrong password.
    return hash_secret("no such person")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def code_challenge(verifier: str) -> str:
    """The S256 challenge of a PKCE verifier (RFC 7636 §4.2)."""
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


# --- failed logins --------------------------------------------------------------------


class FailureLimit:
    """A token bucket of failed logins per key (username or address), per replica."""

    def __init__(
        self, burst: int, per_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.burst = burst
        self.per_s = per_s
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_s)

    def wait(self, key: str) -> float:
        """0 if one more attempt may go now, else the seconds until it may."""
        tokens = self._level(key, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.per_s

    def failed(self, key: str) -> None:
        now = self.clock()
        if key not in self._buckets and len(self._buckets) >= _MAX_TRACKED:
            self._buckets = {
                k: v for k, v in self._buckets.items() if self._level(k, now) < self.burst
            }
        self._buckets[key] = (max(0.0, self._level(key, now) - 1.0), now)

    def refund(self, key: str) -> None:
        """Give back what an attempt was charged, once it turned out right."""
        if key in self._buckets:
            now = self.clock()
            self._buckets[key] = (min(float(self.burst), self._level(key, now) + 1.0), now)


class LoginLimits:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.usernames = FailureLimit(*USERNAME_LIMIT, clock=clock)
        self.addresses = FailureLimit(*ADDRESS_LIMIT, clock=clock)

    def wait(self, username: str, address: str) -> float:
        return max(self.usernames.wait(username), self.addresses.wait(address))

    def failed(self, username: str, address: str) -> None:
        self.usernames.failed(username)
        self.addresses.failed(address)

    def refund(self, username: str, address: str) -> None:
        self.usernames.refund(username)
        self.addresses.refund(address)


# --- the signed form ------------------------------------------------------------------


class FormSigner:
    """The login form's CSRF token: an HMAC over the time it was made, the browser's
    cookie and the authorization request's parameters, with a key every replica shares."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    @classmethod
    def from_secret_dir(cls, secret_dir: Path) -> FormSigner:
        return cls(load_or_create_key(secret_dir / FORM_KEY_FILE))

    def _mac(self, issued: int, cookie: str, params: Mapping[str, str]) -> str:
        message = "\n".join([str(issued), cookie, *(f"{k}={params.get(k, '')}" for k in PARAMS)])
        return _b64(hmac.new(self._key, message.encode(), hashlib.sha256).digest())

    def token(self, cookie: str, params: Mapping[str, str]) -> str:
        issued = int(self._clock())
        return f"{issued}.{self._mac(issued, cookie, params)}"

    def valid(self, token: str, cookie: str, params: Mapping[str, str]) -> bool:
        issued_text, _, mac = token.partition(".")
        if not issued_text.isdigit() or not cookie:
            return False
        issued = int(issued_text)
        if not 0 <= self._clock() - issued <= FORM_LIFETIME_S:
            return False
        return hmac.compare_digest(mac, self._mac(issued, cookie, params))


# --- the authorization request --------------------------------------------------------


class PageError(Exception):
    """A request the issuer answers with an error page, never a redirect (RFC 6749
    §4.1.2.1: the client or its redirect URI is not what it should be)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectError(Exception):
    """An error the issuer sends back to the (valid) redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def parse_request(pairs: list[tuple[str, str]], callback: str) -> dict[str, str]:
    """The authorization request's parameters, checked; raises PageError or RedirectError."""
    seen: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in PARAMS:
            if name in seen:
                repeated.add(name)
            seen[name] = value
    if "client_id" in repeated or seen.get("client_id") != CONSOLE_CLIENT_ID:
        raise PageError(N_("This login link names an unknown application."))
    if "redirect_uri" in repeated or seen.get("redirect_uri") != callback:
        raise PageError(N_("This login link would send you to an address the hub does not know."))
    # From here on errors go back to the client, with its state if the state is sound.
    params = {name: seen.get(name, "") for name in PARAMS}
    if not _sound(params["state"], "state"):
        params["state"] = ""
        raise RedirectError("invalid_request", "state is malformed")
    if repeated:
        raise RedirectError("invalid_request", "a parameter is repeated")
    for name in ("nonce", "scope", "ui_locales", "prompt"):
        if not _sound(params[name], name):
            raise RedirectError("invalid_request", f"{name} is malformed")
    if "none" in params["prompt"].split():
        # There is no login session at the issuer: every login asks for the password.
        raise RedirectError("login_required", "the person must log in")
    if params["response_type"] != "code":
        raise RedirectError("unsupported_response_type", "response_type must be code")
    scopes = set(params["scope"].split())
    if "openid" not in scopes or not scopes <= SCOPES:
        raise RedirectError("invalid_scope", "scope must hold openid, and hub at most besides")
    if not params["code_challenge"]:
        raise RedirectError("invalid_request", "PKCE is required: code_challenge is missing")
    if params["code_challenge_method"] != "S256":
        raise RedirectError(
            "invalid_request", "code_challenge_method must be S256 (plain is refused)"
        )
    if not _CHALLENGE.fullmatch(params["code_challenge"]):
        raise RedirectError("invalid_request", "code_challenge is malformed")
    return params


def _sound(value: str, name: str) -> bool:
    return len(value) <= _MAX_PARAM[name] and bool(_PRINTABLE.fullmatch(value))


def error_redirect(callback: str, issuer_url: str, error: RedirectError, state: str) -> Response:
    query = {"error": error.error, "error_description": error.description}
    if state:
        query["state"] = state
    query["iss"] = issuer_url
    return _no_store(RedirectResponse(f"{callback}?{urlencode(query)}", status_code=303))


_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _no_store(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


# --- the endpoint ---------------------------------------------------------------------


@dataclass
class _Outcome:
    """What the login form says back, and with which status."""

    status: int
    message: str | None = None
    kw: dict[str, Any] | None = None
    headers: dict[str, str] | None = None


class Authorization:
    """GET/POST /oauth/authorize of an embedded issuer."""

    def __init__(
        self,
        issuer: EmbeddedIssuer,
        *,
        limits: LoginLimits | None = None,
        signer: FormSigner | None = None,
    ) -> None:
        self.issuer = issuer
        self.limits = limits or LoginLimits()
        self.signer = signer or FormSigner.from_secret_dir(issuer.settings.secret_dir)
        # The hub's own callback (hub/consoles/login.py), the only redirect URI there is.
        public = browser_url(issuer.settings)
        self.callback = public + CALLBACK_PATH
        # Secure unless the browser reaches the hub over plain HTTP on a loopback address.
        self.secure_cookie = secure_cookies(public) is not False

    async def endpoint(self, request: Request) -> Response:
        if request.method in ("GET", "HEAD"):
            pairs = list(request.query_params.multi_items())
            form: dict[str, str] = {}
        else:
            try:
                pairs = await _read_pairs(request)
            except ValueError as exc:
                return self._error_page(request, None, exc.args[0])
            form = {k: v for k, v in pairs if k not in PARAMS}
        locale = self._locale(request, dict(pairs).get("ui_locales"))
        try:
            params = parse_request(pairs, self.callback)
        except PageError as exc:
            return self._error_page(request, locale, exc.message)
        except RedirectError as exc:
            state = dict(pairs).get("state", "")
            state = state if _sound(state, "state") else ""
            return error_redirect(self.callback, self.issuer.settings.issuer_url, exc, state)
        if request.method in ("GET", "HEAD"):
            return self._login_page(request, locale, params, _Outcome(200))
        return await self._login(request, locale, params, form)

    async def _login(
        self, request: Request, locale: str, params: dict[str, str], form: dict[str, str]
    ) -> Response:
        cookie = request.cookies.get(COOKIE, "")
        username = form.get("username", "")
        if not self.signer.valid(form.get("form_token", ""), cookie, params):
            return self._login_page(
                request,
                locale,
                params,
                _Outcome(400, N_("This login page has expired. Please log in again.")),
                username=username,
            )
        password = form.get("password", "")
        key = normalise_username(username)[:80] if not any(hidden(c) for c in username) else ""
        address = request.client.host if request.client else "-"
        wait = self.limits.wait(key, address)
        if wait:
            seconds = max(1, math.ceil(wait))
            return self._login_page(
                request,
                locale,
                params,
                _Outcome(
                    429,
                    N_("Too many failed attempts. Try again in %(seconds)s seconds."),
                    {"seconds": seconds},
                    {"Retry-After": str(seconds)},
                ),
                username=username,
            )
        # Charged now, before the first await, and given back if the password is right: so
        # concurrent attempts cannot all pass the check above before any is counted.
        self.limits.failed(key, address)
        found = await self._person(key)
        ok = await asyncio.to_thread(_check_password, password, found)
        if ok and found is not None:
            self.limits.refund(key, address)
        if not ok or found is None:
            log.info("login refused: wrong username or password")
            return self._login_page(
                request,
                locale,
                params,
                _Outcome(400, N_("Wrong username or password.")),
                username=username,
            )
        person, organisation = found
        if person.disabled:
            log.info("login refused: person %s is disabled", person.id)
            return self._login_page(
                request,
                locale,
                params,
                _Outcome(403, N_("This account is disabled. Ask your organisation to enable it.")),
            )
        # Only now, so that an unknown username and a known one cost the same before.
        if problems := await self._problems(organisation, person):
            log.info("login refused: person %s: %s", person.id, "; ".join(problems))
            return self._login_page(
                request,
                locale,
                params,
                _Outcome(403, N_("This account may not log in now. Ask the hub's operator.")),
            )
        code = await self._issue_code(person, params)
        log.info("authorization code issued to person %s", person.id)
        query = {"code": code, "state": params["state"], "iss": self.issuer.settings.issuer_url}
        if not params["state"]:
            del query["state"]
        response = RedirectResponse(f"{self.callback}?{urlencode(query)}", status_code=303)
        response.delete_cookie(COOKIE, path=AUTHORIZE_PATH)
        return _no_store(response)

    async def _person(self, username: str) -> tuple[Person, Organisation] | None:
        if username_problem(username):
            return None
        async with self.issuer.db.session() as session:
            return await load_person(session, username=username)

    async def _problems(self, organisation: Organisation, person: Person) -> list[str]:
        """Why the person's roles may not be held at their organisation (empty: they may)."""
        async with self.issuer.db.session() as session:
            return await binding_errors(
                session, organisation, person.roles, self.issuer.controllers
            )

    async def _issue_code(self, person: Person, params: dict[str, str]) -> str:
        code = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.issuer.db.session() as session:
            # Codes nobody redeemed go when the next is issued.
            await session.execute(
                delete(AuthorizationCode).where(col(AuthorizationCode.expires_at) < now)
            )
            session.add(
                AuthorizationCode(
                    code_hash=code_hash(code),
                    client_id=CONSOLE_CLIENT_ID,
                    person_id=person.id,
                    redirect_uri=params["redirect_uri"],
                    scope=" ".join(sorted(set(params["scope"].split()))),
                    nonce=params["nonce"] or None,
                    code_challenge=params["code_challenge"],
                    code_challenge_method=params["code_challenge_method"],
                    auth_time=now,
                    expires_at=now + CODE_LIFETIME,
                )
            )
            await session.commit()
        return code

    # --- pages ------------------------------------------------------------------------

    def _locale(self, request: Request, ui_locales: str | None) -> str:
        """The language picked on the page (its cookie), else the client's ui_locales,
        else Accept-Language."""
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        if chosen not in LOCALES:
            tags = (tag.split("-")[0].lower() for tag in (ui_locales or "").split())
            chosen = next((tag for tag in tags if tag in LOCALES), None)
        return negotiate(request.headers.get("accept-language"), chosen)

    def _render(
        self,
        locale: str,
        template: str,
        status: int,
        message: str | None,
        message_kw: Mapping[str, Any] | None = None,
        *,
        path: str = AUTHORIZE_PATH,
        **context: Any,
    ) -> HTMLResponse:
        if message is not None:
            message = gettext(locale, message, **(message_kw or {}))
        # The shared layout's context: no console page, no console navigation, and the path
        # the language picker returns to.
        html = (
            environment(locale, TEMPLATES)
            .get_template(template)
            .render(message=message, page=None, nav=[], path=path, **context)
        )
        return HTMLResponse(html, status_code=status)

    def _login_page(
        self,
        request: Request,
        locale: str,
        params: dict[str, str],
        outcome: _Outcome,
        *,
        username: str = "",
    ) -> Response:
        cookie = request.cookies.get(COOKIE, "")
        fresh = len(cookie) < 32 or not _PRINTABLE.fullmatch(cookie)
        if fresh:
            cookie = secrets.token_urlsafe(32)
        response = self._render(
            locale,
            "login.html",
            outcome.status,
            params=params,
            form_token=self.signer.token(cookie, params),
            username=username if not any(hidden(c) for c in username) else "",
            message=outcome.message,
            message_kw=outcome.kw,
            action=AUTHORIZE_PATH,
            # The picker comes back to this login, with the same request.
            path=f"{AUTHORIZE_PATH}?{urlencode({k: v for k, v in params.items() if v})}",
        )
        for name, value in (outcome.headers or {}).items():
            response.headers[name] = value
        if fresh:
            response.set_cookie(
                COOKIE,
                cookie,
                max_age=FORM_LIFETIME_S,
                path=AUTHORIZE_PATH,
                secure=self.secure_cookie,
                httponly=True,
                samesite="strict",
            )
        return _no_store(response)

    def _error_page(self, request: Request, locale: str | None, message: str) -> Response:
        locale = locale or self._locale(request, None)
        return _no_store(self._render(locale, "authorize_error.html", 400, message, path="/"))


def _check_password(password: str, found: tuple[Person, Organisation] | None) -> bool:
    """Constant work whether or not the person exists (scrypt, off the event loop)."""
    stored = found[0].password_hash if found is not None else _dummy_hash()
    if len(password) > MAX_PASSWORD or any(hidden(c) for c in password):
        check_secret("", _dummy_hash())
        return False
    return check_secret(password, stored) and found is not None


async def _read_pairs(request: Request) -> list[tuple[str, str]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise ValueError(N_("The login form was not sent as a form."))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise ValueError(N_("The login form is too large."))
    try:
        return parse_qsl(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise ValueError(N_("The login form is not UTF-8.")) from None


# --- the token endpoint's authorization code grant ------------------------------------


def _token_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def exchange_code(
    issuer: EmbeddedIssuer, form: dict[str, str], *, basic_client: str | None
) -> Response:
    """POST /oauth/token with grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636
    §4.5): the code is deleted in the transaction that reads it, so it works once."""
    if basic_client or "client_secret" in form:
        return _token_error("invalid_client", "hub-console is a public client: no secret", 401)
    if form.get("client_id") != CONSOLE_CLIENT_ID:
        return _token_error("invalid_client", "Client authentication failed.", 401)
    code, verifier = form.get("code", ""), form.get("code_verifier", "")
    if not code or len(code) > 200:
        return _token_error("invalid_request", "code is missing")
    if not _VERIFIER.fullmatch(verifier):
        return _token_error("invalid_request", "code_verifier is missing or malformed")
    async with issuer.db.session() as session:
        row = (
            await session.execute(
                select(AuthorizationCode).where(col(AuthorizationCode.code_hash) == code_hash(code))
            )
        ).scalar_one_or_none()
        if row is None:
            return _token_error("invalid_grant", "the code is unknown, used or expired")
        deleted = await session.execute(
            delete(AuthorizationCode).where(col(AuthorizationCode.code_hash) == row.code_hash)
        )
        await session.commit()
    if getattr(deleted, "rowcount", 0) != 1:  # another request redeemed it meanwhile
        return _token_error("invalid_grant", "the code is unknown, used or expired")
    if row.expires_at <= utcnow():
        return _token_error("invalid_grant", "the code is unknown, used or expired")
    if row.client_id != CONSOLE_CLIENT_ID or form.get("redirect_uri") != row.redirect_uri:
        return _token_error("invalid_grant", "redirect_uri is not the authorization request's")
    if row.code_challenge_method != "S256" or not hmac.compare_digest(
        code_challenge(verifier), row.code_challenge
    ):
        return _token_error("invalid_grant", "the code_verifier does not match the challenge")
    async with issuer.db.session() as session:
        loaded = await load_person(session, person_id=row.person_id)
        if loaded is None:
            return _token_error("invalid_grant", "the person is gone")
        person, organisation = loaded
        problems = await binding_errors(session, organisation, person.roles, issuer.controllers)
    if person.disabled or problems:
        return _token_error("invalid_grant", "the person may not log in now")
    body = issuer.person_tokens(
        person, organisation, auth_time=row.auth_time, scope=row.scope, nonce=row.nonce
    )
    log.info("tokens issued to person %s", person.id)
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
