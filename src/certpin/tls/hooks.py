"""The socket and memory-BIO hooks of a pinning context: the pin check inside the handshake.

:class:`PinnedSSLSocket` (the ``wrap_socket`` path: ``http.client``, urllib3, requests, httpx,
websockets' sync client) and :class:`PinnedSSLObject` (the ``wrap_bio`` path: asyncio, anyio,
aiohttp, httpx's async client) run :func:`certpin.tls.checks.precheck` right before OpenSSL's
handshake and :func:`certpin.tls.checks.postcheck` right after it, before any application byte is
sent or read; every method that moves bytes runs the handshake and the check first.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Final

from ..errors import PinValidationError
from .base import (
    CERT_REQUIRED_INT,
    OP_NO_RENEGOTIATION_INT,
    PinningContextBase,
    check_strength,
    failure,
    get_check_hostname,
    get_options,
    get_verify_mode,
)
from .chain import hostname_of
from .checks import deliver_attached, on_verify_error, postcheck, precheck
from .passes import RememberedPasses

__all__ = ["FAILED", "PASSED", "UNCHECKED", "PinnedSSLObject", "PinnedSSLSocket", "rejudge"]

UNCHECKED: Final = 0


PASSED: Final = 1


FAILED: Final = 2


class PinnedSSLSocket(ssl.SSLSocket):
    """An :class:`ssl.SSLSocket` that checks pins right after its handshake.

    Created by :meth:`certpin.tls.context.PinningSSLContext.wrap_socket`; never instantiate it
    directly.
    ``read``/``write``/``recv``/``recv_into``/``send``/``sendall`` complete the handshake and the
    pin check first when the socket was created with ``do_handshake_on_connect=False``.
    """

    _certpin_state: int = UNCHECKED
    # The remembered-pass cache of the context, read before the policy that passed this
    # connection: certpin.tls.swap replaces it at every swap, so "is it still this object" says
    # whether the policy this connection was judged under is still the context's.
    _certpin_under: object = None

    # The hot path of every connection, measured by bench/handshake.py: kept as one function
    # (each extra call right after a handshake costs microseconds), hence the noqa.
    def do_handshake(self, block: bool = False) -> None:  # noqa: PLR0912
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
        if state == PASSED:
            super().do_handshake(block)
            return
        # Everything precheck checks, as one expression (this runs for every connection);
        # on any doubt precheck decides, and raises.
        ctx: Any = self._context  # type: ignore[attr-defined]
        inner: Any = self._sslobj  # type: ignore[attr-defined]
        name = inner.server_hostname if inner is not None else None
        if (
            state == FAILED
            or not name
            or self.server_side
            or not isinstance(ctx, PinningContextBase)
            or get_verify_mode(ctx) != CERT_REQUIRED_INT
            or not get_check_hostname(ctx)
            or not get_options(ctx) & OP_NO_RENEGOTIATION_INT
        ):
            try:
                self._certpin_guard()
                ctx = precheck(self)
            except PinValidationError:
                self._certpin_fail()
                raise
            under = ctx._certpin_passes
            remembered = None
        else:
            # One read of the cache: the pass looked up and the cache recorded as the one this
            # connection is judged under must be the same object, or a swap landing between two
            # reads would let an old pass count as judged under the new policy (review 10k).
            under = ctx._certpin_passes
            remembered = under.get(name)
        # Recorded now, counted only once the state is PASSED (see _certpin_ensure).
        self._certpin_under = under
        try:
            if block or inner is None or not self._connected:  # type: ignore[attr-defined]
                super().do_handshake(block)
            else:
                # ssl.SSLSocket.do_handshake for a connected socket and block=False: its
                # settimeout(timeout) afterwards only re-applies the same timeout (a system
                # call), and this runs for every connection.
                inner.do_handshake()
        except ssl.SSLCertVerificationError as exc:
            on_verify_error(self, ctx, exc)
            self._certpin_fail()
            deliver_attached(ctx, exc)
            raise
        try:
            # RememberedPasses.covers, inline: right after the handshake each call and
            # attribute access costs several times what it costs in a warm loop (measured with
            # bench/handshake.py), and this is the path of every connection after the first.
            # Keep the two in step; tests/tls/test_tls.py runs the fast path through both.
            if remembered is not None and not inner.session_reused:
                until, matches = remembered
                if until is None or until > time.time():
                    try:
                        chain = inner.get_verified_chain()
                    except AttributeError:  # pragma: no cover - a future Python: full check
                        chain = None
                    if chain:
                        if matches is None:  # no pattern covers the host
                            self._certpin_state = PASSED
                            return
                        for position, cert in matches:
                            if position < len(chain) and chain[position] == cert:
                                self._certpin_state = PASSED
                                return
            postcheck(self, ctx)
        except BaseException as exc:
            self._certpin_fail()
            deliver_attached(ctx, exc)
            raise
        self._certpin_state = PASSED

    def _certpin_guard(self) -> None:
        if self._certpin_state == FAILED:
            raise failure(
                hostname_of(self), "this connection already failed its pin check and is closed"
            )

    def _certpin_fail(self) -> None:
        self._certpin_state = FAILED
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
        does not skip it (tests/tls/test_tls_attacks.py covers the four ways).

        Raises:
            PinValidationError: the context was weakened through the C-level descriptors.
        """
        check_strength(self._context, hostname_of(self))  # type: ignore[attr-defined]
        return super()._real_connect(addr, connect_ex)  # type: ignore[misc,no-any-return]

    def _certpin_ensure(self) -> None:
        if self._certpin_state == PASSED:
            if self._certpin_under is not getattr(self._context, "_certpin_passes", None):  # type: ignore[attr-defined]
                rejudge(self, self._certpin_fail)
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
            raise failure(
                hostname_of(self),
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
    # read clear text. tests/clients/test_clients_differential.py enumerates ssl.SSLSocket's
    # methods so that a new byte mover in a future Python fails a test until it is listed here.

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

    _certpin_state: int = UNCHECKED
    _certpin_error: PinValidationError | None = None
    _certpin_under: object = None  # as PinnedSSLSocket._certpin_under

    def do_handshake(self) -> None:
        """Handshake, then check the pins; same exceptions as :meth:`PinnedSSLSocket.do_handshake`.

        After a failure the object refuses every further ``read``/``write``/``do_handshake``.
        """
        if self._certpin_state == PASSED:
            super().do_handshake()
            return
        try:
            self._certpin_guard()
            ctx = precheck(self)
        except PinValidationError:
            self._certpin_state = FAILED
            raise
        inner: Any = self._sslobj  # type: ignore[attr-defined]
        under = ctx._certpin_passes
        remembered = under.get(inner.server_hostname)
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            on_verify_error(self, ctx, exc)
            self._certpin_state = FAILED
            deliver_attached(ctx, exc)
            raise
        try:
            if remembered is None or not RememberedPasses.covers(inner, remembered):
                postcheck(self, ctx)
        except BaseException as exc:
            self._certpin_state = FAILED
            deliver_attached(ctx, exc)
            raise
        self._certpin_under = under
        self._certpin_state = PASSED

    def _certpin_fail(self) -> None:
        self._certpin_state = FAILED

    def _certpin_guard(self) -> None:
        if self._certpin_state == FAILED:
            if self._certpin_error is not None:
                raise self._certpin_error
            raise failure(
                hostname_of(self), "this connection already failed its pin check and is closed"
            )

    def _certpin_ensure(self) -> None:
        if self._certpin_state != PASSED:
            self._certpin_guard()
            self.do_handshake()
        elif self._certpin_under is not getattr(self.context, "_certpin_passes", None):
            rejudge(self, self._certpin_fail)

    def read(self, len: int = 1024, buffer: Any = None) -> Any:
        self._certpin_ensure()
        return super().read(len, buffer)

    def write(self, data: Any) -> int:
        self._certpin_ensure()
        return super().write(data)


def rejudge(conn: PinnedSSLSocket | PinnedSSLObject, fail: Callable[[], None]) -> None:
    """Judge an open connection again, under its context's current policy, before it moves
    another byte: its policy was swapped (:mod:`certpin.tls.swap`) after the connection passed.

    HTTP clients keep connections alive and reuse them; without this, a connection accepted
    under the old policy would carry requests after a swap that revoked its key (or after a
    fail-closed policy was swapped in). The verified chain is the one OpenSSL kept for this
    connection, so the judgement is the same :func:`certpin.verify.check` as at the handshake.

    Raises:
        PinMismatchError: the new policy refuses the connection; it is closed first (``fail``).
        PinValidationError: the context is no longer a pinning context, or the check could not
            run; the connection is closed first.
    """
    ctx: Any = conn.context
    under = getattr(ctx, "_certpin_passes", None)
    try:
        if not isinstance(ctx, PinningContextBase):
            raise failure(hostname_of(conn), "the connection's context is not a pinning context")
        postcheck(conn, ctx)
    except BaseException as exc:
        fail()
        deliver_attached(ctx, exc)
        raise
    conn._certpin_under = under
