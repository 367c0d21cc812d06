"""The /graphql endpoint: authenticate first, then hand over to strawberry.

Nothing of the schema runs for a request without a valid token. Errors leave with a stable
`extensions.code`; unexpected failures leave as INTERNAL without their message.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from datetime import timedelta
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from hub.audit.log import AuditRecord
from hub.auth.verify import TokenVerifier, principal_for_request
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.observability import request as observed
from hub.policy.principal import Principal
from hub.schema.context import Context
from hub.services.actor import Actor
from hub.state import HubState


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


ANONYMOUS = Principal("", "", "", None, frozenset(), frozenset())
MAX_MESSAGE = 64 * 1024  # bytes of one WebSocket message from a client


class _Strawberry(GraphQL[Context, None]):
    def __init__(self, schema: Any, hub: HubState, verifier: TokenVerifier) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=False,
            # graphql-transport-ws only; the legacy graphql-ws protocol is off.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
        )
        self.hub = hub
        self.verifier = verifier

    async def get_context(self, request: Any, response: Any) -> Context:
        if isinstance(request, WebSocket):
            # Nothing is authenticated until connection_init (see on_ws_connect).
            ctx = Context(
                hub=self.hub, actor=Actor(ANONYMOUS, self.hub.policies), authenticated=False
            )
            request.scope.setdefault("state", {})["hub_context"] = ctx
            return ctx
        principal = getattr(request.state, "principal", None)
        if principal is None:  # only the GraphiQL page gets here without a token
            return Context(
                hub=self.hub, actor=Actor(ANONYMOUS, self.hub.policies), authenticated=False
            )
        _note(principal, request.headers.get("hub-purpose"))
        actor = Actor(
            principal, self.hub.policies, purpose_header=request.headers.get("hub-purpose")
        )
        return Context(hub=self.hub, actor=actor)

    async def on_ws_connect(self, context: Context) -> Any:
        """Authenticate in connection_init: {"authorization": "Bearer …", "purpose": …}."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization") or ""
        scheme, _, token = str(raw).partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise HubError(Code.UNAUTHENTICATED, "connection_init needs authorization")
            principal = await self.verifier.verify(token.strip())
            role = params.get("role")
            principal = principal_for_request(principal, str(role) if role else None)
        except HubError as error:
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
            raise ConnectionRejectionError({"code": error.code.value}) from None
        purpose = params.get("purpose")
        context.actor = Actor(
            principal, self.hub.policies, purpose_header=str(purpose) if purpose else None
        )
        _note(principal, context.actor.purpose_header)
        context.expires_at = _expiry(token.strip())
        context.authenticated = True
        return UNSET

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        out: GraphQLHTTPResponse = {"data": result.data}
        errors = [format_error(e) for e in result.errors or []]
        if errors:
            out["errors"] = errors  # type: ignore[typeddict-item]
        info = observed.current()
        if info is not None:
            info.outcome = str(errors[0]["extensions"]["code"]) if errors else "OK"
        if result.extensions:
            out["extensions"] = result.extensions
        return out


def _note(principal: Principal, purpose_header: str | None) -> None:
    """Who asks, for which purpose, as the request's log line names it."""
    info = observed.current()
    if info is not None:
        info.client_id = observed.client_id(principal.client_id)
        info.purpose = observed.purpose(purpose_header, principal.purposes)


def _expiry(token: str) -> float | None:
    """The `exp` of a token that has just been verified."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class GraphQLEndpoint:
    def __init__(self, schema: Any, hub: HubState, verifier: TokenVerifier) -> None:
        self.graphql = _Strawberry(schema, hub, verifier)
        self.hub = hub
        self.verifier = verifier

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Limits on a live connection: message size, and a clean close when the token that
        authenticated it expires or is revoked."""
        closed = asyncio.Event()

        async def guarded_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("text") or "") + len(message.get("bytes") or b"")
                if size > MAX_MESSAGE:
                    closed.set()
                    await send(
                        {"type": "websocket.close", "code": 4413, "reason": "message too large"}
                    )
                    return {"type": "websocket.disconnect", "code": 4413}
            if message["type"] == "websocket.disconnect":
                closed.set()
            return message

        async def guarded_send(message: Message) -> None:
            if closed.is_set() and message["type"] != "websocket.close":
                return
            if message["type"] == "websocket.close":
                if closed.is_set():
                    return
                closed.set()
            await send(message)

        async def expire() -> None:
            while not closed.is_set():
                ctx = scope.get("state", {}).get("hub_context")
                expires = ctx.expires_at if isinstance(ctx, Context) else None
                wait = 1.0 if expires is None else max(0.0, min(1.0, expires - time.time()))
                if expires is not None and time.time() >= expires:
                    await guarded_send(
                        {"type": "websocket.close", "code": 4401, "reason": "token expired"}
                    )
                    return
                if (
                    isinstance(ctx, Context)
                    and ctx.authenticated
                    and self.verifier.revoked(ctx.actor.principal)
                ):
                    # Its client was disabled (or its organisation changed) meanwhile.
                    await guarded_send(
                        {"type": "websocket.close", "code": 4403, "reason": "token revoked"}
                    )
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed.wait(), wait)

        watchdog = asyncio.get_running_loop().create_task(expire())
        try:
            await self.graphql(scope, guarded_receive, guarded_send)
        finally:
            closed.set()
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
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
            info = observed.current()
            if info is not None:
                info.outcome = error.code.value
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
