"""The native sloengine/v1 format: the examples load into the model, and every mistake is placed and explained."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sloengine.model.promql import Matcher, MatchOp
from sloengine.model.slo import (
    AlertSeverity,
    CalendarUnit,
    CalendarWindow,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    RollingWindow,
    SourceFormat,
)
from sloengine.specs.loader import load

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

HEADER = "apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api, team: core}\n"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    """Write a spec; an indented body after HEADER is dedented on its own."""
    if text.startswith(HEADER):
        text = HEADER + textwrap.dedent(text[len(HEADER):])
    path = tmp_path / name
    path.write_text(text)
    return path


def only_errors(result) -> list[str]:
    return [d.render() for d in result.errors]


def test_every_bundled_example_loads_without_errors_or_warnings():
    result = load([EXAMPLES])
    assert result.diagnostics == ()
    assert {s.sli.kind.value for s in result.catalog.slos} == {"ratio", "latency", "probe"}
    assert len(result.catalog.slos) >= 5


def test_slos_with_the_same_alert_and_escalation_options_share_one_policy_object(tmp_path):
    one = HEADER + """
    defaults: {window: 28d}
    slos:
      - {name: a, objective: 99.9, sli: {ratio: {bad: 'x_total{code="5"}', total: x_total}}}
      - {name: b, objective: 99.9, sli: {ratio: {bad: 'y_total{code="5"}', total: y_total}}}
      - {name: c, objective: 99.9, window: 7d, sli: {ratio: {bad: 'z_total{code="5"}', total: z_total}}}
    """
    a, b, c = load([write(tmp_path, one)]).catalog.slos
    assert a.alerting is b.alerting and a.escalation is b.escalation
    assert a.alerting != c.alerting, "a 7d window scales the alert windows: not the same policy"


def test_ratio_example_becomes_bad_over_total_selectors_with_workbook_alerts():
    slo = next(s for s in load([EXAMPLES]).catalog.slos if s.id == "checkout-api/requests-availability")
    assert slo.objective == 99.9 and slo.target == 0.999 and slo.error_budget == 0.001
    assert slo.window == RollingWindow(28 * 86400)
    assert isinstance(slo.sli, RatioSLI)
    assert slo.sli.bad.metric == "http_requests_total"
    assert Matcher("code", MatchOp.RE, "5..") in slo.sli.bad.matchers
    assert slo.sli.total.render() == 'http_requests_total{job="checkout-api"}'
    assert [(c.severity, c.name, c.burn_factor) for c in slo.alerting.conditions] == [
        (AlertSeverity.PAGE, "1h-5m", 14.4),
        (AlertSeverity.PAGE, "6h-30m", 6.0),
        (AlertSeverity.TICKET, "1d-2h", 3.0),
        (AlertSeverity.TICKET, "3d-6h", 1.0),
    ]
    assert slo.source_format is SourceFormat.NATIVE
    assert slo.source.file.endswith("checkout-api.yaml") and slo.source.line > 1


def test_defaults_merge_key_by_key_into_each_slo():
    slo = next(s for s in load([EXAMPLES]).catalog.slos if s.id == "checkout-api/requests-availability")
    annotations = dict(slo.alerting.annotations)
    assert annotations["runbook_url"].startswith("https://runbooks")  # from defaults
    assert annotations["summary"].startswith("Checkout API")  # from the SLO
    assert dict(slo.alerting.labels) == {"team": "payments"}
    assert dict(slo.alerting.page_labels) == {"route": "pagerduty"}
    assert slo.alerting.min_events == 100


def test_latency_threshold_in_milliseconds_becomes_seconds():
    slo = next(s for s in load([EXAMPLES]).catalog.slos if s.id == "checkout-api/requests-latency")
    assert isinstance(slo.sli, LatencySLI)
    assert slo.sli.threshold_seconds == pytest.approx(0.3)
    assert slo.sli.bucket.render() == 'http_request_duration_seconds_bucket{job="checkout-api"}'
    assert slo.sli.count.render() == 'http_request_duration_seconds_count{job="checkout-api"}'


def test_probe_example_is_time_based_on_a_gauge_with_alert_windows_scaled_to_seven_days():
    slo = next(s for s in load([EXAMPLES]).catalog.slos if s.id == "homepage/probe-availability")
    assert isinstance(slo.sli, ProbeSLI) and slo.sli.gauge.metric == "probe_success"
    assert [c.name for c in slo.alerting.conditions] == ["15m-2m", "1h-5m", "6h-30m", "12h-1h"]
    assert [c.burn_factor for c in slo.alerting.conditions] == [14.4, 6.0, 3.0, 1.0]


def test_calendar_month_keeps_its_time_zone():
    slo = next(s for s in load([EXAMPLES]).catalog.slos if s.id == "payments-gateway/authorisations-monthly")
    assert slo.window == CalendarWindow(CalendarUnit.MONTH, "Europe/Berlin")
    assert slo.sli.good is not None and slo.sli.bad is None


def test_grouped_sli_keeps_its_labels_and_explicit_conditions():
    slo = next(s for s in load([EXAMPLES]).catalog.slos if s.id == "search/route-availability")
    assert slo.sli.group_by == ("route",)
    ticket = slo.alerting.conditions[-1]
    assert (ticket.severity, ticket.long_seconds, ticket.short_seconds) == (AlertSeverity.TICKET, 3 * 86400, 6 * 3600)
    assert ticket.budget_percent == 10 and ticket.burn_factor == pytest.approx(1.0)


def test_raw_promql_with_window_placeholder_is_accepted(tmp_path):
    path = write(tmp_path, HEADER + """\
        slos:
          - name: raw
            objective: 99
            sli:
              raw:
                error_ratio: 1 - avg_over_time(up{job="api"}[$window])
        """)
    result = load([path])
    assert result.ok, only_errors(result)
    assert isinstance(result.catalog.slos[0].sli, RawSLI)


@pytest.mark.parametrize(
    ("body", "line", "field", "words"),
    [
        ("slos:\n  - name: a\n    objetive: 99.9\n    sli: {probe: {metric: up}}\n", 6, "slos[0].objetive",
         "did you mean 'objective'"),
        ("slos:\n  - name: a\n    objective: 99.9\n    window: 30days\n    sli: {probe: {metric: up}}\n", 7,
         "slos[0].window", "not a Prometheus duration"),
        ("slos:\n  - name: a\n    objective: 100\n    sli: {probe: {metric: up}}\n", 6, "slos[0].objective",
         "out of range"),
        ("slos:\n  - name: a\n    objective: 0.999\n    sli: {probe: {metric: up}}\n", 6, "slos[0].objective",
         "did you mean 99.9"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {ratio: {bad: 'x{code=~\"5..\"', total: x}}\n", 7,
         "slos[0].sli.ratio.bad", "does not parse"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {ratio: {bad: 'sum(rate(x[5m]))', total: x}}\n", 7,
         "slos[0].sli.ratio.bad", "not a plain series selector"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {raw: {error_ratio: 'sum(rate(x[5m]))'}}\n", 7,
         "slos[0].sli.raw.error_ratio", "no window placeholder"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {ratio: {good: x, bad: y, total: z}}\n", 7,
         "slos[0].sli.ratio", "exactly one of 'good' and 'bad'"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {}\n", 7, "slos[0].sli", "no kind"),
        ("slos:\n  - name: a\n    objective: 99\n    window: {calendar: month, timezone: Europe/Berln}\n"
         "    sli: {probe: {metric: up}}\n", 7, "slos[0].window.timezone", "not an IANA time zone"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {probe: {metric: up}}\n  - name: a\n    objective: 98\n"
         "    sli: {probe: {metric: up}}\n", 8, "api/a", "duplicate SLO id 'api/a', first defined at"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {probe: {metric: up}}\n    alerting:\n      conditions:\n"
         "        - {severity: pager, long: 1h, short: 5m, factor: 14.4}\n", 10,
         "slos[0].alerting.conditions[0].severity", "did you mean 'page'"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {probe: {metric: up}}\n    alerting:\n      conditions:\n"
         "        - {severity: page, long: 5m, short: 1h, factor: 14.4}\n", 10,
         "slos[0].alerting.conditions[0]", "not shorter than long window"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {latency: {histogram: h_bucket, threshold: 0.3}}\n", 7,
         "slos[0].sli.latency.histogram", "write 'h'"),
        ("slos:\n  - name: a\n    objective: 99\n    sli: {ratio: {bad: x, total: y, group_by: [slo]}}\n", 7,
         "slos[0].sli.ratio.group_by", "set by sloengine"),
    ],
)
def test_each_mistake_names_file_line_field_and_fix(tmp_path, body, line, field, words):
    path = write(tmp_path, HEADER + body)
    result = load([path])
    assert not result.ok
    matching = [d for d in result.errors if d.field == field]
    assert matching, only_errors(result)
    diagnostic = matching[0]
    assert diagnostic.position.file == str(path)
    assert diagnostic.position.line == line, diagnostic.render()
    assert words in diagnostic.render()
    assert diagnostic.hint, "every error carries a fix"


def test_alert_window_longer_than_slo_window_is_refused(tmp_path):
    path = write(tmp_path, HEADER + """\
        slos:
          - name: a
            objective: 99
            window: 1d
            sli: {probe: {metric: up}}
            alerting:
              conditions:
                - {severity: ticket, long: 3d, short: 6h, factor: 1}
        """)
    result = load([path])
    assert any("not shorter than the SLO window 1d" in d.message for d in result.errors), only_errors(result)


def test_duplicate_slo_ids_across_files_point_at_both_places(tmp_path):
    body = HEADER + "slos:\n  - name: same\n    objective: 99\n    sli: {probe: {metric: up}}\n"
    first = write(tmp_path, body, "a.yaml")
    write(tmp_path, body, "b.yaml")
    result = load([tmp_path])
    (dupe,) = [d for d in result.errors if "duplicate SLO id" in d.message]
    assert dupe.position.file.endswith("b.yaml") and str(first) in dupe.message
    assert len(result.catalog.slos) == 1


def test_duplicate_yaml_keys_are_an_error_not_a_silent_overwrite(tmp_path):
    path = write(tmp_path, HEADER + "slos:\n  - name: a\n    objective: 99\n    objective: 98\n"
                                    "    sli: {probe: {metric: up}}\n")
    result = load([path])
    (error,) = result.errors
    assert error.position.line == 7 and "duplicate key 'objective'" in error.message


def test_yaml_syntax_error_is_placed(tmp_path):
    path = write(tmp_path, HEADER + "slos:\n  - name: [a\n")
    (error,) = load([path]).errors
    assert error.position.line >= 5 and "YAML syntax error" in error.message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("groups:\n  - name: x\n    rules: []\n", "Prometheus rule file"),
        ("apiVersion: openslo/v2alpha\nkind: SLO\n", "openslo/v1 and openslo/v1alpha"),
        ("apiVersion: sloengine/v2\nkind: ServiceLevels\n", "sloengine/v1"),
        ("kind: Something\nfoo: 1\n", "no apiVersion"),
        ("- 1\n- 2\n", "not a mapping"),
        ("apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec: {}\n", "AlertWindows"),
    ],
)
def test_documents_that_are_not_slo_specs_are_rejected_with_the_reason(tmp_path, body, words):
    result = load([write(tmp_path, body)])
    assert not result.ok
    assert any(words in d.render() for d in result.errors), only_errors(result)


def test_missing_path_and_empty_file_are_errors(tmp_path):
    empty = write(tmp_path, "")
    result = load([tmp_path / "nope.yaml", empty])
    messages = [d.message for d in result.errors]
    assert "no such file or directory" in messages and "the file is empty" in messages


#: One valid SLO in each format the loader reads (kept small: what matters here is the YAML around them).
ONE_SLO = {
    "native": HEADER + "slos:\n  - name: up\n    objective: 99\n    sli: {probe: {metric: up}}\n",
    "sloth": (
        "version: prometheus/v1\nservice: api\nslos:\n  - name: requests\n    objective: 99.9\n    sli:\n"
        "      events:\n"
        "        error_query: sum(rate(http_requests_total{code=~\"5..\"}[{{.window}}]))\n"
        "        total_query: sum(rate(http_requests_total[{{.window}}]))\n"
        "    alerting: {name: ApiErrors}\n"
    ),
    "openslo": (
        "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: api-availability}\nspec:\n  service: api\n"
        "  indicator:\n    metadata: {name: api-good}\n    spec:\n      ratioMetric:\n        counter: true\n"
        "        good: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code!~\"5..\"}'}}}\n"
        "        total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}\n"
        "  timeWindow: [{duration: 28d, isRolling: true}]\n  budgetingMethod: Occurrences\n"
        "  objectives: [{target: 0.999}]\n"
    ),
    "pyrra": (
        "apiVersion: pyrra.dev/v1alpha1\nkind: ServiceLevelObjective\nmetadata: {name: api-errors, namespace: api}\n"
        "spec:\n  target: '99.5'\n  window: 28d\n  indicator:\n    ratio:\n"
        "      errors: {metric: 'http_requests_total{code=~\"5..\"}'}\n      total: {metric: http_requests_total}\n"
    ),
}


@pytest.mark.parametrize("fmt", sorted(ONE_SLO))
def test_empty_yaml_documents_are_skipped_in_every_format(tmp_path, fmt):
    """Kubernetes manifests often end in ``---``, repeat it, or keep a document of comments only: none is a spec."""
    text = "# generated by hand\n---\n" + ONE_SLO[fmt] + "---\n---\n# nothing here yet\n---\n"
    result = load([write(tmp_path, text)])
    alone = load([write(tmp_path, ONE_SLO[fmt], "alone.yaml")])
    assert not result.errors, only_errors(result)
    # The empty documents add nothing to what the SLO alone gets (a warning that no receiver is defined).
    assert [(d.level, d.field, d.message) for d in result.diagnostics] == \
        [(d.level, d.field, d.message) for d in alone.diagnostics]
    assert len(result.catalog.slos) == 1


def test_a_mistake_after_empty_documents_is_placed_on_its_own_line(tmp_path):
    text = "---\n# retired SLOs were here\n---\n---\n" + HEADER + "slos:\n  - name: a\n    objective: 101\n" \
        "    sli: {probe: {metric: up}}\n---\n"
    result = load([write(tmp_path, text)])
    (error,) = result.errors
    assert error.field == "slos[0].objective"
    assert (error.position.line, error.position.column) == (10, 16), error.render()


def test_a_document_that_is_only_null_is_still_refused(tmp_path):
    """An explicit ``~`` is content someone wrote, unlike an empty document; it is not an SLO spec."""
    result = load([write(tmp_path, ONE_SLO["native"] + "--- ~\n")])
    (error,) = result.errors
    assert "not a mapping" in error.message and error.position.line == 8


def test_a_file_of_empty_documents_is_an_empty_file(tmp_path):
    result = load([write(tmp_path, "---\n# placeholder\n---\n")])
    assert [d.message for d in result.errors] == ["the file is empty"]


def test_label_values_with_quotes_backslashes_and_newlines_cannot_inject(tmp_path):
    path = write(tmp_path, HEADER + """\
        slos:
          - name: a
            objective: 99
            sli:
              ratio:
                bad: 'x{job="a\\\\\\"} or vector(1) #\\n"}'
                total: x
        """)
    result = load([path])
    assert result.ok, only_errors(result)
    bad = result.catalog.slos[0].sli.bad
    (matcher,) = bad.matchers
    assert matcher.value == 'a\\"} or vector(1) #\n'
    rendered = bad.render()
    assert "\n" not in rendered
    import promql_parser

    assert isinstance(promql_parser.parse(rendered), promql_parser.VectorSelector)
