"""The TLS glue: a pinning :class:`ssl.SSLContext` and access to the verified chain.

This is the only module of certpin that touches :mod:`ssl` internals. It builds on the pure core
(:mod:`certpin.policy`, :mod:`certpin.verify`) and takes its reporter as an injected callable.

How pins are enforced
---------------------
:func:`pinning_context` returns an :class:`ssl.SSLContext` (a :class:`PinningSSLContext`) whose
sockets (:class:`PinnedSSLSocket`, the ``wrap_socket`` path used by ``http.client``, urllib3,
requests, httpx, websockets' sync client) and memory-BIO objects (:class:`PinnedSSLObject`, the
``wrap_bio`` path used by asyncio, anyio, aiohttp, httpx's async client) run, in
``do_handshake``:

1. right before OpenSSL's handshake (the connection already exists, and OpenSSL copied the
   context's settings into it when it was created): a re-check that the context is still
   ``CERT_REQUIRED`` with ``check_hostname`` on and ``OP_NO_RENEGOTIATION`` set (fail closed
   otherwise: under ``CERT_NONE`` OpenSSL still builds a chain, and a forged leaf that names the
   pinned intermediate as its issuer would "match"), that it is a client connection and that a
   server name was given;
2. right after the handshake and certificate validation succeed, before any application byte
   is sent or read: a check that the session was not resumed, then :func:`certpin.verify.check`
   on the chain OpenSSL **verified** (:func:`verified_chain`), never on the chain the server
   sent (an attacker can append the pinned certificate to what it sends, CVE-2016-2402 in
   another library).

A pass is remembered per context and host name, as the OpenSSL certificate object that matched
and its position in the verified chain (a host that no pattern covers: the name alone). The next
handshake to that host passes without converting the chain to DER or looking at pins when the
verified chain has an equal certificate (OpenSSL's ``X509_cmp``: same SHA-1 of the whole
certificate and same TBSCertificate, so the same SubjectPublicKeyInfo) at that position, the
session is fresh and the pin set has not expired; anything else gets the full check. Failures,
report-only mismatches and expired pin sets are never remembered.

On failure, in this order: the socket is shut down and closed (an :class:`ssl.SSLObject` is
marked failed: every later ``do_handshake``/``read``/``write`` raises, and asyncio closes the
transport); the injected reporter, if any, gets a :class:`certpin.verify.PinEvent`
(``pin-mismatch``; ``report-only-mismatch`` for report-only pin sets, which pass;
``certificate-invalid`` when OpenSSL itself rejected the certificate of a pinned host); then
:class:`certpin.PinMismatchError` is raised (a :class:`ssl.SSLCertVerificationError`, so every
client reports it as a certificate error). For a context that was weakened, a resumed session or
a missing server name, its base class :class:`certpin.PinValidationError` is raised instead.

The context's strength is checked when a connection is created (``wrap_socket`` with
``do_handshake_on_connect=False``, ``wrap_bio``, ``connect``/``connect_ex`` of a socket wrapped
before it was connected: OpenSSL copies ``verify_mode`` and the host to verify into the
connection at that moment) and at every handshake (step 1), which also catches connections
created by calling ``ssl.SSLContext.wrap_socket`` on it directly.

A client that skips ``do_handshake()`` (``do_handshake_on_connect=False``, then ``sendall``) does
not escape: ``read``, ``write``, ``recv``, ``recv_into``, ``send`` and ``sendall`` run the handshake
and the check first, so OpenSSL never handshakes implicitly inside ``SSL_write``; on a socket
that has no TLS connection yet they raise :class:`certpin.PinValidationError` rather than send
or read in clear text.

Known limits (by design, fail closed)
-------------------------------------
* **Session resumption.** OpenSSL keeps no verified chain for a resumed session (the chain is
  not stored with the session), so a resumed connection (``session=`` passed to ``wrap_socket``
  or ``wrap_bio``, ``session_reused`` true) always fails with :class:`PinValidationError`,
  whatever the host. The clients certpin supports never resume automatically.
* **Client certificates (mTLS)** are sent during the handshake, before any pin check can run;
  on TLS 1.2 the client certificate travels in clear text. Prefer TLS 1.3
  (``ctx.minimum_version = ssl.TLSVersion.TLSv1_3``) for pinned mTLS hosts.
* **Python 3.13's VERIFY_X509_PARTIAL_CHAIN.** ``ssl.create_default_context()`` on 3.13+ sets
  ``VERIFY_X509_PARTIAL_CHAIN``: when an intermediate certificate is itself in the trust store,
  OpenSSL stops the verified chain at that intermediate, so the root does not appear in the
  verified chain and a pin of the root alone does not match. Pin the leaf or intermediate key
  as well (a backup pin), or clear the flag on a ``base`` context if you must pin roots only.
* Code running in the same process can always defeat pinning (for instance by swapping
  ``ssl.SSLContext`` methods); the hook only guarantees that the documented ways of weakening a
  context (``verify_mode``, ``check_hostname``, ``options``, ``sslsocket_class``) raise, and that
  a context weakened behind its back through the C-level descriptors fails closed: at the
  creation of every connection (also through ``ssl.SSLContext.wrap_socket``/``wrap_bio`` called
  directly, which read ``sslsocket_class``/``sslobject_class``) and at every handshake. Another
  thread weakening the context between those checks and OpenSSL's copy of its settings is such
  in-process code.
"""

from __future__ import annotations

import _ssl
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from .errors import PinMismatchError, PinValidationError, PolicyError, escape
from .policy import PinPolicy
from .verify import Outcome, PinEvent, Verdict, check

__all__ = [
    "PinnedSSLObject",
    "PinnedSSLSocket",
    "PinningSSLContext",
    "Reporter",
    "pinning_context",
    "verified_chain",
]

log = logging.getLogger("certpin")

#: What the TLS layer hands a pin event to (see :mod:`certpin.report`).
Reporter = Callable[[PinEvent], None]

# Used to turn 3.11/3.12 ``_ssl.Certificate`` objects into DER bytes.
_ENCODING_DER: Final[int] = int(getattr(_ssl, "ENCODING_DER", 2))

#: Host names whose passing verdict is remembered per context (see
#: :meth:`PinningSSLContext._certpin_remember`); the cache starts over when full.
VERDICT_CACHE_SIZE: Final = 256

#: Certificates remembered per host name as having matched one of its pins.
MATCHED_CERTS_PER_HOST: Final = 8

_UNCHECKED: Final = 0
_PASSED: Final = 1
_FAILED: Final = 2

# The C-level descriptors under ssl.SSLContext's Python properties: reading through them cannot
# be fooled by an override further down the class hierarchy.
_CBase: Any = ssl.SSLContext.__mro__[1]


_get_verify_mode: Any = _CBase.verify_mode.__get__
_get_check_hostname: Any = _CBase.check_hostname.__get__
_get_options: Any = _CBase.options.__get__
# Plain ints: comparing with the IntEnum/IntFlag members runs Python-level enum code, and this
# runs on every handshake.
_CERT_REQUIRED: Final = int(ssl.CERT_REQUIRED)
_OP_NO_RENEGOTIATION: Final = int(ssl.OP_NO_RENEGOTIATION)


def _real_verify_mode(ctx: ssl.SSLContext) -> int:
    return int(_get_verify_mode(ctx))


def _real_options(ctx: ssl.SSLContext) -> int:
    return int(_get_options(ctx))


def _der_list(chain: Any) -> list[bytes]:
    if not chain:
        return []
    out: list[bytes] = []
    for cert in chain:
        if isinstance(cert, bytes | bytearray):
            out.append(bytes(cert))
        else:  # _ssl.Certificate (3.10-3.12)
            out.append(bytes(cert.public_bytes(_ENCODING_DER)))
    return out


def _verified_certificates(conn: ssl.SSLSocket | ssl.SSLObject) -> tuple[Any, ...]:
    """The chain OpenSSL verified for ``conn`` as OpenSSL's own objects, leaf first; ``()`` if none.

    These are ``_ssl.Certificate`` objects (from the C method ``conn._sslobj.get_verified_chain()``
    that 3.10+ have; 3.13's public ``get_verified_chain()`` wraps it and converts to DER), or
    DER bytes from the public method should a future Python drop the private one. Two
    ``_ssl.Certificate`` objects compare equal through OpenSSL's ``X509_cmp``: same SHA-1 of the
    whole certificate and same TBSCertificate encoding, hence the same SubjectPublicKeyInfo.
    """
    inner = getattr(conn, "_sslobj", None)
    if inner is None:  # not connected, closed, or unwrapped
        return ()
    try:
        getter = inner.get_verified_chain
    except AttributeError:  # pragma: no cover - a future Python without the private method
        getter = getattr(conn, "get_verified_chain", None)
        if getter is None:
            return ()
    try:
        return tuple(getter() or ())
    except (ValueError, OSError):
        return ()


def verified_chain(conn: ssl.SSLSocket | ssl.SSLObject) -> list[bytes]:
    """Return the chain OpenSSL verified for ``conn``, as DER certificates, leaf first.

    Python 3.13 added a public ``get_verified_chain()`` returning DER bytes; it wraps the C
    method ``conn._sslobj.get_verified_chain()`` that 3.10-3.12 already have, which returns
    ``_ssl.Certificate`` objects (or None). That C method is called directly on every version
    and its certificates turned into DER here; the public method is the fallback should a
    future Python drop the private one.

    Args:
        conn: a handshaken :class:`ssl.SSLSocket` or :class:`ssl.SSLObject` (client side).

    Returns:
        ``list[bytes]``: DER certificates from the leaf to the trust anchor (or to the trusted
        certificate where OpenSSL stopped, see ``VERIFY_X509_PARTIAL_CHAIN`` in the module
        docstring). ``[]`` when there is none: no handshake yet, a closed socket, a resumed
        session, or a handshake made without verification. Callers must treat ``[]`` as a
        failure, never as "nothing to check".
    """
    try:
        return _der_list(_verified_certificates(conn))
    except (ValueError, OSError):  # pragma: no cover - OpenSSL could not encode a certificate
        return []


def _served_chain(conn: ssl.SSLSocket | ssl.SSLObject) -> tuple[bytes, ...]:
    """The chain the server sent (for violation reports only: never matched against pins)."""
    inner = getattr(conn, "_sslobj", None)
    if inner is None:
        return ()
    getter = getattr(conn, "get_unverified_chain", None) or getattr(
        inner, "get_unverified_chain", None
    )
    if getter is None:  # pragma: no cover
        return ()
    try:
        return tuple(_der_list(getter()))
    except (ValueError, OSError):
        return ()


def _hostname_of(conn: ssl.SSLSocket | ssl.SSLObject) -> str:
    """The host name OpenSSL checks the certificate against (and sent as SNI).

    Read from the C-level connection once there is one: ``SSLSocket.server_hostname`` is a plain
    Python attribute that code could reassign after the handshake, which would move the pin
    lookup to another name than the one OpenSSL verified. Before the connection exists (a socket
    not yet connected) the attribute is all there is.
    """
    inner = getattr(conn, "_sslobj", None)
    name = inner.server_hostname if inner is not None else conn.server_hostname
    if isinstance(name, bytes):  # pragma: no cover - ssl always stores str
        name = name.decode("ascii", "replace")
    return name or ""


def _port_of(conn: ssl.SSLSocket | ssl.SSLObject) -> int | None:
    if isinstance(conn, socket.socket):
        with contextlib.suppress(OSError, IndexError, TypeError):
            return int(conn.getpeername()[1])
    return None


def _failure(hostname: str | None, reason: str) -> PinValidationError:
    """The error for a failure other than a pin mismatch; ``hostname`` None: not known yet."""
    shown = "a new connection" if hostname is None else escape(hostname or "<no server name>")
    return PinValidationError(f"Certificate pinning failure for {shown}: {reason}")


def _context_of(conn: ssl.SSLSocket | ssl.SSLObject) -> PinningSSLContext:
    ctx = conn.context
    if not isinstance(ctx, PinningSSLContext):
        raise _failure(
            _hostname_of(conn),
            "the connection's context was replaced by one that does not enforce pins",
        )
    return ctx


def _check_strength(ctx: ssl.SSLContext, hostname: str | None) -> None:
    """Fail closed unless ``ctx`` verifies certificates and host names and refuses renegotiation."""
    if _get_verify_mode(ctx) != _CERT_REQUIRED:
        raise _failure(
            hostname,
            "the pinning context's verify_mode was lowered below CERT_REQUIRED; "
            "pins are only matched on a chain OpenSSL verified",
        )
    if not _get_check_hostname(ctx):
        raise _failure(
            hostname,
            "check_hostname was turned off on the pinning context; "
            "pins are only matched after the host name was verified",
        )
    if not _get_options(ctx) & _OP_NO_RENEGOTIATION:
        raise _failure(hostname, "OP_NO_RENEGOTIATION was cleared on the pinning context")


def _precheck(conn: ssl.SSLSocket | ssl.SSLObject) -> PinningSSLContext:
    """Right before every handshake: the context, its strength, the side and the server name.

    OpenSSL copies ``verify_mode`` and the host name to verify into a connection when it is
    created, so the context's strength is checked then (:meth:`PinningSSLContext.wrap_socket`,
    ``wrap_bio``) and here, at every handshake, which catches a connection created behind the
    wrappers' back (``ssl.SSLContext.wrap_socket(ctx, ...)``) on a context weakened through the
    C-level descriptors. A change to the context after this point cannot weaken the
    connection: its settings were copied already.

    Raises:
        PinValidationError: the connection's context is not a pinning context, was weakened,
            the connection is server side, or it has no server name.
    """
    ctx = _context_of(conn)
    hostname = _hostname_of(conn)
    if conn.server_side:
        raise _failure(hostname, "a pinning context cannot be used on the server side")
    if not hostname:
        raise _failure(hostname, "no server_hostname was given, so there is no host to check")
    _check_strength(ctx, hostname)
    return ctx


def _event(
    ctx: PinningSSLContext,
    kind: str,
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
            port=_port_of(conn),
            verdict=verdict,
            served_chain=_served_chain(conn),
            verified_chain=verified,
            error=error,
            time=datetime.now(UTC),
        )
    except Exception:  # reporting must never break (or weaken) the connection
        log.exception("certpin: could not build the pin event; not reported")
        return None


def _deliver(ctx: PinningSSLContext, event: PinEvent | None) -> None:
    """Hand ``event`` to the reporter; its exceptions are logged and ignored."""
    reporter = ctx.reporter
    if event is None or reporter is None:
        return
    try:
        reporter(event)
    except Exception:
        log.exception("certpin: the pin event reporter raised; ignored")


def _deliver_attached(ctx: PinningSSLContext, exc: BaseException) -> None:
    _deliver(ctx, getattr(exc, "certpin_event", None))


#: What PinningSSLContext remembers per host name (see PinningSSLContext._certpin_remember).
_Remembered = tuple[float | None, tuple[tuple[int, Any], ...] | None]


def _remembered_pass_covers(inner: Any, remembered: _Remembered) -> bool:
    """Right after a handshake: True when a pass remembered for the host covers the connection.

    The fast path of the pin check, for a host name whose pins already passed on this context
    (:meth:`PinningSSLContext._certpin_remember`), after :func:`_precheck`'s checks passed just
    before the handshake. True when the session was not resumed, the remembered pass has not
    expired, the verified chain is not empty and (for a pinned host) a certificate that matched
    before is at the same position of the verified chain. ``_ssl.Certificate`` objects compare
    with OpenSSL's ``X509_cmp`` (SHA-1 of the whole certificate, then the TBSCertificate bytes),
    so equal means the same certificate with the same SubjectPublicKeyInfo: the same pins.
    False sends the connection to the full check (:func:`_postcheck`), which decides, reports
    and raises. The session check is defence in depth: OpenSSL keeps no verified chain for a
    resumed session (tests/test_attacks_stdlib.py checks that), so the empty chain would send
    it to the full check anyway.

    :class:`PinnedSSLObject` calls this; :meth:`PinnedSSLSocket.do_handshake` runs the same
    steps inline (a call right after a handshake costs microseconds, see there).

    Args:
        inner: the connection's ``_ssl._SSLSocket`` (``conn._sslobj``).
        remembered: ``(valid until in time.time() seconds or None, ((position, certificate),
            ...) or None for a host no pattern covers)``.
    """
    until, matches = remembered
    if inner.session_reused or (until is not None and until <= time.time()):
        return False
    try:
        chain = inner.get_verified_chain()
    except AttributeError:  # pragma: no cover - a future Python without it: the full check
        return False
    if not chain:
        return False
    if matches is None:  # no pattern covers the host
        return True
    for position, cert in matches:  # noqa: SIM110 (a loop: any() and its generator cost more)
        if position < len(chain) and chain[position] == cert:
            return True
    return False


def _postcheck(conn: ssl.SSLSocket | ssl.SSLObject, ctx: PinningSSLContext) -> None:
    """The full pin check right after a handshake: :func:`certpin.verify.check`.

    A pass is remembered on ``ctx`` (:meth:`PinningSSLContext._certpin_remember`).

    Raises:
        PinValidationError: no server name, a resumed session, no verified chain, or the
            check could not run.
        PinMismatchError: the verdict failed (with the reporter's event attached to it).
    """
    hostname = _hostname_of(conn)
    if not hostname:
        raise _failure(hostname, "no server_hostname was given, so there is no host to check")
    if conn.session_reused:
        raise _failure(
            hostname,
            "the TLS session was resumed (or set up from a pre-shared key); OpenSSL keeps no "
            "verified chain then, so the pins cannot be checked (certpin fails closed)",
        )
    certs = _verified_certificates(conn)
    chain = tuple(_der_list(certs))
    if not chain:
        raise _failure(hostname, "OpenSSL returned no verified certificate chain")
    try:
        verdict = check(ctx._certpin_policy, hostname, chain)
    except Exception as exc:
        raise _failure(hostname, f"the pin check could not run: {escape(str(exc))}") from exc
    if verdict.outcome == Outcome.REPORT_ONLY_MISMATCH:
        _deliver(ctx, _event(
            ctx, "report-only-mismatch", conn, hostname=verdict.hostname, verdict=verdict,
            verified=chain, error=verdict.message or None,
        ))
    if verdict.passed:
        ctx._certpin_remember(hostname, verdict, certs)
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
    error.certpin_event = _event(  # type: ignore[attr-defined]
        ctx, "pin-mismatch", conn, hostname=verdict.hostname, verdict=verdict,
        verified=chain, error=message,
    )
    raise error


def _on_verify_error(
    conn: ssl.SSLSocket | ssl.SSLObject, ctx: PinningSSLContext, exc: BaseException
) -> None:
    """OpenSSL rejected the certificate: attach a report event for pinned hosts.

    The caller closes the connection, delivers the event, then re-raises ``exc``.
    """
    hostname = _hostname_of(conn)
    if isinstance(exc, PinValidationError) or not ctx.policy.is_pinned(hostname):
        return
    event = _event(
        ctx, "certificate-invalid", conn, hostname=hostname, verdict=None, verified=(),
        error=escape(str(exc)),
    )
    with contextlib.suppress(AttributeError, TypeError):
        exc.certpin_event = event  # type: ignore[attr-defined]


class PinnedSSLSocket(ssl.SSLSocket):
    """An :class:`ssl.SSLSocket` that checks pins right after its handshake.

    Created by :meth:`PinningSSLContext.wrap_socket`; never instantiate it directly.
    ``read``/``write``/``recv``/``recv_into``/``send``/``sendall`` complete the handshake and the
    pin check first when the socket was created with ``do_handshake_on_connect=False``.
    """

    _certpin_state: int = _UNCHECKED

    def do_handshake(self, block: bool = False) -> None:
        """Handshake (OpenSSL validates the certificate), then check the pins.

        Raises:
            PinMismatchError: no pin of the host's pin set is in the verified chain; the
                socket is closed first.
            PinValidationError: the context was weakened, the session was resumed, there is
                no server name, or a previous check failed; the socket is closed first.
            ssl.SSLCertVerificationError: OpenSSL rejected the certificate (reported as
                ``certificate-invalid`` for pinned hosts).
            ssl.SSLWantReadError, ssl.SSLWantWriteError: non-blocking socket, call again.
        """
        state = self._certpin_state
        if state == _PASSED:
            super().do_handshake(block)
            return
        # Everything _precheck checks, as one expression (this runs for every connection);
        # on any doubt _precheck decides, and raises.
        ctx: Any = self._context  # type: ignore[attr-defined]
        inner: Any = self._sslobj  # type: ignore[attr-defined]
        name = inner.server_hostname if inner is not None else None
        if (
            state == _FAILED
            or not name
            or self.server_side
            or not isinstance(ctx, PinningSSLContext)
            or _get_verify_mode(ctx) != _CERT_REQUIRED
            or not _get_check_hostname(ctx)
            or not _get_options(ctx) & _OP_NO_RENEGOTIATION
        ):
            try:
                self._certpin_guard()
                ctx = _precheck(self)
            except PinValidationError:
                self._certpin_fail()
                raise
            remembered = None
        else:
            remembered = ctx._certpin_passes.get(name)
        try:
            if block or inner is None or not self._connected:  # type: ignore[attr-defined]
                super().do_handshake(block)
            else:
                # ssl.SSLSocket.do_handshake for a connected socket and block=False: its
                # settimeout(timeout) afterwards only re-applies the same timeout (a system
                # call), and this runs for every connection.
                inner.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            _on_verify_error(self, ctx, exc)
            self._certpin_fail()
            _deliver_attached(ctx, exc)
            raise
        try:
            # _remembered_pass_covers, inline: right after the handshake each call and
            # attribute access costs several times what it costs in a warm loop (measured with
            # bench/handshake.py), and this is the path of every connection after the first.
            # Keep the two in step; tests/test_tls.py runs the fast path through both.
            if remembered is not None and not inner.session_reused:
                until, matches = remembered
                if until is None or until > time.time():
                    try:
                        chain = inner.get_verified_chain()
                    except AttributeError:  # pragma: no cover - a future Python: full check
                        chain = None
                    if chain:
                        if matches is None:  # no pattern covers the host
                            self._certpin_state = _PASSED
                            return
                        for position, cert in matches:
                            if position < len(chain) and chain[position] == cert:
                                self._certpin_state = _PASSED
                                return
            _postcheck(self, ctx)
        except BaseException as exc:
            self._certpin_fail()
            _deliver_attached(ctx, exc)
            raise
        self._certpin_state = _PASSED

    def _certpin_guard(self) -> None:
        if self._certpin_state == _FAILED:
            raise _failure(
                _hostname_of(self), "this connection already failed its pin check and is closed"
            )

    def _certpin_fail(self) -> None:
        self._certpin_state = _FAILED
        with contextlib.suppress(OSError):
            self.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.close()

    def _real_connect(self, addr: Any, connect_ex: bool) -> int | None:
        """What ``connect()`` and ``connect_ex()`` run (the stdlib's, 3.11 to 3.13), for a socket
        wrapped before it was connected.

        OpenSSL's connection is created here (copying the context's settings), so the context's
        strength is checked first, as at every other creation. Checked here rather than in
        ``connect``/``connect_ex``, so calling ``ssl.SSLSocket.connect(sock, ...)`` directly
        does not skip it (tests/test_attacks_stdlib.py covers the four ways).

        Raises:
            PinValidationError: the context was weakened through the C-level descriptors.
        """
        _check_strength(self._context, _hostname_of(self))  # type: ignore[attr-defined]
        return super()._real_connect(addr, connect_ex)  # type: ignore[misc,no-any-return]

    def _certpin_ensure(self) -> None:
        if self._certpin_state == _PASSED:
            return
        self._certpin_guard()
        if self._sslobj is None:  # type: ignore[attr-defined]
            # No TLS connection, and no pin check ever passed.
            try:
                self.getpeername()
            except OSError:
                # Not connected (or closed): the stdlib raises ENOTCONN/EBADF as usual, which
                # ssl.SSLSocket._create relies on (its recv(1) probe); nothing can be sent.
                return
            # TCP connected, no TLS: left over after connect()'s handshake failed (a timeout:
            # the stdlib drops the TLS connection and keeps TCP), or connected behind the
            # SSLSocket's back (socket.socket.connect(sock, ...)). The stdlib would send and
            # read in clear text.
            raise _failure(
                _hostname_of(self),
                "the socket has no TLS connection yet (connect it with connect() first): "
                "nothing is sent or read before the pin check",
            )
        self.do_handshake()

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._certpin_ensure()
        return super().read(len, buffer)

    def write(self, data: Any) -> int:
        self._certpin_ensure()
        return super().write(data)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._certpin_ensure()
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._certpin_ensure()
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        self._certpin_ensure()
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._certpin_ensure()
        super().sendall(data, flags)

    # Every other way ssl.SSLSocket has to move bytes (issue 10, item 6). Without a TLS
    # connection the stdlib hands sendto/recvfrom/recvfrom_into/sendfile to the raw socket:
    # after a handshake that timed out inside connect() (TCP kept, TLS dropped) they sent and
    # read clear text. tests/test_clients_differential.py enumerates ssl.SSLSocket's methods so
    # that a new byte mover in a future Python fails a test until it is listed here.

    def sendto(self, data: Any, flags_or_addr: Any, addr: Any = None) -> int:
        self._certpin_ensure()
        return super().sendto(data, flags_or_addr, addr)

    def recvfrom(self, buflen: int = 1024, flags: int = 0) -> tuple[bytes, Any]:
        self._certpin_ensure()
        return super().recvfrom(buflen, flags)

    def recvfrom_into(
        self, buffer: Any, nbytes: int | None = None, flags: int = 0
    ) -> tuple[int, Any]:
        self._certpin_ensure()
        return super().recvfrom_into(buffer, nbytes, flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self._certpin_ensure()
        return super().sendfile(file, offset, count)

    def _sendfile_use_sendfile(self, file: Any, offset: int = 0, count: Any = None) -> int:
        # os.sendfile() on the descriptor would bypass TLS: always copy through send().
        return self._sendfile_use_send(file, offset, count)  # type: ignore[attr-defined,no-any-return]

    def sendmsg(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"sendmsg not allowed on instances of {type(self).__name__}")

    def sendmsg_afalg(self, *args: Any, **kwargs: Any) -> int:
        # socket.socket's, not overridden by ssl.SSLSocket: it writes to the descriptor
        # directly, outside TLS, even after the handshake.
        raise NotImplementedError(
            f"sendmsg_afalg not allowed on instances of {type(self).__name__}"
        )

    def recvmsg(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"recvmsg not allowed on instances of {type(self).__name__}")

    def recvmsg_into(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"recvmsg_into not allowed on instances of {type(self).__name__}"
        )


class PinnedSSLObject(ssl.SSLObject):
    """An :class:`ssl.SSLObject` (memory BIO, asyncio) that checks pins after its handshake.

    asyncio's ``SSLProtocol`` calls :meth:`do_handshake` until it stops raising
    ``SSLWantReadError``; the pin check runs on the call that completes the handshake, and its
    exception (an ``ssl.SSLError``) makes asyncio fail the connection and raise it from
    ``open_connection``/``create_connection`` before any buffered write is sent.
    """

    _certpin_state: int = _UNCHECKED
    _certpin_error: PinValidationError | None = None

    def do_handshake(self) -> None:
        """Handshake, then check the pins; same exceptions as :meth:`PinnedSSLSocket.do_handshake`.

        After a failure the object refuses every further ``read``/``write``/``do_handshake``.
        """
        if self._certpin_state == _PASSED:
            super().do_handshake()
            return
        try:
            self._certpin_guard()
            ctx = _precheck(self)
        except PinValidationError:
            self._certpin_state = _FAILED
            raise
        inner: Any = self._sslobj  # type: ignore[attr-defined]
        remembered = ctx._certpin_passes.get(inner.server_hostname)
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            _on_verify_error(self, ctx, exc)
            self._certpin_state = _FAILED
            _deliver_attached(ctx, exc)
            raise
        try:
            if remembered is None or not _remembered_pass_covers(inner, remembered):
                _postcheck(self, ctx)
        except BaseException as exc:
            self._certpin_state = _FAILED
            _deliver_attached(ctx, exc)
            raise
        self._certpin_state = _PASSED

    def _certpin_guard(self) -> None:
        if self._certpin_state == _FAILED:
            if self._certpin_error is not None:
                raise self._certpin_error
            raise _failure(
                _hostname_of(self), "this connection already failed its pin check and is closed"
            )

    def _certpin_ensure(self) -> None:
        if self._certpin_state != _PASSED:
            self._certpin_guard()
            self.do_handshake()

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._certpin_ensure()
        return super().read(len, buffer)

    def write(self, data: Any) -> int:
        self._certpin_ensure()
        return super().write(data)


class PinningSSLContext(ssl.SSLContext):
    """A client :class:`ssl.SSLContext` that enforces a :class:`certpin.PinPolicy`.

    Build it with :func:`pinning_context` (or :func:`certpin.create_ssl_context`), not directly.
    It behaves like any client context (load a client certificate, set ALPN, ciphers, minimum
    version) except that it refuses to be weakened:

    * ``verify_mode`` can only be ``CERT_REQUIRED`` and ``check_hostname`` only ``True``
      (assigning the same value again is allowed: urllib3 does that);
    * ``options`` must keep ``OP_NO_RENEGOTIATION``;
    * ``sslsocket_class``/``sslobject_class`` are fixed.

    Each of these raises :class:`certpin.PolicyError`.

    Attributes:
        policy: the :class:`certpin.PinPolicy` enforced.
        reporter: the injected ``Callable[[PinEvent], None]`` or None.
    """

    _certpin_policy: PinPolicy
    _certpin_reporter: Reporter | None
    #: host name -> (valid until in time.time() seconds or None for ever; the (position,
    #: certificate) pairs of the verified chains that matched its pins, or None for a host no
    #: pattern covers)
    _certpin_passes: dict[str, _Remembered]

    def _certpin_remember(self, hostname: str, verdict: Verdict, certs: tuple[Any, ...]) -> None:
        """Remember a passing verdict that only time can change (used by ``_postcheck``).

        A ``matched`` verdict depends only on (policy, host name, verified chain) and the policy
        is immutable; so later connections to ``hostname`` whose verified chain has, at the same
        position, the certificate that matched (``certs[verdict.matched_position]``, an
        ``_ssl.Certificate``) pass without converting the chain to DER and computing pins,
        until the pin set's ``expires``. A ``not-pinned`` verdict depends on the host name
        alone. Failures, report-only mismatches and expired pin sets are never remembered:
        they are checked (and reported) every time. At most :data:`VERDICT_CACHE_SIZE` host
        names and :data:`MATCHED_CERTS_PER_HOST` certificates per host name.

        Args:
            hostname: the connection's server name, as OpenSSL holds it.
            verdict: the passing :class:`certpin.verify.Verdict` for it.
            certs: the verified chain as returned by ``_verified_certificates``.
        """
        passes = self._certpin_passes
        entry: _Remembered
        if verdict.outcome == Outcome.NOT_PINNED:
            entry = (None, None)
        elif verdict.outcome == Outcome.MATCHED and verdict.matched_position is not None:
            position = verdict.matched_position
            pin_set = verdict.pin_set
            expires = pin_set.expires if pin_set is not None else None
            known = passes.get(hostname)
            kept = known[1] if known is not None and known[1] is not None else ()
            match = (position, certs[position])
            if match in kept:
                return
            entry = (
                None if expires is None else expires.timestamp(),
                (*kept[-(MATCHED_CERTS_PER_HOST - 1) :], match),
            )
        else:
            return
        if len(passes) >= VERDICT_CACHE_SIZE and hostname not in passes:
            passes.clear()
        passes[hostname] = entry

    @property
    def policy(self) -> PinPolicy:
        return self._certpin_policy

    @property
    def reporter(self) -> Reporter | None:
        return self._certpin_reporter

    @property
    def sslsocket_class(self) -> type[ssl.SSLSocket]:
        """:class:`PinnedSSLSocket`; cannot be replaced.

        ``ssl.SSLContext.wrap_socket`` reads it right before it creates a connection, when OpenSSL
        copies the context's settings into the connection, so a connection created by calling
        ``ssl.SSLContext.wrap_socket(ctx, ...)`` directly (past :meth:`wrap_socket`) also gets
        the strength check at creation: a context weakened through the C-level descriptors and
        restored before the handshake cannot leave a weak connection behind.

        Raises:
            PinValidationError: the context was weakened through the C-level descriptors.
        """
        _check_strength(self, None)
        return PinnedSSLSocket

    @sslsocket_class.setter
    def sslsocket_class(self, value: type[ssl.SSLSocket]) -> None:
        raise PolicyError("the socket class of a pinning context cannot be replaced")

    @property
    def sslobject_class(self) -> type[ssl.SSLObject]:
        """:class:`PinnedSSLObject`; cannot be replaced. Checks the context like
        :attr:`sslsocket_class` (``ssl.SSLContext.wrap_bio`` reads it at creation).

        Raises:
            PinValidationError: the context was weakened through the C-level descriptors.
        """
        _check_strength(self, None)
        return PinnedSSLObject

    @sslobject_class.setter
    def sslobject_class(self, value: type[ssl.SSLObject]) -> None:
        raise PolicyError("the SSLObject class of a pinning context cannot be replaced")

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        return ssl.VerifyMode(_real_verify_mode(self))

    @verify_mode.setter
    def verify_mode(self, value: int) -> None:
        if value != ssl.CERT_REQUIRED:
            raise PolicyError(
                f"cannot set verify_mode to {value!r} on a pinning context: pins are only "
                "matched on a chain OpenSSL verified, so it stays CERT_REQUIRED"
            )
        _CBase.verify_mode.__set__(self, value)

    def _certpin_set_check_hostname(self, value: bool) -> None:
        if not value:
            raise PolicyError(
                "cannot turn check_hostname off on a pinning context: pins are only matched "
                "after OpenSSL verified the host name"
            )
        _CBase.check_hostname.__set__(self, True)

    # The getter is the C-level descriptor itself, no Python frame: ssl.SSLSocket._create reads
    # check_hostname for every connection.
    check_hostname = property(
        _get_check_hostname,
        _certpin_set_check_hostname,
        doc="Always True; assigning False raises PolicyError (pins need a verified host name).",
    )

    @property
    def options(self) -> ssl.Options:
        return ssl.Options(_real_options(self))

    @options.setter
    def options(self, value: int) -> None:
        if not value & ssl.OP_NO_RENEGOTIATION:
            raise PolicyError(
                "cannot clear OP_NO_RENEGOTIATION on a pinning context: a renegotiation "
                "would present a certificate that no pin check sees"
            )
        _CBase.options.__set__(self, value)

    def wrap_socket(  # noqa: PLR0917 (the signature of ssl.SSLContext.wrap_socket)
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        """:meth:`ssl.SSLContext.wrap_socket`, refusing weak settings before the handshake.

        Raises:
            PinValidationError: ``server_side`` is true, ``server_hostname`` is None or empty,
                or the context was weakened through the C-level descriptors; ``sock`` is
                closed first (as the stdlib does when a handshake fails).
            PinMismatchError: (during the handshake, when ``do_handshake_on_connect``).
        """
        # With do_handshake_on_connect, PinnedSSLSocket.do_handshake re-checks the context's
        # strength right after the connection is created, inside _create: not done twice here.
        if (
            server_side
            or not server_hostname
            or (
                not do_handshake_on_connect
                and (
                    _get_verify_mode(self) != _CERT_REQUIRED
                    or not _get_check_hostname(self)
                    or not _get_options(self) & _OP_NO_RENEGOTIATION
                )
            )
        ):
            try:
                self._certpin_precheck(server_side, server_hostname)
            except PinValidationError:
                with contextlib.suppress(OSError):
                    sock.close()
                raise
        # What ssl.SSLContext.wrap_socket does (3.11 to 3.13), without its frame and the
        # sslsocket_class lookup: this runs for every connection.
        return PinnedSSLSocket._create(  # type: ignore[attr-defined,no-any-return]
            sock=sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            context=self,
            session=session,
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        """:meth:`ssl.SSLContext.wrap_bio`, refusing weak settings; pins checked at handshake.

        A context weakened behind its back does not raise here but makes the returned object
        fail its first ``do_handshake``/``read``/``write``: asyncio creates the object while
        setting up the transport, where an exception would leak the socket, and it reports a
        handshake error cleanly.

        Raises:
            PinValidationError: ``server_side`` is true or ``server_hostname`` is None or empty.
        """
        self._certpin_precheck(server_side, server_hostname, strength=False)
        name = _as_text(server_hostname)
        weak: PinValidationError | None = None
        try:
            _check_strength(self, name)
        except PinValidationError as exc:
            weak = exc
        # What ssl.SSLContext.wrap_bio does (3.11 to 3.13), past the sslobject_class getter,
        # which raises on a weakened context: here the object is marked failed instead.
        obj: PinnedSSLObject = PinnedSSLObject._create(  # type: ignore[attr-defined]
            incoming,
            outgoing,
            server_side=server_side,
            server_hostname=self._encode_hostname(server_hostname),  # type: ignore[attr-defined]
            session=session,
            context=self,
        )
        if weak is not None:
            obj._certpin_state = _FAILED
            obj._certpin_error = weak
        return obj

    def _certpin_precheck(
        self, server_side: bool, server_hostname: str | bytes | None, *, strength: bool = True
    ) -> None:
        name = _as_text(server_hostname)
        if server_side:
            raise _failure(name, "a pinning context cannot be used on the server side")
        if not name:
            raise _failure(name, "no server_hostname was given, so there is no host to check")
        if strength:
            _check_strength(self, name)


def _as_text(name: str | bytes | None) -> str:
    if isinstance(name, bytes):
        return name.decode("ascii", "replace")
    return name or ""


def _validate_base(ctx: ssl.SSLContext) -> None:
    if isinstance(ctx, PinningSSLContext):
        raise PolicyError("base is already a pinning context; build a new ssl.SSLContext")
    if type(ctx) is not ssl.SSLContext:
        raise PolicyError(
            f"base must be a plain ssl.SSLContext (e.g. from ssl.create_default_context()), "
            f"not {type(ctx).__module__}.{type(ctx).__qualname__}"
        )
    if ctx.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise PolicyError("base is a server context (PROTOCOL_TLS_SERVER); pins need a client one")
    if ctx.verify_mode != ssl.CERT_REQUIRED or not ctx.check_hostname:
        raise PolicyError(
            "base must verify certificates and host names (verify_mode CERT_REQUIRED and "
            f"check_hostname True), got verify_mode={ctx.verify_mode!r}, "
            f"check_hostname={ctx.check_hostname!r}: pinning adds to validation, never "
            "replaces it"
        )


def _adopt(ctx: ssl.SSLContext, policy: PinPolicy, reporter: Reporter | None) -> PinningSSLContext:
    _validate_base(ctx)
    ctx.options |= ssl.OP_NO_RENEGOTIATION
    ctx.__class__ = PinningSSLContext
    pinning: PinningSSLContext = ctx  # type: ignore[assignment]
    pinning._certpin_policy = policy
    pinning._certpin_reporter = reporter
    pinning._certpin_passes = {}
    return pinning


def pinning_context(
    policy: PinPolicy,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
    base: ssl.SSLContext | None = None,
    reporter: Reporter | None = None,
) -> ssl.SSLContext:
    """Return a client :class:`ssl.SSLContext` that validates certificates and enforces ``policy``.

    Without ``base`` the context is :func:`ssl.create_default_context` (``cafile``, ``capath``,
    ``cadata`` are handed to it, replacing the default trust store when given): the stdlib's
    protocol floor, ciphers and (3.13+) strict verification flags, plus
    ``OP_NO_RENEGOTIATION``.

    With ``base``, that very object is **adopted**: an :class:`ssl.SSLContext` cannot be copied
    (a loaded client certificate, TLS 1.3 cipher suites, ALPN are not readable back), so
    ``base`` keeps all its settings and trust, gets ``OP_NO_RENEGOTIATION``, and its class is
    changed to :class:`PinningSSLContext` in place. The returned object *is* ``base``: from now
    on every connection made through it, anywhere, enforces ``policy`` and it can no longer be
    weakened. ``cafile``/``capath``/``cadata`` are then loaded in addition to its trust store.
    Client certificates may also be loaded later with ``load_cert_chain`` on the result.

    Args:
        policy: the :class:`certpin.PinPolicy` to enforce.
        cafile, capath, cadata: trust anchors, as for :meth:`ssl.SSLContext.load_verify_locations`.
        base: a plain client :class:`ssl.SSLContext` (not a subclass) with ``verify_mode``
            ``CERT_REQUIRED`` and ``check_hostname`` on.
        reporter: called with a :class:`certpin.verify.PinEvent` for each pin mismatch,
            report-only mismatch, and certificate rejected by OpenSSL for a pinned host. It runs
            in the handshaking thread; exceptions it raises are logged and ignored.

    Returns:
        A :class:`PinningSSLContext` (an :class:`ssl.SSLContext`).

    Raises:
        PolicyError: ``policy`` is not a :class:`certpin.PinPolicy`; ``base`` is a subclass,
            a server context, or does not verify certificates and host names; ``base`` is
            already a pinning context.
        OSError, ssl.SSLError: a CA file or directory cannot be read.
    """
    if not isinstance(policy, PinPolicy):
        raise PolicyError(f"policy must be a certpin.PinPolicy, not {type(policy).__name__}")
    if base is None:
        ctx = ssl.create_default_context(cafile=cafile, capath=capath, cadata=cadata)
    else:
        _validate_base(base)  # before touching it: nothing half-done on error
        ctx = base
        if cafile is not None or capath is not None or cadata is not None:
            ctx.load_verify_locations(cafile=cafile, capath=capath, cadata=cadata)
    return _adopt(ctx, policy, reporter)
