"""The data controllers named in policy (`policies/controllers.yaml`), validated at load.

Only an organisation named there may hold a role of DATA_CONTROLLER_ROLES (the privacy
officer, who reads the whole access log and approves policy changes). Organisations are
named as in `partners.yaml`: by their registered name, together with their kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.policy.vocabulary import DATA_CONTROLLER_ROLES, ROLE_ORGANISATION_KINDS

log = logging.getLogger(__name__)

CONTROLLERS_FILE = "controllers.yaml"
# A data controller must be of a kind where its privacy officer may sit.
CONTROLLER_KINDS: frozenset[str] = frozenset().union(
    *(ROLE_ORGANISATION_KINDS[r] for r in DATA_CONTROLLER_ROLES)
)


class ControllersError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class _Controller(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    organisation: str = Field(min_length=1, max_length=200)
    kind: str

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in CONTROLLER_KINDS:
            raise ValueError(f"must be one of {', '.join(sorted(CONTROLLER_KINDS))}")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    controllers: list[_Controller]


@dataclass(frozen=True)
class DataControllers:
    """(registered name, kind) of every organisation named as data controller."""

    named: frozenset[tuple[str, str]] = frozenset()

    def names(self, name: str, kind: str) -> bool:
        return (name, kind) in self.named

    @classmethod
    def parse(cls, text: str, origin: str = CONTROLLERS_FILE) -> DataControllers:
        """Every error at once; a file with any error is refused whole."""
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ControllersError([f"{origin}: not YAML: {exc}"]) from None
        try:
            doc = _File.model_validate(raw)
        except ValidationError as exc:
            raise ControllersError(
                [
                    f"{origin}: {'.'.join(str(p) for p in e['loc']) or 'document'}: {e['msg']}"
                    for e in exc.errors()
                ]
            ) from None
        named = [(c.organisation.strip(), c.kind) for c in doc.controllers]
        if len(set(named)) != len(named):
            raise ControllersError([f"{origin}: an organisation is named twice"])
        return cls(frozenset(named))

    @classmethod
    def from_directory(cls, policy_dir: Path) -> DataControllers:
        """The policy directory's controllers; none (and a warning) if it has no such file."""
        path = policy_dir / CONTROLLERS_FILE
        if not path.exists():
            log.warning("no %s in the policy directory: nobody may be a privacy officer", path)
            return cls()
        return cls.parse(path.read_text(encoding="utf-8"), origin=path.name)
