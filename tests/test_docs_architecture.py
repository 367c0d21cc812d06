"""docs/architecture.md's module map names every package and module of hub/, and names
none that does not exist, so the map follows the code as it grows. (Table modules of
hub/models/ and migrations are named as a whole.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
AS_A_WHOLE = {"models", "migrations"}


def module_map() -> str:
    text = ARCHITECTURE.read_text()
    section = text.split("## Module map", 1)[1]
    found = re.search(r"```\n(hub/\n.*?)```", section, re.S)
    assert found, "the module map is a code block starting with hub/"
    return found.group(1)


def test_every_package_and_module_is_in_the_map() -> None:
    shown = module_map()
    missing = []
    for path in sorted(HUB.iterdir()):
        if path.is_dir() and any(path.glob("*.py")):
            if not re.search(rf"(?<![\w/]){path.name}/", shown):
                missing.append(f"{path.name}/")
            if path.name in AS_A_WHOLE:
                continue
            for module in sorted(path.glob("*.py")):
                if module.name != "__init__.py" and module.name not in shown:
                    missing.append(f"{path.name}/{module.name}")
        elif (
            path.suffix == ".py"
            and path.name != "__init__.py"
            and not re.search(rf"(?<![\w/]){re.escape(path.name)}", shown)
        ):
            missing.append(path.name)
    assert missing == [], f"docs/architecture.md's module map does not name {missing}"


def test_the_map_names_nothing_that_does_not_exist() -> None:
    shown = module_map()
    existing = {p.name for p in HUB.rglob("*.py")}
    packages = {p.name for p in HUB.iterdir() if p.is_dir()}
    stale = sorted(
        {m for m in re.findall(r"\b(\w+\.py)\b", shown) if m not in existing}
        | {d for d in re.findall(r"^  (\w+)/", shown, re.M) if d not in packages}
    )
    assert stale == [], f"docs/architecture.md's module map names what does not exist: {stale}"


def test_the_readme_map_names_only_what_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Architecture", 1)[1]
    found = re.search(r"```\n(hub/\n.*?)```", section, re.S)
    assert found, "README's architecture section has a map starting with hub/"
    shown = found.group(1)
    existing = {p.name for p in HUB.rglob("*.py")}
    folders = {p.name for p in [*HUB.iterdir(), *ROOT.iterdir()] if p.is_dir()}
    stale = sorted(
        {m for m in re.findall(r"\b(\w+\.py)\b", shown) if m not in existing}
        | {d for d in re.findall(r"^ *(\w+)/", shown, re.M) if d not in folders}
    )
    assert stale == [], f"README's module map names what does not exist: {stale}"
    for package in ("read", "services", "schema", "connectors", "policy", "audit"):
        assert f"{package}/" in shown
