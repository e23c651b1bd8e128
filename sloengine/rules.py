"""Compile SLOs into Prometheus recording and alerting rule groups (pure: model in, rule groups out).

Two groups per SLO keep evaluation cheap:

* ``fast`` (every 30s): bad and total events over the alert windows up to 6h,
  straight from the raw counters (so a page sees an outage at once), their
  error ratios and burn rates, and the alerts.
* ``slow`` (every 5m): bad and total events in 5-minute *tiles*, and every
  longer window (1d, 3d, the SLO window, the calendar period so far) as a sum
  of tiles. A 30-day window then reads 8,640 recorded points per SLO instead
  of re-scanning raw counters, and because we sum *counts* and divide once,
  the ratio is event-weighted (exact) however much traffic swings.

Tiles are summed through a ``[W:5m]`` subquery: its steps fall on 5-minute
boundaries and each picks the latest tile, so the tiles cover the window
end to end whether the slow group runs every 5 minutes or (as in
``promtool test rules``, which ignores group intervals) every 30 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from . import conventions as c
from .calendars import MAX_PERIOD_SECONDS, local_offset_expr, offset_expr
from .durations import format_duration
from .model import (
    SLO,
    AlertSeverity,
    BurnRateAlert,
    CalendarUnit,
    CalendarWindow,
    Catalog,
    Labels,
    RawSLI,
    RollingWindow,
    Service,
)
from .queries import EventQueries, checked, label_matchers, number, summed


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str
    labels: Labels = ()


@dataclass(frozen=True)
class AlertingRule:
    alert: str
    expr: str
    for_seconds: int = 0
    labels: Labels = ()
    annotations: Labels = ()


Rule = Union[RecordingRule, AlertingRule]


@dataclass(frozen=True)
class Intervals:
    """Evaluation intervals of the two groups. Tests shorten ``slow`` so they need not wait 5 minutes for
    a first evaluation; tile sums are correct at any slow interval up to the tile length."""

    fast_seconds: int = c.FAST_INTERVAL_SECONDS
    slow_seconds: int = c.SLOW_INTERVAL_SECONDS


@dataclass(frozen=True)
class RuleGroup:
    name: str
    interval_seconds: int
    rules: tuple[Rule, ...] = field(default=())


# ---- naming of recorded series ---------------------------------------------------------------


def slo_labels(slo: SLO) -> Labels:
    return ((c.LABEL_SERVICE, slo.service), (c.LABEL_SLO, slo.name))


def series(metric: str, slo: SLO, window: str | None = None) -> str:
    """Selector for one of our recorded series of ``slo`` (label values escaped)."""
    pairs = slo_labels(slo) + (((c.LABEL_WINDOW, window),) if window is not None else ())
    return metric + label_matchers(pairs)


def window_name(seconds: int) -> str:
    return format_duration(seconds)


def slo_window_names(slo: SLO) -> tuple[str, ...]:
    """Windows whose budget we report: the rolling window, or for a calendar SLO its period so far
    (``month``) and the rolling equivalent (``30d``)."""
    if isinstance(slo.window, RollingWindow):
        return (window_name(slo.window.seconds),)
    return (slo.window.unit.value, window_name(slo.window.nominal_seconds))


def rolling_windows(slo: SLO) -> tuple[int, ...]:
    """Every rolling window the SLO needs recorded, in seconds, shortest first."""
    seconds = {slo.window.nominal_seconds}
    for cond in slo.alerting.conditions:
        seconds |= {cond.long_seconds, cond.short_seconds}
    return tuple(sorted(seconds))


def is_raw_window(seconds: int) -> bool:
    return seconds <= c.RAW_WINDOW_MAX_SECONDS


# ---- recording rules ----------------------------------------------------------------------------


def _window_rules(slo: SLO, window: str, total: str, bad: str) -> list[RecordingRule]:
    """Total first: the bad-events rule may read the total recorded just before it in the same group."""
    labels = slo_labels(slo) + ((c.LABEL_WINDOW, window),)
    return [
        RecordingRule(c.METRIC_TOTAL, checked(total), labels),
        RecordingRule(c.METRIC_BAD, checked(bad), labels),
    ]


def _recorded_total(slo: SLO, metric: str, window: str | None = None) -> str:
    """The total just recorded, summed down to the SLI's grouping labels so it combines with raw sums."""
    return summed(series(metric, slo, window), tuple(slo.sli.group_by))


def _ratio_rules(slo: SLO, window: str, ratio: str | None = None) -> list[RecordingRule]:
    """Error ratio (bad ÷ total, no sample when there was no traffic) and burn rate for a window."""
    labels = slo_labels(slo) + ((c.LABEL_WINDOW, window),)
    if ratio is None:
        ratio = f"{series(c.METRIC_BAD, slo, window)} / ({series(c.METRIC_TOTAL, slo, window)} > 0)"
    burn = f"{series(c.METRIC_ERROR_RATIO, slo, window)} / {number(slo.error_budget)}"
    return [
        RecordingRule(c.METRIC_ERROR_RATIO, checked(ratio), labels),
        RecordingRule(c.METRIC_BURN_RATE, checked(burn), labels),
    ]


def _tiled_sum(metric: str, slo: SLO, seconds: int) -> str:
    tile = series(metric, slo)
    return f"sum_over_time({tile}[{window_name(seconds)}:{window_name(c.TILE_SECONDS)}])"


def _period_to_date_sum(metric: str, slo: SLO, window: CalendarWindow) -> str:
    """Tiles that began at or after the current period's start (evaluated at the rule's own instant)."""
    tile = series(metric, slo)
    start = period_start_series(window.unit, window.timezone)
    since = f"timestamp({tile}) - {c.TILE_SECONDS} >= on() group_left() ({start} @ end())"
    span = f"{window_name(MAX_PERIOD_SECONDS[window.unit])}:{window_name(c.TILE_SECONDS)}"
    return f"sum_over_time(({tile} and ({since}))[{span}])"


def _budget_rule(slo: SLO, window: str) -> RecordingRule:
    labels = slo_labels(slo) + ((c.LABEL_WINDOW, window),)
    expr = f"1 - {series(c.METRIC_ERROR_RATIO, slo, window)} / {number(slo.error_budget)}"
    return RecordingRule(c.METRIC_BUDGET_REMAINING, checked(expr), labels)


def _static_rules(slo: SLO, service: Service) -> list[RecordingRule]:
    info = slo_labels(slo) + (
        ("objective", number(slo.objective)),
        ("sli", slo.sli.kind.value),
        (c.LABEL_WINDOW, slo.window.name),
    )
    if service.team:
        info += ((c.LABEL_TEAM, service.team),)
    if service.owner:
        info += (("owner", service.owner),)
    return [
        RecordingRule(c.METRIC_OBJECTIVE, checked(f"vector({number(slo.target)})"), slo_labels(slo)),
        RecordingRule(c.METRIC_ERROR_BUDGET, checked(f"vector({number(slo.error_budget)})"), slo_labels(slo)),
        RecordingRule(c.METRIC_INFO, "vector(1)", tuple(sorted(info))),
    ]


# ---- alerting rules -----------------------------------------------------------------------------


def _merge(*layers: Labels) -> Labels:
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(dict(layer))
    return tuple(sorted(merged.items()))


def alert_name(slo: SLO) -> str:
    return slo.alerting.name or c.ALERT_BURN


def _burn_alert(slo: SLO, service: Service, cond: BurnRateAlert) -> AlertingRule:
    long_w, short_w = window_name(cond.long_seconds), window_name(cond.short_seconds)
    factor = number(cond.burn_factor)
    expr = (
        f"max without ({c.LABEL_WINDOW}) ({series(c.METRIC_BURN_RATE, slo, long_w)} > {factor})"
        f" and ignoring ({c.LABEL_WINDOW}) ({series(c.METRIC_BURN_RATE, slo, short_w)} > {factor})"
    )
    if slo.alerting.min_events:
        expr += (f" and ignoring ({c.LABEL_WINDOW}) "
                 f"({series(c.METRIC_TOTAL, slo, long_w)} >= {slo.alerting.min_events})")
    page = cond.severity is AlertSeverity.PAGE
    base_labels: Labels = slo_labels(slo) + (
        (c.LABEL_SEVERITY, cond.severity.value),
        (c.LABEL_LONG_WINDOW, long_w),
        (c.LABEL_SHORT_WINDOW, short_w),
        (c.LABEL_BURN_FACTOR, factor),
    ) + (((c.LABEL_TEAM, service.team),) if service.team else ())
    summary = (f"{slo.id} is burning its error budget {factor}x too fast "
               f"({long_w} and {short_w} windows)")
    description = (f"{slo.description + ' ' if slo.description else ''}Objective {number(slo.objective)}% over "
                   f"{slo.window.name}; at this burn rate {cond.budget_percent:.3g}% of the error budget "
                   f"is spent within {long_w}.")
    return AlertingRule(
        alert=alert_name(slo),
        expr=checked(expr),
        for_seconds=cond.for_seconds,
        labels=_merge(base_labels, slo.alerting.labels,
                      slo.alerting.page_labels if page else slo.alerting.ticket_labels, slo_labels(slo)),
        annotations=_merge((("description", description), ("summary", summary)), slo.alerting.annotations,
                           slo.alerting.page_annotations if page else slo.alerting.ticket_annotations),
    )


def _exhausted_alert(slo: SLO, service: Service) -> AlertingRule:
    window = slo_window_names(slo)[0]
    expr = f"max without ({c.LABEL_WINDOW}) ({series(c.METRIC_BUDGET_REMAINING, slo, window)} <= 0)"
    labels = slo_labels(slo) + ((c.LABEL_SEVERITY, AlertSeverity.TICKET.value), (c.LABEL_WINDOW, window))
    labels += ((c.LABEL_TEAM, service.team),) if service.team else ()
    return AlertingRule(
        alert=c.ALERT_EXHAUSTED,
        expr=checked(expr),
        for_seconds=c.SLOW_INTERVAL_SECONDS,
        labels=_merge(labels, slo.alerting.labels, slo_labels(slo)),
        annotations=(("summary", f"{slo.id} has spent its whole error budget over {window}"),),
    )


def _no_data_alert(slo: SLO, service: Service) -> AlertingRule | None:
    presence = EventQueries(slo.sli).presence()
    if presence is None:
        shortest = window_name(rolling_windows(slo)[0])
        expr = f"absent_over_time({series(c.METRIC_ERROR_RATIO, slo, shortest)}[15m])"
    else:
        expr = f"absent_over_time({presence.render()}[15m])"
    labels = slo_labels(slo) + ((c.LABEL_SEVERITY, AlertSeverity.TICKET.value),)
    labels += ((c.LABEL_TEAM, service.team),) if service.team else ()
    return AlertingRule(
        alert=c.ALERT_NO_DATA,
        expr=checked(expr),
        for_seconds=5 * 60,
        labels=_merge(labels, slo.alerting.labels, slo_labels(slo)),
        annotations=(("summary", f"{slo.id} has no SLI data: its series are absent, so its availability is unknown"),),
    )


# ---- groups ------------------------------------------------------------------------------------


def compile_slo(slo: SLO, service: Service, intervals: Intervals = Intervals()) -> tuple[RuleGroup, RuleGroup]:
    """The fast and slow rule groups of one SLO."""
    queries = EventQueries(slo.sli)
    fast: list[Rule] = []
    slow: list[Rule] = []
    raw_ratio = isinstance(slo.sli, RawSLI) and not queries.counts_events
    if not raw_ratio:
        tile = window_name(c.TILE_SECONDS)
        slow.append(RecordingRule(c.METRIC_TILE_TOTAL, queries.total(tile), slo_labels(slo)))
        slow.append(RecordingRule(c.METRIC_TILE_BAD, queries.bad(tile, _recorded_total(slo, c.METRIC_TILE_TOTAL)),
                                  slo_labels(slo)))
    for seconds in rolling_windows(slo):
        name = window_name(seconds)
        target = fast if is_raw_window(seconds) else slow
        if raw_ratio:
            target.extend(_ratio_rules(slo, name, queries.error_ratio(name)))
            continue
        if is_raw_window(seconds):
            target.extend(_window_rules(slo, name, queries.total(name),
                                        queries.bad(name, _recorded_total(slo, c.METRIC_TOTAL, name))))
        else:
            target.extend(_window_rules(slo, name, _tiled_sum(c.METRIC_TILE_TOTAL, slo, seconds),
                                        _tiled_sum(c.METRIC_TILE_BAD, slo, seconds)))
        target.extend(_ratio_rules(slo, name))
    if isinstance(slo.window, CalendarWindow) and not raw_ratio:
        period = slo.window.unit.value
        slow.extend(_window_rules(slo, period, _period_to_date_sum(c.METRIC_TILE_TOTAL, slo, slo.window),
                                  _period_to_date_sum(c.METRIC_TILE_BAD, slo, slo.window)))
        slow.extend(_ratio_rules(slo, period))
    for window in slo_window_names(slo):
        if raw_ratio and window in {u.value for u in CalendarUnit}:
            continue
        slow.append(_budget_rule(slo, window))
    slow.extend(_static_rules(slo, service))
    if slo.alerting.enabled:
        fast.extend(_burn_alert(slo, service, cond) for cond in slo.alerting.conditions)
        slow.append(_exhausted_alert(slo, service))
    no_data = _no_data_alert(slo, service)
    if no_data is not None:
        fast.append(no_data)
    return (
        RuleGroup(c.group_name(slo.service, slo.name, "fast"), intervals.fast_seconds, tuple(fast)),
        RuleGroup(c.group_name(slo.service, slo.name, "slow"), intervals.slow_seconds, tuple(slow)),
    )


def period_start_series(unit: CalendarUnit, tz: str) -> str:
    pairs = ((c.LABEL_CALENDAR, unit.value), (c.LABEL_TIMEZONE, tz))
    return c.METRIC_PERIOD_START + label_matchers(pairs)


def _local_start_expr(unit: CalendarUnit, tz: str) -> str:
    offset = c.METRIC_UTC_OFFSET + label_matchers(((c.LABEL_TIMEZONE, tz),))
    local = f"(vector(time()) + on() {offset})"
    into_day = f"hour({local}) * 3600 + minute({local}) * 60 + {local} % 60"
    if unit is CalendarUnit.WEEK:
        return f"{local} - ((day_of_week({local}) + 6) % 7) * 86400 - ({into_day})"
    month_start = f"({local} - (day_of_month({local}) - 1) * 86400 - ({into_day}))"
    if unit is CalendarUnit.MONTH:
        return month_start
    # A quarter starts 0, 1 or 2 months before the current month: step back month by month.
    prev1 = f"({month_start} - days_in_month({month_start} - 86400) * 86400)"
    prev2 = f"({prev1} - days_in_month({prev1} - 86400) * 86400)"
    back = f"((month({month_start}) - 1) % 3)"
    return (f"{month_start} * ({back} == bool 0) + {prev1} * ({back} == bool 1)"
            f" + {prev2} * ({back} == bool 2)")


def compile_calendars(catalog: Catalog, intervals: Intervals = Intervals()) -> RuleGroup | None:
    """One shared group that records each used time zone's UTC offset and each period's start."""
    periods = sorted({(s.window.unit.value, s.window.timezone) for s in catalog.slos
                      if isinstance(s.window, CalendarWindow)})
    if not periods:
        return None
    rules: list[Rule] = []
    for tz in sorted({tz for _, tz in periods}):
        rules.append(RecordingRule(c.METRIC_UTC_OFFSET, checked(f"vector({offset_expr(tz, 'time()')})"),
                                   ((c.LABEL_TIMEZONE, tz),)))
    for unit_name, tz in periods:
        unit = CalendarUnit(unit_name)
        labels = ((c.LABEL_CALENDAR, unit_name), (c.LABEL_TIMEZONE, tz))
        rules.append(RecordingRule(c.METRIC_PERIOD_START_LOCAL, checked(_local_start_expr(unit, tz)), labels))
        local = c.METRIC_PERIOD_START_LOCAL + label_matchers(labels)
        rules.append(RecordingRule(c.METRIC_PERIOD_START, checked(f"{local} - ({local_offset_expr(tz, local)})"),
                                   labels))
    return RuleGroup(c.CALENDAR_GROUP, intervals.fast_seconds, tuple(rules))


def compile_catalog(catalog: Catalog, intervals: Intervals = Intervals()) -> dict[str, tuple[RuleGroup, ...]]:
    """Rule groups per output file (one file per service, plus the shared calendar file)."""
    files: dict[str, list[RuleGroup]] = {}
    for slo in catalog.slos:
        service = catalog.service(slo.service) or Service(slo.service)
        files.setdefault(c.rules_file(slo.service), []).extend(compile_slo(slo, service, intervals))
    calendars = compile_calendars(catalog, intervals)
    if calendars is not None:
        files[c.rules_file(c.CALENDAR_FILE_STEM)] = [calendars]
    return {path: tuple(groups) for path, groups in sorted(files.items())}
