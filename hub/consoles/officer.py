"""`/console`: the privacy officers' and the workers' representative's console.

Policies as readable rules, proposing a change (the YAML in a textarea, problems at their
lines, a preview per role and purpose), the approvals inbox (four eyes, and the workers'
representative for every change about workers), the version history with roll-back, the
access-log search with CSV export, the audit status and the indicators per quarter.

Every page reads and writes through the hub's own schema (`page.graphql`) for the purpose
policy_administration, so the policy decides and the access log records, as for any
partner. Nothing here reads a table.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from hub.consoles.charts import Bar, bar_chart
from hub.consoles.graphql import ConsoleGraphQLError
from hub.consoles.pages import SECURITY_HEADERS, Page, console_route
from hub.consoles.words import PURPOSE_NAMES, ROLE_NAMES
from hub.i18n import N_, ZONE
from hub.policy.partner_document import PARTNERS_RESOURCE
from hub.policy.regimes import REGIME_RESOURCE
from hub.policy.resources import RESOURCES
from hub.policy.vocabulary import PURPOSES, ROLES
from hub.schema.audit_status import VERIFY_EVERY_S

PURPOSE = "policy_administration"
ROLES_HERE = frozenset({"privacy_officer", "worker_representative"})
OFFICERS = frozenset({"privacy_officer"})
POLICY_RESOURCES = (*sorted(RESOURCES), REGIME_RESOURCE, PARTNERS_RESOURCE)
PAGE_SIZE = 50
CSV_PAGE = 100
CSV_MAX_PAGES = 50  # at most 5,000 rows in one export
MAX_REASON = 2000
_QUARTER = re.compile(r"^(\d{4})(?:-?Q([1-4]))?$")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")

# The purposes as officers read them: "your own use" (PURPOSE_NAMES) speaks to the worker
# on /me; here self_service is a third party's purpose like any other.
OFFICER_PURPOSE_NAMES = {**PURPOSE_NAMES, "self_service": N_("self-service (own records)")}
EFFECT_NAMES = {
    "allow": N_("shown"),
    "deny": N_("hidden"),
    "pseudonym": N_("as a pseudonym"),
    "generalize": N_("generalised"),
    "mask": N_("partly masked"),
}
# Resources (the policies' and the access log's names) in words; pages show the name
# beside them in <code>, as the policy files and the API spell it.
RESOURCE_NAMES = {
    "AccessLog": N_("Access log"),
    "Alert": N_("Safety alerts"),
    "CareContact": N_("Care contacts"),
    "Certificate": N_("Certificates"),
    "Consent": N_("Consents"),
    "Inspection": N_("Inspections"),
    "Measure": N_("Administrative measures"),
    "Organisation": N_("Organisations"),
    "PolicyChange": N_("Policy changes"),
    "Premises": N_("Premises of sex work"),
    "Referral": N_("Referrals"),
    "RentalAgreement": N_("Rental agreements"),
    "Report": N_("Reports by workers"),
    "SexWorker": N_("Sex workers"),
    "ShiftRegistration": N_("Shift registrations"),
    "CityRegime": N_("City rules"),
    "Console": N_("Console pages"),
    "Indicators": N_("Indicators"),
    "AnalystIndicators": N_("Indicators for analysts"),
    "AuditStatus": N_("Audit status"),
}
# The policies' actions in words.
ACTION_NAMES = {
    "advance": N_("advance the status"),
    "approve": N_("approve"),
    "cancel": N_("cancel"),
    "confirm": N_("confirm"),
    "erase": N_("erase"),
    "file": N_("file"),
    "grant": N_("grant"),
    "issue": N_("issue"),
    "open": N_("open"),
    "propose": N_("propose"),
    "read": N_("read"),
    "record": N_("record"),
    "refer": N_("refer"),
    "register": N_("register"),
    "reject": N_("reject"),
    "reply": N_("reply"),
    "revoke": N_("revoke"),
    "rollback": N_("roll back"),
    "set_status": N_("change the status"),
    "validate": N_("validate"),
}
# What the access log records besides the policies' actions, in words.
LOG_ACTION_NAMES = {
    **ACTION_NAMES,
    "aggregate": N_("count"),
    "authenticate": N_("authenticate"),
    "erasure": N_("erase on request"),
    "retention": N_("delete after the retention period"),
    "event": N_("receive an event"),
}
OUTCOME_NAMES = {
    "allowed": N_("allowed"),
    "denied": N_("denied"),
    "refused": N_("refused"),
    "error": N_("error"),
    "applied": N_("applied"),
    "duplicate": N_("duplicate"),
}
_DURATION = re.compile(r"^P(?:(\d{1,4})Y)?(?:(\d{1,4})M)?(?:(\d{1,4})W)?(?:(\d{1,5})D)?$")
STATUS_NAMES = {
    "PROPOSED": N_("proposed"),
    "ACTIVE": N_("active"),
    "SUPERSEDED": N_("superseded"),
    "REJECTED": N_("rejected"),
}
INDICATOR_NAMES = {
    "sexWorkersReached": N_("Sex workers reached by NGOs"),
    "careContacts": N_("Care contacts"),
    "referrals": N_("Referrals"),
    "inspections": N_("Inspections"),
    "hiddenFormsControlled": N_("Hidden forms of prostitution controlled"),
    "arrests": N_("Arrests at inspections"),
    "premisesChecked": N_("Premises checked"),
    "measures": N_("Administrative measures"),
    "fines": N_("Fines"),
    "finesByTarget": N_("Fines by whom or what they were against"),
    "certificates": N_("Certificates decided"),
    "inspectionOutcomes": N_("Inspection outcomes (PV and RIR)"),
    "reports": N_("Workers' reports by category"),
    "judicialInvestigations": N_("Judicial investigations opened"),
    "gender": N_("Workers by self-declared gender"),
}
# The indicators' categories (the schema's enum names) in words.
KEY_NAMES = {
    "WINDOW": N_("window"),
    "STREET": N_("street"),
    "STRIP_CLUB": N_("strip club"),
    "ESCORT": N_("escort"),
    "PRIVATE_HOME": N_("private home"),
    "MASSAGE_SALON": N_("massage salon"),
    "OTHER": N_("other"),
    "MEDICAL": N_("medical"),
    "PSYCHOSOCIAL": N_("psychosocial"),
    "OUTREACH": N_("outreach"),
    "ONLINE": N_("online"),
    "REFERRAL": N_("referral"),
    "ADMINISTRATIVE": N_("administrative arrest"),
    "JUDICIAL": N_("judicial arrest"),
    "PROACTIVE": N_("proactive check"),
    "REACTIVE": N_("check after a complaint"),
    "FINE": N_("fine"),
    "CERTIFICATE_SUSPENSION": N_("suspension of a certificate"),
    "CERTIFICATE_REVOCATION": N_("revocation of a certificate"),
    "TEMPORARY_CLOSURE": N_("temporary closure"),
    "PERMANENT_CLOSURE": N_("permanent closure"),
    "STREET_BAN": N_("street ban"),
    "TRAFFICKING_CLOSURE": N_("closure for human trafficking"),
    "GRANTED": N_("certificate granted"),
    "SUSPENDED": N_("certificate suspended"),
    "REVOKED": N_("certificate revoked"),
    "EXPIRED": N_("certificate expired"),
    "NONE": N_("no further action"),
    "WARNING": N_("warning"),
    "PV": N_("official report (PV)"),
    "RIR": N_("information report (RIR)"),
    "VIOLENCE": N_("violence"),
    "NON_PAYMENT_THEFT": N_("not paid or robbed"),
    "STALKING": N_("stalking"),
    "OUTING_THREAT": N_("threat of outing"),
    "EXPLOITATION_SUSPICION": N_("suspected exploitation"),
    "DISCRIMINATION": N_("discrimination"),
    "NUISANCE": N_("nuisance"),
    "BOUNDARY_VIOLATION": N_("a client crossed agreed limits"),
    "IMAGE_SHARING": N_("images shared without consent"),
    "RAID": N_("raid"),
    "BANK_REFUSAL": N_("refused by a bank"),
    "PREMISES": N_("premises (operator)"),
    "SEX_WORKER": N_("a sex worker"),
    "CLIENT": N_("a client"),
    "OTHER_PERSON": N_("another third party"),
    "WOMAN": N_("woman"),
    "MAN": N_("man"),
    "TRANS_WOMAN": N_("trans woman"),
    "TRANS_MAN": N_("trans man"),
    "NON_BINARY": N_("non-binary"),
    "NOT_STATED": N_("not stated"),
}
TABLE = "rows { key value suppressed } total { value suppressed } minCell"
CELL = "value suppressed"
TABLES: tuple[str, ...] = ("sexWorkersReached", "careContacts", "inspections", "arrests")
TABLES += ("premisesChecked", "measures", "finesByTarget", "certificates")
TABLES += ("inspectionOutcomes", "reports")
TABLES += ("gender",)
CELLS = ("referrals", "hiddenFormsControlled", "fines", "judicialInvestigations")
# The resource each single count is counted from (its policy's aggregate minCell is its
# threshold), and whether it is suppressed only for being small: a table's cells (and
# fines, the fine cell of measures) may also be withheld so that the total does not give a
# small one away.
CELL_RESOURCES = {
    "referrals": "Referral",
    "hiddenFormsControlled": "Inspection",
    "fines": "Measure",
    "judicialInvestigations": "Investigation",
}
ONLY_SMALL = frozenset({"referrals", "hiddenFormsControlled", "judicialInvestigations"})

RULE_FIELDS = """name roles purposes actions legalBasis where requiresConsent
  fields { field effect }"""
DIFF_FIELDS = """role purpose rowsGained rowsLost fields { field before after }
  actionsGained actionsLost"""
CHANGE_FIELDS = f"""id resource kind reason baseVersion status touchesSexWorkerData proposedBy
  proposedByOrganisation proposedAt textDiff diff {{ {DIFF_FIELDS} }}
  approvals {{ approver role organisation at }}"""


def duration(text: str | None) -> dict[str, int] | None:
    """An ISO 8601 period of whole years, months, weeks and days ("P180D", "P1Y6M") as
    its parts, or None when it is anything else (the page then shows it as written)."""
    m = _DURATION.match(text or "")
    if not m or not any(m.groups()):
        return None
    parts = dict(zip(("years", "months", "weeks", "days"), m.groups(), strict=True))
    return {k: int(v) for k, v in parts.items() if v is not None and int(v)}


def _resource(page: Page) -> str | None:
    name = str(page.request.path_params.get("resource", ""))
    return name if name in POLICY_RESOURCES else None


def _error(page: Page, status: int, message: str) -> Response:
    """An error inside the console: its navigation stays, and no "Log in" for someone
    who is logged in."""
    return page.render("console/error.html", status=status, message=message, **_common(page))


def _not_found(page: Page) -> Response:
    return _error(page, 404, page._("There is no policy for this resource."))


def _common(page: Page) -> dict[str, Any]:
    return {
        "role_names": ROLE_NAMES,
        "purpose_names": OFFICER_PURPOSE_NAMES,
        "effect_names": EFFECT_NAMES,
        "status_names": STATUS_NAMES,
        "resource_names": RESOURCE_NAMES,
        "action_names": ACTION_NAMES,
        "outcome_names": OUTCOME_NAMES,
        "is_officer": bool(OFFICERS & page.principal.roles),
    }


# --- overview ------------------------------------------------------------------------


def _waiting_for(page: Page, change: dict[str, Any]) -> bool:
    """Whether this person's approval could still move the change on."""
    me = page.principal.subject
    if change["proposedBy"] == me or any(a["approver"] == me for a in change["approvals"]):
        return False
    have = {a["role"] for a in change["approvals"]}
    if "privacy_officer" in page.principal.roles and "privacy_officer" not in have:
        return True
    return (
        "worker_representative" in page.principal.roles
        and change["touchesSexWorkerData"]
        and "worker_representative" not in have
    )


def _unchecked(audit: dict[str, Any]) -> int:
    """Entries appended after the last check (the check is kept for a minute): the pages
    say how many the check did not cover, never the tree's size as if it were checked."""
    return max(0, int(audit["treeSize"]) - int(audit["verification"]["entries"]))


async def overview(page: Page) -> Response:
    data = await page.graphql(
        """{ policyChanges(status: PROPOSED) { id proposedBy touchesSexWorkerData
             approvals { approver role } } }""",
        purpose=PURPOSE,
    )
    changes = data["policyChanges"]
    audit = None
    if OFFICERS & page.principal.roles:  # the access log is the privacy officers' to read
        audit = (
            await page.graphql(
                "{ auditStatus { treeSize verification { ok at entries checkpoints } } }",
                purpose=PURPOSE,
            )
        )["auditStatus"]
    return page.render(
        "console/overview.html",
        pending=len(changes),
        waiting=sum(1 for c in changes if _waiting_for(page, c)),
        audit=audit,
        unchecked=_unchecked(audit) if audit else 0,
        **_common(page),
    )


# --- policies ------------------------------------------------------------------------


async def policies(page: Page) -> Response:
    data = await page.graphql(
        "{ policies(activeOnly: true) { resource version activatedAt rules { name } } }",
        purpose=PURPOSE,
    )
    return page.render("console/policies.html", policies=data["policies"], **_common(page))


async def policy(page: Page) -> Response:
    resource = _resource(page)
    if resource is None:
        return _not_found(page)
    data = await page.graphql(
        f"""query($r: String!) {{ policies(resource: $r, activeOnly: true) {{
          resource version activatedAt description retention
          aggregate {{ roles purposes minCell }} rules {{ {RULE_FIELDS} }} }} }}""",
        {"r": resource},
        purpose=PURPOSE,
    )
    found = data["policies"]
    if not found:
        return _not_found(page)
    return page.render(
        "console/policy.html",
        policy=found[0],
        retention=duration(found[0]["retention"]),
        **_common(page),
    )


# --- propose -------------------------------------------------------------------------


def _numbered(document: str, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The document's lines, each with the problems found at it."""
    at: dict[int, list[dict[str, Any]]] = {}
    for p in problems:
        if p.get("line"):
            at.setdefault(int(p["line"]), []).append(p)
    lines = document.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [{"number": i, "text": t, "problems": at.get(i, [])} for i, t in enumerate(lines, 1)]


async def _active_document(page: Page, resource: str) -> str | None:
    data = await page.graphql(
        "query($r: String!) { policies(resource: $r, activeOnly: true) { document } }",
        {"r": resource},
        purpose=PURPOSE,
    )
    found = data["policies"]
    return str(found[0]["document"]) if found else None


def _propose_page(
    page: Page,
    resource: str,
    document: str,
    reason: str,
    *,
    problems: list[dict[str, Any]] | None = None,
    diff: list[dict[str, Any]] | None = None,
    previewed: bool = False,
    message: str | None = None,
    status: int = 200,
) -> Response:
    problems = problems or []
    return page.render(
        "console/propose.html",
        status=status,
        resource=resource,
        document=document,
        reason=reason,
        problems=problems,
        placed=[p for p in problems if p.get("line")],
        unplaced=[p for p in problems if not p.get("line")],
        listing=_numbered(document, problems) if problems else [],
        diff=diff or [],
        previewed=previewed,
        message=message,
        **_common(page),
    )


async def propose(page: Page) -> Response:
    resource = _resource(page)
    if resource is None:
        return _not_found(page)
    if not OFFICERS & page.principal.roles:  # the representative co-approves, never proposes
        return page.render("refused.html", status=403)
    if page.request.method == "GET":
        document = await _active_document(page, resource)
        if document is None:
            return _not_found(page)
        return _propose_page(page, resource, document, "")
    form = await page.form()
    document = form.get("document", "").replace("\r\n", "\n")
    reason = form.get("reason", "").strip()
    if form.get("action") == "propose":
        if not reason:
            problem = {"line": None, "message": page._("Say why you propose this change.")}
            return _propose_page(page, resource, document, reason, problems=[problem], status=400)
        data, errors = await page.graphql_result(
            """mutation($r: String!, $d: String!, $why: String!) {
                 proposePolicyChange(resource: $r, document: $d, reason: $why) { id } }""",
            {"r": resource, "d": document, "why": reason[:MAX_REASON]},
            purpose=PURPOSE,
        )
        if not errors:
            return page.redirect("/console/approvals?proposed=1")
        problems: list[dict[str, Any]] = []
        for e in errors:
            found = (e.get("extensions") or {}).get("problems")
            problems += found if found else [{"line": None, "message": e.get("message", "")}]
        return _propose_page(page, resource, document, reason, problems=problems, status=400)
    data = await page.graphql(
        f"""query($r: String!, $d: String!) {{
             checkPolicyDocument(resource: $r, document: $d) {{
               ok problems {{ line column path message suggestion }}
               diff {{ {DIFF_FIELDS} }} }} }}""",
        {"r": resource, "d": document},
        purpose=PURPOSE,
    )
    check = data["checkPolicyDocument"]
    return _propose_page(
        page,
        resource,
        document,
        reason,
        problems=check["problems"],
        diff=check["diff"],
        previewed=check["ok"],
        status=200 if check["ok"] else 400,
    )


# --- approvals -----------------------------------------------------------------------


async def approvals(page: Page) -> Response:
    notice = None
    status = 200
    if page.request.method == "POST":
        form = await page.form()
        change_id = form.get("change", "")
        decision = form.get("decision", "")
        if decision == "approve":
            data, errors = await page.graphql_result(
                "mutation($id: ID!) { approvePolicyChange(id: $id) { status activatedVersion } }",
                {"id": change_id},
                purpose=PURPOSE,
            )
            if not errors and data:
                done = data["approvePolicyChange"]
                notice = (
                    page._(
                        "Approved: the change is now in force as version %(v)s.",
                        v=done["activatedVersion"],
                    )
                    if done["status"] == "ACTIVE"
                    else page._("Approved: the change waits for the other approvals.")
                )
        elif decision == "reject":
            reason = form.get("reason", "").strip()
            if not reason:
                errors = [{"message": page._("Say why you reject the change.")}]
            else:
                data, errors = await page.graphql_result(
                    """mutation($id: ID!, $why: String!) {
                         rejectPolicyChange(id: $id, reason: $why) { status } }""",
                    {"id": change_id, "why": reason[:MAX_REASON]},
                    purpose=PURPOSE,
                )
                if not errors:
                    notice = page._("Rejected: the change will not come into force.")
        else:
            errors = [{"message": page._("Choose approve or reject.")}]
        if errors:
            status = 400
            notice = "; ".join(str(e.get("message", "")) for e in errors)
    data = await page.graphql(
        f"{{ policyChanges(status: PROPOSED) {{ {CHANGE_FIELDS} }} }}", purpose=PURPOSE
    )
    changes = data["policyChanges"]
    me = page.principal.subject
    for c in changes:
        c["waiting"] = _waiting_for(page, c)
        c["mine"] = c["proposedBy"] == me
        c["approved_by_me"] = any(a["approver"] == me for a in c["approvals"])
    return page.render(
        "console/approvals.html",
        status=status,
        changes=changes,
        notice=notice,
        failed=status != 200,
        proposed=page.request.query_params.get("proposed") == "1",
        **_common(page),
    )


# --- history -------------------------------------------------------------------------


async def history(page: Page) -> Response:
    resource = _resource(page)
    if resource is None:
        return _not_found(page)
    notice = None
    status = 200
    if page.request.method == "POST":
        form = await page.form()
        try:
            version = int(form.get("version", ""))
        except ValueError:
            version = 0
        data, errors = await page.graphql_result(
            "mutation($r: String!, $v: Int!) { rollbackPolicy(resource: $r, version: $v) { id } }",
            {"r": resource, "v": version},
            purpose=PURPOSE,
        )
        if not errors:
            return page.redirect("/console/approvals?proposed=1")
        status = 400
        notice = "; ".join(str(e.get("message", "")) for e in errors)
    data = await page.graphql(
        """query($r: String!) { policyHistory(resource: $r) { status version baseVersion
          kind reason diff at change { proposedByOrganisation proposedAt
          rejectedByOrganisation rejectedByRole rejectionReason
          approvals { role organisation at } } } }""",
        {"r": resource},
        purpose=PURPOSE,
    )
    return page.render(
        "console/history.html",
        status=status,
        resource=resource,
        entries=data["policyHistory"],
        notice=notice,
        **_common(page),
    )


# --- access log ----------------------------------------------------------------------


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _search(page: Page) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """The search form's values (as given), the query's variables, and what was wrong."""
    q = page.request.query_params
    given = {k: q.get(k, "")[:100] for k in ("organisation", "role", "purpose", "resource")}
    given["from"] = q.get("from", "")[:10]
    given["to"] = q.get("to", "")[:10]
    wrong: list[str] = []
    variables: dict[str, Any] = {}
    if given["organisation"]:
        variables["org"] = given["organisation"]
    if given["role"]:
        if given["role"] in ROLES:
            variables["role"] = given["role"]
        else:
            wrong.append(page._("Choose a role from the list."))
    if given["purpose"]:
        if given["purpose"] in PURPOSES:
            variables["purpose"] = given["purpose"]
        else:
            wrong.append(page._("Choose a purpose from the list."))
    if given["resource"]:
        if given["resource"].isalpha() and given["resource"].isascii():
            variables["resource"] = given["resource"]
        else:
            wrong.append(page._("Choose a resource from the list."))
    start, end = _day(given["from"]), _day(given["to"])
    if given["from"] and start is None or given["to"] and end is None:
        wrong.append(page._("Give dates as year-month-day."))
    if start is not None:
        variables["from"] = datetime.combine(start, time(), ZONE).isoformat()
    if end is not None:
        variables["to"] = datetime.combine(end + timedelta(days=1), time(), ZONE).isoformat()
    if start and end and end < start:
        wrong.append(page._("The end date is before the start date."))
    return given, variables, wrong


LOG_QUERY = """query($first: Int, $after: String, $org: ID, $role: String, $purpose: String,
  $resource: String, $from: DateTime, $to: DateTime) {
  accessLog(first: $first, after: $after, organisationId: $org, role: $role,
            purpose: $purpose, resource: $resource, from: $from, to: $to) {
    edges { node { at organisation { name } roles subject purpose operation action resource
                   outcome fields policyVersion reason } }
    pageInfo { hasNextPage endCursor } } }"""


async def _organisations(page: Page) -> list[dict[str, Any]]:
    data = await page.graphql("{ organisations { id name } }", purpose=PURPOSE)
    return list(data["organisations"])


def _log_action(entry: dict[str, Any]) -> dict[str, str]:
    """An entry's action as words: a console visit as the page it opened or the form it
    sent (from its operation, "GET /console/audit"), else the action's name."""
    action = str(entry.get("action") or "")
    if action.startswith("console:"):
        method, _, path = str(entry.get("operation") or "").partition(" ")
        return {
            "words": N_("sent a form on") if method == "POST" else N_("opened the page"),
            "code": path or action,
        }
    if action in LOG_ACTION_NAMES:
        return {"words": LOG_ACTION_NAMES[action], "code": ""}
    return {"words": "", "code": action}


async def access_log(page: Page) -> Response:
    given, variables, wrong = _search(page)
    organisations = await _organisations(page)
    entries: list[dict[str, Any]] = []
    info: dict[str, Any] = {"hasNextPage": False, "endCursor": None}
    after = page.request.query_params.get("after", "")[:400] or None
    if not wrong:
        data, errors = await page.graphql_result(
            LOG_QUERY, {**variables, "first": PAGE_SIZE, "after": after}, purpose=PURPOSE
        )
        if any((e.get("extensions") or {}).get("code") == "FORBIDDEN" for e in errors):
            raise ConsoleGraphQLError(errors)  # the policy's refusal: a 403 page
        if errors or data is None:
            wrong = [str(e.get("message", "")) for e in errors]
        else:
            entries = [
                {**e["node"], "said": _log_action(e["node"])} for e in data["accessLog"]["edges"]
            ]
            info = data["accessLog"]["pageInfo"]
    query = urlencode({k: v for k, v in given.items() if v})
    return page.render(
        "console/access_log.html",
        status=400 if wrong else 200,
        given=given,
        wrong=wrong,
        entries=entries,
        page_info=info,
        after=after,
        query=query,
        organisations=organisations,
        roles=sorted(ROLES),
        purposes=sorted(PURPOSES),
        resources=sorted({*RESOURCES, "Console", "Indicators", "AnalystIndicators", "AuditStatus"}),
        **_common(page),
    )


def csv_cell(value: Any) -> str:
    """A cell as text, with a formula (= + - @, or a leading tab or return) made inert by a
    leading apostrophe, so that a spreadsheet shows it instead of running it."""
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _csv(rows: Iterable[Iterable[Any]], filename: str) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


LOG_COLUMNS: tuple[str, ...] = (
    "at",
    "organisation",
    "roles",
    "subject",
    "purpose",
    "operation",
    "action",
)
LOG_COLUMNS += ("resource", "outcome", "fields", "policy_version", "reason")


async def access_log_csv(page: Page) -> Response:
    given, variables, wrong = _search(page)
    if wrong:
        return _error(page, 400, " ".join(wrong))
    rows: list[list[Any]] = [list(LOG_COLUMNS)]
    after = None
    for _ in range(CSV_MAX_PAGES):
        data = await page.graphql(
            LOG_QUERY, {**variables, "first": CSV_PAGE, "after": after}, purpose=PURPOSE
        )
        for edge in data["accessLog"]["edges"]:
            n = edge["node"]
            rows.append(
                [
                    n["at"],
                    (n["organisation"] or {}).get("name"),
                    n["roles"],
                    n["subject"],
                    n["purpose"],
                    n["operation"],
                    n["action"],
                    n["resource"],
                    n["outcome"],
                    n["fields"],
                    n["policyVersion"],
                    n["reason"],
                ]
            )
        info = data["accessLog"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    return _csv(rows, "access-log.csv")


# --- audit ---------------------------------------------------------------------------


async def audit(page: Page) -> Response:
    data = await page.graphql(
        """{ auditStatus { treeSize rootHash
             verification { ok at entries checkpoints firstBadPosition problem }
             latestCheckpoint { treeSize rootHash signedAt publishedAt signers
               witnessCosignatures note } } }""",
        purpose=PURPOSE,
    )
    status = data["auditStatus"]
    return page.render(
        "console/audit.html",
        audit=status,
        unchecked=_unchecked(status),
        every=int(VERIFY_EVERY_S),
        **_common(page),
    )


# --- indicators ----------------------------------------------------------------------


def _quarter(text: str, today: date) -> tuple[str, date, date] | None:
    """("2026Q3", first day, last day) of a quarter written 2026Q3 or 2026-Q3, or ("2026",
    1 January, 31 December) of a year; no text: the last closed quarter."""
    if not text:
        current = (today.month - 1) // 3  # 0..3
        text = f"{today.year - 1}Q4" if current == 0 else f"{today.year}Q{current}"
    m = _QUARTER.match(text.strip())
    if not m:
        return None
    year = int(m.group(1))
    if m.group(2) is None:
        return f"{year}", date(year, 1, 1), date(year, 12, 31)
    q = int(m.group(2))
    first = date(year, 3 * q - 2, 1)
    last = (date(year + (q == 4), (3 * q) % 12 + 1, 1)) - timedelta(days=1)
    return f"{year}Q{q}", first, last


def _previous(label: str) -> str:
    if len(label) == 4:
        return str(int(label) - 1)
    year, q = int(label[:4]), int(label[5])
    return f"{year - 1}Q4" if q == 1 else f"{year}Q{q - 1}"


def _next(label: str) -> str:
    if len(label) == 4:
        return str(int(label) + 1)
    year, q = int(label[:4]), int(label[5])
    return f"{year + 1}Q1" if q == 4 else f"{year}Q{q + 1}"


async def _indicators(page: Page) -> tuple[str, str, dict[str, Any]] | Response:
    today = datetime.now(ZONE).date()
    found = _quarter(page.request.query_params.get("quarter", "")[:10], today)
    if found is None:
        return _error(page, 400, page._("Give the quarter as for example 2026Q3."))
    label, first, last = found
    city = page.principal.city or "Antwerpen"
    fields = " ".join(
        [*(f"{t} {{ {TABLE} }}" for t in TABLES), *(f"{c} {{ {CELL} }}" for c in CELLS)]
    )
    data, errors = await page.graphql_result(
        f"""query($city: String!, $from: Date!, $to: Date!) {{
          indicators(city: $city, from: $from, to: $to) {{
            city period publishedAt {fields} }} }}""",
        {"city": city, "from": first.isoformat(), "to": last.isoformat()},
        purpose=PURPOSE,
    )
    if errors or data is None:
        # An open period, or a city the policy does not let this person count: said
        # plainly.
        code = (errors[0].get("extensions") or {}).get("code") if errors else None
        if code == "BAD_USER_INPUT" and last >= today:
            message = page._(
                "%(period)s is not over yet. Indicators are published only for closed "
                "quarters and years, so that their figures never change.",
                period=label,
            )
            return _error(page, 400, message)
        if code == "FORBIDDEN":
            return _error(page, 403, page._("The policy does not let you count this city."))
        raise ConsoleGraphQLError(errors or [{"message": "no data"}])
    return label, city, data["indicators"]


def _key(page: Page, key: Any) -> str:
    """A category in the page's language (an unknown one as its name in lower case)."""
    name = str(key)
    if name in KEY_NAMES:
        return page._(KEY_NAMES[name])
    return name.replace("_", " ").lower()


def _suppressed_text(page: Page, threshold: int | None, *, only_small: bool) -> str:
    """What a suppressed count is: under the threshold, or (in a table) possibly withheld
    so that the total cannot give a smaller one away; never a claim the data cannot back."""
    if not threshold:
        return page._("suppressed")
    if only_small:
        return page._("fewer than %(n)s (suppressed)", n=threshold)
    return page._("fewer than %(n)s or hidden to protect one (suppressed)", n=threshold)


async def indicators(page: Page) -> Response:
    found = await _indicators(page)
    if isinstance(found, Response):
        return found
    label, city, report = found
    policies = (
        await page.graphql(
            "{ policies(activeOnly: true) { resource aggregate { minCell } } }", purpose=PURPOSE
        )
    )["policies"]
    min_cells = {p["resource"]: p["aggregate"]["minCell"] for p in policies if p["aggregate"]}
    charts = []
    for name in (*TABLES, *CELLS):
        value = report.get(name)
        title = page._(INDICATOR_NAMES[name])
        if value is None:
            charts.append({"name": name, "title": title, "withheld": True})
            continue
        if name in TABLES:
            rows = [
                {"label": _key(page, r["key"]), "value": r["value"], "suppressed": r["suppressed"]}
                for r in value["rows"]
            ]
            total = value["total"]
        else:
            rows = [
                {
                    "label": page._("Total"),
                    "value": value["value"],
                    "suppressed": value["suppressed"],
                }
            ]
            total = None
        threshold = value["minCell"] if name in TABLES else min_cells.get(CELL_RESOURCES[name])
        suppressed = _suppressed_text(page, threshold, only_small=name in ONLY_SMALL)
        chart = bar_chart(
            [Bar(r["label"], r["value"], r["suppressed"]) for r in rows],
            chart_id=f"chart-{name}",
            title=title,
            suppressed_text=suppressed,
            threshold=threshold,
        )
        charts.append(
            {
                "name": name,
                "title": title,
                "rows": rows,
                "total": total,
                "svg": chart,
                "suppressed": suppressed,
            }
        )
    return page.render(
        "console/indicators.html",
        quarter=label,
        published_at=report["publishedAt"],
        previous=_previous(label),
        following=_next(label),
        city=city,
        charts=charts,
        **_common(page),
    )


async def indicators_csv(page: Page) -> Response:
    found = await _indicators(page)
    if isinstance(found, Response):
        return found
    label, city, report = found
    rows: list[list[Any]] = [["quarter", "city", "indicator", "key", "value", "suppressed"]]
    for name in (*TABLES, *CELLS):
        value = report.get(name)
        if value is None:
            continue
        if name in TABLES:
            for r in value["rows"]:
                rows.append([label, city, name, r["key"], r["value"], r["suppressed"]])
            t = value["total"]
            rows.append([label, city, name, "TOTAL", t["value"], t["suppressed"]])
        else:
            rows.append([label, city, name, "", value["value"], value["suppressed"]])
    return _csv(
        [[("true" if v is True else "false" if v is False else v) for v in r] for r in rows],
        f"indicators-{label}.csv",
    )


def _r(path: str, handler: Any, name: str, methods: tuple[str, ...] = ("GET",)) -> Route:
    return console_route(
        path, handler, methods=methods, roles=ROLES_HERE, name=name, purpose=PURPOSE
    )


routes: list[Route] = [
    _r("/console", overview, "console_overview"),
    _r("/console/policies", policies, "console_policies"),
    _r("/console/policies/{resource}", policy, "console_policy"),
    _r("/console/policies/{resource}/propose", propose, "console_propose", ("GET", "POST")),
    _r("/console/policies/{resource}/history", history, "console_history", ("GET", "POST")),
    _r("/console/approvals", approvals, "console_approvals", ("GET", "POST")),
    _r("/console/access-log", access_log, "console_access_log"),
    _r("/console/access-log.csv", access_log_csv, "console_access_log_csv"),
    _r("/console/audit", audit, "console_audit"),
    _r("/console/indicators", indicators, "console_indicators"),
    _r("/console/indicators.csv", indicators_csv, "console_indicators_csv"),
]
