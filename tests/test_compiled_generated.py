"""The compiled read path against the generic one on documents that Hypothesis generates
from the schema, for every role and purpose (the other differential cases are in
tests/test_compiled_reads.py; apart, the two files run on two workers side by side)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.read.compiler import ROOTS as COMPILED_ROOTS
from hub.read.execute import SERVED
from tests.test_access_matrix import UNKNOWN_ID
from tests.test_compiled_reads import (  # noqa: F401 (diff_hub: the fixture)
    SHAPE_CLIENTS,
    _endpoint,
    both,
    diff_hub,
)

# --- generated documents, for every role and purpose ------------------------------------


def _in_range(document: Any) -> str:
    """The document with page sizes in range and no made-up cursors: most generated
    arguments are otherwise out of range, and those requests are the generic path's (the
    error cases are compared too, by the unchanged documents of the test above)."""
    from graphql import ArgumentNode, IntValueNode, Visitor, print_ast, visit

    class InRange(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
            if node.name.value == "first" and isinstance(node.value, IntValueNode):
                value = str(abs(int(node.value.value)) % 100 + 1)
                return ArgumentNode(name=node.name, value=IntValueNode(value=value))
            if node.name.value == "after":
                return self.REMOVE
            return None

    return print_ast(visit(document, InRange()))


def _readable_roots(hub: Any, client: str, purpose: str) -> list[str]:
    """The compiled roots the client may read for the purpose (others answer FORBIDDEN)."""
    probes = {
        "sexWorker": f'{{ sexWorker(id: "{UNKNOWN_ID}") {{ id }} }}',
        "organisations": "{ organisations { id } }",
        "alerts": "{ alerts { id } }",
        "myConsents": "{ myConsents { id } }",
    }
    readable = []
    for root in COMPILED_ROOTS:
        q = probes.get(root, f"{{ {root}(first: 1) {{ edges {{ node {{ id }} }} }} }}")
        if not hub.gql(q, as_=client, purpose=purpose).get("errors"):
            readable.append(root)
    return readable


def _premises_ids(hub: Any) -> list[str]:
    from sqlalchemy import select

    from hub.models import Premises

    async def load() -> list[str]:
        async with hub.db.session() as session:
            rows = await session.execute(select(Premises.id).order_by(Premises.id).limit(3))
            return [r[0] for r in rows]

    return hub.run(load())  # type: ignore[no-any-return]


def _documents(hub: Any, roots: list[str], client: str) -> Any:
    from graphql import StringValueNode
    from hypothesis_graphql import queries

    schema = _endpoint(hub).graphql.schema._schema
    # Ids as the client holds them (sealed for its audience): of records that exist.
    assert hub.demo is not None
    raw = [*hub.demo.sex_worker_ids[:3], *_premises_ids(hub)]
    ids = [hub.seal(r, as_=client) for r in raw]
    return queries(
        schema,
        fields=roots,
        custom_scalars={
            "ID": st.sampled_from(ids).map(lambda v: StringValueNode(value=v)),
            "DateTime": st.sampled_from(["2026-01-01T00:00:00Z", "2026-11-24T12:00:00+01:00"]).map(
                lambda v: StringValueNode(value=v)
            ),
            "Date": st.sampled_from(["2026-01-01", "2026-12-31"]).map(
                lambda v: StringValueNode(value=v)
            ),
        },
        allow_x00=False,
        print_ast=_in_range,
    )


@pytest.mark.parametrize(("client", "purpose"), SHAPE_CLIENTS)
def test_generated_documents_answer_alike(diff_hub, client, purpose):  # noqa: F811
    roots = _readable_roots(diff_hub, client, purpose)
    served_before = SERVED["compiled"]

    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(query=_documents(diff_hub, roots, client))
    def check(query: str) -> None:
        both(diff_hub, query, as_=client, purpose=purpose, expect=None)

    check()
    print("compiled", client, purpose, SERVED["compiled"] - served_before)
    assert SERVED["compiled"] - served_before >= 5
