"""``make demo``: sloengine doing its whole job on a local stack, in a few minutes.

Everything runs on 127.0.0.1 under one temporary directory:

1. a demo workload (``sloengine.workload``) serving the example services' counters, latency histogram and
   probe, with scripted incidents: a ten-minute checkout outage starting two minutes in, a latency
   regression, a slow burn on search;
2. two days of the same workload's history, backfilled into Prometheus, and the recording rules' tile
   history backfilled with ``sloengine backfill``'s machinery, so budgets mean something at once;
3. Prometheus with the rules generated from ``examples/``; Alertmanager with the generated escalation
   (receivers rewired to a local webhook receiver that logs what it gets; escalation delays shortened
   15-fold so L2 is reached within the demo); the ``sloengine serve`` exporter;
4. a live terminal view (SLO, SLI, budget left, burn rates, alerts, escalation level reached), and on exit
   an HTML SLO report and SLA report.

Ctrl-C (or ``--duration``) stops every process it started.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from . import conventions as c
from .backfill import backfill, install_blocks
from .connection import Client, ConnectionConfig, QueryError
from .engine import evaluate
from .escalation import AlertmanagerOptions, render_config
from .exporter import Exporter, start_server
from .loader import load_or_raise
from .model import Catalog
from .report import percent, render_html
from .results import Report
from .rulefiles import render_rule_file
from .rules import Intervals, compile_catalog
from .stack import alertmanager, free_port, prometheus
from .synthetic import openmetrics, write_blocks
from .workload import Schedule, history, serve

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: Escalation delays are divided by this in the demo (30m → 2m), so a page escalates while you watch.
TIME_SCALE = 15


# ---- the local webhook receiver ----------------------------------------------------------------


@dataclasses.dataclass
class Notification:
    at: float
    receiver: str
    status: str
    alertname: str
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
                self.notifications.append(Notification(time.time(), receiver, alert.get("status", ""),
                                                       labels.get("alertname", ""), labels.get(c.LABEL_SLO, ""),
                                                       labels.get("escalation_level", "")))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- preparing the stack ------------------------------------------------------------------------


def demo_catalog(catalog: Catalog, scale: int = TIME_SCALE) -> Catalog:
    """The examples with escalation delays shortened ``scale``-fold (at least a minute)."""
    slos = []
    for slo in catalog.slos:
        policy = slo.escalation
        if policy is not None:
            levels = tuple(dataclasses.replace(lv, after_seconds=max(60, lv.after_seconds // scale) if lv.after_seconds
                                               else 0) for lv in policy.levels)
            policy = dataclasses.replace(policy, levels=levels, maintenance=())
        slos.append(dataclasses.replace(slo, escalation=policy))
    return dataclasses.replace(catalog, slos=tuple(slos))


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


def _routes(route: dict):
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


def view(report: Report, alerts: list[dict], receiver: WebhookReceiver, started: float) -> str:
    firing: dict[str, list[str]] = {}
    for alert in alerts:
        labels = alert["metric"]
        firing.setdefault(labels.get(c.LABEL_SLO, ""), []).append(
            f"{labels.get('alertname', '')}[{labels.get('escalation_level') or labels.get('severity', '')}]")
    reached: dict[str, str] = {}
    with receiver.lock:
        for n in receiver.notifications:
            if n.status == "firing" and n.level:
                reached[n.slo] = max(reached.get(n.slo, ""), n.level)
    header = f"{'SLO':42} {'SLI':>9} {'budget':>8} {'burn 5m':>8} {'1h':>7} {'6h':>7}  {'status':9} alerts / level"
    lines = [f"sloengine demo — {int(time.time() - started)}s in, at "
             f"{datetime.now(timezone.utc).strftime('%H:%M:%S')} UTC", "", header, "-" * len(header)]
    for r in report.results:
        burns = dict(r.burn_rates)

        def burn(w: str) -> str:
            value = burns.get(w)
            return "—" if value is None else f"{value:.1f}×"

        alert_text = ", ".join(sorted(set(firing.get(r.slo, [])))) or "—"
        level = reached.get(r.slo, "")
        lines.append(f"{r.id:42} {percent(r.sli):>9} {percent(r.budget_remaining, 1):>8} {burn('5m'):>8} {burn('1h'):>7} "
                     f"{burn('6h'):>7}  {r.status.value:9} {alert_text}" + (f"  (reached {level})" if level else ""))
    with receiver.lock:
        recent = receiver.notifications[-5:]
    lines += ["", "last notifications:"] + [
        f"  {datetime.fromtimestamp(n.at, timezone.utc).strftime('%H:%M:%S')} {n.status:8} {n.alertname} "
        f"{n.slo} {n.level} → {n.receiver}" for n in recent] if recent else ["", "no notifications yet"]
    return "\n".join(lines)


# ---- the run ------------------------------------------------------------------------------------


def run(workdir: Path, duration: float, history_days: int, refresh: float, out=sys.stdout) -> int:
    started = time.time()
    catalog = demo_catalog(load_or_raise([EXAMPLES]))
    schedule = Schedule(epoch=started // 60 * 60)
    data = workdir / "prometheus-data"
    print(f"sloengine demo in {workdir}", file=out, flush=True)
    print(f"backfilling {history_days} days of the workload's history ...", file=out, flush=True)
    start, series = history(schedule, history_days)
    write_blocks(openmetrics(series, start, 60), workdir / "tmp", data)
    with prometheus(workdir / "backfill-prometheus", data_dir=data) as raw:
        tiles = backfill(catalog, raw.url, start + c.TILE_SECONDS, int(schedule.epoch), workdir / "backfill")
    install_blocks(tiles.blocks_dir, data)
    intervals = Intervals(fast_seconds=15, slow_seconds=60)
    rule_files = write_rules(catalog, workdir / "rules", intervals)
    with ExitStack() as stack:
        receiver = WebhookReceiver(workdir / "webhook.log")
        stack.callback(receiver.close)
        workload, workload_port = serve(schedule)
        stack.callback(workload.shutdown)
        am_config = workdir / "alertmanager.yml"
        am_config.write_text(local_alertmanager_config(catalog, receiver.url))
        am = stack.enter_context(alertmanager(workdir / "alertmanager", am_config))
        exporter_port = free_port()
        scrape = [
            {"job_name": "workload", "honor_labels": True, "scrape_interval": "15s",
             "static_configs": [{"targets": [f"127.0.0.1:{workload_port}"]}]},
            {"job_name": "sloengine", "scrape_interval": "15s",
             "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]},
        ]
        prom = stack.enter_context(prometheus(workdir / "prometheus", data_dir=data, rule_files=rule_files,
                                              scrape_configs=scrape, alertmanagers=[am.address],
                                              evaluation_interval="15s"))
        client = Client(ConnectionConfig(url=prom.url, retries=1, timeout_seconds=10))
        exporter = Exporter(catalog, client, interval_seconds=15)
        running = start_server(exporter, f"127.0.0.1:{exporter_port}")
        stack.callback(running.close)
        exporter.start()
        stack.callback(exporter.stop)
        print("\n".join([
            f"  workload      http://127.0.0.1:{workload_port}/metrics",
            f"  Prometheus    {prom.url}   (rules: {workdir / 'rules'})",
            f"  Alertmanager  {am.url}   (config: {am_config})",
            f"  exporter      {running.url}/metrics",
            f"  webhooks      {receiver.url}   (log: {workdir / 'webhook.log'})",
            "incidents: checkout outage at +2 to +12 min (page, then L2), latency regression at +8 to +20 min, "
            "a slow burn on search throughout. Ctrl-C stops everything.",
        ]), file=out, flush=True)
        deadline = started + duration if duration > 0 else float("inf")
        report = None
        clear = out.isatty()
        try:
            while time.time() < deadline:
                try:
                    report = evaluate(catalog, client)
                    alerts = client.query('ALERTS{alertstate="firing"}', time.time())
                except QueryError as exc:
                    print(f"(Prometheus: {exc})", file=out, flush=True)
                    time.sleep(refresh)
                    continue
                text = view(report, alerts, receiver, started)
                print(("\033[2J\033[H" if clear else "\n") + text, file=out, flush=True)
                time.sleep(max(0.0, min(refresh, deadline - time.time())))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping", file=out, flush=True)
        if report is not None:
            (workdir / "report.html").write_text(render_html(report))
            print(f"\nwrote {workdir / 'report.html'}", file=out, flush=True)
        client.close()
    print(f"stopped every process; files are in {workdir}", file=out, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sloengine-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=0, help="Stop after this many seconds (0: at Ctrl-C).")
    parser.add_argument("--history-days", type=int, default=2)
    parser.add_argument("--refresh", type=float, default=5.0, help="Seconds between refreshes of the view.")
    parser.add_argument("--workdir", type=Path, default=None, help="Default: a new temporary directory.")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sloengine-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return run(workdir, args.duration, args.history_days, args.refresh)
    except KeyboardInterrupt:
        print(f"\ninterrupted: stopped every process; files are in {workdir}", flush=True)
        return 0


if __name__ == "__main__":
    sys.exit(main())
