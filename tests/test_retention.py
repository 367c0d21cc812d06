"""Retention and erasure: each resource's `retention` deletes or anonymises what is older,
counted in the access log; erasure destroys a sex worker's data key and leaves the rest as
anonymous history. On SQLite and PostgreSQL, against the seeded demo data."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from sqlmodel import SQLModel, col, select

from hub.audit.verify import verify_chain
from hub.crypto import Keyring
from hub.models import (
    AccessLogEntry,
    AccessLogSubject,
    Alert,
    CareContact,
    Certificate,
    Consent,
    DataKey,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    Measure,
    MeasureTransition,
    Organisation,
    Premises,
    Referral,
    RentalAgreement,
    Report,
    ReportReply,
    ReportShare,
    SexWorker,
    ShiftRegistration,
    TraffickingSuspicion,
)
from hub.policy.engine import PolicySet
from hub.services.erasure import Requester, UnknownSexWorker, erase_identity
from hub.services.retention import (
    ERASED,
    RETENTION_RULES,
    RetentionTask,
    run_retention,
    unsupported_retention,
)

POLICE = "demo-police-antwerp"
DAY = timedelta(days=1)
WORKER_Q = "query($id: ID!) { sexWorker(id: $id) { id workingName identity { legalName } } }"

MODELS: dict[str, type[SQLModel]] = {
    "Organisation": Organisation,
    "Premises": Premises,
    "Certificate": Certificate,
    "SexWorker": SexWorker,
    "DataKey": DataKey,
    "RentalAgreement": RentalAgreement,
    "ShiftRegistration": ShiftRegistration,
    "Inspection": Inspection,
    "Measure": Measure,
    "MeasureTransition": MeasureTransition,
    "Report": Report,
    "ReportShare": ReportShare,
    "ReportReply": ReportReply,
    "Alert": Alert,
    "CareContact": CareContact,
    "Referral": Referral,
    "Consent": Consent,
    "Investigation": Investigation,
    "TraffickingSuspicion": TraffickingSuspicion,
    "HelpdeskRequest": HelpdeskRequest,
    "EmploymentRelation": EmploymentRelation,
}


def _key(row: Any) -> str:
    if isinstance(row, ReportShare):
        return f"{row.report_id}/{row.organisation_id}"
    if isinstance(row, DataKey):
        return row.sex_worker_id
    return str(row.id)


def snapshot(hub: Any) -> dict[str, dict[str, Any]]:
    """Every row of every table, as plain dicts keyed by primary key."""

    async def load() -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        async with hub.db.session() as s:
            for name, model in MODELS.items():
                rows = (await s.execute(select(model))).scalars().all()
                out[name] = {_key(r): r.model_dump() for r in rows}
        return out

    return hub.run(load())


def without_activity(snap: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A snapshot without the workers' `last_active_at`, which every run notes."""
    out = dict(snap)
    out["SexWorker"] = {
        k: {f: v for f, v in r.items() if f != "last_active_at"}
        for k, r in snap["SexWorker"].items()
    }
    return out


def state(hub: Any) -> Any:
    return hub.app.state.hub


def retain(hub: Any, now: datetime, policies: PolicySet | None = None, **kw: Any) -> dict[str, int]:
    st = state(hub)
    return hub.run(run_retention(st.db, policies or st.policies, st.audit, now=now, **kw))


def with_retention(policies: PolicySet, **retention: timedelta | None) -> PolicySet:
    docs = dict(policies.documents)
    for name, value in retention.items():
        docs[name] = replace(docs[name], retention=value)
    return PolicySet(docs, policies.version + "+test")


def expected_removals(
    before: dict[str, dict[str, Any]], policies: PolicySet, now: datetime
) -> dict[str, set[str]]:
    """An independent oracle: which rows the retention rules should take, from a snapshot."""

    def cutoff(resource: str) -> datetime | None:
        doc = policies.documents.get(resource)
        return None if doc is None or doc.retention is None else now - doc.retention

    def older(value: Any, c: datetime) -> bool:
        if value is None:
            return False
        if isinstance(value, datetime):
            return value < c
        assert isinstance(value, date)
        return value < c.date()

    out: dict[str, set[str]] = {}
    c = cutoff("SexWorker")
    if c is not None:
        # The last activity: shifts and rentals ended, consents given or revoked, reports
        # filed under the worker's name, and what an earlier run noted (last_active_at).
        active = {
            r["sex_worker_id"]
            for table in ("ShiftRegistration", "RentalAgreement")
            for r in before[table].values()
            if r["ends_at"] >= c
        }
        active |= {
            r["sex_worker_id"]
            for r in before["Consent"].values()
            if r["granted_at"] >= c or (r["revoked_at"] is not None and r["revoked_at"] >= c)
        }
        active |= {
            r["author_id"]
            for r in before["Report"].values()
            if r["author_id"] is not None and r["filed_at"] >= c
        }
        # Employed: an employment not ended before the cutoff (open-ended, or ended since).
        active |= {
            r["sex_worker_id"]
            for r in before["EmploymentRelation"].values()
            if r["ends_on"] is None or r["ends_on"] >= c.date()
        }
        out["SexWorker"] = {
            k
            for k, r in before["SexWorker"].items()
            if older(r["created_at"], c)
            and not (r["last_active_at"] is not None and r["last_active_at"] >= c)
            and k not in active
            and (r["working_name"], r["identity"], k in before["DataKey"]) != (ERASED, None, False)
        }
    simple = {
        "ShiftRegistration": "ends_at",
        "Inspection": "occurred_at",
        "Report": "filed_at",
        "Alert": "valid_until",
        "CareContact": "contact_date",
        "Referral": "created_at",
        "Certificate": "valid_until",
        "Consent": "revoked_at",
        "Investigation": "expires_at",
        "TraffickingSuspicion": "updated_at",
        "HelpdeskRequest": "updated_at",
        "EmploymentRelation": "ends_on",
    }
    for resource, column in simple.items():
        c = cutoff(resource)
        if c is not None:
            out[resource] = {k for k, r in before[resource].items() if older(r[column], c)}
    c = cutoff("Measure")
    if c is not None:
        out["Measure"] = {
            k
            for k, r in before["Measure"].items()
            if r["status"] == "executed" and older(r["updated_at"], c)
        }
    c = cutoff("RentalAgreement")
    if c is not None:
        gone_shifts = out.get("ShiftRegistration", set())
        used = {
            r["rental_agreement_id"]
            for k, r in before["ShiftRegistration"].items()
            if k not in gone_shifts and r["rental_agreement_id"]
        }
        out["RentalAgreement"] = {
            k
            for k, r in before["RentalAgreement"].items()
            if older(r["ends_at"], c) and k not in used
        }
    return out


def retention_entries(hub: Any) -> list[AccessLogEntry]:
    async def load() -> list[AccessLogEntry]:
        async with hub.db.session() as s:
            stmt = (
                select(AccessLogEntry)
                .where(AccessLogEntry.action == "retention")
                .order_by(col(AccessLogEntry.id))
            )
            return list((await s.execute(stmt)).scalars().all())

    return hub.run(load())


def assert_foreign_keys_hold(hub: Any) -> None:
    orphans = {
        "shift→rental": "SELECT count(*) FROM shift_registration s WHERE s.rental_agreement_id"
        " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rental_agreement r"
        " WHERE r.id = s.rental_agreement_id)",
        "shift→worker": "SELECT count(*) FROM shift_registration s WHERE NOT EXISTS"
        " (SELECT 1 FROM sex_worker w WHERE w.id = s.sex_worker_id)",
        "rental→worker": "SELECT count(*) FROM rental_agreement r WHERE NOT EXISTS"
        " (SELECT 1 FROM sex_worker w WHERE w.id = r.sex_worker_id)",
        "share→report": "SELECT count(*) FROM report_share x WHERE NOT EXISTS"
        " (SELECT 1 FROM report r WHERE r.id = x.report_id)",
        "reply→report": "SELECT count(*) FROM report_reply x WHERE NOT EXISTS"
        " (SELECT 1 FROM report r WHERE r.id = x.report_id)",
        "transition→measure": "SELECT count(*) FROM measure_transition t WHERE NOT EXISTS"
        " (SELECT 1 FROM measure m WHERE m.id = t.measure_id)",
        "key→worker": "SELECT count(*) FROM data_key k WHERE NOT EXISTS"
        " (SELECT 1 FROM sex_worker w WHERE w.id = k.sex_worker_id)",
    }

    async def check() -> dict[str, int]:
        async with hub.db.session() as s:
            found = {n: (await s.execute(text(q))).scalar_one() for n, q in orphans.items()}
            if hub.backend == "sqlite":
                found["pragma"] = len((await s.execute(text("PRAGMA foreign_key_check"))).all())
        return found

    assert hub.run(check()) == dict.fromkeys(orphans, 0) | (
        {"pragma": 0} if hub.backend == "sqlite" else {}
    )


def assert_chain_ok(hub: Any) -> None:
    verdict = hub.run(verify_chain(hub.db))
    assert verdict.ok, verdict


def enforced(policies: PolicySet) -> set[str]:
    return {
        r.resource
        for r in RETENTION_RULES
        if (d := policies.documents.get(r.resource)) is not None and d.retention is not None
    }


# --- retention ---------------------------------------------------------------------------


def test_nothing_recent_goes_today(hub):
    policies = state(hub).policies
    assert unsupported_retention(policies) == []
    assert enforced(policies) == {
        "SexWorker", "ShiftRegistration", "RentalAgreement", "Inspection", "Measure", "Report",
        "Alert", "CareContact", "Referral", "Certificate", "Investigation",
        "TraffickingSuspicion", "HelpdeskRequest", "EmploymentRelation",
    }  # fmt: skip
    with pytest.raises(ValueError):
        retain(hub, datetime.now())  # noqa: DTZ005 (naive: refused)
    before = snapshot(hub)
    counts = retain(hub, datetime.now(UTC))
    assert counts == dict.fromkeys(enforced(state(hub).policies), 0)
    assert without_activity(snapshot(hub)) == without_activity(before)
    logged = retention_entries(hub)
    assert {e.resource for e in logged} == set(counts)
    assert all(e.reason and e.reason.split(":")[0].endswith(" 0") for e in logged)
    assert_chain_ok(hub)


@pytest.mark.parametrize("days", [400, 4000])
def test_far_future_removes_exactly_what_retention_allows(hub, days):
    policies = state(hub).policies
    now = datetime.now(UTC) + days * DAY
    before = snapshot(hub)
    expected = expected_removals(before, policies, now)

    counts = retain(hub, now)
    after = snapshot(hub)

    assert counts == {r: len(ids) for r, ids in expected.items()}
    # The demo's fortnight around today: shifts, rentals and warnings are past retention
    # after 400 days; after 4000 days everything is, but for measures not yet executed.
    assert counts["ShiftRegistration"] == len(before["ShiftRegistration"])
    assert counts["RentalAgreement"] == len(before["RentalAgreement"])
    assert counts["Alert"] == len(before["Alert"])
    if days == 400:
        for untouched in ("Inspection", "Measure", "Report", "CareContact", "Referral"):
            assert counts[untouched] == 0
            assert after[untouched] == before[untouched]
    else:
        # Every worker, but the demo's employee: employed open-ended, so still active.
        employed = {
            r["sex_worker_id"]
            for r in before["EmploymentRelation"].values()
            if r["ends_on"] is None
        }
        assert employed
        assert counts["SexWorker"] == len(before["SexWorker"]) - len(employed)
        assert counts["Certificate"] == len(before["Certificate"])
        assert after["Report"] == after["ReportShare"] == after["ReportReply"] == {}
        assert {r["status"] for r in after["Measure"].values()} == {
            "opened", "hearing", "decided", "appealed"
        }  # fmt: skip
        kept = set(after["Measure"])
        assert {t["measure_id"] for t in after["MeasureTransition"].values()} == kept
        assert set(after["DataKey"]) <= employed  # only the employed keep their key

    for resource, gone in expected.items():
        if resource == "SexWorker":
            continue
        assert set(after[resource]) == set(before[resource]) - gone, resource
        for k in after[resource]:
            assert after[resource][k] == before[resource][k]
    # Anonymised, never deleted; the others untouched.
    assert set(after["SexWorker"]) == set(before["SexWorker"])
    for k, row in after["SexWorker"].items():
        if k in expected["SexWorker"]:
            assert (row["working_name"], row["identity"], row["languages"]) == (ERASED, None, [])
            assert k not in after["DataKey"]
        else:
            assert (
                without_activity(after)["SexWorker"][k] == without_activity(before)["SexWorker"][k]
            )
            # A worker with no identity (Ghent's regime registers none) has no data key.
            assert after["DataKey"].get(k) == before["DataKey"].get(k)
    # Tables without retention keep every row.
    for table in ("Organisation", "Premises", "Consent"):
        assert after[table] == before[table]

    assert_foreign_keys_hold(hub)
    logged = retention_entries(hub)
    assert [(e.resource, e.outcome) for e in logged] == [
        (r.resource, "allowed") for r in RETENTION_RULES if r.resource in counts
    ]
    for e in logged:
        verb = "anonymised" if e.resource == "SexWorker" else "deleted"
        assert e.reason is not None and e.reason.startswith(f"{verb} {counts[e.resource]}:")
        assert e.record_ids == [] and e.at == now and e.subject == "hub:retention"
        assert e.policy_version == policies.version

    async def subjects_of_retention() -> int:
        async with hub.db.session() as s:
            ids = [e.id for e in logged]
            stmt = select(AccessLogSubject).where(col(AccessLogSubject.entry_id).in_(ids))
            rows = await s.execute(stmt)
            return len(rows.all())

    assert hub.run(subjects_of_retention()) == 0  # counts only: no ids, no data subjects
    assert_chain_ok(hub)

    # A second run finds nothing more: the workers' activity was noted before the shifts
    # and rentals it was read from went.
    assert all(not ids for ids in expected_removals(after, policies, now).values())
    assert retain(hub, now) == dict.fromkeys(counts, 0)


def test_small_batches_give_the_same_result(hub):
    now = datetime.now(UTC) + 400 * DAY
    before = snapshot(hub)
    expected = expected_removals(before, state(hub).policies, now)
    counts = retain(hub, now, batch_size=7)
    assert counts == {r: len(ids) for r, ids in expected.items()}
    assert counts["ShiftRegistration"] > 7 * 3
    assert_foreign_keys_hold(hub)


def test_a_dry_run_counts_and_changes_nothing(hub):
    now = datetime.now(UTC) + 400 * DAY
    before = snapshot(hub)
    expected = expected_removals(before, state(hub).policies, now)
    counts = retain(hub, now, dry_run=True)
    assert counts["ShiftRegistration"] == len(expected["ShiftRegistration"]) > 0
    assert snapshot(hub) == before
    assert retention_entries(hub) == []


def test_a_rental_a_kept_shift_refers_to_stays_and_workers_stay_as_anonymous_history(hub):
    """Shifts kept (no retention), rentals after a day, workers after a day: the shifts stay
    with their rentals, and with workers who are now anonymous."""
    policies = with_retention(
        state(hub).policies, ShiftRegistration=None, RentalAgreement=DAY, SexWorker=DAY
    )
    now = datetime.now(UTC) + 30 * DAY
    before = snapshot(hub)
    expected = expected_removals(before, policies, now)
    # An employee's shift refers to no rental (policies/regimes.yaml, `employment`).
    used = {r["rental_agreement_id"] for r in before["ShiftRegistration"].values()} - {None}
    unused = set(before["RentalAgreement"]) - used
    assert unused, "the demo has unconfirmed rentals without shifts"

    counts = retain(hub, now, policies)
    after = snapshot(hub)

    assert counts["RentalAgreement"] == len(unused) == len(expected["RentalAgreement"])
    assert set(after["RentalAgreement"]) == used
    assert after["ShiftRegistration"] == before["ShiftRegistration"]
    assert counts["SexWorker"] == len(expected["SexWorker"]) == len(before["SexWorker"]) - 1
    assert_foreign_keys_hold(hub)  # the one not anonymised: the demo's employee, employed

    # The police still see the shifts, now of anonymous workers.
    data = hub.ok(
        "{ shifts(first: 20) { edges { node { id sexWorker { id workingName identity { legalName } } } } } }",
        as_=POLICE,
        purpose="identity_validation",
    )
    workers = [e["node"]["sexWorker"] for e in data["shifts"]["edges"]]
    employee = set(before["SexWorker"]) - expected["SexWorker"]
    anonymous = [w for w in workers if w["id"] not in employee]
    assert anonymous and all(
        w["workingName"] == ERASED and w["identity"] is None for w in anonymous
    )


def test_consent_retention_takes_only_revoked_consents(hub):
    policies = with_retention(state(hub).policies, Consent=DAY)
    before = snapshot(hub)
    revoked = {k for k, r in before["Consent"].items() if r["revoked_at"] is not None}
    assert revoked and len(revoked) < len(before["Consent"])
    counts = retain(hub, datetime.now(UTC) + 2 * DAY, policies)
    assert counts["Consent"] == len(revoked)
    assert set(snapshot(hub)["Consent"]) == set(before["Consent"]) - revoked


def test_a_retention_without_a_rule_is_reported_and_not_applied(hub, caplog):
    policies = with_retention(state(hub).policies, Premises=DAY)
    assert unsupported_retention(policies) == ["Premises"]
    before = snapshot(hub)
    with caplog.at_level(logging.WARNING, logger="hub.retention"):
        counts = retain(hub, datetime.now(UTC), policies)
    assert "Premises" not in counts
    assert any("Premises" in r.getMessage() for r in caplog.records)
    assert snapshot(hub)["Premises"] == before["Premises"]


def test_one_replica_at_a_time_on_postgresql(hub):
    if hub.backend != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    from hub.services.retention import _LOCK_KEY

    async def with_lock_held() -> dict[str, int]:
        async with hub.db.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            try:
                st = state(hub)
                return await run_retention(
                    st.db, st.policies, st.audit, now=datetime.now(UTC) + 400 * DAY
                )
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})

    before = snapshot(hub)
    assert hub.run(with_lock_held()) == {}
    assert snapshot(hub) == before
    # Released: the next run goes ahead.
    assert retain(hub, datetime.now(UTC) + 400 * DAY)["ShiftRegistration"] > 0


# --- erasure -----------------------------------------------------------------------------


def test_erasure_destroys_the_key_and_keeps_the_history(hub):
    st = state(hub)
    worker = hub.demo.sex_worker_ids[0]
    before = hub.ok(WORKER_Q, {"id": worker}, as_=POLICE, purpose="identity_validation")
    assert before["sexWorker"]["identity"]["legalName"]
    snap = snapshot(hub)
    ciphertext = snap["SexWorker"][worker]["identity"]
    wrapped = snap["DataKey"][worker]["wrapped_key"]
    assert ciphertext and wrapped

    requester = Requester(
        subject="demo-privacy-officer", organisation_id=hub.demo.organisation_ids["antwerp_dpo"],
        roles="privacy_officer", purpose="policy_administration", operation="EraseIdentity",
        reason="GDPR art. 17 request",
    )  # fmt: skip
    now = datetime.now(UTC)
    assert hub.run(
        erase_identity(st.db, st.audit, sex_worker_id=worker, requested_by=requester, now=now)
    )

    after = hub.ok(WORKER_Q, {"id": worker}, as_=POLICE, purpose="identity_validation")
    assert after["sexWorker"] == {
        "id": worker, "workingName": before["sexWorker"]["workingName"], "identity": None
    }  # fmt: skip
    snap2 = snapshot(hub)
    assert worker not in snap2["DataKey"]
    assert snap2["SexWorker"][worker]["identity"] is None
    row = dict(snap2["SexWorker"][worker], identity=ciphertext)
    assert row == snap["SexWorker"][worker]  # working name, languages, city... as they were
    # The worker's history stays: shifts, rentals, the report.
    for table in ("ShiftRegistration", "RentalAgreement", "Report", "Consent"):
        assert snap2[table] == snap[table]
    assert any(r["sex_worker_id"] == worker for r in snap2["ShiftRegistration"].values())
    # Nobody else is touched.
    for other, key in snap["DataKey"].items():
        if other != worker:
            assert snap2["DataKey"][other] == key
    # Nothing left in the database opens the old ciphertext: every remaining wrapped key is
    # bound to its own person, and the worker's is gone.
    keyring: Keyring = st.keyring
    for key in snap2["DataKey"].values():
        with pytest.raises(InvalidTag):
            keyring.decrypt(worker, key["wrapped_key"], ciphertext)
    # (With the destroyed key, it would have opened: the ciphertext itself was sound.)
    assert (
        keyring.decrypt(worker, wrapped, ciphertext).legal_name
        == (before["sexWorker"]["identity"]["legalName"])
    )

    # Idempotent, and every request is audited with the worker as the data subject.
    assert not hub.run(
        erase_identity(st.db, st.audit, sex_worker_id=worker, requested_by=requester, now=now)
    )

    async def erasures() -> list[tuple[AccessLogEntry, set[str]]]:
        async with hub.db.session() as s:
            rows = (
                (await s.execute(select(AccessLogEntry).where(AccessLogEntry.action == "erasure")))
                .scalars()
                .all()
            )
            subs = (await s.execute(select(AccessLogSubject))).scalars().all()
        by: dict[int, set[str]] = {}
        for x in subs:
            by.setdefault(x.entry_id, set()).add(x.sex_worker_id)
        return [(r, by.get(r.id, set())) for r in rows]

    logged = hub.run(erasures())
    assert [(e.resource, e.subject, e.outcome, subs) for e, subs in logged] == [
        ("SexWorker", "demo-privacy-officer", "allowed", {worker})
    ] * 2
    assert logged[0][0].reason == "GDPR art. 17 request: data key destroyed, identity erased"
    assert logged[1][0].reason == "GDPR art. 17 request: already erased"
    assert logged[0][0].organisation_id == hub.demo.organisation_ids["antwerp_dpo"]
    assert_chain_ok(hub)
    assert_foreign_keys_hold(hub)

    with pytest.raises(UnknownSexWorker):
        hub.run(
            erase_identity(st.db, st.audit, sex_worker_id="nobody", requested_by=requester, now=now)
        )
    assert len(hub.run(erasures())) == 2  # an unknown id is not a request about anyone


def test_an_erased_worker_is_later_anonymised_by_retention(hub):
    st = state(hub)
    worker = hub.demo.sex_worker_ids[0]
    hub.run(
        erase_identity(
            st.db, st.audit, sex_worker_id=worker, requested_by=Requester("x"),
            now=datetime.now(UTC),
        )
    )  # fmt: skip
    counts = retain(hub, datetime.now(UTC) + 4000 * DAY)
    # Every worker but the demo's employee (employed open-ended: still active).
    assert counts["SexWorker"] == len(hub.demo.sex_worker_ids) - 1
    assert snapshot(hub)["SexWorker"][worker]["working_name"] == ERASED


# --- the background task -----------------------------------------------------------------


def test_the_task_runs_retention_and_stops(hub):
    st = state(hub)
    future = datetime.now(UTC) + 400 * DAY
    task = RetentionTask(
        st.db, lambda: st.policies, st.audit, interval=timedelta(milliseconds=50),
        first_delay=timedelta(0), min_gap=timedelta(0), clock=lambda: future,
    )  # fmt: skip

    async def go() -> None:
        task.start()
        task.start()  # idempotent
        for _ in range(400):
            if task.runs >= 2:
                break
            await asyncio.sleep(0.01)
        await task.stop()

    hub.run(go())
    assert not task.running and task.failures == 0
    assert task.runs >= 2
    assert task.last_counts is not None and task.last_counts["ShiftRegistration"] == 0
    assert snapshot(hub)["ShiftRegistration"] == {}
    assert len(retention_entries(hub)) >= 2 * len(enforced(st.policies))


def test_the_task_skips_a_run_done_recently_and_survives_failures(hub):
    st = state(hub)
    now = datetime.now(UTC)
    calls = {"n": 0}

    def policies() -> PolicySet:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("policy store unavailable")
        return st.policies

    task = RetentionTask(
        st.db, policies, st.audit, interval=timedelta(milliseconds=30),
        first_delay=timedelta(0), min_gap=timedelta(hours=12), clock=lambda: now,
    )  # fmt: skip

    async def go() -> None:
        task.start()
        for _ in range(400):
            if task.skipped >= 2:
                break
            await asyncio.sleep(0.01)
        await task.stop()

    hub.run(go())
    assert task.failures == 1  # the first run failed, the second ran,
    assert task.runs == 1  # and the later ones saw it in the access log and skipped
    assert task.skipped >= 2


def test_the_task_stops_promptly_while_waiting(hub):
    st = state(hub)
    task = RetentionTask(st.db, st.policies, st.audit, first_delay=timedelta(hours=1))

    async def go() -> float:
        loop = asyncio.get_running_loop()
        task.start()
        await asyncio.sleep(0.01)
        t0 = loop.time()
        await task.stop()
        return loop.time() - t0

    assert hub.run(go()) < 1.0
    assert task.runs == 0 and not task.running
    assert retention_entries(hub) == []
    hub.run(task.stop())  # stopping twice is harmless
    with pytest.raises(ValueError):
        RetentionTask(st.db, st.policies, st.audit, interval=timedelta(0))


def test_the_outbox_does_not_outlive_its_use(hub):
    """Outbox rows hold record snapshots: pruned a week after sending, a month after
    writing if never sent; recent ones stay. Counted in the access log."""
    from hub.events.envelope import make_event
    from hub.models import AccessLogEntry, OutboxEvent
    from hub.services.retention import prune_outbox

    now = datetime.now(UTC)

    def row(created_days: int, sent_days: int | None) -> OutboxEvent:
        created = now - timedelta(days=created_days)
        event = make_event("be.hub.alert.issued.v1", subject="x", data={}, time=created)
        sent = None if sent_days is None else now - timedelta(days=sent_days)
        return OutboxEvent(
            event_id=event["id"],
            type=event["type"],
            resource="Alert",
            record_id="x",
            envelope=event,
            created_at=created,
            published_at=sent,
        )

    rows = {
        "old_sent": row(10, 9),
        "recent_sent": row(3, 3),
        "old_unsent": row(40, None),
        "recent_unsent": row(10, None),
    }

    async def run() -> tuple[int, set[str], list[str | None]]:
        async with hub.db.session() as s:
            s.add_all(rows.values())
            await s.commit()
        done = await prune_outbox(hub.db, state(hub).audit, now=now)
        async with hub.db.session() as s:
            left = set((await s.execute(select(OutboxEvent.event_id))).scalars())
            reasons = list(
                (
                    await s.execute(
                        select(AccessLogEntry.reason).where(AccessLogEntry.resource == "Outbox")
                    )
                ).scalars()
            )
        return done, left, reasons

    done, left, reasons = hub.run(run())
    assert done == 2
    assert rows["recent_sent"].event_id in left and rows["recent_unsent"].event_id in left
    assert rows["old_sent"].event_id not in left and rows["old_unsent"].event_id not in left
    assert reasons and reasons[-1].startswith("deleted 2:")


# --- the last activity -----------------------------------------------------------------------


@pytest.mark.parametrize("activity", ["rental", "consent"])
def test_a_worker_is_anonymised_two_years_after_the_last_activity_not_before(hub, activity):
    """The boundary: kept one second before two years have passed since the last activity
    (a rental ended, a consent given), anonymised one second after; and the activity counts
    after the rental it was read from is gone (noted in last_active_at by the first run)."""
    st = state(hub)
    two_years = st.policies.documents["SexWorker"].retention
    assert two_years == timedelta(days=730)
    last = datetime.now(UTC).replace(microsecond=0) - DAY
    operator = hub.demo.organisation_ids["operator_vitrine_beheer"]

    async def add() -> str:
        async with hub.db.session() as s:
            premises = (
                (await s.execute(select(Premises).where(col(Premises.operator_id) == operator)))
                .scalars()
                .first()
            )
            assert premises is not None
            worker = SexWorker(
                working_name="Boundary", city="Antwerpen", created_at=last - 3 * 365 * DAY
            )
            s.add(worker)
            await s.flush()
            if activity == "rental":
                s.add(
                    RentalAgreement(
                        premises_id=premises.id, window=1, sex_worker_id=worker.id,
                        starts_at=last - DAY, ends_at=last, recorded_by_id=operator,
                    )
                )  # fmt: skip
            else:
                s.add(
                    Consent(
                        sex_worker_id=worker.id, grantee_id=operator, purpose="self_service",
                        granted_at=last,
                    )
                )  # fmt: skip
            await s.commit()
            return worker.id

    worker_id = hub.run(add())

    def name() -> str:
        return snapshot(hub)["SexWorker"][worker_id]["working_name"]

    retain(hub, last + two_years - timedelta(seconds=1))
    assert name() == "Boundary"
    assert snapshot(hub)["SexWorker"][worker_id]["last_active_at"] == last
    if activity == "rental":  # past its own retention (P1Y): gone, the activity stays noted
        assert not any(
            r["sex_worker_id"] == worker_id for r in snapshot(hub)["RentalAgreement"].values()
        )
    retain(hub, last + two_years + timedelta(seconds=1))
    assert name() == ERASED


def test_an_ended_employment_goes_five_years_after_its_end_and_an_open_one_keeps_its_worker(
    hub,
):
    """Employment relations (the employer's personnel records) stay five years after they
    end, and not a day less; an open-ended employment stays, and its worker, though
    registered long ago and with no other activity, is not anonymised."""
    st = state(hub)
    five_years = st.policies.documents["EmploymentRelation"].retention
    assert five_years is not None and five_years >= timedelta(days=5 * 365)
    employer = next(
        e["employer_id"] for e in snapshot(hub)["EmploymentRelation"].values()
    )  # the demo's recognised employer
    now = datetime.now(UTC).replace(microsecond=0)
    long_ago = now - 10 * 365 * DAY

    async def add() -> tuple[str, str, str]:
        async with hub.db.session() as s:
            ended = SexWorker(working_name="Ended", city="Antwerpen", created_at=long_ago)
            employed = SexWorker(working_name="Employed", city="Antwerpen", created_at=long_ago)
            s.add_all([ended, employed])
            await s.flush()
            gone = EmploymentRelation(
                employer_id=employer, sex_worker_id=ended.id, contract_kind="open_ended",
                starts_on=long_ago.date(), ends_on=(now - 3 * 365 * DAY).date(),
            )  # fmt: skip
            kept = EmploymentRelation(
                employer_id=employer, sex_worker_id=employed.id, contract_kind="open_ended",
                starts_on=long_ago.date(),
            )  # fmt: skip
            s.add_all([gone, kept])
            await s.commit()
            return gone.id, ended.id, employed.id

    gone, ended, employed = hub.run(add())
    end = snapshot(hub)["EmploymentRelation"][gone]["ends_on"]
    # The day before five years have passed since the end: kept.
    retain(hub, datetime.combine(end, time(12), tzinfo=UTC) + five_years - DAY)
    snap = snapshot(hub)
    assert gone in snap["EmploymentRelation"]
    # The worker whose employment ended three years ago is anonymised (two years inactive);
    # the employed worker is not.
    assert snap["SexWorker"][ended]["working_name"] == ERASED
    assert snap["SexWorker"][employed]["working_name"] == "Employed"
    retain(hub, datetime.combine(end, time(12), tzinfo=UTC) + five_years + DAY)
    snap = snapshot(hub)
    assert gone not in snap["EmploymentRelation"]
    assert snap["SexWorker"][employed]["working_name"] == "Employed"
    assert any(r["sex_worker_id"] == employed for r in snap["EmploymentRelation"].values())
