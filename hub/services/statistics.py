"""The action plan's indicators per city and closed period, under statistical disclosure
control, published once and then frozen.

Who may count. Each indicator counts one resource; the caller's roles and purpose must
match that resource's `aggregate` section in the policy (its `roles` and `purposes`), and
its `min_cell` is the threshold of every cell counted from it. The section's `where` (the
rules' language; the shipped policies say `{city: {eq: $principal.city}}`) says which rows
the caller may count: before a report is returned, one statement per resource counts the
rows of the report's city and period that the `where` does NOT admit, with the caller's
token values bound as parameters; if there is any, the request is refused (FORBIDDEN), so
an analyst of Gent cannot read Antwerpen's figures. An indicator whose resource does not
allow the caller is not returned (null, and named in `extensions.withheld`); if no
indicator is allowed the request is refused. Counting never passes through the row rules
and never returns a row: only counts leave, and the access log names the indicators
returned (`aggregate` on `Indicators`), never a value.

What is counted, for one city and one period (the city action plan's indicators):

| indicator | resource | count | city column |
|---|---|---|---|
| sex_workers_reached | CareContact | COUNT DISTINCT (ngo_id, client_ref), per branch | city |
| care_contacts | CareContact | contacts per kind (medical, psychosocial, ...) | city |
| referrals | Referral | referrals | the referring NGO's city |
| inspections | Inspection | inspections per branch | city |
| hidden_forms_controlled | Inspection | inspections with `hidden_form` | city |
| arrests | Inspection | administrative and judicial arrests (sums) | city |
| premises_checked | Inspection | inspections of a premises, proactive / reactive | city |
| inspection_outcomes | Inspection | inspections per outcome: none, warning, PV, RIR | city |
| measures | Measure | measures opened, per kind | city |
| fines | Measure | the `fine` cell of `measures` | city |
| fines_by_target | Measure | fines per target: worker, client, other person, premises | city |
| judicial_investigations | Investigation | named cases opened | the police's city |
| certificates | Certificate | decided in the period: granted, suspended, revoked | premises.city |
| reports | Report | workers' reports (named and anonymous) per category | city |
| gender | SexWorker | workers live in the period, per declared gender, `not_stated` | city |

Care contacts enter statistics only as counts of NGO-local client references: a person
seen by two NGOs counts twice, and nothing links a reference to a hub identity. Each
resource is counted by one GROUP BY statement (eight at most per report, whatever the data
size); no row is fetched. The action plan's judicial measures are, in the hub's data, the
judicial arrests (`arrests`), the official reports sent to the prosecutor (the `pv` cell
of `inspection_outcomes`) and the judicial investigations opened
(`judicial_investigations`, counted from the police's named cases, never naming a case or
a person). Fines are split by what each measure records at opening (`target_kind`: a
worker, a client, another third party or premises); measures opened before that was
recorded and naming a person count as another third party, never guessed to be clients.

The gender breakdown counts what workers declared themselves (`SexWorker.gender`, set
only by the worker on /me or with setMyGender, and read by nobody else): a worker counts
in the period when the registration was made before the period's end and its last
activity (`last_active_at`, kept by retention; the registration itself while it has none)
is on or after the period's start, in the city of the worker's record. Workers who stated
no gender count as `not_stated`. The table is suppressed like the others (primary and
secondary), so neither a small group nor the total minus the published cells can out
anyone; an anonymised worker (retention) counts as `not_stated`.

Disclosure control:

- Primary suppression: every cell under `min_cell`, zero included, is published as null
  and flagged `suppressed` (a zero says "nobody of this kind was here", which is what the
  threshold protects too).
- Secondary suppression of tables (cells plus their total): while the total is published
  and the suppressed cells could be recovered from it, the smallest published cell is
  suppressed too (ties: the first in vocabulary order), and the total last. Recoverable
  means: exactly one suppressed cell, or suppressed cells whose sum is under `min_cell`,
  or (for a total that is not the sum of its cells, as distinct people per branch, where
  one person may be reached in several branches) a residual `total - sum(published
  cells)` between 1 and `min_cell - 1`, which would prove that a few people sit in the
  suppressed cells. A residual of zero or less proves nothing: the suppressed cells may
  hold people also counted elsewhere.
- A cell shown in two places (`fines` is the `fine` cell of `measures`) takes the state it
  has after its table's suppression, so one place cannot undo the other.
- `fines_by_target` splits that same cell: when the `fine` cell is suppressed, the whole
  split is (its total and cells would give the fine cell back); otherwise its total is the
  published fine cell and its cells are suppressed as a table of their own.

Periods and publication:

- Only whole calendar quarters (from = the first day of a quarter, to = its last day) and
  whole calendar years (1 January to 31 December) are accepted. Two quarters are equal or
  disjoint; a year is exactly the union of its four quarters, whose suppression hides
  what the year's total alone would not (see "Known limits").
- Only closed periods: a period whose last day is today or later (in Belgian time,
  Europe/Brussels) is refused. Instants are cut at midnight in Belgian time; care-contact
  dates are local dates. Periods before 1970 are refused.
- A report is published the first time it is asked for (or by `hub statistics publish`):
  every indicator is computed once and its suppressed figures stored
  (hub/models/statistics.py); every later request for that city and period returns the
  stored figures, whoever asks, even when late records of the period have arrived since.
  So no two reports of one period differ, and nothing can be differenced out of them.
  Publication counts every row of the city and period; the admission check above runs on
  every request, first or not, so figures reach only callers whose `where` admits all of
  those rows. A stored indicator whose threshold is below the resource's current
  `min_cell` is not returned (withheld) rather than shown under a weaker rule.

Known limits: tables of one resource are suppressed one by one, not jointly (inspections
minus premises checked gives the inspections without a premises); a year's cells are
suppressed on the year's counts, not jointly with its quarters' (a year minus three
published quarters can give a quarter's suppressed cell); a certificate counts by its
latest decision only (the table keeps no history).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, distinct, func, literal, not_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from hub.db import Database
from hub.errors import Code
from hub.models import (
    CareContact,
    Certificate,
    Inspection,
    Investigation,
    Measure,
    Organisation,
    Premises,
    PublishedReport,
    SexWorker,
)
from hub.models import Referral as ReferralRow
from hub.models import Report as ReportRow
from hub.models.enums import (
    Branch,
    CareKind,
    CertificateStatus,
    InspectionOutcome,
    MeasureKind,
    MeasureTargetKind,
    ReportCategory,
)
from hub.policy.document import Aggregate
from hub.policy.engine import PolicySet
from hub.policy.guardrails import MIN_AGGREGATE_CELL
from hub.services.actor import Actor
from hub.services.base import clean_text

K = TypeVar("K", bound=Enum)

BELGIAN_TIME = ZoneInfo("Europe/Brussels")
AUDIT_RESOURCE = "Indicators"
MAX_CITY = 80
FIRST_DAY = date(1970, 1, 1)


class ArrestKind(str, Enum):
    ADMINISTRATIVE = "administrative"
    JUDICIAL = "judicial"


class CheckTrigger(str, Enum):
    PROACTIVE = "proactive"
    REACTIVE = "reactive"


class GenderKey(str, Enum):
    """The keys of the `gender` table: each declared gender (hub.models.enums.Gender, in
    its order), then the workers who stated none."""

    WOMAN = "woman"
    MAN = "man"
    TRANS_WOMAN = "trans_woman"
    TRANS_MAN = "trans_man"
    NON_BINARY = "non_binary"
    NOT_STATED = "not_stated"


# Indicator → the resource it counts, in the order of the report.
INDICATORS: dict[str, str] = {
    "sex_workers_reached": "CareContact",
    "care_contacts": "CareContact",
    "referrals": "Referral",
    "inspections": "Inspection",
    "hidden_forms_controlled": "Inspection",
    "arrests": "Inspection",
    "premises_checked": "Inspection",
    "inspection_outcomes": "Inspection",
    "measures": "Measure",
    "fines": "Measure",
    "fines_by_target": "Measure",
    "certificates": "Certificate",
    "reports": "Report",
    "judicial_investigations": "Investigation",
    "gender": "SexWorker",
}
DECISIONS = (CertificateStatus.GRANTED, CertificateStatus.SUSPENDED, CertificateStatus.REVOKED)
# The key vocabulary of every table indicator (to read stored figures back).
TABLE_KEYS: dict[str, type[Enum]] = {
    "sex_workers_reached": Branch,
    "care_contacts": CareKind,
    "inspections": Branch,
    "arrests": ArrestKind,
    "premises_checked": CheckTrigger,
    "inspection_outcomes": InspectionOutcome,
    "measures": MeasureKind,
    "fines_by_target": MeasureTargetKind,
    "certificates": CertificateStatus,
    "reports": ReportCategory,
    "gender": GenderKey,
}


# --- disclosure control (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One published count: `value` is None when suppressed."""

    value: int | None

    @property
    def suppressed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Table(Generic[K]):
    """Cells by key (every key of the vocabulary, in its order) and their total."""

    cells: tuple[tuple[K, Cell], ...]
    total: Cell
    min_cell: int

    def cell(self, key: K) -> Cell:
        return dict(self.cells)[key]


Indicator = Cell | Table[Any]


def suppress_cell(value: int, min_cell: int) -> Cell:
    """Primary suppression: a count under the threshold (zero included) is not published."""
    return Cell(value if value >= min_cell else None)


def recoverable(raw: Mapping[K, int], hidden: Iterable[K], total: int, min_cell: int) -> bool:
    """Whether a published total and the published cells give away the hidden cells."""
    hidden = set(hidden)
    if not hidden:
        return False
    hidden_sum = sum(raw[k] for k in hidden)
    residual = total - sum(v for k, v in raw.items() if k not in hidden)
    return len(hidden) == 1 or hidden_sum < min_cell or 0 < residual < min_cell


def suppress_table(raw: Mapping[K, int], min_cell: int, total: int | None = None) -> Table[K]:
    """Primary and secondary suppression of one table.

    `total` defaults to the sum of the cells; give it when it is not (distinct people).
    Cells are kept in the order of `raw`, which also breaks ties between equal cells.
    """
    whole = sum(raw.values()) if total is None else total
    order = {k: i for i, k in enumerate(raw)}
    hidden = {k for k, v in raw.items() if v < min_cell}
    total_hidden = whole < min_cell
    while not total_hidden and recoverable(raw, hidden, whole, min_cell):
        shown = [k for k in raw if k not in hidden]
        if shown:
            hidden.add(min(shown, key=lambda k: (raw[k], order[k])))
        else:
            total_hidden = True
    cells = tuple((k, Cell(None if k in hidden else v)) for k, v in raw.items())
    return Table(cells, Cell(None if total_hidden else whole), min_cell)


# --- the period ------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar quarter (number 1..4) or a whole calendar year (number 0)."""

    year: int
    number: int
    first: date
    last: date

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.number}" if self.number else str(self.year)

    @property
    def is_year(self) -> bool:
        return self.number == 0

    def instants(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: midnight in Belgium on the first day and after the last."""
        start = datetime.combine(self.first, time(0), tzinfo=BELGIAN_TIME)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=BELGIAN_TIME)
        return start.astimezone(UTC), end.astimezone(UTC)


Quarter = Period  # the name the quarter-only code used


def quarter_of(day: date) -> Period:
    number = (day.month - 1) // 3 + 1
    first = date(day.year, 3 * number - 2, 1)
    after = date(day.year + 1, 1, 1) if number == 4 else date(day.year, 3 * number + 1, 1)
    return Period(day.year, number, first, after - timedelta(days=1))


def year_of(day: date) -> Period:
    return Period(day.year, 0, date(day.year, 1, 1), date(day.year, 12, 31))


def exact_quarter(start: date, end: date) -> Period | None:
    """The quarter [start, end] is exactly, or None."""
    q = quarter_of(start)
    return q if (q.first, q.last) == (start, end) else None


def exact_period(start: date, end: date) -> Period | None:
    """The quarter or the year [start, end] is exactly, or None."""
    y = year_of(start)
    return y if (y.first, y.last) == (start, end) else exact_quarter(start, end)


def parse_period(text: str) -> Period | None:
    """`2026-Q3` / `2026Q3` (a quarter) or `2026` (a year), else None."""
    raw = text.strip().upper().replace("-", "")
    try:
        if len(raw) == 4 and raw.isdigit():
            return year_of(date(int(raw), 1, 1))
        if len(raw) == 6 and raw[:4].isdigit() and raw[4] == "Q" and raw[5] in "1234":
            return quarter_of(date(int(raw[:4]), 3 * int(raw[5]) - 2, 1))
    except ValueError:
        return None
    return None


def last_closed_quarter(today: date) -> Period:
    return quarter_of(quarter_of(today).first - timedelta(days=1))


PERIOD_RULE = (
    "indicators cover exactly one calendar quarter (from = its first day, to = its last, "
    "e.g. 2026-07-01 to 2026-09-30) or one calendar year (from = 1 January, to = 31 "
    "December). Shifted or overlapping periods are refused because the difference between "
    "two reports would reveal the small counts that suppression hides."
)


# --- who may count ---------------------------------------------------------------------


def aggregates_for(actor: Actor) -> dict[str, Aggregate]:
    """Resource → its `aggregate` section, for the resources whose section admits the
    caller's roles and purpose."""
    purpose = actor.purpose
    roles = actor.principal.roles
    out: dict[str, Aggregate] = {}
    for resource in dict.fromkeys(INDICATORS.values()):
        doc = actor.policies.documents.get(resource)
        agg = doc.aggregate if doc is not None else None
        if agg is not None and agg.roles & roles and purpose in agg.purposes:
            out[resource] = agg
    return out


def allowed_resources(actor: Actor) -> dict[str, int]:
    """Resource → min_cell, for the resources whose `aggregate` admits the caller."""
    return {r: a.min_cell for r, a in aggregates_for(actor).items()}


# --- the rows of one city and period, per resource -------------------------------------


@dataclass(frozen=True)
class Scope:
    city: str
    quarter: Period  # the period, a quarter or a year

    @property
    def period(self) -> Period:
        return self.quarter

    @property
    def instants(self) -> tuple[datetime, datetime]:
        return self.quarter.instants()


def in_scope(resource: str, scope: Scope) -> tuple[Any, list[ColumnElement[bool]]]:
    """The model counted for `resource` and the conditions that put a row in the city and
    period: the same rows every counter below counts."""
    start, end = scope.instants
    p = scope.period
    if resource == "CareContact":
        c = CareContact
        return c, [
            col(c.city) == scope.city,
            col(c.contact_date) >= p.first,
            col(c.contact_date) <= p.last,
        ]
    if resource == "Referral":
        r = ReferralRow
        city = (
            select(col(Organisation.city))
            .where(col(Organisation.id) == col(r.from_org_id))
            .scalar_subquery()
        )
        return r, [city == scope.city, col(r.created_at) >= start, col(r.created_at) < end]
    if resource == "Inspection":
        i = Inspection
        return i, [
            col(i.city) == scope.city,
            col(i.occurred_at) >= start,
            col(i.occurred_at) < end,
        ]
    if resource == "Measure":
        m = Measure
        return m, [col(m.city) == scope.city, col(m.opened_at) >= start, col(m.opened_at) < end]
    if resource == "Certificate":
        c2 = Certificate
        city = (
            select(col(Premises.city))
            .where(col(Premises.id) == col(c2.premises_id))
            .scalar_subquery()
        )
        return c2, [
            city == scope.city,
            col(c2.decided_at) >= start,
            col(c2.decided_at) < end,
            col(c2.status).in_([s.value for s in DECISIONS]),
        ]
    if resource == "Report":
        rep = ReportRow
        return rep, [
            col(rep.city) == scope.city,
            col(rep.filed_at) >= start,
            col(rep.filed_at) < end,
        ]
    if resource == "Investigation":
        inv = Investigation
        city = (
            select(col(Organisation.city))
            .where(col(Organisation.id) == col(inv.police_org_id))
            .scalar_subquery()
        )
        return inv, [city == scope.city, col(inv.opened_at) >= start, col(inv.opened_at) < end]
    if resource == "SexWorker":
        # Registration live in the period: made before its end, and active on or after its
        # start (the last activity retention keeps; registration itself when none yet).
        w = SexWorker
        return w, [
            col(w.city) == scope.city,
            col(w.created_at) < end,
            func.coalesce(col(w.last_active_at), col(w.created_at)) >= start,
        ]
    raise KeyError(resource)


async def not_admitted(
    session: AsyncSession, scope: Scope, aggregates: Mapping[str, Aggregate], actor: Actor
) -> list[str]:
    """The resources with rows in the scope that the caller's aggregate `where` does not
    admit: one statement, the caller's token values bound as parameters."""
    variables = {"principal": actor.principal.variables(), "now": actor.now}
    parts = []
    for resource, agg in aggregates.items():
        model, conditions = in_scope(resource, scope)
        admitted = agg.where_filter(variables)
        # A NULL (unknown) comparison admits nothing: counted as not admitted.
        refused = case((admitted, 0), else_=1)
        parts.append(
            select(literal(resource), func.coalesce(func.sum(refused), 0))
            .select_from(model)
            .where(*conditions)
        )
    if not parts:
        return []
    stmt = parts[0] if len(parts) == 1 else union_all(*parts)
    rows = (await session.execute(stmt)).all()
    return [str(r) for r, n in rows if int(n or 0) > 0]


# --- counting: one GROUP BY statement per resource -------------------------------------


def _by(keys: type[K], rows: Iterable[tuple[Any, Any]]) -> dict[K, int]:
    """Counts for every key of a vocabulary, in its order (zero where no row came back)."""
    found = {str(k): int(v or 0) for k, v in rows}
    return {k: found.get(k.value, 0) for k in keys}


async def count_care(
    session: AsyncSession, scope: Scope
) -> tuple[dict[Branch, int], int, dict[CareKind, int]]:
    """Distinct client references per branch and overall; contacts per kind."""
    c = CareContact
    where = and_(*in_scope("CareContact", scope)[1])
    # ngo_id is a fixed-length id, so the concatenation is one (ngo, reference) pair.
    client = distinct(col(c.ngo_id) + ":" + col(c.client_ref))
    stmt = union_all(
        select(literal("branch"), col(c.branch), func.count(client))
        .where(where)
        .group_by(col(c.branch)),
        select(literal("all"), literal("", String), func.count(client)).where(where),
        select(literal("kind"), col(c.kind), func.count()).where(where).group_by(col(c.kind)),
    )
    rows = (await session.execute(stmt)).all()
    part: dict[str, list[tuple[Any, Any]]] = {"branch": [], "all": [], "kind": []}
    for dim, key, n in rows:
        part[dim].append((key, n))
    reached = int(part["all"][0][1]) if part["all"] else 0
    return _by(Branch, part["branch"]), reached, _by(CareKind, part["kind"])


@dataclass(frozen=True)
class InspectionCounts:
    by_branch: dict[Branch, int]
    hidden_forms: int
    arrests: dict[ArrestKind, int]
    premises_checked: dict[CheckTrigger, int]
    outcomes: dict[InspectionOutcome, int]


async def count_inspections(session: AsyncSession, scope: Scope) -> InspectionCounts:
    """Per branch: inspections, hidden forms, arrests, premises checked (pro/reactive),
    outcomes (none, warning, PV, RIR)."""
    i = Inspection
    on_premises = col(i.premises_id).is_not(None)
    outcomes = list(InspectionOutcome)
    stmt = (
        select(
            col(i.branch),
            func.count(),
            func.sum(case((col(i.hidden_form), 1), else_=0)),
            func.sum(col(i.administrative_arrests)),
            func.sum(col(i.judicial_arrests)),
            func.sum(case((and_(on_premises, col(i.proactive)), 1), else_=0)),
            func.sum(case((and_(on_premises, not_(col(i.proactive))), 1), else_=0)),
            *(func.sum(case((col(i.outcome) == o.value, 1), else_=0)) for o in outcomes),
        )
        .where(*in_scope("Inspection", scope)[1])
        .group_by(col(i.branch))
    )
    rows = (await session.execute(stmt)).all()
    # Sums over at most one row per branch: the groups, not the inspections.
    sums = [sum(int(r[j] or 0) for r in rows) for j in range(1, 7 + len(outcomes))]
    return InspectionCounts(
        by_branch=_by(Branch, ((r[0], r[1]) for r in rows)),
        hidden_forms=sums[1],
        arrests={ArrestKind.ADMINISTRATIVE: sums[2], ArrestKind.JUDICIAL: sums[3]},
        premises_checked={CheckTrigger.PROACTIVE: sums[4], CheckTrigger.REACTIVE: sums[5]},
        outcomes={o: sums[6 + n] for n, o in enumerate(outcomes)},
    )


async def count_measures(
    session: AsyncSession, scope: Scope
) -> tuple[dict[MeasureKind, int], dict[MeasureTargetKind, int]]:
    """Measures opened in the period, per kind; and fines per target kind."""
    m = Measure
    stmt = (
        select(col(m.kind), col(m.target_kind), func.count())
        .where(*in_scope("Measure", scope)[1])
        .group_by(col(m.kind), col(m.target_kind))
    )
    rows = (await session.execute(stmt)).all()
    by_kind: dict[str, int] = {}
    for kind, _, n in rows:
        by_kind[kind] = by_kind.get(kind, 0) + int(n or 0)
    fines = [(target, n) for kind, target, n in rows if kind == MeasureKind.FINE.value]
    return _by(MeasureKind, by_kind.items()), _by(MeasureTargetKind, fines)


async def count_investigations(session: AsyncSession, scope: Scope) -> int:
    """Judicial investigations opened in the period by police organisations of the city."""
    stmt = (
        select(func.count()).select_from(Investigation).where(*in_scope("Investigation", scope)[1])
    )
    return int((await session.execute(stmt)).scalar_one() or 0)


async def count_certificates(session: AsyncSession, scope: Scope) -> dict[CertificateStatus, int]:
    """Certificates whose (latest) decision falls in the period, per decided status."""
    c = Certificate
    stmt = (
        select(col(c.status), func.count())
        .where(*in_scope("Certificate", scope)[1])
        .group_by(col(c.status))
    )
    counts = _by(CertificateStatus, (await session.execute(stmt)).all())
    return {s: counts[s] for s in DECISIONS}


async def count_referrals(session: AsyncSession, scope: Scope) -> int:
    """Referrals made in the period by NGOs of the city."""
    stmt = select(func.count()).select_from(ReferralRow).where(*in_scope("Referral", scope)[1])
    return int((await session.execute(stmt)).scalar_one() or 0)


async def count_reports(session: AsyncSession, scope: Scope) -> dict[ReportCategory, int]:
    """Workers' reports filed in the period in the city, named and anonymous, per category."""
    r = ReportRow
    stmt = (
        select(col(r.category), func.count())
        .where(*in_scope("Report", scope)[1])
        .group_by(col(r.category))
    )
    return _by(ReportCategory, (await session.execute(stmt)).all())


async def count_genders(session: AsyncSession, scope: Scope) -> dict[GenderKey, int]:
    """Workers of the city whose registration was live in the period, per declared gender
    and not stated (NULL)."""
    w = SexWorker
    stmt = (
        select(col(w.gender), func.count())
        .where(*in_scope("SexWorker", scope)[1])
        .group_by(col(w.gender))
    )
    rows = [(g or GenderKey.NOT_STATED.value, n) for g, n in (await session.execute(stmt)).all()]
    return _by(GenderKey, rows)


# --- from counts to suppressed indicators ----------------------------------------------


async def care_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    by_branch, reached, by_kind = await count_care(session, scope)
    return {
        "sex_workers_reached": suppress_table(by_branch, min_cell, total=reached),
        "care_contacts": suppress_table(by_kind, min_cell),
    }


async def referral_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    return {"referrals": suppress_cell(await count_referrals(session, scope), min_cell)}


async def inspection_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    n = await count_inspections(session, scope)
    return {
        "inspections": suppress_table(n.by_branch, min_cell),
        "hidden_forms_controlled": suppress_cell(n.hidden_forms, min_cell),
        "arrests": suppress_table(n.arrests, min_cell),
        "premises_checked": suppress_table(n.premises_checked, min_cell),
        "inspection_outcomes": suppress_table(n.outcomes, min_cell),
    }


async def measure_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    by_kind, fines_by_target = await count_measures(session, scope)
    measures = suppress_table(by_kind, min_cell)
    # Fines are the table's own fine cell, suppressed as the table left it.
    fines = measures.cell(MeasureKind.FINE)
    return {
        "measures": measures,
        "fines": fines,
        "fines_by_target": split_cell(fines, fines_by_target, min_cell),
    }


def split_cell(cell: Cell, raw: Mapping[K, int], min_cell: int) -> Table[K]:
    """A published cell split into a table whose total is that cell: suppressed whole when
    the cell is (the split's total or cells would give it back), else suppressed as a
    table of its own (its total, the cell, is at least `min_cell` and stays published)."""
    if cell.suppressed:
        return Table(tuple((k, Cell(None)) for k in raw), Cell(None), min_cell)
    return suppress_table(raw, min_cell, total=cell.value)


async def investigation_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    opened = await count_investigations(session, scope)
    return {"judicial_investigations": suppress_cell(opened, min_cell)}


async def certificate_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    return {"certificates": suppress_table(await count_certificates(session, scope), min_cell)}


async def report_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    return {"reports": suppress_table(await count_reports(session, scope), min_cell)}


async def gender_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    return {"gender": suppress_table(await count_genders(session, scope), min_cell)}


Counter = Callable[[AsyncSession, Scope, int], Awaitable[dict[str, Indicator]]]
COUNTERS: dict[str, Counter] = {
    "CareContact": care_indicators,
    "Referral": referral_indicators,
    "Inspection": inspection_indicators,
    "Measure": measure_indicators,
    "Certificate": certificate_indicators,
    "Report": report_indicators,
    "Investigation": investigation_indicators,
    "SexWorker": gender_indicators,
}


# --- stored figures --------------------------------------------------------------------


def to_json(value: Indicator) -> dict[str, Any]:
    if isinstance(value, Cell):
        return {"value": value.value}
    return {
        "rows": [[k.value, c.value] for k, c in value.cells],
        "total": value.total.value,
        "min_cell": value.min_cell,
    }


def from_json(name: str, data: Mapping[str, Any]) -> Indicator:
    if "rows" not in data:
        return Cell(data["value"])
    keys = TABLE_KEYS[name]
    cells = tuple((keys(k), Cell(v)) for k, v in data["rows"])
    return Table(cells, Cell(data["total"]), int(data["min_cell"]))


def _cell_min(figures: Mapping[str, Any], name: str) -> int | None:
    """The threshold a stored single cell was suppressed under (stored beside it)."""
    value = figures.get(name)
    return int(value["min_cell"]) if value and "min_cell" in value else None


# --- publication -----------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    city: str
    period: Period
    figures: dict[str, dict[str, Any]]
    published_at: datetime


def _min_cells(policies: PolicySet) -> dict[str, int]:
    """Each resource's threshold: its aggregate's min_cell, never under the guardrail's."""
    out: dict[str, int] = {}
    for resource in dict.fromkeys(INDICATORS.values()):
        doc = policies.documents.get(resource)
        agg = doc.aggregate if doc is not None else None
        out[resource] = max(MIN_AGGREGATE_CELL, agg.min_cell if agg else MIN_AGGREGATE_CELL)
    return out


async def _stored(session: AsyncSession, city: str, period: Period) -> Published | None:
    p = PublishedReport
    row = (
        await session.execute(
            select(p).where(
                col(p.city) == city,
                col(p.period_first) == period.first,
                col(p.period_last) == period.last,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    return Published(city, period, dict(row.figures), row.published_at)


async def publish(
    db: Database, policies: PolicySet, city: str, period: Period, *, now: datetime
) -> tuple[Published, bool]:
    """The published report of `city` for the closed `period`: the stored one, or every
    indicator computed now and stored. Returns (report, whether it was published now).
    Callers check who may read it; this only refuses an open period."""
    if period.last >= now.astimezone(BELGIAN_TIME).date():
        raise ValueError(f"{period.label} is not closed yet")
    async with db.sessions() as session:
        found = await _stored(session, city, period)
        if found is not None:
            return found, False
        scope = Scope(city, period)
        limits = _min_cells(policies)
        figures: dict[str, dict[str, Any]] = {}
        for resource, counter in COUNTERS.items():
            for name, value in (await counter(session, scope, limits[resource])).items():
                figures[name] = to_json(value)
                if isinstance(value, Cell):
                    figures[name]["min_cell"] = limits[resource]
        row = PublishedReport(
            city=city, period_first=period.first, period_last=period.last,
            label=period.label, figures=figures, published_at=now,
        )  # fmt: skip
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # published by another request meanwhile: theirs stands
            await session.rollback()
            again = await _stored(session, city, period)
            if again is None:
                raise
            return again, False
        return Published(city, period, figures, now), True


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    city: str
    quarter: Period  # the period: a quarter or a year
    values: dict[str, Indicator]  # only the indicators returned
    withheld: frozenset[str]  # asked for, but the policy does not let the caller count them
    published_at: datetime | None = None

    @property
    def period(self) -> Period:
        return self.quarter


def _city(actor: Actor, city: str) -> str:
    try:
        return clean_text(city, max_len=MAX_CITY)
    except ValueError as error:
        raise actor.deny(
            "aggregate", AUDIT_RESOURCE, Code.BAD_USER_INPUT, f"city {error}"
        ) from None


def _authorize(actor: Actor) -> dict[str, Aggregate]:
    aggregates = aggregates_for(actor)
    if not aggregates:
        roles = ", ".join(sorted(actor.principal.roles))
        raise actor.deny(
            "aggregate",
            AUDIT_RESOURCE,
            Code.FORBIDDEN,
            f"no aggregate policy lets {roles} count for purpose {actor.purpose}",
        )
    return aggregates


def _period(actor: Actor, start: date, end: date) -> Period:
    today = actor.now.astimezone(BELGIAN_TIME).date()
    if not FIRST_DAY <= start <= today:
        raise actor.deny(
            "aggregate",
            AUDIT_RESOURCE,
            Code.BAD_USER_INPUT,
            f"indicators cover closed periods, from {FIRST_DAY.year} on",
        )
    period = exact_period(start, end)
    if period is None:
        raise actor.deny("aggregate", AUDIT_RESOURCE, Code.BAD_USER_INPUT, PERIOD_RULE)
    if period.last >= today:
        raise actor.deny(
            "aggregate",
            AUDIT_RESOURCE,
            Code.BAD_USER_INPUT,
            f"{period.label} is still open: indicators cover closed periods only, so that "
            f"records still arriving cannot be differenced out of two reports; "
            f"{period.label} can be asked for from {period.last + timedelta(days=1)}",
        )
    return period


_quarter = _period  # the name the quarter-only code used


async def indicators(
    *,
    db: Database,
    actor: Actor,
    city: str,
    start: date,
    end: date,
    wanted: Iterable[str] | None = None,
) -> Report:
    """The published, suppressed indicators of `city` for the closed quarter or year
    [start, end], published now if this is the first request for them.

    `wanted` names the indicators asked for (all when None); only those the policy allows
    are returned.
    """
    aggregates = _authorize(actor)
    period = _period(actor, start, end)
    scope = Scope(_city(actor, city), period)
    names = set(INDICATORS if wanted is None else wanted)
    asked = [n for n in INDICATORS if n in names]
    readable = [n for n in asked if INDICATORS[n] in aggregates]
    reading = {r: aggregates[r] for r in dict.fromkeys(INDICATORS[n] for n in readable)}
    async with db.sessions() as session:
        refused = await not_admitted(session, scope, reading, actor)
    if refused:
        raise actor.deny(
            "aggregate",
            AUDIT_RESOURCE,
            Code.FORBIDDEN,
            f"the aggregate policy does not let you count {', '.join(refused)} of "
            f"{scope.city}: only the rows its `where` admits (your own city)",
        )
    published, _ = await publish(db, actor.policies, scope.city, period, now=actor.now)
    values: dict[str, Indicator] = {}
    weaker: set[str] = set()
    for name in readable:
        stored = published.figures.get(name)
        if stored is None:
            weaker.add(name)
            continue
        value = from_json(name, stored)
        threshold = (
            value.min_cell if isinstance(value, Table) else _cell_min(published.figures, name)
        )
        if threshold is None or threshold < aggregates[INDICATORS[name]].min_cell:
            weaker.add(name)  # published under a weaker rule than today's: not shown
            continue
        values[name] = value
    actor.record("aggregate", AUDIT_RESOURCE, fields=list(values))
    withheld = frozenset(asked) - frozenset(values)
    return Report(scope.city, period, values, withheld, published.published_at)
