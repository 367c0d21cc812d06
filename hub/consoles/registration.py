"""`/me/register` and `/me/pairing`: a worker's own registration, cities and pairings.

- `/me/register`: a person with the sex_worker role and no worker record yet registers
  under a working name (no identity) in a city whose regime is voluntary without police
  validation (Ghent); then logs in again to act as the new worker. Where the police
  register workers (Antwerp) the page says so instead of offering the city.
- `/me/pairing`: the worker's cities (and joining another voluntary one), the pairings with
  operators or employers, a new pairing code (shown once, on the page that made it) and
  revoking a pairing.

Every page asks the schema as the person (purpose `self_service`), like the other /me pages.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from hub.consoles.pages import Page, console_route
from hub.consoles.worker import PURPOSE, ROLES, WORDS, say_for
from hub.i18n import N_
from hub.services.participation import open_to_self_service

PAIRING_STATUS: dict[str, str] = {
    "pending": N_("code made, not used yet"),
    "active": N_("linked"),
    "revoked": N_("ended"),
}
HOW: dict[str, str] = {
    "self": N_("registered by you"),
    "police": N_("registered by the police"),
}
PAGE_WORDS = {**WORDS, "pairing": PAIRING_STATUS, "how": HOW}
MAX_NAME = 80

ME = "{ me { sexWorkerId } }"
REGISTER = """mutation Register($input: SelfRegistrationInput!) {
  registerMyself(input: $input) { workingName city } }"""
PAIRING = """{
  participations { id city how status startedAt }
  pairings { id status createdAt expiresAt redeemedAt revokedAt organisation { name } }
}"""
CODE = "mutation { createPairingCode { code pairing { expiresAt } } }"
REVOKE = "mutation Revoke($id: ID!) { revokePairing(id: $id) { id } }"
JOIN = "mutation Join($city: String!) { joinCity(city: $city) { id } }"


def _render(page: Page, template: str, *, status: int = 200, **context: Any) -> Response:
    return page.render(
        template,
        status=status,
        words=PAGE_WORDS,
        say=say_for(page.locale, PAGE_WORDS),
        **context,
    )


def _cities(page: Page) -> tuple[list[str], list[str]]:
    """(cities a worker joins by themself, the names in the page's language of the cities
    where the police register workers)."""
    regimes = page.consoles.hub.policies.regimes.by_city
    own = sorted(c for c, r in regimes.items() if open_to_self_service(r))
    say = say_for(page.locale, PAGE_WORDS)
    police = [say("cities", c) for c in sorted(regimes) if not open_to_self_service(regimes[c])]
    return own, police


async def _registered(page: Page) -> bool:
    data = await page.graphql(ME, purpose=PURPOSE)
    return bool(data["me"]["sexWorkerId"])


# --- /me/register --------------------------------------------------------------------------


async def register_form(page: Page) -> Response:
    if await _registered(page):
        return page.redirect("/me")
    own, police = _cities(page)
    return _render(page, "me/register.html", own=own, police=police, form={}, problems=[])


async def register(page: Page) -> Response:
    if await _registered(page):
        return page.redirect("/me")
    form = await page.form()
    own, police = _cities(page)
    name = form.get("working_name", "").strip()
    city = form.get("city", "")
    languages = [x.strip().lower() for x in form.get("languages", "").split(",") if x.strip()]
    problems = []
    if not 0 < len(name) <= MAX_NAME:
        problems.append(page._("Give the name you work under (at most 80 characters)."))
    if city not in own:
        problems.append(page._("Choose a city where you can register yourself."))
    if form.get("adult") != "yes":
        problems.append(page._("Tick the box to confirm that you are 18 or older."))
    if problems:
        return _render(
            page, "me/register.html", status=400, own=own, police=police, form=form,
            problems=problems,
        )  # fmt: skip
    variables = {
        "input": {
            "workingName": name,
            "city": city,
            "confirmsAdult": True,
            "languages": languages[:10],
        }
    }
    data, errors = await page.graphql_result(REGISTER, variables, purpose=PURPOSE)
    if errors or data is None:
        message = page._("The hub refused the registration. Check the name and languages.")
        return _render(
            page, "me/register.html", status=400, own=own, police=police, form=form,
            problems=[message],
        )  # fmt: skip
    done = data["registerMyself"]
    return _render(page, "me/registered.html", worker=done)


# --- /me/pairing ---------------------------------------------------------------------------


async def pairing(page: Page, *, code: dict[str, Any] | None = None, status: int = 200) -> Response:
    data = await page.graphql(PAIRING, purpose=PURPOSE)
    own, _police = _cities(page)
    mine = {p["city"] for p in data["participations"] if p["status"] == "active"}
    done = page.request.query_params.get("done")
    return _render(
        page,
        "me/pairing.html",
        status=status,
        participations=data["participations"],
        joinable=[c for c in own if c not in mine],
        pairings=data["pairings"],
        code=code,
        done=done if done in ("revoked", "joined") else None,
    )


async def pairing_page(page: Page) -> Response:
    return await pairing(page)


async def make_code(page: Page) -> Response:
    data = await page.graphql(CODE, purpose=PURPOSE)
    # Shown on this answer only: the hub keeps the code's hash, never the code.
    return await pairing(page, code=data["createPairingCode"])


async def revoke(page: Page) -> Response:
    form = await page.form()
    pairing_id = form.get("pairing", "")
    if not 0 < len(pairing_id) <= 100:
        return _render(page, "error.html", status=400, message=page._("Choose a link."))
    await page.graphql(REVOKE, {"id": pairing_id}, purpose=PURPOSE)
    return page.redirect("/me/pairing?done=revoked")


async def join(page: Page) -> Response:
    form = await page.form()
    city = form.get("city", "")
    if city not in _cities(page)[0]:
        return _render(page, "error.html", status=400, message=page._("Choose a city."))
    await page.graphql(JOIN, {"city": city}, purpose=PURPOSE)
    return page.redirect("/me/pairing?done=joined")


def _post(path: str, handler: Any, name: str) -> Route:
    return console_route(path, handler, methods=("POST",), roles=ROLES, name=name, purpose=PURPOSE)


routes: list[Route] = [
    console_route("/me/register", register_form, roles=ROLES, name="me_register", purpose=PURPOSE),
    _post("/me/register", register, "me_register_submit"),
    console_route("/me/pairing", pairing_page, roles=ROLES, name="me_pairing", purpose=PURPOSE),
    _post("/me/pairing/code", make_code, "me_pairing_code"),
    _post("/me/pairing/revoke", revoke, "me_pairing_revoke"),
    _post("/me/pairing/join", join, "me_pairing_join"),
]
