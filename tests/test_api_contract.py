"""The GraphQL contract through the real app: authentication at the door, purposes, error
codes, limits, pagination, withheld fields, and SQL statements independent of page size."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import SHIFTS_Q

POLICE = "demo-police-antwerp"
ME = "{ me { subject roles purposes city } }"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(hub, **changes: Any) -> dict[str, Any]:
    token = hub.token(POLICE)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(hub, claims: dict[str, Any], key: Any = None, kid: str | None = None) -> str:
    signing = hub.app.state.issuer.signing_key
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid or signing.kid}
    return jwt.encode(header, claims, key or signing.private_key_set(), algorithms=["RS256"])


# --- authentication at the door --------------------------------------------------------


def test_no_token_is_unauthenticated(demo_hub):
    body = demo_hub.gql(ME, status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body.get("data") is None


def test_graphiql_page_is_served_without_a_token(demo_hub):
    r = demo_hub.client.get("/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "graphiql" in r.text.lower()


def test_garbage_token_is_unauthenticated(demo_hub):
    body = demo_hub.gql(ME, token="not.a.jwt", status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "defect",
    ["expired", "wrong_issuer", "wrong_audience", "alg_none", "bad_signature", "no_org"],
)
def test_token_defects_are_refused(demo_hub, defect):
    now = int(time.time())
    if defect == "expired":
        token = _sign(demo_hub, _claims(demo_hub, iat=now - 7200, exp=now - 3600))
    elif defect == "wrong_issuer":
        token = _sign(demo_hub, _claims(demo_hub, iss="https://evil.example"))
    elif defect == "wrong_audience":
        token = _sign(demo_hub, _claims(demo_hub, aud="someone-else"))
    elif defect == "alg_none":
        header = {"alg": "none", "typ": "at+jwt"}
        token = f"{_b64(header)}.{_b64(_claims(demo_hub))}."
    elif defect == "bad_signature":
        other = RSAKey.generate_key(2048)
        token = _sign(demo_hub, _claims(demo_hub), key=other)
    else:
        token = _sign(demo_hub, _claims(demo_hub, org=None))
    body = demo_hub.gql(ME, token=token, status=401)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_raising_own_roles_in_a_token_is_impossible_without_the_key(demo_hub):
    """A client cannot grant itself a role: claims are only what the signature covers."""
    token = demo_hub.token("demo-operator")
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["police_officer"]
    forged = f"{header}.{_b64(claims)}.{sig}"
    assert demo_hub.gql(ME, token=forged, status=401)["errors"][0]["extensions"]["code"] == (
        "UNAUTHENTICATED"
    )


def test_role_header_must_be_carried_by_the_token(demo_hub):
    body = demo_hub.gql(ME, as_=POLICE, role="city_officer", status=403)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    data = demo_hub.ok(ME, as_=POLICE, role="police_officer")
    assert data["me"]["roles"] == ["police_officer"]


def test_unknown_role_in_token_is_forbidden(demo_hub):
    token = _sign(demo_hub, _claims(demo_hub, roles=["superuser"]))
    body = demo_hub.gql(ME, token=token, status=403)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# --- purposes ---------------------------------------------------------------------------


def test_me_needs_no_purpose(demo_hub):
    me = demo_hub.ok(ME, as_=POLICE)["me"]
    assert me["city"] == "Antwerpen"
    assert set(me["purposes"]) == {"identity_validation", "inspection", "safety_alerting"}


def test_data_needs_a_purpose_when_the_token_allows_several(demo_hub):
    assert demo_hub.error_code(SHIFTS_Q, as_=POLICE) == "PURPOSE_REQUIRED"


def test_purpose_the_token_lacks_is_forbidden(demo_hub):
    assert demo_hub.error_code(SHIFTS_Q, as_=POLICE, purpose="care") == "FORBIDDEN"


def test_unknown_purpose_is_bad_input(demo_hub):
    assert demo_hub.error_code(SHIFTS_Q, as_=POLICE, purpose="curiosity") == "BAD_USER_INPUT"


def test_single_purpose_token_needs_no_header(demo_hub):
    data = demo_hub.ok(
        "{ careContacts(first: 1) { edges { node { id } } } }",
        as_="demo-ngo-ghapro",
        purpose="care",
    )
    assert len(data["careContacts"]["edges"]) == 1


def test_the_purpose_changes_what_police_see(demo_hub):
    q = "{ shifts(first: 5) { edges { node { sexWorker { workingName identity { legalName } } } } } }"
    body = demo_hub.gql(q, as_=POLICE, purpose="inspection")
    workers = [e["node"]["sexWorker"] for e in body["data"]["shifts"]["edges"]]
    assert workers and all(w["workingName"] and w["identity"] is None for w in workers)
    assert body["extensions"]["withheld"] == {"SexWorker": ["identity"]}
    # At identity validation: the identities of workers at work (a shift in progress).
    now = datetime.now(UTC)
    at_work = (
        "query($from: DateTime, $to: DateTime) { shifts(from: $from, to: $to, first: 20) {"
        " edges { node { status sexWorker { workingName identity { legalName } } } } } }"
    )
    window = {"from": now.isoformat(), "to": (now + timedelta(minutes=55)).isoformat()}
    body = demo_hub.gql(at_work, window, as_=POLICE, purpose="identity_validation")
    nodes = [e["node"] for e in body["data"]["shifts"]["edges"]]
    live = [n for n in nodes if n["status"] in ("REGISTERED", "VALIDATED")]
    assert live and all(n["sexWorker"]["identity"]["legalName"] for n in live)
    assert all(n["sexWorker"]["identity"] is None for n in nodes if n not in live)


# --- limits and errors ------------------------------------------------------------------


def test_query_depth_is_limited(demo_hub):
    deep = (
        "{ shifts(first: 1) { edges { node { premises { "
        + "certificate { premises { " * 6
        + "id"
        + " } }" * 6
        + " } } } } }"
    )  # 17 deep
    assert demo_hub.error_code(deep, as_=POLICE, purpose="inspection") == "QUERY_TOO_COMPLEX"


def test_aliases_are_limited(demo_hub):
    many = "{ " + " ".join(f"a{i}: me {{ city }}" for i in range(20)) + " }"
    assert demo_hub.error_code(many, as_=POLICE) == "QUERY_TOO_COMPLEX"


def test_tokens_are_limited(demo_hub):
    huge = "{ me { " + " ".join(["city"] * 3000) + " } }"
    assert demo_hub.error_code(huge, as_=POLICE) == "QUERY_TOO_COMPLEX"


def test_introspection_within_the_depth_limit_is_answered(demo_hub):
    q = (
        "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType "
        "{ name } } } } } } } } } }"
    )
    assert demo_hub.ok(q, as_=POLICE)["__schema"]["types"]


def test_page_cap_is_hard(demo_hub):
    q = "{ shifts(first: 101) { edges { node { id } } } }"
    assert demo_hub.error_code(q, as_=POLICE, purpose="inspection") == "BAD_USER_INPUT"
    q = "{ shifts(first: 0) { edges { node { id } } } }"
    assert demo_hub.error_code(q, as_=POLICE, purpose="inspection") == "BAD_USER_INPUT"


def test_forged_cursor_is_bad_input(demo_hub):
    fake = base64.urlsafe_b64encode(b"x" * 40).decode()
    q = "query($a: String) { shifts(first: 5, after: $a) { edges { node { id } } } }"
    code = demo_hub.error_code(q, {"a": fake}, as_=POLICE, purpose="inspection")
    assert code == "BAD_USER_INPUT"


def test_cursor_of_one_list_is_refused_by_another(demo_hub):
    page = demo_hub.ok(
        "{ premises(first: 1) { pageInfo { endCursor } } }", as_=POLICE, purpose="inspection"
    )
    cursor = page["premises"]["pageInfo"]["endCursor"]
    q = "query($a: String) { shifts(first: 5, after: $a) { edges { node { id } } } }"
    assert (
        demo_hub.error_code(q, {"a": cursor}, as_=POLICE, purpose="inspection") == "BAD_USER_INPUT"
    )


def test_schema_errors_are_bad_input(demo_hub):
    assert demo_hub.error_code("{ shifts { nope } }", as_=POLICE) == "BAD_USER_INPUT"


def test_no_websocket_protocol_before_subscriptions_exist(demo_hub):
    from starlette.websockets import WebSocketDisconnect

    with (
        pytest.raises(WebSocketDisconnect),
        demo_hub.client.websocket_connect("/graphql", subprotocols=["graphql-ws"]) as ws,
    ):
        ws.receive_text()


# --- pagination and SQL statements --------------------------------------------------------


def test_pages_cover_every_visible_shift_once_in_order(demo_hub):
    seen: list[tuple[str, str]] = []
    after = None
    for _ in range(50):  # bounded
        data = demo_hub.ok(
            SHIFTS_Q, {"first": 37, "after": after}, as_=POLICE, purpose="inspection"
        )
        conn = data["shifts"]
        seen += [(e["node"]["startsAt"], e["node"]["id"]) for e in conn["edges"]]
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    ids = [i for _, i in seen]
    assert len(ids) == len(set(ids))
    assert seen == sorted(seen)

    async def count() -> int:
        from sqlalchemy import func, select

        from hub.models import Premises, ShiftRegistration

        async with demo_hub.db.session() as s:
            stmt = (
                select(func.count())
                .select_from(ShiftRegistration)
                .join(Premises, Premises.id == ShiftRegistration.premises_id)
                .where(Premises.city == "Antwerpen")
            )
            return int((await s.execute(stmt)).scalar_one())

    assert len(ids) == demo_hub.run(count())


def test_sql_statements_do_not_grow_with_rows(demo_hub):
    demo_hub.ok(SHIFTS_Q, {"first": 1}, as_=POLICE, purpose="identity_validation")  # warm-up
    counts = {}
    reads = {}
    for n in (10, 50):
        demo_hub.count_statements()
        data = demo_hub.ok(SHIFTS_Q, {"first": n}, as_=POLICE, purpose="identity_validation")
        assert len(data["shifts"]["edges"]) == n
        assert all(e["node"]["sexWorker"]["workingName"] for e in data["shifts"]["edges"])
        counts[n] = len(demo_hub.statements)
        reads[n] = [s for s in demo_hub.statements if "audit" not in s and "access_log" not in s]
    assert counts[10] == counts[50]
    # One statement: the compiled path joins premises and sex workers (with their data keys)
    # to the shifts page; the rest is the access-log append (head lock, entries, subjects,
    # head update).
    assert len(reads[50]) == 1
    assert counts[50] <= 8
