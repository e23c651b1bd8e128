"""All benchmarks in one table: each figure beside its peer's, the ratio, and the command that measured it.

    python bench/summary.py            # print the table from bench/results/*.json
    python bench/summary.py --readme   # and rewrite it into README.md between its markers

The table is built only from the committed results, so it can be regenerated without rerunning anything and a
test checks that the README shows exactly what the results say. How each figure was measured, with the detailed
tables, is in bench/README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
START = "<!-- bench-summary:start (python bench/summary.py --readme) -->"
END = "<!-- bench-summary:end -->"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def _ms(value: float) -> str:
    return f"{value:,.1f} ms" if value < 1000 else f"{value / 1000:,.2f} s"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


def _pct(value: float) -> str:
    return f"{value * 100:+.2f}%" if abs(value) < 10 else f"{value * 100:+,.0f}%"


def _times(ratio: float) -> str:
    """sloengine ÷ peer, and in words which way round (every row is a cost: less is better)."""
    if ratio <= 0:
        return "n/a"
    return f"{ratio:.2f} ({1 / ratio:.1f}× less)" if ratio < 1 else f"{ratio:.2f} ({ratio:.2f}× more)"


Row = tuple[str, str, str, str, str]


def _note(result: dict[str, Any]) -> str:
    """A result kept from an earlier version of the rules says so (its "note"): no stale figure passes as current."""
    return f", {result['note']}" if result.get("note") else ""


def rule_cost_rows() -> list[Row]:
    rows: list[Row] = []
    for slos in (50, 500):
        r = _load(f"rule_cost-{slos}.json")
        if r is None:
            continue
        command = f"`python bench/rule_cost.py --slos {slos}`"
        note = _note(r)
        sloth, ours = r["sloth_ms_per_slo_per_cycle"], r["sloengine_ms_per_slo_per_cycle"]
        rows.append((f"Rule evaluation per SLO per cycle ({slos} SLOs{note}, group duration)", _ms(ours),
                     f"Sloth {_ms(sloth)}", _times(ours / sloth), command))
        rows.append((f"Rule evaluation per SLO per 30 s ({slos} SLOs{note}, slow groups weighted by interval)",
                     _ms(r["sloengine_ms_per_slo_per_30s"]), f"Sloth {_ms(r['sloth_ms_per_slo_per_30s'])}",
                     _times(r["sloengine_ms_per_slo_per_30s"] / r["sloth_ms_per_slo_per_30s"]), command))
        cpu = r.get("cpu_ms_per_slo_per_second")
        if cpu and cpu.get("sloth") and cpu.get("sloengine"):
            rows.append((f"Prometheus CPU per SLO per second ({slos} SLOs{note}, each tool alone)",
                         f"{cpu['sloengine']:.3f} ms", f"Sloth {cpu['sloth']:.3f} ms",
                         _times(cpu["sloengine"] / cpu["sloth"]), command))
            if cpu.get("pyrra"):
                rows.append((f"Prometheus CPU per SLO per second ({slos} SLOs{note}) against Pyrra",
                             f"{cpu['sloengine']:.3f} ms", f"Pyrra {cpu['pyrra']:.3f} ms",
                             _times(cpu["sloengine"] / cpu["pyrra"]), command))
        pyrra = r.get("pyrra_ms_per_slo_per_cycle")
        if pyrra:
            rows.append((f"Rule evaluation per SLO per cycle ({slos} SLOs{note}) against Pyrra", _ms(ours),
                         f"Pyrra {_ms(pyrra)}", _times(ours / pyrra), command))
        if slos == 50:  # the accuracy of one run (both sizes measure the same counters)
            accuracy = r.get("accuracy_relative_error") or r["accuracy_relative_error_30d"]
            days = r.get("accuracy_window_days", {})
            for pattern, label in (("night-errors", "errors at night"), ("peak-errors", "errors at peak")):
                peers = f"Sloth {_pct(accuracy['sloth'][pattern])}"
                if "pyrra" in accuracy:
                    peers += f"; Pyrra ({days.get('pyrra', 28)}d window) {_pct(accuracy['pyrra'][pattern])}"
                rows.append((f"30d error ratio vs exact count, 100× day/night traffic, {label}{note}",
                             _pct(accuracy["sloengine"][pattern]), peers, "exact (Sloth averages 5m ratios)", command))
    return rows


def engine_rows() -> list[Row]:
    r = _load("engine_speed-1000.json")
    if r is None:
        return []
    command = "`python bench/engine_speed.py --slos 1000`"
    note = _note(r)
    sg, se = r["slo_generator"], r["sloengine"]
    return [
        (f"Report per SLO, recorded series (1,000 SLOs, all 8 windows vs 1{note})", _ms(se["recorded"]["ms_per_slo"]),
         f"slo-generator {_ms(sg['recorded']['ms_per_slo'])}",
         _times(se["recorded"]["ms_per_slo"] / sg["recorded"]["ms_per_slo"]), command),
        (f"Report per SLO, raw counters only (exact, 8 windows vs 1{note})", _ms(se["raw"]["ms_per_slo"]),
         f"slo-generator {_ms(sg['raw']['ms_per_slo'])}",
         _times(se["raw"]["ms_per_slo"] / sg["raw"]["ms_per_slo"]), command),
        ("Worst 30d SLI error vs exact count (raw counters)", f"{se['raw']['sli_max_abs_error']:.1e}",
         f"slo-generator {sg['raw']['sli_max_abs_error']:.1e}", "exact vs rounded", command),
    ]


def exporter_rows() -> list[Row]:
    r = _load("exporter_scrape.json")
    if r is None:
        return []
    ours, naive = r["scrape_ms"]["gzip"]["median"], r["naive_scrape_ms"]["gzip"]["median"]
    return [(f"Exporter scrape, {r['slos']:,} SLOs (median, gzip)", _ms(ours),
             f"prometheus-client rendering per scrape {_ms(naive)}", _times(ours / naive),
             "`python bench/exporter_scrape.py`")]


def detection_rows() -> list[Row]:
    r = _load("detection.json")
    if r is None:
        return []
    rows: list[Row] = []
    by = {(row["tool"], row["condition"], row["error_rate"]): row for row in r["rows"]}
    for condition, rate in (("page 1h/5m", 1.0), ("page 6h/30m", 0.1), ("ticket 1d/2h", 0.1)):
        ours = by.get(("sloengine", condition, rate))
        if ours is None:
            continue
        sloth = by.get(("sloth", condition, rate))
        peer = f"theory {_duration(ours['theory_seconds'])}"
        if sloth is not None:
            peer += f"; Sloth {_duration(sloth['measured_seconds'])}"
        ratio = (f"{ours['measured_seconds'] / ours['theory_seconds']:.1f}× theory"
                 if ours["measured_seconds"] and ours["theory_seconds"] else "n/a")
        rows.append((f"Detection, {condition} at {rate:.0%} errors (includes `for: "
                     f"{_duration(ours['for_seconds'])}`)", _duration(ours["measured_seconds"]), peer, ratio,
                     "`python bench/detection.py`"))
    return rows


def compile_rows() -> list[Row]:
    found = _load("compile-10000.json")
    if found is None:
        return []
    rows = []
    for name, what in (("varied", "a varied catalogue"), ("uniform", "one service shape, renamed")):
        r = found.get(name)
        if r is None:
            continue
        # Memory: the largest peak of the runs (the median run's is not a bound).
        seconds = r["seconds"]["total"]
        memory = r.get("peak_rss_total_mib_max", r.get("peak_rss_total_mib", r["peak_rss_mib"]))
        target = r["targets"]
        runs = r.get("total_seconds_of_runs", [seconds])
        where = f", output on {r['filesystem']}" if r.get("filesystem") else ""
        spread = f" (median of {len(runs)}: {min(runs):.1f}-{max(runs):.1f} s{where})" if len(runs) > 1 else ""
        rows.append((f"Compile {r['slos']:,} SLOs ({what}) to rules, alert tests, dashboards, Alertmanager "
                     "(wall, largest peak RSS of the runs)", f"{seconds:.1f} s{spread}, {memory:,.0f} MiB",
                     f"target {target['seconds']} s, {target['peak_rss_mib']:,} MiB",
                     f"{seconds / target['seconds']:.2f}× of target time",
                     f"`python bench/compile.py --slos {r['slos']}`"))
    return rows


def web_rows() -> list[Row]:
    r = _load("web_render.json")
    if r is None:
        return []
    target = r["target_ms"]
    worst = max(r["pages"].items(), key=lambda item: item[1]["median"])
    return [(f"Web UI page render, {r['slos']:,} SLOs (slowest page: {worst[0]}, median)", _ms(worst[1]["median"]),
             f"target {_ms(target)}", f"{worst[1]['median'] / target:.2f}× of target time",
             "`python bench/web_render.py`")]


def two_tier_rows() -> list[Row]:
    """The largest two-tier run kept (a run at the tiny ``--quick`` size is never a result)."""
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("two_tier-*.json"))]
    runs = [r for r in runs if not r.get("quick")]
    if not runs:
        return []
    r = max(runs, key=lambda run: run["slos"])
    slos, note = r["slos"], _note(r)
    command = f"`python bench/two_tier.py --slos {slos}`"
    cpu, ratios, fed, accuracy = r["cpu"], r["ratios"], r["federation"], r["accuracy"]
    single = cpu["single"]["cpu_ms_per_slo_per_second"]
    where = f"{slos:,} SLOs, 2 clusters{note}"
    rows: list[Row] = [
        (f"Prometheus CPU per SLO per second, two tiers (both leaves + global) against one Prometheus ({where})",
         f"{cpu['two_tier']['cpu_ms_per_slo_per_second']:.3f} ms", f"one Prometheus {single:.3f} ms",
         _times(ratios["two_tier_over_single"]["cpu"]), command),
        (f"Prometheus CPU per SLO per second, the global tier alone ({where})",
         f"{cpu['global']['cpu_ms_per_slo_per_second']:.3f} ms", f"one Prometheus {single:.3f} ms",
         _times(ratios["global_over_single"]["cpu"]), command),
        (f"Federation, both leaves to the global, bytes per SLO per minute ({where}, "
         f"{r['federation_interval_seconds']} s scrapes)",
         f"{fed['bytes_per_slo_per_minute']['gzip']:,.0f} B gzip",
         f"uncompressed {fed['bytes_per_slo_per_minute']['identity']:,.0f} B",
         f"{fed['bytes_per_slo_per_minute']['gzip'] / fed['bytes_per_slo_per_minute']['identity']:.2f} of "
         "uncompressed", command),
        (f"30d error ratio vs exact count, two tiers (worst of {accuracy['global']['slos_checked']:,} SLOs{note})",
         f"{accuracy['global']['max_relative_error']:.1e}",
         f"one Prometheus {accuracy['single']['max_relative_error']:.1e}", "exact (both)", command),
    ]
    return rows


def table() -> str:
    rows = (rule_cost_rows() + engine_rows() + exporter_rows() + detection_rows() + compile_rows() + web_rows()
            + two_tier_rows())
    lines = ["| measure | sloengine | peer or target | sloengine ÷ peer | command |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines) + "\n"


def rewrite_readme(text: str, summary: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{README}: add the markers {START!r} and {END!r} where the table goes")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{summary}{END}{tail}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--readme", is_flag=True, help="rewrite the table in README.md")
def main(readme: bool) -> None:
    summary = table()
    print(summary, end="")
    if readme:
        README.write_text(rewrite_readme(README.read_text(), summary))


if __name__ == "__main__":
    main()
