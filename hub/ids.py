"""Ids sealed per audience: no two organisations hold the same id for the same record.

Every id that leaves the hub (GraphQL ids, ids inside data and events, cursors) is
encrypted deterministically for the organisation that receives it, and every id that
comes back is decrypted with that organisation's key. The idea is that of OpenID Connect's
pairwise subject identifiers and of Austria's sector-specific person identifiers (bPK):
two partners who compare their views find nothing to join on, and an id handed to one
partner means nothing to another.

A record id is a UUID: 16 bytes, one AES block. Sealing is AES-256 on that single block
(a pseudorandom permutation) under a key derived per audience from one master key in
HUB_SECRET_DIR (HKDF-SHA256); the result is written as 22 characters of base64url. The
same record always seals to the same id for one audience (so an organisation can join its
own views), and to unrelated ids for different audiences. An id sealed for another
audience opens to a random value, which is not a UUID of version 4 (63 times in 64) or
names no record: either way NOT_FOUND. Integer ids (positions in the access log) are
sealed the same way, with a fixed marker in their first eight bytes.

The audience is the organisation (`org:<id>`), except for a sex worker acting for
themself, whose audience is the worker (`sw:<id>`): workers share one self-service
organisation, and must not share its ids.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from binascii import b2a_base64
from collections import OrderedDict
from threading import Lock

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hub.errors import Code, HubError

_INT_MARKER = b"\x00hub-int"  # the first 8 bytes of a sealed integer id
_INFO = b"hub id seal v1|"
_CACHE = 1024  # audiences whose ciphers are kept
_URLSAFE = bytes.maketrans(b"+/", b"-_")


class UnknownId(HubError):
    """An id that is not one of the caller's: malformed, or sealed for someone else."""

    def __init__(self) -> None:
        super().__init__(Code.NOT_FOUND, "no such record")


class AudienceSeal:
    """The seal of one audience. ECB on a single block is a keyed permutation: safe here
    because every input is one whole, distinct block."""

    __slots__ = ("audience", "_dec", "_enc")

    def __init__(self, audience: str, key: bytes) -> None:
        self.audience = audience
        cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 (one block, see above)
        self._enc: CipherContext = cipher.encryptor()
        self._dec: CipherContext = cipher.decryptor()

    def seal(self, raw: str | int) -> str:
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)  # a position in the access log, written as text
        if isinstance(raw, int):
            block = _INT_MARKER + raw.to_bytes(8, "big", signed=False)
        else:
            block = bytes.fromhex(raw.replace("-", ""))
            if len(block) != 16:
                raise ValueError("a record id is a UUID")
        # base64url of the 16 bytes, without its padding (what urlsafe_b64encode(...)[:22]
        # gives, in fewer steps: this runs for every id of every answer).
        return b2a_base64(self._enc.update(block), newline=False)[:22].translate(_URLSAFE).decode()

    def seal_optional(self, raw: str | None) -> str | None:
        return None if raw is None else self.seal(raw)

    def unseal(self, token: str) -> str:
        """The record id behind `token`, or UnknownId."""
        block = self._open(token)
        if block[:8] == _INT_MARKER:
            return str(int.from_bytes(block[8:], "big"))
        value = uuid.UUID(bytes=block)
        if value.version != 4 or value.variant != uuid.RFC_4122:
            raise UnknownId()
        return str(value)

    def _open(self, token: str) -> bytes:
        if not isinstance(token, str) or len(token) != 22:
            raise UnknownId()
        try:
            raw = base64.urlsafe_b64decode(token + "==")
        except (binascii.Error, ValueError):
            raise UnknownId() from None
        if len(raw) != 16:
            raise UnknownId()
        return self._dec.update(raw)


class IdSealer:
    """Derives and caches one AudienceSeal per audience from the master sealing key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("the id sealing key has 32 bytes")
        self._master = master_key
        self._seals: OrderedDict[str, AudienceSeal] = OrderedDict()
        self._lock = Lock()

    def for_audience(self, audience: str) -> AudienceSeal:
        with self._lock:
            found = self._seals.get(audience)
            if found is not None:
                self._seals.move_to_end(audience)
                return found
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO + audience.encode()
        ).derive(self._master)
        seal = AudienceSeal(audience, key)
        with self._lock:
            self._seals[audience] = seal
            while len(self._seals) > _CACHE:
                self._seals.popitem(last=False)
        return seal
