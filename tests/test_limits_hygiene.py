"""Unlinkable views and clean logs, on both backends.

- A property test (hypothesis): for any two clients of different audiences and any read
  they both may make, no id value (ids, references, cursors) appears in both views.
- A log-hygiene test over a representative run (token issue, reads of identities,
  registration, refusals, malformed requests, a subscription): no log line holds a demo
  identity value, a working name or a token.
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.websockets import WebSocketDisconnect

from hub.demo_clients import DEMO_CLIENTS
from hub.observability.logs import JsonFormatter
from tests.conftest import SHIFTS_Q

CLIENTS = {c.client_id: c for c in DEMO_CLIENTS}
POLICE = "demo-police-antwerp"

# Reads, each with the purpose it is made for; every client tries each one.
READS = [
    ("{ me { organisationId sexWorkerId } }", None),
    ("{ organisations { id } }", None),
    (SHIFTS_Q, "inspection"),
    (SHIFTS_Q, "identity_validation"),
    ("{ premises(first: 20) { edges { cursor node { id operator { id } } } } }", "inspection"),
    ("{ premises(first: 20) { edges { node { id } } } }", "licensing"),
    ("{ premises(first: 20) { edges { node { id } } } }", "self_service"),
    (
        "{ inspections(first: 20) { edges { node { id premises { id } } } "
        "pageInfo { endCursor } } }",
        "inspection",
    ),
    ("{ alerts(activeOnly: false) { id issuedBy { id } } }", "safety_alerting"),
    ("{ careContacts(first: 20) { edges { node { id } } } }", "care"),
    ("{ shifts(first: 20) { edges { node { id sexWorkerId premises { id } } } } }", "licensing"),
    ("{ myAccessLog(first: 10) { edges { node { id } } } }", "self_service"),
]


def _ids(value: Any, key: str = "") -> set[str]:
    """Every id-like value of an answer: ids, references to records, cursors."""
    if isinstance(value, dict):
        return set().union(*(_ids(v, k) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_ids(v, key) for v in value))
    idish = key in ("id", "recordIds", "cursor", "endCursor") or key.endswith("Id")
    return {value} if idish and isinstance(value, str) and value else set()


def _view(hub: Any, client: str, purposes: tuple[str | None, ...]) -> set[str]:
    """All id values `client` sees through the reads it may make."""
    seen: set[str] = set()
    for query, purpose in READS:
        if purpose is not None and purpose not in purposes:
            continue
        body = hub.gql(query, as_=client, purpose=purpose, sealed=True)
        seen |= _ids(body.get("data"))
    return seen


@pytest.fixture(scope="module")
def views(demo_hub) -> dict[str, set[str]]:
    """Each demo client's view, read once (the property test draws pairs from them)."""
    return {c.client_id: _view(demo_hub, c.client_id, tuple(c.purposes)) for c in DEMO_CLIENTS}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pair=st.lists(st.sampled_from(sorted(CLIENTS)), min_size=2, max_size=2, unique=True))
def test_no_id_value_appears_in_the_views_of_two_organisations(demo_hub, views, pair):
    a, b = pair
    if demo_hub.audience(a) == demo_hub.audience(b):
        return  # two clients of one organisation share its ids by design
    assert views[a] and views[b]
    assert not views[a] & views[b], f"{a} and {b} both see {sorted(views[a] & views[b])[:3]}"


def test_the_views_are_not_empty(demo_hub, views):
    """The property above is not vacuous: most clients see many ids."""
    assert sum(len(v) > 10 for v in views.values()) >= 6, {k: len(v) for k, v in views.items()}


# --- log hygiene -----------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    root = logging.getLogger()
    capture = _Capture()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture.lines
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


REGISTER = """mutation($input: RegisterSexWorkerInput!) {
  registerSexWorker(input: $input) { id workingName identity { legalName documentNumber } } }"""


def test_no_log_line_holds_an_identity_a_working_name_or_a_token(hub, log_lines):
    secrets: set[str] = set()
    # Tokens: minted, sent, refused.
    for client in (POLICE, "demo-ngo-ghapro", "demo-worker", "demo-enforcement-antwerp"):
        token = hub.token(client)
        secrets |= {token, token.split(".")[2]}
    r = hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("demo-police-antwerp", "not-the-secret"),
    )
    assert r.status_code in (400, 401)
    # Identities and working names, read at identity validation.
    data = hub.ok(SHIFTS_Q, {"first": 50}, as_=POLICE, purpose="identity_validation")
    for edge in data["shifts"]["edges"]:
        worker = edge["node"]["sexWorker"]
        secrets.add(worker["workingName"])
        identity = worker["identity"] or {}
        secrets |= {identity.get("legalName"), identity.get("documentNumber")} - {None}
    # A registration, and the same values sent where they are refused.
    registration = {
        "workingName": "Zephyrine Lux",
        "legalName": "Maelle Oostvogels-Dubrulle",
        "birthDate": date(1994, 5, 17).isoformat(),
        "nationality": "be",
        "documentNumber": "qk-5521-zt",
        "languages": ["nl"],
    }
    secrets |= {"Zephyrine Lux", "Maelle Oostvogels-Dubrulle", "QK-5521-ZT", "qk-5521-zt"}
    hub.ok(REGISTER, {"input": registration}, as_=POLICE, purpose="identity_validation")
    refused = dict(registration, legalName="Maelle Oostvogels-Dubrulle\u202e")
    hub.gql(REGISTER, {"input": refused}, as_=POLICE, purpose="identity_validation")
    hub.gql(REGISTER, {"input": registration}, as_="demo-city-antwerp", purpose="licensing")
    hub.gql(
        "query($b: Branch) { inspections(branch: $b) { edges { node { id } } } }",
        {"b": "Maelle Oostvogels-Dubrulle"},
        as_=POLICE,
        purpose="inspection",
    )
    hub.client.post(
        "/graphql",
        content=b'{"query": "Maelle Oostvogels-Dubrulle',
        headers={
            "Authorization": f"Bearer {hub.token(POLICE)}",
            "Content-Type": "application/json",
        },
    )
    hub.client.post(
        "/graphql",
        json={"query": "{ me { city } }"},
        headers={"Authorization": "Bearer " + hub.token(POLICE)[:-4] + "AAAA"},
    )
    # A subscription that sees an event, and a connection refused.
    with hub.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {hub.token('demo-enforcement-antwerp')}"},
            }
        )
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            assert pool.submit(ws.receive_json).result(timeout=5)["type"] == "connection_ack"
    with hub.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer x.y.z"}})
        with concurrent.futures.ThreadPoolExecutor(1) as pool, pytest.raises(WebSocketDisconnect):
            pool.submit(ws.receive_json).result(timeout=5)

    assert len(secrets) > 20
    assert len(log_lines) > 10, "the run logged nothing: the capture is broken"
    # As whole words ("Eva" is not in "evaluate"), in the lines as written (JSON).
    spellings = {w for v in secrets for w in (v, json.dumps(v)[1:-1])}
    found = [re.compile(rf"(?<![\w]){re.escape(w)}(?![\w])") for w in spellings]
    leaks = [(f.pattern, line) for line in log_lines for f in found if f.search(line)]
    assert not leaks, leaks[:3]
