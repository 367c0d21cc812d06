"""A worker's self-declared gender (issue 11): optional, set and cleared by the worker
alone (setMyGender, /me), read by nobody else through any read path, cleared by erasure
and by retention's anonymisation, and counted only as the suppressed `gender` indicator of
the analyst's own city. The guardrail `gender-only-to-the-worker` refuses any policy that
shows it to anyone else (its proposal and activation with every approval are in
tests/test_guardrails.py, BREACHES)."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from hub.auth.clients import register_client
from hub.cli import main
from hub.demo import DEMO_CASE
from hub.demo_clients import DEMO_CLIENTS
from hub.models import AccessLogEntry, PublishedReport, SexWorker
from hub.models.enums import Gender
from hub.services.erasure import Requester, erase_identity
from hub.services.retention import ERASED, run_retention
from tests.consoles import session_client
from tests.test_compiled_reads import both

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
WORKER = "demo-worker"
ANALYST = "demo-analyst-antwerp"
CITY = "Antwerpen"
BRUSSELS = ZoneInfo("Europe/Brussels")
KEYS = [g.value for g in Gender] + ["not_stated"]

SET = "mutation($g: Gender) { setMyGender(gender: $g) { id gender workingName } }"
MINE = "query($id: ID!) { sexWorker(id: $id) { gender workingName } }"
TABLE = "rows { key value suppressed } total { value suppressed } minCell"
GENDER_Q = f"""query Gender($city: String!, $from: Date!, $to: Date!) {{
  indicators(city: $city, from: $from, to: $to) {{ city period gender {{ {TABLE} }} }} }}"""


def me(hub: Any) -> str:
    return str(hub.ok("{ me { sexWorkerId } }", as_=WORKER)["me"]["sexWorkerId"])


def stored_gender(hub: Any, worker: str) -> str | None:
    async def load() -> str | None:
        async with hub.db.session() as s:
            row = await s.get(SexWorker, worker)
            assert row is not None
            return row.gender

    return hub.run(load())  # type: ignore[no-any-return]


def set_all(hub: Any, gender: str | None) -> None:
    async def go() -> None:
        async with hub.db.session() as s:
            await s.execute(update(SexWorker).values(gender=gender))
            await s.commit()

    hub.run(go())


def log(hub: Any) -> list[AccessLogEntry]:
    async def load() -> list[AccessLogEntry]:
        async with hub.db.session() as s:
            stmt = (
                select(AccessLogEntry)
                .options(selectinload(AccessLogEntry.subjects))  # type: ignore[arg-type]
                .order_by(AccessLogEntry.id)
            )
            return list((await s.execute(stmt)).scalars().all())

    return hub.run(load())  # type: ignore[no-any-return]


# --- the worker sets and clears it ---------------------------------------------------------


def test_the_worker_declares_changes_and_clears_their_gender(hub):
    worker = me(hub)
    assert stored_gender(hub, worker) is None  # the demo's login states none
    before = len(log(hub))

    got = hub.ok(SET, {"g": "TRANS_MAN"}, as_=WORKER)["setMyGender"]
    assert (got["id"], got["gender"]) == (worker, "TRANS_MAN")
    assert stored_gender(hub, worker) == "trans_man"
    assert hub.ok(MINE, {"id": worker}, as_=WORKER)["sexWorker"]["gender"] == "TRANS_MAN"

    assert hub.ok(SET, {"g": "NON_BINARY"}, as_=WORKER)["setMyGender"]["gender"] == "NON_BINARY"
    assert stored_gender(hub, worker) == "non_binary"

    # Null (or no argument) clears it: not stated.
    assert hub.ok(SET, {"g": None}, as_=WORKER)["setMyGender"]["gender"] is None
    assert stored_gender(hub, worker) is None
    hub.ok(SET, {"g": "WOMAN"}, as_=WORKER)
    cleared = hub.ok("mutation { setMyGender { gender } }", as_=WORKER)["setMyGender"]
    assert cleared["gender"] is None and stored_gender(hub, worker) is None

    # A value outside the vocabulary is refused before anything is written.
    body = hub.gql(SET, {"g": "ALIEN"}, as_=WORKER)
    assert body.get("errors") and stored_gender(hub, worker) is None

    # Every write is in the access log, on the worker's record, the worker its subject,
    # and never with the value.
    entries = log(hub)[before:]
    writes = [e for e in entries if e.action == "write:set_gender"]
    assert len(writes) == 5
    assert all(e.resource == "SexWorker" and e.outcome == "allowed" for e in writes)
    assert all(e.record_ids == [worker] for e in writes)
    assert all([s.sex_worker_id for s in e.subjects] == [worker] for e in writes)
    assert all(e.purpose == "self_service" for e in writes)
    for e in entries:
        text = repr([e.fields, e.reason, e.record_ids, e.operation]).lower()
        for value in ("woman", "trans_man", "non_binary"):
            assert value not in text, e


@pytest.mark.parametrize(
    ("client", "purpose"),
    [
        ("demo-police-antwerp", "inspection"),
        ("demo-city-antwerp", "licensing"),
        ("demo-ngo-ghapro", "care"),
        ("demo-operator", "self_service"),
        ("demo-dpo-antwerp", "policy_administration"),
    ],
)
def test_nobody_else_declares_a_gender(hub, client, purpose):
    set_all(hub, "woman")
    assert hub.error_code(SET, {"g": "MAN"}, as_=client, purpose=purpose) == "FORBIDDEN"
    assert stored_gender(hub, hub.demo.sex_worker_ids[0]) == "woman"
    denied = [e for e in log(hub) if e.resource == "SexWorker" and e.outcome == "denied"]
    assert denied and denied[-1].action == "set_gender"


# --- nobody else reads it ------------------------------------------------------------------

# Every root that returns a worker's record, nested or not, asking for the gender.
READS = {
    "sexWorker": "query($id: ID!) { sexWorker(id: $id) { workingName gender identity { "
    "legalName } } }",
    "shifts": "{ shifts(first: 100) { edges { node { sexWorker { workingName gender "
    "identity { legalName } } } } } }",
    "rentalAgreements": "{ rentalAgreements(first: 100) { edges { node { sexWorker { "
    "workingName gender } } } } }",
    "employmentRelations": "{ employmentRelations(first: 100) { edges { node { sexWorker { "
    "workingName gender } } } } }",
}
OTHERS = [
    (c.client_id, purpose)
    for c in DEMO_CLIENTS
    if "sex_worker" not in c.roles
    for purpose in c.purposes
]


# Who sees some workers' records (so that the check above is not vacuous for them).
SEE_WORKERS = {
    ("demo-police-antwerp", "identity_validation"),
    ("demo-police-antwerp", "inspection"),
    ("demo-investigator", "investigation"),
    ("demo-operator", "self_service"),
    ("demo-ngo-ghapro", "care"),
}


def _workers(value: Any) -> list[dict[str, Any]]:
    """Every worker record in an answer (any object carrying workingName)."""
    if isinstance(value, dict):
        found = [value] if "workingName" in value and "gender" in value else []
        return found + [w for v in value.values() for w in _workers(v)]
    if isinstance(value, list):
        return [w for v in value for w in _workers(v)]
    return []


@pytest.fixture(scope="module")
def everyone_declared(demo_hub: Any) -> Any:
    """Every demo worker with a declared gender, so that any leak would show."""
    set_all(demo_hub, "trans_woman")
    yield demo_hub
    set_all(demo_hub, None)


@pytest.mark.parametrize(("client", "purpose"), OTHERS)
def test_no_one_but_the_worker_reads_a_gender_on_either_read_path(
    everyone_declared, client, purpose
):
    hub = everyone_declared
    seen = 0
    for root, query in READS.items():
        ids = hub.demo.sex_worker_ids if root == "sexWorker" else [None]
        for worker in ids:
            variables = {"id": worker} if worker else None
            # The compiled answer and the generic one are the same (tests/test_compiled_reads.py)
            compiled, _generic = both(
                hub, query, variables, as_=client, purpose=purpose, expect=None
            )
            if compiled.get("errors"):
                assert compiled["errors"][0]["extensions"]["code"] == "FORBIDDEN", compiled
                break
            records = [w for w in _workers(compiled["data"]) if w["workingName"]]
            assert all(w["gender"] is None for w in _workers(compiled["data"])), compiled
            if records:
                seen += len(records)
                withheld = compiled["extensions"]["withheld"]["SexWorker"]
                assert "gender" in withheld, compiled["extensions"]
    # The police and the investigator see working names (rules with `"*": allow`), the
    # operator and the NGO working names: records came back, and still no gender.
    if (client, purpose) in SEE_WORKERS:
        assert seen, (client, purpose)


def test_an_investigator_under_an_open_case_sees_the_identity_not_the_gender(everyone_declared):
    hub = everyone_declared
    named = hub.demo.sex_worker_ids[0]  # named by the demo's open case
    body = hub.gql(READS["sexWorker"], {"id": named}, as_="demo-investigator", case=DEMO_CASE)
    worker = body["data"]["sexWorker"]
    assert worker["identity"]["legalName"]  # the rule showing `"*"` applied
    assert worker["gender"] is None
    assert "gender" in body["extensions"]["withheld"]["SexWorker"]


def test_the_police_validating_a_shift_in_progress_see_no_gender(everyone_declared):
    hub = everyone_declared
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    q = """query($from: DateTime) { shifts(first: 100, from: $from) { edges { node {
      sexWorker { workingName gender identity { legalName } } } } } }"""
    for compiled in both(
        hub, q, {"from": since}, as_="demo-police-antwerp", purpose="identity_validation",
        expect=None,
    ):  # fmt: skip
        workers = [e["node"]["sexWorker"] for e in compiled["data"]["shifts"]["edges"]]
        assert any(w and w["identity"] for w in workers)  # identity shown at work
        assert all(w is None or w["gender"] is None for w in workers)


def test_the_worker_reads_their_own_and_no_one_elses(everyone_declared):
    hub = everyone_declared
    mine = me(hub)
    assert hub.ok(MINE, {"id": mine}, as_=WORKER)["sexWorker"]["gender"] == "TRANS_WOMAN"
    other = next(w for w in hub.demo.sex_worker_ids if w != mine)
    assert hub.ok(MINE, {"id": other}, as_=WORKER)["sexWorker"] is None


# --- the guardrail -------------------------------------------------------------------------


def _check(tmp_path: Path, capsys: Any, file: str, old: str, new: str) -> tuple[int, str]:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    text = (POLICIES / file).read_text()
    assert old in text, old
    (target / file).write_text(text.replace(old, new, 1))
    code = main(["policy", "check", "--dir", str(target)])
    return code, capsys.readouterr().err


_CITY_RULE = """  - name: city-officer-counts-on-genders
    roles: [city_officer]
    purposes: [licensing]
    legal_basis: "A breach"
    actions: [read]
    where: {city: {eq: $principal.city}}
    fields: {"*": deny, working_name: allow, gender: %s}
"""


@pytest.mark.parametrize("effect", ["allow", "mask", "pseudonym"])
def test_a_gender_shown_in_any_form_to_another_role_is_refused(tmp_path, capsys, effect):
    code, err = _check(
        tmp_path, capsys, "sex_worker.yaml", "  - name: operator",
        _CITY_RULE % effect + "  - name: operator",
    )  # fmt: skip
    assert code == 1
    assert "guardrail gender-only-to-the-worker: a worker's gender is shown only" in err


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        # The worker's own rule, widened to any worker's record.
        (
            "sex_worker.yaml",
            "    actions: [read, erase]\n    where: {id: {eq: $principal.sex_worker_id}}\n",
            "    actions: [read, erase]\n",
            "a worker's gender is shown only",
        ),
        # A police rule choosing rows by gender, with the field itself denied.
        (
            "sex_worker.yaml",
            "    purposes: [identity_validation, inspection]\n"
            '    legal_basis: "Police function act art. 44/1: inspection of registered '
            'workplaces"\n    actions: [read]\n    where: {city: {eq: $principal.city}}',
            "    purposes: [identity_validation, inspection]\n"
            '    legal_basis: "Police function act art. 44/1: inspection of registered '
            'workplaces"\n    actions: [read]\n'
            "    where: {and: [{city: {eq: $principal.city}}, {gender: {eq: trans_woman}}]}",
            "no rule but the worker's own may select rows by a worker's gender",
        ),
        # The same through a relation, on another resource.
        (
            "shift_registration.yaml",
            "where: {premises.operator_id: {eq: $principal.org_id}}",
            "where: {and: [{premises.operator_id: {eq: $principal.org_id}}, "
            "{not: {sex_worker.gender: {is_null: true}}}]}",
            "no rule but the worker's own may select rows by a worker's gender",
        ),
        # Counting only some genders.
        (
            "sex_worker.yaml",
            "bound in SQL.\n  where: {city: {eq: $principal.city}}\n",
            "bound in SQL.\n  where: {and: [{city: {eq: $principal.city}}, {gender: {eq: man}}]}\n",
            "an aggregate may not select rows by a worker's gender",
        ),
    ],
)
def test_a_policy_that_reads_or_selects_by_gender_is_refused(
    tmp_path, capsys, file, old, new, message
):
    code, err = _check(tmp_path, capsys, file, old, new)
    assert code == 1, err
    assert f"guardrail gender-only-to-the-worker: {message}" in err


def test_the_shipped_policy_shows_the_gender_to_the_worker_only(capsys):
    assert main(["policy", "check", "--dir", str(POLICIES)]) == 0
    assert "gender-only-to-the-worker" in capsys.readouterr().out


# --- erasure and retention -----------------------------------------------------------------


def test_erasure_clears_the_gender(hub):
    worker = me(hub)
    hub.ok(SET, {"g": "MAN"}, as_=WORKER)
    erase = "mutation($id: ID!) { eraseIdentity(sexWorkerId: $id) }"
    assert hub.ok(erase, {"id": worker}, as_=WORKER)["eraseIdentity"] is True
    assert stored_gender(hub, worker) is None
    # A worker without identity (Ghent) who stated a gender: erasure still erases it.
    st = hub.app.state.hub

    async def ghent_worker() -> str:
        async with hub.db.session() as s:
            row = (
                (
                    await s.execute(
                        select(SexWorker).where(
                            SexWorker.city == "Gent", SexWorker.identity.is_(None)
                        )
                    )
                )
                .scalars()
                .first()
            )
            assert row is not None
            row.gender = "non_binary"
            await s.commit()
            return row.id

    other = hub.run(ghent_worker())
    erased = hub.run(
        erase_identity(
            st.db, st.audit, sex_worker_id=other, requested_by=Requester("test"),
            now=datetime.now(UTC),
        )
    )  # fmt: skip
    assert erased is True and stored_gender(hub, other) is None


def test_retention_anonymises_the_gender_with_the_worker(hub):
    set_all(hub, "woman")
    st = hub.app.state.hub
    counts = hub.run(
        run_retention(st.db, st.policies, st.audit, now=datetime.now(UTC) + timedelta(days=4000))
    )

    async def load() -> list[tuple[str, str | None]]:
        async with hub.db.session() as s:
            return list((await s.execute(select(SexWorker.working_name, SexWorker.gender))).all())

    rows = hub.run(load())
    anonymised = [gender for name, gender in rows if name == ERASED]
    # Every worker but one still employed (the demo employer's employee) is anonymised,
    # and the gender goes with the working name.
    assert counts["SexWorker"] == len(anonymised) >= len(rows) - 1 > 0
    assert all(gender is None for gender in anonymised)
    assert all(gender == "woman" for name, gender in rows if name != ERASED)


# --- the indicator -------------------------------------------------------------------------


def _instant(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=BRUSSELS).astimezone(UTC)


def seed_workers(hub: Any, first: date, last: date, city: str, genders: dict[str, int]) -> None:
    """Workers live in [first, last] by gender ("not_stated": NULL), alternately registered
    in the period (no activity noted yet) and before it with an activity in it; and workers
    that must not count: registered after the period, inactive since before it. No row is
    live more than 30 days before the period or after its end (tests seed periods apart)."""
    rows: list[SexWorker] = []
    n = 0
    for key, count in genders.items():
        for _ in range(count):
            gender = None if key == "not_stated" else key
            if n % 2:
                created, active = _instant(first + timedelta(days=3)), None
            else:
                created, active = _instant(first - timedelta(days=30)), _instant(last, 20)
            rows.append(
                SexWorker(
                    working_name=f"G{n}", city=city, gender=gender,
                    created_at=created, last_active_at=active,
                )
            )  # fmt: skip
            n += 1
    for gender in ("man", "trans_man", None):
        rows.append(  # registered the day after the period
            SexWorker(working_name="later", city=city, gender=gender,
                      created_at=_instant(last + timedelta(days=1), 1))
        )  # fmt: skip
        rows.append(  # last active the day before it
            SexWorker(working_name="gone", city=city, gender=gender,
                      created_at=_instant(first - timedelta(days=30)),
                      last_active_at=_instant(first - timedelta(days=1), 20))
        )  # fmt: skip

    async def add() -> None:
        async with hub.db.session() as s:
            s.add_all(rows)
            await s.commit()

    hub.run(add())


def raw_genders(hub: Any, city: str, first: date, last: date) -> Counter[str]:
    """The unsuppressed counts, read back independently of the counter (in Python)."""
    start, end = _instant(first, 0), _instant(last + timedelta(days=1), 0)

    async def load() -> list[SexWorker]:
        async with hub.db.session() as s:
            stmt = select(SexWorker).where(SexWorker.city == city)
            return list((await s.execute(stmt)).scalars().all())

    out: Counter[str] = Counter()
    for w in hub.run(load()):
        last_seen = w.last_active_at or w.created_at
        if w.created_at < end and last_seen >= start:
            out[w.gender or "not_stated"] += 1
    return out


def rows_of(table: dict[str, Any]) -> dict[str, int | None]:
    return {r["key"].lower(): r["value"] for r in table["rows"]}


def period(first: date, last: date, city: str = CITY) -> dict[str, str]:
    return {"city": city, "from": first.isoformat(), "to": last.isoformat()}


def test_the_gender_indicator_counts_and_suppresses(demo_hub):
    first, last = date(2023, 7, 1), date(2023, 9, 30)
    seed_workers(
        demo_hub, first, last, CITY,
        {"woman": 12, "man": 5, "trans_woman": 2, "non_binary": 1, "not_stated": 9},
    )  # fmt: skip
    seed_workers(demo_hub, first, last, "Gent", {"woman": 40})
    raw = raw_genders(demo_hub, CITY, first, last)
    assert raw == {"woman": 12, "man": 5, "trans_woman": 2, "non_binary": 1, "not_stated": 9}

    report = demo_hub.ok(GENDER_Q, period(first, last), as_=ANALYST)["indicators"]
    table = report["gender"]
    assert [r["key"].lower() for r in table["rows"]] == KEYS  # every key, in order
    assert table["minCell"] == 5
    # Primary: trans women (2), trans men (0) and non-binary (1) under 5. Secondary: those
    # three sum to 3, which the total would give away, so the smallest published cell
    # (men, 5) goes too; then the total (29) less the published cells (21) is 8.
    assert rows_of(table) == {
        "woman": 12,
        "man": None,
        "trans_woman": None,
        "trans_man": None,
        "non_binary": None,
        "not_stated": 9,
    }
    assert table["total"] == {"value": sum(raw.values()), "suppressed": False}
    assert all(r["suppressed"] is (r["value"] is None) for r in table["rows"])
    hidden = [k for k, v in rows_of(table).items() if v is None]
    assert sum(raw[k] for k in hidden) >= 5
    assert table["total"]["value"] - sum(v or 0 for v in rows_of(table).values()) >= 5

    # The same published figures to the privacy officer and the workers' representative.
    for client in ("demo-dpo-antwerp", "demo-utsopi"):
        again = demo_hub.ok(
            GENDER_Q, period(first, last), as_=client, purpose="policy_administration"
        )
        assert again["indicators"]["gender"] == table

    # Counting only the indicator asked for: the access log names it, never a value.
    entries = [e for e in log(demo_hub) if e.operation == "Gender" and e.outcome == "allowed"]
    assert entries and entries[-1].fields == ["gender"]


def test_a_small_city_publishes_no_gender_at_all(demo_hub):
    first, last = date(2022, 10, 1), date(2022, 12, 31)
    seed_workers(demo_hub, first, last, CITY, {"woman": 2, "not_stated": 2})
    table = demo_hub.ok(GENDER_Q, period(first, last), as_=ANALYST)["indicators"]["gender"]
    # 2 and 2: both suppressed, and the total (4) too, under 5 itself.
    assert all(v is None for v in rows_of(table).values())
    assert table["total"] == {"value": None, "suppressed": True}
    # 3 and 3 in the next quarter: the cells suppressed, the total (6) published, since
    # it cannot tell how the 6 split.
    first, last = date(2022, 4, 1), date(2022, 6, 30)
    seed_workers(demo_hub, first, last, CITY, {"woman": 3, "not_stated": 3})
    table = demo_hub.ok(GENDER_Q, period(first, last), as_=ANALYST)["indicators"]["gender"]
    assert all(v is None for v in rows_of(table).values())
    assert table["total"] == {"value": 6, "suppressed": False}


def test_an_analyst_of_another_city_is_refused(demo_hub):
    first, last = date(2021, 10, 1), date(2021, 12, 31)
    seed_workers(demo_hub, first, last, CITY, {"woman": 6, "not_stated": 7})
    seed_workers(demo_hub, first, last, "Gent", {"man": 6, "not_stated": 5})

    async def add() -> None:
        async with demo_hub.db.session() as s:
            await register_client(
                s,
                client_id="analyst-gent-gender",
                organisation_id=demo_hub.demo.organisation_ids["ghent_city"],
                roles=["city_analyst"],
                purposes=["statistics"],
            )

    demo_hub.run(add())
    body = demo_hub.gql(GENDER_Q, period(first, last), as_="analyst-gent-gender")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "own city" in body["errors"][0]["message"]
    own = demo_hub.ok(GENDER_Q, period(first, last, "Gent"), as_="analyst-gent-gender")
    assert rows_of(own["indicators"]["gender"])["man"] == 6
    # And Antwerp's analyst is refused Ghent's.
    assert demo_hub.error_code(GENDER_Q, period(first, last, "Gent"), as_=ANALYST) == "FORBIDDEN"


def test_roles_without_the_aggregate_cannot_count_genders(demo_hub):
    q = (date(2022, 1, 1), date(2022, 3, 31))
    for client, purpose in (
        ("demo-police-antwerp", "inspection"),
        ("demo-city-antwerp", "licensing"),
        ("demo-ngo-ghapro", "care"),
        ("demo-worker", "self_service"),
    ):
        assert demo_hub.error_code(GENDER_Q, period(*q), as_=client, purpose=purpose) == (
            "FORBIDDEN"
        ), client


def test_a_report_published_before_the_gender_was_counted_withholds_it(demo_hub):
    first, last = date(2021, 4, 1), date(2021, 6, 30)
    seed_workers(demo_hub, first, last, CITY, {"woman": 8, "not_stated": 8})
    demo_hub.ok(GENDER_Q, period(first, last), as_=ANALYST)

    async def forget() -> None:  # as a report stored before this indicator existed
        async with demo_hub.db.session() as s:
            row = (
                await s.execute(
                    select(PublishedReport).where(
                        PublishedReport.city == CITY, PublishedReport.period_first == first
                    )
                )
            ).scalar_one()
            row.figures = {k: v for k, v in row.figures.items() if k != "gender"}
            await s.commit()

    demo_hub.run(forget())
    body = demo_hub.gql(GENDER_Q, period(first, last), as_=ANALYST)
    assert body["data"]["indicators"]["gender"] is None
    assert body["extensions"]["withheld"]["IndicatorReport"] == ["gender"]


# --- the /me page --------------------------------------------------------------------------


def test_the_me_page_declares_and_clears_the_gender(hub):
    worker = me(hub)
    client = session_client(hub, WORKER)
    page = client.get("/me")
    assert page.status_code == 200
    html = page.text
    assert 'action="/me/gender"' in html and 'name="gender" value=""' in html
    assert 'id="gender-none" name="gender" value="" checked' in html
    csrf = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    sent = client.post("/me/gender", data={"csrf_token": csrf, "gender": "TRANS_WOMAN"})
    assert sent.status_code in (302, 303) and sent.headers["location"].endswith("/me?done=gender")
    assert stored_gender(hub, worker) == "trans_woman"
    again = client.get("/me?done=gender").text
    assert 'value="TRANS_WOMAN" checked' in again and 'role="status"' in again

    client.post("/me/gender", data={"csrf_token": csrf, "gender": ""})
    assert stored_gender(hub, worker) is None
    wrong = client.post("/me/gender", data={"csrf_token": csrf, "gender": "SOMETHING"})
    assert wrong.status_code == 400 and stored_gender(hub, worker) is None
    # Without the CSRF token nothing is written.
    assert client.post("/me/gender", data={"gender": "MAN"}, csrf=False).status_code >= 400
    assert stored_gender(hub, worker) is None


# --- the demo ----------------------------------------------------------------------------


def test_the_demo_declares_a_few_genders_and_leaves_most_unstated(hub):
    """On a freshly seeded demo (the module's shared one has every gender overwritten)."""

    async def load() -> dict[str, str | None]:
        async with hub.db.session() as s:
            stmt = select(SexWorker.id, SexWorker.gender).where(
                SexWorker.id.in_(hub.demo.sex_worker_ids)  # type: ignore[attr-defined]
            )
            return dict((await s.execute(stmt)).all())

    genders = hub.run(load())
    counts = Counter(g or "not_stated" for g in genders.values())
    assert counts["not_stated"] > len(genders) / 2, counts  # most state none
    assert len(set(counts) - {"not_stated"}) >= 3, counts  # a mix of the others
    assert set(counts) <= set(KEYS), counts
    # The demo's own login states none: the worker declares it on /me.
    assert genders[hub.demo.sex_worker_ids[0]] is None
