"""The ``sloengine`` command line.

Exit codes are part of the interface: 0 success, 1 the specs (or the data)
have errors, 2 the command was used wrongly, 3 what Prometheus holds could not
be read (unreachable, refused, malformed or implausible answers, past the
deadline). A user's mistake prints diagnostics, never a traceback. Text that
comes from outside (a server's messages, spec names) is printed with its
control characters escaped (:func:`~sloengine.model.terminal.printable`).
"""

from __future__ import annotations

import json
import logging
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from . import __version__
from .agreements.recommend import Verdict, document
from .agreements.recommend import recommend as run_recommend
from .agreements.recommend import render_markdown as render_recommendations
from .agreements.sla import Compliance, PeriodError, evaluate_all, period_day
from .compiler.generate import OutputFormat, write_catalog
from .compiler.rulers import PartialResponse, RulerOptions
from .compiler.split import Topology, TopologyError
from .compiler.tools import ToolError
from .compiler.writer import write_atomically
from .engine.backfill import Tier
from .engine.backfill import backfill as run_backfill
from .engine.connection import (
    DEADLINE_REQUESTS,
    Client,
    ConfigError,
    ConnectionConfig,
    QueryError,
    parse_headers,
    resolve,
)
from .engine.livecheck import check_catalog_live
from .engine.reading import evaluate
from .model import conventions as c
from .model.diagnostics import Level
from .model.durations import DurationError, format_duration, parse_duration, parse_seconds_float
from .model.promql import LABEL_NAME
from .model.results import Status
from .model.slo import SLO, CalendarWindow, Catalog, LatencySLI, ProbeSLI, RatioSLI
from .model.terminal import printable
from .reports.exporter import Exporter, ServeError, basic_auth, start_server, tls
from .reports.report import RENDERERS as REPORT_RENDERERS
from .reports.report import render_table
from .reports.report import schema_text as report_schema_text
from .reports.sla_report import RENDERERS as SLA_RENDERERS
from .reports.web.agreements import customers
from .specs.loader import LoadResult, load
from .specs.schema import schema_text

EXIT_OK = 0
EXIT_INVALID = 1
#: ``report``: an SLO could not be computed (query failed, Prometheus unreachable) or has no data (unless
#: --allow-no-data); breaches with --fail-on-breach.
EXIT_ERROR = 3
EXIT_BREACHED = 4

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(command: F) -> F:
    """Flags for reaching Prometheus, shared by every command that reads it (see ``sloengine.engine.connection``)."""
    options = [
        click.option("--prometheus", "url", envvar="SLOENGINE_PROMETHEUS_URL", default=None,
                     help="Prometheus-compatible API base URL (env SLOENGINE_PROMETHEUS_URL)."),
        click.option("--connection-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="YAML with url, timeout_seconds, retries, username, password, bearer_token_file, "
                          "ca_file, insecure_skip_verify, headers."),
        click.option("--timeout", "timeout_seconds", type=float,
                     help="Seconds for each request, all of its answer included (default 30)."),
        click.option("--retries", type=int, help="Retries on connection errors, 429 and 5xx, with backoff or the "
                                                 "server's Retry-After (default 3)."),
        click.option("--deadline", "deadline_seconds", type=float,
                     help=f"Seconds the whole run may take, retries and waits included (default {DEADLINE_REQUESTS} "
                          "× timeout × (retries + 1)); each serve evaluation has its own."),
        click.option("--max-response-bytes", type=int,
                     help="Largest answer read from Prometheus (default 64 MiB); a larger one is an error."),
        click.option("--username", help="Basic auth user; the password comes from SLOENGINE_PROMETHEUS_PASSWORD "
                                        "or the connection file."),
        click.option("--bearer-token-file", type=click.Path(dir_okay=False, path_type=Path),
                     help="File holding a bearer token (or env SLOENGINE_PROMETHEUS_TOKEN); never printed."),
        click.option("--ca-file", type=click.Path(dir_okay=False, path_type=Path), help="CA bundle for TLS."),
        click.option("--insecure-skip-verify", is_flag=True, default=None, help="Do not verify TLS certificates."),
        click.option("--header", "headers", multiple=True,
                     help="Extra header 'Name: value', repeatable (e.g. 'X-Scope-OrgID: tenant-1')."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sloengine")
def main() -> None:
    """Service level objectives as code for Prometheus.

    Write SLOs in YAML (sloengine/v1, or Sloth, OpenSLO and Pyrra specs), and
    sloengine checks them, compiles them to Prometheus rules and reports on them.
    """


def _print_diagnostics(result: LoadResult, err: bool = True) -> None:
    for diagnostic in result.diagnostics:
        colour = "red" if diagnostic.level is Level.ERROR else "yellow"
        click.secho(printable(diagnostic.render(), keep="\n"), fg=colour, err=err)


def _for(seconds: int) -> str:
    return format_duration(seconds) if seconds > 0 else "0s"


def _sli_queries(slo: SLO) -> dict[str, str]:
    """What the SLI reads, as written after import: selectors (ratio, latency histogram, probe gauge), or the
    raw PromQL queries."""
    sli = slo.sli
    if isinstance(sli, RatioSLI):
        return {k: v.render() for k, v in (("good", sli.good), ("bad", sli.bad), ("total", sli.total)) if v is not None}
    if isinstance(sli, LatencySLI):
        return {"histogram": sli.histogram.render()}
    if isinstance(sli, ProbeSLI):
        return {"metric": sli.gauge.render()}
    return {k: v for k, v in (("error_ratio", sli.error_ratio), ("good", sli.good), ("bad", sli.bad),
                              ("total", sli.total)) if v is not None}


def _slo_summary(slo: SLO) -> dict:
    return {
        "id": slo.id,
        "service": slo.service,
        "slo": slo.name,
        "objective": slo.objective,
        "window": slo.window.name,
        "sli": slo.sli.kind.value,
        "selectors": _sli_queries(slo),
        "threshold_seconds": slo.sli.threshold_seconds if isinstance(slo.sli, LatencySLI) else None,
        "group_by": list(slo.sli.group_by),
        "alerts": [
            {"severity": c.severity.value, "long": c.name.split("-")[0], "short": c.name.split("-")[1],
             "burn_factor": c.burn_factor, "budget_percent": c.budget_percent, "for": _for(c.for_seconds)}
            for c in slo.alerting.conditions
        ] if slo.alerting.enabled else [],
        "min_events": slo.alerting.min_events,
        "format": slo.source_format.value,
        "source": str(slo.source) if slo.source else None,
    }


def _table(rows: list[list[str]], indent: str) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def _slo_text(slo: SLO) -> str:
    """One SLO for people: what it measures, against what, and when it alerts."""
    summary = _slo_summary(slo)
    lines = [f"{slo.id}  ({summary['format']}, {summary['source'] or 'no source'})",
             f"  objective  {slo.objective:g}% over {slo.window.name}"
             + (f" ({slo.window.timezone})" if isinstance(slo.window, CalendarWindow) else ""),
             f"  sli        {slo.sli.kind.value}"]
    fields = [[key, text] for key, text in summary["selectors"].items()]
    if summary["threshold_seconds"] is not None:
        threshold = summary["threshold_seconds"]
        fields.append(["threshold", f"{threshold:g}s (bucket le=\"{threshold:g}\")"])
    if slo.sli.group_by:
        fields.append(["group_by", ", ".join(slo.sli.group_by)])
    lines += _table(fields, "    ")
    if not summary["alerts"]:
        lines.append("  alerts     none")
    else:
        lines.append("  alerts" + (f"     (min_events {slo.alerting.min_events})" if slo.alerting.min_events else ""))
        rows = [["severity", "long", "short", "burn", "budget", "for"]]
        rows += [[a["severity"], a["long"], a["short"], f"{a['burn_factor']:g}", f"{a['budget_percent']:.3g}%",
                  a["for"]] for a in summary["alerts"]]
        lines += _table(rows, "    ")
    return "\n".join(lines) + "\n"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for scripts and editors.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@connection_options
def validate(paths: tuple[Path, ...], fmt: str, strict: bool, **connection: Any) -> None:
    """Check SLO spec files or directories; exit 1 if any has an error.

    Every problem is reported as FILE:LINE:COL with the field, what is wrong and
    how to fix it. Sloth, OpenSLO (v1, v1alpha) and Pyrra files are detected and
    imported; what cannot be carried over is a warning.

    With --prometheus (or another connection flag on the command line; the
    environment alone does not trigger it) the SLIs are also checked against
    that Prometheus's series of the last hour: a latency threshold must be one
    of the histogram's bucket boundaries (error, naming those that exist), and
    ratio and probe selectors should match something (warning: no data). A
    failed query exits 3: nothing is reported as checked.
    """
    result = load(paths)
    result, live = _validate_live(result, connection)
    failed = bool(result.errors) or (strict and bool(result.warnings)) or live.get("error") is not None
    if fmt == "json":
        payload = {
            "ok": not failed,
            **({"prometheus": live} if live else {}),
            "files": list(result.files),
            "slos": [_slo_summary(s) for s in result.catalog.slos],
            "diagnostics": [
                {"level": d.level.value, "file": d.position.file, "line": d.position.line,
                 "column": d.position.column, "field": d.field, "message": d.message, "fix": d.hint}
                for d in result.diagnostics
            ],
        }
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        _print_diagnostics(result)
        n_err, n_warn = len(result.errors), len(result.warnings)
        services = {s.service for s in result.catalog.slos}
        line = (f"{len(result.catalog.slos)} SLOs in {len(services)} services from {len(result.files)} files: "
                f"{n_err} errors, {n_warn} warnings")
        if live and live["error"] is None:
            line += f"; checked against {live['url']}"
        click.secho(line, fg="red" if failed else "green", err=failed)
    if live.get("error") is not None:
        click.secho(f"error: could not check the SLIs against Prometheus: {printable(live['error'])}", fg="red",
                    err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_INVALID if failed else EXIT_OK)


def _validate_live(result: LoadResult, connection: dict) -> tuple[LoadResult, dict]:
    """``validate``'s checks against a live Prometheus, when a connection flag was given on the command line.

    Returns the result with those diagnostics added, and ``{"url", "error"}`` (empty when not asked): a query
    that failed leaves ``error`` set, so the caller fails closed instead of calling the SLIs checked.
    """
    context = click.get_current_context()
    if not any(context.get_parameter_source(name) is ParameterSource.COMMANDLINE for name in connection):
        return result, {}
    client = _client(**connection)
    try:
        checked = check_catalog_live(result.catalog, client)
    except QueryError as exc:
        return result, {"url": client.url, "error": str(exc)}
    finally:
        client.close()
    return replace(result, diagnostics=checked.settle(result.diagnostics)), {"url": client.url, "error": None}


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for scripts (a list with one object per SLO).")
def show(paths: tuple[Path, ...], fmt: str) -> None:
    """Print the SLOs as sloengine understood them, after import and defaults.

    Per SLO: objective and window, the SLI's selectors (ratio good/bad/total,
    latency histogram and threshold, probe gauge) or raw queries, grouping
    labels, and each alert condition's windows, burn factor, budget share and
    `for`. Exit 1 if a spec has an error.
    """
    result = load(paths)
    _print_diagnostics(result)
    if result.errors:
        sys.exit(EXIT_INVALID)
    if fmt == "json":
        click.echo(json.dumps([_slo_summary(s) for s in result.catalog.slos], indent=2, sort_keys=True))
    else:
        click.echo(printable("\n".join(_slo_text(s) for s in result.catalog.slos), keep="\n"), nl=False)


def _load_clean(paths: tuple[Path, ...]) -> Catalog:
    """Load specs; on any error print them all and exit 1 before anything is written."""
    result = load(paths)
    _print_diagnostics(result)
    if result.errors:
        click.secho(f"{len(result.errors)} errors: nothing written", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    return result.catalog


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output directory: rules/, tests/, dashboards/, alertmanager/ (and prometheus-operator/).")
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="prometheus",
              show_default=True,
              help="Besides rules/: prometheus-operator PrometheusRule objects, mimir (Mimir/Cortex) namespace files, "
                   "thanos (Thanos Ruler) rule files, vmalert rule files, vmrule VMRule objects, gmp (Google "
                   "Managed Prometheus) Rules objects.")
@click.option("--tenant", default=None, help="Mimir/Cortex tenant the mimir files are for (recorded in their header).")
@click.option("--partial-response", type=click.Choice([p.value for p in PartialResponse]), default="abort",
              show_default=True, help="Thanos Ruler's partial_response_strategy of every group (thanos format).")
@click.option("--no-dashboards", is_flag=True, help="Skip the Grafana dashboards.")
@click.option("--split", type=click.Choice(["leaf,global"]), default=None,
              help="Also write two tiers under split/: leaf/ rules for each cluster's Prometheus (events and tiles "
                   "from its counters) and global/ rules for a Prometheus federating them (sums over clusters, "
                   "ratios, alerts), with global/federation.yml, its scrape job for the leaves.")
@click.option("--clusters", default=None, metavar="NAME,NAME",
              help="With --split: the clusters the global tier expects a leaf for (their external label's values).")
@click.option("--cluster-label", default=c.DEFAULT_CLUSTER_LABEL, show_default=True,
              help="With --split: the external label naming each leaf's cluster.")
@click.option("--federation-interval", type=click.IntRange(5, 300), default=30, show_default=True, metavar="SECONDS",
              help="With --split: how often the global scrapes each leaf's /federate.")
def generate(paths: tuple[Path, ...], out: Path, fmt: str, tenant: str | None, partial_response: str,
             no_dashboards: bool, split: str | None, clusters: str | None, cluster_label: str,
             federation_interval: int) -> None:
    """Compile SLO specs into Prometheus rules with promtool tests, Grafana dashboards and Alertmanager escalation.

    Writes OUT/rules/<service>.rules.yml (load them in Prometheus's rule_files),
    OUT/tests/<service>.test.yml (run `promtool test rules OUT/tests/*.yml`),
    OUT/dashboards/*.json with Grafana provisioning under
    OUT/dashboards/provisioning/, and OUT/alertmanager/ (configuration and
    `amtool config routes test` cases). With --split leaf,global, also
    OUT/split/leaf/ (for each cluster's Prometheus) and OUT/split/global/ (for
    a Prometheus federating them, with federation.yml). Files are replaced
    atomically; generated files for services that are gone are removed.
    Nothing is written when a spec has an error.
    """
    topology = _topology(split, clusters, cluster_label, federation_interval)
    catalog = _load_clean(paths)
    rulers = RulerOptions(tenant=tenant, partial_response=PartialResponse(partial_response))
    if topology is not None and catalog.agreements:
        click.secho("warning: agreements' breach-risk rules are not split into tiers yet: run "
                    f"{c.rules_file(c.AGREEMENTS_FILE_STEM)} where every cluster's counters can be read", fg="yellow",
                    err=True)
    written, removed, unchanged = write_catalog(out, catalog, OutputFormat(fmt), dashboards=not no_dashboards,
                                                rulers=rulers, split=topology)
    for path in removed:
        click.echo(printable(f"removed stale {path}"), err=True)
    kept = f" ({unchanged} unchanged, kept as they were)" if unchanged else ""
    click.echo(printable(f"wrote {len(written)} files for {len(catalog.slos)} SLOs to {out}{kept}"), err=True)


def _topology(split: str | None, clusters: str | None, label: str, interval: int) -> Topology | None:
    """The two-tier topology of ``generate --split`` (None without it); a usage error when incomplete."""
    if split is None:
        if clusters is not None:
            raise click.BadParameter("only means something with --split leaf,global", param_hint="--clusters")
        return None
    if not clusters:
        raise click.BadParameter("name the clusters the global tier expects a leaf for, e.g. --clusters eu-1,us-1",
                                 param_hint="--clusters")
    try:
        return Topology(tuple(name.strip() for name in clusters.split(",")), label, interval)
    except TopologyError as exc:
        raise click.BadParameter(str(exc), param_hint="--clusters/--cluster-label") from None


def _label_pairs(labels: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``NAME=VALUE`` options as sorted pairs; a usage error naming the bad one."""
    pairs: dict[str, str] = {}
    for text in labels:
        name, sep, value = text.partition("=")
        if not sep or not LABEL_NAME.match(name) or name.startswith("__") or name in c.ALERT_OWN_LABELS:
            raise click.BadParameter(f"{text!r}: give NAME=VALUE with a label name that is not reserved, "
                                     "e.g. cluster=eu-1", param_hint="--label")
        pairs[name] = value
    return tuple(sorted(pairs.items()))


def _instant(text: str, hint: str = "--until") -> float:
    """RFC 3339 (a time without an offset is UTC) or Unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither RFC 3339 (2026-10-01T00:00:00Z) nor Unix seconds",
                                 param_hint=hint) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _connection(connection_file: Path | None, url: str | None, timeout_seconds: float | None, retries: int | None,
                deadline_seconds: float | None, max_response_bytes: int | None, username: str | None,
                bearer_token_file: Path | None, ca_file: Path | None, insecure_skip_verify: bool | None,
                headers: tuple[str, ...]) -> ConnectionConfig:
    """The settings from :func:`connection_options` (file, then environment, then flags); exit 1 when wrong."""
    try:
        config = resolve(connection_file, {
            "url": url, "timeout_seconds": timeout_seconds, "retries": retries, "deadline_seconds": deadline_seconds,
            "max_response_bytes": max_response_bytes, "username": username,
            "bearer_token_file": str(bearer_token_file) if bearer_token_file else None,
            "ca_file": str(ca_file) if ca_file else None, "insecure_skip_verify": insecure_skip_verify,
            "headers": parse_headers(headers) if headers else None,
        })
        config.token()   # an unreadable token file is a settings error, said now
        return config
    except ConfigError as exc:
        click.secho("error: " + printable(str(exc), keep="\n"), fg="red", err=True)
        sys.exit(EXIT_INVALID)


def _client(**connection: Any) -> Client:
    return Client(_connection(**connection))


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@connection_options
@click.option("--since", default="30d", show_default=True, help="How far back to backfill (a duration).")
@click.option("--until", "until", default=None, help="End (RFC 3339 or Unix seconds); default: now.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the TSDB blocks (OUT/blocks) and the rules used.")
@click.option("--tier", type=click.Choice([t.value for t in Tier]), default=Tier.SINGLE.value, show_default=True,
              help="Whose tiles: a single Prometheus's, or (leaf) a leaf's of `generate --split leaf,global`, read "
                   "from that leaf.")
@click.option("--label", "labels", multiple=True, metavar="NAME=VALUE",
              help="Add this label to every series written (repeatable): the external labels of the Prometheus the "
                   "history came from, e.g. --label cluster=eu-1 for a leaf's blocks that go to the global tier.")
@click.option("--cluster-label", default=c.DEFAULT_CLUSTER_LABEL, show_default=True,
              help="With --tier leaf: the label naming clusters (as given to generate --split).")
def backfill(paths: tuple[Path, ...], since: str, until: str | None, out: Path, tier: str, labels: tuple[str, ...],
             cluster_label: str, **connection: Any) -> None:
    """Write TSDB blocks of the SLOs' recorded history so new SLOs show their whole window at once.

    Only the 5-minute tiles need history (every longer window is a sum of
    them), so this is one pass with no rule ordering to get wrong. Agreements'
    tiles (support hours, net of exclusions) are written too. The raw
    counters are read from the Prometheus given by the connection flags (as
    for report: auth, TLS, headers, retries). Copy OUT/blocks/* into
    Prometheus's data directory and restart it; its retention must reach
    back to --since.
    """
    catalog = _load_clean(paths)
    try:
        span = parse_duration(since)
    except DurationError as exc:
        raise click.BadParameter(f"{exc}; e.g. 30d", param_hint="--since") from None
    end = int(_instant(until)) if until else int(time.time())
    extra = _label_pairs(labels)
    config = _connection(**connection)
    try:
        result = run_backfill(catalog, config, end - span, end, out, tier=Tier(tier), labels=extra,
                              cluster_label=cluster_label)
    except ToolError as exc:
        click.secho("backfill failed: " + printable(str(exc), keep="\n"), fg="red", err=True)
        sys.exit(EXIT_INVALID)
    blocks = sorted(p.name for p in result.blocks_dir.iterdir() if p.is_dir())
    agreements = f" and {result.commitments} agreement commitments" if result.commitments else ""
    click.echo(printable(f"wrote {len(blocks)} blocks for {result.slos} SLOs ({result.rules} rules){agreements} "
                         f"to {result.blocks_dir}"), err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@connection_options
@click.option("--at", "at", default=None, help="Evaluate every query at this instant (RFC 3339 or Unix seconds; "
                                               "default: now).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "html"]), default="table",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file (atomically) instead of standard output.")
@click.option("--fail-on-breach", is_flag=True, help="Exit 4 when any SLO has spent its budget (for CI gates).")
@click.option("--raw", "raw_only", is_flag=True, help="Ignore recorded series; count from the raw counters.")
@click.option("--allow-no-data", is_flag=True,
              help="Exit 0 although some SLOs have no data (a service not deployed or not serving yet).")
def report(paths: tuple[Path, ...], at: str | None, fmt: str, out: Path | None, fail_on_breach: bool,
           raw_only: bool, allow_no_data: bool, **connection: Any) -> None:
    """Availability, error budget, burn rates and time to exhaustion of every SLO, from Prometheus.

    Reads sloengine's recorded series in a few batched queries and falls back
    to the raw counters (counted exactly) for SLOs without them. Exit 0 when
    every SLO was computed, 3 when any could not be (query failed, Prometheus
    unreachable: never reported as healthy) or has no data (no events over its
    window; --allow-no-data accepts that), 4 with --fail-on-breach when any
    SLO is breached, 1 for invalid specs or settings.
    """
    catalog = _load_clean(paths)
    instant = _instant(at, "--at") if at else None
    client = _client(**connection)
    total = len(catalog.slos)
    show_progress = sys.stderr.isatty() and total >= 20
    with click.progressbar(length=total, label="evaluating SLOs", file=sys.stderr,
                           hidden=not show_progress) as bar:
        result = evaluate(catalog, client, instant, progress=bar.update, use_recorded=not raw_only)
    client.close()
    if fmt == "table":
        text = render_table(result, colour=out is None and sys.stdout.isatty())
    else:
        text = REPORT_RENDERERS[fmt](result)
    if out is None:
        click.echo(text, nl=False)
    else:
        write_atomically(out, text)
        click.echo(printable(f"wrote {out}"), err=True)
    if result.failed:
        click.secho(f"{result.count(Status.ERROR)} SLOs could not be computed", fg="red", err=True)
        sys.exit(EXIT_ERROR)
    if result.count(Status.NO_DATA) and not allow_no_data:
        click.secho(f"{result.count(Status.NO_DATA)} SLOs have no data: no events over their window "
                    "(check the SLI's series; --allow-no-data accepts it)", fg="red", err=True)
        sys.exit(EXIT_ERROR)
    if fail_on_breach and result.breached:
        click.secho(f"{result.count(Status.BREACHED)} SLOs breached", fg="red", err=True)
        sys.exit(EXIT_BREACHED)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to this file (atomically) instead of standard output.")
@click.option("--report", "of_report", is_flag=True, help="The schema of `report --format json` instead.")
def schema(out: Path | None, of_report: bool) -> None:
    """Print the JSON Schema of the sloengine/v1 format (for editors and CI), or of the JSON report."""
    text = report_schema_text() if of_report else schema_text()
    if out is None:
        click.echo(text, nl=False)
    else:
        write_atomically(out, text)
        click.echo(printable(f"wrote {out}"), err=True)


def _interval_seconds(text: str) -> float:
    """``60s``, ``1m30s`` or a bare number of seconds."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_seconds_float(text)
        except DurationError as exc:
            raise click.BadParameter(f"{exc}; e.g. 60s", param_hint="--interval") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise click.BadParameter(f"{text!r} must be a positive duration, e.g. 60s", param_hint="--interval")
    return seconds


def _stderr_log_handler() -> logging.Handler:
    """A log handler writing to whatever ``sys.stderr`` is at the time (click's test runner swaps it)."""
    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                sys.stderr.write(printable(self.format(record), keep="\n") + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass

    handler = Handler(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    return handler


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@connection_options
@click.option("--listen", default="127.0.0.1:9099", show_default=True,
              help="host:port to serve on; the default keeps it on this machine (0.0.0.0:9099 exposes it).")
@click.option("--interval", default="60s", show_default=True, help="How often to recompute every SLO.")
@click.option("--tls-cert-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Serve HTTPS with this certificate (PEM; needs --tls-key-file).")
@click.option("--tls-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Private key of --tls-cert-file (PEM).")
@click.option("--basic-auth-user", default=None, help="Require basic auth with this user on every endpoint.")
@click.option("--basic-auth-password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="File holding the basic auth password (else env SLOENGINE_EXPORTER_PASSWORD).")
@click.option("--customer", default="", help="Serve this customer's agreements page only: no SLO pages, no other "
                                             "customer, no /metrics.")
def serve(paths: tuple[Path, ...], listen: str, interval: str, tls_cert_file: Path | None,
          tls_key_file: Path | None, basic_auth_user: str | None, basic_auth_password_file: Path | None,
          customer: str, **connection: Any) -> None:
    """Export every SLO's figures as Prometheus metrics on /metrics, recomputed every --interval, with a web UI.

    Series: slo_objective_ratio, slo_sli_ratio, slo_error_budget_remaining_ratio,
    slo_burn_rate_ratio{window}, slo_time_to_exhaustion_seconds, slo_status{status},
    slo_good_events, slo_total_events (labels service, slo, window and group_by
    labels), and the exporter's health (sloengine_exporter_*). When Prometheus
    is unreachable the last values keep being served with
    sloengine_exporter_stale 1 until an evaluation works again. /-/healthy
    answers while the loop runs, /-/ready once an evaluation has finished.
    The web UI, on the same port and behind the same auth: the SLO list at /,
    an SLO's charts at /slo, each customer's agreements at /agreements
    (--customer NAME serves that one page alone). Ctrl-C or SIGTERM stops it
    (exit 0).
    """
    catalog = _load_clean(paths)
    if customer and customer not in customers(catalog):
        click.secho(printable(f"error: --customer {customer!r}: no SLA in these specs names this customer"),
                    fg="red", err=True)
        sys.exit(EXIT_INVALID)
    seconds = _interval_seconds(interval)
    try:
        auth = basic_auth(basic_auth_user, basic_auth_password_file)
        tls_files = tls(tls_cert_file, tls_key_file)
    except ServeError as exc:
        click.secho(f"error: {printable(str(exc))}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    client = _client(**connection)
    exporter = Exporter(catalog, client, interval_seconds=seconds)
    try:
        running = start_server(exporter, listen, auth=auth, tls_files=tls_files, customer=customer)
    except ServeError as exc:
        client.close()
        click.secho(f"error: {printable(str(exc))}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    logger = logging.getLogger("sloengine.reports.exporter")
    handler = _stderr_log_handler()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        exporter.start()
        what = (f"the agreements of {customer} on {running.url}/" if customer
                else f"{len(catalog.slos)} SLOs on {running.url}/metrics and {running.url}/")
        click.echo(printable(f"serving {what}, every {seconds:g}s, from {client.url}"), err=True)
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler_before in previous.items():
            signal.signal(signum, handler_before)
        running.close()
        exporter.stop()
        client.close()
        logger.removeHandler(handler)
    click.echo("stopped", err=True)


@main.command("sla-report")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@connection_options
@click.option("--period", required=True, help="2026-10 (month), 2026-Q4 (quarter) or 2026-W43 (ISO week); each "
                                              "agreement reports its own period containing its first day.")
@click.option("--format", "fmt", type=click.Choice(["markdown", "html", "json"]), default="markdown",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file (atomically) instead of standard output.")
@click.option("--at", "at", default=None, help="Treat this instant as now (RFC 3339 or Unix seconds).")
@click.option("--allow-no-data", is_flag=True, help="Exit 0 although some agreements have no data.")
def sla_report(paths: tuple[Path, ...], period: str, fmt: str, out: Path | None, at: str | None,
               allow_no_data: bool, **connection: Any) -> None:
    """Agreements (SLAs with their OLAs and UCs) for one period: attained vs target within support hours and
    net of exclusions, verdict, credit owed, downtime against the allowance, burn-down and worst episodes.

    Counts are exact (raw samples). Exit 0 when every agreement was computed, 3 when any could not be or
    has no data (unless --allow-no-data).
    """
    catalog = _load_clean(paths)
    agreements = catalog.agreements
    if not agreements:
        click.secho("error: no agreements in these specs (add an 'agreements:' section)", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    try:
        day = period_day(period)
    except PeriodError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None
    now = _instant(at, "--at") if at else None
    client = _client(**connection)
    results = evaluate_all(client, catalog, agreements, day, now)
    client.close()
    text = SLA_RENDERERS[fmt](results, period)
    if out is None:
        click.echo(text, nl=False)
    else:
        write_atomically(out, text)
        click.echo(printable(f"wrote {out}"), err=True)
    flat = [r for top in results for r in (top, *top.dependencies)]
    if any(r.compliance is Compliance.ERROR for r in flat):
        click.secho("some agreements could not be computed", fg="red", err=True)
        sys.exit(EXIT_ERROR)
    if not allow_no_data and any(r.compliance is Compliance.NO_DATA for r in flat):
        click.secho("some agreements have no data over the period (--allow-no-data accepts it)", fg="red", err=True)
        sys.exit(EXIT_ERROR)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@connection_options
@click.option("--lookback", default="90d", show_default=True, help="History to review (a duration).")
@click.option("--at", "at", default=None, help="End of the lookback (RFC 3339 or Unix seconds; default now).")
@click.option("--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True)
def recommend(paths: tuple[Path, ...], lookback: str, at: str | None, fmt: str, **connection: Any) -> None:
    """What each SLO achieved per period over the lookback, and a target it would have met in most periods.

    Flags targets that were missed in most periods (unrealistic) or never came close to being spent
    (too loose): the baseline a periodic service level review needs. Exit 3 when any SLO could not be read.
    """
    catalog = _load_clean(paths)
    try:
        span = parse_duration(lookback)
    except DurationError as exc:
        raise click.BadParameter(f"{exc}; e.g. 90d", param_hint="--lookback") from None
    end = _instant(at, "--at") if at else float(int(time.time()))
    client = _client(**connection)
    recs = run_recommend(client, catalog, span, end)
    client.close()
    click.echo(render_recommendations(recs) if fmt == "markdown" else json.dumps(document(recs), indent=2) + "\n",
               nl=False)
    if any(r.verdict is Verdict.ERROR for r in recs):
        for r in recs:
            if r.error:
                click.secho(printable(f"error: {r.slo.id}: {r.error}"), fg="red", err=True)
        sys.exit(EXIT_ERROR)


if __name__ == "__main__":  # pragma: no cover
    main()
