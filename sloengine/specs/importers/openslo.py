"""OpenSLO ``openslo/v1`` and ``openslo/v1alpha`` documents, read into the model.

OpenSLO spreads one SLO over objects that name each other (an SLO names its
SLI and AlertPolicies, a policy its AlertConditions, a metric source its
DataSource), often across files. So :func:`read` takes every OpenSLO document
of a run at once, indexes the objects by kind and name, reads each object once
(in input order, whether or not an SLO uses it, so a broken SLI file is
reported even when nothing refers to it yet) and assembles SLOs from the
pieces. References resolve across every document of the run; a reference
to a missing object names the closest known one, and one to a broken object
says where that object's errors are. A user's mistake never raises: it
becomes a diagnostic (with a fix) on the field at fault, the object is
skipped, and reading goes on.

How OpenSLO maps onto the model, where the two differ:

* Strictness. What the v1 schema requires, this reader requires (an
  AlertCondition's ``severity`` and ``condition``, an AlertPolicy's single
  condition and its ``notificationTargets``, a notification ``target``,
  descriptions of at most 1050 characters), so a file accepted here is valid
  OpenSLO elsewhere too. Object names (``metadata.name``, also of inline
  objects) must be RFC 1123 DNS labels, as OpenSLO's validator requires: at
  most 63 lowercase letters, digits and ``-``, starting and ending with a
  letter or digit; the error suggests the normalised name. A misnamed object
  is still indexed, so references to it say where its error is. ``op`` and
  ``value`` compare a ``thresholdMetric``'s samples with a threshold;
  OpenSLO's validator forbids them on the objectives of an inline
  ``ratioMetric``, and this reader also when the SLI is referenced (the
  validator cannot see it there). v1alpha's validator requires ``value`` on
  every objective, so there only ``op`` is refused and ``value`` is warned
  as ignored. Unknown keys are errors with a did-you-mean: a misspelt field
  would otherwise be silently ignored. ``openslo/v1alpha``
  only has the Service and SLO kinds.
* Services become :class:`~sloengine.model.slo.Service`; the description is
  ``spec.description``, else ``metadata.displayName``. An SLO's
  ``spec.service`` need not name a Service object (none is made up for it);
  two objects of one kind may not share a name. Display names are
  display text: an SLO's description falls back to its displayName, then
  to its objective's; the model has no other place for them.
* The model has one objective per SLO. An SLO with one objective keeps its
  ``metadata.name``; with several, each becomes an SLO named
  ``<name>-<slug of the objective's displayName>`` when every objective has a
  distinct one, otherwise ``<name>-<index>`` (from 0, as Sloth does), and a
  warning lists the new names.
* ``target`` is a fraction in (0, 1) and ``targetPercent`` a percentage in
  (0, 100); never both. 100% leaves no error budget, so it is refused.
* Windows: a rolling ``timeWindow`` (``isRolling: true``, or no calendar) is a
  :class:`RollingWindow`; rolling months, quarters and years are taken as
  30, 90 and 365 days (warned). A calendar window (a ``calendar`` block, or
  ``isRolling: false``) must be exactly ``1w``, ``1M`` or ``1Q``: the engine
  has calendar weeks, months and quarters only. Calendar periods start at
  00:00 on a Monday, the 1st, or a quarter's first day in ``timeZone``; a
  ``startTime`` that is no such start is ignored with a warning. No window at
  all (allowed by v1) means a rolling 30 days, warned. OpenSLO durations use
  ``m`` for minutes and ``M`` for months; the error for a calendar ``1m`` says so.
* ``budgetingMethod: Occurrences`` is what the engine computes. ``Timeslices``
  and ``RatioTimeslices`` are imported as occurrences with a warning: the
  objective then counts good events among all events over the window, and
  ``timeSliceTarget``/``timeSliceWindow`` are ignored.
* SLIs: Prometheus only (the type may come from a referenced DataSource).
  ``ratioMetric`` good|bad and total whose queries are both plain selectors
  or ``sum [by (...)] (selector)`` (counters), or both
  ``sum [by] (rate|increase(selector[{{.window}}]))``, become a
  :class:`RatioSLI` built from the selectors (so the compiler records them
  exactly); other queries that carry a window placeholder become a
  :class:`RawSLI` of event counts. A query with neither a placeholder nor a
  plain counter shape cannot be evaluated per window and is refused with the
  way to write it. Plain selectors need ``counter: true`` (v1alpha:
  ``counter`` or ``incremental``): unset is read as a counter with a warning,
  ``false`` (a gauge) is refused. ``raw`` with ``rawType: failure`` is the error ratio;
  with ``success`` the error ratio is ``1 - (query)``: the user's query is
  parsed alone, wrapped on its own lines, and the result re-parsed and
  checked to be exactly that subtraction. The wrapper keeps the user's text
  because promql-parser's printer drops the escapes in label values.
  ``thresholdMetric`` is refused: it judges single samples against a value,
  while the engine needs event counts (a histogram bucket gives them).
* Alerting: each ``burnrate`` condition becomes a :class:`BurnRateAlert` with
  ``lookbackWindow`` as the long window, a twelfth of it (whole minutes, at
  least 1m) as the short one, ``threshold`` as the burn factor and
  ``alertAfter`` as the ``for`` delay. Severity ``page``, ``critical`` or
  ``high`` pages; ``ticket``, ``warning``, ``medium``, ``low`` or ``info``
  files a ticket; anything else (``sev1``) is read as ticket with a warning.
  The engine alerts when the burn rate exceeds the threshold, so an ``lt``
  or ``lte`` op is warned about. A condition that needs more than a 100%
  error ratio to fire, or looks back further than the SLO period, is an
  error. Several policies on one SLO are merged (an empty or absent
  ``alertPolicies`` means none); an AlertPolicy's labels
  become its alerts' labels. Notification targets, ``alertWhenNoData`` and
  ``alertWhenResolved`` are warned about, not imported (routing and resolved
  notices belong to Alertmanager; a ``targetRef`` is therefore not
  resolved). An SLO without policies gets the
  workbook defaults scaled to its period.
* Metadata: labels of SLOs and Services carry over (a list value is joined
  with ``,`` and a key Prometheus cannot use is rewritten, both warned);
  labels of other kinds and all annotations are not carried (warned).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import promql_parser

from ...model.calendars import is_time_zone
from ...model.promql import (
    CHECK_WINDOW,
    LABEL_NAME,
    PromQLError,
    Selector,
    check_raw_query,
    counter_selector,
    has_window_placeholder,
    instant_counter_selector,
    parse,
    substitute_window,
    unparen,
)
from ...model.slo import (
    SLI,
    SLO,
    AlertPolicy,
    AlertSeverity,
    BurnRateAlert,
    CalendarUnit,
    CalendarWindow,
    Labels,
    RatioSLI,
    RawSLI,
    RollingWindow,
    Service,
    SourceFormat,
    Window,
)
from ..policy import condition as burn_condition
from ..policy import default_conditions
from ..yamlsource import KeyPath
from .base import Context, ImportResult

V1 = "openslo/v1"
V1ALPHA = "openslo/v1alpha"
FORMATS: tuple[SourceFormat, ...] = (SourceFormat.OPENSLO_V1, SourceFormat.OPENSLO_V1ALPHA)
_FORMAT = {V1: SourceFormat.OPENSLO_V1, V1ALPHA: SourceFormat.OPENSLO_V1ALPHA}

_KINDS: dict[str, tuple[str, ...]] = {
    V1: ("AlertCondition", "AlertNotificationTarget", "AlertPolicy", "DataSource", "SLI", "SLO", "Service"),
    V1ALPHA: ("SLO", "Service"),
}
_METADATA_KEYS = ("name", "displayName", "labels", "annotations")
_DESCRIPTION_LIMIT = 1050
_DAY = 86400
_DEFAULT_WINDOW = RollingWindow(30 * _DAY)

_SHORTHAND = re.compile(r"^([0-9]+)([mhdwMQY])$")
#: RFC 1123 DNS label: what OpenSLO's validator requires of every object name.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_FIXED_SECONDS = {"m": 60, "h": 3600, "d": _DAY, "w": 7 * _DAY}
_NOMINAL_SECONDS = {"M": 30 * _DAY, "Q": 90 * _DAY, "Y": 365 * _DAY}
_UNIT_WORDS = {"m": "minute", "h": "hour", "d": "day", "w": "week", "M": "month", "Q": "quarter", "Y": "year"}
_CALENDAR_UNITS = {"w": CalendarUnit.WEEK, "M": CalendarUnit.MONTH, "Q": CalendarUnit.QUARTER}
_ALPHA_UNITS = {
    "second": ("s", 1), "minute": ("m", 60), "hour": ("h", 3600), "day": ("d", _DAY), "week": ("w", 7 * _DAY),
    "month": ("M", None), "quarter": ("Q", None), "year": ("Y", None),
}
_DURATION_HINT = "write a number and one unit: m (minutes), h, d, w, M (months), Q (quarters) or Y, e.g. 30d or 1M"

_PAGE_WORDS = frozenset({"page", "critical", "high"})
_TICKET_WORDS = frozenset({"ticket", "warning", "medium", "low", "info"})
_BUDGETING = {"occurrences": "Occurrences", "timeslices": "Timeslices", "ratiotimeslices": "RatioTimeslices"}

_NO_WINDOW_HINT = (
    "write the range as [{{.window}}], e.g. sum(rate(http_requests_total{job=\"api\"}[{{.window}}])), "
    "or give only the counter's selector, e.g. http_requests_total{job=\"api\"}"
)


def detect(data: object) -> bool:
    """True for an OpenSLO v1 or v1alpha object of any kind (or a list made only of them)."""
    if isinstance(data, list):
        return bool(data) and all(detect(item) for item in data)
    return isinstance(data, dict) and data.get("apiVersion") in (V1, V1ALPHA)


def read(contexts: list[Context]) -> ImportResult:
    """Read every OpenSLO document of a run: services and SLOs, sorted; problems go to each context."""
    return _Reader(contexts).run()


@dataclass(frozen=True)
class _At:
    """A place in one document: where a value sits, and the sink for what is wrong with it."""

    ctx: Context = field(compare=False)
    path: KeyPath = ()

    def __truediv__(self, part: object) -> _At:
        return _At(self.ctx, self.path + (part,))

    def error(self, message: str, hint: str = "", *, key: bool = False) -> None:
        self.ctx.error(self.path, message, hint, key=key)

    def warn(self, message: str, hint: str = "", *, key: bool = False) -> None:
        self.ctx.warn(self.path, message, hint, key=key)

    def unknown(self, mapping: object, known: tuple[str, ...]) -> bool:
        """Report unknown keys of ``mapping``; True when there were any."""
        before = self.ctx.error_count
        self.ctx.unknown_keys(self.path, mapping, known)
        return self.ctx.error_count > before

    def where(self) -> str:
        return str(self.ctx.position(self.path))


@dataclass(frozen=True)
class _Obj:
    """One OpenSLO object, top-level or inline, with where it sits."""

    at: _At
    data: dict
    version: str
    kind: str
    name: str
    #: The name is not a DNS label (already reported): the object is indexed, so references find it, but never used.
    misnamed: bool = False

    @property
    def spec(self) -> Any:
        return self.data.get("spec")

    @property
    def metadata(self) -> dict:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class _Condition:
    """A burn-rate AlertCondition, before an SLO's period turns it into a :class:`BurnRateAlert`."""

    name: str
    severity: AlertSeverity
    long_seconds: int
    short_seconds: int
    factor: float
    for_seconds: int
    at: _At = field(compare=False)


@dataclass(frozen=True)
class _Policy:
    name: str
    on_breach: bool
    conditions: tuple[_Condition, ...]
    labels: Labels
    at: _At = field(compare=False)


@dataclass(frozen=True)
class _Objective:
    index: int
    percent: float
    display: str
    at: _At
    sli: SLI | None = None


@dataclass(frozen=True)
class _Shape:
    """What an event query looks like: a counter (selector), a raw windowed query, or unusable."""

    kind: str
    selector: Selector | None = None
    group_by: tuple[str, ...] = ()
    instant: bool = False


@dataclass(frozen=True)
class _Query:
    text: str
    at: _At


_PENDING = object()
_FAILED = object()


class _Reader:
    def __init__(self, contexts: list[Context]):
        self.contexts = contexts
        self.objects: list[_Obj] = []
        self.index: dict[tuple[str, str], _Obj] = {}
        self.built: dict[tuple[str, str], object] = {}
        self.services: list[Service] = []
        self.slos: list[SLO] = []
        self.slo_ids: dict[tuple[str, str], _At] = {}

    def run(self) -> ImportResult:
        for ctx in self.contexts:
            data = ctx.doc.data
            if isinstance(data, list):
                for i, item in enumerate(data):
                    self._collect(_At(ctx, (i,)), item)
            else:
                self._collect(_At(ctx, ()), data)
        for obj in self.objects:
            if obj.kind == "SLO":
                self.slos.extend(self._slo(obj))
            elif obj.kind == "Service":
                service = self._service(obj)
                if service is not None:
                    self.services.append(service)
            else:
                self._get(obj.kind, obj.name)
        return ImportResult(
            services=tuple(sorted(self.services, key=lambda s: s.name)),
            slos=tuple(sorted(self.slos, key=lambda s: (s.service, s.name))),
        )

    # ---- objects and references

    def _collect(self, at: _At, data: object) -> None:
        if not isinstance(data, dict):
            at.error("an OpenSLO object must be a mapping", "give apiVersion, kind, metadata and spec")
            return
        version = data.get("apiVersion")
        if not isinstance(version, str) or version not in _KINDS:
            (at / "apiVersion").error(
                f"apiVersion {version!r} is not one this reader knows", f"use {V1} (or {V1ALPHA})"
            )
            return
        kind = data.get("kind")
        if kind not in _KINDS[version]:
            kinds = _KINDS[version]
            if version == V1ALPHA and kind in _KINDS[V1]:
                hint = f"{kind} exists from {V1} on; set apiVersion: {V1}"
            else:
                hint = _did_you_mean(kind, kinds) or f"kinds of {version}: {', '.join(kinds)}"
            (at / "kind").error(f"kind {kind!r} is not an {version} kind", hint)
            return
        if at.unknown(data, ("apiVersion", "kind", "metadata", "spec")):
            return
        obj = self._named(at, data, version, kind)
        if obj is None:
            return
        first = self.index.get((kind, obj.name))
        if first is not None:
            (at / "metadata" / "name").error(
                f"another {kind} named {obj.name!r} is defined at {first.at.where()}",
                f"give each {kind} its own metadata.name",
            )
            return
        self.index[(kind, obj.name)] = obj
        self.objects.append(obj)

    def _named(self, at: _At, data: dict, version: str, kind: str, *, need_name: bool = True) -> _Obj | None:
        meta = data.get("metadata")
        if meta is None and not need_name:
            return _Obj(at, data, version, kind, "")
        if not isinstance(meta, dict):
            (at / "metadata").error(f"{_a(kind)} needs metadata with a name", "add metadata: {name: my-name}")
            return None
        if (at / "metadata").unknown(meta, _METADATA_KEYS):
            return None
        name = meta.get("name")
        if not isinstance(name, str) or not name.strip():
            if need_name or "name" in meta:
                (at / "metadata" / "name").error(f"{_a(kind)} needs metadata.name", "add name: <lowercase-dashed-name>")
                return None
            name = ""
        if meta.get("displayName") is not None and not isinstance(meta["displayName"], str):
            (at / "metadata" / "displayName").error("metadata.displayName must be a string", "quote it")
            return None
        name = name.strip()
        misnamed = bool(name) and not _DNS_LABEL.match(name)
        if misnamed:
            (at / "metadata" / "name").error(
                f"{kind} name {name!r} is not an RFC 1123 DNS label, which OpenSLO requires of object names: at most "
                "63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                f"rename it to {_dns_label(name, kind)!r}, and every reference to it",
            )
        return _Obj(at, data, version, kind, name, misnamed)

    def _inline(self, at: _At, data: object, version: str, kind: str) -> _Obj | None:
        """An object written inside another one (``kind`` given, no apiVersion)."""
        if not isinstance(data, dict):
            at.error(f"an inline {kind} must be a mapping", f"write kind: {kind}, metadata and spec")
            return None
        if at.unknown(data, ("kind", "metadata", "spec", "apiVersion")):
            return None
        if "apiVersion" in data and data["apiVersion"] != version:
            (at / "apiVersion").error(f"an inline {kind} must use the apiVersion of the object around it",
                                     f"write {version}, or leave apiVersion out")
            return None
        obj = self._named(at, data, version, kind)
        return None if obj is None or obj.misnamed else obj

    def _get(self, kind: str, name: str) -> object:
        """The read form of a named object (memoised), or ``_FAILED``."""
        key = (kind, name)
        if key in self.built:
            result = self.built[key]
            return _FAILED if result is _PENDING else result
        obj = self.index.get(key)
        if obj is None:
            return _FAILED
        self.built[key] = _PENDING
        builders: dict[str, Callable[[_Obj], object]] = {
            "SLI": self._sli_object,
            "DataSource": self._datasource,
            "AlertCondition": self._condition,
            "AlertPolicy": self._policy,
            "AlertNotificationTarget": self._target,
        }
        result = builders[kind](obj)
        self.built[key] = _FAILED if result is None or obj.misnamed else result
        return self.built[key]

    def _ref(self, at: _At, kind: str, name: object, *, what: str) -> object:
        """Resolve a reference written at ``at``; report a missing or broken target there."""
        if not isinstance(name, str) or not name.strip():
            at.error(f"{what} must name {_a(kind)}", f"write the {kind}'s metadata.name")
            return _FAILED
        name = name.strip()
        if (kind, name) not in self.index:
            names = sorted(n for k, n in self.index if k == kind)
            hint = _did_you_mean(name, names) or (
                f"known {kind} names: {', '.join(names)}" if names
                else f"define {_a(kind)} named {name!r} in the files read"
            )
            at.error(f"no {kind} named {name!r} in the files read", hint)
            return _FAILED
        result = self._get(kind, name)
        if result is _FAILED:
            at.error(
                f"{kind} {name!r} could not be read "
                f"(its errors are reported at {self.index[(kind, name)].at.where()})",
                f"fix {kind} {name!r} first",
            )
        return result

    # ---- metadata

    def _metadata(self, obj: _Obj, *, carry_labels: bool) -> Labels:
        meta_at = obj.at / "metadata"
        meta = obj.metadata
        if meta.get("annotations"):
            (meta_at / "annotations").warn(
                "annotations are not carried over: they are implementation metadata for other tools",
                key=True,
            )
        raw = meta.get("labels")
        if raw is None:
            return ()
        if not carry_labels:
            (meta_at / "labels").warn(
                f"labels of {_a(obj.kind)} are not carried over; only SLO, Service and AlertPolicy labels are",
                f"put labels to keep on the SLO that uses this {obj.kind}",
                key=True,
            )
            return ()
        return _labels(meta_at / "labels", raw)

    # ---- kinds read on their own

    def _service(self, obj: _Obj) -> Service | None:
        before = obj.at.ctx.error_count
        spec_at = obj.at / "spec"
        spec = obj.spec if obj.spec is not None else {}
        if not isinstance(spec, dict):
            spec_at.error("spec must be a mapping", "e.g. spec: {description: ...}")
            return None
        spec_at.unknown(spec, ("description",))
        description = _text(spec_at / "description", spec.get("description"))
        labels = self._metadata(obj, carry_labels=True)
        if obj.at.ctx.error_count > before or obj.misnamed:
            return None
        display = obj.metadata.get("displayName")
        return Service(
            name=obj.name,
            description=description or (display if isinstance(display, str) else ""),
            labels=labels,
            source=obj.at.ctx.position(obj.at.path),
        )

    def _datasource(self, obj: _Obj) -> str | None:
        spec_at = obj.at / "spec"
        spec = obj.spec
        self._metadata(obj, carry_labels=False)
        if not isinstance(spec, dict):
            spec_at.error("a DataSource needs a spec with its type", "add spec: {type: Prometheus}")
            return None
        before = obj.at.ctx.error_count
        spec_at.unknown(spec, ("description", "type", "connectionDetails"))
        _text(spec_at / "description", spec.get("description"))
        kind = spec.get("type")
        if not isinstance(kind, str) or not kind.strip():
            (spec_at / "type").error("a DataSource needs spec.type", "add type: Prometheus")
            return None
        return kind.strip() if obj.at.ctx.error_count == before else None

    def _target(self, obj: _Obj, *, inline: bool = False) -> str | None:
        spec_at = obj.at / "spec"
        spec = obj.spec
        self._metadata(obj, carry_labels=False)
        if not isinstance(spec, dict):
            spec_at.error("an AlertNotificationTarget needs a spec with its target", "add spec: {target: email}")
            return None
        before = obj.at.ctx.error_count
        spec_at.unknown(spec, ("description", "target"))
        _text(spec_at / "description", spec.get("description"))
        target = spec.get("target")
        if not isinstance(target, str) or not target.strip():
            (spec_at / "target").error(
                "an AlertNotificationTarget needs spec.target (where notifications go)", "add target: email (or slack)"
            )
            return None
        if obj.at.ctx.error_count > before:
            return None
        if inline:
            return target.strip()
        obj.at.warn(
            f"AlertNotificationTarget {obj.name!r} is not imported: sloengine's alerts go to Alertmanager, "
            "where receivers and routes are configured",
            "route on the alerts' labels (severity, service, slo) in Alertmanager",
        )
        return target.strip()

    def _condition(self, obj: _Obj) -> _Condition | None:
        before = obj.at.ctx.error_count
        spec_at = obj.at / "spec"
        spec = obj.spec
        self._metadata(obj, carry_labels=False)
        if not isinstance(spec, dict):
            spec_at.error(
                "an AlertCondition needs a spec with severity and condition",
                "e.g. spec: {severity: page, condition: {kind: burnrate, threshold: 14.4, lookbackWindow: 1h}}",
            )
            return None
        spec_at.unknown(spec, ("description", "severity", "condition"))
        _text(spec_at / "description", spec.get("description"))
        severity_raw = spec.get("severity")
        severity = None
        if not isinstance(severity_raw, str) or not severity_raw.strip():
            (spec_at / "severity").error(
                "an AlertCondition needs spec.severity", "add severity: page (or ticket)"
            )
        else:
            severity = _severity(spec_at / "severity", severity_raw)
        cond_at = spec_at / "condition"
        cond = spec.get("condition")
        if not isinstance(cond, dict):
            cond_at.error(
                "an AlertCondition needs spec.condition",
                "add condition: {kind: burnrate, threshold: 14.4, lookbackWindow: 1h, alertAfter: 2m}",
            )
            return None
        cond_at.unknown(cond, ("kind", "op", "threshold", "lookbackWindow", "alertAfter"))
        kind = cond.get("kind", "burnrate")
        if not isinstance(kind, str) or kind.strip().lower() != "burnrate":
            (cond_at / "kind").error(
                f"condition kind {kind!r} is not supported; only burnrate is", "use kind: burnrate"
            )
        op = cond.get("op")
        threshold = cond.get("threshold")
        if op is not None:
            if op in ("lt", "lte"):
                (cond_at / "op").warn(
                    f"op {op!r} would alert while the burn rate is below {threshold}; sloengine alerts when "
                    "the burn rate is above the threshold",
                    "use op: gt",
                )
            elif op not in ("gt", "gte"):
                (cond_at / "op").error(f"op {op!r} is not one of gt, gte, lt, lte", "use op: gt")
        factor = None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
            (cond_at / "threshold").error(
                f"threshold must be a positive burn rate, got {threshold!r}",
                "e.g. threshold: 14.4 fires when the budget burns 14.4 times faster than it can last",
            )
        else:
            factor = float(threshold)
        long_seconds = None
        if "lookbackWindow" not in cond:
            (cond_at / "lookbackWindow").error("a burnrate condition needs lookbackWindow", "e.g. lookbackWindow: 1h")
        else:
            long_seconds = _fixed_duration(cond_at / "lookbackWindow", cond["lookbackWindow"])
        for_seconds = 0
        if "alertAfter" in cond:
            parsed = _fixed_duration(cond_at / "alertAfter", cond["alertAfter"], allow_zero=True)
            for_seconds = parsed if parsed is not None else 0
        if obj.at.ctx.error_count > before or severity is None or factor is None or long_seconds is None:
            return None
        short_seconds = max(60, round(long_seconds / 12 / 60) * 60)
        return _Condition(
            obj.name, severity, long_seconds, min(short_seconds, long_seconds), factor, for_seconds,
            cond_at / "threshold",
        )

    def _policy(self, obj: _Obj) -> _Policy | None:
        before = obj.at.ctx.error_count
        spec_at = obj.at / "spec"
        spec = obj.spec
        labels = self._metadata(obj, carry_labels=True)
        if not isinstance(spec, dict):
            spec_at.error(
                "an AlertPolicy needs a spec with conditions and notificationTargets",
                "e.g. spec: {conditions: [{conditionRef: fast-burn}], notificationTargets: [{targetRef: on-call}]}",
            )
            return None
        spec_at.unknown(spec, (
            "description", "alertWhenNoData", "alertWhenResolved", "alertWhenBreaching", "conditions",
            "notificationTargets",
        ))
        _text(spec_at / "description", spec.get("description"))
        flags = {}
        for key in ("alertWhenNoData", "alertWhenResolved", "alertWhenBreaching"):
            value = spec.get(key)
            if value is not None and not isinstance(value, bool):
                (spec_at / key).error(f"{key} must be true or false, got {value!r}", f"write {key}: true or false")
            flags[key] = value
        if flags["alertWhenNoData"]:
            (spec_at / "alertWhenNoData").warn(
                "alertWhenNoData is not imported: sloengine raises no alert for missing data",
                "watch for absent series with a separate absent() alert",
            )
        if flags["alertWhenResolved"]:
            (spec_at / "alertWhenResolved").warn(
                "alertWhenResolved is not imported: resolved notices are sent by Alertmanager",
                "set send_resolved on the Alertmanager receiver",
            )
        on_breach = flags["alertWhenBreaching"] is not False
        if not on_breach:
            (spec_at / "alertWhenBreaching").warn(
                f"alertWhenBreaching is false, so AlertPolicy {obj.name!r} raises no burn-rate alert"
            )
        conditions = self._policy_conditions(spec_at / "conditions", spec.get("conditions"), obj.version)
        self._policy_targets(spec_at / "notificationTargets", spec.get("notificationTargets"), obj.version)
        if obj.at.ctx.error_count > before or conditions is None:
            return None
        return _Policy(obj.name, on_breach, conditions, labels, obj.at)

    def _policy_conditions(self, at: _At, items: object, version: str) -> tuple[_Condition, ...] | None:
        if not isinstance(items, list) or not items:
            at.error(
                "an AlertPolicy needs conditions: one conditionRef or inline AlertCondition",
                "add conditions: [{conditionRef: my-condition}]",
            )
            return None
        if len(items) > 1:
            at.error(
                f"an AlertPolicy holds one condition in OpenSLO v1, this one lists {len(items)}",
                "give each condition its own AlertPolicy and list them all in the SLO's alertPolicies",
            )
            return None
        item_at = at / 0
        item = items[0]
        if isinstance(item, dict) and "conditionRef" in item:
            item_at.unknown(item, ("conditionRef", "operator"))
            found = self._ref(item_at / "conditionRef", "AlertCondition", item.get("conditionRef"), what="conditionRef")
            return None if found is _FAILED else (found,)  # type: ignore[return-value]
        if isinstance(item, dict) and item.get("kind") == "AlertCondition":
            inline = self._inline(item_at, item, version, "AlertCondition")
            found = self._condition(inline) if inline is not None else None
            return None if found is None else (found,)
        item_at.error(
            "a condition is either {conditionRef: name} or an inline AlertCondition (kind, metadata, spec)",
            "write conditionRef: <AlertCondition name>",
        )
        return None

    def _policy_targets(self, at: _At, items: object, version: str) -> None:
        if not isinstance(items, list) or not items:
            at.error(
                "an AlertPolicy needs notificationTargets (OpenSLO requires at least one)",
                "add notificationTargets: [{targetRef: my-target}]",
            )
            return
        names = []
        for i, item in enumerate(items):
            if isinstance(item, dict) and "targetRef" in item:
                (at / i).unknown(item, ("targetRef",))
                ref = item.get("targetRef")
                if not isinstance(ref, str) or not ref.strip():
                    (at / i / "targetRef").error(
                        "targetRef must name an AlertNotificationTarget", "write its metadata.name"
                    )
                else:
                    names.append(ref.strip())
            elif isinstance(item, dict) and item.get("kind") == "AlertNotificationTarget":
                inline = self._inline(at / i, item, version, "AlertNotificationTarget")
                if inline is not None and self._target(inline, inline=True) is not None:
                    names.append(inline.name)
            else:
                (at / i).error(
                    "a notification target is either {targetRef: name} or an inline AlertNotificationTarget",
                    "write targetRef: <AlertNotificationTarget name>",
                )
        if names:
            shown = ", ".join(sorted(set(names)))
            at.warn(
                f"notification targets ({shown}) are not imported: sloengine's alerts are routed by Alertmanager",
                "route on the alerts' labels (severity, service, slo) in Alertmanager",
                key=True,
            )

    # ---- SLIs

    def _sli_object(self, obj: _Obj) -> SLI | None:
        self._metadata(obj, carry_labels=False)
        return self._sli_spec(obj.at / "spec", obj.spec, obj.kind)

    def _sli_spec(self, at: _At, spec: object, what: str = "SLI") -> SLI | None:
        if not isinstance(spec, dict):
            at.error(f"the {what} needs a spec with ratioMetric", "add spec: {ratioMetric: {...}}")
            return None
        before = at.ctx.error_count
        if "counter" in spec:
            (at / "counter").error(
                "counter belongs inside ratioMetric, not beside it", "move counter: true under ratioMetric", key=True
            )
        at.unknown({k: v for k, v in spec.items() if k != "counter"}, ("description", "ratioMetric", "thresholdMetric"))
        _text(at / "description", spec.get("description"))
        has_ratio, has_threshold = "ratioMetric" in spec, "thresholdMetric" in spec
        if has_ratio == has_threshold:
            at.error("an SLI has exactly one of ratioMetric and thresholdMetric", "keep ratioMetric")
            return None
        if has_threshold:
            _refuse_threshold(at / "thresholdMetric")
            return None
        sli = self._ratio_metric(at / "ratioMetric", spec["ratioMetric"])
        return sli if at.ctx.error_count == before else None

    def _ratio_metric(self, at: _At, rm: object) -> SLI | None:
        if not isinstance(rm, dict):
            at.error("ratioMetric must be a mapping", "give good (or bad) and total, or raw and rawType")
            return None
        at.unknown(rm, ("counter", "good", "bad", "total", "rawType", "raw"))
        counter = rm.get("counter")
        if counter is not None and not isinstance(counter, bool):
            (at / "counter").error(
                f"counter must be true or false, got {counter!r}", "write counter: true for counters"
            )
            return None
        if "raw" in rm:
            mixed = [k for k in ("good", "bad", "total") if k in rm]
            if mixed:
                (at / "raw").error(
                    f"raw is a precomputed ratio and can't be combined with {', '.join(mixed)}",
                    "keep either raw (with rawType) or good/bad with total",
                )
                return None
            raw_type = rm.get("rawType")
            if raw_type not in ("success", "failure"):
                (at / "rawType").error(
                    f"raw needs rawType success or failure, got {raw_type!r}",
                    "rawType: success if the query gives the good share, failure if it gives the error share",
                )
                return None
            query = self._v1_query(at / "raw", rm["raw"])
            if query is None:
                return None
            ratio = _error_ratio(query, success=raw_type == "success")
            return None if ratio is None else RawSLI(error_ratio=ratio)
        if "rawType" in rm:
            (at / "rawType").error("rawType only goes with raw", "remove rawType, or use raw instead of good/total")
            return None
        return self._good_bad_total(at, rm, counter, self._v1_query, "counter")

    def _good_bad_total(
        self, at: _At, rm: dict, counter: object, query_of: Callable[[_At, object], _Query | None], counter_key: str
    ) -> SLI | None:
        if "good" in rm and "bad" in rm:
            (at / "bad").error("give good or bad, not both", "keep the one your query counts directly", key=True)
            return None
        which = "good" if "good" in rm else "bad" if "bad" in rm else None
        if which is None:
            at.error("a ratio needs good or bad, with total", "add good: (or bad:) beside total:")
            return None
        if "total" not in rm:
            at.error("a ratio needs total (the count of all events)", "add total: beside " + which)
            return None
        numerator = query_of(at / which, rm[which])
        total = query_of(at / "total", rm["total"])
        if numerator is None or total is None:
            for query in (numerator, total):
                shape = _shape(query) if query is not None else None
                if shape is not None and shape.kind == "none":
                    _refuse_unwindowed(query)  # type: ignore[arg-type]
            return None
        return _events(at, which, numerator, total, counter, counter_key)

    def _v1_query(self, at: _At, item: object) -> _Query | None:
        """The PromQL of a v1 ``{metricSource: {metricSourceRef, type, spec: {query}}}``."""
        if not isinstance(item, dict) or not isinstance(item.get("metricSource"), dict):
            at.error("expected a metricSource", "write metricSource: {type: Prometheus, spec: {query: ...}}")
            return None
        at.unknown(item, ("metricSource",))
        ms_at = at / "metricSource"
        ms = item["metricSource"]
        ms_at.unknown(ms, ("metricSourceRef", "type", "spec"))
        kind, kind_at = ms.get("type"), ms_at / "type"
        ref = ms.get("metricSourceRef")
        if ref is not None:
            if not isinstance(ref, str) or not ref.strip():
                (ms_at / "metricSourceRef").error(
                    "metricSourceRef must name a DataSource", "write the DataSource's metadata.name"
                )
                return None
            if ("DataSource", ref.strip()) in self.index:
                found = self._ref(ms_at / "metricSourceRef", "DataSource", ref, what="metricSourceRef")
                if found is _FAILED:
                    return None
                assert isinstance(found, str)
                if kind is not None and (not isinstance(kind, str) or kind.strip().lower() != found.lower()):
                    kind_at.error(
                        f"type {kind!r} contradicts DataSource {ref.strip()!r}, whose type is {found!r}",
                        "drop type here, or point metricSourceRef at the right DataSource",
                    )
                    return None
                kind, kind_at = found, ms_at / "metricSourceRef"
        if kind is None:
            missing = f"; DataSource {ref!r} is not among the files read" if ref is not None else ""
            ms_at.error(f"the metric source has no type{missing}", "add type: Prometheus")
            return None
        if not isinstance(kind, str) or kind.strip().lower() != "prometheus":
            kind_at.error(
                f"metric source type {kind!r} is not supported: sloengine reads Prometheus only",
                "express this SLI as PromQL with type: Prometheus",
            )
            return None
        spec_at = ms_at / "spec"
        spec = ms.get("spec")
        if not isinstance(spec, dict):
            spec_at.error("a Prometheus metric source needs a spec with its query", "write spec: {query: ...}")
            return None
        for key in spec:
            if key != "query":
                (spec_at / key).warn(f"{key!r} is ignored: a Prometheus source only uses query", key=True)
        return _query_text(spec_at / "query", spec.get("query"))

    def _alpha_query(self, at: _At, item: object) -> _Query | None:
        """The PromQL of a v1alpha ``{source, queryType, query}``."""
        if not isinstance(item, dict):
            at.error("expected a query mapping", "write {source: prometheus, queryType: promql, query: ...}")
            return None
        at.unknown(item, ("source", "queryType", "query", "metadata"))
        source = item.get("source")
        if not isinstance(source, str) or source.strip().lower() != "prometheus":
            (at / "source").error(
                f"metric source {source!r} is not supported: sloengine reads Prometheus only",
                "express this SLI as PromQL with source: prometheus",
            )
            return None
        query_type = item.get("queryType")
        if query_type is not None and str(query_type).strip().lower() not in ("promql", "query"):
            (at / "queryType").warn(f"queryType {query_type!r} is not promql; the query is read as PromQL")
        if item.get("metadata"):
            (at / "metadata").warn("metadata of a query is not used", key=True)
        return _query_text(at / "query", item.get("query"))

    # ---- SLOs

    def _slo(self, obj: _Obj) -> list[SLO]:
        ctx = obj.at.ctx
        before = ctx.error_count
        alpha = obj.version == V1ALPHA
        spec_at = obj.at / "spec"
        spec = obj.spec
        if not isinstance(spec, dict):
            spec_at.error("an SLO needs a spec", "give service, indicator, timeWindow, budgetingMethod and objectives")
            return []
        known: tuple[str, ...]
        if alpha:
            known = ("description", "service", "indicator", "timeWindows", "budgetingMethod", "objectives")
        else:
            known = ("description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod",
                     "objectives", "alertPolicies")
        spec_at.unknown(spec, known)
        service = spec.get("service")
        if not isinstance(service, str) or not service.strip():
            (spec_at / "service").error("an SLO needs spec.service", "add service: <the name of its service>")
        description = _text(spec_at / "description", spec.get("description"))
        labels = self._metadata(obj, carry_labels=True)
        self._budgeting(spec_at, spec, alpha)
        if alpha:
            window = _alpha_window(spec_at, spec)
            sli = None
            if "indicator" in spec:
                self._alpha_indicator(spec_at / "indicator", spec["indicator"])
        else:
            window = _v1_window(spec_at, spec)
            sli = self._slo_indicator(spec_at, spec)
        objectives = self._objectives(spec_at / "objectives", spec.get("objectives"), alpha,
                                      ratio=not alpha and self._indicator_is_ratio(spec))
        policies = [] if alpha else self._slo_policies(
            spec_at / "alertPolicies", spec.get("alertPolicies"), obj.version
        )
        if ctx.error_count > before or obj.misnamed or window is None or not objectives:
            return []
        assert isinstance(service, str)
        names = _objective_names(obj.name, objectives, spec_at / "objectives")
        display = obj.metadata.get("displayName")
        base_description = description or (display if isinstance(display, str) else "")
        out: list[tuple[SLO, _At]] = []
        for objective, name in zip(objectives, names):
            indicator = objective.sli if alpha else sli
            if indicator is None:
                return []
            alerting = self._alerting(policies or [], window, objective)
            if alerting is None:
                return []
            text = base_description or (objective.display if len(objectives) == 1 else "")
            if len(objectives) > 1 and objective.display:
                text = f"{base_description} ({objective.display})" if base_description else objective.display
            source_at = objective.at if len(objectives) > 1 else obj.at
            slo = SLO(
                service=service.strip(),
                name=name,
                objective=objective.percent,
                window=window,
                sli=indicator,
                alerting=alerting,
                description=text,
                labels=labels,
                source=ctx.position(source_at.path),
                source_format=_FORMAT[obj.version],
            )
            out.append((slo, source_at))
        for slo, _ in out:
            first = self.slo_ids.get((slo.service, slo.name))
            if first is not None:
                (obj.at / "metadata" / "name").error(
                    f"SLO {slo.id} is already defined at {first.where()}", "give each SLO its own name"
                )
                return []
        for slo, source_at in out:
            self.slo_ids[(slo.service, slo.name)] = source_at
        return [slo for slo, _ in out]

    def _budgeting(self, at: _At, spec: dict, alpha: bool) -> None:
        value = spec.get("budgetingMethod")
        allowed = ("Occurrences", "Timeslices") if alpha else ("Occurrences", "Timeslices", "RatioTimeslices")
        method = _BUDGETING.get(value.strip().lower()) if isinstance(value, str) else None
        if method not in allowed:
            (at / "budgetingMethod").error(
                f"budgetingMethod {value!r} is not one of {', '.join(allowed)}"
                if value is not None else "an SLO needs budgetingMethod",
                "use budgetingMethod: Occurrences",
            )
            return
        if method == "Timeslices":
            (at / "budgetingMethod").warn(
                "Timeslices is imported as Occurrences: the objective becomes the share of good events among all "
                "events in the window, not the share of time slices that met timeSliceTarget; timeSliceTarget and "
                "timeSliceWindow are ignored, so busy periods weigh more than quiet ones",
                "set budgetingMethod: Occurrences to make this explicit",
            )
        elif method == "RatioTimeslices":
            (at / "budgetingMethod").warn(
                "RatioTimeslices is imported as Occurrences: the objective becomes good events over all events in "
                "the window instead of the average of each time slice's ratio; timeSliceWindow is ignored, so "
                "busy slices weigh more than quiet ones",
                "set budgetingMethod: Occurrences to make this explicit",
            )
        else:
            objectives = spec.get("objectives")
            for i, objective in enumerate(objectives if isinstance(objectives, list) else []):
                for key in ("timeSliceTarget", "timeSliceWindow"):
                    if isinstance(objective, dict) and key in objective:
                        (at / "objectives" / i / key).warn(
                            f"{key} only applies to Timeslices budgeting; ignored", key=True
                        )

    def _slo_indicator(self, at: _At, spec: dict) -> SLI | None:
        has_inline, has_ref = "indicator" in spec, "indicatorRef" in spec
        if has_inline == has_ref:
            at.error(
                "an SLO needs exactly one of indicator (inline SLI) and indicatorRef (an SLI's name)",
                "keep indicatorRef: <SLI name>, or inline the SLI under indicator",
            )
            return None
        if has_ref:
            found = self._ref(at / "indicatorRef", "SLI", spec["indicatorRef"], what="indicatorRef")
            return None if found is _FAILED else found  # type: ignore[return-value]
        inline_at = at / "indicator"
        inline = spec["indicator"]
        if not isinstance(inline, dict):
            inline_at.error(
                "indicator must be an inline SLI", "write indicator: {metadata: {name: ...}, spec: {ratioMetric: ...}}"
            )
            return None
        if inline_at.unknown(inline, ("metadata", "spec", "kind", "apiVersion")):
            return None
        if inline.get("kind", "SLI") != "SLI" or inline.get("apiVersion", V1) != V1:
            inline_at.error(f"an inline indicator is an {V1} SLI", "write kind: SLI, or leave kind out")
            return None
        obj = self._named(inline_at, inline, V1, "SLI", need_name=False)
        if obj is None or obj.misnamed:
            return None
        self._metadata(obj, carry_labels=False)
        return self._sli_spec(inline_at / "spec", inline.get("spec"), "indicator")

    def _alpha_indicator(self, at: _At, indicator: object) -> None:
        if isinstance(indicator, dict) and "thresholdMetric" in indicator:
            at.unknown(indicator, ("thresholdMetric",))
            _refuse_threshold(at / "thresholdMetric")
            return
        at.unknown(indicator, ("thresholdMetric",))
        if not isinstance(indicator, dict):
            at.error(
                "a v1alpha indicator holds only a thresholdMetric", "put ratio SLIs in each objective's ratioMetrics"
            )

    def _indicator_is_ratio(self, spec: dict) -> bool:
        """True when a v1 SLO's indicator (inline, or the SLI it names) is a ratioMetric."""
        inline = spec.get("indicator")
        if isinstance(inline, dict):
            sli_spec = inline.get("spec")
        else:
            ref = spec.get("indicatorRef")
            found = self.index.get(("SLI", ref.strip())) if isinstance(ref, str) else None
            sli_spec = found.spec if found is not None else None
        return isinstance(sli_spec, dict) and "ratioMetric" in sli_spec

    def _objectives(self, at: _At, items: object, alpha: bool, *, ratio: bool = False) -> list[_Objective]:
        """The objectives of an SLO; ``ratio`` says a v1 SLO's indicator is a ratioMetric (v1alpha objectives
        say it themselves, with ratioMetrics)."""
        if not isinstance(items, list) or not items:
            at.error("an SLO needs objectives: a list with at least one target", "add objectives: [{target: 0.999}]")
            return []
        out = []
        for i, item in enumerate(items):
            item_at = at / i
            if not isinstance(item, dict):
                item_at.error("an objective must be a mapping", "e.g. - {displayName: Available, target: 0.999}")
                continue
            if alpha:
                item_at.unknown(item, ("displayName", "op", "value", "target", "timeSliceTarget", "timeSliceWindow",
                                       "ratioMetrics"))
            else:
                item_at.unknown(item, ("displayName", "op", "value", "target", "targetPercent", "timeSliceTarget",
                                       "timeSliceWindow", "indicator", "indicatorRef", "compositeWeight"))
                for key in ("indicator", "indicatorRef"):
                    if key in item:
                        (item_at / key).error(
                            "objectives with their own indicator (composite SLOs) are not supported",
                            "write one SLO per indicator", key=True,
                        )
                if "compositeWeight" in item:
                    (item_at / "compositeWeight").warn("compositeWeight is ignored: composite SLOs are not supported",
                                                       key=True)
            if ratio or (alpha and "ratioMetrics" in item):
                _refuse_threshold_keys(item_at, item, alpha)
            display = item.get("displayName")
            if display is not None and not isinstance(display, str):
                (item_at / "displayName").error("displayName must be a string", "quote it")
                display = None
            percent = _objective_percent(item_at, item, alpha)
            sli = None
            if alpha:
                if "ratioMetrics" not in item:
                    item_at.error(
                        "a v1alpha objective needs ratioMetrics (good or bad, and total)",
                        "add ratioMetrics: {good: {...}, total: {...}}",
                    )
                    continue
                sli = self._alpha_ratio(item_at / "ratioMetrics", item["ratioMetrics"])
            if percent is not None:
                out.append(_Objective(i, percent, (display or "").strip(), item_at, sli))
        return out

    def _alpha_ratio(self, at: _At, rm: object) -> SLI | None:
        if not isinstance(rm, dict):
            at.error("ratioMetrics must be a mapping", "give good (or bad) and total, each {source, queryType, query}")
            return None
        at.unknown(rm, ("good", "bad", "total", "counter", "incremental"))
        key = "counter" if "counter" in rm else "incremental"
        counter = rm.get(key)
        if counter is not None and not isinstance(counter, bool):
            (at / key).error(f"{key} must be true or false, got {counter!r}", f"write {key}: true for counters")
            return None
        return self._good_bad_total(at, rm, counter, self._alpha_query, key)

    def _slo_policies(self, at: _At, items: object, version: str) -> list[tuple[_At, _Policy]] | None:
        if items is None:
            return []
        if not isinstance(items, list):
            at.error("alertPolicies must be a list", "write alertPolicies: [{alertPolicyRef: <AlertPolicy name>}]")
            return None
        out = []
        for i, item in enumerate(items):
            item_at = at / i
            if isinstance(item, str) or (isinstance(item, dict) and "alertPolicyRef" in item):
                ref_at = item_at
                if isinstance(item, dict):
                    item_at.unknown(item, ("alertPolicyRef",))
                    ref_at = item_at / "alertPolicyRef"
                    item = item["alertPolicyRef"]
                found = self._ref(ref_at, "AlertPolicy", item, what="alertPolicyRef")
                if found is not _FAILED:
                    out.append((item_at, found))
            elif isinstance(item, dict) and item.get("kind") == "AlertPolicy":
                inline = self._inline(item_at, item, version, "AlertPolicy")
                policy = self._policy(inline) if inline is not None else None
                if policy is not None:
                    out.append((item_at, policy))
            else:
                item_at.error(
                    "an alert policy is either {alertPolicyRef: name} or an inline AlertPolicy (kind, metadata, spec)",
                    "write alertPolicyRef: <AlertPolicy name>",
                )
        return out  # type: ignore[return-value]

    def _alerting(
        self, policies: list[tuple[_At, _Policy]], window: Window, objective: _Objective
    ) -> AlertPolicy | None:
        period = window.nominal_seconds
        if not policies:
            return AlertPolicy(enabled=True, conditions=default_conditions(period))
        budget = 1.0 - objective.percent / 100.0
        conditions: list[BurnRateAlert] = []
        merged: dict[str, str] = {}
        failed = False
        for at, policy in policies:
            for key, value in policy.labels:
                if merged.get(key, value) != value:
                    at.warn(f"label {key}={value!r} of AlertPolicy {policy.name!r} conflicts with {merged[key]!r} "
                            "from an earlier policy; the first is kept")
                merged.setdefault(key, value)
            if not policy.on_breach:
                continue
            for cond in policy.conditions:
                if cond.long_seconds > period:
                    at.error(
                        f"AlertCondition {cond.name!r} looks back {_shorthand_text(cond.long_seconds)}, longer than "
                        f"the SLO's {window.name} window",
                        "use a lookbackWindow shorter than the SLO window",
                    )
                    failed = True
                    continue
                if cond.factor * budget > 1.0 + 1e-9:
                    at.error(
                        f"AlertCondition {cond.name!r} can never fire: a burn rate of {cond.factor:g} with an error "
                        f"budget of {budget * 100:.6g}% needs an error ratio of {cond.factor * budget * 100:.6g}%",
                        f"use a threshold of at most {1.0 / budget:.6g} for this objective",
                    )
                    failed = True
                    continue
                alert = burn_condition(cond.severity, cond.long_seconds, cond.short_seconds, period,
                                       factor=cond.factor, for_seconds=cond.for_seconds)
                if alert not in conditions:
                    conditions.append(alert)
        if failed:
            return None
        return AlertPolicy(
            enabled=any(p.on_breach for _, p in policies),
            conditions=tuple(conditions),
            name=",".join(p.name for _, p in policies),
            labels=tuple(sorted(merged.items())),
        )


# ---- helpers without reader state


def _a(word: str) -> str:
    """The article for a kind's name; acronyms (SLO, SLI) are read letter by letter."""
    vowel_sound = word[:1] in ("AEFHILMNORSX" if word.isupper() else "AEIOUaeiou")
    return ("an " if vowel_sound else "a ") + word


def _did_you_mean(word: object, choices: list[str] | tuple[str, ...]) -> str:
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean {by_lower[close[0]]!r}?" if close else ""


def _text(at: _At, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        at.error(f"expected text, got {type(value).__name__}", "write plain text, quoted if it looks like a number")
        return ""
    if len(value) > _DESCRIPTION_LIMIT:
        at.error(
            f"description is {len(value)} characters; OpenSLO allows at most {_DESCRIPTION_LIMIT}",
            "shorten it, or move the detail to a runbook link",
        )
        return ""
    return value.strip()


def _labels(at: _At, raw: object) -> Labels:
    if not isinstance(raw, dict):
        at.error("labels must be a mapping of names to a string or a list of strings", "e.g. labels: {team: payments}")
        return ()
    out: dict[str, str] = {}
    for key, value in raw.items():
        value_at = at / key
        if isinstance(value, list):
            if not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                value_at.error("a label's list may only hold strings", "e.g. tags: [auth, payments]")
                continue
            text = ",".join(str(v) for v in value)
            if len(value) != 1:
                value_at.warn(f"label {key!r} has a list of values; carried as the single value {text!r}")
        elif isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            text = str(value)
        else:
            value_at.error("a label's value must be a string or a list of strings", "e.g. team: payments")
            continue
        name = str(key)
        if not LABEL_NAME.match(name):
            fixed = re.sub(r"[^a-zA-Z0-9_]", "_", name)
            fixed = fixed if re.match(r"^[a-zA-Z_]", fixed) else "_" + fixed
            value_at.warn(f"label name {name!r} is not a valid Prometheus label name; carried as {fixed!r}", key=True)
            name = fixed
        if name in out:
            value_at.warn(f"label {name!r} appears twice after renaming; the first is kept", key=True)
            continue
        out[name] = text
    return tuple(sorted(out.items()))


def _severity(at: _At, raw: str) -> AlertSeverity:
    word = raw.strip().lower()
    if word in _PAGE_WORDS:
        return AlertSeverity.PAGE
    if word not in _TICKET_WORDS:
        at.warn(
            f"severity {raw!r} is neither a paging word (page, critical, high) nor a ticket word "
            "(ticket, warning, medium, low, info); read as ticket",
            "write severity: page to page someone, or ticket",
        )
    return AlertSeverity.TICKET


def _refuse_threshold_keys(at: _At, objective: dict, alpha: bool) -> None:
    """``op`` and ``value`` on an objective of a ratio SLI: refused as OpenSLO's validator does (v1alpha's
    requires ``value`` everywhere, so there it is only warned as ignored)."""
    both = not alpha and "op" in objective and "value" in objective
    for key in ("op", "value"):
        if key not in objective:
            continue
        if key == "value" and alpha:
            (at / key).warn("value only applies to a thresholdMetric; ignored for ratioMetrics", key=True)
            continue
        (at / key).error(
            f"{key} belongs to thresholdMetric SLIs (op and value compare each sample with a threshold); "
            "OpenSLO forbids it on the objectives of a ratio SLI, whose objective is its target alone",
            ("remove op and value" if both else f"remove {key}") + "; the target stays as it is",
            key=True,
        )


def _dns_label(name: str, kind: str) -> str:
    """``name`` made an RFC 1123 DNS label: camelCase split, lowercased, each run of other characters a '-'."""
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()
    label = re.sub(r"[^a-z0-9]+", "-", split).strip("-")[:63].rstrip("-")
    return label or f"my-{kind.lower()}"


def _refuse_threshold(at: _At) -> None:
    at.error(
        "thresholdMetric is not supported: it compares single samples with a value, while sloengine counts good "
        "and total events",
        "use ratioMetric; for latency count requests under the limit from a histogram, e.g. good: "
        "sum(rate(x_bucket{le=\"0.5\"}[{{.window}}])) and total: sum(rate(x_count[{{.window}}]))",
        key=True,
    )


def _query_text(at: _At, query: object) -> _Query | None:
    if not isinstance(query, str) or not query.strip():
        at.error("a Prometheus query is needed here (a non-empty string)",
                 "add query: sum(rate(http_requests_total[{{.window}}]))")
        return None
    return _Query(query.strip(), at)


# ---- durations and windows


def _shorthand(at: _At, value: object, *, allow_zero: bool = False) -> tuple[int, str] | None:
    """Parse an OpenSLO duration (``30d``, ``1M``) into its count and unit letter."""
    match = _SHORTHAND.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        at.error(f"{value!r} is not an OpenSLO duration", _DURATION_HINT)
        return None
    count = int(match.group(1))
    if count == 0 and not allow_zero:
        at.error(f"{value!r} is zero; a window must be longer than nothing", _DURATION_HINT)
        return None
    return count, match.group(2)


def _fixed_duration(at: _At, value: object, *, allow_zero: bool = False) -> int | None:
    """A duration in minutes, hours, days or weeks, in seconds (alert windows)."""
    parsed = _shorthand(at, value, allow_zero=allow_zero)
    if parsed is None:
        return None
    count, unit = parsed
    if unit not in _FIXED_SECONDS:
        at.error(
            f"{value!r} is in {_UNIT_WORDS[unit]}s, which have no fixed length for an alert window",
            "use m, h, d or w (e.g. 1h); note that M is months and m is minutes",
        )
        return None
    return count * _FIXED_SECONDS[unit]


def _shorthand_text(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _FIXED_SECONDS[unit] == 0:
            return f"{seconds // _FIXED_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def _rolling(at: _At, count: int, unit: str, seconds_per_unit: int | None) -> RollingWindow:
    if seconds_per_unit is None:
        seconds_per_unit = _NOMINAL_SECONDS[unit]
        days = count * seconds_per_unit // _DAY
        at.warn(
            f"a rolling {_UNIT_WORDS[unit]} has no fixed length; taken as {days}d",
            f"write the window in days (e.g. {days}d) to make it exact",
        )
    return RollingWindow(count * seconds_per_unit)


def _calendar(
    at: _At, cal_at: _At, count: int, unit: str, calendar: object, shown: str, *, alpha: bool
) -> CalendarWindow | None:
    calendar_unit = _CALENDAR_UNITS.get(unit)
    if calendar_unit is None or count != 1:
        if unit == "m" and not alpha:
            reason = "m is minutes; a calendar month is written 1M"
        elif calendar_unit is None:
            reason = (f"calendar {_UNIT_WORDS[unit]}s are not supported; calendar windows are 1w, 1M or 1Q, "
                      "anything else can be a rolling window (isRolling: true)")
        else:
            reason = (f"only a single calendar {_UNIT_WORDS[unit]} can be a window; use 1{unit}, or a rolling "
                      "window (isRolling: true)")
        at.error(f"calendar window {shown!r} is not supported: {reason}", "use 1w, 1M or 1Q with a calendar")
        return None
    if calendar is None:
        at.warn(f"a calendar {calendar_unit.value} without a calendar block; periods are counted in UTC",
                "add calendar: {timeZone: Europe/Berlin} (your zone)")
        return CalendarWindow(calendar_unit, "UTC")
    if not isinstance(calendar, dict):
        cal_at.error("calendar must be a mapping with startTime and timeZone", "e.g. calendar: {timeZone: UTC}")
        return None
    cal_at.unknown(calendar, ("startTime", "timeZone"))
    zone = calendar.get("timeZone")
    if zone is None:
        cal_at.warn("calendar has no timeZone; periods are counted in UTC", "add timeZone: <IANA zone name>")
        zone = "UTC"
    elif not isinstance(zone, str) or not _valid_zone(zone.strip()):
        (cal_at / "timeZone").error(
            f"{zone!r} is not an IANA time zone name", "e.g. UTC, Europe/Berlin or America/New_York"
        )
        return None
    zone = zone.strip()
    if "startTime" in calendar:
        _check_start(cal_at / "startTime", calendar["startTime"], calendar_unit, zone)
    return CalendarWindow(calendar_unit, zone)


def _valid_zone(name: str) -> bool:
    return is_time_zone(name)


def _check_start(at: _At, value: object, unit: CalendarUnit, zone: str) -> None:
    if isinstance(value, dt.datetime):
        start = value
    elif isinstance(value, dt.date):
        start = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            start = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            at.error(f"startTime {value!r} is not a date and time", "write it as 2024-01-01 00:00:00")
            return
    else:
        at.error(f"startTime {value!r} is not a date and time", "write it as 2024-01-01 00:00:00")
        return
    midnight = (start.hour, start.minute, start.second, start.microsecond) == (0, 0, 0, 0)
    boundary = {
        CalendarUnit.WEEK: ("a Monday", start.weekday() == 0),
        CalendarUnit.MONTH: ("the 1st of a month", start.day == 1),
        CalendarUnit.QUARTER: (
            "the 1st of January, April, July or October", start.day == 1 and start.month in (1, 4, 7, 10)
        ),
    }[unit]
    if not (midnight and boundary[1]):
        at.warn(
            f"calendar {unit.value}s start at 00:00 on {boundary[0]} in {zone}; startTime {start:%Y-%m-%d %H:%M} "
            "is not such a start and is ignored",
            "drop startTime, or set it to a period start",
        )


def _v1_window(at: _At, spec: dict) -> Window | None:
    items = spec.get("timeWindow")
    if items is None and "timeWindows" in spec:
        return None
    if items is None:
        at.warn("the SLO has no timeWindow; a rolling 30d window is used",
                "add timeWindow: [{duration: 30d, isRolling: true}]")
        return _DEFAULT_WINDOW
    list_at = at / "timeWindow"
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        list_at.error("timeWindow must be a list of exactly one window",
                      "e.g. timeWindow: [{duration: 30d, isRolling: true}]")
        return None
    item_at = list_at / 0
    item = items[0]
    item_at.unknown(item, ("duration", "isRolling", "calendar"))
    parsed = _shorthand(item_at / "duration", item.get("duration"))
    rolling = _is_rolling(item_at, item)
    if parsed is None or rolling is None:
        return None
    count, unit = parsed
    if rolling:
        return _rolling(item_at / "duration", count, unit, _FIXED_SECONDS.get(unit))
    return _calendar(item_at / "duration", item_at / "calendar", count, unit, item.get("calendar"),
                     str(item.get("duration")), alpha=False)


def _is_rolling(at: _At, item: dict) -> bool | None:
    flag = item.get("isRolling")
    if flag is not None and not isinstance(flag, bool):
        (at / "isRolling").error(f"isRolling must be true or false, got {flag!r}", "write isRolling: true or false")
        return None
    if flag is True and item.get("calendar") is not None:
        (at / "isRolling").error(
            "a window is either rolling or calendar-aligned, not both",
            "remove calendar for a rolling window, or set isRolling: false",
        )
        return None
    return flag if flag is not None else item.get("calendar") is None


def _alpha_window(at: _At, spec: dict) -> Window | None:
    items = spec.get("timeWindows")
    if items is None and "timeWindow" in spec:
        return None
    if items is None:
        at.warn("the SLO has no timeWindows; a rolling 30d window is used",
                "add timeWindows: [{count: 30, unit: Day, isRolling: true}]")
        return _DEFAULT_WINDOW
    list_at = at / "timeWindows"
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        list_at.error("timeWindows must be a list of exactly one window",
                      "e.g. timeWindows: [{count: 30, unit: Day, isRolling: true}]")
        return None
    item_at = list_at / 0
    item = items[0]
    item_at.unknown(item, ("count", "unit", "isRolling", "calendar"))
    count = item.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        (item_at / "count").error(f"count must be a positive whole number, got {count!r}", "e.g. count: 30")
        return None
    unit_name = item.get("unit")
    unit = _ALPHA_UNITS.get(unit_name.strip().lower()) if isinstance(unit_name, str) else None
    if unit is None:
        (item_at / "unit").error(
            f"unit {unit_name!r} is not one of Second, Minute, Hour, Day, Week, Month, Quarter, Year",
            _did_you_mean(unit_name, ("Second", "Minute", "Hour", "Day", "Week", "Month", "Quarter", "Year"))
            or "e.g. unit: Day",
        )
        return None
    rolling = _is_rolling(item_at, item)
    if rolling is None:
        return None
    letter, seconds = unit
    if rolling:
        return _rolling(item_at / "unit", count, letter, seconds)
    if letter == "s":
        (item_at / "unit").error("calendar windows are 1 Week, 1 Month or 1 Quarter",
                                 "use a rolling window for seconds")
        return None
    return _calendar(item_at / "unit", item_at / "calendar", count, letter, item.get("calendar"),
                     f"{count} {unit_name}", alpha=True)


# ---- objectives


def _objective_percent(at: _At, item: dict, alpha: bool) -> float | None:
    has_target, has_percent = "target" in item, "targetPercent" in item and not alpha
    if has_target and has_percent:
        (at / "targetPercent").error(
            "give target or targetPercent, not both", "keep target: 0.999 or targetPercent: 99.9", key=True
        )
        return None
    if not has_target and not has_percent:
        at.error("an objective needs target (a fraction such as 0.999)"
                 + ("" if alpha else " or targetPercent (such as 99.9)"), "add target: 0.999")
        return None
    key = "target" if has_target else "targetPercent"
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        (at / key).error(f"{key} must be a number, got {value!r}", f"write {key} without quotes")
        return None
    if has_target:
        if 1 < value < 100:
            hint = f"write target: {value / 100:g}" + ("" if alpha else f" or targetPercent: {value:g}")
            (at / key).error(f"target {value:g} is not a fraction between 0 and 1", hint)
            return None
        if not 0 < value < 1:
            why = "leaves no error budget" if value == 1 else "is outside (0, 1)"
            (at / key).error(f"target {value:g} {why}", "write the objective as a fraction such as 0.999")
            return None
        return round(value * 100.0, 10)
    if not 0 < value < 100:
        why = "leaves no error budget" if value == 100 else "is outside (0, 100)"
        (at / key).error(f"targetPercent {value:g} {why}", "write the objective as a percentage such as 99.9")
        return None
    return round(float(value), 10)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _objective_names(name: str, objectives: list[_Objective], at: _At) -> list[str]:
    if len(objectives) == 1:
        return [name]
    slugs = [_slug(o.display) for o in objectives]
    if all(slugs) and len(set(slugs)) == len(slugs):
        names = [f"{name}-{s}" for s in slugs]
    else:
        names = [f"{name}-{o.index}" for o in objectives]
    at.warn(
        f"{len(objectives)} objectives become {len(objectives)} SLOs ({', '.join(names)}): sloengine keeps one "
        "objective per SLO",
        key=True,
    )
    return names


# ---- queries


def _shape(query: _Query) -> _Shape | None:
    if has_window_placeholder(query.text):
        found = counter_selector(query.text)
        if found is not None:
            return _Shape("counter", found[0], found[1])
        try:
            check_raw_query(query.text)
        except PromQLError as exc:
            query.at.error(str(exc), "the query must be valid PromQL once [{{.window}}] is replaced by a range")
            return None
        return _Shape("raw")
    try:
        found = instant_counter_selector(query.text)
    except PromQLError as exc:
        query.at.error(str(exc), "write valid PromQL")
        return None
    if found is not None:
        return _Shape("counter", found[0], found[1], instant=True)
    return _Shape("none")


def _events(at: _At, which: str, numerator: _Query, total: _Query, counter: object, counter_key: str) -> SLI | None:
    num_shape, total_shape = _shape(numerator), _shape(total)
    if num_shape is None or total_shape is None:
        return None
    if num_shape.kind == "counter" and total_shape.kind == "counter":
        if num_shape.group_by != total_shape.group_by:
            total.at.error(
                f"{which} is summed by ({', '.join(num_shape.group_by)}) but total by "
                f"({', '.join(total_shape.group_by)})",
                "sum both queries by the same labels",
            )
            return None
        if num_shape.instant or total_shape.instant:
            if counter is False:
                (at / counter_key).error(
                    f"{counter_key}: false says these queries return gauges, but a query without a range is "
                    "windowed by taking increase() of a counter",
                    f"set {counter_key}: true if they are counters, or write both with a range, e.g. "
                    "sum(sum_over_time(my_gauge[{{.window}}]))",
                )
                return None
            if counter is None:
                at.warn(
                    f"{counter_key} is not set; the plain selectors are read as counters (running event totals)",
                    f"set {counter_key}: true to say so",
                )
        assert num_shape.selector is not None and total_shape.selector is not None
        good, bad = (num_shape.selector, None) if which == "good" else (None, num_shape.selector)
        return RatioSLI(total=total_shape.selector, good=good, bad=bad, group_by=num_shape.group_by)
    windowed = [s.kind in ("counter", "raw") and not s.instant for s in (num_shape, total_shape)]
    if all(windowed):
        good_text, bad_text = (numerator.text, None) if which == "good" else (None, numerator.text)
        return RawSLI(total=total.text, good=good_text, bad=bad_text)
    for query, shape, is_windowed in ((numerator, num_shape, windowed[0]), (total, total_shape, windowed[1])):
        if shape.kind == "none":
            _refuse_unwindowed(query)
        elif not is_windowed and all(w for w, q in zip(windowed, (numerator, total)) if q is not query):
            query.at.error(
                "this plain selector can't be paired with a windowed query in the other half of the ratio",
                "write both queries with [{{.window}}], or both as plain counter selectors",
            )
    return None


def _refuse_unwindowed(query: _Query) -> None:
    query.at.error(
        "the query has no window placeholder and is not a plain counter selector, so it can't be evaluated over "
        "each SLO and alert window",
        _NO_WINDOW_HINT,
    )


def _error_ratio(query: _Query, *, success: bool) -> str | None:
    try:
        check_raw_query(query.text)
    except PromQLError as exc:
        query.at.error(str(exc), "a raw ratio must use [{{.window}}] for its range, e.g. "
                                 "sum(rate(errors_total[{{.window}}])) / sum(rate(requests_total[{{.window}}]))")
        return None
    if not success:
        return query.text
    wrapped = "1 - (\n" + query.text + "\n)"
    inner = str(unparen(parse(substitute_window(query.text, CHECK_WINDOW))))
    try:
        node = parse(substitute_window(wrapped, CHECK_WINDOW))
    except PromQLError as exc:
        query.at.error(f"1 - (query) does not parse: {exc}", "the success ratio must be a number or an instant vector")
        return None
    if not (
        isinstance(node, promql_parser.BinaryExpr)
        and str(node.op) == "-"
        and isinstance(node.rhs, promql_parser.ParenExpr)
        and str(unparen(node.rhs)) == inner
    ):
        query.at.error("the query could not be turned into 1 - (query) safely", "give the failure ratio with "
                       "rawType: failure")
        return None
    return wrapped
