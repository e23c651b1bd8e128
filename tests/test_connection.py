"""Reaching Prometheus: settings from file, environment and flags; auth, headers and retries on the wire.

What goes over the wire is checked with a local HTTP server that records
each request (fault injection and header capture, not PromQL behaviour).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from sloengine.engine.connection import (
    Client,
    ConfigError,
    ConnectionConfig,
    QueryError,
    Relay,
    parse_headers,
    resolve,
)

EMPTY_VECTOR = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()


class Recorder:
    """A loopback server answering from a script of (status, body) and recording every request."""

    def __init__(self, script: list[tuple[int, bytes]]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                recorder.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, payload = recorder.script.pop(0) if len(recorder.script) > 1 else recorder.script[0]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder_factory():
    made: list[Recorder] = []

    def make(script):
        made.append(Recorder(script))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_flags_override_environment_which_overrides_the_file(tmp_path):
    file = tmp_path / "conn.yaml"
    file.write_text("prometheus:\n  url: http://file:9090\n  timeout_seconds: 5\n  headers: {X-Scope-OrgID: a}\n")
    env = {"SLOENGINE_PROMETHEUS_URL": "http://env:9090", "SLOENGINE_PROMETHEUS_TIMEOUT": "7"}
    config = resolve(file, {"url": None, "retries": 1}, env)
    assert (config.url, config.timeout_seconds, config.retries) == ("http://env:9090", 7.0, 1)
    assert config.headers == (("X-Scope-OrgID", "a"),)
    assert resolve(file, {"url": "http://flag:9090"}, env).url == "http://flag:9090"


def test_secrets_never_appear_in_the_settings_repr(tmp_path):
    config = ConnectionConfig(url="http://x", password="hunter2", bearer_token="s3cret-token")
    assert "hunter2" not in repr(config) and "s3cret-token" not in repr(config)


@pytest.mark.parametrize("content, place, message", [
    ("prometheus:\n  url: http://x\n  timout_seconds: 3\n", ":3:3:",
     "unknown setting 'timout_seconds' (did you mean 'timeout_seconds'?)"),
    ("prometheus:\n  url: http://x\n  retries: many\n", ":3:12:", "retries must be a whole number"),
    ("prometheus:\n  url: http://x\n  insecure_skip_verify: yes please\n", ":3:25:", "true or false"),
    ("- a\n- b\n", ":1:1:", "expected a mapping"),
    ("url: [x\n", ":2:1:", "YAML syntax error"),
    ("url: http://x\nurl: http://y\n", ":2:1:", "duplicate key 'url'"),
])
def test_a_wrong_connection_file_names_the_file_line_and_setting(tmp_path, content, place, message):
    file = tmp_path / "conn.yaml"
    file.write_text(content)
    with pytest.raises(ConfigError) as caught:
        resolve(file, {}, {})
    assert f"{file}{place}" in str(caught.value) and message in str(caught.value)


def test_a_missing_url_or_ca_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no Prometheus URL"):
        resolve(None, {}, {})
    with pytest.raises(ConfigError, match="must start with http"):
        resolve(None, {"url": "prometheus:9090"}, {})
    with pytest.raises(ConfigError, match="CA file"):
        resolve(None, {"url": "https://x", "ca_file": str(tmp_path / "nope.pem")}, {})


def test_headers_parse_from_name_colon_value():
    assert parse_headers(["X-Scope-OrgID: tenant-1", "A=b"]) == {"X-Scope-OrgID": "tenant-1", "A": "b"}
    with pytest.raises(ConfigError):
        parse_headers(["no separator"])


def test_basic_auth_bearer_token_and_tenant_header_reach_the_server(recorder_factory, tmp_path):
    server = recorder_factory([(200, EMPTY_VECTOR)])
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    client = Client(resolve(None, {"url": server.url, "bearer_token_file": str(token),
                                   "headers": {"X-Scope-OrgID": "tenant-1"}}, {}))
    assert client.query("up", 1700000000) == []
    headers = server.requests[0]["headers"]
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["X-Scope-OrgID"] == "tenant-1"
    assert "time=1700000000.000" in server.requests[0]["path"] + server.requests[0]["body"]

    basic = Client(resolve(None, {"url": server.url, "username": "sre"}, {"SLOENGINE_PROMETHEUS_PASSWORD": "pw"}))
    basic.query("up", 1700000000)
    assert server.requests[1]["headers"]["Authorization"].startswith("Basic ")


def test_server_errors_are_retried_with_backoff_then_succeed(recorder_factory):
    server = recorder_factory([(503, b"busy"), (502, b"bad gateway"), (200, EMPTY_VECTOR)])
    client = Client(ConnectionConfig(url=server.url, retries=3, backoff_seconds=0.01))
    assert client.query("up", 1700000000) == []
    assert len(server.requests) == 3


@pytest.mark.parametrize("script, kind, words", [
    ([(503, b"busy")], QueryError.HTTP, "answered HTTP 503"),
    ([(422, b'{"status":"error","errorType":"execution","error":"many-to-many matching not allowed"}')],
     QueryError.REJECTED, "many-to-many"),
    ([(200, b"<html>proxy login</html>")], QueryError.MALFORMED, "not its API's JSON"),
])
def test_failures_become_typed_errors_without_secrets(recorder_factory, script, kind, words):
    server = recorder_factory(script)
    client = Client(ConnectionConfig(url=server.url, retries=1, backoff_seconds=0.01, bearer_token="s3cret"))
    with pytest.raises(QueryError) as caught:
        client.query("up", 1700000000)
    assert caught.value.kind == kind and words in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_an_unreachable_server_is_reported_as_unreachable_at_once_without_retries():
    client = Client(ConnectionConfig(url="http://127.0.0.1:9", retries=0))
    with pytest.raises(QueryError) as caught:
        client.query("up", 1700000000)
    assert caught.value.kind == QueryError.UNREACHABLE
    assert "cannot reach Prometheus at http://127.0.0.1:9" in str(caught.value)


def test_a_token_file_that_cannot_be_read_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="bearer token file"):
        ConnectionConfig(url="http://x", bearer_token_file=str(tmp_path / "missing")).token()


def test_connection_file_may_hold_the_mapping_directly(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("url: https://prom.example:9090\nretries: 0\n")
    assert resolve(file, {}, {}).url == "https://prom.example:9090"
    assert Path(file).exists()


def _through(relay: Relay, path: str, credential: bool = True):
    proxy = relay.environment({})["HTTP_PROXY"]
    if not credential:
        proxy = "http://" + proxy.rsplit("@", 1)[1]
    return requests.post(relay.url + path, data={"query": "up"}, proxies={"http": proxy}, timeout=10)


def test_the_relay_forwards_promtools_queries_with_the_connection_settings(recorder_factory):
    server = recorder_factory([(200, EMPTY_VECTOR)])
    config = ConnectionConfig(url=server.url + "/prometheus", bearer_token="tok-123",
                              headers=(("X-Scope-OrgID", "tenant-1"),))
    with Relay(config) as relay:
        answer = _through(relay, "/api/v1/query_range?start=1&end=2&step=300")
    assert answer.status_code == 200 and answer.content == EMPTY_VECTOR
    (seen,) = server.requests
    assert seen["path"] == "/prometheus/api/v1/query_range?start=1&end=2&step=300" and seen["body"] == "query=up"
    assert seen["headers"]["Authorization"] == "Bearer tok-123" and seen["headers"]["X-Scope-OrgID"] == "tenant-1"
    assert "Proxy-Authorization" not in seen["headers"]


def test_the_relay_serves_only_its_child_and_only_the_query_api(recorder_factory):
    server = recorder_factory([(200, EMPTY_VECTOR)])
    with Relay(ConnectionConfig(url=server.url, bearer_token="tok-123")) as relay:
        assert _through(relay, "/api/v1/query", credential=False).status_code == 407
        assert _through(relay, "/api/v1/admin/tsdb/delete_series").status_code == 403
        env = relay.environment({"NO_PROXY": "*", "HTTPS_PROXY": "http://corporate:3128", "PATH": "/bin"})
    assert server.requests == []
    assert set(env) == {"HTTP_PROXY", "http_proxy", "PATH"}
    assert "tok-123" not in json.dumps(env)


def test_the_relay_answers_a_failure_as_promtool_understands_it_and_keeps_the_reason(recorder_factory):
    server = recorder_factory([(401, b'{"status":"error","error":"bad token"}')])
    with Relay(ConnectionConfig(url=server.url, retries=0)) as relay:
        assert _through(relay, "/api/v1/query_range").status_code == 401
    assert relay.failures == [f"Prometheus at {server.url} answered HTTP 401 Unauthorized: bad token (the "
                              "credentials were refused: check the bearer token, username and password, and the "
                              "tenant header)"]
    with Relay(ConnectionConfig(url="http://127.0.0.1:9", retries=0)) as relay:
        answer = _through(relay, "/api/v1/query_range")
    assert answer.status_code == 502 and answer.json()["status"] == "error"
    assert relay.failures[0].startswith("cannot reach Prometheus at http://127.0.0.1:9")
