"""`generate --split leaf,global`: what each tier reads and records, checked structurally and in promtool.

The live proof with three real Prometheus servers is tests/integration/test_two_tier.py; here every catalogue
`validate` accepts (the examples, a varied catalogue) must split into files promtool accepts, a leaf must read
only its own counters and what it recorded, the global only what the leaves federate and what it records, and
the global's sums, gates and lost-leaf page are run in `promtool test rules`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml
from click.testing import CliRunner
from integration.two_tier_stack import SPEC

from sloengine.cli import main
from sloengine.compiler.split import Topology, TopologyError, split_files
from sloengine.model import conventions as c
from sloengine.model.slo import Catalog
from sloengine.specs.loader import load, load_or_raise

REPO = Path(__file__).resolve().parents[1]
PROMTOOL = shutil.which("promtool")
TOPOLOGY = Topology(("eu-1", "us-1"))



def _selectors(node: object) -> list[str]:
    """Metric names of every vector selector in a parsed expression."""
    name = type(node).__name__
    if name == "VectorSelector":
        return [node.name]  # type: ignore[attr-defined]
    found: list[str] = []
    for attribute in ("lhs", "rhs", "expr", "args", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        for item in child if isinstance(child, list | tuple) else [child]:
            if item is not None and hasattr(item, "prettify"):
                found += _selectors(item)
    return found


def _groups(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["groups"]


def _rules(files: dict[str, str], directory: str) -> list[dict]:
    return [rule for path, text in files.items() if path.startswith(directory + "/") and path.endswith(".rules.yml")
            for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """A directory with the two-tier tests' SPEC: one SLO summed over clusters, one kept per cluster."""
    directory = tmp_path_factory.mktemp("split-spec")
    (directory / "shop.yaml").write_text(SPEC)
    return directory


@pytest.fixture(scope="module")
def catalogues(write_catalogue, tmp_path_factory) -> dict[str, Catalog]:
    specs = tmp_path_factory.mktemp("varied-split")
    write_catalogue(120, specs, seed=11)
    varied = load([specs])
    assert varied.ok
    return {"examples": load_or_raise([REPO / "examples"]), "varied": varied.catalog}


def test_a_leaf_reads_only_its_counters_and_records_only_the_cluster_level(catalogues) -> None:
    for name, catalog in catalogues.items():
        files = split_files(catalog, TOPOLOGY)
        for rule in _rules(files, c.LEAF_DIR):
            if "record" in rule:
                assert rule["record"].startswith(c.LEAF_LEVEL + ":"), (name, rule["record"])
            read = _selectors(promql_parser.parse(rule["expr"]))
            assert not [m for m in read if m.startswith("slo:")], (name, rule.get("record"), read)


def test_the_global_reads_only_what_leaves_federate_and_what_it_records(catalogues) -> None:
    for name, catalog in catalogues.items():
        files = split_files(catalog, TOPOLOGY)
        raw = {s.metric for slo in catalog.slos for s in _sli_selectors(slo.sli)}
        for rule in _rules(files, c.GLOBAL_DIR):
            read = set(_selectors(promql_parser.parse(rule["expr"])))
            assert not read & raw, (name, rule.get("record") or rule.get("alert"), read & raw)
            assert all(m.startswith(("slo:", c.LEAF_LEVEL + ":", "ALERTS")) for m in read), (name, read)


def _sli_selectors(sli) -> list:
    return [getattr(sli, attribute) for attribute in ("bad", "good", "total", "count", "bucket", "gauge")
            if getattr(sli, attribute, None) is not None and hasattr(getattr(sli, attribute), "metric")]


def test_a_summed_sli_waits_for_every_leaf_and_a_kept_one_for_its_own(shop: Path) -> None:
    catalog = load_or_raise([shop])
    files = split_files(catalog, TOPOLOGY)
    global_rules = yaml.safe_load(files[f"{c.GLOBAL_DIR}/shop.rules.yml"])["groups"]
    events = {(g["name"].split(":")[2], r["record"]): r["expr"] for g in global_rules for r in g["rules"]
              if r.get("record") in (c.METRIC_TOTAL, c.METRIC_BAD)}
    gate = {"availability": f"and on() (max({c.METRIC_LEAF_MISSING}) == 0)",
            "availability-per-cluster": f"and on(cluster) ({c.METRIC_LEAF_MISSING} == 0)"}
    assert events and all(expr.endswith(gate[slo]) for (slo, _), expr in events.items())


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_promtool_accepts_every_split_file(catalogues, tmp_path: Path) -> None:
    for name, catalog in catalogues.items():
        out = tmp_path / name
        for path, text in split_files(catalog, TOPOLOGY).items():
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_text(text)
        rules = sorted(str(p) for p in (out / c.SPLIT_DIR).rglob("*.rules.yml"))
        done = subprocess.run([PROMTOOL, "check", "rules", *rules], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config = yaml.safe_load((out / c.FEDERATION_FILE).read_text())
    config["rule_files"] = rules
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run([PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _two_clusters() -> list[dict]:
    """Cluster eu-1 serves 3,000 requests a minute (30 failing), us-1 1,000 (10 failing), with the cluster label
    federation would add; us-1's leaf stops at 60m."""
    series = []
    for cluster, good, bad in (("eu-1", 2970, 30), ("us-1", 990, 10)):
        series += [
            {"series": f'http_requests_total{{job="shop",code="200",cluster="{cluster}"}}', "values": f"0+{good}x120"},
            {"series": f'http_requests_total{{job="shop",code="500",cluster="{cluster}"}}', "values": f"0+{bad}x120"},
        ]
    # The leaves' clocks (a heartbeat is the time its leaf recorded it); us-1's leaf stops at 60m and its last
    # heartbeat stays visible (federated samples get no staleness markers) until it is too old.
    return series + [{"series": f'{c.METRIC_LEAF_HEARTBEAT}{{cluster="eu-1"}}', "values": "0+60x120"},
                     {"series": f'{c.METRIC_LEAF_HEARTBEAT}{{cluster="us-1"}}', "values": "0+60x60"}]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_a_global_that_has_not_watched_its_leaves_records_no_sli(shop: Path, tmp_path: Path) -> None:
    """Without the global's watch on its leaves (its rules file not loaded; likewise just after a start, until the
    watch first runs), nothing says every leaf reports: no SLI, summed or kept per cluster, rather than a sum over
    the leaves that happened to be federated."""
    catalog = load_or_raise([shop])
    for path, text in split_files(catalog, TOPOLOGY).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    rule_files = [tmp_path / c.LEAF_DIR / "shop.rules.yml", tmp_path / c.GLOBAL_DIR / "shop.rules.yml"]
    test = {
        "rule_files": [str(path) for path in rule_files],
        "evaluation_interval": "30s",
        "group_eval_order": [group["name"] for path in rule_files for group in _groups(path)],
        "tests": [{
            "interval": "1m",
            "input_series": _two_clusters(),
            "promql_expr_test": [
                # The leaves recorded their windows: only the global's gate holds the SLI back.
                {"expr": f'count({c.leaf_metric(c.METRIC_TOTAL)}{{slo="availability",window="5m"}})',
                 "eval_time": "30m", "exp_samples": [{"labels": "{}", "value": 2}]},
                {"expr": f'{c.METRIC_TOTAL}{{slo=~"availability.*"}}', "eval_time": "30m", "exp_samples": []},
                {"expr": f'{c.METRIC_ERROR_RATIO}{{slo=~"availability.*"}}', "eval_time": "30m", "exp_samples": []},
            ],
        }],
    }
    path = tmp_path / "unwatched.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_global_sums_clusters_and_a_lost_leaf_leaves_no_sli_but_a_page(shop: Path, tmp_path: Path) -> None:
    """Leaf and global rules in one promtool run, on :func:`_two_clusters`' counters."""
    catalog = load_or_raise([shop])
    for path, text in split_files(catalog, TOPOLOGY).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    series = _two_clusters()
    summed = '{service="shop",slo="availability",window_source="raw",window="5m"}'
    test = {
        "rule_files": [str(tmp_path / c.LEAF_DIR / "shop.rules.yml"), str(tmp_path / c.GLOBAL_DIR / "shop.rules.yml"),
                       str(tmp_path / c.GLOBAL_DIR / f"{c.LEAVES_FILE_STEM}.rules.yml")],
        "evaluation_interval": "30s",
        # As the tiers run in production: what the leaves record before the global reads it (promtool would
        # otherwise order groups at random, and the global would lag a tile behind at some instants).
        "group_eval_order": [group["name"] for tier in (c.LEAF_DIR, c.GLOBAL_DIR)
                             for name in (c.LEAVES_FILE_STEM, "shop")
                             if (tmp_path / tier / f"{name}.rules.yml").exists()
                             for group in _groups(tmp_path / tier / f"{name}.rules.yml")],
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {"expr": f'{c.METRIC_TOTAL}{{slo="availability",window="5m"}}', "eval_time": "30m",
                 "exp_samples": [{"labels": c.METRIC_TOTAL + summed, "value": 20000}]},
                {"expr": f'{c.METRIC_ERROR_RATIO}{{slo="availability",window="5m"}}', "eval_time": "30m",
                 "exp_samples": [{"labels": c.METRIC_ERROR_RATIO + summed, "value": 0.01}]},
                # Tiles summed over clusters: every event since the first (empty) tile, exactly.
                {"expr": f'{c.METRIC_TOTAL}{{slo="availability",window="30d"}}', "eval_time": "30m",
                 "exp_samples": [{"labels": c.METRIC_TOTAL + '{service="shop",slo="availability",'
                                  'window_source="tiles",window="30d"}', "value": 120000}]},
                {"expr": f'{c.METRIC_TOTAL}{{slo="availability-per-cluster",window="30d"}}', "eval_time": "30m",
                 "exp_samples": [{"labels": c.METRIC_TOTAL + '{cluster="eu-1",service="shop",slo="availability-per-'
                                  'cluster",window_source="tiles",window="30d"}', "value": 90000},
                                 {"labels": c.METRIC_TOTAL + '{cluster="us-1",service="shop",slo="availability-per-'
                                  'cluster",window_source="tiles",window="30d"}', "value": 30000}]},
                # us-1's leaf is gone: the summed SLI has no value (not eu-1's), the kept one goes on for eu-1 only.
                {"expr": f'{c.METRIC_ERROR_RATIO}{{slo="availability"}}', "eval_time": "90m", "exp_samples": []},
                {"expr": f'{c.METRIC_ERROR_RATIO}{{slo="availability-per-cluster",window="5m"}}',
                 "eval_time": "90m",
                 "exp_samples": [{"labels": c.METRIC_ERROR_RATIO + '{cluster="eu-1",service="shop",slo="availability-'
                                  'per-cluster",window_source="raw",window="5m"}', "value": 0.01}]},
                # Four minutes after its last heartbeat, within the lookback that hides a lost federated leaf.
                {"expr": c.METRIC_LEAF_MISSING, "eval_time": "64m",
                 "exp_samples": [{"labels": c.METRIC_LEAF_MISSING + '{cluster="eu-1"}', "value": 0},
                                 {"labels": c.METRIC_LEAF_MISSING + '{cluster="us-1"}', "value": 1}]},
                {"expr": c.METRIC_LEAF_MISSING, "eval_time": "61m",
                 "exp_samples": [{"labels": c.METRIC_LEAF_MISSING + '{cluster="eu-1"}', "value": 0},
                                 {"labels": c.METRIC_LEAF_MISSING + '{cluster="us-1"}', "value": 0}]},
                {"expr": c.METRIC_LEAF_MISSING, "eval_time": "90m",
                 "exp_samples": [{"labels": c.METRIC_LEAF_MISSING + '{cluster="eu-1"}', "value": 0},
                                 {"labels": c.METRIC_LEAF_MISSING + '{cluster="us-1"}', "value": 1}]},
            ],
            "alert_rule_test": [
                {"alertname": c.ALERT_LEAF_MISSING, "eval_time": "30m", "exp_alerts": []},
                {"alertname": c.ALERT_LEAF_MISSING, "eval_time": "90m", "exp_alerts": [{
                    "exp_labels": {"cluster": "us-1", c.LABEL_SEVERITY: "page", c.LABEL_OWN_SEVERITY: "page"},
                    "exp_annotations": {
                        "summary": "leaf Prometheus of cluster us-1 is missing from the global tier",
                        "description": "The global tier has had no fresh heartbeat from the leaf Prometheus of "
                                       "cluster us-1 for 180s (down, federation cannot reach it, or its clock is off). "
                                       "SLIs summed over clusters have no data until it is back; SLIs kept per "
                                       "cluster go on for the others."},
                }]},
            ],
        }],
    }
    path = tmp_path / "split.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    done = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def test_generate_writes_both_tiers_and_removes_them_without_split(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(shop), "--out", str(out), "--no-dashboards", "--split",
                                       "leaf,global", "--clusters", "eu-1,us-1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in (out / c.SPLIT_DIR).rglob("*") if p.is_file()) == sorted([
        c.FEDERATION_FILE, f"{c.GLOBAL_DIR}/{c.LEAVES_FILE_STEM}.rules.yml", f"{c.GLOBAL_DIR}/shop.rules.yml",
        f"{c.LEAF_DIR}/{c.LEAF_FILE_STEM}.rules.yml", f"{c.LEAF_DIR}/shop.rules.yml"])
    result = CliRunner().invoke(main, ["generate", str(shop), "--out", str(out), "--no-dashboards"])
    assert result.exit_code == 0, result.output
    assert not [p for p in (out / c.SPLIT_DIR).rglob("*") if p.is_file()]


@pytest.mark.parametrize(("args", "message"), [
    (["--split", "leaf,global"], "name the clusters"),
    (["--split", "leaf,global", "--clusters", "eu,eu"], "names a cluster twice"),
    (["--split", "leaf,global", "--clusters", "eu,"], "empty name"),
    (["--split", "leaf,global", "--clusters", "eu", "--cluster-label", "0bad"], "not a label name"),
    (["--split", "leaf,global", "--clusters", "eu", "--cluster-label", "service"], "sloengine's own labels"),
    (["--clusters", "eu"], "only means something with --split"),
])
def test_a_wrong_topology_is_a_usage_error_that_says_how(args: list[str], message: str, shop: Path,
                                                          tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["generate", str(shop), "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_topology_refuses_what_federation_cannot_tell_apart() -> None:
    with pytest.raises(TopologyError):
        Topology(())


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_every_peer_file_that_validates_splits_into_rules_promtool_accepts(peers_dir: Path, tmp_path: Path) -> None:
    """Sloth's, Pyrra's and OpenSLO's public examples, each as a user would bring it: one promtool run for all."""
    rules: list[str] = []
    for index, path in enumerate(sorted(p for p in peers_dir.rglob("*") if p.suffix in (".yaml", ".yml"))):
        result = load([path])
        if not result.ok or not result.catalog.slos:
            continue
        for relative, text in split_files(result.catalog, TOPOLOGY).items():
            target = tmp_path / str(index) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            if relative.endswith(".rules.yml"):
                rules.append(str(target))
    assert len(rules) > 50
    done = subprocess.run([PROMTOOL, "check", "rules", *rules], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
