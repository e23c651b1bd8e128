"""Rule-evaluation cost and long-window accuracy: sloengine's rules beside Sloth's and Pyrra's.

    python bench/rule_cost.py --slos 50            # and --slos 500
    python bench/rule_cost.py --slos 3 --days 2 --quick   # what the test suite runs (under a minute)

The same SLO (Sloth's getting-started example) is templated for N services.
Sloth's side uses the rules Sloth generated for it (``../shared/peers/sloth/
examples/_gen/getting-started.yml``, service name substituted), with the
history of its 5m ratio backfilled at 30s so its 30d rule reads what it would
in production; ours imports the same Sloth spec and backfills its 5m tiles;
Pyrra's side is the rule file Pyrra writes for a ratio SLO
(``../shared/peers/pyrra/generated/http.rules.yaml``: 28d window) with its
selectors mapped onto the same counters and Sloth's objective (99.9%).
All run on the same synthetic counters (31 days, one sample a minute,
patterns: flat, 100x day/night swing with errors at night, the same with
errors at peak), each tool in its own phase: Prometheus is restarted on the
same data directory with only that tool's rules, after an idle phase with no
rules. Per phase: ``prometheus_rule_group_last_duration_seconds`` summed over
each SLO's groups (wall time, sampled over the phase), and the Prometheus
process's CPU (``process_cpu_seconds_total`` over the phase, less the idle
phase's rate) per SLO. Accuracy compares each tool's recorded window error
ratio with the exact count over the same window ending at the sample's
timestamp (30d; Pyrra's is its 28d window).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloengine.compiler.rulefiles import render_rule_file  # noqa: E402
from sloengine.compiler.rules import Intervals, RecordingRule, RuleGroup, compile_catalog  # noqa: E402
from sloengine.compiler.tools import promtool  # noqa: E402
from sloengine.devstack.stack import prometheus  # noqa: E402
from sloengine.devstack.synthetic import Counter, openmetrics, window_sum, write_blocks  # noqa: E402
from sloengine.engine.backfill import backfill, install_blocks  # noqa: E402
from sloengine.model import conventions as c  # noqa: E402
from sloengine.model.durations import parse_duration  # noqa: E402
from sloengine.specs.loader import load  # noqa: E402

PEERS = REPO.parent / "shared" / "peers"
SLOTH_SPEC = PEERS / "sloth" / "examples" / "getting-started.yml"
SLOTH_RULES = PEERS / "sloth" / "examples" / "_gen" / "getting-started.yml"
PYRRA_RULES = PEERS / "pyrra" / "generated" / "http.rules.yaml"
PATTERNS = ("flat", "night-errors", "peak-errors")
TOOLS = ("sloth", "sloengine", "pyrra")
STEP = 60


@dataclass(frozen=True)
class Timing:
    """How long each phase waits and measures, and how often every group evaluates.

    The full run measures 5-minute phases on the rules' own intervals after the backfilled blocks have
    merged. ``--quick`` goes through every step and reports every field of the full run, on intervals and
    phases a few seconds long, so the test suite can run it: its figures are not benchmark results.
    """

    #: Prometheus's ``evaluation_interval`` (Sloth's groups set none, so they run at this one).
    evaluation_seconds: int
    #: sloengine's rule intervals; None: its own defaults (the ones users get).
    sloengine_intervals: Intervals
    #: Pyrra's group intervals rewritten to this (its ``2m30s`` increase group and ``30s`` burn rates); None: Pyrra's.
    pyrra_interval: str | None
    #: Wall time each tool's phase is measured (the idle phase: at most ``idle_seconds``).
    phase_seconds: float
    idle_seconds: float
    #: Seconds between two readings of ``/metrics`` while measuring.
    sample_pause: float
    #: The idle phase waits this long before it watches the block count, then reads it every ``settle_poll`` s
    #: until it holds for three readings (or ``settle_timeout`` passes).
    settle_first: float
    settle_poll: float
    settle_timeout: float
    #: How long every group may take to evaluate once, and the margin after the second evaluation's interval.
    evaluated_timeout: float
    second_evaluation_margin: float


FULL = Timing(evaluation_seconds=30, sloengine_intervals=Intervals(), pyrra_interval=None, phase_seconds=300,
              idle_seconds=120, sample_pause=20, settle_first=75, settle_poll=10, settle_timeout=900,
              evaluated_timeout=900, second_evaluation_margin=5)
QUICK = Timing(evaluation_seconds=2, sloengine_intervals=Intervals(fast_seconds=2, slow_seconds=2), pyrra_interval="2s",
               phase_seconds=5, idle_seconds=5, sample_pause=1, settle_first=1, settle_poll=1, settle_timeout=60,
               evaluated_timeout=120, second_evaluation_margin=1)


def traffic(pattern: str, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hour = (times // 3600) % 24
    day = (hour >= 8) & (hour < 20)
    if pattern == "flat":
        total, bad = np.full(times.shape, 600.0), np.full(times.shape, 0.6)
    elif pattern == "night-errors":
        total, bad = np.where(day, 6000.0, 60.0), np.where(day, 0.0, 6.0)
    else:
        total, bad = np.where(day, 6000.0, 60.0), np.where(day, 6.0, 0.0)
    total[0] = bad[0] = 0.0
    return total - bad, bad


def service_name(i: int) -> str:
    return f"svc{i:04d}"


def sloth_rules_for(service: str, template: str) -> str:
    return template.replace("myservice", service)


def pyrra_rules_for(service: str, template: str) -> str:
    """Pyrra's ConfigMap rule file for its ratio SLO, on this service's counters.

    Its selectors ``http_requests_total{job="app"[,status=~"5.."]}`` become
    Sloth's example's ``http_request_duration_seconds_count{job=SERVICE[,code=~"(5..|429)"]}``,
    its grouping label ``status`` becomes ``code``, its 99.5% objective Sloth's
    99.9%, and its groups are named per service. ``partial_response_strategy``
    (a Thanos field Prometheus refuses) is dropped. Windows, intervals and
    expressions are otherwise Pyrra's own.
    """
    import yaml

    text = (template.replace("http_requests_total{", "http_request_duration_seconds_count{")
            .replace('status=~"5.."', 'code=~"(5..|429)"').replace("by (status)", "by (code)")
            .replace('job="app"', f'job="{service}"').replace("(1-0.995)", "(1-0.999)"))
    data = yaml.safe_load(text)
    for group in data["groups"]:
        group.pop("partial_response_strategy", None)
        group["name"] = f"pyrra-{service}" + group["name"][len("http"):]
        for rule in group["rules"]:
            if rule.get("labels", {}).get("job") == "app":
                rule["labels"]["job"] = service
    text = yaml.safe_dump(data, sort_keys=False)
    assert "status" not in text and "http_requests_total" not in text and '"app"' not in text, text
    return text


def write_specs(n: int, work: Path) -> list[Path]:
    spec = SLOTH_SPEC.read_text()
    out = []
    for i in range(n):
        path = work / "specs" / f"{service_name(i)}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec.replace("myservice", service_name(i)))
        out.append(path)
    return out


def synthesize(n: int, days: int, work: Path, data: Path) -> tuple[int, int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    end = int(time.time()) // STEP * STEP
    start = end - days * 86400
    times = start + STEP * np.arange(days * 86400 // STEP + 1, dtype=np.int64)
    truth = {}
    batch: list[Counter] = []
    for i in range(n):
        svc = service_name(i)
        good, bad = traffic(PATTERNS[i % len(PATTERNS)], times)
        truth[svc] = (good + bad, bad)
        batch.append(Counter("http_request_duration_seconds_count", (("code", "200"), ("job", svc)), good))
        batch.append(Counter("http_request_duration_seconds_count", (("code", "500"), ("job", svc)), bad))
        if len(batch) >= 40 or i == n - 1:
            write_blocks(openmetrics(batch, start, STEP), work, data)
            batch = []
    return start, end, truth


def group_costs(metrics_text: str) -> dict[str, float]:
    costs = {}
    for line in metrics_text.splitlines():
        if line.startswith("prometheus_rule_group_last_duration_seconds{"):
            name = re.search(r'rule_group="[^"]*;([^"]*)"', line).group(1)
            costs[name] = float(line.rsplit(" ", 1)[1])
    return costs


def slo_of_group(name: str) -> tuple[str, str] | None:
    """(tool, service) for a group name of any tool."""
    if name.startswith("sloth-slo-"):
        match = re.search(r"(svc\d{4})", name)
        return ("sloth", match.group(1)) if match else None
    if name.startswith("sloengine:"):
        return ("sloengine", name.split(":")[1])
    if name.startswith("pyrra-"):
        match = re.search(r"(svc\d{4})", name)
        return ("pyrra", match.group(1)) if match else None
    return None


def cpu_seconds(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise RuntimeError("process_cpu_seconds_total not in Prometheus's /metrics")


def measure(prom, seconds: float, pause: float) -> tuple[dict[str, list[float]], float, float]:
    """Group durations seen over ``seconds`` of wall time, and the process's CPU seconds and wall seconds spent.

    Durations: per group, the ``last_duration`` read every ``pause`` seconds.
    """
    seen: dict[str, list[float]] = {}
    text = prom.metrics_text()
    t0, cpu0 = time.monotonic(), cpu_seconds(text)
    while True:
        for group, value in group_costs(text).items():
            if slo_of_group(group) and value > 0:
                seen.setdefault(group, []).append(value)
        if time.monotonic() - t0 >= seconds:
            break
        time.sleep(min(pause, max(0.0, seconds - (time.monotonic() - t0))))
        text = prom.metrics_text()
    return seen, cpu_seconds(text) - cpu0, time.monotonic() - t0


def settle(prom, timing: Timing) -> None:
    """Until Prometheus has merged the backfilled blocks (the block count holds steady for a while)."""
    time.sleep(timing.settle_first)
    last, steady = None, 0
    deadline = time.monotonic() + timing.settle_timeout
    while steady < 3 and time.monotonic() < deadline:
        blocks = re.search(r"^prometheus_tsdb_blocks_loaded (\S+)$", prom.metrics_text(), re.M)
        value = blocks.group(1) if blocks else None
        steady = steady + 1 if value == last else 0
        last = value
        time.sleep(timing.settle_poll)


def per_slo(seen: dict[str, list[float]], interval_of) -> tuple[float, float]:
    """(ms per evaluation cycle summed over an SLO's groups, ms per 30s of wall time), median over SLOs."""
    by_slo: dict[str, list[tuple[float, float]]] = {}
    for group, values in seen.items():
        svc = slo_of_group(group)[1]
        median = statistics.median(values)
        by_slo.setdefault(svc, []).append((median, median * 30.0 / interval_of(group)))
    cycle = [sum(m for m, _ in parts) * 1000 for parts in by_slo.values()]
    wall = [sum(w for _, w in parts) * 1000 for parts in by_slo.values()]
    return statistics.median(cycle), statistics.median(wall)


#: Per tool: (PromQL of the recorded window error ratio per service, by ``job`` or ``service``; window days).
RATIO_QUERIES = {
    "sloth": ('label_replace(slo:sli_error:ratio_rate30d{sloth_service=~"svc.*"}, '
              '"svc", "$1", "sloth_service", "(.*)")', 30),
    "sloengine": (f'label_replace({c.METRIC_ERROR_RATIO}{{window="30d"}}, "svc", "$1", "service", "(.*)")', 30),
    # Pyrra records increase() over its whole 28d window by code; its availability is 1 - errors / total.
    "pyrra": ('label_replace(sum by (job) (http_requests:increase4w{code=~"(5..|429)"}) / '
              'sum by (job) (http_requests:increase4w), "svc", "$1", "job", "(.*)")', 28),
}


def accuracy(prom, tool: str, truth, start) -> dict[str, list[float]]:
    """Relative error of the tool's recorded window ratio against the exact count over the same window,
    ending at the instant the rule recorded it."""
    query, days = RATIO_QUERIES[tool]
    # timestamp() of a ratio of recorded series is the query instant: read the recording instant separately.
    stamp_of = {
        "sloth": 'label_replace(timestamp(slo:sli_error:ratio_rate30d{sloth_service=~"svc.*"}), '
                 '"svc", "$1", "sloth_service", "(.*)")',
        "sloengine": f'label_replace(timestamp({c.METRIC_ERROR_RATIO}{{window="30d"}}), '
                     '"svc", "$1", "service", "(.*)")',
        "pyrra": 'label_replace(max by (job) (timestamp(http_requests:increase4w)), "svc", "$1", "job", "(.*)")',
    }[tool]
    now = time.time()
    values = {r["metric"]["svc"]: float(r["value"][1]) for r in prom.query(query, now)}
    stamps = {r["metric"]["svc"]: float(r["value"][1]) for r in prom.query(stamp_of, now)}
    out: dict[str, list[float]] = {}
    for svc in sorted(truth):
        if svc not in values or svc not in stamps:
            continue
        pattern = PATTERNS[int(svc[3:]) % len(PATTERNS)]
        total, bad = truth[svc]
        at = stamps[svc]
        exact = (window_sum(bad, start, STEP, at - days * 86400, at)
                 / window_sum(total, start, STEP, at - days * 86400, at))
        out.setdefault(pattern, []).append(values[svc] / exact - 1)
    return out


def phase(name: str, rule_files: list[Path], work: Path, data: Path, timing: Timing, seconds: float,
          after=None) -> dict:
    """One Prometheus on ``data`` with only these rules: wait for every group to evaluate, then measure."""
    with prometheus(work / f"phase-{name}", data_dir=data, rule_files=rule_files,
                    evaluation_interval=f"{timing.evaluation_seconds}s") as prom:
        if rule_files:
            prom.wait_evaluated(timeout=timing.evaluated_timeout)
            # A group's first evaluation after a restart reads cold caches: let every group evaluate once
            # more before measuring, so a 5-minute group's sampled duration is not its first one.
            time.sleep(max(g["interval"] for g in prom.rule_groups()) + timing.second_evaluation_margin)
        else:
            settle(prom, timing)
        seen, cpu, wall = measure(prom, seconds, pause=timing.sample_pause)
        extra = after(prom) if after else None
    return {"seen": seen, "cpu_seconds": cpu, "wall_seconds": wall, "extra": extra}


def run(n: int, days: int, quick: bool, work: Path) -> dict:
    timing = QUICK if quick else FULL
    if not SLOTH_SPEC.exists():
        raise SystemExit(f"{SLOTH_SPEC} not found: this benchmark needs ../shared/peers beside the repo")
    started = time.monotonic()
    specs = write_specs(n, work)
    result = load(specs)
    if result.errors:
        raise SystemExit("\n".join(d.render() for d in result.errors))
    catalog = result.catalog
    data = work / "data"
    start, end, truth = synthesize(n, days, work, data)
    template = SLOTH_RULES.read_text()
    sloth_files = []
    for i in range(n):
        path = work / "sloth" / f"{service_name(i)}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sloth_rules_for(service_name(i), template))
        sloth_files.append(path)
    history_from = start + c.TILE_SECONDS
    with prometheus(work / "raw", data_dir=data) as prom:
        ours = backfill(catalog, prom.url, history_from, end, work / "backfill")
        # Sloth's 30d rule averages its recorded 5m ratio: give it that history, at its 30s interval.
        five_minute = work / "sloth-5m.yml"
        five_minute.write_text(_sloth_history_rule(template))
        sloth_blocks = work / "sloth-blocks"
        promtool("tsdb", "create-blocks-from", "--max-block-duration=90h", "rules", "--quiet", f"--url={prom.url}",
                 f"--start={history_from}", f"--end={end}", f"--output-dir={sloth_blocks}", "--eval-interval=30s",
                 str(five_minute), timeout=6 * 3600)
    install_blocks(ours.blocks_dir, data)
    install_blocks(sloth_blocks, data)
    intervals = timing.sloengine_intervals
    ours_files = []
    for relative, groups in compile_catalog(catalog, intervals).items():
        path = work / "ours" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        ours_files.append(path)
    pyrra_files = []
    if PYRRA_RULES.exists():
        pyrra_template = PYRRA_RULES.read_text()
        for i in range(n):
            path = work / "pyrra" / f"{service_name(i)}.yml"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = pyrra_rules_for(service_name(i), pyrra_template)
            if timing.pyrra_interval is not None:
                text = _with_group_intervals(text, timing.pyrra_interval)
            path.write_text(text)
            pyrra_files.append(path)
        promtool("check", "rules", *map(str, pyrra_files[:1]))
    prepared = time.monotonic() - started
    seconds = timing.phase_seconds
    idle = phase("idle", [], work, data, timing, min(seconds, timing.idle_seconds))
    phases = {
        "sloth": phase("sloth", sloth_files, work, data, timing, seconds,
                       lambda prom: (accuracy(prom, "sloth", truth, start),
                                     _history_matches_sloths_rule(prom, template, history_from, end))),
        "sloengine": phase("sloengine", ours_files, work, data, timing, seconds,
                           lambda prom: (accuracy(prom, "sloengine", truth, start), None)),
    }
    if pyrra_files:
        phases["pyrra"] = phase("pyrra", pyrra_files, work, data, timing, seconds,
                                lambda prom: (accuracy(prom, "pyrra", truth, start), None))
    interval_of = {
        "sloth": lambda g: float(timing.evaluation_seconds),
        "sloengine": lambda g: float(intervals.slow_seconds if g.endswith(":slow") else intervals.fast_seconds),
        "pyrra": lambda g: (parse_duration(timing.pyrra_interval) if timing.pyrra_interval is not None
                            else 150.0 if g.endswith("-increase") else 30.0),
    }
    idle_rate = idle["cpu_seconds"] / idle["wall_seconds"]
    tools = {}
    for tool, ph in phases.items():
        cycle, wall = per_slo(ph["seen"], interval_of[tool])
        rate = ph["cpu_seconds"] / ph["wall_seconds"]
        per_second = max(rate - idle_rate, 0.0) / n
        tools[tool] = {
            "ms_per_slo_per_cycle": round(cycle, 3),
            "ms_per_slo_per_30s": round(wall, 3),
            "cpu_ms_per_slo_per_second": round(per_second * 1000, 4),
            "cpu_ms_per_slo_per_30s": round(per_second * 30 * 1000, 3),
            "phase_cpu_seconds": round(ph["cpu_seconds"], 2),
            "phase_wall_seconds": round(ph["wall_seconds"], 1),
            "phase_cores_used": round(rate, 4),
            "groups_seen": len(ph["seen"]),
        }
    ours_groups = phases["sloengine"]["seen"]
    tools["sloengine"]["ms_by_group"] = {
        kind: round(statistics.median(statistics.median(v) for g, v in ours_groups.items() if g.endswith(kind))
                    * 1000, 3)
        for kind in (":fast", ":slow")}
    if "pyrra" in phases:
        pyrra_groups = phases["pyrra"]["seen"]
        tools["pyrra"]["ms_by_group"] = {
            kind: round(statistics.median(statistics.median(v) for g, v in pyrra_groups.items()
                                          if g.endswith("-increase") == (kind == "increase")) * 1000, 3)
            for kind in ("increase", "burnrate")}

    def ratio(key: str, tool: str = "sloengine", base: str = "sloth") -> float | None:
        a, b = tools.get(tool, {}).get(key), tools.get(base, {}).get(key)
        return round(a / b, 4) if a is not None and b else None

    ratios = {
        f"{tool}_over_{base}": {
            "per_cycle": ratio("ms_per_slo_per_cycle", tool, base),
            "per_30s": ratio("ms_per_slo_per_30s", tool, base),
            "cpu_per_second": ratio("cpu_ms_per_slo_per_second", tool, base),
        }
        for tool, base in (("sloengine", "sloth"), ("sloengine", "pyrra"), ("pyrra", "sloth")) if base in tools
    }
    return flat_keys({
        "slos": n,
        "days": days,
        "quick": quick,
        "prepare_seconds": round(prepared, 1),
        "phase_seconds": seconds,
        "idle_cores_used": round(idle_rate, 4),
        "tools": tools,
        "ratios": ratios,
        # the headline figures, kept under their earlier names
        "cost_ratio_per_cycle": ratios["sloengine_over_sloth"]["per_cycle"],
        "cost_ratio_per_30s": ratios["sloengine_over_sloth"]["per_30s"],
        "cpu_ratio_per_second": ratios["sloengine_over_sloth"]["cpu_per_second"],
        "sloth_history_max_relative_difference": phases["sloth"]["extra"][1],
        "accuracy_window_days": {tool: RATIO_QUERIES[tool][1] for tool in phases},
        "accuracy_relative_error": {
            tool: {p: round(max(errs, key=abs), 6) for p, errs in sorted(ph["extra"][0].items())}
            for tool, ph in phases.items()
        },
    })


def flat_keys(result: dict) -> dict:
    """The per-tool figures also under flat names (``<tool>_ms_per_slo_per_cycle``, ``cpu_ms_per_slo_per_second``
    by tool, ``accuracy_relative_error_30d`` for the tools whose window is 30d), for readers of earlier results."""
    out = dict(result)
    for tool, figures in result["tools"].items():
        for key in ("ms_per_slo_per_cycle", "ms_per_slo_per_30s"):
            out[f"{tool}_{key}"] = figures[key]
    out["sloengine_ms_by_group"] = result["tools"]["sloengine"].get("ms_by_group")
    out["cpu_ms_per_slo_per_second"] = {t: f["cpu_ms_per_slo_per_second"] for t, f in result["tools"].items()}
    out["accuracy_relative_error_30d"] = {t: v for t, v in result["accuracy_relative_error"].items()
                                          if result["accuracy_window_days"][t] == 30}
    return out


def _with_group_intervals(text: str, interval: str) -> str:
    """A rule file with every group's ``interval`` set to ``interval``."""
    import yaml

    data = yaml.safe_load(text)
    for group in data["groups"]:
        group["interval"] = interval
    return yaml.safe_dump(data, sort_keys=False)


def _history_matches_sloths_rule(prom, template: str, history_from: int, end: int) -> float:
    """Largest relative difference between the backfilled history and Sloth's own per-service rule,
    evaluated at a few past instants of the backfill (0 when the combined rule is faithful)."""
    import yaml

    (rule,) = [r for g in yaml.safe_load(sloth_rules_for(service_name(0), template))["groups"] for r in g["rules"]
               if r.get("record") == "slo:sli_error:ratio_rate5m"]
    worst = 0.0
    for k in range(1, 6):
        at = history_from + 30 * ((end - history_from) // 30 * k // 6)
        own = prom.query(rule["expr"], at)
        recorded = prom.query(f'slo:sli_error:ratio_rate5m{{sloth_service="{service_name(0)}"}}', at)
        if own and recorded:
            a, b = float(own[0]["value"][1]), float(recorded[0]["value"][1])
            worst = max(worst, abs(a - b) / abs(a) if a else abs(b))
        else:
            worst = float("inf")
    return worst


def _sloth_history_rule(template: str) -> str:
    """Sloth's 5m error-ratio rule for every service at once, for the backfill of its history.

    Sloth's rule per service is ``sum(rate(bad{job="svc"}[5m])) / sum(rate(total{job="svc"}[5m]))`` with
    constant labels; the same sums ``by (job)`` over all services, with the labels rebuilt from ``job``
    (``label_replace``), give every service's series with identical values and labels in one rule. promtool
    writes a block per rule per range and evaluates each rule's range query separately, so one rule instead
    of one per service keeps 500 services' history to a few blocks and minutes.
    """
    import yaml

    (rule,) = [r for g in yaml.safe_load(template)["groups"] for r in g["rules"]
               if r.get("record") == "slo:sli_error:ratio_rate5m"]
    expr = " ".join(rule["expr"].split())
    expr = expr.replace("sum(rate(", "sum by (job) (rate(").replace('job="myservice"', 'job=~"svc[0-9]{4}"')
    for name, value in sorted(rule.get("labels", {}).items()):
        if "myservice" in str(value):
            expr = f'label_replace({expr}, "{name}", "{str(value).replace("myservice", "${1}")}", "job", "(.*)")'
        else:
            expr = f'label_replace({expr}, "{name}", "{value}", "", "")'
    expr = f'label_replace({expr}, "job", "", "", "")'
    return render_rule_file((RuleGroup("sloth-backfill", 30, (RecordingRule(rule["record"], expr),)),))


def render_table(r: dict) -> str:
    acc, tools = r["accuracy_relative_error"], r["tools"]
    lines = [
        "| tool | ms/SLO/cycle | ms/SLO per 30s | CPU ms/SLO/s | CPU ms/SLO per 30s |",
        "|---|---|---|---|---|",
    ]
    for tool, t in tools.items():
        lines.append(f"| {tool} | {t['ms_per_slo_per_cycle']} | {t['ms_per_slo_per_30s']} | "
                     f"{t['cpu_ms_per_slo_per_second']} | {t['cpu_ms_per_slo_per_30s']} |")
    lines += ["", "| ratio | per cycle | per 30s | CPU |", "|---|---|---|---|"]
    for name, v in r["ratios"].items():
        lines.append(f"| {name} | {v['per_cycle']} | {v['per_30s']} | {v['cpu_per_second']} |")
    lines += ["", "| window error ratio vs exact | " + " | ".join(PATTERNS) + " |", "|---|" + "---|" * len(PATTERNS)]
    for tool in acc:
        lines.append(f"| {tool} ({r['accuracy_window_days'][tool]}d) | "
                     + " | ".join(f"{acc[tool].get(p, float('nan')):+.2%}" for p in PATTERNS) + " |")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--slos", type=int, default=50)
@click.option("--days", type=int, default=31)
@click.option("--quick", is_flag=True,
              help="tiny: every group of every tool every 2s and phases of a few seconds (for tests; not results)")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
def main(slos: int, days: int, quick: bool, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sloengine-bench-") as tmp:
        result = run(slos, days, quick, Path(tmp))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rule_cost-{slos}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    print(render_table(result))


if __name__ == "__main__":
    main()
