"""Recorded history for new SLOs: TSDB blocks of the 5-minute tiles, from the raw counters.

Only the tiles need history. Windows up to 6h read raw counters, and every
longer window (1d, 3d, the SLO window, the calendar period so far) is a sum of
tiles, so once the tiles of the past are backfilled a new SLO reports its whole
window at the next evaluation. The bad-events tile normally reads the total
tile recorded just before it; ``promtool`` backfills rules without letting
them see each other's output, so here the total is inlined and every rule
stands alone: one pass, no ordering to get wrong.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import conventions as c
from .durations import format_duration
from .model import Catalog
from .queries import EventQueries
from .rulefiles import render_rule_file
from .rules import RecordingRule, RuleGroup, slo_labels
from .stack import promtool


def tile_groups(catalog: Catalog) -> tuple[RuleGroup, ...]:
    """One group per SLO with its two tile rules, each free of references to recorded series."""
    groups = []
    tile = format_duration(c.TILE_SECONDS)
    for slo in catalog.slos:
        queries = EventQueries(slo.sli)
        if not queries.counts_events:
            continue
        total = queries.total(tile)
        groups.append(RuleGroup(
            c.group_name(slo.service, slo.name, "backfill"),
            c.TILE_SECONDS,
            (
                RecordingRule(c.METRIC_TILE_TOTAL, total, slo_labels(slo)),
                RecordingRule(c.METRIC_TILE_BAD, queries.bad(tile, total), slo_labels(slo)),
            ),
        ))
    return tuple(groups)


@dataclass(frozen=True)
class BackfillResult:
    rules_file: Path
    blocks_dir: Path
    groups: int


def backfill(catalog: Catalog, prometheus_url: str, start: int, end: int, out: Path) -> BackfillResult:
    """Evaluate the tile rules over ``[start, end]`` against ``prometheus_url`` into blocks under ``out``.

    Copy the block directories into Prometheus's data directory (or its
    ``--storage.tsdb.path``) and restart it; retention must cover ``start``.
    """
    out.mkdir(parents=True, exist_ok=True)
    groups = tile_groups(catalog)
    rules_file = out / "backfill.rules.yml"
    rules_file.write_text(render_rule_file(groups))
    blocks = out / "blocks"
    if blocks.exists():
        shutil.rmtree(blocks)
    blocks.mkdir()
    if groups:
        # Range queries are capped at 11,000 points: blocks of 30 days at a 5m step stay below it.
        promtool("tsdb", "create-blocks-from", "--max-block-duration=720h", "rules", "--quiet",
                 f"--url={prometheus_url}", f"--start={start}", f"--end={end}",
                 f"--output-dir={blocks}", f"--eval-interval={format_duration(c.TILE_SECONDS)}", str(rules_file))
    return BackfillResult(rules_file, blocks, len(groups))


def install_blocks(blocks: Path, data_dir: Path) -> list[Path]:
    """Move backfilled block directories into a (stopped) Prometheus's data directory."""
    moved = []
    for block in sorted(p for p in blocks.iterdir() if p.is_dir()):
        target = data_dir / block.name
        shutil.move(str(block), str(target))
        moved.append(target)
    return moved
