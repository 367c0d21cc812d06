"""What every console page shares: who is logged in, in which language, its CSRF token, its
data through the schema, rendering, security headers, and the access log of console
actions.

A page handler is `async def handler(page: Page) -> Response`, registered with
`console_route(path, handler, roles=..., name=...)`. Before the handler runs the wrapper
has found the session (none: to the login), verified its token again (a disabled person or
a revoked token ends the session), checked that the person holds one of the page's roles
(else a 403 page) and, for a POST, the form's CSRF token (else a 403). Each request that
reaches a console page, allowed or refused, is appended to the access log as a console
action (resource "Console", action = the route's name) before its response leaves.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from strawberry import Schema

from hub.audit.log import AuditRecord
from hub.auth.verify import TokenVerifier
from hub.config import Settings
from hub.consoles.graphql import ConsoleGraphQLError, execute
from hub.consoles.session import COOKIE, LANGUAGE_COOKIE, Session, Sessions
from hub.errors import HubError, bad_input
from hub.i18n import LOCALES, N_, environment, gettext, negotiate
from hub.models.base import utcnow
from hub.policy.principal import Principal
from hub.schema.quotas import ClientQuotas, client_key, retry_after
from hub.state import HubState

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
# No script or style but the hub's own files; nothing may frame the pages.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Pages hold personal data: never kept by the browser or a proxy.
    "Cache-Control": "no-store",
}
MAX_FORM_FIELDS = 200
MAX_FIELD_CHARS = 200_000  # a policy document in the propose form


@dataclass
class Consoles:
    """What the pages need from the app, kept in app.state.consoles."""

    settings: Settings
    hub: HubState
    schema: Schema
    verifier: TokenVerifier
    sessions: Sessions
    issuer: Any = None  # the embedded issuer (hub/auth/issuer.py), or None with an external one
    # The API's per-client rates, applied per person (all people share the console client).
    quotas: ClientQuotas | None = None
    # Console paths by role, for "/" and the navigation: filled by hub/consoles/routes.py.
    homes: dict[str, str] = field(default_factory=dict)


def consoles_of(request: Request) -> Consoles:
    consoles: Consoles = request.app.state.consoles
    return consoles


def page_locale(request: Request) -> str:
    return negotiate(request.headers.get("accept-language"), request.cookies.get(LANGUAGE_COOKIE))


def render(
    request: Request,
    template: str,
    *,
    locale: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page from hub/consoles/templates (then hub/templates) in the request's language."""
    locale = locale or page_locale(request)
    context.setdefault("page", None)
    context.setdefault("path", request.url.path)
    context.setdefault("nav", [])
    body = environment(locale, TEMPLATES).get_template(template).render(**context)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def safe_return_to(value: str | None, default: str = "/") -> str:
    """A same-site path to return to after login or a language change; anything else
    (another host, `//host`, a scheme, control characters) becomes the default."""
    if not value or len(value) > 400 or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return default
    return value


class Page:
    """One request to a console page, as its handler sees it."""

    def __init__(
        self,
        request: Request,
        consoles: Consoles,
        session: Session,
        principal: Principal,
        locale: str,
        route_name: str,
    ) -> None:
        self.request = request
        self.consoles = consoles
        self.session = session
        self.principal = principal
        self.locale = locale
        self.route_name = route_name
        self._form: dict[str, str] | None = None

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    @property
    def fresh(self) -> bool:
        """Whether the person typed their password within HUB_CONSOLE_FRESH_LOGIN_S."""
        window = timedelta(seconds=self.consoles.settings.console_fresh_login_s)
        return utcnow() - self.session.authenticated_at <= window

    def _(self, msgid: str, **values: Any) -> str:
        return gettext(self.locale, msgid, **values)

    async def graphql_result(
        self,
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        purpose: str,
        anonymous: bool = False,
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        c = self.consoles
        return await execute(
            c.schema,
            c.hub,
            self.principal,
            document,
            variables,
            purpose=purpose,
            anonymous=anonymous,
        )

    async def graphql(
        self, document: str, variables: dict[str, Any] | None = None, *, purpose: str
    ) -> dict[str, Any]:
        data, errors = await self.graphql_result(document, variables, purpose=purpose)
        if errors or data is None:
            raise ConsoleGraphQLError(errors or [{"message": "no data"}])
        return data

    async def form(self) -> dict[str, str]:
        """The POSTed form (its CSRF token was checked before the handler ran)."""
        if self._form is None:
            self._form = await read_form(self.request)
        return self._form

    def render(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("nav", navigation(self.consoles, self.principal))
        return render(
            self.request, template, locale=self.locale, status=status, page=self, **context
        )

    def redirect(self, path: str) -> RedirectResponse:
        return RedirectResponse(safe_return_to(path), status_code=303, headers=SECURITY_HEADERS)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded or multipart form as plain strings, bounded (files are refused)."""
    form: FormData = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise bad_input("files are not accepted here")
        if len(value) > MAX_FIELD_CHARS:
            raise bad_input(f"the field {key[:40]} is too long")
        out.setdefault(key, value)  # the first value of a repeated key
    return out


def navigation(consoles: Consoles, principal: Principal) -> list[tuple[str, str]]:
    """(path, label msgid) of the consoles this person may open."""
    labels = {"/console": N_("Privacy console"), "/me": N_("My data"), "/care": N_("Care")}
    paths = sorted({p for role, p in consoles.homes.items() if role in principal.roles})
    return [(p, labels.get(p, p)) for p in paths]


async def audit_console(
    consoles: Consoles,
    request: Request,
    principal: Principal | None,
    action: str,
    *,
    purpose: str = "",
    outcome: str = "allowed",
    reason: str | None = None,
    anonymous: bool = False,
) -> None:
    """Append one console action to the access log; durable before the response leaves.
    `anonymous`: without the person's subject (an anonymous report's filing and follow-up,
    which the log must not tie to the worker; like the API's anonymous filing)."""
    record = AuditRecord(
        at=utcnow(),
        action=f"console:{action}"[:80],
        resource="Console",
        organisation_id=principal.org_id if principal else None,
        roles=",".join(sorted(principal.roles)) if principal else "",
        subject=principal.subject if principal and not anonymous else "",
        purpose=purpose,
        operation=f"{request.method} {request.url.path}"[:200],
        policy_version=consoles.hub.policies.version,
        outcome=outcome,
        reason=reason,
    )
    await consoles.hub.audit.append([record])


Handler = Callable[[Page], Awaitable[Response]]


def console_route(
    path: str,
    handler: Handler,
    *,
    methods: Iterable[str] = ("GET",),
    roles: frozenset[str],
    name: str,
    purpose: str = "",
    anonymous: bool = False,
) -> Route:
    """A console page for people holding one of `roles` (see the module's docstring).
    `anonymous`: its allowed requests are logged without the person's subject."""
    if not roles:
        raise ValueError(f"console page {name} names no role: it would be open to nobody")

    async def endpoint(request: Request) -> Response:
        consoles = consoles_of(request)
        locale = page_locale(request)
        session = await consoles.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method != "GET":
                target = request.url.path
            return RedirectResponse(
                f"/login?return_to={quote(safe_return_to(target), safe='/')}",
                status_code=303,
                headers=SECURITY_HEADERS,
            )
        try:
            principal = await consoles.verifier.verify(session.access_token)
        except HubError:
            # The person was disabled, the token revoked or expired: the session is over.
            await consoles.sessions.end(request.cookies.get(COOKIE))
            response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
            response.delete_cookie(COOKIE, path="/")
            return response
        if not roles & principal.roles:
            # No purpose: the page's own (e.g. policy_administration) is not one this
            # person could state, and the log must not read as if they had stated it.
            await audit_console(
                consoles,
                request,
                principal,
                name,
                purpose="",
                outcome="denied",
                reason="the person holds none of the page's roles",
            )
            return render(
                request,
                "refused.html",
                locale=locale,
                status=403,
                session=session,
                nav=navigation(consoles, principal),
            )
        wait = consoles.quotas.take(client_key(principal)) if consoles.quotas else 0.0
        if wait > 0:
            return render(
                request,
                "error.html",
                locale=locale,
                status=429,
                message_id="rate",
                headers={"Retry-After": retry_after(wait)},
            )
        page = Page(request, consoles, session, principal, locale, name)
        # Every method but GET carries the form's CSRF token (HEAD too: Starlette answers
        # HEAD on a GET route, and a handler must never take one for a submission).
        if request.method != "GET":
            try:
                form = await page.form()
            except HubError as error:
                return render(
                    request, "error.html", locale=locale, status=400, message=error.message
                )
            sent = form.get("csrf_token", "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                await audit_console(
                    consoles,
                    request,
                    principal,
                    name,
                    purpose=purpose,
                    outcome="denied",
                    reason="missing or wrong CSRF token",
                    anonymous=anonymous,
                )
                return render(
                    request,
                    "refused.html",
                    locale=locale,
                    status=403,
                    csrf=True,
                    nav=navigation(consoles, principal),
                )
        await audit_console(
            consoles, request, principal, name, purpose=purpose, anonymous=anonymous
        )
        try:
            return await handler(page)
        except ConsoleGraphQLError as error:
            log.info("console page %s: the schema refused: %s", name, sorted(error.codes))
            return page.render("error.html", status=_status(error), errors=error.errors)

    return Route(path, endpoint, methods=list(methods), name=name)


def _status(error: ConsoleGraphQLError) -> int:
    codes = error.codes
    if codes & {"FORBIDDEN", "PURPOSE_REQUIRED"}:
        return 403
    if "NOT_FOUND" in codes:
        return 404
    if "BAD_USER_INPUT" in codes or "CONFLICT" in codes:
        return 400
    if "RATE_LIMITED" in codes:
        return 429
    return 500


__all__ = [
    "CSP",
    "LOCALES",
    "ConsoleGraphQLError",
    "Consoles",
    "Page",
    "console_route",
    "render",
    "safe_return_to",
]
