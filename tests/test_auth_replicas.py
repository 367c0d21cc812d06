"""Several replicas on one database and one secret dir: revocation and key rotation done by
another process reach every replica within a second.

Replica A is the ASGI app in this process; replica B is `hub serve` in its own process on a
free loopback port; the commands run as `python -m hub.cli` processes. Both replicas share
B's URL as issuer, as replicas behind one proxy do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.auth.clients import register_client
from hub.config import Settings
from tests.conftest import BACKENDS, ROOT, Hub, Templates, _seed, require_backend

WITHIN_S = 1.0
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Replicas:
    a: Hub
    b: httpx.Client
    b_url: str
    env: dict[str, str]
    tmp: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A `hub` command in a process of its own."""
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "hub.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    def token_from_b(self, client_id: str, secret: str) -> str:
        r = self.b.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert r.status_code == 200, r.text
        return r.json()["access_token"]  # type: ignore[no-any-return]


def status_a(replicas: Replicas, token: str) -> int:
    r = replicas.a.client.post(
        "/graphql",
        json={"query": "{ me { subject } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return int(r.status_code)


def status_b(replicas: Replicas, token: str) -> int:
    r = replicas.b.post(
        "/graphql",
        json={"query": "{ me { subject } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return int(r.status_code)


def until(condition: Any, within: float = WITHIN_S) -> float:
    """Seconds until `condition()` held; fails if not within `within`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within, f"not within {within} s"
    return time.monotonic() - start


@pytest.fixture(scope="module", params=BACKENDS)
def replicas(
    request: pytest.FixtureRequest, templates: Templates, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    backend = request.param
    require_backend(backend)
    tmp = tmp_path_factory.mktemp("replicas")
    url = templates.new_url(backend)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=url,
        secret_dir=tmp / "secrets",
        policy_dir=ROOT / "policies",
        issuer_url=issuer,
    )
    env = {
        **os.environ,
        "HUB_DATABASE_URL": url,
        "HUB_SECRET_DIR": str(tmp / "secrets"),
        "HUB_POLICY_DIR": str(ROOT / "policies"),
        "HUB_ISSUER_URL": issuer,
        "HUB_CONNECTORS": "off",
    }
    env.pop("HUB_KAFKA_BOOTSTRAP", None)
    env.pop("HUB_OIDC_ISSUER", None)
    server = None
    log = (tmp / "hub-b.log").open("w")
    try:
        with TestClient(create_app(settings)) as client:
            a = Hub(backend, url, client, client.app)
            a.demo = a.run(_seed(a))
            server = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            with httpx.Client(base_url=issuer, timeout=10) as b:
                deadline = time.monotonic() + START_TIMEOUT_S
                while True:
                    assert server.poll() is None, (tmp / "hub-b.log").read_text()[-3000:]
                    try:
                        if b.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "hub serve did not start"
                    time.sleep(0.1)  # a polling interval while the process starts, bounded
                yield Replicas(a, b, issuer, env, tmp)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        log.close()
        templates.drop(url)


def new_client(replicas: Replicas, name: str) -> tuple[str, str]:
    client_id = f"{name}-{os.urandom(4).hex()}"

    async def add() -> str:
        async with replicas.a.db.session() as s:
            return await register_client(
                s,
                client_id=client_id,
                organisation_id=replicas.a.demo.organisation_ids["payoke"],  # type: ignore[union-attr]
                roles=["ngo_worker"],
                purposes=["care"],
            )

    return client_id, replicas.a.run(add())


def test_a_disable_by_another_process_is_refused_on_every_replica_within_a_second(
    replicas: Replicas,
) -> None:
    client_id, secret = new_client(replicas, "replicated")
    token = replicas.token_from_b(client_id, secret)
    assert status_a(replicas, token) == status_b(replicas, token) == 200

    replicas.cli("client", "disable", "--id", client_id)
    took_a = until(lambda: status_a(replicas, token) == 401)
    took_b = until(lambda: status_b(replicas, token) == 401, WITHIN_S - took_a)
    print(
        f"disable by another process refused after {took_a * 1000:.0f} ms (A) and "
        f"{(took_a + took_b) * 1000:.0f} ms (B) ({replicas.a.backend})"
    )


def test_key_rotation_reaches_every_replica(replicas: Replicas) -> None:
    client_id, secret = new_client(replicas, "rotation")
    before = replicas.token_from_b(client_id, secret)
    old_kid = replicas.b.get("/.well-known/jwks.json").json()["keys"][0]["kid"]

    out = replicas.cli("keys", "rotate").stdout
    new_kid = out.split("new signing key ")[1].split()[0]
    assert new_kid != old_kid

    def b_publishes_both() -> bool:
        kids = [k["kid"] for k in replicas.b.get("/.well-known/jwks.json").json()["keys"]]
        return kids == [new_kid, old_kid]

    took = until(b_publishes_both)
    print(f"replica B serves the rotated JWKS after {took * 1000:.0f} ms ({replicas.a.backend})")
    kids_a = [k["kid"] for k in replicas.a.client.get("/.well-known/jwks.json").json()["keys"]]
    assert kids_a == [new_kid, old_kid]
    # Both sign with the new key now, and each accepts the other's tokens.
    after = replicas.token_from_b(client_id, secret)
    assert _kid(after) == new_kid
    assert _kid(replicas.a.run(replicas.a.app.state.issuer.mint(client_id))) == new_kid
    for token in (before, after):
        assert status_a(replicas, token) == status_b(replicas, token) == 200

    # After a compromise: the previous keys stop verifying everywhere.
    replicas.cli("keys", "rotate", "--revoke-previous")
    took = until(lambda: status_a(replicas, after) == 401 and status_b(replicas, after) == 401)
    print(f"revoked key refused on both replicas after {took * 1000:.0f} ms")
    assert status_a(replicas, before) == status_b(replicas, before) == 401
    fresh = replicas.token_from_b(client_id, secret)
    assert status_a(replicas, fresh) == status_b(replicas, fresh) == 200


def test_another_hub_verifies_this_hubs_tokens_through_its_discovery_document(
    replicas: Replicas,
) -> None:
    doc = replicas.b.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == replicas.b_url
    assert doc["jwks_uri"] == replicas.b_url + "/.well-known/jwks.json"
    assert doc["token_endpoint"] == replicas.b_url + "/oauth/token"
    assert doc["grant_types_supported"] == ["client_credentials", "authorization_code"]
    assert doc["subject_types_supported"] == ["public"]
    assert "org_kind" in doc["claims_supported"]

    client_id, secret = new_client(replicas, "discovered")
    token = replicas.token_from_b(client_id, secret)
    settings = Settings(
        database_url=replicas.a.url,
        # The same data, so the same master key; only the token issuer differs.
        secret_dir=replicas.tmp / "secrets",
        policy_dir=ROOT / "policies",
        oidc_issuer=replicas.b_url,
    )
    with TestClient(create_app(settings)) as c:
        r = c.post(
            "/graphql",
            json={"query": "{ me { subject organisationKind } }"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["data"]["me"] == {"subject": client_id, "organisationKind": "ngo"}


def _kid(token: str) -> str:
    import base64
    import json

    part = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["kid"])
