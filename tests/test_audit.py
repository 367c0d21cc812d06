"""The access log: every personal-data read, write and refusal is recorded (ids and field
names, never values), durably before the response, as the leaves of a Merkle tree that shows
tampering (tests/test_audit_merkle.py: checkpoints, witnesses, proofs)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
from sqlalchemy import delete, select, text, update

from hub.audit.verify import verify_chain
from hub.models import AccessLogEntry, AccessLogSubject

POLICE = "demo-police-antwerp"
# Shifts in progress (or starting within the hour): the police read identities only then.
Q = """query PoliceCheck($from: DateTime, $to: DateTime) { shifts(from: $from, to: $to,
  first: 5) { edges { node { id window premises { address }
  sexWorker { id workingName identity { legalName } } } } } }"""


def at_work() -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {"from": now.isoformat(), "to": (now + timedelta(minutes=55)).isoformat()}


def entries(hub, **where):
    async def load():
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry).order_by(AccessLogEntry.id)
            for k, v in where.items():
                stmt = stmt.where(getattr(AccessLogEntry, k) == v)
            rows = (await s.execute(stmt)).scalars().all()
            subs = (await s.execute(select(AccessLogSubject))).scalars().all()
        by = {}
        for x in subs:
            by.setdefault(x.entry_id, set()).add(x.sex_worker_id)
        return [(r, by.get(r.id, set())) for r in rows]

    return hub.run(load())


def test_a_read_names_exactly_the_records_and_fields_returned(hub):
    data = hub.ok(Q, at_work(), as_=POLICE, purpose="identity_validation")
    nodes = [e["node"] for e in data["shifts"]["edges"]]
    logged = {r.resource: (r, subs) for r, subs in entries(hub, operation="PoliceCheck")}

    shift, shift_subjects = logged["ShiftRegistration"]
    assert shift.action == "read" and shift.outcome == "allowed"
    assert shift.record_ids == [n["id"] for n in nodes]
    assert shift.fields == ["id", "premises", "sex_worker", "window"]
    assert shift_subjects == {n["sexWorker"]["id"] for n in nodes}
    assert shift.purpose == "identity_validation"
    assert shift.roles == "police_officer"
    assert shift.subject == POLICE
    assert shift.organisation_id == hub.demo.organisation_ids["antwerp_police"]
    assert shift.policy_version

    worker, worker_subjects = logged["SexWorker"]
    assert sorted(worker.record_ids) == sorted({n["sexWorker"]["id"] for n in nodes})
    assert worker.fields == ["id", "identity", "working_name"]
    assert worker_subjects == set(worker.record_ids)
    # Premises of window businesses are not personal data: no entry.
    assert "Premises" not in logged


def test_the_log_never_holds_values(hub):
    data = hub.ok(Q, at_work(), as_=POLICE, purpose="identity_validation")
    workers = [e["node"]["sexWorker"] for e in data["shifts"]["edges"]]
    # A refused or cancelled shift in progress gives no identity (withheld, null): check
    # the identities that did come back, and that some did.
    names = [w["identity"]["legalName"] for w in workers if w["identity"]]
    working = [w["workingName"] for w in workers]
    assert names

    async def dump() -> str:
        async with hub.db.session() as s:
            rows = (await s.execute(text("SELECT * FROM access_log"))).all()
        return repr(rows)

    everything = hub.run(dump())
    for value in names + working:
        assert value not in everything


def test_refusals_are_recorded(hub):
    hub.gql('{ sexWorker(id: "x") { id } }', as_="demo-city-antwerp")
    denied = entries(hub, outcome="denied")
    assert any(r.resource == "SexWorker" and r.reason == "FORBIDDEN" for r, _ in denied)
    hub.gql("{ me { city } }", token="garbage", status=401)
    assert any(r.action == "authenticate" for r, _ in entries(hub, outcome="denied"))


def test_writes_are_recorded_once_committed_and_refusals_as_refused(hub):
    ids = hub.demo.organisation_ids
    alert = """mutation($v: DateTime!) { issueAlert(input: {audience: SEX_WORKERS,
        severity: WARNING, textNl: "Let op", validUntil: $v}) { id } }"""
    from datetime import UTC, datetime, timedelta

    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    made = hub.ok(alert, {"v": until}, as_=POLICE, purpose="safety_alerting")["issueAlert"]["id"]
    written = entries(hub, action="write:issue")
    assert [r.record_ids for r, _ in written] == [[made]]
    # A refused write (a shift on premises not operated by the caller) is logged as refused.
    premises = [p for p in hub.demo.organisation_ids if p.startswith("operator_")]
    assert premises and ids
    q = """mutation($p: ID!, $w: ID!, $s: DateTime!, $e: DateTime!) { registerShift(input:
        {premisesId: $p, window: 1, sexWorkerId: $w, startsAt: $s, endsAt: $e}) { id } }"""

    async def foreign_premises() -> str:
        from hub.models import Premises

        async with hub.db.session() as s:
            stmt = select(Premises.id).where(Premises.operator_id != ids["operator_vitrine_beheer"])
            return str((await s.execute(stmt)).scalars().first())

    start = datetime.now(UTC) + timedelta(days=30)
    code = hub.error_code(
        q,
        {
            "p": hub.run(foreign_premises()),
            "w": hub.demo.sex_worker_ids[0],
            "s": start.isoformat(),
            "e": (start + timedelta(hours=6)).isoformat(),
        },
        as_="demo-operator",
    )
    assert code == "FORBIDDEN"
    refused = entries(hub, resource="ShiftRegistration", outcome="denied")
    assert refused and refused[-1][0].reason == "FORBIDDEN"


def test_concurrent_requests_extend_one_valid_tree(hub):
    token = hub.token(POLICE)

    async def burst() -> list[int]:
        transport = httpx.ASGITransport(app=hub.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def one() -> int:
                r = await client.post(
                    "/graphql",
                    json={"query": Q, "variables": at_work()},
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Hub-Purpose": "identity_validation",
                    },
                )
                return r.status_code

            return list(await asyncio.gather(*(one() for _ in range(20))))

    assert hub.run(burst()) == [200] * 20
    verdict = hub.run(verify_chain(hub.db))
    assert verdict.ok
    assert len(entries(hub, operation="PoliceCheck")) == 40  # shifts + sex workers, each


def _tamper(hub, statement) -> None:
    async def run() -> None:
        async with hub.db.session() as s:
            await s.execute(statement)
            await s.commit()

    hub.run(run())


def _fill(hub, n: int = 4) -> None:
    for _ in range(n):
        hub.ok(Q, at_work(), as_=POLICE, purpose="identity_validation")
    assert hub.run(verify_chain(hub.db)).ok


def test_verify_finds_an_edited_entry(hub):
    _fill(hub)
    _tamper(hub, update(AccessLogEntry).where(AccessLogEntry.id == 3).values(fields=["id"]))
    verdict = hub.run(verify_chain(hub.db))
    assert not verdict.ok and verdict.first_bad_seq == 3 and verdict.problem == "entry altered"


def test_verify_finds_an_edited_subject_list(hub):
    _fill(hub)
    _tamper(hub, delete(AccessLogSubject).where(AccessLogSubject.entry_id == 2))
    verdict = hub.run(verify_chain(hub.db))
    assert not verdict.ok and verdict.first_bad_seq == 2


def test_verify_finds_a_deleted_entry(hub):
    _fill(hub)
    _tamper(hub, delete(AccessLogSubject).where(AccessLogSubject.entry_id == 4))
    _tamper(hub, delete(AccessLogEntry).where(AccessLogEntry.id == 4))
    verdict = hub.run(verify_chain(hub.db))
    assert not verdict.ok and verdict.first_bad_seq == 4
    assert "removed" in (verdict.problem or "")


def test_verify_finds_a_deleted_last_entry(hub):
    _fill(hub)
    last = entries(hub)[-1][0].id
    _tamper(hub, delete(AccessLogSubject).where(AccessLogSubject.entry_id == last))
    _tamper(hub, delete(AccessLogEntry).where(AccessLogEntry.id == last))
    verdict = hub.run(verify_chain(hub.db))
    assert not verdict.ok and verdict.first_bad_seq == last


def test_verify_finds_swapped_entries(hub):
    _fill(hub)
    rows = {r.id: r for r, _ in entries(hub)}
    a, b = rows[3], rows[4]
    cols = [
        "at",
        "organisation_id",
        "roles",
        "subject",
        "purpose",
        "operation",
        "action",
        "resource",
        "record_ids",
        "fields",
        "policy_version",
        "outcome",
        "reason",
        "salt",
    ]
    va = {c: getattr(a, c) for c in cols}
    vb = {c: getattr(b, c) for c in cols}
    _tamper(hub, update(AccessLogEntry).where(AccessLogEntry.id == 3).values(**vb))
    _tamper(hub, update(AccessLogEntry).where(AccessLogEntry.id == 4).values(**va))
    verdict = hub.run(verify_chain(hub.db))
    assert not verdict.ok and verdict.first_bad_seq == 3


def test_hub_audit_verify_command(hub):
    _fill(hub, 2)
    env = {**os.environ, "HUB_DATABASE_URL": hub.url}
    ok = subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    _tamper(hub, update(AccessLogEntry).where(AccessLogEntry.id == 2).values(purpose="care"))
    bad = subprocess.run(
        [sys.executable, "-m", "hub.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "TAMPERED at entry 2" in bad.stdout


def test_a_private_workplace_address_is_logged_a_business_is_not(hub):
    from hub.models import Premises

    async def add_home() -> str:
        async with hub.db.session() as s:
            home = Premises(
                address="Invented Street 1",
                city="Antwerpen",
                zone="Noord",
                kind="private",
                windows=0,
            )
            s.add(home)
            await s.commit()
            return home.id

    home = hub.run(add_home())
    q = "query Homes { premises(first: 100) { edges { node { id kind address } } } }"
    nodes = [e["node"] for e in hub.ok(q, as_=POLICE, purpose="inspection")["premises"]["edges"]]
    assert home in {n["id"] for n in nodes} and len(nodes) > 1
    logged = [r for r, _ in entries(hub, operation="Homes") if r.resource == "Premises"]
    assert [r.record_ids for r in logged] == [[home]]
    assert "address" in logged[0].fields


def test_two_writers_on_one_database_extend_one_tree(hub):
    """Two processes' logs (two AuditLog writers) appending at once: every entry lands,
    in one valid tree (a collision on the tree's head is retried, never lost)."""
    from datetime import UTC, datetime

    from hub.audit.log import AuditLog, AuditRecord

    async def burst() -> None:
        first, second = AuditLog(hub.db), AuditLog(hub.db)
        try:
            await asyncio.gather(
                *(
                    (first if i % 2 else second).append(
                        [AuditRecord(at=datetime.now(UTC), action="test", reason=str(i))]
                    )
                    for i in range(40)
                )
            )
        finally:
            await first.close()
            await second.close()

    hub.run(burst())
    assert len(entries(hub, action="test")) == 40
    assert hub.run(verify_chain(hub.db)).ok
