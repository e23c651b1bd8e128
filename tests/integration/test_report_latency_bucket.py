"""``report`` on a latency SLI whose threshold is not a bucket boundary: an error that says so, never 100% errors.

A healthy histogram (every request within 0.25 s, buckets 0.25, 0.5 and +Inf) is backfilled into a real
Prometheus. The SLO asking for 0.5 s is computed; the one asking for 0.45 s has no ``le`` series to count
and must be reported as an ``error`` naming the bucket (exit 3), not as a breached SLO.
"""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks

STEP = 60
SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: rpc}
slos:
  - name: within-half-a-second
    objective: 99
    window: 1d
    sli: {latency: {histogram: 'rpc_duration_seconds{job="rpc"}', threshold: 0.5}}
  - name: within-045
    objective: 99
    window: 1d
    sli: {latency: {histogram: 'rpc_duration_seconds{job="rpc"}', threshold: 0.45}}
"""


def test_a_threshold_without_a_bucket_is_an_error_naming_the_bucket_not_a_breach(tmp_path):
    n = 26 * 3600 // STEP
    start = 1_780_000_000 // STEP * STEP
    requests = np.random.default_rng(7).poisson(30, n).astype(np.float64)
    requests[0] = 0
    series = [Counter("rpc_duration_seconds_bucket", (("job", "rpc"), ("le", le)), requests)
              for le in ("0.25", "0.5", "+Inf")]
    series.append(Counter("rpc_duration_seconds_count", (("job", "rpc"),), requests))
    write_blocks(openmetrics(series, start, STEP), tmp_path, tmp_path / "data")
    spec = tmp_path / "rpc.yaml"
    spec.write_text(SPEC)
    at = start + (n - 1) * STEP
    with prometheus(tmp_path / "prom", data_dir=tmp_path / "data", retention="36500d") as prom:
        for extra in ([], ["--raw"]):
            outcome = CliRunner().invoke(main, ["report", str(spec), "--prometheus", prom.url, "--at", str(at),
                                                "--format", "json", *extra])
            assert outcome.exit_code == 3, outcome.output
            results = {r["slo"]: r for r in json.loads(outcome.stdout)["slos"]}
            fine, missing = results["within-half-a-second"], results["within-045"]
            assert fine["status"] == "ok" and fine["sli"] == 1.0
            assert missing["status"] == "error" and missing["sli"] is None
            assert "le=0.45" in missing["error"] and "bucket boundaries" in missing["error"]
