"""``make demo``: sloengine doing its whole job on a local stack, in a few minutes.

Everything runs on 127.0.0.1 under one temporary directory:

1. a demo workload (``sloengine.devstack.workload``) serving the example services' counters, latency histogram and
   probe, with scripted incidents timed from the second the stack is up (the schedule's +0:00): a
   ten-minute checkout outage from +2:00 to +12:00, a latency regression, a slow burn on search;
2. two days of the same workload's history, backfilled into Prometheus as the very series the live scrapes
   continue (same labels, so the history ends where live scraping begins), and the recording rules' tile
   history backfilled with ``sloengine backfill``'s machinery, so budgets mean something at once;
3. Prometheus with the rules generated from ``examples/``; Alertmanager with the generated escalation
   (receivers rewired to a local webhook receiver that logs what it gets; escalation delays shortened
   15-fold so L2 is reached within the demo); the ``sloengine serve`` exporter;
4. a live terminal view (SLO, SLI, budget left, burn rates, alerts, notifications and the escalation level
   reached), counted exactly from the raw counters at every refresh, and on exit an HTML SLO report.

Run it with ``make demo`` (``make demo DURATION=900`` stops by itself after 900 s), or after ``make venv``
with ``.venv/bin/python -m sloengine.devstack.demo``. Ctrl-C (or ``--duration``) stops every process it started.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

import click
import yaml

from ..compiler.escalation import AlertmanagerOptions, render_config
from ..compiler.rulefiles import render_rule_file
from ..compiler.rules import Intervals, compile_catalog
from ..engine.backfill import backfill, install_blocks
from ..engine.connection import Client, ConnectionConfig, QueryError
from ..engine.reading import evaluate
from ..model import conventions as c
from ..model.durations import format_duration
from ..model.results import Report
from ..model.slo import Catalog
from ..reports.exporter import Exporter, start_server
from ..reports.report import percent, render_html
from ..specs.loader import load_or_raise
from .stack import alertmanager, free_port, prometheus
from .synthetic import openmetrics, write_blocks
from .workload import HISTORY_DAYS, Schedule, WorkloadCollector, history, serve

#: The checkout's examples/, beside the top-level package (found by walking up, so the module may sit at any depth).
EXAMPLES = next(p for p in Path(__file__).resolve().parents if not (p / "__init__.py").exists()) / "examples"
#: Escalation delays are divided by this in the demo (30m → 2m), so a page escalates while you watch.
TIME_SCALE = 15
#: Scrape and rule evaluation interval of the demo's Prometheus (the page group's, and the floor of any delay).
EVALUATION_SECONDS = 15
#: How the demo is run, as its own output and ``--help`` print it (works from a clone after ``make venv``).
COMMAND = ".venv/bin/python -m sloengine.devstack.demo"


# ---- the local webhook receiver ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Notification:
    """One alert of one webhook delivery, as the view lists it."""

    at: float
    receiver: str
    status: str
    alertname: str
    service: str
    slo: str
    level: str


class WebhookReceiver:
    """Alertmanager's webhooks land here: each POST is logged as a JSON line and kept for the view."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.notifications: list[Notification] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.record(self.path.strip("/"), body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook").start()

    def record(self, receiver: str, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except ValueError:
            return
        with self.lock, self.log.open("a") as handle:
            handle.write(json.dumps({"receiver": receiver, "payload": payload}) + "\n")
            for alert in payload.get("alerts", []):
                labels = alert.get("labels", {})
                self.notifications.append(Notification(
                    time.time(), receiver, alert.get("status", ""), labels.get("alertname", ""),
                    labels.get(c.LABEL_SERVICE, ""), labels.get(c.LABEL_SLO, ""),
                    labels.get(c.LABEL_ESCALATION_LEVEL, "")))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- preparing the stack ------------------------------------------------------------------------


def demo_catalog(catalog: Catalog, scale: float = TIME_SCALE, for_scale: float = 1) -> Catalog:
    """The examples with escalation delays shortened ``scale``-fold and alert ``for`` durations
    ``for_scale``-fold (never below one rule evaluation), maintenance windows dropped."""
    slos = []
    for slo in catalog.slos:
        policy = slo.escalation
        if policy is not None:
            levels = tuple(dataclasses.replace(lv, after_seconds=_scaled(lv.after_seconds, scale))
                           for lv in policy.levels)
            policy = dataclasses.replace(policy, levels=levels, maintenance=())
        alerting = slo.alerting
        if for_scale != 1:
            alerting = dataclasses.replace(alerting, conditions=tuple(
                dataclasses.replace(cond, for_seconds=_scaled(cond.for_seconds, for_scale))
                for cond in alerting.conditions))
        slos.append(dataclasses.replace(slo, escalation=policy, alerting=alerting))
    return dataclasses.replace(catalog, slos=tuple(slos))


def _scaled(seconds: int, scale: float) -> int:
    return max(EVALUATION_SECONDS, int(seconds // scale)) if seconds else 0


def local_alertmanager_config(catalog: Catalog, webhook: str) -> str:
    """The generated configuration with every receiver sent to the local webhook receiver instead, and
    without support-hour and maintenance intervals, so whatever fires during the demo is delivered."""
    config = yaml.safe_load(render_config(catalog, AlertmanagerOptions(group_wait="5s", group_interval="15s",
                                                                        repeat_interval="1h")))
    for receiver in config.get("receivers", []):
        if receiver["name"] == c.DEFAULT_RECEIVER:
            continue
        for key in [k for k in receiver if k.endswith("_configs")]:
            del receiver[key]
        receiver["webhook_configs"] = [{"url": f"{webhook}/{receiver['name']}", "send_resolved": True}]
    config.pop("time_intervals", None)
    for route in _routes(config.get("route", {})):
        route.pop("active_time_intervals", None)
        route.pop("mute_time_intervals", None)
    return yaml.safe_dump(config, sort_keys=False)


def _routes(route: dict) -> Iterator[dict]:
    yield route
    for child in route.get("routes", []) or []:
        yield from _routes(child)


def write_rules(catalog: Catalog, directory: Path, intervals: Intervals) -> list[Path]:
    paths = []
    for relative, groups in compile_catalog(catalog, intervals).items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_rule_file(groups))
        paths.append(path)
    return paths


# ---- the live view ------------------------------------------------------------------------------


def clock(seconds: float) -> str:
    """Seconds from the schedule's start as ``+m:ss`` (``-m:ss`` before it)."""
    sign = "-" if seconds < 0 else "+"
    whole = int(abs(seconds))
    return f"{sign}{whole // 60}:{whole % 60:02d}"


def utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def schedule_lines(schedule: Schedule, catalog: Catalog) -> list[str]:
    """The incidents as the demo prints them: minutes from +0:00 and the wall-clock times they are due."""
    outage, slow = schedule.outage_seconds(), schedule.slow_seconds()
    checkout = next((s for s in catalog.slos if s.service == "checkout-api" and s.name == "requests-availability"),
                    None)
    levels = checkout.escalation.escalations if checkout is not None and checkout.escalation else ()
    escalates = f", then L2 after {format_duration(levels[0].after_seconds)}" if levels else ""

    def span(name: str, seconds: tuple[int, int], what: str) -> str:
        return (f"  {name:28} {clock(seconds[0] - schedule.epoch)} to {clock(seconds[1] - schedule.epoch)}   "
                f"{utc(seconds[0])} to {utc(seconds[1])} UTC   {what}")

    return [f"schedule: +0:00 is {utc(schedule.epoch)} UTC (the stack is up; the view counts from it)",
            span("checkout-api outage", outage, f"every request fails: page at L1{escalates}"),
            span("checkout latency regression", slow, "30% of requests over 300 ms"),
            f"  {'search /suggest slow burn':28} from +0:00 ({utc(schedule.epoch)} UTC)   2% errors, about 4x the "
            "budget"]


def happening(schedule: Schedule, at: float) -> str:
    parts = []
    outage, slow = schedule.outage_seconds(), schedule.slow_seconds()
    if outage[0] <= at < outage[1]:
        parts.append(f"checkout outage (until {clock(outage[1] - schedule.epoch)})")
    if slow[0] <= at < slow[1]:
        parts.append(f"latency regression (until {clock(slow[1] - schedule.epoch)})")
    if at >= schedule.epoch:
        parts.append("slow burn on search /suggest")
    return ", ".join(parts) or "nothing scripted"


def view(report: Report, alerts: list[dict], receiver: WebhookReceiver, schedule: Schedule) -> str:
    """One refresh: every SLO's figures at ``report.at``, what fires in Prometheus, what reached the webhooks."""
    firing: dict[tuple[str, str], list[str]] = {}
    for alert in alerts:
        labels = alert["metric"]
        key = (labels.get(c.LABEL_SERVICE, ""), labels.get(c.LABEL_SLO, ""))
        firing.setdefault(key, []).append(
            f"{labels.get('alertname', '')}[{labels.get(c.LABEL_ESCALATION_LEVEL) or labels.get('severity', '')}]")
    reached: dict[tuple[str, str], str] = {}
    with receiver.lock:
        for n in receiver.notifications:
            if n.status == "firing" and n.level:
                reached[(n.service, n.slo)] = max(reached.get((n.service, n.slo), ""), n.level)
        recent = receiver.notifications[-6:]
    header = f"{'SLO':42} {'SLI':>9} {'budget':>8} {'burn 5m':>8} {'1h':>7} {'6h':>7}  {'status':9} alerts / level"
    lines = [f"sloengine demo — {clock(report.at - schedule.epoch)} into the schedule, at {utc(report.at)} UTC "
             "(counted exactly from the raw counters)",
             f"now: {happening(schedule, report.at)}", "", header, "-" * len(header)]
    for r in report.results:
        burns = dict(r.burn_rates)
        burn = {w: "—" if burns.get(w) is None else f"{burns[w]:.1f}×" for w in ("5m", "1h", "6h")}
        alert_text = ", ".join(sorted(set(firing.get((r.service, r.slo), [])))) or "—"
        level = reached.get((r.service, r.slo), "")
        lines.append(f"{r.id:42} {percent(r.sli):>9} {percent(r.budget_remaining, 1):>8} {burn['5m']:>8} "
                     f"{burn['1h']:>7} {burn['6h']:>7}  {r.status.value:9} {alert_text}"
                     + (f"  (reached {level})" if level else ""))
    lines += ["", "last notifications (webhooks):"]
    lines += [f"  {utc(n.at)} {clock(n.at - schedule.epoch):>7} {n.status:8} {n.alertname} {n.service}/{n.slo} "
              f"{n.level} → {n.receiver}" for n in recent] or ["  none yet"]
    return "\n".join(lines)


# ---- the run ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Settings:
    """What ``--help`` lists; tests shorten the schedule and the delays, never the mechanism."""

    duration: float = 0
    history_days: float = 2
    refresh: float = 5.0
    outage: tuple[float, float] = (2, 12)
    slow: tuple[float, float] = (8, 20)
    time_scale: float = TIME_SCALE
    for_scale: float = 1


def run(workdir: Path, settings: Settings, out: TextIO = sys.stdout) -> int:
    catalog = demo_catalog(load_or_raise([EXAMPLES]), settings.time_scale, settings.for_scale)
    history_end = int(time.time()) // 60 * 60
    # The port is bound before the backfill: the history carries it as `instance`, as the live scrapes will.
    collector = WorkloadCollector(Schedule(epoch=history_end, outage=settings.outage, slow=settings.slow,
                                           history_end=history_end))
    data = workdir / "prometheus-data"
    print(f"sloengine demo in {workdir}", file=out, flush=True)
    with ExitStack() as stack:
        workload, workload_port = serve(collector)
        stack.callback(workload.server_close)
        stack.callback(workload.shutdown)
        print(f"backfilling {settings.history_days:g} days of the workload's history, up to {utc(history_end)} "
              "UTC ...", file=out, flush=True)
        start, series = history(collector.schedule, settings.history_days, f"127.0.0.1:{workload_port}")
        write_blocks(openmetrics(series, start, 60), workdir / "tmp", data)
        with prometheus(workdir / "backfill-prometheus", data_dir=data) as raw:
            tiles = backfill(catalog, raw.url, start, history_end, workdir / "backfill")
        install_blocks(tiles.blocks_dir, data)
        rule_files = write_rules(catalog, workdir / "rules", Intervals(fast_seconds=EVALUATION_SECONDS,
                                                                        slow_seconds=60))
        receiver = WebhookReceiver(workdir / "webhook.log")
        stack.callback(receiver.close)
        am_config = workdir / "alertmanager.yml"
        am_config.write_text(local_alertmanager_config(catalog, receiver.url))
        am = stack.enter_context(alertmanager(workdir / "alertmanager", am_config))
        # The schedule starts now, as the live counters are first scraped: incidents are due from this second.
        schedule = dataclasses.replace(collector.schedule, epoch=int(time.time()))
        collector.schedule = schedule
        exporter_port = free_port()
        interval = f"{EVALUATION_SECONDS}s"
        scrape: list[dict[str, Any]] = [
            {"job_name": "workload", "honor_labels": True, "scrape_interval": interval,
             "static_configs": [{"targets": [f"127.0.0.1:{workload_port}"]}]},
            {"job_name": "sloengine", "scrape_interval": interval,
             "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]},
        ]
        prom = stack.enter_context(prometheus(workdir / "prometheus", data_dir=data, rule_files=rule_files,
                                              scrape_configs=scrape, alertmanagers=[am.address],
                                              evaluation_interval=interval))
        client = Client(ConnectionConfig(url=prom.url, retries=1, timeout_seconds=10))
        stack.callback(client.close)
        exporter = Exporter(catalog, client, interval_seconds=EVALUATION_SECONDS)
        running = start_server(exporter, f"127.0.0.1:{exporter_port}")
        stack.callback(running.close)
        exporter.start()
        stack.callback(exporter.stop)
        (workdir / "schedule.json").write_text(json.dumps({
            "epoch": schedule.epoch, "history_start": start, "history_end": history_end,
            "outage": list(schedule.outage_seconds()), "latency_regression": list(schedule.slow_seconds()),
            "workload_instance": f"127.0.0.1:{workload_port}"}, indent=2) + "\n")
        deadline = schedule.epoch + settings.duration if settings.duration > 0 else float("inf")
        print("\n".join([
            f"  workload      http://127.0.0.1:{workload_port}/metrics",
            f"  Prometheus    {prom.url}   (rules: {workdir / 'rules'})",
            f"  Alertmanager  {am.url}   (config: {am_config})",
            f"  exporter      {running.url}/metrics",
            f"  webhooks      {receiver.url}   (log: {workdir / 'webhook.log'})",
            *schedule_lines(schedule, catalog),
            stop_hint(settings, deadline),
        ]), file=out, flush=True)
        report = watch(catalog, client, receiver, schedule, deadline, settings.refresh, out)
        if report is not None:
            (workdir / "report.html").write_text(render_html(report))
            print(f"\nwrote {workdir / 'report.html'}", file=out, flush=True)
    print(f"stopped every process; files are in {workdir}", file=out, flush=True)
    return 0


def stop_hint(settings: Settings, deadline: float) -> str:
    """How the demo ends, as printed under the schedule (the commands in it work from a clone)."""
    if settings.duration > 0:
        return f"stops by itself at {clock(settings.duration)} ({utc(deadline)} UTC); Ctrl-C stops it sooner"
    return (f"Ctrl-C stops everything (make demo DURATION=SECONDS, or {COMMAND} --duration SECONDS, "
            "stops by itself)")


def watch(catalog: Catalog, client: Client, receiver: WebhookReceiver, schedule: Schedule, deadline: float,
          refresh: float, out: TextIO) -> Report | None:
    """Refresh the view until ``deadline`` or Ctrl-C; returns the last report.

    Every refresh counts exactly from the raw counters (``report --raw``): the recorded budget windows are sums
    of 5-minute tiles, right for alerts and dashboards but a view refreshed every few seconds would stand
    still between tiles, and switch sources while the rules warm up.
    """
    report = None
    clear = out.isatty()
    try:
        while time.time() < deadline:
            at = float(int(time.time()))
            try:
                report = evaluate(catalog, client, at, use_recorded=False)
                alerts = client.query('ALERTS{alertstate="firing"}', at)
            except QueryError as exc:
                print(f"(Prometheus: {exc})", file=out, flush=True)
                time.sleep(refresh)
                continue
            text = view(report, alerts, receiver, schedule)
            print(("\033[2J\033[H" if clear else "\n") + text, file=out, flush=True)
            time.sleep(max(0.0, min(refresh, deadline - time.time())))
    except KeyboardInterrupt:
        print("\ninterrupted: stopping", file=out, flush=True)
    return report


@click.command(context_settings={"help_option_names": ["-h", "--help"]},
               help="sloengine doing its whole job on a local stack (what `make demo` runs; "
                    "`make demo DURATION=SECONDS` stops by itself).")
@click.option("--duration", type=float, default=0,
              help="Stop this many seconds after the stack is up (+0:00); 0: at Ctrl-C.")
@click.option("--history-days", type=float, default=2,
              help=f"Days of history to backfill, up to {HISTORY_DAYS} (default 2).")
@click.option("--refresh", type=float, default=5.0, help="Seconds between refreshes of the view.")
@click.option("--outage", type=float, nargs=2, default=(2, 12), metavar="FROM TO",
              help="The checkout outage, in minutes after +0:00 (default 2 12).")
@click.option("--latency-regression", type=float, nargs=2, default=(8, 20), metavar="FROM TO",
              help="The checkout latency regression, in minutes after +0:00 (default 8 20).")
@click.option("--time-scale", type=float, default=TIME_SCALE,
              help=f"Divide escalation delays by this (default {TIME_SCALE}: 30m becomes 2m).")
@click.option("--for-scale", type=float, default=1,
              help="Divide the alerts' `for` durations by this (default 1: as generated).")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Default: a new temporary directory.")
def main(duration: float, history_days: float, refresh: float, outage: tuple[float, float],
         latency_regression: tuple[float, float], time_scale: float, for_scale: float, workdir: Path | None) -> None:
    if not 0 < history_days <= HISTORY_DAYS:
        raise click.BadParameter(f"must be more than 0 and at most {HISTORY_DAYS}", param_hint="--history-days")
    if time_scale <= 0 or for_scale <= 0:
        raise click.UsageError("--time-scale and --for-scale must be positive")
    workdir = workdir or Path(tempfile.mkdtemp(prefix="sloengine-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(duration=duration, history_days=history_days, refresh=refresh, outage=outage,
                        slow=latency_regression, time_scale=time_scale, for_scale=for_scale)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        code = run(workdir, settings)
    except KeyboardInterrupt:
        print(f"\ninterrupted: stopped every process; files are in {workdir}", flush=True)
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    main(prog_name=COMMAND)
