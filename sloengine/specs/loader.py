"""Load spec files of any supported format into one :class:`~sloengine.model.slo.Catalog`.

Each YAML document is handed to the reader whose ``detect`` claims it; a
document nobody claims is rejected with the reason we can tell (a Prometheus
rule file, a Kubernetes CRD, an OpenSLO version we do not read, ...), never
skipped in silence. Readers see all documents of their format at once because
OpenSLO objects refer to each other across files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..model import conventions
from ..model.diagnostics import Diagnostic, Level, Position, SpecError
from ..model.gcpause import paused_gc
from ..model.parallel import split_map
from ..model.slo import SLO, Catalog, Service, SourceFormat
from .importers import native, openslo, pyrra, sloth
from .importers.base import Context
from .validation import check_catalog
from .yamlsource import Document, load_file

READERS: tuple[ModuleType, ...] = (native, sloth, pyrra, openslo)


@dataclass(frozen=True)
class LoadResult:
    catalog: Catalog
    diagnostics: tuple[Diagnostic, ...]
    files: tuple[str, ...]
    formats: tuple[tuple[str, SourceFormat], ...] = field(default=())

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.level is Level.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.level is Level.WARNING)

    @property
    def ok(self) -> bool:
        return not self.errors


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand files and directories (recursively, ``*.yaml``/``*.yml``) in a stable order."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in conventions.SPEC_SUFFIXES)
            if not found:
                problems.append(Diagnostic(Level.ERROR, Position(str(path)), "",
                                           "no .yaml or .yml files in this directory",
                                           "point at a spec file or a directory that holds some"))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Diagnostic(Level.ERROR, Position(str(path)), "", "no such file or directory",
                                       "check the path"))
    unique = list(dict.fromkeys(files))
    return unique, problems


def _split(doc: Document) -> list[Document]:
    """A top-level list of objects (as OpenSLO's SDK writes them) is one document per item."""
    if isinstance(doc.data, list) and doc.data and all(isinstance(item, dict) for item in doc.data):
        return [doc.sub((i,)) for i in range(len(doc.data))]
    return [doc]


def _reject_reason(data: object) -> tuple[str, str, tuple]:
    """Why a document is not an SLO spec we read: (message, fix, field path)."""
    if not isinstance(data, dict):
        return ("this document is not a mapping, so it cannot be an SLO spec",
                f"start the file with apiVersion: {conventions.API_VERSION}", ())
    api = str(data.get("apiVersion", ""))
    kind = str(data.get("kind", ""))
    if "groups" in data and not api:
        return ("this is a Prometheus rule file (it has 'groups:'), not an SLO spec",
                "give sloengine the SLO spec the rules were generated from", ("groups",))
    if kind == "PrometheusRule":
        return ("this is a prometheus-operator PrometheusRule, not an SLO spec",
                "give sloengine the SLO spec the rules were generated from", ("kind",))
    if kind == "CustomResourceDefinition":
        return ("this is a Kubernetes CustomResourceDefinition, not an SLO spec", "leave CRDs out of the paths",
                ("kind",))
    if api.startswith("sloth.slok.dev/") and kind == "AlertWindows":
        return ("a Sloth AlertWindows catalog holds alert windows, not SLOs",
                "set the windows per SLO under alerting.conditions in the sloengine spec", ("kind",))
    if api.startswith(("openslo/", "openslo.com/")):
        return (f"OpenSLO {api.split('/', 1)[1]} ({api}) is not supported",
                "sloengine reads openslo/v1 and openslo/v1alpha", ("apiVersion",))
    if api.startswith("sloth.slok.dev/"):
        return (f"Sloth kind {kind!r} in {api} is not supported",
                "sloengine reads Sloth's PrometheusServiceLevel (sloth.slok.dev/v1) and prometheus/v1 files", ("kind",))
    if api.startswith("pyrra.dev/"):
        return (f"Pyrra {api} kind {kind!r} is not supported",
                "sloengine reads pyrra.dev/v1alpha1 ServiceLevelObjective", ("apiVersion",))
    if "scrape_configs" in data or "rule_files" in data or "global" in data:
        return ("this is a Prometheus server configuration, not an SLO spec", "leave it out of the paths", ())
    if "version" in data:
        return (f"unknown spec version {data.get('version')!r}",
                f"use apiVersion: {conventions.API_VERSION}, or Sloth's version: prometheus/v1", ("version",))
    if api:
        return (f"unknown apiVersion {api!r}",
                f"use {conventions.API_VERSION}, openslo/v1, openslo/v1alpha, sloth.slok.dev/v1 or pyrra.dev/v1alpha1",
                ("apiVersion",))
    return ("this document has no apiVersion, so its format is unknown",
            f"start it with apiVersion: {conventions.API_VERSION} (or a Sloth/OpenSLO/Pyrra header)", ())


#: From this many files on, half of them are parsed (and native specs read) in a second process.
PARALLEL_FILES = 200


@dataclass
class _File:
    """One file's outcome: native documents already read (their services, SLOs and diagnostics); the
    documents other readers take together (Sloth, OpenSLO and Pyrra resolve references across files),
    by reader index; and the formats seen."""

    services: list[Service] = field(default_factory=list)
    slos: list[SLO] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    deferred: list[tuple[int, Document]] = field(default_factory=list)
    formats: list[SourceFormat] = field(default_factory=list)


def _read_files(paths: Sequence[Path]) -> list[_File]:
    """Parse each file and read its native documents; everything a file did wrong is in its diagnostics."""
    out = []
    for path in paths:
        result = _File()
        out.append(result)
        try:
            documents = load_file(path)
        except SpecError as exc:
            result.diagnostics.extend(exc.diagnostics)
            continue
        if not documents:
            result.diagnostics.append(Diagnostic(Level.ERROR, Position(str(path), 1, 1), "", "the file is empty",
                                                 f"add an SLO spec (apiVersion: {conventions.API_VERSION})"))
        for doc in (d for whole in documents for d in _split(whole)):
            index = next((i for i, r in enumerate(READERS) if r.detect(doc.data)), None)
            if index is None:
                message, fix, where = _reject_reason(doc.data)
                ctx = Context(doc)
                ctx.error(where, message, fix)
                result.diagnostics.extend(ctx.diagnostics)
                continue
            result.formats.append(READERS[index].FORMATS[0])
            if READERS[index] is native:
                ctx = Context(doc)
                read = native.read([ctx])
                result.services.extend(read.services)
                result.slos.extend(read.slos)
                result.diagnostics.extend(ctx.diagnostics)
            else:
                result.deferred.append((index, doc))
    return out


def load(paths: Sequence[str | Path]) -> LoadResult:
    """Read every spec under ``paths``; never raises for problems in the files."""
    with paused_gc():
        return _load(paths)


def _load(paths: Sequence[str | Path]) -> LoadResult:
    files, diagnostics = discover(paths)
    by_reader: dict[ModuleType, list[Context]] = {reader: [] for reader in READERS}
    formats: list[tuple[str, SourceFormat]] = []
    services: list[Service] = []
    slos: list[SLO] = []
    for path, result in zip(files, split_map(_read_files, files, minimum=PARALLEL_FILES)):
        diagnostics.extend(result.diagnostics)
        services.extend(result.services)
        slos.extend(result.slos)
        formats.extend((str(path), f) for f in result.formats)
        for index, doc in result.deferred:
            by_reader[READERS[index]].append(Context(doc))
    for reader, contexts in by_reader.items():
        if not contexts:
            continue
        read = reader.read(contexts)
        services.extend(read.services)
        slos.extend(read.slos)
        for ctx in contexts:
            diagnostics.extend(ctx.diagnostics)
    catalog, problems = check_catalog(services, slos, [str(f) for f in files])
    diagnostics.extend(problems)
    ordered = tuple(sorted(set(diagnostics), key=Diagnostic.sort_key))
    return LoadResult(catalog, ordered, tuple(str(f) for f in files), tuple(dict.fromkeys(formats)))


def load_or_raise(paths: Sequence[str | Path]) -> Catalog:
    """Load and raise :class:`SpecError` if any error was found (for commands that need a clean model)."""
    result = load(paths)
    if result.errors:
        raise SpecError(result.diagnostics)
    return result.catalog
