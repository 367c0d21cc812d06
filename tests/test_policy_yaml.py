"""YAML errors name the file, line, column and path, and suggest the closest known name:
policy documents, partners.yaml and policy test cases, one validator for all three."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.cli import main
from hub.connectors.partners import PartnerError, parse_partners
from hub.policy.cases import CaseError, parse_cases
from hub.policy.document import PolicyError, parse_document
from hub.policy.yamlsource import Issue

ROOT = Path(__file__).resolve().parent.parent
DPO = "demo-dpo-antwerp"

DOCUMENT = """\
resource: SexWorker
description: test
retention: P365D
rules:
  - name: police-validate
    roles: [police_officer]
    purposes: [identity_validation]
    legal_basis: "test"
    actions: [read, register]
    where: {city: {eq: $principal.city}}
    fields: {"*": allow, identity: mask}
  - name: worker-self
    roles: [sex_worker]
    purposes: [self_service]
    legal_basis: "GDPR art. 15"
    requires_consent: true
    where: {and: [{id: {eq: $principal.sex_worker_id}}, {adult_verified: {eq: true}}]}
aggregate:
  roles: [city_analyst]
  purposes: [statistics]
  min_cell: 5
"""

PARTNERS = """\
version: 1
partners:
  antwerp_police:
    organisation: Lokale Politie Antwerpen
    role: police_officer
    purposes: [inspection]
    events: [be.hub.inspection.recorded.v1]
    topic: partner.antwerp_police.events
    inbox: true
    sources: [urn:police:antwerp:rms]
"""

CASES = """\
- description: the city officer sees premises
  client: demo-city-antwerp
  purpose: licensing
  query: "{ premises(first: 5) { edges { node { city operator { name } } } } }"
  expect:
    rows: {at: premises.edges, min: 1}
    null: [premises.edges.node.operator]
- description: a principal of its own
  principal: {organisation: payoke, roles: [ngo_worker], purposes: [care]}
  purpose: care
  query: "{ me { city } }"
  expect: {not_null: [me.city]}
"""


def _place(text: str, token: str | tuple[str, int]) -> tuple[int, int]:
    """Line and column (1-based) of `token` in `text`: its first occurrence, or for
    (token, n) its n-th."""
    token, nth = token if isinstance(token, tuple) else (token, 1)
    for n, line in enumerate(text.splitlines(), start=1):
        if token in line:
            nth -= 1
            if nth == 0:
                return n, line.index(token) + 1
    raise AssertionError(f"{token!r} is not in the text")


def _issues(
    parse: Callable[[str], object], text: str, error: type[PolicyError] = PolicyError
) -> list[Issue]:
    with pytest.raises(error) as exc:
        parse(text)
    assert exc.value.errors == [str(i) for i in exc.value.issues]
    return exc.value.issues


def _issue(parse: Callable[[str], object], text: str, path: str, **kw: object) -> Issue:
    found = [i for i in _issues(parse, text, **kw) if i.path == path]  # type: ignore[arg-type]
    assert found, f"no issue at {path}: {_issues(parse, text)}"
    return found[0]


def _doc(text: str) -> object:
    return parse_document(text, origin="sex_worker.yaml")


def test_the_bases_are_valid() -> None:
    doc = parse_document(DOCUMENT)
    assert [r.name for r in doc.rules] == ["police-validate", "worker-self"]
    assert doc.rules[0].fields["identity"] == "mask" and doc.rules[1].requires_consent
    assert doc.retention is not None and doc.retention.days == 365
    assert doc.aggregate is not None and doc.aggregate.min_cell == 5
    # One name stands for a list of one.
    one = parse_document(DOCUMENT.replace("roles: [police_officer]", "roles: police_officer"))
    assert one.rules[0].roles == {"police_officer"}
    assert [p.key for p in parse_partners(PARTNERS)] == ["antwerp_police"]
    assert [c.name for c in parse_cases(CASES, "t.yaml")] == ["t.yaml#1", "t.yaml#2"]


# --- policy documents --------------------------------------------------------------------

DOCUMENT_ERRORS = [
    # (replace, with, path, message, suggestion, where the issue is)
    ("description: test", "descripton: test", "descripton", "unknown key 'descripton'",
     "description", "descripton"),
    ("    actions: [read, register]", "    actons: [read, register]", "rules[0].actons",
     "unknown key 'actons'", "actions", "actons"),
    ("  min_cell: 5", "  min_cel: 5", "aggregate.min_cel", "unknown key 'min_cel'", "min_cell",
     "min_cel"),
    ("resource: SexWorker", "resource: SexWorkers", "resource", "unknown resource 'SexWorkers'",
     "SexWorker", "resource"),
    ("[police_officer]", "[police_oficer]", "rules[0].roles[0]", "unknown role 'police_oficer'",
     "police_officer", "police_oficer"),
    ("[self_service]", "[self_servise]", "rules[1].purposes[0]", "unknown purpose 'self_servise'",
     "self_service", "self_servise"),
    ("[read, register]", "[read, regster]", "rules[0].actions[1]",
     "unknown action 'regster' of SexWorker", "register", "regster"),
    ("identity: mask", "identty: mask", "rules[0].fields.identty",
     "unknown field 'identty' of SexWorker", "identity", "identty"),
    ("identity: mask", "identity: maks", "rules[0].fields.identity", "unknown effect 'maks'",
     "mask", "identity: maks"),
    ("identity: mask", "identity: pseudonym", "rules[0].fields.identity",
     "pseudonym does not apply to identity (a identity field: deny, generalize, mask, allow)", None,
     "identity: pseudonym"),
    ('{"*": allow,', '{"*": mask,', "rules[0].fields.*",
     "* takes allow or deny; name the fields for mask", None, '"*"'),
    ("P365D", "P1Q", "retention", "'P1Q' is not an ISO 8601 duration like P180D", None,
     "retention"),
    ("{city: {eq:", "{city: {eqq:", "rules[0].where.city.eqq", "unknown operator 'eqq'", "eq",
     "eqq"),
    ("{city: {eq:", "{cty: {eq:", "rules[0].where.cty", "unknown path 'cty' on SexWorker", "city",
     "cty"),
    ("{adult_verified: {eq: true}}", "{adult_verifed: {eq: true}}",
     "rules[1].where.and[1].adult_verifed", "unknown path 'adult_verifed' on SexWorker",
     "adult_verified", "adult_verifed"),
    ("$principal.sex_worker_id", "$principal.sex_workr_id", "rules[1].where.and[0].id.eq",
     "unknown variable $principal.sex_workr_id", "$principal.sex_worker_id",
     "eq: $principal.sex_w"),
    ("{adult_verified: {eq: true}}", "{adult_verified: {eq: 1}}",
     "rules[1].where.and[1].adult_verified.eq", "1 does not fit column adult_verified", None,
     "eq: 1"),
    ("min_cell: 5", 'min_cell: "5"', "aggregate.min_cell", "must be a whole number", None,
     "min_cell"),
    ("min_cell: 5", "min_cell: 0", "aggregate.min_cell",
     "input should be greater than or equal to 1", None, "min_cell"),
    ("requires_consent: true", "requires_consent: 1", "rules[1].requires_consent",
     "must be true or false", None, "requires_consent"),
    ('legal_basis: "test"', 'legal_basis: "  "', "rules[0].legal_basis", "must not be empty",
     None, "legal_basis"),
    ('    legal_basis: "test"\n', "", "rules[0].legal_basis", "required", None,
     "name: police-validate"),
    ("    fields: {", "    fields: []\n    x: {", "rules[0].fields", "must be a mapping", None,
     "fields"),
    ("  - name: worker-self", "  - name: police-validate", "rules[1].name",
     "a second rule named 'police-validate'", None, ('name: police-validate', 2)),
    ("retention: P365D\n", "retention: P365D\nretention: P30D\n", "retention",
     "duplicate key 'retention'", None, "retention: P30D"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "path", "message", "suggestion", "token"),
    DOCUMENT_ERRORS,
    ids=[f"{e[2] or 'syntax'}-{e[3]}"[:60] for e in DOCUMENT_ERRORS],
)
def test_document_errors_name_line_path_and_suggestion(
    old: str,
    new: str,
    path: str,
    message: str,
    suggestion: str | None,
    token: str | tuple[str, int],
) -> None:
    assert old in DOCUMENT
    text = DOCUMENT.replace(old, new, 1)
    issue = _issue(_doc, text, path)
    line, column = _place(text, token)
    assert (issue.file, issue.message, issue.suggestion) == ("sex_worker.yaml", message, suggestion)
    assert (issue.line, issue.column) == (line, column)
    place = f"sex_worker.yaml:{line}:{column}: " + (f"{path}: " if path else "")
    hint = f"; did you mean {suggestion!r}?" if suggestion else ""
    assert str(issue) == place + message + hint


def test_every_error_of_a_document_is_reported_in_line_order() -> None:
    text = (
        DOCUMENT.replace("description: test", "descripton: test")
        .replace("[self_service]", "[self_servise]")
        .replace("identity: mask", "identty: mask")
    )
    issues = _issues(_doc, text)
    assert [i.path for i in issues] == [
        "descripton",
        "rules[0].fields.identty",
        "rules[1].purposes[0]",
    ]
    assert [i.line for i in issues] == sorted(i.line or 0 for i in issues)


def test_a_where_value_outside_its_vocabulary_is_suggested() -> None:
    text = """\
resource: Premises
rules:
  - name: windows
    roles: [city_officer]
    purposes: [licensing]
    legal_basis: "test"
    where: {or: [{city: {eq: $principal.city}}, {kind: {in: [club, windw]}}]}
"""
    issue = _issue(parse_document, text, "rules[0].where.or[1].kind.in")
    assert (issue.line, issue.column) == _place(text, "in: [club")
    assert issue.message == "'windw' is not a value of kind"
    assert issue.suggestion == "window"


def test_a_where_path_through_a_relation_is_suggested() -> None:
    text = """\
resource: ShiftRegistration
rules:
  - name: city
    roles: [city_officer]
    purposes: [licensing]
    legal_basis: "test"
    where:
      premises.cty: {eq: $principal.city}
"""
    issue = _issue(parse_document, text, "rules[0].where.premises.cty")
    assert (issue.line, issue.column) == _place(text, "premises.cty")
    assert issue.message == "unknown path 'cty' on Premises"
    assert issue.suggestion == "premises.city"


@pytest.mark.parametrize(
    ("text", "message", "place"),
    [
        ("", "must be a mapping", (1, 1)),
        ("- resource: Premises\n", "must be a mapping", (1, 1)),
        ("resource: Premises\nrules: x: y\n", "not valid YAML: mapping values are not allowed",
         (2, 9)),
        ("resource: Premises\nrules:\n\t- name: x\n",
         "not valid YAML: while scanning for the next token (line 3), found character", (3, 1)),
        ("resource: Premises\n---\nresource: Premises\n",
         "not valid YAML: expected a single document in the stream (line 1), but found another "
         "document", (2, 1)),
    ],
)  # fmt: skip
def test_documents_that_are_no_document(text: str, message: str, place: tuple[int, int]) -> None:
    # The wording of a syntax error is PyYAML's (libyaml's where it is installed).
    (issue,) = _issues(_doc, text)
    assert issue.message.startswith(message)
    assert (issue.line, issue.column) == place


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    started = time.monotonic()
    (issue,) = _issues(_doc, "\n".join(["resource: Premises", *lines, ""]))
    assert time.monotonic() - started < 5
    assert issue.message == "the document is too large or too deeply nested"


# --- partners.yaml -----------------------------------------------------------------------

PARTNER_ERRORS = [
    ("role: police_officer", "role: police_oficer", "partners.antwerp_police.role",
     "unknown role 'police_oficer'", "police_officer", "role"),
    ("[inspection]", "[inspection, inspektion]", "partners.antwerp_police.purposes[1]",
     "unknown purpose 'inspektion'", "inspection", "inspektion"),
    ("[be.hub.inspection.recorded.v1]", "[be.hub.inspection.recordd.v1]",
     "partners.antwerp_police.events[0]", "unknown event type 'be.hub.inspection.recordd.v1'",
     "be.hub.inspection.recorded.v1", "be.hub"),
    ("    inbox: true", "    inbx: true", "partners.antwerp_police.inbx", "unknown key 'inbx'",
     "inbox", "inbx"),
    ("partners:", "partner:", "partner", "unknown key 'partner'", "partners", "partner:"),
    ("    inbox: true", '    inbox: "true"', "partners.antwerp_police.inbox",
     "must be true or false", None, "inbox"),
    ("    role: police_officer\n", "", "partners.antwerp_police.role", "required", None,
     "antwerp_police:"),
    ("topic: partner.antwerp_police.events", "topic: partner.police.events",
     "partners.antwerp_police.topic", "topic must be partner.antwerp_police.events", None, "topic"),
    ("  antwerp_police:", "  Antwerp-Police:", "partners.Antwerp-Police",
     "a partner key is lower_snake_case", None, "Antwerp-Police"),
    ("version: 1", "version: 2", "version", "input should be 1", None, "version"),
    ("    purposes: [inspection]", "    purposes: [inspection", "",
     "not valid YAML: while parsing a flow sequence (line 6), did not find expected ',' or ']'",
     None, ": [be.hub"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "path", "message", "suggestion", "token"),
    PARTNER_ERRORS,
    ids=[f"{e[2] or 'syntax'}-{e[3]}"[:60] for e in PARTNER_ERRORS],
)
def test_partner_errors_name_line_path_and_suggestion(
    old: str,
    new: str,
    path: str,
    message: str,
    suggestion: str | None,
    token: str | tuple[str, int],
) -> None:
    assert old in PARTNERS
    text = PARTNERS.replace(old, new, 1)
    issue = _issue(parse_partners, text, path, error=PartnerError)
    assert (issue.file, issue.message, issue.suggestion) == ("partners.yaml", message, suggestion)
    assert (issue.line, issue.column) == _place(text, token)


def test_the_shipped_partners_and_policies_load() -> None:
    assert parse_partners((ROOT / "policies" / "partners.yaml").read_text())
    assert main(["policy", "check", "--dir", str(ROOT / "policies")]) == 0


# --- policy test cases -------------------------------------------------------------------

CASE_ERRORS = [
    ("    null: [", "    nul: [", "[0].expect.nul", "unknown key 'nul'", "null", "nul"),
    ('  query: "{ me', '  querry: "{ me', "[1].querry", "unknown key 'querry'", "query",
     "querry"),
    ("{at: premises.edges, min: 1}", "{at: premises.edges, mn: 1}", "[0].expect.rows[0].mn",
     "unknown key 'mn'", "min", "mn"),
    ("{at: premises.edges, min: 1}", "{at: premises.edges}", "[0].expect.rows[0]",
     "rows needs min, max or count", None, "rows:"),
    ("min: 1", 'min: "1"', "[0].expect.rows[0].min", "must be a whole number", None, "min"),
    ("roles: [ngo_worker]", "roles: [ngo_workr]", "[1].principal.roles[0]",
     "unknown role 'ngo_workr'", "ngo_worker", "ngo_workr"),
    ("purposes: [care]", "purposes: [car]", "[1].principal.purposes[0]", "unknown purpose 'car'",
     "care", "car]"),
    ("organisation: payoke, ", "organisation: payoke, city: x, ", "[1].principal.city",
     "unknown key 'city'", None, "city: x"),
    ("  purpose: licensing", "  purpose: licensng", "[0].purpose",
     "unknown purpose 'licensng' (expect BAD_USER_INPUT for it)", "licensing", "purpose:"),
    ("  purpose: care\n", "  purpose: care\n  client: demo-ngo\n", "[1]",
     "name either a client or a principal", None, "description: a principal"),
    ("{not_null: [me.city]}", "{matches: {me.city: '('}}", "[1].expect.matches.me.city",
     "bad regular expression: missing ), unterminated subpattern at position 0", None, "me.city"),
    ("{not_null: [me.city]}", "{}", "[1].expect", "expect names no expectation", None,
     ('expect', 2)),
    ("{not_null: [me.city]}", "{not_null: me.city}", "[1].expect.not_null", "must be a list", None,
     "not_null"),
    ("  client: demo-city-antwerp", "  client: [demo-city-antwerp", "",
     "not valid YAML: while parsing a flow sequence (line 2), did not find expected ',' or ']'",
     None, ": licensing"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "path", "message", "suggestion", "token"),
    CASE_ERRORS,
    ids=[f"{e[2] or 'syntax'}-{e[3]}"[:60] for e in CASE_ERRORS],
)
def test_case_errors_name_line_path_and_suggestion(
    old: str,
    new: str,
    path: str,
    message: str,
    suggestion: str | None,
    token: str | tuple[str, int],
) -> None:
    assert old in CASES
    text = CASES.replace(old, new, 1)
    issue = _issue(lambda t: parse_cases(t, "t.yaml"), text, path, error=CaseError)
    assert (issue.file, issue.message, issue.suggestion) == ("t.yaml", message, suggestion)
    assert (issue.line, issue.column) == _place(text, token)


def test_a_case_may_ask_with_an_unknown_purpose_to_see_it_refused() -> None:
    text = CASES.replace("purpose: licensing", "purpose: curiosity").replace(
        "    rows: {at: premises.edges, min: 1}\n    null: [premises.edges.node.operator]",
        "    error: BAD_USER_INPUT",
    )
    assert parse_cases(text, "t.yaml")[0].purpose == "curiosity"


def test_an_empty_case_file_is_refused() -> None:
    (issue,) = _issues(lambda t: parse_cases(t, "t.yaml"), "[]\n")
    assert (issue.line, issue.message) == (1, "must not be empty")


# --- through the hub ---------------------------------------------------------------------

PROPOSE = """mutation($r: String!, $d: String!) {
  proposePolicyChange(resource: $r, document: $d, reason: "test") { id } }"""


def test_a_proposed_document_is_refused_with_its_lines(hub) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "policies" / "shift_registration.yaml").read_text()
    bad = text.replace("sex_worker_id: pseudonym,", "sex_workr_id: pseudonym,")
    body = hub.gql(PROPOSE, {"r": "ShiftRegistration", "d": bad}, as_=DPO)
    (err,) = body["errors"]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    line, column = _place(bad, "sex_workr_id")
    assert err["message"] == (
        f"policy refused: ShiftRegistration (proposed):{line}:{column}: "
        f"rules[4].fields.sex_workr_id: unknown field 'sex_workr_id' of ShiftRegistration; "
        "did you mean 'sex_worker_id'?"
    )


def test_policy_check_prints_each_error_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sex_worker.yaml").write_text(DOCUMENT.replace("identity: mask", "identty: mask"))
    assert main(["policy", "check", "--dir", str(tmp_path)]) == 1
    line, column = _place(DOCUMENT, "identity: mask")
    assert capsys.readouterr().err == (
        f"error: sex_worker.yaml:{line}:{column}: rules[0].fields.identty: unknown field "
        "'identty' of SexWorker; did you mean 'identity'?\n"
    )


def test_the_policy_package_does_not_import_the_entry_points() -> None:
    modules = [
        f"hub.policy.{p.stem}" for p in (ROOT / "hub" / "policy").glob("*.py") if p.stem[0] != "_"
    ]
    probe = (
        f"import sys, {', '.join(modules)}\n"
        "above = ('hub.app', 'hub.demo', 'hub.demo_clients', 'hub.schema', 'hub.resolvers',\n"
        "         'hub.graphql_app', 'hub.commands')\n"
        "print(sorted(m for m in sys.modules if m.startswith(above)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("hidden", ["\u202e", "\u2066", "\u200b", "\x07"])
def test_hidden_and_direction_changing_characters_are_refused_at_their_place(
    hidden: str,
) -> None:
    """What reviewers read must be what is checked (Trojan Source): a bidi override or
    isolate, an invisible format character or a control character is refused, named by
    its code point, at its line and column; in policies, partners and test cases alike."""
    text = DOCUMENT.replace('legal_basis: "GDPR art. 15"', f'legal_basis: "GDPR{hidden} art. 15"')
    (issue,) = _issues(_doc, text)
    line, column = _place(text, hidden)
    assert (issue.line, issue.column) == (line, column)
    assert f"U+{ord(hidden):04X}" in issue.message
    with pytest.raises(PartnerError):
        parse_partners(PARTNERS.replace("Lokale", f"Lokale{hidden}"))
    with pytest.raises(CaseError):
        parse_cases(CASES.replace("sees premises", f"sees{hidden} premises"), "t.yaml")


def test_a_proposed_document_with_a_bidi_override_is_refused_at_its_line(hub) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "policies" / "shift_registration.yaml").read_text()
    bad = text.replace("retention:", "retention:\u202e", 1)
    body = hub.gql(PROPOSE, {"r": "ShiftRegistration", "d": bad}, as_=DPO)
    (err,) = body["errors"]
    assert err["extensions"]["code"] == "BAD_USER_INPUT"
    line, column = _place(bad, "\u202e")
    assert f"(proposed):{line}:{column}: character U+202E" in err["message"]
