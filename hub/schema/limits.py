"""Limits on every operation, introspection included: tokens (the parser), depth and aliases
(a validation rule), and an estimated cost (rows x fields, from `first` and nesting).

Each refusal carries `extensions.code` QUERY_TOO_COMPLEX, so callers (and the hub itself)
recognise it by its code, never by its message. strawberry's own QueryDepthLimiter leaves
introspection fields out of the depth, and neither it nor MaxAliasesLimiter nor
MaxTokensLimiter gives its error a code; so the hub keeps one rule of its own for depth and
aliases, and its own parser step (with a shared cache) for tokens.

The cost of a document is the number of fields it would answer, each counted once per row
it is repeated for: a connection or a list with `first` repeats what it holds `first` times
(50 when not given), a root list without `first` the page cap, a record's own list without
`first` (a report's replies) 10 times, and an introspection list the schema's own mean
(`__Schema.types`: every type; `__Type.fields`: fields per type; …).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    parse,
)
from graphql.language.lexer import Lexer
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef
from strawberry.extensions import SchemaExtension

from hub.errors import Code, HubError

DEFAULT_PAGE = 50  # the rows of a list whose `first` is not given (hub/read: the same)
NESTED_LIST = 10  # the rows estimated for a record's own list without `first`


def too_complex(message: str, node: Any = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": Code.QUERY_TOO_COMPLEX.value})


# --- depth and aliases: a validation rule (cached with the document) ------------------------


def complexity_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    class ComplexityLimits(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments: dict[str, FragmentDefinitionNode] = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            aliases = [0]
            depth = _depth(node.selection_set, fragments, aliases, frozenset(), max_depth + 1)
            if depth > max_depth:
                self.report_error(
                    too_complex(f"query depth {depth} exceeds the limit of {max_depth}", node)
                )
            if aliases[0] > max_aliases:
                self.report_error(
                    too_complex(f"{aliases[0]} aliases exceed the limit of {max_aliases}", node)
                )

    return ComplexityLimits


def _depth(
    sel: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    aliases: list[int],
    visiting: frozenset[str],
    cap: int,
) -> int:
    """The depth of a selection (introspection fields count like any other), counting its
    aliases on the way; it stops going down once past `cap`."""
    if sel is None or cap <= 0:
        return 0
    deepest = 0
    for s in sel.selections:
        if isinstance(s, FieldNode):
            if s.alias is not None:
                aliases[0] += 1
            if s.selection_set is not None:
                deepest = max(
                    deepest, 1 + _depth(s.selection_set, fragments, aliases, visiting, cap - 1)
                )
            else:
                deepest = max(deepest, 1)
        elif isinstance(s, InlineFragmentNode):
            deepest = max(deepest, _depth(s.selection_set, fragments, aliases, visiting, cap))
        elif isinstance(s, FragmentSpreadNode):
            name = s.name.value
            frag = fragments.get(name)
            if frag is not None and name not in visiting:  # cycles are reported by graphql
                deepest = max(
                    deepest, _depth(frag.selection_set, fragments, aliases, visiting | {name}, cap)
                )
    return deepest


# --- cost: rows x fields -------------------------------------------------------------------


class CostModel:
    """Estimates the cost of an operation of one schema (see the module's docstring)."""

    def __init__(self, schema: GraphQLSchema, page_cap: int) -> None:
        self.schema = schema
        self.page_cap = page_cap
        self.default_page = min(DEFAULT_PAGE, page_cap)
        self.introspection = _introspection_sizes(schema)
        self.roots = {t for t in (schema.query_type, schema.mutation_type) if t is not None}
        if schema.subscription_type is not None:
            self.roots.add(schema.subscription_type)

    def cost(
        self,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
        stop_at: int,
    ) -> int:
        """The estimated cost of the operation `operation_name` (or of the only one), at
        most a little past `stop_at` (the walk stops there)."""
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        total = 0
        for d in document.definitions:
            if not isinstance(d, OperationDefinitionNode):
                continue
            if operation_name is not None and (d.name is None or d.name.value != operation_name):
                continue
            total += self.operation_cost(d, fragments, variables, stop_at - total)
        return total

    def operation_cost(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
        stop_at: int,
    ) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        walk = _Walk(self, fragments, variables or {}, stop_at)
        return walk.selection(operation.selection_set, root, 1, None, frozenset())

    def within(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
        max_cost: int,
    ) -> bool:
        return self.operation_cost(operation, fragments, variables, max_cost) <= max_cost


@dataclass
class _Walk:
    model: CostModel
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    stop_at: int
    total: int = 0

    def selection(
        self,
        sel: SelectionSetNode,
        parent: GraphQLNamedType,
        times: int,
        page: int | None,
        visiting: frozenset[str],
    ) -> int:
        """`times`: how often this selection is repeated; `page`: the rows of the connection
        whose fields these are (its `edges` repeat that often)."""
        for s in sel.selections:
            if self.total > self.stop_at:
                break
            if isinstance(s, FieldNode):
                self.total += times
                if s.selection_set is None:
                    continue
                field = _field(self.model.schema, parent, s.name.value)
                if field is None:
                    continue  # reported by validation
                inner = get_named_type(field.type)
                rows, inner_page = self.rows(s, field, parent, page)
                self.selection(s.selection_set, inner, times * rows, inner_page, visiting)
            elif isinstance(s, InlineFragmentNode):
                cond = s.type_condition
                narrowed = self.model.schema.get_type(cond.name.value) if cond else None
                self.selection(s.selection_set, narrowed or parent, times, page, visiting)
            elif isinstance(s, FragmentSpreadNode):
                name = s.name.value
                frag = self.fragments.get(name)
                if frag is None or name in visiting:
                    continue
                narrowed = self.model.schema.get_type(frag.type_condition.name.value)
                self.selection(
                    frag.selection_set, narrowed or parent, times, page, visiting | {name}
                )
        return self.total

    def rows(
        self, node: FieldNode, field: GraphQLField, parent: GraphQLNamedType, page: int | None
    ) -> tuple[int, int | None]:
        """How often the field's selection is repeated, and the page its connection holds."""
        if "first" in field.args:
            first = self.first(node, field)
            if get_named_type(field.type).name.endswith("Connection"):
                return 1, first
            return first, None
        if not isinstance(get_nullable_type(field.type), GraphQLList):  # type: ignore[arg-type]
            return 1, None
        if page is not None:
            return page, None  # a connection's edges
        if parent.name.startswith("__"):
            return self.model.introspection.get((parent.name, node.name.value), 1), None
        if parent in self.model.roots:
            return self.model.page_cap, None  # a root list: capped at a page
        return NESTED_LIST, None  # a record's own list (its replies, its transitions)

    def first(self, node: FieldNode, field: GraphQLField) -> int:
        value: Any = None
        for arg in node.arguments or ():
            if arg.name.value != "first":
                continue
            if isinstance(arg.value, IntValueNode):
                value = int(arg.value.value)
            elif isinstance(arg.value, VariableNode):
                value = self.variables.get(arg.value.name.value)
        if value is None:
            value = field.args["first"].default_value
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            return self.model.default_page
        return min(value, self.model.page_cap)


def _field(schema: GraphQLSchema, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    if name == "__schema" and parent is schema.query_type:
        return SchemaMetaFieldDef
    if name == "__type" and parent is schema.query_type:
        return TypeMetaFieldDef
    if name == "__typename":
        return TypeNameMetaFieldDef
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(name)
    return None


def _introspection_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """The mean length of each introspection list in this schema (rounded up, at least 1),
    so that a whole introspection query costs about what it answers."""
    types = list(schema.type_map.values())
    n = max(1, len(types))
    fields = [
        f
        for t in types
        if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
        for f in t.fields.values()
    ]
    inputs = sum(len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType))
    enums = sum(len(t.values) for t in types if isinstance(t, GraphQLEnumType))
    interfaces = sum(
        len(t.interfaces) for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
    )
    possible = sum(len(t.types) for t in types if isinstance(t, GraphQLUnionType))
    args = sum(len(f.args) for f in fields)
    directive_args = sum(len(d.args) for d in schema.directives)

    def mean(total: int, over: int) -> int:
        return max(1, math.ceil(total / max(1, over)))

    return {
        ("__Schema", "types"): n,
        ("__Schema", "directives"): max(1, len(schema.directives)),
        ("__Type", "fields"): mean(len(fields), n),
        ("__Type", "inputFields"): mean(inputs, n),
        ("__Type", "enumValues"): mean(enums, n),
        ("__Type", "interfaces"): mean(interfaces, n),
        ("__Type", "possibleTypes"): mean(possible, n),
        ("__Field", "args"): mean(args, len(fields)),
        ("__Directive", "args"): mean(directive_args, len(schema.directives)),
    }


# --- the parser step: tokens, with a code -------------------------------------------------


def counts_more_tokens(source: str, max_tokens: int) -> bool:
    """Whether `source` holds more than `max_tokens` tokens (lexing at most that many)."""
    lexer = Lexer(Source(source))
    try:
        for _ in range(max_tokens + 1):
            if lexer.advance().kind == TokenKind.EOF:
                return False
    except GraphQLSyntaxError:
        return False
    return True


def cached_parser(max_tokens: int, size: int = 256) -> Callable[[str], DocumentNode]:
    """A parser for the schema's life: documents cached (the same text is parsed once),
    refusals coded: more than `max_tokens` tokens is QUERY_TOO_COMPLEX, any other syntax
    error BAD_USER_INPUT."""

    @lru_cache(maxsize=size)
    def parse_document(query: str) -> DocumentNode:
        try:
            return parse(query, max_tokens=max_tokens)
        except GraphQLSyntaxError as error:
            if counts_more_tokens(query, max_tokens):
                raise too_complex(f"more than {max_tokens} tokens in the document") from None
            raise GraphQLError(
                error.message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                extensions={"code": Code.BAD_USER_INPUT.value},
            ) from None

    return parse_document


class LimitedParser(SchemaExtension):
    """Parses the document with the schema's shared, token-bounded parser."""

    def __init__(self, parse_document: Callable[[str], DocumentNode]) -> None:
        self.parse_document = parse_document

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None and ctx.query:
            ctx.graphql_document = self.parse_document(ctx.query)
        yield


class CostLimit(SchemaExtension):
    """Refuses, before anything runs, an operation whose estimated cost is over the limit
    (with the request's variables: `first: $n` counts as the `n` given)."""

    def __init__(self, models: dict[int, CostModel], page_cap: int, max_cost: int) -> None:
        self.models = models
        self.page_cap = page_cap
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None:
            check_cost(
                self.model(ctx.schema._schema),
                ctx.graphql_document,
                ctx.operation_name,
                ctx.variables,
                self.max_cost,
            )
        yield

    def model(self, schema: GraphQLSchema) -> CostModel:
        found = self.models.get(id(schema))
        if found is None:
            found = self.models[id(schema)] = CostModel(schema, self.page_cap)
        return found


def check_cost(
    model: CostModel,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    max_cost: int,
) -> None:
    cost = model.cost(document, operation_name, variables, max_cost)
    if cost > max_cost:
        raise HubError(
            Code.QUERY_TOO_COMPLEX,
            f"the query's estimated cost (rows x fields) exceeds the limit of {max_cost}",
        )
