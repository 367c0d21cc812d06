"""Late registration after a recorded outage of the hub: a shift that started during an
outage an operator of the hub recorded (`hub outage add`) may be registered late, citing
it, until three days after it ended; without such an outage the advance rule stands."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from hub.audit.log import AuditLog
from hub.models import AccessLogEntry, Outage, RentalAgreement, ShiftRegistration
from hub.models.base import utcnow
from hub.services.outages import OutageRefused, record_outage
from tests.conftest import BACKENDS, ROOT, Hub, Templates, _start
from tests.served import hub_env
from tests.test_workflows import OPERATOR, REGISTER_SHIFT, insert, make_site, refused, scalars

H = timedelta(hours=1)


@pytest.fixture(scope="module", params=BACKENDS)
def hub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hub]:
    yield from _start(templates, request.param, tmp_path_factory.mktemp("outages"), seeded=True)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _site_with_rental(hub: Hub, base: datetime) -> Any:
    """Premises, a worker and a confirmed rental from base-2h to base+20h."""
    site = make_site(hub, base=base)
    insert(
        hub,
        RentalAgreement(
            premises_id=site.premises_id, window=1, sex_worker_id=site.worker_id,
            starts_at=base - 2 * H, ends_at=base + 20 * H, confirmed=True, confirmed_at=base - 3 * H,
        ),
    )  # fmt: skip
    return site


def _outage(hub: Hub, start: datetime, end: datetime, reason: str = "database failover") -> Outage:
    audit: AuditLog = hub.app.state.hub.audit
    return hub.run(  # type: ignore[no-any-return]
        record_outage(
            hub.db, audit, starts_at=start, ends_at=end, reason=reason,
            recorded_by="cli:test-operator", now=utcnow(),
        )
    )  # fmt: skip


def _late(shift: dict[str, Any]) -> dict[str, Any]:
    return {"input": {**shift, "lateAfterOutage": True}}


def test_a_shift_started_during_a_recorded_outage_is_registered_late_citing_it(hub):
    base = _hour(utcnow()) - 30 * H  # the shift started 30 hours ago
    site = _site_with_rental(hub, base)
    shift = site.shift(0, 4)

    # Without an outage: the advance rule, with or without the flag.
    message = refused(hub, REGISTER_SHIFT, {"input": shift}, "BAD_USER_INPUT", as_=OPERATOR)
    assert "in advance" in message
    message = refused(hub, REGISTER_SHIFT, _late(shift), "BAD_USER_INPUT", as_=OPERATOR)
    assert "no recorded outage" in message

    outage = _outage(hub, base - H, base + 2 * H)
    # Citing the outage is a choice the operator makes: without it, still refused.
    refused(hub, REGISTER_SHIFT, {"input": shift}, "BAD_USER_INPUT", as_=OPERATOR)
    done = hub.ok(REGISTER_SHIFT, _late(shift), as_=OPERATOR)["registerShift"]
    assert done["status"] == "REGISTERED"
    (row,) = scalars(hub, select(ShiftRegistration).where(col(ShiftRegistration.id) == done["id"]))
    assert row.outage_id == outage.id

    # A shift of the same rental that started after the outage ended: refused.
    message = refused(hub, REGISTER_SHIFT, _late(site.shift(5, 8)), "BAD_USER_INPUT", as_=OPERATOR)
    assert "no recorded outage" in message


def test_late_registration_ends_three_days_after_the_outage(hub):
    base = _hour(utcnow()) - 100 * H  # started 100 hours ago, during an outage ended 97 h ago
    site = _site_with_rental(hub, base)
    _outage(hub, base - H, base + 3 * H)
    message = refused(hub, REGISTER_SHIFT, _late(site.shift(0, 2)), "BAD_USER_INPUT", as_=OPERATOR)
    assert "3 days" in message


def test_an_outage_is_checked_and_its_recording_logged(hub):
    now = _hour(utcnow())
    with pytest.raises(OutageRefused, match="once it has ended"):
        _outage(hub, now - H, now + H)
    with pytest.raises(OutageRefused, match="after the start"):
        _outage(hub, now - 200 * H, now - 201 * H)
    with pytest.raises(OutageRefused, match="at most 7 days"):
        _outage(hub, now - 400 * H, now - 200 * H)
    with pytest.raises(OutageRefused, match="control"):
        _outage(hub, now - 300 * H, now - 299 * H, reason="bad\x1b[31m")
    first = _outage(hub, now - 300 * H, now - 299 * H)
    with pytest.raises(OutageRefused, match="overlaps"):
        _outage(hub, now - 300 * H + timedelta(minutes=30), now - 298 * H)
    logged = scalars(
        hub, select(AccessLogEntry).where(col(AccessLogEntry.action) == "outage:record")
    )
    assert first.id in {i for e in logged for i in e.record_ids}


def test_hub_outage_add_on_the_command_line(hub, tmp_path):
    env = hub_env(hub.url, tmp_path / "secrets")
    end = _hour(utcnow()) - 500 * H

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "hub.cli", "outage", *args],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    added = cli("add", "--start", (end - H).isoformat(), "--end", end.isoformat(),
                "--reason", "power cut at the data centre", "--by", "ops")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "recorded" in added.stdout
    listed = cli("list")
    assert listed.returncode == 0 and "power cut at the data centre\tcli:ops" in listed.stdout
    wrong = cli("add", "--start", "yesterday", "--end", end.isoformat(), "--reason", "x")
    assert wrong.returncode == 2 and "ISO 8601" in wrong.stderr


def test_the_outage_table_and_new_columns_match_their_models(hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with hub.db.engine.connect() as conn:
            return await conn.run_sync(  # type: ignore[no-any-return]
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    names = ("hub_outage", "outage_id", "last_active_at")
    assert [d for d in hub.run(diffs()) if any(n in repr(d) for n in names)] == []
