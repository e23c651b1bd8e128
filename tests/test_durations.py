"""Durations read the way Prometheus writes them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sloengine.model.durations import DurationError, format_duration, parse_duration, parse_seconds_float


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


@pytest.mark.parametrize("text", ["1.5h", "5m1h", "1h1h", "0.5d"])
def test_durations_promql_refuses_are_refused(text):
    with pytest.raises(DurationError, match="not a Prometheus duration"):
        parse_duration(text)


GRAMMAR_CASES = ["1.5h", "5m1h", "1h1h", "1h30m", "90s", "2w", "1y", "1d2h3m4s", "1s500ms", "1w1d", "1d1w", "7d",
                 "1m60s"]


@pytest.mark.integration
def test_durations_are_accepted_exactly_when_promtool_accepts_them(tmp_path):
    """The grammar is Prometheus's: each case, as a range in a rule and as its `for`, passes `promtool check rules`
    exactly when sloengine parses it."""
    import subprocess

    import yaml

    from sloengine.compiler.tools import find_binary

    promtool = find_binary("promtool")
    for text in GRAMMAR_CASES:
        rules = tmp_path / "rules.yml"
        rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
            {"alert": "A", "expr": f"rate(up[{text}]) > 0", "for": text}]}]}))
        checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
        try:
            parse_seconds_float(text)
            ours = True
        except DurationError:
            ours = False
        assert (checked.returncode == 0) == ours, f"{text}: promtool {checked.returncode}, sloengine {ours}\n" \
                                                  f"{checked.stdout}{checked.stderr}"
