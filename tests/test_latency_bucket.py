"""A latency threshold that is not a bucket boundary: no data and an alert saying why, never a false page.

Checked in promtool against the generated rules: a healthy histogram with 0.25 and 0.5 buckets, an SLO
asking for 0.45 (and one asking for 500, meaning milliseconds), for long enough that every page window
is full. Before, the missing ``le`` series counted as zero fast requests: 100% errors and a page.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sloengine.compiler.rulefiles import render_rule_file
from sloengine.compiler.rules import compile_catalog
from sloengine.model import conventions as c
from sloengine.specs.loader import load

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: api, team: web}
slos:
  - name: fast-%(name)s
    objective: 99
    window: 7d
    sli: {latency: {histogram: 'rpc_duration_seconds{job="api"}', threshold: %(threshold)s}}
    alerting:
      conditions:
        - {severity: page, long: 15m, short: 2m, factor: 14.4}
"""

#: 10 requests a minute, all within 0.25 s, for two hours at a one-minute scrape.
HEALTHY = [
    {"series": 'rpc_duration_seconds_bucket{job="api",le="0.25"}', "values": "0+10x120"},
    {"series": 'rpc_duration_seconds_bucket{job="api",le="0.5"}', "values": "0+10x120"},
    {"series": 'rpc_duration_seconds_bucket{job="api",le="+Inf"}', "values": "0+10x120"},
    {"series": 'rpc_duration_seconds_count{job="api"}', "values": "0+10x120"},
]


@pytest.mark.parametrize("name, threshold", [("not-a-boundary", "0.45"), ("milliseconds", "500")])
def test_a_threshold_without_a_bucket_gives_no_data_and_a_bucket_alert_never_a_page(tmp_path: Path, name, threshold):
    spec = tmp_path / "api.yaml"
    spec.write_text(SPEC % {"name": name, "threshold": threshold})
    catalog = load([spec]).catalog
    (groups,) = compile_catalog(catalog).values()
    (tmp_path / "api.rules.yml").write_text(render_rule_file(groups))
    slo = f"fast-{name}"
    test = {
        "rule_files": ["api.rules.yml"],
        "evaluation_interval": "30s",
        "tests": [{
            "interval": "1m",
            "input_series": HEALTHY,
            "promql_expr_test": [
                # every window has traffic, yet no error ratio: the SLI has no data
                {"expr": f'count({c.METRIC_TOTAL}{{slo="{slo}",window="15m"}})', "eval_time": "1h",
                 "exp_samples": [{"labels": "{}", "value": 1}]},
                {"expr": f'count({c.METRIC_ERROR_RATIO}{{slo="{slo}"}}) or vector(0)', "eval_time": "1h",
                 "exp_samples": [{"labels": "{}", "value": 0}]},
            ],
            "alert_rule_test": [
                {"eval_time": "1h", "alertname": c.ALERT_BURN, "exp_alerts": []},
                {"eval_time": "1h", "alertname": c.ALERT_BUCKET_MISSING, "exp_alerts": [{
                    "exp_labels": {"service": "api", "slo": slo, "severity": "ticket", "team": "web",
                                   c.LABEL_OWN_SEVERITY: "ticket"},
                    "exp_annotations": dict(next(r.annotations for g in groups for r in g.rules
                                                 if getattr(r, "alert", "") == c.ALERT_BUCKET_MISSING)),
                }]},
            ],
        }],
    }
    (tmp_path / "api.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "api.test.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_threshold_on_a_bucket_boundary_raises_no_bucket_alert(tmp_path: Path):
    spec = tmp_path / "api.yaml"
    spec.write_text(SPEC % {"name": "ok", "threshold": "0.5"})
    (groups,) = compile_catalog(load([spec]).catalog).values()
    (tmp_path / "api.rules.yml").write_text(render_rule_file(groups))
    test = {"rule_files": ["api.rules.yml"], "evaluation_interval": "30s", "tests": [{
        "interval": "1m", "input_series": HEALTHY,
        "promql_expr_test": [{"expr": f'{c.METRIC_ERROR_RATIO}{{slo="fast-ok",window="15m"}}', "eval_time": "1h",
                              "exp_samples": [{"labels": f'{c.METRIC_ERROR_RATIO}{{service="api",slo="fast-ok",'
                                                         'window="15m",window_source="raw"}', "value": 0}]}],
        "alert_rule_test": [{"eval_time": "1h", "alertname": c.ALERT_BUCKET_MISSING, "exp_alerts": []}],
    }]}
    (tmp_path / "api.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([PROMTOOL, "test", "rules", str(tmp_path / "api.test.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
