"""Reader for Pyrra's ``ServiceLevelObjective`` resources (``pyrra.dev/v1alpha1``).

Pyrra describes one SLO per Kubernetes object, so some of our model has to be
derived from Kubernetes metadata. The choices, and why:

* **Service.** Pyrra has no service. We take the ``pyrra.dev/service`` label
  when there is one (it says so explicitly), else the namespace (Pyrra's own
  grouping in its UI), else the SLO's name, so an SLO is never without one.
  The ``pyrra.dev/team`` label also fills the service's team when every SLO of
  that service agrees on it.
* **Labels.** Every ``metadata.labels`` entry becomes an SLO label, with the
  ``pyrra.dev/`` prefix stripped (Pyrra copies such labels, stripped, onto the
  rules it generates). Selector labels such as ``prometheus: k8s`` are kept
  too rather than dropped by a guess; remove them from the spec if unwanted.
  Kubernetes label names that are not Prometheus label names
  (``app.kubernetes.io/name``) cannot label a series: they are left out with
  a warning. ``pyrra.dev/service`` names the service and is not repeated.
* **Annotations.** ``pyrra.dev/``-prefixed annotations become alert
  annotations, as in Pyrra; the rest is Kubernetes bookkeeping Pyrra ignores.
* **Indicators** map one to one: ``ratio`` → ratio, ``latency`` → latency,
  ``bool_gauge`` → probe. ``latencyNative`` is rejected: native histograms are
  not supported. A ``latency`` indicator's success and total must come from one
  histogram (``_bucket`` and ``_count``). When success carries matchers that
  total lacks (``..._bucket{job="x",code!~"5..",le="1"}`` against
  ``..._count{job="x"}``: "fast and not an error" among all requests, as in
  Pyrra's own tests), the model's latency SLI cannot say it, because it
  derives both series from one selector; see :func:`_latency` for how it is
  imported. Total carrying a matcher success lacks is refused: success would
  then count requests that total does not, and the ratio could pass 1.
* **Alerts.** Burn-rate alerts use sloengine's default conditions for the
  window (the SRE workbook's burn factors 14.4/6/3/1, where Pyrra uses
  14/7/2/1), so thresholds differ slightly from Pyrra's; ``disabled`` or
  ``burnrates: false`` turn them off, ``name`` and ``severities`` map onto the
  alert name and the page and ticket severity labels. Pyrra's absent-metric
  alerts have no counterpart: settings for them are warned about; the ones
  Pyrra adds by default are not reproduced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...model.diagnostics import Position
from ...model.durations import DURATION_HINT, DurationError, parse_duration
from ...model.promql import LABEL_NAME, Matcher, MatchOp, PromQLError, Selector, le_matcher, parse_selector
from ...model.slo import (
    SLO,
    AlertPolicy,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
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
    optional_string,
    percent_in_range,
    required_string,
    yaml_scalar_text,
)

FORMATS: tuple[SourceFormat, ...] = (SourceFormat.PYRRA,)

API_VERSION = "pyrra.dev/v1alpha1"
KIND = "ServiceLevelObjective"
PREFIX = "pyrra.dev/"
SERVICE_LABEL = PREFIX + "service"
TEAM_LABEL = "team"

_SPEC_KEYS = ("alerting", "description", "indicator", "partial_response_strategy", "performanceOverAccuracy",
              "ruleOutput", "target", "window")
_INDICATORS = ("ratio", "latency", "latencyNative", "bool_gauge")
_ALERTING_KEYS = ("absent", "absentName", "burnrates", "disabled", "name", "severities")
_SEVERITY_KEYS = ("absent", "fastBurn", "longTermBurn", "mediumBurn", "slowBurn")
_SELECTOR_HINT = 'write a series selector such as http_requests_total{job="api",code=~"5.."}'
_INDICATOR_HINT = "give one of ratio, latency or bool_gauge"

PyrraSLI = RatioSLI | LatencySLI | ProbeSLI


@dataclass(frozen=True)
class _Read:
    slo: SLO
    team: str
    service_source: Position


def detect(data: object) -> bool:
    return isinstance(data, dict) and data.get("apiVersion") == API_VERSION and data.get("kind") == KIND


def read(contexts: list[Context]) -> ImportResult:
    found = [item for item in (_read_document(ctx) for ctx in contexts) if item is not None]
    teams: dict[str, set[str]] = {}
    sources: dict[str, Position] = {}
    for item in found:
        teams.setdefault(item.slo.service, set()).add(item.team)
        sources.setdefault(item.slo.service, item.service_source)
    services = tuple(
        Service(name=name, team=next(iter(teams[name])) if len(teams[name]) == 1 else "", source=sources[name])
        for name in sorted(teams)
    )
    return ImportResult(services, tuple(item.slo for item in found))


def _read_document(ctx: Context) -> _Read | None:
    data = ctx.doc.data
    errors_before = ctx.error_count
    ctx.unknown_keys((), data, ("apiVersion", "kind", "metadata", "spec", "status"))
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        ctx.error(("metadata",), "metadata with a name is required", "add metadata: {name: my-slo, namespace: ...}")
        return None
    spec = data.get("spec")
    if not isinstance(spec, dict):
        ctx.error(("spec",), "spec is required and must be a mapping",
                  "add spec: {target: '99.9', window: 28d, indicator: ...}")
        return None
    ctx.unknown_keys(("metadata",), metadata, K8S_METADATA_KEYS)
    ctx.unknown_keys(("spec",), spec, _SPEC_KEYS)

    name = required_string(ctx, ("metadata", "name"), metadata, "name", "name the SLO, e.g. name: api-errors")
    namespace = optional_string(ctx, ("metadata", "namespace"), metadata.get("namespace"))
    read_labels = _read_labels(ctx, ("metadata", "labels"), metadata.get("labels"))
    annotations = _read_annotations(ctx, ("metadata", "annotations"), metadata.get("annotations"))
    objective = _read_target(ctx, spec)
    window = _read_window(ctx, spec)
    description = optional_string(ctx, ("spec", "description"), spec.get("description"))
    sli = _read_indicator(ctx, ("spec", "indicator"), spec.get("indicator"))
    alerting = _read_alerting(ctx, ("spec", "alerting"), spec.get("alerting"), window, annotations or {})
    _warn_rule_output_settings(ctx, spec)
    if ctx.error_count != errors_before:
        return None
    assert name is not None and read_labels is not None and objective is not None
    assert window is not None and sli is not None and alerting is not None
    slo_labels, service_label = read_labels
    service_path: tuple[str, ...]
    if service_label:
        service, service_path = service_label, ("metadata", "labels", SERVICE_LABEL)
    elif namespace:
        service, service_path = namespace, ("metadata", "namespace")
    else:
        service, service_path = name, ("metadata", "name")
    slo = SLO(
        service=service,
        name=name,
        objective=objective,
        window=RollingWindow(window),
        sli=sli,
        alerting=alerting,
        description=description or "",
        labels=labels(slo_labels),
        source=ctx.position(()),
        source_format=SourceFormat.PYRRA,
    )
    return _Read(slo, slo_labels.get(TEAM_LABEL, ""), ctx.position(service_path))


def _read_labels(ctx: Context, path: KeyPath, value: object) -> tuple[dict[str, str], str] | None:
    """SLO labels from Kubernetes labels, and the service named by ``pyrra.dev/service`` (or "")."""
    if value is None:
        return {}, ""
    if not isinstance(value, dict):
        ctx.error(path, "labels must be a mapping of names to values", "write one label per line as name: value")
        return None
    plain: dict[str, str] = {}
    prefixed: dict[str, str] = {}
    service = ""
    ok = True
    for key, raw in value.items():
        text = yaml_scalar_text(raw)
        if text is None:
            ctx.error(path + (key,), f"label {key!r} has no plain value",
                      'give a string value (quote an empty one as "")')
            ok = False
            continue
        if key == SERVICE_LABEL:
            if not text:
                ctx.error(path + (key,), f"{SERVICE_LABEL} is empty", "name the service, or remove the label")
                ok = False
            service = text
            continue
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        if not LABEL_NAME.match(name):
            ctx.warn(path + (key,), f"{key!r} is not a Prometheus label name, so it cannot label the SLO's series; "
                     "it is left out",
                     f"if it should label the SLO, add it as {PREFIX}<name> with letters, digits and _", key=True)
            continue
        (prefixed if key.startswith(PREFIX) else plain)[name] = text
    for name in sorted(set(plain) & set(prefixed)):
        if plain[name] != prefixed[name]:
            ctx.warn(path + (name,), f"labels {name!r} and {PREFIX + name!r} disagree; the {PREFIX} one is used, "
                     "as Pyrra puts that one on its rules", "keep only one of them", key=True)
    return ({**plain, **prefixed}, service) if ok else None


def _read_annotations(ctx: Context, path: KeyPath, value: object) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.error(path, "annotations must be a mapping of names to values",
                  "write one annotation per line as name: value")
        return None
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not key.startswith(PREFIX):
            continue
        name = key[len(PREFIX):]
        text = yaml_scalar_text(raw)
        if not LABEL_NAME.match(name) or text is None:
            ctx.warn(path + (key,), f"annotation {key!r} cannot become an alert annotation; it is left out",
                     f"use {PREFIX}<name> with letters, digits and _, and a plain value", key=True)
            continue
        out[name] = text
    return out


def _read_target(ctx: Context, spec: Mapping[str, Any]) -> float | None:
    path = ("spec", "target")
    hint = "give the target percentage as a string, e.g. target: '99.9'"
    if spec.get("target") is None:
        ctx.error(path, "target is required", hint)
        return None
    raw = spec["target"]
    if isinstance(raw, str):
        try:
            number = float(raw.strip())
        except ValueError:
            ctx.error(path, f"target {raw!r} is not a number", hint)
            return None
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        number = float(raw)
    else:
        ctx.error(path, f"target must be a percentage, got {raw!r}", hint)
        return None
    return percent_in_range(ctx, path, number, "target")


def _read_window(ctx: Context, spec: Mapping[str, Any]) -> int | None:
    path = ("spec", "window")
    raw = spec.get("window")
    if raw is None:
        ctx.error(path, "window is required", "give the SLO window, e.g. window: 28d")
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        ctx.error(path, f"window {raw!r} has no unit", f"write it with a unit, e.g. '{raw}d'")
        return None
    try:
        return parse_duration(raw)
    except DurationError as exc:
        ctx.error(path, str(exc).replace(f"; {DURATION_HINT}", ""), DURATION_HINT)
        return None


def _read_indicator(ctx: Context, path: KeyPath, value: object) -> PyrraSLI | None:
    if not isinstance(value, dict):
        ctx.error(path, "indicator is required and must be a mapping", _INDICATOR_HINT)
        return None
    ctx.unknown_keys(path, value, _INDICATORS)
    given = [kind for kind in _INDICATORS if value.get(kind) is not None]
    if not given:
        ctx.error(path, "the indicator is empty", _INDICATOR_HINT)
        return None
    if len(given) > 1:
        ctx.error(path, f"the indicator has both {given[0]} and {given[1]}; Pyrra takes exactly one", _INDICATOR_HINT)
        return None
    kind = given[0]
    body = value[kind]
    if kind == "latencyNative":
        ctx.error(path + (kind,),
                  "native histograms are not supported yet, so a latencyNative indicator cannot be imported",
                  "measure latency from a classic histogram: latency: {success: {metric: 'name_bucket{le=\"0.2\"}'}, "
                  "total: {metric: name_count}}")
        return None
    if not isinstance(body, dict):
        ctx.error(path + (kind,), f"{kind} must be a mapping", _INDICATOR_HINT)
        return None
    here = path + (kind,)
    if kind == "bool_gauge":
        ctx.unknown_keys(here, body, ("metric", "grouping"))
        gauge = _selector(ctx, here + ("metric",), body.get("metric"))
        grouping = _grouping(ctx, here + ("grouping",), body.get("grouping"))
        return ProbeSLI(gauge, grouping) if gauge is not None and grouping is not None else None
    first, second = ("errors", "total") if kind == "ratio" else ("success", "total")
    ctx.unknown_keys(here, body, (first, second, "grouping"))
    one = _metric(ctx, here + (first,), body.get(first))
    total = _metric(ctx, here + (second,), body.get(second))
    grouping = _grouping(ctx, here + ("grouping",), body.get("grouping"))
    if one is None or total is None or grouping is None:
        return None
    if kind == "ratio":
        return RatioSLI(total=total, bad=one, group_by=grouping)
    return _latency(ctx, here, one, total, grouping)


def _latency(
    ctx: Context, path: KeyPath, success: Selector, total: Selector, grouping: tuple[str, ...]
) -> LatencySLI | RatioSLI | None:
    """A Pyrra latency indicator: a latency SLI, or a ratio SLI on the histogram's counters.

    With the same matchers on both sides (le apart) it is the model's latency SLI. When success selects a
    subset of total's series by extra matchers, the good events are the bucket's increase under those
    matchers and the total events the count's increase, exactly what Pyrra's rules compute; that becomes a
    :class:`RatioSLI` with ``good`` the bucket selector and ``total`` the count selector. A ratio rather than a
    raw-PromQL SLI because both sides stay structured selectors: the compiler records them exactly as for any
    counter ratio, and the alert-test generator knows which series they read, so it can synthesise them and
    predict the alerts (it cannot for raw PromQL). Both forms match the bucket bound in each spelling client
    libraries use (``le="1"`` and ``le="1.0"``), so the two read the same data the same way.
    """
    success_path, total_path = path + ("success", "metric"), path + ("total", "metric")
    histogram_hint = 'use one histogram: success name_bucket{...,le="0.5"} and total name_count{...}'
    errors_before = ctx.error_count
    if not success.metric.endswith("_bucket"):
        ctx.error(success_path, f"success.metric {success.metric!r} is not a histogram's _bucket series",
                  histogram_hint)
    if not total.metric.endswith("_count"):
        ctx.error(total_path, f"total.metric {total.metric!r} is not a histogram's _count series", histogram_hint)
    le = [m for m in success.matchers if m.label == "le"]
    threshold = _threshold(ctx, success_path, le)
    if ctx.error_count != errors_before or threshold is None:
        return None
    base = total.metric.removesuffix("_count")
    if success.metric.removesuffix("_bucket") != base:
        ctx.error(success_path,
                  f"success and total come from different histograms ({success.metric} and {total.metric})",
                  histogram_hint)
        return None
    rest = tuple(m for m in success.matchers if m.label != "le")
    only_success = sorted(set(rest) - set(total.matchers))
    only_total = sorted(set(total.matchers) - set(rest))
    if only_total:
        ctx.error(total_path,
                  f"total has {', '.join(m.render() for m in only_total)}, which success lacks, so success would "
                  "count requests that total does not and the share of fast requests could pass 100%",
                  "give success.metric every matcher of total.metric (it may add more, such as a status filter)")
        return None
    if only_success:
        good = Selector(success.metric, rest).with_matchers(le_matcher(threshold))
        return RatioSLI(total=total, good=good, group_by=grouping)
    return LatencySLI(Selector(base, total.matchers), threshold, grouping,
                      threshold_source=ctx.position(success_path), threshold_text=le[0].value)


def _threshold(ctx: Context, path: KeyPath, le: list[Matcher]) -> float | None:
    hint = 'add the bucket bound in seconds as le="0.5" (for 500ms)'
    if len(le) != 1 or le[0].op is not MatchOp.EQ:
        ctx.error(path, 'success.metric needs exactly one le="<seconds>" matcher, the latency threshold', hint)
        return None
    try:
        threshold = float(le[0].value)
    except ValueError:
        ctx.error(path, f"le={le[0].value!r} is not a number of seconds", hint)
        return None
    if not 0 < threshold < float("inf"):
        ctx.error(path, f"le={le[0].value!r} is not a usable threshold: it must be a positive, finite bucket bound",
                  hint)
        return None
    return threshold


def _metric(ctx: Context, path: KeyPath, value: object) -> Selector | None:
    if not isinstance(value, dict):
        ctx.error(path, f"{path[-1]} is required and must be a mapping with a metric",
                  f"write {path[-1]}: {{metric: ...}}")
        return None
    ctx.unknown_keys(path, value, ("metric",))
    return _selector(ctx, path + ("metric",), value.get("metric"))


def _selector(ctx: Context, path: KeyPath, value: object) -> Selector | None:
    if not isinstance(value, str) or not value.strip():
        ctx.error(path, "metric is required and must be a series selector", _SELECTOR_HINT)
        return None
    try:
        return parse_selector(value)
    except PromQLError as exc:
        ctx.error(path, str(exc), _SELECTOR_HINT)
        return None


def _grouping(ctx: Context, path: KeyPath, value: object) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if not isinstance(value, list):
        ctx.error(path, "grouping must be a list of label names", "write grouping: [handler]")
        return None
    out: list[str] = []
    for index, label in enumerate(value):
        if not isinstance(label, str) or not LABEL_NAME.match(label):
            ctx.error(path + (index,), f"{label!r} is not a valid label name", "use letters, digits and _")
            return None
        if label not in out:
            out.append(label)
    return tuple(out)


def _read_alerting(
    ctx: Context, path: KeyPath, value: object, window: int | None, annotations: Mapping[str, str]
) -> AlertPolicy | None:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        ctx.error(path, "alerting must be a mapping", "give alerting: {name: ..., disabled: false}")
        return None
    ctx.unknown_keys(path, value, _ALERTING_KEYS)
    flags: dict[str, bool] = {}
    for key, default in (("disabled", False), ("burnrates", True), ("absent", True)):
        flag = value.get(key, default)
        if not isinstance(flag, bool):
            ctx.error(path + (key,), f"{key} must be true or false, got {flag!r}",
                      f"write {key}: {str(default).lower()}")
            return None
        flags[key] = flag
    name = optional_string(ctx, path + ("name",), value.get("name"))
    severities = _read_severities(ctx, path + ("severities",), value.get("severities"))
    if severities is None or window is None or (value.get("name") is not None and name is None):
        return None
    absent_keys = [k for k in ("absentName",) if k in value] + (["absent"] if value.get("absent") is True else [])
    for key in absent_keys:
        ctx.warn(path + (key,), "Pyrra's absent-metric alerts have no counterpart in sloengine and are not generated",
                 "alert on absent(<metric>) in your own rules if you rely on it")
    if "absent" in severities:
        ctx.warn(path + ("severities", "absent"), "Pyrra's absent-metric alerts are not generated, so their severity "
                 "has no effect", "remove it")
    page = _severity(ctx, path + ("severities",), severities, "fastBurn", "mediumBurn", "critical")
    ticket = _severity(ctx, path + ("severities",), severities, "slowBurn", "longTermBurn", "warning")
    return AlertPolicy(
        enabled=not flags["disabled"] and flags["burnrates"],
        conditions=default_conditions(window),
        name=name or "",
        annotations=labels(annotations),
        page_labels=labels({"severity": page} if page else {}),
        ticket_labels=labels({"severity": ticket} if ticket else {}),
    )


def _read_severities(ctx: Context, path: KeyPath, value: object) -> dict[str, str] | None:
    if value is None:
        return {}
    if not isinstance(value, dict):
        ctx.error(path, "severities must be a mapping", "write severities: {fastBurn: critical, slowBurn: warning}")
        return None
    ctx.unknown_keys(path, value, _SEVERITY_KEYS)
    out: dict[str, str] = {}
    for key in _SEVERITY_KEYS:
        if key in value:
            if not isinstance(value[key], str) or not value[key]:
                ctx.error(path + (key,), f"{key} must be a severity name, got {value[key]!r}", f"write {key}: critical")
                return None
            out[key] = value[key]
    return out


def _severity(ctx: Context, path: KeyPath, severities: Mapping[str, str], fast: str, slow: str, default: str) -> str:
    """One severity for the two Pyrra tiers that share a sloengine severity ("" if neither is set)."""
    if fast not in severities and slow not in severities:
        return ""
    first, second = severities.get(fast, default), severities.get(slow, default)
    if first != second:
        ctx.warn(path, f"Pyrra labels the {fast} and {slow} alerts separately ({first!r} and {second!r}); here "
                 f"both conditions of that severity get {first!r}", f"give {fast} and {slow} the same severity")
    return first


def _warn_rule_output_settings(ctx: Context, spec: Mapping[str, Any]) -> None:
    strategy = spec.get("partial_response_strategy")
    if strategy not in (None, "", "abort", "warn"):
        ctx.error(("spec", "partial_response_strategy"), f"partial_response_strategy {strategy!r} is not abort or warn",
                  "write abort or warn")
    elif strategy == "warn":
        ctx.warn(("spec", "partial_response_strategy"),
                 "partial_response_strategy is a Thanos Ruler setting sloengine does not write; its rules get "
                 "Thanos's default, abort", "set it on the Thanos rule group yourself if you need it")
    performance = spec.get("performanceOverAccuracy")
    if performance is not None and not isinstance(performance, bool):
        ctx.error(("spec", "performanceOverAccuracy"),
                  f"performanceOverAccuracy must be true or false, got {performance!r}",
                  "write performanceOverAccuracy: true")
    elif performance:
        ctx.warn(("spec", "performanceOverAccuracy"),
                 "Pyrra's performance mode is how Pyrra evaluates its rules; sloengine records the SLO its own way, "
                 "so the setting is not carried over", "remove it")
    output = spec.get("ruleOutput")
    if output is not None and not isinstance(output, dict):
        ctx.error(("spec", "ruleOutput"), "ruleOutput must be a mapping", "remove it")
    elif output:
        ctx.warn(("spec", "ruleOutput"),
                 "ruleOutput labels the PrometheusRule objects Pyrra writes; sloengine writes plain rule files, "
                 "so it is not carried over", "remove it")
