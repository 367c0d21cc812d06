"""A partner's GraphQL client for the hub, written as a partner would: a token by OAuth 2.0
client credentials, every request stating its purpose, a list read page by page, and a
subscription over graphql-transport-ws. Uses gql (https://gql.readthedocs.io) and httpx.

    export HUB_CLIENT_ID=police-rms HUB_CLIENT_SECRET=...    # from `hub client add`
    python examples/graphql_client.py shifts --purpose inspection
    python examples/graphql_client.py events --purpose inspection \\
        --types be.hub.inspection.recorded.v1 --max-events 5

Output is one JSON object per line on stdout (a shift, or an event), progress on stderr.
The ids in it are sealed for your organisation: use them in your requests and messages to
the hub as they are; another organisation holds different ids for the same records.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

SHIFTS = """
query Shifts($first: Int!, $after: String) {
  shifts(first: $first, after: $after) {
    edges {
      node {
        id startsAt endsAt window status
        premises { id address city zone }
        sexWorker { id workingName }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

EVENTS = """
subscription Events($types: [String!]) {
  events(types: $types) { id type subject time purpose policyVersion data }
}
"""


def fetch_token(hub: str, client_id: str, client_secret: str) -> str:
    """An access token by the client credentials grant (RFC 6749 section 4.4)."""
    response = httpx.post(
        f"{hub}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, client_secret),
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def shifts(hub: str, token: str, purpose: str, page_size: int) -> AsyncIterator[Any]:
    """Every shift the policy lets this client read for `purpose`, page after page."""
    transport = HTTPXAsyncTransport(
        url=f"{hub}/graphql",
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": purpose},
        timeout=30,
    )
    async with Client(transport=transport) as session:
        after = None
        while True:
            request = GraphQLRequest(SHIFTS, variable_values={"first": page_size, "after": after})
            page = (await _patiently(session, request))["shifts"]
            for edge in page["edges"]:
                yield edge["node"]
            if not page["pageInfo"]["hasNextPage"]:
                return
            after = page["pageInfo"]["endCursor"]


async def _patiently(session: Any, request: GraphQLRequest, tries: int = 30) -> Any:
    """The request's data; past the hub's rate limit for this client (RATE_LIMITED, HTTP
    429 with Retry-After), it waits a second and asks again, a bounded number of times."""
    for _ in range(tries - 1):
        try:
            return await session.execute(request)
        except TransportQueryError as error:
            if (error.errors or [{}])[0].get("extensions", {}).get("code") != "RATE_LIMITED":
                raise
            await asyncio.sleep(1.0)
    return await session.execute(request)


async def events(hub: str, token: str, purpose: str, types: list[str] | None) -> AsyncIterator[Any]:
    """Events as they happen, projected through this client's policy for `purpose`."""
    transport = WebsocketsTransport(
        url=hub.replace("http", "ws", 1) + "/graphql",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
        # The hub authenticates the connection in connection_init, not with headers.
        init_payload={"authorization": f"Bearer {token}", "purpose": purpose},
    )
    async with Client(transport=transport) as session:
        request = GraphQLRequest(EVENTS, variable_values={"types": types})
        async for result in session.subscribe(request):
            yield result["events"]


async def main(args: argparse.Namespace) -> int:
    client_id = os.environ.get("HUB_CLIENT_ID")
    client_secret = os.environ.get("HUB_CLIENT_SECRET")
    if not client_id or not client_secret:
        print("set HUB_CLIENT_ID and HUB_CLIENT_SECRET (from `hub client add`)", file=sys.stderr)
        return 2
    hub = args.hub.rstrip("/")
    token = fetch_token(hub, client_id, client_secret)
    count = 0
    if args.command == "shifts":
        async for shift in shifts(hub, token, args.purpose, args.page_size):
            print(json.dumps(shift), flush=True)
            count += 1
        print(f"{count} shifts", file=sys.stderr)
        return 0
    print("subscribed; waiting for events", file=sys.stderr, flush=True)
    try:
        async with asyncio.timeout(args.timeout):
            async for event in events(hub, token, args.purpose, args.types):
                print(json.dumps(event), flush=True)
                count += 1
                if count >= args.max_events:
                    break
    except TimeoutError:
        print(f"no more events within {args.timeout} s", file=sys.stderr)
    print(f"{count} events", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["shifts", "events"], help="read shifts, or follow events")
    p.add_argument("--hub", default="http://127.0.0.1:8000", help="the hub's base URL")
    p.add_argument("--purpose", required=True, help="the purpose of every request")
    p.add_argument("--page-size", type=int, default=50, help="shifts per page (at most 100)")
    p.add_argument("--types", nargs="*", default=None, help="event types (default: all)")
    p.add_argument("--max-events", type=int, default=10, help="stop after this many events")
    p.add_argument("--timeout", type=float, default=60.0, help="stop after this many seconds")
    return p


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parser().parse_args())))
