"""Reader for Sloth specs: ``version: prometheus/v1`` files and ``PrometheusServiceLevel`` resources.

Teams moving from Sloth should get the SLOs Sloth generated for them, not a
reinterpretation, so each decision below follows what Sloth itself does with
the same file, and anything we cannot reproduce is reported rather than
dropped:

* The SLO period is a Sloth command-line setting (30 days unless changed), not
  part of the file, so every SLO gets a rolling 30-day window.
* ``events`` queries shaped like ``sum [by (...)] (rate(metric{...}[{{.window}}]))``
  become an exact :class:`~sloengine.model.slo.RatioSLI`, which the compiler can
  record cheaply; any other shape stays raw PromQL, parsed before it is kept.
* Sloth's default alerts are the SRE workbook's, i.e. ``default_conditions``
  for 30 days; ``disable`` on the page or ticket alert removes that severity.
* Sloth decodes leniently and ignores keys it does not know. We reject unknown
  keys (suggesting the closest known one), except the other Sloth flavour's
  spelling of a known key (``pageAlert`` in a prometheus/v1 file,
  ``page_alert`` in a resource): Sloth ignored those, so we ignore them too,
  with a warning, and the import still matches what Sloth generated.
* SLI plugins are Go code that only Sloth can run, so such SLOs are rejected.
  SLO plugins only post-process generated rules; the SLOs are imported and
  each plugin chain is reported as not carried over.
* A resource's ``metadata`` only names and labels the PrometheusRule object
  Sloth writes; sloengine writes rule files, so it is not carried over.

"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...model import conventions
from ...model.promql import PromQLError, check_raw_query, counter_selector
from ...model.slo import (
    SLO,
    AlertPolicy,
    AlertSeverity,
    RatioSLI,
    RawSLI,
    RollingWindow,
    Service,
    SourceFormat,
    labels,
)
from ..policy import default_conditions
from ..yamlsource import KeyPath
from .base import (
    K8S_METADATA_KEYS,
    Context,
    ImportResult,
    objective_percent,
    optional_string,
    required_string,
    string_map,
)

FORMATS: tuple[SourceFormat, ...] = (SourceFormat.SLOTH, SourceFormat.SLOTH_K8S)

PROMETHEUS_VERSION = "prometheus/v1"
K8S_API_VERSION = "sloth.slok.dev/v1"
K8S_KIND = "PrometheusServiceLevel"

#: Sloth's default SLO period (``sloth generate --default-slo-period``).
PERIOD_SECONDS = conventions.DEFAULT_WINDOW_SECONDS

#: Keys the two flavours spell differently: prometheus/v1 spelling → Kubernetes spelling.
_K8S_SPELLING: dict[str, str] = {
    "error_query": "errorQuery",
    "total_query": "totalQuery",
    "error_ratio_query": "errorRatioQuery",
    "page_alert": "pageAlert",
    "ticket_alert": "ticketAlert",
    "slo_plugins": "sloPlugins",
}

_SLI_PLUGIN_HINT = "rewrite the SLI as events (error_query and total_query) or raw (error_ratio_query) PromQL"


@dataclass(frozen=True)
class _Flavour:
    """Which of Sloth's two spellings a document uses, and where its body sits."""

    source_format: SourceFormat
    root: KeyPath
    name: str

    @property
    def k8s(self) -> bool:
        return self.source_format is SourceFormat.SLOTH_K8S

    def key(self, snake: str) -> str:
        return _K8S_SPELLING.get(snake, snake) if self.k8s else snake

    def foreign(self, snake: str) -> str | None:
        if snake not in _K8S_SPELLING:
            return None
        return snake if self.k8s else _K8S_SPELLING[snake]


_PROMETHEUS = _Flavour(SourceFormat.SLOTH, (), "prometheus/v1 file")
_K8S = _Flavour(SourceFormat.SLOTH_K8S, ("spec",), f"{K8S_KIND} resource")


def detect(data: object) -> bool:
    if not isinstance(data, dict):
        return False
    if data.get("version") == PROMETHEUS_VERSION and "apiVersion" not in data:
        return True
    return data.get("apiVersion") == K8S_API_VERSION and data.get("kind") == K8S_KIND


def read(contexts: list[Context]) -> ImportResult:
    services: list[Service] = []
    slos: list[SLO] = []
    for ctx in contexts:
        service, found = _read_document(ctx)
        if service is not None:
            services.append(service)
        slos.extend(found)
    return ImportResult(tuple(services), tuple(slos))


def _read_document(ctx: Context) -> tuple[Service | None, list[SLO]]:
    data = ctx.doc.data
    if not isinstance(data, dict):
        ctx.error((), "a Sloth spec must be a mapping", "start it with version: prometheus/v1")
        return None, []
    flavour = _K8S if "apiVersion" in data else _PROMETHEUS
    errors_before = ctx.error_count
    if flavour.k8s:
        ctx.unknown_keys((), data, ("apiVersion", "kind", "metadata", "spec", "status"))
        _read_metadata(ctx, data.get("metadata"))
        body = data.get("spec")
        if not isinstance(body, dict):
            ctx.error(("spec",), f"a {K8S_KIND} needs a spec mapping with service and slos",
                      "add spec: {service: ..., slos: [...]}")
            return None, []
    else:
        body = data
    root = flavour.root
    top_keys = ("service", "labels", "slos", "slo_plugins") + (() if flavour.k8s else ("version",))
    _check_keys(ctx, flavour, root, body, top_keys)
    service_name = required_string(ctx, root + ("service",), body, "service",
                                   "name the service the SLOs belong to, e.g. service: checkout")
    global_labels = string_map(ctx, root + ("labels",), body.get("labels"), "label")
    plugins_key = flavour.key("slo_plugins")
    if plugins_key in body:
        _warn_slo_plugins(ctx, root + (plugins_key,), body[plugins_key], "this file's SLOs")
    header_ok = ctx.error_count == errors_before

    items = body.get("slos")
    if not isinstance(items, list) or not items:
        ctx.error(root + ("slos",), "slos must be a non-empty list of SLOs",
                  "add slos: with at least one entry (- name: ..., objective: ..., sli: ...)")
        return None, []
    slos = [
        _read_slo(ctx, flavour, root + ("slos", index), item, service_name or "", global_labels or {})
        for index, item in enumerate(items)
    ]
    imported = [slo for slo in slos if slo is not None]
    if not header_ok or service_name is None or global_labels is None or not imported:
        return None, []
    service = Service(
        name=service_name,
        team=global_labels.get("team", ""),
        owner=global_labels.get("owner", ""),
        labels=labels(global_labels),
        source=ctx.position(root + ("service",)),
    )
    return service, imported


def _read_metadata(ctx: Context, metadata: object) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        ctx.error(("metadata",), "metadata must be a mapping", "give metadata: {name: ..., namespace: ...}")
        return
    ctx.unknown_keys(("metadata",), metadata, K8S_METADATA_KEYS)
    for key, instead in (("labels", "spec.labels"), ("annotations", "alerting.annotations of each SLO")):
        if metadata.get(key):
            ctx.warn(("metadata", key),
                     f"metadata.{key} only mark the PrometheusRule object Sloth writes, "
                     "not the SLOs' series or alerts; "
                     "sloengine writes plain rule files, so they are not carried over",
                     f"put what the SLOs need in {instead}")


def _read_slo(
    ctx: Context,
    flavour: _Flavour,
    path: KeyPath,
    item: object,
    service: str,
    global_labels: Mapping[str, str],
) -> SLO | None:
    if not isinstance(item, dict):
        ctx.error(path, "each SLO must be a mapping", "write it as - name: ..., objective: ..., sli: ...")
        return None
    errors_before = ctx.error_count
    _check_keys(ctx, flavour, path, item, ("name", "objective", "description", "labels", "sli", "alerting", "plugins"))
    name = required_string(ctx, path + ("name",), item, "name", "name the SLO, e.g. name: requests-availability")
    objective = objective_percent(ctx, path + ("objective",), item.get("objective"), present="objective" in item)
    description = optional_string(ctx, path + ("description",), item.get("description"))
    slo_labels = string_map(ctx, path + ("labels",), item.get("labels"), "label")
    if "plugins" in item:
        _warn_slo_plugins(ctx, path + ("plugins",), item["plugins"], "this SLO")
    sli = _read_sli(ctx, flavour, path + ("sli",), item.get("sli"))
    alerting = _read_alerting(ctx, flavour, path + ("alerting",), item.get("alerting"))
    if ctx.error_count != errors_before:
        return None
    assert name is not None and objective is not None and slo_labels is not None
    assert sli is not None and alerting is not None
    return SLO(
        service=service,
        name=name,
        objective=objective,
        window=RollingWindow(PERIOD_SECONDS),
        sli=sli,
        alerting=alerting,
        description=description or "",
        labels=labels({**global_labels, **slo_labels}),
        source=ctx.position(path),
        source_format=flavour.source_format,
    )


def _read_sli(ctx: Context, flavour: _Flavour, path: KeyPath, value: object) -> RatioSLI | RawSLI | None:
    kinds_hint = "give one of events (error_query, total_query) or raw (error_ratio_query)"
    if not isinstance(value, dict):
        ctx.error(path, "sli is required and must be a mapping", kinds_hint)
        return None
    _check_keys(ctx, flavour, path, value, ("events", "raw", "plugin"))
    given = [kind for kind in ("events", "raw", "plugin") if value.get(kind) is not None]
    if not given:
        ctx.error(path, "the SLI is empty", kinds_hint)
        return None
    if len(given) > 1:
        ctx.error(path, f"the SLI has both {given[0]} and {given[1]}; Sloth takes exactly one", kinds_hint)
        return None
    kind = given[0]
    body = value[kind]
    if kind == "plugin":
        plugin_id = body.get("id") if isinstance(body, dict) else None
        named = f"plugin {plugin_id!r}" if isinstance(plugin_id, str) else "the plugin"
        ctx.error(path + ("plugin",),
                  f"Sloth SLI plugins cannot be imported: {named} builds its queries in Go code that only Sloth runs",
                  _SLI_PLUGIN_HINT)
        return None
    if not isinstance(body, dict):
        ctx.error(path + (kind,), f"{kind} must be a mapping", kinds_hint)
        return None
    if kind == "raw":
        _check_keys(ctx, flavour, path + ("raw",), body, ("error_ratio_query",))
        query = _query(ctx, flavour, path + ("raw",), body, "error_ratio_query")
        return RawSLI(error_ratio=query) if query is not None else None
    _check_keys(ctx, flavour, path + ("events",), body, ("error_query", "total_query"))
    bad = _query(ctx, flavour, path + ("events",), body, "error_query")
    total = _query(ctx, flavour, path + ("events",), body, "total_query")
    if bad is None or total is None:
        return None
    bad_counter, total_counter = counter_selector(bad), counter_selector(total)
    if bad_counter is not None and total_counter is not None and bad_counter[1] == total_counter[1]:
        return RatioSLI(total=total_counter[0], bad=bad_counter[0], group_by=total_counter[1])
    return RawSLI(bad=bad, total=total)


def _query(ctx: Context, flavour: _Flavour, path: KeyPath, body: Mapping[str, Any], snake: str) -> str | None:
    key = flavour.key(snake)
    query = body.get(key)
    if not isinstance(query, str) or not query.strip():
        ctx.error(path + (key,), f"{key} is required and must be a PromQL query",
                  "write it with the range as [{{.window}}], e.g. sum(rate(http_requests_total[{{.window}}]))")
        return None
    try:
        check_raw_query(query)
    except PromQLError as exc:
        ctx.error(path + (key,), str(exc), "fix the query so Prometheus accepts it, keeping [{{.window}}] as its range")
        return None
    return query.strip()


def _read_alerting(ctx: Context, flavour: _Flavour, path: KeyPath, value: object) -> AlertPolicy | None:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        ctx.error(path, "alerting must be a mapping", "give alerting: {name: ..., page_alert: ..., ticket_alert: ...}")
        return None
    _check_keys(ctx, flavour, path, value, ("name", "labels", "annotations", "page_alert", "ticket_alert"))
    name = optional_string(ctx, path + ("name",), value.get("name"))
    common_labels = string_map(ctx, path + ("labels",), value.get("labels"), "label")
    common_annotations = string_map(ctx, path + ("annotations",), value.get("annotations"), "annotation")
    page = _read_alert(ctx, flavour, path + (flavour.key("page_alert"),), value.get(flavour.key("page_alert")))
    ticket = _read_alert(ctx, flavour, path + (flavour.key("ticket_alert"),), value.get(flavour.key("ticket_alert")))
    name_unusable = value.get("name") is not None and name is None
    if page is None or ticket is None or common_labels is None or common_annotations is None or name_unusable:
        return None
    enabled = {AlertSeverity.PAGE: not page.disabled, AlertSeverity.TICKET: not ticket.disabled}
    if any(enabled.values()) and not name:
        ctx.error(path + ("name",), "alerting.name is required while the page or ticket alert is enabled",
                  "name the alert, e.g. name: MyServiceHighErrorRate, or set disable: true on both alerts")
        return None
    return AlertPolicy(
        enabled=any(enabled.values()),
        conditions=tuple(c for c in default_conditions(PERIOD_SECONDS) if enabled[c.severity]),
        name=name or "",
        labels=labels(common_labels),
        annotations=labels(common_annotations),
        page_labels=labels(page.labels),
        page_annotations=labels(page.annotations),
        ticket_labels=labels(ticket.labels),
        ticket_annotations=labels(ticket.annotations),
    )


@dataclass(frozen=True)
class _Alert:
    disabled: bool
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


def _read_alert(ctx: Context, flavour: _Flavour, path: KeyPath, value: object) -> _Alert | None:
    if value is None:
        return _Alert(False, {}, {})
    if not isinstance(value, dict):
        ctx.error(path, "an alert must be a mapping", "give {disable: ..., labels: ..., annotations: ...}")
        return None
    _check_keys(ctx, flavour, path, value, ("disable", "labels", "annotations"))
    disabled = value.get("disable", False)
    if not isinstance(disabled, bool):
        ctx.error(path + ("disable",), f"disable must be true or false, got {disabled!r}", "write disable: true")
        return None
    alert_labels = string_map(ctx, path + ("labels",), value.get("labels"), "label")
    annotations = string_map(ctx, path + ("annotations",), value.get("annotations"), "annotation")
    if alert_labels is None or annotations is None:
        return None
    return _Alert(disabled, alert_labels, annotations)


def _warn_slo_plugins(ctx: Context, path: KeyPath, value: object, scope: str) -> None:
    chain = value.get("chain") if isinstance(value, dict) else None
    ids = [entry.get("id") for entry in chain if isinstance(entry, dict)] if isinstance(chain, list) else []
    named = ", ".join(sorted({repr(i) for i in ids if isinstance(i, str)})) or "(none named)"
    ctx.warn(path,
             f"Sloth SLO plugins are not run for {scope}: {named}; whatever they add to or change in the "
             "generated rules is not reproduced",
             "carry what they add (labels, rule intervals, extra rules) into the SLO itself, then remove them")


def _check_keys(ctx: Context, flavour: _Flavour, path: KeyPath, mapping: Mapping[str, Any],
                snake_keys: tuple[str, ...]) -> None:
    """Unknown keys are errors; the other flavour's spelling of a known key is ignored with a warning."""
    foreign = {flavour.foreign(k): k for k in snake_keys if flavour.foreign(k) is not None}
    for key in mapping:
        if key in foreign:
            wanted = flavour.key(foreign[key])
            ctx.warn(path + (key,),
                     f"{key!r} is not a key of a Sloth {flavour.name}, which spells it {wanted!r}; Sloth ignores it, "
                     "so it is ignored here too",
                     f"rename it to {wanted!r} if its settings were meant to apply", key=True)
    ctx.unknown_keys(path, {k: v for k, v in mapping.items() if k not in foreign},
                     [flavour.key(k) for k in snake_keys])
