"""Recorded history for new SLOs: TSDB blocks of the 5-minute tiles, from the raw counters.

Only the tiles (and where each ended) need history. Windows up to 6h read raw counters, and every
longer window (1d, 3d, the SLO window, the calendar period so far) is a sum of
tiles, so once the tiles of the past are backfilled a new SLO reports its whole
window at the next evaluation. The bad-events tile normally reads the total
tile recorded just before it; ``promtool`` backfills rules without letting
them see each other's output, so here the total is inlined and every rule
stands alone: one pass, no ordering to get wrong.

``promtool`` writes one block per rule per block range, and Prometheus keeps
every block open; a rule per SLO would leave thousands of blocks for a large
catalogue. So each tile metric is one rule for many SLOs: every SLO's
expression carries its labels itself (``label_replace``) and the expressions
are joined with ``or``.
"""

from __future__ import annotations

import enum
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..compiler.agreements import covered
from ..compiler.agreements import tile_rules as agreement_tile_rules
from ..compiler.queries import EventQueries
from ..compiler.rulefiles import render_rule_file
from ..compiler.rules import RecordingRule, RuleGroup, slo_labels, tile_end_rule
from ..compiler.split import leaf_backfill_rules
from ..compiler.tools import ToolError, promtool
from ..model import conventions as c
from ..model.durations import format_duration
from ..model.promql import with_labels
from ..model.slo import Catalog
from .connection import Client, ConnectionConfig, QueryError, Relay

#: A large catalogue over a month of history takes promtool a while; this only guards against a hang.
BACKFILL_TIMEOUT_SECONDS = 6 * 3600

#: SLOs per combined rule: keeps each range query's expression and result a moderate size.
SLOS_PER_RULE = 100

#: SLO-hours of tiles one of promtool's range queries may read: promtool reads one query per rule and block,
#: and a tile reads its 5 minutes on a 15 s grid with an hour's bridge, so a 30-day block of 50 SLOs took longer
#: than a read's 30 s timeout, while 100 SLOs over an 18-hour block take about 5 s on 2 cores. Blocks are as
#: long as this allows (a few SLOs: days, fewer blocks to write), at least a day and at most 30 days.
SLO_HOURS_PER_QUERY = 2400


def combined(rules: Sequence[RecordingRule], per_rule: int = SLOS_PER_RULE) -> tuple[RecordingRule, ...]:
    """The same series as ``rules``, from one rule per metric per ``per_rule`` rules (in order)."""
    by_metric: dict[str, list[RecordingRule]] = {}
    for rule in rules:
        by_metric.setdefault(rule.record, []).append(rule)
    out = []
    for metric, members in by_metric.items():
        for first in range(0, len(members), per_rule):
            chunk = members[first:first + per_rule]
            expr = " or ".join(with_labels(f"({rule.expr})", rule.labels) for rule in chunk)
            out.append(RecordingRule(metric, expr))
    return tuple(out)


class Tier(enum.Enum):
    """Whose tiles a backfill writes: a single Prometheus's (``slo:``), or a leaf's in two tiers (``slo_cluster:``,
    see :mod:`sloengine.compiler.split`)."""

    SINGLE = "single"
    LEAF = "leaf"


def tile_rules(catalog: Catalog, tier: Tier = Tier.SINGLE,
               cluster_label: str = c.DEFAULT_CLUSTER_LABEL) -> tuple[RecordingRule, ...]:
    """Each event-counting SLO's two tile rules (and its tile end), free of references to recorded series."""
    if tier is Tier.LEAF:
        return tuple(rule for slo in catalog.slos for rule in leaf_backfill_rules(slo, cluster_label))
    rules = []
    for slo in catalog.slos:
        queries = EventQueries(slo.sli)
        if not queries.counts_events:
            continue
        total = queries.tile_total()
        rules.append(RecordingRule(c.METRIC_TILE_TOTAL, total, slo_labels(slo)))
        rules.append(RecordingRule(c.METRIC_TILE_BAD, queries.tile_bad(total), slo_labels(slo)))
        # Where each backfilled tile ends, so the first live tile starts exactly there.
        rules.append(tile_end_rule(slo))
    return tuple(rules)


@dataclass(frozen=True)
class BackfillResult:
    rules_file: Path
    blocks_dir: Path
    slos: int
    rules: int
    #: Agreement commitments whose tiles were backfilled (see :func:`backfill_agreements`).
    commitments: int = 0


def backfill(catalog: Catalog, prometheus: ConnectionConfig | str, start: int, end: int, out: Path, *,
             tier: Tier = Tier.SINGLE, labels: tuple[tuple[str, str], ...] = (),
             cluster_label: str = c.DEFAULT_CLUSTER_LABEL) -> BackfillResult:
    """Evaluate the tile rules over ``[start, end]`` against ``prometheus`` into blocks under ``out``.

    ``labels`` are added to every series written: the external labels a server that did not record them would
    know them by (a leaf's ``cluster`` in the global tier's blocks, a Prometheus's external labels in Thanos or
    Mimir). A leaf's tiles (``tier``) go to the leaf without its cluster label (its own rules read them) and to
    the global tier with it. Agreements' tiles are written for a single Prometheus only (they are not split).

    ``prometheus`` is the connection (or a bare URL): promtool reads through a
    :class:`~sloengine.engine.connection.Relay`, so authentication, TLS, tenant
    headers, timeout and retries are those of every other read. Copy the block
    directories into Prometheus's data directory (or its
    ``--storage.tsdb.path``) and restart it; retention must cover ``start``.
    Raises :class:`~sloengine.compiler.tools.ToolError` saying why when Prometheus
    cannot be read.
    """
    config = prometheus if isinstance(prometheus, ConnectionConfig) else ConnectionConfig(url=prometheus)
    out.mkdir(parents=True, exist_ok=True)
    # Backfilled tiles are the 5 minutes (on the tile grid) before each evaluation, and evaluations are 5
    # minutes apart, so they partition time as live tiles do. promtool picks the evaluations' phase within
    # the 5 minutes from the group, as Prometheus does: the first evaluation is up to 5 minutes after the
    # start it is given, so start is rounded down, never up, for the first tile to reach back over it.
    start = start // c.TILE_SECONDS * c.TILE_SECONDS
    end = end // c.TILE_SECONDS * c.TILE_SECONDS
    singles = tuple(RecordingRule(rule.record, rule.expr, tuple(sorted({**dict(rule.labels), **dict(labels)}.items())))
                    for rule in tile_rules(catalog, tier, cluster_label))
    slos = len(singles) // 3  # each SLO's tile total, tile bad and tile end
    groups = (RuleGroup(c.BACKFILL_GROUP, c.TILE_SECONDS, combined(singles)),) if singles else ()
    rules_file = out / "backfill.rules.yml"
    rules_file.write_text(render_rule_file(groups))
    blocks = out / "blocks"
    if blocks.exists():
        shutil.rmtree(blocks)
    blocks.mkdir()
    if groups:
        with Relay(config) as relay:
            try:
                # promtool places a group's evaluations at a phase hashed from its name and the rules file's path
                # as given: a path that is the same in every run gives every run the same tiles (a leaf's copy and
                # the global tier's copy of its history must be the same tiles, or their seams overlap).
                promtool("tsdb", "create-blocks-from", f"--max-block-duration={_block_hours(slos)}h",
                         "rules", "--quiet",
                         f"--url={relay.url}", f"--start={start}", f"--end={end}",
                         f"--output-dir={blocks.resolve()}", f"--eval-interval={format_duration(c.TILE_SECONDS)}",
                         rules_file.name, timeout=BACKFILL_TIMEOUT_SECONDS, env=relay.environment(),
                         cwd=rules_file.parent)
            except ToolError as exc:
                if relay.failures:
                    raise ToolError(f"cannot read Prometheus: {relay.failures[0]}") from None
                raise ToolError(relay.describe(str(exc))) from None
    commitments = backfill_agreements(catalog, config, start, end, blocks, out, labels) if tier is Tier.SINGLE else 0
    return BackfillResult(rules_file, blocks, slos, sum(len(g.rules) for g in groups), commitments)


#: 5-minute boundaries per range query of an agreement's tiles (a day: a moderate query, few requests).
AGREEMENT_STEPS_PER_QUERY = 288


def backfill_agreements(catalog: Catalog, prometheus: ConnectionConfig, start: int, end: int, blocks: Path,
                        work: Path, labels: tuple[tuple[str, str], ...] = ()) -> int:
    """Each agreement commitment's tiles at every 5-minute boundary in ``[start, end]``, as blocks in ``blocks``.

    An agreement's tiles count only support hours net of exclusions, and the periods they are summed over
    start on 5-minute boundaries: a tile must not straddle one. promtool evaluates at a phase of its own
    within the 5 minutes, so these tiles are evaluated here instead, by range queries on the boundaries
    (their masks computed from the zones' transition tables, not from recorded series), and written with
    ``promtool tsdb create-blocks-from openmetrics``. Where each tile ended is recorded too, so the first
    live tile starts there. Returns how many commitments were backfilled.
    """
    items = covered(catalog)
    if not items:
        return 0
    first = start // c.TILE_SECONDS * c.TILE_SECONDS
    last = end // c.TILE_SECONDS * c.TILE_SECONDS
    client = Client(prometheus)
    series: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[int, str]]]] = {}
    try:
        for item in items:
            for chunk in range(first, last + 1, AGREEMENT_STEPS_PER_QUERY * c.TILE_SECONDS):
                upto = min(last, chunk + (AGREEMENT_STEPS_PER_QUERY - 1) * c.TILE_SECONDS)
                total, bad, _ = agreement_tile_rules(item, backfill=(chunk, upto))
                for rule in (total, bad):
                    found = series.setdefault(rule.record, {})
                    for result in client.query_range(rule.expr, chunk, upto, c.TILE_SECONDS):
                        key = tuple(sorted({**result["metric"], **dict(rule.labels), **dict(labels)}.items()))
                        found.setdefault(key, []).extend(
                            (int(round(float(t))), _number_text(float(v))) for t, v in result["values"])
            ends = tuple(sorted({**dict(item.labels), **dict(labels)}.items()))
            series.setdefault(c.METRIC_SLA_TILE_END, {})[ends] = [
                (b, str(b)) for b in range(first, last + 1, c.TILE_SECONDS)]
    except QueryError as exc:
        raise ToolError(f"cannot read Prometheus: {exc}") from None
    finally:
        client.close()
    text = work / "agreements.om"
    text.write_text(openmetrics_text(series))
    promtool("tsdb", "create-blocks-from", "--max-block-duration=720h", "openmetrics", str(text), str(blocks),
             timeout=BACKFILL_TIMEOUT_SECONDS)
    return len(items)


def _number_text(value: float) -> str:
    """A sample value as OpenMetrics spells it (shortest exact decimal; NaN, +Inf, -Inf)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def openmetrics_text(series: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[int, str]]]]) -> str:
    """Gauge samples (metric → labels → (timestamp, value)) as OpenMetrics text, each family contiguous and
    each series in time order, as promtool reads it."""
    lines = []
    for metric in sorted(series):
        lines.append(f"# TYPE {metric} gauge")
        for labels, samples in sorted(series[metric].items()):
            shown = ",".join(f'{k}="{_escaped(v)}"' for k, v in labels if k != "__name__")
            for at, value in sorted(dict(samples).items()):
                lines.append(f"{metric}{{{shown}}} {value} {at}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _block_hours(slos: int) -> int:
    """How long each backfilled block is: the longest that keeps a combined rule's query within
    :data:`SLO_HOURS_PER_QUERY`."""
    return max(24, min(720, SLO_HOURS_PER_QUERY // max(1, min(slos, SLOS_PER_RULE))))


def install_blocks(blocks: Path, data_dir: Path) -> list[Path]:
    """Move backfilled block directories into a (stopped) Prometheus's data directory."""
    moved = []
    for block in sorted(p for p in blocks.iterdir() if p.is_dir()):
        target = data_dir / block.name
        shutil.move(str(block), str(target))
        moved.append(target)
    return moved
