"""The worker's self-service: the API it rests on (legal basis in the access log, consent
offers generated from the policy, anonymous reports read back by follow-up code)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel import Locale

from hub.policy.engine import PolicySet
from tests.consoles import session_client

ROOT = Path(__file__).resolve().parent.parent
WORKER = "demo-worker"
POLICE = "demo-police-antwerp"
NGO = "demo-ngo-ghapro"

MY_LOG = """{ myAccessLog(first: 100) { edges { node { at purpose action resource fields roles
  outcome policyVersion legalBasis organisation { name } } } } }"""
POLICE_READ = """query($from: DateTime) { shifts(first: 100, from: $from) { edges { node { id
  sexWorker { id workingName identity { legalName } } } } } }"""
OFFERS = """{ consentOffers { purpose grantee { id name kind city }
  items { resource actions fields legalBasis rule } } }"""
FILE = """mutation($text: String!, $anon: Boolean!, $share: [ID!]!) {
  fileReport(input: {category: VIOLENCE, text: $text, anonymous: $anon, sharedWith: $share}) {
    id anonymous followUpCode } }"""
SHARED = "{ reports(first: 100) { edges { node { id text } } } }"
REPLY = "mutation($id: ID!, $t: String!) { replyToReport(id: $id, text: $t) { id status } }"
BY_CODE = """query($c: String!) { reportByFollowUpCode(code: $c) { category status filedAt
  replies { text byReporter organisation { name } } } }"""


def _police_reads_identities(hub: Any) -> None:
    since = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    read = hub.ok(POLICE_READ, {"from": since}, as_=POLICE, purpose="identity_validation")
    me = hub.demo.sex_worker_ids[0]
    mine = [e["node"] for e in read["shifts"]["edges"] if e["node"]["sexWorker"]["id"] == me]
    assert mine and mine[0]["sexWorker"]["identity"]["legalName"]


def _policies() -> PolicySet:
    return PolicySet.from_directory(ROOT / "policies")


def test_access_log_entries_carry_the_legal_basis_of_the_rule_that_allowed_them(hub):
    _police_reads_identities(hub)
    entries = [e["node"] for e in hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"]]
    police = [
        e
        for e in entries
        if e["resource"] == "SexWorker"
        and e["purpose"] == "identity_validation"
        and "identity" in e["fields"]
    ]
    assert police, entries
    entry = police[0]
    assert entry["organisation"]["name"] == "Lokale Politie Antwerpen"
    # The rule that shows the identity, not the one that withholds it.
    rules = _policies().grant(
        frozenset({"police_officer"}), "identity_validation", "SexWorker", "read"
    )
    assert rules is not None
    showing = {r.legal_basis for r in rules.rules if r.fields.get("identity") == "allow"}
    assert entry["legalBasis"] and set(entry["legalBasis"]) == showing
    assert entry["policyVersion"].startswith("SexWorker@")


def test_the_legal_basis_comes_from_the_policy_version_recorded_with_the_entry(hub):
    """An access decided under an earlier version of the policy shows that version's legal
    basis, not today's."""
    from hub.audit.log import AuditRecord
    from hub.models import PolicyVersion

    me = hub.demo.sex_worker_ids[0]
    today = (ROOT / "policies" / "sex_worker.yaml").read_text()
    old_basis = "Antwerp police code of 2025: identity check (earlier wording)"
    earlier = today.replace("Antwerp police code: identity and age check on site", old_basis)
    assert earlier != today

    async def record() -> None:
        async with hub.db.session() as s:
            s.add(PolicyVersion(resource="SexWorker", version=41, document=earlier, active=False))
            await s.commit()
        await hub.app.state.hub.audit.append(
            [
                AuditRecord(
                    at=datetime.now(UTC),
                    action="read",
                    resource="SexWorker",
                    organisation_id=hub.demo.organisation_ids["antwerp_police"],
                    roles="police_officer",
                    subject="someone",
                    purpose="identity_validation",
                    record_ids=[me],
                    fields=["identity", "working_name"],
                    subjects=[me],
                    policy_version="SexWorker@41",
                ),
                AuditRecord(
                    at=datetime.now(UTC),
                    action="read",
                    resource="SexWorker",
                    organisation_id=hub.demo.organisation_ids["antwerp_police"],
                    roles="police_officer",
                    subject="someone",
                    purpose="identity_validation",
                    record_ids=[me],
                    fields=["identity"],
                    subjects=[me],
                    policy_version="SexWorker@42",  # no such version
                ),
            ]
        )

    hub.run(record())
    entries = [e["node"] for e in hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"]]
    by_version = {e["policyVersion"]: e for e in entries}
    assert by_version["SexWorker@41"]["legalBasis"] == [old_basis]
    assert by_version["SexWorker@42"]["legalBasis"] is None


def test_a_write_carries_the_legal_basis_of_its_rule(hub):
    boys = hub.demo.organisation_ids["boysproject"]
    grant = 'mutation($g: ID!) { grantConsent(input: {granteeId: $g, purpose: "care"}) { id } }'
    hub.ok(grant, {"g": boys}, as_=WORKER)
    entries = [e["node"] for e in hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"]]
    writes = [e for e in entries if e["action"] == "write:grant" and e["resource"] == "Consent"]
    assert writes
    rules = _policies().grant(frozenset({"sex_worker"}), "self_service", "Consent", "grant")
    assert rules is not None
    assert writes[0]["legalBasis"] == [r.legal_basis for r in rules.rules]
    worker = session_client(hub, WORKER)
    page = html.unescape(worker.get("/me/access").text)
    # The worker's own acts are summed up, not listed one by one.
    assert "granted, your consents." not in page
    assert re.search(r"Not listed: \d+ times? you looked at your own data yourself.", page)


def test_a_refusal_has_no_legal_basis(hub):
    hub.gql("{ accessLog(first: 1) { edges { node { id } } } }", as_=WORKER)
    entries = [e["node"] for e in hub.ok(MY_LOG, as_=WORKER)["myAccessLog"]["edges"]]
    assert all(e["legalBasis"] == [] for e in entries if e["outcome"] != "allowed")


def test_consent_offers_are_generated_from_the_policy(hub):
    offers = hub.ok(OFFERS, as_=WORKER)["consentOffers"]
    assert offers
    policies = _policies()
    needing = [
        (name, r) for name, d in policies.documents.items() for r in d.rules if r.requires_consent
    ]
    assert needing
    for offer in offers:
        # Only parties of the worker's city that a consent rule's roles can belong to.
        assert offer["grantee"]["city"] == "Antwerpen"
        assert offer["grantee"]["kind"] in ("NGO", "POLICE", "CITY")
        expected = {
            (name, r.name, r.legal_basis) for name, r in needing if offer["purpose"] in r.purposes
        }
        got = {(i["resource"], i["rule"], i["legalBasis"]) for i in offer["items"]}
        assert got == expected
        for item in offer["items"]:
            rule = next(r for name, r in needing if r.name == item["rule"])
            shown = {f.split("(")[0] for f in item["fields"]}
            assert shown == {f for f, e in rule.fields.items() if e != "deny"}
    names = {o["grantee"]["name"] for o in offers}
    assert "Ghapro" in names and "Violett" not in names  # Violett works in Ghent
    assert hub.error_code(OFFERS, as_=POLICE, purpose="inspection") == "FORBIDDEN"


def _shared_with_ngo(hub: Any, text: str) -> str:
    found = [
        e["node"]["id"]
        for e in hub.ok(SHARED, as_=NGO, purpose="care")["reports"]["edges"]
        if e["node"]["text"] == text
    ]
    assert len(found) == 1
    return str(found[0])


def test_an_anonymous_report_is_followed_up_by_its_code(hub):
    ghapro = hub.demo.organisation_ids["ghapro"]
    text = "A client followed me home after my shift."
    filed = hub.ok(FILE, {"text": text, "anon": True, "share": [ghapro]}, as_=WORKER)
    code = filed["fileReport"]["followUpCode"]
    assert filed["fileReport"]["anonymous"] is True and code and len(code) == 19
    # Nothing before a reply, and the code is not kept anywhere a read can reach it.
    seen = hub.ok(BY_CODE, {"c": code}, as_=WORKER)["reportByFollowUpCode"]
    assert seen["status"] == "FILED" and seen["replies"] == []
    rid = _shared_with_ngo(hub, text)
    hub.ok(REPLY, {"id": rid, "t": "We can meet you tomorrow."}, as_=NGO, purpose="care")
    seen = hub.ok(BY_CODE, {"c": code.lower().replace("-", " ")}, as_=WORKER)
    follow = seen["reportByFollowUpCode"]
    assert follow["status"] == "ANSWERED" and follow["category"] == "VIOLENCE"
    assert [(r["text"], r["organisation"]["name"]) for r in follow["replies"]] == [
        ("We can meet you tomorrow.", "Ghapro")
    ]
    # The code's hash stays in the report's row: no event carries it.
    assert _outbox_mentions(hub, "follow_up") == []
    # A named report gets no code: its author reads it in `reports`.
    named = hub.ok(FILE, {"text": "Named.", "anon": False, "share": []}, as_=WORKER)
    assert named["fileReport"]["followUpCode"] is None


def _outbox_mentions(hub: Any, word: str) -> list[str]:
    from sqlalchemy import select

    from hub.models import OutboxEvent

    async def envelopes() -> list[str]:
        async with hub.db.session() as s:
            rows = (await s.execute(select(OutboxEvent.envelope))).scalars()
            return [json.dumps(e) for e in rows]

    return [e for e in hub.run(envelopes()) if word in e]


def test_wrong_follow_up_codes_are_refused_and_rate_limited(hub):
    filed = hub.ok(FILE, {"text": "Stolen phone.", "anon": True, "share": []}, as_=WORKER)
    code = filed["fileReport"]["followUpCode"]
    wrong = "0000-0000-0000-0000" if not code.startswith("0000") else "1111-1111-1111-1111"
    before = _last_entry(hub)
    codes = [hub.error_code(BY_CODE, {"c": wrong}, as_=WORKER) for _ in range(5)]
    assert codes == ["NOT_FOUND"] * 5
    # A wrong code is logged, but like the filing without the caller's subject.
    refused = [e for e in _entries_since(hub, before) if e.resource == "Report"]
    assert len(refused) == 5 and all(e.outcome == "denied" for e in refused)
    assert all(e.subject == "" for e in refused), [e.subject for e in refused]
    # Past the limit even the right code waits: guessing gains nothing.
    assert hub.error_code(BY_CODE, {"c": code}, as_=WORKER) == "RATE_LIMITED"
    assert hub.error_code(BY_CODE, {"c": "not a code"}, as_=WORKER) == "RATE_LIMITED"
    # Only those who may file reports ask at all.
    assert hub.error_code(BY_CODE, {"c": code}, as_=NGO, purpose="care") == "FORBIDDEN"


def test_the_follow_up_tables_match_their_models(hub):
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

    mine = [d for d in hub.run(diffs()) if "follow_up" in repr(d)]
    assert mine == []


# --- the pages, over HTTP on the app ----------------------------------------------------

PAGES = ["/me", "/me/access", "/me/consents", "/me/reports", "/me/warnings", "/me/erasure"]
PAGES += ["/me/pairing"]
WORKER_RECORD = "query($id: ID!) { sexWorker(id: $id) { workingName identity { legalName } } }"


def _worker(hub: Any) -> dict[str, Any]:
    me = hub.demo.sex_worker_ids[0]
    return hub.ok(WORKER_RECORD, {"id": me}, as_=WORKER)["sexWorker"]  # type: ignore[no-any-return]


def _last_entry(hub: Any) -> int:
    from sqlalchemy import func, select

    from hub.models import AccessLogEntry

    async def last() -> int:
        async with hub.db.session() as s:
            return int((await s.execute(select(func.max(AccessLogEntry.id)))).scalar() or 0)

    return hub.run(last())  # type: ignore[no-any-return]


def _entries_since(hub: Any, after: int) -> list[Any]:
    from sqlalchemy import select
    from sqlmodel import col

    from hub.models import AccessLogEntry

    async def rows() -> list[Any]:
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry).where(col(AccessLogEntry.id) > after)
            return list((await s.execute(stmt)).scalars())

    return hub.run(rows())  # type: ignore[no-any-return]


def _console_log(hub: Any, action: str) -> list[Any]:
    from sqlalchemy import select
    from sqlmodel import col

    from hub.models import AccessLogEntry

    async def rows() -> list[Any]:
        async with hub.db.session() as s:
            stmt = select(AccessLogEntry).where(
                col(AccessLogEntry.resource) == "Console",
                col(AccessLogEntry.action) == f"console:{action}",
            )
            return list((await s.execute(stmt)).scalars())

    return hub.run(rows())  # type: ignore[no-any-return]


@pytest.mark.parametrize("locale", ["nl", "fr", "en"])
def test_every_page_speaks_to_the_worker_in_their_language(hub, locale):
    worker = session_client(hub, WORKER)
    worker.locale = locale
    name = _worker(hub)["workingName"]
    for path in PAGES:
        r = worker.get(path)
        assert r.status_code == 200, (path, r.text)
        assert f'<html lang="{locale}">' in r.text
        assert "<h1>" in r.text and "style=" not in r.text and "<script>" not in r.text
        assert r.headers["cache-control"] == "no-store"
    record = worker.get("/me").text
    assert name in record
    # Plain words in the page's language, never the API's codes.
    headings = {"nl": "Mijn registratie", "fr": "Ma fiche", "en": "My record"}
    assert f"<h1>{headings[locale]}</h1>" in record
    # Languages by their names in the page's language, not as codes.
    me = hub.demo.sex_worker_ids[0]
    codes = hub.ok("query($id: ID!) { sexWorker(id: $id) { languages } }", {"id": me}, as_=WORKER)[
        "sexWorker"
    ]["languages"]
    assert codes
    names = Locale.parse(locale).languages
    assert ", ".join(names[c] for c in codes) in html.unescape(record)


def test_every_worker_page_is_refused_to_other_roles_and_audited(hub):
    police = session_client(hub, POLICE)
    for path in [*PAGES, "/me/identity", "/me/warnings/stream", "/me/register"]:
        assert police.get(path).status_code == 403, path
    assert police.post("/me/consents/revoke", {"consent": "x"}).status_code == 403
    worker = session_client(hub, WORKER)
    assert worker.get("/care").status_code == 403
    refused = _console_log(hub, "me_access")
    assert any(e.outcome == "denied" and e.roles == "police_officer" for e in refused)
    assert any(e.outcome == "denied" for e in _console_log(hub, "care"))
    # No session at all: to the login, back here afterwards.
    hub.client.cookies.clear()
    r = hub.client.get("/me/access", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?return_to=/me/access"


def test_the_identity_shows_only_after_a_fresh_login(hub):
    legal = _worker(hub)["identity"]["legalName"]
    stale = session_client(hub, WORKER, fresh=False)
    assert legal not in stale.get("/me").text
    r = stale.get("/me/identity")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?return_to=/me/identity&fresh=1"
    fresh = session_client(hub, WORKER, fresh=True)
    assert legal not in fresh.get("/me").text  # the record page never reads it
    assert legal in fresh.get("/me/identity").text


def test_the_access_page_tells_of_the_police_identity_check_with_purpose_and_legal_basis(hub):
    _police_reads_identities(hub)
    rules = _policies().grant(
        frozenset({"police_officer"}), "identity_validation", "SexWorker", "read"
    )
    assert rules is not None
    basis = next(r.legal_basis for r in rules.rules if r.fields.get("identity") == "allow")
    worker = session_client(hub, WORKER)
    for locale, purpose, saw in [
        ("en", "identity check during a shift", "saw in your record: legal identity"),
        (
            "nl",
            "identiteitscontrole tijdens een shift",
            "zag in uw gegevens: wettelijke identiteit",
        ),
        (
            "fr",
            "contrôle d'identité pendant une plage de travail",
            "a vu dans votre fiche : identité légale",
        ),
    ]:
        worker.locale = locale
        text = html.unescape(worker.get("/me/access").text)
        assert "Lokale Politie Antwerpen" in text
        assert purpose in text, locale
        assert saw in text, locale
        assert basis in text


def test_revoking_the_consent_takes_the_worker_off_the_ngos_page(hub):
    name = _worker(hub)["workingName"]
    ngo = session_client(hub, NGO)
    assert name in ngo.get("/care").text
    worker = session_client(hub, WORKER)
    page = html.unescape(worker.get("/me/consents").text)
    assert "Revoke my consent to Ghapro" in page
    consent = re.search(
        r'name="consent" value="([^"]+)">\s*<button type="submit" class="danger">'
        r"Revoke my consent to Ghapro",
        page,
    )
    assert consent
    # Without the session's CSRF token nothing happens.
    bad = worker.post("/me/consents/revoke", {"consent": consent.group(1)}, csrf=False)
    assert bad.status_code == 403
    assert name in ngo.get("/care").text
    r = worker.post("/me/consents/revoke", {"consent": consent.group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/me/consents?done=revoked"
    assert "Your consent is revoked" in worker.get(r.headers["location"]).text
    assert name not in ngo.get("/care").text
    # Given again, the worker is back.
    page = html.unescape(worker.get("/me/consents").text)
    grantee = re.search(
        r'name="grantee" value="([^"]+)">\s*<input type="hidden" name="purpose" '
        r'value="care">\s*<button type="submit">Give my consent to Ghapro',
        page,
    )
    assert grantee
    r = worker.post("/me/consents/grant", {"grantee": grantee.group(1), "purpose": "care"})
    assert r.status_code == 303
    assert name in ngo.get("/care").text


def test_an_anonymous_report_through_the_pages_then_its_answer_by_code(hub):
    """The anonymous filing has its own page: neither its GET nor its POST, nor the page
    showing the code, nor a follow-up (right or wrong code) writes the worker's subject
    to the access log or reads anything in the worker's name."""
    worker = session_client(hub, WORKER)
    named = worker.get("/me/reports").text
    assert 'href="/me/reports/anonymous"' in named and 'name="anonymous"' not in named
    csrf = worker.csrf_token()  # fetched first: /account is read in the worker's name
    before = _last_entry(hub)
    form = worker.get("/me/reports/anonymous")
    assert form.status_code == 200
    page = html.unescape(form.text)
    assert "An anonymous report does not carry your name" in page
    assert "not even in the hub" not in page
    assert "could still guess that it was you" in page
    ghapro = re.search(r'name="share:([^"]+)" value="yes">\s*<label for="[^"]+">Ghapro<', form.text)
    assert ghapro
    text = "Someone took photos of me without asking."
    r = worker.post(
        "/me/reports/anonymous",
        {
            "category": "IMAGE_SHARING",
            "text": text,
            f"share:{ghapro.group(1)}": "yes",
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 200, r.text
    code = re.search(r'<p class="follow-up-code">([0-9A-Z-]{19})</p>', r.text)
    # Nothing the page or the filing wrote to the access log names the worker: not the
    # console actions, not the organisations read for the form, not the filing.
    written = _entries_since(hub, before)
    assert {e.action for e in written} >= {
        "console:me_report_anonymous",
        "console:me_report_file_anonymous",
        "write:file",
    }
    assert all(e.subject == "" for e in written), [(e.action, e.subject) for e in written]
    assert code and "shown only this once" in r.text
    assert r.text.count(code.group(1)) == 1  # not also in a form field
    # The code is not on the page again.
    assert code.group(1) not in worker.get("/me/reports").text
    rid = _shared_with_ngo(hub, text)
    hub.ok(REPLY, {"id": rid, "t": "Call us, we can help."}, as_=NGO, purpose="care")
    before = _last_entry(hub)
    assert worker.get("/me/reports/follow-up").status_code == 200
    seen = worker.post("/me/reports/follow-up", {"code": code.group(1), "csrf_token": csrf})
    assert seen.status_code == 200
    assert "Call us, we can help." in seen.text and "Ghapro" in seen.text
    # A wrong code: refused, and logged without the worker's subject too.
    wrong = worker.post(
        "/me/reports/follow-up", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ", "csrf_token": csrf}
    )
    assert wrong.status_code == 404
    written = _entries_since(hub, before)
    assert {e.action for e in written} == {
        "console:me_report_follow_up_form",
        "console:me_report_follow_up",
        "read",
        "follow_up",
    }
    assert any(e.outcome == "denied" for e in written)
    assert all(e.subject == "" for e in written), [(e.action, e.subject) for e in written]
    # The page: one heading, the problem under it, the typed code kept.
    body = wrong.text
    assert body.count("Answers to an anonymous report</h") == 1
    assert body.index("<h1>") < body.index('class="errors"')
    assert 'value="ZZZZ-ZZZZ-ZZZZ-ZZZZ"' in body
    # Guessing is cut off.
    statuses = [
        worker.post("/me/reports/follow-up", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"}).status_code
        for _ in range(4)
    ]
    assert statuses == [404] * 4
    assert worker.post("/me/reports/follow-up", {"code": code.group(1)}).status_code == 429


def test_a_refused_anonymous_filing_is_logged_without_the_workers_subject_too(hub):
    worker = session_client(hub, WORKER)
    before = _last_entry(hub)
    r = worker.post("/me/reports/anonymous", {"category": "OTHER", "text": "No token."}, csrf=False)
    assert r.status_code == 403
    written = _entries_since(hub, before)
    assert [(e.action, e.outcome) for e in written] == [
        ("console:me_report_file_anonymous", "denied")
    ]
    assert written[0].subject == ""


def test_an_anonymous_tick_on_the_named_form_files_nothing_in_the_workers_name(hub):
    worker = session_client(hub, WORKER)
    text = "Sent from an old form."
    r = worker.post("/me/reports/file", {"category": "OTHER", "text": text, "anonymous": "yes"})
    assert r.status_code == 400 and "use the page for that" in r.text
    assert text not in worker.get("/me/reports").text
    assert all(e["node"]["text"] != text for e in hub.ok(SHARED, as_=WORKER)["reports"]["edges"])


def test_a_named_report_is_listed_with_its_answers(hub):
    worker = session_client(hub, WORKER)
    text = "A client refused to pay."
    r = worker.post("/me/reports/file", {"category": "NON_PAYMENT_THEFT", "text": text})
    assert r.status_code == 303 and r.headers["location"] == "/me/reports?done=filed"
    assert text in worker.get("/me/reports").text
    bad = worker.post("/me/reports/file", {"category": "nonsense", "text": ""})
    assert bad.status_code == 400 and "Choose what the report is about." in bad.text


def test_erasure_is_explained_confirmed_and_needs_a_fresh_login(hub):
    stale = session_client(hub, WORKER, fresh=False)
    page = stale.get("/me/erasure").text
    # Only what is true: backups made before keep the identity until they are deleted.
    words = html.unescape(page)
    assert "not from a backup" not in words and "are told" not in words
    assert "Backup copies made before today still contain it" in words
    assert "deletes your official name, birth date, nationality and document number" in words
    assert "/login?return_to=/me/erasure&amp;fresh=1" in page
    r = stale.post("/me/erasure", {"confirm": "yes"})
    assert r.status_code == 303 and "fresh=1" in r.headers["location"]
    assert _worker(hub)["identity"] is not None
    fresh = session_client(hub, WORKER, fresh=True)
    assert fresh.post("/me/erasure", {}).status_code == 400
    assert _worker(hub)["identity"] is not None
    done = fresh.post("/me/erasure", {"confirm": "yes"})
    assert done.status_code == 200 and "Your identity is erased." in done.text
    assert _worker(hub)["identity"] is None
    again = fresh.post("/me/erasure", {"confirm": "yes"})
    assert "Your identity was already erased." in again.text


ISSUE = """mutation($input: AlertInput!) { issueAlert(input: $input) { id } }"""


def _scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """One complete HTTP exchange with the ASGI app; the response body."""
    chunks: list[bytes] = []
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # never: the app does not wait for a disconnect here
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await asyncio.wait_for(app(_scope(method, path, headers), receive, send), timeout=30)
    return b"".join(chunks)


@pytest.mark.parametrize("logged_out", [False, True], ids=["open", "logged-out"])
def test_the_warnings_stream_delivers_an_alert_issued_through_the_api(hub, logged_out):
    """Server-Sent Events from the schema's `alerts` subscription, as the worker: a warning
    the police issue through the API while the stream is open arrives on it; once the
    worker has logged out, it ends the stream instead."""
    worker = session_client(hub, WORKER)
    events = hub.app.state.hub.events
    police = hub.token(POLICE)
    text = "A man in a grey van asks workers to get in. Do not go with him."
    valid_until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    issue = json.dumps(
        {
            "query": ISSUE,
            "variables": {
                "input": {
                    "audience": "SEX_WORKERS",
                    "severity": "DANGER",
                    "textNl": "Ga niet mee met de man in de grijze bestelwagen.",
                    "textEn": text,
                    "validUntil": valid_until,
                }
            },
        }
    ).encode()

    async def scenario() -> tuple[int, str]:
        subscribed = asyncio.Event()
        original = events.subscribe

        def spy() -> Any:
            found = original()
            subscribed.set()
            return found

        events.subscribe = spy
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        gone = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        headers = {
            "host": "127.0.0.1:8000",
            "cookie": f"hub_session={worker.cookie}",
            "accept-language": "en",
        }
        stream = asyncio.get_running_loop().create_task(
            hub.app(_scope("GET", "/me/warnings/stream", headers), receive, messages.put)
        )
        try:
            start = await asyncio.wait_for(messages.get(), timeout=30)
            assert start["type"] == "http.response.start"
            await asyncio.wait_for(subscribed.wait(), timeout=30)
            if logged_out:
                await hub.app.state.consoles.sessions.end(worker.cookie)
            answer = await _call(
                hub.app,
                "POST",
                "/graphql",
                {
                    "host": "127.0.0.1:8000",
                    "authorization": f"Bearer {police}",
                    "hub-purpose": "safety_alerting",
                    "content-type": "application/json",
                },
                issue,
            )
            assert b'"errors"' not in answer, answer
            received = ""
            for _ in range(20):  # the opening comment, keep-alives, then the warning
                message = await asyncio.wait_for(messages.get(), timeout=30)
                received += message.get("body", b"").decode()
                if "event: alert" in received or "event: end" in received:
                    break
            return start["status"], received
        finally:
            del events.subscribe
            gone.set()
            await asyncio.wait_for(stream, timeout=30)

    status, received = hub.run(scenario())
    assert status == 200
    if logged_out:
        assert "event: end" in received and "event: alert" not in received
        assert text not in received
        return
    event = received.split("event: alert\n", 1)[1].split("\n\n", 1)[0]
    data = json.loads(event.removeprefix("data: "))
    assert data["text"] == text and data["severity"] == "DANGER"
    # The page also shows it after a reload, without JavaScript.
    assert text in html.unescape(worker.get("/me/warnings").text)


def test_at_most_three_warning_streams_per_person_even_when_opened_at_once(hub):
    """The cap holds under concurrency: ten streams opened together give three 200s and
    seven 429s; every slot is free again once they end, also those of streams whose client
    left before the stream started."""
    from hub.consoles.worker import MAX_STREAMS, _streams

    worker = session_client(hub, WORKER)
    headers = {"host": "127.0.0.1:8000", "cookie": f"hub_session={worker.cookie}"}
    db = hub.app.state.hub.db

    async def open_stream(gone: asyncio.Event) -> tuple[int, asyncio.Task[None]]:
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        task = asyncio.get_running_loop().create_task(
            hub.app(_scope("GET", "/me/warnings/stream", headers), receive, messages.put)
        )
        start = await asyncio.wait_for(messages.get(), timeout=30)
        assert start["type"] == "http.response.start"
        return start["status"], task

    async def scenario() -> tuple[list[int], int, list[int]]:
        gone = asyncio.Event()
        opened = await asyncio.gather(*(open_stream(gone) for _ in range(10)))
        statuses = sorted(status for status, _task in opened)
        gone.set()
        await asyncio.wait_for(asyncio.gather(*(t for _s, t in opened)), timeout=30)
        after_end = sum(_streams.get(db, {}).values())
        # Clients that leave at once: whether or not their stream started, the slot frees.
        left = asyncio.Event()
        left.set()
        quick = await asyncio.gather(*(open_stream(left) for _ in range(MAX_STREAMS)))
        await asyncio.wait_for(asyncio.gather(*(t for _s, t in quick)), timeout=30)
        return statuses, after_end, [s for s, _t in quick]

    statuses, after_end, quick = hub.run(scenario())
    assert statuses == [200] * MAX_STREAMS + [429] * (10 - MAX_STREAMS)
    assert after_end == 0
    assert quick == [200] * MAX_STREAMS
    assert sum(_streams.get(db, {}).values()) == 0


NGO_CONSENTS = "{ myConsents { id purpose sexWorker { id workingName } } }"
NGO_SHIFTS = """query($from: DateTime) { shifts(first: 100, from: $from) { edges { node {
  id sexWorkerId sexWorker { id } } } } }"""
MY_SHIFTS = (
    """query($from: DateTime) { shifts(first: 100, from: $from) { edges { node { id } } } }"""
)
MY_CONSENTS = "{ myConsents { id purpose revokedAt grantee { name } } }"


def _care_card(page: str, name: str) -> str:
    """The part of /care about the worker called `name` (empty if the worker is not on it)."""
    start = page.find(f"<h3>{name}</h3>")
    if start < 0:
        return ""
    end = page.find("<h3>", start + 1)
    return page[start : end if end > 0 else len(page)]


def test_the_ngo_sees_the_shifts_of_a_consenting_worker_and_none_after_revocation(hub):
    name = _worker(hub)["workingName"]
    since = (datetime.now(UTC) - timedelta(hours=12)).isoformat()
    mine = hub.ok(MY_SHIFTS, {"from": since}, as_=WORKER)["shifts"]["edges"]
    assert mine, "the demo worker has shifts from today on"
    ngo = session_client(hub, NGO)
    card = _care_card(html.unescape(ngo.get("/care").text), name)
    assert card and "No shifts from today on." not in card
    assert card.count('<li class="shift">') == len(mine)
    # Whose shift it is, the NGO learns only as the id its consent already shows it.
    consents = hub.ok(NGO_CONSENTS, as_=NGO, purpose="care")["myConsents"]
    sealed = {c["sexWorker"]["id"] for c in consents if c["sexWorker"]["workingName"] == name}
    assert len(sealed) == 1
    shifts = [
        e["node"]
        for e in hub.ok(NGO_SHIFTS, {"from": since}, as_=NGO, purpose="care")["shifts"]["edges"]
    ]
    assert sum(1 for s in shifts if s["sexWorkerId"] in sealed) == len(mine)
    assert all(s["sexWorker"] is None for s in shifts)
    # Revoked: none of the worker's shifts, on the page or through the API.
    for c in hub.ok(MY_CONSENTS, as_=WORKER)["myConsents"]:
        if c["purpose"] == "care" and c["revokedAt"] is None and c["grantee"]["name"] == "Ghapro":
            hub.ok(REVOKE_CONSENT, {"id": c["id"]}, as_=WORKER)
    assert _care_card(html.unescape(ngo.get("/care").text), name) == ""
    after = hub.ok(NGO_SHIFTS, {"from": since}, as_=NGO, purpose="care")["shifts"]["edges"]
    assert not [e for e in after if e["node"]["sexWorkerId"] in sealed]


REVOKE_CONSENT = "mutation($id: ID!) { revokeConsent(id: $id) { id } }"


def _group_lines(page: str, organisation: str) -> int:
    """How many lines the access page's sections of `organisation` hold."""
    sections = re.findall(r'<section class="group".*?</section>', page, flags=re.S)
    return sum(s.count("<li>") for s in sections if f">{organisation}: " in s)


def test_the_access_page_groups_alike_reads_per_day_in_plain_words(hub):
    ngo = session_client(hub, NGO)
    worker = session_client(hub, WORKER)
    assert ngo.get("/care").status_code == 200
    first = html.unescape(worker.get("/me/access").text)
    lines = _group_lines(first, "Ghapro")
    assert lines > 0
    for _ in range(3):
        assert ngo.get("/care").status_code == 200
    again = html.unescape(worker.get("/me/access").text)
    # Three more page loads: no more lines, but counts.
    assert _group_lines(again, "Ghapro") == lines
    assert "4 times that day." in again
    # A consent read in plain words.
    assert "saw your consent to them" in again
    assert "saw in your consents" not in again


def test_the_identity_names_the_country_and_says_the_reading_is_counted(hub):
    me = hub.demo.sex_worker_ids[0]
    code = hub.ok(
        "query($id: ID!) { sexWorker(id: $id) { identity { nationality } } }",
        {"id": me},
        as_=WORKER,
    )["sexWorker"]["identity"]["nationality"]
    assert code and len(code) == 2
    fresh = session_client(hub, WORKER, fresh=True)
    for locale in ("nl", "fr", "en"):
        fresh.locale = locale
        page = html.unescape(fresh.get("/me/identity").text)
        assert f"<dd>{Locale.parse(locale).territories[code]}</dd>" in page, locale
        assert f"<dd>{code}</dd>" not in page
    assert "counts it among the times you looked at your own data" in page
    warnings = html.unescape(fresh.get("/me/warnings").text)
    assert warnings.count("New warnings appear") == 1


def test_french_pages_say_anvers_plages_de_travail_and_space_before_colons(hub):
    police = hub.token(POLICE)
    assert police
    valid_until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    hub.ok(
        ISSUE,
        {
            "input": {
                "audience": "SEX_WORKERS",
                "severity": "WARNING",
                "zone": "Schipperskwartier",
                "textNl": "Let op in de Verversrui.",
                "validUntil": valid_until,
            }
        },
        as_=POLICE,
        purpose="safety_alerting",
    )
    worker = session_client(hub, WORKER)
    worker.locale = "fr"
    record = html.unescape(worker.get("/me").text)
    assert "<dd>Anvers</dd>" in record and "<dd>Antwerpen</dd>" not in record
    assert "Mes plages de travail" in record and "Mes services" not in record
    warnings = html.unescape(worker.get("/me/warnings").text)
    assert "Zone : Schipperskwartier" in warnings
    assert "Valable jusqu'au " in warnings
    # The live list fills the same whole messages.
    assert 'data-label-zone="Zone : {zone}"' in warnings
    assert "travailleur·se du sexe" in html.unescape(worker.get("/account").text)


def test_dutch_pages_say_toegangslogboek_and_nog_niemand(hub):
    worker = session_client(hub, WORKER, fresh=True)
    worker.locale = "nl"
    pages = [html.unescape(worker.get(p).text) for p in ("/me/erasure", "/me/identity")]
    assert "toegangslogboek" in pages[0] and "toegangslog " not in pages[0]
    assert "zoals elke andere inzage" in pages[1]
    from hub.i18n import gettext

    assert gettext("nl", "Nobody has read data about you yet.") == (
        "Nog niemand heeft gegevens over u gelezen."
    )


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "Forgot your password? Ask whoever gave you your login for a new one."),
        ("nl", "Wachtwoord vergeten? Vraag een nieuw wachtwoord aan wie u uw aanmelding gaf."),
        (
            "fr",
            "Mot de passe oublié ? Demandez-en un nouveau à la personne qui vous a donné "
            "votre identifiant.",
        ),
    ],
)
def test_the_login_page_tells_a_worker_whom_to_ask_for_a_new_password(hub, locale, words):
    hub.client.cookies.clear()
    r = hub.client.get(
        "/login?return_to=/me", headers={"accept-language": locale}, follow_redirects=True
    )
    assert r.status_code == 200 and 'id="password"' in r.text
    page = html.unescape(r.text)
    assert words in page and "administrator" not in page


def test_an_unknown_worker_page_is_a_404_in_the_layout(hub):
    worker = session_client(hub, WORKER)
    worker.locale = "nl"
    r = worker.get("/me/nothing/here")
    assert r.status_code == 404
    assert '<html lang="nl">' in r.text and "<h1>Deze pagina bestaat niet</h1>" in r.text
    assert 'href="/me/access"' in r.text  # the worker's navigation
    # Still only for workers, and the known pages still answer.
    assert session_client(hub, POLICE).get("/me/nothing").status_code == 403
    assert worker.get("/me/reports/follow-up").status_code == 200
