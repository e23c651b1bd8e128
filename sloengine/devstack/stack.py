"""Start and stop real Prometheus (and later Alertmanager) processes on 127.0.0.1.

Tests, benchmarks and the demo run the engines we integrate with, never a
mock: each process gets a throwaway data directory and a free loopback port,
and is stopped (terminate, then kill) when its context ends, so nothing is
left running.

A free port is only free when it is picked: another process (a parallel test
worker, or any outgoing connection, which takes its local port from the same
range) may take it before the server binds it. A server whose port was taken
is started again on another one, and a server counts as ready only once the
process we started is the one listening there.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml

from ..compiler.tools import ToolError, find_binary
from ..model import conventions

PROMETHEUS_BINARIES = ("prometheus",)


class StackError(ToolError):
    """An engine could not be started or reached (a binary missing from PATH is a plain ToolError)."""


class PortTaken(StackError):
    """The server could not bind its port: something else held it."""


#: Ports tried, each freshly picked, before giving up on starting a server whose port keeps being taken.
PORT_ATTEMPTS = 5


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _raise_open_file_limit() -> None:
    """Backfilled history arrives as many small blocks; Prometheus opens them all at start."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the socket listening on 127.0.0.1:``port`` (None: /proc cannot tell)."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return None
    wanted = f"0100007F:{port:04X}"
    inodes = {f"socket:[{fields[9]}]" for fields in map(str.split, table)
              if len(fields) > 9 and fields[1] == wanted and fields[3] == "0A"}
    for fd in fds:
        try:
            if os.readlink(fd) in inodes:
                return True
        except OSError:
            continue
    return False


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 60.0, log: Path | None = None,
               verify: str | bool = True, port: int | None = None) -> None:
    """Until ``url`` answers 200 (and, given ``port``, ``process`` is the one listening on it: a server
    another process started on the same port answers too, while ours is failing to bind).

    Raises :class:`PortTaken` when the process exits because its address was in use.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            error = PortTaken if "address already in use" in tail else StackError
            raise error(f"{url} exited with code {process.returncode} before it was ready:\n{tail}")
        try:
            if (requests.get(url, timeout=2, verify=verify).status_code == 200
                    and (port is None or listens(process.pid, port) is not False)):
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise StackError(f"{url} was not ready within {timeout:.0f}s")


def start_server(command: Callable[[int], Sequence[str]], port: int | None, log: Path, ready_path: str,
                 scheme: str = "http", verify: str | bool = True,
                 preexec_fn: Callable[[], None] | None = None) -> tuple[subprocess.Popen, int]:
    """Start ``command(port)`` on ``port`` (or a free one), logging to ``log``, and wait until it is ready.

    Without a fixed ``port``, a port taken before the server could bind it is replaced by another free one,
    up to :data:`PORT_ATTEMPTS` times. Returns the process and the port it listens on.
    """
    for attempt in range(1 if port is not None else PORT_ATTEMPTS):
        chosen = port if port is not None else free_port()
        with log.open("wb") as handle:
            process = subprocess.Popen(list(command(chosen)), stdout=handle, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, preexec_fn=preexec_fn)
        try:
            wait_ready(f"{scheme}://127.0.0.1:{chosen}{ready_path}", process, log=log, verify=verify, port=chosen)
            return process, chosen
        except PortTaken:
            stop(process)
            if port is not None or attempt == PORT_ATTEMPTS - 1:
                raise
        except BaseException:
            stop(process)
            raise
    raise AssertionError("unreachable")


def stop(process: subprocess.Popen, timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


@dataclass
class Prometheus:
    """A running Prometheus: its base URL, data directory and log."""

    url: str
    data_dir: Path
    config_file: Path
    log_file: Path
    process: subprocess.Popen = field(repr=False)

    def query(self, expr: str, at: float | None = None) -> list[dict]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        response = requests.get(f"{self.url}/api/v1/query", params=params, timeout=60)
        payload = response.json()
        if payload.get("status") != "success":
            raise StackError(f"query failed: {payload.get('error')}: {expr}")
        return payload["data"]["result"]

    def rule_groups(self) -> list[dict]:
        payload = requests.get(f"{self.url}/api/v1/rules", timeout=30).json()
        return payload["data"]["groups"]

    def metrics_text(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=30).text

    def wait_evaluated(self, timeout: float, only: Callable[[str], bool] | None = None) -> None:
        """Until every loaded rule group (or each one whose name ``only`` accepts) has evaluated once after the
        groups it reads from (benchmarks and tests measure only after that).

        Groups evaluate on their own schedules: an SLO's 5-minute group whose first evaluation comes before the
        calendar group's first (which records the period starts it reads) records no period-to-date series until
        its next evaluation. So a group that evaluated before the calendar group first did is waited for again.
        """
        deadline = time.monotonic() + timeout
        calendar_first: str | None = None
        while time.monotonic() < deadline:
            groups = self.rule_groups()
            last = {g["name"]: g["lastEvaluation"] for g in groups}
            if calendar_first is None and not last.get(conventions.CALENDAR_GROUP, "0001").startswith("0001"):
                calendar_first = last[conventions.CALENDAR_GROUP]
            if calendar_first is None and conventions.CALENDAR_GROUP in last:
                time.sleep(2)   # the calendar group has not evaluated yet: nothing that reads it is ready
                continue
            if only is not None:
                groups = [g for g in groups if only(g["name"])]
                last = {name: at for name, at in last.items() if only(name)}
            evaluated = groups and all(not at.startswith("0001") for at in last.values())
            if evaluated and (calendar_first is None or all(_instant(at) >= _instant(calendar_first)
                                                            for at in last.values())):
                return
            time.sleep(2)
        raise StackError("rule groups did not all evaluate in time")


def _instant(rfc3339: str) -> float:
    """Seconds since the epoch of Prometheus's ``lastEvaluation`` (RFC 3339, nanoseconds, zone)."""
    head, _, rest = rfc3339.partition(".")
    fraction, zone = (rest[:-1], "Z") if rest.endswith("Z") else (rest[:-6], rest[-6:])
    stamp = datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float("0." + fraction) if fraction.isdigit() else 0.0)


def write_config(path: Path, rule_files: Sequence[Path] = (), scrape_configs: Sequence[dict] = (),
                 evaluation_interval: str = "30s", alertmanagers: Sequence[str] = (),
                 external_labels: Mapping[str, str] | None = None) -> None:
    config: dict = {
        "global": {"scrape_interval": "15s", "evaluation_interval": evaluation_interval,
                   **({"external_labels": dict(external_labels)} if external_labels else {})},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": list(scrape_configs),
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@contextmanager
def prometheus(workdir: Path, *, rule_files: Sequence[Path] = (), scrape_configs: Sequence[dict] = (),
               data_dir: Path | None = None, retention: str = "400d", evaluation_interval: str = "30s",
               alertmanagers: Sequence[str] = (), extra_args: Sequence[str] = (),
               tls: tuple[Path, Path] | None = None, port: int | None = None,
               external_labels: Mapping[str, str] | None = None) -> Iterator[Prometheus]:
    """Run Prometheus on a free loopback port (or ``port``) until the ``with`` block ends.

    ``tls`` is a (certificate, key) pair: Prometheus then serves HTTPS only, as
    a secured production server would (the certificate doubles as the CA).
    """
    binary = find_binary(*PROMETHEUS_BINARIES)
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir or workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    write_config(config, rule_files, scrape_configs, evaluation_interval, alertmanagers, external_labels)
    log = workdir / "prometheus.log"
    scheme = "http"
    if tls is not None:
        web = workdir / "web.yml"
        web.write_text(yaml.safe_dump({"tls_server_config": {"cert_file": str(tls[0]), "key_file": str(tls[1])}}))
        extra_args = [*extra_args, f"--web.config.file={web}"]
        scheme = "https"

    def command(chosen: int) -> list[str]:
        return [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--storage.tsdb.retention.time={retention}",
            f"--web.listen-address=127.0.0.1:{chosen}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            *extra_args,
        ]
    process, port = start_server(command, port, log, "/-/ready", scheme, verify=str(tls[0]) if tls else True,
                                 preexec_fn=_raise_open_file_limit)
    try:
        yield Prometheus(f"{scheme}://127.0.0.1:{port}", data_dir, config, log, process)
    finally:
        stop(process)


class TextExporter:
    """Prometheus text exposition served on 127.0.0.1 (a free port) from ``body(now)`` at each scrape: the
    synthetic counters a test or benchmark scrapes live, valued at the scrape's instant."""

    def __init__(self, body: Callable[[float], str]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                text = body(time.time()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="sloengine-text-exporter").start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# ---- Alertmanager -------------------------------------------------------------------------------

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


@dataclass
class Alertmanager:
    """A running Alertmanager: its base URL, the host:port Prometheus sends to, and its log."""

    url: str
    address: str
    config_file: Path
    log_file: Path
    process: subprocess.Popen = field(repr=False)

    def alerts(self, **filters: str) -> list[dict]:
        """The alerts it holds (API v2), each with ``status.state`` and ``status.inhibitedBy``."""
        params = [("filter", f'{k}="{v}"') for k, v in sorted(filters.items())]
        response = requests.get(f"{self.url}/api/v2/alerts", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def post_alerts(self, alerts: Sequence[dict]) -> None:
        """Send alerts as Prometheus would (``labels``, ``annotations``, ``startsAt``, ``endsAt``)."""
        response = requests.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=30)
        if response.status_code != 200:
            raise StackError(f"Alertmanager refused the alerts ({response.status_code}): {response.text[:500]}")


@contextmanager
def alertmanager(workdir: Path, config: str | Path, *, port: int | None = None,
                 extra_args: Sequence[str] = ()) -> Iterator[Alertmanager]:
    """Run Alertmanager on a free loopback port until the ``with`` block ends.

    ``config`` is the configuration's text or a file. Clustering is off (an
    empty ``--cluster.listen-address``) and its state lives in a throwaway
    ``--storage.path`` under ``workdir``.
    """
    binary = find_binary(*ALERTMANAGER_BINARIES)
    workdir.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Path):
        config_file = config
    else:
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(config)
    storage = workdir / "alertmanager-data"
    storage.mkdir(parents=True, exist_ok=True)
    log = workdir / "alertmanager.log"

    def command(chosen: int) -> list[str]:
        return [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{chosen}",
            "--cluster.listen-address=",
            *extra_args,
        ]
    process, port = start_server(command, port, log, "/-/ready")
    try:
        yield Alertmanager(f"http://127.0.0.1:{port}", f"127.0.0.1:{port}", config_file, log, process)
    finally:
        stop(process)
