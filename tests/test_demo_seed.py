"""The demo data set: what it contains, and the invariants a real pandkalender keeps.

Seeds a fresh SQLite database through the real migrations and checks by reading it back.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlmodel import SQLModel, select

from hub.crypto import Keyring
from hub.db import Database, upgrade
from hub.demo import DemoData, seed
from hub.models import (
    Alert,
    CareContact,
    Certificate,
    Consent,
    DataKey,
    EmploymentRelation,
    HelpdeskRequest,
    Inspection,
    Investigation,
    InvestigationSubject,
    Measure,
    MeasureTransition,
    Organisation,
    Pairing,
    Participation,
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
from hub.models.enums import (
    AlertAudience,
    Branch,
    CertificateStatus,
    InspectionOutcome,
    MeasureStatus,
    OrganisationKind,
    ShiftStatus,
)
from tests.speed import slowness

NOW = datetime(2025, 11, 12, 10, 37, tzinfo=UTC)
TODAY = NOW.date()
M = TypeVar("M", bound=SQLModel)

TABLES: dict[str, type[SQLModel]] = {
    "organisation": Organisation,
    "premises": Premises,
    "certificate": Certificate,
    "sex_worker": SexWorker,
    "data_key": DataKey,
    "rental_agreement": RentalAgreement,
    "shift_registration": ShiftRegistration,
    "inspection": Inspection,
    "measure": Measure,
    "measure_transition": MeasureTransition,
    "report": Report,
    "report_share": ReportShare,
    "report_reply": ReportReply,
    "alert": Alert,
    "care_contact": CareContact,
    "referral": Referral,
    "consent": Consent,
    "investigation": Investigation,
    "investigation_subject": InvestigationSubject,
    "participation": Participation,
    "pairing": Pairing,
    "trafficking_suspicion": TraffickingSuspicion,
    "helpdesk_request": HelpdeskRequest,
    "employment_relation": EmploymentRelation,
}


@dataclass
class Seeded:
    data: DemoData
    keyring: Keyring
    seconds: float
    rows: dict[type[SQLModel], list[Any]]

    def all(self, model: type[M]) -> list[M]:
        return self.rows[model]

    def org(self, key: str) -> str:
        return self.data.organisation_ids[key]


def seed_db(path: Path, *, scale: int = 1, seed_value: int = 7) -> Seeded:
    url = "sqlite+aiosqlite:///" + str(path)
    upgrade(url)
    keyring = Keyring(os.urandom(32))

    async def run() -> Seeded:
        db = Database(url)
        try:
            async with db.session() as session:
                # CPU time, not wall time: the bound is about the seed's own work, which
                # a busy machine (other test workers, a browser) must not make fail.
                started = time.process_time()
                data = await seed(session, keyring, scale=scale, seed=seed_value, now=NOW)
                seconds = time.process_time() - started
            async with db.session() as session:
                rows: dict[type[SQLModel], list[Any]] = {}
                for model in TABLES.values():
                    rows[model] = list((await session.execute(select(model))).scalars())
        finally:
            await db.dispose()
        return Seeded(data, keyring, seconds, rows)

    return asyncio.run(run())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return seed_db(tmp_path_factory.mktemp("demo") / "d.db")


# -- invariants, shared by the scale=1 and scale=6 tests ------------------------------------


def certified_premises(s: Seeded) -> set[str]:
    return {
        c.premises_id
        for c in s.all(Certificate)
        if c.status == CertificateStatus.GRANTED.value and c.valid_from <= TODAY <= c.valid_until
    }


def check_employee_shift(s: Seeded, shift: ShiftRegistration) -> None:
    """An employee's shift: registered by the employer that employs the worker on its day,
    at the employer's own premises, with no rental (Antwerp's regime: `employment`)."""
    premises = {p.id: p for p in s.all(Premises)}
    assert shift.rental_agreement_id is None
    assert shift.registered_by_id == premises[shift.premises_id].operator_id
    assert any(
        e.employer_id == shift.registered_by_id
        and e.sex_worker_id == shift.sex_worker_id
        and e.starts_on <= shift.starts_at.date()
        and (e.ends_on is None or shift.ends_at.date() <= e.ends_on)
        for e in s.all(EmploymentRelation)
    )


def check_calendar(s: Seeded) -> None:
    rentals = {r.id: r for r in s.all(RentalAgreement)}
    premises = {p.id: p for p in s.all(Premises)}
    certified = certified_premises(s)
    employees = {e.sex_worker_id for e in s.all(EmploymentRelation)}
    by_window: dict[tuple[str, int], list[ShiftRegistration]] = defaultdict(list)
    for shift in s.all(ShiftRegistration):
        if shift.sex_worker_id in employees:
            check_employee_shift(s, shift)
            assert shift.premises_id in certified  # window premises: Antwerp certifies them
            by_window[(shift.premises_id, shift.window)].append(shift)
            continue
        # The shift names the confirmed rental of the same window and worker that covers it.
        assert shift.rental_agreement_id is not None
        rental = rentals[shift.rental_agreement_id]
        assert rental.confirmed and rental.confirmed_at is not None
        assert (rental.premises_id, rental.window, rental.sex_worker_id) == (
            shift.premises_id,
            shift.window,
            shift.sex_worker_id,
        )
        assert rental.starts_at <= shift.starts_at < shift.ends_at <= rental.ends_at
        assert rental.confirmed_at <= shift.created_at
        assert timedelta(hours=6) <= shift.ends_at - shift.starts_at <= timedelta(hours=10)
        assert NOW - timedelta(days=7) <= shift.starts_at
        assert shift.ends_at <= NOW + timedelta(days=7)
        assert 1 <= shift.window <= premises[shift.premises_id].windows
        assert shift.premises_id in certified
        if shift.status != ShiftStatus.CANCELLED.value:
            by_window[(shift.premises_id, shift.window)].append(shift)
    for shifts in by_window.values():
        shifts.sort(key=lambda x: x.starts_at)
        for before, after in zip(shifts, shifts[1:], strict=False):
            assert before.ends_at <= after.starts_at, (before.id, after.id)
    for rental in rentals.values():
        assert rental.premises_id in certified


# -- scale 1 --------------------------------------------------------------------------------


def test_seeds_quickly_and_counts_match_the_database(demo: Seeded) -> None:
    assert demo.seconds < 2.0 * slowness(), demo.seconds
    assert demo.data.counts == {name: len(demo.rows[m]) for name, m in TABLES.items()}
    assert len(demo.all(Premises)) >= 8
    assert sum(p.windows for p in demo.all(Premises)) >= 40
    # 30 self-employed workers and the demo employer's one employee.
    assert len(demo.all(SexWorker)) == 31
    assert len(demo.data.sex_worker_ids) == 31
    # Only Antwerp's regime registers identities (a data key each): 2 workers in 3, and
    # the employee (in Antwerp).
    assert len(demo.all(DataKey)) == 21
    assert 200 <= len(demo.all(ShiftRegistration)) <= 350  # Antwerp's pandkalender only


def test_organisations_cover_every_role(demo: Seeded) -> None:
    orgs = {o.id: o for o in demo.all(Organisation)}
    assert set(demo.data.organisation_ids.values()) == set(orgs)
    expected = {
        "antwerp_city_licensing": ("Stad Antwerpen – Prostitutiebeleid", "city", "Antwerpen"),
        "antwerp_city_enforcement": (
            "Stad Antwerpen – Bestuurlijke handhaving",
            "city",
            "Antwerpen",
        ),
        "antwerp_study_service": ("Stad Antwerpen – Studiedienst", "city", "Antwerpen"),
        "antwerp_dpo": ("Stad Antwerpen – DPO", "city", "Antwerpen"),
        "ghent_city": ("Stad Gent", "city", "Gent"),
        "antwerp_police": ("Lokale Politie Antwerpen", "police", "Antwerpen"),
        "ghent_police": ("Politiezone Gent", "police", "Gent"),
        "federal_police": ("Federale Gerechtelijke Politie Antwerpen", "police", "Antwerpen"),
        "ghapro": ("Ghapro", "ngo", "Antwerpen"),
        "violett": ("Violett", "ngo", "Gent"),
        "boysproject": ("Boysproject", "ngo", "Antwerpen"),
        "payoke": ("Payoke", "ngo", "Antwerpen"),
        "utsopi": ("Utsopi", "union", "Antwerpen"),
    }
    for key, (name, kind, city) in expected.items():
        org = orgs[demo.org(key)]
        assert (org.name, org.kind, org.city) == (name, kind, city)
    assert {o.name for o in orgs.values()} >= {"Free Clinic", "Espace P"}
    assert {o.kind for o in orgs.values()} == {k.value for k in OrganisationKind}
    # The labour inspection is federal: bound to no city.
    assert {o.city for o in orgs.values()} == {"Antwerpen", "Gent", None}
    inspection = orgs[demo.org("labour_inspection")]
    assert (inspection.kind, inspection.city) == ("labour_inspection", None)
    employer = orgs[demo.org("employer_noorderlicht")]
    assert (employer.kind, employer.city) == ("employer", "Antwerpen")
    assert employer.recognition_status == "recognised"
    assert employer.recognition_decided_by_id == inspection.id
    assert re.fullmatch(r"SW-20\d\d-\d{4}", employer.recognition_number or "")
    operators = [orgs[demo.org(k)] for k in demo.data.operator_keys]
    assert len(operators) >= 4
    assert all(o.kind == "operator" for o in operators)
    assert {o.city for o in operators} == {"Antwerpen", "Gent"}


def test_premises_and_their_certificates(demo: Seeded) -> None:
    premises = demo.all(Premises)
    certificates = demo.all(Certificate)
    operator_ids = {demo.org(k) for k in (*demo.data.operator_keys, "employer_noorderlicht")}
    assert sorted(c.premises_id for c in certificates) == sorted(p.id for p in premises)
    assert {p.kind for p in premises} >= {"window", "club", "massage_salon"}
    assert all(p.operator_id in operator_ids for p in premises)
    assert any(p.zone == "Schipperskwartier" and p.city == "Antwerpen" for p in premises)
    assert any(p.address.startswith("Glasstraat") and p.city == "Gent" for p in premises)
    status = Counter(c.status for c in certificates)
    assert status["suspended"] == status["expired"] == status["revoked"] == 1
    assert status["granted"] == len(premises) - 3
    for c in certificates:
        if c.status == "expired":
            assert c.valid_until < TODAY
        if c.status == "granted":
            assert c.valid_from <= TODAY <= c.valid_until
        assert c.decided_at <= NOW


def test_every_shift_lies_in_a_confirmed_rental_without_overlap(demo: Seeded) -> None:
    check_calendar(demo)


def test_shift_statuses_and_police_validation(demo: Seeded) -> None:
    shifts = demo.all(ShiftRegistration)
    workers = {w.id: w for w in demo.all(SexWorker)}
    police_of = {"Antwerpen": demo.org("antwerp_police")}  # Ghent keeps no pandkalender
    assert {workers[s.sex_worker_id].city for s in shifts} == {"Antwerpen"}
    statuses = Counter(s.status for s in shifts)
    assert statuses["registered"] and statuses["validated"] and statuses["cancelled"]
    assert statuses["validated"] > statuses["cancelled"]
    for shift in shifts:
        worker = workers[shift.sex_worker_id]
        if shift.status in ("validated", "refused"):
            assert shift.validated_at is not None
            assert shift.starts_at <= shift.validated_at <= min(shift.ends_at, NOW)
            assert shift.validated_by_id == police_of[worker.city]
            assert shift.adult_verified_on_site is (shift.status == "validated")
            assert worker.adult_verified or shift.status == "refused"
        else:
            assert shift.validated_at is None and shift.validated_by_id is None
        if shift.starts_at > NOW:
            assert shift.status in ("registered", "cancelled")
        assert shift.created_at <= NOW


def test_unconfirmed_rentals_have_no_shifts(demo: Seeded) -> None:
    unconfirmed = {r.id for r in demo.all(RentalAgreement) if not r.confirmed}
    assert 1 <= len(unconfirmed) <= 10
    assert not unconfirmed & {s.rental_agreement_id for s in demo.all(ShiftRegistration)}


def test_identities_are_encrypted_and_decrypt_with_the_keyring(demo: Seeded) -> None:
    keys = {k.sex_worker_id: k.wrapped_key for k in demo.all(DataKey)}
    police = {"Antwerpen": demo.org("antwerp_police")}
    workers = demo.all(SexWorker)
    # Ghent's voluntary regime registers no identities with the police (policies/regimes.yaml).
    ghent = [w for w in workers if w.city == "Gent"]
    assert ghent and all(w.identity is None and w.id not in keys for w in ghent)
    assert all(w.registered_by_id is None and not w.adult_verified for w in ghent)
    antwerp = [w for w in workers if w.city == "Antwerpen"]
    for worker in antwerp:
        assert worker.identity is not None
        identity = demo.keyring.decrypt(worker.id, keys[worker.id], worker.identity)
        assert identity.legal_name.encode() not in worker.identity
        assert identity.legal_name != worker.working_name
        born = date.fromisoformat(identity.birth_date)
        age = (TODAY - born).days / 365.25
        assert 19 <= age < 56
        assert identity.nationality in {"BE", "NL", "RO", "BG", "HU", "NG", "DO", "TH"}
        assert re.fullmatch(r"XX\d{7}", identity.document_number)
        assert worker.languages
        assert worker.registered_by_id == police[worker.city]
    assert sum(w.adult_verified for w in antwerp) >= 0.8 * len(antwerp)
    assert {w.city for w in workers} == {"Antwerpen", "Gent"}
    # The demo's sex-worker login has something to look at.
    first = next(w for w in workers if w.id == demo.data.sex_worker_ids[0])
    assert first.adult_verified and first.city == "Antwerpen"
    assert any(s.sex_worker_id == first.id for s in demo.all(ShiftRegistration))
    assert any(r.author_id == first.id for r in demo.all(Report))
    assert any(c.sex_worker_id == first.id and c.revoked_at is None for c in demo.all(Consent))


def test_inspections_cover_every_branch_and_outcome(demo: Seeded) -> None:
    inspections = demo.all(Inspection)
    for police in ("antwerp_police", "ghent_police"):
        own = [i for i in inspections if i.police_org_id == demo.org(police)]
        assert {i.branch for i in own} == {b.value for b in Branch}
        assert {i.outcome for i in own} == {o.value for o in InspectionOutcome}
    assert {i.hidden_form for i in inspections} == {True, False}
    assert {i.proactive for i in inspections} == {True, False}
    assert sum(i.judicial_arrests for i in inspections) > 0
    assert sum(i.administrative_arrests for i in inspections) > 0
    for i in inspections:
        assert NOW - timedelta(days=60) <= i.occurred_at <= NOW
        assert 0 <= i.persons_checked <= 8


ALLOWED_STEPS = {
    (None, "opened"),
    ("opened", "hearing"),
    ("hearing", "decided"),
    ("decided", "appealed"),
    ("decided", "executed"),
    ("appealed", "decided"),
}


def test_measures_follow_their_procedure(demo: Seeded) -> None:
    measures = demo.all(Measure)
    enforcement = {
        "Antwerpen": demo.org("antwerp_city_enforcement"),
        "Gent": demo.org("ghent_city"),
    }
    assert {m.status for m in measures} == {s.value for s in MeasureStatus}
    assert len({m.kind for m in measures}) >= 4
    assert {m.city for m in measures} == {"Antwerpen", "Gent"}
    history: dict[str, list[MeasureTransition]] = defaultdict(list)
    for t in demo.all(MeasureTransition):
        history[t.measure_id].append(t)
    for m in measures:
        assert m.org_id == enforcement[m.city]
        assert (m.amount_cents is not None and m.amount_cents > 0) == (m.kind == "fine")
        steps = sorted(history[m.id], key=lambda t: t.at)
        assert steps[0].at == m.opened_at and steps[-1].at == m.updated_at <= NOW
        assert steps[-1].to_status == m.status
        for before, after in zip([None, *steps], steps, strict=False):
            assert (before.to_status if before else None) == after.from_status
            assert (after.from_status, after.to_status) in ALLOWED_STEPS
            assert after.by_org_id == m.org_id
    assert any(
        [t.to_status for t in sorted(ts, key=lambda t: t.at)][-3:]
        == ["appealed", "decided", "executed"]
        for ts in history.values()
    )


def test_reports_reach_only_whom_their_author_chose(demo: Seeded) -> None:
    reports = demo.all(Report)
    shares: dict[str, set[str]] = defaultdict(set)
    for share in demo.all(ReportShare):
        shares[share.report_id].add(share.organisation_id)
    police = {demo.org("antwerp_police"), demo.org("ghent_police")}
    ngos = {demo.org("violett"), demo.org("ghapro")}
    assert 10 <= len(reports) <= 14
    assert {r.anonymous for r in reports} == {True, False}
    assert all((r.author_id is None) == r.anonymous for r in reports)
    assert any(not shares[r.id] for r in reports)
    assert any(shares[r.id] & police and not shares[r.id] & ngos for r in reports)
    assert any(shares[r.id] & ngos and not shares[r.id] & police for r in reports)
    assert any(shares[r.id] & ngos and shares[r.id] & police for r in reports)
    assert len({r.category for r in reports}) >= 6
    replies: dict[str, list[ReportReply]] = defaultdict(list)
    for reply in demo.all(ReportReply):
        replies[reply.report_id].append(reply)
        if reply.by_reporter:
            assert reply.author_org_id is None
        else:
            assert reply.author_org_id in shares[reply.report_id]
    for r in reports:
        assert (r.status == "filed") == (not replies[r.id])
    assert {r.status for r in reports} >= {"filed", "answered"}


def test_alerts(demo: Seeded) -> None:
    alerts = demo.all(Alert)
    kinds = {o.id: o.kind for o in demo.all(Organisation)}
    assert 5 <= len(alerts) <= 8
    assert {a.audience for a in alerts} == {a.value for a in AlertAudience}
    assert {a.city for a in alerts} == {"Antwerpen", "Gent"}
    assert {kinds[a.issued_by_id] for a in alerts} == {"police", "ngo"}
    assert any(a.valid_until < NOW for a in alerts)
    assert any(a.valid_until > NOW for a in alerts)
    assert all(a.text_nl and a.text_fr and a.text_en for a in alerts)
    assert all(a.issued_at <= NOW for a in alerts)


def test_care_contacts_stay_ngo_local(demo: Seeded) -> None:
    contacts = demo.all(CareContact)
    hub_ids = {w.id for w in demo.all(SexWorker)}
    per_ngo = Counter(c.ngo_id for c in contacts)
    assert set(per_ngo) == {demo.org(k) for k in ("ghapro", "violett", "boysproject")}
    # 60 each, and 18 of the later kinds (drop-in, STI test, social recovery) at two NGOs.
    assert all(50 <= n <= 90 for n in per_ngo.values())
    prefix = {demo.org("ghapro"): "GH", demo.org("violett"): "VI", demo.org("boysproject"): "BP"}
    for c in contacts:
        assert re.fullmatch(prefix[c.ngo_id] + r"-\d{4}", c.client_ref)
        assert c.client_ref not in hub_ids
        assert TODAY - timedelta(days=90) <= c.contact_date <= TODAY
        assert c.recorded_at <= NOW
    assert len({c.kind for c in contacts}) >= 4
    assert len({c.location for c in contacts}) >= 3
    assert len({c.branch for c in contacts}) >= 4


def test_referrals_and_consents(demo: Seeded) -> None:
    referrals = demo.all(Referral)
    ngos = {o.id for o in demo.all(Organisation) if o.kind == "ngo"}
    police = {o.id for o in demo.all(Organisation) if o.kind == "police"}
    # With the person's consent, or for a victim under protection on its legal basis.
    assert referrals and all(
        r.consent or (r.victim_protection and r.protection_basis) for r in referrals
    )
    assert any(r.victim_protection and not r.consent for r in referrals)
    assert all(r.from_org_id in ngos | police for r in referrals)
    # To an NGO on the hub or to a destination outside it, never both.
    assert all((r.to_org_id is None) != (r.destination is None) for r in referrals)
    assert all(r.to_org_id is None or r.to_org_id in ngos for r in referrals)
    assert demo.org("payoke") in {r.to_org_id for r in referrals}
    consents = demo.all(Consent)
    assert all(c.purpose == "care" and c.grantee_id in ngos for c in consents)
    assert sum(c.revoked_at is None for c in consents) >= 2
    assert sum(c.revoked_at is not None for c in consents) == 1
    for c in consents:
        assert c.granted_at <= NOW
        assert c.revoked_at is None or c.granted_at < c.revoked_at <= NOW


# -- determinism and scale ------------------------------------------------------------------


def fingerprint(s: Seeded) -> dict[str, list[tuple[object, ...]]]:
    return {
        "organisation": sorted((o.id, o.name) for o in s.all(Organisation)),
        "premises": sorted((p.id, p.address, p.windows) for p in s.all(Premises)),
        "sex_worker": sorted((w.id, w.working_name, w.city) for w in s.all(SexWorker)),
        "rental_agreement": sorted(
            (r.id, r.premises_id, r.window, r.starts_at, r.confirmed)
            for r in s.all(RentalAgreement)
        ),
        "shift_registration": sorted(
            (x.id, x.rental_agreement_id, x.starts_at, x.ends_at, x.status)
            for x in s.all(ShiftRegistration)
        ),
        "inspection": sorted((i.id, i.branch, i.occurred_at) for i in s.all(Inspection)),
        "measure_transition": sorted((t.id, t.to_status, t.at) for t in s.all(MeasureTransition)),
        "report": sorted((r.id, r.author_id or "", r.filed_at) for r in s.all(Report)),
        "care_contact": sorted((c.id, c.client_ref, c.contact_date) for c in s.all(CareContact)),
    }


def test_same_seed_and_now_give_the_same_rows(tmp_path: Path) -> None:
    first = seed_db(tmp_path / "a.db")
    second = seed_db(tmp_path / "b.db")
    other = seed_db(tmp_path / "c.db", seed_value=8)
    assert first.data == second.data
    assert fingerprint(first) == fingerprint(second)
    assert set(first.data.sex_worker_ids).isdisjoint(other.data.sex_worker_ids)


def test_scale_six(tmp_path: Path) -> None:
    big = seed_db(tmp_path / "big.db", scale=6)
    assert big.seconds < 15.0 * slowness(), big.seconds
    assert len(big.all(SexWorker)) == 181  # and the one employee, at any scale
    assert len(big.all(ShiftRegistration)) >= 1200  # Antwerp's pandkalender only
    assert len({p.address for p in big.all(Premises)}) == len(big.all(Premises))
    check_calendar(big)


def test_refuses_a_naive_now(tmp_path: Path) -> None:
    url = "sqlite+aiosqlite:///" + str(tmp_path / "n.db")
    upgrade(url)

    async def run() -> None:
        db = Database(url)
        try:
            async with db.session() as session:
                with pytest.raises(ValueError, match="timezone-aware"):
                    await seed(session, Keyring(os.urandom(32)), now=datetime(2025, 1, 1))
        finally:
            await db.dispose()

    asyncio.run(run())


def test_the_demo_worker_is_at_work_now_at_any_time_of_day() -> None:
    """The demo's story (the police check the worker at work, and the worker finds that read
    in their access log) holds whenever the demo is seeded, not only at some hours: the
    police see an identity only for a shift in progress. The calendar is built in memory
    for every half hour of a day, and rentals stay exclusive per window."""
    from hub.demo import _Demo

    keyring = Keyring(os.urandom(32))
    for half_hours in range(48):
        now = NOW.replace(hour=0, minute=7) + timedelta(minutes=30 * half_hours)
        demo = _Demo(keyring, random.Random(7), now, 1)  # noqa: S311 (no secrets)
        demo.build_organisations()
        demo.build_premises()
        demo.build_workers()
        demo.build_calendar()
        me = demo.workers[0]
        assert me.city == "Antwerpen" and me.adult_verified
        live = [
            s
            for s in demo.shifts
            if s.sex_worker_id == me.id
            and s.status in (ShiftStatus.REGISTERED.value, ShiftStatus.VALIDATED.value)
            and s.starts_at - timedelta(hours=1) <= now <= s.ends_at - timedelta(hours=4)
        ]
        assert live, now
        # ... and keeps the days of work ahead (the subscription tests cancel two of them).
        ahead = [
            s
            for s in demo.shifts
            if s.sex_worker_id == me.id
            and s.status == ShiftStatus.REGISTERED.value
            and s.starts_at > now
        ]
        assert len(ahead) >= 2, now
        # Sealed ids are version 4: a demo row with another id could not be named in the API.
        assert all(uuid.UUID(x.id).version == 4 for x in [*demo.shifts, *demo.rentals])
        rentals = {r.id: r for r in demo.rentals}
        assert all(s.rental_agreement_id in rentals for s in demo.shifts if s.rental_agreement_id)
        by_window: dict[tuple[str, int], list[RentalAgreement]] = defaultdict(list)
        for r in demo.rentals:
            by_window[(r.premises_id, r.window)].append(r)
        for held in by_window.values():
            held.sort(key=lambda r: r.starts_at)
            for before, after in zip(held, held[1:], strict=False):
                assert before.ends_at <= after.starts_at, (now, before.id, after.id)
