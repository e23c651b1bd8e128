"""The native spec format, ``apiVersion: sloengine/v1``, as pydantic models.

These classes are the single description of the format: they validate a
document, produce the JSON Schema that editors use (``sloengine schema``), and
each block converts into :mod:`sloengine.model.slo` (the reader,
:mod:`sloengine.specs.importers.native`, assembles a whole document with its
agreements from :mod:`sloengine.specs.agreement_spec`). Every string that becomes
PromQL is parsed here, so a spec that validates always compiles to queries that parse.

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

import difflib
import json
import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..model import conventions
from ..model.calendars import is_time_zone
from ..model.diagnostics import Position
from ..model.durations import DURATION_HINT, DurationError, parse_duration, parse_seconds_float
from ..model.promql import LABEL_NAME, PromQLError, Selector, check_raw_query, parse_selector
from ..model.slo import (
    SLI,
    WEEKDAYS,
    AlertPolicy,
    AlertSeverity,
    CalendarUnit,
    CalendarWindow,
    ClockRange,
    EscalationLevel,
    EscalationPolicy,
    LatencySLI,
    MaintenanceWindow,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    Receiver,
    RollingWindow,
    WeeklyHours,
    Window,
    default_policy,
    labels,
)
from .policy import condition, default_conditions


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
                        "group by the source label under another name; reserved: "
                        + ", ".join(sorted(conventions.RESERVED_LABELS)))
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
    def _one_of(self) -> RatioSpec:
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
    def _shape(self) -> RawSpec:
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
        if not is_time_zone(value):
            raise _fail(f"{value[:80]!r} is not an IANA time zone",
                        "use a name such as UTC, Europe/Berlin or America/New_York")
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
    budget_percent: float | None = Field(
        None, gt=0, le=100,
        description="Share of the budget burnt within the long window that fires; instead of factor.")
    for_: str | None = Field(None, alias="for", description="How long the condition must hold.")

    @field_validator("long", "short", "for_")
    @classmethod
    def _dur(cls, value: str | None) -> str | None:
        if value is not None:
            _duration(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> ConditionSpec:
        if (self.factor is None) == (self.budget_percent is None):
            raise _fail("give exactly one of 'factor' and 'budget_percent'", "e.g. factor: 14.4 or budget_percent: 2")
        if _duration(self.short) >= _duration(self.long):
            raise _fail(f"short window {self.short} is not shorter than long window {self.long}",
                        "make the short window about 1/12 of the long one")
        return self


class AlertingSpec(_Strict):
    enabled: bool = True
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                             description="Alert name; default derived from the SLO.")
    labels: LabelMap = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict,
                                        description="summary, description, runbook_url, dashboard_url, ...")
    page: SeveritySpec = Field(default_factory=SeveritySpec)
    ticket: SeveritySpec = Field(default_factory=SeveritySpec)
    min_events: int = Field(0, ge=0, description="Fewest events the long window must hold before an alert may fire.")
    conditions: list[ConditionSpec] | None = Field(None, description="Override the SRE workbook's four conditions.")
    templates: bool = Field(False, description="Label and annotation values are Prometheus templates "
                                               "({{ $labels.instance }}, {{ $value }}), checked at validate; "
                                               "by default they are literal text.")


# ---- escalation: who is notified, when, and through which Alertmanager receivers ----------------


_CLOCK_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_ZERO = re.compile(r"^0+(?:ms|s|m|h|d|w|y)?$")


def _zone(value: str) -> str:
    if not is_time_zone(value):
        raise _fail(f"{value[:80]!r} is not an IANA time zone",
                    "use a name such as UTC, Europe/Berlin or America/New_York")
    return value


def _delay(value: Any) -> int:
    """A delay that may be zero (``0m``: at once)."""
    if isinstance(value, str) and _ZERO.match(value.strip()):
        return 0
    if value == 0 and not isinstance(value, bool):
        return 0
    return _duration(value)


def _delay_text(value: Any) -> Any:
    """Check a delay as it is written (``30m``, ``0m``); a bare number is refused for its missing unit."""
    if value is not None:
        _delay(value)
    return "0s" if value == 0 and not isinstance(value, bool) else value


def _weekday_range(value: str) -> str:
    text = value.strip().lower()
    dashed = re.split(r"\s*[-\u2013\u2014]\s*|\s+to\s+", text)
    if len(dashed) == 2 and all(part in WEEKDAYS for part in dashed):
        raise _fail(f"{value!r} is not a weekday or a range of weekdays",
                    f"write a range with a colon, first:last: \"{dashed[0]}:{dashed[1]}\"")
    parts = text.split(":")
    for part in parts:
        if part not in WEEKDAYS:
            close = difflib.get_close_matches(part, WEEKDAYS, n=1, cutoff=0.6)
            raise _fail(f"{value!r} is not a weekday or a range of weekdays",
                        f"did you mean {close[0]!r}?" if close else "write a day (monday) or a range (monday:friday)")
    if len(parts) > 2:
        raise _fail(f"{value!r} has more than two days", "write a range as first:last, e.g. monday:friday")
    if len(parts) == 2 and WEEKDAYS.index(parts[0]) > WEEKDAYS.index(parts[1]):
        raise _fail(f"the range {value!r} runs backwards (weeks start on Monday)",
                    f"write it as two entries: {parts[0]}:sunday and "
                    f"{'monday' if parts[1] == 'monday' else 'monday:' + parts[1]}")
    return text


def _clock_range(value: str) -> ClockRange:
    match = _CLOCK_RANGE.match(value.strip()) if isinstance(value, str) else None
    hint = "write start-end as HH:MM-HH:MM in 24-hour time, e.g. 09:00-17:00 (24:00 is the end of the day)"
    if match is None:
        raise _fail(f"{value!r} is not a time range", hint)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if m1 > 59 or m2 > 59 or h1 > 23 or h2 > 24 or (h2 == 24 and m2):
        raise _fail(f"{value!r} is not a time of day", hint)
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start >= end:
        raise _fail(f"the range {value!r} ends before it starts",
                    "split a range over midnight into two, e.g. 22:00-24:00 and 00:00-06:00")
    return ClockRange(start, end)


def _clock_text(value: str) -> str:
    _clock_range(value)
    return value.strip()


Weekdays = Annotated[str, AfterValidator(_weekday_range)]
ClockText = Annotated[str, AfterValidator(_clock_text)]


#: Keys of recurring hours that users may have written (an earlier README spelled them so), refused
#: where they stand with the spelling to use: (message, fix) by key, read by the native reader.
_HOURS_SPELLINGS: dict[str, tuple[str, str]] = {
    "days": ("unknown key 'days'", 'days are listed under weekdays:, e.g. weekdays: ["monday:friday"]'),
    "hours": ("unknown key 'hours'", 'times of day are listed under times:, e.g. times: ["08:00-18:00"]'),
}


class HoursSpec(_Strict):
    """Recurring hours: weekdays and times of day in a time zone. The same keys serve an escalation
    policy's support hours and maintenance windows, and an agreement's support hours and exclusions."""

    #: Keys refused with a specific fix instead of "unknown key" (see ``_HOURS_SPELLINGS``).
    spellings: ClassVar[dict[str, tuple[str, str]]] = {
        **_HOURS_SPELLINGS,
        "holidays": ("holidays are not taken in an escalation policy's support hours",
                     "remove them: tickets follow the weekly hours; holidays belong in an agreement's support_hours"),
    }

    timezone: str = Field("UTC", description="IANA time zone the hours are wall-clock times in.")
    weekdays: list[Weekdays] = Field(default_factory=list,
                                     description="Days or ranges: monday, monday:friday. Empty: every day.")
    times: list[ClockText] = Field(
        default_factory=list, description="Times of day, HH:MM-HH:MM (end exclusive, 24:00 allowed). Empty: all day.")

    _check_zone = field_validator("timezone")(_zone)


class MaintenanceSpec(_Strict):
    """A named window, weekly (weekdays/times, as recurring hours) or once (start/end). Under
    escalation.maintenance it mutes every notification; under an agreement's exclusions its time is removed
    from good and total events."""

    spellings: ClassVar[dict[str, tuple[str, str]]] = _HOURS_SPELLINGS

    name: Name
    timezone: str = Field("UTC", description="IANA time zone of the times (and of start/end without an offset).")
    weekdays: list[Weekdays] | None = Field(None, description="Weekly: days or ranges (monday:friday).")
    times: list[ClockText] | None = Field(None, description="Weekly: HH:MM-HH:MM (end exclusive, 24:00 allowed).")
    start: datetime | None = Field(None, description="Once: the window's first minute, e.g. '2026-03-01 22:00'.")
    end: datetime | None = Field(None, description="Once: the first minute after the window.")

    _check_zone = field_validator("timezone")(_zone)

    @field_validator("start", "end")
    @classmethod
    def _minutes(cls, value: datetime | None) -> datetime | None:
        if value is not None and (value.second or value.microsecond):
            raise _fail(f"{value.isoformat()} is not a whole minute",
                        "Alertmanager counts time in minutes: drop the seconds")
        return value

    @model_validator(mode="after")
    def _shape(self) -> MaintenanceSpec:
        once = self.start is not None or self.end is not None
        weekly = self.weekdays is not None or self.times is not None
        if once and weekly:
            raise _fail("a maintenance window is either weekly (weekdays/times) or once (start/end), not both",
                        "split it into two windows")
        if not once and not weekly:
            raise _fail("the maintenance window has no time",
                        "give weekdays and/or times for a weekly window, or start and end for a one-off")
        if once:
            if self.start is None or self.end is None:
                raise _fail("a one-off maintenance window needs both start and end", "add the missing one")
            if _aware(self.end, self.timezone) <= _aware(self.start, self.timezone):
                raise _fail(f"the window ends ({self.end}) before it starts ({self.start})", "swap start and end")
        return self


def _aware(moment: datetime, timezone: str) -> datetime:
    """A datetime without an offset is wall-clock time in ``timezone``."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ZoneInfo(timezone))
    return moment


def _receiver_name(value: str) -> str:
    if value == conventions.DEFAULT_RECEIVER:
        raise _fail(f"{value!r} is the root receiver of the generated Alertmanager configuration",
                    "choose another receiver name")
    return value


ReceiverName = Annotated[Name, AfterValidator(_receiver_name)]


class LevelSpec(_Strict):
    """One escalation level: who is notified, and after how long a page has stayed unresolved."""

    level: Literal["L1", "L2", "L3"]
    receiver: ReceiverName = Field(description="Name of an Alertmanager receiver (defined under receivers:).")
    after: Annotated[str | None, BeforeValidator(_delay_text)] = Field(
        None, description="How long the page must have fired (0m for L1, the default; required for L2 and L3; "
                          "0m notifies that level with the page).")


def _unique_windows(value: list[MaintenanceSpec] | None) -> list[MaintenanceSpec] | None:
    """Maintenance windows and exclusions are named, each name once per list."""
    names = [m.name for m in value or ()]
    for name in names:
        if names.count(name) > 1:
            raise _fail(f"window {name!r} is listed twice", "give each window its own name")
    return value


class EscalationSpec(_Strict):
    """Who gets the pages and tickets, when a page escalates, and when notifications are held back."""

    levels: list[LevelSpec] | None = Field(None, description="L1 (notified with the page), then L2 and L3 with "
                                                             "their delays. Default: L1 = the service's team.")
    tickets: ReceiverName | None = Field(None, description="Receiver of tickets; default: L1's receiver.")
    support_hours: HoursSpec | None = Field(None, description="Tickets are delivered only within these hours.")
    maintenance: list[MaintenanceSpec] | None = Field(None, description="Windows in which every notification is muted.")

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[LevelSpec] | None) -> list[LevelSpec] | None:
        if value is None:
            return None
        if not value:
            raise _fail("no escalation levels", "list at least L1: [{level: L1, receiver: my-oncall}]")
        names = [lv.level for lv in value]
        if names[0] != "L1":
            raise _fail(f"the first level is {names[0]}, not L1", "start with L1, the on-call notified with the page")
        for name in names:
            if names.count(name) > 1:
                raise _fail(f"level {name} is listed twice", "list each level once")
        if names != sorted(names):
            raise _fail(f"levels are out of order ({', '.join(names)})", "list them as L1, L2, L3")
        if value[0].after is not None and _delay(value[0].after) != 0:
            raise _fail(f"L1 has a delay ({value[0].after}); L1 is notified with the page",
                        "remove 'after' from L1 (or make L2 the level that waits)")
        for lv in value[1:]:
            if lv.after is None:
                raise _fail(f"{lv.level} has no 'after'",
                            f"say how long a page must stay unresolved before {lv.level} is notified, e.g. after: 30m")
        return value

    _unique = field_validator("maintenance")(_unique_windows)


#: What Go's ``net/url`` (which Alertmanager parses receiver URLs with) refuses, so that a URL validate accepts
#: is one ``amtool check-config`` accepts: control characters anywhere, ``%`` not followed by two hex digits,
#: a host character outside its set (non-ASCII is allowed), a port that is not digits.
_URL_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_URL_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=<>\"\x80-\U0010ffff]*)(?::[0-9]*)?$")
_URL_USERINFO = re.compile(r"^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$")


def _http_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise _fail(f"{value!r} is not an http(s) URL", "write the full URL, e.g. https://hooks.example.com/alerts")
    if _URL_CONTROL.search(value):
        raise _fail(f"{value!r} holds a control character, which no URL may hold",
                    "remove it (a line break or tab pasted with the URL?)")
    if _URL_BAD_ESCAPE.search(value):
        raise _fail(f"{value!r} has a '%' that is not followed by two hex digits (Alertmanager refuses it)",
                    "write a literal '%' as %25, or correct the escape")
    userinfo, _, host = parsed.netloc.rpartition("@")
    if not _URL_HOST.match(host) or not _URL_USERINFO.match(userinfo):
        raise _fail(f"{value!r} has a host Alertmanager cannot parse ({host!r})",
                    "write the host as a name or address with an optional numeric port, e.g. hooks.example.com:8443")
    return value


class WebhookSpec(_Strict):
    """Alertmanager's webhook integration: notifications POSTed as JSON to a URL."""

    url: str = Field(description="Where Alertmanager POSTs its JSON notifications.")
    send_resolved: bool | None = Field(None,
                                       description="Also notify when alerts resolve (Alertmanager's default: true).")
    max_alerts: int | None = Field(None, ge=0, description="Most alerts per message (0: all).")

    _check_url = field_validator("url")(_http_url)


class EmailSpec(_Strict):
    """Alertmanager's email integration."""

    to: str = Field(description="Recipient address(es).")
    from_: str = Field(alias="from", description="Sender address.")
    smarthost: str = Field(description="SMTP server as host:port.")
    require_tls: bool | None = Field(None, description="Insist on STARTTLS (Alertmanager's default: true).")
    send_resolved: bool | None = Field(None,
                                       description="Also notify when alerts resolve (Alertmanager's default: false).")

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if not re.match(r"^[^\s:/]+:\d{1,5}$", value):
            raise _fail(f"{value!r} is not host:port", "give the SMTP server with its port, e.g. smtp.example.com:587")
        return value


class PagerDutySpec(_Strict):
    """Alertmanager's PagerDuty integration: exactly one of the four keys."""

    routing_key: str | None = Field(None, description="Events API v2 integration key (prefer routing_key_file).")
    routing_key_file: str | None = Field(None, description="File holding the Events API v2 integration key.")
    service_key: str | None = Field(None, description="Events API v1 integration key (prefer service_key_file).")
    service_key_file: str | None = Field(None, description="File holding the Events API v1 integration key.")
    url: str | None = Field(None, description="PagerDuty API URL (default: Alertmanager's global pagerduty_url).")
    severity: str | None = Field(None,
                                 description="PagerDuty severity of the events: critical, error, warning or info.")
    send_resolved: bool | None = Field(None,
                                       description="Also notify when alerts resolve (Alertmanager's default: true).")

    _check_url = field_validator("url")(lambda v: v if v is None else _http_url(v))

    @model_validator(mode="after")
    def _one_key(self) -> PagerDutySpec:
        keys = [k for k in ("routing_key", "routing_key_file", "service_key", "service_key_file")
                if getattr(self, k) is not None]
        if len(keys) != 1:
            raise _fail(f"a PagerDuty integration needs exactly one key, got {len(keys)}",
                        "give one of routing_key_file (preferred), routing_key, service_key_file, service_key")
        return self


class SlackSpec(_Strict):
    """Alertmanager's Slack integration: exactly one of api_url and api_url_file."""

    api_url: str | None = Field(None, description="Incoming-webhook URL (prefer api_url_file).")
    api_url_file: str | None = Field(None, description="File holding the incoming-webhook URL.")
    channel: str | None = Field(None, description="Channel or user to post to, e.g. #payments-alerts.")
    title: str | None = Field(None, description="Message title (an Alertmanager template).")
    text: str | None = Field(None, description="Message text (an Alertmanager template).")
    send_resolved: bool | None = Field(None,
                                       description="Also notify when alerts resolve (Alertmanager's default: false).")

    _check_url = field_validator("api_url")(lambda v: v if v is None else _http_url(v))

    @model_validator(mode="after")
    def _one_url(self) -> SlackSpec:
        if (self.api_url is None) == (self.api_url_file is None):
            raise _fail("a Slack integration needs exactly one of api_url and api_url_file",
                        "give api_url_file (keeps the secret out of the spec) or api_url")
        return self


class ReceiverSpec(_Strict):
    """An Alertmanager receiver: a validated subset of Alertmanager's integrations, passed through to the
    generated configuration under the receiver's name. A receiver with no integrations discards what it gets."""

    webhook_configs: list[WebhookSpec] = Field(default_factory=list,
                                               description="Webhooks: {url, send_resolved, max_alerts}.")
    email_configs: list[EmailSpec] = Field(default_factory=list,
                                           description="Email: {to, from, smarthost, require_tls, send_resolved}.")
    pagerduty_configs: list[PagerDutySpec] = Field(
        default_factory=list,
        description="PagerDuty: one of routing_key_file, routing_key, service_key_file, service_key; "
                    "url, severity, send_resolved.")
    slack_configs: list[SlackSpec] = Field(
        default_factory=list, description="Slack: one of api_url_file, api_url; channel, title, text, send_resolved.")


class SLOSpec(_Strict):
    name: Name
    description: str = ""
    objective: float = Field(description="Target in percent, e.g. 99.9 (strictly between 0 and 100).",
                             json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 100})
    window: WindowSpec | None = Field(None, description="Default: the file's defaults.window, else 30d.")
    labels: LabelMap = Field(default_factory=dict)
    sli: SLISpec
    alerting: AlertingSpec | None = None
    escalation: EscalationSpec | None = Field(None, description="Overrides defaults.escalation key by key.")

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
    escalation: EscalationSpec | None = Field(None, description="Escalation policy of every SLO in the file.")


class SupportHoursSpec(HoursSpec):
    """When an agreement's target applies: recurring hours, less holidays. Absent: around the clock."""

    spellings: ClassVar[dict[str, tuple[str, str]]] = _HOURS_SPELLINGS

    holidays: list[date] = Field(default_factory=list, description="Dates (YYYY-MM-DD) outside support hours.")


class CreditSpec(_Strict):
    below: float = Field(gt=0, lt=100, description="Attainment (percent) below which this credit is owed.")
    credit: float = Field(gt=0, le=100, description="Credit, in percent of the period's fee.")


class CoverSpec(_Strict):
    """An SLO whose SLI the agreement holds to its target."""

    slo: Name
    service: Name | None = Field(None, description="Default: this file's service.")
    objective: float | None = Field(None, gt=0, lt=100, description="Percent; default: the agreement's or its tier's.")
    match: LabelMap = Field(default_factory=dict,
                            description="Extra label matchers narrowing the SLI, e.g. {customer: acme}.")


class TierSpec(_Strict):
    """A level the service is offered at (gold, silver, ...): defaults for agreements naming it."""

    objective: float = Field(gt=0, lt=100)
    credits: list[CreditSpec] = Field(default_factory=list)
    support_hours: SupportHoursSpec | None = None
    escalate_to: str = Field("", description="Highest escalation level SLAs of this tier reach, e.g. L3.")


class AgreementSpec(_Strict):
    """An SLA (with a customer), OLA (between internal teams) or UC (with a vendor)."""

    name: Name
    kind: Literal["sla", "ola", "uc"]
    description: str = ""
    provider: str = Field(description="Who promises: the service's team (SLA, OLA) or the vendor (UC).")
    customer: str = Field("", description="Who is promised: the customer (SLA) or the internal team (OLA, UC).")
    tier: Name | None = Field(None, description="A tier under tiers: supplying objective, credits, support hours.")
    objective: float | None = Field(None, gt=0, lt=100, description="Target in percent for every covered SLO.")
    period: CalendarSpec = Field(default_factory=lambda: CalendarSpec(calendar="month"),
                                 description="The calendar period the target is measured over (default: month, UTC).")
    covers: list[CoverSpec] = Field(default_factory=list)
    support_hours: SupportHoursSpec | None = Field(None, description="Default: around the clock.")
    exclusions: list[MaintenanceSpec] = Field(default_factory=list,
                                              description="Time removed from good and total events (maintenance).")
    credits: list[CreditSpec] | None = Field(None, description="Service credits; default: the tier's.")
    depends_on: list[Name] = Field(default_factory=list, description="OLAs and UCs this agreement relies on.")
    review_every: Literal["month", "quarter"] | None = None
    notify: ReceiverName | None = Field(
        None, description="Alertmanager receiver (the agreement's owner or account team) that the agreement's "
                          "breach-risk alerts (budget 50/75/90/100% spent, projected breach) are routed to.")

    _unique = field_validator("exclusions")(_unique_windows)


class ServiceLevelsSpec(_Strict):
    """A file of SLOs for one service."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="sloengine ServiceLevels (sloengine/v1)")

    api_version: Literal["sloengine/v1"] = Field(alias="apiVersion")
    kind: Literal["ServiceLevels"]
    service: ServiceSpec
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    slos: list[SLOSpec] = Field(min_length=1, description="SLO names are unique per service, across all files.")
    receivers: dict[ReceiverName, ReceiverSpec] = Field(
        default_factory=dict,
        description="Alertmanager receivers by name (not 'sloengine-default'), for the escalation levels and tickets "
                    "of any file; a name defined in several files must be defined alike. Without an escalation "
                    "policy an SLO's alerts go to the receiver named after its team (else its service).")
    tiers: dict[Name, TierSpec] = Field(default_factory=dict, description="Service tiers by name (gold, silver, ...).")
    agreements: list[AgreementSpec] = Field(default_factory=list,
                                            description="SLAs, OLAs and underpinning contracts on these SLOs.")


# ---- conversion into the model -------------------------------------------------------------


def to_window(spec: RollingSpec | CalendarSpec | None) -> Window:
    if spec is None:
        return RollingWindow(conventions.DEFAULT_WINDOW_SECONDS)
    if isinstance(spec, RollingSpec):
        return RollingWindow(parse_duration(spec.rolling))
    return CalendarWindow(CalendarUnit(spec.calendar), spec.timezone)


def merge_alerting(default: AlertingSpec | None, own: AlertingSpec | None) -> AlertingSpec:
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


def merge_escalation(default: EscalationSpec | None, own: EscalationSpec | None) -> EscalationSpec | None:
    if default is None or own is None:
        return own or default
    return EscalationSpec.model_validate(
        _deep_merge(default.model_dump(by_alias=True, exclude_unset=True),
                    own.model_dump(by_alias=True, exclude_unset=True))
    )


def to_hours(spec: HoursSpec) -> WeeklyHours:
    """Support hours of an escalation policy, an agreement or a tier (only the latter two have holidays)."""
    holidays = tuple(sorted(set(spec.holidays))) if isinstance(spec, SupportHoursSpec) else ()
    return WeeklyHours(spec.timezone, tuple(spec.weekdays), tuple(_clock_range(t) for t in spec.times), holidays)


def to_maintenance(spec: MaintenanceSpec) -> MaintenanceWindow:
    """A maintenance window of an escalation policy, or an agreement's exclusion: the same block."""
    if spec.start is not None and spec.end is not None:
        return MaintenanceWindow(spec.name, start=_aware(spec.start, spec.timezone),
                                 end=_aware(spec.end, spec.timezone), timezone=spec.timezone)
    hours = WeeklyHours(spec.timezone, tuple(spec.weekdays or ()), tuple(_clock_range(t) for t in spec.times or ()))
    return MaintenanceWindow(spec.name, hours=hours, timezone=spec.timezone)


def to_escalation(spec: EscalationSpec | None, service: str, team: str) -> EscalationPolicy | None:
    """The SLO's policy; None when no spec says anything (the default applies)."""
    if spec is None:
        return None
    if spec.levels is None:
        levels = default_policy(service, team).levels
    else:
        levels = tuple(EscalationLevel(lv.level, lv.receiver, _delay(lv.after) if lv.after is not None else 0)
                       for lv in spec.levels)
    return EscalationPolicy(
        levels=levels,
        ticket_receiver=spec.tickets or "",
        support_hours=to_hours(spec.support_hours) if spec.support_hours is not None else None,
        maintenance=tuple(to_maintenance(m) for m in spec.maintenance or ()),
    )


def to_receiver(name: str, spec: ReceiverSpec, source: Position | None = None) -> Receiver:
    config = {key: [item.model_dump(by_alias=True, exclude_none=True) for item in items]
              for key, items in (("webhook_configs", spec.webhook_configs), ("email_configs", spec.email_configs),
                                 ("pagerduty_configs", spec.pagerduty_configs), ("slack_configs", spec.slack_configs))
              if items}
    return Receiver(name, json.dumps(config, sort_keys=True), source)


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
    enabled_severities = {s for s, sev in ((AlertSeverity.PAGE, spec.page), (AlertSeverity.TICKET, spec.ticket))
                          if sev.enabled}
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
        templates=spec.templates,
    )


def to_sli(spec: SLISpec, threshold_at: Position | None = None) -> SLI:
    """The SLI; ``threshold_at`` is where a latency threshold is written (for diagnostics about it)."""
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
        return LatencySLI(_selector(lat.histogram), _threshold_seconds(lat.threshold), tuple(lat.group_by),
                          threshold_source=threshold_at,
                          threshold_text=lat.threshold if isinstance(lat.threshold, str) else f"{lat.threshold:g}")
    if spec.probe is not None:
        return ProbeSLI(_selector(spec.probe.metric), tuple(spec.probe.group_by))
    assert spec.raw is not None
    raw = spec.raw
    return RawSLI(raw.error_ratio, raw.good, raw.bad, raw.total, tuple(raw.group_by))
