"""The reporter the TLS layer calls with each pin event: :func:`make_reporter`.

It turns the event into a :class:`certpin.report.ViolationReport`, logs report-only mismatches
(quietly: one line per host and result a minute), calls the application's ``on_report`` callback,
and queues one POST per report URI of the host's pin set on the process-wide sender
(:mod:`certpin.report_delivery`).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

from .errors import PolicyError, escape
from .events import PinEvent, PinEventKind
from .policy import PinPolicy
from .report import MAX_BODY, ViolationReport, build_report, pin_set_of, report_body
from .report_delivery import Delivery, Sender, default_sender
from .report_throttle import LOG_INTERVAL, RATE_TABLE_SIZE, Quiet, dedup_key

__all__ = ["make_reporter"]

logger = logging.getLogger("certpin")

#: Rate limit of the reporters' own log lines (report-only warnings, callback errors), shared by
#: every reporter of the process so that a context per request still logs once a minute a host.
REPORTER_LOG = Quiet(LOG_INTERVAL, RATE_TABLE_SIZE, time.monotonic)


class _Reporter:
    def __init__(
        self,
        policy: PinPolicy,
        on_report: Callable[[ViolationReport], None] | None,
        context: Callable[[], ssl.SSLContext],
        sender: Sender | None,
        max_body: int,
    ) -> None:
        self.policy = policy
        self.on_report = on_report
        self._context_factory = context
        self._context: ssl.SSLContext | None = None
        self._context_lock = threading.Lock()
        self._sender = sender
        self.max_body = max_body
        self._quiet = REPORTER_LOG

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
        if event.kind == PinEventKind.REPORT_ONLY_MISMATCH and self._quiet.allow(
            (event.hostname, event.kind)
        ):
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
        matched = pin_set_of(event, self.policy)
        uris = matched[1].report_uris if matched is not None else ()
        if not uris:
            return
        body = report_body(report, self.max_body)
        if body is None:
            if self._quiet.allow(("too-big", event.hostname)):
                logger.warning("certpin: violation report for %s exceeds %d bytes, dropped",
                               host, self.max_body)
            return
        sender = self._sender or default_sender()
        for uri in uris:
            sender.submit(Delivery(uri, body, dedup_key(uri, report), self._report_context))


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
