"""Pyrra ServiceLevelObjective resources import into the model.

Every SLO the Pyrra project ships is the compatibility bar; the inline
resources pin down each error and warning a user can hit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import PEERS
from hypothesis import given, settings
from hypothesis import strategies as st

from sloengine.model.diagnostics import Diagnostic, Level
from sloengine.model.promql import Matcher, MatchOp, Selector
from sloengine.model.slo import (
    SLO,
    AlertPolicy,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RollingWindow,
    Service,
    SourceFormat,
)
from sloengine.specs.importers import pyrra
from sloengine.specs.importers.base import Context, ImportResult
from sloengine.specs.policy import default_conditions
from sloengine.specs.yamlsource import load_file, load_text

DAY = 86400
PYRRA = PEERS / "pyrra"
PYRRA_FILES = sorted(PYRRA.rglob("*.yaml")) if PYRRA.is_dir() else []

#: SLOs in the Pyrra repository that are rejected on purpose: (file, metadata.name) → (field, message part).
REJECTED = {
    ("pyrra-connect-latency.yaml", "pyrra-connect-latency"): (
        "spec.indicator.latencyNative", "native histograms are not supported yet"),
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``sloengine`` command as a user runs it (falling back to the module when it is not on PATH)."""
    exe = shutil.which("sloengine", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    command = [exe] if exe else [sys.executable, "-m", "sloengine.cli"]
    return subprocess.run(command + list(args), capture_output=True, text=True, timeout=120)


def read_documents(documents: list) -> tuple[ImportResult, list[Diagnostic]]:
    contexts = [Context(doc) for doc in documents if pyrra.detect(doc.data)]
    result = pyrra.read(contexts)
    return result, [d for ctx in contexts for d in ctx.diagnostics]


def read_text(text: str) -> tuple[ImportResult, list[Diagnostic]]:
    return read_documents(load_text(textwrap.dedent(text), "slo.yaml"))


def read_peer(peers_dir: Path, relative: str) -> tuple[ImportResult, list[Diagnostic]]:
    return read_documents(load_file(peers_dir / "pyrra" / relative))


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level is Level.ERROR]


def warnings(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level is Level.WARNING]


def only_slo(result: ImportResult) -> SLO:
    assert len(result.slos) == 1, result.slos
    return result.slos[0]


def resource(spec_yaml: str = "", *, metadata: str = "") -> str:
    """A Pyrra SLO; ``spec_yaml`` and ``metadata`` replace parts of a valid default."""
    spec = {
        "target": "99.5",
        "window": "28d",
        "indicator": {"ratio": {
            "errors": {"metric": 'http_requests_total{job="api",code=~"5.."}'},
            "total": {"metric": 'http_requests_total{job="api"}'},
        }},
    }
    spec.update(yaml.safe_load(textwrap.dedent(spec_yaml)) or {})
    meta = {"name": "api-errors", "namespace": "shop"}
    meta.update(yaml.safe_load(textwrap.dedent(metadata)) or {})
    document = {"apiVersion": "pyrra.dev/v1alpha1", "kind": "ServiceLevelObjective", "metadata": meta, "spec": spec}
    return yaml.safe_dump(document, sort_keys=False)


def latency(success: str, total: str) -> str:
    return yaml.safe_dump({"indicator": {"latency": {"success": {"metric": success}, "total": {"metric": total}}}})


# --- the peers' files -------------------------------------------------------------------------


@pytest.mark.parametrize("relative", [p.relative_to(PYRRA).as_posix() for p in PYRRA_FILES])
def test_every_pyrra_slo_imports_or_is_rejected_for_a_stated_reason(peers_dir: Path, relative: str) -> None:
    documents = [d for d in load_file(peers_dir / "pyrra" / relative) if pyrra.detect(d.data)]
    if not documents:
        assert not any(d.get("kind") == "ServiceLevelObjective" for d in yaml.safe_load_all(
            (peers_dir / "pyrra" / relative).read_text()) if isinstance(d, dict))
        return
    result, diagnostics = read_documents(documents)
    names = [d.data["metadata"]["name"] for d in documents]
    rejected = {name: REJECTED[(relative, name)] for name in names if (relative, name) in REJECTED}
    reported = sorted((d.field, d.message) for d in errors(diagnostics))
    expected = sorted(rejected.values())
    assert len(reported) == len(expected), reported
    for (field, message), (expected_field, reason) in zip(reported, expected):
        assert field == expected_field and reason in message
    assert [s.name for s in result.slos] == [n for n in names if n not in rejected]
    assert all(s.source_format is SourceFormat.PYRRA for s in result.slos)


def test_everything_in_the_pyrra_repository_imports_together_without_clashes(peers_dir: Path) -> None:
    documents = [d for path in sorted((peers_dir / "pyrra").rglob("*.yaml")) for d in load_file(path)
                 if pyrra.detect(d.data)]
    result, diagnostics = read_documents(documents)
    assert len(errors(diagnostics)) == len(REJECTED)
    assert len(result.slos) == len(documents) - len(REJECTED)
    assert len({s.id for s in result.slos}) == len(result.slos)
    assert [s.name for s in result.services] == sorted({s.service for s in result.slos})


def test_ratio_example_imports_field_by_field(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "thanos-http.yaml")
    assert diagnostics == []
    selector = (Matcher("job", MatchOp.EQ, "thanos-query"), Matcher("handler", MatchOp.RE, "query|query_range"))
    slo = only_slo(result)
    assert slo == SLO(
        service="monitoring",
        name="thanos-query",
        objective=99.0,
        window=RollingWindow(28 * DAY),
        sli=RatioSLI(
            total=Selector("http_requests_total", selector),
            bad=Selector("http_requests_total", selector + (Matcher("code", MatchOp.RE, "5.."),)),
        ),
        alerting=AlertPolicy(enabled=True, conditions=default_conditions(28 * DAY)),
        labels=(("prometheus", "k8s"), ("role", "alert-rules")),
    )
    assert slo.source is not None and slo.source.line == 1
    assert result.services == (Service("monitoring"),)
    assert result.services[0].source is not None and result.services[0].source.line == 5


def test_grouped_ratio_example_keeps_the_grouping_in_order(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "pyrra-connect-errors.yaml")
    slo = only_slo(result)
    assert isinstance(slo.sli, RatioSLI)
    assert slo.sli.group_by == ("service", "method")
    assert slo.sli.bad == Selector("connect_server_requests_total", (
        Matcher("job", MatchOp.EQ, "pyrra"),
        Matcher("code", MatchOp.RE, "aborted|unavailable|internal|unknown|unimplemented|dataloss"),
    ))
    assert (slo.objective, slo.window) == (99.0, RollingWindow(14 * DAY))
    assert slo.description == "Pyrra serves API requests with connect-go either via gRPC or HTTP."


def test_latency_example_becomes_a_histogram_with_its_bucket_threshold(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "caddy-response-latency.yaml")
    assert diagnostics == []
    slo = only_slo(result)
    assert slo.sli == LatencySLI(
        histogram=Selector("caddy_http_response_duration_seconds", (
            Matcher("job", MatchOp.EQ, "caddy"),
            Matcher("handler", MatchOp.EQ, "subroute"),
            Matcher("code", MatchOp.NRE, "5.."),
        )),
        threshold_seconds=0.05,
    )
    assert (slo.service, slo.name, slo.objective) == ("caddy-response-latency", "caddy-response-latency", 90.0)
    assert slo.window == RollingWindow(28 * DAY)
    assert slo.labels == ()


def test_latency_bounds_written_as_5_and_5_0_give_the_same_threshold(peers_dir: Path) -> None:
    kubernetes, _ = read_peer(peers_dir, "kubernetes/manifests/slos/slo-apiserver-read-cluster-latency.yaml")
    mimir, _ = read_peer(peers_dir, "mimir/example-slo.yaml")
    assert only_slo(kubernetes).sli == only_slo(mimir).sli
    assert only_slo(mimir).sli.threshold_seconds == 5.0  # type: ignore[union-attr]
    assert (only_slo(kubernetes).service, only_slo(mimir).service) == ("monitoring", "default")


def test_bool_gauge_example_becomes_a_grouped_probe(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "prometheus-probe-success.yaml")
    assert diagnostics == []
    slo = only_slo(result)
    assert slo.sli == ProbeSLI(Selector("probe_success"), ("target",))
    assert (slo.service, slo.objective, slo.window) == (
        "prometheus-blackbox-probe-success", 99.0, RollingWindow(7 * DAY))


def test_pyrra_prefixed_team_label_is_stripped_and_names_the_team(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "parca-grpc-queryrange-errors.yaml")
    assert only_slo(result).labels == (("prometheus", "k8s"), ("role", "alert-rules"), ("team", "parca"))
    assert result.services == (Service("parca", team="parca"),)


def test_latency_whose_success_filters_status_imports_as_bucket_over_count(peers_dir: Path) -> None:
    """nginx.yaml's latency SLO counts fast requests with status 5xx among all requests: valid Pyrra."""
    result, diagnostics = read_peer(peers_dir, "nginx.yaml")
    assert errors(diagnostics) == []
    assert [s.name for s in result.slos] == ["nginx-api-errors", "nginx-api-latency"]
    sli = result.slos[1].sli
    assert isinstance(sli, RatioSLI) and sli.bad is None and sli.good is not None
    assert sli.good.metric == "nginx_ingress_controller_request_duration_seconds_bucket"
    assert Matcher("status", MatchOp.RE, "5..") in sli.good.matchers
    assert sli.total == Selector("nginx_ingress_controller_request_duration_seconds_count", (
        Matcher("namespace", MatchOp.EQ, "lastfm"), Matcher("ingress", MatchOp.EQ, "lastfm"),
        Matcher("service", MatchOp.EQ, "lastfm")))


def test_native_histogram_latency_is_rejected_precisely(peers_dir: Path) -> None:
    _, diagnostics = read_peer(peers_dir, "pyrra-connect-latency.yaml")
    (error,) = errors(diagnostics)
    assert error.field == "spec.indicator.latencyNative"
    assert error.message.startswith("native histograms are not supported yet")


# --- inline resources: what each mistake reports ----------------------------------------------


def test_inline_resource_imports_cleanly() -> None:
    result, diagnostics = read_text(resource())
    assert diagnostics == []
    assert only_slo(result).id == "shop/api-errors"


def test_service_prefers_the_pyrra_service_label_then_namespace_then_name() -> None:
    labelled, _ = read_text(resource(metadata="labels: {pyrra.dev/service: checkout}"))
    namespaced, _ = read_text(resource())
    bare, _ = read_text(resource(metadata="namespace: null"))
    assert [only_slo(r).service for r in (labelled, namespaced, bare)] == ["checkout", "shop", "api-errors"]
    assert only_slo(labelled).labels == ()


@pytest.mark.parametrize("window", ["4weeks", "28", "-1d", "0d"])
def test_bad_window_is_an_error_with_a_duration_hint(window: str) -> None:
    result, diagnostics = read_text(resource(yaml.safe_dump({"window": window})))
    (error,) = errors(diagnostics)
    assert error.field == "spec.window"
    assert result.slos == ()


def test_bad_window_message_names_the_value_and_the_hint_gives_units() -> None:
    _, diagnostics = read_text(resource("window: 4weeks"))
    (error,) = errors(diagnostics)
    assert error.message.startswith("'4weeks' is not a Prometheus duration")
    assert "28d" in error.hint


def test_window_without_a_unit_is_an_error() -> None:
    _, diagnostics = read_text(resource("window: 28"))
    (error,) = errors(diagnostics)
    assert error.message == "window 28 has no unit"


def test_unknown_spec_key_is_an_error_with_did_you_mean() -> None:
    _, diagnostics = read_text(resource("windw: 28d"))
    (error,) = errors(diagnostics)
    assert (error.field, error.message, error.hint) == ("spec.windw", "unknown key 'windw'", "did you mean 'window'?")


def test_unknown_indicator_suggests_the_right_one() -> None:
    _, diagnostics = read_text(resource("indicator: {bool_guage: {metric: up}}"))
    hints = {d.field: d.hint for d in errors(diagnostics)}
    assert hints["spec.indicator.bool_guage"] == "did you mean 'bool_gauge'?"


@pytest.mark.parametrize("metric", ['http_requests_total{job="api"', "rate(http_requests_total[5m])"])
def test_unparsable_selector_is_an_error_on_the_metric(metric: str) -> None:
    text = resource(yaml.safe_dump({"indicator": {"ratio": {"errors": {"metric": metric},
                                                              "total": {"metric": "http_requests_total"}}}}))
    _, diagnostics = read_text(text)
    (error,) = errors(diagnostics)
    assert error.field == "spec.indicator.ratio.errors.metric"
    assert "selector" in error.hint


@pytest.mark.parametrize("target", ["100", "0", "101", "-5"])
def test_target_out_of_range_is_an_error(target: str) -> None:
    result, diagnostics = read_text(resource(yaml.safe_dump({"target": target})))
    (error,) = errors(diagnostics)
    assert error.field == "spec.target"
    assert result.slos == ()


def test_target_that_is_not_a_number_is_an_error() -> None:
    _, diagnostics = read_text(resource("target: ninety-nine"))
    (error,) = errors(diagnostics)
    assert error.message == "target 'ninety-nine' is not a number"


def test_numeric_target_is_accepted() -> None:
    result, _ = read_text(resource("target: 99.95"))
    assert only_slo(result).objective == 99.95


def test_latency_without_le_is_rejected() -> None:
    _, diagnostics = read_text(resource(latency('request_seconds_bucket{job="a"}', 'request_seconds_count{job="a"}')))
    (error,) = errors(diagnostics)
    assert error.field == "spec.indicator.latency.success.metric" and "le=" in error.message


def test_latency_with_infinite_bucket_is_rejected() -> None:
    _, diagnostics = read_text(resource(latency('request_seconds_bucket{le="+Inf"}', "request_seconds_count")))
    (error,) = errors(diagnostics)
    assert "positive, finite" in error.message


def test_latency_from_two_histograms_is_rejected() -> None:
    _, diagnostics = read_text(resource(latency('a_seconds_bucket{le="1"}', "b_seconds_count")))
    (error,) = errors(diagnostics)
    assert "different histograms" in error.message


def test_latency_total_must_be_a_count_series() -> None:
    _, diagnostics = read_text(resource(latency('a_seconds_bucket{le="1"}', "a_seconds_sum")))
    (error,) = errors(diagnostics)
    assert error.field == "spec.indicator.latency.total.metric" and "_count" in error.message


def test_latency_whose_success_excludes_errors_counts_fast_successes_among_all_requests() -> None:
    """Pyrra's own test case: success adds status!~"5.." to total's matchers; Pyrra's rules divide the bucket's
    increase by the count's, so slow requests and errors both spend the budget."""
    result, diagnostics = read_text(resource(latency(
        'http_request_duration_seconds_bucket{job="x",status!~"5..",le="1"}',
        'http_request_duration_seconds_count{job="x"}')))
    assert diagnostics == []
    sli = only_slo(result).sli
    assert sli == RatioSLI(
        total=Selector("http_request_duration_seconds_count", (Matcher("job", MatchOp.EQ, "x"),)),
        good=Selector("http_request_duration_seconds_bucket", (Matcher("job", MatchOp.EQ, "x"),
                      Matcher("status", MatchOp.NRE, "5.."), Matcher("le", MatchOp.RE, "1|1\\.0"))),
    )


def test_latency_whose_success_adds_matchers_keeps_its_grouping() -> None:
    body = yaml.safe_load(latency('a_seconds_bucket{job="x",code="200",le="0.5"}', 'a_seconds_count{job="x"}'))
    body["indicator"]["latency"]["grouping"] = ["route"]
    result, diagnostics = read_text(resource(yaml.safe_dump(body)))
    assert diagnostics == []
    sli = only_slo(result).sli
    assert isinstance(sli, RatioSLI) and sli.group_by == ("route",)


def test_latency_whose_total_filters_more_than_success_is_refused_at_total() -> None:
    _, diagnostics = read_text(resource(latency('a_seconds_bucket{le="1"}', 'a_seconds_count{job="x"}')))
    (error,) = errors(diagnostics)
    assert error.field == "spec.indicator.latency.total.metric"
    assert 'job="x"' in error.message and "pass 100%" in error.message
    assert "every matcher of total.metric" in error.hint


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_latency_with_extra_success_matchers_validates_generates_and_passes_promtool(tmp_path: Path) -> None:
    """The whole path a user takes: validate, generate, then promtool's own rule check and the generated tests."""
    spec = tmp_path / "slo.yaml"
    spec.write_text(resource(latency('http_request_duration_seconds_bucket{job="x",status!~"5..",le="1"}',
                                     'http_request_duration_seconds_count{job="x"}') + "window: 7d\n")
                    + "---\n")
    out = tmp_path / "out"
    validated = run_cli("validate", str(spec))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    generated = run_cli("generate", str(spec), "--out", str(out))
    assert generated.returncode == 0, generated.stdout + generated.stderr
    rules, tests = sorted((out / "rules").glob("*.yml")), sorted((out / "tests").glob("*.yml"))
    assert rules and tests
    assert "status!~" in rules[0].read_text() and "http_request_duration_seconds_bucket" in tests[0].read_text()
    for command in (["check", "rules", *map(str, rules)], ["test", "rules", *map(str, tests)]):
        checked = subprocess.run(["promtool", *command], capture_output=True, text=True, timeout=300)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_missing_indicator_and_two_indicators_are_errors() -> None:
    _, missing = read_text(resource("indicator: {}"))
    _, both = read_text(
        resource("indicator: {bool_gauge: {metric: up}, ratio: {errors: {metric: a}, total: {metric: b}}}"))
    assert [e.message for e in errors(missing)] == ["the indicator is empty"]
    assert [e.field for e in errors(both)] == ["spec.indicator"]


def test_disabled_alerting_keeps_conditions_but_turns_alerts_off() -> None:
    for alerting in ("{disabled: true}", "{burnrates: false}"):
        result, diagnostics = read_text(resource(f"alerting: {alerting}"))
        assert diagnostics == []
        assert only_slo(result).alerting == AlertPolicy(enabled=False, conditions=default_conditions(28 * DAY))


def test_alert_name_and_severities_map_onto_page_and_ticket_labels() -> None:
    text = resource("alerting: {name: CheckoutBudgetBurn, severities: "
                    "{fastBurn: page, mediumBurn: page, slowBurn: ticket, longTermBurn: ticket}}")
    result, diagnostics = read_text(text)
    assert diagnostics == []
    alerting = only_slo(result).alerting
    assert alerting.name == "CheckoutBudgetBurn"
    assert (alerting.page_labels, alerting.ticket_labels) == ((("severity", "page"),), (("severity", "ticket"),))


def test_severities_that_pyrra_would_split_are_warned_about() -> None:
    result, diagnostics = read_text(resource("alerting: {severities: {fastBurn: page}}"))
    (warning,) = diagnostics
    assert warning.level is Level.WARNING and "'page' and 'critical'" in warning.message
    assert only_slo(result).alerting.page_labels == (("severity", "page"),)


def test_absent_alert_settings_are_warned_about_not_dropped() -> None:
    _, diagnostics = read_text(resource("alerting: {absent: true, absentName: Gone, severities: {absent: info}}"))
    assert errors(diagnostics) == []
    assert sorted(d.field for d in warnings(diagnostics)) == [
        "spec.alerting.absent", "spec.alerting.absentName", "spec.alerting.severities.absent"]


def test_alerting_flags_must_be_booleans() -> None:
    _, diagnostics = read_text(resource("alerting: {disabled: 'no'}"))
    (error,) = errors(diagnostics)
    assert error.field == "spec.alerting.disabled"


def test_kubernetes_only_label_names_are_left_out_with_a_warning() -> None:
    result, diagnostics = read_text(resource(metadata="labels: {app.kubernetes.io/name: shop, pyrra.dev/tier: '1'}"))
    (warning,) = diagnostics
    assert warning.field == "metadata.labels.app.kubernetes.io/name"
    assert only_slo(result).labels == (("tier", "1"),)


def test_pyrra_annotations_become_alert_annotations_and_others_are_ignored() -> None:
    text = resource(metadata="annotations: {pyrra.dev/runbook: 'https://runbooks/x', kubectl.kubernetes.io/x: '{}'}")
    result, diagnostics = read_text(text)
    assert diagnostics == []
    assert only_slo(result).alerting.annotations == (("runbook", "https://runbooks/x"),)


def test_rule_output_settings_are_warned_about() -> None:
    text = resource("{partial_response_strategy: warn, performanceOverAccuracy: true, "
                    "ruleOutput: {longRulesLabels: {a: b}}}")
    result, diagnostics = read_text(text)
    assert errors(diagnostics) == []
    assert [d.field for d in warnings(diagnostics)] == [
        "spec.partial_response_strategy", "spec.performanceOverAccuracy", "spec.ruleOutput"]
    assert len(result.slos) == 1


def test_missing_name_is_an_error() -> None:
    _, diagnostics = read_text(resource(metadata="name: null"))
    (error,) = errors(diagnostics)
    assert error.field == "metadata.name"


def test_teams_that_disagree_leave_the_service_team_empty() -> None:
    text = resource(metadata="{name: a, labels: {pyrra.dev/team: x}}") + "---\n" + resource(
        metadata="{name: b, labels: {pyrra.dev/team: y}}")
    result, _ = read_text(text)
    assert result.services == (Service("shop"),)
    assert [s.labels for s in result.slos] == [(("team", "x"),), (("team", "y"),)]


def test_reading_is_deterministic(peers_dir: Path) -> None:
    documents = load_file(peers_dir / "pyrra" / "nginx.yaml")
    assert read_documents(documents) == read_documents(documents)


# --- properties --------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.decimals(min_value="0.001", max_value="99.999", places=3))
def test_any_target_percentage_string_below_100_imports_exactly(target: object) -> None:
    result, diagnostics = read_text(resource(yaml.safe_dump({"target": str(target)})))
    assert errors(diagnostics) == []
    assert only_slo(result).objective == float(str(target))


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=400), st.sampled_from(["m", "h", "d", "w"]))
def test_any_prometheus_window_becomes_a_rolling_window_in_seconds(count: int, unit: str) -> None:
    result, diagnostics = read_text(resource(yaml.safe_dump({"window": f"{count}{unit}"})))
    assert errors(diagnostics) == []
    assert only_slo(result).window == RollingWindow(count * {"m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}[unit])
