"""Everything ``sloengine generate`` writes, as a pure mapping of relative paths to file contents.

Rendering all files before writing any lets the writer replace the output
directory's files in one go, so a failure leaves the previous output intact.
Files we generated before but no longer produce (a removed service) are found
by their header and removed, so Prometheus never loads rules for SLOs that
are gone.
"""

from __future__ import annotations

import contextlib
import enum
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..model import conventions as c
from ..model.gcpause import paused_gc
from ..model.parallel import Claims, Twofold
from ..model.slo import SLO, Catalog, Service
from .agreements import agreement_periods, compile_agreements, covered, mask_zones
from .alerttests import CompiledService, render_service_tests
from .dashboards import DASHBOARD_TAG, render_service_dashboard, render_shared_dashboards
from .escalation import AlertmanagerOptions, AlertmanagerShare, alertmanager_share, alerts_of, render_alertmanager
from .rulefiles import HEADER, render_prometheus_rule, render_rule_file
from .rulers import RulerOptions, gmp_file, mimir_file, thanos_file, vmalert_file, vmrule_file
from .rules import Intervals, RuleGroup, compile_calendars, compile_slo
from .split import Topology, split_files
from .writer import Backlog, Committed, Generation, Placed, Stage, place

#: From this many SLOs on, a share of the services is compiled in a second process.
PARALLEL_SLOS = 1000


class OutputFormat(enum.Enum):
    """What loads the rules: the plain rule files (``rules/``) are always written (promtool checks and tests
    them); every other format adds the same groups in its ruler's own files."""

    PROMETHEUS = "prometheus"
    PROMETHEUS_OPERATOR = "prometheus-operator"
    MIMIR = "mimir"
    THANOS = "thanos"
    VMALERT = "vmalert"
    VMRULE = "vmrule"
    GMP = "gmp"

    @property
    def self_contained(self) -> bool:
        """vmalert writes recorded samples asynchronously: bad events count their totals themselves (same values)."""
        return self in (OutputFormat.VMALERT, OutputFormat.VMRULE)


def render(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
           intervals: Intervals = Intervals(), *, dashboards: bool = True,
           rulers: RulerOptions = RulerOptions(), split: Topology | None = None) -> dict[str, str]:
    """Every generated file by relative path, sorted."""
    files: dict[str, str] = {}
    for path, text in render_iter(catalog, fmt, intervals, dashboards=dashboards, rulers=rulers, split=split):
        assert isinstance(text, str), "files are only staged on disk when render_iter is told where"
        files[path] = text
    return dict(sorted(files.items()))


Share = tuple[tuple[Service, tuple[SLO, ...]], ...]


@dataclass(frozen=True)
class _Job:
    """What compiling services in a forked worker needs (handed over by the fork, as is)."""

    #: Groups of whole services (None: the agreements' rules), taken one at a time by whichever process is free
    #: (:class:`Claims`).
    chunks: tuple[Share | None, ...]
    claims: Claims
    catalog: Catalog
    fmt: OutputFormat
    intervals: Intervals
    dashboards: bool
    calendars: bool
    rulers: RulerOptions
    #: Where the worker writes its files (a Generation's stage; None: it hands back their text).
    stage_in: Stage | None = None


def render_iter(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
                intervals: Intervals = Intervals(), *, dashboards: bool = True,
                stage_in: Stage | None = None, rulers: RulerOptions = RulerOptions(),
                split: Topology | None = None) -> Iterator[tuple[str, str | Placed]]:
    """:func:`render` as a stream of (path, text), each service's files as soon as they are ready, so that
    writing them can overlap compiling the next.

    Each SLO is compiled once; its rule groups make its rules file, its alert tests, its PrometheusRule and
    (as the labels of its alerts) its Alertmanager routes. With many SLOs a forked worker compiles services
    too, each process taking the next group of services as it gets free; the worker hands back its SLOs'
    alerts and their part of the Alertmanager configuration, which is joined here. With ``stage_in`` (a
    :class:`.writer.Generation`'s stage) the worker writes its files there itself and hands back
    :class:`.writer.Placed` entries, so its output never passes through this process's memory. With ``split``
    the two tiers' files (:mod:`.split`) are added under ``split/``."""
    with paused_gc():
        yield from _render_iter(catalog, fmt, intervals, dashboards=dashboards, stage_in=stage_in, rulers=rulers)
        if split is not None:
            yield from split_files(catalog, split, intervals).items()


def _render_iter(catalog: Catalog, fmt: OutputFormat, intervals: Intervals, *, dashboards: bool,
                 stage_in: Stage | None, rulers: RulerOptions) -> Iterator[tuple[str, str | Placed]]:
    services = _services(catalog)
    commitments = covered(catalog)
    calendar_group = compile_calendars(catalog, intervals, agreement_periods(catalog, commitments),
                                       mask_zones(catalog, commitments))
    split = len(catalog.slos) >= PARALLEL_SLOS
    # The agreements' rules are one piece, claimed first, so that the other process takes more services meanwhile.
    agreements: tuple[None, ...] = (None,) if commitments else ()
    chunks: tuple[Share | None, ...] = agreements + (_chunks(services) if split else (tuple(services),))
    claims = Claims(len(chunks))
    options = (fmt, intervals, dashboards, calendar_group is not None, rulers)
    other = Twofold(_compile_share, _Job(chunks, claims, catalog, *options, stage_in), enabled=split)
    alerts: dict[str, Any] = {}
    shares: list[AlertmanagerShare | None] = []
    done: list[tuple[Service, tuple[SLO, ...]]] = []
    try:
        for index in claims:
            piece = chunks[index]
            if piece is None:
                yield from agreement_files(catalog, fmt, intervals, rulers)
                continue
            for service, slos in piece:
                compiled = compile_service(service, slos, intervals, self_contained=fmt.self_contained)
                alerts.update((slo.id, alerts_of(groups)) for slo, groups in compiled)
                done.append((service, slos))
                yield from service_files(service, compiled, fmt=fmt, dashboards=dashboards,
                                         calendars=calendar_group is not None, rulers=rulers)
        their_files: list[tuple[str, str | Placed]] = []
        if split:
            shares.append(alertmanager_share(done, alerts))  # while the worker finishes its last piece
            their_alerts, their_share, their_files = other.result()
            alerts.update(their_alerts)
            shares.append(their_share)
        yield from render_alertmanager(catalog, AlertmanagerOptions(), alerts, shares).items()
        yield from their_files
    finally:
        other.cancel()
    if calendar_group is not None:
        path, text = c.rules_file(c.CALENDAR_FILE_STEM), render_rule_file((calendar_group,))
        yield path, text
        yield from ruler_files(fmt, path, (calendar_group,), rulers)
    if dashboards:
        yield from render_shared_dashboards(catalog).items()


#: About how many SLOs one claimed piece of work holds: small enough that the two processes end within a
#: fraction of a second of each other, large enough that claiming costs nothing.
CHUNK_SLOS = 25


def agreement_files(catalog: Catalog, fmt: OutputFormat, intervals: Intervals,
                    rulers: RulerOptions) -> list[tuple[str, str]]:
    """The agreements' breach-risk rules file (and the same groups in the format's ruler files)."""
    groups = compile_agreements(catalog, intervals)
    if not groups:
        return []
    path = c.rules_file(c.AGREEMENTS_FILE_STEM)
    return [(path, render_rule_file(groups)), *ruler_files(fmt, path, groups, rulers)]


def _chunks(services: list[tuple[Service, tuple[SLO, ...]]]) -> tuple[Share, ...]:
    """Consecutive whole services, about :data:`CHUNK_SLOS` SLOs a group."""
    chunks: list[Share] = []
    current: list[tuple[Service, tuple[SLO, ...]]] = []
    size = 0
    for service, slos in services:
        current.append((service, slos))
        size += len(slos)
        if size >= CHUNK_SLOS:
            chunks.append(tuple(current))
            current, size = [], 0
    if current:
        chunks.append(tuple(current))
    return tuple(chunks)


def _compile_share(job: _Job, early: Any) -> tuple[dict[str, Any], AlertmanagerShare | None,
                                                    list[tuple[str, str | Placed]]]:
    """A worker's part: compile the pieces it claims and write their files (into the new generation when the
    job says where, on a thread so the writing overlaps compiling); hand back their alerts, their part of the
    Alertmanager configuration and the files."""
    alerts: dict[str, Any] = {}
    done: list[tuple[Service, tuple[SLO, ...]]] = []
    files: list[tuple[str, str | Placed | Future[Placed]]] = []
    made: set[Path] = set()  # the directories this worker's writing thread has made (see place)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sloengine-worker-writer") as pool:
            backlog = Backlog(pool)
            for index in job.claims:
                piece = job.chunks[index]
                if piece is None:
                    for path, text in agreement_files(job.catalog, job.fmt, job.intervals, job.rulers):
                        files.append((path, text if job.stage_in is None else backlog.submit(place, job.stage_in,
                                                                                           path, text, made)))
                    continue
                for service, slos in piece:
                    compiled = compile_service(service, slos, job.intervals,
                                               self_contained=job.fmt.self_contained)
                    alerts.update((slo.id, alerts_of(groups)) for slo, groups in compiled)
                    done.append((service, slos))
                    for path, text in service_files(service, compiled, fmt=job.fmt, dashboards=job.dashboards,
                                                    calendars=job.calendars, rulers=job.rulers):
                        files.append((path, text if job.stage_in is None else backlog.submit(place, job.stage_in,
                                                                                           path, text, made)))
        out = [(path, item.result() if isinstance(item, Future) else item) for path, item in files]
    except BaseException:
        for _, item in files:
            with contextlib.suppress(BaseException):
                placed = item.result() if isinstance(item, Future) else item
                if isinstance(placed, Placed):
                    placed.path.unlink(missing_ok=True)
        raise
    return alerts, alertmanager_share(done, alerts), out


Compiled = tuple[tuple[SLO, tuple[RuleGroup, RuleGroup]], ...]


def compile_service(service: Service, slos: Sequence[SLO], intervals: Intervals = Intervals(), *,
                    self_contained: bool = False) -> Compiled:
    """Each SLO of one service with its (fast, slow) rule groups: the one place an SLO is compiled."""
    return tuple((slo, compile_slo(slo, service, intervals, self_contained=self_contained)) for slo in slos)


def service_files(service: Service, compiled: Compiled, *, fmt: OutputFormat = OutputFormat.PROMETHEUS,
                  dashboards: bool = True, calendars: bool = False,
                  rulers: RulerOptions = RulerOptions()) -> list[tuple[str, str]]:
    """Everything generated for one compiled service: its rules file (and the same groups in the format's
    ruler files), its promtool tests and its dashboard."""
    groups = tuple(g for _, pair in compiled for g in pair)
    path = c.rules_file(service.name)
    files = [(path, render_rule_file(groups))]
    files.extend(ruler_files(fmt, path, groups, rulers))
    files.append(render_service_tests(CompiledService(service.name, compiled), calendars))
    if dashboards:
        slos = tuple(slo for slo, _ in compiled)
        files.extend(render_service_dashboard(Catalog(services=(service,), slos=slos), service.name).items())
    return files


def ruler_files(fmt: OutputFormat, path: str, groups: tuple[RuleGroup, ...],
                rulers: RulerOptions) -> list[tuple[str, str]]:
    """The files of ``fmt``'s ruler holding a rules file's groups (none for plain Prometheus)."""
    if fmt is OutputFormat.PROMETHEUS_OPERATOR:
        return [_operator_file(path, groups)]
    if fmt is OutputFormat.MIMIR:
        return [mimir_file(path, groups, rulers)]
    if fmt is OutputFormat.THANOS:
        return [thanos_file(path, groups, rulers)]
    if fmt is OutputFormat.VMALERT:
        return [vmalert_file(path, groups)]
    if fmt is OutputFormat.VMRULE:
        return [vmrule_file(path, groups)]
    if fmt is OutputFormat.GMP:
        return [gmp_file(path, groups)]
    return []


def _operator_file(path: str, groups: tuple[RuleGroup, ...]) -> tuple[str, str]:
    """The prometheus-operator ``PrometheusRule`` object holding a rules file's groups."""
    stem = Path(path).name.removesuffix(".rules.yml")
    name = "sloengine-" + stem.strip("_").replace("_", "-")
    return f"{c.OPERATOR_DIR}/{stem}.prometheusrule.yml", render_prometheus_rule(name, groups)


def _services(catalog: Catalog) -> list[tuple[Service, tuple[SLO, ...]]]:
    """Each service with SLOs (declared, or implied by its SLOs) and its SLOs in catalogue order."""
    slos: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        slos.setdefault(slo.service, []).append(slo)
    declared = {s.name: s for s in catalog.services}
    return [(declared.get(name) or Service(name), tuple(members)) for name, members in slos.items()]


def _our_dashboard(path: Path) -> bool:
    try:
        return DASHBOARD_TAG in json.loads(path.read_text(encoding="utf-8")).get("tags", [])
    except (OSError, ValueError, AttributeError):
        return False


_OUR_DIRS = (c.RULES_DIR, c.TESTS_DIR, c.OPERATOR_DIR, c.MIMIR_DIR, c.THANOS_DIR, c.VMALERT_DIR, c.VMRULE_DIR,
             c.GMP_DIR, c.ALERTMANAGER_DIR, c.DASHBOARD_PROVISIONING_DIR, c.LEAF_DIR, c.GLOBAL_DIR)


def generated_here(out: Path, path: Path) -> bool:
    """Whether ``path`` (under ``out``) is a file an earlier ``generate`` wrote: one of our dashboards (by its
    tag), or a YAML file in one of our directories that starts with our header."""
    relative = path.relative_to(out)
    folder = relative.parent.as_posix()
    if folder == c.DASHBOARDS_DIR and path.suffix == ".json":
        return _our_dashboard(path)
    if folder not in _OUR_DIRS or path.suffix not in (".yml", ".yaml"):
        return False
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(len(HEADER)) == HEADER
    except OSError:
        return False


def stale_files(out: Path, keep: Collection[str]) -> list[Path]:
    """Files under ``out`` that an earlier run generated (our header, or our dashboards' tag) and this run does not."""
    found = []
    for folder in (c.DASHBOARDS_DIR, *_OUR_DIRS):
        root = out / folder
        if root.is_dir():
            found += [p for p in sorted(root.iterdir()) if p.is_file() and p.relative_to(out).as_posix() not in keep
                      and generated_here(out, p)]
    return sorted(found)


def write(out: Path, files: Mapping[str, str] | Iterable[tuple[str, str | Placed]]) -> Committed:
    """Replace ``out`` with a new generation holding ``files`` (a mapping, or a stream from :func:`render_iter`
    whose staged entries went to :attr:`Generation.stage`): the files of the new generation, our files an earlier
    run wrote and this one does not are dropped, anything else in ``out`` is kept."""
    with Generation(out) as generation:
        generation.write(files)
        return generation.commit(lambda path: generated_here(generation.out, path))


def write_catalog(out: Path, catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
                  intervals: Intervals = Intervals(), *, dashboards: bool = True,
                  rulers: RulerOptions = RulerOptions(), split: Topology | None = None) -> Committed:
    """What ``sloengine generate`` does: render everything for ``catalog`` and swap it into ``out`` as one
    generation (a forked worker writes its share of the files into the new generation itself)."""
    with Generation(out) as generation:
        generation.write(render_iter(catalog, fmt, intervals, dashboards=dashboards, stage_in=generation.stage,
                                     rulers=rulers, split=split))
        return generation.commit(lambda path: generated_here(generation.out, path))
