"""The GraphQL schema and the event catalogue are documented, and the documents in docs/
are the code's own: `hub schema export` and `hub events catalogue` write them, and these
tests fail when they drift.

Every type, field, argument and input field of the schema has a description. Enum values
are exempt: they are the domain's own words (`window`, `massage_salon`, `suspended`), and
what is not self-evident about one is said in its enum's description.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)

from hub.cli import main
from hub.commands.docs import events_markdown, schema_sdl
from hub.events.envelope import EVENT_TYPES
from hub.schema.root import make_schema

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def undocumented() -> list[str]:
    schema = make_schema(max_depth=10, max_aliases=15, max_tokens=2000)
    missing = []
    for name, kind in sorted(schema._schema.type_map.items()):
        if name.startswith("__") or name in BUILT_IN:
            continue
        if not (kind.description or "").strip():
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for fname, field in kind.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"{name}.{fname}")
                for aname, arg in field.args.items():
                    if not (arg.description or "").strip():
                        missing.append(f"{name}.{fname}({aname})")
        elif isinstance(kind, GraphQLInputObjectType):
            for fname, input_field in kind.fields.items():
                if not (input_field.description or "").strip():
                    missing.append(f"{name}.{fname}")
        else:
            assert isinstance(kind, GraphQLEnumType | GraphQLScalarType | GraphQLUnionType)
    return missing


def test_every_type_field_and_argument_has_a_description() -> None:
    missing = undocumented()
    assert missing == [], f"{len(missing)} without a description: {missing}"


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
