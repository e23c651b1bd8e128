"""The ``sloengine`` command line.

Exit codes are part of the interface: 0 success, 1 the specs (or the data)
have errors, 2 the command was used wrongly. A user's mistake prints
diagnostics, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from . import __version__
from .diagnostics import Level
from .generate import OutputFormat, render
from .generate import write as write_generated
from .loader import LoadResult, load
from .model import SLO
from .schema import schema_text
from .writer import write_atomically

EXIT_OK = 0
EXIT_INVALID = 1


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
        click.secho(diagnostic.render(), fg=colour, err=err)


def _slo_summary(slo: SLO) -> dict:
    return {
        "id": slo.id,
        "service": slo.service,
        "slo": slo.name,
        "objective": slo.objective,
        "window": slo.window.name,
        "sli": slo.sli.kind.value,
        "group_by": list(slo.sli.group_by),
        "alerts": [
            {"severity": c.severity.value, "long": c.name.split("-")[0], "short": c.name.split("-")[1],
             "burn_factor": c.burn_factor}
            for c in slo.alerting.conditions
        ] if slo.alerting.enabled else [],
        "format": slo.source_format.value,
        "source": str(slo.source) if slo.source else None,
    }


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for scripts and editors.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
def validate(paths: tuple[Path, ...], fmt: str, strict: bool) -> None:
    """Check SLO spec files or directories; exit 1 if any has an error.

    Every problem is reported as FILE:LINE:COL with the field, what is wrong and
    how to fix it. Sloth, OpenSLO (v1, v1alpha) and Pyrra files are detected and
    imported; what cannot be carried over is a warning.
    """
    result = load(paths)
    failed = bool(result.errors) or (strict and bool(result.warnings))
    if fmt == "json":
        payload = {
            "ok": not failed,
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
        click.secho(line, fg="red" if failed else "green", err=failed)
    sys.exit(EXIT_INVALID if failed else EXIT_OK)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def show(paths: tuple[Path, ...]) -> None:
    """Print the SLOs as sloengine understood them (after import and defaults), as JSON."""
    result = load(paths)
    _print_diagnostics(result)
    if result.errors:
        sys.exit(EXIT_INVALID)
    click.echo(json.dumps([_slo_summary(s) for s in result.catalog.slos], indent=2, sort_keys=True))


def _load_clean(paths: tuple[Path, ...]):
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
              help="Output directory: rules/ (rule files), tests/ (promtool tests), prometheus-operator/.")
@click.option("--format", "fmt", type=click.Choice([f.value for f in OutputFormat]), default="prometheus",
              show_default=True, help="prometheus-operator also writes PrometheusRule objects.")
def generate(paths: tuple[Path, ...], out: Path, fmt: str) -> None:
    """Compile SLO specs into Prometheus recording and alerting rules, with promtool tests.

    Writes OUT/rules/<service>.rules.yml (load them in Prometheus's rule_files)
    and OUT/tests/<service>.test.yml (run `promtool test rules OUT/tests/*.yml`).
    Files are replaced atomically; generated files for services that are gone
    are removed. Nothing is written when a spec has an error.
    """
    catalog = _load_clean(paths)
    files = render(catalog, OutputFormat(fmt))
    written, removed = write_generated(out, files)
    for path in removed:
        click.echo(f"removed stale {path}", err=True)
    click.echo(f"wrote {len(written)} files for {len(catalog.slos)} SLOs to {out}", err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prometheus", "url", required=True, help="Prometheus base URL holding the raw counters.")
@click.option("--since", default="30d", show_default=True, help="How far back to backfill (a duration).")
@click.option("--until", "until", default=None, help="End (RFC 3339 or Unix seconds); default: now.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the TSDB blocks (OUT/blocks) and the rules used.")
def backfill(paths: tuple[Path, ...], url: str, since: str, until: str | None, out: Path) -> None:
    """Write TSDB blocks of the SLOs' recorded history so new SLOs show their whole window at once.

    Only the 5-minute tiles need history (every longer window is a sum of
    them), so this is one pass with no rule ordering to get wrong. Copy
    OUT/blocks/* into Prometheus's data directory and restart it; its
    retention must reach back to --since.
    """
    from .backfill import backfill as run_backfill
    from .durations import DurationError, parse_duration
    from .stack import StackError

    catalog = _load_clean(paths)
    try:
        span = parse_duration(since)
    except DurationError as exc:
        raise click.BadParameter(f"{exc}; e.g. 30d", param_hint="--since") from None
    end = _instant(until) if until else int(time.time())
    try:
        result = run_backfill(catalog, url.rstrip("/"), end - span, end, out)
    except StackError as exc:
        click.secho(f"backfill failed: {exc}", fg="red", err=True)
        sys.exit(EXIT_INVALID)
    blocks = sorted(p.name for p in result.blocks_dir.iterdir() if p.is_dir())
    click.echo(f"wrote {len(blocks)} blocks for {result.groups} SLOs to {result.blocks_dir}", err=True)


def _instant(text: str) -> int:
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither RFC 3339 nor Unix seconds", param_hint="--until") from None


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the schema to this file (atomically) instead of standard output.")
def schema(out: Path | None) -> None:
    """Print the JSON Schema of the sloengine/v1 format (for editors and CI)."""
    text = schema_text()
    if out is None:
        click.echo(text, nl=False)
    else:
        write_atomically(out, text)
        click.echo(f"wrote {out}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
