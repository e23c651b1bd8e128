"""Every name sloengine writes or reads: spec versions, labels, metrics, groups, files.

One module so that a rename happens in one place and the rules, dashboards,
engine and exporter can never disagree about what a series is called.
"""

from __future__ import annotations

#: apiVersion and kind of the native spec format.
API_VERSION = "sloengine/v1"
KIND_SERVICE_LEVELS = "ServiceLevels"

#: File suffixes read when a directory is given.
SPEC_SUFFIXES = (".yaml", ".yml")

#: Window used when a spec names none (the SRE workbook's period).
DEFAULT_WINDOW_SECONDS = 30 * 86400

# Labels sloengine puts on every series it records; user grouping labels may not reuse them.
LABEL_SERVICE = "service"
LABEL_SLO = "slo"
LABEL_WINDOW = "window"
LABEL_SEVERITY = "severity"
LABEL_LONG_WINDOW = "long_window"
LABEL_SHORT_WINDOW = "short_window"
LABEL_BURN_FACTOR = "burn_factor"
#: ``raw`` for windows counted from the raw counters, ``tiles`` for sums of 5-minute tiles (edges on tiles).
LABEL_WINDOW_SOURCE = "window_source"

RESERVED_LABELS = frozenset(
    {LABEL_SERVICE, LABEL_SLO, LABEL_WINDOW, LABEL_SEVERITY, LABEL_LONG_WINDOW, LABEL_SHORT_WINDOW,
     LABEL_BURN_FACTOR, LABEL_WINDOW_SOURCE, "le", "__name__"}
)

#: Name of the JSON Schema file written by ``sloengine schema``.
SCHEMA_FILE = "sloengine-v1.schema.json"

# ---- recorded series (Prometheus naming: level:metric:operations) ------------------------

#: Bad and total events in a fixed 5-minute tile, recorded by the slow group; long windows sum tiles.
METRIC_TILE_BAD = "slo:bad_events:tiled_increase5m"
METRIC_TILE_TOTAL = "slo:total_events:tiled_increase5m"
TILE_SECONDS = 300

#: Events over a window (``window`` label): from raw counters up to RAW_WINDOW_MAX_SECONDS, else from tiles.
METRIC_BAD = "slo:bad_events:increase"
METRIC_TOTAL = "slo:total_events:increase"
#: Error ratio (bad ÷ total) over a window, and the same divided by the error budget.
METRIC_ERROR_RATIO = "slo:sli_error:ratio"
METRIC_BURN_RATE = "slo:burn_rate:ratio"
#: Share of the error budget left over the SLO window (1 = untouched, 0 = spent, negative = overspent).
METRIC_BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
METRIC_OBJECTIVE = "slo:objective:ratio"
METRIC_ERROR_BUDGET = "slo:error_budget:ratio"
METRIC_INFO = "slo:info"
#: Start of the current calendar period (Unix seconds), one series per (calendar, timezone).
METRIC_PERIOD_START = "slo:calendar_period_start:timestamp"

#: Windows up to this long are computed from raw counters at every fast evaluation, so pages see
#: an outage at once; longer ones are sums of recorded tiles, which is what makes them cheap.
RAW_WINDOW_MAX_SECONDS = 6 * 3600

#: Evaluation intervals: the fast group holds short windows and alerts, the slow one tiles and long sums.
FAST_INTERVAL_SECONDS = 30
SLOW_INTERVAL_SECONDS = 300

LABEL_CALENDAR = "calendar"
LABEL_TIMEZONE = "timezone"
LABEL_TEAM = "team"

#: Value of the ``window`` label on period-to-date series of calendar SLOs.
PERIOD_TO_DATE_SUFFIX = "_to_date"

ALERT_BURN = "SLOErrorBudgetBurn"
ALERT_EXHAUSTED = "SLOErrorBudgetExhausted"
ALERT_NO_DATA = "SLONoData"

RULES_DIR = "rules"
TESTS_DIR = "tests"


def group_name(service: str, slo: str, speed: str) -> str:
    """Rule group of one SLO; ``speed`` is ``fast`` or ``slow``. Names are unique per SLO id."""
    return f"sloengine:{service}:{slo}:{speed}"


def rules_file(service: str) -> str:
    return f"{RULES_DIR}/{service}.rules.yml"


def tests_file(service: str) -> str:
    return f"{TESTS_DIR}/{service}.test.yml"

#: The zone's UTC offset now (seconds), and the current period's start as local wall time (intermediate).
METRIC_UTC_OFFSET = "slo:calendar_utc_offset:seconds"
METRIC_PERIOD_START_LOCAL = "slo:calendar_period_start_local:timestamp"
CALENDAR_GROUP = "sloengine:calendars"
CALENDAR_FILE_STEM = "_calendars"
OPERATOR_DIR = "prometheus-operator"
