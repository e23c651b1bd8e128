"""``validate --prometheus``: check the SLIs' selectors against the series a live Prometheus holds.

A spec can be valid and still compute nothing useful. A latency threshold that is not one of the
histogram's bucket boundaries (0.45 on 0.25/0.5 buckets, or 500 meaning milliseconds) selects no ``_bucket``
series, so the SLI has no data (the rules raise SLOLatencyBucketMissing once deployed); a boundary present on
only some of the histograms a selector matches makes the others' requests count as slow, which pages on a
healthy service. A selector with a typo matches nothing, so the SLI has no data. Only the server knows which
series exist, so these checks ask it before anything is deployed: one
instant query per distinct selector, each over a short lookback (cheap: it reads an hour of the matching
series, never the SLO window). A query that fails raises :class:`~sloengine.engine.connection.QueryError`; the
caller reports that nothing could be checked, never that everything is fine.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from ..compiler.queries import QueryBuildError, checked
from ..model.conventions import ALERT_BUCKET_MISSING
from ..model.diagnostics import Diagnostic, Level, Position
from ..model.durations import format_duration
from ..model.promql import LABEL_NAME, Selector, le_matcher, le_spellings, quote
from ..model.slo import SLO, Catalog, LatencySLI, ProbeSLI, RatioSLI
from ..specs.validation import THRESHOLD_FIELD
from .connection import Client

#: How far back a series counts as existing: long enough to ride out a failed scrape or a restart, short
#: enough that the queries stay cheap on a large server (an hour of samples of the matching series).
LOOKBACK_SECONDS = 3600


@dataclass
class SeriesProbe:
    """Asks Prometheus which series exist, remembering answers so a selector shared by SLOs costs one query."""

    client: Client
    at: float = field(default_factory=time.time)
    _answers: dict[str, list[dict]] = field(default_factory=dict, init=False, repr=False)

    def _ask(self, expr: str) -> list[dict]:
        if expr not in self._answers:
            self._answers[expr] = self.client.query(checked(expr), self.at)
        return self._answers[expr]

    @staticmethod
    def _present(selector: Selector) -> str:
        return f"present_over_time({selector.render()}[{format_duration(LOOKBACK_SECONDS)}])"

    def exists(self, selector: Selector) -> bool:
        """Whether any series matched ``selector`` within the lookback."""
        return bool(self._ask(f"group({self._present(selector)})"))

    def values(self, selector: Selector, label: str) -> list[str]:
        """The values ``label`` takes on the series matching ``selector`` within the lookback."""
        if not LABEL_NAME.match(label):
            raise QueryBuildError(f"bad label name {label!r}")
        return sorted({row["metric"].get(label, "") for row in
                       self._ask(f"group by ({label}) ({self._present(selector)})")})

    def lacking(self, selector: Selector, narrowed: Selector, label: str) -> list[dict[str, str]]:
        """Label sets (without ``label``) of the series of ``selector`` that have no series in ``narrowed``."""
        every = f"group without ({label}) ({self._present(selector)})"
        some = f"group without ({label}) ({self._present(narrowed)})"
        return [row["metric"] for row in self._ask(f"{every} unless {some}")]


def _boundary(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _show(value: float) -> str:
    return "+Inf" if math.isinf(value) else f"{value:g}"


def _labels(metric: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={quote(v)}" for k, v in sorted(metric.items()) if k != "__name__") + "}"


def _check_latency(slo: SLO, sli: LatencySLI, probe: SeriesProbe) -> list[Diagnostic]:
    where = sli.threshold_source or slo.source or Position("<unknown>")
    field_name = f"{slo.id}: {THRESHOLD_FIELD}"
    bucket = sli.bucket
    les = probe.values(bucket, "le")
    if not les:
        return [Diagnostic(
            Level.WARNING, slo.source or where, f"{slo.id}: sli.latency.histogram",
            f"no series match {bucket.render()} in the last {format_duration(LOOKBACK_SECONDS)}: the SLI would have "
            "no data", "check the histogram's name and matchers against what Prometheus scrapes")]
    threshold = sli.threshold_seconds
    spellings = set(le_spellings(threshold))
    if not spellings & set(les):
        return [_missing_boundary(sli, les, where, field_name)]
    lacking = probe.lacking(bucket, bucket.with_matchers(le_matcher(threshold)), "le")
    if not lacking:
        return []
    example = _labels(min(lacking, key=lambda metric: sorted(metric.items())))
    return [Diagnostic(
        Level.ERROR, where, field_name,
        f"le={_show(threshold)} is missing on {len(lacking)} of the series {bucket.render()} matches (e.g. "
        f"{example}): the SLI would count their requests as slow"
        + (", or give their groups no data" if sli.group_by else ""),
        "narrow the histogram's matchers to the series with this bucket, or give them the same buckets")]


def _missing_boundary(sli: LatencySLI, les: list[str], where: Position, field_name: str) -> Diagnostic:
    threshold = sli.threshold_seconds
    by_value: dict[float, str] = {}
    for text in les:
        value = _boundary(text)
        if value is not None:
            by_value.setdefault(value, text)
    if threshold in by_value:
        # The boundary is there, in a spelling the rules do not match (they match le_spellings only).
        written = by_value[threshold]
        return Diagnostic(
            Level.ERROR, where, field_name,
            f"le={_show(threshold)} is written le=\"{written}\" by this histogram, a spelling the generated rules "
            f"do not match ({', '.join(sorted(le_spellings(threshold)))}), so the SLI would have no data "
            f"({ALERT_BUCKET_MISSING})",
            f"rewrite the le label at scrape time (metric_relabel_configs) to {_show(threshold)}")
    bounds = sorted(by_value)
    finite = [b for b in bounds if math.isfinite(b)]
    above = [b for b in finite if b > threshold]
    below = [b for b in finite if b < threshold]
    suggestions = [_show(b) for b in (above[:1] + below[-1:])]
    milliseconds = threshold / 1000
    if threshold > 1 and milliseconds in by_value:
        hint = f"thresholds are seconds: write {threshold:g}ms or {_show(milliseconds)}"
    elif suggestions:
        hint = f"use {' or '.join(suggestions)}"
    else:
        hint = "give the histogram finite buckets around the threshold"
    shown = ", ".join(_show(b) for b in bounds)
    return Diagnostic(
        Level.ERROR, where, field_name,
        f"le={_show(threshold)} not found; the histogram has {shown}: without that bucket the SLI would have no "
        f"data ({ALERT_BUCKET_MISSING})", hint)


def _check_selector(slo: SLO, role: str, selector: Selector, probe: SeriesProbe,
                    consequence: str) -> list[Diagnostic]:
    if probe.exists(selector):
        return []
    return [Diagnostic(
        Level.WARNING, slo.source or Position("<unknown>"), f"{slo.id}: sli.{role}",
        f"no series match {selector.render()} in the last {format_duration(LOOKBACK_SECONDS)}: {consequence}",
        "check the metric name and matchers against what Prometheus scrapes")]


NO_DATA = "the SLI would have no data"


def check_slo(slo: SLO, probe: SeriesProbe) -> list[Diagnostic]:
    """What the live series say about one SLO (raw PromQL SLIs are not checked: their series are unknown)."""
    sli = slo.sli
    if isinstance(sli, LatencySLI):
        return _check_latency(slo, sli, probe)
    if isinstance(sli, ProbeSLI):
        return _check_selector(slo, "probe.metric", sli.gauge, probe, NO_DATA)
    if isinstance(sli, RatioSLI):
        found = _check_selector(slo, "ratio.total", sli.total, probe, NO_DATA)
        if not found and sli.good is not None:
            # A good counter that never appeared counts as zero: every request would be bad.
            found = _check_selector(slo, "ratio.good", sli.good, probe,
                                    "every event of total would count as bad, so the SLO would page")
        # A bad counter with no series is normal (no error yet) and counts as zero, so it is not checked.
        return found
    return []


@dataclass(frozen=True)
class LiveCheck:
    """What the server said: diagnostics, and the latency SLOs whose threshold it showed to be a boundary."""

    diagnostics: tuple[Diagnostic, ...]
    #: Ids of latency SLOs whose threshold is a bucket boundary of every series their histogram selects.
    confirmed: frozenset[str]

    def settle(self, offline: tuple[Diagnostic, ...]) -> tuple[Diagnostic, ...]:
        """``offline`` diagnostics plus these, less the offline guesses the server settled: a threshold over a
        minute written as a number is only probably milliseconds until a bucket at that boundary is seen."""
        settled = {f"{slo_id}: {THRESHOLD_FIELD}" for slo_id in self.confirmed}
        kept = {d for d in offline if not (d.level is Level.WARNING and d.field in settled)}
        return tuple(sorted(kept | set(self.diagnostics), key=Diagnostic.sort_key))


def check_catalog_live(catalog: Catalog, client: Client, at: float | None = None) -> LiveCheck:
    """Check every SLO's selectors against what ``client``'s Prometheus holds.

    Raises :class:`~sloengine.engine.connection.QueryError` when a query fails: the caller must fail closed.
    """
    probe = SeriesProbe(client, time.time() if at is None else at)
    found: list[Diagnostic] = []
    confirmed: set[str] = set()
    for slo in catalog.slos:
        diagnostics = check_slo(slo, probe)
        found.extend(diagnostics)
        if isinstance(slo.sli, LatencySLI) and not diagnostics:
            confirmed.add(slo.id)
    return LiveCheck(tuple(found), frozenset(confirmed))
