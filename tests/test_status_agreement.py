"""The dashboards' status column and `report`'s status are one rule: they agree on every case.

The same window counts go to both sides. `report`'s side is
:func:`sloengine.engine.figures.compute` (what `report` and the exporter run). The
dashboards' side is the Status column's query, taken from the rendered overview
and service dashboards, evaluated by a real Prometheus (``promtool test
rules``) over the same counts as the recorded ``slo:*_events:increase`` series,
with the generated rules that turn them into error ratios, burn rates, budgets,
burn alerts and calendar periods loaded beside them. Prometheus must show the
status `report` computes.

promtool's clock starts at the Unix epoch, so the instant is in January 1970.
The calendar SLOs' months run in New York time (EST all month: 1970-01-01 05:00
UTC to 1970-02-01 05:00 UTC) and in Kolkata time (10.5 hours earlier).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from sloengine.compiler.dashboards import (
    OVERVIEW_UID,
    SAMPLE_VARIABLES,
    dashboard_path,
    render_dashboards,
    service_uid,
    substitute,
)
from sloengine.compiler.rulefiles import render_rule_file
from sloengine.compiler.rules import RecordingRule, RuleGroup, compile_calendars, compile_slo, rolling_windows
from sloengine.compiler.status import AT_RISK_BUDGET_REMAINING
from sloengine.engine.counts import Counts, plan
from sloengine.engine.figures import compute
from sloengine.model import conventions as c
from sloengine.model.durations import format_duration
from sloengine.model.results import SLOResult, Source, Status
from sloengine.model.slo import CalendarWindow, Catalog, Service
from sloengine.specs.loader import load

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: rolling
    objective: 99.9
    window: 30d
    sli: {ratio: {bad: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
  - name: monthly
    objective: 99.9
    window: {calendar: month, timezone: America/New_York}
    sli: {ratio: {bad: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
  - name: monthly-kolkata
    objective: 99.9
    window: {calendar: month, timezone: Asia/Kolkata}
    sli: {ratio: {bad: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
"""

#: The instant both sides evaluate at: 1970-01-20 00:00 UTC, 18 days 19 hours into New York's January.
AT = 19 * 86400
#: promtool evaluates the rules every day from the epoch (AT is on that grid): a burn alert is firing from the
#: second evaluation on, since every alert's ``for`` is shorter than a day.
STEP = 86400
#: Traffic: 20 requests a second on average, counted per 5-minute slot with Poisson noise.
SLOT = 300
RATE = 20.0
HISTORY_SLOTS = 31 * 86400 // SLOT

#: SLO name → window → (bad, total).
Counted = dict[str, dict[str, tuple[float, float]]]

#: What the dashboards' Status column shows for each of `report`'s statuses.
SHOWN = {Status.OK: "OK", Status.AT_RISK: "At risk", Status.BREACHED: "Breached", Status.NO_DATA: "No data"}


@dataclass(frozen=True)
class Case:
    """An error-ratio history (age in seconds before AT → error ratio) and the statuses it must give to the
    rolling SLO and to the calendar ones."""

    ratio: Callable[[np.ndarray], np.ndarray] | None  # None: the SLO has no series at all
    rolling: Status
    monthly: Status
    traffic: float = RATE
    #: The month's budget left at its end as `report` projects it, set by the size of an hour-long incident at
    #: the month's start (None: no incident). Just either side of 0, so the two sides must project alike.
    projected: float | None = None
    #: The error-ratio history as of every earlier evaluation (None: as now), so an alert's condition can begin
    #: holding at AT itself.
    before: Callable[[np.ndarray], np.ndarray] | None = None
    #: Why an SLO is at risk, for `report`: "burning", "budget" or "projection" (and for no other reason, so
    #: the case tests that one).
    at_risk_by: str = ""


def _recent(base: float, recent: float, seconds: int) -> Callable[[np.ndarray], np.ndarray]:
    return lambda age: np.where(age < seconds, recent, base)


CASES = {
    # 0.02% errors: 80% of the budget left, nothing burns, the month ends well.
    "ok": Case(lambda age: np.full(age.shape, 0.0002), Status.OK, Status.OK),
    "no_series": Case(None, Status.NO_DATA, Status.NO_DATA),
    "no_traffic": Case(lambda age: np.zeros(age.shape), Status.NO_DATA, Status.NO_DATA, traffic=0.0),
    # 0.15% errors over 99.9%: half the budget again spent.
    "breached": Case(lambda age: np.full(age.shape, 0.0015), Status.BREACHED, Status.BREACHED),
    # 0.092% errors: 8% of the budget left, every window burning just under 1x.
    "low_budget": Case(lambda age: np.full(age.shape, 0.00092), Status.AT_RISK, Status.AT_RISK, at_risk_by="budget"),
    # The last hour at 2% errors: 20x over 1h and 5m, the page fires; most of the budget is left.
    "page_firing": Case(_recent(0.0002, 0.02, 3600), Status.AT_RISK, Status.AT_RISK, at_risk_by="burning"),
    # The same hour, seen first at AT: the page's condition holds, its `for` has not passed (pending).
    "page_condition_just_began": Case(_recent(0.0002, 0.02, 3600), Status.AT_RISK, Status.AT_RISK,
                                      before=lambda age: np.full(age.shape, 0.0002), at_risk_by="burning"),
    # The last day at 0.25% errors (2.5x, under every alert's factor), 77% of the month's budget left: if the
    # last day's rates go on for the 12 days left, January ends overspent. A rolling window has no such end.
    "projected_overspend": Case(_recent(0.0001, 0.0025, 86400), Status.OK, Status.AT_RISK,
                                at_risk_by="projection"),
    # The last day at 0.2% errors, and an incident at the month's start that leaves the month on course to end
    # 0.05% of its budget overspent, or with 0.05% left: an hour's difference in the end would flip one.
    "projected_just_overspent": Case(_recent(0.0001, 0.002, 86400), Status.OK, Status.AT_RISK, projected=-0.0005,
                                     at_risk_by="projection"),
    "projected_just_within": Case(_recent(0.0001, 0.002, 86400), Status.OK, Status.OK, projected=0.0005),
}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Catalog:
    spec = tmp_path_factory.mktemp("spec") / "shop.yaml"
    spec.write_text(SPEC)
    result = load([spec])
    assert result.ok, result.errors
    return result.catalog


def _windows(slo) -> dict[str, float]:
    """Every window the SLO records events for, in seconds up to AT: the rolling ones and the month so far."""
    out = {format_duration(s): float(s) for s in rolling_windows(slo)}
    if isinstance(slo.window, CalendarWindow):
        start, _ = plan(slo, AT).period
        out[slo.window.unit.value] = AT - start
    return out


def _counts(case: Case, name: str, slo, ratio: Callable[[np.ndarray], np.ndarray]) -> dict[str, tuple[float, float]]:
    """Window name → (bad, total): Poisson traffic per 5-minute slot, binomial errors, summed per window."""
    rng = np.random.default_rng(sum(map(ord, name + slo.name)))
    age = (np.arange(HISTORY_SLOTS) + 0.5) * SLOT  # middle of each slot, newest first
    total = rng.poisson(case.traffic * SLOT, HISTORY_SLOTS)
    bad = rng.binomial(total, ratio(age))
    seconds = _windows(slo)
    windows = {w: int(s // SLOT) for w, s in seconds.items()}
    assert all(slots * SLOT == seconds[w] for w, slots in windows.items()), "windows are whole slots"
    if case.projected is not None and isinstance(slo.window, CalendarWindow):
        _incident_at_month_start(slo, bad, total, windows["month"], case.projected)
    return {w: (float(bad[:slots].sum()), float(total[:slots].sum())) for w, slots in windows.items()}


def _incident_at_month_start(slo, bad: np.ndarray, total: np.ndarray, month_slots: int, projected: float) -> None:
    """Add bad events in the month's first hour so that the month's end, projected from the last day's rates,
    leaves ``projected`` of the budget (to within an event)."""
    _, end = plan(slo, AT).period
    left, day = end - AT, 86400
    assert day in rolling_windows(slo), "report projects from the last day's rates"
    recent = slice(0, day // SLOT)
    so_far = slice(0, month_slots)
    want = slo.error_budget * (1 - projected)
    needed = want * (total[so_far].sum() + total[recent].sum() / day * left) - bad[recent].sum() / day * left
    missing = round(needed - bad[so_far].sum())
    hour = slice(month_slots - 3600 // SLOT, month_slots)
    room = total[hour] - bad[hour]
    assert 0 < missing <= room.sum(), "the incident must fit in the month's first hour"
    share = np.floor(room * missing / room.sum()).astype(bad.dtype)
    share[-1] += missing - share.sum()  # the rounding's remainder (under one event per slot)
    bad[hour] += share


def _report(catalog: Catalog, counts: Counted) -> dict[str, SLOResult]:
    """`report`'s results for the counts, by SLO name."""
    recorded = {(slo.service, slo.name): {(): Counts(Source.RECORDED,
                                                     bad={w: b for w, (b, _) in counts[slo.name].items()},
                                                     total={w: t for w, (_, t) in counts[slo.name].items()})}
                for slo in catalog.slos if slo.name in counts}
    return {r.slo: r for r in compute([plan(slo, AT) for slo in catalog.slos], recorded, {}, AT)}


# ---- the dashboards' side ---------------------------------------------------------------------------

#: Recorded from the raw counters by the generated rules; here the test gives them as input series instead.
EVENT_SERIES = {c.METRIC_TILE_TOTAL, c.METRIC_TILE_BAD, c.METRIC_TILE_END, c.METRIC_TOTAL, c.METRIC_BAD}


def _rules_reading_events(catalog: Catalog) -> str:
    """The generated rules, less those that count events from the raw counters (this test gives the counts)."""
    groups = []
    for slo in catalog.slos:
        service = catalog.service(slo.service) or Service(slo.service)
        for group in compile_slo(slo, service):
            rules = tuple(r for r in group.rules if not (isinstance(r, RecordingRule) and r.record in EVENT_SERIES))
            groups.append(RuleGroup(group.name, group.interval_seconds, rules))
    calendars = compile_calendars(catalog)
    assert calendars is not None
    return render_rule_file((calendars, *groups))


@pytest.fixture(scope="module")
def dashboard(catalog) -> tuple[str, str, dict[str, float]]:
    return _status_queries(catalog)


def _status_queries(catalog: Catalog) -> tuple[str, str, dict[str, float]]:
    """The Status column's query of the overview and of the service dashboard (variables filled in as "all"),
    and the value each status text is mapped from."""
    files = render_dashboards(catalog)
    exprs = []
    codes: dict[str, float] = {}
    for path in (dashboard_path(OVERVIEW_UID), dashboard_path(service_uid("shop"))):
        board = json.loads(files[path])
        (table,) = [p for p in board["panels"] if p["type"] == "table"]
        (organize,) = [t for t in table["transformations"] if t["id"] == "organize"]
        (ref,) = [k.removeprefix("Value #") for k, v in organize["options"]["renameByName"].items() if v == "Status"]
        (target,) = [t for t in table["targets"] if t["refId"] == ref]
        exprs.append(substitute(target["expr"], SAMPLE_VARIABLES))
        (override,) = [o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "Status"]
        (mappings,) = [p["value"] for p in override["properties"] if p["id"] == "mappings"]
        codes = {result["text"]: float(code) for mapping in mappings for code, result in mapping["options"].items()}
    return exprs[0], exprs[1], codes


def _input_series(catalog: Catalog, counts: Counted, earlier: Counted) -> list[dict]:
    """The counts as the rules record them, one series per SLO, metric and window: ``earlier`` at every
    evaluation before AT, ``counts`` at AT."""
    out = []
    for slo in catalog.slos:
        for window, now in counts.get(slo.name, {}).items():
            seconds = dict((format_duration(s), s) for s in rolling_windows(slo)).get(window)
            source = "raw" if seconds is not None and seconds <= c.RAW_WINDOW_MAX_SECONDS else "tiles"
            labels = (f'{{service="{slo.service}", slo="{slo.name}", window="{window}", '
                      f'window_source="{source}"}}')
            for metric, value, before in ((c.METRIC_TOTAL, now[1], earlier[slo.name][window][1]),
                                          (c.METRIC_BAD, now[0], earlier[slo.name][window][0])):
                out.append({"series": metric + labels, "values": f"{before!r}+0x{AT // STEP - 1} {value!r}"})
    return out


def _promtool_status(tmp_path: Path, catalog: Catalog, dashboard: tuple[str, str, dict[str, float]],
                     counts: Counted, earlier: Counted, want: dict[str, Status]) -> subprocess.CompletedProcess[str]:
    overview, service, codes = dashboard
    expected = [{"labels": f'{{service="shop", slo="{name}"}}', "value": codes[SHOWN[status]]}
                for name, status in sorted(want.items())]
    (tmp_path / "rules.yml").write_text(_rules_reading_events(catalog))
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": f"{STEP}s",
        "tests": [{
            "interval": f"{STEP}s",
            "input_series": _input_series(catalog, counts, earlier) or [{"series": "unrelated", "values": "0"}],
            "promql_expr_test": [{"expr": expr, "eval_time": f"{AT}s", "exp_samples": expected}
                                 for expr in (overview, service)],
        }],
    }
    (tmp_path / "status.test.yml").write_text(yaml.safe_dump(test, sort_keys=False, width=1 << 20))
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "test", "rules", "status.test.yml"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("name", list(CASES))
def test_dashboard_status_is_the_reports_status(tmp_path, catalog, dashboard, name):
    case = CASES[name]
    counts: Counted = {} if case.ratio is None else {
        slo.name: _counts(case, name, slo, case.ratio) for slo in catalog.slos}
    earlier = counts if case.before is None else {slo.name: _counts(case, name, slo, case.before)
                                                  for slo in catalog.slos}
    results = _report(catalog, counts)
    # The case is what it says for `report` first; then Prometheus must show the same.
    report = {slo: result.status for slo, result in results.items()}
    assert report == {slo.name: case.monthly if isinstance(slo.window, CalendarWindow) else case.rolling
                      for slo in catalog.slos}
    for result in results.values():
        if result.status is Status.AT_RISK:
            why = {"burning": bool(result.burning),
                   "budget": result.budget_remaining is not None and result.budget_remaining < AT_RISK_BUDGET_REMAINING,
                   "projection": result.period is not None and (result.period.projected_budget_remaining or 0) < 0}
            assert [k for k, holds in why.items() if holds] == [case.at_risk_by], result
    if case.projected is not None:
        for result in results.values():
            if result.period is not None:
                assert result.period.projected_budget_remaining == pytest.approx(case.projected, abs=1e-4)
    done = _promtool_status(tmp_path, catalog, dashboard, counts, earlier, report)
    legend = ", ".join(f"{code:g} = {text}" for text, code in sorted(dashboard[2].items(), key=lambda kv: kv[1]))
    assert done.returncode == 0, (f"the dashboards' status differs from report's {report} ({legend}):\n"
                                  f"{done.stdout[-4000:]}{done.stderr[-2000:]}")
