"""docs/threat-model.md names, for each promise, the tests that prove it: every test it
names must exist, so the page cannot point at tests that were renamed or removed, and
every promise must name at least one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAT_MODEL = ROOT / "docs" / "threat-model.md"
NAMED = re.compile(r"`tests/(test_\w+\.py)::(test_\w+)`")


def _tests_in(path: Path) -> set[str]:
    """The test functions a module defines (module level and in classes)."""
    tree = ast.parse(path.read_text(), str(path))
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def _promises() -> dict[str, str]:
    """Each promise's heading -> its text, from "## The promises" to "## Known gaps"."""
    text = THREAT_MODEL.read_text()
    body = text.split("## The promises", 1)[1].split("## Known gaps", 1)[0]
    parts = re.split(r"^### (.+)$", body, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_test_the_threat_model_names_exists() -> None:
    named = NAMED.findall(THREAT_MODEL.read_text())
    assert len(named) >= 50, "the threat model names the tests of its promises"
    missing = []
    for module, name in sorted(set(named)):
        path = ROOT / "tests" / module
        if not path.exists() or name not in _tests_in(path):
            missing.append(f"tests/{module}::{name}")
    assert missing == [], f"docs/threat-model.md names tests that do not exist: {missing}"


def test_every_promise_names_its_tests() -> None:
    promises = _promises()
    assert len(promises) >= 8
    for heading, text in promises.items():
        assert "*Mechanism.*" in text, f"promise {heading!r} says how it is kept"
        assert NAMED.search(text), f"promise {heading!r} names no test"


def test_the_known_gaps_are_named() -> None:
    gaps = THREAT_MODEL.read_text().split("## Known gaps", 1)[1]
    assert gaps.count("\n- **") >= 5
