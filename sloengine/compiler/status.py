"""The SLO status rule, stated once: ordered cases, the first that holds gives the status.

`report`, the exporter and the SLA report evaluate it in Python
(:func:`evaluate`, from the figures of :mod:`sloengine.engine.figures`); the Grafana
dashboards evaluate it in PromQL (:func:`promql`, from recorded series). Both
walk the same :data:`RULE`, so a case or threshold changed here changes both,
and ``tests/test_status_agreement.py`` checks in a real Prometheus that they
give the same status on every case.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..model.results import Status
from .queries import number

#: Below this share of budget left an SLO is "at risk" even when nothing burns fast.
AT_RISK_BUDGET_REMAINING = 0.1
#: Recent rates for a calendar period's projection come from the alert window nearest to this.
PROJECTION_WINDOW_SECONDS = 86400
#: Time to exhaustion uses the burn rate over the shortest page long window (the workbook's 1h), else this.
CURRENT_BURN_WINDOW_SECONDS = 3600


def nearest(seconds: Iterable[float], target: float) -> float:
    """The window (in seconds) nearest to ``target``; of two as near, the shorter (the figures and the
    dashboards pick the projection's and the current burn's windows with this)."""
    return min(seconds, key=lambda s: (abs(s - target), s))


class Check(enum.Enum):
    """What a case looks at."""

    QUERY_FAILED = "the figures could not be computed"
    NO_SLI = "no SLI over the window"
    BUDGET_REMAINING_BELOW = "budget left below the case's threshold"
    BURNING = "a burn-rate alert's condition holds (both its windows burn faster than its factor)"
    PROJECTED_BUDGET_REMAINING_BELOW = "the calendar period projected to end with budget left below the threshold"
    ALWAYS = "always"


@dataclass(frozen=True)
class Case:
    status: Status
    check: Check
    threshold: float | None = None
    #: Why the case holds, in words (the dashboards' table describes the rule with them).
    reason: str = ""

    @property
    def limit(self) -> float:
        """The threshold of a ``*_BELOW`` check."""
        assert self.threshold is not None, f"{self.check.name} needs a threshold"
        return self.threshold


#: The rule, in order: the first case that holds is the status.
RULE: tuple[Case, ...] = (
    Case(Status.ERROR, Check.QUERY_FAILED, reason="the figures could not be computed"),
    Case(Status.NO_DATA, Check.NO_SLI, reason="no SLI over the window"),
    Case(Status.BREACHED, Check.BUDGET_REMAINING_BELOW, 0.0, reason="budget spent"),
    Case(Status.AT_RISK, Check.BURNING, reason="an alert condition's two windows both burning too fast"),
    Case(Status.AT_RISK, Check.BUDGET_REMAINING_BELOW, AT_RISK_BUDGET_REMAINING,
         reason=f"under {AT_RISK_BUDGET_REMAINING:.0%} of the budget left"),
    Case(Status.AT_RISK, Check.PROJECTED_BUDGET_REMAINING_BELOW, 0.0,
         reason="the calendar period on course to end overspent at the last day's rates"),
    Case(Status.OK, Check.ALWAYS),
)


# ---- Python --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """One SLO's (or group's) figures the rule reads; NaN and None are "not known", which no threshold test
    passes."""

    failed: bool = False
    has_sli: bool = False
    budget_remaining: float = math.nan
    burning: bool = False
    projected_budget_remaining: float | None = None


def _below(value: float | None, threshold: float) -> bool:
    return value is not None and value < threshold


def holds(case: Case, inputs: Inputs) -> bool:
    check = case.check
    if check is Check.QUERY_FAILED:
        return inputs.failed
    if check is Check.NO_SLI:
        return not inputs.has_sli
    if check is Check.BUDGET_REMAINING_BELOW:
        return _below(inputs.budget_remaining, case.limit)
    if check is Check.BURNING:
        return inputs.burning
    if check is Check.PROJECTED_BUDGET_REMAINING_BELOW:
        return _below(inputs.projected_budget_remaining, case.limit)
    return True


def evaluate(inputs: Inputs) -> Status:
    """The status of the first case of :data:`RULE` that holds."""
    return next(case.status for case in RULE if holds(case, inputs))


# ---- PromQL --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """PromQL for what the rule reads, over the SLOs of one table.

    ``slos``: one series per SLO; ``sli``: the SLI's series (any labels that include the SLO's);
    ``budget_remaining`` and ``projected_budget_remaining``: the worst group's value per SLO (None: no SLO has
    one); ``burning``: the burn-rate alerts whose condition holds (pending or firing).
    """

    slos: str
    sli: str
    budget_remaining: str
    burning: str
    projected_budget_remaining: str | None = None


def condition(case: Case, series: Series, by: str) -> str | None:
    """The series (labelled at least ``by``) of the SLOs for which ``case`` holds; None: it cannot in PromQL."""
    check = case.check
    if check is Check.QUERY_FAILED:
        return None  # a query that fails shows Grafana's own error on the panel
    if check is Check.NO_SLI:
        return f"{series.slos} unless on({by}) ({series.sli})"
    if check is Check.BUDGET_REMAINING_BELOW:
        return f"{series.budget_remaining} < {number(case.limit)}"
    if check is Check.BURNING:
        return series.burning
    if check is Check.PROJECTED_BUDGET_REMAINING_BELOW:
        if series.projected_budget_remaining is None:
            return None
        return f"{series.projected_budget_remaining} < {number(case.limit)}"
    return series.slos


def promql(series: Series, codes: Mapping[Status, int], by: Sequence[str]) -> str:
    """One series per SLO, valued ``codes[status]``: each case's SLOs, earlier cases first (``or`` keeps the
    first series of each SLO, so the first case that holds wins, as in :func:`evaluate`)."""
    labels = ", ".join(by)
    terms = []
    for case in RULE:
        holding = condition(case, series, labels)
        if holding is not None:
            terms.append(f"{codes[case.status]} * group by ({labels}) ({holding})")
    return " or ".join(terms)


def _alternatives(reasons: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return reasons[0] if len(reasons) == 1 else f"{', '.join(reasons[:-1])} or {reasons[-1]}"


def description(names: Mapping[Status, str], cases: Sequence[Case] = RULE) -> str:
    """The rule in words: each named status and why, in the rule's order ("no data (no SLI over the window),
    breached (budget spent), ..., OK")."""
    reasons: dict[Status, list[str]] = {}
    for case in cases:
        if case.status in names:
            reasons.setdefault(case.status, []).extend([case.reason] if case.reason else [])
    return ", ".join(names[status] + (f" ({_alternatives(why)})" if why else "") for status, why in reasons.items())
