"""The generated rules in a real Prometheus, at the intervals users get: tiled windows are exact counts.

Thirty-two days of counters with Poisson noise are backfilled: seven traffic
patterns scraped every 60 s and three scraped every 15 s, each at its own
scrape phase (none on a minute or a tile boundary). The tiles' history is
backfilled with ``sloengine backfill``; then Prometheus runs the rules exactly
as ``sloengine generate`` writes them (fast group every 30 s, slow group every
5 minutes) and the test waits for the slow groups' first evaluation. Meanwhile
the counters go on live: Prometheus scrapes them (every 60 s and 15 s, at its
own phases, after a gap of the minutes the set-up took, as after a restart), so
every window and the report read data that is still coming in, however long
the set-up and the tests take on a busy machine.

Ground truth is each sample's increase over the previous sample (a drop
counting the new value), attributed to the sample's time: what happened, as
far as any reader of the counters can know. For the live part, the samples are
read back from Prometheus and checked against the values the target served. Two claims:

* every tiled window (1d, 3d, 30d, the calendar month so far) equals the exact
  count over the span its tiles cover, to 1e-9 (the tiles partition time, so
  this is exact arithmetic, not an approximation that happens to be close);
* the recorded error ratio of each rolling window is within 1% of the exact
  ratio over the nominal window ending at the evaluation.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from sloengine.compiler.generate import render
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.backfill import backfill, install_blocks
from sloengine.model import conventions as c
from sloengine.model.calendars import period_start
from sloengine.model.slo import CalendarUnit
from sloengine.specs.loader import load

#: Days of history: any calendar month so far (up to 31 days) lies within the backfilled tiles.
DAYS = 32
#: (name, scrape interval, scrape phase in seconds past the minute)
PATTERNS = (
    ("flat", 60, 17), ("night-errors", 60, 17), ("peak-errors", 60, 17), ("counter-reset", 60, 17),
    ("incidents", 60, 17), ("quiet", 60, 17), ("scrape-gap", 60, 17),
    ("night-errors-15s", 15, 4), ("counter-reset-15s", 15, 4), ("incidents-15s", 15, 4),
)
WINDOWS = {"1d": 86400, "3d": 3 * 86400, "30d": 30 * 86400}
MONTHLY = "monthly"
#: An SLO whose tiles' history covers only the last half hour (its rules were loaded then): its recorded
#: windows cover minutes, not days, and ``report`` must say so and count it from the raw counters.
FRESH = "fresh"

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: accuracy, team: sre}
receivers: {sre: {webhook_configs: [{url: "http://127.0.0.1:1/"}]}}
slos:
""" + "".join(
    f"""  - name: {name}
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: acc_requests_total{{pattern="{name}",code="500"}}
        total: acc_requests_total{{pattern="{name}"}}
"""
    for name, _, _ in PATTERNS
) + f"""  - name: {MONTHLY}
    objective: 99.9
    window: {{calendar: month, timezone: Europe/Berlin}}
    sli:
      ratio:
        bad: acc_requests_total{{pattern="night-errors",code="500"}}
        total: acc_requests_total{{pattern="night-errors"}}
  - name: {FRESH}
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: acc_requests_total{{pattern="incidents",code="500"}}
        total: acc_requests_total{{pattern="incidents"}}
"""


def rates(pattern: str, times: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected (good, bad) events per second at ``times``: flat, 100x day/night swings with errors at night or
    at peak, incidents, idle stretches."""
    hour = (times // 3600) % 24
    day = (hour >= 8) & (hour < 20)
    base = pattern.removesuffix("-15s")
    total = np.full(times.shape, 10.0)
    bad = np.full(times.shape, 0.01)
    if base == "quiet":
        idle = ((times > end - 12 * 86400) & (times <= end - 10 * 86400)) | (times > end - 7 * 3600)
        total, bad = np.where(idle, 0.0, total), np.where(idle, 0.0, bad)
    elif base in ("night-errors", "peak-errors"):
        total = np.where(day, 100.0, 1.0)
        bad = np.where(day, 0.0, 0.1) if base == "night-errors" else np.where(day, 0.1, 0.0)
    elif base == "incidents":
        # A 2h full outage 20h ago and a 10% burn over two days ten days ago: the 1d, 3d and 30d windows each
        # hold different incidents, and every window's edge falls in quiet time.
        outage = (times > end - 20 * 3600) & (times <= end - 18 * 3600)
        burn = (times > end - 10 * 86400) & (times <= end - 8 * 86400)
        bad = np.where(outage, total, np.where(burn, 0.1 * total, bad))
    elif base in ("counter-reset", "scrape-gap"):
        bad = np.full(times.shape, 0.02)
    return total - bad, bad


@dataclass(frozen=True)
class Truth:
    """Every sample time and the events it saw (its increase over the previous sample; 0 for the first)."""

    times: np.ndarray
    good: np.ndarray
    bad: np.ndarray

    def then(self, later: Truth) -> Truth:
        return Truth(np.concatenate([self.times, later.times]), np.concatenate([self.good, later.good]),
                     np.concatenate([self.bad, later.bad]))

    def count(self, begin: float, end: float) -> tuple[float, float]:
        """(bad, total) events of the samples in ``(begin, end]``."""
        mask = (self.times > begin) & (self.times <= end)
        bad = float(self.bad[mask].sum())
        return bad, bad + float(self.good[mask].sum())


def _counter(code: str, pattern: str, times: np.ndarray, per_scrape: np.ndarray, resets: tuple[int, ...],
             scraped: np.ndarray) -> tuple[Counter, np.ndarray]:
    """The counter series (events drawn per scrape, with Poisson noise) and the events each kept sample saw."""
    counter = Counter("acc_requests_total", (("code", code), ("pattern", pattern)), per_scrape, resets, scraped)
    return counter, np.concatenate([[0.0], _increments(counter.values()[scraped])])


def _increments(values: np.ndarray) -> np.ndarray:
    """The events each sample after the first saw: its increase over the previous one, a drop (a restart) counting
    the new value."""
    deltas = np.diff(values)
    return np.where(deltas >= 0, deltas, values[1:])


class LiveCounters:
    """The counters after the backfilled history: served over HTTP, each scrape adding the Poisson events of the
    time since the previous one at the pattern's rates. Prometheus scrapes ``/<step>`` every ``step`` seconds."""

    def __init__(self, last: dict[tuple[str, str], tuple[float, float]], steps: dict[str, int], end: int,
                 seed: int) -> None:
        self.state = dict(last)  # (pattern, code) -> (time, value) of the latest sample
        self.served: dict[tuple[str, str], set[float]] = {key: {value} for key, (_, value) in last.items()}
        self.steps, self.end = steps, end
        self.rng = np.random.default_rng(seed)
        self.lock = threading.Lock()
        counters = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = counters.scrape(int(self.path.strip("/"))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def scrape(self, step: int) -> str:
        now = time.time()
        lines = ["# TYPE acc_requests counter"]
        with self.lock:
            for (pattern, code), (then, value) in sorted(self.state.items()):
                if self.steps[pattern] != step:
                    continue
                good, bad = rates(pattern, np.array([now]), self.end)
                rate = float((bad if code == "500" else good)[0])
                value += float(self.rng.poisson(rate * max(now - then, 0.0)))
                self.state[(pattern, code)] = (now, value)
                self.served[(pattern, code)].add(value)
                lines.append(f'acc_requests_total{{code="{code}",pattern="{pattern}"}} {value:.0f}')
        return "\n".join(lines) + "\n"

    def scrape_configs(self) -> list[dict]:
        """One job per scrape interval; the target's ``job`` and ``instance`` labels dropped, so the live samples
        continue the backfilled series (one series, as a relabelled or restarted target keeps in real life)."""
        host = f"127.0.0.1:{self.server.server_address[1]}"
        return [{"job_name": f"acc-{step}s", "scrape_interval": f"{step}s", "metrics_path": f"/{step}",
                 "static_configs": [{"targets": [host]}],
                 "metric_relabel_configs": [{"action": "labeldrop", "regex": "job|instance"}]}
                for step in sorted(set(self.steps.values()))]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LiveTruth:
    """``truth[slo]``: the backfilled history's events, then those of the live samples Prometheus holds now."""

    def __init__(self, prom, history: dict[str, Truth], live: LiveCounters, aliases: dict[str, str]) -> None:
        self.prom, self.history, self.live, self.aliases = prom, history, live, aliases

    def __getitem__(self, slo: str) -> Truth:
        pattern = self.aliases.get(slo, slo)
        now = time.time()
        events = {}
        for code in ("200", "500"):
            since, served = self.live.end, self.live.served[(pattern, code)]
            (series,) = self.prom.query(f'acc_requests_total{{pattern="{pattern}",code="{code}"}}'
                                        f"[{int(now - since) + 120}s]", now)
            assert set(series["metric"]) == {"__name__", "code", "pattern"}, series["metric"]  # one series
            samples = np.array(series["values"], dtype=np.float64).reshape(-1, 2)
            older, newer = samples[samples[:, 0] <= since], samples[samples[:, 0] > since]
            assert set(newer[:, 1]) <= served, f"{pattern} {code}: Prometheus holds values the target never served"
            events[code] = (newer[:, 0], _increments(np.concatenate([older[-1:, 1], newer[:, 1]])))
        # One scrape stores both series; one that landed between the two reads is in the second only, and is
        # newer than anything a test read before asking for the truth: keep the scrapes both reads hold.
        n = min(len(events["200"][0]), len(events["500"][0]))
        assert len(events["200"][0]) - n <= 1 and len(events["500"][0]) - n <= 1
        assert np.array_equal(events["200"][0][:n], events["500"][0][:n])
        later = Truth(events["200"][0][:n], events["200"][1][:n], events["500"][1][:n])
        return self.history[pattern].then(later)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    work = tmp_path_factory.mktemp("accuracy")
    spec = work / "spec.yaml"
    spec.write_text(SPEC)
    catalog = load([spec]).catalog
    assert len(catalog.slos) == len(PATTERNS) + 2
    end = int(time.time()) // 60 * 60
    rng = np.random.default_rng(20261206)
    series, truth = [], {}
    for pattern, step, phase in PATTERNS:
        times = end - DAYS * 86400 + phase + step * np.arange(DAYS * 86400 // step, dtype=np.int64)
        good_rate, bad_rate = rates(pattern, times, end)
        good = rng.poisson(good_rate * step).astype(np.float64)
        bad = rng.poisson(bad_rate * step).astype(np.float64)
        good[0] = bad[0] = 0.0
        # Restarts every ~4.4 days; a 45-minute scrape outage 5 days ago (events go on, nothing is scraped).
        resets = tuple(range(len(times) // 7, len(times), len(times) // 7)) if "reset" in pattern else ()
        scraped = np.ones(len(times), dtype=bool)
        if pattern == "scrape-gap":
            scraped &= ~((times > end - 5 * 86400) & (times <= end - 5 * 86400 + 45 * 60))
        good_series, good_seen = _counter("200", pattern, times, good, resets, scraped)
        bad_series, bad_seen = _counter("500", pattern, times, bad, resets, scraped)
        series += [good_series, bad_series]
        truth[pattern] = Truth(times[scraped].astype(np.float64), good_seen, bad_seen)
    last = {(dict(counter.labels)["pattern"], dict(counter.labels)["code"]): (float(t), float(counter.values()[-1]))
            for counter, t in zip(series, [end - step + phase for _, step, phase in PATTERNS for _ in (0, 1)])}
    live = LiveCounters(last, {pattern: step for pattern, step, _ in PATTERNS}, end, seed=20261207)
    data = work / "data"
    by_start: dict[int, list[Counter]] = {}
    for s, (_, step, phase) in zip(series, [p for p in PATTERNS for _ in (0, 1)]):
        by_start.setdefault((step, phase), []).append(s)
    for (step, phase), members in by_start.items():
        write_blocks(openmetrics(members, end - DAYS * 86400 + phase, step), work / f"om-{step}", data)
    with prometheus(work / "raw", data_dir=data, retention="36500d") as prom:
        history = replace(catalog, slos=tuple(s for s in catalog.slos if s.name != FRESH))
        result = backfill(history, prom.url, end - DAYS * 86400 + 3600, end, work / "backfill")
        # As if its rules had been loaded half an hour ago: tiles for the last 30 minutes only.
        fresh = replace(catalog, slos=tuple(s for s in catalog.slos if s.name == FRESH))
        recent = backfill(fresh, prom.url, end - 1800, end, work / "backfill-fresh")
    install_blocks(result.blocks_dir, data)
    install_blocks(recent.blocks_dir, data)
    rule_files = []
    for relative, text in render(catalog, dashboards=False).items():  # the shipped intervals: 30s and 5m
        if relative.startswith(c.RULES_DIR + "/"):
            path = work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            rule_files.append(path)
    try:
        with prometheus(work / "live", data_dir=data, rule_files=rule_files, retention="36500d",
                        scrape_configs=live.scrape_configs()) as prom:
            _wait_for_every_group(prom)
            yield prom, LiveTruth(prom, truth, live, {MONTHLY: "night-errors", FRESH: "incidents"}), end
    finally:
        live.close()


def _wait_for_every_group(prom, timeout: float = 720) -> None:
    """Until every group has evaluated after the calendar group first did (the slow groups' first evaluation
    comes up to 5 minutes after start; one that came before the calendar's recorded no month-to-date: see
    ``Prometheus.wait_evaluated``), with no rule failing."""
    prom.wait_evaluated(timeout)
    failing = [(r["name"], r.get("lastError")) for g in prom.rule_groups() for r in g["rules"]
               if r.get("health") == "err"]
    assert failing == [], f"rules failed: {failing}"


def _sample(prom, metric: str, slo: str, window: str | None = None) -> tuple[float, float]:
    """(recorded at, value) of one recorded series: the time is the rule's own evaluation, not the query's."""
    at, (value,) = _recorded(prom, slo, window, metric)
    return at, value


def _recorded(prom, slo: str, window: str | None, *metrics: str) -> tuple[float, list[float]]:
    """(recorded at, values) of series one evaluation recorded together. The counters are live, so an evaluation
    may land between two reads: read the timestamps before and after the values, and again until they agree."""
    matchers = f'service="accuracy",slo="{slo}"' + (f',window="{window}"' if window else "")

    def read(expr: str) -> float | None:
        found = prom.query(expr)
        return float(found[0]["value"][1]) if found else None

    def stamps() -> list[float | None]:
        return [read(f"timestamp({m}{{{matchers}}})") for m in metrics]

    # A slow group's series can be out of sight for a moment: its sample leaves the 5-minute lookback just
    # before the next evaluation's is stored. Then read again.
    for _ in range(10):
        before = stamps()
        values = [read(f"{m}{{{matchers}}}") for m in metrics]
        if None not in before and None not in values and stamps() == before and len(set(before)) == 1:
            return before[0], values
        time.sleep(1)
    raise AssertionError(f"{metrics} of {slo} {window} were never read from one evaluation")


def _tiles(prom, slo: str, begin: float, end: float) -> tuple[float, float]:
    """The span ``(first tile's start, last tile's end]`` of the tiles recorded in ``(begin, end]``: each tile
    starts where the one recorded before it ended (``slo:tile_end:timestamp``)."""
    ours = f'service="accuracy",slo="{slo}"'
    seconds = int(end - begin)
    ends = prom.query(f"{c.METRIC_TILE_END}{{{ours}}}[{seconds + 3600}s]", end)[0]["values"]
    recorded = [(float(t), float(v)) for t, v in ends]
    inside = [(t, v) for t, v in recorded if begin < t <= end]
    before = [v for t, v in recorded if t <= inside[0][0] - 1e-3]
    return before[-1], inside[-1][1]


@pytest.mark.parametrize("pattern", [p for p, _, _ in PATTERNS])
@pytest.mark.parametrize("window", list(WINDOWS))
def test_a_tiled_window_equals_the_exact_count_over_the_span_its_tiles_cover(loaded, pattern, window,
                                                                          record_property):
    prom, truth, _ = loaded
    at, (total, bad) = _recorded(prom, pattern, window, c.METRIC_TOTAL, c.METRIC_BAD)
    first, last = _tiles(prom, pattern, at - WINDOWS[window], at)
    exact_bad, exact_total = truth[pattern].count(first, last)
    record_property("relative_error", max(abs(total / exact_total - 1), abs(bad - exact_bad) / max(exact_bad, 1)))
    assert (total, bad) == (pytest.approx(exact_total, rel=1e-9), pytest.approx(exact_bad, rel=1e-9, abs=1e-9))
    # The tiles cover the window to within a slow-group interval at either end.
    assert abs(first - (at - WINDOWS[window])) <= c.SLOW_INTERVAL_SECONDS + c.TILE_GRID_SECONDS
    assert 0 <= at - last < c.TILE_GRID_SECONDS


@pytest.mark.parametrize("pattern", [p for p, _, _ in PATTERNS])
@pytest.mark.parametrize("window", list(WINDOWS))
def test_a_long_window_error_ratio_is_within_one_percent_of_the_exact_ratio_over_the_nominal_window(
        loaded, pattern, window, record_property):
    prom, truth, _ = loaded
    if pattern == "quiet" and window == "1d":
        assert prom.query(f'{c.METRIC_ERROR_RATIO}{{slo="quiet",window="1h"}}') == []  # idle: no ratio, not 0
    at, ratio = _sample(prom, c.METRIC_ERROR_RATIO, pattern, window)
    bad, total = truth[pattern].count(at - WINDOWS[window], at)
    record_property("relative_error", ratio / (bad / total) - 1)  # the figure: pytest --junitxml=FILE
    assert ratio == pytest.approx(bad / total, rel=0.01), f"{pattern} {window}: rules {ratio:.6g} vs {bad / total:.6g}"


def test_the_month_to_date_equals_the_exact_count_over_the_tiles_since_local_midnight_on_the_first(loaded):
    """The month so far sums the tiles recorded in whole 5-minute slots since the period began (local midnight):
    exactly the events from where the last tile before the period ended to the end of the last tile counted
    (so its start is within one tile of midnight)."""
    prom, truth, _ = loaded
    at, _ = _sample(prom, c.METRIC_TOTAL, MONTHLY, "30d")
    begin = period_start(CalendarUnit.MONTH, "Europe/Berlin", datetime.fromtimestamp(at, UTC))
    slot = at // c.TILE_SECONDS * c.TILE_SECONDS
    if slot - begin.timestamp() < c.TILE_SECONDS:
        # The month began less than a slot ago: nothing counted yet, and no sample rather than a zero.
        assert prom.query(f'{c.METRIC_TOTAL}{{slo="{MONTHLY}",window="month"}}') == []
        return
    at, (total, bad) = _recorded(prom, MONTHLY, "month", c.METRIC_TOTAL, c.METRIC_BAD)
    slot = at // c.TILE_SECONDS * c.TILE_SECONDS  # of the evaluation read (a later one may have come meanwhile)
    ends = f'last_over_time({c.METRIC_TILE_END}{{slo="{MONTHLY}"}}[1h])'
    (first,) = prom.query(ends, begin.timestamp())
    (last,) = prom.query(ends, slot)
    span = (float(first["value"][1]), float(last["value"][1]))
    exact_bad, exact_total = truth[MONTHLY].count(*span)
    assert (total, bad) == (pytest.approx(exact_total, rel=1e-9), pytest.approx(exact_bad, rel=1e-9, abs=1e-9))
    assert 0 <= begin.timestamp() - span[0] < c.SLOW_INTERVAL_SECONDS


def test_no_recorded_series_is_nan_or_infinite(loaded):
    prom, _, _ = loaded
    for metric in (c.METRIC_ERROR_RATIO, c.METRIC_BURN_RATE, c.METRIC_BUDGET_REMAINING, c.METRIC_BAD, c.METRIC_TOTAL,
                   c.METRIC_TILE_BAD, c.METRIC_TILE_TOTAL):
        assert prom.query(f"{metric} != {metric}") == [], f"{metric} has NaN"
        assert prom.query(f"abs({metric}) == +Inf") == [], f"{metric} has Inf"


# ---- the engine reading these recorded series -------------------------------------------------


def _report(prom, at: float, *, without: tuple[str, ...] = (), **kwargs):
    from sloengine.engine.connection import Client, ConnectionConfig
    from sloengine.engine.reading import evaluate

    catalog = load([prom.data_dir.parent / "spec.yaml"]).catalog
    catalog = replace(catalog, slos=tuple(s for s in catalog.slos if s.name not in without))
    return evaluate(catalog, Client(ConnectionConfig(url=prom.url)), at, **kwargs)


def test_report_reads_every_slo_from_recorded_series_in_three_queries(loaded):
    """Every group has evaluated, so every window of every SLO is recorded at the instant asked."""
    from sloengine.model.results import Source

    prom, truth, _ = loaded
    at = time.time() - 1  # a scrape stamped before this has been stored
    report = _report(prom, at, without=(FRESH,))  # its raw fallback is the next test's
    sources = {r.id: r.source for r in report.results}
    begin = period_start(CalendarUnit.MONTH, "Europe/Berlin", datetime.fromtimestamp(at, UTC))
    if at - begin.timestamp() < 2 * c.TILE_SECONDS:  # the month's first slot is not over: raw, exactly
        assert sources.pop(f"accuracy/{MONTHLY}") is Source.RAW
    assert sources == {key: Source.RECORDED for key in sources}
    # bad and total events of every SLO and window at once, and how far back the tiles reach (one window length)
    assert report.queries == 3
    for r in report.results:
        if r.slo != MONTHLY:
            bad, total = truth[r.slo].count(at - 30 * 86400, at)
            assert 1 - r.sli == pytest.approx(bad / total, rel=0.01), r.slo


def test_recorded_and_raw_counts_agree(loaded):
    """The recorded path (tile sums) and the raw path (exact sample counting) describe the same window."""
    prom, truth, _ = loaded
    at = time.time() - 1  # a scrape stamped before this has been stored
    fast = {r.id: r for r in _report(prom, at).results}
    exact = {r.id: r for r in _report(prom, at, use_recorded=False).results}
    for pattern, _, _ in PATTERNS:
        key = f"accuracy/{pattern}"
        bad, total = truth[pattern].count(at - 30 * 86400, at)
        assert exact[key].total_events == pytest.approx(total, rel=1e-9)
        assert exact[key].bad_events == pytest.approx(bad, rel=1e-9, abs=1e-9)
        assert fast[key].total_events == pytest.approx(total, rel=0.001)
        assert fast[key].budget_remaining == pytest.approx(exact[key].budget_remaining, abs=0.01)


def test_an_slo_whose_tiles_cover_minutes_is_counted_from_its_raw_counters_and_says_why(loaded):
    """Rules loaded half an hour ago without their history: every window is recorded, but the 30-day one holds
    minutes of tiles. Reporting that as the month's SLI would be silently wrong (the incident of 20 hours ago
    unseen); the report counts the raw counters instead, exactly, and says why."""
    from sloengine.engine.reading import PARTIAL_TILES_NOTE
    from sloengine.model.results import Source

    prom, truth, _ = loaded
    # recorded, but from minutes of tiles (over the last 10 minutes: a 5-minute group's sample can be out of the
    # lookback for a moment before the next is stored)
    assert prom.query(f'last_over_time({c.METRIC_TOTAL}{{slo="{FRESH}",window="30d"}}[10m])')
    at = time.time() - 1  # a scrape stamped before this has been stored
    (result,) = [r for r in _report(prom, at).results if r.slo == FRESH]
    assert result.source is Source.RAW and result.notes == (PARTIAL_TILES_NOTE,)
    bad, total = truth[FRESH].count(at - 30 * 86400, at)
    assert (result.bad_events, result.total_events) == (pytest.approx(bad, rel=1e-9), pytest.approx(total, rel=1e-9))
