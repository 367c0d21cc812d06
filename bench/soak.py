"""Under pressure: a burst of huge reads, then the hub's memory over many requests.

    .venv/bin/python bench/soak.py [--requests 100000] [--database postgresql]

Seeds the bench data (as bench/query.py does), starts the hub as one uvicorn worker on a
loopback port, and, from this process (the load generator is never the server's process):

1. **burst**: sends 20 reads at once, each 15 aliases x 100 shifts with premises and
   identities, while a small read (`{ organisations { id name } }`) is sent one after the
   other. Every huge answer must be complete (15 x the full page) or a clean 503 with
   Retry-After and RATE_LIMITED; every small one a 200. Prints how many of each, and the
   small reads' latencies.
2. **soak**: sends `--requests` bench queries (50 shifts with identities), `--concurrency`
   at a time, reading the server's resident memory (VmRSS from /proc) after the warm-up and
   at every tenth of the run. Prints the growth from the first reading to the last.

It exits non-zero when an answer was neither complete nor a clean refusal. Bounded: the
burst waits at most 120 s, the soak at most --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from query import (  # noqa: E402
    BODY,
    PURPOSE,
    discard,
    hub_env,
    machine_lines,
    prepare,
    start_server,
    stop_server,
    wait_ready,
)

HUGE = json.dumps(
    {
        "query": "{ "
        + " ".join(
            f"a{i}: shifts(first: 100) {{ edges {{ node {{ id startsAt premises {{ id address }}"
            " sexWorker { id workingName identity { legalName } } } } }"
            for i in range(15)
        )
        + " }"
    }
).encode()
SMALL = json.dumps({"query": "{ organisations { id name } }"}).encode()
FULL_PAGE = json.dumps({"query": "{ shifts(first: 100) { edges { node { id } } } }"}).encode()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def burst(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[list[str], bool]:
    r = await client.post("/graphql", content=FULL_PAGE, headers=headers)
    full = len(r.json()["data"]["shifts"]["edges"])
    ok = True
    counts = {"complete": 0, "503": 0, "bad": 0}
    small_ms: list[float] = []
    small_bad = 0
    done = asyncio.Event()

    async def huge() -> None:
        r = await client.post("/graphql", content=HUGE, headers=headers)
        body = r.json()
        if r.status_code == 503 and r.headers.get("retry-after") and "data" not in body:
            counts["503"] += 1
        elif r.status_code == 200 and "errors" not in body:
            complete = all(len(body["data"][f"a{i}"]["edges"]) == full for i in range(15))
            counts["complete" if complete else "bad"] += 1
        else:
            counts["bad"] += 1

    async def smalls() -> None:
        nonlocal small_bad
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            t = time.perf_counter()
            r = await client.post("/graphql", content=SMALL, headers=headers)
            small_ms.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200 or "errors" in r.json():
                small_bad += 1

    started = time.perf_counter()
    watcher = asyncio.create_task(smalls())
    await asyncio.wait_for(asyncio.gather(*(huge() for _ in range(20))), timeout=120)
    elapsed = time.perf_counter() - started
    done.set()
    await watcher
    ok = counts["bad"] == 0 and small_bad == 0 and counts["complete"] > 0
    return [
        f"burst: 20 reads of 15 x {full} shifts: {counts['complete']} complete,"
        f" {counts['503']} refused with 503, {counts['bad']} neither, in {elapsed:.1f} s",
        f"burst: small reads meanwhile: {len(small_ms)} sent, {small_bad} not answered,"
        f" p50 {pct(small_ms, 0.5):.1f} ms, max {max(small_ms, default=float('nan')):.1f} ms",
    ], ok


async def soak(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    pid: int,
    requests: int,
    concurrency: int,
    max_seconds: float,
) -> tuple[list[str], bool]:
    for _ in range(200):  # warm-up: plans, pools, caches
        await client.post("/graphql", content=BODY, headers=headers)
    readings = [(0, rss_mib(pid))]
    sent = 0
    failed = 0
    step = max(1, requests // 10)
    deadline = time.monotonic() + max_seconds
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal sent, failed
        while sent < requests and time.monotonic() < deadline:
            sent += 1
            r = await client.post("/graphql", content=BODY, headers=headers)
            if r.status_code != 200 or b'"errors"' in r.content:
                failed += 1
            if sent % step == 0:
                readings.append((sent, rss_mib(pid)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    readings.append((sent, rss_mib(pid)))
    first, last = readings[0][1], readings[-1][1]
    return [
        f"soak: {sent} requests in {elapsed:.0f} s ({sent / elapsed:.0f} req/s),"
        f" {failed} failed, {concurrency} at a time",
        "soak: RSS MiB by requests sent: " + ", ".join(f"{n}: {mib:.1f}" for n, mib in readings),
        f"soak: RSS growth {last - first:+.1f} MiB (from {first:.1f} to {last:.1f})",
    ], failed == 0 and sent == requests


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-seconds", type=float, default=1800.0)
    p.add_argument("--scale", type=int, default=6)
    args = p.parse_args(argv)
    if not (1 <= args.requests <= 1_000_000 and 1 <= args.concurrency <= 64):
        p.error("--requests 1..1,000,000, --concurrency 1..64")
    print(*machine_lines(), sep="\n")
    tmp = Path(tempfile.mkdtemp(prefix="hub-soak-"))
    prepared = None
    server = None
    ok = False
    try:
        prepared = prepare(args.database, tmp, args.scale)
        server = start_server("hub", "hub.app:create_app", hub_env(prepared), tmp)
        wait_ready(server)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {prepared.token}",
            "Hub-Purpose": PURPOSE,
        }

        async def run() -> tuple[list[str], bool]:
            limits = httpx.Limits(max_connections=64)
            async with httpx.AsyncClient(
                base_url=server.base_url, timeout=120, limits=limits
            ) as client:
                burst_lines, burst_ok = await burst(client, headers)
                print(*burst_lines, sep="\n", flush=True)
                soak_lines, soak_ok = await soak(
                    client, headers, server.proc.pid, args.requests, args.concurrency,
                    args.max_seconds,
                )  # fmt: skip
                return soak_lines, burst_ok and soak_ok

        lines, ok = asyncio.run(run())
        print(*lines, sep="\n")
    finally:
        if server is not None:
            stop_server(server)
        if prepared is not None:
            discard(prepared)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
