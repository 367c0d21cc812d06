"""What a leaf of the access-log tree commits to: one entry, field by field, salted.

The leaf data of an entry is

    hub-access-log-leaf/v1\\n
    <field> <base64 digest>\\n        (for each field of LEAF_FIELDS, in that order)

with ``digest = SHA-256(<field> || 0x0A || field salt || canonical JSON of the value)``
and ``field salt = HMAC-SHA256(entry salt, <field>)``; the entry salt is 32 random bytes
kept in the entry's row. The canonical JSON is compact, keys sorted, UTF-8 (for the values
here, strings, lists of strings and null, the same as RFC 8785).

Why per field and salted, not the entry's content hashed whole: a data subject's view of
an entry hides some fields (the officer's subject, other people's record ids, the other
workers the entry concerns), yet the worker must be able to rebuild the leaf hash from what
they see to check an inclusion proof. They get, for each field they see, its salt, and for
each hidden field only its digest, which reveals nothing about the value (the salt is
secret). Inclusion proofs also show neighbouring leaf hashes to anyone; salting keeps a
guessable entry (a refusal at a known time) from being confirmed by hashing guesses.
The entry's position is the leaf's index in the tree, proved by the inclusion proof.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

LEAF_VERSION = "hub-access-log-leaf/v1"
_VERSION_LINE = LEAF_VERSION.encode() + b"\n"
SALT_SIZE = 32
# The entry's policy fields (resource AccessLog), then the sex workers it concerns.
LEAF_FIELDS = (
    "at",
    "organisation",
    "roles",
    "subject",
    "purpose",
    "operation",
    "action",
    "resource",
    "record_ids",
    "fields",
    "policy_version",
    "outcome",
    "reason",
    "subjects",
)


class EntryContent(Protocol):
    at: datetime
    organisation_id: str | None
    roles: str
    subject: str
    purpose: str
    operation: str
    action: str
    resource: str
    record_ids: list[str]
    fields: list[str]
    policy_version: str
    outcome: str
    reason: str | None


def new_salt() -> bytes:
    return os.urandom(SALT_SIZE)


# One encoder, made once: json.dumps with these options would build one per call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def canonical(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode()


def values(entry: EntryContent, subjects: Iterable[str]) -> dict[str, Any]:
    """The committed value of every leaf field, as the GraphQL view shows it."""
    return {
        "at": entry.at.astimezone(UTC).isoformat(),
        "organisation": entry.organisation_id,
        "roles": [r for r in entry.roles.split(",") if r],
        "subject": entry.subject,
        "purpose": entry.purpose,
        "operation": entry.operation,
        "action": entry.action,
        "resource": entry.resource,
        "record_ids": list(entry.record_ids),
        "fields": list(entry.fields),
        "policy_version": entry.policy_version,
        "outcome": entry.outcome,
        "reason": entry.reason,
        "subjects": sorted(set(subjects)),
    }


def field_salt(salt: bytes, name: str) -> bytes:
    return hmac.digest(salt, name.encode(), "sha256")


def field_digest(name: str, salt_of_field: bytes, value: Any) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + salt_of_field + canonical(value)).digest()


def leaf_data(digests: Mapping[str, bytes]) -> bytes:
    lines = [LEAF_VERSION] + [
        f"{name} {base64.b64encode(digests[name]).decode()}" for name in LEAF_FIELDS
    ]
    return ("\n".join(lines) + "\n").encode()


_NAMES = [(n, n.encode(), n.encode() + b"\n") for n in LEAF_FIELDS]


def entry_leaf_data(entry_values: Mapping[str, Any], salt: bytes) -> bytes:
    """`leaf_data` of an entry's values: the append path's one cost per entry, so written
    out flat (the same digests as field_digest(name, field_salt(salt, name), value))."""
    sha256, digest, b64, encode = hashlib.sha256, hmac.digest, base64.b64encode, _CANONICAL.encode
    out = [_VERSION_LINE]
    for name, raw, prefix in _NAMES:
        d = sha256(prefix + digest(salt, raw, "sha256") + encode(entry_values[name]).encode())
        out.append(raw + b" " + b64(d.digest()) + b"\n")
    return b"".join(out)


@dataclass(frozen=True)
class Disclosure:
    """One leaf field as a viewer gets it: value and salt if shown, else only the digest."""

    name: str
    value: str | None = None  # canonical JSON
    salt: str | None = None  # base64
    digest: str | None = None  # base64

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "value": self.value, "salt": self.salt, "digest": self.digest}


def disclose(
    entry_values: Mapping[str, Any], salt: bytes, shown: Iterable[str]
) -> list[Disclosure]:
    """The leaf, opened on the fields in `shown` (those the viewer sees unchanged)."""
    visible = set(shown)
    out = []
    for name in LEAF_FIELDS:
        fs = field_salt(salt, name)
        if name in visible:
            out.append(
                Disclosure(
                    name,
                    value=canonical(entry_values[name]).decode(),
                    salt=base64.b64encode(fs).decode(),
                )
            )
        else:
            digest = field_digest(name, fs, entry_values[name])
            out.append(Disclosure(name, digest=base64.b64encode(digest).decode()))
    return out


def leaf_from_disclosures(disclosures: Iterable[Mapping[str, Any]]) -> tuple[bytes, dict[str, Any]]:
    """Rebuild the leaf data from a viewer's disclosures: (leaf data, the shown values).

    ValueError if a field is missing, repeated, unknown or malformed."""
    digests: dict[str, bytes] = {}
    shown: dict[str, Any] = {}
    for d in disclosures:
        name = d.get("name")
        if name not in LEAF_FIELDS or name in digests:
            raise ValueError(f"unknown or repeated leaf field {name!r}")
        if d.get("value") is not None and d.get("salt") is not None:
            value = json.loads(d["value"])
            if canonical(value).decode() != d["value"]:
                raise ValueError(f"the value of {name} is not in canonical form")
            fs = base64.b64decode(d["salt"], validate=True)
            if len(fs) != hashlib.sha256().digest_size:
                raise ValueError(f"the salt of {name} is not 32 bytes")
            digests[name] = field_digest(name, fs, value)
            shown[name] = value
        elif d.get("digest") is not None:
            digest = base64.b64decode(d["digest"], validate=True)
            if len(digest) != hashlib.sha256().digest_size:
                raise ValueError(f"the digest of {name} is not 32 bytes")
            digests[name] = digest
        else:
            raise ValueError(f"leaf field {name} has neither value and salt nor digest")
    missing = [n for n in LEAF_FIELDS if n not in digests]
    if missing:
        raise ValueError(f"leaf fields missing: {', '.join(missing)}")
    return leaf_data(digests), shown
