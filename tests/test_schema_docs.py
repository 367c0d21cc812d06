"""The GraphQL schema and the event catalogue are documented, and the documents in docs/
are the code's own: `hub schema export` and `hub events catalogue` write them, and these
tests fail when they drift.

Every type, field, argument, input field and enum value of the schema has a description;
a missing one fails with its place and how to give it, one a line.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)

from hub.cli import main
from hub.commands.docs import events_markdown, schema_sdl
from hub.events.envelope import EVENT_TYPES
from hub.schema.root import make_schema

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def _blank(description: str | None) -> bool:
    return not (description or "").strip()


def undocumented(schema: GraphQLSchema | None = None) -> list[str]:
    """Every place in the schema (the hub's by default) without a description, each with
    what it is."""
    if schema is None:
        schema = make_schema(max_depth=10, max_aliases=15, max_tokens=2000)._schema
    missing = []
    for name, kind in sorted(schema.type_map.items()):
        if name.startswith("__") or name in BUILT_IN:
            continue
        if _blank(kind.description):
            missing.append(f"type {name}")
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for fname, field in kind.fields.items():
                if _blank(field.description):
                    missing.append(f"field {name}.{fname}")
                for aname, arg in field.args.items():
                    if _blank(arg.description):
                        missing.append(f"argument {name}.{fname}({aname}:)")
        elif isinstance(kind, GraphQLInputObjectType):
            for fname, input_field in kind.fields.items():
                if _blank(input_field.description):
                    missing.append(f"input field {name}.{fname}")
        elif isinstance(kind, GraphQLEnumType):
            for vname, value in kind.values.items():
                if _blank(value.description):
                    missing.append(f"enum value {name}.{vname}")
        else:
            assert isinstance(kind, GraphQLScalarType | GraphQLUnionType)
    return missing


HOW = """How to give one: a type's docstring or `@strawberry.type(description=...)`; a field's
`strawberry.field(description=...)`; an argument's `Annotated[T, strawberry.argument(
description=...)]`; an enum value's, `describe_values(TheEnum, {"VALUE": "..."})` from
hub/schema/enums.py (for the enums of hub/models/enums.py: an entry in VALUES there).
Then regenerate docs/schema.graphql: `.venv/bin/hub schema export -o docs/schema.graphql`."""


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    missing = undocumented()
    assert missing == [], (
        f"{len(missing)} place(s) in the schema without a description:\n  "
        + "\n  ".join(missing)
        + "\n"
        + HOW
    )


# A schema with one undescribed place of each kind, for the check itself.
@strawberry.enum
class Colour(Enum):
    RED = strawberry.enum_value("red", description="Red.")
    BLUE = "blue"


@strawberry.input(description="A filter.")
class Filter:
    colour: Colour | None = None


@strawberry.type
class Probe:
    told: int = strawberry.field(description="Told.")

    @strawberry.field(description="Found.")
    def found(self, where: Filter | None = None) -> int:
        return 0


def test_the_check_finds_every_kind_of_missing_description() -> None:
    schema = strawberry.Schema(query=Probe)._schema
    assert undocumented(schema) == [
        "type Colour",
        "enum value Colour.BLUE",
        "input field Filter.colour",
        "type Probe",
        "argument Probe.found(where:)",
    ]


def test_descriptions_and_the_event_catalogue_are_gender_neutral() -> None:
    # The field includes men and trans people: "the worker", "they", never "she" or "her".
    words = {"she", "her", "hers", "herself", "he", "him", "his", "himself"}
    for text in (schema_sdl(), events_markdown(ROOT / "asyncapi.yaml")):
        found = sorted({w.strip(".,;:()`'\"|").lower() for w in text.split()} & words)
        assert found == []


def test_docs_schema_graphql_is_the_exported_schema(capsys: Any) -> None:
    assert main(["schema", "export"]) == 0
    printed = capsys.readouterr().out
    assert printed == schema_sdl()
    assert "type Query" in printed and "type Subscription" in printed
    written = (ROOT / "docs" / "schema.graphql").read_text()
    assert written == printed, (
        "docs/schema.graphql is out of date: run `hub schema export -o docs/schema.graphql`"
    )


def test_docs_events_md_is_the_generated_catalogue(tmp_path: Path) -> None:
    out = tmp_path / "events.md"
    assert main(["events", "catalogue", "--output", str(out)]) == 0
    generated = out.read_text()
    assert generated == events_markdown(ROOT / "asyncapi.yaml")
    for type_, resource in EVENT_TYPES.items():
        assert f"\n## {type_}\n" in generated
        assert f"| `{type_}`]" not in generated  # linked, not bare
        assert f"Resource `{resource}`" in generated
    written = (ROOT / "docs" / "events.md").read_text()
    assert written == generated, (
        "docs/events.md is out of date: run `hub events catalogue -o docs/events.md`"
    )


def test_events_catalogue_needs_its_asyncapi_document(tmp_path: Path, capsys: Any) -> None:
    assert main(["events", "catalogue", "--asyncapi", str(tmp_path / "none.yaml")]) == 2
    assert "give --asyncapi" in capsys.readouterr().err
