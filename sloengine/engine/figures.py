"""Counts into figures: SLI, budgets, burn rates, time to exhaustion, status — for all SLOs at once.

Pure and vectorised: the engine hands over every SLO's counts, numpy does the
arithmetic over arrays (one row per SLO and group), and only the assembly of
result objects is a Python loop. ``NaN`` marks "no data" inside the arrays
and becomes ``None`` plus a status outside, so no missing value can leak out
as a number: the error budget is never zero (objectives are below 100%), so
no division can produce ±Inf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..compiler.status import CURRENT_BURN_WINDOW_SECONDS, PROJECTION_WINDOW_SECONDS, Inputs, evaluate, nearest
from ..model.durations import format_duration
from ..model.results import Period, SLOResult, Source
from ..model.slo import AlertSeverity, CalendarWindow
from .counts import Counts, GroupKey, Plan


def _none(value: float) -> float | None:
    """A figure for the report: None for what is not a number (no data, or counts that overflow)."""
    return float(value) if np.isfinite(value) else None


def alert_windows(p: Plan) -> tuple[str, ...]:
    seconds = sorted({s for cond in p.slo.alerting.conditions for s in (cond.long_seconds, cond.short_seconds)})
    return tuple(format_duration(s) for s in seconds)


def _nearest(p: Plan, target: float) -> str:
    rolling = {s: w for w, s in p.windows if w != p.budget_window or not isinstance(p.slo.window, CalendarWindow)}
    return rolling[nearest(rolling, target)]


def current_burn_window(p: Plan) -> str:
    pages = [cond.long_seconds for cond in p.slo.alerting.conditions if cond.severity is AlertSeverity.PAGE]
    if pages:
        return format_duration(min(pages))
    return _nearest(p, CURRENT_BURN_WINDOW_SECONDS)


def _error_ratio(counts: Counts, window: str) -> float:
    if counts.ratio:
        return counts.ratio.get(window, np.nan)
    total = counts.total.get(window, np.nan)
    bad = counts.bad.get(window, np.nan)
    return bad / total if total > 0 else np.nan


def compute(plans: Sequence[Plan], counts: Mapping[tuple[str, str], Mapping[GroupKey, Counts]],
            errors: Mapping[tuple[str, str], str], at: float) -> list[SLOResult]:
    rows: list[tuple[Plan, GroupKey, Counts | None, str]] = []
    for p in plans:
        key = (p.slo.service, p.slo.name)
        if key in errors:
            rows.append((p, (), None, errors[key]))
        elif not counts.get(key):
            rows.append((p, (), None, ""))
        else:
            rows.extend((p, group, counts[key][group], "") for group in sorted(counts[key]))
    if not rows:
        return []
    n = len(rows)
    windows = sorted({w for p, _, _, _ in rows for w in alert_windows(p)},
                     key=lambda w: next(s for p, _, _, _ in rows for x, s in p.windows if x == w))
    col = {w: i for i, w in enumerate(windows)}
    budget = np.array([p.slo.error_budget for p, _, _, _ in rows])
    err = np.full(n, np.nan)
    bad = np.full(n, np.nan)
    total = np.full(n, np.nan)
    err_w = np.full((n, len(windows)), np.nan)
    window_seconds = np.zeros(n)
    nominal_seconds = np.zeros(n)
    current = np.zeros(n, dtype=np.int64)
    for i, (p, _, cnt, _) in enumerate(rows):
        seconds = dict(p.windows)
        window_seconds[i] = seconds[p.budget_window]
        nominal_seconds[i] = (p.period[1] - p.period[0]) if p.period else seconds[p.budget_window]
        current[i] = col.get(current_burn_window(p), 0) if windows else 0
        if cnt is None:
            continue
        err[i] = _error_ratio(cnt, p.budget_window)
        if not cnt.ratio:
            bad[i] = cnt.bad.get(p.budget_window, np.nan)
            total[i] = cnt.total.get(p.budget_window, np.nan)
        for w in alert_windows(p):
            err_w[i, col[w]] = _error_ratio(cnt, w)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        # Counts can be anything Prometheus returns (extrapolated, denormal); a ratio that is not finite is
        # no data, not a figure.
        err = np.where(np.isfinite(err), err, np.nan)
        err_w = np.where(np.isfinite(err_w), err_w, np.nan)
        consumed = err / budget
        consumed_minutes = err * window_seconds / 60.0
        remaining = 1.0 - consumed
        burn = err_w / budget[:, None]
        burn_now = burn[np.arange(n), current] if windows else np.full(n, np.nan)
        tte = np.where(remaining <= 0, 0.0, np.where(burn_now > 0, remaining * nominal_seconds / burn_now, np.nan))
        tte = np.where(np.isnan(remaining) | ~np.isfinite(tte), np.nan, tte)
        consumed = np.where(np.isfinite(consumed), consumed, np.nan)
        remaining = np.where(np.isfinite(remaining), remaining, np.nan)
        burn = np.where(np.isfinite(burn), burn, np.nan)
        good = total - bad
        budget_events = budget * total
    results = []
    for i, (p, group, cnt, error) in enumerate(rows):
        slo = p.slo
        burning = _burning(p, cnt, burn[i], col) if cnt is not None else ()
        period = _period(p, cnt, at, budget[i]) if p.period else None
        status = evaluate(Inputs(
            failed=bool(error), has_sli=not np.isnan(err[i]), budget_remaining=float(remaining[i]),
            burning=bool(burning),
            projected_budget_remaining=period.projected_budget_remaining if period is not None else None))
        notes: tuple[str, ...] = ()
        if cnt is not None and cnt.source is Source.RAW:
            notes = (cnt.note or "no recorded series: counted exactly from the raw counters",)
        results.append(SLOResult(
            service=slo.service, slo=slo.name, objective=slo.objective, window=p.budget_window,
            window_seconds=float(window_seconds[i]), status=status, group=group,
            source=cnt.source if cnt is not None else None,
            sli=None if np.isnan(err[i]) else float(1.0 - err[i]),
            good_events=_none(good[i]), bad_events=_none(bad[i]), total_events=_none(total[i]),
            error_budget_events=_none(budget_events[i]),
            error_budget_minutes=float(budget[i] * nominal_seconds[i] / 60.0),
            consumed_minutes=_none(consumed_minutes[i]),
            budget_consumed=_none(consumed[i]), budget_remaining=_none(remaining[i]),
            burn_rates=tuple((w, _none(burn[i, col[w]])) for w in alert_windows(p)),
            burn_rate_window=current_burn_window(p) if windows else "",
            time_to_exhaustion_seconds=_none(tte[i]),
            burning=burning, period=period, error=error, notes=notes,
        ))
    return results


def _burning(p: Plan, cnt: Counts, burn_row: np.ndarray, col: Mapping[str, int]) -> tuple[str, ...]:
    """Alert conditions whose long and short windows both exceed the burn factor (as the alert rules test)."""
    out = []
    for cond in p.slo.alerting.conditions:
        long_w, short_w = format_duration(cond.long_seconds), format_duration(cond.short_seconds)
        long_b, short_b = burn_row[col[long_w]], burn_row[col[short_w]]
        enough = not cnt.total or cnt.total.get(long_w, 0.0) >= p.slo.alerting.min_events
        if enough and long_b > cond.burn_factor and short_b > cond.burn_factor:
            out.append(f"{cond.severity.value} {long_w}/{short_w}")
    return tuple(out)


def _period(p: Plan, cnt: Counts | None, at: float, budget: float) -> Period:
    """Where the calendar period stands, and where it ends if the last day's rates continue.

    The dashboards' status does the same arithmetic on the recorded series
    (:func:`sloengine.compiler.dashboards._projected_budget_remaining`); ``tests/test_status_agreement.py`` holds them
    to the same answer either side of zero.
    """
    assert p.period is not None
    start, end = p.period
    elapsed = max(at - start, 0.0)
    left = max(end - at, 0.0)
    projected_remaining = projected_sli = None
    if cnt is not None:
        recent = _nearest(p, PROJECTION_WINDOW_SECONDS)
        recent_seconds = dict(p.windows)[recent]
        if cnt.ratio:
            so_far, now = cnt.ratio.get(p.budget_window, np.nan), cnt.ratio.get(recent, np.nan)
            err = (so_far * elapsed + now * left) / (elapsed + left) if elapsed + left > 0 else np.nan
        else:
            bad = cnt.bad.get(p.budget_window, np.nan) + cnt.bad.get(recent, np.nan) / recent_seconds * left
            total = cnt.total.get(p.budget_window, np.nan) + cnt.total.get(recent, np.nan) / recent_seconds * left
            with np.errstate(all="ignore"):
                err = bad / total if total > 0 else np.nan
        if np.isfinite(err):
            projected_sli = float(1.0 - err)
            projected_remaining = float(1.0 - err / budget)
    return Period(start=start, end=end, elapsed_ratio=elapsed / (end - start) if end > start else 1.0,
                  projected_budget_remaining=projected_remaining, projected_sli=projected_sli)
