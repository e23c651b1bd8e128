"""Counts into figures (pure): statuses, budgets, time to exhaustion, calendar projection, rendering."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.engine.counts import Counts, plan
from sloengine.engine.figures import compute
from sloengine.model.results import Report, Source, Status
from sloengine.reports.report import render_json, render_markdown, render_table
from sloengine.specs.loader import load

AT = datetime(2026, 10, 16, 12, tzinfo=UTC).timestamp()

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: rolling
    objective: 99.9
    window: 30d
    sli: {ratio: {bad: 'x_total{code="500"}', total: x_total}}
  - name: monthly
    objective: 99
    window: {calendar: month, timezone: UTC}
    sli: {ratio: {bad: 'y_total{code="500"}', total: y_total}}
"""


@pytest.fixture
def plans(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    catalog = load([spec]).catalog
    return {p.slo.name: p for p in (plan(slo, AT) for slo in catalog.slos)}


def _counts(p, error_ratio: float, total: float = 1e6, **per_window: float) -> Counts:
    bad, tot = {}, {}
    for window, _ in p.windows:
        ratio = per_window.get(window, error_ratio)
        tot[window] = total
        bad[window] = total * ratio
    return Counts(Source.RECORDED, bad=bad, total=tot)


def _one(plans, name, counts=None, error=""):
    p = plans[name]
    key = (p.slo.service, p.slo.name)
    (result,) = compute([p], {key: {(): counts}} if counts else {}, {key: error} if error else {}, AT)
    return result


def test_half_spent_budget_is_ok_with_time_to_exhaustion_from_the_current_burn(plans):
    r = _one(plans, "rolling", _counts(plans["rolling"], 0.0005, **{"1h": 0.002}))
    assert r.status is Status.OK
    assert r.budget_remaining == pytest.approx(0.5)
    assert r.burn_rate_window == "1h" and dict(r.burn_rates)["1h"] == pytest.approx(2.0)
    assert r.time_to_exhaustion_seconds == pytest.approx(0.5 * 30 * 86400 / 2.0)
    assert r.error_budget_minutes == pytest.approx(0.001 * 30 * 1440)


def test_fast_burn_in_both_windows_is_at_risk_and_names_the_condition(plans):
    r = _one(plans, "rolling", _counts(plans["rolling"], 0.0002, **{"1h": 0.02, "5m": 0.02}))
    assert r.status is Status.AT_RISK
    assert r.burning == ("page 1h/5m",)


def test_overspent_budget_is_breached_with_a_negative_remaining_and_zero_time_left(plans):
    r = _one(plans, "rolling", _counts(plans["rolling"], 0.003))
    assert r.status is Status.BREACHED
    assert r.budget_remaining == pytest.approx(-2.0)
    assert r.time_to_exhaustion_seconds == 0.0


def test_no_traffic_is_no_data_and_never_a_number(plans):
    r = _one(plans, "rolling", _counts(plans["rolling"], 0.0, total=0.0))
    assert r.status is Status.NO_DATA
    assert (r.sli, r.budget_remaining, r.time_to_exhaustion_seconds) == (None, None, None)
    assert all(v is None for _, v in r.burn_rates)


def test_a_failed_query_is_error_not_healthy(plans):
    r = _one(plans, "rolling", error="cannot reach Prometheus")
    assert r.status is Status.ERROR and r.sli is None and r.error == "cannot reach Prometheus"


def test_not_burning_means_no_time_to_exhaustion(plans):
    r = _one(plans, "rolling", _counts(plans["rolling"], 0.0005, **{"1h": 0.0}))
    assert r.time_to_exhaustion_seconds is None


def test_calendar_projection_uses_the_last_days_rates(plans):
    p = plans["monthly"]
    assert p.period == (datetime(2026, 10, 1, tzinfo=UTC).timestamp(),
                        datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    # Half the budget spent so far, and the last day burns at 3x: the month will end overspent.
    r = _one(plans, "monthly", _counts(p, 0.005, **{"1d": 0.03}))
    assert r.status is Status.AT_RISK
    assert r.period.projected_budget_remaining < 0
    assert r.window == "month" and r.window_seconds == pytest.approx(AT - p.period[0])


def test_renderers_show_missing_figures_as_dashes_and_json_as_null(plans):
    results = (_one(plans, "rolling", error="boom"), _one(plans, "monthly", _counts(plans["monthly"], 0.001)))
    report = Report(at=AT, prometheus="http://prom", results=results, queries=2)
    table = render_table(report)
    assert "shop/rolling" in table and "—" in table and "error: shop/rolling: boom" in table
    document = json.loads(render_json(report))
    assert document["slos"][0]["sli"] is None and document["summary"]["error"] == 1
    assert "| shop/monthly |" in render_markdown(report)
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in document["slos"][1].values()
                   if isinstance(v, float))


_counts_strategy = st.floats(min_value=0, max_value=1e15, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(bad=st.lists(_counts_strategy, min_size=10, max_size=10), total=st.lists(_counts_strategy, min_size=10,
                                                                                max_size=10))
def test_no_counts_whatever_they_are_give_nan_or_infinite_figures(tmp_path_factory, bad, total):
    spec = tmp_path_factory.mktemp("h") / "s.yaml"
    spec.write_text(SPEC)
    for slo in load([spec]).catalog.slos:
        p = plan(slo, AT)
        windows = [w for w, _ in p.windows]
        counts = Counts(Source.RAW, bad=dict(zip(windows, bad)), total=dict(zip(windows, total)))
        (r,) = compute([p], {(slo.service, slo.name): {(): counts}}, {}, AT)
        for value in (r.sli, r.budget_remaining, r.budget_consumed, r.time_to_exhaustion_seconds,
                      r.error_budget_events, r.consumed_minutes, *(v for _, v in r.burn_rates)):
            assert value is None or math.isfinite(value)
        assert r.status in Status
