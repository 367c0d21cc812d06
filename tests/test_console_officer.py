"""The privacy officers' console over HTTP (the ASGI app, both backends): every page for a
privacy officer, refused to everyone else, a policy change from a YAML error at its line
to four-eyes approval and roll-back, the access-log CSV and the indicators' SVG."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.audit.log import AuditRecord
from hub.auth.clients import register_client
from hub.consoles.charts import Bar, bar_chart
from hub.consoles.officer import csv_cell
from tests.consoles import ConsoleClient, session_client

ROOT = Path(__file__).resolve().parent.parent
DPO, DPO2, UTSOPI = "demo-dpo-antwerp", "test-dpo-2", "demo-utsopi"
CITY, POLICE, WORKER, ANALYST = (
    "demo-city-antwerp",
    "demo-police-antwerp",
    "demo-worker",
    "demo-analyst-antwerp",
)
SHIFTS = (ROOT / "policies" / "shift_registration.yaml").read_text()
CITY_RULE = (
    'fields: {"*": allow, sex_worker: deny, sex_worker_id: pseudonym, rental_agreement_id: deny}'
)
NO_WINDOW = SHIFTS.replace(
    CITY_RULE,
    'fields: {"*": allow, window: deny, sex_worker: deny, sex_worker_id: pseudonym,\n'
    "             rental_agreement_id: deny}",
)
TYPO = NO_WINDOW.replace("window: deny", "windw: deny")
PAGES = [
    "/console",
    "/console/policies",
    "/console/policies/ShiftRegistration",
    "/console/policies/ShiftRegistration/propose",
    "/console/policies/ShiftRegistration/history",
    "/console/approvals",
    "/console/access-log",
    "/console/access-log.csv",
    "/console/audit",
    "/console/indicators",
    "/console/indicators.csv",
]
CITY_SHIFTS = "{ shifts(first: 20) { edges { node { startsAt window } } } }"
PROPOSE = "/console/policies/ShiftRegistration/propose"


def _second_dpo(hub) -> None:
    async def add() -> None:
        async with hub.db.session() as s:
            await register_client(
                s,
                client_id=DPO2,
                organisation_id=hub.demo.organisation_ids["antwerp_dpo"],
                roles=["privacy_officer"],
                purposes=["policy_administration"],
            )

    hub.run(add())


def _console_entries(hub, subject: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        from sqlalchemy import select

        from hub.models import AccessLogEntry

        async with hub.db.session() as s:
            rows = await s.execute(
                select(AccessLogEntry).where(
                    AccessLogEntry.subject == subject, AccessLogEntry.resource == "Console"
                )
            )
            return [(e.action, e.operation, e.outcome) for e in rows.scalars()]

    return hub.run(read())  # type: ignore[no-any-return]


def _windows(hub) -> list[str | None]:
    body = hub.gql(CITY_SHIFTS, as_=CITY)
    assert "errors" not in body, body
    return [e["node"]["window"] for e in body["data"]["shifts"]["edges"]]


def _approve_form(client: ConsoleClient) -> dict[str, str]:
    page = client.get("/console/approvals").text
    match = re.search(r'name="change" value="([^"]+)"', page)
    assert match, "no change to decide on"
    return {"change": match.group(1), "decision": "approve"}


def test_every_page_for_a_privacy_officer(hub):
    dpo = session_client(hub, DPO)
    for path in PAGES:
        r = dpo.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert r.headers["content-security-policy"].startswith("default-src 'none'")
        if path.endswith(".csv"):
            assert r.headers["content-type"].startswith("text/csv")
        else:
            assert r.text.count("<h1>") == 1 and 'lang="en"' in r.text
            assert " style=" not in r.text and "<script>" not in r.text
    rep = session_client(hub, UTSOPI)
    for path in ("/console", "/console/approvals", "/console/policies/ShiftRegistration"):
        assert rep.get(path).status_code == 200
    assert rep.get(PROPOSE).status_code == 403  # the representative co-approves, never proposes
    for path in ("/console/access-log", "/console/access-log.csv", "/console/audit"):
        assert rep.get(path).status_code == 403, path  # the access log is the officers' to read


@pytest.mark.parametrize("client_id", [POLICE, CITY, WORKER])
def test_every_page_is_refused_to_others_and_the_refusal_logged(hub, client_id):
    person = session_client(hub, client_id)
    for path in PAGES:
        r = person.get(path)
        assert r.status_code == 403, (path, r.status_code)
        assert "sex_worker" not in r.text and "legalBasis" not in r.text
    r = person.post(PROPOSE, {"document": NO_WINDOW, "action": "propose", "reason": "x"})
    assert r.status_code == 403
    refused = [e for e in _console_entries(hub, client_id) if e[2] == "denied"]
    assert {op for _, op, _ in refused} >= {f"GET {p}" for p in PAGES} | {f"POST {PROPOSE}"}


def test_a_post_without_the_csrf_token_is_refused(hub):
    dpo = session_client(hub, DPO)
    r = dpo.post(PROPOSE, {"document": NO_WINDOW, "action": "preview"}, csrf=False)
    assert r.status_code == 403


def test_the_rules_read_as_sentences(hub):
    page = session_client(hub, DPO).get("/console/policies/ShiftRegistration").text
    assert "city licensing officer" in page
    assert "Municipal prostitution regulation: occupancy of licensed premises" in page
    assert "<code>premises.city = $principal.city</code>" in page
    assert re.search(r"as a pseudonym:</strong> sex_worker_id", page)


def test_a_yaml_error_is_shown_at_its_line(hub):
    dpo = session_client(hub, DPO)
    line = next(i for i, t in enumerate(TYPO.splitlines(), 1) if "windw" in t)
    r = dpo.post(PROPOSE, {"document": TYPO, "action": "preview", "reason": ""})
    assert r.status_code == 400
    assert f'<a href="#line-{line}">Line {line}, column' in r.text
    assert "Did you mean window?" in r.text
    assert f'<li id="line-{line}" class="problem">' in r.text
    marked = re.findall(r'<li id="line-(\d+)" class="problem">', r.text)
    assert marked == [str(line)]
    assert 'aria-invalid="true"' in r.text and 'aria-describedby="document-help problems"' in r.text
    # the text as typed stays in the field
    assert "windw: deny" in r.text
    # proposing it is refused the same way, and nothing is stored
    r = dpo.post(PROPOSE, {"document": TYPO, "action": "propose", "reason": "drop window"})
    assert r.status_code == 400 and f'href="#line-{line}"' in r.text
    assert "No change is waiting" in dpo.get("/console/approvals").text


def test_the_preview_is_a_table_of_role_and_purpose(hub):
    dpo = session_client(hub, DPO)
    r = dpo.post(PROPOSE, {"document": NO_WINDOW, "action": "preview", "reason": ""})
    assert r.status_code == 200
    table = r.text.split('<table class="diff">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</th>\s*<td>(.*?)</td>", table, re.S)
    assert rows == [("city licensing officer", "licensing of premises")]
    assert re.search(r'class="lost"><code>window</code>: lost \(shown → hidden\)', table)
    assert "no change" in table  # rows and actions, in words
    assert "No change is waiting" in dpo.get("/console/approvals").text  # nothing stored


def test_four_eyes_then_the_city_loses_window_and_a_rollback_restores_it(hub):
    _second_dpo(hub)
    dpo, dpo2, rep = (
        session_client(hub, DPO),
        session_client(hub, DPO2),
        session_client(hub, UTSOPI),
    )
    assert any(w is not None for w in _windows(hub))
    r = dpo.post(PROPOSE, {"document": NO_WINDOW, "action": "propose", "reason": "drop window"})
    assert r.status_code == 303 and r.headers["location"] == "/console/approvals?proposed=1"

    inbox = dpo.get("/console/approvals").text
    assert "You proposed this change: someone else must approve it." in inbox
    assert 'value="approve"' not in inbox
    assert "Stad Antwerpen – DPO (privacy officer)" in inbox  # the proposer's organisation
    assert "Shift registrations: change against version" in inbox  # the resource by name
    overview = dpo2.get("/console").text
    assert "1 change waits for your approval." in overview

    # the proposer's own POST is refused by the workflow (four eyes), not only hidden
    change = _approve_form(dpo2)
    r = dpo.post("/console/approvals", change)
    assert r.status_code == 400 and "four eyes" in r.text

    r = dpo2.post("/console/approvals", change)
    assert r.status_code == 200 and "waits for the other approvals" in r.text
    assert "You approved this change." in dpo2.get("/console/approvals").text
    assert _windows(hub) and any(w is not None for w in _windows(hub))

    r = rep.post("/console/approvals", _approve_form(rep))
    assert "now in force as version 2" in r.text
    body = hub.gql(CITY_SHIFTS, as_=CITY)
    assert body["data"]["shifts"]["edges"] and all(w is None for w in _windows(hub))
    assert "window" in body["extensions"]["withheld"]["Shift"]

    history = dpo.get("/console/policies/ShiftRegistration/history").text
    assert re.search(r"Version 2\s*<span class=\"status status-active\">active", history)
    assert re.search(r"Version 1\s*<span class=\"status status-superseded\">superseded", history)
    assert "<ins>+" in history and "window: deny" in history
    diff = history.split('<pre class="textdiff">', 1)[1].split("</pre>", 1)[0]
    assert "\n<ins>+" in diff and "\n<del>-" in diff  # one line of the diff per line
    r = dpo.post("/console/policies/ShiftRegistration/history", {"version": "1"})
    assert r.status_code == 303
    inbox = dpo2.get("/console/approvals").text
    assert "roll-back against version 2" in inbox
    assert re.search(r'class="gained"><code>window</code>: gained \(hidden → shown\)', inbox)
    dpo2.post("/console/approvals", _approve_form(dpo2))
    r = rep.post("/console/approvals", _approve_form(rep))
    assert "now in force as version 3" in r.text
    assert any(w is not None for w in _windows(hub))
    actions = {a for a, _, outcome in _console_entries(hub, DPO2) if outcome == "allowed"}
    assert {"console:console_approvals", "console:console_overview"} <= actions


def test_a_rejection_needs_a_reason_and_ends_the_change(hub):
    dpo, rep = session_client(hub, DPO), session_client(hub, UTSOPI)
    dpo.post(PROPOSE, {"document": NO_WINDOW, "action": "propose", "reason": "drop window"})
    form = {**_approve_form(rep), "decision": "reject"}
    assert rep.post("/console/approvals", form).status_code == 400
    r = rep.post("/console/approvals", {**form, "reason": "the city needs the window"})
    assert "Rejected" in r.text and "No change is waiting" in r.text
    history = dpo.get("/console/policies/ShiftRegistration/history").text
    assert 'status-rejected">rejected' in history
    assert "Rejected by Utsopi (workers' representative): the city needs the window" in history


def test_access_log_search_and_csv_with_formula_cells_made_inert(hub):
    hub.gql(CITY_SHIFTS, as_=CITY)
    evil = '=HYPERLINK("http://example.invalid","x")'
    hub.run(
        hub.app.state.hub.audit.append(
            [AuditRecord(at=datetime.now(UTC), action="read", resource="Shift", subject=evil)]
        )
    )
    dpo = session_client(hub, DPO)
    page = dpo.get("/console/access-log?role=city_officer&resource=ShiftRegistration")
    assert page.status_code == 200
    body = page.text.split("<tbody>", 1)[1]
    assert body.count("<tr>") >= 1 and "city licensing officer" in body
    assert dpo.get("/console/access-log?role=nobody").status_code == 400
    odd = dpo.get("/console/access-log?purpose=licensing&resource=A%26B")
    assert odd.status_code == 400  # refused, and echoed only URL-encoded in the links
    assert "resource=A%26B" in odd.text and "resource=A&amp;B" not in odd.text
    page = dpo.get("/console/access-log?role=city_officer&purpose=licensing").text
    assert 'href="/console/access-log.csv?role=city_officer&amp;purpose=licensing"' in page
    assert dpo.get("/console/access-log?from=2026-13-01").status_code == 400

    r = dpo.get("/console/access-log.csv?role=city_officer")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["at", "organisation", "roles", "subject"]
    assert len(rows) > 1 and all("city_officer" in row[2] for row in rows[1:])
    everything = list(csv.reader(io.StringIO(dpo.get("/console/access-log.csv").text)))
    subjects = [row[3] for row in everything[1:]]
    assert "'" + evil in subjects and evil not in subjects
    assert r.headers["content-disposition"] == 'attachment; filename="access-log.csv"'


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_starting_a_formula_get_an_apostrophe(value):
    assert csv_cell(value) == "'" + value
    assert csv_cell("a=1") == "a=1" and csv_cell(None) == "" and csv_cell(["a", "b"]) == "a b"


def test_the_indicator_charts_mark_suppressed_cells_never_as_zero(hub):
    from datetime import date

    today = date.today()
    # The last closed quarter (the open one is never reported).
    year, qn = (today.year - 1, 4) if today.month <= 3 else (today.year, (today.month - 1) // 3)
    quarter = f"{year}Q{qn}"
    first = date(year, 3 * qn - 2, 1)
    q = """query($from: Date!, $to: Date!) { indicators(city: "Antwerpen", from: $from, to: $to)
      { inspections { rows { key value suppressed } minCell } } }"""
    last = {1: "03-31", 2: "06-30", 3: "09-30", 4: "12-31"}[int(quarter[-1])]
    body = hub.gql(q, {"from": first.isoformat(), "to": f"{year}-{last}"}, as_=ANALYST)
    rows = body["data"]["indicators"]["inspections"]["rows"]
    min_cell = body["data"]["indicators"]["inspections"]["minCell"]
    page = session_client(hub, DPO).get(f"/console/indicators?quarter={quarter}").text
    svg = page.split('aria-labelledby="chart-inspections-title"', 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="suppressed"') == sum(r["suppressed"] for r in rows)
    label = f"fewer than {min_cell} or hidden to protect one (suppressed)"
    assert svg.count(f">{label}<") == sum(r["suppressed"] for r in rows)
    referrals = page.split('aria-labelledby="chart-referrals-title"', 1)[1].split("</svg>", 1)[0]
    assert "or hidden" not in referrals  # a single count is suppressed only for being small
    assert svg.count('class="bar"') == sum(not r["suppressed"] for r in rows)
    assert "url(#chart-inspections-hatch)" in svg or not any(r["suppressed"] for r in rows)
    csv_rows = list(
        csv.reader(
            io.StringIO(
                session_client(hub, DPO).get(f"/console/indicators.csv?quarter={quarter}").text
            )
        )
    )
    assert csv_rows[0] == ["quarter", "city", "indicator", "key", "value", "suppressed"]
    for row in csv_rows[1:]:
        assert (row[5] == "true") == (row[4] == ""), row  # suppressed: empty, never 0
    assert session_client(hub, DPO).get("/console/indicators?quarter=2026Q5").status_code == 400


def test_a_chart_draws_a_suppressed_bar_as_hatched_and_labelled():
    svg = bar_chart(
        [Bar("a <b>", 0, False), Bar("b", None, True), Bar("c", 7, False)],
        chart_id="t",
        title="T & U",
        suppressed_text="suppressed",
    )
    assert "a &lt;b&gt;" in svg and "T &amp; U" in svg
    assert svg.count('class="suppressed"') == 1 and 'fill="url(#t-hatch)"' in svg
    assert svg.count(">suppressed<") == 1
    assert re.search(r'class="bar"[^>]*width="0"', svg)  # a real zero is a zero
    assert ">7<" in svg
    with pytest.raises(ValueError):
        bar_chart([], chart_id='x" onload="y', title="", suppressed_text="")


def _widths(svg: str, kind: str) -> list[int]:
    return [int(w) for w in re.findall(rf'class="{kind}"[^>]*width="(\d+)"', svg)]


@pytest.mark.parametrize("values", [(40, 6), (500, 5), (6, 5)])
def test_a_suppressed_count_is_a_short_stub_never_longer_than_a_count_under_the_threshold(
    values,
):
    from hub.consoles.charts import BAR_W, STUB_W

    bars = [Bar("a", values[0], False), Bar("b", None, True), Bar("c", values[1], False)]
    svg = bar_chart(
        bars, chart_id="s", title="S", suppressed_text="fewer than 5 (suppressed)", threshold=5
    )
    (stub,) = _widths(svg, "suppressed")
    assert 0 < stub <= STUB_W < BAR_W
    assert stub <= max(round(BAR_W * 4 / values[0]), 6)  # as long as a 4 at most (or 6 px)
    assert svg.count(">fewer than 5 (suppressed)<") == 1
    assert max(_widths(svg, "bar")) == BAR_W


def test_the_console_speaks_dutch_and_french(hub):
    dpo = session_client(hub, DPO)
    for locale, word in (("nl", "Goedkeuringen"), ("fr", "Approbations")):
        dpo.locale = locale
        page = dpo.get("/console").text
        assert f'<html lang="{locale}">' in page and word in page


def test_the_audit_page_shows_a_tampered_log(hub):
    hub.gql(CITY_SHIFTS, as_=CITY)

    async def tamper() -> None:
        from sqlalchemy import text

        async with hub.db.session() as s:
            await s.execute(text("UPDATE access_log SET purpose = 'inspection' WHERE id = 1"))
            await s.commit()

    hub.run(tamper())
    page = session_client(hub, DPO).get("/console/audit").text
    assert "Problem found at entry 1:" in page and 'class="notice bad"' in page
    overview = session_client(hub, DPO).get("/console").text
    assert "The last check of the access log found a problem." in overview


def _checked(page: str) -> tuple[int, int]:
    """(entries the last check covered, entries in the tree) as the audit page states them."""
    m = re.search(r"the first ([\d,]+) entries and [\d,]+ checkpoints agree", page)
    size = re.search(r"<dt>Entries</dt><dd>([\d,]+)</dd>", page)
    assert m and size, page
    return int(m.group(1).replace(",", "")), int(size.group(1).replace(",", ""))


def test_the_audit_status_says_which_entries_the_kept_check_covered(hub, monkeypatch):
    from hub.schema import audit_status

    dpo = session_client(hub, DPO)
    assert dpo.get("/console").status_code == 200  # runs the check, kept for a minute
    for _ in range(3):
        hub.gql(CITY_SHIFTS, as_=CITY)  # each read adds an entry after the check
    page = dpo.get("/console/audit").text
    checked, size = _checked(page)
    assert size > checked > 0
    assert f"{size - checked} entries added since are not checked yet." in page
    assert "Intact: all" not in page
    overview = dpo.get("/console").text
    assert f"the first {checked} entries" in overview and "not checked yet" in overview
    monkeypatch.setattr(audit_status, "VERIFY_EVERY_S", -1.0)  # the next look checks again
    page = dpo.get("/console/audit").text
    checked, size = _checked(page)
    assert checked >= size and "not checked yet" not in page


@pytest.mark.parametrize(
    "locale, words",
    [
        ("nl", ("privéwoning", "stripclub", "medisch", "bestuurlijke aanhouding", "boete")),
        ("fr", ("domicile privé", "club de strip-tease", "médical", "amende", "vitrine")),
    ],
)
def test_the_indicator_categories_are_translated(hub, locale, words):
    dpo = session_client(hub, DPO)
    dpo.locale = locale
    page = dpo.get("/console/indicators").text
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th>', page)
    for word in words:
        assert word in rows, (word, rows)
    for english in ("private home", "strip club", "medical", "administrative", "fine"):
        assert english not in rows


@pytest.mark.parametrize(
    "locale, kept, may, name",
    [
        ("en", "Records are kept for 180 days.", "read", "Shift registrations"),
        ("nl", "180 dagen", "lezen", "Shiftregistraties"),
        ("fr", "180 jours", "lire", "Enregistrements de shifts"),
    ],
)
def test_a_policy_page_shows_periods_actions_and_resources_in_words(hub, locale, kept, may, name):
    dpo = session_client(hub, DPO)
    dpo.locale = locale
    page = dpo.get("/console/policies/ShiftRegistration").text
    assert kept in page and "<code>P180D</code>" in page  # the policy's own notation beside it
    assert "<h1>" in page and name in page.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert "<code>ShiftRegistration</code>" in page
    mays = re.findall(r"<p>[^<:]+: ?([^<]*)\.</p>", page)
    assert any(may in m.split(", ") for m in mays), mays
    assert "<code>read</code>" not in page
    listing = dpo.get("/console/policies").text
    assert name in listing and "<code>ShiftRegistration</code>" in listing


@pytest.mark.parametrize(
    "text, parts",
    [
        ("P180D", {"days": 180}),
        ("P1Y6M", {"years": 1, "months": 6}),
        ("P2W", {"weeks": 2}),
        ("P", None),
        ("PT5H", None),
        ("180 days", None),
        (None, None),
    ],
)
def test_an_iso_period_is_read_into_its_parts(text, parts):
    from hub.consoles.officer import duration

    assert duration(text) == parts


@pytest.mark.parametrize(
    "locale, words",
    [
        ("en", "self-service (own records)"),
        ("nl", "zelfbediening (eigen gegevens)"),
        ("fr", "libre-service (ses propres données)"),
    ],
)
def test_officers_read_self_service_as_a_purpose_not_as_your_own_use(hub, locale, words):
    dpo = session_client(hub, DPO)
    dpo.locale = locale
    page = dpo.get("/console/access-log").text
    assert f'<option value="self_service">{words}</option>' in page
    own_use = {"en": "your own use", "nl": "eigen gebruik", "fr": "usage personnel"}[locale]
    assert own_use not in page


def test_a_refused_console_visit_is_logged_without_the_pages_purpose(hub):
    from sqlalchemy import select

    from hub.models import AccessLogEntry

    assert session_client(hub, POLICE).get("/console/access-log").status_code == 403
    assert session_client(hub, DPO).get("/console/audit").status_code == 200

    async def read() -> list[tuple[str, str, str]]:
        async with hub.db.session() as s:
            rows = await s.execute(
                select(AccessLogEntry).where(AccessLogEntry.resource == "Console")
            )
            return [(e.subject, e.outcome, e.purpose) for e in rows.scalars()]

    entries = hub.run(read())
    assert (POLICE, "denied", "") in entries  # the police stated no purpose here
    assert (DPO, "allowed", "policy_administration") in entries


def test_the_access_log_reads_in_words(hub):
    dpo = session_client(hub, DPO)
    dpo.locale = "nl"
    dpo.get("/console/audit")
    page = dpo.get("/console/access-log").text
    table = page.split('<table class="log">', 1)[1].split("</table>", 1)[0]
    assert "console:console_" not in table and ">AuditStatus<" not in table
    assert "pagina geopend <code>/console/audit</code>" in table
    assert "Auditstatus" in table and "toegestaan" in table and "allowed" not in table


def test_the_dutch_console_says_u_and_one_name_for_each_role():
    from hub.i18n import LOCALE_DIR

    text = (LOCALE_DIR / "nl" / "LC_MESSAGES" / "console.po").read_text()
    strings = " ".join(re.findall(r'^msgstr(?:\[\d\])? (".*")$', text, re.M))
    assert strings.count('"') > 100
    assert not re.search(r"\b(je|jij|jou|jouw)\b", strings, re.I)
    assert "privacyverantwoordelijke" not in strings and "vertegenwoordiging" not in strings


def test_the_dutch_pages_name_the_roles_as_the_gdpr_does(hub):
    dpo = session_client(hub, DPO)
    dpo.locale = "nl"
    page = dpo.get("/console/policies/ShiftRegistration/propose").text
    assert "functionaris voor gegevensbescherming" in page
    assert "vertegenwoordiger van de sekswerkers" in page
    assert "Gebruik spaties om in te springen." in page
    for path in ("/console", "/console/approvals", "/console/indicators"):
        body = dpo.get(path).text
        assert not re.search(r"\b(je|jouw)\b", body), path


def test_the_french_indicators_name_the_workers_inclusively(hub):
    dpo = session_client(hub, DPO)
    dpo.locale = "fr"
    page = dpo.get("/console/indicators").text
    assert "Travailleur·ses du sexe rejoint·es par les associations" in page
    assert "atteints" not in page


@pytest.mark.parametrize(
    "path, status",
    [("/console/policies/NoSuchThing", 404), ("/console/indicators?quarter=2026Q5", 400)],
)
def test_an_error_in_the_console_keeps_its_navigation_and_offers_no_login(hub, path, status):
    r = session_client(hub, DPO).get(path)
    assert r.status_code == status
    assert 'href="/login"' not in r.text and ">Log in<" not in r.text
    assert 'class="console-nav"' in r.text and 'href="/console/audit"' in r.text
    assert r.text.count("<h1>") == 1
