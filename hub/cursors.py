"""Opaque, sealed page cursors. A cursor holds a row's sort key, so it is encrypted:
it must neither reveal a field the caller may not see nor be forged to skip the filter."""

from __future__ import annotations

import base64
import json
import os
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import Code, HubError


def _enc(v: Any) -> Any:
    if isinstance(v, datetime):
        return {"t": v.isoformat()}
    if isinstance(v, date):
        return {"d": v.isoformat()}
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict):
        if "t" in v:
            return datetime.fromisoformat(v["t"])
        if "d" in v:
            return date.fromisoformat(v["d"])
    return v


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def encode(self, scope: str, values: list[Any]) -> str:
        nonce = os.urandom(12)
        plain = json.dumps([_enc(v) for v in values], separators=(",", ":")).encode()
        sealed = nonce + self._aead.encrypt(nonce, plain, scope.encode())
        return base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def decode(self, scope: str, cursor: str) -> list[Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], scope.encode())
            values = json.loads(plain)
        except (ValueError, InvalidTag):
            raise HubError(Code.BAD_USER_INPUT, "invalid cursor") from None
        if not isinstance(values, list):
            raise HubError(Code.BAD_USER_INPUT, "invalid cursor")
        return [_dec(v) for v in values]
