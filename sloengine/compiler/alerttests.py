"""``promtool test rules`` files that prove each SLO's burn-rate alerts behave.

A rule file that loads is not a rule file that pages. For every SLO with
alerting we write input series that match its own selectors and play the
scenarios whose outcome the SRE workbook fixes in advance:

* a full outage pages within the detection time (burn factor × error budget ×
  long window, plus ``for``, one evaluation interval and one scrape interval);
* an error ratio of exactly the budget (a 1x burn) never pages;
* a page clears within its short window (plus one evaluation) after recovery;
* with ``min_events``, a quiet service with a few failures does not page.

Scenarios are built so their outcome is clear: steady traffic at a constant
rate, then every event failing, then steady again, so each window's error
ratio only rises during the outage and only falls after it. The *times* of
the checks come from the workbook's bounds, not from the rules, and outages
start where a 5-minute tile boundary hurts most, so rules that detect later
than they should, or a window read from tiles, fail the generated tests.
promtool compares every firing alert of an alertname, so each check lists
them all; what Prometheus computes at an instant is asked of
:mod:`.promtool_semantics`, the one module that models its evaluation. A
check whose outcome that module cannot decide is moved to a nearby instant or
dropped, never guessed. When a page cannot meet its bound, the check is still
written (expecting the page) and the plan says so: the test fails until the
rules are fixed.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from ..model import conventions as c
from ..model.durations import format_duration
from ..model.promql import Matcher, MatchOp, Selector, le_matcher, le_spellings, quote
from ..model.slo import (
    SLO,
    AlertSeverity,
    BurnRateAlert,
    CalendarWindow,
    Catalog,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    Service,
    sli_selectors,
)
from .labelvalues import label_value, selector_matches, solve_labels
from .promtool_semantics import (
    EVAL_SECONDS,
    SCRAPE_SECONDS,
    Flow,
    Phase,
    Reading,
    Truth,
    all_of,
    at_least,
    burn_above,
    counter_window,
    evaluations,
    probe_window,
    read_time,
)
from .queries import number
from .rulefiles import HEADER, dump
from .rules import AlertingRule, RuleGroup, alert_name, compile_slo, fast_raw_windows, is_raw_window

#: Events per scrape interval of steady traffic (10 per second).
BASE_RATE = 600

LabelPairs = tuple[tuple[str, str], ...]


# ---- synthetic series --------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One input series, one sample per scrape from time 0 (``None``: no sample)."""

    metric: str
    labels: LabelPairs
    values: tuple[int | None, ...] = ()
    #: The same values in promtool's expanding notation, when built from phases (cheaper than ``values``).
    text: str = ""

    def selector(self) -> str:
        inner = ",".join(f"{k}={quote(v)}" for k, v in self.labels)
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def values_text(self) -> str:
        """promtool's expanding notation (``0+600x120 72000+0x5 _x3``)."""
        if self.text:
            return self.text
        parts: list[str] = []
        values, i = self.values, 0
        while i < len(values):
            if values[i] is None:
                j = i
                while j < len(values) and values[j] is None:
                    j += 1
                parts.append("_" if j - i == 1 else f"_x{j - i}")
                i = j
                continue
            start, step, j = values[i], 0, i + 1
            assert start is not None
            previous = start
            while j < len(values):
                current = values[j]
                if current is None or (j > i + 1 and current - previous != step):
                    break
                step, previous, j = current - previous, current, j + 1
            parts.append(f"{start}{'+' if step >= 0 else '-'}{abs(step)}x{j - i - 1}" if j - i > 1 else f"{start}")
            i = j
        return " ".join(parts)


#: Roles a series plays: counters of bad, good or all events, or a probe's 0/1 gauge.
BAD, GOOD, TOTAL, GAUGE = "bad", "good", "total", "gauge"


@dataclass(frozen=True)
class Stream:
    role: str
    metric: str
    labels: LabelPairs


def _per_scrape(role: str, phase: Phase) -> int:
    if role == BAD:
        return phase.bad
    if role == TOTAL:
        return phase.total
    return phase.total - phase.bad  # GOOD, and a probe's value (1 good, 0 failed)


def series_text(role: str, flow: Flow, scrapes: int, base: int) -> str:
    """A stream's samples ``0..scrapes`` for ``flow``: a counter from ``base``, or a probe's 0/1 samples."""
    parts: list[str] = []
    value = base
    phases = flow.phases
    if role != GAUGE:
        parts.append(str(base) if phases[0].start > 1 else "")
    for i, p in enumerate(phases):
        end = min(phases[i + 1].start - 1 if i + 1 < len(phases) else scrapes, scrapes)
        if end < p.start:
            continue
        count = end - p.start + 1
        step = _per_scrape(role, p)
        if role == GAUGE:
            if p.total == 0:
                parts.append(f"_x{count}" if count > 1 else "_")
            else:
                parts.append(f"{step}x{count - 1}" if count > 1 else str(step))
            continue
        if parts and parts[-1] == "":
            parts[-1] = f"{value}+{step}x{count}"
        else:
            parts.append(f"{value + step}+{step}x{count - 1}" if count > 1 else str(value + step))
        value += step * count
    return " ".join(p for p in parts if p)


def layout(slo: SLO, group: Mapping[str, str], le: str | None = None) -> tuple[Stream, ...] | str:
    """The series that carry one group's events for ``slo``'s SLI, or why none can be made."""
    sli = slo.sli
    fixed = dict(group)

    def stream(role: str, metric: str, include: Sequence[Selector], exclude: Sequence[Selector] = (),
               extra: Mapping[str, str] | None = None) -> Stream | None:
        labels = solve_labels(metric, include, exclude, {**fixed, **(extra or {})})
        return None if labels is None else Stream(role, metric, tuple(sorted(labels.items())))

    if isinstance(sli, RatioSLI):
        part, role = (sli.bad, BAD) if sli.bad is not None else (sli.good, GOOD)
        assert part is not None
        other = GOOD if role == BAD else BAD
        if part.metric == sli.total.metric:
            both = stream(role, part.metric, [part, sli.total])
            rest = stream(other, part.metric, [sli.total], [part])
            if both is not None and rest is not None:
                return (both, rest)
        alone = stream(role, part.metric, [part], [sli.total])
        total = stream(TOTAL, sli.total.metric, [sli.total], [part])
        if alone is None or total is None:
            return (f"no label values make a series that the {role} selector {part} and the total selector "
                    f"{sli.total} tell apart")
        return (alone, total)
    if isinstance(sli, LatencySLI):
        spelling = le if le is not None else le_spellings(sli.threshold_seconds)[0]
        bucket = stream(GOOD, sli.bucket.metric, [sli.bucket.with_matchers(le_matcher(sli.threshold_seconds))],
                        extra={"le": spelling})
        count = stream(TOTAL, sli.count.metric, [sli.count])
        if bucket is None or count is None:
            return f"no label values match the histogram selector {sli.histogram} with le={spelling!r}"
        return (bucket, count)
    if isinstance(sli, ProbeSLI):
        gauge = stream(GAUGE, sli.gauge.metric, [sli.gauge])
        return (gauge,) if gauge is not None else f"no label values match the probe selector {sli.gauge}"
    return "a raw PromQL SLI cannot be synthesised: its series are not known"


def _group_values(slo: SLO) -> list[dict[str, str]]:
    """One or two label sets for the SLI's grouping labels: ``route="a"`` and ``route="b"``."""
    group_by = tuple(slo.sli.group_by)
    if not group_by:
        return [{}]
    constraints: dict[str, list[Matcher]] = {}
    for selector in sli_selectors(slo.sli):
        for m in selector.matchers:
            if m.label in group_by:
                constraints.setdefault(m.label, []).append(m)
    groups: list[dict[str, str]] = []
    for prefer in (("a", "b", "c"), ("b", "c", "d")):
        group: dict[str, str] = {}
        for label in group_by:
            taken = {g[label] for g in groups if label in g}
            options = [p for p in prefer if p not in taken]
            value = label_value(constraints.get(label, []) + [Matcher(label, MatchOp.NE, v) for v in taken]
                                + [Matcher(label, MatchOp.NE, "")], options)
            if value is None:
                return groups or [{}]
            group[label] = value
        groups.append(group)
    return groups


# ---- what each alert sees ----------------------------------------------------------------------


@dataclass(frozen=True)
class Firing:
    """A firing alert as promtool shows it (alertname aside)."""

    labels: LabelPairs
    annotations: LabelPairs
    slo: str
    condition: BurnRateAlert


@dataclass(frozen=True)
class BurnRule:
    """A burn-rate condition and its compiled alerting rule (as handed on by the compile step)."""

    slo: SLO
    condition: BurnRateAlert
    rule: AlertingRule
    #: 0 when the rule sits in the SLO's fast group, 1 in its slow group.
    rank: int


def _shape(flow: Flow) -> str:
    """"steady" (one error ratio throughout), "peak" (the ratio rises, then falls) or "other"."""
    ratios = [(p.bad, p.total) for p in flow.phases if p.total]
    falling = False
    steady = True
    for (b0, t0), (b1, t1) in zip(ratios, ratios[1:]):
        step = b1 * t0 - b0 * t1
        if step:
            steady = False
        if step < 0:
            falling = True
        elif step > 0 and falling:
            return "other"
    return "steady" if steady else "peak"


#: Truths by a watch's key, then by instant: an organisation's SLOs repeat objectives, windows and alert
#: conditions, and their test cases then ask the same questions (bounded, so a long run cannot grow it).
_SHARED: dict[tuple[Any, ...], dict[int, Truth]] = {}
_SHARED_LIMIT = 20000


@dataclass(eq=False)
class _Watch:
    """One alert (a condition of one SLO, one group of its SLI) over one case's input.

    With steady traffic, or traffic whose error ratio rises then falls, every
    window's error ratio and event count rise then fall over time among the
    evaluations of one parity (an instant on the scrape grid or half way; raw
    ``increase()`` sees one sample fewer half way): so within each parity the
    condition holds over one run of evaluations, and it holds throughout an
    interval when it holds at both ends of each parity's share of it. Other
    traffic is evaluated instant by instant.
    """

    burn: BurnRule
    group: LabelPairs
    flow: Flow
    probe: bool
    fast: frozenset[int]
    truths: dict[int, Truth] = field(default_factory=dict)
    _alert: Firing | None = None

    def __post_init__(self) -> None:
        cond, slo = self.burn.condition, self.burn.slo
        self.budget = float(number(slo.error_budget))
        self.factor = float(number(cond.burn_factor))
        self.least = slo.alerting.min_events
        self.unimodal = _shape(self.flow) != "other"
        # Everything the answers depend on: SLOs alike in these share them (see _SHARED).
        self.key = (self.budget, self.factor, cond.long_seconds, cond.short_seconds, cond.for_seconds, self.least,
                    self.burn.rank, cond.long_seconds in self.fast, cond.short_seconds in self.fast, self.probe,
                    self.flow.phases)
        if len(_SHARED) > _SHARED_LIMIT:
            _SHARED.clear()
        self.truths = _SHARED.setdefault(self.key, {})

    def _window(self, t: int, w: int) -> Reading | None:
        at = read_time(t, self.burn.rank == 0 and w not in self.fast)
        tiled = not is_raw_window(w)
        return probe_window(self.flow, at, w, tiled) if self.probe else counter_window(self.flow, at, w, tiled)

    def truth(self, t: int) -> Truth:
        if t in self.truths:
            return self.truths[t]
        cond = self.burn.condition
        long = self._window(t, cond.long_seconds)
        result = burn_above(long, self.budget, self.factor)
        if result is not False:
            result = all_of((result, burn_above(self._window(t, cond.short_seconds), self.budget, self.factor),
                             at_least(long, self.least) if self.least else True))
        self.truths[t] = result
        return result

    def firing(self, t: int) -> Truth:
        """Fires at ``t``: its condition held at every evaluation of ``[t - for, t]``."""
        hold = self.burn.condition.for_seconds
        if t - hold < 0:
            return False
        now = self.truth(t)
        if now is False or not hold:
            return now
        every = evaluations(t - hold, t - EVAL_SECONDS)
        instants: Sequence[int] = every
        if self.unimodal and len(every) > 2:
            # Each parity's first and last evaluation (t itself is the last of its own).
            instants = sorted({every[0], every[1], t - EVAL_SECONDS})
        truths: list[Truth] = [now]
        for e in reversed(instants):
            truths.append(self.truth(e))
            if truths[-1] is False:
                return False
        return all_of(truths)

    def first_firing(self, since: int, until: int) -> int | None:
        """The first evaluation in ``[since, until]`` where the alert certainly fires, while its traffic only
        worsens (an outage that has not ended)."""
        lo, hi = since // EVAL_SECONDS, until // EVAL_SECONDS + 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self.firing(mid * EVAL_SECONDS) is True:
                hi = mid
            else:
                lo = mid + 1
        return lo * EVAL_SECONDS if lo * EVAL_SECONDS <= until else None

    def alert(self) -> Firing:
        """The alert as Prometheus labels it: the series' labels, overridden by the rule's."""
        if self._alert is None:
            self._alert = self._labelled()
        return self._alert

    def _labelled(self) -> Firing:
        r = self.burn
        labels = {**dict(self.group), c.LABEL_SERVICE: r.slo.service, c.LABEL_SLO: r.slo.name, **dict(r.rule.labels)}
        labels.pop("alertname", None)
        return Firing(tuple(sorted(labels.items())), tuple(sorted(r.rule.annotations)), r.slo.id, r.condition)


def _sees(slo: SLO, series: Sequence[tuple[Stream, Flow]]) -> dict[LabelPairs, Flow]:
    """The events ``slo``'s SLI counts in each of its groups, from the case's streams and their flows."""
    sli = slo.sli
    probe = isinstance(sli, ProbeSLI)
    if isinstance(sli, RatioSLI):
        total_sel, part, part_is_bad = sli.total, sli.bad or sli.good, sli.bad is not None
    elif isinstance(sli, LatencySLI):
        total_sel, part, part_is_bad = sli.count, sli.bucket.with_matchers(le_matcher(sli.threshold_seconds)), False
    elif isinstance(sli, ProbeSLI):
        total_sel, part, part_is_bad = sli.gauge, None, False
    else:
        return {}
    assert part is not None or probe
    by_group: dict[LabelPairs, list[tuple[str, Stream, Flow]]] = {}
    for stream, flow in series:
        labels = dict(stream.labels)
        key = tuple((g, labels.get(g, "")) for g in sli.group_by)
        if selector_matches(total_sel, stream.metric, labels):
            by_group.setdefault(key, []).append(("total", stream, flow))
        if part is not None and selector_matches(part, stream.metric, labels):
            by_group.setdefault(key, []).append(("part", stream, flow))
    out: dict[LabelPairs, Flow] = {}
    for key, members in by_group.items():
        starts = sorted({p.start for _, _, f in members for p in f.phases})
        phases = []
        for start in starts:
            total = part_count = 0
            for kind, stream, flow in members:
                phase = next(p for p in reversed(flow.phases) if p.start <= start)
                count = _per_scrape(stream.role, phase)
                if probe:
                    total += 1 if phase.total else 0
                    part_count += count
                elif kind == "total":
                    total += count
                else:
                    part_count += count
            bad = part_count if part_is_bad else total - part_count
            phases.append(Phase(start, total, bad))
        if any(p.total for p in phases):
            out[tuple(sorted(kv for kv in key if kv[1]))] = Flow(tuple(phases))
    return out


class _Case:
    """The alerts of one alertname over one case's input series."""

    def __init__(self, burns: Sequence[BurnRule], series: Sequence[tuple[Stream, Flow]], horizon: int,
                 own: tuple[str, dict[LabelPairs, Flow]] | None = None) -> None:
        self.horizon = horizon
        self.watches: list[_Watch] = []
        # The SLO under test sees each group's flow as built; other SLOs see what their selectors match.
        seen: dict[str, dict[LabelPairs, Flow]] = dict([own]) if own is not None else {}
        fast_by_slo: dict[str, frozenset[int]] = {}
        for burn in burns:
            slo = burn.slo
            if slo.id not in seen:
                seen[slo.id] = _sees(slo, series)
            if slo.id not in fast_by_slo:
                fast_by_slo[slo.id] = frozenset(fast_raw_windows(slo))
            fast = fast_by_slo[slo.id]
            probe = isinstance(slo.sli, ProbeSLI)
            for group, flow in sorted(seen[slo.id].items()):
                self.watches.append(_Watch(burn, group, flow, probe, fast))

    def at(self, t: int) -> tuple[tuple[Firing, ...], bool]:
        """Alerts firing at ``t``, and whether that list is certain."""
        firing: list[Firing] = []
        certain = True
        for watch in self.watches:
            state = watch.firing(t)
            if state is None:
                certain = False
            elif state:
                firing.append(watch.alert())
        return tuple(sorted(firing, key=lambda f: (f.labels, f.annotations))), certain

    def watch(self, slo_id: str, condition: BurnRateAlert, group: LabelPairs) -> _Watch | None:
        return next((w for w in self.watches
                     if w.burn.slo.id == slo_id and w.burn.condition == condition and w.group == group), None)

    def fires(self, t: int, slo_id: str, condition: BurnRateAlert, group: LabelPairs) -> Truth:
        found = self.watch(slo_id, condition, group)
        return False if found is None else found.firing(t)


# ---- scenarios ---------------------------------------------------------------------------------


OUTAGE, SUSTAINABLE, RECOVERY, QUIET = "outage", "sustainable-burn", "recovery", "quiet"
#: The kind of the one case that proves SUSTAINABLE, OUTAGE and RECOVERY in turn.
LIFECYCLE = "lifecycle"


@dataclass(frozen=True)
class Check:
    at: int
    alerts: tuple[Firing, ...]


@dataclass(frozen=True)
class Timing:
    """How fast one page condition paged a full outage, in seconds after the outage began."""

    condition: BurnRateAlert
    #: When the check found it firing (None: the rules do not page it by its bound; the check then fails).
    fired: int | None
    bound: float
    checked: int


@dataclass(frozen=True)
class Scenario:
    """One promtool test case: input series and the exact alerts expected at chosen instants.

    A ``lifecycle`` case proves several things on one time axis (``proves``): a
    steady 1x burn that never pages while it fills every page window, a full
    outage from ``start`` that pages each condition within its bound, and the
    return to the 1x burn at ``recovered`` after which every page clears.
    promtool evaluates every rule of the file at every step of a case, so one
    case instead of three costs a third.
    """

    kind: str
    title: str
    series: tuple[Series, ...]
    checks: tuple[Check, ...]
    start: int | None = None
    timings: tuple[Timing, ...] = ()
    proves: tuple[str, ...] = ()
    recovered: int | None = None
    cleared: BurnRateAlert | None = None


@dataclass(frozen=True)
class AlertTestPlan:
    slo: SLO
    alertname: str
    scenarios: tuple[Scenario, ...] = ()
    #: Why a scenario (or the whole SLO) has no test.
    skipped: tuple[str, ...] = ()

    def proving(self, claim: str) -> Scenario | None:
        """The scenario that proves ``claim`` (OUTAGE, SUSTAINABLE, RECOVERY, QUIET), if any."""
        return next((s for s in self.scenarios if claim in s.proves), None)


def skip_reason(slo: SLO) -> str | None:
    """Why an SLO gets no alert tests at all, or None."""
    if not slo.alerting.enabled:
        return "alerting is disabled"
    if isinstance(slo.sli, RawSLI):
        return "a raw PromQL SLI cannot be synthesised: sloengine does not know which series it reads"
    if not slo.alerting.conditions:
        return "no burn-rate conditions"
    return None


def _floor(t: float, step: int = EVAL_SECONDS) -> int:
    return int(math.floor(t / step + 1e-9)) * step


def _ceil(t: float, step: int = SCRAPE_SECONDS) -> int:
    return int(math.ceil(t / step - 1e-9)) * step


def _lag(window: int) -> int:
    """Extra delay of a window summed from tiles: up to one tile plus the slow group's evaluation."""
    return 0 if is_raw_window(window) else c.TILE_SECONDS + EVAL_SECONDS


def detection_seconds(slo: SLO, cond: BurnRateAlert) -> float:
    """How long a full outage takes to push the long window's burn past the factor (SRE workbook).

    Counted events: ``factor × budget × long window``. A probe counts samples,
    one per scrape, and its range ``(t-long, t]`` holds ``long/scrape`` of them:
    the first scrape whose failed samples exceed ``factor × budget`` of those.
    """
    share = cond.burn_factor * slo.error_budget
    if isinstance(slo.sli, ProbeSLI):
        samples = cond.long_seconds // SCRAPE_SECONDS
        return float(SCRAPE_SECONDS * (math.floor(share * samples + 1e-9) + 1))
    return share * cond.long_seconds


def page_bound(slo: SLO, cond: BurnRateAlert, start: int) -> float:
    """Latest instant a full outage starting at ``start`` may be paged: detection + for + eval (+ scrape)."""
    scrape = 0 if isinstance(slo.sli, ProbeSLI) else SCRAPE_SECONDS
    return (start + detection_seconds(slo, cond) + cond.for_seconds + EVAL_SECONDS + scrape
            + max(_lag(cond.long_seconds), _lag(cond.short_seconds)))


def resolve_bound(cond: BurnRateAlert, recovery: int) -> int:
    """Latest instant a page may still fire after the last failure: short window + one evaluation."""
    return recovery + cond.short_seconds + EVAL_SECONDS + _lag(cond.short_seconds)


def _next(t: int, phase: int) -> int:
    """The first instant from ``t`` on that lies ``phase`` seconds past a tile boundary."""
    return t + (phase - t) % c.TILE_SECONDS


def _clock(seconds: int) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"


def _unique(checks: Iterable[Check | None]) -> tuple[Check, ...]:
    seen: dict[int, Check] = {}
    for check in checks:
        if check is not None:
            seen.setdefault(check.at, check)
    return tuple(seen[t] for t in sorted(seen))


Steady = tuple[tuple[Phase, ...], int]


class _Planner:
    def __init__(self, slo: SLO, burns: Sequence[BurnRule], peers: Sequence[BurnRule], le: str | None) -> None:
        self.slo = slo
        self.alertname = alert_name(slo)
        self.probe = isinstance(slo.sli, ProbeSLI)
        self.burns = tuple(burns)
        self.all_burns = tuple(burns) + tuple(peers)
        self.pages = [b.condition for b in burns if b.condition.severity is AlertSeverity.PAGE]
        self.groups = _group_values(slo)
        self.layouts: list[tuple[Stream, ...] | str] = [layout(slo, g, le) for g in self.groups]
        self.min_events = slo.alerting.min_events
        shortest = min((cond.long_seconds for cond in self.pages), default=3600)
        self.rate = max(BASE_RATE, math.ceil(2 * self.min_events * SCRAPE_SECONDS / shortest))

    def problem(self) -> str | None:
        if not self.pages:
            return "no page conditions: there is no page to test"
        first = self.layouts[0]
        if isinstance(first, str):
            return first
        if any("{{" in v for b in self.burns for _, v in b.rule.annotations + b.rule.labels):
            return "the alert's labels or annotations are templates, which the expected alerts cannot spell"
        return None

    # -- input

    def streams(self, flows: Sequence[Flow]) -> list[tuple[Stream, Flow]]:
        out: list[tuple[Stream, Flow]] = []
        for streams, flow in zip(self.layouts, flows):
            assert not isinstance(streams, str)
            out.extend((s, flow) for s in streams)
        return out

    def series(self, streams: Sequence[tuple[Stream, Flow]], horizon: int) -> tuple[Series, ...]:
        scrapes = _ceil(horizon) // SCRAPE_SECONDS
        peak = max((p.total for _, f in streams for p in f.phases), default=1)
        # Counters start high, as long-running ones do: increase() then never extrapolates towards zero.
        base = 10 ** max(6, len(str(peak * (c.RAW_WINDOW_MAX_SECONDS // SCRAPE_SECONDS))) + 1)
        out = [Series(s.metric, s.labels, text=series_text(s.role, f, scrapes, base)) for s, f in streams]
        return tuple(sorted(out, key=lambda s: (s.metric, s.labels)))

    def own(self, flows: Sequence[Flow]) -> tuple[str, dict[LabelPairs, Flow]]:
        """What the SLO under test sees of ``flows`` (one per group): each group's flow under its labels."""
        return self.slo.id, {tuple(sorted(g.items())): f for g, f in zip(self.groups, flows)}

    def usable_groups(self, wanted: int) -> int:
        return min(wanted, sum(1 for lay in self.layouts if not isinstance(lay, str)))

    def target(self) -> LabelPairs:
        return tuple(sorted(self.groups[0].items()))

    def settle(self, case: _Case, times: Iterable[int]) -> Check | None:
        """The first of ``times`` whose expected alerts are certain."""
        for t in times:
            if 0 < t <= case.horizon:
                alerts, certain = case.at(t)
                if certain:
                    return Check(t, alerts)
        return None

    def outage_start(self, conds: Sequence[BurnRateAlert], earliest: int = 0) -> int:
        """After every long window is full (and ``earliest``), placed so that a tile boundary falls one scrape
        before the first condition can see the outage: rules that read that window from tiles would page a
        tile late."""
        earliest = max(earliest, _ceil(max(cond.long_seconds for cond in conds)) + 10 * SCRAPE_SECONDS)
        visible = _ceil(detection_seconds(self.slo, conds[0]) + (0 if self.probe else 1e-6))
        return _next(earliest, visible - SCRAPE_SECONDS)

    def outage_problem(self, cond: BurnRateAlert) -> str | None:
        share = cond.burn_factor * self.slo.error_budget
        if share >= 1:
            return f"{cond.name}: factor × budget = {share:g} ≥ 1, so not even a full outage can page"
        if self.probe and self.min_events > cond.long_seconds // SCRAPE_SECONDS:
            return (f"{cond.name}: min_events {self.min_events} exceeds the probe samples in "
                    f"{format_duration(cond.long_seconds)}")
        return None

    # -- traffic

    def one_x_burn(self, horizon: int) -> Steady | str:
        """Steady traffic whose error ratio is exactly the error budget (a 1x burn), and its events per scrape.

        For counters, ``total`` events per scrape of which ``bad`` fail, with
        ``bad / total`` the budget as the rules spell it; for a probe, a failed
        sample whenever ``i × budget`` crosses a whole number.
        """
        budget = Fraction(number(self.slo.error_budget))
        if self.probe:
            phases: list[Phase] = [Phase(0, 1, 0)]
            num, den = budget.numerator, budget.denominator
            for i in range(1, horizon // SCRAPE_SECONDS + 2):
                if (i * num) // den > ((i - 1) * num) // den:
                    phases += [Phase(i, 1, 1), Phase(i + 1, 1, 0)]
            return tuple(phases), 1
        shortest = min(cond.long_seconds for cond in self.pages)
        scale = max(math.ceil(BASE_RATE / budget.denominator),
                    math.ceil(2 * self.min_events * SCRAPE_SECONDS / (shortest * budget.denominator)))
        total, bad = budget.denominator * scale, budget.numerator * scale
        if total > 10**9:
            return f"the budget {self.slo.error_budget:g} needs {total} events per scrape for an exact 1x burn"
        return (Phase(1, total, bad),), total

    def clean(self) -> Steady:
        """Steady traffic without errors (when a 1x burn cannot be spelled or would page)."""
        return ((Phase(0 if self.probe else 1, 1 if self.probe else self.rate, 0),),
                1 if self.probe else self.rate)

    def flows(self, steady: Steady, start: int, until: int) -> list[Flow]:
        """The first group's steady traffic fails entirely in the scrapes of ``(start, until]``; a second group,
        if any, stays steady throughout."""
        phases, rate = steady
        first, last = start // SCRAPE_SECONDS + 1, until // SCRAPE_SECONDS

        def at(index: int) -> Phase:
            return next(p for p in reversed(phases) if p.start <= index)
        broken = [p for p in phases if p.start < first]
        broken.append(Phase(first, rate, rate))
        after = at(last + 1)
        broken.append(Phase(last + 1, after.total, after.bad))
        broken += [p for p in phases if p.start > last + 1]
        steady_flow = Flow(phases)
        return [Flow(tuple(broken))] + [steady_flow] * (self.usable_groups(2) - 1)

    # -- the lifecycle case

    def lifecycle(self, conds: Sequence[BurnRateAlert]) -> tuple[Scenario | None, list[str]]:
        """A 1x burn, then a full outage, then the 1x burn again, in one case (see :class:`Scenario`)."""
        problems: list[str] = []
        longest = max(cond.long_seconds for cond in self.pages)
        hold = max(cond.for_seconds for cond in self.pages)
        t0 = self.outage_start(conds, _ceil(longest + hold) + 10 * SCRAPE_SECONDS)
        bounds = {cond: page_bound(self.slo, cond, t0) for cond in conds}
        recovered = _next(_ceil(_floor(max(bounds.values()))), SCRAPE_SECONDS)
        horizon = _floor(max(resolve_bound(p, recovered) for p in self.pages))
        steady = self.one_x_burn(horizon)
        if isinstance(steady, str):
            problems.append(steady)
        else:
            scenario, why = self._lifecycle(conds, steady, True, t0, bounds, recovered, horizon)
            if scenario is not None:
                return scenario, problems + why
            problems.append(why[0])
        scenario, why = self._lifecycle(conds, self.clean(), False, t0, bounds, recovered, horizon)
        return scenario, problems + why

    def _lifecycle(self, conds: Sequence[BurnRateAlert], steady: Steady, sustainable: bool, t0: int,
                   bounds: Mapping[BurnRateAlert, float], recovered: int,
                   horizon: int) -> tuple[Scenario | None, list[str]]:
        slo = self.slo
        longest = max(cond.long_seconds for cond in self.pages)
        flows = self.flows(steady, t0, recovered)
        streams = self.streams(flows)
        case = _Case(self.all_burns, streams, horizon, self.own(flows))
        target = self.target()
        checks: list[Check | None] = []
        proves: list[str] = []

        # Before the outage: nothing pages, though the page windows are full of a steady burn.
        times = sorted({_ceil(longest), _ceil((longest + t0) / 2), t0 - SCRAPE_SECONDS})
        before = [self.settle(case, range(t, t - 10 * SCRAPE_SECONDS, -SCRAPE_SECONDS)) for t in times]
        if any(check is None for check in before):
            return None, ["the steady traffic before the outage has no instant where the expected alerts are "
                          "certain"]
        if any(a.slo == slo.id and a.condition.severity is AlertSeverity.PAGE
               for check in before for a in check.alerts):  # type: ignore[union-attr]
            return None, ["a steady 1x burn pages: the windows hold too few samples to burn at exactly the budget"
                          if sustainable else "steady traffic without errors pages"]
        checks.extend(before)
        if sustainable:
            proves.append(SUSTAINABLE)

        # The outage: each page condition at its own bound.
        first = conds[0]
        if first.for_seconds:
            checks.append(self.settle(case, range(_floor(t0 + first.for_seconds), t0, -EVAL_SECONDS)))
        timings: list[Timing] = []
        problems: list[str] = []
        for cond in conds:
            at = _floor(bounds[cond])
            page: Check | None = None
            for t in range(at, max(t0, at - 10 * EVAL_SECONDS), -EVAL_SECONDS):
                if case.fires(t, slo.id, cond, target) is not True:
                    break
                page = self.settle(case, (t,))
                if page is not None:
                    break
            fired: int | None = None
            if page is not None:
                watch = case.watch(slo.id, cond, target)
                assert watch is not None
                fired = watch.first_firing(_floor(t0), page.at)
            else:
                page = self.promised(case, at, cond)
                if page is None:
                    problems.append(f"{cond.name}: no instant where the expected alerts are certain")
                    continue
                problems.append(f"{cond.name}: the rules do not page a full outage by the workbook's "
                                f"{bounds[cond] - t0:g} s; the generated test fails until the rules are fixed")
            checks.append(page)
            timings.append(Timing(cond, None if fired is None else fired - t0, bounds[cond] - t0, page.at - t0))
        if not timings:
            return None, problems
        proves.append(OUTAGE)

        # Recovery: the first condition that paged clears within its short window, then every page.
        paging = [t.condition for t in timings if t.fired is not None]
        cleared_cond = paging[0] if paging else None
        recovery = self.recovery_checks(case, cleared_cond, t0, recovered, horizon) if cleared_cond else None
        if recovery is None:
            problems.append("no page fires, so none can recover" if cleared_cond is None else
                            f"{cleared_cond.name}: the page does not clear within its short window")
        else:
            checks.extend(recovery)
            proves.append(RECOVERY)

        paced = ", ".join(f"{t.condition.name} by +{_clock(t.checked)}" for t in timings)
        steady_text = (f"an error ratio of exactly the budget ({slo.error_budget:g}, a 1x burn)" if sustainable
                       else "traffic without errors")
        title = (f"{slo.id}: {steady_text} never pages; a full outage from {_clock(t0)} pages within detection + "
                 f"for + evaluation{'' if self.probe else ' + scrape'} ({paced})")
        if recovery is not None:
            assert cleared_cond is not None
            title += (f"; after recovery at {_clock(recovered)} the {cleared_cond.name} page clears by "
                      f"{_clock(recovery[1].at)} (short window + evaluation)")
        return Scenario(LIFECYCLE, title, self.series(streams, horizon), _unique(checks), t0, tuple(timings),
                        tuple(proves), recovered if recovery is not None else None,
                        cleared_cond if recovery is not None else None), problems

    def promised(self, case: _Case, at: int, cond: BurnRateAlert) -> Check | None:
        """What the workbook promises at ``at`` when the rules fall short: the alerts plus this page."""
        alerts, certain = case.at(at)
        if not certain:
            return None
        watch = next(w for w in case.watches if w.burn.slo.id == self.slo.id and w.burn.condition == cond
                     and w.group == self.target())
        return Check(at, tuple(sorted({*alerts, watch.alert()}, key=lambda f: (f.labels, f.annotations))))

    def recovery_checks(self, case: _Case, cond: BurnRateAlert, t0: int, recovered: int,
                        horizon: int) -> list[Check] | None:
        """Paged at the recovery, ``cond`` cleared within its short window, and (if certain) no page at the end."""
        slo, target = self.slo, self.target()
        clear = _floor(resolve_bound(cond, recovered))
        paged = self.settle(case, range(recovered, t0, -EVAL_SECONDS))
        if paged is None or case.fires(paged.at, slo.id, cond, target) is not True:
            return None
        cleared = self.settle(case, range(clear, recovered, -EVAL_SECONDS))
        if cleared is None or any(a.slo == slo.id and a.condition == cond for a in cleared.alerts):
            return None
        checks = [paged, cleared]
        settled = self.settle(case, range(horizon, recovered, -EVAL_SECONDS))
        if settled is not None and not any(a.slo == slo.id and a.condition.severity is AlertSeverity.PAGE
                                           for a in settled.alerts):
            checks.append(settled)
        return checks

    # -- the quiet case

    def quiet(self) -> Scenario | str:
        """A service with ``min_events - 1`` events, a few of them failing: the guard keeps the page quiet."""
        slo = self.slo
        events = self.min_events - 1
        if events < 1:
            return "min_events is 1: a single event already counts, so there is no quiet service to show"
        unguarded = [BurnRule(self._unguarded(b.slo), b.condition, b.rule, b.rank) for b in self.burns]
        for cond in self.pages:
            share = cond.burn_factor * slo.error_budget
            for failures in sorted({min(events, 3), min(events, max(3, math.ceil(2 * share * events))), events}):
                streams, horizon, end = self.quiet_streams(cond, events, failures)
                watch = _Case(unguarded, streams, horizon).watch(slo.id, cond, self.target())
                latest = min(horizon, end + cond.short_seconds + cond.for_seconds + 2 * SCRAPE_SECONDS)
                would = None if watch is None else next(
                    (t for t in range(_floor(end), latest + 1, EVAL_SECONDS) if watch.firing(t) is True), None)
                if would is None:
                    continue
                check = self.settle(_Case(self.all_burns, streams, horizon), range(would, horizon + 1, EVAL_SECONDS))
                if check is None or any(a.slo == slo.id and a.condition.severity is AlertSeverity.PAGE
                                        for a in check.alerts):
                    return "a quiet service pages despite min_events"
                title = (f"{slo.id}: {failures} failures among {events} events (min_events {self.min_events}) "
                         f"do not page, though without the guard {cond.name} would page at {_clock(would)}")
                return Scenario(QUIET, title, self.series(streams, horizon), (check,), proves=(QUIET,))
        return "no quiet traffic below min_events would page without the guard"

    @staticmethod
    def _unguarded(slo: SLO) -> SLO:
        return replace(slo, alerting=replace(slo.alerting, min_events=0))

    def quiet_streams(self, cond: BurnRateAlert, events: int,
                      failures: int) -> tuple[list[tuple[Stream, Flow]], int, int]:
        """After a full long window of silence, ``events - failures`` good events spread over half the long
        window (one per scrape for a probe), then the failures; the horizon, and when the failures end."""
        good = events - failures
        start = cond.long_seconds // SCRAPE_SECONDS + 10
        good_scrapes = good if self.probe else max(1, min(good, cond.long_seconds // SCRAPE_SECONDS // 2))
        bad_scrapes = failures if self.probe else min(failures, 3)
        phases: list[Phase] = [Phase(0 if self.probe else 1, 0, 0)]
        index = start + 1
        for k in range(1, good_scrapes + 1):
            phases.append(Phase(index, good * k // good_scrapes - good * (k - 1) // good_scrapes, 0))
            index += 1
        for k in range(1, bad_scrapes + 1):
            count = failures * k // bad_scrapes - failures * (k - 1) // bad_scrapes
            phases.append(Phase(index, count, count))
            index += 1
        phases.append(Phase(index, 0, 0))
        end = (index - 1) * SCRAPE_SECONDS
        horizon = end + cond.long_seconds + cond.for_seconds + 2 * SCRAPE_SECONDS
        return self.streams([Flow(_merge_phases(phases))]), horizon, end


def _merge_phases(phases: Sequence[Phase]) -> tuple[Phase, ...]:
    out: list[Phase] = []
    for p in phases:
        if out and (out[-1].total, out[-1].bad) == (p.total, p.bad):
            continue
        out.append(p)
    return tuple(out)


def _scenarios(planner: _Planner) -> tuple[list[Scenario], list[str]]:
    scenarios: list[Scenario] = []
    skipped: list[str] = []
    feasible = []
    for cond in planner.pages:
        problem = planner.outage_problem(cond)
        if problem is None:
            feasible.append(cond)
        else:
            skipped.append(problem)
    if feasible:
        lifecycle, problems = planner.lifecycle(feasible)
        skipped.extend(problems)
        if lifecycle is not None:
            scenarios.append(lifecycle)
    if planner.min_events:
        quiet = planner.quiet()
        if isinstance(quiet, str):
            skipped.append(quiet)
        else:
            scenarios.append(quiet)
    return scenarios, skipped


# ---- the compiled alerting rules ---------------------------------------------------------------


def burn_rules(slo: SLO, groups: Sequence[RuleGroup]) -> tuple[BurnRule, ...]:
    """Each burn-rate condition's compiled alerting rule, found in the SLO's compiled (fast, slow) groups."""
    if not slo.alerting.enabled:
        return ()
    name = alert_name(slo)
    found: list[tuple[AlertingRule, int]] = [
        (r, rank) for rank, group in enumerate(groups) for r in group.rules
        if isinstance(r, AlertingRule) and r.alert == name and any(k == c.LABEL_LONG_WINDOW for k, _ in r.labels)]
    out: list[BurnRule] = []
    for cond in slo.alerting.conditions:
        key = {c.LABEL_LONG_WINDOW: format_duration(cond.long_seconds),
               c.LABEL_SHORT_WINDOW: format_duration(cond.short_seconds),
               c.LABEL_OWN_SEVERITY: cond.severity.value}
        match = next((i for i, (r, _) in enumerate(found) if key.items() <= dict(r.labels).items()), None)
        if match is None:
            raise AssertionError(
                f"{slo.id}: no compiled alerting rule for the {cond.name} {cond.severity.value} condition")
        rule, rank = found.pop(match)
        out.append(BurnRule(slo, cond, rule, rank))
    return tuple(out)


def _series_metrics(slo: SLO) -> set[str]:
    """The metric names of the series an SLO's rules read."""
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return {sli.bucket.metric, sli.count.metric}
    return {s.metric for s in sli_selectors(slo.sli)}


def _interfering(slo: SLO, peers: Sequence[SLO]) -> tuple[SLO, ...]:
    """The peers whose alerts can fire on this SLO's series: same alert name and a metric in common (raw PromQL
    peers included: they may read anything). The others' rules match none of the series."""
    name = alert_name(slo)
    mine = _series_metrics(slo)
    return tuple(p for p in peers if p.id != slo.id and p.alerting.enabled and alert_name(p) == name
                 and (isinstance(p.sli, RawSLI) or mine & _series_metrics(p)))


def plan_compiled(slo: SLO, burns: Sequence[BurnRule], peers: Sequence[tuple[SLO, Sequence[BurnRule]]] = (),
                  le_spelling: str | None = None) -> AlertTestPlan:
    """The scenarios for one SLO from its compiled burn rules; ``peers`` are the other SLOs of its rules file
    (with theirs)."""
    reason = skip_reason(slo)
    if reason is not None:
        return AlertTestPlan(slo, alert_name(slo), (), (reason,))
    interfering = set(p.id for p in _interfering(slo, [p for p, _ in peers]))
    mine = _series_metrics(slo)
    raw = [p for p, _ in peers if p.id in interfering and isinstance(p.sli, RawSLI)
           and any(m in text for m in mine for text in (p.sli.error_ratio, p.sli.good, p.sli.bad, p.sli.total) if text)]
    if raw:
        return AlertTestPlan(slo, alert_name(slo), (), (
            f"{raw[0].id} shares the alert name {alert_name(slo)} and reads the same metrics with raw PromQL, "
            "so its alerts cannot be predicted",))
    others = [b for p, bs in peers if p.id in interfering for b in bs]
    try:
        planner = _Planner(slo, burns, others, le_spelling)
        problem = planner.problem()
        if problem is not None:
            return AlertTestPlan(slo, planner.alertname, (), (problem,))
        scenarios, skipped = _scenarios(planner)
    except ValueError as exc:
        return AlertTestPlan(slo, alert_name(slo), (), (str(exc),))
    order = {LIFECYCLE: 0, QUIET: 1}
    scenarios.sort(key=lambda s: order[s.kind])
    return AlertTestPlan(slo, planner.alertname, tuple(scenarios), tuple(skipped))


def plan(slo: SLO, service: Service, *, peers: Sequence[SLO] = (), le_spelling: str | None = None) -> AlertTestPlan:
    """:func:`plan_compiled` compiling the SLO (and its peers) here: for callers without compiled rules."""
    return plan_compiled(slo, burn_rules(slo, compile_slo(slo, service)),
                         [(p, burn_rules(p, compile_slo(p, service))) for p in peers if p.id != slo.id],
                         le_spelling)


# ---- promtool documents ------------------------------------------------------------------------


def promtool_case(scenario: Scenario, alertname: str) -> dict[str, Any]:
    """One entry of a promtool test file's ``tests`` list."""
    return {
        "name": scenario.title,
        "interval": format_duration(SCRAPE_SECONDS),
        "input_series": [{"series": s.selector(), "values": s.values_text()} for s in scenario.series],
        "alert_rule_test": [
            {
                "eval_time": _clock(check.at),
                "alertname": alertname,
                "exp_alerts": [_expected(a) for a in check.alerts],
            }
            for check in scenario.checks
        ],
    }


def _expected(alert: Firing) -> dict[str, Any]:
    out: dict[str, Any] = {"exp_labels": dict(alert.labels)}
    if alert.annotations:
        out["exp_annotations"] = dict(alert.annotations)
    return out


def promtool_document(rule_files: Sequence[str], cases: Sequence[dict[str, Any]],
                      group_order: Sequence[str] = ()) -> dict[str, Any]:
    document: dict[str, Any] = {"rule_files": list(rule_files), "evaluation_interval": format_duration(EVAL_SECONDS)}
    if group_order:
        document["group_eval_order"] = list(group_order)
    document["tests"] = list(cases)
    return document


def _group_names(slos: Sequence[SLO], calendars: bool) -> list[str]:
    names = [c.CALENDAR_GROUP] if calendars else []
    for s in slos:
        names += [c.group_name(s.service, s.name, "fast"), c.group_name(s.service, s.name, "slow")]
    return names


def alert_tests(slo: SLO, service: Service, rules_file: str, *, calendars_file: str | None = None,
                peers: Sequence[SLO] = (), group_order: Sequence[str] = (),
                le_spelling: str | None = None) -> dict[str, Any] | None:
    """A promtool test document for one SLO, or None when it gets no tests (see :func:`plan`).

    ``rules_file`` (and ``calendars_file``) are as the test file should name
    them, i.e. relative to the test file. Groups are evaluated fast before
    slow, in ``group_order`` or else the compile order of ``slo`` and ``peers``.
    """
    result = plan(slo, service, peers=peers, le_spelling=le_spelling)
    if not result.scenarios:
        return None
    files = [rules_file] + ([calendars_file] if calendars_file and isinstance(slo.window, CalendarWindow) else [])
    order = list(group_order) or _group_names(sorted((slo, *[p for p in peers if p.id != slo.id]), key=lambda s: s.id),
                                              len(files) > 1)
    return promtool_document(files, [promtool_case(s, result.alertname) for s in result.scenarios], order)


def _relative(target: str, test_path: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(test_path) or ".")


@dataclass(frozen=True)
class CompiledService:
    """What the alert tests need of one service's compile: its SLOs with their groups, in file order."""

    name: str
    slos: tuple[tuple[SLO, tuple[RuleGroup, ...]], ...]


def service_plans(service: CompiledService) -> dict[str, AlertTestPlan]:
    """Every SLO's plan in one service, by SLO id."""
    burns = {slo.id: burn_rules(slo, groups) for slo, groups in service.slos}
    out: dict[str, AlertTestPlan] = {}
    for slo, _ in service.slos:
        peers = [(p, burns[p.id]) for p, _ in service.slos if p.id != slo.id]
        out[slo.id] = plan_compiled(slo, burns[slo.id], peers)
    return out


def render_service_tests(service: CompiledService, calendars: bool,
                         plans_by_id: Mapping[str, AlertTestPlan] | None = None) -> tuple[str, str] | None:
    """The service's test file (path, text), or None when none of its SLOs can be tested.

    ``calendars``: whether the calendar rules file exists (it is loaded for services with calendar windows).
    """
    found = plans_by_id if plans_by_id is not None else service_plans(service)
    slos = [slo for slo, _ in service.slos]
    test_path = c.tests_file(service.name)
    files = [c.rules_file(service.name)]
    calendar_groups: list[str] = []
    if calendars and any(isinstance(s.window, CalendarWindow) for s in slos):
        files.append(c.rules_file(c.CALENDAR_FILE_STEM))
        calendar_groups = [c.CALENDAR_GROUP]
    order = calendar_groups + [g.name for _, groups in service.slos for g in groups]
    cases = [promtool_case(scenario, found[s.id].alertname) for s in slos for scenario in found[s.id].scenarios]
    if not cases:
        return None
    notes = "".join(f"# {s.id}: {reason}\n" for s in slos for reason in found[s.id].skipped)
    document = promtool_document([_relative(p, test_path) for p in files], cases, order)
    return test_path, HEADER + notes + dump(document)


def _compiled_services(catalog: Catalog) -> list[CompiledService]:
    services = {s.name: s for s in catalog.services}
    by_service: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        by_service.setdefault(slo.service, []).append(slo)
    return [CompiledService(name, tuple((s, compile_slo(s, services.get(name) or Service(name))) for s in slos))
            for name, slos in sorted(by_service.items())]


def plans(catalog: Catalog) -> dict[str, AlertTestPlan]:
    """Every SLO's plan, by SLO id."""
    out: dict[str, AlertTestPlan] = {}
    for service in _compiled_services(catalog):
        out.update(service_plans(service))
    return out


def skipped(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """For each SLO with a scenario (or all of its tests) left out, the reasons."""
    return {slo_id: p.skipped for slo_id, p in sorted(plans(catalog).items()) if p.skipped}


def render_tests(catalog: Catalog, rule_files: Mapping[str, str]) -> dict[str, str]:
    """Test files by path (``tests/<service>.test.yml``) for a catalogue whose rules files are ``rule_files``.

    A service none of whose SLOs can be tested gets no file; :func:`skipped` says why.
    """
    calendars = c.rules_file(c.CALENDAR_FILE_STEM) in rule_files
    out: dict[str, str] = {}
    for service in _compiled_services(catalog):
        if c.rules_file(service.name) not in rule_files:
            raise KeyError(f"no rendered rules file {c.rules_file(service.name)} for service {service.name}")
        rendered = render_service_tests(service, calendars)
        if rendered is not None:
            out[rendered[0]] = rendered[1]
    return out

