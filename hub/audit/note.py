"""Signed checkpoints: C2SP signed-note (Ed25519) and tlog-checkpoint formats.

A checkpoint is the note text ``<origin>\\n<tree size>\\n<base64 root hash>\\n``, followed
by a blank line and one signature line ``— <key name> <base64(key id || signature)>``.
The key name is the origin; the key id is the first four bytes of
``SHA-256(name || 0x0A || 0x01 || public key)``; the verifier key, which witnesses pin,
is ``<name>+<hex key id>+<base64(0x01 || public key)>`` (c2sp.org/signed-note).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hub.audit.merkle import EMPTY_ROOT, HASH_SIZE
from hub.crypto import load_or_create_key

KEY_FILE = "audit-checkpoint.key"
ED25519 = 0x01
MAX_NOTE = 64 * 1024  # a checkpoint is ~200 bytes; refuse anything far larger unread
MAX_SIGNATURES = 16
_DASH = "\u2014"
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


class NoteError(ValueError):
    """A note or checkpoint that is malformed or whose signature does not verify."""


def check_key_name(name: str) -> str:
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise ValueError("a key name (origin) must be non-empty, without spaces or '+'")
    return name


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A verifier key: whoever holds it can check the hub's checkpoints."""

    name: str
    key_id: bytes
    public: Ed25519PublicKey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)  # base64 may hold "+"; the name may not
        if len(parts) != 3:
            raise NoteError("a verifier key is <name>+<hex id>+<base64 key>")
        name, hex_id, b64 = parts
        try:
            check_key_name(name)
            key_id = bytes.fromhex(hex_id)
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise NoteError("malformed verifier key") from exc
        if len(key_id) != 4 or len(hex_id) != 8 or len(raw) != 33 or raw[0] != ED25519:
            raise NoteError("not an Ed25519 verifier key")
        if _key_id(name, raw[1:]) != key_id:
            raise NoteError("the verifier key's id does not match its key")
        return cls(name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))

    def __str__(self) -> str:
        raw = bytes([ED25519]) + self.public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def open(self, note: str | bytes) -> str:
        """The note's text, if a signature by this key verifies; NoteError otherwise."""
        text, signatures = split_note(note)
        found = False
        for name, key_id, signature in signatures:
            if name != self.name or key_id != self.key_id:
                continue  # another signer's (a witness's cosignature, a rotated key)
            try:
                self.public.verify(signature, text.encode())
            except InvalidSignature:
                raise NoteError("the checkpoint's signature does not verify") from None
            found = True
        if not found:
            raise NoteError(f"the note carries no signature by {self.name}")
        return text


class Signer:
    """The hub's checkpoint key (Ed25519), kept in the secret dir and never overwritten."""

    def __init__(self, name: str, seed: bytes) -> None:
        self.name = check_key_name(name)
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key()
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, _key_id(name, raw), public)

    @classmethod
    def from_secret_dir(cls, secret_dir: Path, name: str) -> Signer:
        return cls(name, load_or_create_key(secret_dir / KEY_FILE))

    def sign(self, text: str) -> str:
        if not text.endswith("\n") or _CONTROL.search(text) or "\n\n" in text:
            raise ValueError("note text must be lines ending in newline, without blank lines")
        signature = self._key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{_DASH} {self.name} {blob}\n"

    def __repr__(self) -> str:
        return f"Signer({self.verifier})"


def split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """(text, [(key name, key id, signature)]) of a signed note; NoteError if malformed."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE:
            raise NoteError("note too large")
        try:
            note = note.decode()
        except UnicodeDecodeError:
            raise NoteError("a note is UTF-8") from None
    if len(note) > MAX_NOTE:
        raise NoteError("note too large")
    if _CONTROL.search(note):
        raise NoteError("control characters in note")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise NoteError("a note is text, a blank line and signature lines")
    text, lines = note[: cut + 1], note[cut + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError("a note needs between 1 and 16 signature lines")
    out = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not parts[1]:
            raise NoteError("malformed signature line")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("malformed signature") from None
        if len(blob) < 5:
            raise NoteError("signature too short")
        out.append((parts[1], blob[:4], blob[4:]))
    return text, out


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log (`origin`), its size and root hash (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteError("a checkpoint is at least three non-empty lines")
        origin, size_s, root_s = lines[0], lines[1], lines[2]
        if not size_s.isascii() or not size_s.isdigit() or str(int(size_s)) != size_s:
            raise NoteError("malformed tree size")
        try:
            root = base64.b64decode(root_s, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("malformed root hash") from None
        if len(root) != HASH_SIZE:
            raise NoteError("the root hash is 32 bytes")
        size = int(size_s)
        if size == 0 and root != EMPTY_ROOT:
            raise NoteError("an empty tree has the empty root")
        return cls(origin, size, root)


def open_checkpoint(note: str | bytes, verifier: Verifier) -> Checkpoint:
    """Verify a signed checkpoint against `verifier` and parse it; NoteError otherwise."""
    checkpoint = Checkpoint.parse_text(verifier.open(note))
    if checkpoint.origin != verifier.name:
        raise NoteError(f"checkpoint of {checkpoint.origin!r}, expected {verifier.name!r}")
    return checkpoint
