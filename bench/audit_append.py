"""The cost of the Merkle tree on the access log's append path: before vs. after.

    python bench/audit_append.py [--database sqlite|postgresql] [--requests N]
                                 [--concurrency C] [--rounds R] [--before REF]

"before" is the hub at git ref REF (default 315d080, the last commit with the hash chain),
exported with `git archive`; "after" is this work tree. Each run is its own process on a
fresh database migrated by that variant's own migrations, and drives that variant's real
`AuditLog`: C concurrent "requests", N in all, each appending two records shaped like a
police read of shifts (5 record ids, 5 data subjects) and waiting until they are committed,
so appends group-commit as they do under load. A warm-up of 50 requests comes first. Then
the same process times that variant's `verify_chain` over what it wrote.

Rounds alternate the order of the variants (before/after, after/before, ...), since
absolute speed drifts on a shared machine; compare within a round. One line per figure:
entries per second (wall clock), CPU milliseconds per entry of the appending process, and
verification speed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("HUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


# --- one run (a subprocess with one variant of `hub` on its path) --------------------------


async def _drive(url: str, requests: int, concurrency: int) -> dict[str, float]:
    from hub.audit.log import AuditLog, AuditRecord
    from hub.audit.verify import verify_chain
    from hub.db import Database

    org = str(uuid.uuid4())

    def records() -> list[Any]:
        out = []
        for resource, fields in (
            ("ShiftRegistration", ["id", "premises", "sex_worker", "window"]),
            ("SexWorker", ["id", "identity", "working_name"]),
        ):
            ids = [str(uuid.uuid4()) for _ in range(5)]
            out.append(
                AuditRecord(
                    at=datetime.now(UTC),
                    action="read",
                    resource=resource,
                    organisation_id=org,
                    roles="police_officer",
                    subject="demo-police-antwerp",
                    purpose="identity_validation",
                    operation="PoliceCheck",
                    record_ids=ids,
                    fields=fields,
                    subjects=ids,
                    policy_version="bench",
                )
            )
        return out

    db = Database(url)
    log = AuditLog(db)
    try:
        for _ in range(50):
            await log.append(records())
        left = requests

        async def client() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await log.append(records())

        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        entries = 2 * requests
        t1 = time.perf_counter()
        verdict = await verify_chain(db)
        verify_s = time.perf_counter() - t1
        assert verdict.ok, verdict
        return {
            "entries_per_s": entries / wall,
            "cpu_ms_per_entry": 1000 * cpu / entries,
            "verify_entries_per_s": verdict.entries / verify_s,
        }
    finally:
        await log.close()
        await db.dispose()


def worker(args: argparse.Namespace) -> None:
    import hub
    from hub.db import upgrade

    upgrade(args.url)
    result: dict[str, Any] = dict(asyncio.run(_drive(args.url, args.requests, args.concurrency)))
    result["hub"] = str(Path(hub.__file__).resolve().parent)
    print(json.dumps(result))


# --- the driver -------------------------------------------------------------------------


async def _pg(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        for s in statements:
            await conn.execute(s)
    finally:
        await conn.close()


def _fresh_db(kind: str, tmp: Path) -> tuple[str, str | None]:
    name = f"bench_audit_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / (name + '.db')}", None
    asyncio.run(_pg(f"CREATE DATABASE {name}"))
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", name


def _export(ref: str, into: Path) -> None:
    blob = subprocess.run(  # noqa: S603
        ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "hub"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")


def _run(variant_root: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(variant_root)}
    out = subprocess.run(  # noqa: S603
        [
            sys.executable,
            __file__,
            "--worker",
            "--url",
            url,
            "--requests",
            str(args.requests),
            "--concurrency",
            str(args.concurrency),
        ],
        env=env,
        cwd=variant_root,
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if Path(result.pop("hub")) != (variant_root / "hub").resolve():
        raise RuntimeError(f"the run did not import hub from {variant_root}")
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--requests", type=int, default=1500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--before", default="315d080")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return

    results: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp_s:
        tmp = Path(tmp_s)
        _export(args.before, tmp / "before")
        roots = {"before": tmp / "before", "after": ROOT}
        for r in range(args.rounds):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for variant in order:
                url, pg_name = _fresh_db(args.database, tmp)
                try:
                    res = _run(roots[variant], url, args)
                finally:
                    if pg_name:
                        asyncio.run(_pg(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))
                results[variant].append(res)
                print(
                    f"round {r + 1} {variant:6}: {res['entries_per_s']:8.0f} entries/s  "
                    f"{res['cpu_ms_per_entry']:.3f} ms CPU/entry  "
                    f"verify {res['verify_entries_per_s']:8.0f} entries/s",
                    flush=True,
                )
    med = {v: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for v, rs in results.items()}
    ratios = [
        a["entries_per_s"] / b["entries_per_s"]
        for a, b in zip(results["after"], results["before"], strict=True)
    ]
    print(
        f"{args.database}, {args.concurrency} concurrent, {args.requests} requests x 2 entries, "
        f"{args.rounds} rounds (medians):"
    )
    for v in ("before", "after"):
        m = med[v]
        print(
            f"  {v:6} appends {m['entries_per_s']:8.0f} entries/s, "
            f"{m['cpu_ms_per_entry']:.3f} ms CPU/entry; "
            f"verify {m['verify_entries_per_s']:8.0f} entries/s"
        )
    print(
        f"  after/before appends per round: {', '.join(f'{x:.2f}' for x in ratios)} "
        f"(median {statistics.median(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
