"""Losing a leaf with real servers (:mod:`integration.two_tier_stack`, without tile history: this is about the
fast windows): the global pages ``SLOLeafMissing`` for the lost leaf, the SLI summed over clusters goes absent
(never the healthy cluster's figure), and the SLI kept per cluster goes on for the cluster that reports.

Federated samples keep their leaf's timestamps, so Prometheus writes no staleness markers for them: a lost leaf's
last samples stay visible for five minutes. The global tells the loss by the age of the leaf's heartbeat instead,
within the heartbeat limit plus the alert's minute.
"""

from __future__ import annotations

import time

import pytest

from integration.two_tier_stack import alerts, two_tiers, value
from sloengine.compiler.promtool_semantics import EVAL_SECONDS
from sloengine.compiler.split import Topology, heartbeat_limit_seconds
from sloengine.devstack.stack import stop
from sloengine.model import conventions as c

FAST = 'window=~"5m|30m|1h|6h"'


@pytest.fixture(scope="module")
def tiers(tmp_path_factory):
    with two_tiers(tmp_path_factory.mktemp("two-tier-lost"), tiles=False) as running:
        yield running


def test_a_lost_leaf_pages_and_leaves_the_summed_sli_without_data(tiers):
    _, leaves, top, _ = tiers
    deadline = time.time() + 180
    while time.time() < deadline and not value(top, f'{c.METRIC_ERROR_RATIO}{{slo="availability",window="5m"}}'):
        time.sleep(3)
    assert value(top, f'{c.METRIC_ERROR_RATIO}{{slo="availability",window="5m"}}'), "the global never had the SLI"
    assert not [a for a in alerts(top, c.ALERT_LEAF_MISSING) if a["state"] == "firing"]

    stop(leaves["b"].process)
    lost = time.time()
    bound = lost + heartbeat_limit_seconds(Topology(("a", "b"))) + 60 + 2 * EVAL_SECONDS + 10
    missing: list[dict] = []
    while time.time() < bound + 60 and not missing:
        missing = [a for a in alerts(top, c.ALERT_LEAF_MISSING) if a["state"] == "firing"]
        time.sleep(3)
    assert missing, "SLOLeafMissing never fired for the lost leaf"
    assert time.time() <= bound, f"SLOLeafMissing took {time.time() - lost:.0f}s"
    assert [a["labels"]["cluster"] for a in missing] == ["b"]
    # The fast group's windows at its next evaluation (the slow group's at its next, up to 5 minutes later).
    time.sleep(EVAL_SECONDS + 5)
    assert value(top, f'{c.METRIC_ERROR_RATIO}{{slo="availability",{FAST}}}') == []
    assert value(top, f'{c.METRIC_BURN_RATE}{{slo="availability",{FAST}}}') == []
    kept = value(top, f'{c.METRIC_ERROR_RATIO}{{slo="availability-per-cluster",window="5m"}}')
    assert [m["cluster"] for m, _ in kept] == ["a"]
