"""`hub retention run`: apply every resource's retention now."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from hub.commands.common import settings, with_database

if TYPE_CHECKING:
    from hub.db import Database


def run(args: argparse.Namespace) -> int:
    from hub.audit.log import AuditLog
    from hub.models.base import utcnow
    from hub.policy.engine import PolicySet
    from hub.policy.store import active_documents, compile_set
    from hub.services.retention import RetentionError, prune_outbox, run_retention

    config = settings()

    async def apply(db: Database) -> int:
        audit = AuditLog(db)
        try:
            async with db.session() as session:
                active = await active_documents(session)
            policies = compile_set(active, -1) if active else None
            if policies is None:
                policies = PolicySet.from_directory(config.policy_dir)
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

    return with_database(config, apply)
