"""``sloengine recommend``: what each SLO actually achieved, period by period, and a target it would have met.

The ITIL review asks whether targets are still right. With a few months of
history there are only a handful of periods, so the suggestion is a low
percentile of what was achieved per period (the target the service would
have met in most of them), rounded down to a conventional number of nines,
and the report says which percentile over how many periods it used. A
target met in fewer than half the periods is flagged unrealistic; one whose
worst period still left three quarters of the budget unspent, too loose.
Counts are exact (raw samples, hour by hour), as in the SLA report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from ..engine.connection import Client, QueryError
from ..model import markdown
from ..model.calendars import next_period_start, period_start
from ..model.slo import SLO, CalendarWindow, Catalog, Commitment, RawSLI
from ..model.terminal import printable
from .sla import BUCKET_SECONDS, _tally

#: Conventional targets a suggestion is rounded down to.
GRID = (90.0, 95.0, 98.0, 99.0, 99.5, 99.9, 99.95, 99.99, 99.999)
#: Fewer window-sized periods than this and weeks are used instead (more, shorter periods).
MIN_PERIODS = 4
PERCENTILE = 10
LOOSE_BUDGET_USED = 0.25


class Verdict(enum.Enum):
    OK = "ok"
    UNREALISTIC = "unrealistic"
    TOO_LOOSE = "too_loose"
    NO_DATA = "no_data"
    ERROR = "error"


@dataclass(frozen=True)
class PeriodFigure:
    start: float
    end: float
    attained: float | None   # None: no events in the period
    total_events: float


@dataclass(frozen=True)
class Recommendation:
    slo: SLO
    verdict: Verdict
    periods: tuple[PeriodFigure, ...] = ()
    period_kind: str = ""           # "28d", "month", or "week" when windows were too few
    met_share: float | None = None  # share of periods meeting the current objective
    percentile: int = PERCENTILE
    suggested: float | None = None  # percent
    error: str = ""


def _window_periods(slo: SLO, since: float, at: float) -> tuple[list[tuple[float, float]], str]:
    if isinstance(slo.window, CalendarWindow):
        w = slo.window
        out = []
        start = period_start(w.unit, w.timezone, datetime.fromtimestamp(since, UTC))
        while True:
            end = next_period_start(w.unit, w.timezone, start)
            if end.timestamp() > at:
                break
            if start.timestamp() >= since:
                out.append((start.timestamp(), end.timestamp()))
            start = end
        return out, w.unit.value
    length = slo.window.seconds
    count = int((at - since) // length)
    return [(at - (i + 1) * length, at - i * length) for i in reversed(range(count))], slo.window.name


def _weeks(since: float, at: float) -> list[tuple[float, float]]:
    count = int((at - since) // (7 * 86400))
    return [(at - (i + 1) * 7 * 86400, at - i * 7 * 86400) for i in reversed(range(count))]


def suggest(attained: list[float], percentile: int = PERCENTILE) -> float:
    """The grid value at or below the ``percentile``-th percentile of attainments (percent)."""
    value = float(np.percentile(np.asarray(attained) * 100.0, percentile, method="lower"))
    below = [g for g in GRID if g <= value + 1e-9]
    return below[-1] if below else round(value, 3)


def recommend_slo(client: Client, slo: SLO, lookback: float, at: float) -> Recommendation:
    if isinstance(slo.sli, RawSLI):
        return Recommendation(slo, Verdict.ERROR, error="raw PromQL SLIs have no exact counts to review")
    since = at - lookback
    # Hourly buckets: calendar periods start at local midnight, so their buckets start on the hour.
    origin = since - since % BUCKET_SECONDS if isinstance(slo.window, CalendarWindow) else since
    try:
        tally = _tally(client, slo, Commitment(slo.service, slo.name, slo.objective), origin, at, at, [(origin, at)])
    except QueryError as exc:
        return Recommendation(slo, Verdict.ERROR, error=str(exc))
    periods, kind = _window_periods(slo, since, at)
    if len(periods) < MIN_PERIODS:
        periods, kind = _weeks(since, at), "week"
    hours = origin + BUCKET_SECONDS * np.arange(tally.buckets)   # bucket starts
    figures = []
    for p0, p1 in periods:
        inside = (hours >= p0 - 1e-6) & (hours < p1 - 1e-6)
        total = float(tally.total[inside].sum())
        good = float(tally.good[inside].sum())
        figures.append(PeriodFigure(p0, p1, good / total if total > 0 else None, total))
    attained = [f.attained for f in figures if f.attained is not None]
    if not attained:
        return Recommendation(slo, Verdict.NO_DATA, tuple(figures), kind)
    target = slo.objective / 100.0
    met = sum(1 for a in attained if a >= target - 1e-12) / len(attained)
    worst_budget_used = (1.0 - min(attained)) / slo.error_budget
    if met < 0.5:
        verdict = Verdict.UNREALISTIC
    elif worst_budget_used < LOOSE_BUDGET_USED:
        verdict = Verdict.TOO_LOOSE
    else:
        verdict = Verdict.OK
    return Recommendation(slo, verdict, tuple(figures), kind, met, PERCENTILE, suggest(attained))


def recommend(client: Client, catalog: Catalog, lookback: float, at: float) -> tuple[Recommendation, ...]:
    return tuple(recommend_slo(client, slo, lookback, at) for slo in catalog.slos)


def render_markdown(recs: tuple[Recommendation, ...]) -> str:
    lines = ["| SLO | objective | periods | met | achieved (worst … best) | suggested | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in recs:
        values = [p.attained for p in r.periods if p.attained is not None]
        achieved = (f"{min(values) * 100:.3f}% … {max(values) * 100:.3f}%" if values else "—")
        met = f"{r.met_share * 100:.0f}%" if r.met_share is not None else "—"
        suggested = (f"{r.suggested:g}% (p{r.percentile} of {len(values)} {r.period_kind}s)"
                     if r.suggested is not None else "—")
        verdict = r.verdict.value.replace("_", " ") + (f": {markdown.text(r.error)}" if r.error else "")
        lines.append(f"| {markdown.text(r.slo.id)} | {r.slo.objective:g}% | {len(r.periods)} × "
                     f"{r.period_kind or '—'} | {met} | {achieved} | {suggested} | {verdict} |")
    return printable("\n".join(lines), keep="\n") + "\n"


def document(recs: tuple[Recommendation, ...]) -> dict:
    return {"recommendations": [{
        "service": r.slo.service, "slo": r.slo.name, "objective": r.slo.objective, "verdict": r.verdict.value,
        "period_kind": r.period_kind, "met_share": r.met_share, "percentile": r.percentile,
        "suggested_objective": r.suggested, "error": r.error,
        "periods": [{"start": datetime.fromtimestamp(p.start, UTC).isoformat(),
                     "end": datetime.fromtimestamp(p.end, UTC).isoformat(),
                     "attained": p.attained, "total_events": p.total_events} for p in r.periods],
    } for r in recs]}
