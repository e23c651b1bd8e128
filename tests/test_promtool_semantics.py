"""The one module that models Prometheus's evaluation, checked against the real promtool it models."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sloengine.compiler.promtool_semantics import (
    EVAL_SECONDS,
    PROMETHEUS_VERSION,
    SCRAPE_SECONDS,
    Flow,
    Phase,
    burn_above,
    counter_window,
    probe_window,
)

REPO = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

#: Steady traffic, a full outage, steady again: the shape the alert tests write.
FLOW = Flow((Phase(1, 600, 3), Phase(31, 600, 600), Phase(41, 600, 3)))
BASE = 10_000_000


def _values(role: str) -> str:
    value, out = BASE, [str(BASE)]
    for k in range(1, 61):
        phase = next(p for p in reversed(FLOW.phases) if p.start <= k)
        value += phase.bad if role == "bad" else phase.total
        out.append(str(value))
    return " ".join(out)


def _promtool_version() -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "--version"], capture_output=True, text=True)
    return done.stdout + done.stderr


@needs_promtool
def test_the_modelled_release_is_the_installed_one() -> None:
    assert f"version {PROMETHEUS_VERSION}." in _promtool_version()


@needs_promtool
@pytest.mark.parametrize("window", [300, 1800, 3600])
def test_increase_and_its_extrapolation_match_promtool(tmp_path: Path, window: int) -> None:
    """At instants on the scrape grid and half way, across the outage's edges, the modelled ``increase()`` of
    both counters equals what promtool computes (to float precision), and so does the burn decision."""
    instants = [t for t in range(EVAL_SECONDS, 60 * SCRAPE_SECONDS, 7 * EVAL_SECONDS) if t >= window // 2]
    cases = []
    for t in instants:
        reading = counter_window(FLOW, t, window, tiled=False)
        if reading is None:
            continue
        for metric, count in (("total", reading.total), ("bad", reading.bad)):
            cases.append({"expr": f"increase({metric}[{window}s])", "eval_time": f"{t}s",
                          "exp_samples": [{"labels": "{}", "value": count * reading.factor}]})
    document = {"rule_files": [], "evaluation_interval": f"{EVAL_SECONDS}s", "tests": [{
        "interval": f"{SCRAPE_SECONDS}s",
        "input_series": [{"series": "total", "values": _values("total")}, {"series": "bad", "values": _values("bad")}],
        "promql_expr_test": cases}]}
    path = tmp_path / "semantics.test.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(cases) >= 10


def test_a_burn_exactly_at_the_factor_does_not_fire_when_every_count_is_exact() -> None:
    """A 1x burn against a factor of 1 (the workbook's 3-day ticket on a 30-day SLO) is ``1.0 > 1``: false, as
    Prometheus computes it from exact tile sums; from extrapolated counts it is undecided, never guessed."""
    steady = Flow((Phase(1, 1000, 1),))
    exact = counter_window(steady, 3 * 3600, 3 * 3600, tiled=True)
    assert exact is not None and exact.exact
    assert burn_above(exact, 0.001, 1.0) is False
    half_way = counter_window(steady, 3 * 3600 + EVAL_SECONDS, 3600, tiled=False)
    assert half_way is not None and not half_way.exact
    assert burn_above(half_way, 0.001, 1.0) is None
    assert burn_above(half_way, 0.001, 0.9) is True


def test_probe_windows_count_each_sample_once() -> None:
    probe = Flow((Phase(0, 1, 0), Phase(10, 1, 1), Phase(13, 1, 0)))
    reading = probe_window(probe, 15 * SCRAPE_SECONDS, 10 * SCRAPE_SECONDS, tiled=False)
    assert reading is not None and (reading.total, reading.bad) == (10, 3)
    tiles = probe_window(probe, 5 * SCRAPE_SECONDS, 10 * SCRAPE_SECONDS, tiled=True)
    assert tiles is not None and tiles.total == 5, "tiles never count the sample at 0"


def test_no_code_reads_the_private_internals_of_re() -> None:
    private = re.compile(r"^\s*(from re import _|import re\._|from re\._)", re.M)
    offenders = [str(p.relative_to(REPO)) for p in sorted((REPO / "sloengine").rglob("*.py"))
                 if private.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
