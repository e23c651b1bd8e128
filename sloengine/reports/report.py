"""``sloengine report`` output: a terminal table, Markdown, and JSON with a stable, documented schema.

The JSON is the interface for scripts and CI gates: its shape is pinned by
:data:`REPORT_SCHEMA` (committed as ``schema/sloengine-report-v1.schema.json``
and checked against real output in the tests). Numbers that could not be
computed are ``null`` with a ``status`` that says why, never 0 or 1. Text from
outside (error messages from the server, group label values, names) reaches
every format with its control characters escaped.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from typing import Any

from ..model import markdown
from ..model.results import Report, SLOResult, Status
from ..model.terminal import printable

REPORT_SCHEMA_VERSION = "sloengine-report/v1"

_NUMBER_OR_NULL = {"type": ["number", "null"]}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://sloengine.dev/schema/sloengine-report-v1.schema.json",
    "title": "sloengine report",
    "description": "Output of `sloengine report --format json`. Numbers that could not be computed are null; "
                   "`status` says why (no_data, error).",
    "type": "object",
    "required": ["schema", "at", "at_unix", "prometheus", "summary", "slos"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": REPORT_SCHEMA_VERSION},
        "at": {"type": "string", "description": "The pinned evaluation instant (RFC 3339, UTC)."},
        "at_unix": {"type": "number"},
        "prometheus": {"type": "string"},
        "queries": {"type": "integer", "description": "Queries sent to Prometheus for the whole report."},
        "duration_seconds": {"type": "number"},
        "summary": {
            "type": "object",
            "description": "Number of SLO results per status.",
            "properties": {s.value: {"type": "integer"} for s in Status},
            "required": [s.value for s in Status],
            "additionalProperties": False,
        },
        "slos": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["service", "slo", "group", "objective", "window", "window_seconds", "status", "source",
                             "sli", "good_events", "bad_events", "total_events", "error_budget_events",
                             "error_budget_minutes", "consumed_minutes", "error_budget_consumed",
                             "error_budget_remaining", "burn_rates", "burn_rate_window",
                             "time_to_exhaustion_seconds", "burning", "period", "error", "notes"],
                "properties": {
                    "service": {"type": "string"},
                    "slo": {"type": "string"},
                    "group": {"type": "object", "additionalProperties": {"type": "string"},
                              "description": "Values of the SLI's group_by labels (empty when not grouped)."},
                    "objective": {"type": "number", "description": "Percent, as in the spec (99.9)."},
                    "window": {"type": "string", "description": "Rolling window (30d) or calendar period to date "
                                                                "(month, week, quarter)."},
                    "window_seconds": {"type": "number", "description": "Window length, or time elapsed in the "
                                                                        "calendar period."},
                    "status": {"enum": [s.value for s in Status]},
                    "source": {"enum": ["recorded", "raw", "query", None],
                               "description": "recorded: sloengine's rules; raw: raw counters counted exactly; "
                                              "query: the SLI's own PromQL."},
                    "sli": {**_NUMBER_OR_NULL, "description": "Good ÷ total over the window (0..1)."},
                    "good_events": _NUMBER_OR_NULL,
                    "bad_events": _NUMBER_OR_NULL,
                    "total_events": _NUMBER_OR_NULL,
                    "error_budget_events": {**_NUMBER_OR_NULL, "description": "Bad events the objective allows "
                                                                              "at this traffic."},
                    "error_budget_minutes": {"type": "number", "description": "Downtime the objective allows over "
                                                                              "the full window."},
                    "consumed_minutes": _NUMBER_OR_NULL,
                    "error_budget_consumed": _NUMBER_OR_NULL,
                    "error_budget_remaining": {**_NUMBER_OR_NULL, "description": "1 − consumed; negative when "
                                                                                "overspent."},
                    "burn_rates": {"type": "object", "additionalProperties": _NUMBER_OR_NULL,
                                   "description": "Burn rate per alert window (1 = spending exactly the budget)."},
                    "burn_rate_window": {"type": "string"},
                    "time_to_exhaustion_seconds": {**_NUMBER_OR_NULL,
                                                   "description": "At the current burn rate; null when not burning."},
                    "burning": {"type": "array", "items": {"type": "string"},
                                "description": "Alert conditions whose long and short windows both burn too fast."},
                    "period": {
                        "type": ["object", "null"],
                        "additionalProperties": False,
                        "properties": {
                            "start": {"type": "string"}, "end": {"type": "string"},
                            "elapsed_ratio": {"type": "number"},
                            "projected_sli": _NUMBER_OR_NULL,
                            "projected_error_budget_remaining": _NUMBER_OR_NULL,
                        },
                    },
                    "error": {"type": "string"},
                    "notes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    assert math.isfinite(value), "a non-finite figure reached the report"
    return round(value, 12)


def result_document(r: SLOResult) -> dict[str, Any]:
    return {
        "service": r.service,
        "slo": r.slo,
        "group": dict(r.group),
        "objective": r.objective,
        "window": r.window,
        "window_seconds": r.window_seconds,
        "status": r.status.value,
        "source": r.source.value if r.source else None,
        "sli": _num(r.sli),
        "good_events": _num(r.good_events),
        "bad_events": _num(r.bad_events),
        "total_events": _num(r.total_events),
        "error_budget_events": _num(r.error_budget_events),
        "error_budget_minutes": _num(r.error_budget_minutes),
        "consumed_minutes": _num(r.consumed_minutes),
        "error_budget_consumed": _num(r.budget_consumed),
        "error_budget_remaining": _num(r.budget_remaining),
        "burn_rates": {w: _num(v) for w, v in r.burn_rates},
        "burn_rate_window": r.burn_rate_window,
        "time_to_exhaustion_seconds": _num(r.time_to_exhaustion_seconds),
        "burning": list(r.burning),
        "period": None if r.period is None else {
            "start": _iso(r.period.start),
            "end": _iso(r.period.end),
            "elapsed_ratio": _num(r.period.elapsed_ratio),
            "projected_sli": _num(r.period.projected_sli),
            "projected_error_budget_remaining": _num(r.period.projected_budget_remaining),
        },
        "error": r.error,
        "notes": list(r.notes),
    }


def report_document(report: Report) -> dict[str, Any]:
    return {
        "schema": REPORT_SCHEMA_VERSION,
        "at": _iso(report.at),
        "at_unix": report.at,
        "prometheus": report.prometheus,
        "queries": report.queries,
        "duration_seconds": round(report.duration_seconds, 3),
        "summary": {s.value: report.count(s) for s in Status},
        "slos": [result_document(r) for r in report.results],
    }


def render_json(report: Report) -> str:
    # json escapes C0 controls itself; printable also escapes the C1 ones and bidi marks (as JSON escapes).
    return printable(json.dumps(report_document(report), indent=2, sort_keys=False, ensure_ascii=False),
                     keep="\n") + "\n"


def schema_text() -> str:
    return json.dumps(REPORT_SCHEMA, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---- human formats ------------------------------------------------------------------------------


def percent(value: float | None, digits: int = 3) -> str:
    """A ratio as a percentage, or a dash when it could not be computed."""
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds <= 0:
        return "spent"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _burn(r: SLOResult) -> str:
    value = dict(r.burn_rates).get(r.burn_rate_window)
    return "—" if value is None else f"{value:.2f}× ({r.burn_rate_window})"


COLUMNS = ("SLO", "objective", "window", "SLI", "budget left", "burn now", "exhausted in", "status", "source")


def _row(r: SLOResult) -> tuple[str, ...]:
    status = r.status.value.replace("_", " ")
    if r.burning:
        status += f" [{', '.join(r.burning)}]"
    return tuple(map(printable, (r.id, f"{r.objective:g}%", r.window, percent(r.sli), percent(r.budget_remaining, 1),
                                 _burn(r), _duration(r.time_to_exhaustion_seconds), status,
                                 r.source.value if r.source else "—")))


def _footer(report: Report) -> list[str]:
    """The summary and error lines under the table, as they are: each renderer escapes them for its medium."""
    counts = ", ".join(f"{report.count(s)} {s.value.replace('_', ' ')}" for s in Status if report.count(s))
    lines = [f"{len(report.results)} SLOs at {_iso(report.at)} from {report.prometheus}: "
             f"{counts or 'none'}; {report.queries} queries in {report.duration_seconds:.2f}s"]
    failed: dict[str, list[str]] = {}
    for r in report.results:
        if r.error:
            failed.setdefault(r.error, []).append(r.id)
    for error, ids in failed.items():
        who = ids[0] if len(ids) == 1 else (f"{len(ids)} SLOs" if len(ids) > 3 else ", ".join(ids))
        lines.append(f"error: {who}: {error}")
    return lines


def render_table(report: Report, colour: bool = False) -> str:
    rows = [COLUMNS] + [_row(r) for r in report.results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    right = {1, 3, 4, 5, 6}
    lines = []
    for n, row in enumerate(rows):
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        line = "  ".join(cells).rstrip()
        if colour and n > 0:
            line = _colour(line, report.results[n - 1].status)
        lines.append(line)
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + [""] + [printable(line) for line in _footer(report)]) + "\n"


_COLOURS = {Status.ERROR: "\033[31m", Status.BREACHED: "\033[31m", Status.AT_RISK: "\033[33m",
            Status.NO_DATA: "\033[35m", Status.OK: ""}


def _colour(line: str, status: Status) -> str:
    code = _COLOURS[status]
    return f"{code}{line}\033[0m" if code else line


def render_markdown(report: Report) -> str:
    lines = [f"# SLO report — {_iso(report.at)}", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(markdown.text(cell) for cell in _row(r)) + " |" for r in report.results]
    return "\n".join(lines + [""] + [f"{markdown.text(line)}  " for line in _footer(report)]) + "\n"


_HTML_COLOURS = {Status.ERROR: "#f8d7da", Status.BREACHED: "#f8d7da", Status.AT_RISK: "#fff3cd",
                 Status.NO_DATA: "#e2e3e5", Status.OK: "#d4edda"}


def render_html(report: Report) -> str:
    """One self-contained page: the table, each row coloured by status."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    rows = "".join(
        f'<tr style="background:{_HTML_COLOURS[r.status]}">' + "".join(f"<td>{html.escape(c)}</td>" for c in _row(r))
        + "</tr>" for r in report.results)
    footer = "".join(f"<p>{html.escape(printable(line))}</p>" for line in _footer(report))
    return ("<!doctype html><html><head><meta charset=utf-8><title>SLO report</title><style>"
            "body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}"
            "table{border-collapse:collapse}</style></head><body>"
            f"<h1>SLO report — {html.escape(_iso(report.at))}</h1><table><tr>{head}</tr>{rows}</table>"
            f"{footer}</body></html>\n")


RENDERERS = {"table": render_table, "json": render_json, "markdown": render_markdown, "html": render_html}
