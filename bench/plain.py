"""Bench-only floor: plain Starlette + asyncpg + orjson, no GraphQL, no policy, no auth.

It answers the three named operations of bench/side_by_side.py (`Shifts`, `Premises`,
`PremisesShifts`) with the same JSON the hub gives for them, from hand-written SQL: one
statement per list, identities decrypted with the same keyring as the hub. It reads the
operation name and variables of the POSTed body and ignores the query text, so it is a
measure of what the rows, the decryption and the JSON cost in Python, not a GraphQL server.
Like bench/baseline.py, its only filter is the city the benchmark names (`BENCH_CITY`).
PostgreSQL only.

Run by bench/side_by_side.py as
    uvicorn bench.plain:create_app --factory --app-dir <repo>
with BENCH_DATABASE_URL, BENCH_SECRET_DIR and BENCH_CITY in the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.crypto import Keyring

MAX_FIRST = 100
POOL_SIZE = 10  # as many connections as the hub's pool keeps

_SHIFT_COLUMNS = (
    's.id, s.starts_at, s.ends_at, s."window", s.status,'
    " w.id AS w_id, w.working_name, w.identity, k.wrapped_key"
)
_WORKER_JOIN = (
    " LEFT JOIN sex_worker w ON w.id = s.sex_worker_id"
    " LEFT JOIN data_key k ON k.sex_worker_id = w.id"
)
SHIFTS_SQL = (
    f"SELECT {_SHIFT_COLUMNS}, p.id AS p_id, p.address, p.city, p.zone"
    " FROM shift_registration s JOIN premises p ON p.id = s.premises_id"
    f"{_WORKER_JOIN} WHERE p.city = $1 ORDER BY s.starts_at, s.id LIMIT $2"
)
PREMISES_SQL = (
    "SELECT id, address, city, zone, kind, windows FROM premises"
    " WHERE city = $1 ORDER BY city, address, id LIMIT $2"
)
PREMISES_SHIFTS_SQL = (
    f"SELECT s.premises_id, {_SHIFT_COLUMNS} FROM (SELECT *, row_number() OVER"
    " (PARTITION BY premises_id ORDER BY starts_at, id) AS n"
    " FROM shift_registration WHERE premises_id = ANY($1::varchar[])) s"
    f"{_WORKER_JOIN} WHERE s.n <= $2 ORDER BY s.premises_id, s.starts_at, s.id"
)


class BadRequest(Exception):
    pass


def _first(variables: dict[str, Any], name: str, default: int) -> int:
    value = variables.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_FIRST:
        raise BadRequest(f"{name} must be an integer between 1 and {MAX_FIRST}")
    return value


class Plain:
    def __init__(self, dsn: str, keyring: Keyring, city: str) -> None:
        self.dsn = dsn
        self.keyring = keyring
        self.city = city
        self.pool: asyncpg.Pool | None = None
        self.operations: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
            "Shifts": self.shifts,
            "Premises": self.premises,
            "PremisesShifts": self.premises_shifts,
        }

    def _sex_worker(self, r: Any) -> dict[str, Any] | None:
        if r["w_id"] is None:
            return None
        identity = None
        if r["identity"] is not None and r["wrapped_key"] is not None:
            i = self.keyring.decrypt(r["w_id"], r["wrapped_key"], r["identity"])
            identity = {
                "legalName": i.legal_name,
                "birthDate": i.birth_date,
                "nationality": i.nationality,
                "documentNumber": i.document_number,
            }
        return {"id": r["w_id"], "workingName": r["working_name"], "identity": identity}

    def _shift(self, r: Any) -> dict[str, Any]:
        return {
            "id": r["id"],
            "startsAt": r["starts_at"],
            "endsAt": r["ends_at"],
            "window": r["window"],
            "status": r["status"].upper(),  # GraphQL enum names, as the hub answers
        }

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        assert self.pool is not None
        return await self.pool.fetch(sql, *args)

    async def shifts(self, variables: dict[str, Any]) -> dict[str, Any]:
        rows = await self._fetch(SHIFTS_SQL, self.city, _first(variables, "first", 50))
        edges = []
        for r in rows:
            node = self._shift(r)
            node["premises"] = {
                "id": r["p_id"],
                "address": r["address"],
                "city": r["city"],
                "zone": r["zone"],
            }
            node["sexWorker"] = self._sex_worker(r)
            edges.append({"node": node})
        return {"shifts": {"edges": edges}}

    async def premises(self, variables: dict[str, Any]) -> dict[str, Any]:
        rows = await self._fetch(PREMISES_SQL, self.city, _first(variables, "first", 50))
        return {"premises": {"edges": [{"node": self._premises(r)} for r in rows]}}

    def _premises(self, r: Any) -> dict[str, Any]:
        return {
            "id": r["id"],
            "address": r["address"],
            "city": r["city"],
            "zone": r["zone"],
            "kind": r["kind"].upper(),
            "windows": r["windows"],
        }

    async def premises_shifts(self, variables: dict[str, Any]) -> dict[str, Any]:
        first = _first(variables, "first", 50)
        shifts_first = _first(variables, "shiftsFirst", 50)
        premises = await self._fetch(PREMISES_SQL, self.city, first)
        shifts = await self._fetch(PREMISES_SHIFTS_SQL, [p["id"] for p in premises], shifts_first)
        by_premises: dict[str, list[dict[str, Any]]] = {p["id"]: [] for p in premises}
        for r in shifts:
            node = self._shift(r)
            node["sexWorker"] = self._sex_worker(r)
            by_premises[r["premises_id"]].append({"node": node})
        edges = []
        for p in premises:
            node = {k: p[k] for k in ("id", "address", "city", "zone")}
            node["shifts"] = {"edges": by_premises[p["id"]]}
            edges.append({"node": node})
        return {"premises": {"edges": edges}}


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def create_app() -> Starlette:
    url = os.environ["BENCH_DATABASE_URL"]
    plain = Plain(
        url.replace("postgresql+asyncpg://", "postgresql://", 1),
        Keyring.from_secret_dir(Path(os.environ["BENCH_SECRET_DIR"])),
        os.environ.get("BENCH_CITY", "Antwerpen"),
    )

    async def graphql(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            if not isinstance(body, dict):
                raise BadRequest("the body must be a JSON object")
            operation = plain.operations.get(body.get("operationName") or "")
            if operation is None:
                raise BadRequest("operationName must be Shifts, Premises or PremisesShifts")
            variables = body.get("variables") or {}
            if not isinstance(variables, dict):
                raise BadRequest("variables must be an object")
            return _json({"data": await operation(variables)})
        except (BadRequest, orjson.JSONDecodeError) as exc:
            return _json({"errors": [{"message": str(exc)}]}, 400)

    async def health(_request: Request) -> Response:
        return _json({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        plain.pool = await asyncpg.create_pool(plain.dsn, min_size=1, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await plain.pool.close()

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
