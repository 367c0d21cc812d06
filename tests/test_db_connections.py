"""The hub's database connections carry the settings that bound and speed its statements
(hub/db.py): the statement timeout, and on PostgreSQL the plan cache mode, so that the
compiled reads are planned once per connection rather than at every execution."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from hub.config import Settings


def _show(hub: Any, *settings: str) -> list[str]:
    async def read() -> list[str]:
        async with hub.db.session() as s:
            return [str((await s.execute(text(f"SHOW {name}"))).scalar_one()) for name in settings]

    return hub.run(read())  # type: ignore[no-any-return]


def test_connections_carry_the_statement_timeout_and_plan_cache_mode(demo_hub: Any) -> None:
    defaults = Settings.model_fields
    timeout_ms = defaults["statement_timeout_ms"].default
    if demo_hub.backend == "postgresql":
        timeout, mode = _show(demo_hub, "statement_timeout", "plan_cache_mode")
        assert timeout == f"{timeout_ms // 1000}s"
        assert mode == defaults["pg_plan_cache_mode"].default == "force_generic_plan"
    else:

        async def busy_timeout() -> int:
            async with demo_hub.db.session() as s:
                return int((await s.execute(text("PRAGMA busy_timeout"))).scalar_one())

        # SQLite has no statement timeout: the longest wait for a lock stands for it.
        assert demo_hub.run(busy_timeout()) == timeout_ms
