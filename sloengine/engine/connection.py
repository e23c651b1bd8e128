"""How sloengine reaches a Prometheus-compatible API: one configured ``requests`` session.

Everything that reads Prometheus (``report``, ``serve``, ``sla-report``,
``recommend``, ``backfill``) goes through :func:`session_for`, so timeouts,
retries, authentication, TLS and tenant headers are set in one place and
behave the same everywhere; promtool's reads for ``backfill`` pass through a
:class:`Relay` onto the same kind of session. Settings
come from a YAML file, then environment variables, then flags (later wins).
A bearer token is read from a file or an environment variable and is never
printed: :class:`ConnectionConfig`'s ``repr`` hides it and error messages
never include headers.
"""

from __future__ import annotations

import ast
import difflib
import hmac
import json
import os
import secrets
import threading
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..model.diagnostics import SpecError
from ..specs.yamlsource import load_file

#: Environment variables read by :func:`config_from_env` (flags override them).
ENV_URL = "SLOENGINE_PROMETHEUS_URL"
ENV_TOKEN = "SLOENGINE_PROMETHEUS_TOKEN"
ENV_TOKEN_FILE = "SLOENGINE_PROMETHEUS_TOKEN_FILE"
ENV_USERNAME = "SLOENGINE_PROMETHEUS_USERNAME"
ENV_PASSWORD = "SLOENGINE_PROMETHEUS_PASSWORD"
ENV_CA_FILE = "SLOENGINE_PROMETHEUS_CA_FILE"
ENV_TIMEOUT = "SLOENGINE_PROMETHEUS_TIMEOUT"
ENV_HEADERS = "SLOENGINE_PROMETHEUS_HEADERS"

#: Statuses worth retrying: the server or a proxy in front of it was briefly unable to answer.
RETRY_STATUSES = (429, 500, 502, 503, 504)


class ConfigError(ValueError):
    """The connection settings are wrong (a user's mistake: reported without a traceback)."""


class QueryError(RuntimeError):
    """A query could not be answered. ``kind`` says why, so callers can fail closed with the right words."""

    UNREACHABLE = "unreachable"
    HTTP = "http"
    MALFORMED = "malformed"
    REJECTED = "rejected"

    def __init__(self, kind: str, message: str, query: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.query = query


@dataclass(frozen=True)
class ConnectionConfig:
    """Where Prometheus is and how to talk to it. Secrets are kept out of ``repr``."""

    url: str = ""
    timeout_seconds: float = 30.0
    retries: int = 3
    backoff_seconds: float = 0.5
    username: str = ""
    password: str = field(default="", repr=False)
    bearer_token: str = field(default="", repr=False)
    bearer_token_file: str = ""
    ca_file: str = ""
    insecure_skip_verify: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def token(self) -> str:
        """The bearer token, read from its file at use (so a rotated token is picked up)."""
        if self.bearer_token:
            return self.bearer_token
        if self.bearer_token_file:
            try:
                return Path(self.bearer_token_file).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read bearer token file {self.bearer_token_file}: {exc.strerror}") from None
        return ""


_FILE_KEYS = {
    "url": str, "timeout_seconds": float, "retries": int, "backoff_seconds": float, "username": str,
    "password": str, "bearer_token": str, "bearer_token_file": str, "ca_file": str,
    "insecure_skip_verify": bool, "headers": dict,
}


def config_from_file(path: Path) -> ConnectionConfig:
    """Settings from a YAML file (``prometheus:`` mapping or the mapping itself); errors name file:line:col."""
    try:
        documents = load_file(path)
    except SpecError as exc:
        raise ConfigError("\n".join(f"{d.position}: {d.message} (fix: {d.hint})" for d in exc.diagnostics)) from None
    if not documents:
        return ConnectionConfig()
    doc = documents[0]
    data = doc.data
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and isinstance(data.get("prometheus"), dict):
        data, prefix = data["prometheus"], ("prometheus",)
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.position(prefix)}: expected a mapping of connection settings "
                          f"(url: ..., timeout_seconds: ...)")
    return _apply(ConnectionConfig(), data, str(path), lambda key, at_key: str(doc.position(prefix + (key,),
                                                                                              key=at_key)))


def _apply(config: ConnectionConfig, data: Mapping[str, Any], origin: str,
           where: Callable[[str, bool], str] | None = None) -> ConnectionConfig:
    """``where(key, at_key)`` places a setting (file:line:col) when it came from a file."""
    changes: dict[str, Any] = {}
    for key, value in data.items():
        origin = where(key, False) if where else origin
        kind = _FILE_KEYS.get(key)
        if kind is None:
            known = ", ".join(sorted(_FILE_KEYS))
            close = difflib.get_close_matches(str(key), list(_FILE_KEYS), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {known}"
            raise ConfigError(f"{where(key, True) if where else origin}: unknown setting {key!r} ({hint})")
        if value is None:
            continue
        if kind is dict:
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: {key} must be a mapping of header name to value")
            changes[key] = tuple(sorted((str(k), str(v)) for k, v in value.items()))
        elif kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{origin}: {key} must be true or false")
            changes[key] = value
        else:
            try:
                changes[key] = kind(value)
            except (TypeError, ValueError):
                wanted = {int: "a whole number", float: "a number", str: "a string"}[kind]
                raise ConfigError(f"{origin}: {key} must be {wanted}, got {value!r}") from None
    return replace(config, **changes)


def config_from_env(config: ConnectionConfig, env: Mapping[str, str] = os.environ) -> ConnectionConfig:
    data: dict[str, Any] = {}
    for name, key in ((ENV_URL, "url"), (ENV_TOKEN, "bearer_token"), (ENV_TOKEN_FILE, "bearer_token_file"),
                      (ENV_USERNAME, "username"), (ENV_PASSWORD, "password"), (ENV_CA_FILE, "ca_file"),
                      (ENV_TIMEOUT, "timeout_seconds")):
        if env.get(name):
            data[key] = env[name]
    if env.get(ENV_HEADERS):
        data["headers"] = parse_headers(env[ENV_HEADERS].split(","), ENV_HEADERS)
    return _apply(config, data, "environment")


def parse_headers(items: list[str] | tuple[str, ...], origin: str = "--header") -> dict[str, str]:
    """``Name: value`` or ``Name=value`` items into a mapping."""
    headers = {}
    for item in items:
        item = item.strip()
        if not item:
            continue
        sep = ":" if ":" in item else "="
        name, _, value = item.partition(sep)
        if not name.strip() or not _:
            raise ConfigError(f"{origin}: {item!r} is not 'Name: value' (e.g. 'X-Scope-OrgID: tenant-1')")
        headers[name.strip()] = value.strip()
    return headers


def resolve(file: Path | None, overrides: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> ConnectionConfig:
    """File, then environment, then flags (``overrides``, ``None`` = not given)."""
    config = config_from_file(file) if file else ConnectionConfig()
    config = config_from_env(config, env)
    config = _apply(config, {k: v for k, v in overrides.items() if v not in (None, (), {})}, "flags")
    if not config.url:
        raise ConfigError(f"no Prometheus URL: pass --prometheus URL, set {ENV_URL}, or url: in --connection-file")
    if not config.url.startswith(("http://", "https://")):
        raise ConfigError(f"Prometheus URL {config.url!r} must start with http:// or https://")
    if config.ca_file and not Path(config.ca_file).is_file():
        raise ConfigError(f"CA file {config.ca_file} does not exist")
    if config.retries < 0 or config.timeout_seconds <= 0:
        raise ConfigError("retries must be ≥ 0 and the timeout > 0")
    return config


def retry_for(config: ConnectionConfig) -> Retry:
    return Retry(total=config.retries, connect=config.retries, read=config.retries, status=config.retries,
                 backoff_factor=config.backoff_seconds, status_forcelist=RETRY_STATUSES,
                 allowed_methods=frozenset({"GET", "POST"}), raise_on_status=False)


def session_for(config: ConnectionConfig) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry_for(config))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if config.username:
        session.auth = (config.username, config.password)
    token = config.token()
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    session.headers.update(dict(config.headers))
    if config.insecure_skip_verify:
        session.verify = False
    elif config.ca_file:
        session.verify = config.ca_file
    return session


class Client:
    """Instant queries at pinned times, through ``prometheus-api-client`` on our session.

    Every failure becomes a :class:`QueryError` with a kind and a message fit
    for a terminal; nothing here ever returns an empty result for an error.
    """

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.session = session_for(config)
        # The client mounts its own retrying adapter on the URL; hand it ours so there is one retry policy.
        self._api = PrometheusConnect(url=config.url.rstrip("/"), session=self.session, retry=retry_for(config),
                                      disable_ssl=config.insecure_skip_verify, timeout=config.timeout_seconds,
                                      method="POST", headers=dict(self.session.headers))
        self.queries = 0

    @property
    def url(self) -> str:
        return self.config.url.rstrip("/")

    def query(self, expr: str, at: float) -> list[dict]:
        """Vector or matrix result of ``expr`` evaluated at ``at`` (Unix seconds)."""
        self.queries += 1
        try:
            return self._api.custom_query(expr, params={"time": f"{at:.3f}"})
        except requests.exceptions.ConnectionError as exc:
            if "timed out" in str(exc).lower():
                # Retries exhausted on read timeouts surface as a connection error wrapping the timeout.
                raise QueryError(QueryError.UNREACHABLE, f"Prometheus at {self.url} did not answer within "
                                                         f"{self.config.timeout_seconds:g}s", expr) from None
            raise QueryError(QueryError.UNREACHABLE, f"cannot reach Prometheus at {self.url}: "
                                                     f"{_reason(exc)}", expr) from None
        except requests.exceptions.Timeout:
            raise QueryError(QueryError.UNREACHABLE, f"Prometheus at {self.url} did not answer within "
                                                     f"{self.config.timeout_seconds:g}s", expr) from None
        except requests.exceptions.RetryError as exc:
            raise QueryError(QueryError.HTTP, f"Prometheus at {self.url} kept failing: {_reason(exc)}",
                             expr) from None
        except PrometheusApiClientException as exc:
            raise _http_error(str(exc), self.url, expr) from None
        except (ValueError, KeyError, TypeError) as exc:
            # A 200 whose body is not the API's JSON (a proxy's HTML page, a truncated body).
            raise QueryError(QueryError.MALFORMED, f"Prometheus at {self.url} returned a response that is not "
                                                   f"its API's JSON ({type(exc).__name__})", expr) from None
        except requests.exceptions.RequestException as exc:
            raise QueryError(QueryError.UNREACHABLE, f"request to {self.url} failed: {_reason(exc)}",
                             expr) from None

    def close(self) -> None:
        self.session.close()


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()'\" ")[:200]


def _http_error(text: str, url: str, expr: str) -> QueryError:
    """``HTTP Status Code 422 (b'{...}')`` from the client into a readable message."""
    status = text.split("HTTP Status Code ", 1)[-1].split(" ", 1)[0]
    detail = ""
    if "(" in text:
        body = text.split("(", 1)[1].rstrip(")")
        try:
            raw = ast.literal_eval(body) if body.startswith(("b'", 'b"')) else body
            payload = json.loads(raw)
            detail = payload.get("error", "") if isinstance(payload, dict) else ""
        except Exception:  # noqa: BLE001 - any unparsable body keeps the bare status
            detail = ""
    if status in ("400", "422"):
        return QueryError(QueryError.REJECTED, f"Prometheus rejected the query: {detail or 'HTTP ' + status}", expr)
    return QueryError(QueryError.HTTP, f"Prometheus at {url} answered HTTP {status}"
                                       + (f": {detail}" if detail else ""), expr)


# ---- a relay for promtool ------------------------------------------------------------------------

#: Proxy settings a child process must not inherit: the relay is its only proxy, for every host.
_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                    "NO_PROXY", "no_proxy")


def _status_message(url: str, status: int, body: bytes) -> str:
    """A terminal-fit message for an error answer of the API (its JSON ``error``, else the status alone)."""
    try:
        payload = json.loads(body)
        detail = str(payload.get("error", "")) if isinstance(payload, dict) else ""
    except ValueError:
        detail = ""
    if status in (400, 422):
        return f"Prometheus rejected the query: {detail or 'HTTP ' + str(status)}"
    return f"Prometheus at {url} answered HTTP {status}" + (f": {detail}" if detail else "")


class Relay:
    """A forward proxy on 127.0.0.1 through which a child process reads Prometheus with these settings.

    ``promtool tsdb create-blocks-from rules`` (2.42) takes a bare URL: no TLS,
    token, header, timeout or retry settings. Its HTTP client does honour
    ``HTTP_PROXY``, so it is given :attr:`url` (an http:// name that exists
    only here) and :meth:`environment` makes this relay its proxy. Each
    request is sent on to the real API over a session configured like every
    other read, so authentication, TLS, tenant headers and retries behave as
    in ``report``. Secrets stay in this process: nothing is written to a
    file, an argument list or a log. The relay forwards only the query API,
    and only for requests carrying its one-time proxy credential, which the
    child gets in its environment (readable by the same user only, unlike
    arguments); so another local user cannot borrow the connection.
    """

    HOST = "prometheus.sloengine.invalid"
    PATHS = ("/api/v1/query_range", "/api/v1/query")

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.failures: list[str] = []
        self._secret = secrets.token_urlsafe(24)
        self._expected = "Basic " + b64encode(f"sloengine:{self._secret}".encode()).decode()
        self._session: requests.Session | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to give the child in place of Prometheus's."""
        return f"http://{self.HOST}"

    def environment(self, base: Mapping[str, str] = os.environ) -> dict[str, str]:
        """``base`` with this relay as the only HTTP proxy (call inside the ``with`` block)."""
        assert self._server is not None, "the relay is not running"
        port = self._server.server_address[1]
        env = {k: v for k, v in base.items() if k not in _PROXY_VARIABLES}
        env["HTTP_PROXY"] = env["http_proxy"] = f"http://sloengine:{self._secret}@127.0.0.1:{port}"
        return env

    def describe(self, text: str) -> str:
        """``text`` (a child's error output) with the relay's address replaced by the real URL."""
        return text.replace(self.url, self.config.url.rstrip("/"))

    def __enter__(self) -> Relay:
        self._session = session_for(self.config)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sloengine-relay", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        if self._session is not None:
            self._session.close()
        self._server = self._thread = self._session = None

    def _forward(self, method: str, target: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of the real API's answer; a failure to get one is a 502 with the reason."""
        assert self._session is not None
        base = self.config.url.rstrip("/")
        parts = urlsplit(target)
        url = base + parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            # verify is passed on purpose: left out, requests lets REQUESTS_CA_BUNDLE override the CA file.
            response = self._session.request(method, url, data=body or None, timeout=self.config.timeout_seconds,
                                             headers={"Content-Type": content_type} if content_type else None,
                                             verify=self._session.verify)
        except requests.exceptions.Timeout:
            reason = f"Prometheus at {base} did not answer within {self.config.timeout_seconds:g}s"
        except requests.exceptions.RetryError as exc:
            reason = f"Prometheus at {base} kept failing: {_reason(exc)}"
        except requests.exceptions.SSLError as exc:
            reason = f"TLS with Prometheus at {base} failed: {_reason(exc)}"
        except requests.exceptions.ConnectionError as exc:
            reason = (f"Prometheus at {base} did not answer within {self.config.timeout_seconds:g}s"
                      if "timed out" in str(exc).lower() else f"cannot reach Prometheus at {base}: {_reason(exc)}")
        except requests.exceptions.RequestException as exc:
            reason = f"request to {base} failed: {_reason(exc)}"
        else:
            if response.status_code >= 400:
                self.failures.append(_status_message(base, response.status_code, response.content))
            return response.status_code, response.headers.get("Content-Type", "application/json"), response.content
        self.failures.append(reason)
        return 502, "application/json", json.dumps({"status": "error", "errorType": "unavailable",
                                                    "error": reason}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                self._relay()

            def do_POST(self) -> None:  # noqa: N802
                self._relay()

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                supplied = self.headers.get("Proxy-Authorization", "")
                if not hmac.compare_digest(supplied.encode(), relay._expected.encode()):
                    self._answer(407, "text/plain", b"proxy authentication required\n",
                                 (("Proxy-Authenticate", 'Basic realm="sloengine"'),))
                    return
                target = urlsplit(self.path)
                if target.netloc != relay.HOST or target.path not in relay.PATHS:
                    self._answer(403, "text/plain", b"only the Prometheus query API is relayed\n")
                    return
                status, kind, payload = relay._forward(self.command, self.path, body,
                                                       self.headers.get("Content-Type", ""))
                self._answer(status, kind, payload)

            def _answer(self, status: int, kind: str, payload: bytes,
                        extra: tuple[tuple[str, str], ...] = ()) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - never log requests
                return

        return Handler
