"""Limits on every operation: depth and aliases (a validation rule), tokens (the parser).

Introspection fields (`__schema`, `__type`) do not count towards depth, so GraphiQL works.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

from hub.errors import Code


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
                    GraphQLError(
                        f"query depth {depth} exceeds the limit of {max_depth}",
                        node,
                        extensions={"code": Code.QUERY_TOO_COMPLEX.value},
                    )
                )
            if aliases[0] > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"{aliases[0]} aliases exceed the limit of {max_aliases}",
                        node,
                        extensions={"code": Code.QUERY_TOO_COMPLEX.value},
                    )
                )

    return ComplexityLimits


def _depth(
    sel: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    aliases: list[int],
    visiting: frozenset[str],
    cap: int,
) -> int:
    if sel is None or cap <= 0:
        return 0
    deepest = 0
    for s in sel.selections:
        if isinstance(s, FieldNode):
            if s.name.value.startswith("__"):
                continue
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
