"""Generated rules against a real Prometheus: long-window error ratios are exact where Sloth's drift.

Thirty-one days of counters with known per-minute counts are backfilled, the
tiles' history is backfilled with ``sloengine``'s own backfill, the generated
rules are loaded, and the recorded error ratios are compared with the exact
sums of the increments over the same windows.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pytest

from sloengine import conventions as c
from sloengine.backfill import backfill, install_blocks
from sloengine.calendars import period_start
from sloengine.model import CalendarUnit
from sloengine.loader import load
from sloengine.rulefiles import render_rule_file
from sloengine.rules import Intervals, compile_catalog
from sloengine.stack import prometheus
from sloengine.synthetic import Counter, openmetrics, window_sum, write_blocks

STEP = 60
DAYS = 31
PATTERNS = ("flat", "night-errors", "peak-errors", "counter-reset", "incidents", "quiet", "scrape-gap")

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: accuracy, team: sre}
slos:
""" + "".join(
    f"""  - name: {p}
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: acc_requests_total{{pattern="{p}",code="500"}}
        total: acc_requests_total{{pattern="{p}"}}
"""
    for p in PATTERNS
) + """  - name: monthly
    objective: 99.9
    window: {calendar: month, timezone: Europe/Berlin}
    sli:
      ratio:
        bad: acc_requests_total{pattern="night-errors",code="500"}
        total: acc_requests_total{pattern="night-errors"}
"""


def traffic(pattern: str, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-minute (good, bad) events: flat, or a 100x day/night swing with errors at night or at peak."""
    hour = (times // 3600) % 24
    day = (hour >= 8) & (hour < 20)
    if pattern == "quiet":
        # No traffic at all for two days in the middle and for the last 7 hours (the counters stay flat).
        end = times[-1]
        idle = ((times > end - 12 * 86400) & (times <= end - 10 * 86400)) | (times > end - 7 * 3600)
        total = np.where(idle, 0.0, 600.0)
        bad = np.where(idle, 0.0, 0.6)
    elif pattern in ("flat", "counter-reset", "scrape-gap"):
        total = np.full(times.shape, 600.0)
        bad = np.full(times.shape, 0.6 if pattern == "flat" else 1.2)
    elif pattern == "incidents":
        # Quiet base rate, a 2h full outage 20h ago and a 10% slow burn over 2 days 10 days ago, so the
        # 1d, 3d and 30d windows each hold different incidents (edges fall in quiet time).
        end = times[-1]
        total = np.full(times.shape, 600.0)
        bad = np.full(times.shape, 0.06)
        outage = (times > end - 20 * 3600) & (times <= end - 18 * 3600)
        burn = (times > end - 10 * 86400) & (times <= end - 8 * 86400)
        bad = np.where(outage, 600.0, np.where(burn, 60.0, bad))
    else:
        total = np.where(day, 6000.0, 60.0)
        if pattern == "night-errors":
            bad = np.where(day, 0.0, 6.0)
        else:
            bad = np.where(day, 6.0, 0.0)
    bad[0] = 0.0
    total[0] = 0.0
    return total - bad, bad


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    work = tmp_path_factory.mktemp("accuracy")
    spec = work / "spec.yaml"
    spec.write_text(SPEC)
    catalog = load([spec]).catalog
    assert len(catalog.slos) == len(PATTERNS) + 1
    end = int(time.time()) // STEP * STEP
    start = end - DAYS * 86400
    times = start + STEP * np.arange(DAYS * 86400 // STEP + 1, dtype=np.int64)
    series, truth = [], {}
    for pattern in PATTERNS:
        good, bad = traffic(pattern, times)
        resets = tuple(range(len(times) // 7, len(times), len(times) // 7)) if pattern == "counter-reset" else ()
        # A 6-hour scrape outage 5 days ago: the counters keep counting, Prometheus sees nothing meanwhile.
        scraped = ~((times > end - 5 * 86400) & (times <= end - 5 * 86400 + 6 * 3600)) \
            if pattern == "scrape-gap" else None
        series.append(Counter("acc_requests_total", (("code", "200"), ("pattern", pattern)), good, resets, scraped))
        series.append(Counter("acc_requests_total", (("code", "500"), ("pattern", pattern)), bad, resets, scraped))
        truth[pattern] = (good + bad, bad)
    data = work / "data"
    write_blocks(openmetrics(series, start, STEP), work, data)
    with prometheus(work / "raw", data_dir=data) as prom:
        result = backfill(catalog, prom.url, end - 31 * 86400 + 3600, end, work / "backfill")
    install_blocks(result.blocks_dir, data)
    rules_dir = work / "rules"
    rules_dir.mkdir()
    rule_files = []
    for relative, groups in compile_catalog(catalog, Intervals(fast_seconds=10, slow_seconds=10)).items():
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        rule_files.append(path)
    with prometheus(work / "live", data_dir=data, rule_files=rule_files) as prom:
        _wait_for_slow_groups(prom)
        yield prom, truth, start


def _wait_for_slow_groups(prom, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        groups = [g for g in prom.rule_groups() if g["name"].endswith(":slow")]
        if groups and all(not g["lastEvaluation"].startswith("0001") for g in groups):
            if all(r.get("health") == "ok" for g in groups for r in g["rules"]):
                return
            bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") != "ok"]
            raise AssertionError(f"rules failed: {bad}")
        time.sleep(1)
    raise AssertionError("slow rule groups did not evaluate in time")


def _wait_for_month_to_date(prom, timeout: float = 90) -> None:
    """The period start is recorded by the shared calendar group; the first slow evaluation may precede it."""
    deadline = time.monotonic() + timeout
    while not prom.query(f'{c.METRIC_ERROR_RATIO}{{slo="monthly",window="month"}}') and time.monotonic() < deadline:
        time.sleep(1)


def recorded(prom, metric: str, pattern: str, window: str) -> tuple[float, float]:
    (sample,) = prom.query(f'{metric}{{service="accuracy",slo="{pattern}",window="{window}"}}')
    at, value = sample["value"]
    return float(at), float(value)


def exact_ratio(truth, pattern: str, start: int, begin: float, end: float) -> float:
    total, bad = truth[pattern]
    return window_sum(bad, start, STEP, begin, end) / window_sum(total, start, STEP, begin, end)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("window", ["30d", "3d", "1d"])
def test_long_window_error_ratio_is_within_one_percent_of_exact_count(loaded, pattern, window):
    prom, truth, start = loaded
    at, value = recorded(prom, c.METRIC_ERROR_RATIO, pattern, window)
    seconds = {"30d": 30 * 86400, "3d": 3 * 86400, "1d": 86400}[window]
    exact = exact_ratio(truth, pattern, start, at - seconds, at)
    assert value == pytest.approx(exact, rel=0.01), f"{pattern} {window}: rules {value:.6g} vs exact {exact:.6g}"


def test_budget_remaining_follows_from_the_exact_ratio(loaded):
    prom, truth, start = loaded
    at, remaining = recorded(prom, c.METRIC_BUDGET_REMAINING, "peak-errors", "30d")
    exact = exact_ratio(truth, "peak-errors", start, at - 30 * 86400, at)
    assert remaining == pytest.approx(1 - exact / 0.001, abs=0.01)


def test_calendar_month_to_date_counts_events_since_local_midnight_on_the_first(loaded):
    prom, truth, start = loaded
    _wait_for_month_to_date(prom)
    at, total = recorded(prom, c.METRIC_TOTAL, "monthly", "month")
    _, ratio = recorded(prom, c.METRIC_ERROR_RATIO, "monthly", "month")
    begin = period_start(CalendarUnit.MONTH, "Europe/Berlin", datetime.fromtimestamp(at, timezone.utc)).timestamp()
    exact_total = window_sum(truth["night-errors"][0], start, STEP, begin, at)
    assert total == pytest.approx(exact_total, rel=0.001)
    assert ratio == pytest.approx(exact_ratio(truth, "night-errors", start, begin, at), rel=0.01)


def test_no_traffic_leaves_short_windows_without_a_value_and_long_ones_exact(loaded):
    prom, truth, start = loaded
    assert prom.query(f'{c.METRIC_ERROR_RATIO}{{slo="quiet",window="1h"}}') == []
    assert prom.query(f'{c.METRIC_BUDGET_REMAINING}{{slo="quiet"}}')  # the 30d window still has traffic


def test_no_recorded_series_is_nan_or_infinite(loaded):
    prom, _, _ = loaded
    for metric in (c.METRIC_ERROR_RATIO, c.METRIC_BURN_RATE, c.METRIC_BUDGET_REMAINING, c.METRIC_BAD, c.METRIC_TOTAL):
        assert prom.query(f"{metric} != {metric}") == [], f"{metric} has NaN"
        assert prom.query(f"abs({metric}) == +Inf") == [], f"{metric} has Inf"


def test_every_generated_rule_evaluates_without_error(loaded):
    prom, _, _ = loaded
    failing = [(r["name"], r.get("lastError")) for g in prom.rule_groups() for r in g["rules"]
               if r.get("health") not in ("ok", "unknown")]
    assert failing == []


# ---- the engine reading these recorded series -------------------------------------------------


def _report(prom, at: float, **kwargs):
    from sloengine.connection import Client, ConnectionConfig
    from sloengine.engine import evaluate

    catalog = load([prom.data_dir.parent / "spec.yaml"]).catalog
    client = Client(ConnectionConfig(url=prom.url))
    return evaluate(catalog, client, at, **kwargs)


def test_report_reads_every_slo_from_recorded_series_in_two_queries(loaded):
    from sloengine.results import Source

    prom, truth, start = loaded
    _wait_for_month_to_date(prom)
    at = float(recorded(prom, c.METRIC_ERROR_RATIO, "flat", "30d")[0])
    report = _report(prom, at)
    assert {r.id: r.source for r in report.results} == {r.id: Source.RECORDED for r in report.results}
    assert report.queries == 2  # bad and total events, all SLOs and windows at once
    for r in report.results:
        if r.slo in PATTERNS:
            exact = exact_ratio(truth, r.slo, start, at - 30 * 86400, at)
            assert 1 - r.sli == pytest.approx(exact, rel=0.01), r.slo


def test_recorded_and_raw_counts_agree(loaded):
    """The recorded path (tile sums) and the raw path (exact sample counting) describe the same window."""
    prom, truth, start = loaded
    at = float(recorded(prom, c.METRIC_ERROR_RATIO, "flat", "30d")[0])
    fast = {r.id: r for r in _report(prom, at).results}
    exact = {r.id: r for r in _report(prom, at, use_recorded=False).results}
    for pattern in ("flat", "night-errors", "counter-reset", "scrape-gap"):
        key = f"accuracy/{pattern}"
        assert exact[key].total_events == pytest.approx(
            window_sum(truth[pattern][0], start, STEP, at - 30 * 86400, at), rel=1e-9)
        assert fast[key].budget_remaining == pytest.approx(exact[key].budget_remaining, abs=0.01)
        if pattern != "scrape-gap":
            # A 5-minute tile cannot see events counted across a 6-hour scrape gap (good and bad alike, so
            # the ratio holds); the raw path can, and reports them.
            assert fast[key].total_events == pytest.approx(exact[key].total_events, rel=0.001)
