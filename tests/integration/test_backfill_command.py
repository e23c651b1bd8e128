"""``sloengine backfill``: blocks of tile history that, once installed, give a new SLO its whole window."""

from __future__ import annotations

import time

import numpy as np
import pytest
from click.testing import CliRunner

from sloengine import conventions as c
from sloengine.backfill import install_blocks
from sloengine.cli import main
from sloengine.stack import prometheus
from sloengine.synthetic import Counter, openmetrics, write_blocks

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: checkout
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{code="500"}
        total: shop_requests_total
"""


def test_backfilled_tiles_give_a_new_slo_its_whole_window(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    step, hours = 60, 30
    end = int(time.time()) // step * step
    start = end - hours * 3600
    n = hours * 60 + 1
    good = np.full(n, 99.0)
    bad = np.full(n, 1.0)
    good[0] = bad[0] = 0
    data = tmp_path / "data"
    write_blocks(openmetrics([Counter("shop_requests_total", (("code", "200"),), good),
                              Counter("shop_requests_total", (("code", "500"),), bad)], start, step), tmp_path, data)
    with prometheus(tmp_path / "raw", data_dir=data) as prom:
        outcome = CliRunner().invoke(main, ["backfill", str(spec), "--prometheus", prom.url, "--since", "26h",
                                            "--until", str(end), "--out", str(tmp_path / "bf")])
        assert outcome.exit_code == 0, outcome.output
    blocks = tmp_path / "bf" / "blocks"
    assert any(blocks.iterdir())
    install_blocks(blocks, data)
    with prometheus(tmp_path / "after", data_dir=data) as prom:
        tiles = prom.query(f'count_over_time({c.METRIC_TILE_TOTAL}{{service="shop",slo="checkout"}}[1d])', at=end)
        assert float(tiles[0]["value"][1]) >= 24 * 12 - 1
        (bad_day,) = prom.query(f'sum_over_time({c.METRIC_TILE_BAD}{{slo="checkout"}}[1d])', at=end)
        assert float(bad_day["value"][1]) == pytest.approx(1440, rel=0.01)




def test_unreachable_prometheus_fails_with_a_message_and_exit_one(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    outcome = CliRunner().invoke(main, ["backfill", str(spec), "--prometheus", "http://127.0.0.1:9", "--since", "2h",
                                        "--out", str(tmp_path / "bf")])
    assert outcome.exit_code == 1
    assert "backfill failed" in outcome.output


def test_constant_labels_come_out_of_prometheus_verbatim(tmp_path):
    """The combined backfill rules set labels with label_replace, whose replacement expands ``$1``."""
    from sloengine.promql import with_labels

    value = 'a$1b "quoted" \\ back'
    with prometheus(tmp_path) as prom:
        result = prom.query(with_labels("vector(1)", (("team", value), ("slo", "x"))))
    assert [r["metric"] for r in result] == [{"team": value, "slo": "x"}]
