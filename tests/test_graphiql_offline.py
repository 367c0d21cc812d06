"""GraphiQL at /graphql works in a closed network: the page and all it loads come from the
hub itself (hub/static/vendor/graphiql/), under a strict Content-Security-Policy.

The browser test loads GraphiQL in chromium with every request that would leave loopback
aborted and recorded, types a demo token into GraphiQL's header editor, runs a query and
reads the answer; it fails on any request that tried to leave, any CSP violation and any
script error. The HTTP tests read the page and its headers as any client would.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect

from hub.graphql_app import GRAPHIQL_CSP
from tests.browser import (
    ON_BOTH_BACKENDS,
    ServedHub,
    csp_violations,
    no_external_requests,
    screenshot,
)

CLIENT = "demo-city-antwerp"  # city_officer, purpose licensing
DIRECTIVES = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "connect-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
}


def _page(served_hub: ServedHub, **headers: str) -> httpx.Response:
    r = httpx.get(
        served_hub.url("/graphql"), headers={"Accept": "text/html", **headers}, timeout=10
    )
    assert r.status_code == 200, r.text[:500]
    return r


def _directives(policy: str) -> dict[str, str]:
    parts = [p.strip() for p in policy.split(";") if p.strip()]
    return {p.split(" ", 1)[0]: p.split(" ", 1)[1] if " " in p else "" for p in parts}


# --- over plain HTTP --------------------------------------------------------------------


def test_the_page_carries_a_strict_csp(served_hub: ServedHub) -> None:
    r = _page(served_hub)
    assert r.headers["content-type"].startswith("text/html")
    assert _directives(r.headers["content-security-policy"]) == DIRECTIVES
    assert r.headers["content-security-policy"] == GRAPHIQL_CSP
    assert "unsafe" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_the_page_names_no_external_url_and_its_assets_are_served(
    served_hub: ServedHub,
) -> None:
    html = _page(served_hub).text
    assert re.findall(r"(?:https?:)?//[^\s\"'<>]+", html) == []
    # No inline script, no inline event handler, no inline style.
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert re.findall(r"\son[a-z]+\s*=", html) == []
    assert "style=" not in html and "<style" not in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts[-1] == "/static/graphiql.js"  # the one that starts GraphiQL, last
    assert set(assets) >= {
        "/static/vendor/graphiql/react.production.min.js",
        "/static/vendor/graphiql/react-dom.production.min.js",
        "/static/vendor/graphiql/graphiql.min.js",
        "/static/vendor/graphiql/graphiql.min.css",
    }
    for path in assets:
        if path.startswith("/language/"):  # the language links: the hub's own route
            continue
        assert path.startswith("/static/"), path
        got = httpx.get(served_hub.url(path), timeout=10)
        assert got.status_code == 200, path
        assert got.content, path


def test_the_fonts_are_files_of_the_hub(served_hub: ServedHub) -> None:
    # font-src 'self': the CSS names its fonts as files beside it, not as data: URLs.
    css = httpx.get(served_hub.url("/static/vendor/graphiql/graphiql.min.css"), timeout=10).text
    assert "data:font" not in css
    fonts = set(re.findall(r"url\((fonts/[0-9a-f]+\.woff2?)\)", css))
    assert fonts
    for font in sorted(fonts):
        got = httpx.get(served_hub.url(f"/static/vendor/graphiql/{font}"), timeout=10)
        assert got.status_code == 200 and got.content[:4] in (b"wOF2", b"wOFF"), font


def test_the_help_speaks_the_browser_language(served_hub: ServedHub) -> None:
    dutch = _page(served_hub, **{"Accept-Language": "nl-BE,nl;q=0.9"}).text
    assert '<html lang="nl">' in dutch
    english = _page(served_hub, **{"Accept-Language": "en"}).text
    assert '<html lang="en">' in english
    assert "Every request needs an access token and a purpose." in english
    assert "Every request needs an access token and a purpose." not in dutch


# --- in chromium ------------------------------------------------------------------------


def _headers_editor(page: Page) -> None:
    """Focus GraphiQL's header editor (its Headers tab is open from the start)."""
    expect(page.get_by_role("button", name="Headers")).to_be_visible()
    editor = page.get_by_role("textbox", name="Request headers (JSON)")
    expect(editor).to_be_attached()
    page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror").click()


@ON_BOTH_BACKENDS
def test_graphiql_runs_a_query_with_nothing_leaving_loopback(
    served_hub: ServedHub, page: Page
) -> None:
    token = served_hub.token(CLIENT)
    attempted = no_external_requests(page)
    violations = csp_violations(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(served_hub.url("/graphql"))
    expect(page.locator(".graphiql-container")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("The hub's GraphQL API")

    _headers_editor(page)
    _replace_editor(
        page, json.dumps({"Authorization": f"Bearer {token}", "Hub-Purpose": "licensing"})
    )
    page.get_by_role("button", name="Execute query").click()
    result = page.locator(".result-window")
    expect(result).to_contain_text('"city_officer"')
    expect(result).to_contain_text('"licensing"')
    screenshot(page, f"graphiql-{served_hub.backend}")

    assert attempted == [], f"requests that tried to leave the machine: {attempted}"
    assert violations == [], violations
    assert errors == [], errors


def _replace_editor(page: Page, text: str) -> None:
    page.keyboard.press("Control+A")
    # insert_text, not type: CodeMirror would close each bracket typed.
    page.keyboard.insert_text(text)


def _issue_warning(served_hub: ServedHub, token: str, text: str) -> None:
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    issued = httpx.post(
        served_hub.url("/graphql"),
        json={
            "query": "mutation($v: DateTime!, $t: String!) { issueAlert(input: {audience: "
            "POLICE, severity: DANGER, textNl: $t, validUntil: $v}) { id } }",
            "variables": {"v": until, "t": text},
        },
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": "safety_alerting"},
        timeout=10,
    )
    assert issued.status_code == 200 and "errors" not in issued.json(), issued.text


def test_graphiql_subscribes_over_the_hubs_websocket(served_hub: ServedHub, page: Page) -> None:
    # A subscription from GraphiQL: the header editor's JSON authenticates the WebSocket
    # (Authorization, Hub-Purpose); a warning issued meanwhile appears in the result.
    police = "demo-police-antwerp"
    token = served_hub.token(police)
    attempted = no_external_requests(page)
    violations = csp_violations(page)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(served_hub.url("/graphql"))
    expect(page.locator(".graphiql-container")).to_be_visible()
    _headers_editor(page)
    _replace_editor(
        page, json.dumps({"Authorization": f"Bearer {token}", "Hub-Purpose": "safety_alerting"})
    )
    page.locator(".graphiql-query-editor .CodeMirror").click()
    subscription = "subscription { alerts { severity textNl } }"
    _replace_editor(page, subscription)
    # GraphiQL reads the operation's kind (subscription: over the WebSocket) from the text
    # 100 ms after an edit, and stores the text in the same step: wait for that.
    page.wait_for_function("q => localStorage.getItem('graphiql:query') === q", arg=subscription)
    page.get_by_role("button", name="Execute query").click()
    expect(page.get_by_role("button", name="Stop query")).to_be_visible()  # running
    # The hub starts its side of the subscription a moment after GraphiQL sends it, and a
    # warning issued before that is not replayed: issue one a second until one arrives
    # (at most ten).
    result = page.locator(".result-window")
    text = "Gevaarlijke klant in de Schipperskwartier"
    for _attempt in range(10):
        _issue_warning(served_hub, token, text)
        try:
            expect(result).to_contain_text(text, timeout=1_000)
            break
        except AssertionError:
            continue
    expect(result).to_contain_text(text)
    expect(result).to_contain_text('"DANGER"')
    assert sockets == [served_hub.url("/graphql").replace("http://", "ws://")]
    assert attempted == [] and violations == []


def test_graphiql_sends_nothing_until_a_token_is_entered(served_hub: ServedHub, page: Page) -> None:
    attempted = no_external_requests(page)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(served_hub.url("/graphql"))
    expect(page.locator(".graphiql-container")).to_be_visible()
    page.get_by_role("button", name="Execute query").click()  # with the placeholder headers
    result = page.locator(".result-window")
    expect(result).to_contain_text("Nothing was sent: first replace TOKEN")
    assert "malformed" not in page.locator("body").inner_text()
    assert posts == []  # neither the schema's introspection nor the query went out
    _headers_editor(page)
    _replace_editor(page, json.dumps({"Authorization": "Bearer not-a-token"}))
    page.get_by_role("button", name="Execute query").click()
    expect(result).to_contain_text("UNAUTHENTICATED")  # a real attempt: the hub refuses
    assert posts == [served_hub.url("/graphql")]
    assert attempted == []


def test_the_page_links_to_each_language_and_words_the_demo_as_a_condition(
    served_hub: ServedHub,
) -> None:
    french = _page(served_hub, **{"Accept-Language": "fr-BE"}).text
    for code in ("nl", "fr", "en"):
        assert f'href="/language/{code}?return_to=/graphql"' in french
    assert "Quand le hub tourne en démo" in french
    english = _page(served_hub, **{"Accept-Language": "en"}).text
    assert "The demo prints one for every role" not in english
    assert "When the hub runs as its demo" in english
    chosen = httpx.get(
        served_hub.url("/language/nl?return_to=/graphql"), follow_redirects=False, timeout=10
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == "/graphql"


def test_the_recorder_sees_a_request_that_would_leave(page: Page) -> None:
    # The check the GraphiQL test relies on: a request for another host is recorded and
    # aborted (`.invalid` never resolves, and the request never gets that far).
    attempted = no_external_requests(page)
    page.goto("about:blank")
    outcome = page.evaluate(
        "fetch('http://cdn.example.invalid/react.js').then(() => 'loaded', () => 'refused')"
    )
    assert outcome == "refused"
    assert attempted == ["http://cdn.example.invalid/react.js"]


@pytest.mark.parametrize("violation", ["<script>1</script>", "<p style='color: red'>x</p>"])
def test_the_csp_watch_sees_a_violation(page: Page, violation: str) -> None:
    # The other check it relies on: a page that breaks its CSP is reported.
    seen = csp_violations(page)
    page.route(
        "http://127.0.0.1/csp-probe",
        lambda route: route.fulfill(
            body=f"<!doctype html><title>probe</title>{violation}",
            headers={"Content-Type": "text/html", "Content-Security-Policy": GRAPHIQL_CSP},
        ),
    )
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.goto("http://127.0.0.1/csp-probe")
    assert len(seen) == 1, seen
