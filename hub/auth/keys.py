"""The embedded issuer's signing key: one RSA key, kept as a private JWK in the secret dir."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

KEY_FILE = "signing-key.json"
ALGORITHM = "RS256"
_KEY_BITS = 2048


class SigningKey:
    """The private key that signs access tokens, and its public half for the JWKS.

    The `kid` is the key's RFC 7638 thumbprint, so it stays the same across restarts and is
    the same on every replica that mounts the same secret dir.
    """

    def __init__(self, key: RSAKey) -> None:
        if not key.is_private:
            raise ValueError("a signing key must be private")
        key.ensure_kid()
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key held in memory only (tests and first start)."""
        return cls(RSAKey.generate_key(_KEY_BITS, parameters={"use": "sig", "alg": ALGORITHM}))

    @classmethod
    def from_secret_dir(cls, secret_dir: Path) -> SigningKey:
        return cls.load_or_create(secret_dir / KEY_FILE)

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Read the key file, creating it (mode 0600) on first start."""
        if path.exists():
            return cls._read(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(cls.generate()._key.as_dict(private=True)).encode()
        # Write a temporary file, then link it into place: the key file appears complete or
        # not at all, and when two processes start at once the first link wins for both.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return cls._read(path)

    @classmethod
    def _read(cls, path: Path) -> SigningKey:
        try:
            raw: dict[str, Any] = json.loads(path.read_bytes())
            key = RSAKey.import_key(raw)
            return cls(key)
        except (ValueError, TypeError, JoseError) as exc:
            # The message names the file only: its content is a secret.
            raise RuntimeError(f"{path.name} is not a private RSA JWK") from exc

    @property
    def kid(self) -> str:
        kid = self._key.kid
        assert kid is not None  # set by ensure_kid()
        return kid

    @property
    def alg(self) -> str:
        return ALGORITHM

    def private_key_set(self) -> KeySet:
        """For signing; joserfc copies the `kid` into the token header from here."""
        return KeySet([self._key])

    def public_key_set(self) -> KeySet:
        return KeySet([RSAKey.import_key(self.public_jwk())])

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = dict(self._key.as_dict(private=False))
        jwk.update(kid=self.kid, use="sig", alg=ALGORITHM)
        return jwk

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set served at /.well-known/jwks.json: public parameters only."""
        return {"keys": [self.public_jwk()]}

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"
