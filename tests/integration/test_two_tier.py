"""Two tiers with real servers (:mod:`integration.two_tier_stack`): the global's counts are exact, and an outage in
one cluster pages from the global tier in time.

Half a minute after the servers are up, cluster ``a`` fails every request (a full outage in one cluster, three
quarters of the traffic). Pinned here:

* the global's recorded 30d counts, at its own evaluation, equal the exact counts summed over both clusters, and
  the SLO kept per cluster equals each cluster's count;
* the outage pages from the global tier within the workbook's bound (for the share of traffic that fails) plus a
  federation interval and the global's own evaluation, and not before it started; the per-cluster SLO pages for
  cluster ``a`` only.

Losing a leaf: tests/integration/test_two_tier_lost_leaf.py.
"""

from __future__ import annotations

import itertools
import time

import pytest
import requests

from integration.two_tier_stack import FEDERATION, OBJECTIVE, SLOS, alerts, two_tiers, value
from sloengine.compiler.promtool_semantics import EVAL_SECONDS
from sloengine.devstack.stack import _instant
from sloengine.model import conventions as c


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    with two_tiers(tmp_path_factory.mktemp("two-tier")) as running:
        clusters = running[0]
        clusters["a"].outage = int(time.time()) + 30
        yield running


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


def _slow_evaluations(top, found: dict[str, float], clusters: int) -> dict[str, float]:
    """Each SLO's first global slow evaluation that recorded its 30d counts for every cluster, at the instant the
    evaluation stamped on them. (A leaf whose heartbeat no federation scrape has brought yet is not known to
    report, so a just started global may skip an evaluation, or, for the SLO kept per cluster, record only the
    clusters already scraped. A group's last evaluation is when it started on the wall clock, which lags the
    instant it stamps by however late it woke.)"""
    out = dict(found)
    for group in top.rule_groups():
        for slo in SLOS:
            if slo in out or group["name"] != c.split_group_name("shop", slo, "global", "slow") \
                    or group["lastEvaluation"].startswith("0001"):
                continue
            at = _instant(group["lastEvaluation"])
            stamped = {t for _, t in value(top, f'timestamp({c.METRIC_TOTAL}{{slo="{slo}",window="30d"}})', at)}
            recorded = value(top, f'{c.METRIC_TOTAL}{{slo="{slo}",window="30d"}}', at)
            wanted = clusters if slo == "availability-per-cluster" else 1
            if len(recorded) == wanted and len(stamped) == 1 and 0 <= at - min(stamped) < 60:
                out[slo] = min(stamped)
    return out


#: Seconds: a tile recorded this close before a federation scrape started may have missed it (a sample is stored
#: a moment after its timestamp), and a scrape that started this close before an evaluation may have been stored
#: after the evaluation read its data.
MARGIN = 5.0


def _exact(leaf, top, at: float, name: str, slo: str = "availability") -> list[tuple[float, float]]:
    """Requests and failures of cluster ``name`` over the tiles the global held at ``at``: from the held counter
    value where the first backfilled tile began to where the last tile federated by then ended, read from the
    leaf's samples. (A federated tile keeps its leaf's timestamp but arrives at the next federation scrape, so
    whether the global had it at ``at`` is told by the scrapes, not by its timestamp.) One candidate per span the
    global may have held: a tile within :data:`MARGIN` of a scrape or of ``at`` may be on either side."""
    scrapes = [float(t) for series in top.query(
        f'up{{job="{c.FEDERATION_JOB}",instance="{leaf.url.removeprefix("http://")}"}}[4h]', at)
        for t, _ in series["values"]]
    ends = [(float(t), float(v)) for series in top.query(
        f'{c.leaf_metric(c.METRIC_TILE_END)}{{slo="{slo}",cluster="{name}"}}[4h]', at) for t, v in series["values"]]
    # Tiles from before the global started are the backfilled copy, there from the start.
    started = _instant(requests.get(f"{top.url}/api/v1/status/runtimeinfo", timeout=30).json()["data"]["startTime"])

    def held(t: float, margin: float) -> bool:
        return t <= started or any(t + margin <= s <= at - margin for s in scrapes)

    surely = max(end for t, end in ends if held(t, MARGIN))
    last_ends = [surely, *(end for t, end in ends if end > surely and t <= at and held(t, -MARGIN))]
    first_start = min(end for _, end in ends) - c.TILE_SECONDS
    samples, bad = _raw(leaf, at), _raw_bad(leaf, at)
    return [(_held(samples, end) - _held(samples, first_start), _held(bad, end) - _held(bad, first_start))
            for end in last_ends]


def test_the_global_counts_exactly_and_an_outage_in_one_cluster_pages_in_time(tiers):
    clusters, leaves, top, _ = tiers
    outage = clusters["a"].outage
    started = time.time()
    page_seen = None
    cluster_pages: set[str] = set()
    evaluated: dict[str, float] = {}
    while time.time() < started + 660 and (page_seen is None or len(evaluated) < len(SLOS)):
        now = time.time()
        for alert in alerts(top, c.ALERT_BURN):
            labels = alert["labels"]
            if alert["state"] != "firing":
                continue
            assert now >= outage, f"a page before the outage: {labels}"
            if labels["slo"] == "availability" and labels["long_window"] == "1h" and page_seen is None:
                page_seen = now
            if labels["slo"] == "availability-per-cluster":
                cluster_pages.add(labels.get("cluster", ""))
        if len(evaluated) < len(SLOS):
            evaluated = _slow_evaluations(top, evaluated, len(leaves))
        time.sleep(3)
    assert len(evaluated) == len(SLOS), f"the global's slow groups did not all record: {evaluated}"
    assert page_seen is not None, "the outage in cluster a never paged from the global tier"

    # Exact counts, each SLO at its global slow group's own evaluation. Both SLOs' leaf groups record tiles on
    # their own phases, so each SLO's span is read from its own tile ends.
    at = evaluated["availability"]
    got = {metric: value(top, f'{metric}{{slo="availability",window="30d"}}', at)
           for metric in (c.METRIC_TOTAL, c.METRIC_BAD)}
    (total,), (bad,) = ([v for _, v in got[metric]] for metric in (c.METRIC_TOTAL, c.METRIC_BAD))
    spans = [(sum(t for t, _ in held), sum(b for _, b in held))
             for held in itertools.product(*(_exact(leaves[name], top, at, name) for name in leaves))]
    assert any((total, bad) == (pytest.approx(t, rel=1e-12), pytest.approx(b, rel=1e-12)) for t, b in spans), \
        f"recorded {total} requests, {bad} failing; exact over the spans the global may have held: {spans}"
    at = evaluated["availability-per-cluster"]
    kept = {m["cluster"]: v for m, v in value(
        top, f'{c.METRIC_TOTAL}{{slo="availability-per-cluster",window="30d"}}', at)}
    assert sorted(kept) == sorted(leaves)
    for name, leaf in leaves.items():
        spans = [t for t, _ in _exact(leaf, top, at, name, "availability-per-cluster")]
        assert any(kept[name] == pytest.approx(t, rel=1e-12) for t in spans), (name, kept[name], spans)

    # The page: the workbook's detection for the share of traffic that fails, then `for`, the leaf's scrape
    # and evaluation, a federation interval and the global's evaluation.
    share = clusters["a"].rate / (clusters["a"].rate + clusters["b"].rate)
    budget = 1 - OBJECTIVE / 100
    bound = (outage + 14.4 * budget * 3600 / share + 120 + clusters["a"].scrape + EVAL_SECONDS + FEDERATION
             + EVAL_SECONDS + 5)
    assert page_seen <= bound, f"paged {page_seen - outage:.0f}s after the outage; bound {bound - outage:.0f}s"
    assert "b" not in cluster_pages
