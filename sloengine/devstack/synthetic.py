"""Synthetic counters with exactly known event counts, written as OpenMetrics for ``promtool`` backfill.

Ground truth for every number sloengine reports: a test states how many
events happened in each step, the counters are built from those increments
(with resets where asked), backfilled into a real Prometheus, and whatever
the rules or the engine compute is compared with the sums of the increments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..compiler.tools import promtool
from ..model.promql import quote


@dataclass(frozen=True)
class Counter:
    """One counter series: ``increments[i]`` events happen in the step ending at sample ``i``.

    ``resets`` are sample indexes where the process restarted: the counter
    falls back to zero there and counts that step's events from zero, the way
    a real restart looks to Prometheus.
    """

    metric: str
    labels: tuple[tuple[str, str], ...]
    increments: np.ndarray
    resets: tuple[int, ...] = field(default=())
    #: Samples that were scraped; ``False`` leaves a gap (a failed scrape), the events still happen.
    scraped: np.ndarray | None = field(default=None, compare=False)

    def values(self) -> np.ndarray:
        values = np.cumsum(self.increments, dtype=np.float64)
        for index in sorted(self.resets):
            values[index:] -= values[index - 1]
        return values


@dataclass(frozen=True)
class Gauge:
    metric: str
    labels: tuple[tuple[str, str], ...]
    samples: np.ndarray


def _series_name(metric: str, labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f"{k}={quote(v)}" for k, v in labels)
    return f"{metric}{{{inner}}}" if inner else metric


def openmetrics(series: Sequence[Counter | Gauge], start: int, step: int) -> str:
    """OpenMetrics text with one sample per step from ``start`` (Unix seconds); families kept together."""
    by_metric: dict[str, list[Counter | Gauge]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    chunks = []
    for metric in sorted(by_metric):
        kind = "counter" if isinstance(by_metric[metric][0], Counter) and metric.endswith("_total") else "gauge"
        family = metric[: -len("_total")] if kind == "counter" else metric
        chunks.append(f"# TYPE {family} {kind}\n")
        for s in by_metric[metric]:
            values = s.values() if isinstance(s, Counter) else np.asarray(s.samples, dtype=np.float64)
            times = start + step * np.arange(len(values), dtype=np.int64)
            if isinstance(s, Counter) and s.scraped is not None:
                values, times = values[s.scraped], times[s.scraped]
            name = _series_name(s.metric, s.labels)
            chunks.append("".join(f"{name} {v:.17g} {t}\n" for v, t in zip(values.tolist(), times.tolist())))
    chunks.append("# EOF\n")
    return "".join(chunks)


def write_blocks(text: str, workdir: Path, data_dir: Path, max_block_hours: int = 24 * 40) -> None:
    """Backfill OpenMetrics text into TSDB blocks under ``data_dir`` with ``promtool``."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "backfill.om"
    source.write_text(text)
    promtool("tsdb", "create-blocks-from", f"--max-block-duration={max_block_hours}h", "openmetrics",
             str(source), str(data_dir))
    source.unlink()


def window_sum(increments: np.ndarray, start: int, step: int, begin: float, end: float) -> float:
    """Events in samples whose time lies in ``(begin, end]``: the exact count over that window."""
    times = start + step * np.arange(len(increments), dtype=np.int64)
    mask = (times > begin) & (times <= end)
    return float(np.sum(increments[mask]))
