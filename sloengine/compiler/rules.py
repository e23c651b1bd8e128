"""Compile SLOs into Prometheus recording and alerting rule groups (pure: model in, rule groups out).

Two groups per SLO keep evaluation cheap:

* ``fast`` (every 30s): bad and total events over the alert windows up to 6h,
  straight from the raw counters (so a page sees an outage at once), their
  error ratios and burn rates, and the page alerts.
* ``slow`` (every 5m): bad and total events in 5-minute *tiles*, every
  longer window (1d, 3d, the SLO window, the calendar period so far) as a sum
  of tiles, the budget left, and the ticket, budget and no-data alerts. A
  30-day window then reads 8,640 recorded points per SLO instead of
  re-scanning raw counters, and because we sum *counts* and divide once, the
  ratio is event-weighted (exact) however much traffic swings.

Each recorded metric is one rule for all its windows (``label_replace`` tags
each window's value): Prometheus pays a fixed cost per rule per evaluation
that exceeds the query itself for short windows. Bad events fall back to
``0 * total`` once for all windows, not once per window.

A raw window that no page reads (with the default conditions, the 2h short
window of the 1d ticket) is counted in the slow group, just before the ticket
that reads it, instead of every 30s: each recorded value is the same exact
count, recorded every 5 minutes.

A counter's tile counts the increases of its value held on a 15-second grid,
from where the SLO's previous tile ended (recorded beside the tiles) up to
the evaluation: tiles partition time, so any sum of them is the counter's
exact increase over their span (resets included), whether the slow group runs
every 5 minutes or (as in ``promtool test rules``, which ignores group
intervals) every 30 seconds, and across a missed evaluation, a restart or the
seam after a backfill. Long windows are plain sums of the tiles recorded in
them; they end at the last evaluation, never a tile behind it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..model import conventions as c
from ..model.calendars import MAX_PERIOD_SECONDS, last_change_exprs, offset_expr
from ..model.durations import format_duration
from ..model.promql import Selector, quote
from ..model.slo import (
    SLO,
    AlertSeverity,
    BurnRateAlert,
    CalendarUnit,
    CalendarWindow,
    Catalog,
    Labels,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RollingWindow,
    Service,
)
from ..model.templates import OPEN, literal
from .queries import EventQueries, checked, half_open, label_matchers, number, summed


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


Rule = RecordingRule | AlertingRule


@dataclass(frozen=True)
class Intervals:
    """Evaluation intervals of the two groups. Tests shorten ``slow`` so they need not wait 5 minutes for
    a first evaluation; tile sums are correct at any slow interval up to the tile length (in two tiers, at least the
    15-second grid: an evaluation that crosses no grid step records no tile, and federation passes on only current
    samples)."""

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
    head = slo_matchers_head(slo.service, slo.name)
    return f"{metric}{head}}}" if window is None else f"{metric}{head},{c.LABEL_WINDOW}={quote(window)}}}"


@lru_cache(maxsize=4096)
def slo_matchers_head(service: str, name: str) -> str:
    """``{service="...",slo="..."`` (unclosed): compiling one SLO names its series a few dozen times, and a key
    of two strings hashes faster than the nested label pairs :func:`.queries.label_matchers` caches on."""
    return label_matchers(((c.LABEL_SERVICE, service), (c.LABEL_SLO, name)))[:-1]


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


def fast_raw_windows(slo: SLO, rolling: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Raw windows counted every 30s in the fast group: those a page reads (``rolling``: the SLO's
    :func:`rolling_windows`, when the caller has them).

    The others (read only by tickets, which the slow group evaluates) are
    counted in the slow group. Without pages (or with alerting off) every raw
    window stays in the fast group, as before.
    """
    raw = tuple(s for s in (rolling_windows(slo) if rolling is None else rolling) if is_raw_window(s))
    pages = {s for cond in slo.alerting.conditions if cond.severity is AlertSeverity.PAGE
             for s in (cond.long_seconds, cond.short_seconds)}
    if not slo.alerting.enabled or not pages:
        return raw
    return tuple(s for s in raw if s in pages)


@dataclass(frozen=True)
class WindowPlan:
    """Which group counts each of an SLO's windows, and how (every compile of an SLO, single or in tiers, reads
    this one plan): raw windows a page reads (fast group), raw windows only tickets read (slow group, every 5
    minutes: the same exact count), and windows summed from tiles."""

    fast_raw: tuple[str, ...]
    slow_raw: tuple[str, ...]
    long_seconds: tuple[int, ...]

    @property
    def long(self) -> tuple[str, ...]:
        return tuple(window_name(s) for s in self.long_seconds)


def window_plan(slo: SLO) -> WindowPlan:
    """The SLO's :class:`WindowPlan`."""
    rolling = rolling_windows(slo)
    fast = fast_raw_windows(slo, rolling)
    return WindowPlan(tuple(window_name(s) for s in fast),
                      tuple(window_name(s) for s in rolling if is_raw_window(s) and s not in fast),
                      tuple(s for s in rolling if not is_raw_window(s)))


# ---- recording rules ----------------------------------------------------------------------------


def windows_selector(metric: str, slo: SLO, windows: tuple[str, ...]) -> str:
    """Our recorded ``metric`` of ``slo`` for exactly these windows (one regex matcher)."""
    return metric + slo_matchers_head(slo.service, slo.name) + _windows_matcher(windows)


@lru_cache(maxsize=4096)
def _windows_matcher(windows: tuple[str, ...]) -> str:
    """``,window=~"5m|30m|1h"}``: the end of :func:`windows_selector`, shared by the many SLOs whose windows
    are the same."""
    alternatives = "|".join(re.escape(w) for w in windows)
    return f",{c.LABEL_WINDOW}=~{quote(alternatives)}}}"


def _per_window(parts: list[tuple[str, str]]) -> str:
    """One expression yielding every window's value, each tagged with its ``window`` label.

    A rule per window costs Prometheus a fixed overhead per rule per evaluation
    (about 0.1 ms here), which for short windows exceeds the query itself; one
    rule for all windows pays it once.
    """
    return " or ".join(f'label_replace({expr}, "{c.LABEL_WINDOW}", {quote(window)}, "", "")'
                       for window, expr in parts)


def _recorded_total(slo: SLO, metric: str, window: str | None = None) -> str:
    """The total just recorded, summed down to the SLI's grouping labels so it combines with raw sums."""
    return summed(series(metric, slo, window), tuple(slo.sli.group_by))


def _source_labels(slo: SLO, source: str) -> Labels:
    """Our labels plus ``window_source``, which also keeps the fast and slow groups' rules distinct."""
    return slo_labels(slo) + ((c.LABEL_WINDOW_SOURCE, source),)


def _events_rules(slo: SLO, source: str, totals: list[tuple[str, str]],
                  bads: list[tuple[str, str]] | str) -> list[RecordingRule]:
    """Total first: the bad-events rule may read the totals recorded just before it in the same group.

    ``bads`` is per window, or one expression already covering every window (:func:`_raw_bad`).
    """
    bad = bads if isinstance(bads, str) else _per_window(bads)
    return [
        RecordingRule(c.METRIC_TOTAL, checked(_per_window(totals)), _source_labels(slo, source)),
        RecordingRule(c.METRIC_BAD, checked(bad), _source_labels(slo, source)),
    ]


def _raw_bad(slo: SLO, queries: EventQueries, windows: tuple[str, ...], self_contained: bool = False) -> str:
    """Bad events over every raw window in one expression, reading each window's recorded total once.

    The same values as :meth:`EventQueries.bad` per window (``bad or 0 * total``,
    ``total - (good or 0 * total)``, ``total - ones``), but the totals of all
    windows are one selector and the zero fallback one ``or`` for all windows.
    Raw PromQL SLIs keep the per-window form.

    ``self_contained``: the totals are counted again from the raw counters (the same labels, ``window`` and the
    SLI's groups) instead of read from the rule just before, for rulers whose recorded samples may not be
    readable by the next rule of the same evaluation (vmalert writes them asynchronously).
    """
    sli = slo.sli
    group_by = tuple(sli.group_by)
    # Parenthesised: the windows' totals are joined by ``or``, which binds looser than ``-`` and ``*``.
    totals = (f"({_per_window([(w, queries.total(w)) for w in windows])})" if self_contained
              else summed(windows_selector(c.METRIC_TOTAL, slo, windows), (c.LABEL_WINDOW, *group_by)))

    def over(function: str, selector: Selector, window: str) -> str:
        return summed(f"{function}({selector.render()}[{window}])", group_by)

    if isinstance(sli, RatioSLI) and sli.bad is not None:
        return checked(f"{_per_window([(w, over('increase', sli.bad, w)) for w in windows])} or 0 * {totals}")
    if isinstance(sli, RatioSLI):
        good = sli.good
        assert good is not None, "a ratio SLI has good or bad events"
        goods = _per_window([(w, over("increase", good, w)) for w in windows])
        return checked(f"{totals} - ({goods} or 0 * {totals})")
    if isinstance(sli, LatencySLI):
        # No zero fallback for a missing bucket (see EventQueries.bad): no data, and an alert says why.
        return checked(f"{totals} - ({_per_window([(w, over('increase', queries.bucket, w)) for w in windows])})")
    if isinstance(sli, ProbeSLI):
        ones = _per_window([(w, over("sum_over_time", sli.gauge, half_open(w))) for w in windows])
        return checked(f"{totals} - ({ones})")
    return _per_window([(w, queries.bad(w, f"({queries.total(w)})" if self_contained
                                        else _recorded_total(slo, c.METRIC_TOTAL, w))) for w in windows])


def _ratio_rules(slo: SLO, source: str | None, windows: tuple[str, ...],
                 ratios: list[tuple[str, str]] | None = None) -> list[RecordingRule]:
    """Error ratio (bad ÷ total; no sample when there was no traffic) and burn rate for these windows.

    ``source`` None: the windows mix sources, and each series keeps the ``window_source`` of its events.
    """
    if ratios is None:
        ratio = (f"{windows_selector(c.METRIC_BAD, slo, windows)} / "
                 f"({windows_selector(c.METRIC_TOTAL, slo, windows)} > 0)")
    else:
        ratio = _per_window(ratios)
    burn = f"{windows_selector(c.METRIC_ERROR_RATIO, slo, windows)} / {number(slo.error_budget)}"
    labels = slo_labels(slo) if source is None else _source_labels(slo, source)
    return [
        RecordingRule(c.METRIC_ERROR_RATIO, checked(ratio), labels),
        RecordingRule(c.METRIC_BURN_RATE, checked(burn), labels),
    ]


def _mixed_events_rules(slo: SLO, queries: EventQueries, raw_windows: tuple[str, ...],
                        totals: list[tuple[str, str]], bads: list[tuple[str, str]],
                        self_contained: bool = False) -> list[RecordingRule]:
    """The slow group's events: raw windows only tickets read, and the tiled windows, one rule per metric.

    ``window_source`` is set per part (``raw`` or ``tiles``), so every series
    has the labels it would have in a group of its own source.
    """
    def tagged(raw: str, tiles: list[tuple[str, str]]) -> str:
        out = f'label_replace({raw}, "{c.LABEL_WINDOW_SOURCE}", "{RAW}", "", "")'
        if tiles:
            out += (f' or label_replace({_per_window(tiles)}, "{c.LABEL_WINDOW_SOURCE}", "{TILES}", "", "")')
        return out

    raw_totals = _per_window([(w, queries.total(w)) for w in raw_windows])
    return [
        RecordingRule(c.METRIC_TOTAL, checked(tagged(raw_totals, totals)), slo_labels(slo)),
        RecordingRule(c.METRIC_BAD, checked(tagged(_raw_bad(slo, queries, raw_windows, self_contained), bads)),
                      slo_labels(slo)),
    ]


def _tiled_sum(metric: str, slo: SLO, seconds: int) -> str:
    """Every tile recorded in ``(t-W, t]``. Tiles partition time (each starts where the previous ended), so
    the sum is the exact count from the first tile's start to ``t`` rounded down to the grid."""
    return f"sum_over_time({series(metric, slo)}[{half_open(window_name(seconds))}])"


#: Tiles are summed per 5-minute slot (whatever the slow group's interval), and a quarter per hour.
_SLOT_SECONDS = {CalendarUnit.WEEK: c.TILE_SECONDS, CalendarUnit.MONTH: c.TILE_SECONDS, CalendarUnit.QUARTER: 3600}


def _period_to_date_sum(metric: str, slo: SLO, window: CalendarWindow) -> str:
    """Tiles recorded in the slots that began at or after the current period's start (at the rule's instant).

    A subquery steps through the slots (5 minutes; an hour for a quarter,
    whose 26,496 five-minute steps would pass the 10,000 samples ``promtool
    test rules`` lets a query load, so a quarter's start is found to the hour);
    each step sums the tiles recorded in its slot. The first tile counted began
    where the last one recorded before the period start ended.
    """
    return period_to_date_sum(series(metric, slo), window.unit, window.timezone)


def period_to_date_sum(tile_series: str, unit: CalendarUnit, tz: str) -> str:
    """:func:`_period_to_date_sum` of any tile series (an SLO's, or an agreement commitment's)."""
    start = period_start_series(unit, tz)
    slot = _SLOT_SECONDS[unit]
    span = window_name(MAX_PERIOD_SECONDS[unit])
    tiles = f"sum_over_time({tile_series}[{half_open(window_name(slot))}])"
    # timestamp() of a step's sum is the step: a filter with a sample only where there are tiles (a vector of
    # the step times would load a sample per step, past promtool's limit for a month of 5-minute steps).
    since = f"timestamp({tiles}) - {slot} >= on() group_left() ({start} @ end())"
    return f"sum_over_time(({tiles} and ({since}))[{span}:{window_name(slot)}])"


def tile_end_rule(slo: SLO) -> RecordingRule:
    """Where the tile just recorded ended: the grid step at or before the evaluation."""
    grid = c.TILE_GRID_SECONDS
    return RecordingRule(c.METRIC_TILE_END, checked(f"vector(time() - time() % {grid})"), slo_labels(slo))


def previous_tile_end(slo: SLO) -> str:
    """The end of the SLO's last tile (a scalar, NaN before the first), as of the rule's own instant."""
    return (f"scalar(last_over_time({series(c.METRIC_TILE_END, slo)}"
            f"[{window_name(c.TILE_CATCHUP_SECONDS)}] @ end()))")


def _budget_rule(slo: SLO, windows: tuple[str, ...]) -> RecordingRule:
    expr = f"1 - {windows_selector(c.METRIC_ERROR_RATIO, slo, windows)} / {number(slo.error_budget)}"
    return RecordingRule(c.METRIC_BUDGET_REMAINING, checked(expr), slo_labels(slo))


def spec_labels(slo: SLO, service: Service) -> Labels:
    """The service's and the SLO's own ``labels:`` (the SLO's over the service's): carried by ``slo:info`` and
    by every alert of the SLO, so alerts route on them and any series joins them in with
    ``* on (service, slo) group_left (tier) slo:info``."""
    return _merge(service.labels if service.name == slo.service else (), slo.labels)


def _static_rules(slo: SLO, service: Service, spec: Labels | None = None) -> list[RecordingRule]:
    """The SLO's objective, error budget and ``slo:info`` (``spec``: :func:`spec_labels`, when the caller has
    them)."""
    info = _merge(spec_labels(slo, service) if spec is None else spec, slo_labels(slo), (
        (c.LABEL_OBJECTIVE, number(slo.objective)),
        (c.LABEL_SLI_KIND, slo.sli.kind.value),
        (c.LABEL_WINDOW, slo.window.name),
    ), ((c.LABEL_TEAM, service.team),) if service.team else (),
        ((c.LABEL_OWNER, service.owner),) if service.owner else ())
    return [
        RecordingRule(c.METRIC_OBJECTIVE, checked(f"vector({number(slo.target)})"), slo_labels(slo)),
        RecordingRule(c.METRIC_ERROR_BUDGET, checked(f"vector({number(slo.error_budget)})"), slo_labels(slo)),
        RecordingRule(c.METRIC_INFO, "vector(1)", tuple(sorted(info))),
    ]


# ---- alerting rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertLayers:
    """What every alert of one SLO is labelled and annotated from, each layer made literal (or left a template)
    once: an SLO has half a dozen alerts, and each merged the same spec labels and user layers anew."""

    #: ``team`` when the service has one (a default a spec's alert labels may override).
    team: Labels
    #: The service's and SLO's ``labels:`` (:func:`spec_labels`), literal.
    spec: Labels
    #: The spec's alert labels and annotations (:func:`_user`).
    labels: Labels
    annotations: Labels
    #: ``service`` and ``slo``, literal: sloengine's own, over everything.
    mine: Labels

    @classmethod
    def of(cls, slo: SLO, service: Service, spec: Labels | None = None) -> AlertLayers:
        """``spec``: :func:`spec_labels`, when the caller has them."""
        return cls(((c.LABEL_TEAM, service.team),) if service.team else (),
                   _literal(spec_labels(slo, service) if spec is None else spec),
                   _user(slo, slo.alerting.labels), _user(slo, slo.alerting.annotations), _literal(slo_labels(slo)))

    def ticket_labels(self, *own: tuple[str, str]) -> Labels:
        """:func:`_ticket_labels`."""
        defaults = ((c.LABEL_SEVERITY, AlertSeverity.TICKET.value),) + self.team
        return _merge(_literal(defaults), self.spec, self.labels,
                      self.mine + ((c.LABEL_OWN_SEVERITY, AlertSeverity.TICKET.value),) + _literal(own))


def _ticket_labels(slo: SLO, service: Service, *own: tuple[str, str]) -> Labels:
    """Labels of the budget-exhausted and no-data alerts: ``severity`` and ``team`` by default, the spec's
    alert labels over them, and sloengine's own labels over everything."""
    return AlertLayers.of(slo, service).ticket_labels(*own)


def _merge(*layers: Labels) -> Labels:
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return tuple(sorted(merged.items()))


def _user(slo: SLO, layer: Labels) -> Labels:
    """A spec's alert labels or annotations as Prometheus must be given them: literal text (``{{`` printed as
    ``{{``) unless the spec opted into templates."""
    return layer if slo.alerting.templates else _literal(layer)


def _literal(layer: Labels) -> Labels:
    """Labels or annotations sloengine writes from spec text (names, team, descriptions, spec labels): literal.
    Text without ``{{`` is its own literal, so the layer is itself unless some value has one (the usual case,
    found without building a new layer: every rule's labels pass here)."""
    for _, value in layer:
        if OPEN in value:
            return tuple((key, literal(value)) for key, value in layer)
    return layer


def alert_name(slo: SLO) -> str:
    return slo.alerting.name or c.ALERT_BURN


#: The labels of a burn alert that differ between the conditions of one severity: the rest are the same.
_CONDITION_KEYS = (c.LABEL_LONG_WINDOW, c.LABEL_SHORT_WINDOW, c.LABEL_BURN_FACTOR)
#: Their places in a severity's labels, to be filled in per condition.
_CONDITION_PLACES: Labels = tuple((key, "") for key in _CONDITION_KEYS)


@dataclass(frozen=True)
class SeverityLayers:
    """The labels and annotations of an SLO's burn alerts of one severity, merged once for all its conditions:
    ``labels`` sorted, with an empty value at ``slots`` for each of :data:`_CONDITION_KEYS` (the condition's
    windows and factor, filled in per alert: the keys, and so their places, are the same for every condition);
    ``annotations`` the user's, over the generated ones."""

    labels: Labels
    slots: tuple[int, int, int]
    annotations: Labels

    def condition_labels(self, long_window: str, short_window: str, factor: str) -> Labels:
        labels = list(self.labels)
        at_long, at_short, at_factor = self.slots
        labels[at_long] = (c.LABEL_LONG_WINDOW, long_window)
        labels[at_short] = (c.LABEL_SHORT_WINDOW, short_window)
        labels[at_factor] = (c.LABEL_BURN_FACTOR, factor)
        return tuple(labels)


def _severity_layers(slo: SLO, severity: AlertSeverity, layers: AlertLayers) -> SeverityLayers:
    """The labels under a burn alert's own (the ``severity`` and ``team`` defaults, the spec's labels, the user's
    alert labels and those of the severity) with sloengine's own over them, and the user's annotations over the
    generated ones, each merged: the same for all of an SLO's conditions of one severity, so merged once for
    them (``layers``: the SLO's)."""
    page = severity is AlertSeverity.PAGE
    name = severity.value
    # The user's labels may override severity and team, never the labels routing and the alert tests key on.
    defaults: Labels = ((c.LABEL_SEVERITY, name),) + layers.team
    own = layers.mine + ((c.LABEL_OWN_SEVERITY, name),) + _CONDITION_PLACES + (
        ((c.LABEL_ESCALATION_LEVEL, FIRST_LEVEL),) if page else ())
    labels = _merge(_literal(defaults), layers.spec, layers.labels,
                    _user(slo, slo.alerting.page_labels if page else slo.alerting.ticket_labels), own)
    keys = [key for key, _ in labels]
    slots = (keys.index(_CONDITION_KEYS[0]), keys.index(_CONDITION_KEYS[1]), keys.index(_CONDITION_KEYS[2]))
    annotations = _merge(layers.annotations,
                         _user(slo, slo.alerting.page_annotations if page else slo.alerting.ticket_annotations))
    return SeverityLayers(labels, slots, annotations)


@dataclass(frozen=True)
class _ConditionWords:
    """What a burn alert says of its condition: the same in every SLO with that condition (a catalogue has few),
    so worked out once per condition rather than once per alert."""

    long: str
    short: str
    factor: str
    #: The ends of the summary and description (after the SLO's id, and after its objective).
    summary: str
    description: str


@lru_cache(maxsize=4096)
def _condition_words(cond: BurnRateAlert) -> _ConditionWords:
    long_w, short_w = window_name(cond.long_seconds), window_name(cond.short_seconds)
    factor = number(cond.burn_factor)
    return _ConditionWords(
        long_w, short_w, factor,
        f" is burning its error budget {factor}x too fast ({long_w} and {short_w} windows)",
        f"; at this burn rate {cond.budget_percent:.3g}% of the error budget is spent within {long_w}.")


def _objective_words(slo: SLO) -> str:
    """The start of a burn alert's description: the SLO's own, and its objective and window."""
    return (f"{slo.description + ' ' if slo.description else ''}Objective {number(slo.objective)}% over "
            f"{slo.window.name}")


#: Our labels that tell an SLO's recorded windows apart, which a burn alert drops.
_OURS = f"{c.LABEL_WINDOW}, {c.LABEL_WINDOW_SOURCE}"


def _burn_alert(slo: SLO, cond: BurnRateAlert, layers: SeverityLayers, objective: str) -> AlertingRule:
    """The alert of one burn-rate condition; ``layers`` are :func:`_severity_layers` of its severity,
    ``objective`` :func:`_objective_words` of the SLO."""
    words = _condition_words(cond)
    factor = words.factor
    expr = (
        f"max without ({_OURS}) ({series(c.METRIC_BURN_RATE, slo, words.long)} > {factor})"
        f" and ignoring ({_OURS}) ({series(c.METRIC_BURN_RATE, slo, words.short)} > {factor})"
    )
    if slo.alerting.min_events:
        expr += (f" and ignoring ({_OURS}) "
                 f"({series(c.METRIC_TOTAL, slo, words.long)} >= {slo.alerting.min_events})")
    summary = f"{slo.id}{words.summary}"
    description = f"{objective}{words.description}"
    generated = _literal((("description", description), ("summary", summary)))
    return AlertingRule(
        alert=alert_name(slo),
        expr=checked(expr),
        for_seconds=cond.for_seconds,
        labels=layers.condition_labels(words.long, words.short, factor),
        # The user's annotations over the generated ones (already sorted: without any, they are the result).
        annotations=_merge(generated, layers.annotations) if layers.annotations else generated,
    )


#: The level a page itself carries: the on-call, notified at once.
FIRST_LEVEL = c.ESCALATION_LEVELS[0]

#: Labels of a page's ALERTS series that tell its conditions apart; an escalation is one per SLO (and group).
CONDITION_LABELS = ("alertname", "alertstate", c.LABEL_LONG_WINDOW, c.LABEL_SHORT_WINDOW, c.LABEL_BURN_FACTOR)
_CONDITION_LABELS_TEXT = ", ".join(CONDITION_LABELS)


def escalation_alerts(slo: SLO, layers: AlertLayers) -> list[AlertingRule]:
    """One alert per level beyond L1: the SLO's page has been firing for the level's delay.

    Alertmanager has no acknowledgement, so "unresolved for 30 minutes" is
    Prometheus's ``for`` over the page's own ``ALERTS`` series. Any of the
    page's conditions keeps it going (they are merged, so the escalation does
    not restart when the 1h condition hands over to the 6h one); the page's
    labels (team, severity, the SLI's groups, the user's page labels) carry
    over, and ``escalation_level`` names the level to route to. ``layers``: the SLO's.
    """
    policy = slo.escalation
    if policy is None or not policy.escalations or not slo.alerting.enabled:
        return []
    if not any(cond.severity is AlertSeverity.PAGE for cond in slo.alerting.conditions):
        return []
    # label_matchers of (alertname, alertstate, service, slo, escalation_level), the SLO's part already made.
    firing = (f"ALERTS{{alertname={quote(alert_name(slo))},alertstate=\"firing\","
              f"{slo_matchers_head(slo.service, slo.name)[1:]},{c.LABEL_ESCALATION_LEVEL}={quote(FIRST_LEVEL)}}}")
    expr = f"max without ({_CONDITION_LABELS_TEXT}) ({firing})"
    user = _merge(layers.annotations, _user(slo, slo.alerting.page_annotations))
    out = []
    for level in policy.escalations:
        waited = window_name(level.after_seconds) if level.after_seconds else "0s"
        summary = (f"{slo.id} has been paging for {waited} without resolving: escalated to {level.level} "
                   f"({level.receiver})")
        generated = _literal((("description", f"The page {alert_name(slo)} of {slo.id} is still firing after "
                                              f"{waited}; {level.level} ({level.receiver}) is now notified."),
                              ("summary", summary)))
        out.append(AlertingRule(
            alert=c.ALERT_ESCALATION,
            expr=checked(expr),
            for_seconds=level.after_seconds,
            labels=_merge(layers.mine, _literal(((c.LABEL_ESCALATION_LEVEL, level.level),))),
            # The generated annotations over the user's (already sorted: without any of the user's, the result).
            annotations=_merge(user, generated) if user else generated,
        ))
    return out


def _exhausted_alert(slo: SLO, layers: AlertLayers) -> AlertingRule:
    window = slo_window_names(slo)[0]
    expr = (f"max without ({c.LABEL_WINDOW}, {c.LABEL_WINDOW_SOURCE}) "
            f"({series(c.METRIC_BUDGET_REMAINING, slo, window)} <= 0)")
    return AlertingRule(
        alert=c.ALERT_EXHAUSTED,
        expr=checked(expr),
        for_seconds=c.SLOW_INTERVAL_SECONDS,
        labels=layers.ticket_labels((c.LABEL_WINDOW, window)),
        annotations=_literal((("summary", f"{slo.id} has spent its whole error budget over {window}"),)),
    )


def _no_data_alert(slo: SLO, layers: AlertLayers, queries: EventQueries) -> AlertingRule:
    presence = queries.presence()
    if presence is None:
        shortest = window_name(rolling_windows(slo)[0])
        expr = f"absent_over_time({series(c.METRIC_ERROR_RATIO, slo, shortest)}[15m])"
    else:
        expr = f"absent_over_time({presence.render()}[15m])"
    return AlertingRule(
        alert=c.ALERT_NO_DATA,
        expr=checked(expr),
        for_seconds=5 * 60,
        labels=layers.ticket_labels(),
        annotations=_literal((("summary", f"{slo.id} has no SLI data: its series are absent, so its availability "
                                          "is unknown"),)),
    )


def _bucket_missing_alert(slo: SLO, service: Service, layers: AlertLayers | None = None,
                          queries: EventQueries | None = None) -> AlertingRule | None:
    """A latency SLI whose histogram is there but has no bucket at the threshold: tell someone why it has no data.

    A threshold that is not a bucket boundary (0.45 on 0.25/0.5 buckets, or 500
    meaning milliseconds) matches no ``le`` series; the rules then record no bad
    events rather than counting every request as slow. ``layers`` and ``queries``: the SLO's, when the caller
    has them (a new :class:`EventQueries` would make its bucket selector again).
    """
    sli = slo.sli
    if not isinstance(sli, LatencySLI):
        return None
    group_by = tuple(sli.group_by)
    histogram = summed(sli.count.render(), group_by, "count")
    bucket = summed((EventQueries(sli) if queries is None else queries).bucket.render(), group_by, "count")
    threshold = number(sli.threshold_seconds)
    return AlertingRule(
        alert=c.ALERT_BUCKET_MISSING,
        expr=checked(f"{histogram} unless {bucket}"),
        for_seconds=10 * 60,
        labels=(AlertLayers.of(slo, service) if layers is None else layers).ticket_labels(),
        annotations=_literal((
            ("description", f"{sli.bucket.metric} has no series with le={threshold} (any spelling), so the SLI "
                            f"cannot count requests within {threshold}s and reports no data. The threshold must "
                            "be one of the histogram's bucket boundaries, in seconds."),
            ("summary", f"{slo.id} has no latency data: the histogram has no bucket at its threshold {threshold}s"),
        )),
    )


# ---- groups ------------------------------------------------------------------------------------


RAW = "raw"
TILES = "tiles"


def budget_alerts(slo: SLO, service: Service,
                  layers: AlertLayers | None = None) -> tuple[list[AlertingRule], list[AlertingRule]]:
    """The SLO's burn-rate alerts, escalations and budget exhaustion, as (fast group's, slow group's): pages need
    the 30s group; tickets and budget exhaustion can wait for the slow one. None with alerting off. ``layers``:
    the SLO's, when the caller has them."""
    fast: list[AlertingRule] = []
    slow: list[AlertingRule] = []
    if not slo.alerting.enabled:
        return fast, slow
    layers = AlertLayers.of(slo, service) if layers is None else layers
    objective = _objective_words(slo)
    page: SeverityLayers | None = None
    ticket: SeverityLayers | None = None
    for cond in slo.alerting.conditions:
        if cond.severity is AlertSeverity.PAGE:
            page = page or _severity_layers(slo, cond.severity, layers)
            fast.append(_burn_alert(slo, cond, page, objective))
        else:
            ticket = ticket or _severity_layers(slo, cond.severity, layers)
            slow.append(_burn_alert(slo, cond, ticket, objective))
    fast.extend(escalation_alerts(slo, layers))
    slow.append(_exhausted_alert(slo, layers))
    return fast, slow


def compile_slo(slo: SLO, service: Service, intervals: Intervals = Intervals(), *,
                self_contained: bool = False) -> tuple[RuleGroup, RuleGroup]:
    """The fast and slow rule groups of one SLO.

    ``self_contained``: no rule reads a series recorded earlier in the same evaluation that it must see at the
    same instant (bad events count their totals again from the raw counters), for rulers that write recorded
    samples asynchronously (vmalert); the values are the same. Rules that read what an earlier rule of the
    group recorded are still chained (error ratios read the events), which such a ruler must order itself
    (:func:`.rulers.vmalert_stages`)."""
    queries = EventQueries(slo.sli)
    fast: list[Rule] = []
    slow: list[Rule] = []
    plan = window_plan(slo)
    raw_windows, slow_raw, long_seconds, long_windows = plan.fast_raw, plan.slow_raw, plan.long_seconds, plan.long
    budget_windows = slo_window_names(slo)
    if queries.counts_events:
        # The tiles read where the previous one ended, then record where they end: in this order.
        since = previous_tile_end(slo)
        slow.append(RecordingRule(c.METRIC_TILE_TOTAL, queries.tile_total(since), slo_labels(slo)))
        tile_total = (f"({queries.tile_total(since)})" if self_contained
                      else _recorded_total(slo, c.METRIC_TILE_TOTAL))
        slow.append(RecordingRule(c.METRIC_TILE_BAD, queries.tile_bad(tile_total, since), slo_labels(slo)))
        slow.append(tile_end_rule(slo))
        if raw_windows:
            fast.extend(_events_rules(
                slo, RAW, [(w, queries.total(w)) for w in raw_windows],
                _raw_bad(slo, queries, raw_windows, self_contained)))
            fast.extend(_ratio_rules(slo, RAW, raw_windows))
        totals = [(window_name(s), _tiled_sum(c.METRIC_TILE_TOTAL, slo, s)) for s in long_seconds]
        bads = [(window_name(s), _tiled_sum(c.METRIC_TILE_BAD, slo, s)) for s in long_seconds]
        if isinstance(slo.window, CalendarWindow):
            period = slo.window.unit.value
            totals.append((period, _period_to_date_sum(c.METRIC_TILE_TOTAL, slo, slo.window)))
            bads.append((period, _period_to_date_sum(c.METRIC_TILE_BAD, slo, slo.window)))
            long_windows += (period,)
        if slow_raw:
            slow.extend(_mixed_events_rules(slo, queries, slow_raw, totals, bads, self_contained))
            slow.extend(_ratio_rules(slo, None, slow_raw + long_windows))
        elif long_windows:
            slow.extend(_events_rules(slo, TILES, totals, bads))
            slow.extend(_ratio_rules(slo, TILES, long_windows))
    else:
        # A raw error ratio cannot be summed from tiles: every window re-runs the user's query.
        if raw_windows:
            fast.extend(_ratio_rules(slo, RAW, raw_windows, [(w, queries.error_ratio(w)) for w in raw_windows]))
        if slow_raw or long_windows:
            slow.extend(_ratio_rules(slo, RAW, slow_raw + long_windows,
                                     [(w, queries.error_ratio(w)) for w in slow_raw + long_windows]))
        budget_windows = tuple(w for w in budget_windows if w not in {u.value for u in CalendarUnit})
    slow.append(_budget_rule(slo, budget_windows))
    spec = spec_labels(slo, service)
    slow.extend(_static_rules(slo, service, spec))
    layers = AlertLayers.of(slo, service, spec)
    pages, tickets = budget_alerts(slo, service, layers)
    fast.extend(pages)
    slow.extend(tickets)
    slow.append(_no_data_alert(slo, layers, queries))
    missing = _bucket_missing_alert(slo, service, layers, queries)
    if missing is not None:
        slow.append(missing)
    return (
        RuleGroup(c.group_name(slo.service, slo.name, "fast"), intervals.fast_seconds, tuple(fast)),
        RuleGroup(c.group_name(slo.service, slo.name, "slow"), intervals.slow_seconds, tuple(slow)),
    )


def period_start_series(unit: CalendarUnit, tz: str) -> str:
    pairs = ((c.LABEL_CALENDAR, unit.value), (c.LABEL_TIMEZONE, tz))
    return c.METRIC_PERIOD_START + label_matchers(pairs)


def period_end_series(unit: CalendarUnit, tz: str) -> str:
    pairs = ((c.LABEL_CALENDAR, unit.value), (c.LABEL_TIMEZONE, tz))
    return c.METRIC_PERIOD_END + label_matchers(pairs)


def _local_end_expr(unit: CalendarUnit, local: str) -> str:
    """The next period's start as local wall time, from this one's (``local``): whole local days later."""
    if unit is CalendarUnit.WEEK:
        return f"({local} + {7 * 86400})"
    first = f"days_in_month({local})"
    if unit is CalendarUnit.MONTH:
        return f"({local} + {first} * 86400)"
    second = f"days_in_month({local} + 86400 * {first})"
    third = f"days_in_month({local} + 86400 * ({first} + {second}))"
    return f"({local} + ({first} + {second} + {third}) * 86400)"


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


def compile_calendars(catalog: Catalog, intervals: Intervals = Intervals(),
                      extra_periods: tuple[tuple[str, str], ...] = (),
                      change_zones: tuple[str, ...] = ()) -> RuleGroup | None:
    """One shared group that records each used time zone's UTC offset and each period's start and end
    (``extra_periods``: more (unit, time zone) pairs, the agreements' periods); for ``change_zones`` (those of
    agreements' support hours and exclusions) also the next offset change and the offset after it."""
    periods = sorted({(s.window.unit.value, s.window.timezone) for s in catalog.slos
                      if isinstance(s.window, CalendarWindow)} | set(extra_periods))
    if not periods:
        return None
    rules: list[Rule] = []
    for tz in sorted({tz for _, tz in periods} | set(change_zones)):
        rules.append(RecordingRule(c.METRIC_UTC_OFFSET, checked(f"vector({offset_expr(tz, 'time()')})"),
                                   ((c.LABEL_TIMEZONE, tz),)))
        if tz in change_zones:
            when, before = last_change_exprs(tz, "time()")
            rules.append(RecordingRule(c.METRIC_LAST_OFFSET_CHANGE, checked(f"vector({when})"),
                                       ((c.LABEL_TIMEZONE, tz),)))
            rules.append(RecordingRule(c.METRIC_PREVIOUS_UTC_OFFSET, checked(f"vector({before})"),
                                       ((c.LABEL_TIMEZONE, tz),)))
    for unit_name, tz in periods:
        unit = CalendarUnit(unit_name)
        labels = ((c.LABEL_CALENDAR, unit_name), (c.LABEL_TIMEZONE, tz))
        rules.append(RecordingRule(c.METRIC_PERIOD_START_LOCAL, checked(_local_start_expr(unit, tz)), labels))
        local = c.METRIC_PERIOD_START_LOCAL + label_matchers(labels)
        rules.append(RecordingRule(c.METRIC_PERIOD_START, checked(f"{local} - ({offset_expr(tz, local, local=True)})"),
                                   labels))
        # The end in the offset in force at the end, as the start is in its own: exact across a DST change.
        end = _local_end_expr(unit, local)
        rules.append(RecordingRule(c.METRIC_PERIOD_END, checked(f"{end} - ({offset_expr(tz, end, local=True)})"),
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
