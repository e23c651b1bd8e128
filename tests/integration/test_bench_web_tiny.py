"""The web UI render benchmark runs at a tiny size, so its README figures can always be reproduced."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_web_render_benchmark_runs_and_reports_every_page(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "bench" / "web_render.py"), "--slos", "50", "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "web_render.json").read_text())
    assert result["slos"] == 50 and len(result["pages"]) == 5
    assert all(page["median"] > 0 and page["bytes"] > 1000 for page in result["pages"].values())
    assert "| list, status order |" in done.stdout
