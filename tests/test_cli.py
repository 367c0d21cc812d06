"""The `hub` command for a newcomer: quick help with text for every option, readable
configuration errors, `hub org list`, and `hub token` minting tokens the served hub
accepts whatever its port."""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.cli import build_parser, main
from tests.conftest import BACKENDS, ROOT, Templates, require_backend
from tests.served import hub, hub_env, serving

HEAVY = ("sqlalchemy", "sqlmodel", "strawberry", "starlette", "pydantic", "alembic", "hub.app")
HELP_BOUND_S = 1.0


def _heavy_after(code: str) -> list[str]:
    probe = (
        "import sys\n"
        f"{code}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules if m.startswith({HEAVY!r})}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1].replace("'", '"'))  # type: ignore[no-any-return]


def test_importing_the_command_loads_no_database_layer_nor_schema() -> None:
    assert _heavy_after("import hub.cli") == []
    # Nor does the help of a subcommand: only running it does.
    helped = "from hub.cli import main\ntry:\n    main(['token', '--help'])\nexcept SystemExit:\n    pass"
    assert _heavy_after(helped) == []
    ran = "from hub.cli import main\ntry:\n    main(['schema', 'export', '-o', '/dev/null'])\nexcept SystemExit:\n    pass"
    assert "strawberry" in _heavy_after(ran)  # the probe can see a heavy import


@pytest.mark.parametrize("args", [["--help"], ["token", "--help"], ["audit", "verify", "--help"]])
def test_help_answers_within_a_second(args: list[str]) -> None:
    # The best of three runs, so that a busy machine's one slow start does not count.
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "hub.cli", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        best = min(best, time.perf_counter() - started)
        assert out.returncode == 0, out.stderr
        assert "usage: hub" in out.stdout
    assert best < HELP_BOUND_S, f"hub {' '.join(args)} took {best:.2f} s"


def _parsers(parser: argparse.ArgumentParser, path: str = "hub") -> list[tuple[str, Any]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{path} {name}")
    return found


def test_every_command_and_option_has_help_text() -> None:
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                missing += [f"{path} {n}" for n in action.choices if n not in helped]
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert len(_parsers(build_parser())) > 30
    assert missing == []


def test_a_wrong_setting_is_named_not_a_traceback(tmp_path: Path) -> None:
    env = hub_env(
        f"sqlite+aiosqlite:///{tmp_path}/hub.db",
        tmp_path / "secrets",
        HUB_PAGE_CAP="many",
        HUB_TOKEN_LIFETIME="5",
    )
    out = hub("org", "list", env=env)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        "HUB_TOKEN_LIFETIME: Input should be greater than or equal to 60",
        "HUB_PAGE_CAP: Input should be a valid integer, unable to parse string as an integer",
    ]
    assert "many" not in out.stderr and out.stdout == ""
    assert not (tmp_path / "hub.db").exists()  # nothing ran


def test_org_list_shows_every_organisation_with_its_id(
    demo_hub: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", demo_hub.url)
    assert main(["org", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "id\tname\tkind\tcity"
    rows = [line.split("\t") for line in lines[1:-1]]
    assert lines[-1] == f"{len(rows)} organisations"
    ids = {r[0] for r in rows}
    assert set(demo_hub.demo.organisation_ids.values()) <= ids
    police = demo_hub.demo.organisation_ids["antwerp_police"]
    assert [police, "Lokale Politie Antwerpen", "police", "Antwerpen"] in rows

    assert main(["org", "list", "--kind", "ngo", "--city", "Gent"]) == 0
    only = capsys.readouterr().out.splitlines()[1:-1]
    assert only and all(line.split("\t")[2:] == ["ngo", "Gent"] for line in only)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def _me(base: str, token: str) -> dict[str, Any]:
    r = httpx.post(
        f"{base}/graphql",
        json={"query": "{ me { roles } }"},
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": "inspection"},
        timeout=10,
    )
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("backend", BACKENDS)
def test_token_takes_the_issuer_of_the_running_hub(
    backend: str, templates: Templates, tmp_path: Path
) -> None:
    require_backend(backend)
    url = templates.new_url(backend)
    try:
        env = hub_env(url, tmp_path / "secrets")
        seeded = hub("demo", "--no-serve", env=env)
        assert seeded.returncode == 0, seeded.stderr
        client = ["token", "--client", "demo-police-antwerp"]
        recorded = tmp_path / "secrets" / "serve-issuer-url"

        with serving(env, tmp_path / "serve.log") as base:
            assert recorded.read_text().strip() == base
            minted = hub(*client, env=env)
            assert minted.returncode == 0, minted.stderr
            token = minted.stdout.strip()
            assert _claims(token)["iss"] == base
            assert _me(base, token)["data"]["me"]["roles"] == ["police_officer"]

            other = hub(*client, "--issuer", "http://hub.example", env=env).stdout.strip()
            assert _claims(other)["iss"] == "http://hub.example"
            refused = _me(base, other)
            assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

            given = hub(*client, env={**env, "HUB_ISSUER_URL": "http://x.example"})
            assert _claims(given.stdout.strip())["iss"] == "http://x.example"

        assert not recorded.exists()  # removed when serving stopped
        stale = hub(*client, env=env)
        assert stale.returncode == 0
        assert _claims(stale.stdout.strip())["iss"] == "http://127.0.0.1:8000"
        assert "give --issuer or HUB_ISSUER_URL" in stale.stderr
    finally:
        templates.drop(url)


def _test_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "test"), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_the_test_command_names_the_backends_and_the_skips() -> None:
    closed = "postgresql://postgres@127.0.0.1:9/test"  # nothing listens on port 9
    out = _test_command(
        "tests/test_cli.py", "-k", "org_list", HUB_TEST_PG=closed, HUB_TEST_REQUIRE_PG=""
    )
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert "SQLite: 1 test ran" in lines
    assert "PostgreSQL: 0 tests ran, 1 skipped" in lines
    assert "Kafka broker: 0 tests ran" in lines
    assert any(line.split() == ["1", "PostgreSQL", "not", "reachable"] for line in lines)


def test_the_test_command_fails_when_no_test_ran() -> None:
    out = _test_command("tests/test_cli.py", "-k", "no_such_test_anywhere")
    assert out.returncode == 1
    assert "collected no tests" in out.stderr
