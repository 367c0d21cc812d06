"""The action plan's indicators per city and quarter, under statistical disclosure control.

Who may count. Each indicator counts one resource; the caller's roles and purpose must
match that resource's `aggregate` section in the policy (its `roles` and `purposes`), and
its `min_cell` is the threshold of every cell counted from it. An indicator whose resource
does not allow the caller is not computed (null, and named in `extensions.withheld`); if
no indicator is allowed the request is refused. Counting never passes through the row
rules and never returns a row: only counts leave, and the access log names the indicators
computed (`aggregate` on `Indicators`), never a value.

What is counted, for one city and one quarter (the city action plan's indicators):

| indicator | resource | count | city column |
|---|---|---|---|
| sex_workers_reached | CareContact | COUNT DISTINCT (ngo_id, client_ref), per branch | city |
| care_contacts | CareContact | contacts per kind (medical, psychosocial, ...) | city |
| referrals | Referral | referrals | the referring NGO's city |
| inspections | Inspection | inspections per branch | city |
| hidden_forms_controlled | Inspection | inspections with `hidden_form` | city |
| arrests | Inspection | administrative and judicial arrests (sums) | city |
| premises_checked | Inspection | inspections of a premises, proactive / reactive | city |
| measures | Measure | measures opened, per kind | city |
| fines | Measure | the `fine` cell of `measures` | city |
| certificates | Certificate | decided in the quarter: granted, suspended, revoked | premises.city |

Care contacts enter statistics only as counts of NGO-local client references: a person
seen by two NGOs counts twice, and nothing links a reference to a hub identity. Each
resource is counted by one GROUP BY statement (five at most per request, whatever the
data size); no row is fetched.

Disclosure control:

- Primary suppression: every cell under `min_cell`, zero included, is published as null
  and flagged `suppressed` (a zero says "nobody of this kind was here", which is what the
  threshold protects too).
- Secondary suppression of tables (cells plus their total): while the total is published
  and the suppressed cells could be recovered from it, the smallest published cell is
  suppressed too, and the total last. Recoverable means: exactly one suppressed cell, or
  suppressed cells whose sum is under `min_cell`, or (for a total that is not the sum of
  its cells, as distinct people per branch, where one person may be reached in several
  branches) a residual `total - sum(published cells)` between 1 and `min_cell - 1`, which
  would prove that a few people sit in the suppressed cells. A residual of zero or less
  proves nothing: the suppressed cells may hold people also counted elsewhere.
- A cell shown in two places (`fines` is the `fine` cell of `measures`) takes the state it
  has after its table's suppression, so one place cannot undo the other.
- Periods: only whole calendar quarters (from = the first day of a quarter, to = its last
  day) are accepted. Two accepted periods are therefore equal or disjoint, so no pair of
  reports differs by a few days whose small counts a subtraction would reveal. Instants are
  cut at midnight in Belgian time (Europe/Brussels); care-contact dates are local dates.
  Quarters that have not begun, or begin before 1970, are refused.

Known limits: the quarter in progress (and a past one, when records arrive late) is a
moving target, so two reports of the same quarter taken at different times can differ by
a few records; tables of one resource are suppressed one by one, not jointly (inspections
minus premises checked gives the inspections without a premises); a certificate counts by
its latest decision only (the table keeps no history).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, distinct, func, literal, not_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from hub.db import Database
from hub.errors import Code
from hub.models import CareContact, Certificate, Inspection, Measure, Organisation, Premises
from hub.models import Referral as ReferralRow
from hub.models.enums import Branch, CareKind, CertificateStatus, MeasureKind
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


# Indicator → the resource it counts, in the order of the report.
INDICATORS: dict[str, str] = {
    "sex_workers_reached": "CareContact",
    "care_contacts": "CareContact",
    "referrals": "Referral",
    "inspections": "Inspection",
    "hidden_forms_controlled": "Inspection",
    "arrests": "Inspection",
    "premises_checked": "Inspection",
    "measures": "Measure",
    "fines": "Measure",
    "certificates": "Certificate",
}
DECISIONS = (CertificateStatus.GRANTED, CertificateStatus.SUSPENDED, CertificateStatus.REVOKED)


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
class Quarter:
    year: int
    number: int  # 1..4
    first: date
    last: date

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.number}"

    def instants(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC: midnight in Belgium on the first day and after the last."""
        start = datetime.combine(self.first, time(0), tzinfo=BELGIAN_TIME)
        end = datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=BELGIAN_TIME)
        return start.astimezone(UTC), end.astimezone(UTC)


def quarter_of(day: date) -> Quarter:
    number = (day.month - 1) // 3 + 1
    first = date(day.year, 3 * number - 2, 1)
    after = date(day.year + 1, 1, 1) if number == 4 else date(day.year, 3 * number + 1, 1)
    return Quarter(day.year, number, first, after - timedelta(days=1))


def exact_quarter(start: date, end: date) -> Quarter | None:
    """The quarter [start, end] is exactly, or None."""
    q = quarter_of(start)
    return q if (q.first, q.last) == (start, end) else None


PERIOD_RULE = (
    "indicators cover exactly one calendar quarter: from = its first day and to = its last "
    "day (e.g. 2026-10-01 to 2026-12-31). Shifted or overlapping periods are refused "
    "because the difference between two reports would reveal the small counts that "
    "suppression hides."
)


# --- who may count ---------------------------------------------------------------------


def allowed_resources(actor: Actor) -> dict[str, int]:
    """Resource → min_cell, for the resources whose `aggregate` admits the caller."""
    purpose = actor.purpose
    roles = actor.principal.roles
    out: dict[str, int] = {}
    for resource in dict.fromkeys(INDICATORS.values()):
        doc = actor.policies.documents.get(resource)
        agg = doc.aggregate if doc is not None else None
        if agg is not None and agg.roles & roles and purpose in agg.purposes:
            out[resource] = agg.min_cell
    return out


# --- counting: one GROUP BY statement per resource -------------------------------------


@dataclass(frozen=True)
class Scope:
    city: str
    quarter: Quarter

    @property
    def instants(self) -> tuple[datetime, datetime]:
        return self.quarter.instants()


def _by(keys: type[K], rows: Iterable[tuple[Any, Any]]) -> dict[K, int]:
    """Counts for every key of a vocabulary, in its order (zero where no row came back)."""
    found = {str(k): int(v or 0) for k, v in rows}
    return {k: found.get(k.value, 0) for k in keys}


async def count_care(
    session: AsyncSession, scope: Scope
) -> tuple[dict[Branch, int], int, dict[CareKind, int]]:
    """Distinct client references per branch and overall; contacts per kind."""
    c = CareContact
    where = and_(
        col(c.city) == scope.city,
        col(c.contact_date) >= scope.quarter.first,
        col(c.contact_date) <= scope.quarter.last,
    )
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


async def count_inspections(session: AsyncSession, scope: Scope) -> InspectionCounts:
    """Per branch: inspections, hidden forms, arrests, premises checked (pro/reactive)."""
    i = Inspection
    start, end = scope.instants
    on_premises = col(i.premises_id).is_not(None)
    stmt = (
        select(
            col(i.branch),
            func.count(),
            func.sum(case((col(i.hidden_form), 1), else_=0)),
            func.sum(col(i.administrative_arrests)),
            func.sum(col(i.judicial_arrests)),
            func.sum(case((and_(on_premises, col(i.proactive)), 1), else_=0)),
            func.sum(case((and_(on_premises, not_(col(i.proactive))), 1), else_=0)),
        )
        .where(col(i.city) == scope.city, col(i.occurred_at) >= start, col(i.occurred_at) < end)
        .group_by(col(i.branch))
    )
    rows = (await session.execute(stmt)).all()
    # Sums over at most one row per branch: the groups, not the inspections.
    sums = [sum(int(r[j] or 0) for r in rows) for j in range(1, 7)]
    return InspectionCounts(
        by_branch=_by(Branch, ((r[0], r[1]) for r in rows)),
        hidden_forms=sums[1],
        arrests={ArrestKind.ADMINISTRATIVE: sums[2], ArrestKind.JUDICIAL: sums[3]},
        premises_checked={CheckTrigger.PROACTIVE: sums[4], CheckTrigger.REACTIVE: sums[5]},
    )


async def count_measures(session: AsyncSession, scope: Scope) -> dict[MeasureKind, int]:
    """Measures opened in the quarter, per kind."""
    m = Measure
    start, end = scope.instants
    stmt = (
        select(col(m.kind), func.count())
        .where(col(m.city) == scope.city, col(m.opened_at) >= start, col(m.opened_at) < end)
        .group_by(col(m.kind))
    )
    return _by(MeasureKind, (await session.execute(stmt)).all())


async def count_certificates(session: AsyncSession, scope: Scope) -> dict[CertificateStatus, int]:
    """Certificates whose (latest) decision falls in the quarter, per decided status."""
    c = Certificate
    start, end = scope.instants
    stmt = (
        select(col(c.status), func.count())
        .join(Premises, col(Premises.id) == col(c.premises_id))
        .where(
            col(Premises.city) == scope.city,
            col(c.decided_at) >= start,
            col(c.decided_at) < end,
            col(c.status).in_([s.value for s in DECISIONS]),
        )
        .group_by(col(c.status))
    )
    counts = _by(CertificateStatus, (await session.execute(stmt)).all())
    return {s: counts[s] for s in DECISIONS}


async def count_referrals(session: AsyncSession, scope: Scope) -> int:
    """Referrals made in the quarter by NGOs of the city."""
    r = ReferralRow
    start, end = scope.instants
    stmt = (
        select(func.count())
        .select_from(r)
        .join(Organisation, col(Organisation.id) == col(r.from_org_id))
        .where(
            col(Organisation.city) == scope.city,
            col(r.created_at) >= start,
            col(r.created_at) < end,
        )
    )
    return int((await session.execute(stmt)).scalar_one() or 0)


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
    }


async def measure_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    measures = suppress_table(await count_measures(session, scope), min_cell)
    # Fines are the table's own fine cell, suppressed as the table left it.
    return {"measures": measures, "fines": measures.cell(MeasureKind.FINE)}


async def certificate_indicators(
    session: AsyncSession, scope: Scope, min_cell: int
) -> dict[str, Indicator]:
    return {"certificates": suppress_table(await count_certificates(session, scope), min_cell)}


Counter = Callable[[AsyncSession, Scope, int], Awaitable[dict[str, Indicator]]]
COUNTERS: dict[str, Counter] = {
    "CareContact": care_indicators,
    "Referral": referral_indicators,
    "Inspection": inspection_indicators,
    "Measure": measure_indicators,
    "Certificate": certificate_indicators,
}


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    city: str
    quarter: Quarter
    values: dict[str, Indicator]  # only the indicators computed
    withheld: frozenset[str]  # asked for, but the policy does not let the caller count them


def _city(actor: Actor, city: str) -> str:
    try:
        return clean_text(city, max_len=MAX_CITY)
    except ValueError as error:
        raise actor.deny(
            "aggregate", AUDIT_RESOURCE, Code.BAD_USER_INPUT, f"city {error}"
        ) from None


def _authorize(actor: Actor) -> dict[str, int]:
    limits = allowed_resources(actor)
    if not limits:
        roles = ", ".join(sorted(actor.principal.roles))
        raise actor.deny(
            "aggregate",
            AUDIT_RESOURCE,
            Code.FORBIDDEN,
            f"no aggregate policy lets {roles} count for purpose {actor.purpose}",
        )
    return limits


def _quarter(actor: Actor, start: date, end: date) -> Quarter:
    today = actor.now.astimezone(BELGIAN_TIME).date()
    if not FIRST_DAY <= start <= today:
        raise actor.deny(
            "aggregate",
            AUDIT_RESOURCE,
            Code.BAD_USER_INPUT,
            f"indicators cover quarters that have begun, from {FIRST_DAY.year} on",
        )
    quarter = exact_quarter(start, end)
    if quarter is None:
        raise actor.deny("aggregate", AUDIT_RESOURCE, Code.BAD_USER_INPUT, PERIOD_RULE)
    return quarter


async def indicators(
    *,
    db: Database,
    actor: Actor,
    city: str,
    start: date,
    end: date,
    wanted: Iterable[str] | None = None,
) -> Report:
    """The suppressed indicators of `city` for the quarter [start, end].

    `wanted` names the indicators asked for (all when None); only those the policy allows
    are computed, with one statement per resource they count.
    """
    limits = _authorize(actor)
    quarter = _quarter(actor, start, end)
    scope = Scope(_city(actor, city), quarter)
    names = set(INDICATORS if wanted is None else wanted)
    asked = [n for n in INDICATORS if n in names]
    computable = [n for n in asked if INDICATORS[n] in limits]
    values: dict[str, Indicator] = {}
    async with db.sessions() as session:
        for resource in dict.fromkeys(INDICATORS[n] for n in computable):
            found = await COUNTERS[resource](session, scope, limits[resource])
            values.update((n, v) for n, v in found.items() if n in computable)
    actor.record("aggregate", AUDIT_RESOURCE, fields=list(values))
    return Report(scope.city, quarter, values, frozenset(asked) - frozenset(computable))
