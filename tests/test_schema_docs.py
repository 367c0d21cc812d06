"""The GraphQL schema and the event catalogue are documented, and the documents in docs/
are the code's own: `hub schema export` and `hub events catalogue` write them, and these
tests fail when they drift.

Every type, field, argument and input field of the schema has a description. Enum values
are exempt: they are the domain's own words (`window`, `massage_salon`, `suspended`), and
what is not self-evident about one is said in its enum's description.
"""

from __future__ import annotations

from pathlib import Path

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
from hub.config import Settings
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
