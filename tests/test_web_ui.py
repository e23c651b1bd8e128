"""The web UI without Prometheus: the SLO list and an SLO's page from hand-built reports and a fake range client,
escaping, failing closed, the static files, and the exporter's auth on every page."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests

from sloengine.engine.connection import QueryError
from sloengine.model import conventions as c
from sloengine.model.results import Report, SLOResult, Status
from sloengine.model.slo import Catalog
from sloengine.reports import exporter as ex
from sloengine.reports.exporter import BasicAuth, Exporter
from sloengine.reports.web import assets
from sloengine.reports.web.routes import WebUI
from sloengine.reports.web.slo_detail import TimeRange
from sloengine.reports.web.slo_list import ListQuery, select
from sloengine.specs.loader import load

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: {service}, team: {team}}}
slos:
  - name: checkout
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: {service}_requests_total{{code="500"}}
        total: {service}_requests_total
  - name: search
    objective: 99
    window: 30d
    sli:
      ratio:
        bad: {service}_search_total{{code="500"}}
        total: {service}_search_total
"""
AGREEMENTS = """\
agreements:
  - name: acme-gold
    kind: sla
    provider: shop-inc
    customer: acme
    objective: 99.9
    covers: [{slo: checkout, match: {customer: acme}}]
    credits: [{below: 99.9, credit: 10}]
  - name: globex-silver
    kind: sla
    provider: "shop <b>inc</b> & co"
    customer: globex
    objective: 99.5
    covers: [{slo: checkout, match: {customer: globex}}]
"""
AT = 1_700_000_000.0


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    tmp = tmp_path_factory.mktemp("specs")
    for service, team in (("shop", "payments"), ("auth", "identity")):
        (tmp / f"{service}.yaml").write_text(SPEC.format(service=service, team=team)
                                             + (AGREEMENTS if service == "shop" else ""))
    loaded = load([tmp])
    assert loaded.catalog is not None
    return loaded.catalog


def result(service: str, slo: str, status: Status = Status.OK, **fields: object) -> SLOResult:
    base = SLOResult(service=service, slo=slo, objective=99.9, window="30d", window_seconds=30 * 86400.0,
                     status=status, sli=0.9995, good_events=9995.0, total_events=10000.0, budget_remaining=0.5,
                     burn_rates=(("5m", 0.25), ("1h", 0.5)), burn_rate_window="1h")
    return replace(base, **fields)  # type: ignore[arg-type]


def a_report() -> Report:
    return Report(at=AT, prometheus="http://prom", results=(
        result("shop", "checkout"),
        result("shop", "search", Status.BREACHED, sli=0.97, budget_remaining=-2.0, burning=("page 1h/5m",)),
        result("auth", "checkout", Status.NO_DATA, sli=None, total_events=0.0, budget_remaining=None,
               burn_rates=(("5m", None), ("1h", None))),
        result("auth", "search", Status.ERROR, sli=None, total_events=None, budget_remaining=None, burn_rates=(),
               error="Prometheus said <b>no</b> & \x1b[31m"),
    ))


class FakeRange:
    """Answers range queries from a table of expression → matrix, or fails with a QueryError."""

    def __init__(self, answers: dict[str, list[dict]] | None = None, fail: str = "") -> None:
        self.answers = answers or {}
        self.fail = fail
        self.asked: list[tuple[str, float, float, float]] = []

    url = "http://fake"

    def start_run(self) -> None:
        pass

    def query(self, expr: str, at: float) -> list[dict]:
        raise QueryError(QueryError.HTTP, "a fake range client answers range queries only", expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        self.asked.append((expr, start, end, step))
        if self.fail:
            raise QueryError(QueryError.HTTP, self.fail, expr)
        return self.answers.get(expr, [])


def exporter_with(catalog: Catalog, report: Report | None, client: object = None) -> Exporter:
    exporter = Exporter(catalog, client or FakeRange(), evaluate=lambda *a, **k: report)  # type: ignore[arg-type]
    if report is not None:
        exporter.evaluate_once()
    return exporter


def page(exporter: Exporter, path: str, query: str = "", client: object = None) -> tuple[str, str]:
    response = WebUI(exporter, client=client).route(path, query)
    assert response is not None
    return response.status, response.body.decode()


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-slo="([^"]*)"', html)


def cell(html: str, slo: str, column: str) -> tuple[str, str]:
    """The data-value and the text of one cell of the list."""
    row = re.search(rf'<tr data-slo="{re.escape(slo)}".*?</tr>', html)
    assert row, slo
    found = re.search(rf'<td data-col="{column}"(?: data-value="([^"]*)")?>(.*?)</td>', row.group())
    assert found, column
    return found.group(1) or "", found.group(2)


def test_the_list_shows_every_result_worst_first_with_the_reports_figures(catalog):
    status, html = page(exporter_with(catalog, a_report()), "/")
    assert status == "200 OK"
    assert rows(html) == ["auth/search", "auth/checkout", "shop/search", "shop/checkout"]
    assert cell(html, "shop/checkout", "sli") == ("0.9995", "99.950%")
    assert cell(html, "shop/search", "budget") == ("-2.0", "-200.0%")
    assert cell(html, "shop/search", "firing")[1] == "page 1h/5m"
    assert cell(html, "shop/checkout", "team")[1] == "payments"


FIRING_QUERY = 'count by (service, slo, alertname, severity) (ALERTS{alertstate="firing"})'


def test_the_list_names_each_slos_firing_alerts_from_prometheus(catalog):
    report = a_report()
    series = [({"service": "shop", "slo": "search", "alertname": c.ALERT_BURN, "severity": "page"}, 2.0),
              ({"service": "shop", "slo": "search", "alertname": c.ALERT_SLA_BUDGET, "severity": "ticket"}, 1.0),
              ({"service": "auth", "slo": "checkout", "alertname": c.ALERT_BURN, "severity": "ticket"}, 1.0)]
    client = FakeRange({FIRING_QUERY: [{"metric": m, "values": [[report.at, str(v)]]} for m, v in series]})
    _, html = page(exporter_with(catalog, report, client), "/", client=client)
    assert client.asked == [(FIRING_QUERY, report.at, report.at, 1.0)]
    assert cell(html, "shop/search", "alerts")[1] == f"{c.ALERT_SLA_BUDGET} (ticket), {c.ALERT_BURN} (page) ×2"
    assert cell(html, "auth/checkout", "alerts")[1] == f"{c.ALERT_BURN} (ticket)"
    assert cell(html, "shop/checkout", "alerts")[1] == "none"
    assert "data-alerts-unknown" not in html


def test_firing_alerts_prometheus_cannot_give_are_unknown_never_none(catalog):
    client = FakeRange(fail="Prometheus said no")
    _, html = page(exporter_with(catalog, a_report(), client), "/", client=client)
    assert {cell(html, slo, "alerts")[1] for slo in rows(html)} == {"unknown"}
    assert "data-alerts-unknown" in html and "Prometheus said no" in html
    assert cell(html, "shop/checkout", "sli") == ("0.9995", "99.950%")   # the evaluation's figures still show


def test_unknown_figures_are_written_as_no_data_never_as_a_number(catalog):
    _, html = page(exporter_with(catalog, a_report()), "/")
    for slo in ("auth/checkout", "auth/search"):
        for column in ("sli", "budget", "burn"):
            assert cell(html, slo, column) == ("null", "no data"), (slo, column)
    assert "100.000%" not in html


def test_text_from_outside_is_escaped(catalog):
    _, html = page(exporter_with(catalog, a_report()), "/", "service=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<b>" not in html and "<script" not in html and "\x1b" not in html
    _, html = page(exporter_with(catalog, a_report()), "/")
    assert "Prometheus said &lt;b&gt;no&lt;/b&gt; &amp; \\u001b[31m" in html


@pytest.mark.parametrize("query, expected", [
    ("service=shop", ["shop/search", "shop/checkout"]),
    ("team=identity", ["auth/search", "auth/checkout"]),
    ("status=breached", ["shop/search"]),
    ("status=nonsense", ["auth/search", "auth/checkout", "shop/search", "shop/checkout"]),
    ("sort=sli&order=desc", ["shop/checkout", "shop/search", "auth/checkout", "auth/search"]),
    ("sort=sli", ["shop/search", "shop/checkout", "auth/checkout", "auth/search"]),
    ("sort=budget&service=shop", ["shop/search", "shop/checkout"]),
    ("sort=slo&order=desc", ["shop/search", "shop/checkout", "auth/search", "auth/checkout"]),
])
def test_filters_and_sorting_come_from_the_query_string(catalog, query, expected):
    _, html = page(exporter_with(catalog, a_report()), "/", query)
    assert rows(html) == expected


def test_sort_links_and_the_filter_form_work_without_javascript(catalog):
    _, html = page(exporter_with(catalog, a_report()), "/", "service=shop&sort=sli")
    assert '<form method="get" action="/"' in html and '<option value="shop" selected>' in html
    assert 'href="/?service=shop&amp;sort=sli&amp;order=desc"' in html   # the sorted column flips its order
    assert 'href="/?service=shop&amp;sort=budget"' in html               # others keep the filters
    assert "<script" not in html                                          # the list needs no script at all


def test_select_is_deterministic_with_ties_broken_by_id(catalog):
    report = a_report()
    tied = replace(report, results=tuple(reversed(report.results)))
    order = [r.id for r in select(tied, catalog, ListQuery(sort="objective"))]
    assert order == sorted(order)


def test_before_the_first_evaluation_the_pages_say_so_with_503(catalog):
    exporter = exporter_with(catalog, None)
    for path in ("/", "/slo"):
        status, html = page(exporter, path, "service=shop&slo=checkout")
        assert status.startswith("503") and "No evaluation has finished yet" in html


def test_an_unknown_slo_or_path_is_not_found(catalog):
    exporter = exporter_with(catalog, a_report())
    assert page(exporter, "/slo", "service=shop&slo=nope")[0].startswith("404")
    web = WebUI(exporter)
    assert web.route("/nope", "") is None
    assert web.route("/static/../../etc/passwd", "") is None
    assert web.route("/static/__init__.py", "") is None


def test_the_time_range_is_picked_and_pinned_to_the_evaluation():
    span = TimeRange.parse({"range": "6h"}, AT)
    assert span.end <= AT < span.end + span.step and span.end - span.start == 6 * 3600
    assert len(span.times) == 6 * 3600 / span.step + 1
    assert TimeRange.parse({"range": "nope"}, AT).name == "1d"
    assert TimeRange.parse({"range": "1h", "end": "1600000020"}, AT).end == 1600000020 // 15 * 15
    assert TimeRange.parse({"end": "-5"}, AT).end == TimeRange.parse({}, AT).end


def _matrix(span: TimeRange, values: list[float | None], **labels: str) -> list[dict]:
    rows = [[t, v] for t, v in zip(span.times, values) if v is not None]
    return [{"metric": {"service": "shop", "slo": "checkout", "window": "30d", **labels},
             "values": np.array(rows, dtype=float)}]


def chart_data(html: str, key: str) -> dict:
    found = re.search(rf'<script type="application/json" id="data-{re.escape(key)}">(.*?)</script>', html)
    assert found, key
    return json.loads(found.group(1))


def test_the_detail_page_draws_the_recorded_series_with_thresholds_and_the_ideal_line(catalog):
    span = TimeRange.parse({"range": "1h"}, AT)
    n = len(span.times)
    answers = {
        '1 - slo:sli_error:ratio{service="shop",slo="checkout",window="30d"}':
            _matrix(span, [0.9995] * (n - 1) + [float("nan")]),
        'slo:error_budget_remaining:ratio{service="shop",slo="checkout",window="30d"}':
            _matrix(span, [None, None] + [0.5] * (n - 2)),
        'slo:burn_rate:ratio{service="shop",slo="checkout"}':
            _matrix(span, [2.0] * n, window="1h") + _matrix(span, [20.0] * n, window="5m"),
        'ALERTS{service="shop",slo="checkout"}': _matrix(span, [1.0] * n, alertname=c.ALERT_BURN, alertstate="firing",
                                                         long_window="1h", short_window="5m",
                                                         escalation_level="L2"),
    }
    client = FakeRange(answers)
    status, html = page(exporter_with(catalog, a_report()), "/slo", "service=shop&slo=checkout&range=1h", client)
    assert status == "200 OK"
    assert all(asked[1:] == (span.start, span.end, span.step) for asked in client.asked)
    sli = chart_data(html, "sli")
    assert sli["series"][0]["values"][:2] == [0.9995, 0.9995] and sli["series"][0]["values"][-1] is None  # NaN: gap
    assert sli["thresholds"] == [{"label": "objective 99.9%", "value": 0.999}] and sli["times"] == span.times
    budget = chart_data(html, "budget")
    ideal = next(s for s in budget["series"] if s["label"].startswith("ideal"))
    assert ideal["values"][:3] == [None, None, 0.5]    # from the first value in the range, not before it
    assert ideal["values"][-1] == pytest.approx(0.5 - (3600 - 2 * span.step) / (30 * 86400))
    burn = chart_data(html, "burn-page-1h-5m")
    assert sorted(s["values"][0] for s in burn["series"]) == [2.0, 20.0]
    assert burn["thresholds"][0]["value"] == 14.4
    assert 'data-chart-empty="events"' in html                       # absent series: said so, not drawn as 0
    assert '<span data-state="firing">firing</span>' in html
    assert "L2 now; highest in range L2" in html
    figures = re.search(r'<table class="figures"><thead><tr>(.*?)</tr></thead><tbody><tr>(.*?)</tr>', html)
    assert figures and figures.group(1).count("<th>") == figures.group(2).count("<td>")   # aligned columns
    assert f"<td>{c.ALERT_BURN}</td>" in figures.group(2)                  # the alert firing at the range's end


def test_a_failed_range_query_is_shown_as_failed_never_as_a_figure(catalog):
    client = FakeRange(fail="Prometheus at http://prom answered HTTP 503: <overloaded>")
    _, html = page(exporter_with(catalog, a_report()), "/slo", "service=shop&slo=checkout", client)
    assert 'data-chart-error="sli"' in html and 'data-chart-error="budget"' in html
    assert "&lt;overloaded&gt;" in html and "<overloaded>" not in html
    assert "unknown (query failed)" in html and "query failed" in html
    assert 'type="application/json"' not in html                  # no chart drawn from nothing


def test_the_static_files_are_the_pinned_vendored_ones_with_their_licence():
    vendored = (Path(assets.__file__).parent / "static" / "VENDORED.txt").read_text()
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        found = assets.asset(name)
        assert found is not None
        assert f"{name}" in vendored and hashlib.sha256(found[0]).hexdigest() in vendored
    licence = assets.asset("uPlot.LICENSE")
    assert licence is not None and b"MIT License" in licence[0]


@pytest.fixture
def served(catalog: Catalog) -> Iterator[ex.Running]:
    exporter = exporter_with(catalog, a_report())
    running = ex.start_server(exporter, "127.0.0.1:0", auth=BasicAuth("prom", "s3cret"))
    yield running
    running.close()


PAGES = ("/", "/?status=ok", "/slo?service=shop&slo=checkout", "/agreements", "/agreements?customer=acme",
         "/static/uPlot.iife.min.js", "/static/style.css")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_asks_for_the_exporters_basic_auth(served, path):
    url = served.url + path
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=("prom", "wrong"), timeout=10).status_code == 401
    answer = requests.get(url, auth=("prom", "s3cret"), timeout=10)
    assert answer.status_code == 200
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_twenty_concurrent_page_loads_are_all_served(served):
    statuses: list[int] = []
    lock = threading.Lock()

    def load_pages() -> None:
        for path in PAGES:
            status = requests.get(served.url + path, auth=("prom", "s3cret"), timeout=30).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=load_pages) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * 20 * len(PAGES)


# ---- agreements and one customer's server ---------------------------------------------------------------------


ATTAINED = {"acme": 0.9871234, "globex": 0.9990517}


def fake_agreement(client, catalog, by_name, agreement, day, now):
    """Each customer's attainment from ATTAINED (nothing read from Prometheus)."""
    from sloengine.agreements.sla import AgreementResult, CommitmentResult, Compliance

    attained = ATTAINED[agreement.consumer]
    state = Compliance.MET if attained * 100 >= agreement.objective else Compliance.BREACHED
    results = tuple(CommitmentResult(c, state, attained=attained, budget_remaining=0.25)
                    for c in agreement.commitments)
    return AgreementResult(agreement, now - 86400, now + 86400, now, results)


def customer_page(catalog: Catalog, path: str, query: str, customer: str = "") -> tuple[str, str] | None:
    web = WebUI(exporter_with(catalog, a_report()), customer=customer, client=FakeRange(), evaluate=fake_agreement)
    response = web.route(path, query)
    return None if response is None else (response.status, response.body.decode())


def test_a_customers_page_shows_its_slas_and_nothing_of_another_customer(catalog):
    page = customer_page(catalog, "/agreements", "customer=acme")
    assert page is not None and page[0] == "200 OK"
    html = page[1]
    assert 'data-agreement="acme-gold"' in html and 'data-value="0.9871234"' in html
    assert "10% owed; up to 10% (below 99.9%: 10%)" in html
    assert "globex" not in html and "0.9990517" not in html and "99.905%" not in html


def test_agreement_names_are_escaped(catalog):
    page = customer_page(catalog, "/agreements", "customer=globex")
    assert page is not None
    assert "shop &lt;b&gt;inc&lt;/b&gt; &amp; co" in page[1] and "<b>" not in page[1]


def test_the_index_lists_customers_and_an_unknown_one_is_not_found(catalog):
    index = customer_page(catalog, "/agreements", "")
    assert index is not None and "?customer=acme" in index[1] and "?customer=globex" in index[1]
    missing = customer_page(catalog, "/agreements", "customer=initech")
    assert missing is not None and missing[0].startswith("404")


@pytest.mark.parametrize("path, query", [("/", ""), ("/agreements", ""), ("/agreements", "customer=acme")])
def test_a_server_for_one_customer_shows_its_page_at_root_and_agreements(catalog, path, query):
    page = customer_page(catalog, path, query, customer="acme")
    assert page is not None and page[0] == "200 OK"
    assert 'data-agreement="acme-gold"' in page[1] and "globex" not in page[1]
    assert 'href="/"' not in page[1] and "/metrics" not in page[1]


@pytest.mark.parametrize("path, query", [("/agreements", "customer=globex"), ("/", "customer=globex"),
                                         ("/slo", "service=shop&slo=checkout"), ("/metrics", "")])
def test_a_server_for_one_customer_refuses_everything_else(catalog, path, query):
    assert customer_page(catalog, path, query, customer="acme") is None


def test_a_server_for_one_customer_serves_no_metrics_over_http(catalog):
    exporter = exporter_with(catalog, a_report())
    running = ex.start_server(exporter, "127.0.0.1:0", customer="acme")
    try:
        assert requests.get(f"{running.url}/metrics", timeout=10).status_code == 404
        assert requests.get(f"{running.url}/slo?service=shop&slo=checkout", timeout=10).status_code == 404
        assert requests.get(f"{running.url}/-/ready", timeout=10).status_code == 200
    finally:
        running.close()


def test_serve_refuses_a_customer_no_sla_names(catalog, tmp_path):
    from click.testing import CliRunner

    from sloengine.cli import EXIT_INVALID, main

    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC.format(service="shop", team="payments") + AGREEMENTS)
    outcome = CliRunner().invoke(main, ["serve", str(spec), "--prometheus", "http://127.0.0.1:9",
                                        "--customer", "initech"])
    assert outcome.exit_code == EXIT_INVALID and "no SLA in these specs names this customer" in outcome.output


# ---- failing closed and holding up ----------------------------------------------------------------------------


def test_when_the_latest_evaluation_failed_the_pages_say_the_values_are_stale(catalog):
    good = a_report()
    outcomes = iter([good])

    def evaluate(*args, **kwargs):
        try:
            return next(outcomes)
        except StopIteration:
            raise RuntimeError("Prometheus is down") from None

    exporter = Exporter(catalog, FakeRange(), evaluate=evaluate)  # type: ignore[arg-type]
    exporter.evaluate_once()
    _, fresh = page(exporter, "/")
    assert "data-stale" not in fresh
    exporter.evaluate_once()
    _, stale = page(exporter, "/")
    assert "data-stale" in stale and "last values computed" in stale
    assert cell(stale, "shop/checkout", "sli") == ("0.9995", "99.950%")   # the last good values, said to be so


def test_pages_waiting_on_prometheus_are_capped_and_one_more_is_busy(catalog):
    from sloengine.reports.web import routes

    web = WebUI(exporter_with(catalog, a_report()), client=FakeRange())
    for _ in range(routes.QUERYING_PAGES):
        assert web._querying.acquire(blocking=False)
    busy = web.route("/slo", "service=shop&slo=checkout")
    assert busy is not None and busy.status.startswith("503") and ("Retry-After", "2") in busy.headers
    listed = web.route("/", "")   # the list is the evaluation's: it still answers, its firing alerts unknown
    assert listed is not None and listed.status == "200 OK" and b"data-alerts-unknown" in listed.body
    assert cell(listed.body.decode(), "shop/checkout", "alerts")[1] == "unknown"
    web._querying.release()
    assert web.route("/slo", "service=shop&slo=checkout").status == "200 OK"


def test_page_connections_beyond_the_cap_are_turned_away_and_scrapes_go_on(catalog, monkeypatch):
    import socket

    monkeypatch.setattr(ex, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(ex, "REQUEST_SECONDS", 2.0)
    running = ex.start_server(exporter_with(catalog, a_report()), "127.0.0.1:0")
    try:
        stalled = [socket.create_connection((running.host, running.port), timeout=20) for _ in range(3)]
        time.sleep(0.3)
        with socket.create_connection((running.host, running.port), timeout=5) as extra:
            extra.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert extra.recv(100).startswith(b"HTTP/1.0 503")
        for conn in stalled:
            assert conn.recv(100) == b""
            conn.close()
        # A slot frees when its handler thread ends, just after the client sees the close (as in
        # test_hostile_api): on a loaded machine the next request may still meet the cap for a moment.
        deadline = time.monotonic() + 20
        while (status := requests.get(f"{running.url}/", timeout=10).status_code) != 200 and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
        assert requests.get(f"{running.url}/metrics", timeout=10).status_code == 200
    finally:
        running.close()


def test_a_customers_page_whose_counts_failed_says_so_and_is_asked_again(catalog):
    from sloengine.agreements.sla import AgreementResult, CommitmentResult, Compliance

    calls: list[str] = []

    def failing(client, catalog, by_name, agreement, day, now):
        calls.append(agreement.name)
        results = tuple(CommitmentResult(c, Compliance.ERROR, error="cannot reach Prometheus")
                        for c in agreement.commitments)
        return AgreementResult(agreement, now - 86400, now + 86400, now, results)

    web = WebUI(exporter_with(catalog, a_report()), client=FakeRange(), evaluate=failing)
    first = web.route("/agreements", "customer=acme")
    assert first is not None and first.status == "200 OK"
    html = first.body.decode()
    assert '<span class="status error">error</span>' in html and "unknown (error)" in html
    assert '<span data-value="null">no data</span>' in html          # attainment unknown, never a number
    assert "100.000%" not in html
    asked = len(calls)
    web.route("/agreements", "customer=acme")
    assert len(calls) == 2 * asked   # not cached: asked again


PERIODS_AGREEMENTS = """\
agreements:
  - name: acme-gold
    kind: sla
    provider: shop-inc
    customer: acme
    objective: 99.9
    covers: [{slo: checkout}]
    depends_on: [payments-ola]
    exclusions:
      - {name: db-upgrade, timezone: UTC, start: "2023-11-14 10:00", end: "2023-11-14 11:00"}
      - {name: move-2020, timezone: UTC, start: "2020-01-01 10:00", end: "2020-01-01 11:00"}
      - {name: sunday-patch, timezone: UTC, weekdays: [sunday], times: ["02:00-03:00"]}
  - name: payments-ola
    kind: ola
    provider: payments
    customer: shop
    objective: 99.5
    covers: [{slo: search}]
"""


def daily_agreement(client, catalog, by_name, agreement, day, now):
    """Daily periods (the one holding ``day``), each agreement attaining 99.95%; OLAs/UCs underneath when the
    caller hands them over, as sla-report's evaluation does."""
    from sloengine.agreements.sla import AgreementResult, CommitmentResult, Compliance

    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp()
    state = Compliance.MET if agreement.objective <= 99.95 else Compliance.BREACHED
    results = tuple(CommitmentResult(c, state, attained=0.9995, budget_remaining=0.5) for c in agreement.commitments)
    underneath = tuple(daily_agreement(client, catalog, by_name, by_name[name], day, now)
                       for name in agreement.depends_on if name in by_name)
    return AgreementResult(agreement, start, start + 86400, min(now, start + 86400), results, underneath)


@pytest.fixture(scope="module")
def periods_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    tmp = tmp_path_factory.mktemp("periods")
    (tmp / "shop.yaml").write_text(SPEC.format(service="shop", team="payments") + PERIODS_AGREEMENTS)
    loaded = load([tmp])
    assert loaded.catalog is not None, loaded.errors
    return loaded.catalog


def _customer_html(catalog: Catalog) -> str:
    web = WebUI(exporter_with(catalog, a_report()), client=FakeRange(), evaluate=daily_agreement)
    response = web.route("/agreements", "customer=acme")
    assert response is not None and response.status == "200 OK"
    return response.body.decode()


def test_the_exclusions_shown_are_those_of_the_period_and_the_others_counted(periods_catalog):
    html = _customer_html(periods_catalog)
    exclusions = re.search(r"<h3>Exclusions</h3>(.*?)<h3>", html, re.S)
    assert exclusions
    assert "db-upgrade" in exclusions.group(1) and "sunday-patch" in exclusions.group(1)
    assert "move-2020" not in html and "1 other one-off window outside this period" in exclusions.group(1)


def test_past_periods_show_the_olas_and_ucs_underneath_them(periods_catalog):
    html = _customer_html(periods_catalog)
    past = re.search(r'<table class="past">(.*?)</table>', html, re.S)
    assert past and "OLAs and UCs underneath" in past.group(1)
    rows_ = re.findall(r"<tr>(.*?)</tr>", past.group(1), re.S)[1:]
    assert rows_ and all("payments-ola" in r and 'data-value="0.9995"' in r for r in rows_)


def test_a_calendar_windows_ideal_line_falls_from_whole_to_spent_over_each_period(tmp_path):
    spec = tmp_path / "monthly.yaml"
    spec.write_text(SPEC.format(service="shop", team="payments").replace("window: 30d",
                                                                          "window: {calendar: month}"))
    loaded = load([spec])
    assert loaded.catalog is not None, loaded.errors
    at = datetime(2026, 11, 1, 0, 0, tzinfo=UTC).timestamp() + 86400 * 0.25   # six hours into November
    report = replace(a_report(), at=at)
    _, html = page(exporter_with(loaded.catalog, report), "/slo", "service=shop&slo=checkout&range=1d", FakeRange())
    budget = chart_data(html, "budget")
    ideal = next(s for s in budget["series"] if s["label"].startswith("ideal"))
    by_time = dict(zip(budget["times"], ideal["values"]))
    november = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    assert by_time[november] == 1.0                                        # the new period's budget is whole
    before = max(t for t in budget["times"] if t < november)
    assert by_time[before] == pytest.approx((november - before) / (31 * 86400))   # October's nearly spent
    last = budget["times"][-1]
    assert by_time[last] == pytest.approx(1 - (last - november) / (30 * 86400))
