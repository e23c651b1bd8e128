"""How sloengine reaches a Prometheus-compatible API: one configured ``requests`` session.

Everything that reads Prometheus (``report``, ``serve``, ``sla-report``)
goes through :func:`connect`, so timeouts, retries, authentication, TLS and
tenant headers are set in one place and behave the same everywhere. Settings
come from a YAML file, then environment variables, then flags (later wins).
A bearer token is read from a file or an environment variable and is never
printed: :class:`ConnectionConfig`'s ``repr`` hides it and error messages
never include headers.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .diagnostics import SpecError
from .yamlsource import load_text

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
        documents = load_text(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except SpecError as exc:
        raise ConfigError("\n".join(f"{d.position}: {d.message} (fix: {d.hint})" for d in exc.diagnostics)) from None
    if not documents:
        return ConnectionConfig()
    doc = documents[0]
    data, prefix = doc.data, ()
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
