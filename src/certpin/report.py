"""Pin violation reports (RFC 7469 section 3) and their non-blocking delivery.

The TLS layer (:func:`certpin.tls.pinning_context`) hands every pin event of a pinned host to an
injected ``reporter(PinEvent)`` callable. :func:`make_reporter` builds that callable: it turns the
event into a :class:`ViolationReport`, logs report-only mismatches, calls the application's
``on_report`` callback and queues one JSON POST per report URI of the host's pin set.

Report body (``ViolationReport.to_json()``), RFC 7469 section 3 fields plus two of ours::

    {
      "date-time": "2026-11-29T16:05:00Z",        # RFC 3339 / ISO 8601, UTC
      "hostname": "pinned.test",                  # the host the connection was for
      "port": 443,                                # int, or null on the SSLObject (asyncio) path
      "effective-expiration-date": null,          # the pin set's expiry (UTC) or null if none
      "include-subdomains": false,
      "noted-hostname": "pinned.test",            # the policy pattern that matched the host
      "served-certificate-chain": ["-----BEGIN CERTIFICATE-----\\n..."],   # as sent, PEM
      "validated-certificate-chain": ["-----BEGIN CERTIFICATE-----\\n..."], # as verified, PEM
      "known-pins": ["pin-sha256=\\"<b64>\\"", "cert-sha256=\\"<b64>\\""],
      "certpin-version": "0.1.0",
      "validation-result": "pin-mismatch"         # or "report-only-mismatch", "certificate-invalid"
    }

``known-pins`` lists every pin of the pin set, backup pins included, in the HPKP directive form
``pin-sha256="<b64>"`` (RFC 7469 section 2.1.1). HPKP has no certificate pins; certpin writes
them as ``cert-sha256="<b64>"`` (SHA-256 of the DER certificate), a token collectors that only
know HPKP can ignore. A report holds no request data: no path, query, header or cookie ever
reaches the TLS layer.

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
import hashlib
import http.client
import json
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
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .errors import PolicyError, escape
from .events import PinEvent
from .hostnames import normalize_host
from .instants import iso_z
from .pins import Pin
from .policy import PinPolicy, PinSet

__all__ = [
    "DEDUP_SECONDS",
    "MAX_BODY",
    "QUEUE_SIZE",
    "RATE_BURST",
    "RATE_PER_MINUTE",
    "TIMEOUT",
    "ViolationReport",
    "build_report",
    "flush",
    "make_reporter",
    "redact_uri",
]

logger = logging.getLogger("certpin")

#: Capacity of the delivery queue (reports waiting for the sender thread).
QUEUE_SIZE = 100
#: Total deadline of one POST, seconds (connect, TLS handshake, send, read the status line).
TIMEOUT = 5.0
#: Largest report body POSTed, bytes.
MAX_BODY = 64 * 1024
#: An identical report goes to the same URI at most once in this many seconds.
DEDUP_SECONDS = 24 * 60 * 60.0
#: Entries of the deduplication table (oldest evicted first).
DEDUP_SIZE = 1024
#: Token bucket per report URI: burst size and refill rate (reports a minute).
RATE_BURST = 10
RATE_PER_MINUTE = 10.0
#: Report URIs tracked by the rate limiter (least recently used evicted).
RATE_TABLE_SIZE = 256
#: How long a report-only warning (per host and result) or a delivery error (per URI) stays quiet.
LOG_INTERVAL = 60.0
#: How long interpreter exit waits for pending reports, seconds.
EXIT_FLUSH_SECONDS = 1.0
#: The longest status line read from a collector, bytes.
_MAX_STATUS_LINE = 1024

KIND_PIN_MISMATCH = "pin-mismatch"
KIND_REPORT_ONLY = "report-only-mismatch"
KIND_CERTIFICATE_INVALID = "certificate-invalid"


# --------------------------------------------------------------------------------------------
# The report


def _known_pin(pin: Pin) -> str:
    if pin.kind == "spki":
        return pin.hpkp
    return f'cert-sha256="{pin.base64}"'


@dataclass(frozen=True)
class ViolationReport:
    """One pin violation report: the RFC 7469 section 3 fields plus certpin's two.

    Attributes:
        date_time: when the failure happened (aware, UTC).
        hostname: the host name the connection was for (normalised: lower case, A-labels).
        port: the server port, or ``None`` where the TLS layer cannot know it (the
            ``SSLObject``/``wrap_bio`` path used by asyncio has no peer address).
        effective_expiration_date: the pin set's expiry (aware, UTC) or ``None`` if it has none.
        include_subdomains: the pin set's ``include_subdomains``.
        noted_hostname: the policy pattern that matched ``hostname`` (e.g. ``"*.example.com"``);
            the host name itself if no pin set matched.
        served_certificate_chain: the chain the server sent, PEM strings, leaf first.
        validated_certificate_chain: the chain that was verified, PEM strings, leaf first
            (empty when validation failed before a chain was built).
        known_pins: the pin set's pins (backup pins included): ``pin-sha256="<b64>"`` for SPKI
            pins, ``cert-sha256="<b64>"`` for certificate pins.
        validation_result: ``"pin-mismatch"`` (enforced, the connection failed),
            ``"report-only-mismatch"`` (the connection went on) or ``"certificate-invalid"``
            (chain or host name validation failed before the pin check).
        certpin_version: the version of certpin that made the report.
    """

    date_time: datetime
    hostname: str
    port: int | None
    effective_expiration_date: datetime | None
    include_subdomains: bool
    noted_hostname: str
    served_certificate_chain: tuple[str, ...]
    validated_certificate_chain: tuple[str, ...]
    known_pins: tuple[str, ...]
    validation_result: str
    certpin_version: str

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict with exactly the hyphenated RFC 7469 keys.

        Returns:
            ``{"date-time": str, "hostname": str, "port": int | None,
            "effective-expiration-date": str | None, "include-subdomains": bool,
            "noted-hostname": str, "served-certificate-chain": [PEM str],
            "validated-certificate-chain": [PEM str], "known-pins": [str],
            "certpin-version": str, "validation-result": str}``; times are ISO 8601 UTC
            strings ending in ``Z``.
        """
        expiry = self.effective_expiration_date
        return {
            "date-time": iso_z(self.date_time, timespec="seconds"),
            "hostname": self.hostname,
            "port": self.port,
            "effective-expiration-date": (
                iso_z(expiry, timespec="seconds") if expiry is not None else None
            ),
            "include-subdomains": self.include_subdomains,
            "noted-hostname": self.noted_hostname,
            "served-certificate-chain": list(self.served_certificate_chain),
            "validated-certificate-chain": list(self.validated_certificate_chain),
            "known-pins": list(self.known_pins),
            "certpin-version": self.certpin_version,
            "validation-result": self.validation_result,
        }


def _pem(chain: tuple[bytes, ...] | list[bytes]) -> tuple[str, ...]:
    return tuple(ssl.DER_cert_to_PEM_cert(der) for der in chain)


def _pin_set_of(event: PinEvent, policy: PinPolicy) -> tuple[str, PinSet] | None:
    verdict = event.verdict
    if verdict is not None and verdict.pin_set is not None:
        return (verdict.pattern or event.hostname, verdict.pin_set)
    try:
        return policy.match(event.hostname)
    except ValueError:  # PolicyError: a host name that cannot be normalised
        return None


def build_report(event: PinEvent, policy: PinPolicy) -> ViolationReport:
    """Build the violation report for one pin event.

    Args:
        event: what the TLS layer saw (:class:`certpin.verify.PinEvent`): ``kind``, host, port,
            verdict, served and verified chains (DER, leaf first), time.
        policy: the policy of the context; its pin set for the host gives ``noted-hostname``,
            ``known-pins``, ``include-subdomains`` and ``effective-expiration-date`` (the
            verdict's pin set is used when the event carries one).

    Returns:
        A :class:`ViolationReport`. If no pin set matches the host (it should not happen: the TLS
        layer reports pinned hosts only) ``known-pins`` is empty and ``noted-hostname`` is the
        host. Never raises for a well-formed event.
    """
    from . import __version__

    matched = _pin_set_of(event, policy)
    pattern: str | None
    if matched is not None:
        pattern, pin_set = matched
        known = tuple(_known_pin(p) for p in pin_set.all_pins)
        include_subdomains = pin_set.include_subdomains
        expires = pin_set.expires
    else:
        pattern, known, include_subdomains, expires = None, (), False, None
    try:
        hostname = normalize_host(event.hostname)
    except ValueError:  # PolicyError: keep the text as given (JSON escapes it)
        hostname = event.hostname
    if pattern is None:
        pattern = hostname
    verified = event.verified_chain
    if not verified and event.verdict is not None:
        verified = event.verdict.chain
    return ViolationReport(
        date_time=event.time,
        hostname=hostname,
        port=event.port,
        effective_expiration_date=expires,
        include_subdomains=include_subdomains,
        noted_hostname=pattern,
        served_certificate_chain=_pem(event.served_chain),
        validated_certificate_chain=_pem(verified),
        known_pins=known,
        validation_result=event.kind,
        certpin_version=__version__,
    )


def _body(report: ViolationReport, max_body: int) -> bytes | None:
    """The JSON body, chains cut to their leaf if too large; ``None`` if still over ``max_body``."""
    doc = report.to_json()
    body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    if len(body) <= max_body:
        return body
    for key in ("served-certificate-chain", "validated-certificate-chain"):
        doc[key] = doc[key][:1]
        body = json.dumps(doc, separators=(",", ":")).encode("utf-8")
        if len(body) <= max_body:
            return body
    return None


def _dedup_key(uri: str, report: ViolationReport) -> str:
    doc = report.to_json()
    del doc["date-time"]
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{uri}\n{canonical}".encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# Small bounded helpers


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


class _Quiet:
    """At most one event per key and ``interval`` seconds; bounded table (LRU eviction)."""

    def __init__(self, interval: float, size: int, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.size = size
        self.clock = clock
        self._last: OrderedDict[Any, float] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: Any) -> bool:
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._last[key] = now
            self._last.move_to_end(key)
            while len(self._last) > self.size:
                self._last.popitem(last=False)
            return True


class _Buckets:
    """A token bucket per key: ``burst`` tokens, refilled at ``per_minute`` a minute."""

    def __init__(self, burst: int, per_minute: float, size: int,
                 clock: Callable[[], float]) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.size = size
        self.clock = clock
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, stamp = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            ok = tokens >= 1.0
            if ok:
                tokens -= 1.0
            self._state[key] = (tokens, now)
            self._state.move_to_end(key)
            while len(self._state) > self.size:
                self._state.popitem(last=False)
            return ok


# --------------------------------------------------------------------------------------------
# Delivery


@dataclass(frozen=True)
class _Delivery:
    uri: str
    body: bytes
    key: str
    context: Callable[[], ssl.SSLContext]


class _StatusError(Exception):
    pass


class _Sender:
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
        self._queue: queue.Queue[_Delivery] = queue.Queue(queue_size)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._buckets = _Buckets(rate_burst, rate_per_minute, RATE_TABLE_SIZE, clock)
        self._quiet = _Quiet(LOG_INTERVAL, RATE_TABLE_SIZE, clock)

    # -- called on the connection's thread: never blocks, never raises -----------------------

    def submit(self, delivery: _Delivery) -> bool:
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

    def _deliver(self, delivery: _Delivery) -> None:
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
    sender: _Sender | None = None
    #: set at interpreter exit: the sender thread then logs nothing more (the logging
    #: handlers may already be closed while the daemon thread still runs)
    exiting = False


def _default_sender() -> _Sender:
    with _Default.lock:
        if _Default.sender is None:
            _Default.sender = _Sender()
        return _Default.sender


def _after_fork() -> None:  # the child has no sender thread: start afresh
    _Default.lock = threading.Lock()
    _Default.sender = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


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


@atexit.register
def _flush_at_exit() -> None:
    flush(EXIT_FLUSH_SECONDS)
    _Default.exiting = True


# --------------------------------------------------------------------------------------------
# The reporter


#: Rate limit of the reporters' own log lines (report-only warnings, callback errors), shared by
#: every reporter of the process so that a context per request still logs once a minute a host.
_REPORTER_LOG = _Quiet(LOG_INTERVAL, RATE_TABLE_SIZE, time.monotonic)


class _Reporter:
    def __init__(
        self,
        policy: PinPolicy,
        on_report: Callable[[ViolationReport], None] | None,
        context: Callable[[], ssl.SSLContext],
        sender: _Sender | None,
        max_body: int,
    ) -> None:
        self.policy = policy
        self.on_report = on_report
        self._context_factory = context
        self._context: ssl.SSLContext | None = None
        self._context_lock = threading.Lock()
        self._sender = sender
        self.max_body = max_body
        self._quiet = _REPORTER_LOG

    def _report_context(self) -> ssl.SSLContext:
        # Built once, on the sender thread, on the first https report.
        with self._context_lock:
            if self._context is None:
                self._context = self._context_factory()
            return self._context

    def __call__(self, event: PinEvent) -> None:
        try:
            self._handle(event)
        except Exception:  # a reporter must never break (or slow) the connection
            if self._quiet.allow(("internal", None)):
                logger.exception("certpin: building a violation report failed")

    def _handle(self, event: PinEvent) -> None:
        report = build_report(event, self.policy)
        host = escape(event.hostname)
        if event.kind == KIND_REPORT_ONLY and self._quiet.allow((event.hostname, event.kind)):
            logger.warning(
                "certpin: report-only pin mismatch for %s (connection allowed); "
                "no pin of %s matched the verified chain",
                host, escape(report.noted_hostname),
            )
        if self.on_report is not None:
            try:
                self.on_report(report)
            except Exception as exc:
                if self._quiet.allow(("on_report", id(self.on_report))):
                    logger.warning("certpin: on_report callback raised %s",
                                   escape(f"{type(exc).__name__}: {exc}"))
        matched = _pin_set_of(event, self.policy)
        uris = matched[1].report_uris if matched is not None else ()
        if not uris:
            return
        body = _body(report, self.max_body)
        if body is None:
            if self._quiet.allow(("too-big", event.hostname)):
                logger.warning("certpin: violation report for %s exceeds %d bytes, dropped",
                               host, self.max_body)
            return
        sender = self._sender or _default_sender()
        for uri in uris:
            sender.submit(_Delivery(uri, body, _dedup_key(uri, report), self._report_context))


def make_reporter(
    policy: PinPolicy,
    on_report: Callable[[ViolationReport], None] | None = None,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    max_body: int = MAX_BODY,
) -> Callable[[PinEvent], None] | None:
    """Build the ``reporter`` that :func:`certpin.tls.pinning_context` calls on pin events.

    Args:
        policy: the policy of the context; each event's pin set gives the report URIs.
        on_report: called with the :class:`ViolationReport` of every event (not deduplicated
            nor rate-limited: that applies to POSTs only), on the thread that ran the
            handshake, before the failing connection raises or the report-only one goes on:
            keep it short. Exceptions it raises are logged (rate-limited) and never reach the
            connection.
        cafile, capath, cadata: trust anchors for ``https`` report URIs (as for
            :func:`ssl.create_default_context`; the default store if all are ``None``). The
            report context is ``tls.pinning_context(policy, ..., reporter=None)``: validated,
            pin-checked for pinned report hosts, never itself reporting (RFC 7469 section 2.1.4).
        max_body: the largest body POSTed, bytes (default 64 KiB).

    Returns:
        A callable ``reporter(event) -> None`` that never raises and never blocks (see the
        module docstring for delivery), or ``None`` when there is nothing to do: no pin set
        has report URIs or is report-only (``enforce=False``), and ``on_report`` is ``None``.
        Report-only pin sets get a reporter even without URIs so that their mismatches are
        logged (warning on logger ``certpin``, at most once a minute per host).

    Raises:
        PolicyError: ``policy`` is not a :class:`certpin.PinPolicy`.
    """
    if not isinstance(policy, PinPolicy):
        raise PolicyError(f"policy must be a certpin.PinPolicy, not {type(policy).__name__}")
    pin_sets = list(policy.pin_sets.values())
    wanted = on_report is not None or any(s.report_uris or not s.enforce for s in pin_sets)
    if not wanted:
        return None

    def context() -> ssl.SSLContext:
        from .tls import pinning_context

        return pinning_context(policy, cafile=cafile, capath=capath, cadata=cadata,
                               reporter=None)

    return _Reporter(policy, on_report, context, None, max_body)
