"""Test infrastructure: the same tests on SQLite and PostgreSQL, through the real ASGI app.

Each test gets a fresh database copied from a migrated template (a file copy on SQLite,
CREATE DATABASE ... TEMPLATE on PostgreSQL). PostgreSQL is required when
HUB_TEST_REQUIRE_PG=1 (CI), otherwise its tests are skipped if it is not running.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
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
from hub.ids import IdSealer
from hub.policy.principal import Principal

# The browser tests' fixtures (tests/browser.py): `served_hub`, `browser`, `browser_context`
# and `page`.
from tests.browser import browser, browser_context, page, served_hub  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
# Many apps start and stop in one test process: freezing each one's objects at start-up
# (hub/app.py, freeze_startup_objects) would keep them all alive. tests/test_startup.py
# checks the setting's effect in a process of its own.
os.environ.setdefault("HUB_GC_FREEZE", "false")
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
        # Per backend, a database seeded once with the demo data (its identities encrypted
        # under `seed_secrets`' master key), copied for every test that wants demo data.
        self.seed_secrets = tmp / "seed-secrets"
        self._seeded: dict[str, tuple[str, DemoData]] = {}

    def seeded_url(self, backend: str) -> tuple[str, DemoData]:
        """A fresh copy of the seeded database, and what the seed made."""
        if backend not in self._seeded:
            url = self.new_url(backend)
            demo = asyncio.run(_seed_database(url, self.seed_secrets))
            if backend == "postgresql":
                self.created.remove(url.rsplit("/", 1)[1])  # a template now: dropped last
            self._seeded[backend] = (url, demo)
        source, demo = self._seeded[backend]
        if backend == "sqlite":
            target = self.tmp / f"{uuid.uuid4().hex}.db"
            shutil.copy(source.removeprefix("sqlite+aiosqlite:///"), target)
            return f"sqlite+aiosqlite:///{target}", demo
        name = f"hub_t_{uuid.uuid4().hex[:12]}"
        template = source.rsplit("/", 1)[1]
        asyncio.run(_pg_exec(f"CREATE DATABASE {name} TEMPLATE {template}"))
        self.created.append(name)
        return _pg_url(name), demo

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
        seeded = [
            u.rsplit("/", 1)[1] for u, _ in self._seeded.values() if u.startswith("postgresql")
        ]
        names = list(self.created) + seeded + ([self.pg_template] if self.pg_template else [])
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
    _audiences: dict[str, str] = field(default_factory=dict)
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

    def audience(self, client_id: str) -> str:
        """Whom ids are sealed for when `client_id` asks (hub/ids.py): its organisation,
        or the worker for a sex worker's own client. Read off the client's token, so that
        no test query runs behind the app's back."""
        if client_id not in self._audiences:
            self._audiences[client_id] = _audience_of(self.token(client_id))
        return self._audiences[client_id]

    def seal(self, raw: str | None, as_: str) -> str | None:
        """A record id as the client `as_` holds it (ids leave the hub sealed per audience)."""
        if raw is None:
            return None
        ids: IdSealer = self.app.state.hub.ids
        return ids.for_audience(self.audience(as_)).seal(raw)

    def unseal(self, token: str | None, as_: str) -> str | None:
        """The record id behind an id the client `as_` was given."""
        if token is None:
            return None
        ids: IdSealer = self.app.state.hub.ids
        return ids.for_audience(self.audience(as_)).unseal(token)

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        as_: str | None = None,
        token: str | None = None,
        purpose: str | None = None,
        role: str | None = None,
        case: str | None = None,
        status: int = 200,
        sealed: bool = False,
    ) -> dict[str, Any]:
        """A GraphQL request as client `as_` (or with a raw `token`).

        Ids leave the hub sealed for each audience (hub/ids.py). So that tests can speak
        of records by their ids in the database, a request made `as_` a client has every
        record id in its variables sealed for that client, and every id in its answer
        unsealed again; an id field that comes back unsealed (a raw record id) fails the
        test, so a leak cannot hide behind this translation. With `sealed=True` the
        request and the answer are left exactly as sent and received.
        """
        headers = {}
        if as_ is None and token is not None and not sealed:
            # A token of a client the test registered itself.
            as_ = _client_of(token)
            if as_ is not None:
                self.tokens.setdefault(as_, token)
        translate = as_ is not None and not sealed
        if translate and variables:
            assert as_ is not None
            variables = _seal_ids(variables, lambda raw: self.seal(raw, as_=as_))
        if as_ is not None and token is None:
            token = self.token(as_)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if purpose is not None:
            headers["Hub-Purpose"] = purpose
        if role is not None:
            headers["Hub-Role"] = role
        if case is not None:
            headers["Hub-Case"] = case
        r = self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert r.status_code == status, r.text
        body: dict[str, Any] = r.json()
        if translate and body.get("data"):
            assert as_ is not None
            body["data"] = _unseal_ids(body["data"], lambda t: self.unseal(t, as_=as_))
        return body

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
        # The registry of clients reloads in the background after a change (the demo's
        # clients were registered after start): settle it first, so it is not counted.
        self.run(self.app.state.registry.refresh())
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


def _claims(token: str) -> dict[str, Any]:
    """A token's claims, read without verifying (the test made the token)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _client_of(token: str) -> str | None:
    client = _claims(token).get("client_id")
    return client if isinstance(client, str) else None


def _audience_of(token: str) -> str:
    claims = _claims(token)
    return Principal(
        subject=str(claims.get("sub")),
        org_id=str(claims.get("org")),
        org_kind="",
        city=None,
        roles=frozenset(claims.get("roles") or ()),
        purposes=frozenset(),
        sex_worker_id=claims.get("sex_worker_id"),
    ).audience


_RAW_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_SEALED_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _seal_ids(value: Any, seal: Any) -> Any:
    """Every record id (a UUID) in GraphQL variables, sealed."""
    if isinstance(value, str) and _RAW_ID.match(value):
        return seal(value)
    if isinstance(value, list):
        return [_seal_ids(v, seal) for v in value]
    if isinstance(value, dict):
        return {k: _seal_ids(v, seal) for k, v in value.items()}
    return value


def _is_id_key(key: str) -> bool:
    return key in ("id", "recordIds", "changeId") or key.endswith("Id")


def _unseal_ids(value: Any, unseal: Any, key: str = "") -> Any:
    """Every id field of an answer unsealed; a raw record id where a sealed one belongs
    fails at once."""
    if isinstance(value, dict):
        return {k: _unseal_ids(v, unseal, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_unseal_ids(v, unseal, key) for v in value]
    if isinstance(value, str) and _is_id_key(key):
        assert not _RAW_ID.match(value), f"{key} left the hub unsealed"
        if _SEALED_ID.match(value):
            return unseal(value)
    return value


async def _seed_database(url: str, secret_dir: Path) -> DemoData:
    """Seed the demo data into `url`, once per session and backend; then let it go whole
    (checkpointed, every connection closed) so it can be copied."""
    db = Database(url)
    try:
        async with db.session() as session:
            demo = await seed(session, Keyring.from_secret_dir(secret_dir))
            await session.commit()
        await ensure_demo_clients(db, demo)
        if url.startswith("sqlite"):
            async with db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.dispose()
    return demo


def _start(templates: Templates, backend: str, tmp: Path, *, seeded: bool) -> Iterator[Hub]:
    require_backend(backend)
    demo: DemoData | None = None
    if seeded:
        url, demo = templates.seeded_url(backend)
        # The copy's identities open with the seed's master key.
        (tmp / "secrets").mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.copy(templates.seed_secrets / "master.key", tmp / "secrets" / "master.key")
    else:
        url = templates.new_url(backend)
    settings = Settings(
        database_url=url,
        secret_dir=tmp / "secrets",
        policy_dir=ROOT / "policies",
        issuer_url="http://127.0.0.1:8000",
        # Tests call as fast as they run; tests/test_limits.py sets the rates it tests.
        rate_limit_per_s=0,
    )
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            hub = Hub(backend, url, client, app, demo=demo)
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
    # The browser: a test that has chromium (tests/browser.py's fixtures), or whose module
    # starts playwright itself. A plain HTTP test beside them in a module is not counted.
    fixtures = set(getattr(item, "fixturenames", ()))
    starts = {"sync_playwright", "async_playwright"} & set(vars(module) if module else ())
    if fixtures & {"browser", "browser_context", "page"} or starts:
        used.add("browser")
    return used


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    _USED.update({item.nodeid: _backends_of(item) for item in items})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    # The backends travel on the report: with pytest-xdist the summary is written by the
    # controller, which collects nothing itself.
    report = yield
    report.user_properties.append(("hub_backends", sorted(_USED.get(item.nodeid, ()))))
    return report


def _used_by(report: pytest.TestReport) -> list[str]:
    for name, value in report.user_properties:
        if name == "hub_backends":
            return list(value)
    return sorted(_USED.get(report.nodeid, ()))


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
                for backend in _used_by(report):
                    ran[backend] += 1
    reasons: dict[str, int] = {}
    for report in stats.get("skipped", []):
        reason = _skip_reason(report)
        reasons[reason] = reasons.get(reason, 0) + 1
        for backend in _used_by(report):
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
