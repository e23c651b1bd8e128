"""One SLO over a time range the user picks: its figures from the latest evaluation, and charts from Prometheus
range queries of the recorded series (SLI against the objective, error budget burn-down with the ideal line,
burn rate per alert condition against its threshold, events), the alert conditions with their state and the
escalation level reached.

A query that fails is shown as failed, with its message; a series that is absent is shown as "no data": the
charts never fill a gap with a number. The range ends at the evaluation's instant unless ``end`` says
otherwise, so a page is the same for the same report and the same Prometheus data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...compiler.rules import series, slo_window_names, window_name
from ...engine.connection import QueryError
from ...model import conventions as c
from ...model.calendars import next_period_start, period_start
from ...model.results import Report, SLOResult
from ...model.slo import SLO, CalendarWindow, Catalog, RollingWindow
from .markup import (
    UNKNOWN,
    count,
    esc,
    href,
    iso,
    page,
    percent,
    ratio,
    script_json,
    table,
)
from .slo_list import DETAIL_PATH, RangeClient, alert_text, row, teams

#: Time ranges offered, by name; the default is the first.
RANGES: dict[str, int] = {"1d": 86400, "6h": 6 * 3600, "1h": 3600, "7d": 7 * 86400, "30d": 30 * 86400}
#: Points per chart at most: the step is the range over this, rounded up to a multiple of STEP_SECONDS.
POINTS = 240
#: The finest step, the recording rules' evaluation interval in the fast group (so every point is a new value).
STEP_SECONDS = 15.0
ALERTS = "ALERTS"
FIRING = "firing"
#: Labels that identify an SLO's series and so say nothing in a legend.
_PLAIN = frozenset({"__name__", c.LABEL_SERVICE, c.LABEL_SLO, c.LABEL_WINDOW_SOURCE})


@dataclass(frozen=True)
class TimeRange:
    name: str
    start: float
    end: float
    step: float

    @classmethod
    def parse(cls, params: Mapping[str, str], default_end: float) -> TimeRange:
        name = params.get("range", "")
        if name not in RANGES:
            name = next(iter(RANGES))
        end = default_end
        text = params.get("end", "")
        if text.isdigit() and 0 < int(text) < 10**11:
            end = float(text)
        seconds = RANGES[name]
        step = max(STEP_SECONDS, math.ceil(seconds / POINTS / STEP_SECONDS) * STEP_SECONDS)
        end = math.floor(end / step) * step
        return cls(name, end - seconds, end, step)

    @property
    def times(self) -> list[float]:
        n = int(round((self.end - self.start) / self.step))
        return [self.start + i * self.step for i in range(n + 1)]


@dataclass(frozen=True)
class Line:
    label: str
    values: tuple[float | None, ...]

    @property
    def last(self) -> float | None:
        return next((v for v in reversed(self.values) if v is not None), None)


@dataclass(frozen=True)
class Chart:
    """One chart's lines on the range's grid, or why there are none (``error``)."""

    key: str
    title: str
    times: tuple[float, ...]
    lines: tuple[Line, ...] = ()
    thresholds: tuple[tuple[str, float], ...] = ()
    error: str = ""
    percent: bool = False

    @property
    def has_data(self) -> bool:
        return any(v is not None for line in self.lines for v in line.values)


def _legend(labels: Mapping[str, str], keep: Sequence[str] = ()) -> str:
    parts = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in _PLAIN and (not keep or k in keep)]
    return ", ".join(parts)


def _lines(matrix: list[dict], times: list[float], name: Callable[[Mapping[str, str]], str],
           transform: Callable[[float], float] = lambda v: v) -> tuple[Line, ...]:
    index = {t: i for i, t in enumerate(times)}
    lines = []
    for item in matrix:
        values: list[float | None] = [None] * len(times)
        for at, value in item["values"]:
            i = index.get(float(at))
            if i is not None and math.isfinite(float(value)):
                values[i] = round(transform(float(value)), 12)
        lines.append(Line(name(item["metric"]), tuple(values)))
    return tuple(sorted(lines, key=lambda line: line.label))


def _fetch(client: RangeClient, expr: str, span: TimeRange) -> tuple[list[dict], str]:
    try:
        return client.query_range(expr, span.start, span.end, span.step), ""
    except QueryError as exc:
        return [], str(exc)


def _window_of(slo: SLO, results: Sequence[SLOResult]) -> str:
    """The window whose budget the report computes (the first result's), else the spec's first."""
    return results[0].window if results else slo_window_names(slo)[0]


def _window_seconds(slo: SLO) -> float:
    return float(slo.window.seconds if isinstance(slo.window, RollingWindow) else slo.window.nominal_seconds)


def _ideal(slo: SLO, lines: tuple[Line, ...], times: list[float]) -> tuple[Line, ...]:
    """The burn-down's ideal line: the budget left when spending at exactly burn rate 1.

    A calendar window's budget is whole at the period's start and spent at its end, so the ideal falls from
    100% to 0 over each period in the range (starting again at the next). A rolling window has no start: the
    line falls from the first value in the range at one window's budget per window.
    """
    if isinstance(slo.window, CalendarWindow):
        unit, tz = slo.window.unit, slo.window.timezone
        values = []
        for t in times:
            began = period_start(unit, tz, datetime.fromtimestamp(t, UTC))
            ends = next_period_start(unit, tz, began).timestamp()
            values.append(round(1.0 - (t - began.timestamp()) / (ends - began.timestamp()), 12))
        return (Line("ideal (burn rate 1)", tuple(values)),)
    start = next(((i, v) for line in lines for i, v in enumerate(line.values) if v is not None), None)
    if start is None:
        return ()
    first_index, first = start
    per_second = 1.0 / _window_seconds(slo)
    return (Line("ideal (burn rate 1)", tuple(
        None if i < first_index else round(first - (t - times[first_index]) * per_second, 12)
        for i, t in enumerate(times))),)


def charts(client: RangeClient, slo: SLO, results: Sequence[SLOResult], span: TimeRange) -> tuple[Chart, ...]:
    times = span.times
    grid = tuple(times)
    window = _window_of(slo, results)
    out: list[Chart] = []

    matrix, error = _fetch(client, f"1 - {series(c.METRIC_ERROR_RATIO, slo, window)}", span)
    out.append(Chart("sli", f"SLI over {window} against the objective", grid, _lines(
        matrix, times, lambda m: "SLI " + (_legend(m, [k for k in m if k != c.LABEL_WINDOW]) or window)),
        ((f"objective {slo.objective:g}%", slo.target),), error, percent=True))

    matrix, error = _fetch(client, series(c.METRIC_BUDGET_REMAINING, slo, window), span)
    lines = _lines(matrix, times, lambda m: "budget left " + (_legend(m, [k for k in m if k != c.LABEL_WINDOW])
                                                                or window))
    lines += _ideal(slo, lines, times)
    out.append(Chart("budget", f"Error budget left over {window} (burn-down)", grid, lines, (("budget spent", 0.0),),
                     error, percent=True))

    matrix, error = _fetch(client, series(c.METRIC_BURN_RATE, slo), span)
    by_window: dict[str, list[dict]] = {}
    for item in matrix:
        by_window.setdefault(item["metric"].get(c.LABEL_WINDOW, ""), []).append(item)
    for condition in slo.alerting.conditions if slo.alerting.enabled else ():
        long_w, short_w = (window_name(condition.long_seconds), window_name(condition.short_seconds))
        picked = by_window.get(long_w, []) + by_window.get(short_w, [])
        out.append(Chart(f"burn-{condition.severity.value}-{condition.name}",
                         f"Burn rate, {condition.severity.value} {condition.name} (threshold "
                         f"{condition.burn_factor:g}×)", grid,
                         _lines(picked, times, lambda m: "burn " + (_legend(m) or "")),
                         ((f"threshold {condition.burn_factor:g}×", condition.burn_factor),), error))

    bad, error_bad = _fetch(client, series(c.METRIC_BAD, slo, window), span)
    total, error_total = _fetch(client, series(c.METRIC_TOTAL, slo, window), span)
    out.append(Chart("events", f"Events over {window}", grid,
                     _lines(total, times, lambda m: "total " + _legend(m, [k for k in m if k != c.LABEL_WINDOW]))
                     + _lines(bad, times, lambda m: "bad " + _legend(m, [k for k in m if k != c.LABEL_WINDOW])),
                     (), error_total or error_bad))
    return tuple(out)


@dataclass(frozen=True)
class AlertState:
    """The SLO's alerts at the range's end and over it: (alert labels, state) pairs and the escalation level."""

    now: tuple[tuple[tuple[tuple[str, str], ...], str], ...] = ()
    level_now: str = ""
    level_reached: str = ""
    error: str = ""


def alert_state(client: RangeClient, slo: SLO, span: TimeRange) -> AlertState:
    matrix, error = _fetch(client, series(ALERTS, slo), span)
    if error:
        return AlertState(error=error)
    now = []
    levels_now, levels_seen = set(), set()
    for item in matrix:
        labels = item["metric"]
        values = item["values"]
        at_end = len(values) and float(values[-1][0]) == span.end
        level = labels.get(c.LABEL_ESCALATION_LEVEL, "")
        if labels.get("alertstate") == FIRING and level:
            levels_seen.add(level)
            if at_end:
                levels_now.add(level)
        if at_end:
            now.append((tuple(sorted((k, v) for k, v in labels.items() if k != "__name__")),
                        labels.get("alertstate", "")))
    order = {level: i for i, level in enumerate(c.ESCALATION_LEVELS)}
    return AlertState(tuple(sorted(now)), max(levels_now, key=lambda v: (order.get(v, -1), v), default=""),
                      max(levels_seen, key=lambda v: (order.get(v, -1), v), default=""))


def _condition_rows(slo: SLO, results: Sequence[SLOResult], alerts: AlertState) -> list[list[str]]:
    rows = []
    burns = dict(results[0].burn_rates) if results else {}
    for condition in slo.alerting.conditions if slo.alerting.enabled else ():
        long_w, short_w = window_name(condition.long_seconds), window_name(condition.short_seconds)
        states = sorted({state for labels, state in alerts.now
                         if dict(labels).get(c.LABEL_LONG_WINDOW) == long_w
                         and dict(labels).get(c.LABEL_SHORT_WINDOW) == short_w})
        state = ("query failed" if alerts.error else ", ".join(states) or "inactive")
        burning = any(b.endswith(f"{long_w}/{short_w}") for r in results for b in r.burning)
        rows.append([esc(condition.severity.value), esc(f"{long_w} and {short_w}"),
                     esc(f"{condition.burn_factor:g}×"), esc(f"{condition.budget_percent:g}%"),
                     esc(ratio(burns.get(long_w))), esc(ratio(burns.get(short_w))),
                     esc("yes" if burning else "no"), f'<span data-state="{esc(state)}">{esc(state)}</span>'])
    return rows


def chart_html(chart: Chart) -> str:
    title = f"<h2>{esc(chart.title)}</h2>"
    if chart.error:
        return title + f'<p class="nodata" data-chart-error="{esc(chart.key)}">query failed: {esc(chart.error)}</p>'
    if not chart.has_data:
        return title + f'<p class="nodata" data-chart-empty="{esc(chart.key)}">{UNKNOWN} in this range</p>'
    show = percent if chart.percent else (lambda v: ratio(v) if chart.key.startswith("burn") else count(v))
    latest = "".join(f"<li>{esc(line.label)}: {esc(show(line.last))}</li>" for line in chart.lines)
    return (title + f'<div class="chart" id="chart-{esc(chart.key)}" data-chart="data-{esc(chart.key)}"></div>'
            f'<script type="application/json" id="data-{esc(chart.key)}">{script_json(_spec(chart))}</script>'
            f'<ul class="latest">{latest}</ul>')


def _spec(chart: Chart) -> dict[str, Any]:
    return {"key": chart.key, "percent": chart.percent, "times": list(chart.times),
            "series": [{"label": line.label, "values": list(line.values)} for line in chart.lines],
            "thresholds": [{"label": label, "value": value} for label, value in chart.thresholds]}


def render_detail(report: Report, catalog: Catalog, slo: SLO, client: RangeClient, span: TimeRange, *,
                  banner: str = "") -> str:
    results = [r for r in report.results if r.service == slo.service and r.slo == slo.name]
    team = teams(catalog).get(slo.service, "")
    drawn = charts(client, slo, results, span)
    alerts = alert_state(client, slo, span)
    ranges = " ".join(
        f'<a href="{href(DETAIL_PATH, {"service": slo.service, "slo": slo.name, "range": name})}"'
        f'{" class=chosen" if name == span.name else ""}>{esc(name)}</a>' for name in RANGES)
    facts = (f'<dl class="facts"><dt>objective</dt><dd>{esc(f"{slo.objective:g}%")} over {esc(slo.window.name)}'
             f'</dd><dt>team</dt><dd>{esc(team or "—")}</dd><dt>SLI</dt><dd>{esc(type(slo.sli).__name__)}</dd>'
             f'<dt>evaluated at</dt><dd>{esc(iso(report.at))}</dd>'
             f'<dt>escalation level</dt><dd data-escalation>{esc(_level(alerts))}</dd>'
             + (f'<dt>description</dt><dd>{esc(slo.description)}</dd>' if slo.description else "") + "</dl>")
    head = ["SLO", "team", "status", "objective", "window", "SLI", "budget left", "burn now",
            "alert conditions burning", "alerts firing", "events"]
    firing = _firing_now(alerts)
    figures = table(map(esc, head), [row(r, team, firing) for r in results], cls="figures") if results else (
        f'<p class="nodata">{UNKNOWN}: the latest evaluation has no result for this SLO</p>')
    conditions = _condition_rows(slo, results, alerts)
    condition_table = table(map(esc, ["severity", "windows", "threshold", "budget share", "burn (long)",
                                      "burn (short)", "burning now", "alert state"]), conditions, cls="conditions") \
        if conditions else "<p>No alert conditions (alerting is off).</p>"
    alert_note = f'<p class="nodata">alerts: query failed: {esc(alerts.error)}</p>' if alerts.error else ""
    body = (facts + f"<h2>Latest evaluation</h2>{figures}"
            + f"<h2>Alert conditions</h2>{condition_table}{alert_note}"
            + f'<p class="range">Range: {ranges} — {esc(iso(span.start))} to {esc(iso(span.end))}, every '
              f'{esc(f"{span.step:g}")}s</p>'
            + "".join(chart_html(chart) for chart in drawn))
    return page(f"{slo.service}/{slo.name}", body, banner=banner, charts=True)


def _firing_now(alerts: AlertState) -> tuple[str, ...] | None:
    """The alerts firing at the range's end as the list names them ("name (severity)", a count when several
    fire); None when Prometheus could not be asked."""
    if alerts.error:
        return None
    firing: dict[tuple[str, str], int] = {}
    for labels, state in alerts.now:
        if state == FIRING:
            found = dict(labels)
            key = (found.get("alertname", ""), found.get(c.LABEL_SEVERITY, ""))
            firing[key] = firing.get(key, 0) + 1
    return tuple(sorted(alert_text({"alertname": name, c.LABEL_SEVERITY: severity}, n)
                        for (name, severity), n in firing.items()))


def _level(alerts: AlertState) -> str:
    if alerts.error:
        return "unknown (query failed)"
    now = alerts.level_now or "none"
    return f"{now} now; highest in range {alerts.level_reached or 'none'}"
