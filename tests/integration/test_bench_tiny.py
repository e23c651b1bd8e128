"""Every benchmark runs at a tiny size, so the numbers in the README can always be reproduced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "peers"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the rule-cost benchmark templates Sloth's files from ../shared/peers")
def test_rule_cost_benchmark_runs_and_reports_every_tool_in_its_own_phase(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "rule_cost.py"), "--slos", "3", "--days", "2",
                           "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "rule_cost-3.json").read_text())
    tools = result["tools"]
    expected = {"sloth", "sloengine"} | ({"pyrra"} if (SHARED / "pyrra" / "generated" / "http.rules.yaml").exists()
                                         else set())
    assert set(tools) == expected
    for tool in tools.values():
        # group durations (wall time) and the phase's Prometheus CPU, less the idle phase's, per SLO
        assert tool["ms_per_slo_per_cycle"] > 0 and tool["ms_per_slo_per_30s"] > 0
        assert tool["groups_seen"] >= 3 * 2
        assert tool["phase_wall_seconds"] > 0 and tool["phase_cpu_seconds"] >= 0
        assert tool["cpu_ms_per_slo_per_second"] >= 0
        assert tool["cpu_ms_per_slo_per_30s"] == pytest.approx(tool["cpu_ms_per_slo_per_second"] * 30, abs=0.01)
    assert result["idle_cores_used"] >= 0
    assert set(result["ratios"]["sloengine_over_sloth"]) == {"per_cycle", "per_30s", "cpu_per_second"}
    assert result["cost_ratio_per_cycle"] == result["ratios"]["sloengine_over_sloth"]["per_cycle"]
    assert set(result["accuracy_relative_error"]) == expected
    if "pyrra" in tools:
        assert {"sloengine_over_pyrra", "pyrra_over_sloth"} <= set(result["ratios"])
        assert result["accuracy_window_days"]["pyrra"] == 28
    # Sloth's history is backfilled by one combined rule; it must equal what Sloth's own rule computes.
    assert result["sloth_history_max_relative_difference"] == 0


def test_compile_benchmark_runs_and_reports_time_and_memory(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "compile.py"), "--slos", "20", "--quick",
                           "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "compile-20.json").read_text())
    assert set(results) == {"varied", "uniform"}
    assert results["uniform"]["slos"] == 20 and results["uniform"]["agreements"] == 8
    assert results["varied"]["slos"] == 20 and results["varied"]["catalogue"] == "varied"
    for result in results.values():
        assert {"rules", "tests", "dashboards", "alertmanager"} <= set(result["files_by_kind"])
        assert result["seconds"]["total"] > 0 and result["peak_rss_mib"] > 0
        # Generating the same catalogue again into the same directory reuses every file.
        again = result["regenerate_unchanged"]
        assert again["files"] == sum(result["files_by_kind"].values()) and again["files_reused"] == again["files"]
