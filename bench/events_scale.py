"""Mutation-to-subscriber latency at partner scale: many subscribers over several hub
replicas, the mutations from a load generator in a process of its own.

Driven by `bench/events.py --subscribers N --replicas R` (see there); this module also
runs as the child processes it starts:

    python bench/events_scale.py subscribe --url WS [--url WS ...] --connections N
    python bench/events_scale.py load --url HTTP [--url HTTP ...] --rate R --mutations K

`subscribe` opens N graphql-transport-ws connections (spread over the replicas in turn),
each with one `events(types: [inspection recorded])` subscription, prints `subscribed`,
then `warm` once every connection has received an event, and records the arrival time
(CLOCK_MONOTONIC, shared by the processes of one machine) and sealed subject of every
event until a line `stop` arrives on its input; then it prints them as JSON.

`load` sends K `recordInspection` mutations as the Antwerp police, at a fixed rate (open
loop: one task per mutation, started on schedule whatever the answers), to the replicas
in turn, and prints each one's send time, answer time and sealed id as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

PROTOCOL = "graphql-transport-ws"
INSPECTED = "be.hub.inspection.recorded.v1"
SUBSCRIPTION = "subscription($t: [String!]) { events(types: $t) { subject } }"
MUTATION = (
    "mutation($t: DateTime!) { recordInspection(input: {branch: STREET, outcome: NONE,"
    " occurredAt: $t, personsChecked: 2}) { id } }"
)


# --- subscribers -----------------------------------------------------------------------------


async def _subscriber(
    url: str, token: str, index: int, arrivals: list[tuple[int, str, float]], warm: asyncio.Event
) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, subprotocols=[PROTOCOL], max_size=2**22) as ws:  # type: ignore[list-item]
        init = {"authorization": f"Bearer {token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"subscriber {index} not acknowledged: {ack}")
        sub = {"query": SUBSCRIPTION, "variables": {"t": [INSPECTED]}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": sub}))
        async for raw in ws:
            t = time.monotonic()
            msg = json.loads(raw)
            if msg.get("type") == "next":
                arrivals.append((index, msg["payload"]["data"]["events"]["subject"], t))
                warm.set()
            elif msg.get("type") in ("error", "complete"):
                raise RuntimeError(f"subscription {index} ended: {msg}")


async def subscribe(urls: list[str], token: str, connections: int) -> None:
    arrivals: list[tuple[int, str, float]] = []
    warms = [asyncio.Event() for _ in range(connections)]
    tasks = [
        asyncio.create_task(_subscriber(urls[i % len(urls)], token, i, arrivals, warms[i]))
        for i in range(connections)
    ]
    print("subscribed", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def all_warm() -> None:
        for w in warms:
            await w.wait()
        print("warm", flush=True)

    warming = asyncio.create_task(all_warm())
    try:
        while True:
            line = (await reader.readline()).decode().strip()
            if line == "clear":
                arrivals.clear()
                print("cleared", flush=True)
            elif line == "count":
                print(f"count {len(arrivals)}", flush=True)
            elif line in ("stop", ""):
                break
            failed = [t for t in tasks if t.done()]
            if failed:
                failed[0].result()  # raises what ended it
    finally:
        warming.cancel()
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    ended = sum(1 for t in tasks if t.cancelled() or t.done())
    print(json.dumps({"arrivals": arrivals, "connections": connections, "ended": ended}))


# --- load --------------------------------------------------------------------------------------


async def load(urls: list[str], token: str, rate: float, mutations: int) -> None:
    import httpx

    headers = {
        "Authorization": f"Bearer {token}",
        "Hub-Purpose": "inspection",
        "Content-Type": "application/json",
    }
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    clients = [httpx.AsyncClient(base_url=u, timeout=30, limits=limits) for u in urls]

    async def one(i: int) -> None:
        client = clients[i % len(clients)]
        t = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
        body = json.dumps({"query": MUTATION, "variables": {"t": t}})
        t0 = time.monotonic()
        try:
            r = await client.post("/graphql", content=body, headers=headers)
            data = r.json()
            ok = r.status_code == 200 and not data.get("errors")
            rid = data["data"]["recordInspection"]["id"] if ok else None
            error = None if ok else f"{r.status_code} {_code(data)}"
        except Exception as exc:  # counted, never fatal for the run
            rid, ok, error = None, False, type(exc).__name__
        t1 = time.monotonic()
        results.append({"i": i, "id": rid, "sent": t0, "answered": t1, "ok": ok, "error": error})

    try:
        tasks = []
        start = time.monotonic()
        for i in range(mutations):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing at a fixed rate (open loop)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    finally:
        for c in clients:
            await c.aclose()
    print(json.dumps({"results": results, "elapsed": elapsed, "lag_s": _lag(results, rate)}))


def _code(data: Any) -> str:
    """The first error's code (never its message: it may quote data)."""
    with contextlib.suppress(Exception):
        return str(data["errors"][0]["extensions"]["code"])
    return "?"


def _lag(results: list[dict[str, Any]], rate: float) -> float:
    """How far behind its schedule the generator sent its last mutation (seconds)."""
    if not results:
        return 0.0
    first = min(r["sent"] for r in results)
    return max(r["sent"] - (first + r["i"] / rate) for r in results)


# --- the driver (in bench/events.py's process) ---------------------------------------------------


def _line(proc: Any, deadline: float, want: str) -> str:
    """The next line of a child's output that starts with `want`, before `deadline`."""
    import select

    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {want!r} from a child process")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        line = proc.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"a child process ended before {want!r}")
        if line.startswith(want):
            return line


def _drain(subs: list[Any], expected: int, quiet_s: float = 5.0, limit_s: float = 120.0) -> None:
    """Until the subscribers hold `expected` events, or none came for `quiet_s`, or
    `limit_s` passed (arrivals may include a few warm-up stragglers: a bound, not exact)."""
    deadline, last, still_since = time.monotonic() + limit_s, -1, time.monotonic()
    while time.monotonic() < deadline:
        total = 0
        for proc in subs:
            proc.stdin.write(b"count\n")
            proc.stdin.flush()
            total += int(_line(proc, time.monotonic() + 30, "count").split()[1])
        if total >= expected:
            return
        if total != last:
            last, still_since = total, time.monotonic()
        elif time.monotonic() - still_since > quiet_s:
            return
        time.sleep(0.5)  # polling the children's counts, with a deadline


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def _kinds(kinds: dict[str, int]) -> str:
    return (": " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))) if kinds else ""


def drive(
    servers: list[Any],
    police: str,
    enforcement: str,
    secret_dir: Any,
    *,
    subscribers: int,
    rate: float,
    mutations: int,
    processes: int,
    cpu_s: Any,
    machine_busy_s: Any,
) -> list[str]:
    """Subscribers in `processes` child processes, spread over `servers`; mutations from a
    load generator in its own process, to the servers in turn. The figures, as lines."""
    import subprocess

    import httpx
    from query import _clean_env, open_ids

    env = _clean_env()
    here = os.path.abspath(__file__)
    ws_urls = [s.base_url.replace("http://", "ws://") + "/graphql" for s in servers]
    http_urls = [s.base_url for s in servers]
    per = [
        subscribers // processes + (1 if i < subscribers % processes else 0)
        for i in range(processes)
    ]
    subs = []
    for i, n in enumerate(per):
        # Each process starts on another replica, so the connections split evenly.
        urls = ws_urls[i % len(ws_urls) :] + ws_urls[: i % len(ws_urls)]
        cmd = [sys.executable, here, "subscribe", "--connections", str(n)]
        for u in urls:
            cmd += ["--url", u]
        subs.append(
            subprocess.Popen(
                cmd,
                env=env | {"BENCH_TOKEN": enforcement},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        )
    load_proc = None
    try:
        deadline = time.monotonic() + 60
        for proc in subs:
            _line(proc, deadline, "subscribed")
        # Warm-up, unmeasured: mutations until every connection has received an event
        # (each subscription is registered, each replica's feed positioned).
        headers = {"Authorization": f"Bearer {police}", "Hub-Purpose": "inspection"}
        body = {"query": MUTATION, "variables": {"t": ""}}
        warm = [False] * len(subs)
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=30) as client:
            i = 0
            while not all(warm):
                if time.monotonic() > deadline:
                    raise TimeoutError("the subscribers did not all receive a warm-up event")
                body["variables"]["t"] = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
                client.post(http_urls[i % len(http_urls)] + "/graphql", json=body, headers=headers)
                i += 1
                for k, proc in enumerate(subs):
                    if not warm[k]:
                        with contextlib.suppress(TimeoutError):
                            _line(proc, time.monotonic() + 0.3, "warm")
                            warm[k] = True
        time.sleep(2.0)  # let the warm-up events drain (not a synchronisation)
        for proc in subs:
            proc.stdin.write(b"clear\n")
            proc.stdin.flush()
        for proc in subs:
            _line(proc, time.monotonic() + 30, "cleared")

        pids = {f"hub{k}": s.proc.pid for k, s in enumerate(servers)}
        cpu0 = {k: cpu_s(pid) for k, pid in pids.items()}
        busy0, t0 = machine_busy_s(), time.monotonic()
        load_proc = subprocess.Popen(
            [sys.executable, here, "load", "--rate", str(rate), "--mutations", str(mutations)]
            + [a for u in http_urls for a in ("--url", u)],
            env=env | {"BENCH_TOKEN": police},
            stdout=subprocess.PIPE,
        )
        out, _ = load_proc.communicate(timeout=mutations / rate + 120)
        loaded = json.loads(out)
        expected = sum(1 for r in loaded["results"] if r["ok"]) * subscribers
        _drain(subs, expected)
        elapsed = time.monotonic() - t0
        cpu = {k: cpu_s(pid) - cpu0[k] for k, pid in pids.items()}
        others = max(0.0, (machine_busy_s() - busy0) / elapsed - sum(cpu.values()) / elapsed)
        got = []
        for proc in subs:
            proc.stdin.write(b"stop\n")
            proc.stdin.flush()
        for proc in subs:
            data, _ = proc.communicate(timeout=60)
            got.append(json.loads(data.decode().strip().splitlines()[-1]))
    finally:
        for proc in [*subs, *([load_proc] if load_proc else [])]:
            if proc.poll() is None:
                proc.kill()  # only the children this driver started
                proc.wait(timeout=10)

    police_id, city_id = open_ids(secret_dir, police), open_ids(secret_dir, enforcement)
    results = loaded["results"]
    sent = {police_id(r["id"], "id"): r["sent"] for r in results if r["ok"]}
    rtt = [r["answered"] - r["sent"] for r in results if r["ok"]]
    errors = sum(1 for r in results if not r["ok"])
    kinds: dict[str, int] = {}
    for r in results:
        if not r["ok"]:
            kinds[r["error"]] = kinds.get(r["error"], 0) + 1
    latencies: list[float] = []
    pairs: set[tuple[int, int, str]] = set()
    for p, g in enumerate(got):
        for conn, subject, t in g["arrivals"]:
            rid = city_id(subject, "id")
            if rid in sent and (p, conn, rid) not in pairs:
                pairs.add((p, conn, rid))
                latencies.append(t - sent[rid])
    expected = len(sent) * subscribers  # the pairs that should have arrived
    ms = [x * 1000 for x in latencies]
    label = f"scale ({subscribers} subscribers on {len(servers)} replicas, {rate:g} mutations/s)"
    return [
        f"{label} mutations: {len(results)} sent in {loaded['elapsed']:.1f} s"
        f" ({errors} errors{_kinds(kinds)}),"
        f" generator behind schedule at most {loaded['lag_s'] * 1000:.0f} ms",
        f"{label} deliveries: {len(latencies)} of {expected} (mutation x subscriber)",
        f"{label} mutation-to-subscriber p50 ms: {_pct(ms, 0.5):.1f}",
        f"{label} mutation-to-subscriber p90 ms: {_pct(ms, 0.9):.1f}",
        f"{label} mutation-to-subscriber p99 ms: {_pct(ms, 0.99):.1f}",
        f"{label} mutation-to-subscriber max ms: {max(ms, default=float('nan')):.1f}",
        f"{label} mutation http round trip p50 / p99 ms: {_pct(rtt, 0.5) * 1000:.1f}"
        f" / {_pct(rtt, 0.99) * 1000:.1f}",
        f"{label} hub cpu (cores, over {elapsed:.1f} s): "
        + ", ".join(f"{k} {v / elapsed:.2f}" for k, v in cpu.items()),
        f"{label} hub cpu ms per delivery (all the hubs' CPU, mutations and relay included):"
        f" {sum(cpu.values()) * 1000 / max(1, len(latencies)):.2f}",
        f"{label} machine load from other processes (broker, database, load, subscribers,"
        f" others): {others:.2f} cores",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("subscribe")
    s.add_argument("--url", action="append", required=True)
    s.add_argument("--connections", type=int, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--url", action="append", required=True)
    ld.add_argument("--rate", type=float, required=True)
    ld.add_argument("--mutations", type=int, required=True)
    args = p.parse_args(argv)
    token = os.environ["BENCH_TOKEN"]  # never on the command line
    if args.command == "subscribe":
        asyncio.run(subscribe(args.url, token, args.connections))
    else:
        asyncio.run(load(args.url, token, args.rate, args.mutations))
    return 0


if __name__ == "__main__":
    sys.exit(main())
