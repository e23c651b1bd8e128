"""From the ``tiers:`` and ``agreements:`` sections of a ``ServiceLevels`` file to the agreement model.

The pydantic models live in :mod:`sloengine.specs.spec` with the rest of the
format; support hours and exclusions are the escalation policy's blocks
(``weekdays: ["monday:friday"]``, ``times: ["08:00-18:00"]``; exclusions are
maintenance windows, weekly or once) and become the same model types. Here
tiers are resolved: an agreement that names a tier takes its objective,
credits and support hours unless it sets its own.

    tiers:
      gold: {objective: 99.9, credits: [{below: 99.9, credit: 10}, {below: 99.5, credit: 25}], escalate_to: L3}
    agreements:
      - name: acme-checkout
        kind: sla
        provider: shop-inc
        customer: acme
        tier: gold
        period: {calendar: month, timezone: Europe/Berlin}
        covers: [{slo: requests-availability, match: {customer: acme}}]
        support_hours: {timezone: Europe/Berlin, weekdays: ["monday:friday"], times: ["08:00-18:00"],
                        holidays: ["2026-12-25"]}
        exclusions:
          - {name: db-upgrade, timezone: Europe/Berlin, start: "2026-10-31 22:00", end: "2026-11-01 03:00"}
          - {name: patching, timezone: Europe/Berlin, weekdays: [sunday], times: ["02:00-04:00"]}
        depends_on: [payments-ola, psp-uc]
        notify: acme-account-team     # receiver of its breach-risk alerts
"""

from __future__ import annotations

from ..model.diagnostics import Position
from ..model.slo import Agreement, AgreementKind, CalendarUnit, Commitment, CreditStep, Tier, WeeklyHours, labels
from .spec import AgreementSpec, SupportHoursSpec, TierSpec, to_hours, to_maintenance


def support_hours(spec: SupportHoursSpec | None, default_timezone: str) -> WeeklyHours:
    """The agreement's support hours; none given: around the clock in the period's time zone."""
    return to_hours(spec) if spec is not None else WeeklyHours(default_timezone)


def problems(agreements: list[AgreementSpec],
             tiers: dict[str, TierSpec]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(path, message, fix) for what only the whole file can tell: unknown tiers, targets given nowhere."""
    out: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, a in enumerate(agreements):
        if a.tier is not None and a.tier not in tiers:
            known = ", ".join(sorted(tiers)) or "none defined"
            out.append((("agreements", i, "tier"), f"tier {a.tier!r} is not defined in this file",
                        f"define it under tiers: (defined: {known})"))
            continue
        fallback = a.objective if a.objective is not None else (tiers[a.tier].objective if a.tier else None)
        for j, cover in enumerate(a.covers):
            if cover.objective is None and fallback is None:
                out.append((("agreements", i, "covers", j), f"agreement {a.name!r} gives no target for {cover.slo!r}",
                            "set objective on the agreement, on its tier, or on this entry"))
    return out


def to_agreement(spec: AgreementSpec, service: str, tiers: dict[str, TierSpec],
                 source: Position | None = None) -> Agreement:
    """The model of one agreement (call :func:`problems` first: this assumes tiers and targets resolve)."""
    tier = tiers.get(spec.tier) if spec.tier else None
    default = spec.objective if spec.objective is not None else (tier.objective if tier else 0.0)
    commitments = tuple(
        Commitment(cover.service or service, cover.slo, cover.objective if cover.objective is not None else default,
                   labels(cover.match))
        for cover in spec.covers)
    credits = spec.credits if spec.credits is not None else (tier.credits if tier else [])
    hours = spec.support_hours or (tier.support_hours if tier else None)
    return Agreement(
        name=spec.name, kind=AgreementKind(spec.kind), provider=spec.provider, consumer=spec.customer,
        commitments=commitments, period=CalendarUnit(spec.period.calendar), timezone=spec.period.timezone,
        support_hours=support_hours(hours, spec.period.timezone),
        exclusions=tuple(to_maintenance(e) for e in spec.exclusions),
        credits=tuple(sorted((CreditStep(c.below, c.credit) for c in credits), key=lambda c: -c.below)),
        depends_on=tuple(spec.depends_on), tier=spec.tier or "", description=spec.description,
        review_every=CalendarUnit(spec.review_every) if spec.review_every else None,
        escalate_to=tier.escalate_to if tier else "", notify=spec.notify or "", source=source,
    )


def to_tier(name: str, spec: TierSpec) -> Tier:
    return Tier(name, spec.objective, tuple(CreditStep(c.below, c.credit) for c in spec.credits),
                support_hours(spec.support_hours, "UTC") if spec.support_hours else None, spec.escalate_to)
