"""Field effects beyond allow and deny, applied to a value in the row's single pass.

- `pseudonym`: a keyed HMAC of the value under a key derived for the *receiving
  organisation*: stable for one partner (it can count and join its own views), unlinkable
  across partners (two partners cannot join theirs).
- `generalize`: dates and times to the first of their month; an address to its zone; an
  identity to nationality and age band only.
- `mask`: a partial reveal: the last two characters of a string; an identity's initials,
  nationality, age band and the last two characters of the document number.

Which effect fits which field is checked when a policy loads (`EFFECTS_FOR_KIND`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime
from typing import Any

# From the least to the most permissive: where several rules match a row, the most
# permissive effect among them decides a field.
EFFECTS: tuple[str, ...] = ("deny", "pseudonym", "generalize", "mask", "allow")
RANK = {effect: i for i, effect in enumerate(EFFECTS)}

EFFECTS_FOR_KIND: dict[str, frozenset[str]] = {
    "string": frozenset({"allow", "deny", "pseudonym", "mask"}),
    "reference": frozenset({"allow", "deny", "pseudonym"}),
    "address": frozenset({"allow", "deny", "pseudonym", "generalize", "mask"}),
    "datetime": frozenset({"allow", "deny", "generalize"}),
    "date": frozenset({"allow", "deny", "generalize"}),
    "identity": frozenset({"allow", "deny", "generalize", "mask"}),
    "other": frozenset({"allow", "deny"}),
}


class Pseudonymizer:
    """Keyed pseudonyms per receiving organisation."""

    def __init__(self, master_key: bytes) -> None:
        self._master = master_key
        self._org_keys: dict[str, bytes] = {}

    def _key(self, org_id: str) -> bytes:
        key = self._org_keys.get(org_id)
        if key is None:
            key = hmac.new(self._master, b"org:" + org_id.encode(), hashlib.sha256).digest()
            self._org_keys[org_id] = key
        return key

    def pseudonym(self, org_id: str, scope: str, value: Any) -> str:
        digest = hmac.new(self._key(org_id), f"{scope}:{value}".encode(), hashlib.sha256).digest()
        return "psn_" + base64.b32encode(digest[:15]).decode().lower()


def mask_text(value: str) -> str:
    keep = value[-2:] if len(value) > 4 else ""
    return "•" * max(len(value) - len(keep), 3) + keep


def generalize_time(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime):
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return value.replace(day=1)


def age_band(birth: date, today: date) -> str:
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    if age < 25:
        return "18-24"
    if age < 35:
        return "25-34"
    if age < 45:
        return "35-44"
    if age < 55:
        return "45-54"
    return "55+"


def apply(
    effect: str,
    kind: str,
    value: Any,
    *,
    pseudonyms: Pseudonymizer,
    org_id: str,
    scope: str,
    row: Any,
) -> Any:
    """The value a field shows under `effect` (never called for allow or deny)."""
    if value is None:
        return None
    if effect == "pseudonym":
        return pseudonyms.pseudonym(org_id, scope, value)
    if effect == "generalize":
        if kind in ("date", "datetime"):
            return generalize_time(value)
        if kind == "address":
            return getattr(row, "zone", None) or getattr(row, "city", None)
    if effect == "mask" and isinstance(value, str):
        return mask_text(value)
    raise ValueError(f"effect {effect} does not apply to a {kind} field")
