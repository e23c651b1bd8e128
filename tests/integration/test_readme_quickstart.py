"""The README's quickstart works as written: its spec and every one of its commands, in order, in a fresh
directory, against promtool, amtool and a real Prometheus holding traffic for the spec's selectors (seconds).

Two substitutions and nothing else: the Prometheus the README talks to (``http://127.0.0.1:9090``) is one this
test starts on a free port, and the configuration directory (``/etc/prometheus``) is a temporary one. The two
lines that put ``sloengine`` on ``PATH`` are not run: the commands run with the test's own virtualenv (the one
``make test`` installs) first on ``PATH``, which is what the first of them does; the second (``pip install .``
into a virtualenv of its own) needs the package index and was checked by hand from a fresh clone.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sloengine.compiler.escalation import load_route_cases, run_route_tests
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
BIN = Path(sys.executable).parent
README_PROMETHEUS = "http://127.0.0.1:9090"
README_CONFIG_DIR = "/etc/prometheus"
#: How the README gets the command: not run here (see the module's docstring).
NOT_RUN = (
    'export PATH="$PWD/.venv/bin:$PATH"',
    'python3 -m venv ~/.sloengine && ~/.sloengine/bin/pip install . && export PATH="$HOME/.sloengine/bin:$PATH"',
)
STEP = 15   # a 15 s scrape
HOURS = 6

pytestmark = [
    pytest.mark.skipif(shutil.which("amtool") is None, reason="needs amtool (make test installs it)"),
    pytest.mark.skipif(not (BIN / "sloengine").exists(), reason="needs the package installed (make venv)"),
]


def quickstart() -> str:
    start = README.index("## Quickstart: your own SLOs\n")
    return README[start: README.index("\n## ", start + 1)]


def blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", quickstart(), re.S | re.M)


def commands() -> list[str]:
    """Every command of the quickstart's shell blocks, in order, continuation lines joined, comments dropped."""
    out = []
    for block in blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                out.append(" ".join(line.split()))
    return out


def named_yaml(name: str) -> str:
    """The quickstart's YAML block whose first line is ``# <name>``."""
    (block,) = [b for b in blocks("yaml") if b.startswith(f"# {name}\n")]
    return block


def _traffic(end: int) -> tuple[list[Counter], float]:
    """Six hours of Poisson traffic for the spec's selectors on two instances, and the exact share of good
    requests (404s are the client's errors: good; 500s and 503s are bad)."""
    rng = np.random.default_rng(12)
    n = HOURS * 3600 // STEP + 1
    series, good, total = [], 0.0, 0.0
    for instance in ("10.0.1.7:8080", "10.0.2.9:8080"):
        for code, rate in (("200", 40.0), ("404", 1.0), ("500", 0.015), ("503", 0.01)):   # a 0.6x burn
            increments = rng.poisson(rate * STEP, n).astype(float)
            increments[0] = 0   # the first sample is the baseline
            series.append(Counter("http_requests_total", (("code", code), ("instance", instance),
                                                          ("job", "orders-api")), increments))
            total += increments.sum()
            good += increments.sum() if not code.startswith("5") else 0
    return series, good / total


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Everything the quickstart does, with each command's outcome."""
    tmp = tmp_path_factory.mktemp("quickstart")
    work, etc = tmp / "work", tmp / "etc-prometheus"
    spec = named_yaml("slos/orders-api.yaml")
    (work / "slos").mkdir(parents=True)
    (work / "slos" / "orders-api.yaml").write_text(spec)
    end = int(time.time()) // STEP * STEP
    series, sli = _traffic(end)
    write_blocks(openmetrics(series, end - HOURS * 3600, STEP), tmp, tmp / "data")
    env = {"PATH": f"{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp),
           "LANG": "C.UTF-8"}
    outcomes: list[tuple[str, subprocess.CompletedProcess]] = []
    with prometheus(etc, data_dir=tmp / "data") as prom:
        for command in commands():
            if command in NOT_RUN:
                continue
            if "prometheus.yml" in command and not outcomes[-1][0].startswith("promtool check config"):
                # The user's edit between the blocks: the README's lines as prometheus.yml (complete by itself).
                (etc / "prometheus.yml").write_text(named_yaml("prometheus.yml"))
            runnable = command.replace(README_PROMETHEUS, prom.url).replace(README_CONFIG_DIR, str(etc))
            done = subprocess.run(["bash", "-c", runnable], cwd=work, env=env, capture_output=True, text=True,
                                  timeout=300)
            outcomes.append((command, done))
            if done.returncode != 0:
                break
        groups = [g["name"] for g in prom.rule_groups()]
    return {"outcomes": outcomes, "sli": sli, "groups": groups, "work": work}


def outcome(run, command: str) -> subprocess.CompletedProcess:
    """The outcome of ``command``, or of the one command that starts with it."""
    exact = [d for c, d in run["outcomes"] if c == command]
    (done,) = exact or [d for c, d in run["outcomes"] if c.startswith(command)]
    return done


def test_every_quickstart_command_runs_as_written(run):
    ran = [c for c, _ in run["outcomes"]]
    assert [c for c in commands() if c not in NOT_RUN] == ran, "a command failed; see the next assertion"
    for command, done in run["outcomes"]:
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert set(NOT_RUN) <= set(commands()), "the README's way to get the command changed: update NOT_RUN"
    for checked in ("sloengine validate", "sloengine generate", "promtool check rules", "promtool test rules",
                    "amtool check-config", "python -m sloengine.compiler.escalation check", "promtool check config",
                    "amtool config routes test", "sloengine backfill", "sloengine report"):
        assert any(c.startswith(checked) for c in ran), checked


def test_backfill_writes_the_tiles_history_as_blocks(run):
    blocks = [p for p in (run["work"] / "backfill" / "blocks").iterdir() if (p / "meta.json").exists()]
    assert blocks, outcome(run, "sloengine backfill").stderr


def test_the_spec_validates_cleanly_and_its_alert_tests_pass(run):
    assert outcome(run, "sloengine validate slos/").stdout.startswith(
        "1 SLOs in 1 services from 1 files: 0 errors, 0 warnings")
    assert "SUCCESS" in outcome(run, "promtool test rules").stdout
    routes = outcome(run, "python -m sloengine.compiler.escalation").stdout
    assert re.search(r"^(\d+)/\1 route cases pass$", routes, re.M)


def test_the_prometheus_yml_lines_load_the_rules_on_reload(run):
    assert "SUCCESS: 1 rule files found" in outcome(run, "promtool check config").stdout
    assert {"sloengine:orders-api:availability:fast", "sloengine:orders-api:availability:slow"} <= set(run["groups"])


def test_validate_against_prometheus_finds_the_selectors_series(run):
    checked = outcome(run, "sloengine validate slos/ --prometheus")
    assert "0 errors, 0 warnings; checked against" in checked.stdout


def test_the_report_shows_the_exact_sli_in_the_columns_the_readme_shows(run):
    (sample,) = [b for b in blocks("text") if b.startswith("SLO ")]
    lines = outcome(run, "sloengine report").stdout.splitlines()
    columns = [re.split(r"\s{2,}", line.strip()) for line in (*sample.splitlines()[:1], *lines[:1])]
    assert columns[0] == columns[1]
    row = dict(zip(columns[1], re.split(r"\s{2,}", lines[2].strip())))
    assert row["SLO"] == "orders-api/availability"
    assert row["SLI"] == f"{run['sli'] * 100:.3f}%"
    assert row["status"] == "ok" and row["source"] == "raw"


EXISTING_ALERTMANAGER = """\
route:
  receiver: ops-email
  group_by: [alertname, cluster]
  routes:
    - matchers: ['severity="critical"']
      receiver: ops-pager
receivers:
  - name: ops-email
    email_configs: [{to: ops@example.com, from: alertmanager@example.com, smarthost: "smtp.example.com:587"}]
  - name: ops-pager
    webhook_configs: [{url: "https://hooks.example.com/alerts/ops"}]
"""


def test_merging_the_generated_alertmanager_config_as_described_routes_every_alert(run, tmp_path):
    """The README's merge recipe, done to an existing configuration: every generated route test passes
    against the merged file, and the existing routes still work."""
    generated = run["work"] / "generated" / "alertmanager"
    ours = yaml.safe_load((generated / "alertmanager.yml").read_text())
    merged = yaml.safe_load(EXISTING_ALERTMANAGER)
    routes = [{**route, "group_by": ours["route"]["group_by"]} for route in ours["route"]["routes"]]
    merged["route"]["routes"] = routes + merged["route"]["routes"]
    merged["receivers"] += ours["receivers"]
    for key in ("inhibit_rules", "time_intervals"):
        merged[key] = merged.get(key, []) + ours.get(key, [])
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(merged, sort_keys=False))
    checked = subprocess.run(["amtool", "check-config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    cases = load_route_cases((generated / "routes.test.yml").read_text())
    assert cases
    assert [r.case.name for r in run_route_tests(config, cases) if not r.ok] == []
    existing = subprocess.run(["amtool", "config", "routes", "test", f"--config.file={config}",
                               "--verify.receivers=ops-pager", "alertname=DiskFull", "severity=critical"],
                              capture_output=True, text=True)
    assert existing.returncode == 0, existing.stdout + existing.stderr
