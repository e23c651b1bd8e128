"""A demo workload: the counters, histograms and probes of the bundled example services, with scripted incidents.

Every value is a deterministic function of time: traffic per minute follows a
day/night curve, and incidents are scheduled relative to an ``epoch`` (the
demo: the second its stack is up). The same function gives the backfilled
history (as synthetic counters for ``promtool``) and the live values served on
``/metrics``, so the live counters continue the history exactly: scraped under
the history's labels they are one series, and the events between the last
backfilled sample and the first scrape are counted once, like any others.

Counts are exact to the second: within a minute, events arrive evenly, and an
incident starts and ends on its scheduled second. Each count is kept as an
integer over :data:`DENOMINATOR`, so however the minutes are summed (the
history all at once, the live counters at every scrape) the same instant gives
the same value.

Scripted incidents, in minutes after the epoch (and their echoes in the history):

* checkout-api: a full outage from +2 to +12 minutes (pages at L1, escalates to L2, then resolves);
* checkout-api latency: 30% of requests over 300 ms from +8 to +20 (a latency regression);
* search ``/suggest``: 2% errors from the epoch on (a slow burn, about 4x the budget; 0.15% before);
* payments: one failed authorisation every 10 minutes; the homepage probe fails one scrape in 397.

Run on its own (after ``make venv``): ``.venv/bin/python exporters/workload.py --port 9200``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from http.server import ThreadingHTTPServer

import click
import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector, CollectorRegistry

from .synthetic import Counter, Gauge

BUCKETS = (0.05, 0.1, 0.3, 1.0, 3.0)
#: History the workload can describe before its history's end (what the demo backfills at most).
HISTORY_DAYS = 3
#: Counts are integers over this: a minute's share of ``B`` requests per minute is ``B * 10_000 * seconds``.
DENOMINATOR = 60 * 10_000
MINUTE = 60


@dataclass(frozen=True)
class Schedule:
    """When the scripted incidents happen.

    ``epoch`` (Unix seconds) is the schedule's zero: the outage and the latency
    regression are minutes after it, and the slow burn starts at it. The
    backfilled history ends at ``history_end`` (a whole minute, at or before the
    epoch; default the epoch), and ``past_outages`` are minutes before that: the
    history is written before the demo's stack is up, and does not depend on
    when that is.
    """

    epoch: int
    outage: tuple[float, float] = (2, 12)
    slow: tuple[float, float] = (8, 20)
    #: Past incidents (minutes before the history's end) so budgets mean something at once.
    past_outages: tuple[tuple[float, float], ...] = ((-1500, -1499),)
    history_end: int | None = None

    @property
    def history_until(self) -> int:
        return self.epoch // MINUTE * MINUTE if self.history_end is None else self.history_end

    @property
    def origin(self) -> int:
        """Where the counters start counting (from zero): :data:`HISTORY_DAYS` before the history's end."""
        return self.history_until - HISTORY_DAYS * 86400

    def at(self, minutes: float) -> int:
        """The Unix second ``minutes`` after the epoch."""
        return self.epoch + round(minutes * MINUTE)

    def outage_seconds(self) -> tuple[int, int]:
        return self.at(self.outage[0]), self.at(self.outage[1])

    def slow_seconds(self) -> tuple[int, int]:
        return self.at(self.slow[0]), self.at(self.slow[1])

    def outages(self) -> list[tuple[int, int]]:
        """Every checkout outage as ``[start, end)`` Unix seconds: the past ones and the scripted one."""
        end = self.history_until
        return [(end + round(a * MINUTE), end + round(b * MINUTE)) for a, b in self.past_outages] + [
            self.outage_seconds()]


@cache
def _base(minute: int) -> int:
    """Requests in the minute ending at ``(minute + 1) * 60``: 200 at night, 2,000 at the afternoon peak.

    Computed with :mod:`math` one minute at a time, so the same minute gives the same count however
    many minutes are computed together.
    """
    hour = ((minute + 1) * MINUTE % 86400) / 3600.0
    return math.floor(200.0 + 1800.0 * (0.5 - 0.5 * math.cos((hour - 3.0) / 24.0 * 2 * math.pi)) ** 2)


def _overlap(lo: np.ndarray, hi: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """Seconds of each ``(lo, hi]`` inside ``[span)`` (whole seconds: an event at second s is in ``(s-1, s]``)."""
    return np.clip(np.minimum(hi, span[1]) - np.maximum(lo, span[0]), 0, None)


def numerators(schedule: Schedule, lo: np.ndarray, hi: np.ndarray) -> dict[str, np.ndarray]:
    """Events in each interval ``(lo, hi]`` (whole seconds, within one minute), times :data:`DENOMINATOR`.

    Integers throughout: every share below divides the counts exactly, so sums are exact in any order.
    """
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    minute = lo // MINUTE
    base = np.fromiter((_base(int(m)) for m in minute), dtype=np.int64, count=len(minute))
    length = hi - lo
    down = sum((_overlap(lo, hi, span) for span in schedule.outages()), np.zeros_like(lo))
    slow = _overlap(lo, hi, schedule.slow_seconds())
    burning = _overlap(lo, hi, (schedule.epoch, np.iinfo(np.int64).max))
    total = base * 10_000 * length
    # One checkout error every 5 minutes and one failed payment every 10, spread over their minute.
    fifth = ((minute + 1) % 5 == 0).astype(np.int64)
    tenth = ((minute + 1) % 10 == 0).astype(np.int64)
    checkout_bad = base * 10_000 * down + 10_000 * (length - down) * fifth
    # 0.4% of requests are slow (over 300 ms); 30% during the latency regression.
    slow_requests = base * (3_000 * slow + 40 * (length - slow))
    fast = total - slow_requests
    suggest = total * 4 // 10
    # The slow burn: 2% of /suggest failing from the epoch on, 0.15% before (shares of /suggest's 40%).
    suggest_err = base * (80 * burning + 6 * (length - burning))
    pay_failed = 10_000 * length * tenth
    return {
        "checkout_ok": total - checkout_bad,
        "checkout_err": checkout_bad,
        "lat_0.05": fast * 3 // 5, "lat_0.1": fast * 17 // 20, "lat_0.3": fast,
        "lat_1.0": fast + slow_requests * 7 // 10, "lat_3.0": total, "lat_inf": total,
        "lat_fast": fast, "lat_slow": slow_requests,
        "pay_ok": total * 3 // 10 - pay_failed,
        "pay_failed": pay_failed,
        "search_ok": total // 2,
        "search_err": np.zeros_like(total),
        "suggest_ok": suggest - suggest_err,
        "suggest_err": suggest_err,
    }


def _minutes(schedule: Schedule, until: int) -> dict[str, np.ndarray]:
    """Each whole minute's numerators from the origin up to ``until`` (a whole minute)."""
    starts = np.arange(schedule.origin, until, MINUTE, dtype=np.int64)
    return numerators(schedule, starts, starts + MINUTE)


#: Numerators that only make up the latency sum (fast requests take 80 ms, slow ones 900 ms).
_SUM_PARTS = ("lat_fast", "lat_slow")


def _values(numerator: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Counter values from cumulative numerators: whole events, and the latency sum in seconds."""
    out = {k: (v // DENOMINATOR).astype(np.float64) for k, v in numerator.items() if k not in _SUM_PARTS}
    out["lat_sum"] = (numerator["lat_fast"] * 0.08 + numerator["lat_slow"] * 0.9) / DENOMINATOR
    return out


def cumulative(schedule: Schedule, at: float) -> dict[str, float]:
    """Counter values at ``at``: every event since the origin up to its whole second."""
    second = int(math.floor(at))
    whole = max(schedule.origin, second // MINUTE * MINUTE)
    totals = {k: int(v.sum()) for k, v in _minutes(schedule, whole).items()}
    if second > whole:
        partial = numerators(schedule, np.array([whole]), np.array([second]))
        totals = {k: totals[k] + int(partial[k][0]) for k in totals}
    values = _values({k: np.array([v], dtype=np.int64) for k, v in totals.items()})
    return {k: float(v[0]) for k, v in values.items()}


def probe(schedule: Schedule, t: np.ndarray) -> np.ndarray:
    """1 = the probe succeeded; fails one scrape in 397, and throughout checkout's scripted outage."""
    start, end = schedule.outage_seconds()
    flaky = np.floor(t / 15).astype(np.int64) % 397 == 0
    return np.where(flaky | ((t >= start) & (t < end)), 0.0, 1.0)


# ---- the series, shared by the live exporter and the backfill ------------------------------------

SERIES: tuple[tuple[str, tuple[tuple[str, str], ...], str], ...] = (
    ("http_requests_total", (("code", "200"), ("job", "checkout-api")), "checkout_ok"),
    ("http_requests_total", (("code", "500"), ("job", "checkout-api")), "checkout_err"),
    ("payment_authorisations_total", (("job", "gateway"), ("result", "approved")), "pay_ok"),
    ("payment_authorisations_total", (("job", "gateway"), ("result", "failed")), "pay_failed"),
    ("search_requests_total", (("code", "200"), ("job", "search"), ("route", "/search")), "search_ok"),
    ("search_requests_total", (("code", "500"), ("job", "search"), ("route", "/search")), "search_err"),
    ("search_requests_total", (("code", "200"), ("job", "search"), ("route", "/suggest")), "suggest_ok"),
    ("search_requests_total", (("code", "500"), ("job", "search"), ("route", "/suggest")), "suggest_err"),
)
HISTOGRAM = "http_request_duration_seconds"
HISTOGRAM_LABELS = (("job", "checkout-api"),)
PROBE = "probe_success"
PROBE_LABELS = (("instance", "https://shop.example.com/"), ("job", "blackbox"))


def bucket_key(le: float) -> str:
    return f"lat_{le}"


class WorkloadCollector(Collector):
    def __init__(self, schedule: Schedule, clock: Callable[[], float] = time.time) -> None:
        self.schedule = schedule
        self.clock = clock

    def collect(self) -> Iterable:
        now = self.clock()
        values = cumulative(self.schedule, now)
        families: dict[str, CounterMetricFamily] = {}
        for metric, labels, key in SERIES:
            name = metric[: -len("_total")]
            family = families.setdefault(name, CounterMetricFamily(name, f"Demo {name}.",
                                                                   labels=[k for k, _ in labels]))
            family.add_metric([v for _, v in labels], values[key])
        yield from families.values()
        buckets = [(repr(le), values[bucket_key(le)]) for le in BUCKETS] + [("+Inf", values["lat_inf"])]
        hist = HistogramMetricFamily(HISTOGRAM, "Demo request latency.", labels=[k for k, _ in HISTOGRAM_LABELS])
        hist.add_metric([v for _, v in HISTOGRAM_LABELS], buckets, values["lat_sum"])
        yield hist
        gauge = GaugeMetricFamily(PROBE, "Demo blackbox probe.", labels=[k for k, _ in PROBE_LABELS])
        gauge.add_metric([v for _, v in PROBE_LABELS], float(probe(self.schedule, np.array([now]))[0]))
        yield gauge


def serve(workload: Schedule | WorkloadCollector, host: str = "127.0.0.1",
          port: int = 0) -> tuple[ThreadingHTTPServer, int]:
    """Serve /metrics on a thread; returns the server and its port.

    Given a collector rather than a schedule, the caller may set its ``schedule`` later (the demo binds the
    port first, because the backfilled history carries it as ``instance``, and starts the schedule when the
    rest of its stack is up).
    """
    registry = CollectorRegistry()
    registry.register(workload if isinstance(workload, WorkloadCollector) else WorkloadCollector(workload))
    handler = MetricsHandler.factory(registry)
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="workload").start()
    return server, server.server_address[1]


def history(schedule: Schedule, days: float = HISTORY_DAYS,
            instance: str | None = None) -> tuple[int, list[Counter | Gauge]]:
    """The same series as synthetic counters, one sample a minute for ``days`` up to the history's end.

    Each sample holds the live counter's value at its time (the first is the baseline), so the history and
    the live scrapes are one series when they carry the same labels: pass the ``instance`` the live scrape
    adds (the probe keeps its own). Returns the first sample's time and the series.
    """
    if not 0 < days <= HISTORY_DAYS:
        raise ValueError(f"history of {days} days: the workload describes 0 to {HISTORY_DAYS} days")
    end = schedule.history_until
    if end % MINUTE or end > schedule.epoch:
        raise ValueError("the history must end on a whole minute, at or before the epoch")
    samples = round(days * 1440) + 1
    start = end - (samples - 1) * MINUTE
    numerator = {k: np.concatenate(([0], np.cumsum(v)))[-samples:] for k, v in _minutes(schedule, end).items()}
    values = _values(numerator)
    times = start + MINUTE * np.arange(samples)

    def labelled(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(labels + ((("instance", instance),) if instance else ())))

    def increments(key: str) -> np.ndarray:
        return np.diff(values[key], prepend=0.0)

    series: list[Counter | Gauge] = [Counter(metric, labelled(labels), increments(key))
                                     for metric, labels, key in SERIES]
    for le in BUCKETS:
        series.append(Counter(HISTOGRAM + "_bucket", labelled(HISTOGRAM_LABELS + (("le", repr(le)),)),
                              increments(bucket_key(le))))
    series.append(Counter(HISTOGRAM + "_bucket", labelled(HISTOGRAM_LABELS + (("le", "+Inf"),)),
                          increments("lat_inf")))
    series.append(Counter(HISTOGRAM + "_count", labelled(HISTOGRAM_LABELS), increments("lat_inf")))
    series.append(Gauge(PROBE, PROBE_LABELS, probe(schedule, times)))
    return int(start), series


#: How the workload runs as a process, as its ``--help`` prints it (after ``make venv``).
COMMAND = ".venv/bin/python exporters/workload.py"


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=__doc__.split("\n\n")[0])
@click.option("--port", type=int, default=9200)
def main(port: int) -> None:
    schedule = Schedule(epoch=int(time.time()))
    server, bound = serve(schedule, port=port)
    print(f"demo workload on http://127.0.0.1:{bound}/metrics (epoch {schedule.epoch})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main(prog_name=COMMAND)
