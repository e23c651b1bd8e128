"""The demo's workload model and how the demo is started: schedule to the second, history that the live
counters continue, ``make demo DURATION=...``, and every printed command working as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sloengine.devstack import demo
from sloengine.devstack.workload import BUCKETS, SERIES, Schedule, bucket_key, cumulative, history, probe
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
HISTORY_END = 1_780_000_020 // 60 * 60
#: Not on a whole minute: the demo's schedule starts on the second its stack is up.
EPOCH = HISTORY_END + 97
SCHEDULE = Schedule(epoch=EPOCH, history_end=HISTORY_END)


def _events(key: str, begin: float, end: float) -> float:
    return cumulative(SCHEDULE, end)[key] - cumulative(SCHEDULE, begin)[key]


def test_outage_starts_and_ends_on_the_second_the_schedule_says():
    start, end = SCHEDULE.outage_seconds()
    assert (start, end) == (EPOCH + 120, EPOCH + 720)
    assert _events("checkout_err", start - 60, start) <= 1          # the usual trickle: one error in 5 minutes
    assert _events("checkout_ok", start - 1, start) >= 3
    assert _events("checkout_err", start, start + 1) >= 3            # from its first second, every request fails
    assert _events("checkout_ok", start, end) == 0
    assert _events("checkout_err", end, end + 60) <= 1
    assert _events("checkout_ok", end, end + 1) >= 3
    assert list(probe(SCHEDULE, np.array([start - 1.0, start, end - 1.0, end + 14.0]))) == [1.0, 0.0, 0.0, 1.0]


def test_latency_regression_is_on_schedule_too():
    start, end = SCHEDULE.slow_seconds()

    def slow_share(begin: float, stop: float) -> float:
        over = _events("lat_inf", begin, stop) - _events("lat_0.3", begin, stop)
        return over / _events("lat_inf", begin, stop)

    assert slow_share(start - 60, start) < 0.01 < 0.29 < slow_share(start, start + 60) < 0.31
    assert slow_share(end, end + 60) < 0.01


def test_history_ends_at_the_value_the_live_counters_continue_from():
    first, series = history(SCHEDULE, 2, instance="127.0.0.1:9200")
    assert first == HISTORY_END - 2 * 86400
    at_start, at_end = cumulative(SCHEDULE, first), cumulative(SCHEDULE, HISTORY_END)
    keys = {(metric, labels): key for metric, labels, key in SERIES}
    checked = 0
    for s in series:
        labels = dict(s.labels)
        if s.metric == "probe_success":
            assert labels["instance"] == "https://shop.example.com/"  # the probe's own, as the scrape keeps it
            continue
        assert labels.pop("instance") == "127.0.0.1:9200"
        if s.metric.endswith("_bucket"):
            le = labels.pop("le")
            key = "lat_inf" if le == "+Inf" else bucket_key(float(le))
        elif s.metric.endswith("_count"):
            key = "lat_inf"
        else:
            key = keys[(s.metric, tuple(sorted(labels.items())))]
        values = s.values()
        assert values[0] == at_start[key] and values[-1] == at_end[key], s
        checked += 1
    assert checked == len(SERIES) + len(BUCKETS) + 2


def test_counters_never_go_back_and_buckets_stay_ordered():
    instants = sorted({HISTORY_END - 3600 + 37 * i for i in range(200)} | set(SCHEDULE.outage_seconds())
                      | {EPOCH, EPOCH + 0.4, HISTORY_END + 0.999})
    previous = None
    for at in instants:
        values = cumulative(SCHEDULE, at)
        buckets = [values[bucket_key(le)] for le in BUCKETS] + [values["lat_inf"]]
        assert buckets == sorted(buckets)
        if previous is not None:
            assert all(values[k] >= previous[k] for k in values), at
        previous = values


def test_default_demo_escalates_a_page_to_l2_within_five_minutes():
    catalog = demo.demo_catalog(load([REPO / "examples"]).catalog)
    escalating = [s for s in catalog.slos if s.escalation is not None and s.escalation.escalations]
    assert escalating
    for slo in escalating:
        assert 0 < slo.escalation.escalations[0].after_seconds <= 300, slo.id
    original = {s.id: s.alerting for s in load([REPO / "examples"]).catalog.slos}
    assert all(s.alerting == original[s.id] for s in catalog.slos)  # the pages keep their `for`


def _make_dry_run(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}  # not the outer `make test`'s flags
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_make_demo_passes_duration_and_runs_until_ctrl_c_without_it():
    assert _make_dry_run("demo", "DURATION=300").endswith("-m sloengine.devstack.demo --duration 300")
    assert _make_dry_run("demo").endswith("-m sloengine.devstack.demo")


def _readme_demo_commands() -> list[str]:
    """The demo commands in the README's opening: its ``sh`` block's lines and the paragraph's inline code."""
    intro = (REPO / "README.md").read_text().split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", intro, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", intro, flags=re.S))
    return [m for m in lines + inline if "sloengine.devstack.demo" in m or m.startswith("make demo")]


def _printed_commands() -> list[str]:
    """Every demo command a user is shown: the README's, ``--help``'s usage line, the demo's own hints."""
    usage = subprocess.run([sys.executable, "-m", "sloengine.devstack.demo", "--help"], cwd=REPO, capture_output=True,
                           text=True).stdout
    found = _readme_demo_commands()
    found.append(re.match(r"Usage: (.*?) \[", usage).group(1) + " --help")
    hint = demo.stop_hint(demo.Settings(), 0)
    found += re.findall(r"(\S*python\S* -m sloengine\.devstack\.demo[^,;)]*|make demo[^,;)]*)", hint)
    return found


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "python").exists(), reason="needs `make venv` in the checkout")
def test_every_printed_demo_command_works_as_written_from_the_checkout():
    commands = _printed_commands()
    assert len(commands) >= 4, commands
    # A fresh Debian 12 clone: no `python` command, nothing installed but what `make` puts in .venv.
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": os.environ.get("HOME", "/")}
    for command in commands:
        words = shlex.split(command)
        if words[0] == "make":
            assert _make_dry_run(*words[1:]).startswith(".venv/bin/python -m sloengine.devstack.demo"), command
            continue
        assert "sloengine.devstack.demo" in words, command
        runnable = words[:words.index("sloengine.devstack.demo") + 1] + ["--help"]
        try:
            done = subprocess.run(runnable, cwd=REPO, env=env, capture_output=True, text=True)
        except FileNotFoundError:
            pytest.fail(f"{command!r}: {words[0]} does not exist on a fresh machine")
        assert done.returncode == 0 and "Usage:" in done.stdout, f"{command!r}: {done.stderr[-500:]}"
