"""The two-tier benchmark runs at a tiny size (`--quick`), so its figures in the README can always be reproduced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SLOS = 6


def test_two_tier_benchmark_measures_every_server_federation_and_exact_accuracy(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "two_tier.py"), "--slos", str(SLOS), "--days", "2",
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / f"two_tier-{SLOS}.json").read_text())
    assert result["slos"] == SLOS and result["quick"] is True
    cpu = result["cpu"]
    assert set(cpu) == {"single", "leaf_a", "leaf_b", "global", "two_tier"}
    for tier in ("single", "leaf_a", "leaf_b", "global"):
        figures = cpu[tier]
        # the phase's CPU less the idle phase's, per SLO, and every SLO's groups seen evaluating
        assert figures["phase_wall_seconds"] > 0 and figures["phase_cpu_seconds"] >= 0
        assert figures["idle_cores_used"] >= 0 and figures["cpu_ms_per_slo_per_second"] >= 0
        assert figures["rule_ms_per_slo_per_30s"] > 0
        assert figures["groups_seen"] >= 2 * SLOS
    assert cpu["two_tier"]["cpu_ms_per_slo_per_second"] == pytest.approx(
        sum(cpu[t]["cpu_ms_per_slo_per_second"] for t in ("leaf_a", "leaf_b", "global")), abs=1e-4)
    assert set(result["ratios"]) == {"two_tier_over_single", "global_over_single", "leaf_a_over_single",
                                     "leaf_b_over_single"}
    fed = result["federation"]
    assert set(fed["per_leaf"]) == {"a", "b"}
    for leaf in fed["per_leaf"].values():
        assert 0 < leaf["gzip_bytes"] < leaf["identity_bytes"] and leaf["samples"] > 0
    assert fed["bytes_per_slo_per_minute"]["identity"] > fed["bytes_per_slo_per_minute"]["gzip"] > 0
    # what the global's federation scrape took in: every leaf's series once
    assert set(fed["samples_per_scrape"]) == {"a", "b"}
    assert fed["samples_per_slo_per_scrape"] > 0
    # the 30d window read the whole history (2 days of 5-minute tiles, and the live ones)
    assert result["tiles_in_30d_window"]["single"]["all"] >= 2 * 288
    assert set(result["tiles_in_30d_window"]["global"]) == {"a", "b"}
    # exact: both tiers, against the counts, over spans that include tiles recorded live (and federated)
    accuracy = result["accuracy"]
    assert accuracy["single"]["slos_checked"] == accuracy["global"]["slos_checked"] == SLOS
    for tier in ("single", "global"):
        assert accuracy[tier]["max_relative_error"] < 1e-9
        assert accuracy[tier]["max_count_relative_error"] < 1e-9
    assert accuracy["single"]["spans_with_live_tiles"] == SLOS
    assert accuracy["global"]["spans_with_live_tiles"] == 2 * SLOS
