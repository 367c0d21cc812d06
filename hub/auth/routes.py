"""HTTP routes of the embedded authorization server."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.auth.issuer import JWKS_PATH, METADATA_PATH, TOKEN_PATH, EmbeddedIssuer
from hub.auth.keys import SigningKey


def auth_routes(
    issuer: EmbeddedIssuer | None, signing_key: SigningKey | None = None
) -> list[Route]:
    """POST /oauth/token, GET /.well-known/jwks.json and the RFC 8414 metadata.

    With an external OIDC provider (no embedded issuer) there are none: the provider serves
    its own, and metadata here naming the hub as issuer would be false.
    """
    if issuer is None:
        return []
    key = signing_key or issuer.signing_key
    if key.kid != issuer.signing_key.kid:
        raise ValueError("the JWKS must publish the key the issuer signs with")

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(key.public_jwks(), headers={"Cache-Control": "public, max-age=300"})

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse(issuer.metadata(), headers={"Cache-Control": "public, max-age=300"})

    return [
        Route(TOKEN_PATH, issuer.token_endpoint, methods=["POST"], name="oauth_token"),
        Route(JWKS_PATH, jwks, methods=["GET"], name="jwks"),
        Route(METADATA_PATH, metadata, methods=["GET"], name="oauth_metadata"),
    ]
