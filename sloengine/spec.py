"""The native spec format, ``apiVersion: sloengine/v1``, as pydantic models.

These classes are the single description of the format: they validate a
document, produce the JSON Schema that editors use (``sloengine schema``), and
convert into :mod:`sloengine.model`. Every string that becomes PromQL is
parsed here, so a spec that validates always compiles to queries that parse.

A document looks like::

    apiVersion: sloengine/v1
    kind: ServiceLevels
    service: {name: checkout, team: payments}
    defaults: {window: 28d}
    slos:
      - name: availability
        objective: 99.9
        sli:
          ratio:
            bad: http_requests_total{job="checkout",code=~"5.."}
            total: http_requests_total{job="checkout"}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    Discriminator,
    Tag,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from . import conventions
from .durations import DURATION_HINT, DurationError, parse_duration, parse_seconds_float
from .model import (
    SLO,
    AlertPolicy,
    AlertSeverity,
    CalendarUnit,
    CalendarWindow,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    RollingWindow,
    Service,
    SourceFormat,
    Window,
    labels,
)
from .policy import condition, default_conditions
from .promql import LABEL_NAME, PromQLError, Selector, check_raw_query, parse_selector


def _fail(message: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError("sloengine", "{message}", {"message": message, "hint": hint})


def _duration(value: Any) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise _fail(f"{value!r} has no unit", f"write it with a unit, e.g. '{value}s', '{value}m' or '{value}d'")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise _fail(str(exc), DURATION_HINT) from None


def _selector(value: Any) -> Selector:
    if not isinstance(value, str):
        raise _fail(f"expected a series selector string, got {type(value).__name__}",
                    'write it as metric_name{label="value"}')
    try:
        return parse_selector(value)
    except PromQLError as exc:
        raise _fail(str(exc), 'write a plain selector such as http_requests_total{job="api",code=~"5.."}') from None


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
LabelMap = dict[Annotated[str, StringConstraints(pattern=LABEL_NAME.pattern)], str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _group_by(value: list[str]) -> list[str]:
    seen = set()
    for label in value:
        if not LABEL_NAME.match(label):
            raise _fail(f"{label!r} is not a valid label name", "use letters, digits and _ , not starting with a digit")
        if label in conventions.RESERVED_LABELS:
            raise _fail(f"{label!r} is set by sloengine on every series and cannot be a grouping label",
                        f"group by the source label under another name; reserved: {', '.join(sorted(conventions.RESERVED_LABELS))}")
        if label in seen:
            raise _fail(f"{label!r} is listed twice", "list each grouping label once")
        seen.add(label)
    return value


class RatioSpec(_Strict):
    """Good or bad events against total events, as counter selectors."""

    good: str | None = Field(None, description='Counter of good events, e.g. http_requests_total{code!~"5.."}')
    bad: str | None = Field(None, description='Counter of bad events, e.g. http_requests_total{code=~"5.."}')
    total: str = Field(description="Counter of all events.")
    group_by: list[str] = Field(default_factory=list, description="One SLI per value of these labels.")

    _check_group = field_validator("group_by")(_group_by)

    @field_validator("good", "bad", "total")
    @classmethod
    def _parse(cls, value: str | None) -> str | None:
        if value is not None:
            _selector(value)
        return value

    @model_validator(mode="after")
    def _one_of(self) -> "RatioSpec":
        if (self.good is None) == (self.bad is None):
            raise _fail("a ratio SLI needs exactly one of 'good' and 'bad'",
                        "give the bad events (errors) or the good ones, not both")
        return self


class LatencySpec(_Strict):
    """Requests faster than a threshold, from a Prometheus histogram."""

    histogram: str = Field(description='The histogram\'s base name and matchers, without _bucket: '
                                       'http_request_duration_seconds{job="api"}')
    threshold: float | str = Field(description="Bucket boundary in seconds (0.3) or a duration ('300ms'); "
                                               "must be one of the histogram's bucket boundaries.")
    group_by: list[str] = Field(default_factory=list)

    _check_group = field_validator("group_by")(_group_by)

    @field_validator("histogram")
    @classmethod
    def _parse(cls, value: str) -> str:
        selector = _selector(value)
        for suffix in ("_bucket", "_count", "_sum"):
            if selector.metric.endswith(suffix):
                base = selector.metric[: -len(suffix)]
                raise _fail(f"{selector.metric!r} is a histogram series, not its base name",
                            f"write {base!r}; sloengine reads {base}_bucket and {base}_count itself")
        if any(m.label == "le" for m in selector.matchers):
            raise _fail("the selector matches 'le' itself", "remove the le matcher and set 'threshold'")
        return value

    @field_validator("threshold")
    @classmethod
    def _threshold(cls, value: float | str) -> float | str:
        seconds = _threshold_seconds(value)
        if not seconds > 0:
            raise _fail(f"threshold {value!r} is not positive", "give the bucket boundary in seconds, e.g. 0.3")
        return value


def _threshold_seconds(value: float | str) -> float:
    if isinstance(value, str):
        try:
            return parse_seconds_float(value)
        except DurationError as exc:
            raise _fail(str(exc), "give seconds as a number (0.25) or a duration ('250ms')") from None
    return float(value)


class ProbeSpec(_Strict):
    """A 0/1 gauge such as up or probe_success; the SLI is the share of samples at 1."""

    metric: str = Field(description='e.g. probe_success{job="blackbox"}')
    group_by: list[str] = Field(default_factory=list)

    _check_group = field_validator("group_by")(_group_by)

    @field_validator("metric")
    @classmethod
    def _parse(cls, value: str) -> str:
        _selector(value)
        return value


class RawSpec(_Strict):
    """PromQL escape hatch: queries with a [$window] range, an error ratio or event counts."""

    error_ratio: str | None = Field(None, description="Query for the error ratio over [$window].")
    good: str | None = Field(None, description="Query for good events over [$window].")
    bad: str | None = Field(None, description="Query for bad events over [$window].")
    total: str | None = Field(None, description="Query for all events over [$window].")
    group_by: list[str] = Field(default_factory=list)

    _check_group = field_validator("group_by")(_group_by)

    @field_validator("error_ratio", "good", "bad", "total")
    @classmethod
    def _parse(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_raw_query(value)
            except PromQLError as exc:
                raise _fail(str(exc), "write valid PromQL with the range as [$window]") from None
        return value

    @model_validator(mode="after")
    def _shape(self) -> "RawSpec":
        events = self.total is not None and ((self.good is None) != (self.bad is None))
        ratio = self.error_ratio is not None and self.total is None and self.good is None and self.bad is None
        if not (events or ratio):
            raise _fail("a raw SLI needs 'error_ratio' alone, or 'total' with exactly one of 'good' and 'bad'",
                        "keep one of those two shapes")
        return self


class SLISpec(_Strict):
    """Exactly one kind of indicator."""

    ratio: RatioSpec | None = None
    latency: LatencySpec | None = None
    probe: ProbeSpec | None = None
    raw: RawSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, data: Any) -> Any:
        if isinstance(data, dict):
            kinds = [k for k in ("ratio", "latency", "probe", "raw") if data.get(k) is not None]
            if len(kinds) > 1:
                raise _fail(f"the SLI has {len(kinds)} kinds ({', '.join(kinds)})", "keep exactly one of them")
            if not kinds and not (set(data) - {"ratio", "latency", "probe", "raw"}):
                raise _fail("the SLI has no kind", "add one of: ratio, latency, probe, raw")
        return data


class CalendarSpec(_Strict):
    calendar: Literal["week", "month", "quarter"] = Field(description="Calendar period; weeks start on Monday.")
    timezone: str = Field("UTC", description="IANA time zone the period boundaries follow, e.g. Europe/Berlin.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise _fail(f"{value!r} is not an IANA time zone", "use a name such as UTC, Europe/Berlin or America/New_York") from None
        return value


class RollingSpec(_Strict):
    rolling: str = Field(description="Rolling window length, e.g. 28d.")

    @field_validator("rolling")
    @classmethod
    def _check(cls, value: str) -> str:
        _duration(value)
        return value


def _window(value: Any) -> Any:
    if isinstance(value, str):
        _duration(value)
        return {"rolling": value}
    if isinstance(value, dict) and "calendar" not in value and "rolling" not in value:
        raise _fail("a window mapping needs 'rolling' or 'calendar'",
                    "write window: 28d, {rolling: 28d} or {calendar: month, timezone: UTC}")
    return value


def _window_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "calendar-window" if "calendar" in value else "rolling-window"
    return "calendar-window" if isinstance(value, CalendarSpec) else "rolling-window"


WindowSpec = Annotated[
    Annotated[RollingSpec, Tag("rolling-window")] | Annotated[CalendarSpec, Tag("calendar-window")],
    Discriminator(_window_kind),
    BeforeValidator(_window, json_schema_input_type=str | RollingSpec | CalendarSpec),
    Field(description="A rolling window ('28d' or {rolling: 28d}) or a calendar period "
                      "({calendar: month, timezone: UTC})."),
]


class SeveritySpec(_Strict):
    enabled: bool = True
    labels: LabelMap = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class ConditionSpec(_Strict):
    """One multi-window burn-rate condition."""

    severity: AlertSeverity
    long: str = Field(description="Long window, e.g. 1h.")
    short: str = Field(description="Short window that lets the alert reset, about 1/12 of the long one.")
    factor: float | None = Field(None, gt=0, description="Burn rate that fires (14.4 = 2% of a 30d budget in 1h).")
    budget_percent: float | None = Field(None, gt=0, le=100, description="Share of the budget burnt within the long window that fires; instead of factor.")
    for_: str | None = Field(None, alias="for", description="How long the condition must hold.")

    @field_validator("long", "short", "for_")
    @classmethod
    def _dur(cls, value: str | None) -> str | None:
        if value is not None:
            _duration(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> "ConditionSpec":
        if (self.factor is None) == (self.budget_percent is None):
            raise _fail("give exactly one of 'factor' and 'budget_percent'", "e.g. factor: 14.4 or budget_percent: 2")
        if _duration(self.short) >= _duration(self.long):
            raise _fail(f"short window {self.short} is not shorter than long window {self.long}",
                        "make the short window about 1/12 of the long one")
        return self


class AlertingSpec(_Strict):
    enabled: bool = True
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Alert name; default derived from the SLO.")
    labels: LabelMap = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict, description="summary, description, runbook_url, dashboard_url, ...")
    page: SeveritySpec = Field(default_factory=SeveritySpec)
    ticket: SeveritySpec = Field(default_factory=SeveritySpec)
    min_events: int = Field(0, ge=0, description="Fewest events the long window must hold before an alert may fire.")
    conditions: list[ConditionSpec] | None = Field(None, description="Override the SRE workbook's four conditions.")


class SLOSpec(_Strict):
    name: Name
    description: str = ""
    objective: float = Field(description="Target in percent, e.g. 99.9 (strictly between 0 and 100).",
                             json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 100})
    window: WindowSpec | None = Field(None, description="Default: the file's defaults.window, else 30d.")
    labels: LabelMap = Field(default_factory=dict)
    sli: SLISpec
    alerting: AlertingSpec | None = None

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        if 0 < value < 1:
            raise _fail(f"objective {value:g} reads as a fraction, but objectives are percentages",
                        f"did you mean {value * 100:g}?")
        if not 0 < value < 100:
            raise _fail(f"objective {value:g} is out of range",
                        "give a percentage strictly between 0 and 100, e.g. 99.9")
        return value


class ServiceSpec(_Strict):
    name: Name
    team: str = ""
    owner: str = ""
    description: str = ""
    labels: LabelMap = Field(default_factory=dict)


class DefaultsSpec(_Strict):
    window: WindowSpec | None = None
    alerting: AlertingSpec | None = None


class ServiceLevelsSpec(_Strict):
    """A file of SLOs for one service."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="sloengine ServiceLevels (sloengine/v1)")

    api_version: Literal["sloengine/v1"] = Field(alias="apiVersion")
    kind: Literal["ServiceLevels"]
    service: ServiceSpec
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    slos: list[SLOSpec] = Field(min_length=1, description="SLO names are unique per service, across all files.")


# ---- conversion into the model -------------------------------------------------------------


def to_window(spec: RollingSpec | CalendarSpec | None) -> Window:
    if spec is None:
        return RollingWindow(conventions.DEFAULT_WINDOW_SECONDS)
    if isinstance(spec, RollingSpec):
        return RollingWindow(parse_duration(spec.rolling))
    return CalendarWindow(CalendarUnit(spec.calendar), spec.timezone)


def _merge_alerting(default: AlertingSpec | None, own: AlertingSpec | None) -> AlertingSpec:
    if default is None:
        return own or AlertingSpec()
    if own is None:
        return default
    return AlertingSpec.model_validate(
        _deep_merge(default.model_dump(by_alias=True, exclude_unset=True),
                    own.model_dump(by_alias=True, exclude_unset=True))
    )


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key (labels, annotations, page/ticket); anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def to_policy(spec: AlertingSpec, period_seconds: int) -> AlertPolicy:
    if spec.conditions is None:
        conditions = default_conditions(period_seconds)
    else:
        conditions = tuple(
            condition(c.severity, parse_duration(c.long), parse_duration(c.short), period_seconds,
                      factor=c.factor, budget_percent=c.budget_percent,
                      for_seconds=parse_duration(c.for_) if c.for_ else 0)
            for c in spec.conditions
        )
    enabled_severities = {s for s, sev in ((AlertSeverity.PAGE, spec.page), (AlertSeverity.TICKET, spec.ticket)) if sev.enabled}
    conditions = tuple(c for c in conditions if c.severity in enabled_severities)
    return AlertPolicy(
        enabled=spec.enabled and bool(conditions),
        conditions=conditions,
        name=spec.name or "",
        labels=labels(spec.labels),
        annotations=labels(spec.annotations),
        page_labels=labels(spec.page.labels),
        page_annotations=labels(spec.page.annotations),
        ticket_labels=labels(spec.ticket.labels),
        ticket_annotations=labels(spec.ticket.annotations),
        min_events=spec.min_events,
    )


def to_sli(spec: SLISpec):
    if spec.ratio is not None:
        r = spec.ratio
        return RatioSLI(
            total=_selector(r.total),
            good=_selector(r.good) if r.good else None,
            bad=_selector(r.bad) if r.bad else None,
            group_by=tuple(r.group_by),
        )
    if spec.latency is not None:
        lat = spec.latency
        return LatencySLI(_selector(lat.histogram), _threshold_seconds(lat.threshold), tuple(lat.group_by))
    if spec.probe is not None:
        return ProbeSLI(_selector(spec.probe.metric), tuple(spec.probe.group_by))
    assert spec.raw is not None
    raw = spec.raw
    return RawSLI(raw.error_ratio, raw.good, raw.bad, raw.total, tuple(raw.group_by))


def to_model(spec: ServiceLevelsSpec, position_of) -> tuple[Service, tuple[SLO, ...]]:
    """Convert a validated document; ``position_of(path)`` locates each SLO in its file."""
    svc = spec.service
    service = Service(svc.name, svc.team, svc.owner, svc.description, labels(svc.labels), position_of(("service",)))
    slos = []
    for i, s in enumerate(spec.slos):
        window = to_window(s.window if s.window is not None else spec.defaults.window)
        alerting = _merge_alerting(spec.defaults.alerting, s.alerting)
        slos.append(
            SLO(
                service=svc.name,
                name=s.name,
                objective=float(s.objective),
                window=window,
                sli=to_sli(s.sli),
                alerting=to_policy(alerting, window.nominal_seconds),
                description=s.description,
                labels=labels(s.labels),
                source=position_of(("slos", i)),
                source_format=SourceFormat.NATIVE,
            )
        )
    return service, tuple(slos)

