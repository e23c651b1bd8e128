"""The engine's figures against exact counts, read from a real Prometheus.

Synthetic counters with known per-minute increments (noise, a counter reset,
a scrape gap, per-route groups, a histogram, a probe, an idle service) are
backfilled into Prometheus 2.42, and the report is evaluated at a pinned
instant in the past: the last day of March 2026, so the Europe/Berlin
month-to-date spans the switch to summer time. Without recorded series the
engine counts raw samples exactly, so every SLI must equal the truth to 1e-6.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, Gauge, openmetrics, window_sum, write_blocks
from sloengine.engine.connection import Client, ConnectionConfig
from sloengine.engine.reading import evaluate
from sloengine.model.results import Source, Status
from sloengine.specs.loader import load

STEP = 60
AT = int(datetime(2026, 3, 31, 12, 0, 30, tzinfo=UTC).timestamp())
START = (AT - 34 * 86400) // STEP * STEP
N = (AT + 3600 - START) // STEP + 1
MONTH_START = datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: checkout
    objective: 99.5
    window: 7d
    sli:
      ratio:
        bad: shop_requests_total{code="500"}
        total: shop_requests_total
  - name: routes
    objective: 99
    window: 30d
    sli:
      ratio:
        bad: shop_route_requests_total{code="500"}
        total: shop_route_requests_total
        group_by: [route]
  - name: monthly
    objective: 99.9
    window: {calendar: month, timezone: Europe/Berlin}
    sli:
      ratio:
        good: shop_payments_total{result="ok"}
        total: shop_payments_total
  - name: latency
    objective: 95
    window: 1d
    sli:
      latency:
        histogram: shop_request_duration_seconds
        threshold: 300ms
  - name: probe
    objective: 99
    window: 3d
    sli:
      probe:
        metric: probe_success{job="blackbox"}
  - name: idle
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_idle_total{code="500"}
        total: shop_idle_total
  - name: absent
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_absent_total{code="500"}
        total: shop_absent_total
"""


def _noise(seed: int, low: int, high: int) -> np.ndarray:
    values = np.random.default_rng(seed).integers(low, high, N).astype(np.float64)
    values[0] = 0.0
    return values


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("engine")
    spec = tmp / "shop.yaml"
    spec.write_text(SPEC)
    truth: dict[str, np.ndarray] = {}
    scraped = np.ones(N, dtype=bool)
    scraped[N // 2: N // 2 + 45] = False  # a 45-minute scrape gap in the middle of every window
    series: list[Counter | Gauge] = []

    def counter(name: str, metric: str, labels, inc: np.ndarray, resets=()):
        truth[name] = inc
        series.append(Counter(metric, labels, inc, tuple(resets), scraped=scraped))

    counter("checkout_ok", "shop_requests_total", (("code", "200"),), _noise(1, 50, 150), resets=(N - 3000,))
    counter("checkout_bad", "shop_requests_total", (("code", "500"),), _noise(2, 0, 3), resets=(N - 2000,))
    for i, route in enumerate(("/a", "/b")):
        counter(f"route{route}_ok", "shop_route_requests_total", (("code", "200"), ("route", route)),
                _noise(10 + i, 20, 40))
        counter(f"route{route}_bad", "shop_route_requests_total", (("code", "500"), ("route", route)),
                _noise(20 + i, 0, 2) * (i + 1))
    counter("pay_ok", "shop_payments_total", (("result", "ok"),), _noise(3, 100, 200))
    counter("pay_failed", "shop_payments_total", (("result", "failed"),), _noise(4, 0, 2))
    fast = _noise(5, 30, 60)
    slow = _noise(6, 0, 4)
    counter("lat_fast", "shop_request_duration_seconds_bucket", (("le", "0.3"),), fast)
    counter("lat_all", "shop_request_duration_seconds_bucket", (("le", "+Inf"),), fast + slow)
    counter("lat_count", "shop_request_duration_seconds_count", (), fast + slow)
    counter("idle", "shop_idle_total", (("code", "200"),), np.zeros(N))
    probe = (np.random.default_rng(7).random(N) > 0.02).astype(np.float64)
    truth["probe"] = probe
    series.append(Gauge("probe_success", (("job", "blackbox"),), probe))
    write_blocks(openmetrics(series, START, STEP), tmp, tmp / "data")
    with prometheus(tmp / "prom", data_dir=tmp / "data", retention="36500d") as prom:
        report = evaluate(load([spec]).catalog, Client(ConnectionConfig(url=prom.url)), AT)
        yield report, truth, prom.url


def _sum(inc: np.ndarray, begin: float, end: float = AT) -> float:
    return window_sum(inc, START, STEP, begin, end)


def _result(report, slo: str, **group):
    found = [r for r in report.results if r.slo == slo and dict(r.group) == group]
    assert len(found) == 1, [r.id for r in report.results]
    return found[0]


def test_rolling_sli_equals_exact_count_across_a_reset_and_a_scrape_gap(world):
    report, truth, _ = world
    r = _result(report, "checkout")
    bad = _sum(truth["checkout_bad"], AT - 7 * 86400)
    total = bad + _sum(truth["checkout_ok"], AT - 7 * 86400)
    assert r.source is Source.RAW
    assert r.bad_events == bad and r.total_events == total
    assert r.sli == pytest.approx(1 - bad / total, abs=1e-9)
    assert r.budget_remaining == pytest.approx(1 - (bad / total) / 0.005, abs=1e-9)
    assert r.error_budget_events == pytest.approx(0.005 * total)
    assert r.error_budget_minutes == pytest.approx(0.005 * 7 * 1440)


def test_burn_rates_for_every_alert_window_equal_exact_counts(world):
    report, truth, _ = world
    r = _result(report, "checkout")
    assert len(r.burn_rates) >= 4
    for window, burn in r.burn_rates:
        seconds = {"m": 60, "h": 3600, "d": 86400}[window[-1]] * int(window[:-1])
        bad = _sum(truth["checkout_bad"], AT - seconds)
        total = bad + _sum(truth["checkout_ok"], AT - seconds)
        assert burn == pytest.approx((bad / total) / 0.005, abs=1e-9), window


def test_time_to_exhaustion_follows_the_current_burn_rate(world):
    report, _, _ = world
    r = _result(report, "checkout")
    burn = dict(r.burn_rates)[r.burn_rate_window]
    if r.budget_remaining <= 0:
        assert r.time_to_exhaustion_seconds == 0
    else:
        assert r.time_to_exhaustion_seconds == pytest.approx(r.budget_remaining * 7 * 86400 / burn)


def test_grouped_sli_gives_one_exact_result_per_group(world):
    report, truth, _ = world
    for route in ("/a", "/b"):
        r = _result(report, "routes", route=route)
        bad = _sum(truth[f"route{route}_bad"], AT - 30 * 86400)
        total = bad + _sum(truth[f"route{route}_ok"], AT - 30 * 86400)
        assert r.sli == pytest.approx(1 - bad / total, abs=1e-9)
    assert _result(report, "routes", route="/b").sli < _result(report, "routes", route="/a").sli


def test_calendar_month_to_date_starts_at_local_midnight_across_the_dst_switch(world):
    report, truth, _ = world
    r = _result(report, "monthly")
    good = _sum(truth["pay_ok"], MONTH_START)
    total = good + _sum(truth["pay_failed"], MONTH_START)
    assert r.window == "month"
    assert r.window_seconds == AT - MONTH_START
    assert r.sli == pytest.approx(good / total, abs=1e-9)
    assert r.period is not None
    assert r.period.start == MONTH_START
    assert r.period.end == datetime(2026, 4, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert 0.9 < r.period.elapsed_ratio < 1
    assert r.period.projected_sli is not None and abs(r.period.projected_sli - r.sli) < 0.01
    assert r.error_budget_minutes == pytest.approx(0.001 * (r.period.end - r.period.start) / 60)


def test_latency_sli_counts_requests_under_the_threshold(world):
    report, truth, _ = world
    r = _result(report, "latency")
    good = _sum(truth["lat_fast"], AT - 86400)
    total = _sum(truth["lat_count"], AT - 86400)
    assert r.sli == pytest.approx(good / total, abs=1e-9)


def test_probe_sli_is_the_share_of_successful_probes(world):
    report, truth, _ = world
    r = _result(report, "probe")
    times = START + STEP * np.arange(N)
    mask = (times > AT - 3 * 86400) & (times <= AT)
    assert r.total_events == mask.sum()
    assert r.sli == pytest.approx(truth["probe"][mask].mean(), abs=1e-9)


def test_zero_traffic_and_missing_series_are_no_data_not_full_availability(world):
    report, _, _ = world
    for name in ("idle", "absent"):
        r = _result(report, name)
        assert r.status is Status.NO_DATA
        assert r.sli is None and r.budget_remaining is None and r.time_to_exhaustion_seconds is None


def test_no_figure_is_nan_or_infinite(world):
    report, _, _ = world
    for r in report.results:
        for value in (r.sli, r.budget_remaining, r.budget_consumed, r.time_to_exhaustion_seconds,
                      *(v for _, v in r.burn_rates)):
            assert value is None or np.isfinite(value), r.id


def test_prometheus_counts_series_without_resets_and_only_reset_series_are_fetched(world):
    from sloengine.engine.reading import counter_increases
    from sloengine.model.promql import parse_selector

    _, truth, url = world
    sent: list[str] = []

    class Spy(Client):
        def query(self, expr, at):
            sent.append(expr)
            return super().query(expr, at)

    spy = Spy(ConnectionConfig(url=url))
    clean = counter_increases(spy, parse_selector('shop_route_requests_total{route="/a"}'), [86400.0], AT)
    assert len(sent) == 2 and not any(q.startswith("shop_route_requests_total{") and q.endswith("s]") for q in sent)
    exact = sum(_sum(truth[k], AT - 86400) for k in ("route/a_ok", "route/a_bad"))
    assert sum(v[0] for _, v in clean) == exact
    sent.clear()
    reset = counter_increases(spy, parse_selector('shop_requests_total{code="200"}'), [7 * 86400.0], AT)
    assert len(sent) == 3  # the series with a reset has its samples fetched
    assert reset[0][1][0] == _sum(truth["checkout_ok"], AT - 7 * 86400)
