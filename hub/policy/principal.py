"""Who is asking: the verified claims of an access token, and nothing the client merely says.

Authentication (hub/auth/) produces it; the policy reads it, so it lives here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    subject: str  # token `sub`
    org_id: str  # token `org`
    org_kind: str  # token `org_kind`
    city: str | None  # token `city`
    roles: frozenset[str]  # token `roles`, possibly narrowed by the Hub-Role header
    purposes: frozenset[str]  # token `purposes`: what this token may be used for
    sex_worker_id: str | None = None  # token `sex_worker_id`, for a sex worker's own client
    client_id: str | None = None
    # The token's `exp` (seconds since the epoch), read when it was verified: live
    # connections close when it passes. Not part of who the principal is.
    expires_at: float | None = field(default=None, compare=False)

    @property
    def audience(self) -> str:
        """Who ids are sealed for (hub/ids.py): the organisation, or a sex worker acting
        for themself (workers share one self-service organisation, never its ids)."""
        if self.sex_worker_id is not None and "sex_worker" in self.roles:
            return f"sw:{self.sex_worker_id}"
        if "sex_worker" in self.roles:
            # A person with no worker record yet: ids sealed for them alone, never shared
            # with the other workers of the self-service organisation.
            return f"person:{self.subject}"
        return f"org:{self.org_id}"

    def variables(self) -> dict[str, str | None]:
        """The `$principal.*` values a policy `where` may refer to."""
        return {
            "sub": self.subject,
            "org_id": self.org_id,
            "org_kind": self.org_kind,
            "city": self.city,
            "sex_worker_id": self.sex_worker_id,
        }


PRINCIPAL_VARIABLES = frozenset({"sub", "org_id", "org_kind", "city", "sex_worker_id"})
