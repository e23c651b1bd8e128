"""Alert conditions default to the SRE workbook's table and keep its burn factors on other periods."""

from __future__ import annotations

import pytest

from sloengine.model.slo import AlertSeverity
from sloengine.specs.policy import burn_factor, condition, default_conditions


def test_thirty_day_defaults_are_the_workbooks_table():
    got = [(c.severity, c.long_seconds, c.short_seconds, c.budget_percent, c.burn_factor)
           for c in default_conditions(30 * 86400)]
    assert got == [
        (AlertSeverity.PAGE, 3600, 300, 2.0, 14.4),
        (AlertSeverity.PAGE, 6 * 3600, 1800, 5.0, 6.0),
        (AlertSeverity.TICKET, 86400, 7200, 10.0, 3.0),
        (AlertSeverity.TICKET, 3 * 86400, 6 * 3600, 10.0, 1.0),
    ]


@pytest.mark.parametrize("days", [1, 7, 14, 28, 31, 90, 365])
def test_other_periods_keep_factors_and_short_windows_stay_shorter(days):
    period = days * 86400
    conditions = default_conditions(period)
    assert [c.burn_factor for c in conditions] == [14.4, 6.0, 3.0, 1.0]
    for c in conditions:
        assert 120 <= c.short_seconds < c.long_seconds < period
        assert c.burn_factor == pytest.approx(c.budget_percent / 100 * period / c.long_seconds, rel=1e-5)


def test_a_condition_from_budget_share_or_from_factor_agree():
    a = condition(AlertSeverity.PAGE, 3600, 300, 30 * 86400, budget_percent=2)
    b = condition(AlertSeverity.PAGE, 3600, 300, 30 * 86400, factor=14.4)
    assert (a.burn_factor, a.budget_percent) == (b.burn_factor, b.budget_percent) == (14.4, 2.0)
    assert burn_factor(10, 30 * 86400, 3 * 86400) == 1.0
