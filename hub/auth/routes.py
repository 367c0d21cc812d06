"""HTTP routes of the embedded authorization server."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.auth.issuer import (
    AUTHORIZE_PATH,
    JWKS_PATH,
    METADATA_PATH,
    OIDC_DISCOVERY_PATH,
    TOKEN_PATH,
    EmbeddedIssuer,
)
from hub.auth.keys import SigningKey, SigningKeys

# Short, so that partners who cache the JWKS see a rotated-in key soon.
_CACHE = {"Cache-Control": "public, max-age=60"}


def auth_routes(
    issuer: EmbeddedIssuer | None, signing_key: SigningKey | SigningKeys | None = None
) -> list[Route]:
    """GET/POST /oauth/authorize (people's login), POST /oauth/token, GET
    /.well-known/jwks.json, the RFC 8414 metadata and the OpenID Connect discovery document.

    With an external OIDC provider (no embedded issuer) there are none: the provider serves
    its own, and metadata here naming the hub as issuer would be false.
    """
    if issuer is None:
        return []
    if signing_key is not None:
        given = signing_key.current if isinstance(signing_key, SigningKeys) else signing_key
        if given.kid != issuer.signing_key.kid:
            raise ValueError("the JWKS must publish the key the issuer signs with")

    async def jwks(request: Request) -> JSONResponse:
        # The current key and the retired ones that still verify, as they are now.
        return JSONResponse(issuer.keys.public_jwks(), headers=_CACHE)

    async def metadata(request: Request) -> JSONResponse:
        return JSONResponse(issuer.metadata(), headers=_CACHE)

    async def openid_configuration(request: Request) -> JSONResponse:
        return JSONResponse(issuer.openid_configuration(), headers=_CACHE)

    return [
        Route(
            AUTHORIZE_PATH,
            issuer.authorization.endpoint,
            methods=["GET", "POST"],
            name="oauth_authorize",
        ),
        Route(TOKEN_PATH, issuer.token_endpoint, methods=["POST"], name="oauth_token"),
        Route(JWKS_PATH, jwks, methods=["GET"], name="jwks"),
        Route(METADATA_PATH, metadata, methods=["GET"], name="oauth_metadata"),
        Route(OIDC_DISCOVERY_PATH, openid_configuration, methods=["GET"], name="oidc_discovery"),
    ]
