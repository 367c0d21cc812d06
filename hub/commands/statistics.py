"""`hub statistics publish`: publish (freeze) a city's indicators for one closed period."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from hub.commands.common import settings, with_database

if TYPE_CHECKING:
    from hub.db import Database


# Who the access log names for a report the command published or printed.
STATISTICS_ACTOR = "hub:statistics"


def publish(args: argparse.Namespace) -> int:
    from hub.audit.log import AuditLog, AuditRecord
    from hub.models.base import utcnow
    from hub.policy.engine import PolicySet
    from hub.policy.store import active_documents, compile_set
    from hub.services.base import clean_text
    from hub.services.statistics import AUDIT_RESOURCE, MAX_CITY, parse_period
    from hub.services.statistics import publish as publish_report

    config = settings()
    period = parse_period(args.period)
    if period is None:
        print(
            f"--period: {args.period!r} is not a quarter (2026-Q3) or a year (2025)",
            file=sys.stderr,
        )
        return 2
    try:
        city = clean_text(args.city, max_len=MAX_CITY)
    except ValueError as error:
        print(f"--city: {error}", file=sys.stderr)
        return 2

    async def apply(db: Database) -> int:
        async with db.session() as session:
            active = await active_documents(session)
        policies = compile_set(active, -1) if active else None
        if policies is None:
            policies = PolicySet.from_directory(config.policy_dir)
        now = utcnow()
        try:
            report, new = await publish_report(db, policies, city, period, now=now)
        except ValueError as error:
            print(f"--period: {error}: only closed periods are published", file=sys.stderr)
            return 2
        # The figures leave the hub on this terminal: logged like a read of them through
        # the API (which indicators, never a value), with the operator's command as actor.
        audit = AuditLog(db)
        try:
            await audit.append(
                [
                    AuditRecord(
                        at=now,
                        action="aggregate",
                        resource=AUDIT_RESOURCE,
                        subject=STATISTICS_ACTOR,
                        operation="statistics publish",
                        fields=sorted(report.figures),
                        policy_version=policies.version,
                        outcome="allowed",
                        reason=f"{'published' if new else 'printed'} {city} {period.label}",
                    )
                ]
            )
        finally:
            await audit.close()
        when = report.published_at.isoformat(timespec="seconds")
        state = "published now" if new else "already published"
        print(f"{city} {period.label}: {state} at {when}")
        print(json.dumps(report.figures, indent=2, sort_keys=True))
        return 0

    return with_database(config, apply)
