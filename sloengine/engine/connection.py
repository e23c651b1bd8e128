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

The server is not trusted to behave. A run has one deadline, and each
request a time limit for the whole of it (a body dripped a byte at a time is
cut); retries and a server's Retry-After stay within both. A body is
streamed and dropped past a size limit. A redirect to another address is not
followed (the credentials and tenant headers are for this one). Every answer
is checked for the API's shape before anything reads it, so a wrong shape is
a MALFORMED error rather than a traceback three modules away.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import heapq
import hmac
import itertools
import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import numpy as np
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.poolmanager import PoolManager

from ..model.diagnostics import SpecError
from ..model.gcpause import paused_gc
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
#: Redirects: followed to the same scheme, host and port only.
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
#: Same-origin redirects followed within one request.
MAX_REDIRECTS = 5
#: Largest body read from Prometheus unless configured: far above an honest answer (every recorded series of
#: a very large catalogue), far below what would exhaust memory; a longer one is dropped as it streams.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: A run's deadline unless configured: as long as this many requests that each use every retry.
DEADLINE_REQUESTS = 10
#: Bytes read from a response at a time.
CHUNK_BYTES = 64 * 1024
#: Characters of a server's own error message kept in ours.
DETAIL_CHARS = 300

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The connection settings are wrong (a user's mistake: reported without a traceback)."""


class QueryError(RuntimeError):
    """A query could not be answered. ``kind`` says why, so callers can fail closed with the right words."""

    UNREACHABLE = "unreachable"
    HTTP = "http"
    MALFORMED = "malformed"
    REJECTED = "rejected"
    #: 401 or 403: the credentials (or the tenant) were refused.
    REFUSED = "refused"
    #: The body was longer than the configured limit.
    TOO_LARGE = "too_large"
    #: The run's deadline passed.
    DEADLINE = "deadline"
    #: The answer has the API's shape but figures no counter can hold (non-finite, negative, beyond 2^53).
    IMPLAUSIBLE = "implausible"
    #: Kinds that say the server (or the way to it) is failing, not one query: asking it once per SLO would
    #: only repeat the failure slowly.
    SERVER_FAILURES = frozenset({UNREACHABLE, HTTP, MALFORMED, REFUSED, TOO_LARGE, DEADLINE})

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
    #: Seconds a whole run may take (None: :data:`DEADLINE_REQUESTS` × timeout × (retries + 1)).
    deadline_seconds: float | None = None
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES

    def run_seconds(self) -> float:
        """The deadline of a run: as configured, or long enough for several requests with every retry."""
        if self.deadline_seconds is not None:
            return self.deadline_seconds
        return DEADLINE_REQUESTS * self.timeout_seconds * (self.retries + 1)

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
    "insecure_skip_verify": bool, "headers": dict, "deadline_seconds": float, "max_response_bytes": int,
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
    if _origin(config.url) is None:
        raise ConfigError(f"Prometheus URL {config.url!r} has no host, or a port that is not 0 to 65535")
    if config.ca_file and not Path(config.ca_file).is_file():
        raise ConfigError(f"CA file {config.ca_file} does not exist")
    if config.retries < 0 or not 0 < config.timeout_seconds < math.inf or not 0 <= config.backoff_seconds < math.inf:
        raise ConfigError("retries must be ≥ 0, the timeout a number of seconds > 0 and the backoff ≥ 0")
    if config.deadline_seconds is not None and not 0 < config.deadline_seconds < math.inf:
        raise ConfigError("the deadline must be a number of seconds > 0")
    if config.max_response_bytes <= 0:
        raise ConfigError("the response size limit must be a number of bytes > 0")
    return config


# ---- time limits ---------------------------------------------------------------------------------


class Watchdog:
    """Runs an action when its time comes, unless disarmed first: one thread for any number of timers.

    A socket's timeout bounds each read, not a whole exchange: a peer that
    sends a byte every few seconds keeps a read going for ever, and so does a
    client of the exporter sending its request a byte at a time. The one bound
    on the whole is to shut the socket from outside when the time is up, which
    is what the actions armed here do. The thread starts on first use.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._condition = threading.Condition()
        self._due: list[tuple[float, int]] = []
        self._actions: dict[int, Callable[[], None]] = {}
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, action: Callable[[], None]) -> int:
        """Run ``action`` in ``seconds``; the key returned disarms it."""
        with self._condition:
            key = next(self._keys)
            self._actions[key] = action
            heapq.heappush(self._due, (time.monotonic() + seconds, key))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify()
        return key

    def disarm(self, key: int) -> None:
        with self._condition:
            self._actions.pop(key, None)

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                due = []
                while self._due and (self._due[0][0] <= now or self._due[0][1] not in self._actions):
                    action = self._actions.pop(heapq.heappop(self._due)[1], None)
                    if action is not None:
                        due.append(action)
                if not due:
                    self._condition.wait(self._due[0][0] - now if self._due else None)
                    continue
            for action in due:
                try:
                    action()
                except Exception:  # noqa: BLE001 - one failed action must not stop the others' timers
                    log.debug("a watchdog action failed", exc_info=True)


#: The watchdog of every request to Prometheus in this process.
WATCHDOG = Watchdog("sloengine-watchdog")


def shut(sock: socket.socket | None) -> None:
    """Shut ``sock`` for both directions, waking any thread blocked on it (a closed socket does not)."""
    if sock is None:
        return
    # The plain socket's method, also for TLS: SSLSocket's own would drop its TLS state under a reader.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


@dataclass(frozen=True)
class Deadline:
    """When a run must be over: every request of a report, an SLA report or one exporter evaluation."""

    seconds: float
    ends: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        return self.ends - time.monotonic()


class _Attempt:
    """The connections one timed request uses, so that the watchdog can shut them when its time is up.

    A connection joins as its request starts (it may not be open yet: its
    socket is looked up when the time is up), and its socket joins again as
    the answer begins, since a connection that will close hands its socket to
    the response and forgets it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._sockets: list[socket.socket] = []
        self.expired = False

    def add(self, connection: Any) -> None:
        with self._lock:
            if connection not in self._connections:
                self._connections.append(connection)
            if connection.sock is not None:
                self._sockets.append(connection.sock)
            expired = self.expired
        if expired:
            self.expire()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = self._sockets + [c.sock for c in self._connections if c.sock is not None]
        for sock in sockets:
            shut(sock)


#: The attempt the current thread is making (requests are made in the thread that asks).
_CURRENT = threading.local()


@functools.cache
def _watched_pool(pool: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    """``pool`` whose connections join the current thread's :class:`_Attempt` as they connect, as each request
    starts and as its answer begins (kept connections are reused across requests, so joining at connect time
    alone would miss them)."""
    base: Any = pool.ConnectionCls

    def join(connection: Any) -> None:
        attempt = getattr(_CURRENT, "attempt", None)
        if attempt is not None:
            attempt.add(connection)

    def connect(self: Any) -> None:
        join(self)   # its socket is set before a proxy answers CONNECT, which it can drip line by line
        base.connect(self)

    def request(self: Any, *args: Any, **kwargs: Any) -> None:
        join(self)
        base.request(self, *args, **kwargs)

    def getresponse(self: Any, *args: Any, **kwargs: Any) -> Any:
        join(self)
        return base.getresponse(self, *args, **kwargs)

    connection = type(f"Watched{base.__name__}", (base,),
                      {"connect": connect, "request": request, "getresponse": getresponse})
    return type(f"Watched{pool.__name__}", (pool,), {"ConnectionCls": connection})


def _watch(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {scheme: _watched_pool(pool)
                                      for scheme, pool in manager.pool_classes_by_scheme.items()}
    return manager


class _Adapter(HTTPAdapter):
    """``requests``' adapter with no retries of its own (:func:`exchange` retries, within the deadline) and
    connections the watchdog can shut, proxied ones included."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _watch(super().proxy_manager_for(proxy, **proxy_kwargs))


def session_for(config: ConnectionConfig) -> requests.Session:
    """The session every read of Prometheus goes through: authentication, TLS and headers set once."""
    session = requests.Session()
    adapter = _Adapter()
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


# ---- one request, with retries, redirects and limits -----------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the server said, read whole (within the size limit)."""

    status: int
    content_type: str
    body: bytes = field(repr=False)
    #: Seconds its Retry-After header asked for (None: none, or not a delay).
    retry_after: float | None = None
    #: Why the retries stopped early, when they did (a Retry-After beyond the deadline).
    note: str = ""


class _Transient(Exception):
    """A failure worth another attempt (no answer, an answer broken off); carries the error to raise last."""

    def __init__(self, error: QueryError) -> None:
        super().__init__(str(error))
        self.error = error


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of ``url``; None when it has none that can be reached (no host, a port out of range:
    a Location header is the server's to write)."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        return None
    return (scheme, parts.hostname.lower(), port) if parts.hostname else None


def _shown_url(url: str) -> str:
    """``url`` without credentials or query, shortened: it came from a server and goes into a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "") + parts.path
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; anything else is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _too_large(base: str, limit: int) -> QueryError:
    return QueryError(QueryError.TOO_LARGE, f"Prometheus at {base} sent a response larger than {_size(limit)} "
                                            "(the limit, --max-response-bytes): not read")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def _read(response: requests.Response, limit: int, base: str) -> bytes:
    """The body, streamed and dropped as soon as it is longer than ``limit`` (after decompression)."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(base, limit)
    chunks = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise _too_large(base, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _attempt(session: requests.Session, config: ConnectionConfig, method: str, url: str,
             data: Mapping[str, str] | bytes | None, headers: Mapping[str, str], seconds: float) -> Answer:
    """One request (and the same-origin redirects it meets), all of it within ``seconds``.

    The watchdog shuts the connection when the time is up, however the server
    spends it: connecting, dripping its headers or its body a byte at a time.
    """
    base = config.url.rstrip("/")
    origin = _origin(base)
    attempt = _Attempt()
    key = WATCHDOG.arm(seconds, attempt.expire)
    _CURRENT.attempt = attempt
    started = time.monotonic()
    try:
        for _ in range(MAX_REDIRECTS + 1):
            left = max(0.001, seconds - (time.monotonic() - started))
            as_form = method == "POST" or not isinstance(data, Mapping)
            # verify is passed on purpose: left out, requests lets REQUESTS_CA_BUNDLE override the CA file.
            response = session.request(method, url, data=data if as_form else None,
                                       params=None if as_form else data, headers=dict(headers) or None,
                                       timeout=(left, left), stream=True, allow_redirects=False,
                                       verify=session.verify)
            try:
                location = response.headers.get("Location")
                if response.status_code in REDIRECT_STATUSES and location:
                    try:
                        target = urljoin(url, location)
                    except ValueError:   # not a URL at all ("http://[::1")
                        target = ""
                    if origin is None or _origin(target) != origin:
                        elsewhere = _shown_url(target) if target else "an address that is not a URL"
                        raise QueryError(QueryError.HTTP, (
                            f"Prometheus at {base} redirected to {elsewhere}, another address: not followed, so "
                            f"the credentials and headers meant for {_shown_url(base)} go nowhere else (point "
                            "--prometheus at the address that answers)"))
                    if response.status_code in (301, 302, 303) and method == "POST":
                        method = "GET"   # as a browser would; the form's fields move to the query string
                    url = target
                    continue
                body = _read(response, config.max_response_bytes, base)
                if attempt.expired:
                    # Cut short: what arrived is not the whole answer, whatever it looks like.
                    raise _Transient(_late(base, seconds))
                return Answer(response.status_code, response.headers.get("Content-Type", ""), body,
                              _retry_after(response.headers.get("Retry-After")))
            finally:
                response.close()
        raise QueryError(QueryError.HTTP, f"Prometheus at {base} redirected more than {MAX_REDIRECTS} times")
    except (QueryError, _Transient):
        raise
    except requests.exceptions.SSLError as exc:
        if attempt.expired:
            raise _Transient(_late(base, seconds)) from None
        raise QueryError(QueryError.UNREACHABLE, f"TLS with Prometheus at {base} failed: {_reason(exc)}") from None
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        # ValueError: requests reads a Location header even when not following it, and it may not be a URL.
        if attempt.expired or isinstance(exc, requests.exceptions.Timeout) or "timed out" in str(exc).lower():
            raise _Transient(_late(base, seconds)) from None
        if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                            urllib3.exceptions.HTTPError, OSError)):
            raise _Transient(QueryError(QueryError.UNREACHABLE,
                                        f"cannot reach Prometheus at {base}: {_reason(exc)}")) from None
        raise QueryError(QueryError.UNREACHABLE, f"request to {base} failed: {_reason(exc)}") from None
    finally:
        _CURRENT.attempt = None
        WATCHDOG.disarm(key)


def _late(base: str, seconds: float) -> QueryError:
    return QueryError(QueryError.UNREACHABLE, f"Prometheus at {base} did not answer within {seconds:g}s")


def _past(deadline: Deadline, base: str) -> QueryError:
    return QueryError(QueryError.DEADLINE, f"the deadline of {deadline.seconds:g}s for the whole run (--deadline) "
                                           f"passed before Prometheus at {base} answered")


def _backoff(config: ConnectionConfig, attempt: int) -> float:
    """Seconds before retry ``attempt + 1``: doubling each time (capped, so that a thousand retries with no
    backoff cannot overflow a float)."""
    return config.backoff_seconds * 2.0 ** min(attempt, 32)


def exchange(session: requests.Session, config: ConnectionConfig, method: str, url: str,
             data: Mapping[str, str] | bytes | None = None, headers: Mapping[str, str] | None = None,
             deadline: Deadline | None = None) -> Answer:
    """The server's answer to one request, retried on no answer, 429 and 5xx, all within ``deadline``.

    Each attempt has the timeout for the whole of it (not per read), and no
    more than what is left of the deadline. Between attempts it waits the
    exponential backoff, or what the server's Retry-After asks when it asks;
    a wait that would end past the deadline is not started. Raises
    :class:`QueryError` when there is no answer; an error status after the
    last attempt is returned, for the caller to put in its words.
    """
    base = config.url.rstrip("/")
    failure: Answer | QueryError | None = None
    for attempt in range(config.retries + 1):
        seconds = config.timeout_seconds
        if deadline is not None:
            left = deadline.left()
            if left <= 0:
                raise _past(deadline, base)
            seconds = min(seconds, left)
        try:
            answer = _attempt(session, config, method, url, data, headers or {}, seconds)
        except _Transient as exc:
            failure = exc.error
            if deadline is not None and seconds < config.timeout_seconds and deadline.left() <= 0:
                raise _past(deadline, base) from None
            wait = _backoff(config, attempt)
        else:
            if answer.status not in RETRY_STATUSES:
                return answer
            failure = answer
            wait = answer.retry_after if answer.retry_after is not None else _backoff(config, attempt)
        if attempt == config.retries:
            break
        if deadline is not None and wait >= deadline.left():
            if isinstance(failure, Answer) and failure.retry_after is not None:
                failure = replace(failure, note=f"it asked to be retried after {failure.retry_after:g}s, past "
                                                f"the deadline of {deadline.seconds:g}s for the whole run")
            break
        time.sleep(wait)
    if isinstance(failure, QueryError):
        raise failure
    assert failure is not None
    return failure


# ---- the query API ----------------------------------------------------------------------------------


class Client:
    """Instant queries at pinned times over one session, every answer checked before it is used.

    Every failure becomes a :class:`QueryError` with a kind and a message fit
    for a terminal; nothing here ever returns an empty result for an error.
    What it returns has the API's shape whatever the server sent: a list of
    ``{"metric": {name: value}, "value": (time, float)}`` (instant vectors and
    scalars) or ``{"metric": ..., "values": array of (time, float) rows}``
    (range vectors). Values are any float the API can spell, NaN and ±Inf
    included: whether one makes sense is the reader's judgement.
    """

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config
        self.session = session_for(config)
        self.queries = 0
        self._deadline = Deadline.after(config.run_seconds())

    @property
    def url(self) -> str:
        return self.config.url.rstrip("/")

    def start_run(self) -> None:
        """Start the deadline again: a long-lived client (the exporter's) has one per evaluation."""
        self._deadline = Deadline.after(self.config.run_seconds())

    def query(self, expr: str, at: float) -> list[dict]:
        """Vector or matrix result of ``expr`` evaluated at ``at`` (Unix seconds)."""
        self.queries += 1
        try:
            answer = exchange(self.session, self.config, "POST", f"{self.url}/api/v1/query",
                              {"query": expr, "time": f"{at:.3f}"}, deadline=self._deadline)
        except QueryError as exc:
            raise QueryError(exc.kind, str(exc), expr) from None
        if answer.status != 200:
            raise _status_error(self.url, answer, expr)
        return parse_answer(answer.body, self.url, expr)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict]:
        """Matrix result of ``expr`` from ``start`` to ``end`` every ``step`` seconds, with a deadline of its own
        (the web UI asks from request threads, beside the exporter's evaluations and their deadline)."""
        self.queries += 1
        try:
            answer = exchange(self.session, self.config, "POST", f"{self.url}/api/v1/query_range",
                              {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"},
                              deadline=Deadline.after(self.config.run_seconds()))
        except QueryError as exc:
            raise QueryError(exc.kind, str(exc), expr) from None
        if answer.status != 200:
            raise _status_error(self.url, answer, expr)
        return parse_answer(answer.body, self.url, expr)

    def close(self) -> None:
        self.session.close()


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()'\" ")[:200]


def _detail(body: bytes) -> str:
    """The API's own error message in an error answer, shortened (it comes from the server)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    detail = payload.get("error", "") if isinstance(payload, dict) else ""
    if not isinstance(detail, str):
        return ""
    return detail if len(detail) <= DETAIL_CHARS else detail[:DETAIL_CHARS - 3] + "..."


def _status_message(url: str, status: int, body: bytes) -> str:
    """A terminal-fit message for an error answer of the API (its JSON ``error``, else the status alone)."""
    detail = _detail(body)
    if status in (400, 422):
        return f"Prometheus rejected the query: {detail or 'HTTP ' + str(status)}"
    if status in (401, 403):
        return (f"Prometheus at {url} answered HTTP {status} {'Unauthorized' if status == 401 else 'Forbidden'}"
                + (f": {detail}" if detail else "") + " (the credentials were refused: check the bearer token, "
                "username and password, and the tenant header)")
    return f"Prometheus at {url} answered HTTP {status}" + (f": {detail}" if detail else "")


def _status_error(url: str, answer: Answer, expr: str) -> QueryError:
    kind = {400: QueryError.REJECTED, 422: QueryError.REJECTED, 401: QueryError.REFUSED,
            403: QueryError.REFUSED}.get(answer.status, QueryError.HTTP)
    message = _status_message(url, answer.status, answer.body)
    return QueryError(kind, message + (f" ({answer.note})" if answer.note else ""), expr)


# ---- the answer's shape ---------------------------------------------------------------------------


class _Shape(ValueError):
    """The answer is JSON, but not the query API's."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number(value: Any, what: str) -> float:
    """A sample's value or time as the API writes it (a string such as "1.5", "NaN", "+Inf"; or a number)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _Shape(f"{what} {_shown(value)} is not a number") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _Shape(f"{what} {_shown(value)} is out of range") from None
    raise _Shape(f"{what} {_shown(value)} is not a number")


def _labels(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        raise _Shape(f"a series is {_shown(item)}, not an object")
    metric = item.get("metric", {})
    if not isinstance(metric, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metric.items()):
        raise _Shape(f"a series' labels are {_shown(metric)}, not names and string values")
    return metric


def _pair(value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _Shape(f"a sample is {_shown(value)}, not a [time, value] pair")
    at = _number(value[0], "a sample's time")
    if not math.isfinite(at):
        raise _Shape(f"a sample's time is {_shown(value[0])}")
    return at, _number(value[1], "a sample's value")


def _vector(result: list) -> list[dict]:
    """An instant vector's series. An answer can hold every recorded series of the catalogue, so the usual
    shape is checked in a few operations per series and the label values all at once; anything else goes
    the long way, which names what is wrong."""
    out = [_instant(item) for item in result]
    values = itertools.chain.from_iterable(map(dict.values, (series["metric"] for series in out)))
    if not set(map(type, values)) <= {str}:   # (JSON's keys are always strings)
        for item in result:
            _labels(item)
    return out


def _instant(item: Any) -> dict:
    if type(item) is dict:
        metric, value = item.get("metric", {}), item.get("value")
        if type(metric) is dict and type(value) is list and len(value) == 2:
            at, text = value
            if type(text) is str and type(at) in (int, float):
                try:
                    number = float(text)
                except ValueError:
                    pass
                else:
                    if math.isfinite(at):
                        return {"metric": metric, "value": (float(at), number)}
    metric = _labels(item)
    return {"metric": metric, "value": _pair(item.get("value"))}


def _rows(values: Any) -> np.ndarray:
    """A range vector's samples as an (n, 2) float array, checked column by column (a series can hold
    hundreds of thousands of samples)."""
    if not isinstance(values, list):
        raise _Shape(f"a series' values are {_shown(values)}, not a list")
    if not values:
        return np.zeros((0, 2))
    try:
        cells = np.array(values, dtype=object)
    except ValueError:
        cells = np.zeros(0, dtype=object)
    if cells.ndim != 2 or cells.shape[1] != 2:
        raise _Shape("a series' values are not [time, value] pairs")
    if not set(map(type, cells[:, 0])) <= {int, float} or not set(map(type, cells[:, 1])) <= {str, int, float}:
        for value in values:
            _pair(value)   # names the first bad sample
    try:
        rows = cells.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        for value in values:
            _pair(value)
        raise _Shape("a series' values are not [time, value] pairs") from None
    if not np.isfinite(rows[:, 0]).all():
        raise _Shape("a sample's time is not a finite number")
    return rows


def _result(payload: Any, url: str) -> list[dict]:
    if not isinstance(payload, dict):
        raise _Shape(f"the body is {_shown(payload)}, not an object")
    status = payload.get("status")
    if status == "error":
        detail = payload.get("error")
        raise QueryError(QueryError.HTTP, f"Prometheus at {url} answered with an error"
                                          + (f": {detail[:DETAIL_CHARS]}" if isinstance(detail, str) else ""))
    if status != "success":
        raise _Shape(f'"status" is {_shown(status)}, not "success"')
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _Shape('it has no "data" object')
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [{"metric": {}, "value": _pair(result)}]
    if kind == "string":
        raise _Shape("the query's result is a string, not numbers")
    if kind not in ("vector", "matrix"):
        raise _Shape(f"data.resultType is {_shown(kind)}")
    if not isinstance(result, list):
        raise _Shape(f"data.result is {_shown(result)}, not a list")
    if kind == "vector":
        return _vector(result)
    return [{"metric": _labels(item), "values": _rows(item.get("values", []))} for item in result]


def parse_answer(body: bytes, url: str, expr: str = "") -> list[dict]:
    """The result of a successful query's body, in the shape :class:`Client` promises, or a MALFORMED error.

    The cyclic collector is paused meanwhile: an answer is hundreds of thousands of small containers without
    a cycle among them, and its passes over them took longer than the parsing.
    """
    with paused_gc():
        return _parse(body, url, expr)


def _parse(body: bytes, url: str, expr: str) -> list[dict]:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # A 200 whose body is not JSON (a proxy's HTML page, a truncated body; or nested past the parser's
        # recursion limit, which the stdlib parser reports as a RecursionError once it has unwound).
        raise QueryError(QueryError.MALFORMED, f"Prometheus at {url} returned a response that is not its API's "
                                               "JSON", expr) from None
    try:
        return _result(payload, url)
    except _Shape as exc:
        raise QueryError(QueryError.MALFORMED, f"Prometheus at {url} returned JSON that is not its query API's "
                                               f"answer: {exc}", expr) from None
    except QueryError as exc:
        raise QueryError(exc.kind, str(exc), expr) from None


# ---- a relay for promtool ------------------------------------------------------------------------

#: Proxy settings a child process must not inherit: the relay is its only proxy, for every host.
_PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
                    "NO_PROXY", "no_proxy")


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
            answer = exchange(self._session, self.config, method, url, body or None,
                              {"Content-Type": content_type} if content_type else None,
                              Deadline.after(self.config.run_seconds()))
        except QueryError as exc:
            reason = str(exc)
        else:
            if answer.status >= 400:
                self.failures.append(_status_message(base, answer.status, answer.body)
                                     + (f" ({answer.note})" if answer.note else ""))
            return answer.status, answer.content_type or "application/json", answer.body
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
