"""Escalation end to end: real Prometheus and Alertmanager, the generated rules and configuration.

A tiny exporter of our own serves a request counter that Prometheus scrapes
every second; its rules (page and ticket conditions on second-scale windows,
an L2 escalation after a shortened delay) are the generated ones, evaluated
every second, and Alertmanager runs the generated configuration with short
group timings, delivering to a local webhook receiver that records every
notification. An injected outage must page L1, escalate to L2 after the
delay, keep the ticket inhibited, and resolve everything after recovery.

A second test sends alerts labelled exactly as the rules label them straight
to Alertmanager, to check what an outage cannot show quickly: a budget-
exhausted alert never hides a page, tickets wait for support hours, and a
maintenance window mutes everything.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from sloengine.compiler.escalation import AlertmanagerOptions, render_config, route_cases
from sloengine.compiler.rulefiles import render_rule_file
from sloengine.compiler.rules import Intervals, compile_catalog
from sloengine.devstack import stack
from sloengine.model import conventions as c
from sloengine.specs.loader import load

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None and shutil.which("alertmanager") is None,
    reason="needs Debian's prometheus-alertmanager (make test installs it)")

#: The shortened escalation delay (production policies say 30m).
DELAY_SECONDS = 20
FAST = AlertmanagerOptions(group_wait="1s", group_interval="2s", repeat_interval="1h")

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: shop, team: web}}
receivers:
  web-oncall: {{webhook_configs: [{{url: "{hook}/l1"}}]}}
  web-leads: {{webhook_configs: [{{url: "{hook}/l2"}}]}}
  web-incident: {{webhook_configs: [{{url: "{hook}/l3"}}]}}
  web-tickets: {{webhook_configs: [{{url: "{hook}/tickets"}}]}}
defaults:
  escalation:
    levels:
      - {{level: L1, receiver: web-oncall}}
      - {{level: L2, receiver: web-leads, after: {delay}s}}
      - {{level: L3, receiver: web-incident, after: 1h}}
    tickets: web-tickets
slos:
  - name: checkout
    objective: 99
    window: 1h
    sli:
      ratio:
        bad: shop_requests_total{{code="500"}}
        total: shop_requests_total
    alerting:
      name: ShopCheckout
      # The users' own severities (as Sloth's severity: pageteam): routing and inhibition must not depend on them.
      page: {{labels: {{severity: critical}}}}
      ticket: {{labels: {{severity: warning}}}}
      conditions:
        # Second-scale windows; the ticket's short window is the shorter, so it resolves before the page.
        - {{severity: page, long: 1m, short: 30s, factor: 20}}
        - {{severity: ticket, long: 2m, short: 10s, factor: 5, for: 20s}}
"""


# ---- a webhook receiver that records every notification ---------------------------------------------


@dataclass
class Notification:
    at: float
    path: str
    body: dict

    @property
    def status(self) -> str:
        return self.body["status"]

    def labels(self) -> list[dict[str, str]]:
        return [a["labels"] for a in self.body["alerts"]]


@dataclass
class Hook:
    url: str
    received: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str, status: str | None = None) -> list[Notification]:
        with self.lock:
            return [n for n in self.received if n.path == path and (status is None or n.status == status)]


@contextmanager
def webhook() -> Iterator[Hook]:
    hook = Hook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            with hook.lock:
                hook.received.append(Notification(time.monotonic(), self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


# ---- a service whose errors we control --------------------------------------------------------------


class Shop:
    """10 requests a second, answered 200 (or 500 while ``failing``), on a Prometheus /metrics endpoint."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shop_requests", "Requests.", ["code"], registry=self.registry)
        self.requests.labels("200")
        self.requests.labels("500")
        self.failing = False
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(0.1):
            self.requests.labels("500" if self.failing else "200").inc()

    @contextmanager
    def serving(self) -> Iterator[str]:
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:  # noqa: A002
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threads = [threading.Thread(target=server.serve_forever, daemon=True),
                   threading.Thread(target=self.run, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            yield f"127.0.0.1:{server.server_address[1]}"
        finally:
            self._stop.set()
            server.shutdown()
            server.server_close()


def wait_until(condition: Callable[[], object], what: str, timeout: float, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _logs(*paths: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in paths if p.exists())


# ---- the outage -------------------------------------------------------------------------------------


def test_outage_pages_l1_escalates_to_l2_inhibits_the_ticket_and_resolves(tmp_path: Path) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    shop = Shop()
    with webhook() as hook, shop.serving() as target:
        shop_spec = tmp_path / "shop.yaml"
        shop_spec.write_text(SPEC.format(hook=hook.url, delay=DELAY_SECONDS))
        result = load([shop_spec])
        assert result.ok, [d.render() for d in result.errors]
        catalog = result.catalog
        rule_files = []
        for relative, groups in compile_catalog(catalog, Intervals(fast_seconds=1, slow_seconds=2)).items():
            path = tmp_path / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_rule_file(groups))
            rule_files.append(path)
        scrape = {"job_name": "shop", "scrape_interval": "1s", "scrape_timeout": "1s",
                  "static_configs": [{"targets": [target]}]}
        with stack.alertmanager(tmp_path / "am", render_config(catalog, FAST)) as am, \
                stack.prometheus(tmp_path / "prom", rule_files=rule_files, scrape_configs=[scrape],
                                 evaluation_interval="1s", alertmanagers=[am.address]) as prom:
            try:
                # Healthy traffic first: the burn rates exist (and are zero) before the outage.
                wait_until(lambda: prom.query(f'{c.METRIC_BURN_RATE}{{service="shop",window="10s"}} == 0'),
                           "burn rates of healthy traffic", 60)
                assert not prom.query('ALERTS{service="shop",alertname=~"ShopCheckout|SLOEscalation"}')
                shop.failing = True
                outage = time.monotonic()
                timings["ready"] = outage - started

                page = wait_until(lambda: hook.at("/l1", "firing"), "the L1 page", 60)[0]
                timings["page"] = page.at - outage
                assert {(a["alertname"], a[c.LABEL_ESCALATION_LEVEL], a["severity"], a[c.LABEL_OWN_SEVERITY])
                        for a in page.labels()} == {("ShopCheckout", "L1", "critical", "page")}

                escalated = wait_until(lambda: hook.at("/l2", "firing"), "the L2 escalation", DELAY_SECONDS + 60)[0]
                timings["escalation after page"] = escalated.at - page.at
                assert {(a["alertname"], a[c.LABEL_ESCALATION_LEVEL], a["service"], a["slo"], a["team"])
                        for a in escalated.labels()} == {(c.ALERT_ESCALATION, "L2", "shop", "checkout", "web")}
                # Prometheus's `for` holds the escalation for the delay after the page fired (give or take an
                # evaluation, Alertmanager's group_wait and delivery on either side).
                assert DELAY_SECONDS - 3 <= escalated.at - page.at <= DELAY_SECONDS + 10

                # The ticket fires in Prometheus and reaches Alertmanager, which holds it back: the page inhibits it.
                ticket = wait_until(lambda: [a for a in am.alerts(alertname="ShopCheckout", severity="warning")
                                             if a["status"]["inhibitedBy"]], "the inhibited ticket", 60)[0]
                assert ticket["status"]["state"] == "suppressed"
                timings["ticket inhibited"] = time.monotonic() - outage
                assert not hook.at("/tickets")

                shop.failing = False
                recovery = time.monotonic()
                resolved_l1 = wait_until(lambda: hook.at("/l1", "resolved"), "the page's resolution", 90)[0]
                resolved_l2 = wait_until(lambda: hook.at("/l2", "resolved"), "the escalation's resolution", 30)[0]
                timings["page resolved after recovery"] = resolved_l1.at - recovery
                timings["escalation resolved after recovery"] = resolved_l2.at - recovery
                assert {a[c.LABEL_ESCALATION_LEVEL] for a in resolved_l2.labels()} == {"L2"}
                # Neither the ticket (inhibited, then resolved) nor L3 (an hour away) was ever delivered.
                assert not hook.at("/tickets") and not hook.at("/l3")
                assert not prom.query('ALERTS{service="shop",alertname=~"ShopCheckout|SLOEscalation"}')
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nnotifications: {[(n.path, n.status) for n in hook.received]}\n"
                                     f"{_logs(am.log_file, prom.log_file)}") from None
    timings["total"] = time.monotonic() - started
    print("escalation e2e timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


# ---- Alertmanager's side: inhibition, support hours, maintenance --------------------------------------


ROUTING_SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: {name}, team: {name}-team}}
receivers:
  {name}-oncall: {{webhook_configs: [{{url: "{hook}/{name}/oncall"}}]}}
  {name}-tickets: {{webhook_configs: [{{url: "{hook}/{name}/tickets"}}]}}
defaults:
  escalation:
    levels: [{{level: L1, receiver: {name}-oncall}}]
    tickets: {name}-tickets
{hours}
slos:
  - name: api
    objective: 99.9
    sli: {{ratio: {{bad: 'x_total{{code="500"}}', total: x_total}}}}
"""


def _alert(labels: dict[str, str]) -> dict:
    now = datetime.now(UTC)
    return {"labels": labels, "annotations": {"summary": "test"},
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=10)).isoformat()}


def test_alertmanager_keeps_pages_over_exhausted_budgets_holds_tickets_and_mutes_maintenance(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    closed = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][(now.weekday() + 3) % 7]
    start = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    end = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:00+00:00")
    hours = {
        # No hours: an exhausted budget, then a fast burn.
        "burn": "",
        # Support hours that are not now: the ticket must wait.
        "closed": f"    support_hours: {{timezone: UTC, weekdays: [{closed}]}}",
        # Support hours around the clock: the ticket goes out (the control for the one above).
        "open": "    support_hours: {timezone: UTC, weekdays: ['monday:sunday'], times: ['00:00-24:00']}",
        # A one-off maintenance window around now: everything is muted.
        "maint": f"    maintenance: [{{name: now, start: '{start}', end: '{end}'}}]",
    }
    with webhook() as hook:
        for name, text in hours.items():
            (tmp_path / f"{name}.yaml").write_text(ROUTING_SPEC.format(name=name, hook=hook.url, hours=text))
        result = load([tmp_path])
        assert result.ok, [d.render() for d in result.errors]
        cases = {case.name: dict(case.labels) for case in route_cases(result.catalog)}

        def labels(slo: str, kind: str) -> dict[str, str]:
            return next(v for k, v in cases.items() if k.startswith(f"{slo}/api {kind}"))

        with stack.alertmanager(tmp_path / "am", render_config(result.catalog, FAST)) as am:
            try:
                # A spent budget and a fast burn at once: the burn must still page, and its page holds the
                # exhausted-budget ticket back. Both in one post, both starting now: posted apart, a stall longer
                # than group_wait between the posts flushes the ticket before the page can inhibit it; and an
                # alert that started more than group_wait ago is flushed at once, before Alertmanager's inhibitor
                # has taken in the page (its cache is fed asynchronously).
                am.post_alerts([_alert(labels("burn", "L1: SLOErrorBudgetBurn 1h")),
                                _alert(labels("burn", "ticket: SLOErrorBudgetExhausted")),
                                _alert(labels("closed", "ticket: SLOErrorBudgetBurn 1d")),
                                _alert(labels("open", "ticket: SLOErrorBudgetBurn 1d")),
                                _alert(labels("maint", "L1: SLOErrorBudgetBurn 1h")),
                                _alert(labels("maint", "ticket: SLOErrorBudgetBurn 3d"))])
                paged = wait_until(lambda: hook.at("/burn/oncall", "firing"), "the page despite the exhausted budget",
                                   30)
                assert [a["labels"]["alertname"] for a in paged[0].body["alerts"]] == ["SLOErrorBudgetBurn"]
                wait_until(lambda: hook.at("/open/tickets", "firing"), "the ticket within support hours", 30)
                burning = am.alerts(alertname="SLOErrorBudgetBurn", service="burn", severity="page")[0]
                assert burning["status"]["state"] == "active" and not burning["status"]["inhibitedBy"]
                exhausted = am.alerts(alertname=c.ALERT_EXHAUSTED)[0]
                assert exhausted["status"]["inhibitedBy"], "the page inhibits the exhausted-budget ticket"
                assert not hook.at("/burn/tickets")
                # Muted and out-of-hours groups were flushed with the others; give Alertmanager a few more
                # group intervals to prove they stay quiet.
                settle = time.monotonic() + 5
                while time.monotonic() < settle:
                    assert not hook.at("/closed/tickets"), "a ticket went out outside support hours"
                    assert not hook.at("/maint/oncall") and not hook.at("/maint/tickets"), "maintenance did not mute"
                    assert not hook.at("/burn/tickets")
                    time.sleep(0.25)
                # Then an agreement's breach-risk alert on the same SLO tells its account team: no page silences it.
                am.post_alerts([_alert({**labels("burn", "ticket: SLOErrorBudgetExhausted"),
                                        "alertname": c.ALERT_SLA_BUDGET, c.LABEL_AGREEMENT: "acme-gold",
                                        c.LABEL_BUDGET_SPENT: "50"})])
                (risk,) = wait_until(lambda: [a for a in am.alerts(alertname=c.ALERT_SLA_BUDGET)
                                              if a["status"]["state"] != "unprocessed"], "the breach-risk alert", 30)
                assert risk["status"]["state"] == "active" and not risk["status"]["inhibitedBy"], risk["status"]
            except AssertionError as exc:
                raise AssertionError(f"{exc}\nnotifications: {[(n.path, n.status) for n in hook.received]}\n"
                                     f"{_logs(am.log_file)}") from None
