"""The one error type of the hub. Every refusal carries a stable code (`Code`)."""

from __future__ import annotations

from enum import Enum


class Code(str, Enum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    PURPOSE_REQUIRED = "PURPOSE_REQUIRED"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


class HubError(Exception):
    """A refusal with a stable code and a message that is safe to show to the caller.

    Messages name ids and rules, never personal data.
    """

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def extensions(self) -> dict[str, str]:
        # graphql-core copies this onto the GraphQLError it wraps us in, so the code reaches
        # clients on every transport (HTTP and WebSocket alike).
        return {"code": self.code.value}


def forbidden(message: str) -> HubError:
    return HubError(Code.FORBIDDEN, message)


def conflict(message: str) -> HubError:
    return HubError(Code.CONFLICT, message)


def bad_input(message: str) -> HubError:
    return HubError(Code.BAD_USER_INPUT, message)


def not_found(message: str) -> HubError:
    return HubError(Code.NOT_FOUND, message)
