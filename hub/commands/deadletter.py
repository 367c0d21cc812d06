"""`hub deadletter list|replay`: the inbound messages kept in the local dead-letter table
(those the dead-letter topic did not take); never their payloads on screen."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hub.commands.common import fail, settings, with_database

if TYPE_CHECKING:
    from hub.db import Database

COLUMNS = ("id", "at", "partner", "source", "reason", "size", "sha256", "replayed", "detail")


def list_letters(args: argparse.Namespace) -> int:
    from hub.connectors import deadletters

    config = settings()

    async def show(db: Database) -> int:
        rows = await deadletters.listing(db, replayed=args.all)
        print("\t".join(COLUMNS))
        for d in rows:
            print(
                "\t".join(
                    [
                        str(d.id),
                        d.at.isoformat(timespec="seconds"),
                        d.partner,
                        f"{d.topic}[{d.partition}]@{d.offset}",
                        d.reason,
                        str(d.size),
                        d.sha256[:16],
                        d.replayed_at.isoformat(timespec="seconds") if d.replayed_at else "-",
                        d.detail.replace("\t", " ").replace("\n", " "),
                    ]
                )
            )
        print(f"{len(rows)} dead letter(s)", file=sys.stderr)
        return 0

    return with_database(config, show)


def replay(args: argparse.Namespace) -> int:
    from hub.connectors import deadletters

    config = settings()
    if not config.kafka_bootstrap:
        return fail("set HUB_KAFKA_BOOTSTRAP to replay dead letters", 2)
    if not args.all and not args.id:
        return fail("name the dead letters to replay (--id N, repeatable) or give --all", 2)

    async def send(db: Database) -> int:
        result = await deadletters.replay(db, config, None if args.all else args.id)
        for i in result.sent:
            print(f"{i}\treplayed")
        for i, why in sorted(result.skipped.items()):
            print(f"{i}\tskipped: {why}")
        return 1 if result.skipped else 0

    return with_database(config, send)
