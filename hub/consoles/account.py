"""`/account`: who the hub takes the logged-in person to be, as their token says."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from hub.consoles.pages import Page, console_route
from hub.consoles.words import PURPOSE_NAMES, ROLE_NAMES
from hub.policy.vocabulary import ROLES

ME = "{ me { subject organisationKind city roles purposes } }"


async def account(page: Page) -> Response:
    data = await page.graphql(ME, purpose="")
    me = data["me"]
    return page.render(
        "account.html",
        me=me,
        role_names=ROLE_NAMES,
        purpose_names=PURPOSE_NAMES,
        fresh=page.fresh,
    )


routes: list[Route] = [console_route("/account", account, roles=ROLES, name="account")]
