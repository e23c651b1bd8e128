"""The exporter without Prometheus: rendering hand-built reports, the evaluation loop's states, and serving."""

from __future__ import annotations

import base64
import datetime
import gzip
import ipaddress
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from sloengine.cli import main
from sloengine.engine.connection import Client, ConnectionConfig, QueryError
from sloengine.model import conventions as c
from sloengine.model.results import Report, SLOResult, Status
from sloengine.model.slo import Catalog
from sloengine.reports import exporter as ex
from sloengine.reports.exporter import BasicAuth, Exporter, Outcome, ServeError
from sloengine.specs.loader import load

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: checkout
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: shop_requests_total{code="500"}
        total: shop_requests_total
  - name: search
    objective: 99
    window: 30d
    sli:
      ratio:
        bad: search_requests_total{code="500"}
        total: search_requests_total
"""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def result(slo: str = "checkout", status: Status = Status.OK, **fields: Any) -> SLOResult:
    base = SLOResult(service="shop", slo=slo, objective=99.9, window="30d", window_seconds=30 * 86400.0,
                     status=status)
    if status is Status.ERROR:
        base = replace(base, error="cannot reach Prometheus at http://prom: connection refused")
    else:
        base = replace(base, sli=0.9995, good_events=9995.0, total_events=10000.0, budget_remaining=0.5,
                       burn_rates=(("5m", 0.25), ("1h", 0.5)), burn_rate_window="1h",
                       time_to_exhaustion_seconds=3600.0)
    return replace(base, **fields)


def report(*results: SLOResult, at: float = 1_700_000_000.0) -> Report:
    return Report(at=at, prometheus="http://prom", results=tuple(results))


def parse(text: str | bytes) -> Samples:
    if isinstance(text, bytes):
        text = text.decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labels(**extra: str) -> frozenset[tuple[str, str]]:
    return frozenset({"service": "shop", "slo": "checkout", "window": "30d", **extra}.items())


def value(samples: Samples, name: str, **match: str) -> float | None:
    found = [v for (n, lab), v in samples.items() if n == name and set(match.items()) <= lab]
    assert len(found) <= 1, f"{name} {match} matched {len(found)} samples"
    return found[0] if found else None


def catalog() -> Catalog:
    return load_spec(SPEC)


def load_spec(text: str) -> Catalog:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "shop.yaml"
        path.write_text(text)
        loaded = load((path,))
    assert not loaded.errors
    return loaded.catalog


class Scripted:
    """An ``evaluate`` that returns (or raises) the next scripted outcome, then repeats the last one."""

    def __init__(self, *outcomes: Report | BaseException) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def set(self, *outcomes: Report | BaseException) -> None:
        self.outcomes = list(outcomes)

    def __call__(self, catalog, client, at) -> Report:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def make_exporter(*outcomes: Report | BaseException, interval: float = 60.0) -> tuple[Exporter, Scripted]:
    script = Scripted(*outcomes)
    client = Client(ConnectionConfig(url="http://127.0.0.1:9", retries=0, timeout_seconds=1))
    exporter = Exporter(catalog(), client, interval_seconds=interval, evaluate=script, clock=lambda: 1_700_000_100.0)
    return exporter, script


def scraped(exporter: Exporter) -> Samples:
    chunks, _ = exporter.scrape()
    return parse(b"".join(chunks))


@pytest.fixture
def serving() -> Iterator[Callable[..., ex.Running]]:
    started: list[ex.Running] = []

    def start(exporter: Exporter, listen: str = "127.0.0.1:0", **kwargs) -> ex.Running:
        running = ex.start_server(exporter, listen, **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        running.close()


# ---- rendering ----------------------------------------------------------------------------------


def test_every_figure_is_exported_with_service_slo_and_window_labels():
    samples = parse(ex.render(report(result())))
    assert samples[(c.EXPORT_OBJECTIVE, labels())] == 0.999
    assert samples[(c.EXPORT_SLI, labels())] == 0.9995
    assert samples[(c.EXPORT_BUDGET_REMAINING, labels())] == 0.5
    assert samples[(c.EXPORT_TIME_TO_EXHAUSTION, labels())] == 3600.0
    assert samples[(c.EXPORT_GOOD_EVENTS, labels())] == 9995.0
    assert samples[(c.EXPORT_TOTAL_EVENTS, labels())] == 10000.0


def test_burn_rates_carry_their_alert_window_in_the_window_label():
    samples = parse(ex.render(report(result())))
    burn = {dict(lab)["window"]: v for (name, lab), v in samples.items() if name == c.EXPORT_BURN_RATE}
    assert burn == {"5m": 0.25, "1h": 0.5}


def test_status_is_a_state_set_with_one_for_the_current_status_only():
    samples = parse(ex.render(report(result(status=Status.AT_RISK))))
    states = {dict(lab)[c.LABEL_STATUS]: v for (name, lab), v in samples.items() if name == c.EXPORT_STATUS}
    assert states == {"ok": 0.0, "at_risk": 1.0, "breached": 0.0, "no_data": 0.0, "error": 0.0}


def test_unknown_figures_have_no_sample_rather_than_a_number():
    nothing = result(status=Status.NO_DATA, sli=None, good_events=None, total_events=None, budget_remaining=None,
                     time_to_exhaustion_seconds=None, burn_rates=(("5m", None), ("1h", None)))
    samples = parse(ex.render(report(nothing)))
    names = {name for name, _ in samples}
    assert names == {c.EXPORT_OBJECTIVE, c.EXPORT_STATUS}
    assert value(samples, c.EXPORT_STATUS, status="no_data") == 1.0


def test_nan_and_infinite_figures_are_never_exported():
    odd = result(budget_remaining=float("-inf"), sli=float("nan"), time_to_exhaustion_seconds=float("inf"),
                 burn_rates=(("5m", float("nan")), ("1h", 2.0)))
    text = ex.render(report(odd)).decode()
    assert "NaN" not in text and "Inf" not in text
    samples = parse(text)
    assert value(samples, c.EXPORT_BUDGET_REMAINING) is None
    assert value(samples, c.EXPORT_BURN_RATE, window="1h") == 2.0


def test_grouped_slis_carry_their_group_labels_and_a_clashing_status_label_is_prefixed():
    grouped = report(result(group=(("region", "eu"),)), result(group=(("region", "us"),), sli=0.99),
                     result(slo="search", group=(("status", "5xx"),)))
    samples = parse(ex.render(grouped))
    assert value(samples, c.EXPORT_SLI, region="eu") == 0.9995
    assert value(samples, c.EXPORT_SLI, region="us") == 0.99
    assert value(samples, c.EXPORT_STATUS, slo="search", exported_status="5xx", status="ok") == 1.0


def test_a_failed_slo_shows_only_its_objective_and_status_error():
    samples = parse(ex.render(report(result(status=Status.ERROR))))
    assert {name for name, _ in samples} == {c.EXPORT_OBJECTIVE, c.EXPORT_STATUS}
    assert value(samples, c.EXPORT_STATUS, status="error") == 1.0


def test_a_duplicated_result_is_exported_once_so_prometheus_accepts_the_scrape():
    samples = parse(ex.render(report(result(), result(sli=0.5))))
    assert value(samples, c.EXPORT_SLI) == 0.9995


# ---- the evaluation loop's states ---------------------------------------------------------------


def test_a_good_evaluation_is_served_fresh_and_sets_the_last_success_time():
    exporter, _ = make_exporter(report(result(), result(slo="search")))
    assert not exporter.ready
    assert exporter.evaluate_once() is Outcome.SUCCESS
    samples = scraped(exporter)
    assert exporter.ready
    assert value(samples, c.EXPORT_SLI, slo="checkout") == 0.9995
    assert value(samples, c.HEALTH_STALE) == 0.0
    assert value(samples, c.HEALTH_LAST_SUCCESS) == 1_700_000_100.0
    assert value(samples, c.HEALTH_EVALUATIONS, result="success") == 1.0
    assert value(samples, c.HEALTH_SLOS) == 2.0


def test_exporter_keeps_last_values_and_marks_them_stale_when_every_slo_fails():
    exporter, script = make_exporter(report(result(), result(slo="search")))
    exporter.evaluate_once()
    script.set(report(result(status=Status.ERROR), result(slo="search", status=Status.ERROR)))
    assert exporter.evaluate_once() is Outcome.FAILURE
    samples = scraped(exporter)
    assert value(samples, c.EXPORT_SLI, slo="checkout") == 0.9995
    assert value(samples, c.EXPORT_STATUS, slo="checkout", status="ok") == 1.0
    assert value(samples, c.HEALTH_STALE) == 1.0
    assert value(samples, c.HEALTH_EVALUATIONS, result="failure") == 1.0
    assert value(samples, c.HEALTH_LAST_SUCCESS) == 1_700_000_100.0


def test_exporter_recovers_by_itself_on_the_next_good_evaluation():
    exporter, script = make_exporter(report(result()), report(result(status=Status.ERROR)),
                                     report(result(sli=0.9991)))
    for _ in range(3):
        exporter.evaluate_once()
    samples = scraped(exporter)
    assert value(samples, c.HEALTH_STALE) == 0.0
    assert value(samples, c.EXPORT_SLI) == 0.9991


def test_when_only_some_slos_fail_the_new_values_are_served_with_status_error_for_the_failed():
    exporter, script = make_exporter(report(result(), result(slo="search")))
    exporter.evaluate_once()
    script.set(report(result(sli=0.9992), result(slo="search", status=Status.ERROR)))
    assert exporter.evaluate_once() is Outcome.PARTIAL
    samples = scraped(exporter)
    assert value(samples, c.EXPORT_SLI, slo="checkout") == 0.9992
    assert value(samples, c.EXPORT_SLI, slo="search") is None
    assert value(samples, c.EXPORT_STATUS, slo="search", status="error") == 1.0
    assert value(samples, c.HEALTH_STALE) == 0.0
    assert value(samples, c.HEALTH_EVALUATIONS, result="partial") == 1.0


def test_before_any_good_values_a_failure_is_served_as_status_error_without_figures():
    exporter, _ = make_exporter(report(result(status=Status.ERROR), result(slo="search", status=Status.ERROR)))
    exporter.evaluate_once()
    samples = scraped(exporter)
    assert exporter.ready
    assert value(samples, c.EXPORT_SLI, slo="checkout") is None
    assert value(samples, c.EXPORT_STATUS, slo="checkout", status="error") == 1.0
    assert value(samples, c.HEALTH_STALE) == 0.0
    assert value(samples, c.HEALTH_LAST_SUCCESS) == 0.0


def test_an_unexpected_exception_fails_closed_with_every_slo_in_error():
    exporter, _ = make_exporter(ZeroDivisionError("a bug"))
    assert exporter.evaluate_once() is Outcome.FAILURE
    samples = scraped(exporter)
    assert value(samples, c.EXPORT_STATUS, slo="checkout", status="error") == 1.0
    assert value(samples, c.EXPORT_STATUS, slo="search", status="error") == 1.0
    assert value(samples, c.HEALTH_EVALUATIONS, result="failure") == 1.0


def test_an_unexpected_exception_after_good_values_keeps_them_stale():
    exporter, script = make_exporter(report(result()))
    exporter.evaluate_once()
    script.set(RuntimeError("a bug"))
    exporter.evaluate_once()
    samples = scraped(exporter)
    assert value(samples, c.EXPORT_SLI) == 0.9995
    assert value(samples, c.HEALTH_STALE) == 1.0


def test_the_loop_survives_exceptions_and_keeps_evaluating():
    exporter, script = make_exporter(RuntimeError("a bug"), interval=0.02)
    exporter.start()
    try:
        deadline = time.monotonic() + 10
        while script.calls < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert script.calls >= 5
        assert exporter.healthy
        script.set(report(result()))
        while value(scraped(exporter), c.EXPORT_SLI) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert value(scraped(exporter), c.EXPORT_SLI) == 0.9995
    finally:
        exporter.stop()
    assert not exporter.healthy


def test_failed_queries_are_counted_where_they_are_raised():
    class Failing:
        url = "http://prom"
        queries = 0

        def query(self, expr: str, at: float) -> list[dict]:
            raise QueryError(QueryError.UNREACHABLE, "down")

        def close(self) -> None:
            pass

    counting = ex.CountingClient(Failing())  # type: ignore[arg-type]
    for _ in range(3):
        with pytest.raises(QueryError):
            counting.query("up", 0.0)
    assert counting.errors == 3


def test_the_slo_part_is_rendered_once_per_evaluation_not_per_scrape(monkeypatch):
    renders: list[Report] = []
    real_render = ex.render
    monkeypatch.setattr(ex, "render", lambda r: renders.append(r) or real_render(r))
    exporter, _ = make_exporter(report(result()))
    exporter.evaluate_once()
    bodies = [exporter.scrape()[0] for _ in range(5)]
    assert len(renders) == 1
    assert all(chunks[1] is exporter.cached.text for chunks in bodies)


def test_a_gzipped_scrape_is_the_same_text_as_a_plain_one():
    exporter, _ = make_exporter(report(result(), result(slo="search")))
    exporter.evaluate_once()
    plain, _ = exporter.scrape(accept_gzip=False)
    zipped, is_gzip = exporter.scrape(accept_gzip=True)
    assert is_gzip
    assert gzip.decompress(b"".join(zipped)) == b"".join(plain)


# ---- serving ------------------------------------------------------------------------------------


def test_the_server_binds_loopback_by_default(serving):
    assert ex.parse_listen(c.EXPORTER_DEFAULT_LISTEN) == ("127.0.0.1", 9099)
    serve_listen = next(p for p in main.commands["serve"].params if p.name == "listen")
    assert serve_listen.default == c.EXPORTER_DEFAULT_LISTEN
    exporter, _ = make_exporter(report(result()))
    running = serving(exporter, ":0")
    assert running.server.socket.getsockname()[0] == "127.0.0.1"


def test_metrics_ready_and_healthy_endpoints(serving):
    exporter, _ = make_exporter(report(result()), interval=3600)
    running = serving(exporter)
    assert requests.get(f"{running.url}/-/ready", timeout=5).status_code == 503
    assert requests.get(f"{running.url}/-/healthy", timeout=5).status_code == 503
    exporter.start()
    try:
        deadline = time.monotonic() + 10
        while not exporter.ready and time.monotonic() < deadline:
            time.sleep(0.01)
        assert requests.get(f"{running.url}/-/ready", timeout=5).status_code == 200
        assert requests.get(f"{running.url}/-/healthy", timeout=5).status_code == 200
        response = requests.get(f"{running.url}/metrics", timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert response.headers["Content-Encoding"] == "gzip"   # requests asks for it, and unpacks it
        assert value(parse(response.text), c.EXPORT_SLI) == 0.9995
        assert requests.get(f"{running.url}/nope", timeout=5).status_code == 404
        assert requests.post(f"{running.url}/metrics", timeout=5).status_code == 405
    finally:
        exporter.stop()


def test_basic_auth_answers_401_with_a_challenge_unless_the_credentials_match(serving):
    exporter, _ = make_exporter(report(result()))
    exporter.evaluate_once()
    running = serving(exporter, auth=BasicAuth("prom", "s3cret:with colon"))
    url = f"{running.url}/metrics"
    missing = requests.get(url, timeout=5)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic ")
    assert requests.get(url, auth=("prom", "wrong"), timeout=5).status_code == 401
    assert requests.get(url, auth=("other", "s3cret:with colon"), timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Basic !!notbase64"}, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5).status_code == 401
    good = requests.get(url, auth=("prom", "s3cret:with colon"), timeout=5)
    assert good.status_code == 200
    assert value(parse(good.text), c.EXPORT_SLI) == 0.9995
    header = "Basic " + base64.b64encode(b"prom:s3cret:with colon").decode()
    assert requests.get(f"{running.url}/-/ready", headers={"Authorization": header}, timeout=5).status_code == 200
    assert requests.get(f"{running.url}/-/ready", timeout=5).status_code == 401


def test_basic_auth_password_comes_from_its_file_or_the_environment(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    assert ex.basic_auth("prom", secret, env={}) == BasicAuth("prom", "from-file")
    assert ex.basic_auth("prom", None, env={c.ENV_EXPORTER_PASSWORD: "from-env"}) == BasicAuth("prom", "from-env")
    assert ex.basic_auth(None, None, env={}) is None
    with pytest.raises(ServeError, match="needs a password"):
        ex.basic_auth("prom", None, env={})
    with pytest.raises(ServeError, match="needs --basic-auth-user"):
        ex.basic_auth(None, secret, env={})
    assert "from-file" not in repr(ex.basic_auth("prom", secret, env={}))


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made with ``cryptography`` (else the openssl command)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("needs the cryptography package or the openssl command to make a certificate")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


def test_tls_serves_https_that_verifies_against_its_certificate(serving, tmp_path):
    cert, key = self_signed(tmp_path)
    exporter, _ = make_exporter(report(result()))
    exporter.evaluate_once()
    running = serving(exporter, tls_files=ex.TLS(cert, key))
    assert running.url.startswith("https://127.0.0.1:")
    response = requests.get(f"{running.url}/metrics", verify=str(cert), timeout=5)
    assert value(parse(response.text), c.EXPORT_SLI) == 0.9995
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{running.port}/metrics", timeout=5)


def test_a_client_that_never_starts_its_tls_handshake_does_not_block_the_others(serving, tmp_path):
    cert, key = self_signed(tmp_path)
    exporter, _ = make_exporter(report(result()))
    exporter.evaluate_once()
    running = serving(exporter, tls_files=ex.TLS(cert, key))
    with socket.create_connection(("127.0.0.1", running.port)):
        response = requests.get(f"{running.url}/-/ready", verify=str(cert), timeout=5)
    assert response.status_code == 200


def test_unusable_server_settings_are_clear_errors(tmp_path):
    exporter, _ = make_exporter(report(result()))
    for listen in ("9099", "localhost:http", "127.0.0.1:99999"):
        with pytest.raises(ServeError, match="host:port"):
            ex.parse_listen(listen)
    with pytest.raises(ServeError, match="both"):
        ex.tls(tmp_path / "cert.pem", None)
    (tmp_path / "cert.pem").write_text("not a certificate")
    with pytest.raises(ServeError, match="cannot load the TLS certificate"):
        ex.start_server(exporter, "127.0.0.1:0", tls_files=ex.TLS(tmp_path / "cert.pem", tmp_path / "cert.pem"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ServeError, match="cannot listen on"):
            ex.start_server(exporter, f"127.0.0.1:{taken.getsockname()[1]}")


# ---- the command --------------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--listen", "nowhere"], "host:port"),
    (["--interval", "0s"], "--interval"),
    (["--interval", "soon"], "--interval"),
    (["--basic-auth-user", "prom"], "needs a password"),
])
def test_serve_reports_bad_settings_without_a_traceback(tmp_path, monkeypatch, args, message):
    monkeypatch.delenv(c.ENV_EXPORTER_PASSWORD, raising=False)
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    outcome = CliRunner().invoke(main, ["serve", str(spec), "--prometheus", "http://127.0.0.1:9", *args])
    assert outcome.exit_code in (1, 2)
    assert message in outcome.output
    assert "Traceback" not in outcome.output and not isinstance(outcome.exception, (TypeError, AttributeError))


def test_serve_needs_both_tls_files_and_a_user_for_a_password_file(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    some_file = tmp_path / "file.pem"
    some_file.write_text("x")
    base = ["serve", str(spec), "--prometheus", "http://127.0.0.1:9"]
    outcome = CliRunner().invoke(main, [*base, "--tls-cert-file", str(some_file)])
    assert outcome.exit_code == 1 and "both --tls-cert-file and --tls-key-file" in outcome.output
    outcome = CliRunner().invoke(main, [*base, "--basic-auth-password-file", str(some_file)])
    assert outcome.exit_code == 1 and "needs --basic-auth-user" in outcome.output


def test_serve_stops_cleanly_on_sigterm_with_exit_zero(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    # Port 0: the exporter picks a free port itself and says which (a port picked here could be taken by another
    # process before the exporter binds it).
    process = subprocess.Popen([sys.executable, "-m", "sloengine.cli", "serve", str(spec), "--prometheus",
                                "http://127.0.0.1:9", "--retries", "0", "--timeout", "1", "--interval", "1s",
                                "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    lines: queue.Queue[str] = queue.Queue()
    err_lines: list[str] = []

    def read_stderr() -> None:
        for line in process.stderr:
            err_lines.append(line)
            lines.put(line)
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline and (process.poll() is None or not lines.empty()):
            try:
                found = re.search(r"serving \d+ SLOs on (http://127\.0\.0\.1:\d+)/metrics", lines.get(timeout=0.5))
            except queue.Empty:
                continue
            url = found and found.group(1)
        assert url, "".join(err_lines) if process.poll() is not None else "not serving"
        ready = False
        while not ready and time.monotonic() < deadline and process.poll() is None:
            ready = requests.get(f"{url}/-/ready", timeout=5).status_code == 200
            time.sleep(0 if ready else 0.1)
        assert ready, "".join(err_lines) if process.poll() is not None else "not ready"
        samples = parse(requests.get(f"{url}/metrics", timeout=5).text)
        assert value(samples, c.EXPORT_STATUS, slo="checkout", status="error") == 1.0
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    err = "".join(err_lines)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "cannot reach Prometheus" in err and "stopped" in err
