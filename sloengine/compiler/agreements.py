"""Breach-risk rules for agreements (SLAs, OLAs, UCs): attainment over the period so far, and alerts (pure).

``sla-report`` counts an agreement's events from raw samples: each event is
attributed to the sample that first shows it, and only samples within support
hours and outside exclusions count. The rules here count the same events.
Each commitment (an SLO's SLI narrowed by the agreement's ``match``) gets its
own 5-minute tiles, built like the SLOs' tiles (held values on a 15-second
grid, tiles that partition time) except that a grid step counts only where
the agreement's *mask* holds: the step's wall-clock time in the zone of the
support hours (its UTC offset from the zone's transitions, so a 23- or
25-hour day is exact) is within support hours, on a listed weekday, not a
holiday, and not in an exclusion. Support-hour and exclusion edges fall on
whole minutes, hence on grid steps, so a step counts exactly the samples
``sla-report`` counts. Tiles are summed over the agreement's calendar period
so far (the period-start series of ``_calendars.rules.yml``), which gives the
attainment and the share of the period's error budget spent; alerts fire when
50/75/90/100% is spent and when the period is projected to end in breach, and
carry the agreement's ``notify`` receiver, which the Alertmanager
configuration routes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..model import conventions as c
from ..model.calendars import offset_expr
from ..model.promql import Matcher, MatchOp, Selector
from ..model.slo import (
    SLI,
    SLO,
    Agreement,
    Catalog,
    Commitment,
    LatencySLI,
    MaintenanceWindow,
    ProbeSLI,
    RatioSLI,
    WeeklyHours,
)
from ..model.templates import literal
from .queries import EventQueries, checked, label_matchers, number, summed
from .rules import (
    AlertingRule,
    Intervals,
    RecordingRule,
    Rule,
    RuleGroup,
    period_end_series,
    period_start_series,
    period_to_date_sum,
    window_name,
)

#: datetime.weekday() (0 = Monday) to PromQL's day_of_week() (0 = Sunday).
_PROMQL_WEEKDAY = {d: (d + 1) % 7 for d in range(7)}


@dataclass(frozen=True)
class Covered:
    """One commitment of an agreement with the SLO whose SLI it holds to the agreement's target."""

    agreement: Agreement
    commitment: Commitment
    slo: SLO

    @property
    def labels(self) -> tuple[tuple[str, str], ...]:
        return ((c.LABEL_AGREEMENT, self.agreement.name), (c.LABEL_SERVICE, self.commitment.service),
                (c.LABEL_SLO, self.commitment.slo))

    def series(self, metric: str) -> str:
        return metric + label_matchers(self.labels)


def _narrow_selector(selector: Selector, commitment: Commitment) -> Selector:
    return selector.with_matchers(*(Matcher(k, MatchOp.EQ, v) for k, v in commitment.match))


def narrowed_sli(sli: SLI, commitment: Commitment) -> SLI | None:
    """The SLI restricted to the commitment's ``match`` and summed whole (as ``sla-report`` counts it);
    None for raw PromQL, which has no counters to narrow."""
    if isinstance(sli, RatioSLI):
        return replace(sli, total=_narrow_selector(sli.total, commitment),
                       good=_narrow_selector(sli.good, commitment) if sli.good is not None else None,
                       bad=_narrow_selector(sli.bad, commitment) if sli.bad is not None else None, group_by=())
    if isinstance(sli, LatencySLI):
        return replace(sli, histogram=_narrow_selector(sli.histogram, commitment), group_by=())
    if isinstance(sli, ProbeSLI):
        return replace(sli, gauge=_narrow_selector(sli.gauge, commitment), group_by=())
    return None


def covered(catalog: Catalog) -> tuple[Covered, ...]:
    """Every commitment whose SLO is in the catalogue and counts events, by agreement name then SLO."""
    slos = {s.id: s for s in catalog.slos}
    out = []
    seen: set[tuple[str, str]] = set()
    for agreement in sorted(catalog.agreements, key=lambda a: a.name):
        for commitment in agreement.commitments:
            slo = slos.get(commitment.slo_id)
            key = (agreement.name, commitment.slo_id)
            # One series per (agreement, SLO): a second entry for the same SLO would record the same labels.
            if slo is None or key in seen or narrowed_sli(slo.sli, commitment) is None:
                continue
            seen.add(key)
            out.append(Covered(agreement, commitment, slo))
    return tuple(out)


# ---- the mask of counted time -------------------------------------------------------------------


def _zone_series(metric: str, tz: str) -> str:
    return f"scalar({metric}{label_matchers(((c.LABEL_TIMEZONE, tz),))} @ end())"


def _local_step(tz: str, span: tuple[int, int] | None = None) -> str:
    """Wall-clock time (encoded as if UTC) at the start of the grid step ending at ``time()``.

    A step ending at ``g`` counts the samples of ``(g - 15s, g]``; an interval
    ``(a, b]`` on whole minutes holds them exactly when ``g - 15s`` is in
    ``[a, b)``, which in wall-clock terms is the usual half-open range. The
    offset comes from the calendar group's samples of the zone's offset, last
    change and offset before it, as of the rule's own evaluation (``@ end()``):
    a step older than any sample of them (a new or restarted Prometheus
    catching up) still gets its offset, and it costs a few selectors instead
    of the zone's whole transition table. With ``span`` (backfill, where no recorded series exist: steps within
    ``span``), the offset comes from the zone's transitions within it.
    """
    step = f"(time() - {c.TILE_GRID_SECONDS})"
    if span is not None:
        return f"vector({step} + ({offset_expr(tz, step, within=span)}))"
    now, when, before = (_zone_series(m, tz) for m in (c.METRIC_UTC_OFFSET, c.METRIC_LAST_OFFSET_CHANGE,
                                                        c.METRIC_PREVIOUS_UTC_OFFSET))
    return f"vector({step} + {now} - ({step} < bool {when}) * ({now} - {before}))"


def _weekday_runs(days: frozenset[int]) -> list[tuple[int, int]]:
    """The weekdays (0 = Monday) as cyclic runs (PromQL's first day, 0 = Sunday; length)."""
    runs: list[tuple[int, int]] = []
    for day in range(7):
        if day in days and (day - 1) % 7 not in days:
            length = 1
            while length < 7 and (day + length) % 7 in days:
                length += 1
            runs.append((_PROMQL_WEEKDAY[day], length))
    return runs


def _local_midnights(day: date, tz: str) -> tuple[float, float]:
    """A local day as UTC Unix seconds ``[start, end)`` (23 or 25 hours long when the clocks change)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.timestamp(), datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).timestamp()


def _hours_terms(hours: WeeklyHours, span: tuple[int, int] | None = None) -> list[str]:
    """0/1 vector factors that are all 1 within ``hours`` (none: around the clock). The step's wall-clock time
    appears once per weekday run and once per time range (its offset expression is long); holidays are
    absolute, so they are UTC intervals of the step's start."""
    local = _local_step(hours.timezone, span)
    terms = []
    if len(hours.weekday_numbers) < 7:
        runs = _weekday_runs(hours.weekday_numbers)
        terms.append("(" + " + ".join(f"((day_of_week({local}) + {7 - first}) % 7 < bool {length})"
                                      for first, length in runs) + ")")
    ranges = [r for r in hours.times if not (r.start_minute == 0 and r.end_minute == 1440)]
    if ranges and len(ranges) == len(hours.times):
        parts = [f"({local} % 86400 >= bool {r.start_minute * 60}) * ({local} % 86400 < bool {r.end_minute * 60})"
                 for r in sorted(ranges, key=lambda r: (r.start_minute, r.end_minute))]
        terms.append(f"clamp_max({' + '.join(parts)}, 1)")
    if hours.holidays:
        step = f"vector(time() - {c.TILE_GRID_SECONDS})"
        hits = " + ".join(f"({step} >= bool {number(a)}) * ({step} < bool {number(b)})"
                          for a, b in (_local_midnights(h, hours.timezone) for h in sorted(set(hours.holidays))))
        terms.append(f"(1 - clamp_max({hits}, 1))")
    return terms


def _hours_value(hours: WeeklyHours, span: tuple[int, int] | None) -> str:
    terms = _hours_terms(hours, span)
    return " * ".join(terms) if terms else "vector(1)"


def _exclusion_value(window: MaintenanceWindow, span: tuple[int, int] | None) -> str:
    if window.hours is not None:
        return _hours_value(window.hours, span)
    assert window.start is not None and window.end is not None
    return (f"(vector(time()) > bool {number(window.start.timestamp())}) * "
            f"(vector(time()) <= bool {number(window.end.timestamp())})")


def counted_mask(agreement: Agreement, span: tuple[int, int] | None = None) -> str | None:
    """A vector of ``time()`` with a sample exactly in the agreement's counted time; None: always counted.
    ``span``: for steps within it only, reading no recorded series (for backfill)."""
    support = [] if agreement.support_hours.always else _hours_terms(agreement.support_hours, span)
    factors = list(support)
    if agreement.exclusions:
        excluded = " + ".join(_exclusion_value(w, span) for w in agreement.exclusions)
        factors.append(f"(1 - clamp_max({excluded}, 1))")
    if not factors:
        return None
    return f"({' * '.join(factors)}) > 0"


# ---- recording rules ----------------------------------------------------------------------------


def _in_period(agreement: Agreement) -> str:
    """Steps after the start of the period the rule's instant is in: a tile straddling the period start
    counts only its part in this period."""
    start = period_start_series(agreement.period, agreement.timezone)
    return f"vector(time()) > on() ({start} @ end())"


def _tile_end_since(item: Covered) -> str:
    return (f"scalar(last_over_time({item.series(c.METRIC_SLA_TILE_END)}"
            f"[{window_name(c.TILE_CATCHUP_SECONDS)}] @ end()))")


def tile_rules(item: Covered, *, backfill: tuple[int, int] | None = None) -> list[RecordingRule]:
    """A commitment's counted bad and total events per tile, and where its tile ended.

    ``backfill`` (the span of the instants it is evaluated at): tiles of the 5 minutes before the instant,
    reading no recorded series, for evaluation on 5-minute boundaries (as ``sloengine backfill`` does);
    periods start on 5-minute boundaries, so no such tile straddles one.

    A live tile's mask reads the calendar group's series (the period's start, the zone's offsets): before that
    group's first evaluation (a restart, new rules) they are missing and the mask holds nowhere, so the tile's
    end is recorded only when they are there; the next tile then starts where the last counted one ended.
    """
    sli = narrowed_sli(item.slo.sli, item.commitment)
    assert sli is not None
    queries = EventQueries(sli)
    grid = c.TILE_GRID_SECONDS
    if backfill is not None:
        hours = counted_mask(item.agreement, (backfill[0] - c.TILE_SECONDS, backfill[1]))
        total = queries.tile_total(None, hours)
        return [RecordingRule(c.METRIC_SLA_TILE_TOTAL, total, item.labels),
                RecordingRule(c.METRIC_SLA_TILE_BAD, queries.tile_bad(total, None, hours), item.labels),
                RecordingRule(c.METRIC_SLA_TILE_END, checked(f"vector(time() - time() % {grid})"), item.labels)]
    hours = counted_mask(item.agreement)
    mask = _in_period(item.agreement) + (f" and on() ({hours})" if hours else "")
    since = _tile_end_since(item)
    recorded_total = summed(item.series(c.METRIC_SLA_TILE_TOTAL), ())
    needed = [period_start_series(item.agreement.period, item.agreement.timezone)]
    needed += [m + label_matchers(((c.LABEL_TIMEZONE, tz),)) for tz in _agreement_zones(item.agreement)
               for m in (c.METRIC_UTC_OFFSET, c.METRIC_LAST_OFFSET_CHANGE, c.METRIC_PREVIOUS_UTC_OFFSET)]
    ready = "".join(f" and on() {series}" for series in needed)
    return [
        RecordingRule(c.METRIC_SLA_TILE_TOTAL, queries.tile_total(since, mask), item.labels),
        RecordingRule(c.METRIC_SLA_TILE_BAD, queries.tile_bad(recorded_total, since, mask), item.labels),
        RecordingRule(c.METRIC_SLA_TILE_END, checked(f"vector(time() - time() % {grid}){ready}"), item.labels),
    ]


def period_rules(item: Covered) -> list[RecordingRule]:
    """Counted events over the period so far, the attainment and the share of the budget spent."""
    agreement, budget = item.agreement, number(item.commitment.error_budget)
    unit, tz = agreement.period, agreement.timezone
    bad, total = item.series(c.METRIC_SLA_BAD), item.series(c.METRIC_SLA_TOTAL)
    day = window_name(c.SLA_PROJECTION_SECONDS)
    recent = (f"sum_over_time({item.series(c.METRIC_SLA_TILE_BAD)}[{day}]) / "
              f"(sum_over_time({item.series(c.METRIC_SLA_TILE_TOTAL)}[{day}]) > 0)")
    start = f"scalar({period_start_series(unit, tz)})"
    end = f"scalar({period_end_series(unit, tz)})"
    # Events still to come in the period if they keep arriving at the rate they did so far.
    still = f"(({end} - time()) / (time() - {start} + 1))"
    projected = (f"({bad} + ({recent} or {bad} / ({total} > 0)) * {total} * {still}) / "
                 f"(({total} > 0) * (1 + {still})) / {budget}")
    return [
        RecordingRule(c.METRIC_SLA_TOTAL, checked(period_to_date_sum(item.series(c.METRIC_SLA_TILE_TOTAL), unit, tz)),
                      item.labels),
        RecordingRule(c.METRIC_SLA_BAD, checked(period_to_date_sum(item.series(c.METRIC_SLA_TILE_BAD), unit, tz)),
                      item.labels),
        RecordingRule(c.METRIC_SLA_ATTAINMENT, checked(f"1 - {bad} / ({total} > 0)"), item.labels),
        RecordingRule(c.METRIC_SLA_BUDGET_SPENT, checked(f"{bad} / ({total} > 0) / {budget}"), item.labels),
        RecordingRule(c.METRIC_SLA_BUDGET_SPENT_PROJECTED, checked(projected), item.labels),
    ]


# ---- alerts -------------------------------------------------------------------------------------


def _credits_text(agreement: Agreement) -> str:
    if not agreement.credits:
        return "no service credits in the agreement"
    return "; ".join(f"{number(s.credit_percent)}% of the period's fee below {number(s.below)}%"
                     for s in agreement.credits)


def _alert_labels(agreement: Agreement, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    labels = [(c.LABEL_AGREEMENT, agreement.name), (c.LABEL_AGREEMENT_KIND, agreement.kind.value),
              (c.LABEL_SEVERITY, "ticket"), *extra]
    if agreement.notify:
        labels.append((c.LABEL_NOTIFY, agreement.notify))
    return tuple(sorted((k, literal(v)) for k, v in labels))


def _annotations(agreement: Agreement, summary: str) -> tuple[tuple[str, str], ...]:
    who = agreement.consumer or "(no customer named)"
    return tuple((k, literal(v)) for k, v in sorted((
        ("customer", who),
        ("credit_at_stake", _credits_text(agreement)),
        ("report", f"sloengine sla-report --period <this {agreement.period.value}> (agreement {agreement.name}; "
                   "attainment within support hours, net of exclusions)"),
        ("summary", summary),
    )))


def agreement_alerts(agreement: Agreement) -> list[AlertingRule]:
    name, kind, period = agreement.name, agreement.kind.value.upper(), agreement.period.value
    selector = label_matchers(((c.LABEL_AGREEMENT, name),))
    spent = c.METRIC_SLA_BUDGET_SPENT + selector
    out = []
    for share in c.SLA_BUDGET_THRESHOLDS:
        out.append(AlertingRule(
            alert=c.ALERT_SLA_BUDGET,
            expr=checked(f"{spent} >= {number(share / 100)}"),
            labels=_alert_labels(agreement, (c.LABEL_BUDGET_SPENT, str(share))),
            annotations=_annotations(agreement, f"{kind} {name} with {agreement.consumer}: {share}% of this "
                                                f"{period}'s error budget is spent"
                                                + (" (the target is missed)" if share >= 100 else "")),
        ))
    projected = c.METRIC_SLA_BUDGET_SPENT_PROJECTED + selector
    out.append(AlertingRule(
        alert=c.ALERT_SLA_PROJECTED_BREACH,
        expr=checked(f"{projected} >= 1 unless {spent} >= 1"),
        labels=_alert_labels(agreement),
        annotations=_annotations(agreement, f"{kind} {name} with {agreement.consumer} is projected to end this "
                                            f"{period} in breach at the current rate"),
    ))
    return out


def compile_agreements(catalog: Catalog, intervals: Intervals = Intervals()) -> tuple[RuleGroup, ...]:
    """One group per agreement with a countable commitment (evaluated with the SLOs' slow groups)."""
    by_agreement: dict[str, list[Covered]] = {}
    for item in covered(catalog):
        by_agreement.setdefault(item.agreement.name, []).append(item)
    groups = []
    for name, items in sorted(by_agreement.items()):
        rules: list[Rule] = []
        for item in items:
            rules.extend(tile_rules(item))
        for item in items:
            rules.extend(period_rules(item))
        rules.extend(agreement_alerts(items[0].agreement))
        groups.append(RuleGroup(c.agreement_group_name(name), intervals.slow_seconds, tuple(rules)))
    return tuple(groups)


def _agreement_zones(agreement: Agreement) -> set[str]:
    """The zones whose recorded offsets the agreement's live mask reads (support hours, weekly exclusions)."""
    hours = [agreement.support_hours] + [w.hours for w in agreement.exclusions if w.hours is not None]
    return {h.timezone for h in hours if any(c.METRIC_UTC_OFFSET in t for t in _hours_terms(h))}


def mask_zones(catalog: Catalog, items: Sequence[Covered] | None = None) -> tuple[str, ...]:
    """The time zones of the agreements' wall-clock hours (support hours, weekly exclusions); ``items``:
    :func:`covered` of ``catalog``, when the caller has it already."""
    zones: set[str] = set()
    for agreement in {i.agreement.name: i.agreement for i in (covered(catalog) if items is None else items)}.values():
        zones.update(_agreement_zones(agreement))
    return tuple(sorted(zones))


def agreement_periods(catalog: Catalog, items: Sequence[Covered] | None = None) -> tuple[tuple[str, str], ...]:
    """The (calendar unit, time zone) pairs the agreements' rules need period-start series for; ``items``:
    :func:`covered` of ``catalog``, when the caller has it already."""
    found = covered(catalog) if items is None else items
    return tuple(sorted({(i.agreement.period.value, i.agreement.timezone) for i in found}))
