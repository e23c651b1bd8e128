"""Service and SLO ``labels:`` are not parsed and dropped: they reach ``slo:info`` and every alert of the SLO."""

from __future__ import annotations

import pytest
import yaml

from sloengine.compiler.generate import render
from sloengine.model import conventions as c
from sloengine.specs.loader import load

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: api, team: core, labels: {tier: gold, region: eu}}
slos:
  - name: a
    objective: 99.9
    labels: {tier: platinum, category: availability}
    alerting: {labels: {category: paging-override}}
    sli: {ratio: {bad: 'x_total{code="5"}', total: x_total}}
  - name: b
    objective: 99
    sli: {probe: {metric: 'up{job="api"}'}}
"""


def _rules(tmp_path, text: str = SPEC) -> list[dict]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    result = load([path])
    assert result.ok, [d.render() for d in result.errors]
    document = yaml.safe_load(render(result.catalog)[c.rules_file("api")])
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_info_series_carries_service_labels_under_the_slos_own(tmp_path):
    info = {r["labels"]["slo"]: r["labels"] for r in _rules(tmp_path) if r.get("record") == c.METRIC_INFO}
    assert info["a"]["tier"] == "platinum" and info["a"]["region"] == "eu" and info["a"]["category"] == "availability"
    assert info["b"]["tier"] == "gold" and info["b"]["region"] == "eu" and "category" not in info["b"]


def test_every_alert_carries_them_and_alert_labels_win(tmp_path):
    alerts = [r for r in _rules(tmp_path) if "alert" in r]
    assert alerts
    for rule in alerts:
        labels = rule["labels"]
        assert labels["region"] == "eu", rule["alert"]
        if labels["slo"] == "a":
            assert labels["tier"] == "platinum" and labels["category"] == "paging-override", rule["alert"]
        else:
            assert labels["tier"] == "gold" and "category" not in labels, rule["alert"]


@pytest.mark.parametrize(("where", "label"), [
    ("service", "objective"), ("service", "sli"), ("service", "severity"), ("service", "slo"),
    ("slo", "objective"), ("slo", "sli"), ("slo", "le"), ("slo", "window"),
])
def test_labels_that_would_collide_with_ours_are_refused_with_a_fix(tmp_path, where, label):
    service_labels = f", labels: {{{label}: x}}" if where == "service" else ""
    slo_labels = f"\n    labels: {{{label}: x}}" if where == "slo" else ""
    path = tmp_path / "spec.yaml"
    path.write_text("apiVersion: sloengine/v1\nkind: ServiceLevels\n"
                    f"service: {{name: api, team: core{service_labels}}}\n"
                    f"slos:\n  - name: a\n    objective: 99.9{slo_labels}\n    sli: {{probe: {{metric: up}}}}\n")
    errors = [d for d in load([path]).errors if label in d.message]
    assert errors, f"{where} label {label!r} accepted"
    assert errors[0].hint and errors[0].position.file == str(path) and errors[0].position.line >= 3


def test_an_owner_label_as_sloth_files_write_it_is_the_info_owner_unless_the_service_names_one(tmp_path):
    spec = SPEC.replace("labels: {tier: gold, region: eu}", "labels: {tier: gold, owner: myteam}")
    info = {r["labels"]["slo"]: r["labels"] for r in _rules(tmp_path, spec) if r.get("record") == c.METRIC_INFO}
    assert info["a"]["owner"] == "myteam"
    spec = spec.replace("team: core,", "team: core, owner: oncall@example.com,")
    info = {r["labels"]["slo"]: r["labels"] for r in _rules(tmp_path, spec) if r.get("record") == c.METRIC_INFO}
    assert info["a"]["owner"] == "oncall@example.com"
