"""Two tiers with real servers: two leaf Prometheus (one per cluster) and a global Prometheus federating them, each
running the files `generate --split leaf,global` wrote, at their own intervals.

Cluster ``a`` serves 60 requests a second, scraped every 60 s; cluster ``b`` 20 a second, scraped every 15 s:
Poisson counts per second, 0.03% of them failing, exactly known to the test. Three hours of the counters are
backfilled into the leaves, and the last two hours of tiles by `sloengine backfill --tier leaf` (into the leaf as
it is, into the global with its cluster label). Then the servers run live: half a minute in, cluster ``a`` fails
every request (a full outage in one cluster, three quarters of the traffic).

Pinned here:

* the global's recorded 30d counts, at its own evaluation, equal the exact counts summed over both clusters, and
  the SLO kept per cluster equals each cluster's count;
* the outage pages from the global tier within the workbook's bound (for the share of traffic that fails) plus a
  federation interval and the global's own evaluation, and not before it started; the per-cluster SLO pages for
  cluster ``a`` only;
* losing leaf ``b`` pages ``SLOLeafMissing`` for ``b``, and the SLI summed over clusters goes absent (never the
  healthy cluster's figure) while the per-cluster SLI goes on for ``a``.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.compiler.promtool_semantics import EVAL_SECONDS
from sloengine.devstack.stack import _instant, prometheus, stop
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.backfill import install_blocks
from sloengine.model import conventions as c

HISTORY = 3 * 3600
BACKFILL = "2h"
BASE_ERRORS = 0.0003
FEDERATION = 30
OBJECTIVE = 99.9
SLOS = ("availability", "availability-per-cluster")
SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop, team: shop}
slos:
  - name: availability
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: 'http_requests_total{job="shop",code=~"5.."}'
        total: 'http_requests_total{job="shop"}'
  - name: availability-per-cluster
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: 'http_requests_total{job="shop",code=~"5.."}'
        total: 'http_requests_total{job="shop"}'
        group_by: [cluster]
"""


class Cluster:
    """One cluster's service: per-second Poisson requests from ``origin``, and an outage from ``outage`` on (every
    request fails), served as two counters on 127.0.0.1."""

    def __init__(self, name: str, rate: float, scrape: int, seed: int, origin: int, seconds: int) -> None:
        rng = np.random.default_rng(seed)
        self.name, self.scrape, self.origin = name, scrape, origin
        self.rate = rate
        totals = rng.poisson(rate, seconds)
        self.cum_total = np.cumsum(totals)
        self.cum_base_bad = np.cumsum(rng.binomial(totals, BASE_ERRORS))
        self.outage: int | None = None
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                total, bad = cluster.counts(time.time())
                body = (f"# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {total - bad}\n"
                        f"http_requests_total{{code=\"500\"}} {bad}\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def counts(self, at: float) -> tuple[int, int]:
        """Requests and failures counted up to the second ``at`` falls in."""
        s = int(at) - self.origin
        total = int(self.cum_total[s])
        if self.outage is None or s < self.outage - self.origin:
            return total, int(self.cum_base_bad[s])
        o = self.outage - self.origin
        return total, int(self.cum_base_bad[o - 1] + self.cum_total[s] - self.cum_total[o - 1])

    def history(self, until: int) -> str:
        """The counters as the leaf would have scraped them, every ``scrape`` seconds up to ``until``."""
        times = np.arange(self.origin + self.scrape, until + 1, self.scrape)
        labels = (("instance", self.address), ("job", "shop"))
        series = []
        for code, index in (("200", 0), ("500", 1)):
            values = np.array([self.counts(t)[0] - self.counts(t)[1] if index == 0 else self.counts(t)[1]
                               for t in times], dtype=np.float64)
            series.append(Counter("http_requests_total", (("code", code), *labels), np.diff(values, prepend=0.0)))
        return openmetrics(series, int(times[0]), self.scrape)

    def close(self) -> None:
        self.server.shutdown()


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _value(prom, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
    return [(r["metric"], float(r["value"][1])) for r in prom.query(expr, at)]


def _alerts(prom, name: str) -> list[dict]:
    return [a for g in prom.rule_groups() for r in g["rules"] if r.get("type") == "alerting" and r["name"] == name
            for a in r.get("alerts", [])]


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    work = tmp_path_factory.mktemp("two-tier")
    now = int(time.time())
    origin = now - HISTORY
    clusters = {"a": Cluster("a", 60.0, 60, 1, origin, HISTORY + 3600),
                "b": Cluster("b", 20.0, 15, 2, origin, HISTORY + 3600)}
    try:
        spec = work / "spec.yaml"
        spec.write_text(SPEC)
        _invoke("generate", str(spec), "--out", str(work / "gen"), "--no-dashboards", "--split", "leaf,global",
                "--clusters", "a,b", "--federation-interval", str(FEDERATION))
        split = work / "gen" / "split"
        global_data = work / "global-data"
        global_data.mkdir()
        for name, cluster in clusters.items():
            data = work / f"leaf-{name}-data"
            write_blocks(cluster.history(int(time.time()) - 1), work / f"om-{name}", data)
            # The leaf's copy and the global's must be the same tiles: one --until for both.
            until = str(int(time.time()))
            with prometheus(work / f"raw-{name}", data_dir=data) as raw:
                _invoke("backfill", str(spec), "--prometheus", raw.url, "--since", BACKFILL, "--until", until,
                        "--tier", "leaf", "--out", str(work / f"bf-{name}"))
                _invoke("backfill", str(spec), "--prometheus", raw.url, "--since", BACKFILL, "--until", until,
                        "--tier", "leaf", "--label", f"cluster={name}", "--out", str(work / f"bf-{name}-global"))
            install_blocks(work / f"bf-{name}" / "blocks", data)
            install_blocks(work / f"bf-{name}-global" / "blocks", global_data)
        leaf_rules = sorted((split / "leaf").glob("*.rules.yml"))
        global_rules = sorted((split / "global").glob("*.rules.yml"))
        with prometheus(work / "leaf-a", data_dir=work / "leaf-a-data", rule_files=leaf_rules,
                        external_labels={"cluster": "a"},
                        scrape_configs=[{"job_name": "shop", "scrape_interval": "60s",
                                         "static_configs": [{"targets": [clusters["a"].address]}]}]) as leaf_a, \
                prometheus(work / "leaf-b", data_dir=work / "leaf-b-data", rule_files=leaf_rules,
                           external_labels={"cluster": "b"},
                           scrape_configs=[{"job_name": "shop", "scrape_interval": "15s",
                                            "static_configs": [{"targets": [clusters["b"].address]}]}]) as leaf_b:
            federation = yaml.safe_load((split / "global" / "federation.yml").read_text())["scrape_configs"][0]
            federation["static_configs"] = [{"targets": [leaf_a.url.removeprefix("http://"),
                                                         leaf_b.url.removeprefix("http://")]}]
            with prometheus(work / "global", data_dir=global_data, rule_files=global_rules,
                            scrape_configs=[federation]) as top:
                clusters["a"].outage = int(time.time()) + 30
                yield clusters, {"a": leaf_a, "b": leaf_b}, top, spec
    finally:
        for cluster in clusters.values():
            cluster.close()


def _held(samples: list[tuple[float, float]], at: float) -> float:
    """The counter's value held at ``at``: its last sample at or before it."""
    return max(((t, v) for t, v in samples if t <= at), default=(0.0, float("nan")))[1]


def _raw(leaf, at: float) -> list[tuple[float, float]]:
    """Both code series' samples summed per scrape (they are scraped together), from the leaf."""
    per_time: dict[float, float] = {}
    for series in leaf.query('http_requests_total{job="shop"}[4h]', at):
        for t, v in series["values"]:
            per_time[float(t)] = per_time.get(float(t), 0.0) + float(v)
    return sorted(per_time.items())


def _raw_bad(leaf, at: float) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for series in leaf.query('http_requests_total{job="shop",code="500"}[4h]', at)
            for t, v in series["values"]]


def _slow_evaluations(top, found: dict[str, float]) -> dict[str, float]:
    """Each SLO's first global slow evaluation that recorded its 30d counts. (Until the first federation scrape
    has brought every leaf's heartbeat, the global has no SLI summed over clusters: a just started global may
    skip one evaluation.)"""
    out = dict(found)
    for group in top.rule_groups():
        for slo in SLOS:
            if slo in out or group["name"] != c.split_group_name("shop", slo, "global", "slow") \
                    or group["lastEvaluation"].startswith("0001"):
                continue
            at = _instant(group["lastEvaluation"])
            recorded = _value(top, f'timestamp({c.METRIC_TOTAL}{{slo="{slo}",window="30d"}})', at)
            if recorded and all(abs(t - at) < 0.01 for _, t in recorded):
                out[slo] = at
    return out


def _exact(leaf, top, at: float, name: str, slo: str = "availability") -> tuple[float, float]:
    """Requests and failures of cluster ``name`` over the tiles the global held at ``at``: from the held counter
    value where the first backfilled tile began to where the last tile federated by then ended, read from the
    leaf's samples. (A federated tile keeps its leaf's timestamp but arrives at the next federation scrape, so
    whether the global had it at ``at`` is told by the scrapes, not by its timestamp.)"""
    scrapes = [float(t) for series in top.query(
        f'up{{job="{c.FEDERATION_JOB}",instance="{leaf.url.removeprefix("http://")}"}}[4h]', at)
        for t, _ in series["values"]]
    ends = [(float(t), float(v)) for series in top.query(
        f'{c.leaf_metric(c.METRIC_TILE_END)}{{slo="{slo}",cluster="{name}"}}[4h]', at) for t, v in series["values"]]
    held_by_then = [end for t, end in ends if t <= max(scrapes, default=0.0)]
    first_start, last_end = min(end for _, end in ends) - c.TILE_SECONDS, max(held_by_then)
    samples, bad = _raw(leaf, at), _raw_bad(leaf, at)
    return (_held(samples, last_end) - _held(samples, first_start),
            _held(bad, last_end) - _held(bad, first_start))


def test_global_counts_page_and_a_lost_leaf(tiers):
    clusters, leaves, top, spec = tiers
    outage = clusters["a"].outage
    started = time.time()
    page_seen = None
    cluster_pages: set[str] = set()
    evaluated: dict[str, float] = {}
    while time.time() < started + 660 and (page_seen is None or len(evaluated) < len(SLOS)):
        now = time.time()
        for alert in _alerts(top, c.ALERT_BURN):
            labels = alert["labels"]
            if alert["state"] != "firing":
                continue
            assert now >= outage, f"a page before the outage: {labels}"
            if labels["slo"] == "availability" and labels["long_window"] == "1h" and page_seen is None:
                page_seen = now
            if labels["slo"] == "availability-per-cluster":
                cluster_pages.add(labels.get("cluster", ""))
        if len(evaluated) < len(SLOS):
            evaluated = _slow_evaluations(top, evaluated)
        time.sleep(3)
    assert len(evaluated) == len(SLOS), f"the global's slow groups did not all record: {evaluated}"
    assert page_seen is not None, "the outage in cluster a never paged from the global tier"

    # Exact counts, each SLO at its global slow group's own evaluation. Both SLOs' leaf groups record tiles on
    # their own phases, so each SLO's span is read from its own tile ends.
    at = evaluated["availability"]
    got = {metric: _value(top, f'{metric}{{slo="availability",window="30d"}}', at)
           for metric in (c.METRIC_TOTAL, c.METRIC_BAD)}
    exact = [_exact(leaves[name], top, at, name) for name in leaves]
    assert [v for _, v in got[c.METRIC_TOTAL]] == [pytest.approx(sum(t for t, _ in exact), rel=1e-12)]
    assert [v for _, v in got[c.METRIC_BAD]] == [pytest.approx(sum(b for _, b in exact), rel=1e-12)]
    at = evaluated["availability-per-cluster"]
    kept = {m["cluster"]: v for m, v in _value(
        top, f'{c.METRIC_TOTAL}{{slo="availability-per-cluster",window="30d"}}', at)}
    assert kept == {name: pytest.approx(_exact(leaf, top, at, name, "availability-per-cluster")[0], rel=1e-12)
                    for name, leaf in leaves.items()}

    # The page: the workbook's detection for the share of traffic that fails, then `for`, the leaf's scrape
    # and evaluation, a federation interval and the global's evaluation.
    share = clusters["a"].rate / (clusters["a"].rate + clusters["b"].rate)
    budget = 1 - OBJECTIVE / 100
    bound = (outage + 14.4 * budget * 3600 / share + 120 + clusters["a"].scrape + EVAL_SECONDS + FEDERATION
             + EVAL_SECONDS + 5)
    assert page_seen <= bound, f"paged {page_seen - outage:.0f}s after the outage; bound {bound - outage:.0f}s"
    assert "b" not in cluster_pages

    # Lose leaf b: the global pages it missing, and the summed SLI has no data rather than cluster a's figure.
    stop(leaves["b"].process)
    lost = time.time()
    missing = None
    while time.time() < lost + 300 and missing is None:
        firing = [a for a in _alerts(top, c.ALERT_LEAF_MISSING) if a["state"] == "firing"]
        if firing:
            missing = firing
        time.sleep(3)
    assert missing is not None, "SLOLeafMissing never fired for the lost leaf"
    assert [a["labels"]["cluster"] for a in missing] == ["b"]
    # The fast group's windows at its next evaluation (the slow group's at its next, up to 5 minutes later).
    time.sleep(EVAL_SECONDS + 5)
    assert _value(top, f'{c.METRIC_ERROR_RATIO}{{slo="availability",window_source="raw"}}') == []
    assert _value(top, f'{c.METRIC_BURN_RATE}{{slo="availability",window_source="raw"}}') == []
    kept = _value(top, f'{c.METRIC_ERROR_RATIO}{{slo="availability-per-cluster",window="5m"}}')
    assert [m["cluster"] for m, _ in kept] == ["a"]
