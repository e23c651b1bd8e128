"""Everything ``sloengine generate`` writes, as a pure mapping of relative paths to file contents.

Rendering all files before writing any lets the writer replace the output
directory's files in one go, so a failure leaves the previous output intact.
Files we generated before but no longer produce (a removed service) are found
by their header and removed, so Prometheus never loads rules for SLOs that
are gone.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path

from . import conventions as c
from .alerttests import render_tests
from .dashboards import DASHBOARD_TAG, render_dashboards
from .escalation import render_alertmanager
from .model import Catalog
from .rulefiles import HEADER, render_prometheus_rule, render_rule_file
from .rules import Intervals, compile_catalog
from .writer import write_tree


class OutputFormat(enum.Enum):
    PROMETHEUS = "prometheus"
    PROMETHEUS_OPERATOR = "prometheus-operator"


def render(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
           intervals: Intervals = Intervals(), *, dashboards: bool = True) -> dict[str, str]:
    groups_by_file = compile_catalog(catalog, intervals)
    files = {path: render_rule_file(groups) for path, groups in groups_by_file.items()}
    files.update(render_tests(catalog, files))
    files.update(render_alertmanager(catalog))
    if dashboards:
        files.update(render_dashboards(catalog))
    if fmt is OutputFormat.PROMETHEUS_OPERATOR:
        for path, groups in groups_by_file.items():
            stem = Path(path).name.removesuffix(".rules.yml")
            name = "sloengine-" + stem.strip("_").replace("_", "-")
            files[f"{c.OPERATOR_DIR}/{stem}.prometheusrule.yml"] = render_prometheus_rule(name, groups)
    return dict(sorted(files.items()))


def _our_dashboard(path: Path) -> bool:
    try:
        return DASHBOARD_TAG in json.loads(path.read_text(encoding="utf-8")).get("tags", [])
    except (OSError, ValueError, AttributeError):
        return False


def stale_files(out: Path, keep: dict[str, str]) -> list[Path]:
    """Files under ``out`` that an earlier run generated (our header, or our dashboards' tag) and this run does not."""
    stale = []
    board_dir = out / c.DASHBOARDS_DIR
    if board_dir.is_dir():
        stale += [p for p in sorted(board_dir.glob("*.json"))
                  if p.relative_to(out).as_posix() not in keep and _our_dashboard(p)]
    for directory in (c.RULES_DIR, c.TESTS_DIR, c.OPERATOR_DIR, c.ALERTMANAGER_DIR, c.DASHBOARD_PROVISIONING_DIR):
        root = out / directory
        if not root.is_dir():
            continue
        for path in sorted([*root.glob("*.yml"), *root.glob("*.yaml")]):
            relative = path.relative_to(out).as_posix()
            if relative in keep:
                continue
            try:
                head = path.read_text(encoding="utf-8", errors="replace")[: len(HEADER)]
            except OSError:
                continue
            if head == HEADER:
                stale.append(path)
    return stale


def write(out: Path, files: dict[str, str]) -> tuple[list[Path], list[Path]]:
    """Write all files atomically, then remove stale generated ones; returns (written, removed)."""
    written = write_tree(out, files)
    removed = stale_files(out, files)
    for path in removed:
        path.unlink()
    return written, removed
