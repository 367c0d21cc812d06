"""Throughput and latency of the hub against a plain-strawberry baseline, on one query.

    python bench/query.py [--seconds 10] [--concurrency 16] [--database sqlite|postgresql]

Seeds scaled demo data (scale 6: over 2,000 shifts) into a temporary SQLite file or a
fresh PostgreSQL database, starts the hub (bench-unaware: policy and token checks on) and
bench/baseline.py (no policy, no auth) each under uvicorn in its own process on a free
loopback port, checks that both answer the police query with the same 50 rows, then
drives each in turn with concurrent keep-alive HTTP/1.1 clients for a fixed time after a
warm-up. Prints one line per figure, then stops the servers it started and removes the
temporary files and database.

The load generator runs in this process, on the same cores as the servers: the figures
are for comparing the two servers within one run (the ratio), not absolute capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
ISSUER_URL = "http://127.0.0.1:8000"  # what the hub's tokens say; nothing listens there
POLICE_CLIENT = "demo-police-antwerp"
# The clients the benchmarks drive as fast as they can: the hub's per-client rate limit is
# lifted for them (HUB_RATE_LIMITS), as for any benchmark's client.
BENCH_CLIENTS = (POLICE_CLIENT, "demo-enforcement-antwerp")
BENCH_RATE_LIMITS = {client: "off" for client in BENCH_CLIENTS}
POLICE_CITY = "Antwerpen"
PURPOSE = "identity_validation"
ROWS = 50
READY_TIMEOUT_S = 60.0

QUERY = (
    "query Bench($first: Int) { shifts(first: $first) { edges { node {"
    " id startsAt endsAt window status"
    " premises { id address city zone }"
    " sexWorker { id workingName identity { legalName birthDate nationality documentNumber } }"
    " } } } }"
)


# --- preparing the data ------------------------------------------------------------------


@dataclass
class Prepared:
    database_url: str
    secret_dir: Path
    token: str
    shifts: int
    city_shifts: int
    pg_database: str | None = None


async def _pg_admin(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for s in statements:
            await conn.execute(s)
    finally:
        await conn.close()


async def _pg_admin_on(database: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN.rsplit("/", 1)[0] + "/" + database)
    try:
        for s in statements:
            await conn.execute(s)
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def _seed(database_url: str, secret_dir: Path, scale: int) -> tuple[str, int, int]:
    from sqlalchemy import func, select

    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.crypto import Keyring
    from hub.db import Database
    from hub.demo import seed
    from hub.demo_clients import ensure_demo_clients
    from hub.models import Premises, ShiftRegistration

    settings = hub_settings(database_url, secret_dir)
    db = Database(database_url)
    try:
        async with db.session() as session:
            demo = await seed(session, Keyring.from_secret_dir(secret_dir), scale=scale)
            await session.commit()
        await _everyone_at_work(db)
        await ensure_demo_clients(db, demo)
        issuer = EmbeddedIssuer(settings, db, SigningKey.from_secret_dir(secret_dir))
        token = await issuer.mint(POLICE_CLIENT)
        async with db.session() as session:
            total = (await session.execute(select(func.count(ShiftRegistration.id)))).scalar_one()
            in_city = (
                await session.execute(
                    select(func.count(ShiftRegistration.id))
                    .join(Premises, Premises.id == ShiftRegistration.premises_id)
                    .where(Premises.city == POLICE_CITY)
                )
            ).scalar_one()
    finally:
        await db.dispose()
    return token, int(total), int(in_city)


async def _everyone_at_work(db: Any) -> None:
    """A validation night: every worker of the police's city has a shift in progress now.
    The police see an identity only then (the hub's `identity` guardrail), so without this
    the bench query would decrypt one or two identities instead of 50."""
    from datetime import timedelta

    from sqlalchemy import select

    from hub.models import Premises, SexWorker, ShiftRegistration
    from hub.models.base import utcnow

    now = utcnow().replace(second=0, microsecond=0)
    async with db.session() as session:
        windows = (
            (
                await session.execute(
                    select(Premises.id).where(Premises.city == POLICE_CITY).order_by(Premises.id)
                )
            )
            .scalars()
            .all()
        )
        workers = (
            (
                await session.execute(
                    select(SexWorker.id).where(SexWorker.city == POLICE_CITY).order_by(SexWorker.id)
                )
            )
            .scalars()
            .all()
        )
        for i, worker in enumerate(workers):
            session.add(
                ShiftRegistration(
                    premises_id=windows[i % len(windows)],
                    window=1 + i // len(windows),
                    sex_worker_id=worker,
                    starts_at=now - timedelta(hours=1),
                    ends_at=now + timedelta(hours=6),
                    status="registered",
                )
            )
        await session.commit()


def hub_settings(database_url: str, secret_dir: Path) -> Any:
    from hub.config import Settings

    return Settings(
        database_url=database_url,
        secret_dir=secret_dir,
        policy_dir=ROOT / "policies",
        issuer_url=ISSUER_URL,
        rate_limits=BENCH_RATE_LIMITS,
    )


def prepare(database: str, tmp: Path, scale: int) -> Prepared:
    """Create, migrate and seed a database; mint a police token. Drop it with `discard`."""
    from hub.db import upgrade

    secret_dir = tmp / "secrets"
    pg_database = None
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    else:
        pg_database = f"hub_bench_{uuid.uuid4().hex[:12]}"
        asyncio.run(_pg_admin(f"CREATE DATABASE {pg_database}"))
        url = _pg_url(pg_database)
    prepared = Prepared(url, secret_dir, "", 0, 0, pg_database)
    try:
        upgrade(url)
        prepared.token, prepared.shifts, prepared.city_shifts = asyncio.run(
            _seed(url, secret_dir, scale)
        )
        if pg_database is not None:
            # Fresh tables have no statistics: without them the 50-shift read touched about
            # 24,000 buffers instead of about 500 until autovacuum came by mid-run.
            asyncio.run(_pg_admin_on(pg_database, "ANALYZE"))
    except BaseException:
        discard(prepared)
        raise
    return prepared


def discard(prepared: Prepared) -> None:
    if prepared.pg_database is not None:
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {prepared.pg_database} WITH (FORCE)"))
        prepared.pg_database = None


# --- the servers under test ----------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path
    headers: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(name: str, app: str, env: dict[str, str], tmp: Path) -> Server:
    port = _free_port()
    log = tmp / f"{name}.log"
    cmd = [
        sys.executable, "-m", "uvicorn", app, "--factory",
        "--app-dir", str(ROOT),
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    return Server(name, proc, f"http://127.0.0.1:{port}", log)


def wait_ready(server: Server, timeout_s: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(server.base_url + "/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout_s:.0f} s:\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    """Stop the one process this script started (by its PID), killing it if it lingers."""
    proc = server.proc
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "BENCH_"))}


def hub_env(prepared: Prepared, read_path: str = "compiled") -> dict[str, str]:
    return _clean_env() | {
        "HUB_READ_PATH": read_path,
        "HUB_DATABASE_URL": prepared.database_url,
        "HUB_SECRET_DIR": str(prepared.secret_dir),
        "HUB_POLICY_DIR": str(ROOT / "policies"),
        "HUB_ISSUER_URL": ISSUER_URL,
        "HUB_RATE_LIMITS": json.dumps(BENCH_RATE_LIMITS),
    }


def baseline_env(prepared: Prepared) -> dict[str, str]:
    return _clean_env() | {
        "BENCH_DATABASE_URL": prepared.database_url,
        "BENCH_SECRET_DIR": str(prepared.secret_dir),
        "BENCH_CITY": POLICE_CITY,
    }


# --- checking and driving ------------------------------------------------------------------

BODY = json.dumps({"query": QUERY, "variables": {"first": ROWS}}).encode()


def fetch_rows(server: Server) -> list[Any]:
    headers = {"Content-Type": "application/json", **server.headers}
    r = httpx.post(server.base_url + "/graphql", content=BODY, headers=headers, timeout=30)
    body = r.json()
    if r.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"{server.name} answered {r.status_code}: {r.text[:500]}")
    edges: list[Any] = body["data"]["shifts"]["edges"]
    return edges


def open_ids(secret_dir: Path, token: str) -> Any:
    """A function that unseals the ids in a hub answer (they leave sealed for the caller,
    hub/ids.py), so the answer compares with a server that shows record ids as stored."""
    from hub.crypto import load_or_create_key
    from hub.ids import IdSealer
    from hub.policy.principal import Principal

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    audience = Principal(
        subject=claims["sub"],
        org_id=claims["org"],
        org_kind="",
        city=None,
        roles=frozenset(claims.get("roles", ())),
        purposes=frozenset(),
        sex_worker_id=claims.get("sex_worker_id"),
    ).audience
    seal = IdSealer(load_or_create_key(secret_dir / "id-seal.key")).for_audience(audience)

    def opened(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: opened(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [opened(v, key) for v in value]
        if isinstance(value, str) and (key == "id" or key.endswith("Id")) and len(value) == 22:
            return seal.unseal(value)
        return value

    return opened


def check_same_rows(hub: Server, baseline: Server, opened: Any = None) -> int:
    a, b = fetch_rows(hub), fetch_rows(baseline)
    if opened is not None:
        a = opened(a)
    if len(a) != ROWS or a != b:
        diff = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        raise RuntimeError(
            f"hub and baseline disagree: {len(a)} vs {len(b)} rows, first difference at {diff}"
        )
    return sum(1 for e in a if (e["node"]["sexWorker"] or {}).get("identity"))


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    name: str
    latencies: list[float]
    elapsed: float
    errors: int
    server_cpu: float
    client_cpu: float

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed

    @property
    def cpu_per_req(self) -> float:
        return self.server_cpu / max(1, len(self.latencies))

    def pct(self, p: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(p * len(xs)))] if xs else float("nan")


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("--py-spy needs py-spy (pip install -e '.[dev]')")
    return found


async def drive(
    server: Server,
    concurrency: int,
    warmup_s: float,
    seconds: float,
    spy_out: Path | None = None,
) -> Result:
    """N workers sharing one keep-alive client; counts requests completed in the window."""
    headers = {"Content-Type": "application/json", **server.headers}
    url = server.base_url + "/graphql"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    t_start = loop.time() + warmup_s
    t_end = t_start + seconds

    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = loop.time()
                if t0 >= t_end:
                    return
                r = await client.post(url, content=BODY, headers=headers)
                t1 = loop.time()
                if r.status_code != 200 or b'"errors"' in r.content:
                    errors += 1
                elif t_start <= t1 < t_end:
                    latencies.append(t1 - t0)

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(max(0.0, t_start - loop.time()))
        spy = None
        if spy_out is not None:
            spy = await asyncio.create_subprocess_exec(
                _py_spy(), "record", "--pid", str(server.proc.pid),
                "--duration", str(max(1, int(seconds))), "--rate", "100", "--gil",
                "--format", "raw", "--output", str(spy_out),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        cpu0, own0 = _cpu_s(server.proc.pid), time.process_time()
        await asyncio.sleep(max(0.0, t_end - loop.time()))
        cpu1, own1 = _cpu_s(server.proc.pid), time.process_time()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        if spy is not None:
            try:
                await asyncio.wait_for(spy.wait(), timeout=30)
            except TimeoutError:
                spy.kill()
                await spy.wait()
    return Result(server.name, latencies, seconds, errors, cpu1 - cpu0, own1 - own0)


# --- output -------------------------------------------------------------------------------


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used since boot (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def machine_lines() -> list[str]:
    import importlib.metadata
    import importlib.util

    cores = os.cpu_count() or 0
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return [
        f"machine cores: {cores} (the load generator shares them with the server under test)",
        f"machine python: {platform.python_implementation()} {platform.python_version()}",
        f"machine platform: {platform.platform()}",
        f"server: uvicorn {importlib.metadata.version('uvicorn')} ({loop} loop, {http}),"
        f" strawberry-graphql {importlib.metadata.version('strawberry-graphql')},"
        f" graphql-core {importlib.metadata.version('graphql-core')},"
        f" SQLAlchemy {importlib.metadata.version('sqlalchemy')}",
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
    ]


def result_lines(r: Result) -> list[str]:
    n = max(1, len(r.latencies))
    return [
        f"{r.name} req/s: {r.rps:.1f}",
        f"{r.name} p50 ms: {r.pct(0.50) * 1000:.1f}",
        f"{r.name} p99 ms: {r.pct(0.99) * 1000:.1f}",
        f"{r.name} requests: {len(r.latencies)} ({r.errors} errors)",
        f"{r.name} server cpu ms/req: {r.server_cpu * 1000 / n:.2f}",
        f"{r.name} server cpu used: {r.server_cpu / r.elapsed:.2f} cores",
        f"{r.name} load generator cpu ms/req: {r.client_cpu * 1000 / n:.2f}",
    ]


def merge(results: list[Result]) -> Result:
    return Result(
        results[0].name,
        [x for r in results for x in r.latencies],
        sum(r.elapsed for r in results),
        sum(r.errors for r in results),
        sum(r.server_cpu for r in results),
        sum(r.client_cpu for r in results),
    )


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measured time per server")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--rounds", type=int, default=1, help="alternate hub/baseline this often")
    p.add_argument("--scale", type=int, default=6, help="demo data scale (6: >2,000 shifts)")
    p.add_argument(
        "--read-path", choices=("compiled", "generic"), default="compiled", help="HUB_READ_PATH"
    )
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample each server with py-spy during its measured time; stacks go to DIR",
    )
    args = p.parse_args(argv)
    if not (0 < args.seconds <= 600 and 0 <= args.warmup <= 60):
        p.error("--seconds must be in (0, 600] and --warmup in [0, 60]")
    if not (1 <= args.concurrency <= 256 and 1 <= args.rounds <= 10 and args.scale >= 1):
        p.error("--concurrency 1..256, --rounds 1..10, --scale >= 1")
    return args


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Let SIGTERM run the clean-up below, as Ctrl-C does."""

    def handler(_signum: int, _frame: Any) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    servers: list[Server] = []
    prepared: Prepared | None = None
    with _sigterm_as_exit():
        try:
            print(*machine_lines(), sep="\n", flush=True)
            prepared = prepare(args.database, tmp, args.scale)
            print(
                f"data: {args.database}, demo scale {args.scale}, {prepared.shifts} shifts"
                f" ({prepared.city_shifts} in {POLICE_CITY})",
                flush=True,
            )
            hub = start_server("hub", "hub.app:create_app", hub_env(prepared, args.read_path), tmp)
            servers.append(hub)
            hub.headers = {"Authorization": f"Bearer {prepared.token}", "Hub-Purpose": PURPOSE}
            baseline = start_server(
                "baseline", "bench.baseline:create_app", baseline_env(prepared), tmp
            )
            servers.append(baseline)
            wait_ready(hub)
            wait_ready(baseline)
            identities = check_same_rows(
                hub, baseline, open_ids(prepared.secret_dir, prepared.token)
            )
            print(
                f"check: hub and baseline return the same {ROWS} shifts"
                f" ({identities} with a decrypted identity)",
                flush=True,
            )
            print(
                f"load: {args.concurrency} concurrent clients on one httpx.AsyncClient"
                f" (HTTP/1.1 keep-alive), {args.warmup:g} s warm-up, {args.seconds:g} s measured"
                f" per server, {args.rounds} round(s), one uvicorn worker per server",
                flush=True,
            )
            runs: dict[str, list[Result]] = {"hub": [], "baseline": []}
            pids = [s.proc.pid for s in servers]
            busy0, t0 = machine_busy_s(), time.monotonic()
            ours0 = sum(_cpu_s(pid) for pid in pids) + time.process_time()
            for i in range(args.rounds):
                order = (hub, baseline) if i % 2 == 0 else (baseline, hub)
                for server in order:
                    spy_out = None
                    if args.py_spy is not None:
                        args.py_spy.mkdir(parents=True, exist_ok=True)
                        spy_out = args.py_spy / f"{server.name}-{i + 1}.txt"
                    r = asyncio.run(
                        drive(server, args.concurrency, args.warmup, args.seconds, spy_out)
                    )
                    if args.rounds > 1:
                        print(f"round {i + 1} {r.name} req/s: {r.rps:.1f}", flush=True)
                    runs[server.name].append(r)
            h, b = merge(runs["hub"]), merge(runs["baseline"])
            print(*result_lines(h), *result_lines(b), sep="\n")
            ours = sum(_cpu_s(pid) for pid in pids) + time.process_time() - ours0
            others = (machine_busy_s() - busy0 - ours) / (time.monotonic() - t0)
            print(f"ratio hub/baseline req/s: {h.rps / b.rps:.2f}")
            print(f"ratio hub/baseline p50: {h.pct(0.5) / b.pct(0.5):.2f}")
            print(f"ratio hub/baseline server cpu/req: {h.cpu_per_req / b.cpu_per_req:.2f}")
            print(
                f"machine load from other processes during the runs: {max(0.0, others):.2f}"
                " cores (includes the PostgreSQL server, when used)"
            )
            if args.py_spy is not None:
                from profile_hub import summarise_stacks

                print("(figures above are perturbed by py-spy sampling)")
                for path in sorted(args.py_spy.glob("*.txt")):
                    print(*summarise_stacks(path), sep="\n")
            return 1 if h.errors or b.errors else 0
        finally:
            for server in servers:
                stop_server(server)
            if prepared is not None:
                discard(prepared)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
