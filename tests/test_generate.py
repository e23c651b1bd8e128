"""``sloengine generate``: deterministic rule files that promtool accepts, committed for the examples."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.compiler.generate import OutputFormat, render
from sloengine.model import conventions as c
from sloengine.specs.loader import load

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


# That the committed alert tests pass `promtool test rules` is proven by
# tests/test_alerttests.py::test_generated_tests_for_every_example_pass_promtool, which runs the files `generate`
# writes for the examples (the committed ones, as the first test above checks): running them twice costs a minute.


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


def test_generating_again_keeps_the_unchanged_files_and_says_how_many(tmp_path):
    """A second run over the same specs keeps every file as it was (same inode); after one objective changed,
    only that service's files are new."""
    specs, out = tmp_path / "specs", tmp_path / "out"
    shutil.copytree(EXAMPLES, specs)

    def generate() -> tuple[str, dict[str, int]]:
        done = CliRunner().invoke(main, ["generate", str(specs), "--out", str(out)])
        assert done.exit_code == 0, done.output
        return done.output, {p.relative_to(out).as_posix(): p.stat().st_ino for p in out.rglob("*") if p.is_file()}

    said, first = generate()
    assert "unchanged" not in said
    said, again = generate()
    assert again == first and f"wrote {len(first)} files" in said
    assert f"({len(first)} unchanged, kept as they were)" in said
    probe = specs / "homepage-probe.yaml"
    probe.write_text(probe.read_text().replace("objective: 99.5", "objective: 99.4"))
    said, edited = generate()
    changed = sorted(name for name in edited if edited[name] != first.get(name))
    assert changed and all("homepage" in name for name in changed), changed
    assert f"({len(edited) - len(changed)} unchanged, kept as they were)" in said


@pytest.mark.parametrize("calendar", ["week", "month", "quarter"])
def test_every_subquery_stays_under_promtools_sample_limit(tmp_path, calendar):
    """promtool test rules lets a query load 10,000 samples; a subquery loads one per step at least."""
    import re

    from sloengine.model.durations import parse_duration

    spec = tmp_path / "cal.yaml"
    spec.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: cal}\nslos:\n"
                    f"  - name: c\n    objective: 99.9\n    window: {{calendar: {calendar}, timezone: Asia/Kolkata}}\n"
                    "    sli: {ratio: {bad: 'x_total{code=\"500\"}', total: x_total}}\n")
    files = render(load([spec]).catalog)

    def seconds(text: str) -> float:
        whole, millis = (text[:-5], 1) if text.endswith("999ms") else (text, 0)
        return parse_duration(whole) + millis * 0.999
    steps = [seconds(r) // seconds(s)
             for text in files.values() for r, s in re.findall(r"\[([0-9a-z]+):([0-9a-z]+)\]", text)]
    assert steps and max(steps) < 10_000


def _groups(path: Path) -> dict[str, dict]:
    return {g["name"].rsplit(":", 1)[1] + ":" + g["name"].split(":")[2]: g
            for g in yaml.safe_load(path.read_text())["groups"]}


def test_bad_events_fall_back_to_zero_once_for_all_raw_windows():
    groups = _groups(COMMITTED / c.RULES_DIR / "checkout-api.rules.yml")
    for name in ("fast:requests-availability", "fast:requests-latency"):
        (bad,) = [r for r in groups[name]["rules"] if r.get("record") == c.METRIC_BAD]
        # a latency SLI's missing bucket is no data, never zero good requests (so 100% errors)
        assert bad["expr"].count("or 0 *") == (1 if name.endswith("availability") else 0), bad["expr"]
        # each window's total is read once, by one selector for all windows
        assert bad["expr"].count(c.METRIC_TOTAL) == 1


def test_raw_windows_only_tickets_read_are_counted_in_the_slow_group():
    groups = _groups(COMMITTED / c.RULES_DIR / "checkout-api.rules.yml")
    fast, slow = groups["fast:requests-availability"], groups["slow:requests-availability"]
    fast_exprs = " ".join(r["expr"] for r in fast["rules"] if "record" in r)
    assert "[2h]" not in fast_exprs and all(f"[{w}]" in fast_exprs for w in ("5m", "30m", "1h", "6h"))
    (total,) = [r for r in slow["rules"] if r.get("record") == c.METRIC_TOTAL]
    # the 2h window keeps its labels: window_source="raw", set per part (the rule itself sets no window_source)
    assert "[2h]" in total["expr"] and '"window_source", "raw"' in total["expr"]
    assert '"window_source", "tiles"' in total["expr"] and "window_source" not in total["labels"]
    # ... and is recorded before the ticket that reads it, in the same group
    order = [r.get("record") or r.get("alert") for r in slow["rules"]]
    assert order.index(c.METRIC_BURN_RATE) < order.index("CheckoutAPIAvailability")


QUIET_SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: quiet}
slos:
  - name: availability
    objective: 99.9
    sli:
      ratio:
        bad: http_requests_total{job="quiet",code=~"5.."}
        total: http_requests_total{job="quiet"}
    alerting:
      page: {enabled: %s}
"""


@pytest.mark.parametrize("pages", [True, False])
def test_raw_windows_stay_in_the_fast_group_when_nothing_pages(tmp_path, pages):
    from sloengine.compiler.rules import compile_slo, fast_raw_windows

    spec = tmp_path / "quiet.yaml"
    spec.write_text(QUIET_SPEC % ("true" if pages else "false"))
    result = load([spec])
    assert not result.errors, [d.render() for d in result.errors]
    slo = result.catalog.slos[0]
    fast, slow = compile_slo(slo, result.catalog.service(slo.service))
    fast_exprs = " ".join(r.expr for r in fast.rules)
    slow_exprs = " ".join(r.expr for r in slow.rules)
    if pages:
        assert fast_raw_windows(slo) == (300, 1800, 3600, 21600)
        assert "[2h]" not in fast_exprs and "[2h]" in slow_exprs
    else:
        # page disabled drops the page conditions: the tickets' raw windows stay where they were
        assert fast_raw_windows(slo) == (7200, 21600)
        assert "[2h]" in fast_exprs and "[2h]" not in slow_exprs
