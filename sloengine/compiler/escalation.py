"""Escalation: an Alertmanager configuration that routes every SLO's pages and tickets to people.

From each SLO's escalation policy (``escalation:`` in the spec; by default L1
is the service's team) and the labels its compiled alert rules carry, this
renders ``alertmanager/alertmanager.yml``, a complete configuration:

* a routing tree by team, then by SLO (``service`` and ``slo``), then by level:
  a page carries ``escalation_level="L1"`` and goes to the on-call; the
  ``SLOEscalation`` alerts that Prometheus raises when a page stays
  unresolved (``rules.escalation_alerts``: Alertmanager has no
  acknowledgements, so the delay is a ``for`` over the page's ``ALERTS``)
  carry ``L2``/``L3`` and go to the next receivers; everything else of the
  SLO (slow-burn tickets, budget exhausted, no data) has no level and goes to
  the ticket receiver, only within support hours. Routing keys on the level
  label rather than on ``severity``, which a spec may rename (Sloth's
  ``severity: pageteam``);
* notifications grouped by alert name, service, SLO, severity and level;
* inhibition: a page (any level) silences the tickets of the same SLO (and the
  same SLI group); nothing silences a page, so a budget-exhausted alert never
  hides a fast burn;
* time intervals: support hours (``active_time_intervals`` of the ticket
  route) and maintenance windows (``mute_time_intervals`` of every route of
  the SLO). One-off windows are spelled as dates, since Alertmanager's
  intervals only recur.

It also renders ``alertmanager/routes.test.yml``: for every SLO and level, the
labels an alert will carry and the receiver it must reach, which
:func:`run_route_tests` checks with ``amtool config routes test``.
Everything is deterministic; rendering is pure (no files, no processes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml

from ..model import conventions as c
from ..model.diagnostics import SpecError
from ..model.promql import quote
from ..model.slo import (
    SLO,
    Catalog,
    ClockRange,
    EscalationPolicy,
    MaintenanceWindow,
    Service,
    WeeklyHours,
    default_policy,
)
from ..model.templates import expand_literal
from ..specs.loader import load_or_raise
from .agreements import Covered, agreement_alerts, covered
from .rulefiles import (
    HEADER,
    UnsupportedLayout,
    block_lines,
    dump,
    pair_lines,
    scalar_text,
    scalar_texts,
)
from .rules import CONDITION_LABELS, FIRST_LEVEL, AlertingRule, RuleGroup, compile_slo
from .tools import find_binary
from .writer import write_tree

AMTOOL_BINARIES = ("amtool",)


@dataclass(frozen=True)
class AlertmanagerOptions:
    """Alertmanager's timings (its own defaults); tests shorten them."""

    resolve_timeout: str = "5m"
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"


@dataclass(frozen=True)
class RouteCase:
    """An alert as it will be labelled, and the receivers Alertmanager must route it to."""

    name: str
    labels: tuple[tuple[str, str], ...]
    receivers: tuple[str, ...]


def policy_of(slo: SLO, service: Service) -> EscalationPolicy:
    """The SLO's policy, or the default: L1 = the service's team (else the service), no escalation."""
    return slo.escalation or default_policy(service.name, service.team)


# ---- what the alerts of an SLO look like ---------------------------------------------------------


@dataclass(frozen=True)
class _Alerts:
    """The labels of an SLO's alerts, as Prometheus will send them (without the SLI's group labels)."""

    pages: tuple[dict[str, str], ...]
    escalations: tuple[dict[str, str], ...]
    others: tuple[dict[str, str], ...]

    @property
    def team(self) -> str | None:
        """The team label every alert of the SLO shares ("" when none has one); None when they differ."""
        teams = {a.get(c.LABEL_TEAM, "") for a in self.pages + self.escalations + self.others}
        return teams.pop() if len(teams) == 1 else None


def _alert_labels(rule: AlertingRule) -> dict[str, str]:
    """The labels Alertmanager receives: each value as Prometheus expands it; a templated value (known only
    when the alert fires) is left out."""
    labels = {"alertname": rule.alert}
    for key, value in rule.labels:
        expanded = expand_literal(value)
        if expanded is not None:
            labels[key] = expanded
    return labels


def alerts_of(groups: Sequence[RuleGroup]) -> _Alerts:
    """The alerts an SLO's compiled rule groups raise, as Alertmanager will see their labels."""
    rules = [r for group in groups for r in group.rules if isinstance(r, AlertingRule)]
    # Each alert's escalation level, read once: a page carries the first level, other alerts none.
    levels = [(r, dict(r.labels).get(c.LABEL_ESCALATION_LEVEL)) for r in rules if r.alert != c.ALERT_ESCALATION]
    pages = [_alert_labels(r) for r, level in levels if level == FIRST_LEVEL]
    others = [_alert_labels(r) for r, level in levels if level is None]
    escalations = []
    if pages:
        # An escalation keeps the page's labels but those telling its conditions apart.
        inherited = {k: v for k, v in pages[0].items() if k not in CONDITION_LABELS}
        escalations = [{**inherited, **_alert_labels(r)} for r in rules if r.alert == c.ALERT_ESCALATION]
    return _Alerts(tuple(pages), tuple(escalations), tuple(others))


def _clock(minute: int) -> str:
    return ClockRange.clock(minute)


def alertmanager_weekdays(weekdays: Iterable[str]) -> list[str]:
    """Our weeks start on Monday, Alertmanager's on Sunday (it rejects ``monday:sunday``): a range that
    ends on Sunday becomes the range up to Saturday, plus Sunday."""
    out: list[str] = []
    for item in weekdays:
        first, _, last = item.partition(":")
        if last == "sunday" and first != "sunday":
            out.append(first if first == "saturday" else f"{first}:saturday")
            out.append("sunday")
        else:
            out.append(item)
    return list(dict.fromkeys(out))


def weekly_interval(hours: WeeklyHours) -> dict[str, Any]:
    """One Alertmanager ``time_intervals`` entry for recurring hours."""
    entry: dict[str, Any] = {}
    if hours.times:
        entry["times"] = [{"start_time": _clock(r.start_minute), "end_time": _clock(r.end_minute)} for r in hours.times]
    if hours.weekdays:
        entry["weekdays"] = alertmanager_weekdays(hours.weekdays)
    entry["location"] = hours.timezone
    return entry


def once_intervals(start: datetime, end: datetime, timezone: str) -> list[dict[str, Any]]:
    """A one-off window as Alertmanager entries: per local day (year, month, day and times), with runs
    of whole days within one month merged into a day range. Wall-clock minutes in ``timezone``."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    days: list[tuple[date, int, int]] = []
    day = first.date()
    while day <= last.date():
        begin = first.hour * 60 + first.minute if day == first.date() else 0
        finish = last.hour * 60 + last.minute if day == last.date() else 1440
        if finish > begin:
            days.append((day, begin, finish))
        day += timedelta(days=1)
    runs: list[list[Any]] = []   # [first day, last day, begin, finish]
    for day, begin, finish in days:
        whole = (begin, finish) == (0, 1440)
        previous = runs[-1] if runs else None
        if (whole and previous is not None and (previous[2], previous[3]) == (0, 1440)
                and previous[1] + timedelta(days=1) == day
                and (previous[1].year, previous[1].month) == (day.year, day.month)):
            previous[1] = day
        else:
            runs.append([day, day, begin, finish])
    entries = []
    for first_day, last_day, begin, finish in runs:
        entry: dict[str, Any] = {}
        if (begin, finish) != (0, 1440):
            entry["times"] = [{"start_time": _clock(begin), "end_time": _clock(finish)}]
        entry["days_of_month"] = [str(first_day.day) if first_day == last_day else f"{first_day.day}:{last_day.day}"]
        entry["months"] = [str(first_day.month)]
        entry["years"] = [str(first_day.year)]
        entry["location"] = timezone
        entries.append(entry)
    return entries


def maintenance_intervals(window: MaintenanceWindow) -> list[dict[str, Any]]:
    if window.hours is not None:
        return [weekly_interval(window.hours)]
    assert window.start is not None and window.end is not None
    return once_intervals(window.start, window.end, window.timezone)


class _IntervalNames:
    """Names for time intervals: ``<service>-<what>``; when SLOs of one service define different intervals
    under the same name, the one most of them use keeps that name and the others are ``<service>-<slo>-<what>``
    (after the first SLO that uses each)."""

    def __init__(self) -> None:
        self.uses: dict[tuple[str, str], list[tuple[str, str]]] = {}   # (service, what) -> [(content, slo)]
        self.intervals: dict[str, list[dict[str, Any]]] = {}
        #: ((service, what), name, entries) in the order ``intervals`` is filled (a later one takes a name over).
        self.owners: list[tuple[tuple[str, str], str, list[dict[str, Any]]]] = []
        self._entries: dict[str, list[dict[str, Any]]] = {}

    def add(self, service: str, what: str, slo: str, entries: list[dict[str, Any]]) -> None:
        # The same intervals whatever the order of their keys; a string, which the garbage collector ignores.
        key = json.dumps(entries, sort_keys=True)
        self.uses.setdefault((service, what), []).append((key, slo))
        self._entries[key] = entries

    def resolve(self) -> dict[tuple[str, str, str], str]:
        """(service, what, slo) -> interval name; fills ``intervals``."""
        names: dict[tuple[str, str, str], str] = {}
        for (service, what), uses in sorted(self.uses.items()):
            contents = list(dict.fromkeys(key for key, _ in uses))
            common = max(contents, key=lambda k: sum(1 for key, _ in uses if key == k))
            for key in contents:
                owner = next(slo for k, slo in uses if k == key)
                name = f"{service}-{what}" if key == common else f"{service}-{owner}-{what}"
                self.intervals[name] = self._entries[key]
                self.owners.append(((service, what), name, self._entries[key]))
                for k, slo in uses:
                    if k == key:
                        names[(service, what, slo)] = name
        return names


# ---- the configuration ----------------------------------------------------------------------------


def matcher(label: str, value: str, op: str = "=") -> str:
    """An Alertmanager matcher with the value quoted and escaped."""
    return f"{label}{op}{quote(value)}"


def _slo_matchers(slo: SLO) -> list[str]:
    return [matcher(c.LABEL_SERVICE, slo.service), matcher(c.LABEL_SLO, slo.name)]


@dataclass(frozen=True, slots=True)
class _Plan:
    slo: SLO
    policy: EscalationPolicy
    alerts: _Alerts


def _plans(catalog: Catalog, alerts: Mapping[str, _Alerts] | None = None,
           slos: Iterable[SLO] | None = None) -> list[_Plan]:
    """Each SLO's policy and alerts (of ``slos``, by default the catalogue's); ``alerts`` by SLO id from the
    compile step (compiled here when absent, for callers without compiled rules)."""
    services = {s.name: s for s in catalog.services}
    plans = []
    for slo in catalog.slos if slos is None else slos:
        service = services.get(slo.service) or Service(slo.service)
        found = alerts[slo.id] if alerts is not None else alerts_of(compile_slo(slo, service))
        plans.append(_Plan(slo, policy_of(slo, service), found))
    return plans


def _slo_route(plan: _Plan, support: str | None, mutes: list[str]) -> dict[str, Any]:
    policy = plan.policy

    def leaf(matchers: list[str], receiver: str, active: str | None = None) -> dict[str, Any]:
        route: dict[str, Any] = {"matchers": matchers, "receiver": receiver}
        if active:
            route["active_time_intervals"] = [active]
        if mutes:
            route["mute_time_intervals"] = list(mutes)
        return route

    routes = [leaf([matcher(c.LABEL_ESCALATION_LEVEL, level.level)], level.receiver) for level in policy.levels]
    routes.append(leaf([matcher(c.LABEL_ESCALATION_LEVEL, "")], policy.tickets, support))
    return {"matchers": _slo_matchers(plan.slo), "receiver": policy.l1.receiver, "routes": routes}


#: The alertnames of agreements' breach-risk alerts: routed to the agreement's ``notify``, never silenced by a page.
_AGREEMENT_ALERTS = f"{c.ALERT_SLA_BUDGET}|{c.ALERT_SLA_PROJECTED_BREACH}"
#: What a page does not silence: the breach-risk alerts of the agreements covering its SLO (see _inhibit_rule).
_NOT_AGREEMENT_ALERTS_MATCHER = matcher("alertname", _AGREEMENT_ALERTS, "!~")


def _inhibit_rule(slo: SLO) -> dict[str, Any]:
    """The SLO's pages (any level) silence its tickets, within the same SLI group. Not the breach-risk alerts of
    agreements covering the SLO: they carry its service and SLO too, but tell an account team, whom an on-call
    page does not inform."""
    return {
        "source_matchers": _slo_matchers(slo) + [matcher(c.LABEL_ESCALATION_LEVEL, ".+", "=~")],
        "target_matchers": _slo_matchers(slo) + [matcher(c.LABEL_ESCALATION_LEVEL, ""),
                                                  _NOT_AGREEMENT_ALERTS_MATCHER],
        "equal": [c.LABEL_SERVICE, c.LABEL_SLO, *slo.sli.group_by],
    }


# ---- agreements' breach-risk alerts ----------------------------------------------------------------


Notified = list[tuple[str, str, tuple[tuple[str, str], ...]]]


def _notified(catalog: Catalog) -> Notified:
    """(agreement, its notify receiver, the labels of each of its alerts for one covered SLO) for every agreement
    with rules and a ``notify:``, by name."""
    out = []
    firsts: dict[str, Covered] = {}
    for item in covered(catalog):
        firsts.setdefault(item.agreement.name, item)
    for name, item in sorted(firsts.items()):
        if not item.agreement.notify:
            continue
        for rule in agreement_alerts(item.agreement):
            labels = dict(rule.labels) | {"alertname": rule.alert, c.LABEL_SERVICE: item.commitment.service,
                                          c.LABEL_SLO: item.commitment.slo}
            out.append((name, item.agreement.notify, tuple(sorted(labels.items()))))
    return out


def _agreement_route(name: str, receiver: str) -> dict[str, Any]:
    """An agreement's alerts go to its ``notify`` receiver, before any SLO route (they carry the SLO's labels)."""
    return {"matchers": [matcher("alertname", _AGREEMENT_ALERTS, "=~"), matcher(c.LABEL_AGREEMENT, name)],
            "receiver": receiver}


def agreement_routes(catalog: Catalog, notified: Notified | None = None) -> list[dict[str, Any]]:
    """``notified``: :func:`_notified` of the catalogue, when the caller has it (finding the agreements' SLOs
    costs a pass over the catalogue)."""
    seen = {(name, receiver) for name, receiver, _ in (_notified(catalog) if notified is None else notified)}
    return [_agreement_route(name, receiver) for name, receiver in sorted(seen)]


def agreement_cases(catalog: Catalog, notified: Notified | None = None) -> list[RouteCase]:
    return [RouteCase(f"agreement {name}: {_describe(dict(labels))}", labels, (receiver,))
            for name, receiver, labels in (_notified(catalog) if notified is None else notified)]


def _agreement_receivers(catalog: Catalog, notified: Notified | None = None) -> set[str]:
    return {receiver for _, receiver, _ in (_notified(catalog) if notified is None else notified)}


def alertmanager_config(catalog: Catalog, options: AlertmanagerOptions = AlertmanagerOptions(),
                        plans: Sequence[_Plan] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The configuration as a mapping, and the receivers it names that no spec defines."""
    plans = _plans(catalog) if plans is None else plans
    names = _IntervalNames()
    for plan in plans:
        if plan.policy.support_hours is not None:
            names.add(plan.slo.service, "support-hours", plan.slo.name, [weekly_interval(plan.policy.support_hours)])
        for window in plan.policy.maintenance:
            names.add(plan.slo.service, f"maintenance-{window.name}", plan.slo.name, maintenance_intervals(window))
    resolved = names.resolve()

    teams: dict[str, list[dict[str, Any]]] = {}
    loose: list[dict[str, Any]] = []
    inhibit: list[dict[str, Any]] = []
    for plan in plans:
        slo = plan.slo
        support = resolved.get((slo.service, "support-hours", slo.name)) if plan.policy.support_hours else None
        mutes = sorted(resolved[(slo.service, f"maintenance-{w.name}", slo.name)] for w in plan.policy.maintenance)
        route = _slo_route(plan, support, mutes)
        team = plan.alerts.team
        if team:
            teams.setdefault(team, []).append(route)
        else:
            loose.append(route)
        if plan.alerts.pages:
            inhibit.append(_inhibit_rule(slo))
    # SLOs whose alerts do not share one team label come first: a team route would catch some of them.
    routes = agreement_routes(catalog) + loose + [
        {"matchers": [matcher(c.LABEL_TEAM, team)], "receiver": c.DEFAULT_RECEIVER, "routes": children}
        for team, children in sorted(teams.items())]

    defined = {r.name: r for r in catalog.receivers}
    named = ({lv.receiver for p in plans for lv in p.policy.levels} | {p.policy.tickets for p in plans}
             | _agreement_receivers(catalog))
    missing = sorted(named - set(defined))
    receivers = [{"name": c.DEFAULT_RECEIVER}]
    receivers += [{"name": name, **(defined[name].config if name in defined else {})}
                  for name in sorted(set(defined) | named)]

    config: dict[str, Any] = {
        "global": {"resolve_timeout": options.resolve_timeout},
        "route": {
            "receiver": c.DEFAULT_RECEIVER,
            "group_by": list(c.ALERTMANAGER_GROUP_BY),
            "group_wait": options.group_wait,
            "group_interval": options.group_interval,
            "repeat_interval": options.repeat_interval,
            "routes": routes,
        },
        "receivers": receivers,
        "inhibit_rules": inhibit,
    }
    if names.intervals:
        config["time_intervals"] = [{"name": name, "time_intervals": entries}
                                    for name, entries in sorted(names.intervals.items())]
    return config, missing


def route_cases(catalog: Catalog, plans: Sequence[_Plan] | None = None) -> list[RouteCase]:
    """For every SLO: its page (L1), each escalation level, and each of its other alerts (tickets)."""
    return ([case for plan in (_plans(catalog) if plans is None else plans) for case in _plan_cases(plan)]
            + agreement_cases(catalog))


def _plan_cases(plan: _Plan) -> list[RouteCase]:
    """:func:`route_cases` of one SLO."""
    return [RouteCase(name, labels, (receiver,)) for name, labels, receiver in _case_items(plan)]


def _case_items(plan: _Plan) -> list[tuple[str, tuple[tuple[str, str], ...], str]]:
    """Each route case of one SLO: its name, labels (sorted) and receiver."""
    policy = plan.policy
    by_level = {lv.level: lv.receiver for lv in policy.levels}
    wanted: list[tuple[str, dict[str, str], str]] = []
    for alert in plan.alerts.pages:
        wanted.append((f"{FIRST_LEVEL}: {_describe(alert)}", alert, policy.l1.receiver))
    for alert in plan.alerts.escalations:
        level = alert[c.LABEL_ESCALATION_LEVEL]
        wanted.append((f"{level}: {_describe(alert)}", alert, by_level[level]))
    for alert in plan.alerts.others:
        wanted.append((f"ticket: {_describe(alert)}", alert, policy.tickets))
    items = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    slo_id = plan.slo.id
    for kind, labels, receiver in wanted:
        key = tuple(sorted(labels.items()))
        if key not in seen:
            seen.add(key)
            items.append((f"{slo_id} {kind}", key, receiver))
    return items


def _describe(alert: Mapping[str, str]) -> str:
    """``CheckoutAPIAvailability 1h-5m``: the alert's name and windows."""
    name = alert["alertname"]
    if c.LABEL_LONG_WINDOW not in alert:
        return name
    windows = f"{alert[c.LABEL_LONG_WINDOW]}-{alert.get(c.LABEL_SHORT_WINDOW, '')}"
    return f"{name} {windows}" if name else windows


_ROUTE_CASES_HEADER = (HEADER + "# amtool config routes test cases: each alert's labels and the receivers it must "
                       "reach.\n")


def render_route_cases(cases: Sequence[RouteCase]) -> str:
    document = [{"name": case.name, "labels": dict(case.labels), "receivers": list(case.receivers)} for case in cases]
    return _ROUTE_CASES_HEADER + dump(document)


def load_route_cases(text: str) -> list[RouteCase]:
    return [RouteCase(item["name"], tuple(sorted((str(k), str(v)) for k, v in item["labels"].items())),
                      tuple(item["receivers"])) for item in yaml.safe_load(text) or []]


def _config_notes(missing: Sequence[str]) -> str:
    notes = ("# Alertmanager configuration for the SLO alerts (routes, receivers, inhibition, time intervals).\n"
             "# Check it with: amtool check-config alertmanager.yml\n")
    if missing:
        notes += ("# These receivers are named by escalation policies but defined in no spec, so they have no "
                  f"integrations: {', '.join(missing)}\n")
    return HEADER + notes


def render_config(catalog: Catalog, options: AlertmanagerOptions = AlertmanagerOptions(),
                  plans: Sequence[_Plan] | None = None) -> str:
    config, missing = alertmanager_config(catalog, options, plans)
    return _config_notes(missing) + dump(config)


# ---- the same files, laid out as text SLO by SLO --------------------------------------------------------
#
# alertmanager_config builds one mapping of every SLO's routes, inhibition rule and intervals and dump lays
# it out; for thousands of SLOs that costs more than the rest of the configuration, and the configuration is
# rendered last, once every SLO is compiled. Each SLO's part depends only on its own policy and alerts (and
# on the interval names of its service), so it is written here directly as the text dump would write, with
# dump's own scalar quoting; when some text is beyond that layout (UnsupportedLayout: a line break, a long
# key), the configuration is built and dumped as before. test_escalation compares both ways.


@dataclass(frozen=True)
class AlertmanagerShare:
    """What a set of services contributes to the Alertmanager files, rendered: per SLO (in order, one item
    of each tuple), its place and its part of each file as YAML text ready to be joined.

    Made by :func:`alertmanager_share` where the services are compiled (a share of them can be rendered in
    another process) and joined by :func:`render_alertmanager`. Tuples of strings rather than an object per
    SLO: the garbage collector has thousands fewer objects to look at while the configuration is joined."""

    slo_ids: tuple[str, ...]
    #: The team route holding each SLO's route; "" when its alerts do not share one team label.
    teams: tuple[str, ...]
    #: Each SLO's route, a list item at the depth of its place (under its team route or not).
    routes: tuple[str, ...]
    #: Each SLO's inhibition rule, a top-level list item; "" when it has no pages.
    inhibits: tuple[str, ...]
    #: Each SLO's route test cases, top-level list items.
    cases: tuple[str, ...]
    #: The receivers the SLOs' policies name.
    receivers: frozenset[str]
    #: ((service, what), interval name, its ``time_intervals`` list item), in the order names are taken.
    intervals: tuple[tuple[tuple[str, str], str, str], ...]


def alertmanager_share(services: Iterable[tuple[Service, Sequence[SLO]]],
                       alerts: Mapping[str, _Alerts]) -> AlertmanagerShare | None:
    """The Alertmanager fragments of these services' SLOs (routes, inhibition, time intervals, route test
    cases), rendered; ``alerts`` by SLO id as :func:`alerts_of` their compiled rules. Every SLO of a service
    must be in the same share (interval names are chosen per service). None when some text needs PyYAML's
    layout: :func:`render_alertmanager` then builds the whole configuration."""
    plans = [_Plan(slo, policy_of(slo, service), alerts[slo.id]) for service, slos in services for slo in slos]
    return _share(plans)


def _share(plans: Sequence[_Plan]) -> AlertmanagerShare | None:
    """:func:`alertmanager_share` of these SLOs' plans."""
    names = _interval_names(plans)
    resolved = names.resolve()
    teams, routes, inhibits, cases = [], [], [], []
    receivers: set[str] = set()
    try:
        intervals = []
        for owner, name, entries in names.owners:
            out: list[str] = []
            block_lines({"name": name, "time_intervals": entries}, "  ", out, "- ")
            intervals.append((owner, name, "".join(out)))
        for plan in plans:
            team, route, inhibit = _slo_texts(plan, resolved)
            teams.append(team)
            routes.append(route)
            inhibits.append(inhibit)
            # An SLO's cases are made and dropped here: kept for every SLO, their labels would be enough objects
            # to set off the garbage collector's full passes. Their names, seldom seen twice, are quoted together.
            items = _case_items(plan)
            case_names = scalar_texts([name for name, _, _ in items])
            cases.append("".join([_case_text(name, labels, receiver)
                                  for name, (_, labels, receiver) in zip(case_names, items, strict=True)]))
            receivers.update(level.receiver for level in plan.policy.levels)
            receivers.add(plan.policy.tickets)
    except UnsupportedLayout:
        return None
    return AlertmanagerShare(tuple(plan.slo.id for plan in plans), tuple(teams), tuple(routes), tuple(inhibits),
                             tuple(cases), frozenset(receivers), tuple(intervals))


def _interval_names(plans: Iterable[_Plan]) -> _IntervalNames:
    names = _IntervalNames()
    for plan in plans:
        if plan.policy.support_hours is not None:
            names.add(plan.slo.service, "support-hours", plan.slo.name, [weekly_interval(plan.policy.support_hours)])
        for window in plan.policy.maintenance:
            names.add(plan.slo.service, f"maintenance-{window.name}", plan.slo.name, maintenance_intervals(window))
    return names


_LEVEL = c.LABEL_ESCALATION_LEVEL
_NOT_AGREEMENT_ALERTS = scalar_text(_NOT_AGREEMENT_ALERTS_MATCHER)


def _slo_texts(plan: _Plan, resolved: Mapping[tuple[str, str, str], str]) -> tuple[str, str, str]:
    """One SLO's team route ("" for none), and :func:`_slo_route` and :func:`_inhibit_rule` as dump lays
    them out."""
    slo, policy, alerts = plan.slo, plan.policy, plan.alerts
    support = resolved.get((slo.service, "support-hours", slo.name)) if policy.support_hours else None
    mutes = sorted(resolved[(slo.service, f"maintenance-{w.name}", slo.name)] for w in policy.maintenance)
    team = alerts.team or ""
    service_matcher = scalar_text(matcher(c.LABEL_SERVICE, slo.service))
    slo_matcher = scalar_text(matcher(c.LABEL_SLO, slo.name))

    # In route.routes ("  - "), or in its team route's routes ("    - ").
    pad = "    " if team else "  "
    body = pad + "  "
    leaf_first, leaf_body = body + "- ", body + "  "
    mute_lines = (f"{leaf_body}mute_time_intervals:\n" + "".join(f"{leaf_body}- {scalar_text(m)}\n" for m in mutes)
                  if mutes else "")
    route = [f"{pad}- matchers:\n{body}- {service_matcher}\n{body}- {slo_matcher}\n"
             f"{body}receiver: {scalar_text(policy.l1.receiver)}\n{body}routes:\n"]
    for level in policy.levels:
        route.append(f"{leaf_first}matchers:\n{leaf_body}- {_level_matcher(level.level)}\n"
                     f"{leaf_body}receiver: {scalar_text(level.receiver)}\n{mute_lines}")
    route.append(f"{leaf_first}matchers:\n{leaf_body}- {_level_matcher('')}\n"
                 f"{leaf_body}receiver: {scalar_text(policy.tickets)}\n")
    if support:
        route.append(f"{leaf_body}active_time_intervals:\n{leaf_body}- {scalar_text(support)}\n")
    route.append(mute_lines)

    inhibit = ""
    if alerts.pages:
        equal = "".join(f"  - {scalar_text(label)}\n" for label in (c.LABEL_SERVICE, c.LABEL_SLO, *slo.sli.group_by))
        inhibit = (f"- source_matchers:\n  - {service_matcher}\n  - {slo_matcher}\n  - {_level_matcher('.+', '=~')}\n"
                   f"  target_matchers:\n  - {service_matcher}\n  - {slo_matcher}\n  - {_level_matcher('')}\n"
                   f"  - {_NOT_AGREEMENT_ALERTS}\n  equal:\n{equal}")
    return team, "".join(route), inhibit


@lru_cache(maxsize=64)
def _level_matcher(level: str, op: str = "=") -> str:
    return scalar_text(matcher(_LEVEL, level, op))


def _case_text(name: str, labels: tuple[tuple[str, str], ...], receiver: str) -> str:
    """One route test case as dump lays out a list item of :func:`render_route_cases`, ``name`` laid out."""
    lines = f"  labels:\n{pair_lines(labels, '    ', distinct=True)}" if labels else "  labels: {}\n"
    return f"- name: {name}\n{lines}  receivers:\n  - {scalar_text(receiver)}\n"


def render_alertmanager(catalog: Catalog, options: AlertmanagerOptions = AlertmanagerOptions(),
                        alerts: Mapping[str, _Alerts] | None = None,
                        shares: Sequence[AlertmanagerShare | None] = ()) -> dict[str, str]:
    """``alertmanager/alertmanager.yml`` and ``alertmanager/routes.test.yml``, by relative path; ``alerts`` by
    SLO id as :func:`alerts_of` the compiled rules. ``shares`` hold services already rendered by
    :func:`alertmanager_share` (each service whole); the other SLOs are rendered here."""
    given = [share for share in shares if share is not None]
    done = {slo_id for share in given for slo_id in share.slo_ids}
    own = _share(_plans(catalog, alerts, [slo for slo in catalog.slos if slo.id not in done]))
    if own is not None and len(given) == len(shares):
        try:
            return _join(catalog, options, [own, *given])
        except UnsupportedLayout:
            pass
    plans = _plans(catalog, alerts)
    return {
        c.ALERTMANAGER_CONFIG_FILE: render_config(catalog, options, plans),
        c.ALERTMANAGER_ROUTE_TESTS_FILE: render_route_cases(route_cases(catalog, plans)),
    }


def _join(catalog: Catalog, options: AlertmanagerOptions, shares: Sequence[AlertmanagerShare]) -> dict[str, str]:
    """The two files from every SLO's fragments: :func:`render_config` and :func:`render_route_cases`
    (``shares[0]`` holds, in catalogue order, the SLOs not in the others)."""
    first = shares[0]
    teams, slo_routes, inhibits, cases = first.teams, first.routes, first.inhibits, first.cases
    if len(shares) > 1:
        # Back to catalogue order.
        where = {slo_id: (s, i) for s, share in enumerate(shares) if s for i, slo_id in enumerate(share.slo_ids)}
        mine = iter(range(len(first.slo_ids)))
        picks = [where.get(slo.id) or (0, next(mine)) for slo in catalog.slos]
        teams = tuple(shares[s].teams[i] for s, i in picks)
        slo_routes = tuple(shares[s].routes[i] for s, i in picks)
        inhibits = tuple(shares[s].inhibits[i] for s, i in picks)
        cases = tuple(shares[s].cases[i] for s, i in picks)

    loose: list[str] = []
    by_team: dict[str, list[str]] = {}
    for team, route in zip(teams, slo_routes, strict=True):
        if team:
            by_team.setdefault(team, []).append(route)
        else:
            loose.append(route)
    inhibit = [text for text in inhibits if text]
    notified = _notified(catalog)  # once for the agreements' routes, receivers and cases
    routes = ["  - matchers:\n" + "".join(f"    - {scalar_text(m)}\n" for m in route["matchers"])
              + f"    receiver: {scalar_text(route['receiver'])}\n" for route in agreement_routes(catalog, notified)]
    routes.extend(loose)
    for team, children in sorted(by_team.items()):
        routes.append(f"  - matchers:\n    - {scalar_text(matcher(c.LABEL_TEAM, team))}\n"
                      f"    receiver: {scalar_text(c.DEFAULT_RECEIVER)}\n    routes:\n")
        routes.extend(children)

    owners = sorted((owner, i, s, name, text) for s, share in enumerate(shares)
                    for i, (owner, name, text) in enumerate(share.intervals))
    intervals: dict[str, str] = {}
    for _, _, _, name, text in owners:
        intervals[name] = text

    defined = {r.name: r for r in catalog.receivers}
    named = frozenset().union(*(share.receivers for share in shares)) | _agreement_receivers(catalog, notified)
    missing = sorted(named - set(defined))
    receivers = [{"name": c.DEFAULT_RECEIVER}]
    receivers += [{"name": name, **(defined[name].config if name in defined else {})}
                  for name in sorted(set(defined) | named)]
    head = {
        "global": {"resolve_timeout": options.resolve_timeout},
        "route": {
            "receiver": c.DEFAULT_RECEIVER,
            "group_by": list(c.ALERTMANAGER_GROUP_BY),
            "group_wait": options.group_wait,
            "group_interval": options.group_interval,
            "repeat_interval": options.repeat_interval,
        },
    }
    out = [_config_notes(missing)]
    block_lines(head, "", out, "")
    out.append("  routes:\n" if routes else "  routes: []\n")
    out.extend(routes)
    out.append("receivers:\n")
    block_lines(receivers, "", out, "")
    out.append("inhibit_rules:\n" if inhibit else "inhibit_rules: []\n")
    out.extend(inhibit)
    if intervals:
        out.append("time_intervals:\n")
        out.extend(text for _, text in sorted(intervals.items()))
    return {
        c.ALERTMANAGER_CONFIG_FILE: "".join(out),
        c.ALERTMANAGER_ROUTE_TESTS_FILE: _ROUTE_CASES_HEADER + ("".join(
            [*cases, *(_case_text(scalar_text(case.name), case.labels, case.receivers[0])
                       for case in agreement_cases(catalog, notified))]) or dump([])),
    }


# ---- checking with the real amtool ------------------------------------------------------------------


def amtool_binary() -> str:
    return find_binary(*AMTOOL_BINARIES)


def check_config(config_file: Path, amtool: str | None = None) -> subprocess.CompletedProcess:
    """``amtool check-config``; the result's returncode is 0 when the configuration is valid."""
    return subprocess.run([amtool or amtool_binary(), "check-config", str(config_file)],
                          capture_output=True, text=True, timeout=60)


def route_test_command(config_file: Path, case: RouteCase, amtool: str | None = None) -> list[str]:
    return [amtool or amtool_binary(), "config", "routes", "test", f"--config.file={config_file}",
            f"--verify.receivers={','.join(case.receivers)}",
            *(f"{name}={quote(value)}" for name, value in case.labels)]


@dataclass(frozen=True)
class RouteTestResult:
    case: RouteCase
    ok: bool
    output: str


def run_route_tests(config_file: Path, cases: Iterable[RouteCase], amtool: str | None = None) -> list[RouteTestResult]:
    """Run ``amtool config routes test --verify.receivers=...`` for every case (exit 0 when it matches)."""
    binary = amtool or amtool_binary()
    results = []
    for case in cases:
        done = subprocess.run(route_test_command(config_file, case, binary), capture_output=True, text=True, timeout=60)
        output = "\n".join(line for line in (done.stdout + done.stderr).splitlines()
                           if "--config.file flag overrides" not in line)
        results.append(RouteTestResult(case, done.returncode == 0, output.strip()))
    return results


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n")[0])
def main() -> None:
    """``python -m sloengine.compiler.escalation generate SPEC... --out DIR`` and ``... check DIR`` (for CI)."""


@main.command(help="write DIR/alertmanager/alertmanager.yml and routes.test.yml")
@click.argument("paths", nargs=-1, required=True)
@click.option("--out", required=True, type=click.Path(path_type=Path))
def generate(paths: tuple[str, ...], out: Path) -> None:
    try:
        catalog = load_or_raise(list(paths))
    except SpecError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    written = write_tree(out, render_alertmanager(catalog))
    print(f"wrote {len(written)} files to {out}", file=sys.stderr)


@main.command(help="amtool check-config and every routes test case under DIR/alertmanager",
              short_help="amtool check-config and every routes test case under DIR/alertmanager")
@click.argument("out", type=click.Path(path_type=Path))
def check(out: Path) -> None:
    config = out / c.ALERTMANAGER_CONFIG_FILE
    checked = check_config(config)
    print(checked.stdout.strip() or checked.stderr.strip())
    if checked.returncode != 0:
        sys.exit(1)
    cases = load_route_cases((out / c.ALERTMANAGER_ROUTE_TESTS_FILE).read_text())
    failed = [r for r in run_route_tests(config, cases) if not r.ok]
    for result in failed:
        print(f"FAIL {result.case.name}: {result.output}", file=sys.stderr)
    print(f"{len(cases) - len(failed)}/{len(cases)} route cases pass")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main(prog_name="python -m sloengine.compiler.escalation")
