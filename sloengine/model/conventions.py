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
#: ``page`` or ``ticket`` by default; a spec's alert labels may set it to anything (Sloth's ``severity: pageteam``),
#: so nothing sloengine generates keys on it: routing, grouping and the alert tests read LABEL_OWN_SEVERITY.
LABEL_SEVERITY = "severity"
#: sloengine's own record of an alert's severity (``page`` or ``ticket``), which no spec may set.
LABEL_OWN_SEVERITY = "sloengine_severity"
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
#: A counter's tile counts the increases of its value held on this grid (seconds) over the tile: consecutive
#: tiles share their edges, so their sum is the counter's exact increase over their span (resets included).
TILE_GRID_SECONDS = 15
#: How far back a held value looks for the counter's previous sample: increases across a scrape gap (or a
#: failed scrape's staleness marker) up to this long are counted, not lost.
TILE_BRIDGE_SECONDS = 3600
#: Where the previous tile ended (the grid step it counted up to), recorded beside each SLO's tiles: the next
#: tile starts exactly there, so tiles partition time whatever the evaluation interval, and a missed
#: evaluation, a restart or the seam after a backfill up to TILE_CATCHUP_SECONDS long loses nothing.
METRIC_TILE_END = "slo:tile_end:timestamp"
TILE_CATCHUP_SECONDS = 3600

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
#: End of the current calendar period (the next one's start, Unix seconds), one series per (calendar, timezone):
#: the dashboards' status projects the period's budget to it.
METRIC_PERIOD_END = "slo:calendar_period_end:timestamp"

#: Windows up to this long are computed from raw counters at every fast evaluation, so pages see
#: an outage at once; longer ones are sums of recorded tiles, which is what makes them cheap.
RAW_WINDOW_MAX_SECONDS = 6 * 3600

#: Evaluation intervals: the fast group holds short windows and alerts, the slow one tiles and long sums.
FAST_INTERVAL_SECONDS = 30
SLOW_INTERVAL_SECONDS = 300

LABEL_CALENDAR = "calendar"
LABEL_TIMEZONE = "timezone"
LABEL_TEAM = "team"
LABEL_OWNER = "owner"
LABEL_OBJECTIVE = "objective"
LABEL_SLI_KIND = "sli"

#: Labels of the ``slo:info`` series that sloengine computes; a spec's service and SLO ``labels:`` (which that
#: series and every alert of the SLO carry) may not reuse them. (``team`` and ``owner`` they may set: the
#: service's own ``team:``/``owner:``, where given, win.)
INFO_LABELS = frozenset({LABEL_OBJECTIVE, LABEL_SLI_KIND})

#: Value of the ``window`` label on period-to-date series of calendar SLOs.
PERIOD_TO_DATE_SUFFIX = "_to_date"

ALERT_BURN = "SLOErrorBudgetBurn"
ALERT_EXHAUSTED = "SLOErrorBudgetExhausted"
ALERT_NO_DATA = "SLONoData"
#: A latency SLI's histogram is scraped but has no bucket at the threshold: its SLI has no data (not 100% errors).
ALERT_BUCKET_MISSING = "SLOLatencyBucketMissing"

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
#: The zone's latest UTC offset change (Unix seconds) and the offset before it: with the offset now, a rule finds
#: the offset at any instant since the change before that, exactly, from the samples at its own evaluation
#: (recorded for the zones of agreements' hours).
METRIC_LAST_OFFSET_CHANGE = "slo:calendar_last_utc_offset_change:timestamp"
METRIC_PREVIOUS_UTC_OFFSET = "slo:calendar_previous_utc_offset:seconds"
CALENDAR_GROUP = "sloengine:calendars"
#: The group of tile rules that ``sloengine backfill`` hands to promtool (never loaded by Prometheus).
BACKFILL_GROUP = "sloengine:backfill"
CALENDAR_FILE_STEM = "_calendars"
OPERATOR_DIR = "prometheus-operator"
#: Rule files for other rulers (``generate --format``), one directory each, beside the plain rules/ files.
MIMIR_DIR = "mimir"
THANOS_DIR = "thanos"
VMALERT_DIR = "vmalert"
VMRULE_DIR = "vmrule"
GMP_DIR = "gmp"
#: Prefix of generated ruler namespaces and Kubernetes object names (``sloengine-checkout-api``).
OBJECT_PREFIX = "sloengine-"
#: Labels that high-availability pairs put on every series they send (Prometheus replicas behind Thanos, the
#: Prometheus operator's default, Mimir's HA tracker): no generated recorded series may keep them.
REPLICA_LABELS = ("replica", "prometheus_replica", "__replica__")

# ---- dashboards (Grafana) ---------------------------------------------------------------------
DASHBOARDS_DIR = "dashboards"
DASHBOARD_PROVISIONING_DIR = f"{DASHBOARDS_DIR}/provisioning"
DASHBOARD_OVERVIEW_UID = "sloengine-overview"
DASHBOARD_UID_PREFIX = "sloengine-"
#: Every generated dashboard carries this tag: Grafana lists them together, and old ones are recognisable.
DASHBOARD_TAG = "sloengine"
#: uid of the example data source in provisioning/datasources.yaml (the datasource variable's default).
DASHBOARD_DATASOURCE_UID = "sloengine-prometheus"


# ---- exporter (`sloengine serve`) --------------------------------------------------------------
# Section owned by sloengine/reports/exporter.py. Exported series use plain metric names (no colons: colons
# are for recording rules), labelled service, slo, window (the window the figure is computed over:
# the SLO window, or the alert window for burn rates) and the group_by labels of grouped SLIs.

#: Objective as a ratio (99.9% → 0.999).
EXPORT_OBJECTIVE = "slo_objective_ratio"
#: Good ÷ total events over the SLO window; no sample when there were no events.
EXPORT_SLI = "slo_sli_ratio"
#: 1 − budget consumed over the SLO window (negative when overspent, never ±Inf).
EXPORT_BUDGET_REMAINING = "slo_error_budget_remaining_ratio"
#: Error ratio ÷ error budget over each alert window (``window`` = the alert window).
EXPORT_BURN_RATE = "slo_burn_rate_ratio"
#: Seconds until the budget is spent at the current burn rate (0: already spent; absent: not burning).
EXPORT_TIME_TO_EXHAUSTION = "slo_time_to_exhaustion_seconds"
#: State set: 1 for the SLO's current status, 0 for the others (``status`` label).
EXPORT_STATUS = "slo_status"
EXPORT_GOOD_EVENTS = "slo_good_events"
EXPORT_TOTAL_EVENTS = "slo_total_events"
LABEL_STATUS = "status"
#: Prefix given to a group_by label whose name clashes with a label the exporter sets (``status``).
EXPORT_CLASH_PREFIX = "exported_"

#: The exporter's own health.
HEALTH_LAST_SUCCESS = "sloengine_exporter_last_success_timestamp_seconds"
HEALTH_EVALUATION_DURATION = "sloengine_exporter_evaluation_duration_seconds"
#: Counter of evaluations by ``result``: success (no errors), partial (some SLOs failed), failure (all failed).
HEALTH_EVALUATIONS = "sloengine_exporter_evaluations_total"
HEALTH_QUERY_ERRORS = "sloengine_exporter_query_errors_total"
#: 1 while the SLO series are the last good values because the latest evaluation failed.
HEALTH_STALE = "sloengine_exporter_stale"
HEALTH_SLOS = "sloengine_exporter_slos"
LABEL_RESULT = "result"

EXPORTER_DEFAULT_LISTEN = "127.0.0.1:9099"
EXPORTER_DEFAULT_INTERVAL_SECONDS = 60.0
EXPORTER_METRICS_PATH = "/metrics"
EXPORTER_HEALTHY_PATH = "/-/healthy"
EXPORTER_READY_PATH = "/-/ready"
#: Password of the exporter's basic auth when --basic-auth-password-file is not given.
ENV_EXPORTER_PASSWORD = "SLOENGINE_EXPORTER_PASSWORD"


# ---- escalation (Alertmanager) -----------------------------------------------------------------
# Section owned by sloengine/compiler/escalation.py. Page alerts carry ``escalation_level="L1"``; a page that
# stays unresolved raises ``SLOEscalation`` with the next level's label (Alertmanager has no
# acknowledgements, so time-based escalation is carried by Prometheus rules).

#: Label naming the escalation level of a page (L1 on the page itself, L2/L3 on its escalations).
LABEL_ESCALATION_LEVEL = "escalation_level"
#: Escalation levels, in order; L1 is the first responder (on-call).
ESCALATION_LEVELS = ("L1", "L2", "L3")
#: Alert raised when a page has fired longer than a level's delay.
ALERT_ESCALATION = "SLOEscalation"
#: Root receiver of the generated routing tree: no integrations (alerts that are not ours go nowhere).
DEFAULT_RECEIVER = "sloengine-default"
#: How Alertmanager groups our alerts into notifications.
ALERTMANAGER_GROUP_BY = ("alertname", LABEL_SERVICE, LABEL_SLO, LABEL_OWN_SEVERITY, LABEL_ESCALATION_LEVEL)
ALERTMANAGER_DIR = "alertmanager"
ALERTMANAGER_CONFIG_FILE = f"{ALERTMANAGER_DIR}/alertmanager.yml"
#: ``amtool config routes test`` cases (labels → expected receivers) for every SLO and level.
ALERTMANAGER_ROUTE_TESTS_FILE = f"{ALERTMANAGER_DIR}/routes.test.yml"

# The escalation label is ours like the others: no SLI may group by it.
RESERVED_LABELS = RESERVED_LABELS | {LABEL_ESCALATION_LEVEL, LABEL_OWN_SEVERITY}

#: Labels of sloengine's alerts that a spec's alert labels may not set: routing, inhibition, escalation and
#: the generated alert tests rely on them (``severity`` and ``team`` are the user's to override).
ALERT_OWN_LABELS = frozenset({LABEL_SERVICE, LABEL_SLO, LABEL_WINDOW, LABEL_WINDOW_SOURCE, LABEL_OWN_SEVERITY,
                              LABEL_LONG_WINDOW, LABEL_SHORT_WINDOW, LABEL_BURN_FACTOR, LABEL_ESCALATION_LEVEL,
                              "alertname", "alertstate", "__name__"})


# ---- agreements (SLA breach-risk rules) --------------------------------------------------------
# Section owned by sloengine/compiler/agreements.py. Each agreement's commitments (an SLO's SLI narrowed by its
# ``match``) get their own 5-minute tiles counting only support hours net of exclusions, summed over the
# agreement's calendar period so far: the figures ``sla-report`` computes from raw samples.

#: Label naming the agreement on its series and alerts, and its kind (sla, ola, uc).
LABEL_AGREEMENT = "agreement"
LABEL_AGREEMENT_KIND = "agreement_kind"
#: Alertmanager receiver an agreement's alerts go to (its ``notify:``); routing keys on it.
LABEL_NOTIFY = "notify"
#: Share of the period's budget (percent) whose spending an SLABudgetSpent alert reports.
LABEL_BUDGET_SPENT = "budget_spent"
#: Bad and total events within counted time (support hours, not excluded) per 5-minute tile of a commitment.
METRIC_SLA_TILE_BAD = "sla:bad_events:tiled_increase5m"
METRIC_SLA_TILE_TOTAL = "sla:total_events:tiled_increase5m"
#: Where a commitment's last tile ended (its tiles partition time as the SLOs' do).
METRIC_SLA_TILE_END = "sla:tile_end:timestamp"
#: Bad and total counted events over the agreement's calendar period so far.
METRIC_SLA_BAD = "sla:bad_events:period_to_date"
METRIC_SLA_TOTAL = "sla:total_events:period_to_date"
#: Good ÷ total counted events over the period so far (sla-report's attainment).
METRIC_SLA_ATTAINMENT = "sla:attainment:ratio"
#: Share of the period's SLA error budget spent so far (1 = the target is missed).
METRIC_SLA_BUDGET_SPENT = "sla:error_budget_spent:ratio"
#: The share spent by the period's end if the rest of the period goes as the last day did.
METRIC_SLA_BUDGET_SPENT_PROJECTED = "sla:error_budget_spent_projected:ratio"
#: Budget shares (percent) at which SLABudgetSpent fires, as ServiceNow and BMC warn.
SLA_BUDGET_THRESHOLDS = (50, 75, 90, 100)
#: Recent window whose error ratio the projection extends to the rest of the period (a support day).
SLA_PROJECTION_SECONDS = 86400
ALERT_SLA_BUDGET = "SLABudgetSpent"
ALERT_SLA_PROJECTED_BREACH = "SLAProjectedBreach"
AGREEMENTS_FILE_STEM = "_agreements"


def agreement_group_name(agreement: str) -> str:
    return f"sloengine:agreement:{agreement}"

# ---- two tiers: leaf Prometheus servers (one per cluster) and a global tier federating them --------------

#: Where ``generate --split leaf,global`` writes each tier's files.
SPLIT_DIR = "split"
LEAF_DIR = f"{SPLIT_DIR}/leaf"
GLOBAL_DIR = f"{SPLIT_DIR}/global"
#: The level prefix of what a leaf records (per cluster; the cluster label is added by federation): the global
#: federates exactly these, so they never share a name with the global's own aggregated ``slo:`` series.
LEAF_LEVEL = "slo_cluster"


def leaf_metric(metric: str) -> str:
    """The leaf's name for one of our recorded metrics (``slo:bad_events:increase`` → ``slo_cluster:...``)."""
    level, _, rest = metric.partition(":")
    assert level == "slo", metric
    return f"{LEAF_LEVEL}:{rest}"


#: One series per leaf, evaluated every fast interval: the global tells a lost leaf by its absence.
METRIC_LEAF_HEARTBEAT = f"{LEAF_LEVEL}:leaf_heartbeat:timestamp"
#: In the global tier: one series per expected cluster, 1 while its leaf's heartbeat is absent or old, else 0.
METRIC_LEAF_MISSING = "slo:leaf_missing:bool"
ALERT_LEAF_MISSING = "SLOLeafMissing"
LEAF_GROUP = "sloengine:leaf"
LEAVES_GROUP = "sloengine:leaves"
LEAF_FILE_STEM = "_leaf"
LEAVES_FILE_STEM = "_leaves"
#: The global's scrape configuration for federating the leaves (a snippet to merge into prometheus.yml).
FEDERATION_FILE = f"{GLOBAL_DIR}/federation.yml"
FEDERATION_JOB = "sloengine-federate"
DEFAULT_CLUSTER_LABEL = "cluster"


def split_group_name(service: str, slo: str, tier: str, speed: str) -> str:
    """A tier's rule group of one SLO (``tier``: ``leaf`` or ``global``)."""
    return f"sloengine:{service}:{slo}:{tier}-{speed}"
