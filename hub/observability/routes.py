"""/health, /ready and /metrics.

- /health: live, the process answers (no database call).
- /ready: the database answers, a policy is installed, and in Kafka mode this replica's
  feed is connected to the broker; 200 naming each check, or 503 naming the failing one.
  In Kafka mode it also reports each consumer's lag (messages not yet read, null before its
  first fetch), for information: lag alone does not make a replica unready.
  Checks name their result only, never an error's message (it may quote a database URL).
- /metrics: Prometheus text format; no personal data. With HUB_METRICS_TOKEN set, only a
  scrape that presents it as a bearer token is answered.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.models import OutboxEvent
from hub.observability.metrics import Metrics

if TYPE_CHECKING:
    from hub.connectors.runner import Connectors
    from hub.db import Database
    from hub.events.hub import EventHub
    from hub.policy.store import PolicyStore

log = logging.getLogger("hub.observability")
CHECK_TIMEOUT_S = 2.0


async def database_answers(db: Database) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), db.session() as session:
            await session.execute(text("SELECT 1"))
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        log.warning("readiness: database check failed (%s)", type(exc).__name__)
        return "failed"
    return "ok"


async def outbox_backlog(
    db: Database, events: EventHub | None, kafka: bool
) -> tuple[int, datetime | None]:
    """(count, oldest created_at) of the outbox rows not yet passed on."""
    pending = (
        col(OutboxEvent.published_at).is_(None)
        if kafka or events is None
        else col(OutboxEvent.seq) > events.position
    )
    async with asyncio.timeout(CHECK_TIMEOUT_S), db.session() as session:
        row = (
            await session.execute(
                select(func.count(), func.min(col(OutboxEvent.created_at))).where(pending)
            )
        ).one()
    return int(row[0]), row[1]


def operation_routes(
    *,
    db: Database,
    metrics: Metrics,
    store: Callable[[], PolicyStore | None],
    events: EventHub | None,
    connectors: Connectors | None,
    kafka: bool,
    metrics_token: str | None,
    policy_version: Callable[[], str],
) -> list[Route]:
    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "policy_version": policy_version()})

    async def ready(_request: Request) -> JSONResponse:
        checks: dict[str, str] = {"database": await database_answers(db)}
        policy_store = store()
        loaded = policy_store is not None and policy_store.generation >= 0
        checks["policy"] = "ok" if loaded else "not loaded"
        if kafka:
            feed = connectors.feed if connectors is not None else None
            connected = feed is not None and await feed.broker_answers(CHECK_TIMEOUT_S)
            checks["kafka"] = "ok" if connected else "not connected"
        failing = sorted(name for name, result in checks.items() if result != "ok")
        body: dict[str, Any] = {"status": "not ready" if failing else "ready", "checks": checks}
        if failing:
            body["failing"] = failing
        if kafka and connectors is not None:
            body["kafka_lag"] = connectors.lag()
        return JSONResponse(body, status_code=503 if failing else 200)

    async def scrape(request: Request) -> Response:
        if metrics_token is not None:
            scheme, _, presented = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode(), metrics_token.encode()
            ):
                return Response(
                    status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'}
                )
        try:
            count, oldest = await outbox_backlog(db, events, kafka)
        except Exception as exc:  # the rest of the scrape is still worth having
            log.warning("metrics: outbox backlog unknown (%s)", type(exc).__name__)
            metrics.outbox.known = False
        else:
            metrics.set_outbox(count, oldest)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
    ]
