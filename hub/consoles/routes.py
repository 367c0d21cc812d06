"""Every route of the consoles for people, and the hub's static files.

Each area of the consoles is a module exporting `routes` (console_route pages): the
privacy officers' console, the worker's own pages, the NGO's page. `homes` says where `/`
sends a person by role.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.consoles import account, care, officer, registration, worker
from hub.consoles.home import home_routes
from hub.consoles.login import login_routes

STATIC = Path(__file__).resolve().parent.parent / "static"

# Where `/` sends a logged-in person, by role (the first role the person holds, in order).
HOMES: dict[str, str] = {
    "privacy_officer": "/console",
    "worker_representative": "/console",
    "sex_worker": "/me",
    "ngo_worker": "/care",
}


class _StaticHeaders:
    """The static files with a cache lifetime and nosniff."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"cache-control", b"public, max-age=3600"))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def static_mount() -> Mount:
    return Mount("/static", _StaticHeaders(StaticFiles(directory=STATIC)), name="static")


def console_routes() -> list[BaseRoute]:
    areas: list[BaseRoute] = [
        *account.routes,
        *officer.routes,
        *registration.routes,
        *worker.routes,
        *care.routes,
    ]
    return [*home_routes(), *login_routes(), *areas, static_mount()]
