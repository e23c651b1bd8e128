"""A demo workload: the counters, histograms and probes of the bundled example services, with scripted incidents.

Every value is a deterministic function of time: traffic per minute follows a
day/night curve, and incidents are scheduled relative to an ``epoch`` (the
demo's start). The same function gives the backfilled history (as synthetic
counters for ``promtool``) and the live values served on ``/metrics``, so the
live counters continue the history without a reset.

Scripted incidents, in minutes after the epoch (and their echoes in the history):

* checkout-api: a full outage from +2 to +12 minutes (pages at L1, escalates to L2, then resolves);
* checkout-api latency: 30% of requests over 300 ms from +8 to +20 (a latency regression);
* search ``/suggest``: 2% errors from the start (a slow burn, about 4x the budget; 0.15% before);
* payments: one failed authorisation every 10 minutes; the homepage probe fails one scrape in 397.

Run on its own: ``python exporters/workload.py --port 9200`` (or ``python -m sloengine.workload``).
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Callable, Iterable

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.exposition import MetricsHandler

BUCKETS = (0.05, 0.1, 0.3, 1.0, 3.0)
#: History the workload can describe before its epoch (what the demo backfills).
HISTORY_DAYS = 3


@dataclass(frozen=True)
class Schedule:
    """Incident times relative to ``epoch`` (Unix seconds, on a minute)."""

    epoch: float
    outage: tuple[float, float] = (2, 12)
    slow: tuple[float, float] = (8, 20)
    #: Past incidents (minutes before the epoch) so budgets mean something at once.
    past_outages: tuple[tuple[float, float], ...] = ((-1500, -1499),)

    def minute(self, t: np.ndarray) -> np.ndarray:
        return (t - self.epoch) / 60.0


def _day_curve(t: np.ndarray) -> np.ndarray:
    """Requests per minute: 200 at night, 2,000 at the afternoon peak."""
    hour = (t % 86400) / 3600.0
    return 200.0 + 1800.0 * (0.5 - 0.5 * np.cos((hour - 3.0) / 24.0 * 2 * math.pi)) ** 2


def _in(minutes: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return (minutes >= span[0]) & (minutes < span[1])


def per_minute(schedule: Schedule, t: np.ndarray) -> dict[str, np.ndarray]:
    """Events in the minute ending at each ``t`` (whole minutes), by series key."""
    m = schedule.minute(t)
    base = np.floor(_day_curve(t))
    outage = _in(m, schedule.outage) | np.any([_in(m, p) for p in schedule.past_outages], axis=0)
    every = np.floor(t / 60).astype(np.int64)
    checkout_bad = np.where(outage, base, (every % 5 == 0).astype(float))
    slow_share = np.where(_in(m, schedule.slow), 0.3, 0.004)
    slow = np.floor(base * slow_share)
    fast = base - slow
    # The slow burn starts with the demo: 0.15% errors before, 2% after (about 4x the budget).
    suggest_err = np.floor(base * 0.4 * np.where(m >= 0, 0.02, 0.0015))
    out = {
        "checkout_ok": base - checkout_bad,
        "checkout_err": checkout_bad,
        # Buckets: most requests are quick; the slow share lands above 0.3s.
        "lat_0.05": np.floor(fast * 0.6), "lat_0.1": np.floor(fast * 0.85), "lat_0.3": fast,
        "lat_1.0": fast + np.floor(slow * 0.7), "lat_3.0": base, "lat_inf": base,
        "lat_sum": fast * 0.08 + slow * 0.9,
        "pay_ok": np.floor(base * 0.3) - (every % 10 == 0),
        "pay_failed": (every % 10 == 0).astype(float),
        "search_ok": np.floor(base * 0.5),
        "search_err": np.zeros_like(base),
        "suggest_ok": np.floor(base * 0.4) - suggest_err,
        "suggest_err": suggest_err,
    }
    return out


def probe(schedule: Schedule, t: np.ndarray) -> np.ndarray:
    """1 = the probe succeeded; fails one scrape in 400, and throughout checkout's outage."""
    m = schedule.minute(t)
    flaky = np.floor(t / 15).astype(np.int64) % 397 == 0
    return np.where(flaky | _in(m, schedule.outage), 0.0, 1.0)


def cumulative(schedule: Schedule, at: float) -> dict[str, float]:
    """Counter values at ``at``: every minute's events since the history began, plus this minute's share."""
    start = schedule.epoch - HISTORY_DAYS * 86400
    minutes = start + 60.0 * np.arange(1, int((at - start) // 60) + 1)
    totals = {k: float(v.sum()) for k, v in per_minute(schedule, minutes).items()}
    partial = (at - start) % 60 / 60.0
    if partial:
        current = per_minute(schedule, np.array([minutes[-1] + 60.0 if len(minutes) else start + 60.0]))
        totals = {k: totals[k] + math.floor(float(current[k][0]) * partial) for k in totals}
    return totals


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


def serve(schedule: Schedule, host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, int]:
    """Serve /metrics on a thread; returns the server and its port."""
    registry = CollectorRegistry()
    registry.register(WorkloadCollector(schedule))
    handler = MetricsHandler.factory(registry)
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="workload").start()
    return server, server.server_address[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    schedule = Schedule(epoch=time.time() // 60 * 60)
    server, port = serve(schedule, port=args.port)
    print(f"demo workload on http://127.0.0.1:{port}/metrics (epoch {schedule.epoch:.0f})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()


def history(schedule: Schedule, days: int = HISTORY_DAYS):
    """The same series as synthetic counters, one sample a minute from ``days`` before the epoch up to it."""
    from .synthetic import Counter, Gauge

    start = schedule.epoch - days * 86400
    times = start + 60.0 * np.arange(days * 1440 + 1)
    events = per_minute(schedule, times)
    for values in events.values():
        values[0] = 0.0
    series = [Counter(metric, labels, events[key]) for metric, labels, key in SERIES]
    for le in BUCKETS:
        series.append(Counter(HISTOGRAM + "_bucket", tuple(sorted(HISTOGRAM_LABELS + (("le", repr(le)),))),
                              events[bucket_key(le)]))
    series.append(Counter(HISTOGRAM + "_bucket", tuple(sorted(HISTOGRAM_LABELS + (("le", "+Inf"),))),
                          events["lat_inf"]))
    series.append(Counter(HISTOGRAM + "_count", HISTOGRAM_LABELS, events["lat_inf"]))
    series.append(Gauge(PROBE, PROBE_LABELS, probe(schedule, times)))
    return int(start), series
