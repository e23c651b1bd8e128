"""One syntax for recurring hours: escalation support hours and maintenance, agreement support hours and
exclusions take the same keys, refuse the same mistakes the same way, and become the same model types."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sloengine.agreements.hours import counted_intervals, seconds_in
from sloengine.model.slo import ClockRange, MaintenanceWindow, WeeklyHours
from sloengine.specs.loader import load

HEADER = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop, team: shop}
receivers:
  shop: {webhook_configs: [{url: "https://hooks.example.com/shop"}]}
slos:
  - name: checkout
    objective: 99.9
    sli: {ratio: {bad: 'http_requests_total{code="500"}', total: http_requests_total}}
"""


def in_escalation(hours: str = "", windows: str = "") -> str:
    text = HEADER + "    escalation:\n"
    if hours:
        text += f"      support_hours: {hours}\n"
    if windows:
        text += f"      maintenance: {windows}\n"
    return text


def in_agreement(hours: str = "", windows: str = "") -> str:
    text = HEADER + ("agreements:\n  - name: acme\n    kind: sla\n    provider: shop\n    objective: 99.5\n"
                     "    depends_on: []\n    covers: [{slo: checkout}]\n")
    if hours:
        text += f"    support_hours: {hours}\n"
    if windows:
        text += f"    exclusions: {windows}\n"
    return text


def load_text(tmp_path: Path, text: str, name: str = "shop.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path, load([path])


OFFICE = '{timezone: Europe/Berlin, weekdays: ["monday:friday", saturday], times: ["08:00-12:00", "13:00-18:00"]}'
WINDOWS = ('[{name: patching, timezone: Europe/Berlin, weekdays: [saturday], times: ["08:00-10:00"]}, '
           '{name: dc-move, timezone: Europe/Berlin, start: "2026-11-07 17:00", end: "2026-11-08 04:00"}]')


def test_the_same_hours_and_windows_become_the_same_model_in_escalation_and_agreements(tmp_path):
    _, policy_side = load_text(tmp_path, in_escalation(OFFICE, WINDOWS), "a.yaml")
    _, contract_side = load_text(tmp_path, in_agreement(OFFICE, WINDOWS), "b.yaml")
    assert policy_side.ok and contract_side.ok, [d.render() for d in policy_side.errors + contract_side.errors]
    policy = policy_side.catalog.slos[0].escalation
    (agreement,) = contract_side.catalog.agreements
    berlin = ZoneInfo("Europe/Berlin")
    expected_hours = WeeklyHours("Europe/Berlin", ("monday:friday", "saturday"),
                                 (ClockRange(8 * 60, 12 * 60), ClockRange(13 * 60, 18 * 60)))
    assert policy.support_hours == agreement.support_hours == expected_hours
    assert policy.maintenance == agreement.exclusions == (
        MaintenanceWindow("patching", hours=WeeklyHours("Europe/Berlin", ("saturday",), (ClockRange(480, 600),)),
                          timezone="Europe/Berlin"),
        MaintenanceWindow("dc-move", start=datetime(2026, 11, 7, 17, tzinfo=berlin),
                          end=datetime(2026, 11, 8, 4, tzinfo=berlin), timezone="Europe/Berlin"),
    )


def test_agreement_hours_count_exactly_what_they_say(tmp_path):
    _, loaded = load_text(tmp_path, in_agreement(OFFICE, WINDOWS))
    (agreement,) = loaded.catalog.agreements
    berlin = ZoneInfo("Europe/Berlin")
    week = counted_intervals(agreement.support_hours, agreement.exclusions,
                             datetime(2026, 11, 2, tzinfo=berlin).timestamp(),
                             datetime(2026, 11, 9, tzinfo=berlin).timestamp())
    # Monday to Friday 9 hours each; Saturday's 9 less the weekly 08:00-10:00 and the one-off from 17:00.
    assert seconds_in(week) == (5 * 9 + 9 - 2 - 1) * 3600


MISTAKES = [
    # (hours, windows, what the error says, its fix)
    ('{days: ["monday:friday"]}', "", "unknown key 'days'", 'weekdays: ["monday:friday"]'),
    ('{hours: ["08:00-18:00"]}', "", "unknown key 'hours'", 'times: ["08:00-18:00"]'),
    ("{weekdays: [monday-friday]}", "", "'monday-friday' is not a weekday", '"monday:friday"'),
    ("{weekdays: ['Monday – Friday']}", "", "is not a weekday", '"monday:friday"'),
    ("{weekdays: [funday]}", "", "'funday' is not a weekday", "did you mean 'sunday'?"),
    ("{weekdays: ['saturday:monday']}", "", "runs backwards", "saturday:sunday and monday"),
    ('{times: ["18:00-08:00"]}', "", "ends before it starts", "22:00-24:00 and 00:00-06:00"),
    ('{times: ["9-17"]}', "", "is not a time range", "HH:MM-HH:MM"),
    ("{timezone: Europe/Berlim}", "", "not an IANA time zone", "Europe/Berlin"),
    ("", '[{name: m, days: [sunday]}]', "unknown key 'days'", "weekdays:"),
    ("", '[{name: m, weekdays: [sunday], hours: ["02:00-04:00"]}]', "unknown key 'hours'", "times:"),
    ("", "[{name: m, weekdays: [sunday]}, {name: m, weekdays: [monday]}]", "'m' is listed twice",
     "its own name"),
    ("", "[{name: m, start: '2026-01-01 10:00'}]", "needs both start and end", "add the missing one"),
    ("", "[{name: m}]", "has no time", "weekdays and/or times"),
]


@pytest.mark.parametrize("hours, windows, message, fix", MISTAKES)
def test_a_mistake_in_hours_is_refused_alike_in_escalation_and_agreements(tmp_path, hours, windows, message, fix):
    found = []
    for build in (in_escalation, in_agreement):
        path, loaded = load_text(tmp_path, build(hours, windows), f"{build.__name__}.yaml")
        errors = [d for d in loaded.errors]
        assert len(errors) == 1, [d.render() for d in errors]
        (error,) = errors
        assert message in error.message and fix in error.hint, error.render()
        assert error.position.file == str(path) and error.position.line > 0
        found.append((error.message, error.hint))
    assert found[0] == found[1]


@pytest.mark.parametrize("build, field", [(in_escalation, "slos[0].escalation"), (in_agreement, "agreements[0]")])
def test_an_old_spelling_is_placed_at_its_key_with_the_key_to_write(tmp_path, build, field):
    text = build('{timezone: UTC, days: [monday-friday], hours: ["08:00-18:00"]}')
    path, loaded = load_text(tmp_path, text)
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if "support_hours:" in t)
    days, hours = lines[line - 1].index(" days:") + 2, lines[line - 1].index(" hours:") + 2
    assert [d.render() for d in loaded.errors] == [
        f"{path}:{line}:{days}: error: {field}.support_hours.days: unknown key 'days' "
        "(fix: days are listed under weekdays:, e.g. weekdays: [\"monday:friday\"])",
        f"{path}:{line}:{hours}: error: {field}.support_hours.hours: unknown key 'hours' "
        "(fix: times of day are listed under times:, e.g. times: [\"08:00-18:00\"])",
    ]


def test_holidays_are_taken_by_agreements_and_refused_by_escalation_with_where_they_belong(tmp_path):
    hours = '{timezone: Europe/Berlin, weekdays: ["monday:friday"], holidays: [2026-12-25, "2026-12-24"]}'
    _, contract = load_text(tmp_path, in_agreement(hours), "a.yaml")
    assert contract.ok
    assert [str(d) for d in contract.catalog.agreements[0].support_hours.holidays] == ["2026-12-24", "2026-12-25"]
    _, policy = load_text(tmp_path, in_escalation(hours), "b.yaml")
    (error,) = policy.errors
    assert error.field == "slos[0].escalation.support_hours.holidays"
    assert "holidays are not taken in an escalation policy's support hours" in error.message
    assert "agreement's support_hours" in error.hint
