"""Every query of every generated dashboard, run against a real Prometheus that loads the generated rules.

Six hours of counters for the examples' metrics (every service with an error
burst in its last half hour, so burn-rate alerts fire) are backfilled, the
tiles' history is backfilled with sloengine's own backfill, and the rules
generated from the examples run at 10-second intervals. Then each panel
target, each variable's selector and each annotation query is run the way
Grafana would (instant or range, over the panel's own time range, with
Grafana's variables filled in), and must parse and return data. Nothing is
allowed to come back empty.

The one change to the examples: alert conditions lose their ``for`` delay,
so the alerts fire at the first evaluation instead of minutes later. ``for``
does not appear in any dashboard, which the test checks by comparing the
dashboards of this catalog with the committed ones.

(In the first five minutes of a month in Europe/Berlin there is no
month-to-date tile yet and the fixture times out: a five-minute window a
month, accepted rather than hidden behind a skip.)
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
import requests

from sloengine.compiler.dashboards import (
    ALERTS_METRIC,
    FIRING,
    LABEL_ALERTSTATE,
    OVERVIEW_UID,
    VAR_SERVICE,
    VAR_SLO,
    budget_window,
    dashboard_path,
    render_dashboards,
    substitute,
)
from sloengine.compiler.rulefiles import render_rule_file
from sloengine.compiler.rules import Intervals, compile_catalog
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, Gauge, openmetrics, write_blocks
from sloengine.engine.backfill import backfill, install_blocks
from sloengine.model import conventions as c
from sloengine.model.durations import parse_duration
from sloengine.model.promql import parse
from sloengine.model.slo import Catalog
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[2]
STEP = 15
HOURS = 6
BURST_SECONDS = 30 * 60
#: Grafana's default number of points per panel when a panel sets none (about its width in pixels).
DEFAULT_MAX_DATA_POINTS = 1000
#: The example data source's ``timeInterval``: Grafana never steps below it.
MIN_STEP = 30
#: Grafana steps annotation queries at 60s by default.
ANNOTATION_STEP = 60


def _without_for(catalog: Catalog) -> Catalog:
    """The catalog with every alert condition's ``for`` set to 0, so alerts fire at the first evaluation."""
    def strip(slo):
        conditions = tuple(dataclasses.replace(cond, for_seconds=0) for cond in slo.alerting.conditions)
        return dataclasses.replace(slo, alerting=dataclasses.replace(slo.alerting, conditions=conditions))
    return dataclasses.replace(catalog, slos=tuple(strip(s) for s in catalog.slos))


def _series(start: int, n: int) -> list[Counter | Gauge]:
    """Counters per step for every example SLI, with a burst of errors in the last half hour of each."""
    times = start + STEP * np.arange(n, dtype=np.int64)
    burst = times > times[-1] - BURST_SECONDS

    def inc(normal: float, during: float | None = None) -> np.ndarray:
        values = np.full(n, normal) if during is None else np.where(burst, during, normal)
        values[0] = 0.0
        return values

    def job(name: str) -> tuple[tuple[str, str], ...]:
        return (("job", name),)

    fast, slow = inc(99.5, 50.0), inc(0.5, 50.0)
    series: list[Counter | Gauge] = [
        Counter("http_requests_total", (("code", "200"),) + job("checkout-api"), inc(100.0, 50.0)),
        Counter("http_requests_total", (("code", "503"),) + job("checkout-api"), inc(0.02, 50.0)),
        Counter("http_request_duration_seconds_bucket", job("checkout-api") + (("le", "0.3"),), fast),
        Counter("http_request_duration_seconds_bucket", job("checkout-api") + (("le", "+Inf"),), fast + slow),
        Counter("http_request_duration_seconds_count", job("checkout-api"), fast + slow),
        Gauge("probe_success", (("instance", "https://shop.example.com/"),) + job("blackbox"),
              np.where(burst, 0.0, 1.0)),
        Counter("payment_authorisations_total", job("gateway") + (("result", "approved"),), inc(50.0, 25.0)),
        Counter("payment_authorisations_total", job("gateway") + (("result", "failed"),), inc(0.005, 25.0)),
    ]
    for route, during in (("/search", None), ("/suggest", 20.0)):
        series.append(Counter("search_requests_total", (("code", "200"),) + job("search") + (("route", route),),
                              inc(40.0)))
        series.append(Counter("search_requests_total", (("code", "500"),) + job("search") + (("route", route),),
                              inc(0.01, during)))
    return series


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    work = tmp_path_factory.mktemp("dashboards")
    catalog = _without_for(load([REPO / "examples"]).catalog)
    end = int(time.time()) // STEP * STEP
    start = end - HOURS * 3600
    data = work / "data"
    write_blocks(openmetrics(_series(start, HOURS * 3600 // STEP + 1), start, STEP), work, data)
    with prometheus(work / "raw", data_dir=data) as prom:
        result = backfill(catalog, prom.url, start + 600, end, work / "backfill")
    install_blocks(result.blocks_dir, data)
    rule_files = []
    for relative, groups in compile_catalog(catalog, Intervals(fast_seconds=10, slow_seconds=10)).items():
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        rule_files.append(path)
    with prometheus(work / "live", data_dir=data, rule_files=rule_files, evaluation_interval="10s") as prom:
        _wait_until_evaluated(prom, catalog)
        yield prom, catalog


def _wait_until_evaluated(prom, catalog: Catalog, timeout: float = 60) -> None:
    """Every group has run, the calendar month-to-date exists (it needs the calendar group first) and every
    SLO has a firing alert."""
    slos = {(s.service, s.name) for s in catalog.slos}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        groups = prom.rule_groups()
        bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"]
               if r.get("health") not in ("ok", "unknown")]
        assert not bad, f"rules failed: {bad}"
        evaluated = groups and all(not g["lastEvaluation"].startswith("0001") for g in groups)
        month = prom.query(f'{c.METRIC_ERROR_RATIO}{{{c.LABEL_WINDOW}="month"}}')
        firing = {(s["metric"].get(c.LABEL_SERVICE), s["metric"].get(c.LABEL_SLO))
                  for s in prom.query(f'{ALERTS_METRIC}{{{LABEL_ALERTSTATE}="{FIRING}"}}')}
        if evaluated and month and slos <= firing:
            time.sleep(1)  # queries at "now" (to the millisecond) then see the evaluation that fired last
            return
        time.sleep(1)
    raise AssertionError(f"rules not evaluated in time (firing: {sorted(firing)}, month-to-date: {bool(month)})")


# ---- running queries the way Grafana does ------------------------------------------------------


def _seconds(relative: str) -> int:
    """``28d`` or ``now-7d`` as seconds."""
    return parse_duration(relative.removeprefix("now-"))


def _variables(now: float, range_seconds: int, step: int) -> dict[str, str]:
    return {
        "${__from:date:seconds}": str(int(now) - range_seconds),
        "${__to:date:seconds}": str(int(now)),
        "$__range_s": str(range_seconds),
        "$__range": f"{range_seconds}s",
        "$__interval": f"{step}s",
        "$__rate_interval": f"{4 * step}s",
        # "All" is selected: the variables' allValue.
        f"${VAR_SERVICE}": ".+",
        f"${VAR_SLO}": ".+",
    }


def _run(prom, expr: str, *, instant: bool, now: float, range_seconds: int, step: int) -> list[dict]:
    query = substitute(expr, _variables(now, range_seconds, step))
    assert "$" not in query, f"a Grafana variable is left in {query}"
    parse(query)
    if instant:
        url, params = "query", {"query": query, "time": now}
    else:
        # The last step falls on ``now``: the rules started seconds ago, so most recorded series are that young.
        start = now - range_seconds // step * step
        url, params = "query_range", {"query": query, "start": start, "end": now, "step": step}
    payload = requests.post(f"{prom.url}/api/v1/{url}", data=params, timeout=60).json()
    assert payload["status"] == "success", f"{payload.get('error')}: {query}"
    return payload["data"]["result"]


def _panels(board: dict) -> list[dict]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return out


def _queries(files: dict[str, str]):
    """(where, expr, instant, range seconds, step) for every query Grafana would run."""
    for path, text in files.items():
        if not path.endswith(".json"):
            continue
        board = json.loads(text)
        default_range = _seconds(board["time"]["from"])
        for panel in _panels(board):
            span = _seconds(panel["timeFrom"]) if panel.get("timeFrom") else default_range
            step = max(MIN_STEP, span // int(panel.get("maxDataPoints", DEFAULT_MAX_DATA_POINTS)))
            for target in panel.get("targets", []):
                where = f"{path} / {panel['title']} / {target['refId']}"
                yield where, target["expr"], bool(target.get("instant")), span, step
        for annotation in board["annotations"]["list"]:
            if annotation.get("expr"):
                yield f"{path} / annotation {annotation['name']}", annotation["expr"], False, default_range, \
                    ANNOTATION_STEP


def test_the_dashboards_under_test_are_the_committed_ones(stack):
    _, catalog = stack
    committed = {p.relative_to(REPO).as_posix(): p.read_text() for p in sorted((REPO / "dashboards").rglob("*"))
                 if p.is_file()}
    assert render_dashboards(catalog) == committed


def test_every_panel_query_parses_and_returns_data(stack):
    prom, catalog = stack
    files = render_dashboards(catalog)
    now = time.time()
    empty, ran = [], 0
    for where, expr, instant, span, step in _queries(files):
        result = _run(prom, expr, instant=instant, now=now, range_seconds=span, step=step)
        ran += 1
        if not result or (not instant and not any(s.get("values") for s in result)):
            empty.append(where)
    assert ran > 50
    assert empty == []


def test_every_variable_lists_values(stack):
    prom, catalog = stack
    now = time.time()
    for path, text in render_dashboards(catalog).items():
        if not path.endswith(".json"):
            continue
        for variable in json.loads(text)["templating"]["list"]:
            if variable["type"] != "query":
                continue
            inner, label = variable["query"].removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
            found = {s["metric"].get(label) for s in _run(prom, inner, instant=True, now=now, range_seconds=3600,
                                                           step=MIN_STEP)}
            assert found - {None}, f"{path}: variable {variable['name']} lists nothing"


def _table(prom, board: dict, now: float) -> dict[tuple[str, str], dict[str, float]]:
    """The overview's table as Grafana builds it: each column's instant result joined on (service, slo)."""
    (panel,) = [p for p in _panels(board) if p["type"] == "table"]
    organize = next(t for t in panel["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    rows: dict[tuple[str, str], dict[str, float]] = {}
    for target in panel["targets"]:
        for sample in _run(prom, target["expr"], instant=True, now=now, range_seconds=3600, step=MIN_STEP):
            key = (sample["metric"][c.LABEL_SERVICE], sample["metric"][c.LABEL_SLO])
            column = organize[f"Value #{target['refId']}"]
            assert column not in rows.setdefault(key, {}), f"two values for {key} {column}"
            assert set(sample["metric"]) == {c.LABEL_SERVICE, c.LABEL_SLO}, sample["metric"]
            rows[key][column] = float(sample["value"][1])
    return rows


def test_overview_has_one_complete_row_per_slo_with_firing_alerts_at_risk(stack):
    prom, catalog = stack
    board = json.loads(render_dashboards(catalog)[dashboard_path(OVERVIEW_UID)])
    rows = _table(prom, board, time.time())
    assert set(rows) == {(s.service, s.name) for s in catalog.slos}
    for key, row in rows.items():
        assert len(row) == 6, (key, row)
        assert row["Firing alerts"] >= 1, key
        assert row["Status"] >= 1, key  # a burst is burning every SLO's budget: at risk or worse
        objective = next(s.target for s in catalog.slos if (s.service, s.name) == key)
        assert row["Objective"] == pytest.approx(objective)
        assert 0 <= row["SLI"] <= 1


def _panel(files: dict[str, str], service: str, slo: str, title_start: str) -> tuple[dict, dict]:
    board = json.loads(files[dashboard_path(f"sloengine-{service}")])
    panels = _panels(board)
    rows = [i for i, p in enumerate(panels) if p["type"] == "row"]
    first = next(i for i in rows if panels[i]["title"].startswith(f"{slo}:"))
    following = [i for i in rows if i > first]
    inside = panels[first + 1: following[0] if following else len(panels)]
    return board, next(p for p in inside if p["title"].startswith(title_start))


def _month_share_elapsed(prom, slo, at: float) -> float:
    """How much of the calendar month had passed at ``at``, as the burn-down counts it (in local days)."""
    from calendar import monthrange
    from datetime import datetime
    from zoneinfo import ZoneInfo

    (sample,) = prom.query(f'{c.METRIC_PERIOD_START}{{calendar="month",timezone="{slo.window.timezone}"}}', at=at)
    start = float(sample["value"][1])
    local = datetime.fromtimestamp(start, ZoneInfo(slo.window.timezone))
    return (int(at) - start) / (monthrange(local.year, local.month)[1] * 86400)


def test_burn_down_ends_at_the_recorded_budget_remaining(stack):
    """The burn-down counts bad tiles since the window began: at its last step that is the window's budget,
    less the tiles recorded since the last 5-minute boundary (it sums whole 5-minute slots of tiles).

    Evaluated at the instant the rules last recorded the budget, so both read the same tiles. For the calendar
    month the allowance is the whole month's (events so far extrapolated), so the budget spent so far is
    scaled by the share of the month elapsed.
    """
    prom, catalog = stack
    files = render_dashboards(catalog)
    for slo in catalog.slos:
        _, panel = _panel(files, slo.service, slo.name, "Error budget burn-down")
        recorded = {}
        for sample in prom.query(f'{c.METRIC_BUDGET_REMAINING}{{service="{slo.service}",slo="{slo.name}",'
                                 f'window="{budget_window(slo)}"}}'):
            at = float(sample["value"][0])
            recorded[tuple(sorted((k, v) for k, v in sample["metric"].items() if k in slo.sli.group_by))] = \
                float(sample["value"][1])
        calendar = slo.window.name == "month"
        share = _month_share_elapsed(prom, slo, at) if calendar else 1.0
        ours = f'service="{slo.service}",slo="{slo.name}"'
        partial_ms = int(round((at - at // c.TILE_SECONDS * c.TILE_SECONDS) * 1000))
        # A rolling window's recorded budget sums every tile in it; the burn-down leaves out the tiles of the
        # unfinished slot. (The period to date is summed by whole slots in both.)
        unslotted = {}
        if partial_ms and not calendar:
            events = {_key(x, slo): float(x["value"][1]) for x in prom.query(
                f'{c.METRIC_TOTAL}{{{ours},window="{budget_window(slo)}"}}', at)}
            for x in prom.query(f"sum_over_time({c.METRIC_TILE_BAD}{{{ours}}}[{partial_ms}ms])", at):
                unslotted[_key(x, slo)] = float(x["value"][1]) / (slo.error_budget * events[_key(x, slo)])
        span = _seconds(panel["timeFrom"])
        step = max(MIN_STEP, span // panel["maxDataPoints"])
        left, ideal = (_run(prom, t["expr"], instant=False, now=at, range_seconds=span, step=step)
                       for t in panel["targets"])
        assert len(left) == len(recorded) >= 1, slo.id
        for line in left:
            key = tuple(sorted((k, v) for k, v in line["metric"].items() if k in slo.sli.group_by))
            last_at, value = line["values"][-1]
            assert last_at == pytest.approx(at)
            expected = 1 - (1 - recorded[key] - unslotted.get(key, 0.0)) * share
            assert float(value) == pytest.approx(expected, rel=1e-6), (slo.id, key)
        (ideal_line,) = ideal
        first, last = float(ideal_line["values"][0][1]), float(ideal_line["values"][-1][1])
        second = 2 / span  # Grafana's ${__from:date:seconds} is whole seconds, the query's end is not
        assert -second <= last < first <= 1, slo.id
        # A steady burn of exactly 1x spends the whole budget at the window's end: now, or the month's end.
        assert last == pytest.approx(1 - share, abs=second)


def _key(sample: dict, slo) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in sample["metric"].items() if k in slo.sli.group_by))


def test_period_to_date_shows_the_share_of_the_calendar_month_elapsed(stack):
    from datetime import datetime

    from sloengine.model.calendars import next_period_start, period_start
    from sloengine.model.slo import CalendarUnit

    prom, catalog = stack
    files = render_dashboards(catalog)
    _, panel = _panel(files, "payments-gateway", "authorisations-monthly", "Month to date")
    now = time.time()
    elapsed = next(t for t in panel["targets"] if t["legendFormat"] == "month elapsed")
    (sample,) = _run(prom, elapsed["expr"], instant=True, now=now, range_seconds=3600, step=MIN_STEP)
    start = period_start(CalendarUnit.MONTH, "Europe/Berlin", datetime.fromtimestamp(now, UTC))
    end = next_period_start(CalendarUnit.MONTH, "Europe/Berlin", start)
    exact = (now - start.timestamp()) / (end.timestamp() - start.timestamp())
    # Months are counted in local days; a daylight-saving change inside the month is an hour off.
    assert float(sample["value"][1]) == pytest.approx(exact, abs=3600 / (28 * 86400))
