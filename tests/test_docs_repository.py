"""The repository stands on its own, and its prose speaks of every worker.

- Nothing in it refers to design documents kept outside it, nor to paths of someone's
  machine.
- Every relative link of its Markdown files leads to a file of the repository.
- docs/README.md lists every document of docs/.
- README.md and docs/ say "the worker" (or "they"), never "she" or "he": the field
  includes men and trans people. Code (inline or fenced) is exempt: test names are code.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".venv", ".peers", "node_modules", "__pycache__", ".mypy_cache"}
TEXT_SUFFIXES = {
    ".py", ".md", ".yaml", ".yml", ".toml", ".json", ".graphql", ".txt", ".sh", ".mako",
    ".cfg", ".ini", ".conf", ".js", ".mjs", ".html", "",
}  # fmt: skip

# Spelt in pieces, so that this file does not name them itself.
OUTSIDE_DOCUMENTS = re.compile(
    r"\b(?:" + "DOM" + "AIN|" + "DES" + "IGN|" + "STY" + r"LE)(?:\.md|'s\b|:| principle)"
)
MACHINE_PATHS = re.compile(r"(?<![\w.])/(?:" + "wo" + r"rk|home/\w+|Users/\w+)/")
LINK = re.compile(r"\]\(([^)\s]+)\)")
GENDERED = {"she", "her", "hers", "herself", "he", "him", "his", "himself"}


def repository_files() -> list[Path]:
    """The repository's files: those git tracks, or (outside a checkout) those on disk."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout.decode()
        paths = [ROOT / name for name in listed.split("\0") if name]
    except (OSError, subprocess.SubprocessError):
        paths = [
            p
            for p in ROOT.rglob("*")
            if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts)
        ]
    return [p for p in paths if p.is_file() and p.suffix in TEXT_SUFFIXES]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _prose(markdown: str) -> str:
    """Markdown without its code: fenced blocks and inline code spans removed."""
    without_fences = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", without_fences)


def test_the_repository_is_listed() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert {"README.md", "hub/app.py", "docs/architecture.md", "pyproject.toml"} <= names


def test_nothing_refers_to_documents_or_paths_outside_the_repository() -> None:
    found = []
    for path in repository_files():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE_DOCUMENTS.search(line) or MACHINE_PATHS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert found == [], "references outside the repository:\n" + "\n".join(found)


def test_the_patterns_find_what_they_look_for() -> None:
    # Guards the test above against a pattern that matches nothing.
    for line in ("see " + "DES" + "IGN.md", "the " + "DOM" + "AIN's words", "/" + "work/x/y"):
        assert OUTSIDE_DOCUMENTS.search(line) or MACHINE_PATHS.search(line), line
    for line in ("a domain event", "data protection by design", "/tmp/spy", "docs/policy.md"):
        assert not (OUTSIDE_DOCUMENTS.search(line) or MACHINE_PATHS.search(line)), line


def test_every_relative_link_of_the_markdown_files_resolves() -> None:
    broken = []
    markdown = [p for p in repository_files() if p.suffix == ".md"]
    assert ROOT / "docs" / "README.md" in markdown
    for path in markdown:
        for target in LINK.findall(_prose(path.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, or a place in the same page
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == [], f"links that lead nowhere in the repository: {broken}"


def test_the_docs_index_lists_every_document() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    linked = set(LINK.findall(index))
    for path in sorted((ROOT / "docs").iterdir()):
        if path.name != "README.md":
            assert path.name in linked, f"docs/README.md does not list {path.name}"
    readme = (ROOT / "README.md").read_text()
    for name in ("architecture.md", "policy.md", "operations.md", "threat-model.md"):
        assert f"](docs/{name}" in readme, f"README.md does not link docs/{name}"


def test_readme_and_docs_are_gender_neutral() -> None:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in _prose(path.read_text()).splitlines():
            words = {w.strip(".,;:()!?'\"|*_[]").lower() for w in line.split()}
            if words & GENDERED:
                found.append(f"{path.relative_to(ROOT)}: {line.strip()[:100]}")
    assert found == [], "say the worker, or they:\n" + "\n".join(found)
