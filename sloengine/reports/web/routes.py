"""Which page a request is: the web UI's part of the exporter's WSGI app (auth and limits stay the app's)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ...agreements.sla import evaluate_agreement
from ...engine.connection import Client
from ...model.slo import Catalog
from .agreements import AGREEMENTS_PATH, CustomerViews, Evaluate, customers, render_customer, render_index
from .assets import STATIC_PREFIX, asset
from .markup import esc, iso, page
from .slo_detail import TimeRange, render_detail
from .slo_list import DETAIL_PATH, LIST_PATH, ListQuery, firing_alerts, render_list


class Exporter(Protocol):
    """What the pages read of the exporter that serves them (:class:`..exporter.Exporter`): its catalogue, its
    client, its latest evaluation and its health. Named here, not imported, so the exporter (which mounts the
    pages) is the only one of the two that imports the other."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def client(self) -> Any: ...

    @property
    def cached(self) -> Any: ...

    def health(self) -> Any: ...

HTML = "text/html; charset=utf-8"
#: Pages load only our own files: no inline script runs, nothing from elsewhere.
SECURITY_HEADERS = (("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                                "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                                                "frame-ancestors 'none'"),
                    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
#: Longest query string read (a filter or a range needs a few dozen characters).
MAX_QUERY_CHARS = 2048
#: Pages that query Prometheus (an SLO's, a customer's) at once; one more is answered 503 at once, so a slow
#: Prometheus and a reloading browser cannot take the connections /metrics is scraped through.
QUERYING_PAGES = 4
#: Seconds the queries of one page may take in all (retries included), whatever the exporter's deadline.
PAGE_DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Response:
    status: str
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = SECURITY_HEADERS


def params(query_string: str) -> dict[str, str]:
    """The query string's parameters, the first value of each (a long query string is cut, not parsed whole)."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(query_string[:MAX_QUERY_CHARS], keep_blank_values=True):
        out.setdefault(key, value)
    return out


def _html(status: str, text: str) -> Response:
    return Response(status, HTML, text.encode())


def _banner(exporter: Exporter) -> str:
    health = exporter.health()
    if health.stale:
        return ('<p class="banner" data-stale>The latest evaluation failed or is late: these are the last values '
                f'computed, at {esc(iso(exporter.cached.at))}.</p>')
    return ""


class WebUI:
    """The pages of one server: every SLO and every customer's agreements, or (``customer``) one customer's
    agreements and nothing else: no SLO list, no SLO page, no other customer (the app then serves no /metrics
    either, which holds every SLO).

    ``client`` answers the pages' queries (range queries, agreements' counts); by default a client of its own with
    the exporter's settings, so the pages neither share the evaluations' deadline nor count in their errors.
    """

    def __init__(self, exporter: Exporter, customer: str = "", client: Any = None,
                 evaluate: Evaluate = evaluate_agreement) -> None:
        self.exporter = exporter
        self.customer = customer
        inner = getattr(exporter.client, "inner", None)
        if client is None and isinstance(inner, Client):
            deadline = min(inner.config.run_seconds(), PAGE_DEADLINE_SECONDS)
            client = Client(replace(inner.config, deadline_seconds=deadline))
        self.client = client if client is not None else exporter.client
        self.views = CustomerViews(evaluate)
        self._querying = threading.BoundedSemaphore(QUERYING_PAGES)

    def _queried(self, render: Callable[[], Response]) -> Response:
        """``render`` (which queries Prometheus) unless :data:`QUERYING_PAGES` pages already are."""
        if not self._querying.acquire(blocking=False):
            return Response("503 Service Unavailable", HTML, page(
                "Busy", "<p>Other pages are waiting on Prometheus: try again in a moment.</p>").encode(),
                (*SECURITY_HEADERS, ("Retry-After", "2")))
        try:
            return render()
        finally:
            self._querying.release()

    def route(self, path: str, query_string: str) -> Response | None:
        """The answer for ``path``, or None when the path is not one of the pages."""
        if path.startswith(STATIC_PREFIX):
            found = asset(path[len(STATIC_PREFIX):])
            if found is None:
                return None
            body, kind = found
            return Response("200 OK", kind, body, (*SECURITY_HEADERS, ("Cache-Control", "max-age=3600")))
        values: Mapping[str, str] = params(query_string)
        if self.customer:
            if path not in (LIST_PATH, AGREEMENTS_PATH) or values.get("customer", self.customer) != self.customer:
                return None
            return self._customer(self.customer)
        if path == AGREEMENTS_PATH:
            name = values.get("customer", "")
            if not name:
                return _html("200 OK", render_index(self.exporter.catalog))
            if name not in customers(self.exporter.catalog):
                return _html("404 Not Found", page("No such customer", "<p>No SLA in the served catalogue names "
                                                   f'this customer. <a href="{esc(AGREEMENTS_PATH)}">All '
                                                   "customers</a></p>"))
            return self._customer(name)
        if path not in (LIST_PATH, DETAIL_PATH):
            return None
        report = self.exporter.cached.report
        if report is None:
            return _not_yet()
        if path == LIST_PATH:
            # The list is the evaluation's, at hand: only its firing alerts are asked of Prometheus, and when
            # other pages already wait on it the list still answers, its alerts said to be unknown.
            if self._querying.acquire(blocking=False):
                try:
                    firing, error = firing_alerts(self.client, report.at)
                finally:
                    self._querying.release()
            else:
                firing, error = {}, "other pages are waiting on it; reload in a moment"
            return _html("200 OK", render_list(report, self.exporter.catalog, ListQuery.parse(values),
                                               banner=_banner(self.exporter), firing=firing, firing_error=error))
        slo = next((s for s in self.exporter.catalog.slos
                    if s.service == values.get("service") and s.name == values.get("slo")), None)
        if slo is None:
            return _html("404 Not Found", page("No such SLO", "<p>No SLO in the served catalogue has this service "
                                               f'and name. <a href="{esc(LIST_PATH)}">All SLOs</a></p>'))
        span = TimeRange.parse(values, report.at)
        return self._queried(lambda: _html("200 OK", render_detail(report, self.exporter.catalog, slo, self.client,
                                                                   span, banner=_banner(self.exporter))))

    def _customer(self, name: str) -> Response:
        report = self.exporter.cached.report
        if report is None:
            return _not_yet()

        def render() -> Response:
            if hasattr(self.client, "start_run"):
                self.client.start_run()
            shown = self.views.get(self.client, self.exporter.catalog, name, report.at)
            return _html("200 OK", render_customer(shown, standalone=bool(self.customer)))

        return self._queried(render)


def _not_yet() -> Response:
    return _html("503 Service Unavailable", page("No evaluation yet", "<p>No evaluation has finished yet: there is "
                                                 "nothing to show. This page fills in once the first one does.</p>"))
