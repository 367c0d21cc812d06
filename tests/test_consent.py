"""Consent: a sex worker grants and revokes; a revocation applies to the very next request."""

from __future__ import annotations

WORKER = "demo-worker"
GRANT = """mutation($g: ID!, $p: String!) { grantConsent(input: {granteeId: $g, purpose: $p}) {
  id purpose scope grantedAt revokedAt grantee { name } } }"""
REVOKE = "mutation($id: ID!) { revokeConsent(id: $id) { id revokedAt } }"
MINE = "{ myConsents { id purpose revokedAt grantee { id name } } }"
LOOKUP = "query($id: ID!) { sexWorker(id: $id) { id workingName identity { legalName } } }"


def _revoke_all_for(hub, grantee: str) -> None:
    for c in hub.ok(MINE, as_=WORKER)["myConsents"]:
        if c["grantee"]["id"] == grantee and c["revokedAt"] is None:
            hub.ok(REVOKE, {"id": c["id"]}, as_=WORKER)


def test_grant_then_revoke_takes_effect_on_the_next_request(hub):
    boys = hub.demo.organisation_ids["boysproject"]
    me = hub.demo.sex_worker_ids[0]
    ngo = _ngo_client(hub, "boysproject")
    _revoke_all_for(hub, boys)
    assert hub.ok(LOOKUP, {"id": me}, token=ngo, purpose="care")["sexWorker"] is None

    granted = hub.ok(GRANT, {"g": boys, "p": "care"}, as_=WORKER)["grantConsent"]
    assert granted["scope"] == "*" and granted["revokedAt"] is None
    assert granted["grantee"]["name"] == "Boysproject"
    seen = hub.gql(LOOKUP, {"id": me}, token=ngo, purpose="care")
    assert seen["data"]["sexWorker"]["workingName"]
    assert seen["data"]["sexWorker"]["identity"] is None  # consent to care is not identity
    assert seen["extensions"]["withheld"] == {"SexWorker": ["identity"]}

    hub.ok(REVOKE, {"id": granted["id"]}, as_=WORKER)
    assert hub.ok(LOOKUP, {"id": me}, token=ngo, purpose="care")["sexWorker"] is None
    assert hub.error_code(REVOKE, {"id": granted["id"]}, as_=WORKER) == "CONFLICT"


def test_consent_is_for_one_purpose(hub):
    boys = hub.demo.organisation_ids["boysproject"]
    ngo = _ngo_client(hub, "boysproject")
    _revoke_all_for(hub, boys)
    hub.ok(GRANT, {"g": boys, "p": "safety_alerting"}, as_=WORKER)
    me = hub.demo.sex_worker_ids[0]
    assert hub.ok(LOOKUP, {"id": me}, token=ngo, purpose="care")["sexWorker"] is None


def test_my_consents_shows_only_mine_and_grantee_sees_what_it_was_given(hub):
    mine = hub.ok(MINE, as_=WORKER)["myConsents"]
    assert mine  # the demo gives the worker a live consent
    ghapro = hub.ok("{ myConsents { id purpose } }", as_="demo-ngo-ghapro", purpose="care")
    ids = {c["id"] for c in ghapro["myConsents"]}

    async def grantees() -> set[str]:
        from sqlalchemy import select

        from hub.models import Consent

        async with hub.db.session() as s:
            stmt = select(Consent.id).where(
                Consent.grantee_id == hub.demo.organisation_ids["ghapro"],
                Consent.revoked_at.is_(None),
                Consent.purpose == "care",
            )
            return set((await s.execute(stmt)).scalars())

    assert ids == hub.run(grantees())


def test_refusals(hub):
    ids = hub.demo.organisation_ids
    op = ids["operator_vitrine_beheer"]
    assert hub.error_code(GRANT, {"g": op, "p": "care"}, as_=WORKER) == "BAD_USER_INPUT"
    assert hub.error_code(GRANT, {"g": ids["ghapro"], "p": "fun"}, as_=WORKER) == "BAD_USER_INPUT"
    code = hub.error_code(
        GRANT,
        {"g": ids["ghapro"], "p": "care"},
        as_="demo-police-antwerp",
        purpose="safety_alerting",
    )
    assert code == "FORBIDDEN"
    _revoke_all_for(hub, ids["payoke"])
    hub.ok(GRANT, {"g": ids["payoke"], "p": "care"}, as_=WORKER)
    assert hub.error_code(GRANT, {"g": ids["payoke"], "p": "care"}, as_=WORKER) == "CONFLICT"
    # Someone else cannot revoke the worker's consent.
    consent = next(c for c in hub.ok(MINE, as_=WORKER)["myConsents"] if c["revokedAt"] is None)
    other = _worker_client(hub, hub.demo.sex_worker_ids[1])
    assert hub.error_code(REVOKE, {"id": consent["id"]}, token=other) == "NOT_FOUND"


def _ngo_client(hub, key: str) -> str:
    from hub.auth.clients import register_client

    client_id = f"test-ngo-{key}"

    async def add() -> None:
        async with hub.db.session() as s:
            await register_client(
                s,
                client_id=client_id,
                organisation_id=hub.demo.organisation_ids[key],
                roles=["ngo_worker"],
                purposes=["care", "safety_alerting"],
            )

    if client_id not in hub.tokens:
        hub.run(add())
    return hub.token(client_id)


def _worker_client(hub, sex_worker_id: str) -> str:
    from sqlalchemy import select

    from hub.auth.clients import register_client
    from hub.models import ApiClient

    async def add() -> None:
        async with hub.db.session() as s:
            own = (
                await s.execute(select(ApiClient).where(ApiClient.client_id == WORKER))
            ).scalar_one()
            await register_client(
                s,
                client_id="test-worker-2",
                organisation_id=own.organisation_id,
                roles=["sex_worker"],
                purposes=["self_service"],
                sex_worker_id=sex_worker_id,
            )

    hub.run(add())
    return hub.token("test-worker-2")
