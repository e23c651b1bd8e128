"""Agreement compliance for one period: attainment within support hours net of exclusions, from exact counts.

For each agreement and each SLO it covers, the raw samples of the period are
fetched once and every event is attributed to the sample that first shows it
(an increase between consecutive samples, a reset counting the new value).
Events whose sample falls outside support hours or inside an exclusion are
dropped from good and total alike; what remains gives the attainment, the
downtime against the allowance, the hour-by-hour budget burn-down with its
ideal line, and the episodes that burned the budget fastest. An SLA carries
the figures of the OLAs and UCs it depends on underneath it.
"""

from __future__ import annotations

import enum
import functools
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from ..engine.connection import Client, QueryError
from ..engine.reading import BASELINE_SECONDS, _samples, counter_events, event_selectors
from ..model.calendars import next_period_start, period_start
from ..model.promql import Matcher, MatchOp, Selector
from ..model.slo import SLO, Agreement, AgreementKind, Catalog, Commitment, LatencySLI, ProbeSLI, RatioSLI
from .hours import Interval, counted_intervals, mask_in, seconds_in

BUCKET_SECONDS = 3600
EPISODES = 3


class Compliance(enum.Enum):
    MET = "met"
    BREACHED = "breached"
    NO_DATA = "no_data"
    ERROR = "error"


@dataclass(frozen=True)
class Episode:
    """A run of hours that burned the budget faster than allowed (or the worst hours, if none did)."""

    start: float
    end: float
    bad_events: float
    budget_share: float          # share of the period's error budget these hours spent
    peak_burn_rate: float


@dataclass(frozen=True)
class CommitmentResult:
    commitment: Commitment
    compliance: Compliance
    attained: float | None = None            # good ÷ total within counted time (0..1)
    good_events: float | None = None
    total_events: float | None = None
    counted_seconds: float = 0.0             # support hours net of exclusions, period so far
    period_counted_seconds: float = 0.0      # the same over the whole period
    downtime_minutes: float | None = None    # error ratio × counted minutes so far
    allowance_minutes: float = 0.0           # (1 − target) × counted minutes of the whole period
    budget_remaining: float | None = None
    burn_down: tuple[tuple[float, float], ...] = ()   # (hour end, budget left) through the period so far
    ideal: tuple[tuple[float, float], ...] = ()       # (hour end, budget left if spent evenly over counted time)
    episodes: tuple[Episode, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class AgreementResult:
    agreement: Agreement
    start: float
    end: float
    at: float
    commitments: tuple[CommitmentResult, ...]
    dependencies: tuple[AgreementResult, ...] = field(default=())

    @property
    def partial(self) -> bool:
        return self.at < self.end

    @property
    def attained(self) -> float | None:
        values = [c.attained for c in self.commitments if c.attained is not None]
        return min(values) if values else None

    @property
    def compliance(self) -> Compliance:
        states = {c.compliance for c in self.commitments}
        for state in (Compliance.ERROR, Compliance.BREACHED, Compliance.NO_DATA):
            if state in states:
                return state
        return Compliance.MET if states else Compliance.NO_DATA

    @property
    def credit_percent(self) -> float:
        """Credit owed for the period (only for a breach of what is attained so far)."""
        attained = self.attained
        if attained is None or self.compliance is not Compliance.BREACHED:
            return 0.0
        return self.agreement.credit_for(attained * 100.0)


# ---- periods ------------------------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class PeriodError(ValueError):
    pass


def period_day(text: str) -> date:
    """The first day of ``2026-10``, ``2026-Q4`` or ``2026-W43`` (ISO week)."""
    if m := _MONTH.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: month {month} is out of range")
        return date(year, month, 1)
    if m := _QUARTER.match(text):
        return date(int(m.group(1)), (int(m.group(2)) - 1) * 3 + 1, 1)
    if m := _WEEK.match(text):
        try:
            return date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        except ValueError as exc:
            raise PeriodError(f"{text!r}: {exc}") from None
    raise PeriodError(f"{text!r} is not a period: write 2026-10 (month), 2026-Q4 (quarter) or 2026-W43 (week)")


def period_bounds(agreement: Agreement, day: date) -> tuple[float, float]:
    """The agreement's own period (month, quarter, week) containing ``day``, in its time zone."""
    tz = ZoneInfo(agreement.timezone)
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
    start = period_start(agreement.period, agreement.timezone, moment)
    return start.timestamp(), next_period_start(agreement.period, agreement.timezone, start).timestamp()


# ---- counting -----------------------------------------------------------------------------------


def _narrow(selector: Selector, commitment: Commitment) -> Selector:
    return selector.with_matchers(*(Matcher(k, MatchOp.EQ, v) for k, v in commitment.match))


@dataclass
class _Tally:
    """Good and total events per bucket of counted time."""

    start: float
    buckets: int
    good: np.ndarray = field(init=False)
    total: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.good = np.zeros(self.buckets)
        self.total = np.zeros(self.buckets)

    def add(self, times: np.ndarray, events: np.ndarray, intervals: list[Interval], into: np.ndarray) -> None:
        keep = mask_in(times, intervals)
        if not keep.any():
            return
        index = np.clip(((times[keep] - self.start - 1e-9) // BUCKET_SECONDS).astype(np.int64), 0, self.buckets - 1)
        into += np.bincount(index, weights=events[keep], minlength=self.buckets)


def _tally(client: Client, slo: SLO, commitment: Commitment, start: float, end: float, at: float,
           intervals: list[Interval]) -> _Tally:
    sli = slo.sli
    span = at - start + BASELINE_SECONDS
    tally = _Tally(start, max(1, int(np.ceil((end - start) / BUCKET_SECONDS))))
    if isinstance(sli, ProbeSLI):
        for _, times, values in _samples(client, _narrow(sli.gauge, commitment), span, at, gauge=True):
            tally.add(times, values, intervals, tally.good)
            tally.add(times, np.ones(len(times)), intervals, tally.total)
        return tally
    if not isinstance(sli, (RatioSLI, LatencySLI)):
        raise QueryError(QueryError.REJECTED, "agreements need a ratio, latency or probe SLI for exact counts; "
                                              f"{slo.id} is raw PromQL")
    total_sel, part_sel, part_is_bad = event_selectors(sli)
    part = np.zeros(tally.buckets)
    for _, times, values in _samples(client, _narrow(total_sel, commitment), span, at):
        tally.add(*counter_events(times, values), intervals, tally.total)
    for _, times, values in _samples(client, _narrow(part_sel, commitment), span, at):
        tally.add(*counter_events(times, values), intervals, part)
    tally.good = tally.total - part if part_is_bad else part
    return tally


def _episodes(bad: np.ndarray, total: np.ndarray, start: float, budget_events: float,
              error_budget: float) -> tuple[Episode, ...]:
    with np.errstate(invalid="ignore", divide="ignore"):
        burn = np.where(total > 0, bad / total / error_budget, 0.0)
    hot = burn > 1.0
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(hot):
        if hot[i]:
            j = i
            while j + 1 < len(hot) and hot[j + 1]:
                j += 1
            runs.append((i, j))
            i = j + 1
        else:
            i += 1
    if not runs:
        runs = [(int(k), int(k)) for k in np.argsort(-bad, kind="stable")[:EPISODES] if bad[k] > 0]
    ranked = sorted(runs, key=lambda r: -float(bad[r[0]: r[1] + 1].sum()))[:EPISODES]
    return tuple(Episode(start + a * BUCKET_SECONDS, start + (b + 1) * BUCKET_SECONDS, float(bad[a: b + 1].sum()),
                         float(bad[a: b + 1].sum() / budget_events) if budget_events > 0 else 0.0,
                         float(burn[a: b + 1].max()))
                 for a, b in sorted(ranked))


def evaluate_commitment(client: Client, slo: SLO, agreement: Agreement, commitment: Commitment,
                        start: float, end: float, at: float) -> CommitmentResult:
    whole = counted_intervals(agreement.support_hours, agreement.exclusions, start, end)
    so_far = counted_intervals(agreement.support_hours, agreement.exclusions, start, at)
    counted, period_counted = seconds_in(so_far), seconds_in(whole)
    allowance = commitment.error_budget * period_counted / 60.0
    base = functools.partial(CommitmentResult, commitment=commitment, counted_seconds=counted,
                             period_counted_seconds=period_counted, allowance_minutes=allowance)
    try:
        tally = _tally(client, slo, commitment, start, end, at, so_far)
    except QueryError as exc:
        return base(compliance=Compliance.ERROR, error=str(exc))
    good, total = float(tally.good.sum()), float(tally.total.sum())
    if total <= 0:
        return base(compliance=Compliance.NO_DATA, good_events=good, total_events=total)
    attained = good / total
    bad = tally.total - tally.good
    budget_events = commitment.error_budget * total
    hour_ends = start + BUCKET_SECONDS * np.arange(1, tally.buckets + 1)
    shown = hour_ends <= at + BUCKET_SECONDS
    remaining = 1.0 - np.cumsum(bad) / budget_events
    bounds = np.asarray(whole, dtype=np.float64).reshape(-1, 2)
    overlap = np.minimum(bounds[None, :, 1], hour_ends[:, None]) - bounds[None, :, 0]
    counted_until = np.clip(overlap, 0, None).sum(axis=1)
    ideal = 1.0 - counted_until / period_counted if period_counted > 0 else np.zeros(tally.buckets)
    return base(
        compliance=Compliance.MET if attained >= commitment.objective / 100.0 - 1e-12 else Compliance.BREACHED,
        attained=attained, good_events=good, total_events=total,
        downtime_minutes=(1.0 - attained) * counted / 60.0,
        budget_remaining=float(1.0 - bad.sum() / budget_events),
        burn_down=tuple((float(t), float(r)) for t, r in zip(hour_ends[shown], remaining[shown])),
        ideal=tuple((float(t), float(r)) for t, r in zip(hour_ends, ideal)),
        episodes=_episodes(bad, tally.total, start, budget_events, commitment.error_budget),
    )


def evaluate_agreement(client: Client, catalog: Catalog, agreements: dict[str, Agreement], agreement: Agreement,
                       day: date, now: float | None = None, _seen: frozenset[str] = frozenset()) -> AgreementResult:
    start, end = period_bounds(agreement, day)
    at = min(end, float(now if now is not None else time.time()))
    slos = {s.id: s for s in catalog.slos}
    results = []
    for commitment in agreement.commitments:
        slo = slos.get(commitment.slo_id)
        if slo is None:
            results.append(CommitmentResult(commitment, Compliance.ERROR, error=f"no SLO {commitment.slo_id}"))
            continue
        results.append(evaluate_commitment(client, slo, agreement, commitment, start, end, at))
    deps = tuple(evaluate_agreement(client, catalog, agreements, agreements[d], day, now, _seen | {agreement.name})
                 for d in agreement.depends_on if d in agreements and d not in _seen)
    return AgreementResult(agreement, start, end, at, tuple(results), deps)


def evaluate_all(client: Client, catalog: Catalog, agreements: tuple[Agreement, ...], day: date,
                 now: float | None = None) -> tuple[AgreementResult, ...]:
    """Every SLA with its OLAs and UCs underneath, then every OLA and UC no SLA depends on."""
    by_name = {a.name: a for a in agreements}
    underneath = {d for a in agreements if a.kind is AgreementKind.SLA for d in a.depends_on}
    top = [a for a in agreements if a.kind is AgreementKind.SLA or a.name not in underneath]
    order = sorted(top, key=lambda a: (a.kind is not AgreementKind.SLA, a.name))
    return tuple(evaluate_agreement(client, catalog, by_name, a, day, now) for a in order)


def iso(ts: float, tz: str = "UTC") -> str:
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).isoformat()
