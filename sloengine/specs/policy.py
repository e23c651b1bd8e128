"""Multi-window, multi-burn-rate alert conditions, defaulting to the SRE workbook's.

The workbook's table is stated for a 30-day SLO: page when 2% of the budget
burns in 1h (5m short window) or 5% in 6h (30m); ticket when 10% burns in 1d
(2h) or 3d (6h). For another period we keep the workbook's *burn factors*
(14.4, 6, 3, 1) and scale the windows by period ÷ 30d, snapped to a short list
of round windows (so rules share series and names stay readable); the share of
budget each condition allows then follows from the factor. Keeping the windows
and changing the factor instead (as Sloth's catalogs do) drives the slow
ticket below a factor of 1 on short periods, where it fires on a burn the
budget can sustain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from ..model.slo import AlertSeverity, BurnRateAlert

WORKBOOK_PERIOD_SECONDS = 30 * 86400
MINUTE = 60


@dataclass(frozen=True)
class _Tier:
    severity: AlertSeverity
    long_seconds: int
    short_seconds: int
    factor: float
    for_seconds: int


WORKBOOK_TIERS: tuple[_Tier, ...] = (
    _Tier(AlertSeverity.PAGE, 3600, 300, 14.4, 2 * MINUTE),
    _Tier(AlertSeverity.PAGE, 6 * 3600, 1800, 6.0, 5 * MINUTE),
    _Tier(AlertSeverity.TICKET, 86400, 2 * 3600, 3.0, 15 * MINUTE),
    _Tier(AlertSeverity.TICKET, 3 * 86400, 6 * 3600, 1.0, 30 * MINUTE),
)


def burn_factor(budget_percent: float, period_seconds: int, long_seconds: int) -> float:
    """Burn rate at which ``budget_percent`` of the budget is spent within ``long_seconds``."""
    return round(budget_percent / 100.0 * period_seconds / long_seconds, 6)


#: Windows that scaled alert windows snap to. None is under 2 minutes: with a 1-minute scrape a 1m
#: window can hold a single sample, and ``increase()`` of one sample is no value, so the alert never fires.
ROUND_WINDOWS: tuple[int, ...] = tuple(
    m * MINUTE for m in (2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 5760, 10080, 20160, 40320, 43200)
)


def _snap(seconds: float) -> int:
    """The round window nearest to ``seconds`` on a log scale."""
    return min(ROUND_WINDOWS, key=lambda w: (abs(math.log(w / seconds)), w))


@cache
def default_conditions(period_seconds: int) -> tuple[BurnRateAlert, ...]:
    """The workbook's four conditions, with windows scaled to an SLO period."""
    scale = period_seconds / WORKBOOK_PERIOD_SECONDS
    out = []
    for tier in WORKBOOK_TIERS:
        long_s = max(_snap(tier.long_seconds * scale), ROUND_WINDOWS[1])
        short_s = min(_snap(long_s / 12), max(w for w in ROUND_WINDOWS if w < long_s))
        out.append(
            condition(tier.severity, long_s, short_s, period_seconds, factor=tier.factor,
                      for_seconds=min(tier.for_seconds, short_s))
        )
    return tuple(out)


def condition(
    severity: AlertSeverity,
    long_seconds: int,
    short_seconds: int,
    period_seconds: int,
    *,
    budget_percent: float | None = None,
    factor: float | None = None,
    for_seconds: int = 0,
) -> BurnRateAlert:
    """A user-specified condition from either a budget share or a burn factor."""
    if (budget_percent is None) == (factor is None):
        raise ValueError("give exactly one of budget_percent and factor")
    if factor is None:
        assert budget_percent is not None
        factor = burn_factor(budget_percent, period_seconds, long_seconds)
    else:
        budget_percent = round(factor * long_seconds / period_seconds * 100.0, 6)
    return BurnRateAlert(severity, long_seconds, short_seconds, budget_percent, factor, for_seconds)
