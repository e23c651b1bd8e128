"""``sloengine serve``: every SLO's figures as Prometheus metrics, recomputed on an interval.

Three parts, each small enough to test alone:

* **Rendering.** A :class:`~sloengine.model.results.Report` becomes exposition text
  through prometheus-client's metric families and ``generate_latest``, so the
  format (escaping, ``HELP``/``TYPE``, float spelling) is the library's, not
  ours. A figure that is ``None`` gets no sample at all: an absent series reads
  as "unknown", a 0 or a 1 would read as an outage or as perfect health.
* **The loop.** A background thread evaluates the catalogue every interval and
  must outlive anything: a :class:`~sloengine.engine.connection.QueryError`, a bug, a
  Prometheus that is down for an hour or answers nonsense. When every SLO fails it keeps serving
  the last values it computed and says so (``sloengine_exporter_stale 1``), as it does while an
  evaluation has been running for longer than the interval (a Prometheus that stalls);
  when only some fail, the new values are served and the failed SLOs show
  ``slo_status{status="error"} 1``. Each evaluation has its own deadline, so it
  recovers by itself on the next evaluation that works.
* **Serving.** Rendering 10,000 SLOs takes seconds; a scrape must take
  milliseconds. So the SLO part is rendered (and gzipped) once per evaluation
  and each scrape sends those cached bytes after a freshly rendered, tiny
  health part. Gzip members concatenate into one valid stream, so the cached
  compressed body is reused too. The server is wsgiref with a thread per
  request, bound to 127.0.0.1 unless told otherwise, with optional basic auth
  (constant-time comparison) and TLS (as ``prometheus_client.start_http_server``
  does it: an ``ssl.SSLContext`` around the listening socket, with the
  handshake moved into the request's thread so one stalled client cannot block
  the others). It is exposed to whatever can reach it, so it holds no more
  than :data:`MAX_CONNECTIONS` connections at once (more are turned away at
  once), and a connection has :data:`REQUEST_SECONDS` for its whole request
  (handshake, request line, headers) and :data:`RESPONSE_SECONDS` to take its
  answer: a per-read timeout alone lets a client sending a byte at a time keep
  a thread for ever.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import gzip
import hashlib
import hmac
import logging
import math
import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest, gzip_accepted
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.connection import WATCHDOG, Client, QueryError, shut
from ..engine.counts import plan
from ..engine.reading import evaluate as engine_evaluate
from ..model import conventions as c
from ..model.results import Report, SLOResult, Status
from ..model.slo import Catalog
from .web.routes import WebUI

log = logging.getLogger(__name__)

#: Compression of the cached SLO body: level 1 is several times faster than 6 and, on text this
#: repetitive, nearly as small; it runs once per evaluation, in the loop's thread.
GZIP_LEVEL = 1
#: Seconds a connection may stay silent (and a TLS handshake may take) before its thread gives up.
CONNECTION_TIMEOUT_SECONDS = 30.0
#: Connections served at once: scrapers are few, and a flood of connections must not mean threads without
#: bound; one more is answered 503 and closed at once.
MAX_CONNECTIONS = 64
#: Seconds a client has for its whole request: TLS handshake, request line and headers.
REQUEST_SECONDS = 10.0
#: Seconds a client has to take the answer once its request is in (the body can be megabytes on a slow link).
RESPONSE_SECONDS = 60.0
#: Distinct error messages logged per failed evaluation (10,000 failed SLOs must not mean 10,000 lines).
LOGGED_ERRORS = 3


class ServeError(ValueError):
    """The exporter's settings are wrong (bad address, unreadable certificate): reported without a traceback."""


# ---- rendering ----------------------------------------------------------------------------------

_HELP = {
    c.EXPORT_OBJECTIVE: "Objective of the SLO as a ratio (99.9% is 0.999).",
    c.EXPORT_SLI: "Good events / total events over the SLO window; absent when there were no events.",
    c.EXPORT_BUDGET_REMAINING: "Share of the error budget left over the SLO window (negative when overspent).",
    c.EXPORT_BURN_RATE: "Error ratio / error budget over the alert window in the window label.",
    c.EXPORT_TIME_TO_EXHAUSTION: "Seconds until the error budget is spent at the current burn rate "
                                 "(0: spent; absent: not burning or no data).",
    c.EXPORT_STATUS: "Status of the SLO: 1 for the current one of ok, at_risk, breached, no_data, error.",
    c.EXPORT_GOOD_EVENTS: "Good events over the SLO window.",
    c.EXPORT_TOTAL_EVENTS: "All events over the SLO window.",
}

_OWN_LABELS = frozenset({c.LABEL_SERVICE, c.LABEL_SLO, c.LABEL_WINDOW, c.LABEL_STATUS})


def _finite(value: float | None) -> bool:
    """Only real numbers become samples: ``None`` (unknown), NaN and ±Inf never do."""
    return value is not None and math.isfinite(value)


def result_labels(result: SLOResult) -> dict[str, str]:
    """service, slo, window and the group_by labels; a group label that clashes with ours gets a prefix."""
    labels = {c.LABEL_SERVICE: result.service, c.LABEL_SLO: result.slo, c.LABEL_WINDOW: result.window}
    for name, value in result.group:
        labels[c.EXPORT_CLASH_PREFIX + name if name in _OWN_LABELS else name] = value
    return labels


def slo_families(results: Iterable[SLOResult]) -> list[Metric]:
    """One gauge family per figure, with a sample per SLO result whose figure is known."""
    families = {name: GaugeMetricFamily(name, doc) for name, doc in _HELP.items()}

    def add(name: str, labels: dict[str, str], value: float | None) -> None:
        if _finite(value):
            families[name].add_sample(name, labels, float(value))  # type: ignore[arg-type]

    seen: set[tuple[tuple[str, str], ...]] = set()
    for r in results:
        labels = result_labels(r)
        key = tuple(sorted(labels.items()))
        if key in seen:
            # Two samples with one label set would make Prometheus reject the whole scrape.
            log.warning("%s appears twice in the report; exporting the first only", r.id)
            continue
        seen.add(key)
        add(c.EXPORT_OBJECTIVE, labels, round(r.objective / 100.0, 12))
        add(c.EXPORT_SLI, labels, r.sli)
        add(c.EXPORT_BUDGET_REMAINING, labels, r.budget_remaining)
        add(c.EXPORT_TIME_TO_EXHAUSTION, labels, r.time_to_exhaustion_seconds)
        add(c.EXPORT_GOOD_EVENTS, labels, r.good_events)
        add(c.EXPORT_TOTAL_EVENTS, labels, r.total_events)
        for window, rate in r.burn_rates:
            add(c.EXPORT_BURN_RATE, {**labels, c.LABEL_WINDOW: window}, rate)
        for status in Status:
            add(c.EXPORT_STATUS, {**labels, c.LABEL_STATUS: status.value}, 1.0 if r.status is status else 0.0)
    return list(families.values())


class ReportCollector(Collector):
    """A report's SLO families, for ``generate_latest``; also what a naive per-scrape exporter would register."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def collect(self) -> Iterator[Metric]:
        yield from slo_families(self.report.results)


def render(report: Report) -> bytes:
    """The SLO part of ``/metrics`` for ``report`` (text format 0.0.4)."""
    return generate_latest(ReportCollector(report))


class Outcome(enum.Enum):
    """How an evaluation went; the value is the ``result`` label of the evaluations counter."""

    SUCCESS = "success"   # every SLO computed
    PARTIAL = "partial"   # some SLOs failed: new values are served, the failed ones with status error
    FAILURE = "failure"   # every SLO failed (Prometheus down, or a bug): the last values stay, marked stale


def classify(report: Report) -> Outcome:
    errors = report.count(Status.ERROR)
    if errors == 0:
        return Outcome.SUCCESS
    return Outcome.FAILURE if errors == len(report.results) else Outcome.PARTIAL


@dataclass(frozen=True)
class Health:
    """The exporter's own figures at one moment, rendered live on every scrape."""

    slos: int
    evaluations: tuple[tuple[Outcome, int], ...]
    query_errors: int
    last_success: float          # Unix seconds; 0 until the first good evaluation (so "age" alerts fire)
    duration_seconds: float      # of the latest evaluation, good or not
    stale: bool


class HealthCollector(Collector):
    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        h = self.health
        yield GaugeMetricFamily(c.HEALTH_LAST_SUCCESS, "When the last evaluation without errors finished "
                                                       "(Unix seconds; 0: none yet).", value=h.last_success)
        yield GaugeMetricFamily(c.HEALTH_EVALUATION_DURATION, "Seconds the latest evaluation took.",
                                value=h.duration_seconds)
        evaluations = CounterMetricFamily(c.HEALTH_EVALUATIONS, "Evaluations by result: success, partial "
                                                                 "(some SLOs failed), failure (all failed).",
                                          labels=[c.LABEL_RESULT])
        for outcome, count in h.evaluations:
            evaluations.add_metric([outcome.value], count)
        yield evaluations
        yield CounterMetricFamily(c.HEALTH_QUERY_ERRORS, "Prometheus queries that failed (after retries).",
                                  value=h.query_errors)
        yield GaugeMetricFamily(c.HEALTH_STALE, "1 when the SLO series are the last good values because the "
                                                "latest evaluation failed or the running one has taken longer "
                                                "than the interval.", value=1.0 if h.stale else 0.0)
        yield GaugeMetricFamily(c.HEALTH_SLOS, "SLOs in the served catalogue.", value=h.slos)


def render_health(health: Health) -> bytes:
    return generate_latest(HealthCollector(health))


# ---- the evaluation loop ------------------------------------------------------------------------


class CountingClient:
    """A :class:`Client` that counts the queries that failed, for ``sloengine_exporter_query_errors_total``.

    The engine turns failures into ERROR results, so counting them here, where
    they are raised, is the only place the number of failed *queries* is known.
    """

    def __init__(self, inner: Client) -> None:
        self.inner = inner
        self.errors = 0
        self._lock = threading.Lock()   # the engine queries from a small thread pool

    @property
    def url(self) -> str:
        return self.inner.url

    @property
    def queries(self) -> int:
        return self.inner.queries

    def start_run(self) -> None:
        self.inner.start_run()

    def query(self, expr: str, at: float) -> list[dict]:
        try:
            return self.inner.query(expr, at)
        except QueryError:
            with self._lock:
                self.errors += 1
            raise

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """A range query for the web UI: not counted with the evaluations' failed queries."""
        return self.inner.query_range(expr, start, end, step)

    def close(self) -> None:
        self.inner.close()


Evaluate = Callable[..., Report]


@dataclass(frozen=True)
class Cached:
    """The SLO part of ``/metrics`` as served until the next evaluation replaces it."""

    text: bytes = b""
    gzipped: bytes = field(default=b"", repr=False)
    at: float = 0.0               # the instant the values were evaluated at
    has_values: bool = False      # at least one SLO was computed (not only errors)
    report: Report | None = field(default=None, repr=False)   # what the web UI's pages show

    @classmethod
    def of(cls, report: Report) -> Cached:
        text = render(report)
        return cls(text, gzip.compress(text, GZIP_LEVEL), report.at,
                   any(r.status is not Status.ERROR for r in report.results), report)


def failed_report(catalog: Catalog, message: str, at: float, url: str) -> Report:
    """Every SLO as an ERROR result: what an evaluation that raised is served as, failing closed."""
    results = tuple(SLOResult(service=s.service, slo=s.name, objective=s.objective, window=plan(s, at).budget_window,
                              window_seconds=0.0, status=Status.ERROR, error=message) for s in catalog.slos)
    return Report(at=at, prometheus=url, results=results)


class Exporter:
    """Evaluates ``catalog`` every ``interval_seconds`` in a thread and holds what ``/metrics`` serves.

    ``evaluate`` and ``at`` are the engine and "now" by default; tests pass
    their own to pin the instant or to inject failures.
    """

    def __init__(self, catalog: Catalog, client: Client, *,
                 interval_seconds: float = c.EXPORTER_DEFAULT_INTERVAL_SECONDS, evaluate: Evaluate | None = None,
                 at: Callable[[], float | None] = lambda: None, clock: Callable[[], float] = time.time) -> None:
        if interval_seconds <= 0:
            raise ServeError("the interval must be longer than 0s")
        if evaluate is None:
            evaluate = engine_evaluate
        self.catalog = catalog
        self.client = CountingClient(client)
        self.interval_seconds = interval_seconds
        self._evaluate = evaluate
        self._at = at
        self._clock = clock
        self._cached = Cached()
        self._lock = threading.Lock()          # guards the health fields below
        self._evaluating = threading.Lock()    # one evaluation at a time (loop and evaluate_once)
        self._evaluations = {o: 0 for o in Outcome}
        self._last_success = 0.0
        self._duration = 0.0
        self._stale = False
        self._running_since: float | None = None   # monotonic start of the evaluation under way
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- state, read by the server --

    @property
    def cached(self) -> Cached:
        return self._cached

    @property
    def ready(self) -> bool:
        """An evaluation has finished (good or not), so ``/metrics`` says something true."""
        return self._ready.is_set()

    @property
    def healthy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stalled(self) -> bool:
        """An evaluation has been running for longer than the interval (Prometheus answers too slowly)."""
        since = self._running_since
        return since is not None and time.monotonic() - since > self.interval_seconds

    def health(self) -> Health:
        with self._lock:
            # Values older than an interval are stale whether the evaluation failed or has not finished yet.
            stale = self._stale or (self.stalled and self._cached.has_values)
            return Health(slos=len(self.catalog.slos), evaluations=tuple(self._evaluations.items()),
                          query_errors=self.client.errors, last_success=self._last_success,
                          duration_seconds=self._duration, stale=stale)

    def scrape(self, accept_gzip: bool = False) -> tuple[list[bytes], bool]:
        """The body of ``/metrics`` as chunks (health, then the cached SLO part), and whether it is gzipped."""
        cached = self._cached                  # one reference read: never half of two evaluations
        health = render_health(self.health())
        if accept_gzip:
            return [gzip.compress(health, GZIP_LEVEL), cached.gzipped], True
        return [health, cached.text], False

    # -- evaluating --

    def evaluate_once(self) -> Outcome:
        """One evaluation; never raises. Updates the cache, the staleness and the counters."""
        with self._evaluating:
            started = time.monotonic()
            self._running_since = started
            try:
                report = self._evaluate(self.catalog, cast(Client, self.client), self._at())
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any bug; the SLOs fail closed
                log.exception("evaluation failed unexpectedly (the SLOs are reported as errors)")
                at = self._at()
                report = failed_report(self.catalog, f"evaluation failed: {type(exc).__name__}: {exc}",
                                       float(int(self._clock()) if at is None else at), self.client.url)
            try:
                outcome = self._install(report)
            except Exception:  # noqa: BLE001 - a rendering bug must not kill the loop either
                log.exception("rendering the report failed; serving the previous values")
                outcome = Outcome.FAILURE
                with self._lock:
                    self._stale = self._cached.has_values
            with self._lock:
                self._evaluations[outcome] += 1
                self._duration = time.monotonic() - started
                self._running_since = None
                if outcome is Outcome.SUCCESS:
                    self._last_success = self._clock()
            self._ready.set()
            return outcome

    def _install(self, report: Report) -> Outcome:
        outcome = classify(report)
        if outcome is Outcome.FAILURE:
            _log_errors(report)
            if self._cached.has_values:
                with self._lock:
                    self._stale = True
                return outcome
            # Nothing good to keep yet: serve the failure itself (every SLO with status error).
        elif outcome is Outcome.PARTIAL:
            _log_errors(report)
        cached = Cached.of(report)
        was_stale = self._stale
        with self._lock:
            self._cached = cached
            self._stale = False
        if was_stale and outcome is not Outcome.FAILURE:
            log.info("evaluation recovered: serving fresh values again")
        return outcome

    # -- the thread --

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the exporter is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sloengine-exporter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.evaluate_once()
            except BaseException:  # noqa: BLE001 - belt and braces: evaluate_once already catches everything
                log.exception("the evaluation loop caught an error it did not expect")
            self._stop.wait(max(0.0, self.interval_seconds - (time.monotonic() - started)))

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the loop to end and wait a little; an evaluation still waiting on Prometheus is left to
        finish in its daemon thread rather than holding up a shutdown."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _log_errors(report: Report) -> None:
    messages: dict[str, int] = {}
    for r in report.results:
        if r.status is Status.ERROR:
            messages[r.error] = messages.get(r.error, 0) + 1
    failed = sum(messages.values())
    log.warning("%d of %d SLOs could not be computed", failed, len(report.results))
    for message, count in list(messages.items())[:LOGGED_ERRORS]:
        log.warning("  %s (%d SLOs)", message, count)


# ---- serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasicAuth:
    """One user and password; every endpoint asks for them."""

    username: str
    password: str = field(repr=False)

    def allows(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, sep, password = decoded.partition(b":")
        # Both comparisons always run, in constant time, on digests of one length, so timing says nothing
        # about which one failed nor how long the secret is.
        user_ok = hmac.compare_digest(_digest(user), _digest(self.username.encode()))
        password_ok = hmac.compare_digest(_digest(password), _digest(self.password.encode()))
        return bool(sep) and user_ok and password_ok


def _digest(secret: bytes) -> bytes:
    return hashlib.sha256(secret).digest()


def basic_auth(username: str | None, password_file: Path | None, env: dict[str, str] | None = None) -> BasicAuth | None:
    """Basic auth from the flags: the password from its file, else from SLOENGINE_EXPORTER_PASSWORD."""
    env = dict(os.environ) if env is None else env
    if not username:
        if password_file:
            raise ServeError("--basic-auth-password-file needs --basic-auth-user")
        return None
    if password_file:
        try:
            password = password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ServeError(f"cannot read {password_file}: {exc.strerror}") from None
    else:
        password = env.get(c.ENV_EXPORTER_PASSWORD, "")
    if not password:
        raise ServeError(f"--basic-auth-user needs a password: --basic-auth-password-file or {c.ENV_EXPORTER_PASSWORD}")
    if ":" in username:
        raise ServeError("the basic auth user may not contain ':'")
    return BasicAuth(username, password)


@dataclass(frozen=True)
class TLS:
    cert_file: Path
    key_file: Path

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(certfile=str(self.cert_file), keyfile=str(self.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise ServeError(f"cannot load the TLS certificate {self.cert_file} with key {self.key_file}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        return context


def tls(cert_file: Path | None, key_file: Path | None) -> TLS | None:
    if not cert_file and not key_file:
        return None
    if not (cert_file and key_file):
        raise ServeError("TLS needs both --tls-cert-file and --tls-key-file")
    return TLS(cert_file, key_file)


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into its parts."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ServeError(f"--listen {text!r} is not host:port (e.g. 127.0.0.1:9099)")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


#: The watchdog key of the connection the current thread serves (one thread per connection).
_CONNECTION = threading.local()


def _rearm(request: Any, seconds: float) -> None:
    """Give the current connection ``seconds`` from now, after which its socket is shut."""
    WATCHDOG.disarm(getattr(_CONNECTION, "key", -1))
    _CONNECTION.key = WATCHDOG.arm(seconds, lambda: shut(request))


class _QuietHandler(WSGIRequestHandler):
    """No access log (scrapes every 15s would drown the evaluation log); connections time out."""

    timeout = CONNECTION_TIMEOUT_SECONDS

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            # The request is in: what is left is the answer, which has a time of its own.
            _rearm(self.connection, RESPONSE_SECONDS)
        return parsed

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


#: The answer to a connection beyond :data:`MAX_CONNECTIONS` (plain HTTP only: a TLS client gets a close).
_BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
         b"Retry-After: 1\r\nConnection: close\r\n\r\nBusy\n")


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    _slots: threading.BoundedSemaphore | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots is None:
            self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if not self._slots.acquire(blocking=False):
            if not isinstance(request, ssl.SSLSocket):
                with contextlib.suppress(OSError):
                    request.setblocking(False)
                    request.send(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()   # no thread was started to release it
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            assert self._slots is not None
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        _rearm(request, REQUEST_SECONDS)
        try:
            if isinstance(request, ssl.SSLSocket):
                # The handshake runs here, in the request's thread, not in the accepting one.
                request.settimeout(CONNECTION_TIMEOUT_SECONDS)
                try:
                    request.do_handshake()
                except (OSError, ssl.SSLError) as exc:
                    log.debug("TLS handshake with %s failed: %s", client_address, exc)
                    return
            super().finish_request(request, client_address)
        finally:
            WATCHDOG.disarm(_CONNECTION.key)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A scraper that hangs up mid-body is not worth a traceback on stderr.
        log.debug("request from %s failed: %s", client_address, sys.exc_info()[1])


_TEXT = [("Content-Type", "text/plain; charset=utf-8")]


def make_app(exporter: Exporter, auth: BasicAuth | None = None, web: WebUI | None = None) -> Callable:
    """The WSGI app: /metrics, /-/healthy, /-/ready, and the web UI (:class:`.web.routes.WebUI`): the SLO list at
    /, an SLO's page at /slo, customers' agreements at /agreements, their static files under /static/. A web UI for
    one customer turns /metrics off (it holds every SLO)."""
    if web is None:
        web = WebUI(exporter)
    serve_metrics = not web.customer

    def reply(start_response: Callable, status: str, text: str, extra: Sequence[tuple[str, str]] = ()) -> list[bytes]:
        body = text.encode()
        start_response(status, [*_TEXT, ("Content-Length", str(len(body))), *extra])
        return [body]

    def app(environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        if auth is not None and not auth.allows(environ.get("HTTP_AUTHORIZATION")):
            return reply(start_response, "401 Unauthorized", "Unauthorized\n",
                         [("WWW-Authenticate", 'Basic realm="sloengine", charset="UTF-8"')])
        if environ.get("REQUEST_METHOD") != "GET":
            return reply(start_response, "405 Method Not Allowed", "Only GET\n", [("Allow", "GET")])
        path = environ.get("PATH_INFO") or "/"
        if path == c.EXPORTER_METRICS_PATH and serve_metrics:
            chunks, gzipped = exporter.scrape(gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")))
            headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4), ("Content-Length", str(sum(map(len, chunks))))]
            if gzipped:
                headers.append(("Content-Encoding", "gzip"))
            start_response("200 OK", headers)
            return chunks
        if path == c.EXPORTER_HEALTHY_PATH:
            return reply(start_response, *(("200 OK", "Healthy\n") if exporter.healthy
                                           else ("503 Service Unavailable", "The evaluation loop is not running\n")))
        if path == c.EXPORTER_READY_PATH:
            return reply(start_response, *(("200 OK", "Ready\n") if exporter.ready
                                           else ("503 Service Unavailable", "No evaluation has finished yet\n")))
        page = web.route(path, environ.get("QUERY_STRING", ""))
        if page is None:
            return reply(start_response, "404 Not Found", "Not found\n")
        start_response(page.status, [("Content-Type", page.content_type), ("Content-Length", str(len(page.body))),
                                     *page.headers])
        return [page.body]

    return app


@dataclass
class Running:
    """A started HTTP server; ``close`` stops it and frees the port."""

    server: WSGIServer = field(repr=False)
    thread: threading.Thread = field(repr=False)
    host: str
    port: int
    scheme: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_server(exporter: Exporter, listen: str = c.EXPORTER_DEFAULT_LISTEN, *, auth: BasicAuth | None = None,
                 tls_files: TLS | None = None, customer: str = "") -> Running:
    """Serve ``exporter`` on ``listen`` (port 0 picks a free one) in a daemon thread; ``customer``: the web UI
    shows that customer's agreements only, and /metrics is off."""
    host, port = parse_listen(listen)
    context = tls_files.context() if tls_files else None   # before binding: a bad certificate binds nothing
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    except socket.gaierror as exc:
        raise ServeError(f"--listen {listen!r}: unknown host {host!r} ({exc.strerror})") from None
    server_class = type("Server", (_Server,), {"address_family": family})
    try:
        server: WSGIServer = make_server(host, port, make_app(exporter, auth, WebUI(exporter, customer)), server_class,
                                         handler_class=_QuietHandler)
    except OSError as exc:
        raise ServeError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, name="sloengine-exporter-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    return Running(server, thread, str(bound_host), int(bound_port), "https" if context else "http")
