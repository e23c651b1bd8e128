"""``recommend`` against 90 days of known counts in a real Prometheus."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sloengine.agreements.recommend import Verdict, recommend, render_markdown, suggest
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.connection import Client, ConnectionConfig
from sloengine.specs.loader import load

STEP = 300
DAYS = 91

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: ambitious
    objective: 99.95
    window: 28d
    sli: {ratio: {bad: 'shop_total{slo="ambitious",code="500"}', total: 'shop_total{slo="ambitious"}'}}
  - name: loose
    objective: 99
    window: 7d
    sli: {ratio: {bad: 'shop_total{slo="loose",code="500"}', total: 'shop_total{slo="loose"}'}}
"""


def test_suggestion_rounds_a_low_percentile_down_to_conventional_nines():
    assert suggest([0.9996, 0.9993, 0.9991, 0.9999, 0.9995]) == 99.9
    assert suggest([0.99999] * 5) == 99.999
    assert suggest([0.5, 0.6]) == 50.0


@pytest.fixture(scope="module")
def recommendations(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recommend")
    spec = tmp / "shop.yaml"
    spec.write_text(SPEC)
    at = int(time.time()) // STEP * STEP
    start = at - DAYS * 86400
    n = DAYS * 86400 // STEP + 1
    rng = np.random.default_rng(3)
    truth = {}
    series = []
    for name, error_ratio in (("ambitious", 0.003), ("loose", 0.0001)):
        total = np.full(n, 1000.0)
        bad = rng.binomial(1000, error_ratio, n).astype(float)
        total[0] = bad[0] = 0
        truth[name] = (total, bad)
        series += [Counter("shop_total", (("code", "200"), ("slo", name)), total - bad),
                   Counter("shop_total", (("code", "500"), ("slo", name)), bad)]
    write_blocks(openmetrics(series, start, STEP), tmp, tmp / "data")
    with prometheus(tmp / "prom", data_dir=tmp / "data") as prom:
        yield {r.slo.name: r for r in recommend(Client(ConnectionConfig(url=prom.url)), load([spec]).catalog,
                                               90 * 86400, at)}, truth, start, at


def test_a_target_missed_in_most_periods_is_unrealistic_and_a_reachable_one_is_suggested(recommendations):
    recs, _, _, _ = recommendations
    r = recs["ambitious"]
    assert r.verdict is Verdict.UNREALISTIC
    assert r.met_share == 0
    assert r.suggested == 99.5
    assert r.period_kind == "week" and len(r.periods) == 12  # three 28d windows are too few: weeks instead


def test_a_target_far_below_what_is_achieved_is_too_loose(recommendations):
    recs, _, _, _ = recommendations
    r = recs["loose"]
    assert r.verdict is Verdict.TOO_LOOSE
    assert r.period_kind == "7d" and len(r.periods) == 12
    assert r.suggested >= 99.95


def test_each_period_figure_is_the_exact_count(recommendations):
    recs, truth, start, _ = recommendations
    total, bad = truth["loose"]
    times = start + STEP * np.arange(len(total))
    for p in recs["loose"].periods:
        mask = (times > p.start) & (times <= p.end)
        assert p.total_events == total[mask].sum()
        assert p.attained == pytest.approx(1 - bad[mask].sum() / total[mask].sum(), abs=1e-12)
    table = render_markdown(tuple(recs.values()))
    assert "p10 of 12 weeks" in table and "unrealistic" in table
