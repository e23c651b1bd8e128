"""Compile cost: N SLOs into everything ``sloengine generate`` writes.

    python bench/compile.py --slos 10000         # the issue's size
    python bench/compile.py --slos 50 --quick    # what the test suite runs

Two catalogues, one row each: **varied** (the default and the one that counts: :mod:`catalogue`, where every
service has its own metric names, number of SLOs, SLI kinds, objectives, rolling and calendar windows in
several zones, alert options, escalation and agreements) and **uniform** (N/5 copies of one five-SLO service
with only names changed: what a compiler that folds repeated shapes would be fastest on; kept for comparison).
Each row times, in this process: loading and validating the specs, compiling the rules, the promtool alert
tests, the dashboards and the Alertmanager configuration, and writing all files. Peak memory is the process's
maximum resident set size (plus the forked worker's). CPU seconds (user and system, both processes) and the
host's steal share during the run (``/proc/stat``) say how much of a slow run was the host. Targets: at most
10 s and 1 GiB for 10,000 SLOs on 2 cores. The output goes under ``$TMPDIR`` (the result records its
filesystem type): on a disk, creating ~6,000 files is part of the cost (``TMPDIR=/dev/shm`` measures the
compile without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from catalogue import write_catalogue  # noqa: E402

from sloengine.compiler.generate import write_catalog  # noqa: E402
from sloengine.model.slo import Catalog  # noqa: E402
from sloengine.specs.loader import load  # noqa: E402

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


def write_uniform(slos: int, directory: Path) -> int:
    files = max(1, slos // 5)
    for i in range(files):
        (directory / f"svc{i:05d}.yaml").write_text(SPEC.format(i=i, team=i % 50, window=WINDOWS[i % 3],
                                                                  tz=ZONES[i % 4]))
    return files * 5


CATALOGUES = {"varied": write_catalogue, "uniform": write_uniform}


def filesystem(path: Path) -> str:
    """The type of the filesystem ``path`` is on (``ext4``, ``tmpfs``): creating thousands of files costs
    differently on each, and a result is read with the disk it was measured on."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) > 2 and (resolved == fields[1] or resolved.startswith(fields[1].rstrip("/") + "/")) \
                    and len(fields[1]) >= len(best):
                best, kind = fields[1], fields[2]
    return kind


def host_ticks() -> tuple[int, int]:
    """(steal, all) clock ticks of the host's CPUs so far (``/proc/stat``): on a VM, the share of time the
    hypervisor gave our vCPUs to others. A run on a host that steals is slower for reasons no code change
    reaches, so each result says how much was stolen while it ran."""
    with open("/proc/stat", encoding="utf-8") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def cpu_seconds() -> dict[str, float]:
    """User and system CPU seconds of this process and its finished children (the forked workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"user": me.ru_utime + children.ru_utime, "system": me.ru_stime + children.ru_stime}


def run(slos: int, work: Path, catalogue: str = "varied") -> dict:
    specs = work / "specs"
    specs.mkdir()
    count = CATALOGUES[catalogue](slos, specs)
    timings = {}
    load_average = os.getloadavg()[0]
    cpu_before, ticks_before = cpu_seconds(), host_ticks()
    started = time.perf_counter()
    result = load([specs])
    timings["load_validate"] = time.perf_counter() - started
    if result.errors:
        raise SystemExit("\n".join(d.render() for d in result.errors[:10]))
    mark = time.perf_counter()
    # As `sloengine generate` does it: files are written on a thread as they are rendered, into a new
    # generation of the output directory that is swapped in at the end.
    written = write_catalog(work / "out", result.catalog).written
    timings["compile_and_write"] = time.perf_counter() - mark
    total = time.perf_counter() - started
    cpu_after, ticks_after = cpu_seconds(), host_ticks()
    stolen, ticks = (after - before for after, before in zip(ticks_after, ticks_before))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Large catalogues use a forked worker (sloengine.model.parallel); its peak counts too. The sum is an upper
    # bound: pages the two processes share after the fork are counted twice.
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    sizes = {path.relative_to(work / "out").as_posix(): path.stat().st_size for path in written}
    regenerated = regenerate(work / "out", result.catalog)
    kinds: dict[str, int] = {}
    for path in sizes:
        kind = path.split("/")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "catalogue": catalogue,
        "slos": count, "agreements": len(result.catalog.agreements), "files": len(written), "files_by_kind": kinds,
        "bytes": sum(sizes.values()),
        "seconds": {k: round(v, 2) for k, v in timings.items()} | {"total": round(total, 2)},
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "peak_rss_worker_mib": round(child_kib / 1024, 1),
        "peak_rss_total_mib": round((peak_kib + child_kib) / 1024, 1),
        "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after},
        "host": {"steal_share": round(stolen / ticks, 4) if ticks else 0.0, "load_average_1m_at_start": load_average},
        "regenerate_unchanged": regenerated,
        "cpus": len(os.sched_getaffinity(0)),
        "filesystem": filesystem(work),
        "targets": {"seconds": 10, "peak_rss_mib": 1024},
    }


def regenerate(out: Path, catalog: Catalog) -> dict:
    """``generate`` again over the same catalogue into the same directory right away (as a CI job or an editor's
    save hook does): the files it reused from the output it replaced (same inode), its time and its CPU."""
    inodes = {path: path.lstat().st_ino for path in out.rglob("*") if path.is_file()}
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    written = write_catalog(out, catalog).written
    seconds = time.perf_counter() - started
    cpu_after = cpu_seconds()
    return {"seconds": round(seconds, 2), "files": len(written),
            "files_reused": sum(inodes.get(path) == path.lstat().st_ino for path in written),
            "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after}}


def _row(result: dict) -> str:
    s = result["seconds"]
    runs = result.get("total_seconds_of_runs", [s["total"]])
    cpu = result.get("cpu_seconds", {})
    again = result.get("regenerate_unchanged", {})
    return (f"| {result['catalogue']} | {result['slos']} | {len(runs)} | {s['load_validate']} | "
            f"{s['compile_and_write']} | {s['total']} | {min(runs)}-{max(runs)} | {result['peak_rss_total_mib']} "
            f"({result['peak_rss_mib']} + {result['peak_rss_worker_mib']}) | {cpu.get('user', '')} + "
            f"{cpu.get('system', '')} | {result.get('host', {}).get('steal_share', 0):.1%} | "
            f"{again.get('seconds', '')} ({again.get('files_reused', '')} of {again.get('files', '')}) |")


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--slos", type=int, default=10000)
@click.option("--catalogue", type=click.Choice(("both", *CATALOGUES)), default="both",
              help="Which catalogue; 'both' runs each in its own process (peak memory is per process).")
@click.option("--runs", type=int, default=3, show_default=True,
              help="Fresh processes per catalogue; the row is the run of median total time, with the range.")
@click.option("--quick", is_flag=True, help="One run per catalogue (what the test suite runs).")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
@click.option("--json", "as_json", is_flag=True, help="Print one catalogue's result as JSON, write nothing.")
@click.option("--work", type=click.Path(path_type=Path), default=None, hidden=True,
              help="A new directory for one catalogue's run, left in place (default: a temporary one, removed).")
def main(slos: int, catalogue: str, runs: int, quick: bool, out: Path, as_json: bool, work: Path | None) -> None:
    if catalogue != "both":
        with contextlib.ExitStack() as stack:
            if work is None:
                work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sloengine-compile-")))
            else:
                work.mkdir(parents=True)
            result = run(slos, work, catalogue)
        print(json.dumps(result, sort_keys=True) if as_json else _row(result))
        return
    results = {}
    # Every run's files stay until the last run is done. This machine's disk is ext4 without a journal, whose
    # inode allocator passes over every inode deleted in the last minute (the last six minutes while its inode
    # table block is unwritten), with a buffer look-up each: a run started right after deleting the previous run's 7,000
    # files pays seconds of system time for the benchmark's own clean-up, which a user's `generate` does not.
    with tempfile.TemporaryDirectory(prefix="sloengine-compile-") as scratch:
        for name in CATALOGUES:
            tries = []
            for attempt in range(1 if quick else max(1, runs)):
                done = subprocess.run([sys.executable, __file__, "--slos", str(slos), "--catalogue", name, "--json",
                                       "--work", str(Path(scratch) / f"{name}-{attempt}")],
                                      capture_output=True, text=True, check=True)
                tries.append(json.loads(done.stdout.strip().splitlines()[-1]))
            tries.sort(key=lambda result: result["seconds"]["total"])
            median = dict(tries[len(tries) // 2])
            median["runs"] = len(tries)
            median["total_seconds_of_runs"] = [result["seconds"]["total"] for result in tries]
            median["peak_rss_total_mib_max"] = max(result["peak_rss_total_mib"] for result in tries)
            results[name] = median
    out.mkdir(parents=True, exist_ok=True)
    count = results["varied"]["slos"]
    (out / f"compile-{count}.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print("| catalogue | SLOs | runs | load+validate s | compile+write s | total s (median) | total s (min-max) "
          "| peak MiB (main + worker) | CPU s (user + system) | host steal | compile+write again s (files reused) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
    for result in results.values():
        print(_row(result))

if __name__ == "__main__":
    main()
