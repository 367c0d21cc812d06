"""Starting the hub: it refuses a master key that cannot open the identities stored."""

from __future__ import annotations

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
