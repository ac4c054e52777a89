"""The checks the hooks run around a handshake, and the delivery of pin events.

:func:`precheck` runs right before every handshake (the context, its strength, the side, the
server name); :func:`postcheck` right after it (the full pin check on the verified chain, with
:func:`certpin.check`); :func:`on_verify_error` when OpenSSL itself rejected the certificate. Events
for the injected reporter are built here (:func:`build_event`, while the connection is open) and
delivered after the connection is closed (:func:`deliver`).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from datetime import UTC, datetime

from ..errors import PinMismatchError, PinValidationError, escape, message_of
from ..events import PinEvent, PinEventKind
from ..verify import Outcome, Verdict, check
from .base import PinningContextBase, check_strength, failure
from .chain import der_list, hostname_of, port_of, served_chain, verified_certificates

__all__ = [
    "build_event",
    "context_of",
    "deliver",
    "deliver_attached",
    "on_verify_error",
    "postcheck",
    "precheck",
]

log = logging.getLogger("certpin")

def context_of(conn: ssl.SSLSocket | ssl.SSLObject) -> PinningContextBase:
    ctx = conn.context
    if not isinstance(ctx, PinningContextBase):
        raise failure(
            hostname_of(conn),
            "the connection's context was replaced by one that does not enforce pins",
        )
    return ctx


def precheck(conn: ssl.SSLSocket | ssl.SSLObject) -> PinningContextBase:
    """Right before every handshake: the context, its strength, the side and the server name.

    OpenSSL copies ``verify_mode`` and the host name to verify into a connection when it is
    created, so the context's strength is checked then (:meth:`PinningContextBase.wrap_socket`,
    ``wrap_bio``) and here, at every handshake, which catches a connection created behind the
    wrappers' back (``ssl.SSLContext.wrap_socket(ctx, ...)``) on a context weakened through the
    C-level descriptors. A change to the context after this point cannot weaken the
    connection: its settings were copied already.

    Raises:
        PinValidationError: the connection's context is not a pinning context, was weakened,
            the connection is server side, or it has no server name.
    """
    ctx = context_of(conn)
    hostname = hostname_of(conn)
    if conn.server_side:
        raise failure(hostname, "a pinning context cannot be used on the server side")
    if not hostname:
        raise failure(hostname, "no server_hostname was given, so there is no host to check")
    check_strength(ctx, hostname)
    return ctx


def build_event(
    ctx: PinningContextBase,
    kind: PinEventKind,
    conn: ssl.SSLSocket | ssl.SSLObject,
    *,
    hostname: str,
    verdict: Verdict | None,
    verified: tuple[bytes, ...],
    error: str | None,
) -> PinEvent | None:
    """The event for the reporter (None without one); read while the connection is open."""
    if ctx.reporter is None:
        return None
    try:
        return PinEvent(
            kind=kind,
            hostname=hostname,
            port=port_of(conn),
            verdict=verdict,
            served_chain=served_chain(conn),
            verified_chain=verified,
            error=error,
            time=datetime.now(UTC),
        )
    except Exception:  # reporting must never break (or weaken) the connection
        log.exception("certpin: could not build the pin event; not reported")
        return None


def deliver(ctx: PinningContextBase, event: PinEvent | None) -> None:
    """Hand ``event`` to the reporter; its exceptions are logged and ignored."""
    reporter = ctx.reporter
    if event is None or reporter is None:
        return
    try:
        reporter(event)
    except Exception:
        log.exception("certpin: the pin event reporter raised; ignored")


def deliver_attached(ctx: PinningContextBase, exc: BaseException) -> None:
    deliver(ctx, getattr(exc, "certpin_event", None))


def postcheck(conn: ssl.SSLSocket | ssl.SSLObject, ctx: PinningContextBase) -> None:
    """The full pin check right after a handshake: :func:`certpin.verify.check`.

    A pass is remembered on ``ctx`` (:meth:`certpin.tls.passes.RememberedPasses.remember`), in
    the cache read before the policy, so that a policy swap (:mod:`certpin.tls.swap`) never
    leaves a pass judged under the old policy where the new one reads.

    Raises:
        PinValidationError: no server name, a resumed session, no verified chain, or the
            check could not run.
        PinMismatchError: the verdict failed (with the reporter's event attached to it).
    """
    hostname = hostname_of(conn)
    if not hostname:
        raise failure(hostname, "no server_hostname was given, so there is no host to check")
    if conn.session_reused:
        raise failure(
            hostname,
            "the TLS session was resumed (or set up from a pre-shared key); OpenSSL keeps no "
            "verified chain then, so the pins cannot be checked (certpin fails closed)",
        )
    # The cache first, then the policy (certpin.tls.swap swaps them in the other order): a pass
    # is remembered only in the cache read before the policy that judged it.
    passes = ctx._certpin_passes
    policy = ctx._certpin_policy
    certs = verified_certificates(conn)
    chain = tuple(der_list(certs))
    if not chain:
        raise failure(hostname, "OpenSSL returned no verified certificate chain")
    try:
        verdict = check(policy, hostname, chain)
    except Exception as exc:
        raise failure(hostname, f"the pin check could not run: {message_of(exc)}") from exc
    if verdict.outcome == Outcome.REPORT_ONLY_MISMATCH:
        deliver(ctx, build_event(
            ctx, PinEventKind.REPORT_ONLY_MISMATCH, conn, hostname=verdict.hostname,
            verdict=verdict, verified=chain, error=verdict.message or None,
        ))
    if verdict.passed:
        passes.remember(hostname, verdict, certs)
        return
    message = verdict.message or f"Certificate pinning failure for {escape(hostname)}"
    expected = verdict.pin_set.all_pins if verdict.pin_set is not None else ()
    error = PinMismatchError(
        message,
        hostname=verdict.hostname,
        expected=expected,
        chain=verdict.chain or chain,
    )
    # Delivered by the caller once the connection is closed (close, report, raise).
    error.certpin_event = build_event(  # type: ignore[attr-defined]
        ctx, PinEventKind.PIN_MISMATCH, conn, hostname=verdict.hostname, verdict=verdict,
        verified=chain, error=message,
    )
    raise error


def on_verify_error(
    conn: ssl.SSLSocket | ssl.SSLObject, ctx: PinningContextBase, exc: BaseException
) -> None:
    """OpenSSL rejected the certificate: attach a report event for pinned hosts.

    The caller closes the connection, delivers the event, then re-raises ``exc``.
    """
    hostname = hostname_of(conn)
    if isinstance(exc, PinValidationError) or not ctx.policy.is_pinned(hostname):
        return
    event = build_event(
        ctx, PinEventKind.CERTIFICATE_INVALID, conn, hostname=hostname, verdict=None, verified=(),
        error=message_of(exc),
    )
    with contextlib.suppress(AttributeError, TypeError):
        exc.certpin_event = event  # type: ignore[attr-defined]
