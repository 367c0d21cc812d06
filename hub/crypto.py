"""Encryption of identity fields at rest: AES-GCM, one data key per person.

Each sex worker's identity is encrypted under the worker's own 256-bit data key. The data
key is stored wrapped (AES-GCM) by the master key kept in HUB_SECRET_DIR. Erasure deletes the
wrapped key; the ciphertext that stays behind can then never be read again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


def load_or_create_key(path: Path, size: int = 32) -> bytes:
    """Read a secret key file, creating it (mode 0600) on first start."""
    if path.exists():
        key = path.read_bytes()
        if len(key) != size:
            raise RuntimeError(f"secret key {path.name} has the wrong length")
        return key
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = os.urandom(size)
    # Written whole under a temporary name, then linked into place: two processes starting
    # at once end up with the same key, never with a half-written one.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_bytes()
    finally:
        tmp.unlink()
    if len(key) != size:
        raise RuntimeError(f"secret key {path.name} has the wrong length")
    return key


@dataclass(frozen=True)
class Identity:
    """The identity of a sex worker, as validated by the police. Never logged."""

    legal_name: str
    birth_date: str  # ISO date
    nationality: str
    document_number: str

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Identity:
        raw: dict[str, Any] = orjson.loads(data)
        return cls(**raw)


class Keyring:
    def __init__(self, master_key: bytes) -> None:
        self._master = AESGCM(master_key)

    @classmethod
    def from_secret_dir(cls, secret_dir: Path) -> Keyring:
        return cls(load_or_create_key(secret_dir / "master.key"))

    @staticmethod
    def new_data_key() -> bytes:
        return AESGCM.generate_key(bit_length=256)

    def wrap(self, subject_id: str, data_key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._master.encrypt(nonce, data_key, b"data-key:" + subject_id.encode())

    def opens(self, subject_id: str, wrapped: bytes) -> bool:
        """Whether this master key is the one that wrapped `wrapped`."""
        try:
            self.unwrap(subject_id, wrapped)
        except InvalidTag:
            return False
        return True

    def unwrap(self, subject_id: str, wrapped: bytes) -> bytes:
        return self._master.decrypt(
            wrapped[:_NONCE], wrapped[_NONCE:], b"data-key:" + subject_id.encode()
        )

    @staticmethod
    def _seal(label: bytes, subject_id: str, data_key: bytes, plain: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(data_key).encrypt(nonce, plain, label + subject_id.encode())

    def _open(self, label: bytes, subject_id: str, wrapped: bytes, ciphertext: bytes) -> bytes:
        key = self.unwrap(subject_id, wrapped)
        return AESGCM(key).decrypt(
            ciphertext[:_NONCE], ciphertext[_NONCE:], label + subject_id.encode()
        )

    @staticmethod
    def encrypt(subject_id: str, data_key: bytes, identity: Identity) -> bytes:
        return Keyring._seal(b"identity:", subject_id, data_key, identity.to_json())

    def decrypt(self, subject_id: str, wrapped: bytes, ciphertext: bytes) -> Identity:
        return Identity.from_json(self._open(b"identity:", subject_id, wrapped, ciphertext))

    def seal_name(self, subject_id: str, name: str) -> tuple[bytes, bytes]:
        """A person's name under a new data key of its own: (wrapped key, ciphertext).
        Destroying the wrapped key makes the name unreadable (crypto-shredding)."""
        data_key = self.new_data_key()
        ciphertext = self._seal(b"name:", subject_id, data_key, name.encode())
        return self.wrap(subject_id, data_key), ciphertext

    def open_name(self, subject_id: str, wrapped: bytes, ciphertext: bytes) -> str:
        return self._open(b"name:", subject_id, wrapped, ciphertext).decode()
