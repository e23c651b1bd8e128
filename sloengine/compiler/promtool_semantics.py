"""What ``promtool test rules`` of Prometheus 2.42 computes from sloengine's rules, for the alert tests' input.

The generated alert tests (:mod:`.alerttests`) must state every alert firing
at each checked instant. This module is the one place that knows how
Prometheus evaluates the few constructs those alerts depend on, for the input
the tests write (one sample per scrape at multiples of :data:`SCRAPE_SECONDS`,
rules evaluated every :data:`EVAL_SECONDS` from 0, as ``promtool`` does it:
every group at every step, in ``group_eval_order``):

* ``increase(c[w])`` over raw counters: samples in the closed range ``[t-w, t]``
  (2.42; 3.x made it left-open), extrapolated to the range's edges when the
  gap is under 1.1 average intervals, else by half an interval, and towards
  zero no further than the counter's first value allows;
* ``count_over_time``/``sum_over_time`` of probe samples over ``(t-w, t]``;
* tiles (:func:`.rules.tile_end_rule`): each evaluation's tile counts the held
  counter values' increments since the previous tile ended, the first
  evaluation's tile is empty, and a window sums the tiles recorded in
  ``(t-w, t]``: exactly the increments between the held values at ``t-w``
  (or 0) and ``t``;
* a window recorded by a group evaluated after the alert's group is read as of
  the previous evaluation;
* an alert with ``for: d`` fires at ``t`` when its condition held at every
  evaluation of ``[t-d, t]``.

Values are kept as exact counts times an extrapolation factor. Where every
count is an integer read without extrapolation, the float arithmetic of the
rules is repeated exactly (Python's floats are IEEE doubles, as Go's are);
otherwise a comparison is decided only when it is clear by a relative margin
of :data:`MARGIN`, which float rounding cannot bridge, and is else undecided
(``None``): the alert tests then pick another instant.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

#: The Prometheus release whose evaluation this module models.
PROMETHEUS_VERSION = "2.42"
#: The alert tests' input: one sample per series every minute, from 0.
SCRAPE_SECONDS = 60
#: The alert tests' ``evaluation_interval``.
EVAL_SECONDS = 30
#: The most samples one query may load in ``promtool test rules`` (its engine's ``MaxSamples``; a server's
#: default is 50 million). promtool evaluates every group at the test's interval, so a range over a recorded
#: series holds one sample per evaluation: a test running past 10,000 evaluations (83h20m) cannot read a
#: window that long.
PROMTOOL_MAX_SAMPLES = 10_000
#: Relative distance from a threshold inside which float rounding might decide a comparison.
MARGIN = 1e-9

Truth = bool | None


@dataclass(frozen=True, slots=True)
class Phase:
    """From scrape ``start`` on (until the next phase), ``total`` events per scrape of which ``bad`` failed."""

    start: int
    total: int
    bad: int


@dataclass(frozen=True)
class Flow:
    """One group's events per scrape as a list of phases (the first starts at scrape 1, or 0 for a probe)."""

    phases: tuple[Phase, ...]

    def __post_init__(self) -> None:
        # For each phase, from where it starts: (scrape start - 1, events of every scrape before it, and bad
        # ones, its events per scrape, and bad ones), for events() by bisection.
        starts: list[int] = []
        index: list[tuple[int, int, int, int, int]] = []
        total = bad = 0
        previous: Phase | None = None
        for p in self.phases:
            if previous is not None:
                length = p.start - previous.start
                total += previous.total * length
                bad += previous.bad * length
            starts.append(p.start)
            index.append((p.start - 1, total, bad, p.total, p.bad))
            previous = p
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_index", tuple(index))
        # Flows key the alert tests' shared answers: hash once, from what the phases are (as their hash would,
        # without a call per phase).
        object.__setattr__(self, "_hash", hash(tuple((p.start, p.total, p.bad) for p in self.phases)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined]

    def events(self, first: int, last: int) -> tuple[int, int]:
        """(total, bad) events of scrapes ``first+1 .. last``: the events of every scrape up to ``last`` less those
        up to ``first``, each from the last phase starting at or before it (inline: asked for every window)."""
        if last <= first:
            return 0, 0
        starts, index = self._starts, self._index  # type: ignore[attr-defined]
        i = bisect_right(starts, last) - 1
        if i < 0:
            return 0, 0
        before, total, bad, rate, bad_rate = index[i]
        total_hi, bad_hi = total + rate * (last - before), bad + bad_rate * (last - before)
        i = bisect_right(starts, first) - 1
        if i < 0:
            return total_hi, bad_hi
        before, total, bad, rate, bad_rate = index[i]
        return total_hi - total - rate * (first - before), bad_hi - bad - bad_rate * (first - before)


@dataclass(frozen=True)
class Reading:
    """Events over a window as a rule records them: exact counts times a common extrapolation factor."""

    total: int
    bad: int
    factor: float

    @property
    def exact(self) -> bool:
        return self.factor == 1.0


def _extrapolation(t: int, w: int, first: int, last: int) -> float:
    """``increase()``'s factor for samples ``first..last`` (scrape indices) in ``[t-w, t]``, for a counter whose
    first value in the range is far from zero (the alert tests start every counter high, so this holds)."""
    sampled = SCRAPE_SECONDS * (last - first)
    to_start = SCRAPE_SECONDS * first - (t - w)
    to_end = t - SCRAPE_SECONDS * last
    average = sampled / (last - first)
    threshold = average * 1.1
    extended = (sampled + (to_start if to_start < threshold else average / 2)
                + (to_end if to_end < threshold else average / 2))
    return extended / sampled


#: A :class:`Reading`'s fields (total, bad, factor), for the callers that ask for many.
Counts = tuple[int, int, float]


def counter_window(flow: Flow, t: int, w: int, tiled: bool) -> Reading | None:
    """A counter SLI's events over ``w`` at ``t``: raw ``increase()``, or summed tiles."""
    counts = _counter_counts(flow, t, w, tiled)
    return None if counts is None else Reading(*counts)


def _counter_counts(flow: Flow, t: int, w: int, tiled: bool) -> Counts | None:
    if t < 0:
        return None
    last = t // SCRAPE_SECONDS
    if tiled:
        if t < EVAL_SECONDS:
            return None
        total, bad = flow.events(max(t - w, 0) // SCRAPE_SECONDS, last)
        return total, bad, 1.0
    first = max(0, -(-(t - w) // SCRAPE_SECONDS))
    if last - first < 1:
        return None
    total, bad = flow.events(first, last)
    return total, bad, _extrapolation(t, w, first, last)


def probe_window(flow: Flow, t: int, w: int, tiled: bool) -> Reading | None:
    """A probe's samples over ``w`` at ``t`` (``(t-w, t]``; tiles never count the sample at 0)."""
    counts = _probe_counts(flow, t, w, tiled)
    return None if counts is None else Reading(*counts)


def _probe_counts(flow: Flow, t: int, w: int, tiled: bool) -> Counts | None:
    if t < 0 or (tiled and t < EVAL_SECONDS):
        return None
    start = max(t - w, 0) if tiled else t - w
    first = start // SCRAPE_SECONDS if start >= 0 else -1
    total, bad = flow.events(first, t // SCRAPE_SECONDS)
    return None if total == 0 else (total, bad, 1.0)


def _decide(value: float, threshold: float, strict: bool, exact: bool) -> Truth:
    """``value > threshold`` (or ``>=``). ``value`` is Prometheus's own result when ``exact``, else within a few
    float roundings of it: then only a clear gap decides."""
    if exact:
        return value > threshold if strict else value >= threshold
    if value > threshold * (1 + MARGIN):
        return True
    if value < threshold * (1 - MARGIN):
        return False
    return None


def burn_above(reading: Reading | None, budget: float, factor: float) -> Truth:
    """``bad / (total > 0) / budget > factor`` with ``budget`` and ``factor`` as the rule spells them. The
    extrapolation factor, common to both counts, cancels but for rounding."""
    if reading is None or reading.total == 0:
        return False
    return _decide(reading.bad / reading.total / budget, factor, True, reading.exact)


def at_least(reading: Reading | None, events: int) -> Truth:
    """``total >= events`` (the ``min_events`` guard)."""
    if reading is None:
        return False
    return enough(reading.total * reading.factor, reading.exact, events)


def enough(value: float, exact: bool, events: int) -> Truth:
    """:func:`at_least` for a window's events as a rule records them (count × extrapolation, and whether that
    is exact): it holds for every larger value too."""
    return _decide(value, float(events), False, exact)


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a burn alert as its rule reads it."""

    seconds: int
    #: Summed from tiles (else read from the raw series).
    tiled: bool
    #: Recorded by a group evaluated after the alert's: read as of the previous evaluation (:func:`read_time`).
    late: bool


def burn_condition(flow: Flow, probe: bool, long: Window, short: Window, budget: float, factor: float,
                   least: int, events_read: dict[int, tuple[float, bool]] | None = None) -> Callable[[int], Truth]:
    """A burn alert's condition over ``flow``, by evaluation instant: both windows burn above ``factor``
    (:func:`burn_above`) and, with ``least`` (``min_events``), the long window holds that many events
    (:func:`at_least`).

    The same decisions as those functions over :func:`counter_window` or :func:`probe_window`, without a
    :class:`Reading` per window: the alert tests ask tens of thousands of these. ``events_read`` receives,
    for each instant where both windows burn, what the guard reads there (the long window's events as
    count × extrapolation, and whether exact; see :func:`enough`).
    """
    # A partial of a module function rather than a closure: many live at once, and each closure would hold a
    # cell per variable for the garbage collector to walk.
    return partial(_holds, flow, _probe_counts if probe else _counter_counts,
                   long.seconds, long.tiled, EVAL_SECONDS if long.late else 0,
                   short.seconds, short.tiled, EVAL_SECONDS if short.late else 0,
                   budget, factor, least, events_read)


def _holds(flow: Flow, counts: Callable[[Flow, int, int, bool], Counts | None],
           long_seconds: int, long_tiled: bool, long_shift: int, short_seconds: int, short_tiled: bool,
           short_shift: int, budget: float, factor: float, least: int,
           events_read: dict[int, tuple[float, bool]] | None, t: int) -> Truth:
    """:func:`burn_condition` at ``t``."""
    found = counts(flow, t - long_shift, long_seconds, long_tiled)
    if found is None or found[0] == 0:
        return False
    total, bad, scale = found
    exact = scale == 1.0
    long_burns = _decide(bad / total / budget, factor, True, exact)
    if long_burns is False:
        return False
    found = counts(flow, t - short_shift, short_seconds, short_tiled)
    if found is None or found[0] == 0:
        return False
    short_burns = _decide(found[1] / found[0] / budget, factor, True, found[2] == 1.0)
    if short_burns is False:
        return False
    if events_read is not None:
        events_read[t] = total * scale, exact
    guard = _decide(total * scale, float(least), False, exact) if least else True
    if guard is False:
        return False
    return None if long_burns is None or short_burns is None or guard is None else True


def all_of(truths: Sequence[Truth]) -> Truth:
    """Conjunction where ``None`` is unknown: any False decides it."""
    if any(t is False for t in truths):
        return False
    return None if any(t is None for t in truths) else True


def evaluations(since: float, until: int) -> range:
    """The evaluation instants in ``[since, until]``."""
    first = math.ceil(max(since, 0) / EVAL_SECONDS) * EVAL_SECONDS
    return range(first, until + 1, EVAL_SECONDS)


def read_time(t: int, recorded_later: bool) -> int:
    """When a series read at ``t`` was recorded: one evaluation earlier if its group runs after the reader's."""
    return t - EVAL_SECONDS if recorded_later else t
