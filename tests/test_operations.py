"""Operations through the real app: /metrics, /health and /ready, request ids, the request
log line (and what it must never carry), OTLP traces to a loopback receiver, and `hub
serve`'s own logging in place of uvicorn's access log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from hub.app import create_app
from hub.auth.clients import register_client
from hub.config import Settings
from hub.observability.logs import JsonFormatter
from hub.observability.metrics import MAX_OPERATIONS, Metrics
from tests.conftest import (
    BACKENDS,
    ROOT,
    SHIFTS_Q,
    Hub,
    Templates,
    _pg_exec,
    _seed,
    require_backend,
)
from tests.kafka_broker import Broker, event_bytes, produce
from tests.test_kafka import POLICE_INBOX, _inspect_via_graphql, _inspection_event, kafka_broker
from tests.test_kafka import _instance as kafka_instance
from tests.test_kafka import _settings as kafka_settings
from tests.test_subscriptions import EVENTS, PROTOCOL, _connect, _subscribe

# The Tansu broker fixture of tests/test_kafka.py, re-exported so this module can use it.
__all__ = ["kafka_broker"]

POLICE = "demo-police-antwerp"
SHIFTS = SHIFTS_Q.replace("query(", "query ShiftsWithIdentities(", 1)
CARE = "query CareContacts { careContacts(first: 1) { edges { node { id } } } }"
FAMILIES = {
    "hub_http_requests",
    "hub_http_request_duration_seconds",
    "hub_graphql_requests",
    "hub_graphql_request_duration_seconds",
    "hub_policy_refusals",
    "hub_audit_commit_seconds",
    "hub_audit_batch_entries",
    "hub_audit_write_failures",
    "hub_outbox_pending_events",
    "hub_outbox_oldest_pending_age_seconds",
    "hub_outbox_published",
    "hub_relay_failures",
    "hub_kafka_consumer_lag_messages",
    "hub_dead_letters",
    "hub_subscriptions_open",
    "hub_websocket_connections",
}


def _wait(predicate: Any, seconds: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Scrape:
    """One /metrics answer, parsed."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(self, sample: str, **labels: str) -> float:
        """A sample's value (0 if the series does not exist yet)."""
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return 0.0


def scrape(hub: Hub, **headers: str) -> Scrape:
    r = hub.client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return Scrape(r.text)


def _post(hub: Hub, query: str, *, client: str, purpose: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {hub.token(client)}", "Hub-Purpose": purpose}
    headers.update(kw.pop("headers", {}))
    return hub.client.post("/graphql", json={"query": query, **kw}, headers=headers)


# --- /metrics ------------------------------------------------------------------------------


def test_metrics_expose_every_family_and_count_a_request_and_a_refusal(hub: Hub) -> None:
    before = scrape(hub)
    assert set(before.families) >= FAMILIES, FAMILIES - set(before.families)

    ok = _post(hub, SHIFTS, client=POLICE, purpose="identity_validation")
    assert ok.status_code == 200 and "errors" not in ok.json()
    refused = _post(hub, CARE, client=POLICE, purpose="inspection")
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    door = hub.client.post("/graphql", json={"query": "{ __typename }"})
    assert door.status_code == 401

    after = scrape(hub)

    def delta(sample: str, **labels: str) -> float:
        return after.value(sample, **labels) - before.value(sample, **labels)

    ops = "hub_graphql_requests_total"
    assert delta(ops, operation="ShiftsWithIdentities", outcome="OK") == 1
    assert delta(ops, operation="CareContacts", outcome="FORBIDDEN") == 1
    assert delta(ops, operation="unknown", outcome="UNAUTHENTICATED") == 1
    latency = "hub_graphql_request_duration_seconds_count"
    assert delta(latency, operation="ShiftsWithIdentities") == 1
    refusals = "hub_policy_refusals_total"
    assert delta(refusals, resource="CareContact", code="FORBIDDEN") == 1
    assert delta(refusals, resource="authenticate", code="UNAUTHENTICATED") == 1
    # The identity read and both refusals went through the access log's group commit.
    assert delta("hub_audit_batch_entries_sum") >= 3
    assert delta("hub_audit_commit_seconds_count") >= 1
    assert delta("hub_http_requests_total", route="/graphql", method="POST", status="200") == 2
    # Embedded mode: the outbox tail keeps up; no broker, so no consumer lag series.
    assert after.value("hub_outbox_pending_events") == 0
    assert not after.families["hub_kafka_consumer_lag_messages"].samples


def test_operation_names_are_bounded(hub: Hub) -> None:
    long_name = "Q" * 65
    r = _post(
        hub,
        f"query {long_name} {{ __typename }}",
        client=POLICE,
        purpose="inspection",
        operationName=long_name,
    )
    assert r.status_code == 200
    s = scrape(hub)
    assert s.value("hub_graphql_requests_total", operation="other", outcome="OK") == 1
    assert long_name not in hub.client.get("/metrics").text

    # The cap on distinct names (the label logic alone: 100 requests would prove no more).
    metrics = Metrics()
    for i in range(MAX_OPERATIONS + 5):
        metrics.observe_request(
            route="/graphql", method="POST", status=200, seconds=0.01, operation=f"Op{i}"
        )
    names = {
        sample.labels["operation"]
        for family in metrics.registry.collect()
        if family.name == "hub_graphql_requests"
        for sample in family.samples
    }
    assert len(names) == MAX_OPERATIONS + 1 and "other" in names


def test_open_subscriptions_and_websockets_are_gauged(hub: Hub) -> None:
    def gauges() -> tuple[float, float]:
        s = scrape(hub)
        return s.value("hub_subscriptions_open"), s.value("hub_websocket_connections")

    assert gauges() == (0, 0)
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, hub.token(POLICE), "inspection")
        _subscribe(ws, EVENTS)
        _wait(lambda: gauges() == (1, 1), what="the subscription to be counted")
    _wait(lambda: gauges() == (0, 0), what="the closed connection to be uncounted")


def test_metrics_token_when_set(templates: Templates, tmp_path: Path) -> None:
    url = templates.new_url("sqlite")
    app = create_app(_settings(url, tmp_path, metrics_token="scrape-secret"))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert good.status_code == 200 and "hub_graphql_requests" in good.text


# --- /health and /ready ----------------------------------------------------------------------


def test_health_and_ready_on_a_healthy_app(hub: Hub) -> None:
    assert hub.client.get("/health").json()["status"] == "ok"
    r = hub.client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "policy": "ok"}}


def _settings(url: str, tmp: Path, **kw: Any) -> Settings:
    return Settings(
        database_url=url,
        secret_dir=tmp / "secrets",
        policy_dir=ROOT / "policies",
        issuer_url="http://127.0.0.1:8000",
        **kw,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_ready_is_503_naming_the_database_when_it_is_unreachable(
    backend: str, tmp_path: Path
) -> None:
    require_backend(backend)
    url = (
        f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/hub.db"
        if backend == "sqlite"
        else "postgresql+asyncpg://hub:pw-not-to-show@127.0.0.1:1/none"
    )
    app = create_app(_settings(url, tmp_path))
    # Without the lifespan: it would refuse to start on this database at all.
    client = TestClient(app)
    r = client.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["checks"]["database"] == "failed"
    assert body["checks"]["policy"] == "not loaded"
    assert body["failing"] == ["database", "policy"]
    assert "pw-not-to-show" not in r.text and "no/such" not in r.text
    assert client.get("/health").status_code == 200  # alive all the same


def test_ready_notices_a_database_that_goes_away(templates: Templates, tmp_path: Path) -> None:
    require_backend("postgresql")
    url = templates.new_url("postgresql")
    try:
        with TestClient(create_app(_settings(url, tmp_path))) as client:
            assert client.get("/ready").status_code == 200
            name = url.rsplit("/", 1)[1]
            asyncio.run(_pg_exec(f"DROP DATABASE {name} WITH (FORCE)"))
            r = client.get("/ready")
            assert r.status_code == 503
            assert r.json()["failing"] == ["database"]
    finally:
        templates.drop(url)


# --- request ids and the request log line ------------------------------------------------------


def test_request_id_is_taken_echoed_or_made(hub: Hub) -> None:
    given = hub.client.get("/health", headers={"X-Request-ID": "lb-7f3a.42"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.42"
    made = hub.client.get("/health")
    other = hub.client.get("/health")
    assert len(made.headers["X-Request-ID"]) == 32
    assert made.headers["X-Request-ID"] != other.headers["X-Request-ID"]
    insane = hub.client.get("/health", headers={"X-Request-ID": 'a b"<script>' + "x" * 200})
    assert insane.headers["X-Request-ID"] not in ("", 'a b"<script>' + "x" * 200)
    assert len(insane.headers["X-Request-ID"]) == 32
    refused = hub.client.post("/graphql", json={}, headers={"X-Request-ID": "door-1"})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "door-1"


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line the app writes meanwhile, as the JSON formatter writes it (not the
    test client's own httpx lines, which show the URL it was asked to call)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _personal_values(data: dict[str, Any]) -> set[str]:
    values = set()
    for edge in data["shifts"]["edges"]:
        worker = edge["node"]["sexWorker"]
        identity = (worker or {}).get("identity") or {}
        for key in ("legalName", "documentNumber", "birthDate"):
            if identity.get(key):
                values.add(str(identity[key]))
    return values


def test_the_request_log_line_names_the_request_and_never_what_it_read(hub: Hub) -> None:
    token = hub.token(POLICE)
    with captured_logs() as out:
        r = hub.client.post(
            "/graphql?access_token=QUERYSTRINGSECRET&name=x",
            json={"query": SHIFTS, "variables": {"first": 20}},
            headers={
                "Authorization": f"Bearer {token}",
                "Hub-Purpose": "identity_validation",
                "X-Request-ID": "req-identity-1",
            },
        )
        assert r.status_code == 200 and "errors" not in r.json()
    personal = _personal_values(r.json()["data"])
    assert personal, "the demo must give the police identities to read"
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    (line,) = [x for x in lines if x["logger"] == "hub.request"]
    assert line["level"] == "INFO"
    assert line["request_id"] == "req-identity-1"
    assert line["method"] == "POST" and line["path"] == "/graphql" and line["status"] == 200
    assert line["client_id"] == POLICE
    assert line["purpose"] == "identity_validation"
    assert line["operation"] == "ShiftsWithIdentities" and line["outcome"] == "OK"
    assert isinstance(line["latency_ms"], float) and line["latency_ms"] > 0
    assert {"time", "message"} <= set(line) and "trace_id" not in line  # no tracing here
    for forbidden in (token, "QUERYSTRINGSECRET", "access_token", "Bearer", *personal):
        assert forbidden not in text, forbidden
    assert "authorization" not in text.lower()


def test_hub_log_lines_written_during_a_request_carry_its_id(hub: Hub) -> None:
    """The issuer logs each token it issues: that line names the request it was written in,
    a line written outside any request names none, and neither the client secret nor the
    issued token is in any line."""
    assert hub.demo is not None

    async def register() -> str:
        async with hub.db.session() as session:
            return await register_client(
                session,
                client_id="ops-probe",
                organisation_id=hub.demo.organisation_ids["antwerp_police"],
                roles=["police_officer"],
                purposes=["inspection"],
            )

    secret = hub.run(register())
    with captured_logs() as out:
        r = hub.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("ops-probe", secret),
            headers={"X-Request-ID": "token-req-1"},
        )
        assert r.status_code == 200
        logging.getLogger("hub.test").info("between requests")
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    issued = [x for x in lines if x["logger"] == "hub.auth.issuer"]
    assert issued and all(x["request_id"] == "token-req-1" for x in issued)
    between = next(x for x in lines if x["message"] == "between requests")
    assert "request_id" not in between
    assert secret not in text and r.json()["access_token"] not in text


# --- traces ----------------------------------------------------------------------------------


class Receiver:
    """An OTLP/HTTP trace receiver on loopback: keeps each POSTed protobuf body."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(size)
                receiver.paths.append(self.path)
                receiver.bodies.append(body)
                receiver.got.set()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def spans(self) -> list[Any]:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        out = []
        for body in self.bodies:
            req = ExportTraceServiceRequest()
            req.ParseFromString(body)
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    out.extend(ss.spans)
        return out


def _attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = v.string_value or v.int_value or v.bool_value
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_traces_reach_an_otlp_receiver(backend: str, templates: Templates, tmp_path: Path) -> None:
    require_backend(backend)
    trace_id = uuid.uuid4().hex
    parent_id = uuid.uuid4().hex[:16]
    url = templates.new_url(backend)
    try:
        with Receiver() as receiver:
            app = create_app(_settings(url, tmp_path, otlp_endpoint=receiver.endpoint))
            assert app.state.tracing is not None
            with TestClient(app) as client:
                hub = Hub(backend, url, client, app)
                hub.demo = hub.run(_seed(hub))
                token = hub.token(POLICE)
                r = _post(
                    hub,
                    SHIFTS,
                    client=POLICE,
                    purpose="identity_validation",
                    variables={"first": 5},
                    headers={
                        "traceparent": f"00-{trace_id}-{parent_id}-01",
                        "X-Request-ID": "traced-1",
                    },
                )
                assert r.status_code == 200 and "errors" not in r.json()
                personal = _personal_values(r.json()["data"])
            # Leaving the app shuts its tracer provider down, which exports what is queued.
            assert receiver.got.wait(10), "no trace export arrived"
            spans = receiver.spans()
            raw = b"".join(receiver.bodies)
        assert set(receiver.paths) == {"/v1/traces"}
    finally:
        templates.drop(url)

    mine = [s for s in spans if s.trace_id.hex() == trace_id]
    (server,) = [s for s in mine if s.name == "POST /graphql"]
    assert server.parent_span_id.hex() == parent_id  # continues the caller's trace
    attrs = _attrs(server)
    assert attrs["hub.request_id"] == "traced-1"
    assert attrs["http.route"] == "/graphql" and attrs["http.response.status_code"] == 200
    (operation,) = [s for s in mine if s.name == "graphql query ShiftsWithIdentities"]
    assert operation.parent_span_id == server.span_id
    statements = [s for s in mine if s.parent_span_id == operation.span_id]
    assert any(s.name == "SELECT" for s in statements)
    # The access log's writer serves every request: its statements are not in this trace.
    assert any(s.name == "INSERT" for s in spans)
    assert not any(s.name == "INSERT" for s in mine)
    for forbidden in (token, *personal):
        assert forbidden.encode() not in raw


# --- `hub serve` ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hub_serve_writes_json_lines_and_no_access_log(tmp_path: Path) -> None:
    import httpx

    port = _free_port()
    env = {
        **os.environ,
        "HUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/hub.db",
        "HUB_SECRET_DIR": str(tmp_path / "secrets"),
        "HUB_POLICY_DIR": str(ROOT / "policies"),
        "HUB_LOG_FORMAT": "json",
        "HUB_LOG_LEVEL": "INFO",
    }
    env.pop("HUB_OTLP_ENDPOINT", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=tmp_path,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"hub serve exited: {log_path.read_text()}")
            try:
                return httpx.get(f"{base}/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, seconds=60, what="hub serve to be ready")
        r = httpx.post(
            f"{base}/graphql?access_token=SERVE-SECRET",
            json={"query": "{ __typename }"},
            headers={"X-Request-ID": "serve-1", "Authorization": "Bearer NOT-A-REAL-TOKEN"},
            timeout=5,
        )
        assert r.status_code == 401 and r.headers["x-request-id"] == "serve-1"
        _wait(lambda: "serve-1" in log_path.read_text(), what="the request's log line")
    finally:
        proc.terminate()  # the process we started, by its PID
        proc.wait(timeout=20)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    (line,) = [x for x in lines if x.get("request_id") == "serve-1"]
    assert line["logger"] == "hub.request" and line["path"] == "/graphql"
    assert line["status"] == 401 and line["outcome"] == "UNAUTHENTICATED"
    assert not [x for x in lines if x["logger"] == "uvicorn.access"]
    assert "SERVE-SECRET" not in text and "NOT-A-REAL-TOKEN" not in text


# --- Kafka mode ------------------------------------------------------------------------------


@pytest.fixture
def kafka_hub(templates: Templates, tmp_path: Path, kafka_broker: Broker) -> Iterator[Hub]:
    """A hub in Kafka mode (SQLite: the broker side is what is tested here), connectors
    inline and ready."""
    url = templates.new_url("sqlite")
    try:
        with kafka_instance(kafka_settings(url, tmp_path / "secrets", kafka_broker)) as hub:
            hub.demo = hub.run(_seed(hub))
            yield hub
    finally:
        templates.drop(url)


@pytest.mark.kafka
def test_kafka_mode_metrics_and_readiness(kafka_hub: Hub, kafka_broker: Broker) -> None:
    hub = kafka_hub
    ready = hub.client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "policy": "ok", "kafka": "ok"}
    s = scrape(hub)
    lags = {
        (x.labels["consumer"], x.labels["topic"]): x.value
        for x in s.families["hub_kafka_consumer_lag_messages"].samples
    }
    assert lags.get(("feed", "hub.events")) == 0
    assert lags.get(("inbound", POLICE_INBOX)) == 0

    # A malformed and an unknown event on the police inbox: two dead letters by reason.
    unknown = _inspection_event()
    unknown["type"] = "be.hub.premises.demolished.v1"
    consumer = next(c for c in hub.app.state.connectors.inbound if c.topic == POLICE_INBOX)
    before = consumer.dead_lettered
    hub.run(
        produce(
            kafka_broker.bootstrap,
            POLICE_INBOX,
            [b"{not json", event_bytes(unknown)],
            key=b"ops-1",
        )
    )
    _wait(lambda: consumer.dead_lettered == before + 2, seconds=20, what="two dead letters")
    s = scrape(hub)
    assert s.value("hub_dead_letters_total", reason="malformed") >= 1
    assert s.value("hub_dead_letters_total", reason="unknown_type") >= 1

    # A mutation's event is published by the relay: the outbox drains.
    published = s.value("hub_outbox_published_total")
    _inspect_via_graphql(hub)

    def drained() -> bool:
        now = scrape(hub)
        return (
            now.value("hub_outbox_published_total") > published
            and now.value("hub_outbox_pending_events") == 0
        )

    _wait(drained, seconds=20, what="the relay to publish the inspection")

    # The broker goes away: not ready, naming Kafka; back: ready again.
    kafka_broker.stop()
    try:
        r = hub.client.get("/ready")
        assert r.status_code == 503
        assert r.json()["failing"] == ["kafka"]
    finally:
        kafka_broker.start()
    _wait(lambda: hub.client.get("/ready").status_code == 200, seconds=30, what="ready again")


def test_a_request_refused_for_lack_of_capacity_is_counted_as_rate_limited(hub: Hub) -> None:
    """A 503 from the read gate is RATE_LIMITED in the metrics, not INTERNAL."""
    from hub.read.gate import ReadGate

    endpoint = next(r.endpoint for r in hub.app.routes if getattr(r, "path", "") == "/graphql")
    before = scrape(hub)
    saved = endpoint.gate
    endpoint.gate = ReadGate(0, 1)  # no place, no queue: every request is refused at once
    try:
        r = _post(hub, SHIFTS, client=POLICE, purpose="identity_validation")
    finally:
        endpoint.gate = saved
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    after = scrape(hub)
    ops = "hub_graphql_requests_total"
    refused = after.value(ops, operation="unknown", outcome="RATE_LIMITED")
    assert refused - before.value(ops, operation="unknown", outcome="RATE_LIMITED") == 1
    assert after.value(ops, operation="unknown", outcome="INTERNAL") == before.value(
        ops, operation="unknown", outcome="INTERNAL"
    )
