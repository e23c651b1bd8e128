"""Durations read the way Prometheus writes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloengine.durations import DurationError, format_duration, parse_duration, parse_seconds_float


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("28d", 2419200), ("2w", 1209600),
                                               ("1y", 31536000), ("90s", 90)])
def test_prometheus_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "m5", "1h 30m", "-5m", "0s", "1.5s5"])
def test_malformed_durations_are_refused(text):
    with pytest.raises(DurationError):
        parse_duration(text)


def test_sub_second_thresholds_parse_as_floats_but_not_as_windows():
    assert parse_seconds_float("250ms") == pytest.approx(0.25)
    with pytest.raises(DurationError):
        parse_duration("250ms")


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_formatting_round_trips(seconds):
    assert parse_duration(format_duration(seconds)) == seconds
