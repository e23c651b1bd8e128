"""Two tiers on 127.0.0.1 for the tests: two leaf Prometheus (clusters ``a`` and ``b``) scraping Poisson counters
served by the test, and a global Prometheus federating them, each running the files `generate --split leaf,global`
wrote, at their own intervals.

Cluster ``a`` serves 60 requests a second, scraped every 60 s; cluster ``b`` 20 a second, scraped every 15 s:
Poisson counts per second, 0.03% of them failing, exactly known. Three hours of the counters are backfilled into
the leaves (and with ``tiles``, the last two hours of tiles by `sloengine backfill --tier leaf`: into the leaf as
it is, into the global with its cluster label).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.devstack.stack import TextExporter, prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.backfill import install_blocks

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
        self.server = TextExporter(self.exposition)
        self.address = self.server.address

    def exposition(self, now: float) -> str:
        total, bad = self.counts(now)
        return (f"# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {total - bad}\n"
                f"http_requests_total{{code=\"500\"}} {bad}\n")

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
        self.server.close()


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def value(prom, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
    return [(r["metric"], float(r["value"][1])) for r in prom.query(expr, at)]


def alerts(prom, name: str) -> list[dict]:
    return [a for g in prom.rule_groups() for r in g["rules"] if r.get("type") == "alerting" and r["name"] == name
            for a in r.get("alerts", [])]


@contextmanager
def two_tiers(work: Path, tiles: bool = True) -> Iterator[tuple[dict[str, Cluster], dict, object, Path]]:
    """(clusters, leaves by cluster, the global, the spec file) while the three servers run."""
    now = int(time.time())
    origin = now - HISTORY
    clusters = {"a": Cluster("a", 60.0, 60, 1, origin, HISTORY + 3600),
                "b": Cluster("b", 20.0, 15, 2, origin, HISTORY + 3600)}
    try:
        spec = work / "spec.yaml"
        spec.write_text(SPEC)
        invoke("generate", str(spec), "--out", str(work / "gen"), "--no-dashboards", "--split", "leaf,global",
                "--clusters", "a,b", "--federation-interval", str(FEDERATION))
        split = work / "gen" / "split"
        global_data = work / "global-data"
        global_data.mkdir()
        for name, cluster in clusters.items():
            data = work / f"leaf-{name}-data"
            write_blocks(cluster.history(int(time.time()) - 1), work / f"om-{name}", data)
            if not tiles:
                continue
            # The leaf's copy and the global's must be the same tiles: one --until for both.
            until = str(int(time.time()))
            with prometheus(work / f"raw-{name}", data_dir=data) as raw:
                invoke("backfill", str(spec), "--prometheus", raw.url, "--since", BACKFILL, "--until", until,
                        "--tier", "leaf", "--out", str(work / f"bf-{name}"))
                invoke("backfill", str(spec), "--prometheus", raw.url, "--since", BACKFILL, "--until", until,
                        "--tier", "leaf", "--label", f"cluster={name}", "--out", str(work / f"bf-{name}-global"))
            if tiles:
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
                yield clusters, {"a": leaf_a, "b": leaf_b}, top, spec
    finally:
        for cluster in clusters.values():
            cluster.close()
