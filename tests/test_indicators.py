"""The action plan's indicators: counts only, per city and quarter, small cells suppressed,
secondary suppression so that totals give nothing away, one access-log entry per request."""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hub.models import (
    AccessLogEntry,
    CareContact,
    Certificate,
    Inspection,
    Measure,
    Organisation,
    Premises,
    Referral,
)
from hub.services.statistics import (
    INDICATORS,
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
    certificates {{ {TABLE} }}
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
)
CELLS = ("referrals", "hiddenFormsControlled", "fines")


def current_quarter() -> tuple[date, date]:
    q = quarter_of(datetime.now(BRUSSELS).date())
    return q.first, q.last


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
                (
                    await s.execute(
                        select(Measure.kind).where(
                            Measure.city == city,
                            Measure.opened_at >= start,
                            Measure.opened_at < end,
                        )
                    )
                )
                .scalars()
                .all()
            )
            certs = (
                await s.execute(
                    select(Certificate.status, Premises.city, Certificate.decided_at).join(
                        Premises, Premises.id == Certificate.premises_id
                    )
                )
            ).all()
            referrals = (
                await s.execute(
                    select(Referral.created_at, Organisation.city).join(
                        Organisation, Organisation.id == Referral.from_org_id
                    )
                )
            ).all()
        return tally(city, start, end, care, insp, measures, certs, referrals)

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
        "careContacts": table(["medical", "psychosocial", "outreach", "online", "referral"], kinds),
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


def log_entries(hub: Any, operation: str) -> list[AccessLogEntry]:
    async def load() -> list[AccessLogEntry]:
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry).where(AccessLogEntry.operation == operation)
            return list((await s.execute(stmt.order_by(AccessLogEntry.id))).scalars().all())

    return hub.run(load())  # type: ignore[no-any-return]


# --- through the app (needs IndicatorsQuery in the root Query) -------------------------


def test_the_analyst_gets_the_current_quarter_suppressed(demo_hub):
    first, last = current_quarter()
    data = demo_hub.ok(REPORT_Q, period(first, last), as_=ANALYST)
    report = data["indicators"]
    assert (report["city"], report["from"], report["to"]) == (CITY, str(first), str(last))
    assert re.fullmatch(r"\d{4}-Q[1-4]", report["quarter"])
    assert all(report[n] is not None for n in TABLES + CELLS)
    check_report(report, raw_counts(demo_hub, CITY, first, last))
    # The demo has enough activity for the report to say something.
    assert not report["inspections"]["total"]["suppressed"]
    assert any(not r["suppressed"] for r in report["careContacts"]["rows"])


def test_the_report_is_logged_once_with_the_indicators_computed(demo_hub):
    first, last = current_quarter()
    demo_hub.ok(REPORT_Q, period(first, last), as_=ANALYST)
    entries = [e for e in log_entries(demo_hub, "AnalystIndicators") if e.outcome == "allowed"]
    assert entries
    entry = entries[-1]
    assert (entry.action, entry.resource) == ("aggregate", "Indicators")
    assert sorted(entry.fields) == sorted(INDICATORS)
    assert entry.record_ids == [] and entry.purpose == "statistics"


def test_only_the_indicators_asked_for_are_counted(demo_hub):
    first, last = current_quarter()
    q = """query OnlyInspections($city: String!, $from: Date!, $to: Date!) {
      indicators(city: $city, from: $from, to: $to) { inspections { total { value } } } }"""
    demo_hub.count_statements()
    demo_hub.ok(q, period(first, last), as_=ANALYST)
    counting = [s for s in demo_hub.statements if "access_log" not in s and "audit" not in s]
    assert len([s for s in counting if "inspection" in s]) == 1
    assert not [s for s in counting if "care_contact" in s or "measure" in s]
    assert log_entries(demo_hub, "OnlyInspections")[-1].fields == ["inspections"]


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
        ("demo-dpo-antwerp", "policy_administration"),
    ],
)
def test_no_one_but_the_analyst_may_count(demo_hub, client, purpose):
    first, last = current_quarter()
    code = demo_hub.error_code(REPORT_Q, period(first, last), as_=client, purpose=purpose)
    assert code == "FORBIDDEN"
    denied = [e for e in log_entries(demo_hub, "AnalystIndicators") if e.subject == client]
    assert denied and denied[-1].outcome == "denied" and denied[-1].reason == "FORBIDDEN"


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
    hub.count_statements()
    hub.ok(REPORT_Q, period(*Q1_2025), as_=ANALYST)
    before = list(hub.statements)
    insert(hub, inspections(hub, {"window": 40, "escort": 25, "other": 7}))
    insert(hub, care(hub, "violett", "window", [f"VI-{n}" for n in range(50)]))
    hub.count_statements()
    hub.ok(REPORT_Q, period(*Q1_2025), as_=ANALYST)
    assert len(hub.statements) == len(before), (before, hub.statements)
    counting = [s for s in before if "access_log" not in s and "audit" not in s]
    # One GROUP BY per resource counted: care contacts, referrals, inspections, measures,
    # certificates; none of them returns a row of its resource.
    assert len([s for s in counting if "count(" in s.lower()]) == 5


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
    body = hub.gql(REPORT_Q, period(*current_quarter()), as_=ANALYST)
    assert "errors" not in body, body
    report = body["data"]["indicators"]
    assert report["measures"] is None and report["fines"] is None
    assert report["certificates"] is None
    assert report["inspections"] is not None and report["careContacts"] is not None
    withheld = body["extensions"]["withheld"]["IndicatorReport"]
    assert sorted(withheld) == ["certificates", "fines", "measures"]
    entry = log_entries(hub, "AnalystIndicators")[-1]
    assert "measures" not in entry.fields and "inspections" in entry.fields

    # With no aggregate at all for the analyst, the request is refused.
    without_aggregates(hub, None)
    code = hub.error_code(REPORT_Q, period(*current_quarter()), as_=ANALYST)
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
