"""Access token verification: from a bearer token to a Principal, or a refusal.

Embedded mode checks tokens against the hub's own signing keys (the current one and those
retired by `hub keys rotate` that still verify). With HUB_OIDC_ISSUER set, the keys come
from the provider's discovery document and JWKS, fetched over HTTP and cached: fetched again
for a token with an unknown kid (at most every HUB_OIDC_JWKS_REFRESH_S), and in the
background once they are JWKS_MAX_AGE_S old, so a key the provider withdrew stops
verifying. A verified token then passes the registry (hub/auth/registry.py): its
organisation, kind, city and roles, and for the hub's own tokens its client.
Every refusal is a HubError whose message names the reason, never the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import (
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from hub.auth.clients import CONSOLE_CLIENT_ID
from hub.auth.keys import SigningKey, SigningKeys
from hub.auth.registry import Registry
from hub.config import Settings
from hub.errors import Code, HubError
from hub.policy.principal import Principal
from hub.policy.vocabulary import PURPOSES, ROLES

log = logging.getLogger(__name__)

# Asymmetric only: never "none", never HS* (whose "key" a client could take from the JWKS).
ALLOWED_ALGORITHMS = ("RS256", "PS256", "ES256")
LEEWAY_S = 30
# Until a first JWKS has been fetched (the provider may start after the hub), retry sooner.
JWKS_RETRY_EMPTY_S = 5.0
# Keys this old are fetched again in the background, while the held ones keep verifying.
JWKS_MAX_AGE_S = 300.0
_HTTP_TIMEOUT_S = 5.0
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Providers such as Keycloak label their access tokens plain "JWT".
_EXTERNAL_TOKEN_TYPES = _ACCESS_TOKEN_TYPES | {"jwt"}
# Tokens whose signature was checked, by SHA-256 of the token (never the token itself):
# a client sends the same token with every request until it expires, and checking its
# signature again each time cost a twentieth of a compiled read.
VERIFIED_CACHE = 4096


def _unauthenticated(reason: str) -> HubError:
    return HubError(Code.UNAUTHENTICATED, reason)


class TokenVerifier:
    """Verifies access tokens; one instance per app, shared by all requests."""

    def __init__(
        self,
        settings: Settings,
        signing_key: SigningKey | SigningKeys | None = None,
        *,
        registry: Registry | None = None,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`registry` is what the app always passes; without one (tests of the token layer
        alone) tokens are checked for signature and claims only."""
        self.audience = settings.oidc_audience
        self.registry = registry
        # A token with an unknown kid makes the hub fetch the JWKS again at most this often,
        # so forged kids cannot make it hammer the provider.
        self.jwks_refresh_s = settings.oidc_jwks_refresh_s
        self._background: asyncio.Task[None] | None = None
        self._registry = JWSRegistry(algorithms=ALLOWED_ALGORITHMS, strict_check_header=False)
        self._clock = clock
        self._http = http
        self._owns_http = http is None
        self._lock = asyncio.Lock()
        self._fetched_at: float | None = None
        self._keys: KeySet | None = None
        self._kids: frozenset[str | None] = frozenset()
        # digest -> (claims, kid, the key set that verified it)
        self._verified: OrderedDict[bytes, tuple[dict[str, Any], Any, KeySet]] = OrderedDict()
        self.external = settings.oidc_issuer is not None
        if settings.oidc_issuer is not None:
            self.issuer = settings.oidc_issuer
        else:
            if signing_key is None:
                raise ValueError("embedded mode verifies with the hub's signing key")
            self.issuer = settings.issuer_url
            self._own_keys = (
                signing_key if isinstance(signing_key, SigningKeys) else SigningKeys.of(signing_key)
            )

    async def aclose(self) -> None:
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def verify(self, token: str) -> Principal:
        claims = await self._verified_claims(token)
        self._check_registered_claims(claims)  # every time: expiry moves on
        principal = _principal(claims)
        if self.registry is None:
            return principal
        return await self.registry.admit(
            principal, hub_token=not self.external, token_epoch=_token_epoch(claims)
        )

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token whose signature holds under the keys in force now. A
        token seen before is taken from memory only while the same key set would verify
        it (a rotation or a withdrawn key makes a new set, and the token is checked anew)."""
        digest = hashlib.sha256(token.encode()).digest()
        seen = self._verified.get(digest)
        if seen is not None:
            claims, kid, verified_by = seen
            if await self._key_set(kid) is verified_by:
                self._verified.move_to_end(digest)
                return claims
            del self._verified[digest]
        header = self._peek_header(token)
        self._check_type(header.get("typ"))
        kid = header.get("kid")
        keys = await self._key_set(kid)
        try:
            claims = jwt.decode(token, keys, registry=self._registry).claims
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise _unauthenticated(f"token refused: {_reason(exc)}") from exc
        self._verified[digest] = (claims, kid, keys)
        if len(self._verified) > VERIFIED_CACHE:
            self._verified.popitem(last=False)
        return claims

    def revoked(self, principal: Principal) -> bool:
        """Whether a principal this verifier admitted is no longer admitted (a disabled
        client, say): live connections ask this every second. Memory only."""
        if self.registry is None:
            return False
        return not self.registry.still_admits(principal, hub_token=not self.external)

    def _peek_header(self, token: str) -> dict[str, Any]:
        """The unverified header, only to pick the key; the signature check comes next."""
        try:
            header: dict[str, Any] = jws.extract_compact(
                token.encode(), registry=self._registry
            ).headers()
        except (JoseError, ValueError, TypeError, AttributeError) as exc:
            raise _unauthenticated("malformed token") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS:
            raise _unauthenticated("token signing algorithm not allowed")
        return header

    def _check_type(self, typ: object) -> None:
        # RFC 9068 §4: our own tokens must say at+jwt; a provider's may say JWT or nothing.
        if typ is None and self.external:
            return
        allowed = _EXTERNAL_TOKEN_TYPES if self.external else _ACCESS_TOKEN_TYPES
        if not isinstance(typ, str) or typ.lower() not in allowed:
            raise _unauthenticated("not an access token (typ)")

    def _check_registered_claims(self, claims: dict[str, Any]) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
            sub={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise _unauthenticated("token expired") from exc
        except MissingClaimError as exc:
            raise _unauthenticated(f"token lacks claims: {exc.claim}") from exc
        except ClaimError as exc:
            reason = {"iss": "wrong issuer", "aud": "wrong audience", "nbf": "token not yet valid"}
            raise _unauthenticated(reason.get(exc.claim, f"invalid claim: {exc.claim}")) from exc
        except (JoseError, ValueError, TypeError) as exc:
            raise _unauthenticated("invalid claims") from exc

    async def _key_set(self, kid: object) -> KeySet:
        if not (kid is None or isinstance(kid, str)):
            raise _unauthenticated("malformed token (kid)")
        if not self.external:
            return self._own_keys.verification_keys(kid)
        self._refresh_in_background()
        if self._needs_fetch(kid):
            async with self._lock:
                # Another request may have fetched while this one waited.
                if self._needs_fetch(kid):
                    await self._fetch_keys()
        if self._keys is None:
            raise _unauthenticated("token keys unavailable")
        return self._keys

    def _needs_fetch(self, kid: str | None) -> bool:
        if self._fetched_at is None:
            return True
        age = self._clock() - self._fetched_at
        if self._keys is None:
            return age >= JWKS_RETRY_EMPTY_S
        return kid not in self._kids and age >= self.jwks_refresh_s

    def _refresh_in_background(self) -> None:
        if self._keys is None or self._fetched_at is None:
            return
        if self._clock() - self._fetched_at < JWKS_MAX_AGE_S:
            return
        if self._background is not None and not self._background.done():
            return

        async def fetch() -> None:
            async with self._lock:
                if self._fetched_at is not None and (
                    self._clock() - self._fetched_at >= JWKS_MAX_AGE_S
                ):
                    await self._fetch_keys()

        self._background = asyncio.get_running_loop().create_task(fetch())

    async def _fetch_keys(self) -> None:
        self._fetched_at = self._clock()
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S)
        discovery_url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            config = await self._get_json(discovery_url)
            # OIDC Discovery §4.3: the document must name the issuer we were configured with.
            if config.get("issuer") != self.issuer:
                raise ValueError("discovery document names another issuer")
            jwks_uri = config.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise ValueError("discovery document has no jwks_uri")
            jwks = await self._get_json(jwks_uri)
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (httpx.HTTPError, JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("fetching the token keys of %s failed: %s", self.issuer, exc)
            return
        self._set_keys(keys)
        log.info("fetched %d token keys from %s", len(keys.keys), self.issuer)

    async def _get_json(self, url: str) -> dict[str, Any]:
        assert self._http is not None
        response = await self._http.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return data

    def _set_keys(self, keys: KeySet) -> None:
        self._keys = keys
        self._kids = frozenset(key.kid for key in keys)


def _reason(exc: Exception) -> str:
    if isinstance(exc, JoseError) and exc.error:
        return exc.error  # a short code such as bad_signature, never token content
    return "invalid token"


def _string_list(claims: dict[str, Any], name: str) -> frozenset[str]:
    value = claims.get(name)
    if value is None:
        raise _unauthenticated(f"token lacks claims: {name}")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _unauthenticated(f"invalid claim: {name}")
    return frozenset(value)


def _optional_string(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise _unauthenticated(f"invalid claim: {name}")
    return value


def _token_epoch(claims: dict[str, Any]) -> int:
    """The client's token epoch the hub's issuer wrote into the token (0 before it did)."""
    value = claims.get("client_epoch", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _unauthenticated("invalid claim: client_epoch")
    return value


def _principal(claims: dict[str, Any]) -> Principal:
    org = _optional_string(claims, "org")
    if not org:
        raise _unauthenticated("token lacks claims: org")
    roles = _string_list(claims, "roles")
    purposes = _string_list(claims, "purposes")
    sex_worker_id = _optional_string(claims, "sex_worker_id")
    if roles - ROLES:
        raise HubError(Code.FORBIDDEN, "token carries a role the hub does not know")
    if purposes - PURPOSES:
        raise HubError(Code.FORBIDDEN, "token carries a purpose the hub does not know")
    client_id = _optional_string(claims, "client_id") or _optional_string(claims, "azp")
    if "sex_worker" in roles and not sex_worker_id and client_id != CONSOLE_CLIENT_ID:
        # Without the worker's id, "their own records" would be the records whose id is null.
        # Only a person of the consoles may lack it: a worker with no record yet, who may
        # register themself (hub/services/participation.py). Every rule comparing
        # `$principal.sex_worker_id` is false for them (a missing fact never widens access),
        # and the registry checks that the person indeed has no record.
        raise HubError(Code.FORBIDDEN, "role sex_worker needs a sex_worker_id claim")
    return Principal(
        subject=claims["sub"],
        org_id=org,
        org_kind=_optional_string(claims, "org_kind") or "",
        city=_optional_string(claims, "city"),
        roles=roles,
        purposes=purposes,
        sex_worker_id=sex_worker_id,
        # RFC 9068 says client_id; Keycloak and others say azp.
        client_id=client_id,
        expires_at=_expiry(claims),
    )


def _expiry(claims: dict[str, Any]) -> float | None:
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def principal_for_request(principal: Principal, role_header: str | None) -> Principal:
    """Narrow the principal to the one role named by the Hub-Role header, if any."""
    if role_header is None:
        return principal
    role = role_header.strip()
    if role not in principal.roles:
        raise HubError(Code.FORBIDDEN, "Hub-Role names a role this token does not carry")
    return dataclasses.replace(principal, roles=frozenset({role}))
