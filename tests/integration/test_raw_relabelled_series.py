"""``sloengine report --raw`` is exact when a counter's series changes labels, read from a real Prometheus.

Two ways a counter's events end up split over two series, backfilled into
Prometheus 2.42 with Poisson traffic:

* a pod restart: ``instance="pod-a"`` stops, and a minute later the new
  process appears as ``instance="pod-b"``, having already counted a few
  requests before its first scrape;
* history without ``instance`` (a backfill, scraped every 60 s) followed by the
  live series scraped every 15 s with an ``instance`` label: a series whose
  labels are a superset of the other's.

The exact count follows the convention :func:`sloengine.engine.reading.counter_events`
states and ``increase()`` shares: a series' first sample is a baseline (what a
new series counted before its first scrape is not seen), every later sample
counts its increase. The truth is therefore :func:`synthetic.window_sum` over
each series' increments after its first sample. Two series counting the same
events at the same time (an overlap) would be counted twice by any reader of
the counters and is not tested here: no engine can tell it from real traffic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, window_sum, write_blocks

STEP = 15
START = int(datetime(2026, 2, 2, 0, 0, tzinfo=UTC).timestamp())
N = 3 * 86400 // STEP + 1
END = START + (N - 1) * STEP
#: The old pod's last sample, and the new pod's first (a minute later).
RESTART_LAST = N - 20 * 240 - 1
RESTART_FIRST = RESTART_LAST + 4
#: The last backfilled sample (every fourth step: 60 s), and the first live one (15 s later).
HISTORY_LAST = (N - 9 * 240) // 4 * 4
LIVE_FIRST = HISTORY_LAST + 1
OBJECTIVE = 99.0

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: restart
    objective: 99
    window: 2d
    sli:
      ratio:
        bad: shop_requests_total{route="/restart",code="500"}
        total: shop_requests_total{route="/restart"}
  - name: history
    objective: 99
    window: 2d
    sli:
      ratio:
        bad: shop_requests_total{route="/history",code="500"}
        total: shop_requests_total{route="/history"}
"""


def _poisson(seed: int, per_step: float) -> np.ndarray:
    return np.random.default_rng(seed).poisson(per_step, N).astype(np.float64)


def _series(labels, events: np.ndarray, since: int, first: int, last: int,
            every: int = 1) -> tuple[Counter, np.ndarray]:
    """A counter of ``events`` from step ``since`` on, scraped at ``first, first + every, ... <= last``.

    Returns the series and the events each scrape sees: its increase since the previous scrape (events
    between scrapes land on the next one, as a 60 s scrape sees four 15 s steps), nothing at the first
    scrape, whose value (what the process counted before) is only the baseline.
    """
    scraped = np.zeros(N, dtype=bool)
    scraped[first:last + 1:every] = True
    value = np.cumsum(np.where(np.arange(N) >= since, events, 0.0))[scraped]
    placed = np.zeros(N)
    placed[scraped] = np.diff(value, prepend=0.0)
    seen = placed.copy()
    seen[first] = 0.0
    return Counter("shop_requests_total", labels, placed, scraped=scraped), seen


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("relabelled")
    spec = tmp / "shop.yaml"
    spec.write_text(SPEC)
    truth: dict[tuple[str, str], list[np.ndarray]] = {}
    series = []
    for route, seed in (("/restart", 1), ("/history", 2)):
        for code, rate in (("200", 60.0), ("500", 1.5)):
            events = _poisson(seed * 1000 + int(code), rate)
            labels = (("code", code), ("route", route))
            if route == "/restart":
                # The old pod from the start; the new one starts a step before its first scrape.
                parts = [(labels + (("instance", "pod-a"),), 0, 0, RESTART_LAST, 1),
                         (labels + (("instance", "pod-b"),), RESTART_FIRST - 1, RESTART_FIRST, N - 1, 1)]
            else:
                # One counter: backfilled every 60 s without `instance`, then scraped live every 15 s.
                parts = [(labels, 0, 0, HISTORY_LAST, 4),
                         (labels + (("instance", "127.0.0.1:9200"),), 0, LIVE_FIRST, N - 1, 1)]
            for series_labels, since, first, last, every in parts:
                counter, seen = _series(tuple(sorted(series_labels)), events, since, first, last, every)
                series.append(counter)
                truth.setdefault((route, code), []).append(seen)
    write_blocks(openmetrics(series, START, STEP), tmp, tmp / "data")
    with prometheus(tmp / "prom", data_dir=tmp / "data", retention="36500d") as prom:
        yield prom, spec, truth


def _exact(truth, route: str, at: float, seconds: float) -> tuple[float, float]:
    """(bad, total) in ``(at - seconds, at]``: every series' increments after its first sample."""
    count = {code: sum(window_sum(seen, START, STEP, at - seconds, at) for seen in truth[(route, code)])
             for code in ("200", "500")}
    return count["500"], count["200"] + count["500"]


def _seconds(window: str) -> int:
    return {"m": 60, "h": 3600, "d": 86400}[window[-1]] * int(window[:-1])


def _at(index: int) -> int:
    return START + index * STEP


@pytest.mark.parametrize("route, at", [
    ("/restart", _at(RESTART_LAST) + 120),   # the old pod still answers instant queries (5-minute lookback)
    ("/restart", _at(RESTART_FIRST) + 3 * 3600 + 7),
    ("/restart", END),
    ("/history", _at(LIVE_FIRST) + 40),
    ("/history", _at(HISTORY_LAST) + 6 * 3600 - 30),  # the 6h window's far edge just before the switch
    ("/history", END),
], ids=["restart+2m", "restart+3h", "restart-end", "history+40s", "history+6h-30s", "history-end"])
def test_raw_report_counts_a_counter_whose_series_changed_labels_exactly(shop, route, at):
    prom, spec, truth = shop
    outcome = CliRunner().invoke(main, ["report", str(spec), "--prometheus", prom.url, "--raw", "--at", str(at),
                                        "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    # stdout only: diagnostics (a warning that the spec names no receiver) go to stderr
    result = next(s for s in json.loads(outcome.stdout)["slos"] if s["slo"] == route.strip("/"))
    assert result["source"] == "raw"
    bad, total = _exact(truth, route, at, 2 * 86400)
    assert (result["bad_events"], result["total_events"]) == (bad, total)
    assert len(result["burn_rates"]) >= 6
    for window, burn in result["burn_rates"].items():
        bad, total = _exact(truth, route, at, _seconds(window))
        assert burn == pytest.approx(bad / total / (1 - OBJECTIVE / 100), rel=1e-9, abs=1e-9), window
