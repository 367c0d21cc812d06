"""Published statistics: a city's indicators for one closed period, frozen when published.

A report is computed once, when first asked for (or by `hub statistics publish`), and its
suppressed figures are kept here; every later request returns the same figures, even when
records of the period arrive late, so two reports of one period can never be subtracted
(hub/services/statistics.py). Only suppressed figures are stored, never a raw small count.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from hub.models.base import UTCDateTime, new_id, utcnow


class PublishedReport(SQLModel, table=True):
    __tablename__ = "published_report"
    __table_args__ = (UniqueConstraint("city", "period_first", "period_last"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    city: str = Field(max_length=80)
    period_first: date
    period_last: date
    label: str = Field(max_length=10)  # 2026-Q3, or 2026 for a year
    # Indicator → {"value": n|null} or {"rows": [[key, n|null], ...], "total": n|null,
    # "min_cell": n}, every figure already suppressed.
    figures: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    published_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
