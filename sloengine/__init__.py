"""sloengine: service level objectives and agreements as code for Prometheus.

The library in three calls, the same pipeline the command line runs::

    import sloengine

    catalog = sloengine.load("slos/")                          # specs (native, Sloth, OpenSLO, Pyrra) -> model
    files = sloengine.compile(catalog)                         # model -> rules, alert tests, dashboards, Alertmanager
    report = sloengine.evaluate(catalog, "http://127.0.0.1:9090")  # model + Prometheus -> figures per SLO

``load`` raises :class:`SpecError` (every problem with its ``file:line:col``) instead of returning a catalogue
with errors; ``compile`` is pure (paths to file contents, nothing written); ``evaluate`` fails closed: an SLO
without data or whose query failed has that status, never 100 %.
"""

from __future__ import annotations

from pathlib import Path

from .compiler.generate import OutputFormat, render
from .engine.connection import Client, ConnectionConfig
from .engine.reading import evaluate as _evaluate
from .model.diagnostics import SpecError
from .model.results import Report
from .model.slo import Catalog
from .specs.loader import load_or_raise

__version__ = "0.1.0"
__all__ = ["Catalog", "ConnectionConfig", "Report", "SpecError", "compile", "evaluate", "load"]


def load(*paths: str | Path) -> Catalog:
    """Every spec under ``paths`` (files or directories) as one catalogue; :class:`SpecError` if any has an
    error."""
    return load_or_raise(list(paths))


def compile(catalog: Catalog, *, dashboards: bool = True,  # noqa: A001 - the pipeline's own word
            prometheus_operator: bool = False) -> dict[str, str]:
    """Everything ``sloengine generate`` writes, by relative path (rules, promtool tests, Alertmanager
    configuration, dashboards; PrometheusRule objects too with ``prometheus_operator``)."""
    fmt = OutputFormat.PROMETHEUS_OPERATOR if prometheus_operator else OutputFormat.PROMETHEUS
    return render(catalog, fmt, dashboards=dashboards)


def evaluate(catalog: Catalog, prometheus: str | ConnectionConfig, at: float | None = None) -> Report:
    """Every SLO's figures at ``at`` (Unix seconds, default now), read from Prometheus (a URL, or a
    :class:`ConnectionConfig` with auth, TLS and retries)."""
    config = prometheus if isinstance(prometheus, ConnectionConfig) else ConnectionConfig(url=prometheus)
    return _evaluate(catalog, Client(config), at)
