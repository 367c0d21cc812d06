"""GraphQL types of the action plan's indicators, and the `indicators` query.

Counts only, under statistical disclosure control (see hub/services/statistics.py): a
suppressed count is `value: null, suppressed: true`. An indicator the policy does not let
the caller count is null and named in `extensions.withheld` under `IndicatorReport`. Only
closed quarters and years are reported, each published once and then frozen.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry.types import Info

from hub.read.nodes import camel, selected
from hub.schema.context import Context
from hub.schema.enums import (
    Branch,
    CareKind,
    CertificateStatus,
    InspectionOutcome,
    MeasureKind,
    MeasureTargetKind,
    ReportCategory,
    describe_values,
)
from hub.services import statistics as ind

strawberry.enum(ind.ArrestKind, description="Arrests counted by inspections.")
strawberry.enum(ind.CheckTrigger, description="Why a premises was checked.")
describe_values(
    ind.ArrestKind,
    {
        "ADMINISTRATIVE": "Administrative arrests (bestuurlijke aanhouding).",
        "JUDICIAL": "Judicial arrests (gerechtelijke aanhouding).",
    },
)
describe_values(
    ind.CheckTrigger,
    {
        "PROACTIVE": "Checked on the police's own initiative.",
        "REACTIVE": "Checked in response to a complaint or report.",
    },
)
strawberry.enum(
    ind.GenderKey,
    description="A key of the gender table: a gender as workers declared it themselves, or "
    "NOT_STATED for the workers who declared none.",
)
describe_values(
    ind.GenderKey,
    {
        "WOMAN": "Workers who declared themselves a woman.",
        "MAN": "Workers who declared themselves a man.",
        "TRANS_WOMAN": "Workers who declared themselves a trans woman.",
        "TRANS_MAN": "Workers who declared themselves a trans man.",
        "NON_BINARY": "Workers who declared themselves non-binary.",
        "NOT_STATED": "Workers who declared no gender.",
    },
)
ArrestKind = ind.ArrestKind
CheckTrigger = ind.CheckTrigger
GenderKey = ind.GenderKey

K = TypeVar("K")


@strawberry.type(description="One count: null and suppressed when it could identify people.")
class Cell:
    value: int | None = strawberry.field(description="The count; null when suppressed.")
    suppressed: bool = strawberry.field(
        description="Whether the count is withheld because it could identify people."
    )


@strawberry.type(description="One count of a table, by its key.")
class Row(Generic[K]):
    key: K = strawberry.field(description="What is counted (a branch, a kind, ...).")
    value: int | None = strawberry.field(description="The count; null when suppressed.")
    suppressed: bool = strawberry.field(
        description="Whether the count is withheld because it could identify people, or give "
        "a withheld count away."
    )


@strawberry.type(
    description="Counts by key (every key, in vocabulary order) and their total. Cells "
    "under minCell are suppressed, and further cells (then the total) where the total "
    "would give them away."
)
class Table(Generic[K]):
    rows: list[Row[K]] = strawberry.field(
        description="One count per key, every key of the vocabulary, in its order."
    )
    total: Cell = strawberry.field(
        description="The total of the rows (suppressed too where it would give a cell away)."
    )
    min_cell: int = strawberry.field(
        description="The threshold: every count under it is suppressed."
    )


@strawberry.type(
    description="The action plan's indicators of one city for one closed quarter or year, "
    "as published: computed once, when first asked for, and the same figures on every "
    "later request."
)
class IndicatorReport:
    city: str = strawberry.field(description="The city counted.")
    from_: date = strawberry.field(name="from", description="The period's first day.")
    to: date = strawberry.field(description="The period's last day.")
    quarter: str | None = strawberry.field(
        description="The quarter, e.g. 2026-Q3; null for a yearly report."
    )
    period: str = strawberry.field(
        description="The period: 2026-Q3 for a quarter, 2026 for a year."
    )
    published_at: datetime = strawberry.field(
        description="When the report was published (its figures are frozen since)."
    )
    sex_workers_reached: Table[Branch] | None = strawberry.field(
        description="Distinct NGO client references per branch; the total counts each "
        "reference once. A person seen by two NGOs counts twice."
    )
    care_contacts: Table[CareKind] | None = strawberry.field(
        description="NGO care contacts per kind (medical, psychosocial, ...)."
    )
    referrals: Cell | None = strawberry.field(description="Referrals by NGOs of the city.")
    inspections: Table[Branch] | None = strawberry.field(description="Inspections per branch.")
    hidden_forms_controlled: Cell | None = strawberry.field(
        description="Inspections of a hidden form of prostitution."
    )
    arrests: Table[ArrestKind] | None = strawberry.field(
        description="Administrative and judicial arrests made at inspections."
    )
    premises_checked: Table[CheckTrigger] | None = strawberry.field(
        description="Inspections of a premises, proactive or reactive to a complaint."
    )
    measures: Table[MeasureKind] | None = strawberry.field(
        description="Administrative measures opened, per kind."
    )
    fines: Cell | None = strawberry.field(description="The FINE cell of measures.")
    fines_by_target: Table[MeasureTargetKind] | None = strawberry.field(
        description="Fines split by what they were against: a worker, a client, another "
        "third party, premises. Its total is the fines cell; suppressed whole when that cell "
        "is."
    )
    certificates: Table[CertificateStatus] | None = strawberry.field(
        description="Certificates decided in the period: granted, suspended, revoked."
    )
    inspection_outcomes: Table[InspectionOutcome] | None = strawberry.field(
        description="Inspections per outcome: nothing, a warning, a PV (proces-verbaal) or "
        "an RIR (information report)."
    )
    reports: Table[ReportCategory] | None = strawberry.field(
        description="Workers' reports (meldingen) filed in the city, named and anonymous, "
        "per category."
    )
    judicial_investigations: Cell | None = strawberry.field(
        description="Judicial investigations (named cases under a magistrate) opened by "
        "police organisations of the city. With judicial arrests and PVs, the judicial "
        "measures the hub knows of."
    )
    gender: Table[GenderKey] | None = strawberry.field(
        description="Workers registered in the city whose registration was live in the "
        "period (made before its end, active on or after its start), per gender as the "
        "workers declared it themselves, and NOT_STATED. Suppressed like every table; "
        "null in a report published before the hub counted it."
    )


def _cell(c: ind.Cell) -> Cell:
    return Cell(value=c.value, suppressed=c.suppressed)


def _table(t: ind.Table[Any]) -> Table[Any]:
    rows = [Row(key=k, value=c.value, suppressed=c.suppressed) for k, c in t.cells]
    return Table(rows=rows, total=_cell(t.total), min_cell=t.min_cell)


def _output(value: ind.Indicator | None) -> Cell | Table[Any] | None:
    if value is None:
        return None
    return _cell(value) if isinstance(value, ind.Cell) else _table(value)


def report(r: ind.Report) -> IndicatorReport:
    out: dict[str, Any] = {n: _output(r.values.get(n)) for n in ind.INDICATORS}
    p = r.period
    assert r.published_at is not None  # every report returned is a published one
    return IndicatorReport(
        city=r.city,
        from_=p.first,
        to=p.last,
        quarter=None if p.is_year else p.label,
        period=p.label,
        published_at=r.published_at,
        **out,
    )


@strawberry.type
class IndicatorsQuery:
    @strawberry.field(
        description="Statistics of the action plan for one city and one closed calendar "
        "quarter or year (from = its first day, to = its last; the period in progress is "
        "refused). Counts only, small cells suppressed; published when first asked for and "
        "frozen: the same figures on every later request. Only the caller's own city "
        "(the aggregate policy's `where`)."
    )
    async def indicators(
        self,
        info: Info,
        city: Annotated[str, strawberry.argument(description="The city, e.g. Antwerpen.")],
        from_: Annotated[
            date,
            strawberry.argument(
                name="from", description="The first day of a calendar quarter or year."
            ),
        ],
        to: Annotated[
            date, strawberry.argument(description="The last day of the same quarter or year.")
        ],
    ) -> IndicatorReport:
        ctx: Context = info.context
        wanted = selected(info) & frozenset(ind.INDICATORS)
        result = await ind.indicators(
            db=ctx.hub.db, actor=ctx.actor, city=city, start=from_, end=to, wanted=wanted
        )
        ctx.loaders.withhold("IndicatorReport", frozenset(camel(n) for n in result.withheld))
        return report(result)


__all__ = ["ArrestKind", "CheckTrigger", "GenderKey", "IndicatorReport", "IndicatorsQuery"]
