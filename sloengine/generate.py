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
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import conventions as c
from .alerttests import CompiledService, render_service_tests
from .dashboards import DASHBOARD_TAG, render_service_dashboard, render_shared_dashboards
from .escalation import AlertmanagerOptions, alerts_of, render_alertmanager
from .model import SLO, Catalog, Service
from .parallel import Background
from .rulefiles import HEADER, render_prometheus_rule, render_rule_file
from .rules import Intervals, RuleGroup, compile_calendars, compile_slo
from .writer import write_tree

#: From this many SLOs on, half of the services are compiled in a second process.
PARALLEL_SLOS = 1000


class OutputFormat(enum.Enum):
    PROMETHEUS = "prometheus"
    PROMETHEUS_OPERATOR = "prometheus-operator"


def render(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
           intervals: Intervals = Intervals(), *, dashboards: bool = True) -> dict[str, str]:
    """Every generated file by relative path, sorted."""
    return dict(sorted(render_iter(catalog, fmt, intervals, dashboards=dashboards)))


@dataclass(frozen=True)
class _Job:
    """What compiling one share of the services needs (handed to a forked worker as is)."""

    services: tuple[tuple[Service, tuple[SLO, ...]], ...]
    fmt: OutputFormat
    intervals: Intervals
    dashboards: bool
    calendars: bool


def render_iter(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
                intervals: Intervals = Intervals(), *, dashboards: bool = True) -> Iterator[tuple[str, str]]:
    """:func:`render` as a stream of (path, text), each service's files as soon as they are ready, so that
    writing them can overlap compiling the next.

    Each SLO is compiled once; its rule groups make its rules file, its alert tests, its PrometheusRule and
    (as the labels of its alerts) its Alertmanager routes. With many SLOs a forked worker compiles every
    other service meanwhile."""
    services = _services(catalog)
    calendar_group = compile_calendars(catalog, intervals)
    jobs = [_Job(tuple(services[k::2]), fmt, intervals, dashboards, calendar_group is not None) for k in (0, 1)]
    other = Background(_compile_share, jobs[1], enabled=len(catalog.slos) >= PARALLEL_SLOS)
    alerts: dict[str, Any] = {}
    try:
        if other.running:
            for path, text in _compile_share_iter(jobs[0], alerts):
                yield path, text
            files, more = other.result()
            alerts.update(more)
            yield from files
        else:
            for service in services:
                yield from _compile_share_iter(replace(jobs[0], services=(service,)), alerts)
    finally:
        other.cancel()
    if calendar_group is not None:
        path, text = c.rules_file(c.CALENDAR_FILE_STEM), render_rule_file((calendar_group,))
        yield path, text
        if fmt is OutputFormat.PROMETHEUS_OPERATOR:
            yield _operator_file(path, (calendar_group,))
    if dashboards:
        yield from render_shared_dashboards(catalog).items()
    yield from render_alertmanager(catalog, AlertmanagerOptions(), alerts).items()


def _compile_share(job: _Job) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    alerts: dict[str, Any] = {}
    return list(_compile_share_iter(job, alerts)), alerts


def _compile_share_iter(job: _Job, alerts: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for service, slos in job.services:
        yield from service_files(service, slos, job.intervals, fmt=job.fmt, dashboards=job.dashboards,
                                 calendars=job.calendars, alerts=alerts)


def service_files(service: Service, slos: Sequence[SLO], intervals: Intervals = Intervals(), *,
                  fmt: OutputFormat = OutputFormat.PROMETHEUS, dashboards: bool = True, calendars: bool = False,
                  alerts: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Everything generated for one service: its rules file (and PrometheusRule), its promtool tests and its
    dashboard. Each SLO is compiled here, once; ``alerts`` receives each SLO's alert labels for Alertmanager."""
    compiled = tuple((slo, compile_slo(slo, service, intervals)) for slo in slos)
    groups = tuple(g for _, pair in compiled for g in pair)
    path = c.rules_file(service.name)
    files = [(path, render_rule_file(groups))]
    if fmt is OutputFormat.PROMETHEUS_OPERATOR:
        files.append(_operator_file(path, groups))
    tests = render_service_tests(CompiledService(service.name, compiled), calendars)
    if tests is not None:
        files.append(tests)
    if dashboards:
        files.extend(render_service_dashboard(Catalog(services=(service,), slos=tuple(slos)), service.name).items())
    if alerts is not None:
        alerts.update((slo.id, alerts_of(pair)) for slo, pair in compiled)
    return files


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


def stale_files(out: Path, keep: Collection[str]) -> list[Path]:
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


def write(out: Path, files: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[list[Path], list[Path]]:
    """Write all files atomically (a mapping, or a stream from :func:`render_iter`), then remove stale
    generated ones; returns (written, removed)."""
    written = write_tree(out, files)
    keep = {path.relative_to(out).as_posix() for path in written}
    removed = stale_files(out, keep)
    for path in removed:
        path.unlink()
    return written, removed
