"""The agreements page of one customer: each of its SLAs this period (attainment, budget left, credit at stake,
support hours, exclusions), the OLAs and UCs underneath, and past periods.

Figures are ``sla-report``'s (exact counts from the raw series, via :mod:`sloengine.agreements.sla`), computed
when a page is asked for and kept until the next evaluation of the exporter (its instant is the page's "now", so
the page is the same for the same data). Only agreements whose customer is the one asked for are read, with the
agreements they depend on; nothing else is counted or shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ...agreements.sla import AgreementResult, CommitmentResult, Compliance, evaluate_agreement
from ...model.results import Status
from ...model.slo import Agreement, AgreementKind, Catalog, MaintenanceWindow, WeeklyHours
from .markup import UNKNOWN, esc, href, page, percent, table
from .slo_detail import Chart, Line, chart_html
from .slo_list import RangeClient

AGREEMENTS_PATH = "/agreements"
#: Past periods shown under the current one.
PAST_PERIODS = 3

_VERDICT = {Compliance.MET: Status.OK, Compliance.BREACHED: Status.BREACHED, Compliance.NO_DATA: Status.NO_DATA,
            Compliance.ERROR: Status.ERROR}
_VERDICT_TEXT = {Compliance.MET: "met", Compliance.BREACHED: "breached", Compliance.NO_DATA: "no data",
                 Compliance.ERROR: "error"}

Evaluate = Callable[..., AgreementResult]


def customers(catalog: Catalog) -> list[str]:
    return sorted({a.consumer for a in catalog.agreements if a.kind is AgreementKind.SLA and a.consumer})


def slas_of(catalog: Catalog, customer: str) -> list[Agreement]:
    return sorted((a for a in catalog.agreements if a.kind is AgreementKind.SLA and a.consumer == customer),
                  key=lambda a: a.name)


@dataclass(frozen=True)
class CustomerView:
    """One customer's SLAs: this period's results (with their dependencies) and the past periods'."""

    customer: str
    at: float
    current: tuple[AgreementResult, ...]
    past: tuple[tuple[AgreementResult, ...], ...]   # per SLA, newest first


def _day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def view(client: RangeClient, catalog: Catalog, customer: str, at: float,
         evaluate: Evaluate = evaluate_agreement) -> CustomerView:
    by_name = {a.name: a for a in catalog.agreements}
    current, past = [], []
    for sla in slas_of(catalog, customer):
        result = evaluate(client, catalog, by_name, sla, _day(at), at)
        current.append(result)
        earlier = []
        start = result.start
        for _ in range(PAST_PERIODS):
            # The period containing the day before this one started, in the agreement's own calendar.
            previous = evaluate(client, catalog, by_name, sla, _day(start - 43200), at)
            earlier.append(previous)
            start = previous.start
        past.append(tuple(earlier))
    return CustomerView(customer, at, tuple(current), tuple(past))


class CustomerViews:
    """Each customer's view, recomputed when the exporter's evaluation instant moves (one at a time); a view in
    which a count failed is not kept."""

    def __init__(self, evaluate: Evaluate = evaluate_agreement) -> None:
        self._evaluate = evaluate
        self._views: dict[str, CustomerView] = {}
        self._lock = threading.Lock()

    def get(self, client: RangeClient, catalog: Catalog, customer: str, at: float) -> CustomerView:
        with self._lock:
            cached = self._views.get(customer)
            if cached is None or cached.at != at:
                cached = view(client, catalog, customer, at, self._evaluate)
                # A view with a failed count is shown, not kept: the next page asks again.
                self._views[customer] = cached
                if any(r.compliance is Compliance.ERROR for results in (cached.current, *cached.past)
                       for top in results for r in (top, *top.dependencies)):
                    del self._views[customer]
            return cached


# ---- rendering ----------------------------------------------------------------------------------


def _hours(hours: WeeklyHours | None) -> str:
    if hours is None or hours.always:
        return "around the clock"
    days = ", ".join(hours.weekdays) or "every day"
    times = ", ".join(r.text for r in hours.ranges)
    return f"{days} {times} ({hours.timezone})" + (f", except {len(hours.holidays)} holidays"
                                                   if hours.holidays else "")


def _exclusion(w: MaintenanceWindow) -> str:
    if w.start is not None and w.end is not None:
        return f"{w.name}: {w.start.isoformat()} to {w.end.isoformat()}"
    return f"{w.name}: {_hours(w.hours)}"


def _exclusions(r: AgreementResult) -> str:
    """The exclusions that can touch the period shown (weekly ones, one-off ones overlapping it), and how
    many one-off windows fall outside it."""
    shown = [w for w in r.agreement.exclusions if w.start is None or w.end is None
             or (w.start.timestamp() < r.end and w.end.timestamp() > r.start)]
    others = len(r.agreement.exclusions) - len(shown)
    items = "".join(f"<li>{esc(_exclusion(w))}</li>" for w in shown)
    more = f"<p>{others} other one-off window{'s' if others != 1 else ''} outside this period.</p>" if others else ""
    return (f"<ul>{items}</ul>" if items else "<p>None in this period.</p>") + more


def _underneath(p: AgreementResult) -> str:
    """A past period's OLAs and UCs: each one's attainment and verdict then."""
    if not p.dependencies:
        return esc("none")
    return "<br>".join(f"{esc(d.agreement.name)}: "
                       f'<span data-value="{esc(_fig(d.attained))}">{esc(percent(d.attained))}</span> '
                       + _verdict(d) for d in p.dependencies)


def _budget_left(r: AgreementResult) -> float | None:
    values = [c.budget_remaining for c in r.commitments if c.budget_remaining is not None]
    return min(values) if values and len(values) == len(r.commitments) else None


def _verdict(r: AgreementResult | CommitmentResult, partial: bool = False) -> str:
    compliance = r.compliance
    text = _VERDICT_TEXT[compliance] + (" so far" if partial and compliance in (Compliance.MET, Compliance.BREACHED)
                                        else "")
    return f'<span class="status {_VERDICT[compliance].value}">{esc(text)}</span>'


def _credit_at_stake(r: AgreementResult) -> str:
    steps = sorted(r.agreement.credits, key=lambda s: -s.below)
    if not steps:
        return "none (no credits in this agreement)"
    owed = f"{r.credit_percent:g}% owed" if r.compliance is Compliance.BREACHED else "none owed"
    if r.compliance in (Compliance.ERROR, Compliance.NO_DATA):
        owed = "unknown (" + _VERDICT_TEXT[r.compliance] + ")"
    ladder = "; ".join(f"below {s.below:g}%: {s.credit_percent:g}%" for s in steps)
    return f"{owed}; up to {max(s.credit_percent for s in steps):g}% ({ladder})"


def _summary(r: AgreementResult) -> list[str]:
    a = r.agreement
    return [esc(a.name), esc(a.kind.value.upper()), esc(a.provider), esc(a.tier or "—"), esc(f"{a.objective:g}%"),
            f'<span data-value="{esc(_fig(r.attained))}">{esc(percent(r.attained))}</span>',
            _verdict(r, r.partial), esc(percent(_budget_left(r), 1)), esc(_credit_at_stake(r))]


def _fig(value: float | None) -> str:
    return "null" if value is None else repr(round(value, 12))


def _commitments(r: AgreementResult) -> str:
    rows = []
    for c in r.commitments:
        match = ",".join(f"{k}={v}" for k, v in c.commitment.match)
        name = c.commitment.slo_id + (f"{{{match}}}" if match else "")
        rows.append([esc(name), esc(f"{c.commitment.objective:g}%"),
                     f'<span data-value="{esc(_fig(c.attained))}">{esc(percent(c.attained))}</span>',
                     _verdict(c), esc(_minutes(c.downtime_minutes)), esc(_minutes(c.allowance_minutes)),
                     esc(percent(c.budget_remaining, 1)), esc(f"{c.counted_seconds / 3600:.1f} h")
                     + (f'<div class="error">{esc(c.error)}</div>' if c.error else "")])
    return table(map(esc, ["SLO", "target", "attained", "verdict", "downtime", "allowance", "budget left",
                           "counted time"]), rows, cls="commitments")


def _minutes(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.1f} min"


def _burn_down(r: AgreementResult, key: str) -> str:
    out = []
    for n, c in enumerate(r.commitments):
        times = tuple(t for t, _ in c.burn_down)
        ideal = dict(c.ideal)
        chart = Chart(f"{key}-{n}", f"Budget burn-down: {c.commitment.slo_id}", times,
                      (Line("budget left", tuple(round(v, 12) for _, v in c.burn_down)),
                       Line("ideal (even spend over counted time)",
                            tuple(None if t not in ideal else round(ideal[t], 12) for t in times))),
                      (("budget spent", 0.0),), c.error, percent=True)
        out.append(chart_html(chart))
    return "".join(out)


def _agreement(r: AgreementResult, past: Sequence[AgreementResult], key: str) -> str:
    a = r.agreement
    head = ["agreement", "kind", "provider", "tier", "target", "attained", "verdict", "budget left",
            "credit at stake"]
    parts = [f'<section class="agreement" data-agreement="{esc(a.name)}"><h2>{esc(a.name)}</h2>',
             f"<p>Period {esc(_when(r.start))} to {esc(_when(r.end))}"
             + (f", so far (at {esc(_when(r.at))})" if r.partial else "") + ". Support hours: "
             f"{esc(_hours(a.support_hours))}.</p>",
             table(map(esc, head), [_summary(r)], cls="summary"),
             "<h3>Exclusions</h3>" + _exclusions(r),
             "<h3>Commitments</h3>" + _commitments(r), _burn_down(r, key)]
    if r.dependencies:
        parts.append("<h3>Underneath (OLAs and UCs)</h3>"
                     + table(map(esc, head), [_summary(d) for d in r.dependencies], cls="dependencies"))
        parts += [f"<h4>{esc(d.agreement.name)}</h4>" + _commitments(d) for d in r.dependencies]
    if past:
        parts.append("<h3>Past periods</h3>" + table(
            map(esc, ["period", "attained", "verdict", "credit owed", "OLAs and UCs underneath"]),
            [[esc(f"{_when(p.start)} to {_when(p.end)}"),
              f'<span data-value="{esc(_fig(p.attained))}">{esc(percent(p.attained))}</span>', _verdict(p),
              esc(f"{p.credit_percent:g}%" if p.compliance is Compliance.BREACHED else
                  ("unknown" if p.compliance in (Compliance.ERROR, Compliance.NO_DATA) else "none")),
              _underneath(p)]
             for p in past], cls="past"))
    return "".join(parts) + "</section>"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ")


def render_customer(view: CustomerView, *, standalone: bool = False) -> str:
    """``standalone``: the server shows this customer only, so the page links to nothing else."""
    if not view.current:
        body = "<p>No SLA names this customer.</p>"
    else:
        body = "".join(_agreement(r, past, f"a{n}") for n, (r, past) in enumerate(zip(view.current, view.past)))
    return page(f"Agreements of {view.customer}", body, charts=True, nav=not standalone)


def render_index(catalog: Catalog) -> str:
    names = customers(catalog)
    items = "".join(f'<li><a href="{href(AGREEMENTS_PATH, {"customer": n})}">{esc(n)}</a></li>' for n in names)
    return page("Agreements", f"<ul class=customers>{items}</ul>" if names else "<p>No SLAs in these specs.</p>")


