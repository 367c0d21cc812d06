"""The privacy officers' console in a real browser (chromium through playwright, against the
hub that `hub demo` serves): the policy change across three people's sessions, from a YAML
error fixed at its line, by keyboard alone, to the city officer losing `window` and a
roll-back restoring it; in Dutch, French and English; every page checked with axe-core and
kept as a screenshot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser import ON_BOTH_BACKENDS, ServedHub, axe_check, screenshot

ROOT = Path(__file__).resolve().parent.parent
SHIFTS = (ROOT / "policies" / "shift_registration.yaml").read_text()
CITY_RULE = (
    'fields: {"*": allow, sex_worker: deny, sex_worker_id: pseudonym, rental_agreement_id: deny}'
)
NO_WINDOW = SHIFTS.replace(
    CITY_RULE,
    'fields: {"*": allow, window: deny, sex_worker: deny, sex_worker_id: pseudonym,\n'
    "             rental_agreement_id: deny}",
)
TYPO = NO_WINDOW.replace("window: deny", "windw: deny")
TYPO_LINE = next(i for i, t in enumerate(TYPO.splitlines(), 1) if "windw" in t)
CITY_CLIENT = "demo-city-antwerp"
LOCALES = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB"}
# The words the pages use, per language, for what the test checks.
WORDS = {
    "en": {"waits": "waits for the other approvals", "in_force": "now in force as version"},
    "nl": {"waits": "wacht op de andere goedkeuringen", "in_force": "nu van kracht als versie"},
    "fr": {"waits": "attend les autres approbations", "in_force": "maintenant en vigueur"},
}
PAGES = (
    "/console",
    "/console/policies",
    "/console/policies/ShiftRegistration",
    "/console/policies/ShiftRegistration/propose",
    "/console/policies/ShiftRegistration/history",
    "/console/approvals",
    "/console/access-log?role=city_officer",
    "/console/audit",
    "/console/indicators",
)
MAX_TABS = 80


def _person(browser: Browser, served: ServedHub, username: str, lang: str) -> Page:
    """A browser context of its own (cookies, session), logged in as a demo person."""
    context: BrowserContext = browser.new_context(
        locale=LOCALES[lang], viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(served.url("/login?return_to=/console"))
    page.locator("#username").fill(username)
    page.locator("#password").fill(f"demo-{username}-2026")
    page.locator("form.login-form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/console$"))
    expect(page.locator("html")).to_have_attribute("lang", lang)
    return page


@pytest.fixture
def people(browser: Browser, served_hub: ServedHub, request: Any) -> Iterator[dict[str, Page]]:
    lang = getattr(request, "param", "en")
    pages = {
        name: _person(browser, served_hub, name, lang)
        for name in ("dpo-antwerpen", "dpo-politie", "utsopi")
    }
    try:
        yield pages
    finally:
        for p in pages.values():
            p.context.close()


def _check(page: Page, name: str) -> None:
    expect(page.locator("h1")).to_have_count(1)
    screenshot(page, name)
    axe_check(page)


def _tab_to(page: Page, selector: str) -> None:
    """Press Tab until the element is focused (keyboard only; bounded)."""
    for _ in range(MAX_TABS):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{selector} is not reachable with Tab")


def _replace_text(page: Page, selector: str, text: str) -> None:
    _tab_to(page, selector)
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def _city_windows(served: ServedHub) -> tuple[list[Any], dict[str, Any]]:
    """The city officer's own query, over HTTP with the city's token."""
    r = httpx.post(
        served.url("/graphql"),
        headers={"Authorization": f"Bearer {served.token(CITY_CLIENT)}"},
        json={"query": "{ shifts(first: 20) { edges { node { startsAt window } } } }"},
        timeout=30,
    )
    body = r.json()
    assert "errors" not in body, body
    edges = body["data"]["shifts"]["edges"]
    assert edges, "the demo has shifts in Antwerp"
    return [e["node"]["window"] for e in edges], body.get("extensions") or {}


def _approve(page: Page, served: ServedHub, words: str, shot: str) -> None:
    page.goto(served.url("/console/approvals"))
    _check(page, shot)
    page.locator("button[name=decision][value=approve]").first.click()
    expect(page.locator("p.notice[role=status]")).to_contain_text(words)


def _policy_change_flow(served: ServedHub, people: dict[str, Page], lang: str, tag: str) -> None:
    first, second, rep = people["dpo-antwerpen"], people["dpo-politie"], people["utsopi"]
    words = WORDS[lang]
    windows, _ = _city_windows(served)
    assert any(w is not None for w in windows)

    # Officer 1, by keyboard alone: a YAML error, shown at its line, then fixed and previewed.
    first.goto(served.url("/console/policies/ShiftRegistration/propose"))
    _check(first, f"{tag}-propose")
    _replace_text(first, "#document", TYPO)
    _tab_to(first, "button[name=action][value=preview]")
    first.keyboard.press("Enter")
    first.wait_for_load_state()
    link = first.locator(f'#problems a[href="#line-{TYPO_LINE}"]')
    expect(link).to_have_count(1)
    expect(first.locator(f"#line-{TYPO_LINE}")).to_have_class("problem")
    expect(first.locator("#document")).to_have_attribute("aria-invalid", "true")
    _check(first, f"{tag}-propose-error")
    _tab_to(first, f'#problems a[href="#line-{TYPO_LINE}"]')
    first.keyboard.press("Enter")
    assert first.url.endswith(f"#line-{TYPO_LINE}")
    fixed = first.locator("#document").input_value().replace("windw: deny", "window: deny")
    _replace_text(first, "#document", fixed)
    _tab_to(first, "button[name=action][value=preview]")
    first.keyboard.press("Enter")
    first.wait_for_load_state()
    preview = first.locator("#preview table.diff")
    expect(preview).to_be_visible()
    expect(preview.locator("tbody tr")).to_have_count(1)
    expect(preview.locator(".lost code", has_text="window")).to_have_count(1)
    _check(first, f"{tag}-propose-preview")
    _replace_text(first, "#reason", "The city needs occupancy, not the window number.")
    _tab_to(first, "button[name=action][value=propose]")
    first.keyboard.press("Enter")
    first.wait_for_url(re.compile(r"/console/approvals\?proposed=1$"))
    expect(first.locator("button[name=decision][value=approve]")).to_have_count(0)

    # The second officer and the representative approve, each in their own session.
    _approve(second, served, words["waits"], f"{tag}-approvals-officer-2")
    windows, _ = _city_windows(served)
    assert any(w is not None for w in windows)  # not in force on one approval
    _approve(rep, served, words["in_force"], f"{tag}-approvals-representative")
    windows, extensions = _city_windows(served)
    assert all(w is None for w in windows)
    assert "window" in extensions["withheld"]["Shift"]

    # Roll back: proposed again, approved the same way; the field comes back.
    first.goto(served.url("/console/policies/ShiftRegistration/history"))
    _check(first, f"{tag}-history")
    first.locator("form button.secondary").first.click()
    first.wait_for_url(re.compile(r"/console/approvals\?proposed=1$"))
    _approve(second, served, words["waits"], f"{tag}-approvals-rollback")
    _approve(rep, served, words["in_force"], f"{tag}-approvals-rollback-representative")
    windows, _ = _city_windows(served)
    assert any(w is not None for w in windows)


@pytest.mark.parametrize("people", ["nl", "fr", "en"], indirect=True)
def test_a_policy_change_across_three_sessions(served_hub: ServedHub, people, request) -> None:
    lang = request.node.callspec.params["people"]
    _policy_change_flow(served_hub, people, lang, f"officer-{lang}")


@ON_BOTH_BACKENDS
def test_the_policy_change_on_each_backend(served_hub: ServedHub, people) -> None:
    _policy_change_flow(served_hub, people, "en", f"officer-{served_hub.backend}")


@pytest.mark.parametrize("lang", ["nl", "fr", "en"])
def test_every_console_page_in_each_language(
    browser: Browser, served_hub: ServedHub, lang: str
) -> None:
    for username in ("dpo-antwerpen", "utsopi"):
        page = _person(browser, served_hub, username, lang)
        try:
            for path in PAGES:
                response = page.goto(served_hub.url(path))
                assert response is not None
                if username == "utsopi" and path.startswith(
                    (
                        "/console/access-log",
                        "/console/audit",
                        "/console/policies/ShiftRegistration/propose",
                    )
                ):
                    assert response.status == 403  # the privacy officers' pages
                    continue
                assert response.status == 200, path
                name = re.sub(r"[^A-Za-z]+", "-", path.split("?")[0]).strip("-")
                _check(page, f"{name}-{username}-{lang}")
        finally:
            page.context.close()


@pytest.mark.parametrize("lang", ["nl", "fr"])
def test_the_access_log_fits_at_1200_px_in_words(
    browser: Browser, served_hub: ServedHub, lang: str
) -> None:
    page = _person(browser, served_hub, "dpo-antwerpen", lang)
    try:
        page.set_viewport_size({"width": 1200, "height": 900})
        page.goto(served_hub.url("/console"))  # a console visit to find in the log
        page.goto(served_hub.url("/console/access-log"))
        table = page.locator("table.log")
        expect(table).to_be_visible()
        fits = page.evaluate(
            """() => { const box = document.querySelector("table.log").parentElement;
                       return [box.scrollWidth, box.clientWidth]; }"""
        )
        assert fits[0] <= fits[1], fits  # every column in view, none cut off
        text = table.inner_text()
        assert "console:" not in text and "AuditStatus" not in text
        assert re.search(r"\ballowed\b", text) is None, text[:500]  # the outcome translated
        _check(page, f"access-log-1200-{lang}")
    finally:
        page.context.close()
