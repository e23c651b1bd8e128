"""Web UI page render time with many SLOs: the SLO list served over loopback HTTP, and an SLO's page rendered.

    python bench/web_render.py                    # 1,000 SLOs (the README's figure)
    python bench/web_render.py --slos 50 --quick  # what the test suite runs

The report is :mod:`exporter_scrape`'s synthetic one (statuses, no-data and grouped results mixed), installed in
an exporter the way an evaluation would. The list is fetched whole with ``requests`` (request, render, body read)
unfiltered in status order, sorted by SLI descending, and filtered to one status. An SLO's page is timed
in-process with range answers of 241 points per series from a stub (Prometheus's own query time is not the
page's). Target: median under 200 ms at 1,000 SLOs.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import click
import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from exporter_scrape import summary, synthetic_report  # noqa: E402

from sloengine.model.slo import Catalog  # noqa: E402
from sloengine.reports import exporter as ex  # noqa: E402
from sloengine.reports.web.routes import WebUI  # noqa: E402
from sloengine.reports.web.slo_detail import TimeRange  # noqa: E402
from sloengine.specs.loader import load  # noqa: E402

TARGET_MS = 200.0
LIST_QUERIES = {"status order": "", "sorted by SLI, descending": "sort=sli&order=desc", "status ok only": "status=ok"}
SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: svc00000, team: bench}
slos:
  - name: slo-00
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: requests_total{code="500"}
        total: requests_total
"""


class StubRange:
    """Every range query answers one series on the asked grid (what the page renders, without the network)."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        times = np.arange(start, end + step / 2, step)
        values = np.column_stack([times, np.linspace(0.5, 0.9995, len(times))])
        return [{"metric": {"service": "svc00000", "slo": "slo-00", "window": "30d"}, "values": values}]


def time_gets(url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        response = requests.get(url, timeout=120)
        response.raise_for_status()
        _ = response.content
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(n: int, requests_per_page: int, spec_dir: Path) -> dict:
    report = synthetic_report(n)
    (spec_dir / "svc.yaml").write_text(SPEC)
    loaded = load([spec_dir])
    catalog = loaded.catalog or Catalog()
    exporter = ex.Exporter(catalog, StubRange(), evaluate=lambda *a, **k: report)  # type: ignore[arg-type]
    exporter.evaluate_once()
    running = ex.start_server(exporter, "127.0.0.1:0")
    pages: dict[str, dict] = {}
    try:
        time_gets(f"{running.url}/", 2)   # warm up
        for name, query in LIST_QUERIES.items():
            times = time_gets(f"{running.url}/?{query}", requests_per_page)
            size = len(requests.get(f"{running.url}/?{query}", timeout=120).content)
            pages[f"list, {name}"] = {**summary(times), "bytes": size}
    finally:
        running.close()
    web = WebUI(exporter, client=StubRange())
    for range_name in ("1d", "30d"):
        times = []
        for _ in range(requests_per_page):
            started = time.perf_counter()
            answer = web.route("/slo", f"service=svc00000&slo=slo-00&range={range_name}")
            times.append((time.perf_counter() - started) * 1000)
            assert answer is not None and answer.status == "200 OK"
        points = len(TimeRange.parse({"range": range_name}, report.at).times)
        pages[f"SLO page, {range_name} ({points} points per series)"] = {**summary(times), "bytes": len(answer.body)}
    return {"slos": n, "target_ms": TARGET_MS, "pages": pages,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}}


def table(result: dict) -> str:
    lines = [f"{result['slos']:,} SLOs", "", "| page | median ms | p99 ms | max ms | bytes |", "|---|---|---|---|---|"]
    for name, figures in result["pages"].items():
        lines.append(f"| {name} | {figures['median']} | {figures['p99']} | {figures['max']} | {figures['bytes']:,} |")
    return "\n".join(lines)


@click.command()
@click.option("--slos", default=1000, show_default=True)
@click.option("--quick", is_flag=True, help="Few requests (for the test suite).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=REPO / "bench" / "results")
def main(slos: int, quick: bool, out: Path) -> None:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        result = run(slos, 3 if quick else 50, Path(tmp))
    out.mkdir(parents=True, exist_ok=True)
    (out / "web_render.json").write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    slowest = max(figures["median"] for figures in result["pages"].values())
    print(f"\nslowest median {slowest} ms (target {TARGET_MS:g} ms)")


if __name__ == "__main__":
    main()
