"""The `hub` command: serve, demo, token, client, user, org, keys, db, policy, audit, retention,
outage, statistics, connectors, deadletter, schema and events.

This module only parses arguments; each subcommand lives in hub/commands/ and is imported
when it runs, so `hub --help` answers without loading the database layer or the schema.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

# Help shared by several subcommands.
DIR_HELP = "the policy directory (default: HUB_POLICY_DIR, ./policies)"
VKEY_HELP = "the hub's checkpoint verifier key, or a file holding it (GET /audit/key)"
OUTPUT_HELP = "write to this file instead of standard output"

EPILOG = """\
Every command reads its settings from HUB_* environment variables (see the README's
Configuration): HUB_DATABASE_URL, HUB_SECRET_DIR and HUB_POLICY_DIR above all. A wrong
value is named and the command exits with status 2.

First steps:
  hub demo                     seed demo data, print a token per role, serve on :8000
  hub org list                 the organisations and their ids
  hub client add --id ID --org ORG_ID --roles ROLE --purposes PURPOSE
  hub token --client ID        a token for that client, for the hub being served
  hub user add --username NAME --name "FULL NAME" --org ORG_ID --roles ROLE --purposes P
                               a person who logs in to the consoles (password printed once)
"""


def _command(
    parent: Any, name: str, help: str, run: str, *, epilog: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand whose implementation, `module:function` under hub.commands, is imported
    only when it runs."""
    parser: argparse.ArgumentParser = parent.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        epilog=textwrap.fill(epilog, 79) if epilog else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(run=run)
    return parser


def _group(parent: Any, name: str, help: str) -> Any:
    """A subcommand with subcommands of its own."""
    parser = parent.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".")
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")


def _address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on (default: %(default)s; 0.0.0.0 for every interface)",
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="the port to listen on (default: %(default)s)"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hub",
        description="The hub: a GraphQL integration hub for Belgian cities, police and NGOs "
        "around sex-work policy.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = _command(
        sub,
        "serve",
        "run the hub (migrates the database first)",
        "serve:serve",
        epilog="The issuer URL of the built-in token issuer is http://HOST:PORT unless "
        "HUB_ISSUER_URL gives it; it is recorded in HUB_SECRET_DIR while the hub runs, for "
        "`hub token`.",
    )
    _address(serve)

    demo = _command(sub, "demo", "seed demo data, print a token per role, and serve", "serve:demo")
    _address(demo)
    demo.add_argument(
        "--scale",
        type=int,
        default=1,
        help="multiply the demo's premises and workers by this (default: %(default)s)",
    )
    demo.add_argument(
        "--no-serve", action="store_true", help="seed and print the tokens, then exit"
    )

    token = _command(
        sub,
        "token",
        "mint an access token for a registered client",
        "token:token",
        epilog="The token's issuer (`iss`) is --issuer, else HUB_ISSUER_URL, else the address "
        "the running `hub serve` (or `hub demo`) recorded in HUB_SECRET_DIR, else "
        "http://127.0.0.1:8000.",
    )
    token.add_argument("--client", required=True, help="the client id (see `hub client list`)")
    token.add_argument(
        "--lifetime",
        type=int,
        default=None,
        help="seconds the token is valid (default: HUB_TOKEN_LIFETIME; at most 86400)",
    )
    token.add_argument(
        "--issuer",
        default=None,
        metavar="URL",
        help="the issuer URL of the hub that will verify the token, e.g. http://127.0.0.1:8000",
    )

    client = _group(sub, "client", "manage the API clients of the built-in token issuer")
    add = _command(client, "add", "register a client; prints its secret once", "clients:add")
    add.add_argument("--id", required=True, help="the new client's id, e.g. police-rms")
    add.add_argument("--org", required=True, help="the id of its organisation (see `hub org list`)")
    add.add_argument("--roles", required=True, help="comma-separated roles, e.g. police_officer")
    add.add_argument("--purposes", required=True, help="comma-separated purposes its tokens allow")
    add.add_argument(
        "--sex-worker",
        default=None,
        metavar="ID",
        help="for the sex_worker role only: the worker's own record id",
    )
    for name, text in (
        ("disable", "refuse the client's tokens everywhere within a second"),
        ("enable", "let a disabled client ask for new tokens"),
    ):
        status = _command(client, name, text, "clients:set_status")
        status.add_argument("--id", required=True, help="the client id")
    rotate = _command(
        client,
        "rotate-secret",
        "give a client a new secret (printed once); its tokens are refused",
        "clients:rotate_secret",
    )
    rotate.add_argument("--id", required=True, help="the client id")
    _command(client, "list", "the registered clients (never their secrets)", "clients:list_clients")

    user = _group(sub, "user", "manage the people who log in to the consoles (built-in issuer)")
    uadd = _command(
        user,
        "add",
        "add a person; prints a generated password once unless --password-stdin",
        "users:add",
        epilog="The password is at least 12 characters, without control or invisible "
        "characters; it is never taken from the command line.",
    )
    uadd.add_argument("--username", required=True, help="their login name, e.g. an.peeters")
    uadd.add_argument("--name", required=True, help="their name as the consoles show it")
    uadd.add_argument("--org", required=True, help="the id of their organisation (hub org list)")
    uadd.add_argument("--roles", required=True, help="comma-separated roles, e.g. privacy_officer")
    uadd.add_argument("--purposes", required=True, help="comma-separated purposes")
    uadd.add_argument(
        "--sex-worker-id",
        default=None,
        metavar="ID",
        help="with the sex_worker role only: the worker's record id; without it, a worker who "
        "registers themself on /me where the city's regime allows it",
    )
    uadd.add_argument(
        "--locale", default=None, choices=("nl", "fr", "en"), help="the consoles' language"
    )
    for name, text, run in (
        (
            "disable",
            "refuse the person's login and tokens everywhere within a second",
            "set_status",
        ),
        ("enable", "let a disabled person log in again", "set_status"),
        ("password", "set a new password; prints a generated one once", "password"),
    ):
        ucmd = _command(user, name, text, f"users:{run}")
        ucmd.add_argument("--username", required=True, help="the person's username")
        if name == "password":
            ucmd.add_argument(
                "--password-stdin",
                action="store_true",
                help="read the new password from the first line of standard input",
            )
    uadd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    _command(user, "list", "the people (never their passwords)", "users:list_users")

    org = _group(sub, "org", "the partner organisations")
    orgs = _command(
        org,
        "list",
        "the organisations: id, name, kind and city, tab-separated",
        "clients:list_organisations",
        epilog="These are the hub's own ids, for `hub client add --org`; partners never see "
        "them (each receives ids sealed for it).",
    )
    orgs.add_argument("--kind", default=None, help="only this kind, e.g. police or ngo")
    orgs.add_argument("--city", default=None, help="only this city, e.g. Antwerpen")

    keys = _group(sub, "keys", "the built-in issuer's signing keys")
    krotate = _command(
        keys,
        "rotate",
        "make a new signing key current; the old one verifies until its tokens expire",
        "keys:rotate",
    )
    krotate.add_argument(
        "--revoke-previous",
        action="store_true",
        help="after a key compromise: the previous keys stop verifying at once",
    )
    _command(keys, "list", "the current key and the retired ones", "keys:list_keys")

    db = _group(sub, "db", "the database schema")
    _command(db, "upgrade", "apply the Alembic migrations", "database:upgrade")

    audit = _group(sub, "audit", "the access log")
    verify = _command(
        audit, "verify", "rebuild the tree from the entries; exit 1 if tampered", "audit:verify"
    )
    verify.add_argument(
        "--checkpoint",
        action="append",
        metavar="PATH",
        help="a witnessed checkpoint file, or a witness's state directory (repeatable)",
    )
    verify.add_argument("--key", default=None, help=VKEY_HELP)
    _command(
        audit,
        "checkpoint",
        "sign a checkpoint of the log now (if it grew) and print it",
        "audit:checkpoint",
    )
    witness = _command(
        audit,
        "witness",
        "fetch, verify and keep the hub's latest checkpoint (exit 1: refused)",
        "audit:witness",
    )
    witness.add_argument("--url", required=True, help="the hub's base URL")
    witness.add_argument(
        "--state", required=True, metavar="DIR", help="directory of the kept checkpoints"
    )
    witness.add_argument(
        "--key", default=None, help=VKEY_HELP + "; pinned in --state on the first run"
    )
    witness.add_argument(
        "--every", type=float, default=60.0, help="seconds between passes (default: %(default)s)"
    )
    witness.add_argument(
        "--count", type=int, default=1, help="how many passes (default: %(default)s)"
    )
    prove = _command(
        audit, "prove", "check one myAccessLog entry's inclusion proof offline", "audit:prove"
    )
    prove.add_argument(
        "--entry", required=True, metavar="FILE", help="the entry as JSON, with its proof"
    )
    prove.add_argument(
        "--checkpoint", default=None, metavar="FILE", help="a witnessed checkpoint to check against"
    )
    prove.add_argument("--key", required=True, help=VKEY_HELP)
    prove.add_argument(
        "--url", default=None, help="the hub's base URL, to fetch a consistency proof"
    )

    retention = _group(sub, "retention", "delete or anonymise what is past retention")
    rrun = _command(retention, "run", "apply every resource's retention now", "retention:run")
    rrun.add_argument("--dry-run", action="store_true", help="count, change nothing")

    outage = _group(sub, "outage", "the recorded outages of the hub (late shift registration)")
    oadd = _command(
        outage,
        "add",
        "record an outage of the hub that has ended",
        "outage:add",
        epilog="Shifts that started during it may then be registered late, citing it "
        "(registerShift with lateAfterOutage), until 3 days after it ended.",
    )
    oadd.add_argument("--start", required=True, help="when it began (ISO 8601, with its zone)")
    oadd.add_argument("--end", required=True, help="when it ended (ISO 8601, with its zone)")
    oadd.add_argument("--reason", required=True, help="what happened (no personal data)")
    oadd.add_argument(
        "--by", default=None, help="who records it (default: the account running the command)"
    )
    _command(outage, "list", "the recorded outages, newest first", "outage:list_outages")

    statistics = _group(sub, "statistics", "the published indicator reports")
    spublish = _command(
        statistics,
        "publish",
        "publish a city's indicators for a closed quarter or year (frozen from then on)",
        "statistics:publish",
        epilog="A report is also published the first time it is asked for. Once published, "
        "its figures never change, even when records of the period arrive late. Prints the "
        "suppressed figures, never a raw count.",
    )
    spublish.add_argument("--city", required=True, help="the city, e.g. Antwerpen")
    spublish.add_argument(
        "--period", required=True, help="a closed quarter (2026-Q3) or year (2025)"
    )

    connectors = _group(sub, "connectors", "the Kafka connectors")
    _command(
        connectors,
        "run",
        "run the outbox relay and partner inbox consumers (until interrupted)",
        "serve:connectors_run",
    )

    dead = _group(sub, "deadletter", "inbound messages kept in the local dead-letter table")
    dlist = _command(
        dead,
        "list",
        "the dead letters not replayed yet, oldest first (never their payloads)",
        "deadletter:list_letters",
        epilog="Only those the dead-letter topic hub.deadletter did not take are kept here; "
        "the others are on that topic.",
    )
    dlist.add_argument("--all", action="store_true", help="the replayed ones too")
    dreplay = _command(
        dead,
        "replay",
        "send dead letters back to the inbox they came from, once the cause is fixed",
        "deadletter:replay",
        epilog="Each event id is applied once, so replaying one that was applied meanwhile "
        "changes nothing. A message left out for its size cannot be replayed.",
    )
    dreplay.add_argument(
        "--id", type=int, action="append", metavar="N", help="a dead letter's id (repeatable)"
    )
    dreplay.add_argument("--all", action="store_true", help="every one not replayed yet")

    policy = _group(sub, "policy", "the access policies")
    check = _command(policy, "check", "validate and compile the policy documents", "policy:check")
    check.add_argument("--dir", default=None, help=DIR_HELP)
    ptest = _command(
        policy, "test", "run the cases in policies/tests against demo data", "policy:test"
    )
    ptest.add_argument("--dir", default=None, help=DIR_HELP)
    ptest.add_argument(
        "--tests", default=None, metavar="DIR", help="the test cases (default: DIR/tests)"
    )
    export = _command(
        policy, "export", "write the database's active versions back to files", "policy:export"
    )
    export.add_argument("--dir", default=None, help=DIR_HELP)

    schema = _group(sub, "schema", "the GraphQL schema")
    sexport = _command(schema, "export", "print the GraphQL schema (SDL)", "docs:schema_export")
    sexport.add_argument("--output", "-o", default=None, metavar="FILE", help=OUTPUT_HELP)

    events = _group(sub, "events", "the domain events")
    catalogue = _command(
        events,
        "catalogue",
        "print the event catalogue (Markdown): type, resource, when, data fields",
        "docs:events_catalogue",
    )
    catalogue.add_argument("--output", "-o", default=None, metavar="FILE", help=OUTPUT_HELP)
    catalogue.add_argument(
        "--asyncapi",
        default=None,
        metavar="FILE",
        help="the AsyncAPI document to read (default: the repository's asyncapi.yaml)",
    )
    return p


def _resolve(run: str) -> Callable[[argparse.Namespace], int]:
    module, _, name = run.partition(":")
    return getattr(importlib.import_module(f"hub.commands.{module}"), name)  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from hub.commands.common import ConfigurationError

    try:
        return int(_resolve(args.run)(args))
    except ConfigurationError as e:
        for line in e.lines:
            print(line, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
