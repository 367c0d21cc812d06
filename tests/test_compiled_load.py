"""The compiled path's statements per request, its plans across a policy activation on a
second replica, and backpressure under a burst of huge reads."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.read.execute import SERVED
from tests.test_policy_workflow import APPROVE, DPO, DPO2, PROPOSE, UTSOPI, _second_dpo, _shift_doc

POLICE = {"as_": "demo-police-antwerp", "purpose": "identity_validation"}
BENCH = (
    "query($n: Int) { shifts(first: $n) { edges { node { id startsAt endsAt window status"
    " premises { id address city zone }"
    " sexWorker { id workingName identity { legalName birthDate nationality documentNumber } }"
    " } } } }"
)
NESTED = (
    "query($n: Int) { premises(first: $n) { edges { node { id address"
    " shifts(first: $n) { id startsAt sexWorker { id workingName } } } } } }"
)
TWO_ROOTS = (
    "query($n: Int) { premises(first: $n) { edges { node { id certificate { status } } } }"
    " shifts(first: $n) { edges { cursor node { id } } pageInfo { endCursor } } }"
)
BY_ID = "query($a: ID!, $b: ID!) { a: sexWorker(id: $a) { id } b: sexWorker(id: $b) { id } }"

# (query, statements): one per root field, one per to-many relation; never per row.
STATEMENTS = {"bench": (BENCH, 1), "nested": (NESTED, 2), "two-roots": (TWO_ROOTS, 2)}


def _reads(hub: Any) -> list[str]:
    """The statements of the request that read data (not the access log's own writes)."""
    return [
        s
        for s in hub.statements
        if s.lstrip().upper().startswith("SELECT")
        and "access_log" not in s
        and "audit_head" not in s
        and "audit_checkpoint" not in s  # the checkpoint signer, in the background
    ]


@pytest.mark.parametrize("shape", list(STATEMENTS))
def test_statements_per_request_do_not_grow_with_rows(demo_hub, shape):
    query, expected = STATEMENTS[shape]
    demo_hub.token(POLICE["as_"])
    # 100 premises x 100 shifts each is past the cost limit (HUB_MAX_COST): 60 x 60 nested.
    for n in (2, 20, 60 if shape == "nested" else 100):
        before = SERVED["compiled"]
        demo_hub.count_statements()
        data = demo_hub.ok(query, {"n": n}, **POLICE)
        assert SERVED["compiled"] == before + 1
        assert len(_reads(demo_hub)) == expected, (n, _reads(demo_hub))
        assert data


def test_statements_of_aliased_roots(demo_hub):
    demo_hub.token(POLICE["as_"])
    demo_hub.count_statements()
    unknown = ("00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002")
    demo_hub.ok(BY_ID, {"a": unknown[0], "b": unknown[1]}, **POLICE)
    assert len(_reads(demo_hub)) == 2


def test_a_policy_activation_changes_compiled_answers_on_a_second_replica(hub):
    """The plan key carries the policy version: the second replica installs the new
    version within a second and its very next compiled answer follows it."""
    _second_dpo(hub)
    query = "{ shifts(first: 5) { edges { node { id sexWorkerId } } } }"
    replica = create_app(hub.app.state.settings)
    with TestClient(replica) as second:
        token = hub.token("demo-city-antwerp")

        def ask() -> dict[str, Any]:
            before = SERVED["compiled"]
            r = second.post(
                "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
            )
            assert SERVED["compiled"] == before + 1
            return r.json()  # type: ignore[no-any-return]

        first = ask()["data"]["shifts"]["edges"]
        assert all(e["node"]["sexWorkerId"].startswith("psn_") for e in first)
        change = hub.ok(PROPOSE, {"r": "ShiftRegistration", "d": _shift_doc("allow")}, as_=DPO)[
            "proposePolicyChange"
        ]
        hub.ok(APPROVE, {"id": change["id"]}, as_=DPO2)
        hub.ok(APPROVE, {"id": change["id"]}, as_=UTSOPI)
        activated = time.monotonic()
        answer = ask()
        while time.monotonic() < activated + 2.0:  # bounded; must change within 1 s
            answer = ask()
            if not answer["data"]["shifts"]["edges"][0]["node"]["sexWorkerId"].startswith("psn_"):
                break
        took = time.monotonic() - activated
        ids = [e["node"]["sexWorkerId"] for e in answer["data"]["shifts"]["edges"]]
        assert not any(i.startswith("psn_") for i in ids)
        assert took < 1.0, took
        assert [e["node"]["id"] for e in answer["data"]["shifts"]["edges"]] == [
            e["node"]["id"] for e in first
        ]


HUGE = (
    "{ "
    + " ".join(
        f"a{i}: shifts(first: 100) {{ edges {{ node {{ id startsAt premises {{ id address }}"
        " sexWorker { id workingName identity { legalName } } } } }"
        for i in range(15)
    )
    + " }"
)
SMALL = "{ organisations { id name } }"


def test_a_burst_of_huge_reads_gets_full_answers_or_503_and_small_reads_go_on(demo_hub):
    """20 parallel 15-alias x 100-shift reads: each answer is complete or a clean 503 with
    Retry-After; a small read on the same replica is answered meanwhile."""
    token = demo_hub.token(POLICE["as_"])
    headers = {"Authorization": f"Bearer {token}", "Hub-Purpose": POLICE["purpose"]}
    expected = demo_hub.ok("{ shifts(first: 100) { edges { node { id } } } }", **POLICE)
    full = len(expected["shifts"]["edges"])

    async def burst() -> tuple[list[httpx.Response], list[httpx.Response]]:
        transport = httpx.ASGITransport(app=demo_hub.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def post(query: str) -> httpx.Response:
                return await client.post("/graphql", json={"query": query}, headers=headers)

            async def smalls() -> list[httpx.Response]:
                out = []
                for _ in range(5):
                    out.append(await post(SMALL))
                return out

            huge = [post(HUGE) for _ in range(20)]
            results = await asyncio.wait_for(asyncio.gather(smalls(), *huge), timeout=120)
            return results[1:], results[0]

    huge, small = demo_hub.run(burst())
    statuses = [r.status_code for r in huge]
    for r in huge:
        body = r.json()
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"
            assert body["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert "data" not in body
        else:
            assert r.status_code == 200
            assert "errors" not in body, body["errors"][:1]
            assert all(len(body["data"][f"a{i}"]["edges"]) == full for i in range(15))
    assert 200 in statuses, statuses
    assert all(r.status_code == 200 and "errors" not in r.json() for r in small)
