"""Tables in docs/ that are made from the code: the resources of the policy language
(docs/policy.md, from hub/policy/resources.py) and the settings (docs/operations.md, from
the pydantic-settings model in hub/config.py).

Each table sits between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; the tests fail when
it differs from what the code gives. Rewrite both with

    .venv/bin/python -m tests.test_docs_tables
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from hub.config import Settings
from hub.policy.resources import RESOURCES, field_kind

ROOT = Path(__file__).resolve().parent.parent
POLICY_MD = ROOT / "docs" / "policy.md"
OPERATIONS_MD = ROOT / "docs" / "operations.md"


def _block(text: str, name: str) -> re.Match[str]:
    found = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert found is not None, f"no <!-- {name}:begin/end --> block"
    return found


def block(text: str, name: str) -> str:
    """The text between a generated block's markers."""
    return _block(text, name).group(1)


def with_block(text: str, name: str, body: str) -> str:
    found = _block(text, name)
    return text[: found.start(1)] + body + text[found.end(1) :]


# --- the resources of the policy language ---------------------------------------------------


# Columns of the table: the kinds of field, by the effects they take (EFFECTS_FOR_KIND).
KIND_COLUMNS = (
    ("string", "text: also `pseudonym`, `mask`"),
    ("datetime date", "dates and times: also `generalize`"),
    ("identity address reference", "special (kind): see the effects table"),
    ("other", "relations, numbers, flags, lists: `allow` or `deny` only"),
)


def resources_table() -> str:
    heads = " | ".join(head for _, head in KIND_COLUMNS)
    rows = [
        f"| resource | actions besides `read` | {heads} | subject | personal | about workers |",
        "|---" * (5 + len(KIND_COLUMNS)) + "|",
    ]
    for name, resource in RESOURCES.items():
        actions = ", ".join(f"`{a}`" for a in sorted(resource.actions - {"read"})) or "none"
        cells = []
        for kinds, _ in KIND_COLUMNS:
            shown = []
            for f in resource.fields:
                kind = field_kind(resource, f)
                if kind in kinds.split():
                    shown.append(f"`{f}` ({kind})" if kinds.count(" ") == 2 else f"`{f}`")
            cells.append(", ".join(shown) or "—")
        subject = f"`{resource.subject_column}`" if resource.subject_column else "—"
        if resource.personal:
            personal = "yes"
        elif resource.personal_rows is not None:
            personal = "some rows"
        else:
            personal = "no"
        workers = "yes" if resource.holds_sex_worker_data else "no"
        rows.append(
            f"| `{name}` | {actions} | {' | '.join(cells)} | {subject} | {personal} | {workers} |"
        )
    return "\n".join(rows) + "\n"


# --- the settings ---------------------------------------------------------------------------

# Settings whose model field carries no description of its own.
SUPPLEMENT = {
    "token_lifetime_s": "Seconds an access token of the embedded issuer is valid.",
}


def variables(name: str, info: FieldInfo) -> list[str]:
    """The environment variables a setting is read from, in the order they are tried."""
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        names = [str(choice) for choice in alias.choices]
    elif info.alias:
        names = [info.alias]
    else:
        names = ["HUB_" + name]
    unique: list[str] = []
    for n in names:
        if n.upper() not in unique:
            unique.append(n.upper())
    return unique


def _values(info: FieldInfo) -> str:
    """What a setting accepts: its choices, or its type with its bounds."""
    annotation: Any = info.annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{a}`" for a in get_args(annotation))
    if args and get_origin(annotation) is not Literal and len(args) == 1:
        annotation = args[0]
    kind = {int: "integer", float: "number", bool: "`true` or `false`", str: "text"}.get(
        annotation, "path" if annotation is Path else str(annotation)
    )
    bounds = []
    for meta in info.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{sign} {value:,}".replace(",", " "))
    return kind + (" " + ", ".join(bounds) if bounds else "")


def _default(info: FieldInfo) -> str:
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value}`"


def settings_table() -> str:
    rows = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        description = (info.description or SUPPLEMENT.get(name, "")).replace("|", "\\|")
        assert description, f"setting {name} has no description"
        names = " or ".join(f"`{n}`" for n in variables(name, info))
        rows.append(f"| {names} | {_default(info)} | {_values(info)} | {description} |")
    return "\n".join(rows) + "\n"


# --- the tests ------------------------------------------------------------------------------


def test_the_resources_table_is_the_registry() -> None:
    written = block(POLICY_MD.read_text(), "resources")
    assert written == resources_table(), (
        "the resources table in docs/policy.md is out of date: run "
        "`.venv/bin/python -m tests.test_docs_tables`"
    )
    for name in RESOURCES:  # and the generator is not empty
        assert f"| `{name}` |" in written


def test_the_settings_table_is_the_settings_model() -> None:
    written = block(OPERATIONS_MD.read_text(), "settings")
    assert written == settings_table(), (
        "the settings table in docs/operations.md is out of date: run "
        "`.venv/bin/python -m tests.test_docs_tables`"
    )
    for name, info in Settings.model_fields.items():
        assert f"`{variables(name, info)[0]}`" in written


def test_the_variables_are_those_the_settings_read(monkeypatch: Any) -> None:
    # The table names the variable each setting is read from; setting it takes effect.
    monkeypatch.setenv("HUB_TOKEN_LIFETIME", "120")
    monkeypatch.setenv("HUB_AUDIT_CHECKPOINT_INTERVAL", "7")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setenv("HUB_PAGE_CAP", "42")
    settings = Settings()
    assert settings.token_lifetime_s == 120
    assert settings.audit_checkpoint_interval_s == 7
    assert settings.otlp_endpoint == "http://collector:4318"
    assert settings.page_cap == 42
    fields = Settings.model_fields
    assert variables("token_lifetime_s", fields["token_lifetime_s"]) == ["HUB_TOKEN_LIFETIME"]
    assert variables("otlp_endpoint", fields["otlp_endpoint"]) == [
        "HUB_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    assert variables("page_cap", fields["page_cap"]) == ["HUB_PAGE_CAP"]


def main() -> int:
    for path, name, table in (
        (POLICY_MD, "resources", resources_table()),
        (OPERATIONS_MD, "settings", settings_table()),
    ):
        text = path.read_text()
        updated = with_block(text, name, table)
        if updated != text:
            path.write_text(updated)
            print(f"wrote the {name} table of {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
