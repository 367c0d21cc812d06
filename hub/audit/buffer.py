"""The access-log entries of one request (or one inbound message), collected while it
runs and appended together, before its answer leaves."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.audit.log import AuditLog, AuditRecord


@dataclass
class AuditBuffer:
    records: list[AuditRecord] = field(default_factory=list)
    # (action, resource, code) of refusals already recorded: one entry per kind and request.
    denials: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, record: AuditRecord) -> None:
        self.records.append(record)

    async def flush(self, log: AuditLog, operation: str) -> None:
        """Append what was collected, named after `operation`; waits until durable."""
        records, self.records = self.records, []
        for r in records:
            r.operation = operation
        await log.append(records)
