"""``sloengine generate``: deterministic rule files that promtool accepts, committed for the examples."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sloengine import conventions as c
from sloengine.cli import main
from sloengine.generate import OutputFormat, render
from sloengine.loader import load

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
COMMITTED = REPO / "rules"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make test installs it)")


def test_committed_rules_and_tests_for_the_examples_are_fresh():
    files = render(load([EXAMPLES]).catalog, dashboards=False)  # dashboards/ at the top level has its own test
    committed = {p.relative_to(COMMITTED).as_posix(): p.read_text()
                 for p in sorted(COMMITTED.rglob("*.yml"))}
    assert committed == files, "run `make rules` to regenerate rules/ from examples/"


def test_output_is_deterministic():
    catalog = load([EXAMPLES]).catalog
    assert render(catalog) == render(catalog)


@needs_promtool
def test_promtool_check_rules_is_clean_on_every_generated_file():
    files = sorted((COMMITTED / c.RULES_DIR).glob("*.yml"))
    done = subprocess.run(["promtool", "check", "rules", *map(str, files)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr


@needs_promtool
def test_generated_alert_tests_pass_under_promtool():
    files = sorted((COMMITTED / c.TESTS_DIR).glob("*.yml"))
    assert files
    done = subprocess.run(["promtool", "test", "rules", *map(str, files)], capture_output=True, text=True,
                          cwd=COMMITTED / c.TESTS_DIR)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_every_series_carries_service_and_slo_labels():
    for path in sorted((COMMITTED / c.RULES_DIR).glob("*.yml")):
        if path.name.startswith("_"):
            continue
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                assert {"service", "slo"} <= set(rule.get("labels", {})), (path.name, rule)


def test_burn_alerts_are_one_rule_per_window_pair_with_stable_labels():
    rules = yaml.safe_load((COMMITTED / c.RULES_DIR / "checkout-api.rules.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"]
              if r.get("alert") == "CheckoutAPIAvailability"]
    pairs = {(a["labels"]["long_window"], a["labels"]["short_window"]) for a in alerts}
    assert pairs == {("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")}
    for alert in alerts:
        assert {"severity", "service", "slo", "burn_factor", "team"} <= set(alert["labels"])
    names = {r.get("alert") for g in rules["groups"] for r in g["rules"]}
    assert {c.ALERT_EXHAUSTED, c.ALERT_NO_DATA} <= names


def test_long_windows_read_tiles_not_raw_counters():
    rules = yaml.safe_load((COMMITTED / c.RULES_DIR / "checkout-api.rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            window = rule.get("labels", {}).get("window")
            if rule.get("record") == c.METRIC_TOTAL and window in ("1d", "3d", "28d"):
                assert c.METRIC_TILE_TOTAL in rule["expr"] and "http_requests_total" not in rule["expr"]
                assert group["interval"] == "5m"


def test_generate_writes_operator_objects_when_asked(tmp_path):
    outcome = CliRunner().invoke(main, ["generate", str(EXAMPLES), "--out", str(tmp_path),
                                        "--format", OutputFormat.PROMETHEUS_OPERATOR.value])
    assert outcome.exit_code == 0, outcome.output
    objects = sorted((tmp_path / c.OPERATOR_DIR).glob("*.yml"))
    assert objects
    document = yaml.safe_load(objects[1].read_text())
    assert document["kind"] == "PrometheusRule" and document["spec"]["groups"]
    assert (tmp_path / c.RULES_DIR / "checkout-api.rules.yml").exists()


def test_generate_writes_nothing_when_a_spec_is_wrong(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: a}\nslos: [{name: x}]\n")
    out = tmp_path / "out"
    outcome = CliRunner().invoke(main, ["generate", str(bad), "--out", str(out)])
    assert outcome.exit_code == 1
    assert not out.exists()


def test_generate_removes_rules_of_a_service_that_is_gone(tmp_path):
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["generate", str(EXAMPLES), "--out", str(out)]).exit_code == 0
    keep = tmp_path / "keep"
    keep.mkdir()
    shutil.copy(EXAMPLES / "homepage-probe.yaml", keep)
    (out / c.RULES_DIR / "hand-written.yml").write_text("groups: []\n")
    (out / c.DASHBOARDS_DIR / "hand-made.json").write_text('{"title": "mine", "tags": ["ops"]}')
    assert CliRunner().invoke(main, ["generate", str(keep), "--out", str(out)]).exit_code == 0
    assert sorted(p.name for p in (out / c.RULES_DIR).iterdir()) == ["hand-written.yml", "homepage.rules.yml"]
    assert sorted(p.name for p in (out / c.DASHBOARDS_DIR).glob("*.json")) == [
        "hand-made.json", "sloengine-homepage.json", "sloengine-overview.json"]


@pytest.mark.parametrize("calendar", ["week", "month", "quarter"])
def test_every_subquery_stays_under_promtools_sample_limit(tmp_path, calendar):
    """promtool test rules lets a query load 10,000 samples; a subquery loads one per step at least."""
    import re

    from sloengine.durations import parse_duration

    spec = tmp_path / "cal.yaml"
    spec.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: cal}\nslos:\n"
                    f"  - name: c\n    objective: 99.9\n    window: {{calendar: {calendar}, timezone: Asia/Kolkata}}\n"
                    "    sli: {ratio: {bad: 'x_total{code=\"500\"}', total: x_total}}\n")
    files = render(load([spec]).catalog)
    steps = [parse_duration(r) // parse_duration(s)
             for text in files.values() for r, s in re.findall(r"\[([0-9a-z]+):([0-9a-z]+)\]", text)]
    assert steps and max(steps) < 10_000
