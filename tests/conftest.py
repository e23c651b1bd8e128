"""Shared fixtures: where the peers' example files are (skipping when they are absent), the benchmark's varied
catalogue; and the order in which pytest-xdist hands out the test files."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PEERS = SHARED / "peers"

#: The files that take longest, longest first: waiting on Prometheus's evaluations (rules accuracy, the demo,
#: the escalation, the benchmarks) or busy on the CPU (promtool on the peers' and the examples' alert tests,
#: stamping). pytest-xdist hands out whole files in collection order (``--dist loadfile
#: --no-loadscope-reorder``): started first, they run beside the hundreds of short tests rather than after them,
#: and the suite ends when its short tests do. Only the order changes; a file missing here runs after these.
START_FIRST = (
    "integration/test_sla_alerts_live.py",   # waits for a 5-minute group: its idle minutes overlap the rest
    "integration/test_two_tier.py",          # three Prometheus, waits for 5-minute groups and a page
    "integration/test_two_tier_lost_leaf.py",  # three more, waits for a lost leaf's heartbeat to age
    "test_generate_atomic.py",
    "integration/test_rules_accuracy.py",
    "test_hostile_fuzz.py",
    "test_peers_corpus.py",
    "integration/test_demo.py",
    "test_alerttests.py",
    "test_ruler_formats.py",
    "integration/test_bench_engine_tiny.py",
    "integration/test_escalation_e2e.py",
    "integration/test_calendar_periods.py",
    "integration/test_bench_tiny.py",
    "integration/test_dashboard_queries.py",
    "integration/test_sla_accuracy.py",
    "integration/test_sla_alerts.py",
    "integration/test_web_ui_browser.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {REPO / "tests" / name: index for index, name in enumerate(START_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: each file's tests keep their order


@pytest.fixture(scope="session")
def peers_dir() -> Path:
    """``../shared/peers`` beside the clone; tests that read it skip cleanly without it."""
    if not PEERS.is_dir():
        pytest.skip("../shared/peers is not present beside this clone")
    return PEERS


@pytest.fixture(scope="session")
def write_catalogue() -> Callable[..., int]:
    """``bench/catalogue.py``'s ``write_catalogue(n, directory, seed=...)``: the varied catalogue the compile
    benchmark uses (every service its own metric names, SLI kinds, windows, alert options, agreements)."""
    spec = importlib.util.spec_from_file_location("bench_catalogue", REPO / "bench" / "catalogue.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_catalogue"] = module
    spec.loader.exec_module(module)
    return module.write_catalogue
