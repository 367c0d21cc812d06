"""The worker's side in a real browser (chromium via playwright, tests/browser.py), on a
phone-sized screen, in Dutch, French and English: the worker logs in and sees the police
identity check in their access log with its purpose; revokes the NGO's consent by keyboard
alone and the NGO's /care page (another browser context, the `ngo` login) stops showing
them; files an anonymous report on its own page and reads the NGO's answer by its follow-up code; a
warning issued through the API appears live. axe-core finds no serious or critical
violation on any of the pages, and each page is kept as a screenshot. The consent flow
and the live warning also run on PostgreSQL (whose event hub wakes on NOTIFY)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from playwright.sync_api import expect

from tests import browser as browser_helpers

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

    from tests.browser import ServedHub

ACCEPT = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB"}
PHONE = {"width": 390, "height": 844}
LOCALES = pytest.mark.parametrize("locale", ["nl", "fr", "en"])
PAGES = [
    "/me",
    "/me/access",
    "/me/consents",
    "/me/reports",
    "/me/reports/anonymous",
    "/me/reports/follow-up",
    "/me/warnings",
    "/me/erasure",
    "/me/pairing",
]
# What the pages say, per language (the catalogues' words; see hub/locales/*/me.po).
WORDS = {
    "nl": {
        "purpose": "identiteitscontrole tijdens een shift",
        "saw": "zag in uw gegevens: wettelijke identiteit",
        "basis": "Rechtsgrond:",
        "revoke": "Mijn toestemming aan Ghapro intrekken",
        "give": "Mijn toestemming geven aan Ghapro",
        "revoked": "Uw toestemming is ingetrokken.",
        "category": "Iets anders",
        "send": "Melding anoniem versturen",
        "code": "Opvolgcode",
        "read": "Antwoorden lezen",
        "what": "Wat is er gebeurd?",
        "about": "Waarover gaat het?",
    },
    "fr": {
        "purpose": "contrôle d'identité pendant une plage de travail",
        "saw": "a vu dans votre fiche : identité légale",
        "basis": "Base légale :",
        "revoke": "Retirer mon consentement à Ghapro",
        "give": "Donner mon consentement à Ghapro",
        "revoked": "Votre consentement est retiré.",
        "category": "Autre chose",
        "send": "Envoyer le signalement anonymement",
        "code": "Code de suivi",
        "read": "Lire les réponses",
        "what": "Que s'est-il passé ?",
        "about": "De quoi s'agit-il ?",
    },
    "en": {
        "purpose": "identity check during a shift",
        "saw": "saw in your record: legal identity",
        "basis": "Legal basis:",
        "revoke": "Revoke my consent to Ghapro",
        "give": "Give my consent to Ghapro",
        "revoked": "Your consent is revoked.",
        "category": "Something else",
        "send": "Send the report anonymously",
        "code": "Follow-up code",
        "read": "Read the answers",
        "what": "What happened?",
        "about": "What is it about?",
    },
}


def _context(browser: Browser, locale: str) -> BrowserContext:
    """A fresh phone-sized context speaking `locale`."""
    ctx = browser.new_context(locale=ACCEPT[locale], viewport=PHONE, is_mobile=True, has_touch=True)
    ctx.set_default_timeout(browser_helpers.ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(browser_helpers.NAVIGATION_TIMEOUT_MS)
    return ctx


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Contexts a test opens with `_open`, all closed at its end."""
    expect.set_options(timeout=browser_helpers.ACTION_TIMEOUT_MS)
    opened: list[BrowserContext] = []
    yield opened
    for ctx in opened:
        ctx.close()


def _open(contexts: list[BrowserContext], browser: Browser, locale: str) -> Page:
    ctx = _context(browser, locale)
    contexts.append(ctx)
    return ctx.new_page()


def _login(page: Page, served_hub: ServedHub, username: str, return_to: str) -> None:
    """The real login: the consoles send the browser to the issuer's form and back."""
    page.goto(served_hub.url(f"/login?return_to={return_to}"))
    page.locator("#username").fill(username)
    page.locator("#password").fill(f"demo-{username}-2026")
    page.locator("form.login-form button[type=submit]").click()
    page.wait_for_url(served_hub.url(return_to))


def _api(served_hub: ServedHub, client: str, purpose: str, query: str, **variables: Any) -> Any:
    r = httpx.post(
        served_hub.url("/graphql"),
        json={"query": query, "variables": variables},
        headers={
            "Authorization": f"Bearer {served_hub.token(client)}",
            "Hub-Purpose": purpose,
        },
        timeout=30,
    )
    body = r.json()
    assert r.status_code == 200 and not body.get("errors"), body
    return body["data"]


def _working_name(served_hub: ServedHub) -> str:
    me = _api(served_hub, "demo-worker", "self_service", "{ me { sexWorkerId } }")
    data = _api(
        served_hub,
        "demo-worker",
        "self_service",
        "query($id: ID!) { sexWorker(id: $id) { workingName } }",
        id=me["me"]["sexWorkerId"],
    )
    return str(data["sexWorker"]["workingName"])


@LOCALES
def test_the_worker_sees_the_police_identity_check_in_their_access_log(
    served_hub: ServedHub, browser: Browser, contexts: list[BrowserContext], locale: str
) -> None:
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    read = _api(
        served_hub,
        "demo-police-antwerp",
        "identity_validation",
        "query($from: DateTime) { shifts(first: 100, from: $from) { edges { node { "
        "sexWorker { workingName identity { legalName } } } } } }",
        **{"from": since},
    )
    assert any((e["node"]["sexWorker"] or {}).get("identity") for e in read["shifts"]["edges"]), (
        "the demo worker has a shift in progress, so the police read the identity"
    )
    page = _open(contexts, browser, locale)
    _login(page, served_hub, "worker", "/me/access")
    words = WORDS[locale]
    group = page.locator("section.group", has_text="Lokale Politie Antwerpen").filter(
        has_text=words["purpose"]
    )
    expect(group.first).to_be_visible()
    entry = group.first.locator("li", has_text=words["saw"]).first
    expect(entry).to_be_visible()
    expect(entry.locator(".basis")).to_contain_text(words["basis"])
    browser_helpers.screenshot(page, f"worker-access-{locale}")
    browser_helpers.axe_check(page)


def _tab_to(page: Page, name: str, *, limit: int = 80) -> None:
    """Press Tab until the focused element is the button named `name` (bounded)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => document.activeElement && document.activeElement.tagName === 'BUTTON' "
            "? document.activeElement.textContent.trim() : ''"
        )
        if focused == name:
            return
    pytest.fail(f"no button named {name!r} within {limit} Tab presses")


@browser_helpers.ON_BOTH_BACKENDS
@LOCALES
def test_revoking_the_ngos_consent_by_keyboard_takes_the_worker_off_its_page(
    served_hub: ServedHub, browser: Browser, contexts: list[BrowserContext], locale: str
) -> None:
    words = WORDS[locale]
    name = _working_name(served_hub)
    worker = _open(contexts, browser, locale)
    _login(worker, served_hub, "worker", "/me/consents")
    if worker.get_by_role("button", name=words["give"]).count():
        # An earlier language's run ended without the consent: give it back first.
        worker.get_by_role("button", name=words["give"]).click()
        worker.wait_for_url(re.compile(r"/me/consents\?done=granted$"))
    ngo = _open(contexts, browser, locale)
    _login(ngo, served_hub, "ngo", "/care")
    expect(ngo.locator("main")).to_contain_text(name)
    browser_helpers.screenshot(ngo, f"care-{locale}")
    browser_helpers.axe_check(ngo)

    worker.goto(served_hub.url("/me/consents"))
    browser_helpers.screenshot(worker, f"worker-consents-{locale}")
    _tab_to(worker, words["revoke"])
    worker.keyboard.press("Enter")
    worker.wait_for_url(re.compile(r"/me/consents\?done=revoked$"))
    expect(worker.get_by_role("status")).to_contain_text(words["revoked"])
    browser_helpers.axe_check(worker)

    ngo.reload()
    expect(ngo.locator("h1")).to_be_visible()
    expect(ngo.locator("main")).not_to_contain_text(name)

    # Given back by keyboard too, the worker is on the NGO's page again.
    _tab_to(worker, words["give"])
    worker.keyboard.press("Enter")
    worker.wait_for_url(re.compile(r"/me/consents\?done=granted$"))
    ngo.reload()
    expect(ngo.locator("main")).to_contain_text(name)


@LOCALES
def test_an_anonymous_report_is_answered_and_read_by_its_code(
    served_hub: ServedHub, browser: Browser, contexts: list[BrowserContext], locale: str
) -> None:
    words = WORDS[locale]
    page = _open(contexts, browser, locale)
    _login(page, served_hub, "worker", "/me/reports/anonymous")
    text = f"Photos of me were shared without my consent ({locale})."
    page.get_by_label(words["about"]).select_option(label=words["category"])
    page.get_by_label(words["what"]).fill(text)
    page.get_by_label("Ghapro").check()
    page.get_by_role("button", name=words["send"]).click()
    code_box = page.locator(".follow-up-code")
    expect(code_box).to_have_text(re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$"))
    code = code_box.inner_text().strip()
    browser_helpers.screenshot(page, f"worker-report-code-{locale}")
    browser_helpers.axe_check(page)

    shared = _api(
        served_hub,
        "demo-ngo-ghapro",
        "care",
        "{ reports(first: 100) { edges { node { id text } } } }",
    )
    ids = [e["node"]["id"] for e in shared["reports"]["edges"] if e["node"]["text"] == text]
    assert len(ids) == 1
    answer = f"We saw your report; call us any time ({locale})."
    _api(
        served_hub,
        "demo-ngo-ghapro",
        "care",
        "mutation($id: ID!, $t: String!) { replyToReport(id: $id, text: $t) { id } }",
        id=ids[0],
        t=answer,
    )

    page.goto(served_hub.url("/me/reports/follow-up"))
    page.get_by_label(words["code"]).fill(code.lower())
    page.get_by_role("button", name=words["read"]).click()
    expect(page.locator("main")).to_contain_text(answer)
    browser_helpers.screenshot(page, f"worker-report-answer-{locale}")


@LOCALES
def test_every_worker_page_passes_axe_on_a_phone(
    served_hub: ServedHub, browser: Browser, contexts: list[BrowserContext], locale: str
) -> None:
    page = _open(contexts, browser, locale)
    violations = browser_helpers.csp_violations(page)
    _login(page, served_hub, "worker", "/me")
    for path in PAGES:
        page.goto(served_hub.url(path))
        expect(page.locator("h1")).to_be_visible()
        assert page.locator("html").get_attribute("lang") == locale
        browser_helpers.screenshot(page, f"worker{path.replace('/', '-')}-{locale}")
        browser_helpers.axe_check(page)
    assert violations == []


@browser_helpers.ON_BOTH_BACKENDS
def test_a_warning_appears_live_without_reloading(
    served_hub: ServedHub, browser: Browser, contexts: list[BrowserContext]
) -> None:
    page = _open(contexts, browser, "en")
    violations = browser_helpers.csp_violations(page)
    _login(page, served_hub, "worker", "/me/warnings")
    live = page.locator("#live-state")
    expect(live).to_have_text("New warnings appear here by themselves.")
    text = "Heavy police checks on the Schipperskwartier tonight."
    _api(
        served_hub,
        "demo-police-antwerp",
        "safety_alerting",
        "mutation($input: AlertInput!) { issueAlert(input: $input) { id } }",
        input={
            "audience": "SEX_WORKERS",
            "severity": "WARNING",
            "textNl": "Veel politiecontroles in het Schipperskwartier vanavond.",
            "textEn": text,
            "validUntil": (datetime.now(UTC) + timedelta(hours=12)).isoformat(),
        },
    )
    expect(page.locator("#warnings li", has_text=text)).to_be_visible()
    browser_helpers.screenshot(page, "worker-warnings-live")
    browser_helpers.axe_check(page)
    assert violations == []
