"""``sloengine backfill``: blocks of tile history that, once installed, give a new SLO its whole window; read
with the same connection settings as ``report`` (TLS, bearer token, tenant header, file and environment)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from sloengine.cli import main
from sloengine.devstack.stack import prometheus
from sloengine.devstack.synthetic import Counter, openmetrics, write_blocks
from sloengine.engine.backfill import install_blocks
from sloengine.model import conventions as c

SPEC = """\
apiVersion: sloengine/v1
kind: ServiceLevels
service: {name: shop}
slos:
  - name: checkout
    objective: 99
    window: 1d
    sli:
      ratio:
        bad: shop_requests_total{code="500"}
        total: shop_requests_total
"""


def test_backfilled_tiles_give_a_new_slo_its_whole_window(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    step, hours = 60, 30
    end = int(time.time()) // step * step
    start = end - hours * 3600
    n = hours * 60 + 1
    good = np.full(n, 99.0)
    bad = np.full(n, 1.0)
    good[0] = bad[0] = 0
    data = tmp_path / "data"
    write_blocks(openmetrics([Counter("shop_requests_total", (("code", "200"),), good),
                              Counter("shop_requests_total", (("code", "500"),), bad)], start, step), tmp_path, data)
    with prometheus(tmp_path / "raw", data_dir=data) as prom:
        outcome = CliRunner().invoke(main, ["backfill", str(spec), "--prometheus", prom.url, "--since", "26h",
                                            "--until", str(end), "--out", str(tmp_path / "bf")])
        assert outcome.exit_code == 0, outcome.output
    blocks = tmp_path / "bf" / "blocks"
    assert any(blocks.iterdir())
    install_blocks(blocks, data)
    with prometheus(tmp_path / "after", data_dir=data) as prom:
        tiles = prom.query(f'count_over_time({c.METRIC_TILE_TOTAL}{{service="shop",slo="checkout"}}[1d])', at=end)
        assert float(tiles[0]["value"][1]) >= 24 * 12 - 1
        (bad_day,) = prom.query(f'sum_over_time({c.METRIC_TILE_BAD}{{slo="checkout"}}[1d])', at=end)
        assert float(bad_day["value"][1]) == pytest.approx(1440, rel=0.01)




def test_unreachable_prometheus_fails_with_a_message_and_exit_one(tmp_path):
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    outcome = CliRunner().invoke(main, ["backfill", str(spec), "--prometheus", "http://127.0.0.1:9", "--since", "2h",
                                        "--out", str(tmp_path / "bf")])
    assert outcome.exit_code == 1
    assert "backfill failed" in outcome.output


def test_constant_labels_come_out_of_prometheus_verbatim(tmp_path):
    """The combined backfill rules set labels with label_replace, whose replacement expands ``$1``."""
    from sloengine.model.promql import with_labels

    value = 'a$1b "quoted" \\ back'
    with prometheus(tmp_path) as prom:
        result = prom.query(with_labels("vector(1)", (("team", value), ("slo", "x"))))
    assert [r["metric"] for r in result] == [{"team": value, "slo": "x"}]


# ---- the connection flags of `report`, against a Prometheus serving TLS and a tenant gateway in front of it ----

TOKEN = "s3cret-token-never-printed"


class Gateway:
    """A tenant gateway in front of Prometheus, as Mimir or a reverse proxy would be: it answers 401 unless a
    request carries the bearer token and the tenant header, and passes the rest through (over TLS)."""

    def __init__(self, upstream: str, ca_file: Path) -> None:
        self.seen: list[dict[str, str]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self._pass()

            def do_POST(self) -> None:  # noqa: N802
                self._pass()

            def _pass(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                gateway.seen.append({"path": self.path, "authorization": self.headers.get("Authorization", ""),
                                     "tenant": self.headers.get("X-Scope-OrgID", "")})
                if (self.headers.get("Authorization") != f"Bearer {TOKEN}"
                        or self.headers.get("X-Scope-OrgID") != "shop"):
                    answer = (401, b'{"status":"error","errorType":"unauthorized","error":"no such tenant or token"}')
                else:
                    response = requests.request(self.command, upstream + self.path, data=body, verify=str(ca_file),
                                                headers={"Content-Type": self.headers.get("Content-Type", "")})
                    answer = (response.status_code, response.content)
                self.send_response(answer[0])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer[1])))
                self.end_headers()
                self.wfile.write(answer[1])

            def log_message(self, *args) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A Prometheus serving HTTPS only, with 30 hours of counters (99 good and 1 bad request a minute)."""
    tmp = tmp_path_factory.mktemp("secured")
    spec = tmp / "shop.yaml"
    spec.write_text(SPEC)
    step, hours = 60, 30
    end = int(time.time()) // step * step
    n = hours * 60 + 1
    good, bad = np.full(n, 99.0), np.full(n, 1.0)
    good[0] = bad[0] = 0
    write_blocks(openmetrics([Counter("shop_requests_total", (("code", "200"),), good),
                              Counter("shop_requests_total", (("code", "500"),), bad)], end - hours * 3600, step),
                 tmp, tmp / "data")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    with prometheus(tmp / "prom", data_dir=tmp / "data", tls=(cert, key)) as prom:
        yield prom, spec, cert, end


def _bad_events_over_the_last_day(blocks: Path, end: int) -> float:
    """The backfilled bad-event tiles of the day before ``end``, read back from (a copy of) the blocks by promtool."""
    db = blocks.parent / "dumped"
    shutil.copytree(blocks, db)
    (db / "wal").mkdir()   # promtool opens the blocks as a database, which has a write-ahead log
    dumped = subprocess.run(["promtool", "tsdb", "dump", f"--match={c.METRIC_TILE_BAD}",
                             f"--min-time={(end - 86400) * 1000 + 1}", f"--max-time={end * 1000}", str(db)],
                            check=True, capture_output=True, text=True)
    shutil.rmtree(db)
    return sum(float(line.rsplit(" ", 2)[1]) for line in dumped.stdout.splitlines() if line.strip())


def test_backfill_reads_a_prometheus_serving_tls_with_the_ca_file(secured, tmp_path):
    prom, spec, cert, end = secured
    args = ["backfill", str(spec), "--prometheus", prom.url, "--since", "26h", "--until", str(end)]
    outcome = CliRunner().invoke(main, [*args, "--ca-file", str(cert), "--out", str(tmp_path / "bf")])
    assert outcome.exit_code == 0, outcome.output
    assert _bad_events_over_the_last_day(tmp_path / "bf" / "blocks", end) == pytest.approx(1440, rel=0.01)
    refused = CliRunner().invoke(main, [*args, "--retries", "0", "--out", str(tmp_path / "untrusted")])
    assert refused.exit_code == 1
    assert f"backfill failed: cannot read Prometheus: TLS with Prometheus at {prom.url} failed" in refused.output
    assert "CERTIFICATE_VERIFY_FAILED" in refused.output
    assert not any((tmp_path / "untrusted" / "blocks").iterdir())


def test_backfill_sends_the_token_and_tenant_header_from_file_environment_and_flags(secured, tmp_path, monkeypatch):
    prom, spec, cert, end = secured
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    with Gateway(prom.url, cert) as gateway:
        settings = tmp_path / "prometheus.yml"
        settings.write_text(f"prometheus:\n  url: {gateway.url}\n  headers: {{X-Scope-OrgID: shop}}\n")
        monkeypatch.setenv("SLOENGINE_PROMETHEUS_TOKEN_FILE", str(token))
        out = tmp_path / "bf"
        outcome = CliRunner().invoke(main, ["backfill", str(spec), "--connection-file", str(settings), "--since", "26h",
                                            "--until", str(end), "--out", str(out)])
        assert outcome.exit_code == 0, outcome.output
        assert gateway.seen and all(r["path"].startswith("/api/v1/query_range") for r in gateway.seen)
        assert {(r["authorization"], r["tenant"]) for r in gateway.seen} == {(f"Bearer {TOKEN}", "shop")}
        assert _bad_events_over_the_last_day(out / "blocks", end) == pytest.approx(1440, rel=0.01)
        # The secret went to the gateway and nowhere else: not in the output, not in a file left behind.
        assert TOKEN not in outcome.output
        assert sorted(p.name for p in out.iterdir()) == ["backfill.rules.yml", "blocks"]
        assert not any(TOKEN.encode() in p.read_bytes() for p in out.rglob("*") if p.is_file())

        monkeypatch.delenv("SLOENGINE_PROMETHEUS_TOKEN_FILE")
        denied = CliRunner().invoke(main, ["backfill", str(spec), "--prometheus", gateway.url, "--header",
                                           "X-Scope-OrgID: shop", "--since", "2h", "--until", str(end),
                                           "--out", str(tmp_path / "denied")])
        assert denied.exit_code == 1
        assert (f"backfill failed: cannot read Prometheus: Prometheus at {gateway.url} answered HTTP 401 "
                "Unauthorized: no such tenant or token (the credentials were refused") in denied.output


def test_backfill_without_any_prometheus_url_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.delenv("SLOENGINE_PROMETHEUS_URL", raising=False)
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    outcome = CliRunner().invoke(main, ["backfill", str(spec), "--since", "2h", "--out", str(tmp_path / "bf")])
    assert outcome.exit_code == 1
    assert "no Prometheus URL: pass --prometheus URL" in outcome.output


def _dumped(blocks: Path) -> set[tuple[str, str, str]]:
    """(series, value, timestamp) of every sample in a directory of blocks, by ``promtool tsdb dump``."""
    (blocks / "wal").mkdir(exist_ok=True)   # promtool opens the directory as a TSDB, which has one
    done = subprocess.run(["promtool", "tsdb", "dump", str(blocks)], capture_output=True, text=True, check=True)
    return {tuple(line.rsplit(" ", 2)) for line in done.stdout.splitlines() if line.strip()}  # type: ignore[misc]


def test_a_leafs_copy_and_the_global_tiers_copy_are_the_same_tiles(tmp_path):
    """Two runs into different directories evaluate at the same instants (promtool hashes the rules file's path
    into the evaluations' phase; a different phase would overlap the seams of the two copies), and --label adds
    the cluster to every series of the global's copy, and nothing else."""
    spec = tmp_path / "shop.yaml"
    spec.write_text(SPEC)
    step, hours = 60, 8
    end = int(time.time()) // step * step
    n = hours * 60 + 1
    rng = np.random.default_rng(5)
    data = tmp_path / "data"
    write_blocks(openmetrics([Counter("shop_requests_total", (("code", "200"),), rng.poisson(99.0, n).astype(float)),
                              Counter("shop_requests_total", (("code", "500"),), rng.poisson(1.0, n).astype(float))],
                             end - hours * 3600, step), tmp_path, data)
    with prometheus(tmp_path / "raw", data_dir=data) as prom:
        for out, extra in (("leaf", []), ("elsewhere/global", ["--label", "cluster=eu-1"])):
            outcome = CliRunner().invoke(main, ["backfill", str(spec), "--prometheus", prom.url, "--since", "6h",
                                                "--until", str(end), "--tier", "leaf", *extra,
                                                "--out", str(tmp_path / out)])
            assert outcome.exit_code == 0, outcome.output
    leaf = _dumped(tmp_path / "leaf" / "blocks")
    top = _dumped(tmp_path / "elsewhere" / "global" / "blocks")
    assert leaf and all(f"__name__=\"{c.LEAF_LEVEL}:" in series for series, _, _ in leaf)
    assert {(series.replace('cluster="eu-1", ', ""), value, at) for series, value, at in top} == leaf
