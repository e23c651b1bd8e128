"""The ``agreements:`` and ``tiers:`` sections of a ``ServiceLevels`` file, as pydantic models.

Kept beside :mod:`sloengine.spec` (which embeds them) so the contract side of
the format reads in one place. Conversion resolves tiers (an agreement that
names a tier takes its objective, credits and support hours unless it sets
its own) and turns wall-clock text into :mod:`sloengine.hours` values.

    tiers:
      gold: {objective: 99.95, credits: [{below: 99.95, credit: 10}, {below: 99.5, credit: 25}], escalate_to: L3}
    agreements:
      - name: acme-checkout
        kind: sla
        provider: shop-inc
        customer: acme
        tier: gold
        period: {calendar: month, timezone: Europe/Berlin}
        covers:
          - {slo: requests-availability, match: {customer: acme}}
        support_hours: {timezone: Europe/Berlin, days: [monday-friday], hours: ["08:00-18:00"], holidays: [2026-12-25]}
        exclusions:
          - {name: db upgrade, start: "2026-10-31T22:00:00+01:00", end: "2026-11-01T03:00:00+01:00"}
          - {name: patching, days: [sunday], hours: ["02:00-04:00"]}
        depends_on: [payments-ola, psp-uc]
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .agreements import Agreement, AgreementKind, Commitment, CreditStep, Tier
from .hours import ALL_DAY, WEEKDAYS, Exclusion, SupportHours, TimeRange
from .model import CalendarUnit, labels
from .promql import LABEL_NAME

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def _fail(message: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError("sloengine", "{message}", {"message": message, "hint": hint})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"{value!r} is not an IANA time zone", "use a name such as UTC or Europe/Berlin") from None
    return value


def parse_days(items: list[str]) -> frozenset[int]:
    """``monday``, ``mon``, ``monday-friday`` (ranges wrap: ``friday-monday``)."""
    out: set[int] = set()
    for item in items:
        parts = [p.strip().lower() for p in item.split("-")]
        if len(parts) > 2 or not all(parts):
            raise _fail(f"{item!r} is not a day or a range of days", "write monday, or monday-friday")
        index = []
        for part in parts:
            found = [i for i, name in enumerate(WEEKDAYS) if name == part or name[:3] == part]
            if not found:
                raise _fail(f"{part!r} is not a day of the week", f"use one of {', '.join(WEEKDAYS)}")
            index.append(found[0])
        first, last = index[0], index[-1]
        out.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(out)


def parse_range(text: str) -> TimeRange:
    match = _RANGE.match(text.strip())
    if not match:
        raise _fail(f"{text!r} is not a time range", "write HH:MM-HH:MM, e.g. 08:00-18:00 (24:00 for midnight)")
    h0, m0, h1, m1 = (int(g) for g in match.groups())
    if not (0 <= h0 < 24 and 0 <= m0 < 60 and 0 <= m1 < 60 and (h1 < 24 or (h1, m1) == (24, 0))):
        raise _fail(f"{text!r} has an hour or minute out of range", "hours 00-23 (24:00 for midnight), minutes 00-59")
    end = None if (h1, m1) == (24, 0) else time(h1, m1)
    if end is not None and end <= time(h0, m0):
        raise _fail(f"{text!r} ends before it starts", "ranges stay within a day; split one across midnight in two")
    return TimeRange(time(h0, m0), end)


class SupportHoursSpec(_Strict):
    """When the target applies. Absent: around the clock, every day."""

    timezone: str = Field("UTC", description="IANA time zone of the hours and holidays.")
    days: list[str] = Field(default_factory=lambda: ["monday-sunday"], description="e.g. [monday-friday]")
    hours: list[str] = Field(default_factory=lambda: ["00:00-24:00"], description='e.g. ["08:00-18:00"]')
    holidays: list[date] = Field(default_factory=list, description="Dates (YYYY-MM-DD) outside support hours.")

    _tz = field_validator("timezone")(_zone)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        parse_days(value)
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_range(item)
        return value

    def to_model(self) -> SupportHours:
        times = tuple(sorted((parse_range(h) for h in self.hours), key=lambda r: r.start))
        if times == (TimeRange(time(0), None),):
            times = (ALL_DAY,)
        return SupportHours(self.timezone, parse_days(self.days), times, tuple(sorted(self.holidays)))


class ExclusionSpec(_Strict):
    """Time removed from the agreement: one-off (start/end with offset) or weekly (days/hours)."""

    name: str
    start: datetime | None = Field(None, description="One-off start, RFC 3339 with an offset.")
    end: datetime | None = None
    days: list[str] = Field(default_factory=list, description="Weekly: e.g. [sunday]")
    hours: list[str] = Field(default_factory=list, description='Weekly: e.g. ["02:00-04:00"]')
    timezone: str | None = Field(None, description="Weekly: the zone of days and hours; default the period's.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)

    @model_validator(mode="after")
    def _shape(self) -> "ExclusionSpec":
        one_off = self.start is not None or self.end is not None
        weekly = bool(self.days or self.hours)
        if one_off == weekly:
            raise _fail(f"exclusion {self.name!r} needs start and end, or days and hours (not both)",
                        'e.g. {start: "2026-10-31T22:00:00+01:00", end: "2026-11-01T03:00:00+01:00"}')
        if one_off:
            if self.start is None or self.end is None:
                raise _fail(f"exclusion {self.name!r} needs both start and end", "give both instants")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise _fail(f"exclusion {self.name!r} has a time without an offset",
                            "write the offset, e.g. 2026-10-31T22:00:00+01:00 or ...Z")
            if self.end <= self.start:
                raise _fail(f"exclusion {self.name!r} ends before it starts", "swap start and end")
        else:
            if not (self.days and self.hours):
                raise _fail(f"weekly exclusion {self.name!r} needs both days and hours", 'e.g. days: [sunday], hours: ["02:00-04:00"]')
            parse_days(self.days)
            for item in self.hours:
                parse_range(item)
        return self

    def to_model(self, default_timezone: str) -> Exclusion:
        if self.start is not None:
            return Exclusion(self.name, start=self.start, end=self.end)
        return Exclusion(self.name, weekdays=parse_days(self.days),
                         times=tuple(parse_range(h) for h in self.hours),
                         timezone=self.timezone or default_timezone)


class CreditSpec(_Strict):
    below: float = Field(gt=0, lt=100, description="Attainment (percent) below which this credit is owed.")
    credit: float = Field(gt=0, le=100, description="Credit, percent of the period's fee.")


class CoverSpec(_Strict):
    """An SLO whose SLI the agreement holds to its target."""

    slo: Name
    service: Name | None = Field(None, description="Default: the file's service.")
    objective: float | None = Field(None, gt=0, lt=100, description="Percent; default: the agreement's or tier's.")
    match: dict[Annotated[str, StringConstraints(pattern=LABEL_NAME.pattern)], str] = Field(
        default_factory=dict, description="Extra label matchers narrowing the SLI, e.g. {customer: acme}.")


class TierSpec(_Strict):
    objective: float = Field(gt=0, lt=100)
    credits: list[CreditSpec] = Field(default_factory=list)
    support_hours: SupportHoursSpec | None = None
    escalate_to: str = Field("", description="Highest escalation level SLAs of this tier reach, e.g. L3.")


class PeriodSpec(_Strict):
    calendar: Literal["week", "month", "quarter"] = "month"
    timezone: str = "UTC"

    _tz = field_validator("timezone")(_zone)


class AgreementSpec(_Strict):
    name: Name
    kind: Literal["sla", "ola", "uc"]
    description: str = ""
    provider: str = Field(description="Who promises: the service's team (SLA, OLA) or the vendor (UC).")
    customer: str = Field("", description="Who is promised: the customer (SLA) or internal team (OLA, UC).")
    tier: Name | None = None
    objective: float | None = Field(None, gt=0, lt=100, description="Default target for every covered SLO.")
    period: PeriodSpec = Field(default_factory=PeriodSpec)
    covers: list[CoverSpec] = Field(default_factory=list)
    support_hours: SupportHoursSpec | None = None
    exclusions: list[ExclusionSpec] = Field(default_factory=list)
    credits: list[CreditSpec] | None = None
    depends_on: list[Name] = Field(default_factory=list, description="OLAs and UCs this agreement relies on.")
    review_every: Literal["month", "quarter"] | None = None


def resolve_tier(spec: AgreementSpec, tiers: dict[str, TierSpec]) -> TierSpec | None:
    if spec.tier is None:
        return None
    if spec.tier not in tiers:
        known = ", ".join(sorted(tiers)) or "none defined"
        raise _fail(f"agreement {spec.name!r} names tier {spec.tier!r}, which this file does not define",
                    f"define it under tiers: (known: {known})")
    return tiers[spec.tier]


def to_agreement(spec: AgreementSpec, service: str, tiers: dict[str, TierSpec]) -> Agreement:
    """The model of one agreement; raises the spec's error type for what only the whole file can tell."""
    tier = resolve_tier(spec, tiers)
    default_objective = spec.objective if spec.objective is not None else (tier.objective if tier else None)
    commitments = []
    for cover in spec.covers:
        objective = cover.objective if cover.objective is not None else default_objective
        if objective is None:
            raise _fail(f"agreement {spec.name!r} gives no target for {cover.slo!r}",
                        "set objective on the agreement, its tier, or the covered SLO entry")
        commitments.append(Commitment(cover.service or service, cover.slo, objective, labels(cover.match)))
    credits_spec = spec.credits if spec.credits is not None else (tier.credits if tier else [])
    hours_spec = spec.support_hours or (tier.support_hours if tier else None)
    return Agreement(
        name=spec.name, kind=AgreementKind(spec.kind), provider=spec.provider, consumer=spec.customer,
        commitments=tuple(commitments), period=CalendarUnit(spec.period.calendar), timezone=spec.period.timezone,
        support_hours=hours_spec.to_model() if hours_spec else SupportHours(spec.period.timezone),
        exclusions=tuple(e.to_model(spec.period.timezone) for e in spec.exclusions),
        credits=tuple(sorted((CreditStep(c.below, c.credit) for c in credits_spec), key=lambda c: -c.below)),
        depends_on=tuple(spec.depends_on), tier=spec.tier or "", description=spec.description,
        review_every=CalendarUnit(spec.review_every) if spec.review_every else None,
    )


def to_tier(name: str, spec: TierSpec) -> Tier:
    return Tier(name, spec.objective, tuple(CreditStep(c.below, c.credit) for c in spec.credits),
                spec.support_hours.to_model() if spec.support_hours else None, spec.escalate_to)
