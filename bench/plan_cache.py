"""What PostgreSQL's plan cache mode costs the hub's compiled read, statement alone.

    python bench/plan_cache.py [--executions 300] [--rounds 3] [--scale 6]

Seeds the bench data (bench/query.py) into a fresh PostgreSQL database and analyses it,
sends the police query once through the hub in this process to capture the compiled read's
SQL and parameters, then executes that statement as a prepared statement on one asyncpg
connection under each `plan_cache_mode` (auto, force_generic_plan, force_custom_plan), in
alternating rounds, and prints the milliseconds per execution (planning included, as a
server pays them). Drops the database after.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import BODY, PURPOSE, discard, hub_settings, prepare  # noqa: E402

MODES = ("auto", "force_generic_plan", "force_custom_plan")


async def capture(database_url: str, secret_dir: Path, token: str) -> tuple[str, tuple[Any, ...]]:
    """The compiled read's SQL (asyncpg's $n form) and parameters for the police query."""
    from hub.app import create_app

    app = create_app(hub_settings(database_url, secret_dir))
    seen: list[tuple[str, tuple[Any, ...]]] = []
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]

        @event.listens_for(app.state.hub.db.engine.sync_engine, "before_cursor_execute")
        def _keep(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.lstrip().startswith("SELECT") and "shift_registration AS t0" in statement:
                seen.append((statement, tuple(params)))

        headers = {"Authorization": f"Bearer {token}", "Hub-Purpose": PURPOSE}
        headers["Content-Type"] = "application/json"
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            r = await client.post("/graphql", content=BODY, headers=headers)
            r.raise_for_status()
    if not seen:
        raise SystemExit("the hub sent no compiled read of shift_registration")
    return seen[-1]


async def per_execution_ms(dsn: str, mode: str, sql: str, params: tuple[Any, ...], n: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"SET plan_cache_mode = {mode}")
        statement = await conn.prepare(sql)
        for _ in range(10):  # past PostgreSQL's five custom plans before it may choose
            await statement.fetch(*params)
        started = time.perf_counter()
        for _ in range(n):
            await statement.fetch(*params)
        return (time.perf_counter() - started) * 1000 / n
    finally:
        await conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--executions", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--scale", type=int, default=6)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hub-plan-cache-"))
    prepared = None
    try:
        prepared = prepare("postgresql", tmp, args.scale)
        dsn = prepared.database_url.replace("postgresql+asyncpg://", "postgresql://")

        async def analyse() -> None:
            conn = await asyncpg.connect(dsn)
            await conn.execute("ANALYZE")
            await conn.close()

        asyncio.run(analyse())
        sql, params = asyncio.run(
            capture(prepared.database_url, prepared.secret_dir, prepared.token)
        )
        results: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                ms = asyncio.run(per_execution_ms(dsn, mode, sql, params, args.executions))
                results[mode].append(ms)
        for mode in MODES:
            runs = ", ".join(f"{ms:.2f}" for ms in results[mode])
            print(f"{mode}: {min(results[mode]):.2f} ms per execution (rounds: {runs})")
        return 0
    finally:
        if prepared is not None:
            discard(prepared)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
