"""The data subject sees who accessed their data and why; privacy officers search the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.models import ShiftRegistration

WORKER = "demo-worker"
MY_LOG = """{ myAccessLog(first: 100) { edges { node { id at purpose action resource fields
  roles subject recordIds organisation { name } } } } }"""


def _shift_of(hub, worker_id: str, *, other: bool = False) -> str:
    async def find() -> str:
        async with hub.db.session() as s:
            col = ShiftRegistration.sex_worker_id
            cond = col != worker_id if other else col == worker_id
            return str(
                (await s.execute(select(ShiftRegistration.id).where(cond))).scalars().first()
            )

    return hub.run(find())


def _at_work(hub, worker_id: str) -> None:
    """Set-up: the worker has a shift in progress (the police read an identity only then)."""
    from hub.models import Premises

    now = datetime.now(UTC)
    premises = Premises(address="Transparantiestraat 1", city="Antwerpen", kind="club", windows=1)
    shift = ShiftRegistration(
        premises_id=premises.id,
        window=1,
        sex_worker_id=worker_id,
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=5),
    )

    async def add() -> None:
        async with hub.db.session() as s:
            s.add(premises)
            await s.flush()
            s.add(shift)
            await s.commit()

    hub.run(add())


def test_worker_sees_police_read_of_their_identity_with_purpose(hub):
    me = hub.demo.sex_worker_ids[0]
    _at_work(hub, me)
    before = hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"]
    read = hub.ok(
        "{ shifts(first: 100, from: $from) { edges { node { id sexWorker { id workingName"
        " identity { legalName } } } } } }".replace(
            "$from", '"' + (datetime.now(UTC) - timedelta(hours=2)).isoformat() + '"'
        ),
        as_="demo-police-antwerp",
        purpose="identity_validation",
    )
    mine = [
        e["node"]["sexWorker"]
        for e in read["shifts"]["edges"]
        if e["node"]["sexWorker"]["id"] == me
    ]
    assert mine and all(w["identity"]["legalName"] for w in mine)
    body = hub.gql(MY_LOG, as_=WORKER)
    entries = [e["node"] for e in body["data"]["myAccessLog"]["edges"]]
    new = entries[: len(entries) - len(before)]
    by_resource = {e["resource"]: e for e in new}
    assert set(by_resource) == {"ShiftRegistration", "SexWorker"}
    sw = by_resource["SexWorker"]
    assert sw["organisation"]["name"] == "Lokale Politie Antwerpen"
    assert sw["roles"] == ["police_officer"]
    assert sw["purpose"] == "identity_validation"
    assert "identity" in sw["fields"] and sw["action"] == "read"
    # Never the individual officer, never other people's record ids.
    assert sw["subject"] is None and sw["recordIds"] is None
    assert set(body["extensions"]["withheld"]["AccessLogEntry"]) == {"subject", "recordIds"}
    assert me


def test_worker_does_not_see_accesses_to_others(hub):
    me = hub.demo.sex_worker_ids[0]
    other_shift = _shift_of(hub, me, other=True)
    before = len(hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"])
    q = "query($p: ID) { shifts(premisesId: $p, first: 1) { edges { node { id } } } }"
    hub.ok(q, as_="demo-police-antwerp", purpose="inspection")
    entries = hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"]
    # Whatever was read, a new entry shows up for the worker only if it concerned them.
    from hub.models import AccessLogEntry, AccessLogSubject

    async def concerning_me() -> int:
        async with hub.db.session() as s:
            stmt = (
                select(AccessLogEntry.id)
                .join(AccessLogSubject, AccessLogSubject.entry_id == AccessLogEntry.id)
                .where(AccessLogSubject.sex_worker_id == me)
            )
            return len(list((await s.execute(stmt)).scalars()))

    assert len(entries) == hub.run(concerning_me())
    assert before <= len(entries)
    assert other_shift


def test_the_workers_own_reads_of_their_log_do_not_fill_it(hub):
    a = len(hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"])
    b = len(hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"])
    assert a == b


def test_privacy_officer_searches_the_log(hub):
    me = hub.demo.sex_worker_ids[0]
    hub.ok(
        "{ shifts(first: 100) { edges { node { id sexWorker { workingName } } } } }",
        as_="demo-police-antwerp",
        purpose="inspection",
    )
    q = """query($s: ID, $o: ID) { accessLog(first: 100, subjectId: $s, organisationId: $o) {
      edges { node { subject purpose resource recordIds organisation { id } } } } }"""
    police = hub.demo.organisation_ids["antwerp_police"]
    data = hub.ok(q, {"s": me, "o": police}, as_="demo-dpo-antwerp")
    nodes = [e["node"] for e in data["accessLog"]["edges"]]
    assert nodes and all(n["organisation"]["id"] == police for n in nodes)
    assert all(n["subject"] == "demo-police-antwerp" for n in nodes)
    assert any(n["recordIds"] for n in nodes)


def test_others_cannot_read_the_log(hub):
    assert hub.error_code(MY_LOG, as_="demo-police-antwerp", purpose="inspection") == "FORBIDDEN"
    q = "{ accessLog(first: 5) { edges { node { id } } } }"
    assert hub.error_code(q, as_="demo-police-antwerp", purpose="inspection") == "FORBIDDEN"
    assert hub.error_code(q, as_="demo-utsopi") == "FORBIDDEN"
