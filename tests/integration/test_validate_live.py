"""``sloengine validate --prometheus``: SLIs checked against the series a real Prometheus holds.

Two hours of a latency histogram (Go's bucket spelling for one job, Python's for another, a third job with
other buckets), request counters and a probe are backfilled; specs whose threshold is not a bucket boundary
get an error at the threshold naming the boundaries that exist, selectors that match nothing a warning, and
an unreachable server fails closed.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sloengine.cli import EXIT_ERROR, main
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, Gauge, openmetrics, write_blocks

STEP = 60
HISTOGRAM = "shop_request_duration_seconds"
#: Bucket boundaries as each job's client library spells them.
BUCKETS = {"api": ("0.1", "0.25", "0.5", "1", "+Inf"), "py": ("0.1", "0.25", "0.5", "1.0", "+Inf"),
           "batch": ("0.5", "2.5", "+Inf"), "export": ("30", "120", "+Inf"), "odd": ("0.10", "0.50", "+Inf")}

HEADER = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop, team: web}
receivers:
  web-oncall: {webhook_configs: [{url: "https://alerts.example.com/web"}]}
defaults:
  escalation: {levels: [{level: L1, receiver: web-oncall}]}
slos:
"""


def _latency(name: str, matchers: str, threshold: str) -> str:
    return textwrap.indent(textwrap.dedent(f"""\
        - name: {name}
          objective: 99
          sli:
            latency:
              histogram: '{HISTOGRAM}{{{matchers}}}'
              threshold: {threshold}
        """), "  ")


HEALTHY = HEADER + _latency("api-latency", 'job="api"', "0.5") + _latency("py-latency", 'job="py"', "1") + """\
  - name: availability
    objective: 99.9
    sli:
      ratio:
        bad: shop_requests_total{job="api",code="500"}
        total: shop_requests_total{job="api"}
  - name: reachable
    objective: 99
    sli: {probe: {metric: 'probe_success{job="shop"}'}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("validate-live")
    end = int(time.time()) // STEP * STEP
    n = 2 * 60 + 1
    rng = np.random.default_rng(12)
    series: list[Counter | Gauge] = []
    for job, bounds in BUCKETS.items():
        per_step = rng.poisson(50, n).astype(float)
        per_step[0] = 0
        cumulative = np.zeros(n)
        for i, le in enumerate(bounds):
            share = 1.0 if le == "+Inf" else (i + 1) / len(bounds)
            cumulative = np.maximum(cumulative, np.floor(per_step * share))
            series.append(Counter(f"{HISTOGRAM}_bucket", (("job", job), ("le", le)), cumulative.copy()))
        series.append(Counter(f"{HISTOGRAM}_count", (("job", job),), per_step))
    for code, rate in (("200", 100.0), ("500", 1.0)):
        counts = rng.poisson(rate, n).astype(float)
        counts[0] = 0
        series.append(Counter("shop_requests_total", (("code", code), ("job", "api")), counts))
    series.append(Gauge("probe_success", (("job", "shop"),), np.ones(n)))
    write_blocks(openmetrics(series, end - (n - 1) * STEP, STEP), tmp, tmp / "data")
    with prometheus(tmp / "prom", data_dir=tmp / "data") as prom:
        yield prom


def _validate(path: Path, *args: str):
    return CliRunner().invoke(main, ["validate", str(path), *args])


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    return path


def _at(path: Path, needle: str) -> str:
    """``FILE:LINE:COL`` of the first occurrence of ``needle``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if needle in line:
            return f"{path}:{number}:{line.index(needle) + 1}"
    raise AssertionError(needle)


def test_slis_whose_series_all_exist_pass_against_the_server_with_either_le_spelling(server, tmp_path):
    path = _spec(tmp_path, HEALTHY)
    done = _validate(path, "--prometheus", server.url, "--strict")
    assert done.exit_code == 0, done.output
    assert f"4 SLOs in 1 services from 1 files: 0 errors, 0 warnings; checked against {server.url}" in done.output


def test_a_threshold_between_buckets_is_an_error_at_the_threshold_naming_the_boundaries(server, tmp_path):
    path = _spec(tmp_path, HEADER + _latency("api-latency", 'job="api"', "0.45"))
    offline = _validate(path)
    assert offline.exit_code == 0, offline.output
    done = _validate(path, "--prometheus", server.url)
    assert done.exit_code == 1
    assert (f"{_at(path, '0.45')}: error: shop/api-latency: sli.latency.threshold: le=0.45 not found; the histogram "
            "has 0.1, 0.25, 0.5, 1, +Inf") in done.output
    assert "(fix: use 0.5 or 0.25)" in done.output


def test_a_threshold_in_milliseconds_is_told_to_be_written_as_a_duration(server, tmp_path):
    path = _spec(tmp_path, HEADER + _latency("api-latency", 'job="api"', "500"))
    done = _validate(path, "--prometheus", server.url)
    assert done.exit_code == 1
    assert f"{_at(path, '500')}: error: shop/api-latency: sli.latency.threshold: le=500 not found" in done.output
    assert "(fix: thresholds are seconds: write 500ms or 0.5)" in done.output


def test_a_long_threshold_written_as_a_number_is_not_flagged_once_the_server_shows_its_bucket(server, tmp_path):
    path = _spec(tmp_path, HEADER + _latency("export-latency", 'job="export"', "120"))
    offline = _validate(path)
    assert "0 errors, 1 warnings" in offline.output and "threshold 120 is 120 seconds" in offline.output
    done = _validate(path, "--prometheus", server.url, "--strict")
    assert done.exit_code == 0, done.output
    assert "0 errors, 0 warnings; checked against" in done.output


def test_a_boundary_in_a_spelling_the_rules_do_not_match_is_an_error_naming_that_spelling(server, tmp_path):
    path = _spec(tmp_path, HEADER + _latency("odd-latency", 'job="odd"', "0.5"))
    done = _validate(path, "--prometheus", server.url)
    assert done.exit_code == 1
    expected = f'{_at(path, "0.5")}: error: shop/odd-latency: sli.latency.threshold: le=0.5 is written le="0.50"'
    assert expected in done.output


def test_a_boundary_present_on_only_some_of_the_selected_histograms_is_an_error(server, tmp_path):
    path = _spec(tmp_path, HEADER + _latency("all-latency", 'job=~"api|batch"', "0.25"))
    done = _validate(path, "--prometheus", server.url)
    assert done.exit_code == 1
    assert (f"{_at(path, '0.25')}: error: shop/all-latency: sli.latency.threshold: le=0.25 is missing on 1 of the "
            f'series {HISTOGRAM}_bucket{{job=~"api|batch"}} matches (e.g. {{job="batch"}})') in done.output


def test_a_pyrra_threshold_between_buckets_is_placed_at_its_success_selector(server, tmp_path):
    path = tmp_path / "pyrra.yaml"
    path.write_text(textwrap.dedent(f"""\
        apiVersion: pyrra.dev/v1alpha1
        kind: ServiceLevelObjective
        metadata: {{name: api-latency, namespace: shop}}
        spec:
          target: "99"
          window: 28d
          indicator:
            latency:
              success: {{metric: '{HISTOGRAM}_bucket{{job="api",le="0.3"}}'}}
              total: {{metric: '{HISTOGRAM}_count{{job="api"}}'}}
        """))
    done = _validate(path, "--prometheus", server.url)
    assert done.exit_code == 1
    assert (f"{_at(path, chr(39) + HISTOGRAM + '_bucket')}: error: shop/api-latency: sli.latency.threshold: "
            "le=0.3 not found; the histogram has 0.1, 0.25, 0.5, 1, +Inf") in done.output
    assert "(fix: use 0.5 or 0.25)" in done.output


def test_selectors_that_match_no_series_are_warnings_that_strict_turns_into_failure(server, tmp_path):
    text = (HEALTHY.replace('total: shop_requests_total{job="api"}', 'total: shop_request_total{job="api"}')
            .replace('probe_success{job="shop"}', 'probe_success{job="shpo"}')
            .replace(f'{HISTOGRAM}{{job="py"}}', f'{HISTOGRAM}{{job="pi"}}'))
    path = _spec(tmp_path, text)
    done = _validate(path, "--prometheus", server.url, "--format", "json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["ok"] is True and payload["prometheus"] == {"url": server.url, "error": None}
    found = {(d["field"], d["level"]): d["message"] for d in payload["diagnostics"]}
    assert set(found) == {("shop/availability: sli.ratio.total", "warning"),
                          ("shop/reachable: sli.probe.metric", "warning"),
                          ("shop/py-latency: sli.latency.histogram", "warning")}
    assert found[("shop/availability: sli.ratio.total", "warning")] == (
        'no series match shop_request_total{job="api"} in the last 1h: the SLI would have no data')
    assert _validate(path, "--prometheus", server.url, "--strict").exit_code == 1


def test_a_good_selector_that_matches_nothing_warns_that_every_event_would_count_as_bad(server, tmp_path):
    text = HEADER + """\
  - name: availability
    objective: 99.9
    sli:
      ratio:
        good: shop_requests_total{job="api",code="2OO"}
        total: shop_requests_total{job="api"}
"""
    done = _validate(_spec(tmp_path, text), "--prometheus", server.url)
    assert done.exit_code == 0
    assert "every event of total would count as bad, so the SLO would page" in done.output


def test_an_unreachable_prometheus_fails_closed_with_exit_3(tmp_path):
    path = _spec(tmp_path, HEALTHY)
    done = _validate(path, "--prometheus", "http://127.0.0.1:9", "--retries", "0", "--format", "json")
    assert done.exit_code == EXIT_ERROR
    payload = json.loads(done.stdout)
    assert payload["ok"] is False
    assert "cannot reach Prometheus at http://127.0.0.1:9" in payload["prometheus"]["error"]
    text = _validate(path, "--prometheus", "http://127.0.0.1:9", "--retries", "0")
    assert text.exit_code == EXIT_ERROR and "checked against" not in text.output
    assert "error: could not check the SLIs against Prometheus: cannot reach Prometheus" in text.output


def test_the_environment_alone_does_not_make_validate_query_prometheus(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOENGINE_PROMETHEUS_URL", "http://127.0.0.1:9")
    done = _validate(_spec(tmp_path, HEALTHY))
    assert done.exit_code == 0, done.output
    assert "checked against" not in done.output
