"""Calendar period starts and ends computed in PromQL by the generated rules match Python's zoneinfo, across DST.

The rules' expressions are evaluated by a real Prometheus at chosen instants
(the query API's ``time`` parameter), with the recorded intermediate series
inlined, around month and quarter boundaries and daylight-saving changes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sloengine.compiler.queries import label_matchers
from sloengine.compiler.rules import compile_calendars
from sloengine.devstack.stack import prometheus
from sloengine.model import conventions as c
from sloengine.model.calendars import next_period_start, period_start
from sloengine.model.promql import Selector
from sloengine.model.slo import (
    SLO,
    AlertPolicy,
    CalendarUnit,
    CalendarWindow,
    Catalog,
    ProbeSLI,
)

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC")


def _catalog() -> Catalog:
    slos = tuple(
        SLO("cal", f"{unit.value}-{i}", 99.9, CalendarWindow(unit, tz), ProbeSLI(Selector("up")),
            AlertPolicy(False, ()))
        for i, tz in enumerate(ZONES) for unit in CalendarUnit
    )
    return Catalog((), slos)


def _stages(unit: CalendarUnit, tz: str) -> tuple[str, str, str, str, str, str]:
    """The four chained rule expressions (offset, local start, start, end) and the two selectors that chain them."""
    group = compile_calendars(_catalog())
    exprs = {(r.record, tuple(r.labels)): r.expr for r in group.rules}
    zone = ((c.LABEL_TIMEZONE, tz),)
    labels = ((c.LABEL_CALENDAR, unit.value), (c.LABEL_TIMEZONE, tz))
    return (exprs[(c.METRIC_UTC_OFFSET, zone)], c.METRIC_UTC_OFFSET + label_matchers(zone),
            exprs[(c.METRIC_PERIOD_START_LOCAL, labels)], c.METRIC_PERIOD_START_LOCAL + label_matchers(labels),
            exprs[(c.METRIC_PERIOD_START, labels)], exprs[(c.METRIC_PERIOD_END, labels)])


def _evaluate(prom, stages, at: float) -> tuple[float, float]:
    """Evaluate the chain at ``at`` as Prometheus would record it, one rule at a time: (start, end)."""
    offset_expr, offset_sel, local_expr, local_sel, start_expr, end_expr = stages
    (offset,) = prom.query(offset_expr, at=at)
    local_expr = local_expr.replace(offset_sel, f"vector({offset['value'][1]})")
    (local,) = prom.query(local_expr, at=at)
    start_expr = start_expr.replace(local_sel, f"vector({local['value'][1]})")
    start_expr = start_expr.replace(offset_sel, f"vector({offset['value'][1]})")
    end_expr = end_expr.replace(local_sel, f"vector({local['value'][1]})")
    # Both in one query (they read the same local start), told apart by a label.
    edges = {item["metric"]["edge"]: float(item["value"][1]) for item in prom.query(
        f'label_replace({start_expr}, "edge", "start", "", "") or label_replace({end_expr}, "edge", "end", "", "")',
        at=at)}
    return edges["start"], edges["end"]


def _instants(tz: str) -> list[datetime]:
    zone = ZoneInfo(tz)
    out = []
    for year in (2025, 2026, 2027):
        for month in range(1, 13):
            first = datetime(year, month, 1, tzinfo=zone)
            out += [first - timedelta(seconds=1), first, first + timedelta(hours=1),
                    first + timedelta(days=14, hours=5)]
    # Both sides of each DST change in 2026 (Europe: last Sundays of March/October; US: March 8, November 1).
    for day in (datetime(2026, 3, 29, 0, 59, tzinfo=UTC), datetime(2026, 10, 25, 1, 1, tzinfo=UTC),
                datetime(2026, 3, 8, 6, 59, tzinfo=UTC), datetime(2026, 11, 1, 6, 1, tzinfo=UTC),
                datetime(2026, 4, 5, 15, 59, tzinfo=UTC), datetime(2026, 10, 4, 16, 1, tzinfo=UTC)):
        out += [day, day + timedelta(hours=2), day + timedelta(days=3)]
    return out


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    with prometheus(tmp_path_factory.mktemp("calendar")) as server:
        yield server


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("unit", list(CalendarUnit), ids=lambda u: u.value)
def test_period_start_and_end_in_promql_match_zoneinfo_across_dst(prom, unit, tz):
    stages = _stages(unit, tz)
    wrong = []
    for at in _instants(tz):
        got = _evaluate(prom, stages, at.timestamp())
        start = period_start(unit, tz, at)
        want = (start.timestamp(), next_period_start(unit, tz, start).timestamp())
        if got != want:
            wrong.append(f"{at.isoformat()}: promql {[str(datetime.fromtimestamp(t, ZoneInfo(tz))) for t in got]} "
                         f"vs {[str(datetime.fromtimestamp(t, ZoneInfo(tz))) for t in want]}")
    assert wrong == []
