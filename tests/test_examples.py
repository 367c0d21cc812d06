"""The programs in examples/ run as a partner runs them: as their own processes, against
`hub serve` on a loopback port (and the Tansu broker), with a client registered by
`hub client add`. Their output is checked against the hub's own answers: the same
records, the same ids (the ids the partner's organisation holds)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.crypto import load_or_create_key
from hub.ids import AudienceSeal, IdSealer
from tests.conftest import BACKENDS, ROOT, Templates, require_backend
from tests.kafka_broker import Broker, create_topics
from tests.served import hub, hub_env, serving, wait_for
from tests.test_kafka import kafka_broker  # noqa: F401  (the session's broker fixture)

EXAMPLES = ROOT / "examples"
RUN_S = 90
INSPECTION = "be.hub.inspection.recorded.v1"


@dataclass
class Partner:
    """A police records system of Lokale Politie Antwerpen, registered as a client."""

    env: dict[str, str]
    client_id: str
    secret: str
    policy_dir: Path
    key: str
    org: str
    other_org: str

    def seal(self, org: str) -> AudienceSeal:
        """Ids as organisation `org` holds them (the hub's key, read from its secret dir)."""
        key = load_or_create_key(Path(self.env["HUB_SECRET_DIR"]) / "id-seal.key")
        return IdSealer(key).for_audience(f"org:{org}")

    def assert_sealed(self, held: str) -> None:
        """`held` is a record id sealed for this partner, and for this partner only."""
        raw = self.seal(self.org).unseal(held)
        assert uuid.UUID(raw) and raw != held
        assert self.seal(self.other_org).seal(raw) != held


def _partner(url: str, tmp: Path, **extra: str) -> Partner:
    # A partners.yaml of its own, so the partner's topics hold this test's events only.
    key = f"example_police_{uuid.uuid4().hex[:8]}"
    policy_dir = tmp / "policies"
    shutil.copytree(ROOT / "policies", policy_dir)
    with (policy_dir / "partners.yaml").open("a") as f:
        f.write(
            f"  {key}:\n"
            "    organisation: Lokale Politie Antwerpen\n"
            "    role: police_officer\n"
            "    purposes: [inspection]\n"
            f"    events: [{INSPECTION}]\n"
            f"    topic: partner.{key}.events\n"
            "    inbox: true\n"
            f"    sources: [urn:be:{key}:rms]\n"
        )
    env = hub_env(url, tmp / "secrets", HUB_POLICY_DIR=str(policy_dir), **extra)
    seeded = hub("demo", "--no-serve", env=env)
    assert seeded.returncode == 0, seeded.stderr
    listed = hub("org", "list", env=env).stdout.splitlines()
    org = next(line.split("\t")[0] for line in listed if "\tLokale Politie Antwerpen\t" in line)
    other = next(line.split("\t")[0] for line in listed if "\tGhapro\t" in line)
    client_id = f"police-rms-{uuid.uuid4().hex[:6]}"
    added = hub(
        "client", "add", "--id", client_id, "--org", org, "--roles", "police_officer",
        "--purposes", "inspection", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    secret = re.search(r"client_secret=(\S+)", added.stdout)
    assert secret is not None
    return Partner(env, client_id, secret.group(1), policy_dir, key, org, other)


def _example(partner: Partner, script: str, *args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=_example_env(partner),
        capture_output=True,
        text=True,
        timeout=RUN_S,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _example_env(partner: Partner) -> dict[str, str]:
    return {**partner.env, "HUB_CLIENT_ID": partner.client_id, "HUB_CLIENT_SECRET": partner.secret}


def _started(partner: Partner, script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603
        [sys.executable, str(EXAMPLES / script), *args],
        env=_example_env(partner),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _finished(proc: subprocess.Popen[str]) -> list[str]:
    try:
        out, err = proc.communicate(timeout=RUN_S)
    finally:
        if proc.poll() is None:
            proc.kill()  # the process we started, by its PID
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out.splitlines()


def _token(base: str, partner: Partner) -> str:
    r = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.secret),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _gql(base: str, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    r = httpx.post(
        f"{base}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": "inspection"},
        timeout=30,
    )
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


def _subscribed(base: str, count: int = 1) -> None:
    """Wait until this replica holds `count` live subscriptions (its own gauge)."""

    def live() -> bool:
        text = httpx.get(f"{base}/metrics", timeout=5).text
        found = re.search(r"^hub_subscriptions_open (\S+)$", text, re.M)
        return found is not None and float(found.group(1)) >= count

    wait_for(live, 30, "the example's subscription")


ALL_SHIFTS = """query($after: String) { shifts(first: 100, after: $after) {
  edges { node { id premises { id } } } pageInfo { hasNextPage endCursor } } }"""

RECORD = """mutation($input: InspectionInput!) { recordInspection(input: $input) {
  id premises { id } } }"""


def _all_shifts(base: str, token: str) -> list[dict[str, Any]]:
    nodes, after = [], None
    for _ in range(100):
        page = _gql(base, token, ALL_SHIFTS, {"after": after})["shifts"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more than 100 pages")


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, templates: Templates) -> Iterator[str]:
    require_backend(request.param)
    url = templates.new_url(request.param)
    try:
        yield url
    finally:
        templates.drop(url)


def test_the_graphql_client_pages_through_shifts_and_follows_events(
    database: str, tmp_path: Path
) -> None:
    partner = _partner(database, tmp_path)
    with serving(partner.env, tmp_path / "serve.log") as base:
        hub_args = ("--hub", base, "--purpose", "inspection")
        lines = _example(partner, "graphql_client.py", "shifts", *hub_args, "--page-size", "7")
        shifts = [json.loads(line) for line in lines]
        token = _token(base, partner)
        expected = _all_shifts(base, token)
        assert len(expected) > 7  # so the example had to follow a cursor
        assert [s["id"] for s in shifts] == [s["id"] for s in expected]
        assert [s["premises"]["id"] for s in shifts] == [s["premises"]["id"] for s in expected]

        follower = _started(
            partner, "graphql_client.py", "events", *hub_args,
            "--types", INSPECTION, "--max-events", "1", "--timeout", "60",
        )  # fmt: skip
        try:
            _subscribed(base)
            premises = expected[0]["premises"]["id"]
            recorded = _gql(
                base,
                token,
                RECORD,
                {
                    "input": {
                        "branch": "WINDOW",
                        "occurredAt": "2026-11-30T21:00:00+00:00",
                        "outcome": "WARNING",
                        "personsChecked": 2,
                        "premisesId": premises,
                    }
                },
            )["recordInspection"]
        finally:
            events = [json.loads(line) for line in _finished(follower)]
    assert len(events) == 1
    event = events[0]
    assert event["type"] == INSPECTION and event["purpose"] == "inspection"
    assert event["subject"] == recorded["id"]
    assert event["data"]["id"] == recorded["id"]
    assert event["data"]["premisesId"] == premises == recorded["premises"]["id"]
    assert event["data"]["personsChecked"] == 2
    for held in (event["subject"], premises, shifts[0]["id"]):
        partner.assert_sealed(held)


@pytest.mark.kafka
def test_the_kafka_partner_sends_an_inspection_and_reads_it_back(
    database: str,
    tmp_path: Path,
    kafka_broker: Broker,  # noqa: F811
) -> None:
    partner = _partner(
        database,
        tmp_path,
        HUB_KAFKA_BOOTSTRAP=kafka_broker.bootstrap,
        HUB_KAFKA_IDEMPOTENCE="false",  # the test broker has no idempotent producer
        HUB_KAFKA_SESSION_TIMEOUT_MS="2000",
    )
    topics = [f"partner.{partner.key}.events", f"partner.{partner.key}.inbox"]
    asyncio.run(create_topics(kafka_broker.bootstrap, topics))
    kafka = ("--bootstrap", kafka_broker.bootstrap, "--partner", partner.key)
    with serving(partner.env, tmp_path / "serve.log") as base:
        hub_args = ("--hub", base, "--purpose", "inspection")
        # The premises id as this partner received it, from its GraphQL answers.
        first = _example(partner, "graphql_client.py", "shifts", *hub_args, "--page-size", "1")
        premises = json.loads(first[0])["premises"]["id"]

        follower = _started(
            partner, "graphql_client.py", "events", *hub_args,
            "--types", INSPECTION, "--max-events", "1", "--timeout", "60",
        )  # fmt: skip
        consumer = _started(
            partner, "kafka_partner.py", "consume", *kafka,
            "--group", f"rms-{uuid.uuid4().hex[:6]}", "--max-events", "1", "--timeout", "60",
        )  # fmt: skip
        try:
            _subscribed(base)
            sent = _example(
                partner, "kafka_partner.py", "send-inspection", *kafka, "--no-idempotence",
                "--branch", "window", "--outcome", "pv", "--persons-checked", "3",
                f"--premises-id={premises}",  # a sealed id may start with "-"
            )  # fmt: skip
            assert json.loads(sent[0])["type"] == INSPECTION
            received = [json.loads(line) for line in _finished(consumer)]
            followed = [json.loads(line) for line in _finished(follower)]
        finally:
            for proc in (consumer, follower):
                if proc.poll() is None:
                    proc.kill()  # the processes we started, by their PIDs
                    proc.communicate(timeout=10)
        token = _token(base, partner)
        inspections = _gql(
            base,
            token,
            "{ inspections(first: 100) { edges { node { id outcome premises { id } } } } }",
        )["inspections"]["edges"]

    assert len(received) == 1
    event = received[0]
    assert event["type"] == INSPECTION and event["specversion"] == "1.0"
    assert event["data"]["premisesId"] == premises
    assert event["data"]["personsChecked"] == 3 and event["data"]["outcome"] == "pv"
    # One id for the new inspection, wherever this partner meets it.
    assert [e["subject"] for e in followed] == [event["subject"]]
    mine = [e["node"] for e in inspections if e["node"]["id"] == event["subject"]]
    assert mine == [{"id": event["subject"], "outcome": "PV", "premises": {"id": premises}}]
    for held in (event["subject"], premises):
        partner.assert_sealed(held)
