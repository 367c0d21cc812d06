"""`hub outage add` and `hub outage list`: the outages of the hub, recorded by its operator.

A shift that started during a recorded outage may be registered late, citing it."""

from __future__ import annotations

import argparse
import getpass
from datetime import datetime
from typing import TYPE_CHECKING

from hub.commands.common import fail, settings, with_database

if TYPE_CHECKING:
    from hub.db import Database


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 moment such as 2026-12-01T14:00+01:00"
        ) from None


def add(args: argparse.Namespace) -> int:
    from hub.audit.log import AuditLog
    from hub.models.base import utcnow
    from hub.services.outages import OutageRefused, check_outage, record_outage

    try:
        starts_at, ends_at = _moment(args.start), _moment(args.end)
        check_outage(starts_at, ends_at, args.reason, utcnow())
    except (argparse.ArgumentTypeError, OutageRefused) as exc:
        return fail(str(exc), 2)
    config = settings()
    who = f"cli:{args.by or getpass.getuser()}"

    async def apply(db: Database) -> int:
        audit = AuditLog(db)
        try:
            row = await record_outage(
                db,
                audit,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=args.reason,
                recorded_by=who,
                now=utcnow(),
            )
        except OutageRefused as exc:
            return fail(str(exc))
        finally:
            await audit.close()
        print(f"outage {row.id} recorded: {row.starts_at.isoformat()} to {row.ends_at.isoformat()}")
        return 0

    return with_database(config, apply)


def list_outages(_args: argparse.Namespace) -> int:
    from hub.services.outages import list_outages as listed

    async def show(db: Database) -> int:
        for row in await listed(db):
            print(
                f"{row.id}\t{row.starts_at.isoformat()}\t{row.ends_at.isoformat()}\t"
                f"{row.reason}\t{row.recorded_by}"
            )
        return 0

    return with_database(settings(), show)
