"""The browser test infrastructure end to end: chromium opens the hub that `hub demo`
serves, and axe-core checks GraphiQL's page (tests/browser.py)."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser import ServedHub, axe_check, no_external_requests, screenshot


def test_chromium_opens_the_served_hub(served_hub: ServedHub, page: Page) -> None:
    attempted = no_external_requests(page)
    response = page.goto(served_hub.url("/static/hub.css"))
    assert response is not None and response.ok
    assert response.headers["content-type"].startswith("text/css")
    assert attempted == []


def test_graphiql_has_no_serious_accessibility_violation(served_hub: ServedHub, page: Page) -> None:
    page.goto(served_hub.url("/graphql"))
    expect(page.locator(".graphiql-container")).to_be_visible()
    # The editors' textareas are named by hub/static/graphiql.js once GraphiQL drew them.
    for name in ("GraphQL query", "Request headers (JSON)", "Response"):
        expect(page.get_by_role("textbox", name=name)).to_be_attached()
    screenshot(page, "graphiql-start")
    axe_check(page)
