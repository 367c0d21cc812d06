"""The compiled policy: which rules apply to a request, as SQL filters and field masks.

A `PolicySet` is compiled once (at load, or when a new version is activated); per request
it only looks up the `Grant` for (roles, purpose, resource, action), which is cached, and
binds the principal's variables into the rules' SQL filters. No rule, no grant, no access.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, false, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from hub.models import Consent
from hub.policy import guardrails
from hub.policy.document import PolicyDocument, PolicyError, Rule, parse_document
from hub.policy.effects import RANK
from hub.policy.partner_document import PARTNERS_RESOURCE, is_partner_document
from hub.policy.principal import Principal
from hub.policy.regimes import (
    NO_REGIMES,
    REGIME_RESOURCE,
    Regimes,
    is_regime_document,
    parse_regimes,
)
from hub.policy.resources import RESOURCES, Resource
from hub.policy.vocabulary import POLICY_DATA_FILES
from hub.policy.yamlsource import Issue


def request_vars(principal: Principal, now: datetime, case: str | None = None) -> dict[str, Any]:
    """What a rule's `where` binds: `$principal.*`, `$now` and `$request.case`."""
    return {"principal": principal.variables(), "now": now, "request": {"case": case}}


@dataclass(frozen=True)
class FieldMask:
    """What one row shows: the fields not denied, and the effects other than allow."""

    shown: frozenset[str]
    transforms: tuple[tuple[str, str], ...] = ()  # (field, effect), effect not allow

    def effect(self, field: str) -> str:
        if field not in self.shown:
            return "deny"
        for name, effect in self.transforms:
            if name == field:
                return effect
        return "allow"


@dataclass
class Grant:
    """The rules that let some roles act on a resource for one purpose."""

    resource: Resource
    action: str
    purpose: str
    rules: tuple[Rule, ...]
    _masks: dict[tuple[bool, ...], FieldMask] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        masks = {self._combine([rule.fields]) for rule in self.rules}
        # When every rule shows the same fields, no per-row rule matching is needed.
        self.uniform: FieldMask | None = masks.pop() if len(masks) == 1 else None

    @staticmethod
    def _combine(field_maps: Iterable[dict[str, str]]) -> FieldMask:
        """Per field, the most permissive effect among the given rules."""
        best: dict[str, str] = {}
        for fm in field_maps:
            for name, effect in fm.items():
                if RANK[effect] > RANK[best.get(name, "deny")]:
                    best[name] = effect
        return FieldMask(
            shown=frozenset(best),
            transforms=tuple(sorted((n, e) for n, e in best.items() if e != "allow")),
        )

    def _rule_filter(self, rule: Rule, v: Mapping[str, Any]) -> ColumnElement[bool]:
        clause = rule.where_filter(v)
        if rule.requires_consent:
            clause = and_(clause, self._consent(v))
        return clause

    def _consent(self, v: Mapping[str, Any]) -> ColumnElement[bool]:
        assert self.resource.subject_column is not None
        subject = getattr(self.resource.model, self.resource.subject_column)
        org = v["principal"]["org_id"]
        if org is None:
            return false()
        return exists().where(
            col(Consent.sex_worker_id) == subject,
            col(Consent.grantee_id) == org,
            col(Consent.purpose) == self.purpose,
            col(Consent.revoked_at).is_(None),
            col(Consent.scope).in_([self.resource.name, "*"]),
        )

    def row_filter(self, v: Mapping[str, Any]) -> ColumnElement[bool]:
        """The SQL condition for the rows this grant reaches: the union of its rules."""
        clauses = [self._rule_filter(r, v) for r in self.rules]
        return clauses[0] if len(clauses) == 1 else or_(*clauses)

    def match_columns(self, v: Mapping[str, Any]) -> list[Any]:
        """Per-rule match flags to select beside each row, when masks differ per rule."""
        if self.uniform is not None:
            return []
        return [self._rule_filter(r, v).label(f"_rule_{i}") for i, r in enumerate(self.rules)]

    def mask(self, matched: tuple[bool, ...] | None) -> FieldMask:
        """What a row shows, given which rules matched it (one pass, cached)."""
        if self.uniform is not None:
            return self.uniform
        assert matched is not None
        cached = self._masks.get(matched)
        if cached is None:
            cached = self._combine(
                [r.fields for r, m in zip(self.rules, matched, strict=True) if m]
            )
            self._masks[matched] = cached
        return cached


class PolicySet:
    """All active policy documents, compiled; immutable once built."""

    def __init__(
        self,
        documents: Mapping[str, PolicyDocument],
        version: str,
        versions: Mapping[str, int] | None = None,
        regimes: Regimes = NO_REGIMES,
        partners: str | None = None,
    ) -> None:
        self.documents = dict(documents)
        self.regimes = regimes  # the cities' regimes (hub/policy/regimes.py)
        # The partner directory in force, as text (validated by hub/events/partners.py).
        self.partners = partners
        self.version = version  # the whole set: "files:<hash>" or "g<generation>"
        self.versions = dict(versions or {})  # resource -> version number, from the database
        self._grants: dict[tuple[frozenset[str], str, str, str], Grant | None] = {}

    def grant(
        self, roles: frozenset[str], purpose: str, resource: str, action: str
    ) -> Grant | None:
        key = (roles, purpose, resource, action)
        try:
            return self._grants[key]
        except KeyError:
            pass
        doc = self.documents.get(resource)
        result = None
        if doc is not None:
            rules = tuple(
                r
                for r in doc.rules
                if action in r.actions and purpose in r.purposes and r.roles & roles
            )
            if rules:
                result = Grant(doc.resource, action, purpose, rules)
        self._grants[key] = result
        return result

    def resource_version(self, resource: str) -> str:
        """What the access log records as the policy version that decided an access."""
        number = self.versions.get(resource)
        return f"{resource}@{number}" if number is not None else self.version

    @classmethod
    def from_texts(
        cls,
        texts: Mapping[str, str],
        *,
        version: str | None = None,
        versions: Mapping[str, int] | None = None,
    ) -> PolicySet:
        """Compile documents given as {origin: yaml}; refuse the whole set on any error."""
        errors: list[str | Issue] = []
        docs: dict[str, PolicyDocument] = {}
        origins: dict[str, str] = {}
        regimes: Regimes | None = None
        partners: str | None = None
        for origin, text in sorted(texts.items()):
            if is_partner_document(text):
                if partners is not None:
                    errors.append(f"{origin}: a second document for {PARTNERS_RESOURCE}")
                partners = text
                continue
            if is_regime_document(text):
                if regimes is not None:
                    errors.append(f"{origin}: a second document for {REGIME_RESOURCE}")
                try:
                    regimes = parse_regimes(text, origin=origin)
                except PolicyError as exc:
                    errors.extend(exc.issues)
                continue
            try:
                doc = parse_document(text, origin=origin)
            except PolicyError as exc:
                errors.extend(exc.issues)
                continue
            if doc.resource.name in docs:
                errors.append(f"{origin}: a second document for {doc.resource.name}")
            docs[doc.resource.name] = doc
            origins[doc.resource.name] = origin
        if errors:
            raise PolicyError(errors)
        # What no version may do, whoever approved it (hub/policy/guardrails.py).
        broken = guardrails.issues({r: (origins[r], d) for r, d in docs.items()})
        if broken:
            raise PolicyError(broken)
        if version is None:
            digest = hashlib.sha256()
            for origin, text in sorted(texts.items()):
                digest.update(origin.encode() + b"\0" + text.encode() + b"\0")
            version = "files:" + digest.hexdigest()[:12]
        return cls(docs, version, versions, regimes or NO_REGIMES, partners)

    @classmethod
    def from_directory(cls, path: Path) -> PolicySet:
        texts = {
            p.name: p.read_text()
            for p in sorted(path.glob("*.yaml"))
            if p.name not in POLICY_DATA_FILES
        }
        if not texts:
            raise PolicyError([f"no policy documents in {path}"])
        return cls.from_texts(texts)


def document_resource(text: str, origin: str) -> str:
    """The resource a policy-directory document is about (CityRegime for the regimes);
    raises PolicyError if it is not a valid document. The partner directory is only
    recognised here: hub/events/partners.py validates it."""
    if is_partner_document(text):
        return PARTNERS_RESOURCE
    if is_regime_document(text):
        parse_regimes(text, origin=origin)
        return REGIME_RESOURCE
    return parse_document(text, origin=origin).resource.name


def missing_resources(policies: PolicySet) -> list[str]:
    return sorted(set(RESOURCES) - set(policies.documents))
