"""Which instants of a period count for an agreement: support hours, holidays and exclusions.

An SLA usually promises its target only within support hours (say 08:00–18:00
on weekdays in Europe/Berlin, public holidays excepted) and excludes announced
maintenance. Both are wall-clock notions, so they are expanded day by day in
the agreement's time zone — a day is 23 or 25 hours long when the clocks
change — into UTC intervals. Excluded time is removed from good and total
events alike. Everything here is pure and exact: intervals are half-open
``(start, end]`` in Unix seconds, matching how events are attributed to the
sample that first shows them.

Support hours and exclusions are the model's :class:`~sloengine.model.slo.WeeklyHours`
and :class:`~sloengine.model.slo.MaintenanceWindow`, the same types (and spec
syntax) as an escalation policy's support hours and maintenance windows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from ..model.slo import ClockRange, MaintenanceWindow, WeeklyHours

Interval = tuple[float, float]


def _on(clock: ClockRange, day: date, tz: ZoneInfo) -> Interval:
    """A wall-clock range on one local day, in Unix seconds (24:00 is the next day's midnight)."""
    begin = datetime.combine(day, time(clock.start_minute // 60, clock.start_minute % 60), tzinfo=tz)
    finish = (datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz) if clock.end_minute == 1440
              else datetime.combine(day, time(clock.end_minute // 60, clock.end_minute % 60), tzinfo=tz))
    return begin.timestamp(), finish.timestamp()


def _days(start: float, end: float, tz: ZoneInfo) -> list[date]:
    first = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _weekly(hours: WeeklyHours, start: float, end: float) -> list[Interval]:
    tz = ZoneInfo(hours.timezone)
    weekdays, ranges, skip = hours.weekday_numbers, hours.ranges, frozenset(hours.holidays)
    out: list[Interval] = []
    for day in _days(start, end, tz):
        if day.weekday() in weekdays and day not in skip:
            out.extend(_on(r, day, tz) for r in ranges)
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


def support_intervals(hours: WeeklyHours, start: float, end: float) -> list[Interval]:
    if hours.always:
        return [(start, end)] if end > start else []
    return _weekly(hours, start, end)


def exclusion_intervals(exclusions: tuple[MaintenanceWindow, ...], start: float, end: float) -> list[Interval]:
    out: list[Interval] = []
    for window in exclusions:
        if window.hours is not None:
            out.extend(_weekly(window.hours, start, end))
        elif window.start is not None and window.end is not None:
            out.append((window.start.timestamp(), window.end.timestamp()))
    return clip(out, start, end)


def counted_intervals(hours: WeeklyHours, exclusions: tuple[MaintenanceWindow, ...], start: float,
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
