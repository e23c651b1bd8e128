"""Sloth specs (prometheus/v1 files and PrometheusServiceLevel resources) import into the model.

The peers' own examples and Sloth's golden test inputs are the compatibility
bar; the inline specs pin down each error and warning a user can hit.
"""

from __future__ import annotations

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
    AlertSeverity,
    RatioSLI,
    RawSLI,
    RollingWindow,
    Service,
    SourceFormat,
)
from sloengine.specs.importers import sloth
from sloengine.specs.importers.base import Context, ImportResult
from sloengine.specs.policy import default_conditions
from sloengine.specs.yamlsource import load_file, load_text

THIRTY_DAYS = 30 * 86400
SLI_PLUGIN_MESSAGE = "Sloth SLI plugins cannot be imported"

SLOTH = PEERS / "sloth"
#: Files beside Sloth's specs that are OpenSLO or an unknown Sloth version: other readers' business.
NOT_SLOTH = {
    "examples/openslo-getting-started.yml",
    "examples/openslo-kubernetes-apiserver.yml",
    "integration-testdata/testdata/in-openslo.yaml",
    "integration-testdata/testdata/in-invalid-version.yaml",
    "integration-testdata/testdata/validate/good/good-openslo.yaml",
    "integration-testdata/testdata/validate/bad/bad-openslo.yaml",
}
SPEC_FILES = sorted(
    [p for p in (SLOTH / "examples").glob("*.y*ml")]
    + list((SLOTH / "integration-testdata" / "testdata").glob("in-*.yaml"))
    + list((SLOTH / "integration-testdata" / "testdata" / "validate" / "good").glob("*.yaml"))
) if SLOTH.is_dir() else []
BAD_FILES = (sorted((SLOTH / "integration-testdata" / "testdata" / "validate" / "bad").glob("*.yaml"))
             if SLOTH.is_dir() else [])

#: Peer files whose Sloth documents are rejected on purpose, with the message that says why.
REJECTED = {
    "examples/plugin-getting-started.yml": SLI_PLUGIN_MESSAGE,
    "examples/plugin-k8s-getting-started.yml": SLI_PLUGIN_MESSAGE,
    "integration-testdata/testdata/in-sli-plugin.yaml": SLI_PLUGIN_MESSAGE,
    "examples/victoria-metrics.yml": "PromQL does not parse",
}

#: Each bad file from Sloth's validate tests: the field and line of the mistake.
BAD = {
    "bad-aa.yaml": ("slos[1].objective", 28),
    "bad-ab.yaml": ("slos[1].objective", 28),
    "bad-ba.yaml": ("slos[1].objective", 28),
    "bad-k8s.yaml": ("spec.service", 7),
    "bad-multi-k8s.yaml": ("spec.slos[0].alerting.name", 22),
    "bad-multi.yaml": ("slos[1].sli", 77),
}


def _relative(path: Path) -> str:
    return path.relative_to(SLOTH).as_posix()


def read_documents(documents: list) -> tuple[ImportResult, list[Diagnostic]]:
    contexts = [Context(doc) for doc in documents if sloth.detect(doc.data)]
    result = sloth.read(contexts)
    return result, [d for ctx in contexts for d in ctx.diagnostics]


def read_text(text: str) -> tuple[ImportResult, list[Diagnostic]]:
    return read_documents(load_text(textwrap.dedent(text), "slos.yml"))


def read_peer(peers_dir: Path, relative: str) -> tuple[ImportResult, list[Diagnostic]]:
    return read_documents(load_file(peers_dir / "sloth" / relative))


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level is Level.ERROR]


def warnings(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.level is Level.WARNING]


def only_slo(result: ImportResult) -> SLO:
    assert len(result.slos) == 1, result.slos
    return result.slos[0]


def spec(slo_yaml: str = "", *, header: str = "") -> str:
    """A prometheus/v1 file with one SLO; ``slo_yaml`` replaces parts of a valid default."""
    default = """
        name: availability
        objective: 99.9
        sli:
          events:
            error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
            total_query: sum(rate(http_requests_total[{{.window}}]))
        alerting:
          name: HighErrorRate
    """
    merged = yaml.safe_load(textwrap.dedent(default))
    merged.update(yaml.safe_load(textwrap.dedent(slo_yaml)) or {})
    top = {"version": "prometheus/v1", "service": "checkout", **(yaml.safe_load(textwrap.dedent(header)) or {})}
    top["slos"] = [merged]
    return yaml.safe_dump(top, sort_keys=False)


HTTP_COUNT = "http_request_duration_seconds_count"
MYSERVICE = Matcher("job", MatchOp.EQ, "myservice")


# --- the peers' files -------------------------------------------------------------------------


@pytest.mark.parametrize("relative", [_relative(p) for p in SPEC_FILES if _relative(p) not in NOT_SLOTH])
def test_every_sloth_spec_imports_every_slo_or_is_rejected_for_a_stated_reason(peers_dir: Path, relative: str) -> None:
    documents = load_file(peers_dir / "sloth" / relative)
    bodies = [d.data.get("spec", d.data) for d in documents if sloth.detect(d.data)]
    assert bodies, "no document of this file was recognised as Sloth"
    result, diagnostics = read_documents(documents)
    if relative in REJECTED:
        assert errors(diagnostics)
        assert all(REJECTED[relative] in d.message for d in errors(diagnostics))
        assert result.slos == ()
        return
    assert errors(diagnostics) == []
    assert len(result.slos) == sum(len(body["slos"]) for body in bodies)
    assert [s.name for s in result.services] == [body["service"] for body in bodies]


@pytest.mark.parametrize("bad", [p.name for p in BAD_FILES])
def test_every_bad_validate_file_is_rejected_naming_the_field_and_line(peers_dir: Path, bad: str) -> None:
    documents = load_file(peers_dir / "sloth" / "integration-testdata" / "testdata" / "validate" / "bad" / bad)
    if f"integration-testdata/testdata/validate/bad/{bad}" in NOT_SLOTH:
        assert not any(sloth.detect(d.data) for d in documents)
        return
    _, diagnostics = read_documents(documents)
    field, line = BAD[bad]
    assert [(d.field, d.position.line) for d in errors(diagnostics)] == [(field, line)]


def test_a_bad_slo_does_not_stop_the_others_of_its_file(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "integration-testdata/testdata/validate/bad/bad-multi.yaml")
    assert len(errors(diagnostics)) == 1
    assert [s.id for s in result.slos] == ["svc01/slo1", "svc01/slo02", "svc02/slo1"]


def test_openslo_and_unknown_versions_are_left_to_other_readers(peers_dir: Path) -> None:
    for relative in sorted(NOT_SLOTH):
        assert not any(sloth.detect(d.data) for d in load_file(peers_dir / "sloth" / relative)), relative


def test_alert_window_catalogs_are_not_specs(peers_dir: Path) -> None:
    for path in sorted((peers_dir / "sloth" / "examples" / "windows").glob("*.yaml")):
        assert not any(sloth.detect(d.data) for d in load_file(path)), path


def test_getting_started_imports_as_exact_ratio_of_counters(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "examples/getting-started.yml")
    assert diagnostics == []
    slo = only_slo(result)
    expected = SLO(
        service="myservice",
        name="requests-availability",
        objective=99.9,
        window=RollingWindow(THIRTY_DAYS),
        sli=RatioSLI(
            total=Selector(HTTP_COUNT, (MYSERVICE,)),
            bad=Selector(HTTP_COUNT, (MYSERVICE, Matcher("code", MatchOp.RE, "(5..|429)"))),
        ),
        alerting=AlertPolicy(
            enabled=True,
            conditions=default_conditions(THIRTY_DAYS),
            name="MyServiceHighErrorRate",
            labels=(("category", "availability"),),
            annotations=(("summary", "High error rate on 'myservice' requests responses"),),
            page_labels=(("routing_key", "myteam"), ("severity", "pageteam")),
            ticket_labels=(("severity", "slack"), ("slack_channel", "#alerts-myteam")),
        ),
        description="Common SLO based on availability for HTTP request responses.",
        labels=(("owner", "myteam"), ("repo", "myorg/myservice"), ("tier", "2")),
    )
    assert slo == expected
    assert slo.source_format is SourceFormat.SLOTH
    assert slo.source is not None and slo.source.line == 9
    assert slo.source.file.endswith("getting-started.yml")


def test_getting_started_service_takes_owner_and_labels_from_the_file(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "examples/getting-started.yml")
    assert result.services == (
        Service("myservice", owner="myteam", labels=(("owner", "myteam"), ("repo", "myorg/myservice"), ("tier", "2"))),
    )
    assert result.services[0].source is not None and result.services[0].source.line == 2


def test_kubernetes_resource_imports_the_same_slo_as_the_prometheus_file(peers_dir: Path) -> None:
    plain, _ = read_peer(peers_dir, "examples/getting-started.yml")
    k8s, diagnostics = read_peer(peers_dir, "examples/k8s-getting-started.yml")
    assert diagnostics == []
    assert k8s.slos == plain.slos
    assert k8s.services == plain.services
    assert only_slo(k8s).source_format is SourceFormat.SLOTH_K8S


def test_golden_input_merges_global_and_slo_labels_and_keeps_alert_metadata(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "integration-testdata/testdata/in-base.yaml")
    assert diagnostics == []
    events, raw = result.slos
    assert events.labels == (("global01k1", "global01v1"), ("global02k1", "global02v1"))
    assert events.alerting.labels == (("alert01k1", "alert01v1"),)
    assert events.alerting.annotations == (("alert02k1", "alert02k2"),)
    assert events.alerting.page_labels == (("alert03k1", "alert03v1"),)
    assert events.alerting.ticket_labels == (("alert04k1", "alert04v1"),)
    assert raw.sli == RawSLI(error_ratio=(
        'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))\n'
        "/\n"
        'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))'
    ))
    assert raw.alerting == AlertPolicy(enabled=False, conditions=())


def test_kubernetes_golden_input_equals_the_prometheus_one(peers_dir: Path) -> None:
    plain, _ = read_peer(peers_dir, "integration-testdata/testdata/in-base.yaml")
    k8s, diagnostics = read_peer(peers_dir, "integration-testdata/testdata/in-base-k8s.yaml")
    assert diagnostics == []
    assert k8s.slos == plain.slos


def test_home_wifi_subquery_events_stay_raw_promql(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "examples/home-wifi.yml")
    good = result.slos[0]
    assert good.objective == 95
    assert good.sli == RawSLI(
        bad="sum_over_time((count(unifipoller_client_satisfaction_ratio < 0.75))[{{.window}}:]) OR on() vector(0)",
        total="sum_over_time((count(unifipoller_client_satisfaction_ratio))[{{.window}}:])",
    )
    assert good.labels == (("cluster", "valhalla"), ("component", "ubiquiti"), ("context", "home"))


def test_raw_error_ratio_query_is_kept_as_a_raw_ratio(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "examples/raw-home-wifi.yml")
    sli = only_slo(result).sli
    assert isinstance(sli, RawSLI) and sli.error_ratio is not None and sli.total is None
    assert sli.error_ratio.startswith("1 - (") and sli.error_ratio.endswith(")")


def test_apiserver_latency_written_as_count_minus_bucket_stays_raw_events(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "examples/kubernetes-apiserver.yml")
    availability, latency = result.slos
    assert availability.sli == RatioSLI(
        total=Selector("apiserver_request_total"),
        bad=Selector("apiserver_request_total", (Matcher("code", MatchOp.RE, "(5..|429)"),)),
    )
    assert availability.labels == (("category", "availability"), ("cluster", "valhalla"), ("component", "kubernetes"))
    assert isinstance(latency.sli, RawSLI)
    assert latency.sli.bad is not None and "apiserver_request_duration_seconds_bucket" in latency.sli.bad
    assert latency.sli.total == 'sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))'
    assert latency.objective == 99


def test_no_alerts_example_disables_alerting(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "examples/no-alerts.yml")
    assert diagnostics == []
    assert only_slo(result).alerting == AlertPolicy(enabled=False, conditions=())


def test_multifile_examples_give_one_service_per_document(peers_dir: Path) -> None:
    result, _ = read_peer(peers_dir, "examples/multifile.yml")
    assert [s.id for s in result.slos] == ["myservice/requests-availability", "myservice2/requests-availability"]
    assert [s.objective for s in result.slos] == [99.9, 99.99]
    assert [s.owner for s in result.services] == ["myteam", "myteam2"]


def test_sli_plugins_are_rejected_with_the_precise_reason(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "examples/plugin-getting-started.yml")
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].sli.plugin"
    assert error.message.startswith(f"{SLI_PLUGIN_MESSAGE}: plugin 'getting_started_availability'")
    assert "events" in error.hint
    assert result.slos == () and result.services == ()


def test_slo_plugins_import_the_slo_and_warn_that_they_are_not_run(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "examples/slo-plugin-getting-started.yml")
    assert errors(diagnostics) == []
    assert len(result.slos) == 1
    assert {d.field for d in warnings(diagnostics)} == {"slo_plugins", "slos[0].plugins"}
    assert all("'sloth.dev/core/debug/v1'" in d.message for d in warnings(diagnostics))


def test_metricsql_is_rejected_with_the_parser_message(peers_dir: Path) -> None:
    _, diagnostics = read_peer(peers_dir, "examples/victoria-metrics.yml")
    fields = {d.field: d.message for d in errors(diagnostics)}
    assert "histogram_share" in fields["slos[0].sli.events.error_query"]
    assert "ranges only allowed for vector selectors" in fields["slos[0].sli.events.total_query"]


def test_kubernetes_metadata_labels_are_reported_as_not_carried_over(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "examples/k8s-home-wifi.yml")
    assert [d.field for d in warnings(diagnostics)] == ["metadata.labels"]
    assert all(("prometheus", "prometheus") not in s.labels for s in result.slos)


def test_camel_case_alert_keys_in_a_prometheus_file_are_ignored_as_sloth_does(peers_dir: Path) -> None:
    result, diagnostics = read_peer(peers_dir, "integration-testdata/testdata/validate/good/good-aa.yaml")
    assert errors(diagnostics) == []
    assert [(d.field, d.position.line) for d in warnings(diagnostics)] == [
        ("slos[0].alerting.pageAlert", 21), ("slos[0].alerting.ticketAlert", 24)]
    assert "'page_alert'" in warnings(diagnostics)[0].hint
    assert result.slos[0].alerting.page_labels == ()


# --- inline specs: what each mistake reports ---------------------------------------------------


def test_inline_spec_imports_cleanly() -> None:
    result, diagnostics = read_text(spec())
    assert diagnostics == []
    slo = only_slo(result)
    assert slo.id == "checkout/availability" and slo.window == RollingWindow(THIRTY_DAYS)


@pytest.mark.parametrize("objective", [101, 100.5, 0, -1])
def test_objective_out_of_range_is_an_error_naming_the_field(objective: float) -> None:
    result, diagnostics = read_text(spec(f"objective: {objective}"))
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].objective"
    assert "out of range" in error.message and "between 0 and 100" in error.hint
    assert result.slos == ()


def test_objective_of_100_is_rejected_because_it_leaves_no_budget() -> None:
    _, diagnostics = read_text(spec("objective: 100"))
    (error,) = errors(diagnostics)
    assert "no error budget" in error.message and error.field == "slos[0].objective"


@pytest.mark.parametrize("objective", ['"99.9"', "true", "[99]"])
def test_objective_must_be_a_number(objective: str) -> None:
    _, diagnostics = read_text(spec(f"objective: {objective}"))
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].objective" and "must be a number" in error.message


def test_missing_objective_is_reported() -> None:
    text = spec().replace("  objective: 99.9\n", "")
    _, diagnostics = read_text(text)
    assert [(d.field, d.message) for d in errors(diagnostics)] == [("slos[0].objective", "objective is required")]


def test_objective_that_looks_like_a_fraction_is_imported_with_a_warning() -> None:
    result, diagnostics = read_text(spec("objective: 0.999"))
    (warning,) = diagnostics
    assert warning.level is Level.WARNING and "write 99.9" in warning.hint
    assert only_slo(result).objective == 0.999


def test_unknown_key_is_an_error_with_did_you_mean() -> None:
    _, diagnostics = read_text(spec("objectiv: 99"))
    (error,) = errors(diagnostics)
    assert (error.field, error.message, error.hint) == ("slos[0].objectiv", "unknown key 'objectiv'",
                                                        "did you mean 'objective'?")


def test_misspelt_query_key_suggests_the_right_one() -> None:
    text = spec().replace("error_query:", "eror_query:")
    _, diagnostics = read_text(text)
    hints = {d.field: d.hint for d in errors(diagnostics)}
    assert hints["slos[0].sli.events.eror_query"] == "did you mean 'error_query'?"
    assert "slos[0].sli.events.error_query" in hints


def test_unparsable_promql_reports_the_parser_message_on_the_query() -> None:
    text = spec().replace('sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))',
                          'sum(rate(http_requests_total{code=~"5.."}[{{.window}}])')
    result, diagnostics = read_text(text)
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].sli.events.error_query"
    assert error.message.startswith("PromQL does not parse")
    assert result.slos == ()


def test_query_without_window_placeholder_is_rejected() -> None:
    text = spec().replace("http_requests_total[{{.window}}]", "http_requests_total[5m]")
    _, diagnostics = read_text(text)
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].sli.events.total_query" and "window placeholder" in error.message


def test_grouped_counter_queries_become_a_grouped_ratio() -> None:
    result, _ = read_text(spec("""
        sli:
          events:
            error_query: sum by (route, code) (increase(http_requests_total{code=~"5.."}[{{.window}}]))
            total_query: sum by (code, route) (rate(http_requests_total[{{.window}}]))
    """))
    assert only_slo(result).sli == RatioSLI(
        total=Selector("http_requests_total"),
        bad=Selector("http_requests_total", (Matcher("code", MatchOp.RE, "5.."),)),
        group_by=("code", "route"),
    )


def test_counter_queries_grouped_differently_stay_raw() -> None:
    result, _ = read_text(spec("""
        sli:
          events:
            error_query: sum by (route) (rate(http_requests_total{code=~"5.."}[{{.window}}]))
            total_query: sum(rate(http_requests_total[{{.window}}]))
    """))
    assert isinstance(only_slo(result).sli, RawSLI)


def test_empty_sli_is_an_error() -> None:
    _, diagnostics = read_text(spec("sli: {}"))
    (error,) = errors(diagnostics)
    assert (error.field, error.message) == ("slos[0].sli", "the SLI is empty")


def test_sli_with_both_events_and_raw_is_an_error() -> None:
    _, diagnostics = read_text(spec("""
        sli:
          events: {error_query: 'sum(rate(a[{{.window}}]))', total_query: 'sum(rate(b[{{.window}}]))'}
          raw: {error_ratio_query: 'sum(rate(a[{{.window}}]))'}
    """))
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].sli" and "both events and raw" in error.message


def test_inline_sli_plugin_is_rejected_with_the_plugin_id() -> None:
    _, diagnostics = read_text(spec("sli: {plugin: {id: sloth-common/kubernetes/apiserver/availability}}"))
    (error,) = errors(diagnostics)
    assert error.message == (f"{SLI_PLUGIN_MESSAGE}: plugin 'sloth-common/kubernetes/apiserver/availability' "
                             "builds its queries in Go code that only Sloth runs")


def test_alert_name_is_required_while_alerts_are_enabled() -> None:
    _, diagnostics = read_text(spec("alerting: {labels: {team: a}}"))
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].alerting.name" and "required" in error.message


def test_alert_name_of_the_wrong_type_is_reported_once() -> None:
    _, diagnostics = read_text(spec("alerting: {name: [X]}"))
    assert [(d.field, d.message) for d in errors(diagnostics)] == [
        ("slos[0].alerting.name", "expected a string, got list ['X']")]


def test_missing_sli_is_an_error_on_the_slo() -> None:
    text = spec()
    start, end = text.index("  sli:"), text.index("  alerting:")
    _, diagnostics = read_text(text[:start] + text[end:])
    (error,) = errors(diagnostics)
    assert (error.field, error.message) == ("slos[0].sli", "sli is required and must be a mapping")
    assert error.position.line == 4


def test_disabling_the_ticket_alert_keeps_only_page_conditions() -> None:
    result, _ = read_text(
        spec("alerting: {name: X, ticket_alert: {disable: true}, page_alert: {labels: {severity: critical}}}"))
    alerting = only_slo(result).alerting
    assert alerting.enabled
    assert {c.severity for c in alerting.conditions} == {AlertSeverity.PAGE}
    assert alerting.conditions == default_conditions(THIRTY_DAYS)[:2]
    assert alerting.page_labels == (("severity", "critical"),)


def test_disable_must_be_a_boolean() -> None:
    _, diagnostics = read_text(spec("alerting: {name: X, page_alert: {disable: 'yes'}}"))
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].alerting.page_alert.disable"


def test_invalid_label_name_is_an_error_on_the_key() -> None:
    _, diagnostics = read_text(spec("labels: {app.kubernetes.io/name: checkout}"))
    (error,) = errors(diagnostics)
    assert error.field == "slos[0].labels.app.kubernetes.io/name"
    assert "not a valid Prometheus label name" in error.message


def test_slo_labels_override_global_labels_and_scalars_read_as_yaml_text() -> None:
    result, _ = read_text(spec("labels: {tier: '1', critical: true, ratio: 0.5}",
                               header="labels: {tier: '2', team: payments}"))
    slo = only_slo(result)
    assert slo.labels == (("critical", "true"), ("ratio", "0.5"), ("team", "payments"), ("tier", "1"))
    assert result.services[0].team == "payments"


def test_missing_service_rejects_the_file_but_still_checks_its_slos() -> None:
    text = spec("objective: 101").replace("service: checkout\n", "")
    result, diagnostics = read_text(text)
    assert [d.field for d in errors(diagnostics)] == ["service", "slos[0].objective"]
    assert result == ImportResult()


def test_empty_slo_list_is_an_error() -> None:
    _, diagnostics = read_text("version: prometheus/v1\nservice: a\nslos: []\n")
    (error,) = errors(diagnostics)
    assert error.field == "slos" and "non-empty" in error.message


def test_several_mistakes_in_one_slo_are_all_reported() -> None:
    text = spec("objective: 150\ndescription: [1]").replace("[{{.window}}]))\n", "[{{.window}}])\n", 1)
    _, diagnostics = read_text(text)
    assert [d.field for d in errors(diagnostics)] == [
        "slos[0].objective", "slos[0].description", "slos[0].sli.events.error_query"]


def test_kubernetes_resource_uses_camel_case_and_reports_snake_case_as_ignored() -> None:
    text = """
        apiVersion: sloth.slok.dev/v1
        kind: PrometheusServiceLevel
        metadata: {name: checkout, namespace: shop}
        spec:
          service: checkout
          slos:
            - name: availability
              objective: 99.5
              sli:
                events:
                  errorQuery: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
                  totalQuery: sum(rate(http_requests_total[{{.window}}]))
              alerting:
                name: HighErrorRate
                page_alert: {disable: true}
                ticketAlert: {disable: true}
    """
    result, diagnostics = read_text(text)
    (warning,) = diagnostics
    assert warning.field == "spec.slos[0].alerting.page_alert" and "'pageAlert'" in warning.message
    alerting = only_slo(result).alerting
    assert alerting.enabled and {c.severity for c in alerting.conditions} == {AlertSeverity.PAGE}


def test_kubernetes_resource_rejects_an_unknown_metadata_key() -> None:
    text = """
        apiVersion: sloth.slok.dev/v1
        kind: PrometheusServiceLevel
        metadata: {name: checkout, namespce: shop}
        spec:
          service: a
          slos: [{name: b, objective: 99, sli: {raw: {errorRatioQuery: 'x[{{.window}}]'}}, alerting: {name: c}}]
    """
    result, diagnostics = read_text(text)
    (error,) = errors(diagnostics)
    assert (error.field, error.hint) == ("metadata.namespce", "did you mean 'namespace'?")
    assert result == ImportResult()


def test_reading_is_deterministic(peers_dir: Path) -> None:
    documents = load_file(peers_dir / "sloth" / "examples" / "kubernetes-apiserver.yml")
    first, first_diagnostics = read_documents(documents)
    second, second_diagnostics = read_documents(documents)
    assert first == second and first_diagnostics == second_diagnostics


# --- properties --------------------------------------------------------------------------------

label_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
label_values = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0, max_value=200, allow_nan=False, exclude_min=True))
def test_objectives_strictly_between_1_and_100_import_exactly_and_others_are_rejected(objective: float) -> None:
    result, diagnostics = read_text(spec(yaml.safe_dump({"objective": objective})))
    if 1 < objective < 100:
        assert diagnostics == []
        assert only_slo(result).objective == objective
    elif objective >= 100:
        assert [d.field for d in errors(diagnostics)] == ["slos[0].objective"]
        assert result.slos == ()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(label_names, label_values, max_size=4), st.dictionaries(label_names, label_values, max_size=4))
def test_slo_labels_are_the_global_labels_overridden_by_the_slos_own(
    global_labels: dict[str, str], slo_labels: dict[str, str]
) -> None:
    text = spec(yaml.safe_dump({"labels": slo_labels}), header=yaml.safe_dump({"labels": global_labels}))
    result, diagnostics = read_text(text)
    assert errors(diagnostics) == []
    assert only_slo(result).labels == tuple(sorted({**global_labels, **slo_labels}.items()))
