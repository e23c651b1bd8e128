"""The SLO list: every result of the latest evaluation, filtered and sorted by the query string.

Filters (``service``, ``team``, ``status``) and sorting (``sort``, ``order``)
are plain GET parameters, so the form and the column links work without
JavaScript. Unknown figures sort last whichever the order, and ties fall back
to the SLO's id, so the same query always gives the same page.

Beside the conditions burning now (the report's burn rates against each
condition's factor), the list shows the alerts Prometheus has firing for each
SLO (its ``ALERTS`` series at the evaluation's instant: burn-rate pages and
tickets, and an agreement's breach-risk alerts on the SLOs it covers). When
Prometheus cannot say, the column says so, never "none".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ...engine.connection import QueryError
from ...model import conventions as c
from ...model.results import Report, SLOResult, Status
from ...model.slo import Catalog
from .markup import UNKNOWN, attr, count, esc, href, iso, page, percent, ratio, status_badge

LIST_PATH = "/"
DETAIL_PATH = "/slo"

#: Each SLO's firing alerts: "name (severity)", with a count when several of its series fire.
Firing = Mapping[tuple[str, str], tuple[str, ...]]


class RangeClient(Protocol):
    """What the pages ask of Prometheus: range queries (each with a deadline of its own)."""

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]: ...


def alert_text(labels: Mapping[str, str], times: int) -> str:
    """How the pages name a firing alert: "name (severity)", with a count when ``times`` of its series fire."""
    severity = labels.get(c.LABEL_SEVERITY, "")
    return (labels.get("alertname", "") + (f" ({severity})" if severity else "")
            + (f" ×{times}" if times > 1 else ""))


def firing_alerts(client: RangeClient, at: float) -> tuple[Firing, str]:
    """(each SLO's alerts firing at ``at``, from Prometheus's ``ALERTS`` series; why they are unknown, or "")."""
    by = ", ".join((c.LABEL_SERVICE, c.LABEL_SLO, "alertname", c.LABEL_SEVERITY))
    try:
        # A one-point range query: it has a deadline of its own, as the other pages' queries do.
        matrix = client.query_range(f'count by ({by}) (ALERTS{{alertstate="firing"}})', at, at, 1.0)
    except QueryError as exc:
        return {}, str(exc)
    found: dict[tuple[str, str], list[str]] = {}
    for item in matrix:
        labels, values = item["metric"], item.get("values", [])
        if not len(values):
            continue
        found.setdefault((labels.get(c.LABEL_SERVICE, ""), labels.get(c.LABEL_SLO, "")), []).append(
            alert_text(labels, int(float(values[-1][1]))))
    return {key: tuple(sorted(names)) for key, names in found.items()}, ""


def _burn_now(r: SLOResult) -> float | None:
    return dict(r.burn_rates).get(r.burn_rate_window)


#: Sortable columns: the parameter value, the heading, and the key (None: unknown, sorted last).
SORTS: dict[str, tuple[str, Callable[[SLOResult], float | str | None]]] = {
    "slo": ("SLO", lambda r: r.id),
    "status": ("status", lambda r: r.status.severity),
    "objective": ("objective", lambda r: r.objective),
    "sli": ("SLI", lambda r: r.sli),
    "budget": ("budget left", lambda r: r.budget_remaining),
    "burn": ("burn now", _burn_now),
    "events": ("events", lambda r: r.total_events),
}
DEFAULT_SORT = "status"


@dataclass(frozen=True)
class ListQuery:
    service: str = ""
    team: str = ""
    status: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> ListQuery:
        """From the query string; an unknown sort column or status is ignored rather than an error."""
        sort = params.get("sort", DEFAULT_SORT)
        status = params.get("status", "")
        return cls(service=params.get("service", ""), team=params.get("team", ""),
                   status=status if status in {s.value for s in Status} else "",
                   sort=sort if sort in SORTS else DEFAULT_SORT, descending=params.get("order") == "desc")

    def params(self, **changes: str) -> dict[str, str]:
        values = {"service": self.service, "team": self.team, "status": self.status, "sort": self.sort,
                  "order": "desc" if self.descending else ""}
        return {**values, **changes}


def teams(catalog: Catalog) -> dict[str, str]:
    """Each service's team ("" when it has none)."""
    return {s.name: s.team for s in catalog.services}


def select(report: Report, catalog: Catalog, query: ListQuery) -> list[SLOResult]:
    """The results the query keeps, in its order."""
    team_of = teams(catalog)
    kept = [r for r in report.results
            if (not query.service or r.service == query.service)
            and (not query.team or team_of.get(r.service, "") == query.team)
            and (not query.status or r.status.value == query.status)]
    key = SORTS[query.sort][1]
    known = [r for r in kept if key(r) is not None]
    unknown = [r for r in kept if key(r) is None]
    known.sort(key=lambda r: r.id)
    known.sort(key=key, reverse=query.descending)  # type: ignore[arg-type]
    unknown.sort(key=lambda r: r.id)
    return known + unknown


def _options(name: str, values: list[str], chosen: str, label: str) -> str:
    options = "".join(f"<option{attr('value', v)}{' selected' if v == chosen else ''}>{esc(v or 'all')}</option>"
                      for v in ["", *values])
    return f'<label>{esc(label)} <select{attr("name", name)}>{options}</select></label> '


def _filters(report: Report, catalog: Catalog, query: ListQuery) -> str:
    services = sorted({r.service for r in report.results})
    team_names = sorted({t for t in teams(catalog).values() if t})
    statuses = [s.value for s in Status]
    return (f'<form method="get"{attr("action", LIST_PATH)} class="filters">'
            + _options("service", services, query.service, "service")
            + _options("team", team_names, query.team, "team")
            + _options("status", statuses, query.status, "status")
            + f'<input type="hidden" name="sort"{attr("value", query.sort)}>'
            + (('<input type="hidden" name="order" value="desc">') if query.descending else "")
            + '<button type="submit">filter</button></form>')


def _heading(column: str, query: ListQuery) -> str:
    title = SORTS[column][0]
    descending = not query.descending if query.sort == column else False
    arrow = (" ▼" if query.descending else " ▲") if query.sort == column else ""
    link = href(LIST_PATH, query.params(sort=column, order="desc" if descending else ""))
    return f'<a href="{link}" data-sort="{esc(column)}">{esc(title)}{arrow}</a>'


def detail_link(r: SLOResult) -> str:
    return href(DETAIL_PATH, {"service": r.service, "slo": r.slo})


def row(r: SLOResult, team: str, alerts: tuple[str, ...] | None) -> list[str]:
    """The cells of one SLO (``alerts``: its firing alerts; None: unknown)."""
    burn = _burn_now(r)
    burning = ", ".join(r.burning)
    status = status_badge(r.status) + (f'<div class="error">{esc(r.error)}</div>' if r.error else "")
    return [f'<a href="{detail_link(r)}">{esc(r.id)}</a>', esc(team or "—"), status, esc(f"{r.objective:g}%"),
            esc(r.window), esc(percent(r.sli)), esc(percent(r.budget_remaining, 1)),
            esc(UNKNOWN if burn is None else f"{ratio(burn)} ({r.burn_rate_window})"),
            esc(burning or "none"), esc("unknown" if alerts is None else ", ".join(alerts) or "none"),
            esc(count(r.total_events))]


COLUMNS = ("slo", "team", "status", "objective", "window", "sli", "budget", "burn", "firing", "alerts", "events")
_TITLES = {"team": "team", "window": "window", "firing": "alert conditions burning", "alerts": "alerts firing"}


#: The figure behind a cell, as ``report --format json`` spells it (``null``: unknown), for scripts and tests.
_VALUES: dict[str, Callable[[SLOResult], float | None]] = {
    "objective": lambda r: r.objective, "sli": lambda r: r.sli, "budget": lambda r: r.budget_remaining,
    "burn": _burn_now, "events": lambda r: r.total_events,
}


def _value(r: SLOResult, column: str) -> str:
    figure = _VALUES.get(column)
    if figure is None:
        return ""
    value = figure(r)
    return attr("data-value", "null" if value is None else json.dumps(round(value, 12)))


def render_list(report: Report, catalog: Catalog, query: ListQuery, *, banner: str = "",
                firing: Firing | None = None, firing_error: str = "") -> str:
    """The list page; ``firing`` (from :func:`firing_alerts`; None: not asked) fills the alerts column, and
    ``firing_error`` says why it could not be read (every SLO's alerts are then unknown)."""
    team_of = teams(catalog)
    results = select(report, catalog, query)
    head = [_heading(col, query) if col in SORTS else esc(_TITLES[col]) for col in COLUMNS]

    def alerts(r: SLOResult) -> tuple[str, ...] | None:
        if firing is None or firing_error:
            return None
        return firing.get((r.service, r.slo), ())

    rows = ([f'<tr{attr("data-slo", r.id)}{attr("data-status", r.status.value)}>'
             + "".join(f'<td{attr("data-col", col)}{_value(r, col)}>{cell}</td>'
                       for col, cell in zip(COLUMNS, row(r, team_of.get(r.service, ""), alerts(r))))
             + "</tr>" for r in results])
    if firing_error:
        banner += ('<p class="banner" data-alerts-unknown>Firing alerts are unknown: Prometheus could not be '
                   f"asked ({esc(firing_error)}).</p>")
    summary = ", ".join(f"{report.count(s)} {esc(s.value.replace('_', ' '))}" for s in Status if report.count(s))
    heading = "".join(f"<th>{h}</th>" for h in head)
    body = (f'<p class="summary">{len(report.results)} SLOs evaluated at {esc(iso(report.at))}: {summary or "none"}. '
            f'Showing {len(results)}.</p>' + _filters(report, catalog, query)
            + f'<table class="slos"><thead><tr>{heading}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return page("Service level objectives", body, banner=banner)
