"""What the engine reads for each SLO and hands to the figures: its plan (the windows it needs) and its counts.

Both :mod:`sloengine.engine.reading` (which fills them from Prometheus) and
:mod:`sloengine.engine.figures` (which turns them into SLIs, budgets and burn rates)
use these types; they live here so neither module imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..model.calendars import next_period_start, period_start
from ..model.durations import format_duration
from ..model.results import Source
from ..model.slo import SLO, CalendarWindow

GroupKey = tuple[tuple[str, str], ...]


@dataclass
class Counts:
    """Bad and total events (or a ratio, for raw-ratio SLIs) per window label, for one SLO and group."""

    source: Source
    bad: dict[str, float] = field(default_factory=dict)
    total: dict[str, float] = field(default_factory=dict)
    ratio: dict[str, float] = field(default_factory=dict)
    #: Why these counts come from where they do, when that is worth saying (a raw fallback's reason).
    note: str = ""


@dataclass(frozen=True)
class Plan:
    """The windows one SLO needs: its budget window and every alert window (label → seconds)."""

    slo: SLO
    budget_window: str
    windows: tuple[tuple[str, float], ...]
    period: tuple[float, float] | None = None  # (start, end) of the calendar period containing ``at``


def plan(slo: SLO, at: float) -> Plan:
    seconds = {slo.window.nominal_seconds}
    for cond in slo.alerting.conditions:
        seconds |= {cond.long_seconds, cond.short_seconds}
    windows = [(format_duration(s), float(s)) for s in sorted(seconds)]
    if isinstance(slo.window, CalendarWindow):
        moment = datetime.fromtimestamp(at, tz=UTC)
        start = period_start(slo.window.unit, slo.window.timezone, moment)
        end = next_period_start(slo.window.unit, slo.window.timezone, start)
        windows.append((slo.window.unit.value, at - start.timestamp()))
        return Plan(slo, slo.window.unit.value, tuple(windows), (start.timestamp(), end.timestamp()))
    return Plan(slo, format_duration(slo.window.seconds), tuple(windows))
