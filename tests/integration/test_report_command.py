"""``sloengine report`` end to end against a real Prometheus: formats, pinned time, exit codes, TLS."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from sloengine.cli import EXIT_BREACHED, EXIT_ERROR, main
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks

REPO = Path(__file__).resolve().parents[2]
STEP = 60

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: healthy
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{route="/ok",code="500"}
        total: shop_requests_total{route="/ok"}
  - name: broken
    objective: 99.9
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{route="/broken",code="500"}
        total: shop_requests_total{route="/broken"}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    spec = tmp / "shop.yaml"
    spec.write_text(SPEC)
    end = int(time.time()) // STEP * STEP
    start = end - 26 * 3600
    n = 26 * 60 + 1
    series = []
    for route, bad_per_minute in (("/ok", 0.5), ("/broken", 5.0)):
        good, bad = np.full(n, 100.0), np.full(n, bad_per_minute)
        good[0] = bad[0] = 0
        series += [Counter("shop_requests_total", (("code", "200"), ("route", route)), good),
                   Counter("shop_requests_total", (("code", "500"), ("route", route)), bad)]
    write_blocks(openmetrics(series, start, STEP), tmp, tmp / "data")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    with prometheus(tmp / "prom", data_dir=tmp / "data", tls=(cert, key)) as prom:
        yield prom, spec, cert, end


def _run(*args: str):
    return CliRunner().invoke(main, ["report", *args])


def test_json_report_follows_the_committed_schema_and_pins_the_instant(shop):
    prom, spec, cert, end = shop
    at = datetime.fromtimestamp(end - 120, tz=UTC).isoformat().replace("+00:00", "Z")
    outcome = _run(str(spec), "--prometheus", prom.url, "--ca-file", str(cert), "--at", at, "--format", "json")
    assert outcome.exit_code == 0, outcome.output
    document = json.loads(outcome.stdout)   # diagnostics (a warning: no receiver) go to stderr
    schema = json.loads((REPO / "schema" / "sloengine-report-v1.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    assert document["at_unix"] == end - 120 and document["at"] == at
    by_slo = {s["slo"]: s for s in document["slos"]}
    assert by_slo["healthy"]["sli"] == pytest.approx(100 / 100.5, abs=1e-9)
    assert by_slo["broken"]["status"] == "breached"
    assert by_slo["healthy"]["source"] == "raw"


def test_unix_and_rfc3339_instants_give_the_same_report(shop):
    prom, spec, cert, end = shop
    at = end - 600
    iso = datetime.fromtimestamp(at, tz=UTC).isoformat()
    a = json.loads(_run(str(spec), "--prometheus", prom.url, "--ca-file", str(cert), "--at", str(at),
                        "--format", "json").stdout)
    b = json.loads(_run(str(spec), "--prometheus", prom.url, "--ca-file", str(cert), "--at", iso,
                        "--format", "json").stdout)
    assert [s["sli"] for s in a["slos"]] == [s["sli"] for s in b["slos"]]


def test_breaches_fail_the_run_only_when_asked(shop):
    prom, spec, cert, _ = shop
    plain = _run(str(spec), "--prometheus", prom.url, "--ca-file", str(cert))
    assert plain.exit_code == 0, plain.output
    assert "breached" in plain.output and "shop/healthy" in plain.output
    gated = _run(str(spec), "--prometheus", prom.url, "--ca-file", str(cert), "--fail-on-breach")
    assert gated.exit_code == EXIT_BREACHED


def test_markdown_report_is_a_table(shop):
    prom, spec, cert, _ = shop
    outcome = _run(str(spec), "--prometheus", prom.url, "--ca-file", str(cert), "--format", "markdown")
    assert outcome.exit_code == 0
    assert "| SLO | objective |" in outcome.output and "| shop/broken |" in outcome.output


def test_tls_without_the_ca_fails_closed_with_a_clear_message(shop):
    prom, spec, _, _ = shop
    outcome = _run(str(spec), "--prometheus", prom.url, "--retries", "0", "--format", "json")
    assert outcome.exit_code == EXIT_ERROR
    document = json.loads(outcome.stdout)
    assert {s["status"] for s in document["slos"]} == {"error"}
    assert all(s["sli"] is None for s in document["slos"])
    assert "certificate" in document["slos"][0]["error"].lower() or "ssl" in document["slos"][0]["error"].lower()


def test_unreachable_prometheus_exits_3_and_never_reports_availability(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    outcome = _run(str(spec), "--prometheus", "http://127.0.0.1:9", "--retries", "0")
    assert outcome.exit_code == EXIT_ERROR
    assert "cannot reach Prometheus at http://127.0.0.1:9" in outcome.output
    assert "100" not in outcome.stdout.split("\n", 2)[2].split("\n\n")[0]  # no SLI figures in the table rows


def test_wrong_settings_are_a_usage_error_without_traceback(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    outcome = _run(str(spec), "--prometheus", "localhost:9090")
    assert outcome.exit_code == 1 and "must start with http" in outcome.output
    assert "Traceback" not in outcome.output
    outcome = _run(str(spec), "--prometheus", "http://127.0.0.1:9", "--at", "yesterday")
    assert outcome.exit_code == 2 and "neither RFC 3339" in outcome.output
