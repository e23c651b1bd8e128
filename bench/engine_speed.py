"""Report speed: ``sloengine report`` beside Google's slo-generator, the same SLOs on the same Prometheus.

    python bench/engine_speed.py --slos 1000              # the issue's size: 1,000 SLOs, 30 days of data
    python bench/engine_speed.py --slos 100
    python bench/engine_speed.py --quick                  # 3 SLOs, 2 days: what the test suite runs

N services each have ``http_requests_total{job="svcNNNN",code="200"|"500"}``
with exactly known increments on a fixed grid (one sample per ``--step``
seconds, default 60; ``--days`` of history, default 31 = the 30-day window plus
a day of margin), backfilled into a throwaway Prometheus 2.42 on 127.0.0.1.
The counters then stay live: a small exporter in this process serves the same
grid onwards (explicit timestamps, so every sample is known exactly) and
Prometheus scrapes it, so windows ending "now" hold data as in production.

Every service has one 99.9% / 30d availability SLO, written twice: a native
``sloengine/v1`` spec (bad = 500s over total) and an slo-generator v2
``ServiceLevelObjective`` (``good_bad_ratio``: ``filter_good`` 200s over
``filter_valid`` all requests; error budget policy with one 30-day step,
``--sg-windows`` adds steps). Each tool runs as one subprocess over all N
SLOs; its wall time ÷ N is its cost per SLO (start-up included, as a user
pays it), and the ratio is slo-generator's ÷ sloengine's. Runs alternate
between the tools; the median of ``--repeats`` is reported.

Two phases on the same data, each against one Prometheus that both tools query:

* ``raw``: Prometheus holds the counters only, no rule has ever run, so
  ``sloengine report`` (also given ``--raw``) must count the raw samples.
* ``recorded``: then the 5-minute tile history is backfilled with sloengine's
  own backfill (up to the backfilled end; the minutes since then are the gap a
  real restart leaves) and its generated rules are loaded and evaluated, as in
  production; ``sloengine report`` reads the recorded series.

slo-generator, which has no rules, does the same work in both. It lives in its
own virtualenv (``--cache``, default ``bench/.cache/slo-generator-venv``) so
its pins never meet ours, installed once with pip (``slo-generator[prometheus]``
and ``setuptools<81``, which its CLI needs for ``pkg_resources``) and reused.

Correctness: each tool's 30-day SLI against the exact count. slo-generator
ignores its ``--timestamp`` on the Prometheus backend (its HTTP client sends
``time=time.time()``), so its truth is taken at the middle of its run;
sloengine is pinned with ``--at``. Query counts and Prometheus CPU come from
Prometheus's own /metrics, read before and after each run.
"""

from __future__ import annotations

import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import click
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloengine.compiler.rulefiles import render_rule_file  # noqa: E402
from sloengine.compiler.rules import Intervals, compile_catalog  # noqa: E402
from sloengine.devstack.stack import Prometheus, prometheus  # noqa: E402
from sloengine.devstack.synthetic import Counter, openmetrics, window_sum, write_blocks  # noqa: E402
from sloengine.engine.backfill import backfill, install_blocks  # noqa: E402
from sloengine.model import conventions as c  # noqa: E402
from sloengine.model.durations import DurationError, parse_duration  # noqa: E402
from sloengine.specs.loader import load  # noqa: E402

WINDOW = "30d"
WINDOW_SECONDS = parse_duration(WINDOW)
OBJECTIVE_PERCENT = 99.9
SLO_NAME = "availability"
METRIC = "http_requests_total"
PATTERNS = ("flat", "night-errors", "peak-errors", "incident")
#: Services per promtool call: bounds the OpenMetrics text held in memory (~250 MB at a 60s step, 31 days).
SERVICES_PER_BATCH = 40
#: How far past the backfilled end the live grid is defined; a run longer than this stops getting new samples.
LIVE_HORIZON_SECONDS = 2 * 86400
SCRAPE_SECONDS = 5
SG_REQUIREMENTS = ("slo-generator[prometheus]", "setuptools<81")
#: The benchmark's exit code when slo-generator cannot be installed (no network): the test skips on it.
EXIT_NO_PEER = 3
PHASES = ("raw", "recorded")
SLOENGINE = (sys.executable, "-m", "sloengine.cli")


class PeerUnavailable(RuntimeError):
    """slo-generator could not be installed into its virtualenv."""


# ---- slo-generator's own virtualenv ------------------------------------------------------------


def slo_generator_python(cache: Path) -> Path:
    """The interpreter of a virtualenv holding slo-generator, created on first use.

    A separate venv because slo-generator pins what it likes (and needs an old
    setuptools); the marker is written last, so an install cut short is redone
    rather than trusted.
    """
    venv = cache / "slo-generator-venv"
    python = venv / "bin" / "python"
    marker = venv / ".sloengine-bench-installed"
    wanted = " ".join(SG_REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python
    cache.mkdir(parents=True, exist_ok=True)
    steps = (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries", "1",
         "--timeout", "30", *SG_REQUIREMENTS],
    )
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise PeerUnavailable(f"could not install slo-generator ({' '.join(step[:5])} ... exited "
                                  f"{done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")
    marker.write_text(wanted)
    return python


def slo_generator_version(python: Path) -> str:
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('slo-generator'))"],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


#: Runs slo-generator's own ``compute`` command in-process (click, ``standalone_mode=False``): the exact CLI
#: code path, with its reports returned as data instead of log lines to parse.
SG_DRIVER = """\
import json, sys, time
started = time.perf_counter()
from slo_generator.cli import main
reports = main(["compute", "-f", sys.argv[1], "-c", sys.argv[2], "-t", sys.argv[3]], standalone_mode=False)
seconds = time.perf_counter() - started
with open(sys.argv[4], "w") as out:
    json.dump({"seconds_in_process": seconds, "reports": reports}, out)
"""


# ---- synthetic traffic with known counts -------------------------------------------------------


def service_name(i: int) -> str:
    return f"svc{i:04d}"


@dataclass(frozen=True)
class Profile:
    """One service's traffic shape; services share the few distinct profiles so the truth stays small."""

    pattern: str
    scale: int


def profile_of(i: int) -> Profile:
    return Profile(PATTERNS[i % len(PATTERNS)], 1 + (i // len(PATTERNS)) % 5)


def traffic(profile: Profile, times: np.ndarray, step: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """(good, bad) events per step. Rates are per minute scaled to the step, so ``--step`` keeps them."""
    base = 100.0 * profile.scale * step / 60.0
    hour = (times // 3600) % 24
    day = (hour >= 8) & (hour < 20)
    if profile.pattern == "flat":
        total, bad = np.full(times.shape, base * 6), np.full(times.shape, base * 6 * 0.0005)
    elif profile.pattern == "night-errors":  # 100x day/night swing, errors only at night
        total, bad = np.where(day, base * 60, base * 0.6), np.where(day, 0.0, base * 0.06)
    elif profile.pattern == "peak-errors":
        total, bad = np.where(day, base * 60, base * 0.6), np.where(day, base * 0.06, 0.0)
    else:  # 0.02% errors and a two-hour full outage a week before the backfilled end
        total = np.full(times.shape, base * 6)
        outage = (times > end - 7 * 86400) & (times <= end - 7 * 86400 + 7200)
        bad = np.where(outage, total, total * 0.0002)
    total, bad = total.astype(np.float64), bad.astype(np.float64)
    total[0] = bad[0] = 0.0
    return total - bad, bad


@dataclass(frozen=True)
class Data:
    """The sample grid (backfilled up to ``end``, live after it) and each profile's per-step events."""

    start: int
    end: int
    step: int
    #: profile → (total, bad) increments per grid step, and (good, bad) counter values, over the whole grid
    increments: dict[Profile, tuple[np.ndarray, np.ndarray]]
    values: dict[Profile, tuple[np.ndarray, np.ndarray]]

    def sli(self, service_index: int, at: float) -> float:
        """Exact good ÷ total over the 30-day window ending at ``at`` (samples in ``(at - 30d, at]``)."""
        total, bad = self.increments[profile_of(service_index)]
        events = window_sum(total, self.start, self.step, at - WINDOW_SECONDS, at)
        return 1.0 - window_sum(bad, self.start, self.step, at - WINDOW_SECONDS, at) / events


def synthesize(n: int, days: int, step: int, work: Path, data_dir: Path) -> Data:
    """Backfill every service's two counters up to now, ``SERVICES_PER_BATCH`` services per promtool call."""
    end = int(time.time()) // step * step
    start = end - days * 86400
    last = (end - start) // step
    times = start + step * np.arange(last + 1 + LIVE_HORIZON_SECONDS // step, dtype=np.int64)
    increments: dict[Profile, tuple[np.ndarray, np.ndarray]] = {}
    values: dict[Profile, tuple[np.ndarray, np.ndarray]] = {}
    batch: list[Counter] = []
    for i in range(n):
        profile = profile_of(i)
        if profile not in increments:
            good, bad = traffic(profile, times, step, end)
            increments[profile] = (good + bad, bad)
            values[profile] = (np.cumsum(good), np.cumsum(bad))
        svc = service_name(i)
        good_inc = increments[profile][0] - increments[profile][1]
        batch.append(Counter(METRIC, (("code", "200"), ("job", svc)), good_inc[:last + 1]))
        batch.append(Counter(METRIC, (("code", "500"), ("job", svc)), increments[profile][1][:last + 1]))
        if len(batch) >= 2 * SERVICES_PER_BATCH or i == n - 1:
            write_blocks(openmetrics(batch, start, step), work, data_dir, max_block_hours=24 * (days + 2))
            batch = []
    return Data(start, end, step, increments, values)


# ---- the live end of the counters --------------------------------------------------------------


def exposition(n: int, data: Data, now: float) -> str:
    """The counters at the newest grid sample not after ``now``, stamped with its time; nothing up to the
    backfilled end (Prometheus takes live samples only after its newest block)."""
    k = int((now - data.start) // data.step)
    if data.start + k * data.step <= data.end:
        return ""
    k = min(k, len(next(iter(data.values.values()))[0]) - 1)
    stamp = (data.start + k * data.step) * 1000
    lines = []
    for i in range(n):
        good, bad = data.values[profile_of(i)]
        svc = service_name(i)
        lines.append(f'{METRIC}{{code="200",job="{svc}"}} {good[k]:.17g} {stamp}\n'
                     f'{METRIC}{{code="500",job="{svc}"}} {bad[k]:.17g} {stamp}\n')
    return f"# TYPE {METRIC} counter\n" + "".join(lines)


@contextmanager
def live_counters(n: int, data: Data) -> Iterator[dict]:
    """Serve the live grid on a loopback port; yields the scrape config that reads it as the backfilled series
    (``honor_labels`` keeps each series' ``job``, and ``instance`` is dropped)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = exposition(n, data, time.time()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"job_name": "synthetic", "scrape_interval": f"{SCRAPE_SECONDS}s", "honor_labels": True,
               "static_configs": [{"targets": [f"127.0.0.1:{server.server_address[1]}"]}],
               "metric_relabel_configs": [{"action": "labeldrop", "regex": "instance"}]}
    finally:
        server.shutdown()
        server.server_close()


# ---- the two tools' specs ----------------------------------------------------------------------


def _selector(svc: str, code: str | None = None) -> str:
    return f'{METRIC}{{job="{svc}",code="{code}"}}' if code else f'{METRIC}{{job="{svc}"}}'


def write_sloengine_specs(n: int, directory: Path) -> Path:
    """One native spec per service: bad (500s) over total, 99.9% over 30 days."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        svc = service_name(i)
        spec = {
            "apiVersion": "sloengine/v1",
            "kind": "ServiceLevels",
            "service": {"name": svc},
            "slos": [{"name": SLO_NAME, "objective": OBJECTIVE_PERCENT, "window": WINDOW,
                      "sli": {"ratio": {"bad": _selector(svc, "500"), "total": _selector(svc)}}}],
        }
        (directory / f"{svc}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return directory


def write_slo_generator_slos(n: int, directory: Path) -> Path:
    """One v2 ServiceLevelObjective per service (``*.yaml``: slo-generator loads no other suffix)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        svc = service_name(i)
        slo = {
            "apiVersion": "sre.google.com/v2",
            "kind": "ServiceLevelObjective",
            "metadata": {"name": f"{svc}-{SLO_NAME}",
                         "labels": {"service_name": svc, "feature_name": "http", "slo_name": SLO_NAME}},
            "spec": {
                "description": f"{OBJECTIVE_PERCENT}% of {svc}'s requests succeed",
                "backend": "prometheus",
                "method": "good_bad_ratio",
                "exporters": [],
                "service_level_indicator": {"filter_good": _selector(svc, "200"), "filter_valid": _selector(svc)},
                "goal": round(OBJECTIVE_PERCENT / 100, 6),
            },
        }
        (directory / f"{svc}.yaml").write_text(yaml.safe_dump(slo, sort_keys=False))
    return directory


def write_slo_generator_config(path: Path, url: str, windows: Sequence[str]) -> Path:
    """The shared config: the Prometheus backend, one policy step per window, no exporters."""
    steps = [{"name": w, "window": parse_duration(w), "burn_rate_threshold": 1, "alert": False,
              "message_alert": "over budget", "message_ok": "within budget"} for w in windows]
    config = {"backends": {"prometheus": {"url": url}}, "exporters": {},
              "error_budget_policies": {"default": {"steps": steps}}}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---- what Prometheus saw -----------------------------------------------------------------------


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


@dataclass(frozen=True)
class PromCounters:
    """Prometheus's own counters: API queries by handler, and its CPU seconds."""

    queries: dict[str, float]
    cpu_seconds: float

    @staticmethod
    def read(prom: Prometheus) -> PromCounters:
        queries: dict[str, float] = {}
        cpu = 0.0
        for line in prom.metrics_text().splitlines():
            match = _SAMPLE.match(line)
            if not match:
                continue
            name, labels, value = match.groups()
            if name == "process_cpu_seconds_total":
                cpu = float(value)
            elif name == "prometheus_http_requests_total" and labels:
                handler = re.search(r'handler="([^"]*)"', labels)
                if handler and handler.group(1).startswith("/api/v1/query"):
                    queries[handler.group(1)] = queries.get(handler.group(1), 0.0) + float(value)
        return PromCounters(queries, cpu)

    def since(self, before: PromCounters) -> tuple[dict[str, int], float]:
        """(queries by handler, Prometheus CPU seconds) between ``before`` and this reading."""
        handlers = set(self.queries) | set(before.queries)
        diff = {h: int(self.queries.get(h, 0) - before.queries.get(h, 0)) for h in sorted(handlers)}
        return {h: v for h, v in diff.items() if v}, self.cpu_seconds - before.cpu_seconds


# ---- one timed run of a tool -------------------------------------------------------------------


@dataclass
class Run:
    """One timed subprocess over all SLOs, and the 30-day SLI it reported per service index."""

    wall_seconds: float
    cpu_seconds: float
    prometheus_cpu_seconds: float
    queries: dict[str, int]
    slis: dict[int, float]
    #: the instant its SLIs are compared at: ``--at`` for sloengine, the run's middle for slo-generator
    truth_at: float
    invalid: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(prom: Prometheus, argv: Sequence[str], timeout: float) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``argv`` once, measuring wall time, its CPU (user + system) and what it cost Prometheus."""
    before, cpu_before = PromCounters.read(prom), _children_cpu()
    started = time.time()
    clock = time.perf_counter()
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - clock
    cpu = _children_cpu() - cpu_before
    queries, prom_cpu = PromCounters.read(prom).since(before)
    return done, {"wall": wall, "cpu": cpu, "prom_cpu": prom_cpu, "queries": queries, "midpoint": started + wall / 2}


def _index_of(service: str) -> int | None:
    match = re.fullmatch(r"svc(\d{4})", service)
    return int(match.group(1)) if match else None


def run_slo_generator(python: Path, prom: Prometheus, slo_dir: Path, config: Path, at: int, work: Path,
                      timeout: float) -> Run:
    driver = work / "sg_driver.py"
    driver.write_text(SG_DRIVER)
    out = work / "sg-reports.json"
    out.unlink(missing_ok=True)
    done, m = timed(prom, [str(python), str(driver), str(slo_dir), str(config), str(at), str(out)], timeout)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"slo-generator failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    payload = json.loads(out.read_text())
    slis: dict[int, float] = {}
    invalid: list[str] = []
    for name, steps in payload["reports"].items():
        for report in steps:
            if report.get("error_budget_policy_step_name") != WINDOW:
                continue
            index = _index_of(name.split("-")[0])
            if not report.get("valid", False) or index is None:
                invalid.append(f"{name}: {'; '.join(report.get('errors', [])) or 'invalid'}")
                continue
            slis[index] = float(report["sli_measurement"])
    return Run(m["wall"], m["cpu"], m["prom_cpu"], m["queries"], slis, m["midpoint"], invalid,
               {"seconds_in_process": round(payload["seconds_in_process"], 3)})


def sloengine_report_help() -> tuple[str | None, bool]:
    """(why ``sloengine report`` cannot run here, or None; whether it has ``--raw``)."""
    done = subprocess.run([*SLOENGINE, "report", "--help"], capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return f"`sloengine report` is not a command yet: {' '.join(last)}", False
    return None, "--raw" in done.stdout


def _sloengine_sli(entry: dict) -> float | None:
    """The entry's 30-day SLI as a ratio: ``sli``, read as percent when the objective is in percent."""
    sli = entry.get("sli")
    if sli is None and entry.get("total_events"):
        return float(entry["good_events"]) / float(entry["total_events"])
    if sli is None:
        return None
    objective = float(entry.get("objective") or 0)
    return float(sli) / 100 if objective > 1 and float(sli) > 1 else float(sli)


def run_sloengine(prom: Prometheus, spec_dir: Path, at: int, raw: bool, timeout: float) -> Run:
    argv = [*SLOENGINE, "report", str(spec_dir), "--prometheus", prom.url, "--at", str(at), "--format", "json",
            *(["--raw"] if raw else [])]
    done, m = timed(prom, argv, timeout)
    try:
        payload = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"sloengine report failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}") from None
    slis: dict[int, float] = {}
    invalid: list[str] = []
    sources: dict[str, int] = {}
    notes: dict[str, int] = {}
    for entry in payload.get("slos", []):
        index = _index_of(str(entry.get("service", "")))
        sli = _sloengine_sli(entry)
        if index is None or sli is None:
            invalid.append(f"{entry.get('service')}/{entry.get('slo')}: no SLI ({entry.get('status')})")
            continue
        slis[index] = sli
        source = str(entry.get("source"))
        sources[source] = sources.get(source, 0) + 1
        for note in entry.get("notes") or []:
            notes[note] = notes.get(note, 0) + 1
    return Run(m["wall"], m["cpu"], m["prom_cpu"], m["queries"], slis, at, invalid,
               {"exit_code": done.returncode, "sources": sources, "notes": notes, "raw_flag": raw})


# ---- phases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Everything a phase needs that does not change between phases."""

    n: int
    data: Data
    sg_python: Path
    sg_slos: Path
    sg_windows: tuple[str, ...]
    specs: Path
    sloengine_missing: str | None
    sloengine_has_raw: bool
    repeats: int
    work: Path
    timeout: float = 3600.0


def _recorded_windows(prom: Prometheus, n: int, at: float | None = None) -> tuple[dict[str, int], bool]:
    """SLOs per metric and window at ``at`` (now by default), and whether every window of both event
    metrics, the 30-day one included, is there for all ``n`` SLOs."""
    counts: dict[str, int] = {}
    complete = True
    for metric in (c.METRIC_TOTAL, c.METRIC_BAD):
        by_window = {r["metric"].get(c.LABEL_WINDOW, ""): int(float(r["value"][1]))
                     for r in prom.query(f"count by ({c.LABEL_WINDOW}) ({metric})", at)}
        counts.update({f"{metric}/{w}": v for w, v in by_window.items()})
        complete &= WINDOW in by_window and all(v == n for v in by_window.values())
    return counts, complete


def wait_recorded(prom: Prometheus, n: int, timeout: float) -> dict[str, int]:
    """Until every window of both event metrics is recorded for all ``n`` SLOs, the 30-day one included:
    the state a report in production finds, where no SLO needs the raw fallback."""
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts, complete = _recorded_windows(prom, n)
        if complete:
            return counts
        time.sleep(2)
    raise RuntimeError(f"recorded windows incomplete after {timeout:.0f}s: {counts}")


def pinned_instant() -> int:
    """Now, once every grid sample up to now has surely been scraped (one scrape interval and a margin)."""
    at = int(time.time())
    time.sleep(SCRAPE_SECONDS + 3)
    return at


def measure_phase(prom: Prometheus, s: Setup, phase: str) -> dict[str, list[Run]]:
    """``repeats`` runs of each tool at one pinned instant, alternating which goes first."""
    config = write_slo_generator_config(s.work / f"sg-config-{phase}.yaml", prom.url, s.sg_windows)
    at = pinned_instant()
    if phase == "recorded":
        # Every window must be recorded *at the pinned instant*, not just when wait_recorded looked: a window
        # counted only by the slow group exists from that group's first evaluation on.
        deadline = time.monotonic() + 900
        while not _recorded_windows(prom, s.n, at)[1] and time.monotonic() < deadline:
            at = pinned_instant()
    tools: dict[str, Callable[[], Run]] = {
        "slo_generator": lambda: run_slo_generator(s.sg_python, prom, s.sg_slos, config, at, s.work, s.timeout),
    }
    if s.sloengine_missing is None:
        raw = phase == "raw" and s.sloengine_has_raw
        tools["sloengine"] = lambda: run_sloengine(prom, s.specs, at, raw, s.timeout)
    runs: dict[str, list[Run]] = {tool: [] for tool in tools}
    for r in range(s.repeats):
        for tool in (list(tools) if r % 2 == 0 else list(reversed(tools))):
            runs[tool].append(tools[tool]())
    return runs


def backfill_tiles(s: Setup, prom: Prometheus, quick: bool) -> tuple[list[Path], Intervals, Path]:
    """(rule files, their intervals, tile blocks): sloengine's rules and the tile history up to the
    backfilled end, evaluated from the raw counters in ``prom``."""
    result = load([s.specs])
    if result.errors:
        raise SystemExit("\n".join(d.render() for d in result.errors))
    # From the counters' first sample, as a user backfills: starting later (a tile in) leaves events before the
    # first tile that the report rightly refuses to miss, for a fifth of the times of day (promtool evaluates at
    # the group's own phase within the 5 minutes, not on their boundary).
    tiles = backfill(result.catalog, prom.url, s.data.start, s.data.end, s.work / "backfill")
    intervals = Intervals(fast_seconds=10, slow_seconds=10) if quick else Intervals()
    files = []
    for relative, groups in compile_catalog(result.catalog, intervals).items():
        path = s.work / "rules" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        files.append(path)
    return files, intervals, tiles.blocks_dir


def run(args: Options, work: Path) -> dict:
    clock = time.monotonic()
    sg_python = slo_generator_python(args.cache)
    missing, has_raw = sloengine_report_help()
    phases = [p for p in PHASES if p in args.phases and (p == "raw" or missing is None)]
    data_dir = work / "data"
    data = synthesize(args.slos, args.days, args.step, work / "om", data_dir)
    s = Setup(args.slos, data, sg_python, write_slo_generator_slos(args.slos, work / "sg-slos"),
              tuple(dict.fromkeys([*args.sg_windows.split(","), WINDOW])),
              write_sloengine_specs(args.slos, work / "specs"), missing, has_raw,
              args.repeats or (1 if args.quick else 3), work)
    prepared = {"data": time.monotonic() - clock}
    measured: dict[str, dict[str, list[Run]]] = {}
    extra: dict[str, Any] = {}
    with live_counters(args.slos, data) as scrape:
        with prometheus(work / "prom-raw", data_dir=data_dir, scrape_configs=[scrape]) as prom:
            if "raw" in phases:
                measured["raw"] = measure_phase(prom, s, "raw")
            if "recorded" in phases:
                clock = time.monotonic()
                rule_files, intervals, blocks = backfill_tiles(s, prom, args.quick)
        if "recorded" in phases:
            install_blocks(blocks, data_dir)
            prepared["backfill"] = time.monotonic() - clock
            extra["rule_intervals_seconds"] = {"fast": intervals.fast_seconds, "slow": intervals.slow_seconds}
            with prometheus(work / "prom-recorded", data_dir=data_dir, rule_files=rule_files,
                            scrape_configs=[scrape]) as prom:
                clock = time.monotonic()
                prom.wait_evaluated(timeout=120 if args.quick else 900)
                extra["recorded_series"] = wait_recorded(prom, args.slos, timeout=120 if args.quick else 900)
                prepared["rules_first_evaluated"] = time.monotonic() - clock
                measured["recorded"] = measure_phase(prom, s, "recorded")
    return report(args, s, measured, prepared, extra)


def summarise(runs: list[Run], n: int, data: Data) -> dict:
    """Median cost per SLO over the runs, queries per SLO, and the SLI's worst error against the truth."""
    walls = [r.wall_seconds for r in runs]
    errors = [abs(sli - data.sli(i, r.truth_at)) for r in runs for i, sli in r.slis.items()]
    return {
        "ms_per_slo": round(statistics.median(walls) / n * 1000, 3),
        "cpu_ms_per_slo": round(statistics.median(r.cpu_seconds for r in runs) / n * 1000, 3),
        "prometheus_cpu_ms_per_slo": round(statistics.median(r.prometheus_cpu_seconds for r in runs) / n * 1000, 3),
        "queries_per_slo": {h: round(v / n, 3) for h, v in runs[-1].queries.items()},
        "run_seconds": [round(w, 3) for w in walls],
        "slos_reported": min(len(r.slis) for r in runs),
        "invalid": runs[-1].invalid[:5],
        "sli_max_abs_error": max(errors) if errors else None,
        **runs[-1].extra,
    }


def report(args: Options, s: Setup, measured: dict[str, dict[str, list[Run]]],
           prepared: dict[str, float], extra: dict[str, Any]) -> dict:
    out: dict[str, Any] = {
        "slos": s.n, "days": args.days, "step_seconds": args.step, "window": WINDOW, "quick": args.quick,
        "repeats": s.repeats, "prepare_seconds": {k: round(v, 1) for k, v in prepared.items()},
        "slo_generator": {"version": slo_generator_version(s.sg_python), "windows": list(s.sg_windows)},
        "sloengine": {"available": s.sloengine_missing is None, "reason": s.sloengine_missing, **extra},
        "ratio": {},
    }
    for phase, runs in measured.items():
        out["slo_generator"][phase] = summarise(runs["slo_generator"], s.n, s.data)
        if "sloengine" in runs:
            out["sloengine"][phase] = summarise(runs["sloengine"], s.n, s.data)
            ours = out["sloengine"][phase]["ms_per_slo"]
            out["ratio"][phase] = round(out["slo_generator"][phase]["ms_per_slo"] / ours, 3) if ours else None
    return out


# ---- output ------------------------------------------------------------------------------------


def _cell(section: dict, phase: str, key: str) -> str:
    value = section.get(phase, {}).get(key)
    if value is None:
        return "—"
    if isinstance(value, dict):
        return f"{sum(value.values()):g}"
    return f"{value:.2g}" if key == "sli_max_abs_error" else f"{value:g}"


def render_table(r: dict) -> str:
    sg, se = r["slo_generator"], r["sloengine"]
    shown = [p for p in PHASES if p in sg]
    lines = [
        "| SLOs | Prometheus holds | slo-generator ms/SLO | sloengine ms/SLO | ratio (slo-generator ÷ sloengine) "
        "| queries/SLO slo-generator | queries/SLO sloengine | Prometheus CPU ms/SLO slo-generator "
        "| Prometheus CPU ms/SLO sloengine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in shown:
        holds = "raw counters only, no rules" if phase == "raw" else "+ tile history, rules loaded"
        lines.append(f"| {r['slos']} | {holds} | {_cell(sg, phase, 'ms_per_slo')} | {_cell(se, phase, 'ms_per_slo')} "
                     f"| {r['ratio'].get(phase, '—')} | {_cell(sg, phase, 'queries_per_slo')} "
                     f"| {_cell(se, phase, 'queries_per_slo')} | {_cell(sg, phase, 'prometheus_cpu_ms_per_slo')} "
                     f"| {_cell(se, phase, 'prometheus_cpu_ms_per_slo')} |")
    lines += ["", "| 30d SLI, max abs error vs exact count | " + " | ".join(shown) + " |",
              "|---|" + "---|" * len(shown)]
    for name, section in (("slo-generator", sg), ("sloengine", se)):
        lines.append(f"| {name} | " + " | ".join(_cell(section, p, "sli_max_abs_error") for p in shown) + " |")
    if not se["available"]:
        lines += ["", f"sloengine not measured: {se['reason']}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class Options:
    """The command line, checked, with ``--quick``'s defaults filled in: what one run measures and where it
    writes."""

    slos: int
    days: int
    step: int
    repeats: int
    phases: tuple[str, ...]
    sg_windows: str
    quick: bool
    cache: Path
    out: Path


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--slos", type=int, default=None, help="SLOs, one per service (default 1000, --quick 3)")
@click.option("--days", type=int, default=None,
              help="days of synthetic history; the SLO window is 30d (default 31, --quick 2)")
@click.option("--step", type=int, default=60,
              help="seconds between samples: divides 300, at most 120 (120 prepares about 2x faster)")
@click.option("--repeats", type=int, default=0, help="runs per tool per phase (default 3, --quick 1)")
@click.option("--phases", default=",".join(PHASES), help="recorded and/or raw (comma-separated)")
@click.option("--sg-windows", default=WINDOW,
              help="slo-generator error budget policy steps (comma-separated; 30d always included)")
@click.option("--quick", is_flag=True, help="tiny: 3 SLOs, 2 days, one run per tool, 10s rule intervals (for tests)")
@click.option("--cache", type=click.Path(path_type=Path), default=REPO / "bench" / ".cache",
              help="where slo-generator's virtualenv is kept")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
def main(slos: int | None, days: int | None, step: int, repeats: int, phases: str, sg_windows: str, quick: bool,
         cache: Path, out: Path) -> None:
    slos = slos if slos is not None else (3 if quick else 1000)
    days = days if days is not None else (2 if quick else 31)
    if slos < 1 or slos > 9999 or days < 1:
        raise click.UsageError("--slos must be 1..9999 (services are named svc0000..svc9999) and --days at least 1")
    if not 0 < step <= 120 or 300 % step:
        raise click.UsageError("--step must divide 300 and be at most 120: the rules' 5-minute windows need two "
                               "samples")
    chosen = tuple(p for p in phases.split(",") if p)
    if not chosen or not set(chosen) <= set(PHASES):
        raise click.BadParameter(f"one or both of {', '.join(PHASES)}", param_hint="--phases")
    for window in sg_windows.split(","):
        try:
            parse_duration(window)
        except DurationError as exc:
            raise click.BadParameter(str(exc), param_hint="--sg-windows") from None
    options = Options(slos, days, step, repeats, chosen, sg_windows, quick, cache, out)
    try:
        with tempfile.TemporaryDirectory(prefix="sloengine-speed-") as tmp:
            result = run(options, Path(tmp))
    except PeerUnavailable as exc:
        print(f"engine_speed: {exc}", file=sys.stderr)
        sys.exit(EXIT_NO_PEER)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"engine_speed-{slos}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    print(render_table(result))


if __name__ == "__main__":
    main()
