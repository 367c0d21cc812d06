"""Test infrastructure: the same tests on SQLite and PostgreSQL, through the real ASGI app.

Each test gets a fresh database copied from a migrated template (a file copy on SQLite,
CREATE DATABASE ... TEMPLATE on PostgreSQL). PostgreSQL is required when
HUB_TEST_REQUIRE_PG=1 (CI), otherwise its tests are skipped if it is not running.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.crypto import Keyring
from hub.db import Database, upgrade
from hub.demo import DemoData, seed
from hub.demo_clients import DEMO_CLIENTS, ensure_demo_clients

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("HUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


def _pg_url(db: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{db}"


async def _pg_exec(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for s in statements:
            await conn.execute(s)
    finally:
        await conn.close()


def _pg_available() -> bool:
    try:
        asyncio.run(_pg_exec("SELECT 1"))
        return True
    except Exception:
        return False


class Templates:
    """One migrated template database per backend, made once per test session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None
        self.created: list[str] = []

    def new_url(self, backend: str) -> str:
        if backend == "sqlite":
            if self.sqlite_template is None:
                self.sqlite_template = self.tmp / "template.db"
                upgrade(f"sqlite+aiosqlite:///{self.sqlite_template}")
            target = self.tmp / f"{uuid.uuid4().hex}.db"
            shutil.copy(self.sqlite_template, target)
            return f"sqlite+aiosqlite:///{target}"
        if self.pg_template is None:
            name = f"hub_tmpl_{os.getpid()}"
            asyncio.run(_pg_exec(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"))
            upgrade(_pg_url(name))
            self.pg_template = name
        name = f"hub_t_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_exec(f"CREATE DATABASE {name} TEMPLATE {self.pg_template}"))
        self.created.append(name)
        return _pg_url(name)

    def drop(self, url: str) -> None:
        if url.startswith("postgresql"):
            name = url.rsplit("/", 1)[1]
            asyncio.run(_pg_exec(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            self.created.remove(name)

    def close(self) -> None:
        names = list(self.created) + ([self.pg_template] if self.pg_template else [])
        if names:
            asyncio.run(_pg_exec(*(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names)))


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    t = Templates(tmp_path_factory.mktemp("db"))
    yield t
    t.close()


_PG_OK: bool | None = None


def require_backend(backend: str) -> None:
    global _PG_OK
    if backend != "postgresql":
        return
    if _PG_OK is None:
        _PG_OK = _pg_available()
    if not _PG_OK:
        if os.environ.get("HUB_TEST_REQUIRE_PG") == "1":
            pytest.fail("PostgreSQL is required (HUB_TEST_REQUIRE_PG=1) but not reachable")
        pytest.skip("PostgreSQL not reachable")


@dataclass
class Hub:
    """A running hub app on a fresh database, with helpers to call it as any demo client."""

    backend: str
    url: str
    client: TestClient
    app: Any
    demo: DemoData | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)
    _listening: bool = False

    @property
    def db(self) -> Database:
        return self.app.state.hub.db  # type: ignore[no-any-return]

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the app's event loop (the TestClient's portal)."""
        portal = self.client.portal
        assert portal is not None

        async def call() -> Any:
            return await coro

        return portal.call(call)

    def token(self, client_id: str) -> str:
        if client_id not in self.tokens:
            self.tokens[client_id] = self.run(self.app.state.issuer.mint(client_id))
        return self.tokens[client_id]

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        token: str | None = None,
        purpose: str | None = None,
        role: str | None = None,
        status: int = 200,
    ) -> dict[str, Any]:
        headers = {}
        if as_ is not None:
            token = self.token(as_)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if purpose is not None:
            headers["Hub-Purpose"] = purpose
        if role is not None:
            headers["Hub-Role"] = role
        r = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert r.status_code == status, r.text
        return r.json()  # type: ignore[no-any-return]

    def ok(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """The data of a request that must succeed without errors."""
        body = self.gql(query, variables, **kw)
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    def error_code(self, query: str, variables: dict[str, Any] | None = None, **kw: Any) -> str:
        body = self.gql(query, variables, **kw)
        assert body.get("errors"), body
        return body["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]

    def count_statements(self) -> None:
        """Start (or restart) recording the SQL statements the app sends."""
        self.statements.clear()
        if self._listening:
            return
        self._listening = True

        @event.listens_for(self.db.engine.sync_engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            # The policy watcher, the auth registry's watcher and the outbox tail poll in the
            # background; they are not part of any request.
            if not any(s in statement for s in ("policy_state", "auth_state", "FROM outbox")):
                self.statements.append(statement)


def _start(templates: Templates, backend: str, tmp: Path, *, seeded: bool) -> Iterator[Hub]:
    require_backend(backend)
    url = templates.new_url(backend)
    settings = Settings(
        database_url=url,
        secret_dir=tmp / "secrets",
        policy_dir=ROOT / "policies",
        issuer_url="http://127.0.0.1:8000",
    )
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            hub = Hub(backend, url, client, app)
            if seeded:
                hub.demo = hub.run(_seed(hub))
            yield hub
    finally:
        templates.drop(url)


async def _seed(hub: Hub) -> DemoData:
    keyring: Keyring = hub.app.state.hub.keyring
    async with hub.db.session() as session:
        demo = await seed(session, keyring)
        await session.commit()
    await ensure_demo_clients(hub.db, demo)
    return demo


@pytest.fixture(params=BACKENDS)
def hub(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[Hub]:
    """A fresh hub with demo data, per test."""
    yield from _start(templates, request.param, tmp_path, seeded=True)


@pytest.fixture(scope="module", params=BACKENDS)
def demo_hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    """A hub with demo data shared by a module's read-only tests."""
    yield from _start(templates, request.param, tmp_path_factory.mktemp("hub"), seeded=True)


ALL_CLIENTS = [c.client_id for c in DEMO_CLIENTS]

SHIFTS_Q = """
query($first: Int, $after: String) {
  shifts(first: $first, after: $after) {
    edges { cursor node { id startsAt endsAt window status
      premises { id address city zone }
      sexWorker { id workingName identity { legalName birthDate nationality documentNumber } } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


# --- the run's summary: which backends ran, and why tests were skipped -----------------

# A test ran on a backend when it used it: SQLite or PostgreSQL by its `backend` parameter,
# the Kafka broker through the kafka_broker fixture (or the `kafka` marker), the OIDC peer
# and the browser when its module drives them (tests/peers/oidc.py, playwright).
SUMMARY_BACKENDS = ("SQLite", "PostgreSQL", "Kafka broker", "OIDC peer", "browser")
_USED: dict[str, set[str]] = {}


def _backends_of(item: pytest.Item) -> set[str]:
    used = set()
    callspec = getattr(item, "callspec", None)
    values = {str(v) for v in callspec.params.values()} if callspec is not None else set()
    if "sqlite" in values:
        used.add("SQLite")
    if "postgresql" in values:
        used.add("PostgreSQL")
    if "kafka_broker" in getattr(item, "fixturenames", ()) or item.get_closest_marker("kafka"):
        used.add("Kafka broker")
    module = getattr(item, "module", None)
    sources = (
        {getattr(v, "__module__", "") or "" for v in vars(module).values()} if module else set()
    )
    if "tests.peers.oidc" in sources:
        used.add("OIDC peer")
    if any(s.startswith("playwright") for s in sources):
        used.add("browser")
    return used


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _USED.update({item.nodeid: _backends_of(item) for item in items})


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    stats = terminalreporter.stats
    ran: dict[str, int] = dict.fromkeys(SUMMARY_BACKENDS, 0)
    skipped: dict[str, int] = dict.fromkeys(SUMMARY_BACKENDS, 0)
    for outcome in ("passed", "failed"):
        for report in stats.get(outcome, []):
            if getattr(report, "when", "call") == "call":
                for backend in _USED.get(report.nodeid, ()):
                    ran[backend] += 1
    reasons: dict[str, int] = {}
    for report in stats.get("skipped", []):
        reason = _skip_reason(report)
        reasons[reason] = reasons.get(reason, 0) + 1
        for backend in _USED.get(report.nodeid, ()):
            skipped[backend] += 1
    if not any(ran.values()) and not reasons:
        return
    terminalreporter.section("backends")
    for backend in SUMMARY_BACKENDS:
        line = f"{backend}: {ran[backend]} test{'' if ran[backend] == 1 else 's'} ran"
        if skipped[backend]:
            line += f", {skipped[backend]} skipped"
        terminalreporter.line(line)
    if reasons:
        terminalreporter.section("skipped, by reason")
        for reason, n in sorted(reasons.items(), key=lambda r: (-r[1], r[0])):
            terminalreporter.line(f"{n:5d}  {reason}")
