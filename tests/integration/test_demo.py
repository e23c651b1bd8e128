"""``make demo`` end to end at a short duration: the whole stack starts, shows every SLO, and leaves nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sloengine.loader import load

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_the_stack_shows_every_slo_and_stops_every_process(tmp_path):
    workdir = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "sloengine.demo", "--duration", "40", "--history-days", "1",
                           "--refresh", "10", "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for line in ("Prometheus    http://127.0.0.1:", "Alertmanager  http://127.0.0.1:", "exporter      http://127.0.0.1:",
                 "webhooks      http://127.0.0.1:"):
        assert line in out
    for slo in load([REPO / "examples"]).catalog.slos:
        assert slo.id in out
    assert "stopped every process" in out
    assert (workdir / "report.html").read_text().count("<tr") >= 6
    left = subprocess.run(["pgrep", "-f", str(workdir)], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"processes left running: {left.stdout}"
