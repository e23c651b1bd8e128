"""``promtool test rules`` files that prove each SLO's burn-rate alerts behave.

A rule file that loads is not a rule file that pages. For every SLO with
alerting we synthesise input series that match its own selectors and play the
scenarios whose outcome the SRE workbook fixes in advance:

* a full outage pages within the detection time (burn factor × error budget ×
  long window, plus ``for``, one evaluation interval and one scrape interval);
* an error ratio of exactly the budget (a 1× burn) never pages;
* a page clears within its short window (plus one evaluation) after recovery;
* with ``min_events``, a quiet service with a few failures does not page.

promtool compares *every* firing alert of an alertname, labels and annotations
included, so each check is an exact list. The list is computed by replaying
the rules' arithmetic on the synthetic series: Prometheus 2.42's closed
ranges and ``increase()`` extrapolation, 5-minute tiles summed through a
subquery, groups evaluated in file order, ``for`` over 30-second evaluations.
A check whose outcome would hinge on float rounding is moved to a nearby
instant or dropped, never guessed.

The *times* of the checks come from the workbook's bounds, not from the
replay, and outages start where a 5-minute tile boundary hurts most, so rules
that detect later than they should, or a window read from tiles, fail the
generated tests. When the replay itself says a page cannot meet its bound, the
check is still written (expecting the page) and the plan says so: the test
fails until the rules are fixed.
"""

from __future__ import annotations

import math
import posixpath
import re
import string
import warnings
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache
from itertools import product
from re import _constants as _sre_c  # type: ignore[attr-defined]
from re import _parser as _sre_p  # type: ignore[attr-defined]
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from . import conventions as c
from .durations import format_duration
from .model import (
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
from .promql import MatchOp, Matcher, Selector, quote
from .queries import le_matcher, le_spellings
from .rulefiles import HEADER, LOADER, dump
from .rules import AlertingRule, alert_name, compile_slo, is_raw_window

SCRAPE_SECONDS = 60
EVAL_SECONDS = 30
#: Events per scrape interval of steady traffic (10 per second).
BASE_RATE = 600
#: Relative distance below which a float comparison is treated as undecidable.
TOLERANCE = Fraction(1, 10**9)

LabelPairs = tuple[tuple[str, str], ...]
Truth = bool | None


# ---- sampling strings a regular expression matches ---------------------------------------------

_CHAR_POOL = "0a1bxz9AZ_-.:/"
_CHAR_CHOICES = 4
_CATEGORIES = {
    _sre_c.CATEGORY_DIGIT: r"\d",
    _sre_c.CATEGORY_NOT_DIGIT: r"\D",
    _sre_c.CATEGORY_SPACE: r"\s",
    _sre_c.CATEGORY_NOT_SPACE: r"\S",
    _sre_c.CATEGORY_WORD: r"\w",
    _sre_c.CATEGORY_NOT_WORD: r"\W",
}
_REPEATS = {_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT, getattr(_sre_c, "POSSESSIVE_REPEAT", _sre_c.MAX_REPEAT)}
_EMPTY_WIDTH = {_sre_c.AT, _sre_c.ASSERT, _sre_c.ASSERT_NOT}


class _Unsampleable(Exception):
    pass


def _in_set(ch: str, items: Sequence[tuple[Any, Any]]) -> bool:
    hit = False
    negate = False
    for op, av in items:
        if op is _sre_c.NEGATE:
            negate = True
        elif op is _sre_c.LITERAL:
            hit = hit or ord(ch) == av
        elif op is _sre_c.RANGE:
            hit = hit or av[0] <= ord(ch) <= av[1]
        elif op is _sre_c.CATEGORY:
            hit = hit or (av in _CATEGORIES and re.fullmatch(_CATEGORIES[av], ch) is not None)
        else:
            raise _Unsampleable(str(op))
    return hit != negate


def _set_members(items: Sequence[tuple[Any, Any]]) -> list[str]:
    members: list[str] = []
    for op, av in items:
        if op is _sre_c.LITERAL:
            members.append(chr(av))
        elif op is _sre_c.RANGE:
            members.extend(chr(o) for o in (av[0], min(av[0] + 1, av[1]), av[1]))
    return members


def _char_choices(op: Any, av: Any) -> list[str]:
    if op is _sre_c.LITERAL:
        return [chr(av)]
    explicit: list[str] = []
    accept: Callable[[str], bool]
    if op is _sre_c.NOT_LITERAL:
        accept = lambda ch: ord(ch) != av  # noqa: E731
    elif op is _sre_c.ANY:
        accept = lambda ch: ch != "\n"  # noqa: E731
    elif op is _sre_c.IN:
        accept, explicit = (lambda ch: _in_set(ch, av)), _set_members(av)
    elif op is _sre_c.CATEGORY:
        accept = lambda ch: _in_set(ch, [(op, av)])  # noqa: E731
    else:
        raise _Unsampleable(str(op))
    chosen: list[str] = []
    for ch in (*explicit, *_CHAR_POOL, *string.printable):
        if ch not in chosen and accept(ch):
            chosen.append(ch)
            if len(chosen) == _CHAR_CHOICES:
                break
    return chosen


def _shortest_first(strings: Iterable[str], limit: int) -> list[str]:
    return sorted(set(strings), key=lambda s: (len(s), s))[:limit]


def _concat(left: list[str], right: list[str], limit: int) -> list[str]:
    return _shortest_first((a + b for a in left for b in right), limit)


def _sequence(items: Iterable[tuple[Any, Any]], limit: int) -> list[str]:
    out = [""]
    for op, av in items:
        out = _concat(out, _alternatives(op, av, limit), limit)
        if not out:
            return []
    return out


def _alternatives(op: Any, av: Any, limit: int) -> list[str]:
    if op is _sre_c.BRANCH:
        return _shortest_first((s for branch in av[1] for s in _sequence(branch, limit)), limit)
    if op is _sre_c.SUBPATTERN:
        return _sequence(av[-1], limit)
    if op is getattr(_sre_c, "ATOMIC_GROUP", None):
        return _sequence(av, limit)
    if op in _REPEATS:
        low, high, body = av
        if low > 1000:
            raise _Unsampleable("repeat count too large")
        unit = _sequence(body, limit)
        out: list[str] = []
        for count in (low, low + 1, low + 2):
            if count > high:
                break
            repeated = [""]
            for _ in range(count):
                repeated = _concat(repeated, unit, limit)
            out.extend(repeated)
        return _shortest_first(out, limit)
    if op in _EMPTY_WIDTH:
        return [""]
    return _char_choices(op, av)


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~", "space": "\\s",
    "upper": "A-Z", "word": "\\w", "xdigit": "0-9A-Fa-f",
}
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")


@lru_cache(maxsize=None)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` compiled by Python with RE2's ``[[:alpha:]]`` classes spelled out; None if Python cannot."""
    def posix(m: re.Match[str]) -> str:
        if m.group(1) or m.group(2) not in _POSIX_CLASSES:
            raise _Unsampleable(m.group(0))
        return _POSIX_CLASSES[m.group(2)]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(_POSIX.sub(posix, pattern))
    except (re.error, _Unsampleable, RecursionError, OverflowError):
        return None


def regex_samples(pattern: str, limit: int = 16) -> tuple[str, ...]:
    """Strings that ``pattern`` matches in full (as a Prometheus matcher does), shortest first.

    Built by walking the parse tree of Python's ``re`` (which reads the RE2
    subset Prometheus accepts): literals, ``.``, classes and ranges, branches,
    groups, repeats at their minimum count and a little above. Every string
    returned is checked with :func:`re.fullmatch`; an empty tuple means none
    was found.
    """
    compiled = compile_regex(pattern)
    if compiled is None:
        return ()
    try:
        candidates = _sequence(_sre_p.parse(compiled.pattern, compiled.flags), limit)
    except (re.error, _Unsampleable, RecursionError, OverflowError):
        return ()
    return tuple(s for s in candidates if compiled.fullmatch(s))


def shortest_match(pattern: str) -> str | None:
    samples = regex_samples(pattern)
    return samples[0] if samples else None


# ---- series that match (or avoid) selectors ---------------------------------------------------


def _matcher_holds(m: Matcher, value: str) -> bool:
    if m.op is MatchOp.EQ:
        return value == m.value
    if m.op is MatchOp.NE:
        return value != m.value
    compiled = compile_regex(m.value)
    if compiled is None:
        raise ValueError(f"cannot evaluate the regular expression {m.value!r} in Python")
    found = compiled.fullmatch(value) is not None
    return found if m.op is MatchOp.RE else not found


def selector_matches(selector: Selector, metric: str, labels: Mapping[str, str]) -> bool:
    """Whether a series is selected (a missing label reads as the empty string, as in Prometheus)."""
    return metric == selector.metric and all(_matcher_holds(m, labels.get(m.label, "")) for m in selector.matchers)


_NEGATED = {MatchOp.EQ: MatchOp.NE, MatchOp.NE: MatchOp.EQ, MatchOp.RE: MatchOp.NRE, MatchOp.NRE: MatchOp.RE}
#: Label values tried first for a label that must merely avoid a value ("200" for ``code!~"5.."``).
PLAIN_VALUES = ("200", "ok", "0", "x", "a", "1", "b", "500", "true", "none")


def label_value(constraints: Sequence[Matcher], prefer: Sequence[str] = ()) -> str | None:
    """A value satisfying every matcher (all on one label); ``""`` (label absent) only as a last resort."""
    candidates: list[str] = list(prefer)
    for m in constraints:
        if m.op is MatchOp.EQ:
            candidates.append(m.value)
        elif m.op is MatchOp.RE:
            candidates.extend(regex_samples(m.value))
    candidates.extend(PLAIN_VALUES)
    for m in constraints:
        candidates.extend((m.value + "x", "x" + m.value, m.value + "0"))
    candidates.extend(v + "x" for v in list(candidates))
    candidates.append("")
    for value in dict.fromkeys(candidates):
        if all(_matcher_holds(m, value) for m in constraints):
            return value
    return None


def _assign(constraints: Sequence[Matcher], fixed: Mapping[str, str]) -> dict[str, str] | None:
    by_label: dict[str, list[Matcher]] = {}
    for m in constraints:
        by_label.setdefault(m.label, []).append(m)
    labels = {k: v for k, v in fixed.items() if v}
    for label, ms in sorted(by_label.items()):
        if label in fixed:
            if not all(_matcher_holds(m, fixed[label]) for m in ms):
                return None
            continue
        value = label_value(ms)
        if value is None:
            return None
        if value:
            labels[label] = value
    return labels


def solve_labels(
    metric: str,
    include: Sequence[Selector],
    exclude: Sequence[Selector] = (),
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str] | None:
    """Labels of a ``metric`` series selected by every ``include`` selector and by no ``exclude`` one."""
    fixed = dict(fixed or {})
    if any(s.metric != metric for s in include):
        return None
    base = [m for s in include for m in s.matchers]
    rivals = [s for s in exclude if s.metric == metric]
    options = [[Matcher(m.label, _NEGATED[m.op], m.value) for m in s.matchers] for s in rivals]
    for choice in product(*options):
        labels = _assign(base + list(choice), fixed)
        if labels is None:
            continue
        if all(selector_matches(s, metric, labels) for s in include) and not any(
            selector_matches(s, metric, labels) for s in exclude
        ):
            return labels
    return None


# ---- synthetic series --------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One input series, one sample per scrape from time 0 (``None``: no sample)."""

    metric: str
    labels: LabelPairs
    values: tuple[int | None, ...]

    def selector(self) -> str:
        inner = ",".join(f"{k}={quote(v)}" for k, v in self.labels)
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def values_text(self) -> str:
        """promtool's expanding notation (``0+600x120 72000+0x5 _x3``)."""
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


@dataclass(frozen=True)
class Traffic:
    """Good and bad events per scrape: index ``i`` counts events in ``(i-1, i]`` scrapes.

    For a probe each scrape is one sample: 1 if it has a good event, 0 if bad,
    no sample if neither.
    """

    good: tuple[int, ...]
    bad: tuple[int, ...]

    @staticmethod
    def of(length: int, rule: Callable[[int], tuple[int, int]]) -> "Traffic":
        pairs = [rule(i) for i in range(length)]
        return Traffic(tuple(g for g, _ in pairs), tuple(b for _, b in pairs))


def _cumulative(increments: Iterable[int]) -> tuple[int, ...]:
    out, total = [], 0
    for i, inc in enumerate(increments):
        total += inc if i else 0
        out.append(total)
    return tuple(out)


def stream_values(stream: Stream, traffic: Traffic) -> tuple[int | None, ...]:
    if stream.role == GAUGE:
        return tuple(1 if g else 0 if b else None for g, b in zip(traffic.good, traffic.bad))
    if stream.role == BAD:
        return _cumulative(traffic.bad)
    if stream.role == GOOD:
        return _cumulative(traffic.good)
    return _cumulative(g + b for g, b in zip(traffic.good, traffic.bad))


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


# ---- replaying the rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Val:
    """A value as Prometheus computes it: exactly (an int), or (``exact=False``) through a float factor."""

    value: int | Fraction
    exact: bool = True

    def __add__(self, other: "_Val") -> "_Val":
        return _Val(self.value + other.value, self.exact and other.exact)

    def __sub__(self, other: "_Val") -> "_Val":
        return _Val(self.value - other.value, self.exact and other.exact)


_ZERO = _Val(0)
Events = tuple[dict[LabelPairs, _Val], dict[LabelPairs, _Val]]


class _Samples:
    """One series with prefix sums, so a range function costs the same for any window."""

    def __init__(self, values: Sequence[int | None]) -> None:
        self.values = tuple(values)
        n = len(self.values)
        self.count = [0] * (n + 1)
        self.total = [0] * (n + 1)
        for i, v in enumerate(self.values):
            self.count[i + 1] = self.count[i] + (v is not None)
            self.total[i + 1] = self.total[i] + (v or 0)
        self.next: list[int | None] = [None] * (n + 1)
        for i in range(n - 1, -1, -1):
            self.next[i] = i if self.values[i] is not None else self.next[i + 1]
        self.prev: list[int | None] = [None] * n
        last = None
        for i, v in enumerate(self.values):
            last = i if v is not None else last
            self.prev[i] = last

    def _span(self, t: int, w: int, *, half_open: bool = False) -> tuple[int, int] | None:
        """First and last present sample index in the closed range ``[t-w, t]`` (Prometheus 2.42),
        or in ``(t-w, t]`` for the rules' sample-counting ranges, which are a millisecond short."""
        lo = max(0, -(-(t - w + (1 if half_open else 0)) // SCRAPE_SECONDS))
        hi = min(len(self.values) - 1, t // SCRAPE_SECONDS)
        if lo > hi:
            return None
        first, last = self.next[lo], self.prev[hi]
        if first is None or last is None or first > last:
            return None
        return first, last

    def increase(self, t: int, w: int) -> _Val | None:
        """``increase(x[w])`` at ``t``, extrapolated as Prometheus's ``extrapolatedRate`` does."""
        span = self._span(t, w)
        if span is None or span[0] == span[1]:
            return None
        first, last = span
        v0, v1 = self.values[first], self.values[last]
        assert v0 is not None and v1 is not None
        result = v1 - v0
        sampled = (last - first) * SCRAPE_SECONDS
        to_start = first * SCRAPE_SECONDS - (t - w)
        to_end = t - last * SCRAPE_SECONDS
        if result == 0 or (to_end == 0 and (to_start == 0 or (result > 0 and v0 == 0))):
            return _Val(result)
        start: Fraction = Fraction(to_start)
        if result > 0 and v0 >= 0:
            start = min(start, Fraction(sampled * v0, result))
        average = Fraction(sampled, self.count[last + 1] - self.count[first] - 1)
        threshold = average * Fraction(11, 10)
        extended = sampled + (start if start < threshold else average / 2) + (to_end if to_end < threshold else average / 2)
        return _Val(result * extended / sampled, extended == sampled)

    def grid_increase(self, t: int, w: int) -> _Val | None:
        """A counter's events in the tile grid's steps of ``(t-w, t]``, as :func:`queries.telescoped` counts
        them: at each step the held value less the last sample a step earlier (up to the bridge back), a
        drop counting the new value; None when no step has both values."""
        grid, found, total = c.TILE_GRID_SECONDS, False, 0
        for g in range(t - t % grid - w + grid, t - t % grid + 1, grid):
            now = self._held(g, 5 * 60)
            before = self._held(g - grid, c.TILE_BRIDGE_SECONDS)
            if now is None or before is None:
                continue
            found = True
            v1, v0 = self.values[now], self.values[before]
            assert v1 is not None and v0 is not None
            total += v1 - v0 if v1 >= v0 else v1
        return _Val(total) if found else None

    def _held(self, t: int, lookback: int) -> int | None:
        """Index of the latest sample in ``[t - lookback, t]``."""
        if t < 0:
            return None
        index = self.prev[min(len(self.values) - 1, t // SCRAPE_SECONDS)]
        return index if index is not None and index * SCRAPE_SECONDS >= t - lookback else None

    def count_over(self, t: int, w: int) -> _Val | None:
        span = self._span(t, w, half_open=True)
        return None if span is None else _Val(self.count[span[1] + 1] - self.count[span[0]])

    def sum_over(self, t: int, w: int) -> _Val | None:
        span = self._span(t, w, half_open=True)
        return None if span is None else _Val(self.total[span[1] + 1] - self.total[span[0]])


def _group_key(labels: Mapping[str, str], group_by: Sequence[str]) -> LabelPairs:
    return tuple((name, labels[name]) for name in group_by if labels.get(name))


def _sum_by(members: Sequence[tuple[_Samples, LabelPairs]], fn: str, t: int, w: int) -> dict[LabelPairs, _Val]:
    out: dict[LabelPairs, _Val] = {}
    for samples, group in members:
        value = getattr(samples, fn)(t, w)
        if value is not None:
            out[group] = out[group] + value if group in out else value
    return out


class _Memoised:
    """Events over ``(t, w)``, computed once: the replay asks for the same windows many times."""

    _cache: dict[tuple[int, int], Events]

    def events(self, t: int, w: int) -> Events:
        key = (t, w)
        if key not in self._cache:
            self._cache[key] = self._events(t, w)
        return self._cache[key]

    def _events(self, t: int, w: int) -> Events:
        raise NotImplementedError


class _SLIReplay(_Memoised):
    """Bad and total events of one SLO's SLI over a window, as its recording rules count them."""

    def __init__(self, slo: SLO, series: Sequence[Series], samples: Sequence[_Samples]) -> None:
        sli = slo.sli
        group_by = tuple(sli.group_by)

        def members(selector: Selector) -> list[tuple[_Samples, LabelPairs]]:
            return [(smp, _group_key(s.label_map(), group_by)) for s, smp in zip(series, samples)
                    if selector_matches(selector, s.metric, s.label_map())]

        self.sli = sli
        self.total: list[tuple[_Samples, LabelPairs]] = []
        self.part: list[tuple[_Samples, LabelPairs]] = []
        if isinstance(sli, RatioSLI):
            self.total = members(sli.total)
            self.part = members(sli.bad if sli.bad is not None else sli.good)  # type: ignore[arg-type]
        elif isinstance(sli, LatencySLI):
            self.total = members(sli.count)
            self.part = members(sli.bucket.with_matchers(le_matcher(sli.threshold_seconds)))
        elif isinstance(sli, ProbeSLI):
            self.total = members(sli.gauge)
        self._cache = {}


    def _events(self, t: int, w: int) -> Events:
        return self.count(t, w, "increase")

    def count(self, t: int, w: int, counter: str) -> Events:
        sli = self.sli
        if isinstance(sli, ProbeSLI):
            total = _sum_by(self.total, "count_over", t, w)
            ones = _sum_by(self.total, "sum_over", t, w)
            return total, {g: total[g] - ones[g] for g in total if g in ones}
        total = _sum_by(self.total, counter, t, w)
        part = _sum_by(self.part, counter, t, w)
        if isinstance(sli, RatioSLI) and sli.bad is not None:
            bad = dict(part)
            for g in total:
                bad.setdefault(g, _ZERO)
            return total, bad
        if isinstance(sli, LatencySLI):
            # No zero fallback for a missing bucket: the group has no bad events, hence no data.
            return total, {g: total[g] - part[g] for g in total if g in part}
        return total, {g: total[g] - part.get(g, _ZERO) for g in total}


class _Tiles(_Memoised):
    """Windows summed from tiles, as the slow group records them under promtool (every evaluation).

    Each tile starts where the previous one ended (the evaluation before), the
    first evaluation records none, and a window sums the tiles recorded in
    ``(t-W, t]``: together, the grid steps (or, for a probe, the samples) of
    ``(max(t-W, 0), t]``.
    """

    def __init__(self, sli: _SLIReplay) -> None:
        self.sli = sli
        self._cache = {}

    def _events(self, t: int, w: int) -> Events:
        if t < EVAL_SECONDS:
            return {}, {}
        counter = "count_over" if isinstance(self.sli.sli, ProbeSLI) else "grid_increase"
        return self.sli.count(t, min(w, t), counter)


def _compare(left: _Val, right: _Val | None, scale: float, threshold: float, strict: bool) -> Truth:
    """``left / right / scale > threshold`` (or ``left >= threshold`` when ``right`` is None), three-valued."""
    if right is None:
        if left.exact:
            return float(left.value) > threshold if strict else float(left.value) >= threshold
        exact = Fraction(left.value)
    else:
        if right.value == 0:
            return False
        if left.exact and right.exact:
            value = (float(left.value) / float(right.value)) / scale
            return value > threshold if strict else value >= threshold
        exact = Fraction(left.value) / Fraction(right.value) / Fraction(scale)
    goal = Fraction(threshold)
    if abs(exact - goal) <= TOLERANCE * max(abs(goal), Fraction(1, 10**12)):
        return None
    return exact > goal if strict else exact >= goal


def _all(truths: Iterable[Truth]) -> Truth:
    result: Truth = True
    for truth in truths:
        if truth is False:
            return False
        if truth is None:
            result = None
    return result


@dataclass(frozen=True)
class Firing:
    """A firing alert as promtool shows it (alertname aside)."""

    labels: LabelPairs
    annotations: LabelPairs
    slo: str
    condition: BurnRateAlert


@dataclass(frozen=True)
class _Rule:
    """A burn-rate condition's compiled rule and the position of its group (0: fast, 1: slow)."""

    slo: SLO
    condition: BurnRateAlert
    rule: AlertingRule
    rank: int

    def reads_at(self, t: int, w: int) -> int:
        """When the series of window ``w`` that this alert reads at ``t`` was recorded.

        Groups are evaluated in file order at each instant and a group's rules
        in order, so a window recorded by a later group is one evaluation old.
        """
        return t - EVAL_SECONDS if _recording_rank(w) > self.rank else t


class Replay:
    """Every burn-rate alert of one alertname over one set of input series, evaluation by evaluation.

    Conditions are worked out lazily, only at the evaluations a question needs.
    """

    def __init__(self, rules: Sequence[_Rule], series: Sequence[Series], horizon: int) -> None:
        samples = [_Samples(s.values) for s in series]
        self.horizon = horizon
        self._rules = list(rules)
        self._windows: dict[str, tuple[_SLIReplay, _Tiles]] = {}
        for r in rules:
            if r.slo.id not in self._windows:
                sli = _SLIReplay(r.slo, series, samples)
                self._windows[r.slo.id] = (sli, _Tiles(sli))
        self._cache: dict[tuple[int, int], dict[LabelPairs, Truth]] = {}

    def _conditions(self, index: int, t: int) -> dict[LabelPairs, Truth]:
        """Truth of rule ``index``'s expression at evaluation ``t``, per group (absent: false)."""
        key = (index, t)
        if key in self._cache:
            return self._cache[key]
        r = self._rules[index]
        sli, tiles = self._windows[r.slo.id]

        def window(w: int) -> Events:
            when = r.reads_at(t, w)
            if when < 0:
                return {}, {}
            return sli.events(when, w) if is_raw_window(w) else tiles.events(when, w)
        long_total, long_bad = window(r.condition.long_seconds)
        short_total, short_bad = window(r.condition.short_seconds)
        budget, factor, least = r.slo.error_budget, r.condition.burn_factor, r.slo.alerting.min_events
        out: dict[LabelPairs, Truth] = {}
        for g, total in long_total.items():
            out[g] = _all((
                _burn_above(long_bad.get(g), total, budget, factor),
                _burn_above(short_bad.get(g), short_total.get(g), budget, factor),
                True if not least else _compare(total, None, 1.0, least, strict=False),
            ))
        self._cache[key] = out
        return out

    def at(self, t: int) -> tuple[tuple[Firing, ...], bool]:
        """Alerts firing at the evaluation at or before ``t``, and whether that list is certain."""
        t = _floor(min(t, self.horizon))
        firing: list[Firing] = []
        certain = True
        for index, r in enumerate(self._rules):
            hold = r.condition.for_seconds
            if t - hold < 0:
                continue
            since = _floor(t - hold)
            for group in sorted(g for g, truth in self._conditions(index, t).items() if truth is not False):
                truth = _all(self._conditions(index, e).get(group, False) for e in range(since, t + 1, EVAL_SECONDS))
                if truth is None:
                    certain = False
                elif truth:
                    firing.append(_firing(r, group))
        return tuple(sorted(firing, key=lambda f: (f.labels, f.annotations))), certain

    def first_firing(self, slo_id: str, condition: BurnRateAlert, group: LabelPairs, after: int) -> int | None:
        """The first evaluation from ``after`` on where that alert certainly fires."""
        for t in range(_floor(after), self.horizon + 1, EVAL_SECONDS):
            alerts, _ = self.at(t)
            if any(a.slo == slo_id and a.condition == condition and _has_group(a, group) for a in alerts):
                return t
        return None


def _firing(r: _Rule, group: LabelPairs) -> Firing:
    """The alert as Prometheus labels it: the series' labels, overridden by the rule's."""
    labels = {**dict(group), c.LABEL_SERVICE: r.slo.service, c.LABEL_SLO: r.slo.name, **dict(r.rule.labels)}
    labels.pop("alertname", None)
    return Firing(tuple(sorted(labels.items())), tuple(sorted(r.rule.annotations)), r.slo.id, r.condition)


def _burn_above(bad: _Val | None, total: _Val | None, budget: float, factor: float) -> Truth:
    if bad is None or total is None or total.value <= 0:
        return False
    return _compare(bad, total, budget, factor, strict=True)


def _has_group(alert: Firing, group: LabelPairs) -> bool:
    labels = dict(alert.labels)
    return all(labels.get(k) == v for k, v in group)


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
    #: None: by the replay the rules never page it (the generated check then fails under promtool).
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
    #: When the outage began (lifecycle scenarios).
    start: int | None = None
    timings: tuple[Timing, ...] = ()
    #: What the case proves: some of SUSTAINABLE, OUTAGE, RECOVERY (or QUIET).
    proves: tuple[str, ...] = ()
    #: When the outage ended and the steady traffic resumed (lifecycle scenarios that prove RECOVERY).
    recovered: int | None = None
    #: The first paged condition whose clearing is checked after ``recovered``.
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


def _page_conditions(slo: SLO) -> list[BurnRateAlert]:
    return [cond for cond in slo.alerting.conditions if cond.severity is AlertSeverity.PAGE]


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


class _Planner:
    def __init__(self, slo: SLO, service: Service, peers: Sequence[SLO], le: str | None) -> None:
        self.slo = slo
        self.alertname = alert_name(slo)
        self.probe = isinstance(slo.sli, ProbeSLI)
        self.pages = _page_conditions(slo)
        self.rules = [r for s in (slo, *peers) if s.alerting.enabled and alert_name(s) == self.alertname
                      and not isinstance(s.sli, RawSLI) for r in _burn_rules(s, service)]
        self.raw_peers = [s for s in peers if s.alerting.enabled and alert_name(s) == self.alertname
                          and isinstance(s.sli, RawSLI)]
        self.groups = _group_values(slo)
        self.layouts: list[tuple[Stream, ...] | str] = [layout(slo, g, le) for g in self.groups]
        self.min_events = slo.alerting.min_events
        shortest = min((cond.long_seconds for cond in self.pages), default=3600)
        self.rate = max(BASE_RATE, math.ceil(2 * self.min_events * SCRAPE_SECONDS / shortest))

    # -- plumbing

    def problem(self) -> str | None:
        if not self.pages:
            return "no page conditions: there is no page to test"
        first = self.layouts[0]
        if isinstance(first, str):
            return first
        annotated = [r.rule for r in self.rules if r.slo.id == self.slo.id]
        if any("{{" in v for rule in annotated for _, v in rule.annotations + rule.labels):
            return "the alert's labels or annotations are templates, which the expected alerts cannot spell"
        metrics = {s.metric for s in first}
        for peer in self.raw_peers:
            raw = peer.sli
            assert isinstance(raw, RawSLI)
            texts = [t for t in (raw.error_ratio, raw.good, raw.bad, raw.total) if t]
            if any(m in t for m in metrics for t in texts):
                return (f"{peer.id} shares the alert name {self.alertname} and reads the same metrics with raw "
                        "PromQL, so its alerts cannot be predicted")
        return None

    def series(self, traffic: Sequence[Traffic]) -> tuple[Series, ...]:
        out: list[Series] = []
        for streams, flow in zip(self.layouts, traffic):
            assert not isinstance(streams, str)
            for s in streams:
                out.append(Series(s.metric, s.labels, stream_values(s, flow)))
        return tuple(sorted(out, key=lambda s: (s.metric, s.labels)))

    def usable_groups(self, wanted: int) -> int:
        return min(wanted, sum(1 for lay in self.layouts if not isinstance(lay, str)))

    def replay(self, series: Sequence[Series], horizon: int, rules: Sequence[_Rule] | None = None) -> Replay:
        return Replay(self.rules if rules is None else rules, series, horizon)

    def settle(self, replay: Replay, times: Iterable[int]) -> Check | None:
        """The first of ``times`` whose expected alerts are certain."""
        for t in times:
            if 0 < t <= replay.horizon:
                alerts, certain = replay.at(t)
                if certain:
                    return Check(t, alerts)
        return None

    def scrapes(self, horizon: int) -> int:
        return _ceil(horizon) // SCRAPE_SECONDS + 1

    def outage_start(self, conds: Sequence[BurnRateAlert], earliest: int = 0) -> int:
        """After every long window is full (and ``earliest``), placed so that a tile boundary falls one scrape
        before the first condition can see the outage: rules that read that window from tiles would page a
        tile late."""
        earliest = max(earliest, _ceil(max(cond.long_seconds for cond in conds)) + 10 * SCRAPE_SECONDS)
        visible = _ceil(detection_seconds(self.slo, conds[0]) + (0 if self.probe else 1e-6))
        return _next(earliest, visible - SCRAPE_SECONDS)

    def is_page(self, alert: Firing) -> bool:
        return alert.condition.severity is AlertSeverity.PAGE

    # -- scenarios

    def outage_problem(self, cond: BurnRateAlert) -> str | None:
        share = cond.burn_factor * self.slo.error_budget
        if share >= 1:
            return f"{cond.name}: factor × budget = {share:g} ≥ 1, so not even a full outage can page"
        if self.probe and self.min_events > cond.long_seconds // SCRAPE_SECONDS:
            return (f"{cond.name}: min_events {self.min_events} exceeds the probe samples in "
                    f"{format_duration(cond.long_seconds)}")
        return None

    def one_x_burn(self) -> tuple[Callable[[int], tuple[int, int]], int] | str:
        """Steady traffic whose error ratio is exactly the error budget (a 1x burn), and the events per scrape.

        For counters, ``total`` events per scrape of which ``bad`` fail, with
        ``bad / total`` the budget as a fraction; for a probe, a failed sample
        whenever ``i × budget`` crosses a whole number.
        """
        budget = Fraction(repr(self.slo.error_budget))
        if self.probe:
            def probe_at(i: int) -> tuple[int, int]:
                failed = i > 0 and math.floor(i * budget) > math.floor((i - 1) * budget)
                return (0, 1) if failed else (1, 0)
            return probe_at, 1
        shortest = min(cond.long_seconds for cond in self.pages)
        scale = max(math.ceil(BASE_RATE / budget.denominator),
                    math.ceil(2 * self.min_events * SCRAPE_SECONDS / (shortest * budget.denominator)))
        total, bad = budget.denominator * scale, budget.numerator * scale
        if total > 10**12:
            return f"the budget {self.slo.error_budget:g} needs {total} events per scrape for an exact 1x burn"

        def at(i: int) -> tuple[int, int]:
            return (0, 0) if i == 0 else (total - bad, bad)
        return at, total

    def clean(self) -> tuple[Callable[[int], tuple[int, int]], int]:
        """Steady traffic without errors (when a 1x burn cannot be spelled or would page)."""
        rate = 1 if self.probe else self.rate
        return (lambda i: (1, 0) if self.probe else ((0, 0) if i == 0 else (rate, 0))), rate

    def traffic(self, steady: Callable[[int], tuple[int, int]], rate: int, horizon: int, start: int,
                until: int) -> list[Traffic]:
        """The first group's steady traffic fails entirely in the scrapes of ``(start, until]``; a second group,
        if any, stays steady throughout."""
        def broken(i: int) -> tuple[int, int]:
            t = i * SCRAPE_SECONDS
            if start < t <= until:
                return (0, 1) if self.probe else (0, rate)
            return steady(i)
        length = self.scrapes(horizon)
        return [Traffic.of(length, broken)] + [Traffic.of(length, steady)] * (self.usable_groups(2) - 1)

    def lifecycle(self, conds: Sequence[BurnRateAlert]) -> tuple[Scenario | None, list[str]]:
        """A 1x burn, then a full outage, then the 1x burn again, in one case (see :class:`Scenario`)."""
        problems: list[str] = []
        steady = self.one_x_burn()
        if isinstance(steady, str):
            problems.append(steady)
        else:
            scenario, why = self._lifecycle(conds, *steady, sustainable=True)
            if scenario is not None:
                return scenario, problems + why
            problems.append(why[0])
        scenario, why = self._lifecycle(conds, *self.clean(), sustainable=False)
        return scenario, problems + why

    def _lifecycle(self, conds: Sequence[BurnRateAlert], steady: Callable[[int], tuple[int, int]], rate: int,
                   sustainable: bool) -> tuple[Scenario | None, list[str]]:
        slo = self.slo
        longest = max(cond.long_seconds for cond in self.pages)
        hold = max(cond.for_seconds for cond in self.pages)
        t0 = self.outage_start(conds, _ceil(longest + hold) + 10 * SCRAPE_SECONDS)
        bounds = {cond: page_bound(slo, cond, t0) for cond in conds}
        recovered = _next(_ceil(_floor(max(bounds.values()))), SCRAPE_SECONDS)
        horizon = _floor(max(resolve_bound(p, recovered) for p in self.pages))
        series = self.series(self.traffic(steady, rate, horizon, t0, recovered))
        replay = self.replay(series, horizon)
        target = _pairs(self.groups[0])
        checks: list[Check | None] = []
        proves: list[str] = []

        # Before the outage: nothing pages, though the page windows are full of a steady burn.
        times = sorted({_ceil(longest), _ceil((longest + t0) / 2), t0 - SCRAPE_SECONDS})
        before = [self.settle(replay, range(t, t - 10 * SCRAPE_SECONDS, -SCRAPE_SECONDS)) for t in times]
        if any(check is None for check in before):
            return None, ["the steady traffic before the outage has no instant where the expected alerts are "
                          "certain"]
        if any(a.slo == slo.id and self.is_page(a) for check in before for a in check.alerts):  # type: ignore[union-attr]
            return None, ["a steady 1x burn pages in the replay: the windows hold too few samples to burn at "
                          "exactly the budget" if sustainable else "steady traffic without errors pages in the replay"]
        checks.extend(before)
        if sustainable:
            proves.append(SUSTAINABLE)

        # The outage: each page condition at its own bound.
        first = conds[0]
        if first.for_seconds:
            checks.append(self.settle(replay, range(_floor(t0 + first.for_seconds), t0, -EVAL_SECONDS)))
        timings: list[Timing] = []
        problems: list[str] = []
        for cond in conds:
            at = _floor(bounds[cond])
            fired = replay.first_firing(slo.id, cond, target, t0)
            if fired is not None and fired <= at:
                page = self.settle(replay, range(at, fired - 1, -EVAL_SECONDS))
                if page is None:
                    problems.append(f"{cond.name}: no instant where the expected alerts are certain")
                    continue
            else:
                promised = self.promised(replay, at, cond)
                if promised is None:
                    problems.append(f"{cond.name}: no instant where the expected alerts are certain")
                    continue
                page = promised
                problems.append(f"{cond.name}: by the replay the rules page a full outage "
                                f"{'never' if fired is None else f'after {fired - t0} s'}, later than the "
                                f"workbook's {bounds[cond] - t0:g} s; the generated test fails until the rules are fixed")
            checks.append(page)
            timings.append(Timing(cond, None if fired is None else fired - t0, bounds[cond] - t0, page.at - t0))
        if not timings:
            return None, problems
        proves.append(OUTAGE)

        # Recovery: the first condition that paged clears within its short window, then every page.
        paging = [t.condition for t in timings if t.fired is not None and t.fired <= t.checked]
        cleared_cond = paging[0] if paging else None
        recovery = self.recovery_checks(replay, cleared_cond, t0, recovered, horizon) if cleared_cond else None
        if recovery is None:
            problems.append("no page fires in the replay, so none can recover" if cleared_cond is None else
                            f"{cleared_cond.name}: the replayed page does not clear within its short window")
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
        return Scenario(LIFECYCLE, title, series, _unique(checks), t0, tuple(timings), tuple(proves),
                        recovered if recovery is not None else None,
                        cleared_cond if recovery is not None else None), problems

    def promised(self, replay: Replay, at: int, cond: BurnRateAlert) -> Check | None:
        """What the workbook promises at ``at`` when the rules fall short: the replayed alerts plus this page."""
        alerts, certain = replay.at(at)
        if not certain:
            return None
        rule = next(r for r in self.rules if r.slo.id == self.slo.id and r.condition == cond)
        page = _firing(rule, _pairs(self.groups[0]))
        return Check(at, tuple(sorted({*alerts, page}, key=lambda f: (f.labels, f.annotations))))

    def recovery_checks(self, replay: Replay, cond: BurnRateAlert, t0: int, recovered: int,
                        horizon: int) -> list[Check] | None:
        """Paged at the recovery, ``cond`` cleared within its short window, and (if certain) no page at the end."""
        slo, target = self.slo, _pairs(self.groups[0])
        clear = _floor(resolve_bound(cond, recovered))
        paged = self.settle(replay, range(recovered, t0, -EVAL_SECONDS))
        if paged is None or not any(a.condition == cond and _has_group(a, target) for a in paged.alerts):
            return None
        cleared = self.settle(replay, range(clear, recovered, -EVAL_SECONDS))
        if cleared is None or any(a.slo == slo.id and a.condition == cond for a in cleared.alerts):
            return None
        checks = [paged, cleared]
        settled = self.settle(replay, range(horizon, recovered, -EVAL_SECONDS))
        if settled is not None and not any(a.slo == slo.id and self.is_page(a) for a in settled.alerts):
            checks.append(settled)
        return checks

    def quiet_series(self, cond: BurnRateAlert, events: int, failures: int) -> tuple[tuple[Series, ...], int]:
        """``events - failures`` good events spread over half the long window, then the failures."""
        good = events - failures
        start = 10 * SCRAPE_SECONDS
        good_scrapes = good if self.probe else max(1, min(good, cond.long_seconds // SCRAPE_SECONDS // 2))
        bad_scrapes = failures if self.probe else min(failures, 3)
        end = start + (good_scrapes + bad_scrapes) * SCRAPE_SECONDS
        horizon = end + cond.long_seconds + cond.for_seconds + 2 * SCRAPE_SECONDS

        def at(i: int) -> tuple[int, int]:
            k = i - start // SCRAPE_SECONDS
            if 0 < k <= good_scrapes:
                return (_share(good, good_scrapes, k), 0)
            if good_scrapes < k <= good_scrapes + bad_scrapes:
                return (0, _share(failures, bad_scrapes, k - good_scrapes))
            return (0, 0)
        return self.series([Traffic.of(self.scrapes(horizon), at)]), horizon

    def quiet(self) -> Scenario | str:
        slo = self.slo
        events = self.min_events - 1
        if events < 1:
            return "min_events is 1: a single event already counts, so there is no quiet service to show"
        unguarded = [replace(r, slo=replace(r.slo, alerting=replace(r.slo.alerting, min_events=0)))
                     if r.slo.id == slo.id else r for r in self.rules]
        for cond in self.pages:
            share = cond.burn_factor * slo.error_budget
            for failures in sorted({min(events, 3), min(events, max(3, math.ceil(2 * share * events))), events}):
                series, horizon = self.quiet_series(cond, events, failures)
                would = self.replay(series, horizon, unguarded).first_firing(slo.id, cond, _pairs(self.groups[0]), 0)
                if would is None:
                    continue
                check = self.settle(self.replay(series, horizon), range(would, horizon + 1, EVAL_SECONDS))
                if check is None or any(a.slo == slo.id and self.is_page(a) for a in check.alerts):
                    return "a quiet service pages in the replay despite min_events"
                title = (f"{slo.id}: {failures} failures among {events} events (min_events {self.min_events}) "
                         f"do not page, though without the guard {cond.name} would page at {_clock(would)}")
                return Scenario(QUIET, title, series, (check,), proves=(QUIET,))
        return "no quiet traffic below min_events would page without the guard"


def _next(t: int, phase: int) -> int:
    """The first instant from ``t`` on that lies ``phase`` seconds past a tile boundary."""
    return t + (phase - t) % c.TILE_SECONDS


def _share(total: int, parts: int, k: int) -> int:
    """Events in part ``k`` (1-based) of ``total`` spread evenly over ``parts``."""
    return total * k // parts - total * (k - 1) // parts


def _pairs(group: Mapping[str, str]) -> LabelPairs:
    return tuple(sorted(group.items()))


def _unique(checks: Iterable[Check | None]) -> tuple[Check, ...]:
    seen: dict[int, Check] = {}
    for check in checks:
        if check is not None:
            seen.setdefault(check.at, check)
    return tuple(seen[t] for t in sorted(seen))


def _clock(seconds: int) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"


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


def _recording_rank(w: int) -> int:
    return 0 if is_raw_window(w) else 1


@lru_cache(maxsize=4096)
def _burn_rules(slo: SLO, service: Service) -> tuple[_Rule, ...]:
    """The compiled alerting rule of each burn-rate condition, in condition order."""
    found: list[tuple[AlertingRule, int]] = [
        (r, rank) for rank, group in enumerate(compile_slo(slo, service)) for r in group.rules
        if isinstance(r, AlertingRule) and r.alert == alert_name(slo) and c.LABEL_LONG_WINDOW in dict(r.labels)]
    out: list[_Rule] = []
    for cond in slo.alerting.conditions:
        key = {c.LABEL_LONG_WINDOW: format_duration(cond.long_seconds),
               c.LABEL_SHORT_WINDOW: format_duration(cond.short_seconds),
               c.LABEL_OWN_SEVERITY: cond.severity.value}
        match = next((i for i, (r, _) in enumerate(found) if key.items() <= dict(r.labels).items()), None)
        if match is None:
            raise AssertionError(f"{slo.id}: no compiled alerting rule for the {cond.name} {cond.severity.value} condition")
        rule, rank = found.pop(match)
        out.append(_Rule(slo, cond, rule, rank))
    return tuple(out)


def _scenarios(planner: _Planner) -> tuple[list[Scenario], list[str]]:
    scenarios: list[Scenario] = []
    skipped: list[str] = []

    def keep(result: Scenario | str) -> None:
        if isinstance(result, str):
            skipped.append(result)
        else:
            scenarios.append(result)

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
            keep(lifecycle)
    if planner.min_events:
        keep(planner.quiet())
    return scenarios, skipped


def _series_metrics(slo: SLO) -> set[str]:
    """The metric names of the series an SLO's rules read."""
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return {sli.bucket.metric, sli.count.metric}
    return {s.metric for s in sli_selectors(slo.sli)}


def _interfering(slo: SLO, peers: Sequence[SLO]) -> tuple[SLO, ...]:
    """The peers whose alerts can fire on this SLO's synthetic series: same alert name, and raw PromQL or a
    metric in common. The others' rules match none of the series, so leaving them out changes nothing."""
    name = alert_name(slo)
    mine = _series_metrics(slo)
    return tuple(p for p in peers if p.id != slo.id and p.alerting.enabled and alert_name(p) == name
                 and (isinstance(p.sli, RawSLI) or mine & _series_metrics(p)))


def plan(slo: SLO, service: Service, *, peers: Sequence[SLO] = (), le_spelling: str | None = None) -> AlertTestPlan:
    """The scenarios for one SLO; ``peers`` are the other SLOs loaded from the same rules file.

    Plans are kept by their inputs: services stamped from one shape (see :mod:`.stamps`) ask for the same
    plan many times, and replaying the rules is the costliest step of generation."""
    return _plan(slo, service, _interfering(slo, peers), le_spelling)


# Bounded: a plan holds its scenarios' series (tens of kilobytes); shapes beyond this are replayed again.
@lru_cache(maxsize=256)
def _plan(slo: SLO, service: Service, peers: tuple[SLO, ...], le_spelling: str | None) -> AlertTestPlan:
    reason = skip_reason(slo)
    if reason is not None:
        return AlertTestPlan(slo, alert_name(slo), (), (reason,))
    try:
        planner = _Planner(slo, service, peers, le_spelling)
        problem = planner.problem()
        if problem is not None:
            return AlertTestPlan(slo, planner.alertname, (), (problem,))
        scenarios, skipped = _scenarios(planner)
    except ValueError as exc:
        return AlertTestPlan(slo, alert_name(slo), (), (str(exc),))
    order = {LIFECYCLE: 0, QUIET: 1}
    scenarios.sort(key=lambda s: order[s.kind])
    return AlertTestPlan(slo, planner.alertname, tuple(scenarios), tuple(skipped))


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


def alert_tests(
    slo: SLO,
    service: Service,
    rules_file: str,
    *,
    calendars_file: str | None = None,
    peers: Sequence[SLO] = (),
    group_order: Sequence[str] = (),
    le_spelling: str | None = None,
) -> dict[str, Any] | None:
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


def _groups_in(text: str) -> list[str]:
    document = yaml.load(text, Loader=LOADER) or {}
    return [g["name"] for g in document.get("groups", [])]


def plans(catalog: Catalog) -> dict[str, AlertTestPlan]:
    """Every SLO's plan, by SLO id."""
    out: dict[str, AlertTestPlan] = {}
    services = {s.name: s for s in catalog.services}
    by_service: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        by_service.setdefault(slo.service, []).append(slo)
    for slo in catalog.slos:
        service = services.get(slo.service) or Service(slo.service)
        peers = [s for s in by_service[slo.service] if s.id != slo.id]
        out[slo.id] = plan(slo, service, peers=peers)
    return out


def skipped(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """For each SLO with a scenario (or all of its tests) left out, the reasons."""
    return {slo_id: p.skipped for slo_id, p in sorted(plans(catalog).items()) if p.skipped}


def render_tests(catalog: Catalog, rule_files: Mapping[str, str]) -> dict[str, str]:
    """Test files by path (``tests/<service>.test.yml``) for rendered ``rule_files`` (path → text).

    Rules files are named relative to each test file. A service none of whose
    SLOs can be tested gets no file; :func:`skipped` says why.
    """
    out: dict[str, str] = {}
    all_plans = plans(catalog)
    calendars_path = c.rules_file(c.CALENDAR_FILE_STEM)
    by_service: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        by_service.setdefault(slo.service, []).append(slo)
    for service_name in sorted(by_service):
        slos = by_service[service_name]
        test_path = c.tests_file(service_name)
        rules_path = c.rules_file(service_name)
        if rules_path not in rule_files:
            raise KeyError(f"no rendered rules file {rules_path} for service {service_name}")
        files = [rules_path]
        if calendars_path in rule_files and any(isinstance(s.window, CalendarWindow) for s in slos):
            files.append(calendars_path)
        order = [name for path in reversed(files) for name in _groups_in(rule_files[path])]
        cases = [promtool_case(scenario, all_plans[s.id].alertname) for s in slos for scenario in all_plans[s.id].scenarios]
        if not cases:
            continue
        notes = [f"# {s.id}: {reason}" for s in slos for reason in all_plans[s.id].skipped]
        document = promtool_document([_relative(p, test_path) for p in files], cases, order)
        out[test_path] = HEADER + "".join(n + "\n" for n in notes) + dump(document)
    return out
