"""The `hub` command: serve, demo, token, client, keys, db, policy."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from hub.config import Settings
from hub.errors import HubError

if TYPE_CHECKING:
    from hub.audit.note import Verifier

DEMO_TOKEN_LIFETIME_S = 12 * 3600


def _settings_for(host: str, port: int) -> Settings:
    settings = Settings.from_env()
    import os

    if "HUB_ISSUER_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        settings = settings.with_(issuer_url=f"http://{shown}:{port}")
    return settings


def _serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from hub.app import create_app

    # Logging is the hub's (_logging): uvicorn neither configures it nor writes its access
    # log, whose lines carry the query string.
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


def _logging(settings: Settings) -> bool:
    """Configure logging from HUB_LOG_LEVEL and HUB_LOG_FORMAT; False if they are wrong."""
    from hub.observability.logs import configure_logging

    try:
        configure_logging(settings)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return False
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    from hub.db import upgrade

    settings = _settings_for(args.host, args.port)
    if not _logging(settings):
        return 2
    upgrade(settings.database_url)
    _serve(settings, args.host, args.port)
    return 0


async def _prepare_demo(settings: Settings, scale: int) -> dict[str, str]:
    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.crypto import Keyring
    from hub.db import Database
    from hub.demo import seed
    from hub.demo_clients import DEMO_CLIENTS, ensure_demo_clients
    from hub.models import Organisation

    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            existing = (
                await session.execute(select(func.count(col(Organisation.id))))
            ).scalar_one()
        if existing == 0:
            async with db.session() as session:
                demo = await seed(
                    session, Keyring.from_secret_dir(settings.secret_dir), scale=scale
                )
                await session.commit()
            print(f"Seeded demo data: {demo.counts}")
            await ensure_demo_clients(db, demo)
        else:
            print(f"Database already holds {existing} organisations: demo data not seeded again.")
        issuer = EmbeddedIssuer(settings, db, SigningKey.from_secret_dir(settings.secret_dir))
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
    print(f"JWKS: {base}/.well-known/jwks.json\n")


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.db import upgrade

    settings = _settings_for(args.host, args.port)
    if not _logging(settings):
        return 2
    if settings.oidc_issuer:
        print(
            "hub demo runs with the built-in token issuer; unset HUB_OIDC_ISSUER", file=sys.stderr
        )
        return 2
    upgrade(settings.database_url)
    tokens = asyncio.run(_prepare_demo(settings, args.scale))
    _print_demo(tokens, settings.issuer_url)
    if args.no_serve:
        return 0
    _serve(settings, args.host, args.port)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from hub.auth.issuer import EmbeddedIssuer
    from hub.auth.keys import SigningKey
    from hub.db import Database

    settings = Settings.from_env()
    if settings.oidc_issuer:
        print("tokens come from the external provider (HUB_OIDC_ISSUER)", file=sys.stderr)
        return 2

    async def mint() -> str:
        db = Database(settings.database_url)
        try:
            issuer = EmbeddedIssuer(settings, db, SigningKey.from_secret_dir(settings.secret_dir))
            return await issuer.mint(args.client, lifetime_s=args.lifetime)
        finally:
            await db.dispose()

    try:
        print(asyncio.run(mint()))
    except HubError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    return 0


def _run_client_command(settings: Settings, action: Any) -> Any:
    """Run `action(session)` on the configured database; HubError and ControllersError
    propagate to the caller."""
    from hub.db import Database

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                return await action(session)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _controllers(settings: Settings) -> Any:
    from hub.auth.controllers import DataControllers

    return DataControllers.from_directory(settings.policy_dir)


def cmd_client_add(args: argparse.Namespace) -> int:
    from hub.auth.clients import register_client
    from hub.auth.controllers import ControllersError

    settings = Settings.from_env()
    try:
        controllers = _controllers(settings)
        secret = _run_client_command(
            settings,
            lambda session: register_client(
                session,
                client_id=args.id,
                organisation_id=args.org,
                roles=args.roles.split(","),
                purposes=args.purposes.split(","),
                sex_worker_id=args.sex_worker,
                controllers=controllers,
            ),
        )
    except (HubError, ControllersError) as e:
        print(f"error: {_message(e)}", file=sys.stderr)
        return 1
    print(f"client_id={args.id}\nclient_secret={secret}\n(the secret is shown once)")
    return 0


def _message(error: Exception) -> str:
    return error.message if isinstance(error, HubError) else str(error)


def cmd_client_status(args: argparse.Namespace) -> int:
    """hub client disable|enable: refused on every replica within a second."""
    from hub.auth.clients import set_client_disabled

    disable = args.client_command == "disable"
    settings = Settings.from_env()
    try:
        changed = _run_client_command(
            settings, lambda session: set_client_disabled(session, args.id, disabled=disable)
        )
    except HubError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    state = "disabled" if disable else "enabled"
    if not changed:
        print(f"client {args.id} was already {state}")
    elif disable:
        print(f"client {args.id} disabled: its tokens are refused from now on")
    else:
        print(f"client {args.id} enabled: it may ask for new tokens (earlier ones stay refused)")
    return 0


def cmd_client_rotate_secret(args: argparse.Namespace) -> int:
    from hub.auth.clients import rotate_client_secret

    settings = Settings.from_env()
    try:
        secret = _run_client_command(
            settings, lambda session: rotate_client_secret(session, args.id)
        )
    except HubError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    print(
        f"client_id={args.id}\nclient_secret={secret}\n"
        "(the secret is shown once; the old secret and the tokens obtained with it are refused)"
    )
    return 0


def cmd_client_list(_args: argparse.Namespace) -> int:
    """The registered clients, never their secrets."""
    from hub.auth.clients import list_clients
    from hub.auth.controllers import ControllersError

    settings = Settings.from_env()
    try:
        controllers = _controllers(settings)
        clients = _run_client_command(settings, lambda session: list_clients(session, controllers))
    except ControllersError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for c in clients:
        status = "disabled" if c.disabled else ("REFUSED" if c.problems else "enabled")
        line = (
            f"{c.client_id}\t{status}\t{c.organisation_name} ({c.organisation_kind}, "
            f"{c.organisation_id})\troles={','.join(c.roles)}\tpurposes={','.join(c.purposes)}"
        )
        if c.own_worker_client:
            line += "\tsex worker's own client"
        print(line)
        for problem in c.problems:
            print(f"  refused: {problem}")
    print(f"{len(clients)} clients")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from hub.auth.issuer import MAX_TOKEN_LIFETIME_S
    from hub.auth.keys import rotate_signing_key
    from hub.auth.verify import LEEWAY_S

    settings = Settings.from_env()
    if settings.oidc_issuer:
        print("the external provider (HUB_OIDC_ISSUER) holds the signing keys", file=sys.stderr)
        return 2
    # The old key verifies as long as any token it signed can live.
    keep_s = max(settings.token_lifetime_s, MAX_TOKEN_LIFETIME_S) + LEEWAY_S
    new, retired = rotate_signing_key(
        settings.secret_dir, keep_s=keep_s, revoke_previous=args.revoke_previous
    )
    print(f"new signing key {new.kid} is current (every replica signs with it within a second)")
    for key in retired:
        until = datetime.fromtimestamp(key.not_after, UTC).isoformat(timespec="seconds")
        print(f"retired key {key.kid} verifies until {until}")
    if args.revoke_previous:
        print("the previous keys were revoked: every token they signed is refused")
    return 0


def cmd_keys_list(_args: argparse.Namespace) -> int:
    from hub.auth.keys import SigningKeys

    settings = Settings.from_env()
    if settings.oidc_issuer:
        print("the external provider (HUB_OIDC_ISSUER) holds the signing keys", file=sys.stderr)
        return 2
    keys = SigningKeys.from_secret_dir(settings.secret_dir)
    print(f"current {keys.current.kid}")
    for key in keys.retired():
        until = datetime.fromtimestamp(key.not_after, UTC).isoformat(timespec="seconds")
        print(f"retired {key.kid} verifies until {until}")
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from hub.db import upgrade

    settings = Settings.from_env()
    upgrade(settings.database_url)
    print("database schema is up to date")
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from hub.auth.controllers import ControllersError, DataControllers
    from hub.policy.document import PolicyError
    from hub.policy.engine import PolicySet, missing_resources

    directory = Path(args.dir) if args.dir else Settings.from_env().policy_dir
    try:
        policies = PolicySet.from_directory(directory)
    except PolicyError as e:
        for err in e.errors:
            print(f"error: {err}", file=sys.stderr)
        return 1
    rules = sum(len(d.rules) for d in policies.documents.values())
    print(f"{len(policies.documents)} documents, {rules} rules, version {policies.version}")
    for name in missing_resources(policies):
        print(f"note: no document for {name}: nobody may access it")
    try:
        controllers = DataControllers.from_directory(directory)
    except ControllersError as e:
        for err in e.errors:
            print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(controllers.named)} data controllers")
    return 0


def _read_vkey(value: str) -> str:
    """A verifier key given as itself or as the path of a file holding it."""
    path = Path(value)
    return path.read_text().strip() if "+" not in value and path.is_file() else value.strip()


def _own_verifier(settings: Settings) -> Verifier | None:
    """This hub's checkpoint verifier, when its key is in the secret dir (never created
    here: a verification must not mint a key)."""
    from hub.audit.note import KEY_FILE, Signer

    if not (settings.secret_dir / KEY_FILE).exists():
        return None
    return Signer.from_secret_dir(settings.secret_dir, settings.audit_origin).verifier


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from hub.audit.note import NoteError, Verifier
    from hub.audit.verify import load_checkpoints, verify_log
    from hub.audit.witness import WitnessState
    from hub.db import Database

    settings = Settings.from_env()
    own = _own_verifier(settings)
    notes: list[str] = []
    vkey: str | None = _read_vkey(args.key) if args.key else None
    for given in args.checkpoint or []:
        path = Path(given)
        if path.is_dir():  # a witness's state directory: its checkpoints and pinned key
            state = WitnessState(path)
            notes += state.notes()
            vkey = vkey or state.pinned()
        elif path.is_file():
            notes.append(path.read_text())
        else:
            print(f"error: no checkpoint file or directory {given}", file=sys.stderr)
            return 2
    try:
        verifier = Verifier.parse(vkey) if vkey else own
        if notes and verifier is None:
            print("error: give --key: no verifier key to check the checkpoints", file=sys.stderr)
            return 2
        checkpoints = load_checkpoints(notes, verifier) if verifier is not None else []
    except NoteError as exc:
        print(f"error: checkpoint refused: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            verdict = await verify_log(db, checkpoints, stored_verifier=own)
        finally:
            await db.dispose()
        against = f", {', '.join(verdict.notes)}" if verdict.notes else ""
        if verdict.ok:
            print(f"access log intact: {verdict.entries} entries{against}")
            return 0
        where = f"entry {verdict.first_bad_seq}"
        if verdict.last_bad_seq is not None:
            where += f" (somewhere in {verdict.first_bad_seq}..{verdict.last_bad_seq})"
        print(
            f"access log TAMPERED at {where}: {verdict.problem} "
            f"({verdict.entries} entries before it are intact{against})"
        )
        return 1

    return asyncio.run(run())


def cmd_audit_checkpoint(_args: argparse.Namespace) -> int:
    from hub.audit.checkpoints import CheckpointError, sign_checkpoint
    from hub.audit.note import Signer
    from hub.db import Database

    settings = Settings.from_env()
    signer = Signer.from_secret_dir(settings.secret_dir, settings.audit_origin)

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            try:
                checkpoint, new = await sign_checkpoint(db, signer)
            except CheckpointError as exc:
                print(f"checkpoint refused: {exc}", file=sys.stderr)
                return 1
            if checkpoint is None:
                print("the access log is empty: nothing to sign", file=sys.stderr)
                return 0
            if settings.kafka_bootstrap:
                from hub.connectors.checkpoints import CheckpointPublisher

                publisher = CheckpointPublisher(settings)
                try:
                    await publisher.publish(db)
                finally:
                    await publisher.close()
            print(checkpoint.note, end="")
            if not new:
                print("(the tree has not grown since this checkpoint)", file=sys.stderr)
            return 0
        finally:
            await db.dispose()

    return asyncio.run(run())


def cmd_audit_witness(args: argparse.Namespace) -> int:
    from hub.audit.note import NoteError, Verifier
    from hub.audit.witness import (
        WitnessRefused,
        WitnessState,
        WitnessUnavailable,
        client,
        witness_once,
    )

    state = WitnessState(Path(args.state))
    pinned = state.pinned()
    given = _read_vkey(args.key) if args.key else None
    if given and pinned and given != pinned:
        print("error: the state directory pins a different key", file=sys.stderr)
        return 2
    vkey = given or pinned
    if vkey is None:
        print("error: pin the hub's verifier key with --key (get it out of band)", file=sys.stderr)
        return 2
    try:
        verifier = Verifier.parse(vkey)
    except NoteError as exc:
        print(f"error: --key: {exc}", file=sys.stderr)
        return 2
    if pinned is None:
        state.pin(str(verifier))
    if args.count < 1 or args.every < 0:
        print("error: --count must be at least 1, --every not negative", file=sys.stderr)
        return 2

    async def run() -> int:
        code = 0
        async with client() as http:
            for i in range(args.count):
                if i:
                    await asyncio.sleep(args.every)
                try:
                    outcome = await witness_once(http, args.url, state, verifier)
                except WitnessRefused as exc:
                    print(f"REFUSED: {exc}")
                    return 1
                except WitnessUnavailable as exc:
                    print(f"could not check: {exc}", file=sys.stderr)
                    code = 2
                    continue
                cp = outcome.checkpoint
                if outcome.kept:
                    was = f" (was {outcome.previous.size})" if outcome.previous else ""
                    print(f"kept checkpoint: tree size {cp.size}{was}")
                else:
                    print(f"unchanged: tree size {cp.size}")
        return code

    return asyncio.run(run())


def cmd_audit_prove(args: argparse.Namespace) -> int:
    from hub.audit import merkle
    from hub.audit.note import NoteError, Verifier, open_checkpoint
    from hub.audit.proofs import ProveError, check_entry

    try:
        verifier = Verifier.parse(_read_vkey(args.key))
        entry = json.loads(Path(args.entry).read_text())
        if isinstance(entry, dict) and isinstance(entry.get("node"), dict):
            entry = entry["node"]  # an edge of the connection
        proven = check_entry(entry, verifier)
        witnessed = (
            open_checkpoint(Path(args.checkpoint).read_text(), verifier)
            if args.checkpoint
            else proven.checkpoint
        )
    except (NoteError, ProveError, ValueError, OSError) as exc:
        print(f"NOT PROVEN: {exc}")
        return 1
    small, large = sorted((proven.checkpoint, witnessed), key=lambda c: c.size)
    if small.size == large.size and small.root != large.root:
        print(f"NOT PROVEN: two different roots for tree size {small.size}")
        return 1
    if small.size != large.size:
        if not args.url:
            print(
                f"NOT PROVEN: the proof is for tree size {proven.checkpoint.size}, the "
                f"checkpoint given has {witnessed.size}: give --url to check they agree"
            )
            return 1
        import base64

        import httpx

        try:
            r = httpx.get(
                f"{args.url.rstrip('/')}/audit/consistency",
                params={"old": small.size, "new": large.size},
                timeout=10.0,
            )
            r.raise_for_status()
            hashes = [base64.b64decode(h, validate=True) for h in r.json()["hashes"]]
            merkle.verify_consistency(small.size, large.size, hashes, small.root, large.root)
        except merkle.ProofError as exc:
            print(f"NOT PROVEN: the two checkpoints are not consistent: {exc}")
            return 1
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            print(f"could not check consistency: {type(exc).__name__}", file=sys.stderr)
            return 2
    print(
        f"proven: entry {proven.leaf_index + 1} is leaf {proven.leaf_index} of the log "
        f"{proven.checkpoint.origin}, under the signed tree of size {witnessed.size}"
    )
    return 0


def cmd_policy_export(args: argparse.Namespace) -> int:
    """Write the database's active policy versions back to the policy directory."""
    import re

    from hub.db import Database
    from hub.policy.document import parse_document
    from hub.policy.store import active_documents
    from hub.policy.vocabulary import POLICY_DATA_FILES

    settings = Settings.from_env()
    directory = Path(args.dir) if args.dir else settings.policy_dir

    async def active() -> dict[str, tuple[int, str]]:
        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                return await active_documents(session)
        finally:
            await db.dispose()

    documents = asyncio.run(active())
    if not documents:
        print("no policy versions in the database yet (start the hub once)", file=sys.stderr)
        return 1
    existing = {}
    for path in directory.glob("*.yaml"):
        if path.name not in POLICY_DATA_FILES:
            existing[parse_document(path.read_text(), origin=path.name).resource.name] = path
    for resource, (version, text) in sorted(documents.items()):
        default = re.sub(r"(?<!^)(?=[A-Z])", "_", resource).lower() + ".yaml"
        path = existing.get(resource, directory / default)
        path.write_text(text)
        print(f"{path}: {resource} version {version}")
    return 0


def cmd_policy_test(args: argparse.Namespace) -> int:
    from hub.commands.policy_test import run_policy_tests

    directory = Path(args.dir) if args.dir else Settings.from_env().policy_dir
    tests = Path(args.tests) if args.tests else directory / "tests"
    failures = run_policy_tests(directory, tests, out=sys.stdout)
    return 1 if failures else 0


def cmd_retention_run(args: argparse.Namespace) -> int:
    from hub.audit.log import AuditLog
    from hub.db import Database
    from hub.models.base import utcnow
    from hub.policy.store import active_documents, compile_set
    from hub.services.retention import RetentionError, prune_outbox, run_retention

    settings = Settings.from_env()

    async def run() -> int:
        db = Database(settings.database_url)
        audit = AuditLog(db)
        try:
            async with db.session() as session:
                active = await active_documents(session)
            policies = compile_set(active, -1) if active else None
            if policies is None:
                from hub.policy.engine import PolicySet

                policies = PolicySet.from_directory(settings.policy_dir)
            try:
                now = utcnow()
                counts = await run_retention(db, policies, audit, now=now, dry_run=args.dry_run)
                if not args.dry_run:
                    counts["Outbox"] = await prune_outbox(db, audit, now=now)
            except RetentionError as exc:
                print(f"retention failed for: {', '.join(exc.failed)}", file=sys.stderr)
                counts, code = exc.counts, 1
            else:
                code = 0
            verb = "would remove" if args.dry_run else "removed or anonymised"
            for resource, n in sorted(counts.items()):
                print(f"{resource}: {verb} {n}")
            return code
        finally:
            await audit.close()
            await db.dispose()

    return asyncio.run(run())


async def _run_connectors(settings: Settings) -> None:
    """The app's lifespan with connectors, without serving HTTP, until SIGINT or SIGTERM."""
    import contextlib
    import logging
    import signal

    from hub.app import create_app

    app = create_app(settings.with_(connectors="inline"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        logging.getLogger("hub.connectors").info("connectors running")
        await stop.wait()
    logging.getLogger("hub.connectors").info("connectors stopped")


def cmd_connectors_run(_args: argparse.Namespace) -> int:
    import contextlib

    from hub.db import upgrade

    settings = Settings.from_env()
    if not settings.kafka_bootstrap:
        print("set HUB_KAFKA_BOOTSTRAP to run the Kafka connectors", file=sys.stderr)
        return 2
    if not _logging(settings):
        return 2
    upgrade(settings.database_url)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_connectors(settings))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hub", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the hub (migrates the database first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="seed demo data, print a token per role, and serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--scale", type=int, default=1, help="multiply premises and workers")
    demo.add_argument("--no-serve", action="store_true", help="prepare and print, then exit")
    demo.set_defaults(func=cmd_demo)

    token = sub.add_parser("token", help="mint an access token for a registered client")
    token.add_argument("--client", required=True)
    token.add_argument("--lifetime", type=int, default=None, help="seconds")
    token.set_defaults(func=cmd_token)

    client = sub.add_parser("client", help="manage API clients").add_subparsers(
        dest="client_command", required=True
    )
    add = client.add_parser("add", help="register a client; prints its secret once")
    add.add_argument("--id", required=True)
    add.add_argument("--org", required=True, help="organisation id")
    add.add_argument("--roles", required=True, help="comma-separated")
    add.add_argument("--purposes", required=True, help="comma-separated")
    add.add_argument("--sex-worker", default=None, help="the worker's id (sex_worker role)")
    add.set_defaults(func=cmd_client_add)
    for name, text in (
        ("disable", "refuse the client's tokens everywhere within a second"),
        ("enable", "let a disabled client ask for new tokens"),
    ):
        status = client.add_parser(name, help=text)
        status.add_argument("--id", required=True)
        status.set_defaults(func=cmd_client_status)
    rotate = client.add_parser(
        "rotate-secret", help="give a client a new secret (printed once); its tokens are refused"
    )
    rotate.add_argument("--id", required=True)
    rotate.set_defaults(func=cmd_client_rotate_secret)
    client.add_parser("list", help="the registered clients (never their secrets)").set_defaults(
        func=cmd_client_list
    )

    keys = sub.add_parser("keys", help="the embedded issuer's signing keys").add_subparsers(
        dest="keys_command", required=True
    )
    krotate = keys.add_parser(
        "rotate",
        help="make a new signing key current; the old one verifies until its tokens expire",
    )
    krotate.add_argument(
        "--revoke-previous",
        action="store_true",
        help="after a key compromise: the previous keys stop verifying at once",
    )
    krotate.set_defaults(func=cmd_keys_rotate)
    keys.add_parser("list", help="the current key and the retired ones").set_defaults(
        func=cmd_keys_list
    )

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply Alembic migrations").set_defaults(func=cmd_db_upgrade)

    audit = sub.add_parser("audit", help="the access log").add_subparsers(
        dest="audit_command", required=True
    )
    verify = audit.add_parser(
        "verify", help="rebuild the tree from the entries; exit 1 if tampered"
    )
    verify.add_argument(
        "--checkpoint",
        action="append",
        help="a witnessed checkpoint file, or a witness's state directory (repeatable)",
    )
    verify.add_argument("--key", default=None, help="verifier key (or a file holding it)")
    verify.set_defaults(func=cmd_audit_verify)
    audit.add_parser(
        "checkpoint", help="sign a checkpoint of the log now (if it grew) and print it"
    ).set_defaults(func=cmd_audit_checkpoint)
    witness = audit.add_parser(
        "witness", help="fetch, verify and keep the hub's latest checkpoint (exit 1: refused)"
    )
    witness.add_argument("--url", required=True, help="the hub's base URL")
    witness.add_argument("--state", required=True, help="directory of kept checkpoints")
    witness.add_argument("--key", default=None, help="verifier key to pin (or a file)")
    witness.add_argument("--every", type=float, default=60.0, help="seconds between passes")
    witness.add_argument("--count", type=int, default=1, help="passes (default one)")
    witness.set_defaults(func=cmd_audit_witness)
    prove = audit.add_parser("prove", help="check one myAccessLog entry's inclusion proof offline")
    prove.add_argument("--entry", required=True, help="the entry as JSON, with its proof")
    prove.add_argument("--checkpoint", default=None, help="a witnessed checkpoint file")
    prove.add_argument("--key", required=True, help="verifier key (or a file holding it)")
    prove.add_argument("--url", default=None, help="the hub, for a consistency proof")
    prove.set_defaults(func=cmd_audit_prove)

    retention = sub.add_parser("retention", help="delete or anonymise what is past retention")
    rsub = retention.add_subparsers(dest="retention_command", required=True)
    rrun = rsub.add_parser("run", help="apply every resource's retention now")
    rrun.add_argument("--dry-run", action="store_true", help="count, change nothing")
    rrun.set_defaults(func=cmd_retention_run)

    connectors = sub.add_parser("connectors", help="the Kafka connectors").add_subparsers(
        dest="connectors_command", required=True
    )
    connectors.add_parser(
        "run", help="run the outbox relay and partner inbox consumers (until interrupted)"
    ).set_defaults(func=cmd_connectors_run)

    policy = sub.add_parser("policy", help="access policies").add_subparsers(
        dest="policy_command", required=True
    )
    check = policy.add_parser("check", help="validate and compile the policy documents")
    check.add_argument("--dir", default=None)
    check.set_defaults(func=cmd_policy_check)
    ptest = policy.add_parser("test", help="run the cases in policies/tests against demo data")
    ptest.add_argument("--dir", default=None)
    ptest.add_argument("--tests", default=None)
    ptest.set_defaults(func=cmd_policy_test)
    export = policy.add_parser("export", help="write the active versions back to policies/")
    export.add_argument("--dir", default=None)
    export.set_defaults(func=cmd_policy_export)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
