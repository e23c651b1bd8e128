"""Two tiers: leaf Prometheus servers that count events from their own counters, and a global tier that sums the
clusters (``generate --split leaf,global``).

Counts split cleanly where ratios do not, so each tier records what only it can:

* A **leaf** (one Prometheus per cluster) reads the raw counters. It records, under the ``slo_cluster:`` level,
  the events of every window up to 6h (every 30s) and the 5-minute tiles with where each ended (every 5m), exactly
  as a single Prometheus would (the same expressions), plus one heartbeat. Its ``external_labels`` name the
  cluster; federation adds that label to everything it hands on.
* The **global** tier (a Prometheus federating the leaves' ``slo_cluster:`` series, standing in for a Thanos or
  Mimir ruler) sums them across clusters into the ``slo:`` series every other part of sloengine reads (reports,
  dashboards, the exporter), and evaluates ratios, burn rates, budgets and alerts.

Why the long windows stay exact: federation passes each sample on with its own timestamp, and the global
stores a re-scraped sample (same timestamp, same value) once, so every tile a leaf records is in the global
once, at the instant the leaf recorded it; a window is the sum of the tiles in it per cluster, summed over
clusters. A tile that has not been federated yet is counted at the next evaluation, never lost. Tiles a leaf
recorded while the global could not reach it are not federated afterwards (federation reads the latest sample
only): the global pages the missing leaf meanwhile, and its long windows lack that span. History before the
topology existed comes from ``sloengine backfill --tier leaf`` (the leaf's copy, and with ``--label cluster=…``
the global's: the same tiles).

A lost leaf is never read as a healthy one: the global knows the clusters to expect, records
``slo:leaf_missing:bool`` for each (1 while its heartbeat is absent or old, 0 while fresh), and pages
``SLOLeafMissing``. An SLI summed over clusters has data only while every leaf is known to report: none while a
leaf is missing (its burn rates and budgets go absent, ``SLONoData`` follows), and none before that series is
first recorded, because a sum without one cluster's events is not the SLI. An SLI that keeps the cluster
(``group_by`` names the cluster label) goes on for the clusters known to report, and has no data for the others.

A raw error-ratio SLI (a ratio query, no counts) cannot be summed: the leaves record its ratio, and the global
takes the worst cluster's.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import yaml

from ..model import conventions as c
from ..model.promql import LABEL_NAME, quote
from ..model.slo import SLO, AlertSeverity, CalendarUnit, CalendarWindow, Catalog, RawSLI, Service
from .queries import EventQueries, checked, half_open, label_matchers, summed
from .rulefiles import HEADER, render_rule_file
from .rules import (
    RAW,
    TILES,
    AlertingRule,
    Intervals,
    RecordingRule,
    Rule,
    RuleGroup,
    _bucket_missing_alert,
    _budget_rule,
    _literal,
    _per_window,
    _ratio_rules,
    _source_labels,
    _static_rules,
    _ticket_labels,
    budget_alerts,
    compile_calendars,
    period_to_date_sum,
    rolling_windows,
    series,
    slo_labels,
    slo_window_names,
    window_name,
    window_plan,
)

LEAF = "leaf"
GLOBAL = "global"
TIERS = (LEAF, GLOBAL)


class TopologyError(ValueError):
    """The topology given to ``--split`` cannot be compiled (a user's mistake, said with a fix)."""


@dataclass(frozen=True)
class Topology:
    """The clusters the global tier expects a leaf for, and the label that names them (the leaves'
    ``external_labels``)."""

    clusters: tuple[str, ...]
    cluster_label: str = c.DEFAULT_CLUSTER_LABEL
    #: How often the global scrapes each leaf's ``/federate`` (written into the federation snippet).
    federation_interval_seconds: int = 30

    def __post_init__(self) -> None:
        if not self.clusters:
            raise TopologyError("--split needs the clusters to expect: --clusters eu-1,us-1")
        if len(set(self.clusters)) != len(self.clusters):
            raise TopologyError(f"--clusters names a cluster twice: {', '.join(self.clusters)}")
        if any(not name for name in self.clusters):
            raise TopologyError("--clusters has an empty name; separate names by single commas")
        if not LABEL_NAME.match(self.cluster_label) or self.cluster_label.startswith("__"):
            raise TopologyError(f"--cluster-label {self.cluster_label!r} is not a label name "
                                "(letters, digits and _, not starting with a digit or __)")
        if self.cluster_label in c.ALERT_OWN_LABELS:
            raise TopologyError(f"--cluster-label {self.cluster_label!r} is one of sloengine's own labels; "
                                "use the label your leaves' external_labels set, e.g. cluster")


def leaf_series(metric: str, slo: SLO, window: str | None = None) -> str:
    """Selector for what a leaf recorded of ``slo`` (``metric`` is the single-tier name)."""
    pairs = slo_labels(slo) + (((c.LABEL_WINDOW, window),) if window is not None else ())
    return c.leaf_metric(metric) + label_matchers(pairs)


def _leaf_windows(metric: str, slo: SLO, windows: tuple[str, ...]) -> str:
    alternatives = "|".join(re.escape(w) for w in windows)
    pairs = label_matchers(slo_labels(slo))[:-1] + f",{c.LABEL_WINDOW}=~{quote(alternatives)}}}"
    return c.leaf_metric(metric) + pairs


def _leaf_sli(slo: SLO, cluster_label: str) -> EventQueries:
    """The SLI as a leaf counts it: its groups plus the cluster label, so counters that already carry one (and
    the alert tests' inputs) keep it; on a leaf whose counters have none, the sums are the same."""
    sli = slo.sli
    if isinstance(sli, RawSLI) or cluster_label in sli.group_by:
        return EventQueries(sli)
    return EventQueries(dataclasses.replace(sli, group_by=(*sli.group_by, cluster_label)))


def _tile_end(slo: SLO) -> RecordingRule:
    grid = c.TILE_GRID_SECONDS
    return RecordingRule(c.leaf_metric(c.METRIC_TILE_END), checked(f"vector(time() - time() % {grid})"),
                         slo_labels(slo))


def leaf_backfill_rules(slo: SLO, cluster_label: str = c.DEFAULT_CLUSTER_LABEL) -> list[RecordingRule]:
    """A leaf's tile rules standing alone (no recorded series read), for ``sloengine backfill --tier leaf``."""
    queries = _leaf_sli(slo, cluster_label)
    if not queries.counts_events:
        return []
    total = queries.tile_total()
    return [RecordingRule(c.leaf_metric(c.METRIC_TILE_TOTAL), total, slo_labels(slo)),
            RecordingRule(c.leaf_metric(c.METRIC_TILE_BAD), queries.tile_bad(total), slo_labels(slo)),
            _tile_end(slo)]


def _keeps_cluster(slo: SLO, topology: Topology) -> bool:
    return topology.cluster_label in tuple(slo.sli.group_by)


# ---- leaf --------------------------------------------------------------------------------------------------


def _leaf_previous_tile_end(slo: SLO) -> str:
    return (f"scalar(last_over_time({leaf_series(c.METRIC_TILE_END, slo)}"
            f"[{window_name(c.TILE_CATCHUP_SECONDS)}] @ end()))")


def _raw_tagged(slo: SLO, expr: str, in_expr: bool) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``window_source="raw"`` as a rule label, or (``in_expr``: for the slow group, whose rules must not share
    the fast group's metric and labels) set by the expression."""
    if in_expr:
        return f'label_replace({expr}, "{c.LABEL_WINDOW_SOURCE}", "{RAW}", "", "")', slo_labels(slo)
    return expr, _source_labels(slo, RAW)


def _leaf_events(slo: SLO, queries: EventQueries, windows: tuple[str, ...], slow: bool) -> list[RecordingRule]:
    """Total and bad events of raw windows, per window, as a single Prometheus counts them."""
    bads = [(w, queries.bad(w, summed(leaf_series(c.METRIC_TOTAL, slo, w), queries.group_by))) for w in windows]
    out = []
    for metric, expr in ((c.METRIC_TOTAL, _per_window([(w, queries.total(w)) for w in windows])),
                         (c.METRIC_BAD, _per_window(bads))):
        tagged, labels = _raw_tagged(slo, expr, slow)
        out.append(RecordingRule(c.leaf_metric(metric), checked(tagged), labels))
    return out


def leaf_groups(slo: SLO, service: Service, topology: Topology,
                intervals: Intervals = Intervals()) -> tuple[RuleGroup, RuleGroup]:
    """What one cluster's Prometheus records for ``slo``: raw windows (fast), tiles (slow), from its counters."""
    queries = _leaf_sli(slo, topology.cluster_label)
    fast: list[Rule] = []
    slow: list[Rule] = []
    plan = window_plan(slo)
    raw_windows, slow_raw, long_windows = plan.fast_raw, plan.slow_raw, plan.long
    if queries.counts_events:
        since = _leaf_previous_tile_end(slo)
        tile_total = c.leaf_metric(c.METRIC_TILE_TOTAL)
        slow.append(RecordingRule(tile_total, queries.tile_total(since), slo_labels(slo)))
        recorded = summed(leaf_series(c.METRIC_TILE_TOTAL, slo), queries.group_by)
        slow.append(RecordingRule(c.leaf_metric(c.METRIC_TILE_BAD), queries.tile_bad(recorded, since),
                                  slo_labels(slo)))
        slow.append(_tile_end(slo))
        if raw_windows:
            fast.extend(_leaf_events(slo, queries, raw_windows, slow=False))
        if slow_raw:
            slow.extend(_leaf_events(slo, queries, slow_raw, slow=True))
    else:
        for group, windows in ((fast, raw_windows), (slow, slow_raw + long_windows)):
            if windows:
                group.append(RecordingRule(c.leaf_metric(c.METRIC_ERROR_RATIO),
                                           checked(_per_window([(w, queries.error_ratio(w)) for w in windows])),
                                           _source_labels(slo, RAW)))
    missing = _bucket_missing_alert(slo, service)
    if missing is not None:
        slow.append(missing)
    return (RuleGroup(c.split_group_name(slo.service, slo.name, LEAF, "fast"), intervals.fast_seconds, tuple(fast)),
            RuleGroup(c.split_group_name(slo.service, slo.name, LEAF, "slow"), intervals.slow_seconds, tuple(slow)))


def leaf_heartbeat_group(intervals: Intervals = Intervals()) -> RuleGroup:
    """One series per leaf; federated with its cluster label, its absence in the global is a lost leaf."""
    return RuleGroup(c.LEAF_GROUP, intervals.fast_seconds,
                     (RecordingRule(c.METRIC_LEAF_HEARTBEAT, checked("vector(time())")),))


# ---- global ------------------------------------------------------------------------------------------------


def _complete(expr: str, slo: SLO, topology: Topology) -> str:
    """``expr`` only while every expected leaf reports, for an SLI summed over clusters; for one kept per cluster,
    each cluster's only while its leaf reports (a lost leaf's federated samples stay visible for the lookback,
    frozen: they get no staleness markers). The gate asks for leaves known to report, not for leaves not known
    to be missing: before the global's watch on its leaves has first run (just after a start or a reload), or
    without its rules file, there is no data rather than a sum over whichever leaves were federated first."""
    if _keeps_cluster(slo, topology):
        return f"({expr}) and on({topology.cluster_label}) ({c.METRIC_LEAF_MISSING} == 0)"
    return f"({expr}) and on() (max({c.METRIC_LEAF_MISSING}) == 0)"


def _global_events(slo: SLO, topology: Topology, windows: tuple[str, ...], slow: bool) -> list[RecordingRule]:
    """Raw windows' events: the clusters' latest counts summed (each leaf recorded its own within 30s)."""
    group_by = (c.LABEL_WINDOW, *tuple(slo.sli.group_by))
    out = []
    for metric in (c.METRIC_TOTAL, c.METRIC_BAD):
        expr, labels = _raw_tagged(slo, summed(_leaf_windows(metric, slo, windows), group_by), slow)
        out.append(RecordingRule(metric, checked(_complete(expr, slo, topology)), labels))
    return out


def _global_tiled(slo: SLO, topology: Topology, long_seconds: tuple[int, ...]) -> list[RecordingRule]:
    """Long windows: each cluster's tiles in the window, summed over clusters."""
    group_by = tuple(slo.sli.group_by)
    rules = []
    for metric, tile in ((c.METRIC_TOTAL, c.METRIC_TILE_TOTAL), (c.METRIC_BAD, c.METRIC_TILE_BAD)):
        parts = [(window_name(s), summed(f"sum_over_time({leaf_series(tile, slo)}[{half_open(window_name(s))}])",
                                         group_by)) for s in long_seconds]
        if isinstance(slo.window, CalendarWindow):
            parts.append((slo.window.unit.value,
                          summed(period_to_date_sum(leaf_series(tile, slo), slo.window.unit, slo.window.timezone),
                                 group_by)))
        if parts:
            rules.append(RecordingRule(metric, checked(_complete(_per_window(parts), slo, topology)),
                                       _source_labels(slo, TILES)))
    return rules


def _global_no_data(slo: SLO, service: Service, counts: bool) -> AlertingRule:
    """No SLI in the global for 15 minutes: no leaf reports it, or a lost leaf has made the sum unknown."""
    shortest = window_name(rolling_windows(slo)[0])
    metric = c.METRIC_TOTAL if counts else c.METRIC_ERROR_RATIO
    return AlertingRule(
        alert=c.ALERT_NO_DATA,
        expr=checked(f"absent_over_time({series(metric, slo, shortest)}[15m])"),
        for_seconds=5 * 60,
        labels=_ticket_labels(slo, service),
        annotations=_literal((("summary", f"{slo.id} has no SLI data in the global tier: no leaf reports it, or a "
                                          "leaf is missing, so its availability is unknown"),)),
    )


def global_groups(slo: SLO, service: Service, topology: Topology,
                  intervals: Intervals = Intervals()) -> tuple[RuleGroup, RuleGroup]:
    """What the global tier evaluates for ``slo`` from the leaves' federated series: the same ``slo:`` series
    and alerts a single Prometheus would have."""
    queries = EventQueries(slo.sli)
    fast: list[Rule] = []
    slow: list[Rule] = []
    plan = window_plan(slo)
    raw_windows, slow_raw, long_seconds, long_windows = plan.fast_raw, plan.slow_raw, plan.long_seconds, plan.long
    budget_windows = slo_window_names(slo)
    if queries.counts_events:
        if raw_windows:
            fast.extend(_global_events(slo, topology, raw_windows, slow=False))
            fast.extend(_ratio_rules(slo, RAW, raw_windows))
        if isinstance(slo.window, CalendarWindow):
            long_windows += (slo.window.unit.value,)
        if slow_raw:
            slow.extend(_global_events(slo, topology, slow_raw, slow=True))
        slow.extend(_global_tiled(slo, topology, long_seconds))
        if slow_raw or long_windows:
            slow.extend(_ratio_rules(slo, None if slow_raw else TILES, slow_raw + long_windows))
    else:
        group_by = tuple(slo.sli.group_by)

        def worst(windows: tuple[str, ...]) -> list[tuple[str, str]]:
            return [(w, _complete(summed(leaf_series(c.METRIC_ERROR_RATIO, slo, w), group_by, "max"), slo,
                                  topology)) for w in windows]
        if raw_windows:
            fast.extend(_ratio_rules(slo, RAW, raw_windows, worst(raw_windows)))
        if slow_raw or long_windows:
            slow.extend(_ratio_rules(slo, RAW, slow_raw + long_windows, worst(slow_raw + long_windows)))
        budget_windows = tuple(w for w in budget_windows if w not in {u.value for u in CalendarUnit})
    slow.append(_budget_rule(slo, budget_windows))
    slow.extend(_static_rules(slo, service))
    pages, tickets = budget_alerts(slo, service)
    fast.extend(pages)
    slow.extend(tickets)
    slow.append(_global_no_data(slo, service, queries.counts_events))
    return (
        RuleGroup(c.split_group_name(slo.service, slo.name, GLOBAL, "fast"), intervals.fast_seconds, tuple(fast)),
        RuleGroup(c.split_group_name(slo.service, slo.name, GLOBAL, "slow"), intervals.slow_seconds, tuple(slow)),
    )


def heartbeat_limit_seconds(topology: Topology, intervals: Intervals = Intervals()) -> int:
    """How old a leaf's latest heartbeat may be before the leaf counts as missing: twice what a healthy one is at
    most (the leaf's evaluation interval plus a federation interval)."""
    return 2 * (intervals.fast_seconds + topology.federation_interval_seconds)


def leaves_group(topology: Topology, intervals: Intervals = Intervals()) -> RuleGroup:
    """The global's watch on its leaves: a series per expected cluster, 1 while its heartbeat is absent or old and
    0 while it is fresh, and a page per missing leaf.

    Federated samples carry their leaf's timestamps, and Prometheus writes no staleness markers for samples with
    timestamps: a lost leaf's series stay visible for the 5-minute lookback. So the heartbeat records the leaf's
    clock, and a leaf is missing as soon as its latest heartbeat is older than :func:`heartbeat_limit_seconds`
    (or there is none)."""
    limit = heartbeat_limit_seconds(topology, intervals)
    parts = []
    for cluster in topology.clusters:
        beat = c.METRIC_LEAF_HEARTBEAT + label_matchers(((topology.cluster_label, cluster),))
        parts.append(f"(max by ({topology.cluster_label}) ({beat}) < bool time() - {limit}) or absent({beat})")
    missing = " or ".join(parts)
    label = topology.cluster_label
    return RuleGroup(c.LEAVES_GROUP, intervals.fast_seconds, (
        RecordingRule(c.METRIC_LEAF_MISSING, checked(missing)),
        AlertingRule(
            alert=c.ALERT_LEAF_MISSING,
            expr=checked(f"{c.METRIC_LEAF_MISSING} == 1"),
            for_seconds=60,
            labels=((c.LABEL_SEVERITY, AlertSeverity.PAGE.value), (c.LABEL_OWN_SEVERITY, AlertSeverity.PAGE.value)),
            annotations=(
                ("description", f"The global tier has had no fresh heartbeat from the leaf Prometheus of {label} "
                                f"{{{{ $labels.{label} }}}} for {limit + 60}s (down, federation cannot reach it, "
                                "or its clock is off). SLIs "
                                "summed over clusters have no data until it is back; SLIs kept per cluster go on "
                                "for the others."),
                ("summary", f"leaf Prometheus of {label} {{{{ $labels.{label} }}}} is missing from the global tier"),
            ),
        ),
    ))


def federation_config(topology: Topology) -> str:
    """The global Prometheus's scrape job for the leaves' ``/federate`` (merge into its ``scrape_configs``)."""
    job = {
        "job_name": c.FEDERATION_JOB,
        "honor_labels": True,
        "metrics_path": "/federate",
        "scrape_interval": f"{topology.federation_interval_seconds}s",
        "params": {"match[]": [f'{{__name__=~"{c.LEAF_LEVEL}:.+"}}']},
        "static_configs": [{"targets": [f"leaf-{cluster}.example:9090" for cluster in topology.clusters]}],
        # A leaf is its cluster label, not its address: without job and instance, what federation brings is the
        # very series `backfill --tier leaf --label cluster=…` writes into the global, so a tile that reaches the
        # global both ways is one sample (same series, same timestamp), never counted twice.
        "metric_relabel_configs": [{"action": "labeldrop", "regex": "instance|job"}],
    }
    notes = [
        "# The global tier's scrape job for the leaves (merge into its prometheus.yml scrape_configs and put",
        "# each leaf's address in place of the example targets).",
        f"# Each leaf Prometheus sets global.external_labels {{{topology.cluster_label}: <its cluster>}}, one of: "
        + ", ".join(topology.clusters) + ".",
        "# honor_labels keeps the leaves' labels and federation each sample's own timestamp, which keeps the",
        "# global's tile sums exact; job and instance are dropped so that a backfilled tile and its federated",
        "# copy are one series. Scrape each cluster's leaf once (HA replicas of a leaf would count twice).",
    ]
    return HEADER + "\n".join(notes) + "\n" + yaml.safe_dump({"scrape_configs": [job]}, sort_keys=True)


def split_files(catalog: Catalog, topology: Topology, intervals: Intervals = Intervals()) -> dict[str, str]:
    """Every file of both tiers by relative path: per service a leaf and a global rules file, the leaf's
    heartbeat, the global's watch on the leaves and its calendars, and the federation snippet."""
    by_service: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        by_service.setdefault(slo.service, []).append(slo)
    files: dict[str, str] = {}
    for name, slos in by_service.items():
        service = catalog.service(name) or Service(name)
        leaf: list[RuleGroup] = []
        top: list[RuleGroup] = []
        for slo in slos:
            leaf.extend(g for g in leaf_groups(slo, service, topology, intervals) if g.rules)
            top.extend(global_groups(slo, service, topology, intervals))
        if leaf:
            files[f"{c.LEAF_DIR}/{name}.rules.yml"] = render_rule_file(tuple(leaf))
        files[f"{c.GLOBAL_DIR}/{name}.rules.yml"] = render_rule_file(tuple(top))
    files[f"{c.LEAF_DIR}/{c.LEAF_FILE_STEM}.rules.yml"] = render_rule_file((leaf_heartbeat_group(intervals),))
    files[f"{c.GLOBAL_DIR}/{c.LEAVES_FILE_STEM}.rules.yml"] = render_rule_file((leaves_group(topology, intervals),))
    calendars = compile_calendars(catalog, intervals)
    if calendars is not None:
        files[f"{c.GLOBAL_DIR}/{c.CALENDAR_FILE_STEM}.rules.yml"] = render_rule_file((calendars,))
    files[c.FEDERATION_FILE] = federation_config(topology)
    return dict(sorted(files.items()))
