"""Starting the hub: it refuses a master key that cannot open the identities stored."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hub.app import MasterKeyMismatch, create_app
from tests.conftest import ROOT, Hub


def _app(hub: Hub, secret_dir: Path) -> object:
    settings = hub.app.state.settings.with_(secret_dir=secret_dir, policy_dir=ROOT / "policies")
    return create_app(settings)


def test_a_wrong_secret_dir_is_refused_at_start(hub: Hub, tmp_path: Path) -> None:
    # The demo data holds encrypted identities; another directory makes a new master key.
    app = _app(hub, tmp_path / "elsewhere")
    with pytest.raises(MasterKeyMismatch, match="HUB_SECRET_DIR"), TestClient(app):  # type: ignore[arg-type]
        pass


def test_the_right_secret_dir_starts(hub: Hub) -> None:
    app = _app(hub, hub.app.state.settings.secret_dir)
    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/health").status_code == 200


FROZEN = """
import gc
from starlette.testclient import TestClient
from hub.app import create_app
from hub.config import Settings
before = gc.get_freeze_count()
with TestClient(create_app(Settings())) as client:
    assert client.get("/health").status_code == 200
    print(before, gc.get_freeze_count(), gc.get_threshold()[0])
"""


@pytest.mark.parametrize("setting", [None, "false"])
def test_start_up_objects_are_frozen_out_of_the_collector(hub: Hub, setting: str | None) -> None:
    # In a process of its own: freezing here would keep every test's app alive.
    from hub.app import GC_YOUNG_THRESHOLD
    from tests.served import hub_env

    settings = hub.app.state.settings
    extra = {"HUB_GC_FREEZE": setting} if setting else {}
    env = hub_env(settings.database_url, settings.secret_dir, **extra)
    out = subprocess.run(
        [sys.executable, "-c", FROZEN], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    before, after, young = (int(x) for x in out.stdout.split())
    assert before == 0
    if setting is None:  # the default: on
        assert after > 100_000  # the schema, plans, policies and modules
        assert young == GC_YOUNG_THRESHOLD
    else:
        assert after == 0
        assert young == 700  # CPython's own
