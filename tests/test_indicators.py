"""The action plan's indicators: counts only, per city and quarter, small cells suppressed,
secondary suppression so that totals give nothing away, one access-log entry per request."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, true

from hub.auth.clients import register_client
from hub.models import (
    AccessLogEntry,
    CareContact,
    Certificate,
    Inspection,
    Investigation,
    Measure,
    Organisation,
    Premises,
    PublishedReport,
    Referral,
    Report,
    SexWorker,
)
from hub.services.statistics import (
    INDICATORS,
    exact_period,
    exact_quarter,
    quarter_of,
    recoverable,
    suppress_cell,
    suppress_table,
)

ANALYST = "demo-analyst-antwerp"
CITY = "Antwerpen"
MIN_CELL = 5
BRUSSELS = ZoneInfo("Europe/Brussels")

TABLE = "rows { key value suppressed } total { value suppressed } minCell"
CELL = "value suppressed"
REPORT_Q = f"""
query AnalystIndicators($city: String!, $from: Date!, $to: Date!) {{
  indicators(city: $city, from: $from, to: $to) {{
    city from to quarter
    sexWorkersReached {{ {TABLE} }}
    careContacts {{ {TABLE} }}
    referrals {{ {CELL} }}
    inspections {{ {TABLE} }}
    hiddenFormsControlled {{ {CELL} }}
    arrests {{ {TABLE} }}
    premisesChecked {{ {TABLE} }}
    measures {{ {TABLE} }}
    fines {{ {CELL} }}
    finesByTarget {{ {TABLE} }}
    certificates {{ {TABLE} }}
    inspectionOutcomes {{ {TABLE} }}
    reports {{ {TABLE} }}
    judicialInvestigations {{ {CELL} }}
    gender {{ {TABLE} }}
  }}
}}
"""
TABLES = (
    "sexWorkersReached",
    "careContacts",
    "inspections",
    "arrests",
    "premisesChecked",
    "measures",
    "certificates",
    "inspectionOutcomes",
    "reports",
    "gender",
)
CELLS = ("referrals", "hiddenFormsControlled", "fines", "judicialInvestigations")
TARGET_KINDS = ["premises", "sex_worker", "client", "other_person"]


REPORT_CATEGORIES = [
    "violence",
    "non_payment_theft",
    "stalking",
    "outing_threat",
    "exploitation_suspicion",
    "discrimination",
    "nuisance",
    "boundary_violation",
    "image_sharing",
    "raid",
    "bank_refusal",
    "other",
]


def current_quarter() -> tuple[date, date]:
    q = quarter_of(datetime.now(BRUSSELS).date())
    return q.first, q.last


# A closed quarter each test seeds for itself (the demo's activity is recent: mostly in
# the open quarter, which is never reported).
Q3_2024 = (date(2024, 7, 1), date(2024, 9, 30))


def period(first: date, last: date) -> dict[str, str]:
    return {"city": CITY, "from": first.isoformat(), "to": last.isoformat()}


# --- raw counts, computed independently of the resolver --------------------------------


def raw_counts(hub: Any, city: str, first: date, last: date) -> dict[str, Any]:
    """Every indicator's unsuppressed counts: tables as (cells by lower-case key, total)."""
    start = datetime.combine(first, time(0), tzinfo=BRUSSELS).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=BRUSSELS).astimezone(UTC)

    async def load() -> dict[str, Any]:
        async with hub.db.session() as s:
            care = (
                await s.execute(
                    select(
                        CareContact.ngo_id,
                        CareContact.client_ref,
                        CareContact.branch,
                        CareContact.kind,
                    ).where(
                        CareContact.city == city,
                        CareContact.contact_date >= first,
                        CareContact.contact_date <= last,
                    )
                )
            ).all()
            insp = (
                (
                    await s.execute(
                        select(Inspection).where(
                            Inspection.city == city,
                            Inspection.occurred_at >= start,
                            Inspection.occurred_at < end,
                        )
                    )
                )
                .scalars()
                .all()
            )
            measures = (
                await s.execute(
                    select(Measure.kind, Measure.target_kind).where(
                        Measure.city == city,
                        Measure.opened_at >= start,
                        Measure.opened_at < end,
                    )
                )
            ).all()
            investigations = (
                await s.execute(
                    select(Investigation.opened_at, Organisation.city).join(
                        Organisation, Organisation.id == Investigation.police_org_id
                    )
                )
            ).all()
            certs = (
                await s.execute(
                    select(Certificate.status, Premises.city, Certificate.decided_at).join(
                        Premises, Premises.id == Certificate.premises_id
                    )
                )
            ).all()
            referrals = (
                await s.execute(
                    select(Referral.created_at, Organisation.city)
                    .join(Organisation, Organisation.id == Referral.from_org_id)
                    .where(Organisation.kind.in_(("ngo", "union")))  # not the police's
                )
            ).all()
            reports = (
                (
                    await s.execute(
                        select(Report.category).where(
                            Report.city == city, Report.filed_at >= start, Report.filed_at < end
                        )
                    )
                )
                .scalars()
                .all()
            )
            workers = (
                await s.execute(
                    select(SexWorker.gender, SexWorker.created_at, SexWorker.last_active_at).where(
                        SexWorker.city == city
                    )
                )
            ).all()
        out = tally(city, start, end, care, insp, [k for k, _ in measures], certs, referrals)
        out["finesByTarget"] = table(TARGET_KINDS, Counter(t for k, t in measures if k == "fine"))
        out["judicialInvestigations"] = sum(
            1 for at, c in investigations if c == city and start <= at < end
        )
        out["inspectionOutcomes"] = table(
            ["none", "warning", "pv", "rir"], Counter(i.outcome for i in insp)
        )
        out["reports"] = table(REPORT_CATEGORIES, Counter(reports))
        # Workers whose registration was live in the period, per declared gender.
        out["gender"] = table(
            ["woman", "man", "trans_woman", "trans_man", "non_binary", "not_stated"],
            Counter(
                g or "not_stated"
                for g, created, active in workers
                if created < end and (active or created) >= start
            ),
        )
        return out

    return hub.run(load())  # type: ignore[no-any-return]


def table(
    keys: list[str], counts: Counter[str], total: int | None = None
) -> tuple[dict[str, int], int]:
    cells = {k: counts.get(k, 0) for k in keys}
    return cells, sum(cells.values()) if total is None else total


def tally(city, start, end, care, insp, measures, certs, referrals) -> dict[str, Any]:
    branches = [
        "window",
        "street",
        "strip_club",
        "escort",
        "private_home",
        "massage_salon",
        "other",
    ]
    reached = {b: len({(n, c) for n, c, br, _ in care if br == b}) for b in branches}
    kinds = Counter(k for *_, k in care)
    on_premises = [i for i in insp if i.premises_id is not None]
    measure_kinds = Counter(measures)
    decided = Counter(s for s, c, at in certs if c == city and start <= at < end)
    return {
        "sexWorkersReached": (reached, len({(n, c) for n, c, _, _ in care})),
        "careContacts": table(
            [
                "medical",
                "psychosocial",
                "outreach",
                "online",
                "referral",
                "drop_in",
                "sti_test",
                "social_recovery",
            ],
            kinds,
        ),
        "referrals": sum(1 for at, c in referrals if c == city and start <= at < end),
        "inspections": table(branches, Counter(i.branch for i in insp)),
        "hiddenFormsControlled": sum(1 for i in insp if i.hidden_form),
        "arrests": table(
            ["administrative", "judicial"],
            Counter(
                {
                    "administrative": sum(i.administrative_arrests for i in insp),
                    "judicial": sum(i.judicial_arrests for i in insp),
                }
            ),
        ),
        "premisesChecked": table(
            ["proactive", "reactive"],
            Counter("proactive" if i.proactive else "reactive" for i in on_premises),
        ),
        "measures": table(
            [
                "fine",
                "certificate_suspension",
                "certificate_revocation",
                "temporary_closure",
                "permanent_closure",
                "street_ban",
                "trafficking_closure",
            ],
            measure_kinds,
        ),
        "fines": measure_kinds.get("fine", 0),
        "certificates": table(["granted", "suspended", "revoked"], decided),
    }


# --- checks of a published report against the raw counts ------------------------------


def check_cell(cell: dict[str, Any], raw: int) -> None:
    assert cell["suppressed"] is (cell["value"] is None)
    if raw < MIN_CELL:
        assert cell["suppressed"], (cell, raw)
    if not cell["suppressed"]:
        assert cell["value"] == raw >= MIN_CELL


def check_table(name: str, published: dict[str, Any], raw: tuple[dict[str, int], int]) -> None:
    cells, total = raw
    rows = {r["key"].lower(): r for r in published["rows"]}
    assert list(rows) == list(cells), name  # every key, in vocabulary order
    assert published["minCell"] == MIN_CELL
    for key, row in rows.items():
        check_cell(row, cells[key])
    check_cell(published["total"], total)
    hidden = [k for k, r in rows.items() if r["suppressed"]]
    if hidden and not published["total"]["suppressed"]:
        # total minus the published cells must not give away any suppressed cell
        assert len(hidden) >= 2, (name, rows)
        assert sum(cells[k] for k in hidden) >= MIN_CELL, (name, rows, cells)
        residual = total - sum(v for k, v in cells.items() if k not in hidden)
        assert residual <= 0 or residual >= MIN_CELL, (name, residual)


def check_report(report: dict[str, Any], raw: dict[str, Any]) -> None:
    for name in TABLES:
        check_table(name, report[name], raw[name])
    for name in CELLS:
        check_cell(report[name], raw[name])
    fine = next(r for r in report["measures"]["rows"] if r["key"] == "FINE")
    assert report["fines"] == {"value": fine["value"], "suppressed": fine["suppressed"]}
    # The split of fines by target: its total is the fines cell, hidden whole when it is.
    split = report["finesByTarget"]
    assert split["total"] == report["fines"]
    if report["fines"]["suppressed"]:
        assert all(r["suppressed"] and r["value"] is None for r in split["rows"])
    else:
        check_table("finesByTarget", split, raw["finesByTarget"])


def log_entries(hub: Any, operation: str) -> list[AccessLogEntry]:
    async def load() -> list[AccessLogEntry]:
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry).where(AccessLogEntry.operation == operation)
            return list((await s.execute(stmt.order_by(AccessLogEntry.id))).scalars().all())

    return hub.run(load())  # type: ignore[no-any-return]


# --- through the app (needs IndicatorsQuery in the root Query) -------------------------


def seed_period(hub: Any, first: date, city: str = CITY, *, scale: int = 1) -> None:
    """Activity of every kind counted, in the quarter beginning on `first`, in `city`."""
    police = hub.demo.organisation_ids["antwerp_police" if city == CITY else "ghent_police"]
    enforcement = hub.demo.organisation_ids[
        "antwerp_city_enforcement" if city == CITY else "ghent_city"
    ]
    ngo = hub.demo.organisation_ids["ghapro" if city == CITY else "violett"]
    at = datetime.combine(first + timedelta(days=20), time(10), tzinfo=UTC)
    rows: list[Any] = []
    outcomes = ["none"] * 9 + ["warning"] * 6 + ["pv"] * 5 + ["rir"] * 2
    branches = ["window"] * 12 + ["street"] * 6 + ["escort"] * 4
    for n in range(len(outcomes) * scale):
        rows.append(
            Inspection(
                city=city,
                branch=branches[n % len(branches)],
                occurred_at=at + timedelta(hours=n),
                outcome=outcomes[n % len(outcomes)],
                police_org_id=police,
                judicial_arrests=1 if n % 4 == 0 else 0,
                administrative_arrests=1 if n % 3 == 0 else 0,
                hidden_form=n % 2 == 0,
            )
        )
    # Fines: 6 against clients, 1 against a worker; street bans against other people.
    fine_targets = ["client"] * 6 + ["sex_worker"]
    for n in range(12 * scale):
        rows.append(
            Measure(
                kind="fine" if n % 12 < 7 else "street_ban",
                target_kind=fine_targets[n % 12] if n % 12 < 7 else "other_person",
                city=city,
                org_id=enforcement,
                opened_at=at + timedelta(days=1, hours=n),
            )
        )
    for n in range(6 * scale):
        rows.append(
            Investigation(
                reference=f"AN.37.{uuid.uuid4().hex[:10].upper()}/{first.year % 100:02d}",
                police_org_id=police,
                opened_at=at + timedelta(days=3, hours=n),
                expires_at=at + timedelta(days=200),
            )
        )
    categories = ["violence"] * 7 + ["non_payment_theft"] * 6 + ["stalking"] * 2
    for n, category in enumerate(categories * scale):
        rows.append(
            Report(
                category=category,
                text="seeded",
                anonymous=True,
                city=city,
                filed_at=at + timedelta(days=2, hours=n),
            )
        )
    for n in range(20 * scale):
        rows.append(
            CareContact(
                ngo_id=ngo,
                client_ref=f"SEED-{n % 14:04d}",
                contact_date=first + timedelta(days=5 + n % 30),
                kind="medical" if n % 2 else "psychosocial",
                location="fixed",
                branch="window",
                city=city,
            )
        )
    insert(hub, rows)


def test_the_analyst_gets_a_closed_quarter_suppressed(demo_hub):
    seed_period(demo_hub, Q3_2024[0])
    first, last = Q3_2024
    data = demo_hub.ok(REPORT_Q, period(first, last), as_=ANALYST)
    report = data["indicators"]
    assert (report["city"], report["from"], report["to"]) == (CITY, str(first), str(last))
    assert report["quarter"] == "2024-Q3"
    assert all(report[n] is not None for n in TABLES + CELLS)
    check_report(report, raw_counts(demo_hub, CITY, first, last))
    # The seeded activity is enough for the report to say something.
    assert not report["inspections"]["total"]["suppressed"]
    assert any(not r["suppressed"] for r in report["careContacts"]["rows"])


def test_the_report_is_logged_once_with_the_indicators_computed(demo_hub):
    demo_hub.ok(REPORT_Q, period(*Q3_2024), as_=ANALYST)
    entries = [e for e in log_entries(demo_hub, "AnalystIndicators") if e.outcome == "allowed"]
    assert entries
    entry = entries[-1]
    assert (entry.action, entry.resource) == ("aggregate", "Indicators")
    assert sorted(entry.fields) == sorted(INDICATORS)
    assert entry.record_ids == [] and entry.purpose == "statistics"


def test_only_the_indicators_asked_for_are_returned_and_logged(demo_hub):
    q = """query OnlyInspections($city: String!, $from: Date!, $to: Date!) {
      indicators(city: $city, from: $from, to: $to) { inspections { total { value } } } }"""
    demo_hub.ok(q, period(*Q3_2024), as_=ANALYST)
    assert log_entries(demo_hub, "OnlyInspections")[-1].fields == ["inspections"]


def published_rows(hub: Any) -> list[PublishedReport]:
    async def load() -> list[PublishedReport]:
        async with hub.db.session() as s:
            return list((await s.execute(select(PublishedReport))).scalars().all())

    return hub.run(load())  # type: ignore[no-any-return]


def test_the_open_quarter_and_the_open_year_are_refused(demo_hub):
    today = datetime.now(BRUSSELS).date()
    first, last = current_quarter()
    before = len(published_rows(demo_hub))
    for start, end in ((first, last), (date(today.year, 1, 1), date(today.year, 12, 31))):
        body = demo_hub.gql(REPORT_Q, period(start, end), as_=ANALYST)
        assert body["data"] is None
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "still open" in error["message"] and "closed periods only" in error["message"]
    assert len(published_rows(demo_hub)) == before  # nothing published for them


def register_analyst(hub: Any, client_id: str, org: str) -> None:
    async def go() -> None:
        async with hub.db.session() as s:
            await register_client(
                s,
                client_id=client_id,
                organisation_id=hub.demo.organisation_ids[org],
                roles=["city_analyst"],
                purposes=["statistics"],
            )

    hub.run(go())


def without_aggregate_where(hub: Any) -> Any:
    """Activate the loaded policy with every `aggregate` section's `where` removed; return
    the policy set to restore."""
    active = hub.app.state.hub.policies
    changed = copy.copy(active)
    changed.documents = {
        name: replace(
            doc, aggregate=replace(doc.aggregate, where=None, where_filter=lambda _v: true())
        )
        if doc.aggregate is not None
        else doc
        for name, doc in active.documents.items()
    }
    hub.app.state.hub.policies = changed
    return active


def test_an_analyst_of_gent_cannot_count_antwerpen(demo_hub):
    q2 = (date(2024, 4, 1), date(2024, 6, 30))
    seed_period(demo_hub, q2[0], CITY)
    seed_period(demo_hub, q2[0], "Gent")
    register_analyst(demo_hub, "analyst-gent", "ghent_city")
    gent = {"city": "Gent", "from": q2[0].isoformat(), "to": q2[1].isoformat()}

    # Each analyst counts their own city.
    own = demo_hub.ok(REPORT_Q, gent, as_="analyst-gent")["indicators"]
    check_report(own, raw_counts(demo_hub, "Gent", *q2))
    assert own["inspections"]["total"]["value"] == 22
    assert demo_hub.ok(REPORT_Q, period(*q2), as_=ANALYST)["indicators"]["city"] == CITY

    # Neither counts the other's, published or not: refused, and the refusal logged.
    for client, variables in (("analyst-gent", period(*q2)), (ANALYST, gent)):
        body = demo_hub.gql(REPORT_Q, variables, as_=client)
        assert body["data"] is None, body
        error = body["errors"][0]
        assert error["extensions"]["code"] == "FORBIDDEN"
        assert "own city" in error["message"]
        denied = [e for e in log_entries(demo_hub, "AnalystIndicators") if e.subject == client]
        assert denied[-1].outcome == "denied" and denied[-1].reason == "FORBIDDEN"
    # Each resource's own `where` decides for the indicators counted from it.
    for name in ("inspections", "reports", "careContacts", "measures"):
        q = f"""query($city: String!, $from: Date!, $to: Date!) {{
          indicators(city: $city, from: $from, to: $to) {{ {name} {{ __typename }} }} }}"""
        assert demo_hub.error_code(q, period(*q2), as_="analyst-gent") == "FORBIDDEN", name
    # A quarter never published is refused alike, and stays unpublished.
    q1 = (date(2024, 1, 1), date(2024, 3, 31))
    seed_period(demo_hub, q1[0], CITY)
    assert demo_hub.error_code(REPORT_Q, period(*q1), as_="analyst-gent") == "FORBIDDEN"
    assert not [r for r in published_rows(demo_hub) if r.period_first == q1[0]]

    # It is the policy's `where` that decides: without it, Gent's analyst would count.
    active = without_aggregate_where(demo_hub)
    try:
        report = demo_hub.ok(REPORT_Q, period(*q2), as_="analyst-gent")["indicators"]
        assert report["city"] == CITY
    finally:
        demo_hub.app.state.hub.policies = active


def test_a_late_record_does_not_change_a_published_report(demo_hub):
    q4 = (date(2023, 10, 1), date(2023, 12, 31))
    seed_period(demo_hub, q4[0])
    q = REPORT_Q.replace("city from to quarter", "city from to quarter period publishedAt")
    first = demo_hub.ok(q, period(*q4), as_=ANALYST)["indicators"]
    assert first["period"] == "2023-Q4" and first["inspections"]["total"]["value"] == 22
    before = raw_counts(demo_hub, CITY, *q4)

    # Records of the quarter arrive late: five more PVs, one more stalking report. Had the
    # report been recomputed, PV (5, suppressed with RIR) would show as 10 and reveal
    # that the late inspections were PVs; stalking 2 -> 3.
    police = demo_hub.demo.organisation_ids["antwerp_police"]
    late_at = datetime(2023, 12, 30, 12, 0, tzinfo=UTC)
    insert(
        demo_hub,
        [
            Inspection(
                city=CITY,
                branch="window",
                occurred_at=late_at,
                outcome="pv",
                police_org_id=police,
            )
            for _ in range(5)
        ]
        + [Report(category="stalking", text="late", anonymous=True, city=CITY, filed_at=late_at)],
    )
    after = raw_counts(demo_hub, CITY, *q4)
    assert after["inspectionOutcomes"] != before["inspectionOutcomes"]
    assert after["reports"] != before["reports"]

    again = demo_hub.ok(q, period(*q4), as_=ANALYST)["indicators"]
    assert again == first  # every figure, and the publication time
    # The privacy officer reads the same published figures.
    dpo = demo_hub.ok(q, period(*q4), as_="demo-dpo-antwerp", purpose="policy_administration")
    assert dpo["indicators"] == first
    stored = [r for r in published_rows(demo_hub) if r.period_first == q4[0] and r.city == CITY]
    assert len(stored) == 1 and stored[0].label == "2023-Q4"


def test_a_yearly_report_covers_the_closed_year(demo_hub):
    seed_period(demo_hub, date(2022, 1, 1))
    seed_period(demo_hub, date(2022, 7, 1))
    year = (date(2022, 1, 1), date(2022, 12, 31))
    q = REPORT_Q.replace("city from to quarter", "city from to quarter period")
    report = demo_hub.ok(q, period(*year), as_=ANALYST)["indicators"]
    assert (report["period"], report["quarter"]) == ("2022", None)
    check_report(report, raw_counts(demo_hub, CITY, *year))
    assert report["inspections"]["total"]["value"] == 44
    assert rows_of(report["inspectionOutcomes"]) == {
        "none": 18,
        "warning": 12,
        "pv": None,
        "rir": None,
    }


def test_the_new_indicators_on_a_small_seeded_set(demo_hub):
    q1 = (date(2021, 1, 1), date(2021, 3, 31))
    seed_period(demo_hub, q1[0])
    report = demo_hub.ok(REPORT_Q, period(*q1), as_=ANALYST)["indicators"]
    check_report(report, raw_counts(demo_hub, CITY, *q1))
    # Outcomes none 9, warning 6, PV 5, RIR 2: RIR is small, and alone it would be the
    # total minus the rest, so the smallest shown cell (PV) is suppressed with it.
    outcomes = report["inspectionOutcomes"]
    assert rows_of(outcomes) == {"none": 9, "warning": 6, "pv": None, "rir": None}
    assert outcomes["total"] == {"value": 22, "suppressed": False}
    # Reports: violence 7, not paid 6, stalking 2, nine categories with none. Stalking and
    # the zeros sum to 2 (< 5): "not paid" (6) is suppressed too; the total stays.
    reports = report["reports"]
    shown = {k: v for k, v in rows_of(reports).items() if v is not None}
    assert shown == {"violence": 7}
    assert reports["total"] == {"value": 15, "suppressed": False}
    # The total minus what is shown (15 - 7 = 8) spreads over two or more hidden cells
    # and is at least 5: stalking's 2 cannot be recovered from it.
    assert reports["total"]["value"] - sum(shown.values()) >= MIN_CELL
    # Fines: 7 of 12 measures; street bans 5.
    assert report["fines"] == {"value": 7, "suppressed": False}
    # The five zero kinds and street bans (5) are hidden together: 12 - 7 = 5 spread over
    # six cells.
    assert rows_of(report["measures"])["street_ban"] is None
    assert rows_of(report["arrests"]) == {"administrative": 8, "judicial": 6}


@pytest.mark.parametrize(
    "first,last",
    [
        ("2026-10-02", "2027-01-01"),  # a quarter shifted by a day
        ("2026-09-30", "2026-12-30"),
        ("2026-10-01", "2026-12-30"),  # one day short
        ("2026-10-01", "2027-03-31"),  # two quarters
        ("2026-11-01", "2026-11-30"),  # a month
        ("2026-09-30", "2026-07-01"),  # reversed
    ],
)
def test_only_whole_quarters_are_accepted(demo_hub, first, last):
    body = demo_hub.gql(REPORT_Q, {"city": CITY, "from": first, "to": last}, as_=ANALYST)
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "quarter" in error["message"] and "difference" in error["message"]


@pytest.mark.parametrize("first,last", [("2999-01-01", "2999-03-31"), ("0001-01-01", "0001-03-31")])
def test_quarters_not_begun_or_long_past_are_refused(demo_hub, first, last):
    code = demo_hub.error_code(REPORT_Q, {"city": CITY, "from": first, "to": last}, as_=ANALYST)
    assert code == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    "client,purpose",
    [
        ("demo-police-antwerp", "inspection"),
        ("demo-investigator", "investigation"),
        ("demo-ngo-ghapro", "care"),
        ("demo-city-antwerp", "licensing"),
        ("demo-enforcement-antwerp", "enforcement"),
        ("demo-operator", "self_service"),
        ("demo-worker", "self_service"),
    ],
)
def test_no_one_but_the_analyst_and_the_policy_overseers_may_count(demo_hub, client, purpose):
    first, last = Q3_2024
    code = demo_hub.error_code(REPORT_Q, period(first, last), as_=client, purpose=purpose)
    assert code == "FORBIDDEN"
    denied = [e for e in log_entries(demo_hub, "AnalystIndicators") if e.subject == client]
    assert denied and denied[-1].outcome == "denied" and denied[-1].reason == "FORBIDDEN"


@pytest.mark.parametrize("client", ["demo-dpo-antwerp", "demo-utsopi"])
def test_privacy_officers_and_the_workers_representative_count_the_same_suppressed_cells(
    demo_hub, client
):
    """The officers' console shows the indicators: the same counts, suppressed alike."""
    first, last = Q3_2024
    q = """query($city: String!, $from: Date!, $to: Date!) {
      indicators(city: $city, from: $from, to: $to) {
        inspections { rows { key value suppressed } total { value suppressed } } } }"""
    mine = demo_hub.gql(q, period(first, last), as_=client, purpose="policy_administration")
    analyst = demo_hub.gql(q, period(first, last), as_=ANALYST)
    assert "errors" not in mine, mine
    assert mine["data"] == analyst["data"]


# --- constructed data: one small cell, and secondary suppression -----------------------


Q1_2025 = (date(2025, 1, 1), date(2025, 3, 31))


def insert(hub: Any, rows: list[Any]) -> None:
    async def go() -> None:
        async with hub.db.session() as s:
            s.add_all(rows)
            await s.commit()

    hub.run(go())


def inspections(hub: Any, branch_counts: dict[str, int]) -> list[Inspection]:
    police = hub.demo.organisation_ids["antwerp_police"]
    at = datetime(2025, 2, 3, 10, 0, tzinfo=UTC)
    return [
        Inspection(
            city=CITY,
            branch=b,
            occurred_at=at + timedelta(minutes=n),
            outcome="none",
            police_org_id=police,
            proactive=True,
            hidden_form=False,
        )
        for b, count in branch_counts.items()
        for n in range(count)
    ]


def care(hub: Any, ngo: str, branch: str, clients: list[str]) -> list[CareContact]:
    return [
        CareContact(
            ngo_id=hub.demo.organisation_ids[ngo],
            client_ref=c,
            contact_date=date(2025, 2, 10),
            kind="psychosocial",
            location="fixed",
            branch=branch,
            city=CITY,
        )
        for c in clients
    ]


def rows_of(table: dict[str, Any]) -> dict[str, int | None]:
    return {r["key"].lower(): r["value"] for r in table["rows"]}


def test_a_single_small_cell_triggers_secondary_suppression(hub):
    counts = {
        "window": 20,
        "street": 12,
        "strip_club": 9,
        "escort": 3,
        "private_home": 7,
        "massage_salon": 6,
        "other": 8,
    }
    insert(hub, inspections(hub, counts))
    # 30 clients at the window; 6 in the street, one of whom also at the window; 2 escorts.
    clients = [f"GH-{n:04d}" for n in range(30)]
    insert(
        hub,
        care(hub, "ghapro", "window", clients)
        + care(hub, "ghapro", "street", [*clients[:1], *(f"S-{n}" for n in range(5))])
        + care(hub, "ghapro", "escort", ["E-1", "E-2"]),
    )

    data = hub.ok(REPORT_Q, period(*Q1_2025), as_=ANALYST)["indicators"]
    check_report(data, raw_counts(hub, CITY, *Q1_2025))

    # Escort (3) is under the threshold; alone it would be total minus the rest, so the
    # smallest published cell, massage salons (6), is suppressed with it.
    assert rows_of(data["inspections"]) == {
        "window": 20,
        "street": 12,
        "strip_club": 9,
        "escort": None,
        "private_home": 7,
        "massage_salon": None,
        "other": 8,
    }
    assert data["inspections"]["total"] == {"value": 65, "suppressed": False}

    # Distinct people: window 30, street 6, escort 2 and 0 elsewhere; 37 people in all.
    # Suppressed: escort 2 and four zeros (sum 2) -> street is suppressed as well
    # (sum 8, residual 37 - 30 = 7), and the total stays.
    assert rows_of(data["sexWorkersReached"]) == {
        "window": 30,
        "street": None,
        "strip_club": None,
        "escort": None,
        "private_home": None,
        "massage_salon": None,
        "other": None,
    }
    assert data["sexWorkersReached"]["total"] == {"value": 37, "suppressed": False}
    # 38 contacts, all psychosocial: the four zero kinds sum to nothing, so psychosocial
    # goes too (else it would say "no one else"); the total of 38 stays.
    assert set(rows_of(data["careContacts"]).values()) == {None}
    assert data["careContacts"]["total"] == {"value": 38, "suppressed": False}

    # An empty quarter publishes nothing at all.
    empty = hub.ok(REPORT_Q, period(date(2024, 4, 1), date(2024, 6, 30)), as_=ANALYST)
    report = empty["indicators"]
    assert all(report[n]["total"]["suppressed"] for n in TABLES)
    assert all(r["value"] is None for n in TABLES for r in report[n]["rows"])
    assert all(report[n] == {"value": None, "suppressed": True} for n in CELLS)


def test_the_number_of_statements_does_not_depend_on_the_data(hub):
    hub.ok(REPORT_Q, period(*Q1_2025), as_=ANALYST)  # warm up: token, caches
    q2, q3 = (date(2025, 4, 1), date(2025, 6, 30)), (date(2025, 7, 1), date(2025, 9, 30))
    hub.count_statements()
    hub.ok(REPORT_Q, period(*q2), as_=ANALYST)  # published now, from an empty quarter
    before = list(hub.statements)
    seed_period(hub, q3[0], scale=3)
    hub.count_statements()
    hub.ok(REPORT_Q, period(*q3), as_=ANALYST)  # published now, from a busy one
    assert len(hub.statements) == len(before), (before, hub.statements)
    counting = [s for s in before if "access_log" not in s and "audit" not in s]
    # One GROUP BY per resource counted: care contacts, referrals, inspections, measures,
    # certificates, reports, investigations, workers (gender); and one statement checking
    # the rows are the analyst's city.
    assert len([s for s in counting if "count(" in s.lower()]) == 8
    assert len([s for s in counting if "sum(case" in s.lower().replace(" ", "")]) >= 1
    # Read again, a published report is one statement: no counting at all.
    hub.count_statements()
    hub.ok(REPORT_Q, period(*q3), as_=ANALYST)
    again = [s for s in hub.statements if "access_log" not in s and "audit" not in s]
    assert not [s for s in again if "group by" in s.lower()], again


def without_aggregates(hub: Any, resources: set[str] | None) -> None:
    """Activate the loaded policy minus the `aggregate` sections of `resources` (all: None)."""
    active = hub.app.state.hub.policies
    changed = copy.copy(active)
    changed.documents = {
        name: replace(doc, aggregate=None) if resources is None or name in resources else doc
        for name, doc in active.documents.items()
    }
    hub.app.state.hub.policies = changed


def test_an_indicator_the_policy_does_not_allow_is_null_and_withheld(hub):
    without_aggregates(hub, {"Measure", "Certificate"})
    body = hub.gql(REPORT_Q, period(*Q1_2025), as_=ANALYST)
    assert "errors" not in body, body
    report = body["data"]["indicators"]
    assert report["measures"] is None and report["fines"] is None
    assert report["finesByTarget"] is None and report["certificates"] is None
    assert report["inspections"] is not None and report["careContacts"] is not None
    withheld = body["extensions"]["withheld"]["IndicatorReport"]
    assert sorted(withheld) == ["certificates", "fines", "finesByTarget", "measures"]
    entry = log_entries(hub, "AnalystIndicators")[-1]
    assert "measures" not in entry.fields and "inspections" in entry.fields

    # With no aggregate at all for the analyst, the request is refused.
    without_aggregates(hub, None)
    code = hub.error_code(REPORT_Q, period(*Q1_2025), as_=ANALYST)
    assert code == "FORBIDDEN"


# --- the period and the suppression function alone -------------------------------------


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_every_day_lies_in_exactly_one_accepted_period(day):
    q = quarter_of(day)
    assert q.first <= day <= q.last
    assert exact_quarter(q.first, q.last) == q
    assert exact_quarter(q.first + timedelta(days=1), q.last + timedelta(days=1)) is None
    assert exact_quarter(q.first, q.last - timedelta(days=1)) is None
    assert quarter_of(q.last + timedelta(days=1)).first == q.last + timedelta(days=1)


def test_single_cells_are_suppressed_under_the_threshold():
    assert [suppress_cell(n, 5).value for n in (0, 1, 4, 5, 17)] == [None, None, None, 5, 17]


def test_suppression_examples():
    t = suppress_table({"a": 20, "b": 3, "c": 6}, 5)
    assert [c.value for _, c in t.cells] == [20, None, None] and t.total.value == 29
    t = suppress_table({"a": 20, "b": 0, "c": 1, "d": 6, "e": 9}, 5)
    assert [c.value for _, c in t.cells] == [20, None, None, None, 9] and t.total.value == 36
    t = suppress_table({"a": 3}, 5)
    assert t.cells[0][1].value is None and t.total.value is None
    # A distinct total that is not the sum: 8 people, 7 of whom are in a; b (2) must not
    # show as 8 - 7 = 1, so b and a are both suppressed.
    t = suppress_table({"a": 7, "b": 2}, 5, total=8)
    assert [c.value for _, c in t.cells] == [None, None] and t.total.value == 8


@st.composite
def tables(draw: Any) -> tuple[dict[int, int], int, int]:
    cells = draw(st.lists(st.integers(0, 40), min_size=1, max_size=9))
    raw = dict(enumerate(cells))
    min_cell = draw(st.integers(1, 12))
    # The sum of the cells, or a distinct count: at least the largest cell, at most the sum.
    additive = draw(st.booleans())
    total = sum(cells) if additive else draw(st.integers(max(cells), sum(cells)))
    return raw, min_cell, total


@settings(max_examples=400)
@given(tables())
def test_after_suppression_nothing_small_is_published_or_derivable(case):
    raw, min_cell, total = case
    t = suppress_table(raw, min_cell, total=total)
    cells = dict(t.cells)
    assert list(cells) == list(raw)
    for k, c in cells.items():
        assert c.value is None or c.value == raw[k] >= min_cell
        assert raw[k] >= min_cell or c.suppressed  # primary suppression
    assert t.total.value is None or t.total.value == total >= min_cell
    hidden = [k for k, c in cells.items() if c.suppressed]
    if hidden and not t.total.suppressed:
        assert len(hidden) >= 2
        assert sum(raw[k] for k in hidden) >= min_cell
        residual = total - sum(c.value or 0 for c in cells.values())
        assert residual <= 0 or residual >= min_cell
        assert not recoverable(raw, hidden, total, min_cell)
    # Suppression only adds what is needed: a table with nothing small is published whole.
    if all(v >= min_cell for v in raw.values()) and total >= min_cell:
        assert not hidden and not t.total.suppressed


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_a_year_is_accepted_whole_and_only_whole(day):
    year = exact_period(date(day.year, 1, 1), date(day.year, 12, 31))
    assert year is not None and (year.label, year.is_year) == (str(day.year), True)
    assert exact_period(date(day.year, 1, 2), date(day.year + 1, 1, 1)) is None
    q = quarter_of(day)
    assert exact_period(q.first, q.last) == q and not q.is_year


def test_hub_statistics_publish_freezes_a_report_the_api_then_returns(
    demo_hub: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.cli import main

    q2 = (date(2020, 4, 1), date(2020, 6, 30))
    seed_period(demo_hub, q2[0])
    monkeypatch.setenv("HUB_DATABASE_URL", demo_hub.url)
    assert main(["statistics", "publish", "--city", CITY, "--period", "2020-Q2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{CITY} 2020-Q2: published now at ")
    figures = json.loads(out.split("\n", 1)[1])
    assert figures["inspections"]["total"] == 22
    assert figures["inspection_outcomes"]["rows"] == [
        ["none", 9], ["warning", 6], ["pv", None], ["rir", None]
    ]  # fmt: skip

    insert(
        demo_hub,
        [
            Report(
                category="raid", text="late", city=CITY, filed_at=datetime(2020, 6, 1, tzinfo=UTC)
            )
        ],
    )
    assert main(["statistics", "publish", "--city", CITY, "--period", "2020Q2"]) == 0
    again = capsys.readouterr().out
    assert again.split(" at ")[0] == f"{CITY} 2020-Q2: already published"
    assert json.loads(again.split("\n", 1)[1]) == figures
    # Each run is in the access log: the indicators, never a value, with the command as
    # the actor.
    logged = log_entries(demo_hub, "statistics publish")
    assert [e.reason for e in logged[-2:]] == [
        f"published {CITY} 2020-Q2",
        f"printed {CITY} 2020-Q2",
    ]
    for e in logged[-2:]:
        assert (e.action, e.resource, e.subject, e.outcome) == (
            "aggregate", "Indicators", "hub:statistics", "allowed"
        )  # fmt: skip
        assert sorted(e.fields) == sorted(figures) and e.record_ids == []

    q = "query($city: String!, $from: Date!, $to: Date!) { indicators(city: $city, from: $from, to: $to) { inspections { total { value } } reports { total { value } } } }"
    report = demo_hub.ok(q, period(*q2), as_=ANALYST)["indicators"]
    assert report["inspections"]["total"]["value"] == 22
    assert report["reports"]["total"]["value"] == figures["reports"]["total"] == 15

    # The open quarter is not published, nor anything but a quarter or a year.
    today = datetime.now(BRUSSELS).date()
    open_q = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    assert main(["statistics", "publish", "--city", CITY, "--period", open_q]) == 2
    assert "only closed periods" in capsys.readouterr().err
    assert main(["statistics", "publish", "--city", CITY, "--period", "2020-05"]) == 2


def test_the_published_report_table_matches_its_model(hub):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    async def diffs() -> list[Any]:
        async with hub.db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), SQLModel.metadata
                )
            )

    assert [d for d in hub.run(diffs()) if "published_report" in repr(d)] == []


SPLIT_Q = """query Split($city: String!, $from: Date!, $to: Date!) {
  indicators(city: $city, from: $from, to: $to) {
    measures { rows { key value suppressed } total { value suppressed } }
    fines { value suppressed }
    finesByTarget { rows { key value suppressed } total { value suppressed } }
    judicialInvestigations { value suppressed }
  }
}"""


def _measures(hub: Any, first: date, plan: list[tuple[str, str]]) -> None:
    enforcement = hub.demo.organisation_ids["antwerp_city_enforcement"]
    at = datetime.combine(first + timedelta(days=10), time(9), tzinfo=UTC)
    insert(
        hub,
        [
            Measure(
                kind=kind,
                target_kind=target,
                city=CITY,
                org_id=enforcement,
                opened_at=at + timedelta(hours=n),
            )
            for n, (kind, target) in enumerate(plan)
        ],
    )


def test_fines_are_split_between_workers_clients_third_parties_and_premises(demo_hub):
    first, last = date(2021, 4, 1), date(2021, 6, 30)
    plan = [("fine", "client")] * 8 + [("fine", "sex_worker")] * 6 + [("fine", "other_person")] * 5
    # Other kinds, so that the zeros of the measures table do not take the fines cell with
    # them (secondary suppression hides the 5 closures instead).
    others = [("street_ban", "other_person")] * 6 + [("temporary_closure", "premises")] * 5
    _measures(demo_hub, first, plan + [("fine", "premises")] * 5 + others)
    report = demo_hub.ok(SPLIT_Q, period(first, last), as_=ANALYST)["indicators"]
    assert report["fines"] == {"value": 24, "suppressed": False}
    split = {r["key"]: r["value"] for r in report["finesByTarget"]["rows"]}
    assert split == {"PREMISES": 5, "SEX_WORKER": 6, "CLIENT": 8, "OTHER_PERSON": 5}
    assert report["finesByTarget"]["total"] == {"value": 24, "suppressed": False}


def test_the_split_is_hidden_whole_when_the_fines_cell_is(demo_hub):
    """Six fines and two street bans: the street bans are suppressed (2 < 5), so the fines
    cell is too (secondary: the total would give the bans back). The split of the fines
    must not give the fines cell back: its total and every cell are suppressed, though
    six fines against clients alone would pass the threshold."""
    first, last = date(2021, 7, 1), date(2021, 9, 30)
    _measures(demo_hub, first, [("fine", "client")] * 6 + [("street_ban", "other_person")] * 2)
    report = demo_hub.ok(SPLIT_Q, period(first, last), as_=ANALYST)["indicators"]
    assert report["measures"]["total"] == {"value": 8, "suppressed": False}
    assert report["fines"] == {"value": None, "suppressed": True}
    split = report["finesByTarget"]
    assert split["total"] == {"value": None, "suppressed": True}
    assert all(r == {"key": r["key"], "value": None, "suppressed": True} for r in split["rows"])
    assert report["judicialInvestigations"] == {"value": None, "suppressed": True}  # none
