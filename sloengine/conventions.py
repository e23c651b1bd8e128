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

RESERVED_LABELS = frozenset(
    {LABEL_SERVICE, LABEL_SLO, LABEL_WINDOW, LABEL_SEVERITY, LABEL_LONG_WINDOW, LABEL_SHORT_WINDOW,
     LABEL_BURN_FACTOR, "le", "__name__"}
)

#: Name of the JSON Schema file written by ``sloengine schema``.
SCHEMA_FILE = "sloengine-v1.schema.json"
