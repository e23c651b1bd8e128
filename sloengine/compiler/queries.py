"""PromQL for counting an SLI's bad and total events over a range, per SLI kind.

Every function returns text assembled only from pieces that cannot carry user
syntax: selectors rendered with escaped label values, label names checked
against Prometheus's grammar, durations formatted by us, numbers by ``repr``.
:func:`checked` parses each final expression with the real parser, so a
generated rule that would not load is a bug caught at generation time.

Counts, not ratios, are what we record: sums of counts over tiles stay exact
when traffic swings, where averages of short-window ratios do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

from ..model import conventions as c
from ..model.durations import format_duration, parse_duration
from ..model.promql import LABEL_NAME, Selector, le_matcher, quote, substitute_window
from ..model.slo import SLI, LatencySLI, ProbeSLI, RatioSLI, RawSLI


class QueryBuildError(AssertionError):
    """A generated expression failed to parse: always a bug in sloengine, never the user's."""


def checked(expr: str) -> str:
    """A generated expression, as built. It is not parsed again here: compiling thousands of SLOs would spend
    most of its time re-reading its own output. tests/test_generated_promql.py parses every expression the
    compiler writes, for the examples, the peers' files and a varied catalogue."""
    return expr


def summed(inner: str, labels: tuple[str, ...], aggregation: str = "sum") -> str:
    """``sum(inner)`` or ``sum by (a, b) (inner)`` (or another aggregation: ``count``)."""
    for label in labels:
        if not LABEL_NAME.match(label):
            raise QueryBuildError(f"bad label name {label!r}")
    return f"{aggregation} by ({', '.join(labels)}) ({inner})" if labels else f"{aggregation}({inner})"


@lru_cache(maxsize=4096)
def number(value: float) -> str:
    """A float as PromQL reads it back exactly."""
    if not math.isfinite(value):
        raise QueryBuildError(f"non-finite number {value!r}")
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@lru_cache(maxsize=65536)
def label_matchers(pairs: tuple[tuple[str, str], ...]) -> str:
    """``{a="x",b="y"}`` with escaped values (for recorded series we select by service/slo/window)."""
    return "{" + ",".join(f"{k}={quote(v)}" for k, v in pairs) + "}"


@lru_cache(maxsize=1024)
def half_open(window: str) -> str:
    """``window`` less a millisecond, so a range holds the samples of ``(t-w, t]`` only.

    Prometheus 2.42 includes the sample at the left edge of a range; counting
    samples over adjacent windows would count a sample on the boundary twice.
    """
    return f"{format_duration(parse_duration(window) - 1)}999ms"


def grid_increments(selector: Selector) -> str:
    """Per series, the events since the previous step of the tile grid: the held value's increase, or after
    a reset (a drop) the new value; nothing for a series' first sample, which is only a baseline.

    The previous value is the last sample at least one grid step earlier, found across gaps and staleness
    markers up to :data:`~sloengine.model.conventions.TILE_BRIDGE_SECONDS` back (a range selector skips markers),
    so a failed scrape delays events to the next sample instead of losing them.
    """
    now = selector.render()
    before = (f"last_over_time({now}[{format_duration(c.TILE_BRIDGE_SECONDS)}] "
              f"offset {format_duration(c.TILE_GRID_SECONDS)})")
    return f"({now} - {before} >= 0 or {now} < {before})"


def _grid(inner_per_step: str, since: str | None, mask: str | None = None) -> str:
    """``inner_per_step`` summed over the grid steps of the current tile.

    ``since`` (a scalar: where the previous tile ended) makes the tile the grid
    steps after it, up to ``t`` rounded down to the grid, looking back at most
    :data:`~sloengine.model.conventions.TILE_CATCHUP_SECONDS`; without it (backfill,
    whose rules cannot read each other's output) the tile is the 5 minutes
    before ``t``, evaluated on 5-minute boundaries. ``mask`` (a vector expression of ``time()``, the step)
    keeps only the steps where it has a sample: an agreement's counted time.
    """
    grid = format_duration(c.TILE_GRID_SECONDS)
    if mask is not None:
        inner_per_step = f"({inner_per_step} and on() ({mask}))"
    if since is None:
        return f"sum_over_time({inner_per_step}[{half_open(format_duration(c.TILE_SECONDS))}:{grid}])"
    masked = f"{inner_per_step} and on() (vector(time()) > {since})"
    return f"sum_over_time(({masked})[{half_open(format_duration(c.TILE_CATCHUP_SECONDS))}:{grid}])"


def telescoped(selector: Selector, group_by: tuple[str, ...], since: str | None = None,
               mask: str | None = None) -> str:
    """Events of a counter in the grid steps of the current tile (see :func:`_grid`), summed by group.

    Unlike ``increase()`` over ``[5m]``, which sees only the samples inside the
    range and extrapolates from them (with a 60s scrape a 5-minute range holds
    4 of the 5 increments), consecutive tiles telescope: their edges are the
    same held values, so the sum of adjacent tiles equals the counter's exact
    increase over their whole span.
    """
    return _grid(summed(grid_increments(selector), group_by), since, mask)


def sample_slots(function: str, selector: Selector, group_by: tuple[str, ...], since: str | None = None,
                 mask: str | None = None) -> str:
    """A gauge's samples (``count_over_time``) or their sum (``sum_over_time``) in the current tile: each grid
    step counts the samples of ``(step - grid, step]``, so adjacent tiles count every sample exactly once."""
    per_step = summed(f"{function}({selector.render()}[{half_open(format_duration(c.TILE_GRID_SECONDS))}])",
                      group_by)
    return _grid(per_step, since, mask)


@dataclass(frozen=True)
class EventQueries:
    """Bad and total events of one SLI over a range ``[window]``, summed by its grouping labels."""

    sli: SLI

    @property
    def group_by(self) -> tuple[str, ...]:
        return tuple(self.sli.group_by)

    @property
    def counts_events(self) -> bool:
        """False only for a raw error-ratio SLI, which has a ratio but no counts."""
        return not (isinstance(self.sli, RawSLI) and self.sli.error_ratio is not None)

    def _sum(self, function: str, selector: Selector, window: str) -> str:
        return summed(f"{function}({selector.render()}[{window}])", self.group_by)

    def total(self, window: str) -> str:
        sli = self.sli
        if isinstance(sli, RatioSLI):
            return checked(self._sum("increase", sli.total, window))
        if isinstance(sli, LatencySLI):
            return checked(self._sum("increase", sli.count, window))
        if isinstance(sli, ProbeSLI):
            return checked(self._sum("count_over_time", sli.gauge, half_open(window)))
        if isinstance(sli, RawSLI) and sli.total is not None:
            return checked(substitute_window(sli.total, window))
        raise QueryBuildError("a raw error-ratio SLI has no event counts")

    def bad(self, window: str, total: str) -> str:
        """Bad events over ``window``; ``total`` is the already-recorded total for the same window.

        Reusing the recorded total saves re-reading the raw counter, and
        ``or 0 * total`` makes a bad (or good) counter that never appeared
        count as zero instead of leaving the SLI without data. A latency
        SLI's bucket gets no such fallback (see below).
        """
        sli = self.sli
        if isinstance(sli, RatioSLI) and sli.bad is not None:
            return checked(f"({self._sum('increase', sli.bad, window)} or 0 * {total})")
        if isinstance(sli, RatioSLI):
            assert sli.good is not None
            good = self._sum("increase", sli.good, window)
            return checked(f"{total} - ({good} or 0 * {total})")
        if isinstance(sli, LatencySLI):
            # No zero fallback: a histogram always exports every bucket, so a missing ``le`` series means the
            # threshold is not a bucket boundary, and the SLI has no data (never 100% errors).
            return checked(f"{total} - {self._sum('increase', self.bucket, window)}")
        if isinstance(sli, ProbeSLI):
            return checked(f"{total} - {self._sum('sum_over_time', sli.gauge, half_open(window))}")
        if isinstance(sli, RawSLI) and sli.bad is not None:
            return checked(substitute_window(sli.bad, window))
        if isinstance(sli, RawSLI) and sli.good is not None:
            return checked(f"{total} - ({substitute_window(sli.good, window)})")
        raise QueryBuildError("a raw error-ratio SLI has no event counts")

    def tile_total(self, since: str | None = None, mask: str | None = None) -> str:
        """Events in the current tile (see :func:`_grid` for ``since``): telescoping counters, every probe
        sample once, the user's query over 5 minutes for raw PromQL (which cannot telescope)."""
        sli = self.sli
        if isinstance(sli, RatioSLI):
            return checked(telescoped(sli.total, self.group_by, since, mask))
        if isinstance(sli, LatencySLI):
            return checked(telescoped(sli.count, self.group_by, since, mask))
        if isinstance(sli, ProbeSLI):
            return checked(sample_slots("count_over_time", sli.gauge, self.group_by, since, mask))
        return self.total(format_duration(c.TILE_SECONDS))

    def tile_bad(self, total: str, since: str | None = None, mask: str | None = None) -> str:
        """Bad events in the current tile; ``total`` is the tile's total (recorded, or :meth:`tile_total`)."""
        sli = self.sli
        if isinstance(sli, RatioSLI) and sli.bad is not None:
            return checked(f"({telescoped(sli.bad, self.group_by, since, mask)} or 0 * {total})")
        if isinstance(sli, RatioSLI):
            assert sli.good is not None
            return checked(f"{total} - ({telescoped(sli.good, self.group_by, since, mask)} or 0 * {total})")
        if isinstance(sli, LatencySLI):
            return checked(f"{total} - {telescoped(self.bucket, self.group_by, since, mask)}")
        if isinstance(sli, ProbeSLI):
            return checked(f"{total} - {sample_slots('sum_over_time', sli.gauge, self.group_by, since, mask)}")
        return self.bad(format_duration(c.TILE_SECONDS), total)

    @cached_property
    def bucket(self) -> Selector:
        """A latency SLI's bucket at its threshold (every spelling of ``le``); made once per queries object."""
        assert isinstance(self.sli, LatencySLI)
        return self.sli.bucket.with_matchers(le_matcher(self.sli.threshold_seconds))

    def error_ratio(self, window: str) -> str:
        """Only for raw error-ratio SLIs: the user's query with the window filled in."""
        assert isinstance(self.sli, RawSLI) and self.sli.error_ratio is not None
        return checked(substitute_window(self.sli.error_ratio, window))

    def presence(self) -> Selector | None:
        """The raw series whose absence means the SLI has no data (None for raw PromQL)."""
        sli = self.sli
        if isinstance(sli, RatioSLI):
            return sli.total
        if isinstance(sli, LatencySLI):
            return sli.count
        if isinstance(sli, ProbeSLI):
            return sli.gauge
        return None
