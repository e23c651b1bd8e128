"""The OpenSLO importer: how v1 and v1alpha objects become the model, and how each mistake is reported.

The peer examples pin, file by file, whether each imports or is rejected and
for which field; the inline documents pin each mapping decision and error path.
"""

from __future__ import annotations

import copy
import textwrap
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sloengine.model.diagnostics import Diagnostic, Level
from sloengine.model.promql import Matcher, MatchOp, Selector, parse, substitute_window
from sloengine.model.slo import (
    SLO,
    AlertSeverity,
    BurnRateAlert,
    CalendarUnit,
    CalendarWindow,
    RatioSLI,
    RawSLI,
    RollingWindow,
    SourceFormat,
)
from sloengine.specs.importers import openslo
from sloengine.specs.importers.base import Context, ImportResult
from sloengine.specs.policy import condition, default_conditions
from sloengine.specs.yamlsource import Document, load_file, load_text

DAY = 86400


@dataclass
class Outcome:
    result: ImportResult
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level is Level.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level is Level.WARNING]

    @property
    def slo(self) -> SLO:
        assert not self.errors, [d.render() for d in self.errors]
        assert len(self.result.slos) == 1, self.result.slos
        return self.result.slos[0]

    def error(self, field: str, *fragments: str) -> Diagnostic:
        return _find(self.errors, field, fragments)

    def warning(self, field: str, *fragments: str) -> Diagnostic:
        return _find(self.warnings, field, fragments)


def _find(diagnostics: list[Diagnostic], field: str, fragments: tuple[str, ...]) -> Diagnostic:
    for d in diagnostics:
        text = f"{d.message} {d.hint}"
        if d.field == field and all(f in text for f in fragments):
            return d
    raise AssertionError(f"no diagnostic at {field!r} saying {fragments}; got:\n"
                         + "\n".join(d.render() for d in diagnostics))


def split(documents: list[Document]) -> list[Context]:
    """One context per OpenSLO object, splitting files whose top level is a list (as the loader does)."""
    out = []
    for doc in documents:
        if isinstance(doc.data, list):
            out.extend(Context(doc.sub((i,))) for i in range(len(doc.data)))
        else:
            out.append(Context(doc))
    return out


def run(contexts: list[Context]) -> Outcome:
    result = openslo.read(contexts)
    return Outcome(result, [d for c in contexts for d in c.diagnostics])


def read_yaml(*texts: str) -> Outcome:
    documents = []
    for i, text in enumerate(texts):
        documents.extend(load_text(textwrap.dedent(text), f"file{i}.yaml"))
    return run(split(documents))


def read_docs(*objects: dict) -> Outcome:
    text = "---\n".join(yaml.safe_dump(o, sort_keys=False) for o in objects)
    return run(split(load_text(text, "docs.yaml")))


def read_paths(*paths: Path) -> Outcome:
    documents = []
    for path in paths:
        documents.extend(load_file(path))
    return run(split(documents))


def prom(query: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


DROP = object()


def slo_doc(name: str = "checkout-availability", **spec: Any) -> dict:
    """A valid v1 SLO; keyword arguments replace spec fields (``DROP`` removes one)."""
    base: dict[str, Any] = {
        "service": "checkout",
        "indicator": {
            "metadata": {"name": "ok-requests"},
            "spec": {"ratioMetric": {
                "counter": True,
                "good": prom('http_requests_total{job="checkout",code!~"5.."}'),
                "total": prom('http_requests_total{job="checkout"}'),
            }},
        },
        "timeWindow": [{"duration": "28d", "isRolling": True}],
        "budgetingMethod": "Occurrences",
        "objectives": [{"displayName": "Available", "target": 0.999}],
    }
    for key, value in spec.items():
        if value is DROP:
            base.pop(key, None)
        else:
            base[key] = value
    return {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": name}, "spec": base}


def sli_doc(name: str, ratio: dict) -> dict:
    return {"apiVersion": "openslo/v1", "kind": "SLI", "metadata": {"name": name}, "spec": {"ratioMetric": ratio}}


def ratio(good: str | None = None, total: str = "requests_total", *, bad: str | None = None, **extra: Any) -> dict:
    out: dict[str, Any] = dict(extra)
    if good is not None:
        out["good"] = prom(good)
    if bad is not None:
        out["bad"] = prom(bad)
    out["total"] = prom(total)
    return out


def with_ratio(rm: dict, **spec: Any) -> dict:
    return slo_doc(indicator={"metadata": {"name": "x"}, "spec": {"ratioMetric": rm}}, **spec)


def condition_doc(name: str = "fast-burn", **condition_fields: Any) -> dict:
    cond = {"kind": "burnrate", "op": "gt", "threshold": 14.4, "lookbackWindow": "1h", "alertAfter": "2m"}
    cond.update(condition_fields)
    severity = cond.pop("severity", "page")
    return {"apiVersion": "openslo/v1", "kind": "AlertCondition", "metadata": {"name": name},
            "spec": {"severity": severity, "condition": cond}}


def policy_doc(name: str = "paging", conditions: list | None = None, **spec: Any) -> dict:
    body: dict[str, Any] = {
        "alertWhenBreaching": True,
        "conditions": conditions if conditions is not None else [{"conditionRef": "fast-burn"}],
        "notificationTargets": [{"targetRef": "on-call"}],
    }
    body.update(spec)
    return {"apiVersion": "openslo/v1", "kind": "AlertPolicy", "metadata": {"name": name}, "spec": body}


def sel(metric: str, **eq: str) -> Selector:
    return Selector(metric, tuple(Matcher(k, MatchOp.EQ, v) for k, v in eq.items()))


# ---------------------------------------------------------------- detection


@pytest.mark.parametrize("data, mine", [
    ({"apiVersion": "openslo/v1", "kind": "SLO"}, True),
    ({"apiVersion": "openslo/v1alpha", "kind": "Service"}, True),
    ({"apiVersion": "openslo/v1", "kind": "Whatever"}, True),
    ({"apiVersion": "openslo/v2alpha", "kind": "SLO"}, False),
    ({"apiVersion": "openslo.com/v2alpha", "kind": "SLO"}, False),
    ({"apiVersion": "sloth.slok.dev/v1", "kind": "PrometheusServiceLevel"}, False),
    ({"version": "prometheus/v1"}, False),
    ([{"apiVersion": "openslo/v1", "kind": "SLI"}, {"apiVersion": "openslo/v1", "kind": "SLO"}], True),
    ([{"apiVersion": "openslo/v1"}, {"apiVersion": "openslo/v2alpha"}], False),
    ([], False),
    ("openslo/v1", False),
    (None, False),
])
def test_detect_claims_only_openslo_v1_and_v1alpha(data: object, mine: bool) -> None:
    assert openslo.detect(data) is mine


def test_formats_are_the_two_openslo_versions() -> None:
    assert openslo.FORMATS == (SourceFormat.OPENSLO_V1, SourceFormat.OPENSLO_V1ALPHA)


# ---------------------------------------------------------------- a whole SLO, field by field


def test_v1_slo_with_plain_counter_selectors_imports_field_by_field() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1
        kind: SLO
        metadata:
          name: checkout-availability
          displayName: Checkout availability
          labels:
            tier: "1"
        spec:
          description: Checkout requests succeed
          service: checkout
          indicator:
            metadata:
              name: ok-requests
            spec:
              ratioMetric:
                counter: true
                good:
                  metricSource:
                    type: prometheus
                    spec:
                      query: sum by (region) (http_requests_total{job="checkout",code!~"5.."})
                total:
                  metricSource:
                    type: Prometheus
                    spec:
                      query: sum by (region) (http_requests_total{job="checkout"})
          timeWindow:
            - duration: 4w
              isRolling: true
          budgetingMethod: Occurrences
          objectives:
            - displayName: Available
              targetPercent: 99.95
    """)
    slo = out.slo
    assert out.diagnostics == []
    assert (slo.service, slo.name, slo.id) == ("checkout", "checkout-availability", "checkout/checkout-availability")
    assert slo.objective == 99.95
    assert slo.window == RollingWindow(28 * DAY)
    assert slo.sli == RatioSLI(
        total=sel("http_requests_total", job="checkout"),
        good=Selector("http_requests_total", (
            Matcher("job", MatchOp.EQ, "checkout"), Matcher("code", MatchOp.NRE, "5.."),
        )),
        group_by=("region",),
    )
    assert slo.alerting.enabled and slo.alerting.conditions == default_conditions(28 * DAY)
    assert slo.description == "Checkout requests succeed"
    assert slo.labels == (("tier", "1"),)
    assert slo.source_format is SourceFormat.OPENSLO_V1
    assert slo.source is not None and (slo.source.file, slo.source.line) == ("file0.yaml", 2)


def test_sdk_v1_slo_example_is_refused_for_op_on_its_ratio_objective(peers_dir: Path) -> None:
    out = read_paths(peers_dir / "openslo/historical-sdk/v1/examples/slos.yaml")
    (error,) = out.errors
    assert error.field == "spec.objectives[0].op" and error.position.line == 40
    assert "forbids it on the objectives of a ratio SLI" in error.message and error.hint.startswith("remove op")
    assert out.result.slos == ()


def test_sdk_v1_slo_example_without_its_op_imports_with_its_calendar_week_and_labels(peers_dir: Path) -> None:
    path = peers_dir / "openslo/historical-sdk/v1/examples/slos.yaml"
    text = path.read_text()
    assert text.count("        op: gt\n") == 1
    out = run(split(load_text(text.replace("        op: gt\n", ""), str(path))))
    slo = out.slo
    assert (slo.service, slo.name, slo.objective) == ("web", "web-availability", 99.5)
    assert slo.window == CalendarWindow(CalendarUnit.WEEK, "America/New_York")
    assert slo.sli == RatioSLI(
        total=sel("http_requests", k8s_cluster="prod", component="web"),
        good=Selector("http_requests", (
            Matcher("k8s_cluster", MatchOp.EQ, "prod"), Matcher("component", MatchOp.EQ, "web"),
            Matcher("code", MatchOp.RE, "2xx|4xx"),
        )),
    )
    assert slo.labels == (("env", "prod"), ("team", "team-a,team-b"))
    assert slo.alerting.conditions == default_conditions(7 * DAY)
    out.warning("spec.budgetingMethod", "Timeslices is imported as Occurrences", "timeSliceTarget")
    out.warning("spec.timeWindow[0].calendar.startTime", "Monday", "ignored")
    out.warning("metadata.labels.team", "team-a,team-b")


def test_sloth_v1alpha_example_imports_as_a_ratio_of_windowed_counters(peers_dir: Path) -> None:
    out = read_paths(peers_dir / "sloth/examples/openslo-getting-started.yml")
    slo = out.slo
    assert out.diagnostics == []
    assert (slo.service, slo.name, slo.objective) == ("my-service", "sloth-slo-my-service", 99.9)
    assert slo.window == RollingWindow(30 * DAY)
    assert slo.sli == RatioSLI(
        total=sel("http_request_duration_seconds_count", job="myservice"),
        good=Selector("http_request_duration_seconds_count", (
            Matcher("job", MatchOp.EQ, "myservice"), Matcher("code", MatchOp.NRE, "(5..|429)"),
        )),
    )
    assert slo.description == "Common SLO based on availability for HTTP request responses."
    assert slo.source_format is SourceFormat.OPENSLO_V1ALPHA
    assert slo.alerting.conditions == default_conditions(30 * DAY)


def test_sloth_multi_objective_example_becomes_one_slo_per_objective(peers_dir: Path) -> None:
    out = read_paths(peers_dir / "sloth/examples/openslo-kubernetes-apiserver.yml")
    assert not out.errors
    assert [(s.name, s.objective) for s in out.result.slos] == [
        ("requests-availability-openslo", 99.9),
        ("requests-latency-openslo-0", 99.0),
        ("requests-latency-openslo-1", 99.9),
    ]
    latency = out.result.slos[1].sli
    assert isinstance(latency, RatioSLI) and latency.good is not None
    assert latency.good.metric == "apiserver_request_duration_seconds_bucket"
    out.warning("spec.objectives", "requests-latency-openslo-0, requests-latency-openslo-1")


# ---------------------------------------------------------------- every peer file: imported or rejected, and why

OK = ()
SCHEMA = "openslo/historical-schema-test/v1/"
SDK = "openslo/historical-sdk/"
RATIO_GOOD_TYPE = "spec.ratioMetric.good.metricSource.type"
RATIO_BAD_TYPE = "spec.ratioMetric.bad.metricSource.type"
INLINE = "spec.indicator.spec.ratioMetric."
THRESHOLD = ("spec.thresholdMetric", "thresholdMetric is not supported")
CALENDAR_DAY = ("spec.timeWindow[0].duration", "calendar days are not supported")
MISSING_SLI = ("spec.indicatorRef", "'indicator-ref-string'")
MISSING_POLICY = ("spec.alertPolicies[0]", "'foo-alert-policy'")
MISSING_CONDITION = ("spec.conditions[0].conditionRef", "'cpu-usage-breach'")
OP_ON_RATIO = ("spec.objectives[0].op", "forbids it on the objectives of a ratio SLI")

#: Each OpenSLO v1/v1alpha peer file: (SLOs, services, errors as (field, fragment)); no errors means it imports.
EXPECTED: dict[str, tuple[int, int, tuple[tuple[str, str], ...]]] = {
    "openslo/budgeting-method/occurences-slo.yaml": (0, 0, (
        ("spec.indicator.spec.thresholdMetric", "thresholdMetric is not supported"),)),
    "openslo/budgeting-method/ratio-timeslices.yaml": (0, 0, (
        (INLINE + "good.metricSource.type", "'Any'"), OP_ON_RATIO)),
    "openslo/budgeting-method/timeslices-slo.yaml": (0, 0, (
        ("spec.timeWindow[0].duration", "m is minutes; a calendar month is written 1M"),
        (INLINE + "total.metricSource.type", "'Any'"),
        OP_ON_RATIO,
    )),
    SCHEMA + "alert-condition/alert-condition-no-condition.yaml": (0, 0, (("spec.condition", "needs spec.condition"),)),
    SCHEMA + "alert-condition/alert-condition-no-description.yaml": (0, 0, OK),
    SCHEMA + "alert-condition/alert-condition-no-sev.yaml": (0, 0, (("spec.severity", "severity"),)),
    SCHEMA + "alert-condition/alert-condition.yaml": (0, 0, OK),
    SCHEMA + "alert-notification-target/alert-notification-target-no-description.yaml": (0, 0, OK),
    SCHEMA + "alert-notification-target/alert-notification-target-no-target.yaml": (0, 0, (
        ("spec.target", "spec.target"),)),
    SCHEMA + "alert-notification-target/alert-notification-target.yaml": (0, 0, OK),
    SCHEMA + "alert-policy/alert-policy-inline-cond.yaml": (0, 0, OK),
    SCHEMA + "alert-policy/alert-policy-malformed-cond.yaml": (0, 0, (("spec.conditions[0]", "conditionRef"),)),
    SCHEMA + "alert-policy/alert-policy-malformed-targetref.yaml": (0, 0, (
        ("spec.notificationTargets[0]", "targetRef"),)),
    SCHEMA + "alert-policy/alert-policy-many-cond.yaml": (0, 0, (("spec.conditions", "one condition"),)),
    SCHEMA + "alert-policy/alert-policy-many-notificationref.yaml": (0, 0, (MISSING_CONDITION,)),
    SCHEMA + "alert-policy/alert-policy-no-cond.yaml": (0, 0, (("spec.conditions", "needs conditions"),)),
    SCHEMA + "alert-policy/alert-policy-no-notification.yaml": (0, 0, (
        ("spec.notificationTargets", "notificationTargets"),)),
    SCHEMA + "alert-policy/alert-policy.yaml": (0, 0, (MISSING_CONDITION,)),
    SCHEMA + "data-source/data-source.yaml": (0, 0, OK),
    SCHEMA + "invalid-apiversion.yaml": (0, 0, (("kind", "not an openslo/v1alpha kind"),)),
    SCHEMA + "service/service-long-description.yaml": (0, 0, (("spec.description", "at most 1050"),)),
    SCHEMA + "service/service-no-displayname.yaml": (0, 1, OK),
    SCHEMA + "service/service.yaml": (0, 1, OK),
    SCHEMA + "sli/sli-description-ratio-bad-inline-metricsource.yaml": (0, 0, ((RATIO_BAD_TYPE, "'Redshift'"),)),
    SCHEMA + "sli/sli-description-ratio-bad-metricsourceref.yaml": (0, 0, OK),
    SCHEMA + "sli/sli-description-ratio-good-inline-metricsource.yaml": (0, 0, ((RATIO_GOOD_TYPE, "'Redshift'"),)),
    SCHEMA + "sli/sli-description-ratio-good-metricsourceref.yaml": (0, 0, OK),
    SCHEMA + "sli/sli-description-ratio-inline-metricsource.yaml": (0, 0, (
        ("spec.ratioMetric.bad", "good or bad, not both"),)),
    SCHEMA + "sli/sli-description-threshold-inline-metricsource.yaml": (0, 0, (THRESHOLD,)),
    SCHEMA + "sli/sli-description-threshold-metricsourceref.yaml": (0, 0, (THRESHOLD,)),
    SCHEMA + "sli/sli-no-description-ratio-bad-inline-metricsource.yaml": (0, 0, ((RATIO_BAD_TYPE, "'Redshift'"),)),
    SCHEMA + "sli/sli-no-description-ratio-bad-metricsourceref.yaml": (0, 0, OK),
    SCHEMA + "sli/sli-no-description-ratio-good-inline-metricsource.yaml": (0, 0, ((RATIO_GOOD_TYPE, "'Redshift'"),)),
    SCHEMA + "sli/sli-no-description-ratio-good-metricsourceref.yaml": (0, 0, OK),
    SCHEMA + "sli/sli-no-description-threshold-inline-metricsource.yaml": (0, 0, (THRESHOLD,)),
    SCHEMA + "sli/sli-no-description-threshold-metricsourceref.yaml": (0, 0, (THRESHOLD,)),
    SCHEMA + "sli/sli-ratio-good-and-bad.yaml": (0, 0, (("spec.ratioMetric.bad", "good or bad, not both"),)),
    SCHEMA + "slo/slo-indicatorref-calendar-alerts.yaml": (0, 0, (CALENDAR_DAY, MISSING_SLI, MISSING_POLICY)),
    SCHEMA + "slo/slo-indicatorref-calendar-no-alerts.yaml": (0, 0, (CALENDAR_DAY, MISSING_SLI)),
    SCHEMA + "slo/slo-indicatorref-rolling-alerts.yaml": (0, 0, (MISSING_SLI, MISSING_POLICY)),
    SCHEMA + "slo/slo-indicatorref-rolling-no-alerts.yaml": (0, 0, (MISSING_SLI,)),
    SCHEMA + "slo/slo-no-indicatorref-calendar-alerts.yaml": (0, 0, (
        CALENDAR_DAY, (INLINE + "good.metricSource.type", "'Datadog'"), MISSING_POLICY)),
    SCHEMA + "slo/slo-no-indicatorref-calendar-no-alerts.yaml": (0, 0, (
        CALENDAR_DAY, (INLINE + "good.metricSource.type", "'Datadog'"))),
    SCHEMA + "slo/slo-no-indicatorref-rolling-alerts.yaml": (0, 0, (
        (INLINE + "good.metricSource.type", "'Datadog'"), MISSING_POLICY)),
    SCHEMA + "slo/slo-no-indicatorref-rolling-no-alerts.yaml": (0, 0, (
        (INLINE + "total.metricSource.type", "'Datadog'"),)),
    SDK + "v1/examples/alert_conditions.yaml": (0, 0, OK),
    SDK + "v1/examples/alert_notification_targets.yaml": (0, 0, OK),
    SDK + "v1/examples/alert_policies.yaml": (0, 0, (MISSING_CONDITION,)),
    SDK + "v1/examples/data_sources.yaml": (0, 0, OK),
    SDK + "v1/examples/services.yaml": (0, 1, (("metadata.name", "another Service named 'example-service'"),)),
    SDK + "v1/examples/slis.yaml": (0, 0, (
        (RATIO_GOOD_TYPE, "'Datadog'"), (RATIO_BAD_TYPE, "'AppDynamics'"), THRESHOLD)),
    SDK + "v1/examples/slis.yml": (0, 0, (
        (RATIO_GOOD_TYPE, "'Datadog'"), ("spec.ratioMetric.description", "unknown key 'description'"), THRESHOLD)),
    SDK + "v1/examples/slos.yaml": (0, 0, (OP_ON_RATIO,)),
    SDK + "v1/examples/slos.yml": (0, 0, (("spec.indicator.spec.counter", "inside ratioMetric"), OP_ON_RATIO)),
    SDK + "v1alpha/examples/services.yaml": (0, 1, OK),
    SDK + "v1alpha/examples/slos.yaml": (0, 0, (
        ("spec.indicator.thresholdMetric", "thresholdMetric is not supported"),
        ("spec.objectives[0].ratioMetrics.good.source", "'datadog'"),
    )),
    SDK + "v1alpha/examples/slos.yml": (0, 0, (
        ("spec.timeWindow", "did you mean 'timeWindows'"), ("spec.indicator.metadata", "unknown key"))),
    # An openslo/v1 object in v2alpha's shape, filed among the v2alpha examples.
    SDK + "v2alpha/examples/slos.yml": (0, 0, (
        ("spec.sli", "unknown key 'sli'"), ("spec", "exactly one of indicator"))),
    "openslo/treat-low-traffic-as-equally-important/timeslices-slo.yaml": (0, 0, (
        (INLINE + "good.metricSource.type", "'Any'"), OP_ON_RATIO)),
    "sloth/examples/openslo-getting-started.yml": (1, 0, OK),
    "sloth/examples/openslo-kubernetes-apiserver.yml": (3, 0, OK),
    "sloth/integration-testdata/testdata/in-openslo.yaml": (1, 0, OK),
}


def peer_files(peers: Path) -> list[Path]:
    listed = [peers / "openslo" / line.strip().removeprefix("openslo-examples/")
              for line in (peers / "openslo/INDEX.txt").read_text().splitlines() if line.strip()]
    return listed + sorted((peers / "sloth/examples").glob("openslo-*.yml")) + sorted(
        (peers / "sloth/integration-testdata/testdata").glob("*openslo*.yaml"))


def mine(path: Path) -> list[Context]:
    return [c for c in split(load_file(path)) if openslo.detect(c.doc.data)]


def test_every_peer_file_is_either_pinned_here_or_not_openslo_v1(peers_dir: Path) -> None:
    claimed = {str(p.relative_to(peers_dir)) for p in peer_files(peers_dir) if mine(p)}
    assert claimed == set(EXPECTED)


def test_peer_files_of_other_versions_are_left_to_the_loader(peers_dir: Path) -> None:
    others = [p for p in peer_files(peers_dir) if not mine(p)]
    names = {str(p.relative_to(peers_dir)) for p in others}
    assert "openslo/historical-schema-test/invalid-apiversion.yaml" in names
    assert "openslo/historical-sdk/v2alpha/examples/slos.yaml" in names
    assert all("v2alpha" in n or n.endswith("historical-schema-test/invalid-apiversion.yaml") for n in names)


@pytest.mark.parametrize("relative", sorted(EXPECTED))
def test_peer_file_imports_or_is_rejected_with_a_precise_reason(peers_dir: Path, relative: str) -> None:
    slos, services, errors = EXPECTED[relative]
    out = run(mine(peers_dir / relative))
    assert len(out.result.slos) == slos
    assert len(out.result.services) == services
    if not errors:
        assert out.errors == [], [d.render() for d in out.errors]
    for field, fragment in errors:
        out.error(field, fragment)
    assert all(e.hint and e.position.line >= 1 for e in out.errors), [e.render() for e in out.errors]


def test_sdk_v1_examples_resolve_each_other_when_read_together(peers_dir: Path) -> None:
    folder = peers_dir / "openslo/historical-sdk/v1/examples"
    out = read_paths(*(folder / f for f in (
        "alert_conditions.yaml", "alert_notification_targets.yaml", "alert_policies.yaml", "data_sources.yaml",
        "slos.yaml",
    )))
    assert [e.field for e in out.errors] == ["spec.objectives[0].op"], [d.render() for d in out.errors]
    out.warning("spec.notificationTargets", "on-call-mail-notification", "Alertmanager")


def test_alert_condition_without_severity_is_rejected_naming_severity(peers_dir: Path) -> None:
    path = peers_dir / "openslo/historical-schema-test/v1/alert-condition/alert-condition-no-sev.yaml"
    out = run(mine(path))
    assert [d.field for d in out.errors] == ["spec.severity"]
    assert out.errors[0].position.line == 7


def test_datadog_sli_is_rejected_naming_its_source(peers_dir: Path) -> None:
    out = run(mine(peers_dir / "openslo/historical-sdk/v1/examples/slis.yaml"))
    d = out.error("spec.ratioMetric.good.metricSource.type", "'Datadog'", "Prometheus only")
    assert d.position.line == 19


# ---------------------------------------------------------------- services


def test_service_takes_description_and_labels() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1
        kind: Service
        metadata:
          name: checkout
          displayName: Checkout
          labels: {team: payments, tags: [auth]}
        spec:
          description: Takes the money
    """)
    assert not out.errors
    (service,) = out.result.services
    assert (service.name, service.description, service.labels) == (
        "checkout", "Takes the money", (("tags", "auth"), ("team", "payments")))
    assert service.source is not None and service.source.line == 2


def test_service_without_description_is_described_by_its_display_name() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1alpha
        kind: Service
        metadata: {name: web, displayName: The web front}
        spec: {}
    """)
    assert out.result.services[0].description == "The web front"


def test_two_objects_of_a_kind_with_one_name_are_refused() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1
        kind: Service
        metadata: {name: web}
        spec: {}
        ---
        apiVersion: openslo/v1
        kind: Service
        metadata: {name: web}
        spec: {}
    """)
    assert len(out.result.services) == 1
    out.error("metadata.name", "another Service named 'web'", "file0.yaml:2")


@pytest.mark.parametrize(("name", "suggested"), [
    ("example service", "example-service"),
    ("Checkout", "checkout"),
    ("checkoutAvailability", "checkout-availability"),
    ("web_availability", "web-availability"),
    ("-web-", "web"),
    ("web.availability", "web-availability"),
    ("a" * 64, "a" * 63),
])
def test_object_names_that_are_not_dns_labels_are_refused_with_the_normalised_name(name: str, suggested: str) -> None:
    out = read_docs(slo_doc(name))
    error = out.error("metadata.name", "RFC 1123 DNS label")
    assert repr(name) in error.message and error.position.line == 4
    assert error.hint == f"rename it to {suggested!r}, and every reference to it"
    assert out.result.slos == ()


def test_names_that_are_dns_labels_are_accepted() -> None:
    for name in ("a", "9", "web-1", "x" * 63):
        assert read_docs(slo_doc(name)).slo.name == name


def test_a_reference_to_a_misnamed_object_points_at_its_error() -> None:
    out = read_docs(sli_doc("Good_Requests", ratio("ok_total", counter=True)),
                    slo_doc(indicator=DROP, indicatorRef="Good_Requests"))
    out.error("metadata.name", "'Good_Requests'", "'good-requests'")
    out.error("spec.indicatorRef", "SLI 'Good_Requests' could not be read", "docs.yaml:1:1")
    assert out.result.slos == ()


def test_misnamed_service_inline_indicator_and_inline_condition_are_refused() -> None:
    service = {"apiVersion": "openslo/v1", "kind": "Service", "metadata": {"name": "Web Shop"}, "spec": {}}
    inline_sli = slo_doc()
    inline_sli["spec"]["indicator"]["metadata"]["name"] = "OK requests"
    inline_condition = policy_doc(conditions=[{"kind": "AlertCondition", "metadata": {"name": "Fast_Burn"},
                                               "spec": condition_doc()["spec"]}])
    out = read_docs(service, inline_sli, inline_condition, slo_doc("b", alertPolicies=[{"alertPolicyRef": "paging"}]))
    assert out.result.services == () and out.result.slos == ()
    assert sorted(e.hint for e in out.errors if e.field.endswith("metadata.name")) == [
        "rename it to 'fast-burn', and every reference to it",
        "rename it to 'ok-requests', and every reference to it",
        "rename it to 'web-shop', and every reference to it",
    ]
    out.error("spec.alertPolicies[0].alertPolicyRef", "AlertPolicy 'paging' could not be read")


def test_v1alpha_names_must_be_dns_labels_too() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1alpha
        kind: Service
        metadata: {name: My_Service}
        spec: {}
    """)
    out.error("metadata.name", "'my-service'")
    assert out.result.services == ()


def test_labels_with_list_values_or_unusable_names_are_carried_with_warnings() -> None:
    doc = slo_doc()
    doc["metadata"]["labels"] = {"team": ["a", "b"], "cost.centre": "x1"}
    out = read_docs(doc)
    assert out.slo.labels == (("cost_centre", "x1"), ("team", "a,b"))
    out.warning("metadata.labels.team", "'a,b'")
    out.warning("metadata.labels.cost.centre", "'cost_centre'")


def test_annotations_and_sli_labels_are_warned_about_not_dropped_silently() -> None:
    doc = slo_doc()
    doc["metadata"]["annotations"] = {"openslo.com/service-folder": "./x"}
    sli = sli_doc("ok", ratio("good_total"))
    sli["metadata"]["labels"] = {"team": "a"}
    out = read_docs(sli, slo_doc(indicator=DROP, indicatorRef="ok") | {"metadata": doc["metadata"]})
    out.warning("metadata.annotations", "not carried over")
    out.warning("metadata.labels", "labels of an SLI are not carried over")


# ---------------------------------------------------------------- objectives and names


def test_target_fraction_becomes_a_percentage() -> None:
    out = read_docs(slo_doc(objectives=[{"target": 0.9995}]))
    assert out.slo.objective == 99.95
    assert out.slo.target == 0.9995


def test_target_and_target_percent_together_are_refused() -> None:
    out = read_docs(slo_doc(objectives=[{"target": 0.99, "targetPercent": 99}]))
    out.error("spec.objectives[0].targetPercent", "not both")
    assert out.result.slos == ()


def test_target_written_as_a_percentage_is_refused_with_the_fraction() -> None:
    out = read_docs(slo_doc(objectives=[{"target": 99.9}]))
    out.error("spec.objectives[0].target", "not a fraction", "target: 0.999", "targetPercent: 99.9")


@pytest.mark.parametrize("objective, field, fragment", [
    ({"target": 1}, "spec.objectives[0].target", "no error budget"),
    ({"target": 0}, "spec.objectives[0].target", "outside (0, 1)"),
    ({"targetPercent": 100}, "spec.objectives[0].targetPercent", "no error budget"),
    ({"targetPercent": 120}, "spec.objectives[0].targetPercent", "outside (0, 100)"),
    ({"targetPercent": "99.9"}, "spec.objectives[0].targetPercent", "must be a number"),
    ({"displayName": "x"}, "spec.objectives[0]", "needs target"),
    ({"target": 0.99, "targetPrecent": 99}, "spec.objectives[0].targetPrecent", "did you mean 'targetPercent'"),
])
def test_objective_out_of_range_or_malformed_is_refused(objective: dict, field: str, fragment: str) -> None:
    out = read_docs(slo_doc(objectives=[objective]))
    out.error(field, fragment)
    assert out.result.slos == ()


def test_several_objectives_are_named_by_their_display_names() -> None:
    doc = slo_doc(objectives=[{"displayName": "Internal goal", "target": 0.995},
                              {"displayName": "SLA", "target": 0.99}])
    (document,) = load_text(yaml.safe_dump(doc, sort_keys=False), "docs.yaml")
    out = run([Context(document)])
    assert not out.errors
    assert [(s.name, s.objective, s.description) for s in out.result.slos] == [
        ("checkout-availability-internal-goal", 99.5, "Internal goal"),
        ("checkout-availability-sla", 99.0, "SLA"),
    ]
    assert [s.source for s in out.result.slos] == [document.position(("spec", "objectives", i)) for i in (0, 1)]
    out.warning("spec.objectives", "2 objectives become 2 SLOs")


def test_several_objectives_without_distinct_display_names_are_numbered() -> None:
    out = read_docs(slo_doc(objectives=[{"displayName": "Good", "target": 0.99},
                                        {"displayName": "good", "target": 0.9}]))
    assert [s.name for s in out.result.slos] == ["checkout-availability-0", "checkout-availability-1"]


def test_op_and_value_on_an_inline_ratio_objective_are_refused_as_openslo_does() -> None:
    out = read_docs(slo_doc(objectives=[{"op": "gt", "value": 1, "target": 0.99}]))
    assert out.result.slos == ()
    op, value = out.error("spec.objectives[0].op", "thresholdMetric"), out.error("spec.objectives[0].value")
    assert op.hint.startswith("remove op and value") and value.hint.startswith("remove op and value")


def test_op_on_an_objective_of_a_referenced_ratio_sli_is_refused_too() -> None:
    out = read_docs(sli_doc("ok", ratio("ok_total", counter=True)),
                    slo_doc(indicator=DROP, indicatorRef="ok", objectives=[{"op": "lte", "target": 0.99}]))
    assert out.result.slos == ()
    assert out.error("spec.objectives[0].op", "ratio SLI").hint.startswith("remove op;")


def test_op_on_a_threshold_objective_is_left_to_the_threshold_refusal(peers_dir: Path) -> None:
    out = read_paths(peers_dir / "openslo/budgeting-method/occurences-slo.yaml")
    assert [e.field for e in out.errors] == ["spec.indicator.spec.thresholdMetric"]
    assert not [d for d in out.diagnostics if d.field.endswith(".op")]


def test_v1alpha_ratio_objective_refuses_op_but_only_warns_about_its_required_value() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1alpha
        kind: SLO
        metadata: {name: web}
        spec:
          service: web
          timeWindows: [{unit: Day, count: 28, isRolling: true}]
          budgetingMethod: Occurrences
          objectives:
            - target: 0.99
              value: 1
              op: gt
              ratioMetrics:
                counter: true
                good: {source: prometheus, queryType: promql, query: 'ok_total'}
                total: {source: prometheus, queryType: promql, query: 'all_total'}
    """)
    assert [e.field for e in out.errors] == ["spec.objectives[0].op"]
    assert out.errors[0].position.line == 12
    out.warning("spec.objectives[0].value", "ignored")


def test_composite_objectives_are_refused() -> None:
    out = read_docs(slo_doc(objectives=[{"target": 0.99, "indicatorRef": "other"}]))
    out.error("spec.objectives[0].indicatorRef", "composite")


# ---------------------------------------------------------------- windows


def test_calendar_month_window_keeps_its_time_zone() -> None:
    calendar = {"startTime": "2024-01-01 00:00:00", "timeZone": "Europe/Berlin"}
    out = read_docs(slo_doc(timeWindow=[{"duration": "1M", "isRolling": False, "calendar": calendar}]))
    assert out.slo.window == CalendarWindow(CalendarUnit.MONTH, "Europe/Berlin")
    assert out.warnings == []


def test_calendar_window_needs_no_is_rolling_when_a_calendar_is_given() -> None:
    out = read_docs(slo_doc(timeWindow=[{"duration": "1Q", "calendar": {"timeZone": "UTC"}}]))
    assert out.slo.window == CalendarWindow(CalendarUnit.QUARTER, "UTC")


def test_calendar_week_without_calendar_block_is_counted_in_utc_with_a_warning() -> None:
    out = read_docs(slo_doc(timeWindow=[{"duration": "1w", "isRolling": False}]))
    assert out.slo.window == CalendarWindow(CalendarUnit.WEEK, "UTC")
    out.warning("spec.timeWindow[0].duration", "UTC")


def test_calendar_start_time_that_is_no_period_start_is_ignored_with_a_warning() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: s}
        spec:
          service: web
          indicator:
            spec:
              ratioMetric:
                counter: true
                good: {metricSource: {type: Prometheus, spec: {query: ok_total}}}
                total: {metricSource: {type: Prometheus, spec: {query: all_total}}}
          timeWindow:
            - duration: 1M
              calendar: {startTime: 2024-01-15 12:00:00, timeZone: America/New_York}
          budgetingMethod: Occurrences
          objectives: [{target: 0.99}]
    """)
    assert out.slo.window == CalendarWindow(CalendarUnit.MONTH, "America/New_York")
    out.warning("spec.timeWindow[0].calendar.startTime", "the 1st of a month", "2024-01-15 12:00", "ignored")


@pytest.mark.parametrize("duration, fragment", [
    ("1m", "m is minutes; a calendar month is written 1M"),
    ("1d", "calendar days are not supported"),
    ("1Y", "calendar years are not supported"),
    ("2w", "only a single calendar week"),
])
def test_calendar_windows_other_than_a_week_month_or_quarter_are_refused_with_the_reason(
    duration: str, fragment: str
) -> None:
    out = read_docs(slo_doc(timeWindow=[{"duration": duration, "calendar": {"timeZone": "UTC"}}]))
    out.error("spec.timeWindow[0].duration", fragment)


@pytest.mark.parametrize("duration, seconds", [("30d", 30 * DAY), ("4w", 28 * DAY), ("12h", 12 * 3600), ("90m", 5400)])
def test_rolling_windows_are_exact_durations(duration: str, seconds: int) -> None:
    out = read_docs(slo_doc(timeWindow=[{"duration": duration, "isRolling": True}]))
    assert out.slo.window == RollingWindow(seconds)


def test_rolling_month_is_taken_as_thirty_days_with_a_warning() -> None:
    out = read_docs(slo_doc(timeWindow=[{"duration": "1M", "isRolling": True}]))
    assert out.slo.window == RollingWindow(30 * DAY)
    out.warning("spec.timeWindow[0].duration", "taken as 30d")


def test_missing_time_window_means_a_rolling_thirty_days_with_a_warning() -> None:
    out = read_docs(slo_doc(timeWindow=DROP))
    assert out.slo.window == RollingWindow(30 * DAY)
    out.warning("spec", "no timeWindow", "30d")


@pytest.mark.parametrize("window, field, fragment", [
    ([{"duration": "30 days", "isRolling": True}], "spec.timeWindow[0].duration", "not an OpenSLO duration"),
    ([{"duration": "0d", "isRolling": True}], "spec.timeWindow[0].duration", "zero"),
    ([{"duration": "1M", "isRolling": True, "calendar": {"timeZone": "UTC"}}],
     "spec.timeWindow[0].isRolling", "not both"),
    ([{"duration": "1M", "calendar": {"timeZone": "Mars/Olympus"}}], "spec.timeWindow[0].calendar.timeZone", "IANA"),
    ([{"duration": "1M", "calendar": {"startTime": "soon", "timeZone": "UTC"}}],
     "spec.timeWindow[0].calendar.startTime", "not a date"),
    ([{"duration": "7d", "isRolling": "yes"}], "spec.timeWindow[0].isRolling", "true or false"),
    ([{"duration": "7d"}, {"duration": "28d"}], "spec.timeWindow", "exactly one"),
    ({"duration": "7d"}, "spec.timeWindow", "exactly one"),
])
def test_malformed_time_windows_are_refused(window: object, field: str, fragment: str) -> None:
    out = read_docs(slo_doc(timeWindow=window))
    out.error(field, fragment)
    assert out.result.slos == ()


# ---------------------------------------------------------------- budgeting


def test_timeslices_budgeting_is_imported_as_occurrences_saying_what_changes() -> None:
    out = read_docs(slo_doc(budgetingMethod="Timeslices",
                            objectives=[{"target": 0.99, "timeSliceTarget": 0.95, "timeSliceWindow": "1m"}]))
    assert out.slo.objective == 99.0
    out.warning("spec.budgetingMethod", "imported as Occurrences", "good events among all events",
                "timeSliceTarget and timeSliceWindow are ignored")


def test_ratio_timeslices_budgeting_is_imported_as_occurrences_with_a_warning() -> None:
    out = read_docs(slo_doc(budgetingMethod="RatioTimeslices", objectives=[{"target": 0.99, "timeSliceWindow": "5m"}]))
    assert out.slo.objective == 99.0
    out.warning("spec.budgetingMethod", "RatioTimeslices is imported as Occurrences", "timeSliceWindow is ignored")


def test_time_slice_fields_under_occurrences_are_warned_as_ignored() -> None:
    out = read_docs(slo_doc(objectives=[{"target": 0.99, "timeSliceTarget": 0.9}]))
    out.warning("spec.objectives[0].timeSliceTarget", "only applies to Timeslices")


@pytest.mark.parametrize("method, fragment", [(DROP, "needs budgetingMethod"), ("Events", "not one of Occurrences")])
def test_missing_or_unknown_budgeting_method_is_refused(method: object, fragment: str) -> None:
    out = read_docs(slo_doc(budgetingMethod=method))
    out.error("spec.budgetingMethod", fragment)


# ---------------------------------------------------------------- SLIs


def test_plain_selectors_of_counters_become_a_ratio_sli() -> None:
    out = read_docs(with_ratio(ratio(bad='requests_total{code=~"5.."}', counter=True)))
    assert out.slo.sli == RatioSLI(total=sel("requests_total"),
                                   bad=Selector("requests_total", (Matcher("code", MatchOp.RE, "5.."),)))


def test_windowed_counter_queries_become_a_ratio_sli_with_their_grouping() -> None:
    rm = ratio("sum by (route) (increase(ok_total[{{.window}}]))", "sum by (route) (rate(all_total[$window]))")
    out = read_docs(with_ratio(rm))
    assert out.slo.sli == RatioSLI(total=sel("all_total"), good=sel("ok_total"), group_by=("route",))
    assert out.warnings == []


def test_other_windowed_queries_become_raw_event_counts() -> None:
    good = 'sum(rate(ok_total[{{.window}}])) + sum(rate(cached_total[{{.window}}]))'
    total = 'sum(rate(all_total[{{.window}}]))'
    out = read_docs(with_ratio(ratio(good, total)))
    assert out.slo.sli == RawSLI(good=good, total=total)


def test_counter_query_without_a_window_is_refused_with_how_to_write_it() -> None:
    out = read_docs(with_ratio(ratio("sum(rate(ok_total[5m]))", "sum(rate(all_total[5m]))", counter=True)))
    d = out.error("spec.indicator.spec.ratioMetric.good.metricSource.spec.query", "no window placeholder")
    assert "[{{.window}}]" in d.hint and "plain counter selector" in d.message
    out.error("spec.indicator.spec.ratioMetric.total.metricSource.spec.query", "no window placeholder")


def test_plain_selector_and_windowed_counter_query_both_give_selectors() -> None:
    out = read_docs(with_ratio(ratio("ok_total", "sum(rate(all_total[{{.window}}]))", counter=True)))
    assert out.slo.sli == RatioSLI(total=sel("all_total"), good=sel("ok_total"))


def test_plain_selector_paired_with_a_raw_windowed_query_is_refused() -> None:
    out = read_docs(with_ratio(ratio("ok_total", "2 * sum(rate(all_total[{{.window}}]))", counter=True)))
    out.error("spec.indicator.spec.ratioMetric.good.metricSource.spec.query", "can't be paired")


def test_different_grouping_of_good_and_total_is_refused() -> None:
    out = read_docs(with_ratio(ratio("sum by (a) (ok_total)", "sum by (b) (all_total)", counter=True)))
    out.error("spec.indicator.spec.ratioMetric.total.metricSource.spec.query", "summed by (a)", "by (b)")


def test_plain_selectors_declared_as_gauges_are_refused() -> None:
    out = read_docs(with_ratio(ratio("ok", "all", counter=False)))
    out.error("spec.indicator.spec.ratioMetric.counter", "gauges", "sum_over_time")


def test_plain_selectors_without_counter_flag_are_read_as_counters_with_a_warning() -> None:
    out = read_docs(with_ratio(ratio("ok_total", "all_total")))
    assert out.slo.sli == RatioSLI(total=sel("all_total"), good=sel("ok_total"))
    out.warning("spec.indicator.spec.ratioMetric", "counter is not set")


def test_query_that_does_not_parse_is_refused_with_the_parser_message() -> None:
    out = read_docs(with_ratio(ratio("sum(ok_total", "all_total", counter=True)))
    out.error("spec.indicator.spec.ratioMetric.good.metricSource.spec.query", "does not parse")


def test_raw_failure_ratio_is_the_error_ratio() -> None:
    query = "sum(rate(errors_total[{{.window}}])) / sum(rate(requests_total[{{.window}}]))"
    out = read_docs(with_ratio({"rawType": "failure", "raw": prom(query)}))
    assert out.slo.sli == RawSLI(error_ratio=query)


def test_raw_success_ratio_becomes_one_minus_the_query_built_from_its_parse() -> None:
    query = 'sum(rate(ok_total{path="a\\"b"}[$window])) / sum(rate(all_total[$window])) # success share'
    out = read_docs(with_ratio({"rawType": "success", "raw": prom(query)}))
    sli = out.slo.sli
    assert isinstance(sli, RawSLI) and sli.error_ratio is not None
    assert sli.error_ratio == "1 - (\n" + query + "\n)"
    assert 'path="a\\"b"' in sli.error_ratio
    node = parse(substitute_window(sli.error_ratio, "5m"))
    assert str(node.op) == "-"


def test_sdk_raw_success_sli_imports() -> None:
    out = read_yaml("""
        - apiVersion: openslo/v1
          kind: SLI
          metadata: {name: wifi}
          spec:
            ratioMetric:
              rawType: success
              raw:
                metricSource:
                  type: Prometheus
                  spec:
                    query: |
                      sum(sum_over_time(satisfaction_ratio[{{.window}}]))
                      / sum(count_over_time(satisfaction_ratio[{{.window}}]))
        - apiVersion: openslo/v1
          kind: SLO
          metadata: {name: wifi}
          spec:
            service: wifi
            indicatorRef: wifi
            timeWindow: [{duration: 7d, isRolling: true}]
            budgetingMethod: Occurrences
            objectives: [{target: 0.9}]
    """)
    sli = out.slo.sli
    assert isinstance(sli, RawSLI) and sli.error_ratio is not None and sli.error_ratio.startswith("1 - (\n")


@pytest.mark.parametrize("rm, field, fragment", [
    ({"rawType": "success", "raw": prom("sum(rate(ok_total[5m]))")}, INLINE + "raw.metricSource.spec.query",
     "window placeholder"),
    ({"raw": prom("x[$window]")}, INLINE + "rawType", "success or failure"),
    ({"rawType": "good", "raw": prom("x")}, INLINE + "rawType", "success or failure"),
    ({"rawType": "success", "raw": prom("x"), "total": prom("y")}, INLINE + "raw", "can't be combined with total"),
    ({"rawType": "success", "good": prom("x"), "total": prom("y")}, INLINE + "rawType", "only goes with raw"),
    ({"rawType": "success", "raw": prom('{__name__="x"}[$window]')}, INLINE + "raw.metricSource.spec.query",
     "does not parse"),
])
def test_malformed_raw_ratios_are_refused(rm: dict, field: str, fragment: str) -> None:
    out = read_docs(with_ratio(rm))
    out.error(field, fragment)


@pytest.mark.parametrize("rm, field, fragment", [
    (ratio("ok", "all", bad="bad"), "spec.indicator.spec.ratioMetric.bad", "not both"),
    ({"total": prom("all")}, "spec.indicator.spec.ratioMetric", "needs good or bad"),
    ({"good": prom("ok")}, "spec.indicator.spec.ratioMetric", "needs total"),
    ({"good": {"metricSource": {"type": "Prometheus", "spec": {}}}, "total": prom("all")},
     "spec.indicator.spec.ratioMetric.good.metricSource.spec.query", "query is needed"),
    ({"good": {"query": "ok"}, "total": prom("all")}, INLINE + "good", "expected a metricSource"),
    ({"counter": "yes", "good": prom("ok"), "total": prom("all")}, INLINE + "counter", "true or false"),
])
def test_malformed_ratio_metrics_are_refused(rm: dict, field: str, fragment: str) -> None:
    out = read_docs(with_ratio(rm))
    out.error(field, fragment)
    assert out.result.slos == ()


def test_threshold_metric_is_refused_saying_why_and_what_to_use() -> None:
    out = read_docs(slo_doc(indicator={"spec": {"thresholdMetric": prom("latency_ms")}}))
    d = out.error("spec.indicator.spec.thresholdMetric", "not supported", "single samples")
    assert "ratioMetric" in d.hint and "_bucket" in d.hint


def test_non_prometheus_source_is_refused_naming_the_source() -> None:
    rm = {"good": {"metricSource": {"type": "CloudWatch", "spec": {"query": "x"}}}, "total": prom("all")}
    out = read_docs(with_ratio(rm))
    out.error("spec.indicator.spec.ratioMetric.good.metricSource.type", "'CloudWatch'", "Prometheus only")


def test_metric_source_type_comes_from_the_referenced_data_source() -> None:
    source = {"apiVersion": "openslo/v1", "kind": "DataSource", "metadata": {"name": "prom"},
              "spec": {"type": "Prometheus", "connectionDetails": {"url": "http://p:9090"}}}
    ref = {"metricSourceRef": "prom", "spec": {"query": "ok_total"}}
    total = {**ref, "spec": {"query": "all_total"}}
    rm = {"counter": True, "good": {"metricSource": ref}, "total": {"metricSource": total}}
    out = read_docs(source, with_ratio(rm))
    assert out.slo.sli == RatioSLI(total=sel("all_total"), good=sel("ok_total"))


def test_data_source_of_another_kind_is_refused_naming_its_type() -> None:
    source = {"apiVersion": "openslo/v1", "kind": "DataSource", "metadata": {"name": "dd"}, "spec": {"type": "Datadog"}}
    ref = {"metricSource": {"metricSourceRef": "dd", "spec": {"query": "x"}}}
    out = read_docs(source, with_ratio({"good": ref, "total": ref}))
    out.error("spec.indicator.spec.ratioMetric.good.metricSource.metricSourceRef", "'Datadog'")


def test_type_that_contradicts_the_data_source_is_refused() -> None:
    source = {"apiVersion": "openslo/v1", "kind": "DataSource", "metadata": {"name": "dd"}, "spec": {"type": "Datadog"}}
    ref = {"metricSource": {"metricSourceRef": "dd", "type": "Prometheus", "spec": {"query": "x"}}}
    out = read_docs(source, with_ratio({"good": ref, "total": ref}))
    out.error("spec.indicator.spec.ratioMetric.good.metricSource.type", "contradicts DataSource 'dd'")


def test_metric_source_with_neither_type_nor_known_data_source_is_refused() -> None:
    ref = {"metricSource": {"metricSourceRef": "nowhere", "spec": {"query": "x"}}}
    out = read_docs(with_ratio({"good": ref, "total": ref}))
    out.error("spec.indicator.spec.ratioMetric.good.metricSource", "no type", "'nowhere' is not among the files read")


def test_indicator_ref_finds_an_sli_in_another_file() -> None:
    out = read_yaml(
        """
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: api}
        spec:
          service: api
          indicatorRef: api-errors
          timeWindow: [{duration: 28d, isRolling: true}]
          budgetingMethod: Occurrences
          objectives: [{target: 0.995}]
        """,
        """
        apiVersion: openslo/v1
        kind: SLI
        metadata: {name: api-errors}
        spec:
          ratioMetric:
            counter: true
            bad: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code=~"5.."}'}}}
            total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}
        """,
    )
    assert out.slo.sli == RatioSLI(total=sel("http_requests_total"),
                                   bad=Selector("http_requests_total", (Matcher("code", MatchOp.RE, "5.."),)))


def test_unknown_indicator_ref_is_refused_with_a_did_you_mean() -> None:
    out = read_docs(sli_doc("api-errors", ratio("ok", counter=True)), slo_doc(indicator=DROP, indicatorRef="api-error"))
    out.error("spec.indicatorRef", "no SLI named 'api-error'", "did you mean 'api-errors'?")


def test_indicator_ref_to_a_broken_sli_says_where_its_errors_are() -> None:
    broken = sli_doc("api", {"good": {"metricSource": {"type": "Datadog", "spec": {"query": "x"}}}, "total": prom("y")})
    out = read_docs(broken, slo_doc(indicator=DROP, indicatorRef="api"))
    out.error("spec.ratioMetric.good.metricSource.type", "'Datadog'")
    out.error("spec.indicatorRef", "SLI 'api' could not be read", "docs.yaml:")
    assert out.result.slos == ()


def test_indicator_and_indicator_ref_together_are_refused() -> None:
    out = read_docs(slo_doc(indicatorRef="other"))
    out.error("spec", "exactly one of indicator")


def test_counter_beside_ratio_metric_is_refused_saying_where_it_belongs() -> None:
    out = read_docs(slo_doc(indicator={"spec": {"counter": True, "ratioMetric": ratio("ok", "all")}}))
    out.error("spec.indicator.spec.counter", "belongs inside ratioMetric")


# ---------------------------------------------------------------- alert policies


def test_burn_rate_condition_becomes_a_multiwindow_alert() -> None:
    out = read_docs(condition_doc(), policy_doc(), slo_doc(alertPolicies=[{"alertPolicyRef": "paging"}]))
    slo = out.slo
    period = 28 * DAY
    assert slo.alerting.conditions == (condition(AlertSeverity.PAGE, 3600, 300, period, factor=14.4, for_seconds=120),)
    alert = slo.alerting.conditions[0]
    assert (alert.severity, alert.long_seconds, alert.short_seconds, alert.burn_factor, alert.for_seconds) == (
        AlertSeverity.PAGE, 3600, 300, 14.4, 120)
    assert slo.alerting.enabled and slo.alerting.name == "paging"
    out.warning("spec.notificationTargets", "on-call", "Alertmanager")


@pytest.mark.parametrize("lookback, short", [("15m", 60), ("1h", 300), ("6h", 1800), ("1d", 7200), ("5m", 60)])
def test_short_window_is_a_twelfth_of_the_lookback_in_whole_minutes(lookback: str, short: int) -> None:
    out = read_docs(condition_doc(lookbackWindow=lookback, threshold=2), policy_doc(),
                    slo_doc(alertPolicies=["paging"]))
    assert out.slo.alerting.conditions[0].short_seconds == short


def test_inline_policy_with_inline_condition_is_read() -> None:
    inline = policy_doc("inline", conditions=[{
        "kind": "AlertCondition", "metadata": {"name": "slow-burn"},
        "spec": {"severity": "ticket", "condition": {"kind": "burnrate", "threshold": 1, "lookbackWindow": "3d"}},
    }])
    del inline["apiVersion"]
    out = read_docs(slo_doc(alertPolicies=[inline]))
    (alert,) = out.slo.alerting.conditions
    assert (alert.severity, alert.long_seconds, alert.short_seconds, alert.burn_factor, alert.for_seconds) == (
        AlertSeverity.TICKET, 3 * DAY, 6 * 3600, 1.0, 0)


def test_several_policies_are_merged_and_their_labels_label_the_alerts() -> None:
    fast = condition_doc("fast-burn")
    slow = condition_doc("slow-burn", severity="warning", threshold=1, lookbackWindow="3d")
    p1 = policy_doc("paging")
    p1["metadata"]["labels"] = {"team": "payments"}
    p2 = policy_doc("tickets", conditions=[{"conditionRef": "slow-burn"}])
    out = read_docs(fast, slow, p1, p2, slo_doc(alertPolicies=["paging", {"alertPolicyRef": "tickets"}]))
    alerting = out.slo.alerting
    assert [(c.severity, c.long_seconds) for c in alerting.conditions] == [
        (AlertSeverity.PAGE, 3600), (AlertSeverity.TICKET, 3 * DAY)]
    assert alerting.name == "paging,tickets"
    assert alerting.labels == (("team", "payments"),)


def test_slo_without_alert_policies_gets_the_workbook_defaults_for_its_period() -> None:
    out = read_docs(slo_doc(timeWindow=[{"duration": "1Q", "calendar": {"timeZone": "UTC"}}]))
    assert out.slo.alerting.conditions == default_conditions(90 * DAY)


@pytest.mark.parametrize("severity, expected, warned", [
    ("page", AlertSeverity.PAGE, False),
    ("Critical", AlertSeverity.PAGE, False),
    ("high", AlertSeverity.PAGE, False),
    ("ticket", AlertSeverity.TICKET, False),
    ("warning", AlertSeverity.TICKET, False),
    ("sev1", AlertSeverity.TICKET, True),
])
def test_severity_pages_only_when_it_says_so_and_warns_when_guessing(
    severity: str, expected: AlertSeverity, warned: bool
) -> None:
    out = read_docs(condition_doc(severity=severity), policy_doc(), slo_doc(alertPolicies=["paging"]))
    assert out.slo.alerting.conditions[0].severity is expected
    assert any(d.field == "spec.severity" for d in out.warnings) is warned


def test_less_than_op_is_warned_because_alerts_fire_above_the_threshold() -> None:
    out = read_docs(condition_doc(op="lte"))
    out.warning("spec.condition.op", "above the threshold")


def test_condition_that_could_never_fire_is_refused() -> None:
    out = read_docs(condition_doc(threshold=200, lookbackWindow="1h"), policy_doc(),
                    slo_doc(objectives=[{"target": 0.99}], alertPolicies=["paging"]))
    out.error("spec.alertPolicies[0]", "can never fire", "200", "at most 100")
    assert out.result.slos == ()


def test_condition_looking_back_further_than_the_slo_window_is_refused() -> None:
    out = read_docs(condition_doc(lookbackWindow="2w", threshold=1), policy_doc(),
                    slo_doc(timeWindow=[{"duration": "7d", "isRolling": True}], alertPolicies=["paging"]))
    out.error("spec.alertPolicies[0]", "looks back 2w", "longer than the SLO's 7d window")


def test_policy_that_does_not_alert_on_breach_disables_alerting_with_a_warning() -> None:
    out = read_docs(condition_doc(), policy_doc(alertWhenBreaching=False), slo_doc(alertPolicies=["paging"]))
    assert out.slo.alerting.enabled is False and out.slo.alerting.conditions == ()
    out.warning("spec.alertWhenBreaching", "raises no burn-rate alert")


def test_no_data_and_resolved_notices_are_warned_as_not_imported() -> None:
    out = read_docs(condition_doc(), policy_doc(alertWhenNoData=True, alertWhenResolved=True))
    out.warning("spec.alertWhenNoData", "not imported")
    out.warning("spec.alertWhenResolved", "Alertmanager")


def test_unknown_alert_policy_ref_is_refused_with_a_did_you_mean() -> None:
    out = read_docs(condition_doc(), policy_doc(), slo_doc(alertPolicies=[{"alertPolicyRef": "pageing"}]))
    out.error("spec.alertPolicies[0].alertPolicyRef", "no AlertPolicy named 'pageing'", "did you mean 'paging'?")


@pytest.mark.parametrize("fields, field, fragment", [
    ({"lookbackWindow": "1M"}, "spec.condition.lookbackWindow", "no fixed length"),
    ({"lookbackWindow": "1 hour"}, "spec.condition.lookbackWindow", "not an OpenSLO duration"),
    ({"threshold": 0}, "spec.condition.threshold", "positive burn rate"),
    ({"kind": "threshold"}, "spec.condition.kind", "only burnrate"),
    ({"op": "eq"}, "spec.condition.op", "not one of gt"),
    ({"alertAfter": "soon"}, "spec.condition.alertAfter", "not an OpenSLO duration"),
    ({"windw": "1h"}, "spec.condition.windw", "unknown key"),
])
def test_malformed_alert_conditions_are_refused(fields: dict, field: str, fragment: str) -> None:
    out = read_docs(condition_doc(**fields))
    out.error(field, fragment)


def test_alert_policy_ref_to_a_broken_policy_fails_the_slo_with_a_pointer() -> None:
    out = read_docs(policy_doc(conditions=[{"conditionRef": "missing"}]), slo_doc(alertPolicies=["paging"]))
    out.error("spec.conditions[0].conditionRef", "no AlertCondition named 'missing'")
    out.error("spec.alertPolicies[0]", "AlertPolicy 'paging' could not be read")
    assert out.result.slos == ()


def test_notification_target_objects_are_warned_as_configured_in_alertmanager() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1
        kind: AlertNotificationTarget
        metadata: {name: pager}
        spec: {target: pagerduty}
    """)
    assert out.errors == [] and out.result == ImportResult()
    out.warning("", "not imported", "Alertmanager")


# ---------------------------------------------------------------- v1alpha


def test_v1alpha_calendar_month_with_bad_queries_reports_each() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1alpha
        kind: SLO
        metadata: {name: web}
        spec:
          service: web
          budgetingMethod: Occurrences
          timeWindows: [{unit: Month, count: 1, isRolling: false, calendar: {timeZone: Asia/Tokyo}}]
          objectives:
            - target: 0.99
              ratioMetrics:
                good: {source: datadog, queryType: query, query: "sum:ok"}
                total: {source: prometheus, queryType: promql, query: "sum(rate(all_total[5m]))"}
    """)
    out.error("spec.objectives[0].ratioMetrics.good.source", "'datadog'")
    out.error("spec.objectives[0].ratioMetrics.total.query", "no window placeholder")


def test_v1alpha_calendar_month_keeps_its_time_zone() -> None:
    out = read_yaml("""
        apiVersion: openslo/v1alpha
        kind: SLO
        metadata: {name: web}
        spec:
          service: web
          budgetingMethod: Occurrences
          timeWindows: [{unit: Month, count: 1, isRolling: false, calendar: {timeZone: Asia/Tokyo}}]
          objectives:
            - displayName: Available
              target: 0.99
              ratioMetrics:
                incremental: true
                good: {source: Prometheus, queryType: promql, query: 'requests_total{code!~"5.."}'}
                total: {source: prometheus, queryType: promql, query: requests_total}
    """)
    slo = out.slo
    assert slo.window == CalendarWindow(CalendarUnit.MONTH, "Asia/Tokyo")
    assert slo.sli == RatioSLI(total=sel("requests_total"),
                               good=Selector("requests_total", (Matcher("code", MatchOp.NRE, "5.."),)))
    assert slo.source_format is SourceFormat.OPENSLO_V1ALPHA


@pytest.mark.parametrize("window, field, fragment", [
    ({"unit": "Fortnight", "count": 1}, "spec.timeWindows[0].unit", "not one of"),
    ({"unit": "Day", "count": 0}, "spec.timeWindows[0].count", "positive whole number"),
    ({"unit": "Day", "count": 1, "isRolling": False}, "spec.timeWindows[0].unit", "calendar days are not supported"),
    ({"unit": "Month", "count": 3, "calendar": {"timeZone": "UTC"}}, "spec.timeWindows[0].unit",
     "single calendar month"),
])
def test_v1alpha_malformed_time_windows_are_refused(window: dict, field: str, fragment: str) -> None:
    doc = {"apiVersion": "openslo/v1alpha", "kind": "SLO", "metadata": {"name": "s"}, "spec": {
        "service": "web", "budgetingMethod": "Occurrences", "timeWindows": [window],
        "objectives": [{"target": 0.99, "ratioMetrics": {
            "good": {"source": "prometheus", "query": "sum(rate(ok[$window]))"},
            "total": {"source": "prometheus", "query": "sum(rate(all[$window]))"}}}],
    }}
    out = read_docs(doc)
    out.error(field, fragment)


def test_v1alpha_rolling_week_is_seven_days() -> None:
    doc = {"apiVersion": "openslo/v1alpha", "kind": "SLO", "metadata": {"name": "s"}, "spec": {
        "service": "web", "budgetingMethod": "Occurrences",
        "timeWindows": [{"unit": "Week", "count": 1, "isRolling": True}],
        "objectives": [{"target": 0.99, "ratioMetrics": {
            "good": {"source": "prometheus", "query": "sum(rate(ok[$window]))"},
            "total": {"source": "prometheus", "query": "sum(rate(all[$window]))"}}}],
    }}
    assert read_docs(doc).slo.window == RollingWindow(7 * DAY)


def test_v1alpha_has_no_target_percent() -> None:
    doc = {"apiVersion": "openslo/v1alpha", "kind": "SLO", "metadata": {"name": "s"}, "spec": {
        "service": "web", "budgetingMethod": "Occurrences", "objectives": [{"targetPercent": 99}]}}
    out = read_docs(doc)
    out.error("spec.objectives[0].targetPercent", "unknown key")


def test_v1alpha_has_no_alert_policy_kind() -> None:
    out = read_docs({"apiVersion": "openslo/v1alpha", "kind": "AlertPolicy", "metadata": {"name": "p"}, "spec": {}})
    out.error("kind", "not an openslo/v1alpha kind", "apiVersion: openslo/v1")


# ---------------------------------------------------------------- robustness and determinism


def obj(kind: str = "SLO", spec: object = DROP, **extra: object) -> dict:
    out: dict[str, object] = {"apiVersion": "openslo/v1", "kind": kind, "metadata": {"name": "x"}}
    if spec is not DROP:
        out["spec"] = spec
    out.update(extra)
    return out


@pytest.mark.parametrize("data, field, fragment", [
    ("just text", "", "must be a mapping"),
    ({"apiVersion": "openslo/v1", "kind": "SLO"}, "metadata", "needs metadata"),
    (obj(spec={}, metadata={"name": ""}), "metadata.name", "needs metadata.name"),
    (obj(metadata={"name": "x", "nmae": "y"}), "metadata.nmae", "did you mean 'name'"),
    (obj("Slo"), "kind", "did you mean 'SLO'"),
    (obj(spec=[]), "spec", "needs a spec"),
    (obj(spec={}, status={}), "status", "unknown key"),
    (obj(spec={"objectives": "all"}), "spec.objectives", "a list"),
    (obj(spec={"service": 3}), "spec.service", "needs spec.service"),
    (obj("SLI", spec={}), "spec", "exactly one of ratioMetric"),
    (obj("AlertPolicy", spec=None), "spec", "needs a spec"),
    (obj("DataSource", spec={}), "spec.type", "spec.type"),
    (obj(spec={"alertPolicies": [7]}), "spec.alertPolicies[0]", "AlertPolicy"),
])
def test_malformed_objects_are_reported_never_raised(data: object, field: str, fragment: str) -> None:
    out = run([Context(load_text(yaml.safe_dump(data), "bad.yaml")[0])])
    out.error(field, fragment)
    assert out.result.slos == ()


def test_a_top_level_list_in_one_document_is_read_item_by_item() -> None:
    document = load_text(yaml.safe_dump([sli_doc("ok", ratio("ok_total", counter=True)),
                                         slo_doc(indicator=DROP, indicatorRef="ok")]), "list.yaml")
    out = run([Context(document[0])])
    assert out.slo.sli == RatioSLI(total=sel("requests_total"), good=sel("ok_total"))
    assert out.slo.source is not None and out.slo.source.line > 1


def test_duplicate_slo_ids_are_refused() -> None:
    first, second = slo_doc("a"), slo_doc("b")
    second["spec"]["objectives"] = [{"displayName": "x", "target": 0.9}, {"displayName": "y", "target": 0.8}]
    third = slo_doc("b-x")
    out = read_docs(first, second, third)
    out.error("metadata.name", "checkout/b-x is already defined")
    assert [s.name for s in out.result.slos] == ["a", "b-x", "b-y"]


def test_output_is_sorted_and_the_same_whatever_the_document_order() -> None:
    docs = [slo_doc("zeta"), slo_doc("alpha"), {"apiVersion": "openslo/v1", "kind": "Service",
                                                 "metadata": {"name": "checkout"}, "spec": {}}]
    forward = read_docs(*docs).result
    backward = read_docs(*reversed(docs)).result
    assert forward == backward
    assert [s.name for s in forward.slos] == ["alpha", "zeta"]


def test_reading_twice_gives_equal_models(peers_dir: Path) -> None:
    path = peers_dir / "sloth/examples/openslo-kubernetes-apiserver.yml"
    assert run(mine(path)).result == run(mine(path)).result


def test_slo_models_are_immutable() -> None:
    slo = read_docs(slo_doc()).slo
    with pytest.raises(FrozenInstanceError):
        slo.name = "other"  # type: ignore[misc]
    assert isinstance(slo.alerting.conditions, tuple)
    assert all(isinstance(c, BurnRateAlert) for c in slo.alerting.conditions)


def test_the_builder_documents_are_valid_on_their_own() -> None:
    out = read_docs(copy.deepcopy(slo_doc()))
    assert out.diagnostics == []


def _full_run() -> list[dict]:
    """Every kind, with refs, inline objects, a calendar window and alerting: the tree the next test breaks."""
    inline_policy = policy_doc("inline", conditions=[{
        "kind": "AlertCondition", "metadata": {"name": "slow"},
        "spec": {"severity": "ticket", "condition": {"kind": "burnrate", "threshold": 1, "lookbackWindow": "3d"}},
    }], notificationTargets=[{"kind": "AlertNotificationTarget", "metadata": {"name": "mail"},
                              "spec": {"target": "email"}}])
    del inline_policy["apiVersion"]
    return [
        {"apiVersion": "openslo/v1", "kind": "Service", "metadata": {"name": "checkout", "labels": {"t": ["a"]}},
         "spec": {"description": "d"}},
        {"apiVersion": "openslo/v1", "kind": "DataSource", "metadata": {"name": "prom"},
         "spec": {"type": "Prometheus"}},
        sli_doc("ok", {"counter": True, "good": {"metricSource": {"metricSourceRef": "prom", "spec": {"query": "a"}}},
                       "total": prom("sum(rate(b[$window]))")}),
        condition_doc(),
        policy_doc(),
        slo_doc(indicator=DROP, indicatorRef="ok", alertPolicies=["paging", inline_policy],
                timeWindow=[{"duration": "1M", "calendar": {"startTime": "2024-01-01", "timeZone": "UTC"}}]),
        {"apiVersion": "openslo/v1alpha", "kind": "SLO", "metadata": {"name": "alpha"}, "spec": {
            "service": "web", "budgetingMethod": "Occurrences", "timeWindows": [{"unit": "Day", "count": 7}],
            "objectives": [{"target": 0.99, "ratioMetrics": {
                "good": {"source": "prometheus", "query": "ok"}, "total": {"source": "prometheus", "query": "all"}}}],
        }},
    ]


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


def test_the_full_run_imports_cleanly() -> None:
    out = read_docs(*_full_run())
    assert out.errors == []
    assert [s.id for s in out.result.slos] == ["checkout/checkout-availability", "web/alpha"]


@pytest.mark.parametrize("replacement", [None, 7, "x", [], {}, True, -1.5])
def test_any_value_of_the_wrong_kind_is_reported_never_raised(replacement: object) -> None:
    documents = _full_run()
    for index, document in enumerate(documents):
        for path in _paths(document)[1:]:
            broken = copy.deepcopy(documents)
            node = broken[index]
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = replacement
            out = read_docs(*broken)
            assert isinstance(out.result, ImportResult)
            assert all(e.hint for e in out.errors), [e.render() for e in out.errors if not e.hint]
