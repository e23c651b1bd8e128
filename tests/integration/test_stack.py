"""The engines the tests start come up on their own port even when the free port they picked is taken.

``free_port()`` closes its socket before the server binds the port, so a parallel test worker (or any outgoing
connection) can take it in between. The worst case is another server answering on it: a ready check that
trusted any answer would hand the test someone else's Prometheus.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from sloengine.devstack import stack


class _AlwaysReady(BaseHTTPRequestHandler):
    """Answers 200 to every path, ``/-/ready`` included, as another engine on the port would."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b'{"status":"success","data":{"someone":"else"}}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def _impostor() -> Iterator[int]:
    """Another server, listening on a loopback port and claiming to be ready."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def taken_port_first(monkeypatch) -> Iterator[int]:
    """``free_port()`` hands out a port another server holds, then free ones, as a lost race would."""
    real = stack.free_port
    with _impostor() as port:
        picks = iter([port])
        monkeypatch.setattr(stack, "free_port", lambda: next(picks, None) or real())
        yield port


def test_prometheus_moves_to_another_port_when_its_port_is_taken_by_a_ready_server(tmp_path: Path, taken_port_first):
    with stack.prometheus(tmp_path) as prom:
        assert not prom.url.endswith(f":{taken_port_first}")
        assert stack.listens(prom.process.pid, int(prom.url.rsplit(":", 1)[1]))
        assert prom.query("vector(1)")[0]["value"][1] == "1"  # our Prometheus answers, not the impostor
        assert "address already in use" not in prom.log_file.read_text()


def test_alertmanager_moves_to_another_port_when_its_port_is_taken_by_a_ready_server(tmp_path: Path,
                                                                                    taken_port_first):
    config = "route: {receiver: nobody}\nreceivers: [{name: nobody}]\n"
    with stack.alertmanager(tmp_path, config) as am:
        assert am.address != f"127.0.0.1:{taken_port_first}"
        assert "nobody" in requests.get(f"{am.url}/api/v2/status", timeout=10).json()["config"]["original"]


def test_a_fixed_port_that_is_taken_is_an_error_naming_it(tmp_path: Path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(stack.PortTaken, match="address already in use"), stack.prometheus(tmp_path, port=port):
            pass
