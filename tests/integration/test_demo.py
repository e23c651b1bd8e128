"""``make demo`` end to end on a shortened schedule: the whole stack starts, the outage starts on the second
the printed schedule says, the page and its escalation reach the live view, the budget falls at every scrape
of the outage, the history and the live scrapes are one series counted once, and nothing is left running.

The demo runs once (under two minutes) with the outage moved to +0:05, a quarter of an hour of
history, and the page's ``for`` and the escalation delays shortened; the mechanism is the real one: the
workload, Prometheus with the generated rules, Alertmanager with the generated escalation, the webhooks.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sloengine.cli import main as cli
from sloengine.devstack.stack import prometheus
from sloengine.devstack.workload import SERIES, Schedule, cumulative
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[2]
#: Long enough for the slowest alignment of scrapes and evaluations to page and escalate (about +1:25) and show it.
DURATION = 100
OUTAGE = (5 / 60, 1.6)    # minutes after +0:00
TIME_SCALE = 120          # L2 15 s after the page (30m / 120)
FOR_SCALE = 8             # the page's `for` 2m becomes 15 s
ROW = "checkout-api/requests-availability"


@dataclass(frozen=True)
class Refresh:
    """One refresh of the live view: its instant and its text."""

    at: int
    text: str

    def row(self, slo_id: str) -> str:
        return next(line for line in self.text.splitlines() if line.startswith(slo_id + " "))

    def budget(self, slo_id: str) -> float:
        return float(self.row(slo_id).split()[2].rstrip("%"))


@dataclass(frozen=True)
class Demo:
    workdir: Path
    out: str
    schedule: Schedule
    refreshes: tuple[Refresh, ...]
    webhooks: tuple[dict, ...]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    workdir = tmp_path_factory.mktemp("demo") / "run"
    done = subprocess.run([sys.executable, "-m", "sloengine.devstack.demo", "--duration", str(DURATION),
                           "--history-days", "0.01", "--refresh", "5", "--outage", *map(str, OUTAGE),
                           "--time-scale", str(TIME_SCALE), "--for-scale", str(FOR_SCALE), "--workdir", str(workdir)],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    saved = json.loads((workdir / "schedule.json").read_text())
    schedule = Schedule(epoch=saved["epoch"], outage=OUTAGE, history_end=saved["history_end"])
    refreshes = []
    for block in done.stdout.split("\nsloengine demo — ")[1:]:
        m = re.match(r"([+-])(\d+):(\d\d) into the schedule", block)
        assert m, block[:200]
        refreshes.append(Refresh(schedule.epoch + (1 if m[1] == "+" else -1) * (int(m[2]) * 60 + int(m[3])), block))
    webhooks = tuple(json.loads(line) for line in (workdir / "webhook.log").read_text().splitlines())
    return Demo(workdir, done.stdout, schedule, tuple(refreshes), webhooks)


def _first_refresh(demo: Demo, *needles: str) -> Refresh:
    found = [r for r in demo.refreshes if all(n in r.text for n in needles)]
    assert found, f"no refresh of the view shows {needles}:\n{demo.refreshes[-1].text}"
    return found[0]


def _delivered(demo: Demo, alertname: str, level: str) -> list[dict]:
    return [a for hook in demo.webhooks for a in hook["payload"]["alerts"]
            if a["status"] == "firing" and a["labels"].get("alertname") == alertname
            and a["labels"].get("escalation_level") == level and a["labels"].get("service") == "checkout-api"]


def test_demo_runs_the_stack_shows_every_slo_and_stops_every_process(demo):
    for line in ("Prometheus    http://127.0.0.1:", "Alertmanager  http://127.0.0.1:", "exporter      http://127.0.0.1:",
                 "webhooks      http://127.0.0.1:"):
        assert line in demo.out
    for slo in load([REPO / "examples"]).catalog.slos:
        assert slo.id in demo.refreshes[-1].text
    assert "stopped every process" in demo.out
    assert (demo.workdir / "report.html").read_text().count("<tr") >= 6
    left = subprocess.run(["pgrep", "-f", str(demo.workdir)], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"processes left running: {left.stdout}"
    assert demo.refreshes[-1].at - demo.schedule.epoch <= DURATION  # stopped by itself at --duration


def test_printed_schedule_is_the_one_the_workload_runs(demo):
    start, end = demo.schedule.outage_seconds()
    assert json.loads((demo.workdir / "schedule.json").read_text())["outage"] == [start, end]
    line = next(line for line in demo.out.splitlines() if line.strip().startswith("checkout-api outage"))
    assert "+0:05 to +1:36" in line
    assert re.findall(r"\d\d:\d\d:\d\d", line) == [_utc(start), _utc(end)]
    during = [r for r in demo.refreshes if "now: checkout outage" in r.text]
    assert during and all(start <= r.at < end for r in during)


def _utc(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


@pytest.fixture(scope="module")
def samples(demo):
    """The demo's raw series, read back from its data directory by a fresh Prometheus."""
    with prometheus(demo.workdir / "after", data_dir=demo.workdir / "prometheus-data") as prom:
        result = prom.query('{__name__=~"http_requests_total|http_request_duration_seconds_bucket"}[1d]',
                            demo.refreshes[-1].at + 30)
        yield prom, result


def _key(metric: dict) -> str:
    if metric["__name__"] == "http_request_duration_seconds_bucket":
        return "lat_inf" if metric["le"] == "+Inf" else f"lat_{float(metric['le'])}"
    labels = tuple(sorted((k, v) for k, v in metric.items() if k not in ("__name__", "instance")))
    return next(key for name, own, key in SERIES if name == metric["__name__"] and own == labels)


def test_history_and_live_scrapes_are_one_series_with_the_workloads_exact_counts(demo, samples):
    _, result = samples
    instance = json.loads((demo.workdir / "schedule.json").read_text())["workload_instance"]
    assert len(result) == 2 + 6  # one series per counter: no history-only twin without `instance`
    for item in result:
        assert item["metric"]["instance"] == instance
        times = [float(t) for t, _ in item["values"]]
        values = [float(v) for _, v in item["values"]]
        assert times[0] < demo.schedule.history_until < times[-1]
        key = _key(item["metric"])
        for t, v in zip(times, values):
            # A scrape's value is the workload's count at the second it answered (a moment after it asked).
            expected = {cumulative(demo.schedule, s)[key] for s in range(math.floor(t), math.floor(t) + 3)}
            assert v in expected, (item["metric"], t, v, sorted(expected))


def test_outage_starts_on_the_second_the_schedule_says(demo, samples):
    _, result = samples
    start, end = demo.schedule.outage_seconds()
    errors = next(i for i in result if i["metric"].get("code") == "500")
    points = [(float(t), float(v)) for t, v in errors["values"]]
    before = [(a, b) for a, b in zip(points, points[1:]) if b[0] < start]
    after = [(a, b) for a, b in zip(points, points[1:]) if start + 1 <= a[0] and b[0] <= end]
    assert before and after
    assert all(b[1] - a[1] <= 1 for a, b in before)               # one error in 5 minutes, as usual
    assert all(b[1] - a[1] >= b[0] - a[0] for a, b in after)      # every request fails: several a second


def test_page_arrives_in_the_live_view(demo):
    assert _delivered(demo, "CheckoutAPIAvailability", "L1"), "no page reached the webhooks"
    shown = _first_refresh(demo, "firing   CheckoutAPIAvailability checkout-api/requests-availability L1")
    assert "CheckoutAPIAvailability[L1]" in shown.row(ROW) and "(reached L" in shown.row(ROW)


def test_page_escalates_to_l2_within_five_minutes_and_the_view_shows_it(demo):
    paged = _first_refresh(demo, "firing   CheckoutAPIAvailability checkout-api/requests-availability L1")
    escalated = _first_refresh(demo, "firing   SLOEscalation checkout-api/requests-availability L2")
    assert "(reached L2)" in escalated.row(ROW) or "(reached L3)" in escalated.row(ROW)
    assert escalated.at - paged.at <= 300
    assert _delivered(demo, "SLOEscalation", "L2")


def test_budget_falls_at_every_scrape_of_the_outage_and_never_climbs(demo):
    start, end = demo.schedule.outage_seconds()
    # From the first refresh that can hold a scrape of the outage on.
    during = [r for r in demo.refreshes if start + 15 < r.at < end]
    assert len(during) >= 8
    budgets = [r.budget(ROW) for r in during]
    assert all(b <= a for a, b in zip(budgets, budgets[1:])), budgets
    for i, first in enumerate(during):
        for later in during[i + 1:]:
            if later.at - first.at >= 30:  # two scrape intervals: at least one scrape of the outage between
                assert later.budget(ROW) < first.budget(ROW), (first.at, later.at, budgets)


def test_raw_report_counts_the_demo_exactly(demo, samples):
    prom, result = samples
    total_series = [i for i in result if i["metric"]["__name__"] == "http_requests_total"
                    and i["metric"]["job"] == "checkout-api"]
    at = max(float(i["values"][-1][0]) for i in total_series)
    exact = {"200": 0.0, "500": 0.0}  # every series' increase after its first sample (none resets)
    for i in total_series:
        exact[i["metric"]["code"]] += float(i["values"][-1][1]) - float(i["values"][0][1])
    outcome = CliRunner().invoke(cli, ["report", str(REPO / "examples"), "--prometheus", prom.url, "--raw",
                                       "--at", f"{at:.3f}", "--format", "json"])
    assert outcome.exit_code == 0, outcome.output
    found = next(s for s in json.loads(outcome.stdout)["slos"]
                 if (s["service"], s["slo"]) == ("checkout-api", "requests-availability"))
    assert found["window_seconds"] > at - float(total_series[0]["values"][0][0])  # the window holds everything
    assert found["bad_events"] == exact["500"]
    assert found["total_events"] == exact["200"] + exact["500"]
