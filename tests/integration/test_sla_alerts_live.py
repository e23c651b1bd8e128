"""An agreement's breach-risk rules as users run them: `generate`, `backfill`, a Prometheus evaluating the generated
files at their own intervals, and a real Alertmanager delivering the warning to the agreement's `notify:` receiver.

The current calendar month in Europe/Berlin is scripted from two hours before it began up to now: Poisson traffic
every 60 s for two customers, half of one customer's requests failing before the period began, in an hour outside
support hours and in a maintenance exclusion (none of which may count), and an episode in counted time sized to
spend about 65% of the period's budget. Whatever the date and time of day the test runs at, the support hours
leave out the hour that began three hours ago, so the mask always has uncounted time behind it.

The history up to now is backfilled by ``sloengine backfill`` (SLO and agreement tiles); the generated rules then
run live. At their evaluation, the recorded attainment equals the exact count computed here sample by sample
and ``sla-report --at`` that instant, and the 50% warning (and no other) fires and reaches the receiver.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.devstack.stack import alertmanager, prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.backfill import install_blocks
from sloengine.model import conventions as c

BERLIN = ZoneInfo("Europe/Berlin")
STEP = 60
RATE = 100.0
OBJECTIVE = 99.5
BUDGET = 1 - OBJECTIVE / 100
AGREEMENT = "acme-gold"
RECEIVER = "acme-account-team"


class Hooks:
    """A webhook receiver on 127.0.0.1 that keeps every notification Alertmanager posts."""

    def __init__(self) -> None:
        received: list[dict] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _hour_ranges(gap: int) -> list[str]:
    """Every hour of the day but ``gap`` (local)."""
    ranges = []
    if gap > 0:
        ranges.append(f"00:00-{gap:02d}:00")
    if gap < 23:
        ranges.append(f"{gap + 1:02d}:00-24:00")
    return ranges


class Script:
    """The scripted month so far: times, counters, and what counts."""

    def __init__(self, now: int) -> None:
        self.now = now
        local_now = datetime.fromtimestamp(now, BERLIN)
        self.period_start = int(local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())
        self.gap = (local_now - timedelta(hours=3)).hour
        self.excluded = (now - 5 * 3600, now - 4 * 3600)
        self.start = self.period_start - 2 * 3600
        self.times = np.arange(self.start, now + 1, STEP, dtype=np.int64)
        self.counted = np.array([self._counts(int(t)) for t in self.times])
        rng = np.random.default_rng(self.start)
        n = len(self.times)
        self.total = {customer: rng.poisson(rate, n).astype(float) for customer, rate in (("acme", RATE),
                                                                                          ("globex", RATE / 2))}
        self.bad = {customer: rng.binomial(total.astype(np.int64), 0.001).astype(float)
                    for customer, total in self.total.items()}
        acme, bad = self.total["acme"], self.bad["acme"]
        uncounted = (self.times <= self.period_start) | self._in_gap() | self._in_exclusion()
        bad[uncounted] = rng.binomial(acme[uncounted].astype(np.int64), 0.5)
        self.globex_outage = self.counted.copy()
        self.bad["globex"][self.counted] = self.total["globex"][self.counted]  # never counted for acme's SLA
        # An episode in counted time: about 65% of the budget spent, whatever the period's length so far.
        episode = self.counted & (self.times > now - 7200) & (self.times <= now - 600)
        background = float(bad[self.counted].sum())
        needed = 0.65 * BUDGET * float(acme[self.counted].sum()) - background
        share = min(0.9, max(0.0, needed / max(1.0, float(acme[episode].sum()))))
        bad[episode] = rng.binomial(acme[episode].astype(np.int64), share)

    def _counts(self, t: int) -> bool:
        local = datetime.fromtimestamp(t - 1, BERLIN)  # a sample at hh:00:00 counts the minute before it
        return (t > self.period_start and local.hour != self.gap
                and not self.excluded[0] < t <= self.excluded[1])

    def _in_gap(self) -> np.ndarray:
        return np.array([datetime.fromtimestamp(int(t) - 1, BERLIN).hour == self.gap for t in self.times])

    def _in_exclusion(self) -> np.ndarray:
        return (self.times > self.excluded[0]) & (self.times <= self.excluded[1])

    def exact(self, at: float) -> tuple[float, float]:
        """(bad, total) of acme's counted samples up to ``at`` (a sample's first increment is its baseline)."""
        counted = self.counted & (self.times <= at)
        counted[0] = False
        return float(self.bad["acme"][counted].sum()), float(self.total["acme"][counted].sum())

    def counters(self) -> list[Counter]:
        out = []
        for customer in ("acme", "globex"):
            good = self.total[customer] - self.bad[customer]
            for code, increments in (("200", good), ("500", self.bad[customer])):
                out.append(Counter("http_requests_total", (("code", code), ("customer", customer),
                                                           ("job", "checkout-api")), increments))
        return out

    def spec(self, hook_url: str) -> str:
        ranges = json.dumps(_hour_ranges(self.gap))
        start, end = (datetime.fromtimestamp(t, BERLIN).strftime("%Y-%m-%d %H:%M") for t in self.excluded)
        return f"""\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: checkout-api, team: payments}}
receivers:
  {RECEIVER}:
    webhook_configs:
      - url: {hook_url}
        send_resolved: false
slos:
  - name: requests-availability
    objective: 99.9
    window: 28d
    sli:
      ratio:
        bad: http_requests_total{{job="checkout-api",code="500"}}
        total: http_requests_total{{job="checkout-api"}}
agreements:
  - name: {AGREEMENT}
    kind: sla
    provider: shop-inc
    customer: ACME Retail
    objective: {OBJECTIVE}
    credits: [{{below: {OBJECTIVE}, credit: 10}}]
    period: {{calendar: month, timezone: Europe/Berlin}}
    covers: [{{slo: requests-availability, match: {{customer: acme}}}}]
    support_hours: {{timezone: Europe/Berlin, weekdays: ["monday:sunday"], times: {ranges}}}
    exclusions:
      - {{name: db-upgrade, timezone: Europe/Berlin, start: "{start}", end: "{end}"}}
    notify: {RECEIVER}
"""


def _invoke(*args: str) -> str:
    """Standard output of a successful ``sloengine`` command (its warnings go to standard error)."""
    outcome = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    return outcome.stdout


def _value(prom, expr: str, at: float) -> float | None:
    result = prom.query(expr, at)
    return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    work = tmp_path_factory.mktemp("sla-live")
    script = Script(int(time.time()) // STEP * STEP)
    hooks = Hooks()
    try:
        spec = work / "spec.yaml"
        spec.write_text(script.spec(hooks.url))
        _invoke("generate", str(spec), "--out", str(work / "generated"), "--no-dashboards")
        data = work / "data"
        write_blocks(openmetrics(script.counters(), script.start, STEP), work / "om", data)
        with prometheus(work / "raw", data_dir=data) as raw:
            since = int(time.time()) - script.start + STEP
            _invoke("backfill", str(spec), "--prometheus", raw.url, "--since", f"{since}s", "--out",
                    str(work / "backfill"))
        install_blocks(work / "backfill" / "blocks", data)
        rules = sorted((work / "generated" / "rules").glob("*.yml"))
        with alertmanager(work / "am", work / "generated" / "alertmanager" / "alertmanager.yml") as am, \
                prometheus(work / "live", data_dir=data, rule_files=rules, alertmanagers=[am.address]) as prom:
            # The agreement's group, once after the calendar group's first evaluation (the SLO's own groups are
            # not what this test reads).
            prom.wait_evaluated(timeout=720, only=lambda name: name.startswith(c.agreement_group_name("")))
            yield script, prom, am, hooks, spec
    finally:
        hooks.close()


def _counted_until(prom, at: float) -> float:
    """Where the counts of the agreement's period-to-date series at ``at`` end.

    At an evaluation ``e`` the period so far is summed in 5-minute slots up to ``e`` rounded down to a
    boundary: the tiles recorded up to there, the last of which ended (``sla:tile_end:timestamp``) where the
    counts end."""
    boundary = at // c.TILE_SECONDS * c.TILE_SECONDS
    ended = prom.query(f'last_over_time({c.METRIC_SLA_TILE_END}{{agreement="{AGREEMENT}"}}[10m])', boundary)
    assert ended, "no tile recorded in the 10 minutes before the evaluation"
    return float(ended[0]["value"][1])


def _evaluated_at(prom) -> tuple[float, float]:
    """(the instant of the agreement group's latest evaluation, where the counts it summed end)."""
    selector = f'{c.METRIC_SLA_ATTAINMENT}{{agreement="{AGREEMENT}"}}'
    # The last 10 minutes, not an instant: a 5-minute group's sample leaves the lookback a moment before the
    # next evaluation's is stored.
    result = prom.query(f"{selector}[10m]", time.time())
    assert result, f"no {selector} recorded by the live rules"
    at = float(result[0]["values"][-1][0])
    return at, _counted_until(prom, at)


def _rule_states(prom, at: float) -> str:
    """The agreement group's rules as Prometheus evaluated them (health, errors, alert states), for a failure."""
    groups = requests.get(f"{prom.url}/api/v1/rules", timeout=30).json()["data"]["groups"]
    ours = [g for g in groups if AGREEMENT in g["name"]]
    return json.dumps({"at": at, "spent": prom.query(f"{c.METRIC_SLA_BUDGET_SPENT}", at),
                       "alerts": prom.query("ALERTS", at),
                       "rules": [(r.get("name"), r.get("health"), r.get("lastError"), r.get("state"),
                                  r.get("lastEvaluation")) for g in ours for r in g["rules"]]})[:6000]


def test_live_attainment_is_the_exact_count_and_the_sla_report(live):
    script, prom, _, _, spec = live
    at, counted_until = _evaluated_at(prom)
    assert at - counted_until < 2 * c.TILE_SECONDS
    bad, total = script.exact(counted_until)
    assert total > 0 and bad > 0
    labels = f'{{agreement="{AGREEMENT}"}}'
    assert _value(prom, c.METRIC_SLA_TOTAL + labels, at) == total
    assert _value(prom, c.METRIC_SLA_BAD + labels, at) == bad
    recorded = _value(prom, c.METRIC_SLA_ATTAINMENT + labels, at)
    assert recorded is not None and abs(recorded - (1 - bad / total)) <= 1e-12
    period = datetime.fromtimestamp(at, BERLIN).strftime("%Y-%m")
    report = json.loads(_invoke("sla-report", str(spec), "--prometheus", prom.url, "--period", period,
                                "--at", str(counted_until), "--format", "json"))
    (agreement,) = [a for a in report["agreements"] if a["name"] == AGREEMENT]
    (commitment,) = agreement["commitments"]
    assert (commitment["total_events"], commitment["good_events"]) == (total, total - bad)
    assert abs(commitment["attained"] - recorded) <= 1e-6


def _alerts_as_evaluated(prom) -> tuple[float, list[dict]]:
    """(the agreement group's last evaluation, the alerts its rules held then), from one answer of the rules API.

    Not from ``ALERTS``: Prometheus writes that series only once a group has restored its alerts' ``for``
    state, after its second evaluation (10 minutes for a 5-minute group); it sends them from the first."""
    groups = requests.get(f"{prom.url}/api/v1/rules", timeout=30).json()["data"]["groups"]
    (group,) = [g for g in groups if AGREEMENT in g["name"]]
    at = datetime.fromisoformat(group["lastEvaluation"][:26].rstrip("Z") + "+00:00").timestamp()
    return at, [a for r in group["rules"] if r.get("type") == "alerting" for a in r.get("alerts", [])]


def test_half_the_budget_spent_warns_the_notify_receiver_and_nothing_more(live):
    script, prom, am, hooks, _ = live
    at, alerts = _alerts_as_evaluated(prom)
    bad, total = script.exact(_counted_until(prom, at))
    spent = bad / total / BUDGET
    expected = {str(s) for s in c.SLA_BUDGET_THRESHOLDS if spent >= s / 100}
    assert expected == {"50"}, f"the script should spend 50-75% of the budget, spent {spent:.3f}"
    firing = [a for a in alerts if a["state"] == "firing" and a["labels"]["alertname"] == c.ALERT_SLA_BUDGET]
    assert {a["labels"][c.LABEL_BUDGET_SPENT] for a in firing} == expected, _rule_states(prom, at)
    assert all(a["labels"][c.LABEL_NOTIFY] == RECEIVER for a in firing)
    # A send Prometheus dropped (its Alertmanager not discovered yet, just after start) is repeated at the group's
    # next evaluation, 5 minutes later, then Alertmanager's group_wait.
    deadline = time.monotonic() + 390
    delivered: list[dict] = []
    while time.monotonic() < deadline and not delivered:
        delivered = [alert for message in list(hooks.received) if message.get("receiver") == RECEIVER
                     for alert in message.get("alerts", [])
                     if alert["labels"].get("alertname") == c.ALERT_SLA_BUDGET]
        time.sleep(2)
    assert delivered, (f"nothing reached {RECEIVER}: {hooks.received[-3:]} "
                       f"Alertmanager holds {am.alerts(alertname=c.ALERT_SLA_BUDGET)}")
    assert {a["labels"][c.LABEL_BUDGET_SPENT] for a in delivered} == expected
    assert all(a["annotations"]["customer"] == "ACME Retail" for a in delivered)
