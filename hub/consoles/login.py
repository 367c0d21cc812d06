"""Logging people in to the consoles: the hub as an OpenID Connect relying party.

The authorization code flow with PKCE (RFC 7636, S256) against the configured issuer: the
embedded one (hub/auth/issuer.py, people from `hub user add`) or, with HUB_OIDC_ISSUER, any
OpenID Connect provider that knows the console's public client (HUB_CONSOLE_CLIENT_ID)
and its callback `<public url>/login/callback`.

1. `GET /login?return_to=/me` keeps a state, a PKCE verifier and a nonce
   (hub/consoles/session.py) and sends the browser to the issuer's authorization endpoint.
2. The person logs in there; the issuer sends the browser back to `/login/callback` with a
   code and the state.
3. The callback takes its login back by the state (once), exchanges the code with the
   verifier at the token endpoint, verifies the ID token (signature, issuer, audience,
   expiry, nonce) and the access token (exactly as the API does: signature, claims, the
   organisation registry), and opens a session holding the access token.

Pages then act with that token's principal; the consoles never see a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub.auth.clients import CALLBACK_PATH, browser_url, secure_cookies
from hub.auth.verify import ALLOWED_ALGORITHMS
from hub.consoles.pages import (
    SECURITY_HEADERS,
    Consoles,
    audit_console,
    consoles_of,
    page_locale,
    read_form,
    render,
    safe_return_to,
)
from hub.consoles.session import COOKIE, LANGUAGE_COOKIE, LOGIN_TTL
from hub.errors import HubError
from hub.i18n import LOCALES

log = logging.getLogger(__name__)

# The browser that started a login holds its state in this cookie; the callback takes only
# that state (no one can hand another browser a callback URL and log it in as themself).
STATE_COOKIE = "hub_login_state"
# Logins in flight, over all replicas, beyond which /login refuses to start one more.
MAX_PENDING_LOGINS = 10_000
_HTTP_TIMEOUT_S = 10.0


class LoginFailed(Exception):
    """The login could not be completed; the message is safe to show."""


def public_url(consoles: Consoles) -> str:
    return browser_url(consoles.settings)


def _secure_cookies(consoles: Consoles) -> bool | None:
    return secure_cookies(public_url(consoles))


async def _discovery(consoles: Consoles, request: Request) -> dict[str, Any]:
    if consoles.issuer is not None:
        own: dict[str, Any] = dict(consoles.issuer.openid_configuration())
        # The embedded issuer's people login (hub/auth/) lives at a fixed path.
        own.setdefault("authorization_endpoint", consoles.issuer.url("/oauth/authorize"))
        return own
    issuer = str(consoles.settings.oidc_issuer).rstrip("/")
    async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S) as http:
        response = await http.get(f"{issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    return document


def _http(consoles: Consoles, request: Request) -> httpx.AsyncClient:
    """For the embedded issuer the token endpoint is this very app: called in process."""
    if consoles.issuer is not None:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=request.app),
            base_url=consoles.settings.issuer_url,
            timeout=_HTTP_TIMEOUT_S,
        )
    return httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S)


async def login(request: Request) -> Response:
    consoles = consoles_of(request)
    locale = page_locale(request)
    return_to = safe_return_to(request.query_params.get("return_to"))
    if _secure_cookies(consoles) is None:
        return render(request, "error.html", status=400, locale=locale, message_id="insecure")
    try:
        metadata = await _discovery(consoles, request)
        endpoint = str(metadata["authorization_endpoint"])
    except (httpx.HTTPError, KeyError, ValueError):
        log.warning("the issuer's discovery document could not be read")
        return render(request, "error.html", status=503, locale=locale, message_id="issuer")
    address = request.client.host if request.client else "?"
    if consoles.quotas is not None and consoles.quotas.take(f"login:{address}") > 0:
        return render(request, "error.html", status=429, locale=locale, message_id="rate")
    if await consoles.sessions.pending_logins() >= MAX_PENDING_LOGINS:
        log.warning("too many logins in flight: /login refused")
        return render(request, "error.html", status=503, locale=locale, message_id="issuer")
    state, pending = await consoles.sessions.begin_login(return_to, locale)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(pending.code_verifier.encode()).digest())
        .rstrip(b"=")
        .decode()
    )
    params = {
        "response_type": "code",
        "client_id": consoles.settings.console_client_id,
        "redirect_uri": public_url(consoles) + CALLBACK_PATH,
        "scope": consoles.settings.console_scope,
        "state": state,
        "nonce": pending.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "ui_locales": locale,
    }
    if consoles.settings.console_resource:
        params["resource"] = consoles.settings.console_resource
    if request.query_params.get("fresh"):
        params["prompt"] = "login"
        params["max_age"] = "0"
    separator = "&" if "?" in endpoint else "?"
    response = RedirectResponse(
        endpoint + separator + urlencode(params), status_code=303, headers=SECURITY_HEADERS
    )
    # Lax, not Strict: after an external provider the callback is a cross-site navigation.
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=int(LOGIN_TTL.total_seconds()),
        path=CALLBACK_PATH,
        secure=bool(_secure_cookies(consoles)),
        httponly=True,
        samesite="lax",
    )
    return response


def _refused(request: Request, locale: str, message_id: str) -> Response:
    response = render(request, "error.html", status=400, locale=locale, message_id=message_id)
    response.delete_cookie(STATE_COOKIE, path=CALLBACK_PATH)
    return response


async def callback(request: Request) -> Response:
    consoles = consoles_of(request)
    locale = page_locale(request)
    state = request.query_params.get("state", "")
    ours = request.cookies.get(STATE_COOKIE, "")
    if not (0 < len(state) <= 200 and hmac.compare_digest(state.encode(), ours.encode())):
        # Not the login this browser started (a callback URL someone else handed it), or
        # one whose cookie is gone: start again; the state stays usable by its browser.
        return _refused(request, locale, "state")
    pending = await consoles.sessions.finish_login(state)
    if pending is None:
        # Unknown, used or expired: start again (never follow a state we did not make).
        return _refused(request, locale, "state")
    locale = pending.locale or locale
    if request.query_params.get("error"):
        return _refused(request, locale, "refused")
    code = request.query_params.get("code", "")
    if not 0 < len(code) <= 500:
        return _refused(request, locale, "state")
    try:
        tokens = await _exchange(consoles, request, code, pending.code_verifier)
        id_claims = await _verify_id_token(consoles, request, tokens, pending.nonce)
        access_token = str(tokens["access_token"])
        principal = await consoles.verifier.verify(access_token)
    except (LoginFailed, HubError, httpx.HTTPError, KeyError, ValueError, JoseError) as error:
        log.info("console login failed: %s", type(error).__name__)
        return _refused(request, locale, "failed")
    expires_at = datetime.fromtimestamp(
        principal.expires_at if principal.expires_at else time.time() + 3600, UTC
    )
    # When the password was typed, as the issuer vouches (OIDC Core auth_time). Without it
    # the login never counts as fresh: a provider that ignored prompt=login must not open
    # the identity or erasure pages.
    auth_time = id_claims.get("auth_time")
    authenticated_at = (
        datetime.fromtimestamp(auth_time, UTC)
        if isinstance(auth_time, int | float) and not isinstance(auth_time, bool)
        else datetime.fromtimestamp(0, UTC)
    )
    cookie, _session = await consoles.sessions.create(
        access_token,
        subject=principal.subject,
        authenticated_at=min(authenticated_at, datetime.now(UTC)),
        expires_at=expires_at,
    )
    await audit_console(consoles, request, principal, "login")
    # A page that moves on by itself instead of a redirect: after a provider on another
    # site, a redirect would still count as cross-site and the SameSite=Strict cookie
    # would not be sent with it.
    response = render(
        request,
        "continue.html",
        locale=locale,
        target=pending.return_to,
        headers={"Refresh": f"0; url={pending.return_to}"},
    )
    _set_session_cookie(consoles, response, cookie, expires_at)
    response.delete_cookie(STATE_COOKIE, path=CALLBACK_PATH)
    return response


def _set_session_cookie(
    consoles: Consoles, response: Response, cookie: str, expires_at: datetime
) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=max(0, int((expires_at - datetime.now(UTC)).total_seconds())),
        path="/",
        secure=bool(_secure_cookies(consoles)),
        httponly=True,
        samesite="strict",
    )


async def _exchange(
    consoles: Consoles, request: Request, code: str, verifier: str
) -> dict[str, Any]:
    metadata = await _discovery(consoles, request)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": public_url(consoles) + CALLBACK_PATH,
        "client_id": consoles.settings.console_client_id,
        "code_verifier": verifier,
    }
    if consoles.settings.console_resource:
        form["resource"] = consoles.settings.console_resource
    async with _http(consoles, request) as http:
        response = await http.post(str(metadata["token_endpoint"]), data=form)
    if response.status_code != 200:
        raise LoginFailed(f"token endpoint answered {response.status_code}")
    tokens: dict[str, Any] = response.json()
    if not isinstance(tokens.get("access_token"), str) or not isinstance(
        tokens.get("id_token"), str
    ):
        raise LoginFailed("the token response lacks a token")
    return tokens


async def _verify_id_token(
    consoles: Consoles, request: Request, tokens: dict[str, Any], nonce: str
) -> dict[str, Any]:
    """OpenID Connect Core 3.1.3.7: signature, iss, aud, exp, nonce."""
    if consoles.issuer is not None:
        jwks = consoles.issuer.keys.public_jwks()
        issuer = consoles.settings.issuer_url
    else:
        metadata = await _discovery(consoles, request)
        issuer = str(metadata["issuer"])
        async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S) as http:
            response = await http.get(str(metadata["jwks_uri"]))
            response.raise_for_status()
            jwks = response.json()
    token = jwt.decode(
        str(tokens["id_token"]), KeySet.import_key_set(jwks), algorithms=list(ALLOWED_ALGORITHMS)
    )
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    registry.validate(claims)
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if consoles.settings.console_client_id not in audiences:
        raise LoginFailed("the ID token is for another client")
    return claims


async def logout(request: Request) -> Response:
    consoles = consoles_of(request)
    cookie = request.cookies.get(COOKIE)
    session = await consoles.sessions.get(cookie)
    if session is not None:
        try:
            form = await read_form(request)
        except HubError:
            form = {}
        if not hmac.compare_digest(
            form.get("csrf_token", "").encode(), session.csrf_token.encode()
        ):
            return render(request, "refused.html", status=403, csrf=True)
        try:
            principal = await consoles.verifier.verify(session.access_token)
        except HubError:
            principal = None
        await consoles.sessions.end(cookie)
        await audit_console(consoles, request, principal, "logout")
    response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/")
    return response


async def language(request: Request) -> Response:
    """Choose the pages' language (a cookie for a year), then go back."""
    chosen = request.path_params["locale"]
    target = safe_return_to(request.query_params.get("return_to"))
    response = RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
    if chosen in LOCALES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            chosen,
            max_age=365 * 86400,
            path="/",
            httponly=True,
            samesite="lax",
            secure=bool(_secure_cookies(consoles_of(request))),
        )
    return response


def login_routes() -> list[Route]:
    return [
        Route("/login", login, methods=["GET"], name="console_login"),
        Route(CALLBACK_PATH, callback, methods=["GET"], name="console_callback"),
        Route("/logout", logout, methods=["POST"], name="console_logout"),
        Route("/language/{locale}", language, methods=["GET"], name="console_language"),
    ]


__all__ = ["CALLBACK_PATH", "login_routes", "public_url"]
