"""Grafana dashboards for the SLOs, built with grafana-foundation-sdk (pure: catalog in, files out).

Dashboards are assembled from the SDK's typed builders, never from hand-written
JSON, so every field we set is one Grafana's schema knows (the SDK is generated
from it); the tests decode each file back into the SDK's model and re-encode it
unchanged. Each kind of panel is built and encoded once, with holes where an SLO's
texts and queries go (see "templates" below), and each SLO's panels are that text
with their values put in. Every query reads the series the generated rules record (names from
:mod:`sloengine.model.conventions`, label values escaped by :func:`sloengine.model.promql.quote`)
and is parsed with the PromQL parser here, after Grafana's own variables are
replaced by sample values, so a dashboard that would show "parse error" is a bug
caught at generation time.

What is written (paths relative to the output directory):

* ``dashboards/sloengine-overview.json``: one table row per SLO, worst status first.
* ``dashboards/sloengine-<service>.json``: one row of panels per SLO of the service.
* ``dashboards/provisioning/dashboards.yaml``: a Grafana file provider for the folder.
* ``dashboards/provisioning/datasources.yaml``: an example Prometheus data source whose uid
  (:data:`DATASOURCE_UID`) is the default of every dashboard's ``datasource`` variable.

Output is deterministic (sorted, stable uids derived from service names, no
timestamps or versions), so it can be committed and compared.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple, cast

import click
import orjson
import yaml
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import table as table_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import prometheus as prom_m

from ..model import conventions as c
from ..model.calendars import MAX_PERIOD_SECONDS
from ..model.durations import format_duration
from ..model.promql import quote
from ..model.results import Status
from ..model.slo import SLO, AlertSeverity, BurnRateAlert, CalendarUnit, CalendarWindow, Catalog, LatencySLI, ProbeSLI
from ..specs.loader import load_or_raise
from .queries import EventQueries, half_open, label_matchers, number
from .rules import (
    alert_name,
    is_raw_window,
    period_end_series,
    period_start_series,
    rolling_windows,
    series,
    slo_matchers_head,
    slo_window_names,
)
from .status import (
    AT_RISK_BUDGET_REMAINING,
    CURRENT_BURN_WINDOW_SECONDS,
    PROJECTION_WINDOW_SECONDS,
    RULE,
    Series,
    condition,
    description,
    nearest,
    promql,
)
from .writer import write_tree

# ---- names -------------------------------------------------------------------------------------

DASHBOARDS_DIR = c.DASHBOARDS_DIR
PROVISIONING_DIR = c.DASHBOARD_PROVISIONING_DIR
OVERVIEW_UID = c.DASHBOARD_OVERVIEW_UID
UID_PREFIX = c.DASHBOARD_UID_PREFIX
#: Grafana refuses dashboard uids longer than this, or with characters other than these.
UID_MAX_LENGTH = 40
UID_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
#: Every dashboard carries this tag: the "SLO dashboards" link lists them, and generated files are recognisable.
TAG = DASHBOARD_TAG = c.DASHBOARD_TAG

#: uid of the example data source in ``provisioning/datasources.yaml``, the default of the ``datasource`` variable.
DATASOURCE_UID = c.DASHBOARD_DATASOURCE_UID
DATASOURCE_NAME = "Prometheus (sloengine)"
DATASOURCE_TYPE = "prometheus"
#: Where the provider reads the JSON files; the provisioning file says to copy them there (or to edit it).
PROVISIONED_PATH = "/var/lib/grafana/dashboards/sloengine"

VAR_DATASOURCE = "datasource"
VAR_SERVICE = "service"
VAR_SLO = "slo"

# Prometheus's own names for alert state series (not sloengine's, so not in conventions).
ALERTS_METRIC = "ALERTS"
LABEL_ALERTNAME = "alertname"
LABEL_ALERTSTATE = "alertstate"
FIRING = "firing"
PENDING = "pending"

#: The overview's "current" burn rate: over the last hour, the workbook's fastest page window.
CURRENT_BURN_WINDOW = format_duration(CURRENT_BURN_WINDOW_SECONDS)
DEFAULT_TIME_FROM = "now-7d"
REFRESH = "1m"

#: Status codes of the overview (worst highest, so sorting descending puts trouble first). Which status an SLO
#: has is :mod:`sloengine.compiler.status`'s rule, the one `report` follows (a failed query is Grafana's own error).
STATUS_CODES = {Status.OK: 0, Status.AT_RISK: 1, Status.BREACHED: 2, Status.NO_DATA: 3}
STATUS_OK, STATUS_AT_RISK, STATUS_BREACHED, STATUS_NO_DATA = (
    STATUS_CODES[s] for s in (Status.OK, Status.AT_RISK, Status.BREACHED, Status.NO_DATA))
STATUS_TEXT = {STATUS_OK: ("OK", "green"), STATUS_AT_RISK: ("At risk", "orange"),
               STATUS_BREACHED: ("Breached", "red"), STATUS_NO_DATA: ("No data", "purple")}

#: Grafana's variables (ours and its built-ins) replaced by sample values before a query is parsed here.
SAMPLE_VARIABLES: dict[str, str] = {
    "${__from:date:seconds}": "1700000000",
    "${__to:date:seconds}": "1702419200",
    "$__range_s": "2419200",
    "$__range": "2419200s",
    "$__rate_interval": "2m",
    "$__interval": "1m",
    f"${VAR_SERVICE}": ".+",
    f"${VAR_SLO}": ".+",
}

_FROM_S = "${__from:date:seconds}"
_TO_S = "${__to:date:seconds}"
_RANGE = "$__range"
_RANGE_S = "$__range_s"


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with Grafana variables replaced (longest names first, so ``$__range_s`` is not cut short)."""
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(name, values[name])
    return expr


def checked(expr: str) -> str:
    """A dashboard query as built. It is not parsed here (generating thousands of panels would spend its time
    re-reading its own output): tests/test_generated_promql.py parses every query with Grafana's variables
    filled in (:data:`SAMPLE_VARIABLES`)."""
    return expr


def service_uid(service: str) -> str:
    """``sloengine-<service>`` when Grafana accepts it as a uid (this is what ``dashboard_url`` annotations
    can point at); else a readable stem plus a hash of the name, so distinct services never collide."""
    plain = UID_PREFIX + service
    if len(plain) <= UID_MAX_LENGTH and UID_CHARS.match(plain):
        return plain
    digest = hashlib.sha256(service.encode()).hexdigest()[:10]
    stem = re.sub(r"[^A-Za-z0-9_-]", "-", service)[: UID_MAX_LENGTH - len(UID_PREFIX) - len(digest) - 1]
    return f"{UID_PREFIX}{stem}-{digest}"


def dashboard_path(uid: str) -> str:
    return f"{DASHBOARDS_DIR}/{uid}.json"


# ---- small helpers ---------------------------------------------------------------------------

#: Grafana's grid is this many units wide; a row header is one unit high across all of it.
GRID_WIDTH = 24
ROW_HEIGHT = 1
#: Query letters, in order (Grafana's ``refId``).
REF_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _ds() -> dash_m.DataSourceRef:
    return dash_m.DataSourceRef(type_val=DATASOURCE_TYPE, uid="${" + VAR_DATASOURCE + "}")


def _target(expr: str, ref: str, *, legend: str | None = None, instant: bool = False,
            table: bool = False) -> prom_b.Dataquery:
    query = prom_b.Dataquery().expr(checked(expr)).ref_id(ref).datasource(_ds())
    query = query.instant() if instant else query.range()
    if table:
        query = query.format(prom_m.PromQueryFormat.TABLE)
    if legend is not None:
        query = query.legend_format(legend)
    return query


def _refs() -> Callable[[], str]:
    letters = iter(REF_LETTERS)
    return lambda: next(letters)


def _thresholds(*steps: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    return dash_b.ThresholdsConfig().mode(dash_m.ThresholdsMode.ABSOLUTE).steps(
        [dash_m.Threshold(value=value, color=colour) for value, colour in steps])


def _legend_prefix(slo: SLO) -> str:
    """``{{route}} `` for grouped SLIs, so each group's line is named; empty otherwise."""
    return "".join("{{" + label + "}} " for label in slo.sli.group_by)


def _format_seconds(seconds: float) -> str:
    """A latency threshold as people say it: ``300 ms``, ``1.5 s``."""
    if seconds < 1:
        return f"{seconds * 1000:g} ms"
    return f"{seconds:g} s"


def _percent(objective: float) -> str:
    return f"{objective:g}%"


def _regex_alternatives(values: Sequence[str]) -> str:
    return "|".join(re.escape(v) for v in sorted(set(values)))


def _by(labels: Sequence[str]) -> str:
    return ", ".join(labels)


SLO_KEY = (c.LABEL_SERVICE, c.LABEL_SLO)


# ---- templates: the SDK builds and the encoder writes each kind of panel once -------------------
#
# A service dashboard is a few kinds of panel repeated for every SLO, each differing from the next of its kind
# only in its texts and queries (they name the SLO) and in a few numbers. So each kind is built by the SDK's
# builders once, with a :class:`Hole` wherever a text, a query or a grid position goes, turned into plain
# values through the SDK's own ``to_json`` and encoded once; what is left per panel is to encode its values and
# put them between the fixed pieces of text. A shape function is cached on exactly the arguments it reads: what
# changes the panel's structure, what the SDK checks (a width), and numbers deep in the panel (a threshold),
# of which a catalogue has few. Building and encoding the SDK objects of every panel anew (and the encoder's
# hook on each of them) was most of the dashboards' time; the output is the same bytes.

#: A plain JSON value as the encoder takes it: dicts, lists, strings, numbers, None, and the SDK's enums
#: (written as their values).
Json = Any

#: How many shapes of one kind are kept: a catalogue has a few dozen; a bound keeps a long-lived process small.
SHAPES_CACHED = 1024

#: How dashboards are written: sorted keys, two-space indent (stable for diffs).
ENCODING = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
#: Turns the SDK's objects into plain values for the encoder (when a whole model is encoded).
_SDK_ENCODER = JSONEncoder()


@dataclass(frozen=True, eq=False)
class Hole:
    """A named gap in a template: given to the SDK's setters like any value, filled in for each panel.

    Compared by identity (each hole is one object), so looking one up costs no hashing of its name."""

    name: str


def _hole(name: str) -> Any:
    """A :class:`Hole`, typed as whatever the SDK setter it is passed to expects."""
    return Hole(name)


#: Where a panel's id and grid position go (set when the dashboard is laid out), its title and description.
ID, X, Y, TITLE, DESCRIPTION = _hole("id"), _hole("x"), _hole("y"), _hole("title"), _hole("description")
#: A dashboard's uid, time zone, SLO variable's query and alerts annotation's query.
UID, TIMEZONE, QUERY, ANNOTATION = _hole("uid"), _hole("timezone"), _hole("query"), _hole("annotation")
#: A panel's queries and their legends, by position (query ``A`` is ``EXPRS[0]``).
EXPRS: tuple[Any, ...] = tuple(_hole(f"expr {letter}") for letter in REF_LETTERS)
LEGENDS: tuple[Any, ...] = tuple(_hole(f"legend {letter}") for letter in REF_LETTERS)
#: A panel's relative time range, and the pattern of the field names it colours.
TIME_FROM, MATCH = _hole("timeFrom"), _hole("match")
#: Where a dashboard's panels go (given twice, for the text between two panels).
PANEL = _hole("panel")

#: A panel sits two levels down in a dashboard (its object, its ``panels`` list), so its lines are indented by
#: this much more than when it is encoded alone (:func:`_board` checks the dashboard's own encoding agrees).
PANEL_INDENT = "  " * 2


def plain(value: object) -> Json:
    """An SDK object graph as plain JSON values, through each object's own ``to_json`` (what the SDK's
    encoder hook does, done once for a template rather than at every encoding)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    to_json = getattr(value, "to_json", None)
    return plain(to_json()) if callable(to_json) else value


def _dumps(value: Json) -> str:
    """Dashboard JSON text: sorted keys, two-space indent (:func:`encode`, without its final newline)."""
    return orjson.dumps(value, default=_SDK_ENCODER.default, option=ENCODING).decode("utf-8")


#: A hole's stand-in while a template is encoded (a control character no real text holds), as encoded.
_MARKED = re.compile(r'"\\u0000(\d+)\\u0000"')


def _marked(value: Json, holes: list[Hole]) -> Json:
    """``value`` with each hole replaced by a string naming its place in ``holes``."""
    if isinstance(value, Hole):
        holes.append(value)
        return f"\x00{len(holes) - 1}\x00"
    if isinstance(value, dict):
        return {key: _marked(item, holes) for key, item in value.items()}
    if isinstance(value, list):
        return [_marked(item, holes) for item in value]
    return value


@dataclass(frozen=True, eq=False)
class Text:
    """A template encoded once: the text up to its first hole, its holes in the order they appear, and after
    each the text that follows it (``slots``: a gap for the hole's value, then that text).

    Holes are filled with scalars (strings, numbers), which encode on one line wherever they are, so the text
    around them is the same in every dashboard."""

    first: str
    holes: tuple[Hole, ...]
    slots: tuple[str | None, ...]

    @classmethod
    def of(cls, node: Json, indent: str = "") -> Text:
        """``node`` (plain values and holes) encoded, each line after the first indented by ``indent`` more."""
        holes: list[Hole] = []
        pieces = _MARKED.split(_dumps(_marked(node, holes)).replace("\n", "\n" + indent))
        return cls(pieces[0], tuple(holes[int(index)] for index in pieces[1::2]),
                   tuple(chain.from_iterable((None, text) for text in pieces[2::2])))

    def cut(self, hole: Hole) -> tuple[Text, str, Text]:
        """The text before the first ``hole``, the text between it and the next hole, and the text after that
        (where a dashboard's panels go: ``hole`` twice in a row)."""
        at = self.holes.index(hole)
        before = Text(self.first, self.holes[:at], self.slots[:2 * at])
        after = Text(self.slots[2 * at + 3] or "", self.holes[at + 2:], self.slots[2 * at + 4:])
        return before, self.slots[2 * at + 1] or "", after

    def add(self, values: Mapping[Hole, Json], parts: list[str | None], scalars: list[Json]) -> None:
        """Append this to a text being assembled: ``parts`` alternates text and gaps (None) for ``scalars``, the
        values of the holes, in order (:func:`_joined` puts them together)."""
        parts[-1] = (parts[-1] or "") + self.first
        scalars.extend(map(values.__getitem__, self.holes))
        parts.extend(self.slots)


def _encoded(scalars: list[Json]) -> list[str]:
    """Each scalar's JSON text, from one call to the encoder: with one scalar a line, the lines are the values
    (a string's line breaks are escaped, so none is cut)."""
    if not scalars:
        return []
    encoded = orjson.dumps(scalars, option=orjson.OPT_INDENT_2).decode("utf-8").split(",\n  ")
    assert len(encoded) == len(scalars), "a hole was given something other than a scalar"
    # The list's brackets are cut from its first and last lines (not from the whole text: a copy of all of it).
    encoded[0] = encoded[0][len("[\n  "):]
    encoded[-1] = encoded[-1][:-len("\n]")]
    return encoded


def _joined(parts: list[str | None], scalars: list[Json]) -> str:
    """The text of ``parts`` with each gap filled with its scalar's JSON text."""
    parts[1::2] = _encoded(scalars)
    return "".join(cast(list[str], parts))


@dataclass(frozen=True, eq=False)
class Shape:
    """One kind of panel as the SDK built it (holes for its id, grid position and texts), encoded, and its size."""

    text: Text
    width: int
    height: int
    #: A row header: it starts a new line of the grid (Grafana's row, the SDK's ``with_row``).
    row: bool = False
    #: The holes other than the id and position (those the panel's own values fill).
    own: tuple[Hole, ...] = ()
    #: Where the id, x and y holes are among all the holes (in that order): (place, 0 for id, 1 for x, 2 for y),
    #: first place first.
    places: tuple[tuple[int, int], ...] = ()

    def add(self, values: Mapping[Hole, Json], place: tuple[int, int, int], parts: list[str | None],
            scalars: list[Json]) -> None:
        """:meth:`Text.add` of the panel with its ``values`` and its (id, x, y) ``place`` put where their holes
        are, rather than into a copy of the values (once for each of thousands of panels)."""
        text = self.text
        parts[-1] = (parts[-1] or "") + text.first
        start = len(scalars)
        scalars.extend(map(values.__getitem__, self.own))
        for at, which in self.places:
            scalars.insert(start + at, place[which])
        parts.extend(text.slots)


def _shape(builder: dash_b.Row | ts_b.Panel | stat_b.Panel | table_b.Panel) -> Shape:
    """The built panel with holes for its id and position (placed as ``with_row`` and ``with_panel`` place it:
    a row across the grid, one unit high; a panel at the size its builder set)."""
    model = builder.build()
    if isinstance(model, dash_m.RowPanel):
        model.grid_pos = dash_m.GridPos(h=ROW_HEIGHT, w=GRID_WIDTH, x=X, y=Y)
        row = True
    else:
        model.grid_pos = model.grid_pos or dash_m.GridPos()
        model.grid_pos.x, model.grid_pos.y = X, Y
        row = False
    model.id_val = ID
    text = Text.of(plain(model), PANEL_INDENT)
    placed = (ID, X, Y)
    # First place first, so that inserting each value (Shape.add) leaves the later places where they belong.
    places = tuple(sorted((text.holes.index(hole), which) for which, hole in enumerate(placed)))
    return Shape(text, model.grid_pos.w, model.grid_pos.h, row,
                 tuple(hole for hole in text.holes if hole not in placed), places)


class Draft(NamedTuple):
    """A panel to be placed: its shape and the values of its holes (its queries, a row's title). A named tuple:
    a dashboard of thousands of SLOs makes tens of thousands, each made twice as fast as a frozen dataclass."""

    shape: Shape
    values: Mapping[Hole, Json]


@dataclass(frozen=True)
class Board:
    """A dashboard encoded once: its text before its panels and after them, and the text between two panels."""

    before: Text
    between: str
    after: Text

    def render(self, values: Mapping[Hole, Json], drafts: Sequence[Draft], end: str = "") -> str:
        """The dashboard's text, its holes filled from ``values``, with the panels placed as the SDK's dashboard
        builder places them (``with_panel`` fills the grid left to right, a full line moves down by its tallest
        panel, ``with_row`` starts a new line under it), numbered 1, 2, ... in layout order (Grafana needs ids
        unique; stable ids keep the JSON stable). There is always a panel (the status table). ``end`` follows
        the JSON (a file's final newline): added here, it costs no copy of the whole text."""
        assert drafts, "a dashboard without panels"
        parts: list[str | None] = [""]
        scalars: list[Json] = []
        self.before.add(values, parts, scalars)
        x = y = tallest = 0
        for panel_id, draft in enumerate(drafts, start=1):
            if panel_id > 1:
                parts[-1] = (parts[-1] or "") + self.between
            shape = draft.shape
            if shape.row:
                y += tallest
                place_x, place_y = 0, y
                x, y, tallest = 0, y + ROW_HEIGHT, 0
            else:
                place_x, place_y = x, y
                x += shape.width
                tallest = max(tallest, shape.height)
                if x >= GRID_WIDTH:
                    x, y, tallest = 0, y + tallest, 0
            shape.add(draft.values, (panel_id, place_x, place_y), parts, scalars)
        self.after.add(values, parts, scalars)
        parts[-1] = (parts[-1] or "") + end
        return _joined(parts, scalars)


def _board(builder: dash_b.Dashboard) -> Board:
    """A dashboard's template, cut where its panels go."""
    model = builder.build()
    model.panels = [PANEL, PANEL]
    before, between, after = Text.of(plain(model)).cut(PANEL)
    assert between == ",\n" + PANEL_INDENT, "panels are not where PANEL_INDENT says"
    return Board(before, between, after)


# ---- the status table (overview, and each service dashboard's header) ------------------------


@dataclass(frozen=True)
class TableScope:
    """Which SLOs a status table covers: label matchers on ``service`` and ``slo`` (escaped, may hold variables)."""

    service: str
    slo: str

    def matchers(self) -> str:
        return f"{self.service},{self.slo}"

    def of(self, metric: str, *extra: str) -> str:
        return metric + "{" + ",".join((self.matchers(),) + extra) + "}"


def _variable_scope() -> TableScope:
    return TableScope(f"{c.LABEL_SERVICE}=~{quote('$' + VAR_SERVICE)}", f"{c.LABEL_SLO}=~{quote('$' + VAR_SLO)}")


def _slo_window(metric: str, views: Sequence[SloView], scope: TableScope) -> str:
    """``metric`` over each SLO's own window, for all SLOs in one query.

    ``slo:info`` carries the window's name, so ``and on(service, slo, window)``
    keeps exactly that window of every SLO: the query needs no list of SLOs
    and stays short however many there are. The only SLOs whose recorded budget
    window differs from their name are calendar SLOs with a raw error-ratio SLI
    (no period-to-date without counts: their rolling equivalent is used); they
    are added by name.
    """
    key = _by(SLO_KEY + (c.LABEL_WINDOW,))
    expr = f"{scope.of(metric)} and on({key}) {scope.of(c.METRIC_INFO)}"
    for view in views:
        slo = view.slo
        # A rolling SLO's budget window is its own; only a calendar one's can differ.
        if isinstance(slo.window, CalendarWindow) and (window := view.window) != slo.window.name:
            expr += (f" or ({series(metric, slo, window)} and on({_by(SLO_KEY)}) "
                     f"{scope.of(c.METRIC_INFO)})")
    return expr


def _current_burn(views: Sequence[SloView], scope: TableScope) -> str:
    """Burn rate over :data:`CURRENT_BURN_WINDOW`; an SLO that records no such window uses its nearest one."""
    expr = scope.of(c.METRIC_BURN_RATE, f"{c.LABEL_WINDOW}={quote(CURRENT_BURN_WINDOW)}")
    for view in views:
        windows = view.windows
        if CURRENT_BURN_WINDOW_SECONDS not in windows:
            window = format_duration(_nearest_window(windows, CURRENT_BURN_WINDOW_SECONDS))
            expr += (f" or ({view.series(c.METRIC_BURN_RATE, window)} and on({_by(SLO_KEY)}) "
                     f"{scope.of(c.METRIC_INFO)})")
    return expr


@lru_cache(maxsize=SHAPES_CACHED)
def _nearest_window(windows: tuple[int, ...], target: int) -> int:
    """:func:`.status.nearest`, remembered: a catalogue's SLOs share a few sets of windows."""
    return int(nearest(windows, target))


def _alert_names(views: Sequence[SloView]) -> str:
    return _regex_alternatives([alert_name(v.slo) for v in views] + [c.ALERT_EXHAUSTED, c.ALERT_NO_DATA])


def _firing(views: Sequence[SloView], scope: TableScope, *extra: str) -> str:
    return scope.of(ALERTS_METRIC, f"{LABEL_ALERTNAME}=~{quote(_alert_names(views))}",
                    f"{LABEL_ALERTSTATE}={quote(FIRING)}", *extra)


#: The states of an alert whose condition holds.
_HOLDING_STATES = _regex_alternatives([PENDING, FIRING])


def _burning(views: Sequence[SloView], scope: TableScope) -> str:
    """Burn-rate alerts whose condition holds, pending or firing: `report`'s "burning" is the condition itself
    (the two windows' burn rates), with no ``for`` to wait out."""
    names = _regex_alternatives([alert_name(v.slo) for v in views])
    return scope.of(ALERTS_METRIC, f"{LABEL_ALERTNAME}=~{quote(names)}",
                    f"{LABEL_ALERTSTATE}=~{quote(_HOLDING_STATES)}",
                    f"{c.LABEL_LONG_WINDOW}!={quote('')}")  # burn-rate alerts carry their windows; others do not


def _projected_budget_remaining(views: Sequence[SloView], scope: TableScope) -> str | None:
    """Budget left at the end of the calendar period if the last day's rates go on, the worst group's per SLO:
    `report`'s projection (:func:`sloengine.engine.figures._period`), the same arithmetic on the recorded series.

    Events so far plus the recent window's events per second times the seconds
    left, bad over total, over the error budget. One term per kind of period
    (unit, time zone and recent window), not per SLO, so the query stays short
    however many SLOs there are; a term names its SLOs only when another kind
    shares its unit. Calendar SLOs with a raw error-ratio SLI record no period
    to date (their row shows their rolling equivalent), so they have no
    projection. None when no SLO in ``catalog`` has one.
    """
    by = _by(SLO_KEY)
    ours = f"{c.LABEL_WINDOW}, {c.LABEL_WINDOW_SOURCE}"
    kinds: dict[tuple[str, str, int], list[SLO]] = {}
    for view in views:
        slo = view.slo
        if isinstance(slo.window, CalendarWindow) and view.window == slo.window.name:
            recent = _nearest_window(view.windows, PROJECTION_WINDOW_SECONDS)
            kinds.setdefault((slo.window.unit.value, slo.window.timezone, recent), []).append(slo)
    if not kinds:
        return None
    units = Counter(unit for unit, _, _ in kinds)
    parts = []
    for (unit, tz, recent), members in sorted(kinds.items()):
        left = f"scalar(clamp_min({period_end_series(_UNITS[unit], tz)} - time(), 0))"
        bad, total = (f"{scope.of(metric, f'{c.LABEL_WINDOW}={quote(unit)}')} + ignoring({ours}) "
                      f"{scope.of(metric, f'{c.LABEL_WINDOW}={quote(format_duration(recent))}')} / {recent} * {left}"
                      for metric in (c.METRIC_BAD, c.METRIC_TOTAL))
        error_ratio = f"({bad}) / ({total} > 0)"
        part = f"1 - {error_ratio} / on({by}) group_left() {scope.of(c.METRIC_ERROR_BUDGET)}"
        if units[unit] > 1:
            part = f"({part}) and on({by}) ({_members(members)})"
        parts.append(part)
    if not parts:
        return None
    return f"min by ({by}) ({' or '.join(parts)})"


#: Calendar units by name.
_UNITS = {unit.value: unit for unit in CalendarUnit}


def _members(slos: Sequence[SLO]) -> str:
    """``slo:info`` of exactly these SLOs: one selector per service."""
    names: dict[str, list[str]] = {}
    for slo in slos:
        names.setdefault(slo.service, []).append(slo.name)
    return " or ".join(f"{c.METRIC_INFO}{{{c.LABEL_SERVICE}={quote(service)},"
                       f"{c.LABEL_SLO}=~{quote(_regex_alternatives(names[service]))}}}" for service in sorted(names))


def _views(catalog: Catalog) -> list[SloView]:
    return [SloView.of(slo) for slo in catalog.slos]


def status_series(catalog: Catalog, scope: TableScope) -> Series:
    """What the status rule reads, for the SLOs of a table (grouped SLIs reduced to their worst group)."""
    return _status_series(_views(catalog), scope)


def _status_series(views: Sequence[SloView], scope: TableScope) -> Series:
    """:func:`status_series` of the SLOs' views (worked out once for the table and the SLOs' panels)."""
    by = _by(SLO_KEY)
    return Series(
        slos=scope.of(c.METRIC_INFO),
        sli=_slo_window(c.METRIC_ERROR_RATIO, views, scope),
        budget_remaining=f"min by ({by}) ({_slo_window(c.METRIC_BUDGET_REMAINING, views, scope)})",
        burning=_burning(views, scope),
        projected_budget_remaining=_projected_budget_remaining(views, scope),
    )


def status_description(catalog: Catalog, scope: TableScope) -> str:
    """The status rule in words, naming only the cases these SLOs can meet (no projection without a calendar
    period)."""
    return _status_description(status_series(catalog, scope))


def _status_description(statuses: Series) -> str:
    return _rule_description(statuses.projected_budget_remaining is not None)


@lru_cache(maxsize=2)
def _rule_description(projected: bool) -> str:
    """The words of :func:`_status_description`: which cases a table can meet depends only on whether it has a
    projection, so each of the two texts is made once rather than once per service."""
    statuses = Series(slos="slos", sli="sli", budget_remaining="budget", burning="burning",
                      projected_budget_remaining="projected" if projected else None)
    shown = {status: STATUS_TEXT[code][0] for status, code in STATUS_CODES.items()}
    names = {status: text if text.isupper() else text.lower() for status, text in shown.items()}
    cases = [case for case in RULE if condition(case, statuses, _by(SLO_KEY)) is not None]
    return description(names, cases)


@dataclass(frozen=True)
class Column:
    title: str
    expr: str
    unit: str = ""
    decimals: int | None = None


def status_columns(catalog: Catalog, scope: TableScope) -> tuple[Column, ...]:
    """The status table's value columns, one instant query each, every one reduced to one row per SLO.

    Grouped SLIs (one series per ``route``, say) are reduced to their worst
    group, so the queries share the labels ``service, slo`` and the table's
    merge joins them into one row per SLO.
    """
    views = _views(catalog)
    return _status_columns(views, scope, _status_series(views, scope), _firing(views, scope))


def _status_columns(views: Sequence[SloView], scope: TableScope, statuses: Series,
                    firing: str) -> tuple[Column, ...]:
    """:func:`status_columns`; ``firing`` is :func:`_firing` of the SLOs (which the dashboard's annotation
    shows too)."""
    by = _by(SLO_KEY)
    err, budget = statuses.sli, statuses.budget_remaining
    every = f"group by ({by}) ({scope.of(c.METRIC_INFO)})"
    return (
        Column("Status", promql(statuses, STATUS_CODES, SLO_KEY)),
        Column("Objective", f"max by ({by}) ({scope.of(c.METRIC_OBJECTIVE)})", "percentunit", 3),
        Column("SLI", f"1 - max by ({by}) ({err})", "percentunit", 3),
        Column("Budget remaining", budget, "percentunit", 1),
        Column(f"Burn rate ({CURRENT_BURN_WINDOW})", f"max by ({by}) ({_current_burn(views, scope)})", "x", 2),
        Column("Firing alerts", f"count by ({by}) ({firing}) or on({by}) {STATUS_OK} * {every}",
               "none", 0),
    )


def _table_height(rows: int) -> int:
    """Grid units for a table of ``rows`` rows plus its header, so no SLO hides below a scroll bar."""
    return max(5, 3 + rows)


#: The names of calendar windows (``month``): no rolling window is named so.
CALENDAR_WINDOW_NAMES = frozenset(unit.value for unit in CalendarUnit)


def budget_window(slo: SLO) -> str:
    """The window an SLO's budget is recorded for: its own (``28d``; ``month``, the period so far), or for a
    calendar SLO without event counts (a raw error ratio has no period-to-date) the rolling equivalent."""
    return _budget_window(slo, EventQueries(slo.sli).counts_events)


def _budget_window(slo: SLO, counts: bool) -> str:
    """:func:`budget_window` of an SLO whose SLI counts events or not (``counts``)."""
    names = slo_window_names(slo)
    if counts:
        return names[0]
    return next(w for w in names if w not in CALENDAR_WINDOW_NAMES)


def _links_ok(catalog: Catalog) -> bool:
    """A cell can link to ``/d/sloengine-<service>`` only when every service's uid has that plain form."""
    return all(service_uid(s) == UID_PREFIX + s for s in {slo.service for slo in catalog.slos})


def status_table(catalog: Catalog, scope: TableScope, title: str, height: int, views: Sequence[SloView],
                 firing: str) -> Draft:
    """Every SLO in ``scope`` with its objective, SLI and budget over its window, burn rate, firing alerts and
    status; sorted worst first (click a header to re-sort), the status and budget cells coloured. ``views``: of
    the catalogue's SLOs; ``firing``: :func:`_firing` of them (the dashboard's annotation shows it too)."""
    statuses = _status_series(views, scope)
    columns = _status_columns(views, scope, statuses, firing)
    values: dict[Hole, Json] = {
        TITLE: title,
        DESCRIPTION: "Instant values over each SLO's own window; grouped SLIs show their worst group. "
                     f"Status: {_status_description(statuses)}.",
    }
    values.update(zip(EXPRS, (column.expr for column in columns)))
    return Draft(_status_table_shape(tuple((column.title, column.unit, column.decimals) for column in columns),
                                     _links_ok(catalog), height), values)


@lru_cache(maxsize=SHAPES_CACHED, typed=True)
def _status_table_shape(columns: tuple[tuple[str, str, int | None], ...], links: bool, height: int) -> Shape:
    """The status table for columns of these titles, units and decimals (the queries are holes), with links
    from the service cell to its dashboard or without."""
    ref = _refs()
    refs = [ref() for _ in columns]
    panel = (table_b.Panel().title(TITLE).datasource(_ds()).height(height).span(GRID_WIDTH)
             .description(DESCRIPTION)
             .sort_by([common_b.TableSortByFieldState().display_name("Status").desc(True)])
             .filterable(False).align(common_m.FieldTextAlignment.AUTO).inspect(False))
    for letter, expr in zip(refs, EXPRS):
        panel = panel.with_target(_target(expr, letter, instant=True, table=True))
    rename = {f"Value #{letter}": title for letter, (title, _, _) in zip(refs, columns)}
    order = [c.LABEL_SERVICE, c.LABEL_SLO] + [title for title, _, _ in columns]
    panel = (panel
             .with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
             .with_transformation(dash_m.DataTransformerConfig(id_val="organize", options={
                 "excludeByName": {"Time": True},
                 "indexByName": {name: i for i, name in enumerate(order)},
                 "renameByName": rename,
             })))
    status_mapping = dash_m.ValueMap(options={
        str(code): dash_m.ValueMappingResult(text=text, color=colour, index=code)
        for code, (text, colour) in sorted(STATUS_TEXT.items())})
    panel = panel.override_by_name("Status", [
        dash_m.DynamicConfigValue(id_val="mappings", value=[status_mapping]),
        dash_m.DynamicConfigValue(id_val="custom.cellOptions",
                                  value=common_m.TableColoredBackgroundCellOptions()),
    ])
    for title, unit, decimals in columns[1:]:
        props = [dash_m.DynamicConfigValue(id_val="unit", value=unit)]
        if decimals is not None:
            props.append(dash_m.DynamicConfigValue(id_val="decimals", value=decimals))
        if title == "Budget remaining":
            props += [
                dash_m.DynamicConfigValue(id_val="thresholds", value=_thresholds(
                    (None, "red"), (0, "orange"), (AT_RISK_BUDGET_REMAINING, "green")).build()),
                dash_m.DynamicConfigValue(id_val="custom.cellOptions", value=common_m.TableColorTextCellOptions()),
            ]
        panel = panel.override_by_name(title, props)
    if links:
        link = (dash_b.DashboardLink("Open the ${__value.raw} dashboard")
                .url("/d/" + UID_PREFIX + "${__value.raw}?${" + VAR_DATASOURCE + ":queryparam}"))
        panel = panel.override_by_name(c.LABEL_SERVICE, [dash_m.DynamicConfigValue(id_val="links",
                                                                                   value=[link.build()])])
    return _shape(panel)


# ---- per-SLO panels ---------------------------------------------------------------------------
#
# Each panel function works out one SLO's texts and queries and returns them with the panel's shape; a shape
# function takes only what changes the panel's structure or what the SDK checks (its width), so every SLO
# shares a handful of shapes.


@lru_cache(maxsize=SHAPES_CACHED)
def _duration(seconds: int) -> str:
    """:func:`format_duration`, remembered: a catalogue's SLOs share a few dozen windows."""
    return format_duration(seconds)


@lru_cache(maxsize=SHAPES_CACHED)
def _window_matcher(window: str) -> str:
    """``window="5m"``: the matcher :func:`series` adds for a window, remembered like :func:`_duration`."""
    return label_matchers(((c.LABEL_WINDOW, window),))[1:-1]


@dataclass(frozen=True)
class SloView:
    """What the panels of one SLO read, worked out once for all of them."""

    slo: SLO
    #: ``{service="...",slo="..."}`` without its closing brace: :func:`series` of any metric and window.
    matchers: str
    #: Legend prefix (:func:`_legend_prefix`).
    prefix: str
    #: The SLI counts events (all but a raw error ratio).
    counts: bool
    #: :func:`rolling_windows`, in seconds, shortest first.
    windows: tuple[int, ...]
    #: :func:`budget_window`.
    window: str

    @classmethod
    def of(cls, slo: SLO) -> SloView:
        counts = EventQueries(slo.sli).counts_events
        return cls(slo, slo_matchers_head(slo.service, slo.name), _legend_prefix(slo), counts, rolling_windows(slo),
                   _budget_window(slo, counts))

    def series(self, metric: str, window: str | None = None) -> str:
        """:func:`series` of this SLO (the same text, without escaping its labels again)."""
        if window is None:
            return f"{metric}{self.matchers}}}"
        return f"{metric}{self.matchers},{_window_matcher(window)}}}"


def sli_panel(view: SloView) -> Draft:
    """The SLI over the SLO's window (period to date for calendar SLOs) and over the last hour, against the
    objective. For a latency SLO the SLI *is* the share of requests under the threshold, so the title says so."""
    slo, window, prefix = view.slo, view.window, view.prefix
    short = _duration(CURRENT_BURN_WINDOW_SECONDS if CURRENT_BURN_WINDOW_SECONDS in view.windows
                      else view.windows[0])
    objective = _percent(slo.objective)
    if isinstance(slo.sli, LatencySLI):
        threshold = _format_seconds(slo.sli.threshold_seconds)
        title, label = f"Requests within {threshold} vs objective {objective}", f"within {threshold}"
    else:
        title, label = f"SLI vs objective {objective}", "SLI"
    return Draft(_sli_shape(), {
        TITLE: title,
        DESCRIPTION: f"Good events ÷ all events over the SLO window ({window}) and over {short}; "
                     "the dashed line is the objective.",
        EXPRS[0]: f"1 - {view.series(c.METRIC_ERROR_RATIO, window)}",
        LEGENDS[0]: f"{prefix}{label} ({window})",
        EXPRS[1]: f"1 - {view.series(c.METRIC_ERROR_RATIO, short)}",
        LEGENDS[1]: f"{prefix}{label} ({short})",
        EXPRS[2]: view.series(c.METRIC_OBJECTIVE),
    })


@lru_cache(maxsize=1)
def _sli_shape() -> Shape:
    ref = _refs()
    return _shape(
        ts_b.Panel().title(TITLE).datasource(_ds()).height(8).span(12).unit("percentunit").decimals(3)
        .line_width(2).description(DESCRIPTION)
        .with_target(_target(EXPRS[0], ref(), legend=LEGENDS[0]))
        .with_target(_target(EXPRS[1], ref(), legend=LEGENDS[1]))
        .with_target(_target(EXPRS[2], ref(), legend="objective"))
        .override_by_name("objective", [
            dash_m.DynamicConfigValue(id_val="custom.lineStyle", value=common_m.LineStyle(
                fill="dash", dash=[10, 10])),
            dash_m.DynamicConfigValue(id_val="color", value=dash_m.FieldColor(
                mode=dash_m.FieldColorModeId.FIXED, fixed_color="red")),
        ]))


def _period_length(window: CalendarWindow, at_end: bool) -> str:
    """Seconds in the current calendar period (a vector labelled like the period start).

    Months and quarters are counted in local days (``days_in_month`` of the
    local start); a daylight-saving change inside the period makes the real
    length an hour shorter or longer, which moves the ideal line by under 0.2%.
    """
    pairs = ((c.LABEL_CALENDAR, window.unit.value), (c.LABEL_TIMEZONE, window.timezone))
    local = c.METRIC_PERIOD_START_LOCAL + label_matchers(pairs) + (" @ end()" if at_end else "")
    if window.unit is CalendarUnit.WEEK:
        return f"(0 * ({local}) + {7 * 86400})"
    first = f"days_in_month({local})"
    if window.unit is CalendarUnit.MONTH:
        return f"({first} * 86400)"
    second = f"days_in_month({local} + 86400 * {first})"
    third = f"days_in_month({local} + 86400 * ({first} + {second}))"
    return f"(({first} + {second} + {third}) * 86400)"


@dataclass(frozen=True)
class _Period:
    """The PromQL of a calendar period the panels share (the same for every SLO of its unit and time zone)."""

    #: The period's start, now and at the end of the panel's range.
    start: str
    start_at_end: str
    #: Its length in seconds, now and at the end of the panel's range.
    length: str
    length_at_end: str


@lru_cache(maxsize=SHAPES_CACHED)
def _period(window: CalendarWindow) -> _Period:
    start = period_start_series(window.unit, window.timezone)
    return _Period(start, f"({start} @ end())", _period_length(window, at_end=False),
                   _period_length(window, at_end=True))


#: Bad events per 5-minute slot (the tiles recorded in it), so each tile counts once at any slow interval: the
#: range over which :func:`burn_down_panel` sums a tile series, and the step of its subquery.
TILE_RANGE = half_open(format_duration(c.TILE_SECONDS))
TILE_STEP = format_duration(c.TILE_SECONDS)


def burn_down_panel(view: SloView) -> Draft:
    """Error budget burn-down over the window, with the ideal linear burn.

    The budget is counted in events: the objective allows ``error budget ×
    events in the window`` bad events. At each moment ``t`` the line shows the
    share of that allowance not yet spent by the bad events since the window
    began; the ideal line falls linearly from 100% at the window's start to 0
    at its end, which is exactly where a steady burn of 1× lands. Above the
    line means budget to spare, below it a burn faster than the budget allows.

    * Rolling window W: the panel shows the last W (a relative-time override),
      so the window is the panel's range and its events are known; at the end
      the line equals the recorded ``slo:error_budget_remaining:ratio``.
    * Calendar window: the current period, from its start (the recorded
      ``slo:calendar_period_start:timestamp``) to its end, shown over the
      longest such period so the whole of it fits. Its events are only known
      when it is over, so the allowance is the budget × the events so far
      extrapolated to the whole period at the average rate so far: a steady 1×
      burn then follows the ideal line to 0 at the period's end. (The recorded
      period-to-date budget, in the period-to-date panel, counts the events so
      far instead: it says whether the SLO is met *now*.)
    * Raw error-ratio SLIs record no counts: the line is the recorded budget
      remaining of the window ending at each moment instead.

    Bad events come from the tiles (a subquery at 5-minute steps over the
    panel's range sums the tiles recorded in each 5-minute slot), the window's
    events from the recorded total at the range's end (``@ end()``).
    """
    slo = view.slo
    budget = number(slo.error_budget)
    ours = _by((c.LABEL_WINDOW, c.LABEL_WINDOW_SOURCE))
    tile = f"sum_over_time({view.series(c.METRIC_TILE_BAD)}[{TILE_RANGE}])"
    if isinstance(slo.window, CalendarWindow) and view.counts:
        unit = slo.window.unit.value
        period = _period(slo.window)
        start, length = period.start_at_end, period.length_at_end
        since = f"{tile} and (timestamp({tile}) - {c.TILE_SECONDS} >= on() group_left() {start})"
        so_far = f"({view.series(c.METRIC_TOTAL, unit)} @ end())"
        events = f"{so_far} * on() group_left() ({length} / ({_TO_S} - {start}))"
        ideal = f"(1 - (time() - {start}) / {length}) <= 1"
        span = _duration(MAX_PERIOD_SECONDS[slo.window.unit])
        what = f"this {unit}"
        counted = f"events expected this {unit} (so far, extrapolated)"
    else:
        since = f"{tile} and (timestamp({tile}) - {c.TILE_SECONDS} >= {_FROM_S})"
        events = f"({view.series(c.METRIC_TOTAL, slo_window_names(slo)[-1])} @ end())"
        ideal = f"1 - (time() - {_FROM_S}) / {_RANGE_S}"
        span = _duration(slo.window.nominal_seconds)
        what = f"the last {span}"
        counted = "events in the window"
    if view.counts:
        spent = f"sum_over_time(({since})[{_RANGE}:{TILE_STEP}])"
        left = f"1 - {spent} / ignoring({ours}) ({budget} * {events})"
        description = (f"Share of the error budget of {what} not yet spent at each moment: 1 − bad events since "
                       f"it began ÷ ({budget} × {counted}). Dashed: the ideal linear burn, reaching 0 at the end.")
    else:
        left = view.series(c.METRIC_BUDGET_REMAINING, slo_window_names(slo)[-1])
        description = ("This SLI has no event counts (a raw error ratio): the line is the budget remaining of the "
                       "window ending at each moment. Dashed: a linear burn over the window.")
    return Draft(_burn_down_shape(), {
        TITLE: f"Error budget burn-down ({what})",
        DESCRIPTION: description,
        TIME_FROM: span,
        EXPRS[0]: left,
        LEGENDS[0]: f"{view.prefix}budget left",
        EXPRS[1]: ideal,
    })


@lru_cache(maxsize=1)
def _burn_down_shape() -> Shape:
    ref = _refs()
    return _shape(
        ts_b.Panel().title(TITLE).datasource(_ds()).height(8).span(12)
        .time_from(TIME_FROM).unit("percentunit").decimals(1).max_data_points(200).description(DESCRIPTION)
        .with_target(_target(EXPRS[0], ref(), legend=LEGENDS[0]))
        .with_target(_target(EXPRS[1], ref(), legend="ideal"))
        .thresholds(_thresholds((None, "red"), (0, "transparent")))
        .thresholds_style(common_b.GraphThresholdsStyleConfig().mode(common_m.GraphThresholdsStyleMode.LINE))
        .override_by_name("ideal", [
            dash_m.DynamicConfigValue(id_val="custom.lineStyle", value=common_m.LineStyle(
                fill="dash", dash=[10, 10])),
            dash_m.DynamicConfigValue(id_val="color", value=dash_m.FieldColor(
                mode=dash_m.FieldColorModeId.FIXED, fixed_color="text")),
        ]))


@dataclass(frozen=True)
class _ConditionText:
    """What a burn-rate panel says about its condition (the same for every SLO with that condition)."""

    long_window: str
    short_window: str
    title: str
    description: str


@lru_cache(maxsize=SHAPES_CACHED)
def _condition_text(cond: BurnRateAlert) -> _ConditionText:
    long_w, short_w = _duration(cond.long_seconds), _duration(cond.short_seconds)
    factor = number(cond.burn_factor)
    severity = cond.severity.value
    return _ConditionText(
        long_w, short_w, f"Burn rate {long_w} / {short_w}: {severity} above {factor}×",
        f"Error ratio ÷ error budget over {long_w} and {short_w}. {severity.title()} "
        f"when both exceed {factor} ({cond.budget_percent:.3g}% of the budget in {long_w}).")


@lru_cache(maxsize=SHAPES_CACHED)
def _condition_panel(cond: BurnRateAlert, width: int) -> tuple[Shape, _ConditionText]:
    """A condition's panel shape at this width, and its words: one look-up per panel (a catalogue has few
    distinct conditions)."""
    colour = "red" if cond.severity is AlertSeverity.PAGE else "orange"
    return _burn_rate_shape(width, cond.burn_factor, colour), _condition_text(cond)


def burn_rate_panels(view: SloView) -> list[Draft]:
    """One panel per alert condition: the burn rate over its long and short windows against its burn factor
    (the dashed threshold line); the alert fires when both lines are above it (and ``for`` has passed)."""
    conditions = view.slo.alerting.conditions
    width = max(6, GRID_WIDTH // max(len(conditions), 1))
    prefix = view.prefix
    panels = []
    for cond in conditions:
        shape, text = _condition_panel(cond, width)
        panels.append(Draft(shape, {
            TITLE: text.title,
            DESCRIPTION: text.description,
            EXPRS[0]: view.series(c.METRIC_BURN_RATE, text.long_window),
            LEGENDS[0]: prefix + text.long_window,
            EXPRS[1]: view.series(c.METRIC_BURN_RATE, text.short_window),
            LEGENDS[1]: prefix + text.short_window,
        }))
    return panels


@lru_cache(maxsize=SHAPES_CACHED, typed=True)
def _burn_rate_shape(width: int, burn_factor: float, colour: str) -> Shape:
    """The burn-rate panel of a condition with this factor, its threshold line of this colour (the threshold is
    set here rather than filled in: it lies deep in the panel, and a catalogue has few distinct factors)."""
    ref = _refs()
    return _shape(
        ts_b.Panel().title(TITLE).datasource(_ds()).height(7).span(width).unit("x").min(0)
        .description(DESCRIPTION)
        .with_target(_target(EXPRS[0], ref(), legend=LEGENDS[0]))
        .with_target(_target(EXPRS[1], ref(), legend=LEGENDS[1]))
        .thresholds(_thresholds((None, "green"), (burn_factor, colour)))
        .thresholds_style(common_b.GraphThresholdsStyleConfig().mode(common_m.GraphThresholdsStyleMode.DASHED)))


def _event_words(slo: SLO) -> tuple[str, str]:
    if isinstance(slo.sli, LatencySLI):
        return "requests", f"slower than {_format_seconds(slo.sli.threshold_seconds)}"
    if isinstance(slo.sli, ProbeSLI):
        return "probe samples", "failed probes"
    return "events", "bad events"


def traffic_panel(view: SloView, width: int) -> Draft:
    """Events and bad events per second over the shortest recorded raw window (the live view: recorded every
    30s); an SLO whose windows are all long reads its 5-minute tiles."""
    raw = [s for s in view.windows if is_raw_window(s)]
    if raw:
        seconds = raw[0]
        total = view.series(c.METRIC_TOTAL, _duration(seconds))
        bad = view.series(c.METRIC_BAD, _duration(seconds))
    else:
        seconds = c.TILE_SECONDS
        total, bad = view.series(c.METRIC_TILE_TOTAL), view.series(c.METRIC_TILE_BAD)
    all_word, bad_word = _event_words(view.slo)
    return Draft(_traffic_shape(width), {
        DESCRIPTION: f"{all_word.capitalize()} and {bad_word} per second, averaged over {_duration(seconds)}.",
        EXPRS[0]: f"{total} / {seconds}",
        LEGENDS[0]: view.prefix + all_word,
        EXPRS[1]: f"{bad} / {seconds}",
        LEGENDS[1]: view.prefix + bad_word,
        MATCH: f".*{re.escape(bad_word)}$",
    })


@lru_cache(maxsize=SHAPES_CACHED)
def _traffic_shape(width: int) -> Shape:
    ref = _refs()
    return _shape(
        ts_b.Panel().title("Traffic and errors").datasource(_ds()).height(7).span(width).unit("short").min(0)
        .axis_label("per second").description(DESCRIPTION)
        .with_target(_target(EXPRS[0], ref(), legend=LEGENDS[0]))
        .with_target(_target(EXPRS[1], ref(), legend=LEGENDS[1]))
        .override_by_regexp(MATCH, [dash_m.DynamicConfigValue(
            id_val="color", value=dash_m.FieldColor(mode=dash_m.FieldColorModeId.FIXED, fixed_color="red"))]))


def period_to_date_panel(view: SloView) -> Draft:
    """Calendar SLOs: the SLI and budget left for the period so far, and how much of the period has passed
    (budget left well below the share of the period still to come means the period will likely miss)."""
    window = view.slo.window
    assert isinstance(window, CalendarWindow)
    unit = window.unit.value
    period = _period(window)
    return Draft(_period_to_date_shape(), {
        TITLE: f"{unit.capitalize()} to date ({window.timezone})",
        DESCRIPTION: f"Since the {unit} began at local midnight in {window.timezone}.",
        EXPRS[0]: f"1 - {view.series(c.METRIC_ERROR_RATIO, unit)}",
        LEGENDS[0]: f"{view.prefix}SLI",
        EXPRS[1]: view.series(c.METRIC_BUDGET_REMAINING, unit),
        LEGENDS[1]: f"{view.prefix}budget left",
        EXPRS[2]: f"(time() - {period.start}) / {period.length}",
        LEGENDS[2]: f"{unit} elapsed",
    })


@lru_cache(maxsize=1)
def _period_to_date_shape() -> Shape:
    ref = _refs()
    return _shape(
        stat_b.Panel().title(TITLE).datasource(_ds())
        .height(7).span(6).unit("percentunit").decimals(2).description(DESCRIPTION)
        .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME).graph_mode(common_m.BigValueGraphMode.NONE)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(_target(EXPRS[0], ref(), instant=True, legend=LEGENDS[0]))
        .with_target(_target(EXPRS[1], ref(), instant=True, legend=LEGENDS[1]))
        .with_target(_target(EXPRS[2], ref(), instant=True, legend=LEGENDS[2])))


def latency_panel(view: SloView) -> Draft:
    """Latency SLOs: the threshold and the share of requests under it over the SLO window and the last 5 minutes
    (coloured against the objective)."""
    slo = view.slo
    assert isinstance(slo.sli, LatencySLI)
    threshold = _format_seconds(slo.sli.threshold_seconds)
    window = view.window
    short = _duration(view.windows[0])
    return Draft(_latency_shape(slo.target), {
        TITLE: f"Share under the {threshold} threshold",
        DESCRIPTION: f"Requests answered within {threshold} (histogram bucket le={slo.sli.threshold_seconds:g}) "
                     f"÷ all requests. Objective {_percent(slo.objective)}.",
        EXPRS[0]: f"1 - {view.series(c.METRIC_ERROR_RATIO, window)}",
        LEGENDS[0]: f"{view.prefix}≤ {threshold} ({window})",
        EXPRS[1]: f"1 - {view.series(c.METRIC_ERROR_RATIO, short)}",
        LEGENDS[1]: f"{view.prefix}≤ {threshold} ({short})",
    })


@lru_cache(maxsize=SHAPES_CACHED, typed=True)
def _latency_shape(target: float) -> Shape:
    """The latency panel of an SLO with this target, its threshold between red and green (set here, as for the
    burn-rate panels)."""
    ref = _refs()
    return _shape(
        stat_b.Panel().title(TITLE).datasource(_ds()).height(7).span(6)
        .unit("percentunit").decimals(2).description(DESCRIPTION)
        .text_mode(common_m.BigValueTextMode.VALUE_AND_NAME).graph_mode(common_m.BigValueGraphMode.AREA)
        .color_mode(common_m.BigValueColorMode.VALUE)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
        .thresholds(_thresholds((None, "red"), (target, "green")))
        .with_target(_target(EXPRS[0], ref(), legend=LEGENDS[0]))
        .with_target(_target(EXPRS[1], ref(), legend=LEGENDS[1])))


def slo_panels(view: SloView) -> list[Draft]:
    """The panels of one SLO's row, in reading order: state, burn, then traffic."""
    slo = view.slo
    extras = []
    if isinstance(slo.window, CalendarWindow) and view.counts:
        extras.append(period_to_date_panel(view))
    if isinstance(slo.sli, LatencySLI):
        extras.append(latency_panel(view))
    panels = [sli_panel(view), burn_down_panel(view), *burn_rate_panels(view)]
    if view.counts:
        panels.append(traffic_panel(view, GRID_WIDTH - 6 * len(extras)))
    panels.extend(extras)
    return panels


def row(slo: SLO) -> Draft:
    """The row header above an SLO's panels: its name, objective and window (and latency threshold)."""
    heading = f"{slo.name}: {_percent(slo.objective)} over {slo.window.name}"
    if isinstance(slo.sli, LatencySLI):
        heading += f", requests within {_format_seconds(slo.sli.threshold_seconds)}"
    return Draft(_row_shape(), {TITLE: heading})


@lru_cache(maxsize=1)
def _row_shape() -> Shape:
    return _shape(dash_b.Row(TITLE))


# ---- dashboards -------------------------------------------------------------------------------


def _datasource_variable() -> dash_b.DatasourceVariable:
    return (dash_b.DatasourceVariable(VAR_DATASOURCE).label("Data source").type(DATASOURCE_TYPE)
            .current(dash_m.VariableOption(text=DATASOURCE_NAME, value=DATASOURCE_UID)))


def _query_variable(name: str, label: str, query: str) -> dash_b.QueryVariable:
    return (dash_b.QueryVariable(name).label(label).datasource(_ds()).query(query)
            .multi(True).include_all(True).all_value(".+")
            .current(dash_m.VariableOption(text="All", value="$__all"))
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dash_m.VariableSort.ALPHABETICAL_ASC))


def _label_values(selector: str, label: str) -> str:
    """Grafana's variable query (not PromQL: only the selector inside is checked by the parser)."""
    return f"label_values({checked(selector)}, {label})"


def _base(title: str, uid: str, description: str, timezone: str = "browser") -> dash_b.Dashboard:
    return (dash_b.Dashboard(title).uid(uid).description(description).tags([TAG, "slo"])
            .readonly().time(DEFAULT_TIME_FROM, "now").refresh(REFRESH).timezone(timezone).week_start("monday")
            .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
            .link(dash_b.DashboardLink("SLO dashboards").type(dash_m.DashboardLinkType.DASHBOARDS).tags([TAG])
                  .as_dropdown(True).include_vars(False).keep_time(True)))


def _alerts_annotation(expr: str) -> dash_b.AnnotationQuery:
    """Firing SLO alerts (``expr``: :func:`_firing`) as annotations on every time series panel (a region while
    an alert fires)."""
    return (dash_b.AnnotationQuery().name("SLO alerts firing").datasource(_ds()).enable(True).hide(False)
            .icon_color("red").expr(checked(expr)))


@lru_cache(maxsize=1)
def _overview_board() -> Board:
    return _board(
        _base("SLOs: overview", OVERVIEW_UID,
              "Every SLO: objective, SLI, error budget, burn rate, status and firing alerts. "
              "Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.")
        .with_variable(_datasource_variable())
        .with_variable(_query_variable(VAR_SERVICE, "Service", _label_values(c.METRIC_INFO, c.LABEL_SERVICE)))
        .with_variable(_query_variable(VAR_SLO, "SLO", _label_values(
            f"{c.METRIC_INFO}{{{c.LABEL_SERVICE}=~{quote('$' + VAR_SERVICE)}}}", c.LABEL_SLO)))
        .annotation(_alerts_annotation(ANNOTATION)))


def overview_dashboard(catalog: Catalog, end: str = "") -> str:
    """Every SLO in one table (filtered by the service and SLO variables), worst status first: the JSON text
    (followed by ``end``)."""
    scope = _variable_scope()
    views = _views(catalog)
    firing = _firing(views, scope)
    table = status_table(catalog, scope, "Service level objectives", _table_height(len(catalog.slos)), views, firing)
    return _overview_board().render({ANNOTATION: firing}, [table], end)


def _service_timezone(slos: Sequence[SLO]) -> str:
    """The calendar SLOs' zone when they share one (period boundaries then fall on the axis's midnights)."""
    zones = {s.window.timezone for s in slos if isinstance(s.window, CalendarWindow)}
    return zones.pop() if len(zones) == 1 else "browser"


@lru_cache(maxsize=1)
def _service_board() -> Board:
    """A service's dashboard, with holes for what names the service and for its time zone."""
    return _board(
        _base(TITLE, UID, DESCRIPTION, TIMEZONE)
        .with_variable(_datasource_variable())
        .with_variable(_query_variable(VAR_SLO, "SLO", QUERY))
        .annotation(_alerts_annotation(ANNOTATION)))


def service_dashboard(catalog: Catalog, service: str, end: str = "") -> str:
    """One service: its status table, then a row per SLO with the SLI, burn-down, burn rates and traffic (the
    JSON text, followed by ``end``)."""
    slos = [s for s in catalog.slos if s.service == service]
    info = catalog.service(service)
    scope = TableScope(f"{c.LABEL_SERVICE}={quote(service)}", f"{c.LABEL_SLO}=~{quote('$' + VAR_SLO)}")
    sub = Catalog(services=tuple(s for s in catalog.services if s.name == service), slos=tuple(slos))
    about = (info.description + " " if info and info.description else "") + (
        f"Team {info.team}. " if info and info.team else "")
    views = _views(sub)
    firing = _firing(views, scope)
    drafts = [status_table(sub, scope, f"{service}: service level objectives", _table_height(len(slos)), views,
                           firing)]
    for view in views:
        drafts.append(row(view.slo))
        drafts.extend(slo_panels(view))
    return _service_board().render({
        TITLE: f"SLOs: {service}",
        TIMEZONE: _service_timezone(slos),
        UID: service_uid(service),
        DESCRIPTION: f"{about}Generated by sloengine from the SLO specs; do not edit: change the specs and "
                     "regenerate.",
        QUERY: _label_values(f"{c.METRIC_INFO}{{{c.LABEL_SERVICE}={quote(service)}}}", c.LABEL_SLO),
        ANNOTATION: firing,
    }, drafts, end)


# ---- files ------------------------------------------------------------------------------------


def encode(dashboard: dash_m.Dashboard) -> str:
    """The dashboard as Grafana reads it: sorted keys, two-space indent, final newline (stable for diffs).

    The generated dashboards are written through their templates (:class:`Text`, :class:`Board`), the same
    bytes; this encodes a whole model (the tests re-encode what they decode). orjson writes the same bytes as
    ``json`` with ``indent=2, sort_keys=True, ensure_ascii=False``, about a hundred times faster (the standard
    library's encoder is pure Python once it indents)."""
    return _dumps(dashboard) + "\n"


def decode(text: str) -> dash_m.Dashboard:
    """A dashboard JSON file read back into the SDK's model (panel options and queries typed by plugin)."""
    register_default_plugins()
    return dash_m.Dashboard.from_json(json.loads(text))


PROVISIONING_HEADER = "# Generated by sloengine from the SLO specs; do not edit: change the specs and regenerate.\n"


def provisioning_dashboards() -> str:
    """A Grafana file provider for the generated dashboards (one folder, updated when the files change)."""
    config = {
        "apiVersion": 1,
        "providers": [{
            "name": "sloengine",
            "orgId": 1,
            "folder": "SLOs",
            "type": "file",
            "disableDeletion": False,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 60,
            "options": {"path": PROVISIONED_PATH, "foldersFromFilesStructure": False},
        }],
    }
    return (PROVISIONING_HEADER
            + f"# Copy the dashboards' *.json to {PROVISIONED_PATH} (or point options.path at them) and put this\n"
              "# file in Grafana's provisioning/dashboards directory.\n"
            + yaml.safe_dump(config, sort_keys=False))


def provisioning_datasources() -> str:
    """An example Prometheus data source with the uid the dashboards' ``datasource`` variable defaults to."""
    config = {
        "apiVersion": 1,
        "datasources": [{
            "name": DATASOURCE_NAME,
            "uid": DATASOURCE_UID,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "url": "http://localhost:9090",
            "isDefault": False,
            "editable": False,
            # The fast rule group's interval: Grafana's $__rate_interval never drops below it.
            "jsonData": {"timeInterval": f"{c.FAST_INTERVAL_SECONDS}s", "httpMethod": "POST"},
        }],
    }
    return (PROVISIONING_HEADER
            + "# An example: set url to the Prometheus that loads sloengine's rules and put this file in Grafana's\n"
              "# provisioning/datasources directory. The dashboards pick any Prometheus in their datasource menu.\n"
            + yaml.safe_dump(config, sort_keys=False))


def _service_catalogs(catalog: Catalog) -> dict[str, Catalog]:
    """Each service's own catalogue (its declaration and SLOs), by service name."""
    slos: dict[str, list[SLO]] = {}
    for slo in catalog.slos:
        slos.setdefault(slo.service, []).append(slo)
    declared = {s.name: s for s in catalog.services}
    return {name: Catalog(services=(declared[name],) if name in declared else (), slos=tuple(members))
            for name, members in sorted(slos.items())}


def dashboards(catalog: Catalog) -> dict[str, dash_m.Dashboard]:
    """Every dashboard as the SDK's model, by relative path."""
    return {path: decode(text) for path, text in render_dashboards(catalog).items() if path.endswith(".json")}


def render_service_dashboard(catalog: Catalog, service: str) -> dict[str, str]:
    """One service's dashboard as text, by path."""
    return {dashboard_path(service_uid(service)): service_dashboard(catalog, service, "\n")}


def render_shared_dashboards(catalog: Catalog) -> dict[str, str]:
    """What is not per service: the overview and the provisioning files."""
    return {
        dashboard_path(OVERVIEW_UID): overview_dashboard(catalog, "\n"),
        f"{PROVISIONING_DIR}/dashboards.yaml": provisioning_dashboards(),
        f"{PROVISIONING_DIR}/datasources.yaml": provisioning_datasources(),
    }


def render_dashboards(catalog: Catalog) -> dict[str, str]:
    """Every dashboard and provisioning file as text, by path relative to the output directory."""
    files = render_shared_dashboards(catalog)
    for service, own in _service_catalogs(catalog).items():
        files.update(render_service_dashboard(own, service))
    return dict(sorted(files.items()))


def write_dashboards(catalog: Catalog, out: Path) -> list[Path]:
    """Write :func:`render_dashboards` under ``out`` (all staged before any is replaced)."""
    return write_tree(out, render_dashboards(catalog))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("out", type=click.Path(path_type=Path), default=Path("."))
def main(out: Path) -> None:
    """Regenerate the committed dashboards/ (under OUT, default .) for the specs in examples/."""
    for path in write_dashboards(load_or_raise(["examples"]), out):
        click.echo(path)


if __name__ == "__main__":
    main(prog_name="python -m sloengine.compiler.dashboards")
