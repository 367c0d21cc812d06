"""The Starlette app factory: wires settings, database, keys, policy, auth and GraphQL."""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from hub.audit.checkpoints import CheckpointTask
from hub.audit.log import AuditLog
from hub.audit.note import Signer
from hub.audit.routes import audit_routes
from hub.auth.controllers import DataControllers
from hub.auth.issuer import EmbeddedIssuer
from hub.auth.keys import SigningKeys
from hub.auth.registry import Registry
from hub.auth.routes import auth_routes
from hub.auth.verify import TokenVerifier
from hub.config import Settings
from hub.connectors.checkpoints import CheckpointPublisher
from hub.connectors.runner import Connectors
from hub.consoles.pages import Consoles
from hub.consoles.routes import HOMES, console_routes
from hub.consoles.session import Sessions
from hub.crypto import Keyring, load_or_create_key
from hub.cursors import CursorCodec
from hub.db import Database, PoolLimits
from hub.events.hub import EventHub
from hub.events.projection import Projector
from hub.graphql_app import GraphQLEndpoint, compiled_reads
from hub.ids import IdSealer
from hub.models import DataKey
from hub.notify import Notifications
from hub.notify import supported as notify_supported
from hub.observability.graphql import observer
from hub.observability.metrics import Metrics
from hub.observability.middleware import RequestMiddleware
from hub.observability.routes import operation_routes
from hub.observability.tracing import Tracing
from hub.policy.effects import Pseudonymizer
from hub.policy.engine import PolicySet
from hub.policy.store import PolicyStore
from hub.read.gate import ReadGate
from hub.schema.quotas import ClientQuotas
from hub.schema.root import make_schema
from hub.services.retention import RetentionTask
from hub.state import HubState
from hub.web import BodyLimit

# CPython collects its young generation after 700 net allocations. One read of 50 shifts
# allocates tens of thousands of objects, almost all freed by reference counting, so the
# collector ran dozens of times per request and every so often walked the whole heap.
GC_YOUNG_THRESHOLD = 20_000


def freeze_startup_objects() -> None:
    """Once started: collect, then move every object alive (the schema, compiled plans,
    policies, modules: they live as long as the process) to the collector's permanent
    generation, so that a full collection walks only what requests left behind; and
    collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


# aiosqlite logs statement parameters at DEBUG: they may hold personal data or hashes.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


class MasterKeyMismatch(RuntimeError):
    """The database holds identities that the configured master key cannot open."""


async def check_master_key(db: Database, keyring: Keyring, secret_dir: Path) -> None:
    """Refuse to start on a master key that does not open the data already stored: with a
    wrong HUB_SECRET_DIR the hub would otherwise run and write identities no one can read
    together with the old ones."""
    async with db.sessions() as session:
        sample = (
            await session.execute(
                select(col(DataKey.sex_worker_id), col(DataKey.wrapped_key)).limit(1)
            )
        ).first()
    if sample is not None and not keyring.opens(sample[0], sample[1]):
        raise MasterKeyMismatch(
            f"the master key in {secret_dir} does not open the identities stored in the "
            "database: is HUB_SECRET_DIR the directory this database was created with?"
        )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    db = Database(
        settings.database_url,
        echo=settings.sql_echo,
        limits=PoolLimits(
            size=settings.db_pool_size,
            overflow=settings.db_pool_overflow,
            timeout_s=settings.db_pool_timeout_s,
            statement_timeout_ms=settings.statement_timeout_ms,
            plan_cache_mode=settings.pg_plan_cache_mode,
        ),
    )
    metrics = Metrics()  # this app's own registry
    tracing = Tracing.from_settings(settings)  # None unless an OTLP endpoint is set
    if tracing is not None:
        tracing.trace_statements(db.engine)
    # The files are checked at once (refusing to start on any error); the lifespan then
    # installs the database's active versions, seeded from these files on first start.
    policies = PolicySet.from_directory(settings.policy_dir)
    audit = AuditLog(db, on_batch=metrics.observe_audit_batch)
    keyring = Keyring.from_secret_dir(settings.secret_dir)
    hub = HubState(
        db=db,
        audit=audit,
        keyring=keyring,
        cursors=CursorCodec(load_or_create_key(settings.secret_dir / "cursor.key")),
        policies=policies,
        pseudonyms=Pseudonymizer(load_or_create_key(settings.secret_dir / "pseudonym.key")),
        ids=IdSealer(load_or_create_key(settings.secret_dir / "id-seal.key")),
        page_cap=settings.page_cap,
        client_ref_patterns={
            org: re.compile(pattern) for org, pattern in settings.client_ref_patterns.items()
        },
    )
    signing_key = (
        SigningKeys.from_secret_dir(settings.secret_dir) if not settings.oidc_issuer else None
    )
    # Which organisations may hold which roles: checked at issue and on every token.
    controllers = DataControllers.from_directory(settings.policy_dir)
    registry = Registry(db, controllers)
    default_rate, client_rates = settings.client_rates()
    # Token requests have buckets of their own, at the same rates as requests.
    token_quotas = ClientQuotas(default_rate, client_rates)
    issuer = (
        EmbeddedIssuer(settings, db, signing_key, controllers=controllers, rate=token_quotas.take)
        if signing_key
        else None
    )
    verifier = TokenVerifier(settings, signing_key, registry=registry)
    schema = make_schema(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_cost=settings.max_cost,
        page_cap=settings.page_cap,
    )
    quotas = ClientQuotas(
        default_rate,
        client_rates,
        max_connections=settings.max_ws_connections,
        max_subscriptions=settings.max_subscriptions,
    )
    # First, so that its span holds the other extensions' work (the access-log write too).
    schema.extensions = (observer(tracing.tracer if tracing else None), *schema.extensions)
    graphql = GraphQLEndpoint(
        schema,
        hub,
        verifier,
        compiled=compiled_reads(schema, hub, settings)
        if settings.read_path == "compiled"
        else None,
        gate=ReadGate(
            settings.max_inflight,
            settings.read_row_budget,
            max_waiting=settings.admission_queue,
            max_wait_s=settings.admission_wait_s,
        ),
        tracer=tracing.tracer if tracing else None,
        metrics=metrics,
        quotas=quotas,
    )

    hub.store = PolicyStore(db, settings.policy_dir, hub.install_policies)
    hub.events = EventHub(db, tail_outbox=settings.kafka_bootstrap is None)
    hub.projector = Projector(db, hub.pseudonyms)
    # Daily; it reads the policy in force at each run, and skips if a replica just ran it.
    retention = RetentionTask(db, lambda: hub.policies, audit)
    # The access log's signed checkpoints (hub/audit/): every interval when the log grew,
    # also sent to Kafka when it is configured.
    checkpoints = CheckpointTask(
        db,
        Signer.from_secret_dir(settings.secret_dir, settings.audit_origin),
        settings.audit_checkpoint_interval_s,
        CheckpointPublisher(settings) if settings.kafka_bootstrap else None,
    )
    # Kafka mode: this replica's feed of hub.events, and (unless HUB_CONNECTORS=off) the
    # outbox relay and the partner inbox consumers (hub/connectors/).
    connectors = (
        Connectors(settings, hub, relay=settings.connectors == "inline", feed=True)
        if settings.kafka_bootstrap
        else None
    )
    metrics.attach(events=hub.events, connectors=connectors)

    # On PostgreSQL the registry and the policy store are woken by NOTIFY (hub/notify.py)
    # and only poll as a safety net; elsewhere they poll.
    notifications = (
        Notifications(
            settings.database_url, {"hub_auth": registry.wake, "hub_policy": hub.store.wake}
        )
        if notify_supported(settings.database_url)
        else None
    )
    if notifications is not None:
        listening = notifications
        registry.notified = hub.store.notified = lambda: listening.listening

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await check_master_key(db, keyring, settings.secret_dir)
        assert hub.store is not None
        await hub.store.load()  # the database's active versions (seeded from the files)
        hub.store.start()
        registry.start()
        if notifications is not None:
            notifications.start()
        assert hub.events is not None
        await hub.events.start()
        retention.start()
        checkpoints.start()
        if connectors is not None:
            connectors.start()
        if settings.gc_freeze:
            freeze_startup_objects()
        try:
            yield
        finally:
            if connectors is not None:
                await connectors.stop()
            await retention.stop()
            await checkpoints.stop()
            await hub.events.stop()
            if notifications is not None:
                await notifications.stop()
            await hub.store.stop()
            await registry.stop()
            await verifier.aclose()
            await audit.close()
            await db.dispose()
            if tracing is not None:
                tracing.shutdown()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            *operation_routes(
                db=db,
                metrics=metrics,
                store=lambda: hub.store,
                events=hub.events,
                connectors=connectors,
                kafka=settings.kafka_bootstrap is not None,
                metrics_token=settings.metrics_token,
                policy_version=lambda: hub.policies.version,
            ),
            *auth_routes(issuer, signing_key),
            *audit_routes(db, checkpoints.signer.verifier),
            # The consoles for people (/, /login, /console, /me, /care) and /static.
            *console_routes(),
        ],
        middleware=[
            Middleware(RequestMiddleware, metrics=metrics, tracing=tracing),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.consoles = Consoles(
        settings=settings,
        hub=hub,
        schema=schema,
        verifier=verifier,
        sessions=Sessions(db, settings.secret_dir),
        issuer=issuer,
        quotas=quotas,
        homes=HOMES,
    )
    app.state.issuer = issuer
    app.state.registry = registry
    app.state.notifications = notifications
    app.state.settings = settings
    app.state.connectors = connectors
    app.state.registry = registry
    app.state.metrics = metrics
    app.state.quotas = quotas
    app.state.tracing = tracing
    app.state.checkpoints = checkpoints
    return app
