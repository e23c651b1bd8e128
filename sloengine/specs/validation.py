"""Checks that need the whole model rather than one field: they run after every format's reader.

A reader can only see its own document; duplicate SLO ids across files, alert
windows longer than the SLO window, or a burn factor that no error ratio can
reach are only visible once everything is loaded. Running them here means a
Sloth or OpenSLO import gets exactly the same scrutiny as a native spec. The
agreements are checked against each other and the SLOs here too
(:func:`consistency`): whether the OLAs and UCs can support each SLA.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache

from ..model import conventions
from ..model.calendars import is_time_zone
from ..model.diagnostics import Diagnostic, Level, Position
from ..model.durations import format_duration
from ..model.promql import LABEL_NAME
from ..model.slo import (
    SLO,
    Agreement,
    AgreementKind,
    AlertSeverity,
    BurnRateAlert,
    CalendarWindow,
    Catalog,
    LatencySLI,
    Receiver,
    Service,
    SourceFormat,
    default_policy,
)
from ..model.templates import template_problem
from .policy import default_conditions

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
    for what, layer in (("alerting.labels", slo.alerting.labels), ("alerting.annotations", slo.alerting.annotations),
                        ("alerting.page.labels", slo.alerting.page_labels),
                        ("alerting.page.annotations", slo.alerting.page_annotations),
                        ("alerting.ticket.labels", slo.alerting.ticket_labels),
                        ("alerting.ticket.annotations", slo.alerting.ticket_annotations)):
        for key, value in layer:
            if not LABEL_NAME.match(key):
                error(what, f"{key[:80]!r} is not a valid {what.rpartition('.')[2][:-1]} name (Prometheus refuses it)",
                      "use letters, digits and _, not starting with a digit")
            elif slo.alerting.templates and (problem := template_problem(value)):
                error(f"{what}.{key}", f"not a Prometheus template: {problem}",
                      "fix the template, or drop alerting.templates to have the text taken literally")
    if slo.escalation is not None:
        for zone in {w.timezone for w in slo.escalation.maintenance} | (
                {slo.escalation.support_hours.timezone} if slo.escalation.support_hours else set()):
            if not is_time_zone(zone):
                error("escalation", f"{zone[:80]!r} is not an IANA time zone", "use e.g. UTC or Europe/Berlin")
        pages = slo.alerting.enabled and any(c.severity is AlertSeverity.PAGE for c in slo.alerting.conditions)
        if slo.escalation.escalations and not pages:
            extra = [lv.level for lv in slo.escalation.escalations]
            warn("escalation.levels",
                 f"{'levels' if len(extra) > 1 else 'level'} {', '.join(extra)} never "
                 f"{'fire' if len(extra) > 1 else 'fires'}: the SLO has no page conditions to escalate",
                 "enable page alerts or drop the levels beyond L1")
    for key, _ in slo.labels:
        if not LABEL_NAME.match(key):
            error("labels", f"{key!r} is not a valid label name",
                  "use letters, digits and _, not starting with a digit")
        elif key in conventions.RESERVED_LABELS:
            error("labels", f"label {key!r} is set by sloengine itself", "rename the label")
        elif key in conventions.INFO_LABELS:
            error("labels", f"label {key!r} is set by sloengine on slo:info, which carries the SLO's labels",
                  f"rename the label (e.g. slo_{key})")
    for label in slo.sli.group_by:
        if not LABEL_NAME.match(label):
            error("sli.group_by", f"{label!r} is not a valid label name", "use letters, digits and _")
        elif label in conventions.RESERVED_LABELS:
            error("sli.group_by", f"{label!r} is set by sloengine on every series and cannot be a grouping label",
                  f"rename the source label at scrape time (metric_relabel_configs: {label} -> e.g. "
                  f"source_{label}) and group by the new name")
    if isinstance(slo.window, CalendarWindow) and not is_time_zone(slo.window.timezone):
        error("window.timezone", f"{slo.window.timezone[:80]!r} is not an IANA time zone",
              "use e.g. UTC or Europe/Berlin")
    period = slo.window.nominal_seconds
    for cond in slo.alerting.conditions:
        if cond.long_seconds >= period:
            error("alerting.conditions",
                  f"alert window {format_duration(cond.long_seconds)} is not shorter than the SLO window "
                  f"{slo.window.name}",
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


def _reading_order(files: Sequence[str]) -> Callable[[SLO], tuple]:
    """Sort key putting SLOs in the order a reader meets them: files as given (command-line order,
    directories expanded in name order), then line and column within a file. Files not listed come last."""
    rank = {name: i for i, name in enumerate(files)}

    def key(slo: SLO) -> tuple:
        where = _where(slo)
        return (rank.get(where.file, len(rank)), where.file, where.line, where.column)
    return key


def _service_label_problems(service: Service) -> list[Diagnostic]:
    """A service's ``labels:`` go onto its SLOs' ``slo:info`` series and alerts: the same names are refused
    there as on an SLO's own labels."""
    out = []
    where = service.source or Position("<unknown>")
    for key, _ in service.labels:
        if not LABEL_NAME.match(key):
            message, hint = f"{key!r} is not a valid label name", "use letters, digits and _, not starting with a digit"
        elif key in conventions.RESERVED_LABELS:
            message, hint = f"label {key!r} is set by sloengine itself", "rename the label"
        elif key in conventions.INFO_LABELS:
            message = f"label {key!r} is set by sloengine on slo:info, which carries the service's labels"
            hint = f"rename the label (e.g. service_{key})"
        else:
            continue
        out.append(Diagnostic(Level.ERROR, where, f"service {service.name}: labels", message, hint))
    return out


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
        problems.extend(_service_label_problems(service))
    seen: dict[str, SLO] = {}
    kept: list[SLO] = []
    order = _reading_order(files)
    for slo in sorted(slos, key=lambda s: (s.id, order(s))):
        if slo.service not in by_name:
            by_name[slo.service] = Service(slo.service, source=slo.source)
        if slo.id in seen:
            problems.append(Diagnostic(
                Level.ERROR, _where(slo), f"{slo.id}",
                f"duplicate SLO id {slo.id!r}, first defined at {_where(seen[slo.id])}",
                "rename one of them or change its service"))
            continue
        seen[slo.id] = slo
        problems.extend(_check_slo(slo))
        kept.append(slo)
    receivers, receiver_problems = _receivers(services, kept)
    problems.extend(receiver_problems)
    problems.extend(silent_failures(by_name, kept, receivers))
    catalog = Catalog(tuple(sorted(by_name.values(), key=lambda s: s.name)), tuple(kept), receivers)
    agreements, agreement_problems = _agreements(services, catalog)
    problems.extend(agreement_problems)
    return replace(catalog, agreements=agreements), problems


def _agreements(services: list[Service], catalog: Catalog) -> tuple[tuple, list[Diagnostic]]:
    """Every file's agreements (names unique across files), checked against each other and the SLOs."""
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
                f"did you mean {close[0]!r}?" if close
                else f"define it under receivers: {name}: {{webhook_configs: ...}}"))
    return tuple(sorted(by_name.values(), key=lambda r: r.name)), problems


# ---- specs that validate but would measure nothing, page too late or notify no one (issue 12) ---------

#: A latency threshold above this many seconds, written as a bare number, is most likely milliseconds.
IMPLAUSIBLE_THRESHOLD_SECONDS = 60
#: The field diagnostics about a latency threshold name (after the SLO's id); ``validate --prometheus`` drops
#: the offline unit warning for thresholds the server shows to be bucket boundaries.
THRESHOLD_FIELD = "sli.latency.threshold"


def silent_failures(services: dict[str, Service], slos: list[SLO], receivers: tuple[Receiver, ...]) -> list[Diagnostic]:
    """Warnings for specs that load cleanly yet fail silently: a latency threshold in the wrong unit (no
    bucket there, so no data), alert conditions that scaling collapsed onto one pair of windows or made
    unable to warn before the budget is gone, and alerts routed to a receiver with no integrations."""
    out: list[Diagnostic] = []
    for slo in slos:
        out.extend(_threshold_unit(slo))
        out.extend(_collapsed_conditions(slo))
    out.extend(_unrouted_services(services, slos, receivers))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _threshold_unit(slo: SLO) -> list[Diagnostic]:
    """A threshold over a minute written as a bare number: ``500`` meant as milliseconds makes 500 s the bound,
    which no bucket of a request histogram is (so the SLI has no data). A duration (``2m``) says the
    unit, so it is trusted."""
    sli = slo.sli
    if not isinstance(sli, LatencySLI) or sli.threshold_seconds <= IMPLAUSIBLE_THRESHOLD_SECONDS:
        return []
    text = sli.threshold_text or f"{sli.threshold_seconds:g}"
    if not _is_number(text):
        return []
    seconds = sli.threshold_seconds
    if slo.source_format is SourceFormat.PYRRA:
        hint = (f'if you meant {seconds:g} milliseconds, select the bucket le="{seconds / 1000:g}" '
                "(Prometheus histograms count seconds)")
    else:
        whole = format_duration(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}s"
        hint = (f"write {seconds:g}ms or {seconds / 1000:g} if you meant milliseconds; if you do mean "
                f"{seconds:g} seconds, write it as a duration ({whole!r})")
    return [Diagnostic(
        Level.WARNING, sli.threshold_source or _where(slo), f"{slo.id}: {THRESHOLD_FIELD}",
        f"threshold {text} is {seconds:g} seconds: thresholds are in seconds, and a request histogram rarely has a "
        f"bucket that high, so this is probably milliseconds; without a bucket at le={seconds:g} the SLI has no "
        "data", hint)]


def _condition_label(cond: BurnRateAlert) -> str:
    return f"{cond.severity.value} {cond.burn_factor:g}x"


@cache
def _shortest_sound_window() -> int:
    """The shortest common rolling window whose scaled default conditions neither coincide nor degenerate."""
    for seconds in (3600 * h for h in (1, 2, 3, 6, 12, 24, 48, 72, 96, 168, 336, 672, 720)):
        conditions = default_conditions(seconds)
        if len({(c.long_seconds, c.short_seconds) for c in conditions}) == len(conditions) and \
                all(c.budget_percent < 100 for c in conditions):
            return seconds
    return 30 * 86400


def _collapsed_conditions(slo: SLO) -> list[Diagnostic]:
    """Conditions that share both windows (they fire together, so the slower burns the others should catch
    are not watched), and conditions that can only fire once the whole budget has burned (by then the SLO is
    breached). The workbook's conditions scaled to a short window do both: on 1h all four land on 5m/2m."""
    if not slo.alerting.enabled:
        return []
    conditions = slo.alerting.conditions
    by_windows: dict[tuple[int, int], list[BurnRateAlert]] = {}
    for cond in conditions:
        by_windows.setdefault((cond.long_seconds, cond.short_seconds), []).append(cond)
    collapsed = [same for same in by_windows.values() if len(same) > 1]
    late = [cond for cond in conditions if cond.budget_percent >= 100 and cond.burn_factor * slo.error_budget <= 1]
    if not collapsed and not late:
        return []  # the usual case, found before any message is worded
    period = slo.window.nominal_seconds
    scaled = set(conditions) <= set(default_conditions(period))
    if scaled:
        fix = (f"use a window of at least {format_duration(_shortest_sound_window())} (the workbook's conditions "
               "are for 30d), or set alerting.conditions explicitly with distinct windows")
    else:
        fix = "give each condition its own long and short window, or drop the redundant ones"
    where, field = _where(slo), f"{slo.id}: alerting.conditions"
    origin = f"the default conditions scaled to the {slo.window.name} window" if scaled else "conditions"
    out: list[Diagnostic] = []
    for same in collapsed:
        names = ", ".join(_condition_label(c) for c in same)
        out.append(Diagnostic(
            Level.WARNING, where, field,
            f"{origin} collapse: {names} all use the windows {format_duration(same[0].long_seconds)}/"
            f"{format_duration(same[0].short_seconds)}: the lowest factor fires whenever a higher one does, and "
            "no slower burn is watched over a longer window, which is what the other conditions are for", fix))
    for cond in late:
        out.append(Diagnostic(
            Level.WARNING, where, field,
            f"{origin}: {_condition_label(cond)} over {format_duration(cond.long_seconds)}/"
            f"{format_duration(cond.short_seconds)} fires only after {cond.budget_percent:g}% of the error "
            "budget has burned within its long window, when the SLO is already breached",
            fix if scaled else "lower its factor so it fires on less than the whole budget "
                               f"(below {100 * cond.burn_factor / cond.budget_percent:.3g})"))
    return out


def _unrouted_services(services: dict[str, Service], slos: list[SLO],
                       receivers: tuple[Receiver, ...]) -> list[Diagnostic]:
    """Once per service: SLOs without an escalation policy go to the default receiver (the team's name, else
    the service's); unless some file defines a receiver by that name, the generated alertmanager.yml gives
    it no integrations and their pages and tickets reach no one. Imported Sloth, OpenSLO and Pyrra SLOs
    never have a policy, so the fix for them is defining that receiver in a sloengine/v1 file."""
    defined = {r.name for r in receivers}
    unrouted: dict[str, list[SLO]] = {}
    for slo in slos:
        if slo.escalation is None:
            unrouted.setdefault(slo.service, []).append(slo)
    out: list[Diagnostic] = []
    for name, members in sorted(unrouted.items()):
        service = services.get(name) or Service(name)
        receiver = default_policy(service.name, service.team).l1.receiver
        if receiver in defined:
            continue
        members = sorted(members, key=lambda s: (_where(s).file, _where(s).line, _where(s).column, s.name))
        listed = ", ".join(s.name for s in members[:3]) + (f" and {len(members) - 3} more" if len(members) > 3 else "")
        example = f"{{{receiver}: {{webhook_configs: [{{url: https://alerts.example.com/{receiver}}}]}}}}"
        if any(s.source_format is SourceFormat.NATIVE for s in members):
            hint = (f"say who is notified: defaults: {{escalation: {{levels: [{{level: L1, receiver: {receiver}}}]}}}} "
                    f"and receivers: {example} (defining receiver {receiver!r} alone also works)")
        else:
            hint = (f"{members[0].source_format.value} files cannot name receivers: define receiver {receiver!r} "
                    f"under receivers: in a sloengine/v1 file loaded with this one, e.g. receivers: {example}, or "
                    f'route service="{name}" in your own Alertmanager configuration')
        plural = len(members) > 1
        out.append(Diagnostic(
            Level.WARNING, _where(members[0]), f"service {name}: escalation",
            f"{len(members)} SLO{'s' if plural else ''} ({listed}) {'have' if plural else 'has'} no escalation, so "
            f"{'their' if plural else 'its'} pages and tickets go to the default receiver {receiver!r}, which no "
            "file defines under receivers:; the generated alertmanager.yml gives it no integrations, so these "
            "notifications go nowhere", hint))
    return out


@dataclass(frozen=True)
class Finding:
    """A consistency problem across agreements and SLOs (reported as a warning, or an error)."""

    agreement: str
    message: str
    fix: str
    error: bool = False
    source: Position | None = None


def consistency(catalog: Catalog, agreements: tuple[Agreement, ...]) -> list[Finding]:
    """Can the OLAs and UCs support each SLA, does an internal SLO protect it, does every OLA cover something?"""
    by_name = {a.name: a for a in agreements}
    slos = {s.id: s for s in catalog.slos}
    out: list[Finding] = []
    for a in agreements:
        for c in a.commitments:
            slo = slos.get(c.slo_id)
            if slo is None:
                out.append(Finding(a.name, f"covers SLO {c.slo_id}, which no spec defines",
                                   f"define {c.slo_id} or correct the name", error=True, source=a.source))
            elif a.escalate_to and (slo.escalation is None
                                    or a.escalate_to not in {lv.level for lv in slo.escalation.levels}):
                out.append(Finding(a.name, f"its tier {a.tier!r} escalates to {a.escalate_to}, but {c.slo_id}'s "
                                           "escalation policy has no such level",
                                   f"add a level {a.escalate_to} to {c.slo_id}'s escalation: levels", source=a.source))
            if slo is not None and a.kind is AgreementKind.SLA and slo.objective <= c.objective:
                out.append(Finding(a.name, f"no internal objective is stricter than the SLA's {c.objective:g}% for "
                                           f"{c.slo_id} (its SLO is {slo.objective:g}%)",
                                   "raise the internal SLO above the SLA target so alerts fire before the "
                                   "contract is missed", source=a.source))
        if a.kind is not AgreementKind.SLA and not a.commitments:
            out.append(Finding(a.name, f"{a.kind.value.upper()} covers nothing",
                               "list the SLOs it commits to under 'covers'", source=a.source))
        missing = [d for d in a.depends_on if d not in by_name]
        for name in missing:
            out.append(Finding(a.name, f"depends on {name!r}, which is not an agreement here",
                               "name an OLA or UC defined in the specs", error=True, source=a.source))
        backing = [by_name[d] for d in a.depends_on if d in by_name]
        for dep in backing:
            if dep.kind is AgreementKind.SLA:
                out.append(Finding(a.name, f"depends on {dep.name!r}, which is an SLA, not an OLA or UC",
                                   "an SLA is backed by OLAs (internal teams) and UCs (vendors)", source=a.source))
        if a.kind is AgreementKind.SLA and not a.depends_on:
            out.append(Finding(a.name, "is not backed by any OLA or UC",
                               "add depends_on: [the OLAs and UCs of the services it relies on]", source=a.source))
        if a.kind is AgreementKind.SLA and backing:
            product = math.prod(dep.objective / 100.0 for dep in backing if dep.commitments)
            if product * 100.0 < a.objective:
                chain = " × ".join(f"{dep.objective:g}%" for dep in backing if dep.commitments)
                out.append(Finding(a.name, f"its dependencies in series allow at most {product * 100:.4g}% "
                                           f"({chain}), below the SLA's {a.objective:g}%",
                                   "tighten the OLAs/UCs or lower the SLA target", source=a.source))
    return out
