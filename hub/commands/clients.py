"""`hub client ...` and `hub org list`: the API clients of the embedded issuer and the
organisations they belong to."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from hub.commands.common import fail, in_session, settings

if TYPE_CHECKING:
    from hub.config import Settings


def _message(error: Exception) -> str:
    from hub.errors import HubError

    return error.message if isinstance(error, HubError) else str(error)


def _controllers(config: Settings) -> Any:
    from hub.auth.controllers import DataControllers

    return DataControllers.from_directory(config.policy_dir)


def add(args: argparse.Namespace) -> int:
    from hub.auth.clients import register_client
    from hub.auth.controllers import ControllersError
    from hub.errors import HubError

    config = settings()
    try:
        controllers = _controllers(config)
        secret = in_session(
            config,
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
        return fail(_message(e))
    print(f"client_id={args.id}\nclient_secret={secret}\n(the secret is shown once)")
    return 0


def set_status(args: argparse.Namespace) -> int:
    """hub client disable|enable: refused on every replica within a second."""
    from hub.auth.clients import set_client_disabled
    from hub.errors import HubError

    disable = args.client_command == "disable"
    config = settings()
    try:
        changed = in_session(
            config, lambda session: set_client_disabled(session, args.id, disabled=disable)
        )
    except HubError as e:
        return fail(e.message)
    state = "disabled" if disable else "enabled"
    if not changed:
        print(f"client {args.id} was already {state}")
    elif disable:
        print(f"client {args.id} disabled: its tokens are refused from now on")
    else:
        print(f"client {args.id} enabled: it may ask for new tokens (earlier ones stay refused)")
    return 0


def rotate_secret(args: argparse.Namespace) -> int:
    from hub.auth.clients import rotate_client_secret
    from hub.errors import HubError

    config = settings()
    try:
        secret = in_session(config, lambda session: rotate_client_secret(session, args.id))
    except HubError as e:
        return fail(e.message)
    print(
        f"client_id={args.id}\nclient_secret={secret}\n"
        "(the secret is shown once; the old secret and the tokens obtained with it are refused)"
    )
    return 0


def list_clients(_args: argparse.Namespace) -> int:
    """The registered clients, never their secrets."""
    from hub.auth.clients import list_clients as registered
    from hub.auth.controllers import ControllersError

    config = settings()
    try:
        controllers = _controllers(config)
        clients = in_session(config, lambda session: registered(session, controllers))
    except ControllersError as e:
        return fail(str(e))
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


def list_organisations(args: argparse.Namespace) -> int:
    """The registered organisations: id, name, kind, city (tab-separated), for the operator
    on the hub's machine (these are the raw ids, never shown to partners)."""
    from sqlalchemy import select
    from sqlmodel import col

    from hub.models import Organisation

    config = settings()

    async def rows(session: Any) -> list[Any]:
        stmt = select(Organisation).order_by(
            col(Organisation.kind), col(Organisation.city), col(Organisation.name)
        )
        if args.kind:
            stmt = stmt.where(Organisation.kind == args.kind)
        if args.city:
            stmt = stmt.where(Organisation.city == args.city)
        return list((await session.execute(stmt)).scalars().all())

    found = in_session(config, rows)
    print("id\tname\tkind\tcity")
    for org in found:
        print(f"{org.id}\t{org.name}\t{org.kind}\t{org.city or '-'}")
    print(f"{len(found)} organisations")
    return 0
