"""Two tiers against one Prometheus: rule CPU per tier, federation bytes and accuracy, as ratios in one run.

    python bench/two_tier.py --slos 1000
    python bench/two_tier.py --slos 6 --days 2 --quick   # what the test suite runs (under a minute)

N services with one ratio SLO each (99.9% over 30d, ``http_requests_total{job=SERVICE}``, 5xx bad), the same
counters in two clusters: per minute Poisson requests at a per-service rate (0.2 to 20 requests a second,
log-uniform) with a day/night swing (x5.7 from trough to peak, each service its own phase), cluster ``a``
serving 60% of them and ``b`` 40%, a per-service error rate (0.01% to 0.2%) and a few incidents (2-30% errors
for 15-90 minutes). Every count is known: the truth is computed from them.

Each cluster's counters are served live by a small exporter (the value of the minute under way), so the
Prometheus servers scrape (every 60 s) while they evaluate, as they would in production. Before they start,
each data directory gets the last 7 hours of the counters at 60 s (the raw windows read up to 6h) and the
tile history of ``--days`` days (8,640 tiles a cluster for a 30-day window), written directly as TSDB blocks
from the same per-minute counts: a single Prometheus gets both clusters' counters (a ``cluster`` label on
each, as a central Prometheus scraping both would see them) and the ``slo:`` tiles of their sum; each leaf its
own cluster's counters (no cluster label: its ``external_labels`` name it) and ``slo_cluster:`` tiles; the
global the leaves' tiles with their cluster label (as ``backfill --tier leaf --label cluster=...`` writes them).

Phases, each after an idle phase on the same data directories (the same scrapes, no rules): (1) the single
Prometheus with the single-tier rules (``generate`` without ``--split``); (2) both leaves with the leaf rules
and the global with the global rules, federating the leaves with the generated ``federation.yml`` (its
targets replaced by the leaves' addresses), all three at once. Every group evaluates twice before the phase is
measured. CPU: each process's ``process_cpu_seconds_total`` over the phase less its own idle rate, per SLO.
Federation: each leaf's ``/federate`` with the generated ``match[]``, fetched as the global's scraper asks
(identity and gzip), body bytes x (60 / federation interval) / N, and the global's ``scrape_samples_scraped``.
Accuracy: each SLO's recorded 30d error ratio at its last slow evaluation against the exact ratio over the
span its tiles cover (both clusters summed).
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sloengine.compiler.generate import write_catalog  # noqa: E402
from sloengine.compiler.rules import Intervals  # noqa: E402
from sloengine.compiler.split import Topology  # noqa: E402
from sloengine.compiler.tools import promtool  # noqa: E402
from sloengine.devstack.stack import Prometheus, TextExporter, prometheus  # noqa: E402
from sloengine.model import conventions as c  # noqa: E402
from sloengine.specs.loader import load  # noqa: E402

CLUSTERS = ("a", "b")
SHARE = {"a": 0.6, "b": 0.4}
STEP = 60
TILE = c.TILE_SECONDS
RAW_SECONDS = 7 * 3600
WINDOW_SECONDS = 30 * 86400
SLO = "availability"
SCRAPE_JOB = "services"
COUNTER = "http_requests_total"
TIERS = ("single", "leaf_a", "leaf_b", "global")
#: What Prometheus 2.42's scraper asks for (a federation scrape is a scrape); /federate answers text.
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {{name: {svc}, team: bench}}
slos:
  - name: {slo}
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: '{counter}{{job="{svc}",code=~"5.."}}'
        total: '{counter}{{job="{svc}"}}'
"""


@dataclass(frozen=True)
class Timing:
    """How long each phase waits and measures, and the intervals of every group, scrape and federation.

    The full run uses the generated rules' own intervals (30 s and 5 m), a 30 s federation and 60 s scrapes, and
    measures 5-minute phases. ``--quick`` goes through every step and reports every field on intervals and
    phases a few seconds long, so the test suite can run it: its figures are not benchmark results.
    """

    intervals: Intervals
    federation_seconds: int
    scrape_seconds: int
    #: Wall time each phase is measured (the idle phases: ``idle_seconds``).
    phase_seconds: float
    idle_seconds: float
    #: Seconds between two readings of every server's ``/metrics`` while measuring.
    sample_pause: float
    #: The idle phase waits this long before it watches the block counts, then reads them every ``settle_poll`` s
    #: until each holds for three readings (or ``settle_timeout`` passes).
    settle_first: float
    settle_poll: float
    settle_timeout: float
    evaluated_timeout: float
    #: After every group has evaluated once: None waits for each group's second evaluation (its interval and
    #: ``second_evaluation_margin``), a number waits that many seconds instead.
    after_first_evaluation: float | None
    second_evaluation_margin: float
    #: The leaves' slow groups every this many seconds instead (``--quick``: a slow group that runs more often
    #: than the tiles' 15 s grid records no tile at the evaluations that do not cross a grid step, so Prometheus
    #: marks the tile series stale and federation, which hands on only current samples, misses most tiles).
    leaf_slow_seconds: int | None
    #: How long after the history ends the exporters have traffic to serve (the run must end before).
    horizon_seconds: int
    #: Fetches of each leaf's /federate per encoding (the median body counts), and the pause between them.
    fetches: int
    fetch_pause: float


FULL = Timing(intervals=Intervals(), federation_seconds=30, scrape_seconds=60, phase_seconds=300, idle_seconds=120,
              sample_pause=20, settle_first=75, settle_poll=10, settle_timeout=900, evaluated_timeout=900,
              after_first_evaluation=None, second_evaluation_margin=5, leaf_slow_seconds=None,
              horizon_seconds=5 * 3600, fetches=5, fetch_pause=7)
QUICK = Timing(intervals=Intervals(fast_seconds=2, slow_seconds=2), federation_seconds=2, scrape_seconds=2,
               phase_seconds=5, idle_seconds=4, sample_pause=1, settle_first=1, settle_poll=0.5, settle_timeout=60,
               evaluated_timeout=120, after_first_evaluation=5, second_evaluation_margin=1, leaf_slow_seconds=15,
               horizon_seconds=3600, fetches=3, fetch_pause=0.3)


def service_name(i: int) -> str:
    return f"svc{i:04d}"


# ---- the counters ------------------------------------------------------------------------------------------


class Traffic:
    """Per-minute requests and failures of every service in both clusters, as cumulative counts.

    ``cum[(cluster, kind)][i, k]`` is service i's count (``kind`` total or bad) up to ``origin + 60 k``: the value
    its counter holds from that instant to the next minute.
    """

    def __init__(self, n: int, origin: int, minutes: int, seed: int = 7) -> None:
        self.n, self.origin, self.minutes = n, origin, minutes
        rng = np.random.default_rng(seed)
        ends = origin + STEP * np.arange(1, minutes + 1, dtype=np.int64)
        per_minute = np.exp(rng.uniform(math.log(0.2), math.log(20.0), n)) * STEP
        phase = rng.uniform(0.0, 1.0, n)
        error_rate = np.exp(rng.uniform(math.log(1e-4), math.log(2e-3), n))
        rate = per_minute[:, None] * (1 + 0.7 * np.sin(2 * np.pi * ((ends[None, :] % 86400) / 86400
                                                                     - phase[:, None])))
        errors = np.repeat(error_rate[:, None], minutes, axis=1)
        incidents = max(1, minutes // (10 * 1440))
        for i in range(n):
            for _ in range(incidents):
                start = int(rng.integers(0, minutes))
                errors[i, start:start + int(rng.integers(15, 91))] = rng.uniform(0.02, 0.3)
        self.cum: dict[tuple[str, str], np.ndarray] = {}
        zero = np.zeros((n, 1))
        for cluster in CLUSTERS:
            total = rng.poisson(rate * SHARE[cluster])
            bad = rng.binomial(total, errors)
            self.cum[(cluster, "total")] = np.concatenate([zero, np.cumsum(total, axis=1, dtype=np.float64)], axis=1)
            self.cum[(cluster, "bad")] = np.concatenate([zero, np.cumsum(bad, axis=1, dtype=np.float64)], axis=1)
            del total, bad
        self.end = origin + STEP * minutes

    def index(self, at: float) -> int:
        """The minute whose count the counter holds at ``at``."""
        k = int((at - self.origin) // STEP)
        if not 0 <= k <= self.minutes:
            raise RuntimeError(f"no traffic at {at}: the synthetic counts cover {self.origin}..{self.end}")
        return k

    def held(self, cluster: str, kind: str, at: float) -> np.ndarray:
        return self.cum[(cluster, kind)][:, self.index(at)]

    def tiles(self, cluster: str, kind: str, ends: np.ndarray) -> np.ndarray:
        """(services, tiles): the events of each 5-minute tile ending at ``ends``."""
        k = (ends - self.origin) // STEP
        cum = self.cum[(cluster, kind)]
        return cum[:, k] - cum[:, k - TILE // STEP]


class Exporter:
    """One cluster's counters served live on 127.0.0.1: every service's 200 and 500 series, valued at the minute
    under way (``job`` is the service: scraped with ``honor_labels``)."""

    def __init__(self, traffic: Traffic, cluster: str) -> None:
        self.traffic, self.cluster = traffic, cluster
        self.beyond = False
        names = [service_name(i) for i in range(traffic.n)]
        self.good_prefix = [f'{COUNTER}{{code="200",job="{s}"}} ' for s in names]
        self.bad_prefix = [f'{COUNTER}{{code="500",job="{s}"}} ' for s in names]
        self.server = TextExporter(self.body)
        self.address = self.server.address

    def body(self, now: float) -> str:
        t = self.traffic
        if now >= t.end:
            self.beyond = True
            now = t.end
        total, bad = t.held(self.cluster, "total", now), t.held(self.cluster, "bad", now)
        good = (total - bad).astype(np.int64).tolist()
        lines = [f"# TYPE {COUNTER} counter\n"]
        lines += [p + f"{v}\n" for p, v in zip(self.good_prefix, good)]
        lines += [p + f"{v}\n" for p, v in zip(self.bad_prefix, bad.astype(np.int64).tolist())]
        return "".join(lines)

    def close(self) -> None:
        self.server.close()


# ---- history as TSDB blocks --------------------------------------------------------------------------------

Series = tuple[str, np.ndarray]          # (label text without braces, values per timestamp)
Family = tuple[str, str, list[Series]]   # (metric, OpenMetrics type, series)


def write_openmetrics(path: Path, families: Iterable[Family], times: np.ndarray) -> None:
    """Every series on the same timestamps, streamed to ``path`` (integer values: counts and instants)."""
    stamps = [f" {t}\n" for t in times.tolist()]
    with path.open("w") as out:
        for metric, kind, series in families:
            family = metric.removesuffix("_total") if kind == "counter" else metric
            out.write(f"# TYPE {family} {kind}\n")
            for labels, values in series:
                prefix = f"{metric}{{{labels}}} "
                out.write("".join([prefix + v + s for v, s in zip(map(str, values.astype(np.int64).tolist()),
                                                                   stamps)]))
        out.write("# EOF\n")


def tile_families(traffic: Traffic, tier: str, ends: np.ndarray) -> list[Family]:
    """The tiles ending at ``ends`` (and where each ended) as ``tier`` holds them."""
    names = [service_name(i) for i in range(traffic.n)]
    single = (c.METRIC_TILE_TOTAL, c.METRIC_TILE_BAD, c.METRIC_TILE_END)
    metrics = single if tier == "single" else tuple(c.leaf_metric(m) for m in single)
    # (label text's cluster, clusters summed): the single's tiles sum both, a leaf's are its own, the global has both
    clusters: list[tuple[str, tuple[str, ...]]] = (
        [("", CLUSTERS)] if tier == "single" else [("", (tier[-1],))] if tier.startswith("leaf")
        else [(cl, (cl,)) for cl in CLUSTERS])
    counts: dict[tuple[str, str], np.ndarray] = {}
    for cluster, summed in clusters:
        for kind in ("total", "bad"):
            parts = [traffic.tiles(cl, kind, ends) for cl in summed]
            counts[(cluster, kind)] = parts[0] if len(parts) == 1 else parts[0] + parts[1]
    families: list[Family] = []
    for metric, kind in zip(metrics, ("total", "bad", "")):
        series: list[Series] = []
        for cluster, _ in clusters:
            tag = f'cluster="{cluster}",' if cluster else ""
            for i, svc in enumerate(names):
                values = ends if not kind else counts[(cluster, kind)][i]
                series.append((f'{tag}service="{svc}",slo="{SLO}"', values))
        families.append((metric, "gauge", series))
    return families


def raw_families(traffic: Traffic, tier: str, times: np.ndarray, addresses: dict[str, str]) -> list[Family]:
    """The counters at ``times`` as ``tier`` scraped them (the exporter's address as ``instance``)."""
    names = [service_name(i) for i in range(traffic.n)]
    k = (times - traffic.origin) // STEP
    series: list[Series] = []
    for cluster in (CLUSTERS if tier == "single" else (tier[-1],)):
        total, bad = traffic.cum[(cluster, "total")][:, k], traffic.cum[(cluster, "bad")][:, k]
        tag = f'cluster="{cluster}",' if tier == "single" else ""
        for code, values in (("200", total - bad), ("500", bad)):
            for i, svc in enumerate(names):
                series.append((f'{tag}code="{code}",instance="{addresses[cluster]}",job="{svc}"', values[i]))
    return [(COUNTER, "counter", series)]


def write_blocks(families: list[Family], times: np.ndarray, work: Path, data: Path, name: str,
                 pool: ThreadPoolExecutor) -> Future:
    """Write the OpenMetrics text here, let ``promtool`` turn it into blocks in the background."""
    work.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    source = work / f"{name}.om"
    write_openmetrics(source, families, times)

    def run() -> None:
        promtool("tsdb", "create-blocks-from", "--max-block-duration=960h", "openmetrics", str(source), str(data),
                 timeout=3 * 3600)
        source.unlink()
    return pool.submit(run)


# ---- measuring ---------------------------------------------------------------------------------------------


def cpu_seconds(metrics_text: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise RuntimeError("process_cpu_seconds_total not in Prometheus's /metrics")


def group_durations(metrics_text: str) -> dict[str, float]:
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith("prometheus_rule_group_last_duration_seconds{"):
            match = re.search(r'rule_group="[^"]*;([^"]*)"', line)
            if match:
                out[match.group(1)] = float(line.rsplit(" ", 1)[1])
    return out


def measure(proms: dict[str, Prometheus], seconds: float, pause: float) -> dict[str, dict[str, Any]]:
    """Per server: CPU seconds and wall seconds over ``seconds``, and each group's durations read meanwhile."""
    texts = {name: p.metrics_text() for name, p in proms.items()}
    t0 = time.monotonic()
    cpu0 = {name: cpu_seconds(text) for name, text in texts.items()}
    seen: dict[str, dict[str, list[float]]] = {name: {} for name in proms}
    while True:
        for name, text in texts.items():
            for group, value in group_durations(text).items():
                if value > 0:
                    seen[name].setdefault(group, []).append(value)
        if time.monotonic() - t0 >= seconds:
            break
        time.sleep(min(pause, max(0.0, seconds - (time.monotonic() - t0))))
        texts = {name: p.metrics_text() for name, p in proms.items()}
    wall = time.monotonic() - t0
    return {name: {"cpu_seconds": cpu_seconds(texts[name]) - cpu0[name], "wall_seconds": wall, "seen": seen[name]}
            for name in proms}


def settle(proms: Sequence[Prometheus], timing: Timing) -> None:
    """Until every server has loaded and merged its blocks (its block count holds for three readings)."""
    time.sleep(timing.settle_first)
    last: dict[int, str | None] = {}
    steady = dict.fromkeys(range(len(proms)), 0)
    deadline = time.monotonic() + timing.settle_timeout
    while min(steady.values()) < 3 and time.monotonic() < deadline:
        for i, prom in enumerate(proms):
            blocks = re.search(r"^prometheus_tsdb_blocks_loaded (\S+)$", prom.metrics_text(), re.M)
            value = blocks.group(1) if blocks else None
            steady[i] = steady[i] + 1 if value == last.get(i) else 0
            last[i] = value
        time.sleep(timing.settle_poll)


def wait_twice(proms: Iterable[Prometheus], timing: Timing) -> None:
    """Until every group of every server has evaluated twice (the first evaluation after a start reads cold
    caches; ``--quick``: once, and the global once more after a federation scrape)."""
    proms = list(proms)
    for prom in proms:
        prom.wait_evaluated(timeout=timing.evaluated_timeout)
    if timing.after_first_evaluation is not None:
        time.sleep(timing.after_first_evaluation)
    else:
        time.sleep(max(g["interval"] for p in proms for g in p.rule_groups()) + timing.second_evaluation_margin)


def query(prom: Prometheus, expr: str, at: float | None = None) -> list[dict]:
    return prom.query(expr, at)


def query_range(prom: Prometheus, expr: str, start: float, end: float, step: float) -> list[dict]:
    params: dict[str, str | float] = {"query": expr, "start": start, "end": end, "step": step}
    response = requests.get(f"{prom.url}/api/v1/query_range", params=params, timeout=120)
    payload = response.json()
    if payload.get("status") != "success":
        raise RuntimeError(f"range query failed: {payload.get('error')}: {expr}")
    return payload["data"]["result"]


def cpu_figures(n: int, phase: dict[str, Any], idle: dict[str, Any], interval_of: Callable[[str], float]
                ) -> dict[str, float]:
    idle_rate = idle["cpu_seconds"] / idle["wall_seconds"]
    rate = phase["cpu_seconds"] / phase["wall_seconds"]
    per_second = max(rate - idle_rate, 0.0) / n
    per_30s = sum(statistics.median(values) * 30.0 / interval_of(group) for group, values in phase["seen"].items())
    return {
        "cpu_ms_per_slo_per_second": round(per_second * 1000, 5),
        "cpu_ms_per_slo_per_30s": round(per_second * 30 * 1000, 4),
        "rule_ms_per_slo_per_30s": round(per_30s * 1000 / n, 4),
        "phase_cpu_seconds": round(phase["cpu_seconds"], 2),
        "phase_wall_seconds": round(phase["wall_seconds"], 1),
        "phase_cores_used": round(rate, 4),
        "idle_cores_used": round(idle_rate, 4),
        "groups_seen": len(phase["seen"]),
    }


# ---- accuracy ----------------------------------------------------------------------------------------------


def last_samples(prom: Prometheus, expr: str, key: str) -> dict[str, list[tuple[float, float]]]:
    """Every sample of a range selector by the value of label ``key`` (or key=cluster pairs, 'service/cluster')."""
    out: dict[str, list[tuple[float, float]]] = {}
    for series in query(prom, expr):
        name = "/".join(series["metric"].get(k, "") for k in key.split("/"))
        out.setdefault(name, []).extend((float(t), float(v)) for t, v in series["values"])
    return {k: sorted(v) for k, v in out.items()}


def recorded(prom: Prometheus, lookback: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Each service's last recorded 30d (total, bad, ratio) and when it was recorded."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for kind, metric in (("total", c.METRIC_TOTAL), ("bad", c.METRIC_BAD), ("ratio", c.METRIC_ERROR_RATIO)):
        for svc, samples in last_samples(prom, f'{metric}{{slo="{SLO}",window="30d"}}[{lookback}]', "service").items():
            out.setdefault(svc, {})[kind] = samples[-1]
    return out


def held_counts(prom: Prometheus, instants: set[float]) -> dict[tuple[str, float], tuple[float, float]]:
    """Each service's counters (total, bad) held at each instant, as ``prom`` stored them (a tile counts up to the
    value held at its end)."""
    grid = float(c.TILE_GRID_SECONDS)
    start, end = min(instants), max(instants)
    out: dict[tuple[str, float], list[float]] = {}
    for series in query_range(prom, f"sum by (job, code) ({COUNTER})", start, end, grid):
        svc, code = series["metric"]["job"], series["metric"]["code"]
        for t, v in series["values"]:
            if float(t) in instants:
                pair = out.setdefault((svc, float(t)), [0.0, 0.0])
                pair[0] += float(v)
                if code == "500":
                    pair[1] += float(v)
    return {k: (v[0], v[1]) for k, v in out.items()}


def window_start(traffic: Traffic, at: float) -> int:
    """Where the first tile a 30d window read at ``at`` holds began: ``sum_over_time`` over 30d less 1 ms reads
    tiles stamped after ``at`` - 30d; the history's tiles lie on the 5-minute grid from ``origin``."""
    after_ms = round(at * 1000) - WINDOW_SECONDS * 1000
    first = max(after_ms // (TILE * 1000) * TILE + TILE, traffic.origin + TILE)
    return first - TILE


def relative(got: float, exact: float) -> float:
    return got / exact - 1 if exact else (0.0 if got == 0 else math.inf)


def single_accuracy(prom: Prometheus, traffic: Traffic, lookback: str, history_last: int) -> dict[str, Any]:
    """The single Prometheus: each SLO's 30d ratio at its last slow evaluation against the exact ratio from the
    window's first tile to the tile recorded in that same evaluation."""
    got = recorded(prom, lookback)
    ends = last_samples(prom, f'{c.METRIC_TILE_END}{{slo="{SLO}"}}[{lookback}]', "service")
    spans: dict[str, tuple[int, float]] = {}
    for svc, values in got.items():
        at = values["total"][0]
        (end,) = [e for t, e in ends[svc] if abs(t - at) < 1e-3]
        spans[svc] = (window_start(traffic, at), end)
    held = held_counts(prom, {e for _, e in spans.values()})
    errors, counts = [], []
    for svc, (start, end) in spans.items():
        i = int(svc[3:])
        exact_total = held[(svc, end)][0] - sum(traffic.held(cl, "total", start)[i] for cl in CLUSTERS)
        exact_bad = held[(svc, end)][1] - sum(traffic.held(cl, "bad", start)[i] for cl in CLUSTERS)
        errors.append(relative(got[svc]["ratio"][1], exact_bad / exact_total))
        counts.append(max(abs(relative(got[svc]["total"][1], exact_total)),
                          abs(relative(got[svc]["bad"][1], exact_bad))))
    return {"max_relative_error": max(map(abs, errors)), "max_count_relative_error": max(counts),
            "slos_checked": len(errors),
            # spans that reach past the backfilled tiles: the live tiles are in what was checked
            "spans_with_live_tiles": sum(end > history_last for _, end in spans.values())}


def global_accuracy(top: Prometheus, leaves: dict[str, Prometheus], traffic: Traffic, timing: Timing,
                    lookback: str, history_last: int) -> dict[str, Any]:
    """The global: each SLO's 30d ratio at its last slow evaluation against the exact ratio over the tiles it
    held then, both clusters summed.

    A tile a leaf recorded less than a federation scrape (and its duration) before the global's evaluation may
    have reached the global just after it (it is counted at the next evaluation). The global's queries now
    cannot tell (it holds it now), so for such a cluster both spans are candidates, to its last tile or the one
    before; the recorded counts must equal one of them exactly, and how many such tiles were pending is
    reported.
    """
    got = recorded(top, lookback)
    ends = last_samples(top, f'{c.leaf_metric(c.METRIC_TILE_END)}{{slo="{SLO}"}}[{lookback}]', "service/cluster")
    slack = timing.federation_seconds + 5.0
    candidates: dict[tuple[str, str], list[float]] = {}
    for svc, values in got.items():
        at = values["total"][0]
        for cluster in CLUSTERS:
            before = [(t, e) for t, e in ends[f"{svc}/{cluster}"] if t <= at + 1e-3]
            options = [before[-1][1]]
            for t, e in reversed(before[:-1]):
                if before[-1][0] > at - slack and e not in options:
                    options.append(e)
                if t <= at - slack:
                    break
            candidates[(svc, cluster)] = options
    held = {cluster: held_counts(leaves[cluster], {e for (_, cl), es in candidates.items() if cl == cluster
                                                   for e in es}) for cluster in CLUSTERS}
    errors, counts, pending, live = [], [], 0, 0
    for svc, values in got.items():
        i, at = int(svc[3:]), values["total"][0]
        start = window_start(traffic, at)
        best: tuple[float, float, float, int, int] | None = None
        for end_a in candidates[(svc, "a")]:
            for end_b in candidates[(svc, "b")]:
                total = bad = 0.0
                for cluster, end in (("a", end_a), ("b", end_b)):
                    total += held[cluster][(svc, end)][0] - traffic.held(cluster, "total", start)[i]
                    bad += held[cluster][(svc, end)][1] - traffic.held(cluster, "bad", start)[i]
                miss = max(abs(relative(values["total"][1], total)), abs(relative(values["bad"][1], bad)))
                skipped = (end_a != candidates[(svc, "a")][0]) + (end_b != candidates[(svc, "b")][0])
                if best is None or miss < best[0]:
                    best = (miss, total, bad, skipped, (end_a > history_last) + (end_b > history_last))
        assert best is not None
        miss, total, bad, skipped, past = best
        pending += skipped
        live += past
        counts.append(miss)
        errors.append(relative(values["ratio"][1], bad / total))
    return {"max_relative_error": max(map(abs, errors)), "max_count_relative_error": max(counts),
            "slos_checked": len(errors), "tiles_pending_federation": pending,
            # (SLO, cluster) spans that reach past the backfilled tiles: federated live tiles were checked
            "spans_with_live_tiles": live}


def tiles_in_window(prom: Prometheus, metric: str) -> dict[str, float]:
    """How many tiles the first SLO's 30d window read at its last evaluation (by cluster in the global)."""
    at = max(t for samples in last_samples(prom, f'{c.METRIC_TOTAL}{{service="{service_name(0)}",window="30d"}}[15m]',
                                           "service").values() for t, _ in samples)
    found = query(prom, f'count_over_time({metric}{{service="{service_name(0)}"}}[29d23h59m59s999ms])', at)
    return {r["metric"].get("cluster", "all"): float(r["value"][1]) for r in found}


# ---- federation --------------------------------------------------------------------------------------------


def federation_bytes(leaves: dict[str, Prometheus], match: list[str], timing: Timing) -> dict[str, Any]:
    """Each leaf's /federate body as the global's scraper asks for it: bytes on the wire without and with gzip,
    and the samples in it (median of a few fetches)."""
    out: dict[str, Any] = {}
    for cluster, leaf in leaves.items():
        sizes: dict[str, list[int]] = {"identity": [], "gzip": []}
        samples = []
        for _ in range(timing.fetches):
            for encoding in sizes:
                response = requests.get(f"{leaf.url}/federate", params=[("match[]", m) for m in match],
                                        headers={"Accept": ACCEPT, "Accept-Encoding": encoding}, stream=True,
                                        timeout=120)
                response.raise_for_status()
                body = response.raw.read(decode_content=False)
                sizes[encoding].append(len(body))
                if encoding == "identity":
                    samples.append(sum(1 for line in body.splitlines() if line and not line.startswith(b"#")))
            time.sleep(timing.fetch_pause)
        out[cluster] = {"identity_bytes": statistics.median(sizes["identity"]),
                        "gzip_bytes": statistics.median(sizes["gzip"]), "samples": statistics.median(samples)}
    return out


# ---- the run -----------------------------------------------------------------------------------------------


def write_specs(n: int, work: Path) -> list[Path]:
    out = []
    for i in range(n):
        path = work / "specs" / f"{service_name(i)}.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SPEC.format(svc=service_name(i), slo=SLO, counter=COUNTER))
        out.append(path)
    return out


def scrape_jobs(exporters: dict[str, Exporter], clusters: Sequence[str], timing: Timing,
                labelled: bool) -> list[dict]:
    return [{"job_name": SCRAPE_JOB, "honor_labels": True, "scrape_interval": f"{timing.scrape_seconds}s",
             "scrape_timeout": f"{min(timing.scrape_seconds, 10)}s",
             "static_configs": [{"targets": [exporters[cl].address],
                                 **({"labels": {"cluster": cl}} if labelled else {})} for cl in clusters]}]


def top_up(traffic: Traffic, tiers: Sequence[str], history_end: int, work: Path, data: dict[str, Path],
           addresses: dict[str, str], pool: ThreadPoolExecutor) -> int:
    """The recent part of the history, written just before the servers start: tiles after the old history up to
    the last 5-minute boundary, and the last 7 hours of the counters at 60 s up to the last minute."""
    now = int(time.time())
    last_minute = now // STEP * STEP
    last_tile = now // TILE * TILE
    tile_ends = np.arange(history_end + TILE, last_tile + 1, TILE, dtype=np.int64)
    raw_times = np.arange(last_minute - RAW_SECONDS, last_minute + 1, STEP, dtype=np.int64)
    jobs = []
    for tier in tiers:
        if len(tile_ends):
            jobs.append(write_blocks(tile_families(traffic, tier, tile_ends), tile_ends, work, data[tier],
                                     f"recent-tiles-{tier}", pool))
        if tier != "global":
            jobs.append(write_blocks(raw_families(traffic, tier, raw_times, addresses), raw_times, work, data[tier],
                                     f"raw-{tier}", pool))
    for job in jobs:
        job.result()
    return max(last_tile, history_end)


def run(n: int, days: int, quick: bool, work: Path) -> dict[str, Any]:
    timing = QUICK if quick else FULL
    started = time.monotonic()
    result = load(write_specs(n, work))
    if result.errors:
        raise SystemExit("\n".join(d.render() for d in result.errors))
    topology = Topology(CLUSTERS, federation_interval_seconds=timing.federation_seconds)
    out = work / "generated"
    write_catalog(out, result.catalog, intervals=timing.intervals, dashboards=False, split=topology)
    single_rules = sorted((out / "rules").glob("*.rules.yml"))
    leaf_rules = sorted((out / c.LEAF_DIR).glob("*.rules.yml"))
    if timing.leaf_slow_seconds is not None:
        for path in leaf_rules:
            path.write_text(_with_slow_interval(path.read_text(), timing.leaf_slow_seconds))
    global_rules = sorted((out / c.GLOBAL_DIR).glob("*.rules.yml"))
    federation = yaml.safe_load((out / c.FEDERATION_FILE).read_text())["scrape_configs"][0]

    now = int(time.time())
    # The old history ends 8 hours back, before the 7 hours of counters each phase writes with its recent tiles,
    # so the blocks written now and just before a phase never overlap in time (nothing to merge).
    history_end = now // TILE * TILE - 8 * 3600
    origin = history_end + 8 * 3600 - days * 86400 - 3600
    traffic = Traffic(n, origin, (now + timing.horizon_seconds - origin) // STEP)
    data = {tier: work / f"data-{tier}" for tier in TIERS}
    exporters = {cl: Exporter(traffic, cl) for cl in CLUSTERS}
    addresses = {cl: e.address for cl, e in exporters.items()}
    tile_ends = np.arange(origin + TILE, history_end + 1, TILE, dtype=np.int64)
    try:
        with ThreadPoolExecutor(2) as pool:
            jobs = [write_blocks(tile_families(traffic, tier, tile_ends), tile_ends, work / "om", data[tier],
                                 f"tiles-{tier}", pool) for tier in TIERS]
            for job in jobs:
                job.result()
            prepared = time.monotonic() - started
            interval = f"{timing.intervals.fast_seconds}s"
            lookback = f"{max(3 * timing.intervals.slow_seconds, 600)}s"

            # Phase 1: one Prometheus scraping both clusters, with every single-tier rule.
            single_history = top_up(traffic, ("single",), history_end, work / "om", data, addresses, pool)
            single_scrapes = scrape_jobs(exporters, CLUSTERS, timing, labelled=True)
            with prometheus(work / "single-idle", data_dir=data["single"], scrape_configs=single_scrapes,
                            evaluation_interval=interval) as prom:
                settle([prom], timing)
                idle = measure({"single": prom}, timing.idle_seconds, timing.sample_pause)
            with prometheus(work / "single", data_dir=data["single"], scrape_configs=single_scrapes,
                            rule_files=single_rules, evaluation_interval=interval) as prom:
                wait_twice([prom], timing)
                phase = measure({"single": prom}, timing.phase_seconds, timing.sample_pause)
                single_tiles = tiles_in_window(prom, c.METRIC_TILE_TOTAL)
                single_acc = single_accuracy(prom, traffic, lookback, single_history)

            # Phase 2: a leaf per cluster and the global federating them.
            tiers_history = top_up(traffic, ("leaf_a", "leaf_b", "global"), history_end, work / "om", data, addresses,
                                   pool)
            with ExitStack() as stack:
                proms = _two_tiers(stack, work / "idle", data, exporters, timing, federation, interval, None)
                settle(list(proms.values()), timing)
                idle.update(measure(proms, timing.idle_seconds, timing.sample_pause))
            with ExitStack() as stack:
                proms = _two_tiers(stack, work / "run", data, exporters, timing, federation, interval,
                                   (leaf_rules, global_rules))
                wait_twice(proms.values(), timing)
                phase.update(measure(proms, timing.phase_seconds, timing.sample_pause))
                leaves = {"a": proms["leaf_a"], "b": proms["leaf_b"]}
                global_tiles = tiles_in_window(proms["global"], c.leaf_metric(c.METRIC_TILE_TOTAL))
                global_acc = global_accuracy(proms["global"], leaves, traffic, timing, lookback, tiers_history)
                fed = federation_bytes(leaves, federation["params"]["match[]"], timing)
                scraped = {cl: float(r["value"][1]) for r in query(
                    proms["global"], f'scrape_samples_scraped{{job="{c.FEDERATION_JOB}"}}')
                    for cl, leaf in leaves.items() if r["metric"]["instance"] == leaf.url.removeprefix("http://")}
    finally:
        for exporter in exporters.values():
            exporter.close()
    if any(e.beyond for e in exporters.values()):
        raise SystemExit("the run outlasted the synthetic traffic: raise Timing.horizon_seconds")

    def interval_of(group: str) -> float:
        if group.endswith(":leaf-slow") and timing.leaf_slow_seconds is not None:
            return timing.leaf_slow_seconds
        return timing.intervals.slow_seconds if group.endswith("slow") else timing.intervals.fast_seconds

    cpu = {tier: cpu_figures(n, phase[tier], idle[tier], interval_of) for tier in TIERS}
    cpu["two_tier"] = {key: round(sum(cpu[t][key] for t in ("leaf_a", "leaf_b", "global")), 5)
                       for key in ("cpu_ms_per_slo_per_second", "cpu_ms_per_slo_per_30s", "rule_ms_per_slo_per_30s")}

    def ratio(tier: str, key: str = "cpu_ms_per_slo_per_second") -> float | None:
        base = cpu["single"][key]
        return round(cpu[tier][key] / base, 4) if base else None

    per_minute = 60.0 / timing.federation_seconds
    return {
        "slos": n,
        "days": days,
        "quick": quick,
        "clusters": {cl: SHARE[cl] for cl in CLUSTERS},
        "prepare_seconds": round(prepared, 1),
        "total_seconds": round(time.monotonic() - started, 1),
        "phase_seconds": timing.phase_seconds,
        "federation_interval_seconds": timing.federation_seconds,
        "scrape_interval_seconds": timing.scrape_seconds,
        "intervals_seconds": {"fast": timing.intervals.fast_seconds, "slow": timing.intervals.slow_seconds},
        "cpu": cpu,
        "ratios": {f"{tier}_over_single": {"cpu": ratio(tier), "rule_time": ratio(tier, "rule_ms_per_slo_per_30s")}
                   for tier in ("two_tier", "global", "leaf_a", "leaf_b")},
        "federation": {
            "bytes_per_slo_per_minute": {
                enc: round(sum(f[f"{enc}_bytes"] for f in fed.values()) * per_minute / n, 2)
                for enc in ("identity", "gzip")},
            "per_leaf": fed,
            "samples_per_scrape": scraped,
            "samples_per_slo_per_scrape": round(sum(scraped.values()) / n, 3),
        },
        "tiles_in_30d_window": {"single": single_tiles, "global": global_tiles},
        "accuracy": {"single": single_acc, "global": global_acc},
    }


def _with_slow_interval(text: str, seconds: int) -> str:
    """A leaf rule file with its slow groups every ``seconds``."""
    data = yaml.safe_load(text)
    for group in data["groups"]:
        if group["name"].endswith(":leaf-slow"):
            group["interval"] = f"{seconds}s"
    return yaml.safe_dump(data, sort_keys=False)


def _two_tiers(stack: ExitStack, work: Path, data: dict[str, Path], exporters: dict[str, Exporter], timing: Timing,
               federation: dict, interval: str,
               rules: tuple[list[Path], list[Path]] | None) -> dict[str, Prometheus]:
    """Both leaves (each scraping its cluster) and the global federating them; with ``rules``: (leaf, global)."""
    proms = {}
    for cluster in CLUSTERS:
        tier = f"leaf_{cluster}"
        proms[tier] = stack.enter_context(prometheus(
            work / tier, data_dir=data[tier], scrape_configs=scrape_jobs(exporters, (cluster,), timing, False),
            rule_files=rules[0] if rules else (), evaluation_interval=interval, external_labels={"cluster": cluster}))
    job = dict(federation)
    job["static_configs"] = [{"targets": [proms[f"leaf_{cl}"].url.removeprefix("http://") for cl in CLUSTERS]}]
    proms["global"] = stack.enter_context(prometheus(
        work / "global", data_dir=data["global"], scrape_configs=[job], rule_files=rules[1] if rules else (),
        evaluation_interval=interval))
    return proms


def render_table(r: dict[str, Any]) -> str:
    cpu, ratios, fed, acc = r["cpu"], r["ratios"], r["federation"], r["accuracy"]
    lines = ["| server | CPU ms/SLO/s | CPU ms/SLO per 30 s | rule time ms/SLO per 30 s | ÷ single (CPU) |",
             "|---|---|---|---|---|"]
    for tier, name in (("single", "one Prometheus, all rules"), ("two_tier", "two tiers: both leaves + global"),
                       ("global", "global"), ("leaf_a", "leaf a (60% of traffic)"), ("leaf_b", "leaf b (40%)")):
        t = cpu[tier]
        share = "1" if tier == "single" else f"{ratios[f'{tier}_over_single']['cpu']}"
        lines.append(f"| {name} | {t['cpu_ms_per_slo_per_second']} | {t['cpu_ms_per_slo_per_30s']} | "
                     f"{t['rule_ms_per_slo_per_30s']} | {share} |")
    lines += ["", "| federation (both leaves) | identity | gzip |", "|---|---|---|",
              f"| bytes per SLO per minute | {fed['bytes_per_slo_per_minute']['identity']:,} | "
              f"{fed['bytes_per_slo_per_minute']['gzip']:,} |",
              f"| samples per SLO per federation scrape | {fed['samples_per_slo_per_scrape']} | |",
              "", "| 30d error ratio vs exact (max over SLOs) | relative error | SLOs |", "|---|---|---|"]
    for tier in ("single", "global"):
        lines.append(f"| {tier} | {acc[tier]['max_relative_error']:.1e} | {acc[tier]['slos_checked']} |")
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--slos", type=int, default=1000)
@click.option("--days", type=int, default=30, help="days of tile history (30: full 30d windows)")
@click.option("--quick", is_flag=True,
              help="tiny: every group, scrape and federation every 2s and phases of a few seconds (for tests; "
                   "not results)")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
def main(slos: int, days: int, quick: bool, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sloengine-bench-") as tmp:
        result = run(slos, days, quick, Path(tmp))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"two_tier-{slos}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    print(render_table(result))


if __name__ == "__main__":
    main()
