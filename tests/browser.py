"""Browser tests: the hub served by `hub demo` in a subprocess, driven by a real chromium.

Playwright (PyPI) drives Debian's chromium at /usr/bin/chromium (installed by .ci/run; no
`playwright install`, no browser download). Without chromium the browser tests skip with
the reason, and fail instead under HUB_TEST_REQUIRE_PEERS=1 (as CI sets).

Fixtures (registered in tests/conftest.py):
- `served_hub`: `hub demo` (whatever it seeds: demo data, demo clients, demo people) on a
  free loopback port, one per module, on SQLite; `@ON_BOTH_BACKENDS` runs a test on SQLite
  and PostgreSQL. `served_hub.token(client_id)` runs `hub token --client` for it.
- `browser`: one headless chromium per module; `browser_context` and `page`: a fresh
  context (no cookies, no storage) and a page in it per test,
  with a timeout on every action and assertion. Every request the browser would send past
  loopback goes to a dead proxy on loopback, so nothing can leave the machine even when a
  test does not watch; `no_external_requests(page)` records and aborts those requests so a
  test can assert there were none.

Helpers: `open_context(browser, locale)` (another person's session, or another language),
`axe_check(page)` (axe-core: fails on serious or critical violations),
`screenshot(page, name)` (a full-page PNG under artifacts/screenshots/, which .gitignore
excludes and CI keeps).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest

from tests.served import ROOT, free_port, hub, hub_env, wait_for

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

T = TypeVar("T")
CHROMIUM = Path(os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
ACTION_TIMEOUT_MS = 10_000  # one click, fill or expect
NAVIGATION_TIMEOUT_MS = 20_000  # one page load (GraphiQL's script is 3.5 MB)
LAUNCH_TIMEOUT_MS = 30_000
START_S = 60.0  # `hub demo`: migrate, seed, serve
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# Where the browser sends whatever is not for loopback: a port nothing listens on (discard),
# so such a request fails at once on this machine. Chromium never proxies loopback itself.
DEAD_PROXY = "http://127.0.0.1:9"
BACKENDS = ("sqlite", "postgresql")
ON_BOTH_BACKENDS = pytest.mark.parametrize("served_hub", BACKENDS, indirect=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("HUB_TEST_REQUIRE_PEERS") == "1":
        pytest.fail(f"the browser is required (HUB_TEST_REQUIRE_PEERS=1): {reason}")
    pytest.skip(reason)


# --- the served hub ---------------------------------------------------------------------


@dataclass
class ServedHub:
    """`hub demo` running on a free loopback port."""

    base: str
    backend: str
    env: dict[str, str]
    log: Path
    _tokens: dict[str, str]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def token(self, client_id: str) -> str:
        """A token for a demo client, as its operator gets one: `hub token --client`."""
        if client_id not in self._tokens:
            done = hub("token", "--client", client_id, env=self.env, timeout=60)
            assert done.returncode == 0, done.stderr
            self._tokens[client_id] = done.stdout.strip().splitlines()[-1]
        return self._tokens[client_id]


@contextlib.contextmanager
def serve_demo(database_url: str, workdir: Path, backend: str) -> Iterator[ServedHub]:
    """`hub demo --port P` until the block ends (stopped by its PID)."""
    port = free_port()
    env = hub_env(database_url, workdir / "secrets", HUB_RATE_LIMIT_PER_S="0")
    log = workdir / "hub-demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 (our own command, fixed arguments)
            [sys.executable, "-m", "hub.cli", "demo", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, f"hub demo exited:\n{log.read_text()[-4000:]}"
        try:
            return httpx.get(f"{base}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(ready, START_S, "hub demo")
        yield ServedHub(base, backend, env, log, {})
    finally:
        proc.terminate()  # the process we started, by its PID
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module", params=["sqlite"])
def served_hub(
    request: pytest.FixtureRequest, templates: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedHub]:
    """`hub demo` on a fresh migrated database of the backend (SQLite unless a test asks
    with `@ON_BOTH_BACKENDS`), one per module and backend."""
    from tests.conftest import require_backend

    backend = str(request.param)
    _off_loop(require_backend, backend)
    url: str = _off_loop(templates.new_url, backend)
    try:
        with serve_demo(url, tmp_path_factory.mktemp(f"served-{backend}"), backend) as served:
            yield served
    finally:
        _off_loop(templates.drop, url)


def _off_loop(call: Callable[..., T], *args: Any) -> T:
    """Run `call` on a thread of its own: the database helpers use asyncio.run, which
    refuses to run where playwright's sync API already runs an event loop (the module's
    browser may be up when a second backend's hub starts)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args).result(timeout=START_S)


# --- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless chromium for the module."""
    if not CHROMIUM.exists():
        _unavailable(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
        raise
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                headless=True,
                timeout=LAUNCH_TIMEOUT_MS,
                proxy={"server": DEAD_PROXY, "bypass": ",".join(sorted(LOOPBACK))},
            )
        except Error as error:
            _unavailable(f"chromium at {CHROMIUM} does not start: {error.message[:500]}")
            raise
        try:
            yield launched
        finally:
            launched.close()


def open_context(browser: Browser, locale: str = "en-GB") -> BrowserContext:
    """A fresh browser context (no cookies, no storage: one person's session) whose
    Accept-Language is `locale`, with a timeout on every action, load and assertion. For a
    second person, or a page in another language, within one test; close it at the end."""
    from playwright.sync_api import expect

    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    ctx = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(ACTION_TIMEOUT_MS)
    ctx.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    return ctx


@pytest.fixture
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser context per test (English; see open_context for others)."""
    ctx = open_context(browser)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Page:
    """A page in the test's fresh context."""
    return browser_context.new_page()


# --- helpers ----------------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # never leaves the browser
    return (parts.hostname or "") in LOOPBACK


def no_external_requests(page: Page) -> list[str]:
    """From now on, every request of the page's context (pages, workers, WebSockets) whose
    host is not loopback is recorded and aborted. Returns the list it fills; assert it is
    empty at the end."""
    attempted: list[str] = []

    def on_request(route: Any) -> None:
        url = route.request.url
        if _is_loopback(url):
            route.continue_()
        else:
            attempted.append(url)
            route.abort("blockedbyclient")

    def on_websocket(ws: Any) -> None:
        if _is_loopback(ws.url):
            ws.connect_to_server()
        else:
            attempted.append(ws.url)
            ws.close()

    page.context.route("**/*", on_request)
    page.context.route_web_socket(re.compile(".*"), on_websocket)
    return attempted


def csp_violations(page: Page) -> list[str]:
    """Content-Security-Policy violations the page reports from now on (as console
    errors), for the test to assert there were none."""
    seen: list[str] = []

    def on_console(message: Any) -> None:
        text = message.text
        if message.type == "error" and "Content Security Policy" in text:
            seen.append(text)

    page.on("console", on_console)
    return seen


SERIOUS = ("serious", "critical")


def axe_violations(page: Page, context: Any = None) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page (or the part of it
    that `context` selects, in axe's own context syntax)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, context=context)
    violations = results.response.get("violations", [])
    return [v for v in violations if v.get("impact") in SERIOUS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [", ".join(node.get("target", [])) for node in v.get("nodes", [])[:5]]
        lines.append(f"{v['impact']}: {v['id']}: {v.get('help', '')} at {targets}")
    return "\n".join(lines)


def axe_check(page: Page, context: Any = None) -> None:
    """Fail, listing them, on axe-core violations of impact serious or critical."""
    serious = axe_violations(page, context)
    if serious:
        pytest.fail(
            f"axe: {len(serious)} serious or critical violation(s) on {page.url}:\n"
            + describe_violations(serious)
        )


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under artifacts/screenshots/ (kept by CI, ignored by git)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{safe}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
