"""The exporter scrape benchmark runs at a tiny size, so its README figures can always be reproduced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_exporter_scrape_benchmark_runs_and_reports_cached_and_naive_scrapes(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "exporter_scrape.py"), "--slos", "50", "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "exporter_scrape.json").read_text())
    assert result["slos"] == 50 and result["samples"] > 50 * 10
    for part in ("scrape_ms", "naive_scrape_ms"):
        for encoding in ("gzip", "identity"):
            assert result[part][encoding]["median"] > 0
    assert "| cached (sloengine serve), gzip |" in done.stdout
