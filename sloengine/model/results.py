"""What the engine computes per SLO: typed results that keep "no data", "failed" and a value apart.

A missing number is ``None`` together with a :class:`Status` that says why,
never a zero or a 100% that reads like a healthy service. Reports, the
exporter and the SLA report all render these types and nothing else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .slo import Labels


class Status(enum.Enum):
    """Worst first when sorted by :attr:`severity`."""

    ERROR = "error"          # the numbers could not be computed (query failed, Prometheus unreachable)
    NO_DATA = "no_data"      # the SLI had no events (or no samples) over the window
    BREACHED = "breached"    # the error budget of the window is spent (SLI below the objective)
    AT_RISK = "at_risk"      # a burn-rate condition holds, or little budget is left, or the period will miss
    OK = "ok"

    @property
    def severity(self) -> int:
        return list(Status).index(self)


class Source(enum.Enum):
    """Where an SLO's counts came from."""

    RECORDED = "recorded"    # sloengine's recording rules (window sums of 5-minute tiles, raw windows ≤ 6h)
    RAW = "raw"              # the raw counters' samples, counted exactly (a new SLO without recorded history)
    QUERY = "query"          # the user's own PromQL (raw SLIs), evaluated by Prometheus per window


@dataclass(frozen=True)
class Period:
    """The calendar period an SLO's window is in (calendar windows only)."""

    start: float
    end: float
    elapsed_ratio: float
    #: Budget left at the period's end if the recent error and traffic rates continue (``None``: no recent data).
    projected_budget_remaining: float | None
    projected_sli: float | None


@dataclass(frozen=True)
class SLOResult:
    service: str
    slo: str
    objective: float                       # percent, as written in the spec
    window: str                            # "30d", or "month"/"week"/"quarter" (period to date)
    window_seconds: float                  # rolling length, or time elapsed in the period
    status: Status
    group: Labels = ()                     # values of the SLI's group_by labels, for grouped SLIs
    source: Source | None = None
    sli: float | None = None
    good_events: float | None = None
    bad_events: float | None = None
    total_events: float | None = None
    error_budget_events: float | None = None   # bad events allowed over the window at this traffic
    error_budget_minutes: float = 0.0          # downtime the objective allows over the full window
    consumed_minutes: float | None = None      # error ratio × window length: minutes of full outage equivalent
    budget_consumed: float | None = None       # share of the budget spent (may exceed 1)
    budget_remaining: float | None = None      # 1 − consumed: negative when overspent, never ±Inf
    burn_rates: tuple[tuple[str, float | None], ...] = ()   # by alert window, shortest first
    burn_rate_window: str = ""             # the window whose burn rate drives time to exhaustion
    time_to_exhaustion_seconds: float | None = None   # None: not burning (or no data); 0: already spent
    burning: tuple[str, ...] = ()          # alert conditions (e.g. "page 1h/5m") whose windows both burn too fast
    period: Period | None = None
    error: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        suffix = ",".join(f"{k}={v}" for k, v in self.group)
        return f"{self.service}/{self.slo}" + (f"{{{suffix}}}" if suffix else "")


@dataclass(frozen=True)
class Report:
    """All results of one run, evaluated at one pinned instant."""

    at: float
    prometheus: str
    results: tuple[SLOResult, ...]
    queries: int = 0
    duration_seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def failed(self) -> bool:
        return any(r.status is Status.ERROR for r in self.results)

    @property
    def breached(self) -> bool:
        return any(r.status is Status.BREACHED for r in self.results)
