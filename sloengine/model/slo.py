"""The one typed, immutable model every spec format is loaded into.

Everything downstream (rules, alerts, dashboards, the engine) reads only these
types, never a spec's raw YAML, so a Sloth file and a native file that say the
same thing produce the same output. Values are normalised on the way in:
windows in whole seconds, objectives as percentages, mappings as sorted tuples
of pairs so that models compare, hash and render deterministically.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

from .diagnostics import Position
from .durations import format_duration
from .promql import Selector

Labels = tuple[tuple[str, str], ...]


def labels(mapping: Mapping[str, str] | None) -> Labels:
    """Freeze a mapping into sorted pairs."""
    return tuple(sorted((str(k), str(v)) for k, v in (mapping or {}).items()))


class SourceFormat(enum.Enum):
    """Which spec format an SLO was read from (reported by ``validate``)."""

    NATIVE = "sloengine/v1"
    SLOTH = "sloth prometheus/v1"
    SLOTH_K8S = "sloth PrometheusServiceLevel"
    OPENSLO_V1 = "openslo/v1"
    OPENSLO_V1ALPHA = "openslo/v1alpha"
    PYRRA = "pyrra ServiceLevelObjective"


class SLIKind(enum.Enum):
    RATIO = "ratio"
    LATENCY = "latency"
    PROBE = "probe"
    RAW = "raw"


@dataclass(frozen=True)
class RatioSLI:
    """Events counted by counters: ``good`` or ``bad`` against ``total``."""

    total: Selector
    good: Selector | None = None
    bad: Selector | None = None
    group_by: tuple[str, ...] = ()
    kind: SLIKind = field(default=SLIKind.RATIO, init=False)

    def __post_init__(self) -> None:
        if (self.good is None) == (self.bad is None):
            raise ValueError("a ratio SLI needs exactly one of good and bad")


@dataclass(frozen=True)
class LatencySLI:
    """Requests faster than ``threshold_seconds``, from a histogram's ``_bucket`` and ``_count``.

    ``histogram`` is the metric's base name (without ``_bucket``) with its
    matchers; the compiler matches the ``le`` label for both ``"1"`` and
    ``"1.0"`` spellings, which client libraries disagree on.
    """

    histogram: Selector
    threshold_seconds: float
    group_by: tuple[str, ...] = ()
    kind: SLIKind = field(default=SLIKind.LATENCY, init=False)
    #: Where the threshold is written and how (``500``, ``300ms``, Pyrra's ``le="0.5"`` value), so checks
    #: of the threshold point at it and can tell a bare number from a duration. Not part of the SLI's identity.
    threshold_source: Position | None = field(default=None, compare=False)
    threshold_text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.threshold_seconds > 0:
            raise ValueError("a latency threshold must be positive")

    # Cached (in the instance's ``__dict__``, beside the frozen fields): the compiler reads them many times per
    # SLO, and a new Selector each time would be checked and rendered again.
    @cached_property
    def bucket(self) -> Selector:
        return self.histogram.with_metric(self.histogram.metric + "_bucket")

    @cached_property
    def count(self) -> Selector:
        return self.histogram.with_metric(self.histogram.metric + "_count")


@dataclass(frozen=True)
class ProbeSLI:
    """A 0/1 gauge (``up``, ``probe_success``): the share of samples that are 1. Time-based."""

    gauge: Selector
    group_by: tuple[str, ...] = ()
    kind: SLIKind = field(default=SLIKind.PROBE, init=False)


@dataclass(frozen=True)
class RawSLI:
    """User PromQL with a ``$window`` placeholder: an error ratio, or event counts.

    Either ``error_ratio`` alone, or ``total`` with one of ``good``/``bad``.
    The queries are parsed before they get here.
    """

    error_ratio: str | None = None
    good: str | None = None
    bad: str | None = None
    total: str | None = None
    group_by: tuple[str, ...] = ()
    kind: SLIKind = field(default=SLIKind.RAW, init=False)

    def __post_init__(self) -> None:
        events = self.total is not None and ((self.good is None) != (self.bad is None))
        ratio = self.error_ratio is not None and self.total is None and self.good is None and self.bad is None
        if not (events or ratio):
            raise ValueError("a raw SLI needs error_ratio alone, or total with exactly one of good and bad")


SLI = RatioSLI | LatencySLI | ProbeSLI | RawSLI


def sli_selectors(sli: SLI) -> list[Selector]:
    """The selectors an SLI reads as written (a latency SLI's histogram, not its bucket and count); none for
    raw PromQL, whose series are not known."""
    if isinstance(sli, RatioSLI):
        return [s for s in (sli.total, sli.good, sli.bad) if s is not None]
    if isinstance(sli, LatencySLI):
        return [sli.histogram]
    if isinstance(sli, ProbeSLI):
        return [sli.gauge]
    return []


class CalendarUnit(enum.Enum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


#: Nominal lengths used where a calendar period must act as a duration (alert scaling).
CALENDAR_NOMINAL_SECONDS = {
    CalendarUnit.WEEK: 7 * 86400,
    CalendarUnit.MONTH: 30 * 86400,
    CalendarUnit.QUARTER: 90 * 86400,
}


@dataclass(frozen=True)
class RollingWindow:
    seconds: int

    @property
    def nominal_seconds(self) -> int:
        return self.seconds

    @property
    def name(self) -> str:
        return format_duration(self.seconds)


@dataclass(frozen=True)
class CalendarWindow:
    """A calendar period (weeks start on Monday) in an IANA time zone."""

    unit: CalendarUnit
    timezone: str = "UTC"

    @property
    def nominal_seconds(self) -> int:
        return CALENDAR_NOMINAL_SECONDS[self.unit]

    @property
    def name(self) -> str:
        return self.unit.value


Window = RollingWindow | CalendarWindow


class AlertSeverity(enum.Enum):
    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class BurnRateAlert:
    """One multi-window burn-rate condition: fire when both windows burn faster than ``burn_factor``.

    ``budget_percent`` is the share of the whole error budget this condition
    lets burn within ``long_seconds`` before it fires; the factor follows from
    it and the SLO period (factor = budget share × period ÷ long window).
    """

    severity: AlertSeverity
    long_seconds: int
    short_seconds: int
    budget_percent: float
    burn_factor: float
    for_seconds: int = 0

    @property
    def name(self) -> str:
        return f"{format_duration(self.long_seconds)}-{format_duration(self.short_seconds)}"


@dataclass(frozen=True)
class AlertPolicy:
    enabled: bool
    conditions: tuple[BurnRateAlert, ...]
    name: str = ""
    labels: Labels = ()
    annotations: Labels = ()
    page_labels: Labels = ()
    page_annotations: Labels = ()
    ticket_labels: Labels = ()
    ticket_annotations: Labels = ()
    #: Fewest events the long window must hold for an alert to fire (0: no guard).
    min_events: int = 0
    #: Whether the label and annotation values above are Prometheus templates (else they are literal text).
    templates: bool = False


# ---- escalation (routing pages and tickets to people through Alertmanager) ----------------------


@dataclass(frozen=True)
class ClockRange:
    """Wall-clock minutes within a day, ``start`` inclusive and ``end`` exclusive (``end`` up to 1440)."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= 1440:
            raise ValueError("a time range needs 00:00 <= start < end <= 24:00")

    @staticmethod
    def clock(minute: int) -> str:
        return f"{minute // 60:02d}:{minute % 60:02d}"

    @property
    def text(self) -> str:
        return f"{self.clock(self.start_minute)}-{self.clock(self.end_minute)}"


#: Day names as specs write them; a week starts on Monday (index 0), as in ``datetime.weekday()``.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

#: The whole day, as the one time range of hours that name no times.
ALL_DAY = ClockRange(0, 1440)


@dataclass(frozen=True)
class WeeklyHours:
    """Recurring hours in an IANA time zone: weekdays (``monday``, or a range ``monday:friday``; weeks start
    on Monday) and times of day; an empty list means every day, or all day.

    The one type for every recurring-hours block of the spec: an escalation policy's support hours (when
    tickets are delivered), a weekly maintenance window, an agreement's support hours (when its target
    applies) and a weekly exclusion. ``holidays`` are dates that do not count; only agreements' support
    hours have them (the spec refuses them elsewhere, as Alertmanager's ticket routing would not honour them).
    """

    timezone: str = "UTC"
    weekdays: tuple[str, ...] = ()
    times: tuple[ClockRange, ...] = ()
    holidays: tuple[date, ...] = ()

    @property
    def weekday_numbers(self) -> frozenset[int]:
        """The days these hours fall on, 0 = Monday; every day when no weekdays are given."""
        if not self.weekdays:
            return frozenset(range(7))
        out: set[int] = set()
        for item in self.weekdays:
            first, _, last = item.partition(":")
            out.update(range(WEEKDAYS.index(first), WEEKDAYS.index(last or first) + 1))
        return frozenset(out)

    @property
    def ranges(self) -> tuple[ClockRange, ...]:
        """The times of day, in order; the whole day when no times are given."""
        return tuple(sorted(self.times, key=lambda r: (r.start_minute, r.end_minute))) or (ALL_DAY,)

    @property
    def always(self) -> bool:
        """Around the clock, every day, no holidays."""
        return self.weekday_numbers == frozenset(range(7)) and ALL_DAY in self.ranges and not self.holidays


@dataclass(frozen=True)
class MaintenanceWindow:
    """A named window of time: weekly ``hours``, or once from ``start`` to ``end`` (timezone-aware
    datetimes, whole minutes). In an escalation policy it mutes every notification of the SLO; in an
    agreement (an exclusion) its time is removed from good and total events alike."""

    name: str
    hours: WeeklyHours | None = None
    start: datetime | None = None
    end: datetime | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if (self.hours is None) == (self.start is None or self.end is None):
            raise ValueError("a maintenance window is weekly hours or a start and an end")


@dataclass(frozen=True)
class EscalationLevel:
    """Who is notified at a level, once a page has fired for ``after_seconds`` (0 for L1: at once)."""

    level: str
    receiver: str
    after_seconds: int = 0


@dataclass(frozen=True)
class EscalationPolicy:
    """Who gets an SLO's pages and tickets, and when.

    ``levels`` start with L1 (the on-call, notified with the page). A level
    beyond L1 is notified when the page has stayed unresolved for its
    ``after_seconds`` (Prometheus raises an escalation alert; Alertmanager
    routes it). ``ticket_receiver`` gets tickets (default: L1's receiver), only
    within ``support_hours`` when given; ``maintenance`` mutes everything.
    """

    levels: tuple[EscalationLevel, ...]
    ticket_receiver: str = ""
    support_hours: WeeklyHours | None = None
    maintenance: tuple[MaintenanceWindow, ...] = ()

    def __post_init__(self) -> None:
        if not self.levels or self.levels[0].level != "L1":
            raise ValueError("an escalation policy starts with level L1")

    @property
    def l1(self) -> EscalationLevel:
        return self.levels[0]

    @property
    def tickets(self) -> str:
        return self.ticket_receiver or self.l1.receiver

    @property
    def escalations(self) -> tuple[EscalationLevel, ...]:
        """The levels raised by escalation rules (every level after L1)."""
        return self.levels[1:]


def default_receiver(service: str, team: str = "") -> str:
    """The receiver an SLO's alerts go to when its spec names none: its team's (else its service's)."""
    return team or service


def default_policy(service: str, team: str = "") -> EscalationPolicy:
    """L1 = the team's receiver, no escalation, tickets to the same receiver, no hours."""
    return EscalationPolicy((EscalationLevel("L1", default_receiver(service, team)),))


@dataclass(frozen=True)
class Receiver:
    """An Alertmanager receiver: its integrations as Alertmanager's own YAML keys, frozen as canonical JSON."""

    name: str
    config_json: str = "{}"
    source: Position | None = field(default=None, compare=False)

    @property
    def config(self) -> dict:
        return json.loads(self.config_json)


# ---- agreements ------------------------------------------------------------------------------------
# The contract side of service level management. An SLO is an internal goal; an agreement is a promise to
# someone. Each agreement holds one or more SLIs (those of named SLOs, optionally narrowed to one customer's
# traffic by extra label matchers) to a target over calendar periods, counted only within support hours and
# net of exclusions, with consequences (service credits) when it is missed. An SLA is backed by the OLAs of
# the internal teams and the underpinning contracts (UCs) of the vendors it depends on
# (:func:`sloengine.specs.validation.consistency` checks that those can support it).
class AgreementKind(enum.Enum):
    SLA = "sla"   # provider ↔ customer (external)
    OLA = "ola"   # between internal teams the SLA depends on
    UC = "uc"     # underpinning contract with a third-party vendor


@dataclass(frozen=True)
class Commitment:
    """An SLO's SLI held to ``objective`` (percent) by an agreement; ``match`` narrows it (e.g. one customer)."""

    service: str
    slo: str
    objective: float
    match: Labels = ()

    @property
    def slo_id(self) -> str:
        return f"{self.service}/{self.slo}"

    @property
    def error_budget(self) -> float:
        return round(1.0 - self.objective / 100.0, 12)


@dataclass(frozen=True)
class CreditStep:
    """Attainment below ``below`` percent owes ``credit_percent`` of the period's fee."""

    below: float
    credit_percent: float


@dataclass(frozen=True)
class Tier:
    """One level a service is offered at (gold, silver, ...): defaults for the agreements that name it."""

    name: str
    objective: float
    credits: tuple[CreditStep, ...] = ()
    support_hours: WeeklyHours | None = None
    #: Highest escalation level an SLA of this tier reaches (e.g. "L3"), for the escalation policy.
    escalate_to: str = ""


@dataclass(frozen=True)
class Agreement:
    name: str
    kind: AgreementKind
    provider: str
    consumer: str                       # the customer (SLA), internal team (OLA) or vendor's client (UC)
    commitments: tuple[Commitment, ...]
    period: CalendarUnit = CalendarUnit.MONTH
    timezone: str = "UTC"
    support_hours: WeeklyHours = field(default_factory=WeeklyHours)
    #: Time removed from good and total events: weekly hours or one-off windows.
    exclusions: tuple[MaintenanceWindow, ...] = ()
    credits: tuple[CreditStep, ...] = ()
    depends_on: tuple[str, ...] = ()
    tier: str = ""
    description: str = ""
    review_every: CalendarUnit | None = None
    #: Escalation level the covered SLOs' pages must be able to reach (from the tier), e.g. "L3".
    escalate_to: str = ""
    #: Alertmanager receiver of the agreement's breach-risk alerts (its owner or account team); "" for none.
    notify: str = ""
    source: Position | None = field(default=None, compare=False)

    @property
    def objective(self) -> float:
        """The strictest target among the commitments (what the agreement as a whole promises)."""
        return max((c.objective for c in self.commitments), default=0.0)

    def credit_for(self, attained_percent: float) -> float:
        """The credit owed at this attainment: the largest step whose threshold it falls below."""
        owed = [s.credit_percent for s in self.credits if attained_percent < s.below]
        return max(owed, default=0.0)


@dataclass(frozen=True)
class Service:
    name: str
    team: str = ""
    owner: str = ""
    description: str = ""
    labels: Labels = ()
    source: Position | None = field(default=None, compare=False)
    #: Alertmanager receivers declared in this service's file (the catalog merges every file's).
    receivers: tuple[Receiver, ...] = ()
    #: SLAs, OLAs and UCs declared in this service's file (the catalog merges every file's).
    agreements: tuple[Agreement, ...] = ()


@dataclass(frozen=True)
class SLO:
    service: str
    name: str
    objective: float
    window: Window
    sli: SLI
    alerting: AlertPolicy
    description: str = ""
    labels: Labels = ()
    source: Position | None = field(default=None, compare=False)
    source_format: SourceFormat = field(default=SourceFormat.NATIVE, compare=False)
    #: Who is notified and when; None: the default (L1 = the team's receiver, no escalation).
    escalation: EscalationPolicy | None = None

    @property
    def id(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def target(self) -> float:
        """The objective as a fraction (99.9 → 0.999), rounded to shed float noise."""
        return round(self.objective / 100.0, 12)

    @property
    def error_budget(self) -> float:
        """The allowed error ratio (99.9 → 0.001)."""
        return round(1.0 - self.objective / 100.0, 12)


@dataclass(frozen=True)
class Catalog:
    """Everything loaded from a set of spec files, sorted for deterministic output."""

    services: tuple[Service, ...] = ()
    slos: tuple[SLO, ...] = ()
    #: Alertmanager receivers declared in any file, by name.
    receivers: tuple[Receiver, ...] = ()
    #: Agreements declared in any file, by name.
    agreements: tuple[Agreement, ...] = ()

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)
