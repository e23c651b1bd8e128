"""Which instants of a period count for an agreement: support hours, holidays and exclusions.

An SLA usually promises its target only within support hours (say 08:00–18:00
on weekdays in Europe/Berlin, public holidays excepted) and excludes announced
maintenance. Both are wall-clock notions, so they are expanded day by day in
the agreement's time zone — a day is 23 or 25 hours long when the clocks
change — into UTC intervals. Excluded time is removed from good and total
events alike. Everything here is pure and exact: intervals are half-open
``(start, end]`` in Unix seconds, matching how events are attributed to the
sample that first shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

Interval = tuple[float, float]

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class TimeRange:
    """A wall-clock range within a day; ``end`` of ``None`` means midnight at the end of the day."""

    start: time
    end: time | None

    def on(self, day: date, tz: ZoneInfo) -> Interval:
        begin = datetime.combine(day, self.start, tzinfo=tz)
        finish = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) if self.end is None
                  else datetime.combine(day, self.end, tzinfo=tz))
        return begin.timestamp(), finish.timestamp()


ALL_DAY = TimeRange(time(0), None)


@dataclass(frozen=True)
class SupportHours:
    """When the agreement's target applies. The default is around the clock, every day."""

    timezone: str = "UTC"
    weekdays: frozenset[int] = frozenset(range(7))   # 0 = Monday
    times: tuple[TimeRange, ...] = (ALL_DAY,)
    holidays: tuple[date, ...] = ()

    @property
    def always(self) -> bool:
        return self.weekdays == frozenset(range(7)) and self.times == (ALL_DAY,) and not self.holidays


@dataclass(frozen=True)
class Exclusion:
    """Time removed from the agreement: one-off (``start``/``end``) or weekly (``weekdays`` + ``times``)."""

    name: str
    start: datetime | None = None
    end: datetime | None = None
    weekdays: frozenset[int] = field(default_factory=frozenset)
    times: tuple[TimeRange, ...] = ()
    timezone: str = "UTC"


def _days(start: float, end: float, tz: ZoneInfo) -> list[date]:
    first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _weekly(start: float, end: float, tz_name: str, weekdays: frozenset[int], times: tuple[TimeRange, ...],
            skip: frozenset[date] = frozenset()) -> list[Interval]:
    tz = ZoneInfo(tz_name)
    out = []
    for day in _days(start, end, tz):
        if day.weekday() in weekdays and day not in skip:
            out.extend(r.on(day, tz) for r in times)
    return clip(out, start, end)


def normalise(intervals: list[Interval]) -> list[Interval]:
    """Sorted, merged, non-empty."""
    merged: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def clip(intervals: list[Interval], start: float, end: float) -> list[Interval]:
    return normalise([(max(a, start), min(b, end)) for a, b in intervals])


def subtract(base: list[Interval], holes: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    holes = normalise(holes)
    for a, b in normalise(base):
        cursor = a
        for h0, h1 in holes:
            if h1 <= cursor or h0 >= b:
                continue
            if h0 > cursor:
                out.append((cursor, h0))
            cursor = max(cursor, h1)
        if cursor < b:
            out.append((cursor, b))
    return out


def support_intervals(hours: SupportHours, start: float, end: float) -> list[Interval]:
    if hours.always:
        return [(start, end)] if end > start else []
    return _weekly(start, end, hours.timezone, hours.weekdays, hours.times, frozenset(hours.holidays))


def exclusion_intervals(exclusions: tuple[Exclusion, ...], start: float, end: float) -> list[Interval]:
    out: list[Interval] = []
    for ex in exclusions:
        if ex.start is not None and ex.end is not None:
            out.append((ex.start.timestamp(), ex.end.timestamp()))
        if ex.weekdays and ex.times:
            out.extend(_weekly(start, end, ex.timezone, ex.weekdays, ex.times))
    return clip(out, start, end)


def counted_intervals(hours: SupportHours, exclusions: tuple[Exclusion, ...], start: float,
                      end: float) -> list[Interval]:
    """The instants of ``(start, end]`` that count: within support hours and not excluded."""
    return subtract(support_intervals(hours, start, end), exclusion_intervals(exclusions, start, end))


def seconds_in(intervals: list[Interval]) -> float:
    return float(sum(b - a for a, b in intervals))


def sum_in(times: np.ndarray, increments: np.ndarray, intervals: list[Interval]) -> float:
    """Sum of ``increments`` whose time lies in any ``(a, b]`` — exact, via one cumulative sum."""
    if not intervals or len(times) == 0:
        return 0.0
    cumulative = np.concatenate(([0.0], np.cumsum(increments, dtype=np.float64)))
    bounds = np.asarray(intervals, dtype=np.float64)
    upper = np.searchsorted(times, bounds[:, 1], side="right")
    lower = np.searchsorted(times, bounds[:, 0], side="right")
    return float(np.sum(cumulative[upper] - cumulative[lower]))


def mask_in(times: np.ndarray, intervals: list[Interval]) -> np.ndarray:
    """Which ``times`` fall in any ``(a, b]``."""
    mask = np.zeros(len(times), dtype=bool)
    for a, b in intervals:
        mask |= (times > a) & (times <= b)
    return mask
