"""Who acts, under which policy and for which purpose: the one thing every workflow and
every read is given about its caller, whatever the entry point (GraphQL, a partner's Kafka
inbox, the command line, a console page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.audit.buffer import AuditBuffer
from hub.audit.log import AuditRecord
from hub.errors import Code, HubError
from hub.models.base import utcnow
from hub.models.investigation import is_case_reference
from hub.policy.engine import Grant, PolicySet, request_vars
from hub.policy.principal import Principal
from hub.policy.vocabulary import PURPOSES

# The reason of an access made under a stated case: this prefix, then the reference.
CASE_REASON = "case "


@dataclass
class Actor:
    principal: Principal
    # One policy version for the whole request, even if another is activated meanwhile.
    policies: PolicySet
    audit: AuditBuffer = field(default_factory=AuditBuffer)
    purpose_header: str | None = None
    # The case the request states (Hub-Case header): `$request.case` in a rule's `where`,
    # and the reason of the request's access-log entries.
    case_header: str | None = None
    now: datetime = field(default_factory=utcnow)
    # Set by an anonymous act (an anonymous report): the access log then names the role and
    # the shared self-service organisation, never the token's subject.
    anonymous: bool = False
    _vars: dict[str, Any] | None = field(default=None, repr=False)

    def refresh(self, policies: PolicySet) -> None:
        """For a live subscription, before each event: the policy in force and the clock
        now, so a policy or consent change applies from the next event."""
        self.policies = policies
        self.now = utcnow()
        self._vars = None

    @property
    def purpose(self) -> str:
        """The request's purpose: the Hub-Purpose header, or the token's only purpose."""
        header = self.purpose_header
        if header:
            if header not in PURPOSES:
                raise self.deny("purpose", "", Code.BAD_USER_INPUT, f"unknown purpose {header!r}")
            if header not in self.principal.purposes:
                raise self.deny(
                    "purpose", "", Code.FORBIDDEN, f"this token does not allow purpose {header!r}"
                )
            return header
        if len(self.principal.purposes) == 1:
            return next(iter(self.principal.purposes))
        raise self.deny(
            "purpose",
            "",
            Code.PURPOSE_REQUIRED,
            "state the purpose of this request in the Hub-Purpose header; this token allows "
            + ", ".join(sorted(self.principal.purposes)),
        )

    @property
    def case(self) -> str | None:
        """The case reference the request states (Hub-Case header), or None. Refused when
        it is not a case reference, and when the caller is no investigator."""
        header = self.case_header
        if header is None:
            return None
        if not is_case_reference(header):
            raise self.deny(
                "case",
                "",
                Code.BAD_USER_INPUT,
                "Hub-Case: not a case reference (e.g. AN.37.L1.012345/26)",
            )
        if "police_investigator" not in self.principal.roles:
            raise self.deny(
                "case", "", Code.FORBIDDEN, "Hub-Case: only an investigator states a case"
            )
        return header

    def _case_for_audit(self) -> str | None:
        header = self.case_header
        if header is None or "police_investigator" not in self.principal.roles:
            return None
        return header if is_case_reference(header) else None

    @property
    def vars(self) -> dict[str, Any]:
        """The values a policy's `where` binds: `$principal.*`, `$now`, `$request.case`."""
        if self._vars is None:
            self._vars = request_vars(self.principal, self.now, self.case)
        return self._vars

    def grant(self, resource: str, action: str) -> Grant | None:
        return self.policies.grant(self.principal.roles, self.purpose, resource, action)

    def require_grant(self, resource: str, action: str) -> Grant:
        grant = self.grant(resource, action)
        if grant is None:
            roles = ", ".join(sorted(self.principal.roles))
            raise self.deny(
                action,
                resource,
                Code.FORBIDDEN,
                f"no policy rule lets {roles} {action} {resource} for purpose {self.purpose}",
            )
        return grant

    def record(
        self,
        action: str,
        resource: str,
        *,
        record_ids: list[str] | None = None,
        fields: list[str] | None = None,
        subjects: list[str] | None = None,
        outcome: str = "allowed",
        reason: str | None = None,
    ) -> None:
        """Note an access for the access log; written before the answer leaves. Under a
        stated case, an allowed access gives the case as its reason (`case <reference>`):
        the worker's access log defers it while the case is open (hub/schema/selfservice.py)."""
        p = self.principal
        if reason is None and outcome == "allowed":
            case = self._case_for_audit()
            if case is not None:
                reason = f"{CASE_REASON}{case}"
        self.audit.add(
            AuditRecord(
                at=self.now,
                action=action,
                resource=resource,
                organisation_id=p.org_id,
                roles=",".join(sorted(p.roles)),
                subject="" if self.anonymous else p.subject,
                purpose=self._purpose_for_audit(),
                record_ids=record_ids or [],
                fields=fields or [],
                subjects=subjects or [],
                policy_version=self.policies.resource_version(resource),
                outcome=outcome,
                reason=reason,
            )
        )

    def deny(self, action: str, resource: str, code: Code, message: str) -> HubError:
        """Record a refusal (once per request and kind) and return the error to raise."""
        key = (action, resource, code.value)
        if key not in self.audit.denials:
            self.audit.denials.add(key)
            self.record(action, resource, outcome="denied", reason=code.value)
        return HubError(code, message)

    def _purpose_for_audit(self) -> str:
        header = self.purpose_header
        if header:
            return header[:40]
        if len(self.principal.purposes) == 1:
            return next(iter(self.principal.purposes))
        return ""

    def city(self) -> str:
        """The city the caller acts in; refused if its token names none."""
        if self.principal.city is None:
            raise HubError(Code.FORBIDDEN, "your token names no city")
        return self.principal.city
