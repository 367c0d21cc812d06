"""Reads side by side: the hub, PostGraphile 5 with row-level security, plain strawberry and
plain Starlette, in one run, on the same PostgreSQL data, as ratios.

    ./scripts/bootstrap && .venv/bin/python bench/side_by_side.py --seconds 5 --rounds 2

That is the whole procedure on a fresh clone of a machine with Debian's PostgreSQL server
packages (see below for a shared server instead). The script runs bench/peers/install first:
wrk from Debian when it is missing, Node 22 and PostGraphile 5 from npm into
bench/peers/node_modules (a no-op once done). Then it

1. seeds scaled demo data into a fresh PostgreSQL database (as bench/query.py does), gives it
   the peer's roles, row-level security and plaintext identity side table
   (bench/peers/postgraphile.py) and analyses it;
2. starts each server as one process on a free loopback port: the hub twice, with
   HUB_READ_PATH=compiled and =generic (a hub that does not know the variable runs the same
   code twice), bench/baseline.py (plain strawberry), PostGraphile (bench/peers/serve.mjs on
   Node 22) and bench/plain.py (Starlette + asyncpg + orjson), the Python ones under uvicorn
   with one worker;
3. checks that every server gives the same answer to each shape (ISO times compared as
   instants, enum values regardless of case), and marks the hub's nested cells
   "n/a (no Premises.shifts)" while its schema lacks that field (found by introspection);
   checks that the hub and PostGraphile refuse requests without a token or for a purpose the
   token lacks, and agree on the shifts for inspection (no identities);
4. for each round, shape and concurrency, drives each server in turn (the order alternates
   between rounds) with wrk in its own process, one connection per wrk thread, through
   bench/wrk_graphql.lua, which checks every answer and records when it came and how long it
   took. The measured window opens after the warm-up, once every connection has had an answer
   (at high concurrency a slow server takes longer to get there; --settle bounds the wait),
   and lasts --seconds. Over that window it reads from /proc the CPU of the server process,
   of PostgreSQL, of wrk and of everything else on the machine. After each cell it waits
   until the server is idle again.

PostgreSQL is by default a private cluster that the script creates (initdb, as the postgres
user when run as root) and deletes: its CPU is then exactly the servers' database work,
connections that pools open and close included, and other users of the machine's shared
server do not touch it. `--postgres shared` uses BENCH_PG_ADMIN instead and counts each
server's backends, a lower bound.

It prints one line per figure, and the ratio of each server to PostGraphile; it exits non-zero
when a check failed or an answer in a window was not a good one. It writes nothing else;
BENCHMARKS.md is edited by hand. Absolute figures depend on the machine and on what else runs
on it: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import query  # noqa: E402
from bench.peers import postgraphile  # noqa: E402

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_graphql.lua"
PEER = "postgraphile"
AUDIENCE = "hub"  # the hub's default token audience (HUB_OIDC_AUDIENCE)
HUB_READ_PATHS = ("compiled", "generic")
CONCURRENCY = (1, 16, 64)
WRK_START_S = 0.3  # from starting wrk until its connections are open
DRAIN_TIMEOUT_S = 60.0
_IDENTITY = "identity { legalName birthDate nationality documentNumber }"
_PEER_IDENTITY = (
    "identity: peerSexWorkerIdentityBySexWorkerId"
    " { legalName birthDate nationality documentNumber }"
)


# --- the shapes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    operation: str
    document: str  # the hub's, also answered by bench/baseline.py and bench/plain.py
    peer_document: str  # the same answer from PostGraphile, through aliases
    variables: dict[str, int]
    description: str
    # The hub's document where its schema differs from the baseline's (Premises.shifts is a
    # list on the hub, a connection on the others); its answer is compared as connections.
    hub_document: str | None = None


SHAPES = (
    Shape(
        "shifts",
        "Shifts",
        "query Shifts($first: Int) { shifts(first: $first) { edges { node {"
        " id startsAt endsAt window status premises { id address city zone }"
        f" sexWorker {{ id workingName {_IDENTITY} }} }} }} }} }}",
        "query Shifts($first: Int) { shifts: allShiftRegistrations(first: $first,"
        " orderBy: [STARTS_AT_ASC, PRIMARY_KEY_ASC]) { edges { node {"
        " id: rowId startsAt endsAt window status"
        " premises: premisesByPremisesId { id: rowId address city zone }"
        f" sexWorker: sexWorkerBySexWorkerId {{ id: rowId workingName {_PEER_IDENTITY} }}"
        " } } } }",
        {"first": 50},
        "50 shifts, each with its premises and its sex worker's identity (bench/query.py)",
    ),
    Shape(
        "premises",
        "Premises",
        "query Premises($first: Int) { premises(first: $first) { edges { node {"
        " id address city zone kind windows } } } }",
        "query Premises($first: Int) { premises: allPremises(first: $first,"
        " orderBy: [CITY_ASC, ADDRESS_ASC, PRIMARY_KEY_ASC]) { edges { node {"
        " id: rowId address city zone kind windows } } } }",
        {"first": 100},
        "every premises of the city (page cap 100), 6 scalar fields, no personal data",
    ),
    Shape(
        "nested",
        "PremisesShifts",
        "query PremisesShifts($first: Int, $shiftsFirst: Int) { premises(first: $first) {"
        " edges { node { id address city zone shifts(first: $shiftsFirst) { edges { node {"
        f" id startsAt endsAt window status sexWorker {{ id workingName {_IDENTITY} }}"
        " } } } } } } }",
        "query PremisesShifts($first: Int, $shiftsFirst: Int) { premises: allPremises("
        "first: $first, orderBy: [CITY_ASC, ADDRESS_ASC, PRIMARY_KEY_ASC]) { edges { node {"
        " id: rowId address city zone shifts: shiftRegistrationsByPremisesId("
        "first: $shiftsFirst, orderBy: [STARTS_AT_ASC, PRIMARY_KEY_ASC]) { edges { node {"
        " id: rowId startsAt endsAt window status"
        f" sexWorker: sexWorkerBySexWorkerId {{ id: rowId workingName {_PEER_IDENTITY} }}"
        " } } } } } } }",
        {"first": 20, "shiftsFirst": 5},
        "20 premises, each with its first 5 shifts by start and their sex workers' identities",
        "query PremisesShifts($first: Int, $shiftsFirst: Int) { premises(first: $first) {"
        " edges { node { id address city zone shifts(first: $shiftsFirst) {"
        f" id startsAt endsAt window status sexWorker {{ id workingName {_IDENTITY} }}"
        " } } } } }",
    ),
)


def _is_hub(server: Server) -> bool:
    return server.name.startswith("hub")


def body(server: Server, shape: Shape) -> bytes:
    document = shape.peer_document if server.name == PEER else shape.document
    if _is_hub(server) and shape.hub_document is not None:
        document = shape.hub_document
    return json.dumps(
        {"query": document, "variables": shape.variables, "operationName": shape.operation}
    ).encode()


# --- the servers ------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path
    headers: dict[str, str] = field(default_factory=dict)
    health_path: str | None = "/health"
    # shape name -> why this server has no figure for it
    skip: dict[str, str] = field(default_factory=dict)
    # The hub's answers carry ids sealed for the caller: opened before comparing.
    opened: Any = None

    @property
    def pid(self) -> int:
        return self.proc.pid


def _as_server(s: query.Server, health_path: str | None = "/health") -> Server:
    return Server(s.name, s.proc, s.base_url, s.log, dict(s.headers), health_path)


def start_node(name: str, env: dict[str, str], port: int, tmp: Path) -> Server:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            postgraphile.command(), env=env, cwd=postgraphile.PEERS, stdout=out, stderr=out
        )
    return Server(name, proc, f"http://127.0.0.1:{port}", log, health_path=None)


def log_tail(server: Server, lines: int = 20) -> str:
    try:
        return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(server: Server, timeout_s: float = query.READY_TIMEOUT_S) -> None:
    """Until /health answers 200, or (PostGraphile) a `{ __typename }` query does."""
    deadline = time.monotonic() + timeout_s
    probe = json.dumps({"query": "{ __typename }"}).encode()
    headers = {"Content-Type": "application/json", **server.headers}
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited at start:\n{log_tail(server)}")
            with contextlib.suppress(httpx.HTTPError):
                if server.health_path is not None:
                    r = client.get(server.base_url + server.health_path)
                else:
                    r = client.post(server.base_url + "/graphql", content=probe, headers=headers)
                if r.status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready after {timeout_s:.0f} s:\n{log_tail(server)}")


def stop(server: Server) -> None:
    """Stop the one process this script started for `server`, by its PID."""
    proc = server.proc
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def hub_reads_read_path() -> bool:
    """Whether this hub's settings have `read_path` (HUB_READ_PATH; else both hubs are the
    same code)."""
    return "read_path" in (ROOT / "hub" / "config.py").read_text(errors="replace")


# --- checking the answers ---------------------------------------------------------------------

_ENUMS = frozenset({"status", "kind"})
_TIMES = frozenset({"startsAt", "endsAt"})


def normalise(value: Any, key: str | None = None) -> Any:
    """Equal answers compare equal: ISO times as UTC instants, enum values in upper case."""
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and key in _TIMES:
        return datetime.fromisoformat(value).astimezone(UTC).isoformat()
    if isinstance(value, str) and key in _ENUMS:
        return value.upper()
    return value


def post(server: Server, shape: Shape, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    r = httpx.post(
        server.base_url + "/graphql",
        content=body(server, shape),
        headers={"Content-Type": "application/json", **headers},
        timeout=60,
    )
    try:
        data = r.json()
    except ValueError:
        data = {}
    return r.status_code, data if isinstance(data, dict) else {}


def answer(server: Server, shape: Shape, headers: dict[str, str] | None = None) -> dict[str, Any]:
    status, data = post(server, shape, server.headers if headers is None else headers)
    if status != 200 or data.get("errors") or not isinstance(data.get("data"), dict):
        raise RuntimeError(f"{server.name} answered {shape.name} with {status}")
    result: dict[str, Any] = data["data"]
    if server.opened is not None:
        result = server.opened(result)
    if _is_hub(server) and shape.hub_document is not None:
        result = _lists_as_connections(result)
    return result


def _lists_as_connections(value: Any, key: str | None = None) -> Any:
    """The hub's `shifts: [...]` under a premises as the others' `{edges: [{node}]}`."""
    if isinstance(value, dict):
        return {k: _lists_as_connections(v, k) for k, v in value.items()}
    if isinstance(value, list):
        items = [_lists_as_connections(v) for v in value]
        return {"edges": [{"node": v} for v in items]} if key == "shifts" else items
    return value


def first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k} present on one side only"
            if a[k] != b[k]:
                return first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path} differs"  # values are not printed: they may be identities


def count(data: Any, key: str) -> int:
    """How many objects under `key` (non-null) the answer holds, at any depth."""
    if isinstance(data, dict):
        here = 1 if data.get(key) is not None else 0
        return here + sum(count(v, key) for v in data.values())
    if isinstance(data, list):
        return sum(count(v, key) for v in data)
    return 0


def hub_has_premises_shifts(hub: Server) -> bool:
    introspect = '{ __type(name: "Premises") { fields { name args { name } } } }'
    r = httpx.post(
        hub.base_url + "/graphql",
        json={"query": introspect},
        headers={"Content-Type": "application/json", **hub.headers},
        timeout=30,
    )
    fields = ((r.json().get("data") or {}).get("__type") or {}).get("fields") or []
    for f in fields:
        if f["name"] == "shifts":
            return any(a["name"] == "first" for a in f["args"])
    return False


def check(servers: list[Server], shapes: Iterable[Shape]) -> list[str]:
    """Compare every server's answer per shape; mark the ones that differ. Returns lines."""
    lines = []
    for shape in shapes:
        answering = [s for s in servers if shape.name not in s.skip]
        reference: tuple[Server, Any] | None = None
        for server in answering:
            try:
                got = normalise(answer(server, shape))
            except (RuntimeError, httpx.HTTPError) as exc:
                server.skip[shape.name] = f"no answer at the check ({exc})"
                lines.append(f"check: {shape.name}: {server.name} gave no answer ({exc})")
                continue
            if reference is None:
                reference = (server, got)
            elif got != reference[1]:
                why = first_difference(reference[1], got)
                server.skip[shape.name] = f"answer differs from {reference[0].name}'s ({why})"
                lines.append(
                    f"check: {shape.name}: {server.name} differs from {reference[0].name}: {why}"
                )
        if reference is not None:
            same = [s.name for s in answering if shape.name not in s.skip]
            data = reference[1]
            lines.append(
                f"check: {shape.name}: {', '.join(same)} give the same answer:"
                f" {count(data, 'node')} nodes, {count(data, 'identity')} identities"
            )
    return lines


def check_access(servers: list[Server]) -> tuple[list[str], bool]:
    """The hub and the peer apply the same police rules beyond the measured request: for
    inspection the same shifts without identities; no token, or a purpose the token does not
    carry, gets no data."""
    shape = SHAPES[0]
    guarded = [s for s in servers if s.headers]
    lines, ok = [], True
    inspection: dict[str, Any] = {}
    for server in guarded:
        headers = server.headers | {"Hub-Purpose": "inspection"}
        try:
            inspection[server.name] = normalise(answer(server, shape, headers))
        except (RuntimeError, httpx.HTTPError) as exc:
            lines.append(f"check: access: {server.name} gave no answer for inspection ({exc})")
            ok = False
        for what, headers in (
            ("no token", {"Hub-Purpose": "identity_validation"}),
            ("purpose care, not in the token", server.headers | {"Hub-Purpose": "care"}),
        ):
            status, data = post(server, shape, headers)
            if status == 200 and data.get("data") and not data.get("errors"):
                lines.append(f"check: access: {server.name} answered a request with {what}")
                ok = False
    if inspection:
        name, first = next(iter(inspection.items()))
        for other, got in inspection.items():
            if got != first:
                why = first_difference(first, got)
                lines.append(f"check: access: for inspection {other} differs from {name}: {why}")
                ok = False
        if count(first, "identity"):
            lines.append(f"check: access: {name} shows identities for inspection")
            ok = False
    if ok:
        lines.append(
            f"check: access: {', '.join(s.name for s in guarded)} refuse requests without a"
            " token or with a purpose the token lacks, and give the same shifts without"
            " identities for inspection"
        )
    return lines, ok


# --- measuring ------------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return inodes


def client_ports(pid: int, server_port: int) -> set[int]:
    """Local ports of `pid`'s TCP connections to `server_port` (from /proc/<pid>/net/tcp*)."""
    inodes = _socket_inodes(pid)
    ports = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                parts = line.split()
                if len(parts) > 9 and parts[9] in inodes:
                    local, remote = parts[1], parts[2]
                    if int(remote.rsplit(":", 1)[1], 16) == server_port:
                        ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class PrivatePostgres:
    """A PostgreSQL cluster of the benchmark's own: a temporary folder, a free loopback port.

    Its processes are the benchmark's only, so their CPU is the servers' database work: the
    postmaster's own and its children's (backends, WAL writer, checkpointer...), those alive
    and, through the postmaster's cutime/cstime, those that exited (connections a pool closed).
    Run as the `postgres` user when this script runs as root.
    """

    def __init__(self) -> None:
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if not versions:
            raise RuntimeError("no PostgreSQL server binaries in /usr/lib/postgresql")
        self.bindir = versions[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="hub-side-by-side-pg-"))
        self.data = self.root / "data"
        self.port = query._free_port()
        self.pid = 0
        if os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, stdout=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
            " -c max_connections=200"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-w", "-t", "60", "-o", options, "start",
        )  # fmt: skip
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.pid:
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def cpu_s(self) -> float:
        """CPU seconds of the whole cluster so far, exited backends included."""
        tick = os.sysconf("SC_CLK_TCK")
        try:
            f = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        total = sum(int(x) for x in f[11:15]) / tick  # utime, stime, cutime, cstime
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError):
                    c = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                    if int(c[1]) == self.pid:
                        total += (int(c[11]) + int(c[12])) / tick
        return total


class ClusterCpu:
    """PostgreSQL CPU over a window, from a private cluster (exact; see PrivatePostgres)."""

    def __init__(self, cluster: PrivatePostgres) -> None:
        self.cluster = cluster
        self.start = 0.0

    def begin(self, server_pid: int) -> None:
        self.start = self.cluster.cpu_s()

    def poll(self) -> None:
        pass

    def end(self) -> tuple[float, int]:
        return self.cluster.cpu_s() - self.start, 0

    def close(self) -> None:
        pass


class BackendCpu:
    """CPU of the PostgreSQL backends serving one server's connections, over a window.

    Backends are found in pg_stat_activity by the client ports the server's process holds,
    and read from /proc/<backend pid>/stat. A backend that exits inside the window counts up
    to its last poll (every 0.25 s), and one that lives between two polls is missed, so with
    connections closed during the window the figure is a lower bound; `closed` says how many
    were seen. Used with --postgres shared, where other users' backends share the server.
    """

    def __init__(self, dsn: str, database: str, port: int) -> None:
        import asyncpg

        self.loop = asyncio.new_event_loop()
        self.conn = self.loop.run_until_complete(asyncpg.connect(dsn))
        self.database = database
        self.port = port
        self.pid = 0
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.window_start = 0.0

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()

    def _backends(self) -> list[tuple[int, float]]:
        ports = client_ports(self.pid, self.port)
        rows = self.loop.run_until_complete(
            self.conn.fetch(
                "SELECT pid, client_port, backend_start FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.database,
            )
        )
        return [
            (r["pid"], r["backend_start"].timestamp()) for r in rows if r["client_port"] in ports
        ]

    def begin(self, server_pid: int) -> None:
        self.pid, self.start, self.last = server_pid, {}, {}
        self.window_start = time.time()
        self.poll()

    def poll(self) -> None:
        for pid, started in self._backends():
            cpu = _proc_cpu_s(pid)
            if cpu is None:
                continue
            if pid not in self.start:
                self.start[pid] = 0.0 if started >= self.window_start else cpu
            self.last[pid] = cpu

    def end(self) -> tuple[float, int]:
        """(CPU seconds, backends closed inside the window)."""
        self.poll()
        closed = sum(1 for pid in self.start if _proc_cpu_s(pid) is None)
        return sum(self.last[p] - self.start[p] for p in self.start), closed


@dataclass
class Cell:
    """One server, one shape, one concurrency, one round."""

    answered: int
    failed: int
    latencies: list[float]
    seconds: float
    server_cpu: float
    pg_cpu: float
    pg_closed: int
    wrk_cpu: float
    other_cores: float
    settled: bool  # every connection had been answered once when the window began
    drained: bool  # the server was idle again within DRAIN_TIMEOUT_S after the cell


def _wrk_files(tmp: Path, server: Server, shape: Shape) -> tuple[Path, Path]:
    body_file = tmp / f"{server.name}-{shape.name}.body.json"
    headers_file = tmp / f"{server.name}-{shape.name}.headers"
    if not body_file.exists():
        body_file.write_bytes(body(server, shape))
        headers = {"Content-Type": "application/json", **server.headers}
        headers_file.write_text("".join(f"{k}: {v}\n" for k, v in headers.items()))
        headers_file.chmod(0o600)  # it holds the bench token
    return body_file, headers_file


def _sleep_until(t: float, pg: ClusterCpu | BackendCpu | None = None) -> None:
    while (left := t - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))
        if pg is not None:
            pg.poll()


def drain(server: Server, timeout_s: float = DRAIN_TIMEOUT_S) -> bool:
    """Wait until the server has finished the requests wrk left behind (CPU idle)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        a = _proc_cpu_s(server.pid)
        time.sleep(0.2)
        b = _proc_cpu_s(server.pid)
        if a is None or b is None or b - a < 0.01:
            return True
    return False


@dataclass
class Load:
    """How one cell is driven (see main's options)."""

    concurrency: int
    warmup_s: float
    seconds: float
    settle_s: float


def measure(
    server: Server, shape: Shape, load: Load, pg: ClusterCpu | BackendCpu, tmp: Path
) -> Cell:
    """Drive `server` with wrk; measure from when the warm-up is over and every connection
    has had an answer (or `settle_s` later at most) for `seconds`."""
    body_file, headers_file = _wrk_files(tmp, server, shape)
    out, marks = tmp / "wrk-out.json", tmp / "wrk-marks"
    out.unlink(missing_ok=True)
    shutil.rmtree(marks, ignore_errors=True)
    marks.mkdir()
    c = load.concurrency
    duration = math.ceil(WRK_START_S + load.warmup_s + load.settle_s + load.seconds + 5)
    env = os.environ | {
        "BENCH_BODY": str(body_file),
        "BENCH_HEADERS": str(headers_file),
        "BENCH_CONNECTIONS": str(c),
        "BENCH_STAGGER_MS": str(int(load.warmup_s * 1000 / 2)),
        "BENCH_MARKS": str(marks),
        "BENCH_OUT": str(out),
    }
    cmd = [
        "wrk", "-t", str(c), "-c", str(c), "-d", f"{duration}s", "--timeout", "60s",
        "-s", str(WRK_SCRIPT), server.base_url + "/graphql",
    ]  # fmt: skip
    t0 = time.monotonic()
    with (tmp / "wrk.log").open("ab") as log:
        wrk = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        earliest = t0 + WRK_START_S + load.warmup_s
        while not (
            (now := time.monotonic()) >= earliest
            and (len(os.listdir(marks)) >= c or now >= earliest + load.settle_s)
        ):
            if wrk.poll() is not None:
                raise RuntimeError(f"wrk stopped early on {server.name} (see {tmp / 'wrk.log'})")
            time.sleep(0.05)
        settled = len(os.listdir(marks)) >= c
        start = time.monotonic()
        pg.begin(server.pid)
        cpu0, wrk0 = _proc_cpu_s(server.pid), _proc_cpu_s(wrk.pid)
        busy0, own0 = query.machine_busy_s(), time.process_time()
        _sleep_until(start + load.seconds, pg)
        end = time.monotonic()
        cpu1, wrk1 = _proc_cpu_s(server.pid), _proc_cpu_s(wrk.pid)
        busy1, own1 = query.machine_busy_s(), time.process_time()
        pg_cpu, closed = pg.end()
        wrk.send_signal(signal.SIGINT)  # wrk stops, then runs done()
        wrk.wait(timeout=60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait(timeout=10)
    if not out.exists():
        raise RuntimeError(f"wrk gave no result on {server.name} (see {tmp / 'wrk.log'})")
    result = json.loads(out.read_text())
    inside = [
        took
        for at, took in zip(result["ok_at"], result["ok_took"], strict=True)
        if start <= at < end
    ]
    bad = sum(1 for at in result["bad_at"] if start <= at < end)
    server_cpu = (cpu1 or 0.0) - (cpu0 or 0.0)
    wrk_cpu = (wrk1 or 0.0) - (wrk0 or 0.0)
    others = busy1 - busy0 - server_cpu - pg_cpu - wrk_cpu - (own1 - own0)
    return Cell(
        answered=len(inside),
        failed=bad + int(result["socket_errors"]) + int(result["timeouts"]),
        latencies=[t for t in inside if t >= 0],
        seconds=end - start,
        server_cpu=server_cpu,
        pg_cpu=pg_cpu,
        pg_closed=closed,
        wrk_cpu=wrk_cpu,
        other_cores=max(0.0, others / (end - start)),
        settled=settled,
        drained=drain(server),
    )


# --- reporting --------------------------------------------------------------------------------


@dataclass
class Figures:
    answered: int
    failed: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    pg_cpu: float
    wrk_cpu: float
    other_cores: float
    pg_closed: int
    unsettled: int
    undrained: int

    @classmethod
    def merge(cls, cells: list[Cell]) -> Figures:
        seconds = sum(c.seconds for c in cells)
        return cls(
            answered=sum(c.answered for c in cells),
            failed=sum(c.failed for c in cells),
            seconds=seconds,
            latencies=sorted(x for c in cells for x in c.latencies),
            server_cpu=sum(c.server_cpu for c in cells),
            pg_cpu=sum(c.pg_cpu for c in cells),
            wrk_cpu=sum(c.wrk_cpu for c in cells),
            other_cores=sum(c.other_cores * c.seconds for c in cells) / seconds,
            pg_closed=sum(c.pg_closed for c in cells),
            unsettled=sum(1 for c in cells if not c.settled),
            undrained=sum(1 for c in cells if not c.drained),
        )

    @property
    def rps(self) -> float:
        return self.answered / self.seconds

    def pct_ms(self, p: float) -> float:
        xs = self.latencies
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000 if xs else float("nan")

    def pct(self, p: float) -> str:
        ms = self.pct_ms(p)
        return "n/a" if math.isnan(ms) else f"{ms:.1f}"

    def per_req_ms(self, cpu_s: float) -> float:
        return cpu_s * 1000 / self.answered if self.answered else float("nan")


def cell_line(prefix: str, c: Cell) -> str:
    f = Figures.merge([c])
    return (
        f"{prefix}: {f.rps:.1f} req/s, p50 {f.pct(0.5)} ms, p99 {f.pct(0.99)} ms,"
        f" cpu ms/req server {f.per_req_ms(c.server_cpu):.2f} + postgres"
        f" {f.per_req_ms(c.pg_cpu):.2f}, other load {c.other_cores:.2f} cores"
        + ("" if c.settled else ", measured before every client had an answer")
        + ("" if c.drained else ", server still busy after the cell")
    )


def figure_lines(prefix: str, f: Figures) -> list[str]:
    lines = [
        f"{prefix} req/s: {f.rps:.1f}",
        f"{prefix} p50 ms: {f.pct(0.50)}",
        f"{prefix} p99 ms: {f.pct(0.99)}",
        f"{prefix} answers: {f.answered} in {f.seconds:.1f} s ({f.failed} failed)",
        f"{prefix} server cpu ms/req: {f.per_req_ms(f.server_cpu):.2f}",
        f"{prefix} postgres cpu ms/req: {f.per_req_ms(f.pg_cpu):.2f}"
        + (f" (lower bound: {f.pg_closed} backends closed)" if f.pg_closed else ""),
        f"{prefix} server+postgres cpu ms/req: {f.per_req_ms(f.server_cpu + f.pg_cpu):.2f}",
        f"{prefix} load generator cpu ms/req: {f.per_req_ms(f.wrk_cpu):.3f}",
        f"{prefix} other load cores: {f.other_cores:.2f}",
    ]
    if f.unsettled:
        lines.append(f"{prefix} cells measured before every client had an answer: {f.unsettled}")
    if f.undrained:
        lines.append(f"{prefix} cells after which the server stayed busy: {f.undrained}")
    return lines


def ratio_lines(prefix: str, f: Figures, peer: Figures) -> list[str]:
    def r(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b and not math.isnan(a) and not math.isnan(b) else "n/a"

    return [
        f"ratio {prefix} req/s: {r(f.rps, peer.rps)}",
        f"ratio {prefix} p50: {r(f.pct_ms(0.5), peer.pct_ms(0.5))}",
        f"ratio {prefix} server cpu/req: "
        f"{r(f.per_req_ms(f.server_cpu), peer.per_req_ms(peer.server_cpu))}",
        f"ratio {prefix} server+postgres cpu/req: "
        + r(
            f.per_req_ms(f.server_cpu + f.pg_cpu),
            peer.per_req_ms(peer.server_cpu + peer.pg_cpu),
        ),
    ]


def _command_output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_lines(pg_version: str) -> list[str]:
    import importlib.metadata

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    peer = postgraphile.versions()
    commit = _command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _command_output(["git", "-C", str(ROOT), "status", "--porcelain", "--", "hub", "bench"])
    wrk_version = _command_output(["wrk", "-v"]).splitlines()
    return [
        f"date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"machine: nproc {os.cpu_count()}, {cpu}, load average {_loadavg()}",
        f"code: commit {commit}{' with local changes' if dirty else ''}",
        f"python: {platform.python_implementation()} {platform.python_version()},"
        f" uvicorn {importlib.metadata.version('uvicorn')},"
        f" strawberry-graphql {importlib.metadata.version('strawberry-graphql')},"
        f" SQLAlchemy {importlib.metadata.version('sqlalchemy')},"
        f" asyncpg {importlib.metadata.version('asyncpg')}",
        f"peer: PostGraphile {peer['postgraphile']} on Node {peer['node']} (NODE_ENV=production)",
        f"database: {pg_version}",
        f"load generator: {wrk_version[0] if wrk_version else 'wrk'}, one connection per thread",
    ]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# --- main -------------------------------------------------------------------------------------


def _csv(kind: type, allowed: Iterable[Any] | None = None) -> Any:
    def parse(text: str) -> tuple[Any, ...]:
        values = tuple(kind(v.strip()) for v in text.split(",") if v.strip())
        if allowed is not None and any(v not in allowed for v in values):
            raise argparse.ArgumentTypeError(f"choose from {', '.join(map(str, allowed))}")
        return values

    return parse


SERVER_NAMES = ("hub", "baseline", PEER, "plain")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="measured time per cell")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument(
        "--settle",
        type=float,
        default=60.0,
        help="after the warm-up, wait at most this long for every client's first answer",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds; the server order alternates")
    p.add_argument(
        "--concurrency", type=_csv(int), default=CONCURRENCY, help="e.g. 1,16,64 (clients)"
    )
    p.add_argument(
        "--shapes", type=_csv(str, [s.name for s in SHAPES]), default=tuple(s.name for s in SHAPES)
    )
    p.add_argument("--servers", type=_csv(str, SERVER_NAMES), default=SERVER_NAMES)
    p.add_argument(
        "--hub-read-paths",
        type=_csv(str),
        default=HUB_READ_PATHS,
        help="one hub per HUB_READ_PATH value; an empty value starts one hub without it",
    )
    p.add_argument("--scale", type=int, default=6, help="demo data scale (6: >2,000 shifts)")
    p.add_argument(
        "--postgres",
        choices=("private", "shared"),
        default="private",
        help="a cluster of its own (default), or the server at BENCH_PG_ADMIN",
    )
    args = p.parse_args(argv)
    if not (0 < args.seconds <= 600 and 0 <= args.warmup <= 60 and 0 <= args.settle <= 300):
        p.error("--seconds in (0, 600], --warmup in [0, 60], --settle in [0, 300]")
    if not 1 <= args.rounds <= 10:
        p.error("--rounds in 1..10")
    if not args.concurrency or not all(1 <= c <= 128 for c in args.concurrency):
        p.error("--concurrency: 1..128 clients each")
    if PEER not in args.servers:
        p.error(f"the ratios are to {PEER}: keep it in --servers")
    if not 1 <= args.scale <= 50:
        p.error("--scale 1..50")
    if any(not v.replace("_", "").isalnum() for v in args.hub_read_paths):
        p.error("--hub-read-paths: plain words")
    return args


async def _mint(prepared: query.Prepared, lifetime_s: int) -> str:
    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.db import Database

    db = Database(prepared.database_url)
    try:
        issuer = EmbeddedIssuer(
            query.hub_settings(prepared.database_url, prepared.secret_dir),
            db,
            SigningKey.from_secret_dir(prepared.secret_dir),
        )
        return await issuer.mint(query.POLICE_CLIENT, lifetime_s=lifetime_s)
    finally:
        await db.dispose()


def _dsn(database: str) -> str:
    return query.PG_ADMIN.rsplit("/", 1)[0] + "/" + database


def _pg_port() -> int:
    from urllib.parse import urlsplit

    return urlsplit(query.PG_ADMIN).port or 5432


def start_servers(
    args: argparse.Namespace, prepared: query.Prepared, peer_db: Any, token: str, tmp: Path
) -> list[Server]:
    auth = {"Authorization": f"Bearer {token}", "Hub-Purpose": query.PURPOSE}
    servers: list[Server] = []
    if "hub" in args.servers:
        for read_path in args.hub_read_paths or ("",):
            env = query.hub_env(prepared) | ({"HUB_READ_PATH": read_path} if read_path else {})
            name = f"hub-{read_path}" if read_path else "hub"
            s = _as_server(query.start_server(name, "hub.app:create_app", env, tmp))
            s.headers = dict(auth)
            s.opened = query.open_ids(prepared.secret_dir, token)
            servers.append(s)
    if "baseline" in args.servers:
        env = query.baseline_env(prepared)
        servers.append(
            _as_server(query.start_server("baseline", "bench.baseline:create_app", env, tmp))
        )
    if "plain" in args.servers:
        env = query.baseline_env(prepared)
        servers.append(_as_server(query.start_server("plain", "bench.plain:create_app", env, tmp)))
    jwk = tmp / "hub-public-jwk.json"
    jwk.write_text(json.dumps(postgraphile.public_jwk(prepared.secret_dir)))
    port = query._free_port()
    assert prepared.pg_database is not None
    env = postgraphile.env(
        query._clean_env(),
        dsn=_dsn(prepared.pg_database),
        port=port,
        jwk_file=jwk,
        issuer=query.ISSUER_URL,
        audience=AUDIENCE,
        peer=peer_db,
    )
    peer = start_node(PEER, env, port, tmp)
    peer.headers = dict(auth)
    servers.append(peer)
    return servers


async def _pg_version(dsn: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SELECT version()")).split(" on ")[0]
    finally:
        await conn.close()


def idle_lines(servers: list[Server], pg: ClusterCpu | BackendCpu, seconds: float = 2.0) -> str:
    """What the servers and PostgreSQL use with no load: background work lands in every cell."""
    cpu0 = {s.name: _proc_cpu_s(s.pid) or 0.0 for s in servers}
    if isinstance(pg, ClusterCpu):
        pg.begin(0)
    time.sleep(seconds)
    used = {s.name: (_proc_cpu_s(s.pid) or 0.0) - cpu0[s.name] for s in servers}
    idle = ", ".join(f"{name} {cpu / seconds:.3f}" for name, cpu in used.items())
    if isinstance(pg, ClusterCpu):
        idle += f", postgres {pg.end()[0] / seconds:.3f}"
    return f"idle cpu (cores, over {seconds:g} s): {idle}"


def run_rounds(
    args: argparse.Namespace,
    servers: list[Server],
    shapes: list[Shape],
    pg: ClusterCpu | BackendCpu,
    tmp: Path,
) -> dict[tuple[str, int, str], list[Cell]]:
    results: dict[tuple[str, int, str], list[Cell]] = {}
    for i in range(args.rounds):
        order = servers if i % 2 == 0 else servers[::-1]
        for shape in shapes:
            for c in args.concurrency:
                for server in order:
                    if shape.name in server.skip:
                        continue
                    load = Load(c, args.warmup, args.seconds, args.settle)
                    cell = measure(server, shape, load, pg, tmp)
                    results.setdefault((shape.name, c, server.name), []).append(cell)
                    prefix = f"round {i + 1} {shape.name} c={c} {server.name}"
                    print(cell_line(prefix, cell), flush=True)
    return results


def report(
    args: argparse.Namespace,
    servers: list[Server],
    shapes: list[Shape],
    results: dict[tuple[str, int, str], list[Cell]],
) -> int:
    """Print the figures, then the ratios to the peer. Non-zero if any answer failed."""
    status = 0
    for shape in shapes:
        for c in args.concurrency:
            merged = {
                s.name: Figures.merge(results[(shape.name, c, s.name)])
                for s in servers
                if (shape.name, c, s.name) in results
            }
            for server in servers:
                prefix = f"{shape.name} c={c} {server.name}"
                if server.name not in merged:
                    print(f"{prefix}: {server.skip.get(shape.name, 'not measured')}")
                    continue
                print(*figure_lines(prefix, merged[server.name]), sep="\n")
                status |= 1 if merged[server.name].failed else 0
            peer = merged.get(PEER)
            for name, f in merged.items():
                if name != PEER and peer is not None:
                    print(*ratio_lines(f"{shape.name} c={c} {name}/{PEER}", f, peer), sep="\n")
    return status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    postgraphile.install()
    shapes = [s for s in SHAPES if s.name in args.shapes]
    hubs = len(args.hub_read_paths or ("",)) if "hub" in args.servers else 0
    cells = args.rounds * len(shapes) * len(args.concurrency) * (len(args.servers) - 1 + hubs)
    estimate_s = cells * (WRK_START_S + args.warmup + args.seconds + 1.5) + 120
    tmp = Path(tempfile.mkdtemp(prefix="hub-side-by-side-"))
    servers: list[Server] = []
    cluster: PrivatePostgres | None = None
    prepared: query.Prepared | None = None
    pg: ClusterCpu | BackendCpu | None = None
    with query._sigterm_as_exit():
        try:
            print(f"command: {' '.join(['bench/side_by_side.py', *(argv or sys.argv[1:])])}")
            if args.postgres == "private":
                cluster = PrivatePostgres()
                cluster.start()
                query.PG_ADMIN = cluster.admin_url
            prepared = query.prepare("postgresql", tmp, args.scale)
            database = prepared.pg_database
            assert database is not None
            token = asyncio.run(_mint(prepared, int(estimate_s) + 3600))
            peer_db = asyncio.run(
                postgraphile.prepare(_dsn(database), database, prepared.secret_dir)
            )
            if cluster is not None:
                pg = ClusterCpu(cluster)
                where = f"a private cluster on port {cluster.port}; cpu of the whole cluster"
            else:
                pg = BackendCpu(_dsn(database), database, _pg_port())
                where = f"{query.PG_ADMIN}; cpu of each server's backends (a lower bound)"
            version = asyncio.run(_pg_version(_dsn(database)))
            print(*machine_lines(f"{version}, {where}"), sep="\n", flush=True)
            print(
                f"data: demo scale {args.scale}, {prepared.shifts} shifts"
                f" ({prepared.city_shifts} in {query.POLICE_CITY}); hub and {PEER} requests"
                f" carry the {query.POLICE_CLIENT} token and Hub-Purpose: {query.PURPOSE};"
                " baseline and plain have no auth and filter on the city only",
                flush=True,
            )
            servers = start_servers(args, prepared, peer_db, token, tmp)
            for server in list(servers):
                try:
                    wait_ready(server)
                except RuntimeError as exc:
                    if not server.name.startswith("hub-"):
                        raise
                    # A hub that refuses its HUB_READ_PATH value is left out, not fatal.
                    print(f"{server.name}: did not start, left out: {str(exc).splitlines()[0]}")
                    stop(server)
                    servers.remove(server)
            hub_servers = [s for s in servers if s.name.startswith("hub")]
            if any(s.name.startswith("hub-") for s in hub_servers) and not hub_reads_read_path():
                print("note: this hub does not read HUB_READ_PATH yet: both hubs run the same code")
            for hub in hub_servers:
                if not hub_has_premises_shifts(hub):
                    hub.skip["nested"] = "n/a (no Premises.shifts)"
            for shape in shapes:
                print(f"shape {shape.name}: {shape.description}; {json.dumps(shape.variables)}")
            print(*check(servers, shapes), sep="\n", flush=True)
            access_lines, access_ok = check_access(servers)
            print(*access_lines, sep="\n", flush=True)
            print(idle_lines(servers, pg), flush=True)
            print(
                f"load: wrk with {', '.join(map(str, args.concurrency))} connections (one per"
                f" thread); per cell {args.warmup:g} s warm-up, {args.seconds:g} s measured;"
                f" {args.rounds} round(s), server order reversed every other round;"
                f" about {estimate_s / 60:.0f} min",
                flush=True,
            )
            results = run_rounds(args, servers, shapes, pg, tmp)
            print(f"load average at the end: {_loadavg()}")
            status = report(args, servers, shapes, results)
            if not access_ok or any(
                not why.startswith("n/a") for s in servers for why in s.skip.values()
            ):
                status = 1
            return status
        finally:
            for server in servers:
                stop(server)
            if pg is not None:
                pg.close()
            if prepared is not None and prepared.pg_database is not None:
                database = prepared.pg_database
                query.discard(prepared)
                asyncio.run(postgraphile.drop_roles(query.PG_ADMIN, database))
            if cluster is not None:
                cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
