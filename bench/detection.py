"""Alert detection times against the SRE workbook's theory, measured in a real Prometheus.

    python bench/detection.py            # error rates 100%, 50%, 10%, 2%, 1%; 15s scrape
    python bench/detection.py --quick    # 100% only, 60s scrape (what the test suite runs)

Theory (the SRE workbook, "Alerting on SLOs"): a burn-rate condition with long
window W and factor B on an SLO with error budget eps = 1 - objective detects a
constant error rate e starting at t0 after B*eps*W/e, when e > B*eps, and never
otherwise (the short window, 1/12 of the long, fills sooner and adds nothing
when both start clean). In practice the rule's ``for:`` and the evaluation
grid come on top.

Measurement: one service per error rate, 10 requests/s, no errors for 3 days
and 2 hours, then errors at rate e from t0 (a whole hour) on. The counters are
backfilled (promtool openmetrics). Then the recording rules each alert reads —
sloengine's for a 99.9%/30d SLO with its default conditions, and Sloth's for
its getting-started example (``../shared/peers/sloth``; skipped when absent) —
are backfilled by ``promtool tsdb create-blocks-from rules`` one dependency
level per pass, restarting Prometheus between passes (backfilled rules cannot
see each other's output), each group at its own interval. Every pass writes the
same rule-file path with the groups' own names, so promtool puts every pass of a
group on the same evaluation instants, as the live group would. Finally each
alert condition's expression is evaluated with a range query on its group's
evaluation instants; the alert fires at the first instant after it has held
for ``for:``. Sloth's page and ticket alerts are each two conditions joined by
``or``: each side is measured on its own.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
import numpy as np
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloengine.compiler.rulefiles import render_rule_file  # noqa: E402
from sloengine.compiler.rules import compile_catalog  # noqa: E402
from sloengine.compiler.tools import promtool  # noqa: E402
from sloengine.devstack.stack import StackError, prometheus  # noqa: E402
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks  # noqa: E402
from sloengine.engine.backfill import install_blocks, tile_rules  # noqa: E402
from sloengine.model import conventions as c  # noqa: E402
from sloengine.model.durations import format_duration, parse_duration, parse_seconds_float  # noqa: E402
from sloengine.specs.loader import load  # noqa: E402

SLOTH_RULES = REPO.parent / "shared" / "peers" / "sloth" / "examples" / "_gen" / "getting-started.yml"
OBJECTIVE = 99.9
BUDGET = round(1 - OBJECTIVE / 100, 12)
RATES = (1.0, 0.5, 0.1, 0.02, 0.01)
QUICK_RATES = (1.0,)
REQUESTS_PER_SECOND = 10.0
#: Sloth's groups set no interval: they run at the global one (30s, as in the rule-cost benchmark).
DEFAULT_INTERVAL = 30
#: Clean history before the step: the longest alert window (3d) plus room for its raw reads.
HISTORY_SECONDS = 3 * 86400 + 2 * 3600
#: Recorded series read only at an instant are backfilled from this long before t0.
LEAD_SECONDS = 3600
PHASE_METRIC = "bench:evaluation_instant"
COMMAND = "python bench/detection.py"


def service_name(rate: float, replica: int) -> str:
    return f"err{round(rate * 10000):05d}r{replica}"  # basis points: err10000r0 is 100%


def native_spec(service: str) -> str:
    return f"""apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: {service}}}
slos:
  - name: requests-availability
    objective: {OBJECTIVE}
    window: 30d
    sli:
      ratio:
        bad: http_request_duration_seconds_count{{job="{service}",code=~"(5..|429)"}}
        total: http_request_duration_seconds_count{{job="{service}"}}
"""


# ---- the rules of each tool, as rule-file dictionaries --------------------------------------


def sloengine_groups(services: list[str], work: Path) -> list[dict]:
    paths = []
    for svc in services:
        path = work / "specs" / f"{svc}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(native_spec(svc))
        paths.append(path)
    result = load(paths)
    if result.errors:
        raise SystemExit("\n".join(d.render() for d in result.errors))
    groups: list[dict] = []
    for _, compiled in compile_catalog(result.catalog).items():
        groups.extend(yaml.safe_load(render_rule_file(compiled))["groups"])
    # A live tile starts where the previous one ended, read "as of the evaluation" (``@ end()``), which a
    # range query (promtool's backfill) cannot give: the tiles' history is backfilled as ``sloengine backfill``
    # writes it, 5-minute tiles on 5-minute instants.
    history = {(r.record, dict(r.labels)[c.LABEL_SERVICE], dict(r.labels)[c.LABEL_SLO]): r.expr
               for r in tile_rules(result.catalog)}
    for group in groups:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            key = (rule.get("record"), labels.get(c.LABEL_SERVICE), labels.get(c.LABEL_SLO))
            if key in history:
                rule["expr"] = history[key]
    return groups


def sloth_groups(services: list[str]) -> list[dict]:
    template = SLOTH_RULES.read_text()
    groups: list[dict] = []
    for svc in services:
        groups.extend(yaml.safe_load(template.replace("myservice", svc))["groups"])
    return groups


def interval_of(group: dict) -> int:
    return parse_duration(group["interval"]) if "interval" in group else DEFAULT_INTERVAL


# ---- alert conditions -------------------------------------------------------------------------


@dataclass
class Condition:
    tool: str
    service: str
    rate: float
    severity: str
    long_seconds: int
    short_seconds: int
    factor: float
    for_seconds: int
    expr: str
    group: str
    interval: int

    @property
    def name(self) -> str:
        return f"{self.severity} {format_duration(self.long_seconds)}/{format_duration(self.short_seconds)}"


def _for(rule: dict) -> int:
    return parse_duration(rule["for"]) if rule.get("for") else 0


def sloengine_conditions(groups: list[dict], rate_of: dict[str, float]) -> list[Condition]:
    out = []
    for group in groups:
        for rule in group["rules"]:
            labels = rule.get("labels", {})
            if "alert" not in rule or "long_window" not in labels:
                continue
            long_s, short_s = parse_duration(labels["long_window"]), parse_duration(labels["short_window"])
            severity = labels["severity"]  # page or ticket: the native spec sets no severity labels of its own
            out.append(Condition("sloengine", labels["service"], rate_of[labels["service"]], severity, long_s,
                                 short_s, float(labels["burn_factor"]), _for(rule), rule["expr"], group["name"],
                                 interval_of(group)))
    return out


def split_top_level_or(expr: str) -> list[str]:
    """The operands of the outermost ``or``s of ``expr`` (parentheses respected)."""
    parts, depth, start = [], 0, 0
    for match in re.finditer(r"[()]|\bor\b", expr):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            parts.append(expr[start:match.start()])
            start = match.end()
    parts.append(expr[start:])
    return [p.strip() for p in parts]


def sloth_conditions(groups: list[dict], rate_of: dict[str, float]) -> list[Condition]:
    out = []
    for group in groups:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            svc = re.search(r'sloth_service="([^"]+)"', rule["expr"]).group(1)
            for branch in split_top_level_or(rule["expr"]):
                windows = sorted(parse_duration(w) for w in re.findall(r"slo:sli_error:ratio_rate(\w+)\{", branch))
                factor = float(re.search(r"\(\s*([0-9.]+)\s*\*", branch).group(1))
                out.append(Condition("sloth", svc, rate_of[svc], rule["labels"]["sloth_severity"], windows[-1],
                                     windows[0], factor, _for(rule), branch, group["name"], interval_of(group)))
    return out


def theory_seconds(cond: Condition) -> float | None:
    """The workbook's time to detect: B * eps * W / e, or None when the rate never crosses B * eps."""
    if cond.rate <= cond.factor * BUDGET:
        return None
    return cond.factor * BUDGET * cond.long_seconds / cond.rate


# ---- recorded series each alert needs, by dependency level ------------------------------------


_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_RANGE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{[^}]*\}\s*\[(\w+)(?::\w*)?\]")


@dataclass
class Recording:
    group: str
    interval: int
    rule: dict
    level: int = 0
    start: int = 0
    reads: set[str] = field(default_factory=set)


def plan_backfill(groups: list[dict], conditions: list[Condition], t0: int, data_start: int) -> list[Recording]:
    """The recording rules the conditions read (transitively), each with its dependency level and start."""
    producers: dict[str, list[Recording]] = {}
    for group in groups:
        for rule in group["rules"]:
            if "record" in rule:
                rec = Recording(group["name"], interval_of(group), rule)
                producers.setdefault(rule["record"], []).append(rec)
    for recs in producers.values():
        for rec in recs:
            rec.reads = {n for n in _NAME.findall(rec.rule["expr"]) if n in producers}
    needed: dict[str, int] = {}  # metric -> lead (seconds before t0 its history must start)

    def need(metric: str, lead: int) -> None:
        if needed.get(metric, -1) >= lead:
            return
        needed[metric] = lead
        for rec in producers[metric]:
            ranges = {name: math.ceil(parse_seconds_float(d)) for name, d in _RANGE.findall(rec.rule["expr"])}
            for read in rec.reads:
                need(read, lead + ranges.get(read, 0))

    for cond in conditions:
        for name in set(_NAME.findall(cond.expr)):
            if name in producers:
                need(name, LEAD_SECONDS)
    chosen = [rec for metric in needed for rec in producers[metric]]

    levels: dict[str, int] = {}

    def level(metric: str) -> int:
        if metric not in levels:
            levels[metric] = max(1 + max((level(r) for r in rec.reads), default=0) for rec in producers[metric])
        return levels[metric]

    for rec in chosen:
        rec.level = 1 + max((level(r) for r in rec.reads), default=0)
        rec.start = max(data_start + 600, t0 - needed[rec.rule["record"]])
    # A marker in every group involved: its samples are the group's evaluation instants.
    intervals = {g["name"]: interval_of(g) for g in groups}
    for name in sorted({cond.group for cond in conditions} | {rec.group for rec in chosen}):
        chosen.append(Recording(name, intervals[name], {"record": PHASE_METRIC, "expr": "vector(1)",
                                                        "labels": {"bench_group": name}},
                                level=1, start=t0 - LEAD_SECONDS))
    return chosen


def backfill_levels(recordings: list[Recording], groups: list[dict], work: Path, data: Path, end: int) -> list[dict]:
    """Backfill level by level, restarting Prometheus on the grown data directory between levels."""
    declared = {g["name"]: g.get("interval") for g in groups}
    rules_file = work / "pass" / "rules.yml"  # one path for every pass: promtool's instants depend on it
    rules_file.parent.mkdir(parents=True, exist_ok=True)
    passes = []
    for level in sorted({r.level for r in recordings}):
        out = work / f"blocks-{level}"
        started = time.monotonic()
        batches: dict[int, list[Recording]] = {}
        for rec in recordings:
            if rec.level == level:
                batches.setdefault(rec.start, []).append(rec)
        with prometheus(work / f"prom-{level}", data_dir=data) as prom:
            for start, recs in sorted(batches.items()):
                by_group: dict[str, list[dict]] = {}
                for rec in recs:
                    by_group.setdefault(rec.group, []).append(rec.rule)
                document = {"groups": [{"name": name, **({"interval": declared[name]} if declared[name] else {}),
                                        "rules": rules} for name, rules in by_group.items()]}
                rules_file.write_text(yaml.safe_dump(document, sort_keys=False))
                # Range queries are capped at 11,000 points: 90h at a 30s interval stays below it.
                promtool("tsdb", "create-blocks-from", "--max-block-duration=90h", "rules", "--quiet",
                         f"--url={prom.url}", f"--start={start}", f"--end={end}", f"--output-dir={out}",
                         f"--eval-interval={DEFAULT_INTERVAL}s", str(rules_file), timeout=3600)
        install_blocks(out, data)
        passes.append({"level": level, "rules": sum(r.level == level for r in recordings),
                       "seconds": round(time.monotonic() - started, 1)})
    return passes


# ---- measuring ----------------------------------------------------------------------------------


def query_range(url: str, expr: str, start: float, end: float, step: int) -> list[dict]:
    response = requests.get(f"{url}/api/v1/query_range",
                            params={"query": expr, "start": start, "end": end, "step": step}, timeout=600)
    payload = response.json()
    if payload.get("status") != "success":
        raise StackError(f"range query failed: {payload.get('error')}: {expr[:300]}")
    return payload["data"]["result"]


def evaluation_instants(prom, group: str, interval: int, t0: int) -> float:
    """The group's last evaluation instant at or before t0 (its grid, as promtool laid it down)."""
    result = prom.query(f'{PHASE_METRIC}{{bench_group="{group}"}}[{2 * interval}s]', t0)
    if not result:
        raise StackError(f"no evaluation instants recorded for {group}")
    return max(float(ts) for ts, _ in result[0]["values"])


def misaligned_series(prom, recordings: list[Recording], t0: int) -> int:
    """Backfilled series whose samples are off their group's evaluation instants (0: every pass of a group
    was laid on the same instants, so each rule read its inputs from the same evaluation, as live)."""
    # One metric may be recorded by two groups of a service (sloengine counts a raw window that only
    # tickets read in its slow group): a series is aligned when it sits on the grid of a group of its
    # service that records that metric.
    grids: dict[tuple[str, str], set[tuple[float, int]]] = {}
    phases: dict[str, float] = {}
    for rec in recordings:
        if rec.rule["record"] == PHASE_METRIC:
            continue
        if rec.group not in phases:
            phases[rec.group] = evaluation_instants(prom, rec.group, rec.interval, t0) % rec.interval
        service = rec.rule.get("labels", {}).get("service", "")
        grids.setdefault((rec.rule["record"], service), set()).add((phases[rec.group], rec.interval))
    off = 0
    for (record, service), grid in sorted(grids.items()):
        matchers = f'service="{service}"' if service else ""
        for series in prom.query(f"timestamp({record}{{{matchers}}})", t0):
            at = float(series["value"][1])
            if all(abs((at - phase) % interval) > 1e-3 for phase, interval in grid):
                off += 1
    return off


def first_firing(instants: np.ndarray, true_at: set[float], for_seconds: int) -> float | None:
    """Prometheus's alert state machine on the evaluation grid: pending when the expression returns
    something, firing once it has returned something at every evaluation for ``for_seconds``."""
    active = None
    for at in instants.tolist():
        if at in true_at:
            active = at if active is None else active
            if at - active >= for_seconds:
                return at
        else:
            active = None
    return None


@dataclass
class Replica:
    """One service's measurement of one condition: its group's evaluation instants have their own phase."""

    service: str
    measured_seconds: float | None
    first_true_seconds: float | None
    first_evaluation_after_step_seconds: float
    fired_before_step: bool


def measure(prom, cond: Condition, t0: int, end: int) -> Replica:
    grid_start = evaluation_instants(prom, cond.group, cond.interval, t0)
    instants = np.round(grid_start + cond.interval * np.arange(int((end - grid_start) // cond.interval) + 1), 3)
    true_at: set[float] = set()
    for series in query_range(prom.url, cond.expr, instants[0], instants[-1], cond.interval):
        true_at |= {round(float(ts), 3) for ts, _ in series["values"]}
    fired = first_firing(instants, true_at, cond.for_seconds)
    first_true = min((t for t in true_at if t > t0), default=None)
    return Replica(
        service=cond.service,
        measured_seconds=None if fired is None else round(fired - t0, 3),
        first_true_seconds=None if first_true is None else round(first_true - t0, 3),
        first_evaluation_after_step_seconds=round(min(float(t) for t in instants if t > t0) - t0, 3),
        fired_before_step=any(t <= t0 for t in true_at),
    )


def _median(values: list[float | None]) -> float | None:
    """Median over replicas; None ("never") when any replica never fired (they all agree in practice)."""
    return None if any(v is None for v in values) else round(float(np.median(values)), 1)


def row(cond: Condition, replicas: list[Replica], scrape: int) -> dict:
    theory = theory_seconds(cond)
    measured = _median([r.measured_seconds for r in replicas])
    fired = [r.measured_seconds for r in replicas if r.measured_seconds is not None]
    known = theory is not None and measured is not None
    return {
        "tool": cond.tool, "condition": cond.name, "severity": cond.severity,
        "long_window": format_duration(cond.long_seconds), "short_window": format_duration(cond.short_seconds),
        "burn_factor": cond.factor, "for_seconds": cond.for_seconds, "interval_seconds": cond.interval,
        "error_rate": cond.rate,
        "theory_seconds": None if theory is None else round(theory, 1),
        "measured_seconds": measured,
        "measured_min_seconds": min(fired) if fired else None,
        "measured_max_seconds": max(fired) if fired else None,
        "fired_in_replicas": len(fired),
        "replicas": len(replicas),
        "difference_seconds": round(measured - theory, 1) if known else None,
        "ratio": round(measured / theory, 3) if known else None,
        # measured - theory - for: evaluation grid, scrape, and (sloengine's tickets) the tiles' edge
        "lag_seconds": round(measured - cond.for_seconds - theory, 1) if known else None,
        "bound_seconds": None if theory is None else round(theory + cond.for_seconds + cond.interval + scrape, 1),
        "fired_before_step": any(r.fired_before_step for r in replicas),
        "by_replica": [asdict(r) for r in replicas],
    }


def synthesize(rate_of: dict[str, float], t0: int, end: int, scrape: int, work: Path, data: Path) -> int:
    start = t0 - HISTORY_SECONDS
    times = start + scrape * np.arange((end - start) // scrape + 1, dtype=np.int64)
    per_sample = REQUESTS_PER_SECOND * scrape
    series = []
    for svc, rate in sorted(rate_of.items()):
        bad = np.where(times > t0, per_sample * rate, 0.0)
        good = per_sample - bad
        good[0] = bad[0] = 0.0
        series.append(Counter("http_request_duration_seconds_count", (("code", "200"), ("job", svc)), good))
        series.append(Counter("http_request_duration_seconds_count", (("code", "500"), ("job", svc)), bad))
    write_blocks(openmetrics(series, start, scrape), work, data)
    return start


def observation_seconds(conditions: list[Condition]) -> int:
    """Long enough to see every condition fire, or to see it stay silent with its long window full."""
    need = 0.0
    for cond in conditions:
        theory = theory_seconds(cond)
        base = theory if theory is not None else cond.long_seconds + cond.short_seconds
        need = max(need, base + cond.for_seconds + 2 * cond.interval)
    return int(math.ceil((need + 900) / 300) * 300)


def run(rates: tuple[float, ...], replicas: int, scrape: int, work: Path) -> dict:
    started = time.monotonic()
    rate_of = {service_name(r, k): r for r in rates for k in range(replicas)}
    services = sorted(rate_of)
    groups = sloengine_groups(services, work)
    conditions = sloengine_conditions(groups, rate_of)
    sloth = SLOTH_RULES.exists()
    if sloth:
        peer = sloth_groups(services)
        groups += peer
        conditions += sloth_conditions(peer, rate_of)
    observe = observation_seconds(conditions)
    t0 = (int(time.time()) - observe - 2 * 3600) // 3600 * 3600
    end = t0 + observe
    data = work / "data"
    data_start = synthesize(rate_of, t0, end, scrape, work, data)
    recordings = plan_backfill(groups, conditions, t0, data_start)
    passes = backfill_levels(recordings, groups, work, data, end)
    measured: dict[tuple, list[tuple[Condition, Replica]]] = {}
    with prometheus(work / "measure", data_dir=data) as prom:
        misaligned = misaligned_series(prom, recordings, t0)
        for cond in conditions:
            key = (cond.tool, cond.name, cond.rate)
            measured.setdefault(key, []).append((cond, measure(prom, cond, t0, end)))
    rows = [row(pairs[0][0], [r for _, r in pairs], scrape) for pairs in measured.values()]
    order = {"sloengine": 0, "sloth": 1}
    rows.sort(key=lambda r: (order[r["tool"]], r["severity"] != "page", parse_duration(r["long_window"]),
                             -r["error_rate"]))
    return {
        "command": COMMAND,
        "objective_percent": OBJECTIVE,
        "error_budget": BUDGET,
        "slo_window": "30d",
        "error_rates": list(rates),
        "replicas": replicas,
        "scrape_seconds": scrape,
        "requests_per_second": REQUESTS_PER_SECOND,
        "clean_history_seconds": HISTORY_SECONDS,
        "observed_after_step_seconds": observe,
        "sloth": "rules from ../shared/peers/sloth/examples/_gen/getting-started.yml" if sloth else
                 "skipped: ../shared/peers/sloth not found",
        "backfill_passes": passes,
        "misaligned_series": misaligned,
        "seconds": round(time.monotonic() - started, 1),
        "rows": rows,
    }


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if abs(seconds) >= 3600:
        return f"{seconds:.0f} ({seconds / 3600:.2f} h)"
    if abs(seconds) >= 120:
        return f"{seconds:.0f} ({seconds / 60:.1f} min)"
    return f"{seconds:.1f}"


def render_table(result: dict) -> str:
    many = result["replicas"] > 1
    lines = [
        f"`{result['command']}` — {result['objective_percent']}% over {result['slo_window']}, "
        f"{result['scrape_seconds']}s scrape, error rate constant from t0"
        + (f"; measured: median (min–max) of {result['replicas']} services, each its own evaluation phase"
           if many else ""),
        "",
        "| tool | condition | B | for | eval | error rate | theory s | measured s | measured − theory s "
        "| of which not `for` | measured ÷ theory |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        diff = "—" if r["difference_seconds"] is None else f"{r['difference_seconds']:+.0f}"
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lag = "—" if r["lag_seconds"] is None else f"{r['lag_seconds']:+.0f}"
        if r["theory_seconds"] is None and r["measured_seconds"] is None:
            diff = lag = ratio = "both never"
        measured = _fmt(r["measured_seconds"])
        if many and r["measured_seconds"] is not None and r["measured_min_seconds"] != r["measured_max_seconds"]:
            measured += f" ({r['measured_min_seconds']:.0f}–{r['measured_max_seconds']:.0f})"
        hold = format_duration(r["for_seconds"]) if r["for_seconds"] else "0"
        lines.append(f"| {r['tool']} | {r['condition']} | {r['burn_factor']:g} | {hold} | {r['interval_seconds']}s | "
                     f"{r['error_rate']:.0%} | {_fmt(r['theory_seconds'])} | {measured} | {diff} | {lag} | {ratio} |")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--quick", is_flag=True, help="100% errors only and a 60s scrape (for tests)")
@click.option("--rates", type=float, multiple=True,
              help="an error rate (0-1), repeatable: --rates 1 --rates .5; default 1 .5 .1 .02 .01")
@click.option("--replicas", type=int, help="services per error rate, each with its own evaluation "
              "phase (default 4, 1 with --quick)")
@click.option("--scrape", type=int, help="seconds between samples (default 15, 60 with --quick)")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
def main(quick: bool, rates: tuple[float, ...], replicas: int | None, scrape: int | None, out: Path) -> None:
    rates = rates or (QUICK_RATES if quick else RATES)
    scrape = scrape or (60 if quick else 15)
    with tempfile.TemporaryDirectory(prefix="sloengine-detection-") as tmp:
        result = run(rates, replicas or (1 if quick else 4), scrape, Path(tmp))
    if quick:
        result["command"] = f"{COMMAND} --quick"
    out.mkdir(parents=True, exist_ok=True)
    (out / "detection.json").write_text(json.dumps(result, indent=2) + "\n")
    print(render_table(result))


if __name__ == "__main__":
    main()
