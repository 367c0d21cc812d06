"""Where a server's time goes on the bench query: cProfile in process, or py-spy stacks.

    python bench/profile_hub.py [--target hub|baseline] [--requests 200] [--concurrency 16]
                                [--database sqlite|postgresql] [--top 25]
                                [--shape shifts|premises|nested] [--time-only]
    python bench/profile_hub.py --stacks hub.txt    # a py-spy raw file from query.py --py-spy

Seeds the same data as bench/query.py, builds the app in this process and sends it
`--requests` bench queries (`--shape`: bench/side_by_side.py's shapes, the 50-shift query
by default) through httpx's ASGI transport, `--concurrency` at a time, under
cProfile (after a few unprofiled warm-up requests). Prints the self time grouped by what
the code does (JWT, policy, SQL building, ORM, driver, GraphQL execution, ...), then the
functions with the most self time. cProfile slows pure-Python code more than C code, so
read the shares, not the absolute times.

`--time-only` prints the CPU time of this process (the app and the httpx client driving
it) per request, and on PostgreSQL that of the database's backends (read from /proc).

`--stacks` summarises py-spy samples (see `bench/query.py --py-spy DIR`) of a server under
uvicorn and real load instead: each sample goes to the innermost frame that names a kind
of work, so time spent in a library on behalf of, say, token verification counts there.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import (  # noqa: E402
    BODY,
    PG_ADMIN,
    POLICE_CITY,
    PURPOSE,
    ROOT,
    discard,
    hub_settings,
    prepare,
)

# The kind of work of a code location (its path, matched with a leading "/"); the first
# match wins. A py-spy sample goes to its innermost frame that has a kind (so library time
# spent for, say, token verification counts there); cProfile self time to its own file.
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("JWT verification (joserfc, hub/auth)", ("/joserfc/", "/hub/auth/")),
    ("policy: grants, row filters, masks (hub/policy)", ("/hub/policy/",)),
    ("cursor sealing (hub/cursors)", ("/hub/cursors",)),
    ("identity decryption (hub/crypto, cryptography)", ("/hub/crypto", "/cryptography/")),
    ("SQL statement building and compiling (sqlalchemy.sql)", ("/sqlalchemy/sql/",)),
    ("ORM row loading, sessions (sqlalchemy.orm, sqlmodel, hub column types)",
     ("/sqlalchemy/orm/", "/sqlmodel/", "/hub/models/")),
    ("SQLAlchemy engine, pool, results, greenlets", ("/sqlalchemy/",)),
    ("database driver (aiosqlite, sqlite3, asyncpg)", ("/aiosqlite/", "/sqlite3/", "/asyncpg/")),
    ("hub read path: nodes, masks, loaders (hub/read, hub/schema)", ("/hub/",)),
    ("baseline resolvers and loaders (bench/baseline)", ("/baseline.py",)),
    ("JSON encoding and decoding", ("/json/",)),
    ("GraphQL parsing and validation (graphql-core)",
     ("/graphql/language/", "/graphql/validation/")),
    ("DataLoader (strawberry)", ("/strawberry/dataloader",)),
    ("GraphQL per-field execution (graphql-core, strawberry)", ("/graphql/", "/strawberry/")),
    ("HTTP (uvicorn, h11, starlette, httpx)",
     ("/uvicorn/", "/h11/", "/starlette/", "/httpx/", "/httpcore/")),
    ("asyncio event loop, threads",
     ("/asyncio/", "/selectors", "/threading", "/concurrent/", "/queue")),
]  # fmt: skip


# Named costs, inclusive: a sample counts for a cost when any of its frames contains one
# of the strings (function names as py-spy prints them, or paths).
NAMED: list[tuple[str, tuple[str, ...]]] = [
    ("JWT verification (TokenVerifier.verify)", ("TokenVerifier.verify",)),
    ("policy row filter and match columns (Grant.row_filter, .match_columns)",
     ("Grant.row_filter", "Grant.match_columns")),
    ("policy grant look-up and field masks (PolicySet.grant, Grant.mask, withheld)",
     ("PolicySet.grant", "Grant.mask", "NodeSpec.withheld")),
    ("SQL: statements, compiling, driver, ORM row loading (sqlalchemy, drivers)",
     ("sqlalchemy/", "sqlmodel/", "aiosqlite/", "asyncpg/", "sqlite3/")),
    ("GraphQL parsing and validation (graphql-core)",
     ("graphql/language/parser", "graphql/validation/")),
    ("JSON encoding of the response (encode_json)", ("encode_json",)),
    ("hub node building from rows (builder.build)", ("builder.<locals>.build",)),
    ("cursor sealing (CursorCodec.encode)", ("CursorCodec.encode",)),
    ("identity decryption (Keyring.decrypt)", ("Keyring.decrypt",)),
    ("DataLoader batches (strawberry.dataloader)", ("strawberry/dataloader",)),
    ("audit: access records and their group-committed writes (hub/audit)",
     ("hub/audit/", "Context.record", "Context.flush_audit")),
]  # fmt: skip


def kind_of(location: str) -> str | None:
    loc = "/" + location.replace(str(ROOT) + "/", "").lstrip("/")
    for name, needles in KINDS:
        if any(n in loc for n in needles):
            return name
    return None


def bucket(filename: str) -> str:
    return kind_of(filename) or "other (builtins, stdlib, typing, dataclasses, ...)"


def _location(frame: str) -> str:
    """`name (path/file.py:line)` -> `path/file.py`."""
    return frame.rpartition(" (")[2].rsplit(":", 1)[0]


def _is_own(frame: str) -> bool:
    loc = "/" + _location(frame).lstrip("/")
    return "site-packages" not in loc and ("/hub/" in loc or "/baseline.py" in loc)


def _function(frame: str) -> str:
    """`name (path/file.py:line)` -> `name (path/file.py)`."""
    name = frame.rpartition(" (")[0]
    where = _location(frame).replace(str(ROOT) + "/", "").split("site-packages/")[-1]
    return f"{name} ({where})"


def classify_stack(frames: list[str]) -> str:
    for frame in reversed(frames):
        found = kind_of(_location(frame))
        if found is not None:
            return found
    return "other"


def summarise_stacks(path: Path, top: int = 15) -> list[str]:
    """Lines summarising a py-spy raw (collapsed) stack file."""
    kinds: dict[str, int] = defaultdict(int)
    leaves: dict[str, int] = defaultdict(int)
    own: dict[str, int] = defaultdict(int)  # hub and baseline functions, callees included
    named: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        kinds[classify_stack(frames)] += n
        leaves[frames[-1].split("site-packages/")[-1]] += n
        for func in {_function(f) for f in frames if _is_own(f)}:
            own[func] += n
        for label, needles in NAMED:
            if any(needle in f for f in frames for needle in needles):
                named[label] += n
    if not total:
        return [f"{path.name}: no samples"]
    out = [f"{path.name}: {total} samples; by kind of work (innermost matching frame):"]
    for name, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
        out.append(f"  {n / total * 100:5.1f}%  {name}")
    out.append(f"{path.name}: named costs, inclusive (they overlap):")
    for label, _ in NAMED:
        out.append(f"  {named[label] / total * 100:5.1f}%  {label}")
    out.append(f"{path.name}: top {top} innermost frames:")
    for leaf, n in sorted(leaves.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {n / total * 100:5.1f}%  {leaf.replace(str(ROOT) + '/', '')}")
    out.append(f"{path.name}: top {top} hub/bench functions, inclusive (callees counted):")
    for func, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {n / total * 100:5.1f}%  {func}")
    return out


def build_app(target: str, database_url: str, secret_dir: Path) -> Any:
    if target == "hub":
        from hub.app import create_app

        return create_app(hub_settings(database_url, secret_dir))
    os.environ["BENCH_DATABASE_URL"] = database_url
    os.environ["BENCH_SECRET_DIR"] = str(secret_dir)
    os.environ["BENCH_CITY"] = POLICE_CITY
    from bench.baseline import create_app as baseline_app

    return baseline_app()


def backends_cpu(database: str | None) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving `database` (from /proc, so
    only with a local server; {} without PostgreSQL)."""
    if database is None:
        return {}
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if not cmdline.startswith(b"postgres: ") or f" {database} ".encode() not in cmdline:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


async def analyse(database: str) -> None:
    """ANALYZE the freshly seeded database: without statistics PostgreSQL plans the policy's
    joins blind (the 50-shift read touched about 24,000 buffers instead of about 500) until
    autovacuum gets to it, which a run of a few seconds does not wait for."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + database)
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def shape_body(name: str) -> bytes:
    """The hub's request body of one of bench/side_by_side.py's shapes."""
    if name == "shifts":
        return BODY
    from side_by_side import SHAPES

    shape = next(s for s in SHAPES if s.name == name)
    document = shape.hub_document or shape.document
    return json.dumps({"query": document, "variables": shape.variables}).encode()


async def run(
    app: Any,
    headers: dict[str, str],
    requests: int,
    concurrency: int,
    profile: bool = True,
    body: bytes = BODY,
    database: str | None = None,
) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
    ):

        async def one() -> None:
            r = await client.post("/graphql", content=body, headers=headers)
            if r.status_code != 200 or b'"errors"' in r.content:
                raise RuntimeError(r.text[:300])

        for _ in range(10):  # warm-up: caches, connection pool, first compilations
            await one()
        remaining = requests

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await one()

        profiler = cProfile.Profile() if profile else None
        pg0 = backends_cpu(database)
        t0, cpu0 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if profiler is not None:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        pg = sum(t - pg0.get(pid, 0.0) for pid, t in backends_cpu(database).items())
        return profiler, elapsed, cpu, pg


def report(profiler: cProfile.Profile, elapsed: float, requests: int, top: int) -> None:
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    by_bucket: dict[str, float] = defaultdict(float)
    for (filename, _line, _func), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_bucket[bucket(filename)] += tottime
    print(f"profiled: {requests} requests in {elapsed:.2f} s under cProfile")
    print(f"profiled ms/request: {elapsed * 1000 / requests:.2f}")
    print("self time by kind of work:")
    for name, t in sorted(by_bucket.items(), key=lambda kv: -kv[1]):
        print(f"  {t / total * 100:5.1f}%  {t * 1000 / requests:7.2f} ms/req  {name}")
    print(f"top {top} functions by self time:")
    rows_all = sorted(raw.items(), key=lambda kv: -kv[1][2])
    for (filename, line, func), (_cc, nc, tottime, _cum, _callers) in rows_all[:top]:
        where = filename.replace(str(ROOT) + "/", "")
        where = where.split("site-packages/")[-1]
        print(
            f"  {tottime / total * 100:5.1f}%  {nc / requests:8.1f} calls/req"
            f"  {func} ({where}:{line})"
        )
    print(f"hub and bench functions, top {top} by self time:")
    own = [kv for kv in rows_all if "/hub/" in kv[0][0] or "/bench/baseline" in kv[0][0]]
    for (filename, line, func), (_cc, nc, tottime, _cum, _callers) in own[:top]:
        where = filename.replace(str(ROOT) + "/", "")
        print(
            f"  {tottime / total * 100:5.1f}%  {nc / requests:8.1f} calls/req"
            f"  {func} ({where}:{line})"
        )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", choices=("hub", "baseline"), default="hub")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--scale", type=int, default=6)
    p.add_argument(
        "--shape", choices=("shifts", "premises", "nested"), default="shifts", help="query"
    )
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--save", type=Path, help="also write the raw profile (pstats) here")
    p.add_argument(
        "--time-only", action="store_true", help="no profiler: CPU ms per request, for A/B"
    )
    p.add_argument("--stacks", type=Path, nargs="+", help="summarise py-spy raw files instead")
    args = p.parse_args()
    if args.stacks:
        for path in args.stacks:
            print(*summarise_stacks(path, args.top), sep="\n")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="hub-profile-"))
    prepared = None
    try:
        prepared = prepare(args.database, tmp, args.scale)
        if prepared.pg_database is not None:
            asyncio.run(analyse(prepared.pg_database))
        app = build_app(args.target, prepared.database_url, prepared.secret_dir)
        headers = {"Content-Type": "application/json"}
        if args.target == "hub":
            headers |= {"Authorization": f"Bearer {prepared.token}", "Hub-Purpose": PURPOSE}
        profiler, elapsed, cpu, pg_cpu = asyncio.run(
            run(
                app,
                headers,
                args.requests,
                args.concurrency,
                not args.time_only,
                shape_body(args.shape),
                prepared.pg_database,
            )
        )
        print(f"target: {args.target} on {args.database}, shape {args.shape}")
        if profiler is None:
            print(f"in-process wall ms/request: {elapsed * 1000 / args.requests:.2f}")
            print(f"in-process cpu ms/request: {cpu * 1000 / args.requests:.2f}")
            if prepared.pg_database is not None:
                print(f"postgresql backends cpu ms/request: {pg_cpu * 1000 / args.requests:.2f}")
            return 0
        report(profiler, elapsed, args.requests, args.top)
        if args.save:
            profiler.dump_stats(args.save)
        return 0
    finally:
        if prepared is not None:
            discard(prepared)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
