"""Delivery of pin violation reports: a bounded queue, one daemon thread, deduplication, rate
limits, and the HTTP POST; read by the reporter (:func:`certpin.reporter.make_reporter`).

The report itself is built by :mod:`certpin.report`. Nothing here runs at import: the sender
thread starts, and the interpreter-exit flush and the fork handler are registered, when the first
report is queued.

Delivery guarantees (best effort, at most once):

* The connection never waits: the reporter builds the report (microseconds) and puts it on a
  bounded queue (:data:`QUEUE_SIZE` items) read by one daemon thread, started on first use and
  shared by every reporter of the process. A full queue drops the report with a log line.
  asyncio applications are fine with it: the thread never touches the event loop.
* Each POST has a total deadline of :data:`TIMEOUT` seconds (connect, TLS, send, status line);
  the body is capped at :data:`MAX_BODY` bytes (chains are cut to their leaf, then the report is
  dropped); the request target is the URI's path and query (a collector may want a key
  there; logs never show it); no cookies, no ``Authorization`` (userinfo in a report URI is
  ignored), no redirects
  (only the status line is read; a 3xx is logged as a failure), no proxy (``HTTPS_PROXY`` and
  friends are not consulted), ``Connection: close``. One sender thread means a slow collector
  holds the others back by up to :data:`TIMEOUT` a report (they wait in the bounded queue).
* A report identical to one already queued for the same URI in the last :data:`DEDUP_SECONDS`
  seconds (24 h) is not sent again; the key is the report without ``date-time``. The table keeps
  :data:`DEDUP_SIZE` entries (oldest evicted). A delivery that fails forgets its key, so a later
  identical report may be tried again.
* Each report URI has a token bucket of :data:`RATE_BURST` reports refilled at
  :data:`RATE_PER_MINUTE` a minute, so an attacker who varies chains to defeat deduplication
  cannot flood the collector or the queue.
* An ``https`` report URI is reached over a fresh, fully validated context from
  :func:`certpin.tls.pinning_context` with the same policy and trust anchors
  (``cafile``/``capath``/``cadata``; a ``base=`` context's own store and client certificate are
  not used) and ``reporter=None``: a report to a pinned host is pin-validated (RFC 7469
  section 2.1.4), and a failure there never produces a report (no loops).
* Deduplication and rate limits are process-wide (shared by every reporter).
* Collector down, slow, or answering 500: one (rate-limited) log line on logger ``certpin``;
  nothing reaches the application and nothing grows without bound. Report URIs are logged
  without userinfo, query or fragment.
* At interpreter exit, pending reports get at most :data:`EXIT_FLUSH_SECONDS` seconds; the
  daemon thread never keeps the process alive.
"""


from __future__ import annotations

import atexit
import http.client
import logging
import os
import queue
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import escape
from .report_throttle import (
    DEDUP_SECONDS,
    DEDUP_SIZE,
    LOG_INTERVAL,
    RATE_BURST,
    RATE_PER_MINUTE,
    RATE_TABLE_SIZE,
    Buckets,
    Quiet,
)

__all__ = [
    "EXIT_FLUSH_SECONDS",
    "QUEUE_SIZE",
    "TIMEOUT",
    "Delivery",
    "Sender",
    "default_sender",
    "flush",
    "redact_uri",
]

logger = logging.getLogger("certpin")


#: Capacity of the delivery queue (reports waiting for the sender thread).
QUEUE_SIZE = 100


#: Total deadline of one POST, seconds (connect, TLS handshake, send, read the status line).
TIMEOUT = 5.0


#: How long interpreter exit waits for pending reports, seconds.
EXIT_FLUSH_SECONDS = 1.0


#: The longest status line read from a collector, bytes.
_MAX_STATUS_LINE = 1024


def redact_uri(uri: str) -> str:
    """A report URI safe to log: scheme, host, port and path; no userinfo, query or fragment.

    Args:
        uri: a report URI, possibly ``https://user:secret@host/path?token=...``.

    Returns:
        e.g. ``"https://host/path"``, with control characters escaped; ``"<invalid URI>"`` if
        it cannot be parsed.
    """
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URI>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return escape(f"{parts.scheme}://{netloc}{parts.path}")


@dataclass(frozen=True)
class Delivery:
    uri: str
    body: bytes
    key: str
    context: Callable[[], ssl.SSLContext]


class _StatusError(Exception):
    pass


class Sender:
    """One bounded queue and one lazily started daemon thread that POSTs reports."""

    def __init__(
        self,
        *,
        queue_size: int = QUEUE_SIZE,
        timeout: float = TIMEOUT,
        dedup_seconds: float = DEDUP_SECONDS,
        dedup_size: int = DEDUP_SIZE,
        rate_burst: int = RATE_BURST,
        rate_per_minute: float = RATE_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.dedup_seconds = dedup_seconds
        self.dedup_size = dedup_size
        self.clock = clock
        self._queue: queue.Queue[Delivery] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._buckets = Buckets(rate_burst, rate_per_minute, RATE_TABLE_SIZE, clock)
        self._quiet = Quiet(LOG_INTERVAL, RATE_TABLE_SIZE, clock)

    # -- called on the connection's thread: never blocks, never raises -----------------------

    def submit(self, delivery: Delivery) -> bool:
        """Queue ``delivery`` unless it is a duplicate, over the URI's rate or the queue is full."""
        now = self.clock()
        shown = redact_uri(delivery.uri)
        with self._lock:
            seen = self._seen.get(delivery.key)
            if seen is not None and now - seen < self.dedup_seconds:
                logger.debug("certpin: identical report to %s already sent, skipped", shown)
                return False
        if not self._buckets.take(delivery.uri):
            self._log("rate", delivery.uri, "certpin: report rate limit reached for %s, "
                      "report dropped", shown)
            return False
        with self._lock:
            seen = self._seen.get(delivery.key)  # again: a twin may have been queued meanwhile
            if seen is not None and now - seen < self.dedup_seconds:
                return False
            try:
                self._queue.put_nowait(delivery)
            except queue.Full:
                full = True
            else:
                full = False
                self._pending += 1
                self._seen[delivery.key] = now
                self._seen.move_to_end(delivery.key)
                while len(self._seen) > self.dedup_size:
                    self._seen.popitem(last=False)
                self._start_locked()
        if full:
            self._log("full", None, "certpin: report queue full (%d), report to %s dropped",
                      self._queue.maxsize, shown)
            return False
        return True

    def _start_locked(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="certpin-report-sender", daemon=True
            )
            self._thread.start()

    def _log(self, what: str, uri: str | None, message: str, *args: object) -> None:
        if not _Default.exiting and self._quiet.allow((what, uri)):
            logger.warning(message, *args)

    # -- the sender thread --------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the queue to drain; True if it did."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def _run(self) -> None:
        while True:
            delivery = self._queue.get()
            try:
                self._deliver(delivery)
            except Exception as exc:  # a failed report must never kill the sender
                with self._lock:
                    self._seen.pop(delivery.key, None)
                first_line = (str(exc).splitlines() or [""])[0][:200]
                self._log("fail", delivery.uri, "certpin: violation report to %s failed: %s",
                          redact_uri(delivery.uri), escape(f"{type(exc).__name__}: {first_line}"))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        parts = urlsplit(delivery.uri)
        deadline = time.monotonic() + self.timeout
        host = parts.hostname
        if not host:
            raise ValueError("report URI has no host")
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"report URI scheme {parts.scheme!r} is not http or https")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # http.client formats the request; the socket is ours so that every step shares one
        # deadline (CPython applies a socket's timeout to a whole handshake or sendall call)
        conn = http.client.HTTPConnection(host, port)
        try:
            sock = socket.create_connection((host, port), timeout=_left(deadline))
            conn.sock = sock
            if parts.scheme == "https":
                context = delivery.context()
                _tighten(sock, deadline)
                conn.sock = sock = context.wrap_socket(sock, server_hostname=host)
            _tighten(sock, deadline)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.putrequest("POST", target, skip_accept_encoding=True)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(delivery.body)))
            conn.putheader("Connection", "close")
            conn.putheader("User-Agent", "certpin-report")
            conn.endheaders(delivery.body)
            status = _read_status(sock, deadline)
        finally:
            conn.close()
        if not 200 <= status < 300:
            raise _StatusError(f"collector answered HTTP {status}")


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("report deadline passed")
    return left


def _tighten(sock: socket.socket, deadline: float) -> None:
    sock.settimeout(_left(deadline))


def _read_status(sock: socket.socket, deadline: float) -> int:
    """Read the response status line within ``deadline``; each recv gets the time left."""
    data = b""
    while b"\n" not in data:
        if len(data) >= _MAX_STATUS_LINE:
            raise _StatusError("collector status line too long")
        _tighten(sock, deadline)
        chunk = sock.recv(_MAX_STATUS_LINE - len(data))
        if not chunk:
            raise _StatusError("collector closed the connection without an answer")
        data += chunk
    line = data.split(b"\n", 1)[0].decode("latin-1").strip()
    version, _, rest = line.partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/") or not code.isdigit():
        raise _StatusError(f"collector answered {line[:60]!r}")
    return int(code)


class _Default:
    """The process-wide sender (one queue, one thread), created on first use."""

    lock = threading.Lock()
    sender: Sender | None = None
    #: set at interpreter exit: the sender thread then logs nothing more (the logging
    #: handlers may already be closed while the daemon thread still runs)
    exiting = False
    #: the exit flush and the fork handler are registered (by the first sender)
    hooks_registered = False


def default_sender() -> Sender:
    with _Default.lock:
        if _Default.sender is None:
            _register_process_hooks()
            _Default.sender = Sender()
        return _Default.sender


def _register_process_hooks() -> None:
    """The exit flush and the fork handler, once, when the first sender starts (never at import:
    importing certpin registers nothing)."""
    if _Default.hooks_registered:
        return
    _Default.hooks_registered = True
    atexit.register(_flush_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork)


def _after_fork() -> None:  # the child has no sender thread: start afresh
    _Default.lock = threading.Lock()
    _Default.sender = None


def flush(timeout: float = 5.0) -> bool:
    """Wait until every queued report has been delivered or has failed.

    Args:
        timeout: the longest wait, seconds.

    Returns:
        ``True`` if the queue drained in time (or nothing was ever queued), else ``False``.
        Never raises.
    """
    sender = _Default.sender
    return True if sender is None else sender.flush(timeout)


def _flush_at_exit() -> None:
    flush(EXIT_FLUSH_SECONDS)
    _Default.exiting = True
