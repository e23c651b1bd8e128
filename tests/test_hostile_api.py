"""A Prometheus-compatible API that misbehaves: every command that reads it fails closed, in time, with the reason.

Each hostile server is a small ``http.server`` on 127.0.0.1 in this process:
sample values no counter can hold, answers of the wrong shape, a body dripped
a byte at a time or far too large, ``Retry-After`` asking for minutes, a
redirect to another host, refused credentials, escape sequences in what it
says. The commands must answer ``error`` (or ``no_data``) with the reason and
exit 3, within the deadline, never print the server's control characters raw,
and never show a NaN, an infinity or a healthy figure made of nonsense. Time
bounds are generous (a 3 s deadline must end within 20 s) so that a busy
machine cannot fail them.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from sloengine.cli import EXIT_ERROR, main
from sloengine.engine.connection import Client, ConnectionConfig, QueryError
from sloengine.engine.counts import plan
from sloengine.model import conventions as c
from sloengine.model.terminal import printable
from sloengine.reports import exporter as ex
from sloengine.reports.exporter import Exporter, Outcome
from sloengine.specs.loader import load

AT = 1_700_000_000.0

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
"""

GROUPED_SPEC = SPEC.replace("        total: shop_requests_total\n",
                            "        total: shop_requests_total\n        group_by: [route]\n")

PROBE_SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: home}
slos:
  - name: probe
    objective: 99.5
    window: 7d
    sli:
      probe:
        metric: probe_success{job="blackbox"}
"""

#: Characters a terminal would obey: clear the screen, retitle the window, ring the bell, a CSI in C1.
HOSTILE_TEXT = "\x1b[2J\x1b]0;pwned\x07\x9b31m\r\nfake row"


# ---- a hostile API ------------------------------------------------------------------------------

Answer = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    server: Fake

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        with self.server.lock:
            self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        with suppress(OSError):   # the client gave up on a dripped or oversized answer, as it should
            self.server.answer(self)

    do_GET = do_POST = _handle

    def reply(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = (),
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class Fake(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = answer
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.sent = 0   # bytes of a streamed body written before the client hung up

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def hostile(answer: Answer) -> Iterator[Fake]:
    server = Fake(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def payload(result: Any, kind: str = "vector") -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": kind, "result": result}}).encode()


def always(body: bytes, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    return lambda h: h.reply(status, body, headers)


def recorded(value: Any, spec: str = SPEC, **extra: str) -> bytes:
    """Every recorded series of the spec's first SLO, for every window it needs, with ``value``."""
    slo = catalog(spec).slos[0]
    return payload([{"metric": {"__name__": "x", "service": slo.service, "slo": slo.name, "window": w, **extra},
                     "value": [AT, value]} for w, _ in plan(slo, AT).windows])


def catalog(spec: str = SPEC):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(spec)
        loaded = load((path,))
    assert not loaded.errors
    return loaded.catalog


@pytest.fixture
def spec_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str = SPEC) -> Path:
        path = tmp_path / f"spec{len(list(tmp_path.iterdir()))}.yaml"
        path.write_text(text)
        return path

    return write


def report(spec: Path, url: str, *args: str, timeout: str = "2", retries: str = "0"):
    return CliRunner().invoke(main, ["report", str(spec), "--prometheus", url, "--timeout", timeout,
                                     "--retries", retries, "--at", str(int(AT)), *args])


def no_traceback(outcome: Any) -> None:
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), outcome.exception
    assert "Traceback" not in outcome.output


def strict_json(text: str) -> Any:
    """JSON in which NaN and ±Infinity are errors, as they are for every other JSON reader."""
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} in the JSON output")

    return json.loads(text, parse_constant=refuse)


# ---- values no counter can hold -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["+Inf", "-Inf", "NaN", "1e308", "-5"])
def test_inf_samples_make_the_slo_an_error_not_a_traceback(value, spec_file):
    spec = spec_file()
    with hostile(always(recorded(value))) as server:
        table = report(spec, server.url)
        document = report(spec, server.url, "--format", "json")
    for outcome in (table, document):
        no_traceback(outcome)
        assert outcome.exit_code == EXIT_ERROR, outcome.output
    assert "not a count" in table.output and "error" in table.output
    assert "%" not in table.output.split("\n")[2], "a figure was shown for an SLO in error"
    (slo,) = strict_json(document.stdout)["slos"]
    assert slo["status"] == "error" and "not a count" in slo["error"]
    assert slo["sli"] is None and slo["total_events"] is None


def test_a_probe_of_1e308_good_samples_is_an_error_not_a_healthy_probe(spec_file):
    spec = spec_file(PROBE_SPEC)
    slo = catalog(PROBE_SPEC).slos[0]
    windows = len(plan(slo, AT).windows)
    # sum_over_time and count_over_time per window, as the raw path asks for them.
    series = [{"metric": {"job": "blackbox", "sloengine_window": f"{kind}{i}"}, "value": [AT, value]}
              for i in range(windows) for kind, value in (("s", "1e308"), ("c", "10"))]
    with hostile(always(payload(series))) as server:
        outcome = report(spec, server.url, "--raw", "--format", "json")
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    (result,) = strict_json(outcome.stdout)["slos"]
    assert result["status"] == "error" and result["sli"] is None, result


def test_a_nan_error_ratio_is_no_data_but_an_infinite_one_is_an_error():
    from sloengine.engine.counts import Counts
    from sloengine.engine.reading import implausible
    from sloengine.model.results import Source

    assert implausible(Counts(Source.QUERY, ratio={"1h": float("nan")})) == ""
    assert "+Inf" in implausible(Counts(Source.QUERY, ratio={"1h": float("inf")}))
    assert "more good events than events" in implausible(Counts(Source.RAW, bad={"1h": -3.0}, total={"1h": 10.0}))
    assert implausible(Counts(Source.RAW, bad={"1h": 0.0}, total={"1h": 2.0 ** 53})) == ""
    assert "not a count" in implausible(Counts(Source.RAW, bad={"1h": 0.0}, total={"1h": 2.0 ** 53 + 2}))


# ---- answers of the wrong shape ------------------------------------------------------------------


@pytest.mark.parametrize("body, words", [
    (payload([{"metric": {}, "value": [AT, "lots"]}]), "'lots' is not a number"),
    (payload([{"metric": {}}]), "not a [time, value] pair"),
    (payload([{"metric": {}, "value": "1"}]), "not a [time, value] pair"),
    (payload([{"metric": {}, "value": [AT, "1", "2"]}]), "not a [time, value] pair"),
    (payload([{"metric": {"route": 5}, "value": [AT, "1"]}]), "not names and string values"),
    (payload({"metric": {}, "value": [AT, "1"]}), "data.result is"),
    (payload("hello", "string"), "a string, not numbers"),
    (payload([[AT, "1"]], "matrix"), "not an object"),
    (payload([{"metric": {}, "values": [[AT, None]]}], "matrix"), "not a number"),
    (json.dumps({"status": "success"}).encode(), 'no "data" object'),
    (json.dumps([1, 2]).encode(), "not an object"),
    (json.dumps({"status": "pending", "data": {}}).encode(), '"status" is'),
    (b"<html>login</html>", "not its API's JSON"),
])
def test_an_answer_of_the_wrong_shape_is_malformed_and_exits_3(body, words, spec_file):
    spec = spec_file()
    with hostile(always(body)) as server:
        outcome = report(spec, server.url, "--format", "json")
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR, outcome.output
    (slo,) = strict_json(outcome.stdout)["slos"]
    assert slo["status"] == "error" and words in slo["error"], slo["error"]


def test_a_range_vector_answering_an_instant_query_is_malformed(spec_file):
    spec = spec_file()
    with hostile(always(payload([{"metric": {}, "values": [[AT, "1"]]}], "matrix"))) as server:
        outcome = report(spec, server.url)
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR and "range vector" in outcome.output


def test_empty_results_are_no_data_never_a_healthy_figure_and_exit_3(spec_file):
    spec = spec_file()
    with hostile(always(payload([]))) as server:
        outcome = report(spec, server.url, "--format", "json")
        accepted = report(spec, server.url, "--format", "json", "--allow-no-data")
    no_traceback(outcome)
    (slo,) = strict_json(outcome.stdout)["slos"]
    assert slo["status"] == "no_data" and slo["sli"] is None and slo["error_budget_remaining"] is None
    assert outcome.exit_code == EXIT_ERROR and "1 SLOs have no data" in outcome.stderr
    assert accepted.exit_code == 0 and strict_json(accepted.stdout)["slos"][0]["status"] == "no_data"


def test_a_scalar_answer_is_read_as_one_sample():
    with hostile(always(payload([AT, "0.25"], "scalar"))) as server:
        assert Client(ConnectionConfig(url=server.url)).query("0.25", AT) == [{"metric": {}, "value": (AT, 0.25)}]


# ---- slow, huge, redirected, refused --------------------------------------------------------------


def drip(headers_first: bool = True) -> Answer:
    """A byte every 0.2 s for up to a minute: each read is quick, the answer never ends."""
    def answer(h: Handler) -> None:
        if headers_first:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            h.wfile.flush()
        else:
            h.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(300):
            h.wfile.write(b" " if headers_first else b"X-Drip: a\r\n"[:1])
            h.wfile.flush()
            time.sleep(0.2)
    return answer


@pytest.mark.parametrize("headers_first", [True, False], ids=["body", "headers"])
def test_a_dripping_answer_is_cut_at_the_timeout(headers_first, spec_file):
    spec = spec_file()
    with hostile(drip(headers_first)) as server:
        started = time.monotonic()
        outcome = report(spec, server.url, timeout="1")
        elapsed = time.monotonic() - started
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    assert "did not answer within 1s" in outcome.output
    assert elapsed < 20, elapsed


def test_a_dripped_tls_handshake_is_cut_at_the_timeout():
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with suppress(OSError), conn:
            conn.recv(4096)                           # the ClientHello
            conn.sendall(b"\x16\x03\x03\x40\x00")       # a handshake record of 16 KiB, sent a byte at a time
            while not stop.wait(0.2):
                conn.sendall(b"\x00")

    threading.Thread(target=serve, daemon=True).start()
    client = Client(ConnectionConfig(url=f"https://127.0.0.1:{listener.getsockname()[1]}", retries=0,
                                     timeout_seconds=1, insecure_skip_verify=True))
    started = time.monotonic()
    try:
        with pytest.raises(QueryError) as caught:
            client.query("up", AT)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 20
    assert caught.value.kind == QueryError.UNREACHABLE and "within 1s" in str(caught.value)


def test_the_whole_run_ends_at_its_deadline_however_many_retries(spec_file):
    spec = spec_file()
    # Without the deadline: 9 attempts of 1 s and 127.5 s of backoff between them.
    with hostile(drip()) as server:
        started = time.monotonic()
        outcome = report(spec, server.url, "--deadline", "3", timeout="1", retries="8")
        elapsed = time.monotonic() - started
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    assert elapsed < 20, elapsed
    assert "deadline of 3s" in outcome.output or "did not answer within" in outcome.output, outcome.output


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_beyond_the_deadline_is_not_waited_for(status, spec_file):
    spec = spec_file()
    with hostile(always(b"busy\n", status, (("Retry-After", "120"),))) as server:
        started = time.monotonic()
        outcome = report(spec, server.url, "--deadline", "3", timeout="5", retries="3")
        elapsed = time.monotonic() - started
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    assert elapsed < 20, elapsed
    assert f"answered HTTP {status}" in outcome.output and "retried after 120s" in outcome.output
    assert len(server.requests) == 1


def test_retries_zero_means_one_request_whatever_retry_after_says(spec_file):
    spec = spec_file()
    with hostile(always(b"busy\n", 503, (("Retry-After", "120"),))) as server:
        started = time.monotonic()
        outcome = report(spec, server.url, timeout="5", retries="0")
        elapsed = time.monotonic() - started
    assert outcome.exit_code == EXIT_ERROR and elapsed < 20 and len(server.requests) == 1


def test_retry_after_within_the_deadline_and_retries_is_honoured():
    answers = [(503, b"busy", (("Retry-After", "1"),)), (200, payload([]), ())]

    def answer(h: Handler) -> None:
        status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        h.reply(status, body, headers)

    with hostile(answer) as server:
        client = Client(ConnectionConfig(url=server.url, retries=2, backoff_seconds=0.01, deadline_seconds=10))
        started = time.monotonic()
        assert client.query("up", AT) == []
        assert time.monotonic() - started >= 0.9
    assert len(server.requests) == 2


def test_the_default_deadline_is_derived_from_the_timeout_and_retries():
    assert ConnectionConfig(url="http://x", timeout_seconds=5, retries=0).run_seconds() == 50
    assert ConnectionConfig(url="http://x", timeout_seconds=30, retries=3).run_seconds() == 1200
    assert ConnectionConfig(url="http://x", deadline_seconds=7).run_seconds() == 7


def test_bad_deadline_and_size_settings_are_usage_errors(spec_file):
    spec = spec_file()
    for flag, value in (("--deadline", "0"), ("--deadline", "inf"), ("--max-response-bytes", "0")):
        outcome = report(spec, "http://127.0.0.1:9", flag, value)
        assert outcome.exit_code == 1 and "Traceback" not in outcome.output, outcome.output


def test_a_response_larger_than_the_limit_is_an_error_and_is_not_read_whole(spec_file):
    chunk = b" " * 65536

    def endless(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()     # no length: the body ends when the connection does
        for _ in range(3200):   # 200 MiB
            h.wfile.write(chunk)
            h.server.sent += len(chunk)

    spec = spec_file()
    with hostile(endless) as server:
        outcome = report(spec, server.url, "--max-response-bytes", str(1 << 20))
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    assert "response larger than 1 MiB" in outcome.output
    assert server.sent < 64 << 20, "the client kept reading far past its limit"


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    def declared(h: Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(200 << 20))
        h.end_headers()
        h.wfile.write(b"{")

    with hostile(declared) as server:
        client = Client(ConnectionConfig(url=server.url, retries=0, max_response_bytes=1 << 20))
        with pytest.raises(QueryError) as caught:
            client.query("up", AT)
    assert caught.value.kind == QueryError.TOO_LARGE and "larger than 1 MiB" in str(caught.value)


def test_a_redirect_to_another_host_is_refused_and_sends_it_nothing():
    with hostile(always(payload([]))) as elsewhere:
        # Another host name for the same machine: only the host differs, and that is enough.
        target = elsewhere.url.replace("127.0.0.1", "localhost") + "/api/v1/query"
        with hostile(always(b"", 307, (("Location", target),))) as server:
            client = Client(ConnectionConfig(url=server.url, retries=0, bearer_token="s3cret",
                                             headers=(("X-Scope-OrgID", "tenant-1"),)))
            with pytest.raises(QueryError) as caught:
                client.query("up", AT)
    assert "redirected to http://localhost" in str(caught.value) and "not followed" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert elsewhere.requests == []


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/api/v1/query", "http://[::1/api/v1/query",
                                      "ftp://127.0.0.1/x"])
def test_a_redirect_to_an_address_that_cannot_be_reached_is_refused_without_a_traceback(location):
    with hostile(always(b"", 302, (("Location", location),))) as server, pytest.raises(QueryError) as caught:
        Client(ConnectionConfig(url=server.url, retries=0)).query("up", AT)
    assert "not followed" in str(caught.value) or "Invalid IPv6 URL" in str(caught.value)
    assert len(server.requests) == 1


def test_a_url_without_a_reachable_port_is_a_settings_error(spec_file):
    outcome = report(spec_file(), "http://127.0.0.1:99999")
    assert outcome.exit_code == 1 and "port that is not 0 to 65535" in outcome.output
    assert "Traceback" not in outcome.output


def test_a_redirect_on_the_same_host_is_followed_with_the_credentials():
    def answer(h: Handler) -> None:
        if h.path.startswith("/prometheus/"):
            h.reply(200, payload([]))
        else:
            h.reply(308, b"", (("Location", "/prometheus" + h.path),))

    with hostile(answer) as server:
        client = Client(ConnectionConfig(url=server.url, retries=0, bearer_token="tok",
                                         headers=(("X-Scope-OrgID", "tenant-1"),)))
        assert client.query("up", AT) == []
    first, second = server.requests
    assert second["path"] == "/prometheus/api/v1/query" and "query=up" in second["body"]
    assert second["headers"]["Authorization"] == "Bearer tok" and second["headers"]["X-Scope-OrgID"] == "tenant-1"


@pytest.mark.parametrize("status, name", [(401, "Unauthorized"), (403, "Forbidden")])
def test_refused_credentials_exit_3_naming_the_status(status, name, spec_file):
    spec = spec_file()
    with hostile(always(b'{"status":"error","error":"authentication required"}', status)) as server:
        outcome = report(spec, server.url)
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    assert f"HTTP {status} {name}" in outcome.output and "credentials were refused" in outcome.output
    assert len(server.requests) == 1, "a refusal is not retried, nor asked again per SLO"


# ---- what the server says reaches the terminal escaped ------------------------------------------


def test_printable_escapes_every_control_character_and_keeps_what_it_is_told_to():
    assert printable("plain text, ünïcode") == "plain text, ünïcode"
    assert printable("a\x1b[31mb\x07c\x9bd\u202ee") == "a\\u001b[31mb\\u0007c\\u009bd\\u202ee"
    assert printable("line\nnext\r", keep="\n") == "line\nnext\\u000d"
    assert json.loads(printable(json.dumps({"x": "\x9b\x1b"}, ensure_ascii=False))) == {"x": "\x9b\x1b"}


@pytest.mark.parametrize("fmt", ["table", "markdown", "html", "json"])
def test_control_characters_in_server_errors_are_escaped_in_every_format(fmt, spec_file):
    spec = spec_file()
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": HOSTILE_TEXT}).encode()
    with hostile(always(body, 422)) as server:
        outcome = report(spec, server.url, "--format", fmt)
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    for raw in "\x1b\x07\x9b\r":
        assert raw not in outcome.output, (raw, outcome.output)
    # Markdown also escapes its own syntax ("[" opens a link there).
    assert ("\\u001b\\[2J" if fmt == "markdown" else "\\u001b[2J") in outcome.output or fmt == "json"
    if fmt == "json":
        (slo,) = strict_json(outcome.stdout)["slos"]
        assert HOSTILE_TEXT in slo["error"]   # the data itself is kept, only its printing is escaped


def test_control_characters_in_label_values_are_escaped_in_the_table(spec_file):
    spec = spec_file(GROUPED_SPEC)
    with hostile(always(recorded("10", GROUPED_SPEC, route="\x1b[31m/evil\r"))) as server:
        outcome = report(spec, server.url)
    no_traceback(outcome)
    assert "\x1b" not in outcome.output and "\r" not in outcome.output
    assert "route=\\u001b[31m/evil\\u000d" in outcome.output


def test_control_characters_in_spec_names_are_escaped_in_diagnostics(spec_file):
    spec = spec_file('version: "prometheus/v1"\nservice: "my\\e[31mservice"\nslos:\n'
                     '  - name: "requests\\e]0;x\\a-availability"\n    objective: 99.9\n    sli:\n      events:\n'
                     '        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))\n'
                     '        total_query: sum(rate(http_requests_total[{{.window}}]))\n'
                     '    alerting:\n      name: MyServiceHighErrorRate\n')
    for command in ("validate", "show"):
        outcome = CliRunner().invoke(main, [command, str(spec)])
        no_traceback(outcome)
        assert outcome.exit_code == 1 and "my\\u001b[31mservice" in outcome.output
        assert "\x1b" not in outcome.output and "\x07" not in outcome.output


def test_recommend_and_validate_fail_closed_and_escape_what_the_server_says(spec_file):
    spec = spec_file()
    body = json.dumps({"status": "error", "error": HOSTILE_TEXT}).encode()
    with hostile(always(body, 500)) as server:
        args = ["--prometheus", server.url, "--retries", "0", "--timeout", "2"]
        recommended = CliRunner().invoke(main, ["recommend", str(spec), *args, "--at", str(int(AT))])
        validated = CliRunner().invoke(main, ["validate", str(spec), *args])
    for outcome in (recommended, validated):
        no_traceback(outcome)
        assert outcome.exit_code == EXIT_ERROR, outcome.output
        assert "answered HTTP 500" in outcome.output
        assert "\x1b" not in outcome.output and "\x07" not in outcome.output


def test_recommend_refuses_infinite_counter_samples(spec_file):
    spec = spec_file()
    series = [{"metric": {"code": "200"}, "values": [[AT - 60, "1"], [AT, "+Inf"]]}]
    with hostile(always(payload(series, "matrix"))) as server:
        outcome = CliRunner().invoke(main, ["recommend", str(spec), "--prometheus", server.url, "--retries", "0",
                                            "--at", str(int(AT)), "--format", "json"])
    no_traceback(outcome)
    assert outcome.exit_code == EXIT_ERROR
    (rec,) = strict_json(outcome.stdout)["recommendations"]
    assert rec["verdict"] == "error" and "+Inf" in rec["error"]


SLA_SPEC = SPEC + """\
agreements:
  - name: acme
    kind: sla
    provider: shop-inc
    customer: acme
    objective: 99.5
    period: {calendar: month, timezone: UTC}
    covers: [{slo: checkout}]
"""


@pytest.mark.parametrize("fmt", ["markdown", "html", "json"])
def test_sla_report_refuses_infinite_samples_and_escapes_server_errors(fmt, spec_file):
    spec = spec_file(SLA_SPEC)
    series = [{"metric": {"code": "200"}, "values": [[AT - 60, "1"], [AT, "+Inf"]]}]
    args = ["--period", "2023-11", "--at", str(int(AT)), "--format", fmt, "--retries", "0"]
    with hostile(always(payload(series, "matrix"))) as server:
        infinite = CliRunner().invoke(main, ["sla-report", str(spec), "--prometheus", server.url, *args])
    body = json.dumps({"status": "error", "error": HOSTILE_TEXT}).encode()
    with hostile(always(body, 500)) as server:
        hostile_text = CliRunner().invoke(main, ["sla-report", str(spec), "--prometheus", server.url, *args])
    for outcome in (infinite, hostile_text):
        no_traceback(outcome)
        assert outcome.exit_code == EXIT_ERROR, outcome.output
        assert "\x1b" not in outcome.output and "\x9b" not in outcome.output
    assert "+Inf" in infinite.output
    if fmt == "json":
        (agreement,) = strict_json(infinite.stdout)["agreements"]
        assert agreement["compliance"] == "error" and agreement["attained"] is None


# ---- the exporter -----------------------------------------------------------------------------------


def metrics(exporter: Exporter) -> dict[tuple[str, frozenset], float]:
    chunks, _ = exporter.scrape()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(b"".join(chunks).decode()) for s in family.samples}


def sample(samples: dict, name: str, **match: str) -> float | None:
    found = [v for (n, labels), v in samples.items() if n == name and set(match.items()) <= labels]
    return found[0] if found else None


class Switch:
    """An answer that can be changed while the server runs."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def __call__(self, h: Handler) -> None:
        h.reply(200, self.body)


def test_the_exporter_treats_non_finite_samples_as_a_failed_evaluation_and_recovers():
    switch = Switch(recorded("+Inf"))
    with hostile(switch) as server:
        client = Client(ConnectionConfig(url=server.url, retries=0, timeout_seconds=2, deadline_seconds=2))
        exporter = Exporter(catalog(), client, interval_seconds=60, at=lambda: AT)
        assert exporter.evaluate_once() is Outcome.FAILURE
        samples = metrics(exporter)
        assert sample(samples, c.EXPORT_STATUS, status="error") == 1.0
        assert sample(samples, c.EXPORT_SLI) is None and sample(samples, c.EXPORT_TOTAL_EVENTS) is None

        switch.body = recorded("1000")
        time.sleep(2.5)   # longer than the deadline: each evaluation must have its own
        assert exporter.evaluate_once() is Outcome.SUCCESS
        samples = metrics(exporter)
        assert sample(samples, c.EXPORT_TOTAL_EVENTS) == 1000.0 and sample(samples, c.HEALTH_STALE) == 0.0

        switch.body = recorded("1e308")
        assert exporter.evaluate_once() is Outcome.FAILURE
        samples = metrics(exporter)
        assert sample(samples, c.HEALTH_STALE) == 1.0 and sample(samples, c.EXPORT_TOTAL_EVENTS) == 1000.0


def test_an_evaluation_that_stalls_past_the_interval_marks_the_series_stale():
    from sloengine.model.results import Report, SLOResult, Status

    good = Report(at=AT, prometheus="http://prom", results=(SLOResult(
        service="shop", slo="checkout", objective=99.9, window="30d", window_seconds=30 * 86400.0,
        status=Status.OK, sli=0.9995, good_events=9995.0, total_events=10000.0),))
    release = threading.Event()
    calls = 0

    def evaluate(catalog: Any, client: Any, at: Any) -> Report:
        nonlocal calls
        calls += 1
        if calls > 1:
            release.wait(30)
        return good

    client = Client(ConnectionConfig(url="http://127.0.0.1:9", retries=0, timeout_seconds=1))
    exporter = Exporter(catalog(), client, interval_seconds=0.3, evaluate=evaluate)
    exporter.start()
    try:
        deadline = time.monotonic() + 20
        while sample(metrics(exporter), c.HEALTH_STALE) != 1.0:
            assert time.monotonic() < deadline, "a stalled evaluation never marked the series stale"
            time.sleep(0.05)
        assert calls == 2 and sample(metrics(exporter), c.EXPORT_SLI) == 0.9995
        release.set()
        while sample(metrics(exporter), c.HEALTH_STALE) != 0.0:
            assert time.monotonic() < deadline, "the series stayed stale after the evaluation finished"
            time.sleep(0.05)
    finally:
        release.set()
        exporter.stop()


@pytest.fixture
def served() -> Iterator[tuple[Exporter, ex.Running]]:
    client = Client(ConnectionConfig(url="http://127.0.0.1:9", retries=0, timeout_seconds=1))
    exporter = Exporter(catalog(), client, interval_seconds=60)
    exporter.evaluate_once()
    running = ex.start_server(exporter, "127.0.0.1:0")
    yield exporter, running
    running.close()


def scrape(running: ex.Running, timeout: float = 10) -> int:
    host, port = running.host, running.port
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_twenty_concurrent_scrapers_are_all_served(served):
    _, running = served
    statuses: list[int] = []
    lock = threading.Lock()

    def scraper() -> None:
        for _ in range(5):
            status = scrape(running)
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=scraper) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses == [200] * 100


def test_slow_malformed_and_oversized_requests_do_not_stop_the_scrapes(served, monkeypatch):
    monkeypatch.setattr(ex, "REQUEST_SECONDS", 1.0)
    _, running = served
    address = (running.host, running.port)
    stalled = []
    for _ in range(10):
        conn = socket.create_connection(address, timeout=20)
        conn.sendall(b"GET /metr")   # and nothing more
        stalled.append(conn)
    for junk in (b"\x16\x03\x01garbage\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.0\r\n\r\n",
                 b"GET / HTTP/1.0\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", b"POST /metrics HTTP/1.0\r\n"
                 b"Content-Length: 1000000000\r\n\r\n" + b"x" * 1000):
        with socket.create_connection(address, timeout=10) as conn:
            conn.sendall(junk)
            answer = conn.recv(100)   # an error (HTTP/0.9 has no status line) or a close, never a hang
            assert answer == b"" or answer.startswith((b"HTTP/1.0 4", b"<!DOCTYPE")), answer
    started = time.monotonic()
    assert scrape(running) == 200
    assert time.monotonic() - started < 5
    # A client that sends its request a byte at a time is cut off after REQUEST_SECONDS.
    dripping = socket.create_connection(address, timeout=20)
    started = time.monotonic()
    try:
        for byte in b"GET /metrics HTTP/1.0\r\n":
            dripping.sendall(bytes([byte]))
            time.sleep(0.2)
    except OSError:
        pass
    dripping.settimeout(20)
    with suppress(ConnectionResetError):
        assert dripping.recv(100) == b""
    assert time.monotonic() - started < 15
    for conn in stalled:
        assert conn.recv(100) == b"", "a stalled connection was kept past its time"
        conn.close()


def test_connections_beyond_the_cap_are_turned_away_at_once(monkeypatch):
    monkeypatch.setattr(ex, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(ex, "REQUEST_SECONDS", 2.0)
    client = Client(ConnectionConfig(url="http://127.0.0.1:9", retries=0, timeout_seconds=1))
    exporter = Exporter(catalog(), client, interval_seconds=60)
    running = ex.start_server(exporter, "127.0.0.1:0")
    try:
        stalled = [socket.create_connection((running.host, running.port), timeout=20) for _ in range(3)]
        time.sleep(0.3)
        with socket.create_connection((running.host, running.port), timeout=5) as extra:
            assert extra.recv(100).startswith(b"HTTP/1.0 503")
        for conn in stalled:
            assert conn.recv(100) == b""
            conn.close()
        # A slot frees when its handler thread ends, just after the client sees the close: on a loaded machine
        # the next scrape may still meet the cap for a moment, never for long.
        deadline = time.monotonic() + 20
        while (status := scrape(running)) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == 200
    finally:
        running.close()


def test_basic_auth_compares_digests_of_one_length_in_constant_time(monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = ex.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(ex.hmac, "compare_digest", spy)
    import base64

    auth = ex.BasicAuth("prometheus", "a-long-secret-password")
    for user, password in (("prometheus", "a-long-secret-password"), ("prometheus", "x"), ("p", "")):
        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        assert auth.allows(header) is (password == "a-long-secret-password")
    assert compared and all(len(a) == len(b) == 32 for a, b in compared)
