"""HTML for the web UI: escaping, number formats that fail closed, and the frame every page shares.

Functions here return HTML; anything that came from outside (names, labels,
error messages, query values) enters it only through :func:`esc` or
:func:`attr`. A figure that is unknown is written as a word saying why, never
as a number.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ...model.results import Status
from ...model.terminal import printable

#: What an unknown figure reads as (no events, or not computed).
UNKNOWN = "no data"

STATUS_TEXT = {Status.OK: "ok", Status.AT_RISK: "at risk", Status.BREACHED: "breached",
               Status.NO_DATA: "no data", Status.ERROR: "error"}


def esc(text: object) -> str:
    """Text as HTML content or a quoted attribute value: markup and control characters escaped."""
    return html.escape(printable(str(text)), quote=True)


def attr(name: str, value: object) -> str:
    return f' {name}="{esc(value)}"'


def href(path: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str:
    """A link's escaped ``href`` value: the path and its query string (values percent-encoded)."""
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    query = urlencode([(k, v) for k, v in items if v])
    return esc(path + (f"?{query}" if query else ""))


def percent(value: float | None, digits: int = 3) -> str:
    return UNKNOWN if value is None else f"{value * 100:.{digits}f}%"


def ratio(value: float | None, digits: int = 2) -> str:
    return UNKNOWN if value is None else f"{value:.{digits}f}×"


def count(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:,.0f}"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def script_json(value: Any) -> str:
    """JSON to embed in ``<script type="application/json">``: nothing in it can close the element."""
    text = json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def table(head: Iterable[str], rows: Iterable[Iterable[str]], *, cls: str = "") -> str:
    """A table from cells that are already HTML."""
    heading = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table{attr('class', cls) if cls else ''}><thead><tr>{heading}</tr></thead><tbody>{body}</tbody></table>"


def status_badge(status: Status) -> str:
    return f'<span class="status {status.value}">{esc(STATUS_TEXT[status])}</span>'


NAV = '<a href="/">SLOs</a> <a href="/agreements">Agreements</a> <a href="/metrics">metrics</a>'


#: Links to every part of a full server (a customer's own server shows none).
NAV = '<a href="/">SLOs</a> <a href="/agreements">Agreements</a> <a href="/metrics">metrics</a>'


def page(title: str, body: str, *, banner: str = "", charts: bool = False, nav: bool = True) -> str:
    """The whole document: our style sheet, uPlot and the chart script only on pages that draw charts."""
    scripts = ('<link rel="stylesheet" href="/static/uPlot.min.css">'
               '<script src="/static/uPlot.iife.min.js" defer></script>'
               '<script src="/static/charts.js" defer></script>') if charts else ""
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{esc(title)} · sloengine</title><link rel="stylesheet" href="/static/style.css">{scripts}'
            '</head><body><nav>' + (NAV if nav else "") + "</nav>"
            f"{banner}<main><h1>{esc(title)}</h1>{body}</main></body></html>\n")
