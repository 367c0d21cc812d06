"""`hub user ...`: the people who log in to the consoles at the embedded issuer.

A password is read from standard input (`--password-stdin`: its first line, or typed
without echo at a terminal), or generated and printed once; it is never taken from the
command line, where `ps` and the shell's history would show it, and never printed
otherwise.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

from hub.commands.common import fail, in_session, settings

if TYPE_CHECKING:
    from hub.errors import HubError


def _failed(error: HubError) -> int:
    from hub.errors import Code

    # Bad input exits 2, like a wrong setting; a refusal (unknown, taken, forbidden) 1.
    return fail(error.message, 2 if error.code == Code.BAD_USER_INPUT else 1)


def _controllers(policy_dir: Any) -> Any:
    from hub.auth.controllers import DataControllers

    return DataControllers.from_directory(policy_dir)


def _password(args: argparse.Namespace) -> tuple[str | None, bool]:
    """(the password, whether it was generated); None when stdin gave none."""
    from hub.auth.people import generate_password

    if not args.password_stdin:
        return generate_password(), True
    if sys.stdin.isatty():  # typed by hand: not echoed
        return (getpass.getpass("password: ") or None), False
    line = sys.stdin.readline()
    password = line[:-1] if line.endswith("\n") else line
    if password.endswith("\r"):
        password = password[:-1]
    return (password or None), False


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add(args: argparse.Namespace) -> int:
    from hub.auth.controllers import ControllersError
    from hub.auth.people import add_person
    from hub.errors import HubError

    config = settings()
    password, generated = _password(args)
    if password is None:
        return fail("--password-stdin: no password on standard input", 2)
    try:
        controllers = _controllers(config.policy_dir)
        in_session(
            config,
            lambda session: add_person(
                session,
                username=args.username,
                display_name=args.name,
                organisation_id=args.org,
                roles=_split(args.roles),
                purposes=_split(args.purposes),
                password=password,
                controllers=controllers,
                sex_worker_id=args.sex_worker_id,
                locale=args.locale,
            ),
        )
    except HubError as e:
        return _failed(e)
    except ControllersError as e:
        return fail(str(e))
    print(f"user {args.username.strip().lower()} added")
    if generated:
        print(f"password={password}\n(the password is shown once)")
    return 0


def set_status(args: argparse.Namespace) -> int:
    """hub user disable|enable: the person's tokens are refused within a second."""
    from hub.auth.people import set_person_disabled
    from hub.errors import HubError

    disable = args.user_command == "disable"
    config = settings()
    try:
        changed = in_session(
            config, lambda session: set_person_disabled(session, args.username, disabled=disable)
        )
    except HubError as e:
        return _failed(e)
    state = "disabled" if disable else "enabled"
    if not changed:
        print(f"user {args.username} was already {state}")
    elif disable:
        print(f"user {args.username} disabled: their tokens are refused from now on")
    else:
        print(f"user {args.username} enabled: they may log in again")
    return 0


def password(args: argparse.Namespace) -> int:
    """hub user password: a new password (from stdin, or generated and printed once)."""
    from hub.auth.people import set_password
    from hub.errors import HubError

    config = settings()
    new, generated = _password(args)
    if new is None:
        return fail("--password-stdin: no password on standard input", 2)
    try:
        in_session(config, lambda session: set_password(session, args.username, new))
    except HubError as e:
        return _failed(e)
    print(f"user {args.username}: password changed; their earlier tokens are refused")
    if generated:
        print(f"password={new}\n(the password is shown once)")
    return 0


def list_users(_args: argparse.Namespace) -> int:
    """The people, never their passwords nor hashes."""
    from hub.auth.controllers import ControllersError
    from hub.auth.people import list_people

    config = settings()
    try:
        controllers = _controllers(config.policy_dir)
        people = in_session(config, lambda session: list_people(session, controllers))
    except ControllersError as e:
        return fail(str(e))
    for p in people:
        status = "disabled" if p.disabled else ("REFUSED" if p.problems else "enabled")
        line = (
            f"{p.username}\t{status}\t{p.display_name}\t{p.organisation_name} "
            f"({p.organisation_kind})\troles={','.join(p.roles)}\t"
            f"purposes={','.join(p.purposes)}"
        )
        if p.sex_worker:
            line += "\tsex worker"
        print(line)
        for problem in p.problems:
            print(f"  refused: {problem}")
    print(f"{len(people)} users")
    return 0
