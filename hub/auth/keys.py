"""The embedded issuer's signing keys, kept in the secret dir.

`signing-key.json` holds the current key (a private RSA JWK): it signs every new token.
`hub keys rotate` puts a new key there and moves the public half of the old one to
`signing-keys-retired.json` with the time until which it still verifies (the longest a
token can live), so tokens signed before the rotation stay valid until they expire. Each
process re-reads the files when they change (it looks at most twice a second, and at once
for a token whose key it does not know), so every replica sharing the secret dir signs
with the new key and serves both in its JWKS within a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

log = logging.getLogger(__name__)

KEY_FILE = "signing-key.json"
RETIRED_FILE = "signing-keys-retired.json"
LOCK_FILE = ".signing-keys.lock"
ALGORITHM = "RS256"
_KEY_BITS = 2048
# How often a process looks at the key files (a stat of each, no read unless they changed).
CHECK_S = 0.5
# A token with an unknown kid makes the process look again, but not more often than this.
FORCED_CHECK_S = 0.1


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
        return cls._parse(path.read_bytes(), path.name)

    @classmethod
    def _parse(cls, data: bytes, origin: str) -> SigningKey:
        try:
            raw: dict[str, Any] = json.loads(data)
            key = RSAKey.import_key(raw)
            return cls(key)
        except (ValueError, TypeError, JoseError) as exc:
            # The message names the file only: its content is a secret.
            raise RuntimeError(f"{origin} is not a private RSA JWK") from exc

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


@dataclass(frozen=True)
class RetiredKey:
    """The public half of a former signing key, and until when it verifies (Unix time)."""

    kid: str
    jwk: dict[str, Any]
    not_after: int

    def as_dict(self) -> dict[str, Any]:
        return {"kid": self.kid, "jwk": self.jwk, "not_after": self.not_after}


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a temporary file (mode 0600) and rename it over `path`: all or nothing."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_with_stamp(path: Path) -> tuple[bytes, tuple[int, int, int]] | None:
    """The file's bytes and the (inode, mtime, size) of exactly what was read; None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        return f.read(), (st.st_ino, st.st_mtime_ns, st.st_size)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _parse_retired(data: bytes | None, origin: str) -> tuple[RetiredKey, ...]:
    if data is None:
        return ()
    try:
        raw = json.loads(data)
        keys = []
        for item in raw["keys"]:
            jwk = dict(item["jwk"])
            if {"d", "p", "q", "dp", "dq", "qi"} & jwk.keys():
                raise ValueError("a retired key must be public")
            RSAKey.import_key(jwk)  # refuse anything that is not an RSA key
            keys.append(RetiredKey(str(item["kid"]), jwk, int(item["not_after"])))
        return tuple(keys)
    except (ValueError, TypeError, KeyError, JoseError) as exc:
        raise RuntimeError(f"{origin} is not a list of retired public keys") from exc


class SigningKeys:
    """The current signing key and the retired ones that still verify, kept up to date with
    the secret dir (or fixed, for a key held in memory)."""

    def __init__(
        self,
        current: SigningKey,
        retired: tuple[RetiredKey, ...] = (),
        *,
        secret_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._current = current
        self._retired = retired
        self._dir = secret_dir
        self._clock = clock
        self._monotonic = monotonic
        self._stamps: tuple[object, object] = (None, None)
        self._checked_at = monotonic()
        self._public: tuple[KeySet, frozenset[str], float] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, key: SigningKey) -> SigningKeys:
        """One key held in memory (tests and tools): no files, no rotation."""
        return cls(key)

    @classmethod
    def from_secret_dir(cls, secret_dir: Path, **kwargs: Any) -> SigningKeys:
        """The keys in the secret dir; the current one is created on first start."""
        keys = cls(SigningKey.from_secret_dir(secret_dir), secret_dir=secret_dir, **kwargs)
        keys.refresh(force=True, strict=True)
        return keys

    @property
    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        self.refresh()
        return self._current

    def retired(self) -> tuple[RetiredKey, ...]:
        """The former keys that still verify."""
        self.refresh()
        now = self._clock()
        return tuple(k for k in self._retired if k.not_after > now)

    def verification_keys(self, kid: str | None) -> KeySet:
        """The public keys tokens are checked with; an unknown `kid` makes the files be
        looked at again first (a replica may have rotated them a moment ago)."""
        keys, kids, _ = self._public_keys()
        if kid is not None and kid not in kids and self.refresh(forced=True):
            keys, _, _ = self._public_keys()
        return keys

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set served at /.well-known/jwks.json: the current key first."""
        return {"keys": [self.current.public_jwk(), *(k.jwk for k in self.retired())]}

    def _public_keys(self) -> tuple[KeySet, frozenset[str], float]:
        self.refresh()
        cached = self._public
        if cached is None or self._clock() >= cached[2]:
            now = self._clock()
            live = [k for k in self._retired if k.not_after > now]
            key_set = KeySet(
                [RSAKey.import_key(self._current.public_jwk())]
                + [RSAKey.import_key(k.jwk) for k in live]  # type: ignore[arg-type]
            )
            kids = frozenset({self._current.kid, *(k.kid for k in live)})
            valid_until = min((k.not_after for k in live), default=float("inf"))
            cached = self._public = (key_set, kids, valid_until)
        return cached

    def refresh(self, *, force: bool = False, forced: bool = False, strict: bool = False) -> bool:
        """Re-read the key files if they changed; True if the keys changed.

        Looks at most every CHECK_S (FORCED_CHECK_S when `forced`, for an unknown kid),
        always when `force`. A file that cannot be read leaves the keys as they were (and
        raises RuntimeError when `strict`).
        """
        if self._dir is None:
            return False
        now = self._monotonic()
        if not force and now - self._checked_at < (FORCED_CHECK_S if forced else CHECK_S):
            return False
        with self._lock:
            self._checked_at = now
            key_path, retired_path = self._dir / KEY_FILE, self._dir / RETIRED_FILE
            if not force and (_stamp(key_path), _stamp(retired_path)) == self._stamps:
                return False
            try:
                # The current key first: a rotation writes the retired list first, so a new
                # current key always comes with the list that holds the one it replaced.
                read_key = _read_with_stamp(key_path)
                read_retired = _read_with_stamp(retired_path)
                if read_key is None:
                    raise RuntimeError(f"{KEY_FILE} is missing")
                current = SigningKey._parse(read_key[0], KEY_FILE)
                retired = _parse_retired(read_retired and read_retired[0], RETIRED_FILE)
            except RuntimeError as exc:
                if strict:
                    raise
                log.error("signing keys not reloaded: %s", exc)
                return False
            changed = current.kid != self._current.kid or retired != self._retired
            self._current, self._retired = current, retired
            self._stamps = (read_key[1], read_retired and read_retired[1])
            self._public = None
        if changed:
            log.info("signing key %s current, %d retired", current.kid, len(retired))
        return changed


@contextlib.contextmanager
def _rotation_lock(secret_dir: Path) -> Iterator[None]:
    fd = os.open(secret_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rotate_signing_key(
    secret_dir: Path, *, keep_s: int, revoke_previous: bool = False, now: float | None = None
) -> tuple[SigningKey, tuple[RetiredKey, ...]]:
    """Make a new current key; the old one verifies `keep_s` more seconds, or not at all
    with `revoke_previous` (after a compromise: every token signed before is refused).

    Retired keys past their time are dropped. Returns the new key and the retired ones.
    """
    if keep_s <= 0:
        raise ValueError("keep_s must be positive")
    secret_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    now_s = int(time.time() if now is None else now)
    with _rotation_lock(secret_dir):
        old = SigningKey.from_secret_dir(secret_dir)
        read = _read_with_stamp(secret_dir / RETIRED_FILE)
        retired: list[RetiredKey] = []
        if not revoke_previous:
            retired = [
                k for k in _parse_retired(read and read[0], RETIRED_FILE) if k.not_after > now_s
            ]
            retired.insert(0, RetiredKey(old.kid, old.public_jwk(), now_s + keep_s))
        new = SigningKey.generate()
        # The retired list first, then the current key (see SigningKeys.refresh).
        body = {"keys": [k.as_dict() for k in retired]}
        _write_atomic(secret_dir / RETIRED_FILE, json.dumps(body, indent=1).encode())
        _write_atomic(secret_dir / KEY_FILE, json.dumps(new._key.as_dict(private=True)).encode())
    return new, tuple(retired)
