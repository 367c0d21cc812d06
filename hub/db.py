"""The database: async engine, sessions, and schema migrations (Alembic)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class PoolLimits:
    """How many connections, how long a request may wait for one, how long a statement
    may run: past these a request fails cleanly rather than hanging."""

    size: int = 10
    overflow: int = 10
    timeout_s: float = 30.0
    statement_timeout_ms: int | None = None
    # PostgreSQL's plan_cache_mode for the hub's connections (None: the server's own).
    plan_cache_mode: str | None = None


def json_text(value: Any) -> str:
    """JSON columns as orjson writes them: the standard library's encoder was about a
    twentieth of the inbound connector's CPU (event data, outbox envelopes). Keys that are
    not strings are written as strings, as `json.dumps` did; a float that is not a number
    becomes null (`json.dumps` wrote `NaN`, which is not JSON)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, *, echo: bool = False, limits: PoolLimits | None = None) -> AsyncEngine:
    limits = limits or PoolLimits()
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_text}
    if url.startswith("sqlite"):
        wait = (limits.statement_timeout_ms or 30_000) / 1000
        kwargs["connect_args"] = {"timeout": wait}
    else:
        kwargs.update(
            pool_size=limits.size,
            max_overflow=limits.overflow,
            pool_timeout=limits.timeout_s,
            # No ping before each checkout: it is a round trip per request. After a database
            # restart the first use of a dropped connection fails and SQLAlchemy then
            # replaces every older connection; the compiled read path repeats its read.
            pool_pre_ping=False,
        )
        server_settings: dict[str, str] = {}
        if limits.statement_timeout_ms is not None:
            server_settings["statement_timeout"] = str(limits.statement_timeout_ms)
        if limits.plan_cache_mode is not None:
            server_settings["plan_cache_mode"] = limits.plan_cache_mode
        if server_settings:
            kwargs["connect_args"] = {"server_settings": server_settings}
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: an access-log entry is on disk before the response it describes leaves.
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

    return engine


class Database:
    """One engine and its session factory; owned by the app's lifespan."""

    def __init__(self, url: str, *, echo: bool = False, limits: PoolLimits | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, echo=echo, limits=limits)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as s:
            yield s

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` to `revision`. Safe to run on every start."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    # Alembic's env.py runs its own event loop; keep it off ours.
    await asyncio.to_thread(upgrade, url)
