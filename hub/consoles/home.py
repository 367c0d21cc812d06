"""`/`: a logged-in person goes to their console; anyone else sees the start page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hub.auth.verify import TokenVerifier
from hub.consoles.pages import SECURITY_HEADERS, consoles_of, render
from hub.consoles.session import COOKIE
from hub.errors import HubError


async def home(request: Request) -> Response:
    consoles = consoles_of(request)
    session = await consoles.sessions.get(request.cookies.get(COOKIE))
    if session is not None:
        verifier: TokenVerifier = consoles.verifier
        try:
            principal = await verifier.verify(session.access_token)
        except HubError:
            principal = None
        if principal is not None:
            for role, path in consoles.homes.items():
                if role in principal.roles:
                    return RedirectResponse(path, status_code=303, headers=SECURITY_HEADERS)
            return render(request, "home.html", session=session, no_console=True)
    return render(request, "home.html", session=None, no_console=False)


def home_routes() -> list[Route]:
    return [Route("/", home, methods=["GET"], name="console_home")]
