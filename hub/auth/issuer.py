"""The embedded OAuth 2.0 authorization server: client credentials in, RFC 9068 JWTs out.

Built from authlib's server parts (AuthorizationServer, ClientCredentialsGrant,
JWTBearerTokenGenerator). Authlib is synchronous, so a request is handled in two steps: the
clients it names are loaded from the database first, asynchronously; then authlib runs the
grant in a worker thread against those preloaded clients (scrypt checks are slow on purpose).

A client gets a token only while it is enabled and its roles are allowed at its
organisation's kind (hub/policy/vocabulary.py); the token carries its `client_epoch`, which
disabling the client or rotating its secret moves on (hub/auth/registry.py refuses older
tokens). Tokens are signed with the current key of the secret dir (hub/auth/keys.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache, cached_property
from typing import Any
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import ClientAuthentication
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from joserfc import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.auth.authorize import AUTH_CODE_GRANT, AUTHORIZE_PATH, Authorization, exchange_code
from hub.auth.clients import (
    CONSOLE_CLIENT_ID,
    binding_errors,
    check_secret,
    hash_secret,
    load_client,
)
from hub.auth.controllers import DataControllers
from hub.auth.keys import SigningKey, SigningKeys
from hub.config import Settings
from hub.db import Database
from hub.errors import Code, HubError
from hub.models.organisation import ApiClient, Organisation
from hub.models.people import Person

log = logging.getLogger(__name__)

TOKEN_PATH = "/oauth/token"  # noqa: S105 (a URL path, not a secret)
JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATH = "/.well-known/oauth-authorization-server"
OIDC_DISCOVERY_PATH = "/.well-known/openid-configuration"
# The longest a minted token may live (the demo's are 12 h); a retired signing key verifies
# at least this long after a rotation, so no token outlives the key that checks it.
MAX_TOKEN_LIFETIME_S = 24 * 3600
GRANT_TYPE = "client_credentials"
SCOPE = "hub"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_FORM_TYPE = "application/x-www-form-urlencoded"
_MAX_BODY = 8192


@cache
def _dummy_hash() -> str:
    # Checked when a request names an unknown client, so that a wrong client id costs as much
    # time as a wrong secret and the answer does not reveal which ids exist.
    return hash_secret("no such client")


class HubClient(ClientMixin):
    """An ApiClient and its organisation, as authlib's ClientMixin sees them, with the
    reasons (if any) it may get no token though it authenticates."""

    def __init__(
        self, api_client: ApiClient, organisation: Organisation, problems: list[str]
    ) -> None:
        self.api_client = api_client
        self.organisation = organisation
        self.problems = (["client disabled"] if api_client.disabled else []) + problems

    def __repr__(self) -> str:
        # authlib logs clients with %r; never let that reach the secret hash.
        return f"HubClient({self.api_client.client_id!r})"

    def get_client_id(self) -> str:
        return self.api_client.client_id

    def get_allowed_scope(self, scope: str | None) -> str | None:
        # One scope for now; None makes authlib answer invalid_scope.
        if not scope or set(scope.split()) == {SCOPE}:
            return SCOPE
        return None

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(client_secret, self.api_client.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in AUTH_METHODS

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == GRANT_TYPE

    def claims(self) -> dict[str, Any]:
        """The hub's own claims, next to the RFC 9068 ones."""
        org = self.organisation
        claims: dict[str, Any] = {
            "org": org.id,
            "org_kind": org.kind,
            "city": org.city,
            "roles": list(self.api_client.roles),
            "purposes": list(self.api_client.purposes),
            "client_epoch": self.api_client.token_epoch,
        }
        if self.api_client.sex_worker_id is not None:
            claims["sex_worker_id"] = self.api_client.sex_worker_id
        return claims


class _ConsoleClient:
    """The consoles' public client, as the token generator sees it."""

    def get_client_id(self) -> str:
        return CONSOLE_CLIENT_ID


class PersonUser:
    """A person who logged in, as the token generator sees them: `sub` is the person's id,
    and the hub's claims are the person's, as a client's are the client's."""

    def __init__(self, person: Person, organisation: Organisation, auth_time: datetime) -> None:
        self.person = person
        self.organisation = organisation
        self.auth_time = int(auth_time.timestamp())

    def get_user_id(self) -> str:
        return self.person.id

    def claims(self) -> dict[str, Any]:
        org = self.organisation
        claims: dict[str, Any] = {
            "org": org.id,
            "org_kind": org.kind,
            "city": org.city,
            "roles": list(self.person.roles),
            "purposes": list(self.person.purposes),
            "client_epoch": self.person.token_epoch,
        }
        if self.person.sex_worker_id is not None:
            claims["sex_worker_id"] = self.person.sex_worker_id
        return claims


class _TokenRequest(OAuth2Request):
    """A token request whose form is already parsed and whose clients are already loaded."""

    def __init__(
        self,
        uri: str,
        headers: Mapping[str, str],
        form: dict[str, str],
        clients: Mapping[str, HubClient],
    ) -> None:
        super().__init__("POST", uri, headers=headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form
        self._clients = clients

    @property
    def form(self) -> dict[str, str]:
        return self._form

    @property
    def args(self) -> dict[str, str]:
        return {}

    def query_client(self, client_id: str) -> HubClient | None:
        client = self._clients.get(client_id)
        if client is None:
            check_secret("", _dummy_hash())
        return client


class _ClientCredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Only a client that proved its secret learns why it gets no token.
        client: HubClient = self.request.client
        if client.problems:
            raise UnauthorizedClientError(description="; ".join(client.problems))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # authlib's version debug-logs the whole token; this one does not.
        token = self.generate_token(scope=self.request.payload.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class _AccessTokenGenerator(JWTBearerTokenGenerator):
    def __init__(self, settings: Settings, keys: SigningKeys, lifetime_s: int) -> None:
        super().__init__(
            issuer=settings.issuer_url, alg=keys.current.alg, expires_generator=lifetime_s
        )
        self._audience = settings.oidc_audience
        self._keys = keys

    def get_jwks(self) -> Any:
        return self._keys.current.private_key_set()

    def get_audiences(self, client: HubClient, user: object, scope: str) -> str:
        return self._audience

    def get_extra_claims(
        self, client: HubClient | _ConsoleClient, grant_type: str, user: object, scope: str
    ) -> dict[str, Any]:
        if isinstance(user, PersonUser):
            return user.claims()
        assert isinstance(client, HubClient)
        return client.claims()

    def get_auth_time(self, user: object) -> int | None:
        return user.auth_time if isinstance(user, PersonUser) else None


class _Server(AuthorizationServer):
    """authlib's AuthorizationServer, adapted to Starlette responses and preloaded clients."""

    def __init__(self, generator: _AccessTokenGenerator) -> None:
        super().__init__(scopes_supported=[SCOPE])
        self.register_grant(_ClientCredentialsGrant)
        self.register_token_generator("default", generator)

    def query_client(self, client_id: str) -> None:
        # Clients are looked up per request (see authenticate_client), never from here.
        return None

    def authenticate_client(
        self, request: _TokenRequest, methods: list[str], endpoint: str = "token"
    ) -> HubClient:
        try:
            client: HubClient = ClientAuthentication(request.query_client)(
                request, methods, endpoint
            )
        except InvalidClientError as exc:
            # One answer for an unknown client and a wrong secret, always 401 (RFC 6749 §5.2).
            raise InvalidClientError(
                status_code=401, description="Client authentication failed."
            ) from exc
        return client

    def save_token(self, token: dict[str, Any], request: _TokenRequest) -> None:
        # JWTs are self-contained; nothing is stored. Log the client id, never the token.
        log.info("access token issued to client %s", request.client.get_client_id())

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        return None

    def create_oauth2_request(self, request: _TokenRequest) -> _TokenRequest:
        return request

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> Response:
        return JSONResponse(body, status_code=status, headers=dict(headers))


class EmbeddedIssuer:
    """The hub as its own authorization server (when HUB_OIDC_ISSUER is unset)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        signing_key: SigningKey | SigningKeys,
        *,
        controllers: DataControllers | None = None,
        rate: Callable[[str], float] | None = None,
    ) -> None:
        """`controllers`: the data controllers named in policy (else read from the policy
        directory of `settings`). `rate(client_id)`: 0 if a token request of that client may
        go now, else the seconds until it may (its secret is not even checked before)."""
        self.settings = settings
        self.rate = rate
        self.db = db
        self.keys = (
            signing_key if isinstance(signing_key, SigningKeys) else SigningKeys.of(signing_key)
        )
        self.controllers = (
            controllers
            if controllers is not None
            else DataControllers.from_directory(settings.policy_dir)
        )
        self._generator = _AccessTokenGenerator(settings, self.keys, settings.token_lifetime_s)
        self._console_generator = _AccessTokenGenerator(
            settings, self.keys, settings.console_token_lifetime_s
        )
        self._server = _Server(self._generator)

    @cached_property
    def authorization(self) -> Authorization:
        """GET/POST /oauth/authorize: people's login (made when first served, as it reads
        the login form's key from the secret dir)."""
        return Authorization(self)

    @property
    def signing_key(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self.keys.current

    def url(self, path: str) -> str:
        return self.settings.issuer_url.rstrip("/") + path

    def metadata(self) -> dict[str, Any]:
        """RFC 8414 authorization server metadata."""
        return {
            "issuer": self.settings.issuer_url,
            "authorization_endpoint": self.url(AUTHORIZE_PATH),
            "token_endpoint": self.url(TOKEN_PATH),
            "jwks_uri": self.url(JWKS_PATH),
            "grant_types_supported": [GRANT_TYPE, AUTH_CODE_GRANT],
            # "none": the consoles' public client, with PKCE.
            "token_endpoint_auth_methods_supported": [*AUTH_METHODS, "none"],
            "scopes_supported": [SCOPE, "openid"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": True,
        }

    def openid_configuration(self) -> dict[str, Any]:
        """OpenID Connect Discovery metadata: the same server, for OIDC libraries and for a
        hub that verifies this one's tokens as an external provider (HUB_OIDC_ISSUER)."""
        return {
            **self.metadata(),
            "subject_types_supported": ["public"],
            # The alg of every token it signs, access tokens and ID tokens alike.
            "id_token_signing_alg_values_supported": [self.signing_key.alg],
            "ui_locales_supported": ["nl", "fr", "en"],
            "claims_supported": [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "jti",
                "client_id",
                "scope",
                "org",
                "org_kind",
                "city",
                "roles",
                "purposes",
                "sex_worker_id",
                "client_epoch",
                "auth_time",
                "nonce",
                "name",
                "locale",
            ],
        }

    async def token_endpoint(self, request: Request) -> Response:
        """POST /oauth/token: the client credentials grant (RFC 6749 §4.4), and the
        authorization code grant of the consoles' login (hub/auth/authorize.py)."""
        try:
            form = await _read_form(request)
            basic_id, _ = extract_basic_authorization(request.headers)
            if form.get("grant_type") == AUTH_CODE_GRANT:
                return await exchange_code(self, form, basic_client=basic_id)
            if basic_id and "client_secret" in form:
                raise InvalidRequestError("Use one client authentication method.")
            wait = self._over_rate(basic_id or form.get("client_id"))
            if wait:
                return _slow_down(wait)
            clients = await self._load_clients({basic_id, form.get("client_id")})
            # The public URL, not the one the proxy forwarded: authlib refuses plain http
            # unless it is loopback, and TLS usually ends before the hub.
            oauth_request = _TokenRequest(self.url(TOKEN_PATH), request.headers, form, clients)
        except OAuth2Error as error:
            response: Response = self._server.handle_error_response(None, error)
            return response
        response = await asyncio.to_thread(self._server.create_token_response, oauth_request)
        return response

    def _over_rate(self, client_id: str | None) -> float:
        """A client's token requests spend its own bucket (per replica), so neither a
        client nor anyone guessing its secret can make the hub run scrypt without end."""
        if self.rate is None or not client_id or len(client_id) > 80:
            return 0.0
        return self.rate(client_id)

    async def mint(self, client_id: str, *, lifetime_s: int | None = None) -> str:
        """A token for a registered client without its secret: for the CLI and the demo."""
        if lifetime_s is not None and not 0 < lifetime_s <= MAX_TOKEN_LIFETIME_S:
            raise HubError(
                Code.BAD_USER_INPUT, f"lifetime_s must be between 1 and {MAX_TOKEN_LIFETIME_S}"
            )
        clients = await self._load_clients({client_id})
        client = clients.get(client_id)
        if client is None:
            raise HubError(Code.NOT_FOUND, f"client {client_id} not found")
        if client.problems:
            raise HubError(Code.FORBIDDEN, "; ".join(client.problems))
        generator = (
            self._generator
            if lifetime_s is None
            else _AccessTokenGenerator(self.settings, self.keys, lifetime_s)
        )
        token: str = generator.access_token_generator(
            client=client, grant_type=GRANT_TYPE, user=None, scope=SCOPE
        )
        return token

    def person_tokens(
        self,
        person: Person,
        organisation: Organisation,
        *,
        auth_time: datetime,
        scope: str,
        nonce: str | None,
    ) -> dict[str, Any]:
        """The token response of a person's login: an access token (RFC 9068, no name in
        it) and an OpenID Connect ID token for the consoles, signed with the same key."""
        user = PersonUser(person, organisation, auth_time)
        lifetime = self.settings.console_token_lifetime_s
        access_token = self._console_generator.access_token_generator(
            client=_ConsoleClient(), grant_type=AUTH_CODE_GRANT, user=user, scope=scope
        )
        now = int(time.time())
        id_claims: dict[str, Any] = {
            "iss": self.settings.issuer_url,
            "sub": person.id,
            "aud": CONSOLE_CLIENT_ID,
            "azp": CONSOLE_CLIENT_ID,
            "iat": now,
            "exp": now + lifetime,
            "auth_time": user.auth_time,
            "name": person.display_name,
        }
        if nonce:
            id_claims["nonce"] = nonce
        if person.locale:
            id_claims["locale"] = person.locale
        id_token = jwt.encode(
            {"alg": self.signing_key.alg, "typ": "JWT"},
            id_claims,
            self.signing_key.private_key_set(),
        )
        return {
            "access_token": access_token,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope,
        }

    async def _load_clients(self, client_ids: set[str | None]) -> dict[str, HubClient]:
        clients: dict[str, HubClient] = {}
        ids = [cid for cid in client_ids if cid and len(cid) <= 80]
        if not ids:
            return clients
        async with self.db.session() as session:
            for cid in ids:
                loaded = await load_client(session, cid)
                if loaded is not None:
                    api_client, org = loaded
                    problems = await binding_errors(
                        session, org, api_client.roles, self.controllers
                    )
                    clients[cid] = HubClient(api_client, org, problems)
        return clients


def _slow_down(wait: float) -> Response:
    """429 with Retry-After, in the token endpoint's own error format (RFC 6749 §5.2)."""
    body = {
        "error": "temporarily_unavailable",
        "error_description": "too many token requests from this client: retry later",
    }
    headers = {"Retry-After": str(max(1, math.ceil(wait))), "Cache-Control": "no-store"}
    return JSONResponse(body, status_code=429, headers=headers)


async def _read_form(request: Request) -> dict[str, str]:
    """The url-encoded body, bounded in size, each parameter at most once (RFC 6749 §3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise InvalidRequestError(f"Content-Type must be {_FORM_TYPE}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise InvalidRequestError("Request body too large.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise InvalidRequestError("Request body must be UTF-8.") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequestError("A parameter is repeated.")
        form[name] = value
    return form
