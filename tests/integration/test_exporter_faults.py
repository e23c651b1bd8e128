"""Faults between sloengine and Prometheus: the report fails closed, the exporter survives and recovers.

Ground truth comes from synthetic counters backfilled into a real Prometheus.
Faults are a real Prometheus stopped and started again on the same port, and
a small HTTP server of our own in front of it that can answer 5xx, answer 200
with a body that is not the API's JSON, or answer too late, and can be
switched to pass requests through to the real Prometheus to show recovery.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from sloengine.cli import main
from sloengine.devstack import stack
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, window_sum, write_blocks
from sloengine.engine.connection import Client, ConnectionConfig
from sloengine.model import conventions as c
from sloengine.reports.exporter import Exporter, Running, start_server
from sloengine.specs.loader import load

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: checkout
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{code="500"}
        total: shop_requests_total
"""

STEP = 60
HOURS = 30
#: Seconds the exporter waits for Prometheus in these tests (the slow fault answers later than this).
TIMEOUT = 1.0
SLOW_SECONDS = 3.0
#: How long a test waits for the exporter to reach a state before it fails.
PATIENCE = 60.0


class History:
    """Synthetic traffic with a known answer: the exact SLI over the day before ``end``."""

    def __init__(self, end: int) -> None:
        rng = np.random.default_rng(7)
        n = HOURS * 3600 // STEP + 1
        self.start, self.end = end - (n - 1) * STEP, end
        self.good = rng.integers(50, 150, n).astype(np.float64)
        self.bad = rng.integers(0, 4, n).astype(np.float64)
        self.good[0] = self.bad[0] = 0.0

    def counters(self) -> list[Counter]:
        return [Counter("shop_requests_total", (("code", "200"),), self.good),
                Counter("shop_requests_total", (("code", "500"),), self.bad)]

    def sli(self) -> float:
        bad = window_sum(self.bad, self.start, STEP, self.end - 86400, self.end)
        good = window_sum(self.good, self.start, STEP, self.end - 86400, self.end)
        return 1.0 - bad / (bad + good)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[History, Path, Path]:
    """The spec, the history, and a data directory holding its blocks (shared: Prometheus only reads it)."""
    work = tmp_path_factory.mktemp("exporter-faults")
    spec = work / "shop.yaml"
    spec.write_text(SPEC)
    truth = History(int(time.time()) // STEP * STEP)
    data = work / "data"
    write_blocks(openmetrics(truth.counters(), truth.start, STEP), work, data)
    return truth, spec, data


@pytest.fixture(scope="module")
def real_prometheus(history, tmp_path_factory) -> Iterator[stack.Prometheus]:
    _, _, data = history
    with prometheus(tmp_path_factory.mktemp("prometheus"), data_dir=data) as prom:
        yield prom


# ---- a Prometheus that misbehaves on demand -----------------------------------------------------


class Fake(ThreadingHTTPServer):
    """In front of ``upstream``: ``mode`` is proxy, 5xx, malformed or slow."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _FakeHandler)
        self.upstream = upstream
        self.mode = "proxy"

    def handle_error(self, request, client_address) -> None:
        pass   # a slow answer written after the client gave up is expected here

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FakeHandler(BaseHTTPRequestHandler):
    server: Fake

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode = self.server.mode
        if mode == "5xx":
            self._answer(503, b"upstream overloaded\n", "text/plain")
        elif mode == "malformed":
            self._answer(200, b'{"status": "success", "data": {"resultType": "vector", "resu')
        elif mode == "slow":
            time.sleep(SLOW_SECONDS)
            self._answer(503, b"too late\n", "text/plain")
        else:
            answer = requests.request(self.command, self.server.upstream + self.path, data=body, timeout=30,
                                      headers={"Content-Type": self.headers.get("Content-Type", "")})
            self._answer(answer.status_code, answer.content, answer.headers.get("Content-Type", ""))

    do_GET = do_POST = _handle


@contextmanager
def fake(upstream: str) -> Iterator[Fake]:
    server = Fake(upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# ---- the exporter under test --------------------------------------------------------------------


@contextmanager
def exporting(spec: Path, url: str, at: float) -> Iterator[tuple[Exporter, Running]]:
    loaded = load((spec,))
    client = Client(ConnectionConfig(url=url, retries=0, timeout_seconds=TIMEOUT))
    exporter = Exporter(loaded.catalog, client, interval_seconds=0.2, at=lambda: at)
    running = start_server(exporter, "127.0.0.1:0")
    exporter.start()
    try:
        yield exporter, running
    finally:
        running.close()
        exporter.stop()
        client.close()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(running: Running) -> Samples:
    response = requests.get(f"{running.url}/metrics", timeout=10)
    assert response.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **match: str) -> float | None:
    found = [v for (n, lab), v in samples.items() if n == name and set(match.items()) <= lab]
    return found[0] if found else None


def statuses(samples: Samples) -> dict[str, float]:
    return {dict(lab)[c.LABEL_STATUS]: v for (name, lab), v in samples.items() if name == c.EXPORT_STATUS}


def wait_for(running: Running, condition: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until ``condition`` holds (a deadline against hangs, not a timing assertion)."""
    deadline = time.monotonic() + PATIENCE
    samples = scrape(running)
    while not condition(samples):
        assert time.monotonic() < deadline, f"the exporter never got to: {what}\n{samples}"
        time.sleep(0.1)
        samples = scrape(running)
    return samples


def fresh_after(count: float, outcome: str = "success") -> Callable[[Samples], bool]:
    return lambda s: (value(s, c.HEALTH_EVALUATIONS, result=outcome) or 0) > count


def serving_truth(samples: Samples, truth: History) -> bool:
    return value(samples, c.EXPORT_SLI, slo="checkout") == pytest.approx(truth.sli(), abs=1e-12)


# ---- Prometheus stopped and started again -------------------------------------------------------


def test_exporter_keeps_last_values_and_marks_them_stale_when_prometheus_stops(history, tmp_path):
    truth, spec, data = history
    port = stack.free_port()  # both Prometheus processes listen on this one address
    with exporting(spec, f"http://127.0.0.1:{port}", truth.end) as (exporter, running):
        with prometheus(tmp_path / "first", data_dir=data, port=port):
            samples = wait_for(running, fresh_after(0), "a first good evaluation")
        assert serving_truth(samples, truth)
        assert value(samples, c.HEALTH_STALE) == 0.0
        assert value(samples, c.HEALTH_LAST_SUCCESS) > 0
        errors_before = value(samples, c.HEALTH_QUERY_ERRORS)
        failures_before = value(samples, c.HEALTH_EVALUATIONS, result="failure")
        status_before = statuses(samples)
        assert status_before["error"] == 0.0

        # Prometheus is stopped: the next evaluation fails, the last values stay, marked stale.
        samples = wait_for(running, fresh_after(failures_before, "failure"), "a failed evaluation")
        assert value(samples, c.HEALTH_STALE) == 1.0
        assert serving_truth(samples, truth)
        assert statuses(samples) == status_before
        assert value(samples, c.HEALTH_QUERY_ERRORS) > errors_before
        assert requests.get(f"{running.url}/-/healthy", timeout=5).status_code == 200
        successes = value(samples, c.HEALTH_EVALUATIONS, result="success")

        # A new Prometheus on the same address and data: the exporter recovers by itself.
        with prometheus(tmp_path / "second", data_dir=data, port=port):
            samples = wait_for(running, fresh_after(successes), "a good evaluation after the restart")
        assert value(samples, c.HEALTH_STALE) == 0.0
        assert serving_truth(samples, truth)
        assert exporter.healthy


# ---- a Prometheus that answers 5xx, malformed JSON, or too late ---------------------------------

#: What each fault must say, in the report's words.
FAULTS = {
    "stopped": r"cannot reach Prometheus at http://127\.0\.0\.1:\d+",
    "5xx": r"Prometheus at http://127\.0\.0\.1:\d+ (answered HTTP 503|kept failing)",
    "malformed": r"returned a response that is not its API's JSON",
    "slow": r"did not answer within 1s",
}


def run_report(spec: Path, url: str, at: float):
    return CliRunner().invoke(main, ["report", str(spec), "--prometheus", url, "--retries", "0",
                                     "--timeout", f"{TIMEOUT:g}", "--at", str(at)])


@pytest.mark.parametrize("mode", FAULTS)
def test_report_fails_closed_with_a_clear_message_and_exit_three(mode, history, real_prometheus):
    truth, spec, _ = history
    with fake(real_prometheus.url) as server:
        server.mode = "proxy" if mode == "stopped" else mode
        target = f"http://127.0.0.1:{stack.free_port()}" if mode == "stopped" else server.url
        outcome = run_report(spec, target, truth.end)
        assert outcome.exit_code == 3, outcome.output
        assert re.search(FAULTS[mode], outcome.output), outcome.output
        assert "1 SLOs could not be computed" in outcome.output
        assert not re.search(r"\d\.\d{3}%", outcome.output), "a failed SLO must not show an SLI"
        assert "Traceback" not in outcome.output

        server.mode = "proxy"
        outcome = run_report(spec, server.url, truth.end)
        assert outcome.exit_code == 0, outcome.output
        assert f"{truth.sli() * 100:.3f}%" in outcome.output


@pytest.mark.parametrize("mode", ["5xx", "malformed", "slow"])
def test_exporter_survives_a_misbehaving_prometheus_and_recovers(mode, history, real_prometheus):
    truth, spec, _ = history
    with fake(real_prometheus.url) as server:
        server.mode = mode
        with exporting(spec, server.url, truth.end) as (exporter, running):
            # Failing from the start: no figures, every SLO says error, nothing is stale yet.
            samples = wait_for(running, fresh_after(0, "failure"), "a failed first evaluation")
            assert value(samples, c.EXPORT_SLI) is None
            assert value(samples, c.EXPORT_STATUS, slo="checkout", status="error") == 1.0
            assert value(samples, c.HEALTH_STALE) == 0.0
            assert value(samples, c.HEALTH_QUERY_ERRORS) >= 1
            assert requests.get(f"{running.url}/-/ready", timeout=5).status_code == 200

            server.mode = "proxy"
            samples = wait_for(running, fresh_after(0), "a good evaluation through the proxy")
            assert serving_truth(samples, truth)
            failures = value(samples, c.HEALTH_EVALUATIONS, result="failure")
            errors = value(samples, c.HEALTH_QUERY_ERRORS)

            # Failing after good values: they stay, marked stale.
            server.mode = mode
            samples = wait_for(running, fresh_after(failures, "failure"), "a failed evaluation")
            assert value(samples, c.HEALTH_STALE) == 1.0
            assert serving_truth(samples, truth)
            assert value(samples, c.HEALTH_QUERY_ERRORS) > errors
            assert exporter.healthy
            successes = value(samples, c.HEALTH_EVALUATIONS, result="success")

            server.mode = "proxy"
            samples = wait_for(running, fresh_after(successes), "a good evaluation after the fault")
            assert value(samples, c.HEALTH_STALE) == 0.0
            assert serving_truth(samples, truth)
