"""Every example query the demo prints works for its role, through the real app."""

import pytest

from hub.demo_clients import DEMO_CLIENTS


@pytest.mark.parametrize("client", DEMO_CLIENTS, ids=lambda c: c.client_id)
def test_demo_example_runs_for_its_role(demo_hub, client):
    body = demo_hub.gql(client.example, as_=client.client_id, purpose=client.purpose)
    assert "errors" not in body, body["errors"]
    assert body["data"]


def test_oauth_client_credentials_then_graphql(demo_hub):
    """The full partner flow: register a client, obtain a token at /oauth/token, query."""
    from hub.auth.clients import register_client

    async def add() -> str:
        async with demo_hub.db.session() as s:
            return await register_client(
                s,
                client_id="partner-ngo-system",
                organisation_id=demo_hub.demo.organisation_ids["boysproject"],
                roles=["ngo_worker"],
                purposes=["care"],
            )

    secret = demo_hub.run(add())
    r = demo_hub.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("partner-ngo-system", secret),
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    data = demo_hub.ok(
        "{ careContacts(first: 3) { edges { node { clientRef kind } } } }", token=token
    )
    refs = [e["node"]["clientRef"] for e in data["careContacts"]["edges"]]
    assert refs and all(ref for ref in refs)
