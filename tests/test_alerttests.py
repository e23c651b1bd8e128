"""Generated promtool tests: they pass against the compiled rules, fail against broken ones, and say why."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.compiler.alerttests import (
    EVAL_SECONDS,
    OUTAGE,
    QUIET,
    RECOVERY,
    SCRAPE_SECONDS,
    SUSTAINABLE,
    AlertTestPlan,
    Check,
    Firing,
    Scenario,
    Series,
    alert_tests,
    detection_seconds,
    forget_shared,
    plan,
    plans,
    promtool_case,
    promtool_document,
    promtool_text,
    render_tests,
    skipped,
)
from sloengine.compiler.generate import render
from sloengine.compiler.labelvalues import label_value, regex_samples, selector_matches, shortest_match, solve_labels
from sloengine.compiler.rulefiles import dump, render_rule_file
from sloengine.compiler.rules import compile_catalog
from sloengine.model import conventions as c
from sloengine.model.durations import parse_duration
from sloengine.model.promql import Matcher, MatchOp, le_spellings, parse_selector
from sloengine.model.slo import SLO, Catalog, RawSLI, Service
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")


# ---- helpers -----------------------------------------------------------------------------------


def _catalog(*paths: Path) -> Catalog:
    result = load([str(p) for p in paths])
    assert result.ok, result.errors
    return result.catalog


def _rules(catalog: Catalog) -> dict[str, str]:
    return {path: render_rule_file(groups) for path, groups in compile_catalog(catalog).items()}


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _promtool(*paths: Path) -> dict[Path, subprocess.CompletedProcess[str]]:
    """``promtool test rules`` on each file, several at once (each run is single-threaded)."""
    assert PROMTOOL is not None

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True, timeout=900)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return dict(zip(paths, pool.map(run, paths)))


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _failed_checks(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """(test name, eval time) of every failing alert check promtool reports."""
    return re.findall(r"name: (.*?),\s*\n\s*alertname: \S+, time: (\S+?),", _output(result))


def _spec(tmp_path: Path, service: str | dict[str, Any], *slos: dict[str, Any]) -> Path:
    """A native spec file holding ``slos`` of one service."""
    service = {"name": service} if isinstance(service, str) else service
    document = {"apiVersion": c.API_VERSION, "kind": c.KIND_SERVICE_LEVELS, "service": service, "slos": list(slos)}
    path = tmp_path / "specs" / f"{service['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _generate(root: Path, catalog: Catalog) -> tuple[dict[str, str], dict[str, str]]:
    rules = _rules(catalog)
    tests = render_tests(catalog, rules)
    _write(root, {**rules, **tests})
    return rules, tests


def _slo(catalog: Catalog, slo_id: str) -> SLO:
    return next(s for s in catalog.slos if s.id == slo_id)


def _service(catalog: Catalog, slo: SLO) -> Service:
    return catalog.service(slo.service) or Service(slo.service)


def _only(document: dict[str, Any], title_part: str) -> dict[str, Any]:
    return {**document, "tests": [t for t in document["tests"] if title_part in t["name"]]}


#: Page windows of at least two scrapes, so the custom SLOs below can page under promtool.
CONDITIONS = [
    {"severity": "page", "long": "15m", "short": "2m", "factor": 14.4, "for": "1m"},
    {"severity": "page", "long": "1h", "short": "5m", "factor": 6, "for": "2m"},
    {"severity": "ticket", "long": "12h", "short": "1h", "factor": 1, "for": "30m"},
]


def _ratio(name: str, objective: float, bad: str, total: str, **alerting: Any) -> dict[str, Any]:
    return {"name": name, "objective": objective, "window": "7d", "sli": {"ratio": {"bad": bad, "total": total}},
            "alerting": {"conditions": CONDITIONS, **alerting}}


# ---- the examples ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def examples() -> Catalog:
    return _catalog(EXAMPLES)


@pytest.fixture(scope="session")
def example_plans(examples: Catalog) -> dict[str, AlertTestPlan]:
    return plans(examples)


@pytest.fixture(scope="session")
def example_run(examples: Catalog,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """``promtool test rules`` on every test file ``sloengine generate`` writes for the examples.

    The only run of the examples' tests in the suite: ``rules/`` holds the same files (tests/test_generate.py
    checks it is fresh), so this also proves the committed tests pass.
    """
    if PROMTOOL is None:
        pytest.skip("promtool is not installed")
    root = tmp_path_factory.mktemp("examples")
    files = render(examples, dashboards=False)
    _write(root, files)
    tests = sorted(path for path in files if path.startswith(f"{c.TESTS_DIR}/"))
    results = _promtool(*(root / path for path in tests))
    return {str(path.relative_to(root)): result for path, result in results.items()}


def _example_services() -> list[str]:
    return sorted({s.service for s in _catalog(EXAMPLES).slos})


@needs_promtool
@pytest.mark.parametrize("service", _example_services())
def test_generated_tests_for_every_example_pass_promtool(example_run: dict[str, subprocess.CompletedProcess[str]],
                                                        service: str) -> None:
    result = example_run[c.tests_file(service)]
    assert result.returncode == 0, _output(result)
    assert "SUCCESS" in _output(result)


def test_each_example_slo_with_alerting_gets_outage_sustainable_and_recovery_scenarios(
        examples: Catalog, example_plans: dict[str, AlertTestPlan]) -> None:
    for slo in examples.slos:
        if not slo.alerting.enabled or isinstance(slo.sli, RawSLI):
            continue
        proves = [s.proves for s in example_plans[slo.id].scenarios]
        assert proves[0] == (SUSTAINABLE, OUTAGE, RECOVERY), (slo.id, proves, example_plans[slo.id].skipped)
        assert (example_plans[slo.id].proving(QUIET) is not None) == bool(slo.alerting.min_events)
        assert example_plans[slo.id].skipped == ()


def test_full_outage_pages_within_detection_time(example_plans: dict[str, AlertTestPlan]) -> None:
    for slo_id, p in example_plans.items():
        outage = p.proving(OUTAGE)
        assert outage is not None and outage.start is not None and outage.timings
        for timing in outage.timings:
            assert timing.fired is not None, slo_id
            assert timing.fired <= timing.checked <= timing.bound < timing.checked + EVAL_SECONDS, (slo_id, timing)
            assert any(check.at == outage.start + timing.checked for check in outage.checks)


def test_the_page_bound_is_the_workbook_detection_time_plus_for_evaluation_and_scrape(
        examples: Catalog, example_plans: dict[str, AlertTestPlan]) -> None:
    checkout = _slo(examples, "checkout-api/requests-availability")
    first = checkout.alerting.conditions[0]
    assert detection_seconds(checkout, first) == pytest.approx(14.4 * 0.001 * 3600)
    timing = example_plans[checkout.id].proving(OUTAGE).timings[0]
    assert timing.bound == pytest.approx(51.84 + 120 + EVAL_SECONDS + SCRAPE_SECONDS)
    assert (timing.fired, timing.checked) == (180, 240)

    probe = _slo(examples, "homepage/probe-availability")
    fast = probe.alerting.conditions[0]
    # 14.4 × 0.5% × 16 samples = 1.15: the 2nd failed sample
    assert detection_seconds(probe, fast) == 2 * SCRAPE_SECONDS
    timing = example_plans[probe.id].proving(OUTAGE).timings[0]
    assert timing.bound == 2 * SCRAPE_SECONDS + fast.for_seconds + EVAL_SECONDS


def test_outage_checks_say_nothing_fires_before_the_outage(example_plans: dict[str, AlertTestPlan]) -> None:
    for p in example_plans.values():
        outage = p.proving(OUTAGE)
        assert outage is not None and outage.start is not None
        before = [check for check in outage.checks if check.at < outage.start]
        assert before and all(check.alerts == () for check in before)


def test_sustainable_burn_never_pages(example_plans: dict[str, AlertTestPlan]) -> None:
    for p in example_plans.values():
        scenario = p.proving(SUSTAINABLE)
        assert scenario is not None and scenario.start is not None
        steady = [check for check in scenario.checks if check.at < scenario.start]
        assert len(steady) >= 3 and max(check.at for check in steady) >= max(
            cond.long_seconds for cond in p.slo.alerting.conditions if cond.severity.value == "page")
        assert all(a.condition.severity.value != "page" for check in steady for a in check.alerts)


def test_recovery_clears_the_page_within_its_short_window(example_plans: dict[str, AlertTestPlan]) -> None:
    for slo_id, p in example_plans.items():
        recovery = p.proving(RECOVERY)
        assert recovery is not None and recovery.recovered is not None and recovery.cleared is not None
        first = recovery.cleared
        after = [check for check in recovery.checks if check.at > recovery.recovered]
        paged = max((check for check in recovery.checks if check.at <= recovery.recovered), key=lambda ch: ch.at)
        cleared = after[0]
        assert any(a.condition == first for a in paged.alerts), slo_id
        assert not any(a.slo == slo_id and a.condition == first for a in cleared.alerts)
        assert cleared.at - recovery.recovered <= first.short_seconds + EVAL_SECONDS + SCRAPE_SECONDS


def test_quiet_service_below_min_events_does_not_page(examples: Catalog,
                                                      example_plans: dict[str, AlertTestPlan]) -> None:
    slo = _slo(examples, "checkout-api/requests-availability")
    quiet = example_plans[slo.id].proving(QUIET)
    events = [(v[-1] or 0) - (v[0] or 0) for v in (_expand(s.values_text()) for s in quiet.series)]
    assert 0 < sum(events) < slo.alerting.min_events
    assert all(a.condition.severity.value != "page" for check in quiet.checks for a in check.alerts)
    assert "would page at" in quiet.title


def test_expected_alerts_carry_the_compiled_labels_and_annotations(examples: Catalog) -> None:
    slo = _slo(examples, "checkout-api/requests-availability")
    document = alert_tests(slo, _service(examples, slo), "../rules/checkout-api.rules.yml")
    assert document is not None
    outage = document["tests"][0]
    page = next(check for check in outage["alert_rule_test"] if check["exp_alerts"])
    assert page["alertname"] == "CheckoutAPIAvailability"
    alert = page["exp_alerts"][0]
    assert alert["exp_labels"] == {
        "burn_factor": "14.4", "escalation_level": "L1", "long_window": "1h", "route": "pagerduty",
        "service": "checkout-api", "severity": "page", "short_window": "5m", "slo": "requests-availability",
        "sloengine_severity": "page",
        "team": "payments", "tier": "1",
    }
    assert alert["exp_annotations"]["summary"] == (
        "Checkout API is failing requests faster than its error budget allows.")
    assert alert["exp_annotations"]["runbook_url"] == "https://runbooks.example.com/checkout-api"


def test_grouped_sli_pages_only_the_broken_group_with_its_label(examples: Catalog) -> None:
    slo = _slo(examples, "search/route-availability")
    document = alert_tests(slo, _service(examples, slo), "../rules/search.rules.yml")
    assert document is not None
    outage = document["tests"][0]
    routes = {re.search(r'route="(\w+)"', s["series"]).group(1) for s in outage["input_series"]}  # type: ignore[union-attr]
    assert routes == {"a", "b"}
    fired = [a for check in outage["alert_rule_test"] for a in check["exp_alerts"]]
    assert fired and all(a["exp_labels"]["route"] == "a" for a in fired)


def test_render_tests_names_rules_relative_to_the_test_file(examples: Catalog) -> None:
    rules = _rules(examples)
    tests = render_tests(examples, rules)
    assert sorted(tests) == [c.tests_file(s) for s in _example_services()]
    payments = yaml.safe_load(tests[c.tests_file("payments-gateway")])
    assert payments["rule_files"] == ["../rules/payments-gateway.rules.yml", "../rules/_calendars.rules.yml"]
    assert payments["group_eval_order"][0] == c.CALENDAR_GROUP
    search = yaml.safe_load(tests[c.tests_file("search")])
    assert search["rule_files"] == ["../rules/search.rules.yml"]
    assert search["evaluation_interval"] == "30s"
    assert all(case["interval"] == "1m" for case in search["tests"])
    assert search["group_eval_order"] == ["sloengine:search:route-availability:fast",
                                          "sloengine:search:route-availability:slow"]


def test_render_tests_is_deterministic(examples: Catalog) -> None:
    rules = _rules(examples)
    assert render_tests(examples, rules) == render_tests(_catalog(EXAMPLES), _rules(_catalog(EXAMPLES)))


# ---- tests that must fail ----------------------------------------------------------------------


def _raise_page_threshold(text: str, factor: str) -> str:
    broken = text.replace(f"> {factor})", f"> {float(factor) * 10:g})")
    assert broken != text
    return broken


@needs_promtool
def test_outage_test_fails_when_the_page_threshold_is_ten_times_higher(examples: Catalog, tmp_path: Path) -> None:
    slo = _slo(examples, "checkout-api/requests-availability")
    rules = _rules(examples)
    document = alert_tests(slo, _service(examples, slo), "../rules/checkout-api.rules.yml")
    assert document is not None
    outage = _only(document, "pages within")
    rules_path = c.rules_file("checkout-api")
    _write(tmp_path, {rules_path: rules[rules_path], "tests/outage.test.yml": yaml.safe_dump(outage, sort_keys=False)})
    assert _promtool(tmp_path / "tests/outage.test.yml")[tmp_path / "tests/outage.test.yml"].returncode == 0

    (tmp_path / rules_path).write_text(_raise_page_threshold(rules[rules_path], "14.4"), encoding="utf-8")
    result = _promtool(tmp_path / "tests/outage.test.yml")[tmp_path / "tests/outage.test.yml"]
    assert result.returncode != 0
    assert 'long_window="1h"' in _output(result) and "CheckoutAPIAvailability" in _output(result)
    failed = _failed_checks(result)
    assert {name for name, _ in failed} == {outage["tests"][0]["name"]}
    lifecycle = plan(slo, _service(examples, slo)).proving(OUTAGE)
    assert lifecycle is not None and lifecycle.start is not None
    page_at = lifecycle.start + lifecycle.timings[0].checked
    assert page_at in {parse_duration(at) for _, at in failed}


def _read_window_from_tiles(text: str, label: str) -> str:
    """Make each page read one of its windows as a sum of 5-minute tiles, as a careless rule would."""
    document = yaml.safe_load(text)
    budget = next(r["expr"].rsplit("/", 1)[1].strip() for g in document["groups"] for r in g["rules"]
                  if r.get("record") == c.METRIC_BURN_RATE)
    for group in document["groups"]:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if "alert" not in rule or labels.get("severity") != "page":
                continue
            ours = f'service="{labels["service"]}",slo="{labels["slo"]}"'
            window = labels[label]
            burn = f'{c.METRIC_BURN_RATE}{{{ours},window="{window}"}}'
            tiled = (f"(sum_over_time({c.METRIC_TILE_BAD}{{{ours}}}[{window}:5m]) / "
                     f"sum_over_time({c.METRIC_TILE_TOTAL}{{{ours}}}[{window}:5m]) / {budget})")
            assert burn in rule["expr"]
            rule["expr"] = rule["expr"].replace(burn, tiled)
    return yaml.safe_dump(document, sort_keys=False, width=100000)


@needs_promtool
@pytest.mark.parametrize("label, phase", [("long_window", OUTAGE), ("short_window", RECOVERY)])
def test_tests_fail_when_a_page_window_lags_a_tile_behind(tmp_path: Path, label: str, phase: str) -> None:
    """A long window read from tiles pages late (a check during the outage fails); a short one clears late
    (a check after the recovery fails)."""
    catalog = _catalog(_spec(tmp_path, "api", _ratio("availability", 99.9, 'api_requests_total{code=~"5.."}',
                                                     "api_requests_total")))
    lifecycle = plans(catalog)["api/availability"].proving(RECOVERY)
    assert lifecycle is not None and lifecycle.start is not None and lifecycle.recovered is not None
    during = range(lifecycle.start, lifecycle.recovered) if phase == OUTAGE else range(lifecycle.recovered, 10**9)
    root = tmp_path / "out"
    rules, _ = _generate(root, catalog)
    test_file = root / c.tests_file("api")
    assert _promtool(test_file)[test_file].returncode == 0
    rules_path = c.rules_file("api")
    (root / rules_path).write_text(_read_window_from_tiles(rules[rules_path], label), encoding="utf-8")
    failed = _failed_checks(_promtool(test_file)[test_file])
    assert failed and any(parse_duration(at) in during for _, at in failed), failed


# ---- other SLIs --------------------------------------------------------------------------------


@needs_promtool
@pytest.mark.parametrize("spelling", le_spellings(1.0))
def test_latency_slo_pages_whichever_le_spelling_the_histogram_uses(tmp_path: Path, spelling: str) -> None:
    assert le_spellings(1.0) == ("1", "1.0")
    catalog = _catalog(_spec(tmp_path, "timing", {
        "name": "under-one-second", "objective": 99, "window": "7d",
        "sli": {"latency": {"histogram": 'rpc_duration_seconds{service="billing"}', "threshold": 1}},
        "alerting": {"conditions": CONDITIONS}}))
    slo = catalog.slos[0]
    rules = _rules(catalog)
    document = alert_tests(slo, _service(catalog, slo), "../rules/timing.rules.yml", le_spelling=spelling)
    assert document is not None
    buckets = {s["series"] for case in document["tests"] for s in case["input_series"] if "_bucket" in s["series"]}
    assert buckets == {f'rpc_duration_seconds_bucket{{le="{spelling}",service="billing"}}'}
    _write(tmp_path, {c.rules_file("timing"): rules[c.rules_file("timing")],
                      "tests/timing.test.yml": yaml.safe_dump(document, sort_keys=False)})
    result = _promtool(tmp_path / "tests/timing.test.yml")[tmp_path / "tests/timing.test.yml"]
    assert result.returncode == 0, _output(result)


def test_a_bucket_boundary_the_rules_do_not_match_is_refused(tmp_path: Path) -> None:
    catalog = _catalog(_spec(tmp_path, "timing", {
        "name": "under-one-second", "objective": 99,
        "sli": {"latency": {"histogram": "rpc_duration_seconds", "threshold": 1}}}))
    slo = catalog.slos[0]
    result = plan(slo, _service(catalog, slo), le_spelling="1.00")
    assert result.scenarios == () and "le='1.00'" in result.skipped[0]


@pytest.fixture(scope="session")
def custom(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, Path, dict[str, str]]:
    """Regex and negative matchers, two grouping labels, good-over-total on two metrics, SLOs that share an
    alert name and a counter, a grouped probe with min_events, a ticket without ``for``, and a raw SLI."""
    root = tmp_path_factory.mktemp("custom")
    specs = root / "specs"
    _spec(root, {"name": "edge", "team": "network"}, {
        "name": "per-region", "description": "Edge requests per region and tier.", "objective": 99.5, "window": "7d",
        "sli": {"ratio": {"bad": 'edge_requests_total{job=~"edge|cdn",status=~"5[0-9]{2}|429",region!="test"}',
                          "total": 'edge_requests_total{job=~"edge|cdn",region!="test"}',
                          "group_by": ["region", "tier"]}},
        "alerting": {"min_events": 20, "conditions": [
            {"severity": "page", "long": "15m", "short": "2m", "factor": 14.4, "for": "1m"},
            {"severity": "ticket", "long": "12h", "short": "1h", "factor": 2}]},
    }, {
        "name": "jobs", "objective": 99.9, "window": "7d",
        "sli": {"ratio": {"good": 'jobs_succeeded_total{queue="default"}',
                          "total": 'jobs_started_total{queue="default"}'}},
        "alerting": {"conditions": CONDITIONS},
    })
    _spec(root, "shared",
          _ratio("server-errors", 99, 'api_requests_total{code=~"5.."}', "api_requests_total"),
          _ratio("all-errors", 98, 'api_requests_total{code=~"[45].."}', "api_requests_total"),
          {"name": "raw-ratio", "objective": 99, "window": "7d",
           "sli": {"raw": {"error_ratio": "sum(rate(other_errors_total[$window])) / sum(rate(other_total[$window]))"}}})
    _spec(root, "pinger", {
        "name": "ping", "objective": 99, "window": "7d",
        "sli": {"probe": {"metric": 'probe_success{job="ping",region=~"eu-.*"}', "group_by": ["region"]}},
        "alerting": {"min_events": 5, "annotations": {"runbook_url": "https://example.com/ping"}},
    })
    catalog = _catalog(specs)
    _, tests = _generate(root / "out", catalog)
    return catalog, root / "out", tests


@needs_promtool
def test_generated_tests_for_unusual_slis_pass_promtool(custom: tuple[Catalog, Path, dict[str, str]]) -> None:
    _, root, tests = custom
    assert sorted(tests) == [c.tests_file(s) for s in ("edge", "pinger", "shared")]
    for path, result in _promtool(*(root / p for p in sorted(tests))).items():
        assert result.returncode == 0, (path, _output(result))


def test_unusual_slis_get_every_scenario(custom: tuple[Catalog, Path, dict[str, str]]) -> None:
    catalog, _, _ = custom
    found = plans(catalog)
    everything = [(SUSTAINABLE, OUTAGE, RECOVERY), (QUIET,)]
    assert [s.proves for s in found["edge/per-region"].scenarios] == everything
    assert [s.proves for s in found["pinger/ping"].scenarios] == everything
    for slo_id in ("edge/jobs", "shared/server-errors", "shared/all-errors"):
        assert [s.proves for s in found[slo_id].scenarios] == everything[:1], found[slo_id].skipped


def test_slos_sharing_an_alert_name_and_a_counter_expect_each_others_alerts(
        custom: tuple[Catalog, Path, dict[str, str]]) -> None:
    catalog, _, _ = custom
    outage = plans(catalog)["shared/server-errors"].scenarios[0]
    paging = {a.slo for check in outage.checks for a in check.alerts}
    assert paging == {"shared/server-errors", "shared/all-errors"}


def test_test_files_are_laid_out_as_dump_lays_out_their_document(
        examples: Catalog, custom: tuple[Catalog, Path, dict[str, str]]) -> None:
    """The direct layout of a test file is the generic one of its document, strings that dump cannot write
    on one line included (the whole file is then dump's)."""
    files, order = ["../rules/a.rules.yml", "../rules/calendars.rules.yml"], ["g:fast", "g:slow"]
    for catalog in (examples, custom[0]):
        for found in plans(catalog).values():
            if found.scenarios:
                cases = [(s, found.alertname) for s in found.scenarios]
                assert promtool_text(files, cases, order) == dump(
                    promtool_document(files, [promtool_case(s, name) for s, name in cases], order))
    scenario = next(p for p in plans(examples).values() if p.scenarios).scenarios[0]
    condition = scenario.timings[0].condition
    odd = ["yes", "null", "it's", "a: b", "#x", "- y", " lead", "trail ", "ümlaut", "x" * 5000, "1e3", "", "{a}"]
    alerts = tuple(Firing(tuple(sorted({f"k{i}": v for i, v in enumerate(odd)}.items())), (("on", "off"),),
                          "s/x", condition) for _ in range(2))
    tricky = Scenario("lifecycle", "t: 'quoted' ü", (Series("m", (("a", 'b"c'),), text="1+2x3"),),
                      (Check(60, alerts), Check(120, ())))
    multiline = Scenario("lifecycle", "t", (), (Check(60, (Firing((("k", "v"),), (("d", "two\nlines"),), "s/x",
                                                                  condition),)),))
    for cases in ([(tricky, "Name")], [(tricky, "yes"), (multiline, "A")], []):
        assert promtool_text(files, cases, order) == dump(
            promtool_document(files, [promtool_case(s, name) for s, name in cases], order))
        assert promtool_text(files, cases) == dump(
            promtool_document(files, [promtool_case(s, name) for s, name in cases]))


def test_slos_alike_share_their_scenarios_without_changing_any(tmp_path: Path) -> None:
    """Plans of SLOs alike in numbers (objective, window, conditions, min_events; not names or selectors) are
    shared, and an SLO alike but in min_events borrows a case whenever its guard would not have bound: every
    plan is the one it gets alone."""
    def slo(name: str, metric: str, **alerting: Any) -> dict[str, Any]:
        return {"name": name, "objective": 99.5, "window": "28d",
                "sli": {"ratio": {"bad": f'{metric}{{code=~"5.."}}', "total": metric}}, "alerting": alerting}
    catalog = _catalog(_spec(tmp_path, "alike",
                             slo("plain", "a_total"), slo("renamed", "b_total"),
                             slo("guarded", "c_total", min_events=50),
                             slo("tight", "d_total", min_events=10**6),
                             {**slo("grouped", "e_total", min_events=50),
                              "sli": {"ratio": {"bad": 'e_total{code=~"5.."}', "total": "e_total",
                                                "group_by": ["route"]}}},
                             *({"name": f"probe-{least}", "objective": 99.9, "window": "7d",
                                "sli": {"probe": {"metric": f'probe_success{{instance="{least}"}}'}},
                                "alerting": {"min_events": least}} for least in (0, 50, 55))))
    forget_shared()
    together = plans(catalog)
    for slo_id, shared in together.items():
        forget_shared()
        alone = plans(Catalog(services=catalog.services, slos=tuple(s for s in catalog.slos if s.id == slo_id)))
        assert alone[slo_id] == shared, slo_id
    assert [s.proves for s in together["alike/guarded"].scenarios] == [(SUSTAINABLE, OUTAGE, RECOVERY), (QUIET,)]
    lifecycle = {slo_id: p.scenarios[0].checks for slo_id, p in together.items()}
    assert [check.at for check in lifecycle["alike/plain"]] == [check.at for check in lifecycle["alike/renamed"]]


def test_raw_sli_gets_no_test_and_a_reason(custom: tuple[Catalog, Path, dict[str, str]]) -> None:
    catalog, _, tests = custom
    reasons = skipped(catalog)
    assert "raw PromQL" in reasons["shared/raw-ratio"][0]
    assert "# shared/raw-ratio: a raw PromQL SLI" in tests[c.tests_file("shared")]
    assert "raw-ratio" not in "".join(case["name"] for case in yaml.safe_load(tests[c.tests_file("shared")])["tests"])


@needs_promtool
def test_a_page_that_cannot_fire_gets_a_test_that_fails(tmp_path: Path) -> None:
    catalog = _catalog(_spec(tmp_path, "api", {
        **_ratio("availability", 99.9, 'api_requests_total{code=~"5.."}', "api_requests_total"),
        "alerting": {"conditions": [
            {"severity": "page", "long": "15m", "short": "1m", "factor": 14.4, "for": "1m"},
            {"severity": "page", "long": "1h", "short": "5m", "factor": 6, "for": "2m"}]},
    }))
    found = plans(catalog)["api/availability"]
    assert any("15m-1m" in reason and "fails until the rules are fixed" in reason for reason in found.skipped)
    root = tmp_path / "out"
    _, tests = _generate(root, catalog)
    test_file = root / c.tests_file("api")
    result = _promtool(test_file)[test_file]
    failed = _failed_checks(result)
    assert result.returncode != 0 and len(failed) == 1 and "a full outage" in failed[0][0]
    assert 'long_window="15m"' in _output(result)


# ---- sampling label values ---------------------------------------------------------------------


@pytest.mark.parametrize("pattern, expected", [
    ("5..", "500"),
    ("approved|failed", "failed"),
    ("[a-c]+", "a"),
    ("(foo|ba)r?", "ba"),
    (".*", ""),
    ("x{3}", "xxx"),
    (r"\d{2,}", "00"),
    ("GET|POST", "GET"),
    ("[[:alpha:]]+", "A"),
    ("(?:x|yz){2}", "xx"),
])
def test_shortest_match_of_a_regex(pattern: str, expected: str) -> None:
    assert shortest_match(pattern) == expected


def test_regexes_python_cannot_read_have_no_samples() -> None:
    assert regex_samples(r"\pL") == ()
    assert shortest_match("(") is None


_ATOMS = st.sampled_from(["a", "b", "z", "0", "7", "_", "-", r"\.", ".", r"\d", r"\w", "[a-f]", "[0-9x]", "[^a-z]",
                          "[A-Z_]"])


@st.composite
def _regex(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        if depth < 2 and draw(st.booleans()):
            part = "(" + "|".join(draw(st.lists(_regex(depth + 1), min_size=1, max_size=3))) + ")"
        else:
            part = draw(_ATOMS)
        part += draw(st.sampled_from(["", "", "?", "*", "+", "{2}", "{1,3}", "{0,2}"]))
        parts.append(part)
    return "".join(parts)


@settings(max_examples=300, deadline=None)
@given(_regex())
def test_every_sample_of_a_simple_regex_matches_it_in_full(pattern: str) -> None:
    samples = regex_samples(pattern)
    assert samples, pattern
    assert all(re.fullmatch(pattern, s) for s in samples)
    assert [len(s) for s in samples] == sorted(len(s) for s in samples)


def test_a_label_that_must_avoid_a_regex_gets_a_plain_value() -> None:
    assert label_value([Matcher("code", MatchOp.NRE, "5..")]) == "200"
    assert label_value([Matcher("code", MatchOp.NE, "200"), Matcher("code", MatchOp.NRE, "5..")]) == "ok"
    assert label_value([Matcher("code", MatchOp.RE, "4..|5.."), Matcher("code", MatchOp.NE, "400")]) == "401"
    assert label_value([Matcher("code", MatchOp.EQ, "a"), Matcher("code", MatchOp.EQ, "b")]) is None


def test_the_rest_of_the_traffic_matches_total_but_not_good() -> None:
    total = parse_selector('payment_authorisations_total{job="gateway",result=~"approved|failed"}')
    good = parse_selector('payment_authorisations_total{job="gateway",result="approved"}')
    labels = solve_labels("payment_authorisations_total", [total], [good])
    assert labels == {"job": "gateway", "result": "failed"}
    both = solve_labels("payment_authorisations_total", [total, good])
    assert both is not None and selector_matches(good, "payment_authorisations_total", both)


def test_a_selector_implied_by_another_cannot_be_told_apart() -> None:
    total = parse_selector('m{job="x"}')
    assert solve_labels("m", [total], [parse_selector('m{job=~"x|y"}')]) is None
    assert solve_labels("m", [total], [parse_selector("m")]) is None
    assert solve_labels("m", [total], [parse_selector("other")]) == {"job": "x"}


def _expand(text: str) -> list[int | None]:
    """promtool's expanding notation, read back."""
    out: list[int | None] = []
    for part in text.split():
        if part.startswith("_"):
            out.extend([None] * (int(part[2:]) if "x" in part else 1))
            continue
        found = re.fullmatch(r"(-?\d+)(?:([+-])(\d+)x(\d+))?", part)
        assert found, part
        start, sign, step, times = found.groups()
        delta = 0 if sign is None else int(step) * (1 if sign == "+" else -1)
        out.extend(int(start) + delta * k for k in range(int(times or 0) + 1))
    return out


@given(st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=1, max_size=40))
def test_series_values_survive_promtools_expanding_notation(values: list[int | None]) -> None:
    assert _expand(Series("m", (), tuple(values)).values_text()) == values


# ---- a user's own severity labels ----------------------------------------------------------------


@needs_promtool
def test_a_users_severity_labels_do_not_hide_the_alerts_from_their_tests(tmp_path: Path) -> None:
    """Sloth's getting-started example labels its page ``severity: pageteam``: the alert tests must still find
    each condition's rule (by sloengine's own severity label) and expect the user's severity on the alert."""
    spec = _spec(tmp_path, {"name": "myservice", "team": "web"}, _ratio(
        "requests-availability", 99.9, 'http_requests_total{code=~"5.."}', "http_requests_total",
        page={"labels": {"severity": "pageteam", "routing_key": "myteam"}},
        ticket={"labels": {"severity": "slack"}}))
    catalog = _catalog(spec)
    result = plan(catalog.slos[0], _service(catalog, catalog.slos[0]))
    outage = result.proving(OUTAGE)
    assert outage is not None
    fired = [dict(a.labels) for check in outage.checks for a in check.alerts]
    assert fired and {(a["severity"], a[c.LABEL_OWN_SEVERITY]) for a in fired} == {("pageteam", "page")}
    _, tests = _generate(tmp_path / "out", catalog)
    (run,) = _promtool(*(tmp_path / "out" / path for path in tests)).values()
    assert run.returncode == 0, _output(run)


def test_a_page_window_longer_than_promtool_can_replay_is_skipped_with_the_reason(tmp_path: Path) -> None:
    """promtool's unit tests load at most 10,000 samples per query and evaluate every group each 30 s: an outage
    test for a 7d page window would fail in promtool (not in Prometheus), so it is skipped and says why."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api}\nslos:\n"
        "  - name: weekly\n    objective: 99.9\n    alerting:\n      conditions:\n"
        "        - {severity: page, long: 7d, short: 12h, factor: 1}\n"
        "        - {severity: page, long: 1h, short: 5m, factor: 14.4}\n"
        "    sli: {ratio: {bad: 'x_total{code=\"5\"}', total: x_total}}\n")
    catalog = load([spec]).catalog
    slo = catalog.slos[0]
    made = plan(slo, _service(catalog, slo))
    assert any("promtool test rules refuses" in reason for reason in made.skipped), made.skipped


@needs_promtool
def test_a_service_whose_only_slo_cannot_be_tested_still_gets_a_test_file_saying_why(tmp_path: Path) -> None:
    """A 4-day page window is past what promtool's unit tests read (10,000 samples per query): the SLO's page
    cannot be tested, and the service's test file says so instead of being left out without a word."""
    specs = _spec(tmp_path, "lone", {
        "name": "weekly", "objective": 99.9, "window": "28d",
        "alerting": {"conditions": [{"severity": "page", "long": "4d", "short": "6h", "factor": 1.5}]},
        "sli": {"ratio": {"bad": 'http_requests_total{job="lone",code=~"5.."}',
                          "total": 'http_requests_total{job="lone"}'}},
    })
    _, tests = _generate(tmp_path / "out", _catalog(specs))
    text = tests[c.tests_file("lone")]
    assert "# lone/weekly: a page reads 4d" in text and "promtool test rules refuses" in text
    assert yaml.safe_load(text)["tests"] == []
    (result,) = _promtool(tmp_path / "out" / c.tests_file("lone")).values()
    assert result.returncode == 0, _output(result)
