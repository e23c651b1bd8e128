"""Agreements as data: spec sections into the model, tiers, credits, periods, consistency checks, rendering."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sloengine.agreements.sla import (
    AgreementResult,
    CommitmentResult,
    Compliance,
    Episode,
    PeriodError,
    period_bounds,
    period_day,
)
from sloengine.model.slo import AgreementKind, WeeklyHours
from sloengine.reports.sla_report import render_html, render_json, render_markdown
from sloengine.specs.agreement_spec import to_agreement
from sloengine.specs.loader import load
from sloengine.specs.spec import AgreementSpec
from sloengine.specs.validation import consistency

SLOS = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: checkout-api}
slos:
  - {name: availability, objective: 99.95, window: 28d, sli: {ratio: {bad: 'x_total{code="500"}', total: x_total}}}
  - {name: loose, objective: 99, window: 28d, sli: {ratio: {bad: 'y_total{code="500"}', total: y_total}}}
"""

AGREEMENTS = """\
tiers:
  gold: {objective: 99.9, credits: [{below: 99.9, credit: 10}, {below: 99.5, credit: 25}], escalate_to: L3}
agreements:
  - {name: acme, kind: sla, provider: shop, customer: acme, tier: gold,
     covers: [{slo: availability, match: {customer: acme}}], depends_on: [team-ola, psp-uc]}
  - {name: team-ola, kind: ola, provider: payments, customer: shop, objective: 99.95, covers: [{slo: availability}]}
  - {name: psp-uc, kind: uc, provider: psp-vendor, customer: shop, objective: 99.9, covers: [{slo: loose}]}
  - {name: empty-ola, kind: ola, provider: search, customer: shop, objective: 99}
  - {name: lonely, kind: sla, provider: shop, customer: globex, objective: 99.5, covers: [{slo: loose}]}
"""


@pytest.fixture
def loaded(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SLOS + AGREEMENTS)
    return load([spec])


@pytest.fixture
def world(loaded):
    return loaded.catalog, {a.name: a for a in loaded.catalog.agreements}


def test_agreements_load_from_the_same_file_as_the_slos_and_validate_reports_findings(loaded):
    assert [a.name for a in loaded.catalog.agreements] == ["acme", "empty-ola", "lonely", "psp-uc", "team-ola"]
    warnings = [d.render() for d in loaded.warnings]
    assert any("agreement lonely" in w and "is not backed by any OLA or UC" in w for w in warnings)
    assert all(":" in w.split(" ")[0] for w in warnings)  # file:line:col


def test_an_unknown_tier_is_an_error_at_its_key(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SLOS + "agreements:\n"
                           "  - {name: x, kind: sla, provider: p, tier: platinum, covers: [{slo: loose}]}\n")
    result = load([spec])
    (error,) = result.errors
    assert "tier 'platinum' is not defined" in error.render() and "s.yaml:" in error.render()


def test_a_tier_supplies_the_objective_and_credits(world):
    _, agreements = world
    acme = agreements["acme"]
    assert acme.kind is AgreementKind.SLA and acme.tier == "gold"
    assert acme.commitments[0].objective == 99.9 and acme.commitments[0].match == (("customer", "acme"),)
    assert acme.credit_for(99.95) == 0 and acme.credit_for(99.8) == 10 and acme.credit_for(99.0) == 25


def test_dependencies_in_series_that_cannot_support_the_sla_are_flagged(world):
    catalog, agreements = world
    findings = consistency(catalog, tuple(agreements.values()))
    messages = [f"{f.agreement}: {f.message}" for f in findings]
    assert any(m.startswith("acme: its dependencies in series allow at most 99.85%") for m in messages)


def test_an_sla_without_a_stricter_internal_objective_or_backing_and_an_empty_ola_are_flagged(world):
    catalog, agreements = world
    messages = [f"{f.agreement}: {f.message}" for f in consistency(catalog, tuple(agreements.values()))]
    assert "lonely: is not backed by any OLA or UC" in messages
    assert any(m.startswith("lonely: no internal objective is stricter than the SLA's 99.5%") for m in messages)
    assert "empty-ola: OLA covers nothing" in messages
    assert not any(m.startswith("acme: no internal objective") for m in messages)  # 99.95 > 99.9


def test_unknown_references_are_errors(world):
    catalog, agreements = world
    broken = AgreementSpec.model_validate({"name": "x", "kind": "sla", "provider": "p", "objective": 99,
                                           "covers": [{"slo": "nope"}], "depends_on": ["ghost"]})
    findings = consistency(catalog, (to_agreement(broken, "checkout-api", {}),))
    assert {f.error for f in findings if "nope" in f.message or "ghost" in f.message} == {True}


@pytest.mark.parametrize("data, words", [
    ({"name": "x", "kind": "sla", "provider": "p", "exclusions": [{"name": "m", "start": "2026-01-01T00:00:00"}]},
     "needs both start and end"),
    ({"name": "x", "kind": "sla", "provider": "p", "support_hours": {"weekdays": ["funday"]}}, "not a weekday"),
    ({"name": "x", "kind": "sla", "provider": "p", "support_hours": {"times": ["18:00-08:00"]}},
     "ends before it starts"),
    ({"name": "x", "kind": "contract", "provider": "p"}, "sla"),
])
def test_wrong_agreement_fields_say_what_to_write(data, words):
    with pytest.raises(ValidationError) as caught:
        AgreementSpec.model_validate(data)
    assert words in str(caught.value)


def test_weekday_ranges_and_an_empty_list_meaning_every_day():
    assert WeeklyHours(weekdays=("monday:friday",)).weekday_numbers == frozenset(range(5))
    assert WeeklyHours(weekdays=("monday", "wednesday")).weekday_numbers == frozenset({0, 2})
    assert WeeklyHours().weekday_numbers == frozenset(range(7))


def test_periods_parse_and_follow_the_agreements_time_zone(world):
    _, agreements = world
    assert period_day("2026-10") == date(2026, 10, 1)
    assert period_day("2026-Q4") == date(2026, 10, 1)
    assert period_day("2026-W43") == date(2026, 10, 19)
    with pytest.raises(PeriodError):
        period_day("October")
    acme = agreements["acme"]
    start, end = period_bounds(acme, date(2026, 10, 1))
    assert (start, end) == (datetime(2026, 10, 1, tzinfo=ZoneInfo("UTC")).timestamp(),
                            datetime(2026, 11, 1, tzinfo=ZoneInfo("UTC")).timestamp())


def test_reports_render_verdicts_credits_episodes_and_a_chart(world):
    _, agreements = world
    acme = agreements["acme"]
    start, end = period_bounds(acme, date(2026, 10, 1))
    commitment = CommitmentResult(
        acme.commitments[0], Compliance.BREACHED, attained=0.998, good_events=998, total_events=1000,
        counted_seconds=end - start, period_counted_seconds=end - start, downtime_minutes=89.3,
        allowance_minutes=44.6, budget_remaining=-1.0, burn_down=((start + 3600, 0.5), (end, -1.0)),
        ideal=((start + 3600, 0.99), (end, 0.0)), episodes=(Episode(start, start + 3600, 2, 2.0, 100.0),))
    result = AgreementResult(acme, start, end, end, (commitment,))
    assert result.credit_percent == 10
    markdown = render_markdown((result,), "2026-10")
    assert "| acme | SLA | acme | 99.9% | 99.800% | **breached** | 10% |" in markdown
    assert "peak burn 100.0×" in markdown
    page = render_html((result,), "2026-10")
    assert "<svg" in page and "polyline" in page
    assert '"compliance": "breached"' in render_json((result,), "2026-10")


def test_a_tier_that_escalates_to_l3_needs_an_l3_in_the_covered_slos_policy(world):
    catalog, agreements = world
    messages = [f"{f.agreement}: {f.message}" for f in consistency(catalog, tuple(agreements.values()))]
    assert ("acme: its tier 'gold' escalates to L3, but checkout-api/availability's escalation policy has no such "
            "level") in messages


def test_markdown_shows_hostile_names_and_errors_as_text_never_as_table_syntax(world):
    """A customer named with Markdown's syntax (a pipe, emphasis, HTML, a newline) and a server's error message
    holding a fake table row stay inside their cell, and read back as what they said."""
    import dataclasses

    from sloengine.model.results import Report, SLOResult, Status
    from sloengine.reports.report import render_markdown as report_markdown

    _, agreements = world
    acme = dataclasses.replace(agreements["acme"], consumer="ACME | *Inc* <b>x</b>\n| forged | row |")
    start, end = period_bounds(acme, date(2026, 10, 1))
    failed = CommitmentResult(acme.commitments[0], Compliance.ERROR, error="bad | answer\n| forged | row |")
    sla = render_markdown((AgreementResult(acme, start, end, end, (failed,)),), "2026-10")
    assert r"ACME \| \*Inc\* \<b\>x\</b\>\u000a\| forged \| row \|" in sla
    assert r"error: checkout-api/availability: bad \| answer\u000a\| forged \| row \|" in sla
    for line in sla.splitlines():
        assert "forged" not in line or line.count(" | ") <= 7, line  # never a row of its own

    slo = SLOResult(service="shop", slo="a", objective=99.9, window="30d", window_seconds=0.0, status=Status.ERROR,
                    error="x | y\n| forged |")
    text = report_markdown(Report(at=0.0, prometheus="http://127.0.0.1:9090", results=(slo,)))
    assert r"x \| y\u000a\| forged \|" in text and "\n| forged" not in text
