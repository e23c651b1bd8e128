"""The engine: each SLO's counts over its windows, read from Prometheus at one pinned instant.

Reading is batched by metric, not by SLO. sloengine's recording rules keep
every SLO's events per window in a handful of series names, so one query per
name answers the whole catalogue; its cost grows with the number of distinct
series shapes, not the number of SLOs or windows. An SLO whose recorded
series are missing (just added, rules not loaded yet) falls back to its raw
counters, counted *exactly* (every increase between consecutive samples,
resets included), so the figures match the true event counts rather than
``increase()``'s extrapolation: Prometheus computes last-minus-first per
window for every series without a reset, and only series with a reset or a
gap at a window's edge have their samples fetched and counted here. Each
result says which source it used.

The arithmetic on the counts lives in :mod:`sloengine.engine.figures` (numpy,
vectorised over all SLOs at once); here is only I/O and bookkeeping, and the
judgement of what was read: a count that no counter can hold (NaN, ±Inf,
negative, beyond 2^53) makes its SLO an error with the reason, never a figure.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from ..compiler.queries import EventQueries
from ..model import conventions as c
from ..model.durations import format_duration
from ..model.promql import Matcher, MatchOp, Selector, le_matcher, quote, substitute_window
from ..model.results import Report, SLOResult, Source
from ..model.slo import Catalog, LatencySLI, ProbeSLI, RatioSLI, RawSLI
from .connection import Client, QueryError
from .counts import Counts, GroupKey, Plan, plan
from .figures import compute

#: How far before a window's start raw samples are fetched, to find the sample the first increase starts from.
BASELINE_SECONDS = 3600
#: Raw fallback queries run this many at a time.
RAW_WORKERS = 4
#: The largest count a float64 holds exactly: past it one more event does not change the number, so a "count"
#: beyond it is not one (a broken or hostile API, an overflowed exporter); 1e308 events is not a healthy probe.
MAX_COUNT = float(2**53)
#: How far below zero an exact count of bad events (total minus good) may fall by float rounding, relative to
#: the total: below that, the good events outnumber all events, which no exact count does.
ROUNDING = 1e-9


def _shown(value: float) -> str:
    return "+Inf" if value == math.inf else "-Inf" if value == -math.inf else f"{value:g}"


def _value(item: dict) -> float:
    """An instant vector's value; a range vector where one was asked for is a malformed answer."""
    if "value" not in item:
        raise QueryError(QueryError.MALFORMED, "Prometheus answered an instant query with a range vector")
    return float(item["value"][1])


def implausible(counts: Counts) -> str:
    """Why ``counts`` cannot become figures, or ``""`` when they can.

    A total must be a count: finite, from 0 to :data:`MAX_COUNT`. Bad events
    too, and from exact sources (recorded tiles, raw counters) not below
    zero, which would mean more good events than events. An error ratio may be
    NaN (no events: Prometheus's 0/0, which is no data) but not infinite. The
    raw-PromQL totals are extrapolated by ``increase()``, so their bad events
    may dip below zero as they always could.
    """
    for window, total in counts.total.items():
        if not 0.0 <= total <= MAX_COUNT:
            return (f"Prometheus returned {_shown(total)} events over {window}, which is not a count "
                    "(a number from 0 to 2^53)")
    for window, bad in counts.bad.items():
        if not -MAX_COUNT <= bad <= MAX_COUNT:
            return (f"Prometheus returned {_shown(bad)} bad events over {window}, which is not a count "
                    "(a number from 0 to 2^53)")
        total = counts.total.get(window, 0.0)
        if counts.source is not Source.QUERY and bad < -ROUNDING * max(total, 1.0):
            return (f"Prometheus returned {_shown(total - bad)} good events of {_shown(total)} over {window}: "
                    "more good events than events (the good series count events the total's do not)")
    for window, ratio in counts.ratio.items():
        if math.isinf(ratio):
            return f"Prometheus returned an error ratio of {_shown(ratio)} over {window}"
    return ""


def _first_problem(groups: dict[GroupKey, Counts]) -> str:
    return next((problem for problem in map(implausible, groups.values()) if problem), "")

# ---- recorded series ------------------------------------------------------------------------------

_OWN_LABELS = frozenset({"__name__", c.LABEL_SERVICE, c.LABEL_SLO, c.LABEL_WINDOW, c.LABEL_WINDOW_SOURCE})


def _group_of(metric: dict[str, str]) -> GroupKey:
    return tuple(sorted((k, v) for k, v in metric.items() if k not in _OWN_LABELS))


def _index(result: list[dict]) -> dict[tuple[str, str], dict[GroupKey, dict[str, float]]]:
    """(service, slo) → group → window → value."""
    out: dict[tuple[str, str], dict[GroupKey, dict[str, float]]] = {}
    for item in result:
        metric = item["metric"]
        key = (metric.get(c.LABEL_SERVICE, ""), metric.get(c.LABEL_SLO, ""))
        value = _value(item)
        out.setdefault(key, {}).setdefault(_group_of(metric), {})[metric.get(c.LABEL_WINDOW, "")] = value
    return out


def _windows_matcher(plans: Iterable[Plan]) -> str:
    names = sorted({w for p in plans for w, _ in p.windows})
    return "{" + f'{c.LABEL_WINDOW}=~"{"|".join(names)}"' + "}"


#: How old a recorded value may be: the slow group's series are recorded every 5 minutes, the very lookback
#: of an instant query, so at the instant a slow evaluation is due (or late, on a busy server) a plain
#: selector finds nothing; two intervals cover a late or missed evaluation.
RECORDED_MAX_AGE_SECONDS = 2 * c.SLOW_INTERVAL_SECONDS


def _latest(selector: str) -> str:
    return f"last_over_time({selector}[{RECORDED_MAX_AGE_SECONDS}s])"


#: Why an SLO whose windows are all recorded is still counted from its raw counters.
PARTIAL_TILES_NOTE = ("the recorded tiles do not reach back over the whole window yet (rules loaded recently; "
                      "`sloengine backfill` writes their history): counted exactly from the raw counters")


def tiles_reaching_back(client: Client, plans: Sequence[Plan], at: float) -> set[tuple[str, str]]:
    """The SLOs whose tiles hold everything the raw counters do over their longest tiled window.

    Without this, rules loaded ten minutes ago would report a 30-day window
    summed from ten minutes of tiles: an SLI of the last ten minutes, shown as
    the month's. Tiles that reach back to the window's start are complete (one
    small query per distinct window length); for the others, the tiles are
    still complete if the raw counters begin no earlier than the first tile
    (a new Prometheus, or counters younger than the window), which two small
    queries per such SLO tell.
    """
    spans: dict[int, list[Plan]] = {}
    reached: set[tuple[str, str]] = set()
    for p in plans:
        tiled = [s for _, s in p.windows if s > c.RAW_WINDOW_MAX_SECONDS]
        if tiled and isinstance(p.slo.sli, (RatioSLI, LatencySLI, ProbeSLI)):
            spans.setdefault(int(np.ceil(max(tiled))), []).append(p)
        else:
            reached.add((p.slo.service, p.slo.name))
    for span, members in sorted(spans.items()):
        result = client.query(f"last_over_time({c.METRIC_TILE_END}[{RECORDED_MAX_AGE_SECONDS}s] offset {span}s)",
                              at)
        found = {(item["metric"].get(c.LABEL_SERVICE, ""), item["metric"].get(c.LABEL_SLO, "")) for item in result}
        for p in members:
            key = (p.slo.service, p.slo.name)
            if key in found or _raw_begins_with_tiles(client, p, span, at):
                reached.add(key)
    return reached


def _raw_begins_with_tiles(client: Client, p: Plan, span: int, at: float) -> bool:
    """Whether ``p``'s counters have no sample from before its first tile within ``span`` seconds."""
    ours = f'{{{c.LABEL_SERVICE}={quote(p.slo.service)},{c.LABEL_SLO}={quote(p.slo.name)}}}'
    first = client.query(f"min_over_time({c.METRIC_TILE_END}{ours}[{span}s])", at)
    if not first:
        return False
    # The earliest tile ends here; the first one (backfilled) began a slow interval before it at most, and a
    # window's edges are only ever within a slow interval of nominal: allow one more.
    began = _value(first[0]) - 2 * c.SLOW_INTERVAL_SECONDS
    if not math.isfinite(began):
        return False
    sli = p.slo.sli
    counted = sli.gauge if isinstance(sli, ProbeSLI) else event_selectors(sli)[0]  # type: ignore[arg-type]
    before = at - began
    if before >= span:
        return True
    # Events happen at a series' second sample on (its first is only the value it started from, which the
    # first tile starts from too): two samples before the tiles mean events they never saw.
    older = client.query(f"count(count_over_time({counted.render()}[{_ms(span - before)}] "
                         f"offset {_ms(before + 0.001)}) > 1)", at)
    return not older


def read_recorded(client: Client, plans: Sequence[Plan], at: float,
                  partial: set[tuple[str, str]] | None = None,
                  invalid: dict[tuple[str, str], str] | None = None) -> dict[tuple[str, str], dict[GroupKey, Counts]]:
    """Every SLO's recorded counts in a few queries; SLOs missing a window, or whose tiles do not reach back over
    the window yet (added to ``partial``), are left out, to be counted from their raw counters. SLOs whose
    recorded values are not counts are left out too, with the reason in ``invalid``."""
    partial = set() if partial is None else partial
    invalid = {} if invalid is None else invalid
    if not plans:
        return {}
    matcher = _windows_matcher(plans)
    event_plans = [p for p in plans if EventQueries(p.slo.sli).counts_events]
    ratio_plans = [p for p in plans if not EventQueries(p.slo.sli).counts_events]
    found: dict[tuple[str, str], dict[GroupKey, Counts]] = {}
    if event_plans:
        totals = _index(client.query(_latest(c.METRIC_TOTAL + matcher), at))
        bads = _index(client.query(_latest(c.METRIC_BAD + matcher), at))
        for p in event_plans:
            key = (p.slo.service, p.slo.name)
            groups: dict[GroupKey, Counts] = {}
            for group, total in totals.get(key, {}).items():
                bad = bads.get(key, {}).get(group, {})
                if all(w in total and w in bad for w, _ in p.windows):
                    groups[group] = Counts(Source.RECORDED, bad=dict(bad), total=dict(total))
            problem = _first_problem(groups)
            if problem:
                invalid[key] = problem
            elif groups:
                found[key] = groups
        reached = tiles_reaching_back(client, [p for p in event_plans if (p.slo.service, p.slo.name) in found], at)
        for key in [k for k in found if k not in reached]:
            del found[key]
            partial.add(key)
    if ratio_plans:
        ratios = _index(client.query(_latest(c.METRIC_ERROR_RATIO + matcher), at))
        for p in ratio_plans:
            key = (p.slo.service, p.slo.name)
            groups = {g: Counts(Source.RECORDED, ratio=dict(r)) for g, r in ratios.get(key, {}).items()
                      if all(w in r for w, _ in p.windows)}
            problem = _first_problem(groups)
            if problem:
                invalid[key] = problem
            elif groups:
                found[key] = groups
    return found


# ---- raw counters, counted exactly --------------------------------------------------------------


def _samples(client: Client, selector: Selector, span: float, at: float,
             gauge: bool = False) -> list[tuple[GroupKey, np.ndarray, np.ndarray]]:
    """Every series of ``selector`` over ``span`` seconds before ``at``: (labels, times, values).

    A counter's samples must be counts (0 to :data:`MAX_COUNT`), a probe ``gauge``'s from 0 to 1: differences
    of absurd values can look like a quiet, healthy series, so they are refused here, before any arithmetic.
    """
    result = client.query(f"{selector.render()}[{int(np.ceil(span))}s]", at)
    out = []
    top = 1.0 if gauge else MAX_COUNT
    for item in result:
        if "values" not in item:
            raise QueryError(QueryError.MALFORMED, "Prometheus answered a range query with an instant vector")
        values = np.asarray(item["values"], dtype=np.float64).reshape(-1, 2)
        labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k != "__name__"))
        outside = ~((values[:, 1] >= 0.0) & (values[:, 1] <= top))
        if outside.any():
            raise QueryError(QueryError.IMPLAUSIBLE, (
                f"Prometheus returned a sample of {_shown(float(values[outside, 1][0]))} for "
                f"{selector.metric}, which is not " + ("a probe's value (0 to 1)" if gauge
                                                       else "a counter's value (a number from 0 to 2^53)")))
        out.append((labels, values[:, 0], values[:, 1]))
    return out


def counter_events(times: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, events) of each sample after the first: the increase since the previous sample, a reset (a
    drop) counting the new value.

    The first sample of a series is only a baseline, as in Prometheus's own ``increase()``: whatever it
    counts happened before the series could be seen (or belongs to history kept elsewhere). This holds for
    a series that appears with new labels too (a restarted pod's new ``instance``): its events are counted
    from its first sample on, so a process that exports its counters at 0 before its first scrape loses
    nothing. The exact count is therefore the sum of each series' increments after its first sample.
    """
    if len(values) < 2:
        return np.zeros(0), np.zeros(0)
    deltas = np.diff(values)
    return times[1:], np.where(deltas >= 0, deltas, values[1:])


def counter_increase(times: np.ndarray, values: np.ndarray, at: float, windows: Sequence[float]) -> np.ndarray:
    """Events counted in ``(at-w, at]`` for each window ``w`` (see :func:`counter_events`)."""
    event_times, increments = counter_events(times, values)
    if len(increments) == 0:
        return np.zeros(len(windows))
    cumulative = np.concatenate(([0.0], np.cumsum(increments)))  # cumulative[i] = events up to event i - 1
    upper = np.searchsorted(event_times, at, side="right")
    lower = np.searchsorted(event_times, at - np.asarray(windows, dtype=np.float64), side="right")
    return cumulative[upper] - cumulative[np.minimum(lower, upper)]


def event_selectors(sli: RatioSLI | LatencySLI) -> tuple[Selector, Selector, bool]:
    """(total, part, part_is_bad): the counters that count an event SLI's events, and which the part is."""
    if isinstance(sli, RatioSLI):
        return sli.total, (sli.bad or sli.good), sli.bad is not None  # type: ignore[return-value]
    return sli.count, sli.bucket.with_matchers(le_matcher(sli.threshold_seconds)), False


def _grouped(series: list[tuple[GroupKey, np.ndarray]], group_by: Sequence[str], n: int) -> dict[GroupKey, np.ndarray]:
    out: dict[GroupKey, np.ndarray] = {}
    for labels, sums in series:
        mapping = dict(labels)
        key = tuple((g, mapping.get(g, "")) for g in sorted(group_by))
        out[key] = out.get(key, np.zeros(n)) + sums
    return out


#: Temporary label tagging each window's value in a combined raw query (removed before counting).
_TAG = "sloengine_window"


def _ms(seconds: float) -> str:
    return f"{max(1, int(round(seconds * 1000)))}ms"


def _tagged(expr: str, tag: str) -> str:
    return f'label_replace({expr}, "{_TAG}", "{tag}", "", "")'


def _by_series(result: list[dict]) -> dict[GroupKey, dict[str, float]]:
    """Series labels (without the name and our tag) → tag → value."""
    out: dict[GroupKey, dict[str, float]] = {}
    for item in result:
        labels = tuple(sorted((k, v) for k, v in item["metric"].items() if k not in ("__name__", _TAG)))
        out.setdefault(labels, {})[item["metric"].get(_TAG, "")] = _value(item)
    return out


def counter_increases(client: Client, selector: Selector, seconds: Sequence[float],
                      at: float) -> list[tuple[GroupKey, np.ndarray]]:
    """Exact events per window for every series of a counter, computed by Prometheus where it can be.

    Without a reset, the events in ``(at-w, at]`` are the last value minus the
    value at ``at-w`` (both the latest samples at those instants, as the exact
    count needs): two point lookups per window, all windows in one query. A
    second query names the series that had a reset, or no sample at either
    end (one that stopped or started within the window, as when a restart
    changes its ``instance``); only those have their samples fetched and
    counted here (see :func:`counter_events` for a new series' first sample).

    Each series is counted once, under its own labels: a series' labels
    also match a series with *more* labels (history without ``instance``
    beside the live series with it), so its samples are fetched with the
    labels it lacks pinned empty, and only the series itself is kept.
    """
    sel = selector.render()
    longest = max(seconds)
    values = _by_series(client.query(" or ".join(
        _tagged(f"{sel} - {sel} offset {_ms(s)}", str(i)) for i, s in enumerate(seconds)), at))
    checks = _by_series(client.query(
        _tagged(f"resets({sel}[{_ms(longest + BASELINE_SECONDS)}]) > 0", "resets") + " or "
        + _tagged(f"count_over_time({sel}[{_ms(longest)}])", "present"), at))
    tags = [str(i) for i in range(len(seconds))]
    names = {name for labels in checks for name, _ in labels}
    out = []
    for labels, check in sorted(checks.items()):
        found = values.get(labels, {})
        if "resets" not in check and all(t in found for t in tags):
            out.append((labels, np.array([found[t] for t in tags])))
            continue
        for got, times, vals in _samples(client, _exactly(selector.metric, labels, names),
                                         longest + BASELINE_SECONDS, at):
            if got == labels:
                out.append((labels, counter_increase(times, vals, at, seconds)))
    return out


def _exactly(metric: str, labels: GroupKey, names: Iterable[str]) -> Selector:
    """The one series of ``metric`` with exactly ``labels``: each of ``names`` it lacks is matched empty."""
    own = dict(labels)
    return Selector(metric, tuple(Matcher(k, MatchOp.EQ, own.get(k, "")) for k in sorted(set(names) | set(own))))


def gauge_counts(client: Client, selector: Selector, seconds: Sequence[float],
                 at: float) -> list[tuple[GroupKey, np.ndarray, np.ndarray]]:
    """(labels, sum, count) of a 0/1 gauge's samples in ``(at-w, at]`` per window, all computed by Prometheus
    (a range a millisecond short of ``w`` leaves out the sample at ``at-w`` itself)."""
    sel = selector.render()
    parts = []
    for i, s in enumerate(seconds):
        window = f"{max(1, int(round(s * 1000)) - 1)}ms"
        parts.append(_tagged(f"sum_over_time({sel}[{window}])", f"s{i}"))
        parts.append(_tagged(f"count_over_time({sel}[{window}])", f"c{i}"))
    out = []
    for labels, found in sorted(_by_series(client.query(" or ".join(parts), at)).items()):
        out.append((labels, np.array([found.get(f"s{i}", 0.0) for i in range(len(seconds))]),
                    np.array([found.get(f"c{i}", 0.0) for i in range(len(seconds))])))
    return out


class SLIError(Exception):
    """The SLI's series are there but cannot be counted as specified (a latency threshold without a bucket)."""


def read_raw(client: Client, p: Plan, at: float) -> dict[GroupKey, Counts]:
    """One SLO's counts from its raw series (exact for counters and probes; the user's PromQL for raw SLIs)."""
    sli = p.slo.sli
    labels = [w for w, _ in p.windows]
    seconds = [s for _, s in p.windows]
    n = len(labels)
    group_by = tuple(sli.group_by)
    if isinstance(sli, (RatioSLI, LatencySLI)):
        total_sel, part_sel, part_is_bad = event_selectors(sli)
        totals = _grouped(counter_increases(client, total_sel, seconds, at), group_by, n)
        parts = _grouped(counter_increases(client, part_sel, seconds, at), group_by, n)
        if isinstance(sli, LatencySLI) and any(group not in parts for group in totals):
            # A histogram exports every bucket, so no series at the threshold means it is not a bucket boundary:
            # counting no fast requests would report 100% errors.
            raise SLIError(f"{sli.bucket.metric} has no bucket le={sli.threshold_seconds:g} (any spelling) where "
                           f"{sli.count.metric} has data: the latency threshold must be one of the histogram's "
                           "bucket boundaries, in seconds")
        out = {}
        for group, total in totals.items():
            part = parts.get(group, np.zeros(n))
            bad = part if part_is_bad else total - part
            out[group] = Counts(Source.RAW, bad=dict(zip(labels, bad.tolist())),
                                total=dict(zip(labels, total.tolist())))
        return out
    if isinstance(sli, ProbeSLI):
        found = gauge_counts(client, sli.gauge, seconds, at)
        goods = _grouped([(lab, good) for lab, good, _ in found], group_by, n)
        totals = _grouped([(lab, count) for lab, _, count in found], group_by, n)
        return {g: Counts(Source.RAW, bad=dict(zip(labels, (totals[g] - goods[g]).tolist())),
                          total=dict(zip(labels, totals[g].tolist()))) for g in totals}
    assert isinstance(sli, RawSLI)
    return _read_raw_query(client, p, sli, at)


def _read_raw_query(client: Client, p: Plan, sli: RawSLI, at: float) -> dict[GroupKey, Counts]:
    """Raw PromQL SLIs: the user's query per window, evaluated by Prometheus (as its rules do)."""
    out: dict[GroupKey, Counts] = {}

    def per_window(query: str) -> dict[GroupKey, dict[str, float]]:
        values: dict[GroupKey, dict[str, float]] = {}
        for label, seconds in p.windows:
            for item in client.query(substitute_window(query, format_duration(max(1, int(seconds)))), at):
                group = tuple(sorted((k, v) for k, v in item["metric"].items() if k in sli.group_by))
                values.setdefault(group, {})[label] = _value(item)
        return values

    if sli.error_ratio is not None:
        for group, ratios in per_window(sli.error_ratio).items():
            out[group] = Counts(Source.QUERY, ratio=ratios)
        return out
    assert sli.total is not None
    totals = per_window(sli.total)
    part = per_window(sli.bad if sli.bad is not None else sli.good)  # type: ignore[arg-type]
    for group, total in totals.items():
        other = part.get(group, {})
        bad = {w: other.get(w, 0.0) if sli.bad is not None else total[w] - other.get(w, 0.0) for w in total}
        out[group] = Counts(Source.QUERY, bad=bad, total=total)
    return out


# ---- the run ------------------------------------------------------------------------------------


Progress = Callable[[int], None]


def evaluate(catalog: Catalog, client: Client, at: float | None = None, *,
             progress: Progress | None = None, use_recorded: bool = True) -> Report:
    """Every SLO of ``catalog`` at the instant ``at`` (default: now)."""

    started = time.monotonic()
    client.start_run()
    at = float(int(time.time()) if at is None else at)
    plans = [plan(slo, at) for slo in catalog.slos]
    counts: dict[tuple[str, str], dict[GroupKey, Counts]] = {}
    errors: dict[tuple[str, str], str] = {}
    partial: set[tuple[str, str]] = set()
    invalid: dict[tuple[str, str], str] = {}
    try:
        if use_recorded:
            counts.update(read_recorded(client, plans, at, partial, invalid))
    except QueryError as exc:
        if exc.kind in QueryError.SERVER_FAILURES:
            # The server itself is failing: asking it once per SLO would only repeat the failure slowly.
            errors = {(p.slo.service, p.slo.name): str(exc) for p in plans}
    errors = {**invalid, **errors}
    missing = [p for p in plans if (p.slo.service, p.slo.name) not in counts
               and (p.slo.service, p.slo.name) not in errors]
    if progress:
        progress(len(plans) - len(missing))
    if missing:
        def fetch(p: Plan) -> tuple[Plan, dict[GroupKey, Counts] | str]:
            try:
                groups = read_raw(client, p, at)
            except (QueryError, SLIError) as exc:
                return p, str(exc)
            return p, _first_problem(groups) or groups

        with ThreadPoolExecutor(max_workers=RAW_WORKERS) as pool:
            for p, outcome in pool.map(fetch, missing):
                key = (p.slo.service, p.slo.name)
                if isinstance(outcome, str):
                    errors[key] = outcome
                else:
                    counts[key] = {g: replace(cnt, note=PARTIAL_TILES_NOTE) if key in partial else cnt
                                   for g, cnt in outcome.items()}
                if progress:
                    progress(1)
    results: list[SLOResult] = compute(plans, counts, errors, at)
    return Report(at=at, prometheus=client.url, results=tuple(results), queries=client.queries,
                  duration_seconds=time.monotonic() - started)
