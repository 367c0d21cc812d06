"""The access log's public face: the latest checkpoint, proofs, and the verification key.

No authentication: these answers hold tree sizes and hashes only, never an entry's content
(leaves are salted, hub/audit/leaf.py), and anyone holding a checkpoint must be able to
check it. Every input is bounded by the tree's current size.

    GET /audit/checkpoint                 the latest signed checkpoint (text/plain note)
    GET /audit/key                        the verifier key, <name>+<hex id>+<base64 key>
    GET /audit/consistency?old=N&new=M    {"old", "new", "hashes": [base64]}
    GET /audit/inclusion?index=I&size=N   {"index", "size", "hashes": [base64]}
"""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.audit import tree
from hub.audit.checkpoints import latest_checkpoint
from hub.audit.note import Verifier
from hub.db import Database

_MAX_DIGITS = 18  # below 2**63: every size the database can hold
_NO_STORE = {"Cache-Control": "no-store"}


class _BadInput(ValueError):
    pass


def _int(request: Request, name: str) -> int:
    raw = request.query_params.get(name)
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise _BadInput(f"{name} must be a non-negative integer")
    return int(raw)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=_NO_STORE)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def audit_routes(db: Database, verifier: Verifier) -> list[Route]:
    async def checkpoint(_request: Request) -> Response:
        latest = await latest_checkpoint(db)
        if latest is None:
            return PlainTextResponse("no checkpoint yet\n", status_code=404, headers=_NO_STORE)
        return PlainTextResponse(latest.note, headers=_NO_STORE)

    async def key(_request: Request) -> Response:
        return PlainTextResponse(f"{verifier}\n")

    async def consistency(request: Request) -> Response:
        try:
            old, new = _int(request, "old"), _int(request, "new")
        except _BadInput as exc:
            return _error(str(exc))
        async with db.session() as session:
            size = (await tree.head(session)).size
            if not 0 < old <= new <= size:
                return _error(f"need 0 < old <= new <= {size} (the tree's size)")
            hashes = await tree.consistency_proof(session, old, new)
        return JSONResponse({"old": old, "new": new, "hashes": _b64(hashes)}, headers=_NO_STORE)

    async def inclusion(request: Request) -> Response:
        try:
            index, size = _int(request, "index"), _int(request, "size")
        except _BadInput as exc:
            return _error(str(exc))
        async with db.session() as session:
            current = (await tree.head(session)).size
            if not index < size <= current:
                return _error(f"need index < size <= {current} (the tree's size)")
            hashes = await tree.inclusion_proof(session, index, size)
        return JSONResponse(
            {"index": index, "size": size, "hashes": _b64(hashes)}, headers=_NO_STORE
        )

    return [
        Route("/audit/checkpoint", checkpoint, methods=["GET"]),
        Route("/audit/key", key, methods=["GET"]),
        Route("/audit/consistency", consistency, methods=["GET"]),
        Route("/audit/inclusion", inclusion, methods=["GET"]),
    ]
