"""Budget periods: calendar month or day (UTC), or ``period_days`` windows anchored at the epoch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiguillage.config import Budget

__all__ = ["Period", "period_of"]

DAY = 86400


@dataclass(frozen=True, slots=True)
class Period:
    start: float  # epoch seconds, inclusive
    end: float  # epoch seconds, exclusive
    tag: str  # stable name of this period, part of the counter key

    def iso_end(self) -> str:
        return datetime.fromtimestamp(self.end, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_of(budget: Budget, now: float) -> Period:
    if budget.period == "daily":
        start = now // DAY * DAY
        return Period(start, start + DAY, "d" + datetime.fromtimestamp(start, UTC).strftime("%Y%m%d"))
    if budget.period == "custom":
        days = budget.period_days or 30
        length = days * DAY
        index = int(now // length)
        return Period(float(index * length), float((index + 1) * length), f"c{days}-{index}")
    t = datetime.fromtimestamp(now, UTC)
    first = datetime(t.year, t.month, 1, tzinfo=UTC)
    after = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
    return Period(first.timestamp(), after.timestamp(), "m" + first.strftime("%Y%m"))
