"""The import graph of hub/ points one way (docs/architecture.md): entry points, then the GraphQL
schema and the connectors, then reads, services and auth, then events, policy and the
access log, then models and the small foundation modules.

Read from the source with `ast`, so every import counts: at module level, inside
functions (the lazy ones), and under `if TYPE_CHECKING:`. A new top-level package or
module needs a place in LAYERS once a lower layer imports it (the failure says so).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest

HUB = Path(__file__).resolve().parent.parent / "hub"

# Top-level packages and modules of hub, from the top down. A name may import names of its
# own layer or of the layers below it, never of a layer above.
LAYERS: list[set[str]] = [
    {
        "cli",
        "commands",
        "app",
        "web",
        "graphql_app",
        "demo",
        "demo_clients",
        "migrations",
        "consoles",
    },
    {"schema", "resolvers", "connectors", "observability"},
    {"read"},
    {"services", "auth", "state"},
    {"events"},
    {"policy", "audit"},
    {
        "models",
        "db",
        "config",
        "errors",
        "crypto",
        "cursors",
        "ids",
        "retry",
        "notify",
        "text",
        "i18n",
    },
]
RANK = {name: len(LAYERS) - i for i, layer in enumerate(LAYERS) for name in layer}

# What the layers forbid outright: connectors and services never import the GraphQL
# schema, the resolvers or an entry point.
NEVER = {
    "connectors": {"schema", "resolvers", "graphql_app", "app", "cli", "commands", "web"},
    "services": {"schema", "resolvers", "graphql_app", "app", "cli", "commands", "web"},
}
LOWER = ("policy", "audit", "events", "models")


def _top(module: str) -> str | None:
    """hub.policy.engine -> policy; hub.app -> app; anything outside hub -> None."""
    parts = module.split(".")
    if parts[0] != "hub" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[str, int]]:
    """The hub modules `path` imports (absolute names), with their lines."""
    parts = list(path.relative_to(HUB.parent).with_suffix("").parts)
    # The package a relative import starts from: the module's own for an __init__.py.
    package = parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            # `from hub import x` imports the module hub.x.
            if module == "hub":
                found += [(f"hub.{alias.name}", node.lineno) for alias in node.names]
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    """top-level name -> imported top-level name -> where (`file:line`)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(HUB.rglob("*.py")):
        own = path.relative_to(HUB).parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for module, line in _imports(path):
            target = _top(module)
            if target is not None and target != own:
                graph[own][target].append(f"{path.relative_to(HUB.parent)}:{line}")
    return graph


GRAPH = _graph()


def test_the_graph_is_read() -> None:
    # Guards the parser itself: these imports exist, so an empty graph is a broken test.
    assert "policy" in GRAPH["services"]
    assert "models" in GRAPH["policy"]
    assert "schema" in GRAPH["graphql_app"]


@pytest.mark.parametrize("package", sorted(NEVER))
def test_connectors_and_services_never_import_the_api_or_the_entry_points(package: str) -> None:
    bad = {
        target: where
        for target, where in GRAPH[package].items()
        if target in NEVER[package] or target.startswith("demo")
    }
    assert not bad, f"hub.{package} imports what sits above it: {bad}"


@pytest.mark.parametrize("package", LOWER)
def test_the_lower_layers_import_nothing_above_them(package: str) -> None:
    unplaced = sorted(t for t in GRAPH[package] if t not in RANK)
    assert not unplaced, f"place {unplaced} in LAYERS (tests/test_architecture.py)"
    above = {t: w for t, w in GRAPH[package].items() if RANK[t] > RANK[package]}
    assert not above, f"hub.{package} imports layers above it: {above}"


def test_every_import_points_down() -> None:
    above = {
        f"{own} -> {target}": where
        for own, targets in GRAPH.items()
        for target, where in targets.items()
        if own in RANK and target in RANK and RANK[target] > RANK[own]
    }
    assert not above, f"imports that point up: {above}"


def test_no_import_cycle_between_top_level_packages_and_modules() -> None:
    def cycle_from(start: str) -> list[str] | None:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for target in GRAPH.get(node, {}):
                if target == start:
                    return [*path, start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
        return None

    cycles = {" -> ".join(c) for name in sorted(GRAPH) if (c := cycle_from(name))}
    detail = {
        c: {f"{a} -> {b}": GRAPH[a][b] for a, b in pairwise(c.split(" -> "))}
        for c in sorted(cycles)
    }
    assert not cycles, f"import cycles: {detail}"


def test_a_cycle_would_be_found() -> None:
    # The detector itself, on a graph with a known cycle.
    saved = dict(GRAPH)
    try:
        GRAPH["models"] = defaultdict(list, {"services": ["(made up)"]})
        with pytest.raises(AssertionError, match="models"):
            test_no_import_cycle_between_top_level_packages_and_modules()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_every_file_the_pages_need_is_in_the_package() -> None:
    """An install from a wheel (the container image's `pip install .`) has every template,
    catalogue and static file: each is matched by pyproject.toml's package-data."""
    import tomllib

    patterns = tomllib.loads((HUB.parent / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["hub"]
    packaged = {p for pattern in patterns for p in HUB.glob(pattern) if p.is_file()}
    needed = [
        p
        for p in HUB.rglob("*")
        if p.is_file()
        and p.suffix not in (".py", ".pyc")
        and "__pycache__" not in p.parts
        and {"templates", "static", "locales"} & set(p.relative_to(HUB).parts)
    ]
    assert needed, "no page files found: the test looks in the wrong place"
    missing = sorted(str(p.relative_to(HUB)) for p in needed if p not in packaged)
    assert not missing, f"not in pyproject.toml's package-data: {missing[:10]}"
