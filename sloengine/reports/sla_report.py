"""``sloengine sla-report`` output: Markdown for a review meeting, HTML with burn-down charts, JSON for tools.

The HTML is one self-contained file: the burn-down charts are inline SVG
drawn here (budget left hour by hour against the ideal straight line over
counted time), so the report needs no plotting library and no network.
Every format leaves the text's control characters escaped (a server's error
message reaches it, and a terminal or a Markdown table would obey them).
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from ..agreements.sla import AgreementResult, CommitmentResult, Compliance, Episode, iso
from ..model import markdown
from ..model.terminal import printable
from .report import percent

SCHEMA_VERSION = "sloengine-sla-report/v1"


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} min"


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    assert math.isfinite(value), "a non-finite figure reached the SLA report"
    return round(value, 12)


# ---- JSON ---------------------------------------------------------------------------------------


def _episode_doc(e: Episode, tz: str) -> dict[str, Any]:
    return {"start": iso(e.start, tz), "end": iso(e.end, tz), "bad_events": _num(e.bad_events),
            "budget_share": _num(e.budget_share), "peak_burn_rate": _num(e.peak_burn_rate)}


def _commitment_doc(c: CommitmentResult, tz: str) -> dict[str, Any]:
    return {
        "service": c.commitment.service, "slo": c.commitment.slo, "match": dict(c.commitment.match),
        "objective": c.commitment.objective, "compliance": c.compliance.value,
        "attained": _num(c.attained), "good_events": _num(c.good_events), "total_events": _num(c.total_events),
        "counted_seconds": c.counted_seconds, "period_counted_seconds": c.period_counted_seconds,
        "downtime_minutes": _num(c.downtime_minutes), "allowance_minutes": _num(c.allowance_minutes),
        "error_budget_remaining": _num(c.budget_remaining),
        "worst_episodes": [_episode_doc(e, tz) for e in c.episodes],
        "burn_down": [[iso(t, tz), _num(v)] for t, v in c.burn_down],
        "error": c.error,
    }


def agreement_doc(r: AgreementResult) -> dict[str, Any]:
    a = r.agreement
    return {
        "name": a.name, "kind": a.kind.value, "provider": a.provider, "customer": a.consumer, "tier": a.tier,
        "period": {"unit": a.period.value, "timezone": a.timezone, "start": iso(r.start, a.timezone),
                   "end": iso(r.end, a.timezone), "complete": not r.partial, "evaluated_at": iso(r.at, a.timezone)},
        "target": a.objective, "attained": _num(r.attained), "compliance": r.compliance.value,
        "credit_percent": r.credit_percent,
        "commitments": [_commitment_doc(c, a.timezone) for c in r.commitments],
        "dependencies": [agreement_doc(d) for d in r.dependencies],
    }


def render_json(results: tuple[AgreementResult, ...], period: str) -> str:
    doc = {"schema": SCHEMA_VERSION, "period": period, "agreements": [agreement_doc(r) for r in results]}
    return printable(json.dumps(doc, indent=2, ensure_ascii=False), keep="\n") + "\n"


# ---- Markdown -----------------------------------------------------------------------------------

_VERDICT = {Compliance.MET: "met", Compliance.BREACHED: "**breached**", Compliance.NO_DATA: "no data",
            Compliance.ERROR: "**error**"}


def _summary_row(r: AgreementResult, indent: str = "") -> str:
    a = r.agreement
    state = _VERDICT[r.compliance] + (" (so far)" if r.partial else "")
    credit = f"{r.credit_percent:g}%" if r.credit_percent else "—"
    return (f"| {indent}{markdown.text(a.name)} | {a.kind.value.upper()} | {markdown.text(a.consumer or '—')} | "
            f"{a.objective:g}% | "
            f"{percent(r.attained)} | {state} | {credit} |")


def _commitment_lines(r: AgreementResult) -> list[str]:
    a = r.agreement
    tier = f", tier {markdown.text(a.tier)}" if a.tier else ""
    lines = [f"### {markdown.text(a.name)} ({a.kind.value.upper()}{tier})", "",
             f"{markdown.text(a.provider)} → {markdown.text(a.consumer or '—')}; "
             f"period {iso(r.start, a.timezone)} to {iso(r.end, a.timezone)}"
             + (f", evaluated at {iso(r.at, a.timezone)} (period not over)" if r.partial else "") + ".", "",
             "| SLO | target | attained | verdict | downtime | allowance | budget left | counted time |",
             "|---|---|---|---|---|---|---|---|"]
    for c in r.commitments:
        match = ",".join(f"{k}={v}" for k, v in c.commitment.match)
        name = c.commitment.slo_id + (f"{{{match}}}" if match else "")
        lines.append(f"| {markdown.text(name)} | {c.commitment.objective:g}% | {percent(c.attained)} | "
                     f"{_VERDICT[c.compliance]} | "
                     f"{_minutes(c.downtime_minutes)} | {_minutes(c.allowance_minutes)} | "
                     f"{percent(c.budget_remaining, 1)} | {c.counted_seconds / 3600:.1f} h |")
    for c in r.commitments:
        if c.error:
            lines.append(f"\nerror: {markdown.text(c.commitment.slo_id)}: {markdown.text(c.error)}")
        if c.episodes:
            lines += ["", f"Worst episodes for {markdown.text(c.commitment.slo_id)}:", ""]
            lines += [f"- {iso(e.start, a.timezone)} – {iso(e.end, a.timezone)}: {e.bad_events:.0f} bad events, "
                      f"{e.budget_share * 100:.1f}% of the budget, peak burn {e.peak_burn_rate:.1f}×"
                      for e in c.episodes]
    return lines + [""]


def render_markdown(results: tuple[AgreementResult, ...], period: str) -> str:
    lines = [f"# Service level report — {period}", "",
             "| agreement | kind | customer | target | attained | verdict | credit owed |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(_summary_row(r))
        lines += [_summary_row(d, "↳ ") for d in r.dependencies]
    lines.append("")
    for r in results:
        lines += _commitment_lines(r)
        for d in r.dependencies:
            lines += _commitment_lines(d)
    return printable("\n".join(lines), keep="\n")


# ---- HTML ---------------------------------------------------------------------------------------

_W, _H, _PAD = 640, 200, 36


def burn_down_svg(c: CommitmentResult, start: float, end: float) -> str:
    """Budget left over the period (solid) against the ideal even spend over counted time (dashed)."""
    if not c.burn_down:
        return "<p>No data to chart.</p>"
    values = [v for _, v in c.burn_down] + [v for _, v in c.ideal] + [1.0, 0.0]
    low, high = min(values), max(values)
    span = (high - low) or 1.0

    def point(t: float, v: float) -> str:
        x = _PAD + (t - start) / (end - start) * (_W - 2 * _PAD)
        y = _PAD / 2 + (high - v) / span * (_H - _PAD)
        return f"{x:.1f},{y:.1f}"

    actual = " ".join(point(t, v) for t, v in [(start, 1.0), *c.burn_down])
    ideal = " ".join(point(t, v) for t, v in [(start, 1.0), *c.ideal])
    zero = _PAD / 2 + high / span * (_H - _PAD)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
            f'aria-label="error budget burn-down">'
            f'<rect width="{_W}" height="{_H}" fill="#fff" stroke="#ccc"/>'
            f'<line x1="{_PAD}" x2="{_W - _PAD}" y1="{zero:.1f}" y2="{zero:.1f}" stroke="#999"/>'
            f'<text x="4" y="{zero:.1f}" font-size="10">0%</text>'
            f'<polyline points="{ideal}" fill="none" stroke="#888" stroke-dasharray="4 3"/>'
            f'<polyline points="{actual}" fill="none" stroke="#c0392b" stroke-width="2"/>'
            f'<text x="{_PAD}" y="12" font-size="11">budget left (red) vs ideal (dashed)</text></svg>')


def render_html(results: tuple[AgreementResult, ...], period: str) -> str:
    body = [f"<h1>Service level report — {html.escape(period)}</h1>"]
    for r in results:
        for item in (r, *r.dependencies):
            a = item.agreement
            body.append(f"<h2>{html.escape(a.name)} <small>{a.kind.value.upper()} · "
                        f"{html.escape(a.consumer or '')}</small></h2>")
            body.append(f"<p>Target {a.objective:g}% · attained {percent(item.attained)} · "
                        f"<b>{item.compliance.value.replace('_', ' ')}</b>"
                        + (" (period not over)" if item.partial else "")
                        + (f" · credit owed {item.credit_percent:g}%" if item.credit_percent else "") + "</p>")
            for c in item.commitments:
                body.append(f"<h3>{html.escape(c.commitment.slo_id)}</h3>")
                body.append(f"<p>Downtime {_minutes(c.downtime_minutes)} of {_minutes(c.allowance_minutes)} allowed; "
                            f"budget left {percent(c.budget_remaining, 1)}.</p>")
                body.append(burn_down_svg(c, item.start, item.end))
                if c.episodes:
                    body.append("<ul>" + "".join(
                        f"<li>{html.escape(iso(e.start, a.timezone))} – {html.escape(iso(e.end, a.timezone))}: "
                        f"{e.budget_share * 100:.1f}% of the budget, peak burn {e.peak_burn_rate:.1f}×</li>"
                        for e in c.episodes) + "</ul>")
                if c.error:
                    body.append(f"<p class=error>{html.escape(printable(c.error))}</p>")
    return printable("<!doctype html><html><head><meta charset=utf-8><title>Service level report</title>"
                     "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}small{color:#666}"
                     ".error{color:#c0392b}</style></head><body>" + "\n".join(body) + "</body></html>\n", keep="\n")


RENDERERS = {"markdown": render_markdown, "html": render_html, "json": render_json}
