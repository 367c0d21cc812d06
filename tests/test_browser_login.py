"""The embedded issuer's login page and the pages every person meets (start, account, refusal,
expired login) in a real browser: by keyboard alone, in nl, fr and en,
with no serious accessibility violation (tests/browser.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from hub.demo_clients import DEMO_PEOPLE
from tests.browser import ServedHub, axe_check, no_external_requests, open_context, screenshot

PERSON = next(p for p in DEMO_PEOPLE if p.username == "dpo-antwerpen")
WORDS = {
    "nl-BE": ("Aanmelden bij de hub", "Gebruikersnaam", "Wachtwoord"),
    "fr-BE": ("Se connecter au hub", "Nom d’utilisateur", "Mot de passe"),
    "en-GB": ("Log in to the hub", "Username", "Password"),
}


@pytest.mark.parametrize("locale", list(WORDS))
def test_a_person_logs_in_by_keyboard_in_their_language(
    served_hub: ServedHub, browser: Browser, locale: str
) -> None:
    heading, username, password = WORDS[locale]
    context = open_context(browser, locale)
    try:
        page = context.new_page()
        attempted = no_external_requests(page)
        page.goto(served_hub.url("/login?return_to=/account"))
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        assert page.locator("html").get_attribute("lang") == locale[:2]
        axe_check(page)
        screenshot(page, f"login-{locale[:2]}")

        # A wrong password first: the message is announced and the form is still there.
        page.get_by_label(username).focus()
        page.keyboard.type(PERSON.username)
        page.keyboard.press("Tab")
        expect(page.get_by_label(password)).to_be_focused()
        page.keyboard.type("not the right password")
        page.keyboard.press("Enter")
        expect(page.get_by_role("alert")).to_be_visible()
        axe_check(page)
        screenshot(page, f"login-refused-{locale[:2]}")

        page.get_by_label(password).focus()
        page.keyboard.type(PERSON.password)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/account$"))
        assert attempted == []
    finally:
        context.close()


def test_a_bad_login_link_shows_an_accessible_error_page(
    served_hub: ServedHub, browser: Browser
) -> None:
    context = open_context(browser, "nl-BE")
    try:
        page = context.new_page()
        response = page.goto(served_hub.url("/oauth/authorize?client_id=someone-else"))
        assert response is not None and response.status == 400
        expect(page.get_by_role("alert")).to_contain_text("onbekende toepassing")
        axe_check(page)
        screenshot(page, "login-error-nl")
    finally:
        context.close()


SHARED = {
    # locale: (the start page's login link, the refused page's heading)
    "nl-BE": ("Aanmelden", "Niet toegestaan"),
    "fr-BE": ("Se connecter", "Non autorisé"),
    "en-GB": ("Log in", "Not allowed"),
}


@pytest.mark.parametrize("locale", list(SHARED))
def test_the_shared_pages_pass_axe_in_each_language(
    served_hub: ServedHub, browser: Browser, locale: str
) -> None:
    """The pages every person meets besides their console: the start page, their account,
    the refusal of a console that is not theirs, and an expired login's error page."""
    login, refused = SHARED[locale]
    lang = locale[:2]
    context = open_context(browser, locale)
    try:
        page = context.new_page()
        attempted = no_external_requests(page)
        page.goto(served_hub.url("/"))
        expect(page.get_by_role("link", name=login, exact=True)).to_be_visible()
        axe_check(page)
        screenshot(page, f"start-{lang}")

        response = page.goto(served_hub.url("/login/callback?code=x&state=expired"))
        assert response is not None and response.status == 400
        axe_check(page)
        screenshot(page, f"login-expired-{lang}")

        worker = next(p for p in DEMO_PEOPLE if p.username == "worker")
        page.goto(served_hub.url("/login?return_to=/account"))
        page.locator("#username").fill(worker.username)
        page.locator("#password").fill(worker.password)
        page.locator("form.login-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/account$"))
        axe_check(page)
        screenshot(page, f"account-{lang}")

        response = page.goto(served_hub.url("/console"))
        assert response is not None and response.status == 403
        expect(page.get_by_role("heading", level=1)).to_have_text(refused)
        axe_check(page)
        screenshot(page, f"refused-{lang}")
        assert attempted == []
    finally:
        context.close()
