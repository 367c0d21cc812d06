"""`/care`: the NGO's page. The workers who gave this NGO their consent for care (working
name, languages, and their coming shifts as the policy allows), and the NGO's own care
contacts. Everything comes from the schema as the NGO worker (purpose `care`), so a
revoked consent takes the worker off this page at the very next request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from hub.consoles.pages import Page, console_route
from hub.consoles.worker import language_names, say_for
from hub.i18n import N_

ROLES = frozenset({"ngo_worker"})
PURPOSE = "care"

CARE = """query Care($from: DateTime) {
  myConsents { id purpose grantedAt sexWorker { id workingName languages } }
  shifts(first: 100, from: $from) { edges { node { id startsAt endsAt window status
    premises { address } sexWorkerId } } }
  careContacts(first: 20) { edges { node { clientRef contactDate kind location } } }
}"""

KIND_NAMES: dict[str, str] = {
    "MEDICAL": N_("medical"),
    "PSYCHOSOCIAL": N_("psychosocial"),
    "OUTREACH": N_("outreach"),
    "ONLINE": N_("online"),
    "REFERRAL": N_("referral"),
}
LOCATION_NAMES: dict[str, str] = {
    "FIXED": N_("at the office"),
    "MOBILE": N_("mobile unit"),
    "OUTREACH": N_("on outreach"),
    "ONLINE": N_("online"),
}


async def care(page: Page) -> Response:
    since = (datetime.now(UTC) - timedelta(hours=12)).isoformat()
    data = await page.graphql(CARE, {"from": since}, purpose=PURPOSE)
    shifts: dict[str, list[dict[str, Any]]] = {}
    for edge in data["shifts"]["edges"]:
        node = edge["node"]
        # The worker's id sealed for this NGO: the same id as in the NGO's consents.
        worker = node.get("sexWorkerId")
        if worker:
            shifts.setdefault(worker, []).append(node)
    workers: dict[str, dict[str, Any]] = {}
    for consent in data["myConsents"]:
        worker = consent.get("sexWorker")
        if consent["purpose"] != PURPOSE or not worker or worker["id"] in workers:
            continue
        workers[worker["id"]] = {
            **worker,
            "languages": language_names(page.locale, worker.get("languages") or []),
            "since": consent["grantedAt"],
            "shifts": shifts.get(worker["id"], []),
        }
    return page.render(
        "care/care.html",
        workers=sorted(workers.values(), key=lambda w: (w.get("workingName") or "").lower()),
        contacts=[e["node"] for e in data["careContacts"]["edges"]],
        say=say_for(page.locale, {"care_kinds": KIND_NAMES, "care_locations": LOCATION_NAMES}),
    )


routes: list[Route] = [console_route("/care", care, roles=ROLES, name="care", purpose=PURPOSE)]
