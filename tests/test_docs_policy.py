"""The examples of docs/policy.md are what the parser says they are.

A YAML block after `<!-- policy-example -->` replaces the shipped document of its resource
in a copy of policies/, and `hub policy check` must accept the set. One after
`<!-- policy-refused -->` must be refused by `hub policy check` with exactly the messages
of the ```text block that follows it. One after `<!-- policy-case-example -->` must read
as policy test cases.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.policy.cases import parse_cases
from hub.policy.vocabulary import POLICY_DATA_FILES

ROOT = Path(__file__).resolve().parent.parent
POLICY_MD = ROOT / "docs" / "policy.md"
FENCE = re.compile(
    r"<!-- (policy-example|policy-refused|policy-case-example) -->\n```yaml\n(.*?)```\n", re.S
)
ERRORS = re.compile(r"\n```text\n(.*?)```\n", re.S)


def examples(kind: str) -> list[tuple[str, str]]:
    """(body, the ```text block after it or "") of every example of this kind, in order."""
    text = POLICY_MD.read_text()
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) == kind:
            after = ERRORS.match(text, match.end())  # right after the example
            found.append((match.group(2), after.group(1) if after else ""))
    return found


def _resource(text: str) -> str:
    found = re.search(r"^resource:\s*(\w+)", text, re.M)
    assert found, "an example names its resource"
    return found.group(1)


def policies_with(example: str, tmp: Path) -> Path:
    """A copy of the shipped policy directory with `example` in place of its resource's
    document; the example keeps that document's file name (as errors name it)."""
    directory = tmp / "policies"
    shutil.copytree(ROOT / "policies", directory, ignore=shutil.ignore_patterns("tests"))
    resource = _resource(example)
    for path in directory.glob("*.yaml"):
        if path.name not in POLICY_DATA_FILES and _resource(path.read_text()) == resource:
            path.write_text(example)
            return directory
    raise AssertionError(f"no shipped document for {resource}")


def test_the_reference_has_examples_of_each_kind() -> None:
    assert len(examples("policy-example")) >= 4
    assert len(examples("policy-refused")) >= 1
    assert len(examples("policy-case-example")) >= 1
    for _, errors in examples("policy-refused"):
        assert errors.strip(), "a refused example is followed by the errors it gets"


@pytest.mark.parametrize("index", range(len(examples("policy-example"))))
def test_each_example_passes_policy_check(index: int, tmp_path: Path, capsys: Any) -> None:
    example, _ = examples("policy-example")[index]
    directory = policies_with(example, tmp_path)
    code = main(["policy", "check", "--dir", str(directory)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "documents" in out.out and "rules" in out.out


@pytest.mark.parametrize("index", range(len(examples("policy-refused"))))
def test_each_refused_example_gets_the_errors_shown(
    index: int, tmp_path: Path, capsys: Any
) -> None:
    example, errors = examples("policy-refused")[index]
    directory = policies_with(example, tmp_path)
    assert main(["policy", "check", "--dir", str(directory)]) == 1
    printed = capsys.readouterr().err
    expected = [line for line in errors.splitlines() if line.strip()]
    shown = [
        line.removeprefix("error: ")
        for line in printed.splitlines()
        if re.match(r"^error: \w+\.yaml:\d+:\d+: ", line)
    ]
    assert shown == expected


@pytest.mark.parametrize("index", range(len(examples("policy-case-example"))))
def test_each_case_example_reads_as_policy_test_cases(index: int) -> None:
    example, _ = examples("policy-case-example")[index]
    cases = parse_cases(example, "example.yaml")
    assert len(cases) == example.count("- description:")
