"""SLA breach-risk rules in a real Prometheus, over a scripted October 2026 in Europe/Berlin.

Support hours are 08:00–18:00 on weekdays (the 30th a holiday), a one-off
maintenance window runs 10:00–12:00 on the 14th, and the clocks go back on
Sunday the 25th. One customer's counters (Poisson traffic every 60 s, a small
background error rate) carry error episodes inside support hours (they spend
the budget) and outages outside it: at night, on a weekend, in the
maintenance window, on the holiday and in the hour before 08:00 on the
Monday after the clock change (08:00 UTC+1 is 07:00 UTC; a mask one hour off
would count it). Another customer's errors must never count.

The raw counters are backfilled with promtool; the agreement's tiles and the
calendar's period start and end are evaluated over the month by
``promtool tsdb create-blocks-from rules`` (every 5 minutes, as the slow
group runs). The rules that read recorded series and use ``@ end()`` (period
to date, attainment, budget spent, projection, the alerts) cannot be
backfilled that way, so they are evaluated as instant queries at the
instants that matter, with each recorded series they read replaced by the
expression that records it. The truth is computed here sample by sample with
``zoneinfo``, independently of sloengine.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sloengine.agreements.sla import evaluate_agreement
from sloengine.compiler.agreements import agreement_periods, compile_agreements, covered, mask_zones
from sloengine.compiler.rules import AlertingRule, RecordingRule, compile_calendars
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, Gauge, openmetrics, write_blocks
from sloengine.engine.backfill import backfill_agreements, install_blocks
from sloengine.engine.connection import Client, ConnectionConfig
from sloengine.model import conventions as c
from sloengine.specs.loader import load

BERLIN = ZoneInfo("Europe/Berlin")
STEP = 60
EVAL = c.SLOW_INTERVAL_SECONDS
#: Where within each interval the live group is evaluated (Prometheus derives it from a hash of the group).
PHASE = 97
START = int(datetime(2026, 9, 30, tzinfo=BERLIN).timestamp())
PERIOD_START = datetime(2026, 10, 1, tzinfo=BERLIN).timestamp()
PERIOD_END = datetime(2026, 11, 1, tzinfo=BERLIN).timestamp()
END = int(PERIOD_END) - 3600
N = (END - START) // STEP + 1
TIMES = START + STEP * np.arange(N)
BUDGET = 0.005
MAINTENANCE = (datetime(2026, 10, 14, 10, tzinfo=BERLIN).timestamp(),
               datetime(2026, 10, 14, 12, tzinfo=BERLIN).timestamp())
HOLIDAY = date(2026, 10, 30)

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: checkout-api, team: payments}
slos:
  - name: requests-availability
    objective: 99.9
    window: 28d
    sli:
      ratio:
        bad: http_requests_total{job="checkout-api",code="500"}
        total: http_requests_total{job="checkout-api"}
agreements:
  - name: acme-gold
    kind: sla
    provider: shop-inc
    customer: ACME {{ Retail }}
    objective: 99.5
    credits: [{below: 99.5, credit: 10}, {below: 99.0, credit: 25}]
    period: {calendar: month, timezone: Europe/Berlin}
    covers: [{slo: requests-availability, match: {customer: acme}}]
    support_hours: {timezone: Europe/Berlin, weekdays: ["monday:friday"], times: ["08:00-18:00"],
                    holidays: ["2026-10-30"]}
    exclusions:
      - {name: db-upgrade, timezone: Europe/Berlin, start: "2026-10-14 10:00", end: "2026-10-14 12:00"}
    notify: acme-account-team
"""


def _at(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def _span(first: tuple[int, ...], last: tuple[int, ...]) -> np.ndarray:
    """Samples in ``(first, last]`` (local wall times)."""
    return (_at(*first) < TIMES) & (_at(*last) >= TIMES)


def _counted() -> np.ndarray:
    out = np.zeros(N, dtype=bool)
    for i, t in enumerate(TIMES.tolist()):
        local = datetime.fromtimestamp(t, BERLIN)
        second = local.hour * 3600 + local.minute * 60 + local.second
        # A sample at 08:00:00 counts the minute before it: outside; one at 18:00:00 inside.
        out[i] = local.weekday() < 5 and local.date() != HOLIDAY and 8 * 3600 < second <= 18 * 3600
    return out & ~((MAINTENANCE[0] < TIMES) & (MAINTENANCE[1] >= TIMES)) & (TIMES > PERIOD_START)


COUNTED = _counted()

#: (first, last, error share): spend the budget in steps, inside support hours.
EPISODES = [((2026, 10, 6, 10, 0), (2026, 10, 6, 10, 40), 0.15),
            ((2026, 10, 20, 14, 0), (2026, 10, 20, 14, 50), 0.5),
            ((2026, 10, 27, 9, 0), (2026, 10, 27, 11, 0), 0.25),
            ((2026, 10, 29, 15, 0), (2026, 10, 29, 16, 0), 1.0)]
#: Full outages that must never count.
EXCLUDED = {"night": ((2026, 10, 21, 2, 0), (2026, 10, 21, 4, 0)),
            "weekend": ((2026, 10, 24, 11, 0), (2026, 10, 24, 12, 0)),
            "maintenance": ((2026, 10, 14, 10, 0), (2026, 10, 14, 12, 0)),
            "before-office-after-dst": ((2026, 10, 26, 7, 0), (2026, 10, 26, 8, 0)),
            "holiday": ((2026, 10, 30, 10, 0), (2026, 10, 30, 11, 0))}


def _traffic() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(20261001)
    out = {}
    for customer, rate in (("acme", 80.0), ("globex", 40.0)):
        total = rng.poisson(rate, N).astype(float)
        bad = rng.binomial(total.astype(np.int64), 0.0004).astype(float)
        if customer == "acme":
            for first, last, share in EPISODES:
                span = _span(first, last)
                bad[span] = rng.binomial(total[span].astype(np.int64), share)
            for first, last in EXCLUDED.values():
                bad[_span(first, last)] = total[_span(first, last)]
        else:
            outage = _span((2026, 10, 8, 9, 0), (2026, 10, 8, 12, 0))  # another customer's: never counted
            bad[outage] = total[outage]
        total[0] = bad[0] = 0.0
        out[customer] = (total, bad)
    return out


TRAFFIC = _traffic()


def _truth_at(instants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counted bad and total events of the period up to each instant (samples at or before it)."""
    total, bad = TRAFFIC["acme"]
    cum_bad = np.concatenate(([0.0], np.cumsum(np.where(COUNTED, bad, 0.0))))
    cum_total = np.concatenate(([0.0], np.cumsum(np.where(COUNTED, total, 0.0))))
    index = np.searchsorted(TIMES, instants, side="right")
    return cum_bad[index], cum_total[index]


class Timeline:
    """The slow group's evaluation instants over the month and what the rules must say at each, from the exact
    counts.

    Prometheus evaluates a group at a phase of its own within each interval (from a hash of the group): here
    ``PHASE`` past each 5-minute boundary. The tiles are on the boundaries, as ``sloengine backfill`` writes
    them; at an evaluation ``e`` the period-to-date sum steps through 5-minute slots up to ``e`` rounded down
    to a boundary, so it holds the tiles up to that boundary: the counts up to ``floor300(e)``. The
    projection's last day is the tiles recorded in ``(e - 1d, e]``: the counts from ``floor300(e - 1d)``.
    """

    def __init__(self, base: float):
        assert base % EVAL == 0, "backfilled tiles are on 5-minute boundaries"
        first = PERIOD_START - (PERIOD_START - base) % EVAL + EVAL + PHASE
        self.evals = np.arange(first, END - EVAL, EVAL)
        self.counted_until = np.floor(self.evals / EVAL) * EVAL
        self.bad, self.total = _truth_at(self.counted_until)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.spent = np.where(self.total > 0, self.bad / np.where(self.total > 0, self.total, 1) / BUDGET, np.nan)
            day_bad, day_total = _truth_at(np.floor((self.evals - 86400) / EVAL) * EVAL)
            recent_bad, recent_total = self.bad - day_bad, self.total - day_total
            ratio = np.where(recent_total > 0, recent_bad / np.where(recent_total > 0, recent_total, 1),
                             self.bad / np.where(self.total > 0, self.total, 1))
            still = (PERIOD_END - self.evals) / (self.evals - PERIOD_START + 1)
            self.projected = (self.bad + ratio * self.total * still) / (self.total * (1 + still)) / BUDGET

    def at(self, *local: int) -> int:
        """The first evaluation at or after a local wall time."""
        return _first(self.evals >= _at(*local))


def _first(condition: np.ndarray) -> int:
    hits = np.flatnonzero(condition)
    assert hits.size, "the script never reaches this condition"
    return int(hits[0])


# ---- evaluating the rules ---------------------------------------------------------------------------


_SELECTOR = r"{name}\{{[^{{}}]*\}}"


def _inline(expr: str, rules: dict[str, str]) -> str:
    """``expr`` with every selector of a metric in ``rules`` replaced by the expression recording it (one series
    per metric here, so the selector's labels select it whatever they are)."""
    for _ in range(10):
        before = expr
        for metric, body in rules.items():
            expr = re.sub(_SELECTOR.format(name=re.escape(metric)), lambda _m, b=body: f"({b})", expr)
        if expr == before:
            return expr
    raise AssertionError("recorded series still referenced after inlining")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sla-alerts")
    spec = tmp / "checkout.yaml"
    spec.write_text(SPEC)
    loaded = load([spec])
    assert not loaded.errors, [d.render() for d in loaded.errors]
    catalog = loaded.catalog
    (agreement_group,) = compile_agreements(catalog)
    (item,) = covered(catalog)
    calendars = compile_calendars(catalog, extra_periods=agreement_periods(catalog), change_zones=mask_zones(catalog))
    assert mask_zones(catalog) == ("Europe/Berlin",)
    assert calendars is not None
    series = []
    for customer, (total, bad) in TRAFFIC.items():
        labels = (("customer", customer), ("job", "checkout-api"))
        series.append(Counter("http_requests_total", (("code", "200"),) + labels, total - bad))
        series.append(Counter("http_requests_total", (("code", "500"),) + labels, bad))
    period = (("calendar", "month"), ("timezone", "Europe/Berlin"))
    september = TIMES <= PERIOD_START
    series.append(Gauge(c.METRIC_PERIOD_START, period,
                        np.where(september, _at(2026, 9, 1), PERIOD_START)))
    series.append(Gauge(c.METRIC_PERIOD_END, period, np.where(september, PERIOD_START, PERIOD_END)))
    data = tmp / "data"
    write_blocks(openmetrics(series, START, STEP), tmp, data)

    # The tiles every 5 minutes as `sloengine backfill` writes them (on the boundaries, each mask from the zone's
    # transitions); the period's start and end (whose rules chain three deep, tested in
    # test_calendar_periods.py) are written beside the counters, from zoneinfo.
    first_eval = -(-START // EVAL) * EVAL
    blocks = tmp / "blocks"
    blocks.mkdir()
    with prometheus(tmp / "backfill", data_dir=data, retention="36500d") as prom:
        assert backfill_agreements(catalog, ConnectionConfig(url=prom.url), first_eval, END, blocks, tmp) == 1
    install_blocks(blocks, data)
    live = {r.record: r.expr for r in agreement_group.rules
            if isinstance(r, RecordingRule) and r.record not in (c.METRIC_SLA_TILE_TOTAL, c.METRIC_SLA_TILE_BAD,
                                                                 c.METRIC_SLA_TILE_END)}
    alerts = [r for r in agreement_group.rules if isinstance(r, AlertingRule)]
    with prometheus(tmp / "rules", data_dir=data, retention="36500d") as prom:
        (tile,) = prom.query(f"timestamp({c.METRIC_SLA_TILE_TOTAL})", _at(2026, 10, 1, 12, 0))
        yield prom, catalog, live, alerts, agreement_group, Timeline(float(tile["value"][1]))


def _value(prom, expr: str, at: float) -> float | None:
    result = prom.query(expr, at)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def _alert(alerts: list[AlertingRule], name: str, share: str | None = None) -> AlertingRule:
    (rule,) = [a for a in alerts if a.alert == name and dict(a.labels).get(c.LABEL_BUDGET_SPENT) == share]
    return rule


def test_the_script_crosses_each_threshold_at_a_different_instant(setup):
    timeline = setup[5]
    crossings = [_first(timeline.spent >= share / 100) for share in c.SLA_BUDGET_THRESHOLDS]
    assert crossings == sorted(set(crossings))


def test_attainment_agrees_with_sla_report_to_1e_6(setup):
    prom, catalog, live, _, _, timeline = setup
    client = Client(ConnectionConfig(url=prom.url))
    (agreement,) = catalog.agreements
    attainment = _inline(live[c.METRIC_SLA_ATTAINMENT], live)
    for local in ((2026, 10, 2, 17, 0), (2026, 10, 6, 10, 25), (2026, 10, 14, 12, 30), (2026, 10, 26, 9, 0),
                  (2026, 10, 29, 15, 35), (2026, 10, 31, 22, 0)):
        index = timeline.at(*local)
        until = float(timeline.counted_until[index])
        report = evaluate_agreement(client, catalog, {agreement.name: agreement}, agreement, date(2026, 10, 1), until)
        (result,) = report.commitments
        rules = _value(prom, attainment, float(timeline.evals[index]))
        assert rules is not None and result.attained is not None
        assert abs(rules - result.attained) <= 1e-6, (local, rules, result.attained)
        assert result.total_events == timeline.total[index] and result.good_events == (
            timeline.total[index] - timeline.bad[index])


def test_recorded_counts_are_the_exact_counts(setup):
    prom, _, live, _, _, timeline = setup
    for index in (timeline.at(2026, 10, 9, 18, 0), timeline.at(2026, 10, 27, 10, 0)):
        at = float(timeline.evals[index])
        assert _value(prom, _inline(live[c.METRIC_SLA_TOTAL], live), at) == timeline.total[index]
        assert _value(prom, _inline(live[c.METRIC_SLA_BAD], live), at) == timeline.bad[index]


@pytest.mark.parametrize("share", c.SLA_BUDGET_THRESHOLDS)
def test_each_budget_warning_fires_at_the_evaluation_the_exact_count_says(setup, share):
    prom, _, live, alerts, _, timeline = setup
    expr = _inline(_alert(alerts, c.ALERT_SLA_BUDGET, str(share)).expr, live)
    index = _first(timeline.spent >= share / 100)
    assert prom.query(expr, float(timeline.evals[index])), f"{share}% not firing at {timeline.evals[index]}"
    assert not prom.query(expr, float(timeline.evals[index - 1])), f"{share}% firing one evaluation early"


def test_the_projected_breach_fires_when_the_exact_projection_reaches_the_budget(setup):
    prom, _, live, alerts, _, timeline = setup
    expr = _inline(_alert(alerts, c.ALERT_SLA_PROJECTED_BREACH).expr, live)
    index = _first((timeline.projected >= 1) & ~(timeline.spent >= 1))
    assert prom.query(expr, float(timeline.evals[index]))
    assert not prom.query(expr, float(timeline.evals[index - 1]))
    projected = _value(prom, _inline(live[c.METRIC_SLA_BUDGET_SPENT_PROJECTED], live), float(timeline.evals[index]))
    assert projected == pytest.approx(timeline.projected[index], rel=1e-9)


@pytest.mark.parametrize("name", sorted(EXCLUDED))
def test_outages_outside_counted_time_spend_nothing(setup, name):
    prom, _, live, _, _, timeline = setup
    first, last = EXCLUDED[name]
    before, after = timeline.at(*first) - 1, timeline.at(*last) + 2
    spent = _inline(live[c.METRIC_SLA_BUDGET_SPENT], live)
    values = [_value(prom, spent, float(timeline.evals[i])) for i in (before, after)]
    assert values[0] == pytest.approx(timeline.spent[before], rel=1e-12)
    assert values[1] == pytest.approx(timeline.spent[after], rel=1e-12)
    # Nothing of the outage counted: only the background errors of counted time in between (none, or a few).
    assert timeline.bad[after] - timeline.bad[before] < 10
    # The outage is real: counted, it would have spent the budget.
    _, bad = TRAFFIC["acme"]
    assert bad[_span(first, last)].sum() > 0.5 * BUDGET * timeline.total[after]


def test_alerts_carry_the_customer_literally_the_credit_and_the_receiver(setup):
    alerts, group = setup[3], setup[4]
    assert group.interval_seconds == c.SLOW_INTERVAL_SECONDS
    for rule in alerts:
        labels, annotations = dict(rule.labels), dict(rule.annotations)
        assert labels[c.LABEL_NOTIFY] == "acme-account-team"
        assert labels[c.LABEL_AGREEMENT] == "acme-gold"
        assert "{{ Retail }}" not in annotations["customer"] and "Retail" in annotations["customer"]
        assert "10% of the period's fee below 99.5%" in annotations["credit_at_stake"]
        assert "sla-report" in annotations["report"]
