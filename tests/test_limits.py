"""Limits that cannot be dodged (introspection included), on both backends: depth, aliases,
tokens and the estimated cost of an operation; the request body cap; per-client rate limits;
per-client caps on WebSocket connections and on subscriptions across them. Every refusal
is JSON with a stable code, recognised here by its code."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import get_introspection_query, parse
from pydantic import ValidationError
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub.app import create_app
from hub.config import Rate, Settings
from hub.schema.limits import CostModel
from hub.schema.quotas import ClientQuotas
from hub.schema.root import make_schema

POLICE = "demo-police-antwerp"
NGO = "demo-ngo-ghapro"
ENFORCEMENT = "demo-enforcement-antwerp"
PROTOCOL = "graphql-transport-ws"
EVENTS = "subscription { events { id type } }"


def _code(body: dict[str, Any]) -> str:
    assert body.get("errors"), body
    return body["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


def _post(hub: Any, body: Any, *, as_: str = POLICE, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {hub.token(as_)}", **kw.pop("headers", {})}
    return hub.client.post("/graphql", headers=headers, **({"json": body} | kw))


# --- introspection counts toward every limit -------------------------------------------------


@pytest.mark.parametrize("client", [POLICE, NGO, ENFORCEMENT])
def test_forty_aliased_schema_trees_are_refused_for_any_role(demo_hub, client):
    q = "{ " + " ".join(f"s{i}: __schema {{ types {{ name }} }}" for i in range(40)) + " }"
    r = _post(demo_hub, {"query": q}, as_=client)
    assert r.status_code == 200
    body = r.json()
    assert _code(body) == "QUERY_TOO_COMPLEX"
    assert body.get("data") is None
    assert len(r.content) < 2000  # refused before any of it was answered


def test_introspection_counts_toward_depth(demo_hub):
    chain = "ofType { " * 13 + "name" + " }" * 13
    deep = "{ __schema { types { fields { type { " + chain + " } } } } }"  # 17 deep
    assert demo_hub.error_code(deep, as_=POLICE) == "QUERY_TOO_COMPLEX"
    # And through a fragment, and under __type.
    frag = (
        '{ __type(name: "Shift") { ...T } } fragment T on __Type { fields { type { '
        + chain
        + " } } }"
    )
    assert demo_hub.error_code(frag, as_=POLICE) == "QUERY_TOO_COMPLEX"


def test_introspection_counts_toward_cost(demo_hub):
    """Two aliases only, but each a whole introspection: twice what one may cost."""
    standard = get_introspection_query(descriptions=True)
    fragments = standard[standard.index("fragment FullType") :]
    q = "{ a: __schema { types { ...FullType } } b: __schema { types { ...FullType } } }"
    assert demo_hub.error_code(q + fragments, as_=POLICE) == "QUERY_TOO_COMPLEX"


def test_the_standard_introspection_query_leaves_room_under_the_cost_limit():
    """The schema grows with every record: its whole introspection must stay well under the
    default cost limit (at most 80%), so that GraphiQL keeps working and this test, not a
    user, finds the day the limit needs to move."""
    defaults = {name: f.default for name, f in Settings.model_fields.items()}
    schema = make_schema(
        max_depth=defaults["max_depth"],
        max_aliases=defaults["max_aliases"],
        max_tokens=defaults["max_tokens"],
    )._schema
    model = CostModel(schema, defaults["page_cap"])
    limit = defaults["max_cost"]
    cost = model.cost(parse(get_introspection_query(descriptions=True)), None, {}, limit * 2)
    assert cost <= 0.8 * limit, f"introspection costs {cost} of {limit}"


def test_the_standard_introspection_query_is_answered(demo_hub):
    """What GraphiQL and code generators send fits the limits."""
    data = demo_hub.ok(get_introspection_query(descriptions=True), as_=POLICE)
    assert any(t["name"] == "Shift" for t in data["__schema"]["types"])


# --- cost: rows x fields ---------------------------------------------------------------------

NESTED = """query($n: Int, $m: Int) { premises(first: $n) { edges { node { id address
  shifts(first: $m) { id startsAt endsAt window status premises { id address city } } } } } }"""


def test_nested_pages_past_the_cost_limit_are_refused(demo_hub):
    # 100 premises x 100 shifts x 9 fields: past the default limit (80 000).
    body = demo_hub.gql(NESTED, {"n": 100, "m": 100}, as_=POLICE, purpose="inspection")
    assert _code(body) == "QUERY_TOO_COMPLEX"
    assert body["data"] is None
    # The same document with small pages is answered: the variables count.
    demo_hub.ok(NESTED, {"n": 5, "m": 5}, as_=POLICE, purpose="inspection")
    # Literals count like variables; a list without `first` counts as the page cap.
    literal = (
        NESTED.replace("$n", "100")
        .replace("$m", "100")
        .replace("query(100: Int, 100: Int)", "query")
    )
    assert demo_hub.error_code(literal, as_=POLICE, purpose="inspection") == ("QUERY_TOO_COMPLEX")


def test_aliases_within_their_limit_still_add_up_to_the_cost(demo_hub):
    q = (
        "{ "
        + " ".join(
            f"a{i}: premises(first: 100) {{ edges {{ node {{ id "
            "shifts(first: 20) { id startsAt endsAt } } } }"
            for i in range(15)
        )
        + " }"
    )
    assert demo_hub.error_code(q, as_=POLICE, purpose="inspection") == "QUERY_TOO_COMPLEX"


def test_syntax_errors_and_token_floods_have_their_own_codes(demo_hub):
    assert demo_hub.error_code("{ me { city ", as_=POLICE) == "BAD_USER_INPUT"
    huge = "{ me { " + " ".join(["city"] * 3000) + " } }"
    assert demo_hub.error_code(huge, as_=POLICE) == "QUERY_TOO_COMPLEX"


# --- the request body cap --------------------------------------------------------------------


def test_a_body_past_the_cap_is_refused_by_its_content_length(demo_hub):
    query = "{ me { city } }" + " " * (300 * 1024)
    r = _post(demo_hub, {"query": query})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/json")
    assert _code(r.json()) == "BAD_USER_INPUT"


def test_a_streamed_body_past_the_cap_is_refused_without_content_length(demo_hub):
    sent = [0]

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ me { city } }", "x": "'
        for _ in range(64):  # 4 MiB, far past the cap of 256 KiB
            sent[0] += 1
            yield b"x" * 65536
        yield b'"}'

    r = _post(demo_hub, None, content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert _code(r.json()) == "BAD_USER_INPUT"


def test_a_body_within_the_cap_is_answered(demo_hub):
    query = "{ me { city } }" + " " * (200 * 1024)
    r = _post(demo_hub, {"query": query})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["me"]["city"] == "Antwerpen"


def test_the_token_endpoint_has_the_same_cap(demo_hub):
    r = demo_hub.client.post(
        "/token",
        content=b"grant_type=client_credentials&x=" + b"y" * (300 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert _code(r.json()) == "BAD_USER_INPUT"


# --- malformed requests: JSON refusals -------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"query": "{ me { city } }"', "application/json"),  # malformed JSON
        (b"[1, 2]", "application/json"),  # not an object
        (b'{"variables": {}}', "application/json"),  # no query
        (b"{ me { city } }", "text/plain"),  # not JSON at all
    ],
)
def test_malformed_requests_get_a_json_bad_user_input(demo_hub, content, content_type):
    r = _post(demo_hub, None, content=content, headers={"Content-Type": content_type})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/json"), r.text
    assert _code(r.json()) == "BAD_USER_INPUT"


# --- per-client rate limits ------------------------------------------------------------------


@pytest.fixture
def limited(hub) -> Iterator[tuple[Any, TestClient]]:
    """A second app on the test's database, with tight per-client quotas: 3 requests at once,
    then 1 a second; lifted for the police client; 2 connections and 3 subscriptions per
    client."""
    settings = hub.app.state.settings.with_(
        rate_limit_per_s=1.0,
        rate_limit_burst=3,
        rate_limits={POLICE: "off", NGO: "0.5/5"},
        max_ws_connections=2,
        max_subscriptions=3,
    )
    with TestClient(create_app(settings)) as client:
        yield hub, client


def _ask(client: TestClient, token: str) -> Any:
    return client.post(
        "/graphql",
        json={"query": "{ me { city } }"},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_a_client_past_its_rate_gets_429_with_retry_after(limited):
    hub, client = limited
    token = hub.token(ENFORCEMENT)
    statuses = [_ask(client, token).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    r = _ask(client, token)
    assert r.status_code == 429
    assert _code(r.json()) == "RATE_LIMITED"
    assert int(r.headers["retry-after"]) >= 1
    # Another client has its own bucket.
    assert _ask(client, hub.token("demo-city-antwerp")).status_code == 200


def test_a_client_with_its_limit_lifted_is_never_limited(limited):
    hub, client = limited
    token = hub.token(POLICE)
    assert {_ask(client, token).status_code for _ in range(30)} == {200}


def test_a_client_with_its_own_rate_gets_its_own_burst(limited):
    hub, client = limited
    token = hub.token(NGO)
    statuses = [_ask(client, token).status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]


def _token_request(client: TestClient, client_id: str) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, "not-the-secret"),
    )


def test_token_requests_have_a_rate_per_client(limited):
    """Guessing a client's secret costs a scrypt check per try: past the client's rate the
    hub refuses before checking anything (429, Retry-After, RFC 6749 error body)."""
    hub, client = limited
    assert [_token_request(client, ENFORCEMENT).status_code for _ in range(3)] == [401] * 3
    r = _token_request(client, ENFORCEMENT)
    assert r.status_code == 429
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["retry-after"]) >= 1
    # Its own buckets: the client's GraphQL requests still go, and other clients' tokens.
    assert _ask(client, hub.token(ENFORCEMENT)).status_code == 200
    assert _token_request(client, "demo-city-antwerp").status_code == 401
    # A client whose rate is lifted is never refused for it.
    assert {_token_request(client, POLICE).status_code for _ in range(6)} == {401}


def test_rates_are_settings_checked_at_start(monkeypatch):
    monkeypatch.setenv("HUB_RATE_LIMITS", json.dumps({"bench": "off", "partner": "5/10"}))
    default, per_client = Settings().client_rates()
    assert default == Rate(20.0, 40)
    assert per_client == {"bench": None, "partner": Rate(5.0, 10)}
    monkeypatch.setenv("HUB_RATE_LIMITS", json.dumps({"partner": "fast"}))
    with pytest.raises(ValidationError, match="rate_limits"):
        Settings()
    monkeypatch.setenv("HUB_RATE_LIMITS", "{}")
    monkeypatch.setenv("HUB_RATE_LIMIT_PER_S", "0")
    assert Settings().client_rates() == (None, {})


def test_the_bucket_refills_at_its_rate():
    now = [0.0]
    quotas = ClientQuotas(Rate(2.0, 2), {"free": None}, clock=lambda: now[0])
    assert quotas.take("c") == 0 and quotas.take("c") == 0
    assert quotas.take("c") == pytest.approx(0.5)
    now[0] += 0.5
    assert quotas.take("c") == 0
    assert quotas.take("c") > 0
    assert all(quotas.take("free") == 0 for _ in range(100))


# --- per-client caps on WebSocket connections and subscriptions ------------------------------


def _recv(ws: Any, seconds: float = 5.0) -> dict[str, Any]:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(ws.receive_json).result(timeout=seconds)  # type: ignore[no-any-return]


def _wait_until(condition: Any, seconds: float = 5.0) -> None:
    """Wait, a bounded time, for the server side of a closed connection to let go."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _init(ws: Any, token: str, purpose: str | None = None) -> dict[str, Any]:
    payload = {"authorization": f"Bearer {token}"} | ({"purpose": purpose} if purpose else {})
    ws.send_json({"type": "connection_init", "payload": payload})
    return _recv(ws)


def test_connections_per_client_are_capped_with_a_reason(limited):
    hub, client = limited
    token = hub.token(ENFORCEMENT)
    with (
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as a,
        client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as b,
    ):
        assert _init(a, token)["type"] == "connection_ack"
        assert _init(b, token)["type"] == "connection_ack"
        with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as c:
            with pytest.raises(WebSocketDisconnect) as exc:
                _init(c, token)
            assert exc.value.code == 4429
            assert "RATE_LIMITED" in exc.value.reason
        # Another client is not counted with this one.
        with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as d:
            assert _init(d, hub.token(POLICE))["type"] == "connection_ack"
    # Closed connections give their places back.
    quotas = client.app.state.quotas  # type: ignore[attr-defined]
    _wait_until(lambda: ENFORCEMENT not in quotas.connections)
    with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as e:
        assert _init(e, token)["type"] == "connection_ack"


def _ws_code(msg: dict[str, Any]) -> str:
    """The code of an operation's error: an `error` message, or a `next` with errors (a
    refusal raised when the subscription starts)."""
    errors = msg["payload"] if msg["type"] == "error" else msg["payload"]["errors"]
    return errors[0]["extensions"]["code"]  # type: ignore[no-any-return]


def _subscribe(ws: Any, op: str) -> None:
    ws.send_json({"id": op, "type": "subscribe", "payload": {"query": EVENTS}})


def test_subscriptions_per_client_are_capped_across_connections(limited):
    hub, client = limited
    token = hub.token(POLICE)  # its rate is lifted: only the subscription cap counts
    with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as a:
        assert _init(a, token, "inspection")["type"] == "connection_ack"
        with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as b:
            assert _init(b, token, "inspection")["type"] == "connection_ack"
            quotas = client.app.state.quotas  # type: ignore[attr-defined]
            _subscribe(a, "1")
            _subscribe(a, "2")
            _wait_until(lambda: quotas.subscriptions.get(POLICE) == 2)
            _subscribe(b, "3")
            _wait_until(lambda: quotas.subscriptions.get(POLICE) == 3)
            _subscribe(b, "4")
            msg = _recv(b)
            assert msg["id"] == "4", msg
            assert _ws_code(msg) == "RATE_LIMITED"
        # b's subscription ended with it: a place is free again.
        _wait_until(lambda: quotas.subscriptions.get(POLICE) == 2)
        _subscribe(a, "5")
        a.send_json({"type": "ping"})
        assert _recv(a)["type"] == "pong"  # no error came for 5
        _subscribe(a, "6")
        msg = _recv(a)
        assert msg["id"] == "6", msg
        assert _ws_code(msg) == "RATE_LIMITED"


def test_operations_over_a_websocket_spend_the_same_rate(limited):
    """A connection is no way around the rate limit: each operation takes from the bucket
    of HTTP requests, and one past it is refused alone (the connection stays)."""
    hub, client = limited
    token = hub.token(ENFORCEMENT)
    with client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        assert _init(ws, token)["type"] == "connection_ack"
        for i in range(4):
            ws.send_json(
                {"id": f"q{i}", "type": "subscribe", "payload": {"query": "{ me { city } }"}}
            )
        got = [_recv(ws) for _ in range(7)]  # 3 x (next, complete), 1 error
        answered = sorted(m["id"] for m in got if m["type"] == "next")
        refused = [m for m in got if m["type"] == "error"]
        assert answered == ["q0", "q1", "q2"], got
        assert [m["id"] for m in refused] == ["q3"]
        assert refused[0]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        ws.send_json({"type": "ping"})
        assert _recv(ws)["type"] == "pong"
    # The bucket is the client's: its HTTP requests are refused too, for now.
    assert _ask(client, token).status_code == 429


def test_every_websocket_close_carries_a_reason(hub):
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws)
    assert exc.value.code == 4403
    assert exc.value.reason.startswith("UNAUTHENTICATED")
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws)
    assert exc.value.code == 4403 and "authorization" in exc.value.reason
    with hub.client.websocket_connect("/graphql", subprotocols=[PROTOCOL]) as ws:
        _subscribe(ws, "1")
        with pytest.raises(WebSocketDisconnect) as exc:
            _recv(ws)
    assert exc.value.code == 4401 and exc.value.reason
