"""`/me`: the sex worker's own pages, mobile first, in plain words.

Every page asks the hub's schema as the worker (purpose `self_service`), so the worker's
policy decides what it shows and the access log records it as for any partner:

- `/me`: the worker's record, rentals and shifts; `/me/identity` the legal identity, only
  after a fresh login (the password typed within HUB_CONSOLE_FRESH_LOGIN_S); on `/me` too
  the worker's own gender, optional, declared or cleared with a form (`/me/gender`,
  setMyGender), which nobody else sees;
- `/me/access`: who read the worker's data and why, one sentence per access, grouped per
  organisation and purpose, with the legal basis of the rule that allowed it (and the case,
  for a read under an investigation); a read under an investigation still open that names
  the worker only as "restricted until the investigation closes", with its time;
- `/me/consents`: the parties the worker may consent to, each explained from the policy,
  with grant and revoke;
- `/me/reports`: file a report (named, or anonymous with a follow-up code shown once),
  the worker's named reports with replies, replies by follow-up code;
- `/me/warnings`: live warnings for the worker's city, and `/me/warnings/stream`
  (Server-Sent Events from the schema's `alerts` subscription, bounded in time);
- `/me/erasure`: erasure of the worker's identity, explained, confirmed, after a fresh
  login.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from babel import Locale
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hub.consoles.graphql import ConsoleGraphQLError
from hub.consoles.pages import SECURITY_HEADERS, Page, console_route
from hub.consoles.words import PURPOSE_NAMES, ROLE_NAMES
from hub.i18n import N_, ZONE, environment, gettext, warning_locale, warning_text
from hub.schema.context import Context
from hub.services.actor import Actor

ROLES = frozenset({"sex_worker"})
PURPOSE = "self_service"
# A live stream of warnings ends after this long (the browser reconnects), and at the
# latest when the person's token expires; at most this many at once per person.
STREAM_S = 600
KEEPALIVE_S = 25
MAX_STREAMS = 3
MAX_STREAM_EVENTS = 200

# Fields of the access log, in words (what the hub's resources call them).
FIELD_NAMES: dict[str, str] = {
    "identity": N_("legal identity (legal name, birth date, nationality, document)"),
    "working_name": N_("working name"),
    "languages": N_("languages"),
    "adult_verified": N_("adult check"),
    "city": N_("city"),
    "created_at": N_("date of registration"),
    "sex_worker": N_("that it is yours"),
    "sex_worker_id": N_("that it is yours"),
    "premises": N_("premises"),
    "window": N_("window"),
    "starts_at": N_("start"),
    "ends_at": N_("end"),
    "status": N_("status"),
    "validated_at": N_("validation"),
    "adult_verified_on_site": N_("adult check on site"),
    "rental_agreement_id": N_("rental"),
    "confirmed": N_("confirmation"),
    "confirmed_at": N_("confirmation"),
    "rent_cents": N_("rent"),
    "rent_period": N_("rent"),
    "deposit_cents": N_("deposit"),
    "currency": N_("rent"),
    "employer": N_("employer"),
    "contract_kind": N_("kind of contract"),
    "starts_on": N_("start"),
    "ends_on": N_("end"),
    "ended_at": N_("end"),
    "category": N_("category"),
    "text": N_("text"),
    "anonymous": N_("anonymity"),
    "author": N_("author"),
    "shared_with": N_("shared with"),
    "replies": N_("replies"),
    "filed_at": N_("date filed"),
    "purpose": N_("purpose"),
    "scope": N_("scope"),
    "grantee": N_("organisation"),
    "granted_at": N_("date granted"),
    "revoked_at": N_("date revoked"),
    "gender": N_("gender"),
}
RESOURCE_NAMES: dict[str, str] = {
    "SexWorker": N_("your record"),
    "ShiftRegistration": N_("your shifts"),
    "RentalAgreement": N_("your rentals"),
    "EmploymentRelation": N_("your employment"),
    "Report": N_("your reports"),
    "Consent": N_("your consents"),
    "AccessLog": N_("your access log"),
}
ACTION_NAMES: dict[str, str] = {
    "register": N_("registered"),
    "validate": N_("validated"),
    "cancel": N_("cancelled"),
    "record": N_("recorded"),
    "confirm": N_("confirmed"),
    "file": N_("filed"),
    "reply": N_("replied"),
    "grant": N_("granted"),
    "revoke": N_("revoked"),
    "erasure": N_("erased"),
    "erase": N_("erased"),
}
CATEGORY_NAMES: dict[str, str] = {
    "VIOLENCE": N_("Violence"),
    "NON_PAYMENT_THEFT": N_("Not paid or robbed"),
    "STALKING": N_("Stalking"),
    "OUTING_THREAT": N_("Threat to out me"),
    "EXPLOITATION_SUSPICION": N_("Suspected exploitation"),
    "DISCRIMINATION": N_("Discrimination"),
    "NUISANCE": N_("Nuisance"),
    "BOUNDARY_VIOLATION": N_("A client crossed my limits"),
    "IMAGE_SHARING": N_("Photos or videos of me shared without my consent"),
    "RAID": N_("Raid"),
    "BANK_REFUSAL": N_("Refused by a bank"),
    "OTHER": N_("Something else"),
}
STATUS_NAMES: dict[str, str] = {
    "FILED": N_("sent, no answer yet"),
    "ANSWERED": N_("answered"),
    "CLOSED": N_("closed"),
    "REGISTERED": N_("registered"),
    "VALIDATED": N_("checked by the police"),
    "REFUSED": N_("refused"),
    "CANCELLED": N_("cancelled"),
}
SEVERITY_NAMES: dict[str, str] = {
    "INFO": N_("Information"),
    "WARNING": N_("Warning"),
    "DANGER": N_("Danger"),
}
# Employment (labour law of 2024) and rent terms, in the worker's words.
CONTRACT_NAMES: dict[str, str] = {
    "OPEN_ENDED": N_("open-ended contract"),
    "FIXED_TERM": N_("fixed-term contract"),
    "SPECIFIC_WORK": N_("contract for a specific job"),
    "REPLACEMENT": N_("replacement contract"),
}
RENT_PERIOD_NAMES: dict[str, str] = {
    "DAY": N_("per day"),
    "WEEK": N_("per week"),
    "MONTH": N_("per month"),
}
# A worker's own gender as the worker declares it (the schema's Gender values); "" is not
# stated.
GENDER_NAMES: dict[str, str] = {
    "WOMAN": N_("Woman"),
    "MAN": N_("Man"),
    "TRANS_WOMAN": N_("Trans woman"),
    "TRANS_MAN": N_("Trans man"),
    "NON_BINARY": N_("Non-binary"),
}
# Cities by their names in the page's language (Antwerpen is Anvers in French).
CITY_NAMES: dict[str, str] = {
    "Antwerpen": N_("Antwerp"),
    "Gent": N_("Ghent"),
}
WORDS = {
    "cities": CITY_NAMES,
    "fields": FIELD_NAMES,
    "resources": RESOURCE_NAMES,
    "actions": ACTION_NAMES,
    "categories": CATEGORY_NAMES,
    "statuses": STATUS_NAMES,
    "severities": SEVERITY_NAMES,
    "contracts": CONTRACT_NAMES,
    "periods": RENT_PERIOD_NAMES,
    "genders": GENDER_NAMES,
    "roles": ROLE_NAMES,
    "purposes": PURPOSE_NAMES,
}


def say_for(locale: str, tables: dict[str, dict[str, str]]) -> Callable[[str, Any], str]:
    """`say(table, key)` for templates: the key's words in the locale, or the key itself
    as plain text (escaped like any value; never passed through gettext as markup)."""

    def say(table: str, key: Any) -> str:
        words = tables.get(table, {})
        if isinstance(key, str) and key in words:
            return gettext(locale, words[key])
        return "" if key is None else str(key)

    return say


def _render(page: Page, template: str, *, status: int = 200, **context: Any) -> Response:
    return page.render(
        template, status=status, words=WORDS, say=say_for(page.locale, WORDS), **context
    )


async def _me(page: Page) -> str:
    data = await page.graphql("{ me { sexWorkerId } }", purpose=PURPOSE)
    worker = data["me"]["sexWorkerId"]
    if not worker:
        # A sex_worker login without a worker record: nothing here is theirs.
        raise ConsoleGraphQLError(
            [{"message": "no worker record", "extensions": {"code": "FORBIDDEN"}}]
        )
    return str(worker)


# --- /me ---------------------------------------------------------------------------------


def country_name(locale: str, code: str | None) -> str | None:
    """An ISO 3166 country code as the country's name in the page's language (Babel's CLDR
    data); an unknown code as itself."""
    if not code:
        return code
    return str(Locale.parse(locale).territories.get(code.upper(), code))


def language_names(locale: str, codes: list[str]) -> list[str]:
    """ISO 639-1 codes as the languages' names in the page's language (Babel's CLDR data);
    an unknown code as itself."""
    names = Locale.parse(locale).languages
    return [names.get(c, c) if isinstance(c, str) else str(c) for c in codes]


RECORD = """query Record($id: ID!, $from: DateTime) {
  sexWorker(id: $id) { workingName languages city adultVerified createdAt gender }
  rentalAgreements(first: 50) { edges { node { window startsAt endsAt confirmed
    rentCents rentPeriod depositCents premises { address city } } } }
  employmentRelations(first: 20) { edges { node { contractKind startsOn endsOn
    employer { name recognitionStatus } } } }
  shifts(first: 50, from: $from) { edges { node { window startsAt endsAt status
    premises { address city } } } }
}"""


async def record(page: Page) -> Response:
    data = await page.graphql("{ me { sexWorkerId } }", purpose=PURPOSE)
    if not data["me"]["sexWorkerId"]:
        # A worker with no record yet registers themself first (hub/consoles/registration.py).
        return page.redirect("/me/register")
    me = str(data["me"]["sexWorkerId"])
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    data = await page.graphql(RECORD, {"id": me, "from": since}, purpose=PURPOSE)
    worker = data["sexWorker"]
    if worker and worker.get("languages"):
        worker["languages"] = language_names(page.locale, worker["languages"])
    done = page.request.query_params.get("done")
    return _render(
        page,
        "me/record.html",
        worker=worker,
        genders=GENDER_NAMES,
        done=done if done == "gender" else None,
        rentals=[e["node"] for e in data["rentalAgreements"]["edges"]],
        shifts=[e["node"] for e in data["shifts"]["edges"]],
        employments=[e["node"] for e in data["employmentRelations"]["edges"]],
    )


SET_GENDER = "mutation SetGender($g: Gender) { setMyGender(gender: $g) { gender } }"


async def set_gender(page: Page) -> Response:
    """The worker's own gender, declared or cleared ("" = not stated); the value goes to
    the schema only, never into a log or the address."""
    form = await page.form()
    chosen = form.get("gender", "")
    if chosen and chosen not in GENDER_NAMES:
        return _render(page, "error.html", status=400, message=page._("Choose an answer."))
    await page.graphql(SET_GENDER, {"g": chosen or None}, purpose=PURPOSE)
    return page.redirect("/me?done=gender")


IDENTITY = """query Identity($id: ID!) {
  sexWorker(id: $id) { workingName identity { legalName birthDate nationality documentNumber } }
}"""


def _fresh_login(path: str) -> str:
    return f"/login?return_to={quote(path, safe='/')}&fresh=1"


async def identity(page: Page) -> Response:
    # The identity is read (and so logged) only right after the password was typed.
    if not page.fresh:
        return page.redirect(_fresh_login("/me/identity"))
    me = await _me(page)
    data = await page.graphql(IDENTITY, {"id": me}, purpose=PURPOSE)
    worker = data["sexWorker"]
    if worker and worker.get("identity"):
        identity = worker["identity"]
        identity["nationality"] = country_name(page.locale, identity.get("nationality"))
    return _render(page, "me/identity.html", worker=worker)


# --- /me/access --------------------------------------------------------------------------

ACCESS = """query Access($after: String) {
  myAccessLog(first: 100, after: $after) {
    edges { node { at roles purpose action resource fields outcome legalBasis case restricted
      organisation { name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@dataclass
class Group:
    organisation: str
    purpose: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    # Entries alike but for their time, per day (Brussels): one line with a count.
    same: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)

    def add(self, entry: dict[str, Any]) -> None:
        at = entry.get("at")
        day = _day(at) if isinstance(at, str) else None
        key = (
            day,
            entry.get("outcome"),
            entry["verb"],
            entry.get("resource"),
            entry["field_words"],
            entry["role_words"],
            entry.get("case"),
            tuple(entry.get("legalBasis") or ()),
        )
        found = self.same.get(key) if day is not None else None
        if found is not None:
            found["count"] += 1
            return
        entry["count"] = 1
        self.same[key] = entry
        self.entries.append(entry)


def _day(at: str) -> str | None:
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZONE).date().isoformat()


def _field_words(locale: str, fields: list[str] | None) -> str:
    names: list[str] = []
    for f in fields or []:
        name = f.split("(", 1)[0]
        if name == "id":
            continue
        word = gettext(locale, FIELD_NAMES[name]) if name in FIELD_NAMES else name.replace("_", " ")
        if word not in names:
            names.append(word)
    return ", ".join(names)


async def access(page: Page) -> Response:
    after = page.request.query_params.get("after") or None
    if after is not None and len(after) > 200:
        after = None
    data = await page.graphql(ACCESS, {"after": after}, purpose=PURPOSE)
    log = data["myAccessLog"]
    groups: dict[tuple[str, str], Group] = {}
    own = 0
    # Reads under an investigation that names the worker and is still open: only when.
    restricted: list[str] = []
    for edge in log["edges"]:
        e = edge["node"]
        if e.get("restricted"):
            restricted.append(e.get("at") or "")
            continue
        if e.get("roles") == ["sex_worker"] and e.get("purpose") == PURPOSE:
            # The worker's own use of these pages and of the API: the policy lets a worker
            # reach no one's data but their own, so these are the worker's, not listed.
            own += 1
            continue
        org = (e.get("organisation") or {}).get("name") or page._("an organisation")
        purpose = e.get("purpose") or ""
        group = groups.setdefault((org, purpose), Group(org, purpose))
        e["field_words"] = _field_words(page.locale, e.get("fields"))
        e["verb"] = (e.get("action") or "").removeprefix("write:")
        e["role_words"] = ", ".join(
            gettext(page.locale, ROLE_NAMES[r]) if r in ROLE_NAMES else r
            for r in e.get("roles") or []
        )
        group.add(e)
    return _render(
        page,
        "me/access.html",
        groups=list(groups.values()),
        restricted=restricted,
        own=own,
        next_cursor=log["pageInfo"]["endCursor"] if log["pageInfo"]["hasNextPage"] else None,
        first_page=after is None,
    )


# --- /me/consents ------------------------------------------------------------------------

CONSENTS = """{
  consentOffers { purpose grantee { id name kind } items { resource actions fields legalBasis } }
  myConsents { id purpose scope grantedAt revokedAt grantee { id name } }
}"""
GRANT = """mutation Grant($g: ID!, $p: String!) {
  grantConsent(input: {granteeId: $g, purpose: $p}) { id } }"""
REVOKE = "mutation Revoke($id: ID!) { revokeConsent(id: $id) { id } }"


async def consents(page: Page) -> Response:
    data = await page.graphql(CONSENTS, purpose=PURPOSE)
    live = [c for c in data["myConsents"] if c["revokedAt"] is None]
    offers = []
    for offer in data["consentOffers"]:
        given = [
            c
            for c in live
            if (c.get("grantee") or {}).get("id") == offer["grantee"]["id"]
            and c["purpose"] == offer["purpose"]
        ]
        for item in offer["items"]:
            item["field_words"] = _field_words(page.locale, item["fields"])
        offers.append({**offer, "consent": given[0] if given else None})
    offered = {(o["grantee"]["id"], o["purpose"]) for o in offers}
    other = [c for c in live if ((c.get("grantee") or {}).get("id"), c["purpose"]) not in offered]
    done = page.request.query_params.get("done")
    return _render(
        page,
        "me/consents.html",
        offers=offers,
        other=other,
        past=[c for c in data["myConsents"] if c["revokedAt"] is not None],
        done=done if done in ("granted", "revoked") else None,
    )


async def grant(page: Page) -> Response:
    form = await page.form()
    grantee, purpose = form.get("grantee", ""), form.get("purpose", "")
    if not (0 < len(grantee) <= 100 and 0 < len(purpose) <= 40):
        return _render(page, "error.html", status=400, message=page._("Choose a party."))
    await page.graphql(GRANT, {"g": grantee, "p": purpose}, purpose=PURPOSE)
    return page.redirect("/me/consents?done=granted")


async def revoke(page: Page) -> Response:
    form = await page.form()
    consent = form.get("consent", "")
    if not 0 < len(consent) <= 100:
        return _render(page, "error.html", status=400, message=page._("Choose a consent."))
    await page.graphql(REVOKE, {"id": consent}, purpose=PURPOSE)
    return page.redirect("/me/consents?done=revoked")


# --- /me/reports -------------------------------------------------------------------------
#
# The named reports live on /me/reports (read and logged in the worker's name). Filing an
# anonymous report and reading answers by follow-up code have their own pages, whose GET
# and POST are logged without the worker's subject and which ask the schema nothing in the
# worker's name (`page.graphql_result(..., anonymous=True)`): a named read logged just
# before an anonymous filing would tie the two together.

REPORTS = """{
  organisations { id name kind city }
  reports(first: 50) { edges { node { id category text anonymous status filedAt
    sharedWith { name }
    replies { text byReporter createdAt organisation { name } } } } }
}"""
ORGANISATIONS = "{ organisations { id name kind city } }"
FILE = """mutation File($input: ReportInput!) {
  fileReport(input: $input) { id anonymous followUpCode } }"""
FOLLOW_UP = """query FollowUp($code: String!) {
  reportByFollowUpCode(code: $code) { category status filedAt
    replies { text byReporter createdAt organisation { name } } } }"""
MAX_REPORT = 4000


def _parties(page: Page, organisations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Police and NGOs of the worker's city (the token's city: nothing read about the
    worker)."""
    city = page.principal.city
    return [o for o in organisations if o["city"] == city and o["kind"] in ("POLICE", "NGO")]


async def _reports_page(page: Page, *, status: int = 200, **extra: Any) -> Response:
    data = await page.graphql(REPORTS, purpose=PURPOSE)
    extra.setdefault("done", None)
    extra.setdefault("form", {})
    extra.setdefault("problems", [])
    return _render(
        page,
        "me/reports.html",
        status=status,
        parties=_parties(page, data["organisations"]),
        reports=[e["node"] for e in data["reports"]["edges"]],
        **extra,
    )


async def _anonymous_page(page: Page, *, status: int = 200, **extra: Any) -> Response:
    data, errors = await page.graphql_result(ORGANISATIONS, purpose=PURPOSE, anonymous=True)
    if errors or not data:
        raise ConsoleGraphQLError(errors or [{"message": "no data"}])
    extra.setdefault("form", {})
    extra.setdefault("problems", [])
    return _render(
        page,
        "me/report_anonymous.html",
        status=status,
        parties=_parties(page, data["organisations"]),
        **extra,
    )


async def reports(page: Page) -> Response:
    done = page.request.query_params.get("done")
    return await _reports_page(page, done=done if done == "filed" else None)


async def anonymous_form(page: Page) -> Response:
    return await _anonymous_page(page)


def _report_input(
    page: Page, form: dict[str, str], *, anonymous: bool
) -> tuple[dict[str, Any], list[str]]:
    category = form.get("category", "")
    text = form.get("text", "").strip()
    problems = []
    if category not in CATEGORY_NAMES:
        problems.append(page._("Choose what the report is about."))
    if not text:
        problems.append(page._("Write what happened."))
    elif len(text) > MAX_REPORT:
        problems.append(page._("Write at most %(n)s characters.", n=MAX_REPORT))
    # Every share the form offered is a checkbox; only those ticked are in the form.
    shared = [k.removeprefix("share:") for k in form if k.startswith("share:")][:10]
    shares = [s for s in shared if 0 < len(s) <= 100]
    value = {"category": category, "text": text, "anonymous": anonymous, "sharedWith": shares}
    return {"input": value}, problems


async def file_report(page: Page) -> Response:
    """A report in the worker's own name (the anonymous one has its own page)."""
    form = await page.form()
    variables, problems = _report_input(page, form, anonymous=False)
    if "anonymous" in form:
        # A form from before the anonymous page had its own address: never file it in the
        # worker's name.
        problems.append(page._("To send a report anonymously, use the page for that."))
    if problems:
        return await _reports_page(page, status=400, form=form, problems=problems)
    data, errors = await page.graphql_result(FILE, variables, purpose=PURPOSE)
    if errors or not data:
        messages = [str(e.get("message")) for e in errors] or [page._("The report was not sent.")]
        return await _reports_page(page, status=400, form=form, problems=messages)
    return page.redirect("/me/reports?done=filed")


async def file_anonymous(page: Page) -> Response:
    form = await page.form()
    variables, problems = _report_input(page, form, anonymous=True)
    if problems:
        return await _anonymous_page(page, status=400, form=form, problems=problems)
    data, errors = await page.graphql_result(FILE, variables, purpose=PURPOSE, anonymous=True)
    if errors or not data or not data["fileReport"].get("followUpCode"):
        messages = [str(e.get("message")) for e in errors] or [page._("The report was not sent.")]
        return await _anonymous_page(page, status=400, form=form, problems=messages)
    # Shown this once, in this answer only (no-store); the hub keeps only its hash. The
    # page asks the schema nothing more.
    return _render(page, "me/reported.html", code=data["fileReport"]["followUpCode"])


async def follow_up_form(page: Page) -> Response:
    return _render(page, "me/follow_up.html", follow_up=None, problems=[], code="")


async def follow_up(page: Page) -> Response:
    # Nothing here is asked in the worker's name: the code's report and any refusal are
    # logged without the worker's subject, like the anonymous filing.
    form = await page.form()
    code = form.get("code", "").strip()[:100]
    if not code:
        problems = [page._("Type your follow-up code.")]
        return _render(
            page, "me/follow_up.html", status=400, follow_up=None, problems=problems, code=""
        )
    data, errors = await page.graphql_result(
        FOLLOW_UP, {"code": code}, purpose=PURPOSE, anonymous=True
    )
    if errors or not data:
        codes = {str((e.get("extensions") or {}).get("code")) for e in errors}
        if "RATE_LIMITED" in codes:
            message = page._("Too many wrong codes. Try again in 15 minutes.")
            status = 429
        else:
            message = page._("No report has this code. Check it and try again.")
            status = 404
        return _render(
            page,
            "me/follow_up.html",
            status=status,
            follow_up=None,
            problems=[message],
            code=code[:40],
        )
    return _render(page, "me/follow_up.html", follow_up=data["reportByFollowUpCode"], code="")


# --- /me/warnings ------------------------------------------------------------------------

WARNINGS = """{ alerts { id severity zone template textNl textFr textEn validUntil issuedAt } }"""
LIVE = """subscription Live { alerts { id severity zone template textNl textFr textEn validUntil
  issuedAt } }"""
# The worker's own languages, for the language warnings are shown in.
LANGUAGES = "query Languages($id: ID!) { sexWorker(id: $id) { languages } }"


async def _warning_locale(page: Page) -> str:
    """The first of the worker's languages that warnings are shown in (Dutch, French,
    English, Romanian, Bulgarian, Spanish, Portuguese, Hungarian), else the page's."""
    data = await page.graphql(LANGUAGES, {"id": await _me(page)}, purpose=PURPOSE)
    return warning_locale((data.get("sexWorker") or {}).get("languages") or [], page.locale)


def _warning(locale: str, alert: dict[str, Any]) -> dict[str, Any]:
    """A warning in `locale`: its template's text in that language, then the issuer's free
    text in the language closest to it (English for a language the issuer does not write,
    else Dutch)."""
    free = (
        {"nl": alert.get("textNl"), "fr": alert.get("textFr"), "en": alert.get("textEn")}.get(
            locale
        )
        or alert.get("textEn" if locale not in ("nl", "fr") else "textNl")
        or alert.get("textNl")
    )
    template = alert.get("template")
    parts = [warning_text(template.lower(), locale)] if template else []
    if free:
        parts.append(free)
    return {
        "id": alert["id"],
        "severity": alert.get("severity") or "INFO",
        "zone": alert.get("zone"),
        "lang": locale,
        "text": "\n\n".join(parts),
        "validUntil": alert.get("validUntil"),
        "issuedAt": alert.get("issuedAt"),
    }


async def warnings(page: Page) -> Response:
    data = await page.graphql(WARNINGS, purpose=PURPOSE)
    locale = await _warning_locale(page)
    return _render(
        page,
        "me/warnings.html",
        warnings=[_warning(locale, a) for a in data["alerts"]],
    )


# Live streams per person, per hub (keyed by its database: a test runs several hubs).
_streams: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def warnings_stream(page: Page) -> Response:
    """Warnings as they are issued, as Server-Sent Events: the schema's `alerts`
    subscription, run as the worker. The stream ends after STREAM_S seconds, at the token's
    expiry, or after MAX_STREAM_EVENTS events, whichever comes first (the browser's
    EventSource reconnects); each delivery is in the access log like the API's."""
    hub = page.consoles.hub
    principal = page.principal
    shown_in = await _warning_locale(page)
    open_streams = _streams.setdefault(hub.db, {})
    # Counted here, with no await between the check and the count, so concurrent requests
    # cannot all pass the check; released once, by the stream's end or, for a stream that
    # never started (the client left first), by the response's background task.
    held = open_streams.get(principal.subject, 0)
    if held >= MAX_STREAMS:
        return Response(status_code=429, headers=SECURITY_HEADERS)
    open_streams[principal.subject] = held + 1
    released = False

    def release() -> None:
        nonlocal released
        if released:
            return
        released = True
        left = open_streams.get(principal.subject, 1) - 1
        if left > 0:
            open_streams[principal.subject] = left
        else:
            open_streams.pop(principal.subject, None)

    try:
        return _stream_response(page, release, deadline_s=STREAM_S, shown_in=shown_in)
    except BaseException:
        release()
        raise


def _stream_response(
    page: Page,
    release: Callable[[], None],
    *,
    deadline_s: float,
    shown_in: str | None = None,
) -> Response:
    hub = page.consoles.hub
    principal = page.principal
    deadline = time.monotonic() + deadline_s
    if principal.expires_at is not None:
        deadline = min(deadline, time.monotonic() + (principal.expires_at - time.time()))
    context = Context(
        hub=hub,
        actor=Actor(principal, hub.policies, purpose_header=PURPOSE),
        expires_at=principal.expires_at,
    )
    locale = page.locale
    schema = page.consoles.schema
    when = environment(locale).filters["datetime"]
    sessions, session_id = page.consoles.sessions, page.session.id_hash

    async def events() -> AsyncIterator[bytes]:
        results: asyncio.Queue[Any] = asyncio.Queue(maxsize=50)
        subscription: Any = None
        task: asyncio.Task[None] | None = None

        async def pump() -> None:
            if not hasattr(subscription, "__aiter__"):
                await results.put(subscription)
                return
            async for result in subscription:
                await results.put(result)
            await results.put(None)

        sent = 0
        try:
            subscription = await schema.subscribe(LIVE, context_value=context)
            task = asyncio.get_running_loop().create_task(pump())
            yield b"retry: 10000\n: open\n\n"
            while sent < MAX_STREAM_EVENTS:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    result = await asyncio.wait_for(
                        results.get(), timeout=min(remaining, KEEPALIVE_S)
                    )
                except TimeoutError:
                    if not await sessions.active(session_id):
                        yield _sse("end", {})  # logged out meanwhile
                        break
                    yield b": keep-alive\n\n"
                    continue
                if result is None or result.errors or not await sessions.active(session_id):
                    # The subscription ended, or the worker logged out meanwhile: nothing
                    # more reaches a browser whose session is over.
                    yield _sse("end", {})
                    break
                alert = (result.data or {}).get("alerts")
                if alert:
                    sent += 1
                    shown = _warning(shown_in or locale, alert)
                    shown["validUntilText"] = when(alert.get("validUntil"), "short")
                    yield _sse("alert", shown)
        finally:
            release()
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if hasattr(subscription, "aclose"):
                with contextlib.suppress(BaseException):
                    await subscription.aclose()

    headers = {**SECURITY_HEADERS, "X-Accel-Buffering": "no"}
    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers=headers,
        background=BackgroundTask(release),
    )


# --- /me/erasure -------------------------------------------------------------------------

ERASE = "mutation Erase($id: ID!) { eraseIdentity(sexWorkerId: $id) }"


async def erasure(page: Page) -> Response:
    return _render(page, "me/erasure.html", problems=[], erased=None, fresh=page.fresh)


async def erase(page: Page) -> Response:
    # Destroying the identity is for the person who just typed the password.
    if not page.fresh:
        return page.redirect(_fresh_login("/me/erasure"))
    form = await page.form()
    if form.get("confirm") != "yes":
        problems = [page._("Tick the box to confirm that you want your identity erased.")]
        return _render(
            page, "me/erasure.html", status=400, problems=problems, erased=None, fresh=True
        )
    me = await _me(page)
    data = await page.graphql(ERASE, {"id": me}, purpose=PURPOSE)
    erased = bool(data["eraseIdentity"])
    return _render(page, "me/erasure.html", problems=[], erased=erased, fresh=True)


async def not_found(page: Page) -> Response:
    return _render(page, "me/not_found.html", status=404)


routes: list[Route] = [
    console_route("/me", record, roles=ROLES, name="me", purpose=PURPOSE),
    console_route("/me/identity", identity, roles=ROLES, name="me_identity", purpose=PURPOSE),
    console_route(
        "/me/gender",
        set_gender,
        methods=("POST",),
        roles=ROLES,
        name="me_gender",
        purpose=PURPOSE,
    ),
    console_route("/me/access", access, roles=ROLES, name="me_access", purpose=PURPOSE),
    console_route("/me/consents", consents, roles=ROLES, name="me_consents", purpose=PURPOSE),
    console_route(
        "/me/consents/grant",
        grant,
        methods=("POST",),
        roles=ROLES,
        name="me_consent_grant",
        purpose=PURPOSE,
    ),
    console_route(
        "/me/consents/revoke",
        revoke,
        methods=("POST",),
        roles=ROLES,
        name="me_consent_revoke",
        purpose=PURPOSE,
    ),
    console_route("/me/reports", reports, roles=ROLES, name="me_reports", purpose=PURPOSE),
    console_route(
        "/me/reports/file",
        file_report,
        methods=("POST",),
        roles=ROLES,
        name="me_report_file",
        purpose=PURPOSE,
    ),
    # Logged without the worker's subject, and reading nothing in the worker's name.
    console_route(
        "/me/reports/anonymous",
        anonymous_form,
        roles=ROLES,
        name="me_report_anonymous",
        purpose=PURPOSE,
        anonymous=True,
    ),
    console_route(
        "/me/reports/anonymous",
        file_anonymous,
        methods=("POST",),
        roles=ROLES,
        name="me_report_file_anonymous",
        purpose=PURPOSE,
        anonymous=True,
    ),
    console_route(
        "/me/reports/follow-up",
        follow_up_form,
        roles=ROLES,
        name="me_report_follow_up_form",
        purpose=PURPOSE,
        anonymous=True,
    ),
    console_route(
        "/me/reports/follow-up",
        follow_up,
        methods=("POST",),
        roles=ROLES,
        name="me_report_follow_up",
        purpose=PURPOSE,
        anonymous=True,
    ),
    console_route("/me/warnings", warnings, roles=ROLES, name="me_warnings", purpose=PURPOSE),
    console_route(
        "/me/warnings/stream",
        warnings_stream,
        roles=ROLES,
        name="me_warnings_stream",
        purpose=PURPOSE,
    ),
    console_route("/me/erasure", erasure, roles=ROLES, name="me_erasure", purpose=PURPOSE),
    console_route(
        "/me/erasure",
        erase,
        methods=("POST",),
        roles=ROLES,
        name="me_erase",
        purpose=PURPOSE,
    ),
    # Last: any other /me/... path is a 404 in the worker's layout, not a bare "Not Found".
    console_route("/me/{rest:path}", not_found, roles=ROLES, name="me_not_found", purpose=PURPOSE),
]
