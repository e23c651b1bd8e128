"""Everything ``sloengine generate`` writes, as a pure mapping of relative paths to file contents.

Rendering all files before writing any lets the writer replace the output
directory's files in one go, so a failure leaves the previous output intact.
Files we generated before but no longer produce (a removed service) are found
by their header and removed, so Prometheus never loads rules for SLOs that
are gone.
"""

from __future__ import annotations

import enum
from pathlib import Path

from . import conventions as c
from .alerttests import render_tests
from .model import Catalog
from .rulefiles import HEADER, render_prometheus_rule, render_rule_file
from .rules import Intervals, compile_catalog
from .writer import write_tree


class OutputFormat(enum.Enum):
    PROMETHEUS = "prometheus"
    PROMETHEUS_OPERATOR = "prometheus-operator"


def render(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
           intervals: Intervals = Intervals()) -> dict[str, str]:
    groups_by_file = compile_catalog(catalog, intervals)
    files = {path: render_rule_file(groups) for path, groups in groups_by_file.items()}
    files.update(render_tests(catalog, files))
    if fmt is OutputFormat.PROMETHEUS_OPERATOR:
        for path, groups in groups_by_file.items():
            stem = Path(path).name.removesuffix(".rules.yml")
            name = "sloengine-" + stem.strip("_").replace("_", "-")
            files[f"{c.OPERATOR_DIR}/{stem}.prometheusrule.yml"] = render_prometheus_rule(name, groups)
    return dict(sorted(files.items()))


def stale_files(out: Path, keep: dict[str, str]) -> list[Path]:
    """Files under ``out`` that an earlier run generated (our header) and this run does not."""
    stale = []
    for directory in (c.RULES_DIR, c.TESTS_DIR, c.OPERATOR_DIR):
        root = out / directory
        if not root.is_dir():
            continue
        for path in sorted(root.glob("*.yml")):
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
