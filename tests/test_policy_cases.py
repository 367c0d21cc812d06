"""`hub policy test`: the shipped policies pass their cases, and the runner cannot pass a
case that is wrong (a broken expectation, a misspelt key, a check that finds nothing)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hub.commands.policy_test import run_policy_tests
from hub.policy.cases import Case, CaseError, Symbols, check, parse_cases, walk

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"


def _run(tests_dir: Path) -> tuple[int, str]:
    out = io.StringIO()
    failures = run_policy_tests(POLICIES, tests_dir, out=out)
    return failures, out.getvalue()


def test_shipped_policies_pass_their_cases() -> None:
    failures, output = _run(POLICIES / "tests")
    failed = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert failures == 0, "\n".join(failed)
    assert " passed, 0 failed" in output.splitlines()[-1]


def test_every_role_has_cases() -> None:
    from hub.demo_clients import DEMO_CLIENTS
    from hub.policy.vocabulary import ROLES

    role_of = {c.client_id: c.roles[0] for c in DEMO_CLIENTS}
    covered: set[str] = set()
    for path in sorted((POLICIES / "tests").glob("*.yaml")):
        for case in parse_cases(path.read_text(encoding="utf-8"), path.name):
            if isinstance(case.client, str):
                covered.add(role_of[case.client])
            else:
                covered.update(case.client.roles)
    assert covered == set(ROLES)


BROKEN = """
- description: a true case, so that the run is not vacuous
  client: demo-city-antwerp
  purpose: licensing
  query: "{ premises(first: 5) { edges { node { city } } } }"
  expect:
    all: {premises.edges.node.city: Antwerpen}
- description: a wrong expectation, the city officer seeing identities
  client: demo-city-antwerp
  purpose: licensing
  query: "{ shifts(first: 5) { edges { node { sexWorker { workingName } } } } }"
  expect:
    not_null: [shifts.edges.node.sexWorker.workingName]
- description: a refusal expected where the answer is given
  client: demo-operator
  purpose: self_service
  query: "{ premises(first: 5) { edges { node { city } } } }"
  expect: {error: FORBIDDEN}
"""


def test_a_broken_expectation_is_reported_as_a_failure(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    failures, output = _run(tmp_path)
    lines = output.splitlines()
    assert failures == 2, output
    assert lines[0].startswith("PASS broken.yaml#1")
    assert lines[1].startswith("FAIL broken.yaml#2")
    assert "shifts.edges.node.sexWorker.workingName" in lines[1]
    assert lines[2].startswith("FAIL broken.yaml#3")
    assert "expected error FORBIDDEN" in lines[2]
    assert lines[-1].startswith("1 passed, 2 failed")


def test_an_unreadable_case_file_and_an_empty_directory_fail(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _run(empty)[0] == 1
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "typo.yaml").write_text(
        "- description: misspelt\n  client: demo-operator\n  query: '{ me { city } }'\n"
        "  expect: {nul: [me.city]}\n",
        encoding="utf-8",
    )
    failures, output = _run(bad)
    assert failures == 1
    assert "typo.yaml:4:12: [0].expect.nul: unknown key 'nul'; did you mean 'null'?" in output


# --- the checks themselves, without a hub --------------------------------------------------

SYMBOLS = Symbols({"worker": "sw-1"}, {"sexWorkerId": "sw-1"})


def _case(expect: str) -> Case:
    text = f"- description: d\n  client: c\n  query: q\n  expect: {expect}\n"
    return parse_cases(text, "t.yaml")[0]


def _fails(expect: str, data: object, **extra: object) -> list[str]:
    return check(_case(expect), {"data": data, **extra}, SYMBOLS)


SHIFTS = {
    "shifts": {
        "edges": [
            {"node": {"city": "Antwerpen", "sexWorker": None, "id": "sw-1"}},
            {"node": {"city": "Antwerpen", "sexWorker": {"name": "A"}, "id": "sw-1"}},
        ]
    }
}


def test_paths_walk_lists_and_nulls() -> None:
    assert walk(SHIFTS, "shifts.edges.node.city") == ["Antwerpen", "Antwerpen"]
    assert walk(SHIFTS, "shifts.edges.node.sexWorker.name") == [None, "A"]


def test_checks_report_what_is_wrong() -> None:
    assert _fails("{all: {shifts.edges.node.city: Antwerpen}}", SHIFTS) == []
    assert _fails("{all: {shifts.edges.node.city: Gent}}", SHIFTS)
    assert _fails("{null: [shifts.edges.node.sexWorker]}", SHIFTS)
    assert _fails("{not_null: [shifts.edges.node.sexWorker]}", SHIFTS)
    assert _fails("{none: {shifts.edges.node.sexWorker.name: A}}", SHIFTS)
    assert _fails("{some: {shifts.edges.node.sexWorker.name: A}}", SHIFTS) == []
    assert _fails("{all: {shifts.edges.node.id: $me.sexWorkerId}}", SHIFTS) == []
    assert _fails("{rows: {at: shifts.edges, count: 2}}", SHIFTS) == []
    assert _fails("{rows: {at: shifts.edges, max: 1}}", SHIFTS)
    assert _fails("{matches: {shifts.edges.node.city: '^Gent'}}", SHIFTS)
    assert _fails("{among: {shifts.edges.node.id: shifts.edges.node.city}}", SHIFTS)
    each = "{each: {at: shifts.edges.node, where: {sexWorker: null}, all: {city: Antwerpen}}}"
    assert _fails(each, SHIFTS) == []
    assert _fails("{withheld: {}}", SHIFTS, extensions={"withheld": {"Shift": ["sexWorker"]}})
    assert _fails("{error: FORBIDDEN}", SHIFTS)


def test_a_check_that_finds_nothing_fails() -> None:
    empty: dict[str, object] = {"shifts": {"edges": []}}
    assert "vacuously" in _fails("{null: [shifts.edges.node.sexWorker]}", empty)[0]
    assert "no field" in _fails("{null: [shifts.edges.node.sexWorkr]}", SHIFTS)[0]
    each = "{each: {at: shifts.edges.node, where: {city: Gent}, null: [sexWorker]}}"
    assert "no record matches" in _fails(each, SHIFTS)[0]


def test_an_unexpected_error_fails() -> None:
    errors = [{"message": "no", "extensions": {"code": "FORBIDDEN"}}]
    assert _fails("{rows: {at: shifts.edges, min: 0}}", None, errors=errors)


@pytest.mark.parametrize(
    "expect",
    ["{}", "{rows: {at: x}}", "{null: x}", "{matches: {x: '('}}", "{each: {at: x}}"],
)
def test_malformed_expectations_are_refused(expect: str) -> None:
    with pytest.raises(CaseError):
        _case(expect)
