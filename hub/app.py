"""The Starlette app factory: wires settings, database, keys, policy, auth and GraphQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from hub.audit.log import AuditLog
from hub.auth.controllers import DataControllers
from hub.auth.issuer import EmbeddedIssuer
from hub.auth.keys import SigningKeys
from hub.auth.registry import Registry
from hub.auth.routes import auth_routes
from hub.auth.verify import TokenVerifier
from hub.config import Settings
from hub.connectors.runner import Connectors
from hub.crypto import Keyring, load_or_create_key
from hub.db import Database
from hub.events.hub import EventHub
from hub.events.projection import Projector
from hub.graphql_app import GraphQLEndpoint
from hub.policy.effects import Pseudonymizer
from hub.policy.engine import PolicySet
from hub.policy.store import PolicyStore
from hub.retention import RetentionTask
from hub.schema.context import HubState
from hub.schema.cursors import CursorCodec
from hub.schema.root import make_schema

# aiosqlite logs statement parameters at DEBUG: they may hold personal data or hashes.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    db = Database(settings.database_url, echo=settings.sql_echo)
    # The files are checked at once (refusing to start on any error); the lifespan then
    # installs the database's active versions, seeded from these files on first start.
    policies = PolicySet.from_directory(settings.policy_dir)
    audit = AuditLog(db)
    hub = HubState(
        db=db,
        audit=audit,
        keyring=Keyring.from_secret_dir(settings.secret_dir),
        cursors=CursorCodec(load_or_create_key(settings.secret_dir / "cursor.key")),
        policies=policies,
        pseudonyms=Pseudonymizer(load_or_create_key(settings.secret_dir / "pseudonym.key")),
        page_cap=settings.page_cap,
    )
    signing_key = (
        SigningKeys.from_secret_dir(settings.secret_dir) if not settings.oidc_issuer else None
    )
    # Which organisations may hold which roles: checked at issue and on every token.
    controllers = DataControllers.from_directory(settings.policy_dir)
    registry = Registry(db, controllers)
    issuer = (
        EmbeddedIssuer(settings, db, signing_key, controllers=controllers) if signing_key else None
    )
    verifier = TokenVerifier(settings, signing_key, registry=registry)
    schema = make_schema(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
    )
    graphql = GraphQLEndpoint(schema, hub, verifier)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "policy_version": hub.policies.version})

    hub.store = PolicyStore(db, settings.policy_dir, hub.install_policies)
    hub.events = EventHub(db, tail_outbox=settings.kafka_bootstrap is None)
    hub.projector = Projector(db, hub.pseudonyms)
    # Daily; it reads the policy in force at each run, and skips if a replica just ran it.
    retention = RetentionTask(db, lambda: hub.policies, audit)
    # Kafka mode: this replica's feed of hub.events, and (unless HUB_CONNECTORS=off) the
    # outbox relay and the partner inbox consumers (hub/connectors/).
    connectors = (
        Connectors(settings, hub, relay=settings.connectors == "inline", feed=True)
        if settings.kafka_bootstrap
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        assert hub.store is not None
        await hub.store.load()  # the database's active versions (seeded from the files)
        hub.store.start()
        registry.start()
        assert hub.events is not None
        await hub.events.start()
        retention.start()
        if connectors is not None:
            connectors.start()
        try:
            yield
        finally:
            if connectors is not None:
                await connectors.stop()
            await retention.stop()
            await hub.events.stop()
            await hub.store.stop()
            await registry.stop()
            await verifier.aclose()
            await audit.close()
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/health", health, methods=["GET"]),
            *auth_routes(issuer, signing_key),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.issuer = issuer
    app.state.registry = registry
    app.state.settings = settings
    app.state.connectors = connectors
    return app
