"""Rule-evaluation cost and long-window accuracy: sloengine's rules beside Sloth's, in one Prometheus.

    python bench/rule_cost.py --slos 50            # and --slos 500
    python bench/rule_cost.py --slos 2 --days 4 --quick   # what the test suite runs

The same SLO (Sloth's getting-started example) is templated for N services.
Sloth's side uses the rules Sloth generated for it (``../shared/peers/sloth/
examples/_gen/getting-started.yml``, service name substituted), with the
history of its 5m ratio backfilled at 30s so its 30d rule reads what it would
in production; ours imports the same Sloth spec and backfills its 5m tiles.
Both sets of rules run in one Prometheus on the same synthetic counters (31
days, one sample a minute, patterns: flat, 100x day/night swing with errors at
night, the same with errors at peak). Cost is
``prometheus_rule_group_last_duration_seconds`` summed over each SLO's groups,
sampled over several evaluations; accuracy compares each tool's 30d error
ratio with the exact count.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloengine import conventions as c  # noqa: E402
from sloengine.backfill import backfill, install_blocks  # noqa: E402
from sloengine.loader import load  # noqa: E402
from sloengine.rulefiles import render_rule_file  # noqa: E402
from sloengine.rules import Intervals, RecordingRule, RuleGroup, compile_catalog  # noqa: E402
from sloengine.stack import prometheus, promtool  # noqa: E402
from sloengine.synthetic import Counter, openmetrics, window_sum, write_blocks  # noqa: E402

PEERS = REPO.parent / "shared" / "peers"
SLOTH_SPEC = PEERS / "sloth" / "examples" / "getting-started.yml"
SLOTH_RULES = PEERS / "sloth" / "examples" / "_gen" / "getting-started.yml"
PATTERNS = ("flat", "night-errors", "peak-errors")
STEP = 60


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
    """(tool, service) for a group name of either tool."""
    if name.startswith("sloth-slo-"):
        match = re.search(r"(svc\d{4})", name)
        return ("sloth", match.group(1)) if match else None
    if name.startswith("sloengine:"):
        return ("sloengine", name.split(":")[1])
    return None


def measure(prom, samples: int, pause: float) -> dict[str, dict[str, list[float]]]:
    """Per tool, per group: last durations observed over several scrapes of /metrics."""
    seen: dict[str, dict[str, list[float]]] = {"sloth": {}, "sloengine": {}}
    for _ in range(samples):
        for group, seconds in group_costs(prom.metrics_text()).items():
            owner = slo_of_group(group)
            if owner and seconds > 0:
                seen[owner[0]].setdefault(group, []).append(seconds)
        time.sleep(pause)
    return seen


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


def accuracy(prom, truth, start) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {"sloth": {}, "sloengine": {}}
    for svc in sorted(truth):
        pattern = PATTERNS[int(svc[3:]) % len(PATTERNS)]
        total, bad = truth[svc]
        queries = {
            "sloth": f'slo:sli_error:ratio_rate30d{{sloth_service="{svc}"}}',
            "sloengine": f'{c.METRIC_ERROR_RATIO}{{service="{svc}",window="30d"}}',
        }
        for tool, query in queries.items():
            result = prom.query(query)
            if not result:
                continue
            at, value = float(result[0]["value"][0]), float(result[0]["value"][1])
            exact = window_sum(bad, start, STEP, at - 30 * 86400, at) / window_sum(total, start, STEP,
                                                                                    at - 30 * 86400, at)
            out[tool].setdefault(pattern, []).append(value / exact - 1)
    return out


def run(n: int, days: int, quick: bool, work: Path) -> dict:
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
    intervals = Intervals(slow_seconds=30) if quick else Intervals()
    rule_files = list(sloth_files)
    for relative, groups in compile_catalog(catalog, intervals).items():
        path = work / "ours" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        rule_files.append(path)
    prepared = time.monotonic() - started
    with prometheus(work / "live", data_dir=data, rule_files=rule_files) as prom:
        prom.wait_evaluated(timeout=120 if quick else 420)
        seen = measure(prom, samples=3 if quick else 8, pause=10 if quick else 40)
        acc = accuracy(prom, truth, start)
        history_check = _history_matches_sloths_rule(prom, template, history_from, end)
    interval_of = {"sloth": lambda g: 30.0,
                   "sloengine": lambda g: float(intervals.slow_seconds if g.endswith(":slow") else intervals.fast_seconds)}
    split = {kind: round(statistics.median(statistics.median(v) for g, v in seen["sloengine"].items()
                                           if g.endswith(kind)) * 1000, 3)
             for kind in (":fast", ":slow")}
    sloth_cycle, sloth_wall = per_slo(seen["sloth"], interval_of["sloth"])
    ours_cycle, ours_wall = per_slo(seen["sloengine"], interval_of["sloengine"])
    return {
        "slos": n,
        "days": days,
        "quick": quick,
        "prepare_seconds": round(prepared, 1),
        "sloth_ms_per_slo_per_cycle": round(sloth_cycle, 3),
        "sloengine_ms_per_slo_per_cycle": round(ours_cycle, 3),
        "sloth_ms_per_slo_per_30s": round(sloth_wall, 3),
        "sloengine_ms_per_slo_per_30s": round(ours_wall, 3),
        "sloengine_ms_by_group": split,
        "cost_ratio_per_cycle": round(ours_cycle / sloth_cycle, 4) if sloth_cycle else None,
        "cost_ratio_per_30s": round(ours_wall / sloth_wall, 4) if sloth_wall else None,
        "sloth_history_max_relative_difference": history_check,
        "accuracy_relative_error_30d": {
            tool: {p: round(max(errs, key=abs), 6) for p, errs in sorted(by_pattern.items())}
            for tool, by_pattern in acc.items()
        },
    }


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
    acc = r["accuracy_relative_error_30d"]
    lines = [
        "| SLOs | Sloth ms/SLO/cycle | sloengine ms/SLO/cycle | ratio | Sloth ms/SLO/30s | sloengine ms/SLO/30s | ratio |",
        "|---|---|---|---|---|---|---|",
        f"| {r['slos']} | {r['sloth_ms_per_slo_per_cycle']} | {r['sloengine_ms_per_slo_per_cycle']} | "
        f"{r['cost_ratio_per_cycle']} | {r['sloth_ms_per_slo_per_30s']} | {r['sloengine_ms_per_slo_per_30s']} | "
        f"{r['cost_ratio_per_30s']} |",
        "",
        "| 30d error ratio vs exact | " + " | ".join(PATTERNS) + " |",
        "|---|" + "---|" * len(PATTERNS),
    ]
    for tool in ("sloth", "sloengine"):
        lines.append(f"| {tool} | " + " | ".join(f"{acc.get(tool, {}).get(p, float('nan')):+.2%}" for p in PATTERNS)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slos", type=int, default=50)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--quick", action="store_true", help="30s slow interval and fewer samples (for tests)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sloengine-bench-") as tmp:
        result = run(args.slos, args.days, args.quick, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"rule_cost-{args.slos}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    print(render_table(result))


if __name__ == "__main__":
    main()
