"""The request being served, as the hub's log lines and metrics may name it.

The request middleware puts a `RequestInfo` in a context variable; the GraphQL endpoint and
the operation observer fill in who asked (client id, never the subject), for which
purpose, which operation and its outcome code. Each value is checked against a narrow
pattern first: whatever a client sends that does not fit is replaced, never logged.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from hub.policy.vocabulary import PURPOSES

_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_OPERATION = re.compile(r"[A-Za-z0-9_]{1,64}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}")

OTHER = "other"  # any value that does not fit its pattern (or a full label set)
ANONYMOUS = "anonymous"  # a GraphQL operation without a name


def request_id(incoming: str | None) -> str:
    """The caller's X-Request-ID if it is a sane token, else a new one."""
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def operation_name(name: str | None) -> str:
    """A GraphQL operation name as logs and metrics show it (client-chosen, so bounded)."""
    if not name:
        return ANONYMOUS
    return name if _OPERATION.fullmatch(name) else OTHER


def client_id(value: str | None) -> str | None:
    if value is None:
        return None
    return value if _CLIENT_ID.fullmatch(value) else OTHER


def purpose(header: str | None, allowed: frozenset[str]) -> str | None:
    """The purpose a request states (a vocabulary word, else "other"), or its token's only
    one."""
    if header:
        return header if header in PURPOSES else OTHER
    if len(allowed) == 1:
        return next(iter(allowed))
    return None


@dataclass
class RequestInfo:
    request_id: str
    method: str
    path: str
    client_id: str | None = None
    purpose: str | None = None
    operation: str | None = None
    outcome: str | None = None

    def fields(self) -> dict[str, Any]:
        """What a log line written during this request carries about it."""
        out: dict[str, Any] = {"request_id": self.request_id}
        for key in ("client_id", "purpose", "operation", "outcome"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


_current: ContextVar[RequestInfo | None] = ContextVar("hub_request", default=None)


def current() -> RequestInfo | None:
    return _current.get()


def begin(info: RequestInfo) -> Any:
    """Make `info` the current request; returns the token for `end`."""
    return _current.set(info)


def end(token: Any) -> None:
    _current.reset(token)
