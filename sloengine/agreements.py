"""The contract side of service level management: SLAs, OLAs and underpinning contracts, as typed data.

An SLO is an internal goal; an agreement is a promise to someone. Each
agreement holds one or more SLIs (those of named SLOs, optionally narrowed to
one customer's traffic by extra label matchers) to a target over calendar
periods, counted only within support hours and net of exclusions, with
consequences (service credits) when it is missed. An SLA is backed by the OLAs
of the internal teams and the underpinning contracts (UCs) of the vendors it
depends on; :func:`consistency` checks that those can support it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from .diagnostics import Position
from .model import CalendarUnit, Catalog, Labels, MaintenanceWindow, WeeklyHours


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
