"""What the trust features cost: sealing the ids of a response, and signing a checkpoint.

    .venv/bin/python bench/trust_costs.py [--database sqlite|postgresql] [--entries 20000]

1. **Sealing.** The bench query's answer (50 shifts with their premises and workers)
   carries 150 ids: each shift's, its premises', its worker's. This times sealing 150
   distinct record ids for one audience (`hub/ids.py`), and unsealing them, in this
   process, best of 7 runs of 200 repetitions each.
2. **Checkpointing.** Fills a fresh access log with `--entries` entries through the real
   append (`AuditLog`, in batches as group commit makes them, each entry naming 50 subjects
   like the bench query's), signs a checkpoint, appends as many again and signs the next:
   the second signature includes the consistency proof against the first. Prints the time
   of each, and what a checkpoint every HUB_AUDIT_CHECKPOINT_INTERVAL (60 s) costs per
   request at a given request rate.

Prints one line per figure; writes nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import _pg_admin, _pg_url  # noqa: E402

IDS_PER_RESPONSE = 150
BATCH = 16  # entries per group commit, as 8 requests of two entries each


def sealing() -> list[str]:
    from hub.ids import IdSealer

    seal = IdSealer(os.urandom(32)).for_audience("org:bench")
    ids = [str(uuid.uuid4()) for _ in range(IDS_PER_RESPONSE)]
    best_seal = best_open = float("inf")
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(200):
            sealed = [seal.seal(i) for i in ids]
        best_seal = min(best_seal, (time.perf_counter() - t) / 200)
        t = time.perf_counter()
        for _ in range(200):
            opened = [seal.unseal(s) for s in sealed]
        best_open = min(best_open, (time.perf_counter() - t) / 200)
    assert opened == ids
    return [
        f"sealing: {IDS_PER_RESPONSE} ids in {best_seal * 1e3:.3f} ms"
        f" ({best_seal / IDS_PER_RESPONSE * 1e6:.2f} us each)",
        f"unsealing: {IDS_PER_RESPONSE} ids in {best_open * 1e3:.3f} ms",
    ]


async def checkpointing(url: str, entries: int, secret_dir: Path) -> list[str]:
    from hub.audit.checkpoints import sign_checkpoint
    from hub.audit.log import AuditLog, AuditRecord
    from hub.audit.note import Signer
    from hub.db import Database
    from hub.models.base import utcnow

    db = Database(url)
    log = AuditLog(db)
    signer = Signer.from_secret_dir(secret_dir, "hub.bench/access-log")
    subjects = [str(uuid.uuid4()) for _ in range(50)]
    lines = []

    async def fill(n: int) -> float:
        started = time.perf_counter()
        for start in range(0, n, BATCH):
            records = [
                AuditRecord(
                    at=utcnow(),
                    action="read",
                    resource="ShiftRegistration",
                    organisation_id=str(uuid.uuid4()),
                    roles="police_officer",
                    subject="bench",
                    purpose="identity_validation",
                    operation="Shifts",
                    record_ids=subjects,
                    fields=["id", "starts_at", "ends_at", "window", "status"],
                    subjects=subjects,
                )
                for _ in range(min(BATCH, n - start))
            ]
            await log._write_retrying(records)
        return time.perf_counter() - started

    try:
        for round_ in (1, 2):
            filled = await fill(entries)
            t = time.perf_counter()
            row, new = await sign_checkpoint(db, signer)
            took = time.perf_counter() - t
            assert row is not None and new
            lines.append(
                f"checkpoint {round_}: tree size {row.tree_size}, signed in {took * 1e3:.1f} ms"
                f" (appending its {entries} entries took {filled:.1f} s)"
            )
            for rate in (100, 300):
                per_request = took / (60 * rate)
                lines.append(
                    f"checkpoint {round_}: every 60 s at {rate} req/s adds"
                    f" {per_request * 1e6:.2f} us per request"
                )
    finally:
        await db.dispose()
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--entries", type=int, default=20_000)
    args = p.parse_args(argv)
    if not 1 <= args.entries <= 1_000_000:
        p.error("--entries 1..1,000,000")
    print(*sealing(), sep="\n", flush=True)
    from hub.db import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="hub-trust-costs-"))
    pg_database = None
    try:
        if args.database == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'trust.db'}"
        else:
            pg_database = f"hub_trust_{uuid.uuid4().hex[:12]}"
            asyncio.run(_pg_admin(f"CREATE DATABASE {pg_database}"))
            url = _pg_url(pg_database)
        upgrade(url)
        print(*asyncio.run(checkpointing(url, args.entries, tmp / "secrets")), sep="\n")
    finally:
        if pg_database is not None:
            asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)"))
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
