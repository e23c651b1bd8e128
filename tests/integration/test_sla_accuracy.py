"""Agreement attainment against hand-computed truth, from a real Prometheus.

March 2026 in Europe/Berlin: the clocks go forward on the 29th, and a
maintenance window runs from 22:00 on the 31st to 03:00 on 1 April, across the
month boundary. Per-customer counters carry outages inside support hours (they
count), at night (outside office hours: they count only for the 24×7
agreement) and inside the maintenance window (never). The truth is computed
here sample by sample with ``zoneinfo``, independently of ``sloengine.agreements.hours``.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sloengine.agreements.sla import Compliance, evaluate_all
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.connection import Client, ConnectionConfig
from sloengine.specs.loader import load

BERLIN = ZoneInfo("Europe/Berlin")
STEP = 60
START = int(datetime(2026, 2, 27, tzinfo=BERLIN).timestamp())
NOW = int(datetime(2026, 4, 2, 12, tzinfo=BERLIN).timestamp())
N = (NOW - START) // STEP + 1
TIMES = START + STEP * np.arange(N)
MAINTENANCE = (datetime(2026, 3, 31, 22, tzinfo=BERLIN).timestamp(), datetime(2026, 4, 1, 3, tzinfo=BERLIN).timestamp())

SLOS = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: checkout-api, team: payments}
slos:
  - name: requests-availability
    objective: 99.95
    window: 28d
    sli:
      ratio:
        bad: http_requests_total{job="checkout-api",code="500"}
        total: http_requests_total{job="checkout-api"}
"""

AGREEMENTS = """\
tiers:
  gold: {objective: 99.9, credits: [{below: 99.9, credit: 10}, {below: 99.5, credit: 25}]}
agreements:
  - name: acme-office-hours
    kind: sla
    provider: shop-inc
    customer: acme
    tier: gold
    period: {calendar: month, timezone: Europe/Berlin}
    covers: [{slo: requests-availability, match: {customer: acme}}]
    support_hours: {timezone: Europe/Berlin, weekdays: ["monday:friday"], times: ["08:00-18:00"]}
    exclusions:
      - {name: db-upgrade, timezone: Europe/Berlin, start: "2026-03-31 22:00", end: "2026-04-01 03:00"}
    depends_on: [payments-ola]
  - name: acme-round-the-clock
    kind: sla
    provider: shop-inc
    customer: acme
    objective: 99.5
    period: {calendar: month, timezone: Europe/Berlin}
    covers: [{slo: requests-availability, match: {customer: acme}}]
    exclusions:
      - {name: db-upgrade, timezone: Europe/Berlin, start: "2026-03-31 22:00", end: "2026-04-01 03:00"}
    credits: [{below: 99.5, credit: 15}]
    depends_on: [payments-ola]
  - name: payments-ola
    kind: ola
    provider: payments
    customer: shop-inc
    objective: 99.0
    period: {calendar: month, timezone: Europe/Berlin}
    covers: [{slo: requests-availability}]
"""


def _local(ts: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(int(t), BERLIN) for t in ts]


LOCAL = _local(TIMES)
OFFICE = np.array([d.weekday() < 5 and 8 * 60 < d.hour * 60 + d.minute <= 18 * 60 for d in LOCAL])
IN_MAINTENANCE = (MAINTENANCE[0] < TIMES) & (MAINTENANCE[1] >= TIMES)


def _between(first: datetime, last: datetime) -> np.ndarray:
    return np.array([first <= d <= last for d in LOCAL])


def _traffic():
    """acme: 100/min with 0.02% errors, a 1h full outage on a weekday afternoon, a 6h one on a night, and a full
    outage through the maintenance window; globex: clean."""
    acme_total = np.full(N, 100.0)
    acme_bad = np.where(np.arange(N) % 50 == 0, 1.0, 0.0)
    afternoon = _between(datetime(2026, 3, 12, 14, 1, tzinfo=BERLIN), datetime(2026, 3, 12, 15, 0, tzinfo=BERLIN))
    night = _between(datetime(2026, 3, 18, 0, 1, tzinfo=BERLIN), datetime(2026, 3, 18, 6, 0, tzinfo=BERLIN))
    acme_bad = np.where(afternoon | night | IN_MAINTENANCE, acme_total, acme_bad)
    globex_total = np.full(N, 50.0)
    globex_bad = np.zeros(N)
    for arr in (acme_total, acme_bad, globex_total, globex_bad):
        arr[0] = 0.0
    return {"acme": (acme_total, acme_bad), "globex": (globex_total, globex_bad)}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sla")
    spec = tmp / "checkout.yaml"
    spec.write_text(SLOS + AGREEMENTS)
    loaded = load([spec])
    assert not loaded.errors, [d.render() for d in loaded.errors]
    catalog, agreements = loaded.catalog, loaded.catalog.agreements
    traffic = _traffic()
    series = []
    for customer, (total, bad) in traffic.items():
        labels = (("customer", customer), ("job", "checkout-api"))
        series.append(Counter("http_requests_total", (("code", "200"),) + labels, total - bad))
        series.append(Counter("http_requests_total", (("code", "500"),) + labels, bad))
    write_blocks(openmetrics(series, START, STEP), tmp, tmp / "data")
    with prometheus(tmp / "prom", data_dir=tmp / "data", retention="36500d") as prom:
        client = Client(ConnectionConfig(url=prom.url))
        march = {r.agreement.name: r for r in evaluate_all(client, catalog, agreements, date(2026, 3, 1), NOW)}
        april = {r.agreement.name: r for r in evaluate_all(client, catalog, agreements, date(2026, 4, 1), NOW)}
        yield march, april, traffic, prom.url, spec


def _truth(traffic, customers, mask):
    good = sum(float(np.sum((traffic[c][0] - traffic[c][1])[mask])) for c in customers)
    total = sum(float(np.sum(traffic[c][0][mask])) for c in customers)
    return good, total


def _month(first: datetime, last_exclusive: datetime) -> np.ndarray:
    return (first.timestamp() < TIMES) & (min(last_exclusive.timestamp(), NOW) >= TIMES)


MARCH = _month(datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN))
APRIL = _month(datetime(2026, 4, 1, tzinfo=BERLIN), datetime(2026, 5, 1, tzinfo=BERLIN))


def test_office_hours_attainment_counts_only_support_hours_net_of_maintenance(results):
    march, _, traffic, _, _ = results
    r = march["acme-office-hours"].commitments[0]
    good, total = _truth(traffic, ["acme"], MARCH & OFFICE & ~IN_MAINTENANCE)
    assert (r.good_events, r.total_events) == (good, total)
    assert r.attained == pytest.approx(good / total, abs=1e-12)
    assert r.counted_seconds == 22 * 10 * 3600  # 22 weekdays of 10 hours; maintenance is outside office hours


def test_the_afternoon_outage_breaches_the_office_hours_sla_and_owes_the_first_credit(results):
    march, _, _, _, _ = results
    result = march["acme-office-hours"]
    assert result.compliance is Compliance.BREACHED
    attained = result.attained * 100
    assert 99.5 < attained < 99.9
    assert result.credit_percent == 10
    worst = result.commitments[0].episodes
    assert any(datetime.fromtimestamp(e.start, BERLIN) == datetime(2026, 3, 12, 14, tzinfo=BERLIN) for e in worst)


def test_round_the_clock_sla_counts_the_night_but_not_the_maintenance(results):
    march, _, traffic, _, _ = results
    r = march["acme-round-the-clock"].commitments[0]
    good, total = _truth(traffic, ["acme"], MARCH & ~IN_MAINTENANCE)
    assert (r.good_events, r.total_events) == (good, total)
    hours_in_march = 31 * 24 - 1  # the clocks went forward
    assert r.period_counted_seconds == (hours_in_march - 2) * 3600  # 22:00-24:00 on the 31st excluded


def test_maintenance_across_the_month_boundary_is_excluded_from_april_too(results):
    _, april, traffic, _, _ = results
    r = april["acme-round-the-clock"].commitments[0]
    good, total = _truth(traffic, ["acme"], APRIL & ~IN_MAINTENANCE)
    assert (r.good_events, r.total_events) == (good, total)
    assert april["acme-round-the-clock"].partial


def test_downtime_is_measured_against_the_allowance(results):
    march, _, _, _, _ = results
    r = march["acme-round-the-clock"].commitments[0]
    assert r.allowance_minutes == pytest.approx(0.005 * r.period_counted_seconds / 60)
    assert r.downtime_minutes == pytest.approx((1 - r.attained) * r.counted_seconds / 60)
    assert r.downtime_minutes > 6 * 60  # the 6h night outage, as a full outage equivalent


def test_the_ola_underneath_covers_all_customers(results):
    march, _, traffic, _, _ = results
    sla = march["acme-office-hours"]
    (ola,) = sla.dependencies
    assert ola.agreement.name == "payments-ola"
    good, total = _truth(traffic, ["acme", "globex"], MARCH)
    assert (ola.commitments[0].good_events, ola.commitments[0].total_events) == (good, total)
    assert "payments-ola" not in march  # shown underneath the SLAs that depend on it, not again on its own


def test_burn_down_starts_full_and_ideal_line_reaches_zero_at_period_end(results):
    march, _, _, _, _ = results
    r = march["acme-round-the-clock"].commitments[0]
    assert r.ideal[-1][1] == pytest.approx(0.0, abs=1e-9)
    assert r.ideal[0][1] < 1.0 and r.burn_down[0][1] <= 1.0
    assert r.burn_down[-1][1] == pytest.approx(r.budget_remaining)


def test_sla_report_command_renders_every_format_from_the_same_figures(results, tmp_path):
    import json

    from click.testing import CliRunner

    from sloengine.cli import main

    march, _, _, url, spec = results
    args = ["sla-report", str(spec), "--prometheus", url, "--period", "2026-03", "--at", str(NOW)]
    document = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).stdout)
    by_name = {a["name"]: a for a in document["agreements"]}
    assert by_name["acme-office-hours"]["compliance"] == "breached"
    assert by_name["acme-office-hours"]["credit_percent"] == 10
    assert by_name["acme-office-hours"]["attained"] == pytest.approx(march["acme-office-hours"].attained)
    assert [d["name"] for d in by_name["acme-office-hours"]["dependencies"]] == ["payments-ola"]
    markdown = CliRunner().invoke(main, args)
    assert markdown.exit_code == 0 and "| acme-office-hours | SLA | acme | 99.9% |" in markdown.output
    page = tmp_path / "report.html"
    outcome = CliRunner().invoke(main, [*args, "--format", "html", "--out", str(page)])
    assert outcome.exit_code == 0 and page.read_text().count("<svg") >= 3
    wrong = CliRunner().invoke(main, [*args[:-2], "--period", "March"])
    assert wrong.exit_code == 2 and "2026-10 (month)" in wrong.output
