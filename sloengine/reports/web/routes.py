"""Which page a request is: the web UI's part of the exporter's WSGI app (auth and limits stay the app's)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from .assets import STATIC_PREFIX, asset
from .markup import esc, iso, page
from .slo_detail import RangeClient, TimeRange, render_detail
from .slo_list import DETAIL_PATH, LIST_PATH, ListQuery, render_list

if TYPE_CHECKING:
    from ..exporter import Exporter

HTML = "text/html; charset=utf-8"
#: Pages load only our own files: no inline script runs, nothing from elsewhere.
SECURITY_HEADERS = (("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
                                                "img-src 'self' data:; form-action 'self'; base-uri 'none'; "
                                                "frame-ancestors 'none'"),
                    ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"))
#: Longest query string read (a filter or a range needs a few dozen characters).
MAX_QUERY_CHARS = 2048


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


def route(exporter: Exporter, path: str, query_string: str, client: RangeClient | None = None) -> Response | None:
    """The web UI's answer for ``path``, or None when the path is not one of its pages."""
    if path.startswith(STATIC_PREFIX):
        found = asset(path[len(STATIC_PREFIX):])
        if found is None:
            return None
        body, kind = found
        return Response("200 OK", kind, body, (*SECURITY_HEADERS, ("Cache-Control", "max-age=3600")))
    if path not in (LIST_PATH, DETAIL_PATH):
        return None
    report = exporter.cached.report
    if report is None:
        return _html("503 Service Unavailable", page("No evaluation yet", "<p>No evaluation has finished yet: "
                                                     "there is nothing to show. This page fills in once the first "
                                                     "one does.</p>"))
    values: Mapping[str, str] = params(query_string)
    if path == LIST_PATH:
        return _html("200 OK", render_list(report, exporter.catalog, ListQuery.parse(values), banner=_banner(exporter)))
    slo = next((s for s in exporter.catalog.slos
                if s.service == values.get("service") and s.name == values.get("slo")), None)
    if slo is None:
        return _html("404 Not Found", page("No such SLO", "<p>No SLO in the served catalogue has this service "
                                           f'and name. <a href="{esc(LIST_PATH)}">All SLOs</a></p>'))
    span = TimeRange.parse(values, report.at)
    return _html("200 OK", render_detail(report, exporter.catalog, slo, client or exporter.client, span,
                                         banner=_banner(exporter)))
