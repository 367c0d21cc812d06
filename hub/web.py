"""HTTP-wide refusals: the request body cap, and refusals as JSON with a stable code.

`BodyLimit` answers 413 to a request whose Content-Length is over the cap before its body is
read, and to one that streams more than the cap without a Content-Length as soon as it
passes it (its body is never held whole).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import Code
from hub.observability import request as observed


def error_body(code: Code, message: str) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code.value}}]})


def json_error(
    code: Code, message: str, status: int, headers: dict[str, str] | None = None
) -> Response:
    info = observed.current()
    if info is not None:
        info.outcome = code.value
    return Response(
        error_body(code, message),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class BodyTooLarge(Exception):
    """The request's body went past the cap while it was being read."""


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await json_error(Code.BAD_USER_INPUT, "invalid Content-Length", 400)(
                    scope, receive, send
                )
                return
            if length > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body exceeds {self.max_bytes} bytes"
        response = json_error(Code.BAD_USER_INPUT, message, 413, headers={"Connection": "close"})
        await response(scope, receive, send)


async def json_refusals(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app`, turning a plain-text refusal (4xx) into the hub's JSON error body
    (BAD_USER_INPUT; strawberry answers some malformed requests in plain text)."""
    held: Message | None = None
    text = b""

    async def send_json(message: Message) -> None:
        nonlocal held, text
        if message["type"] == "http.response.start":
            headers = Headers(raw=message.get("headers", []))
            status = int(message["status"])
            if 400 <= status < 500 and headers.get("content-type", "").startswith("text/plain"):
                held = message
                return
            await send(message)
            return
        if held is not None and message["type"] == "http.response.body":
            if len(text) < 4096:
                text += message.get("body", b"")
            if message.get("more_body"):
                return
            status = int(held["status"])
            held = None
            shown = text.decode("utf-8", "replace").strip()[:500] or "bad request"
            await json_error(Code.BAD_USER_INPUT, shown, status)(scope, receive, send)
            return
        await send(message)

    await app(scope, receive, send_json)
