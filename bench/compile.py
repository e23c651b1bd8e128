"""Compile cost: N SLOs of mixed kinds, windows and agreements into everything ``sloengine generate`` writes.

    python bench/compile.py --slos 10000         # the issue's size
    python bench/compile.py --slos 50 --quick    # what the test suite runs

Writes N/5 spec files (five SLOs each: ratio with bad events, ratio with good events and grouping, latency,
probe, calendar month; rolling windows of 7d, 28d and 30d; an escalation policy; one SLA per file and an OLA
backing it), then times, in this process: loading and validating them, compiling the rules, the promtool
alert tests, the dashboards and the Alertmanager configuration, and writing all files. Peak memory is the
process's maximum resident set size. Targets: at most 10 s and 1 GiB for 10,000 SLOs on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloengine.generate import render_iter, write  # noqa: E402
from sloengine.loader import load  # noqa: E402

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: svc{i:05d}, team: team{team}}}
defaults:
  window: {window}
  escalation:
    levels:
      - {{level: L1, receiver: team{team}-oncall}}
      - {{level: L2, receiver: team{team}-leads, after: 30m}}
receivers:
  team{team}-oncall: {{webhook_configs: [{{url: "http://127.0.0.1:9/team{team}/oncall"}}]}}
  team{team}-leads: {{webhook_configs: [{{url: "http://127.0.0.1:9/team{team}/leads"}}]}}
slos:
  - name: availability
    objective: 99.9
    sli:
      ratio:
        bad: 'http_requests_total{{job="svc{i:05d}",code=~"5.."}}'
        total: 'http_requests_total{{job="svc{i:05d}"}}'
  - name: success
    objective: 99.5
    sli:
      ratio: {{good: 'rpc_total{{job="svc{i:05d}",ok="true"}}', total: 'rpc_total{{job="svc{i:05d}"}}',
              group_by: [method]}}
  - name: latency
    objective: 99
    sli: {{latency: {{histogram: 'http_request_duration_seconds{{job="svc{i:05d}"}}', threshold: 300ms}}}}
  - name: probe
    objective: 99.5
    window: 7d
    sli: {{probe: {{metric: 'probe_success{{job="blackbox",instance="svc{i:05d}"}}'}}}}
  - name: monthly
    objective: 99.95
    window: {{calendar: month, timezone: {tz}}}
    sli: {{ratio: {{bad: 'jobs_total{{job="svc{i:05d}",result="failed"}}', total: 'jobs_total{{job="svc{i:05d}"}}'}}}}
agreements:
  - name: sla-svc{i:05d}
    kind: sla
    provider: shop
    customer: customer{i:05d}
    objective: 99.5
    period: {{calendar: month, timezone: {tz}}}
    covers: [{{slo: availability}}]
    depends_on: [ola-svc{i:05d}]
  - name: ola-svc{i:05d}
    kind: ola
    provider: team{team}
    customer: shop
    objective: 99.9
    covers: [{{slo: availability}}]
"""

WINDOWS = ("28d", "30d", "7d")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")


def write_specs(slos: int, directory: Path) -> int:
    files = max(1, slos // 5)
    for i in range(files):
        (directory / f"svc{i:05d}.yaml").write_text(SPEC.format(i=i, team=i % 50, window=WINDOWS[i % 3],
                                                                  tz=ZONES[i % 4]))
    return files * 5


def run(slos: int, work: Path) -> dict:
    specs = work / "specs"
    specs.mkdir()
    count = write_specs(slos, specs)
    timings = {}
    started = time.perf_counter()
    result = load([specs])
    timings["load_validate"] = time.perf_counter() - started
    if result.errors:
        raise SystemExit("\n".join(d.render() for d in result.errors[:10]))
    mark = time.perf_counter()
    sizes: dict[str, int] = {}

    def counted(files):
        for path, text in files:
            sizes[path] = len(text)
            yield path, text
    # As `sloengine generate` does it: files are written on a thread as they are rendered.
    written, _ = write(work / "out", counted(render_iter(result.catalog)))
    timings["compile_and_write"] = time.perf_counter() - mark
    total = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Large catalogues use a forked worker (sloengine.parallel); its peak counts too. The sum is an upper
    # bound: pages the two processes share after the fork are counted twice.
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    kinds: dict[str, int] = {}
    for path in sizes:
        kind = path.split("/")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "slos": count, "agreements": len(result.catalog.agreements), "files": len(written), "files_by_kind": kinds,
        "bytes": sum(sizes.values()),
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"total": round(total, 2)},
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "peak_rss_worker_mib": round(child_kib / 1024, 1),
        "peak_rss_total_mib": round((peak_kib + child_kib) / 1024, 1),
        "cpus": len(os.sched_getaffinity(0)),
        "targets": {"seconds": 10, "peak_rss_mib": 1024},
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--slos", type=int, default=10000)
@click.option("--quick", is_flag=True, help="Accepted for symmetry with the other benchmarks.")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
def main(slos: int, quick: bool, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sloengine-compile-") as tmp:
        result = run(slos, Path(tmp))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"compile-{result['slos']}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    s = result["seconds"]
    print(f"| SLOs | load+validate s | compile+write s | total s | peak MiB (main + worker) |\n"
          f"|---|---|---|---|---|\n"
          f"| {result['slos']} | {s['load_validate']} | {s['compile_and_write']} | {s['total']} | "
          f"{result['peak_rss_total_mib']} ({result['peak_rss_mib']} + {result['peak_rss_worker_mib']}) |")


if __name__ == "__main__":
    main()
