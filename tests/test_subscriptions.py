"""Subscriptions over graphql-transport-ws, in embedded mode (the outbox feeds them)."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub.app import create_app
from hub.models import ShiftRegistration

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = "graphql-transport-ws"
EVENTS = "subscription($t: [String!]) { events(types: $t) { id type subject purpose data } }"


def _recv(ws: Any, seconds: float = 5.0) -> dict[str, Any]:
    """Receive one message, or fail after `seconds` (never hang the suite)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ws.receive_json).result(timeout=seconds)


def _connect(ws: Any, token: str, purpose: str | None = None) -> None:
    payload = {"authorization": f"Bearer {token}"}
    if purpose:
        payload["purpose"] = purpose
    ws.send_json({"type": "connection_init", "payload": payload})
    assert _recv(ws)["type"] == "connection_ack"


def _subscribe(ws: Any, query: str, variables: dict[str, Any] | None = None, op: str = "1"):
    ws.send_json(
        {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}
    )


def _next(ws: Any) -> dict[str, Any]:
    msg = _recv(ws)
    assert msg["type"] == "next", msg
    return msg["payload"]


def _inspect(hub, **extra) -> str:
    q = """mutation($t: DateTime!) { recordInspection(input: {branch: WINDOW, outcome: NONE,
        occurredAt: $t, personsChecked: 3}) { id } }"""
    t = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return hub.ok(q, {"t": t}, as_="demo-police-antwerp", purpose="inspection")["recordInspection"][
        "id"
    ]


def test_connection_needs_a_valid_token_first(hub):
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws)
        assert exc.value.code == 4403


def test_subscribe_before_init_is_refused(hub):
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _subscribe(ws, EVENTS)
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws)
        assert exc.value.code == 4401


def test_legacy_graphql_ws_protocol_is_off(hub):
    with (
        pytest.raises(WebSocketDisconnect),
        hub.client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws,
    ):
        _recv(ws)


def test_city_receives_an_inspection_projected_for_its_role(hub):
    token = hub.token("demo-enforcement-antwerp")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token)
        _subscribe(ws, EVENTS, {"t": ["be.hub.inspection.recorded.v1"]})
        made = _inspect(hub)
        event = _next(ws)["data"]["events"]
        assert (
            event["type"] == "be.hub.inspection.recorded.v1"
            and hub.unseal(event["subject"], as_="demo-enforcement-antwerp") == made
        )
        assert event["purpose"] == "inspection"
        data = event["data"]
        assert data["personsChecked"] == 3 and data["branch"] == "window"
        assert data["city"] == "Antwerpen"
        assert not {k for k in data if "identity" in k.lower()}


def test_events_a_subscriber_may_not_see_are_dropped(hub):
    """Ghent police see no Antwerp inspection; the next event they may see arrives first."""
    token = hub.token("demo-police-ghent")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token, purpose="inspection")
        _subscribe(ws, EVENTS, {"t": ["be.hub.inspection.recorded.v1"]})
        _inspect(hub)  # Antwerp: not for Ghent
        q = """mutation($t: DateTime!) { recordInspection(input: {branch: STREET, outcome: PV,
            occurredAt: $t, personsChecked: 1}) { id } }"""
        t = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        ghent = hub.ok(q, {"t": t}, as_="demo-police-ghent", purpose="inspection")[
            "recordInspection"
        ]["id"]
        assert hub.unseal(_next(ws)["data"]["events"]["subject"], as_="demo-police-ghent") == ghent


def _future_shifts_of_the_worker(hub) -> list[str]:
    me = hub.demo.sex_worker_ids[0]

    async def load() -> list[str]:
        async with hub.db.session() as s:
            stmt = (
                select(ShiftRegistration.id)
                .where(
                    ShiftRegistration.sex_worker_id == me,
                    ShiftRegistration.status == "registered",
                    ShiftRegistration.starts_at > datetime.now(UTC),
                )
                .order_by(ShiftRegistration.starts_at)
            )
            return [str(i) for i in (await s.execute(stmt)).scalars()]

    return hub.run(load())


def test_a_consent_revoked_during_a_subscription_stops_the_next_event(hub):
    ghapro = hub.demo.organisation_ids["ghapro"]
    mine = hub.ok("{ myConsents { id purpose revokedAt grantee { id } } }", as_="demo-worker")
    for c in mine["myConsents"]:
        if c["grantee"]["id"] == ghapro and c["revokedAt"] is None:
            hub.ok(
                "mutation($id: ID!) { revokeConsent(id: $id) { id } }",
                {"id": c["id"]},
                as_="demo-worker",
            )
    consent = hub.ok(
        """mutation($g: ID!) { grantConsent(input: {granteeId: $g,
        purpose: "care"}) { id } }""",
        {"g": ghapro},
        as_="demo-worker",
    )["grantConsent"]["id"]
    shifts = _future_shifts_of_the_worker(hub)
    assert len(shifts) >= 2
    cancel = "mutation($id: ID!) { cancelShift(id: $id) { id status } }"
    token = hub.token("demo-ngo-ghapro")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token, purpose="care")
        _subscribe(
            ws, EVENTS, {"t": ["be.hub.shift.cancelled.v1", "be.hub.care_contact.recorded.v1"]}
        )
        hub.ok(cancel, {"id": shifts[0]}, as_="demo-worker")
        seen = _next(ws)["data"]["events"]
        assert hub.unseal(seen["subject"], as_="demo-ngo-ghapro") == shifts[0]
        assert set(seen["data"]) <= {
            "id",
            "window",
            "premisesId",
            "startsAt",
            "endsAt",
            "status",
            "sexWorkerId",
        }
        # Whose shift: only as the worker's id sealed for the NGO (what its consent shows).
        me = hub.demo.sex_worker_ids[0]
        assert hub.unseal(seen["data"]["sexWorkerId"], as_="demo-ngo-ghapro") == me

        hub.ok(
            "mutation($id: ID!) { revokeConsent(id: $id) { id } }",
            {"id": consent},
            as_="demo-worker",
        )
        hub.ok(cancel, {"id": shifts[1]}, as_="demo-worker")
        # Then an event Ghapro may see: it must be the next one to arrive.
        made = hub.ok(
            """mutation($d: Date!) { recordCareContact(input: {clientRef: "GH-0042",
            contactDate: $d, kind: MEDICAL, location: FIXED, branch: WINDOW}) { id } }""",
            {"d": datetime.now(UTC).date().isoformat()},
            as_="demo-ngo-ghapro",
            purpose="care",
        )["recordCareContact"]["id"]
        assert hub.unseal(_next(ws)["data"]["events"]["subject"], as_="demo-ngo-ghapro") == made


def test_a_policy_change_applies_to_live_subscriptions_from_the_next_event(hub):
    from tests.test_field_effects import _policies_with

    token = hub.token("demo-enforcement-antwerp")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token)
        _subscribe(ws, EVENTS, {"t": ["be.hub.inspection.recorded.v1"]})
        _inspect(hub)
        assert "personsChecked" in _next(ws)["data"]["events"]["data"]
        text = (
            (ROOT / "policies" / "inspection.yaml")
            .read_text()
            .replace(
                "    roles: [city_enforcement, city_officer]\n    purposes: [enforcement, licensing]\n"
                '    legal_basis: "New Municipality Act art. 119bis: follow-up of police findings"\n'
                "    actions: [read]\n    where: {city: {eq: $principal.city}}\n"
                '    fields: {"*": allow}',
                "    roles: [city_enforcement, city_officer]\n    purposes: [enforcement, licensing]\n"
                '    legal_basis: "New Municipality Act art. 119bis: follow-up of police findings"\n'
                "    actions: [read]\n    where: {city: {eq: $principal.city}}\n"
                '    fields: {"*": allow, persons_checked: deny}',
            )
        )
        assert "persons_checked: deny" in text
        hub.app.state.hub.policies = _policies_with({"inspection.yaml": text})
        _inspect(hub)
        assert "personsChecked" not in _next(ws)["data"]["events"]["data"]


def test_subscriptions_per_connection_are_limited(hub):
    token = hub.token("demo-enforcement-antwerp")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token)
        for i in range(10):
            _subscribe(ws, EVENTS, op=str(i))
        _subscribe(ws, EVENTS, op="10")
        msg = _recv(ws)
        assert msg["id"] == "10", msg
        errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "RATE_LIMITED"


def test_oversized_messages_close_the_connection(hub):
    token = hub.token("demo-enforcement-antwerp")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token)
        ws.send_text("x" * (70 * 1024))
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws)
        assert exc.value.code == 4413


def test_connection_closes_when_its_token_expires(hub):
    async def short() -> str:
        return await hub.app.state.issuer.mint("demo-enforcement-antwerp", lifetime_s=1)

    token = hub.run(short())
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _connect(ws, token)
        _subscribe(ws, EVENTS)
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws, seconds=5)
        assert exc.value.code == 4401


def test_a_subscriber_on_another_replica_receives_the_event(hub):
    replica = create_app(hub.app.state.settings)
    token = hub.token("demo-enforcement-antwerp")
    with (
        TestClient(replica) as second,
        second.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws,
    ):
        _connect(ws, token)
        _subscribe(ws, EVENTS, {"t": ["be.hub.inspection.recorded.v1"]})
        made = _inspect(hub)  # a mutation on the first instance
        seen = _next(ws)["data"]["events"]["subject"]
        assert hub.unseal(seen, as_="demo-enforcement-antwerp") == made


def test_subscribers_of_one_client_share_one_projection_and_no_one_else(hub):
    """Two subscriptions of the city's client cost one projection of an event (one query,
    hub/events/hub.py `shared`); the police's subscription, another receiver, gets its own:
    the same record under the police's seal, with the police's own fields."""
    import time

    events = hub.app.state.hub.events
    city = hub.token("demo-enforcement-antwerp")
    police = hub.token("demo-police-antwerp")
    with (
        hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as a,
        hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as b,
        hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as p,
    ):
        before = events.subscriber_count
        for ws, token, purpose in ((a, city, None), (b, city, None), (p, police, "inspection")):
            _connect(ws, token, purpose)
            _subscribe(ws, EVENTS, {"t": ["be.hub.inspection.recorded.v1"]})
        deadline = time.monotonic() + 10
        while events.subscriber_count < before + 3:  # registered (no acknowledgement)
            assert time.monotonic() < deadline, "the subscriptions were not registered"
            time.sleep(0.01)
        hits = events.shared_hits
        made = _inspect(hub)
        seen_a, seen_b = _next(a)["data"]["events"], _next(b)["data"]["events"]
        seen_p = _next(p)["data"]["events"]
        assert seen_a == seen_b
        assert hub.unseal(seen_a["subject"], as_="demo-enforcement-antwerp") == made
        assert hub.unseal(seen_p["subject"], as_="demo-police-antwerp") == made
        assert seen_p["subject"] != seen_a["subject"]  # sealed for each audience
        assert events.shared_hits == hits + 1  # the second city subscriber, only
