"""Escalation: the spec's policy and receivers, the escalation rules, and the Alertmanager configuration.

The configuration is checked with the real ``amtool``: ``check-config`` is
clean for the examples and for a spec using every feature, and every
generated ``config routes test`` case (each SLO's page, escalation levels and
tickets) reaches the receiver the policy names.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from sloengine.compiler.escalation import (
    AlertmanagerOptions,
    RouteCase,
    alertmanager_config,
    alertmanager_share,
    alertmanager_weekdays,
    alerts_of,
    load_route_cases,
    main,
    once_intervals,
    render_alertmanager,
    render_config,
    render_route_cases,
    route_cases,
    run_route_tests,
)
from sloengine.compiler.rulefiles import render_rule_file
from sloengine.compiler.rules import AlertingRule, compile_catalog, compile_slo
from sloengine.model import conventions as c
from sloengine.model.slo import Catalog
from sloengine.specs.loader import load
from sloengine.specs.schema import json_schema

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="needs amtool (make test installs it)")
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool (make test installs it)")

HEADER = "apiVersion: sloengine/v1\nkind: ServiceLevels\nservice: {name: api, team: core}\n"
SLO = """\
slos:
  - name: avail
    objective: 99.9
    sli: {ratio: {bad: 'x_total{code="500"}', total: x_total}}
"""

#: Every feature at once: four integration kinds, per-SLO overrides, hours, weekly and one-off maintenance
#: (across a month end and a DST change), a grouped SLI, a renamed severity, a ticket-only SLO, and a
#: second service without a team whose receivers are not defined anywhere.
ALL_FEATURES = {
    "payments.yaml": """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: payments, team: payments}
receivers:
  pay-oncall:
    pagerduty_configs: [{routing_key_file: /run/secrets/pd, severity: critical}]
  pay-leads:
    webhook_configs: [{url: "https://hooks.example.com/pay-leads", send_resolved: true, max_alerts: 10}]
  incident-commander:
    slack_configs: [{api_url_file: /run/secrets/slack, channel: "#incidents", title: "SLO escalation"}]
  pay-tickets:
    email_configs: [{to: pay@example.com, from: am@example.com, smarthost: "smtp.example.com:587", require_tls: true}]
defaults:
  escalation:
    levels:
      - {level: L1, receiver: pay-oncall, after: 0m}
      - {level: L2, receiver: pay-leads, after: 30m}
      - {level: L3, receiver: incident-commander, after: 1h30m}
    tickets: pay-tickets
    support_hours: {timezone: Europe/Berlin, weekdays: ["monday:friday"], times: ["09:00-12:00", "13:00-17:00"]}
    maintenance:
      - {name: patching, timezone: Europe/Berlin, weekdays: ["friday:sunday"], times: ["22:00-24:00"]}
      - {name: migration, timezone: Europe/Berlin, start: "2026-10-24 20:00", end: "2026-11-02 06:30"}
slos:
  - name: auth
    objective: 99.95
    sli: {ratio: {bad: 'auth_total{result="failed"}', total: auth_total}}
    alerting:
      page: {labels: {severity: critical}}
    escalation:                       # an SLA tier: the incident commander after 15 minutes
      levels:
        - {level: L1, receiver: pay-oncall}
        - {level: L3, receiver: incident-commander, after: 15m}
  - name: per-route
    objective: 99.5
    sli: {ratio: {bad: 'http_total{code="500"}', total: http_total, group_by: [route]}}
    escalation:
      support_hours: {times: ["08:00-18:00"]}   # merged into the defaults' hours key by key
  - name: ticket-only
    objective: 99
    sli: {ratio: {bad: 'batch_total{ok="false"}', total: batch_total}}
    alerting: {page: {enabled: false}}
  - name: odd-team
    objective: 99
    sli: {ratio: {bad: 'odd_total{ok="false"}', total: odd_total}}
    alerting: {ticket: {labels: {team: platform}}}
""",
    "teamless.yaml": """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: teamless}
slos:
  - name: up
    objective: 99
    sli: {probe: {metric: 'up{job="teamless"}'}}
""",
}


def write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def slo_of(catalog, slo_id: str):
    return next(s for s in catalog.slos if s.id == slo_id)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    result = load([write(tmp_path_factory.mktemp("features"), ALL_FEATURES)])
    assert result.ok, [d.render() for d in result.errors]
    return result


# ---- the spec ------------------------------------------------------------------------------------------


def test_examples_declare_policies_levels_hours_and_receivers():
    catalog = load([EXAMPLES]).catalog
    policy = slo_of(catalog, "checkout-api/requests-availability").escalation
    assert [(lv.level, lv.receiver, lv.after_seconds) for lv in policy.levels] == [
        ("L1", "payments-oncall", 0), ("L2", "payments-leads", 1800), ("L3", "incident-commander", 3600)]
    assert policy.tickets == "payments-tickets"
    assert policy.support_hours.timezone == "Europe/Berlin" and policy.support_hours.weekdays == ("monday:friday",)
    assert [w.name for w in policy.maintenance] == ["db-patching"]
    assert slo_of(catalog, "homepage/probe-availability").escalation.tickets == "web-oncall"
    assert {r.name for r in catalog.receivers} >= {"payments-oncall", "payments-leads", "web-oncall"}


def test_an_slo_overrides_the_defaults_key_by_key(features):
    catalog = features.catalog
    auth = slo_of(catalog, "payments/auth").escalation
    assert [(lv.level, lv.after_seconds) for lv in auth.levels] == [("L1", 0), ("L3", 900)]
    assert auth.tickets == "pay-tickets" and auth.support_hours is not None   # kept from the defaults
    per_route = slo_of(catalog, "payments/per-route").escalation
    assert per_route.support_hours.timezone == "Europe/Berlin"
    assert per_route.support_hours.weekdays == ("monday:friday",)
    assert [r.text for r in per_route.support_hours.times] == ["08:00-18:00"]
    once = next(w for w in per_route.maintenance if w.name == "migration")
    assert once.start == datetime(2026, 10, 24, 20, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def test_without_a_policy_l1_is_the_teams_receiver_and_nothing_escalates(features):
    catalog = features.catalog
    assert slo_of(catalog, "teamless/up").escalation is None
    config, missing = alertmanager_config(catalog)
    assert missing == ["teamless"]
    route = next(r for r in config["route"]["routes"] if r["matchers"] == ['service="teamless"', 'slo="up"'])
    assert {leaf["receiver"] for leaf in route["routes"]} == {"teamless"}
    assert "teamless" in {r["name"] for r in config["receivers"]}
    text = render_alertmanager(catalog)[c.ALERTMANAGER_CONFIG_FILE]
    assert "no integrations: teamless" in text


def test_examples_load_without_warnings_and_validate_against_the_schema(features):
    assert load([EXAMPLES]).diagnostics == ()
    validator = jsonschema.Draft202012Validator(json_schema())
    for text in ALL_FEATURES.values():
        validator.validate(yaml.safe_load(text))


@pytest.mark.parametrize(("body", "where", "expected"), [
    ("defaults:\n  escalaton: {}\n", "5:3", "unknown key 'escalaton' (fix: did you mean 'escalation'?)"),
    ("defaults:\n  escalation: {levles: []}\n", "5:16", "did you mean 'levels'?"),
    ("defaults:\n  escalation:\n    levels: [{level: L1, receiver: a}, {level: L4, receiver: b, after: 5m}]\n",
     "6:48", "'L4' is not allowed here (fix: did you mean 'L3'?)"),
    ("defaults:\n  escalation:\n    levels: [{level: L2, receiver: a, after: 5m}]\n", "6:13",
     "the first level is L2, not L1"),
    ("defaults:\n  escalation:\n    levels: [{level: L1, receiver: a, after: 5m}]\n", "6:13", "L1 has a delay (5m)"),
    ("defaults:\n  escalation:\n    levels: [{level: L1, receiver: a}, {level: L2, receiver: b}]\n", "6:13",
     "L2 has no 'after'"),
    ("defaults:\n  escalation:\n    levels: [{level: L1, receiver: a}, {level: L2, receiver: b, after: 30}]\n",
     "6:72", "30 has no unit"),
    ("defaults:\n  escalation:\n    levels: [{level: L1, receiver: a}, {level: L3, receiver: b, after: 1h},"
     " {level: L2, receiver: c, after: 2h}]\n", "6:13", "levels are out of order (L1, L3, L2)"),
    ("defaults:\n  escalation:\n    levels: [{level: L1, receiver: sloengine-default}]\n", "6:36",
     "is the root receiver"),
    ("defaults:\n  escalation:\n    support_hours: {timezone: Europe/Berlim}\n", "6:31", "not an IANA time zone"),
    ("defaults:\n  escalation:\n    support_hours: {weekdays: [tuesdy]}\n", "6:32",
     "'tuesdy' is not a weekday or a range of weekdays (fix: did you mean 'tuesday'?)"),
    ("defaults:\n  escalation:\n    support_hours: {weekdays: ['saturday:monday']}\n", "6:32",
     "runs backwards (weeks start on Monday) (fix: write it as two entries: saturday:sunday and monday)"),
    ("defaults:\n  escalation:\n    support_hours: {times: ['17:00-09:00']}\n", "6:29", "ends before it starts"),
    ("defaults:\n  escalation:\n    support_hours: {times: ['9-17']}\n", "6:29", "is not a time range"),
    ("defaults:\n  escalation:\n    maintenance: [{name: m, weekdays: [sunday], start: '2026-01-01 10:00',"
     " end: '2026-01-01 11:00'}]\n", "6:19", "either weekly (weekdays/times) or once (start/end)"),
    ("defaults:\n  escalation:\n    maintenance: [{name: m, start: '2026-01-01 10:00', end: '2026-01-01 09:00'}]\n",
     "6:19", "ends (2026-01-01 09:00:00) before it starts"),
    ("defaults:\n  escalation:\n    maintenance: [{name: m, start: '2026-01-01 10:00'}]\n", "6:19",
     "needs both start and end"),
    ("defaults:\n  escalation:\n    maintenance: [{name: m}, {name: m, times: ['01:00-02:00']}]\n", "6:19",
     "the maintenance window has no time"),
    ("receivers:\n  a: {webhok_configs: []}\n", "5:7", "did you mean 'webhook_configs'?"),
    ("receivers:\n  a: {webhook_configs: [{url: 'ftp://x'}]}\n", "5:31", "is not an http(s) URL"),
    # Found by the hostile-input fuzz test: validate accepted them and amtool check-config refused the result.
    ("receivers:\n  a: {webhook_configs: [{url: 'https://hooks.example%.com/a'}]}\n", "5:31",
     "not followed by two hex digits"),
    ("receivers:\n  a: {webhook_configs: [{url: 'https://hooks.example.com/a%zz'}]}\n", "5:31",
     "not followed by two hex digits"),
    ("receivers:\n  a: {webhook_configs: [{url: 'https://hooks example.com/a'}]}\n", "5:31",
     "has a host Alertmanager cannot parse"),
    ("receivers:\n  a: {webhook_configs: [{url: 'https://hooks.example.com:80a/a'}]}\n", "5:31",
     "has a host Alertmanager cannot parse"),
    ("receivers:\n  a: {slack_configs: [{api_url: \"https://x.example/\\tb\"}]}\n", "5:33", "control character"),
    ("receivers:\n  'a b': {}\n", "5:3", "'a b' is not a valid name"),
    ("receivers:\n  a: {pagerduty_configs: [{severity: critical}]}\n", "5:27", "exactly one key, got 0"),
    ("receivers:\n  a: {slack_configs: [{channel: '#x'}]}\n", "5:23", "exactly one of api_url and api_url_file"),
    ("receivers:\n  a: {email_configs: [{to: a@b.c, from: x@y.z, smarthost: smtp}]}\n", "5:59",
     "'smtp' is not host:port"),
])
def test_escalation_mistakes_are_placed_and_explained(tmp_path, body, where, expected):
    path = spec(tmp_path, body + SLO)
    errors = [d.render() for d in load([path]).errors]
    assert any(f"{path}:{where}:" in e and expected in e for e in errors), errors


def test_an_undefined_receiver_is_a_warning_with_a_suggestion(tmp_path):
    path = spec(tmp_path, "receivers:\n  core-oncall: {webhook_configs: [{url: 'http://x.example/'}]}\n"
                          "defaults:\n  escalation:\n    levels: [{level: L1, receiver: core-oncal}]\n" + SLO)
    result = load([path])
    assert not result.errors
    [warning] = [d.render() for d in result.warnings]
    assert "receiver 'core-oncal' is not defined" in warning and "did you mean 'core-oncall'?" in warning


def test_a_receiver_defined_differently_in_two_files_is_an_error(tmp_path):
    spec(tmp_path, "receivers:\n  r: {webhook_configs: [{url: 'http://a.example/'}]}\n" + SLO, "a.yaml")
    (tmp_path / "b.yaml").write_text(HEADER.replace("name: api", "name: web") +
                                     "receivers:\n  r: {webhook_configs: [{url: 'http://b.example/'}]}\n" + SLO)
    errors = [d.render() for d in load([tmp_path]).errors]
    assert len(errors) == 1 and "b.yaml:5:6" in errors[0] and "receiver 'r' is defined differently" in errors[0]


def test_the_escalation_label_is_reserved(tmp_path):
    labels = spec(tmp_path, "defaults:\n  alerting: {page: {labels: {escalation_level: L2}}}\n" + SLO)
    assert any("'escalation_level' is set by sloengine itself" in d.render() for d in load([labels]).errors)
    grouped = spec(tmp_path, SLO.replace("total: x_total}", "total: x_total, group_by: [escalation_level]}"), "g.yaml")
    assert any("'escalation_level' is set by sloengine" in d.render() for d in load([grouped]).errors)


@pytest.mark.parametrize("label", ["sloengine_severity", "long_window", "burn_factor", "slo", "alertname"])
def test_alert_labels_sloengine_routes_and_tests_on_are_refused_in_a_spec(tmp_path, label):
    path = spec(tmp_path, f"defaults:\n  alerting: {{labels: {{{label}: x}}}}\n" + SLO)
    errors = [d.render() for d in load([path]).errors]
    assert any(f"'{label}' is set by sloengine itself" in e and "rename the label" in e for e in errors), errors


def test_a_users_severity_label_is_theirs_and_sloengines_own_severity_stays(tmp_path):
    path = spec(tmp_path, "defaults:\n  alerting: {page: {labels: {severity: pageteam}}}\n" + SLO)
    catalog = load([path]).catalog
    alerts = [dict(r.labels) for g in compile_catalog(catalog)[c.rules_file("api")] for r in g.rules
              if isinstance(r, AlertingRule)]
    pages = [a for a in alerts if a.get(c.LABEL_OWN_SEVERITY) == "page"]
    assert pages and all(a["severity"] == "pageteam" for a in pages)
    assert all(a["severity"] == "ticket" for a in alerts if a.get(c.LABEL_OWN_SEVERITY) == "ticket")
    config = yaml.safe_load(render_alertmanager(catalog)[c.ALERTMANAGER_CONFIG_FILE])
    assert "severity" not in yaml.safe_dump(config["route"]).replace(c.LABEL_OWN_SEVERITY, "")
    assert "severity" not in yaml.safe_dump(config["inhibit_rules"]).replace(c.LABEL_OWN_SEVERITY, "")


def test_levels_without_pages_to_escalate_are_a_warning(features):
    [warning] = [d.render() for d in features.warnings if d.field.endswith("escalation.levels")]
    assert "payments/ticket-only" in warning and "levels L2, L3 never fire" in warning


def test_the_service_without_a_policy_is_warned_about_the_receiver_the_config_leaves_without_integrations(features):
    _, missing = alertmanager_config(features.catalog)
    [warning] = [d for d in features.warnings if d.field.endswith(": escalation")]
    assert missing == ["teamless"] and warning.field == "service teamless: escalation"
    assert "go to the default receiver 'teamless'" in warning.message and "go nowhere" in warning.message


# ---- the rules -----------------------------------------------------------------------------------------


def _alerts(catalog, slo_id: str) -> list[AlertingRule]:
    slo = slo_of(catalog, slo_id)
    return [r for g in compile_slo(slo, catalog.service(slo.service)) for r in g.rules if isinstance(r, AlertingRule)]


def test_pages_carry_l1_and_each_further_level_is_an_escalation_rule(features):
    alerts = _alerts(features.catalog, "payments/per-route")
    pages = [a for a in alerts if dict(a.labels).get("severity") == "page"]
    assert pages and all(dict(a.labels)[c.LABEL_ESCALATION_LEVEL] == "L1" for a in pages)
    others = [a for a in alerts if a.alert != c.ALERT_ESCALATION and a not in pages]
    assert others and all(c.LABEL_ESCALATION_LEVEL not in dict(a.labels) for a in others)
    escalations = [a for a in alerts if a.alert == c.ALERT_ESCALATION]
    assert [(dict(a.labels)[c.LABEL_ESCALATION_LEVEL], a.for_seconds) for a in escalations] == [
        ("L2", 1800), ("L3", 5400)]
    assert all(dict(a.labels)[c.LABEL_SLO] == "per-route" for a in escalations)
    assert escalations[0].expr == (
        'max without (alertname, alertstate, long_window, short_window, burn_factor) '
        '(ALERTS{alertname="SLOErrorBudgetBurn",alertstate="firing",service="payments",slo="per-route",'
        'escalation_level="L1"})')


def test_no_escalation_rules_without_further_levels_or_without_pages(features):
    catalog = features.catalog
    assert not [a for a in _alerts(catalog, "teamless/up") if a.alert == c.ALERT_ESCALATION]
    assert not [a for a in _alerts(catalog, "payments/ticket-only") if a.alert == c.ALERT_ESCALATION]
    assert [dict(a.labels)[c.LABEL_ESCALATION_LEVEL] for a in _alerts(catalog, "payments/auth")
            if a.alert == c.ALERT_ESCALATION] == ["L3"]


@needs_promtool
def test_promtool_escalates_a_page_only_after_it_has_fired_for_the_delay(tmp_path, features):
    """The escalation rule alone, fed a page's ALERTS series: L2 after 30m, L3 after 1h30m, and a page that
    clears and comes back starts the clock again."""
    groups = compile_catalog(features.catalog)["rules/payments.rules.yml"]
    fast = next(g for g in groups if g.name == c.group_name("payments", "per-route", "fast"))
    only = type(fast)(fast.name, fast.interval_seconds, tuple(r for r in fast.rules
                                                                  if getattr(r, "alert", "") == c.ALERT_ESCALATION))
    (tmp_path / "esc.rules.yml").write_text(render_rule_file((only,)))
    page = ('ALERTS{alertname="SLOErrorBudgetBurn",alertstate="firing",service="payments",slo="per-route",'
            'severity="page",team="payments",escalation_level="L1",route="a",long_window="%s",short_window="%s",'
            'burn_factor="%s"}')
    labels = {"service": "payments", "slo": "per-route", "severity": "page", "team": "payments", "route": "a"}
    notes = {dict(r.labels)[c.LABEL_ESCALATION_LEVEL]: dict(r.annotations) for r in only.rules}

    def escalated(level: str) -> dict:
        return {"exp_labels": {**labels, c.LABEL_ESCALATION_LEVEL: level}, "exp_annotations": notes[level]}

    # The 1h condition fires for 2h (minutes 0-120), the 6h one takes over from minute 60 to 150; a new page at 200.
    first = "1x120 _x80 1x60"
    second = "_x60 1x90"
    document = {
        "rule_files": ["esc.rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": page % ("1h", "5m", "14.4"), "values": first},
                             {"series": page % ("6h", "30m", "6"), "values": second}],
            "alert_rule_test": [
                {"eval_time": "29m", "alertname": c.ALERT_ESCALATION, "exp_alerts": []},
                {"eval_time": "31m", "alertname": c.ALERT_ESCALATION, "exp_alerts": [escalated("L2")]},
                {"eval_time": "89m", "alertname": c.ALERT_ESCALATION, "exp_alerts": [escalated("L2")]},
                # Handed over to the 6h condition at minute 120: the clock keeps running.
                {"eval_time": "140m", "alertname": c.ALERT_ESCALATION,
                 "exp_alerts": [escalated("L2"), escalated("L3")]},
                {"eval_time": "229m", "alertname": c.ALERT_ESCALATION, "exp_alerts": []},
                {"eval_time": "231m", "alertname": c.ALERT_ESCALATION, "exp_alerts": [escalated("L2")]},
            ],
        }],
    }
    (tmp_path / "esc.test.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    done = subprocess.run(["promtool", "test", "rules", "esc.test.yml"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


# ---- the Alertmanager configuration ---------------------------------------------------------------------


def test_configuration_is_deterministic_and_complete(features):
    first = render_alertmanager(features.catalog)
    assert first == render_alertmanager(features.catalog)
    assert set(first) == {c.ALERTMANAGER_CONFIG_FILE, c.ALERTMANAGER_ROUTE_TESTS_FILE}
    config = yaml.safe_load(first[c.ALERTMANAGER_CONFIG_FILE])
    assert config["route"]["receiver"] == c.DEFAULT_RECEIVER
    assert config["route"]["group_by"] == ["alertname", "service", "slo", "sloengine_severity", "escalation_level"]
    assert config["receivers"][0] == {"name": c.DEFAULT_RECEIVER}
    pay = next(r for r in config["receivers"] if r["name"] == "pay-leads")
    assert pay == {"name": "pay-leads", "webhook_configs": [
        {"max_alerts": 10, "send_resolved": True, "url": "https://hooks.example.com/pay-leads"}]}
    options = AlertmanagerOptions(group_wait="1s", group_interval="2s", repeat_interval="1h", resolve_timeout="1m")
    fast = yaml.safe_load(render_alertmanager(features.catalog, options)[c.ALERTMANAGER_CONFIG_FILE])
    assert (fast["route"]["group_wait"], fast["route"]["group_interval"], fast["global"]["resolve_timeout"]) == (
        "1s", "2s", "1m")


def test_routes_by_team_then_slo_then_level_with_hours_and_maintenance(features):
    config, _ = alertmanager_config(features.catalog)
    teams = {tuple(r["matchers"]): r for r in config["route"]["routes"]}
    payments = teams[('team="payments"',)]
    per_route = next(r for r in payments["routes"] if r["matchers"] == ['service="payments"', 'slo="per-route"'])
    leaves = {tuple(leaf["matchers"]): leaf for leaf in per_route["routes"]}
    assert leaves[('escalation_level="L3"',)]["receiver"] == "incident-commander"
    ticket = leaves[('escalation_level=""',)]
    assert ticket["receiver"] == "pay-tickets"
    assert ticket["active_time_intervals"] == ["payments-per-route-support-hours"]
    assert all(leaf["mute_time_intervals"] == ["payments-maintenance-migration", "payments-maintenance-patching"]
               for leaf in leaves.values())
    # A ticket relabelled to another team cannot sit under one team: the SLO is routed from the root.
    assert ('service="payments"', 'slo="odd-team"') in teams
    intervals = {i["name"]: i["time_intervals"] for i in config["time_intervals"]}
    assert intervals["payments-support-hours"] == [{
        "times": [{"start_time": "09:00", "end_time": "12:00"}, {"start_time": "13:00", "end_time": "17:00"}],
        "weekdays": ["monday:friday"], "location": "Europe/Berlin"}]
    assert intervals["payments-maintenance-patching"][0]["weekdays"] == ["friday:saturday", "sunday"]


def test_a_page_inhibits_the_tickets_of_its_slo_and_nothing_hides_a_page(features):
    config, _ = alertmanager_config(features.catalog)
    rules = {tuple(r["source_matchers"][:2]): r for r in config["inhibit_rules"]}
    per_route = rules[('service="payments"', 'slo="per-route"')]
    assert per_route["source_matchers"][2] == 'escalation_level=~".+"'
    assert per_route["target_matchers"][2] == 'escalation_level=""'
    assert per_route["equal"] == ["service", "slo", "route"]   # one SLI group does not silence another
    assert ('service="payments"', 'slo="ticket-only"') not in rules
    for rule in config["inhibit_rules"]:
        # Only an alert with an escalation level (a page) inhibits, and only alerts without one (tickets,
        # budget exhausted, no data) are inhibited: a budget-exhausted alert never hides a fast burn.
        assert any(m.startswith("escalation_level=~") for m in rule["source_matchers"])
        assert 'escalation_level=""' in rule["target_matchers"]


def test_one_off_windows_become_dates_in_their_zone():
    berlin = ZoneInfo("Europe/Berlin")
    entries = once_intervals(datetime(2026, 10, 24, 20, 0, tzinfo=berlin), datetime(2026, 11, 2, 6, 30, tzinfo=berlin),
                             "Europe/Berlin")
    spans = [(e["years"], e["months"], e["days_of_month"], e.get("times")) for e in entries]
    assert spans == [
        (["2026"], ["10"], ["24"], [{"start_time": "20:00", "end_time": "24:00"}]),
        (["2026"], ["10"], ["25:31"], None),          # the DST change on 25 October is a day like any other
        (["2026"], ["11"], ["1"], None),
        (["2026"], ["11"], ["2"], [{"start_time": "00:00", "end_time": "06:30"}]),
    ]
    utc = once_intervals(datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("UTC")),
                         datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo("UTC")), "Asia/Kolkata")
    assert utc == [{"times": [{"start_time": "14:30", "end_time": "15:30"}], "days_of_month": ["1"], "months": ["3"],
                    "years": ["2026"], "location": "Asia/Kolkata"}]


def test_weeks_start_on_monday_but_alertmanagers_on_sunday():
    assert alertmanager_weekdays(["monday:sunday"]) == ["monday:saturday", "sunday"]
    assert alertmanager_weekdays(["saturday:sunday", "sunday"]) == ["saturday", "sunday"]
    assert alertmanager_weekdays(["monday:friday", "sunday"]) == ["monday:friday", "sunday"]


def test_route_cases_cover_every_slo_and_level(features):
    cases = route_cases(features.catalog)
    assert len({case.name for case in cases}) == len(cases)
    ids = {case.name.split(" ")[0] for case in cases}
    assert ids == {s.id for s in features.catalog.slos}
    auth = {case.name: case.receivers for case in cases if case.name.startswith("payments/auth ")}
    assert auth["payments/auth L1: SLOErrorBudgetBurn 1h-5m"] == ("pay-oncall",)
    assert auth["payments/auth L3: SLOEscalation"] == ("incident-commander",)
    assert auth["payments/auth ticket: SLOErrorBudgetExhausted"] == ("pay-tickets",)
    critical = next(case for case in cases if case.name == "payments/auth L1: SLOErrorBudgetBurn 1h-5m")
    assert dict(critical.labels)["severity"] == "critical"   # a renamed severity still routes by level
    text = render_alertmanager(features.catalog)[c.ALERTMANAGER_ROUTE_TESTS_FILE]
    assert load_route_cases(text) == cases


def dumped(catalog, options: AlertmanagerOptions | None = None) -> dict[str, str]:
    """The two files as alertmanager_config and route_cases build them and dump lays them out."""
    return {c.ALERTMANAGER_CONFIG_FILE: render_config(catalog, options or AlertmanagerOptions()),
            c.ALERTMANAGER_ROUTE_TESTS_FILE: render_route_cases(route_cases(catalog))}


#: A receiver's multi-line text: PyYAML lays out the configuration.
ODD = {"odd.yaml": HEADER + """\
receivers:
  core-oncall:
    slack_configs: [{api_url: "https://hooks.example.com/x", text: "line one\\nline two"}]
defaults:
  escalation:
    levels: [{level: L1, receiver: core-oncall}, {level: L2, receiver: core_leads, after: 10m}]
    support_hours: {timezone: UTC, times: ["09:00-17:00"]}
""" + SLO}


@pytest.mark.parametrize("source", ["examples", "all-features", "odd", "none"])
def test_the_files_laid_out_slo_by_slo_are_the_dumped_configuration(tmp_path, features, source):
    """render_alertmanager writes each SLO's routes, inhibition and route cases as text: the same text as
    the configuration built as a mapping and dumped, with its options, and PyYAML's where it lays it out."""
    if source == "none":
        catalog = Catalog()
    else:
        result = {"examples": lambda: load([EXAMPLES]), "all-features": lambda: features,
                  "odd": lambda: load([write(tmp_path, ODD)])}[source]()
        assert result.ok, [d.render() for d in result.errors]
        catalog = result.catalog
    options = AlertmanagerOptions(group_wait="1s", group_interval="2s", repeat_interval="1h", resolve_timeout="1m")
    assert render_alertmanager(catalog) == dumped(catalog)
    assert render_alertmanager(catalog, options) == dumped(catalog, options)


def test_services_rendered_apart_join_into_the_same_files(features):
    """A share of the services can be rendered where they are compiled (another process) and joined."""
    catalog = features.catalog
    services = {s.name: s for s in catalog.services}
    alerts = {slo.id: alerts_of(compile_slo(slo, services[slo.service])) for slo in catalog.slos}
    whole = render_alertmanager(catalog, alerts=alerts)
    for name in services:
        share = alertmanager_share([(services[name], [s for s in catalog.slos if s.service == name])], alerts)
        assert share is not None
        assert render_alertmanager(catalog, alerts=alerts, shares=[share]) == whole
    every = [alertmanager_share([(service, [s for s in catalog.slos if s.service == name])], alerts)
             for name, service in services.items()]
    assert render_alertmanager(catalog, alerts=alerts, shares=every) == whole


# ---- with the real amtool --------------------------------------------------------------------------------


def _generated(tmp_path: Path, catalog) -> Path:
    for relative, text in render_alertmanager(catalog).items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    return tmp_path / c.ALERTMANAGER_CONFIG_FILE


@needs_amtool
@pytest.mark.parametrize("source", ["examples", "all-features"])
def test_amtool_check_config_is_clean_and_every_route_case_passes(tmp_path, features, source):
    catalog = load([EXAMPLES]).catalog if source == "examples" else features.catalog
    config = _generated(tmp_path, catalog)
    done = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr
    cases = load_route_cases((tmp_path / c.ALERTMANAGER_ROUTE_TESTS_FILE).read_text())
    levels = {case.name.split(" ")[1] for case in cases}
    assert {"L1:", "L2:", "L3:", "ticket:"} <= levels
    failed = [(r.case.name, r.output) for r in run_route_tests(config, cases) if not r.ok]
    assert not failed


@needs_amtool
def test_a_wrong_expectation_fails_under_amtool(tmp_path, features):
    config = _generated(tmp_path, features.catalog)
    case = route_cases(features.catalog)[0]
    [result] = run_route_tests(config, [RouteCase(case.name, case.labels, ("someone-else",))])
    assert not result.ok


@needs_amtool
def test_the_module_generates_and_checks_from_the_command_line(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["generate", str(EXAMPLES), "--out", str(tmp_path)]).exit_code == 0
    checked = runner.invoke(main, ["check", str(tmp_path)])
    assert checked.exit_code == 0 and "route cases pass" in checked.stdout, checked.output
    broken = tmp_path / c.ALERTMANAGER_ROUTE_TESTS_FILE
    cases = yaml.safe_load(broken.read_text())
    cases[0]["receivers"] = ["nobody"]
    broken.write_text(json.dumps(cases))
    assert runner.invoke(main, ["check", str(tmp_path)]).exit_code == 1
