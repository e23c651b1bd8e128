"""``sloengine show``: what sloengine understood from a spec, per SLO: the selectors or queries it reads, the
latency threshold, and when each alert condition fires (windows, burn factor, budget share, ``for``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sloengine.cli import main

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: availability
    objective: 99.9
    window: 28d
    sli: {ratio: {bad: 'http_requests_total{job="shop",code=~"5.."}', total: 'http_requests_total{job="shop"}',
                  group_by: [route]}}
    alerting:
      min_events: 100
      conditions:
        - {severity: page, long: 1h, short: 5m, factor: 14.4, for: 2m}
        - {severity: ticket, long: 3d, short: 6h, budget_percent: 10}
  - name: latency
    objective: 99
    sli: {latency: {histogram: 'http_request_duration_seconds{job="shop"}', threshold: 300ms}}
  - name: probe
    objective: 99.5
    window: {calendar: month, timezone: Europe/Berlin}
    sli: {probe: {metric: 'probe_success{job="blackbox"}'}}
    alerting: {enabled: false}
  - name: raw
    objective: 99
    sli: {raw: {error_ratio: 'sum(rate(errors_total[$window])) / sum(rate(requests_total[$window]))'}}
"""


def show(tmp_path: Path, *args: str):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    return CliRunner().invoke(main, ["show", *args, str(spec)])


def test_json_lists_each_slos_selectors_threshold_and_the_for_of_every_condition(tmp_path):
    outcome = show(tmp_path, "--format", "json")
    assert outcome.exit_code == 0, outcome.output
    by_name = {s["slo"]: s for s in json.loads(outcome.stdout)}
    ratio = by_name["availability"]
    assert ratio["selectors"] == {"bad": 'http_requests_total{job="shop",code=~"5.."}',
                                  "total": 'http_requests_total{job="shop"}'}
    assert ratio["group_by"] == ["route"] and ratio["threshold_seconds"] is None and ratio["min_events"] == 100
    assert [(a["severity"], a["long"], a["short"], a["for"]) for a in ratio["alerts"]] == [
        ("page", "1h", "5m", "2m"), ("ticket", "3d", "6h", "0s")]
    assert ratio["alerts"][1]["budget_percent"] == 10
    assert ratio["alerts"][1]["burn_factor"] == pytest.approx(28 / 30, abs=1e-6)
    latency = by_name["latency"]
    assert latency["selectors"] == {"histogram": 'http_request_duration_seconds{job="shop"}'}
    assert latency["threshold_seconds"] == 0.3
    assert [a["for"] for a in latency["alerts"]] == ["2m", "5m", "15m", "30m"]   # the workbook defaults
    assert by_name["probe"]["selectors"] == {"metric": 'probe_success{job="blackbox"}'}
    assert by_name["probe"]["alerts"] == []
    assert by_name["raw"]["selectors"] == {
        "error_ratio": "sum(rate(errors_total[$window])) / sum(rate(requests_total[$window]))"}


def test_json_keeps_the_keys_it_always_had(tmp_path):
    (first, *_) = json.loads(show(tmp_path, "--format", "json").stdout)
    keys = {"id", "service", "slo", "objective", "window", "sli", "group_by", "alerts", "format", "source"}
    assert keys <= set(first)
    assert {"severity", "long", "short", "burn_factor"} <= set(first["alerts"][0])


def test_text_is_the_default_and_reads_per_slo(tmp_path):
    outcome = show(tmp_path)
    assert outcome.exit_code == 0, outcome.output
    text = outcome.stdout
    blocks = text.split("\n\n")
    assert [b.splitlines()[0].split("  ")[0] for b in blocks] == [
        "shop/availability", "shop/latency", "shop/probe", "shop/raw"]
    availability, latency, probe, raw = blocks
    assert 'bad       http_requests_total{job="shop",code=~"5.."}' in availability
    assert "group_by  route" in availability and "(min_events 100)" in availability
    assert [line.split() for line in availability.splitlines()[-3:]] == [
        ["severity", "long", "short", "burn", "budget", "for"],
        ["page", "1h", "5m", "14.4", "2.14%", "2m"],
        ["ticket", "3d", "6h", "0.933333", "10%", "0s"]]
    assert 'histogram  http_request_duration_seconds{job="shop"}' in latency
    assert 'threshold  0.3s (bucket le="0.3")' in latency
    assert "99.5% over month (Europe/Berlin)" in probe and "alerts     none" in probe
    assert "error_ratio  sum(rate(errors_total[$window]))" in raw


def test_a_spec_error_is_reported_and_nothing_is_shown(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text(SPEC.replace("objective: 99.9", "objective: 0.999"))
    outcome = CliRunner().invoke(main, ["show", str(spec)])
    assert outcome.exit_code == 1
    assert "reads as a fraction" in outcome.output and "shop/availability" not in outcome.stdout
