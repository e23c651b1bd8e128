"""Checks that need the whole model rather than one field: they run after every format's reader.

A reader can only see its own document; duplicate SLO ids across files, alert
windows longer than the SLO window, or a burn factor that no error ratio can
reach are only visible once everything is loaded. Running them here means a
Sloth or OpenSLO import gets exactly the same scrutiny as a native spec.
"""

from __future__ import annotations

from dataclasses import replace

import difflib
import re
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import conventions
from .diagnostics import Diagnostic, Level, Position
from .durations import format_duration
from .model import SLO, AlertSeverity, CalendarWindow, Catalog, Receiver, Service
from .promql import LABEL_NAME

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _where(slo: SLO) -> Position:
    return slo.source or Position("<unknown>")


def _check_slo(slo: SLO) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    where = _where(slo)

    def error(field: str, message: str, hint: str) -> None:
        out.append(Diagnostic(Level.ERROR, where, f"{slo.id}: {field}", message, hint))

    def warn(field: str, message: str, hint: str) -> None:
        out.append(Diagnostic(Level.WARNING, where, f"{slo.id}: {field}", message, hint))

    for what, name in (("service", slo.service), ("name", slo.name)):
        if not NAME.match(name):
            error(what, f"{name!r} is not a valid name",
                  "start with a letter or digit; use letters, digits, '.', '_' and '-' (at most 128)")
    if not 0 < slo.objective < 100:
        error("objective", f"objective {slo.objective:g} is out of range",
              "give a percentage strictly between 0 and 100, e.g. 99.9")
        return out
    for what, layer in (("alerting.labels", slo.alerting.labels), ("alerting.page.labels", slo.alerting.page_labels),
                        ("alerting.ticket.labels", slo.alerting.ticket_labels)):
        for key in sorted(set(dict(layer)) & conventions.ALERT_OWN_LABELS):
            if key == conventions.LABEL_ESCALATION_LEVEL:
                error(what, f"label {key!r} is set by sloengine itself (L1 on pages, L2/L3 on their escalations)",
                      "remove it and describe the levels under escalation.levels")
            else:
                error(what, f"label {key!r} is set by sloengine itself on every alert: routing, inhibition and "
                            "the generated alert tests rely on it",
                      f"rename the label (e.g. user_{key.lstrip('_')}); 'severity' and 'team' are yours to set")
    if slo.escalation is not None:
        for zone in {w.timezone for w in slo.escalation.maintenance} | (
                {slo.escalation.support_hours.timezone} if slo.escalation.support_hours else set()):
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                error("escalation", f"{zone!r} is not an IANA time zone", "use e.g. UTC or Europe/Berlin")
        pages = slo.alerting.enabled and any(c.severity is AlertSeverity.PAGE for c in slo.alerting.conditions)
        if slo.escalation.escalations and not pages:
            extra = [lv.level for lv in slo.escalation.escalations]
            warn("escalation.levels",
                 f"{'levels' if len(extra) > 1 else 'level'} {', '.join(extra)} never "
                 f"{'fire' if len(extra) > 1 else 'fires'}: the SLO has no page conditions to escalate",
                 "enable page alerts or drop the levels beyond L1")
    for key, _ in slo.labels:
        if not LABEL_NAME.match(key):
            error("labels", f"{key!r} is not a valid label name", "use letters, digits and _, not starting with a digit")
        elif key in conventions.RESERVED_LABELS:
            error("labels", f"label {key!r} is set by sloengine itself", "rename the label")
    for label in slo.sli.group_by:
        if not LABEL_NAME.match(label):
            error("sli.group_by", f"{label!r} is not a valid label name", "use letters, digits and _")
        elif label in conventions.RESERVED_LABELS:
            error("sli.group_by", f"{label!r} is set by sloengine on every series and cannot be a grouping label",
                  f"rename the source label at scrape time (metric_relabel_configs: {label} -> e.g. "
                  f"source_{label}) and group by the new name")
    if isinstance(slo.window, CalendarWindow):
        try:
            ZoneInfo(slo.window.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            error("window.timezone", f"{slo.window.timezone!r} is not an IANA time zone", "use e.g. UTC or Europe/Berlin")
    period = slo.window.nominal_seconds
    for cond in slo.alerting.conditions:
        if cond.long_seconds >= period:
            error("alerting.conditions",
                  f"alert window {format_duration(cond.long_seconds)} is not shorter than the SLO window {slo.window.name}",
                  "use a longer SLO window or shorter alert windows")
        if cond.short_seconds >= cond.long_seconds:
            error("alerting.conditions",
                  f"short window {format_duration(cond.short_seconds)} is not shorter than long window "
                  f"{format_duration(cond.long_seconds)}", "make the short window about 1/12 of the long one")
        if cond.short_seconds < 120:
            warn("alerting.conditions",
                 f"short window {format_duration(cond.short_seconds)} can hold a single sample at a 1-minute scrape "
                 "interval; increase() of one sample has no value, so the alert never fires",
                 "use a short window of at least 2m (four scrape intervals is safer)")
        needed = cond.burn_factor * slo.error_budget
        if slo.alerting.enabled and needed > 1:
            warn("alerting.conditions",
                 f"{cond.severity.value} condition {cond.name} fires at an error ratio of {needed:.0%}, "
                 f"which can never be reached with objective {slo.objective:g}",
                 "lower its burn factor below " f"{1 / slo.error_budget:.3g} or set explicit conditions")
    return out


def _reading_order(files: Sequence[str]):
    """Sort key putting SLOs in the order a reader meets them: files as given (command-line order,
    directories expanded in name order), then line and column within a file. Files not listed come last."""
    rank = {name: i for i, name in enumerate(files)}

    def key(slo: SLO) -> tuple:
        where = _where(slo)
        return (rank.get(where.file, len(rank)), where.file, where.line, where.column)
    return key


def check_catalog(services: Iterable[Service], slos: Iterable[SLO],
                  files: Sequence[str] = ()) -> tuple[Catalog, list[Diagnostic]]:
    """Merge what the readers produced into a sorted catalog, with cross-file diagnostics.

    ``files`` is the order the spec files were given in: of two SLOs with one id, the one read first is
    kept and the error points at the other, naming the first.
    """
    problems: list[Diagnostic] = []
    services = list(services)
    by_name: dict[str, Service] = {}
    for service in services:
        first = by_name.get(service.name)
        if first is None:
            by_name[service.name] = service
        elif (first.team, first.owner) != (service.team, service.owner) and (service.team or service.owner):
            where = service.source or Position("<unknown>")
            problems.append(Diagnostic(
                Level.WARNING, where, f"service {service.name}",
                f"team/owner differ from the declaration at {first.source}; that one is used",
                "declare the service's team and owner in one place"))
    seen: dict[str, SLO] = {}
    kept: list[SLO] = []
    order = _reading_order(files)
    for slo in sorted(slos, key=lambda s: (s.id, order(s))):
        if slo.service not in by_name:
            by_name[slo.service] = Service(slo.service, source=slo.source)
        if slo.id in seen:
            first = seen[slo.id]
            problems.append(Diagnostic(
                Level.ERROR, _where(slo), f"{slo.id}",
                f"duplicate SLO id {slo.id!r}, first defined at {_where(first)}",
                "rename one of them or change its service"))
            continue
        seen[slo.id] = slo
        problems.extend(_check_slo(slo))
        kept.append(slo)
    receivers, receiver_problems = _receivers(services, kept)
    problems.extend(receiver_problems)
    catalog = Catalog(tuple(sorted(by_name.values(), key=lambda s: s.name)), tuple(kept), receivers)
    agreements, agreement_problems = _agreements(services, catalog)
    problems.extend(agreement_problems)
    return replace(catalog, agreements=agreements), problems


def _agreements(services: list[Service], catalog: Catalog) -> tuple[tuple, list[Diagnostic]]:
    """Every file's agreements (names unique across files), checked against each other and the SLOs."""
    from .agreements import consistency

    problems: list[Diagnostic] = []
    by_name: dict = {}
    for service in services:
        for agreement in service.agreements:
            first = by_name.get(agreement.name)
            if first is not None:
                problems.append(Diagnostic(
                    Level.ERROR, agreement.source or Position("<unknown>"), f"agreement {agreement.name}",
                    f"duplicate agreement name {agreement.name!r}, first defined at {first.source}",
                    "give each agreement its own name"))
                continue
            by_name[agreement.name] = agreement
    agreements = tuple(sorted(by_name.values(), key=lambda a: a.name))
    for finding in consistency(catalog, agreements):
        problems.append(Diagnostic(
            Level.ERROR if finding.error else Level.WARNING, finding.source or Position("<unknown>"),
            f"agreement {finding.agreement}", finding.message, finding.fix))
    return agreements, problems


def _receivers(services: list[Service], slos: list[SLO]) -> tuple[tuple[Receiver, ...], list[Diagnostic]]:
    """Every file's receivers by name (a name defined twice must mean the same receiver), and a warning
    for each receiver an escalation policy names that no file defines (it would have no integrations)."""
    problems: list[Diagnostic] = []
    by_name: dict[str, Receiver] = {}
    for service in services:
        for receiver in service.receivers:
            first = by_name.get(receiver.name)
            if first is None:
                by_name[receiver.name] = receiver
            elif first.config != receiver.config:
                problems.append(Diagnostic(
                    Level.ERROR, receiver.source or Position("<unknown>"), f"receivers.{receiver.name}",
                    f"receiver {receiver.name!r} is defined differently at {first.source}",
                    "define each receiver once, or give the two different names"))
    warned: set[str] = set()
    for slo in slos:
        policy = slo.escalation
        if policy is None:
            continue
        named = [("escalation.levels", lv.receiver) for lv in policy.levels]
        named += [("escalation.tickets", policy.ticket_receiver)] if policy.ticket_receiver else []
        for field, name in named:
            if name in by_name or name in warned:
                continue
            warned.add(name)
            close = difflib.get_close_matches(name, sorted(by_name), n=1, cutoff=0.6)
            problems.append(Diagnostic(
                Level.WARNING, _where(slo), f"{slo.id}: {field}",
                f"receiver {name!r} is not defined under receivers: in any file; the generated Alertmanager "
                "configuration gives it no integrations, so its notifications go nowhere",
                f"did you mean {close[0]!r}?" if close else f"define it under receivers: {name}: {{webhook_configs: ...}}"))
    return tuple(sorted(by_name.values(), key=lambda r: r.name)), problems
