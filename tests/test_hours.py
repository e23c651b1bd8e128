"""Support hours, holidays and exclusions expand to exact UTC intervals, daylight-saving changes included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from sloengine.agreements.hours import (
    counted_intervals,
    mask_in,
    seconds_in,
    subtract,
    sum_in,
    support_intervals,
)
from sloengine.model.slo import ClockRange, MaintenanceWindow, WeeklyHours

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = WeeklyHours("Europe/Berlin", ("monday:friday",), (ClockRange(8 * 60, 18 * 60),))


def _ts(*args) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


def test_weekday_office_hours_in_march_2026_are_22_days_of_10_hours():
    intervals = support_intervals(OFFICE, _ts(2026, 3, 1), _ts(2026, 4, 1))
    assert len(intervals) == 22 and seconds_in(intervals) == 22 * 10 * 3600


def test_a_holiday_removes_its_day():
    hours = WeeklyHours("Europe/Berlin", OFFICE.weekdays, OFFICE.times, (date(2026, 3, 6),))
    assert seconds_in(support_intervals(hours, _ts(2026, 3, 1), _ts(2026, 4, 1))) == 21 * 10 * 3600


def test_around_the_clock_on_the_day_clocks_go_forward_is_23_hours():
    hours = WeeklyHours("Europe/Berlin")
    assert seconds_in(support_intervals(hours, _ts(2026, 3, 29), _ts(2026, 3, 30))) == 23 * 3600
    every_day = WeeklyHours("Europe/Berlin", ("monday:sunday",), (ClockRange(0, 1440),), (date(2020, 1, 1),))
    assert seconds_in(support_intervals(every_day, _ts(2026, 10, 25), _ts(2026, 10, 26))) == 25 * 3600


def test_office_hours_follow_local_time_across_the_dst_switch():
    intervals = support_intervals(OFFICE, _ts(2026, 3, 27), _ts(2026, 4, 1))
    starts = [datetime.fromtimestamp(a, BERLIN).hour for a, _ in intervals]
    assert starts == [8, 8, 8]  # Friday, Monday, Tuesday: always 08:00 local
    utc_hours = [datetime.fromtimestamp(a, UTC).hour for a, _ in intervals]
    assert utc_hours == [7, 6, 6]  # before and after the switch to summer time


def test_a_maintenance_window_across_the_month_boundary_is_split_between_the_months():
    window = MaintenanceWindow("db-upgrade", start=datetime(2026, 3, 31, 22, tzinfo=BERLIN),
                               end=datetime(2026, 4, 1, 3, tzinfo=BERLIN))
    always = WeeklyHours("Europe/Berlin")
    march = counted_intervals(always, (window,), _ts(2026, 3, 1), _ts(2026, 4, 1))
    april = counted_intervals(always, (window,), _ts(2026, 4, 1), _ts(2026, 5, 1))
    assert seconds_in(march) == (31 * 24 - 1 - 2) * 3600  # 743h in March (DST) less 2h of maintenance
    assert seconds_in(april) == (30 * 24 - 3) * 3600


def test_weekly_maintenance_is_removed_in_its_own_time_zone():
    sunday_night = MaintenanceWindow("patching", hours=WeeklyHours("UTC", ("sunday",), (ClockRange(120, 240),)))
    counted = counted_intervals(WeeklyHours("UTC"), (sunday_night,), datetime(2026, 11, 1).timestamp(),
                                datetime(2026, 12, 1).timestamp())
    assert seconds_in(counted) == 30 * 86400 - 5 * 2 * 3600  # five Sundays in November 2026


def test_sums_count_each_event_in_exactly_one_half_open_interval():
    times = np.arange(0, 100, 10, dtype=float)
    increments = np.ones(len(times))
    assert sum_in(times, increments, [(0, 30), (30, 50)]) == 5  # 10, 20, 30 | 40, 50
    assert sum_in(times, increments, subtract([(0, 90)], [(20, 40)])) == 7
    assert mask_in(times, [(0, 30)]).tolist() == [False, True, True, True] + [False] * 6
