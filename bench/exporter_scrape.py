"""Exporter scrape latency with many SLOs: cached bytes per evaluation beside rendering on every scrape.

    python bench/exporter_scrape.py                   # 10,000 SLOs (the README's figure)
    python bench/exporter_scrape.py --slos 50 --quick # what the test suite runs

A report of N synthetic SLO results (no Prometheus needed: scrape cost does
not depend on where the numbers came from) is installed in an exporter the
way an evaluation would, then ``/metrics`` is fetched over loopback HTTP with
``requests``, with gzip (what Prometheus asks for) and without. The "naive"
column registers the same report's collector in a prometheus-client registry
served by ``make_wsgi_app``, which renders on every scrape. Target: median
scrape under 100 ms at 10,000 SLOs.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from wsgiref.simple_server import make_server

import click
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import prometheus_client  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.exposition import make_wsgi_app  # noqa: E402

from sloengine.engine.connection import Client, ConnectionConfig  # noqa: E402
from sloengine.model.results import Report, SLOResult, Source, Status  # noqa: E402
from sloengine.model.slo import Catalog  # noqa: E402
from sloengine.reports import exporter as ex  # noqa: E402

TARGET_MS = 100.0
SLOS_PER_SERVICE = 10
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
STATUSES = (Status.OK, Status.OK, Status.OK, Status.AT_RISK, Status.BREACHED, Status.OK, Status.OK, Status.OK,
            Status.OK, Status.NO_DATA)


def synthetic_result(i: int) -> SLOResult:
    """SLO ``i``: every tenth has no data (its figures absent), every seventh is grouped by region."""
    status = STATUSES[i % len(STATUSES)]
    base = SLOResult(service=f"svc{i // SLOS_PER_SERVICE:05d}", slo=f"slo-{i % SLOS_PER_SERVICE:02d}",
                     objective=99.9, window="30d", window_seconds=30 * 86400.0, status=status, source=Source.RECORDED,
                     group=(("region", f"r{i % 3}"),) if i % 7 == 0 else ())
    if status is Status.NO_DATA:
        return replace(base, burn_rates=tuple((w, None) for w in BURN_WINDOWS))
    total = 1_000_000.0 + i
    bad = float(i % 2000)
    err = bad / total
    return replace(base, sli=1 - err, good_events=total - bad, bad_events=bad, total_events=total,
                   budget_remaining=1 - err / 0.001, budget_consumed=err / 0.001,
                   burn_rates=tuple((w, err / 0.001 * (1 + k / 10)) for k, w in enumerate(BURN_WINDOWS)),
                   burn_rate_window="1h", time_to_exhaustion_seconds=86400.0 * (1 + i % 30))


def synthetic_report(n: int) -> Report:
    return Report(at=float(int(time.time())), prometheus="http://synthetic", results=tuple(map(synthetic_result,
                                                                                             range(n))))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def time_scrapes(url: str, n: int, encoding: str) -> tuple[list[float], bytes]:
    """Milliseconds per full scrape (connect, request, body read and, for gzip, decompressed)."""
    session_headers = {"Accept-Encoding": encoding}
    times, body = [], b""
    for _ in range(n):
        started = time.perf_counter()
        response = requests.get(url, headers=session_headers, timeout=120)
        body = response.content
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return times, body


def summary(times: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(times), 2), "p99": round(percentile(times, 99), 2),
            "min": round(min(times), 2), "max": round(max(times), 2), "n": len(times)}


def serve_naive(report: Report) -> tuple[str, Callable[[], None]]:
    """prometheus-client's own WSGI app on the same kind of server: renders (and gzips) on every scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ex.ReportCollector(report))
    server = make_server("127.0.0.1", 0, make_wsgi_app(registry), ex._Server, handler_class=ex._QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def close() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}/metrics", close


def strip_health(text: bytes) -> bytes:
    """The SLO part of an exporter body (health families come first and all start with sloengine_)."""
    lines = text.split(b"\n")
    return b"\n".join(line for line in lines if b"sloengine_exporter_" not in line)


def run(n: int, scrapes: int, naive_scrapes: int) -> dict:
    report = synthetic_report(n)
    client = Client(ConnectionConfig(url="http://synthetic", retries=0))
    exporter = ex.Exporter(Catalog(), client, evaluate=lambda catalog, c, at: report)
    started = time.perf_counter()
    exporter.evaluate_once()
    render_seconds = time.perf_counter() - started
    cached = exporter.cached
    running = ex.start_server(exporter, "127.0.0.1:0")
    try:
        url = f"{running.url}/metrics"
        time_scrapes(url, 2, "gzip")   # warm up: imports, first connections
        gzip_times, gzip_body = time_scrapes(url, scrapes, "gzip")
        plain_times, plain_body = time_scrapes(url, scrapes, "identity")
    finally:
        running.close()
    assert gzip_body == plain_body, "a gzipped scrape must decompress to the plain one"
    naive_url, close = serve_naive(report)
    try:
        naive_gzip, naive_body = time_scrapes(naive_url, naive_scrapes, "gzip")
        naive_plain, _ = time_scrapes(naive_url, naive_scrapes, "identity")
    finally:
        close()
    assert strip_health(plain_body) == naive_body, "cached and per-scrape rendering must serve the same series"
    samples = sum(1 for line in cached.text.split(b"\n") if line and not line.startswith(b"#"))
    cached_ms = summary(gzip_times)
    naive_ms = summary(naive_gzip)
    return {
        "slos": n,
        "samples": samples,
        "body_bytes": len(plain_body),
        "body_gzip_bytes": len(cached.gzipped),
        "render_once_per_evaluation_seconds": round(render_seconds, 3),
        "scrape_ms": {"gzip": cached_ms, "identity": summary(plain_times)},
        "naive_scrape_ms": {"gzip": naive_ms, "identity": summary(naive_plain)},
        "speedup_median_gzip": round(naive_ms["median"] / cached_ms["median"], 1),
        "target_median_ms": TARGET_MS,
        "meets_target": cached_ms["median"] < TARGET_MS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "prometheus_client": getattr(prometheus_client, "__version__", "") or _version()},
    }


def _version() -> str:
    from importlib.metadata import version

    return version("prometheus-client")


def markdown(result: dict) -> str:
    rows = [("cached (sloengine serve), gzip", result["scrape_ms"]["gzip"]),
            ("cached (sloengine serve), identity", result["scrape_ms"]["identity"]),
            ("naive per-scrape render, gzip", result["naive_scrape_ms"]["gzip"]),
            ("naive per-scrape render, identity", result["naive_scrape_ms"]["identity"])]
    lines = [f"Exporter scrape, {result['slos']:,} SLOs ({result['samples']:,} samples, "
             f"{result['body_bytes'] / 1e6:.1f} MB, {result['body_gzip_bytes'] / 1e6:.2f} MB gzipped); "
             f"render once per evaluation: {result['render_once_per_evaluation_seconds']:.2f} s", "",
             "| scrape | median ms | p99 ms | n |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {s['median']:.1f} | {s['p99']:.1f} | {s['n']} |" for name, s in rows]
    verdict = "meets" if result["meets_target"] else "MISSES"
    lines += ["", f"Median gzip scrape {verdict} the {result['target_median_ms']:.0f} ms target; "
                  f"{result['speedup_median_gzip']}x faster than rendering per scrape."]
    return "\n".join(lines) + "\n"


#: ``--help`` prints the whole docstring; click rewraps paragraphs, and ``\b`` keeps the command lines as written.
HELP = __doc__.replace("\n\n    python", "\n\n\b\n    python", 1)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, help=HELP)
@click.option("--slos", type=int, default=10_000)
@click.option("--scrapes", type=int, default=100, help="Timed scrapes of the cached exporter.")
@click.option("--quick", is_flag=True, help="Few scrapes (for the test suite).")
@click.option("--out", type=click.Path(path_type=Path), default=REPO / "bench" / "results")
def main(slos: int, scrapes: int, quick: bool, out: Path) -> None:
    scrapes = 5 if quick else scrapes
    naive_scrapes = 2 if quick else 5
    result = run(slos, scrapes, naive_scrapes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "exporter_scrape.json").write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result), end="")


if __name__ == "__main__":
    main()
