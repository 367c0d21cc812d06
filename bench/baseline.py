"""Bench-only baseline: plain strawberry over the hub's tables, with no policy and no auth.

It answers the bench query (`shifts(first: N) { edges { node { ... premises { ... }
sexWorker { ... identity { ... } } } } }`) the way a straightforward strawberry app would:
one ORM SELECT for the page, one DataLoader batch for the premises and one for the sex
workers (joined with their data keys), identities decrypted with the same keyring. The
only filter is the city the bench names (`BENCH_CITY`), so that it returns the same rows
as the hub does for a police officer of that city; it is a plain join, not a policy.

For bench/side_by_side.py it also answers `premises(first: N)` (ordered as the hub orders
them: city, address, id) and `Premises.shifts(first: M)` (each premises' first M shifts by
start; one DataLoader batch with a window function per page of premises).

Run by bench/query.py as
    uvicorn bench.baseline:create_app --factory --app-dir <repo>
with BENCH_DATABASE_URL, BENCH_SECRET_DIR and BENCH_CITY in the environment.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import strawberry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import aliased
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from hub.crypto import Keyring
from hub.db import make_engine
from hub.models import DataKey
from hub.models import Premises as PremisesRow
from hub.models import SexWorker as SexWorkerRow
from hub.models import ShiftRegistration as ShiftRow
from hub.models import enums as e

ShiftStatus = strawberry.enum(e.ShiftStatus)
PremisesKind = strawberry.enum(e.PremisesKind)


@strawberry.type
class Identity:
    legal_name: str
    birth_date: date
    nationality: str
    document_number: str


@strawberry.type
class SexWorker:
    id: strawberry.ID
    working_name: str
    identity: Identity | None


@strawberry.type
class Premises:
    id: strawberry.ID
    address: str
    city: str
    zone: str | None
    kind: PremisesKind  # type: ignore[valid-type]
    windows: int

    @strawberry.field
    async def shifts(self, info: Info, first: int = 50) -> ShiftConnection:
        loader = info.context["shifts_of_premises"].get(first)
        if loader is None:
            state: State = info.context["state"]
            loader = DataLoader(lambda keys: state.load_shifts_of_premises(keys, first))
            info.context["shifts_of_premises"][first] = loader
        edges: list[ShiftEdge] = await loader.load(self.id)
        return ShiftConnection(edges=edges)


@strawberry.type
class Shift:
    id: strawberry.ID
    window: int
    starts_at: datetime
    ends_at: datetime
    status: ShiftStatus  # type: ignore[valid-type]
    premises_id: strawberry.Private[str]
    sex_worker_id: strawberry.Private[str]

    @strawberry.field
    async def premises(self, info: Info) -> Premises | None:
        return await info.context["premises"].load(self.premises_id)  # type: ignore[no-any-return]

    @strawberry.field
    async def sex_worker(self, info: Info) -> SexWorker | None:
        return await info.context["sex_workers"].load(self.sex_worker_id)  # type: ignore[no-any-return]


@strawberry.type
class ShiftEdge:
    node: Shift


@strawberry.type
class ShiftConnection:
    edges: list[ShiftEdge]


@strawberry.type
class PremisesEdge:
    node: Premises


@strawberry.type
class PremisesConnection:
    edges: list[PremisesEdge]


def _shift(r: ShiftRow) -> Shift:
    return Shift(
        id=strawberry.ID(r.id),
        window=r.window,
        starts_at=r.starts_at,
        ends_at=r.ends_at,
        status=r.status,
        premises_id=r.premises_id,
        sex_worker_id=r.sex_worker_id,
    )


def _premises(r: PremisesRow) -> Premises:
    return Premises(
        id=strawberry.ID(r.id),
        address=r.address,
        city=r.city,
        zone=r.zone,
        kind=r.kind,
        windows=r.windows,
    )


@strawberry.type
class Query:
    @strawberry.field
    async def shifts(self, info: Info, first: int = 50) -> ShiftConnection:
        state: State = info.context["state"]
        stmt = (
            select(ShiftRow)
            .join(PremisesRow, PremisesRow.id == ShiftRow.premises_id)
            .where(PremisesRow.city == state.city)
            .order_by(ShiftRow.starts_at, ShiftRow.id)
            .limit(min(first, 100))
        )
        async with state.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        return ShiftConnection(edges=[ShiftEdge(node=_shift(r)) for r in rows])

    @strawberry.field
    async def premises(self, info: Info, first: int = 50) -> PremisesConnection:
        state: State = info.context["state"]
        stmt = (
            select(PremisesRow)
            .where(PremisesRow.city == state.city)
            .order_by(PremisesRow.city, PremisesRow.address, PremisesRow.id)
            .limit(min(first, 100))
        )
        async with state.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        return PremisesConnection(edges=[PremisesEdge(node=_premises(r)) for r in rows])


class State:
    def __init__(self, database_url: str, secret_dir: Path, city: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.keyring = Keyring.from_secret_dir(secret_dir)
        self.city = city

    async def load_premises(self, keys: list[str]) -> list[Premises | None]:
        stmt = select(PremisesRow).where(PremisesRow.id.in_(set(keys)))  # type: ignore[union-attr]
        async with self.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        found = {r.id: _premises(r) for r in rows}
        return [found.get(k) for k in keys]

    async def load_shifts_of_premises(self, keys: list[str], first: int) -> list[list[ShiftEdge]]:
        n = (
            func.row_number()
            .over(
                partition_by=ShiftRow.premises_id,
                order_by=(ShiftRow.starts_at, ShiftRow.id),
            )
            .label("n")
        )
        ranked = (
            select(ShiftRow, n)
            .where(ShiftRow.premises_id.in_(set(keys)))  # type: ignore[attr-defined]
            .subquery()
        )
        shift = aliased(ShiftRow, ranked)
        stmt = (
            select(shift)
            .where(ranked.c.n <= min(first, 100))
            .order_by(shift.premises_id, shift.starts_at, shift.id)
        )
        async with self.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        found: dict[str, list[ShiftEdge]] = {k: [] for k in keys}
        for r in rows:
            found[r.premises_id].append(ShiftEdge(node=_shift(r)))
        return [found[k] for k in keys]

    async def load_sex_workers(self, keys: list[str]) -> list[SexWorker | None]:
        stmt = (
            select(SexWorkerRow, DataKey.wrapped_key)
            .outerjoin(DataKey, DataKey.sex_worker_id == SexWorkerRow.id)
            .where(SexWorkerRow.id.in_(set(keys)))  # type: ignore[union-attr]
        )
        async with self.sessions() as session:
            rows = (await session.execute(stmt)).all()
        found = {}
        for row, wrapped in rows:
            identity = None
            if row.identity and wrapped:
                i = self.keyring.decrypt(row.id, wrapped, row.identity)
                identity = Identity(
                    legal_name=i.legal_name,
                    birth_date=date.fromisoformat(i.birth_date),
                    nationality=i.nationality,
                    document_number=i.document_number,
                )
            found[row.id] = SexWorker(
                id=strawberry.ID(row.id), working_name=row.working_name, identity=identity
            )
        return [found.get(k) for k in keys]


class _GraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, schema: strawberry.Schema, state: State) -> None:
        super().__init__(schema, graphql_ide=None, subscription_protocols=())
        self.state = state

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {
            "state": self.state,
            "premises": DataLoader(self.state.load_premises),
            "sex_workers": DataLoader(self.state.load_sex_workers),
            "shifts_of_premises": {},
        }


def create_app() -> Starlette:
    state = State(
        os.environ["BENCH_DATABASE_URL"],
        Path(os.environ["BENCH_SECRET_DIR"]),
        os.environ.get("BENCH_CITY", "Antwerpen"),
    )
    schema = strawberry.Schema(query=Query)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await state.engine.dispose()

    return Starlette(
        routes=[
            Route("/graphql", _GraphQL(schema, state), methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
