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
from typing import Collection, Iterable, Iterator, Mapping

import yaml

from . import conventions as c
from .alerttests import render_tests
from .dashboards import DASHBOARD_TAG, UID_PREFIX, render_service_dashboard, render_shared_dashboards, service_uid
from .escalation import AlertmanagerOptions, render_alertmanager
from .model import SLO, Catalog, Service
from .rulefiles import HEADER, LOADER, render_prometheus_rule_document, render_rule_file
from .rules import Intervals, compile_calendars, compile_catalog
from .parallel import Background
from .stamps import Stamp, Unit, stamp_all
from .writer import write_tree


#: From this many SLOs on, the Alertmanager configuration is rendered in a second process.
PARALLEL_SLOS = 1000


class OutputFormat(enum.Enum):
    PROMETHEUS = "prometheus"
    PROMETHEUS_OPERATOR = "prometheus-operator"


def render(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
           intervals: Intervals = Intervals(), *, dashboards: bool = True) -> dict[str, str]:
    """Every generated file by relative path, sorted."""
    return dict(sorted(render_iter(catalog, fmt, intervals, dashboards=dashboards)))


def render_iter(catalog: Catalog, fmt: OutputFormat = OutputFormat.PROMETHEUS,
                intervals: Intervals = Intervals(), *, dashboards: bool = True) -> Iterator[tuple[str, str]]:
    """:func:`render` as a stream of (path, text), each service's files as soon as they are ready, so that
    writing them can overlap rendering the next and a large catalogue is never held in memory at once."""
    stamps = stamp_all(_services(catalog), _plain_uid)
    # The Alertmanager configuration needs every SLO and costs about as much as all per-service files
    # together: with many SLOs a forked worker renders it meanwhile (from the same stamps).
    alertmanager = Background(render_alertmanager, catalog, AlertmanagerOptions(), stamps,
                              enabled=len(catalog.slos) >= PARALLEL_SLOS)
    try:
        yield from _rendered(catalog, stamps, fmt, intervals, dashboards)
        yield from alertmanager.result().items()
    finally:
        alertmanager.cancel()


def _rendered(catalog: Catalog, stamps: Mapping[str, Stamp], fmt: OutputFormat, intervals: Intervals,
              dashboards: bool) -> Iterator[tuple[str, str]]:
    """Every file but the Alertmanager configuration."""
    operator = fmt is OutputFormat.PROMETHEUS_OPERATOR
    rendered: dict[int, dict[str, str]] = {}
    for stamp in stamps.values():
        if id(stamp.unit) not in rendered:
            rendered[id(stamp.unit)] = service_files(stamp.unit, intervals, dashboards=dashboards)
        for path, text in rendered[id(stamp.unit)].items():
            path, text = stamp.restore(path), stamp.restore(text)
            yield path, text
            if operator and path.startswith(c.RULES_DIR + "/"):
                yield _operator_file(path, text)
    calendars = compile_calendars(catalog, intervals)
    if calendars is not None:
        path, text = c.rules_file(c.CALENDAR_FILE_STEM), render_rule_file((calendars,))
        yield path, text
        if operator:
            yield _operator_file(path, text)
    if dashboards:
        yield from render_shared_dashboards(catalog).items()


def _operator_file(path: str, text: str) -> tuple[str, str]:
    """The prometheus-operator ``PrometheusRule`` object holding a rendered rules file's groups."""
    stem = Path(path).name.removesuffix(".rules.yml")
    name = "sloengine-" + stem.strip("_").replace("_", "-")
    document = yaml.load(text, Loader=LOADER)
    return f"{c.OPERATOR_DIR}/{stem}.prometheusrule.yml", render_prometheus_rule_document(name, document)


def _services(catalog: Catalog) -> list[tuple[Service, tuple[SLO, ...]]]:
    """Each service with SLOs (declared, or implied by its SLOs) and its SLOs in catalogue order."""
    slos: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        slos.setdefault(slo.service, []).append(slo)
    declared = {s.name: s for s in catalog.services}
    return [(declared.get(name) or Service(name), tuple(members)) for name, members in slos.items()]


def _plain_uid(service: str) -> bool:
    return service_uid(service) == UID_PREFIX + service


def service_files(unit: Unit, intervals: Intervals = Intervals(), *, dashboards: bool = True) -> dict[str, str]:
    """Everything generated for one service: its rules file, its promtool tests and its dashboard."""
    own = Catalog(services=(unit.service,), slos=unit.slos)
    rule_texts = {path: render_rule_file(groups) for path, groups in compile_catalog(own, intervals).items()}
    path = c.rules_file(unit.service.name)
    files = {path: rule_texts[path]}
    files.update(render_tests(own, rule_texts))
    if dashboards:
        files.update(render_service_dashboard(own, unit.service.name))
    return files


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
