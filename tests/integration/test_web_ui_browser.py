"""The web UI in a real browser: headless Chromium loads every page that ``sloengine serve`` serves against a real
Prometheus holding synthetic data (exact counts, backfilled tiles) and the generated rules, and the rendered DOM
is checked against ``report --format json`` at the same instant; the charts must be drawn by the vendored uPlot.

Screenshots go to $SLOENGINE_SCREENSHOT_DIR when it is set (for review), else to the test's temporary folder.
"""

from __future__ import annotations

import dataclasses
import html as htmllib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.compiler.rulefiles import render_rule_file
from sloengine.compiler.rules import Intervals, compile_catalog
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.backfill import backfill, install_blocks
from sloengine.engine.connection import Client, ConnectionConfig
from sloengine.model import conventions as c
from sloengine.model.slo import Catalog
from sloengine.reports import exporter as ex
from sloengine.specs.loader import load

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")

STEP = 60
HOURS = 26
BURST_SECONDS = 20 * 60

SPECS = {
    "shop": """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop, team: payments}
slos:
  - name: checkout
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{route="/checkout",code="500"}
        total: shop_requests_total{route="/checkout"}
  - name: cart
    objective: 99.9
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{route="/cart",code="500"}
        total: shop_requests_total{route="/cart"}
  - name: api
    objective: 99.9
    window: 1d
    sli:
      ratio:
        bad: shop_api_total{code="500"}
        total: shop_api_total
agreements:
  - name: acme-gold
    kind: sla
    provider: shop-inc
    customer: acme
    objective: 99.9
    period: {calendar: month, timezone: UTC}
    covers: [{slo: api, match: {customer: acme}}]
    exclusions:
      - {name: acme-migration, timezone: UTC, start: "2026-01-10 22:00", end: "2026-01-11 03:00"}
    credits: [{below: 99.9, credit: 10}, {below: 99, credit: 25}]
    depends_on: [checkout-ola]
  - name: globex-silver
    kind: sla
    provider: shop-inc
    customer: globex
    objective: 99.5
    period: {calendar: month, timezone: UTC}
    covers: [{slo: api, match: {customer: globex}}]
    credits: [{below: 99.5, credit: 5}]
  - name: checkout-ola
    kind: ola
    provider: checkout-team
    customer: shop-inc
    objective: 99.0
    period: {calendar: month, timezone: UTC}
    covers: [{slo: checkout}]
""",
    "auth": """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: auth, team: identity}
slos:
  - name: login
    objective: 99.5
    window: 1d
    sli:
      ratio:
        bad: auth_logins_total{result="error"}
        total: auth_logins_total
""",
}


def _series(start: int, n: int) -> list[Counter]:
    times = start + STEP * np.arange(n, dtype=np.int64)
    burst = times > times[-1] - BURST_SECONDS

    def inc(normal: float, during: float | None = None) -> np.ndarray:
        values = np.full(n, normal) if during is None else np.where(burst, during, normal)
        values[0] = 0.0
        return values

    return [
        Counter("shop_requests_total", (("code", "200"), ("route", "/checkout")), inc(100.0)),
        Counter("shop_requests_total", (("code", "500"), ("route", "/checkout")), inc(0.5)),
        Counter("shop_requests_total", (("code", "200"), ("route", "/cart")), inc(50.0, 30.0)),
        Counter("shop_requests_total", (("code", "500"), ("route", "/cart")), inc(0.01, 20.0)),
        Counter("shop_api_total", (("code", "200"), ("customer", "acme")), inc(30.0)),
        Counter("shop_api_total", (("code", "500"), ("customer", "acme")), inc(0.5)),
        Counter("shop_api_total", (("code", "200"), ("customer", "globex")), inc(20.0)),
        Counter("shop_api_total", (("code", "500"), ("customer", "globex")), inc(0.002)),
        Counter("auth_logins_total", (("result", "ok"),), inc(20.0)),
        Counter("auth_logins_total", (("result", "error"),), inc(0.05)),
    ]


def _without_for(catalog: Catalog) -> Catalog:
    """Every alert condition's ``for`` set to 0, so the burst's page fires at the first evaluation."""
    def strip(slo):
        conditions = tuple(dataclasses.replace(cond, for_seconds=0) for cond in slo.alerting.conditions)
        return dataclasses.replace(slo, alerting=dataclasses.replace(slo.alerting, conditions=conditions))
    return dataclasses.replace(catalog, slos=tuple(strip(s) for s in catalog.slos))


@dataclasses.dataclass(frozen=True)
class Served:
    url: str
    at: float
    report: dict
    catalog: Catalog
    shots: Path
    profile: Path
    agreements: dict
    acme_only: str
    #: "alertname (severity)" of each alert Prometheus had firing for the cart SLO at ``at``.
    cart_alerts: tuple[str, ...]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("web")
    specs = work / "specs"
    specs.mkdir()
    for name, text in SPECS.items():
        (specs / f"{name}.yaml").write_text(text)
    loaded = load([specs])
    assert loaded.catalog is not None
    catalog = _without_for(loaded.catalog)
    end = int(time.time()) // STEP * STEP
    start = end - HOURS * 3600
    data = work / "data"
    write_blocks(openmetrics(_series(start, HOURS * 3600 // STEP + 1), start, STEP), work, data)
    with prometheus(work / "raw", data_dir=data) as prom:
        filled = backfill(catalog, prom.url, start + 600, end, work / "backfill")
    install_blocks(filled.blocks_dir, data)
    rule_files = []
    for relative, groups in compile_catalog(catalog, Intervals(fast_seconds=2, slow_seconds=2)).items():
        path = work / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        rule_files.append(path)
    with prometheus(work / "live", data_dir=data, rule_files=rule_files, evaluation_interval="2s") as prom:
        started = time.time()
        # Three grid points of the 1h range (15s apart) after the first evaluations, and the burst's alert firing.
        deadline = time.monotonic() + 120
        while True:
            at = float(int(time.time()) - 2)
            firing = prom.query(f'ALERTS{{alertstate="firing",{c.LABEL_SLO}="cart"}}', at)
            if firing and time.time() > started + 50:
                break
            assert time.monotonic() < deadline, "the rules did not evaluate in time"
            time.sleep(1)
        cart_alerts = tuple(sorted({f'{a["metric"]["alertname"]} ({a["metric"][c.LABEL_SEVERITY]})' for a in firing}))
        outcome = CliRunner().invoke(main, ["report", str(specs), "--prometheus", prom.url, "--at", str(at),
                                            "--format", "json", "--allow-no-data"])
        assert outcome.exit_code == 0, outcome.output
        report = json.loads(outcome.stdout)
        period = datetime.fromtimestamp(at, UTC).strftime("%Y-%m")
        outcome = CliRunner().invoke(main, ["sla-report", str(specs), "--prometheus", prom.url, "--at", str(at),
                                            "--period", period, "--format", "json", "--allow-no-data"])
        assert outcome.exit_code == 0, outcome.output
        agreements = {a["name"]: a for a in json.loads(outcome.stdout)["agreements"]}
        client = Client(ConnectionConfig(url=prom.url, retries=0))
        exporter = ex.Exporter(catalog, client, at=lambda: at)
        assert exporter.evaluate_once() is ex.Outcome.SUCCESS
        running = ex.start_server(exporter, "127.0.0.1:0")
        alone = ex.start_server(exporter, "127.0.0.1:0", customer="acme")
        shots = Path(os.environ.get("SLOENGINE_SCREENSHOT_DIR") or work / "screenshots")
        shots.mkdir(parents=True, exist_ok=True)
        try:
            yield Served(running.url, at, report, catalog, shots, work / "chromium", agreements, alone.url,
                         cart_alerts)
        finally:
            running.close()
            alone.close()
            client.close()


def chromium(served: Served, path: str, *extra: str, base: str = "") -> str:
    assert CHROMIUM is not None
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", f"--user-data-dir={served.profile}", "--virtual-time-budget=5000",
                           *extra, (base or served.url) + path], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(served: Served, path: str, base: str = "") -> str:
    html = chromium(served, path, "--dump-dom", base=base)
    (served.shots / (re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "index")).with_suffix(".html").write_text(html)
    return html


def screenshot(served: Served, path: str, name: str, base: str = "") -> Path:
    out = served.shots / name
    chromium(served, path, f"--screenshot={out}", "--window-size=1280,2400", "--hide-scrollbars", base=base)
    assert out.stat().st_size > 10_000, "the screenshot is (nearly) empty"
    return out


def value(html: str, slo: str, column: str) -> str:
    row = re.search(rf'<tr data-slo="{re.escape(slo)}".*?</tr>', html, re.S)
    assert row, f"{slo} is not in the list"
    found = re.search(rf'<td data-col="{column}" data-value="([^"]*)"', row.group())
    assert found, (slo, column)
    return found.group(1)


def _json(v: float | None) -> str:
    return "null" if v is None else json.dumps(round(v, 12))


def test_the_list_in_the_browser_shows_the_figures_of_report_json(served):
    html = dom(served, "/")
    rows = re.findall(r'<tr data-slo="([^"]*)" data-status="([^"]*)"', html)
    assert sorted(rows) == sorted((f'{s["service"]}/{s["slo"]}', s["status"]) for s in served.report["slos"])
    for s in served.report["slos"]:
        slo = f'{s["service"]}/{s["slo"]}'
        assert value(html, slo, "sli") == _json(s["sli"])
        assert value(html, slo, "budget") == _json(s["error_budget_remaining"])
        assert value(html, slo, "burn") == _json(s["burn_rates"].get(s["burn_rate_window"]))
        assert value(html, slo, "events") == _json(s["total_events"])
        assert value(html, slo, "objective") == _json(s["objective"])
    cart = next(s for s in served.report["slos"] if s["slo"] == "cart")
    assert cart["burning"], "the burst should make the cart SLO burn"
    assert all(b in html for b in cart["burning"])
    cart_id = re.escape(f'{cart["service"]}/{cart["slo"]}')
    alerts = re.search(rf'<tr data-slo="{cart_id}".*?<td data-col="alerts">(.*?)</td>', html, re.S)
    assert alerts and served.cart_alerts and all(a in alerts.group(1) for a in served.cart_alerts), alerts
    assert screenshot(served, "/", "slo-list.png")


def test_filters_work_in_the_browser(served):
    html = dom(served, "/?" + urlencode({"team": "identity"}))
    assert re.findall(r'<tr data-slo="([^"]*)"', html) == ["auth/login"]
    html = dom(served, "/?" + urlencode({"sort": "sli", "order": "desc"}))
    ordered = [f'{s["service"]}/{s["slo"]}' for s in sorted(served.report["slos"], key=lambda s: -s["sli"])]
    assert re.findall(r'<tr data-slo="([^"]*)"', html) == ordered


@pytest.mark.parametrize("slo", ["shop/checkout", "shop/cart", "auth/login"])
def test_every_slo_page_draws_its_charts_from_prometheus(served, slo):
    service, name = slo.split("/")
    path = "/slo?" + urlencode({"service": service, "slo": name, "range": "1h"})
    html = dom(served, path)
    assert "query failed" not in html
    for key in ("sli", "budget", "events"):
        drawn = re.search(rf'<div class="chart" id="chart-{key}" data-chart="data-{key}" data-rendered="(\d+)"'
                          rf' data-series="(\d+)">(.*?)<script type="application/json"', html, re.S)
        assert drawn, f"the {key} chart of {slo} was not drawn"
        assert int(drawn.group(1)) == 241 and "<canvas" in drawn.group(3) and "uplot" in drawn.group(3)
        # Lines: the SLI and its objective; budget left, the ideal line and zero; total and bad events.
        assert int(drawn.group(2)) == {"sli": 2, "budget": 3, "events": 2}[key], (key, drawn.group(2))
    burn_charts = re.findall(r'<div class="chart" id="chart-burn-[^"]*" data-chart="[^"]*" data-rendered', html)
    slo_spec = next(s for s in served.catalog.slos if s.id == slo)
    assert len(burn_charts) == len(slo_spec.alerting.conditions) > 0
    shown = next(s for s in served.report["slos"] if f'{s["service"]}/{s["slo"]}' == slo)
    figures = re.search(r'<table class="figures">.*?</table>', html, re.S)
    assert figures and f'{shown["sli"] * 100:.3f}%' in figures.group()
    if name == "cart":
        assert '<span data-state="firing">firing</span>' in html
        assert screenshot(served, path, "slo-detail-cart.png")


def _agreement_section(html: str, name: str) -> str:
    found = re.search(rf'<section class="agreement" data-agreement="{re.escape(name)}">.*?</section>', html, re.S)
    assert found, f"{name} is not on the page"
    return found.group()


def _attained(section: str, cls: str) -> list[str]:
    found = re.search(rf'<table class="{cls}">.*?</table>', section, re.S)
    assert found, cls
    return re.findall(r'<span data-value="([^"]*)">', found.group())


def test_the_agreements_index_lists_every_customer(served):
    html = dom(served, "/agreements")
    assert re.findall(r'<ul class="customers">(.*?)</ul>', html, re.S)
    assert "?customer=acme" in html and "?customer=globex" in html


@pytest.mark.parametrize("customer, own, other", [("acme", "acme-gold", "globex-silver"),
                                                   ("globex", "globex-silver", "acme-gold")])
def test_a_customers_page_shows_its_slas_as_sla_report_does_and_nothing_of_the_other(served, customer, own, other):
    html = dom(served, "/agreements?" + urlencode({"customer": customer}))
    expected = served.agreements[own]
    section = _agreement_section(html, own)
    assert _attained(section, "summary") == [_json(expected["attained"])]
    assert _attained(section, "commitments") == [_json(c["attained"]) for c in expected["commitments"]]
    assert expected["compliance"] in ("met", "breached")
    if expected["dependencies"]:
        assert _attained(section, "dependencies") == [_json(d["attained"]) for d in expected["dependencies"]]
        assert all(d["name"] in section for d in expected["dependencies"])
    assert re.search(r'data-chart="data-a0-0" data-rendered="\d+"', html), "the burn-down was not drawn"
    _nothing_of(html, served.agreements[other], customer)
    screenshot(served, "/agreements?" + urlencode({"customer": customer}), f"agreements-{customer}.png")


def _nothing_of(html: str, other: dict, customer: str) -> None:
    text = htmllib.unescape(html)
    assert other["customer"] not in text and other["name"] not in text
    if other["attained"] is not None:
        assert _json(other["attained"]) not in text and f"{other['attained'] * 100:.3f}%" not in text
    assert customer in text


def test_acme_credit_at_stake_follows_the_ladder(served):
    section = _agreement_section(dom(served, "/agreements?customer=acme"), "acme-gold")
    acme = served.agreements["acme-gold"]
    assert acme["compliance"] == "breached" and acme["credit_percent"] == 25   # 98.4%: below both steps
    assert "25% owed; up to 25% (below 99.9%: 10%; below 99%: 25%)" in section
    # January's migration window is not this period's: counted, not listed as if it applied now.
    assert "acme-migration" not in section and "1 other one-off window outside this period" in section


@pytest.mark.parametrize("path", ["/", "/agreements", "/agreements?customer=acme"])
def test_a_server_for_one_customer_shows_that_customer_alone(served, path):
    html = dom(served, path, base=served.acme_only)
    assert "acme-gold" in html
    _nothing_of(html, served.agreements["globex-silver"], "acme")
    assert 'href="/"' not in html and "/metrics" not in html      # no way to the other pages
    if path == "/":
        screenshot(served, path, "agreements-acme-alone.png", base=served.acme_only)


@pytest.mark.parametrize("path", ["/agreements?customer=globex", "/slo?service=shop&slo=api", "/metrics",
                                  "/?customer=globex"])
def test_a_server_for_one_customer_refuses_everything_else(served, path):
    answer = requests.get(served.acme_only + path, timeout=60)
    assert answer.status_code == 404 and "globex" not in answer.text
