"""The /graphql endpoint: authenticate first, then hand over to strawberry.

Nothing of the schema runs for a request without a valid token. Errors leave with a stable
`extensions.code`; unexpected failures leave as INTERNAL without their message.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from hub.audit.log import AuditRecord
from hub.auth.verify import TokenVerifier, principal_for_request
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.schema.context import Context, HubState


def format_error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    original = error.original_error
    if isinstance(original, HubError):
        formatted["message"] = original.message
        extensions["code"] = original.code.value
    elif original is not None:
        formatted["message"] = "internal error"
        extensions = {"code": Code.INTERNAL.value}
    elif "code" not in extensions:
        too_many_tokens = "tokens" in error.message and "Parsing aborted" in error.message
        extensions["code"] = (
            Code.QUERY_TOO_COMPLEX.value if too_many_tokens else Code.BAD_USER_INPUT.value
        )
    formatted["extensions"] = extensions
    return formatted


def error_response(error: HubError) -> Response:
    status = 401 if error.code == Code.UNAUTHENTICATED else 403
    headers = {"WWW-Authenticate": 'Bearer realm="hub"'} if status == 401 else {}
    body = {"errors": [{"message": error.message, "extensions": {"code": error.code.value}}]}
    return JSONResponse(body, status_code=status, headers=headers)


class _Strawberry(GraphQL[Context, None]):
    def __init__(self, schema: Any, hub: HubState) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,
            # Subscriptions come with the event bus; until then no WebSocket protocol at all.
            subscription_protocols=(),
        )
        self.hub = hub

    async def get_context(self, request: Any, response: Any) -> Context:
        return Context(
            hub=self.hub,
            principal=request.state.principal,
            purpose_header=request.headers.get("hub-purpose"),
        )

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        out: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e) for e in result.errors]  # type: ignore[typeddict-item]
        if result.extensions:
            out["extensions"] = result.extensions
        return out


class GraphQLEndpoint:
    def __init__(self, schema: Any, hub: HubState, verifier: TokenVerifier) -> None:
        self.graphql = _Strawberry(schema, hub)
        self.hub = hub
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 4403})
            return
        request = Request(scope, receive)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await self.graphql(scope, receive, send)  # GraphiQL: a static page, no data
            return
        try:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise HubError(Code.UNAUTHENTICATED, "a bearer access token is required")
            principal = await self.verifier.verify(token.strip())
            principal = principal_for_request(principal, request.headers.get("hub-role"))
        except HubError as error:
            # Refused at the door: recorded without any claim of the unverified token.
            await self.hub.audit.append(
                [
                    AuditRecord(
                        at=utcnow(),
                        action="authenticate",
                        outcome="denied",
                        reason=error.code.value,
                    )
                ]
            )
            await error_response(error)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.graphql(scope, receive, send)
