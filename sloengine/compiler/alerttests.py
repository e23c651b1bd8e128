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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from operator import attrgetter
from typing import Any, NamedTuple

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
from ..model.templates import expand_literal
from .labelvalues import label_value, selector_matches, solve_labels
from .promtool_semantics import (
    EVAL_SECONDS,
    PROMTOOL_MAX_SAMPLES,
    SCRAPE_SECONDS,
    Flow,
    Phase,
    Truth,
    Window,
    burn_condition,
    enough,
)
from .queries import number
from .rulefiles import HEADER, UnsupportedLayout, dump, scalar_texts
from .rules import AlertingRule, RuleGroup, alert_name, compile_slo, fast_raw_windows, is_raw_window

#: Events per scrape interval of steady traffic (10 per second).
BASE_RATE = 600

LabelPairs = tuple[tuple[str, str], ...]


# ---- synthetic series --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    """One input series, one sample per scrape from time 0 (``None``: no sample)."""

    metric: str
    labels: LabelPairs
    values: tuple[int | None, ...] = ()
    #: The same values in promtool's expanding notation, when built from phases (cheaper than ``values``).
    text: str = ""

    def selector(self) -> str:
        return _selector(self.metric, self.labels)

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


def _selector(metric: str, labels: LabelPairs) -> str:
    """A series' selector as a test file's ``input_series`` names it."""
    inner = ",".join(f"{k}={quote(v)}" for k, v in labels)
    return f"{metric}{{{inner}}}" if inner else metric


#: Roles a series plays: counters of bad, good or all events, or a probe's 0/1 gauge.
BAD, GOOD, TOTAL, GAUGE = "bad", "good", "total", "gauge"
#: A counter's events per scrape as (a, b) in ``a × total + b × bad`` (see :func:`_per_scrape`).
_FORMS = {BAD: (0, 1), GOOD: (1, -1), TOTAL: (1, 0)}


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
    found = _layout(slo, group, le)
    return found if isinstance(found, str) else tuple(stream for stream, _ in found)


#: Whether the SLI's selector of all events and that of its part select a stream.
Selected = tuple[bool, bool]


def _layout(slo: SLO, group: Mapping[str, str], le: str | None) -> tuple[tuple[Stream, Selected], ...] | str:
    """:func:`layout`, with what selects each stream, known from how it was made (each is selected by the
    selectors it was made for and by none it was made to avoid; selectors of other metrics never select it)."""
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
                return ((both, (True, True)), (rest, (True, False)))
        alone = stream(role, part.metric, [part], [sli.total])
        total = stream(TOTAL, sli.total.metric, [sli.total], [part])
        if alone is None or total is None:
            return (f"no label values make a series that the {role} selector {part} and the total selector "
                    f"{sli.total} tell apart")
        return ((alone, (False, True)), (total, (True, False)))
    if isinstance(sli, LatencySLI):
        spelling = le if le is not None else _le_spellings(sli.threshold_seconds)[0]
        part, count_selector = _latency_selectors(sli)
        bucket = stream(GOOD, part.metric, [part], extra={"le": spelling})
        count = stream(TOTAL, count_selector.metric, [count_selector])
        if bucket is None or count is None:
            return f"no label values match the histogram selector {sli.histogram} with le={spelling!r}"
        return ((bucket, (False, True)), (count, (True, False)))
    if isinstance(sli, ProbeSLI):
        gauge = stream(GAUGE, sli.gauge.metric, [sli.gauge])
        if gauge is None:
            return f"no label values match the probe selector {sli.gauge}"
        return ((gauge, (True, False)),)
    return "a raw PromQL SLI cannot be synthesised: its series are not known"


#: The ``le`` spellings and matcher of a threshold (the same few thresholds recur).
_le_spellings = lru_cache(maxsize=256)(le_spellings)
_le_matcher = lru_cache(maxsize=256)(le_matcher)


def _latency_selectors(sli: LatencySLI) -> tuple[Selector, Selector]:
    """The selectors of a latency SLI's good events (its bucket at the threshold) and of all its events."""
    return sli.bucket.with_matchers(_le_matcher(sli.threshold_seconds)), sli.count


def _counting(sli: RatioSLI | LatencySLI | ProbeSLI) -> tuple[Selector, Selector | None, bool]:
    """The selectors of all the events an SLI counts and of its part (none for a probe: its samples' values),
    and whether its part is the bad events."""
    if isinstance(sli, RatioSLI):
        return sli.total, sli.bad or sli.good, sli.bad is not None
    if isinstance(sli, LatencySLI):
        part, count = _latency_selectors(sli)
        return count, part, False
    return sli.gauge, None, False


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


@dataclass(frozen=True, slots=True)
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


# The planning below works on numbers only: which alerts fire when depends on an SLO's budget, conditions,
# guard and rule groups and on which of the input streams each SLI counts, never on names or label values.
# SLOs alike in those numbers (an organisation repeats objectives, windows and conditions) then share one
# solution (:func:`_solve`), which :class:`_Subject` spells out with each SLO's own series and alerts.

#: An alert in numbers: (index of its burn rule in :attr:`_Problem.burns`, id of its group's labels).
AlertId = tuple[int, int]
#: How an SLI counts one input stream: (id of the group's labels, as all events, as its part) or, when its
#: selectors cannot be evaluated, why.
Counted = tuple[int, bool, bool] | str


# _Owner, _Burn and _Problem are named tuples: a problem is the key of every SLO's look-up of its shared
# solution (:func:`_solve`), and a tuple hashes and compares its items without a Python call per item.


class _Owner(NamedTuple):
    """An SLO whose alerts take part in a case (the SLO under test or a peer sharing its alert name), as
    far as its alerts' outcome depends on it."""

    budget: float
    min_events: int
    probe: bool
    #: Whether its SLI's part counts bad events (else good ones).
    part_is_bad: bool
    #: How it counts each input stream of the SLO under test, in order; None for a raw SLI (nothing).
    view: tuple[Counted, ...] | None


class _Burn(NamedTuple):
    """A burn rule in numbers: its owner (an index into :attr:`_Problem.owners`) and condition, and whether it
    reads its long and its short window as of the previous evaluation (a window its SLO's slow group records,
    read by a rule of the fast group)."""

    owner: int
    condition: BurnRateAlert
    long_late: bool
    short_late: bool


class _Problem(NamedTuple):
    """Everything an SLO's scenarios depend on: the key under which SLOs alike share them."""

    #: The SLO under test first, then the peers whose alerts share its alert name.
    owners: tuple[_Owner, ...]
    #: The SLO under test's burn rules first, then its peers'.
    burns: tuple[_Burn, ...]
    #: How many of ``burns`` are the SLO under test's.
    own: int
    #: How many groups carry traffic (the groups' labels have the ids 0, 1).
    groups: int
    #: Whether the SLO under test counts each group's events as built (see :func:`_as_counted`); its own
    #: view is then left out.
    as_built: bool
    #: The roles of each group's streams, when an SLI's view of them counts (else ()).
    roles: tuple[tuple[str, ...], ...]


#: By a watch's key: whether its traffic is unimodal (see :class:`_Watch`), its condition's truths and whether
#: it fires, by instant, its condition, and (without a min_events guard) what a guard would read where both
#: windows burn. SLOs repeat objectives, windows and alert conditions, and their cases then ask the same
#: questions (bounded, so a long run cannot grow it).
_SHARED: dict[tuple[Any, ...], tuple[bool, dict[int, Truth], dict[int, Truth], Callable[[int], Truth],
                                     dict[int, tuple[float, bool]]]] = {}
_SHARED_LIMIT = 20000


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

    def __init__(self, ident: AlertId, burn: _Burn, owner: _Owner, flow: Flow) -> None:
        cond = burn.condition
        self.ident = ident
        self.burn = burn
        self.hold = cond.for_seconds
        budget, factor = float(owner.budget), float(cond.burn_factor)
        # Everything the answers depend on: watches alike in these share them (see _SHARED).
        key = (budget, factor, cond.long_seconds, burn.long_late, cond.short_seconds, burn.short_late,
               cond.for_seconds, owner.min_events, owner.probe, flow)
        shared = _SHARED.get(key)
        if shared is None:
            if len(_SHARED) > _SHARED_LIMIT:
                _SHARED.clear()
            long = Window(cond.long_seconds, not is_raw_window(cond.long_seconds), burn.long_late)
            short = Window(cond.short_seconds, not is_raw_window(cond.short_seconds), burn.short_late)
            events_read: dict[int, tuple[float, bool]] = {}
            shared = _SHARED[key] = (_shape(flow) != "other", {}, {},
                                     burn_condition(flow, owner.probe, long, short, budget, factor, owner.min_events,
                                                    None if owner.min_events else events_read), events_read)
        self.unimodal, self.truths, self.fired, self.condition, self.events_read = shared

    def truth(self, t: int) -> Truth:
        truths = self.truths
        if t in truths:
            return truths[t]
        result = truths[t] = self.condition(t)
        return result

    def firing(self, t: int) -> Truth:
        """Fires at ``t``: its condition held at every evaluation of ``[t - for, t]``."""
        fired = self.fired
        if t in fired:
            return fired[t]
        result = fired[t] = self._firing(t)
        return result

    def _firing(self, t: int) -> Truth:
        hold = self.hold
        if t < hold:
            return False
        now = self.truth(t)
        if now is False or not hold:
            return now
        # The evaluations of [t - for, t - eval], latest first.
        first = -(-(t - hold) // EVAL_SECONDS) * EVAL_SECONDS
        last = t - EVAL_SECONDS
        instants: Sequence[int]
        if self.unimodal and last - first >= 2 * EVAL_SECONDS:
            # Each parity's first and last evaluation (t itself is the last of its own).
            instants = (last, first + EVAL_SECONDS, first)
        else:
            instants = range(last, first - 1, -EVAL_SECONDS)
        unknown = now is None
        for e in instants:
            state = self.truth(e)
            if state is False:
                return False
            if state is None:
                unknown = True
        return None if unknown else True

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


class _Guard:
    """What the min_events guard of the SLO under test would have read in a case played without it.

    Its alerts' watches record, where both windows burn, the long window's events the guard would compare
    (see :func:`.promtool_semantics.burn_condition`): every instant the case asked is among them (and maybe
    more, as watches alike share their answers). Wherever the guard would have held at all of them, the
    case plays out the same with the guard (see :func:`_lifecycle`).
    """

    def __init__(self) -> None:
        self._read: list[dict[int, tuple[float, bool]]] = []
        self._least: tuple[float, float] | None = None

    def follow(self, case: _Case) -> None:
        """Take in the SLO under test's alerts in ``case``."""
        self._read.extend(w.events_read for w in case.watches if w.burn.owner == 0)

    def admits(self, least: int) -> bool:
        """Whether a guard of ``least`` events would have held at every instant read (it holds for every value
        above one where it holds)."""
        if not least:
            return True
        if self._least is None:
            exact = extrapolated = math.inf
            for read in self._read:
                for value, is_exact in read.values():
                    if is_exact:
                        exact = min(exact, value)
                    else:
                        extrapolated = min(extrapolated, value)
            self._least = exact, extrapolated
        exact, extrapolated = self._least
        return ((exact == math.inf or enough(exact, True, least) is True)
                and (extrapolated == math.inf or enough(extrapolated, False, least) is True))


def _as_counted(flows: Sequence[Flow]) -> dict[int, Flow]:
    """:func:`_sees` for an SLI whose streams in each group add up to that group's events (its total and its
    part are the group's total and bad or good events, see :meth:`_Subject._as_built`)."""
    out: dict[int, Flow] = {}
    for group, flow in enumerate(flows):
        if all(a.start < b.start for a, b in zip(flow.phases, flow.phases[1:])):
            seen = flow  # each start's phase is the phase itself: the same flow
        else:
            phases = []
            for start in sorted({p.start for p in flow.phases}):
                phase = next(p for p in reversed(flow.phases) if p.start <= start)
                phases.append(Phase(start, phase.total, phase.bad))
            seen = Flow(tuple(phases))
        if any(p.total for p in seen.phases):
            out[group] = seen
    return out


def _sees(owner: _Owner, streams: Sequence[tuple[str, Flow]]) -> dict[int, Flow]:
    """The events ``owner``'s SLI counts in each of its groups (by id), from the case's streams (role, flow)."""
    if owner.view is None:
        return {}
    by_group: dict[int, list[tuple[bool, str, Flow]]] = {}
    for counted, (role, flow) in zip(owner.view, streams):
        if isinstance(counted, str):
            raise ValueError(counted)
        group, as_total, as_part = counted
        if as_total:
            by_group.setdefault(group, []).append((True, role, flow))
        if as_part:
            by_group.setdefault(group, []).append((False, role, flow))
    out: dict[int, Flow] = {}
    for group, members in by_group.items():
        starts = sorted({p.start for _, _, f in members for p in f.phases})
        phases = []
        for start in starts:
            total = part_count = 0
            for is_total, role, flow in members:
                phase = next(p for p in reversed(flow.phases) if p.start <= start)
                count = _per_scrape(role, phase)
                if owner.probe:
                    total += 1 if phase.total else 0
                    part_count += count
                elif is_total:
                    total += count
                else:
                    part_count += count
            bad = part_count if owner.part_is_bad else total - part_count
            phases.append(Phase(start, total, bad))
        if any(p.total for p in phases):
            out[group] = Flow(tuple(phases))
    return out


class _Case:
    """The alerts of one alertname over one case's input streams (role, flow)."""

    def __init__(self, burns: Sequence[_Burn], owners: Sequence[_Owner], streams: Sequence[tuple[str, Flow]],
                 horizon: int, own: Mapping[int, Flow] | None = None) -> None:
        self.horizon = horizon
        self.burns = burns
        self.watches: list[_Watch] = []
        # The SLO under test sees each group's flow as built; other SLOs see what their selectors match.
        seen: dict[int, Mapping[int, Flow]] = {0: own} if own is not None else {}
        for index, burn in enumerate(burns):
            if burn.owner not in seen:
                seen[burn.owner] = _sees(owners[burn.owner], streams)
            owner = owners[burn.owner]
            for group, flow in seen[burn.owner].items():
                self.watches.append(_Watch((index, group), burn, owner, flow))

    def at(self, t: int) -> tuple[tuple[AlertId, ...], bool]:
        """Alerts firing at ``t``, and whether that list is certain."""
        firing: list[AlertId] = []
        certain = True
        for watch in self.watches:
            state = watch.firing(t)
            if state is None:
                certain = False
            elif state:
                firing.append(watch.ident)
        return tuple(firing), certain

    def watch(self, condition: BurnRateAlert, group: int = 0) -> _Watch | None:
        """The SLO under test's alert for ``condition`` in ``group`` (0: the first of its groups)."""
        return next((w for w in self.watches
                     if w.burn.owner == 0 and w.burn.condition == condition and w.ident[1] == group), None)

    def fires(self, t: int, condition: BurnRateAlert) -> Truth:
        found = self.watch(condition)
        return False if found is None else found.firing(t)

    def pages(self, alerts: Iterable[AlertId]) -> bool:
        """Whether one of ``alerts`` is a page of the SLO under test."""
        return any(self.burns[i].owner == 0 and self.burns[i].condition.severity is AlertSeverity.PAGE
                   for i, _ in alerts)

    def raises(self, alerts: Iterable[AlertId], condition: BurnRateAlert) -> bool:
        """Whether one of ``alerts`` is the SLO under test's for ``condition``."""
        return any(self.burns[i].owner == 0 and self.burns[i].condition == condition for i, _ in alerts)


# ---- scenarios ---------------------------------------------------------------------------------


OUTAGE, SUSTAINABLE, RECOVERY, QUIET = "outage", "sustainable-burn", "recovery", "quiet"
#: The kind of the one case that proves SUSTAINABLE, OUTAGE and RECOVERY in turn.
LIFECYCLE = "lifecycle"


@dataclass(frozen=True, slots=True)
class Check:
    at: int
    alerts: tuple[Firing, ...]


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class _Check:
    """A :class:`Check` in numbers."""

    at: int
    alerts: tuple[AlertId, ...]
    #: The alerts form a set (a promised page added to those firing): alerts spelled alike count once.
    merged: bool = False


@dataclass(frozen=True, eq=False, slots=True)
class _Outline:
    """A :class:`Scenario` in numbers: the title after the SLO's id, each group's traffic until ``horizon``,
    and checks naming alerts by :data:`AlertId`."""

    kind: str
    title: str
    flows: tuple[Flow, ...]
    horizon: int
    checks: tuple[_Check, ...]
    start: int | None = None
    timings: tuple[Timing, ...] = ()
    proves: tuple[str, ...] = ()
    recovered: int | None = None
    cleared: BurnRateAlert | None = None
    _values: dict[tuple[tuple[str, ...], ...], tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: The checks' distinct alerts (with whether merged), and which of them each check expects: an SLO spells
    #: out each list once.
    alert_sets: tuple[tuple[tuple[AlertId, ...], bool], ...] = field(init=False, repr=False)
    members: tuple[int, ...] = field(init=False, repr=False)
    #: The instant of each check.
    instants: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[tuple[AlertId, ...], bool], int] = {}
        members = tuple(index.setdefault((check.alerts, check.merged), len(index)) for check in self.checks)
        object.__setattr__(self, "alert_sets", tuple(index))
        object.__setattr__(self, "members", members)
        object.__setattr__(self, "instants", tuple(check.at for check in self.checks))

    def values(self, roles: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
        """Each input stream's values, for streams of these roles in each group (SLOs sharing the outline
        differ in roles only)."""
        found = self._values.get(roles)
        if found is None:
            found = self._values[roles] = _series_values(
                [(role, flow) for group, flow in zip(roles, self.flows) for role in group], self.horizon)
        return found


def _series_values(streams: Sequence[tuple[str, Flow]], horizon: int) -> tuple[str, ...]:
    """The values of streams (role, flow) until ``horizon``, in promtool's notation."""
    scrapes = _ceil(horizon) // SCRAPE_SECONDS
    peak = max((p.total for _, f in streams for p in f.phases), default=1)
    # Counters start high, as long-running ones do: increase() then never extrapolates towards zero.
    base = 10 ** max(6, len(str(peak * (c.RAW_WINDOW_MAX_SECONDS // SCRAPE_SECONDS))) + 1)
    return tuple(series_text(role, f, scrapes, base) for role, f in streams)


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
    return _detection(isinstance(slo.sli, ProbeSLI), slo.error_budget, cond)


def _detection(probe: bool, budget: float, cond: BurnRateAlert) -> float:
    share = cond.burn_factor * budget
    if probe:
        samples = cond.long_seconds // SCRAPE_SECONDS
        return float(SCRAPE_SECONDS * (math.floor(share * samples + 1e-9) + 1))
    return share * cond.long_seconds


def page_bound(slo: SLO, cond: BurnRateAlert, start: int) -> float:
    """Latest instant a full outage starting at ``start`` may be paged: detection + for + eval (+ scrape)."""
    return _page_bound(isinstance(slo.sli, ProbeSLI), slo.error_budget, cond, start)


def _page_bound(probe: bool, budget: float, cond: BurnRateAlert, start: int) -> float:
    scrape = 0 if probe else SCRAPE_SECONDS
    return (start + _detection(probe, budget, cond) + cond.for_seconds + EVAL_SECONDS + scrape
            + max(_lag(cond.long_seconds), _lag(cond.short_seconds)))


def resolve_bound(cond: BurnRateAlert, recovery: int) -> int:
    """Latest instant a page may still fire after the last failure: short window + one evaluation."""
    return recovery + cond.short_seconds + EVAL_SECONDS + _lag(cond.short_seconds)


def _next(t: int, phase: int) -> int:
    """The first instant from ``t`` on that lies ``phase`` seconds past a tile boundary."""
    return t + (phase - t) % c.TILE_SECONDS


def _clock(seconds: int) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"


def _unique(checks: Iterable[_Check | None]) -> tuple[_Check, ...]:
    seen: dict[int, _Check] = {}
    for check in checks:
        if check is not None:
            seen.setdefault(check.at, check)
    return tuple(seen[t] for t in sorted(seen))


Steady = tuple[tuple[Phase, ...], int]


@lru_cache(maxsize=256)
def _fraction(budget: float) -> Fraction:
    """The error budget as the rules spell it, exactly."""
    return Fraction(number(budget))


class _Planner:
    """The scenarios of one :class:`_Problem`."""

    def __init__(self, problem: _Problem) -> None:
        own = problem.owners[0]
        self.problem = problem
        self.budget = own.budget
        self.probe = own.probe
        self.min_events = own.min_events
        self.burns = problem.burns[:problem.own]
        self.pages = [b.condition for b in self.burns if b.condition.severity is AlertSeverity.PAGE]
        shortest = min((cond.long_seconds for cond in self.pages), default=3600)
        self.rate = max(BASE_RATE, math.ceil(2 * self.min_events * SCRAPE_SECONDS / shortest))
        #: The owners with the SLO under test's min_events guard off.
        self.unguarded = (_Owner(own.budget, 0, own.probe, own.part_is_bad, own.view),) + problem.owners[1:]

    # -- input

    def case(self, flows: Sequence[Flow], horizon: int, built: bool = False, guard: _Guard | None = None) -> _Case:
        """The alerts over the streams carrying ``flows`` (one per group): the SLO under test sees each group's
        flow as built with ``built``, else what its selectors match; with ``guard``, its min_events guard is
        off and ``guard`` notes what it would have read."""
        problem = self.problem
        owners = problem.owners if guard is None else self.unguarded
        own = dict(enumerate(flows)) if built else _as_counted(flows) if problem.as_built else None
        streams = [(role, flow) for roles, flow in zip(problem.roles, flows) for role in roles]
        case = _Case(problem.burns, owners, streams, horizon, own)
        if guard is not None:
            guard.follow(case)
        return case

    def unguarded_watch(self, flow: Flow, cond: BurnRateAlert) -> _Watch | None:
        """``cond``'s alert for the first group of the SLO under test, its min_events guard off, over the streams
        carrying ``flow`` (what :meth:`case` without ``guarded`` and ``peers`` would watch, alone)."""
        problem = self.problem
        own = self.unguarded[0]
        seen = (_as_counted((flow,)) if problem.as_built else
                _sees(own, [(role, flow) for role in problem.roles[0]]) if problem.roles else {})
        index = next((i for i, b in enumerate(self.burns) if b.condition == cond), None)
        if index is None or 0 not in seen:
            return None
        return _Watch((index, 0), self.burns[index], own, seen[0])

    def usable_groups(self, wanted: int) -> int:
        return min(wanted, self.problem.groups)

    def settle(self, case: _Case, times: Iterable[int]) -> _Check | None:
        """The first of ``times`` whose expected alerts are certain."""
        for t in times:
            if 0 < t <= case.horizon:
                alerts, certain = case.at(t)
                if certain:
                    return _Check(t, alerts)
        return None

    def outage_start(self, conds: Sequence[BurnRateAlert], earliest: int = 0) -> int:
        """After every long window is full (and ``earliest``), placed so that a tile boundary falls one scrape
        before the first condition can see the outage: rules that read that window from tiles would page a
        tile late."""
        earliest = max(earliest, _ceil(max(cond.long_seconds for cond in conds)) + 10 * SCRAPE_SECONDS)
        visible = _ceil(_detection(self.probe, self.budget, conds[0]) + (0 if self.probe else 1e-6))
        return _next(earliest, visible - SCRAPE_SECONDS)

    def outage_problem(self, cond: BurnRateAlert) -> str | None:
        share = cond.burn_factor * self.budget
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
        budget = _fraction(self.budget)
        if self.probe:
            phases: list[Phase] = [Phase(0, 1, 0)]
            num, den = budget.numerator, budget.denominator
            for i in range(1, horizon // SCRAPE_SECONDS + 2):
                if (i * num) // den > ((i - 1) * num) // den:
                    phases += [Phase(i, 1, 1), Phase(i + 1, 1, 0)]
            return tuple(phases), 1
        scale = self.scale(budget)
        total, bad = budget.denominator * scale, budget.numerator * scale
        if total > 10**9:
            return f"the budget {self.budget:g} needs {total} events per scrape for an exact 1x burn"
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

    def traffic(self) -> tuple[int, int]:
        """What the lifecycle's traffic takes of min_events: the events per scrape of clean traffic, and the
        scale of a 1x burn's (see :meth:`one_x_burn`)."""
        return self.rate, self.scale(_fraction(self.budget))

    def scale(self, budget: Fraction) -> int:
        """How many times the budget's denominator a 1x burn's events per scrape are."""
        shortest = min(cond.long_seconds for cond in self.pages)
        return max(math.ceil(BASE_RATE / budget.denominator),
                   math.ceil(2 * self.min_events * SCRAPE_SECONDS / (shortest * budget.denominator)))

    def lifecycle(self, conds: Sequence[BurnRateAlert],
                  guard: _Guard | None = None) -> tuple[_Outline | None, list[str]]:
        """A 1x burn, then a full outage, then the 1x burn again, in one case (see :class:`Scenario`); with
        ``guard``, without the SLO's min_events guard, noting what it would have read."""
        problems: list[str] = []
        longest = max(cond.long_seconds for cond in self.pages)
        hold = max(cond.for_seconds for cond in self.pages)
        t0 = self.outage_start(conds, _ceil(longest + hold) + 10 * SCRAPE_SECONDS)
        bounds = {cond: _page_bound(self.probe, self.budget, cond, t0) for cond in conds}
        recovered = _next(_ceil(_floor(max(bounds.values()))), SCRAPE_SECONDS)
        horizon = _floor(max(resolve_bound(p, recovered) for p in self.pages))
        steady = self.one_x_burn(horizon)
        if isinstance(steady, str):
            problems.append(steady)
        else:
            scenario, why = self._lifecycle(conds, steady, True, t0, bounds, recovered, horizon, guard)
            if scenario is not None:
                return scenario, problems + why
            problems.append(why[0])
        scenario, why = self._lifecycle(conds, self.clean(), False, t0, bounds, recovered, horizon, guard)
        return scenario, problems + why

    def _lifecycle(self, conds: Sequence[BurnRateAlert], steady: Steady, sustainable: bool, t0: int,
                   bounds: Mapping[BurnRateAlert, float], recovered: int, horizon: int,
                   guard: _Guard | None) -> tuple[_Outline | None, list[str]]:
        longest = max(cond.long_seconds for cond in self.pages)
        flows = self.flows(steady, t0, recovered)
        case = self.case(flows, horizon, built=True, guard=guard)
        checks: list[_Check | None] = []
        proves: list[str] = []

        # Before the outage: nothing pages, though the page windows are full of a steady burn.
        times = sorted({_ceil(longest), _ceil((longest + t0) / 2), t0 - SCRAPE_SECONDS})
        before = [self.settle(case, range(t, t - 10 * SCRAPE_SECONDS, -SCRAPE_SECONDS)) for t in times]
        if any(check is None for check in before):
            return None, ["the steady traffic before the outage has no instant where the expected alerts are "
                          "certain"]
        if any(case.pages(check.alerts) for check in before):  # type: ignore[union-attr]
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
            page: _Check | None = None
            for t in range(at, max(t0, at - 10 * EVAL_SECONDS), -EVAL_SECONDS):
                if case.fires(t, cond) is not True:
                    break
                page = self.settle(case, (t,))
                if page is not None:
                    break
            fired: int | None = None
            if page is not None:
                watch = case.watch(cond)
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
        steady_text = (f"an error ratio of exactly the budget ({self.budget:g}, a 1x burn)" if sustainable
                       else "traffic without errors")
        title = (f"{steady_text} never pages; a full outage from {_clock(t0)} pages within detection + "
                 f"for + evaluation{'' if self.probe else ' + scrape'} ({paced})")
        if recovery is not None:
            assert cleared_cond is not None
            title += (f"; after recovery at {_clock(recovered)} the {cleared_cond.name} page clears by "
                      f"{_clock(recovery[1].at)} (short window + evaluation)")
        return _Outline(LIFECYCLE, title, tuple(flows), horizon, _unique(checks), t0, tuple(timings),
                        tuple(proves), recovered if recovery is not None else None,
                        cleared_cond if recovery is not None else None), problems

    def promised(self, case: _Case, at: int, cond: BurnRateAlert) -> _Check | None:
        """What the workbook promises at ``at`` when the rules fall short: the alerts plus this page."""
        alerts, certain = case.at(at)
        if not certain:
            return None
        watch = case.watch(cond)
        assert watch is not None
        return _Check(at, alerts + (watch.ident,), merged=True)

    def recovery_checks(self, case: _Case, cond: BurnRateAlert, t0: int, recovered: int,
                        horizon: int) -> list[_Check] | None:
        """Paged at the recovery, ``cond`` cleared within its short window, and (if certain) no page at the end."""
        clear = _floor(resolve_bound(cond, recovered))
        paged = self.settle(case, range(recovered, t0, -EVAL_SECONDS))
        if paged is None or case.fires(paged.at, cond) is not True:
            return None
        cleared = self.settle(case, range(clear, recovered, -EVAL_SECONDS))
        if cleared is None or case.raises(cleared.alerts, cond):
            return None
        checks = [paged, cleared]
        settled = self.settle(case, range(horizon, recovered, -EVAL_SECONDS))
        if settled is not None and not case.pages(settled.alerts):
            checks.append(settled)
        return checks

    # -- the quiet case

    def quiet(self) -> _Outline | str:
        """A service with ``min_events - 1`` events, a few of them failing: the guard keeps the page quiet."""
        events = self.min_events - 1
        if events < 1:
            return "min_events is 1: a single event already counts, so there is no quiet service to show"
        for cond in self.pages:
            share = cond.burn_factor * self.budget
            for failures in sorted({min(events, 3), min(events, max(3, math.ceil(2 * share * events))), events}):
                flow, horizon, end = self.quiet_flow(cond, events, failures)
                watch = self.unguarded_watch(flow, cond)
                latest = min(horizon, end + cond.short_seconds + cond.for_seconds + 2 * SCRAPE_SECONDS)
                would = None if watch is None else next(
                    (t for t in range(_floor(end), latest + 1, EVAL_SECONDS) if watch.firing(t) is True), None)
                if would is None:
                    continue
                case = self.case((flow,), horizon)
                check = self.settle(case, range(would, horizon + 1, EVAL_SECONDS))
                if check is None or case.pages(check.alerts):
                    return "a quiet service pages despite min_events"
                title = (f"{failures} failures among {events} events (min_events {self.min_events}) "
                         f"do not page, though without the guard {cond.name} would page at {_clock(would)}")
                return _Outline(QUIET, title, (flow,), horizon, (check,), proves=(QUIET,))
        return "no quiet traffic below min_events would page without the guard"

    def quiet_flow(self, cond: BurnRateAlert, events: int, failures: int) -> tuple[Flow, int, int]:
        """After a full long window of silence, ``events - failures`` good events spread over half the long
        window (one per scrape for a probe), then the failures; the horizon, and when the failures end."""
        return _quiet_flow(self.probe, cond.long_seconds, cond.for_seconds, events, failures)


@lru_cache(maxsize=4096)
def _quiet_flow(probe: bool, long_seconds: int, for_seconds: int, events: int,
                failures: int) -> tuple[Flow, int, int]:
    """:meth:`_Planner.quiet_flow` (the same for every budget: built once, a long window's may have hundreds of
    phases)."""
    good = events - failures
    start = long_seconds // SCRAPE_SECONDS + 10
    good_scrapes = good if probe else max(1, min(good, long_seconds // SCRAPE_SECONDS // 2))
    bad_scrapes = failures if probe else min(failures, 3)
    # (start, total, bad) of each scrape that changes the events per scrape: a phase each.
    phases: list[tuple[int, int, int]] = [(0 if probe else 1, 0, 0)]
    index = start + 1
    for k in range(1, good_scrapes + 1):
        count = good * k // good_scrapes - good * (k - 1) // good_scrapes
        if phases[-1][1:] != (count, 0):
            phases.append((index, count, 0))
        index += 1
    for k in range(1, bad_scrapes + 1):
        count = failures * k // bad_scrapes - failures * (k - 1) // bad_scrapes
        if phases[-1][1:] != (count, count):
            phases.append((index, count, count))
        index += 1
    if phases[-1][1:] != (0, 0):
        phases.append((index, 0, 0))
    end = (index - 1) * SCRAPE_SECONDS
    horizon = end + long_seconds + for_seconds + 2 * SCRAPE_SECONDS
    return Flow(tuple(Phase(*p) for p in phases)), horizon, end


@lru_cache(maxsize=4096)
def _solve(problem: _Problem) -> tuple[tuple[_Outline, ...], tuple[str, ...]]:
    """The scenarios of every SLO alike in ``problem`` (in order: lifecycle, quiet), and why any is missing.

    Raises ValueError when a selector that decides the outcome cannot be evaluated.
    """
    planner = _Planner(problem)
    scenarios: list[_Outline] = []
    skipped: list[str] = []
    feasible = []
    for cond in planner.pages:
        problem_text = planner.outage_problem(cond)
        if problem_text is None:
            feasible.append(cond)
        else:
            skipped.append(problem_text)
    if feasible:
        lifecycle, problems = _lifecycle(planner, tuple(feasible))
        skipped.extend(problems)
        if lifecycle is not None:
            scenarios.append(lifecycle)
    if planner.min_events:
        # The quiet case's traffic is the first group's: with the streams' roles out of the problem, the other
        # group does not matter.
        quiet = _quiet(problem if problem.roles else
                       _Problem(problem.owners, problem.burns, problem.own, 1, problem.as_built, problem.roles))
        if isinstance(quiet, str):
            skipped.append(quiet)
        else:
            scenarios.append(quiet)
    order = {LIFECYCLE: 0, QUIET: 1}
    scenarios.sort(key=lambda s: order[s.kind])
    return tuple(scenarios), tuple(skipped)


#: The order of a check's alerts: by labels, then annotations (a getter, not a Python call per alert sorted).
_alert_order = attrgetter("labels", "annotations")


#: Lifecycle cases by their problem with the SLO under test's min_events guard off (and what its traffic
#: takes of min_events), with what the guard would have read (bounded, as _SHARED).
_LIFECYCLES: dict[tuple[Any, ...], tuple[_Guard, tuple[_Outline | None, list[str]]]] = {}


def _lifecycle(planner: _Planner, conds: tuple[BurnRateAlert, ...]) -> tuple[_Outline | None, list[str]]:
    """:meth:`_Planner.lifecycle`, shared by SLOs alike but in min_events whenever their guard would not
    have made a difference.

    The guard only ever turns a condition false (or undecided); played without it, the case asks the same
    truths in the same order as with it as long as the guard would have held wherever asked, and then
    comes out the same. So the case is played once without the guard, noting the least long-window events
    the guard would have read, and serves each min_events the guard would have passed there.
    """
    problem = planner.problem
    key = (_Problem(planner.unguarded, problem.burns, problem.own, problem.groups, problem.as_built, problem.roles),
           conds, planner.traffic())
    found = _LIFECYCLES.get(key)
    if found is None:
        if len(_LIFECYCLES) > _SHARED_LIMIT:
            _LIFECYCLES.clear()
        guard = _Guard()
        found = _LIFECYCLES[key] = (guard, planner.lifecycle(conds, guard))
    if found[0].admits(planner.min_events):
        return found[1]
    return planner.lifecycle(conds)


def forget_shared() -> None:
    """Drop every answer SLOs alike share (for tests that plan an SLO alone and among others)."""
    _SHARED.clear()
    _LIFECYCLES.clear()
    _solve.cache_clear()
    _quiet.cache_clear()


@lru_cache(maxsize=4096)
def _quiet(problem: _Problem) -> _Outline | str:
    """:meth:`_Planner.quiet`, shared by the problems alike in what it reads."""
    return _Planner(problem).quiet()


class _Subject:
    """An SLO under test by name and label: its input series, its alerts and its peers' as Prometheus labels
    them, and the :class:`_Problem` they pose in numbers, whose solution it spells out."""

    def __init__(self, slo: SLO, burns: Sequence[BurnRule], peers: Sequence[BurnRule], le: str | None,
                 facts: _Facts) -> None:
        self.slo = slo
        self.facts = facts
        self.alertname = alert_name(slo)
        self.burns = tuple(burns)
        self.all_burns = tuple(burns) + tuple(peers)
        self.groups = _group_values(slo)
        self.layouts = [_layout(slo, g, le) for g in self.groups]
        self.streams: list[Stream] = []
        #: What selects each stream of the SLO under test (see _layout).
        self.selected: list[Selected] = []
        self.roles: tuple[tuple[str, ...], ...] = ()
        #: The labels of each group id.
        self.group_labels: list[LabelPairs] = []
        #: The index in ``all_burns`` of each burn of the problem.
        self.burn_index: list[int] = []
        self._alerts: dict[AlertId, Firing] = {}
        #: Of each burn (by its index in ``all_burns``): its rule's labels (with the SLO's) and annotations.
        self._printed: dict[int, tuple[dict[str, str], LabelPairs, LabelPairs]] = {}
        self._checked: dict[tuple[tuple[AlertId, ...], bool], tuple[Firing, ...]] = {}
        self._order: list[int] = []
        self._selectors: list[str] = []

    def problem(self) -> str | None:
        pages = [b.condition.long_seconds for b in self.burns if b.condition.severity is AlertSeverity.PAGE]
        if not pages:
            return "no page conditions: there is no page to test"
        if max(pages) >= (PROMTOOL_MAX_SAMPLES - 1) * EVAL_SECONDS:
            return (f"a page reads {format_duration(max(pages))}: the outage would run past "
                    f"{format_duration(PROMTOOL_MAX_SAMPLES * EVAL_SECONDS)}, where promtool test rules refuses "
                    f"to read windows that long ({PROMTOOL_MAX_SAMPLES:,} samples per query); promtool check rules "
                    "still checks the rules")
        first = self.layouts[0]
        if isinstance(first, str):
            return first
        # "{{" in any value (joined by a character that cannot pair braces across two values): fine when it only
        # prints literal text, as spec text does unless the spec opted into templates.
        values = [v for b in self.burns for pairs in (b.rule.annotations, b.rule.labels) for _, v in pairs]
        if "{{" in "\0".join(values) and any(expand_literal(v) is None for v in values):
            return "the alert's labels or annotations are templates, which the expected alerts cannot spell"
        return None

    def numbers(self) -> _Problem:
        """The problem in numbers (for a subject without :meth:`problem`)."""
        usable = min(2, sum(1 for lay in self.layouts if not isinstance(lay, str)))
        layouts = [lay for lay in self.layouts[:usable] if not isinstance(lay, str)]
        self.streams = [s for lay in layouts for s, _ in lay]
        self.selected = [selected for lay in layouts for _, selected in lay]
        self.roles = tuple(tuple(s.role for s, _ in lay) for lay in layouts)
        ids: dict[LabelPairs, int] = {}
        for group in self.groups[:usable]:
            ids.setdefault(tuple(sorted(group.items())), len(ids))
        owners: list[_Owner] = []
        # By the identity of each SLO (see _Facts): its index in owners (None: left out).
        index: dict[int, int | None] = {}
        burns: list[_Burn] = []
        for i, b in enumerate(self.all_burns):
            if id(b.slo) not in index:
                owner = (self._own() if b.slo is self.slo else None) or self._owner(b.slo, ids)
                # A peer whose SLI counts none of the streams has no alert here: leave it out.
                blind = owner.view is None or all(counted == (-1, False, False) for counted in owner.view)
                index[id(b.slo)] = None if owners and blind else len(owners)
                if not blind or not owners:
                    owners.append(owner)
            found = index[id(b.slo)]
            if found is not None:
                cond, windows = b.condition, self.facts.fast(b.slo)
                burns.append(_Burn(found, cond, b.rank == 0 and cond.long_seconds not in windows,
                                   b.rank == 0 and cond.short_seconds not in windows))
                self.burn_index.append(i)
        self.group_labels = list(ids)
        as_built = self._as_built(owners[0])
        if as_built:
            own = owners[0]
            owners[0] = _Owner(own.budget, own.min_events, own.probe, own.part_is_bad, ())
        return _Problem(tuple(owners), tuple(burns), len(self.burns), len(layouts), as_built,
                        self.roles if len(owners) > 1 or not as_built else ())

    def _as_built(self, owner: _Owner) -> bool:
        """Whether the SLO under test's SLI counts exactly each group's events: in each group, the streams it
        counts as all events add up to the group's total, and those it counts as its part to the group's bad
        (or good) events, whatever the traffic. Its view of the streams then does not matter."""
        if owner.probe or owner.view is None:
            return False
        totals = [(0, 0)] * len(self.roles)
        parts = [(0, 0)] * len(self.roles)
        counted = iter(owner.view)
        for group, roles in enumerate(self.roles):
            for role in roles:
                seen = next(counted)
                if isinstance(seen, str) or role not in _FORMS:
                    return False
                found, as_total, as_part = seen
                if not (as_total or as_part):
                    continue
                if found != group:
                    return False
                t, b = _FORMS[role]
                if as_total:
                    totals[group] = (totals[group][0] + t, totals[group][1] + b)
                if as_part:
                    parts[group] = (parts[group][0] + t, parts[group][1] + b)
        part = (0, 1) if owner.part_is_bad else (1, -1)
        return all(t == (1, 0) for t in totals) and all(p == part for p in parts)

    def _own(self) -> _Owner | None:
        """The SLO under test in numbers: :meth:`_owner` from what its layout says selects each stream, when
        each stream carries its group's labels (group i's streams are then counted in group i); else None."""
        slo = self.slo
        view: list[Counted] = []
        groups = [group for group, lay in enumerate(self.roles) for _ in lay]
        group_by = slo.sli.group_by
        for group, stream, (as_total, as_part) in zip(groups, self.streams, self.selected):
            labels = dict(stream.labels)
            if (tuple(sorted((g, labels.get(g, "")) for g in group_by if labels.get(g, "")))
                    != tuple(sorted(self.groups[group].items()))):
                return None
            view.append((group, as_total, as_part) if as_total or as_part else (-1, False, False))
        sli = slo.sli
        return _Owner(slo.error_budget, slo.alerting.min_events, isinstance(sli, ProbeSLI),
                      isinstance(sli, RatioSLI) and sli.bad is not None, tuple(view))

    def _owner(self, slo: SLO, ids: dict[LabelPairs, int]) -> _Owner:
        """``slo`` in numbers, with how its SLI counts each of the input streams (new groups get new ids)."""
        sli = slo.sli
        probe = isinstance(sli, ProbeSLI)
        if isinstance(sli, RawSLI):
            return _Owner(slo.error_budget, slo.alerting.min_events, probe, False, None)
        total_sel, part, part_is_bad = _counting(sli)
        assert part is not None or probe
        view: list[Counted] = []
        for stream in self.streams:
            labels = dict(stream.labels)
            try:
                as_total = selector_matches(total_sel, stream.metric, labels)
                as_part = part is not None and selector_matches(part, stream.metric, labels)
            except ValueError as exc:
                view.append(str(exc))
                continue
            if not (as_total or as_part):
                view.append((-1, False, False))
                continue
            group = tuple(sorted((g, labels.get(g, "")) for g in sli.group_by if labels.get(g, "")))
            view.append((ids.setdefault(group, len(ids)), as_total, as_part))
        return _Owner(slo.error_budget, slo.alerting.min_events, probe, part_is_bad, tuple(view))

    def alert(self, ident: AlertId) -> Firing:
        """The alert as Prometheus labels it: the series' labels, overridden by the rule's."""
        found = self._alerts.get(ident)
        if found is None:
            index = self.burn_index[ident[0]]
            r = self.all_burns[index]
            printed = self._printed.get(index)
            if printed is None:
                # The rule's values are templates that print literal text (problem() refused any other kind):
                # promtool compares what they print. The rule's pairs are sorted; printing keeps their keys.
                rule_labels, annotations = _printed_rule(r.rule)
                own = {c.LABEL_SERVICE: r.slo.service, c.LABEL_SLO: r.slo.name, **dict(rule_labels)}
                own.pop("alertname", None)
                printed = self._printed[index] = (own, tuple(sorted(own.items())), annotations)
            own, own_sorted, annotations = printed
            group = self.group_labels[ident[1]]
            if group:
                labels = {**dict(group), **own}
                labels.pop("alertname", None)
                pairs = tuple(sorted(labels.items()))
            else:
                pairs = own_sorted
            found = self._alerts[ident] = Firing(pairs, annotations, r.slo.id, r.condition)
        return found

    def alerts(self, ids: tuple[AlertId, ...], merged: bool) -> tuple[Firing, ...]:
        """The alerts a check of these ids expects, in their order."""
        key = (ids, merged)
        found = self._checked.get(key)
        if found is None:
            alerts = [self.alert(a) for a in ids]
            if merged:
                alerts = list(set(alerts))
            alerts.sort(key=_alert_order)
            # Checks alike share their alerts (the same tuple): the test file lays out each list once.
            found = self._checked[key] = tuple(alerts)
        return found

    def checks(self, outline: _Outline) -> list[tuple[int, tuple[Firing, ...]]]:
        """Each check of ``outline`` (instant, alerts expected)."""
        lists = [self.alerts(ids, merged) for ids, merged in outline.alert_sets]
        return [(check.at, lists[member]) for check, member in zip(outline.checks, outline.members)]

    def order(self, count: int) -> list[int]:
        """The first ``count`` streams (an outline's) in the order of their series in a test case."""
        if not self._order:
            self._order = sorted(range(len(self.streams)),
                                 key=lambda i: (self.streams[i].metric, self.streams[i].labels))
        return [i for i in self._order if i < count]

    def scenario(self, outline: _Outline) -> Scenario:
        """``outline`` spelled out for this SLO: its series, alerts and conditions."""
        values = outline.values(self.roles)
        series = (Series(self.streams[i].metric, self.streams[i].labels, text=values[i])
                  for i in self.order(len(values)))
        # Timings and the cleared condition keep the outline's conditions: values equal to this SLO's.
        return Scenario(outline.kind, f"{self.slo.id}: {outline.title}", tuple(series),
                        tuple(Check(at, alerts) for at, alerts in self.checks(outline)), outline.start,
                        outline.timings, outline.proves, outline.recovered, outline.cleared)

    def written(self, outline: _Outline) -> _Written:
        """What the test file writes of ``outline`` spelled out (:meth:`scenario`, without its objects)."""
        values = outline.values(self.roles)
        if not self._selectors:
            self._selectors = [_selector(s.metric, s.labels) for s in self.streams]
        return _Written(f"{self.slo.id}: {outline.title}",
                        tuple((self._selectors[i], values[i]) for i in self.order(len(values))),
                        tuple(self.alerts(ids, merged) for ids, merged in outline.alert_sets),
                        outline.instants, outline.members, self.alertname)


# ---- the compiled alerting rules ---------------------------------------------------------------


def burn_rules(slo: SLO, groups: Sequence[RuleGroup]) -> tuple[BurnRule, ...]:
    """Each burn-rate condition's compiled alerting rule, found in the SLO's compiled (fast, slow) groups."""
    if not slo.alerting.enabled:
        return ()
    name = alert_name(slo)
    # Each burn alert's rules (with their group's rank) by their (long window, short window, own severity)
    # labels, in compile order: each condition takes the first left of its key (one look-up, not a scan).
    found: dict[tuple[str | None, str | None, str | None], list[tuple[AlertingRule, int]]] = {}
    for rank, group in enumerate(groups):
        for r in group.rules:
            if isinstance(r, AlertingRule) and r.alert == name:
                labels = dict(r.labels)
                if c.LABEL_LONG_WINDOW in labels:
                    key = (labels[c.LABEL_LONG_WINDOW], labels.get(c.LABEL_SHORT_WINDOW),
                           labels.get(c.LABEL_OWN_SEVERITY))
                    found.setdefault(key, []).append((r, rank))
    out: list[BurnRule] = []
    for cond in slo.alerting.conditions:
        matches = found.get((_duration(cond.long_seconds), _duration(cond.short_seconds), cond.severity.value))
        if not matches:
            raise AssertionError(
                f"{slo.id}: no compiled alerting rule for the {cond.name} {cond.severity.value} condition")
        rule, rank = matches.pop(0)
        out.append(BurnRule(slo, cond, rule, rank))
    return tuple(out)


#: :func:`.durations.format_duration` of the few windows conditions read, each spelled once.
_duration = lru_cache(maxsize=1024)(format_duration)


def _series_metrics(slo: SLO) -> set[str]:
    """The metric names of the series an SLO's rules read."""
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return {sli.histogram.metric + "_bucket", sli.histogram.metric + "_count"}  # its bucket and count
    return {s.metric for s in sli_selectors(slo.sli)}


class _Facts:
    """What the plans ask of each SLO of a rules file, asked once per SLO for all the file's plans.

    SLOs are known by identity (they are frozen, and hashing one is costly): the facts live no longer than
    the call that holds them and their SLOs.
    """

    def __init__(self) -> None:
        self._metrics: dict[int, set[str]] = {}
        self._fast: dict[int, tuple[int, ...]] = {}

    def metrics(self, slo: SLO) -> set[str]:
        """:func:`_series_metrics`."""
        found = self._metrics.get(id(slo))
        if found is None:
            found = self._metrics[id(slo)] = _series_metrics(slo)
        return found

    def fast(self, slo: SLO) -> tuple[int, ...]:
        """:func:`.rules.fast_raw_windows`."""
        found = self._fast.get(id(slo))
        if found is None:
            found = self._fast[id(slo)] = fast_raw_windows(slo)
        return found


def _interfering(slo: SLO, peers: Sequence[SLO], facts: _Facts) -> list[bool]:
    """For each peer, whether its alerts can fire on this SLO's series: same alert name and a metric in common
    (raw PromQL peers included: they may read anything). The others' rules match none of the series."""
    name = alert_name(slo)
    mine = facts.metrics(slo)
    return [p.alerting.enabled and alert_name(p) == name and bool(isinstance(p.sli, RawSLI) or mine & facts.metrics(p))
            and p.id != slo.id for p in peers]


def plan_compiled(slo: SLO, burns: Sequence[BurnRule], peers: Sequence[tuple[SLO, Sequence[BurnRule]]] = (),
                  le_spelling: str | None = None) -> AlertTestPlan:
    """The scenarios for one SLO from its compiled burn rules; ``peers`` are the other SLOs of its rules file
    (with theirs)."""
    return _plan_compiled(slo, burns, peers, le_spelling, _Facts())


@dataclass(frozen=True, slots=True)
class _Parts:
    """A plan before its scenarios are spelled out: what a plan and a test file are both made from."""

    slo: SLO
    alertname: str
    skipped: tuple[str, ...]
    subject: _Subject | None = None
    outlines: tuple[_Outline, ...] = ()

    def plan(self) -> AlertTestPlan:
        subject = self.subject
        return AlertTestPlan(self.slo, self.alertname,
                             () if subject is None else tuple(subject.scenario(o) for o in self.outlines), self.skipped)

    def written(self) -> list[_Written]:
        subject = self.subject
        return [] if subject is None else [subject.written(o) for o in self.outlines]


def _plan_compiled(slo: SLO, burns: Sequence[BurnRule], peers: Sequence[tuple[SLO, Sequence[BurnRule]]],
                   le_spelling: str | None, facts: _Facts) -> AlertTestPlan:
    return _plan_parts(slo, burns, peers, le_spelling, facts).plan()


def _plan_parts(slo: SLO, burns: Sequence[BurnRule], peers: Sequence[tuple[SLO, Sequence[BurnRule]]],
                le_spelling: str | None, facts: _Facts) -> _Parts:
    reason = skip_reason(slo)
    if reason is not None:
        return _Parts(slo, alert_name(slo), (reason,))
    interfering = _interfering(slo, [p for p, _ in peers], facts)
    mine = facts.metrics(slo)
    raw = [p for (p, _), chosen in zip(peers, interfering) if chosen and isinstance(p.sli, RawSLI)
           and any(m in text for m in mine for text in (p.sli.error_ratio, p.sli.good, p.sli.bad, p.sli.total) if text)]
    if raw:
        return _Parts(slo, alert_name(slo), (
            f"{raw[0].id} shares the alert name {alert_name(slo)} and reads the same metrics with raw PromQL, "
            "so its alerts cannot be predicted",))
    others = [b for (_, bs), chosen in zip(peers, interfering) if chosen for b in bs]
    try:
        subject = _Subject(slo, burns, others, le_spelling, facts)
        problem = subject.problem()
        if problem is not None:
            return _Parts(slo, subject.alertname, (problem,))
        outlines, skipped = _solve(subject.numbers())
    except ValueError as exc:
        return _Parts(slo, alert_name(slo), (str(exc),))
    return _Parts(slo, subject.alertname, skipped, subject, outlines)


def plan(slo: SLO, service: Service, *, peers: Sequence[SLO] = (), le_spelling: str | None = None) -> AlertTestPlan:
    """:func:`plan_compiled` compiling the SLO (and its peers) here: for callers without compiled rules."""
    return plan_compiled(slo, burn_rules(slo, compile_slo(slo, service)),
                         [(p, burn_rules(p, compile_slo(p, service))) for p in peers if p.id != slo.id],
                         le_spelling)


# ---- promtool documents ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Written:
    """What a test file writes of one scenario: its title, input series (selector, values), checks and
    alertname. The checks are their instants and, for each, which of the scenario's distinct lists of
    expected alerts it expects (checks alike share a list: the file lays out each once, see _laid_out)."""

    title: str
    series: tuple[tuple[str, str], ...]
    lists: tuple[tuple[Firing, ...], ...]
    instants: tuple[int, ...]
    members: tuple[int, ...]
    alertname: str

    @property
    def checks(self) -> list[tuple[int, tuple[Firing, ...]]]:
        """Each check (instant, alerts expected)."""
        return [(at, self.lists[member]) for at, member in zip(self.instants, self.members)]


def _written(scenario: Scenario, alertname: str) -> _Written:
    # The distinct lists by identity: a plan's checks alike share theirs (see _Subject.alerts).
    index: dict[int, int] = {}
    lists: list[tuple[Firing, ...]] = []
    members: list[int] = []
    for check in scenario.checks:
        found = index.get(id(check.alerts))
        if found is None:
            found = index[id(check.alerts)] = len(lists)
            lists.append(check.alerts)
        members.append(found)
    return _Written(scenario.title, tuple((s.selector(), s.values_text()) for s in scenario.series), tuple(lists),
                    tuple(check.at for check in scenario.checks), tuple(members), alertname)


def promtool_case(scenario: Scenario, alertname: str) -> dict[str, Any]:
    """One entry of a promtool test file's ``tests`` list."""
    return _case_document(_written(scenario, alertname))


def _case_document(case: _Written) -> dict[str, Any]:
    return {
        "name": case.title,
        "interval": format_duration(SCRAPE_SECONDS),
        "input_series": [{"series": selector, "values": values} for selector, values in case.series],
        "alert_rule_test": [
            {
                "eval_time": _clock(at),
                "alertname": case.alertname,
                "exp_alerts": [_expected(a) for a in alerts],
            }
            for at, alerts in case.checks
        ],
    }


def _printed(value: str) -> str:
    """What a label or annotation value prints (it is literal text, or a template printing literal text)."""
    printed = expand_literal(value)
    assert printed is not None, "a templated value reached an expected alert"
    return printed


def _printed_rule(rule: AlertingRule) -> tuple[LabelPairs, LabelPairs]:
    """:func:`_printed` of each value of a rule's labels and annotations: the values themselves unless one
    holds ``{{`` (spec text seldom does, and asking each value costs more than looking at them all at once)."""
    if "{{" not in "\0".join([v for pairs in (rule.labels, rule.annotations) for _, v in pairs]):
        return rule.labels, rule.annotations
    return tuple((k, _printed(v)) for k, v in rule.labels), tuple((k, _printed(v)) for k, v in rule.annotations)


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


#: Longest string the direct layout below writes itself: :func:`.rulefiles.dump` lays out longer ones.
_LONGEST = 4096


#: How :func:`.rulefiles.dump` writes each string met so far in a block (asked of ``dump`` itself), or None
#: unless on one line (bounded, as _SHARED).
_SCALARS: dict[str, str | None] = {}
_SCALARS_LIMIT = 1 << 16


def _scalar(value: str) -> str | None:
    found = _SCALARS.get(value, _UNSEEN)
    if found is _UNSEEN:
        _learn((value,))
        found = _SCALARS[value]
    return found  # type: ignore[return-value]


_UNSEEN = object()


def _learn(values: Iterable[str]) -> None:
    """Ask ``dump`` how it writes the strings among ``values`` not met yet, in one list: most strings of a
    test file are new, and one call per string would cost more than the writing."""
    if len(_SCALARS) > _SCALARS_LIMIT:
        _SCALARS.clear()
    new = [v for v in dict.fromkeys(values) if v not in _SCALARS]
    if not new:
        return
    fits = [v for v in new if len(v) <= _LONGEST]
    if len(fits) < len(new):
        _SCALARS.update(dict.fromkeys(new))  # too long for the fits below: dump lays the document out
    try:
        # What dump(fits) writes after each "- ", all strings quoted at once (see scalar_texts).
        texts = scalar_texts(fits)
    except UnsupportedLayout:
        pass
    else:
        _SCALARS.update(zip(fits, texts, strict=True))
        return
    for value in fits:  # some string takes more than a line: each on its own
        text = dump([value])
        _SCALARS[value] = text[2:-1] if text.startswith("- ") and text.count("\n") == 1 else None


@lru_cache(maxsize=1 << 12)
def _mapping_key(key: str) -> str | None:
    """``key`` as :func:`.rulefiles.dump` writes a mapping key, or None unless that is one line."""
    if len(key) > _LONGEST:
        return None
    text = dump({key: 0})
    return text[:-4] if text.endswith(": 0\n") and text.count("\n") == 1 else None


class _Multiline(Exception):
    """A string :func:`promtool_text` does not lay out itself."""


@lru_cache(maxsize=1 << 12)
def _check_heads(instants: tuple[int, ...], alertname: str) -> tuple[str, ...]:
    """The first lines of checks at ``instants`` in :func:`promtool_text`, ``alertname`` as laid out (the
    scenarios of SLOs alike check at the same instants)."""
    return tuple(f"  - eval_time: {_one(_clock(at))}\n    alertname: {alertname}\n" for at in instants)


def _one(value: str) -> str:
    text = _scalar(value)
    if text is None:
        raise _Multiline(value)
    return text


#: The line of each (key, value) of expected alerts' labels or annotations met so far, or None (see
#: :func:`_scalar`; bounded as _SCALARS).
_LINES: dict[tuple[str, str], str | None] = {}


def _label_line(pair: tuple[str, str]) -> str | None:
    key_text, value_text = _mapping_key(pair[0]), _scalar(pair[1])
    line = _LINES[pair] = None if key_text is None or value_text is None else f"        {key_text}: {value_text}\n"
    return line


def _mapping_lines(pairs: LabelPairs) -> list[str]:
    """The lines of an ``exp_labels`` or ``exp_annotations`` mapping, each (key, value) laid out once."""
    lines = _LINES
    found = [lines.get(pair) or _label_line(pair) for pair in dict(pairs).items()]
    if None in found:
        raise _Multiline(pairs)
    return found  # type: ignore[return-value]


def _expected_text(alert: Firing) -> str:
    """One ``exp_alerts`` entry of :func:`promtool_text` (its values learnt, see _laid_out)."""
    text = ["    - exp_labels:\n", *_mapping_lines(alert.labels)] if alert.labels else ["    - exp_labels: {}\n"]
    if alert.annotations:
        text += ["      exp_annotations:\n", *_mapping_lines(alert.annotations)]
    return "".join(text)


def _alerts_text(alerts: tuple[Firing, ...], expected: dict[int, str]) -> str:
    """A check's ``exp_alerts``, each alert laid out once per file (``expected``, by identity)."""
    if not alerts:
        return "    exp_alerts: []\n"
    texts = ["    exp_alerts:\n"]
    for alert in alerts:
        text = expected.get(id(alert))
        if text is None:
            text = expected[id(alert)] = _expected_text(alert)
        texts.append(text)
    return "".join(texts)


def _items(key: str, items: Sequence[str], indent: str = "") -> list[str]:
    """A key holding a list of one-line items, or an empty list."""
    if not items:
        return [f"{indent}{key}: []\n"]
    return [f"{indent}{key}:\n", *items]


def promtool_text(rule_files: Sequence[str], cases: Sequence[tuple[Scenario, str]],
                  group_order: Sequence[str] = ()) -> str:
    """:func:`promtool_document` of the cases (scenario, alertname) as :func:`.rulefiles.dump` writes it."""
    return _file_text(rule_files, [_written(s, name) for s, name in cases], group_order)


def _file_text(rule_files: Sequence[str], cases: Sequence[_Written], group_order: Sequence[str]) -> str:
    """A test file's text (see :func:`promtool_text`).

    Test files are the largest a compile writes, and their shape is fixed: laying it out here, each distinct
    string quoted by ``dump`` itself, costs a fraction of walking the document. A string ``dump`` would not
    write on one line (a multi-line annotation) leaves the whole document to ``dump``.
    """
    try:
        return _laid_out(rule_files, cases, group_order)
    except _Multiline:
        return dump(promtool_document(rule_files, [_case_document(case) for case in cases], group_order))


def _laid_out(rule_files: Sequence[str], cases: Sequence[_Written], group_order: Sequence[str]) -> str:
    # Every string of the file, asked of dump at once, with the values of the expected alerts' labels and
    # annotations (those met before cost a look-up). Lists of alerts and alerts are known by identity: a
    # plan's checks alike share their list (see _Subject.alerts), hashing alerts costs more than laying them
    # out, and ``cases`` holds every one while this runs, so no identity is reused.
    strings = [*rule_files, *group_order, format_duration(EVAL_SECONDS), format_duration(SCRAPE_SECONDS)]
    if len(_LINES) > _SCALARS_LIMIT:
        _LINES.clear()
    lists: set[int] = set()
    alerts_met: set[int] = set()
    for case in cases:
        strings += (case.title, case.alertname, *(text for pair in case.series for text in pair))
        for alerts in case.lists:
            if id(alerts) in lists:
                continue
            lists.add(id(alerts))
            for alert in alerts:
                if id(alert) not in alerts_met:
                    alerts_met.add(id(alert))
                    strings += [value for _, value in alert.labels]
                    strings += [value for _, value in alert.annotations]
    _learn(strings)
    out = _items("rule_files", [f"- {_one(f)}\n" for f in rule_files])
    out.append(f"evaluation_interval: {_one(format_duration(EVAL_SECONDS))}\n")
    if group_order:
        out += _items("group_eval_order", [f"- {_one(g)}\n" for g in group_order])
    interval = _one(format_duration(SCRAPE_SECONDS))
    # The texts of alerts and of alert lists, by identity.
    expected: dict[int, str] = {}
    listed: dict[int, str] = {}
    tests: list[str] = []
    for case in cases:
        tests.append(f"- name: {_one(case.title)}\n  interval: {interval}\n")
        tests += _items("input_series", [f"  - series: {_one(selector)}\n    values: {_one(values)}\n"
                                         for selector, values in case.series], "  ")
        texts = []
        for alerts in case.lists:
            text = listed.get(id(alerts))
            if text is None:
                text = listed[id(alerts)] = _alerts_text(alerts, expected)
            texts.append(text)
        heads = _check_heads(case.instants, _one(case.alertname))
        tests += _items("alert_rule_test", [part for head, member in zip(heads, case.members)
                                            for part in (head, texts[member])], "  ")
    out += _items("tests", tests)
    return "".join(out)


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
    start = posixpath.dirname(test_path) or "."
    parts, start_parts = target.split("/"), start.split("/")
    if parts[0] != start_parts[0] and all(p not in ("", ".", "..") for p in parts + start_parts):
        # Plain relative paths apart from their first directory on: up out of ``start``, down to ``target``
        # (what relpath computes, without asking for the working directory).
        return "../" * len(start_parts) + target
    return posixpath.relpath(target, start)


@dataclass(frozen=True)
class CompiledService:
    """What the alert tests need of one service's compile: its SLOs with their groups, in file order."""

    name: str
    slos: tuple[tuple[SLO, tuple[RuleGroup, ...]], ...]


def service_plans(service: CompiledService) -> dict[str, AlertTestPlan]:
    """Every SLO's plan in one service, by SLO id."""
    return {parts.slo.id: parts.plan() for parts in _service_parts(service)}


def _service_parts(service: CompiledService) -> list[_Parts]:
    """Every SLO's plan in one service, before its scenarios are spelled out, in file order."""
    ids = [slo.id for slo, _ in service.slos]
    burns = [burn_rules(slo, groups) for slo, groups in service.slos]
    facts = _Facts()
    out: list[_Parts] = []
    for i, (slo, _) in enumerate(service.slos):
        peers = [(p, burns[j]) for j, (p, _) in enumerate(service.slos) if ids[j] != ids[i]]
        out.append(_plan_parts(slo, burns[i], peers, None, facts))
    return out


def render_service_tests(service: CompiledService, calendars: bool,
                         plans_by_id: Mapping[str, AlertTestPlan] | None = None) -> tuple[str, str]:
    """The service's test file (path, text). A service none of whose SLOs can be tested gets a file with no
    tests (promtool still loads its rules), whose header says why: an untested SLO is never silent.

    ``calendars``: whether the calendar rules file exists (it is loaded for services with calendar windows).
    """
    slos = [slo for slo, _ in service.slos]
    cases: list[_Written] = []
    skips: list[tuple[SLO, tuple[str, ...]]] = []
    if plans_by_id is None:
        for parts in _service_parts(service):  # the same plans, their scenarios written without their objects
            cases += parts.written()
            skips.append((parts.slo, parts.skipped))
    else:
        for slo in slos:
            found = plans_by_id[slo.id]
            cases += [_written(scenario, found.alertname) for scenario in found.scenarios]
            skips.append((slo, found.skipped))
    test_path = c.tests_file(service.name)
    files = [c.rules_file(service.name)]
    calendar_groups: list[str] = []
    if calendars and any(isinstance(s.window, CalendarWindow) for s in slos):
        files.append(c.rules_file(c.CALENDAR_FILE_STEM))
        calendar_groups = [c.CALENDAR_GROUP]
    order = calendar_groups + [g.name for _, groups in service.slos for g in groups]
    notes = "".join(f"# {slo.id}: {reason}\n" for slo, skipped in skips for reason in skipped)
    return test_path, HEADER + notes + _file_text([_relative(p, test_path) for p in files], cases, order)


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

    A service none of whose SLOs can be tested gets a file with no tests whose header says why.
    """
    calendars = c.rules_file(c.CALENDAR_FILE_STEM) in rule_files
    out: dict[str, str] = {}
    for service in _compiled_services(catalog):
        if c.rules_file(service.name) not in rule_files:
            raise KeyError(f"no rendered rules file {c.rules_file(service.name)} for service {service.name}")
        path, text = render_service_tests(service, calendars)
        out[path] = text
    return out

