"""City regimes (reglementen): each city's own rules on sex-work premises, as data.

Since decriminalisation (2022) and the labour law of 2024, each city decides its own
regime; the hub imposes none. `policies/regimes.yaml` says, per city: whether
participation is compulsory or voluntary (consent-based), which kinds of premises need a
suitability certificate, whether shifts are registered in advance (a pandkalender),
whether the police validate identities on site and, optionally, how shifts an employer
registers for its own employees differ (`employment`: no rental agreement, certificates
only for the kinds listed), with the legal basis of each rule. The
workflows (hub/services/) read it instead of assuming Antwerp's regime, and a city with no
regime gets none of these workflows (fail closed).

The document is versioned and approved like a policy document (resource `CityRegime`,
co-approved by the workers' representative), and read the same way: YAML validated whole,
every problem named with its file, line and path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from hub.models.enums import PremisesKind
from hub.policy.yamlsource import Problem, Strict, known_name, load, problems

REGIME_RESOURCE = "CityRegime"
_TOLERANCE = re.compile(r"^PT(?=\d)(?:(\d{1,2})H)?(?:(\d{1,4})M)?$")
MAX_TOLERANCE = timedelta(hours=4)


class Participation(str, Enum):
    COMPULSORY = "compulsory"  # the regime binds every operator and worker it covers
    VOLUNTARY = "voluntary"  # cooperation is the worker's and operator's choice (consent)


def _tolerance(text: Any) -> timedelta:
    m = _TOLERANCE.match(text) if isinstance(text, str) else None
    if not m:
        raise PydanticCustomError(
            "duration", f"{text!r} is not an ISO 8601 duration of hours and minutes like PT30M", {}
        )
    delta = timedelta(hours=int(m.group(1) or 0), minutes=int(m.group(2) or 0))
    if delta > MAX_TOLERANCE:
        raise PydanticCustomError("duration", "a tolerance of at most PT4H", {})
    return delta


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Kind = Annotated[str, known_name("premises kind", {k.value for k in PremisesKind})]


class CertificateRule(Strict):
    """Which kinds of premises need a suitability certificate to be worked in."""

    premises: list[Kind]
    legal_basis: Text


class RegistrationRule(Strict):
    """Whether shifts are registered in advance (a pandkalender such as HookUp)."""

    applies: bool
    legal_basis: Text


class ValidationRule(Strict):
    """Whether the police validate identity and adulthood on site, and how long before the
    start and after the end of a shift they may (`tolerance`)."""

    applies: bool
    legal_basis: Text
    tolerance: Annotated[timedelta, BeforeValidator(_tolerance)] = timedelta(minutes=30)


class EmploymentRule(Strict):
    """Shifts an employer registers for its own employees (labour law of 2024): whether
    they need a confirmed rental agreement like a self-employed worker's
    (`employees_need_rental`), and which kinds of premises still need a suitability
    certificate for them (`certificate_for_employers`)."""

    employees_need_rental: bool
    certificate_for_employers: list[Kind]
    legal_basis: Text


class RegimeSpec(Strict):
    city: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    participation: Annotated[str, known_name("participation", {p.value for p in Participation})]
    legal_basis: Text
    certificate: CertificateRule
    advance_registration: RegistrationRule
    police_validation: ValidationRule
    # Without it, an employee's shift is registered like a self-employed worker's.
    employment: EmploymentRule | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RegimeSpec:
        found: list[Problem] = []
        if self.police_validation.applies and not self.advance_registration.applies:
            found.append(
                (
                    ("police_validation", "applies"),
                    "police validation checks registered shifts: it needs advance registration",
                    None,
                )
            )
        if found:
            raise problems(found)
        return self


class RegimesSpec(Strict):
    resource: str
    description: str | None = None
    regimes: Annotated[list[RegimeSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_per_city(self) -> RegimesSpec:
        seen: set[str] = set()
        found: list[Problem] = []
        for i, regime in enumerate(self.regimes):
            if regime.city in seen:
                found.append((("regimes", i, "city"), f"a second regime for {regime.city}", None))
            seen.add(regime.city)
        if found:
            raise problems(found)
        return self


@dataclass(frozen=True)
class Regime:
    city: str
    participation: Participation
    legal_basis: str
    certificate_premises: frozenset[str]
    certificate_basis: str
    advance_registration: bool
    registration_basis: str
    police_validation: bool
    validation_basis: str
    validation_tolerance: timedelta
    # Employees' shifts (`employment:`); by default like a self-employed worker's.
    employees_need_rental: bool = True
    employer_certificate_premises: frozenset[str] | None = None
    employment_basis: str = ""

    def needs_certificate(self, premises_kind: str) -> bool:
        return premises_kind in self.certificate_premises

    def employee_needs_certificate(self, premises_kind: str) -> bool:
        """Whether an employer's shift for its employee needs a suitability certificate."""
        if self.employer_certificate_premises is None:
            return self.needs_certificate(premises_kind)
        return premises_kind in self.employer_certificate_premises


@dataclass(frozen=True)
class Regimes:
    by_city: dict[str, Regime]
    source: str = ""

    def of(self, city: str | None) -> Regime | None:
        return self.by_city.get(city) if city is not None else None


NO_REGIMES = Regimes({})


def is_regime_document(text: str) -> bool:
    """Whether a policy-directory text is the regime document (cheap: its first key)."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return stripped.replace(" ", "") == f"resource:{REGIME_RESOURCE}"
    return False


def parse_regimes(text: str, *, origin: str = "regimes.yaml") -> Regimes:
    """Validate the regime document whole; raises PolicyError naming every problem."""
    source = load(text, origin)
    more: list[Problem] = []
    if isinstance(source.data, dict) and source.data.get("resource") != REGIME_RESOURCE:
        more.append((("resource",), f"the regime document's resource is {REGIME_RESOURCE}", None))
    spec = source.validate(RegimesSpec, more=more)
    return Regimes(
        {
            r.city: Regime(
                city=r.city,
                participation=Participation(r.participation),
                legal_basis=r.legal_basis,
                certificate_premises=frozenset(r.certificate.premises),
                certificate_basis=r.certificate.legal_basis,
                advance_registration=r.advance_registration.applies,
                registration_basis=r.advance_registration.legal_basis,
                police_validation=r.police_validation.applies,
                validation_basis=r.police_validation.legal_basis,
                validation_tolerance=r.police_validation.tolerance,
                employees_need_rental=(
                    r.employment.employees_need_rental if r.employment else True
                ),
                employer_certificate_premises=(
                    frozenset(r.employment.certificate_for_employers) if r.employment else None
                ),
                employment_basis=r.employment.legal_basis if r.employment else "",
            )
            for r in spec.regimes
        },
        source=text,
    )
