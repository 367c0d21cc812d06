"""`hub serve`, `hub demo` and `hub connectors run`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from typing import TYPE_CHECKING, Any

from hub.commands.common import configure_logging, fail, issuer_recorded, settings

if TYPE_CHECKING:
    from hub.config import Settings

DEMO_TOKEN_LIFETIME_S = 12 * 3600


def settings_for(host: str, port: int) -> Settings:
    """The settings, with the issuer URL taken from the address served unless
    HUB_ISSUER_URL gives it."""
    if "HUB_ISSUER_URL" in os.environ:
        return settings()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    if ":" in shown:  # an IPv6 address
        shown = f"[{shown}]"
    return settings(issuer_url=f"http://{shown}:{port}")


def _terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def _serve(config: Settings, host: str, port: int) -> None:
    import uvicorn

    from hub.app import create_app

    # uvicorn shuts down gracefully on SIGTERM, then raises it again under the handler it
    # found: make that handler unwind, so the issuer record is removed on the way out.
    signal.signal(signal.SIGTERM, _terminated)
    # Logging is the hub's (configure_logging): uvicorn neither configures it nor writes its
    # access log, whose lines carry the query string.
    with issuer_recorded(config):
        uvicorn.run(
            create_app(config),
            host=host,
            port=port,
            log_config=None,
            log_level=config.log_level.lower(),
            access_log=False,
        )


def serve(args: argparse.Namespace) -> int:
    from hub.db import upgrade

    config = settings_for(args.host, args.port)
    if not configure_logging(config):
        return 2
    upgrade(config.database_url)
    _serve(config, args.host, args.port)
    return 0


async def _prepare_demo(config: Settings, scale: int) -> dict[str, str]:
    from sqlalchemy import func, select
    from sqlmodel import col

    from hub.auth.controllers import DataControllers
    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.crypto import Keyring
    from hub.db import Database
    from hub.demo import seed
    from hub.demo_clients import DEMO_CLIENTS, ensure_demo_clients
    from hub.errors import HubError
    from hub.models import Organisation

    db = Database(config.database_url)
    try:
        async with db.session() as session:
            existing = (
                await session.execute(select(func.count(col(Organisation.id))))
            ).scalar_one()
        if existing == 0:
            async with db.session() as session:
                demo = await seed(session, Keyring.from_secret_dir(config.secret_dir), scale=scale)
                await session.commit()
            print(f"Seeded demo data: {demo.counts}")
            controllers = DataControllers.from_directory(config.policy_dir)
            await ensure_demo_clients(db, demo, controllers)
        else:
            print(f"Database already holds {existing} organisations: demo data not seeded again.")
        issuer = EmbeddedIssuer(config, db, SigningKey.from_secret_dir(config.secret_dir))
        tokens = {}
        for c in DEMO_CLIENTS:
            try:
                tokens[c.client_id] = await issuer.mint(
                    c.client_id, lifetime_s=DEMO_TOKEN_LIFETIME_S
                )
            except HubError:
                print(f"  (no client {c.client_id} in this database)")
        return tokens
    finally:
        await db.dispose()


def _print_demo(tokens: dict[str, str], base: str) -> None:
    from hub.demo_clients import DEMO_CLIENTS

    print("\nThe hub demo. One ready token per role (valid 12 h), and a query to try:\n")
    for c in DEMO_CLIENTS:
        token = tokens.get(c.client_id)
        if token is None:
            continue
        var = "TOKEN_" + c.client_id.removeprefix("demo-").upper().replace("-", "_")
        body = json.dumps({"query": c.example})
        print(f"# {c.client_id}: {', '.join(c.roles)} (purposes: {', '.join(c.purposes)})")
        print(f"export {var}={token}")
        print(
            f'curl -s {base}/graphql -H "Authorization: Bearer ${var}" '
            f"-H 'Hub-Purpose: {c.purpose}' -H 'Content-Type: application/json' -d '{body}'\n"
        )
    print(f"GraphiQL: {base}/graphql (add the Authorization and Hub-Purpose headers)")
    print(f"Token endpoint (client credentials): {base}/oauth/token")
    print(f"JWKS: {base}/.well-known/jwks.json")
    print("Organisation ids (for `hub client add --org`): hub org list\n")
    _print_consoles(base)


def _print_consoles(base: str) -> None:
    """The consoles and a login per demo person (demo passwords: never use them elsewhere)."""
    from hub.demo_clients import DEMO_PEOPLE

    print("Consoles (log in at any of them; demo passwords, for this demo only):")
    for path, what in (
        ("/console", "privacy officers and the workers' representative"),
        ("/me", "a sex worker's own page"),
        ("/care", "an NGO's care workers"),
        ("/graphql", "GraphiQL"),
    ):
        print(f"  {base}{path:<10} {what}")
    print()
    user_w = max(len(p.username) for p in DEMO_PEOPLE)
    pass_w = max(len(p.password) for p in DEMO_PEOPLE)
    for p in DEMO_PEOPLE:
        print(f"  {p.username:<{user_w}}  {p.password:<{pass_w}}  {p.console:<9} {p.sees}")
    print()


def demo(args: argparse.Namespace) -> int:
    from hub.db import upgrade

    config = settings_for(args.host, args.port)
    if not configure_logging(config):
        return 2
    if config.oidc_issuer:
        return fail("hub demo runs with the built-in token issuer; unset HUB_OIDC_ISSUER", 2)
    upgrade(config.database_url)
    tokens = asyncio.run(_prepare_demo(config, args.scale))
    _print_demo(tokens, config.issuer_url)
    if args.no_serve:
        return 0
    _serve(config, args.host, args.port)
    return 0


async def _run_connectors(config: Settings) -> None:
    """The app's lifespan with connectors, without serving HTTP, until SIGINT or SIGTERM."""
    import logging
    import signal

    from hub.app import create_app

    app = create_app(config.with_(connectors="inline"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        logging.getLogger("hub.connectors").info("connectors running")
        await stop.wait()
    logging.getLogger("hub.connectors").info("connectors stopped")


def connectors_run(_args: argparse.Namespace) -> int:
    from hub.db import upgrade

    config = settings()
    if not config.kafka_bootstrap:
        return fail("set HUB_KAFKA_BOOTSTRAP to run the Kafka connectors", 2)
    if not configure_logging(config):
        return 2
    upgrade(config.database_url)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_connectors(config))
    return 0
