"""Grafana dashboards for the SLOs, built with grafana-foundation-sdk (pure: catalog in, files out).

Dashboards are assembled from the SDK's typed builders, never from hand-written
JSON, so every field we set is one Grafana's schema knows (the SDK is generated
from it); the tests decode each file back into the SDK's model and re-encode it
unchanged. Every query reads the series the generated rules record (names from
:mod:`sloengine.model.conventions`, label values escaped by :func:`sloengine.model.promql.quote`)
and is parsed with the PromQL parser here, after Grafana's own variables are
replaced by sample values, so a dashboard that would show "parse error" is a bug
caught at generation time.

What is written (paths relative to the output directory):

* ``dashboards/sloengine-overview.json``: one table row per SLO, worst status first.
* ``dashboards/sloengine-<service>.json``: one row of panels per SLO of the service.
* ``dashboards/provisioning/dashboards.yaml``: a Grafana file provider for the folder.
* ``dashboards/provisioning/datasources.yaml``: an example Prometheus data source whose uid
  (:data:`DATASOURCE_UID`) is the default of every dashboard's ``datasource`` variable.

Output is deterministic (sorted, stable uids derived from service names, no
timestamps or versions), so it can be committed and compared.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import orjson
import yaml
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import prometheus as prom_m

from ..model import conventions as c
from ..model.calendars import MAX_PERIOD_SECONDS
from ..model.durations import format_duration
from ..model.promql import quote
from ..model.results import Status
from ..model.slo import SLO, AlertSeverity, CalendarUnit, CalendarWindow, Catalog, LatencySLI, ProbeSLI
from ..specs.loader import load_or_raise
from .queries import EventQueries, half_open, label_matchers, number
from .rules import (
    alert_name,
    is_raw_window,
    period_end_series,
    period_start_series,
    rolling_windows,
    series,
    slo_window_names,
)
from .status import (
    AT_RISK_BUDGET_REMAINING,
    CURRENT_BURN_WINDOW_SECONDS,
    PROJECTION_WINDOW_SECONDS,
    RULE,
    Series,
    condition,
    description,
    nearest,
    promql,
)
from .writer import write_tree

# ---- names -------------------------------------------------------------------------------------

DASHBOARDS_DIR = c.DASHBOARDS_DIR
PROVISIONING_DIR = c.DASHBOARD_PROVISIONING_DIR
OVERVIEW_UID = c.DASHBOARD_OVERVIEW_UID
UID_PREFIX = c.DASHBOARD_UID_PREFIX
#: Grafana refuses dashboard uids longer than this, or with characters other than these.
UID_MAX_LENGTH = 40
UID_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
#: Every dashboard carries this tag: the "SLO dashboards" link lists them, and generated files are recognisable.
TAG = DASHBOARD_TAG = c.DASHBOARD_TAG

#: uid of the example data source in ``provisioning/datasources.yaml``, the default of the ``datasource`` variable.
DATASOURCE_UID = c.DASHBOARD_DATASOURCE_UID
DATASOURCE_NAME = "Prometheus (sloengine)"
DATASOURCE_TYPE = "prometheus"
#: Where the provider reads the JSON files; the provisioning file says to copy them there (or to edit it).
PROVISIONED_PATH = "/var/lib/grafana/dashboards/sloengine"

VAR_DATASOURCE = "datasource"
VAR_SERVICE = "service"
VAR_SLO = "slo"

# Prometheus's own names for alert state series (not sloengine's, so not in conventions).
ALERTS_METRIC = "ALERTS"
LABEL_ALERTNAME = "alertname"
LABEL_ALERTSTATE = "alertstate"
FIRING = "firing"
PENDING = "pending"

#: The overview's "current" burn rate: over the last hour, the workbook's fastest page window.
CURRENT_BURN_WINDOW = format_duration(CURRENT_BURN_WINDOW_SECONDS)
DEFAULT_TIME_FROM = "now-7d"
REFRESH = "1m"

#: Status codes of the overview (worst highest, so sorting descending puts trouble first). Which status an SLO
#: has is :mod:`sloengine.compiler.status`'s rule, the one `report` follows (a failed query is Grafana's own error).
STATUS_CODES = {Status.OK: 0, Status.AT_RISK: 1, Status.BREACHED: 2, Status.NO_DATA: 3}
STATUS_OK, STATUS_AT_RISK, STATUS_BREACHED, STATUS_NO_DATA = (
    STATUS_CODES[s] for s in (Status.OK, Status.AT_RISK, Status.BREACHED, Status.NO_DATA))
STATUS_TEXT = {STATUS_OK: ("OK", "green"), STATUS_AT_RISK: ("At risk", "orange"),
               STATUS_BREACHED: ("Breached", "red"), STATUS_NO_DATA: ("No data", "purple")}

#: Grafana's variables (ours and its built-ins) replaced by sample values before a query is parsed here.
SAMPLE_VARIABLES: dict[str, str] = {
    "${__from:date:seconds}": "1700000000",
    "${__to:date:seconds}": "1702419200",
    "$__range_s": "2419200",
    "$__range": "2419200s",
    "$__rate_interval": "2m",
    "$__interval": "1m",
    f"${VAR_SERVICE}": ".+",
    f"${VAR_SLO}": ".+",
}

_FROM_S = "${__from:date:seconds}"
_TO_S = "${__to:date:seconds}"
_RANGE = "$__range"
_RANGE_S = "$__range_s"


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with Grafana variables replaced (longest names first, so ``$__range_s`` is not cut short)."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(name, values[name])
    return expr


def checked(expr: str) -> str:
    """A dashboard query as built. It is not parsed here (generating thousands of panels would spend its time
    re-reading its own output): tests/test_generated_promql.py parses every query with Grafana's variables
    filled in (:data:`SAMPLE_VARIABLES`)."""
    return expr


def service_uid(service: str) -> str:
    """``sloengine-<service>`` when Grafana accepts it as a uid (this is what ``dashboard_url`` annotations
    can point at); else a readable stem plus a hash of the name, so distinct services never collide."""
    plain = UID_PREFIX + service
    if len(plain) <= UID_MAX_LENGTH and UID_CHARS.match(plain):
        return plain
    digest = hashlib.sha256(service.encode()).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", service)[: UID_MAX_LENGTH - len(UID_PREFIX) - len(digest) - 1]
    return f"{UID_PREFIX}{stem}-{digest}"


def dashboard_path(uid: str) -> str:
    return f"{DASHBOARDS_DIR}/{uid}.json"


# ---- small helpers ---------------------------------------------------------------------------


def _ds() -> dash_m.DataSourceRef:
    return dash_m.DataSourceRef(type_val=DATASOURCE_TYPE, uid="${" + VAR_DATASOURCE + "}")


def _target(expr: str, ref: str, *, legend: str | None = None, instant: bool = False,
            table: bool = False) -> prom_b.Dataquery:
    query = prom_b.Dataquery().expr(checked(expr)).ref_id(ref).datasource(_ds())
    query = query.instant() if instant else query.range()
    if table:
        query = query.format(prom_m.PromQueryFormat.TABLE)
    if legend is not None:
        query = query.legend_format(legend)
    return query


def _refs() -> Callable[[], str]:
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return lambda: next(letters)


def _thresholds(*steps: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    return dash_b.ThresholdsConfig().mode(dash_m.ThresholdsMode.ABSOLUTE).steps(
        [dash_m.Threshold(value=value, color=colour) for value, colour in steps])


def _legend_prefix(slo: SLO) -> str:
    """``{{route}} `` for grouped SLIs, so each group's line is named; empty otherwise."""
    return "".join("{{" + label + "}} " for label in slo.sli.group_by)


def _format_seconds(seconds: float) -> str:
    """A latency threshold as people say it: ``300 ms``, ``1.5 s``."""
    if seconds < 1:
        return f"{seconds * 1000:g} ms"
    return f"{seconds:g} s"


def _percent(objective: float) -> str:
    return f"{objective:g}%"


def _regex_alternatives(values: Sequence[str]) -> str:
    return "|".join(re.escape(v) for v in sorted(set(values)))


def _by(labels: Sequence[str]) -> str:
    return ", ".join(labels)


SLO_KEY = (c.LABEL_SERVICE, c.LABEL_SLO)


# ---- the status table (overview, and each service dashboard's header) ------------------------


@dataclass(frozen=True)
class TableScope:
    """Which SLOs a status table covers: label matchers on ``service`` and ``slo`` (escaped, may hold variables)."""

    service: str
    slo: str

    def matchers(self) -> str:
        return f"{self.service},{self.slo}"

    def of(self, metric: str, *extra: str) -> str:
        return metric + "{" + ",".join((self.matchers(),) + extra) + "}"


def _variable_scope() -> TableScope:
    return TableScope(f"{c.LABEL_SERVICE}=~{quote('$' + VAR_SERVICE)}", f"{c.LABEL_SLO}=~{quote('$' + VAR_SLO)}")


def _slo_window(metric: str, catalog: Catalog, scope: TableScope) -> str:
    """``metric`` over each SLO's own window, for all SLOs in one query.

    ``slo:info`` carries the window's name, so ``and on(service, slo, window)``
    keeps exactly that window of every SLO: the query needs no list of SLOs
    and stays short however many there are. The only SLOs whose recorded budget
    window differs from their name are calendar SLOs with a raw error-ratio SLI
    (no period-to-date without counts: their rolling equivalent is used); they
    are added by name.
    """
    key = _by(SLO_KEY + (c.LABEL_WINDOW,))
    expr = f"{scope.of(metric)} and on({key}) {scope.of(c.METRIC_INFO)}"
    for slo in catalog.slos:
        if budget_window(slo) != slo.window.name:
            expr += (f" or ({series(metric, slo, budget_window(slo))} and on({_by(SLO_KEY)}) "
                     f"{scope.of(c.METRIC_INFO)})")
    return expr


def _current_burn(catalog: Catalog, scope: TableScope) -> str:
    """Burn rate over :data:`CURRENT_BURN_WINDOW`; an SLO that records no such window uses its nearest one."""
    expr = scope.of(c.METRIC_BURN_RATE, f"{c.LABEL_WINDOW}={quote(CURRENT_BURN_WINDOW)}")
    for slo in catalog.slos:
        windows = rolling_windows(slo)
        if CURRENT_BURN_WINDOW_SECONDS not in windows:
            window = format_duration(int(nearest(windows, CURRENT_BURN_WINDOW_SECONDS)))
            expr += (f" or ({series(c.METRIC_BURN_RATE, slo, window)} and on({_by(SLO_KEY)}) "
                     f"{scope.of(c.METRIC_INFO)})")
    return expr


def _alert_names(catalog: Catalog) -> str:
    return _regex_alternatives([alert_name(s) for s in catalog.slos] + [c.ALERT_EXHAUSTED, c.ALERT_NO_DATA])


def _firing(catalog: Catalog, scope: TableScope, *extra: str) -> str:
    return scope.of(ALERTS_METRIC, f"{LABEL_ALERTNAME}=~{quote(_alert_names(catalog))}",
                    f"{LABEL_ALERTSTATE}={quote(FIRING)}", *extra)


def _burning(catalog: Catalog, scope: TableScope) -> str:
    """Burn-rate alerts whose condition holds, pending or firing: `report`'s "burning" is the condition itself
    (the two windows' burn rates), with no ``for`` to wait out."""
    names = _regex_alternatives([alert_name(s) for s in catalog.slos])
    return scope.of(ALERTS_METRIC, f"{LABEL_ALERTNAME}=~{quote(names)}",
                    f"{LABEL_ALERTSTATE}=~{quote(_regex_alternatives([PENDING, FIRING]))}",
                    f"{c.LABEL_LONG_WINDOW}!={quote('')}")  # burn-rate alerts carry their windows; others do not


def _projected_budget_remaining(catalog: Catalog, scope: TableScope) -> str | None:
    """Budget left at the end of the calendar period if the last day's rates go on, the worst group's per SLO:
    `report`'s projection (:func:`sloengine.engine.figures._period`), the same arithmetic on the recorded series.

    Events so far plus the recent window's events per second times the seconds
    left, bad over total, over the error budget. One term per kind of period
    (unit, time zone and recent window), not per SLO, so the query stays short
    however many SLOs there are; a term names its SLOs only when another kind
    shares its unit. Calendar SLOs with a raw error-ratio SLI record no period
    to date (their row shows their rolling equivalent), so they have no
    projection. None when no SLO in ``catalog`` has one.
    """
    by = _by(SLO_KEY)
    ours = f"{c.LABEL_WINDOW}, {c.LABEL_WINDOW_SOURCE}"
    kinds: dict[tuple[str, str, int], list[SLO]] = {}
    for slo in catalog.slos:
        if isinstance(slo.window, CalendarWindow) and budget_window(slo) == slo.window.name:
            recent = int(nearest(rolling_windows(slo), PROJECTION_WINDOW_SECONDS))
            kinds.setdefault((slo.window.unit.value, slo.window.timezone, recent), []).append(slo)
    units = Counter(unit for unit, _, _ in kinds)
    parts = []
    for (unit, tz, recent), members in sorted(kinds.items()):
        left = f"scalar(clamp_min({period_end_series(CalendarUnit(unit), tz)} - time(), 0))"
        bad, total = (f"{scope.of(metric, f'{c.LABEL_WINDOW}={quote(unit)}')} + ignoring({ours}) "
                      f"{scope.of(metric, f'{c.LABEL_WINDOW}={quote(format_duration(recent))}')} / {recent} * {left}"
                      for metric in (c.METRIC_BAD, c.METRIC_TOTAL))
        error_ratio = f"({bad}) / ({total} > 0)"
        part = f"1 - {error_ratio} / on({by}) group_left() {scope.of(c.METRIC_ERROR_BUDGET)}"
        if units[unit] > 1:
            part = f"({part}) and on({by}) ({_members(members)})"
        parts.append(part)
    if not parts:
        return None
    return f"min by ({by}) ({' or '.join(parts)})"


def _members(slos: Sequence[SLO]) -> str:
    """``slo:info`` of exactly these SLOs: one selector per service."""
    names: dict[str, list[str]] = {}
    for slo in slos:
        names.setdefault(slo.service, []).append(slo.name)
    return " or ".join(f"{c.METRIC_INFO}{{{c.LABEL_SERVICE}={quote(service)},"
                       f"{c.LABEL_SLO}=~{quote(_regex_alternatives(names[service]))}}}" for service in sorted(names))


def status_series(catalog: Catalog, scope: TableScope) -> Series:
    """What the status rule reads, for the SLOs of a table (grouped SLIs reduced to their worst group)."""
    by = _by(SLO_KEY)
    return Series(
        slos=scope.of(c.METRIC_INFO),
        sli=_slo_window(c.METRIC_ERROR_RATIO, catalog, scope),
        budget_remaining=f"min by ({by}) ({_slo_window(c.METRIC_BUDGET_REMAINING, catalog, scope)})",
        burning=_burning(catalog, scope),
        projected_budget_remaining=_projected_budget_remaining(catalog, scope),
    )


def status_description(catalog: Catalog, scope: TableScope) -> str:
    """The status rule in words, naming only the cases these SLOs can meet (no projection without a calendar
    period)."""
    statuses = status_series(catalog, scope)
    shown = {status: STATUS_TEXT[code][0] for status, code in STATUS_CODES.items()}
    names = {status: text if text.isupper() else text.lower() for status, text in shown.items()}
    cases = [case for case in RULE if condition(case, statuses, _by(SLO_KEY)) is not None]
    return description(names, cases)


@dataclass(frozen=True)
class Column:
    title: str
    expr: str
    unit: str = ""
    decimals: int | None = None


def status_columns(catalog: Catalog, scope: TableScope) -> tuple[Column, ...]:
    """The status table's value columns, one instant query each, every one reduced to one row per SLO.

    Grouped SLIs (one series per ``route``, say) are reduced to their worst
    group, so the queries share the labels ``service, slo`` and the table's
    merge joins them into one row per SLO.
    """
    by = _by(SLO_KEY)
    statuses = status_series(catalog, scope)
    err, budget = statuses.sli, statuses.budget_remaining
    every = f"group by ({by}) ({scope.of(c.METRIC_INFO)})"
    return (
        Column("Status", promql(statuses, STATUS_CODES, SLO_KEY)),
        Column("Objective", f"max by ({by}) ({scope.of(c.METRIC_OBJECTIVE)})", "percentunit", 3),
        Column("SLI", f"1 - max by ({by}) ({err})", "percentunit", 3),
        Column("Budget remaining", budget, "percentunit", 1),
        Column(f"Burn rate ({CURRENT_BURN_WINDOW})", f"max by ({by}) ({_current_burn(catalog, scope)})", "x", 2),
        Column("Firing alerts", f"count by ({by}) ({_firing(catalog, scope)}) or on({by}) {STATUS_OK} * {every}",
               "none", 0),
    )


def _table_height(rows: int) -> int:
    """Grid units for a table of ``rows`` rows plus its header, so no SLO hides below a scroll bar."""
    return max(5, 3 + rows)


def budget_window(slo: SLO) -> str:
    """The window an SLO's budget is recorded for: its own (``28d``; ``month``, the period so far), or for a
    calendar SLO without event counts (a raw error ratio has no period-to-date) the rolling equivalent."""
    names = slo_window_names(slo)
    if EventQueries(slo.sli).counts_events:
        return names[0]
    return [w for w in names if w not in {u.value for u in CalendarUnit}][0]


def _links_ok(catalog: Catalog) -> bool:
    """A cell can link to ``/d/sloengine-<service>`` only when every service's uid has that plain form."""
    return all(service_uid(s) == UID_PREFIX + s for s in {slo.service for slo in catalog.slos})


def status_table(catalog: Catalog, scope: TableScope, title: str, height: int) -> table_b.Panel:
    """Every SLO in ``scope`` with its objective, SLI and budget over its window, burn rate, firing alerts and
    status; sorted worst first (click a header to re-sort), the status and budget cells coloured."""
    columns = status_columns(catalog, scope)
    ref = _refs()
    refs = [ref() for _ in columns]
    panel = (table_b.Panel().title(title).datasource(_ds()).height(height).span(24)
             .description("Instant values over each SLO's own window; grouped SLIs show their worst group. "
                          f"Status: {status_description(catalog, scope)}.")
             .sort_by([common_b.TableSortByFieldState().display_name("Status").desc(True)])
             .filterable(False).align(common_m.FieldTextAlignment.AUTO).inspect(False))
    for letter, column in zip(refs, columns):
        panel = panel.with_target(_target(column.expr, letter, instant=True, table=True))
    rename = {f"Value #{letter}": column.title for letter, column in zip(refs, columns)}
    order = [c.LABEL_SERVICE, c.LABEL_SLO] + [column.title for column in columns]
    panel = (panel
             .with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
             .with_transformation(dash_m.DataTransformerConfig(id_val="organize", options={
                 "excludeByName": {"Time": True},
                 "indexByName": {name: i for i, name in enumerate(order)},
                 "renameByName": rename,
             })))
    status_mapping = dash_m.ValueMap(options={
        str(code): dash_m.ValueMappingResult(text=text, color=colour, index=code)
        for code, (text, colour) in sorted(STATUS_TEXT.items())})
    panel = panel.override_by_name("Status", [
        dash_m.DynamicConfigValue(id_val="mappings", value=[status_mapping]),
        dash_m.DynamicConfigValue(id_val="custom.cellOptions",
                                  value=common_m.TableColoredBackgroundCellOptions()),
    ])
    for column in columns[1:]:
        props = [dash_m.DynamicConfigValue(id_val="unit", value=column.unit)]
        if column.decimals is not None:
            props.append(dash_m.DynamicConfigValue(id_val="decimals", value=column.decimals))
        if column.title == "Budget remaining":
            props += [
                dash_m.DynamicConfigValue(id_val="thresholds", value=_thresholds(
                    (None, "red"), (0, "orange"), (AT_RISK_BUDGET_REMAINING, "green")).build()),
                dash_m.DynamicConfigValue(id_val="custom.cellOptions", value=common_m.TableColorTextCellOptions()),
            ]
        panel = panel.override_by_name(column.title, props)
    if _links_ok(catalog):
        link = (dash_b.DashboardLink("Open the ${__value.raw} dashboard")
                .url("/d/" + UID_PREFIX + "${__value.raw}?${" + VAR_DATASOURCE + ":queryparam}"))
        panel = panel.override_by_name(c.LABEL_SERVICE, [dash_m.DynamicConfigValue(id_val="links",
                                                                                   value=[link.build()])])
    return panel


# ---- per-SLO panels ---------------------------------------------------------------------------


def _sli_label(slo: SLO) -> str:
    if isinstance(slo.sli, LatencySLI):
        return f"within {_format_seconds(slo.sli.threshold_seconds)}"
    return "SLI"


def sli_panel(slo: SLO) -> ts_b.Panel:
    """The SLI over the SLO's window (period to date for calendar SLOs) and over the last hour, against the
    objective. For a latency SLO the SLI *is* the share of requests under the threshold, so the title says so."""
    ref = _refs()
    window = budget_window(slo)
    prefix = _legend_prefix(slo)
    short = format_duration(CURRENT_BURN_WINDOW_SECONDS) if CURRENT_BURN_WINDOW_SECONDS in rolling_windows(slo) \
        else format_duration(rolling_windows(slo)[0])
    title = (f"Requests within {_format_seconds(slo.sli.threshold_seconds)} vs objective {_percent(slo.objective)}"
             if isinstance(slo.sli, LatencySLI) else f"SLI vs objective {_percent(slo.objective)}")
    return (ts_b.Panel().title(title).datasource(_ds()).height(8).span(12).unit("percentunit").decimals(3)
            .line_width(2)
            .description(f"Good events ÷ all events over the SLO window ({window}) and over {short}; "
                         "the dashed line is the objective.")
            .with_target(_target(f"1 - {series(c.METRIC_ERROR_RATIO, slo, window)}", ref(),
                                 legend=f"{prefix}{_sli_label(slo)} ({window})"))
            .with_target(_target(f"1 - {series(c.METRIC_ERROR_RATIO, slo, short)}", ref(),
                                 legend=f"{prefix}{_sli_label(slo)} ({short})"))
            .with_target(_target(series(c.METRIC_OBJECTIVE, slo), ref(), legend="objective"))
            .override_by_name("objective", [
                dash_m.DynamicConfigValue(id_val="custom.lineStyle", value=common_m.LineStyle(
                    fill="dash", dash=[10, 10])),
                dash_m.DynamicConfigValue(id_val="color", value=dash_m.FieldColor(
                    mode=dash_m.FieldColorModeId.FIXED, fixed_color="red")),
            ]))


def _period_length(window: CalendarWindow, at_end: bool) -> str:
    """Seconds in the current calendar period (a vector labelled like the period start).

    Months and quarters are counted in local days (``days_in_month`` of the
    local start); a daylight-saving change inside the period makes the real
    length an hour shorter or longer, which moves the ideal line by under 0.2%.
    """
    pairs = ((c.LABEL_CALENDAR, window.unit.value), (c.LABEL_TIMEZONE, window.timezone))
    local = c.METRIC_PERIOD_START_LOCAL + label_matchers(pairs) + (" @ end()" if at_end else "")
    if window.unit is CalendarUnit.WEEK:
        return f"(0 * ({local}) + {7 * 86400})"
    first = f"days_in_month({local})"
    if window.unit is CalendarUnit.MONTH:
        return f"({first} * 86400)"
    second = f"days_in_month({local} + 86400 * {first})"
    third = f"days_in_month({local} + 86400 * ({first} + {second}))"
    return f"(({first} + {second} + {third}) * 86400)"


def burn_down_panel(slo: SLO) -> ts_b.Panel:
    """Error budget burn-down over the window, with the ideal linear burn.

    The budget is counted in events: the objective allows ``error budget ×
    events in the window`` bad events. At each moment ``t`` the line shows the
    share of that allowance not yet spent by the bad events since the window
    began; the ideal line falls linearly from 100% at the window's start to 0
    at its end, which is exactly where a steady burn of 1× lands. Above the
    line means budget to spare, below it a burn faster than the budget allows.

    * Rolling window W: the panel shows the last W (a relative-time override),
      so the window is the panel's range and its events are known; at the end
      the line equals the recorded ``slo:error_budget_remaining:ratio``.
    * Calendar window: the current period, from its start (the recorded
      ``slo:calendar_period_start:timestamp``) to its end, shown over the
      longest such period so the whole of it fits. Its events are only known
      when it is over, so the allowance is the budget × the events so far
      extrapolated to the whole period at the average rate so far: a steady 1×
      burn then follows the ideal line to 0 at the period's end. (The recorded
      period-to-date budget, in the period-to-date panel, counts the events so
      far instead: it says whether the SLO is met *now*.)
    * Raw error-ratio SLIs record no counts: the line is the recorded budget
      remaining of the window ending at each moment instead.

    Bad events come from the tiles (a subquery at 5-minute steps over the
    panel's range sums the tiles recorded in each 5-minute slot), the window's
    events from the recorded total at the range's end (``@ end()``).
    """
    ref = _refs()
    budget = number(slo.error_budget)
    ours = _by((c.LABEL_WINDOW, c.LABEL_WINDOW_SOURCE))
    # Bad events per 5-minute slot (the tiles recorded in it), so each tile counts once at any slow interval.
    tile = f"sum_over_time({series(c.METRIC_TILE_BAD, slo)}[{half_open(format_duration(c.TILE_SECONDS))}])"
    step = format_duration(c.TILE_SECONDS)
    counts = EventQueries(slo.sli).counts_events
    if isinstance(slo.window, CalendarWindow) and counts:
        start = f"({period_start_series(slo.window.unit, slo.window.timezone)} @ end())"
        since = f"{tile} and (timestamp({tile}) - {c.TILE_SECONDS} >= on() group_left() {start})"
        length = _period_length(slo.window, at_end=True)
        so_far = f"({series(c.METRIC_TOTAL, slo, slo.window.unit.value)} @ end())"
        events = f"{so_far} * on() group_left() ({length} / ({_TO_S} - {start}))"
        ideal = f"(1 - (time() - {start}) / {length}) <= 1"
        span = format_duration(MAX_PERIOD_SECONDS[slo.window.unit])
        what = f"this {slo.window.unit.value}"
        counted = f"events expected this {slo.window.unit.value} (so far, extrapolated)"
    else:
        since = f"{tile} and (timestamp({tile}) - {c.TILE_SECONDS} >= {_FROM_S})"
        events = f"({series(c.METRIC_TOTAL, slo, slo_window_names(slo)[-1])} @ end())"
        ideal = f"1 - (time() - {_FROM_S}) / {_RANGE_S}"
        span = format_duration(slo.window.nominal_seconds)
        what = f"the last {span}"
        counted = "events in the window"
    if counts:
        spent = f"sum_over_time(({since})[{_RANGE}:{step}])"
        left = f"1 - {spent} / ignoring({ours}) ({budget} * {events})"
        description = (f"Share of the error budget of {what} not yet spent at each moment: 1 − bad events since "
                       f"it began ÷ ({budget} × {counted}). Dashed: the ideal linear burn, reaching 0 at the end.")
    else:
        left = series(c.METRIC_BUDGET_REMAINING, slo, slo_window_names(slo)[-1])
        description = ("This SLI has no event counts (a raw error ratio): the line is the budget remaining of the "
                       "window ending at each moment. Dashed: a linear burn over the window.")
    return (ts_b.Panel().title(f"Error budget burn-down ({what})").datasource(_ds()).height(8).span(12)
            .time_from(span).unit("percentunit").decimals(1).max_data_points(200).description(description)
            .with_target(_target(left, ref(), legend=f"{_legend_prefix(slo)}budget left"))
            .with_target(_target(ideal, ref(), legend="ideal"))
            .thresholds(_thresholds((None, "red"), (0, "transparent")))
            .thresholds_style(common_b.GraphThresholdsStyleConfig().mode(common_m.GraphThresholdsStyleMode.LINE))
            .override_by_name("ideal", [
                dash_m.DynamicConfigValue(id_val="custom.lineStyle", value=common_m.LineStyle(
                    fill="dash", dash=[10, 10])),
                dash_m.DynamicConfigValue(id_val="color", value=dash_m.FieldColor(
                    mode=dash_m.FieldColorModeId.FIXED, fixed_color="text")),
            ]))


def burn_rate_panels(slo: SLO) -> list[ts_b.Panel]:
    """One panel per alert condition: the burn rate over its long and short windows against its burn factor
    (the dashed threshold line); the alert fires when both lines are above it (and ``for`` has passed)."""
    panels = []
    conditions = slo.alerting.conditions
    width = max(6, 24 // max(len(conditions), 1))
    for cond in conditions:
        ref = _refs()
        long_w, short_w = format_duration(cond.long_seconds), format_duration(cond.short_seconds)
        factor = number(cond.burn_factor)
        prefix = _legend_prefix(slo)
        panels.append(
            ts_b.Panel().title(f"Burn rate {long_w} / {short_w}: {cond.severity.value} above {factor}×")
            .datasource(_ds()).height(7).span(width).unit("x").min(0)
            .description(f"Error ratio ÷ error budget over {long_w} and {short_w}. {cond.severity.value.title()} "
                         f"when both exceed {factor} ({cond.budget_percent:.3g}% of the budget in {long_w}).")
            .with_target(_target(series(c.METRIC_BURN_RATE, slo, long_w), ref(), legend=f"{prefix}{long_w}"))
            .with_target(_target(series(c.METRIC_BURN_RATE, slo, short_w), ref(), legend=f"{prefix}{short_w}"))
            .thresholds(_thresholds((None, "green"), (cond.burn_factor,
                                                      "red" if cond.severity is AlertSeverity.PAGE else "orange")))
            .thresholds_style(common_b.GraphThresholdsStyleConfig().mode(common_m.GraphThresholdsStyleMode.DASHED)))
    return panels


def _event_words(slo: SLO) -> tuple[str, str]:
    if isinstance(slo.sli, LatencySLI):
        return "requests", f"slower than {_format_seconds(slo.sli.threshold_seconds)}"
    if isinstance(slo.sli, ProbeSLI):
        return "probe samples", "failed probes"
    return "events", "bad events"


def traffic_panel(slo: SLO, width: int) -> ts_b.Panel:
    """Events and bad events per second over the shortest recorded raw window (the live view: recorded every
    30s); an SLO whose windows are all long reads its 5-minute tiles."""
    raw = [s for s in rolling_windows(slo) if is_raw_window(s)]
    if raw:
        seconds = raw[0]
        total = series(c.METRIC_TOTAL, slo, format_duration(seconds))
        bad = series(c.METRIC_BAD, slo, format_duration(seconds))
    else:
        seconds = c.TILE_SECONDS
        total, bad = series(c.METRIC_TILE_TOTAL, slo), series(c.METRIC_TILE_BAD, slo)
    ref = _refs()
    prefix = _legend_prefix(slo)
    all_word, bad_word = _event_words(slo)
    return (ts_b.Panel().title("Traffic and errors").datasource(_ds()).height(7).span(width).unit("short").min(0)
            .axis_label("per second")
            .description(f"{all_word.capitalize()} and {bad_word} per second, averaged over "
                         f"{format_duration(seconds)}.")
            .with_target(_target(f"{total} / {seconds}", ref(), legend=f"{prefix}{all_word}"))
            .with_target(_target(f"{bad} / {seconds}", ref(), legend=f"{prefix}{bad_word}"))
            .override_by_regexp(f".*{re.escape(bad_word)}$", [dash_m.DynamicConfigValue(
                id_val="color", value=dash_m.FieldColor(mode=dash_m.FieldColorModeId.FIXED, fixed_color="red"))]))


def period_to_date_panel(slo: SLO) -> stat_b.Panel:
    """Calendar SLOs: the SLI and budget left for the period so far, and how much of the period has passed
    (budget left well below the share of the period still to come means the period will likely miss)."""
    assert isinstance(slo.window, CalendarWindow)
    unit = slo.window.unit.value
    ref = _refs()
    start = period_start_series(slo.window.unit, slo.window.timezone)
    elapsed = f"(time() - {start}) / {_period_length(slo.window, at_end=False)}"
    return (stat_b.Panel().title(f"{unit.capitalize()} to date ({slo.window.timezone})").datasource(_ds())
            .height(7).span(6).unit("percentunit").decimals(2)
            .description(f"Since the {unit} began at local midnight in {slo.window.timezone}.")
            .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME).graph_mode(common_m.BigValueGraphMode.NONE)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
            .with_target(_target(f"1 - {series(c.METRIC_ERROR_RATIO, slo, unit)}", ref(), instant=True,
                                 legend=f"{_legend_prefix(slo)}SLI"))
            .with_target(_target(series(c.METRIC_BUDGET_REMAINING, slo, unit), ref(), instant=True,
                                 legend=f"{_legend_prefix(slo)}budget left"))
            .with_target(_target(elapsed, ref(), instant=True, legend=f"{unit} elapsed")))


def latency_panel(slo: SLO) -> stat_b.Panel:
    """Latency SLOs: the threshold and the share of requests under it over the SLO window and the last 5 minutes
    (coloured against the objective)."""
    assert isinstance(slo.sli, LatencySLI)
    threshold = _format_seconds(slo.sli.threshold_seconds)
    window = budget_window(slo)
    short = format_duration(rolling_windows(slo)[0])
    ref = _refs()
    prefix = _legend_prefix(slo)
    return (stat_b.Panel().title(f"Share under the {threshold} threshold").datasource(_ds()).height(7).span(6)
            .unit("percentunit").decimals(2)
            .description(f"Requests answered within {threshold} (histogram bucket le={slo.sli.threshold_seconds:g}) "
                         f"÷ all requests. Objective {_percent(slo.objective)}.")
            .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME).graph_mode(common_m.BigValueGraphMode.AREA)
            .color_mode(common_m.BigValueColorMode.VALUE)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
            .thresholds(_thresholds((None, "red"), (slo.target, "green")))
            .with_target(_target(f"1 - {series(c.METRIC_ERROR_RATIO, slo, window)}", ref(),
                                 legend=f"{prefix}≤ {threshold} ({window})"))
            .with_target(_target(f"1 - {series(c.METRIC_ERROR_RATIO, slo, short)}", ref(),
                                 legend=f"{prefix}≤ {threshold} ({short})")))


def slo_panels(slo: SLO) -> list:
    """The panels of one SLO's row, in reading order: state, burn, then traffic."""
    counts = EventQueries(slo.sli).counts_events
    extras = []
    if isinstance(slo.window, CalendarWindow) and counts:
        extras.append(period_to_date_panel(slo))
    if isinstance(slo.sli, LatencySLI):
        extras.append(latency_panel(slo))
    panels: list = [sli_panel(slo), burn_down_panel(slo), *burn_rate_panels(slo)]
    if counts:
        panels.append(traffic_panel(slo, 24 - 6 * len(extras)))
    panels.extend(extras)
    return panels


# ---- dashboards -------------------------------------------------------------------------------


def _datasource_variable() -> dash_b.DatasourceVariable:
    return (dash_b.DatasourceVariable(VAR_DATASOURCE).label("Data source").type(DATASOURCE_TYPE)
            .current(dash_m.VariableOption(text=DATASOURCE_NAME, value=DATASOURCE_UID)))


def _query_variable(name: str, label: str, query: str) -> dash_b.QueryVariable:
    return (dash_b.QueryVariable(name).label(label).datasource(_ds()).query(query)
            .multi(True).include_all(True).all_value(".+")
            .current(dash_m.VariableOption(text="All", value="$__all"))
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dash_m.VariableSort.ALPHABETICAL_ASC))


def _label_values(selector: str, label: str) -> str:
    """Grafana's variable query (not PromQL: only the selector inside is checked by the parser)."""
    return f"label_values({checked(selector)}, {label})"


def _base(title: str, uid: str, description: str, timezone: str = "browser") -> dash_b.Dashboard:
    return (dash_b.Dashboard(title).uid(uid).description(description).tags([TAG, "slo"])
            .readonly().time(DEFAULT_TIME_FROM, "now").refresh(REFRESH).timezone(timezone).week_start("monday")
            .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
            .link(dash_b.DashboardLink("SLO dashboards").type(dash_m.DashboardLinkType.DASHBOARDS).tags([TAG])
                  .as_dropdown(True).include_vars(False).keep_time(True)))


def _numbered(dashboard: dash_m.Dashboard) -> dash_m.Dashboard:
    """Panel ids 1, 2, ... in layout order (Grafana needs them unique; stable ids keep the JSON stable)."""
    for index, panel in enumerate(dashboard.panels or [], start=1):
        panel.id_val = index
    return dashboard


def _alerts_annotation(catalog: Catalog, scope: TableScope) -> dash_b.AnnotationQuery:
    """Firing SLO alerts as annotations on every time series panel (a region while an alert fires)."""
    return (dash_b.AnnotationQuery().name("SLO alerts firing").datasource(_ds()).enable(True).hide(False)
            .icon_color("red").expr(checked(_firing(catalog, scope))))


def overview_dashboard(catalog: Catalog) -> dash_m.Dashboard:
    """Every SLO in one table (filtered by the service and SLO variables), worst status first."""
    scope = _variable_scope()
    board = (_base("SLOs: overview", OVERVIEW_UID,
                   "Every SLO: objective, SLI, error budget, burn rate, status and firing alerts. "
                   "Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.")
             .with_variable(_datasource_variable())
             .with_variable(_query_variable(VAR_SERVICE, "Service", _label_values(c.METRIC_INFO, c.LABEL_SERVICE)))
             .with_variable(_query_variable(VAR_SLO, "SLO", _label_values(
                 f"{c.METRIC_INFO}{{{c.LABEL_SERVICE}=~{quote('$' + VAR_SERVICE)}}}", c.LABEL_SLO)))
             .annotation(_alerts_annotation(catalog, scope))
             .with_panel(status_table(catalog, scope, "Service level objectives", _table_height(len(catalog.slos)))))
    return _numbered(board.build())


def _service_timezone(slos: Sequence[SLO]) -> str:
    """The calendar SLOs' zone when they share one (period boundaries then fall on the axis's midnights)."""
    zones = {s.window.timezone for s in slos if isinstance(s.window, CalendarWindow)}
    return zones.pop() if len(zones) == 1 else "browser"


def service_dashboard(catalog: Catalog, service: str) -> dash_m.Dashboard:
    """One service: its status table, then a row per SLO with the SLI, burn-down, burn rates and traffic."""
    slos = [s for s in catalog.slos if s.service == service]
    info = catalog.service(service)
    scope = TableScope(f"{c.LABEL_SERVICE}={quote(service)}", f"{c.LABEL_SLO}=~{quote('$' + VAR_SLO)}")
    sub = Catalog(services=tuple(s for s in catalog.services if s.name == service), slos=tuple(slos))
    about = (info.description + " " if info and info.description else "") + (
        f"Team {info.team}. " if info and info.team else "")
    board = (_base(f"SLOs: {service}", service_uid(service),
                   f"{about}Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.",
                   _service_timezone(slos))
             .with_variable(_datasource_variable())
             .with_variable(_query_variable(VAR_SLO, "SLO", _label_values(
                 f"{c.METRIC_INFO}{{{c.LABEL_SERVICE}={quote(service)}}}", c.LABEL_SLO)))
             .annotation(_alerts_annotation(sub, scope))
             .with_panel(status_table(sub, scope, f"{service}: service level objectives", _table_height(len(slos)))))
    for slo in slos:
        heading = f"{slo.name}: {_percent(slo.objective)} over {slo.window.name}"
        if isinstance(slo.sli, LatencySLI):
            heading += f", requests within {_format_seconds(slo.sli.threshold_seconds)}"
        board = board.with_row(dash_b.Row(heading))
        for panel in slo_panels(slo):
            board = board.with_panel(panel)
    return _numbered(board.build())


# ---- files ------------------------------------------------------------------------------------


def encode(dashboard: dash_m.Dashboard) -> str:
    """The dashboard as Grafana reads it: sorted keys, two-space indent, final newline (stable for diffs).

    orjson writes the same bytes as ``json`` with ``indent=2, sort_keys=True, ensure_ascii=False``, about a
    hundred times faster (the standard library's encoder is pure Python once it indents): with thousands of
    SLOs, encoding the dashboards was the largest part of ``generate``."""
    return orjson.dumps(dashboard, default=_SDK_ENCODER.default,
                        option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode("utf-8") + "\n"


#: Turns the SDK's builder objects into plain values for the encoder.
_SDK_ENCODER = JSONEncoder()


def decode(text: str) -> dash_m.Dashboard:
    """A dashboard JSON file read back into the SDK's model (panel options and queries typed by plugin)."""
    register_default_plugins()
    return dash_m.Dashboard.from_json(json.loads(text))


PROVISIONING_HEADER = "# Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.\n"


def provisioning_dashboards() -> str:
    """A Grafana file provider for the generated dashboards (one folder, updated when the files change)."""
    config = {
        "apiVersion": 1,
        "providers": [{
            "name": "sloengine",
            "orgId": 1,
            "folder": "SLOs",
            "type": "file",
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": PROVISIONED_PATH, "foldersFromFilesStructure": False},
        }],
    }
    return (PROVISIONING_HEADER
            + f"# Copy the dashboards' *.json to {PROVISIONED_PATH} (or point options.path at them) and put this\n"
              "# file in Grafana's provisioning/dashboards directory.\n"
            + yaml.safe_dump(config, sort_keys=False))


def provisioning_datasources() -> str:
    """An example Prometheus data source with the uid the dashboards' ``datasource`` variable defaults to."""
    config = {
        "apiVersion": 1,
        "datasources": [{
            "name": DATASOURCE_NAME,
            "uid": DATASOURCE_UID,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "url": "http://localhost:9090",
            "isDefault": False,
            "editable": False,
            # The fast rule group's interval: Grafana's $__rate_interval never drops below it.
            "jsonData": {"timeInterval": f"{c.FAST_INTERVAL_SECONDS}s", "httpMethod": "POST"},
        }],
    }
    return (PROVISIONING_HEADER
            + "# An example: set url to the Prometheus that loads sloengine's rules and put this file in Grafana's\n"
              "# provisioning/datasources directory. The dashboards pick any Prometheus in their datasource menu.\n"
            + yaml.safe_dump(config, sort_keys=False))


def _service_catalogs(catalog: Catalog) -> dict[str, Catalog]:
    """Each service's own catalogue (its declaration and SLOs), by service name."""
    slos: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        slos.setdefault(slo.service, []).append(slo)
    declared = {s.name: s for s in catalog.services}
    return {name: Catalog(services=(declared[name],) if name in declared else (), slos=tuple(members))
            for name, members in sorted(slos.items())}


def dashboards(catalog: Catalog) -> dict[str, dash_m.Dashboard]:
    """Every dashboard as the SDK's model, by relative path."""
    out = {dashboard_path(OVERVIEW_UID): overview_dashboard(catalog)}
    for service, own in _service_catalogs(catalog).items():
        out[dashboard_path(service_uid(service))] = service_dashboard(own, service)
    return out


def render_service_dashboard(catalog: Catalog, service: str) -> dict[str, str]:
    """One service's dashboard as text, by path."""
    return {dashboard_path(service_uid(service)): encode(service_dashboard(catalog, service))}


def render_shared_dashboards(catalog: Catalog) -> dict[str, str]:
    """What is not per service: the overview and the provisioning files."""
    return {
        dashboard_path(OVERVIEW_UID): encode(overview_dashboard(catalog)),
        f"{PROVISIONING_DIR}/dashboards.yaml": provisioning_dashboards(),
        f"{PROVISIONING_DIR}/datasources.yaml": provisioning_datasources(),
    }


def render_dashboards(catalog: Catalog) -> dict[str, str]:
    """Every dashboard and provisioning file as text, by path relative to the output directory."""
    files = render_shared_dashboards(catalog)
    for service, own in _service_catalogs(catalog).items():
        files.update(render_service_dashboard(own, service))
    return dict(sorted(files.items()))


def write_dashboards(catalog: Catalog, out: Path) -> list[Path]:
    """Write :func:`render_dashboards` under ``out`` (all staged before any is replaced)."""
    return write_tree(out, render_dashboards(catalog))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", type=click.Path(path_type=Path), default=Path("."))
def main(out: Path) -> None:
    """Regenerate the committed dashboards/ (under OUT, default .) for the specs in examples/."""
    for path in write_dashboards(load_or_raise(["examples"]), out):
        click.echo(path)


if __name__ == "__main__":
    main(prog_name="python -m sloengine.compiler.dashboards")
